/*
 * Reads of struct raft's fields that libraft 0.15 has no getter for
 * (raftview.h). Nothing else in the daemon looks inside struct raft: this
 * file is what to change, and all there is to change, for another
 * release's layout.
 */
#include "raftview.h"

#include <stdint.h>
#include <string.h>

raft_index ics_raftview_commit_index(const struct raft *r)
{
    return r->commit_index;
}

const struct raft_configuration *ics_raftview_configuration(const struct raft *r)
{
    return &r->configuration;
}

bool ics_raftview_configuration_pending(const struct raft *r)
{
    return r->configuration_uncommitted_index != 0;
}

/* The leader's replication state of the server at address; NULL when this
 * node does not lead or the server is not in the configuration.
 * progress[] is indexed like configuration.servers[] and exists only while
 * this node leads. */
static struct raft_progress *s_progress(struct raft *r, const char *address)
{
    const struct raft_configuration *conf = &r->configuration;

    if (raft_state(r) != RAFT_LEADER || r->leader_state.progress == NULL)
        return NULL;
    for (unsigned i = 0; i < conf->n; i++)
        if (strcmp(conf->servers[i].address, address) == 0)
            return &r->leader_state.progress[i];
    return NULL;
}

raft_index ics_raftview_match_index(struct raft *r, const char *address)
{
    const struct raft_progress *p = s_progress(r, address);
    return p != NULL ? p->match_index : 0;
}

bool ics_raftview_heartbeat_due(struct raft *r, const char *address)
{
    struct raft_progress *p = s_progress(r, address);
    raft_time now;

    if (p == NULL)
        return false;
    now = r->io->time(r->io);
    p->last_send = now > r->heartbeat_timeout ? now - r->heartbeat_timeout : 0;
    return true;
}

raft_index ics_raftview_quorum_match(struct raft *r)
{
    const struct raft_configuration *conf = &r->configuration;
    const struct raft_server *srv = conf->servers;
    unsigned voters = 0;
    raft_index best = 0;
    bool self = false;

    if (raft_state(r) != RAFT_LEADER || r->leader_state.progress == NULL)
        return 0;
    for (unsigned i = 0; i < conf->n; i++) {
        voters += srv[i].role == RAFT_VOTER;
        self = self || (srv[i].role == RAFT_VOTER && srv[i].id == r->id);
    }
    if (!self)
        return 0;
    /* A majority is the leader and voters / 2 followers: the highest match
     * index that voters / 2 followers reach. */
    if (voters / 2 == 0)
        return raft_last_index(r);
    for (unsigned i = 0; i < conf->n; i++) {
        raft_index m = r->leader_state.progress[i].match_index;
        unsigned reach = 0;
        if (srv[i].role != RAFT_VOTER || srv[i].id == r->id || m <= best)
            continue;
        for (unsigned k = 0; k < conf->n; k++)
            reach += srv[k].role == RAFT_VOTER && srv[k].id != r->id &&
                     r->leader_state.progress[k].match_index >= m;
        if (reach >= voters / 2)
            best = m;
    }
    return best;
}

raft_term ics_raftview_term(const struct raft *r)
{
    return r->current_term;
}

raft_index ics_raftview_last_stored(const struct raft *r)
{
    return r->last_stored;
}

raft_index ics_raftview_snapshot_index(const struct raft *r)
{
    return r->log.snapshot.last_index;
}

unsigned ics_snapshot_spread(unsigned every, raft_index last, unsigned rank, unsigned voters)
{
    if (every < 2 || voters < 2 || rank >= voters)
        return every;
    /* The offset of this node's snapshots in each run of `every`; the
     * next at the index with that offset nearest to last + every. */
    uint64_t phase = (uint64_t)rank * every / voters;
    uint64_t delta = (phase + every - (last + every) % every) % every;
    uint64_t threshold = delta < (every + 1) / 2 ? every + delta : delta;
    return threshold > 0 ? (unsigned)threshold : 1;
}

unsigned ics_raftview_snapshot_threshold(const struct raft *r, unsigned every)
{
    const struct raft_configuration *c = &r->configuration;
    unsigned rank = 0, voters = 0;
    bool voter = false;

    for (unsigned i = 0; i < c->n; i++) {
        if (c->servers[i].role != RAFT_VOTER)
            continue;
        voters++;
        if (c->servers[i].id == r->id)
            voter = true;
        else if (c->servers[i].id < r->id)
            rank++;
    }
    if (!voter)
        return every;
    return ics_snapshot_spread(every, r->log.snapshot.last_index, rank, voters);
}

raft_term ics_raftview_entry_term(const struct raft *r, raft_index index)
{
    const struct raft_log *l = &r->log;
    size_t n;

    if (index == 0)
        return 0;
    if (index == l->snapshot.last_index)
        return l->snapshot.last_term;
    /* A ring of size entries from front to back; entry i holds index
     * offset + 1 + i. */
    n = l->front <= l->back ? l->back - l->front : l->size - l->front + l->back;
    if (index <= l->offset || index - l->offset > n)
        return 0;
    return l->entries[(l->front + (size_t)(index - 1 - l->offset)) % l->size].term;
}

void ics_raftview_clear(struct raft *r, void *data)
{
    _Static_assert(RAFT_UNAVAILABLE == 0, "a zeroed struct raft is unavailable");
    memset(r, 0, sizeof *r);
    r->state = RAFT_UNAVAILABLE;
    r->data = data;
}
