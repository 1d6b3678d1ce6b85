/*
 * Shared by the fuzz harnesses and the corpus generator: deterministic
 * test identities for the five organisations of the loopback ICS, signed
 * envelopes, and a small real state (a genesis and a few entries, applied
 * by the real state machine, with its audit history in memory).
 *
 * Everything is a function of fixed seeds and timestamps, so the corpus
 * the generator writes and the state a harness builds always agree.
 */
#ifndef ICS_FUZZ_KIT_H
#define ICS_FUZZ_KIT_H

#include <stddef.h>
#include <stdint.h>

#include "common/envelope.h"
#include "common/keys.h"
#include "fsm/fsm.h"
#include "history.h"
#include "raftio.h"

#define FK_GROUP "nenc"
#define FK_N_ORGS 5
#define FK_EPOCH_MS 1795000000000ull

/* QHM (the administrator), RTD, RX4, E06000057, RX6. */
extern const char *const fk_orgs[FK_N_ORGS];

/* Every log line is formatted, at debug level, then dropped: the messages
 * that quote bad input are exercised without flooding the fuzzer's output.
 * Harnesses call it from LLVMFuzzerInitialize. */
void fk_quiet(void);

/* The organisation's test identity (seeded from its id); NULL for an
 * organisation the kit does not know. Owned by the kit: do not destroy. */
const ics_identity_t *fk_identity(const char *org);

/* cmd signed by org for FK_GROUP; actor set to person. Malloc'd. */
uint8_t *fk_seal(const char *org, const char *person, uint64_t seq, uint64_t ts,
                 Ics__V1__Command *cmd, size_t *len);

/* The state: genesis by QHM, then raw entries, an OPEL report, a person,
 * and an entry with a bad signature (rejected). entries[] are the envelope
 * bytes as applied, in order. */
#define FK_MAX_ENTRIES 16
typedef struct {
    ics_fsm_t *fsm;
    ics_history_t *history;
    uint8_t *entries[FK_MAX_ENTRIES];
    size_t lens[FK_MAX_ENTRIES];
    size_t n_entries;
} fk_state_t;

/* Aborts on failure: a harness without its state is no harness. */
void fk_state_build(fk_state_t *st);
void fk_state_free(fk_state_t *st);

/* A raftio of group FK_GROUP for node QHM over a throwaway store (made
 * once per process, under $TMPDIR), initialised and started through the
 * public struct raft_io, with a receive callback that reads every field of
 * every message and frees what raft would take. Sends are dropped. */
ics_raftio_t *fk_raftio_new(void);
/* Messages that reached the receive callback since the process started. */
uint64_t fk_raft_received(void);

/* Splits fuzz input at every occurrence of FK_SEP, calling fn on each
 * part (possibly empty), at most max parts. Lets one input carry a
 * sequence of messages. */
#define FK_SEP "\xff\xfeICS\xfe\xff"
void fk_split(const uint8_t *data, size_t size, size_t max,
              void (*fn)(void *arg, size_t i, const uint8_t *part, size_t len), void *arg);

#endif
