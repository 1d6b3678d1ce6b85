/*
 * OPEL domain tests: what a partner sees when reports are applied —
 * refusals and their reasons, the history, the derived system level by
 * the documented integer method, staleness by the log clock, and that two
 * state machines fed the same entries agree on everything.
 *
 * Layout: fixture, helpers that sign and apply commands (every entry is
 * applied to two state machines and their results compared), domain
 * assertions, then scenarios.
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

#define GROUP "nenc"
#define HOUR 3600000ull

enum { QHM, RTD, RTF, RX4, RX6, LA, EVE, N_IDS };
static const char *const s_org[N_IDS] = {"QHM", "RTD", "RTF", "RX4", "RX6", "E06000057", "EVE"};

typedef struct {
    ics_fsm_t *fsm[2];
    ics_identity_t *id[N_IDS];
    uint64_t seq[N_IDS];
    uint64_t now;
} fx_t;

static int s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    ics_err_t err;

    assert_non_null(fx);
    for (int i = 0; i < N_IDS; i++) {
        uint8_t seed[32];
        memset(seed, 0x21 + 7 * i, sizeof seed);
        fx->id[i] = ics_identity_from_seed(seed);
        assert_non_null(fx->id[i]);
    }
    for (int i = 0; i < 2; i++) {
        fx->fsm[i] = ics_fsm_new(GROUP, &err);
        if (fx->fsm[i] == NULL)
            fail_msg("ics_fsm_new: %s", err.msg);
    }
    fx->now = 1767225600000ull; /* 2026-01-01T00:00:00Z */
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *fx = *state;
    for (int i = 0; i < 2; i++)
        ics_fsm_destroy(&fx->fsm[i]);
    for (int i = 0; i < N_IDS; i++)
        ics_identity_destroy(&fx->id[i]);
    free(fx);
    return 0;
}

/* ---------------------------------------------------------------- helpers */

/* Signs cmd as who (next seq, proposer time fx->now += 10) and applies it
 * to both state machines, which must agree on every field of the result. */
static ics_apply_result_t s_send(fx_t *fx, int who, const Ics__V1__Command *cmd)
{
    ics_envelope_fields_t f = {GROUP, s_org[who], ++fx->seq[who], fx->now += 10,
                               (uint32_t)cmd->body_case, NULL, 0};
    ics_apply_result_t res[2];
    uint8_t *payload = NULL, *env = NULL;
    size_t plen = 0, len = 0;
    ics_err_t err;

    assert_int_equal(ics_pack(&cmd->base, &payload, &plen), ICS_OK);
    f.payload = payload;
    f.payload_len = plen;
    if (ics_envelope_seal(fx->id[who], &f, &env, &len, &err) != ICS_OK)
        fail_msg("seal: %s", err.msg);
    for (int i = 0; i < 2; i++)
        assert_int_equal(ics_fsm_apply(fx->fsm[i], env, len, &res[i]), ICS_OK);
    assert_int_equal(res[0].position, res[1].position);
    assert_int_equal(res[0].accepted, res[1].accepted);
    assert_string_equal(res[0].reason, res[1].reason);
    assert_memory_equal(res[0].chain, res[1].chain, 32);
    free(payload);
    free(env);
    return res[0];
}

static void s_genesis(fx_t *fx)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Genesis g = ICS__V1__GENESIS__INIT;
    Ics__V1__MemberAdd m[N_IDS - 1], *mp[N_IDS - 1];
    static const char *kinds[] = {"icb", "foundation_trust", "foundation_trust",
                                  "mental_health", "ambulance", "local_authority"};

    for (int i = 0; i < N_IDS - 1; i++) {
        ics__v1__member_add__init(&m[i]);
        m[i].org = (char *)s_org[i];
        m[i].kind = (char *)kinds[i];
        m[i].name = (char *)s_org[i];
        m[i].endpoint = "tcp://127.0.0.1:7400";
        m[i].public_key.data = (uint8_t *)ics_identity_public(fx->id[i]);
        m[i].public_key.len = ICS_PK_BYTES;
        mp[i] = &m[i];
    }
    g.group = GROUP;
    g.admin = "QHM";
    g.members = mp;
    g.n_members = N_IDS - 1;
    cmd.body_case = ICS__V1__COMMAND__BODY_GENESIS;
    cmd.genesis = &g;
    ics_apply_result_t r = s_send(fx, QHM, &cmd);
    if (!r.accepted)
        fail_msg("genesis: %s", r.reason);
}

static int s_setup_genesis(void **state)
{
    s_setup(state);
    s_genesis(*state);
    return 0;
}

/* A report of level for type with "name=value" parameters (NULL-ended). */
static ics_apply_result_t s_report(fx_t *fx, int who, unsigned level, const char *type,
                                   const char *note, ...)
{
    fx_cmd_t c;
    va_list ap;

    va_start(ap, note);
    fx_cmd_opel_v(&c, level, type, note, ap);
    va_end(ap);
    c.cmd.actor = ""; /* the organisation reports: no person signs */
    return s_send(fx, who, &c.cmd);
}

static ics_apply_result_t s_tick(fx_t *fx, uint64_t now_ms)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__ClockTick t = ICS__V1__CLOCK_TICK__INIT;
    t.now_ms = now_ms;
    cmd.body_case = ICS__V1__COMMAND__BODY_TICK;
    cmd.tick = &t;
    return s_send(fx, QHM, &cmd);
}

/* Runs a query on both state machines; they must answer alike. Returns
 * fsm 0's text (caller frees) and its JSON in *json if not NULL. */
static char *s_query(fx_t *fx, const char *name, size_t argc, char *const *argv, char **json)
{
    char *j[2], *t[2];
    ics_err_t err;

    for (int i = 0; i < 2; i++)
        if (ics_fsm_query(fx->fsm[i], name, argc, argv, &j[i], &t[i], &err) != ICS_OK)
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

static uint64_t s_sql_u64(fx_t *fx, const char *sql)
{
    sqlite3_stmt *st = NULL;
    uint64_t v = 0;
    assert_int_equal(sqlite3_prepare_v2(ics_fsm_db(fx->fsm[0]), sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
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
        assert_false(r_.accepted);                                                           \
        assert_string_equal(r_.reason, why);                                                 \
    } while (0)

#define ASSERT_CONTAINS(text, needle)                                                        \
    do {                                                                                     \
        if (strstr((text), (needle)) == NULL)                                                \
            fail_msg("expected to find '%s' in:\n%s", (needle), (text));                    \
    } while (0)

/* The latest system row: level and score x 100. */
#define ASSERT_SYSTEM(fx, level, score)                                                      \
    do {                                                                                     \
        assert_int_equal(s_sql_u64((fx), "SELECT level FROM opel_system"                     \
                                         " ORDER BY position DESC LIMIT 1"), (level));       \
        assert_int_equal(s_sql_u64((fx), "SELECT score FROM opel_system"                     \
                                         " ORDER BY position DESC LIMIT 1"), (score));       \
    } while (0)

/* ---------------------------------------------------------------- scenarios */

static void test_report_refusals(void **state)
{
    fx_t *fx = *state;
    char note[600];

    ASSERT_REJECTED(s_report(fx, RTD, 0, "acute", NULL, NULL), "OPEL level 0 is not 1 to 4");
    ASSERT_REJECTED(s_report(fx, RTD, 5, "acute", NULL, NULL), "OPEL level 5 is not 1 to 4");
    ASSERT_REJECTED(s_report(fx, RTD, 3, "hospital", NULL, NULL),
                    "unknown provider type 'hospital' (expected acute, ambulance,"
                    " mental_health, community or social_care)");
    ASSERT_REJECTED(s_report(fx, RTD, 3, "acute", NULL, "s136_count=4", NULL),
                    "'s136_count' is not an OPEL parameter for acute providers (see icsctl opel"
                    " parameters acute)");
    ASSERT_REJECTED(s_report(fx, RTD, 3, "acute", NULL, "ed_4h_pct=101", NULL),
                    "ed_4h_pct = 101 is out of range (0 to 100%)");
    ASSERT_REJECTED(s_report(fx, RTD, 3, "acute", NULL, "ed_4h_pct=70", "ed_4h_pct=71", NULL),
                    "parameter ed_4h_pct is given twice");
    memset(note, 'x', sizeof note - 1);
    note[sizeof note - 1] = '\0';
    ASSERT_REJECTED(s_report(fx, RTD, 3, "acute", note, NULL),
                    "note is longer than 500 bytes, or not plain UTF-8 text");
    ASSERT_REJECTED(s_report(fx, RTD, 3, "acute", "bad \x01 byte", NULL),
                    "note is longer than 500 bytes, or not plain UTF-8 text");
    ASSERT_REJECTED(s_report(fx, RTD, 3, "acute", "bad \xc3 utf8", NULL),
                    "note is longer than 500 bytes, or not plain UTF-8 text");
    assert_int_equal(s_sql_u64(fx, "SELECT count(*) FROM opel_reports"), 0);
    assert_int_equal(s_sql_u64(fx, "SELECT count(*) FROM opel_system"), 0);
}

static void test_history_is_kept_and_shown(void **state)
{
    fx_t *fx = *state;
    char *text, *json, *argv[2];

    ASSERT_ACCEPTED(s_report(fx, RTD, 2, "acute", "rising", "ed_4h_pct=72", NULL));
    ASSERT_ACCEPTED(s_report(fx, RTD, 3, "acute", NULL, "ed_4h_pct=66", "ed_12h_count=9", NULL));
    ASSERT_ACCEPTED(s_report(fx, RTD, 4, "acute", "escalation beds open",
                             "handover_mean_mins=95", "ed_4h_pct=61", "ed_12h_count=23",
                             "ga_occupancy_pct=99", "nctr_count=140", NULL));
    /* A second provider type of the same organisation is tracked apart. */
    ASSERT_ACCEPTED(s_report(fx, RTD, 2, "community", NULL, "community_occupancy_pct=91", NULL));
    assert_int_equal(s_sql_u64(fx, "SELECT count(*) FROM opel_reports WHERE org = 'RTD'"), 4);

    text = s_query(fx, "opel.show", 0, NULL, &json);
    ASSERT_CONTAINS(text, "System OPEL 4: unable to deliver comprehensive care");
    ASSERT_CONTAINS(text, "RTD        acute         4");
    ASSERT_CONTAINS(text, "ed_12h_count=23 ed_4h_pct=61% ga_occupancy_pct=99%"
                          " handover_mean_mins=95min nctr_count=140");
    ASSERT_CONTAINS(text, "note: escalation beds open");
    ASSERT_CONTAINS(text, "RTD        community     2");
    ASSERT_CONTAINS(json, "\"provider_type\":\"acute\",\"level\":4");
    ASSERT_CONTAINS(json, "\"parameters\":{\"ed_12h_count\":23,\"ed_4h_pct\":61,");
    free(text);
    free(json);

    argv[0] = "RTD";
    argv[1] = "2";
    text = s_query(fx, "opel.history", 2, argv, NULL);
    /* Newest first, two of them. */
    char *a = strstr(text, "community"), *b = strstr(text, "escalation beds open");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a < b);
    assert_null(strstr(text, "rising"));
    ASSERT_CONTAINS(text, "System OPEL changes, newest first");
    free(text);

    /* Bad arguments say what was wrong. */
    char *j, *t;
    ics_err_t err;
    argv[0] = "0";
    assert_int_equal(ics_fsm_query(fx->fsm[0], "opel.history", 1, argv, &j, &t, &err),
                     ICS_EINVAL);
    assert_string_equal(err.msg, "history length 0 is not 1 to 1000");
    argv[0] = "R T D";
    assert_int_equal(ics_fsm_query(fx->fsm[0], "opel.show", 1, argv, &j, &t, &err), ICS_EINVAL);
    assert_string_equal(err.msg, "'R T D' is not an organisation id");
    argv[0] = "hospital";
    assert_int_equal(ics_fsm_query(fx->fsm[0], "opel.parameters", 1, argv, &j, &t, &err),
                     ICS_EINVAL);

    argv[0] = "mental_health";
    text = s_query(fx, "opel.parameters", 1, argv, NULL);
    ASSERT_CONTAINS(text, "s136_count");
    ASSERT_CONTAINS(text, "out_of_area_count");
    assert_null(strstr(text, "ed_4h_pct"));
    free(text);
}

/* The documented integer method, on worked examples. */
static void test_system_level_derivation(void **state)
{
    fx_t *fx = *state;

    /* Nothing reported: no system row at all. */
    assert_int_equal(s_sql_u64(fx, "SELECT count(*) FROM opel_system"), 0);

    /* One acute trust at 2: mean 2.00. */
    ASSERT_ACCEPTED(s_report(fx, RTD, 2, "acute", NULL, NULL));
    ASSERT_SYSTEM(fx, 2, 200);

    /* + mental health 1 (w2), ambulance 1 (w2), social care 1 (w1):
     * S = 6+2+2+1 = 11, W = 8 -> 1.375: score 138, level 1. */
    ASSERT_ACCEPTED(s_report(fx, RX4, 1, "mental_health", NULL, NULL));
    ASSERT_ACCEPTED(s_report(fx, RX6, 1, "ambulance", NULL, NULL));
    ASSERT_ACCEPTED(s_report(fx, LA, 1, "social_care", NULL, NULL));
    ASSERT_SYSTEM(fx, 1, 138);

    /* The acute trust at 4: S = 12+2+2+1 = 17 -> 2.125 (level 2), but a
     * provider at 4 raises the system to at least 3. */
    ASSERT_ACCEPTED(s_report(fx, RTD, 4, "acute", NULL, NULL));
    ASSERT_SYSTEM(fx, 3, 213);

    /* Ambulance at 4 too: those at 4 carry 3+2 = 5 of 8, half or more: 4.
     * S = 12+2+8+1 = 23 -> 2.875. */
    ASSERT_ACCEPTED(s_report(fx, RX6, 4, "ambulance", NULL, NULL));
    ASSERT_SYSTEM(fx, 4, 288);

    /* Back to a plain weighted mean, rounded half up: RTD 3, RX6 2, RX4 2,
     * LA 3: S = 9+4+4+3 = 20, W = 8 -> 2.5 -> level 3, score 250. */
    ASSERT_ACCEPTED(s_report(fx, RTD, 3, "acute", NULL, NULL));
    ASSERT_ACCEPTED(s_report(fx, RX6, 2, "ambulance", NULL, NULL));
    ASSERT_ACCEPTED(s_report(fx, RX4, 2, "mental_health", NULL, NULL));
    ASSERT_ACCEPTED(s_report(fx, LA, 3, "social_care", NULL, NULL));
    ASSERT_SYSTEM(fx, 3, 250);

    /* Every change was recorded, in order, with its basis. */
    char *text = s_query(fx, "opel.history", 0, NULL, NULL);
    ASSERT_CONTAINS(text, "2.88   2 of 4 reports at OPEL 4, carrying half the weight or more");
    ASSERT_CONTAINS(text, "2.13   RTD (acute) at OPEL 4 raises the weighted mean");
    ASSERT_CONTAINS(text, "2.50   weighted mean of 4 current reports");
    free(text);
}

/* Reports count for 24 hours of log time; the leader is told when. */
static void test_reports_go_stale_by_log_clock(void **state)
{
    fx_t *fx = *state;
    uint64_t t0;

    ASSERT_ACCEPTED(s_report(fx, RTD, 4, "acute", NULL, NULL));
    t0 = ics_fsm_clock(fx->fsm[0]);
    fx->now += 2 * HOUR;
    ASSERT_ACCEPTED(s_report(fx, RX4, 2, "mental_health", NULL, NULL));
    ASSERT_SYSTEM(fx, 4, 320); /* (12+4)/5 = 3.2; 3 of 5 at 4 */
    assert_int_equal(ics_fsm_next_deadline(fx->fsm[0]), t0 + 24 * HOUR);

    /* Just before: unchanged. At 24 hours: RTD's report no longer counts. */
    ASSERT_ACCEPTED(s_tick(fx, t0 + 24 * HOUR - 1));
    ASSERT_SYSTEM(fx, 4, 320);
    ASSERT_ACCEPTED(s_tick(fx, t0 + 24 * HOUR));
    ASSERT_SYSTEM(fx, 2, 200);
    uint64_t t1 = s_sql_u64(fx, "SELECT reported_ms FROM opel_reports WHERE org = 'RX4'");
    assert_int_equal(ics_fsm_next_deadline(fx->fsm[0]), t1 + 24 * HOUR);

    char *text = s_query(fx, "opel.show", 0, NULL, NULL);
    ASSERT_CONTAINS(text, "(not counted: older than 24 hours)");
    free(text);

    /* Then nothing is current: "not known". */
    ASSERT_ACCEPTED(s_tick(fx, t1 + 24 * HOUR));
    ASSERT_SYSTEM(fx, 0, 0);
    assert_int_equal(ics_fsm_next_deadline(fx->fsm[0]), 0);
    text = s_query(fx, "opel.show", 0, NULL, NULL);
    ASSERT_CONTAINS(text, "System OPEL: not known (no current reports)");
    free(text);
}

/* A removed member's report stops counting at the next clock move. */
static void test_removed_member_not_counted(void **state)
{
    fx_t *fx = *state;
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__MemberRemove rm = ICS__V1__MEMBER_REMOVE__INIT;

    ASSERT_ACCEPTED(s_report(fx, RTD, 2, "acute", NULL, NULL));
    ASSERT_ACCEPTED(s_report(fx, RTF, 4, "acute", NULL, NULL));
    ASSERT_SYSTEM(fx, 4, 300);
    rm.org = "RTF";
    cmd.body_case = ICS__V1__COMMAND__BODY_MEMBER_REMOVE;
    cmd.member_remove = &rm;
    ASSERT_ACCEPTED(s_send(fx, QHM, &cmd));
    ASSERT_ACCEPTED(s_tick(fx, fx->now + 1000));
    ASSERT_SYSTEM(fx, 2, 200);
    char *text = s_query(fx, "opel.show", 0, NULL, NULL);
    ASSERT_CONTAINS(text, "(not counted: no longer a member)");
    free(text);
    /* And a non-member cannot report at all. */
    ASSERT_REJECTED(s_report(fx, EVE, 1, "acute", NULL, NULL), "unknown organisation EVE");
}

/* The state survives a snapshot: the restored machine carries on alike. */
static void test_snapshot_restore(void **state)
{
    fx_t *fx = *state;
    uint8_t *img = NULL;
    size_t len = 0;
    ics_err_t err;

    ASSERT_ACCEPTED(s_report(fx, RTD, 4, "acute", NULL, "ed_4h_pct=61", NULL));
    assert_int_equal(ics_fsm_snapshot(fx->fsm[0], &img, &len), ICS_OK);
    ics_fsm_destroy(&fx->fsm[1]);
    fx->fsm[1] = ics_fsm_new(GROUP, &err);
    assert_non_null(fx->fsm[1]);
    assert_int_equal(ics_fsm_restore(fx->fsm[1], img, len, &err), ICS_OK);
    free(img);
    ASSERT_ACCEPTED(s_report(fx, RX6, 3, "ambulance", NULL, "cat2_mean_mins=61", NULL));
    char *text = s_query(fx, "opel.show", 0, NULL, NULL);
    ASSERT_CONTAINS(text, "cat2_mean_mins=61min");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_report_refusals, s_setup_genesis, s_teardown),
        cmocka_unit_test_setup_teardown(test_history_is_kept_and_shown, s_setup_genesis,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_system_level_derivation, s_setup_genesis,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_reports_go_stale_by_log_clock, s_setup_genesis,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_removed_member_not_counted, s_setup_genesis,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_restore, s_setup_genesis, s_teardown),
    };
    return cmocka_run_group_tests_name("opel", tests, NULL, NULL);
}
