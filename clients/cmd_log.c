/*
 * icsctl log: the group's audit log as this node holds it (tail, show),
 * its self-verifying export, and the offline check of an export.
 *
 * Every field that came from a signed entry (the person acting, a note,
 * raw data, a rejection reason) was written by some partner and is shown
 * to everyone: it is printed through ctl_put_field, so a control sequence
 * in it is displayed, not obeyed, and a newline in it cannot fake a line of
 * the listing. --json keeps the same bytes, JSON-escaped.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/json.h"
#include "common/logverify.h"
#include "common/receipt.h"

#include "ctl.h"

static const char *s_kind_name(uint32_t kind)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&ics__v1__command__descriptor, kind);
    return f != NULL ? f->name : "unknown";
}

static void s_entry_json(json_t *j, const Ics__V1__LogEntry *e)
{
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *cmd = NULL;
    uint8_t id[ICS_ENTRY_ID_BYTES];
    char idhex[65], chain[65];

    ics_entry_id(e->envelope.data, e->envelope.len, id);
    ics_hex(id, sizeof id, idhex);
    ics_hex(e->chain.data, e->chain.len > 32 ? 32 : e->chain.len, chain);
    if (ics_envelope_decode(e->envelope.data, e->envelope.len, &env, NULL) == ICS_OK)
        ics_command_decode(env, &cmd, NULL);
    json_obj(j, NULL);
    json_u64(j, "index", e->position);
    json_str(j, "entry_id", idhex);
    json_bool(j, "accepted", e->accepted);
    json_str(j, "reason", e->reason);
    json_str(j, "chain", chain);
    json_u64(j, "clock_ms", e->clock_ms);
    if (env != NULL) {
        json_str(j, "group", env->group);
        json_str(j, "org", env->org);
        json_u64(j, "seq", env->seq);
        json_u64(j, "timestamp_ms", env->timestamp_ms);
        json_str(j, "kind", s_kind_name(env->kind));
    }
    if (cmd != NULL) {
        json_str(j, "actor", cmd->actor);
        json_str(j, "on_behalf_of", cmd->on_behalf_of);
    }
    json_end_obj(j);
    if (cmd != NULL)
        ics__v1__command__free_unpacked(cmd, NULL);
    if (env != NULL)
        ics__v1__envelope__free_unpacked(env, NULL);
}

static void s_entry_line(const Ics__V1__LogEntry *e)
{
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *cmd = NULL;
    char when[32], who[2 * ICS_ACTOR_MAX + 8];

    if (ics_envelope_decode(e->envelope.data, e->envelope.len, &env, NULL) != ICS_OK) {
        printf("%6llu  (undecodable envelope)  REJECTED: ", (unsigned long long)e->position);
        ctl_put_field(stdout, e->reason, 0);
        fputc('\n', stdout);
        return;
    }
    ics_command_decode(env, &cmd, NULL);
    ctl_fmt_time(env->timestamp_ms, when, sizeof when);
    printf("%6llu  %s  ", (unsigned long long)e->position, when);
    ctl_put_field(stdout, env->org, 10);
    fputc(' ', stdout);
    /* An entry made on behalf of someone names both: "P for Q". */
    snprintf(who, sizeof who, "%s%s%s", cmd != NULL ? cmd->actor : "-",
             cmd != NULL && cmd->on_behalf_of[0] != '\0' ? " for " : "",
             cmd != NULL ? cmd->on_behalf_of : "");
    ctl_put_field(stdout, who, 10);
    printf(" seq %-5llu %-12s %-10s %s", (unsigned long long)env->seq, s_kind_name(env->kind),
           e->accepted ? "accepted" : "REJECTED", e->accepted ? "" : ": ");
    ctl_put_field(stdout, e->reason, 0);
    fputc('\n', stdout);
    if (cmd != NULL)
        ics__v1__command__free_unpacked(cmd, NULL);
    ics__v1__envelope__free_unpacked(env, NULL);
}

static void s_entry_detail(const Ics__V1__LogEntry *e)
{
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *cmd = NULL;
    uint8_t id[ICS_ENTRY_ID_BYTES];
    char idhex[65], chain[65], when[32], clock[32], kid[17];

    ics_entry_id(e->envelope.data, e->envelope.len, id);
    ics_hex(id, sizeof id, idhex);
    ics_hex(e->chain.data, e->chain.len > 32 ? 32 : e->chain.len, chain);
    ctl_fmt_time(e->clock_ms, clock, sizeof clock);
    printf("index      %llu\n", (unsigned long long)e->position);
    printf("entry id   %s\n", idhex);
    printf("outcome    %s%s", e->accepted ? "accepted" : "rejected", e->accepted ? "" : ": ");
    ctl_put_field(stdout, e->reason, 0);
    printf("\nchain      %s\n", chain);
    printf("log clock  %s\n", clock);
    if (ics_envelope_decode(e->envelope.data, e->envelope.len, &env, NULL) != ICS_OK) {
        printf("envelope   undecodable (%zu bytes)\n", e->envelope.len);
        return;
    }
    ctl_fmt_time(env->timestamp_ms, when, sizeof when);
    ics_hex(env->key_id.data, env->key_id.len > 8 ? 8 : env->key_id.len, kid);
    printf("group      ");
    ctl_put_field(stdout, env->group, 0);
    printf("\norg        ");
    ctl_put_field(stdout, env->org, 0);
    printf("\nkey id     %s\nseq        %llu\nsigned at  %s\nkind       %s (%u)\n", kid,
           (unsigned long long)env->seq, when, s_kind_name(env->kind), env->kind);
    if (ics_command_decode(env, &cmd, NULL) == ICS_OK) {
        printf("actor      ");
        ctl_put_field(stdout, cmd->actor, 0);
        fputc('\n', stdout);
        if (cmd->on_behalf_of[0] != '\0') {
            printf("on behalf  ");
            ctl_put_field(stdout, cmd->on_behalf_of, 0);
            printf(" (entered by ");
            ctl_put_field(stdout, cmd->actor, 0);
            printf(")\n");
        }
        if (cmd->body_case == ICS__V1__COMMAND__BODY_RAW) {
            printf("data       ");
            ctl_put_safe(stdout, (const char *)cmd->raw->data.data, cmd->raw->data.len, false);
            printf("\nnote       ");
            ctl_put_field(stdout, cmd->raw->note, 0);
            fputc('\n', stdout);
        }
        ics__v1__command__free_unpacked(cmd, NULL);
    }
    ics__v1__envelope__free_unpacked(env, NULL);
}

Ics__V1__ControlResponse *ctl_log_request(opts_t *o, Ics__V1__LogRequest *lr)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__ControlResponse *resp;

    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_LOG;
    req.log = lr;
    resp = ctl_call(o, &req);
    if (resp != NULL && resp->body_case != ICS__V1__CONTROL_RESPONSE__BODY_LOG) {
        ctl_error(o, "unexpected answer");
        ics__v1__control_response__free_unpacked(resp, NULL);
        return NULL;
    }
    return resp;
}

/* {"entries": [...]} or {"entry": {...}}, escaped for safe display. */
static void s_entries_json(const Ics__V1__LogReply *reply, bool one)
{
    ctl_jdoc_t d;
    json_t *j = ctl_jdoc_begin(&d);

    if (j == NULL)
        return;
    json_obj(j, NULL);
    if (one) {
        fputs("\"entry\":", d.m);
        s_entry_json(j, reply->entries[0]);
    } else {
        json_arr(j, "entries");
        for (size_t i = 0; i < reply->n_entries; i++)
            s_entry_json(j, reply->entries[i]);
        json_end_arr(j);
    }
    json_end_obj(j);
    ctl_jdoc_print(&d);
}

/* ---- reading the log as it grows: tail, follow, filters, search ----------- */

/* What an entry must be to be shown (tail and search). */
typedef struct {
    char *kinds[32], *orgs[32], *people[32];
    size_t n_kinds, n_orgs, n_people;
    char kind_buf[512], org_buf[512], people_buf[1024];
    bool ticks;              /* show clock ticks too */
    uint64_t after;          /* --since INDEX: entries after it */
    uint64_t from_ms;        /* --since TIME: entries whose log clock is at or after it */
    const char *text;        /* search: TEXT, case-insensitive */
} s_filter_t;

/* A command kind by name: "vote", or "aid" for every aid_* kind. */
static bool s_kind_matches(const char *kind, char *const *kinds, size_t n)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(kinds[i]);
        if (strncmp(kind, kinds[i], len) == 0 && (kind[len] == '\0' || kind[len] == '_'))
            return true;
    }
    return false;
}

static bool s_in_list(const char *s, char *const *list, size_t n)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

/* Case-insensitive (ASCII) search of needle in len bytes of hay. */
static bool s_icontains(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i + n <= len; i++) {
        size_t k = 0;
        while (k < n && tolower((unsigned char)hay[i + k]) == tolower((unsigned char)needle[k]))
            k++;
        if (k == n)
            return true;
    }
    return false;
}

/* Does any text or bytes field of m, at any depth, contain needle? */
static bool s_message_contains(const ProtobufCMessage *m, const char *needle)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;

    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m + f->offset;
        size_t count = 1;
        const char *items = base;

        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            count = *(const size_t *)((const char *)m + f->quantifier_offset);
            items = *(const char *const *)base;
        } else if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                   *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id) {
            continue;
        }
        for (size_t k = 0; k < count && items != NULL; k++) {
            if (f->type == PROTOBUF_C_TYPE_STRING) {
                const char *v = ((const char *const *)items)[k];
                if (v != NULL && s_icontains(v, strlen(v), needle))
                    return true;
            } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
                const ProtobufCBinaryData *b = &((const ProtobufCBinaryData *)items)[k];
                if (b->data != NULL && s_icontains((const char *)b->data, b->len, needle))
                    return true;
            } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
                const ProtobufCMessage *sub = ((const ProtobufCMessage *const *)items)[k];
                if (sub != NULL && s_message_contains(sub, needle))
                    return true;
            }
        }
    }
    return false;
}

static bool s_filter_matches(const s_filter_t *f, const Ics__V1__LogEntry *e)
{
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *cmd = NULL;
    bool ok = false;

    if (e->position <= f->after || e->clock_ms < f->from_ms)
        return false;
    if (ics_envelope_decode(e->envelope.data, e->envelope.len, &env, NULL) != ICS_OK)
        return f->n_kinds == 0 && f->n_orgs == 0 && f->n_people == 0 &&
               (f->text == NULL || s_icontains(e->reason, strlen(e->reason), f->text));
    ics_command_decode(env, &cmd, NULL);
    const char *kind = s_kind_name(env->kind), *actor = cmd != NULL ? cmd->actor : "";
    const char *behalf = cmd != NULL ? cmd->on_behalf_of : "";
    if (!f->ticks && env->kind == ICS__V1__COMMAND__BODY_TICK)
        goto out;
    if (!s_kind_matches(kind, f->kinds, f->n_kinds) || !s_in_list(env->org, f->orgs, f->n_orgs) ||
        (!s_in_list(actor, f->people, f->n_people) &&
         (behalf[0] == '\0' || !s_in_list(behalf, f->people, f->n_people))))
        goto out;
    ok = f->text == NULL || s_icontains(kind, strlen(kind), f->text) ||
         s_icontains(env->org, strlen(env->org), f->text) ||
         s_icontains(e->reason, strlen(e->reason), f->text) ||
         (cmd != NULL && s_message_contains(&cmd->base, f->text));
out:
    if (cmd != NULL)
        ics__v1__command__free_unpacked(cmd, NULL);
    ics__v1__envelope__free_unpacked(env, NULL);
    return ok;
}

/* --kind, --org, --person, --since, --ticks. */
static bool s_filter_opts(opts_t *o, const ctl_args_t *a, s_filter_t *f)
{
    const char *kind = ctl_opt(a, "kind"), *org = ctl_opt(a, "org");
    const char *person = ctl_opt(a, "person"), *since = ctl_opt(a, "since");

    memset(f, 0, sizeof *f);
    f->ticks = ctl_flag(a, "ticks");
    if (kind != NULL) {
        snprintf(f->kind_buf, sizeof f->kind_buf, "%s", kind);
        f->n_kinds = ctl_split(f->kind_buf, f->kinds, 32);
        for (size_t i = 0; i < f->n_kinds; i++)
            if (strcmp(f->kinds[i], "tick") == 0)
                f->ticks = true;
    }
    if (org != NULL) {
        snprintf(f->org_buf, sizeof f->org_buf, "%s", org);
        f->n_orgs = ctl_split(f->org_buf, f->orgs, 32);
    }
    if (person != NULL) {
        snprintf(f->people_buf, sizeof f->people_buf, "%s", person);
        f->n_people = ctl_split(f->people_buf, f->people, 32);
    }
    if (since != NULL) {
        size_t digits = strspn(since, "0123456789");
        if (digits > 0 && since[digits] == '\0') {
            if (!ctl_u64(o, "--since", since, &f->after))
                return false;
        } else if (!ctl_time(o, "--since", since, &f->from_ms)) {
            return false;
        }
    }
    return true;
}

/* Entries from `first` on (at most count), waiting up to wait_ms for the
 * log to reach first. The response holds a LogReply (caller frees); NULL
 * on failure, with *code and msg. */
static Ics__V1__ControlResponse *s_range(opts_t *o, uint64_t first, uint32_t count,
                                         uint32_t wait_ms, int *code, char *msg, size_t size)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__LogRequest lr = ICS__V1__LOG_REQUEST__INIT;
    Ics__V1__ControlResponse *resp;

    lr.op = ICS__V1__LOG_REQUEST__OP__RANGE;
    lr.position = first;
    lr.count = count;
    lr.wait_ms = wait_ms;
    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_LOG;
    req.log = &lr;
    resp = ctl_call_quiet(o, &req, wait_ms + 5000, code, msg, size);
    if (resp != NULL && resp->body_case != ICS__V1__CONTROL_RESPONSE__BODY_LOG) {
        ics__v1__control_response__free_unpacked(resp, NULL);
        *code = ICS_EMALFORMED;
        snprintf(msg, size, "unexpected answer");
        return NULL;
    }
    return resp;
}

/* Where a scan for --since TIME starts: the first index whose log clock is
 * at or after f->from_ms, found by halving (the clock never falls), one
 * entry read a step; at a history gap it settles for what it has (the scan
 * filters by time anyway). 1 when there is no TIME. */
static int s_first_at(opts_t *o, const s_filter_t *f, uint64_t *first)
{
    char msg[512];
    int code;
    uint64_t lo = 1, hi;
    Ics__V1__ControlResponse *resp;

    *first = f->after + 1;
    if (f->from_ms == 0)
        return EXIT_OK;
    resp = s_range(o, UINT64_MAX, 1, 0, &code, msg, sizeof msg);
    if (resp == NULL) {
        ctl_error(o, "%s", msg);
        return EXIT_FAIL;
    }
    hi = resp->log->top + 1;
    ics__v1__control_response__free_unpacked(resp, NULL);
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        resp = s_range(o, mid, 1, 0, &code, msg, sizeof msg);
        if (resp == NULL) {
            ctl_error(o, "%s", msg);
            return EXIT_FAIL;
        }
        bool held = resp->log->n_entries == 1 && resp->log->entries[0]->position == mid;
        bool later = held && resp->log->entries[0]->clock_ms >= f->from_ms;
        ics__v1__control_response__free_unpacked(resp, NULL);
        if (!held)
            break;
        if (later)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (lo > *first)
        *first = lo;
    return EXIT_OK;
}

/* The entries that matched, kept for printing in order. */
typedef struct {
    Ics__V1__ControlResponse **resps;  /* kept: they own the entries */
    size_t n_resps;
    const Ics__V1__LogEntry **v;
    size_t n, cap;
    size_t keep_last;                  /* 0: all; otherwise only the newest this many */
} s_found_t;

static bool s_found_add(s_found_t *fd, const Ics__V1__LogEntry *e)
{
    if (fd->keep_last != 0 && fd->n == fd->keep_last) {
        memmove(fd->v, fd->v + 1, (fd->n - 1) * sizeof *fd->v);
        fd->n--;
    }
    if (fd->n == fd->cap) {
        size_t cap = fd->cap ? fd->cap * 2 : 64;
        const Ics__V1__LogEntry **v = realloc(fd->v, cap * sizeof *v);
        if (v == NULL)
            return false;
        fd->v = v;
        fd->cap = cap;
    }
    fd->v[fd->n++] = e;
    return true;
}

static void s_found_free(s_found_t *fd)
{
    for (size_t i = 0; i < fd->n_resps; i++)
        ics__v1__control_response__free_unpacked(fd->resps[i], NULL);
    free(fd->resps);
    free(fd->v);
}

/* Reads the log from first to its end (as it stood at the first answer)
 * and keeps what matches. *next: where a follow continues. */
static int s_scan(opts_t *o, const s_filter_t *f, uint64_t first, s_found_t *fd, uint64_t *next)
{
    uint64_t pos = first ? first : 1, top = UINT64_MAX;
    char msg[512];
    int code;

    while (pos <= top) {
        Ics__V1__ControlResponse *resp = s_range(o, pos, 100, 0, &code, msg, sizeof msg);
        bool kept = false;
        if (resp == NULL) {
            ctl_error(o, "%s", msg);
            return EXIT_FAIL;
        }
        const Ics__V1__LogReply *r = resp->log;
        top = r->top;
        for (size_t i = 0; i < r->n_entries; i++)
            if (s_filter_matches(f, r->entries[i])) {
                if (!s_found_add(fd, r->entries[i])) {
                    ics__v1__control_response__free_unpacked(resp, NULL);
                    ctl_error(o, "out of memory");
                    return EXIT_FAIL;
                }
                kept = true;
            }
        /* A gap (history still being backfilled) is stepped over here:
         * reading the past, not following it. */
        pos = r->n_entries > 0 ? r->next : r->next + 1;
        if (kept) {
            Ics__V1__ControlResponse **v = realloc(fd->resps, (fd->n_resps + 1) * sizeof *v);
            if (v == NULL) {
                ics__v1__control_response__free_unpacked(resp, NULL);
                ctl_error(o, "out of memory");
                return EXIT_FAIL;
            }
            fd->resps = v;
            fd->resps[fd->n_resps++] = resp;
        } else {
            ics__v1__control_response__free_unpacked(resp, NULL);
        }
    }
    *next = pos;
    return EXIT_OK;
}

/* The newest n matching entries: read backwards, a page at a time. */
static int s_scan_back(opts_t *o, const s_filter_t *f, size_t n, s_found_t *fd, uint64_t *next)
{
    char msg[512];
    int code, rc = EXIT_OK;
    Ics__V1__ControlResponse *resp = s_range(o, UINT64_MAX, 1, 0, &code, msg, sizeof msg);
    s_found_t page = {0};

    if (resp == NULL) {
        ctl_error(o, "%s", msg);
        return EXIT_FAIL;
    }
    uint64_t top = resp->log->top, hi = top;
    ics__v1__control_response__free_unpacked(resp, NULL);
    *next = top + 1;
    /* Pages newest first; each page's matches go before those found so far. */
    while (hi >= 1 && fd->n < n) {
        uint64_t lo = hi > 100 ? hi - 99 : 1, pos = lo;
        memset(&page, 0, sizeof page);
        while (pos <= hi) {
            resp = s_range(o, pos, (uint32_t)(hi - pos + 1), 0, &code, msg, sizeof msg);
            if (resp == NULL) {
                ctl_error(o, "%s", msg);
                rc = EXIT_FAIL;
                goto out;
            }
            bool kept = false;
            for (size_t i = 0; i < resp->log->n_entries; i++)
                if (resp->log->entries[i]->position <= hi &&
                    s_filter_matches(f, resp->log->entries[i])) {
                    s_found_add(&page, resp->log->entries[i]);
                    kept = true;
                }
            pos = resp->log->n_entries > 0 ? resp->log->next : resp->log->next + 1;
            if (kept) {
                Ics__V1__ControlResponse **v =
                    realloc(fd->resps, (fd->n_resps + 1) * sizeof *v);
                if (v == NULL) {
                    ics__v1__control_response__free_unpacked(resp, NULL);
                    rc = EXIT_FAIL;
                    goto out;
                }
                fd->resps = v;
                fd->resps[fd->n_resps++] = resp;
            } else {
                ics__v1__control_response__free_unpacked(resp, NULL);
            }
        }
        /* Newest first overall: prepend this page's matches (newest of them
         * last), keeping at most n. */
        size_t take = page.n < n - fd->n ? page.n : n - fd->n;
        if (take > 0) {
            const Ics__V1__LogEntry **v = realloc(fd->v, (fd->n + take) * sizeof *v);
            if (v == NULL) {
                ctl_error(o, "out of memory");
                rc = EXIT_FAIL;
                goto out;
            }
            if (fd->n > 0)
                memmove(v + take, v, fd->n * sizeof *v);
            memcpy(v, page.v + (page.n - take), take * sizeof *v);
            fd->v = v;
            fd->n += take;
            fd->cap = fd->n;
        }
        free(page.v);
        page.v = NULL;
        hi = lo - 1;
    }
out:
    free(page.v);
    return rc;
}

static void s_print_entry(opts_t *o, const Ics__V1__LogEntry *e, bool lines)
{
    if (o->json && lines) {
        Ics__V1__LogEntry *one[1] = {(Ics__V1__LogEntry *)e};
        Ics__V1__LogReply r = ICS__V1__LOG_REPLY__INIT;
        r.entries = one;
        r.n_entries = 1;
        s_entries_json(&r, true);
    } else if (!o->json) {
        s_entry_line(e);
    }
}

static void s_print_found(opts_t *o, const s_found_t *fd, bool lines, const char *empty)
{
    if (o->json && !lines) {
        Ics__V1__LogReply r = ICS__V1__LOG_REPLY__INIT;
        r.entries = (Ics__V1__LogEntry **)fd->v;
        r.n_entries = fd->n;
        s_entries_json(&r, false);
        return;
    }
    if (fd->n == 0 && !o->json && empty != NULL)
        printf("%s\n", empty);
    for (size_t i = 0; i < fd->n; i++)
        s_print_entry(o, fd->v[i], lines);
    fflush(stdout);
}

/* --follow: entries from next on as they are applied, until interrupted. */
static int s_follow(opts_t *o, const s_filter_t *f, uint64_t next)
{
    bool warned = false;

    for (;;) {
        char msg[512];
        int code;
        Ics__V1__ControlResponse *resp = s_range(o, next, 100, 25000, &code, msg, sizeof msg);
        if (resp == NULL) {
            if (!ctl_transient(code)) {
                ctl_error(o, "%s", msg);
                return EXIT_FAIL;
            }
            if (!warned)
                ctl_note(o, "%s; asking again", msg);
            warned = true;
            ctl_sleep_ms(1000);
            continue;
        }
        warned = false;
        for (size_t i = 0; i < resp->log->n_entries; i++)
            if (s_filter_matches(f, resp->log->entries[i]))
                s_print_entry(o, resp->log->entries[i], true);
        fflush(stdout);
        next = resp->log->next;
        ics__v1__control_response__free_unpacked(resp, NULL);
    }
}

static int s_tail(opts_t *o, const ctl_args_t *a)
{
    const char *count = ctl_opt(a, "n");
    bool follow = ctl_flag(a, "follow");
    s_found_t fd = {0};
    s_filter_t f;
    uint64_t n = 10, next = 0;
    int rc;

    if (count != NULL && (!ctl_u64(o, "-n", count, &n) || n < 1 || n > 100000)) {
        ctl_error(o, "-n: expected 1 to 100000");
        return EXIT_USAGE;
    }
    if (!s_filter_opts(o, a, &f))
        return EXIT_USAGE;
    if (ctl_opt(a, "since") != NULL) {
        /* From a place: everything after it (the first N with -n). */
        uint64_t first;
        fd.keep_last = 0;
        rc = s_first_at(o, &f, &first);
        if (rc == EXIT_OK)
            rc = s_scan(o, &f, first, &fd, &next);
        if (rc == EXIT_OK && count != NULL && fd.n > n)
            fd.n = (size_t)n;
    } else {
        rc = s_scan_back(o, &f, (size_t)n, &fd, &next);
    }
    if (rc == EXIT_OK) {
        s_print_found(o, &fd, follow, follow ? NULL : "(no entries)");
        if (follow)
            rc = s_follow(o, &f, next);
    }
    s_found_free(&fd);
    return rc;
}

static int s_search(opts_t *o, const ctl_args_t *a)
{
    const char *count = ctl_opt(a, "n");
    s_found_t fd = {0};
    s_filter_t f;
    uint64_t n = 0, next;
    int rc;

    if (count != NULL && (!ctl_u64(o, "-n", count, &n) || n < 1)) {
        ctl_error(o, "-n: expected a number of entries, at least 1");
        return EXIT_USAGE;
    }
    if (!s_filter_opts(o, a, &f))
        return EXIT_USAGE;
    if (a->argv[0][0] == '\0') {
        ctl_error(o, "log search: TEXT is empty");
        return EXIT_USAGE;
    }
    f.text = a->argv[0];
    uint64_t first;
    fd.keep_last = (size_t)n;
    rc = s_first_at(o, &f, &first);
    if (rc == EXIT_OK)
        rc = s_scan(o, &f, first, &fd, &next);
    if (rc == EXIT_OK)
        s_print_found(o, &fd, false, "(no entry matches)");
    s_found_free(&fd);
    return rc;
}

static int s_show(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__LogRequest lr = ICS__V1__LOG_REQUEST__INIT;
    Ics__V1__ControlResponse *resp;
    uint64_t pos;

    if (!ctl_u64(o, "log show", a->argv[0], &pos))
        return EXIT_USAGE;
    lr.op = ICS__V1__LOG_REQUEST__OP__SHOW;
    lr.position = pos;
    resp = ctl_log_request(o, &lr);
    if (resp == NULL)
        return EXIT_FAIL;
    int rc = EXIT_OK;
    if (resp->log->n_entries != 1) {
        ctl_error(o, "there is no entry at index %llu", (unsigned long long)pos);
        rc = EXIT_FAIL;
    } else if (o->json) {
        s_entries_json(resp->log, true);
    } else {
        s_entry_detail(resp->log->entries[0]);
    }
    ics__v1__control_response__free_unpacked(resp, NULL);
    return rc;
}

/* Writes a document of the node's byte for byte to path ("-" or NULL:
 * standard output). EXIT_OK or EXIT_FAIL (reported). */
static int s_write_document(opts_t *o, const char *path, const ProtobufCBinaryData *doc)
{
    bool out = path == NULL || strcmp(path, "-") == 0;
    FILE *f = out ? stdout : fopen(path, "w");
    int rc = EXIT_OK;

    if (f == NULL || fwrite(doc->data, 1, doc->len, f) != doc->len) {
        ctl_error(o, "%s: %s", path ? path : "-", strerror(errno));
        rc = EXIT_FAIL;
    }
    if (f != NULL && !out && fclose(f) != 0) {
        ctl_error(o, "%s: %s", path, strerror(errno));
        rc = EXIT_FAIL;
    }
    return rc;
}

static int s_export(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__LogRequest lr = ICS__V1__LOG_REQUEST__INIT;
    Ics__V1__ControlResponse *resp;
    const char *path = a->argv[0];
    int rc = EXIT_OK;

    lr.op = ICS__V1__LOG_REQUEST__OP__EXPORT;
    resp = ctl_log_request(o, &lr);
    if (resp == NULL)
        return EXIT_FAIL;
    const Ics__V1__LogReply *reply = resp->log;
    /* The export is a document in its own format (docs/log-format.md),
     * written byte for byte: its signatures must verify. */
    rc = s_write_document(o, path, &reply->document);
    if (rc == EXIT_OK && strcmp(path, "-") != 0)
        ctl_note(o, "wrote %zu bytes to %s", reply->document.len, path);
    ics__v1__control_response__free_unpacked(resp, NULL);
    return rc;
}

static int s_verify(opts_t *o, const ctl_args_t *a)
{
    const char *path = a->argv[0];
    ics_log_verify_report_t rep;
    ics_err_t err;
    FILE *f;
    int rc;

    f = fopen(path, "r");
    if (f == NULL) {
        ctl_error(o, "%s: %s", path, strerror(errno));
        return EXIT_FAIL;
    }
    rc = ics_log_verify(f, &rep, &err);
    fclose(f);
    if (rc != ICS_OK) {
        ctl_error(o, "%s: verification FAILED: %s", path, err.msg);
        return EXIT_FAIL;
    }
    if (o->json) {
        char chain[65], root[65], croot[65];
        ics_hex(rep.chain, sizeof rep.chain, chain);
        ics_hex(rep.root, sizeof rep.root, root);
        ics_hex(rep.certified_root, sizeof rep.certified_root, croot);
        fputs("{\"verification\":{\"file\":", stdout);
        cj_write_str(stdout, path);
        fputs(",\"group\":", stdout);
        cj_write_str(stdout, rep.group);
        printf(",\"entries\":%llu,\"accepted\":%llu,\"rejected\":%llu,\"chain\":\"%s\","
               "\"tree_root\":\"%s\",\"clock_ms\":%llu,\"checkpoints\":%llu,"
               "\"certified_position\":%llu,\"certified_root\":\"%s\",\"certified_by\":%u,"
               "\"certify_needed\":%u,\"verified\":true}}\n",
               (unsigned long long)rep.entries, (unsigned long long)rep.accepted,
               (unsigned long long)rep.rejected, chain, root, (unsigned long long)rep.clock_ms,
               (unsigned long long)rep.checkpoints, (unsigned long long)rep.certified_position,
               rep.certified_position > 0 ? croot : "", rep.certified_by, rep.certify_needed);
        return EXIT_OK;
    }
    ctl_put_field(stdout, path, 0);
    printf(": ok: group ");
    ctl_put_field(stdout, rep.group, 0);
    printf(", %llu entries (%llu accepted, %llu rejected), chain verified, every verdict the "
           "file decides checked, every accepted entry signed by its key in force\n",
           (unsigned long long)rep.entries, (unsigned long long)rep.accepted,
           (unsigned long long)rep.rejected);
    {
        char root[65];
        ics_hex(rep.root, sizeof rep.root, root);
        printf("tree head: size %llu, root %s\n", (unsigned long long)rep.entries, root);
    }
    if (rep.certified_position > 0) {
        char root[65];
        ics_hex(rep.certified_root, sizeof rep.certified_root, root);
        printf("certified by checkpoints up to position %llu (%u of the voting members, %u "
               "needed); %llu checkpoints, each matching this log and cosigning its tree head\n"
               "certified tree head: size %llu, root %s\n",
               (unsigned long long)rep.certified_position, rep.certified_by, rep.certify_needed,
               (unsigned long long)rep.checkpoints, (unsigned long long)rep.certified_position,
               root);
    }
    else
        printf("no position is certified by a majority of the voting members' checkpoints "
               "(%llu checkpoints, each matching this log): anchor the final chain "
               "elsewhere\n", (unsigned long long)rep.checkpoints);
    return EXIT_OK;
}

/* ---- receipts and consistency (docs/log-format.md 8a) ---------------- */

#define S_RECEIPT_FILE_MAX (64u << 20)

/* The bytes of path as they are, at most S_RECEIPT_FILE_MAX. */
static char *s_slurp(opts_t *o, const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;

    if (f == NULL) {
        ctl_error(o, "%s: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (n == cap) {
            char *more = cap >= S_RECEIPT_FILE_MAX ? NULL : realloc(buf, cap ? 2 * cap : 65536);
            if (more == NULL) {
                ctl_error(o, "%s: %s", path, cap >= S_RECEIPT_FILE_MAX ? "too large"
                                                                        : "out of memory");
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = more;
            cap = cap ? 2 * cap : 65536;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        ctl_error(o, "%s: %s", path, strerror(errno));
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

static void s_print_receipt(opts_t *o, const char *path, const ics_receipt_report_t *r)
{
    char id[65], root[65], genesis[65];

    ics_hex(r->entry_id, 32, id);
    ics_hex(r->root, 32, root);
    ics_hex(r->genesis_id, 32, genesis);
    if (o->json) {
        fputs("{\"receipt\":{\"file\":", stdout);
        cj_write_str(stdout, path);
        fputs(",\"group\":", stdout);
        cj_write_str(stdout, r->group);
        printf(",\"position\":%llu,\"accepted\":%s,\"reason\":", (unsigned long long)r->position,
               r->accepted ? "true" : "false");
        cj_write_str(stdout, r->reason);
        printf(",\"entry_id\":\"%s\",\"org\":", id);
        cj_write_str(stdout, r->org);
        printf(",\"seq\":%llu,\"timestamp_ms\":%llu,\"tree_size\":%llu,\"tree_root\":\"%s\","
               "\"cosigners\":[", (unsigned long long)r->seq, (unsigned long long)r->timestamp_ms,
               (unsigned long long)r->size, root);
        for (unsigned i = 0; i < r->n_cosigners; i++) {
            fputs(i ? "," : "", stdout);
            cj_write_str(stdout, r->cosigners[i]);
        }
        printf("],\"voters\":%u,\"needed\":%u,\"genesis_id\":\"%s\",\"verified\":true}}\n",
               r->voters, r->needed, genesis);
        return;
    }
    ctl_put_field(stdout, path, 0);
    printf(": ok: entry %llu of group ", (unsigned long long)r->position);
    ctl_put_field(stdout, r->group, 0);
    printf(", %s", r->accepted ? "accepted" : "rejected: ");
    if (!r->accepted)
        ctl_put_field(stdout, r->reason, 0);
    printf("\nentry id %s, signed by ", id);
    ctl_put_field(stdout, r->org[0] ? r->org : "?", 0);
    printf(" (seq %llu, time %llu ms)\n", (unsigned long long)r->seq,
           (unsigned long long)r->timestamp_ms);
    printf("in the tree head of size %llu, root %s,\ncosigned by %u of the %u voting members (%u"
           " needed):", (unsigned long long)r->size, root, r->n_cosigners, r->voters, r->needed);
    for (unsigned i = 0; i < r->n_cosigners; i++) {
        putchar(' ');
        ctl_put_field(stdout, r->cosigners[i], 0);
    }
    printf("\nkeys shown by %zu membership entries from the genesis %s (compare it with the"
           " group's)\n", r->evidence, genesis);
}

static int s_prove(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__LogRequest lr = ICS__V1__LOG_REQUEST__INIT;
    Ics__V1__ControlResponse *resp;
    ics_receipt_report_t *rep = NULL;
    const char *path = ctl_opt(a, "out");
    ics_err_t err;
    uint64_t pos;
    int rc = EXIT_OK;

    if (!ctl_u64(o, "log prove", a->argv[0], &pos))
        return EXIT_USAGE;
    lr.op = ICS__V1__LOG_REQUEST__OP__PROVE;
    lr.position = pos;
    resp = ctl_log_request(o, &lr);
    if (resp == NULL)
        return EXIT_FAIL;
    const Ics__V1__LogReply *reply = resp->log;
    /* Check what the node wrote before handing it on. */
    rep = calloc(1, sizeof *rep);
    if (rep == NULL ||
        ics_receipt_verify((const char *)reply->document.data, reply->document.len, rep, &err) !=
            ICS_OK) {
        ctl_error(o, "the node's receipt does not verify: %s", rep ? err.msg : "out of memory");
        rc = EXIT_FAIL;
        goto out;
    }
    rc = s_write_document(o, path, &reply->document);
    if (rc == EXIT_OK && path != NULL && strcmp(path, "-") != 0)
        ctl_note(o, "wrote the receipt of entry %llu (tree head of size %llu, cosigned by %u of"
                 " %u voting members) to %s", (unsigned long long)pos,
                 (unsigned long long)rep->size, rep->n_cosigners, rep->voters, path);
out:
    free(rep);
    ics__v1__control_response__free_unpacked(resp, NULL);
    return rc;
}

static int s_verify_receipt(opts_t *o, const ctl_args_t *a)
{
    const char *path = a->argv[0];
    ics_receipt_report_t *rep = calloc(1, sizeof *rep);
    ics_err_t err;
    size_t len = 0;
    char *text = rep != NULL ? s_slurp(o, path, &len) : NULL;
    int rc = EXIT_FAIL;

    if (text == NULL)
        goto out;
    if (ics_receipt_verify(text, len, rep, &err) != ICS_OK) {
        ctl_error(o, "%s: receipt verification FAILED: %s", path, err.msg);
        goto out;
    }
    s_print_receipt(o, path, rep);
    rc = EXIT_OK;
out:
    free(text);
    free(rep);
    return rc;
}

static int s_consistency(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__LogRequest lr = ICS__V1__LOG_REQUEST__INIT;
    Ics__V1__ControlResponse *resp = NULL;
    const char *path = a->argv[0];
    ics_note_t *head = calloc(1, sizeof *head);
    ics_consistency_report_t rep;
    ics_err_t err;
    bool checked = false;
    size_t len = 0;
    char *text = head != NULL ? s_slurp(o, path, &len) : NULL;
    char old_root[65], root[65];
    int rc = EXIT_FAIL;

    if (text == NULL)
        goto out;
    if (ics_checkpoint_file_head(text, len, head, &checked, &err) != ICS_OK) {
        ctl_error(o, "%s: not a usable checkpoint: %s", path, err.msg);
        goto out;
    }
    lr.op = ICS__V1__LOG_REQUEST__OP__CONSISTENCY;
    lr.position = head->size;
    resp = ctl_log_request(o, &lr);
    if (resp == NULL)
        goto out;
    ics_hex(head->root, 32, old_root);
    if (ics_consistency_check((const char *)resp->log->document.data, resp->log->document.len,
                              head, &rep, &err) != ICS_OK) {
        ctl_error(o, "%s: the log does NOT extend this checkpoint: %s", path, err.msg);
        goto out;
    }
    ics_hex(rep.root, 32, root);
    if (o->json) {
        printf("{\"consistency\":{\"checkpoint_size\":%llu,\"checkpoint_root\":\"%s\","
               "\"checkpoint_verified\":%s,\"size\":%llu,\"root\":\"%s\",\"consistent\":true}}\n",
               (unsigned long long)head->size, old_root, checked ? "true" : "false",
               (unsigned long long)rep.size, root);
    } else {
        printf("ok: the log (%llu entries, root %s) extends the checkpoint of size %llu (root"
               " %s)%s\n", (unsigned long long)rep.size, root, (unsigned long long)head->size,
               old_root, checked ? ", whose receipt verified"
                                 : "; its signatures were not checked (no keys in a bare note)");
    }
    rc = EXIT_OK;
out:
    if (resp != NULL)
        ics__v1__control_response__free_unpacked(resp, NULL);
    free(text);
    free(head);
    return rc;
}

static const ctl_sub_t s_subs[] = {
    {"tail", s_tail, CTL_STATE, "n|count= follow kind= org= person= since= ticks", {NULL},
     "log tail [-n N] [--follow] [--kind K,...] [--org ORG,...] [--person P,...]\n"
     "[--since INDEX|TIME] [--ticks]",
     "The last N entries of the group's audit log (default 10) that pass the\n"
     "filters: index, time signed, organisation, person (\"P for Q\" when P, an\n"
     "administrator, entered it on behalf of Q), sequence number, kind and\n"
     "outcome. Clock ticks are left out unless --ticks (or --kind tick).\n"
     "  --kind K,...     command kinds: 'vote', 'aid_offer', or 'aid' for every\n"
     "                   aid_* kind\n"
     "  --org ORG,...    signed by these organisations\n"
     "  --person P,...   signed by these people, or entered on their behalf\n"
     "  --since X        every entry after index X, or from log time X\n"
     "                   (2026-12-01T09:00:00Z, 2026-12-01); -n then caps the count\n"
     "  --follow         then print entries as they are applied, until interrupted\n"
     "                   (under --json one {\"entry\":{...}} a line)"},
    {"search", s_search, CTL_STATE, "n|count= kind= org= person= since= ticks", {"TEXT"},
     "log search TEXT [-n N] [--kind K,...] [--org ORG,...] [--person P,...]\n"
     "[--since INDEX|TIME] [--ticks]",
     "Entries of the history on this node whose content (any text in the\n"
     "command, its kind, organisation or rejection reason) contains TEXT,\n"
     "ignoring case, oldest first; -n N shows the newest N. Takes the filters\n"
     "of 'log tail'."},
    {"show", s_show, CTL_STATE, "", {"INDEX"}, "log show INDEX",
     "One entry in full: entry id, outcome, chain hash, log clock, group,\n"
     "organisation, key id, sequence number, time signed, kind, person (and the\n"
     "person it was entered on behalf of, if any), content."},
    {"export", s_export, CTL_EXPORT, "", {"FILE"}, "log export FILE",
     "Write the self-verifying log of every entry (format: docs/log-format.md)\n"
     "to FILE, or to standard output for '-'."},
    {"verify", s_verify, CTL_OFFLINE, "", {"FILE"}, "log verify FILE",
     "Check an exported log offline: the hash chain, that every accepted entry\n"
     "is signed by its organisation's key in force, the replay rule, each\n"
     "person's signature under their key in force and their sequence numbers,\n"
     "the verdicts the file decides (genesis, membership, who may register,\n"
     "re-key or revoke a person, checkpoints), that every checkpoint\n"
     "matches the chain, and the highest position certified by a majority of\n"
     "the members' checkpoints. Names the first bad entry and exits 1 if it does\n"
     "not verify (docs/log-format.md, section 8)."},
    {"prove", s_prove, CTL_EXPORT, "out=", {"INDEX"}, "log prove INDEX [--out FILE]",
     "Write the receipt of entry INDEX to FILE (or standard output): the entry,\n"
     "its inclusion proof in the newest tree head a majority of the voting\n"
     "members cosigned, that head, and the membership entries that show their\n"
     "keys (docs/log-format.md, section 8a). Anyone can check it offline with\n"
     "'log verify-receipt'. Exits 1 while no cosigned head covers INDEX yet."},
    {"verify-receipt", s_verify_receipt, CTL_OFFLINE, "", {"FILE"}, "log verify-receipt FILE",
     "Check a receipt offline: the entry's inclusion proof, the membership\n"
     "entries' proofs and the keys they give, and that the tree head is\n"
     "cosigned by a majority of the voting members. Exits 1, saying what was\n"
     "wrong, if any of it fails."},
    {"consistency", s_consistency, CTL_STATE, "", {"CHECKPOINT_FILE"},
     "log consistency CHECKPOINT_FILE",
     "Prove that this node's log extends an older tree head: CHECKPOINT_FILE is\n"
     "a receipt (checked in full first) or a signed tree head note. Says\n"
     "TRUNCATED when the log is shorter than the head, FORKED when it differs\n"
     "at or before it, and exits 1 in both cases."},
};

const ctl_cmd_t ctl_cmd_log = CTL_CMD("log", "Read, export and verify the audit log",
                                      "The group's audit log, the same on every node.", s_subs);
