/*
 * The state machine under raft: the raft_fsm callbacks that apply a raft
 * entry (one envelope, or a batch of them in order), take a snapshot and
 * restore one. The daemon's groups and the raft fixture tests run this one
 * adapter, so what the fixture soaks is what the daemon runs.
 *
 * The adapter holds pointers only; its owner keeps the state machine, the
 * history and the flag alive for as long as raft runs.
 */
#ifndef ICS_RAFTFSM_H
#define ICS_RAFTFSM_H

#include "fsm/fsm.h"
#include "history.h"
#include "metrics.h"

#include <raft.h>
#include <stdbool.h>

typedef struct {
    struct raft_fsm rfsm; /* what raft_init takes; its data is this adapter */
    ics_fsm_t *fsm;
    ics_history_t *history;
    /* Set by the owner (or by a snapshot) when the history on disk cannot
     * be written: applying stops, raft sees an I/O error. */
    bool *history_failed;
    ics_hist_t *apply_latency; /* NULL: not measured */
    /* Optional: after each envelope applied, with its result (valid for
     * the call only); after a snapshot was restored. */
    void (*applied)(void *arg, const ics_apply_result_t *res);
    void (*restored)(void *arg);
    void *arg;
} ics_raftfsm_t;

/* Fills a for fsm and history; the hooks and apply_latency start NULL. */
void ics_raftfsm_init(ics_raftfsm_t *a, ics_fsm_t *fsm, ics_history_t *history,
                      bool *history_failed);

#endif
