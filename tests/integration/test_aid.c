/*
 * Mutual aid across real processes.
 *
 * 1. Races: two acceptances of one offer submitted at the same moment to
 *    two different nodes (the requester's and the ICB's, through icsctl),
 *    and two acceptances that together exceed the need: exactly one wins,
 *    the other is refused saying why, and every node's log and state say
 *    the same.
 * 2. Escalation across two groups with a node in both: a request unmet
 *    past its escalation time is escalated by the home group's log clock,
 *    the bridging node (the ICB, in both groups, escalate_to = ne-region)
 *    raises it in the regional group, offers and acceptance there flow back
 *    to the original, and so do delivery and hand-back.
 */
#include "harness.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "common/envelope.h"

#define U(x) ((unsigned long long)(x))

/* ---------------------------------------------------------------- helpers */

typedef struct {
    bool accepted;
    uint64_t position;
    char reason[256];
} s_outcome_t;

/* Submits cmd to node i in group (NULL: its only group) as actor; fails
 * the test if the node does not answer with an outcome. */
static s_outcome_t s_submit(h_cluster_t *c, int i, const char *group, Ics__V1__Command *cmd)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__SubmitRequest sub = ICS__V1__SUBMIT_REQUEST__INIT;
    Ics__V1__ControlResponse *resp = NULL;
    uint8_t token[16], *buf = NULL;
    size_t len = 0;
    s_outcome_t out;
    ics_err_t err;

    memset(&out, 0, sizeof out);
    randombytes_buf(token, sizeof token);
    assert_int_equal(ics_pack(&cmd->base, &buf, &len), ICS_OK);
    sub.command.data = buf;
    sub.command.len = len;
    sub.client_token.data = token;
    sub.client_token.len = sizeof token;
    req.version = ICS_CONTROL_VERSION;
    req.group = (char *)(group != NULL ? group : "");
    req.actor = "test.user";
    req.timeout_ms = 10000;
    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_SUBMIT;
    req.submit = &sub;
    if (ics_ctl_call(c->nodes[i].control, &req, 13000, &resp, &err) != ICS_OK)
        fail_msg("submit to %s: %s", c->nodes[i].org, err.msg);
    free(buf);
    if (resp->code != 0 || resp->body_case != ICS__V1__CONTROL_RESPONSE__BODY_SUBMIT)
        fail_msg("submit to %s: %s", c->nodes[i].org, resp->error);
    out.accepted = resp->submit->accepted;
    out.position = resp->submit->position;
    snprintf(out.reason, sizeof out.reason, "%s", resp->submit->reason);
    ics__v1__control_response__free_unpacked(resp, NULL);
    return out;
}

static uint64_t s_ok(h_cluster_t *c, int i, const char *group, Ics__V1__Command *cmd)
{
    s_outcome_t o = s_submit(c, i, group, cmd);
    if (!o.accepted)
        fail_msg("%s: rejected: %s", c->nodes[i].org, o.reason);
    return o.position;
}

/* A query's JSON (caller frees), or NULL if the node cannot answer. */
static char *s_query(h_cluster_t *c, int i, const char *group, const char *name, const char *arg)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__QueryRequest q = ICS__V1__QUERY_REQUEST__INIT;
    Ics__V1__ControlResponse *resp = NULL;
    char *args[1] = {(char *)arg}, *json = NULL;
    ics_err_t err;

    q.name = (char *)name;
    q.args = args;
    q.n_args = arg != NULL ? 1 : 0;
    req.version = ICS_CONTROL_VERSION;
    req.group = (char *)(group != NULL ? group : "");
    req.actor = "test.user";
    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_QUERY;
    req.query = &q;
    if (ics_ctl_call(c->nodes[i].control, &req, 3000, &resp, &err) != ICS_OK)
        return NULL;
    if (resp->code == 0 && resp->body_case == ICS__V1__CONTROL_RESPONSE__BODY_QUERY)
        json = strdup(resp->query->json);
    ics__v1__control_response__free_unpacked(resp, NULL);
    return json;
}

/* The log entry at position on node i (group's only or named group). */
static bool s_entry(h_cluster_t *c, int i, const char *group, uint64_t position, bool *accepted,
                    char *reason, size_t size)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__LogRequest lr = ICS__V1__LOG_REQUEST__INIT;
    Ics__V1__ControlResponse *resp = NULL;
    ics_err_t err;
    bool ok = false;

    lr.op = ICS__V1__LOG_REQUEST__OP__SHOW;
    lr.position = position;
    req.version = ICS_CONTROL_VERSION;
    req.group = (char *)(group != NULL ? group : "");
    req.actor = "test.user";
    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_LOG;
    req.log = &lr;
    if (ics_ctl_call(c->nodes[i].control, &req, 3000, &resp, &err) != ICS_OK)
        return false;
    if (resp->code == 0 && resp->body_case == ICS__V1__CONTROL_RESPONSE__BODY_LOG &&
        resp->log->n_entries == 1) {
        *accepted = resp->log->entries[0]->accepted;
        snprintf(reason, size, "%s", resp->log->entries[0]->reason);
        ok = true;
    }
    ics__v1__control_response__free_unpacked(resp, NULL);
    return ok;
}

/* Waits until every live node in mask has position in group's log and
 * logs it alike. */
static void s_expect_entry_everywhere(h_cluster_t *c, unsigned mask, const char *group,
                                      uint64_t position, bool accepted, const char *reason)
{
    for (int i = 0; i < c->n; i++) {
        bool acc = false, found = false;
        char why[256] = "";
        if (!(mask & (1u << i)))
            continue;
        for (int t = 0; t < 200 && !found; t++) {
            found = s_entry(c, i, group, position, &acc, why, sizeof why);
            if (!found)
                h_sleep_ms(50);
        }
        if (!found)
            fail_msg("%s never applied position %llu", c->nodes[i].org, U(position));
        if (acc != accepted || strcmp(why, reason) != 0)
            fail_msg("%s logs position %llu as %s '%s', expected %s '%s'", c->nodes[i].org,
                     U(position), acc ? "accepted" : "rejected", why,
                     accepted ? "accepted" : "rejected", reason);
    }
}

/* The part of aid.show's JSON from "offers" on: the same on every node
 * that has applied the same entries (the rest carries the clock). */
static char *s_offers_part(h_cluster_t *c, int i, const char *group, uint64_t request)
{
    char id[24], *json, *p, *out = NULL;
    snprintf(id, sizeof id, "%llu", U(request));
    json = s_query(c, i, group, "aid.show", id);
    if (json == NULL)
        return NULL;
    p = strstr(json, "\"offers\":");
    if (p != NULL)
        out = strdup(p);
    free(json);
    return out;
}

/* Waits until every node in mask gives the same offers part, containing
 * needle. */
static void s_expect_same_state(h_cluster_t *c, unsigned mask, const char *group,
                                uint64_t request, const char *needle)
{
    char *first = NULL;
    for (int t = 0; t < 200; t++) {
        bool same = true;
        free(first);
        first = NULL;
        for (int i = 0; i < c->n && same; i++) {
            if (!(mask & (1u << i)))
                continue;
            char *part = s_offers_part(c, i, group, request);
            if (part == NULL || strstr(part, needle) == NULL)
                same = false;
            else if (first == NULL)
                first = strdup(part);
            else if (strcmp(first, part) != 0)
                same = false;
            free(part);
        }
        if (same && first != NULL) {
            free(first);
            return;
        }
        h_sleep_ms(50);
    }
    fail_msg("nodes never agreed on request %llu showing '%s' (last: %s)", U(request), needle,
             first ? first : "(none)");
}

/* Waits until node i's aid.show of request contains needle. */
static void s_wait_show(h_cluster_t *c, int i, const char *group, uint64_t request,
                        const char *needle, unsigned timeout_ms)
{
    char id[24], *json = NULL;
    snprintf(id, sizeof id, "%llu", U(request));
    for (unsigned t = 0; t <= timeout_ms; t += 100) {
        free(json);
        json = s_query(c, i, group, "aid.show", id);
        if (json != NULL && strstr(json, needle) != NULL) {
            free(json);
            return;
        }
        h_sleep_ms(100);
    }
    fail_msg("%s: request %llu never showed '%s'; last: %s", c->nodes[i].org, U(request), needle,
             json ? json : "(no answer)");
}

static void s_request_cmd(Ics__V1__Command *cmd, Ics__V1__AidRequest *a, const char *resource,
                          uint64_t qty, uint32_t escalate_after_s)
{
    ics__v1__command__init(cmd);
    ics__v1__aid_request__init(a);
    a->resource = (char *)resource;
    a->quantity = qty;
    a->urgency = ICS__V1__AID_URGENCY__AID_URGENCY_WITHIN_4H;
    a->site = "RVI, Newcastle";
    a->reason = "OPEL 4";
    a->contact = "Site duty manager";
    a->escalate_after_s = escalate_after_s;
    a->no_auto_escalation = escalate_after_s == 0;
    cmd->body_case = ICS__V1__COMMAND__BODY_AID_REQUEST;
    cmd->aid_request = a;
}

static uint64_t s_offer(h_cluster_t *c, int i, const char *group, uint64_t request, uint64_t qty)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__AidOffer a = ICS__V1__AID_OFFER__INIT;
    a.request = request;
    a.quantity = qty;
    cmd.body_case = ICS__V1__COMMAND__BODY_AID_OFFER;
    cmd.aid_offer = &a;
    return s_ok(c, i, group, &cmd);
}

static bool s_have_leader(h_cluster_t *c, void *arg)
{
    (void)arg;
    return h_leader(c) >= 0;
}

/* Runs two icsctl commands at the same moment; returns their --json
 * outputs (caller frees). */
static void s_concurrently(h_cluster_t *c, const char *cmd1, const char *cmd2, char **out1,
                           char **out2)
{
    char f1[300], f2[300];
    snprintf(f1, sizeof f1, "%s/race1.json", c->dir);
    snprintf(f2, sizeof f2, "%s/race2.json", c->dir);
    assert_int_equal(h_sh("(%s > '%s' 2>&1 & %s > '%s' 2>&1 & wait)", cmd1, f1, cmd2, f2), 0);
    for (int k = 0; k < 2; k++) {
        FILE *f = fopen(k ? f2 : f1, "r");
        char buf[2048] = "";
        assert_non_null(f);
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
        *(k ? out2 : out1) = strdup(buf);
    }
}

/* "index":N from icsctl --json output. */
static uint64_t s_index(const char *json)
{
    const char *p = strstr(json, "\"index\":");
    assert_non_null(p);
    return strtoull(p + 8, NULL, 10);
}

/* "reason":"..." from icsctl --json output, into out. */
static void s_reason(const char *json, char *out, size_t size)
{
    const char *p = strstr(json, "\"reason\":\"");
    size_t n = 0;
    assert_non_null(p);
    p += 10;
    while (p[n] != '\0' && p[n] != '"' && n + 1 < size)
        n++;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* ---------------------------------------------------------------- 1. races */

static const char *const RACE_ORGS[] = {"QHM", "RTD", "RTF", "RX6"};
static const char *const RACE_KINDS[] = {"icb", "foundation_trust", "foundation_trust",
                                         "ambulance"};
enum { R_QHM, R_RTD, R_RTF, R_RX6 };

static void test_races_resolve_alike_everywhere(void **state)
{
    h_cluster_t c;
    Ics__V1__Command cmd;
    Ics__V1__AidRequest a;
    char *o1 = NULL, *o2 = NULL, c1[1024], c2[1024], why[256], want[256];
    (void)state;

    h_cluster_init(&c, 4, RACE_ORGS, RACE_KINDS);
    for (int i = 0; i < 4; i++)
        h_start(&c, i);
    assert_true(h_wait(s_have_leader, &c, NULL, 15000));

    /* RTD needs 6 beds; RTF offers 4, RX6 offers 5. */
    s_request_cmd(&cmd, &a, "ga_beds", 6, 0);
    uint64_t req = s_ok(&c, R_RTD, NULL, &cmd);
    uint64_t off = s_offer(&c, R_RTF, NULL, req, 4);
    uint64_t off2 = s_offer(&c, R_RX6, NULL, req, 5);
    /* Both offers visible on both accepting nodes before they race. */
    s_wait_show(&c, R_RTD, NULL, req, "\"offered_open\":9", 10000);
    s_wait_show(&c, R_QHM, NULL, req, "\"offered_open\":9", 10000);

    /* (a) The requester and the ICB's coordination centre accept offer
     * `off` at the same moment, on their own nodes. */
    h_person(&c, R_RTD, "site.manager");
    h_person(&c, R_QHM, "scc.lead");
    snprintf(c1, sizeof c1, "%s -s '%s' --as site.manager --json aid accept %llu", ICSCTL_BIN,
             c.nodes[R_RTD].control, U(off));
    snprintf(c2, sizeof c2, "%s -s '%s' --as scc.lead --json aid accept %llu 3", ICSCTL_BIN,
             c.nodes[R_QHM].control, U(off));
    s_concurrently(&c, c1, c2, &o1, &o2);
    bool a1 = strstr(o1, "\"accepted\":true") != NULL, a2 = strstr(o2, "\"accepted\":true") != NULL;
    if (a1 == a2)
        fail_msg("exactly one acceptance should win:\n  RTD: %s\n  QHM: %s", o1, o2);
    const char *lost = a1 ? o2 : o1;
    uint64_t win_at = s_index(a1 ? o1 : o2), lost_at = s_index(lost);
    s_reason(lost, why, sizeof why);
    snprintf(want, sizeof want, "offer %llu was already accepted (%d at index %llu); an offer is"
             " accepted once", U(off), a1 ? 4 : 3, U(win_at));
    assert_string_equal(why, want);
    /* Every node logs both the same way, and holds the same offers. */
    s_expect_entry_everywhere(&c, 0xF, NULL, win_at, true, "");
    s_expect_entry_everywhere(&c, 0xF, NULL, lost_at, false, want);
    char needle[64];
    snprintf(needle, sizeof needle, "\"status\":\"accepted\",\"status_note\":\"%d beds", a1 ? 4 : 3);
    s_expect_same_state(&c, 0xF, NULL, req, needle);
    free(o1);
    free(o2);

    /* (b) Acceptances beyond need: two different offers, each accepted for
     * all that is still needed (2 or 3), at the same moment on the two
     * nodes: each fits alone, not together. One wins; the other finds the
     * request met. */
    uint64_t need = a1 ? 2 : 3;
    uint64_t off3 = s_offer(&c, R_RTF, NULL, req, need);
    s_wait_show(&c, R_QHM, NULL, req, "\"offered_open\":", 10000);
    for (int i = 0; i < 2; i++) {
        char id[24], *json = NULL, key[32];
        snprintf(id, sizeof id, "%llu", U(req));
        snprintf(key, sizeof key, "{\"id\":%llu,", U(off3));
        for (int t = 0; t < 200; t++) {
            free(json);
            json = s_query(&c, i == 0 ? R_RTD : R_QHM, NULL, "aid.show", id);
            if (json != NULL && strstr(json, key) != NULL)
                break;
            h_sleep_ms(50);
        }
        free(json);
    }
    snprintf(c1, sizeof c1, "%s -s '%s' --json aid accept %llu %llu", ICSCTL_BIN,
             c.nodes[R_RTD].control, U(off2), U(need));
    snprintf(c2, sizeof c2, "%s -s '%s' --json aid accept %llu", ICSCTL_BIN,
             c.nodes[R_QHM].control, U(off3));
    s_concurrently(&c, c1, c2, &o1, &o2);
    a1 = strstr(o1, "\"accepted\":true") != NULL;
    a2 = strstr(o2, "\"accepted\":true") != NULL;
    if (a1 == a2)
        fail_msg("exactly one acceptance should win:\n  RTD: %s\n  QHM: %s", o1, o2);
    lost = a1 ? o2 : o1;
    s_reason(lost, why, sizeof why);
    snprintf(want, sizeof want, "request %llu is already met (6 beds agreed)", U(req));
    assert_string_equal(why, want);
    s_expect_entry_everywhere(&c, 0xF, NULL, s_index(a1 ? o1 : o2), true, "");
    s_expect_entry_everywhere(&c, 0xF, NULL, s_index(lost), false, want);
    /* The request is met with exactly 6: never more. */
    s_expect_same_state(&c, 0xF, NULL, req, "\"status\":\"accepted\"");
    for (int i = 0; i < 4; i++) {
        char id[24];
        snprintf(id, sizeof id, "%llu", U(req));
        s_wait_show(&c, i, NULL, req, "\"status\":\"met\"", 10000);
        char *json = s_query(&c, i, NULL, "aid.show", id);
        assert_non_null(json);
        if (strstr(json, "\"quantity\":6,") == NULL || strstr(json, "\"accepted\":6,") == NULL)
            fail_msg("%s: %s", c.nodes[i].org, json);
        free(json);
    }
    free(o1);
    free(o2);
    for (int i = 0; i < 4; i++)
        assert_int_equal(h_stop(&c, i), 0);
    h_cluster_destroy(&c);
}

/* ---------------------------------------------------------------- 2. two groups */

static const char *const TWO_ORGS[] = {"QHM", "RTD", "RTF", "QE1", "RX7"};
static const char *const TWO_KINDS[] = {"icb", "foundation_trust", "foundation_trust", "icb",
                                        "ambulance"};
enum { T_QHM, T_RTD, T_RTF, T_QE1, T_RX7 };
#define HOME_MASK 0x07u   /* QHM RTD RTF */
#define REGION_MASK 0x19u /* QHM QE1 RX7 */

/* Does every node of the group (arg: its name) see the same leader? */
static bool s_group_leader(h_cluster_t *c, void *arg)
{
    const char *group = arg;
    unsigned mask = strcmp(group, "nenc") == 0 ? HOME_MASK : REGION_MASK;
    char leader[ICS_ORG_MAX] = "";

    for (int i = 0; i < c->n; i++) {
        Ics__V1__StatusReply *st;
        Ics__V1__ControlResponse *resp;
        bool seen = false;
        if (!(mask & (1u << i)))
            continue;
        if (h_status(c, i, &st, &resp) != ICS_OK)
            return false;
        for (size_t g = 0; g < st->n_groups; g++) {
            const char *l = st->groups[g]->leader;
            if (strcmp(st->groups[g]->name, group) != 0 || l[0] == '\0')
                continue;
            if (leader[0] == '\0')
                snprintf(leader, sizeof leader, "%s", l);
            seen = strcmp(leader, l) == 0;
        }
        ics__v1__control_response__free_unpacked(resp, NULL);
        if (!seen)
            return false;
    }
    return true;
}

/* The id of the regional mirror of home request id, 0 if none yet. */
static uint64_t s_mirror(h_cluster_t *c, int i, uint64_t id)
{
    char *json = s_query(c, i, "ne-region", "aid.list", NULL), key[64];
    uint64_t mirror = 0;
    if (json == NULL)
        return 0;
    snprintf(key, sizeof key, "\"home_group\":\"nenc\",\"home_request\":%llu,", U(id));
    char *link = strstr(json, key);
    if (link != NULL) {
        /* The request object opens with its id: the last "id" before the link. */
        char *p = json, *last = NULL;
        while ((p = strstr(p, "{\"id\":")) != NULL && p < link)
            last = p++;
        if (last != NULL)
            mirror = strtoull(last + 6, NULL, 10);
    }
    free(json);
    return mirror;
}

static void test_escalation_across_two_groups(void **state)
{
    h_cluster_t c;
    Ics__V1__Command cmd;
    Ics__V1__AidRequest a;
    (void)state;

    h_cluster_init(&c, 5, TWO_ORGS, TWO_KINDS);
    snprintf(c.group2, sizeof c.group2, "ne-region");
    for (int i = 0; i < 5; i++) {
        c.nodes[i].members = (i == T_QHM || i == T_RTD || i == T_RTF) ? HOME_MASK : 0;
        c.nodes[i].members2 = (i == T_QHM || i == T_QE1 || i == T_RX7) ? REGION_MASK : 0;
        snprintf(c.nodes[i].extra, sizeof c.nodes[i].extra, "tick_interval_ms = 1000");
    }
    /* The ICB's node is in both groups and bridges nenc's escalations. */
    snprintf(c.nodes[T_QHM].group_extra, sizeof c.nodes[T_QHM].group_extra,
             "escalate_to = ne-region");
    for (int i = 0; i < 5; i++)
        h_start(&c, i);
    assert_true(h_wait(s_group_leader, &c, (void *)"nenc", 15000));
    assert_true(h_wait(s_group_leader, &c, (void *)"ne-region", 15000));

    /* RTD needs 5 beds; RTF can offer 2. Unmet 5 s after it was raised,
     * the log clock escalates the rest: no one asks for it. */
    s_request_cmd(&cmd, &a, "ga_beds", 5, 5);
    uint64_t req = s_ok(&c, T_RTD, NULL, &cmd);
    uint64_t local = s_offer(&c, T_RTF, NULL, req, 2);
    Ics__V1__Command acc = ICS__V1__COMMAND__INIT;
    Ics__V1__AidAccept aa = ICS__V1__AID_ACCEPT__INIT;
    aa.offer = local;
    acc.body_case = ICS__V1__COMMAND__BODY_AID_ACCEPT;
    acc.aid_accept = &aa;
    s_ok(&c, T_RTD, NULL, &acc);
    s_wait_show(&c, T_RTD, NULL, req, "\"escalated\":true", 20000);
    s_wait_show(&c, T_RTD, NULL, req, "automatically: still unmet 5s after it was raised", 1000);
    s_wait_show(&c, T_RTD, NULL, req, "\"quantity\":3,\"region\":\"ne-region\"", 1000);

    /* The bridge raises the unmet 3 in ne-region, acting for RTD. */
    uint64_t mirror = 0;
    for (int t = 0; t < 200 && mirror == 0; t++) {
        mirror = s_mirror(&c, T_QE1, req);
        if (mirror == 0)
            h_sleep_ms(50);
    }
    assert_true(mirror != 0);
    s_wait_show(&c, T_RX7, "ne-region", mirror, "\"home_requester\":\"RTD\"", 5000);
    s_wait_show(&c, T_RX7, "ne-region", mirror, "\"quantity\":3,", 1000);

    /* Offers there; the ICB accepts for the system; RTD's home request is
     * met, on every home node. */
    uint64_t ro = s_offer(&c, T_QE1, "ne-region", mirror, 3);
    s_offer(&c, T_RX7, "ne-region", mirror, 1);
    aa.offer = ro;
    s_ok(&c, T_QHM, "ne-region", &acc);
    for (int i = 0; i < 3; i++) {
        s_wait_show(&c, i, "nenc", req, "\"status\":\"met\"", 10000);
        s_wait_show(&c, i, "nenc", req, "\"region_accepted\":3", 1000);
    }

    /* Delivered and handed back in the region; home follows to the end. */
    Ics__V1__Command step = ICS__V1__COMMAND__INIT;
    Ics__V1__AidDeliver d = ICS__V1__AID_DELIVER__INIT;
    Ics__V1__AidReturn r = ICS__V1__AID_RETURN__INIT;
    d.offer = ro;
    step.body_case = ICS__V1__COMMAND__BODY_AID_DELIVER;
    step.aid_deliver = &d;
    s_ok(&c, T_QE1, "ne-region", &step);
    s_wait_show(&c, T_RTF, NULL, req, "\"region_delivered\":3", 10000);
    d.offer = local;
    s_ok(&c, T_RTF, NULL, &step);
    r.offer = local;
    step.body_case = ICS__V1__COMMAND__BODY_AID_RETURN;
    step.aid_return = &r;
    s_ok(&c, T_RTD, NULL, &step);
    r.offer = ro;
    s_ok(&c, T_QHM, "ne-region", &step);
    for (int i = 0; i < 3; i++)
        s_wait_show(&c, i, "nenc", req, "\"status\":\"completed\"", 10000);
    s_wait_show(&c, T_QE1, "ne-region", mirror, "\"status\":\"completed\"", 1000);

    /* A restart of the bridging node does not raise or update anything
     * twice: its submissions carry the same tokens. */
    assert_int_equal(h_stop(&c, T_QHM), 0);
    h_start(&c, T_QHM);
    h_sleep_ms(3000);
    char *list = s_query(&c, T_QE1, "ne-region", "aid.list", "status=all");
    assert_non_null(list);
    char *first = strstr(list, "\"home_request\"");
    assert_non_null(first);
    assert_null(strstr(first + 1, "\"home_request\""));
    free(list);

    for (int i = 0; i < 5; i++)
        assert_int_equal(h_stop(&c, i), 0);
    h_cluster_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_races_resolve_alike_everywhere),
        cmocka_unit_test(test_escalation_across_two_groups),
    };
    return cmocka_run_group_tests_name("cluster aid", tests, NULL, NULL);
}
