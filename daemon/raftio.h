/*
 * icsd's struct raft_io: raft messages travel as wire frames over the CURVE
 * transport; term, vote, entries and snapshots live in the SQLite store.
 */
#ifndef ICS_RAFTIO_H
#define ICS_RAFTIO_H

#include <raft.h>
#include "ics/v1/wire.pb-c.h"
#include "common/ics.h"
#include "store.h"

typedef struct ics_raftio ics_raftio_t;

/* Sends an encoded wire frame to the organisation named by a raft address.
 * Returns 0 if queued. */
typedef int (*ics_raftio_send_fn)(void *arg, const char *to_org, const uint8_t *frame,
                                  size_t len);

/* The store stays owned by the caller and must outlive the io. */
ics_raftio_t *ics_raftio_new(const char *group, ics_store_t *store,
                             ics_raftio_send_fn send, void *send_arg);
void ics_raftio_destroy(ics_raftio_t **self_p);
struct raft_io *ics_raftio_io(ics_raftio_t *self);

/* Delivers a raft message received from peer `from` (its raft address).
 * Takes what raft takes: decoded entries and snapshot data are handed over. */
void ics_raftio_deliver(ics_raftio_t *self, const char *from, const Ics__V1__RaftMessage *m);

/* Runs due ticks. Returns ms until the next tick. */
unsigned ics_raftio_tick(ics_raftio_t *self);

/* Group commit: writes every queued append/truncate/snapshot in one
 * transaction, then fires the callbacks in order. Call once per loop turn.
 * Returns true if anything was flushed. */
bool ics_raftio_flush(ics_raftio_t *self);

/* Raft server id for an organisation: stable across nodes. */
raft_id ics_raft_id(const char *org);

typedef struct {
    uint64_t appends, append_entries, flushes, sends, send_failures;
    uint64_t flush_us_total, flush_us_max;
} ics_raftio_stats_t;
ics_raftio_stats_t ics_raftio_stats(const ics_raftio_t *self);

#endif
