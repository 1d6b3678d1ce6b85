/*
 * Domain events (daemon/events.c): what icsctl watch shows, derived from the
 * history of a real state machine. The events of an entry come out in the
 * order things happened, with stable numbers, the same whenever they are
 * asked for (later entries change nothing about earlier events), whether
 * derived entry by entry or a batch at a time, and a rejected entry's
 * refused act has none.
 *
 * Layout: fixture, helpers, assertions, scenarios.
 */
#include "fixture_fsm.h"

#include <stdlib.h>
#include <string.h>

#include "common/policyfile.h"
#include "events.h"

#define GROUP "nenc"
#define PLAN "jfp-2026"
#define HWB "HWB-E06000057"
#define HOUR 3600000ull

static const char *const s_orgs[] = {"QHM:icb", "RTD:foundation_trust", "RX4:mental_health",
                                     "E06000057:local_authority", "RX6:ambulance"};

static const fx_section_t s_sections[] = {
    {"intro", "Introduction", "We plan together."},
};

/* ---------------------------------------------------------------- fixture */

static void s_appoint(fx_fsm_t *fx, const char *org, const char *person, const char *role,
                      const char *scope)
{
    fx_person(fx, org, person, person);
    FX_ACCEPTED(fx_role(fx, strcmp(org, "QHM") == 0 || strcmp(role, "partner_trust") == 0 ||
                                    strcmp(role, "partner_local_authority") == 0
                                ? "QHM" : org,
                        org, person, role, scope));
}

static int s_setup(void **state)
{
    fx_fsm_t *fx = fx_fsm_new(GROUP, s_orgs, 5);
    Ics__V1__Policy *p = NULL;
    ics_err_t err;

    if (ics_policy_load(ICS_SOURCE_DIR "/deploy/examples/nenc-policy.ini", &p, &err) != ICS_OK)
        fail_msg("%s", err.msg);
    FX_ACCEPTED(fx_genesis(fx, p));
    ics__v1__policy__free_unpacked(p, NULL);
    FX_ACCEPTED(fx_org_register(fx, "E06000057", HWB, "hwb",
                                "Northumberland Health and Wellbeing Board", "E06000057"));
    s_appoint(fx, "QHM", "sam.allen", "chief_executive", NULL);
    s_appoint(fx, "QHM", "dr.strat", "strategy_director", NULL);
    s_appoint(fx, "E06000057", "cllr.peter.hall", "hwb_chair", HWB);
    FX_ACCEPTED(fx_person(fx, "RTD", "site.director", "Site Director"));
    FX_ACCEPTED(fx_plan_create(fx, "QHM", "dr.strat", PLAN, "Joint Forward Plan",
                               "2026/27-2030/31", s_sections, 1));
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fx_fsm_t *fx = *state;
    fx_fsm_destroy(&fx);
    return 0;
}

/* ---------------------------------------------------------------- helpers */

/* Every event of entries first..last, as the node would serve them. */
static void s_events(fx_fsm_t *fx, uint64_t first, uint64_t last, ics_events_t *out)
{
    uint64_t prev = 0;

    ics_events_clear(out);
    if (first > 1) {
        ics_log_entry_t e;
        assert_int_equal(ics_history_entry(fx->history, first - 1, &e), ICS_OK);
        prev = e.clock_ms;
        free(e.envelope);
    }
    for (uint64_t p = first; p <= last; p++) {
        ics_log_entry_t e;
        assert_int_equal(ics_history_entry(fx->history, p, &e), ICS_OK);
        assert_int_equal(ics_events_derive(ics_fsm_db(fx->fsm), &e, prev, out), ICS_OK);
        prev = e.clock_ms;
        free(e.envelope);
    }
}

/* The same, a batch of entries at a time, as a node serves watchers. */
static void s_events_batched(fx_fsm_t *fx, uint64_t first, uint64_t last, size_t batch,
                             ics_events_t *out)
{
    ics_log_entry_t e[16];
    uint64_t prev = 0;

    assert_true(batch <= 16);
    ics_events_clear(out);
    if (first > 1) {
        assert_int_equal(ics_history_entry(fx->history, first - 1, &e[0]), ICS_OK);
        prev = e[0].clock_ms;
        free(e[0].envelope);
    }
    for (uint64_t p = first; p <= last;) {
        size_t n = 0;
        for (; n < batch && p + n <= last; n++)
            assert_int_equal(ics_history_entry(fx->history, p + n, &e[n]), ICS_OK);
        assert_int_equal(ics_events_derive_batch(ics_fsm_db(fx->fsm), e, n, prev, out), ICS_OK);
        prev = e[n - 1].clock_ms;
        for (size_t i = 0; i < n; i++)
            free(e[i].envelope);
        p += n;
    }
}

/* Index in ev of the first event of kind at entry index (0: any) after
 * from, or -1. */
static long s_find(const ics_events_t *ev, const char *kind, uint64_t index, long from)
{
    for (size_t i = (size_t)(from + 1); i < ev->n; i++)
        if (strcmp(ev->v[i].kind, kind) == 0 && (index == 0 || ev->v[i].index == index))
            return (long)i;
    return -1;
}

/* ---------------------------------------------------------------- assertions */

#define ASSERT_EVENT_AFTER(ev, kind, index, after)                                          \
    ({                                                                                      \
        long at_ = s_find((ev), (kind), (index), (after));                                  \
        if (at_ < 0)                                                                        \
            fail_msg("no %s event (entry %llu) after event %ld", (kind),                    \
                     (unsigned long long)(index), (long)(after));                           \
        at_;                                                                                \
    })

static void s_assert_same(const ics_events_t *a, const ics_events_t *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->v[i].index, b->v[i].index);
        assert_int_equal(a->v[i].n, b->v[i].n);
        assert_string_equal(a->v[i].kind, b->v[i].kind);
        assert_string_equal(a->v[i].org, b->v[i].org);
        assert_string_equal(a->v[i].text, b->v[i].text);
    }
}

/* ---------------------------------------------------------------- scenarios */

static void aid_events_follow_the_request(void **state)
{
    fx_fsm_t *fx = *state;
    ics_events_t ev = {0};
    fx_aid_req_t q = fx_aid_beds(3);

    uint64_t first = fx->last.position + 1;
    ics_apply_result_t r = fx_aid_request(fx, "RTD", "site.director", &q);
    FX_ACCEPTED(r);
    ics_apply_result_t o = fx_aid_offer(fx, "RX4", NULL, r.position, 3, 0);
    FX_ACCEPTED(o);
    /* Someone else's offer cannot be accepted by RX4: rejected, no event. */
    ics_apply_result_t bad = fx_aid_accept(fx, "RX4", NULL, o.position, 3);
    assert_false(bad.accepted);
    FX_ACCEPTED(fx_aid_accept(fx, "RTD", "site.director", o.position, 3));
    uint64_t last = fx->last.position;

    s_events(fx, first, last, &ev);
    long a = ASSERT_EVENT_AFTER(&ev, "aid.requested", r.position, -1);
    long b = ASSERT_EVENT_AFTER(&ev, "aid.offered", o.position, a);
    long c = ASSERT_EVENT_AFTER(&ev, "aid.accepted", last, b);
    ASSERT_EVENT_AFTER(&ev, "aid.met", last, c);
    assert_string_equal(ev.v[a].org, "RTD");
    assert_string_equal(ev.v[a].actor, "site.director");
    assert_string_equal(ev.v[b].org, "RX4");
    assert_string_equal(ev.v[b].other, "RTD");
    assert_int_equal(ev.v[b].ref2, r.position);
    assert_string_equal(ev.v[c].other, "RX4");
    for (size_t i = 0; i < ev.n; i++)
        assert_true(ev.v[i].index != bad.position);
    /* Numbered within their entry from 0, in order. */
    for (size_t i = 1; i < ev.n; i++)
        if (ev.v[i].index == ev.v[i - 1].index)
            assert_int_equal(ev.v[i].n, ev.v[i - 1].n + 1);
        else
            assert_int_equal(ev.v[i].n, 0);
    /* Filters: a family by prefix, one kind, an organisation on either side. */
    char *aid[] = {"aid"}, *offered[] = {"aid.offered"}, *rtd[] = {"RTD"}, *qhm[] = {"QHM"},
         *ai[] = {"ai"};
    assert_true(ics_event_matches(&ev.v[b], aid, 1, NULL, 0));
    assert_true(ics_event_matches(&ev.v[b], offered, 1, rtd, 1));
    assert_false(ics_event_matches(&ev.v[a], offered, 1, NULL, 0));
    assert_false(ics_event_matches(&ev.v[b], NULL, 0, qhm, 1));
    assert_false(ics_event_matches(&ev.v[b], ai, 1, NULL, 0));
    ics_events_free(&ev);
}

static void derived_events_are_a_function_of_the_log(void **state)
{
    fx_fsm_t *fx = *state;
    ics_events_t before = {0}, after = {0};
    const char *consultees[] = {"kind:hwb", NULL};

    uint64_t first = fx->last.position + 1;
    ics_apply_result_t c = fx_motion_consult(fx, "QHM", "sam.allen", PLAN, 1, 0,
                                             fx->now + HOUR, consultees);
    FX_ACCEPTED(c);
    FX_ACCEPTED(fx_respond(fx, "E06000057", "cllr.peter.hall", c.position, HWB,
                           ICS__V1__STANCE__STANCE_SUPPORT, "We support it.",
                           ICS__V1__OPINION__OPINION_YES, "It takes account of our priorities."));
    ics_apply_result_t tick = fx_tick(fx, fx->now + 2 * HOUR);
    FX_ACCEPTED(tick);
    uint64_t last = fx->last.position;

    s_events(fx, first, last, &before);
    long m = ASSERT_EVENT_AFTER(&before, "motion.opened", c.position, -1);
    long d = ASSERT_EVENT_AFTER(&before, "motion.decided", 0, m);
    long o = ASSERT_EVENT_AFTER(&before, "consultation.opened", 0, d - 1);
    ASSERT_EVENT_AFTER(&before, "consultation.closing_soon", 0, o);
    long r = ASSERT_EVENT_AFTER(&before, "consultation.responded", 0, o);
    ASSERT_EVENT_AFTER(&before, "consultation.closed", tick.position, r);

    /* Later entries (another report, another tick) change nothing before. */
    FX_ACCEPTED(fx_opel(fx, "RTD", "site.director", 4, "acute", "full", NULL));
    FX_ACCEPTED(fx_tick(fx, fx->now + 48 * HOUR));
    s_events(fx, first, last, &after);
    s_assert_same(&before, &after);
    /* A batch at a time: the same. */
    s_events_batched(fx, first, last, 3, &after);
    s_assert_same(&before, &after);
    s_events_batched(fx, first, last, 16, &after);
    s_assert_same(&before, &after);
    /* Resuming from the middle gives the tail of the same list. */
    s_events(fx, c.position + 1, last, &after);
    size_t skip = 0;
    while (skip < before.n && before.v[skip].index <= c.position)
        skip++;
    assert_int_equal(after.n, before.n - skip);
    for (size_t i = 0; i < after.n; i++)
        assert_string_equal(after.v[i].text, before.v[skip + i].text);
    ics_events_free(&before);
    ics_events_free(&after);
}

static void a_refused_entry_keeps_the_deadlines_its_time_closed(void **state)
{
    fx_fsm_t *fx = *state;
    ics_events_t ev = {0};
    const char *consultees[] = {"kind:hwb", NULL};

    ics_apply_result_t c = fx_motion_consult(fx, "QHM", "sam.allen", PLAN, 1, 0,
                                             fx->now + HOUR, consultees);
    FX_ACCEPTED(c);
    /* Signed two hours later and refused: the consultation closed first. */
    fx->now += 2 * HOUR;
    ics_apply_result_t bad = fx_aid_accept(fx, "RX4", NULL, 999999, 1);
    assert_false(bad.accepted);
    s_events(fx, bad.position, bad.position, &ev);
    assert_int_equal(ev.n, 1);
    assert_string_equal(ev.v[0].kind, "consultation.closed");
    assert_int_equal(ev.v[0].ref, c.position);
    assert_int_equal(ev.v[0].n, 0);
    assert_string_equal(ev.v[0].actor, "");
    ics_events_free(&ev);
}

static void a_report_moves_the_system_level(void **state)
{
    fx_fsm_t *fx = *state;
    ics_events_t ev = {0};

    ics_apply_result_t r = fx_opel(fx, "RTD", "site.director", 4, "acute", "full", NULL);
    FX_ACCEPTED(r);
    s_events(fx, r.position, r.position, &ev);
    long a = ASSERT_EVENT_AFTER(&ev, "opel.reported", r.position, -1);
    assert_string_equal(ev.v[a].org, "RTD");
    ASSERT_EVENT_AFTER(&ev, "opel.changed", r.position, a);
    ics_events_free(&ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(aid_events_follow_the_request, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(derived_events_are_a_function_of_the_log, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(a_refused_entry_keeps_the_deadlines_its_time_closed,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(a_report_moves_the_system_level, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
