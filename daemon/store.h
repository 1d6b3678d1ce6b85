/*
 * Durable raft storage: term, vote, log entries and the latest snapshot in
 * one SQLite database (WAL, synchronous=FULL; files shrink again after a
 * snapshot put). Every entry and the snapshot carry a checksum, checked
 * when they are read: corruption at rest is refused (ICS_EMALFORMED, with
 * ICS_STORE_RECOVERY in the message), never served. It backs the raft_io load,
 * bootstrap, set_term, set_vote, append, truncate, snapshot_put and
 * snapshot_get operations. Not thread-safe: one owner at a time.
 */
#ifndef ICS_STORE_H
#define ICS_STORE_H

#include <raft.h>

#include "common/ics.h"

typedef struct ics_store ics_store_t;

/* How to recover from a damaged store, ending every message that says so. */
#define ICS_STORE_RECOVERY                                                               \
    "stop icsd, move this group's data directory away and start icsd again: the node "   \
    "resyncs the group from its partners (README, \"Storage faults and recovery\")"

/* Opens or creates the database at path (creating the schema if new).
 * Returns NULL with err set on failure. */
ics_store_t *ics_store_open(const char *path, ics_err_t *err);

/* Rolls back any open batch and closes; accepts NULL; sets *self_p to NULL. */
void ics_store_close(ics_store_t **self_p);

/* Waits (timeout_ms at most) until the WAL checkpoint running or asked for
 * on the checkpointer's thread is done; false on timeout. The WAL is cut
 * to nothing at the commit after that (walckpt.h). For tests. */
bool ics_store_settle(ics_store_t *self, unsigned timeout_ms);

/* Term 0, no entries, no snapshot. False as well if the database cannot be
 * read (the error is logged), so a failing store is never bootstrapped. */
bool ics_store_pristine(ics_store_t *self);

/* Loads everything for raft_io->load. Memory follows canonical raft's
 * ownership rules: *snapshot (NULL if none) is raft_malloc'd with its
 * configuration built by raft_configuration_add and exactly one raft_malloc'd
 * buffer in a raft_malloc'd bufs array; *entries is a raft_malloc'd array
 * whose data all live in one raft_malloc'd batch, each entries[i].batch
 * pointing at it (*entries NULL when *n_entries is 0). *start_index is the
 * index of the first returned entry: snapshot->index + 1 when there is a
 * snapshot and no entry after it, 1 when nothing is stored. */
int ics_store_load(ics_store_t *self, raft_term *term, raft_id *voted_for,
                   struct raft_snapshot **snapshot, raft_index *start_index,
                   struct raft_entry **entries, size_t *n_entries, ics_err_t *err);

/* Sets the term and clears the vote. Durable on return; refused (ICS_EINVAL)
 * inside a batch, where it could not be. */
int ics_store_set_term(ics_store_t *self, raft_term term, ics_err_t *err);

/* Durable on return; refused (ICS_EINVAL) inside a batch. */
int ics_store_set_vote(ics_store_t *self, raft_id id, ics_err_t *err);

/* Group commit: bracket a batch of append/truncate/snapshot_put calls so they
 * reach the disk in one fsync'd transaction. Each call in a batch is atomic
 * by itself, so after one fails the caller may still commit the others or
 * roll the whole batch back. If commit fails the batch is rolled back.
 * rollback is a no-op when no batch is open. Outside a batch every call is
 * its own durable transaction. */
int ics_store_begin(ics_store_t *self, ics_err_t *err);
int ics_store_commit(ics_store_t *self, ics_err_t *err);
void ics_store_rollback(ics_store_t *self);

/* Stores n entries at indexes first..first+n-1, replacing any stored entry at
 * those indexes. first must not leave a gap after the last index. */
int ics_store_append(ics_store_t *self, raft_index first,
                     const struct raft_entry *entries, unsigned n, ics_err_t *err);

/* Deletes every entry with index >= index. */
int ics_store_truncate(ics_store_t *self, raft_index index, ics_err_t *err);

/* Stores the snapshot, replacing the previous one. Its data is the
 * concatenation of snapshot->bufs[0..n_bufs-1]. Then deletes entries: all of
 * them when trailing == 0 (an installed snapshot replaces the whole log),
 * otherwise those with index <= snapshot->index - trailing (none if
 * snapshot->index <= trailing). The space freed goes back to the filesystem,
 * and once the call is committed (on return outside a batch, in
 * ics_store_commit inside one) the WAL is checkpointed and truncated. */
int ics_store_snapshot_put(ics_store_t *self, const struct raft_snapshot *snapshot,
                           unsigned trailing, ics_err_t *err);

/* Latest snapshot, allocated as in ics_store_load (the caller or raft frees
 * it); *out is NULL if there is none. */
int ics_store_snapshot_get(ics_store_t *self, struct raft_snapshot **out,
                           ics_err_t *err);

/* For raft_io->bootstrap: ICS_EEXIST unless pristine; otherwise sets term 1
 * and stores entry 1, a RAFT_CHANGE carrying raft_configuration_encode(conf).
 * Durable on return; refused (ICS_EINVAL) inside a batch. */
int ics_store_bootstrap(ics_store_t *self, const struct raft_configuration *conf,
                        ics_err_t *err);

/* True once a checksum failed or SQLite found the file damaged: the store
 * must not be served from (the error said how to recover). */
bool ics_store_corrupt(const ics_store_t *self);

/* Writes and syncs a no-op change: ICS_OK when the file can be written
 * again after a failure (a full disk, an I/O error). */
int ics_store_probe(ics_store_t *self, ics_err_t *err);

/* Index of the last stored entry, else the snapshot's index, else 0. Also 0
 * if the database cannot be read (the error is logged). */
raft_index ics_store_last_index(ics_store_t *self);

#endif
