/*
 * Workarounds for defects of canonical raft 0.15 (Debian's libraft-dev),
 * reached only through the public raft.h API. docs/raft-0.15-notes.md tells
 * each story: what goes wrong, the upstream fix, the test that shows it.
 *
 *   - ics_raftfix_attach(): a shim on any struct raft_io (the daemon's, or
 *     the raft fixture's in tests), patched in place before raft_start:
 *       (b) while raft installs a snapshot sent by the leader, the io holds
 *           raft's ticks back and drops RequestVote and TimeoutNow, so raft
 *           stays a follower until the install completes (what upstream
 *           4fbd3c0 and 2a38d3d do inside raft, 0.17.1);
 *       (c) a successful AppendEntries result that raft answers at once
 *           claims no more than the request it answers proved, i.e.
 *           prev_log_index + n_entries, not the follower's whole log (still
 *           unfixed in 0.18.1);
 *       (d) a leader never counts copies of an entry of an earlier term
 *           towards a commit: while its last stored entry is of an earlier
 *           term, successful results claim one entry less, and a leader
 *           without an entry of its own term appends a barrier (upstream
 *           PR 336, 0.17.1, which also appends one on election);
 *       and raft learns of completed appends in the order it made them, as
 *       0.15 counts stored entries as if they were (updateLastStored, still
 *       so in 0.18.1): an io that completes them out of order (the raft
 *       fixture's) left a leader's last stored index behind its log for
 *       good, and with it its commit index (docs/raft-0.15-notes.md (d)).
 *       (a) raft learns that a leader's own append completed only once
 *           enough followers hold it to make a majority with the leader:
 *           0.15 looks for a majority only at its last stored index, so a
 *           leader that stores its newest entries before the followers'
 *           answers for the earlier ones arrive commits nothing while it
 *           keeps appending (upstream 1996d32, 0.17.1);
 *   - ics_commit_guard_t: (a) the leader holds new proposals back for a
 *     moment when its commit index has not moved for a while although its
 *     log is ahead, so that a majority can store its newest entry, which is
 *     the only index 0.15 tries to commit (upstream 1996d32, 0.17.1).
 */
#ifndef ICS_RAFTFIX_H
#define ICS_RAFTFIX_H

#include <raft.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- raft_io shim (b, c, d) --------------------------------------------- */

typedef struct {
    uint64_t results_clamped;  /* (c) successful results cut to what they proved */
    uint64_t installs;         /* (b) snapshot installs seen */
    uint64_t ticks_held;       /* (b) ticks held back during an install */
    uint64_t votes_dropped;    /* (b) RequestVote/TimeoutNow dropped during one */
    uint64_t prevterm_capped;  /* (d) results cut below a last stored entry of an earlier term */
    uint64_t barriers;         /* (d) barriers appended by a leader with no entry of its term */
    uint64_t appends_held;     /* appends completed before an earlier one, reported after it */
    uint64_t appends_counted_late; /* (a) a leader's appends reported once a majority held them */
} ics_raftfix_stats_t;

/* Patches io's start, send, snapshot_put, append and close; call after raft_init and
 * before raft_start. Returns 0, or RAFT_NOMEM when too many ios are
 * attached (ICS_RAFTFIX_MAX). */
#define ICS_RAFTFIX_MAX 64
int ics_raftfix_attach(struct raft_io *io);
/* Forgets io (after raft_close). NULL or an unknown io is ignored. */
void ics_raftfix_detach(struct raft_io *io);
/* Counters for io (zeros if it is not attached). */
ics_raftfix_stats_t ics_raftfix_stats(const struct raft_io *io);

/* ---- commit guard (a) ----------------------------------------------------- */

typedef struct {
    unsigned stall_ms;         /* hold once the commit index has stood this long */
    raft_index applied;        /* last applied index seen */
    uint64_t since_ms;         /* when it last moved (or the log was caught up) */
    bool holding;
    uint64_t holds;            /* times a hold began */
} ics_commit_guard_t;

void ics_commit_guard_init(ics_commit_guard_t *g, unsigned stall_ms, uint64_t now_ms);
/* Should a leader hold new proposals now? last: raft_last_index(); applied:
 * raft_last_applied() (0.15 applies everything committed at once, so it
 * stands for the commit index, which 0.15 has no getter for). True while
 * the log is ahead of what is applied and that has not moved for stall_ms;
 * false again as soon as it moves. */
bool ics_commit_guard_hold(ics_commit_guard_t *g, raft_index last, raft_index applied,
                           uint64_t now_ms);

#endif
