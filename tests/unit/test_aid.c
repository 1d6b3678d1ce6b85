/*
 * Mutual aid tests: every transition of a request and an offer and every
 * refusal, the invariants (an offer is accepted once; acceptance never
 * exceeds what was offered or requested; nothing happens after cancellation
 * or expiry), races resolved the same way whatever the order, expiry and
 * escalation by the log clock, and escalation across two groups through
 * ics_fsm_aid_bridge().
 *
 * Every entry is applied to two state machines of the group, which must
 * agree on the result, the chain, and every query's answer.
 *
 * Layout: fixture, helpers, domain assertions, scenarios.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture_fsm.h"
#include "fsm/fsm.h"
#include "common/envelope.h"

/* ---------------------------------------------------------------- fixture */

#define MIN 60000ull
#define HOUR 3600000ull

enum { QHM, RTD, RTF, RX4, RX6, QE1, RX7, EVE, N_IDS };
static const char *const s_org[N_IDS] = {"QHM", "RTD", "RTF", "RX4", "RX6", "QE1", "RX7", "EVE"};

/* One group as two state machines. */
typedef struct {
    const char *name;
    ics_fsm_t *fsm[2];
} grp_t;

typedef struct {
    grp_t home, region;
    ics_identity_t *id[N_IDS];
    uint64_t seq[2][N_IDS];     /* per group */
    uint64_t now;               /* proposer clock */
} fx_t;

static void s_grp_new(grp_t *g, const char *name)
{
    ics_err_t err;
    g->name = name;
    for (int i = 0; i < 2; i++) {
        g->fsm[i] = ics_fsm_new(name, &err);
        if (g->fsm[i] == NULL)
            fail_msg("ics_fsm_new: %s", err.msg);
    }
}

static int s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);

    assert_non_null(fx);
    for (int i = 0; i < N_IDS; i++) {
        uint8_t seed[32];
        memset(seed, 0x31 + 5 * i, sizeof seed);
        fx->id[i] = ics_identity_from_seed(seed);
        assert_non_null(fx->id[i]);
    }
    s_grp_new(&fx->home, "nenc");
    s_grp_new(&fx->region, "ne-region");
    fx->now = 1767225600000ull; /* 2026-01-01T00:00:00Z */
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *fx = *state;
    for (int i = 0; i < 2; i++) {
        ics_fsm_destroy(&fx->home.fsm[i]);
        ics_fsm_destroy(&fx->region.fsm[i]);
    }
    for (int i = 0; i < N_IDS; i++)
        ics_identity_destroy(&fx->id[i]);
    free(fx);
    return 0;
}

/* ---------------------------------------------------------------- helpers */

/* Envelope bytes of cmd (packed) signed by who for g, next seq, proposer
 * time fx->now += 10. Caller frees. */
static uint8_t *s_seal_bytes(fx_t *fx, grp_t *g, int who, const uint8_t *payload, size_t plen,
                             uint32_t kind, size_t *len)
{
    int gi = g == &fx->home ? 0 : 1;
    ics_envelope_fields_t f = {g->name, s_org[who], ++fx->seq[gi][who], fx->now += 10, kind,
                               payload, plen};
    uint8_t *env = NULL;
    ics_err_t err;

    if (ics_envelope_seal(fx->id[who], &f, &env, len, &err) != ICS_OK)
        fail_msg("seal: %s", err.msg);
    return env;
}

/* Person sequence numbers: one counter for every person of every test is
 * strictly increasing for each. */
static uint64_t s_person_seq;

/* A command naming a person is signed by them (their fixture key); one
 * naming nobody is the organisation's own. */
static uint8_t *s_seal(fx_t *fx, grp_t *g, int who, Ics__V1__Command *cmd, size_t *len)
{
    uint8_t *payload = NULL, *env;
    size_t plen = 0;

    if (cmd->actor != NULL && cmd->actor[0] != '\0')
        payload = fx_person_sign(g->name, s_org[who], cmd->actor, NULL, ++s_person_seq, cmd,
                                 &plen);
    else
        assert_int_equal(ics_pack(&cmd->base, &payload, &plen), ICS_OK);
    env = s_seal_bytes(fx, g, who, payload, plen, (uint32_t)cmd->body_case, len);
    free(payload);
    return env;
}

/* Applies envelope bytes to both machines of g; they must agree. */
static ics_apply_result_t s_apply(grp_t *g, const uint8_t *env, size_t len)
{
    ics_apply_result_t res[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(ics_fsm_apply(g->fsm[i], env, len, &res[i]), ICS_OK);
    assert_int_equal(res[0].position, res[1].position);
    assert_int_equal(res[0].accepted, res[1].accepted);
    assert_string_equal(res[0].reason, res[1].reason);
    assert_memory_equal(res[0].chain, res[1].chain, 32);
    assert_int_equal(res[0].clock_ms, res[1].clock_ms);
    return res[0];
}

static ics_apply_result_t s_send_in(fx_t *fx, grp_t *g, int who, Ics__V1__Command *cmd)
{
    size_t len = 0;
    uint8_t *env;
    ics_apply_result_t r;

    env = s_seal(fx, g, who, cmd, &len);
    r = s_apply(g, env, len);
    free(env);
    return r;
}

static ics_apply_result_t s_send(fx_t *fx, int who, Ics__V1__Command *cmd)
{
    return s_send_in(fx, &fx->home, who, cmd);
}

static void s_genesis(fx_t *fx, grp_t *g, const int *who, size_t n)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Genesis gen = ICS__V1__GENESIS__INIT;
    Ics__V1__MemberAdd m[N_IDS], *mp[N_IDS];

    for (size_t i = 0; i < n; i++) {
        ics__v1__member_add__init(&m[i]);
        m[i].org = (char *)s_org[who[i]];
        m[i].kind = who[i] == QHM || who[i] == QE1 ? "icb" : "foundation_trust";
        m[i].name = (char *)s_org[who[i]];
        m[i].endpoint = "tcp://127.0.0.1:7400";
        m[i].public_key.data = (uint8_t *)ics_identity_public(fx->id[who[i]]);
        m[i].public_key.len = ICS_PK_BYTES;
        mp[i] = &m[i];
    }
    gen.group = (char *)g->name;
    gen.admin = (char *)s_org[who[0]];
    gen.members = mp;
    gen.n_members = n;
    cmd.body_case = ICS__V1__COMMAND__BODY_GENESIS;
    cmd.genesis = &gen;
    ics_apply_result_t r = s_send_in(fx, g, who[0], &cmd);
    if (!r.accepted)
        fail_msg("genesis of %s: %s", g->name, r.reason);
}

static const int s_home_members[] = {QHM, RTD, RTF, RX4, RX6};
static const int s_region_members[] = {QHM, RX6, QE1, RX7};

static int s_setup_groups(void **state)
{
    s_setup(state);
    fx_t *fx = *state;
    s_genesis(fx, &fx->home, s_home_members, 5);
    s_genesis(fx, &fx->region, s_region_members, 4);
    return 0;
}

/* ---- commands (built by fixture_fsm.h's fx_cmd_*) ---- */

static ics_apply_result_t s_request_in(fx_t *fx, grp_t *g, int who, const fx_aid_req_t *q)
{
    fx_cmd_t c;
    fx_cmd_aid_request(&c, q);
    return s_send_in(fx, g, who, &c.cmd);
}

static ics_apply_result_t s_request(fx_t *fx, int who, const fx_aid_req_t *q)
{
    return s_request_in(fx, &fx->home, who, q);
}

/* Raises a request that must be accepted; returns its id. */
static uint64_t s_raise(fx_t *fx, int who, const fx_aid_req_t *q)
{
    ics_apply_result_t r = s_request(fx, who, q);
    if (!r.accepted)
        fail_msg("request: %s", r.reason);
    return r.position;
}

static ics_apply_result_t s_offer_in(fx_t *fx, grp_t *g, int who, uint64_t request,
                                     uint64_t qty, uint64_t valid_until)
{
    fx_cmd_t c;
    fx_cmd_aid_offer(&c, request, qty, valid_until);
    return s_send_in(fx, g, who, &c.cmd);
}

static ics_apply_result_t s_offer(fx_t *fx, int who, uint64_t request, uint64_t qty)
{
    return s_offer_in(fx, &fx->home, who, request, qty, 0);
}

static uint64_t s_offered(fx_t *fx, int who, uint64_t request, uint64_t qty)
{
    ics_apply_result_t r = s_offer(fx, who, request, qty);
    if (!r.accepted)
        fail_msg("offer: %s", r.reason);
    return r.position;
}

static ics_apply_result_t s_accept_in(fx_t *fx, grp_t *g, int who, uint64_t offer, uint64_t qty)
{
    fx_cmd_t c;
    fx_cmd_aid_accept(&c, offer, qty);
    return s_send_in(fx, g, who, &c.cmd);
}

static ics_apply_result_t s_accept(fx_t *fx, int who, uint64_t offer, uint64_t qty)
{
    return s_accept_in(fx, &fx->home, who, offer, qty);
}

static ics_apply_result_t s_approve_as(fx_t *fx, int who, const char *actor, uint64_t offer,
                                       bool decline)
{
    fx_cmd_t c;
    fx_cmd_aid_approve(&c, offer, decline);
    c.cmd.actor = (char *)actor;
    return s_send(fx, who, &c.cmd);
}

/* The people registry (fsm_people.c): who registers whom, and roles. */
static ics_apply_result_t s_person(fx_t *fx, int who, const char *actor, const char *person,
                                   const char *title)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__PersonRegister r = ICS__V1__PERSON_REGISTER__INIT;
    ics_identity_t *id = fx_person_identity(s_org[who], person);
    ics_apply_result_t res;
    r.person = (char *)person;
    r.name = (char *)person;
    r.title = (char *)title;
    r.public_key.data = (uint8_t *)ics_identity_public(id);
    r.public_key.len = ICS_PK_BYTES;
    /* Registering oneself: the organisation registers its first
     * administrator, who registers the others. */
    r.admin = strcmp(actor, person) == 0;
    cmd.actor = (char *)(r.admin ? "" : actor);
    cmd.body_case = ICS__V1__COMMAND__BODY_PERSON_REGISTER;
    cmd.person_register = &r;
    res = s_send(fx, who, &cmd);
    ics_identity_destroy(&id);
    return res;
}

static ics_apply_result_t s_role(fx_t *fx, int who, const char *actor, const char *org,
                                 const char *person, const char *role)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__RoleAssign a = ICS__V1__ROLE_ASSIGN__INIT;
    a.org = (char *)org;
    a.person = (char *)person;
    a.role = (char *)role;
    a.scope = "";
    cmd.actor = (char *)actor;
    cmd.body_case = ICS__V1__COMMAND__BODY_ROLE_ASSIGN;
    cmd.role_assign = &a;
    return s_send(fx, who, &cmd);
}

static ics_apply_result_t s_deliver_in(fx_t *fx, grp_t *g, int who, uint64_t offer)
{
    fx_cmd_t c;
    fx_cmd_aid_deliver(&c, offer);
    return s_send_in(fx, g, who, &c.cmd);
}

static ics_apply_result_t s_deliver(fx_t *fx, int who, uint64_t offer)
{
    return s_deliver_in(fx, &fx->home, who, offer);
}

static ics_apply_result_t s_return_in(fx_t *fx, grp_t *g, int who, uint64_t offer)
{
    fx_cmd_t c;
    fx_cmd_aid_return(&c, offer);
    return s_send_in(fx, g, who, &c.cmd);
}

static ics_apply_result_t s_return(fx_t *fx, int who, uint64_t offer)
{
    return s_return_in(fx, &fx->home, who, offer);
}

static ics_apply_result_t s_withdraw(fx_t *fx, int who, uint64_t offer)
{
    fx_cmd_t c;
    fx_cmd_aid_withdraw(&c, offer);
    return s_send(fx, who, &c.cmd);
}

static ics_apply_result_t s_cancel(fx_t *fx, int who, uint64_t request)
{
    fx_cmd_t c;
    fx_cmd_aid_cancel(&c, request);
    return s_send(fx, who, &c.cmd);
}

static ics_apply_result_t s_escalate(fx_t *fx, int who, uint64_t request)
{
    fx_cmd_t c;
    fx_cmd_aid_escalate(&c, request);
    return s_send(fx, who, &c.cmd);
}

static ics_apply_result_t s_region_set(fx_t *fx, int who, const char *region)
{
    fx_cmd_t c;
    fx_cmd_aid_region(&c, region);
    return s_send(fx, who, &c.cmd);
}

static ics_apply_result_t s_tick_in(fx_t *fx, grp_t *g, uint64_t now_ms)
{
    fx_cmd_t c;
    fx_cmd_tick(&c, now_ms);
    return s_send_in(fx, g, QHM, &c.cmd);
}

static ics_apply_result_t s_tick(fx_t *fx, uint64_t now_ms)
{
    return s_tick_in(fx, &fx->home, now_ms);
}

static ics_apply_result_t s_opel(fx_t *fx, int who, unsigned level)
{
    fx_cmd_t c;
    fx_cmd_opel(&c, level, "acute", NULL, NULL);
    return s_send(fx, who, &c.cmd);
}

/* ---- reading state ---- */

static char *s_query_in(grp_t *g, const char *name, size_t argc, char *const *argv, char **json)
{
    char *j[2], *t[2];
    ics_err_t err;

    for (int i = 0; i < 2; i++)
        if (ics_fsm_query(g->fsm[i], name, argc, argv, &j[i], &t[i], &err) != ICS_OK)
            fail_msg("query %s: %s", name, err.msg);
    assert_string_equal(j[0], j[1]);
    assert_string_equal(t[0], t[1]);
    free(j[1]);
    free(t[1]);
    if (json != NULL)
        *json = j[0];
    else
        free(j[0]);
    return t[0];
}

static char *s_show_in(grp_t *g, uint64_t id)
{
    char arg[24], *argv[1] = {arg};
    snprintf(arg, sizeof arg, "%llu", (unsigned long long)id);
    return s_query_in(g, "aid.show", 1, argv, NULL);
}

/* A column of a request or offer row, as text (static buffer). */
static const char *s_col_in(grp_t *g, const char *table, const char *col, uint64_t id)
{
    static char out[512];
    char sql[256];
    sqlite3_stmt *st = NULL;

    snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE id = %llu", col, table,
             (unsigned long long)id);
    assert_int_equal(sqlite3_prepare_v2(ics_fsm_db(g->fsm[0]), sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) != SQLITE_ROW)
        fail_msg("no row %llu in %s", (unsigned long long)id, table);
    snprintf(out, sizeof out, "%s", sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "");
    sqlite3_finalize(st);
    return out;
}

static uint64_t s_u64_in(grp_t *g, const char *table, const char *col, uint64_t id)
{
    return strtoull(s_col_in(g, table, col, id), NULL, 10);
}

/* Sum of quantity accepted on a request's offers (those holding aid). */
static uint64_t s_accepted_in(grp_t *g, uint64_t request)
{
    char sql[256];
    sqlite3_stmt *st = NULL;
    uint64_t v = 0;
    snprintf(sql, sizeof sql, "SELECT coalesce(sum(accepted), 0) FROM aid_offers WHERE request"
             " = %llu AND status IN ('awaiting_approval','accepted','delivered','returned')",
             (unsigned long long)request);
    assert_int_equal(sqlite3_prepare_v2(ics_fsm_db(g->fsm[0]), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* ---------------------------------------------------------------- assertions */

#define ASSERT_ACCEPTED(expr)                                                                \
    do {                                                                                     \
        ics_apply_result_t r_ = (expr);                                                      \
        if (!r_.accepted)                                                                    \
            fail_msg("expected accepted, got rejected: %s", r_.reason);                     \
    } while (0)

#define ASSERT_REJECTED(expr, why)                                                           \
    do {                                                                                     \
        ics_apply_result_t r_ = (expr);                                                      \
        if (r_.accepted)                                                                     \
            fail_msg("expected rejected (%s), got accepted", (why));                        \
        if (strcmp(r_.reason, (why)) != 0)                                                   \
            fail_msg("reason\n  got:      %s\n  expected: %s", r_.reason, (why));           \
    } while (0)

/* The same, with the reason printf'd (ids are log positions). */
#define ASSERT_REJECTED_F(expr, ...)                                                         \
    do {                                                                                     \
        char w_[512];                                                                        \
        snprintf(w_, sizeof w_, __VA_ARGS__);                                                \
        ASSERT_REJECTED(expr, w_);                                                           \
    } while (0)
#define U(x) ((unsigned long long)(x))

#define ASSERT_REJECTED_PREFIX(expr, prefix)                                                 \
    do {                                                                                     \
        ics_apply_result_t r_ = (expr);                                                      \
        assert_false(r_.accepted);                                                           \
        if (strncmp(r_.reason, (prefix), strlen(prefix)) != 0)                               \
            fail_msg("reason '%s' does not start with '%s'", r_.reason, (prefix));          \
    } while (0)

#define ASSERT_CONTAINS(text, needle)                                                        \
    do {                                                                                     \
        if (strstr((text), (needle)) == NULL)                                                \
            fail_msg("expected to find '%s' in:\n%s", (needle), (text));                    \
    } while (0)

#define ASSERT_REQ_STATUS(g, id, status)                                                     \
    assert_string_equal(s_col_in((g), "aid_requests", "status", (id)), (status))
#define ASSERT_OFFER_STATUS(g, id, status)                                                   \
    assert_string_equal(s_col_in((g), "aid_offers", "status", (id)), (status))
#define ASSERT_STATUS(fx, id, status) ASSERT_REQ_STATUS(&(fx)->home, id, status)
#define ASSERT_OFFER(fx, id, status) ASSERT_OFFER_STATUS(&(fx)->home, id, status)

/* The invariant behind every test: agreed aid never exceeds the request. */
#define ASSERT_WITHIN_REQUEST(g, id)                                                         \
    assert_true(s_accepted_in((g), (id)) + (s_u64_in((g), "aid_requests", "escalated", (id)) \
                    ? s_u64_in((g), "aid_requests", "region_accepted", (id)) : 0) <=         \
                s_u64_in((g), "aid_requests", "quantity", (id)))

/* ---------------------------------------------------------------- requests */

static void test_request_refusals(void **state)
{
    fx_t *fx = *state;
    fx_aid_req_t q;
    char big[600];

    q = fx_aid_beds(4);
    q.resource = "beds";
    ASSERT_REJECTED(s_request(fx, RTD, &q),
                    "unknown resource 'beds' (icsctl aid resources lists them)");
    q = fx_aid_beds(4);
    q.resource = "registered_nurses";
    ASSERT_REJECTED(s_request(fx, RTD, &q),
                    "registered_nurses needs a specialty (e.g. critical_care or ed)");
    q.specialty = "ed; DROP TABLE";
    ASSERT_REJECTED(s_request(fx, RTD, &q), "specialty 'ed; DROP TABLE' is not 1 to 48 letters,"
                                            " digits, spaces or - _ / . &");
    q = fx_aid_beds(0);
    ASSERT_REJECTED(s_request(fx, RTD, &q), "quantity 0 is not 1 to 10000");
    q = fx_aid_beds(10001);
    ASSERT_REJECTED(s_request(fx, RTD, &q), "quantity 10001 is not 1 to 10000");
    q = fx_aid_beds(4);
    q.urgency = 0;
    ASSERT_REJECTED(s_request(fx, RTD, &q), "urgency is missing or unknown (immediate, within 4"
                                            " hours, within 24 hours or planned)");
    q.urgency = 9;
    ASSERT_REJECTED(s_request(fx, RTD, &q), "urgency is missing or unknown (immediate, within 4"
                                            " hours, within 24 hours or planned)");
    q = fx_aid_beds(4);
    q.site = "";
    ASSERT_REJECTED(s_request(fx, RTD, &q),
                    "site must say where the aid is needed (1 to 120 bytes of text)");
    q = fx_aid_beds(4);
    q.reason = "";
    ASSERT_REJECTED(s_request(fx, RTD, &q),
                    "reason must say why the aid is needed (1 to 500 bytes of text)");
    memset(big, 'r', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    q.reason = big;
    ASSERT_REJECTED(s_request(fx, RTD, &q),
                    "reason must say why the aid is needed (1 to 500 bytes of text)");
    q = fx_aid_beds(4);
    q.contact = "call \x1b[31m";
    ASSERT_REJECTED(s_request(fx, RTD, &q),
                    "contact must say whom to call (1 to 160 bytes of text)");
    q = fx_aid_beds(4);
    q.from = fx->now + 2 * HOUR;
    q.until = fx->now + HOUR;
    ASSERT_REJECTED_PREFIX(s_request(fx, RTD, &q), "needed until 2026-01-01T01:00:00Z is not"
                                                   " after needed from 2026-01-01T02:00:00Z");
    q = fx_aid_beds(4);
    q.until = fx->now - HOUR;
    ASSERT_REJECTED(s_request(fx, RTD, &q), "needed until 2025-12-31T23:00:00Z is already past");
    q = fx_aid_beds(4);
    q.expires = fx->now - 1000;
    ASSERT_REJECTED(s_request(fx, RTD, &q), "expiry 2025-12-31T23:59:59Z is already past");
    q = fx_aid_beds(4);
    q.escalate_after_s = 31 * 86400;
    ASSERT_REJECTED(s_request(fx, RTD, &q), "escalate after 2678400 s is more than 30 days");
    ASSERT_REJECTED(s_request(fx, EVE, &q), "unknown organisation EVE");
    /* Every one was refused before it wrote anything. */
    char *text = s_query_in(&fx->home, "aid.list", 0, NULL, NULL);
    ASSERT_CONTAINS(text, "(no open, met or closed requests");
    free(text);
}

static void test_request_records_opel_and_defaults(void **state)
{
    fx_t *fx = *state;
    fx_aid_req_t q = fx_aid_beds(6);
    uint64_t id, raised;

    ASSERT_ACCEPTED(s_opel(fx, RTD, 4));
    id = s_raise(fx, RTD, &q);
    raised = ics_fsm_clock(fx->home.fsm[0]);
    ASSERT_STATUS(fx, id, "open");
    assert_int_equal(s_u64_in(&fx->home, "aid_requests", "opel", id), 4);
    /* Defaults for "within 4 hours": expiry 12 h, escalation after 2 h. */
    assert_int_equal(s_u64_in(&fx->home, "aid_requests", "expires_ms", id), raised + 12 * HOUR);
    assert_int_equal(s_u64_in(&fx->home, "aid_requests", "escalate_at", id), raised + 2 * HOUR);
    assert_int_equal(s_u64_in(&fx->home, "aid_requests", "needed_from", id), raised);

    /* --until caps the expiry; planned requests do not escalate by
     * themselves; an explicit escalation time wins. */
    q = fx_aid_beds(2);
    q.urgency = ICS__V1__AID_URGENCY__AID_URGENCY_PLANNED;
    q.until = fx->now + 3 * HOUR;
    id = s_raise(fx, RTF, &q);
    assert_int_equal(s_u64_in(&fx->home, "aid_requests", "expires_ms", id), q.until);
    assert_int_equal(s_u64_in(&fx->home, "aid_requests", "escalate_at", id), 0);
    assert_int_equal(s_u64_in(&fx->home, "aid_requests", "opel", id), 0);
    q.escalate_after_s = 90;
    id = s_raise(fx, RTF, &q);
    assert_int_equal(s_u64_in(&fx->home, "aid_requests", "escalate_at", id),
                     ics_fsm_clock(fx->home.fsm[0]) + 90000);
    q = fx_aid_beds(2);
    q.no_auto = true;
    id = s_raise(fx, RTF, &q);
    assert_int_equal(s_u64_in(&fx->home, "aid_requests", "escalate_at", id), 0);

    char *text = s_show_in(&fx->home, id);
    ASSERT_CONTAINS(text, "automatic escalation off");
    free(text);
}

/* ---------------------------------------------------------------- offers */

static void test_offer_rules(void **state)
{
    fx_t *fx = *state;
    fx_aid_req_t q = fx_aid_beds(6);
    uint64_t id = s_raise(fx, RTD, &q);

    ASSERT_REJECTED(s_offer(fx, RTF, 999, 2), "there is no request 999 in group nenc");
    ASSERT_REJECTED_F(s_offer(fx, RTD, id, 2), "RTD cannot offer aid against its own request %llu",
                      U(id));
    ASSERT_REJECTED(s_offer(fx, RTF, id, 0), "offer of 0 is not 1 to the 6 beds requested");
    ASSERT_REJECTED(s_offer(fx, RTF, id, 7), "offer of 7 is not 1 to the 6 beds requested");
    ASSERT_REJECTED(s_offer_in(fx, &fx->home, RTF, id, 2, fx->now - 1),
                    "valid until 2026-01-01T00:00:00Z is already past");
    uint64_t o = s_offered(fx, RTF, id, 4);
    ASSERT_OFFER(fx, o, "open");
    char *text = s_show_in(&fx->home, id);
    char line[120];
    snprintf(line, sizeof line, "offer %llu: RTF offers 4 beds: staff with own ID badges", U(o));
    ASSERT_CONTAINS(text, line);
    ASSERT_CONTAINS(text, "RTF           4        0 open");
    free(text);
}

/* ---------------------------------------------------------------- acceptance */

static void test_accept_whole_and_part(void **state)
{
    fx_t *fx = *state;
    fx_aid_req_t q = fx_aid_beds(6);
    uint64_t id = s_raise(fx, RTD, &q);
    uint64_t a = s_offered(fx, RTF, id, 4), b = s_offered(fx, RX4, id, 3);

    ASSERT_REJECTED_F(s_accept(fx, RX6, a, 0), "only RTD, which made request %llu, or the group's"
                      " coordinating organisation may accept its offers", U(id));
    ASSERT_REJECTED(s_accept(fx, RTD, 999, 0), "there is no offer 999 in group nenc");
    ASSERT_REJECTED_F(s_accept(fx, RTD, a, 5), "offer %llu is for 4 beds; 5 cannot be accepted",
                      U(a));
    /* Whole (quantity 0 means the whole offer). */
    uint64_t at = s_accept(fx, RTD, a, 0).position;
    ASSERT_OFFER(fx, a, "accepted");
    assert_int_equal(s_u64_in(&fx->home, "aid_offers", "accepted", a), 4);
    ASSERT_STATUS(fx, id, "open");
    /* An offer is accepted once. */
    ASSERT_REJECTED_F(s_accept(fx, RTD, a, 0), "offer %llu was already accepted (4 at index %llu);"
                      " an offer is accepted once", U(a), U(at));
    /* The whole of b would exceed the need: say how much fits. */
    ASSERT_REJECTED_F(s_accept(fx, RTD, b, 0), "accepting 3 beds would exceed request %llu: 6"
                      " requested, 4 already agreed, 2 still needed (accept at most 2)", U(id));
    ASSERT_ACCEPTED(s_accept(fx, RTD, b, 2));
    ASSERT_STATUS(fx, id, "met");
    ASSERT_WITHIN_REQUEST(&fx->home, id);
    /* Met: more offers and acceptances are refused. */
    ASSERT_REJECTED_F(s_offer(fx, RX6, id, 1), "request %llu is already met (6 beds agreed)",
                      U(id));
    char *text = s_show_in(&fx->home, id), line[120];
    snprintf(line, sizeof line, "Request %llu in nenc: 6 beds — met: 6 beds of 6 agreed", U(id));
    ASSERT_CONTAINS(text, line);
    ASSERT_CONTAINS(text, "agreed      6 of 6 (here 6); in use 0, handed back 0");
    snprintf(line, sizeof line, "offer %llu from RX4: 2 beds accepted", U(b));
    ASSERT_CONTAINS(text, line);
    free(text);
}

/* Two acceptances of one offer, one by the requester, one by the group's
 * coordinating organisation for it (as if submitted at the same time to
 * RTD's and QHM's nodes): in either order exactly one is accepted, the
 * other refused saying why, and both machines agree. */
static void test_race_one_offer_two_acceptances(void **state)
{
    fx_t *fx = *state;

    for (int order = 0; order < 2; order++) {
        fx_aid_req_t q = fx_aid_beds(6);
        uint64_t id = s_raise(fx, RTD, &q), o = s_offered(fx, RTF, id, 4);
        fx_cmd_t c1, c2;
        size_t l1, l2;
        fx_cmd_aid_accept(&c1, o, 4);
        fx_cmd_aid_accept(&c2, o, 3);
        c1.cmd.actor = "";
        c2.cmd.actor = "";
        /* Both sealed before either is applied: concurrent proposals. */
        uint8_t *e1 = s_seal(fx, &fx->home, RTD, &c1.cmd, &l1);
        uint8_t *e2 = s_seal(fx, &fx->home, QHM, &c2.cmd, &l2);
        ics_apply_result_t first = order == 0 ? s_apply(&fx->home, e1, l1)
                                              : s_apply(&fx->home, e2, l2);
        ics_apply_result_t second = order == 0 ? s_apply(&fx->home, e2, l2)
                                               : s_apply(&fx->home, e1, l1);
        assert_true(first.accepted);
        assert_false(second.accepted);
        char want[200];
        snprintf(want, sizeof want, "offer %llu was already accepted (%d at index %llu); an"
                 " offer is accepted once", (unsigned long long)o, order == 0 ? 4 : 3,
                 (unsigned long long)first.position);
        assert_string_equal(second.reason, want);
        assert_int_equal(s_u64_in(&fx->home, "aid_offers", "accepted", o), order == 0 ? 4 : 3);
        assert_int_equal(s_u64_in(&fx->home, "aid_offers", "accepted_at", o), first.position);
        ASSERT_WITHIN_REQUEST(&fx->home, id);
        free(e1);
        free(e2);
    }
}

/* Acceptances of two offers that together exceed the need, in either
 * order: the first fits, the second is refused with what still fits. */
static void test_race_acceptances_beyond_need(void **state)
{
    fx_t *fx = *state;

    for (int order = 0; order < 2; order++) {
        fx_aid_req_t q = fx_aid_beds(6);
        uint64_t id = s_raise(fx, RTD, &q);
        uint64_t a = s_offered(fx, RTF, id, 4), b = s_offered(fx, RX4, id, 5);
        fx_cmd_t ca, cb;
        size_t la, lb;
        fx_cmd_aid_accept(&ca, a, 0);
        fx_cmd_aid_accept(&cb, b, 0);
        uint8_t *ea = s_seal(fx, &fx->home, RTD, &ca.cmd, &la);
        uint8_t *eb = s_seal(fx, &fx->home, QHM, &cb.cmd, &lb);
        ics_apply_result_t first = s_apply(&fx->home, order ? eb : ea, order ? lb : la);
        ics_apply_result_t second = s_apply(&fx->home, order ? ea : eb, order ? la : lb);
        assert_true(first.accepted);
        assert_false(second.accepted);
        char want[256];
        if (order == 0)
            snprintf(want, sizeof want, "accepting 5 beds would exceed request %llu: 6"
                     " requested, 4 already agreed, 2 still needed (accept at most 2)",
                     (unsigned long long)id);
        else
            snprintf(want, sizeof want, "accepting 4 beds would exceed request %llu: 6"
                     " requested, 5 already agreed, 1 still needed (accept at most 1)",
                     (unsigned long long)id);
        assert_string_equal(second.reason, want);
        assert_int_equal(s_accepted_in(&fx->home, id), order ? 5 : 4);
        ASSERT_WITHIN_REQUEST(&fx->home, id);
        ASSERT_STATUS(fx, id, "open");
        free(ea);
        free(eb);
    }
}

/* ---------------------------------------------------------------- delivery */

static void test_deliver_return_complete(void **state)
{
    fx_t *fx = *state;
    fx_aid_req_t q = fx_aid_beds(4);
    uint64_t id = s_raise(fx, RTD, &q), o = s_offered(fx, RTF, id, 4);

    ASSERT_REJECTED_F(s_deliver(fx, RTF, o), "offer %llu is open, not accepted and awaiting"
                      " delivery", U(o));
    ASSERT_ACCEPTED(s_accept(fx, RTD, o, 0));
    ASSERT_STATUS(fx, id, "met");
    ASSERT_REJECTED_F(s_return(fx, RTD, o), "offer %llu is accepted, not delivered", U(o));
    ASSERT_REJECTED_F(s_deliver(fx, RX4, o), "only RTF (offering), RTD (requesting) or the"
                      " group's coordinating organisation may record offer %llu as delivered",
                      U(o));
    ASSERT_ACCEPTED(s_deliver(fx, RTF, o));
    ASSERT_OFFER(fx, o, "delivered");
    ASSERT_REJECTED_F(s_deliver(fx, RTD, o), "offer %llu is delivered, not accepted and"
                      " awaiting delivery", U(o));
    char *text = s_query_in(&fx->home, "aid.board", 0, NULL, NULL);
    ASSERT_CONTAINS(text, "AID IN USE (delivered, not yet handed back)");
    ASSERT_CONTAINS(text, "RTF        RTD        4 beds");
    free(text);
    ASSERT_ACCEPTED(s_return(fx, RTD, o));
    ASSERT_OFFER(fx, o, "returned");
    ASSERT_STATUS(fx, id, "completed");
    /* Nothing more happens to it. */
    ASSERT_REJECTED_F(s_return(fx, RTD, o), "request %llu was completed at"
                      " 2026-01-01T00:00:00Z: nothing more can happen to it", U(id));
    ASSERT_REJECTED_F(s_cancel(fx, RTD, id), "request %llu was completed at"
                      " 2026-01-01T00:00:00Z: nothing more can happen to it", U(id));
}

static void test_withdraw(void **state)
{
    fx_t *fx = *state;
    fx_aid_req_t q = fx_aid_beds(6);
    uint64_t id = s_raise(fx, RTD, &q);
    uint64_t a = s_offered(fx, RTF, id, 2), b = s_offered(fx, RX4, id, 2);

    ASSERT_REJECTED_F(s_withdraw(fx, RX4, a), "only RTF, which made offer %llu, may withdraw it",
                      U(a));
    ASSERT_ACCEPTED(s_withdraw(fx, RTF, a));
    ASSERT_OFFER(fx, a, "withdrawn");
    ASSERT_REJECTED_F(s_accept(fx, RTD, a, 0), "offer %llu was withdrawn by RTF at"
                      " 2026-01-01T00:00:00Z", U(a));
    uint64_t at = s_accept(fx, RTD, b, 0).position;
    ASSERT_REJECTED_F(s_withdraw(fx, RX4, b), "offer %llu was accepted at index %llu: ask RTD to"
                      " cancel the request or hand the aid back instead", U(b), U(at));
}

/* ---------------------------------------------------------------- cancellation */

static void test_cancel_and_nothing_after(void **state)
{
    fx_t *fx = *state;
    fx_aid_req_t q = fx_aid_beds(6);
    uint64_t id = s_raise(fx, RTD, &q);
    uint64_t a = s_offered(fx, RTF, id, 2), b = s_offered(fx, RX4, id, 2);

    ASSERT_ACCEPTED(s_accept(fx, RTD, a, 0));
    ASSERT_REJECTED_F(s_cancel(fx, RTF, id), "only RTD, which made request %llu, may cancel it",
                      U(id));
    ASSERT_ACCEPTED(s_cancel(fx, RTD, id));
    /* Nothing was delivered: cancelled; agreed aid released, open offers lapse. */
    ASSERT_STATUS(fx, id, "cancelled");
    ASSERT_OFFER(fx, a, "released");
    ASSERT_OFFER(fx, b, "lapsed");
    char why[160];
    snprintf(why, sizeof why, "request %llu was cancelled at 2026-01-01T00:00:00Z: nothing more"
             " can happen to it", U(id));
    ASSERT_REJECTED(s_offer(fx, RX6, id, 1), why);
    ASSERT_REJECTED(s_accept(fx, RTD, b, 0), why);
    ASSERT_REJECTED(s_deliver(fx, RTF, a), why);
    ASSERT_REJECTED(s_cancel(fx, RTD, id), why);
    ASSERT_REJECTED(s_escalate(fx, RTD, id), why);
    ASSERT_REJECTED_F(s_withdraw(fx, RX4, b), "offer %llu lapsed at 2026-01-01T00:00:00Z", U(b));
    assert_int_equal(s_accepted_in(&fx->home, id), 0);
}

/* Aid already delivered stays until handed back: the request closes. */
static void test_cancel_with_aid_delivered_closes(void **state)
{
    fx_t *fx = *state;
    fx_aid_req_t q = fx_aid_beds(6);
    uint64_t id = s_raise(fx, RTD, &q);
    uint64_t a = s_offered(fx, RTF, id, 2), b = s_offered(fx, RX4, id, 2);

    ASSERT_ACCEPTED(s_accept(fx, RTD, a, 0));
    ASSERT_ACCEPTED(s_accept(fx, RTD, b, 0));
    ASSERT_ACCEPTED(s_deliver(fx, RTF, a));
    ASSERT_ACCEPTED(s_cancel(fx, RTD, id));
    ASSERT_STATUS(fx, id, "closed");
    ASSERT_OFFER(fx, a, "delivered");
    ASSERT_OFFER(fx, b, "released");
    ASSERT_REJECTED_F(s_offer(fx, RX6, id, 1), "request %llu was closed at 2026-01-01T00:00:00Z:"
                      " it takes no new offers or acceptances", U(id));
    /* The coordinating organisation may record the hand-back for RTD. */
    ASSERT_ACCEPTED(s_return(fx, QHM, a));
    ASSERT_STATUS(fx, id, "completed");
}

/* More offers than one page of the state machine's sweeps: all of them
 * lapse, whether by cancellation or by the clock. */
static void test_many_offers_all_lapse(void **state)
{
    fx_t *fx = *state;
    static const int offerers[] = {RTF, RX4, RX6, QHM};
    fx_aid_req_t q = fx_aid_beds(200);
    uint64_t a = s_raise(fx, RTD, &q), b = s_raise(fx, RTD, &q), until = fx->now + HOUR;
    char sql[160];

    for (int i = 0; i < 150; i++) {
        ASSERT_ACCEPTED(s_offer_in(fx, &fx->home, offerers[i % 4], a, 1, 0));
        ASSERT_ACCEPTED(s_offer_in(fx, &fx->home, offerers[i % 4], b, 1, until));
    }
    ASSERT_ACCEPTED(s_cancel(fx, RTD, a));
    ASSERT_ACCEPTED(s_tick(fx, until));
    for (int k = 0; k < 2; k++) {
        sqlite3_stmt *st = NULL;
        snprintf(sql, sizeof sql, "SELECT count(*) FROM aid_offers WHERE request = %llu AND"
                 " status = 'lapsed'", U(k ? b : a));
        assert_int_equal(sqlite3_prepare_v2(ics_fsm_db(fx->home.fsm[1]), sql, -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), 150);
        sqlite3_finalize(st);
    }
    ASSERT_STATUS(fx, b, "open");
}

/* ---------------------------------------------------------------- the log clock */

static void test_expiry_by_log_clock(void **state)
{
    fx_t *fx = *state;
    fx_aid_req_t q = fx_aid_beds(6);
    uint64_t t0 = fx->now, id, part, o1, o2;

    q.expires = t0 + HOUR;
    id = s_raise(fx, RTD, &q);
    part = s_raise(fx, RTF, &q);
    o1 = s_offered(fx, RX4, part, 2);
    ASSERT_ACCEPTED(s_accept(fx, RTF, o1, 0));
    o2 = s_offer_in(fx, &fx->home, RX6, id, 1, t0 + 30 * MIN).position;
    ASSERT_OFFER(fx, o2, "open");
    /* The leader is told when the next thing is due. */
    assert_int_equal(ics_fsm_next_deadline(fx->home.fsm[0]), t0 + 30 * MIN);

    ASSERT_ACCEPTED(s_tick(fx, t0 + 30 * MIN - 1));
    ASSERT_OFFER(fx, o2, "open");
    ASSERT_ACCEPTED(s_tick(fx, t0 + 30 * MIN));
    ASSERT_OFFER(fx, o2, "lapsed");
    ASSERT_REJECTED_F(s_accept(fx, RTD, o2, 0), "offer %llu lapsed at 2026-01-01T00:30:00Z",
                      U(o2));
    assert_int_equal(ics_fsm_next_deadline(fx->home.fsm[0]), t0 + HOUR);

    ASSERT_ACCEPTED(s_tick(fx, t0 + HOUR));
    ASSERT_STATUS(fx, id, "expired");
    ASSERT_STATUS(fx, part, "closed"); /* 2 of 6 agreed: it carries on for those */
    char why[160];
    snprintf(why, sizeof why, "request %llu expired at 2026-01-01T01:00:00Z: nothing more can"
             " happen to it", U(id));
    ASSERT_REJECTED(s_offer(fx, RX4, id, 1), why);
    ASSERT_REJECTED(s_cancel(fx, RTD, id), why);
    ASSERT_REJECTED(s_escalate(fx, RTD, id), why);
    ASSERT_ACCEPTED(s_deliver(fx, RX4, o1));
    ASSERT_ACCEPTED(s_return(fx, RTF, o1));
    ASSERT_STATUS(fx, part, "completed");
    assert_int_equal(ics_fsm_next_deadline(fx->home.fsm[0]), 0);

    char *text = s_show_in(&fx->home, id);
    ASSERT_CONTAINS(text, "expired with 0 beds of 6 agreed");
    free(text);
}

/* ---------------------------------------------------------------- approval */

static void test_approval_above_threshold(void **state)
{
    fx_t *fx = *state;
    fx_aid_req_t q = fx_aid_beds(20);
    uint64_t id = s_raise(fx, RTD, &q);
    uint64_t small = s_offered(fx, RTF, id, 8), big = s_offered(fx, RX4, id, 6);
    uint64_t more = s_offered(fx, RX6, id, 6);

    /* The scheme in force (the built-in default: threshold 10, approved by
     * the ICB's chief executive acting alone); QHM appoints one. */
    ASSERT_ACCEPTED(s_person(fx, QHM, "admin.officer", "admin.officer", "Board secretary"));
    ASSERT_ACCEPTED(s_person(fx, QHM, "admin.officer", "jo.ceo", "Chief Executive"));
    ASSERT_ACCEPTED(s_role(fx, QHM, "admin.officer", "QHM", "jo.ceo", "chief_executive"));

    /* 8 agreed: at or below the threshold (10), no approval. */
    ASSERT_ACCEPTED(s_accept(fx, RTD, small, 0));
    ASSERT_OFFER(fx, small, "accepted");
    ASSERT_REJECTED_F(s_approve_as(fx, QHM, "jo.ceo", small, false), "offer %llu's acceptance"
                      " needed no approval", U(small));
    /* 14 agreed: needs the chief executive. */
    ASSERT_ACCEPTED(s_accept(fx, RTD, big, 0));
    ASSERT_OFFER(fx, big, "awaiting_approval");
    assert_int_equal(s_u64_in(&fx->home, "aid_offers", "approval_value", big), 14);
    ASSERT_REJECTED_F(s_deliver(fx, RX4, big), "offer %llu is awaiting approval by Chief"
                      " Executive, acting alone (rule aid.approve)", U(big));
    ASSERT_REJECTED_F(s_approve_as(fx, RTD, "site.director", big, false),
                      "site.director is not registered as acting for RTD; RTD registers its "
                      "people with: icsctl people register site.director --name NAME --key KEY");
    ASSERT_REJECTED_F(s_approve_as(fx, QHM, "admin.officer", big, false),
                      "offer %llu's acceptance must be approved by Chief Executive, acting alone"
                      " (rule aid.approve); admin.officer of QHM does not hold that role",
                      U(big));
    /* Held while awaiting: it counts against the need. */
    assert_int_equal(s_accepted_in(&fx->home, id), 14);
    ASSERT_ACCEPTED(s_approve_as(fx, QHM, "jo.ceo", big, false));
    ASSERT_OFFER(fx, big, "accepted");
    ASSERT_REJECTED_F(s_approve_as(fx, QHM, "jo.ceo", big, false), "offer %llu's acceptance was"
                      " already approved", U(big));
    ASSERT_ACCEPTED(s_deliver(fx, RX4, big));

    /* A decline frees the quantity and the request is short again. */
    ASSERT_ACCEPTED(s_accept(fx, RTD, more, 0));
    ASSERT_STATUS(fx, id, "met");
    ASSERT_ACCEPTED(s_approve_as(fx, QHM, "jo.ceo", more, true));
    ASSERT_OFFER(fx, more, "declined");
    ASSERT_STATUS(fx, id, "open");
    assert_int_equal(s_accepted_in(&fx->home, id), 14);
    ASSERT_REJECTED_F(s_accept(fx, RTD, more, 0), "offer %llu's acceptance was declined at"
                      " 2026-01-01T00:00:00Z", U(more));
    char *text = s_show_in(&fx->home, id);
    ASSERT_CONTAINS(text, "declined by QHM (jo.ceo): within the system's escalation plan");
    free(text);
}

/* ---------------------------------------------------------------- escalation */

static void test_region_setting(void **state)
{
    fx_t *fx = *state;
    fx_aid_req_t q = fx_aid_beds(6);
    uint64_t id = s_raise(fx, RTD, &q);

    ASSERT_REJECTED(s_escalate(fx, RTD, id), "group nenc has no regional group to escalate to"
                                             " (a node in both sets escalate_to in its [group"
                                             " nenc] section)");
    ASSERT_REJECTED(s_region_set(fx, RX6, "nenc"), "'nenc' is not another group's name");
    ASSERT_REJECTED(s_region_set(fx, RX6, "north east"), "'north east' is not another group's"
                                                         " name");
    ASSERT_ACCEPTED(s_region_set(fx, RX6, "ne-region"));
    ASSERT_ACCEPTED(s_region_set(fx, RTF, "ne-region")); /* the same: nothing changes */
    ASSERT_REJECTED(s_region_set(fx, RTF, "nw-region"), "group nenc escalates to ne-region,"
                                                        " set by RX6; only RX6 or the"
                                                        " membership administrator may change"
                                                        " that");
    ASSERT_ACCEPTED(s_region_set(fx, QHM, "nw-region"));
    ASSERT_ACCEPTED(s_region_set(fx, QHM, "ne-region"));
    ASSERT_REJECTED_F(s_escalate(fx, RTF, id), "only RTD, which made request %llu, may escalate"
                      " it", U(id));
    ASSERT_ACCEPTED(s_escalate(fx, RTD, id));
    ASSERT_REJECTED_F(s_escalate(fx, RTD, id), "request %llu was already escalated to ne-region"
                      " at 2026-01-01T00:00:00Z", U(id));
}

/* Escalation hands the unmet remainder to the region: local offers for
 * it lapse and the two groups can never agree more than was asked. */
static void test_escalation_partitions_the_need(void **state)
{
    fx_t *fx = *state;
    fx_aid_req_t q = fx_aid_beds(10);
    uint64_t id = s_raise(fx, RTD, &q);
    uint64_t a = s_offered(fx, RTF, id, 4), b = s_offered(fx, RX4, id, 3);

    ASSERT_ACCEPTED(s_region_set(fx, QHM, "ne-region"));
    ASSERT_ACCEPTED(s_accept(fx, RTD, a, 0));
    ASSERT_ACCEPTED(s_escalate(fx, RTD, id));
    assert_int_equal(s_u64_in(&fx->home, "aid_requests", "escalated_qty", id), 6);
    ASSERT_OFFER(fx, b, "lapsed");
    ASSERT_REJECTED_F(s_offer(fx, RX6, id, 2), "request %llu's unmet 6 beds went to ne-region"
                      " at 2026-01-01T00:00:00Z: offer there", U(id));
    ASSERT_STATUS(fx, id, "open");
    char *text = s_show_in(&fx->home, id);
    ASSERT_CONTAINS(text, "escalated to ne-region, raising the 6 beds still needed there (by RTD:"
                          " no capacity left in the ICS)");
    ASSERT_CONTAINS(text, "still needed 6 (in the region)");
    ASSERT_CONTAINS(text, "(not yet raised there)");
    free(text);
}

static void test_auto_escalation_by_log_clock(void **state)
{
    fx_t *fx = *state;
    fx_aid_req_t q = fx_aid_beds(6);
    uint64_t t0, id, manual;

    q.escalate_after_s = 30 * 60;
    t0 = fx->now;
    id = s_raise(fx, RTD, &q);
    uint64_t raised = ics_fsm_clock(fx->home.fsm[0]);
    q.no_auto = true;
    manual = s_raise(fx, RTF, &q);
    /* No region yet: nothing escalates, and no deadline for it. */
    assert_int_equal(ics_fsm_next_deadline(fx->home.fsm[0]), raised + 12 * HOUR);
    ASSERT_ACCEPTED(s_tick(fx, t0 + 40 * MIN));
    assert_int_equal(s_u64_in(&fx->home, "aid_requests", "escalated", id), 0);
    /* Once the group has a region, a request already past its time goes on
     * the next clock move; a new one at its own time. */
    ASSERT_ACCEPTED(s_region_set(fx, QHM, "ne-region"));
    ASSERT_ACCEPTED(s_tick(fx, t0 + 41 * MIN));
    assert_int_equal(s_u64_in(&fx->home, "aid_requests", "escalated", id), 1);
    assert_int_equal(s_u64_in(&fx->home, "aid_requests", "escalated", manual), 0);
    assert_string_equal(s_col_in(&fx->home, "aid_requests", "escalated_by", id),
                        "automatically: still unmet 30m after it was raised");

    q = fx_aid_beds(3);
    q.escalate_after_s = 600;
    uint64_t later = s_raise(fx, RTD, &q);
    uint64_t at = ics_fsm_clock(fx->home.fsm[0]) + 600000;
    assert_int_equal(ics_fsm_next_deadline(fx->home.fsm[0]), at);
    ASSERT_ACCEPTED(s_tick(fx, at - 1));
    assert_int_equal(s_u64_in(&fx->home, "aid_requests", "escalated", later), 0);
    ASSERT_ACCEPTED(s_tick(fx, at));
    assert_int_equal(s_u64_in(&fx->home, "aid_requests", "escalated", later), 1);
    /* A request met in time does not escalate. */
    q.escalate_after_s = 600;
    uint64_t met = s_raise(fx, RTD, &q);
    uint64_t o = s_offered(fx, RX4, met, 3);
    ASSERT_ACCEPTED(s_accept(fx, RTD, o, 0));
    ASSERT_ACCEPTED(s_tick(fx, ics_fsm_clock(fx->home.fsm[0]) + HOUR));
    assert_int_equal(s_u64_in(&fx->home, "aid_requests", "escalated", met), 0);
}

/* ---------------------------------------------------------------- across groups */

typedef struct {
    int n;
    bool to_region[16];
    uint8_t token[16][16];
    uint8_t *cmd[16];
    size_t len[16];
    char what[16][160];
} calls_t;

static void s_collect(void *arg, bool to_region, const uint8_t token[16], const uint8_t *cmd,
                      size_t cmd_len, const char *what)
{
    calls_t *c = arg;
    assert_true(c->n < 16);
    c->to_region[c->n] = to_region;
    memcpy(c->token[c->n], token, 16);
    c->cmd[c->n] = malloc(cmd_len);
    memcpy(c->cmd[c->n], cmd, cmd_len);
    c->len[c->n] = cmd_len;
    snprintf(c->what[c->n], sizeof c->what[0], "%s", what);
    c->n++;
}

static void s_calls_free(calls_t *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->cmd[i]);
    memset(c, 0, sizeof *c);
}

/* What a bridging node `who` would submit now, asked of both machines of
 * each group (they must call for the same). */
static void s_bridge_ask(fx_t *fx, int who, calls_t *out)
{
    calls_t other = {0};
    memset(out, 0, sizeof *out);
    assert_int_equal(ics_fsm_aid_bridge(fx->home.fsm[0], fx->region.fsm[0], s_org[who],
                                        s_collect, out), ICS_OK);
    assert_int_equal(ics_fsm_aid_bridge(fx->home.fsm[1], fx->region.fsm[1], s_org[who],
                                        s_collect, &other), ICS_OK);
    assert_int_equal(out->n, other.n);
    for (int i = 0; i < out->n; i++) {
        assert_memory_equal(out->token[i], other.token[i], 16);
        assert_int_equal(out->len[i], other.len[i]);
        assert_memory_equal(out->cmd[i], other.cmd[i], out->len[i]);
    }
    s_calls_free(&other);
}

/* Submits what the bridge asked for, signed by who; returns how many. */
static int s_bridge_run(fx_t *fx, int who)
{
    calls_t c;
    int n;
    s_bridge_ask(fx, who, &c);
    n = c.n;
    for (int i = 0; i < c.n; i++) {
        Ics__V1__Command *cmd = ics__v1__command__unpack(NULL, c.len[i], c.cmd[i]);
        size_t len = 0;
        assert_non_null(cmd);
        assert_string_equal(cmd->actor, "");
        uint8_t *env = s_seal_bytes(fx, c.to_region[i] ? &fx->region : &fx->home, who, c.cmd[i],
                                    c.len[i], (uint32_t)cmd->body_case, &len);
        ics_apply_result_t r = s_apply(c.to_region[i] ? &fx->region : &fx->home, env, len);
        if (!r.accepted)
            fail_msg("bridge's %s rejected: %s", c.what[i], r.reason);
        free(env);
        ics__v1__command__free_unpacked(cmd, NULL);
    }
    s_calls_free(&c);
    return n;
}

static uint64_t s_mirror_of(fx_t *fx, uint64_t home_id)
{
    char sql[200];
    sqlite3_stmt *st = NULL;
    uint64_t v = 0;
    snprintf(sql, sizeof sql, "SELECT id FROM aid_requests WHERE link_group = 'nenc' AND"
             " link_request = %llu", (unsigned long long)home_id);
    assert_int_equal(sqlite3_prepare_v2(ics_fsm_db(fx->region.fsm[0]), sql, -1, &st, NULL),
                     SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The walk across two groups: escalated at home, mirrored into the region
 * by a node in both, met there, delivered and handed back there, and each
 * step reflected home. */
static void test_escalation_across_two_groups(void **state)
{
    fx_t *fx = *state;
    fx_aid_req_t q = fx_aid_beds(6);
    uint64_t id, local, mirror, ro;
    calls_t c;

    ASSERT_ACCEPTED(s_opel(fx, RTD, 4));
    id = s_raise(fx, RTD, &q);
    local = s_offered(fx, RTF, id, 2);
    ASSERT_ACCEPTED(s_accept(fx, RTD, local, 0));

    /* 1. The bridge first tells the home group where it escalates. */
    s_bridge_ask(fx, QHM, &c);
    assert_int_equal(c.n, 1);
    assert_false(c.to_region[0]);
    assert_string_equal(c.what[0], "nenc escalates to ne-region");
    s_calls_free(&c);
    assert_int_equal(s_bridge_run(fx, QHM), 1);
    assert_int_equal(s_bridge_run(fx, QHM), 0); /* nothing more to do */

    /* 2. Escalated at home: the bridge mirrors the unmet 4 into the region. */
    ASSERT_ACCEPTED(s_escalate(fx, RTD, id));
    s_bridge_ask(fx, QHM, &c);
    assert_int_equal(c.n, 1);
    assert_true(c.to_region[0]);
    uint8_t mirror_token[16];
    memcpy(mirror_token, c.token[0], 16);
    s_calls_free(&c);
    /* Asking again gives the same command and token: resubmitting it is
     * applied once (the outbox reuses the sequence number). */
    s_bridge_ask(fx, QHM, &c);
    assert_memory_equal(c.token[0], mirror_token, 16);
    s_calls_free(&c);
    assert_int_equal(s_bridge_run(fx, QHM), 1);
    mirror = s_mirror_of(fx, id);
    assert_true(mirror != 0);
    ASSERT_REQ_STATUS(&fx->region, mirror, "open");
    assert_int_equal(s_u64_in(&fx->region, "aid_requests", "quantity", mirror), 4);
    assert_string_equal(s_col_in(&fx->region, "aid_requests", "org", mirror), "QHM");
    assert_string_equal(s_col_in(&fx->region, "aid_requests", "link_requester", mirror), "RTD");
    assert_int_equal(s_u64_in(&fx->region, "aid_requests", "opel", mirror), 4);

    /* A second bridging node (RX6) mirroring the same request changes
     * nothing: idempotent by link. */
    {
        Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
        Ics__V1__AidRequest a = ICS__V1__AID_REQUEST__INIT;
        Ics__V1__AidLink l = ICS__V1__AID_LINK__INIT;
        l.home_group = "nenc";
        l.home_request = id;
        l.home_requester = "RTD";
        a.resource = "ga_beds";
        a.specialty = "";
        a.quantity = 4;
        a.urgency = ICS__V1__AID_URGENCY__AID_URGENCY_WITHIN_4H;
        a.site = "RVI";
        a.reason = "x";
        a.contact = "y";
        a.link = &l;
        cmd.body_case = ICS__V1__COMMAND__BODY_AID_REQUEST;
        cmd.aid_request = &a;
        uint64_t before = ics_fsm_position(fx->region.fsm[0]);
        ASSERT_ACCEPTED(s_send_in(fx, &fx->region, RX6, &cmd));
        assert_int_equal(s_mirror_of(fx, id), mirror);
        char sql_count[] = "SELECT count(*) FROM aid_requests";
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(ics_fsm_db(fx->region.fsm[0]), sql_count, -1, &st,
                                            NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), 1);
        sqlite3_finalize(st);
        assert_int_equal(ics_fsm_position(fx->region.fsm[0]), before + 1);
    }

    /* The home request learns its regional id. */
    assert_int_equal(s_bridge_run(fx, QHM), 1);
    assert_int_equal(s_u64_in(&fx->home, "aid_requests", "region_request", id), mirror);
    assert_string_equal(s_col_in(&fx->home, "aid_requests", "region_status", id), "open");

    /* 3. In the region: NWAS and the neighbouring ICB offer; the ICB that
     * owns the mirror accepts; the requester at home sees it. */
    ro = s_offer_in(fx, &fx->region, QE1, mirror, 4, 0).position;
    uint64_t ro2 = s_offer_in(fx, &fx->region, RX7, mirror, 2, 0).position;
    ASSERT_REJECTED_F(s_accept_in(fx, &fx->region, RX7, ro, 0),
                      "only QHM, which made request %llu, or the group's coordinating"
                      " organisation may accept its offers", U(mirror));
    ASSERT_ACCEPTED(s_accept_in(fx, &fx->region, QHM, ro, 0));
    ASSERT_REQ_STATUS(&fx->region, mirror, "met");
    ASSERT_REJECTED_F(s_accept_in(fx, &fx->region, QHM, ro2, 0), "request %llu is already met"
                      " (4 beds agreed)", U(mirror));
    assert_int_equal(s_bridge_run(fx, QHM), 1);
    ASSERT_STATUS(fx, id, "met");
    assert_int_equal(s_u64_in(&fx->home, "aid_requests", "region_accepted", id), 4);
    ASSERT_WITHIN_REQUEST(&fx->home, id);

    /* An update no newer than the last changes nothing (as if a second
     * bridge or a retry sent it late). */
    {
        fx_cmd_t lu;
        Ics__V1__AidLinkUpdate *u = &lu.body.aid_link_update;
        fx_cmd_aid_link_update(&lu, id, "ne-region", mirror,
                               s_u64_in(&fx->home, "aid_requests", "region_revision", id), "open");
        ASSERT_ACCEPTED(s_send(fx, RX6, &lu.cmd));
        assert_int_equal(s_u64_in(&fx->home, "aid_requests", "region_accepted", id), 4);
        ASSERT_STATUS(fx, id, "met");
        /* And one claiming more than was escalated is refused. */
        u->revision += 1000;
        u->accepted = 5;
        ASSERT_REJECTED(s_send(fx, RX6, &lu.cmd), "link update is inconsistent: 5 accepted of 4"
                                               " escalated, 0 delivered, 0 returned");
    }

    /* 4. Delivered and handed back, at home and in the region. */
    ASSERT_ACCEPTED(s_deliver(fx, RTF, local));
    ASSERT_ACCEPTED(s_deliver_in(fx, &fx->region, QE1, ro));
    assert_int_equal(s_bridge_run(fx, QHM), 1);
    assert_int_equal(s_u64_in(&fx->home, "aid_requests", "region_delivered", id), 4);
    char *text = s_query_in(&fx->home, "aid.board", 0, NULL, NULL);
    ASSERT_CONTAINS(text, "escalated to ne-region");
    ASSERT_CONTAINS(text, "in the region: QE1 4 (accepted 4), RX7 2 (accepted 0)");
    free(text);
    ASSERT_ACCEPTED(s_return(fx, RTD, local));
    ASSERT_STATUS(fx, id, "met"); /* the region's aid is still in use */
    ASSERT_ACCEPTED(s_return_in(fx, &fx->region, QHM, ro));
    ASSERT_REQ_STATUS(&fx->region, mirror, "completed");
    assert_int_equal(s_bridge_run(fx, QHM), 1);
    ASSERT_STATUS(fx, id, "completed");
    assert_int_equal(s_bridge_run(fx, QHM), 0);

    text = s_show_in(&fx->home, id);
    ASSERT_CONTAINS(text, "agreed      6 of 6 (here 2, in ne-region 4); in use 0, handed back"
                          " 6");
    char line[200];
    snprintf(line, sizeof line, "ne-region request %llu is completed: 6 offered, 4 beds accepted,"
             " 0 in use, 4 handed back there", U(mirror));
    ASSERT_CONTAINS(text, line);
    snprintf(line, sizeof line, "%-10s %7d %8d %6d %11d", "QE1", 4, 4, 0, 4);
    ASSERT_CONTAINS(text, line);
    free(text);
    text = s_show_in(&fx->region, mirror);
    snprintf(line, sizeof line, "escalated from nenc request %llu of RTD; QHM acts for it here",
             U(id));
    ASSERT_CONTAINS(text, line);
    free(text);
}

/* Ended at home: the bridge ends the mirror, releasing what was agreed
 * but not yet delivered there. */
static void test_home_cancel_ends_the_mirror(void **state)
{
    fx_t *fx = *state;
    fx_aid_req_t q = fx_aid_beds(4);
    uint64_t id, mirror, ro;

    ASSERT_ACCEPTED(s_region_set(fx, QHM, "ne-region"));
    id = s_raise(fx, RTD, &q);
    ASSERT_ACCEPTED(s_escalate(fx, RTD, id));
    assert_int_equal(s_bridge_run(fx, RX6), 1);
    mirror = s_mirror_of(fx, id);
    assert_string_equal(s_col_in(&fx->region, "aid_requests", "org", mirror), "RX6");
    ro = s_offer_in(fx, &fx->region, RX7, mirror, 4, 0).position;
    ASSERT_ACCEPTED(s_accept_in(fx, &fx->region, RX6, ro, 0));

    ASSERT_ACCEPTED(s_cancel(fx, RTD, id));
    ASSERT_STATUS(fx, id, "cancelled");
    /* The bridge: carry the region's news home, and end the mirror. */
    calls_t c;
    s_bridge_ask(fx, RX6, &c);
    assert_int_equal(c.n, 2);
    assert_false(c.to_region[0]);
    assert_true(c.to_region[1]);
    char what[100];
    snprintf(what, sizeof what, "end of nenc request %llu's mirror in ne-region", U(id));
    assert_string_equal(c.what[1], what);
    s_calls_free(&c);
    s_bridge_run(fx, RX6);
    ASSERT_REQ_STATUS(&fx->region, mirror, "cancelled");
    ASSERT_OFFER_STATUS(&fx->region, ro, "released");
    /* A second cancel (another bridge, a retry) changes nothing. */
    {
        fx_cmd_t lc;
        fx_cmd_aid_link_cancel(&lc, "nenc", id, "");
        ASSERT_ACCEPTED(s_send_in(fx, &fx->region, QHM, &lc.cmd));
        lc.body.aid_link_cancel.home_request = 999;
        ASSERT_REJECTED(s_send_in(fx, &fx->region, QHM, &lc.cmd),
                        "no request here is mirrored from nenc request 999");
    }
    /* The cancellation flows home as news; the home request stays ended. */
    s_bridge_run(fx, RX6);
    ASSERT_STATUS(fx, id, "cancelled");
    assert_string_equal(s_col_in(&fx->home, "aid_requests", "region_status", id), "cancelled");
    assert_int_equal(s_bridge_run(fx, RX6), 0);
}

/* The region ends a mirror short of the need: the home request follows
 * it, closed with the aid the region agreed, or cancelled with none. */
static void test_region_ends_mirror_short(void **state)
{
    fx_t *fx = *state;
    fx_aid_req_t q = fx_aid_beds(5);
    uint64_t part, none, m1, m2, ro;

    q.expires = fx->now + HOUR;
    ASSERT_ACCEPTED(s_region_set(fx, QHM, "ne-region"));
    part = s_raise(fx, RTD, &q);
    none = s_raise(fx, RTD, &q);
    ASSERT_ACCEPTED(s_escalate(fx, RTD, part));
    ASSERT_ACCEPTED(s_escalate(fx, RTD, none));
    assert_int_equal(s_bridge_run(fx, QHM), 2);
    m1 = s_mirror_of(fx, part);
    m2 = s_mirror_of(fx, none);
    assert_int_equal(s_u64_in(&fx->region, "aid_requests", "expires_ms", m1), q.expires);

    /* The owner cancels one mirror: nothing was agreed for it. */
    {
        Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
        Ics__V1__AidCancel c = ICS__V1__AID_CANCEL__INIT;
        c.request = m2;
        c.reason = "no capacity in the region either";
        cmd.body_case = ICS__V1__COMMAND__BODY_AID_CANCEL;
        cmd.aid_cancel = &c;
        ASSERT_ACCEPTED(s_send_in(fx, &fx->region, QHM, &cmd));
    }
    ASSERT_REQ_STATUS(&fx->region, m2, "cancelled");
    /* 2 of 5 agreed in the region for the other before it expires there. */
    ro = s_offer_in(fx, &fx->region, QE1, m1, 2, 0).position;
    ASSERT_ACCEPTED(s_accept_in(fx, &fx->region, QHM, ro, 0));
    ASSERT_ACCEPTED(s_tick_in(fx, &fx->region, q.expires));
    ASSERT_REQ_STATUS(&fx->region, m1, "closed");
    assert_int_equal(s_bridge_run(fx, QHM), 2);
    ASSERT_STATUS(fx, part, "closed");
    ASSERT_STATUS(fx, none, "cancelled");
    ASSERT_WITHIN_REQUEST(&fx->home, part);
    /* The aid agreed there is delivered and handed back; then it is done. */
    ASSERT_ACCEPTED(s_deliver_in(fx, &fx->region, QE1, ro));
    ASSERT_ACCEPTED(s_return_in(fx, &fx->region, QHM, ro));
    assert_int_equal(s_bridge_run(fx, QHM), 1);
    ASSERT_STATUS(fx, part, "completed");
    assert_int_equal(s_bridge_run(fx, QHM), 0);
}

/* ---------------------------------------------------------------- queries */

static void test_board_and_list(void **state)
{
    fx_t *fx = *state;
    fx_aid_req_t q = fx_aid_beds(6);
    char *text, *json, *argv[2];
    ics_err_t err;
    char *j, *t;

    ASSERT_ACCEPTED(s_opel(fx, RTD, 4));
    uint64_t first = s_raise(fx, RTD, &q);
    fx->now += 10 * MIN;
    q = fx_aid_beds(2);
    q.resource = "registered_nurses";
    q.specialty = "ed";
    uint64_t second = s_raise(fx, RTD, &q);
    uint64_t met = s_raise(fx, RX4, &q);
    uint64_t o = s_offered(fx, RTF, met, 2);
    ASSERT_ACCEPTED(s_accept(fx, RX4, o, 0));
    uint64_t o2 = s_offered(fx, RX6, first, 3);

    text = s_query_in(&fx->home, "aid.board", 0, NULL, &json);
    ASSERT_CONTAINS(text, "MUTUAL AID BOARD  group nenc");
    ASSERT_CONTAINS(text, "System OPEL 4");
    /* Unmet first, oldest first; the met one last. */
    char k1[16], k2[16], k3[16];
    snprintf(k1, sizeof k1, "\n%llu ", U(first));
    snprintf(k2, sizeof k2, "\n%llu ", U(second));
    snprintf(k3, sizeof k3, "\n%llu ", U(met));
    char *p1 = strstr(text, k1), *p2 = strstr(text, k2), *p3 = strstr(text, k3);
    assert_non_null(p1);
    assert_non_null(p2);
    assert_non_null(p3);
    assert_true(p1 < p2 && p2 < p3);
    ASSERT_CONTAINS(text, "registered_nurses/ed");
    char line[64];
    snprintf(line, sizeof line, "offers: offer %llu RX6 3", U(o2));
    ASSERT_CONTAINS(text, line);
    ASSERT_CONTAINS(json, "\"still_needed\":6");
    free(text);
    free(json);

    argv[0] = "status=met";
    text = s_query_in(&fx->home, "aid.list", 1, argv, NULL);
    snprintf(line, sizeof line, "\n%-6llu RX4", U(met));
    ASSERT_CONTAINS(text, line);
    assert_null(strstr(text, k1));
    free(text);
    argv[0] = "org=RX4";
    argv[1] = "resource=ga_beds";
    text = s_query_in(&fx->home, "aid.list", 2, argv, NULL);
    ASSERT_CONTAINS(text, "(no requests match)");
    free(text);

    argv[0] = "status=lost";
    assert_int_equal(ics_fsm_query(fx->home.fsm[0], "aid.list", 1, argv, &j, &t, &err),
                     ICS_EINVAL);
    assert_string_equal(err.msg, "status 'lost' is not open, met, closed, cancelled, expired,"
                                 " completed, active or all");
    argv[0] = "999";
    assert_int_equal(ics_fsm_query(fx->home.fsm[0], "aid.show", 1, argv, &j, &t, &err),
                     ICS_ENOENT);
    assert_string_equal(err.msg, "there is no request 999 in group nenc");
    argv[0] = "x";
    assert_int_equal(ics_fsm_query(fx->home.fsm[0], "aid.show", 1, argv, &j, &t, &err),
                     ICS_EINVAL);
    text = s_query_in(&fx->home, "aid.resources", 0, NULL, NULL);
    ASSERT_CONTAINS(text, "registered_nurses              nurses         required");
    ASSERT_CONTAINS(text, "discharge_packages             packages");
    free(text);
}

/* The state survives a snapshot and restore, deadlines included. */
static void test_snapshot_restore(void **state)
{
    fx_t *fx = *state;
    fx_aid_req_t q = fx_aid_beds(6);
    uint8_t *img = NULL;
    size_t len = 0;
    ics_err_t err;

    q.expires = fx->now + HOUR;
    uint64_t id = s_raise(fx, RTD, &q);
    uint64_t o = s_offered(fx, RTF, id, 2);
    assert_int_equal(ics_fsm_snapshot(fx->home.fsm[0], &img, &len), ICS_OK);
    ics_fsm_destroy(&fx->home.fsm[1]);
    fx->home.fsm[1] = ics_fsm_new("nenc", &err);
    assert_non_null(fx->home.fsm[1]);
    assert_int_equal(ics_fsm_restore(fx->home.fsm[1], img, len, &err), ICS_OK);
    free(img);
    assert_int_equal(ics_fsm_next_deadline(fx->home.fsm[1]),
                     ics_fsm_next_deadline(fx->home.fsm[0]));
    ASSERT_ACCEPTED(s_accept(fx, RTD, o, 0));
    uint64_t at = ics_fsm_position(fx->home.fsm[0]);
    ASSERT_REJECTED_F(s_accept(fx, RTD, o, 0), "offer %llu was already accepted (2 at index %llu);"
                      " an offer is accepted once", U(o), U(at));
    ASSERT_ACCEPTED(s_tick(fx, fx->now + 2 * HOUR));
    ASSERT_STATUS(fx, id, "closed");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, s_setup_groups, s_teardown)
    const struct CMUnitTest tests[] = {
        T(test_request_refusals),
        T(test_request_records_opel_and_defaults),
        T(test_offer_rules),
        T(test_accept_whole_and_part),
        T(test_race_one_offer_two_acceptances),
        T(test_race_acceptances_beyond_need),
        T(test_deliver_return_complete),
        T(test_withdraw),
        T(test_cancel_and_nothing_after),
        T(test_cancel_with_aid_delivered_closes),
        T(test_many_offers_all_lapse),
        T(test_expiry_by_log_clock),
        T(test_approval_above_threshold),
        T(test_region_setting),
        T(test_escalation_partitions_the_need),
        T(test_auto_escalation_by_log_clock),
        T(test_escalation_across_two_groups),
        T(test_home_cancel_ends_the_mirror),
        T(test_region_ends_mirror_short),
        T(test_board_and_list),
        T(test_snapshot_restore),
    };
#undef T
    return cmocka_run_group_tests_name("aid", tests, NULL, NULL);
}
