/*
 * icsd's struct raft_io: raft messages travel as wire frames over the CURVE
 * transport; term, vote, entries and snapshots live in the SQLite store.
 */
#ifndef ICS_RAFTIO_H
#define ICS_RAFTIO_H

#include <raft.h>
#include "ics/v1/wire.pb-c.h"
#include "common/ics.h"
#include "metrics.h"
#include "store.h"

typedef struct ics_raftio ics_raftio_t;

/* Sends an encoded wire frame to the organisation named by a raft address.
 * Returns 0 if queued. */
typedef int (*ics_raftio_send_fn)(void *arg, const char *to_org, const uint8_t *frame,
                                  size_t len);

/* Largest snapshot a receiver reassembles by default: a transfer that
 * announces more is refused chunk by chunk, and a sender does not start one. */
#define ICS_RAFTIO_SNAPSHOT_MAX ((uint64_t)1 << 30)
/* A transfer that has had no chunk for this long is dropped by default. */
#define ICS_RAFTIO_TRANSFER_STALL_MS 10000u

/* The store stays owned by the caller and must outlive the io. max_frame is
 * the transport's max_message_bytes: no frame handed to send is longer. An
 * InstallSnapshot is sent in as many chunks as that takes, an AppendEntries
 * carries only the entries that fit. */
ics_raftio_t *ics_raftio_new(const char *group, ics_store_t *store, size_t max_frame,
                             ics_raftio_send_fn send, void *send_arg);
void ics_raftio_destroy(ics_raftio_t **self_p);
struct raft_io *ics_raftio_io(ics_raftio_t *self);
/* The raftio behind an io made by ics_raftio_new (e.g. struct raft's io). */
ics_raftio_t *ics_raftio_of(struct raft_io *io);

/* Receiver limits on snapshot transfers: the largest snapshot reassembled
 * (and sent) and how long a transfer may wait for its next chunk. */
void ics_raftio_set_transfer_limits(ics_raftio_t *self, uint64_t snapshot_max,
                                    unsigned stall_ms);

/* What a peer may send (docs/raft-0.15-notes.md, "What a peer may send").
 * A message whose term is more than TERM_AHEAD_MAX past ours is dropped:
 * with pre-vote a term moves only with a real election, and no group
 * holds a million elections while one of its members is away. Every index
 * a message names is below INDEX_MAX (a thousand entries a second for
 * 8,900 years). */
#define ICS_RAFTIO_TERM_AHEAD_MAX ((uint64_t)1 << 20)
#define ICS_RAFTIO_INDEX_MAX ((uint64_t)1 << 48)
/* The largest barrier entry: raft 0.15 writes 8 bytes. */
#define ICS_RAFTIO_BARRIER_MAX 8u

/* Delivers a raft message received from peer `from` (its raft address).
 * Takes what raft takes: decoded entries and snapshot data are handed over.
 * The message is checked first against what a peer may send; one that
 * fails is dropped, counted by reason (stats.invalid), logged (rate-limited)
 * and reported to the invalid callback, and raft never sees it. */
void ics_raftio_deliver(ics_raftio_t *self, const char *from, const Ics__V1__RaftMessage *m);

/* Whether COMMAND entries must be envelopes of the group (on by default).
 * Off only where commands are something else: raftio's own tests. */
void ics_raftio_set_envelope_check(ics_raftio_t *self, bool on);

/* Told of every raft message from a peer that was dropped as invalid. */
typedef void (*ics_raftio_invalid_fn)(void *arg, const char *from, ics_invalid_t why);
void ics_raftio_set_invalid_fn(ics_raftio_t *self, ics_raftio_invalid_fn fn, void *arg);
/* Gives self the invalid-message callback from (an io it replaces, e.g.
 * after the group reopened its storage). from may be NULL. */
void ics_raftio_inherit_invalid_fn(ics_raftio_t *self, const ics_raftio_t *from);

/* Runs due ticks and drops stalled snapshot transfers. Returns ms until the
 * next tick. */
unsigned ics_raftio_tick(ics_raftio_t *self);

/* Group commit: writes every queued append/truncate/snapshot in one
 * transaction, then fires the callbacks in order. Call once per loop turn.
 * Returns true if anything was flushed. */
bool ics_raftio_flush(ics_raftio_t *self);

/* Leader: entry index carries a submission of org's, a peer (one this io
 * has exchanged raft messages with; any other org is ignored), which
 * waits until org learns that the entry is committed. */
void ics_raftio_owed(ics_raftio_t *self, const char *org, raft_index index);

/* Leader: the peers that hold the newest entry owed to them, committed by
 * `commit`, without having been sent an AppendEntries from which they can
 * learn so (they would learn at the next one, which raft 0.15 sends only
 * for new entries or at the next heartbeat). Writes at most max of their
 * addresses (valid while the io is) to out and returns how many. Each peer
 * counts once for each such entry: it is taken as told from then on. */
size_t ics_raftio_commit_unseen(ics_raftio_t *self, raft_index commit, const char *out[],
                                size_t max);

/* Runs raft's tick now, outside its schedule. raft's timers compare
 * times, so nothing that is not due happens. */
void ics_raftio_tick_now(ics_raftio_t *self);

/* Whether a storage operation (load, append, truncate, snapshot put or get,
 * term, vote) has failed on this io. raft 0.15 keeps entries whose append
 * failed in memory, so from then on its log and the disk disagree: the
 * owner closes raft and opens it again from disk on a new io (group.c).
 * why (may be NULL) gets the first failure's message, whole. */
bool ics_raftio_failed(const ics_raftio_t *self, char *why, size_t size);

/* Raft server id for an organisation: stable across nodes. */
raft_id ics_raft_id(const char *org);

typedef struct {
    uint64_t appends, append_entries, flushes, sends, send_failures;
    uint64_t flush_us_total, flush_us_max;
    /* Sending under max_frame. */
    uint64_t append_capped;   /* AppendEntries cut to the prefix of entries that fits */
    uint64_t oversize;        /* messages that cannot fit in a frame: not sent */
    uint64_t snapshot_sends;  /* snapshots whose every chunk was queued */
    uint64_t snapshot_chunks_sent;
    uint64_t snapshot_fail_unreachable; /* the transport refused a chunk */
    uint64_t snapshot_fail_too_big;     /* over the receivers' snapshot_max */
    uint64_t snapshot_fail_no_memory;
    /* Receiving snapshot transfers. */
    uint64_t snapshot_chunks_received;  /* accepted into a transfer */
    uint64_t snapshots_received;        /* reassembled and handed to raft */
    uint64_t chunks_dropped_unknown;    /* no such transfer from that peer (old, replaced) */
    uint64_t chunks_dropped_order;      /* not at the offset expected next */
    uint64_t chunks_dropped_invalid;    /* malformed, or disagrees with its transfer */
    uint64_t chunks_dropped_too_big;    /* announces more than snapshot_max */
    uint64_t transfers_stalled;         /* dropped: no chunk within stall_ms */
    uint64_t transfers_replaced;        /* dropped: the peer started another */
    uint64_t transfers_no_memory;       /* dropped: could not grow the buffer */
    /* Messages from peers dropped as invalid, by reason (ics_invalid_t). */
    uint64_t invalid[ICS_INVALID_REASONS];
} ics_raftio_stats_t;
ics_raftio_stats_t ics_raftio_stats(const ics_raftio_t *self);

/* The current term as stored: what load found, then each set_term that
 * succeeded. raft 0.15 updates its current term only after set_term has
 * returned 0, so this is raft's term, and it stays readable once raft is
 * closed (0 before a load). */
raft_term ics_raftio_term(const ics_raftio_t *self);

#endif
