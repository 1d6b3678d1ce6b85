/*
 * The raft_fsm adapter (raftfsm.h).
 */
#include "raftfsm.h"

#include "batch.h"
#include "common/ics.h"

#include <stdlib.h>
#include <string.h>

/* One envelope (or bytes that claim to be one) to the state machine. */
static int s_apply_one(ics_raftfsm_t *a, const uint8_t *buf, size_t len)
{
    ics_apply_result_t res;
    uint64_t t0 = ics_mono_us();
    int rc = ics_fsm_apply(a->fsm, buf, len, &res);

    if (a->apply_latency != NULL)
        ics_hist_add(a->apply_latency, ics_mono_us() - t0);
    if (rc != ICS_OK) {
        ics_error("group %s: state machine failed: %s", ics_fsm_group(a->fsm), ics_strerror(rc));
        return RAFT_IOERR;
    }
    if (*a->history_failed) {
        ics_error("group %s: the history on disk cannot be written: stopping this group",
                  ics_fsm_group(a->fsm));
        return RAFT_IOERR;
    }
    if (a->applied != NULL)
        a->applied(a->arg, &res);
    return 0;
}

/* A raft entry is one envelope, or a batch of them applied in order. An
 * entry that starts like a batch but is not one is applied whole, as a
 * (malformed) envelope: what every node did with such bytes before
 * batches. If the state machine fails part-way through a batch, the group
 * goes down and is rebuilt from disk, which replays the entry whole. */
static int s_apply(struct raft_fsm *rfsm, const struct raft_buffer *buf, void **result)
{
    ics_raftfsm_t *a = rfsm->data;
    ics_batch_reader_t r;
    const uint8_t *el;
    size_t el_len;
    int rv = 0;

    *result = NULL; /* outcomes travel through the fsm's observer and a->applied */
    if (!ics_batch_is(buf->base, buf->len) ||
        ics_batch_open(&r, buf->base, buf->len, NULL) != ICS_OK)
        return s_apply_one(a, buf->base, buf->len);
    while (rv == 0 && ics_batch_next(&r, &el, &el_len))
        rv = s_apply_one(a, el, el_len);
    return rv;
}

static int s_snapshot(struct raft_fsm *rfsm, struct raft_buffer *bufs[], unsigned *n)
{
    ics_raftfsm_t *a = rfsm->data;
    uint8_t *data = NULL;
    size_t len = 0;
    void *copy;

    /* Raft will stop replaying entries before this snapshot: whatever the
     * history holds of them must be on disk first. */
    if (ics_history_commit(a->history, true) != ICS_OK) {
        *a->history_failed = true;
        return RAFT_IOERR;
    }
    if (ics_fsm_snapshot(a->fsm, &data, &len) != ICS_OK)
        return RAFT_NOMEM;
    *bufs = raft_malloc(sizeof **bufs);
    copy = raft_malloc(len > 0 ? len : 1);
    if (*bufs == NULL || copy == NULL) {
        raft_free(*bufs);
        raft_free(copy);
        free(data);
        return RAFT_NOMEM;
    }
    memcpy(copy, data, len);
    free(data);
    (*bufs)[0].base = copy;
    (*bufs)[0].len = len;
    *n = 1;
    return 0;
}

static int s_restore(struct raft_fsm *rfsm, struct raft_buffer *buf)
{
    ics_raftfsm_t *a = rfsm->data;
    uint8_t chain[32];
    ics_err_t err;

    if (ics_fsm_restore(a->fsm, buf->base, buf->len, &err) != ICS_OK) {
        ics_error("group %s: snapshot restore failed: %s", ics_fsm_group(a->fsm), err.msg);
        return RAFT_CORRUPT;
    }
    raft_free(buf->base); /* raft hands the buffer to us on success */
    ics_fsm_chain(a->fsm, chain);
    /* The history before this position is backfilled from peers. */
    if (ics_history_restored(a->history, ics_fsm_position(a->fsm), chain,
                             ics_fsm_clock(a->fsm)) == ICS_EIO)
        return RAFT_IOERR;
    if (a->restored != NULL)
        a->restored(a->arg);
    ics_info("group %s: restored snapshot at position %llu", ics_fsm_group(a->fsm),
             (unsigned long long)ics_fsm_position(a->fsm));
    return 0;
}

void ics_raftfsm_init(ics_raftfsm_t *a, ics_fsm_t *fsm, ics_history_t *history,
                      bool *history_failed)
{
    memset(a, 0, sizeof *a);
    a->fsm = fsm;
    a->history = history;
    a->history_failed = history_failed;
    a->rfsm.version = 1;
    a->rfsm.data = a;
    a->rfsm.apply = s_apply;
    a->rfsm.snapshot = s_snapshot;
    a->rfsm.restore = s_restore;
}
