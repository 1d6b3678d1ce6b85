/*
 * The audit chain formula, the log export file format, and the offline
 * verifier of an exported log (docs/log-format.md). This module depends only
 * on libsodium, the generated protobuf-c code and envelope.c: icsctl links
 * it to check an export without a node, a database or a network, and the
 * state machine uses the same chain and writer functions so that the format
 * has exactly one definition.
 */
#ifndef ICS_LOGVERIFY_H
#define ICS_LOGVERIFY_H

#include <stdio.h>

#include "ics.h"
#include "keys.h"
#include "merkle.h"

#define ICS_CHAIN_BYTES 32
#define ICS_REASON_MAX 256          /* rejection reason, with NUL */
#define ICS_LOG_EXPORT_MAGIC "icsd-log-export"
#define ICS_LOG_EXPORT_VERSION 1

/* The state machine's bounds that a verifier replays (daemon/fsm/fsm.h has
 * the same values as ICS_FSM_*, and checks they agree). */
#define ICS_LOG_REPLAY_WINDOW 1024  /* sequence numbers remembered per organisation */
#define ICS_LOG_MARK_STRIDE 16      /* checkpoints name multiples of this */
#define ICS_LOG_MARKS_KEPT 256      /* chain marks a checkpoint can be compared with */

/* chain_0 = BLAKE2b-256("ICSD-CHAIN-V1" || u32be(len(group)) || group) */
void ics_chain_init(const char *group, uint8_t out[ICS_CHAIN_BYTES]);

/* chain_n = BLAKE2b-256(chain_{n-1} || u64be(position) || entry_id(32) ||
 *                       u8(accepted) || u32be(len(reason)) || reason)
 * reason is "" for an accepted entry. out may alias prev. */
void ics_chain_step(const uint8_t prev[ICS_CHAIN_BYTES], uint64_t position,
                    const uint8_t entry_id[32], bool accepted, const char *reason,
                    uint8_t out[ICS_CHAIN_BYTES]);

/* The Merkle tree's leaf hash of audit position n (docs/log-format.md,
 * section 4a): SHA-256(0x00 || u64be(n) || entry_id(32) || u8(accepted) ||
 * u32be(len(reason)) || reason), the chain step's fields without the chain.
 * reason is "" for an accepted entry, at most ICS_REASON_MAX - 1 bytes. */
void ics_log_leaf_hash(uint64_t position, const uint8_t entry_id[32], bool accepted,
                       const char *reason, uint8_t out[ICS_MERKLE_HASH_BYTES]);

/* One audit entry as the export writes it. Nothing is owned. */
typedef struct {
    uint64_t position;
    bool accepted;
    const uint8_t *entry_id;     /* 32 bytes */
    const uint8_t *chain;        /* 32 bytes: chain head after the entry */
    uint64_t clock_ms;
    const uint8_t *envelope;     /* the raft entry bytes, may be empty */
    size_t envelope_len;
    const char *reason;          /* "" when accepted */
} ics_log_line_t;

/* Writers of the export format; each returns ICS_OK or ICS_EIO/ICS_ENOMEM. */
int ics_log_write_header(FILE *out, const char *group, uint64_t entries,
                         const uint8_t chain[ICS_CHAIN_BYTES]);
int ics_log_write_entry(FILE *out, const ics_log_line_t *line);
int ics_log_write_end(FILE *out);

typedef struct {
    char group[ICS_GROUP_MAX];  /* from the header */
    uint64_t entries;           /* entry lines checked */
    uint64_t accepted;
    uint64_t rejected;
    uint64_t clock_ms;          /* log clock after the last entry checked */
    uint8_t chain[ICS_CHAIN_BYTES]; /* chain recomputed up to the last entry checked */
    uint8_t root[ICS_MERKLE_HASH_BYTES]; /* on success: the Merkle tree head of the whole log
                                            (section 4a), of size entries */
    uint64_t bad_position;      /* on failure: the first position found bad;
                                   0 when the header itself is wrong */
    uint64_t checkpoints;       /* accepted checkpoints (each matched the chain) */
    uint64_t certified_position; /* highest position checkpointed by a majority of the
                                    voting members at the end of the log; 0: none */
    uint8_t certified_root[ICS_MERKLE_HASH_BYTES]; /* the tree root there, which their
                                                      checkpoints cosign */
    unsigned certified_by;      /* voting members whose checkpoints certify it */
    unsigned certify_needed;    /* the majority that needed */
} ics_log_verify_report_t;

/* Reads an export from in and checks it completely (docs/log-format.md,
 * section 8): header, positions in sequence, each entry id, the chain and
 * the log clock at every line, a reason on every rejected entry, the
 * signature of every accepted entry under the key in force, the replay rule
 * (a duplicate has no position, a stale seq is rejected), the verdict on
 * every entry that the file alone decides (admission, genesis, membership,
 * checkpoints, Raw, ClockTick), every accepted checkpoint against the chain
 * it names, and the final chain against the header. Fills *rep (always) and,
 * on failure, sets rep->bad_position and says what was wrong in err. Returns
 * ICS_OK; ICS_EMALFORMED (unparsable line, truncated file, undecodable
 * accepted entry), ICS_EVERSION (unknown format version), ICS_EINVAL (entry
 * id, chain, clock, position, count, verdict, duplicate or checkpoint wrong:
 * the log was altered), ICS_ESIG (an accepted entry is not signed by its
 * organisation's key in force) or ICS_EPERM (an accepted membership change
 * its signer was not allowed to make, or one the rules forbid). */
int ics_log_verify(FILE *in, ics_log_verify_report_t *rep, ics_err_t *err);

#endif
