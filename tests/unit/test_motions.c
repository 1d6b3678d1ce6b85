/*
 * Motions and votes under the NENC scheme (deploy/examples/nenc-policy.ini):
 * proposing (right and wrong roles), the electorate and its exclusions for
 * declared interests, voting, changing and refusing votes, quorum and
 * thresholds, early and deadline outcomes, decisions by one role holder,
 * effects carried out (plan adopted and published, member admitted through
 * fsm_members.c, aid approved) or recorded as failed, and the signed vote
 * entries a reader of the exported log can check.
 */
#include "fixture_fsm.h"

#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/policyfile.h"
#include "fsm/fsm_internal.h"

#define GROUP "nenc"
#define PLAN "jfp-2026"
#define HWB "HWB-E06000057"
#define HOUR 3600000ull
#define DAY (24 * HOUR)

static const char *const s_orgs[] = {"QHM:icb", "RTD:foundation_trust", "RX4:mental_health",
                                     "E06000057:local_authority", "RX6:ambulance"};

static const fx_section_t s_sections[] = {
    {"intro", "Introduction", "We plan together."},
    {"urgent-care", "Urgent and emergency care", "Reduce ambulance handover delays."},
};

/* ---------------------------------------------------------------- fixture */

static void s_appoint(fx_fsm_t *fx, const char *org, const char *person, const char *role,
                      const char *scope)
{
    fx_person(fx, org, person, person); /* refused if already registered: fine */
    FX_ACCEPTED(fx_role(fx, strcmp(fx_org(fx, org)->kind, "icb") == 0 ||
                                    strcmp(role, "partner_trust") == 0 ||
                                    strcmp(role, "partner_local_authority") == 0 ||
                                    strcmp(role, "mental_health_member") == 0
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
    s_appoint(fx, "QHM", "sir.liam", "chair", NULL);
    s_appoint(fx, "QHM", "sam.allen", "chief_executive", NULL);
    s_appoint(fx, "QHM", "fiona.d", "finance_director", NULL);
    s_appoint(fx, "QHM", "ned.one", "non_executive", NULL);
    s_appoint(fx, "QHM", "ned.two", "non_executive", NULL);
    s_appoint(fx, "QHM", "dr.strat", "strategy_director", NULL);
    s_appoint(fx, "RTD", "dr.amina.khan", "partner_trust", NULL);
    s_appoint(fx, "RX4", "prof.mh", "mental_health_member", NULL);
    s_appoint(fx, "E06000057", "cllr.peter.hall", "partner_local_authority", NULL);
    s_appoint(fx, "E06000057", "cllr.peter.hall", "hwb_chair", HWB);
    FX_ACCEPTED(fx_plan_create(fx, "QHM", "dr.strat", PLAN, "Joint Forward Plan",
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

/* ---------------------------------------------------------------- helpers */

/* Consultation on version 1 with the HWB's opinion, closed at its deadline. */
static uint64_t s_consulted(fx_fsm_t *fx)
{
    const char *consultees[] = {"kind:hwb", "RTD", NULL};
    ics_apply_result_t c = fx_motion_consult(fx, "QHM", "sam.allen", PLAN, 1, 0,
                                             fx->now + HOUR, consultees);
    FX_ACCEPTED(c);
    FX_ACCEPTED(fx_respond(fx, "E06000057", "cllr.peter.hall", c.position, HWB,
                           ICS__V1__STANCE__STANCE_SUPPORT, "We support it.",
                           ICS__V1__OPINION__OPINION_YES,
                           "It takes account of our priorities on healthy ageing."));
    FX_ACCEPTED(fx_tick(fx, fx->now + 2 * HOUR));
    return c.position;
}

static uint64_t s_adoption(fx_fsm_t *fx)
{
    Ics__V1__MotionPropose p = ICS__V1__MOTION_PROPOSE__INIT;
    Ics__V1__MotionAdoptPlan a = ICS__V1__MOTION_ADOPT_PLAN__INIT;

    s_consulted(fx);
    a.plan = PLAN;
    a.version = 1;
    p.text = "That the Board adopts version 1 of the plan.\n\nAs consulted on.";
    p.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_ADOPT_PLAN;
    p.adopt_plan = &a;
    ics_apply_result_t m = fx_motion(fx, "QHM", "sir.liam", &p);
    FX_ACCEPTED(m);
    return m.position;
}

static char *s_motion(fx_fsm_t *fx, uint64_t id)
{
    char arg[24];
    snprintf(arg, sizeof arg, "%llu", (unsigned long long)id);
    return fx_query(fx, false, "motion.show", arg, NULL);
}

#define ASSERT_MOTION(fx, id, ...)                                                          \
    do {                                                                                    \
        char *m_ = s_motion((fx), (id));                                                    \
        FX_CONTAINS(m_, __VA_ARGS__);                                                       \
        free(m_);                                                                           \
    } while (0)

#define FOR ICS__V1__VOTE_CHOICE__VOTE_FOR
#define AGAINST ICS__V1__VOTE_CHOICE__VOTE_AGAINST
#define ABSTAIN ICS__V1__VOTE_CHOICE__VOTE_ABSTAIN

/* ---------------------------------------------------------------- scenarios */

static void test_board_adopts_with_a_conflicted_member_and_publishes(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t m;
    char want[200], *t;

    FX_ACCEPTED(fx_interest(fx, "QHM", "ned.two", "plan:jfp-2026",
                            "Chairs a provider collaborative bidding for the plan's contracts"));
    m = s_adoption(fx);
    ASSERT_MOTION(fx, m, "decision     Adopt a plan version [plan.adopt]",
                  "NHS North East and North Cumbria ICB Board (rule plan.adopt; quorum: half of "
                  "the members voting",
                  "status       OPEN until",
                  "EXCLUDED: interest in plan:jfp-2026 (Chairs a provider collaborative");
    snprintf(want, sizeof want, "ned.two of QHM is excluded from voting on motion %llu: declared "
             "interest in plan:jfp-2026", (unsigned long long)m);
    FX_REJECTED(fx_vote(fx, "QHM", "ned.two", m, FOR, NULL), want);
    FX_ACCEPTED(fx_vote(fx, "QHM", "sir.liam", m, FOR, "A good plan"));
    FX_ACCEPTED(fx_vote(fx, "RTD", "dr.amina.khan", m, FOR, NULL));
    FX_ACCEPTED(fx_vote(fx, "E06000057", "cllr.peter.hall", m, FOR, NULL));
    ASSERT_MOTION(fx, m, "status       OPEN", "if it closed now: lost: quorum not met");
    /* 4 of 8 voted, quorum met, and the 3 who have not voted cannot
     * outvote them: carried at once, without waiting for the deadline. */
    FX_ACCEPTED(fx_vote(fx, "QHM", "sam.allen", m, FOR, NULL));
    ASSERT_MOTION(fx, m, "status       carried at index",
                  "outcome      carried: 4 for, 0 against, 0 abstaining of 8 members (1 excluded "
                  "for a declared interest) (the 3 yet to vote could not change it)",
                  "effect       plan jfp-2026 version 1 adopted");
    t = fx_query(fx, false, "plan.show", PLAN, NULL);
    FX_CONTAINS(t, "version 1 of 1, ADOPTED");
    free(t);
    snprintf(want, sizeof want, "too late: motion %llu closed at", (unsigned long long)m);
    FX_REJECTED(fx_vote(fx, "QHM", "fiona.d", m, AGAINST, NULL), want, "carried: 4 for");

    /* Each vote names the key it was signed with: sir.liam's own. */
    ics_identity_t *key = fx_person_identity("QHM", "sir.liam");
    char liam[40], kid[17];
    ics_hex(ics_identity_key_id(key), 8, kid);
    snprintf(liam, sizeof liam, "` | `%s` |\n", kid);
    ics_identity_destroy(&key);
    t = fx_query(fx, false, "plan.publish", PLAN, NULL);
    snprintf(want, sizeof want, "by motion %llu", (unsigned long long)m);
    FX_CONTAINS(t, "# Joint Forward Plan", want, "## 1. Introduction",
                "## Opinions of health and wellbeing boards",
                "### Northumberland Health and Wellbeing Board (HWB-E06000057)",
                "joint local health and wellbeing strategy? **Yes**",
                "It takes account of our priorities on healthy ageing.", "## Consultation",
                "1 of 2 consultees responded",
                "| Organisation RTD (RTD) | did not respond | - | - |", "## Decision record",
                "**Motion",
                "\n\n> That the Board adopts version 1 of the plan.\n>\n> As consulted on.\n\n",
                "| sir.liam | QHM | Chair of the ICB | for | A good plan | 30 |", liam,
                "Each vote is a signed entry of the log, signed by the voter with their own "
                "key",
                "Excluded from the vote for a declared interest:",
                "- ned.two (QHM): interest in `plan:jfp-2026`");
    FX_LACKS(t, "DRAFT");
    free(t);
    t = fx_query(fx, true, "plan.publish", PLAN, NULL);
    FX_CONTAINS(t, "\"adopted\":true", "\"hwb_opinions\":[{\"consultee\":\"HWB-E06000057\"",
                "\"opinion\":\"yes\"", "\"markdown\":\"# Joint Forward Plan",
                "\"text\":\"That the Board adopts version 1 of the plan.\\n\\nAs consulted on.\"");
    free(t);
}

static void test_votes_change_and_refusals(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t m = s_adoption(fx);
    char want[200];

    FX_ACCEPTED(fx_vote(fx, "QHM", "fiona.d", m, AGAINST, "too early"));
    snprintf(want, sizeof want, "duplicate vote: fiona.d of QHM already voted against on motion "
             "%llu", (unsigned long long)m);
    FX_REJECTED(fx_vote(fx, "QHM", "fiona.d", m, AGAINST, NULL), want,
                "to change it, vote differently");
    FX_ACCEPTED(fx_vote(fx, "QHM", "fiona.d", m, ABSTAIN, "persuaded"));
    ASSERT_MOTION(fx, m, "fiona.d                finance_director                   abstain", "against  (changed) too early");
    snprintf(want, sizeof want, "dr.strat of QHM is not in the electorate of motion %llu (NHS "
             "North East and North Cumbria ICB Board)", (unsigned long long)m);
    FX_REJECTED(fx_vote(fx, "QHM", "dr.strat", m, FOR, NULL), want);
    FX_REJECTED(fx_vote(fx, "RX6", "nobody", m, FOR, NULL),
                "nobody is not registered as acting for RX6");
    FX_REJECTED(fx_vote(fx, "QHM", "fiona.d", 999999, FOR, NULL), "there is no motion 999999");
    FX_REJECTED(fx_vote(fx, "QHM", "fiona.d", m, ICS__V1__VOTE_CHOICE__VOTE_UNSPECIFIED, NULL),
                "a vote is for, against or abstain");
    /* A member who lost the role that put them in the electorate cannot vote. */
    FX_ACCEPTED(fx_role_revoke(fx, "QHM", "QHM", "ned.one", "non_executive", NULL));
    FX_REJECTED(fx_vote(fx, "QHM", "ned.one", m, FOR, NULL),
                "ned.one of QHM no longer holds the role (non_executive)");
}

static void test_quorum_not_met_at_the_deadline(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t m = s_adoption(fx);

    FX_ACCEPTED(fx_vote(fx, "QHM", "sir.liam", m, FOR, NULL));
    FX_ACCEPTED(fx_vote(fx, "E06000057", "cllr.peter.hall", m, FOR, NULL));
    FX_ACCEPTED(fx_vote(fx, "QHM", "fiona.d", m, FOR, NULL));
    assert_true(ics_fsm_next_deadline(fx->fsm) > 0);
    /* Nothing happens until the voting period (14 days) ends by the log's clock. */
    FX_ACCEPTED(fx_tick(fx, fx->now + 15 * DAY));
    ASSERT_MOTION(fx, m, "status       lost at index",
                  "lost: quorum not met: 3 for, 0 against, 0 abstaining of 8 members; no vote "
                  "by: partner_trust");
    char *t = fx_query(fx, false, "plan.show", PLAN, NULL);
    FX_CONTAINS(t, "draft (no version adopted yet)");
    free(t);
}

static void test_quorum_fraction_not_met(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t m = s_adoption(fx);

    FX_ACCEPTED(fx_vote(fx, "QHM", "sir.liam", m, FOR, NULL));
    FX_ACCEPTED(fx_vote(fx, "RTD", "dr.amina.khan", m, FOR, NULL));
    FX_ACCEPTED(fx_vote(fx, "E06000057", "cllr.peter.hall", m, FOR, NULL));
    FX_ACCEPTED(fx_tick(fx, fx->now + 15 * DAY));
    ASSERT_MOTION(fx, m, "lost: quorum not met: 3 for, 0 against, 0 abstaining of 8 members "
                         "(3 voted)");
}

static void test_lost_as_soon_as_it_cannot_pass(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t m = s_adoption(fx);

    FX_ACCEPTED(fx_vote(fx, "QHM", "sir.liam", m, AGAINST, NULL));
    FX_ACCEPTED(fx_vote(fx, "QHM", "fiona.d", m, AGAINST, NULL));
    FX_ACCEPTED(fx_vote(fx, "QHM", "ned.one", m, AGAINST, NULL));
    ASSERT_MOTION(fx, m, "status       OPEN");
    FX_ACCEPTED(fx_vote(fx, "QHM", "ned.two", m, AGAINST, NULL));
    ASSERT_MOTION(fx, m, "status       lost", "simple majority can no longer be reached");
}

static void test_interest_declared_after_voting_strikes_the_vote(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t m = s_adoption(fx);

    FX_ACCEPTED(fx_vote(fx, "QHM", "ned.one", m, FOR, NULL));
    FX_ACCEPTED(fx_interest(fx, "QHM", "ned.one", "PLAN:JFP-2026", "Trustee of a bidder"));
    ASSERT_MOTION(fx, m, "EXCLUDED: interest in PLAN:JFP-2026 (Trustee of a bidder)",
                  "for      (struck)", "0 for, 0 against");
    /* An organisation-wide interest excludes all its people. */
    FX_ACCEPTED(fx_interest(fx, "RTD", NULL, "plan:jfp-2026", "Main provider under the plan"));
    ASSERT_MOTION(fx, m, "RTD         dr.amina.khan", "EXCLUDED: interest in plan:jfp-2026 (Main "
                                                     "provider under the plan)");
    /* With the trusts' partner member excluded the quorum can never be met. */
    ASSERT_MOTION(fx, m, "lost: quorum cannot be met",
                  "no member without a declared interest holds a required role");
}

static void test_wrong_role_to_propose(void **state)
{
    fx_fsm_t *fx = *state;
    const char *consultees[] = {"RTD", NULL};

    s_consulted(fx);
    FX_REJECTED(fx_motion_adopt(fx, "RTD", "dr.amina.khan", PLAN, 1),
                "wrong role: only the Chair of the ICB or Chief Executive may propose to "
                "plan.adopt (rule plan.adopt); dr.amina.khan of RTD holds: Partner member: NHS "
                "trusts and foundation trusts");
    FX_REJECTED(fx_motion_consult(fx, "QHM", "fiona.d", PLAN, 1, 0, fx->now + HOUR, consultees),
                "wrong role: only the Chief Executive or Executive Director of Strategy and "
                "Transformation may propose to consultation.open");
}

static void test_one_motion_per_matter_and_withdrawal(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t m = s_adoption(fx);
    char want[160];

    snprintf(want, sizeof want, "motion %llu on the same matter (plan.adopt:jfp-2026) is already "
             "open", (unsigned long long)m);
    FX_REJECTED(fx_motion_adopt(fx, "QHM", "sam.allen", PLAN, 1), want);
    snprintf(want, sizeof want, "only QHM, which proposed motion %llu, may withdraw it",
             (unsigned long long)m);
    FX_REJECTED(fx_motion_withdraw(fx, "RTD", "dr.amina.khan", m), want);
    FX_ACCEPTED(fx_motion_withdraw(fx, "QHM", "sir.liam", m));
    ASSERT_MOTION(fx, m, "status       withdrawn", "withdrawn by sir.liam of QHM: overtaken by "
                                                  "events");
    FX_ACCEPTED(fx_motion_adopt(fx, "QHM", "sam.allen", PLAN, 1));
}

static void test_one_role_holder_decides_alone(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t a, b;

    a = fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 1, ICS__V1__AMEND_OP__AMEND_REPLACE, "intro",
                 NULL, "We plan and act together.", 0, NULL, "Stronger").position;
    b = fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 1, ICS__V1__AMEND_OP__AMEND_REPLACE,
                 "urgent-care", NULL, "Handovers within 30 minutes.", 0, NULL, "Target").position;
    /* The Executive Director of Strategy proposes and so decides at once. */
    ics_apply_result_t r = fx_motion_accept(fx, "QHM", "dr.strat", a);
    FX_ACCEPTED(r);
    ASSERT_MOTION(fx, r.position, "carried: decided by a holder of role strategy_director, acting "
                                  "alone", "decided by proposing");
    /* Anyone may ask; it waits for the director. */
    r = fx_motion_accept(fx, "RTD", "dr.amina.khan", b);
    FX_ACCEPTED(r);
    ASSERT_MOTION(fx, r.position, "status       OPEN");
    FX_ACCEPTED(fx_vote(fx, "QHM", "dr.strat", r.position, FOR, "agreed with NEAS"));
    ASSERT_MOTION(fx, r.position, "carried", "amendment");
    char *t = fx_query(fx, true, "plan.show", PLAN, NULL);
    FX_CONTAINS(t, "\"latest\":3");
    free(t);
}

static void test_nobody_to_decide(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t a = fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 1, ICS__V1__AMEND_OP__AMEND_REPLACE,
                          "intro", NULL, "New.", 0, NULL, "r").position;

    FX_ACCEPTED(fx_role_revoke(fx, "QHM", "QHM", "dr.strat", "strategy_director", NULL));
    FX_REJECTED(fx_motion_accept(fx, "RTD", "dr.amina.khan", a),
                "nobody can decide this yet: no one holds the role of Executive Director of "
                "Strategy and Transformation");
}

static void test_effect_that_can_no_longer_happen_is_recorded(void **state)
{
    fx_fsm_t *fx = *state;
    const char *consultees[] = {"RTD", NULL};
    ics_apply_result_t m = fx_motion_consult(fx, "QHM", "dr.strat", PLAN, 1, 0, fx->now + HOUR,
                                             consultees);

    FX_ACCEPTED(m);
    FX_ACCEPTED(fx_tick(fx, fx->now + 2 * HOUR));
    FX_ACCEPTED(fx_vote(fx, "QHM", "sam.allen", m.position, FOR, NULL));
    ASSERT_MOTION(fx, m.position, "status       carried",
                  "effect       could not be carried out: the closing time",
                  "has already passed by the log's clock");
    char *t = fx_query(fx, false, "consult.list", NULL);
    FX_CONTAINS(t, "(no consultations)");
    free(t);
}

static void test_admission_authorises_one_member_add(void **state)
{
    fx_fsm_t *fx = *state;
    ics_identity_t *newkey = fx_identity("RTF");
    const uint8_t *pk = ics_identity_public(newkey);
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__MemberAdd add = ICS__V1__MEMBER_ADD__INIT;
    const char *voters[][2] = {{"QHM", "sir.liam"}, {"QHM", "sam.allen"}, {"QHM", "fiona.d"},
                               {"QHM", "ned.one"}, {"RTD", "dr.amina.khan"},
                               {"E06000057", "cllr.peter.hall"}};
    ics_apply_result_t m;

    /* Until carried, a non-administrator cannot add the member. */
    add.org = "RTF";
    add.kind = "foundation_trust";
    add.name = "Northumbria Healthcare NHS FT";
    add.endpoint = "tcp://rtf.example.nhs.uk:7400";
    add.public_key.data = (uint8_t *)pk;
    add.public_key.len = ICS_PK_BYTES;
    cmd.body_case = ICS__V1__COMMAND__BODY_MEMBER_ADD;
    cmd.member_add = &add;
    FX_REJECTED(fx_send(fx, "RTD", NULL, &cmd),
                "only the membership administrator may add members; RTD is not it");
    m = fx_motion_admit(fx, "QHM", "sir.liam", "RTF", "foundation_trust", pk);
    FX_ACCEPTED(m);
    for (size_t i = 0; i < 6; i++)
        FX_ACCEPTED(fx_vote(fx, voters[i][0], voters[i][1], m.position, FOR, NULL));
    ASSERT_MOTION(fx, m.position, "carried: 6 for", "effect       awaiting: icsctl member add RTF");
    assert_false(ics_fsm_is_member(fx->fsm, "RTF"));
    /* Another organisation's key is not what was decided. */
    add.public_key.data = (uint8_t *)ics_identity_public(fx_org(fx, "RX6")->key);
    FX_REJECTED(fx_send(fx, "RTD", NULL, &cmd), "only the membership administrator");
    add.public_key.data = (uint8_t *)pk;
    FX_ACCEPTED(fx_send(fx, "RTD", NULL, &cmd));
    assert_true(ics_fsm_is_member(fx->fsm, "RTF"));
    ASSERT_MOTION(fx, m.position, "effect       carried out at index", "MemberAdd of RTF");
    /* Once only. */
    Ics__V1__MemberRemove rm = ICS__V1__MEMBER_REMOVE__INIT;
    rm.org = "RTF";
    cmd.body_case = ICS__V1__COMMAND__BODY_MEMBER_REMOVE;
    cmd.member_remove = &rm;
    FX_REJECTED(fx_send(fx, "RTD", NULL, &cmd),
                "only the membership administrator may remove members; RTD is not it");
    ics_identity_destroy(&newkey);
}

static void test_admission_overtaken_is_recorded_as_not_carried_out(void **state)
{
    fx_fsm_t *fx = *state;
    ics_identity_t *newkey = fx_identity("RTF");
    const uint8_t *pk = ics_identity_public(newkey);
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__MemberAdd add = ICS__V1__MEMBER_ADD__INIT;
    const char *voters[][2] = {{"QHM", "sir.liam"}, {"QHM", "sam.allen"}, {"QHM", "fiona.d"},
                               {"QHM", "ned.one"}, {"RTD", "dr.amina.khan"},
                               {"E06000057", "cllr.peter.hall"}};
    ics_apply_result_t m = fx_motion_admit(fx, "QHM", "sir.liam", "RTF", "foundation_trust", pk);

    FX_ACCEPTED(m);
    /* Meanwhile the administrator adds it directly. */
    add.org = "RTF";
    add.kind = "foundation_trust";
    add.name = "Northumbria Healthcare NHS FT";
    add.endpoint = "tcp://rtf.example.nhs.uk:7400";
    add.public_key.data = (uint8_t *)pk;
    add.public_key.len = ICS_PK_BYTES;
    cmd.body_case = ICS__V1__COMMAND__BODY_MEMBER_ADD;
    cmd.member_add = &add;
    FX_ACCEPTED(fx_send(fx, "QHM", NULL, &cmd));
    for (size_t i = 0; i < 6; i++)
        FX_ACCEPTED(fx_vote(fx, voters[i][0], voters[i][1], m.position, FOR, NULL));
    ASSERT_MOTION(fx, m.position, "status       carried",
                  "effect       could not be carried out: RTF is already a member");
    ics_identity_destroy(&newkey);
}

static void test_aid_approval_by_place_committee(void **state)
{
    fx_fsm_t *fx = *state;
    Ics__V1__MotionPropose m = ICS__V1__MOTION_PROPOSE__INIT;
    Ics__V1__MotionApproveAid a = ICS__V1__MOTION_APPROVE_AID__INIT;
    uint64_t motion = 0, value = 0;

    a.offer = 77;
    a.org = "E06000057";
    a.value = 150;
    m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_APPROVE_AID;
    m.approve_aid = &a;
    ics_apply_result_t r = fx_motion(fx, "QHM", "sam.allen", &m);
    FX_ACCEPTED(r);
    ASSERT_MOTION(fx, r.position, "Northumberland Place Committee (rule aid.approve.place");
    assert_int_equal(ics_decision_carried(ics_fsm_handle(fx->fsm),
                                          ICS__V1__DECISION__DECISION_AID_APPROVE, "aid:77",
                                          &motion, &value), ICS_ENOENT);
    FX_ACCEPTED(fx_vote(fx, "QHM", "ned.one", r.position, FOR, NULL));
    FX_ACCEPTED(fx_vote(fx, "QHM", "ned.two", r.position, FOR, NULL));
    FX_ACCEPTED(fx_vote(fx, "E06000057", "cllr.peter.hall", r.position, FOR, NULL));
    assert_int_equal(ics_decision_carried(ics_fsm_handle(fx->fsm),
                                          ICS__V1__DECISION__DECISION_AID_APPROVE, "aid:77",
                                          &motion, &value), ICS_OK);
    assert_int_equal(motion, r.position);
    assert_int_equal(value, 150);
    a.value = 5;
    FX_REJECTED(fx_motion(fx, "QHM", "sam.allen", &m), "mutual aid of 5 needs no approval");
}

/* The decision record names each vote's log index, entry id and the key it
 * was signed with: the entry there is the Vote, signed by that key. */
static void test_votes_are_signed_entries_of_the_log(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t m = s_adoption(fx);
    ics_apply_result_t v = fx_vote(fx, "RTD", "dr.amina.khan", m, FOR, "for the record");
    ics_log_entry_t e;
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *cmd = NULL;
    uint8_t id[32];
    char hex[65], *t;

    FX_ACCEPTED(v);
    assert_int_equal(ics_history_entry(fx->history, v.position, &e), ICS_OK);
    ics_entry_id(e.envelope, e.envelope_len, id);
    ics_hex(id, 16, hex);
    t = s_motion(fx, m);
    FX_CONTAINS(t, "dr.amina.khan", "for the record");
    free(t);
    char arg[24];
    snprintf(arg, sizeof arg, "%llu", (unsigned long long)m);
    t = fx_query(fx, true, "motion.show", arg, NULL);
    FX_CONTAINS(t, hex);
    free(t);
    assert_int_equal(ics_envelope_decode(e.envelope, e.envelope_len, &env, NULL), ICS_OK);
    assert_string_equal(env->org, "RTD");
    assert_int_equal(ics_command_decode(env, &cmd, NULL), ICS_OK);
    assert_int_equal(cmd->body_case, ICS__V1__COMMAND__BODY_VOTE);
    assert_int_equal(cmd->vote->motion, m);
    assert_string_equal(cmd->actor, "dr.amina.khan");
    assert_non_null(cmd->person_sig);
    char kid[17], want[64];
    ics_hex(cmd->person_sig->key_id.data, 8, kid);
    t = s_motion(fx, m);
    snprintf(want, sizeof want, "key %s\n", kid);
    FX_CONTAINS(t, "VOTES (each a log entry signed by the voter's own key)", want);
    free(t);
    t = fx_query(fx, true, "motion.show", arg, NULL);
    snprintf(want, sizeof want, "\"key_id\":\"%s\"", kid);
    FX_CONTAINS(t, want);
    free(t);
    ics__v1__command__free_unpacked(cmd, NULL);
    ics__v1__envelope__free_unpacked(env, NULL);
    free(e.envelope);
}


/* ---------------------------------------------------------------- person signatures */

/* Applies env (freed) to the fixture's state machine and to r2, a replica;
 * both must reach the same verdict with the same reason. */
static ics_apply_result_t s_both(fx_fsm_t *fx, ics_fsm_t *r2, uint8_t *env, size_t len)
{
    ics_apply_result_t a = fx_apply(fx, env, len), b;
    assert_int_equal(ics_fsm_apply(r2, env, len, &b), ICS_OK);
    assert_int_equal(a.position, b.position);
    assert_int_equal(a.accepted, b.accepted);
    assert_string_equal(a.reason, b.reason);
    assert_memory_equal(a.chain, b.chain, 32);
    free(env);
    fx->now += 1000;
    return a;
}

/* A vote's command bytes: signed by person of QHM with key (NULL: their
 * own) and QHM's next person seq, or unsigned when sign is false. */
static uint8_t *s_vote_bytes(fx_fsm_t *fx, const char *person, const ics_identity_t *key,
                             bool sign, uint64_t motion, size_t *len)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Vote v = ICS__V1__VOTE__INIT;
    uint8_t *out = NULL;

    v.motion = motion;
    v.choice = FOR;
    v.reason = "";
    cmd.body_case = ICS__V1__COMMAND__BODY_VOTE;
    cmd.vote = &v;
    if (!sign) {
        cmd.actor = (char *)person;
        assert_int_equal(ics_pack(&cmd.base, &out, len), ICS_OK);
        return out;
    }
    return fx_person_sign(GROUP, "QHM", person, key, ++fx_org(fx, "QHM")->person_seq, &cmd,
                          len);
}

/* Seals payload (freed) as QHM's next entry; applies it to both. */
static ics_apply_result_t s_vote_both(fx_fsm_t *fx, ics_fsm_t *r2, uint8_t *payload, size_t plen)
{
    size_t len = 0;
    uint8_t *env = fx_seal_payload(GROUP, fx_org(fx, "QHM"), fx->now,
                                   ICS__V1__COMMAND__BODY_VOTE, payload, plen, &len);
    free(payload);
    return s_both(fx, r2, env, len);
}

/* Each vote is the voter's own: a signature that is missing, by another
 * person's key, replayed, moved to another motion or made after the
 * person was revoked is refused, on every replica alike; two people of one
 * organisation vote separately and both count. */
static void test_votes_carry_the_voters_signature(void **state)
{
    fx_fsm_t *fx = *state;
    uint64_t consultation = s_consulted(fx);
    uint64_t m = s_adoption(fx);
    ics_identity_t *ned = fx_person_identity("QHM", "ned.one");
    ics_fsm_t *r2 = NULL;
    uint8_t *snap = NULL, *p, *copy, *env;
    size_t snap_len = 0, plen = 0, len = 0;
    char want[200];
    ics_err_t err;

    /* A second replica, from a snapshot of the first. */
    assert_int_equal(ics_fsm_snapshot(fx->fsm, &snap, &snap_len), ICS_OK);
    r2 = ics_fsm_new(GROUP, &err);
    assert_non_null(r2);
    assert_int_equal(ics_fsm_restore(r2, snap, snap_len, &err), ICS_OK);
    free(snap);

    /* fiona.d votes; the same signed bytes again in a new envelope. */
    p = s_vote_bytes(fx, "fiona.d", NULL, true, m, &plen);
    copy = malloc(plen);
    assert_non_null(copy);
    memcpy(copy, p, plen);
    FX_ACCEPTED(s_vote_both(fx, r2, p, plen));
    uint64_t seq = fx_org(fx, "QHM")->person_seq;
    snprintf(want, sizeof want, "replayed person signature: sequence number %llu of fiona.d of "
             "QHM is not above the last applied (%llu)", (unsigned long long)seq,
             (unsigned long long)seq);
    FX_REJECTED(s_vote_both(fx, r2, copy, plen), want);

    /* Her signature moved onto a vote on another motion. */
    p = s_vote_bytes(fx, "fiona.d", NULL, true, m, &plen);
    Ics__V1__Command *moved = ics__v1__command__unpack(NULL, plen, p);
    assert_non_null(moved);
    free(p);
    moved->vote->motion = consultation;
    assert_int_equal(ics_pack(&moved->base, &p, &plen), ICS_OK);
    ics__v1__command__free_unpacked(moved, NULL);
    FX_REJECTED(s_vote_both(fx, r2, p, plen),
                "bad person signature of fiona.d of QHM");

    /* Missing, and by another person's key. */
    p = s_vote_bytes(fx, "sir.liam", NULL, false, m, &plen);
    FX_REJECTED(s_vote_both(fx, r2, p, plen),
                "sir.liam of QHM did not sign this");
    p = s_vote_bytes(fx, "sir.liam", ned, true, m, &plen);
    FX_REJECTED(s_vote_both(fx, r2, p, plen),
                "person signature of sir.liam of QHM is by key",
                "not the key registered for them");

    /* Two people of QHM vote separately: both count. */
    p = s_vote_bytes(fx, "sir.liam", NULL, true, m, &plen);
    FX_ACCEPTED(s_vote_both(fx, r2, p, plen));
    p = s_vote_bytes(fx, "sam.allen", NULL, true, m, &plen);
    FX_ACCEPTED(s_vote_both(fx, r2, p, plen));
    ASSERT_MOTION(fx, m, "sir.liam", "sam.allen", "fiona.d");

    /* ned.two is revoked by QHM's administrator; their signature is dead. */
    {
        Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
        Ics__V1__PersonRegister r = ICS__V1__PERSON_REGISTER__INIT;
        r.person = "ned.two";
        r.remove = true;
        cmd.body_case = ICS__V1__COMMAND__BODY_PERSON_REGISTER;
        cmd.person_register = &r;
        env = fx_seal(GROUP, fx_org(fx, "QHM"), "registrar", fx->now, &cmd, &len);
        FX_ACCEPTED(s_both(fx, r2, env, len));
    }
    uint64_t revoked = fx->last.position;
    p = s_vote_bytes(fx, "ned.two", NULL, true, m, &plen);
    snprintf(want, sizeof want, "ned.two of QHM was revoked at index %llu",
             (unsigned long long)revoked);
    FX_REJECTED(s_vote_both(fx, r2, p, plen), want);

    ics_identity_destroy(&ned);
    ics_fsm_destroy(&r2);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, s_setup, s_teardown)
    const struct CMUnitTest tests[] = {
        T(test_board_adopts_with_a_conflicted_member_and_publishes),
        T(test_votes_change_and_refusals),
        T(test_quorum_not_met_at_the_deadline),
        T(test_quorum_fraction_not_met),
        T(test_lost_as_soon_as_it_cannot_pass),
        T(test_interest_declared_after_voting_strikes_the_vote),
        T(test_wrong_role_to_propose),
        T(test_one_motion_per_matter_and_withdrawal),
        T(test_one_role_holder_decides_alone),
        T(test_nobody_to_decide),
        T(test_effect_that_can_no_longer_happen_is_recorded),
        T(test_admission_authorises_one_member_add),
        T(test_admission_overtaken_is_recorded_as_not_carried_out),
        T(test_aid_approval_by_place_committee),
        T(test_votes_are_signed_entries_of_the_log),
        T(test_votes_carry_the_voters_signature),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
