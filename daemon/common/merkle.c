/*
 * RFC 9162 section 2.1 Merkle trees (merkle.h). Every range hashed here is
 * a [lo, hi) that the RFC's recursive definitions produce: lo is a multiple
 * of the largest power of two not above hi - lo, so a range is a complete
 * aligned subtree (one read through the callback) or splits at the largest
 * power of two below its size into a complete left part and a smaller
 * right part of the same shape. A root therefore costs at most one read per
 * set bit of the size, and a proof at most one incomplete range besides its
 * complete subtrees: O(log n) reads.
 *
 * Proofs are built top-down and reversed, since the RFC lists the hash
 * nearest the leaf first.
 */
#include "merkle.h"

#include "ics.h"

#include <assert.h>
#include <sodium.h>
#include <string.h>

_Static_assert(ICS_MERKLE_HASH_BYTES == crypto_hash_sha256_BYTES, "SHA-256");

void ics_merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[ICS_MERKLE_HASH_BYTES])
{
    crypto_hash_sha256_state st;
    const uint8_t prefix = 0x00;

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &prefix, 1);
    if (len > 0)
        crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, out);
}

void ics_merkle_node_hash(const uint8_t left[ICS_MERKLE_HASH_BYTES],
                          const uint8_t right[ICS_MERKLE_HASH_BYTES],
                          uint8_t out[ICS_MERKLE_HASH_BYTES])
{
    uint8_t buf[1 + 2 * ICS_MERKLE_HASH_BYTES];

    buf[0] = 0x01;
    memcpy(buf + 1, left, ICS_MERKLE_HASH_BYTES);
    memcpy(buf + 1 + ICS_MERKLE_HASH_BYTES, right, ICS_MERKLE_HASH_BYTES);
    crypto_hash_sha256(out, buf, sizeof buf);
}

void ics_merkle_empty_root(uint8_t out[ICS_MERKLE_HASH_BYTES])
{
    crypto_hash_sha256(out, (const uint8_t *)"", 0);
}

/* The largest power of two strictly below n (n >= 2). */
static uint64_t s_split(uint64_t n)
{
    assert(n >= 2);
    return (uint64_t)1 << (63 - __builtin_clzll(n - 1));
}

static bool s_pow2(uint64_t n)
{
    return n != 0 && (n & (n - 1)) == 0;
}

/* MTH(D[lo:hi]), hi > lo. */
static int s_range(ics_merkle_node_fn node, void *ctx, uint64_t lo, uint64_t hi,
                   uint8_t out[ICS_MERKLE_HASH_BYTES])
{
    uint64_t n = hi - lo, k;
    uint8_t left[ICS_MERKLE_HASH_BYTES];
    int rc;

    assert(hi > lo);
    if (s_pow2(n) && lo % n == 0) {
        unsigned level = (unsigned)__builtin_ctzll(n);
        return node(ctx, level, lo >> level, out);
    }
    k = s_split(n);
    rc = s_range(node, ctx, lo, lo + k, left);
    if (rc == ICS_OK)
        rc = s_range(node, ctx, lo + k, hi, out);
    if (rc == ICS_OK)
        ics_merkle_node_hash(left, out, out);
    return rc;
}

int ics_merkle_root(ics_merkle_node_fn node, void *ctx, uint64_t size,
                    uint8_t out[ICS_MERKLE_HASH_BYTES])
{
    if (size == 0) {
        ics_merkle_empty_root(out);
        return ICS_OK;
    }
    return s_range(node, ctx, 0, size, out);
}

static void s_reverse(ics_merkle_hash_t *proof, size_t len)
{
    ics_merkle_hash_t t;

    for (size_t i = 0; i < len / 2; i++) {
        memcpy(t, proof[i], sizeof t);
        memcpy(proof[i], proof[len - 1 - i], sizeof t);
        memcpy(proof[len - 1 - i], t, sizeof t);
    }
}

int ics_merkle_inclusion_proof(ics_merkle_node_fn node, void *ctx, uint64_t index, uint64_t size,
                               ics_merkle_hash_t proof[ICS_MERKLE_PROOF_MAX], size_t *len)
{
    uint64_t lo = 0, hi = size;
    size_t n = 0;
    int rc = ICS_OK;

    *len = 0;
    if (index >= size)
        return ICS_EINVAL;
    /* PATH(m, D[lo:hi]) = PATH(m, half holding m) : MTH(other half). */
    while (hi - lo > 1 && rc == ICS_OK) {
        uint64_t k = s_split(hi - lo);
        assert(n < ICS_MERKLE_PROOF_MAX);
        if (index < lo + k) {
            rc = s_range(node, ctx, lo + k, hi, proof[n++]);
            hi = lo + k;
        } else {
            rc = s_range(node, ctx, lo, lo + k, proof[n++]);
            lo += k;
        }
    }
    if (rc != ICS_OK)
        return rc;
    s_reverse(proof, n);
    *len = n;
    return ICS_OK;
}

int ics_merkle_consistency_proof(ics_merkle_node_fn node, void *ctx, uint64_t old_size,
                                 uint64_t size, ics_merkle_hash_t proof[ICS_MERKLE_PROOF_MAX],
                                 size_t *len)
{
    uint64_t lo = 0, hi = size, m = old_size;
    bool whole = true; /* SUBPROOF's b: old_size's subtree is the whole old tree */
    size_t n = 0;
    int rc = ICS_OK;

    *len = 0;
    if (old_size == 0 || old_size > size)
        return ICS_EINVAL;
    while (m != hi - lo && rc == ICS_OK) {
        uint64_t k = s_split(hi - lo);
        assert(n < ICS_MERKLE_PROOF_MAX);
        if (m <= k) {
            rc = s_range(node, ctx, lo + k, hi, proof[n++]);
            hi = lo + k;
        } else {
            rc = s_range(node, ctx, lo, lo + k, proof[n++]);
            lo += k;
            m -= k;
            whole = false;
        }
    }
    if (rc == ICS_OK && !whole) {
        assert(n < ICS_MERKLE_PROOF_MAX);
        rc = s_range(node, ctx, lo, hi, proof[n++]);
    }
    if (rc != ICS_OK)
        return rc;
    s_reverse(proof, n);
    *len = n;
    return ICS_OK;
}

bool ics_merkle_inclusion_root(const uint8_t leaf_hash[ICS_MERKLE_HASH_BYTES], uint64_t index,
                               uint64_t size, const ics_merkle_hash_t *proof, size_t len,
                               uint8_t root[ICS_MERKLE_HASH_BYTES])
{
    uint64_t fn = index, sn;

    if (index >= size || len > ICS_MERKLE_PROOF_MAX)
        return false;
    sn = size - 1;
    memcpy(root, leaf_hash, ICS_MERKLE_HASH_BYTES);
    for (size_t i = 0; i < len; i++) {
        if (sn == 0)
            return false;
        if ((fn & 1) || fn == sn) {
            ics_merkle_node_hash(proof[i], root, root);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            ics_merkle_node_hash(root, proof[i], root);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0;
}

bool ics_merkle_verify_inclusion(const uint8_t leaf_hash[ICS_MERKLE_HASH_BYTES], uint64_t index,
                                 uint64_t size, const ics_merkle_hash_t *proof, size_t len,
                                 const uint8_t root[ICS_MERKLE_HASH_BYTES])
{
    uint8_t r[ICS_MERKLE_HASH_BYTES];

    return ics_merkle_inclusion_root(leaf_hash, index, size, proof, len, r) &&
           sodium_memcmp(r, root, sizeof r) == 0;
}

size_t ics_merkle_inclusion_len(uint64_t index, uint64_t size)
{
    size_t len = 0;

    if (index >= size)
        return 0;
    /* One hash for each level at which the leaf's subtree has a sibling:
     * the bits of index that differ from size - 1, and below them every
     * level the path still climbs. */
    for (uint64_t fn = index, sn = size - 1; sn != 0; fn >>= 1, sn >>= 1)
        if ((fn & 1) || fn < sn)
            len++;
    return len;
}

bool ics_merkle_verify_consistency(uint64_t old_size, uint64_t size,
                                   const uint8_t old_root[ICS_MERKLE_HASH_BYTES],
                                   const uint8_t root[ICS_MERKLE_HASH_BYTES],
                                   const ics_merkle_hash_t *proof, size_t len)
{
    uint8_t fr[ICS_MERKLE_HASH_BYTES], sr[ICS_MERKLE_HASH_BYTES];
    uint64_t fn, sn;
    size_t i = 0;

    if (old_size == 0 || old_size > size || len > ICS_MERKLE_PROOF_MAX)
        return false;
    if (old_size == size)
        return len == 0 && sodium_memcmp(old_root, root, ICS_MERKLE_HASH_BYTES) == 0;
    if (len == 0)
        return false;
    /* A power-of-two old tree is a subtree of the new one: the proof
     * omits it, and it starts the path. */
    if (s_pow2(old_size)) {
        memcpy(fr, old_root, sizeof fr);
    } else {
        memcpy(fr, proof[0], sizeof fr);
        i = 1;
    }
    memcpy(sr, fr, sizeof sr);
    fn = old_size - 1;
    sn = size - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    for (; i < len; i++) {
        if (sn == 0)
            return false;
        if ((fn & 1) || fn == sn) {
            ics_merkle_node_hash(proof[i], fr, fr);
            ics_merkle_node_hash(proof[i], sr, sr);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            ics_merkle_node_hash(sr, proof[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && sodium_memcmp(fr, old_root, sizeof fr) == 0 &&
           sodium_memcmp(sr, root, sizeof sr) == 0;
}

void ics_merkle_frontier_init(ics_merkle_frontier_t *f)
{
    memset(f, 0, sizeof *f);
}

bool ics_merkle_frontier_push(ics_merkle_frontier_t *f,
                              const uint8_t leaf_hash[ICS_MERKLE_HASH_BYTES])
{
    uint8_t carry[ICS_MERKLE_HASH_BYTES];
    unsigned level = 0;

    if (f->size == UINT64_MAX)
        return false;
    memcpy(carry, leaf_hash, sizeof carry);
    while ((f->size >> level) & 1) {
        ics_merkle_node_hash(f->hash[level], carry, carry);
        level++;
    }
    assert(level < ICS_MERKLE_LEVELS);
    memcpy(f->hash[level], carry, sizeof carry);
    f->size++;
    return true;
}

void ics_merkle_frontier_root(const ics_merkle_frontier_t *f, uint8_t out[ICS_MERKLE_HASH_BYTES])
{
    bool have = false;

    if (f->size == 0) {
        ics_merkle_empty_root(out);
        return;
    }
    for (unsigned level = 0; level < ICS_MERKLE_LEVELS; level++) {
        if (!((f->size >> level) & 1))
            continue;
        if (have) {
            ics_merkle_node_hash(f->hash[level], out, out);
        } else {
            memcpy(out, f->hash[level], ICS_MERKLE_HASH_BYTES);
            have = true;
        }
    }
}
