/*
 * The outbox: every envelope this node signs for its own organisation, kept
 * by the submission's token from before it is first sent until the state
 * machine has applied it, so that retries resend the same bytes and a client
 * retry with the same token maps to the same seq. One SQLite file per group
 * (WAL, synchronous=FULL). Not thread-safe: one owner at a time.
 *
 * Stored before sent: ics_outbox_put only buffers a row in an open batch;
 * ics_outbox_commit makes every buffered row durable with one fsync. An
 * envelope may leave the node (raft_apply, a Forward frame) only after the
 * commit following its put has returned ICS_OK. The event loop commits once
 * per turn, before the turn's proposals and forwards go out.
 */
#ifndef ICS_OUTBOX_H
#define ICS_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "common/ics.h"

typedef struct ics_outbox ics_outbox_t;

#define ICS_OUTBOX_RETAIN 100000u
#define ICS_OUTBOX_WINDOW 1024u
#define ICS_OUTBOX_PRUNE_EVERY 1024u

/* Zero fields take the defaults above. */
typedef struct {
    /* Tokens remembered: those of the newest `retain` seqs. Older tokens are
     * forgotten once applied, so a retry that late starts a new
     * submission. */
    uint64_t retain;
    /* The state machine's replay window: a seq more than `window` below the
     * highest applied seq of the organisation is rejected, so its envelope
     * is of no more use and is dropped. */
    uint64_t window;
    /* Applied marks between two prunes (and between two commits of marks
     * alone, which need no fsync of their own). */
    unsigned prune_every;
} ics_outbox_opts_t;

/* Opens or creates the outbox at path; an outbox of the earlier unversioned
 * schema is migrated. opts may be NULL. Returns NULL with err set if the
 * file cannot be opened or is not an outbox. */
ics_outbox_t *ics_outbox_open(const char *path, const ics_outbox_opts_t *opts,
                              ics_err_t *err);

/* Commits what is buffered, then closes; accepts NULL; sets *self_p to NULL. */
void ics_outbox_close(ics_outbox_t **self_p);

/* The submission stored under token, committed or not. ICS_OK with *seq
 * and a malloc'd copy of its envelope (the caller frees it), or with *env
 * NULL and *env_len 0 once the envelope was dropped (applied, or beyond the
 * replay window): the state machine then holds the answer. ICS_ENOENT if
 * the token is unknown or forgotten. */
int ics_outbox_find(ics_outbox_t *self, const uint8_t *token, size_t token_len,
                    uint64_t *seq, uint8_t **env, size_t *env_len, ics_err_t *err);

/* Buffers token -> (seq, envelope); durable only once ics_outbox_commit
 * returns ICS_OK. ICS_EEXIST if the token or the seq is already stored.
 * The bytes are copied. */
int ics_outbox_put(ics_outbox_t *self, const uint8_t *token, size_t token_len, uint64_t seq,
                   const uint8_t *env, size_t env_len, ics_err_t *err);

/* Group commit: every put since the last commit reaches the disk in one
 * fsync'd transaction, together with the applied marks and any prune that
 * is due. Without puts, marks wait (see prune_every) and nothing is
 * written. On failure every put since the last successful commit is lost:
 * the caller must not send those envelopes and fails their submissions. */
int ics_outbox_commit(ics_outbox_t *self, ics_err_t *err);

/* Highest seq stored, committed or not; 0 if none. Tokens are forgotten
 * oldest first, so the highest seq is never forgotten. */
int ics_outbox_max_seq(ics_outbox_t *self, uint64_t *seq, ics_err_t *err);

/* The state machine applied this node's submission seq (accepted or
 * rejected). Its envelope is dropped, its token kept; every prune_every
 * marks, tokens beyond retain and envelopes beyond the replay window are
 * pruned at the next commit. Idempotent; unknown seqs are ignored. */
int ics_outbox_applied(ics_outbox_t *self, uint64_t seq, ics_err_t *err);

/* In flight: the lowest seq whose envelope is still held and still inside
 * the replay window (0 if none), and, when env is not NULL, a malloc'd copy
 * of that envelope. A new seq s keeps every submission in flight applicable
 * while s - *seq <= window. A seq whose mark was lost (a crash before the
 * marks were committed) shows up here until marked again: check it against
 * the state machine before refusing work because of it. */
int ics_outbox_oldest_unapplied(ics_outbox_t *self, uint64_t *seq, uint8_t **env,
                                size_t *env_len, ics_err_t *err);

#endif
