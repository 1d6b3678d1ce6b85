/*
 * Joint forward plans and amendments: creation, numbered immutable versions
 * with content hashes, every amendment operation, acceptance (a motion
 * decided by the chief executive under the default scheme), rejection,
 * withdrawal, supersession, the stale-amendment refusal with its rebase
 * advice, and what people read: plan show / history / diff / publish,
 * amend list / show.
 */
#include "fixture_fsm.h"

#include <stdlib.h>
#include <string.h>

#define GROUP "nenc"
#define PLAN "jfp-2026"

static const char *const s_orgs[] = {"QHM:icb", "RTD:foundation_trust", "RX4:mental_health",
                                     "E06000057:local_authority", "RX6:ambulance"};

static const fx_section_t s_sections[] = {
    {"intro", "Introduction", "Our partnership serves three million people.\n\nWe plan together."},
    {"urgent-care", "Urgent and emergency care",
     "Reduce ambulance handover delays.\n\nExpand same-day emergency care."},
    {"finance", "Finance", "Live within our allocation."},
};

/* ---------------------------------------------------------------- fixture */

static int s_setup(void **state)
{
    fx_fsm_t *fx = fx_fsm_new(GROUP, s_orgs, 5);
    FX_ACCEPTED(fx_genesis(fx, NULL));
    FX_ACCEPTED(fx_person(fx, "QHM", "sam.allen", "Samantha Allen"));
    FX_ACCEPTED(fx_role(fx, "QHM", "QHM", "sam.allen", "chief_executive", NULL));
    FX_ACCEPTED(fx_person(fx, "QHM", "jane.doe", "Jane Doe"));
    FX_ACCEPTED(fx_person(fx, "RTD", "dr.amina.khan", "Dr Amina Khan"));
    FX_ACCEPTED(fx_person(fx, "RX4", "prof.mh", "Prof M H"));
    FX_ACCEPTED(fx_plan_create(fx, "QHM", "jane.doe", PLAN, "Joint Forward Plan 2026/27 to 2030/31",
                               "2026/27-2030/31", s_sections, 3));
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

static uint64_t s_replace(fx_fsm_t *fx, const char *org, const char *person, uint32_t base,
                          const char *section, const char *text, const char *why)
{
    ics_apply_result_t r = fx_amend(fx, org, person, PLAN, base, ICS__V1__AMEND_OP__AMEND_REPLACE,
                                    section, NULL, text, 0, NULL, why);
    FX_ACCEPTED(r);
    return r.position;
}

/* The chief executive accepts the amendment (decided at once). */
static void s_accept(fx_fsm_t *fx, uint64_t amendment)
{
    FX_ACCEPTED(fx_motion_accept(fx, "QHM", "sam.allen", amendment));
}

#define ASSERT_PLAN_VERSION(fx, v)                                                          \
    do {                                                                                    \
        char *t_ = fx_query((fx), true, "plan.show", PLAN, NULL);                           \
        char want_[32];                                                                     \
        snprintf(want_, sizeof want_, "\"latest\":%u", (unsigned)(v));                      \
        FX_CONTAINS(t_, want_);                                                             \
        free(t_);                                                                           \
    } while (0)

#define ASSERT_AMENDMENT(fx, id, status)                                                    \
    do {                                                                                    \
        char id_[24];                                                                       \
        snprintf(id_, sizeof id_, "%llu", (unsigned long long)(id));                        \
        char *t_ = fx_query((fx), true, "amend.show", id_, NULL);                           \
        FX_CONTAINS(t_, "\"status\":\"" status "\"");                                       \
        free(t_);                                                                           \
    } while (0)

/* ---------------------------------------------------------------- plans */

static void test_plan_created_as_version_1(void **state)
{
    fx_fsm_t *fx = *state;
    char *t = fx_query(fx, false, "plan.show", PLAN, NULL);

    /* The period is kept as typed: it is part of the content hash. */
    FX_CONTAINS(t, "Joint Forward Plan 2026/27 to 2030/31 (2026/27-2030/31)",
                "plan jfp-2026, version 1 of 1, draft (no version adopted yet); content hash ",
                "created by QHM (jane.doe)", "== 2. Urgent and emergency care  [urgent-care]",
                "Expand same-day emergency care.");
    free(t);
    t = fx_query(fx, false, "plan.list", NULL);
    FX_CONTAINS(t, "jfp-2026", "Joint Forward Plan");
    free(t);
    t = fx_query(fx, true, "plan.show", PLAN, "1", NULL);
    FX_CONTAINS(t, "\"version\":1", "\"adopted\":0", "\"id\":\"finance\"");
    free(t);
    /* Each accepted separator is kept as typed, none is rewritten. */
    FX_ACCEPTED(fx_plan_create(fx, "QHM", "jane.doe", "p-dash", "T",
                               "2026/27\xe2\x80\x93" "2030/31", s_sections, 1));
    FX_ACCEPTED(fx_plan_create(fx, "QHM", "jane.doe", "p-to", "T", "2026/27 to 2030/31",
                               s_sections, 1));
    t = fx_query(fx, false, "plan.show", "p-dash", NULL);
    FX_CONTAINS(t, "T (2026/27\xe2\x80\x93" "2030/31)");
    free(t);
    t = fx_query(fx, false, "plan.show", "p-to", NULL);
    FX_CONTAINS(t, "T (2026/27 to 2030/31)");
    free(t);
}

static void test_plan_create_refusals(void **state)
{
    fx_fsm_t *fx = *state;

    FX_REJECTED(fx_plan_create(fx, "RTD", "nobody", "p2", "T", "2026/27-2030/31", s_sections, 1),
                "nobody is not registered as acting for RTD",
                "icsctl people register nobody");
    FX_REJECTED(fx_plan_create(fx, "RTD", "dr.amina.khan", PLAN, "T", "2026/27-2030/31",
                               s_sections, 1), "plan jfp-2026 already exists");
    FX_REJECTED(fx_plan_create(fx, "RTD", "dr.amina.khan", "p2", "T", "2026-2031", s_sections, 1),
                "period '2026-2031' is not a range of financial years such as 2026/27-2030/31");
    FX_REJECTED(fx_plan_create(fx, "RTD", "dr.amina.khan", "p2", "T", "2026/27-2030/31",
                               s_sections, 0), "a plan has 1 to 200 sections; 0 given");
    FX_REJECTED(fx_plan_create(fx, "RTD", "dr.amina.khan", "P 2", "T", "2026/27-2030/31",
                               s_sections, 1), "plan id 'P 2' is not valid");
    const fx_section_t twice[] = {s_sections[0], s_sections[0]};
    FX_REJECTED(fx_plan_create(fx, "RTD", "dr.amina.khan", "p2", "T", "2026/27-2030/31", twice, 2),
                "section intro is given twice");
    char msg[256];
    assert_int_equal(fx_query_fail(fx, msg, sizeof msg, "plan.show", "nope", NULL), ICS_ENOENT);
    FX_CONTAINS(msg, "there is no plan nope");
    assert_int_equal(fx_query_fail(fx, msg, sizeof msg, "plan.show", PLAN, "9", NULL),
                     ICS_ENOENT);
    FX_CONTAINS(msg, "plan jfp-2026 has versions 1 to 1");
}

/* ---------------------------------------------------------------- amendments */

static void test_accepted_amendment_makes_a_new_version(void **state)
{
    fx_fsm_t *fx = *state;
    char *before = fx_query(fx, true, "plan.show", PLAN, NULL);
    uint64_t a = s_replace(fx, "RTD", "dr.amina.khan", 1, "urgent-care",
                           "Reduce ambulance handover delays to under 30 minutes.\n\n"
                           "Expand same-day emergency care.",
                           "Handover target agreed with NEAS");
    char id[24], *t;

    ASSERT_AMENDMENT(fx, a, "proposed");
    snprintf(id, sizeof id, "%llu", (unsigned long long)a);
    t = fx_query(fx, false, "amend.show", id, NULL);
    FX_CONTAINS(t, "proposed by  RTD (dr.amina.khan)", "change       replace section urgent-care",
                "-Reduce ambulance handover delays.",
                "+Reduce ambulance handover delays to under 30 minutes.",
                " Expand same-day emergency care.");
    free(t);
    ASSERT_PLAN_VERSION(fx, 1);
    s_accept(fx, a);
    ASSERT_PLAN_VERSION(fx, 2);
    ASSERT_AMENDMENT(fx, a, "accepted");
    t = fx_query(fx, false, "plan.show", PLAN, NULL);
    FX_CONTAINS(t, "version 2 of 2", "made by amendment", "under 30 minutes");
    free(t);
    /* Version 1 is unchanged and has another hash. */
    t = fx_query(fx, false, "plan.show", PLAN, "1", NULL);
    FX_LACKS(t, "under 30 minutes");
    free(t);
    t = fx_query(fx, true, "plan.show", PLAN, "1", NULL);
    char *hash1 = strstr(before, "\"hash\":\"");
    assert_non_null(hash1);
    assert_non_null(strstr(t, hash1 == NULL ? "" : "\"hash\":\""));
    assert_memory_equal(strstr(t, "\"hash\":\""), hash1, 73);
    free(t);
    t = fx_query(fx, true, "plan.show", PLAN, "2", NULL);
    assert_memory_not_equal(strstr(t, "\"hash\":\""), hash1, 73);
    free(t);
    free(before);
    t = fx_query(fx, false, "plan.history", PLAN, NULL);
    FX_CONTAINS(t, "created with 3 sections", "RTD dr.amina.khan",
                "replace urgent-care: Handover target agreed with NEAS", "-> version 2");
    free(t);
    t = fx_query(fx, false, "amend.list", PLAN, "accepted", NULL);
    FX_CONTAINS(t, "accepted (version 2)");
    free(t);
}

static void test_stale_amendment_refused_with_rebase_advice(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t a = s_replace(fx, "RTD", "dr.amina.khan", 1, "urgent-care", "Handovers in 30 minutes.",
                           "Handover target");
    char want[200];

    s_accept(fx, a);
    /* A change to the same section against version 1: a conflict, never merged. */
    snprintf(want, sizeof want, "section urgent-care changed in version 2 (amendment %llu, "
             "RTD dr.amina.khan) after your base version 1", (unsigned long long)a);
    FX_REJECTED(fx_amend(fx, "RX4", "prof.mh", PLAN, 1, ICS__V1__AMEND_OP__AMEND_INSERT,
                         "urgent-care", NULL, "Crisis teams in every ED.", 0, NULL,
                         "Mental health crisis"),
                "stale amendment: ", want, "nothing was merged",
                "Rebase: icsctl plan diff jfp-2026 1 2, then propose again with --base 2");
    ASSERT_PLAN_VERSION(fx, 2);
    /* Another section, untouched since version 1, can still be amended from it. */
    FX_ACCEPTED(fx_amend(fx, "RX4", "prof.mh", PLAN, 1, ICS__V1__AMEND_OP__AMEND_INSERT,
                         "finance", NULL, "Invest in mental health.", 0, NULL, "Parity"));
    /* ... and the same change rebased on version 2 is fine. */
    FX_ACCEPTED(fx_amend(fx, "RX4", "prof.mh", PLAN, 2, ICS__V1__AMEND_OP__AMEND_INSERT,
                         "urgent-care", NULL, "Crisis teams in every ED.", 0, NULL,
                         "Mental health crisis"));
}

static void test_pending_amendment_superseded_and_its_motion_lapses(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t a = s_replace(fx, "RTD", "dr.amina.khan", 1, "urgent-care", "Version A.", "A");
    uint64_t b = s_replace(fx, "RX4", "prof.mh", 1, "urgent-care", "Version B.", "B");
    char id[24], *t;

    /* Anyone may ask for b to be accepted; the chief executive has not decided. */
    ics_apply_result_t m = fx_motion_accept(fx, "RX4", "prof.mh", b);
    FX_ACCEPTED(m);
    s_accept(fx, a);
    ASSERT_AMENDMENT(fx, b, "superseded");
    snprintf(id, sizeof id, "%llu", (unsigned long long)b);
    t = fx_query(fx, false, "amend.show", id, NULL);
    FX_CONTAINS(t, "status       superseded at index", "section urgent-care changed in version 2");
    free(t);
    snprintf(id, sizeof id, "%llu", (unsigned long long)m.position);
    t = fx_query(fx, false, "motion.show", id, NULL);
    FX_CONTAINS(t, "status       lapsed", "was superseded");
    free(t);
    /* Losing the race repeats what changed and how to rebase. */
    char want[160];
    snprintf(want, sizeof want, "amendment %llu was superseded: section urgent-care changed in "
             "version 2", (unsigned long long)b);
    FX_REJECTED(fx_motion_accept(fx, "QHM", "sam.allen", b), want);
    FX_REJECTED(fx_motion_accept(fx, "QHM", "sam.allen", b),
                "Rebase: icsctl plan diff " PLAN " 1 2, then propose again with --base 2");
}

static void test_withdrawal(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t a = s_replace(fx, "RTD", "dr.amina.khan", 1, "finance", "Break even.", "Clarity");
    char want[120];

    snprintf(want, sizeof want, "only RTD, which proposed amendment %llu, may withdraw it",
             (unsigned long long)a);
    FX_REJECTED(fx_amend_withdraw(fx, "RX4", "prof.mh", a, NULL), want);
    FX_ACCEPTED(fx_amend_withdraw(fx, "RTD", "dr.amina.khan", a, "not needed"));
    ASSERT_AMENDMENT(fx, a, "withdrawn");
    snprintf(want, sizeof want, "amendment %llu is withdrawn; only a proposed amendment can be "
             "withdrawn", (unsigned long long)a);
    FX_REJECTED(fx_amend_withdraw(fx, "RTD", "dr.amina.khan", a, NULL), want);
    FX_REJECTED(fx_amend_withdraw(fx, "RTD", "dr.amina.khan", 999999, NULL),
                "there is no amendment 999999");
}

static void test_rejected_when_the_decision_goes_against_it(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t a = s_replace(fx, "RTD", "dr.amina.khan", 1, "finance", "Spend more.", "Growth");
    ics_apply_result_t m = fx_motion_accept(fx, "RTD", "dr.amina.khan", a);
    char id[24];

    FX_ACCEPTED(m);
    ASSERT_AMENDMENT(fx, a, "proposed");
    FX_ACCEPTED(fx_vote(fx, "QHM", "sam.allen", m.position, ICS__V1__VOTE_CHOICE__VOTE_AGAINST,
                        "unaffordable"));
    ASSERT_AMENDMENT(fx, a, "rejected");
    snprintf(id, sizeof id, "%llu", (unsigned long long)m.position);
    char *t = fx_query(fx, false, "motion.show", id, NULL);
    FX_CONTAINS(t, "lost: declined by a holder of role chief_executive");
    free(t);
    ASSERT_PLAN_VERSION(fx, 1);
}

static void test_every_operation(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t a;
    char *t;

    /* insert before paragraph 2 */
    a = fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 1, ICS__V1__AMEND_OP__AMEND_INSERT,
                 "urgent-care", NULL, "Open an urgent treatment centre.", 2, NULL, "UTC").position;
    s_accept(fx, a);
    /* delete paragraph 1 of intro */
    a = fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 2, ICS__V1__AMEND_OP__AMEND_DELETE, "intro",
                 NULL, NULL, 1, NULL, "Shorter").position;
    s_accept(fx, a);
    /* add a section after urgent-care */
    a = fx_amend(fx, "RX4", "prof.mh", PLAN, 3, ICS__V1__AMEND_OP__AMEND_ADD, "mental-health",
                 "Mental health", "Crisis care for all ages.", 0, "urgent-care",
                 "Parity of esteem").position;
    s_accept(fx, a);
    ASSERT_PLAN_VERSION(fx, 4);
    t = fx_query(fx, false, "plan.show", PLAN, NULL);
    FX_CONTAINS(t, "Reduce ambulance handover delays.\n\nOpen an urgent treatment centre.\n\n"
                   "Expand same-day emergency care.",
                "== 1. Introduction  [intro]\n\nWe plan together.",
                "== 3. Mental health  [mental-health]");
    free(t);
    /* delete a whole section */
    a = fx_amend(fx, "QHM", "jane.doe", PLAN, 4, ICS__V1__AMEND_OP__AMEND_DELETE, "finance", NULL,
                 NULL, 0, NULL, "Moved to the finance strategy").position;
    s_accept(fx, a);
    t = fx_query(fx, false, "plan.diff", PLAN, "1", "5", NULL);
    FX_CONTAINS(t, "--- jfp-2026 version 1", "+++ jfp-2026 version 5",
                "=== section urgent-care: Urgent and emergency care (changed)",
                "+Open an urgent treatment centre.",
                "=== section mental-health: Mental health (added)", "+Crisis care for all ages.",
                "=== section finance: Finance (removed)", "-Live within our allocation.",
                "=== section intro: Introduction (changed)",
                "-Our partnership serves three million people.");
    free(t);
    t = fx_query(fx, false, "plan.diff", PLAN, "4", "5", NULL);
    FX_CONTAINS(t, "(3 sections unchanged)");
    free(t);
}

static void test_amendment_refusals(void **state)
{
    fx_fsm_t *fx = *state;

    FX_REJECTED(fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 1, ICS__V1__AMEND_OP__AMEND_INSERT,
                         "urgent-care", NULL, "x", 9, NULL, "r"),
                "section urgent-care has 2 paragraphs: insert before 1 to 3, or 0 for the end");
    FX_REJECTED(fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 1, ICS__V1__AMEND_OP__AMEND_DELETE,
                         "finance", NULL, NULL, 2, NULL, "r"),
                "section finance has 1 paragraphs; there is no paragraph 2 to delete");
    FX_REJECTED(fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 1, ICS__V1__AMEND_OP__AMEND_ADD,
                         "finance", "Finance", "x", 0, NULL, "r"),
                "section finance already exists in version 1");
    FX_REJECTED(fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 1, ICS__V1__AMEND_OP__AMEND_REPLACE,
                         "finance", NULL, "Live within our allocation.", 0, NULL, "r"),
                "the amendment changes nothing");
    FX_REJECTED(fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 3, ICS__V1__AMEND_OP__AMEND_REPLACE,
                         "finance", NULL, "x", 0, NULL, "r"),
                "plan jfp-2026 has versions 1 to 1; there is no version 3 to amend");
    FX_REJECTED(fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 1, ICS__V1__AMEND_OP__AMEND_REPLACE,
                         "nope", NULL, "x", 0, NULL, "r"),
                "there is no section nope in version 1 of plan jfp-2026");
    FX_REJECTED(fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 1, ICS__V1__AMEND_OP__AMEND_REPLACE,
                         "finance", NULL, "x", 0, NULL, ""),
                "an amendment needs a rationale");
    FX_REJECTED(fx_amend(fx, "RTD", "nobody", PLAN, 1, ICS__V1__AMEND_OP__AMEND_REPLACE,
                         "finance", NULL, "x", 0, NULL, "r"),
                "nobody is not registered as acting for RTD");
    FX_REJECTED(fx_amend(fx, "RTD", "dr.amina.khan", "nope", 1, ICS__V1__AMEND_OP__AMEND_REPLACE,
                         "finance", NULL, "x", 0, NULL, "r"),
                "there is no plan nope");
    /* An added section's anchor deleted since the base is a conflict too. */
    uint64_t d = fx_amend(fx, "QHM", "jane.doe", PLAN, 1, ICS__V1__AMEND_OP__AMEND_DELETE,
                          "finance", NULL, NULL, 0, NULL, "gone").position;
    s_accept(fx, d);
    FX_REJECTED(fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 1, ICS__V1__AMEND_OP__AMEND_ADD,
                         "estates", "Estates", "Buildings.", 0, "finance", "r"),
                "stale amendment: section finance was deleted in version 2");
}

static void test_publish_needs_an_adopted_version(void **state)
{
    fx_fsm_t *fx = *state;
    char msg[256];

    assert_int_equal(fx_query_fail(fx, msg, sizeof msg, "plan.publish", PLAN, NULL), ICS_ENOENT);
    FX_CONTAINS(msg, "plan jfp-2026 has no adopted version yet; to publish a draft give its "
                     "version (1 to 1)");
    char *t = fx_query(fx, false, "plan.publish", PLAN, "1", NULL);
    FX_CONTAINS(t, "# Joint Forward Plan 2026/27 to 2030/31",
                "**DRAFT: version 1 has not been adopted.**", "## 2. Urgent and emergency care");
    free(t);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, s_setup, s_teardown)
    const struct CMUnitTest tests[] = {
        T(test_plan_created_as_version_1),
        T(test_plan_create_refusals),
        T(test_accepted_amendment_makes_a_new_version),
        T(test_stale_amendment_refused_with_rebase_advice),
        T(test_pending_amendment_superseded_and_its_motion_lapses),
        T(test_withdrawal),
        T(test_rejected_when_the_decision_goes_against_it),
        T(test_every_operation),
        T(test_amendment_refusals),
        T(test_publish_needs_an_adopted_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
