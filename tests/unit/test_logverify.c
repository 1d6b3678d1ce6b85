/*
 * Offline log verifier tests. Logs are written here by hand with the export
 * writer, without any state machine or database (the verifier must stand
 * alone), so that they can also hold what a real node never writes: an
 * accepted entry under the wrong key, a wrong clock, a lying header.
 *
 * Layout: fixture, a log builder, then scenarios.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/personsig.h"
#include "common/logverify.h"

#define GROUP "qhm-ics"

/* Independent values (computed with Python's hashlib.blake2b from the
 * formula in docs/log-format.md), so the shared code cannot drift. */
#define CHAIN0_HEX "4a84ce3a5b4961378bfc475d349590cac48787bfb8e25cb86886eb901dd15fe3"
#define CHAIN1_HEX "151c48396ce49529aa1d15642e03aab5de76edf0548dc6b93b3fb0d6a2911c17"
#define CHAIN2_HEX "da0d5066a53b706371cff628e3ff21fc2255732712d870efbfabb0c726451aed"
/* The Merkle leaf hashes of the same two entries and the tree head over
 * them (docs/log-format.md, section 4a), computed with hashlib.sha256. */
#define LEAF1_HEX "efab3b6742aba8ca2bf3fdcf503a990300cdd875ed3c49e258245203b02c9dcd"
#define LEAF2_HEX "1c529a7aa766ce7e8976f1895c2e04f19f60d35bbcc3d7e1f6dfb2436d35240f"
#define ROOT2_HEX "8b895b63c3d6e9550610eda8498cf43792bcf31f2abd645cdb7f797d940203ac"
#define ROOT0_HEX "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---------------------------------------------------------------- fixture */

enum { QHM, RTD, RX1, EVE, RTD2, N_IDS };
static const char *const s_org[N_IDS] = {"QHM", "RTD", "RX1", "EVE", "RTD"};

typedef struct {
    ics_identity_t *id[N_IDS];
    /* the log being built */
    char *body;
    size_t body_len;
    FILE *f;
    uint8_t chain[32];
    uint64_t pos;
    uint64_t clock;
} fx_t;

static int s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    for (int i = 0; i < N_IDS; i++) {
        uint8_t seed[32];
        memset(seed, 0x21 * (i + 1), sizeof seed);
        fx->id[i] = ics_identity_from_seed(seed);
        assert_non_null(fx->id[i]);
    }
    fx->f = open_memstream(&fx->body, &fx->body_len);
    assert_non_null(fx->f);
    ics_chain_init(GROUP, fx->chain);
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *fx = *state;
    if (fx->f != NULL)
        fclose(fx->f);
    free(fx->body);
    for (int i = 0; i < N_IDS; i++)
        ics_identity_destroy(&fx->id[i]);
    free(fx);
    return 0;
}

/* ---------------------------------------------------------------- log builder */

static uint8_t *s_seal_cmd(fx_t *fx, int key, const char *org, uint64_t seq, uint64_t ts,
                           const Ics__V1__Command *cmd, size_t *len)
{
    ics_envelope_fields_t f = {GROUP, org, seq, ts, (uint32_t)cmd->body_case, NULL, 0};
    uint8_t *payload = NULL, *out = NULL;
    ics_err_t err;

    assert_int_equal(ics_pack(&cmd->base, &payload, &f.payload_len), ICS_OK);
    f.payload = payload;
    if (ics_envelope_seal(fx->id[key], &f, &out, len, &err) != ICS_OK)
        fail_msg("seal: %s", err.msg);
    free(payload);
    return out;
}

/* Appends one entry line with the right id and chain; the caller says what
 * the clock column holds. */
static void s_line(fx_t *fx, const uint8_t *env, size_t len, bool accepted, const char *reason,
                   uint64_t clock)
{
    uint8_t id[32];
    ics_log_line_t line;

    ics_entry_id(env, len, id);
    fx->pos++;
    ics_chain_step(fx->chain, fx->pos, id, accepted, reason, fx->chain);
    line = (ics_log_line_t){fx->pos, accepted, id, fx->chain, clock, env, len, reason};
    assert_int_equal(ics_log_write_entry(fx->f, &line), ICS_OK);
}

/* Seals cmd and appends it; ts moves the clock if the entry counts. */
static void s_add(fx_t *fx, int key, const char *org, uint64_t seq, uint64_t ts,
                  const Ics__V1__Command *cmd, bool accepted, const char *reason, bool counts)
{
    size_t len = 0;
    uint8_t *env = s_seal_cmd(fx, key, org, seq, ts, cmd, &len);
    if (counts && ts > fx->clock)
        fx->clock = ts;
    if (accepted && cmd->body_case == ICS__V1__COMMAND__BODY_TICK && cmd->tick->now_ms > fx->clock)
        fx->clock = cmd->tick->now_ms;
    s_line(fx, env, len, accepted, reason, fx->clock);
    free(env);
}

/* The whole file: header (declaring `declared` entries and `chain`), body, end. */
static char *s_finish(fx_t *fx, uint64_t declared, const uint8_t *chain, size_t *len)
{
    char *text = NULL;
    FILE *out = open_memstream(&text, len);

    fflush(fx->f);
    assert_non_null(out);
    assert_int_equal(ics_log_write_header(out, GROUP, declared, chain), ICS_OK);
    fwrite(fx->body, 1, fx->body_len, out);
    assert_int_equal(ics_log_write_end(out), ICS_OK);
    fclose(out);
    return text;
}

static char *s_finish_ok(fx_t *fx, size_t *len)
{
    return s_finish(fx, fx->pos, fx->chain, len);
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

#define ASSERT_VERIFY_FAILS(text, len, code, position, words)                               \
    do {                                                                                    \
        ics_log_verify_report_t rep_;                                                       \
        ics_err_t err_;                                                                     \
        int rc_ = s_verify(text, len, &rep_, &err_);                                        \
        if (rc_ != (code) || rep_.bad_position != (uint64_t)(position) ||                   \
            strstr(err_.msg, words) == NULL)                                                \
            fail_msg("expected %d at %d (\"%s\"), got %d at %llu: %s", code, position,      \
                     words, rc_, (unsigned long long)rep_.bad_position, err_.msg);          \
    } while (0)

/* Commands. */

static void s_genesis(fx_t *fx, uint64_t ts)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Genesis g = ICS__V1__GENESIS__INIT;
    Ics__V1__MemberAdd m[3], *mp[3];
    const int who[3] = {QHM, RTD, RX1};

    for (int i = 0; i < 3; i++) {
        ics__v1__member_add__init(&m[i]);
        m[i].org = (char *)s_org[who[i]];
        m[i].kind = "trust";
        m[i].endpoint = "tcp://node:7400";
        m[i].public_key.data = (uint8_t *)ics_identity_public(fx->id[who[i]]);
        m[i].public_key.len = ICS_PK_BYTES;
        mp[i] = &m[i];
    }
    g.group = GROUP;
    g.admin = "QHM";
    g.n_members = 3;
    g.members = mp;
    cmd.body_case = ICS__V1__COMMAND__BODY_GENESIS;
    cmd.genesis = &g;
    s_add(fx, QHM, "QHM", 1, ts, &cmd, true, "", true);
}

static void s_raw(fx_t *fx, int key, const char *org, uint64_t seq, uint64_t ts, bool accepted,
                  const char *reason, bool counts)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Raw raw = ICS__V1__RAW__INIT;
    raw.note = "minutes";
    cmd.body_case = ICS__V1__COMMAND__BODY_RAW;
    cmd.raw = &raw;
    s_add(fx, key, org, seq, ts, &cmd, accepted, reason, counts);
}

/* A command of a domain whose rules depend on state the verifier does not
 * rebuild: its verdict is the log's word. */
static void s_person(fx_t *fx, int key, const char *org, uint64_t seq, uint64_t ts,
                     bool accepted, const char *reason)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__PersonRegister p = ICS__V1__PERSON_REGISTER__INIT;
    cmd.body_case = ICS__V1__COMMAND__BODY_PERSON_REGISTER;
    cmd.person_register = &p;
    s_add(fx, key, org, seq, ts, &cmd, accepted, reason, true);
}

static void s_rotate(fx_t *fx, int key, const char *org, uint64_t seq, uint64_t ts,
                     const char *target, int new_key)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__KeyRotate k = ICS__V1__KEY_ROTATE__INIT;
    k.org = (char *)target;
    k.public_key.data = (uint8_t *)ics_identity_public(fx->id[new_key]);
    k.public_key.len = ICS_PK_BYTES;
    cmd.body_case = ICS__V1__COMMAND__BODY_KEY_ROTATE;
    cmd.key_rotate = &k;
    s_add(fx, key, org, seq, ts, &cmd, true, "", true);
}

static void s_remove(fx_t *fx, uint64_t seq, uint64_t ts, const char *target)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__MemberRemove r = ICS__V1__MEMBER_REMOVE__INIT;
    r.org = (char *)target;
    cmd.body_case = ICS__V1__COMMAND__BODY_MEMBER_REMOVE;
    cmd.member_remove = &r;
    s_add(fx, QHM, "QHM", seq, ts, &cmd, true, "", true);
}

static void s_tick(fx_t *fx, uint64_t seq, uint64_t ts, uint64_t now)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__ClockTick t = ICS__V1__CLOCK_TICK__INIT;
    t.now_ms = now;
    cmd.body_case = ICS__V1__COMMAND__BODY_TICK;
    cmd.tick = &t;
    s_add(fx, QHM, "QHM", seq, ts, &cmd, true, "", true);
}

/* ---------------------------------------------------------------- scenarios */

static void test_chain_formula_known_answer(void **state)
{
    (void)state;
    uint8_t c[32], id[32], one = 1;
    char hex[65];

    ics_chain_init(GROUP, c);
    ics_hex(c, 32, hex);
    assert_string_equal(hex, CHAIN0_HEX);
    ics_entry_id((const uint8_t *)"", 0, id);
    ics_chain_step(c, 1, id, false, "malformed envelope: empty envelope", c);
    ics_hex(c, 32, hex);
    assert_string_equal(hex, CHAIN1_HEX);
    ics_entry_id(&one, 1, id);
    ics_chain_step(c, 2, id, true, "", c);
    ics_hex(c, 32, hex);
    assert_string_equal(hex, CHAIN2_HEX);
}

static void test_merkle_leaf_known_answer(void **state)
{
    (void)state;
    uint8_t id[32], l1[32], l2[32], root[32], one = 1;
    char hex[65];

    ics_entry_id((const uint8_t *)"", 0, id);
    ics_log_leaf_hash(1, id, false, "malformed envelope: empty envelope", l1);
    ics_hex(l1, 32, hex);
    assert_string_equal(hex, LEAF1_HEX);
    ics_entry_id(&one, 1, id);
    ics_log_leaf_hash(2, id, true, "", l2);
    ics_hex(l2, 32, hex);
    assert_string_equal(hex, LEAF2_HEX);
    ics_merkle_node_hash(l1, l2, root);
    ics_hex(root, 32, hex);
    assert_string_equal(hex, ROOT2_HEX);
}

static void test_empty_log_verifies(void **state)
{
    fx_t *fx = *state;
    ics_log_verify_report_t rep;
    ics_err_t err;
    size_t len = 0;
    char *text = s_finish_ok(fx, &len);

    assert_string_equal(text, "icsd-log-export 1 qhm-ics 0 " CHAIN0_HEX "\nend\n");
    assert_int_equal(s_verify(text, len, &rep, &err), ICS_OK);
    assert_int_equal(rep.entries, 0);
    assert_string_equal(rep.group, GROUP);
    char hex[65];
    ics_hex(rep.root, 32, hex);
    assert_string_equal(hex, ROOT0_HEX);
    free(text);
}

/* genesis, member entries, a forgery, a key rotation, a tick. */
static void s_good_history(fx_t *fx)
{
    s_raw(fx, RTD, "RTD", 1, 50, false, "group has no genesis yet", false);
    s_genesis(fx, 100);
    s_raw(fx, RTD, "RTD", 1, 200, true, "", true);
    s_raw(fx, EVE, "RX1", 1, 9000, false, "signed with a key not in force for RX1", false);
    s_rotate(fx, RTD, "RTD", 2, 300, "RTD", RTD2);
    s_raw(fx, RTD, "RTD", 3, 8000, false, "signed with a key not in force for RTD", false);
    s_raw(fx, RTD2, "RTD", 3, 250, true, "", true);
    s_tick(fx, 2, 400, 1000);
    s_person(fx, RX1, "RX1", 1, 1500, false, "some domain said no"); /* verified: counts */
}

static void test_valid_log_verifies(void **state)
{
    fx_t *fx = *state;
    ics_log_verify_report_t rep;
    ics_err_t err;
    size_t len = 0;
    char *text;

    s_good_history(fx);
    text = s_finish_ok(fx, &len);
    if (s_verify(text, len, &rep, &err) != ICS_OK)
        fail_msg("verify: %s", err.msg);
    assert_int_equal(rep.entries, 9);
    assert_int_equal(rep.accepted, 5);
    assert_int_equal(rep.rejected, 4);
    assert_int_equal(rep.clock_ms, 1500);
    assert_memory_equal(rep.chain, fx->chain, 32);
    assert_int_equal(rep.bad_position, 0);
    free(text);
}

static void test_accepted_entry_under_retired_key(void **state)
{
    fx_t *fx = *state;
    size_t len = 0;
    char *text;

    s_genesis(fx, 100);
    s_rotate(fx, RTD, "RTD", 1, 200, "RTD", RTD2);
    /* A forger who rebuilt the chain still cannot sign with the new key. */
    s_raw(fx, RTD, "RTD", 2, 300, true, "", true);
    text = s_finish_ok(fx, &len);
    ASSERT_VERIFY_FAILS(text, len, ICS_ESIG, 3, "RTD");
    free(text);
}

static void test_accepted_entry_from_non_member(void **state)
{
    fx_t *fx = *state;
    size_t len = 0;
    char *text;

    s_genesis(fx, 100);
    s_raw(fx, EVE, "EVE", 1, 200, true, "", true);
    text = s_finish_ok(fx, &len);
    ASSERT_VERIFY_FAILS(text, len, ICS_ESIG, 2, "EVE, not a member");
    free(text);
}

static void test_removed_member_cannot_sign(void **state)
{
    fx_t *fx = *state;
    size_t len = 0;
    char *text;

    s_genesis(fx, 100);
    s_raw(fx, RX1, "RX1", 1, 200, true, "", true);
    s_remove(fx, 2, 300, "RX1");
    s_raw(fx, RX1, "RX1", 2, 400, true, "", true);
    text = s_finish_ok(fx, &len);
    ASSERT_VERIFY_FAILS(text, len, ICS_ESIG, 4, "RX1, not a member");
    free(text);
}

static void test_accepted_entry_before_genesis(void **state)
{
    fx_t *fx = *state;
    size_t len = 0;
    char *text;

    s_raw(fx, RTD, "RTD", 1, 50, true, "", true);
    text = s_finish_ok(fx, &len);
    ASSERT_VERIFY_FAILS(text, len, ICS_EINVAL, 1, "before any genesis");
    free(text);
}

static void test_wrong_clock(void **state)
{
    fx_t *fx = *state;
    size_t len = 0, elen = 0;
    uint8_t *env;
    char *text;
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Raw raw = ICS__V1__RAW__INIT;

    s_genesis(fx, 100);
    cmd.body_case = ICS__V1__COMMAND__BODY_RAW;
    cmd.raw = &raw;
    env = s_seal_cmd(fx, RTD, "RTD", 1, 500, &cmd, &elen);
    s_line(fx, env, elen, true, "", 400); /* should be 500 */
    free(env);
    text = s_finish_ok(fx, &len);
    ASSERT_VERIFY_FAILS(text, len, ICS_EINVAL, 2, "clock_ms is 400, replaying gives 500");
    free(text);
}

static void test_header_and_structure(void **state)
{
    fx_t *fx = *state;
    uint8_t wrong[32];
    size_t len = 0;
    char *text, *p;

    s_good_history(fx);
    memcpy(wrong, fx->chain, 32);
    wrong[0] ^= 0x80;

    text = s_finish(fx, fx->pos, wrong, &len);
    ASSERT_VERIFY_FAILS(text, len, ICS_EINVAL, 0, "final chain");
    free(text);
    text = s_finish(fx, fx->pos + 1, fx->chain, &len);
    ASSERT_VERIFY_FAILS(text, len, ICS_EINVAL, 10, "header declares 10");
    free(text);
    text = s_finish(fx, fx->pos - 1, fx->chain, &len);
    ASSERT_VERIFY_FAILS(text, len, ICS_EINVAL, 9, "more entries than the 8");
    free(text);

    text = s_finish_ok(fx, &len);
    /* Truncated: the last line and "end" are gone. */
    p = strstr(text, "\ne 9 ");
    assert_non_null(p);
    ASSERT_VERIFY_FAILS(text, (size_t)(p + 1 - text), ICS_EMALFORMED, 9, "truncated");
    /* Cut in the middle of a line. */
    ASSERT_VERIFY_FAILS(text, (size_t)(p + 20 - text), ICS_EMALFORMED, 9, "unterminated");
    /* Version and magic. */
    text[16] = '2';
    ASSERT_VERIFY_FAILS(text, len, ICS_EVERSION, 0, "version 2");
    text[16] = '1';
    text[0] = 'X';
    ASSERT_VERIFY_FAILS(text, len, ICS_EMALFORMED, 0, "not an icsd log export");
    text[0] = 'i';
    ASSERT_VERIFY_FAILS(text, 0, ICS_EMALFORMED, 0, "header");
    free(text);

    /* Something after "end". */
    text = s_finish_ok(fx, &len);
    char *longer = malloc(len + 3);
    memcpy(longer, text, len);
    memcpy(longer + len, "e\n", 3);
    ASSERT_VERIFY_FAILS(longer, len + 2, ICS_EMALFORMED, 10, "after the 'end'");
    free(longer);
    free(text);
}

static void test_reordered_and_swapped_entries(void **state)
{
    fx_t *fx = *state;
    size_t len = 0;
    char *text, *l3, *l4, *l5, *copy;

    s_good_history(fx);
    text = s_finish_ok(fx, &len);
    /* Swap lines 3 and 4 whole. */
    l3 = strstr(text, "\ne 3 ") + 1;
    l4 = strstr(text, "\ne 4 ") + 1;
    l5 = strstr(text, "\ne 5 ") + 1;
    copy = malloc(len + 1);
    memcpy(copy, text, (size_t)(l3 - text));
    memcpy(copy + (l3 - text), l4, (size_t)(l5 - l4));
    memcpy(copy + (l3 - text) + (l5 - l4), l3, (size_t)(l4 - l3));
    memcpy(copy + (l5 - text), l5, len - (size_t)(l5 - text));
    ASSERT_VERIFY_FAILS(copy, len, ICS_EINVAL, 3, "position");
    free(copy);
    /* Drop line 4 and renumber nothing: position 5 shows up where 4 belongs. */
    copy = malloc(len + 1);
    memcpy(copy, text, (size_t)(l4 - text));
    memcpy(copy + (l4 - text), l5, len - (size_t)(l5 - text));
    ASSERT_VERIFY_FAILS(copy, len - (size_t)(l5 - l4), ICS_EINVAL, 4, "position");
    free(copy);
    /* An accepted line that carries a reason. */
    char *acc = strstr(text, "\ne 2 a ");
    assert_non_null(acc);
    char *end = strchr(acc + 1, '\n');
    assert_true(end[-1] == '-');
    end[-1] = 'A';
    ASSERT_VERIFY_FAILS(text, len, ICS_EMALFORMED, 2, "does not parse");
    free(text);
}


/* The replay rule (docs/log-format.md section 3): a verified (org, seq)
 * already taken never gets a position; one below the window is rejected. */
static void test_duplicate_has_no_position(void **state)
{
    fx_t *fx = *state;
    size_t len = 0;
    char *text;

    s_genesis(fx, 100);
    s_raw(fx, RTD, "RTD", 5, 200, true, "", true);
    s_raw(fx, RTD, "RTD", 5, 300, false, "some reason", true);
    text = s_finish_ok(fx, &len);
    ASSERT_VERIFY_FAILS(text, len, ICS_EINVAL, 3, "(RTD, 5) was already taken");
    free(text);
}

static void test_stale_seq_is_rejected(void **state)
{
    fx_t *fx = *state;
    size_t len = 0;
    char *text;

    s_genesis(fx, 100);
    s_raw(fx, RTD, "RTD", 2000, 200, true, "", true);
    s_raw(fx, RTD, "RTD", 977, 250, true, "", true); /* 2000 - 977 = 1023: in the window */
    s_raw(fx, RTD, "RTD", 976, 300, false, "sequence number 976 of RTD is below its replay"
          " window (highest applied 2000, window 1024)", true);
    s_raw(fx, RTD, "RTD", 975, 400, true, "", true);
    text = s_finish_ok(fx, &len);
    ASSERT_VERIFY_FAILS(text, len, ICS_EINVAL, 5, "975 of RTD is below its replay window"
                        " (highest 2000)");
    free(text);
}

/* A rejected entry whose rejection the file decides (RX1's first Raw would
 * have been accepted, RTD's KeyRotate of RX1 could not be). */
static void test_verdicts_the_file_decides(void **state)
{
    fx_t *fx = *state;
    size_t len = 0;
    char *text;

    s_genesis(fx, 100);
    s_rotate(fx, RTD, "RTD", 1, 200, "RX1", RTD2);
    text = s_finish_ok(fx, &len);
    ASSERT_VERIFY_FAILS(text, len, ICS_EPERM, 2, "only RX1 itself or the membership"
                        " administrator may rotate its key; RTD is neither");
    free(text);
}

/* A person's signature is checked against the key their organisation
 * registered (docs/log-format.md, section 2c): an export in which one was
 * altered, the envelope re-signed and the chain recomputed, fails. */
static void s_person_log(fx_t *fx, bool tamper)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__PersonRegister reg = ICS__V1__PERSON_REGISTER__INIT;
    Ics__V1__Raw raw = ICS__V1__RAW__INIT;
    ics_envelope_fields_t f = {GROUP, "RTD", 3, 1300, ICS__V1__COMMAND__BODY_RAW, NULL, 0};
    uint8_t seed[32], *payload = NULL, *env = NULL;
    ics_identity_t *amy;
    ics_err_t err;
    size_t len = 0;

    memset(seed, 0x77, sizeof seed);
    amy = ics_identity_from_seed(seed);
    s_genesis(fx, 1000);
    reg.person = "amy";
    reg.name = "Amy";
    reg.public_key.data = (uint8_t *)ics_identity_public(amy);
    reg.public_key.len = ICS_PK_BYTES;
    reg.admin = true;
    cmd.body_case = ICS__V1__COMMAND__BODY_PERSON_REGISTER;
    cmd.person_register = &reg;
    s_add(fx, RTD, "RTD", 1, 1100, &cmd, true, "", true);
    /* Unsigned: the state machine refused it. */
    ics__v1__command__init(&cmd);
    raw.note = "minutes";
    cmd.body_case = ICS__V1__COMMAND__BODY_RAW;
    cmd.raw = &raw;
    cmd.actor = "amy";
    s_add(fx, RTD, "RTD", 2, 1200, &cmd, false, "amy of RTD did not sign this", true);
    assert_int_equal(ics_person_sign(amy, GROUP, "RTD", 1, &cmd, &payload, &f.payload_len),
                     ICS_OK);
    if (tamper)
        payload[f.payload_len - 11 - 5] ^= 0x01; /* in the signature, before the 11-byte raw */
    f.payload = payload;
    assert_int_equal(ics_envelope_seal(fx->id[RTD], &f, &env, &len, &err), ICS_OK);
    fx->clock = 1300;
    s_line(fx, env, len, true, "", fx->clock);
    free(env);
    free(payload);
    ics_identity_destroy(&amy);
}

static void test_person_signatures_checked(void **state)
{
    fx_t *fx = *state;
    ics_log_verify_report_t rep;
    ics_err_t err;
    size_t len = 0;
    char *text;

    s_person_log(fx, false);
    text = s_finish_ok(fx, &len);
    if (s_verify(text, len, &rep, &err) != ICS_OK)
        fail_msg("verify: %s", err.msg);
    free(text);
}

static void test_altered_person_signature_fails(void **state)
{
    fx_t *fx = *state;
    size_t len = 0;
    char *text;

    s_person_log(fx, true);
    text = s_finish_ok(fx, &len);
    ASSERT_VERIFY_FAILS(text, len, ICS_ESIG, 4, "the signature of amy of RTD does not verify");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_formula_known_answer),
        cmocka_unit_test(test_merkle_leaf_known_answer),
        cmocka_unit_test_setup_teardown(test_empty_log_verifies, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_valid_log_verifies, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_accepted_entry_under_retired_key, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_accepted_entry_from_non_member, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_removed_member_cannot_sign, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_accepted_entry_before_genesis, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_clock, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_header_and_structure, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reordered_and_swapped_entries, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_has_no_position, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_stale_seq_is_rejected, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_verdicts_the_file_decides, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_person_signatures_checked, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_altered_person_signature_fails, s_setup, s_teardown),
    };
    if (!ics_crypto_init())
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
