/*
 * Consultation rounds: opening (at once or scheduled) by decision,
 * consultees by organisation and by kind, responses and revisions, the HWB
 * statutory opinion, closing at the deadline by the log's clock or early by
 * decision, the summary, every refusal (late, not a consultee, acting for
 * someone without the role, missing opinion), and the adoption rule that
 * needs every HWB's opinion on record.
 */
#include "fixture_fsm.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GROUP "nenc"
#define PLAN "jfp-2026"
#define HWB "HWB-E06000057"
#define HOUR 3600000ull

static const char *const s_orgs[] = {"QHM:icb", "RTD:foundation_trust", "RX4:mental_health",
                                     "E06000057:local_authority", "RX6:ambulance"};

static const fx_section_t s_sections[] = {
    {"intro", "Introduction", "We plan together."},
    {"urgent-care", "Urgent and emergency care", "Reduce ambulance handover delays."},
};

static const char *const s_consultees[] = {"kind:hwb", "RTD", "RX4", NULL};

/* ---------------------------------------------------------------- fixture */

static int s_setup(void **state)
{
    fx_fsm_t *fx = fx_fsm_new(GROUP, s_orgs, 5);
    FX_ACCEPTED(fx_genesis(fx, NULL));
    FX_ACCEPTED(fx_person(fx, "QHM", "sir.liam", "Sir Liam Donaldson"));
    FX_ACCEPTED(fx_role(fx, "QHM", "QHM", "sir.liam", "chair", NULL));
    FX_ACCEPTED(fx_person(fx, "QHM", "sam.allen", "Samantha Allen"));
    FX_ACCEPTED(fx_role(fx, "QHM", "QHM", "sam.allen", "chief_executive", NULL));
    FX_ACCEPTED(fx_person(fx, "RTD", "dr.amina.khan", "Dr Amina Khan"));
    FX_ACCEPTED(fx_person(fx, "RX4", "prof.mh", "Prof M H"));
    FX_ACCEPTED(fx_person(fx, "RX6", "ops", "Ops"));
    FX_ACCEPTED(fx_person(fx, "E06000057", "cllr.peter.hall", "Cllr Peter Hall"));
    FX_ACCEPTED(fx_person(fx, "E06000057", "officer", "An officer"));
    /* The council registers its health and wellbeing board and appoints
     * the councillor who chairs it to act for it. */
    FX_ACCEPTED(fx_org_register(fx, "E06000057", HWB, "hwb",
                                "Northumberland Health and Wellbeing Board", "E06000057"));
    FX_ACCEPTED(fx_role(fx, "E06000057", "E06000057", "cllr.peter.hall", "hwb_chair", HWB));
    FX_ACCEPTED(fx_plan_create(fx, "QHM", "sam.allen", PLAN, "Joint Forward Plan",
                               "2026/27-2030/31", s_sections, 2));
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fx_fsm_t *fx = *state;
    fx_fsm_destroy(&fx);
    return 0;
}

/* Opens a consultation on version 1 closing in `hours`; returns its number. */
static uint64_t s_open(fx_fsm_t *fx, uint64_t opens, uint64_t hours)
{
    ics_apply_result_t r = fx_motion_consult(fx, "QHM", "sam.allen", PLAN, 1, opens,
                                             fx->now + hours * HOUR, s_consultees);
    FX_ACCEPTED(r);
    return r.position;
}

static char *s_show(fx_fsm_t *fx, const char *query, uint64_t id)
{
    char arg[24];
    snprintf(arg, sizeof arg, "%llu", (unsigned long long)id);
    return fx_query(fx, false, query, arg, NULL);
}

static ics_apply_result_t s_hwb_says(fx_fsm_t *fx, uint64_t c, Ics__V1__Opinion o)
{
    return fx_respond(fx, "E06000057", "cllr.peter.hall", c, HWB,
                      ICS__V1__STANCE__STANCE_SUPPORT_WITH_CHANGES, "Good, with changes.", o,
                      "It reflects our strategy's priorities on healthy ageing.");
}

/* ---------------------------------------------------------------- lifecycle */

static void test_open_respond_close_at_deadline(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t c = s_open(fx, 0, 2);
    char *t = s_show(fx, "consult.show", c);

    FX_CONTAINS(t, "on plan jfp-2026 version 1: open", HWB,
                "Northumberland Health and Wellbeing Board (hwb)", "no response yet");
    free(t);
    FX_ACCEPTED(fx_respond(fx, "RTD", "dr.amina.khan", c, NULL, ICS__V1__STANCE__STANCE_SUPPORT,
                           "We support the plan.", 0, NULL));
    FX_ACCEPTED(s_hwb_says(fx, c, ICS__V1__OPINION__OPINION_YES));
    assert_true(ics_fsm_next_deadline(fx->fsm) > 0);
    /* The deadline passes by the log's clock: the round closes itself. */
    FX_ACCEPTED(fx_tick(fx, fx->now + 3 * HOUR));
    t = s_show(fx, "consult.summary", c);
    FX_CONTAINS(t, "closed at ", "(its deadline)", "2 of 3 consultees responded",
                "support                1", "support with changes   1",
                "DID NOT RESPOND", "RX4 ", "Organisation RX4",
                "HWB OPINIONS ON RECORD", HWB "    yes",
                "It reflects our strategy's priorities on healthy ageing.");
    free(t);
    t = s_show(fx, "consult.show", c);
    FX_CONTAINS(t, "takes proper account of the joint local health and wellbeing strategy: yes",
                "by E06000057 cllr.peter.hall as hwb_chair");
    free(t);
    t = fx_query(fx, false, "consult.list", PLAN, NULL);
    FX_CONTAINS(t, "closed", "2 of 3");
    free(t);
}

static void test_scheduled_round_opens_by_the_clock(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t opens = fx->now + HOUR;
    uint64_t c = s_open(fx, opens, 3);
    char *t = s_show(fx, "consult.show", c);

    FX_CONTAINS(t, ": scheduled");
    free(t);
    t = s_show(fx, "motion.show", c);
    FX_CONTAINS(t, "consultation", "opens at 2026-01-01T");
    free(t);
    FX_REJECTED(fx_respond(fx, "RTD", "dr.amina.khan", c, NULL, ICS__V1__STANCE__STANCE_SUPPORT,
                           NULL, 0, NULL),
                "opens at 2026-01-01T", "respond then");
    assert_int_equal(ics_fsm_next_deadline(fx->fsm), opens);
    FX_ACCEPTED(fx_tick(fx, opens));
    FX_ACCEPTED(fx_respond(fx, "RTD", "dr.amina.khan", c, NULL, ICS__V1__STANCE__STANCE_SUPPORT,
                           NULL, 0, NULL));
}

static void test_late_response_refused_with_closing_time(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t closes = fx->now + HOUR;
    uint64_t c = s_open(fx, 0, 1);
    char want[200], when[32];
    time_t secs = (time_t)(closes / 1000);
    struct tm tm;

    FX_ACCEPTED(fx_tick(fx, fx->now + 2 * HOUR));
    gmtime_r(&secs, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(want, sizeof want, "too late: consultation %llu on jfp-2026 version 1 closed at %s "
             "(its deadline); responses are no longer accepted", (unsigned long long)c, when);
    FX_REJECTED(fx_respond(fx, "RTD", "dr.amina.khan", c, NULL, ICS__V1__STANCE__STANCE_OBJECT,
                           "Too late?", 0, NULL), want);
}

static void test_revisions_until_closing(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t c = s_open(fx, 0, 2);

    FX_ACCEPTED(fx_respond(fx, "RTD", "dr.amina.khan", c, NULL, ICS__V1__STANCE__STANCE_SUPPORT,
                           "Yes.", 0, NULL));
    FX_REJECTED(fx_respond(fx, "RTD", "dr.amina.khan", c, NULL, ICS__V1__STANCE__STANCE_SUPPORT,
                           "Yes.", 0, NULL),
                "RTD's response to consultation", "already says exactly this (revision 1)");
    FX_ACCEPTED(fx_respond(fx, "RTD", "dr.amina.khan", c, NULL, ICS__V1__STANCE__STANCE_OBJECT,
                           "On reflection, no: the bed base is too small.", 0, NULL));
    char *t = s_show(fx, "consult.summary", c);
    FX_CONTAINS(t, "RTD              object                 2 revisions", "object                 1",
                "NOT RESPONDED YET");
    free(t);
    t = s_show(fx, "consult.show", c);
    FX_CONTAINS(t, "object (revision 2", "the bed base is too small");
    free(t);
}

/* ---------------------------------------------------------------- refusals */

static void test_response_refusals(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t c = s_open(fx, 0, 2);
    char want[120];

    snprintf(want, sizeof want, "RX6 is not a consultee of consultation %llu",
             (unsigned long long)c);
    FX_REJECTED(fx_respond(fx, "RX6", "ops", c, NULL, ICS__V1__STANCE__STANCE_SUPPORT, NULL, 0,
                           NULL), want);
    FX_REJECTED(fx_respond(fx, "E06000057", "officer", c, HWB,
                           ICS__V1__STANCE__STANCE_SUPPORT, NULL,
                           ICS__V1__OPINION__OPINION_YES, "fine"),
                "officer of E06000057 may not respond for HWB-E06000057: that needs a role "
                "acting for it");
    FX_REJECTED(fx_respond(fx, "E06000057", "cllr.peter.hall", c, HWB,
                           ICS__V1__STANCE__STANCE_SUPPORT, NULL, 0, NULL),
                "HWB-E06000057 is a health and wellbeing board: its response must say whether "
                "the draft takes proper account of its joint local health and wellbeing strategy");
    FX_REJECTED(fx_respond(fx, "E06000057", "cllr.peter.hall", c, HWB,
                           ICS__V1__STANCE__STANCE_SUPPORT, NULL, ICS__V1__OPINION__OPINION_NO,
                           NULL),
                "give the health and wellbeing board's reasons");
    FX_REJECTED(fx_respond(fx, "RTD", "dr.amina.khan", c, NULL, ICS__V1__STANCE__STANCE_SUPPORT,
                           NULL, ICS__V1__OPINION__OPINION_YES, "x"),
                "only a health and wellbeing board gives the statutory opinion; RTD is "
                "foundation_trust");
    FX_REJECTED(fx_respond(fx, "RTD", "dr.amina.khan", c, NULL,
                           ICS__V1__STANCE__STANCE_UNSPECIFIED, NULL, 0, NULL),
                "a response takes a position");
    FX_REJECTED(fx_respond(fx, "RTD", "nobody", c, NULL, ICS__V1__STANCE__STANCE_SUPPORT, NULL, 0,
                           NULL), "nobody is not registered as acting for RTD");
    FX_REJECTED(fx_respond(fx, "RTD", "dr.amina.khan", 424242, NULL,
                           ICS__V1__STANCE__STANCE_SUPPORT, NULL, 0, NULL),
                "there is no consultation 424242");
}

static void test_open_refusals(void **state)
{
    fx_fsm_t *fx = *state;
    const char *unknown[] = {"NHSE", NULL}, *nokind[] = {"kind:icp", NULL}, *none[] = {NULL};

    FX_REJECTED(fx_motion_consult(fx, "QHM", "sam.allen", PLAN, 1, 0, fx->now - HOUR,
                                  s_consultees),
                "the closing time", "has already passed by the log's clock");
    FX_REJECTED(fx_motion_consult(fx, "QHM", "sam.allen", PLAN, 1, 0, fx->now + HOUR, unknown),
                "consultee NHSE is not an organisation known to the group",
                "icsctl people org add NHSE");
    FX_REJECTED(fx_motion_consult(fx, "QHM", "sam.allen", PLAN, 1, 0, fx->now + HOUR, nokind),
                "no organisation of kind icp is known to the group");
    FX_REJECTED(fx_motion_consult(fx, "QHM", "sam.allen", PLAN, 1, 0, fx->now + HOUR, none),
                "a consultation names 1 to 64 consultees");
    FX_REJECTED(fx_motion_consult(fx, "QHM", "sam.allen", PLAN, 7, 0, fx->now + HOUR,
                                  s_consultees),
                "plan jfp-2026 has versions 1 to 1; there is no version 7");
    /* Registering NHS England makes it a possible consultee. */
    FX_ACCEPTED(fx_org_register(fx, "QHM", "NHSE", "nhse", "NHS England", NULL));
    FX_ACCEPTED(fx_motion_consult(fx, "QHM", "sam.allen", PLAN, 1, 0, fx->now + HOUR, unknown));
    /* Only the administrator or the parent registers an organisation. */
    FX_REJECTED(fx_org_register(fx, "RTD", "HW-NEWCASTLE", "healthwatch", "Healthwatch Newcastle",
                                NULL),
                "only the membership administrator, or the organisation's parent member");
    FX_REJECTED(fx_org_register(fx, "QHM", "RTD", "trust", "x", NULL),
                "RTD is a member of the group");
}

/* ---------------------------------------------------------------- closing early, adoption */

static void test_close_early_by_decision(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t c = s_open(fx, 0, 48);
    char want[160];

    FX_ACCEPTED(fx_respond(fx, "RTD", "dr.amina.khan", c, NULL, ICS__V1__STANCE__STANCE_SUPPORT,
                           NULL, 0, NULL));
    /* The chair closes it early (the default scheme delegates that to the chair). */
    ics_apply_result_t m = fx_motion_close(fx, "QHM", "sir.liam", c);
    FX_ACCEPTED(m);
    char *t = s_show(fx, "consult.summary", c);
    snprintf(want, sizeof want, "by motion %llu", (unsigned long long)m.position);
    FX_CONTAINS(t, "closed early at", want, HWB "    not received",
                "the consultation was closed early by motion");
    free(t);
    snprintf(want, sizeof want, "consultation %llu is already closed early",
             (unsigned long long)c);
    FX_REJECTED(fx_motion_close(fx, "QHM", "sir.liam", c), want);
    /* A board cannot adopt a version whose HWB never had its full say. */
    snprintf(want, sizeof want, "HWB-E06000057 gave no opinion and consultation %llu was closed "
             "early", (unsigned long long)c);
    FX_REJECTED(fx_motion_adopt(fx, "QHM", "sir.liam", PLAN, 1), want);
}

static void test_close_motion_lapses_at_the_deadline(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t c = s_open(fx, 0, 1);
    char want[120];

    /* Anyone may ask for an early close; the chair has not decided. */
    ics_apply_result_t m = fx_motion_close(fx, "RTD", "dr.amina.khan", c);
    FX_ACCEPTED(m);
    FX_ACCEPTED(fx_tick(fx, fx->now + 2 * HOUR));
    char *t = s_show(fx, "motion.show", m.position);
    snprintf(want, sizeof want, "lapsed: consultation %llu closed (its deadline)",
             (unsigned long long)c);
    FX_CONTAINS(t, "status       lapsed", want);
    free(t);
}

static void test_adoption_needs_hwb_opinions_on_record(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t c;
    char want[200];

    FX_REJECTED(fx_motion_adopt(fx, "QHM", "sir.liam", PLAN, 1),
                "version 1 of plan jfp-2026 has not been consulted on; open a consultation on "
                "it (icsctl consult open) and let it close first");
    c = s_open(fx, 0, 2);
    snprintf(want, sizeof want, "consultation %llu on version 1 of plan jfp-2026 has not closed "
             "yet", (unsigned long long)c);
    FX_REJECTED(fx_motion_adopt(fx, "QHM", "sir.liam", PLAN, 1), want);
    /* The HWB says nothing; the deadline passes: "not received" is on record. */
    FX_ACCEPTED(fx_tick(fx, fx->now + 3 * HOUR));
    char *t = s_show(fx, "consult.show", c);
    FX_CONTAINS(t, HWB "    not received", "not received by the deadline");
    free(t);
    /* An HWB the group learns of later was not consulted: consult again. */
    FX_ACCEPTED(fx_org_register(fx, "QHM", "HWB-E08000021", "hwb",
                                "Newcastle Health and Wellbeing Board", NULL));
    snprintf(want, sizeof want, "Newcastle Health and Wellbeing Board (HWB-E08000021) was not a "
             "consultee of consultation %llu", (unsigned long long)c);
    FX_REJECTED(fx_motion_adopt(fx, "QHM", "sir.liam", PLAN, 1), want);
    c = s_open(fx, 0, 1);
    FX_ACCEPTED(s_hwb_says(fx, c, ICS__V1__OPINION__OPINION_NO));
    FX_ACCEPTED(fx_tick(fx, fx->now + 2 * HOUR));
    /* Now every HWB's opinion (or its absence at the deadline) is on record. */
    FX_ACCEPTED(fx_motion_adopt(fx, "QHM", "sir.liam", PLAN, 1));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, s_setup, s_teardown)
    const struct CMUnitTest tests[] = {
        T(test_open_respond_close_at_deadline),
        T(test_scheduled_round_opens_by_the_clock),
        T(test_late_response_refused_with_closing_time),
        T(test_revisions_until_closing),
        T(test_response_refusals),
        T(test_open_refusals),
        T(test_close_early_by_decision),
        T(test_close_motion_lapses_at_the_deadline),
        T(test_adoption_needs_hwb_opinions_on_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
