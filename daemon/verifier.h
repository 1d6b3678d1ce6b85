/*
 * Signature checks ahead of apply, on threads of their own.
 *
 * The state machine verifies every envelope as it applies it, on the
 * node's one loop thread. But a node holds most envelopes well before it
 * applies them: a follower receives entries in AppendEntries at least a
 * round trip before it learns they are committed, and a leader receives a
 * forwarded envelope before it proposes it. The group hands each such
 * signature here; a verifier thread checks it, and the signature memo
 * (common/sigmemo.h) records it if it verifies, so that apply finds it
 * there instead of verifying on the loop. Nothing waits for the verifier:
 * a full queue drops the job, and apply verifies whatever the memo lacks.
 */
#ifndef ICS_VERIFIER_H
#define ICS_VERIFIER_H

#include "common/keys.h"
#include "ics/v1/command.pb-c.h"
#include "ics/v1/envelope.pb-c.h"

typedef struct ics_verifier ics_verifier_t;

typedef struct {
    uint64_t queued;   /* jobs taken */
    uint64_t dropped;  /* refused: the queue was full */
    uint64_t valid;    /* checked, and verified */
    uint64_t invalid;  /* checked, and did not verify (apply will reject it) */
    uint64_t repeated; /* not queued: a sealed batch's next envelope, whose key and
                          signature the job before had */
} ics_verifier_stats_t;

/* Starts threads (1..16) sharing a queue of at most queue_max jobs. NULL
 * with err set if a thread cannot start. */
ics_verifier_t *ics_verifier_new(unsigned threads, size_t queue_max, ics_err_t *err);
/* Stops the threads (jobs still queued are dropped) and frees; accepts
 * NULL; sets *self_p to NULL. */
void ics_verifier_destroy(ics_verifier_t **self_p);

/* Queues a check of sig over msg by pk. Takes msg (malloc'd) and frees it
 * whatever happens. False if the job was dropped. */
bool ics_verifier_push(ics_verifier_t *self, const uint8_t pk[ICS_PK_BYTES],
                       const uint8_t sig[ICS_SIG_BYTES], uint8_t *msg, size_t len);

/* Queues a check of env's signature by pk, if env says it is signed with
 * pk's key (apply checks the rest). */
void ics_verifier_push_envelope(ics_verifier_t *self, const Ics__V1__Envelope *env,
                                const uint8_t pk[ICS_PK_BYTES]);

/* Queues a check of the person signature that payload (env's command,
 * decoded as cmd) carries, by pk, if it says it is pk's. */
void ics_verifier_push_person(ics_verifier_t *self, const Ics__V1__Envelope *env,
                              const Ics__V1__Command *cmd, const uint8_t pk[ICS_PK_BYTES]);

void ics_verifier_stats(ics_verifier_t *self, ics_verifier_stats_t *out);

#endif
