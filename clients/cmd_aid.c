/*
 * icsctl aid: mutual aid between partners (docs/opel-and-aid.md). Changes
 * are signed commands submitted through the node; reads are the state
 * machine's aid.* queries, shown as text or, with --json, in the form of
 * docs/cli-json.md.
 *
 * Requests and offers are named by the index of the entry that created
 * them, which is what a successful `aid request` / `aid offer` prints.
 * Where the same command can end in different states (an acceptance above
 * the approval threshold waits for approval; a cancellation with aid
 * already delivered closes the request instead), icsctl reads the state
 * back after the entry is applied and says which it was.
 */
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"

#include "ctl.h"

/* ---- parsing helpers ---------------------------------------------------- */

/* A duration: "90s", "30m", "2h", "1d" -> seconds. */
static bool s_duration(opts_t *o, const char *what, const char *s, uint32_t *out_s)
{
    unsigned long long n = 0;
    char unit = 0, extra = 0;

    if (sscanf(s, "%llu%c%c", &n, &unit, &extra) == 2 && n > 0) {
        unsigned long long mult = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600
                                  : unit == 'd' ? 86400 : 0;
        if (mult != 0 && n <= 30ull * 86400 / mult) {
            *out_s = (uint32_t)(n * mult);
            return true;
        }
    }
    ctl_error(o, "%s: '%s' is not a duration of up to 30 days (use 90s, 30m, 2h, 1d, or never)",
              what, s);
    return false;
}

static bool s_urgency(opts_t *o, const char *s, Ics__V1__AidUrgency *out)
{
    if (strcmp(s, "immediate") == 0 || strcmp(s, "now") == 0)
        *out = ICS__V1__AID_URGENCY__AID_URGENCY_IMMEDIATE;
    else if (strcmp(s, "4h") == 0 || strcmp(s, "within_4h") == 0 || strcmp(s, "within-4h") == 0)
        *out = ICS__V1__AID_URGENCY__AID_URGENCY_WITHIN_4H;
    else if (strcmp(s, "24h") == 0 || strcmp(s, "within_24h") == 0 ||
             strcmp(s, "within-24h") == 0)
        *out = ICS__V1__AID_URGENCY__AID_URGENCY_WITHIN_24H;
    else if (strcmp(s, "planned") == 0)
        *out = ICS__V1__AID_URGENCY__AID_URGENCY_PLANNED;
    else {
        ctl_error(o, "--urgency: '%s' is not immediate, 4h, 24h or planned", s);
        return false;
    }
    return true;
}

/* A request or offer id: the index the command that made it was given. */
static bool s_id(opts_t *o, const char *what, const char *s, uint64_t *out)
{
    if (!ctl_u64(o, what, s, out))
        return false;
    if (*out == 0) {
        ctl_error(o, "%s: ids start at 1", what);
        return false;
    }
    return true;
}

static bool s_quantity(opts_t *o, const char *what, const char *s, uint64_t *out)
{
    if (!ctl_u64(o, what, s, out))
        return false;
    if (*out < 1 || *out > 10000) {
        ctl_error(o, "%s: expected 1 to 10000", what);
        return false;
    }
    return true;
}

/* ---- what came of it -------------------------------------------------------- */

/* Says what an applied entry did: fills label (text) and status (the
 * state it left, for --json; "" if it could not be read back). */
typedef void s_describe_fn(opts_t *o, uint64_t id, char *label, size_t size, char *status,
                           size_t status_size);

/* The request an offer was made on: the offer is the entry at its index,
 * so the log says. */
static bool s_offer_request(opts_t *o, uint64_t offer, char *request, size_t size)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__LogRequest lr = ICS__V1__LOG_REQUEST__INIT;
    Ics__V1__ControlResponse *resp;
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *cmd = NULL;
    bool found = false;

    lr.op = ICS__V1__LOG_REQUEST__OP__SHOW;
    lr.position = offer;
    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_LOG;
    req.log = &lr;
    resp = ctl_call(o, &req);
    if (resp == NULL)
        return false;
    if (resp->body_case == ICS__V1__CONTROL_RESPONSE__BODY_LOG && resp->log->n_entries == 1) {
        const Ics__V1__LogEntry *e = resp->log->entries[0];
        if (ics_envelope_decode(e->envelope.data, e->envelope.len, &env, NULL) == ICS_OK &&
            ics_command_decode(env, &cmd, NULL) == ICS_OK &&
            cmd->body_case == ICS__V1__COMMAND__BODY_AID_OFFER) {
            snprintf(request, size, "%llu", (unsigned long long)cmd->aid_offer->request);
            found = true;
        }
    }
    if (cmd != NULL)
        ics__v1__command__free_unpacked(cmd, NULL);
    if (env != NULL)
        ics__v1__envelope__free_unpacked(env, NULL);
    ics__v1__control_response__free_unpacked(resp, NULL);
    return found;
}

/* The offer id among the offers of an aid.show answer. */
static bool s_find_offer(cj_t doc, uint64_t id, cj_t *offer)
{
    cj_t req, offers;
    size_t op = 0;
    if (!cj_get(doc, "request", &req) || !cj_get(req, "offers", &offers))
        return false;
    while (cj_element(offers, &op, offer)) {
        cj_t v;
        uint64_t x;
        if (cj_get(*offer, "id", &v) && cj_u64(v, &x) && x == id)
            return true;
    }
    return false;
}

static void s_describe_accept(opts_t *o, uint64_t offer, char *label, size_t size,
                              char *status, size_t status_size)
{
    char request[24], *args[1] = {request}, approval[256] = "";
    char *json = NULL;
    cj_t doc, off, v;

    snprintf(label, size, "acceptance of offer %llu recorded", (unsigned long long)offer);
    status[0] = '\0';
    if (!s_offer_request(o, offer, request, sizeof request) ||
        (json = ctl_query_text(o, "aid.show", 1, args, true)) == NULL)
        return;
    if (cj_parse(json, strlen(json), &doc) && s_find_offer(doc, offer, &off) &&
        cj_get(off, "status", &v) && cj_str(v, status, status_size)) {
        if (cj_get(off, "approval", &v))
            cj_str(v, approval, sizeof approval);
        if (strcmp(status, "awaiting_approval") == 0)
            snprintf(label, size, "offer %llu awaits approval%s%s, not yet accepted (icsctl aid "
                     "approve %llu)", (unsigned long long)offer, approval[0] ? " by " : "",
                     approval, (unsigned long long)offer);
        else if (strcmp(status, "accepted") == 0)
            snprintf(label, size, "offer %llu accepted", (unsigned long long)offer);
        else
            snprintf(label, size, "offer %llu is now %s", (unsigned long long)offer, status);
    }
    free(json);
}

static void s_describe_cancel(opts_t *o, uint64_t request, char *label, size_t size,
                              char *status, size_t status_size)
{
    char arg[24], *args[1] = {arg}, unit[64] = "units";
    char *json;
    cj_t doc, req, v;
    uint64_t in_use = 0;

    snprintf(arg, sizeof arg, "%llu", (unsigned long long)request);
    snprintf(label, size, "cancellation of request %llu recorded", (unsigned long long)request);
    status[0] = '\0';
    json = ctl_query_text(o, "aid.show", 1, args, true);
    if (json == NULL)
        return;
    if (cj_parse(json, strlen(json), &doc) && cj_get(doc, "request", &req) &&
        cj_get(req, "status", &v) && cj_str(v, status, status_size)) {
        if (cj_get(req, "in_use", &v))
            cj_u64(v, &in_use);
        if (cj_get(req, "unit", &v))
            cj_str(v, unit, sizeof unit);
        if (strcmp(status, "cancelled") == 0)
            snprintf(label, size, "request %llu cancelled", (unsigned long long)request);
        else if (strcmp(status, "closed") == 0 || strcmp(status, "completed") == 0)
            snprintf(label, size, "request %llu %s, not cancelled: the aid already delivered "
                     "(%llu %s in use) stays until handed back; any agreed but not delivered "
                     "was released", (unsigned long long)request, status,
                     (unsigned long long)in_use, unit);
        else
            snprintf(label, size, "request %llu is now %s", (unsigned long long)request,
                     status);
    }
    free(json);
}

/* Like ctl_submit, but names what was created or changed. Creating
 * (created non-NULL): "<label> <index> <created>", e.g. "request 42
 * raised", since the entry's index names what it created. Else label as
 * is, e.g. "offer 57 withdrawn", or what describe finds. */
static int s_submit(opts_t *o, Ics__V1__Command *cmd, const char *label, const char *created,
                    s_describe_fn *describe, uint64_t id)
{
    Ics__V1__ControlResponse *resp;
    char hex[33], entry[65], said[512], status[64] = "";
    int rc;

    resp = ctl_submit_call(o, cmd, hex, &rc);
    if (resp == NULL)
        return rc;
    const Ics__V1__SubmitReply *r = resp->submit;
    snprintf(said, sizeof said, "%s", label);
    if (r->accepted && describe != NULL)
        describe(o, id, said, sizeof said, status, sizeof status);
    if (o->json) {
        const char *extra[] = {describe == s_describe_accept ? "offer_status" : "request_status",
                               status, NULL};
        ctl_result_json(r, hex, created != NULL ? "id" : NULL,
                        describe != NULL && status[0] ? extra : NULL);
    } else if (r->accepted) {
        ics_hex(r->entry_id.data, r->entry_id.len > 32 ? 32 : r->entry_id.len, entry);
        if (created != NULL)
            printf("%s %llu %s", said, (unsigned long long)r->position, created);
        else
            ctl_put_field(stdout, said, 0);
        printf(" (index %llu, entry %.16s…, ", (unsigned long long)r->position, entry);
        ctl_put_field(stdout, r->org, 0);
        printf(" seq %llu)\n", (unsigned long long)r->seq);
    } else {
        ctl_print_rejected(r);
    }
    rc = r->accepted ? EXIT_OK : EXIT_FAIL;
    ics__v1__control_response__free_unpacked(resp, NULL);
    return rc;
}

/* ---- changes ---------------------------------------------------------------- */

static int s_request(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__AidRequest r = ICS__V1__AID_REQUEST__INIT;
    const char *urgency = ctl_opt(a, "urgency"), *site = ctl_opt(a, "site");
    const char *reason = ctl_opt(a, "reason"), *contact = ctl_opt(a, "contact");
    const char *specialty = ctl_opt(a, "specialty"), *from = ctl_opt(a, "from");
    const char *until = ctl_opt(a, "until"), *expires = ctl_opt(a, "expires");
    const char *escalate = ctl_opt(a, "escalate-after");

    r.resource = a->argv[0];
    if (!s_quantity(o, "QUANTITY", a->argv[1], &r.quantity))
        return EXIT_USAGE;
    if (urgency == NULL || site == NULL || reason == NULL || contact == NULL) {
        ctl_error(o, "aid request: missing %s (it needs --urgency, --site, --reason and "
                     "--contact)", urgency == NULL ? "--urgency" : site == NULL ? "--site"
                     : reason == NULL ? "--reason" : "--contact");
        return EXIT_USAGE;
    }
    if (!s_urgency(o, urgency, &r.urgency))
        return EXIT_USAGE;
    r.site = (char *)site;
    r.reason = (char *)reason;
    r.contact = (char *)contact;
    r.specialty = (char *)(specialty != NULL ? specialty : "");
    if ((from != NULL && !ctl_time(o, "--from", from, &r.needed_from_ms)) ||
        (until != NULL && !ctl_time(o, "--until", until, &r.needed_until_ms)) ||
        (expires != NULL && !ctl_time(o, "--expires", expires, &r.expires_ms)))
        return EXIT_USAGE;
    if (escalate != NULL && strcmp(escalate, "never") == 0)
        r.no_auto_escalation = true;
    else if (escalate != NULL &&
             !s_duration(o, "--escalate-after", escalate, &r.escalate_after_s))
        return EXIT_USAGE;
    cmd.body_case = ICS__V1__COMMAND__BODY_AID_REQUEST;
    cmd.aid_request = &r;
    return s_submit(o, &cmd, "request", "raised", NULL, 0);
}

static int s_offer(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__AidOffer off = ICS__V1__AID_OFFER__INIT;
    const char *conditions = ctl_opt(a, "conditions"), *valid = ctl_opt(a, "valid-until");
    const char *contact = ctl_opt(a, "contact");

    if (!s_id(o, "REQUEST", a->argv[0], &off.request) ||
        !s_quantity(o, "QUANTITY", a->argv[1], &off.quantity))
        return EXIT_USAGE;
    if (valid != NULL && !ctl_time(o, "--valid-until", valid, &off.valid_until_ms))
        return EXIT_USAGE;
    off.conditions = (char *)(conditions != NULL ? conditions : "");
    off.contact = (char *)(contact != NULL ? contact : "");
    cmd.body_case = ICS__V1__COMMAND__BODY_AID_OFFER;
    cmd.aid_offer = &off;
    return s_submit(o, &cmd, "offer", "made", NULL, 0);
}

static int s_accept(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__AidAccept acc = ICS__V1__AID_ACCEPT__INIT;
    const char *qty = ctl_opt(a, "quantity");

    if (a->argc == 2 && qty != NULL) {
        ctl_error(o, "aid accept: give QUANTITY or --quantity, not both");
        return EXIT_USAGE;
    }
    if (a->argc == 2)
        qty = a->argv[1];
    if (!s_id(o, "OFFER", a->argv[0], &acc.offer) ||
        (qty != NULL && !s_quantity(o, "QUANTITY", qty, &acc.quantity)))
        return EXIT_USAGE;
    cmd.body_case = ICS__V1__COMMAND__BODY_AID_ACCEPT;
    cmd.aid_accept = &acc;
    return s_submit(o, &cmd, "", NULL, s_describe_accept, acc.offer);
}

/* approve, deliver, return, withdraw: OFFER and a note. */
static int s_offer_step(opts_t *o, const ctl_args_t *a, const char *verb)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__AidApprove ap = ICS__V1__AID_APPROVE__INIT;
    Ics__V1__AidDeliver de = ICS__V1__AID_DELIVER__INIT;
    Ics__V1__AidReturn re = ICS__V1__AID_RETURN__INIT;
    Ics__V1__AidWithdraw wi = ICS__V1__AID_WITHDRAW__INIT;
    const char *note = ctl_opt(a, "note");
    uint64_t offer;
    char label[80];

    if (!s_id(o, "OFFER", a->argv[0], &offer))
        return EXIT_USAGE;
    char *text = (char *)(note != NULL ? note : "");
    if (strcmp(verb, "approve") == 0) {
        bool decline = ctl_flag(a, "decline");
        ap.offer = offer;
        ap.decline = decline;
        ap.note = text;
        cmd.body_case = ICS__V1__COMMAND__BODY_AID_APPROVE;
        cmd.aid_approve = &ap;
        verb = decline ? "declined" : "approved";
    } else if (strcmp(verb, "deliver") == 0) {
        de.offer = offer;
        de.note = text;
        cmd.body_case = ICS__V1__COMMAND__BODY_AID_DELIVER;
        cmd.aid_deliver = &de;
        verb = "delivered";
    } else if (strcmp(verb, "return") == 0) {
        re.offer = offer;
        re.note = text;
        cmd.body_case = ICS__V1__COMMAND__BODY_AID_RETURN;
        cmd.aid_return = &re;
        verb = "handed back";
    } else {
        wi.offer = offer;
        wi.reason = text;
        cmd.body_case = ICS__V1__COMMAND__BODY_AID_WITHDRAW;
        cmd.aid_withdraw = &wi;
        verb = "withdrawn";
    }
    snprintf(label, sizeof label, "offer %llu %s", (unsigned long long)offer, verb);
    return s_submit(o, &cmd, label, NULL, NULL, 0);
}

static int s_approve(opts_t *o, const ctl_args_t *a) { return s_offer_step(o, a, "approve"); }
static int s_deliver(opts_t *o, const ctl_args_t *a) { return s_offer_step(o, a, "deliver"); }
static int s_return(opts_t *o, const ctl_args_t *a) { return s_offer_step(o, a, "return"); }
static int s_withdraw(opts_t *o, const ctl_args_t *a) { return s_offer_step(o, a, "withdraw"); }

static int s_cancel(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__AidCancel ca = ICS__V1__AID_CANCEL__INIT;
    const char *reason = ctl_opt(a, "reason");

    if (!s_id(o, "REQUEST", a->argv[0], &ca.request))
        return EXIT_USAGE;
    ca.reason = (char *)(reason != NULL ? reason : "");
    cmd.body_case = ICS__V1__COMMAND__BODY_AID_CANCEL;
    cmd.aid_cancel = &ca;
    return s_submit(o, &cmd, "", NULL, s_describe_cancel, ca.request);
}

static int s_escalate(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__AidEscalate es = ICS__V1__AID_ESCALATE__INIT;
    const char *reason = ctl_opt(a, "reason");
    char label[80];

    if (!s_id(o, "REQUEST", a->argv[0], &es.request))
        return EXIT_USAGE;
    es.reason = (char *)(reason != NULL ? reason : "");
    cmd.body_case = ICS__V1__COMMAND__BODY_AID_ESCALATE;
    cmd.aid_escalate = &es;
    snprintf(label, sizeof label, "request %llu escalated to the regional group",
             (unsigned long long)es.request);
    return s_submit(o, &cmd, label, NULL, NULL, 0);
}

/* ---- reads ------------------------------------------------------------------ */

static int s_show(opts_t *o, const ctl_args_t *a)
{
    uint64_t id;
    if (!s_id(o, "REQUEST", a->argv[0], &id))
        return EXIT_USAGE;
    return ctl_read(o, "aid.show", 1, a->argv, "request", CJ_MEMBER);
}

static int s_list(opts_t *o, const ctl_args_t *a)
{
    static const char *const filters[] = {"status", "org", "resource"};
    char buf[3][80], *args[3];
    int n = 0;

    for (size_t i = 0; i < 3; i++) {
        const char *v = ctl_opt(a, filters[i]);
        if (v != NULL) {
            snprintf(buf[n], sizeof buf[n], "%s=%s", filters[i], v);
            args[n] = buf[n];
            n++;
        }
    }
    return ctl_read(o, "aid.list", n, args, "requests", CJ_MEMBER);
}

static int s_board(opts_t *o, const ctl_args_t *a)
{
    (void)a;
    return ctl_read(o, "aid.board", 0, NULL, "board", CJ_WRAP | CJ_CLOCK);
}

static int s_resources(opts_t *o, const ctl_args_t *a)
{
    (void)a;
    return ctl_read(o, "aid.resources", 0, NULL, "resources", CJ_ARRAY);
}

static const ctl_sub_t s_subs[] = {
    {"request", s_request, CTL_SUBMIT,
     "urgency= site= reason= contact= specialty= from= until= expires= escalate-after=",
     {"RESOURCE", "QUANTITY"},
     "aid request RESOURCE QUANTITY --urgency immediate|4h|24h|planned --site TEXT\n"
     "       --reason TEXT --contact TEXT [--specialty S] [--from T] [--until T]\n"
     "       [--expires T] [--escalate-after 30m|2h|90s|never]",
     "Ask partners for aid (icsctl aid resources lists resources and units;\n"
     "staff need --specialty). The request records your current OPEL. It\n"
     "expires at --expires (default: by urgency, at the latest --until)\n"
     "and, if still unmet after --escalate-after (default by urgency), is\n"
     "raised in the regional group. Times: 2026-12-01T09:00:00Z, now, +4h."},
    {"offer", s_offer, CTL_SUBMIT, "conditions= valid-until= contact=",
     {"REQUEST", "QUANTITY"},
     "aid offer REQUEST QUANTITY [--conditions TEXT] [--valid-until T] [--contact TEXT]",
     "Offer aid against a request."},
    {"accept", s_accept, CTL_SUBMIT, "quantity=", {"OFFER", "[QUANTITY]"},
     "aid accept OFFER [QUANTITY]",
     "Requester: accept an offer, in whole or part; each offer is accepted once.\n"
     "Above the scheme's approval threshold the acceptance awaits approval, and\n"
     "icsctl says so."},
    {"approve", s_approve, CTL_SUBMIT, "note|reason= decline", {"OFFER"},
     "aid approve OFFER [--decline] [--note TEXT]",
     "Approve (or --decline) an acceptance above the scheme of reservation and\n"
     "delegation's threshold, by the role it names."},
    {"deliver", s_deliver, CTL_SUBMIT, "note|reason=", {"OFFER"},
     "aid deliver OFFER [--note TEXT]",
     "Offerer or requester (or the coordinating organisation for it): the aid was\n"
     "provided."},
    {"return", s_return, CTL_SUBMIT, "note|reason=", {"OFFER"}, "aid return OFFER [--note TEXT]",
     "The aid was handed back."},
    {"withdraw", s_withdraw, CTL_SUBMIT, "reason|note=", {"OFFER"},
     "aid withdraw OFFER [--reason TEXT]", "Offerer: withdraw an offer not yet accepted."},
    {"cancel", s_cancel, CTL_SUBMIT, "reason=", {"REQUEST"}, "aid cancel REQUEST [--reason TEXT]",
     "Requester: cancel. With aid already delivered the request is closed instead\n"
     "(that aid stays until handed back), and icsctl says which happened."},
    {"escalate", s_escalate, CTL_SUBMIT, "reason=", {"REQUEST"},
     "aid escalate REQUEST [--reason TEXT]",
     "Requester: raise the unmet rest in the regional group now."},
    {"show", s_show, CTL_READ, "", {"REQUEST"}, "aid show REQUEST",
     "One request: offers, escalation, timeline."},
    {"list", s_list, CTL_READ, "status= org= resource=", {NULL},
     "aid list [--status S] [--org ORG] [--resource R]",
     "Requests, oldest first. S: open, met, closed, cancelled, expired, completed,\n"
     "active (open, met and closed: the default) or all."},
    {"board", s_board, CTL_READ, "", {NULL}, "aid board",
     "The system picture: OPEL by organisation, open requests with what is\n"
     "offered and accepted (oldest unmet first), aid in use."},
    {"resources", s_resources, CTL_READ, "", {NULL}, "aid resources",
     "The resource catalogue with units."},
};

const ctl_cmd_t ctl_cmd_aid = CTL_CMD(
    "aid", "Mutual aid: request, offer, accept, deliver, return",
    "Mutual aid between partners. Requests and offers are named by the index\n"
    "that raising them printed. A refusal says why (already accepted, more than\n"
    "needed, cancelled...). See docs/opel-and-aid.md.", s_subs);
