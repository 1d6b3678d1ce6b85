/*
 * State machine tests: what a partner organisation would see when entries
 * are applied — verdicts and reasons, positions and chain heads, membership
 * and keys, checkpoints, the log clock, snapshots, and the export.
 *
 * Layout: fixture, helpers that sign and apply commands, domain
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

#include "fsm/fsm.h"
#include "fsm/fsm_internal.h"
#include "history.h"
#include "common/envelope.h"
#include "common/logverify.h"
#include "common/note.h"

/* ---------------------------------------------------------------- fixture */

#define GROUP "qhm-ics"

enum { QHM, RTD, RX1, NEW, EVE, RTD2, N_IDS };
static const char *const s_org[N_IDS] = {"QHM", "RTD", "RX1", "NEW", "EVE", "RTD"};

typedef struct {
    ics_fsm_t *fsm;
    ics_history_t *history;        /* what the node would keep on disk */
    ics_identity_t *id[N_IDS];
    uint64_t now;                  /* proposer clock for the next entry */
    ics_effect_t effects[32];
    size_t n_effects;
    unsigned applied_calls;
    ics_apply_result_t last_applied;
} fx_t;

static void s_on_applied(void *arg, const ics_apply_result_t *res)
{
    fx_t *fx = arg;
    fx->applied_calls++;
    fx->last_applied = *res;
    assert_non_null(res->envelope);
    /* Copies made by a test apply the same entries: the history compares. */
    (void)ics_history_append(fx->history, res);
    fx->last_applied.envelope = NULL;
}

static void s_on_effect(void *arg, const ics_effect_t *e)
{
    fx_t *fx = arg;
    assert_true(fx->n_effects < sizeof fx->effects / sizeof fx->effects[0]);
    fx->effects[fx->n_effects++] = *e;
}

static ics_fsm_t *s_new_fsm(fx_t *fx, const char *group)
{
    ics_err_t err;
    ics_fsm_observer_t obs = {s_on_applied, s_on_effect, fx};
    ics_fsm_t *fsm = ics_fsm_new(group, &err);

    if (fsm == NULL)
        fail_msg("ics_fsm_new: %s", err.msg);
    ics_fsm_set_observer(fsm, &obs);
    return fsm;
}

static int s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    for (int i = 0; i < N_IDS; i++) {
        uint8_t seed[32];
        memset(seed, 0x11 * (i + 1), sizeof seed);
        fx->id[i] = ics_identity_from_seed(seed);
        assert_non_null(fx->id[i]);
    }
    fx->history = ics_history_open(NULL, GROUP, NULL);
    assert_non_null(fx->history);
    fx->fsm = s_new_fsm(fx, GROUP);
    fx->now = 1700000000000ull;
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *fx = *state;
    ics_fsm_destroy(&fx->fsm);
    assert_null(fx->fsm);
    ics_history_close(&fx->history);
    for (int i = 0; i < N_IDS; i++)
        ics_identity_destroy(&fx->id[i]);
    free(fx);
    return 0;
}

/* ---------------------------------------------------------------- helpers */

static const uint8_t *s_pk(fx_t *fx, int who)
{
    return ics_identity_public(fx->id[who]);
}

/* Signs payload as org with key `key`. Caller frees. */
static uint8_t *s_seal(fx_t *fx, int key, const char *org, const char *group, uint64_t seq,
                       uint64_t ts, uint32_t kind, const uint8_t *payload, size_t plen,
                       size_t *len)
{
    ics_envelope_fields_t f = {group, org, seq, ts, kind, payload, plen};
    uint8_t *out = NULL;
    ics_err_t err;

    if (ics_envelope_seal(fx->id[key], &f, &out, len, &err) != ICS_OK)
        fail_msg("seal: %s", err.msg);
    return out;
}

static uint8_t *s_pack_cmd(const Ics__V1__Command *cmd, size_t *len)
{
    uint8_t *p = NULL;
    assert_int_equal(ics_pack(&cmd->base, &p, len), ICS_OK);
    return p;
}

/* Envelope bytes of cmd signed with key `key` as org, header kind = body. */
static uint8_t *s_entry_as(fx_t *fx, int key, const char *org, uint64_t seq, uint64_t ts,
                           const Ics__V1__Command *cmd, size_t *len)
{
    size_t plen = 0;
    uint8_t *payload = s_pack_cmd(cmd, &plen);
    uint8_t *env = s_seal(fx, key, org, GROUP, seq, ts, (uint32_t)cmd->body_case, payload, plen,
                          len);
    free(payload);
    return env;
}

static ics_apply_result_t s_apply_bytes(ics_fsm_t *fsm, const uint8_t *buf, size_t len)
{
    ics_apply_result_t res;
    assert_int_equal(ics_fsm_apply(fsm, buf, len, &res), ICS_OK);
    return res;
}

static ics_apply_result_t s_send_as(fx_t *fx, int key, const char *org, uint64_t seq,
                                    const Ics__V1__Command *cmd)
{
    size_t len = 0;
    uint8_t *buf = s_entry_as(fx, key, org, seq, fx->now += 10, cmd, &len);
    ics_apply_result_t res = s_apply_bytes(fx->fsm, buf, len);
    free(buf);
    return res;
}

static ics_apply_result_t s_send(fx_t *fx, int who, uint64_t seq, const Ics__V1__Command *cmd)
{
    return s_send_as(fx, who, s_org[who], seq, cmd);
}

static ics_apply_result_t s_raw(fx_t *fx, int who, uint64_t seq)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Raw raw = ICS__V1__RAW__INIT;
    raw.note = "hello";
    cmd.actor = ""; /* the organisation itself */
    cmd.body_case = ICS__V1__COMMAND__BODY_RAW;
    cmd.raw = &raw;
    return s_send(fx, who, seq, &cmd);
}

static void s_raw_cmd(Ics__V1__Command *cmd, Ics__V1__Raw *raw, const char *note)
{
    ics__v1__command__init(cmd);
    ics__v1__raw__init(raw);
    raw->note = (char *)note;
    cmd->body_case = ICS__V1__COMMAND__BODY_RAW;
    cmd->raw = raw;
}

static ics_apply_result_t s_tick(fx_t *fx, int who, uint64_t seq, uint64_t now_ms)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__ClockTick tick = ICS__V1__CLOCK_TICK__INIT;
    tick.now_ms = now_ms;
    cmd.body_case = ICS__V1__COMMAND__BODY_TICK;
    cmd.tick = &tick;
    return s_send(fx, who, seq, &cmd);
}

static ics_apply_result_t s_checkpoint(fx_t *fx, int who, uint64_t seq, uint64_t position,
                                       const uint8_t chain[32])
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Checkpoint cp = ICS__V1__CHECKPOINT__INIT;
    uint8_t root[32] = {0}, sig[ICS_SIG_BYTES];

    /* The tree head as this node's history has it, cosigned by who. */
    if (ics_history_tree_root(fx->history, position, root) != ICS_OK)
        memset(root, 0, sizeof root);
    ics_note_cosign(fx->id[who], GROUP, position, root, sig);
    cp.position = position;
    cp.chain.data = (uint8_t *)chain;
    cp.chain.len = 32;
    cp.root.data = root;
    cp.root.len = sizeof root;
    cp.cosignature.data = sig;
    cp.cosignature.len = sizeof sig;
    cmd.body_case = ICS__V1__COMMAND__BODY_CHECKPOINT;
    cmd.checkpoint = &cp;
    return s_send(fx, who, seq, &cmd);
}

static void s_member(Ics__V1__MemberAdd *m, const char *org, const uint8_t *pk, bool voter)
{
    ics__v1__member_add__init(m);
    m->org = (char *)org;
    m->kind = "trust";
    m->name = "An NHS Trust";
    m->endpoint = "tcp://node.example.nhs.uk:7400";
    m->public_key.data = (uint8_t *)pk;
    m->public_key.len = pk != NULL ? ICS_PK_BYTES : 0;
    m->role = voter ? ICS__V1__MEMBER_ROLE__MEMBER_ROLE_VOTER
                    : ICS__V1__MEMBER_ROLE__MEMBER_ROLE_STANDBY;
}

static ics_apply_result_t s_member_add(fx_t *fx, int who, uint64_t seq, const char *org,
                                       const uint8_t *pk, bool voter)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__MemberAdd m;
    s_member(&m, org, pk, voter);
    cmd.body_case = ICS__V1__COMMAND__BODY_MEMBER_ADD;
    cmd.member_add = &m;
    return s_send(fx, who, seq, &cmd);
}

static ics_apply_result_t s_member_remove(fx_t *fx, int who, uint64_t seq, const char *org)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__MemberRemove r = ICS__V1__MEMBER_REMOVE__INIT;
    r.org = (char *)org;
    cmd.body_case = ICS__V1__COMMAND__BODY_MEMBER_REMOVE;
    cmd.member_remove = &r;
    return s_send(fx, who, seq, &cmd);
}

static ics_apply_result_t s_key_rotate(fx_t *fx, int key, const char *signer, uint64_t seq,
                                       const char *org, const uint8_t *pk)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__KeyRotate k = ICS__V1__KEY_ROTATE__INIT;
    k.org = (char *)org;
    k.public_key.data = (uint8_t *)pk;
    k.public_key.len = ICS_PK_BYTES;
    cmd.body_case = ICS__V1__COMMAND__BODY_KEY_ROTATE;
    cmd.key_rotate = &k;
    return s_send_as(fx, key, signer, seq, &cmd);
}

/* A genesis listing `orgs` (keys of the same index unless pk_override),
 * administered by admin, signed with key `key` as signer. */
static ics_apply_result_t s_genesis_ex(fx_t *fx, int key, const char *signer, uint64_t seq,
                                       const char *ggroup, const char *admin, const int *who,
                                       size_t n, const uint8_t *pk_override_last)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Genesis g = ICS__V1__GENESIS__INIT;
    Ics__V1__MemberAdd m[8], *mp[8];

    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *pk = (i == n - 1 && pk_override_last) ? pk_override_last : s_pk(fx, who[i]);
        s_member(&m[i], s_org[who[i]], pk, true);
        mp[i] = &m[i];
    }
    m[0].kind = "icb";
    g.group = (char *)ggroup;
    g.admin = (char *)admin;
    g.n_members = n;
    g.members = mp;
    cmd.actor = "";
    cmd.body_case = ICS__V1__COMMAND__BODY_GENESIS;
    cmd.genesis = &g;
    return s_send_as(fx, key, signer, seq, &cmd);
}

static const int s_founders[] = {QHM, RTD, RX1};

static ics_apply_result_t s_genesis(fx_t *fx)
{
    return s_genesis_ex(fx, QHM, "QHM", 1, GROUP, "QHM", s_founders, 3, NULL);
}

/* ---------------------------------------------------------------- assertions */

/* Each evaluates its argument once: it may be an apply. */
#define ASSERT_ACCEPTED(expr)                                                               \
    do {                                                                                    \
        ics_apply_result_t r_ = (expr);                                                     \
        if (!r_.accepted)                                                                   \
            fail_msg("expected accepted, got rejected: %s", r_.reason);                    \
        assert_false(r_.duplicate);                                                         \
        assert_string_equal(r_.reason, "");                                                 \
    } while (0)

#define ASSERT_REJECTED(expr, why)                                                          \
    do {                                                                                    \
        ics_apply_result_t r_ = (expr);                                                     \
        assert_false(r_.accepted);                                                          \
        assert_false(r_.duplicate);                                                         \
        assert_string_equal(r_.reason, why);                                                \
    } while (0)

#define ASSERT_REJECTED_PREFIX(expr, prefix)                                                \
    do {                                                                                    \
        ics_apply_result_t r_ = (expr);                                                     \
        assert_false(r_.accepted);                                                          \
        if (strncmp(r_.reason, prefix, strlen(prefix)) != 0)                                \
            fail_msg("reason '%s' does not start with '%s'", r_.reason, prefix);            \
    } while (0)

#define ASSERT_POSITION(fx, p) assert_int_equal(ics_fsm_position((fx)->fsm), (p))

#define ASSERT_HEAD_IS(fx, r)                                                               \
    do {                                                                                    \
        uint8_t head_[32];                                                                  \
        ics_fsm_chain((fx)->fsm, head_);                                                    \
        assert_memory_equal(head_, (r).chain, 32);                                          \
        assert_int_equal(ics_fsm_position((fx)->fsm), (r).position);                        \
    } while (0)

static void s_assert_same_result(const ics_apply_result_t *a, const ics_apply_result_t *b)
{
    assert_int_equal(a->position, b->position);
    assert_int_equal(a->accepted, b->accepted);
    assert_int_equal(a->duplicate, b->duplicate);
    assert_string_equal(a->reason, b->reason);
    assert_memory_equal(a->entry_id, b->entry_id, 32);
    assert_memory_equal(a->chain, b->chain, 32);
    assert_string_equal(a->org, b->org);
    assert_int_equal(a->seq, b->seq);
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->clock_ms, b->clock_ms);
}

/* ---------------------------------------------------------------- genesis */

static void test_genesis_then_second_rejected(void **state)
{
    fx_t *fx = *state;
    uint8_t pk[ICS_PK_BYTES];

    assert_false(ics_fsm_has_genesis(fx->fsm));
    assert_string_equal(ics_fsm_group(fx->fsm), GROUP);
    ics_apply_result_t r = s_genesis(fx);
    ASSERT_ACCEPTED(r);
    assert_int_equal(r.position, 1);
    assert_string_equal(r.org, "QHM");
    assert_int_equal(r.seq, 1);
    assert_int_equal(r.kind, ICS__V1__COMMAND__BODY_GENESIS);
    assert_true(ics_fsm_has_genesis(fx->fsm));
    ASSERT_HEAD_IS(fx, r);
    for (int i = 0; i < 3; i++) {
        assert_true(ics_fsm_is_member(fx->fsm, s_org[s_founders[i]]));
        assert_int_equal(ics_fsm_member_key(fx->fsm, s_org[s_founders[i]], pk), ICS_OK);
        assert_memory_equal(pk, s_pk(fx, s_founders[i]), ICS_PK_BYTES);
    }
    assert_false(ics_fsm_is_member(fx->fsm, "NEW"));
    assert_int_equal(ics_fsm_member_key(fx->fsm, "NEW", pk), ICS_ENOENT);
    /* The node learns every founding member, in genesis order, as a voter. */
    assert_int_equal(fx->n_effects, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fx->effects[i].type, ICS_EFFECT_MEMBER_ADDED);
        assert_string_equal(fx->effects[i].org, s_org[s_founders[i]]);
        assert_true(fx->effects[i].voter);
        assert_string_equal(fx->effects[i].endpoint, "tcp://node.example.nhs.uk:7400");
    }
    assert_int_equal(fx->applied_calls, 1);

    r = s_genesis_ex(fx, RTD, "RTD", 1, GROUP, "RTD", s_founders, 3, NULL);
    ASSERT_REJECTED(r, "genesis already applied");
    assert_int_equal(r.position, 2);
    ASSERT_HEAD_IS(fx, r);
    assert_int_equal(fx->n_effects, 3); /* a rejected entry changes no membership */
    /* The admin is still QHM: RTD may not add members. */
    r = s_member_add(fx, RTD, 2, "NEW", s_pk(fx, NEW), true);
    ASSERT_REJECTED(r, "only the membership administrator may add members; RTD is not it");
}

static void test_entries_before_genesis_rejected(void **state)
{
    fx_t *fx = *state;
    const int twice[] = {QHM, RTD, RTD};
    uint8_t zero_key[ICS_PK_BYTES] = {0};
    ics_apply_result_t r;

    r = s_raw(fx, QHM, 1);
    ASSERT_REJECTED(r, "group has no genesis yet");
    assert_int_equal(r.position, 1);
    r = s_tick(fx, RTD, 1, fx->now + 100000);
    ASSERT_REJECTED(r, "group has no genesis yet");
    assert_int_equal(ics_fsm_clock(fx->fsm), 0); /* nothing before genesis moves the clock */

    r = s_genesis_ex(fx, NEW, "NEW", 1, GROUP, "QHM", s_founders, 3, NULL);
    ASSERT_REJECTED(r, "group has no genesis yet: genesis signer NEW is not among its members");
    r = s_genesis_ex(fx, QHM, "QHM", 1, GROUP, "NEW", s_founders, 3, NULL);
    ASSERT_REJECTED(r, "group has no genesis yet: genesis administrator 'NEW' is not a member");
    r = s_genesis_ex(fx, QHM, "QHM", 1, "other-ics", "QHM", s_founders, 3, NULL);
    ASSERT_REJECTED(r, "group has no genesis yet: genesis is for group 'other-ics'");
    r = s_genesis_ex(fx, QHM, "QHM", 1, GROUP, "QHM", twice, 3, NULL);
    ASSERT_REJECTED(r, "group has no genesis yet: genesis lists RTD twice");
    r = s_genesis_ex(fx, QHM, "QHM", 1, GROUP, "QHM", s_founders, 3, zero_key);
    ASSERT_REJECTED(r, "group has no genesis yet: public key of RX1 is not a valid Ed25519 key");
    /* RX1 listed with NEW's key, but signs with its own. */
    r = s_genesis_ex(fx, RX1, "RX1", 1, GROUP, "QHM", s_founders, 3, s_pk(fx, NEW));
    ASSERT_REJECTED(r, "group has no genesis yet: genesis signed with a key not listed for RX1");
    assert_false(ics_fsm_has_genesis(fx->fsm));
    ASSERT_POSITION(fx, 8);
    assert_int_equal(ics_fsm_max_seq(fx->fsm, "QHM"), 0);

    /* None of those burnt QHM's seq 1: the real genesis takes it. */
    r = s_genesis(fx);
    ASSERT_ACCEPTED(r);
    assert_int_equal(r.position, 9);
    assert_true(ics_fsm_has_genesis(fx->fsm));
    assert_int_equal(ics_fsm_max_seq(fx->fsm, "QHM"), 1);
    ASSERT_ACCEPTED(s_raw(fx, RTD, 1));
}

/* The chain value docs/log-format.md gives for this group's first entry
 * (an empty raft entry), computed there independently of this code. */
static void test_chain_matches_documented_vector(void **state)
{
    fx_t *fx = *state;
    char hex[65];
    uint8_t head[32];

    ics_fsm_chain(fx->fsm, head);
    ics_hex(head, 32, hex);
    assert_string_equal(hex, "4a84ce3a5b4961378bfc475d349590cac48787bfb8e25cb86886eb901dd15fe3");
    ics_apply_result_t r = s_apply_bytes(fx->fsm, (const uint8_t *)"", 0);
    ASSERT_REJECTED(r, "malformed envelope: empty envelope");
    ics_hex(r.chain, 32, hex);
    assert_string_equal(hex, "151c48396ce49529aa1d15642e03aab5de76edf0548dc6b93b3fb0d6a2911c17");
}

/* ---------------------------------------------------------------- admission */

static void test_forged_signature_does_not_burn_seq(void **state)
{
    fx_t *fx = *state;
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command cmd;
    Ics__V1__Raw raw;
    uint8_t *buf, *forged;
    size_t len = 0, flen = 0;
    ics_apply_result_t r, before;
    ics_err_t err;

    ASSERT_ACCEPTED(s_genesis(fx));
    before = s_raw(fx, QHM, 2);
    ASSERT_ACCEPTED(before);

    /* A real RTD entry whose signature was tampered with on the way. */
    s_raw_cmd(&cmd, &raw, "pay the invoice");
    buf = s_entry_as(fx, RTD, "RTD", 1, fx->now += 10, &cmd, &len);
    assert_int_equal(ics_envelope_decode(buf, len, &env, &err), ICS_OK);
    env->signature.data[5] ^= 0x40;
    assert_int_equal(ics_pack(&env->base, &forged, &flen), ICS_OK);
    r = s_apply_bytes(fx->fsm, forged, flen);
    ASSERT_REJECTED(r, "bad signature");
    assert_int_equal(r.position, 3);
    assert_string_equal(r.org, "RTD");
    assert_int_equal(r.seq, 1);
    ASSERT_HEAD_IS(fx, r);
    assert_int_equal(ics_fsm_max_seq(fx->fsm, "RTD"), 0);
    assert_false(ics_fsm_seq_taken(fx->fsm, "RTD", 1));
    assert_int_equal(ics_history_lookup(fx->history, "RTD", 1, &r), ICS_ENOENT);

    /* EVE claims to be RTD with her own key. */
    r = s_raw(fx, EVE, 1); /* EVE's own org: not a member */
    ASSERT_REJECTED(r, "unknown organisation EVE");
    r = s_send_as(fx, EVE, "RTD", 1, &cmd);
    ASSERT_REJECTED(r, "signed with a key not in force for RTD");
    assert_int_equal(ics_fsm_clock(fx->fsm), before.clock_ms); /* forgeries do not move time */

    /* The genuine entry with the same seq is applied, not a duplicate. */
    r = s_apply_bytes(fx->fsm, buf, len);
    ASSERT_ACCEPTED(r);
    assert_int_equal(r.position, 6);
    assert_int_equal(ics_fsm_max_seq(fx->fsm, "RTD"), 1);
    ics__v1__envelope__free_unpacked(env, NULL);
    free(forged);
    free(buf);
}

static void test_wrong_group_and_malformed_envelope(void **state)
{
    fx_t *fx = *state;
    Ics__V1__Command cmd;
    Ics__V1__Raw raw;
    uint8_t *payload, *buf, id[32];
    size_t plen = 0, len = 0;
    const uint8_t junk[] = "this is not an envelope";
    ics_apply_result_t r;

    ASSERT_ACCEPTED(s_genesis(fx));
    s_raw_cmd(&cmd, &raw, "x");
    payload = s_pack_cmd(&cmd, &plen);
    buf = s_seal(fx, RTD, "RTD", "nel-ics", 1, fx->now, ICS__V1__COMMAND__BODY_RAW, payload,
                 plen, &len);
    r = s_apply_bytes(fx->fsm, buf, len);
    ASSERT_REJECTED(r, "wrong group: envelope is for 'nel-ics', this group is 'qhm-ics'");
    assert_int_equal(r.position, 2);
    ASSERT_HEAD_IS(fx, r);
    free(buf);

    r = s_apply_bytes(fx->fsm, junk, sizeof junk - 1);
    ASSERT_REJECTED_PREFIX(r, "malformed envelope: ");
    assert_string_equal(r.org, "");
    assert_int_equal(r.seq, 0);
    assert_int_equal(r.position, 3);
    ics_entry_id(junk, sizeof junk - 1, id);
    assert_memory_equal(r.entry_id, id, 32);
    r = s_apply_bytes(fx->fsm, NULL, 0);
    ASSERT_REJECTED(r, "malformed envelope: empty envelope");
    assert_int_equal(r.position, 4);
    ASSERT_HEAD_IS(fx, r);
    /* Neither took RTD's seq 1. */
    ASSERT_ACCEPTED(s_raw(fx, RTD, 1));
    free(payload);
}

static void test_replay_is_duplicate(void **state)
{
    fx_t *fx = *state;
    Ics__V1__Command cmd;
    Ics__V1__Raw raw;
    uint8_t *first, *other, head[32];
    size_t len1 = 0, len2 = 0;
    ics_apply_result_t orig, r, looked;

    ASSERT_ACCEPTED(s_genesis(fx));
    s_raw_cmd(&cmd, &raw, "first");
    first = s_entry_as(fx, RTD, "RTD", 7, fx->now += 10, &cmd, &len1);
    orig = s_apply_bytes(fx->fsm, first, len1);
    ASSERT_ACCEPTED(orig);
    assert_int_equal(orig.position, 2);
    ASSERT_ACCEPTED(s_raw(fx, RX1, 1));
    ics_fsm_chain(fx->fsm, head);
    unsigned calls = fx->applied_calls;

    /* The same bytes again (a retry): the state keeps no past results, so
     * the duplicate says only that; the history has the first result. */
    r = s_apply_bytes(fx->fsm, first, len1);
    assert_true(r.duplicate);
    assert_int_equal(r.position, 0);
    assert_memory_equal(r.entry_id, orig.entry_id, 32);
    assert_string_equal(r.org, "RTD");
    assert_int_equal(r.seq, 7);
    assert_int_equal(fx->applied_calls, calls + 1);
    assert_true(fx->last_applied.duplicate);
    /* A different command reusing the seq: a duplicate too. */
    s_raw_cmd(&cmd, &raw, "second thoughts");
    other = s_entry_as(fx, RTD, "RTD", 7, fx->now += 10, &cmd, &len2);
    r = s_apply_bytes(fx->fsm, other, len2);
    assert_true(r.duplicate);
    assert_int_equal(r.position, 0);
    /* Nothing changed: no audit row, no chain step, no clock movement. */
    ASSERT_POSITION(fx, 3);
    uint8_t now_head[32];
    ics_fsm_chain(fx->fsm, now_head);
    assert_memory_equal(now_head, head, 32);

    assert_int_equal(ics_history_lookup(fx->history, "RTD", 7, &looked), ICS_OK);
    orig.duplicate = false;
    s_assert_same_result(&looked, &orig);
    assert_int_equal(ics_fsm_max_seq(fx->fsm, "RTD"), 7);
    free(first);
    free(other);
}

static void test_malformed_payload_and_kind_mismatch(void **state)
{
    fx_t *fx = *state;
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__ClockTick tick = ICS__V1__CLOCK_TICK__INIT;
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0x07};
    /* actor "x", then field 99 (length-delimited, empty): a future kind. */
    const uint8_t future[] = {0x0a, 0x01, 'x', 0x9a, 0x06, 0x00};
    uint8_t *payload, *buf;
    size_t plen = 0, len = 0;
    ics_apply_result_t r;

    ASSERT_ACCEPTED(s_genesis(fx));
    buf = s_seal(fx, RTD, "RTD", GROUP, 1, fx->now + 5000, ICS__V1__COMMAND__BODY_RAW, garbage,
                 sizeof garbage, &len);
    r = s_apply_bytes(fx->fsm, buf, len);
    ASSERT_REJECTED(r, "malformed command: payload does not decode as a command");
    /* Its signature verified: the seq is taken and the clock moved. */
    assert_int_equal(r.clock_ms, fx->now + 5000);
    ics_apply_result_t again = s_apply_bytes(fx->fsm, buf, len), first;
    assert_true(again.duplicate);
    assert_int_equal(ics_history_lookup(fx->history, "RTD", 1, &first), ICS_OK);
    assert_false(first.accepted);
    assert_string_equal(first.reason, r.reason);
    assert_int_equal(first.position, r.position);
    free(buf);

    tick.now_ms = 5;
    cmd.body_case = ICS__V1__COMMAND__BODY_TICK;
    cmd.tick = &tick;
    payload = s_pack_cmd(&cmd, &plen);
    buf = s_seal(fx, RTD, "RTD", GROUP, 2, fx->now, ICS__V1__COMMAND__BODY_RAW, payload, plen,
                 &len);
    r = s_apply_bytes(fx->fsm, buf, len);
    ASSERT_REJECTED(r, "malformed command: payload is command kind 11, header says 10");
    free(buf);
    free(payload);

    buf = s_seal(fx, RTD, "RTD", GROUP, 3, fx->now, 99, future, sizeof future, &len);
    r = s_apply_bytes(fx->fsm, buf, len);
    ASSERT_REJECTED(r, "malformed command: unknown command kind 99");
    assert_int_equal(r.kind, 99);
    free(buf);
    ASSERT_POSITION(fx, 4);
    assert_int_equal(ics_fsm_max_seq(fx->fsm, "RTD"), 3);
}

/* ---------------------------------------------------------------- members */

static void test_key_rotation(void **state)
{
    fx_t *fx = *state;
    Ics__V1__Command cmd;
    Ics__V1__Raw raw;
    uint8_t pk[ICS_PK_BYTES];
    ics_apply_result_t r;

    ASSERT_ACCEPTED(s_genesis(fx));
    ASSERT_ACCEPTED(s_raw(fx, RTD, 1));
    fx->n_effects = 0;
    r = s_key_rotate(fx, RTD, "RTD", 2, "RTD", s_pk(fx, RTD2));
    ASSERT_ACCEPTED(r);
    assert_int_equal(fx->n_effects, 1);
    assert_int_equal(fx->effects[0].type, ICS_EFFECT_KEY_CHANGED);
    assert_string_equal(fx->effects[0].org, "RTD");
    assert_memory_equal(fx->effects[0].public_key, s_pk(fx, RTD2), ICS_PK_BYTES);
    assert_int_equal(ics_fsm_member_key(fx->fsm, "RTD", pk), ICS_OK);
    assert_memory_equal(pk, s_pk(fx, RTD2), ICS_PK_BYTES);

    /* From the next entry, the old key is refused and the new one works. */
    r = s_raw(fx, RTD, 3);
    ASSERT_REJECTED(r, "signed with a key not in force for RTD");
    ASSERT_ACCEPTED(s_raw(fx, RTD2, 3));

    /* RX1 may not re-key RTD; the administrator may re-key RX1. */
    r = s_key_rotate(fx, RX1, "RX1", 1, "RTD", s_pk(fx, NEW));
    ASSERT_REJECTED(r, "only RTD itself or the membership administrator may rotate its key");
    r = s_key_rotate(fx, QHM, "QHM", 2, "RX1", s_pk(fx, RTD2));
    ASSERT_REJECTED(r, "that public key already belongs to RTD");
    r = s_key_rotate(fx, QHM, "QHM", 3, "RX1", s_pk(fx, NEW));
    ASSERT_ACCEPTED(r);
    ASSERT_REJECTED(s_raw(fx, RX1, 2), "signed with a key not in force for RX1");
    s_raw_cmd(&cmd, &raw, "re-keyed");
    ASSERT_ACCEPTED(s_send_as(fx, NEW, "RX1", 2, &cmd));
}

static void test_only_admin_changes_membership(void **state)
{
    fx_t *fx = *state;
    ics_apply_result_t r;

    ASSERT_ACCEPTED(s_genesis(fx));
    fx->n_effects = 0;
    r = s_member_add(fx, RTD, 1, "NEW", s_pk(fx, NEW), true);
    ASSERT_REJECTED(r, "only the membership administrator may add members; RTD is not it");
    assert_false(ics_fsm_is_member(fx->fsm, "NEW"));
    ASSERT_REJECTED(s_raw(fx, NEW, 1), "unknown organisation NEW");
    assert_int_equal(fx->n_effects, 0);

    r = s_member_add(fx, QHM, 2, "NEW", s_pk(fx, NEW), false);
    ASSERT_ACCEPTED(r);
    assert_true(ics_fsm_is_member(fx->fsm, "NEW"));
    assert_int_equal(fx->n_effects, 1);
    assert_int_equal(fx->effects[0].type, ICS_EFFECT_MEMBER_ADDED);
    assert_string_equal(fx->effects[0].org, "NEW");
    assert_false(fx->effects[0].voter);
    assert_memory_equal(fx->effects[0].public_key, s_pk(fx, NEW), ICS_PK_BYTES);
    ASSERT_ACCEPTED(s_raw(fx, NEW, 1)); /* its earlier seq 1 never verified, so is free */

    r = s_member_add(fx, QHM, 3, "RTD", s_pk(fx, RTD2), true);
    ASSERT_REJECTED(r, "RTD is already a member");
    r = s_member_add(fx, QHM, 4, "EVE", s_pk(fx, RTD), true);
    ASSERT_REJECTED(r, "that public key already belongs to RTD");
    r = s_member_add(fx, QHM, 5, "bad id!", s_pk(fx, EVE), true);
    ASSERT_REJECTED(r, "'bad id!' is not a valid organisation id");

    r = s_member_remove(fx, RTD, 2, "RX1");
    ASSERT_REJECTED(r, "only the membership administrator may remove members; RTD is not it");
    r = s_member_remove(fx, QHM, 6, "QHM");
    ASSERT_REJECTED(r, "the administrator QHM cannot remove itself");
    r = s_member_remove(fx, QHM, 7, "ZZZ");
    ASSERT_REJECTED(r, "ZZZ is not a member");
    fx->n_effects = 0;
    r = s_member_remove(fx, QHM, 8, "RX1");
    ASSERT_ACCEPTED(r);
    assert_int_equal(fx->n_effects, 1);
    assert_int_equal(fx->effects[0].type, ICS_EFFECT_MEMBER_REMOVED);
    assert_string_equal(fx->effects[0].org, "RX1");
    assert_true(fx->effects[0].voter);
    assert_false(ics_fsm_is_member(fx->fsm, "RX1"));
    ASSERT_REJECTED(s_raw(fx, RX1, 5), "unknown organisation RX1");

    /* Re-admitted, with its key in force again from the next entry. */
    ASSERT_ACCEPTED(s_member_add(fx, QHM, 9, "RX1", s_pk(fx, RX1), true));
    ASSERT_ACCEPTED(s_raw(fx, RX1, 6));
}

/* ---------------------------------------------------------------- checkpoints */

static void test_checkpoint_certification_and_alarm(void **state)
{
    fx_t *fx = *state;
    ics_checkpoint_status_t st;
    ics_log_entry_t e;
    uint8_t wrong[32];
    char hex[65];
    ics_apply_result_t r;

    ASSERT_ACCEPTED(s_genesis(fx));
    ASSERT_ACCEPTED(s_member_add(fx, QHM, 2, "NEW", s_pk(fx, NEW), false)); /* standby */
    for (uint64_t s = 1; s <= 14; s++)
        ASSERT_ACCEPTED(s_raw(fx, RTD, s));
    ASSERT_POSITION(fx, 16);
    /* The state keeps the chain at multiples of 16 (what checkpoints name);
     * the history keeps every entry. */
    assert_int_equal(ics_history_entry(fx->history, 16, &e), ICS_OK);
    assert_int_equal(e.position, 16);
    assert_true(e.accepted);
    assert_non_null(e.envelope);
    {
        uint8_t kept[32];
        assert_int_equal(ics_fsm_chain_at(fx->fsm, 16, kept), ICS_OK);
        assert_memory_equal(kept, e.chain, 32);
        assert_int_equal(ics_fsm_chain_at(fx->fsm, 15, kept), ICS_ENOENT);
    }

    ics_fsm_checkpoint_status(fx->fsm, &st);
    assert_int_equal(st.position, 0);
    assert_false(st.certified);
    assert_false(st.alarm);
    assert_int_equal(st.needed, 2); /* majority of 3 voters */

    ASSERT_ACCEPTED(s_checkpoint(fx, QHM, 3, 16, e.chain));
    ics_fsm_checkpoint_status(fx->fsm, &st);
    assert_int_equal(st.position, 16);
    assert_int_equal(st.matching, 1);
    assert_false(st.certified);
    /* A standby's matching checkpoint does not count towards certification. */
    ASSERT_ACCEPTED(s_checkpoint(fx, NEW, 1, 16, e.chain));
    ics_fsm_checkpoint_status(fx->fsm, &st);
    assert_int_equal(st.matching, 1);
    assert_false(st.certified);
    assert_int_equal(ics_fsm_certified_position(fx->fsm), 0);

    ASSERT_ACCEPTED(s_checkpoint(fx, RTD, 15, 16, e.chain));
    ics_fsm_checkpoint_status(fx->fsm, &st);
    assert_int_equal(st.position, 16);
    assert_int_equal(st.matching, 2);
    assert_int_equal(st.needed, 2);
    assert_true(st.certified);
    assert_false(st.alarm);
    assert_int_equal(ics_fsm_certified_position(fx->fsm), 16);

    /* RX1 computed a different chain: accepted, and an alarm naming it. */
    memcpy(wrong, e.chain, 32);
    wrong[31] ^= 1;
    ASSERT_ACCEPTED(s_checkpoint(fx, RX1, 1, 16, wrong));
    ics_fsm_checkpoint_status(fx->fsm, &st);
    assert_true(st.alarm);
    ics_hex(wrong, 32, hex);
    assert_non_null(strstr(st.alarm_text, "position 16: RX1 has "));
    assert_non_null(strstr(st.alarm_text, hex));
    assert_true(st.certified); /* the majority still agrees */

    r = s_checkpoint(fx, QHM, 4, 16, e.chain);
    ASSERT_REJECTED(r, "QHM already sent a checkpoint for position 16");
    r = s_checkpoint(fx, QHM, 5, 512, e.chain);
    ASSERT_REJECTED(r, "checkpoint for position 512, but this log holds positions 1 to 21");
    r = s_checkpoint(fx, QHM, 6, 3, e.chain);
    ASSERT_REJECTED(r, "checkpoint for position 3: checkpoints name positions that are"
                       " multiples of 16");
    free(e.envelope);
    assert_int_equal(ics_history_entry(fx->history, 500, &e), ICS_ENOENT);

    /* Past the window of kept marks, a checkpoint can no longer be judged. */
    for (uint64_t s = 16; ics_fsm_position(fx->fsm) < 16 * 257 + 1; s++)
        ASSERT_ACCEPTED(s_raw(fx, RTD, s));
    r = s_checkpoint(fx, RX1, 2, 16, e.chain);
    ASSERT_REJECTED(r, "checkpoint for position 16 is older than the last 256 checkpointable"
                       " positions this state keeps");
    uint8_t kept[32];
    assert_int_equal(ics_fsm_chain_at(fx->fsm, 32, kept), ICS_OK);
    ASSERT_ACCEPTED(s_checkpoint(fx, RX1, 3, 32, kept));
    assert_int_equal(ics_fsm_next_deadline(fx->fsm), 0);
}

/* ---------------------------------------------------------------- bounded state */

/* (org, seq) stays exactly-once with a window: a seq applied out of order
 * within it is taken once; one below it is refused, never applied. */
static void test_replay_window(void **state)
{
    fx_t *fx = *state;
    ics_apply_result_t r;

    ASSERT_ACCEPTED(s_genesis(fx));
    ASSERT_ACCEPTED(s_raw(fx, RTD, 5));
    ASSERT_ACCEPTED(s_raw(fx, RTD, 3)); /* late, within the window: applied */
    assert_true(s_raw(fx, RTD, 3).duplicate);
    assert_true(s_raw(fx, RTD, 5).duplicate);
    assert_false(ics_fsm_seq_taken(fx->fsm, "RTD", 4));
    ASSERT_ACCEPTED(s_raw(fx, RTD, 2000));
    assert_int_equal(ics_fsm_max_seq(fx->fsm, "RTD"), 2000);
    assert_true(ics_fsm_seq_taken(fx->fsm, "RTD", 976));   /* below: can never apply */
    assert_false(ics_fsm_seq_taken(fx->fsm, "RTD", 977));  /* the window's lowest */
    uint64_t before = ics_fsm_position(fx->fsm);
    r = s_raw(fx, RTD, 976);
    ASSERT_REJECTED(r, "sequence number 976 of RTD is below its replay window (highest applied"
                       " 2000, window 1024)");
    assert_int_equal(r.position, before + 1);
    assert_false(r.verified);
    ASSERT_ACCEPTED(s_raw(fx, RTD, 977));
    assert_true(s_raw(fx, RTD, 977).duplicate);
    /* Sliding keeps what was taken: 1999 and 2000 taken, 1998 not. */
    ASSERT_ACCEPTED(s_raw(fx, RTD, 1999));
    ASSERT_ACCEPTED(s_raw(fx, RTD, 2003));
    assert_true(s_raw(fx, RTD, 1999).duplicate);
    assert_true(s_raw(fx, RTD, 2000).duplicate);
    ASSERT_ACCEPTED(s_raw(fx, RTD, 1998));
}

/* The snapshot holds the current state only: its size does not grow with
 * the number of entries applied. */
static void test_snapshot_size_flat_in_history(void **state)
{
    fx_t *fx = *state;
    uint8_t *snap = NULL;
    size_t at_5k = 0, at_12k = 0;

    /* Past the first 4,096 positions the kept marks stop growing too. */
    ASSERT_ACCEPTED(s_genesis(fx));
    for (uint64_t s = 1; ics_fsm_position(fx->fsm) < 12000; s++) {
        ASSERT_ACCEPTED(s_raw(fx, RTD, s));
        if (ics_fsm_position(fx->fsm) == 5000) {
            assert_int_equal(ics_fsm_snapshot(fx->fsm, &snap, &at_5k), ICS_OK);
            free(snap);
        }
    }
    uint64_t t0 = ics_mono_us();
    assert_int_equal(ics_fsm_snapshot(fx->fsm, &snap, &at_12k), ICS_OK);
    uint64_t took = ics_mono_us() - t0;
    free(snap);
    /* A figure to read, not a timed assertion. */
    print_message("snapshot: %zu bytes at 5,000 entries, %zu at 12,000 (taken in %llu us)\n",
                  at_5k, at_12k, (unsigned long long)took);
    assert_true(at_12k <= at_5k + 4096);
}

/* ---------------------------------------------------------------- clock */

static void test_clock_never_goes_backwards(void **state)
{
    fx_t *fx = *state;
    Ics__V1__Command cmd;
    Ics__V1__Raw raw;
    uint8_t *buf;
    size_t len = 0;
    ics_apply_result_t r;

    fx->now = 1000;
    ASSERT_ACCEPTED(s_genesis(fx)); /* ts 1010 */
    assert_int_equal(ics_fsm_clock(fx->fsm), 1010);
    fx->now = 500;
    r = s_raw(fx, RTD, 1); /* ts 510: a proposer with a slow clock */
    ASSERT_ACCEPTED(r);
    assert_int_equal(r.clock_ms, 1010);
    r = s_tick(fx, QHM, 2, 2000);
    ASSERT_ACCEPTED(r);
    assert_int_equal(r.clock_ms, 2000);
    r = s_tick(fx, QHM, 3, 1500);
    ASSERT_ACCEPTED(r);
    assert_int_equal(r.clock_ms, 2000);
    /* An entry that fails verification does not move the clock... */
    s_raw_cmd(&cmd, &raw, "late");
    buf = s_entry_as(fx, EVE, "RTD", 9, 999999, &cmd, &len);
    r = s_apply_bytes(fx->fsm, buf, len);
    ASSERT_REJECTED(r, "signed with a key not in force for RTD");
    assert_int_equal(r.clock_ms, 2000);
    free(buf);
    /* ...but a verified one does, even when its command is rejected. */
    r = s_member_remove(fx, RTD, 2, "RX1"); /* ts 540 */
    ASSERT_REJECTED_PREFIX(r, "only the membership administrator");
    assert_int_equal(r.clock_ms, 2000);
    buf = s_entry_as(fx, RTD, "RTD", 3, 3000, &cmd, &len);
    r = s_apply_bytes(fx->fsm, buf, len);
    assert_int_equal(r.clock_ms, 3000);
    assert_int_equal(ics_fsm_clock(fx->fsm), 3000);
    free(buf);
}

/* ---------------------------------------------------------------- determinism */

/* A history with accepted, rejected and membership entries. Returns the
 * envelopes in order; *n their number. */
static uint8_t **s_history(fx_t *fx, size_t **lens, size_t *n)
{
    uint8_t **bufs = calloc(16, sizeof *bufs);
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Raw raw;
    Ics__V1__Genesis g = ICS__V1__GENESIS__INIT;
    Ics__V1__MemberAdd m[3], *mp[3];
    Ics__V1__KeyRotate k = ICS__V1__KEY_ROTATE__INIT;
    Ics__V1__ClockTick t = ICS__V1__CLOCK_TICK__INIT;
    size_t i = 0;

    *lens = calloc(16, sizeof **lens);
    assert_non_null(bufs);
    assert_non_null(*lens);
    for (int j = 0; j < 3; j++) {
        s_member(&m[j], s_org[s_founders[j]], s_pk(fx, s_founders[j]), true);
        mp[j] = &m[j];
    }
    g.group = GROUP;
    g.admin = "QHM";
    g.n_members = 3;
    g.members = mp;
    s_raw_cmd(&cmd, &raw, "before genesis");
    bufs[i] = s_entry_as(fx, RTD, "RTD", 1, 100, &cmd, &(*lens)[i]); i++;
    ics__v1__command__init(&cmd);
    cmd.body_case = ICS__V1__COMMAND__BODY_GENESIS;
    cmd.genesis = &g;
    bufs[i] = s_entry_as(fx, QHM, "QHM", 1, 200, &cmd, &(*lens)[i]); i++;
    s_raw_cmd(&cmd, &raw, "plan draft");
    bufs[i] = s_entry_as(fx, RTD, "RTD", 1, 300, &cmd, &(*lens)[i]); i++;
    bufs[i] = s_entry_as(fx, EVE, "RX1", 1, 400, &cmd, &(*lens)[i]); i++;     /* forged */
    bufs[i] = s_entry_as(fx, RTD, "RTD", 1, 500, &cmd, &(*lens)[i]); i++;     /* replay */
    k.org = "RTD";
    k.public_key.data = (uint8_t *)s_pk(fx, RTD2);
    k.public_key.len = ICS_PK_BYTES;
    ics__v1__command__init(&cmd);
    cmd.body_case = ICS__V1__COMMAND__BODY_KEY_ROTATE;
    cmd.key_rotate = &k;
    bufs[i] = s_entry_as(fx, RTD, "RTD", 2, 600, &cmd, &(*lens)[i]); i++;
    s_raw_cmd(&cmd, &raw, "old key");
    bufs[i] = s_entry_as(fx, RTD, "RTD", 3, 700, &cmd, &(*lens)[i]); i++;     /* rejected */
    bufs[i] = s_entry_as(fx, RTD2, "RTD", 3, 650, &cmd, &(*lens)[i]); i++;
    t.now_ms = 5000;
    ics__v1__command__init(&cmd);
    cmd.body_case = ICS__V1__COMMAND__BODY_TICK;
    cmd.tick = &t;
    bufs[i] = s_entry_as(fx, QHM, "QHM", 2, 800, &cmd, &(*lens)[i]); i++;
    bufs[i] = malloc(3);
    memcpy(bufs[i], "\x0a\x01", 3);
    (*lens)[i++] = 3;                                                          /* junk */
    s_raw_cmd(&cmd, &raw, "after tick");
    bufs[i] = s_entry_as(fx, RX1, "RX1", 1, 900, &cmd, &(*lens)[i]); i++;
    *n = i;
    return bufs;
}

static void s_free_history(uint8_t **bufs, size_t *lens, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(bufs[i]);
    free(bufs);
    free(lens);
}

static void test_two_fsms_agree(void **state)
{
    fx_t *fx = *state;
    ics_fsm_t *other = s_new_fsm(fx, GROUP);
    size_t *lens, n;
    uint8_t **bufs = s_history(fx, &lens, &n);
    uint8_t a[32], b[32];
    unsigned accepted = 0, duplicates = 0;

    for (size_t i = 0; i < n; i++) {
        ics_apply_result_t ra = s_apply_bytes(fx->fsm, bufs[i], lens[i]);
        ics_apply_result_t rb = s_apply_bytes(other, bufs[i], lens[i]);
        s_assert_same_result(&ra, &rb);
        accepted += ra.accepted && !ra.duplicate;
        duplicates += ra.duplicate;
    }
    assert_int_equal(accepted, 6);
    assert_int_equal(duplicates, 1);
    assert_int_equal(ics_fsm_position(fx->fsm), n - 1);
    ics_fsm_chain(fx->fsm, a);
    ics_fsm_chain(other, b);
    assert_memory_equal(a, b, 32);
    assert_int_equal(ics_fsm_clock(fx->fsm), 5000);
    /* A third one fed a different order disagrees. */
    ics_fsm_t *third = s_new_fsm(fx, GROUP);
    for (size_t i = n; i-- > 0;)
        (void)s_apply_bytes(third, bufs[i], lens[i]);
    ics_fsm_chain(third, b);
    assert_memory_not_equal(a, b, 32);
    ics_fsm_destroy(&third);
    ics_fsm_destroy(&other);
    s_free_history(bufs, lens, n);
}

static void test_snapshot_restore(void **state)
{
    fx_t *fx = *state;
    ics_fsm_t *copy = s_new_fsm(fx, GROUP), *stranger = s_new_fsm(fx, "nel-ics");
    size_t *lens, n, snap_len = 0;
    uint8_t **bufs = s_history(fx, &lens, &n);
    uint8_t *snap = NULL, a[32], b[32], pk[ICS_PK_BYTES];
    const size_t cut = 6;
    ics_err_t err;

    for (size_t i = 0; i < cut; i++)
        (void)s_apply_bytes(fx->fsm, bufs[i], lens[i]);
    assert_int_equal(ics_fsm_snapshot(fx->fsm, &snap, &snap_len), ICS_OK);
    assert_true(snap_len > 0);

    /* A snapshot of another group, or garbage, is refused; state intact. */
    assert_int_equal(ics_fsm_restore(stranger, snap, snap_len, &err), ICS_EGROUP);
    assert_int_equal(ics_fsm_position(stranger), 0);
    assert_int_equal(ics_fsm_restore(copy, (const uint8_t *)"not a database", 14, &err),
                     ICS_EMALFORMED);
    assert_int_equal(ics_fsm_position(copy), 0);

    assert_int_equal(ics_fsm_restore(copy, snap, snap_len, &err), ICS_OK);
    free(snap);
    assert_int_equal(ics_fsm_position(copy), ics_fsm_position(fx->fsm));
    ics_fsm_chain(fx->fsm, a);
    ics_fsm_chain(copy, b);
    assert_memory_equal(a, b, 32);
    assert_int_equal(ics_fsm_clock(copy), ics_fsm_clock(fx->fsm));
    assert_true(ics_fsm_has_genesis(copy));
    assert_int_equal(ics_fsm_member_key(copy, "RTD", pk), ICS_OK);
    assert_memory_equal(pk, s_pk(fx, RTD2), ICS_PK_BYTES);
    assert_int_equal(ics_fsm_max_seq(copy, "RTD"), 2);

    /* Later entries, replays included, come out the same on both. */
    for (size_t i = 2; i < n; i++) {
        ics_apply_result_t ra = s_apply_bytes(fx->fsm, bufs[i], lens[i]);
        ics_apply_result_t rb = s_apply_bytes(copy, bufs[i], lens[i]);
        s_assert_same_result(&ra, &rb);
    }
    ics_fsm_chain(fx->fsm, a);
    ics_fsm_chain(copy, b);
    assert_memory_equal(a, b, 32);
    ics_fsm_destroy(&copy);
    ics_fsm_destroy(&stranger);
    s_free_history(bufs, lens, n);
}

static void s_count_member(void *arg, const ics_effect_t *m)
{
    unsigned *n = arg;
    assert_int_equal(m->type, ICS_EFFECT_MEMBER_ADDED);
    (*n)++;
}

static void test_each_member_after_restore(void **state)
{
    fx_t *fx = *state;
    unsigned n = 0;
    ASSERT_ACCEPTED(s_genesis(fx));
    ASSERT_ACCEPTED(s_member_add(fx, QHM, 2, "NEW", s_pk(fx, NEW), false));
    assert_int_equal(ics_fsm_each_member(fx->fsm, s_count_member, &n), ICS_OK);
    assert_int_equal(n, 4);
}

/* ---------------------------------------------------------------- state database */

static int s_count_of(ics_db_t *db, sqlite3_stmt *st)
{
    assert_int_equal(ics_sql_row(db, st), ICS_OK);
    return sqlite3_column_int(st, 0);
}

/* SQL is compiled once per database and its statement handed out again,
 * reset and unbound; whoever asks while it is out gets one of their own. */
static void test_statements_prepared_once(void **state)
{
    fx_t *fx = *state;
    ics_db_t *db = ics_fsm_handle(fx->fsm);
    const char *sql = "SELECT count(*) FROM members WHERE org = ?1";
    sqlite3_stmt *a = NULL, *b = NULL, *c = NULL;
    char text[32];

    ASSERT_ACCEPTED(s_genesis(fx));
    assert_int_equal(ics_sql_prepare(db, sql, &a), ICS_OK);
    sqlite3_bind_text(a, 1, "RTD", -1, SQLITE_STATIC);
    assert_int_equal(s_count_of(db, a), 1);
    /* a is still out (a helper re-entered): another statement, unbound. */
    assert_int_equal(ics_sql_prepare(db, sql, &b), ICS_OK);
    assert_ptr_not_equal(a, b);
    assert_int_equal(s_count_of(db, b), 0);
    ics_sql_release(db, b);
    ics_sql_release(db, a);
    assert_int_equal(ics_sql_prepare(db, sql, &c), ICS_OK);
    assert_ptr_equal(c, a);
    assert_int_equal(s_count_of(db, c), 0);
    ics_sql_release(db, c);

    /* Keyed by the text, not by where it is kept. */
    snprintf(text, sizeof text, "SELECT %d", 7);
    assert_int_equal(ics_sql_prepare(db, text, &a), ICS_OK);
    assert_int_equal(s_count_of(db, a), 7);
    ics_sql_release(db, a);
    snprintf(text, sizeof text, "SELECT %d", 8);
    assert_int_equal(ics_sql_prepare(db, text, &b), ICS_OK);
    assert_int_equal(s_count_of(db, b), 8);
    ics_sql_release(db, b);
    ics_sql_release(db, NULL);

    /* Entries still apply on it, and the statements go with it. */
    ASSERT_ACCEPTED(s_raw(fx, RTD, 1));
}

/* ---------------------------------------------------------------- export */

static char *s_export(ics_history_t *h, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    ics_err_t err;

    assert_non_null(f);
    assert_int_equal(ics_history_export(h, f, &err), ICS_OK);
    fclose(f);
    return text;
}

static int s_verify(const char *text, size_t len, ics_log_verify_report_t *rep, ics_err_t *err)
{
    FILE *f = fmemopen((void *)text, len, "r");
    int rc;
    assert_non_null(f);
    rc = ics_log_verify(f, rep, err);
    fclose(f);
    return rc;
}

/* Start of line `line` (0 = header) in text. */
static char *s_line(char *text, int line)
{
    char *p = text;
    for (int i = 0; i < line; i++) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    return p;
}

static void test_export_verifies_and_detects_tampering(void **state)
{
    fx_t *fx = *state;
    size_t *lens, n, len = 0;
    uint8_t **bufs = s_history(fx, &lens, &n);
    ics_log_verify_report_t rep;
    ics_err_t err;
    char *text, hex[65], head[200];
    uint8_t chain[32];

    for (size_t i = 0; i < n; i++)
        (void)s_apply_bytes(fx->fsm, bufs[i], lens[i]);
    text = s_export(fx->history, &len);
    ics_fsm_chain(fx->fsm, chain);
    ics_hex(chain, 32, hex);
    snprintf(head, sizeof head, "icsd-log-export 1 qhm-ics 10 %s\n", hex);
    assert_int_equal(strncmp(text, head, strlen(head)), 0);
    assert_int_equal(strcmp(text + len - 4, "end\n"), 0);

    if (s_verify(text, len, &rep, &err) != ICS_OK)
        fail_msg("verify: %s", err.msg);
    assert_string_equal(rep.group, GROUP);
    assert_int_equal(rep.entries, 10);
    assert_int_equal(rep.accepted, 6);
    assert_int_equal(rep.rejected, 4);
    assert_int_equal(rep.clock_ms, 5000);
    assert_memory_equal(rep.chain, chain, 32);

    /* Every single-byte change anywhere on an entry line is caught at that
     * line's position: line 2 (the genesis, accepted), 4 (a forgery,
     * rejected), 5 (the key rotation) and 8 (the tick). */
    const int lines[] = {2, 4, 5, 8};
    for (size_t l = 0; l < sizeof lines / sizeof lines[0]; l++) {
        char *p = s_line(text, lines[l]);
        size_t line_len = (size_t)(strchr(p, '\n') - p);
        for (size_t off = 0; off < line_len; off++) {
            char saved = p[off];
            p[off] = (char)(saved ^ 1);
            int rc = s_verify(text, len, &rep, &err);
            if (rc == ICS_OK || rep.bad_position != (uint64_t)lines[l])
                fail_msg("flip at line %d offset %zu: rc %d, bad position %llu (%s)", lines[l],
                         off, rc, (unsigned long long)rep.bad_position, err.msg);
            p[off] = saved;
        }
    }
    /* Turning the accepted genesis into a rejection breaks the chain there. */
    char *flag = s_line(text, 2) + strlen("e 2 ");
    assert_int_equal(*flag, 'a');
    *flag = 'r';
    assert_int_equal(s_verify(text, len, &rep, &err), ICS_EINVAL);
    assert_int_equal(rep.bad_position, 2);
    assert_non_null(strstr(err.msg, "chain does not match"));
    *flag = 'a';
    assert_int_equal(s_verify(text, len, &rep, &err), ICS_OK);

    free(text);
    s_free_history(bufs, lens, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_genesis_then_second_rejected, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_entries_before_genesis_rejected, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_chain_matches_documented_vector, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_forged_signature_does_not_burn_seq, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_group_and_malformed_envelope, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_replay_is_duplicate, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_payload_and_kind_mismatch, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_key_rotation, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_only_admin_changes_membership, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_certification_and_alarm, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_clock_never_goes_backwards, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_replay_window, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_size_flat_in_history, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_two_fsms_agree, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_restore, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_each_member_after_restore, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_statements_prepared_once, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_export_verifies_and_detects_tampering, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
