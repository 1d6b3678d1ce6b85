/*
 * icsctl aid ... and icsctl opel ...: mutual aid and OPEL reporting
 * (docs/opel-and-aid.md). Changes are signed commands submitted through
 * the node; reads are the state machine's queries (aid.*, opel.*), shown
 * as text or, with --json, as the query's JSON.
 *
 * Requests and offers are named by the index of the entry that created
 * them, which is what a successful `aid request` / `aid offer` prints.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/envelope.h"
#include "common/json.h"

#include "icsctl.h"

/* ---- parsing helpers ---------------------------------------------------- */

/* A time: ctl_time's forms, plus "+90s" (seconds, for drills and demos). */
static bool s_time(const char *what, const char *s, uint64_t *out_ms)
{
    unsigned long long n = 0;
    int used = 0;

    if (s[0] == '+' && sscanf(s + 1, "%llus%n", &n, &used) == 1 && used > 0 &&
        s[1 + used] == '\0' && s[used] == 's') {
        *out_ms = (uint64_t)time(NULL) * 1000 + (uint64_t)n * 1000;
        return true;
    }
    return ctl_time(what, s, out_ms);
}

/* A duration: "90s", "30m", "2h", "1d" -> seconds. */
static bool s_duration(const char *what, const char *s, uint32_t *out_s)
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
    fprintf(stderr, "icsctl: %s: '%s' is not a duration of up to 30 days (use 90s, 30m, 2h, 1d,"
                    " or never)\n", what, s);
    return false;
}

static bool s_urgency(const char *s, Ics__V1__AidUrgency *out)
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
        fprintf(stderr, "icsctl: --urgency: '%s' is not immediate, 4h, 24h or planned\n", s);
        return false;
    }
    return true;
}

/* A request or offer id: the index the command that made it was given. */
static bool s_id(const char *what, const char *s, uint64_t *out)
{
    if (!ctl_u64(what, s, out))
        return false;
    if (*out == 0) {
        fprintf(stderr, "icsctl: %s: ids start at 1\n", what);
        return false;
    }
    return true;
}

static bool s_quantity(const char *what, const char *s, uint64_t *out)
{
    if (!ctl_u64(what, s, out))
        return false;
    if (*out < 1 || *out > 10000) {
        fprintf(stderr, "icsctl: %s: expected 1 to 10000\n", what);
        return false;
    }
    return true;
}

/* ---- submission ------------------------------------------------------------ */

/* Like ctl_submit, but names what was created or changed. Creating
 * (created non-NULL): "<label> <index> <created>", e.g. "request 42
 * raised", since the entry's index names what it created. Else label as
 * is, e.g. "offer 57 withdrawn". */
static int s_submit(opts_t *o, Ics__V1__Command *cmd, const char *label, const char *created)
{
    Ics__V1__ControlResponse *resp;
    char hex[33], id[65];
    int rc;

    resp = ctl_submit_call(o, cmd, hex, &rc);
    if (resp == NULL)
        return rc;
    const Ics__V1__SubmitReply *r = resp->submit;
    ics_hex(r->entry_id.data, r->entry_id.len > 32 ? 32 : r->entry_id.len, id);
    if (o->json) {
        json_t j;
        json_init(&j, stdout);
        json_obj(&j, NULL);
        json_u64(&j, "index", r->position);
        if (created != NULL && r->accepted)
            json_u64(&j, "id", r->position);
        json_hex(&j, "entry_id", r->entry_id.data, r->entry_id.len);
        json_str(&j, "org", r->org);
        json_u64(&j, "seq", r->seq);
        json_bool(&j, "accepted", r->accepted);
        json_str(&j, "reason", r->reason);
        json_str(&j, "token", hex);
        json_end_obj(&j);
        json_done(&j);
    } else if (r->accepted) {
        if (created != NULL)
            printf("%s %llu %s", label, (unsigned long long)r->position, created);
        else
            fputs(label, stdout);
        printf(" (index %llu, entry %.16s…, %s seq %llu)\n", (unsigned long long)r->position,
               id, r->org, (unsigned long long)r->seq);
    } else {
        printf("rejected at index %llu: %s (entry %.16s…)\n", (unsigned long long)r->position,
               r->reason, id);
    }
    rc = r->accepted ? EXIT_OK : EXIT_FAIL;
    ics__v1__control_response__free_unpacked(resp, NULL);
    return rc;
}

/* ---- aid -------------------------------------------------------------------- */

static int s_aid_request(opts_t *o, int argc, char **argv)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__AidRequest a = ICS__V1__AID_REQUEST__INIT;
    const char *urgency = NULL, *site = NULL, *reason = NULL, *contact = NULL,
               *specialty = NULL, *from = NULL, *until = NULL, *expires = NULL,
               *escalate = NULL;
    const ctl_opt_t own[] = {
        {"urgency", &urgency, NULL},   {"site", &site, NULL},
        {"reason", &reason, NULL},     {"contact", &contact, NULL},
        {"specialty", &specialty, NULL}, {"from", &from, NULL},
        {"until", &until, NULL},       {"expires", &expires, NULL},
        {"escalate-after", &escalate, NULL}, {NULL, NULL, NULL}};

    if (ctl_parse(o, &argc, argv, own) != EXIT_OK)
        return EXIT_USAGE;
    if (argc != 2) {
        fprintf(stderr, "icsctl: aid request takes RESOURCE QUANTITY (icsctl aid resources"
                        " lists the resources)\n");
        return EXIT_USAGE;
    }
    a.resource = argv[0];
    if (!s_quantity("QUANTITY", argv[1], &a.quantity))
        return EXIT_USAGE;
    if (urgency == NULL || site == NULL || reason == NULL || contact == NULL) {
        fprintf(stderr, "icsctl: aid request needs --urgency, --site, --reason and --contact\n");
        return EXIT_USAGE;
    }
    if (!s_urgency(urgency, &a.urgency))
        return EXIT_USAGE;
    a.site = (char *)site;
    a.reason = (char *)reason;
    a.contact = (char *)contact;
    a.specialty = (char *)(specialty != NULL ? specialty : "");
    if ((from != NULL && !s_time("--from", from, &a.needed_from_ms)) ||
        (until != NULL && !s_time("--until", until, &a.needed_until_ms)) ||
        (expires != NULL && !s_time("--expires", expires, &a.expires_ms)))
        return EXIT_USAGE;
    if (escalate != NULL && strcmp(escalate, "never") == 0)
        a.no_auto_escalation = true;
    else if (escalate != NULL && !s_duration("--escalate-after", escalate, &a.escalate_after_s))
        return EXIT_USAGE;
    cmd.body_case = ICS__V1__COMMAND__BODY_AID_REQUEST;
    cmd.aid_request = &a;
    return s_submit(o, &cmd, "request", "raised");
}

static int s_aid_offer(opts_t *o, int argc, char **argv)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__AidOffer a = ICS__V1__AID_OFFER__INIT;
    const char *conditions = NULL, *valid = NULL, *contact = NULL;
    const ctl_opt_t own[] = {{"conditions", &conditions, NULL},
                             {"valid-until", &valid, NULL},
                             {"contact", &contact, NULL},
                             {NULL, NULL, NULL}};

    if (ctl_parse(o, &argc, argv, own) != EXIT_OK)
        return EXIT_USAGE;
    if (argc != 2) {
        fprintf(stderr, "icsctl: aid offer takes REQUEST QUANTITY\n");
        return EXIT_USAGE;
    }
    if (!s_id("REQUEST", argv[0], &a.request) || !s_quantity("QUANTITY", argv[1], &a.quantity))
        return EXIT_USAGE;
    if (valid != NULL && !s_time("--valid-until", valid, &a.valid_until_ms))
        return EXIT_USAGE;
    a.conditions = (char *)(conditions != NULL ? conditions : "");
    a.contact = (char *)(contact != NULL ? contact : "");
    cmd.body_case = ICS__V1__COMMAND__BODY_AID_OFFER;
    cmd.aid_offer = &a;
    return s_submit(o, &cmd, "offer", "made");
}

static int s_aid_accept(opts_t *o, int argc, char **argv)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__AidAccept a = ICS__V1__AID_ACCEPT__INIT;
    const char *qty = NULL;
    const ctl_opt_t own[] = {{"quantity", &qty, NULL}, {NULL, NULL, NULL}};
    char label[64];

    if (ctl_parse(o, &argc, argv, own) != EXIT_OK)
        return EXIT_USAGE;
    if (argc < 1 || argc > 2 || (argc == 2 && qty != NULL)) {
        fprintf(stderr, "icsctl: aid accept takes OFFER [QUANTITY]\n");
        return EXIT_USAGE;
    }
    if (argc == 2)
        qty = argv[1];
    if (!s_id("OFFER", argv[0], &a.offer) || (qty != NULL && !s_quantity("QUANTITY", qty,
                                                                         &a.quantity)))
        return EXIT_USAGE;
    cmd.body_case = ICS__V1__COMMAND__BODY_AID_ACCEPT;
    cmd.aid_accept = &a;
    snprintf(label, sizeof label, "offer %llu accepted", (unsigned long long)a.offer);
    return s_submit(o, &cmd, label, NULL);
}

/* approve, deliver, return, withdraw: OFFER and a note. */
static int s_aid_offer_step(opts_t *o, int argc, char **argv, const char *verb)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__AidApprove ap = ICS__V1__AID_APPROVE__INIT;
    Ics__V1__AidDeliver de = ICS__V1__AID_DELIVER__INIT;
    Ics__V1__AidReturn re = ICS__V1__AID_RETURN__INIT;
    Ics__V1__AidWithdraw wi = ICS__V1__AID_WITHDRAW__INIT;
    const char *note = NULL;
    bool decline = false;
    const ctl_opt_t own[] = {{"note", &note, NULL}, {"reason", &note, NULL},
                             {"decline", NULL, &decline}, {NULL, NULL, NULL}};
    uint64_t offer;
    char label[80];

    if (ctl_parse(o, &argc, argv, own) != EXIT_OK)
        return EXIT_USAGE;
    if (argc != 1) {
        fprintf(stderr, "icsctl: aid %s takes OFFER\n", verb);
        return EXIT_USAGE;
    }
    if (!s_id("OFFER", argv[0], &offer))
        return EXIT_USAGE;
    if (decline && strcmp(verb, "approve") != 0) {
        fprintf(stderr, "icsctl: --decline is for aid approve\n");
        return EXIT_USAGE;
    }
    char *text = (char *)(note != NULL ? note : "");
    if (strcmp(verb, "approve") == 0) {
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
    return s_submit(o, &cmd, label, NULL);
}

/* cancel, escalate: REQUEST and a reason. */
static int s_aid_request_step(opts_t *o, int argc, char **argv, bool cancel)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__AidCancel ca = ICS__V1__AID_CANCEL__INIT;
    Ics__V1__AidEscalate es = ICS__V1__AID_ESCALATE__INIT;
    const char *reason = NULL;
    const ctl_opt_t own[] = {{"reason", &reason, NULL}, {NULL, NULL, NULL}};
    uint64_t request;
    char label[128];

    if (ctl_parse(o, &argc, argv, own) != EXIT_OK)
        return EXIT_USAGE;
    if (argc != 1) {
        fprintf(stderr, "icsctl: aid %s takes REQUEST\n", cancel ? "cancel" : "escalate");
        return EXIT_USAGE;
    }
    if (!s_id("REQUEST", argv[0], &request))
        return EXIT_USAGE;
    if (cancel) {
        ca.request = request;
        ca.reason = (char *)(reason != NULL ? reason : "");
        cmd.body_case = ICS__V1__COMMAND__BODY_AID_CANCEL;
        cmd.aid_cancel = &ca;
    } else {
        es.request = request;
        es.reason = (char *)(reason != NULL ? reason : "");
        cmd.body_case = ICS__V1__COMMAND__BODY_AID_ESCALATE;
        cmd.aid_escalate = &es;
    }
    snprintf(label, sizeof label, "request %llu %s", (unsigned long long)request,
             cancel ? "cancelled (or closed, if aid was already delivered)"
                    : "escalated to the regional group");
    return s_submit(o, &cmd, label, NULL);
}

static int s_aid_list(opts_t *o, int argc, char **argv)
{
    const char *status = NULL, *org = NULL, *resource = NULL;
    const ctl_opt_t own[] = {{"status", &status, NULL}, {"org", &org, NULL},
                             {"resource", &resource, NULL}, {NULL, NULL, NULL}};
    char a[3][80], *args[3];
    int n = 0;

    if (ctl_parse(o, &argc, argv, own) != EXIT_OK)
        return EXIT_USAGE;
    if (argc != 0) {
        fprintf(stderr, "icsctl: aid list takes only --status, --org and --resource\n");
        return EXIT_USAGE;
    }
    if (status != NULL)
        snprintf(a[n++], sizeof a[0], "status=%s", status);
    if (org != NULL)
        snprintf(a[n++], sizeof a[0], "org=%s", org);
    if (resource != NULL)
        snprintf(a[n++], sizeof a[0], "resource=%s", resource);
    for (int i = 0; i < n; i++)
        args[i] = a[i];
    return ctl_query(o, "aid.list", n, args);
}

int cmd_aid(opts_t *o, int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : "";

    if (argc == 0) {
        fprintf(stderr, "icsctl: aid needs a subcommand: request, offer, accept, approve,"
                        " deliver, return, withdraw, cancel, escalate, show, list, board,"
                        " resources\n");
        return EXIT_USAGE;
    }
    argc--;
    argv++;
    if (strcmp(sub, "request") == 0)
        return s_aid_request(o, argc, argv);
    if (strcmp(sub, "offer") == 0)
        return s_aid_offer(o, argc, argv);
    if (strcmp(sub, "accept") == 0)
        return s_aid_accept(o, argc, argv);
    if (strcmp(sub, "approve") == 0 || strcmp(sub, "deliver") == 0 ||
        strcmp(sub, "return") == 0 || strcmp(sub, "withdraw") == 0)
        return s_aid_offer_step(o, argc, argv, sub);
    if (strcmp(sub, "cancel") == 0 || strcmp(sub, "escalate") == 0)
        return s_aid_request_step(o, argc, argv, strcmp(sub, "cancel") == 0);
    if (strcmp(sub, "list") == 0)
        return s_aid_list(o, argc, argv);
    if (strcmp(sub, "show") == 0 || strcmp(sub, "board") == 0 ||
        strcmp(sub, "resources") == 0) {
        uint64_t id;
        if (ctl_parse(o, &argc, argv, NULL) != EXIT_OK)
            return EXIT_USAGE;
        if (strcmp(sub, "show") == 0) {
            if (argc != 1 || !s_id("REQUEST", argv[0], &id)) {
                if (argc != 1)
                    fprintf(stderr, "icsctl: aid show takes REQUEST\n");
                return EXIT_USAGE;
            }
            return ctl_query(o, "aid.show", 1, argv);
        }
        if (argc != 0) {
            fprintf(stderr, "icsctl: aid %s takes no arguments\n", sub);
            return EXIT_USAGE;
        }
        return ctl_query(o, strcmp(sub, "board") == 0 ? "aid.board" : "aid.resources", 0, NULL);
    }
    fprintf(stderr, "icsctl: aid has no subcommand '%s'\n", sub);
    return EXIT_USAGE;
}

/* ---- opel -------------------------------------------------------------------- */

static int s_opel_set(opts_t *o, int argc, char **argv)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__OpelReport r = ICS__V1__OPEL_REPORT__INIT;
    Ics__V1__OpelParameter params[16], *ptrs[16];
    char names[16][64];
    const char *type = NULL, *note = NULL;
    const ctl_opt_t own[] = {{"type", &type, NULL}, {"note", &note, NULL}, {NULL, NULL, NULL}};
    uint64_t level;
    char label[64];

    if (ctl_parse(o, &argc, argv, own) != EXIT_OK)
        return EXIT_USAGE;
    if (argc < 1 || type == NULL) {
        fprintf(stderr, "icsctl: opel set takes LEVEL --type TYPE [NAME=VALUE ...]\n");
        return EXIT_USAGE;
    }
    if (!ctl_u64("LEVEL", argv[0], &level) || level < 1 || level > 4) {
        fprintf(stderr, "icsctl: LEVEL: expected 1 to 4\n");
        return EXIT_USAGE;
    }
    if (argc - 1 > 16) {
        fprintf(stderr, "icsctl: at most 16 parameters\n");
        return EXIT_USAGE;
    }
    for (int i = 1; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        Ics__V1__OpelParameter *p = &params[i - 1];
        ics__v1__opel_parameter__init(p);
        if (eq == NULL || eq == argv[i] || (size_t)(eq - argv[i]) >= sizeof names[0]) {
            fprintf(stderr, "icsctl: '%s' is not NAME=VALUE (icsctl opel parameters lists"
                            " the names)\n", argv[i]);
            return EXIT_USAGE;
        }
        snprintf(names[i - 1], sizeof names[0], "%.*s", (int)(eq - argv[i]), argv[i]);
        if (!ctl_u64(names[i - 1], eq + 1, &p->value))
            return EXIT_USAGE;
        p->name = names[i - 1];
        ptrs[i - 1] = p;
    }
    r.level = (uint32_t)level;
    r.provider_type = (char *)type;
    r.parameters = ptrs;
    r.n_parameters = (size_t)(argc - 1);
    r.note = (char *)(note != NULL ? note : "");
    cmd.body_case = ICS__V1__COMMAND__BODY_OPEL_REPORT;
    cmd.opel_report = &r;
    snprintf(label, sizeof label, "OPEL %llu reported for %s", (unsigned long long)level, type);
    return s_submit(o, &cmd, label, NULL);
}

int cmd_opel(opts_t *o, int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : "";

    if (argc == 0) {
        fprintf(stderr, "icsctl: opel needs a subcommand: set, show, history, parameters\n");
        return EXIT_USAGE;
    }
    argc--;
    argv++;
    if (strcmp(sub, "set") == 0)
        return s_opel_set(o, argc, argv);
    if (strcmp(sub, "show") == 0 || strcmp(sub, "parameters") == 0) {
        if (ctl_parse(o, &argc, argv, NULL) != EXIT_OK)
            return EXIT_USAGE;
        if (argc > 1) {
            fprintf(stderr, "icsctl: opel %s takes at most one %s\n", sub,
                    strcmp(sub, "show") == 0 ? "ORG" : "TYPE");
            return EXIT_USAGE;
        }
        return ctl_query(o, strcmp(sub, "show") == 0 ? "opel.show" : "opel.parameters", argc,
                         argv);
    }
    if (strcmp(sub, "history") == 0) {
        const char *count = NULL;
        const ctl_opt_t own[] = {{"n", &count, NULL}, {"count", &count, NULL},
                                 {NULL, NULL, NULL}};
        char *args[2];
        int n = 0;
        uint64_t v;
        if (ctl_parse(o, &argc, argv, own) != EXIT_OK)
            return EXIT_USAGE;
        if (argc > 1) {
            fprintf(stderr, "icsctl: opel history takes at most one ORG\n");
            return EXIT_USAGE;
        }
        if (count != NULL && (!ctl_u64("-n", count, &v) || v < 1 || v > 1000)) {
            fprintf(stderr, "icsctl: -n: expected 1 to 1000\n");
            return EXIT_USAGE;
        }
        if (argc == 1)
            args[n++] = argv[0];
        if (count != NULL)
            args[n++] = (char *)count;
        return ctl_query(o, "opel.history", n, args);
    }
    fprintf(stderr, "icsctl: opel has no subcommand '%s'\n", sub);
    return EXIT_USAGE;
}
