/*
 * Counters and histograms the node keeps for /metrics. Plain structs,
 * updated on the event loop thread only.
 */
#ifndef ICS_METRICS_H
#define ICS_METRICS_H

#include <stdint.h>
#include <stdio.h>

#define ICS_HIST_BUCKETS 14

/* Latency histogram with fixed bounds in microseconds (see metrics.c). */
typedef struct {
    uint64_t counts[ICS_HIST_BUCKETS]; /* cumulative per bound, last is +Inf */
    uint64_t sum_us;
    uint64_t n;
} ics_hist_t;

void ics_hist_add(ics_hist_t *h, uint64_t us);
/* Writes name_bucket/_sum/_count lines (seconds, Prometheus convention). */
void ics_hist_write(FILE *out, const char *name, const char *labels, const ics_hist_t *h);
/* p in 0..100: upper bound of the bucket holding that percentile, in us. */
uint64_t ics_hist_percentile(const ics_hist_t *h, unsigned p);

/* Rejections counted by reason code: one of a fixed set, derived from the
 * reason's text by ics_reason_code(). The text itself names people, ids
 * and values, which a metric label must not carry (unbounded, personal). */
#define ICS_REASON_CODES 13
typedef struct {
    uint64_t count[ICS_REASON_CODES]; /* by code, in ics_reason_code_name order */
} ics_reasons_t;

void ics_reasons_add(ics_reasons_t *r, const char *reason);
uint64_t ics_reasons_total(const ics_reasons_t *r);
/* The code of a rejection reason, e.g. "not_permitted", "not_found",
 * "invalid"; "other" when no rule matches. Never NULL. */
const char *ics_reason_code(const char *reason);
/* i < ICS_REASON_CODES */
const char *ics_reason_code_name(size_t i);

/* Why a frame from a peer was found invalid: the reason label of
 * icsd_peer_invalid_frames_total. A fixed set, so the label stays bounded
 * whatever a peer sends. The node (frames), raftio (raft messages) and
 * the transport (which counts them per peer) share it. */
typedef enum {
    ICS_INVALID_FRAME,         /* does not decode, or another wire version */
    ICS_INVALID_SIGNATURE,     /* a ping or pong not signed by its sender for us */
    ICS_INVALID_RAFT_MESSAGE,  /* raft message type unknown or not its body's, or a
                                  field outside its range */
    ICS_INVALID_TERM,          /* term 0, too far ahead of ours, or an inner term past it */
    ICS_INVALID_INDEX,         /* an index out of bounds or inconsistent */
    ICS_INVALID_ENTRY,         /* an entry of no known type, oversize, not an envelope
                                  of the group, or a malformed barrier; a forwarded
                                  submission that is not the sender's envelope */
    ICS_INVALID_CONFIGURATION, /* a configuration entry or snapshot configuration */
    ICS_INVALID_SNAPSHOT,      /* a snapshot chunk that is malformed or not a snapshot */
    ICS_INVALID_COMMITTED,     /* contradicts an entry committed here */
    ICS_INVALID_LEADER,        /* claims a term this node leads; TimeoutNow not from the
                                  leader */
    ICS_INVALID_REASONS
} ics_invalid_t;

/* The label value of a reason, e.g. "term"; "other" out of range. */
const char *ics_invalid_name(ics_invalid_t why);

#endif
