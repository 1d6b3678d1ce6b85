/*
 * People, roles, interests and organisations without a node: registration
 * and its updates and removal, appointments under the scheme (who appoints,
 * whose people may hold a role, limits, scopes) and their refusals,
 * declared interests, and what people.list shows.
 */
#include "fixture_fsm.h"

#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"

#define GROUP "nenc"
#define HWB "HWB-E06000057"

static const char *const s_orgs[] = {"QHM:icb", "RTD:foundation_trust", "RX4:mental_health",
                                     "E06000057:local_authority", "RX6:ambulance"};

static int s_setup(void **state)
{
    fx_fsm_t *fx = fx_fsm_new(GROUP, s_orgs, 5);
    FX_ACCEPTED(fx_genesis(fx, NULL));
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fx_fsm_t *fx = *state;
    fx_fsm_destroy(&fx);
    return 0;
}

static char *s_list(fx_fsm_t *fx)
{
    return fx_query(fx, false, "people.list", NULL);
}

static void test_register_update_remove(void **state)
{
    fx_fsm_t *fx = *state;
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__PersonRegister r = ICS__V1__PERSON_REGISTER__INIT;
    char *t;

    FX_ACCEPTED(fx_person(fx, "RTD", "dr.amina.khan", "Dr Amina Khan"));
    FX_REJECTED(fx_person(fx, "RTD", "dr.amina.khan", "Dr Amina Khan"),
                "dr.amina.khan is already registered for RTD as Dr Amina Khan");
    r.person = "dr.amina.khan";
    r.name = "Dr Amina Khan";
    r.title = "Medical Director";
    ics_identity_t *key = fx_person_identity("RTD", "dr.amina.khan");
    r.public_key.data = (uint8_t *)ics_identity_public(key);
    r.public_key.len = ICS_PK_BYTES;
    cmd.body_case = ICS__V1__COMMAND__BODY_PERSON_REGISTER;
    cmd.person_register = &r;
    FX_ACCEPTED(fx_send(fx, "RTD", "registrar", &cmd));
    ics_identity_destroy(&key);
    FX_REJECTED(fx_person(fx, "RTD", "bad person", "X"),
                "person id 'bad person' is not valid");
    FX_REJECTED(fx_person(fx, "RTD", "p", ""), "p needs a name");
    FX_ACCEPTED(fx_role(fx, "QHM", "RTD", "dr.amina.khan", "partner_trust", NULL));
    t = s_list(fx);
    FX_CONTAINS(t, "RTD         dr.amina.khan          Dr Amina Khan (Medical Director)",
                "Partner member: NHS trusts and foundation trusts");
    free(t);
    /* Removing a person ends their roles; they can register again. */
    FX_ACCEPTED(fx_person_remove(fx, "RTD", "dr.amina.khan"));
    FX_REJECTED(fx_person_remove(fx, "RTD", "dr.amina.khan"),
                "RTD has no registered person dr.amina.khan");
    t = s_list(fx);
    FX_LACKS(t, "dr.amina.khan");
    free(t);
    FX_ACCEPTED(fx_person(fx, "RTD", "dr.amina.khan", "Dr Amina Khan"));
    t = s_list(fx);
    FX_CONTAINS(t, "dr.amina.khan", "no role");
    free(t);
}

static void test_appointment_refusals(void **state)
{
    fx_fsm_t *fx = *state;

    FX_ACCEPTED(fx_person(fx, "QHM", "sir.liam", "Sir Liam"));
    FX_ACCEPTED(fx_person(fx, "QHM", "other", "Another"));
    FX_ACCEPTED(fx_person(fx, "RTD", "dr.amina.khan", "Dr Amina Khan"));
    FX_ACCEPTED(fx_person(fx, "E06000057", "cllr", "Cllr"));
    FX_REJECTED(fx_role(fx, "QHM", "QHM", "sir.liam", "archbishop", NULL),
                "no role 'archbishop' in the scheme in force (version 1); its roles: chair,");
    FX_REJECTED(fx_role(fx, "QHM", "QHM", "nobody", "chair", NULL),
                "QHM has not registered nobody", "icsctl people register nobody");
    FX_REJECTED(fx_role(fx, "RTD", "QHM", "sir.liam", "chair", NULL),
                "Chair of the ICB is appointed by an organisation of kind icb; RTD is "
                "foundation_trust");
    FX_REJECTED(fx_role(fx, "QHM", "RTD", "dr.amina.khan", "partner_local_authority", NULL),
                "Partner member: local authorities is held by people of local_authority "
                "organisations; RTD is foundation_trust");
    FX_ACCEPTED(fx_role(fx, "QHM", "QHM", "sir.liam", "chair", NULL));
    FX_REJECTED(fx_role(fx, "QHM", "QHM", "sir.liam", "chair", NULL),
                "sir.liam of QHM already holds Chair of the ICB");
    FX_REJECTED(fx_role(fx, "QHM", "QHM", "other", "chair", NULL),
                "Chair of the ICB already has 1 holder, the most the scheme allows");
    /* Scoped roles name what they act for, and only those. */
    FX_REJECTED(fx_role(fx, "E06000057", "E06000057", "cllr", "hwb_chair", NULL),
                "Chair of a health and wellbeing board acts for a named organisation");
    FX_REJECTED(fx_role(fx, "E06000057", "E06000057", "cllr", "hwb_chair", HWB),
                "scope HWB-E06000057 is not an organisation known to the group");
    FX_REJECTED(fx_role(fx, "QHM", "QHM", "other", "chief_executive", "RTD"),
                "Chief Executive takes no scope");
    FX_REJECTED(fx_role(fx, "QHM", "E06000057", "cllr", "hwb_chair", HWB),
                "E06000057 appoints its own Chair of a health and wellbeing board; QHM cannot");
    FX_REJECTED(fx_role_revoke(fx, "QHM", "QHM", "other", "chair", NULL),
                "other of QHM does not hold Chair of the ICB");
    FX_ACCEPTED(fx_role_revoke(fx, "QHM", "QHM", "sir.liam", "chair", NULL));
    FX_ACCEPTED(fx_role(fx, "QHM", "QHM", "other", "chair", NULL));
}

static void test_interests(void **state)
{
    fx_fsm_t *fx = *state;
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__InterestDeclare d = ICS__V1__INTEREST_DECLARE__INIT;
    char *t;

    FX_ACCEPTED(fx_person(fx, "QHM", "ned", "A non-executive"));
    FX_REJECTED(fx_interest(fx, "QHM", "nobody", "org:RTD", "x"),
                "nobody is not registered as acting for QHM");
    FX_REJECTED(fx_interest(fx, "QHM", "ned", "has spaces", "x"),
                "interest subject 'has spaces' is not valid");
    FX_REJECTED(fx_interest(fx, "QHM", "ned", "org:RTD", ""), "describe the interest");
    FX_ACCEPTED(fx_interest(fx, "QHM", "ned", "org:RTD", "Spouse works at RTD"));
    FX_REJECTED(fx_interest(fx, "QHM", "ned", "ORG:rtd", "again"),
                "an interest in ORG:rtd is already declared");
    FX_ACCEPTED(fx_interest(fx, "RTD", NULL, "plan:jfp-2026", "Main provider"));
    t = s_list(fx);
    FX_CONTAINS(t, "QHM         ned                    org:RTD                  Spouse works at RTD",
                "RTD         (organisation)         plan:jfp-2026");
    free(t);
    d.subject = "org:RTD";
    d.withdraw = true;
    cmd.body_case = ICS__V1__COMMAND__BODY_INTEREST_DECLARE;
    cmd.interest_declare = &d;
    FX_ACCEPTED(fx_send(fx, "QHM", "ned", &cmd));
    FX_REJECTED(fx_send(fx, "QHM", "ned", &cmd),
                "ned of QHM has no declared interest in org:RTD to withdraw");
    t = s_list(fx);
    FX_LACKS(t, "Spouse works at RTD");
    free(t);
}

static void test_organisations_without_a_node(void **state)
{
    fx_fsm_t *fx = *state;
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__OrgRegister r = ICS__V1__ORG_REGISTER__INIT;
    char *t;

    FX_REJECTED(fx_org_register(fx, "RTD", HWB, "hwb", "Northumberland HWB", "E06000057"),
                "only the membership administrator, or the organisation's parent member");
    FX_REJECTED(fx_org_register(fx, "E06000057", HWB, "hwb", "Northumberland HWB", "NOPE"),
                "parent NOPE is not a member of the group");
    FX_REJECTED(fx_org_register(fx, "QHM", "bad id!", "hwb", "x", NULL),
                "'bad id!' is not a valid organisation id");
    FX_ACCEPTED(fx_org_register(fx, "E06000057", HWB, "hwb", "Northumberland HWB",
                                "E06000057"));
    FX_REJECTED(fx_org_register(fx, "E06000057", HWB, "hwb", "Northumberland HWB",
                                "E06000057"), "HWB-E06000057 is already registered");
    FX_ACCEPTED(fx_org_register(fx, "QHM", "NHSE", "nhse", "NHS England", NULL));
    t = s_list(fx);
    FX_CONTAINS(t, "HWB-E06000057    hwb          Northumberland HWB (part of E06000057)",
                "NHSE             nhse         NHS England");
    free(t);
    r.org = "NHSE";
    r.remove = true;
    cmd.body_case = ICS__V1__COMMAND__BODY_ORG_REGISTER;
    cmd.org_register = &r;
    FX_REJECTED(fx_send(fx, "RTD", NULL, &cmd),
                "only the membership administrator or NHSE's parent organisation may remove it");
    FX_ACCEPTED(fx_send(fx, "QHM", NULL, &cmd));
    t = s_list(fx);
    FX_LACKS(t, "NHS England");
    free(t);
}

/* An organisation that is not a member cannot act at all: the core refuses
 * its entries before any domain sees them. */
static void test_non_member_refused(void **state)
{
    fx_fsm_t *fx = *state;
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__PersonRegister r = ICS__V1__PERSON_REGISTER__INIT;
    fx_org_t stranger = {"RTF", "foundation_trust", fx_identity("RTF"), 0, 0, ""};
    ics_apply_result_t res;
    uint8_t *buf;
    size_t len = 0;

    r.person = "someone";
    r.name = "Someone";
    cmd.body_case = ICS__V1__COMMAND__BODY_PERSON_REGISTER;
    cmd.person_register = &r;
    buf = fx_seal(GROUP, &stranger, "someone", fx->now, &cmd, &len);
    assert_int_equal(ics_fsm_apply(fx->fsm, buf, len, &res), ICS_OK);
    assert_false(res.accepted);
    assert_string_equal(res.reason, "unknown organisation RTF");
    free(buf);
    ics_identity_destroy(&stranger.key);
}

/* An administrator may enter an action on behalf of a person of their
 * organisation (the entry keeps both names), never a vote; nobody else
 * may. */
static void test_on_behalf(void **state)
{
    fx_fsm_t *fx = *state;
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__InterestDeclare d = ICS__V1__INTEREST_DECLARE__INIT;
    Ics__V1__Vote v = ICS__V1__VOTE__INIT;
    uint8_t *payload, *env;
    size_t plen = 0, len = 0;
    char *t;

    FX_ACCEPTED(fx_person(fx, "RTD", "hr.lead", "HR Lead"));  /* RTD's administrator */
    FX_ACCEPTED(fx_person(fx, "RTD", "dr.amina.khan", "Dr Amina Khan"));
    d.subject = "org:RX4";
    d.description = "Honorary contract with RX4";
    cmd.body_case = ICS__V1__COMMAND__BODY_INTEREST_DECLARE;
    cmd.interest_declare = &d;
    cmd.on_behalf_of = "dr.amina.khan";
    payload = fx_person_sign(fx->group, "RTD", "hr.lead", NULL, ++fx_org(fx, "RTD")->person_seq,
                             &cmd, &plen);
    env = fx_seal_payload(fx->group, fx_org(fx, "RTD"), fx->now, (uint32_t)cmd.body_case,
                          payload, plen, &len);
    free(payload);
    FX_ACCEPTED(fx_apply(fx, env, len));
    free(env);
    fx->now += 1000;
    t = fx_query(fx, false, "people.list", "RTD", NULL);
    FX_CONTAINS(t, "dr.amina.khan", "org:RX4");
    free(t);

    /* Not by someone who is not an administrator, not for a stranger. */
    cmd.on_behalf_of = "hr.lead";
    d.subject = "org:RX6";
    FX_REJECTED(fx_send(fx, "RTD", "dr.amina.khan", &cmd),
                "dr.amina.khan is not an administrator of RTD: only an administrator enters an "
                "action on behalf of someone");
    cmd.on_behalf_of = "ghost";
    FX_REJECTED(fx_send(fx, "RTD", "hr.lead", &cmd),
                "ghost is not registered as acting for RTD; nobody acts on their behalf");
    /* Never a vote. */
    ics__v1__command__init(&cmd);
    v.motion = 1;
    v.choice = ICS__V1__VOTE_CHOICE__VOTE_FOR;
    cmd.body_case = ICS__V1__COMMAND__BODY_VOTE;
    cmd.vote = &v;
    cmd.on_behalf_of = "dr.amina.khan";
    FX_REJECTED(fx_send(fx, "RTD", "hr.lead", &cmd),
                "a vote is the voter's own: hr.lead cannot cast it on behalf of dr.amina.khan");
    /* And not without a person signing. */
    FX_REJECTED(fx_send(fx, "RTD", NULL, &cmd),
                "malformed command: on behalf of dr.amina.khan but no person named");
}

/* people.list shows each person's key id (as log show prints key ids) and
 * its history: registered, rotated, revoked, at which index, by whom. */
static void test_list_shows_keys(void **state)
{
    fx_fsm_t *fx = *state;
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__PersonRegister r = ICS__V1__PERSON_REGISTER__INIT;
    ics_identity_t *lead = fx_person_identity("RTD", "hr.lead");
    ics_identity_t *old = fx_person_identity("RTD", "night.nurse");
    ics_identity_t *fresh = fx_person_identity("RTD", "night.nurse/2");
    char hl[17], ho[17], hf[17], want[6][200];
    ics_apply_result_t a, b, c, d;
    char *t;

    ics_hex(ics_identity_key_id(lead), 8, hl);
    ics_hex(ics_identity_key_id(old), 8, ho);
    ics_hex(ics_identity_key_id(fresh), 8, hf);
    a = fx_person(fx, "RTD", "hr.lead", "HR Lead"); /* by RTD alone: its administrator */
    FX_ACCEPTED(a);
    b = fx_person(fx, "RTD", "night.nurse", "Night Nurse");
    FX_ACCEPTED(b);
    r.person = "night.nurse";
    r.public_key.data = (uint8_t *)ics_identity_public(fresh);
    r.public_key.len = ICS_PK_BYTES;
    cmd.body_case = ICS__V1__COMMAND__BODY_PERSON_REGISTER;
    cmd.person_register = &r;
    c = fx_send_key(fx, "RTD", "night.nurse", old, &cmd); /* their own rotation */
    FX_ACCEPTED(c);
    d = fx_person_remove(fx, "RTD", "night.nurse");
    FX_ACCEPTED(d);
    FX_ACCEPTED(fx_person(fx, "RTD", "night.nurse", "Night Nurse"));

    t = fx_query(fx, false, "people.list", "RTD", NULL);
    snprintf(want[0], sizeof want[0], "key %s (administrator", hl);
    snprintf(want[1], sizeof want[1], "registered %s at index %llu by RTD\n", hl,
             (unsigned long long)a.position);
    snprintf(want[2], sizeof want[2], "registered %s at index %llu by hr.lead\n", ho,
             (unsigned long long)b.position);
    snprintf(want[3], sizeof want[3], "rotated %s at index %llu by night.nurse\n", hf,
             (unsigned long long)c.position);
    snprintf(want[4], sizeof want[4], "revoked %s at index %llu by hr.lead\n", hf,
             (unsigned long long)d.position);
    snprintf(want[5], sizeof want[5], "key %s\n", ho);
    FX_CONTAINS(t, want[0], want[1], want[2], want[3], want[4], want[5]);
    free(t);
    t = fx_query(fx, true, "people.list", "RTD", NULL);
    snprintf(want[0], sizeof want[0],
             "\"key_id\":\"%s\",\"admin\":true,\"key_history\":"
             "[{\"index\":%llu,\"action\":\"registered\",\"key_id\":\"%s\",\"by\":\"\"}]",
             hl, (unsigned long long)a.position, hl);
    snprintf(want[1], sizeof want[1],
             "{\"index\":%llu,\"action\":\"revoked\",\"key_id\":"
             "\"%s\",\"by\":\"hr.lead\"}",
             (unsigned long long)d.position, hf);
    FX_CONTAINS(t, want[0], want[1]);
    free(t);
    ics_identity_destroy(&lead);
    ics_identity_destroy(&old);
    ics_identity_destroy(&fresh);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, s_setup, s_teardown)
    const struct CMUnitTest tests[] = {
        T(test_register_update_remove),
        T(test_appointment_refusals),
        T(test_interests),
        T(test_organisations_without_a_node),
        T(test_non_member_refused),
        T(test_on_behalf),
        T(test_list_shows_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
