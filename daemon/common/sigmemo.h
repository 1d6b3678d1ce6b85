/*
 * A memo of the Ed25519 signatures this process has already found valid,
 * so that the same (key, message, signature) is checked once.
 *
 * Every node's state machine verifies every envelope it applies, and often
 * the node has seen those very bytes before: it signed them itself, or its
 * verifier thread checked them when they arrived (daemon/verifier.h). An
 * Ed25519 check costs about 100 us here; a memo lookup a BLAKE2b digest.
 *
 * Why the state machine may use it: only triples that verified, or that
 * this process signed with the matching secret key (ics_identity_sign),
 * are recorded, under a BLAKE2b-256 digest of key, signature and message
 * compared in full; a miss verifies. So ics_signature_ok answers exactly
 * what crypto_sign_verify_detached would, whatever was memoised and when:
 * what the state machine computes stays a function of the entries alone.
 *
 * Off until ics_sigmemo_enable (icsctl never turns it on); thread-safe.
 */
#ifndef ICS_SIGMEMO_H
#define ICS_SIGMEMO_H

#include "keys.h"

#define ICS_SIGMEMO_DIGEST 32

typedef struct {
    uint64_t hits;    /* answered from the memo */
    uint64_t misses;  /* looked up, not there: verified in full */
    uint64_t stored;  /* triples recorded (verified or signed here) */
} ics_sigmemo_stats_t;

/* Turns the memo on with 2^slots_log2 slots (10..24) of 32 bytes; once per
 * process (later calls change nothing). False if out of memory or out of
 * range: the memo stays off and every check verifies. */
bool ics_sigmemo_enable(unsigned slots_log2);
bool ics_sigmemo_enabled(void);

/* The digest a triple is known by; false (and nothing written) while the
 * memo is off. */
bool ics_sigmemo_digest(const uint8_t pk[ICS_PK_BYTES], const uint8_t *msg, size_t len,
                        const uint8_t sig[ICS_SIG_BYTES], uint8_t d[ICS_SIGMEMO_DIGEST]);
/* Whether the triple with digest d is recorded (counts a hit or a miss). */
bool ics_sigmemo_has(const uint8_t d[ICS_SIGMEMO_DIGEST]);
/* Records the triple with digest d: only for one that verified, or that
 * was signed here with the secret key of its public key. */
void ics_sigmemo_put(const uint8_t d[ICS_SIGMEMO_DIGEST]);

void ics_sigmemo_stats(ics_sigmemo_stats_t *out);

#endif
