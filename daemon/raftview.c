/*
 * Reads of struct raft's fields that libraft 0.15 has no getter for
 * (raftview.h). Nothing else in the daemon looks inside struct raft: this
 * file is what to change, and all there is to change, for another
 * release's layout.
 */
#include "raftview.h"

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

raft_index ics_raftview_match_index(struct raft *r, const char *address)
{
    const struct raft_configuration *conf = &r->configuration;

    /* progress[] is indexed like configuration.servers[] and exists only
     * while this node leads. */
    if (raft_state(r) != RAFT_LEADER || r->leader_state.progress == NULL)
        return 0;
    for (unsigned i = 0; i < conf->n; i++)
        if (strcmp(conf->servers[i].address, address) == 0)
            return r->leader_state.progress[i].match_index;
    return 0;
}

raft_index ics_raftview_quorum_match(struct raft *r)
{
    const struct raft_configuration *conf = &r->configuration;
    raft_index match[64], best;
    unsigned voters = 0, n = 0, need;
    bool self = false;

    if (raft_state(r) != RAFT_LEADER || r->leader_state.progress == NULL)
        return 0;
    for (unsigned i = 0; i < conf->n; i++) {
        if (conf->servers[i].role != RAFT_VOTER)
            continue;
        voters++;
        if (conf->servers[i].id == r->id)
            self = true;
        else if (n < sizeof match / sizeof match[0])
            match[n++] = r->leader_state.progress[i].match_index;
    }
    if (!self || n + 1 != voters)
        return 0;
    /* A majority is voters / 2 + 1: the leader and voters / 2 followers,
     * the (voters / 2)-th highest match index. */
    need = voters / 2;
    if (need == 0)
        return raft_last_index(r);
    best = 0;
    for (unsigned k = 0; k < need; k++) {
        unsigned top = k;
        for (unsigned j = k + 1; j < n; j++)
            if (match[j] > match[top])
                top = j;
        raft_index t = match[k];
        match[k] = match[top];
        match[top] = t;
        best = match[k];
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
