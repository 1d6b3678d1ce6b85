/*
 * Signatures checked once (common/sigmemo.h) and ahead of apply
 * (daemon/verifier.h). What matters is that ics_signature_ok answers
 * exactly what crypto_sign_verify_detached would, memo or not: a triple is
 * a hit only if it verified or was signed here, any changed byte of key,
 * message or signature is verified afresh (and fails), a bad signature is
 * never remembered, and a memo too small for what passes through it only
 * costs verifications. The memo is one per process and cannot be turned
 * off, so the test with it off runs first.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/envelope.h"
#include "common/personsig.h"
#include "common/sigmemo.h"
#include "verifier.h"

#define N_MSG 64

typedef struct {
    ics_identity_t *signer, *other;
    uint8_t msg[N_MSG][48];
    uint8_t sig[N_MSG][ICS_SIG_BYTES];
} fixture_t;

/* Messages signed with libsodium directly, so that nothing of them is in
 * the memo until a check puts it there. */
static uint8_t s_pk[ICS_PK_BYTES], s_sk[crypto_sign_SECRETKEYBYTES];

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    uint8_t seed[32];

    assert_non_null(f);
    assert_true(ics_crypto_init());
    memset(seed, 1, sizeof seed);
    f->signer = ics_identity_from_seed(seed);
    memset(seed, 2, sizeof seed);
    f->other = ics_identity_from_seed(seed);
    crypto_sign_keypair(s_pk, s_sk);
    for (int i = 0; i < N_MSG; i++) {
        randombytes_buf(f->msg[i], sizeof f->msg[i]);
        crypto_sign_detached(f->sig[i], NULL, f->msg[i], sizeof f->msg[i], s_sk);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    ics_identity_destroy(&f->signer);
    ics_identity_destroy(&f->other);
    free(f);
    return 0;
}

/* Every single-bit change of key, message or signature of triple i. */
static void s_assert_flips_fail(fixture_t *f, int i)
{
    uint8_t pk[ICS_PK_BYTES], msg[48], sig[ICS_SIG_BYTES];

    for (size_t b = 0; b < 8 * sizeof msg; b++) {
        memcpy(msg, f->msg[i], sizeof msg);
        msg[b / 8] ^= (uint8_t)(1u << (b % 8));
        assert_false(ics_signature_ok(s_pk, msg, sizeof msg, f->sig[i]));
    }
    for (size_t b = 0; b < 8 * sizeof sig; b++) {
        memcpy(sig, f->sig[i], sizeof sig);
        sig[b / 8] ^= (uint8_t)(1u << (b % 8));
        assert_false(ics_signature_ok(s_pk, f->msg[i], sizeof f->msg[i], sig));
    }
    for (size_t b = 0; b < 8 * sizeof pk; b++) {
        memcpy(pk, s_pk, sizeof pk);
        pk[b / 8] ^= (uint8_t)(1u << (b % 8));
        assert_false(ics_signature_ok(pk, f->msg[i], sizeof f->msg[i], f->sig[i]));
    }
    /* One byte shorter is another message. */
    assert_false(ics_signature_ok(s_pk, f->msg[i], sizeof f->msg[i] - 1, f->sig[i]));
}

static void memo_off_verifies_everything(void **state)
{
    fixture_t *f = *state;
    ics_sigmemo_stats_t st;
    uint8_t d[ICS_SIGMEMO_DIGEST];

    assert_false(ics_sigmemo_enabled());
    assert_false(ics_sigmemo_digest(s_pk, f->msg[0], sizeof f->msg[0], f->sig[0], d));
    for (int round = 0; round < 2; round++)
        assert_true(ics_signature_ok(s_pk, f->msg[0], sizeof f->msg[0], f->sig[0]));
    s_assert_flips_fail(f, 0);
    ics_sigmemo_stats(&st);
    assert_int_equal(st.hits + st.misses + st.stored, 0);
    /* Out of range: stays off. */
    assert_false(ics_sigmemo_enable(9));
    assert_false(ics_sigmemo_enable(25));
    assert_false(ics_sigmemo_enabled());
}

static void memo_answers_as_verification_does(void **state)
{
    fixture_t *f = *state;
    ics_sigmemo_stats_t a, b;
    uint8_t sig[ICS_SIG_BYTES];

    assert_true(ics_sigmemo_enable(12));
    assert_true(ics_sigmemo_enabled());
    /* First check: a miss, verified, remembered; second: a hit. */
    ics_sigmemo_stats(&a);
    assert_true(ics_signature_ok(s_pk, f->msg[1], sizeof f->msg[1], f->sig[1]));
    assert_true(ics_signature_ok(s_pk, f->msg[1], sizeof f->msg[1], f->sig[1]));
    ics_sigmemo_stats(&b);
    assert_int_equal(b.misses - a.misses, 1);
    assert_int_equal(b.hits - a.hits, 1);
    assert_int_equal(b.stored - a.stored, 1);
    /* Remembered or not, every changed byte fails. */
    s_assert_flips_fail(f, 1);
    /* A bad signature is never remembered: it fails every time. */
    memcpy(sig, f->sig[2], sizeof sig);
    sig[5] ^= 0x40;
    ics_sigmemo_stats(&a);
    for (int round = 0; round < 3; round++)
        assert_false(ics_signature_ok(s_pk, f->msg[2], sizeof f->msg[2], sig));
    ics_sigmemo_stats(&b);
    assert_int_equal(b.hits - a.hits, 0);
    assert_int_equal(b.stored - a.stored, 0);
    /* What this process signs is known at once, under the signer's key
     * only. */
    uint8_t mine[ICS_SIG_BYTES];
    ics_identity_sign(f->signer, f->msg[3], sizeof f->msg[3], mine);
    ics_sigmemo_stats(&a);
    assert_true(ics_signature_ok(ics_identity_public(f->signer), f->msg[3], sizeof f->msg[3],
                                 mine));
    ics_sigmemo_stats(&b);
    assert_int_equal(b.hits - a.hits, 1);
    assert_false(ics_signature_ok(ics_identity_public(f->other), f->msg[3], sizeof f->msg[3],
                                  mine));
    /* A second enable changes nothing. */
    assert_true(ics_sigmemo_enable(20));
    assert_true(ics_signature_ok(s_pk, f->msg[1], sizeof f->msg[1], f->sig[1]));
}

/* Far more triples than slots: evictions cost verifications, never a
 * wrong answer. */
static void memo_too_small_only_costs_time(void **state)
{
    fixture_t *f = *state;
    enum { N = 5000 };
    uint8_t (*msg)[16] = calloc(N, sizeof *msg), (*sig)[ICS_SIG_BYTES] = calloc(N, sizeof *sig);
    ics_sigmemo_stats_t a, b;

    (void)f;
    assert_true(ics_sigmemo_enable(12));
    assert_non_null(msg);
    assert_non_null(sig);
    for (int i = 0; i < N; i++) {
        memcpy(msg[i], &i, sizeof i);
        crypto_sign_detached(sig[i], NULL, msg[i], sizeof msg[i], s_sk);
    }
    for (int i = 0; i < N; i++)
        assert_true(ics_signature_ok(s_pk, msg[i], sizeof msg[i], sig[i]));
    ics_sigmemo_stats(&a);
    for (int i = 0; i < N; i++) {
        assert_true(ics_signature_ok(s_pk, msg[i], sizeof msg[i], sig[i]));
        /* Another message's signature: never taken for this one's. */
        assert_false(ics_signature_ok(s_pk, msg[i], sizeof msg[i], sig[(i + 1) % N]));
    }
    ics_sigmemo_stats(&b);
    /* 4,096 slots for 5,000 triples: the second round finds some, not all. */
    assert_true(b.hits - a.hits > 0);
    assert_true(b.hits - a.hits < N);
    assert_int_equal(b.hits + b.misses - a.hits - a.misses, 2 * N);
    free(msg);
    free(sig);
}

/* Waits (10 s at most) until the verifier has checked n jobs. */
static void s_wait_checked(ics_verifier_t *v, uint64_t n)
{
    ics_verifier_stats_t st;
    for (int t = 0; t < 1000; t++) {
        ics_verifier_stats(v, &st);
        if (st.valid + st.invalid >= n)
            return;
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    fail_msg("verifier checked %llu of %llu", (unsigned long long)(st.valid + st.invalid),
             (unsigned long long)n);
}

static uint8_t *s_dup(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n);
    assert_non_null(c);
    memcpy(c, p, n);
    return c;
}

static void verifier_checks_ahead_of_apply(void **state)
{
    fixture_t *f = *state;
    ics_verifier_stats_t vs;
    ics_sigmemo_stats_t a, b;
    ics_err_t err;
    uint8_t bad[ICS_SIG_BYTES];

    assert_true(ics_sigmemo_enable(12));
    ics_verifier_t *v = ics_verifier_new(2, 256, &err);
    assert_non_null(v);
    /* Valid ones, and one bad signature, checked on the threads. */
    for (int i = 10; i < 40; i++)
        assert_true(ics_verifier_push(v, s_pk, f->sig[i], s_dup(f->msg[i], 48), 48));
    memcpy(bad, f->sig[40], sizeof bad);
    bad[0] ^= 1;
    assert_true(ics_verifier_push(v, s_pk, bad, s_dup(f->msg[40], 48), 48));
    s_wait_checked(v, 31);
    ics_verifier_stats(v, &vs);
    assert_int_equal(vs.valid, 30);
    assert_int_equal(vs.invalid, 1);
    assert_int_equal(vs.dropped, 0);
    /* Apply then finds the valid ones, and verifies (and fails) the bad. */
    ics_sigmemo_stats(&a);
    for (int i = 10; i < 40; i++)
        assert_true(ics_signature_ok(s_pk, f->msg[i], 48, f->sig[i]));
    assert_false(ics_signature_ok(s_pk, f->msg[40], 48, bad));
    ics_sigmemo_stats(&b);
    assert_int_equal(b.hits - a.hits, 30);
    assert_int_equal(b.misses - a.misses, 1);
    ics_verifier_destroy(&v);
    assert_null(v);
    ics_verifier_destroy(&v);
}

static void verifier_full_queue_drops(void **state)
{
    fixture_t *f = *state;
    ics_verifier_stats_t vs;
    ics_err_t err;
    unsigned taken = 0;

    assert_null(ics_verifier_new(0, 16, &err));
    assert_null(ics_verifier_new(17, 16, &err));
    assert_null(ics_verifier_new(1, 0, &err));
    ics_verifier_t *v = ics_verifier_new(1, 2, &err);
    assert_non_null(v);
    for (int i = 0; i < N_MSG; i++)
        taken += ics_verifier_push(v, s_pk, f->sig[i], s_dup(f->msg[i], 48), 48);
    ics_verifier_stats(v, &vs);
    assert_int_equal(vs.queued, taken);
    assert_int_equal(vs.queued + vs.dropped, N_MSG);
    assert_true(vs.dropped > 0);
    /* Destroyed with jobs still queued: freed (the sanitizer build checks). */
    ics_verifier_destroy(&v);
}

/* Bursts of jobs, each pushed once the threads have gone back to sleep or
 * while they are still at the last one: every job is taken, by one thread
 * or several, though a push wakes a thread only when none is awake for it. */
static void verifier_takes_every_burst(void **state)
{
    fixture_t *f = *state;
    ics_verifier_stats_t vs;
    ics_err_t err;

    for (unsigned threads = 1; threads <= 3; threads += 2) {
        ics_verifier_t *v = ics_verifier_new(threads, 256, &err);
        uint64_t pushed = 0;
        assert_non_null(v);
        for (int round = 0; round < 150; round++) {
            int burst = 1 + round % 6;
            for (int k = 0; k < burst; k++, pushed++) {
                int i = (int)(pushed % N_MSG);
                assert_true(ics_verifier_push(v, s_pk, f->sig[i], s_dup(f->msg[i], 48), 48));
            }
            if (round % 3 == 0) /* let them drain and sleep */
                s_wait_checked(v, pushed);
        }
        s_wait_checked(v, pushed);
        ics_verifier_stats(v, &vs);
        assert_int_equal(vs.valid, pushed);
        assert_int_equal(vs.invalid, 0);
        ics_verifier_destroy(&v);
    }
}

/* An envelope goes to the verifier only under the key it names. */
static void verifier_takes_envelopes_under_their_key(void **state)
{
    fixture_t *f = *state;
    static const uint8_t payload[] = {0x0a, 0x00};
    ics_envelope_fields_t fields = {.group = "nenc", .org = "QHM", .seq = 7,
                                    .timestamp_ms = 1700000000000ull, .kind = 1,
                                    .payload = payload, .payload_len = sizeof payload};
    Ics__V1__Envelope *env = NULL;
    ics_verifier_stats_t vs;
    uint8_t *buf = NULL;
    size_t len = 0;
    ics_err_t err;

    assert_true(ics_sigmemo_enable(12));
    assert_int_equal(ics_envelope_seal(f->signer, &fields, &buf, &len, &err), ICS_OK);
    assert_int_equal(ics_envelope_decode(buf, len, &env, &err), ICS_OK);
    ics_verifier_t *v = ics_verifier_new(1, 16, &err);
    assert_non_null(v);
    ics_verifier_push_envelope(v, env, ics_identity_public(f->other));
    ics_verifier_stats(v, &vs);
    assert_int_equal(vs.queued, 0);
    ics_verifier_push_envelope(v, env, ics_identity_public(f->signer));
    s_wait_checked(v, 1);
    ics_verifier_stats(v, &vs);
    assert_int_equal(vs.valid, 1);
    assert_int_equal(ics_envelope_verify(env, "nenc", ics_identity_public(f->signer), &err),
                     ICS_OK);
    /* A changed field is another signing input: verified afresh, refused. */
    env->seq = 8;
    assert_int_equal(ics_envelope_verify(env, "nenc", ics_identity_public(f->signer), &err),
                     ICS_ESIG);
    ics_verifier_destroy(&v);
    ics__v1__envelope__free_unpacked(env, NULL);
    free(buf);
}

/* A sealed batch: its envelopes share one signature, which the verifier
 * queues once; the next batch's is queued again. */
static void verifier_takes_a_batch_once(void **state)
{
    fixture_t *f = *state;
    static const uint8_t payload[] = {0x0a, 0x00};
    ics_envelope_fields_t fields[6];
    uint8_t *buf[6];
    size_t len[6];
    ics_verifier_stats_t vs;
    ics_err_t err;

    assert_true(ics_sigmemo_enable(12));
    for (size_t i = 0; i < 6; i++)
        fields[i] = (ics_envelope_fields_t){.group = "nenc", .org = "QHM", .seq = 20 + i,
                                            .timestamp_ms = 1700000000000ull, .kind = 1,
                                            .payload = payload, .payload_len = sizeof payload};
    assert_int_equal(ics_envelope_seal_batch(f->other, fields, 4, buf, len, &err), ICS_OK);
    assert_int_equal(ics_envelope_seal_batch(f->other, fields + 4, 2, buf + 4, len + 4, &err),
                     ICS_OK);
    ics_verifier_t *v = ics_verifier_new(1, 16, &err);
    assert_non_null(v);
    for (size_t i = 0; i < 6; i++) {
        Ics__V1__Envelope *env = NULL;
        assert_int_equal(ics_envelope_decode(buf[i], len[i], &env, &err), ICS_OK);
        ics_verifier_push_envelope(v, env, ics_identity_public(f->other));
        ics__v1__envelope__free_unpacked(env, NULL);
        free(buf[i]);
    }
    s_wait_checked(v, 2);
    ics_verifier_stats(v, &vs);
    assert_int_equal(vs.queued, 2);
    assert_int_equal(vs.repeated, 4);
    assert_int_equal(vs.valid, 2);
    ics_verifier_destroy(&v);
}

/* A person's signature, made by icsctl and checked by nobody on the way:
 * checked ahead of apply under the person's key, found in the memo when
 * the state machine verifies it (ics_person_verify). */
static void verifier_takes_person_signatures(void **state)
{
    fixture_t *f = *state;
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Raw raw = ICS__V1__RAW__INIT;
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *got = NULL;
    uint8_t *payload = NULL, *buf = NULL;
    size_t payload_len = 0, len = 0;
    ics_verifier_stats_t vs;
    ics_sigmemo_stats_t a, b;
    ics_err_t err;

    assert_true(ics_sigmemo_enable(12));
    raw.data.data = (uint8_t *)"hello";
    raw.data.len = 5;
    cmd.body_case = ICS__V1__COMMAND__BODY_RAW;
    cmd.raw = &raw;
    cmd.actor = "bed.manager";
    /* f->other plays the person: its key is not the organisation's. */
    assert_int_equal(ics_person_sign(f->other, "nenc", "QHM", 3, &cmd, &payload, &payload_len),
                     ICS_OK);
    ics_envelope_fields_t fields = {.group = "nenc", .org = "QHM", .seq = 9,
                                    .timestamp_ms = 1700000000000ull,
                                    .kind = ICS__V1__COMMAND__BODY_RAW, .payload = payload,
                                    .payload_len = payload_len};
    assert_int_equal(ics_envelope_seal(f->signer, &fields, &buf, &len, &err), ICS_OK);
    assert_int_equal(ics_envelope_decode(buf, len, &env, &err), ICS_OK);
    assert_int_equal(ics_command_decode(env, &got, &err), ICS_OK);
    assert_non_null(got->person_sig);

    ics_verifier_t *v = ics_verifier_new(1, 16, &err);
    assert_non_null(v);
    /* Under another key than the one it names: not taken. */
    ics_verifier_push_person(v, env, got, ics_identity_public(f->signer));
    ics_verifier_stats(v, &vs);
    assert_int_equal(vs.queued, 0);
    ics_verifier_push_person(v, env, got, ics_identity_public(f->other));
    s_wait_checked(v, 1);
    ics_verifier_stats(v, &vs);
    assert_int_equal(vs.valid, 1);
    ics_sigmemo_stats(&a);
    assert_int_equal(ics_person_verify("nenc", "QHM", got, env->payload.data, env->payload.len,
                                       ics_identity_public(f->other)),
                     ICS_OK);
    ics_sigmemo_stats(&b);
    assert_int_equal(b.hits - a.hits, 1);
    assert_int_equal(b.misses - a.misses, 0);
    /* Another organisation's name in the signing input: verified afresh. */
    assert_int_equal(ics_person_verify("nenc", "RTD", got, env->payload.data, env->payload.len,
                                       ics_identity_public(f->other)),
                     ICS_ESIG);
    ics_verifier_destroy(&v);
    ics__v1__command__free_unpacked(got, NULL);
    ics__v1__envelope__free_unpacked(env, NULL);
    free(payload);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(memo_off_verifies_everything),
        cmocka_unit_test(memo_answers_as_verification_does),
        cmocka_unit_test(memo_too_small_only_costs_time),
        cmocka_unit_test(verifier_checks_ahead_of_apply),
        cmocka_unit_test(verifier_full_queue_drops),
        cmocka_unit_test(verifier_takes_every_burst),
        cmocka_unit_test(verifier_takes_envelopes_under_their_key),
        cmocka_unit_test(verifier_takes_a_batch_once),
        cmocka_unit_test(verifier_takes_person_signatures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
