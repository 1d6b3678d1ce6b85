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
 */
#include "raftio.h"

#include "common/envelope.h"
#include "raftfix.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

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

struct ics_raftio {
    struct raft_io io;
    char group[ICS_GROUP_MAX];
    ics_store_t *store;
    ics_raftio_send_fn send;
    void *send_arg;
    raft_id id;
    char address[ICS_ORG_MAX];
    raft_io_tick_cb tick_cb;
    raft_io_recv_cb recv_cb;
    unsigned tick_ms;
    uint64_t next_tick;
    raft_index last_index; /* last entry raft has handed us */
    s_op_t *ops;
    size_t n_ops, cap_ops;
    ics_raftio_stats_t stats;
};

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
        ics_strcpy(io->errmsg, sizeof io->errmsg, err.msg);
        return RAFT_IOERR;
    }
    self->last_index = ics_store_last_index(self->store);
    return 0;
}

static int s_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
                   raft_io_recv_cb recv)
{
    ics_raftio_t *self = io->impl;
    self->tick_ms = msecs;
    self->tick_cb = tick;
    self->recv_cb = recv;
    self->next_tick = ics_mono_ms() + msecs;
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
        ics_strcpy(io->errmsg, sizeof io->errmsg, err.msg);
        return RAFT_IOERR;
    }
    return 0;
}

static int s_set_vote(struct raft_io *io, raft_id server_id)
{
    ics_raftio_t *self = io->impl;
    ics_err_t err;
    if (ics_store_set_vote(self->store, server_id, &err) != ICS_OK) {
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

/* ---- encoding -------------------------------------------------------- */

static int s_encode(const ics_raftio_t *self, const struct raft_message *m, uint8_t **out,
                    size_t *out_len)
{
    Ics__V1__Frame frame = ICS__V1__FRAME__INIT;
    Ics__V1__RaftMessage rm = ICS__V1__RAFT_MESSAGE__INIT;
    Ics__V1__RaftMessage__RequestVote rv = ICS__V1__RAFT_MESSAGE__REQUEST_VOTE__INIT;
    Ics__V1__RaftMessage__RequestVoteResult rvr = ICS__V1__RAFT_MESSAGE__REQUEST_VOTE_RESULT__INIT;
    Ics__V1__RaftMessage__AppendEntries ae = ICS__V1__RAFT_MESSAGE__APPEND_ENTRIES__INIT;
    Ics__V1__RaftMessage__AppendEntriesResult aer = ICS__V1__RAFT_MESSAGE__APPEND_ENTRIES_RESULT__INIT;
    Ics__V1__RaftMessage__InstallSnapshot is = ICS__V1__RAFT_MESSAGE__INSTALL_SNAPSHOT__INIT;
    Ics__V1__RaftMessage__TimeoutNow tn = ICS__V1__RAFT_MESSAGE__TIMEOUT_NOW__INIT;
    Ics__V1__RaftEntry *entries = NULL, **entry_ptrs = NULL;
    Ics__V1__RaftServer *servers = NULL, **server_ptrs = NULL;
    int rc = ICS_ENOMEM;

    frame.version = ICS_WIRE_VERSION;
    frame.group = (char *)self->group;
    frame.body_case = ICS__V1__FRAME__BODY_RAFT;
    frame.raft = &rm;
    rm.type = m->type;
    switch (m->type) {
    case RAFT_IO_REQUEST_VOTE:
        rv.term = m->request_vote.term;
        rv.candidate_id = m->request_vote.candidate_id;
        rv.last_log_index = m->request_vote.last_log_index;
        rv.last_log_term = m->request_vote.last_log_term;
        rv.disrupt_leader = m->request_vote.disrupt_leader;
        rv.pre_vote = m->request_vote.pre_vote;
        rm.body_case = ICS__V1__RAFT_MESSAGE__BODY_REQUEST_VOTE;
        rm.request_vote = &rv;
        break;
    case RAFT_IO_REQUEST_VOTE_RESULT:
        rvr.term = m->request_vote_result.term;
        rvr.vote_granted = m->request_vote_result.vote_granted;
        rvr.pre_vote = (uint32_t)m->request_vote_result.pre_vote;
        rm.body_case = ICS__V1__RAFT_MESSAGE__BODY_REQUEST_VOTE_RESULT;
        rm.request_vote_result = &rvr;
        break;
    case RAFT_IO_APPEND_ENTRIES: {
        const struct raft_append_entries *a = &m->append_entries;
        ae.term = a->term;
        ae.prev_log_index = a->prev_log_index;
        ae.prev_log_term = a->prev_log_term;
        ae.leader_commit = a->leader_commit;
        if (a->n_entries > 0) {
            entries = calloc(a->n_entries, sizeof *entries);
            entry_ptrs = calloc(a->n_entries, sizeof *entry_ptrs);
            if (entries == NULL || entry_ptrs == NULL)
                goto out;
            for (unsigned i = 0; i < a->n_entries; i++) {
                ics__v1__raft_entry__init(&entries[i]);
                entries[i].term = a->entries[i].term;
                entries[i].type = a->entries[i].type;
                entries[i].data.data = a->entries[i].buf.base;
                entries[i].data.len = a->entries[i].buf.len;
                entry_ptrs[i] = &entries[i];
            }
        }
        ae.entries = entry_ptrs;
        ae.n_entries = a->n_entries;
        rm.body_case = ICS__V1__RAFT_MESSAGE__BODY_APPEND_ENTRIES;
        rm.append_entries = &ae;
        break;
    }
    case RAFT_IO_APPEND_ENTRIES_RESULT:
        aer.term = m->append_entries_result.term;
        aer.rejected = m->append_entries_result.rejected;
        aer.last_log_index = m->append_entries_result.last_log_index;
        rm.body_case = ICS__V1__RAFT_MESSAGE__BODY_APPEND_ENTRIES_RESULT;
        rm.append_entries_result = &aer;
        break;
    case RAFT_IO_INSTALL_SNAPSHOT: {
        const struct raft_install_snapshot *s = &m->install_snapshot;
        is.term = s->term;
        is.last_index = s->last_index;
        is.last_term = s->last_term;
        is.conf_index = s->conf_index;
        is.data.data = s->data.base;
        is.data.len = s->data.len;
        if (s->conf.n > 0) {
            servers = calloc(s->conf.n, sizeof *servers);
            server_ptrs = calloc(s->conf.n, sizeof *server_ptrs);
            if (servers == NULL || server_ptrs == NULL)
                goto out;
            for (unsigned i = 0; i < s->conf.n; i++) {
                ics__v1__raft_server__init(&servers[i]);
                servers[i].id = s->conf.servers[i].id;
                servers[i].address = s->conf.servers[i].address;
                servers[i].role = (uint32_t)s->conf.servers[i].role;
                server_ptrs[i] = &servers[i];
            }
        }
        is.conf = server_ptrs;
        is.n_conf = s->conf.n;
        rm.body_case = ICS__V1__RAFT_MESSAGE__BODY_INSTALL_SNAPSHOT;
        rm.install_snapshot = &is;
        break;
    }
    case RAFT_IO_TIMEOUT_NOW:
        tn.term = m->timeout_now.term;
        tn.last_log_index = m->timeout_now.last_log_index;
        tn.last_log_term = m->timeout_now.last_log_term;
        rm.body_case = ICS__V1__RAFT_MESSAGE__BODY_TIMEOUT_NOW;
        rm.timeout_now = &tn;
        break;
    default:
        rc = ICS_EINVAL;
        goto out;
    }
    rc = ics_pack(&frame.base, out, out_len);
out:
    free(entries);
    free(entry_ptrs);
    free(servers);
    free(server_ptrs);
    return rc;
}

static int s_send(struct raft_io *io, struct raft_io_send *req,
                  const struct raft_message *message, raft_io_send_cb cb)
{
    ics_raftio_t *self = io->impl;
    s_op_t op = {.type = OP_SEND};
    uint8_t *buf = NULL;
    size_t len = 0;
    int status = RAFT_NOCONNECTION;

    req->cb = cb;
    if (s_encode(self, message, &buf, &len) == ICS_OK &&
        self->send(self->send_arg, message->server_address, buf, len) == 0)
        status = 0;
    free(buf);
    self->stats.sends++;
    if (status != 0)
        self->stats.send_failures++;
    op.send.req = req;
    op.send.status = status;
    return s_push(self, &op) != 0 ? RAFT_NOMEM : 0;
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

static bool s_decode_snapshot(const Ics__V1__RaftMessage__InstallSnapshot *is,
                              struct raft_install_snapshot *out)
{
    out->term = is->term;
    out->last_index = is->last_index;
    out->last_term = is->last_term;
    out->conf_index = is->conf_index;
    raft_configuration_init(&out->conf);
    for (size_t i = 0; i < is->n_conf; i++) {
        const Ics__V1__RaftServer *s = is->conf[i];
        if (s->role > RAFT_SPARE ||
            raft_configuration_add(&out->conf, s->id, s->address, (int)s->role) != 0) {
            raft_configuration_close(&out->conf);
            return false;
        }
    }
    out->data.len = is->data.len;
    out->data.base = raft_malloc(is->data.len > 0 ? is->data.len : 1);
    if (out->data.base == NULL) {
        raft_configuration_close(&out->conf);
        return false;
    }
    if (is->data.len > 0)
        memcpy(out->data.base, is->data.data, is->data.len);
    return true;
}

void ics_raftio_deliver(ics_raftio_t *self, const char *from, const Ics__V1__RaftMessage *m)
{
    struct raft_message msg;

    if (self->recv_cb == NULL)
        return; /* not started yet */
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
        break;
    case ICS__V1__RAFT_MESSAGE__BODY_INSTALL_SNAPSHOT:
        if (m->type != RAFT_IO_INSTALL_SNAPSHOT ||
            !s_decode_snapshot(m->install_snapshot, &msg.install_snapshot))
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

ics_raftio_t *ics_raftio_new(const char *group, ics_store_t *store, ics_raftio_send_fn send,
                             void *send_arg)
{
    ics_raftio_t *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    ics_strcpy(self->group, sizeof self->group, group);
    self->store = store;
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
    free((*self_p)->ops);
    free(*self_p);
    *self_p = NULL;
}

struct raft_io *ics_raftio_io(ics_raftio_t *self) { return &self->io; }
ics_raftio_stats_t ics_raftio_stats(const ics_raftio_t *self) { return self->stats; }
