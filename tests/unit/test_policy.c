/*
 * Scheme of reservation and delegation: the policy file format and its
 * errors (file:line), the built-in default, the shipped NENC example, the
 * genesis policy, policy.show as the public reads it, mutual aid approval,
 * and changing the scheme by a carried motion.
 */
#include "fixture_fsm.h"

#include <stdlib.h>
#include <string.h>

#include "common/policyfile.h"
#include "fsm/fsm_internal.h"

#define GROUP "nenc"
#define NENC_POLICY ICS_SOURCE_DIR "/deploy/examples/nenc-policy.ini"

static const char *const s_orgs[] = {"QHM:icb", "RTD:foundation_trust", "RX4:mental_health",
                                     "E06000057:local_authority", "RX6:ambulance"};

/* ---------------------------------------------------------------- fixture */

static int s_setup(void **state)
{
    *state = fx_fsm_new(GROUP, s_orgs, 5);
    return 0;
}

static int s_teardown(void **state)
{
    fx_fsm_t *fx = *state;
    fx_fsm_destroy(&fx);
    return 0;
}

static Ics__V1__Policy *s_nenc(void)
{
    Ics__V1__Policy *p = NULL;
    ics_err_t err;
    if (ics_policy_load(NENC_POLICY, &p, &err) != ICS_OK)
        fail_msg("%s", err.msg);
    return p;
}

/* The board of the default scheme (and NENC), appointed by QHM. */
static void s_board(fx_fsm_t *fx)
{
    FX_ACCEPTED(fx_person(fx, "QHM", "sir.liam", "Sir Liam Donaldson"));
    FX_ACCEPTED(fx_person(fx, "QHM", "sam.allen", "Samantha Allen"));
    FX_ACCEPTED(fx_person(fx, "QHM", "fiona.d", "Fiona D"));
    FX_ACCEPTED(fx_person(fx, "QHM", "ned.one", "Ned One"));
    FX_ACCEPTED(fx_person(fx, "RTD", "dr.amina.khan", "Dr Amina Khan"));
    FX_ACCEPTED(fx_person(fx, "E06000057", "cllr.peter.hall", "Cllr Peter Hall"));
    FX_ACCEPTED(fx_role(fx, "QHM", "QHM", "sir.liam", "chair", NULL));
    FX_ACCEPTED(fx_role(fx, "QHM", "QHM", "sam.allen", "chief_executive", NULL));
    FX_ACCEPTED(fx_role(fx, "QHM", "QHM", "fiona.d", "finance_director", NULL));
    FX_ACCEPTED(fx_role(fx, "QHM", "QHM", "ned.one", "non_executive", NULL));
    FX_ACCEPTED(fx_role(fx, "QHM", "RTD", "dr.amina.khan", "partner_trust", NULL));
    FX_ACCEPTED(fx_role(fx, "QHM", "E06000057", "cllr.peter.hall", "partner_local_authority",
                        NULL));
}

/* Parses text expected to fail; the message must contain each fragment. */
static void s_parse_fails(const char *text, const char *a, const char *b)
{
    Ics__V1__Policy *p = NULL;
    ics_err_t err;
    int rc = ics_policy_parse(text, "t.ini", &p, &err);
    if (rc == ICS_OK) {
        ics__v1__policy__free_unpacked(p, NULL);
        fail_msg("policy parsed, expected an error containing \"%s\":\n%s", a, text);
    }
    assert_int_equal(rc, ICS_ECONFIG);
    assert_null(p);
    if (strstr(err.msg, a) == NULL || (b != NULL && strstr(err.msg, b) == NULL))
        fail_msg("error \"%s\" lacks \"%s\"%s%s", err.msg, a, b ? " or " : "", b ? b : "");
}

/* ---------------------------------------------------------------- the format */

static void test_default_policy_is_valid(void **state)
{
    Ics__V1__Policy *p = NULL;
    char why[256];
    (void)state;

    assert_int_equal(ics_policy_default(&p), ICS_OK);
    assert_true(ics_policy_valid(p, why, sizeof why));
    assert_string_equal(p->rules[0]->id, "plan.adopt");
    assert_int_equal(p->rules[0]->quorum_num, 1);
    assert_int_equal(p->rules[0]->quorum_den, 2);
    assert_int_equal(p->rules[0]->period_ms, 14ull * 86400000ull);
    assert_int_equal(p->aid_threshold, 10);
    ics__v1__policy__free_unpacked(p, NULL);
}

static void test_nenc_example_loads(void **state)
{
    Ics__V1__Policy *p = s_nenc();
    bool place = false, joint = false;
    (void)state;

    assert_string_equal(p->name,
                        "NHS North East and North Cumbria ICB: scheme of reservation and "
                        "delegation");
    for (size_t i = 0; i < p->n_bodies; i++) {
        place = place || strcmp(p->bodies[i]->name, "Northumberland Place Committee") == 0;
        joint = joint || strcmp(p->bodies[i]->kind, "joint_committee") == 0;
    }
    assert_true(place && joint);
    for (size_t i = 0; i < p->n_rules; i++)
        if (strcmp(p->rules[i]->id, "aid.approve.rtd") == 0) {
            assert_int_equal(p->rules[i]->decision, ICS__V1__DECISION__DECISION_AID_APPROVE);
            assert_int_equal(p->rules[i]->up_to, 500);
            assert_string_equal(p->rules[i]->scope, "org:RTD");
            assert_int_equal(p->rules[i]->n_quorum_roles, 2);
        }
    ics__v1__policy__free_unpacked(p, NULL);
}

static void test_policy_file_errors_name_file_and_line(void **state)
{
    (void)state;
    s_parse_fails("[policy]\nname = x\n[rule plan.adopt]\nbody = board\nperiod = fortnight\n",
                  "t.ini:5:", "period: 'fortnight' is not a period");
    s_parse_fails("[policy]\nname = x\ncolour = blue\n", "t.ini:3:", "unknown key 'colour'");
    s_parse_fails("[policy]\nname = x\nname = y\n", "t.ini:3:", "name given twice");
    s_parse_fails("name = x\n", "t.ini:1:", "comes before any [section]");
    s_parse_fails("[policy]\nname = x\n[committee x]\n", "t.ini:3:", "unknown section");
    s_parse_fails("[role chair]\ntitle = Chair\n", "t.ini:1:", "no [policy] section");
    s_parse_fails("[policy]\nname = x\n[rule r1]\nbody = b\n", "t.ini:3:",
                  "needs decision =");
    s_parse_fails("[policy]\nname = x\n[role chair]\ntitle = Chair\n[rule plan.adopt]\n"
                  "body = board\nquorum = 3/2\n", "t.ini:7:", "quorum: '3/2'");
    s_parse_fails("[policy]\nname = x\n[role chair]\ntitle = Chair\n[rule plan.adopt]\n"
                  "threshold = most\n", "t.ini:6:", "simple_majority, two_thirds or unanimity");
    /* Structural errors point at the section that has them. */
    s_parse_fails("[policy]\nname = x\n[role chair]\ntitle = Chair\n\n[rule plan.adopt]\n"
                  "body = board\nperiod = 1d\n", "t.ini:6:", "no body 'board'");
    s_parse_fails("[policy]\nname = x\n[role chair]\ntitle = Chair\n[rule plan.adopt]\n"
                  "role = chair\nquorum = 2\nperiod = 1d\n", "t.ini:5:",
                  "decided by one person (role chair): quorum and threshold do not apply");
    s_parse_fails("[policy]\nname = x\n[role chair]\ntitle = Chair\n[rule plan.adopt]\n"
                  "role = chair\nperiod = 1d\n", "t.ini:1:",
                  "no rule decides amendment.accept for every case");
}

static void test_policy_file_missing(void **state)
{
    Ics__V1__Policy *p = NULL;
    ics_err_t err;
    (void)state;
    assert_int_equal(ics_policy_load("/nonexistent/policy.ini", &p, &err), ICS_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/policy.ini"));
}

/* ---------------------------------------------------------------- in the group */

static void test_genesis_without_policy_uses_default(void **state)
{
    fx_fsm_t *fx = *state;
    FX_ACCEPTED(fx_genesis(fx, NULL));
    char *t = fx_query(fx, false, "policy.show", NULL);
    FX_CONTAINS(t, "Built-in default scheme", "the built-in default (the genesis named no scheme)",
                "Adopt a plan version", "ICB Board (by a vote of its members)",
                "Chief Executive, acting alone");
    free(t);
}

static void test_genesis_with_invalid_policy_refused(void **state)
{
    fx_fsm_t *fx = *state;
    Ics__V1__Policy *p = s_nenc();
    char *saved = p->name;

    p->name = "";
    FX_REJECTED(fx_genesis(fx, p), "group has no genesis yet: genesis policy: the policy needs a "
                                   "name");
    p->name = saved;
    ics__v1__policy__free_unpacked(p, NULL);
    assert_false(ics_fsm_has_genesis(fx->fsm));
}

static void test_policy_show_reads_as_a_decision_map(void **state)
{
    fx_fsm_t *fx = *state;
    Ics__V1__Policy *p = s_nenc();

    FX_ACCEPTED(fx_genesis(fx, p));
    ics__v1__policy__free_unpacked(p, NULL);
    char *t = fx_query(fx, false, "policy.show", NULL);
    FX_CONTAINS(t, "NHS North East and North Cumbria ICB: scheme of reservation and delegation",
                "version 1: from the group's genesis",
                "Adopt a plan version",
                "decided by   NHS North East and North Cumbria ICB Board (by a vote of its members)",
                "proposed by  Chair of the ICB; Chief Executive",
                "quorum       half of the members voting, including a Chair of the ICB or "
                "Independent non-executive member, a Partner member: NHS trusts and foundation "
                "trusts and a Partner member: local authorities",
                "threshold    simple majority",
                "voting       14 days",
                "Executive Director of Strategy and Transformation, acting alone",
                "the value is up to 200 units",
                "the motion concerns org:E06000057",
                "Northumberland Place Committee (committee, id northumberland_place)",
                "drawn from   QHM, E06000057",
                "Joint Committee of the ICB and Newcastle Hospitals (joint_committee",
                "partner_local_authority");
    free(t);
    t = fx_query(fx, true, "policy.show", NULL);
    FX_CONTAINS(t, "\"version\":1", "\"decision\":\"aid.approve\"", "\"up_to\":500");
    free(t);
    char msg[256];
    assert_int_equal(fx_query_fail(fx, msg, sizeof msg, "policy.show", "7", NULL), ICS_ENOENT);
    FX_CONTAINS(msg, "there is no version 7 of the scheme");
}

static void test_aid_approval_follows_the_scheme(void **state)
{
    fx_fsm_t *fx = *state;
    Ics__V1__Policy *p = s_nenc();
    ics_db_t *db = ics_fsm_handle(fx->fsm);
    ics_aid_approval_t a;
    bool yes = true;

    FX_ACCEPTED(fx_genesis(fx, p));
    ics__v1__policy__free_unpacked(p, NULL);
    assert_int_equal(ics_policy_aid_approval(db, 10, "RX6", &a), ICS_OK);
    assert_false(a.needed);
    assert_true(a.allowed);
    assert_int_equal(a.threshold, 10);
    assert_int_equal(ics_policy_aid_approval(db, 30, "RX6", &a), ICS_OK);
    assert_true(a.needed && a.allowed && a.individual);
    assert_string_equal(a.role, "operations_director");
    FX_CONTAINS(a.text, "Executive Director of Operations", "acting alone", "up to 50");
    assert_int_equal(ics_policy_aid_approval(db, 150, "E06000057", &a), ICS_OK);
    assert_false(a.individual);
    assert_string_equal(a.body, "northumberland_place");
    assert_int_equal(ics_policy_aid_approval(db, 150, "RTD", &a), ICS_OK);
    assert_string_equal(a.body, "rtd_joint");
    assert_int_equal(ics_policy_aid_approval(db, 150, "RX6", &a), ICS_OK);
    assert_string_equal(a.body, "board");
    assert_int_equal(ics_policy_aid_approval(db, 600, "RTD", &a), ICS_OK);
    assert_string_equal(a.rule, "aid.approve.board");

    FX_ACCEPTED(fx_person(fx, "QHM", "ops.dir", "Ops Director"));
    assert_int_equal(ics_policy_person_holds(db, "QHM", "ops.dir", "operations_director", &yes),
                     ICS_OK);
    assert_false(yes);
    FX_ACCEPTED(fx_role(fx, "QHM", "QHM", "ops.dir", "operations_director", NULL));
    assert_int_equal(ics_policy_person_holds(db, "QHM", "ops.dir", "operations_director", &yes),
                     ICS_OK);
    assert_true(yes);
}

static void test_default_aid_approval_by_chief_executive(void **state)
{
    fx_fsm_t *fx = *state;
    ics_aid_approval_t a;

    FX_ACCEPTED(fx_genesis(fx, NULL));
    assert_int_equal(ics_policy_aid_approval(ics_fsm_handle(fx->fsm), 11, "RTD", &a), ICS_OK);
    assert_true(a.needed && a.individual);
    assert_string_equal(a.role, "chief_executive");
}

static void test_policy_changes_only_by_carried_motion(void **state)
{
    fx_fsm_t *fx = *state;
    Ics__V1__Policy *p = s_nenc();
    uint64_t m;

    FX_ACCEPTED(fx_genesis(fx, NULL));
    s_board(fx);
    /* A role of the new scheme cannot be used before it is in force. */
    FX_ACCEPTED(fx_person(fx, "QHM", "dr.strat", "Dr Strat"));
    FX_REJECTED(fx_role(fx, "QHM", "QHM", "dr.strat", "strategy_director", NULL),
                "no role 'strategy_director' in the scheme in force (version 1)");
    /* Only the chair may propose a change. */
    FX_REJECTED(fx_motion_policy(fx, "RTD", "dr.amina.khan", p),
                "wrong role: only the Chair of the ICB may propose to policy.change",
                "dr.amina.khan of RTD holds: Partner member: NHS trusts and foundation trusts");
    ics_apply_result_t r = fx_motion_policy(fx, "QHM", "sir.liam", p);
    FX_ACCEPTED(r);
    m = r.position;
    /* Six board members; quorum two thirds (4) including the chair and a partner. */
    FX_ACCEPTED(fx_vote(fx, "QHM", "sir.liam", m, ICS__V1__VOTE_CHOICE__VOTE_FOR, "agreed"));
    FX_ACCEPTED(fx_vote(fx, "RTD", "dr.amina.khan", m, ICS__V1__VOTE_CHOICE__VOTE_FOR, NULL));
    FX_ACCEPTED(fx_vote(fx, "E06000057", "cllr.peter.hall", m, ICS__V1__VOTE_CHOICE__VOTE_FOR,
                        NULL));
    char *t = fx_query(fx, false, "policy.show", NULL);
    FX_CONTAINS(t, "Built-in default scheme"); /* not yet: 3 of 6 */
    free(t);
    FX_ACCEPTED(fx_vote(fx, "QHM", "sam.allen", m, ICS__V1__VOTE_CHOICE__VOTE_FOR, NULL));
    t = fx_query(fx, false, "policy.show", NULL);
    char want[128];
    snprintf(want, sizeof want, "version 2: in force from index %llu, decided by motion %llu",
             (unsigned long long)fx->last.position, (unsigned long long)m);
    FX_CONTAINS(t, "NHS North East and North Cumbria ICB: scheme", want, "1  built-in default",
                "2  index");
    free(t);
    FX_ACCEPTED(fx_role(fx, "QHM", "QHM", "dr.strat", "strategy_director", NULL));
    /* The old version stays readable. */
    t = fx_query(fx, false, "policy.show", "1", NULL);
    FX_CONTAINS(t, "Built-in default scheme");
    free(t);
    /* Proposing the scheme in force again changes nothing. */
    FX_REJECTED(fx_motion_policy(fx, "QHM", "sir.liam", p),
                "the proposed scheme is the one in force (version 2)");
    /* An invalid scheme is refused when proposed. */
    size_t n_rules = p->n_rules;
    p->n_rules = 1;
    FX_REJECTED(fx_motion_policy(fx, "QHM", "sir.liam", p),
                "the proposed scheme is not valid: no rule decides amendment.accept");
    p->n_rules = n_rules;
    ics__v1__policy__free_unpacked(p, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_policy_is_valid),
        cmocka_unit_test(test_nenc_example_loads),
        cmocka_unit_test(test_policy_file_errors_name_file_and_line),
        cmocka_unit_test(test_policy_file_missing),
        cmocka_unit_test_setup_teardown(test_genesis_without_policy_uses_default, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_genesis_with_invalid_policy_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_policy_show_reads_as_a_decision_map, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_aid_approval_follows_the_scheme, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_default_aid_approval_by_chief_executive, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_policy_changes_only_by_carried_motion, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
