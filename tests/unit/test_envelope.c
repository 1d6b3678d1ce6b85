/*
 * Signed envelopes: what a node sees when it decodes and verifies bytes
 * from the network or the log.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/personsig.h"

typedef struct {
    ics_identity_t *alice;
    ics_identity_t *mallory;
    uint8_t *env;
    size_t len;
    uint8_t payload[64];
    size_t payload_len;
} fixture_t;

static ics_identity_t *s_key(uint8_t fill)
{
    uint8_t seed[32];
    memset(seed, fill, sizeof seed);
    return ics_identity_from_seed(seed);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Raw raw = ICS__V1__RAW__INIT;
    ics_err_t err;

    f->alice = s_key(1);
    f->mallory = s_key(2);
    raw.data.data = (uint8_t *)"beds";
    raw.data.len = 4;
    cmd.actor = (char *)"jane.doe";
    cmd.body_case = ICS__V1__COMMAND__BODY_RAW;
    cmd.raw = &raw;
    f->payload_len = protobuf_c_message_pack(&cmd.base, f->payload);
    ics_envelope_fields_t fields = {
        .group = "nenc", .org = "RTD", .seq = 7, .timestamp_ms = 1795000000000ull,
        .kind = ICS__V1__COMMAND__BODY_RAW, .payload = f->payload,
        .payload_len = f->payload_len,
    };
    assert_int_equal(ics_envelope_seal(f->alice, &fields, &f->env, &f->len, &err), ICS_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    ics_identity_destroy(&f->alice);
    ics_identity_destroy(&f->mallory);
    assert_null(f->alice);
    free(f->env);
    free(f);
    return 0;
}

static int s_open(fixture_t *f, const uint8_t *buf, size_t len, const char *group,
                  const ics_identity_t *key)
{
    Ics__V1__Envelope *env = NULL;
    ics_err_t err = {{0}};
    int rc = ics_envelope_open(buf, len, group, ics_identity_public(key), &env, &err);
    if (rc == ICS_OK) {
        assert_non_null(env);
        ics__v1__envelope__free_unpacked(env, NULL);
    } else {
        assert_null(env);
        assert_true(strlen(err.msg) > 0);
    }
    (void)f;
    return rc;
}

static void round_trip(void **state)
{
    fixture_t *f = *state;
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *cmd = NULL;
    ics_err_t err;

    assert_int_equal(ics_envelope_open(f->env, f->len, "nenc", ics_identity_public(f->alice),
                                       &env, &err), ICS_OK);
    assert_string_equal(env->group, "nenc");
    assert_string_equal(env->org, "RTD");
    assert_int_equal(env->seq, 7);
    assert_int_equal(env->timestamp_ms, 1795000000000ull);
    assert_int_equal(env->kind, ICS__V1__COMMAND__BODY_RAW);
    assert_memory_equal(env->key_id.data, ics_identity_key_id(f->alice), ICS_KEY_ID_BYTES);
    assert_int_equal(ics_command_decode(env, &cmd, &err), ICS_OK);
    assert_string_equal(cmd->actor, "jane.doe");
    assert_memory_equal(cmd->raw->data.data, "beds", 4);
    ics__v1__command__free_unpacked(cmd, NULL);
    ics__v1__envelope__free_unpacked(env, NULL);
}

/* No byte of a signed envelope can change without detection. */
static void every_bit_flip_rejected(void **state)
{
    fixture_t *f = *state;
    uint8_t *copy = malloc(f->len);
    unsigned rejected = 0;

    for (size_t i = 0; i < f->len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, f->env, f->len);
            copy[i] ^= (uint8_t)(1u << bit);
            int rc = s_open(f, copy, f->len, "nenc", f->alice);
            if (rc != ICS_OK)
                rejected++;
            else
                fail_msg("flip of bit %d in byte %zu was accepted", bit, i);
        }
    }
    assert_int_equal(rejected, f->len * 8);
    free(copy);
}

/* f's envelope fields with seq, as sealed in a batch. */
static ics_envelope_fields_t s_fields(const fixture_t *f, uint64_t seq)
{
    return (ics_envelope_fields_t){
        .group = "nenc", .org = "RTD", .seq = seq, .timestamp_ms = 1795000000000ull,
        .kind = ICS__V1__COMMAND__BODY_RAW, .payload = f->payload,
        .payload_len = f->payload_len,
    };
}

/* buf decoded, changed by the caller's hand in *env, packed again. */
static uint8_t *s_repacked(Ics__V1__Envelope *env, size_t *len)
{
    uint8_t *out = NULL;
    assert_int_equal(ics_pack(&env->base, &out, len), ICS_OK);
    return out;
}

/* Version 2: one signature over a batch. Each envelope opens on its own,
 * all of a batch sign the same statement, and a path, index or size other
 * than the sealed one is refused. */
static void sealed_batches_verify_one_by_one(void **state)
{
    static const size_t sizes[] = {1, 2, 3, 5, 8, 13, ICS_SEAL_BATCH_MAX};
    fixture_t *f = *state;
    ics_envelope_fields_t fields[ICS_SEAL_BATCH_MAX];
    uint8_t *out[ICS_SEAL_BATCH_MAX];
    size_t out_len[ICS_SEAL_BATCH_MAX];
    ics_err_t err;

    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k], first_len = 0;
        uint8_t *first = NULL;

        for (size_t i = 0; i < n; i++)
            fields[i] = s_fields(f, 100 + i);
        assert_int_equal(ics_envelope_seal_batch(f->alice, fields, n, out, out_len, &err),
                         ICS_OK);
        for (size_t i = 0; i < n; i++) {
            Ics__V1__Envelope *env = NULL;
            uint8_t *msg = NULL, *bad;
            size_t msg_len = 0, bad_len;

            assert_int_equal(s_open(f, out[i], out_len[i], "nenc", f->alice), ICS_OK);
            assert_int_equal(ics_envelope_decode(out[i], out_len[i], &env, &err), ICS_OK);
            assert_int_equal(env->version, 2);
            assert_int_equal(env->batch_size, n);
            assert_int_equal(env->batch_index, i);
            assert_int_equal(env->seq, 100 + i);
            assert_int_equal(ics_envelope_signed_message(env, &msg, &msg_len), ICS_OK);
            if (first == NULL) {
                first = msg;
                first_len = msg_len;
            } else {
                assert_int_equal(msg_len, first_len);
                assert_memory_equal(msg, first, msg_len);
                free(msg);
            }
            if (env->batch_path.len > 0) {
                env->batch_path.data[env->batch_path.len - 1] ^= 0x80;
                bad = s_repacked(env, &bad_len);
                assert_int_equal(s_open(f, bad, bad_len, "nenc", f->alice), ICS_ESIG);
                free(bad);
                env->batch_path.data[env->batch_path.len - 1] ^= 0x80;
            }
            if (n > 1) {
                env->batch_index = (uint32_t)((i + 1) % n);
                bad = s_repacked(env, &bad_len);
                assert_int_not_equal(s_open(f, bad, bad_len, "nenc", f->alice), ICS_OK);
                free(bad);
                env->batch_index = (uint32_t)i;
            }
            env->batch_size = (uint32_t)n + 1;
            bad = s_repacked(env, &bad_len);
            assert_int_not_equal(s_open(f, bad, bad_len, "nenc", f->alice), ICS_OK);
            free(bad);
            ics__v1__envelope__free_unpacked(env, NULL);
            free(out[i]);
        }
        free(first);
    }
}

static void batch_limits(void **state)
{
    fixture_t *f = *state;
    ics_envelope_fields_t fields[ICS_SEAL_BATCH_MAX + 1];
    uint8_t *out[ICS_SEAL_BATCH_MAX + 1];
    size_t out_len[ICS_SEAL_BATCH_MAX + 1];
    ics_err_t err;

    for (size_t i = 0; i <= ICS_SEAL_BATCH_MAX; i++)
        fields[i] = s_fields(f, 1 + i);
    assert_int_equal(ics_envelope_seal_batch(f->alice, fields, 0, out, out_len, &err),
                     ICS_EINVAL);
    assert_int_equal(ics_envelope_seal_batch(f->alice, fields, ICS_SEAL_BATCH_MAX + 1, out,
                                             out_len, &err), ICS_EINVAL);
    for (size_t i = 0; i <= ICS_SEAL_BATCH_MAX; i++)
        assert_null(out[i]);
    /* One bad member fails the batch, and leaves nothing allocated. */
    fields[2].org = "not an id";
    assert_int_equal(ics_envelope_seal_batch(f->alice, fields, 4, out, out_len, &err),
                     ICS_EINVAL);
    for (size_t i = 0; i < 4; i++)
        assert_null(out[i]);
}

/* Version 1, one signature over one signing input, as logs written before
 * sealed batches hold: still verifies, and may carry no batch field. */
static void version_1_still_verifies(void **state)
{
    fixture_t *f = *state;
    Ics__V1__Envelope *env = NULL;
    uint8_t *input = NULL, *buf;
    size_t input_len = 0, len;
    ics_err_t err;

    assert_int_equal(ics_envelope_decode(f->env, f->len, &env, &err), ICS_OK);
    env->version = 1;
    env->batch_size = 0;
    assert_int_equal(ics_envelope_signing_input(env, &input, &input_len), ICS_OK);
    ics_identity_sign(f->alice, input, input_len, env->signature.data);
    free(input);
    buf = s_repacked(env, &len);
    assert_int_equal(s_open(f, buf, len, "nenc", f->alice), ICS_OK);
    free(buf);
    env->batch_size = 1;
    buf = s_repacked(env, &len);
    assert_int_equal(s_open(f, buf, len, "nenc", f->alice), ICS_EMALFORMED);
    free(buf);
    env->batch_size = 0;
    env->version = 3;
    buf = s_repacked(env, &len);
    assert_int_equal(s_open(f, buf, len, "nenc", f->alice), ICS_EVERSION);
    free(buf);
    ics__v1__envelope__free_unpacked(env, NULL);
}

static void wrong_key_rejected(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(s_open(f, f->env, f->len, "nenc", f->mallory), ICS_EKEY);
}

/* A valid key id with a forged signature: the signature check catches it. */
static void forged_signature_rejected(void **state)
{
    fixture_t *f = *state;
    Ics__V1__Envelope *env = NULL;
    ics_err_t err;
    uint8_t *forged = NULL, *input = NULL;
    size_t forged_len = 0, input_len = 0;

    assert_int_equal(ics_envelope_decode(f->env, f->len, &env, &err), ICS_OK);
    env->seq = 8; /* replay under another sequence number */
    assert_int_equal(ics_envelope_signing_input(env, &input, &input_len), ICS_OK);
    ics_identity_sign(f->mallory, input, input_len, env->signature.data);
    assert_int_equal(ics_pack(&env->base, &forged, &forged_len), ICS_OK);
    assert_int_equal(s_open(f, forged, forged_len, "nenc", f->alice), ICS_ESIG);
    free(input);
    free(forged);
    ics__v1__envelope__free_unpacked(env, NULL);
}

static void wrong_group_rejected(void **state)
{
    fixture_t *f = *state;
    Ics__V1__Envelope *env = NULL;
    ics_err_t err;
    assert_int_equal(s_open(f, f->env, f->len, "ne-region", f->alice), ICS_EGROUP);
    assert_int_equal(ics_envelope_open(f->env, f->len, "ne-region",
                                       ics_identity_public(f->alice), &env, &err), ICS_EGROUP);
    assert_non_null(strstr(err.msg, "ne-region"));
}

static void truncated_rejected(void **state)
{
    fixture_t *f = *state;
    for (size_t n = 0; n < f->len; n++)
        assert_int_not_equal(s_open(f, f->env, n, "nenc", f->alice), ICS_OK);
    assert_int_equal(s_open(f, f->env, f->len - 1, "nenc", f->alice), ICS_EMALFORMED);
    assert_int_equal(s_open(f, f->env, 0, "nenc", f->alice), ICS_EMALFORMED);
}

static void oversize_rejected(void **state)
{
    fixture_t *f = *state;
    size_t big = ICS_ENVELOPE_MAX + 4096;
    uint8_t *buf = calloc(1, big);
    ics_envelope_fields_t fields = {.group = "nenc", .org = "RTD", .seq = 1, .kind = 10,
                                    .payload = buf, .payload_len = ICS_ENVELOPE_MAX + 1};
    uint8_t *out = NULL;
    size_t out_len = 0;
    ics_err_t err;

    assert_int_equal(s_open(f, buf, big, "nenc", f->alice), ICS_ETOOBIG);
    assert_int_equal(ics_envelope_seal(f->alice, &fields, &out, &out_len, &err), ICS_ETOOBIG);
    assert_null(out);
    free(buf);
}

/* The header's kind is signed and must match the payload. */
static void kind_mismatch_rejected(void **state)
{
    fixture_t *f = *state;
    ics_envelope_fields_t fields = {.group = "nenc", .org = "RTD", .seq = 9,
                                    .kind = ICS__V1__COMMAND__BODY_TICK,
                                    .payload = f->payload, .payload_len = f->payload_len};
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *cmd = NULL;
    uint8_t *out = NULL;
    size_t out_len = 0;
    ics_err_t err;

    assert_int_equal(ics_envelope_seal(f->alice, &fields, &out, &out_len, &err), ICS_OK);
    assert_int_equal(ics_envelope_open(out, out_len, "nenc", ics_identity_public(f->alice),
                                       &env, &err), ICS_OK);
    assert_int_equal(ics_command_decode(env, &cmd, &err), ICS_EKIND);
    assert_null(cmd);
    ics__v1__envelope__free_unpacked(env, NULL);
    free(out);
}

/* An extra unknown field makes a second byte form of the same envelope. */
static void non_canonical_rejected(void **state)
{
    fixture_t *f = *state;
    uint8_t *buf = malloc(f->len + 3);
    memcpy(buf, f->env, f->len);
    buf[f->len] = (15 << 3) | 0; /* field 15, varint: unknown to v1 */
    buf[f->len + 1] = 1;
    assert_int_equal(s_open(f, buf, f->len + 2, "nenc", f->alice), ICS_EMALFORMED);
    free(buf);
}

static void pubkey_text_round_trip(void **state)
{
    fixture_t *f = *state;
    char text[ICS_PUBKEY_TEXT_MAX];
    uint8_t pk[ICS_PK_BYTES];

    ics_pubkey_format(ics_identity_public(f->alice), text);
    assert_true(strncmp(text, "ed25519:", 8) == 0);
    assert_true(ics_pubkey_parse(text, pk));
    assert_memory_equal(pk, ics_identity_public(f->alice), ICS_PK_BYTES);
    assert_false(ics_pubkey_parse("ed25519:AAAA", pk));
    assert_false(ics_pubkey_parse("rsa:xyz", pk));
    text[10] = text[10] == 'A' ? 'B' : 'A';
    /* Either another valid key or rejected, never the same key. */
    if (ics_pubkey_parse(text, pk))
        assert_memory_not_equal(pk, ics_identity_public(f->alice), ICS_PK_BYTES);
}

/* The worked example of docs/log-format.md, section 2c: a person's
 * signature is over the documented bytes, and only the command it was
 * made for verifies. */
/* docs/log-format.md section 2's worked example of a batch of two. */
static void batch_matches_documented_vector(void **state)
{
    static const uint8_t payload[] = {0x52, 0x04, 0x12, 0x02, 0x68, 0x69};
    static const char *const statement_hex =
        "494353442d454e5642415443482d563200000002dbe176119879eb256034f5d4de7d97b88d3aac9ada"
        "98d377a2d61fffa37f1573";
    static const char *const sig_hex =
        "2a999997e550401695bf1a7bd30dc113c5e9cad9fdc17132e565da0e1147487fe57b82de93c5fe7e44"
        "afe1f12b12ec2bbf32833f9752994f2af03ce08983ea05";
    static const char *const path_hex[] = {
        "ebc2fd32abf11eb9f35c36b3fb0722dc9ec06304c7f4f45f1312f44406ea0147", /* leaf 2 */
        "b570ea21b8ac5fd7d66eb1d1524e70d89f1c055c149577f3ada6c3c6d8339a8f", /* leaf 1 */
    };
    ics_envelope_fields_t f[2];
    uint8_t seed[32], *out[2], *msg = NULL;
    size_t out_len[2], msg_len = 0;
    char hex[2 * 64 + 1];
    ics_err_t err;
    (void)state;

    memset(seed, 1, sizeof seed);
    ics_identity_t *id = ics_identity_from_seed(seed);
    for (size_t i = 0; i < 2; i++)
        f[i] = (ics_envelope_fields_t){"qhm-ics", "QHM", 1 + i, 1000, 10, payload,
                                       sizeof payload};
    assert_int_equal(ics_envelope_seal_batch(id, f, 2, out, out_len, &err), ICS_OK);
    for (size_t i = 0; i < 2; i++) {
        Ics__V1__Envelope *env = NULL;
        assert_int_equal(ics_envelope_decode(out[i], out_len[i], &env, &err), ICS_OK);
        assert_int_equal(env->batch_path.len, 32);
        ics_hex(env->batch_path.data, 32, hex);
        assert_string_equal(hex, path_hex[i]);
        ics_hex(env->signature.data, 64, hex);
        assert_string_equal(hex, sig_hex);
        assert_int_equal(ics_envelope_signed_message(env, &msg, &msg_len), ICS_OK);
        assert_int_equal(msg_len, strlen(statement_hex) / 2);
        ics_hex(msg, msg_len, hex);
        assert_string_equal(hex, statement_hex);
        free(msg);
        ics__v1__envelope__free_unpacked(env, NULL);
        free(out[i]);
    }
    ics_identity_destroy(&id);
}

static void person_signature_matches_documented_vector(void **state)
{
    static const char *const pk_hex =
        "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394";
    static const char *const input_hex =
        "494353442d504552534f4e2d534947310000000771686d2d6963730000000351484d000000076e65642e"
        "6f6e6500000008b18f47587456f38600000000000000010000000f0a076e65642e6f6e65520412026869";
    static const char *const signed_hex =
        "0a076e65642e6f6e65124e0a08b18f47587456f38610011a4098972653b59ce778a844059d0c08ac0a70"
        "0f897653a9e73d84301fbb895d7c6719927f7a92e88ca7b95efca861be513d02841f3b4d5a536cef16c6"
        "e3e3d9700b520412026869";
    uint8_t seed[32], *bare = NULL, *input = NULL, *out = NULL, *cut = NULL;
    size_t bare_len = 0, input_len = 0, out_len = 0, cut_len = 0;
    char hex[600];
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT, *back;
    Ics__V1__Raw raw = ICS__V1__RAW__INIT;
    ics_identity_t *id;

    (void)state;
    memset(seed, 2, sizeof seed);
    id = ics_identity_from_seed(seed);
    assert_non_null(id);
    ics_hex(ics_identity_public(id), 32, hex);
    assert_string_equal(hex, pk_hex);
    raw.note = "hi";
    cmd.body_case = ICS__V1__COMMAND__BODY_RAW;
    cmd.raw = &raw;
    cmd.actor = "ned.one";
    assert_int_equal(ics_pack(&cmd.base, &bare, &bare_len), ICS_OK);
    assert_int_equal(ics_person_signing_input("qhm-ics", "QHM", "ned.one", ics_identity_key_id(id),
                                              8, 1, bare, bare_len, &input, &input_len), ICS_OK);
    ics_hex(input, input_len, hex);
    assert_string_equal(hex, input_hex);
    assert_int_equal(ics_person_sign(id, "qhm-ics", "QHM", 1, &cmd, &out, &out_len), ICS_OK);
    ics_hex(out, out_len, hex);
    assert_string_equal(hex, signed_hex);
    /* Cutting the record out gives back the bytes signed. */
    assert_int_equal(ics_person_unsigned_bytes(out, out_len, &cut, &cut_len), ICS_OK);
    assert_int_equal(cut_len, bare_len);
    assert_memory_equal(cut, bare, bare_len);
    back = ics__v1__command__unpack(NULL, out_len, out);
    assert_non_null(back);
    assert_int_equal(ics_person_verify("qhm-ics", "QHM", back, out, out_len,
                                       ics_identity_public(id)), ICS_OK);
    /* Another group, another organisation, another note: no. */
    assert_int_equal(ics_person_verify("nel-ics", "QHM", back, out, out_len,
                                       ics_identity_public(id)), ICS_ESIG);
    assert_int_equal(ics_person_verify("qhm-ics", "RTD", back, out, out_len,
                                       ics_identity_public(id)), ICS_ESIG);
    out[out_len - 1] ^= 1;
    assert_int_equal(ics_person_verify("qhm-ics", "QHM", back, out, out_len,
                                       ics_identity_public(id)), ICS_ESIG);
    ics__v1__command__free_unpacked(back, NULL);
    free(cut);
    cut = NULL;
    /* Two signature records, or one of the wrong wire type: malformed. */
    {
        uint8_t twice[400], wrong[] = {0x10, 0x01};
        memcpy(twice, out, out_len);
        memcpy(twice + out_len, out + 9, 80);
        assert_int_equal(ics_person_unsigned_bytes(twice, out_len + 80, &cut, &cut_len),
                         ICS_EMALFORMED);
        assert_int_equal(ics_person_unsigned_bytes(wrong, sizeof wrong, &cut, &cut_len),
                         ICS_EMALFORMED);
        assert_int_equal(ics_person_unsigned_bytes(bare, bare_len, &cut, &cut_len), ICS_ENOENT);
    }
    free(bare);
    free(input);
    free(out);
    ics_identity_destroy(&id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(every_bit_flip_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(sealed_batches_verify_one_by_one, setup, teardown),
        cmocka_unit_test_setup_teardown(batch_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(version_1_still_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_key_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(forged_signature_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_group_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(truncated_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(oversize_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(kind_mismatch_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(non_canonical_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(pubkey_text_round_trip, setup, teardown),
        cmocka_unit_test(person_signature_matches_documented_vector),
        cmocka_unit_test(batch_matches_documented_vector),
    };
    return cmocka_run_group_tests_name("envelope", tests, NULL, NULL);
}
