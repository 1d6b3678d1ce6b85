/*
 * raft_io backend: SQLite for durability, the CURVE transport for messages.
 *
 * Callback semantics follow canonical raft's own backends: every request
 * (append, snapshot put/get, send) completes asynchronously, from
 * ics_raftio_flush(), which the event loop calls once per turn. Storage
 * requests are kept in one FIFO so that an append, a truncate and a
 * snapshot put take effect in the order raft issued them; a flush writes
 * them all in one transaction (group commit: one fsync per loop turn) and
 * only then fires their callbacks, so raft never learns an entry is
 * stored before it is. set_term and set_vote are synchronous and durable
 * on return, as raft requires before it answers an RPC.
 *
 * Received messages are decoded into memory that raft takes over: each
 * AppendEntries' entries share one raft_malloc'd batch; InstallSnapshot's
 * configuration and data are raft's once recv_cb is called.
 *
 * No frame is longer than the transport's max_message_bytes (max_frame),
 * which drops longer ones. Two raft messages can be longer:
 *
 *   AppendEntries   carries the longest prefix of its entries that fits; the
 *                   follower's reply tells the leader where to go on. An
 *                   entry that alone does not fit cannot be replicated: the
 *                   send fails, loudly.
 *   InstallSnapshot is sent as a transfer: chunks that each fit, queued
 *                   together, with the header in each and the configuration
 *                   in the first. raft's send callback reports them all.
 *
 * The receiver keeps at most one transfer per peer, in s_transfer_t slots.
 * A transfer opens on its offset-0 chunk (replacing the peer's previous
 * one), accepts only the chunk at the offset it has reached, with the same
 * header, and grows its buffer as bytes arrive, never past snapshot_max. It
 * ends when raft gets the complete snapshot, or is dropped when a chunk is
 * missing for stall_ms. Any other chunk is dropped and counted. Every
 * oversize message, failed snapshot send and dropped chunk is logged, at
 * most once per LOG_EVERY_MS for each kind.
 *
 * Nothing a peer sends reaches raft unchecked (s_valid): terms within
 * ICS_RAFTIO_TERM_AHEAD_MAX of ours, indexes below ICS_RAFTIO_INDEX_MAX,
 * entries (a batch: each of its envelopes) and configurations that decode, one leader per term, nothing
 * that contradicts the committed log. A message that fails is dropped,
 * counted by reason, logged (rate-limited) and reported to the node, which
 * counts it against the peer (docs/raft-0.15-notes.md, "What a peer may
 * send").
 *
 * What each peer can know to be committed (from the AppendEntries sent to
 * it) and what it holds (the last index it acknowledged) are noted as
 * messages pass, with the newest entry that carries one of its own
 * submissions (ics_raftio_owed): raft 0.15 does not say whether a follower
 * knows of a commit, and a submission through a follower waits until it
 * does (ics_raftio_commit_unseen).
 */
#include "raftio.h"

#include "batch.h"
#include "common/envelope.h"
#include "raftfix.h"
#include "raftview.h"

#include <assert.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_EVERY_MS 10000u
#define TICKS_PER_HEARTBEAT 4u
#define TICK_MIN_MS 5u
/* How much a frame may outgrow the sum of its parts: the length prefixes
 * of the two messages around the payload (the body in RaftMessage, that in
 * Frame) grow by up to 4 bytes each as the payload does, for any payload
 * under 2^35 bytes. */
#define NEST_SLACK 8

typedef enum { OP_APPEND, OP_TRUNCATE, OP_SNAPSHOT_PUT, OP_SNAPSHOT_GET, OP_SEND } s_op_type_t;

typedef struct {
    s_op_type_t type;
    union {
        struct {
            struct raft_io_append *req;
            const struct raft_entry *entries;
            unsigned n;
            raft_index first;
        } append;
        raft_index truncate;
        struct {
            struct raft_io_snapshot_put *req;
            const struct raft_snapshot *snapshot;
            unsigned trailing;
        } put;
        struct raft_io_snapshot_get *get;
        struct {
            struct raft_io_send *req;
            int status;
        } send;
    };
} s_op_t;

typedef struct {
    uint64_t next_ms; /* log again from then */
    uint64_t suppressed;
} s_ratelimit_t;

/* What one peer was told and holds; free when org is "". */
typedef struct {
    char org[ICS_ORG_MAX];
    raft_index told;  /* highest commit index it can have learnt from us */
    raft_index acked; /* highest last_log_index it acknowledged */
    raft_index owed;  /* newest entry holding a submission of its own */
    raft_index prompted; /* owed when it was last found not to know */
} s_peer_t;

/* A snapshot being received from one peer; free when from is "". */
typedef struct {
    char from[ICS_ORG_MAX];
    uint64_t id;
    uint64_t total, received;
    uint8_t *buf; /* raft_malloc'd, cap bytes: raft's once complete */
    size_t cap;
    raft_term term, last_term;
    raft_index last_index, conf_index;
    struct raft_configuration conf;
    bool has_conf;
    uint64_t last_ms; /* when the last chunk was accepted */
} s_transfer_t;

struct ics_raftio {
    struct raft_io io;
    char group[ICS_GROUP_MAX];
    ics_store_t *store;
    size_t max_frame;
    uint64_t snapshot_max;
    unsigned stall_ms;
    ics_raftio_send_fn send;
    void *send_arg;
    raft_id id;
    char address[ICS_ORG_MAX];
    raft_io_tick_cb tick_cb;
    raft_io_recv_cb recv_cb;
    unsigned tick_ms;
    uint64_t next_tick;
    raft_index last_index; /* last entry raft has handed us */
    s_peer_t peers[ICS_MAX_ORGS];
    s_op_t *ops;
    size_t n_ops, cap_ops;
    s_transfer_t in[ICS_MAX_ORGS];
    s_ratelimit_t rl_oversize, rl_capped, rl_snapshot, rl_chunk, rl_transfer, rl_invalid;
    ics_raftio_stats_t stats;
    /* What incoming messages are checked against (s_valid). */
    raft_term term;               /* as stored: load and set_term */
    raft_term leader_term;        /* the newest term whose leader is known here */
    char leader[ICS_ORG_MAX];     /* ... that leader: a peer, or our own address */
    const struct raft *raft;      /* the raft that loaded this io; NULL before (tests) */
    ics_raftio_invalid_fn invalid_fn;
    void *invalid_arg;
    bool no_envelope_check;       /* commands are not envelopes (tests) */
    bool failed;          /* a storage operation failed: see ics_raftio_failed */
    char failure[ICS_ERRMSG_SIZE];
};

static void s_note_leader(ics_raftio_t *self, raft_term term, const char *org);

raft_id ics_raft_id(const char *org)
{
    uint8_t h[crypto_generichash_BYTES_MIN];
    raft_id id = 0;

    crypto_generichash(h, sizeof h, (const uint8_t *)org, strlen(org),
                       (const uint8_t *)"ICSD-RAFT-ID-V1", 15);
    for (int i = 0; i < 8; i++)
        id = (id << 8) | h[i];
    id &= 0x7fffffffffffffffull; /* positive in any signed view */
    return id == 0 ? 1 : id;
}

static int s_push(ics_raftio_t *self, const s_op_t *op)
{
    if (self->n_ops == self->cap_ops) {
        size_t cap = self->cap_ops ? self->cap_ops * 2 : 64;
        s_op_t *ops = realloc(self->ops, cap * sizeof *ops);
        if (ops == NULL)
            return RAFT_NOMEM;
        self->ops = ops;
        self->cap_ops = cap;
    }
    self->ops[self->n_ops++] = *op;
    return 0;
}

/* The peer's slot, taking a free one if it has none; NULL when all are
 * taken (nothing is noted then). */
static s_peer_t *s_peer(ics_raftio_t *self, const char *org)
{
    s_peer_t *free_slot = NULL;
    for (size_t i = 0; i < ICS_MAX_ORGS; i++) {
        if (strcmp(self->peers[i].org, org) == 0)
            return &self->peers[i];
        if (free_slot == NULL && self->peers[i].org[0] == '\0')
            free_slot = &self->peers[i];
    }
    if (free_slot != NULL)
        ics_strcpy(free_slot->org, sizeof free_slot->org, org);
    return free_slot;
}

/* Remembers the first storage failure in full (raft's errmsg holds 256
 * bytes, too few for a path and what to do about it). */
static void s_storage_failed(ics_raftio_t *self, const char *msg)
{
    if (self->failed)
        return;
    self->failed = true;
    ics_strcpy(self->failure, sizeof self->failure, msg);
}

/* ---- raft_io methods ------------------------------------------------- */

static int s_init(struct raft_io *io, raft_id id, const char *address)
{
    ics_raftio_t *self = io->impl;
    self->id = id;
    ics_strcpy(self->address, sizeof self->address, address);
    return 0;
}

static void s_close(struct raft_io *io, raft_io_close_cb cb)
{
    ics_raftio_t *self = io->impl;
    /* Complete whatever raft is still waiting for before it lets go. */
    ics_raftio_flush(self);
    if (cb != NULL)
        cb(io);
}

static int s_load(struct raft_io *io, raft_term *term, raft_id *voted_for,
                  struct raft_snapshot **snapshot, raft_index *start_index,
                  struct raft_entry *entries[], size_t *n_entries)
{
    ics_raftio_t *self = io->impl;
    ics_err_t err;
    int rc = ics_store_load(self->store, term, voted_for, snapshot, start_index, entries,
                            n_entries, &err);
    if (rc != ICS_OK) {
        s_storage_failed(self, err.msg);
        ics_strcpy(io->errmsg, sizeof io->errmsg, err.msg);
        return rc == ICS_EMALFORMED ? RAFT_CORRUPT : RAFT_IOERR;
    }
    self->last_index = ics_store_last_index(self->store);
    self->term = *term;
    /* Only raft_start loads, after raft_init has made io->data its struct
     * raft: incoming messages are checked against its commit index and log
     * (read through raftview.h). */
    self->raft = io->data;
    return 0;
}

static int s_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
                   raft_io_recv_cb recv)
{
    ics_raftio_t *self = io->impl;
    /* raft asks for a tick every heartbeat_ms. Its timers compare times,
     * so a tick is only when they are looked at: ticking four times as
     * often keeps a leader's heartbeats about heartbeat_ms apart (rather
     * than up to twice that) and lets a follower see its election timeout
     * run out within a quarter of a heartbeat. */
    self->tick_ms = msecs / TICKS_PER_HEARTBEAT;
    if (self->tick_ms < TICK_MIN_MS)
        self->tick_ms = msecs < TICK_MIN_MS ? msecs : TICK_MIN_MS;
    self->tick_cb = tick;
    self->recv_cb = recv;
    self->next_tick = ics_mono_ms() + self->tick_ms;
    return 0;
}

static int s_bootstrap(struct raft_io *io, const struct raft_configuration *conf)
{
    ics_raftio_t *self = io->impl;
    ics_err_t err;
    int rc = ics_store_bootstrap(self->store, conf, &err);
    if (rc == ICS_EEXIST)
        return RAFT_CANTBOOTSTRAP;
    if (rc != ICS_OK) {
        ics_strcpy(io->errmsg, sizeof io->errmsg, err.msg);
        return RAFT_IOERR;
    }
    self->last_index = 1;
    return 0;
}

static int s_recover(struct raft_io *io, const struct raft_configuration *conf)
{
    (void)conf;
    ics_strcpy(io->errmsg, sizeof io->errmsg, "recover is not supported");
    return RAFT_NOTFOUND;
}

static int s_set_term(struct raft_io *io, raft_term term)
{
    ics_raftio_t *self = io->impl;
    ics_err_t err;
    if (ics_store_set_term(self->store, term, &err) != ICS_OK) {
        s_storage_failed(self, err.msg);
        ics_strcpy(io->errmsg, sizeof io->errmsg, err.msg);
        return RAFT_IOERR;
    }
    self->term = term;
    return 0;
}

static int s_set_vote(struct raft_io *io, raft_id server_id)
{
    ics_raftio_t *self = io->impl;
    ics_err_t err;
    if (ics_store_set_vote(self->store, server_id, &err) != ICS_OK) {
        s_storage_failed(self, err.msg);
        ics_strcpy(io->errmsg, sizeof io->errmsg, err.msg);
        return RAFT_IOERR;
    }
    return 0;
}

static int s_append(struct raft_io *io, struct raft_io_append *req,
                    const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
    ics_raftio_t *self = io->impl;
    s_op_t op = {.type = OP_APPEND};
    req->cb = cb;
    op.append.req = req;
    op.append.entries = entries;
    op.append.n = n;
    op.append.first = self->last_index + 1;
    if (s_push(self, &op) != 0)
        return RAFT_NOMEM;
    self->last_index += n;
    return 0;
}

static int s_truncate(struct raft_io *io, raft_index index)
{
    ics_raftio_t *self = io->impl;
    s_op_t op = {.type = OP_TRUNCATE, .truncate = index};
    if (s_push(self, &op) != 0)
        return RAFT_NOMEM;
    if (index > 0 && self->last_index >= index)
        self->last_index = index - 1;
    /* Entries from index on are gone: nothing there is owed any more. */
    for (size_t i = 0; i < ICS_MAX_ORGS && index > 0; i++)
        if (self->peers[i].owed >= index)
            self->peers[i].owed = index - 1;
    return 0;
}

static int s_snapshot_put(struct raft_io *io, unsigned trailing,
                          struct raft_io_snapshot_put *req,
                          const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
    ics_raftio_t *self = io->impl;
    s_op_t op = {.type = OP_SNAPSHOT_PUT};
    req->cb = cb;
    op.put.req = req;
    op.put.snapshot = snapshot;
    op.put.trailing = trailing;
    if (s_push(self, &op) != 0)
        return RAFT_NOMEM;
    if (trailing == 0)
        self->last_index = snapshot->index; /* installed: the log restarts after it */
    return 0;
}

static int s_snapshot_get(struct raft_io *io, struct raft_io_snapshot_get *req,
                          raft_io_snapshot_get_cb cb)
{
    ics_raftio_t *self = io->impl;
    s_op_t op = {.type = OP_SNAPSHOT_GET, .get = req};
    req->cb = cb;
    return s_push(self, &op) != 0 ? RAFT_NOMEM : 0;
}

static raft_time s_time(struct raft_io *io)
{
    (void)io;
    return ics_mono_ms();
}

static int s_random(struct raft_io *io, int min, int max)
{
    (void)io;
    if (max <= min)
        return min;
    return min + (int)randombytes_uniform((uint32_t)(max - min));
}

/* ---- rate-limited logging -------------------------------------------- */

/* A peer that keeps failing does so on every heartbeat: say it once per
 * interval per kind of event, with how many were not said. */
static void s_log_limited(s_ratelimit_t *rl, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_log_limited(s_ratelimit_t *rl, int level, const char *fmt, ...)
{
    uint64_t now = ics_mono_ms();
    char msg[512];
    va_list ap;

    if (rl->next_ms != 0 && now < rl->next_ms) {
        rl->suppressed++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (rl->suppressed > 0)
        ics_log(level, "%s (%llu more like it in the last %us not logged)", msg,
                (unsigned long long)rl->suppressed, LOG_EVERY_MS / 1000);
    else
        ics_log(level, "%s", msg);
    rl->suppressed = 0;
    rl->next_ms = now + LOG_EVERY_MS;
}

/* ---- encoding -------------------------------------------------------- */

/* A raft message laid out as a wire frame, pointing into the raft message
 * (valid while it is). The sender adjusts it before packing: how many
 * entries an AppendEntries carries, which chunk an InstallSnapshot does. */
typedef struct {
    Ics__V1__Frame frame;
    Ics__V1__RaftMessage rm;
    Ics__V1__RaftMessage__RequestVote rv;
    Ics__V1__RaftMessage__RequestVoteResult rvr;
    Ics__V1__RaftMessage__AppendEntries ae;
    Ics__V1__RaftMessage__AppendEntriesResult aer;
    Ics__V1__RaftMessage__InstallSnapshot is;
    Ics__V1__RaftMessage__TimeoutNow tn;
    Ics__V1__RaftEntry *entries, **entry_ptrs;
    Ics__V1__RaftServer *servers, **server_ptrs;
} s_wire_t;

static void s_wire_clear(s_wire_t *w)
{
    free(w->entries);
    free(w->entry_ptrs);
    free(w->servers);
    free(w->server_ptrs);
    w->entries = NULL;
    w->entry_ptrs = NULL;
    w->servers = NULL;
    w->server_ptrs = NULL;
}

/* Lays out m. Returns ICS_OK, ICS_ENOMEM or ICS_EINVAL (unknown type); on
 * error nothing is left to clear. */
static int s_wire_init(const ics_raftio_t *self, const struct raft_message *m, s_wire_t *w)
{
    int rc = ICS_ENOMEM;

    *w = (s_wire_t){
        .frame = ICS__V1__FRAME__INIT,
        .rm = ICS__V1__RAFT_MESSAGE__INIT,
        .rv = ICS__V1__RAFT_MESSAGE__REQUEST_VOTE__INIT,
        .rvr = ICS__V1__RAFT_MESSAGE__REQUEST_VOTE_RESULT__INIT,
        .ae = ICS__V1__RAFT_MESSAGE__APPEND_ENTRIES__INIT,
        .aer = ICS__V1__RAFT_MESSAGE__APPEND_ENTRIES_RESULT__INIT,
        .is = ICS__V1__RAFT_MESSAGE__INSTALL_SNAPSHOT__INIT,
        .tn = ICS__V1__RAFT_MESSAGE__TIMEOUT_NOW__INIT,
    };
    w->frame.version = ICS_WIRE_VERSION;
    w->frame.group = (char *)self->group;
    w->frame.body_case = ICS__V1__FRAME__BODY_RAFT;
    w->frame.raft = &w->rm;
    w->rm.type = m->type;
    switch (m->type) {
    case RAFT_IO_REQUEST_VOTE:
        w->rv.term = m->request_vote.term;
        w->rv.candidate_id = m->request_vote.candidate_id;
        w->rv.last_log_index = m->request_vote.last_log_index;
        w->rv.last_log_term = m->request_vote.last_log_term;
        w->rv.disrupt_leader = m->request_vote.disrupt_leader;
        w->rv.pre_vote = m->request_vote.pre_vote;
        w->rm.body_case = ICS__V1__RAFT_MESSAGE__BODY_REQUEST_VOTE;
        w->rm.request_vote = &w->rv;
        break;
    case RAFT_IO_REQUEST_VOTE_RESULT:
        w->rvr.term = m->request_vote_result.term;
        w->rvr.vote_granted = m->request_vote_result.vote_granted;
        w->rvr.pre_vote = (uint32_t)m->request_vote_result.pre_vote;
        w->rm.body_case = ICS__V1__RAFT_MESSAGE__BODY_REQUEST_VOTE_RESULT;
        w->rm.request_vote_result = &w->rvr;
        break;
    case RAFT_IO_APPEND_ENTRIES: {
        const struct raft_append_entries *a = &m->append_entries;
        w->ae.term = a->term;
        w->ae.prev_log_index = a->prev_log_index;
        w->ae.prev_log_term = a->prev_log_term;
        w->ae.leader_commit = a->leader_commit;
        if (a->n_entries > 0) {
            w->entries = calloc(a->n_entries, sizeof *w->entries);
            w->entry_ptrs = calloc(a->n_entries, sizeof *w->entry_ptrs);
            if (w->entries == NULL || w->entry_ptrs == NULL)
                goto out;
            for (unsigned i = 0; i < a->n_entries; i++) {
                ics__v1__raft_entry__init(&w->entries[i]);
                w->entries[i].term = a->entries[i].term;
                w->entries[i].type = a->entries[i].type;
                w->entries[i].data.data = a->entries[i].buf.base;
                w->entries[i].data.len = a->entries[i].buf.len;
                w->entry_ptrs[i] = &w->entries[i];
            }
        }
        w->ae.entries = w->entry_ptrs;
        w->ae.n_entries = a->n_entries;
        w->rm.body_case = ICS__V1__RAFT_MESSAGE__BODY_APPEND_ENTRIES;
        w->rm.append_entries = &w->ae;
        break;
    }
    case RAFT_IO_APPEND_ENTRIES_RESULT:
        w->aer.term = m->append_entries_result.term;
        w->aer.rejected = m->append_entries_result.rejected;
        w->aer.last_log_index = m->append_entries_result.last_log_index;
        w->rm.body_case = ICS__V1__RAFT_MESSAGE__BODY_APPEND_ENTRIES_RESULT;
        w->rm.append_entries_result = &w->aer;
        break;
    case RAFT_IO_INSTALL_SNAPSHOT: {
        const struct raft_install_snapshot *s = &m->install_snapshot;
        w->is.term = s->term;
        w->is.last_index = s->last_index;
        w->is.last_term = s->last_term;
        w->is.conf_index = s->conf_index;
        w->is.total_len = s->data.len;
        if (s->conf.n > 0) {
            w->servers = calloc(s->conf.n, sizeof *w->servers);
            w->server_ptrs = calloc(s->conf.n, sizeof *w->server_ptrs);
            if (w->servers == NULL || w->server_ptrs == NULL)
                goto out;
            for (unsigned i = 0; i < s->conf.n; i++) {
                ics__v1__raft_server__init(&w->servers[i]);
                w->servers[i].id = s->conf.servers[i].id;
                w->servers[i].address = s->conf.servers[i].address;
                w->servers[i].role = (uint32_t)s->conf.servers[i].role;
                w->server_ptrs[i] = &w->servers[i];
            }
        }
        w->is.conf = w->server_ptrs;
        w->is.n_conf = s->conf.n;
        w->rm.body_case = ICS__V1__RAFT_MESSAGE__BODY_INSTALL_SNAPSHOT;
        w->rm.install_snapshot = &w->is;
        break;
    }
    case RAFT_IO_TIMEOUT_NOW:
        w->tn.term = m->timeout_now.term;
        w->tn.last_log_index = m->timeout_now.last_log_index;
        w->tn.last_log_term = m->timeout_now.last_log_term;
        w->rm.body_case = ICS__V1__RAFT_MESSAGE__BODY_TIMEOUT_NOW;
        w->rm.timeout_now = &w->tn;
        break;
    default:
        rc = ICS_EINVAL;
        goto out;
    }
    rc = ICS_OK;
out:
    if (rc != ICS_OK)
        s_wire_clear(w);
    return rc;
}

static size_t s_wire_size(const s_wire_t *w)
{
    return ics__v1__frame__get_packed_size(&w->frame);
}

static size_t s_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* ---- send ------------------------------------------------------------ */

/* Packs the frame as it stands and hands it to the transport. Returns 0 or
 * a RAFT_* code. The caller has made sure it fits. */
static int s_send_frame(ics_raftio_t *self, const s_wire_t *w, const char *to)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int status = RAFT_NOMEM;

    if (ics_pack(&w->frame.base, &buf, &len) != ICS_OK)
        goto out;
    assert(len <= self->max_frame);
    status = self->send(self->send_arg, to, buf, len) == 0 ? 0 : RAFT_NOCONNECTION;
out:
    free(buf);
    return status;
}

/* Cuts an AppendEntries to the longest prefix of its entries that fits in a
 * frame; returns how many that is (0 if not even the first fits). Each
 * entry adds its tag, length and bytes; the enclosing messages' length
 * prefixes may grow by NEST_SLACK in all, so the estimate never
 * overshoots. */
static size_t s_fit_entries(const ics_raftio_t *self, s_wire_t *w)
{
    size_t n = w->ae.n_entries, k = 0, used = 0, base;

    w->ae.n_entries = 0;
    base = s_wire_size(w);
    if (base + NEST_SLACK < self->max_frame) {
        size_t budget = self->max_frame - base - NEST_SLACK;
        for (; k < n; k++) {
            size_t e = ics__v1__raft_entry__get_packed_size(w->entry_ptrs[k]);
            size_t cost = 1 + s_varint_size(e) + e;
            if (cost > budget - used)
                break;
            used += cost;
        }
    }
    if (k == 0 && n > 0) {
        /* The slack may be all that stands between the first entry and the
         * limit: measure it exactly. */
        w->ae.n_entries = 1;
        k = s_wire_size(w) <= self->max_frame ? 1 : 0;
    }
    w->ae.n_entries = k;
    assert(s_wire_size(w) <= self->max_frame || k == 0);
    return k;
}

/* Sets *capped when only a prefix of the entries went. */
static int s_send_entries(ics_raftio_t *self, s_wire_t *w, const struct raft_message *m,
                          bool *capped)
{
    const struct raft_append_entries *a = &m->append_entries;
    size_t n = a->n_entries, k;

    if (s_wire_size(w) <= self->max_frame)
        return s_send_frame(self, w, m->server_address);
    k = s_fit_entries(self, w);
    if (k == 0) {
        self->stats.oversize++;
        s_log_limited(&self->rl_oversize, ICS_LOG_ERR,
                      "group %s: cannot replicate entry %llu to %s: the entry alone (%zu "
                      "bytes) does not fit in max_message_bytes = %zu; raise the limit",
                      self->group, (unsigned long long)a->prev_log_index + 1,
                      m->server_address, a->entries[0].buf.len, self->max_frame);
        return RAFT_TOOBIG;
    }
    self->stats.append_capped++;
    s_log_limited(&self->rl_capped, ICS_LOG_INFO,
                  "group %s: AppendEntries to %s carries entries %llu..%llu of %llu..%llu to "
                  "fit max_message_bytes = %zu; the rest follows when it answers",
                  self->group, m->server_address, (unsigned long long)a->prev_log_index + 1,
                  (unsigned long long)(a->prev_log_index + k),
                  (unsigned long long)a->prev_log_index + 1,
                  (unsigned long long)(a->prev_log_index + n), self->max_frame);
    *capped = true;
    return s_send_frame(self, w, m->server_address);
}

static const char *s_status_name(int status)
{
    switch (status) {
    case RAFT_NOCONNECTION: return "the transport refused it (peer unreachable or its queue full)";
    case RAFT_NOMEM: return "out of memory";
    default: return raft_strerror(status);
    }
}

/* Sends a snapshot as a transfer of chunks, each frame at most max_frame.
 * The configuration rides in the first chunk only; every chunk's header is
 * at most the first's, so one chunk size serves all. */
static int s_send_snapshot(ics_raftio_t *self, s_wire_t *w, const struct raft_message *m)
{
    const struct raft_buffer *data = &m->install_snapshot.data;
    size_t header, room, off = 0, n_chunks;
    uint64_t id = 0;
    unsigned k = 0;
    int status = 0;

    if (data->len > self->snapshot_max) {
        self->stats.snapshot_fail_too_big++;
        s_log_limited(&self->rl_snapshot, ICS_LOG_ERR,
                      "group %s: snapshot %llu not sent to %s: %zu bytes is over the %llu "
                      "a receiver accepts",
                      self->group, (unsigned long long)m->install_snapshot.last_index,
                      m->server_address, data->len, (unsigned long long)self->snapshot_max);
        return RAFT_TOOBIG;
    }
    /* The header of the first chunk, then its offset (tag and up to 10
     * bytes), the data's tag and length (up to 6) and the nesting slack. */
    w->is.offset = 0;
    w->is.data.len = 0;
    w->is.data.data = NULL;
    header = s_wire_size(w) + 11 + 6 + NEST_SLACK;
    if (header >= self->max_frame) {
        self->stats.oversize++;
        s_log_limited(&self->rl_oversize, ICS_LOG_ERR,
                      "group %s: snapshot %llu not sent to %s: its header alone (%zu bytes, "
                      "%u servers) does not fit in max_message_bytes = %zu",
                      self->group, (unsigned long long)m->install_snapshot.last_index,
                      m->server_address, header, m->install_snapshot.conf.n, self->max_frame);
        return RAFT_TOOBIG;
    }
    room = self->max_frame - header;
    n_chunks = data->len == 0 ? 1 : (data->len + room - 1) / room;
    while (id == 0)
        randombytes_buf(&id, sizeof id);
    w->is.transfer_id = id;
    do {
        size_t len = data->len - off < room ? data->len - off : room;
        w->is.offset = off;
        w->is.data.data = (uint8_t *)data->base + off;
        w->is.data.len = len;
        if (off > 0) {
            w->is.conf = NULL;
            w->is.n_conf = 0;
        }
        status = s_send_frame(self, w, m->server_address);
        if (status != 0)
            break;
        self->stats.snapshot_chunks_sent++;
        off += len;
        k++;
    } while (off < data->len);

    if (status == 0) {
        self->stats.snapshot_sends++;
        ics_info("group %s: snapshot %llu (%zu bytes) queued for %s in %zu chunks",
                 self->group, (unsigned long long)m->install_snapshot.last_index, data->len,
                 m->server_address, n_chunks);
        return 0;
    }
    if (status == RAFT_NOMEM)
        self->stats.snapshot_fail_no_memory++;
    else
        self->stats.snapshot_fail_unreachable++;
    s_log_limited(&self->rl_snapshot, ICS_LOG_WARN,
                  "group %s: snapshot %llu (%zu bytes) to %s failed at chunk %u of %zu: %s; "
                  "raft sends it again",
                  self->group, (unsigned long long)m->install_snapshot.last_index, data->len,
                  m->server_address, k + 1, n_chunks, s_status_name(status));
    return status;
}

/* What the peer can take as committed from this AppendEntries: raft 0.15's
 * follower commits up to leader_commit but not past what it has stored,
 * which is at least what it acknowledged before, or, once it has stored
 * them, the entries carried (those that fitted in the frame). */
static void s_note_told(ics_raftio_t *self, const struct raft_append_entries *a,
                        size_t carried, const char *to)
{
    s_peer_t *p = s_peer(self, to);
    raft_index held, told;

    if (p == NULL)
        return;
    held = p->acked;
    if (carried > 0 && a->prev_log_index + carried > held)
        held = a->prev_log_index + carried;
    told = a->leader_commit < held ? a->leader_commit : held;
    if (told > p->told)
        p->told = told;
}

static int s_send(struct raft_io *io, struct raft_io_send *req,
                  const struct raft_message *message, raft_io_send_cb cb)
{
    ics_raftio_t *self = io->impl;
    s_op_t op = {.type = OP_SEND};
    s_wire_t w;
    bool capped = false;
    int status;

    req->cb = cb;
    /* Only a leader sends these: we lead their term. */
    if (message->type == RAFT_IO_APPEND_ENTRIES)
        s_note_leader(self, message->append_entries.term, self->address);
    else if (message->type == RAFT_IO_INSTALL_SNAPSHOT)
        s_note_leader(self, message->install_snapshot.term, self->address);
    switch (s_wire_init(self, message, &w)) {
    case ICS_OK: status = 0; break;
    case ICS_EINVAL: status = RAFT_MALFORMED; break;
    default: status = RAFT_NOMEM; break;
    }
    if (status == 0) {
        if (message->type == RAFT_IO_INSTALL_SNAPSHOT) {
            status = s_send_snapshot(self, &w, message);
        } else if (message->type == RAFT_IO_APPEND_ENTRIES) {
            status = s_send_entries(self, &w, message, &capped);
            if (status == 0)
                s_note_told(self, &message->append_entries, w.ae.n_entries,
                            message->server_address);
        } else if (s_wire_size(&w) > self->max_frame) {
            /* Votes and results are a few dozen bytes: only a broken
             * limit gets here. */
            self->stats.oversize++;
            s_log_limited(&self->rl_oversize, ICS_LOG_ERR,
                          "group %s: raft message type %d to %s (%zu bytes) does not fit in "
                          "max_message_bytes = %zu",
                          self->group, message->type, message->server_address,
                          s_wire_size(&w), self->max_frame);
            status = RAFT_TOOBIG;
        } else {
            status = s_send_frame(self, &w, message->server_address);
        }
        s_wire_clear(&w);
    }
    self->stats.sends++;
    if (status != 0)
        self->stats.send_failures++;
    /* raft 0.15's leader, with a follower in pipeline mode, takes a sent
     * AppendEntries as carrying every entry it was given and moves the
     * follower's next index past them all; the follower's success reply for
     * the prefix cannot move it back, so the rest would wait for a heartbeat
     * to be refused and probed again. A send completing with an error puts
     * the follower in probe mode (next index = match index + 1) and the
     * reply to the prefix then resumes replication right after it. */
    if (capped && status == 0)
        status = RAFT_TOOBIG;
    op.send.req = req;
    op.send.status = status;
    return s_push(self, &op) != 0 ? RAFT_NOMEM : 0;
}

/* ---- what a peer may send --------------------------------------------- */

/* Raft trusts its peers: 0.15 turns unavailable (for good) on a message
 * that contradicts its committed log, reads a configuration entry without
 * bounds checks, and adopts any term it is shown, however far ahead. So
 * every message is checked here first, against our stored term, the
 * leader known for a term, and (once raft has loaded this io) raft's
 * commit index and log. The checks pass every message a correct peer
 * sends; docs/raft-0.15-notes.md lists them. */

typedef struct {
    ics_invalid_t why;
    char text[200];
} s_fault_t;

static bool s_fault(s_fault_t *f, ics_invalid_t why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool s_fault(s_fault_t *f, ics_invalid_t why, const char *fmt, ...)
{
    va_list ap;
    f->why = why;
    va_start(ap, fmt);
    vsnprintf(f->text, sizeof f->text, fmt, ap);
    va_end(ap);
    return false;
}

static const char *s_type_name(unsigned type)
{
    switch (type) {
    case RAFT_IO_APPEND_ENTRIES: return "AppendEntries";
    case RAFT_IO_APPEND_ENTRIES_RESULT: return "AppendEntries result";
    case RAFT_IO_REQUEST_VOTE: return "RequestVote";
    case RAFT_IO_REQUEST_VOTE_RESULT: return "RequestVote result";
    case RAFT_IO_INSTALL_SNAPSHOT: return "InstallSnapshot";
    case RAFT_IO_TIMEOUT_NOW: return "TimeoutNow";
    default: return "message";
    }
}

static bool s_check_term(const ics_raftio_t *self, uint64_t term, s_fault_t *f)
{
    if (term == 0)
        return s_fault(f, ICS_INVALID_TERM, "term 0");
    if (term > self->term && term - self->term > ICS_RAFTIO_TERM_AHEAD_MAX)
        return s_fault(f, ICS_INVALID_TERM,
                       "term %llu is more than 2^20 ahead of ours (%llu)",
                       (unsigned long long)term, (unsigned long long)self->term);
    return true;
}

/* An inner term (of an entry, of the log a candidate has) is never past
 * the term of the message that carries it. */
static bool s_check_inner_term(uint64_t inner, uint64_t term, const char *what, s_fault_t *f)
{
    if (inner > term)
        return s_fault(f, ICS_INVALID_TERM, "%s %llu is past the message's term %llu", what,
                       (unsigned long long)inner, (unsigned long long)term);
    return true;
}

static bool s_check_index(uint64_t index, const char *what, s_fault_t *f)
{
    if (index >= ICS_RAFTIO_INDEX_MAX)
        return s_fault(f, ICS_INVALID_INDEX, "%s %llu is not below 2^48", what,
                       (unsigned long long)index);
    return true;
}

/* The term of our entry at index as raft holds it (raft 0.15's logTermOf,
 * through raftview.h); 0 when raft does not hold it. */
static raft_term s_local_term(const ics_raftio_t *self, raft_index index)
{
    if (self->raft == NULL || index == 0)
        return 0;
    return ics_raftview_entry_term(self->raft, index);
}

/* An entry at index of the given term must not contradict one committed
 * here: raft 0.15 shuts down for good if it does (log matching, conflict
 * deletion), or, for a snapshot, throws the committed log away. Only for
 * messages of our term or newer, which raft acts on. */
static bool s_check_committed(const ics_raftio_t *self, raft_index index, raft_term term,
                              const char *what, s_fault_t *f)
{
    raft_term local;

    if (self->raft == NULL || index == 0 || index > ics_raftview_commit_index(self->raft))
        return true;
    local = s_local_term(self, index);
    if (local != 0 && local != term)
        return s_fault(f, ICS_INVALID_COMMITTED,
                       "%s %llu has term %llu where the entry committed here has %llu", what,
                       (unsigned long long)index, (unsigned long long)term,
                       (unsigned long long)local);
    return true;
}

/* One term, one leader: an AppendEntries or InstallSnapshot for a term
 * this node leads claims a second leader. raft 0.15, handed one, carries
 * on as a follower over its leader state. Between two peers that claim a
 * term, there is no telling which one is lying, so raft's own rule stands
 * (the latest is followed) and neither is held to blame. */
static bool s_check_leader(const ics_raftio_t *self, const char *from, raft_term term,
                           s_fault_t *f)
{
    if (term < self->term || term != self->leader_term ||
        strcmp(self->leader, self->address) != 0)
        return true;
    return s_fault(f, ICS_INVALID_LEADER, "%s claims to lead term %llu, which this node leads",
                   from, (unsigned long long)term);
}

/* The leader of a term, as raft follows it: whoever last claimed it. */
static void s_note_leader(ics_raftio_t *self, raft_term term, const char *org)
{
    if (term >= self->leader_term) {
        self->leader_term = term;
        ics_strcpy(self->leader, sizeof self->leader, org);
    }
}

/* A server of a configuration: raft ids are derived from the organisation
 * (ics_raft_id), so a server whose id is not its address's is forged. */
static bool s_check_server(raft_id id, const char *address, uint64_t role, raft_id *seen,
                           size_t n_seen, s_fault_t *f)
{
    if (!ics_valid_id(address, ICS_ORG_MAX))
        return s_fault(f, ICS_INVALID_CONFIGURATION, "server address is not an organisation");
    if (id != ics_raft_id(address))
        return s_fault(f, ICS_INVALID_CONFIGURATION, "server %s has id %llu, not its own",
                       address, (unsigned long long)id);
    if (role > RAFT_SPARE)
        return s_fault(f, ICS_INVALID_CONFIGURATION, "server %s has role %llu", address,
                       (unsigned long long)role);
    for (size_t i = 0; i < n_seen; i++)
        if (seen[i] == id)
            return s_fault(f, ICS_INVALID_CONFIGURATION, "server %s listed twice", address);
    return true;
}

/* A RAFT_CHANGE entry: raft 0.15's configuration encoding (format 1: the
 * format byte, the number of servers, then each server's id, address and
 * role, padded to 8 bytes), which raft decodes without bounds checks. */
static bool s_check_change(const uint8_t *p, size_t len, s_fault_t *f)
{
    raft_id seen[ICS_MAX_ORGS];
    uint64_t n = 0;
    size_t off = 9, voters = 0;

    if (len < 9 || p[0] != 1)
        return s_fault(f, ICS_INVALID_CONFIGURATION,
                       "configuration entry of %zu bytes is not raft's format 1", len);
    for (int b = 7; b >= 0; b--)
        n = (n << 8) | p[1 + b];
    if (n == 0 || n > ICS_MAX_ORGS)
        return s_fault(f, ICS_INVALID_CONFIGURATION, "configuration of %llu servers",
                       (unsigned long long)n);
    for (size_t i = 0; i < n; i++) {
        char address[ICS_ORG_MAX];
        const uint8_t *nul;
        raft_id id = 0;
        size_t alen;

        if (len - off < 8)
            return s_fault(f, ICS_INVALID_CONFIGURATION, "configuration entry is truncated");
        for (int b = 7; b >= 0; b--)
            id = (id << 8) | p[off + (size_t)b];
        off += 8;
        nul = memchr(p + off, 0, len - off);
        if (nul == NULL || (alen = (size_t)(nul - (p + off))) >= sizeof address ||
            len - off - alen < 2)
            return s_fault(f, ICS_INVALID_CONFIGURATION,
                           "configuration entry: server address unterminated or too long");
        memcpy(address, p + off, alen + 1);
        off += alen + 1;
        if (!s_check_server(id, address, p[off], seen, i, f))
            return false;
        voters += p[off] == RAFT_VOTER;
        off++;
        seen[i] = id;
    }
    if (len - off >= 8)
        return s_fault(f, ICS_INVALID_CONFIGURATION, "configuration entry: %zu bytes left over",
                       len - off);
    if (voters == 0)
        return s_fault(f, ICS_INVALID_CONFIGURATION, "configuration without a voter");
    return true;
}

/* A snapshot's configuration, as its first chunk carries it. */
static bool s_check_conf(Ics__V1__RaftServer *const *conf, size_t n, s_fault_t *f)
{
    raft_id seen[ICS_MAX_ORGS];
    size_t voters = 0;

    if (n == 0 || n > ICS_MAX_ORGS)
        return s_fault(f, ICS_INVALID_CONFIGURATION, "snapshot configuration of %zu servers", n);
    for (size_t i = 0; i < n; i++) {
        if (!s_check_server(conf[i]->id, conf[i]->address, conf[i]->role, seen, i, f))
            return false;
        voters += conf[i]->role == RAFT_VOTER;
        seen[i] = conf[i]->id;
    }
    if (voters == 0)
        return s_fault(f, ICS_INVALID_CONFIGURATION, "snapshot configuration without a voter");
    return true;
}

/* Entries: a known type each, commands that are envelopes of this group
 * (their signatures are the state machine's to judge), barriers as raft
 * writes them, configurations that decode; terms that never decrease,
 * from prev_log_term up to the message's; all within the frame limit. */
/* A COMMAND entry's bytes, or one envelope of a batch in it (index el of
 * entry i; el 0 for a bare envelope): an envelope of this group. */
static bool s_check_envelope(const ics_raftio_t *self, size_t i, uint32_t el,
                             const uint8_t *buf, size_t len, s_fault_t *f)
{
    Ics__V1__Envelope *env = NULL;
    ics_err_t err;
    bool ok;

    if (ics_envelope_decode(buf, len, &env, &err) != ICS_OK) {
        if (el == 0)
            return s_fault(f, ICS_INVALID_ENTRY, "entry %zu: %s", i, err.msg);
        return s_fault(f, ICS_INVALID_ENTRY, "entry %zu, envelope %u of its batch: %s", i, el,
                       err.msg);
    }
    ok = strcmp(env->group, self->group) == 0;
    if (!ok && el == 0)
        s_fault(f, ICS_INVALID_ENTRY, "entry %zu is an envelope of group %s", i, env->group);
    else if (!ok)
        s_fault(f, ICS_INVALID_ENTRY, "entry %zu, envelope %u of its batch, is of group %s", i,
                el, env->group);
    ics__v1__envelope__free_unpacked(env, NULL);
    return ok;
}

/* A COMMAND entry: an envelope of this group, or a batch of them
 * (batch.h) every element of which is one. */
static bool s_check_command(const ics_raftio_t *self, size_t i, const uint8_t *buf,
                            size_t len, s_fault_t *f)
{
    ics_batch_reader_t r;
    const uint8_t *el;
    size_t el_len;
    ics_err_t err;

    if (!ics_batch_is(buf, len))
        return s_check_envelope(self, i, 0, buf, len, f);
    if (ics_batch_open(&r, buf, len, &err) != ICS_OK)
        return s_fault(f, ICS_INVALID_ENTRY, "entry %zu: %s", i, err.msg);
    while (ics_batch_next(&r, &el, &el_len))
        if (!s_check_envelope(self, i, r.index, el, el_len, f))
            return false;
    return true;
}

static bool s_check_entries(const ics_raftio_t *self, const Ics__V1__RaftMessage__AppendEntries *ae,
                            s_fault_t *f)
{
    uint64_t last_term = ae->prev_log_term, bytes = 0;

    if (ae->n_entries > self->max_frame / 2)
        return s_fault(f, ICS_INVALID_ENTRY, "%zu entries", ae->n_entries);
    if (!s_check_index(ae->prev_log_index + ae->n_entries, "last entry's index", f))
        return false;
    for (size_t i = 0; i < ae->n_entries; i++) {
        const Ics__V1__RaftEntry *e = ae->entries[i];

        bytes += e->data.len;
        if (bytes > self->max_frame)
            return s_fault(f, ICS_INVALID_ENTRY, "entries over max_message_bytes");
        if (e->term < last_term || e->term == 0 || e->term > ae->term)
            return s_fault(f, ICS_INVALID_TERM,
                           "entry %zu has term %llu (previous %llu, message %llu)", i,
                           (unsigned long long)e->term, (unsigned long long)last_term,
                           (unsigned long long)ae->term);
        last_term = e->term;
        switch (e->type) {
        case RAFT_COMMAND:
            if (!self->no_envelope_check &&
                !s_check_command(self, i, e->data.data, e->data.len, f))
                return false;
            break;
        case RAFT_BARRIER:
            if (e->data.len > ICS_RAFTIO_BARRIER_MAX)
                return s_fault(f, ICS_INVALID_ENTRY, "barrier entry %zu of %zu bytes", i,
                               e->data.len);
            break;
        case RAFT_CHANGE:
            if (!s_check_change(e->data.data, e->data.len, f))
                return false;
            break;
        default:
            return s_fault(f, ICS_INVALID_ENTRY, "entry %zu of type %u", i, e->type);
        }
    }
    return true;
}

static bool s_check_append(const ics_raftio_t *self, const char *from,
                           const Ics__V1__RaftMessage__AppendEntries *ae, s_fault_t *f)
{
    if (!s_check_term(self, ae->term, f) ||
        !s_check_inner_term(ae->prev_log_term, ae->term, "prev_log_term", f) ||
        !s_check_index(ae->prev_log_index, "prev_log_index", f) ||
        !s_check_index(ae->leader_commit, "leader_commit", f))
        return false;
    if ((ae->prev_log_index == 0) != (ae->prev_log_term == 0))
        return s_fault(f, ICS_INVALID_INDEX, "prev_log_index %llu with prev_log_term %llu",
                       (unsigned long long)ae->prev_log_index,
                       (unsigned long long)ae->prev_log_term);
    if (!s_check_entries(self, ae, f))
        return false;
    if (ae->term < self->term)
        return true; /* raft refuses it unread */
    if (!s_check_leader(self, from, ae->term, f) ||
        !s_check_committed(self, ae->prev_log_index, ae->prev_log_term, "prev_log_index", f))
        return false;
    for (size_t i = 0; i < ae->n_entries; i++)
        if (!s_check_committed(self, ae->prev_log_index + 1 + i, ae->entries[i]->term,
                               "entry", f))
            return false;
    return true;
}

/* The header of an InstallSnapshot chunk; the configuration in the first.
 * The chunk's place in its transfer is s_recv_chunk's to check. */
static bool s_check_snapshot(const ics_raftio_t *self, const char *from,
                             const Ics__V1__RaftMessage__InstallSnapshot *is, s_fault_t *f)
{
    if (!s_check_term(self, is->term, f) ||
        !s_check_inner_term(is->last_term, is->term, "last_term", f) ||
        !s_check_index(is->last_index, "last_index", f))
        return false;
    if (is->last_index == 0 || is->last_term == 0 || is->conf_index == 0 ||
        is->conf_index > is->last_index)
        return s_fault(f, ICS_INVALID_INDEX,
                       "snapshot at index %llu, term %llu, configuration index %llu",
                       (unsigned long long)is->last_index, (unsigned long long)is->last_term,
                       (unsigned long long)is->conf_index);
    if (is->n_conf > 0 && !s_check_conf(is->conf, is->n_conf, f))
        return false;
    if (is->term < self->term)
        return true;
    return s_check_leader(self, from, is->term, f) &&
           s_check_committed(self, is->last_index, is->last_term, "snapshot's last_index", f);
}

/* Checks m from `from` against what a peer may send; says why not in f. */
static bool s_valid(const ics_raftio_t *self, const char *from, const Ics__V1__RaftMessage *m,
                    s_fault_t *f)
{
    static const unsigned body_type[] = {
        [ICS__V1__RAFT_MESSAGE__BODY_REQUEST_VOTE] = RAFT_IO_REQUEST_VOTE,
        [ICS__V1__RAFT_MESSAGE__BODY_REQUEST_VOTE_RESULT] = RAFT_IO_REQUEST_VOTE_RESULT,
        [ICS__V1__RAFT_MESSAGE__BODY_APPEND_ENTRIES] = RAFT_IO_APPEND_ENTRIES,
        [ICS__V1__RAFT_MESSAGE__BODY_APPEND_ENTRIES_RESULT] = RAFT_IO_APPEND_ENTRIES_RESULT,
        [ICS__V1__RAFT_MESSAGE__BODY_INSTALL_SNAPSHOT] = RAFT_IO_INSTALL_SNAPSHOT,
        [ICS__V1__RAFT_MESSAGE__BODY_TIMEOUT_NOW] = RAFT_IO_TIMEOUT_NOW,
    };

    if ((size_t)m->body_case >= sizeof body_type / sizeof body_type[0] ||
        body_type[m->body_case] == 0 || body_type[m->body_case] != m->type)
        return s_fault(f, ICS_INVALID_RAFT_MESSAGE, "type %u with body %d", m->type,
                       (int)m->body_case);
    switch (m->body_case) {
    case ICS__V1__RAFT_MESSAGE__BODY_REQUEST_VOTE: {
        const Ics__V1__RaftMessage__RequestVote *rv = m->request_vote;
        if (!s_check_term(self, rv->term, f) ||
            !s_check_inner_term(rv->last_log_term, rv->term, "last_log_term", f) ||
            !s_check_index(rv->last_log_index, "last_log_index", f))
            return false;
        if ((rv->last_log_index == 0) != (rv->last_log_term == 0))
            return s_fault(f, ICS_INVALID_INDEX, "last_log_index %llu with last_log_term %llu",
                           (unsigned long long)rv->last_log_index,
                           (unsigned long long)rv->last_log_term);
        return true;
    }
    case ICS__V1__RAFT_MESSAGE__BODY_REQUEST_VOTE_RESULT:
        if (m->request_vote_result->pre_vote > raft_tribool_false)
            return s_fault(f, ICS_INVALID_RAFT_MESSAGE, "pre_vote %u",
                           m->request_vote_result->pre_vote);
        return s_check_term(self, m->request_vote_result->term, f);
    case ICS__V1__RAFT_MESSAGE__BODY_APPEND_ENTRIES:
        return s_check_append(self, from, m->append_entries, f);
    case ICS__V1__RAFT_MESSAGE__BODY_APPEND_ENTRIES_RESULT:
        return s_check_term(self, m->append_entries_result->term, f) &&
               s_check_index(m->append_entries_result->rejected, "rejected", f) &&
               s_check_index(m->append_entries_result->last_log_index, "last_log_index", f);
    case ICS__V1__RAFT_MESSAGE__BODY_INSTALL_SNAPSHOT:
        return s_check_snapshot(self, from, m->install_snapshot, f);
    case ICS__V1__RAFT_MESSAGE__BODY_TIMEOUT_NOW: {
        const Ics__V1__RaftMessage__TimeoutNow *tn = m->timeout_now;
        if (!s_check_term(self, tn->term, f) ||
            !s_check_inner_term(tn->last_log_term, tn->term, "last_log_term", f) ||
            !s_check_index(tn->last_log_index, "last_log_index", f))
            return false;
        /* Only the leader hands its office on. */
        if (tn->term != self->leader_term || strcmp(self->leader, from) != 0)
            return s_fault(f, ICS_INVALID_LEADER, "from %s, not the leader of term %llu", from,
                           (unsigned long long)tn->term);
        return true;
    }
    default:
        return s_fault(f, ICS_INVALID_RAFT_MESSAGE, "no body");
    }
}

/* Counts, logs (rate-limited) and reports a message dropped as invalid. */
static void s_invalid(ics_raftio_t *self, const char *from, unsigned type, ics_invalid_t why,
                      const char *text)
{
    self->stats.invalid[why]++;
    s_log_limited(&self->rl_invalid, ICS_LOG_NOTICE,
                  "group %s: raft %s from %s dropped as invalid [%s]: %s", self->group,
                  s_type_name(type), from, ics_invalid_name(why), text);
    if (self->invalid_fn != NULL)
        self->invalid_fn(self->invalid_arg, from, why);
}

void ics_raftio_set_envelope_check(ics_raftio_t *self, bool on)
{
    self->no_envelope_check = !on;
}

void ics_raftio_set_invalid_fn(ics_raftio_t *self, ics_raftio_invalid_fn fn, void *arg)
{
    self->invalid_fn = fn;
    self->invalid_arg = arg;
}

void ics_raftio_inherit_invalid_fn(ics_raftio_t *self, const ics_raftio_t *from)
{
    if (from != NULL)
        ics_raftio_set_invalid_fn(self, from->invalid_fn, from->invalid_arg);
}


/* ---- receive --------------------------------------------------------- */

static bool s_decode_entries(const Ics__V1__RaftMessage__AppendEntries *ae,
                             struct raft_append_entries *out)
{
    size_t total = 0;
    uint8_t *batch;

    out->term = ae->term;
    out->prev_log_index = ae->prev_log_index;
    out->prev_log_term = ae->prev_log_term;
    out->leader_commit = ae->leader_commit;
    out->entries = NULL;
    out->n_entries = 0;
    if (ae->n_entries == 0)
        return true;
    for (size_t i = 0; i < ae->n_entries; i++) {
        if (ae->entries[i]->type < RAFT_COMMAND || ae->entries[i]->type > RAFT_CHANGE)
            return false;
        total += ae->entries[i]->data.len;
    }
    out->entries = raft_malloc(ae->n_entries * sizeof *out->entries);
    batch = raft_malloc(total > 0 ? total : 1);
    if (out->entries == NULL || batch == NULL) {
        raft_free(out->entries);
        raft_free(batch);
        out->entries = NULL;
        return false;
    }
    size_t off = 0;
    for (size_t i = 0; i < ae->n_entries; i++) {
        struct raft_entry *e = &out->entries[i];
        e->term = ae->entries[i]->term;
        e->type = (unsigned short)ae->entries[i]->type;
        e->buf.base = batch + off;
        e->buf.len = ae->entries[i]->data.len;
        e->batch = batch;
        if (e->buf.len > 0)
            memcpy(e->buf.base, ae->entries[i]->data.data, e->buf.len);
        off += e->buf.len;
    }
    out->n_entries = (unsigned)ae->n_entries;
    return true;
}

/* Frees what a transfer holds and makes its slot free. */
static void s_transfer_reset(s_transfer_t *t)
{
    raft_free(t->buf);
    if (t->has_conf)
        raft_configuration_close(&t->conf);
    memset(t, 0, sizeof *t);
}

static void s_transfer_drop(ics_raftio_t *self, s_transfer_t *t, uint64_t *counter,
                            const char *why)
{
    (*counter)++;
    s_log_limited(&self->rl_transfer, ICS_LOG_WARN,
                  "group %s: snapshot %llu from %s dropped after %llu of %llu bytes: %s",
                  self->group, (unsigned long long)t->last_index, t->from,
                  (unsigned long long)t->received, (unsigned long long)t->total, why);
    s_transfer_reset(t);
}

static void s_chunk_drop(ics_raftio_t *self, const char *from,
                         const Ics__V1__RaftMessage__InstallSnapshot *is, uint64_t *counter,
                         const char *why)
{
    (*counter)++;
    /* A correct sender never sends these; the others (a transfer over or
     * replaced, a snapshot over our limit) can happen to it. */
    if (counter == &self->stats.chunks_dropped_invalid) {
        self->stats.invalid[ICS_INVALID_SNAPSHOT]++;
        if (self->invalid_fn != NULL)
            self->invalid_fn(self->invalid_arg, from, ICS_INVALID_SNAPSHOT);
    }
    s_log_limited(&self->rl_chunk, ICS_LOG_WARN,
                  "group %s: snapshot chunk from %s dropped (transfer %016llx, offset %llu, "
                  "%zu of %llu bytes): %s",
                  self->group, from, (unsigned long long)is->transfer_id,
                  (unsigned long long)is->offset, is->data.len,
                  (unsigned long long)is->total_len, why);
}

static s_transfer_t *s_transfer_find(ics_raftio_t *self, const char *from)
{
    for (size_t i = 0; i < ICS_MAX_ORGS; i++)
        if (self->in[i].from[0] != '\0' && strcmp(self->in[i].from, from) == 0)
            return &self->in[i];
    return NULL;
}

/* Opens a transfer from its first chunk. Returns NULL (and says why) if the
 * chunk cannot start one. */
static s_transfer_t *s_transfer_open(ics_raftio_t *self, const char *from,
                                     const Ics__V1__RaftMessage__InstallSnapshot *is,
                                     const char **why)
{
    s_transfer_t *t = NULL;

    for (size_t i = 0; i < ICS_MAX_ORGS && t == NULL; i++)
        if (self->in[i].from[0] == '\0')
            t = &self->in[i];
    if (t == NULL) {
        *why = "no free transfer slot";
        return NULL;
    }
    if (is->n_conf == 0) {
        *why = "first chunk without the configuration";
        return NULL;
    }
    raft_configuration_init(&t->conf);
    t->has_conf = true;
    for (size_t i = 0; i < is->n_conf; i++) {
        const Ics__V1__RaftServer *s = is->conf[i];
        if (s->role > RAFT_SPARE ||
            raft_configuration_add(&t->conf, s->id, s->address, (int)s->role) != 0) {
            s_transfer_reset(t);
            *why = "bad configuration";
            return NULL;
        }
    }
    ics_strcpy(t->from, sizeof t->from, from);
    t->id = is->transfer_id;
    t->total = is->total_len;
    t->term = is->term;
    t->last_index = is->last_index;
    t->last_term = is->last_term;
    t->conf_index = is->conf_index;
    t->last_ms = ics_mono_ms();
    return t;
}

/* Room for len more bytes, growing as chunks arrive rather than trusting
 * the announced total up front. */
static bool s_transfer_reserve(s_transfer_t *t, size_t len)
{
    size_t need = (size_t)t->received + len, cap;
    uint8_t *buf;

    if (need <= t->cap && t->buf != NULL)
        return true;
    cap = t->cap > 0 ? t->cap : 65536;
    while (cap < need)
        cap *= 2;
    if (cap > t->total)
        cap = (size_t)t->total;
    buf = raft_realloc(t->buf, cap > 0 ? cap : 1);
    if (buf == NULL)
        return false;
    t->buf = buf;
    t->cap = cap;
    return true;
}

/* One chunk of an InstallSnapshot. Hands raft the snapshot once the last
 * chunk is in: fills out and returns true. */
static bool s_recv_chunk(ics_raftio_t *self, const char *from,
                         const Ics__V1__RaftMessage__InstallSnapshot *is,
                         struct raft_install_snapshot *out)
{
    s_transfer_t *t = s_transfer_find(self, from);
    const char *why = NULL;

    if (is->transfer_id == 0) {
        s_chunk_drop(self, from, is, &self->stats.chunks_dropped_invalid, "no transfer id");
        return false;
    }
    if (is->total_len > self->snapshot_max) {
        s_chunk_drop(self, from, is, &self->stats.chunks_dropped_too_big,
                     "the snapshot is over the size accepted");
        return false;
    }
    if (is->offset > is->total_len || is->data.len > is->total_len - is->offset ||
        (is->data.len == 0 && is->total_len > 0)) {
        s_chunk_drop(self, from, is, &self->stats.chunks_dropped_invalid,
                     "data outside the snapshot's length");
        return false;
    }
    if (is->offset == 0) {
        if (t != NULL && t->id == is->transfer_id) {
            s_chunk_drop(self, from, is, &self->stats.chunks_dropped_order,
                         "first chunk again");
            return false;
        }
        if (t != NULL)
            s_transfer_drop(self, t, &self->stats.transfers_replaced,
                            "the peer started another transfer");
        t = s_transfer_open(self, from, is, &why);
        if (t == NULL) {
            s_chunk_drop(self, from, is, &self->stats.chunks_dropped_invalid, why);
            return false;
        }
    } else if (t == NULL || t->id != is->transfer_id) {
        s_chunk_drop(self, from, is, &self->stats.chunks_dropped_unknown,
                     "no such transfer from this peer (over, replaced or never started)");
        return false;
    } else if (is->offset != t->received) {
        s_chunk_drop(self, from, is, &self->stats.chunks_dropped_order,
                     is->offset < t->received ? "already received" : "a chunk is missing");
        return false;
    } else if (is->total_len != t->total || is->term != t->term ||
               is->last_index != t->last_index || is->last_term != t->last_term ||
               is->conf_index != t->conf_index) {
        s_chunk_drop(self, from, is, &self->stats.chunks_dropped_invalid,
                     "header differs from its transfer's");
        return false;
    }
    if (!s_transfer_reserve(t, is->data.len)) {
        s_transfer_drop(self, t, &self->stats.transfers_no_memory, "out of memory");
        return false;
    }
    if (is->data.len > 0)
        memcpy(t->buf + t->received, is->data.data, is->data.len);
    t->received += is->data.len;
    t->last_ms = ics_mono_ms();
    self->stats.snapshot_chunks_received++;
    if (t->received < t->total)
        return false;

    /* Complete: raft takes the configuration and the data. */
    if (t->buf == NULL && (t->buf = raft_malloc(1)) == NULL) {
        s_transfer_drop(self, t, &self->stats.transfers_no_memory, "out of memory");
        return false;
    }
    out->term = t->term;
    out->last_index = t->last_index;
    out->last_term = t->last_term;
    out->conf_index = t->conf_index;
    out->conf = t->conf;
    out->data.base = t->buf;
    out->data.len = (size_t)t->total;
    t->buf = NULL;
    t->has_conf = false;
    s_transfer_reset(t);
    self->stats.snapshots_received++;
    return true;
}

void ics_raftio_deliver(ics_raftio_t *self, const char *from, const Ics__V1__RaftMessage *m)
{
    struct raft_message msg;
    s_fault_t f;

    if (self->recv_cb == NULL)
        return; /* not started yet */
    if (!s_valid(self, from, m, &f)) {
        s_invalid(self, from, m->type, f.why, f.text);
        return;
    }
    if ((m->body_case == ICS__V1__RAFT_MESSAGE__BODY_APPEND_ENTRIES &&
         m->append_entries->term >= self->term) ||
        (m->body_case == ICS__V1__RAFT_MESSAGE__BODY_INSTALL_SNAPSHOT &&
         m->install_snapshot->term >= self->term))
        s_note_leader(self, m->type == RAFT_IO_APPEND_ENTRIES ? m->append_entries->term
                                                               : m->install_snapshot->term,
                      from);
    memset(&msg, 0, sizeof msg);
    msg.type = (unsigned short)m->type;
    msg.server_id = ics_raft_id(from);
    msg.server_address = from;
    switch (m->body_case) {
    case ICS__V1__RAFT_MESSAGE__BODY_REQUEST_VOTE:
        if (m->type != RAFT_IO_REQUEST_VOTE)
            return;
        msg.request_vote.term = m->request_vote->term;
        msg.request_vote.candidate_id = m->request_vote->candidate_id;
        msg.request_vote.last_log_index = m->request_vote->last_log_index;
        msg.request_vote.last_log_term = m->request_vote->last_log_term;
        msg.request_vote.disrupt_leader = m->request_vote->disrupt_leader;
        msg.request_vote.pre_vote = m->request_vote->pre_vote;
        /* The candidate is whoever authenticated, whatever the frame says. */
        msg.request_vote.candidate_id = msg.server_id;
        break;
    case ICS__V1__RAFT_MESSAGE__BODY_REQUEST_VOTE_RESULT:
        if (m->type != RAFT_IO_REQUEST_VOTE_RESULT || m->request_vote_result->pre_vote > 2)
            return;
        msg.request_vote_result.term = m->request_vote_result->term;
        msg.request_vote_result.vote_granted = m->request_vote_result->vote_granted;
        msg.request_vote_result.pre_vote = (raft_tribool)m->request_vote_result->pre_vote;
        break;
    case ICS__V1__RAFT_MESSAGE__BODY_APPEND_ENTRIES:
        if (m->type != RAFT_IO_APPEND_ENTRIES ||
            !s_decode_entries(m->append_entries, &msg.append_entries))
            return;
        self->stats.append_entries++;
        break;
    case ICS__V1__RAFT_MESSAGE__BODY_APPEND_ENTRIES_RESULT:
        if (m->type != RAFT_IO_APPEND_ENTRIES_RESULT)
            return;
        msg.append_entries_result.term = m->append_entries_result->term;
        msg.append_entries_result.rejected = m->append_entries_result->rejected;
        msg.append_entries_result.last_log_index = m->append_entries_result->last_log_index;
        if (msg.append_entries_result.rejected == 0) {
            s_peer_t *p = s_peer(self, from);
            if (p != NULL && msg.append_entries_result.last_log_index > p->acked)
                p->acked = msg.append_entries_result.last_log_index;
        }
        break;
    case ICS__V1__RAFT_MESSAGE__BODY_INSTALL_SNAPSHOT:
        if (m->type != RAFT_IO_INSTALL_SNAPSHOT ||
            !s_recv_chunk(self, from, m->install_snapshot, &msg.install_snapshot))
            return;
        break;
    case ICS__V1__RAFT_MESSAGE__BODY_TIMEOUT_NOW:
        if (m->type != RAFT_IO_TIMEOUT_NOW)
            return;
        msg.timeout_now.term = m->timeout_now->term;
        msg.timeout_now.last_log_index = m->timeout_now->last_log_index;
        msg.timeout_now.last_log_term = m->timeout_now->last_log_term;
        break;
    default:
        return;
    }
    self->recv_cb(&self->io, &msg);
}

unsigned ics_raftio_tick(ics_raftio_t *self)
{
    uint64_t now = ics_mono_ms();

    for (size_t i = 0; i < ICS_MAX_ORGS; i++) {
        s_transfer_t *t = &self->in[i];
        if (t->from[0] != '\0' && now - t->last_ms >= self->stall_ms)
            s_transfer_drop(self, t, &self->stats.transfers_stalled,
                            "no chunk arrived in time");
    }
    if (self->tick_cb == NULL)
        return 1000;
    if (now >= self->next_tick) {
        self->next_tick = now + self->tick_ms;
        self->tick_cb(&self->io);
    }
    return (unsigned)(self->next_tick - now);
}

bool ics_raftio_flush(ics_raftio_t *self)
{
    s_op_t *ops;
    size_t n;
    bool writes = false;
    int status = 0;
    ics_err_t err;
    uint64_t t0;

    if (self->n_ops == 0)
        return false;
    /* Take the queue: callbacks may queue new requests for the next turn. */
    ops = self->ops;
    n = self->n_ops;
    self->ops = NULL;
    self->n_ops = self->cap_ops = 0;
    t0 = ics_mono_us();

    for (size_t i = 0; i < n; i++)
        if (ops[i].type == OP_APPEND || ops[i].type == OP_TRUNCATE ||
            ops[i].type == OP_SNAPSHOT_PUT)
            writes = true;
    if (writes) {
        int rc = ics_store_begin(self->store, &err);
        for (size_t i = 0; i < n && rc == ICS_OK; i++) {
            const s_op_t *op = &ops[i];
            if (op->type == OP_APPEND) {
                rc = ics_store_append(self->store, op->append.first, op->append.entries,
                                      op->append.n, &err);
                self->stats.appends += op->append.n;
            } else if (op->type == OP_TRUNCATE) {
                rc = ics_store_truncate(self->store, op->truncate, &err);
            } else if (op->type == OP_SNAPSHOT_PUT) {
                rc = ics_store_snapshot_put(self->store, op->put.snapshot, op->put.trailing, &err);
            }
        }
        if (rc == ICS_OK)
            rc = ics_store_commit(self->store, &err);
        if (rc != ICS_OK) {
            ics_store_rollback(self->store);
            ics_error("group %s: raft log write failed: %s", self->group, err.msg);
            s_storage_failed(self, err.msg);
            status = RAFT_IOERR;
        }
        self->stats.flushes++;
    }
    for (size_t i = 0; i < n; i++) {
        s_op_t *op = &ops[i];
        switch (op->type) {
        case OP_APPEND:
            op->append.req->cb(op->append.req, status);
            break;
        case OP_SNAPSHOT_PUT:
            op->put.req->cb(op->put.req, status);
            break;
        case OP_SNAPSHOT_GET: {
            struct raft_snapshot *snap = NULL;
            int rc = ics_store_snapshot_get(self->store, &snap, &err);
            if (rc != ICS_OK) {
                ics_error("group %s: cannot read the snapshot: %s", self->group, err.msg);
                s_storage_failed(self, err.msg);
            }
            if (rc == ICS_OK && snap == NULL)
                rc = ICS_ENOENT;
            op->get->cb(op->get, snap, rc == ICS_OK ? 0 : RAFT_IOERR);
            break;
        }
        case OP_SEND:
            if (op->send.req->cb != NULL)
                op->send.req->cb(op->send.req, op->send.status);
            break;
        case OP_TRUNCATE:
            break;
        }
    }
    free(ops);
    uint64_t dt = ics_mono_us() - t0;
    self->stats.flush_us_total += dt;
    if (dt > self->stats.flush_us_max)
        self->stats.flush_us_max = dt;
    return true;
}

ics_raftio_t *ics_raftio_new(const char *group, ics_store_t *store, size_t max_frame,
                             ics_raftio_send_fn send, void *send_arg)
{
    ics_raftio_t *self;

    /* The configuration allows no less than 64 KiB; a frame must at least
     * hold a snapshot's header and some data. */
    assert(max_frame >= 4096);
    self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    ics_strcpy(self->group, sizeof self->group, group);
    self->store = store;
    self->max_frame = max_frame;
    self->snapshot_max = ICS_RAFTIO_SNAPSHOT_MAX;
    self->stall_ms = ICS_RAFTIO_TRANSFER_STALL_MS;
    self->send = send;
    self->send_arg = send_arg;
    self->io.version = 1;
    self->io.impl = self;
    self->io.init = s_init;
    self->io.close = s_close;
    self->io.load = s_load;
    self->io.start = s_start;
    self->io.bootstrap = s_bootstrap;
    self->io.recover = s_recover;
    self->io.set_term = s_set_term;
    self->io.set_vote = s_set_vote;
    self->io.send = s_send;
    self->io.append = s_append;
    self->io.truncate = s_truncate;
    self->io.snapshot_put = s_snapshot_put;
    self->io.snapshot_get = s_snapshot_get;
    self->io.time = s_time;
    self->io.random = s_random;
    /* libraft 0.15 defects (b) and (c): see raftfix.h. */
    if (ics_raftfix_attach(&self->io) != 0) {
        free(self);
        return NULL;
    }
    return self;
}

void ics_raftio_destroy(ics_raftio_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    ics_raftfix_detach(&(*self_p)->io);
    for (size_t i = 0; i < ICS_MAX_ORGS; i++)
        s_transfer_reset(&(*self_p)->in[i]);
    free((*self_p)->ops);
    free(*self_p);
    *self_p = NULL;
}

void ics_raftio_set_transfer_limits(ics_raftio_t *self, uint64_t snapshot_max,
                                    unsigned stall_ms)
{
    self->snapshot_max = snapshot_max;
    self->stall_ms = stall_ms;
}

void ics_raftio_owed(ics_raftio_t *self, const char *org, raft_index index)
{
    for (size_t i = 0; i < ICS_MAX_ORGS; i++) {
        s_peer_t *p = &self->peers[i];
        if (p->org[0] != '\0' && strcmp(p->org, org) == 0) {
            if (index > p->owed)
                p->owed = index;
            return;
        }
    }
}

size_t ics_raftio_commit_unseen(ics_raftio_t *self, raft_index commit, const char *out[],
                                size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < ICS_MAX_ORGS && n < max; i++) {
        s_peer_t *p = &self->peers[i];
        raft_index want = p->owed;
        if (p->org[0] != '\0' && want != 0 && want <= commit && p->acked >= want &&
            p->told < want && p->prompted < want) {
            p->prompted = want;
            out[n++] = p->org;
        }
    }
    return n;
}

void ics_raftio_tick_now(ics_raftio_t *self)
{
    if (self->tick_cb != NULL)
        self->tick_cb(&self->io);
}

bool ics_raftio_failed(const ics_raftio_t *self, char *why, size_t size)
{
    if (self->failed && why != NULL)
        ics_strcpy(why, size, self->failure);
    return self->failed;
}

struct raft_io *ics_raftio_io(ics_raftio_t *self) { return &self->io; }

ics_raftio_t *ics_raftio_of(struct raft_io *io)
{
    assert(io->init == s_init);
    return io->impl;
}
ics_raftio_stats_t ics_raftio_stats(const ics_raftio_t *self) { return self->stats; }
raft_term ics_raftio_term(const ics_raftio_t *self) { return self->term; }
