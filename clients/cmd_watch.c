/*
 * icsctl watch: the group's domain events as they happen (daemon/events.h),
 * by long polls over the control socket.
 *
 * The cursor is the only state: the next entry's index and how many of its
 * events were already printed. Each event is printed whole before the
 * cursor moves past it, and a failed poll is asked again from the same
 * cursor, so a reconnect or a node restart loses and repeats nothing; a
 * watcher started again with --since set to the last id it printed
 * continues exactly after it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

#include "ctl.h"

#define S_POLL_MS 25000

typedef struct {
    uint64_t index;   /* the next entry whose events are wanted */
    uint32_t skip;    /* of its events, those already printed */
} s_cursor_t;

/* --since: INDEX (events after that entry) or an event id GROUP:INDEX:N
 * (events after that one; its group, if none was chosen). */
static bool s_since(opts_t *o, const char *s, s_cursor_t *cur, char *group, size_t size)
{
    const char *colon = strrchr(s, ':');
    uint64_t index, n;

    group[0] = '\0';
    if (colon == NULL) {
        if (!ctl_u64(o, "--since", s, &index))
            return false;
        cur->index = index + 1;
        cur->skip = 0;
        return true;
    }
    const char *first = strchr(s, ':');
    char num[32];
    if (first == colon || (size_t)(first - s) >= size || (size_t)(colon - first - 1) >= sizeof num) {
        ctl_error(o, "--since: expected INDEX or an event id GROUP:INDEX:N, not '%s'", s);
        return false;
    }
    snprintf(group, size, "%.*s", (int)(first - s), s);
    snprintf(num, sizeof num, "%.*s", (int)(colon - first - 1), first + 1);
    if (!ctl_u64(o, "--since", num, &index) || !ctl_u64(o, "--since", colon + 1, &n) ||
        n >= UINT32_MAX)
        return false;
    cur->index = index;
    cur->skip = (uint32_t)n + 1;
    return true;
}

static void s_event_json(const Ics__V1__Event *e)
{
    ctl_jdoc_t d;
    json_t *j = ctl_jdoc_begin(&d);

    if (j == NULL)
        return;
    json_obj(j, NULL);
    json_obj(j, "event");
    json_str(j, "id", e->id);
    json_str(j, "group", e->group);
    json_u64(j, "index", e->index);
    json_u64(j, "n", e->n);
    json_str(j, "kind", e->kind);
    json_u64(j, "clock_ms", e->clock_ms);
    json_str(j, "org", e->org);
    json_str(j, "other", e->other);
    json_str(j, "actor", e->actor);
    json_str(j, "on_behalf_of", e->on_behalf_of != NULL ? e->on_behalf_of : "");
    json_u64(j, "ref", e->ref);
    json_u64(j, "ref2", e->ref2);
    json_str(j, "text", e->text);
    json_end_obj(j);
    json_end_obj(j);
    ctl_jdoc_print(&d);
}

static void s_event_line(const Ics__V1__Event *e)
{
    char when[32];

    ctl_fmt_time(e->clock_ms, when, sizeof when);
    ctl_put_field(stdout, e->id, 18);
    printf(" %s  %-25s ", when, e->kind);
    ctl_put_field(stdout, e->org[0] ? e->org : "-", 10);
    fputc(' ', stdout);
    ctl_put_field(stdout, e->text, 0);
    if (e->on_behalf_of != NULL && e->on_behalf_of[0] != '\0') {
        printf(" (entered by ");
        ctl_put_field(stdout, e->actor, 0);
        printf(" on behalf of ");
        ctl_put_field(stdout, e->on_behalf_of, 0);
        fputc(')', stdout);
    }
    fputc('\n', stdout);
}

static int s_watch(opts_t *o, const ctl_args_t *a)
{
    char *kinds[64], *orgs[64], kind_buf[1024] = "", org_buf[1024] = "", group[ICS_GROUP_MAX];
    const char *kind = ctl_opt(a, "kind"), *org = ctl_opt(a, "org"), *since = ctl_opt(a, "since");
    const char *limit_s = ctl_opt(a, "limit");
    bool once = ctl_flag(a, "once"), warned = false;
    uint64_t limit = 0, printed = 0;
    size_t n_kinds = 0, n_orgs = 0;
    s_cursor_t cur = {0, 0};
    bool from_now = since == NULL;

    if (kind != NULL) {
        snprintf(kind_buf, sizeof kind_buf, "%s", kind);
        n_kinds = ctl_split(kind_buf, kinds, 64);
    }
    if (org != NULL) {
        snprintf(org_buf, sizeof org_buf, "%s", org);
        n_orgs = ctl_split(org_buf, orgs, 64);
    }
    if (limit_s != NULL && (!ctl_u64(o, "--limit", limit_s, &limit) || limit == 0)) {
        ctl_error(o, "--limit: expected a number of events, at least 1");
        return EXIT_USAGE;
    }
    if (since != NULL) {
        if (!s_since(o, since, &cur, group, sizeof group))
            return EXIT_USAGE;
        if (group[0] != '\0' && o->group != NULL && strcmp(group, o->group) != 0) {
            ctl_error(o, "--since names an event of group '%s', but the group is '%s'", group,
                      o->group);
            return EXIT_USAGE;
        }
        if (group[0] != '\0')
            o->group = group;
    }
    for (;;) {
        Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
        Ics__V1__WatchRequest wr = ICS__V1__WATCH_REQUEST__INIT;
        Ics__V1__ControlResponse *resp;
        char msg[512];
        int code;

        /* Without --since: from the log's end, found by asking past it. */
        wr.from_index = from_now ? UINT64_MAX : cur.index;
        wr.skip = from_now ? 0 : cur.skip;
        wr.kinds = kinds;
        wr.n_kinds = n_kinds;
        wr.orgs = orgs;
        wr.n_orgs = n_orgs;
        wr.max_events = limit != 0 && limit - printed < 1000 ? (uint32_t)(limit - printed) : 1000;
        wr.wait_ms = once || from_now ? 0 : S_POLL_MS;
        req.body_case = ICS__V1__CONTROL_REQUEST__BODY_WATCH;
        req.watch = &wr;
        resp = ctl_call_quiet(o, &req, wr.wait_ms + 5000, &code, msg, sizeof msg);
        if (resp == NULL) {
            if (!ctl_transient(code) || once) {
                ctl_error(o, "%s", msg);
                return EXIT_FAIL;
            }
            if (!warned)
                ctl_note(o, "%s; asking again", msg);
            warned = true;
            ctl_sleep_ms(1000);
            continue;
        }
        if (resp->body_case != ICS__V1__CONTROL_RESPONSE__BODY_WATCH) {
            ics__v1__control_response__free_unpacked(resp, NULL);
            ctl_error(o, "unexpected answer");
            return EXIT_FAIL;
        }
        const Ics__V1__WatchReply *w = resp->watch;
        if (warned)
            ctl_note(o, "the node answers again");
        warned = false;
        if (from_now) {
            cur.index = w->top + 1;
            cur.skip = 0;
            from_now = false;
            ics__v1__control_response__free_unpacked(resp, NULL);
            continue;
        }
        for (size_t i = 0; i < w->n_events; i++) {
            if (o->json)
                s_event_json(w->events[i]);
            else
                s_event_line(w->events[i]);
            fflush(stdout);
            printed++;
        }
        cur.index = w->next_index;
        cur.skip = w->next_skip;
        bool caught_up = w->next_index > w->top;
        ics__v1__control_response__free_unpacked(resp, NULL);
        if (limit != 0 && printed >= limit)
            return EXIT_OK;
        if (once && caught_up)
            return EXIT_OK;
    }
}

static const ctl_sub_t s_subs[] = {
    {"", s_watch, CTL_STATE, "kind= org= since= once limit=", {NULL},
     "watch [--kind K,...] [--org ORG,...] [--since INDEX|ID] [--once] [--limit N]",
     "The group's domain events as they happen, one a line (under --json one\n"
     "object a line: {\"event\":{...}}): aid requested, offered, accepted,\n"
     "approved, delivered, returned, cancelled, withdrawn, escalated, met,\n"
     "expired, completed; OPEL reported and the system level changed; motions\n"
     "opened, voted, decided, withdrawn; consultations opened, responded to,\n"
     "closing soon (24 hours before) and closed; amendments proposed,\n"
     "accepted, rejected; plans created and adopted; members and people.\n"
     "Every event has an id GROUP:INDEX:N (the audit-log entry that made it).\n"
     "An entry an administrator made on behalf of someone names both people.\n"
     "  --kind K,...    only these kinds: 'aid' for every aid.* kind, or one\n"
     "                  kind such as 'motion.decided'\n"
     "  --org ORG,...   only events concerning these organisations\n"
     "  --since X       from after entry INDEX, or after the event with id X\n"
     "                  (the last one printed): nothing is lost or repeated;\n"
     "                  default: from now on\n"
     "  --once          print what there is and stop, instead of following\n"
     "  --limit N       stop after N events\n"
     "It keeps asking while the node restarts."},
};

const ctl_cmd_t ctl_cmd_watch = CTL_CMD("watch", "Follow the group's events as they happen",
                                        "Domain events derived from the audit log.", s_subs);
