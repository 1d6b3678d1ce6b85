/*
 * RFC 6962 / RFC 9162 Merkle trees (daemon/common/merkle.c): roots,
 * inclusion and consistency proofs and their verification, against the
 * 8-leaf vectors of the Certificate Transparency reference implementations
 * and against a naive recursive recomputation on random trees.
 *
 * The expected hashes were computed independently, with Python's hashlib
 * from the recursive definitions of RFC 9162 section 2.1 (MTH, PATH,
 * SUBPROOF), and agree with the values published with the CT code.
 *
 * Layout: an in-memory tree behind the node callback, a naive tree, then
 * scenarios.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "common/ics.h"
#include "common/merkle.h"

/* ---------------------------------------------------------------- vectors */

static const char *const LEAVES_HEX[8] = {
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};

/* MTH(D[0:n]) for n = 0..8. */
static const char *const ROOTS_HEX[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

typedef struct {
    uint64_t a, n; /* inclusion: leaf a of n; consistency: a of n */
    size_t len;
    const char *hex[4];
} vec_t;

static const vec_t INCLUSION[] = {
    {0, 1, 0, {NULL}},
    {0, 8, 3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5, 8, 3,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, 1, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1, 5, 3,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

static const vec_t CONSISTENCY[] = {
    {1, 1, 0, {NULL}},
    {1, 8, 3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6, 8, 3,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 5, 2,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {3, 7, 4,
     {"0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
      "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
      "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
      "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e"}},
    {4, 8, 1, {"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
};

/* ---------------------------------------------------------------- trees */

#define MAX_LEAVES 600

typedef struct {
    uint64_t n;
    ics_merkle_hash_t leaf[MAX_LEAVES];
    unsigned reads; /* node callbacks answered */
} tree_t;

static void s_unhex(const char *hex, uint8_t *out, size_t *len)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    *len = n;
}

static void s_hash_hex(const char *hex, uint8_t out[32])
{
    size_t len;
    s_unhex(hex, out, &len);
    assert_int_equal(len, 32);
}

/* Naive MTH(D[lo:hi]) straight from RFC 9162 section 2.1.1. */
static void s_mth(const tree_t *t, uint64_t lo, uint64_t hi, uint8_t out[32])
{
    uint8_t l[32], r[32];
    uint64_t k = 1;

    if (hi == lo) {
        crypto_hash_sha256(out, (const uint8_t *)"", 0);
        return;
    }
    if (hi - lo == 1) {
        memcpy(out, t->leaf[lo], 32);
        return;
    }
    while (2 * k < hi - lo)
        k *= 2;
    s_mth(t, lo, lo + k, l);
    s_mth(t, lo + k, hi, r);
    ics_merkle_node_hash(l, r, out);
}

static int s_node(void *ctx, unsigned level, uint64_t index, uint8_t out[32])
{
    tree_t *t = ctx;
    uint64_t lo = index << level, hi = (index + 1) << level;

    if (level >= 20 || hi > t->n)
        return ICS_ENOENT;
    t->reads++;
    s_mth(t, lo, hi, out);
    return ICS_OK;
}

/* Naive PATH(m, D[lo:hi]) and SUBPROOF(m, D[lo:hi], b), appending. */
static void s_path(const tree_t *t, uint64_t m, uint64_t lo, uint64_t hi, ics_merkle_hash_t *p,
                   size_t *len)
{
    uint64_t k = 1;
    if (hi - lo <= 1)
        return;
    while (2 * k < hi - lo)
        k *= 2;
    if (m < k) {
        s_path(t, m, lo, lo + k, p, len);
        s_mth(t, lo + k, hi, p[(*len)++]);
    } else {
        s_path(t, m - k, lo + k, hi, p, len);
        s_mth(t, lo, lo + k, p[(*len)++]);
    }
}

static void s_subproof(const tree_t *t, uint64_t m, uint64_t lo, uint64_t hi, bool b,
                       ics_merkle_hash_t *p, size_t *len)
{
    uint64_t k = 1;
    if (m == hi - lo) {
        if (!b)
            s_mth(t, lo, hi, p[(*len)++]);
        return;
    }
    while (2 * k < hi - lo)
        k *= 2;
    if (m <= k) {
        s_subproof(t, m, lo, lo + k, b, p, len);
        s_mth(t, lo + k, hi, p[(*len)++]);
    } else {
        s_subproof(t, m - k, lo + k, hi, false, p, len);
        s_mth(t, lo, lo + k, p[(*len)++]);
    }
}

static tree_t *s_vector_tree(void)
{
    tree_t *t = calloc(1, sizeof *t);
    assert_non_null(t);
    for (int i = 0; i < 8; i++) {
        uint8_t b[16];
        size_t len;
        s_unhex(LEAVES_HEX[i], b, &len);
        ics_merkle_leaf_hash(b, len, t->leaf[i]);
    }
    return t;
}

/* A deterministic generator: the random trees are the same on every run. */
static uint64_t s_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* ---------------------------------------------------------------- assertions */

#define ASSERT_HASH_HEX(h, hex)                                                                    \
    do {                                                                                           \
        char got_[65];                                                                             \
        ics_hex((h), 32, got_);                                                                    \
        assert_string_equal(got_, (hex));                                                          \
    } while (0)

/* The proof is the vector's, hash for hash. */
static void s_assert_proof(const ics_merkle_hash_t *proof, size_t len, const vec_t *x)
{
    assert_int_equal(len, x->len);
    for (size_t i = 0; i < len; i++)
        ASSERT_HASH_HEX(proof[i], x->hex[i]);
}

/* ---------------------------------------------------------------- scenarios */

static void test_leaf_and_empty_hashes(void **state)
{
    uint8_t h[32];
    (void)state;
    ics_merkle_empty_root(h);
    ASSERT_HASH_HEX(h, ROOTS_HEX[0]);
    ics_merkle_leaf_hash((const uint8_t *)"", 0, h);
    ASSERT_HASH_HEX(h, ROOTS_HEX[1]); /* a one-leaf tree's root is its leaf hash */
    ics_merkle_leaf_hash((const uint8_t *)"\x00", 1, h);
    ASSERT_HASH_HEX(h, "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7");
}

static void test_roots_of_the_ct_vectors(void **state)
{
    tree_t *t = s_vector_tree();
    ics_merkle_frontier_t f;
    uint8_t h[32];
    (void)state;

    ics_merkle_frontier_init(&f);
    for (uint64_t n = 0; n <= 8; n++) {
        t->n = n;
        assert_int_equal(ics_merkle_root(s_node, t, n, h), ICS_OK);
        ASSERT_HASH_HEX(h, ROOTS_HEX[n]);
        ics_merkle_frontier_root(&f, h);
        ASSERT_HASH_HEX(h, ROOTS_HEX[n]);
        if (n < 8)
            assert_true(ics_merkle_frontier_push(&f, t->leaf[n]));
    }
    free(t);
}

static void test_inclusion_proofs_of_the_ct_vectors(void **state)
{
    tree_t *t = s_vector_tree();
    ics_merkle_hash_t proof[ICS_MERKLE_PROOF_MAX];
    uint8_t root[32], want[32];
    size_t len;
    (void)state;

    t->n = 8;
    for (size_t v = 0; v < sizeof INCLUSION / sizeof *INCLUSION; v++) {
        const vec_t *x = &INCLUSION[v];
        assert_int_equal(ics_merkle_inclusion_proof(s_node, t, x->a, x->n, proof, &len), ICS_OK);
        s_assert_proof(proof, len, x);
        s_hash_hex(ROOTS_HEX[x->n], root);
        assert_true(ics_merkle_verify_inclusion(t->leaf[x->a], x->a, x->n, proof, len, root));
    }
    /* Every leaf of every tree size verifies, and only at its own index. */
    for (uint64_t n = 1; n <= 8; n++) {
        s_hash_hex(ROOTS_HEX[n], root);
        for (uint64_t m = 0; m < n; m++) {
            assert_int_equal(ics_merkle_inclusion_proof(s_node, t, m, n, proof, &len), ICS_OK);
            assert_true(ics_merkle_verify_inclusion(t->leaf[m], m, n, proof, len, root));
            if (n > 1)
                assert_false(ics_merkle_verify_inclusion(t->leaf[(m + 1) % n], m, n, proof, len,
                                                         root));
        }
    }
    assert_int_equal(ics_merkle_inclusion_proof(s_node, t, 8, 8, proof, &len), ICS_EINVAL);
    s_hash_hex(ROOTS_HEX[8], want);
    assert_false(ics_merkle_verify_inclusion(t->leaf[0], 8, 8, proof, 0, want));
    free(t);
}

static void test_consistency_proofs_of_the_ct_vectors(void **state)
{
    tree_t *t = s_vector_tree();
    ics_merkle_hash_t proof[ICS_MERKLE_PROOF_MAX];
    uint8_t r1[32], r2[32];
    size_t len;
    (void)state;

    t->n = 8;
    for (size_t v = 0; v < sizeof CONSISTENCY / sizeof *CONSISTENCY; v++) {
        const vec_t *x = &CONSISTENCY[v];
        assert_int_equal(ics_merkle_consistency_proof(s_node, t, x->a, x->n, proof, &len),
                         ICS_OK);
        s_assert_proof(proof, len, x);
    }
    for (uint64_t n = 1; n <= 8; n++) {
        s_hash_hex(ROOTS_HEX[n], r2);
        for (uint64_t m = 1; m <= n; m++) {
            s_hash_hex(ROOTS_HEX[m], r1);
            assert_int_equal(ics_merkle_consistency_proof(s_node, t, m, n, proof, &len), ICS_OK);
            assert_true(ics_merkle_verify_consistency(m, n, r1, r2, proof, len));
            /* The new root as the old one fails. (A proof may also verify
             * for another size whose path has the same shape: the size is
             * bound by the signed tree head, not by the proof.) */
            if (m < n)
                assert_false(ics_merkle_verify_consistency(m, n, r2, r2, proof, len));
            if (m > 1) {
                uint8_t other[32];
                s_hash_hex(ROOTS_HEX[m - 1], other);
                assert_false(ics_merkle_verify_consistency(m, n, other, r2, proof, len));
            }
        }
    }
    assert_int_equal(ics_merkle_consistency_proof(s_node, t, 0, 8, proof, &len), ICS_EINVAL);
    assert_int_equal(ics_merkle_consistency_proof(s_node, t, 5, 4, proof, &len), ICS_EINVAL);
    free(t);
}

/* Random trees, checked against the naive recursion: every root, every
 * proof byte for byte, every proof verifies, and any single flipped bit,
 * a missing or extra hash, or an old tree that is not a prefix makes it
 * fail. */
static void test_random_trees_agree_with_naive_recomputation(void **state)
{
    tree_t *t = calloc(1, sizeof *t);
    ics_merkle_hash_t proof[ICS_MERKLE_PROOF_MAX], naive[ICS_MERKLE_PROOF_MAX];
    ics_merkle_frontier_t f;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    (void)state;
    assert_non_null(t);

    for (int round = 0; round < 40; round++) {
        uint64_t n = 1 + s_rand(&seed) % MAX_LEAVES;
        uint8_t root[32], want[32];

        t->n = n;
        ics_merkle_frontier_init(&f);
        for (uint64_t i = 0; i < n; i++) {
            uint8_t data[40];
            size_t len = s_rand(&seed) % sizeof data;
            for (size_t j = 0; j < len; j++)
                data[j] = (uint8_t)s_rand(&seed);
            ics_merkle_leaf_hash(data, len, t->leaf[i]);
            assert_true(ics_merkle_frontier_push(&f, t->leaf[i]));
        }
        s_mth(t, 0, n, want);
        t->reads = 0;
        assert_int_equal(ics_merkle_root(s_node, t, n, root), ICS_OK);
        assert_memory_equal(root, want, 32);
        assert_int_equal(t->reads, (unsigned)__builtin_popcountll(n)); /* O(log n) reads */
        ics_merkle_frontier_root(&f, root);
        assert_memory_equal(root, want, 32);

        for (int k = 0; k < 20; k++) {
            uint64_t m = s_rand(&seed) % n, old = 1 + s_rand(&seed) % n;
            size_t len, nlen = 0;
            uint8_t old_root[32];

            t->reads = 0;
            assert_int_equal(ics_merkle_inclusion_proof(s_node, t, m, n, proof, &len), ICS_OK);
            assert_true(t->reads <= 2 * 64);
            s_path(t, m, 0, n, naive, &nlen);
            assert_int_equal(len, nlen);
            assert_memory_equal(proof, naive, len * 32);
            assert_true(ics_merkle_verify_inclusion(t->leaf[m], m, n, proof, len, want));
            assert_int_equal(ics_merkle_inclusion_len(m, n), len);
            assert_true(ics_merkle_inclusion_root(t->leaf[m], m, n, proof, len, root));
            assert_memory_equal(root, want, 32);
            assert_false(ics_merkle_inclusion_root(t->leaf[m], m, n, naive, len + 1, root));
            assert_false(ics_merkle_inclusion_root(t->leaf[m], n, n, proof, len, root));
            if (len > 0) {
                size_t at = s_rand(&seed) % (len * 32);
                ((uint8_t *)proof)[at] ^= (uint8_t)(1u << (s_rand(&seed) % 8));
                assert_false(ics_merkle_verify_inclusion(t->leaf[m], m, n, proof, len, want));
                ((uint8_t *)proof)[at] ^= 0xff; /* still wrong: other bits flipped */
                assert_false(ics_merkle_verify_inclusion(t->leaf[m], m, n, proof, len - 1, want));
            }
            assert_false(ics_merkle_verify_inclusion(t->leaf[m], m, n, naive, len + 1, want));

            s_mth(t, 0, old, old_root);
            t->reads = 0;
            assert_int_equal(ics_merkle_consistency_proof(s_node, t, old, n, proof, &len), ICS_OK);
            assert_true(t->reads <= 2 * 64);
            nlen = 0;
            s_subproof(t, old, 0, n, true, naive, &nlen);
            assert_int_equal(len, nlen);
            assert_memory_equal(proof, naive, len * 32);
            assert_true(ics_merkle_verify_consistency(old, n, old_root, want, proof, len));
            if (len > 0) {
                size_t at = s_rand(&seed) % (len * 32);
                ((uint8_t *)proof)[at] ^= (uint8_t)(1u << (s_rand(&seed) % 8));
                assert_false(ics_merkle_verify_consistency(old, n, old_root, want, proof, len));
                assert_false(ics_merkle_verify_consistency(old, n, old_root, want, naive,
                                                           len - 1));
            }
            if (old < n) {
                /* A tree that is not a prefix: the old root of a changed leaf. */
                uint8_t forged[32];
                t->leaf[0][0] ^= 1;
                s_mth(t, 0, old, forged);
                t->leaf[0][0] ^= 1;
                assert_false(ics_merkle_verify_consistency(old, n, forged, want, naive, nlen));
            }
        }
    }
    free(t);
}

/* Every shape of the sealed batches of envelope.h (and more): the length
 * ics_merkle_inclusion_len gives is the proof's. */
static void test_inclusion_lengths(void **state)
{
    tree_t *t = calloc(1, sizeof *t);
    ics_merkle_hash_t proof[ICS_MERKLE_PROOF_MAX];
    (void)state;
    assert_non_null(t);
    for (uint64_t n = 1; n <= 130 && n <= MAX_LEAVES; n++) {
        t->n = n;
        for (uint64_t i = 0; i < n; i++)
            ics_merkle_leaf_hash((const uint8_t *)&i, sizeof i, t->leaf[i]);
        for (uint64_t m = 0; m < n; m++) {
            size_t len;
            assert_int_equal(ics_merkle_inclusion_proof(s_node, t, m, n, proof, &len), ICS_OK);
            assert_int_equal(ics_merkle_inclusion_len(m, n), len);
        }
        assert_int_equal(ics_merkle_inclusion_len(n, n), 0);
    }
    free(t);
}

/* Sizes near 2^63 need no more room than ICS_MERKLE_PROOF_MAX: a tree of
 * identical leaves has a node hash per level, so it can be served without
 * its leaves. */
typedef struct {
    ics_merkle_hash_t level[64];
} uniform_t;

static int s_uniform_node(void *ctx, unsigned level, uint64_t index, uint8_t out[32])
{
    (void)index;
    memcpy(out, ((uniform_t *)ctx)->level[level], 32);
    return ICS_OK;
}

static void test_huge_trees(void **state)
{
    uniform_t u;
    ics_merkle_hash_t proof[ICS_MERKLE_PROOF_MAX];
    uint64_t n = (UINT64_C(1) << 63) - 3, m = n - 7, old = (UINT64_C(1) << 62) + 5;
    uint8_t root[32], old_root[32];
    size_t len;
    (void)state;

    ics_merkle_leaf_hash((const uint8_t *)"x", 1, u.level[0]);
    for (int i = 1; i < 64; i++)
        ics_merkle_node_hash(u.level[i - 1], u.level[i - 1], u.level[i]);
    assert_int_equal(ics_merkle_root(s_uniform_node, &u, n, root), ICS_OK);
    assert_int_equal(ics_merkle_root(s_uniform_node, &u, old, old_root), ICS_OK);
    assert_int_equal(ics_merkle_inclusion_proof(s_uniform_node, &u, m, n, proof, &len), ICS_OK);
    assert_true(len <= 63);
    assert_true(ics_merkle_verify_inclusion(u.level[0], m, n, proof, len, root));
    assert_int_equal(ics_merkle_consistency_proof(s_uniform_node, &u, old, n, proof, &len),
                     ICS_OK);
    assert_true(ics_merkle_verify_consistency(old, n, old_root, root, proof, len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leaf_and_empty_hashes),
        cmocka_unit_test(test_roots_of_the_ct_vectors),
        cmocka_unit_test(test_inclusion_proofs_of_the_ct_vectors),
        cmocka_unit_test(test_consistency_proofs_of_the_ct_vectors),
        cmocka_unit_test(test_random_trees_agree_with_naive_recomputation),
        cmocka_unit_test(test_inclusion_lengths),
        cmocka_unit_test(test_huge_trees),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
