/*
 * The Merkle tree of RFC 6962 / RFC 9162 section 2.1 over SHA-256: tree
 * heads (roots), inclusion proofs and consistency proofs, and their
 * verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2). Pure: no I/O, no
 * allocation. Trees are read through a callback that returns the hash of a
 * complete aligned subtree, so the same code serves a tree kept in memory,
 * one stored on disk (daemon/history.c) and one rebuilt by a verifier.
 *
 * Indices are 0-based leaf indices (the audit position minus one); sizes
 * are leaf counts. docs/log-format.md section 4a says which bytes are a leaf.
 */
#ifndef ICS_MERKLE_H
#define ICS_MERKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ICS_MERKLE_HASH_BYTES 32
/* Hashes in any inclusion or consistency proof of a tree below 2^64 leaves. */
#define ICS_MERKLE_PROOF_MAX 65
/* Levels of a tree below 2^64 leaves: the frontier's room. */
#define ICS_MERKLE_LEVELS 64

typedef uint8_t ics_merkle_hash_t[ICS_MERKLE_HASH_BYTES];

/* SHA-256(0x00 || data): the hash of a leaf. */
void ics_merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[ICS_MERKLE_HASH_BYTES]);

/* SHA-256(0x01 || left || right). out may alias either input. */
void ics_merkle_node_hash(const uint8_t left[ICS_MERKLE_HASH_BYTES],
                          const uint8_t right[ICS_MERKLE_HASH_BYTES],
                          uint8_t out[ICS_MERKLE_HASH_BYTES]);

/* SHA-256 of nothing: the root of the empty tree. */
void ics_merkle_empty_root(uint8_t out[ICS_MERKLE_HASH_BYTES]);

/* The hash of the complete subtree of 2^level leaves starting at leaf
 * index << level. Returns 0 (ICS_OK) or a negative ICS_E* code, which the
 * functions below pass on. */
typedef int (*ics_merkle_node_fn)(void *ctx, unsigned level, uint64_t index,
                                  uint8_t out[ICS_MERKLE_HASH_BYTES]);

/* MTH(D[0:size]); size 0 gives the empty root. Reads at most 64 nodes. */
int ics_merkle_root(ics_merkle_node_fn node, void *ctx, uint64_t size,
                    uint8_t out[ICS_MERKLE_HASH_BYTES]);

/* PATH(index, D[0:size]) of RFC 9162 section 2.1.3.1, at most 64 hashes
 * into proof (ICS_MERKLE_PROOF_MAX room), *len set. ICS_EINVAL unless
 * index < size. */
int ics_merkle_inclusion_proof(ics_merkle_node_fn node, void *ctx, uint64_t index, uint64_t size,
                               ics_merkle_hash_t proof[ICS_MERKLE_PROOF_MAX], size_t *len);

/* PROOF(old_size, D[0:size]) of RFC 9162 section 2.1.4.1; empty when
 * old_size == size. ICS_EINVAL unless 0 < old_size <= size. */
int ics_merkle_consistency_proof(ics_merkle_node_fn node, void *ctx, uint64_t old_size,
                                 uint64_t size, ics_merkle_hash_t proof[ICS_MERKLE_PROOF_MAX],
                                 size_t *len);

/* The root a proof leads to from the leaf with hash leaf_hash at index in
 * a tree of size (RFC 9162 section 2.1.3.2 without the final compare):
 * false when index >= size or the proof is not exactly as long as that
 * shape needs (ics_merkle_inclusion_len). */
bool ics_merkle_inclusion_root(const uint8_t leaf_hash[ICS_MERKLE_HASH_BYTES], uint64_t index,
                               uint64_t size, const ics_merkle_hash_t *proof, size_t len,
                               uint8_t root[ICS_MERKLE_HASH_BYTES]);

/* The number of hashes in PATH(index, D[0:size]); 0 when index >= size. */
size_t ics_merkle_inclusion_len(uint64_t index, uint64_t size);

/* RFC 9162 section 2.1.3.2: true when proof shows the leaf with hash
 * leaf_hash at index in the tree of size with root. */
bool ics_merkle_verify_inclusion(const uint8_t leaf_hash[ICS_MERKLE_HASH_BYTES], uint64_t index,
                                 uint64_t size, const ics_merkle_hash_t *proof, size_t len,
                                 const uint8_t root[ICS_MERKLE_HASH_BYTES]);

/* RFC 9162 section 2.1.4.2: true when proof shows the tree of old_size
 * leaves with old_root is a prefix of the tree of size leaves with root.
 * old_size == size needs an empty proof and equal roots; old_size 0 is
 * refused (there is nothing to be consistent with). */
bool ics_merkle_verify_consistency(uint64_t old_size, uint64_t size,
                                   const uint8_t old_root[ICS_MERKLE_HASH_BYTES],
                                   const uint8_t root[ICS_MERKLE_HASH_BYTES],
                                   const ics_merkle_hash_t *proof, size_t len);

/* The compact range [0, size): the root of each complete subtree in the
 * binary decomposition of size, hash[level] valid when bit level of size is
 * set. Enough to append a leaf and give the root, in O(log size). */
typedef struct {
    uint64_t size;
    ics_merkle_hash_t hash[ICS_MERKLE_LEVELS];
} ics_merkle_frontier_t;

void ics_merkle_frontier_init(ics_merkle_frontier_t *f);
/* Appends a leaf by its hash. false (and f unchanged) at 2^64 - 1 leaves. */
bool ics_merkle_frontier_push(ics_merkle_frontier_t *f,
                              const uint8_t leaf_hash[ICS_MERKLE_HASH_BYTES]);
void ics_merkle_frontier_root(const ics_merkle_frontier_t *f, uint8_t out[ICS_MERKLE_HASH_BYTES]);

#endif
