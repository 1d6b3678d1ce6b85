/*
 * icsctl inbox: what awaits a person and their organisation, most urgent
 * first. Put together here from the state machine's own reads (status,
 * people.list, aid.list, aid.show, motion.list, motion.show, consult.list,
 * consult.summary), so it says nothing those reads would not:
 *
 *   offer         an open offer against one of my organisation's requests
 *   approval      an offer awaiting approval (marked when the approving
 *                 rule names one of my roles)
 *   request       another organisation's open request my organisation has
 *                 not offered against (--resource narrows it)
 *   vote          an open motion whose electorate has me, not excluded and
 *                 not yet voted
 *   consultation  an open consultation my organisation (or an organisation
 *                 one of my roles acts for) has not responded to
 *
 * Sorted by deadline, soonest first; items without one last.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

#include "ctl.h"

#define S_ROLES_MAX 32

typedef struct {
    const char *kind;
    uint64_t ref;
    uint64_t request;
    uint64_t deadline_ms;
    char org[ICS_ORG_MAX];
    bool mine;               /* approval: a role of mine is named */
    char text[300];
} s_item_t;

typedef struct {
    opts_t *o;
    char org[ICS_ORG_MAX];
    const char *person;
    char roles[S_ROLES_MAX][64];
    char titles[S_ROLES_MAX][128];  /* as the scheme names them in approval rules */
    char scopes[S_ROLES_MAX][64];
    size_t n_roles;
    char *resources[32];
    size_t n_resources;
    s_item_t *items;
    size_t n, cap;
    uint64_t clock_ms;
} s_inbox_t;

static s_item_t *s_push(s_inbox_t *in, const char *kind)
{
    if (in->n == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 16;
        s_item_t *v = realloc(in->items, cap * sizeof *v);
        if (v == NULL)
            return NULL;
        in->items = v;
        in->cap = cap;
    }
    s_item_t *it = &in->items[in->n++];
    memset(it, 0, sizeof *it);
    it->kind = kind;
    return it;
}

/* A query's JSON answer, parsed; *keep holds the text (caller frees). */
static bool s_ask(s_inbox_t *in, const char *name, int argc, char **argv, char **keep, cj_t *root)
{
    *keep = ctl_query_text(in->o, name, argc, argv, true);
    return *keep != NULL && cj_parse(*keep, strlen(*keep), root) && cj_is_object(*root);
}

static uint64_t s_u64(cj_t obj, const char *name)
{
    cj_t v;
    uint64_t x = 0;
    if (cj_get(obj, name, &v))
        cj_u64(v, &x);
    return x;
}

static void s_str(cj_t obj, const char *name, char *buf, size_t size)
{
    cj_t v;
    buf[0] = '\0';
    if (!cj_get(obj, name, &v) || !cj_str(v, buf, size))
        buf[0] = '\0';
}

static bool s_mine_org(const s_inbox_t *in, const char *org)
{
    if (strcmp(org, in->org) == 0)
        return true;
    for (size_t i = 0; i < in->n_roles; i++)
        if (in->scopes[i][0] != '\0' && strcmp(in->scopes[i], org) == 0)
            return true;
    return false;
}

/* Does an approval rule's text name a role I hold (by its title, as the
 * scheme writes rules for people, or by its id)? */
static bool s_names_my_role(const s_inbox_t *in, const char *text)
{
    for (size_t i = 0; i < in->n_roles; i++)
        if ((in->titles[i][0] != '\0' && strstr(text, in->titles[i]) != NULL) ||
            strstr(text, in->roles[i]) != NULL)
            return true;
    return false;
}

static bool s_my_roles(s_inbox_t *in)
{
    char *keep;
    cj_t root, people, p, roles, r;
    size_t pos = 0;

    if (!s_ask(in, "people.list", 0, NULL, &keep, &root))
        return free(keep), false;
    if (cj_get(root, "people", &people))
        while (cj_element(people, &pos, &p)) {
            char org[ICS_ORG_MAX], person[ICS_ACTOR_MAX];
            size_t rp = 0;
            s_str(p, "org", org, sizeof org);
            s_str(p, "person", person, sizeof person);
            if (strcmp(org, in->org) != 0 || strcmp(person, in->person) != 0 ||
                !cj_get(p, "roles", &roles))
                continue;
            while (cj_element(roles, &rp, &r) && in->n_roles < S_ROLES_MAX) {
                s_str(r, "role", in->roles[in->n_roles], sizeof in->roles[0]);
                s_str(r, "title", in->titles[in->n_roles], sizeof in->titles[0]);
                s_str(r, "scope", in->scopes[in->n_roles], sizeof in->scopes[0]);
                in->n_roles++;
            }
        }
    free(keep);
    return true;
}

static bool s_resource_wanted(const s_inbox_t *in, const char *resource)
{
    if (in->n_resources == 0)
        return true;
    for (size_t i = 0; i < in->n_resources; i++)
        if (strcmp(in->resources[i], resource) == 0)
            return true;
    return false;
}

/* One active request: its offers decide what it asks of me. */
static bool s_request(s_inbox_t *in, cj_t req)
{
    char org[ICS_ORG_MAX], status[32], resource[64], idbuf[24], *argv[1] = {idbuf}, *keep;
    uint64_t id = s_u64(req, "id"), expires = s_u64(req, "expires_ms");
    uint64_t needed = s_u64(req, "still_needed");
    bool ours, offered = false;
    cj_t root, r, offers, off;
    size_t pos = 0;

    s_str(req, "org", org, sizeof org);
    s_str(req, "status", status, sizeof status);
    s_str(req, "resource", resource, sizeof resource);
    ours = strcmp(org, in->org) == 0;
    snprintf(idbuf, sizeof idbuf, "%" PRIu64, id);
    if (!s_ask(in, "aid.show", 1, argv, &keep, &root))
        return free(keep), false;
    if (!cj_get(root, "request", &r))
        r = root;
    if (cj_get(r, "offers", &offers))
        while (cj_element(offers, &pos, &off)) {
            char oorg[ICS_ORG_MAX], ostatus[32], approval[128];
            uint64_t oid = s_u64(off, "id"), until = s_u64(off, "valid_until_ms");
            s_str(off, "org", oorg, sizeof oorg);
            s_str(off, "status", ostatus, sizeof ostatus);
            s_str(off, "approval", approval, sizeof approval);
            if (strcmp(oorg, in->org) == 0)
                offered = true;
            if (ours && strcmp(ostatus, "open") == 0) {
                s_item_t *it = s_push(in, "offer");
                if (it == NULL)
                    break;
                it->ref = oid;
                it->request = id;
                it->deadline_ms = until != 0 && (expires == 0 || until < expires) ? until
                                                                                 : expires;
                ics_strcpy(it->org, sizeof it->org, oorg);
                snprintf(it->text, sizeof it->text, "%s offers %" PRIu64 " %s against your request"
                         " %" PRIu64, oorg, s_u64(off, "quantity"), resource, id);
            } else if (strcmp(ostatus, "awaiting_approval") == 0 &&
                       (ours || s_names_my_role(in, approval))) {
                s_item_t *it = s_push(in, "approval");
                if (it == NULL)
                    break;
                it->ref = oid;
                it->request = id;
                it->deadline_ms = expires;
                it->mine = s_names_my_role(in, approval);
                ics_strcpy(it->org, sizeof it->org, oorg);
                snprintf(it->text, sizeof it->text, "offer %" PRIu64 " from %s (request %" PRIu64
                         " of %s) awaits approval: %s", oid, oorg, id, org, approval);
            }
        }
    if (!ours && strcmp(status, "open") == 0 && needed > 0 && !offered &&
        s_resource_wanted(in, resource)) {
        s_item_t *it = s_push(in, "request");
        if (it != NULL) {
            it->ref = id;
            it->request = id;
            it->deadline_ms = expires;
            ics_strcpy(it->org, sizeof it->org, org);
            char urg[32];
            s_str(req, "urgency", urg, sizeof urg);
            snprintf(it->text, sizeof it->text, "%s needs %" PRIu64 " %s, urgency %s", org, needed,
                     resource, urg[0] ? urg : "-");
        }
    }
    free(keep);
    return true;
}

static bool s_aid(s_inbox_t *in)
{
    char *keep;
    cj_t root, reqs, r;
    size_t pos = 0;
    bool ok = true;

    if (!s_ask(in, "aid.list", 0, NULL, &keep, &root))
        return free(keep), false;
    in->clock_ms = s_u64(root, "clock_ms");
    if (cj_get(root, "requests", &reqs))
        while (ok && cj_element(reqs, &pos, &r))
            ok = s_request(in, r);
    free(keep);
    return ok;
}

static bool s_motions(s_inbox_t *in)
{
    char open[] = "open", *argv0[1] = {open}, *keep;
    cj_t root, list, m;
    size_t pos = 0;
    bool ok = true;

    if (!s_ask(in, "motion.list", 1, argv0, &keep, &root))
        return free(keep), false;
    if (cj_get(root, "motions", &list))
        while (ok && cj_element(list, &pos, &m)) {
            char idbuf[24], *argv[1] = {idbuf}, *mkeep, title[200];
            uint64_t id = s_u64(m, "motion"), closes = s_u64(m, "closes_ms");
            cj_t mroot, mo, el, e;
            size_t ep = 0;
            s_str(m, "title", title, sizeof title);
            snprintf(idbuf, sizeof idbuf, "%" PRIu64, id);
            if (!s_ask(in, "motion.show", 1, argv, &mkeep, &mroot)) {
                free(mkeep);
                ok = false;
                break;
            }
            if (!cj_get(mroot, "motion", &mo) || !cj_is_object(mo))
                mo = mroot;
            if (cj_get(mo, "electorate", &el) || cj_get(mroot, "electorate", &el))
                while (cj_element(el, &ep, &e)) {
                    char org[ICS_ORG_MAX], person[ICS_ACTOR_MAX], vote[32];
                    cj_t ex;
                    bool excluded = false;
                    s_str(e, "org", org, sizeof org);
                    s_str(e, "person", person, sizeof person);
                    s_str(e, "vote", vote, sizeof vote);
                    if (cj_get(e, "excluded", &ex))
                        excluded = ex.n == 4 && memcmp(ex.p, "true", 4) == 0;
                    if (strcmp(org, in->org) != 0 || strcmp(person, in->person) != 0 ||
                        excluded || vote[0] != '\0')
                        continue;
                    s_item_t *it = s_push(in, "vote");
                    if (it == NULL)
                        break;
                    it->ref = id;
                    it->deadline_ms = closes;
                    s_str(m, "org", it->org, sizeof it->org);
                    snprintf(it->text, sizeof it->text, "motion %" PRIu64 ": %s", id, title);
                }
            free(mkeep);
        }
    free(keep);
    return ok;
}

static bool s_consultations(s_inbox_t *in)
{
    char *keep;
    cj_t root, list, c;
    size_t pos = 0;
    bool ok = true;

    if (!s_ask(in, "consult.list", 0, NULL, &keep, &root))
        return free(keep), false;
    if (cj_get(root, "consultations", &list))
        while (ok && cj_element(list, &pos, &c)) {
            char status[32], plan[64], idbuf[24], *argv[1] = {idbuf}, *skeep;
            uint64_t id = s_u64(c, "consultation");
            cj_t sroot, so, nr, x;
            size_t np = 0;
            s_str(c, "status", status, sizeof status);
            if (strcmp(status, "open") != 0)
                continue;
            s_str(c, "plan", plan, sizeof plan);
            snprintf(idbuf, sizeof idbuf, "%" PRIu64, id);
            if (!s_ask(in, "consult.summary", 1, argv, &skeep, &sroot)) {
                free(skeep);
                ok = false;
                break;
            }
            if (!cj_get(sroot, "summary", &so) || !cj_is_object(so))
                so = sroot;
            if (cj_get(so, "not_responded", &nr) || cj_get(sroot, "not_responded", &nr))
                while (cj_element(nr, &np, &x)) {
                    char who[ICS_ORG_MAX];
                    if (!cj_str(x, who, sizeof who) || !s_mine_org(in, who))
                        continue;
                    s_item_t *it = s_push(in, "consultation");
                    if (it == NULL)
                        break;
                    it->ref = id;
                    it->deadline_ms = s_u64(c, "closes_ms");
                    ics_strcpy(it->org, sizeof it->org, who);
                    snprintf(it->text, sizeof it->text, "consultation %" PRIu64 " on %s v%" PRIu64
                             ": %s has not responded", id, plan, s_u64(c, "version"), who);
                }
            free(skeep);
        }
    free(keep);
    return ok;
}

static int s_rank(const char *kind)
{
    static const char *const order[] = {"offer", "approval", "vote", "consultation", "request"};
    for (int i = 0; i < 5; i++)
        if (strcmp(kind, order[i]) == 0)
            return i;
    return 5;
}

static int s_cmp(const void *a, const void *b)
{
    const s_item_t *x = a, *y = b;
    uint64_t dx = x->deadline_ms ? x->deadline_ms : UINT64_MAX;
    uint64_t dy = y->deadline_ms ? y->deadline_ms : UINT64_MAX;
    if (dx != dy)
        return dx < dy ? -1 : 1;
    if (s_rank(x->kind) != s_rank(y->kind))
        return s_rank(x->kind) - s_rank(y->kind);
    return x->ref < y->ref ? -1 : x->ref > y->ref;
}

static void s_print_json(s_inbox_t *in, const char *group)
{
    ctl_jdoc_t d;
    json_t *j = ctl_jdoc_begin(&d);

    if (j == NULL)
        return;
    json_obj(j, NULL);
    json_str(j, "group", group);
    json_u64(j, "clock_ms", in->clock_ms);
    json_obj(j, "inbox");
    json_str(j, "org", in->org);
    json_str(j, "person", in->person);
    json_arr(j, "roles");
    for (size_t i = 0; i < in->n_roles; i++)
        json_str(j, NULL, in->roles[i]);
    json_end_arr(j);
    json_arr(j, "items");
    for (size_t i = 0; i < in->n; i++) {
        const s_item_t *it = &in->items[i];
        json_obj(j, NULL);
        json_str(j, "kind", it->kind);
        json_u64(j, "ref", it->ref);
        if (it->request != 0)
            json_u64(j, "request", it->request);
        json_str(j, "org", it->org);
        json_u64(j, "deadline_ms", it->deadline_ms);
        if (strcmp(it->kind, "approval") == 0)
            json_bool(j, "your_role", it->mine);
        json_str(j, "text", it->text);
        json_end_obj(j);
    }
    json_end_arr(j);
    json_end_obj(j);
    json_end_obj(j);
    ctl_jdoc_print(&d);
}

static int s_inbox(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__StatusRequest sr = ICS__V1__STATUS_REQUEST__INIT;
    Ics__V1__ControlResponse *resp;
    const char *resource = ctl_opt(a, "resource");
    char res_buf[512] = "", group[ICS_GROUP_MAX] = "";
    s_inbox_t in = {.o = o};
    int rc = EXIT_FAIL;

    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_STATUS;
    req.status = &sr;
    resp = ctl_call(o, &req);
    if (resp == NULL)
        return EXIT_FAIL;
    ics_strcpy(in.org, sizeof in.org, resp->status->org);
    if (o->group != NULL)
        ics_strcpy(group, sizeof group, o->group);
    else if (resp->status->n_groups == 1)
        ics_strcpy(group, sizeof group, resp->status->groups[0]->name);
    ics__v1__control_response__free_unpacked(resp, NULL);
    in.person = ctl_actor(o);
    if (resource != NULL) {
        snprintf(res_buf, sizeof res_buf, "%s", resource);
        in.n_resources = ctl_split(res_buf, in.resources, 32);
    }
    if (!s_my_roles(&in) || !s_aid(&in) || !s_motions(&in) || !s_consultations(&in))
        goto out;
    if (in.n > 0)
        qsort(in.items, in.n, sizeof in.items[0], s_cmp);
    if (o->json) {
        s_print_json(&in, group);
    } else {
        char when[32];
        ctl_fmt_time(in.clock_ms, when, sizeof when);
        printf("Awaiting ");
        ctl_put_field(stdout, in.person, 0);
        printf(" (%s", in.org);
        for (size_t i = 0; i < in.n_roles; i++)
            printf("%s%s", i ? ", " : "; ", in.roles[i]);
        printf(") in %s, log clock %s\n", group[0] ? group : "the group", when);
        if (in.n == 0)
            printf("  (nothing)\n");
        else
            printf("%-20s  %-12s %6s  %s\n", "DEADLINE", "WHAT", "REF", "");
        for (size_t i = 0; i < in.n; i++) {
            const s_item_t *it = &in.items[i];
            ctl_fmt_time(it->deadline_ms, when, sizeof when);
            printf("%-20s  %-12s %6" PRIu64 "  ", when, it->kind, it->ref);
            ctl_put_field(stdout, it->text, 0);
            printf("%s\n", it->mine ? "  [your role]" : "");
        }
    }
    rc = EXIT_OK;
out:
    free(in.items);
    return rc;
}

static const ctl_sub_t s_subs[] = {
    {"", s_inbox, CTL_READ | CTL_G_AS, "resource=", {NULL},
     "inbox [--as PERSON] [--resource R,...]",
     "What awaits you (--as PERSON, default your user name) and your node's\n"
     "organisation, soonest deadline first:\n"
     "  offer         open offers against your organisation's requests\n"
     "  approval      offers awaiting approval on your requests, or whose rule\n"
     "                names a role you hold\n"
     "  request       other organisations' open requests yours has not offered\n"
     "                against (--resource R,... only those resources)\n"
     "  vote          open motions you may vote on and have not\n"
     "  consultation  open consultations your organisation (or one your roles\n"
     "                act for) has not responded to"},
};

const ctl_cmd_t ctl_cmd_inbox = CTL_CMD("inbox", "What awaits you and your organisation",
                                        "Offers, requests, votes, consultations and approvals "
                                        "waiting, most urgent first.", s_subs);
