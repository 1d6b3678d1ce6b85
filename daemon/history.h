/*
 * The audit history of one group on disk: every applied entry with its
 * verdict, reason, log clock and chain head, and the Merkle tree over them,
 * append-only, never part of a raft snapshot (docs/log-format.md, "History
 * and backfill").
 *
 * The state machine keeps only the current state and the chain head; this
 * store keeps the past. A node that installs a snapshot at position P while
 * it holds history only up to Q < P has a gap (Q, P]: it is filled from
 * peers, newest first, in chunks that are verified against the chain the
 * snapshot vouches for before a single row is stored.
 *
 * Not thread-safe: the event loop owns it.
 */
#ifndef ICS_HISTORY_H
#define ICS_HISTORY_H

#include <stdio.h>

#include "common/ics.h"
#include "common/logverify.h"
#include "common/receipt.h"
#include "fsm/fsm.h"
#include "ics/v1/wire.pb-c.h"

typedef struct ics_history ics_history_t;

/* Opens (creating) the history of group at path; path NULL keeps it in
 * memory (tests). NULL with err set if the file is not a history of this
 * group or cannot be opened. The caller closes it. */
ics_history_t *ics_history_open(const char *path, const char *group, ics_err_t *err);

/* Commits what is pending (without forcing it to disk) and closes. Accepts
 * NULL; sets *self_p to NULL. */
void ics_history_close(ics_history_t **self_p);

/* Records an applied entry (res->envelope must be set; duplicates are
 * ignored). Writes join the open transaction: they are durable after the
 * next ics_history_commit() with sync, visible to reads at once. An entry
 * already held is compared instead: ICS_OK if it agrees, ICS_EINVAL (and a
 * logged error) if this node's history disagrees with its own log. */
int ics_history_append(ics_history_t *self, const ics_apply_result_t *res);

/* The state machine now stands at position with chain head chain and log
 * clock clock_ms (a snapshot was restored): positions after the last one
 * held, up to position, become a gap to backfill. ICS_EINVAL if a held
 * entry at position has another chain (logged). */
int ics_history_restored(ics_history_t *self, uint64_t position,
                         const uint8_t chain[ICS_CHAIN_BYTES], uint64_t clock_ms);

/* Group commit: ends the open transaction. sync true forces it to stable
 * storage (before raft persists a snapshot that no longer replays these
 * entries). ICS_OK or ICS_EIO. */
int ics_history_commit(ics_history_t *self, bool sync);

/* The group commit at the end of a loop turn: commits (without sync) once
 * the open transaction is large or old enough (an idle node's within about
 * a second, the loop's longest wait); until then its writes wait for more
 * to share their pages. Nothing waits on it: reads see the open
 * transaction, and raft replays whatever a crash loses. ICS_OK or ICS_EIO. */
int ics_history_flush(ics_history_t *self);

/* After a failed write (a full disk, an I/O error): drops whatever was not
 * committed and reads the top back from disk, so that the entries lost are
 * appended again when raft replays them (group.c reopens raft from disk).
 * ICS_OK, or ICS_EIO with err set if the file cannot be read. */
int ics_history_resync(ics_history_t *self, ics_err_t *err);

/* Highest position known (held, or vouched for by a restored snapshot). */
uint64_t ics_history_top(const ics_history_t *self);

/* The highest gap: positions lo..hi missing, chain at hi known. false when
 * the history is complete. */
bool ics_history_gap(ics_history_t *self, uint64_t *lo, uint64_t *hi);
/* Entries missing over all gaps. */
uint64_t ics_history_missing(ics_history_t *self);

/* The Merkle tree over the audit entries (docs/log-format.md, section 4a).
 * Its size is the number of entries held from position 1 without a gap:
 * the top, or the position below the lowest gap while a backfill runs. */
uint64_t ics_history_tree_size(ics_history_t *self);
/* The root of the tree of the first size entries. ICS_EUNAVAIL if size is
 * above the tree size, ICS_EIO on database failure. */
int ics_history_tree_root(ics_history_t *self, uint64_t size,
                          uint8_t root[ICS_MERKLE_HASH_BYTES]);
/* RFC 9162 inclusion proof of position (1-based) in the tree of size
 * entries; consistency proof of the tree of old_size entries in that of
 * size. ICS_EINVAL for positions or sizes out of order, ICS_EUNAVAIL above
 * the tree size, ICS_EIO on database failure. */
int ics_history_inclusion(ics_history_t *self, uint64_t position, uint64_t size,
                          ics_merkle_hash_t proof[ICS_MERKLE_PROOF_MAX], size_t *len);
int ics_history_consistency(ics_history_t *self, uint64_t old_size, uint64_t size,
                            ics_merkle_hash_t proof[ICS_MERKLE_PROOF_MAX], size_t *len);

/* The positions (ascending, at most upto) of the accepted membership
 * entries held: the genesis, additions, removals and key rotations.
 * *positions malloc'd (caller frees). ICS_OK, ICS_ENOMEM or ICS_EIO. */
int ics_history_keyed(ics_history_t *self, uint64_t upto, uint64_t **positions, size_t *n);
/* The members, their keys, roles and endpoints as the membership entries
 * held up to upto leave them, replayed in log order (receipt.h). ICS_OK
 * (ks->genesis false if none is held); ICS_EIO with err saying which entry
 * is missing or cannot be replayed. */
int ics_history_keyset(ics_history_t *self, uint64_t upto, ics_keyset_t *ks, ics_err_t *err);

/* May this node cosign the tree head (size, root), having cosigned
 * (last, last_root) before (last 0: nothing)? Only if it is this
 * history's head and consistent with the earlier one: a consistency proof
 * from this history, checked as a verifier would. ICS_OK; ICS_EINVAL with
 * err saying why not; ICS_EUNAVAIL if the history does not reach size;
 * ICS_EIO on database failure. */
int ics_history_may_cosign(ics_history_t *self, uint64_t size, const uint8_t root[32],
                           uint64_t last, const uint8_t last_root[32], ics_err_t *err);

/* The latest tree head a node cosigned for group, in a file of its own
 * beside the history (so that moving history.db away to fetch it again
 * does not forget it): "icsd-cosigned 1 <group> <size> <root hex>\n".
 * Read: ICS_ENOENT if there is none, ICS_EINVAL if the file is not one.
 * Write: replaces it atomically and durably. */
int ics_cosigned_read(const char *path, const char *group, uint64_t *size, uint8_t root[32],
                      ics_err_t *err);
int ics_cosigned_write(const char *path, const char *group, uint64_t size, const uint8_t root[32],
                       ics_err_t *err);

/* One entry; out->envelope is malloc'd (caller frees). ICS_ENOENT if not
 * held. */
int ics_history_entry(ics_history_t *self, uint64_t position, ics_log_entry_t *out);

/* The result a verified (org, seq) got when it was applied. ICS_ENOENT if
 * not held. */
int ics_history_lookup(ics_history_t *self, const char *org, uint64_t seq,
                       ics_apply_result_t *res);

/* Writes the whole log in the export format. ICS_EUNAVAIL with err naming
 * the missing positions while a gap remains. */
int ics_history_export(ics_history_t *self, FILE *out, ics_err_t *err);

/* Backfill, serving side: a packed ics.v1.HistoryChunk holding the entries
 * from at least `first` up to `last` that fit in max_bytes (newest kept,
 * at least one), with the chain before them. A chunk with its error field
 * set when `last` is not held with its predecessor. *buf malloc'd. */
int ics_history_serve(ics_history_t *self, uint64_t request_id, uint64_t first, uint64_t last,
                      size_t max_bytes, uint8_t **buf, size_t *len);

/* Backfill, receiving side: checks a packed HistoryChunk against the
 * highest gap (it must end at the gap's top and its chain, recomputed from
 * prev_chain over every entry, must reach the chain known there) and only
 * then stores it and narrows the gap. ICS_OK (*stored says how many);
 * ICS_EINVAL/ICS_EMALFORMED with err saying what was wrong: the peer is not
 * to be trusted for this range. *request_id from the chunk. */
int ics_history_fill(ics_history_t *self, const uint8_t *buf, size_t len,
                     uint64_t *request_id, size_t *stored, ics_err_t *err);
/* The same for a chunk already decoded (a frame's). */
int ics_history_fill_chunk(ics_history_t *self, const Ics__V1__HistoryChunk *chunk,
                           size_t *stored, ics_err_t *err);

/* Reads back up to max_entries held entries after the last one checked
 * (from position 1 again after the top) and recomputes their chain. An entry
 * whose bytes no longer give the chain stored with it (corruption at rest)
 * is repaired: its chain column from its neighbours when only that is wrong,
 * otherwise it is dropped and becomes a gap backfilled from peers like any
 * other. Returns ICS_OK, ICS_EINVAL if corruption was found (logged, counted;
 * *position the first), ICS_EIO on database failure. */
int ics_history_scrub(ics_history_t *self, size_t max_entries, uint64_t *position);

typedef struct {
    uint64_t appended, compared, diverged;   /* applied entries */
    uint64_t scrubbed, corrupt, repaired;    /* read back; found corrupt; chain columns fixed */
    uint64_t scrub_passes;                   /* whole passes over the history */
    uint64_t filled, bad_chunks, chunks;     /* backfill */
    uint64_t commits, commit_us_max;
} ics_history_stats_t;
ics_history_stats_t ics_history_stats(const ics_history_t *self);

#endif
