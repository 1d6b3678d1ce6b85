/*
 * The one place that reads struct raft's own fields (and writes one:
 * ics_raftview_heartbeat_due). Canonical raft 0.15
 * declares struct raft in raft.h but gives getters for only part of it
 * (raft_state, raft_leader, raft_last_index, raft_last_applied,
 * raft_errmsg): those are called directly wherever they are needed. What
 * 0.15 has no getter for is read here and nowhere else, each accessor
 * naming the field it reads; later releases move or rename some of them
 * (the log became a pointer), so a new libraft means changing this file
 * only.
 *
 * The daemon's own io tracks the current term as stored (ics_raftio_term);
 * the raftfix shim, which runs on any io, reads it here.
 */
#ifndef ICS_RAFTVIEW_H
#define ICS_RAFTVIEW_H

#include <raft.h>
#include <stdbool.h>

/* Highest index known committed (0.15: raft.commit_index). */
raft_index ics_raftview_commit_index(const struct raft *r);

/* The latest configuration, committed or not (0.15: raft.configuration).
 * Valid until raft next runs; raft_add, raft_assign and raft_remove
 * replace it. */
const struct raft_configuration *ics_raftview_configuration(const struct raft *r);

/* Is a configuration change appended and not yet committed? (0.15:
 * raft.configuration_uncommitted_index != 0) */
bool ics_raftview_configuration_pending(const struct raft *r);

/* The leader's view of a server's replication, by raft address: its match
 * index, or 0 when this node does not lead or the server is not in the
 * configuration (0.15: raft.leader_state.progress[i].match_index, i its
 * position in raft.configuration). */
raft_index ics_raftview_match_index(struct raft *r, const char *address);

/* The highest index that this leader and its followers hold in a
 * majority of the voters, counting the leader as holding its whole log:
 * the match index of the follower that completes a majority with it, or
 * raft_last_index() when no follower is needed; 0 when this node does not
 * lead or is no voter (0.15: raft.leader_state.progress[].match_index). */
raft_index ics_raftview_quorum_match(struct raft *r);

/* Leader: makes raft's next tick send address a heartbeat, however
 * recently it sent it anything, and leaves the other followers to their
 * schedule. False if this node does not lead or address is not in the
 * configuration (0.15: raft.leader_state.progress[i].last_send, which raft
 * reads only to tell whether a heartbeat is due, moved back one
 * heartbeat_timeout from now). */
bool ics_raftview_heartbeat_due(struct raft *r, const char *address);

/* Raft's current term (0.15: raft.current_term). */
raft_term ics_raftview_term(const struct raft *r);

/* Last index of the log raft knows is stored on its own disk (0.15:
 * raft.last_stored); a leader counts itself up to here. */
raft_index ics_raftview_last_stored(const struct raft *r);

/* Last index covered by raft's latest snapshot, 0 if none (0.15:
 * raft.log.snapshot.last_index). */
raft_index ics_raftview_snapshot_index(const struct raft *r);

/* The snapshot threshold that puts this node's next snapshot at its own
 * place in every run of `every` indexes: the voters, ranked by id, take
 * snapshots evenly spaced (with 3, at offsets 0, every/3 and 2*every/3),
 * not all at the same index and so in the same millisecond. The result
 * lies in [every/2, 3*every/2), so a snapshot still comes every `every`
 * entries on average. A node that is not a voter takes offset 0. Reads
 * raft.id, raft.log.snapshot.last_index and raft.configuration (0.15). */
unsigned ics_raftview_snapshot_threshold(const struct raft *r, unsigned every);

/* Its arithmetic: the threshold after a snapshot at `last` for the node
 * of rank `rank` (0-based) among `voters`. */
unsigned ics_snapshot_spread(unsigned every, raft_index last, unsigned rank, unsigned voters);

/* Term of the entry at index as raft holds it in memory: an entry of its
 * log, or the last one its snapshot covers; 0 if it holds neither (0.15:
 * raft.log's entry ring and snapshot.last_term). */
raft_term ics_raftview_entry_term(const struct raft *r, raft_index index);

/* Leaves r, closed or never initialised, an empty instance that the
 * public getters answer for: unavailable, no leader, no log, no
 * configuration. data is kept as raft.data for raft_close's callback. */
void ics_raftview_clear(struct raft *r, void *data);

#endif
