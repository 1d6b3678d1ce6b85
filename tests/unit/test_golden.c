/*
 * Golden log of the state machine: one fixed sequence of signed entries
 * touching every domain (genesis, Raw and ClockTick, members and keys,
 * people, the scheme, plans and amendments, consultations, motions and
 * votes, OPEL, mutual aid, checkpoints) and the garbage a log can hold
 * (undecodable bytes, another group's entries, forged and tampered
 * signatures, unknown organisations, replays), with the verdict and exact
 * rejection text of every entry and the audit chain head after the last, as
 * recorded under ICS_RULES_VERSION.
 *
 * Every rejection text is hashed into the audit chain, so rewording one is a
 * consensus change: nodes running the old and the new text disagree from
 * that entry on. This test fails on any such change. If it is intended, bump
 * ICS_RULES_VERSION in daemon/fsm/fsm.h and re-record the golden values:
 *     ICS_GOLDEN_RECORD=1 ./test_golden
 * prints the section between the GOLDEN markers below, in C, to paste over
 * it (it refuses while the values differ and the version has not moved).
 * The entries are built with fixture_fsm.h's helpers; when the log itself
 * changes (entries added here, or what a helper puts into a command) and
 * the rules do not, ICS_GOLDEN_RECORD=scenario records without that check.
 *
 * The same entries are replayed on a fresh state machine and, through a
 * snapshot taken part-way and restored into a third, both of which must
 * reach the same result for every entry, the same chain, clock and state.
 *
 * Nothing is random or read from a clock: keys come from fixed seeds
 * (fx_identity: crypto_sign_seed_keypair), timestamps from a fixed epoch and
 * step, sequence numbers from the fixture's counters.
 *
 * Layout: fixture, helpers, the log (one builder per domain), golden
 * values, checks, scenarios.
 */
#define _GNU_SOURCE /* memmem */
#include "fixture_fsm.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/envelope.h"
#include "common/logverify.h"
#include "common/policyfile.h"
#include "common/sigmemo.h"
#include "verifier.h"

/* ---------------------------------------------------------------- fixture */

#define GROUP "nenc"
#define PLAN "jfp-2026"
#define HWB "HWB-E06000057"
#define MIN 60000ull
#define HOUR 3600000ull
#define DAY (24 * HOUR)

/* The first five found the group; RTF joins later; EVE never does. */
static const char *const s_orgs[] = {"QHM:icb", "RTD:foundation_trust", "RX4:mental_health",
                                     "E06000057:local_authority", "RX6:ambulance",
                                     "RTF:foundation_trust", "EVE:trust"};
#define N_FOUNDERS 5

#define FOR ICS__V1__VOTE_CHOICE__VOTE_FOR
#define AGAINST ICS__V1__VOTE_CHOICE__VOTE_AGAINST
#define ABSTAIN ICS__V1__VOTE_CHOICE__VOTE_ABSTAIN
#define REPLACE ICS__V1__AMEND_OP__AMEND_REPLACE
#define INSERT ICS__V1__AMEND_OP__AMEND_INSERT
#define DELETE ICS__V1__AMEND_OP__AMEND_DELETE
#define ADD ICS__V1__AMEND_OP__AMEND_ADD
#define SUPPORT ICS__V1__STANCE__STANCE_SUPPORT
#define NO_OPINION ICS__V1__OPINION__OPINION_UNSPECIFIED

#define S_STEP_MS 1000 /* proposer time between entries (fx_set_step) */
#define S_MAX_SECTIONS 16

typedef struct {
    const char *name;
    size_t first;            /* index of its first entry in the tape */
} s_section_t;

/* The log being built, and what later entries refer to (indexes are log
 * positions). */
typedef struct {
    fx_fsm_t *fx;
    s_section_t section[S_MAX_SECTIONS];
    size_t n_sections;
    size_t cut;              /* tape index where the replay snapshots */
    ics_identity_t *rx6_old; /* RX6's key before it rotated it */
    ics_apply_result_t genesis;
    uint64_t a_intro, a_rival, a_insert, a_add, a_delete;   /* amendments */
    uint64_t c_deadline, c_early;                           /* consultations */
    uint64_t m_open;         /* a motion left open until its deadline */
} s_log_t;

/* ---------------------------------------------------------------- helpers */

static void s_section(s_log_t *l, const char *name)
{
    assert_true(l->n_sections < S_MAX_SECTIONS);
    l->section[l->n_sections].name = name;
    l->section[l->n_sections].first = l->fx->n_tape;
    l->n_sections++;
}

static const char s_advice[] =
    "a consensus-visible rule or text changed: if intended, bump ICS_RULES_VERSION in "
    "daemon/fsm/fsm.h and re-record the golden values (run test_golden with "
    "ICS_GOLDEN_RECORD=1 to print them)";

/* An entry later ones build on: it must have been accepted (if a rule
 * change refuses it, the log needs adapting before it can be re-recorded). */
static uint64_t s_made(ics_apply_result_t r, const char *what)
{
    if (!r.accepted)
        fail_msg("golden log: %s was refused: %s.\n%s", what, r.reason, s_advice);
    return r.position;
}

/* Applies sealed bytes (freed) as the next entry, at the fixture's pace. */
static ics_apply_result_t s_apply_sealed(fx_fsm_t *fx, uint8_t *buf, size_t len)
{
    ics_apply_result_t r = fx_apply(fx, buf, len);
    free(buf);
    fx->now += S_STEP_MS;
    return r;
}

/* cmd signed as org with org's next seq, or as a stand-in for it (another
 * key, another group, a chosen seq) without touching org's counter. */
static ics_apply_result_t s_send_as(fx_fsm_t *fx, const char *group, const fx_org_t *as,
                                    const char *person, Ics__V1__Command *cmd)
{
    fx_org_t copy = *as;
    size_t len = 0;
    uint8_t *buf = fx_seal(group, &copy, person, fx->now, cmd, &len);
    return s_apply_sealed(fx, buf, len);
}

static ics_apply_result_t s_motion_remove(fx_fsm_t *fx, const char *org, const char *person,
                                          const char *member)
{
    Ics__V1__MotionPropose m = ICS__V1__MOTION_PROPOSE__INIT;
    Ics__V1__MotionRemoveMember r = ICS__V1__MOTION_REMOVE_MEMBER__INIT;
    r.org = (char *)member;
    m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_REMOVE_MEMBER;
    m.remove_member = &r;
    return fx_motion(fx, org, person, &m);
}

static ics_apply_result_t s_motion_aid(fx_fsm_t *fx, const char *person, uint64_t offer,
                                       const char *org, uint64_t value)
{
    Ics__V1__MotionPropose m = ICS__V1__MOTION_PROPOSE__INIT;
    Ics__V1__MotionApproveAid a = ICS__V1__MOTION_APPROVE_AID__INIT;
    a.offer = offer;
    a.org = (char *)org;
    a.value = value;
    m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_APPROVE_AID;
    m.approve_aid = &a;
    return fx_motion(fx, "QHM", person, &m);
}

/* ---------------------------------------------------------------- the log */

static void s_genesis(s_log_t *l)
{
    fx_fsm_t *fx = l->fx;
    Ics__V1__Policy *p = NULL;
    size_t n_rules;

    s_section(l, "genesis");
    fx_raw(fx, "RTD", NULL, "before the genesis");
    assert_int_equal(ics_policy_default(&p), ICS_OK);
    n_rules = p->n_rules;
    p->n_rules = 0;
    fx_genesis_as(fx, "QHM", p, N_FOUNDERS);
    p->n_rules = n_rules;
    ics__v1__policy__free_unpacked(p, NULL);
    fx_genesis_as(fx, "EVE", NULL, N_FOUNDERS);
    l->genesis = fx_genesis_as(fx, "QHM", NULL, N_FOUNDERS);
    s_made(l->genesis, "the genesis");
    fx_genesis_as(fx, "QHM", NULL, N_FOUNDERS);
}

/* n Raw notes of org's, sealed together under one signature (version 2),
 * with org's next seqs: out[i] malloc'd. */
static void s_seal_notes(fx_fsm_t *fx, fx_org_t *org, const char *const *notes, size_t n,
                         uint8_t **out, size_t *out_len)
{
    ics_envelope_fields_t f[8];
    uint8_t *payload[8];
    ics_err_t err;

    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        fx_cmd_t c;
        fx_cmd_raw(&c, notes[i]);
        c.cmd.actor = (char *)"";
        assert_int_equal(ics_pack(&c.cmd.base, &payload[i], &f[i].payload_len), ICS_OK);
        f[i] = (ics_envelope_fields_t){GROUP, org->id, ++org->seq, fx->now,
                                       ICS__V1__COMMAND__BODY_RAW, payload[i], f[i].payload_len};
    }
    if (ics_envelope_seal_batch(org->key, f, n, out, out_len, &err) != ICS_OK)
        fail_msg("seal: %s", err.msg);
    for (size_t i = 0; i < n; i++)
        free(payload[i]);
}

/* env (freed) packed again, as the caller changed it; signed afresh by
 * key over its version 1 signing input when key is not NULL. */
static uint8_t *s_repack(Ics__V1__Envelope *env, const ics_identity_t *key, size_t *len)
{
    uint8_t *out = NULL, *input = NULL;
    size_t input_len = 0;

    if (key != NULL) {
        assert_int_equal(ics_envelope_signing_input(env, &input, &input_len), ICS_OK);
        ics_identity_sign(key, input, input_len, env->signature.data);
        free(input);
    }
    assert_int_equal(ics_pack(&env->base, &out, len), ICS_OK);
    ics__v1__envelope__free_unpacked(env, NULL);
    return out;
}

/* One of org's notes, sealed and then changed to the version and batch
 * size given, signed afresh over its version 1 signing input by key (NULL:
 * left as sealed), applied as the next entry. */
static ics_apply_result_t s_note_as(fx_fsm_t *fx, fx_org_t *org, const char *note,
                                    uint32_t version, uint32_t batch_size,
                                    const ics_identity_t *key)
{
    Ics__V1__Envelope *env = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    ics_err_t err;

    s_seal_notes(fx, org, &note, 1, &buf, &len);
    assert_int_equal(ics_envelope_decode(buf, len, &env, &err), ICS_OK);
    free(buf);
    env->version = version;
    env->batch_size = batch_size;
    buf = s_repack(env, key, &len);
    return s_apply_sealed(fx, buf, len);
}

/* Version 2 seals a batch under one signature (docs/log-format.md section
 * 2); version 1, one signature an envelope, is what logs written before
 * hold, and still verifies. */
static void s_batches(s_log_t *l)
{
    static const char *const three[] = {"sealed together: one", "two", "three"};
    static const char *const two[] = {"a batch of two", "its path altered"};
    fx_fsm_t *fx = l->fx;
    fx_org_t *rtd = fx_org(fx, "RTD");
    uint8_t *buf[8];
    size_t len[8];

    s_seal_notes(fx, rtd, three, 3, buf, len);
    for (size_t i = 0; i < 3; i++)
        s_made(s_apply_sealed(fx, buf[i], len[i]), "an envelope of a sealed batch");
    /* A path that leads to another root: the signature does not verify,
     * and the seq is not burnt. */
    s_seal_notes(fx, rtd, two, 2, buf, len);
    buf[1][len[1] - 1] ^= 0x01; /* the path is the last field */
    s_made(s_apply_sealed(fx, buf[0], len[0]), "the first of a batch of two");
    s_apply_sealed(fx, buf[1], len[1]);
    rtd->seq--;
    /* Version 1: accepted; with batch fields, malformed. */
    s_made(s_note_as(fx, rtd, "version 1", 1, 0, rtd->key), "a version 1 envelope");
    s_note_as(fx, rtd, "version 1, batch fields", 1, 1, rtd->key);
    /* Version 2 with a batch of none, and a version to come. */
    s_note_as(fx, rtd, "a batch of none", 2, 0, NULL);
    s_note_as(fx, rtd, "version 3", 3, 1, NULL);
    rtd->seq -= 3;
}

static void s_envelopes(s_log_t *l)
{
    fx_fsm_t *fx = l->fx;
    fx_org_t as;
    fx_cmd_t c;
    uint8_t *buf, *payload = NULL;
    size_t len = 0, plen = 0;
    char actor[200];
    uint64_t real;

    s_section(l, "envelopes, signatures, replays");
    buf = (uint8_t *)strdup("not an envelope");
    s_apply_sealed(fx, buf, strlen("not an envelope"));
    s_apply_sealed(fx, NULL, 0);
    fx_cmd_raw(&c, "for another group");
    s_send_as(fx, "nel-ics", fx_org(fx, "RX4"), NULL, &c.cmd);
    as = *fx_org(fx, "RX4");
    as.seq = INT64_MAX;
    fx_cmd_raw(&c, "sequence number beyond 2^63-1");
    s_send_as(fx, GROUP, &as, NULL, &c.cmd);
    /* Forged (EVE's key) and tampered: neither burns RTD's next seq. */
    as = *fx_org(fx, "RTD");
    as.key = fx_org(fx, "EVE")->key;
    fx_cmd_raw(&c, "forged");
    s_send_as(fx, GROUP, &as, NULL, &c.cmd);
    as = *fx_org(fx, "RTD");
    fx_cmd_raw(&c, "tampered");
    buf = fx_seal(GROUP, &as, NULL, fx->now, &c.cmd, &len);
    ((uint8_t *)memmem(buf, len, "tampered", 8))[0] ^= 0x20; /* "Tampered" */
    s_apply_sealed(fx, buf, len);
    real = s_made(fx_raw(fx, "RTD", NULL, "the real one"), "RTD's entry");
    fx_raw(fx, "EVE", "mallory", "not a member");
    /* Replays: the same bytes, and the same (org, seq) with other bytes. */
    buf = NULL;
    for (size_t i = 0; i < fx->n_tape && buf == NULL; i++) {
        if (fx->tape[i].res.position == real && !fx->tape[i].res.duplicate) {
            len = fx->tape[i].len;
            buf = malloc(len);
            assert_non_null(buf);
            memcpy(buf, fx->tape[i].buf, len);
        }
    }
    assert_non_null(buf);
    s_apply_sealed(fx, buf, len);
    as = *fx_org(fx, "RTD");
    as.seq--;
    fx_cmd_raw(&c, "the same seq, other bytes");
    s_send_as(fx, GROUP, &as, NULL, &c.cmd);
    /* Commands that do not decode, or not as the header says. */
    buf = fx_seal_payload(GROUP, fx_org(fx, "RTD"), fx->now, ICS__V1__COMMAND__BODY_RAW,
                          (const uint8_t *)"\xff\xff", 2, &len);
    s_apply_sealed(fx, buf, len);
    fx_cmd_raw(&c, "a Raw sent as a ClockTick");
    c.cmd.actor = NULL;
    assert_int_equal(ics_pack(&c.cmd.base, &payload, &plen), ICS_OK);
    buf = fx_seal_payload(GROUP, fx_org(fx, "RTD"), fx->now, ICS__V1__COMMAND__BODY_TICK,
                          payload, plen, &len);
    free(payload);
    s_apply_sealed(fx, buf, len);
    ics__v1__command__init(&c.cmd);
    c.cmd.actor = NULL;
    assert_int_equal(ics_pack(&c.cmd.base, &payload, &plen), ICS_OK);
    buf = fx_seal_payload(GROUP, fx_org(fx, "RTD"), fx->now, 99, payload, plen, &len);
    free(payload);
    s_apply_sealed(fx, buf, len);
    memset(actor, 'a', sizeof actor - 1);
    actor[sizeof actor - 1] = '\0';
    fx_raw(fx, "RTD", actor, "an actor name too long");
    s_batches(l);
}

static void s_core(s_log_t *l)
{
    fx_fsm_t *fx = l->fx;
    fx_cmd_t c;

    s_section(l, "Raw and ClockTick");
    fx_tick(fx, fx->now + MIN);
    fx_tick(fx, FX_EPOCH_MS); /* behind the clock: accepted, changes nothing */
    fx_cmd_tick(&c, UINT64_MAX);
    fx_send(fx, "QHM", "icsd", &c.cmd);
    fx_raw(fx, "RX4", NULL, "minutes of the partnership meeting");
}

static void s_members(s_log_t *l)
{
    fx_fsm_t *fx = l->fx;
    const uint8_t *rtf = ics_identity_public(fx_org(fx, "RTF")->key);
    const uint8_t *rx4 = ics_identity_public(fx_org(fx, "RX4")->key);
    const uint8_t *rtd = ics_identity_public(fx_org(fx, "RTD")->key);
    ics_identity_t *rx6_new = fx_identity("RX6-2026");
    fx_org_t as;
    fx_cmd_t c;

    s_section(l, "members and keys");
    fx_member_add(fx, "RTD", "RTF", "foundation_trust", rtf, ICS_PK_BYTES, true);
    fx_member_add(fx, "QHM", "RTF", "foundation_trust", (const uint8_t *)"short", 5, true);
    fx_member_add(fx, "QHM", "RTF", "foundation_trust", rx4, ICS_PK_BYTES, true);
    fx_member_add(fx, "QHM", "RTD", "foundation_trust", rtf, ICS_PK_BYTES, true);
    s_made(fx_member_add(fx, "QHM", "RTF", "foundation_trust", rtf, ICS_PK_BYTES, false),
           "RTF's admission");
    fx_raw(fx, "RTF", NULL, "first entry of a new member");
    /* RX6 rotates its key: the old one signs nothing after that entry. */
    s_made(fx_key_rotate(fx, "RX6", "RX6", ics_identity_public(rx6_new), ICS_PK_BYTES),
           "RX6's key rotation");
    l->rx6_old = fx_org(fx, "RX6")->key;
    fx_org(fx, "RX6")->key = rx6_new;
    as = *fx_org(fx, "RX6");
    as.key = l->rx6_old;
    fx_cmd_raw(&c, "signed with the old key");
    s_send_as(fx, GROUP, &as, NULL, &c.cmd);
    fx_raw(fx, "RX6", NULL, "signed with the new key");
    fx_key_rotate(fx, "RTD", "RX4", rtf, ICS_PK_BYTES);
    fx_key_rotate(fx, "RX4", "RX4", rx4, ICS_PK_BYTES);
    fx_key_rotate(fx, "QHM", "ZZZ", rtf, ICS_PK_BYTES);
    fx_key_rotate(fx, "RX4", "RX4", rtd, ICS_PK_BYTES);
    fx_key_rotate(fx, "RX4", "RX4", (const uint8_t *)"short", 5);
    fx_member_remove(fx, "RTD", "RX4");
    fx_member_remove(fx, "QHM", "QHM");
    fx_member_remove(fx, "QHM", "ZZZ");
    s_made(fx_member_remove(fx, "QHM", "RTF"), "RTF's removal");
    fx_raw(fx, "RTF", NULL, "after its removal");
}

static void s_people(s_log_t *l)
{
    fx_fsm_t *fx = l->fx;
    static const char *const people[][3] = {
        {"QHM", "sir.liam", "Sir Liam Hartley"},
        {"QHM", "sam.allen", "Sam Ashworth"},
        {"QHM", "fiona.d", "Fiona Dunn"},
        {"QHM", "ned.one", "Nadia Edwards"},
        {"QHM", "ned.two", "Ned Thompson"},
        {"RTD", "dr.amina.khan", "Dr Amina Khan"},
        {"RX4", "prof.mh", "Prof. Mary Hughes"},
        {"E06000057", "cllr.peter.hall", "Cllr Peter Hall"},
        {"RX6", "ops.lead", "Olu Peters"},
    };
    static const char *const roles[][3] = {
        {"QHM", "sir.liam", "chair"},           {"QHM", "sam.allen", "chief_executive"},
        {"QHM", "fiona.d", "finance_director"}, {"QHM", "ned.one", "non_executive"},
        {"QHM", "ned.two", "non_executive"},    {"RTD", "dr.amina.khan", "partner_trust"},
        {"E06000057", "cllr.peter.hall", "partner_local_authority"},
    };

    s_section(l, "people, roles, interests, organisations");
    for (size_t i = 0; i < sizeof people / sizeof people[0]; i++)
        s_made(fx_person(fx, people[i][0], people[i][1], people[i][2]), "a registration");
    fx_person(fx, "QHM", "bad id", "Bad Id");
    fx_person(fx, "QHM", "sir.liam", "Sir Liam Hartley");
    fx_person(fx, "QHM", "new.person", "");
    fx_person_remove(fx, "QHM", "ghost");
    fx_person(fx, "RX4", "prof.mh", "Professor Mary Hughes");
    fx_person(fx, "RX4", "temp.clerk", "Temporary Clerk");
    fx_person_remove(fx, "RX4", "temp.clerk");

    s_made(fx_org_register(fx, "E06000057", HWB, "hwb",
                           "Northumberland Health and Wellbeing Board", "E06000057"),
           "the HWB's registration");
    fx_org_register(fx, "E06000057", HWB, "hwb", "Northumberland Health and Wellbeing Board",
                    "E06000057");
    fx_org_register(fx, "RTD", "HWB-E08000021", "hwb", "Newcastle HWB", "E06000057");
    fx_org_register(fx, "QHM", "RTD", "foundation_trust", "Newcastle Hospitals", NULL);
    fx_org_register(fx, "QHM", "bad id", "hwb", "Bad", NULL);
    fx_org_register(fx, "QHM", "HWB-E08000021", "hwb", "Newcastle HWB", "ZZZ");
    fx_org_register(fx, "QHM", "HWB-E08000021", "hwb board", "Newcastle HWB", NULL);

    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        s_made(fx_role(fx, "QHM", roles[i][0], roles[i][1], roles[i][2], NULL), "a role");
    s_made(fx_role(fx, "E06000057", "E06000057", "cllr.peter.hall", "hwb_chair", HWB),
           "the HWB chair");
    fx_role(fx, "QHM", "QHM", "ned.one", "chair", NULL);
    fx_role(fx, "QHM", "RTD", "dr.amina.khan", "chair", NULL);
    fx_role(fx, "QHM", "QHM", "sir.liam", "chair", NULL);
    fx_role(fx, "RTD", "RTD", "dr.amina.khan", "partner_trust", NULL);
    fx_role(fx, "QHM", "QHM", "sir.liam", "president", NULL);
    fx_role(fx, "QHM", HWB, "cllr.peter.hall", "non_executive", NULL);
    fx_role(fx, "QHM", "RTD", "ghost", "partner_trust", NULL);
    fx_role(fx, "QHM", "E06000057", "cllr.peter.hall", "hwb_chair", HWB);
    fx_role(fx, "E06000057", "E06000057", "cllr.peter.hall", "hwb_chair", NULL);
    fx_role(fx, "QHM", "QHM", "fiona.d", "finance_director", HWB);
    fx_role(fx, "E06000057", "E06000057", "cllr.peter.hall", "hwb_chair", "HWB-ZZZ");
    fx_role_revoke(fx, "QHM", "QHM", "ned.one", "chair", NULL);

    s_made(fx_interest(fx, "QHM", "ned.two", "plan:" PLAN,
                       "Chairs a provider collaborative bidding for the plan's contracts"),
           "ned.two's interest");
    fx_interest(fx, "QHM", "ned.two", "plan:" PLAN, "Again");
    fx_interest(fx, "QHM", "ned.two", "bad subject", "Bad");
    fx_interest(fx, "QHM", "ned.two", "tag:virtual-wards", "");
    fx_interest_withdraw(fx, "QHM", "ned.one", "tag:virtual-wards");
    fx_interest(fx, "QHM", "ned.one", "tag:virtual-wards", "Trustee of a virtual ward provider");
    fx_interest_withdraw(fx, "QHM", "ned.one", "tag:virtual-wards");
    fx_interest(fx, "RX6", "nobody", "tag:virtual-wards", "Unregistered");
    fx_interest(fx, "RX4", NULL, "org:RX6", "Shares a board member with RX6");
}

static void s_policy(s_log_t *l)
{
    fx_fsm_t *fx = l->fx;
    static const char *const carry[][2] = {
        {"QHM", "sir.liam"}, {"QHM", "sam.allen"}, {"QHM", "fiona.d"},
        {"RTD", "dr.amina.khan"}, {"E06000057", "cllr.peter.hall"},
    };
    Ics__V1__Policy *p = NULL;
    uint64_t m;
    size_t n_rules;

    s_section(l, "the scheme, changed by motion");
    assert_int_equal(ics_policy_default(&p), ICS_OK);
    fx_motion_policy(fx, "QHM", "sir.liam", p);
    n_rules = p->n_rules;
    p->n_rules = 0;
    fx_motion_policy(fx, "QHM", "sir.liam", p);
    p->n_rules = n_rules;
    p->aid_threshold = 20;
    fx_motion_policy(fx, "QHM", "sam.allen", p);
    m = s_made(fx_motion_policy(fx, "QHM", "sir.liam", p), "the policy change");
    for (size_t i = 0; i < sizeof carry / sizeof carry[0]; i++)
        fx_vote(fx, carry[i][0], carry[i][1], m, FOR, NULL);
    fx_vote(fx, "QHM", "ned.one", m, FOR, NULL);
    /* A second change, lost as soon as two thirds cannot be reached. */
    p->aid_threshold = 30;
    m = s_made(fx_motion_policy(fx, "QHM", "sir.liam", p), "the second policy change");
    p->aid_threshold = 40;
    fx_motion_policy(fx, "QHM", "sir.liam", p);
    fx_vote(fx, "QHM", "ned.one", m, AGAINST, "the threshold is high enough");
    fx_vote(fx, "QHM", "ned.two", m, AGAINST, NULL);
    fx_vote(fx, "QHM", "fiona.d", m, AGAINST, NULL);
    ics__v1__policy__free_unpacked(p, NULL);
}

static void s_plans(s_log_t *l)
{
    fx_fsm_t *fx = l->fx;
    static const fx_section_t sections[] = {
        {"intro", "Introduction", "We plan together.\n\nWe publish what we decide."},
        {"urgent-care", "Urgent and emergency care",
         "Reduce ambulance handover delays.\n\nOpen more same-day emergency care."},
        {"finance", "Finance", "Balance the system's budget."},
    };
    static const fx_section_t twice[] = {
        {"intro", "Introduction", "One."}, {"intro", "Introduction", "Two."},
    };
    uint64_t m;

    s_section(l, "plans and amendments");
    s_made(fx_plan_create(fx, "QHM", "sam.allen", PLAN, "Joint Forward Plan", "2026/27-2030/31",
                          sections, 3), "the plan");
    fx_plan_create(fx, "QHM", "sam.allen", PLAN, "Joint Forward Plan", "2026/27-2030/31",
                   sections, 3);
    fx_plan_create(fx, "QHM", "sam.allen", "JFP 2026", "Joint Forward Plan", "2026/27-2030/31",
                   sections, 3);
    fx_plan_create(fx, "QHM", "sam.allen", "jfp-2027", "Joint Forward Plan", "2026", sections,
                   3);
    fx_plan_create(fx, "QHM", "sam.allen", "jfp-2027", "Joint Forward Plan", "2026/27-2030/31",
                   sections, 0);
    fx_plan_create(fx, "QHM", "sam.allen", "jfp-2027", "Joint Forward Plan", "2026/27-2030/31",
                   twice, 2);
    fx_plan_create(fx, "QHM", "nobody", "jfp-2027", "Joint Forward Plan", "2026/27-2030/31",
                   sections, 3);

    l->a_intro = s_made(fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 1, REPLACE, "intro", NULL,
                                 "We plan and act together.", 0, NULL, "Stronger"),
                        "amendment to intro");
    l->a_rival = s_made(fx_amend(fx, "RX4", "prof.mh", PLAN, 1, REPLACE, "intro", NULL,
                                 "We plan together with our communities.", 0, NULL,
                                 "Co-production"), "rival amendment to intro");
    l->a_insert = s_made(fx_amend(fx, "E06000057", "cllr.peter.hall", PLAN, 1, INSERT,
                                  "urgent-care", NULL, "Invest in a community falls response.",
                                  2, NULL, "Falls are a third of our conveyances"),
                         "insertion into urgent-care");
    l->a_add = s_made(fx_amend(fx, "RX6", "ops.lead", PLAN, 1, ADD, "ambulance",
                               "Ambulance services", "Meet category 2 standards.", 0,
                               "urgent-care", "A section of its own"), "a new section");
    l->a_delete = s_made(fx_amend(fx, "QHM", "sam.allen", PLAN, 1, DELETE, "finance", NULL,
                                  NULL, 0, NULL, "Finance moves to the operational plan"),
                         "deletion of finance");
    fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 1, 9, "intro", NULL, "x", 0, NULL, "x");
    fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 1, REPLACE, "intro", NULL, "x", 0, NULL, "");
    fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 1, REPLACE, "nope", NULL, "x", 0, NULL, "x");
    fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 5, REPLACE, "intro", NULL, "x", 0, NULL, "x");
    fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 1, REPLACE, "intro", NULL, "x", 2, NULL, "x");
    fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 1, REPLACE, "intro", NULL,
             "We plan together.\n\nWe publish what we decide.", 0, NULL, "x");
    fx_amend(fx, "RTD", "dr.amina.khan", "nope", 1, REPLACE, "intro", NULL, "x", 0, NULL, "x");
    fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 1, DELETE, "intro", NULL, "x", 0, NULL, "x");
    fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 1, INSERT, "intro", "Title", "x", 0, NULL, "x");
    fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 1, ADD, "intro", "Intro", "x", 0, NULL, "x");
    fx_amend(fx, "RTD", "dr.amina.khan", PLAN, 1, INSERT, "urgent-care", NULL, "x", 9, NULL,
             "x");

    /* Nobody to decide while no one is chief executive. */
    s_made(fx_role_revoke(fx, "QHM", "QHM", "sam.allen", "chief_executive", NULL),
           "the chief executive's revocation");
    fx_motion_accept(fx, "RTD", "dr.amina.khan", l->a_intro);
    s_made(fx_role(fx, "QHM", "QHM", "sam.allen", "chief_executive", NULL),
           "the chief executive's return");
    /* The chief executive decides alone, by proposing: version 2. */
    s_made(fx_motion_accept(fx, "QHM", "sam.allen", l->a_intro), "acceptance of intro");
    fx_amend(fx, "RX4", "prof.mh", PLAN, 1, REPLACE, "intro", NULL, "We plan with everyone.", 0,
             NULL, "Inclusion");
    fx_motion_accept(fx, "RX4", "prof.mh", l->a_rival);
    fx_motion_accept(fx, "RX4", "prof.mh", 999999);
    fx_amend_withdraw(fx, "RTD", "dr.amina.khan", l->a_insert, "not ours");
    fx_amend_withdraw(fx, "E06000057", "cllr.peter.hall", l->a_insert, "covered elsewhere");
    fx_amend_withdraw(fx, "E06000057", "cllr.peter.hall", l->a_insert, "again");
    fx_amend_withdraw(fx, "E06000057", "cllr.peter.hall", 999999, "none");
    /* Anyone may ask; the chief executive declines: the amendment is rejected. */
    m = s_made(fx_motion_accept(fx, "RX6", "ops.lead", l->a_add), "the motion on the section");
    fx_vote(fx, "QHM", "sam.allen", m, AGAINST, "belongs in the urgent care section");
    fx_amend_withdraw(fx, "RX6", "ops.lead", l->a_add, "too late");
    s_made(fx_motion_accept(fx, "QHM", "sam.allen", l->a_delete), "acceptance of deletion");
}

static void s_consult(s_log_t *l)
{
    fx_fsm_t *fx = l->fx;
    static const char *const consultees[] = {"kind:hwb", "RTD", "RX4", NULL};
    static const char *const unknown[] = {"ZZZ", NULL};
    static const char *const no_kind[] = {"kind:healthwatch", NULL};
    static const char *const hwb_only[] = {HWB, NULL};
    const char *reasons = "It takes account of our priorities on healthy ageing.";
    uint64_t opens;

    s_section(l, "consultations");
    fx_motion_consult(fx, "QHM", "sam.allen", PLAN, 3, 0, fx->now - HOUR, consultees);
    fx_motion_consult(fx, "QHM", "sam.allen", PLAN, 3, 0, fx->now + HOUR, unknown);
    fx_motion_consult(fx, "QHM", "sam.allen", PLAN, 3, 0, fx->now + HOUR, no_kind);
    fx_motion_consult(fx, "QHM", "sam.allen", PLAN, 9, 0, fx->now + HOUR, consultees);
    fx_motion_consult(fx, "QHM", "sam.allen", "nope", 1, 0, fx->now + HOUR, consultees);
    l->c_deadline = s_made(fx_motion_consult(fx, "QHM", "sam.allen", PLAN, 3, 0,
                                             fx->now + 2 * HOUR, consultees),
                           "the consultation");
    fx_motion_adopt(fx, "QHM", "sir.liam", PLAN, 3);
    fx_respond(fx, "E06000057", "cllr.peter.hall", l->c_deadline, HWB, SUPPORT,
               "We support it.", ICS__V1__OPINION__OPINION_YES, reasons);
    fx_respond(fx, "E06000057", "cllr.peter.hall", l->c_deadline, HWB, SUPPORT,
               "We support it.", NO_OPINION, NULL);
    fx_respond(fx, "E06000057", "cllr.peter.hall", l->c_deadline, HWB, SUPPORT,
               "We support it.", ICS__V1__OPINION__OPINION_YES, "");
    fx_respond(fx, "RTD", "dr.amina.khan", l->c_deadline, NULL, SUPPORT, "We support it.",
               NO_OPINION, NULL);
    fx_respond(fx, "RTD", "dr.amina.khan", l->c_deadline, NULL, SUPPORT, "We support it.",
               NO_OPINION, NULL);
    fx_respond(fx, "RTD", "dr.amina.khan", l->c_deadline, NULL,
               ICS__V1__STANCE__STANCE_SUPPORT_WITH_CHANGES, "Add a workforce section.",
               NO_OPINION, NULL);
    fx_respond(fx, "RX4", "prof.mh", l->c_deadline, NULL, SUPPORT, "Yes.",
               ICS__V1__OPINION__OPINION_NO, "Not ours to give");
    fx_respond(fx, "RX6", "ops.lead", l->c_deadline, NULL, SUPPORT, "Yes.", NO_OPINION, NULL);
    fx_respond(fx, "QHM", "sam.allen", l->c_deadline, HWB, SUPPORT, "Yes.",
               ICS__V1__OPINION__OPINION_YES, reasons);
    fx_respond(fx, "RX4", "prof.mh", l->c_deadline, NULL, ICS__V1__STANCE__STANCE_UNSPECIFIED,
               "Hmm.", NO_OPINION, NULL);
    fx_respond(fx, "RX4", "prof.mh", 999999, NULL, SUPPORT, "Yes.", NO_OPINION, NULL);
    fx_respond(fx, "RX4", "prof.mh", l->c_deadline, "bad id", SUPPORT, "Yes.", NO_OPINION,
               NULL);
    /* Closed at its deadline by the log's clock. */
    fx_tick(fx, fx->now + 2 * HOUR + MIN);
    fx_respond(fx, "RX4", "prof.mh", l->c_deadline, NULL, ICS__V1__STANCE__STANCE_OBJECT,
               "Late.", NO_OPINION, NULL);
    /* Scheduled for tomorrow, then closed early by the chair. */
    opens = fx->now + DAY;
    l->c_early = s_made(fx_motion_consult(fx, "QHM", "sam.allen", PLAN, 3, opens, opens + DAY,
                                          hwb_only), "the second consultation");
    fx_respond(fx, "RX4", "prof.mh", l->c_early, NULL, SUPPORT, "Early.", NO_OPINION, NULL);
    fx_motion_close(fx, "QHM", "sir.liam", l->c_early);
    fx_motion_close(fx, "QHM", "sir.liam", 999999);
    fx_tick(fx, opens + MIN);
    s_made(fx_motion_close(fx, "QHM", "sir.liam", l->c_early), "the early close");
    fx_motion_close(fx, "QHM", "sir.liam", l->c_deadline);
    fx_respond(fx, "E06000057", "cllr.peter.hall", l->c_early, HWB, SUPPORT, "Late.",
               ICS__V1__OPINION__OPINION_YES, reasons);
}

static void s_motions(s_log_t *l)
{
    fx_fsm_t *fx = l->fx;
    ics_identity_t *rtf = fx_identity("RTF");
    const uint8_t *rtf_pk = ics_identity_public(rtf);
    static const char *const admit[][2] = {
        {"QHM", "sir.liam"}, {"QHM", "sam.allen"}, {"RTD", "dr.amina.khan"},
        {"E06000057", "cllr.peter.hall"},
    };
    Ics__V1__MotionPropose p = ICS__V1__MOTION_PROPOSE__INIT;
    Ics__V1__MotionCloseConsultation close = ICS__V1__MOTION_CLOSE_CONSULTATION__INIT;
    char *subjects[] = {"bad subject"};
    uint64_t m;

    s_section(l, "motions and votes");
    /* Adoption by the board, with a member excluded for an interest. */
    fx_motion_adopt(fx, "RTD", "dr.amina.khan", PLAN, 3);
    fx_motion_adopt(fx, "QHM", "sam.allen", PLAN, 2);
    m = s_made(fx_motion_adopt(fx, "QHM", "sir.liam", PLAN, 3), "the adoption motion");
    fx_motion_adopt(fx, "QHM", "sam.allen", PLAN, 3);
    fx_vote(fx, "QHM", "ned.two", m, FOR, NULL);
    fx_vote(fx, "RX6", "ops.lead", m, FOR, NULL);
    fx_vote(fx, "QHM", "fiona.d", m, AGAINST, "too early");
    fx_vote(fx, "QHM", "fiona.d", m, AGAINST, NULL);
    fx_vote(fx, "QHM", "fiona.d", m, ABSTAIN, "persuaded");
    fx_vote(fx, "QHM", "sir.liam", m, ICS__V1__VOTE_CHOICE__VOTE_UNSPECIFIED, NULL);
    fx_vote(fx, "QHM", "sir.liam", m, FOR, "a good plan\nreally");
    fx_vote(fx, "QHM", "", m, FOR, NULL);
    fx_vote(fx, "QHM", "sir.liam", 999999, FOR, NULL);
    s_made(fx_role_revoke(fx, "QHM", "QHM", "ned.one", "non_executive", NULL),
           "ned.one's revocation");
    fx_vote(fx, "QHM", "ned.one", m, FOR, NULL);
    fx_motion_withdraw(fx, "RTD", "dr.amina.khan", m);
    fx_vote(fx, "QHM", "sir.liam", m, FOR, "a good plan");
    fx_vote(fx, "QHM", "sam.allen", m, FOR, NULL);
    fx_vote(fx, "RTD", "dr.amina.khan", m, FOR, NULL);
    fx_vote(fx, "E06000057", "cllr.peter.hall", m, FOR, NULL);
    fx_motion_withdraw(fx, "QHM", "sir.liam", m);
    fx_motion_adopt(fx, "QHM", "sir.liam", PLAN, 3);
    fx_motion_adopt(fx, "QHM", "sir.liam", PLAN, 2);

    /* Admission by motion, carried out by a member that is not the
     * administrator, with the key decided. */
    fx_motion_admit(fx, "QHM", "sir.liam", "RTD", "foundation_trust", rtf_pk);
    m = s_made(fx_motion_admit(fx, "QHM", "sir.liam", "RTF", "foundation_trust", rtf_pk),
               "the admission motion");
    for (size_t i = 0; i < sizeof admit / sizeof admit[0]; i++)
        fx_vote(fx, admit[i][0], admit[i][1], m, FOR, NULL);
    fx_member_add(fx, "RTD", "RTF", "foundation_trust",
                  ics_identity_public(fx_org(fx, "EVE")->key), ICS_PK_BYTES, true);
    s_made(fx_member_add(fx, "RTD", "RTF", "foundation_trust", rtf_pk, ICS_PK_BYTES, true),
           "RTF's return");
    fx_raw(fx, "RTF", NULL, "back again");

    /* Removal: the administrator cannot be; one motion withdrawn, one left
     * open until its deadline. */
    s_motion_remove(fx, "QHM", "sir.liam", "QHM");
    s_motion_remove(fx, "QHM", "sir.liam", "ZZZ");
    m = s_made(s_motion_remove(fx, "QHM", "sam.allen", "RTF"), "a removal motion");
    fx_motion_withdraw(fx, "RTD", "dr.amina.khan", m);
    s_made(fx_motion_withdraw(fx, "QHM", "sir.liam", m), "the withdrawal");
    fx_vote(fx, "QHM", "sir.liam", m, FOR, NULL);
    fx_motion_withdraw(fx, "QHM", "sir.liam", m);
    fx_motion_withdraw(fx, "QHM", "sir.liam", 999999);
    l->m_open = s_made(s_motion_remove(fx, "QHM", "sam.allen", "RX6"), "a second removal");
    fx_vote(fx, "QHM", "sir.liam", l->m_open, FOR, NULL);

    /* Aid above the threshold approved by motion, and what is refused. */
    s_motion_aid(fx, "sam.allen", 77, "RTD", 5);
    s_motion_aid(fx, "sam.allen", 0, "RTD", 50);
    s_motion_aid(fx, "sam.allen", 77, "ZZZ", 50);
    s_motion_aid(fx, "sam.allen", 77, "RTD", 50);

    /* Proposals that say nothing, or say it badly. */
    fx_motion(fx, "QHM", "sam.allen", &p);
    close.consultation = l->c_early;
    p.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_CLOSE_CONSULTATION;
    p.close_consultation = &close;
    p.title = "One\nTwo";
    fx_motion(fx, "QHM", "sir.liam", &p);
    p.title = "";
    p.subjects = subjects;
    p.n_subjects = 1;
    fx_motion(fx, "QHM", "sir.liam", &p);
    p.n_subjects = 0;
    fx_motion(fx, "QHM", "sir.liam", &p);
    ics_identity_destroy(&rtf);
}

/* The staff who report and trade aid sign like everyone else: their
 * organisations' administrators register them first. */
static void s_staff(fx_fsm_t *fx)
{
    static const char *const staff[][2] = {
        {"RTD", "bed.manager"}, {"RX4", "bed.manager"},       {"RTD", "site.manager"},
        {"RX6", "control"},     {"E06000057", "dass"},        {"QHM", "scc.lead"},
        {"RX4", "bed.bureau"},  {"RX6", "bed.bureau"},        {"E06000057", "bed.bureau"},
        {"QHM", "bed.bureau"},  {"RTF", "bed.bureau"},        {"RTD", "bed.bureau"},
    };
    for (size_t i = 0; i < sizeof staff / sizeof staff[0]; i++)
        s_made(fx_person(fx, staff[i][0], staff[i][1], "Duty staff"), "a registration");
}

static void s_opel(s_log_t *l)
{
    fx_fsm_t *fx = l->fx;

    s_section(l, "OPEL");
    s_staff(fx);
    s_made(fx_opel(fx, "RTD", "bed.manager", 3, "acute", "ED full since 14:00",
                   "ed_4h_pct=61", "ga_occupancy_pct=97", NULL), "RTD's OPEL report");
    s_made(fx_opel(fx, "RX6", "control", 4, "ambulance", NULL, "cat2_mean_mins=95", NULL),
           "RX6's OPEL report");
    fx_opel(fx, "RX4", "bed.manager", 5, "mental_health", NULL, NULL);
    fx_opel(fx, "RX4", "bed.manager", 2, "hospital", NULL, NULL);
    fx_opel(fx, "RTD", "bed.manager", 3, "acute", NULL, "cat2_mean_mins=10", NULL);
    fx_opel(fx, "RTD", "bed.manager", 3, "acute", NULL, "ed_4h_pct=101", NULL);
    fx_opel(fx, "RTD", "bed.manager", 3, "acute", NULL, "ed_4h_pct=60", "ed_4h_pct=61", NULL);
    fx_opel(fx, "RTD", "bed.manager", 3, "acute", "\xff", NULL);
    fx_opel(fx, "RTD", "bed.manager", 3, "acute", NULL, "a=1", "b=1", "c=1", "d=1", "e=1",
            "f=1", "g=1", "h=1", "i=1", "j=1", "k=1", "l=1", "m=1", "n=1", "o=1", "p=1", "q=1",
            NULL);
}

static void s_aid(s_log_t *l)
{
    fx_fsm_t *fx = l->fx;
    fx_aid_req_t q;
    fx_cmd_t c;
    Ics__V1__AidLink link = ICS__V1__AID_LINK__INIT;
    uint64_t r1, r2, r3, o1, o2, o3, o4, o5, o6;

    s_section(l, "mutual aid");
    q = fx_aid_beds(30);
    r1 = s_made(fx_aid_request(fx, "RTD", "site.manager", &q), "the request");
    q.resource = "beds";
    fx_aid_request(fx, "RTD", "site.manager", &q);
    q = fx_aid_beds(2);
    q.resource = "registered_nurses";
    fx_aid_request(fx, "RTD", "site.manager", &q);
    q = fx_aid_beds(0);
    fx_aid_request(fx, "RTD", "site.manager", &q);
    q = fx_aid_beds(2);
    q.urgency = ICS__V1__AID_URGENCY__AID_URGENCY_UNSPECIFIED;
    fx_aid_request(fx, "RTD", "site.manager", &q);
    q = fx_aid_beds(2);
    q.site = "";
    fx_aid_request(fx, "RTD", "site.manager", &q);
    q = fx_aid_beds(2);
    q.until = fx->now - HOUR;
    fx_aid_request(fx, "RTD", "site.manager", &q);
    q = fx_aid_beds(2);
    q.expires = fx->now - HOUR;
    fx_aid_request(fx, "RTD", "site.manager", &q);

    o1 = s_made(fx_aid_offer(fx, "RX4", "bed.bureau", r1, 10, 0), "offer 1");
    o2 = s_made(fx_aid_offer(fx, "RX6", "bed.bureau", r1, 15, 0), "offer 2");
    o3 = s_made(fx_aid_offer(fx, "E06000057", "bed.bureau", r1, 20, 0), "offer 3");
    o4 = s_made(fx_aid_offer(fx, "QHM", "bed.bureau", r1, 8, 0), "offer 4");
    o5 = s_made(fx_aid_offer(fx, "RTF", "bed.bureau", r1, 3, fx->now + 30 * MIN), "offer 5");
    fx_aid_offer(fx, "RTD", "bed.bureau", r1, 5, 0);
    fx_aid_offer(fx, "RX4", "bed.bureau", r1, 0, 0);
    fx_aid_offer(fx, "RX4", "bed.bureau", r1, 31, 0);
    fx_aid_offer(fx, "RX4", "bed.bureau", 999999, 5, 0);
    fx_aid_offer(fx, "RX4", "bed.bureau", r1, 5, fx->now - MIN);

    fx_aid_accept(fx, "RX6", "site.manager", o1, 0);
    fx_aid_accept(fx, "RTD", "site.manager", o2, 16);
    fx_aid_accept(fx, "RTD", "site.manager", 999999, 0);
    s_made(fx_aid_accept(fx, "RTD", "site.manager", o1, 0), "acceptance within the threshold");
    fx_aid_accept(fx, "RTD", "site.manager", o1, 0);
    s_made(fx_aid_accept(fx, "RTD", "site.manager", o2, 0), "acceptance above the threshold");
    l->cut = fx->n_tape;
    fx_aid_accept(fx, "RTD", "site.manager", o3, 0);
    s_made(fx_aid_accept(fx, "QHM", "scc.lead", o3, 5), "the coordinator's acceptance");
    fx_aid_offer(fx, "RX6", "bed.bureau", r1, 1, 0);
    fx_aid_accept(fx, "RTD", "site.manager", o4, 0);

    fx_aid_approve(fx, "RTD", "dr.amina.khan", o2, false);
    fx_aid_approve(fx, "QHM", "sam.allen", o1, false);
    fx_aid_approve(fx, "QHM", "sam.allen", 999999, false);
    s_made(fx_aid_approve(fx, "QHM", "sam.allen", o2, false), "the approval");
    fx_aid_approve(fx, "QHM", "sam.allen", o2, false);
    s_made(fx_aid_approve(fx, "QHM", "sam.allen", o3, true), "the decline");
    fx_aid_accept(fx, "RTD", "site.manager", o3, 0);
    fx_aid_approve(fx, "QHM", "sam.allen", o4, false);

    fx_aid_deliver(fx, "RX6", "ops.lead", o1);
    s_made(fx_aid_deliver(fx, "RX4", "bed.bureau", o1), "the delivery");
    fx_aid_deliver(fx, "RX4", "bed.bureau", o1);
    fx_aid_return(fx, "RTD", "site.manager", o2);
    s_made(fx_aid_return(fx, "RTD", "site.manager", o1), "the hand-back");
    fx_aid_deliver(fx, "QHM", "bed.bureau", o4);

    fx_aid_withdraw(fx, "RTD", "site.manager", o4);
    fx_aid_withdraw(fx, "RX6", "ops.lead", o2);
    s_made(fx_aid_withdraw(fx, "QHM", "bed.bureau", o4), "the withdrawal");
    fx_aid_accept(fx, "RTD", "site.manager", o4, 0);
    fx_aid_withdraw(fx, "QHM", "bed.bureau", o4);

    fx_aid_cancel(fx, "RX4", "bed.bureau", r1);
    fx_aid_cancel(fx, "RX4", "bed.bureau", 999999);
    fx_aid_escalate(fx, "RTD", "site.manager", r1);
    fx_aid_escalate(fx, "RX4", "bed.bureau", r1);
    fx_aid_region(fx, "RTD", "site.manager", GROUP);
    s_made(fx_aid_region(fx, "RTD", "site.manager", "ne-region"), "the region");
    fx_aid_region(fx, "RX4", "bed.bureau", "north-region");
    s_made(fx_aid_region(fx, "RTD", "site.manager", ""), "the region cleared");
    fx_aid_link_update(fx, "RX6", "bridge", r1, "ne-region", 5, 5, "open");
    fx_aid_link_update(fx, "RX6", "bridge", 999999, "ne-region", 5, 5, "open");
    fx_aid_link_cancel(fx, "RX6", "bridge", "ne-region", 5);
    fx_cmd_aid_request(&c, &q);
    link.home_group = GROUP;
    link.home_request = r1;
    link.home_requester = "RTD";
    c.body.aid_request.link = &link;
    fx_send(fx, "RX6", NULL, &c.cmd);

    /* Cancelled: nothing more happens to it. */
    q = fx_aid_beds(2);
    q.resource = "ambulance_crews";
    q.urgency = ICS__V1__AID_URGENCY__AID_URGENCY_IMMEDIATE;
    r2 = s_made(fx_aid_request(fx, "RX6", "control", &q), "the second request");
    s_made(fx_aid_cancel(fx, "RX6", "control", r2), "the cancellation");
    fx_aid_offer(fx, "RX4", "bed.bureau", r2, 1, 0);
    fx_aid_cancel(fx, "RX6", "control", r2);

    /* Expired by the log's clock, with its open offer; an offer lapsed. */
    q = fx_aid_beds(3);
    q.resource = "discharge_packages";
    q.urgency = ICS__V1__AID_URGENCY__AID_URGENCY_PLANNED;
    q.expires = fx->now + HOUR;
    r3 = s_made(fx_aid_request(fx, "E06000057", "dass", &q), "the third request");
    o6 = s_made(fx_aid_offer(fx, "RTD", "bed.bureau", r3, 2, 0), "offer 6");
    fx_tick(fx, fx->now + 2 * HOUR);
    fx_aid_accept(fx, "E06000057", "dass", o6, 0);
    fx_aid_deliver(fx, "RTD", "bed.bureau", o6);
    fx_aid_offer(fx, "RX4", "bed.bureau", r3, 1, 0);
    fx_aid_accept(fx, "RTD", "site.manager", o5, 0);
    /* Cancelled with aid agreed but not delivered: it is released. */
    s_made(fx_aid_cancel(fx, "RTD", "site.manager", r1), "the first request's cancellation");
    fx_aid_deliver(fx, "RX6", "ops.lead", o2);
}

static void s_checkpoints(s_log_t *l)
{
    fx_fsm_t *fx = l->fx;
    uint8_t wrong[32], kept[32];
    /* Checkpoints name multiples of 16 whose chain the state still keeps. */
    uint64_t mark = ics_fsm_position(fx->fsm) / 16 * 16;

    s_section(l, "checkpoints");
    assert_int_equal(ics_fsm_chain_at(fx->fsm, mark, kept), ICS_OK);
    memset(wrong, 0x5a, sizeof wrong);
    fx_checkpoint(fx, "QHM", mark, kept, 32);
    fx_checkpoint(fx, "QHM", mark, kept, 32);
    fx_checkpoint(fx, "RTD", mark, wrong, 32);
    fx_checkpoint(fx, "RX4", 0, kept, 32);
    fx_checkpoint(fx, "RX4", 999999, kept, 32);
    fx_checkpoint(fx, "RX4", l->genesis.position, l->genesis.chain, 32);
    fx_checkpoint(fx, "RX4", mark, kept, 5);
    /* The tree head's root and RX4's cosignature of it: wrong sizes, the
     * cosignature of another member, of another group, of another size. */
    {
        uint8_t root[32];
        fx_cmd_t c;
        assert_int_equal(ics_history_tree_root(fx->history, mark, root), ICS_OK);
        fx_cmd_checkpoint(&c, mark, kept, 32);
        fx_cmd_cosign(&c, fx->group, root, fx_org(fx, "RX4")->key);
        c.cmd.checkpoint->root.len = 31;
        fx_send(fx, "RX4", "icsd", &c.cmd);
        fx_cmd_checkpoint(&c, mark, kept, 32);
        fx_cmd_cosign(&c, fx->group, root, fx_org(fx, "RX4")->key);
        c.cmd.checkpoint->cosignature.len = 0;
        fx_send(fx, "RX4", "icsd", &c.cmd);
        fx_cmd_checkpoint(&c, mark, kept, 32);
        fx_cmd_cosign(&c, fx->group, root, fx_org(fx, "RTD")->key);
        fx_send(fx, "RX4", "icsd", &c.cmd);
        fx_cmd_checkpoint(&c, mark, kept, 32);
        fx_cmd_cosign(&c, "other", root, fx_org(fx, "RX4")->key);
        fx_send(fx, "RX4", "icsd", &c.cmd);
        fx_cmd_checkpoint(&c, mark - 16, kept, 32);
        fx_cmd_cosign(&c, fx->group, root, fx_org(fx, "RX4")->key);
        c.body.checkpoint.position = mark;
        fx_send(fx, "RX4", "icsd", &c.cmd);
    }
    fx_checkpoint(fx, "RX4", mark, kept, 32);
}

static void s_deadlines(s_log_t *l)
{
    fx_fsm_t *fx = l->fx;

    s_section(l, "deadlines by the log's clock");
    fx_tick(fx, fx->now + 30 * DAY);
    fx_vote(fx, "QHM", "sam.allen", l->m_open, FOR, NULL);
    fx_raw(fx, "QHM", NULL, "the end");
}

/* Builds the whole log on fx (taped). */

/* ---------------------------------------------------------------- person signatures */

/* An interest declaration by person of org, as the payload bytes: signed
 * by key (NULL: the person's own fixture key) with person seq pseq for
 * group; unsigned when pseq is 0. malloc'd. */
static uint8_t *s_interest_payload(const char *group, const char *org, const char *person,
                                   const ics_identity_t *key, uint64_t pseq,
                                   const char *subject, size_t *len)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__InterestDeclare d = ICS__V1__INTEREST_DECLARE__INIT;
    uint8_t *out = NULL;

    d.subject = (char *)subject;
    d.description = "A declared interest";
    cmd.body_case = ICS__V1__COMMAND__BODY_INTEREST_DECLARE;
    cmd.interest_declare = &d;
    if (pseq == 0) {
        cmd.actor = (char *)person;
        assert_int_equal(ics_pack(&cmd.base, &out, len), ICS_OK);
        return out;
    }
    return fx_person_sign(group, org, person, key, pseq, &cmd, len);
}

/* Seals payload (freed) as org's next entry and applies it. */
static ics_apply_result_t s_send_payload(fx_fsm_t *fx, const char *org, uint8_t *payload,
                                         size_t plen)
{
    size_t len = 0;
    uint8_t *buf = fx_seal_payload(GROUP, fx_org(fx, org), fx->now,
                                   ICS__V1__COMMAND__BODY_INTEREST_DECLARE, payload, plen, &len);
    free(payload);
    return s_apply_sealed(fx, buf, len);
}

static void s_person_sigs(s_log_t *l)
{
    fx_fsm_t *fx = l->fx;
    fx_org_t *rx6 = fx_org(fx, "RX6");
    ics_identity_t *other = fx_person_identity("QHM", "ned.one");
    ics_identity_t *fresh = fx_person_identity("RX6", "night.manager/2");
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__PersonRegister r = ICS__V1__PERSON_REGISTER__INIT;
    uint8_t *p, *q;
    size_t plen;

    s_section(l, "person signatures");
    /* Good, then the same signed command again in a new envelope. */
    p = s_interest_payload(GROUP, "RX6", "ops.lead", NULL, ++rx6->person_seq, "tag:sig-a",
                           &plen);
    q = malloc(plen);
    assert_non_null(q);
    memcpy(q, p, plen);
    s_made(s_send_payload(fx, "RX6", p, plen), "a signed declaration");
    s_send_payload(fx, "RX6", q, plen);
    /* Missing, by another person's key, for another group, a stale seq. */
    p = s_interest_payload(GROUP, "RX6", "ops.lead", NULL, 0, "tag:sig-b", &plen);
    s_send_payload(fx, "RX6", p, plen);
    p = s_interest_payload(GROUP, "RX6", "ops.lead", other, ++rx6->person_seq, "tag:sig-b",
                           &plen);
    s_send_payload(fx, "RX6", p, plen);
    p = s_interest_payload("nel-ics", "RX6", "ops.lead", NULL, ++rx6->person_seq, "tag:sig-b",
                           &plen);
    s_send_payload(fx, "RX6", p, plen);
    p = s_interest_payload(GROUP, "RX6", "ops.lead", NULL, 1, "tag:sig-b", &plen);
    s_send_payload(fx, "RX6", p, plen);
    /* Another organisation's envelope around RX6's person's signature. */
    p = s_interest_payload(GROUP, "RX6", "ops.lead", NULL, ++rx6->person_seq, "tag:sig-b",
                           &plen);
    s_send_payload(fx, "RX4", p, plen);
    /* A signature with nobody named. */
    p = s_interest_payload(GROUP, "RX6", "ops.lead", NULL, ++rx6->person_seq, "tag:sig-b",
                           &plen);
    {
        Ics__V1__Command *c = ics__v1__command__unpack(NULL, plen, p);
        assert_non_null(c);
        free(p);
        char *actor = c->actor;
        c->actor = (char *)"";
        assert_int_equal(ics_pack(&c->base, &p, &plen), ICS_OK);
        c->actor = actor;
        ics__v1__command__free_unpacked(c, NULL);
    }
    s_send_payload(fx, "RX6", p, plen);

    /* Registration: only an administrator (RX6's is ops.lead, its first
     * person), or the person for their own key; the organisation alone
     * only while it has no administrator. */
    r.person = "night.manager";
    r.name = "Nia Manning";
    r.public_key.data = (uint8_t *)ics_identity_public(other);
    r.public_key.len = ICS_PK_BYTES;
    cmd.body_case = ICS__V1__COMMAND__BODY_PERSON_REGISTER;
    cmd.person_register = &r;
    fx_send(fx, "RX6", NULL, &cmd);
    fx_send(fx, "QHM", "ned.two", &cmd);
    r.public_key.len = 31;
    fx_send(fx, "RX6", "ops.lead", &cmd);
    r.public_key.len = ICS_PK_BYTES;
    s_made(fx_send(fx, "RX6", "ops.lead", &cmd), "night.manager's registration");
    /* night.manager rotates their own key (signed with the old one); the
     * old key then signs nothing. */
    r.name = "";
    r.admin = true;
    r.public_key.data = (uint8_t *)ics_identity_public(fresh);
    s_made(fx_send_key(fx, "RX6", "night.manager", other, &cmd), "a key rotation");
    p = s_interest_payload(GROUP, "RX6", "night.manager", other, ++rx6->person_seq,
                           "tag:sig-c", &plen);
    s_send_payload(fx, "RX6", p, plen);
    p = s_interest_payload(GROUP, "RX6", "night.manager", fresh, ++rx6->person_seq,
                           "tag:sig-c", &plen);
    s_made(s_send_payload(fx, "RX6", p, plen), "a declaration under the new key");
    /* The rotation kept their rights: night.manager registers nobody. */
    r.person = "day.manager";
    r.name = "Dee Manning";
    r.admin = false;
    fx_send_key(fx, "RX6", "night.manager", fresh, &cmd);
    /* Revoked by the administrator: their signature counts no more. */
    r.person = "night.manager";
    r.remove = true;
    s_made(fx_send(fx, "RX6", "ops.lead", &cmd), "a revocation");
    p = s_interest_payload(GROUP, "RX6", "night.manager", fresh, ++rx6->person_seq,
                           "tag:sig-d", &plen);
    s_send_payload(fx, "RX6", p, plen);
    ics_identity_destroy(&other);
    ics_identity_destroy(&fresh);
}

static void s_build(s_log_t *l)
{
    s_genesis(l);
    s_envelopes(l);
    s_core(l);
    s_members(l);
    s_people(l);
    s_person_sigs(l);
    s_policy(l);
    s_plans(l);
    s_consult(l);
    s_motions(l);
    s_opel(l);
    s_aid(l);
    s_checkpoints(l);
    s_deadlines(l);
}

/* ---------------------------------------------------------------- golden values */

typedef struct {
    uint64_t position;       /* the entry's audit position; a replay: the original's */
    const char *reason;      /* "" accepted, else the exact rejection; DUPLICATE: a replay */
} s_golden_t;

#define DUPLICATE NULL

/* GOLDEN BEGIN */
/* Recorded under ICS_RULES_VERSION 6. What the log covers:
 * section                                  entries accepted rejected  distinct
 * genesis                                        5        1        4         4
 * envelopes, signatures, replays                23        6       15        14
 * Raw and ClockTick                              4        3        1         1
 * members and keys                              19        5       14        13
 * people, roles, interests, organisations       52       25       27        27
 * person signatures                             18        5       13        13
 * the scheme, changed by motion                 15       10        5         5
 * plans and amendments                          38       13       25        24
 * consultations                                 29        8       21        20
 * motions and votes                             50       19       31        29
 * OPEL                                          21       14        7         7
 * mutual aid                                    72       22       50        41
 * checkpoints                                   13        3       10         8
 * deadlines by the log's clock                   3        2        1         1
 * total                                        362               224       203
 */
#define S_GOLDEN_RULES_VERSION 6
#define S_GOLDEN_POSITIONS 360
#define S_GOLDEN_HEAD "1a86ad0b420d40952a16163f79c967126fbe77f34630cbf080340ec5ac1c8d43"

static const s_golden_t s_golden[] = {
    /* genesis */
    {1, "group has no genesis yet"},
    {2, "group has no genesis yet: genesis policy: the policy defines 0 rules (1 to 64 allowed)"},
    {3, "group has no genesis yet: genesis signer EVE is not among its members"},
    {4, ""},
    {5, "genesis already applied"},
    /* envelopes, signatures, replays */
    {6, "malformed envelope: envelope does not decode (truncated or corrupt)"},
    {7, "malformed envelope: empty envelope"},
    {8, "wrong group: envelope is for 'nel-ics', this group is 'nenc'"},
    {9, "malformed envelope: sequence number or timestamp beyond 2^63-1"},
    {10, "signed with a key not in force for RTD"},
    {11, "bad signature"},
    {12, ""},
    {13, "unknown organisation EVE"},
    {0, DUPLICATE},
    {0, DUPLICATE},
    {14, "malformed command: payload does not decode as a command"},
    {15, "malformed command: payload is command kind 10, header says 11"},
    {16, "malformed command: unknown command kind 99"},
    {17, "malformed command: actor name longer than 127 bytes"},
    {18, ""},
    {19, ""},
    {20, ""},
    {21, ""},
    {22, "bad signature"},
    {23, ""},
    {24, "malformed envelope: envelope's batch fields do not fit version 1"},
    {25, "malformed envelope: envelope's batch fields do not fit version 2"},
    {26, "malformed envelope: envelope version 3 is not supported (this node speaks 1 to 2)"},
    /* Raw and ClockTick */
    {27, ""},
    {28, ""},
    {29, "clock tick 18446744073709551615 is out of range"},
    {30, ""},
    /* members and keys */
    {31, "only the membership administrator may add members; RTD is not it"},
    {32, "public key of RTF is not a valid Ed25519 key"},
    {33, "that public key already belongs to RX4"},
    {34, "RTD is already a member"},
    {35, ""},
    {36, ""},
    {37, ""},
    {38, "signed with a key not in force for RX6"},
    {39, ""},
    {40, "only RX4 itself or the membership administrator may rotate its key"},
    {41, "that key is already the key in force for RX4"},
    {42, "ZZZ is not a member"},
    {43, "that public key already belongs to RTD"},
    {44, "new public key for RX4 is not a valid Ed25519 key"},
    {45, "only the membership administrator may remove members; RTD is not it"},
    {46, "the administrator QHM cannot remove itself"},
    {47, "ZZZ is not a member"},
    {48, ""},
    {49, "unknown organisation RTF"},
    /* people, roles, interests, organisations */
    {50, ""},
    {51, ""},
    {52, ""},
    {53, ""},
    {54, ""},
    {55, ""},
    {56, ""},
    {57, ""},
    {58, ""},
    {59, "person id 'bad id' is not valid: 1 to 127 printable characters without spaces, as "
         "they sign in (e.g. dr.amina.khan)"},
    {60, "sir.liam is already registered for QHM as Sir Liam Hartley"},
    {61, "new.person needs a name: one line of text, under 512 bytes"},
    {62, "QHM has no registered person ghost"},
    {63, ""},
    {64, ""},
    {65, ""},
    {66, ""},
    {67, "HWB-E06000057 is already registered as Northumberland Health and Wellbeing Board"},
    {68, "only the membership administrator, or the organisation's parent member (e.g. a "
         "council for its HWB, with --parent RTD), may register HWB-E08000021"},
    {69, "RTD is a member of the group; it needs no registration"},
    {70, "'bad id' is not a valid organisation id (1 to 31 of A-Z a-z 0-9 _ -)"},
    {71, "parent ZZZ is not a member of the group"},
    {72, "organisation kind 'hwb board' is not valid (hwb, icp, nhse, healthwatch ...)"},
    {73, ""},
    {74, ""},
    {75, ""},
    {76, ""},
    {77, ""},
    {78, ""},
    {79, ""},
    {80, ""},
    {81, "Chair of the ICB already has 1 holder, the most the scheme allows; end an appointment "
         "first"},
    {82, "Chair of the ICB is held by people of icb organisations; RTD is foundation_trust"},
    {83, "sir.liam of QHM already holds Chair of the ICB"},
    {84, "Partner member: NHS trusts and foundation trusts is appointed by an organisation of "
         "kind icb; RTD is foundation_trust"},
    {85, "no role 'president' in the scheme in force (version 1); its roles: chair, "
         "chief_executive, finance_director, medical_director, nursing_director, non_executive, "
         "partner_trust, partner_primary_care, partner_local_authority, hwb_chair, "
         "consultee_contact"},
    {86, "HWB-E06000057 is not a member organisation of the group"},
    {87, "RTD has not registered ghost; RTD registers its people with: icsctl people register "
         "ghost --name NAME"},
    {88, "E06000057 appoints its own Chair of a health and wellbeing board; QHM cannot"},
    {89, "Chair of a health and wellbeing board acts for a named organisation: give its id as "
         "the scope (e.g. --scope HWB-E06000057)"},
    {90, "Executive Director of Finance takes no scope"},
    {91, "scope HWB-ZZZ is not an organisation known to the group; register it first (icsctl "
         "people org add)"},
    {92, "ned.one of QHM does not hold Chair of the ICB"},
    {93, ""},
    {94, "an interest in plan:jfp-2026 is already declared (at index 93)"},
    {95, "interest subject 'bad subject' is not valid: 1 to 64 printable characters without "
         "spaces, e.g. org:RTD, plan:jfp-2026 or tag:virtual-wards"},
    {96, "describe the interest: one line of text, under 512 bytes"},
    {97, "ned.one of QHM has no declared interest in tag:virtual-wards to withdraw"},
    {98, ""},
    {99, ""},
    {100, "nobody is not registered as acting for RX6; RX6 registers its people with: icsctl "
          "people register nobody --name NAME --key KEY"},
    {101, ""},
    /* person signatures */
    {102, ""},
    {103, "replayed person signature: sequence number 2 of ops.lead of RX6 is not above the "
          "last applied (2)"},
    {104, "ops.lead of RX6 did not sign this: every action of a person carries their own "
          "signature (icsctl keys person-gen; their organisation registers the key)"},
    {105, "person signature of ops.lead of RX6 is by key 9ccda92687ad05e4, not the key "
          "registered for them"},
    {106, "bad person signature of ops.lead of RX6"},
    {107, "replayed person signature: sequence number 1 of ops.lead of RX6 is not above the "
          "last applied (2)"},
    {108, "ops.lead is not registered as acting for RX4; RX4 registers its people with: icsctl "
          "people register ops.lead --name NAME --key KEY"},
    {109, "malformed command: a person signature but no person named"},
    {110, "RX6 has an administrator person: people are registered, re-keyed and revoked by an "
          "administrator, signing with their own key"},
    {111, "ned.two is not an administrator of QHM: only an administrator registers, re-keys or "
          "revokes its people"},
    {112, "night.manager needs a key: the Ed25519 public key they sign with (icsctl keys "
          "person-gen prints it)"},
    {113, ""},
    {114, ""},
    {115, "person signature of night.manager of RX6 is by key 9ccda92687ad05e4, not the key "
          "registered for them"},
    {116, ""},
    {117, "night.manager is not an administrator of RX6: only an administrator registers, "
          "re-keys or revokes its people"},
    {118, ""},
    {119, "night.manager of RX6 was revoked at index 118: their signature no longer counts"},
    /* the scheme, changed by motion */
    {120, "the proposed scheme is the one in force (version 1)"},
    {121, "the proposed scheme is not valid: the policy defines 0 rules (1 to 64 allowed)"},
    {122, "wrong role: only the Chair of the ICB may propose to policy.change (rule "
          "policy.change); sam.allen of QHM holds: Chief Executive"},
    {123, ""},
    {124, ""},
    {125, ""},
    {126, ""},
    {127, ""},
    {128, ""},
    {129, "too late: motion 123 closed at 2026-01-01T00:03:09Z (index 128): carried: 5 for, 0 "
          "against, 0 abstaining of 7 members (the 2 yet to vote could not change it)"},
    {130, ""},
    {131, "motion 130 on the same matter (policy) is already open; it must close first"},
    {132, ""},
    {133, ""},
    {134, ""},
    /* plans and amendments */
    {135, ""},
    {136, "plan jfp-2026 already exists (created by QHM at index 135)"},
    {137, "plan id 'JFP 2026' is not valid: a lower-case letter or digit, then a-z 0-9 _ . -, "
          "at most 31 (e.g. jfp-2026)"},
    {138, "period '2026' is not a range of financial years such as 2026/27-2030/31"},
    {139, "a plan has 1 to 200 sections; 0 given"},
    {140, "section intro is given twice"},
    {141, "nobody is not registered as acting for QHM; QHM registers its people with: icsctl "
          "people register nobody --name NAME --key KEY"},
    {142, ""},
    {143, ""},
    {144, ""},
    {145, ""},
    {146, ""},
    {147, "unknown amendment operation 9 (replace, insert, delete or add)"},
    {148, "an amendment needs a rationale: why the change (under 65536 bytes)"},
    {149, "there is no section nope in version 1 of plan jfp-2026"},
    {150, "plan jfp-2026 has versions 1 to 1; there is no version 5 to amend"},
    {151, "replace changes the whole section; it takes no paragraph number"},
    {152, "the amendment changes nothing: section intro already reads so"},
    {153, "there is no plan nope"},
    {154, "delete takes no text, title or --after"},
    {155, "inserting text takes no title; replace the section to retitle it"},
    {156, "section intro already exists in version 1; to change it, replace its text instead"},
    {157, "section urgent-care has 2 paragraphs: insert before 1 to 3, or 0 for the end"},
    {158, ""},
    {159, "nobody can decide this yet: no one holds the role of Chief Executive; appoint them "
          "first (icsctl people role)"},
    {160, ""},
    {161, ""},
    {162, "stale amendment: section intro changed in version 2 (amendment 142, RTD "
          "dr.amina.khan) after your base version 1; nothing was merged. Rebase: icsctl plan "
          "diff jfp-2026 1 2, then propose again with --base 2"},
    {163, "amendment 143 was superseded: section intro changed in version 2 (amendment 142, RTD "
          "dr.amina.khan) after your base version 1; nothing was merged. Rebase: icsctl plan "
          "diff jfp-2026 1 2, then propose again with --base 2"},
    {164, "there is no amendment 999999"},
    {165, "only E06000057, which proposed amendment 144, may withdraw it"},
    {166, ""},
    {167, "amendment 144 is withdrawn; only a proposed amendment can be withdrawn"},
    {168, "there is no amendment 999999"},
    {169, ""},
    {170, ""},
    {171, "amendment 145 is rejected; only a proposed amendment can be withdrawn"},
    {172, ""},
    /* consultations */
    {173, "the closing time 2025-12-31T23:03:54Z has already passed by the log's clock"},
    {174, "consultee ZZZ is not an organisation known to the group; register it first (icsctl "
          "people org add ZZZ --kind KIND --name NAME)"},
    {175, "no organisation of kind healthwatch is known to the group; register one first "
          "(icsctl people org add ID --kind healthwatch)"},
    {176, "plan jfp-2026 has versions 1 to 3; there is no version 9"},
    {177, "there is no plan nope"},
    {178, ""},
    {179, "consultation 178 on version 3 of plan jfp-2026 has not closed yet; a version is "
          "adopted only after its consultation closes"},
    {180, ""},
    {181, "HWB-E06000057 is a health and wellbeing board: its response must say whether the "
          "draft takes proper account of its joint local health and wellbeing strategy (yes or "
          "no, with reasons)"},
    {182, "give the health and wellbeing board's reasons for its opinion"},
    {183, ""},
    {184, "RTD's response to consultation 178 already says exactly this (revision 1)"},
    {185, ""},
    {186, "only a health and wellbeing board gives the statutory opinion; RX4 is mental_health"},
    {187, "RX6 is not a consultee of consultation 178 (icsctl consult show 178 lists them)"},
    {188, "sam.allen of QHM may not respond for HWB-E06000057: that needs a role acting for it "
          "(e.g. hwb_chair or consultee_contact with scope HWB-E06000057)"},
    {189, "a response takes a position: support, support with changes, object or no comment"},
    {190, "there is no consultation 999999"},
    {191, "'bad id' is not an organisation id"},
    {192, ""},
    {193, "too late: consultation 178 on jfp-2026 version 3 closed at 2026-01-01T02:03:59Z (its "
          "deadline); responses are no longer accepted"},
    {194, ""},
    {195, "consultation 194 opens at 2026-01-02T02:05:15Z; respond then"},
    {196, "consultation 194 has not opened yet (it opens at 2026-01-02T02:05:15Z)"},
    {197, "there is no consultation 999999"},
    {198, ""},
    {199, ""},
    {200, "consultation 178 is already closed at 2026-01-01T02:03:59Z (its deadline)"},
    {201, "too late: consultation 194 on jfp-2026 version 3 closed early at "
          "2026-01-02T02:06:16Z by motion 199; responses are no longer accepted"},
    /* motions and votes */
    {202, "wrong role: only the Chair of the ICB or Chief Executive may propose to plan.adopt "
          "(rule plan.adopt); dr.amina.khan of RTD holds: Partner member: NHS trusts and "
          "foundation trusts"},
    {203, "version 2 of plan jfp-2026 has not been consulted on; open a consultation on it "
          "(icsctl consult open) and let it close first"},
    {204, ""},
    {205, "motion 204 on the same matter (plan.adopt:jfp-2026) is already open; it must close "
          "first"},
    {206, "ned.two of QHM is excluded from voting on motion 204: declared interest in "
          "plan:jfp-2026 (Chairs a provider collaborative bidding for the plan's contracts)"},
    {207, "ops.lead of RX6 is not in the electorate of motion 204 (ICB Board)"},
    {208, ""},
    {209, "duplicate vote: fiona.d of QHM already voted against on motion 204 (index 208); to "
          "change it, vote differently"},
    {210, ""},
    {211, "a vote is for, against or abstain"},
    {212, "the reason for a vote is one line, under 512 bytes"},
    {213, "no person signed this: it needs a person of QHM, signing with their own key (icsctl "
          "keys person-gen)"},
    {214, "there is no motion 999999"},
    {215, ""},
    {216, "ned.one of QHM no longer holds the role (non_executive) that entitled them to vote "
          "on motion 204"},
    {217, "only QHM, which proposed motion 204, may withdraw it"},
    {218, ""},
    {219, ""},
    {220, ""},
    {221, "too late: motion 204 closed at 2026-01-02T02:06:37Z (index 220): carried: 3 for, 0 "
          "against, 1 abstaining of 7 members (1 excluded for a declared interest) (the 2 yet "
          "to vote could not change it)"},
    {222, "motion 204 is carried; only an open motion can be withdrawn"},
    {223, "version 3 of plan jfp-2026 is already the adopted version"},
    {224, "version 3 of plan jfp-2026 is adopted; an older version cannot replace it"},
    {225, "RTD is already a member"},
    {226, ""},
    {227, ""},
    {228, ""},
    {229, ""},
    {230, ""},
    {231, "only the membership administrator may add members; RTD is not it"},
    {232, ""},
    {233, ""},
    {234, "QHM administers membership; it cannot be removed by motion"},
    {235, "ZZZ is not a member"},
    {236, ""},
    {237, "only QHM, which proposed motion 236, may withdraw it"},
    {238, ""},
    {239, "too late: motion 236 closed at 2026-01-02T02:06:55Z (index 238): withdrawn by "
          "sir.liam of QHM: overtaken by events"},
    {240, "motion 236 is withdrawn; only an open motion can be withdrawn"},
    {241, "there is no motion 999999"},
    {242, ""},
    {243, ""},
    {244, "mutual aid of 5 needs no approval: no approval needed: 5 is within the threshold of "
          "20 units of the resource catalogue"},
    {245, "approving mutual aid needs the offer's index and a value above 0"},
    {246, "ZZZ is not a member"},
    {247, ""},
    {248, "a motion must say what it decides (adopt a plan version, accept an amendment, open "
          "or close a consultation, admit or remove a member, change the scheme, approve mutual "
          "aid)"},
    {249, "a motion's title is one line, under 512 bytes"},
    {250, "subject 'bad subject' is not valid: printable, no spaces, at most 64 bytes (e.g. "
          "tag:virtual-wards)"},
    {251, "consultation 194 is already closed early at 2026-01-02T02:06:16Z by motion 199"},
    /* OPEL */
    {252, ""},
    {253, ""},
    {254, ""},
    {255, ""},
    {256, ""},
    {257, ""},
    {258, ""},
    {259, ""},
    {260, ""},
    {261, ""},
    {262, ""},
    {263, ""},
    {264, ""},
    {265, ""},
    {266, "OPEL level 5 is not 1 to 4"},
    {267, "unknown provider type 'hospital' (expected acute, ambulance, mental_health, "
          "community or social_care)"},
    {268, "'cat2_mean_mins' is not an OPEL parameter for acute providers (see icsctl opel "
          "parameters acute)"},
    {269, "ed_4h_pct = 101 is out of range (0 to 100%)"},
    {270, "parameter ed_4h_pct is given twice"},
    {271, "note is longer than 500 bytes, or not plain UTF-8 text"},
    {272, "17 parameters given; at most 16"},
    /* mutual aid */
    {273, ""},
    {274, "unknown resource 'beds' (icsctl aid resources lists them)"},
    {275, "registered_nurses needs a specialty (e.g. critical_care or ed)"},
    {276, "quantity 0 is not 1 to 10000"},
    {277, "urgency is missing or unknown (immediate, within 4 hours, within 24 hours or planned)"},
    {278, "site must say where the aid is needed (1 to 120 bytes of text)"},
    {279, "needed until 2026-01-02T01:07:36Z is already past"},
    {280, "expiry 2026-01-02T01:07:37Z is already past"},
    {281, ""},
    {282, ""},
    {283, ""},
    {284, ""},
    {285, ""},
    {286, "RTD cannot offer aid against its own request 273"},
    {287, "offer of 0 is not 1 to the 30 beds requested"},
    {288, "offer of 31 is not 1 to the 30 beds requested"},
    {289, "there is no request 999999 in group nenc"},
    {290, "valid until 2026-01-02T02:06:47Z is already past"},
    {291, "site.manager is not registered as acting for RX6; RX6 registers its people with: "
          "icsctl people register site.manager --name NAME --key KEY"},
    {292, "offer 282 is for 15 beds; 16 cannot be accepted"},
    {293, "there is no offer 999999 in group nenc"},
    {294, ""},
    {295, "offer 281 was already accepted (10 at index 294); an offer is accepted once"},
    {296, ""},
    {297, "accepting 20 beds would exceed request 273: 30 requested, 25 already agreed, 5 still "
          "needed (accept at most 5)"},
    {298, ""},
    {299, "request 273 is already met (30 beds agreed)"},
    {300, "request 273 is already met (30 beds agreed)"},
    {301, "offer 282's acceptance must be approved by Chief Executive, acting alone (rule "
          "aid.approve); dr.amina.khan of RTD does not hold that role"},
    {302, "offer 281's acceptance needed no approval"},
    {303, "there is no offer 999999 in group nenc"},
    {304, ""},
    {305, "offer 282's acceptance was already approved"},
    {306, ""},
    {307, "offer 283's acceptance was declined at 2026-01-02T02:08:03Z"},
    {308, "offer 284 is open, not awaiting approval"},
    {309, "only RX4 (offering), RTD (requesting) or the group's coordinating organisation may "
          "record offer 281 as delivered"},
    {310, ""},
    {311, "offer 281 is delivered, not accepted and awaiting delivery"},
    {312, "offer 282 is accepted, not delivered"},
    {313, ""},
    {314, "offer 284 is open, not accepted and awaiting delivery"},
    {315, "only QHM, which made offer 284, may withdraw it"},
    {316, "offer 282 was accepted at index 296: ask RTD to cancel the request or hand the aid "
          "back instead"},
    {317, ""},
    {318, "offer 284 was withdrawn by QHM at 2026-01-02T02:08:14Z"},
    {319, "offer 284 was withdrawn by QHM at 2026-01-02T02:08:14Z"},
    {320, "only RTD, which made request 273, may cancel it"},
    {321, "there is no request 999999 in group nenc"},
    {322, "group nenc has no regional group to escalate to (a node in both sets escalate_to in "
          "its [group nenc] section)"},
    {323, "only RTD, which made request 273, may escalate it"},
    {324, "'nenc' is not another group's name"},
    {325, ""},
    {326, "group nenc escalates to ne-region, set by RTD; only RTD or the membership "
          "administrator may change that"},
    {327, ""},
    {328, "bridge is not registered as acting for RX6; RX6 registers its people with: icsctl "
          "people register bridge --name NAME --key KEY"},
    {329, "bridge is not registered as acting for RX6; RX6 registers its people with: icsctl "
          "people register bridge --name NAME --key KEY"},
    {330, "bridge is not registered as acting for RX6; RX6 registers its people with: icsctl "
          "people register bridge --name NAME --key KEY"},
    {331, "link names home group 'nenc', which is not another group"},
    {332, ""},
    {333, ""},
    {334, "request 332 was cancelled at 2026-01-02T02:08:30Z: nothing more can happen to it"},
    {335, "request 332 was cancelled at 2026-01-02T02:08:30Z: nothing more can happen to it"},
    {336, ""},
    {337, ""},
    {338, ""},
    {339, "request 336 expired at 2026-01-02T04:08:35Z: nothing more can happen to it"},
    {340, "request 336 expired at 2026-01-02T04:08:35Z: nothing more can happen to it"},
    {341, "request 336 expired at 2026-01-02T04:08:35Z: nothing more can happen to it"},
    {342, "offer 285 lapsed at 2026-01-02T04:08:35Z"},
    {343, ""},
    {344, "request 273 was completed at 2026-01-02T04:08:40Z: nothing more can happen to it"},
    /* checkpoints */
    {345, ""},
    {346, "QHM already sent a checkpoint for position 336"},
    {347, ""},
    {348, "checkpoint for position 0, but this log holds positions 1 to 347"},
    {349, "checkpoint for position 999999, but this log holds positions 1 to 348"},
    {350, "checkpoint for position 4: checkpoints name positions that are multiples of 16"},
    {351, "checkpoint chain is 5 bytes, not 32"},
    {352, "checkpoint root is 31 bytes, not 32"},
    {353, "checkpoint cosignature is 0 bytes, not 64"},
    {354, "checkpoint cosignature of RX4 does not verify for the tree head of size 336"},
    {355, "checkpoint cosignature of RX4 does not verify for the tree head of size 336"},
    {356, "checkpoint cosignature of RX4 does not verify for the tree head of size 336"},
    {357, ""},
    /* deadlines by the log's clock */
    {358, ""},
    {359, "too late: motion 242 closed at 2026-02-01T04:08:55Z (index 358): lost: quorum not "
          "met: 1 for, 0 against, 0 abstaining of 6 members (1 voted)"},
    {360, ""},
};
/* GOLDEN END */

/* ---------------------------------------------------------------- checks */

static const char *s_section_of(const s_log_t *l, size_t i)
{
    const char *name = "";
    for (size_t k = 0; k < l->n_sections && l->section[k].first <= i; k++)
        name = l->section[k].name;
    return name;
}

static void s_describe(const s_log_t *l, size_t i, char *out, size_t size)
{
    const ics_apply_result_t *r = &l->fx->tape[i].res;
    snprintf(out, size, "entry %zu of the log (%s), position %" PRIu64 ", %s seq %" PRIu64
             " kind %" PRIu32, i + 1, s_section_of(l, i), r->position,
             r->org[0] ? r->org : "(no org)", r->seq, r->kind);
}

/* s as a C string literal starting at column col, split after spaces into
 * adjacent literals on lines of at most S_PRINT_WIDTH columns (plus the
 * closing "},"), each continuation indented to col. */
#define S_PRINT_WIDTH 96

static void s_print_literal(FILE *f, const char *s, size_t col)
{
    char esc[4 * ICS_REASON_MAX + 8];
    size_t n = 0, start = 0, brk[ICS_REASON_MAX], n_brk = 0, b = 0;
    bool hex = false;

    /* Escaped, with the places after each space where a line may end. */
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        bool was_hex = hex;
        assert_true(n + 8 < sizeof esc && n_brk < ICS_REASON_MAX);
        hex = false;
        if (*p == '"' || *p == '\\') {
            n += (size_t)sprintf(esc + n, "\\%c", *p);
        } else if (*p == '\n') {
            n += (size_t)sprintf(esc + n, "\\n");
        } else if (*p < 0x20 || *p >= 0x7f) {
            n += (size_t)sprintf(esc + n, "\\x%02x", *p);
            hex = true;
        } else if (was_hex && strchr("0123456789abcdefABCDEF", *p) != NULL) {
            n += (size_t)sprintf(esc + n, "\" \"%c", *p); /* ends the hex escape */
        } else {
            esc[n++] = (char)*p;
            if (*p == ' ')
                brk[n_brk++] = n;
        }
    }
    esc[n] = '\0';
    /* Greedy: each line takes the most words that fit. */
    fputc('"', f);
    while (n - start + col + 1 > S_PRINT_WIDTH) {
        size_t end = 0;
        for (; b < n_brk && brk[b] - start + col + 1 <= S_PRINT_WIDTH; b++)
            end = brk[b];
        if (end == 0)
            break; /* one word longer than a line */
        fprintf(f, "%.*s\"\n%*s\"", (int)(end - start), esc + start, (int)col, "");
        start = end;
    }
    fprintf(f, "%s\"", esc + start);
}

/* Entries, accepted, rejected (replays are neither) and distinct rejection
 * texts of each section, and of the whole log. */
static void s_coverage(const s_log_t *l, FILE *f, const char *prefix)
{
    const fx_fsm_t *fx = l->fx;
    size_t total[3] = {0, 0, 0};

    fprintf(f, "%s%-40s %7s %8s %8s %9s\n", prefix, "section", "entries", "accepted",
            "rejected", "distinct");
    for (size_t s = 0; s < l->n_sections; s++) {
        size_t first = l->section[s].first;
        size_t end = s + 1 < l->n_sections ? l->section[s + 1].first : fx->n_tape;
        size_t accepted = 0, rejected = 0, distinct = 0;
        for (size_t i = first; i < end; i++) {
            const ics_apply_result_t *r = &fx->tape[i].res;
            bool seen = false;
            if (r->duplicate)
                continue;
            if (r->accepted) {
                accepted++;
                continue;
            }
            rejected++;
            for (size_t j = first; j < i && !seen; j++)
                seen = !fx->tape[j].res.accepted && !fx->tape[j].res.duplicate &&
                       strcmp(fx->tape[j].res.reason, r->reason) == 0;
            distinct += !seen;
        }
        fprintf(f, "%s%-40s %7zu %8zu %8zu %9zu\n", prefix, l->section[s].name, end - first,
                accepted, rejected, distinct);
        total[0] += end - first;
        total[1] += rejected;
    }
    for (size_t i = 0; i < fx->n_tape; i++) {
        const ics_apply_result_t *r = &fx->tape[i].res;
        bool seen = r->accepted || r->duplicate;
        for (size_t j = 0; j < i && !seen; j++)
            seen = !fx->tape[j].res.accepted && !fx->tape[j].res.duplicate &&
                   strcmp(fx->tape[j].res.reason, r->reason) == 0;
        total[2] += !seen;
    }
    fprintf(f, "%s%-40s %7zu %8s %8zu %9zu\n", prefix, "total", total[0], "", total[1],
            total[2]);
}

/* Prints the golden values section for the log just built. */
static void s_record(const s_log_t *l, const char *head, uint64_t positions)
{
    const fx_fsm_t *fx = l->fx;
    size_t k = 0;

    printf("/* GOLDEN BEGIN */\n");
    printf("/* Recorded under ICS_RULES_VERSION %d. What the log covers:\n", ICS_RULES_VERSION);
    s_coverage(l, stdout, " * ");
    printf(" */\n");
    printf("#define S_GOLDEN_RULES_VERSION %d\n", ICS_RULES_VERSION);
    printf("#define S_GOLDEN_POSITIONS %" PRIu64 "\n", positions);
    printf("#define S_GOLDEN_HEAD \"%s\"\n\n", head);
    printf("static const s_golden_t s_golden[] = {\n");
    for (size_t i = 0; i < fx->n_tape; i++) {
        const ics_apply_result_t *r = &fx->tape[i].res;
        char pos[32];
        while (k < l->n_sections && l->section[k].first == i)
            printf("    /* %s */\n", l->section[k++].name);
        snprintf(pos, sizeof pos, "    {%" PRIu64 ", ", r->position);
        fputs(pos, stdout);
        if (r->duplicate)
            fputs("DUPLICATE", stdout);
        else
            s_print_literal(stdout, r->reason, strlen(pos));
        printf("},\n");
    }
    printf("};\n/* GOLDEN END */\n");
}

static void s_assert_golden(const s_log_t *l, const char *head, uint64_t positions)
{
    const fx_fsm_t *fx = l->fx;
    const size_t n = sizeof s_golden / sizeof s_golden[0];
    char what[160];

    for (size_t i = 0; i < fx->n_tape && i < n; i++) {
        const ics_apply_result_t *r = &fx->tape[i].res;
        const s_golden_t *g = &s_golden[i];
        s_describe(l, i, what, sizeof what);
        if (r->position != g->position)
            fail_msg("golden log: %s: expected position %" PRIu64 ".\n%s", what, g->position,
                     s_advice);
        if (g->reason == DUPLICATE && !r->duplicate)
            fail_msg("golden log: %s: expected a duplicate, got %s \"%s\".\n%s", what,
                     r->accepted ? "accepted" : "rejected", r->reason, s_advice);
        if (g->reason != DUPLICATE && r->duplicate)
            fail_msg("golden log: %s: expected \"%s\", got a duplicate.\n%s", what, g->reason,
                     s_advice);
        if (g->reason != DUPLICATE && (r->accepted != (g->reason[0] == '\0') ||
                                       strcmp(r->reason, g->reason) != 0))
            fail_msg("golden log: %s:\n  expected: %s\n  got:      %s\n%s", what,
                     g->reason[0] ? g->reason : "(accepted)",
                     r->accepted ? "(accepted)" : r->reason, s_advice);
    }
    if (fx->n_tape != n)
        fail_msg("golden log: %zu entries, the golden values have %zu.\n%s", fx->n_tape, n,
                 s_advice);
    if (positions != S_GOLDEN_POSITIONS)
        fail_msg("golden log: %" PRIu64 " positions, expected %d.\n%s", positions,
                 S_GOLDEN_POSITIONS, s_advice);
    if (strcmp(head, S_GOLDEN_HEAD) != 0)
        fail_msg("golden log: chain head\n  expected: %s\n  got:      %s\n%s", S_GOLDEN_HEAD,
                 head, s_advice);
    if (ICS_RULES_VERSION != S_GOLDEN_RULES_VERSION)
        fail_msg("golden log: ICS_RULES_VERSION is %d but the golden values were recorded for"
                 " version %d.\n%s", ICS_RULES_VERSION, S_GOLDEN_RULES_VERSION, s_advice);
}

static ics_fsm_t *s_fresh(void)
{
    ics_err_t err;
    ics_fsm_t *fsm = ics_fsm_new(GROUP, &err);
    if (fsm == NULL)
        fail_msg("ics_fsm_new: %s", err.msg);
    return fsm;
}

/* A replay gave entry i exactly the result the log got. */
static void s_assert_same(const s_log_t *l, const char *who, size_t i,
                          const ics_apply_result_t *got)
{
    const ics_apply_result_t *want = &l->fx->tape[i].res;
    char what[160];

    s_describe(l, i, what, sizeof what);
    if (got->position != want->position || got->accepted != want->accepted ||
        got->duplicate != want->duplicate || strcmp(got->reason, want->reason) != 0 ||
        memcmp(got->entry_id, want->entry_id, 32) != 0 ||
        memcmp(got->chain, want->chain, 32) != 0 || got->clock_ms != want->clock_ms ||
        strcmp(got->org, want->org) != 0 || got->seq != want->seq || got->kind != want->kind)
        fail_msg("replay on %s: %s: result differs (position %" PRIu64 "/%" PRIu64
                 ", reason \"%s\"/\"%s\")", who, what, got->position, want->position,
                 got->reason, want->reason);
}

static ics_apply_result_t s_replay_one(ics_fsm_t *fsm, const fx_entry_t *e)
{
    ics_apply_result_t r;
    assert_int_equal(ics_fsm_apply(fsm, e->len > 0 ? e->buf : NULL, e->len, &r), ICS_OK);
    return r;
}

/* The same bytes on a fresh machine, and through a snapshot taken at
 * l->cut and restored into a third: every result, the chain head, the
 * clock and the whole state agree with the log's. */
static void s_assert_deterministic(const s_log_t *l)
{
    const fx_fsm_t *fx = l->fx;
    ics_fsm_t *fresh = s_fresh(), *restored = s_fresh();
    uint8_t *snap = NULL, want[32], got[32];
    size_t snap_len = 0;
    ics_err_t err;

    assert_true(l->cut > 0 && l->cut < fx->n_tape);
    for (size_t i = 0; i < fx->n_tape; i++) {
        ics_apply_result_t r;
        if (i == l->cut) {
            assert_int_equal(ics_fsm_snapshot(fresh, &snap, &snap_len), ICS_OK);
            if (ics_fsm_restore(restored, snap, snap_len, &err) != ICS_OK)
                fail_msg("restore: %s", err.msg);
            free(snap);
        }
        r = s_replay_one(fresh, &fx->tape[i]);
        s_assert_same(l, "a fresh state machine", i, &r);
        if (i >= l->cut) {
            r = s_replay_one(restored, &fx->tape[i]);
            s_assert_same(l, "a state machine restored from a snapshot", i, &r);
        }
    }
    ics_fsm_chain(fx->fsm, want);
    ics_fsm_chain(fresh, got);
    assert_memory_equal(got, want, 32);
    ics_fsm_chain(restored, got);
    assert_memory_equal(got, want, 32);
    assert_int_equal(ics_fsm_position(fresh), ics_fsm_position(fx->fsm));
    assert_int_equal(ics_fsm_position(restored), ics_fsm_position(fx->fsm));
    assert_int_equal(ics_fsm_clock(fresh), ics_fsm_clock(fx->fsm));
    assert_int_equal(ics_fsm_clock(restored), ics_fsm_clock(fx->fsm));
    fx_state_digest(fx->fsm, want);
    fx_state_digest(fresh, got);
    assert_memory_equal(got, want, 32);
    fx_state_digest(restored, got);
    assert_memory_equal(got, want, 32);
    ics_fsm_destroy(&fresh);
    ics_fsm_destroy(&restored);
}

/* ---------------------------------------------------------------- scenarios */

static int s_setup(void **state)
{
    s_log_t *l = calloc(1, sizeof *l);

    assert_non_null(l);
    fx_set_step(S_STEP_MS);
    l->fx = fx_fsm_new(GROUP, s_orgs, sizeof s_orgs / sizeof s_orgs[0]);
    fx_tape(l->fx);
    s_build(l);
    *state = l;
    return 0;
}

static int s_teardown(void **state)
{
    s_log_t *l = *state;
    fx_fsm_destroy(&l->fx);
    ics_identity_destroy(&l->rx6_old);
    free(l);
    return 0;
}

static void test_log_matches_the_golden_values(void **state)
{
    s_log_t *l = *state;
    const char *record = getenv("ICS_GOLDEN_RECORD");
    uint8_t chain[32];
    char head[65];
    uint64_t positions = ics_fsm_position(l->fx->fsm);

    ics_fsm_chain(l->fx->fsm, chain);
    ics_hex(chain, sizeof chain, head);
    if (record != NULL && (strcmp(record, "1") == 0 || strcmp(record, "scenario") == 0)) {
        if (strcmp(record, "1") == 0 && ICS_RULES_VERSION == S_GOLDEN_RULES_VERSION &&
            strcmp(head, S_GOLDEN_HEAD) != 0)
            fail_msg("golden log: the values changed but ICS_RULES_VERSION is still %d: bump"
                     " it in daemon/fsm/fsm.h first (or, if only this test's log changed and"
                     " no rule did, record with ICS_GOLDEN_RECORD=scenario)",
                     ICS_RULES_VERSION);
        s_record(l, head, positions);
        return;
    }
    s_assert_golden(l, head, positions);
}

static void test_replays_agree(void **state)
{
    s_assert_deterministic(*state);
}

/* The lifecycles drawn in the domains' headers are CHECK constraints of
 * the schema: on the golden log's state, which has rows in every table
 * named, a status outside its lifecycle is refused by SQLite itself. */
static void test_lifecycles_are_constrained(void **state)
{
    const s_log_t *l = *state;
    static const char *const bad[][2] = {
        {"motions", "status = 'adopted'"},
        {"motions", "effect_state = 'pending'"},
        {"amendments", "status = 'merged'"},
        {"consultations", "status = 'paused'"},
        {"responses", "stance = 5"},
        {"aid_requests", "status = 'pending'"},
        {"aid_offers", "status = 'maybe'"},
    };
    ics_fsm_t *fsm = s_fresh();
    sqlite3 *db;
    char sql[160];

    for (size_t i = 0; i < l->fx->n_tape; i++)
        s_replay_one(fsm, &l->fx->tape[i]);
    db = ics_fsm_db(fsm);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sqlite3_stmt *st;
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", bad[i][0]);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        if (sqlite3_column_int64(st, 0) == 0)
            fail_msg("the golden log leaves table %s empty: nothing to check", bad[i][0]);
        sqlite3_finalize(st);
        snprintf(sql, sizeof sql, "UPDATE %s SET %s", bad[i][0], bad[i][1]);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_CONSTRAINT ||
            sqlite3_extended_errcode(db) != SQLITE_CONSTRAINT_CHECK)
            fail_msg("%s: not refused by a CHECK constraint (%s)", sql, sqlite3_errmsg(db));
    }
    ics_fsm_destroy(&fsm);
}

/* With the node's signature memo and verifier on (a small memo, so that
 * entries also fall out of it): every envelope handed to the verifier
 * before it is applied, as a follower does when entries arrive, then the
 * whole log once more with everything memoised. Every result, rejection
 * texts and chain included, is the log's. Runs last: the memo cannot be
 * turned off again in this process. */
static void test_memoised_signatures_change_nothing(void **state)
{
    const s_log_t *l = *state;
    const fx_fsm_t *fx = l->fx;
    ics_fsm_t *first = s_fresh(), *second = s_fresh();
    ics_verifier_stats_t vs;
    ics_sigmemo_stats_t ms;
    ics_err_t err;

    assert_true(ics_sigmemo_enable(10));
    ics_verifier_t *v = ics_verifier_new(2, 64, &err);
    assert_non_null(v);
    for (size_t i = 0; i < fx->n_tape; i++) {
        const fx_entry_t *e = &fx->tape[i];
        Ics__V1__Envelope *env = e->len > 0 ? ics__v1__envelope__unpack(NULL, e->len, e->buf)
                                            : NULL;
        uint8_t pk[ICS_PK_BYTES];

        if (env != NULL && ics_fsm_member_key(first, env->org, pk) == ICS_OK)
            ics_verifier_push_envelope(v, env, pk);
        if (env != NULL)
            ics__v1__envelope__free_unpacked(env, NULL);
        /* Now and then wait for the verifier, so that some entries are
         * applied after their check and some before. */
        if (i % 7 == 0)
            for (int t = 0; t < 200; t++) {
                ics_verifier_stats(v, &vs);
                if (vs.valid + vs.invalid >= vs.queued)
                    break;
                nanosleep(&(struct timespec){.tv_nsec = 1000 * 1000}, NULL);
            }
        ics_apply_result_t r = s_replay_one(first, e);
        s_assert_same(l, "a state machine with the verifier ahead of it", i, &r);
    }
    for (size_t i = 0; i < fx->n_tape; i++) {
        ics_apply_result_t r = s_replay_one(second, &fx->tape[i]);
        s_assert_same(l, "a state machine with every signature memoised", i, &r);
    }
    ics_verifier_stats(v, &vs);
    ics_verifier_destroy(&v);
    ics_sigmemo_stats(&ms);
    /* The log's forgeries went through the verifier too, and were
     * rejected all the same. */
    assert_true(vs.valid > 0 && vs.invalid > 0);
    assert_true(ms.hits > 0);
    uint8_t a[32], b[32];
    ics_fsm_chain(fx->fsm, a);
    ics_fsm_chain(first, b);
    assert_memory_equal(a, b, 32);
    ics_fsm_chain(second, b);
    assert_memory_equal(a, b, 32);
    ics_fsm_destroy(&first);
    ics_fsm_destroy(&second);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_matches_the_golden_values),
        cmocka_unit_test(test_replays_agree),
        cmocka_unit_test(test_lifecycles_are_constrained),
        cmocka_unit_test(test_memoised_signatures_change_nothing),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
