/*
 * Batches of envelopes in one raft entry (daemon/batch.h): what the leader
 * writes reads back element by element, byte for byte and in order; a lone
 * envelope stays bare; nothing that could be an envelope reads as a batch;
 * and bytes a hostile peer makes up are refused whole, never read past
 * their end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "common/envelope.h"

#define N_ENV 5

/* ---- fixture ------------------------------------------------------------ */

typedef struct {
    ics_identity_t *id;
    uint8_t *env[N_ENV];
    size_t len[N_ENV];
    ics_batch_writer_t w;
    uint8_t *entry; /* a copy of the batch of all N_ENV */
    size_t entry_len;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    uint8_t seed[32];
    ics_err_t err;
    const uint8_t *entry;

    memset(seed, 7, sizeof seed);
    f->id = ics_identity_from_seed(seed);
    for (size_t i = 0; i < N_ENV; i++) {
        Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
        Ics__V1__Raw raw = ICS__V1__RAW__INIT;
        uint8_t payload[256], data[128];
        /* Different sizes, so that a length read at the wrong place shows. */
        memset(data, 'a' + (int)i, sizeof data);
        raw.data.data = data;
        raw.data.len = 10 + 23 * i;
        cmd.actor = (char *)"jane.doe";
        cmd.body_case = ICS__V1__COMMAND__BODY_RAW;
        cmd.raw = &raw;
        size_t payload_len = protobuf_c_message_pack(&cmd.base, payload);
        ics_envelope_fields_t fields = {
            .group = "nenc", .org = "RTD", .seq = 100 + i, .timestamp_ms = 1795000000000ull,
            .kind = ICS__V1__COMMAND__BODY_RAW, .payload = payload, .payload_len = payload_len,
        };
        assert_int_equal(ics_envelope_seal(f->id, &fields, &f->env[i], &f->len[i], &err),
                         ICS_OK);
    }
    for (size_t i = 0; i < N_ENV; i++)
        assert_int_equal(ics_batch_add(&f->w, f->env[i], f->len[i]), ICS_OK);
    ics_batch_entry(&f->w, &entry, &f->entry_len);
    f->entry = malloc(f->entry_len);
    memcpy(f->entry, entry, f->entry_len);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    for (size_t i = 0; i < N_ENV; i++)
        free(f->env[i]);
    ics_batch_free(&f->w);
    free(f->entry);
    ics_identity_destroy(&f->id);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* A copy of buf in a block of exactly len bytes, so that ASan sees any
 * read past the end. Caller frees. */
static uint8_t *s_exact(const uint8_t *buf, size_t len)
{
    uint8_t *p = malloc(len > 0 ? len : 1);
    memcpy(p, buf, len);
    return p;
}

static bool s_opens(const uint8_t *buf, size_t len)
{
    ics_batch_reader_t r;
    ics_err_t err;
    uint8_t *copy = s_exact(buf, len);
    bool ok = ics_batch_open(&r, copy, len, &err) == ICS_OK;
    if (ok) {
        /* Whatever opens is walked to its end within the buffer. */
        const uint8_t *el;
        size_t el_len, total = ICS_BATCH_HEADER, n = 0;
        while (ics_batch_next(&r, &el, &el_len)) {
            assert_true(el >= copy + ICS_BATCH_HEADER && el + el_len <= copy + len);
            total += ICS_BATCH_PER_ITEM + el_len;
            n++;
        }
        assert_int_equal(total, len);
        assert_int_equal(n, r.count);
    }
    free(copy);
    return ok;
}

static void s_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The offset of element i's length in f->entry. */
static size_t s_len_at(const fixture_t *f, size_t i)
{
    size_t off = ICS_BATCH_HEADER;
    for (size_t k = 0; k < i; k++)
        off += ICS_BATCH_PER_ITEM + f->len[k];
    return off;
}

#define ASSERT_REFUSED(buf, len) assert_false(s_opens((buf), (len)))

/* ---- scenarios ---------------------------------------------------------- */

static void round_trip_in_order(void **state)
{
    fixture_t *f = *state;
    ics_batch_reader_t r;
    ics_err_t err;
    const uint8_t *el;
    size_t el_len, i = 0;

    assert_true(ics_batch_is(f->entry, f->entry_len));
    assert_int_equal(ics_batch_open(&r, f->entry, f->entry_len, &err), ICS_OK);
    assert_int_equal(r.count, N_ENV);
    while (ics_batch_next(&r, &el, &el_len)) {
        assert_true(i < N_ENV);
        assert_int_equal(el_len, f->len[i]);
        assert_memory_equal(el, f->env[i], el_len);
        i++;
    }
    assert_int_equal(i, N_ENV);
    /* The size the writer announced is the size it wrote. */
    size_t expect = ICS_BATCH_HEADER;
    for (i = 0; i < N_ENV; i++)
        expect += ICS_BATCH_PER_ITEM + f->len[i];
    assert_int_equal(f->entry_len, expect);
}

static void lone_envelope_stays_bare(void **state)
{
    fixture_t *f = *state;
    ics_batch_writer_t w = {0};
    const uint8_t *entry;
    size_t len;

    ics_batch_entry(&w, &entry, &len);
    assert_null(entry);
    assert_int_equal(len, 0);
    assert_int_equal(ics_batch_size_with(&w, f->len[0]),
                     ICS_BATCH_HEADER + ICS_BATCH_PER_ITEM + f->len[0]);
    assert_int_equal(ics_batch_add(&w, f->env[0], f->len[0]), ICS_OK);
    ics_batch_entry(&w, &entry, &len);
    assert_int_equal(len, f->len[0]);
    assert_memory_equal(entry, f->env[0], len);
    assert_false(ics_batch_is(entry, len));
    /* Reset keeps nothing of what was there. */
    ics_batch_reset(&w);
    ics_batch_entry(&w, &entry, &len);
    assert_int_equal(len, 0);
    assert_int_equal(ics_batch_add(&w, f->env[1], f->len[1]), ICS_OK);
    assert_int_equal(ics_batch_add(&w, f->env[2], f->len[2]), ICS_OK);
    ics_batch_entry(&w, &entry, &len);
    assert_true(s_opens(entry, len));
    ics_batch_free(&w);
}

/* An envelope never reads as a batch, nor a batch as an envelope: the
 * two kinds of entry cannot be confused, in either direction. */
static void batch_and_envelope_cannot_be_confused(void **state)
{
    fixture_t *f = *state;
    Ics__V1__Envelope *env = NULL;
    ics_err_t err;

    for (size_t i = 0; i < N_ENV; i++)
        assert_false(ics_batch_is(f->env[i], f->len[i]));
    assert_int_not_equal(ics_envelope_decode(f->entry, f->entry_len, &env, &err), ICS_OK);
    assert_null(env);
    /* Field number 0 does not exist in protobuf: nothing starting with a
     * 00 byte parses as any message. */
    assert_null(ics__v1__envelope__unpack(NULL, f->entry_len, f->entry));
}

static void every_truncation_refused(void **state)
{
    fixture_t *f = *state;
    for (size_t len = 0; len < f->entry_len; len++)
        ASSERT_REFUSED(f->entry, len);
    assert_true(s_opens(f->entry, f->entry_len));
}

static void trailing_bytes_refused(void **state)
{
    fixture_t *f = *state;
    uint8_t *longer = malloc(f->entry_len + 1);

    memcpy(longer, f->entry, f->entry_len);
    longer[f->entry_len] = 0;
    ASSERT_REFUSED(longer, f->entry_len + 1);
    free(longer);
}

/* Every single-bit change of the framing (magic, count, every length) is
 * refused: the lengths no longer add up, or it is not a batch at all. */
static void every_framing_bit_flip_refused(void **state)
{
    fixture_t *f = *state;
    uint8_t *buf = s_exact(f->entry, f->entry_len);
    size_t framing[ICS_BATCH_HEADER + N_ENV * ICS_BATCH_PER_ITEM], n = 0;

    for (size_t k = 0; k < ICS_BATCH_HEADER; k++)
        framing[n++] = k;
    for (size_t i = 0; i < N_ENV; i++)
        for (size_t k = 0; k < ICS_BATCH_PER_ITEM; k++)
            framing[n++] = s_len_at(f, i) + k;
    for (size_t k = 0; k < n; k++) {
        for (int bit = 0; bit < 8; bit++) {
            buf[framing[k]] ^= (uint8_t)(1u << bit);
            ASSERT_REFUSED(buf, f->entry_len);
            buf[framing[k]] ^= (uint8_t)(1u << bit);
        }
    }
    assert_true(s_opens(buf, f->entry_len));
    free(buf);
}

static void hostile_counts_and_lengths_refused(void **state)
{
    fixture_t *f = *state;
    uint8_t *buf = s_exact(f->entry, f->entry_len);
    const uint32_t counts[] = {0, 1, N_ENV - 1, N_ENV + 1, ICS_BATCH_MAX + 1, UINT32_MAX};
    const uint32_t lens[] = {0, 1, ICS_BATCH_ITEM_MAX + 1, UINT32_MAX, UINT32_MAX - 3};

    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        s_put32(buf + ICS_BATCH_MAGIC_LEN, counts[k]);
        ASSERT_REFUSED(buf, f->entry_len);
    }
    s_put32(buf + ICS_BATCH_MAGIC_LEN, N_ENV);
    for (size_t i = 0; i < N_ENV; i++) {
        for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
            s_put32(buf + s_len_at(f, i), lens[k]);
            ASSERT_REFUSED(buf, f->entry_len);
        }
        s_put32(buf + s_len_at(f, i), (uint32_t)f->len[i]);
    }
    assert_true(s_opens(buf, f->entry_len));
    free(buf);

    /* A header alone; a count of 2 with nothing after it; the magic only. */
    uint8_t hdr[ICS_BATCH_HEADER];
    memcpy(hdr, ICS_BATCH_MAGIC, ICS_BATCH_MAGIC_LEN);
    s_put32(hdr + ICS_BATCH_MAGIC_LEN, 2);
    ASSERT_REFUSED(hdr, sizeof hdr);
    ASSERT_REFUSED(hdr, ICS_BATCH_MAGIC_LEN);
    ASSERT_REFUSED(hdr, 3);
}

/* Random bytes behind the magic: refused, or if they happen to frame,
 * walked within bounds (s_opens checks). ASan watches every read. */
static void random_bytes_never_read_out_of_bounds(void **state)
{
    uint8_t buf[64];
    (void)state;

    for (int round = 0; round < 20000; round++) {
        size_t len = ICS_BATCH_HEADER + randombytes_uniform(sizeof buf - ICS_BATCH_HEADER + 1);
        randombytes_buf(buf, sizeof buf);
        memcpy(buf, ICS_BATCH_MAGIC, ICS_BATCH_MAGIC_LEN);
        /* Small counts and lengths, so that some inputs do frame. */
        s_put32(buf + ICS_BATCH_MAGIC_LEN, 2 + randombytes_uniform(3));
        if (len >= ICS_BATCH_HEADER + 4)
            s_put32(buf + ICS_BATCH_HEADER, randombytes_uniform(24));
        (void)s_opens(buf, len);
    }
}

static void writer_bounds(void **state)
{
    fixture_t *f = *state;
    ics_batch_writer_t w = {0};
    const uint8_t *entry;
    size_t len;

    assert_int_equal(ics_batch_add(&w, f->env[0], 0), ICS_EINVAL);
    assert_int_equal(ics_batch_add(&w, f->env[0], ICS_BATCH_ITEM_MAX + 1), ICS_EINVAL);
    for (uint32_t i = 0; i < ICS_BATCH_MAX; i++)
        assert_int_equal(ics_batch_add(&w, f->env[i % N_ENV], f->len[i % N_ENV]), ICS_OK);
    assert_int_equal(ics_batch_add(&w, f->env[0], f->len[0]), ICS_EINVAL);
    ics_batch_entry(&w, &entry, &len);
    assert_true(s_opens(entry, len));
    ics_batch_free(&w);
    assert_int_equal(w.count, 0);
    assert_null(w.buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(lone_envelope_stays_bare, setup, teardown),
        cmocka_unit_test_setup_teardown(batch_and_envelope_cannot_be_confused, setup, teardown),
        cmocka_unit_test_setup_teardown(every_truncation_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(trailing_bytes_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(every_framing_bit_flip_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_counts_and_lengths_refused, setup, teardown),
        cmocka_unit_test(random_bytes_never_read_out_of_bounds),
        cmocka_unit_test_setup_teardown(writer_bounds, setup, teardown),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
