/*
 * Unit tests for the raft_io backend (daemon/raftio.c). Raftio instances
 * are wired back to back, each over a real ics_store_t in its own mkdtemp
 * directory: the "network" is a queue of the encoded frames they hand to
 * their send function, which a test delivers, loses, reorders or forges.
 * The transport's rule is checked on every frame: none is longer than
 * max_message_bytes.
 *
 *   - every raft message type survives the round trip through a frame;
 *   - a snapshot of several MB goes in chunks that each fit and arrives
 *     byte-identical; an AppendEntries carries the longest prefix of its
 *     entries that fits, and an entry that cannot fit fails the send;
 *   - chunks out of order, repeated, forged, from another peer or from an
 *     old, replaced or stalled transfer are dropped and counted;
 *   - group commit: queued appends and truncates reach the store in one
 *     transaction, in order, before any callback fires, and the callbacks
 *     fire in the order raft queued the requests;
 *   - real raft servers on these ios: a follower left far behind catches up
 *     through capped AppendEntries, and one behind a compacted log through
 *     a chunked snapshot; a follower that holds a committed entry without
 *     knowing it is noticed once, and a heartbeat run at once tells it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "raftio.h"
#include "raftview.h"
#include "common/envelope.h"

#define GROUP "nenc"
#define MAX_FRAME 65536u
#define MAX_NODES 3
#define INBOX_MAX 64

/* ---- fixture --------------------------------------------------------- */

typedef struct {
    char from[16], to[16];
    uint8_t *data;
    size_t len;
} s_frame_t;

typedef struct s_net s_net_t;

typedef struct {
    s_net_t *net;
    char org[16];
    char dir[64], path[128];
    ics_store_t *store;
    ics_raftio_t *io;
    /* What the io handed to recv_cb, owned here and freed as raft would. */
    struct raft_message inbox[INBOX_MAX];
    char inbox_from[INBOX_MAX][16];
    size_t n_in;
    unsigned refuse_after; /* the transport refuses every frame after this many; 0: never */
    unsigned frames_out;
    /* A real raft server on the io, in the raft scenarios. */
    struct raft raft;
    struct raft_fsm fsm;
    bool raft_on;
    uint8_t *state; /* the state machine: every applied entry, concatenated */
    size_t state_len;
    unsigned restores;
} s_node_t;

struct s_net {
    s_node_t nodes[MAX_NODES];
    size_t n;
    s_frame_t *q;
    size_t nq, cap;
    size_t longest;      /* longest frame handed to the transport */
    unsigned cut;        /* bitmask of nodes whose frames, either way, are lost */
    unsigned rejections; /* AppendEntries refused by a follower, as seen on the wire */
};

static const char *const s_orgs[MAX_NODES] = {"QHM", "RTD", "RX4"};

static int s_transport(void *arg, const char *to, const uint8_t *frame, size_t len)
{
    s_node_t *nd = arg;
    s_net_t *net = nd->net;

    if (nd->refuse_after > 0 && nd->frames_out >= nd->refuse_after)
        return -1;
    /* The transport drops anything longer: it must never be asked to. */
    assert_true(len <= MAX_FRAME);
    nd->frames_out++;
    if (len > net->longest)
        net->longest = len;
    if (net->nq == net->cap) {
        net->cap = net->cap ? net->cap * 2 : 64;
        net->q = realloc(net->q, net->cap * sizeof *net->q);
        assert_non_null(net->q);
    }
    s_frame_t *f = &net->q[net->nq++];
    snprintf(f->from, sizeof f->from, "%s", nd->org);
    snprintf(f->to, sizeof f->to, "%s", to);
    f->data = malloc(len > 0 ? len : 1);
    assert_non_null(f->data);
    memcpy(f->data, frame, len);
    f->len = len;
    return 0;
}

static void s_recv(struct raft_io *io, struct raft_message *m)
{
    s_node_t *nd = io->data;

    assert_true(nd->n_in < INBOX_MAX);
    snprintf(nd->inbox_from[nd->n_in], sizeof nd->inbox_from[0], "%s", m->server_address);
    nd->inbox[nd->n_in] = *m;
    nd->inbox[nd->n_in].server_address = nd->inbox_from[nd->n_in];
    nd->n_in++;
}

static void s_tick_nop(struct raft_io *io)
{
    (void)io;
}

/* As raft frees what it received. */
static void s_message_free(struct raft_message *m)
{
    if (m->type == RAFT_IO_APPEND_ENTRIES) {
        if (m->append_entries.n_entries > 0)
            raft_free(m->append_entries.entries[0].batch);
        raft_free(m->append_entries.entries);
    } else if (m->type == RAFT_IO_INSTALL_SNAPSHOT) {
        raft_configuration_close(&m->install_snapshot.conf);
        raft_free(m->install_snapshot.data.base);
    }
}

static void s_inbox_clear(s_node_t *nd)
{
    for (size_t i = 0; i < nd->n_in; i++)
        s_message_free(&nd->inbox[i]);
    nd->n_in = 0;
}

static void s_frame_free(s_frame_t *f)
{
    free(f->data);
    f->data = NULL;
}

static void s_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[128 + sizeof e->d_name];

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        assert_int_equal(unlink(p), 0);
    }
    closedir(d);
    assert_int_equal(rmdir(dir), 0);
}

static void s_node_open(s_net_t *net, size_t i)
{
    s_node_t *nd = &net->nodes[i];
    ics_err_t err = {{0}};

    nd->net = net;
    snprintf(nd->org, sizeof nd->org, "%s", s_orgs[i]);
    snprintf(nd->dir, sizeof nd->dir, "/tmp/test_raftio.XXXXXX");
    assert_non_null(mkdtemp(nd->dir));
    /* Through a local: GCC cannot tell nd->dir and nd->path apart. */
    char path[sizeof nd->path];
    snprintf(path, sizeof path, "%s/raft.db", nd->dir);
    memcpy(nd->path, path, sizeof path);
    nd->store = ics_store_open(nd->path, &err);
    if (nd->store == NULL)
        fail_msg("open %s: %s", nd->path, err.msg);
    nd->io = ics_raftio_new(GROUP, nd->store, MAX_FRAME, s_transport, nd);
    assert_non_null(nd->io);
    /* The commands here are test bytes, not envelopes; the validator's own
     * tests turn the check back on. */
    ics_raftio_set_envelope_check(nd->io, false);
}

/* Starts the io without raft: the test plays raft. */
static void s_node_plain(s_node_t *nd)
{
    struct raft_io *io = ics_raftio_io(nd->io);

    io->data = nd;
    assert_int_equal(io->init(io, ics_raft_id(nd->org), nd->org), 0);
    assert_int_equal(io->start(io, 1000, s_tick_nop, s_recv), 0);
}

static void s_raft_closed(struct raft *r)
{
    (void)r;
}

static int s_setup(void **state)
{
    s_net_t *net = calloc(1, sizeof *net);

    assert_non_null(net);
    net->n = MAX_NODES;
    for (size_t i = 0; i < net->n; i++)
        s_node_open(net, i);
    *state = net;
    return 0;
}

static int s_setup_plain(void **state)
{
    s_setup(state);
    s_net_t *net = *state;
    for (size_t i = 0; i < net->n; i++)
        s_node_plain(&net->nodes[i]);
    return 0;
}

static int s_teardown(void **state)
{
    s_net_t *net = *state;

    for (size_t i = 0; i < net->n; i++) {
        s_node_t *nd = &net->nodes[i];
        if (nd->raft_on)
            raft_close(&nd->raft, s_raft_closed); /* our io closes synchronously */
        s_inbox_clear(nd);
        ics_raftio_destroy(&nd->io);
        assert_null(nd->io);
        ics_store_close(&nd->store);
        s_rmdir(nd->dir);
        free(nd->state);
    }
    for (size_t i = 0; i < net->nq; i++)
        s_frame_free(&net->q[i]);
    free(net->q);
    free(net);
    return 0;
}

/* ---- helpers --------------------------------------------------------- */

static s_node_t *s_node(s_net_t *net, const char *org)
{
    for (size_t i = 0; i < net->n; i++)
        if (strcmp(net->nodes[i].org, org) == 0)
            return &net->nodes[i];
    return NULL;
}

/* Hands one frame to its addressee as node.c would, as if sent by `from`. */
static void s_deliver_as(s_net_t *net, const s_frame_t *f, const char *from)
{
    s_node_t *to = s_node(net, f->to);
    Ics__V1__Frame *frame = ics__v1__frame__unpack(NULL, f->len, f->data);

    assert_non_null(to);
    assert_non_null(frame);
    assert_int_equal(frame->version, ICS_WIRE_VERSION);
    assert_string_equal(frame->group, GROUP);
    assert_int_equal(frame->body_case, ICS__V1__FRAME__BODY_RAFT);
    if (frame->raft->body_case == ICS__V1__RAFT_MESSAGE__BODY_APPEND_ENTRIES_RESULT &&
        frame->raft->append_entries_result->rejected != 0)
        net->rejections++;
    ics_raftio_deliver(to->io, from, frame->raft);
    ics__v1__frame__free_unpacked(frame, NULL);
}

static void s_deliver_one(s_net_t *net, const s_frame_t *f)
{
    s_deliver_as(net, f, f->from);
}

/* Takes the frames queued so far off the network. */
static s_frame_t *s_take(s_net_t *net, size_t *n)
{
    s_frame_t *q = net->q;
    *n = net->nq;
    net->q = NULL;
    net->nq = net->cap = 0;
    return q;
}

static void s_frames_free(s_frame_t *q, size_t n)
{
    for (size_t i = 0; i < n; i++)
        s_frame_free(&q[i]);
    free(q);
}

/* Delivers the frames queued so far, losing those to or from a cut node;
 * frames they cause wait for the next call, as a reply waits a round trip. */
static void s_deliver_all(s_net_t *net)
{
    size_t n;
    s_frame_t *q = s_take(net, &n);

    for (size_t i = 0; i < n; i++) {
        s_node_t *from = s_node(net, q[i].from), *to = s_node(net, q[i].to);
        unsigned mask = (1u << (from - net->nodes)) | (1u << (to - net->nodes));
        if ((net->cut & mask) == 0)
            s_deliver_one(net, &q[i]);
    }
    s_frames_free(q, n);
}

typedef struct {
    struct raft_io_send req;
    int status;
    bool done;
} s_sent_t;

static void s_sent_cb(struct raft_io_send *req, int status)
{
    s_sent_t *s = req->data;
    s->status = status;
    s->done = true;
}

/* Sends m from nd to `to` and completes the request as the event loop
 * would; returns the status raft's callback got. */
static int s_send(s_node_t *nd, const char *to, struct raft_message *m)
{
    struct raft_io *io = ics_raftio_io(nd->io);
    s_sent_t s = {.status = -1};

    s.req.data = &s;
    m->server_id = ics_raft_id(to);
    m->server_address = to;
    assert_int_equal(io->send(io, &s.req, m, s_sent_cb), 0);
    assert_false(s.done); /* every request completes from the flush */
    assert_true(ics_raftio_flush(nd->io));
    assert_true(s.done);
    return s.status;
}

static void s_conf(struct raft_configuration *conf)
{
    raft_configuration_init(conf);
    assert_int_equal(raft_configuration_add(conf, ics_raft_id("QHM"), "QHM", RAFT_VOTER), 0);
    assert_int_equal(raft_configuration_add(conf, ics_raft_id("RTD"), "RTD", RAFT_STANDBY), 0);
    assert_int_equal(raft_configuration_add(conf, ics_raft_id("RX4"), "RX4", RAFT_SPARE), 0);
}

/* An InstallSnapshot of len random bytes (data freed by the caller). */
static struct raft_message s_snapshot_message(size_t len, uint8_t **data)
{
    struct raft_message m;

    memset(&m, 0, sizeof m);
    m.type = RAFT_IO_INSTALL_SNAPSHOT;
    m.install_snapshot.term = 6;
    m.install_snapshot.last_index = 4000;
    m.install_snapshot.last_term = 5;
    m.install_snapshot.conf_index = 3;
    s_conf(&m.install_snapshot.conf);
    *data = malloc(len > 0 ? len : 1);
    assert_non_null(*data);
    randombytes_buf(*data, len);
    m.install_snapshot.data.base = *data;
    m.install_snapshot.data.len = len;
    return m;
}

/* Sends a snapshot of len bytes from QHM to RTD and takes its frames off
 * the network (freed by the caller, with *data). */
static s_frame_t *s_snapshot_frames(s_net_t *net, size_t len, uint8_t **data, size_t *n)
{
    struct raft_message m = s_snapshot_message(len, data);

    assert_int_equal(s_send(&net->nodes[0], "RTD", &m), 0);
    raft_configuration_close(&m.install_snapshot.conf);
    return s_take(net, n);
}

static ics_raftio_stats_t s_stats(s_node_t *nd)
{
    return ics_raftio_stats(nd->io);
}

/* ---- domain assertions ----------------------------------------------- */

/* The node received exactly one message, of this type. */
#define ASSERT_RECEIVED_ONE(nd, t)                                                       \
    do {                                                                                 \
        assert_int_equal((nd)->n_in, 1);                                                 \
        assert_int_equal((nd)->inbox[0].type, (t));                                      \
    } while (0)

/* The received snapshot is the one sent, byte for byte, with its header. */
#define ASSERT_SNAPSHOT_IS(got, want, want_len)                                          \
    do {                                                                                 \
        const struct raft_install_snapshot *g_ = (got);                                  \
        assert_int_equal(g_->term, 6);                                                   \
        assert_int_equal(g_->last_index, 4000);                                          \
        assert_int_equal(g_->last_term, 5);                                              \
        assert_int_equal(g_->conf_index, 3);                                             \
        s_assert_conf(&g_->conf);                                                        \
        assert_int_equal(g_->data.len, (want_len));                                      \
        if ((want_len) > 0)                                                              \
            assert_memory_equal(g_->data.base, (want), (want_len));                      \
    } while (0)

static void s_assert_conf(const struct raft_configuration *c)
{
    struct raft_configuration want;

    s_conf(&want);
    assert_int_equal(c->n, want.n);
    for (unsigned i = 0; i < c->n; i++) {
        assert_int_equal(c->servers[i].id, want.servers[i].id);
        assert_string_equal(c->servers[i].address, want.servers[i].address);
        assert_int_equal(c->servers[i].role, want.servers[i].role);
    }
    raft_configuration_close(&want);
}

/* Frames of a chunked snapshot: each fits, together they carry len bytes,
 * and they are not needlessly small. */
static void s_assert_chunked(const s_frame_t *q, size_t n, size_t len)
{
    size_t payload = 0;

    assert_true(n >= 1);
    for (size_t i = 0; i < n; i++) {
        Ics__V1__Frame *f = ics__v1__frame__unpack(NULL, q[i].len, q[i].data);
        assert_non_null(f);
        assert_true(q[i].len <= MAX_FRAME);
        assert_int_equal(f->raft->body_case, ICS__V1__RAFT_MESSAGE__BODY_INSTALL_SNAPSHOT);
        assert_int_equal(f->raft->install_snapshot->offset, payload);
        assert_int_equal(f->raft->install_snapshot->total_len, len);
        assert_int_equal(f->raft->install_snapshot->n_conf, i == 0 ? 3 : 0);
        if (i + 1 < n)
            assert_true(q[i].len > MAX_FRAME - 256);
        payload += f->raft->install_snapshot->data.len;
        ics__v1__frame__free_unpacked(f, NULL);
    }
    assert_int_equal(payload, len);
}

/* ---- scenarios: the wire --------------------------------------------- */

static void test_round_trip_each_type(void **state)
{
    s_net_t *net = *state;
    s_node_t *a = &net->nodes[0], *b = &net->nodes[1];
    struct raft_message m;
    const struct raft_message *got;

    memset(&m, 0, sizeof m);
    m.type = RAFT_IO_REQUEST_VOTE;
    m.request_vote.term = 7;
    m.request_vote.candidate_id = 12345; /* whatever it says, the sender is the candidate */
    m.request_vote.last_log_index = 99;
    m.request_vote.last_log_term = 6;
    m.request_vote.disrupt_leader = true;
    m.request_vote.pre_vote = true;
    assert_int_equal(s_send(a, "RTD", &m), 0);
    s_deliver_all(net);
    ASSERT_RECEIVED_ONE(b, RAFT_IO_REQUEST_VOTE);
    got = &b->inbox[0];
    assert_int_equal(got->server_id, ics_raft_id("QHM"));
    assert_string_equal(got->server_address, "QHM");
    assert_int_equal(got->request_vote.term, 7);
    assert_int_equal(got->request_vote.candidate_id, ics_raft_id("QHM"));
    assert_int_equal(got->request_vote.last_log_index, 99);
    assert_int_equal(got->request_vote.last_log_term, 6);
    assert_true(got->request_vote.disrupt_leader);
    assert_true(got->request_vote.pre_vote);
    s_inbox_clear(b);

    memset(&m, 0, sizeof m);
    m.type = RAFT_IO_REQUEST_VOTE_RESULT;
    m.request_vote_result.term = 7;
    m.request_vote_result.vote_granted = true;
    m.request_vote_result.pre_vote = raft_tribool_false;
    assert_int_equal(s_send(a, "RTD", &m), 0);
    s_deliver_all(net);
    ASSERT_RECEIVED_ONE(b, RAFT_IO_REQUEST_VOTE_RESULT);
    got = &b->inbox[0];
    assert_int_equal(got->request_vote_result.term, 7);
    assert_true(got->request_vote_result.vote_granted);
    assert_int_equal(got->request_vote_result.pre_vote, raft_tribool_false);
    s_inbox_clear(b);

    struct raft_configuration conf;
    struct raft_buffer conf_buf;
    s_conf(&conf);
    assert_int_equal(raft_configuration_encode(&conf, &conf_buf), 0);
    raft_configuration_close(&conf);
    struct raft_entry entries[3] = {
        {.term = 3, .type = RAFT_COMMAND, .buf = {.base = "alpha", .len = 5}},
        {.term = 3, .type = RAFT_BARRIER, .buf = {.base = NULL, .len = 0}},
        {.term = 4, .type = RAFT_CHANGE, .buf = conf_buf},
    };
    memset(&m, 0, sizeof m);
    m.type = RAFT_IO_APPEND_ENTRIES;
    m.append_entries.term = 4;
    m.append_entries.prev_log_index = 10;
    m.append_entries.prev_log_term = 2;
    m.append_entries.leader_commit = 9;
    m.append_entries.entries = entries;
    m.append_entries.n_entries = 3;
    assert_int_equal(s_send(a, "RTD", &m), 0);
    s_deliver_all(net);
    ASSERT_RECEIVED_ONE(b, RAFT_IO_APPEND_ENTRIES);
    got = &b->inbox[0];
    assert_int_equal(got->append_entries.term, 4);
    assert_int_equal(got->append_entries.prev_log_index, 10);
    assert_int_equal(got->append_entries.prev_log_term, 2);
    assert_int_equal(got->append_entries.leader_commit, 9);
    assert_int_equal(got->append_entries.n_entries, 3);
    for (unsigned i = 0; i < 3; i++) {
        const struct raft_entry *e = &got->append_entries.entries[i];
        assert_int_equal(e->term, entries[i].term);
        assert_int_equal(e->type, entries[i].type);
        assert_int_equal(e->buf.len, entries[i].buf.len);
        if (e->buf.len > 0)
            assert_memory_equal(e->buf.base, entries[i].buf.base, e->buf.len);
        /* raft frees the first entry's batch for all of them. */
        assert_ptr_equal(e->batch, got->append_entries.entries[0].batch);
    }
    assert_int_equal(s_stats(b).append_entries, 1);
    s_inbox_clear(b);
    raft_free(conf_buf.base);

    memset(&m, 0, sizeof m);
    m.type = RAFT_IO_APPEND_ENTRIES_RESULT;
    m.append_entries_result.term = 5;
    m.append_entries_result.rejected = 17;
    m.append_entries_result.last_log_index = 16;
    assert_int_equal(s_send(a, "RTD", &m), 0);
    s_deliver_all(net);
    ASSERT_RECEIVED_ONE(b, RAFT_IO_APPEND_ENTRIES_RESULT);
    got = &b->inbox[0];
    assert_int_equal(got->append_entries_result.term, 5);
    assert_int_equal(got->append_entries_result.rejected, 17);
    assert_int_equal(got->append_entries_result.last_log_index, 16);
    s_inbox_clear(b);

    uint8_t *data;
    m = s_snapshot_message(1000, &data);
    assert_int_equal(s_send(a, "RTD", &m), 0);
    raft_configuration_close(&m.install_snapshot.conf);
    s_deliver_all(net);
    ASSERT_RECEIVED_ONE(b, RAFT_IO_INSTALL_SNAPSHOT);
    ASSERT_SNAPSHOT_IS(&b->inbox[0].install_snapshot, data, 1000);
    free(data);
    s_inbox_clear(b);

    /* An empty snapshot is one chunk with no data. */
    m = s_snapshot_message(0, &data);
    assert_int_equal(s_send(a, "RTD", &m), 0);
    raft_configuration_close(&m.install_snapshot.conf);
    s_deliver_all(net);
    ASSERT_RECEIVED_ONE(b, RAFT_IO_INSTALL_SNAPSHOT);
    ASSERT_SNAPSHOT_IS(&b->inbox[0].install_snapshot, data, 0);
    free(data);
    s_inbox_clear(b);

    memset(&m, 0, sizeof m);
    m.type = RAFT_IO_TIMEOUT_NOW;
    m.timeout_now.term = 6; /* from the leader of the snapshot's term */
    m.timeout_now.last_log_index = 50;
    m.timeout_now.last_log_term = 5;
    assert_int_equal(s_send(a, "RTD", &m), 0);
    s_deliver_all(net);
    ASSERT_RECEIVED_ONE(b, RAFT_IO_TIMEOUT_NOW);
    got = &b->inbox[0];
    assert_int_equal(got->timeout_now.term, 6);
    assert_int_equal(got->timeout_now.last_log_index, 50);
    assert_int_equal(got->timeout_now.last_log_term, 5);
    s_inbox_clear(b);

    ics_raftio_stats_t st = s_stats(a);
    assert_int_equal(st.sends, 7);
    assert_int_equal(st.send_failures, 0);
    assert_int_equal(st.snapshot_sends, 2);
    assert_int_equal(st.append_capped, 0);
}

static void test_big_snapshot_chunked_and_reassembled(void **state)
{
    s_net_t *net = *state;
    s_node_t *a = &net->nodes[0], *b = &net->nodes[1];
    const size_t len = 5 * 1024 * 1024 + 123;
    uint8_t *data;
    size_t n;
    s_frame_t *q = s_snapshot_frames(net, len, &data, &n);

    assert_true(n >= len / MAX_FRAME + 1);
    s_assert_chunked(q, n, len);
    for (size_t i = 0; i < n; i++) {
        s_deliver_one(net, &q[i]);
        /* Nothing reaches raft before the last chunk. */
        assert_int_equal(b->n_in, i + 1 == n ? 1 : 0);
    }
    s_frames_free(q, n);
    ASSERT_RECEIVED_ONE(b, RAFT_IO_INSTALL_SNAPSHOT);
    ASSERT_SNAPSHOT_IS(&b->inbox[0].install_snapshot, data, len);
    free(data);

    ics_raftio_stats_t sa = s_stats(a), sb = s_stats(b);
    assert_int_equal(sa.snapshot_sends, 1);
    assert_int_equal(sa.snapshot_chunks_sent, n);
    assert_int_equal(sb.snapshot_chunks_received, n);
    assert_int_equal(sb.snapshots_received, 1);
    assert_int_equal(sb.chunks_dropped_unknown + sb.chunks_dropped_order +
                         sb.chunks_dropped_invalid + sb.chunks_dropped_too_big,
                     0);
}

/* Re-encodes a frame with its snapshot header changed. */
static s_frame_t s_forge(const s_frame_t *f, uint64_t last_index, uint64_t transfer_id)
{
    Ics__V1__Frame *frame = ics__v1__frame__unpack(NULL, f->len, f->data);
    s_frame_t out = *f;

    assert_non_null(frame);
    frame->raft->install_snapshot->last_index = last_index;
    frame->raft->install_snapshot->transfer_id = transfer_id;
    assert_int_equal(ics_pack(&frame->base, &out.data, &out.len), ICS_OK);
    ics__v1__frame__free_unpacked(frame, NULL);
    return out;
}

static uint64_t s_transfer_id(const s_frame_t *f)
{
    Ics__V1__Frame *frame = ics__v1__frame__unpack(NULL, f->len, f->data);
    uint64_t id;

    assert_non_null(frame);
    id = frame->raft->install_snapshot->transfer_id;
    ics__v1__frame__free_unpacked(frame, NULL);
    return id;
}

static void test_chunks_out_of_order_repeated_or_foreign_dropped(void **state)
{
    s_net_t *net = *state;
    s_node_t *b = &net->nodes[1];
    const size_t len = 200000;
    uint8_t *data;
    size_t n;
    s_frame_t *q = s_snapshot_frames(net, len, &data, &n);
    s_frame_t forged;

    assert_int_equal(n, 4);
    s_deliver_one(net, &q[0]);
    s_deliver_one(net, &q[2]); /* ahead of its turn */
    s_deliver_one(net, &q[0]); /* the first again */
    s_deliver_one(net, &q[1]);
    s_deliver_one(net, &q[1]); /* again */
    assert_int_equal(s_stats(b).chunks_dropped_order, 3);

    /* The right chunk, from a peer with no transfer under way. */
    s_deliver_as(net, &q[2], "RX4");
    assert_int_equal(s_stats(b).chunks_dropped_unknown, 1);
    /* From the right peer, under another transfer id. */
    forged = s_forge(&q[2], 4000, s_transfer_id(&q[2]) ^ 1);
    s_deliver_one(net, &forged);
    s_frame_free(&forged);
    assert_int_equal(s_stats(b).chunks_dropped_unknown, 2);
    /* Under the right id, claiming another snapshot. */
    forged = s_forge(&q[2], 4001, s_transfer_id(&q[2]));
    s_deliver_one(net, &forged);
    s_frame_free(&forged);
    assert_int_equal(s_stats(b).chunks_dropped_invalid, 1);
    assert_int_equal(b->n_in, 0);

    s_deliver_one(net, &q[2]);
    s_deliver_one(net, &q[3]);
    ASSERT_RECEIVED_ONE(b, RAFT_IO_INSTALL_SNAPSHOT);
    ASSERT_SNAPSHOT_IS(&b->inbox[0].install_snapshot, data, len);
    /* The transfer is over: its last chunk again belongs to none. */
    s_deliver_one(net, &q[3]);
    assert_int_equal(b->n_in, 1);

    ics_raftio_stats_t st = s_stats(b);
    assert_int_equal(st.snapshot_chunks_received, 4);
    assert_int_equal(st.snapshots_received, 1);
    assert_int_equal(st.chunks_dropped_order, 3);
    assert_int_equal(st.chunks_dropped_unknown, 3);
    assert_int_equal(st.chunks_dropped_invalid, 1);
    assert_int_equal(st.invalid[ICS_INVALID_SNAPSHOT], 1);
    s_frames_free(q, n);
    free(data);
}

static void test_transfers_replaced_stalled_or_too_big(void **state)
{
    s_net_t *net = *state;
    s_node_t *a = &net->nodes[0], *b = &net->nodes[1];
    uint8_t *d1, *d2, *d3;
    size_t n1, n2, n3;
    s_frame_t *q1 = s_snapshot_frames(net, 150000, &d1, &n1);
    s_frame_t *q2 = s_snapshot_frames(net, 150000, &d2, &n2);

    /* A new transfer from the same peer replaces the one under way. */
    assert_int_equal(n1, 3);
    assert_int_equal(n2, 3);
    s_deliver_one(net, &q1[0]);
    s_deliver_one(net, &q1[1]);
    s_deliver_one(net, &q2[0]);
    assert_int_equal(s_stats(b).transfers_replaced, 1);
    s_deliver_one(net, &q1[2]);
    assert_int_equal(s_stats(b).chunks_dropped_unknown, 1);
    s_deliver_one(net, &q2[1]);
    s_deliver_one(net, &q2[2]);
    ASSERT_RECEIVED_ONE(b, RAFT_IO_INSTALL_SNAPSHOT);
    ASSERT_SNAPSHOT_IS(&b->inbox[0].install_snapshot, d2, 150000);
    s_inbox_clear(b);

    /* One whose next chunk does not come in time is dropped. */
    ics_raftio_set_transfer_limits(b->io, ICS_RAFTIO_SNAPSHOT_MAX, 30);
    s_frame_t *q3 = s_snapshot_frames(net, 150000, &d3, &n3);
    s_deliver_one(net, &q3[0]);
    ics_raftio_tick(b->io);
    assert_int_equal(s_stats(b).transfers_stalled, 0);
    usleep(60 * 1000);
    ics_raftio_tick(b->io);
    assert_int_equal(s_stats(b).transfers_stalled, 1);
    s_deliver_one(net, &q3[1]);
    assert_int_equal(s_stats(b).chunks_dropped_unknown, 2);

    /* A receiver refuses a snapshot over its limit from the first chunk. */
    ics_raftio_set_transfer_limits(b->io, 100000, ICS_RAFTIO_TRANSFER_STALL_MS);
    s_deliver_one(net, &q3[0]);
    s_deliver_one(net, &q3[1]);
    assert_int_equal(s_stats(b).chunks_dropped_too_big, 2);
    assert_int_equal(b->n_in, 0);
    /* And a sender does not start one. */
    ics_raftio_set_transfer_limits(a->io, 100000, ICS_RAFTIO_TRANSFER_STALL_MS);
    uint8_t *d4;
    struct raft_message m = s_snapshot_message(150000, &d4);
    assert_int_equal(s_send(a, "RTD", &m), RAFT_TOOBIG);
    raft_configuration_close(&m.install_snapshot.conf);
    assert_int_equal(net->nq, 0);
    assert_int_equal(s_stats(a).snapshot_fail_too_big, 1);
    free(d4);

    /* A transfer under way when the io goes is freed with it. */
    ics_raftio_set_transfer_limits(b->io, ICS_RAFTIO_SNAPSHOT_MAX, ICS_RAFTIO_TRANSFER_STALL_MS);
    s_deliver_one(net, &q3[0]);
    assert_int_equal(s_stats(b).snapshot_chunks_received, 2 + 3 + 1 + 1);

    s_frames_free(q1, n1);
    s_frames_free(q2, n2);
    s_frames_free(q3, n3);
    free(d1);
    free(d2);
    free(d3);
}

static void test_snapshot_send_fails_when_a_chunk_is_refused(void **state)
{
    s_net_t *net = *state;
    s_node_t *a = &net->nodes[0], *b = &net->nodes[1];
    uint8_t *data;
    struct raft_message m = s_snapshot_message(200000, &data);
    size_t n;

    a->refuse_after = a->frames_out + 2;
    assert_int_equal(s_send(a, "RTD", &m), RAFT_NOCONNECTION);
    ics_raftio_stats_t st = s_stats(a);
    assert_int_equal(st.snapshot_fail_unreachable, 1);
    assert_int_equal(st.snapshot_sends, 0);
    assert_int_equal(st.snapshot_chunks_sent, 2);
    assert_int_equal(st.send_failures, 1);

    /* raft sends it again; this time the whole of it arrives. */
    a->refuse_after = 0;
    s_frame_t *partial = s_take(net, &n);
    for (size_t i = 0; i < n; i++)
        s_deliver_one(net, &partial[i]);
    s_frames_free(partial, n);
    assert_int_equal(s_send(a, "RTD", &m), 0);
    s_deliver_all(net);
    ASSERT_RECEIVED_ONE(b, RAFT_IO_INSTALL_SNAPSHOT);
    ASSERT_SNAPSHOT_IS(&b->inbox[0].install_snapshot, data, 200000);
    assert_int_equal(s_stats(b).transfers_replaced, 1);
    raft_configuration_close(&m.install_snapshot.conf);
    free(data);
}

/* Size of the AppendEntries frame f would be with `extra` appended. */
static size_t s_size_with(const s_frame_t *f, const struct raft_entry *extra)
{
    Ics__V1__Frame *frame = ics__v1__frame__unpack(NULL, f->len, f->data);
    Ics__V1__RaftMessage__AppendEntries *ae;
    Ics__V1__RaftEntry e = ICS__V1__RAFT_ENTRY__INIT, **saved, **more;
    size_t size;

    assert_non_null(frame);
    ae = frame->raft->append_entries;
    more = calloc(ae->n_entries + 1, sizeof *more);
    assert_non_null(more);
    memcpy(more, ae->entries, ae->n_entries * sizeof *more);
    e.term = extra->term;
    e.type = extra->type;
    e.data.data = extra->buf.base;
    e.data.len = extra->buf.len;
    more[ae->n_entries] = &e;
    saved = ae->entries;
    ae->entries = more;
    ae->n_entries++;
    size = ics__v1__frame__get_packed_size(frame);
    ae->n_entries--;
    ae->entries = saved;
    free(more);
    ics__v1__frame__free_unpacked(frame, NULL);
    return size;
}

static void test_append_entries_capped_to_prefix(void **state)
{
    s_net_t *net = *state;
    s_node_t *a = &net->nodes[0], *b = &net->nodes[1];
    enum { N = 40, LEN = 4000 };
    static uint8_t bytes[N][LEN];
    struct raft_entry entries[N];
    struct raft_message m;
    size_t n;

    for (unsigned i = 0; i < N; i++) {
        randombytes_buf(bytes[i], LEN);
        entries[i] = (struct raft_entry){
            .term = 2, .type = RAFT_COMMAND, .buf = {.base = bytes[i], .len = LEN}};
    }
    memset(&m, 0, sizeof m);
    m.type = RAFT_IO_APPEND_ENTRIES;
    m.append_entries.term = 2;
    m.append_entries.prev_log_index = 10;
    m.append_entries.prev_log_term = 1;
    m.append_entries.entries = entries;
    m.append_entries.n_entries = N;
    /* Completing with an error puts raft's follower back in probe mode. */
    assert_int_equal(s_send(a, "RTD", &m), RAFT_TOOBIG);

    s_frame_t *q = s_take(net, &n);
    assert_int_equal(n, 1);
    assert_true(q[0].len <= MAX_FRAME);
    s_deliver_one(net, &q[0]);
    ASSERT_RECEIVED_ONE(b, RAFT_IO_APPEND_ENTRIES);
    const struct raft_append_entries *got = &b->inbox[0].append_entries;
    unsigned k = got->n_entries;
    assert_true(k >= 1 && k < N);
    assert_int_equal(got->prev_log_index, 10);
    for (unsigned i = 0; i < k; i++)
        assert_memory_equal(got->entries[i].buf.base, bytes[i], LEN);
    /* The longest prefix: one more entry would not fit. */
    assert_true(s_size_with(&q[0], &entries[k]) > MAX_FRAME);
    s_frames_free(q, n);
    s_inbox_clear(b);
    ics_raftio_stats_t st = s_stats(a);
    assert_int_equal(st.append_capped, 1);
    assert_int_equal(st.send_failures, 0);

    /* The rest, from where the follower got to. */
    m.append_entries.prev_log_index = 10 + k;
    m.append_entries.entries = entries + k;
    m.append_entries.n_entries = N - k;
    while (m.append_entries.n_entries > 0) {
        int status = s_send(a, "RTD", &m);
        s_deliver_all(net);
        ASSERT_RECEIVED_ONE(b, RAFT_IO_APPEND_ENTRIES);
        got = &b->inbox[0].append_entries;
        assert_int_equal(got->prev_log_index, m.append_entries.prev_log_index);
        assert_int_equal(status, got->n_entries < m.append_entries.n_entries ? RAFT_TOOBIG : 0);
        for (unsigned i = 0; i < got->n_entries; i++)
            assert_memory_equal(got->entries[i].buf.base,
                                bytes[m.append_entries.prev_log_index - 10 + i], LEN);
        m.append_entries.prev_log_index += got->n_entries;
        m.append_entries.entries += got->n_entries;
        m.append_entries.n_entries -= got->n_entries;
        s_inbox_clear(b);
    }
    assert_true(net->longest <= MAX_FRAME);

    /* An entry that alone does not fit cannot go: the send fails. */
    static uint8_t huge[MAX_FRAME + 1];
    struct raft_entry big = {
        .term = 2, .type = RAFT_COMMAND, .buf = {.base = huge, .len = sizeof huge}};
    m.append_entries.entries = &big;
    m.append_entries.n_entries = 1;
    assert_int_equal(s_send(a, "RTD", &m), RAFT_TOOBIG);
    assert_int_equal(net->nq, 0);
    st = s_stats(a);
    assert_int_equal(st.oversize, 1);
    assert_int_equal(st.send_failures, 1);
}

/* ---- scenarios: group commit ----------------------------------------- */

typedef struct {
    struct raft_io_append req;
    int order;
    int status;
} s_appended_t;

static int s_order;
static raft_index s_durable_last; /* as another connection saw it in the first callback */
static char s_durable_path[128];

static void s_append_cb(struct raft_io_append *req, int status)
{
    s_appended_t *a = req->data;
    a->order = ++s_order;
    a->status = status;
    if (a->order == 1) {
        ics_err_t err;
        ics_store_t *other = ics_store_open(s_durable_path, &err);
        assert_non_null(other);
        s_durable_last = ics_store_last_index(other);
        ics_store_close(&other);
    }
}

static void s_send_order_cb(struct raft_io_send *req, int status)
{
    int *order = req->data;
    (void)status;
    *order = ++s_order;
}

static void test_flush_is_one_transaction_then_callbacks_in_order(void **state)
{
    s_net_t *net = *state;
    s_node_t *a = &net->nodes[0];
    struct raft_io *io = ics_raftio_io(a->io);
    struct raft_entry first[3] = {
        {.term = 1, .type = RAFT_COMMAND, .buf = {.base = "one", .len = 3}},
        {.term = 1, .type = RAFT_COMMAND, .buf = {.base = "two", .len = 3}},
        {.term = 1, .type = RAFT_COMMAND, .buf = {.base = "three", .len = 5}},
    };
    struct raft_entry second[2] = {
        {.term = 2, .type = RAFT_COMMAND, .buf = {.base = "TWO", .len = 3}},
        {.term = 2, .type = RAFT_COMMAND, .buf = {.base = "THREE", .len = 5}},
    };
    s_appended_t a1 = {.order = 0}, a2 = {.order = 0};
    struct raft_io_send sreq;
    int send_order = 0;
    struct raft_message m;
    ics_err_t err;

    s_order = 0;
    s_durable_last = 0;
    snprintf(s_durable_path, sizeof s_durable_path, "%s", a->path);
    a1.req.data = &a1;
    a2.req.data = &a2;
    sreq.data = &send_order;
    memset(&m, 0, sizeof m);
    m.type = RAFT_IO_APPEND_ENTRIES_RESULT;
    m.server_id = ics_raft_id("RTD");
    m.server_address = "RTD";

    /* raft's order: append 1..3, a reply, then a leader's correction. */
    assert_int_equal(io->append(io, &a1.req, first, 3, s_append_cb), 0);
    assert_int_equal(io->send(io, &sreq, &m, s_send_order_cb), 0);
    assert_int_equal(io->truncate(io, 2), 0);
    assert_int_equal(io->append(io, &a2.req, second, 2, s_append_cb), 0);
    /* Nothing is written, nothing completes, until the flush. */
    assert_int_equal(ics_store_last_index(a->store), 0);
    assert_int_equal(a1.order + a2.order + send_order, 0);

    assert_true(ics_raftio_flush(a->io));
    assert_false(ics_raftio_flush(a->io));
    /* The first callback already saw every write, committed. */
    assert_int_equal(s_durable_last, 3);
    assert_int_equal(a1.order, 1);
    assert_int_equal(send_order, 2);
    assert_int_equal(a2.order, 3);
    assert_int_equal(a1.status, 0);
    assert_int_equal(a2.status, 0);
    assert_int_equal(s_stats(a).flushes, 1);
    assert_int_equal(s_stats(a).appends, 5);

    /* What is stored is 1, then the correction's 2 and 3. */
    ics_store_close(&a->store);
    a->store = ics_store_open(a->path, &err);
    assert_non_null(a->store);
    raft_term term;
    raft_id vote;
    struct raft_snapshot *snap = NULL;
    raft_index start;
    struct raft_entry *loaded = NULL;
    size_t n = 0;
    assert_int_equal(ics_store_load(a->store, &term, &vote, &snap, &start, &loaded, &n, &err),
                     ICS_OK);
    assert_null(snap);
    assert_int_equal(start, 1);
    assert_int_equal(n, 3);
    assert_memory_equal(loaded[0].buf.base, "one", 3);
    assert_memory_equal(loaded[1].buf.base, "TWO", 3);
    assert_memory_equal(loaded[2].buf.base, "THREE", 5);
    assert_int_equal(loaded[2].term, 2);
    raft_free(loaded[0].batch);
    raft_free(loaded);
    s_deliver_all(net);
    s_inbox_clear(&net->nodes[1]);
}

/* ---- scenarios: real raft servers ------------------------------------ */

static int s_fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    s_node_t *nd = fsm->data;
    uint8_t *state = realloc(nd->state, nd->state_len + buf->len + 1);

    if (state == NULL)
        return RAFT_NOMEM;
    memcpy(state + nd->state_len, buf->base, buf->len);
    nd->state = state;
    nd->state_len += buf->len;
    *result = NULL;
    return 0;
}

static int s_fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
    s_node_t *nd = fsm->data;

    *bufs = raft_malloc(sizeof **bufs);
    if (*bufs == NULL)
        return RAFT_NOMEM;
    (*bufs)[0].base = raft_malloc(nd->state_len + 1);
    if ((*bufs)[0].base == NULL) {
        raft_free(*bufs);
        return RAFT_NOMEM;
    }
    memcpy((*bufs)[0].base, nd->state, nd->state_len);
    (*bufs)[0].len = nd->state_len;
    *n = 1;
    return 0;
}

static int s_fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    s_node_t *nd = fsm->data;
    uint8_t *state = malloc(buf->len + 1);

    if (state == NULL)
        return RAFT_NOMEM;
    memcpy(state, buf->base, buf->len);
    free(nd->state);
    nd->state = state;
    nd->state_len = buf->len;
    nd->restores++;
    raft_free(buf->base); /* ours on success */
    return 0;
}

static void s_raft_start(s_net_t *net, unsigned threshold, unsigned trailing)
{
    struct raft_configuration conf;

    raft_configuration_init(&conf);
    for (size_t i = 0; i < net->n; i++)
        assert_int_equal(raft_configuration_add(&conf, ics_raft_id(net->nodes[i].org),
                                                net->nodes[i].org, RAFT_VOTER),
                         0);
    for (size_t i = 0; i < net->n; i++) {
        s_node_t *nd = &net->nodes[i];
        nd->fsm = (struct raft_fsm){.version = 1,
                                    .data = nd,
                                    .apply = s_fsm_apply,
                                    .snapshot = s_fsm_snapshot,
                                    .restore = s_fsm_restore};
        assert_int_equal(raft_init(&nd->raft, ics_raftio_io(nd->io), &nd->fsm,
                                   ics_raft_id(nd->org), nd->org),
                         0);
        nd->raft_on = true;
        raft_set_election_timeout(&nd->raft, 300);
        raft_set_heartbeat_timeout(&nd->raft, 30);
        raft_set_snapshot_threshold(&nd->raft, threshold);
        raft_set_snapshot_trailing(&nd->raft, trailing);
        /* As icsd runs it: the node cut off does not depose the leader on
         * its return with the terms it ran up alone. */
        raft_set_pre_vote(&nd->raft, true);
        assert_int_equal(raft_bootstrap(&nd->raft, &conf), 0);
        assert_int_equal(raft_start(&nd->raft), 0);
    }
    raft_configuration_close(&conf);
}

/* One turn of every node's event loop. */
static void s_turn(s_net_t *net)
{
    for (size_t i = 0; i < net->n; i++)
        ics_raftio_tick(net->nodes[i].io);
    s_deliver_all(net);
    for (size_t i = 0; i < net->n; i++)
        for (int k = 0; k < 8 && ics_raftio_flush(net->nodes[i].io); k++)
            ;
    usleep(1000);
}

static int s_leader(s_net_t *net)
{
    for (size_t i = 0; i < net->n; i++)
        if (raft_state(&net->nodes[i].raft) == RAFT_LEADER)
            return (int)i;
    return -1;
}

/* Turns until node i has applied everything the leader has, or ms pass. */
static bool s_caught_up(s_net_t *net, int leader, int i, unsigned ms)
{
    uint64_t until = ics_mono_ms() + ms;
    struct raft *l = &net->nodes[leader].raft, *f = &net->nodes[i].raft;

    while (ics_mono_ms() < until) {
        if (raft_last_applied(f) == raft_last_index(l) &&
            raft_last_applied(l) == raft_last_index(l))
            return true;
        s_turn(net);
    }
    return false;
}

static void s_applied_cb(struct raft_apply *req, int status, void *result)
{
    (void)result;
    assert_int_equal(status, 0);
    free(req);
}

/* Elects a leader, cuts one follower off, commits n entries of len bytes
 * with the other, and reconnects it. Returns the follower cut off. */
static int s_leave_one_behind(s_net_t *net, int *leader, unsigned n, size_t len)
{
    uint64_t until = ics_mono_ms() + 10000;
    int behind;

    while ((*leader = s_leader(net)) < 0 && ics_mono_ms() < until)
        s_turn(net);
    assert_true(*leader >= 0);
    behind = (*leader + 1) % (int)net->n;
    net->cut = 1u << behind;
    for (unsigned k = 0; k < n; k++) {
        struct raft_buffer buf = {.base = raft_malloc(len), .len = len};
        struct raft_apply *req = malloc(sizeof *req);
        assert_non_null(buf.base);
        assert_non_null(req);
        randombytes_buf(buf.base, len);
        assert_int_equal(raft_apply(&net->nodes[*leader].raft, req, &buf, 1, s_applied_cb), 0);
        s_turn(net);
    }
    assert_true(s_caught_up(net, *leader, (*leader + 2) % (int)net->n, 10000));
    assert_int_equal(s_leader(net), *leader);
    net->cut = 0;
    net->rejections = 0;
    return behind;
}

static void test_raft_follower_catches_up_through_capped_appends(void **state)
{
    s_net_t *net = *state;
    int leader;

    /* 100 x 3000 bytes: five frames' worth, and no snapshot. */
    s_raft_start(net, 1000, 200);
    int behind = s_leave_one_behind(net, &leader, 100, 3000);
    uint64_t t0 = ics_mono_ms();
    assert_true(s_caught_up(net, leader, behind, 10000));
    uint64_t took = ics_mono_ms() - t0;
    assert_int_equal(s_leader(net), leader);
    assert_int_equal(net->nodes[behind].state_len, net->nodes[leader].state_len);
    assert_memory_equal(net->nodes[behind].state, net->nodes[leader].state,
                        net->nodes[leader].state_len);
    assert_int_equal(net->nodes[behind].restores, 0);
    ics_raftio_stats_t st = s_stats(&net->nodes[leader]);
    assert_true(st.append_capped >= 2);
    assert_true(net->longest <= MAX_FRAME);
    /* Each reply to a prefix starts the next one. Were raft left to think
     * the whole message went, it would send its next heartbeat past the
     * follower's end, have it refused, and probe again: one refusal and
     * one heartbeat interval for every other prefix. */
    print_message("caught up in %llu ms; capped AppendEntries: %llu, refused: %u\n",
                  (unsigned long long)took, (unsigned long long)st.append_capped,
                  net->rejections);
    assert_true(net->rejections <= 1);
}

static void test_raft_follower_catches_up_through_chunked_snapshot(void **state)
{
    s_net_t *net = *state;
    int leader;

    /* 100 x 3000 bytes, compacted every 16 entries: the image alone is
     * several frames long. */
    s_raft_start(net, 16, 4);
    int behind = s_leave_one_behind(net, &leader, 100, 3000);
    assert_true(s_caught_up(net, leader, behind, 10000));
    assert_int_equal(s_leader(net), leader);
    assert_true(net->nodes[behind].restores >= 1);
    assert_int_equal(net->nodes[behind].state_len, net->nodes[leader].state_len);
    assert_memory_equal(net->nodes[behind].state, net->nodes[leader].state,
                        net->nodes[leader].state_len);
    ics_raftio_stats_t sl = s_stats(&net->nodes[leader]), sf = s_stats(&net->nodes[behind]);
    assert_true(sl.snapshot_sends >= 1);
    assert_true(sl.snapshot_chunks_sent >= 5);
    assert_true(sf.snapshots_received >= 1);
    assert_int_equal(sf.chunks_dropped_unknown + sf.chunks_dropped_order +
                         sf.chunks_dropped_invalid + sf.chunks_dropped_too_big,
                     0);
    assert_true(net->longest <= MAX_FRAME);
}

/* Flushes and delivers, without a tick, until nothing moves: what a round
 * of messages causes, and nothing a timer would. */
static void s_settle(s_net_t *net)
{
    for (int k = 0; k < 64; k++) {
        bool busy = false;
        for (size_t i = 0; i < net->n; i++)
            while (ics_raftio_flush(net->nodes[i].io))
                busy = true;
        if (net->nq > 0) {
            busy = true;
            s_deliver_all(net);
        }
        if (!busy)
            return;
    }
    fail_msg("the network did not settle");
}

/* raft 0.15 tells followers of a commit only in its next AppendEntries:
 * for new entries, or at a heartbeat. The leader's io notices a follower
 * that holds a committed entry owed to it (one carrying its submission)
 * without knowing it, once; a heartbeat due to that follower alone and a
 * tick run at once (as group.c does) tell it, and nobody else. */
static void test_raft_follower_told_of_a_commit_by_a_heartbeat_now(void **state)
{
    s_net_t *net = *state;
    uint64_t until = ics_mono_ms() + 10000;
    int leader;

    s_raft_start(net, 1000, 200);
    while ((leader = s_leader(net)) < 0 && ics_mono_ms() < until)
        s_turn(net);
    assert_true(leader >= 0);
    s_settle(net);
    struct raft *l = &net->nodes[leader].raft;
    ics_raftio_t *lio = net->nodes[leader].io;
    /* No heartbeat of its own while the entry settles, however slowly the
     * machine runs: only the one forced below may tell the followers. */
    raft_set_heartbeat_timeout(l, 60000);

    struct raft_buffer buf = {.base = raft_malloc(5), .len = 5};
    struct raft_apply *req = malloc(sizeof *req);
    assert_non_null(buf.base);
    assert_non_null(req);
    memcpy(buf.base, "entry", 5);
    assert_int_equal(raft_apply(l, req, &buf, 1, s_applied_cb), 0);
    s_settle(net);
    raft_index idx = raft_last_index(l);
    assert_int_equal(raft_last_applied(l), idx);
    for (size_t i = 0; i < net->n; i++)
        if ((int)i != leader)
            assert_true(raft_last_applied(&net->nodes[i].raft) < idx);

    /* Owed to no follower (the leader's own): nobody to prompt. */
    const char *due[4];
    assert_int_equal(ics_raftio_commit_unseen(lio, idx, due, 4), 0);
    int owner = (leader + 1) % (int)net->n, other = (leader + 2) % (int)net->n;
    ics_raftio_owed(lio, net->nodes[owner].org, idx);
    ics_raftio_owed(lio, "NOPE", idx); /* not a peer: ignored */
    assert_int_equal(ics_raftio_commit_unseen(lio, idx, due, 4), 1);
    assert_string_equal(due[0], net->nodes[owner].org);
    assert_int_equal(ics_raftio_commit_unseen(lio, idx, due, 4), 0); /* once */
    assert_true(ics_raftview_heartbeat_due(l, net->nodes[owner].org));
    assert_false(ics_raftview_heartbeat_due(l, "NOPE"));
    ics_raftio_tick_now(lio);
    s_settle(net);
    assert_int_equal(raft_last_applied(&net->nodes[owner].raft), idx);
    assert_int_equal(net->nodes[owner].state_len, 5);
    assert_memory_equal(net->nodes[owner].state, "entry", 5);
    assert_true(raft_last_applied(&net->nodes[other].raft) < idx); /* not prompted */
    assert_int_equal(raft_last_index(l), idx); /* no entry of its own */
    assert_int_equal(ics_raftio_commit_unseen(lio, idx, due, 4), 0);

    /* Its own heartbeat, when due, tells the other. */
    raft_set_heartbeat_timeout(l, 0);
    ics_raftio_tick_now(lio);
    raft_set_heartbeat_timeout(l, 30);
    s_settle(net);
    for (size_t i = 0; i < net->n; i++) {
        assert_int_equal(raft_last_applied(&net->nodes[i].raft), idx);
        assert_int_equal(net->nodes[i].state_len, 5);
        assert_memory_equal(net->nodes[i].state, "entry", 5);
    }
    assert_int_equal(raft_last_index(l), idx); /* still no entry of its own */
    assert_int_equal(ics_raftio_commit_unseen(lio, idx, due, 4), 0);
}

/* ---- scenarios: what a hostile peer sends ------------------------------ */

/* What the invalid callback was told. */
typedef struct {
    char from[16];
    ics_invalid_t why;
} s_report_t;

static s_report_t s_reports[64];
static size_t s_n_reports;

static void s_on_invalid(void *arg, const char *from, ics_invalid_t why)
{
    (void)arg;
    assert_true(s_n_reports < sizeof s_reports / sizeof s_reports[0]);
    snprintf(s_reports[s_n_reports].from, sizeof s_reports[0].from, "%s", from);
    s_reports[s_n_reports++].why = why;
}

/* A raft message as a peer could put it on the wire, built in place. */
typedef struct {
    Ics__V1__RaftMessage rm;
    Ics__V1__RaftMessage__AppendEntries ae;
    Ics__V1__RaftMessage__RequestVote rv;
    Ics__V1__RaftMessage__TimeoutNow tn;
    Ics__V1__RaftMessage__InstallSnapshot is;
    Ics__V1__RaftEntry entry[4], *entries[4];
    Ics__V1__RaftServer server[3], *servers[3];
} s_forged_t;

static Ics__V1__RaftMessage *s_forge_append(s_forged_t *f, uint64_t term, uint64_t prev_index,
                                            uint64_t prev_term)
{
    memset(f, 0, sizeof *f);
    ics__v1__raft_message__init(&f->rm);
    ics__v1__raft_message__append_entries__init(&f->ae);
    f->rm.type = RAFT_IO_APPEND_ENTRIES;
    f->rm.body_case = ICS__V1__RAFT_MESSAGE__BODY_APPEND_ENTRIES;
    f->rm.append_entries = &f->ae;
    f->ae.term = term;
    f->ae.prev_log_index = prev_index;
    f->ae.prev_log_term = prev_term;
    f->ae.entries = f->entries;
    return &f->rm;
}

static void s_forge_entry(s_forged_t *f, uint64_t term, uint32_t type, const void *data,
                          size_t len)
{
    size_t i = f->ae.n_entries++;
    assert_true(i < 4);
    ics__v1__raft_entry__init(&f->entry[i]);
    f->entry[i].term = term;
    f->entry[i].type = type;
    f->entry[i].data.data = (uint8_t *)data;
    f->entry[i].data.len = len;
    f->entries[i] = &f->entry[i];
}

static Ics__V1__RaftMessage *s_forge_vote(s_forged_t *f, uint64_t term, uint64_t last_index,
                                          uint64_t last_term)
{
    memset(f, 0, sizeof *f);
    ics__v1__raft_message__init(&f->rm);
    ics__v1__raft_message__request_vote__init(&f->rv);
    f->rm.type = RAFT_IO_REQUEST_VOTE;
    f->rm.body_case = ICS__V1__RAFT_MESSAGE__BODY_REQUEST_VOTE;
    f->rm.request_vote = &f->rv;
    f->rv.term = term;
    f->rv.last_log_index = last_index;
    f->rv.last_log_term = last_term;
    return &f->rm;
}

static Ics__V1__RaftMessage *s_forge_timeout_now(s_forged_t *f, uint64_t term)
{
    memset(f, 0, sizeof *f);
    ics__v1__raft_message__init(&f->rm);
    ics__v1__raft_message__timeout_now__init(&f->tn);
    f->rm.type = RAFT_IO_TIMEOUT_NOW;
    f->rm.body_case = ICS__V1__RAFT_MESSAGE__BODY_TIMEOUT_NOW;
    f->rm.timeout_now = &f->tn;
    f->tn.term = term;
    f->tn.last_log_index = 3;
    f->tn.last_log_term = term;
    return &f->rm;
}

/* The first chunk of a snapshot, configured with QHM, RTD and RX4 as
 * voters under ids of the given orgs. */
static Ics__V1__RaftMessage *s_forge_snapshot(s_forged_t *f, uint64_t term, uint64_t last_index,
                                              uint64_t conf_index, const char *const ids[3])
{
    static uint8_t data[64];
    memset(f, 0, sizeof *f);
    ics__v1__raft_message__init(&f->rm);
    ics__v1__raft_message__install_snapshot__init(&f->is);
    f->rm.type = RAFT_IO_INSTALL_SNAPSHOT;
    f->rm.body_case = ICS__V1__RAFT_MESSAGE__BODY_INSTALL_SNAPSHOT;
    f->rm.install_snapshot = &f->is;
    f->is.term = term;
    f->is.last_index = last_index;
    f->is.last_term = term;
    f->is.conf_index = conf_index;
    f->is.transfer_id = 77;
    f->is.total_len = sizeof data;
    f->is.data.data = data;
    f->is.data.len = sizeof data;
    for (size_t i = 0; i < 3; i++) {
        ics__v1__raft_server__init(&f->server[i]);
        f->server[i].id = ics_raft_id(ids[i]);
        f->server[i].address = (char *)s_orgs[i];
        f->server[i].role = RAFT_VOTER;
        f->servers[i] = &f->server[i];
    }
    f->is.conf = f->servers;
    f->is.n_conf = 3;
    return &f->rm;
}

/* An envelope of `group` that decodes; its signature is fake, which is the
 * state machine's to find. malloc'd. */
static uint8_t *s_envelope(const char *group, size_t *len)
{
    Ics__V1__Envelope env = ICS__V1__ENVELOPE__INIT;
    uint8_t key_id[ICS_KEY_ID_BYTES] = {1}, sig[ICS_SIG_BYTES] = {2}, *buf = NULL;

    env.version = ICS_ENVELOPE_VERSION;
    env.batch_size = 1; /* a batch of one: no path */
    env.group = (char *)group;
    env.org = (char *)"QHM";
    env.key_id.data = key_id;
    env.key_id.len = sizeof key_id;
    env.seq = 1;
    env.signature.data = sig;
    env.signature.len = sizeof sig;
    assert_int_equal(ics_pack(&env.base, &buf, len), ICS_OK);
    return buf;
}

/* raft 0.15's encoding of QHM, RTD, RX4 as voters (raft_malloc'd). */
static struct raft_buffer s_conf_entry(void)
{
    struct raft_configuration conf;
    struct raft_buffer buf;

    raft_configuration_init(&conf);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(raft_configuration_add(&conf, ics_raft_id(s_orgs[i]), s_orgs[i],
                                                RAFT_VOTER),
                         0);
    assert_int_equal(raft_configuration_encode(&conf, &buf), 0);
    raft_configuration_close(&conf);
    return buf;
}

/* The message from peer reached raft. */
#define ASSERT_PASSES(nd, peer, m)                                                       \
    do {                                                                                 \
        size_t n_ = (nd)->n_in;                                                          \
        ics_raftio_deliver((nd)->io, (peer), (m));                                       \
        assert_int_equal((nd)->n_in, n_ + 1);                                            \
        s_inbox_clear(nd);                                                               \
    } while (0)

/* The message from peer was dropped before raft, counted and reported
 * under this reason. */
#define ASSERT_DROPPED(nd, peer, m, reason)                                              \
    do {                                                                                 \
        uint64_t before_ = s_stats(nd).invalid[(reason)];                                \
        size_t n_ = (nd)->n_in, r_ = s_n_reports;                                        \
        ics_raftio_deliver((nd)->io, (peer), (m));                                       \
        assert_int_equal((nd)->n_in, n_);                                                \
        assert_int_equal(s_stats(nd).invalid[(reason)], before_ + 1);                    \
        assert_int_equal(s_n_reports, r_ + 1);                                           \
        assert_string_equal(s_reports[r_].from, (peer));                                 \
        assert_int_equal(s_reports[r_].why, (reason));                                   \
    } while (0)

static void test_invalid_messages_dropped_by_reason(void **state)
{
    s_net_t *net = *state;
    s_node_t *b = &net->nodes[1];
    struct raft_io *io = ics_raftio_io(b->io);
    s_forged_t f;
    size_t env_len, other_len;
    uint8_t *env = s_envelope(GROUP, &env_len), *other = s_envelope("ne-region", &other_len);
    uint8_t garbage[40], big_barrier[100] = {0};
    struct raft_buffer conf = s_conf_entry();
    const char *const ids[3] = {"QHM", "RTD", "RX4"}, *const forged_ids[3] = {"QHM", "QHM",
                                                                                "RX4"};
    Ics__V1__RaftMessage *m;

    s_n_reports = 0;
    ics_raftio_set_envelope_check(b->io, true);
    ics_raftio_set_invalid_fn(b->io, s_on_invalid, NULL);
    assert_int_equal(io->set_term(io, 5), 0);
    randombytes_buf(garbage, sizeof garbage);

    /* What wedged a node: a term of 2^62 and a garbage entry. */
    m = s_forge_append(&f, (uint64_t)1 << 62, 0, 0);
    s_forge_entry(&f, (uint64_t)1 << 62, RAFT_COMMAND, garbage, sizeof garbage);
    ASSERT_DROPPED(b, "RX4", m, ICS_INVALID_TERM);
    /* The garbage alone, and an envelope of another group. */
    m = s_forge_append(&f, 6, 3, 5);
    s_forge_entry(&f, 6, RAFT_COMMAND, garbage, sizeof garbage);
    ASSERT_DROPPED(b, "QHM", m, ICS_INVALID_ENTRY);
    m = s_forge_append(&f, 6, 3, 5);
    s_forge_entry(&f, 6, RAFT_COMMAND, other, other_len);
    ASSERT_DROPPED(b, "QHM", m, ICS_INVALID_ENTRY);
    /* A batch is checked envelope by envelope: one of another group, one
     * that is garbage, a batch inside a batch, a batch cut short. */
    ics_batch_writer_t good = {0}, bad_group = {0}, bad_garbage = {0}, nested = {0};
    const uint8_t *good_entry, *entry;
    size_t good_len, len;
    assert_int_equal(ics_batch_add(&good, env, env_len), ICS_OK);
    assert_int_equal(ics_batch_add(&good, env, env_len), ICS_OK);
    ics_batch_entry(&good, &good_entry, &good_len);
    assert_int_equal(ics_batch_add(&bad_group, env, env_len), ICS_OK);
    assert_int_equal(ics_batch_add(&bad_group, other, other_len), ICS_OK);
    ics_batch_entry(&bad_group, &entry, &len);
    m = s_forge_append(&f, 6, 3, 5);
    s_forge_entry(&f, 6, RAFT_COMMAND, entry, len);
    ASSERT_DROPPED(b, "QHM", m, ICS_INVALID_ENTRY);
    assert_int_equal(ics_batch_add(&bad_garbage, env, env_len), ICS_OK);
    assert_int_equal(ics_batch_add(&bad_garbage, garbage, sizeof garbage), ICS_OK);
    ics_batch_entry(&bad_garbage, &entry, &len);
    m = s_forge_append(&f, 6, 3, 5);
    s_forge_entry(&f, 6, RAFT_COMMAND, entry, len);
    ASSERT_DROPPED(b, "QHM", m, ICS_INVALID_ENTRY);
    assert_int_equal(ics_batch_add(&nested, env, env_len), ICS_OK);
    assert_int_equal(ics_batch_add(&nested, good_entry, good_len), ICS_OK);
    ics_batch_entry(&nested, &entry, &len);
    m = s_forge_append(&f, 6, 3, 5);
    s_forge_entry(&f, 6, RAFT_COMMAND, entry, len);
    ASSERT_DROPPED(b, "QHM", m, ICS_INVALID_ENTRY);
    m = s_forge_append(&f, 6, 3, 5);
    s_forge_entry(&f, 6, RAFT_COMMAND, good_entry, good_len - 1);
    ASSERT_DROPPED(b, "QHM", m, ICS_INVALID_ENTRY);
    /* Barriers as raft writes them, no larger; entries of known types. */
    m = s_forge_append(&f, 6, 3, 5);
    s_forge_entry(&f, 6, RAFT_BARRIER, big_barrier, sizeof big_barrier);
    ASSERT_DROPPED(b, "QHM", m, ICS_INVALID_ENTRY);
    m = s_forge_append(&f, 6, 3, 5);
    s_forge_entry(&f, 6, 9, env, env_len);
    ASSERT_DROPPED(b, "QHM", m, ICS_INVALID_ENTRY);
    /* Configurations: garbage, cut short, an id that is not its address's. */
    m = s_forge_append(&f, 6, 3, 5);
    s_forge_entry(&f, 6, RAFT_CHANGE, garbage, sizeof garbage);
    ASSERT_DROPPED(b, "QHM", m, ICS_INVALID_CONFIGURATION);
    m = s_forge_append(&f, 6, 3, 5);
    s_forge_entry(&f, 6, RAFT_CHANGE, conf.base, 20);
    ASSERT_DROPPED(b, "QHM", m, ICS_INVALID_CONFIGURATION);
    uint8_t forged_conf[256];
    assert_true(conf.len <= sizeof forged_conf);
    memcpy(forged_conf, conf.base, conf.len);
    forged_conf[9] ^= 1; /* the first server's id */
    m = s_forge_append(&f, 6, 3, 5);
    s_forge_entry(&f, 6, RAFT_CHANGE, forged_conf, conf.len);
    ASSERT_DROPPED(b, "QHM", m, ICS_INVALID_CONFIGURATION);
    /* Indexes out of bounds, terms that go back or past the message's. */
    m = s_forge_append(&f, 6, (uint64_t)1 << 50, 5);
    ASSERT_DROPPED(b, "QHM", m, ICS_INVALID_INDEX);
    m = s_forge_append(&f, 6, 3, 5);
    f.ae.leader_commit = UINT64_MAX;
    ASSERT_DROPPED(b, "QHM", m, ICS_INVALID_INDEX);
    m = s_forge_append(&f, 6, 3, 0);
    ASSERT_DROPPED(b, "QHM", m, ICS_INVALID_INDEX);
    m = s_forge_append(&f, 6, 3, 5);
    s_forge_entry(&f, 7, RAFT_COMMAND, env, env_len);
    ASSERT_DROPPED(b, "QHM", m, ICS_INVALID_TERM);
    m = s_forge_append(&f, 6, 3, 5);
    s_forge_entry(&f, 4, RAFT_COMMAND, env, env_len);
    ASSERT_DROPPED(b, "QHM", m, ICS_INVALID_TERM);
    /* The type must be its body's. */
    m = s_forge_append(&f, 6, 3, 5);
    f.rm.type = RAFT_IO_REQUEST_VOTE;
    ASSERT_DROPPED(b, "QHM", m, ICS_INVALID_RAFT_MESSAGE);

    /* A well-formed AppendEntries passes: QHM now leads term 6. */
    m = s_forge_append(&f, 6, 3, 5);
    s_forge_entry(&f, 6, RAFT_COMMAND, env, env_len);
    s_forge_entry(&f, 6, RAFT_COMMAND, good_entry, good_len);
    s_forge_entry(&f, 6, RAFT_BARRIER, big_barrier, ICS_RAFTIO_BARRIER_MAX);
    s_forge_entry(&f, 6, RAFT_CHANGE, conf.base, conf.len);
    ASSERT_PASSES(b, "QHM", m);
    /* A handover only from the leader followed. */
    m = s_forge_timeout_now(&f, 6);
    ASSERT_DROPPED(b, "RX4", m, ICS_INVALID_LEADER);
    m = s_forge_timeout_now(&f, 6);
    ASSERT_PASSES(b, "QHM", m);
    /* Two peers claiming one term: raft follows the latest, and neither is
     * to blame. A newer term may have a new leader, and an older term is
     * raft's to refuse. */
    m = s_forge_append(&f, 6, 3, 5);
    ASSERT_PASSES(b, "RX4", m);
    m = s_forge_append(&f, 7, 3, 5);
    ASSERT_PASSES(b, "RX4", m);
    m = s_forge_append(&f, 4, 3, 4);
    ASSERT_PASSES(b, "QHM", m);
    /* A claim to a term this node leads. */
    struct raft_message own = {.type = RAFT_IO_APPEND_ENTRIES};
    own.append_entries.term = 8;
    own.append_entries.prev_log_index = 3;
    own.append_entries.prev_log_term = 5;
    assert_int_equal(s_send(b, "QHM", &own), 0);
    size_t n_sent;
    s_frame_t *sent = s_take(net, &n_sent);
    s_frames_free(sent, n_sent);
    m = s_forge_append(&f, 8, 3, 5);
    ASSERT_DROPPED(b, "RX4", m, ICS_INVALID_LEADER);

    /* Votes: a term run up, a log newer than the term asked for. */
    m = s_forge_vote(&f, 5 + ICS_RAFTIO_TERM_AHEAD_MAX + 1, 10, 5);
    ASSERT_DROPPED(b, "RTD", m, ICS_INVALID_TERM);
    m = s_forge_vote(&f, 8, 10, 9);
    ASSERT_DROPPED(b, "RTD", m, ICS_INVALID_TERM);
    m = s_forge_vote(&f, 5 + ICS_RAFTIO_TERM_AHEAD_MAX, 10, 5);
    ASSERT_PASSES(b, "RTD", m);
    m = s_forge_vote(&f, 0, 0, 0);
    ASSERT_DROPPED(b, "RTD", m, ICS_INVALID_TERM);

    /* Snapshots: a configuration index past the snapshot, a forged
     * configuration; a sound first chunk opens a transfer. */
    m = s_forge_snapshot(&f, 9, 100, 101, ids);
    ASSERT_DROPPED(b, "RX4", m, ICS_INVALID_INDEX);
    m = s_forge_snapshot(&f, 9, 100, 90, forged_ids);
    ASSERT_DROPPED(b, "RX4", m, ICS_INVALID_CONFIGURATION);
    f.server[1].id = ics_raft_id("RTD");
    f.server[0].role = 7;
    ASSERT_DROPPED(b, "RX4", m, ICS_INVALID_CONFIGURATION);
    m = s_forge_snapshot(&f, 9, 100, 90, ids);
    f.is.n_conf = 0;
    ASSERT_DROPPED(b, "RX4", m, ICS_INVALID_SNAPSHOT); /* a first chunk without one */
    m = s_forge_snapshot(&f, 9, 100, 90, ids);
    ASSERT_PASSES(b, "RX4", m);

    ics_raftio_stats_t st = s_stats(b);
    uint64_t total = 0;
    for (size_t i = 0; i < ICS_INVALID_REASONS; i++)
        total += st.invalid[i];
    assert_int_equal(total, s_n_reports);
    assert_int_equal(s_n_reports, 27);
    free(env);
    free(other);
    ics_batch_free(&good);
    ics_batch_free(&bad_group);
    ics_batch_free(&bad_garbage);
    ics_batch_free(&nested);
    raft_free(conf.base);
}

/* Turns until a leader is elected; returns it. */
static int s_elect(s_net_t *net)
{
    uint64_t until = ics_mono_ms() + 10000;
    int leader;

    while ((leader = s_leader(net)) < 0 && ics_mono_ms() < until)
        s_turn(net);
    assert_true(leader >= 0);
    return leader;
}

static void s_apply_one(s_net_t *net, int leader, const char *text)
{
    struct raft_buffer buf = {.base = raft_malloc(strlen(text)), .len = strlen(text)};
    struct raft_apply *req = malloc(sizeof *req);
    assert_non_null(buf.base);
    assert_non_null(req);
    memcpy(buf.base, text, buf.len);
    assert_int_equal(raft_apply(&net->nodes[leader].raft, req, &buf, 1, s_applied_cb), 0);
}

/* What made raft 0.15 unavailable until a restart: a message that
 * contradicts its committed log, or a second leader in its own term. Each
 * is dropped, and the group goes on committing with every node in it. */
static void test_raft_survives_what_a_hostile_member_sends(void **state)
{
    s_net_t *net = *state;
    s_forged_t f;
    uint8_t garbage[40] = {0x42};

    s_n_reports = 0;
    s_raft_start(net, 1000, 200);
    int leader = s_elect(net);
    s_apply_one(net, leader, "one");
    s_apply_one(net, leader, "two");
    for (size_t i = 0; i < net->n; i++)
        assert_true(s_caught_up(net, leader, (int)i, 10000));
    int victim = (leader + 1) % 3, hostile = (leader + 2) % 3;
    s_node_t *v = &net->nodes[victim], *l = &net->nodes[leader];
    const char *h = net->nodes[hostile].org;
    raft_term term = v->raft.current_term;
    raft_index committed = raft_last_applied(&v->raft);
    assert_true(committed >= 3);
    ics_raftio_set_invalid_fn(v->io, s_on_invalid, NULL);
    ics_raftio_set_invalid_fn(l->io, s_on_invalid, NULL);

    /* A newer term whose "leader" contradicts committed entries: the entry
     * before its own, and its own entries. */
    ASSERT_DROPPED(v, h, s_forge_append(&f, term + 1, 2, term + 1), ICS_INVALID_COMMITTED);
    Ics__V1__RaftMessage *m = s_forge_append(&f, term + 1, 1, 1);
    s_forge_entry(&f, term + 1, RAFT_COMMAND, garbage, sizeof garbage);
    ASSERT_DROPPED(v, h, m, ICS_INVALID_COMMITTED);
    /* A snapshot that would replace the committed log. */
    const char *const ids[3] = {"QHM", "RTD", "RX4"};
    ASSERT_DROPPED(v, h, s_forge_snapshot(&f, term + 1, 2, 1, ids), ICS_INVALID_COMMITTED);
    /* The leader's own term, sent to the leader. */
    ASSERT_DROPPED(l, h, s_forge_append(&f, term, committed, term), ICS_INVALID_LEADER);
    /* The term of 2^62. */
    m = s_forge_append(&f, (uint64_t)1 << 62, 0, 0);
    s_forge_entry(&f, 1, RAFT_COMMAND, garbage, sizeof garbage);
    ASSERT_DROPPED(v, h, m, ICS_INVALID_TERM);

    assert_int_equal(raft_state(&v->raft), RAFT_FOLLOWER);
    assert_int_equal(raft_state(&l->raft), RAFT_LEADER);
    assert_int_equal(v->raft.current_term, term);
    s_apply_one(net, leader, "three");
    for (size_t i = 0; i < net->n; i++)
        assert_true(s_caught_up(net, leader, (int)i, 10000));
    assert_int_equal(s_leader(net), leader);
    for (size_t i = 0; i < net->n; i++) {
        assert_int_equal(net->nodes[i].state_len, strlen("onetwothree"));
        assert_memory_equal(net->nodes[i].state, "onetwothree", net->nodes[i].state_len);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_each_type, s_setup_plain, s_teardown),
        cmocka_unit_test_setup_teardown(test_big_snapshot_chunked_and_reassembled,
                                        s_setup_plain, s_teardown),
        cmocka_unit_test_setup_teardown(test_chunks_out_of_order_repeated_or_foreign_dropped,
                                        s_setup_plain, s_teardown),
        cmocka_unit_test_setup_teardown(test_transfers_replaced_stalled_or_too_big,
                                        s_setup_plain, s_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_send_fails_when_a_chunk_is_refused,
                                        s_setup_plain, s_teardown),
        cmocka_unit_test_setup_teardown(test_append_entries_capped_to_prefix, s_setup_plain,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_flush_is_one_transaction_then_callbacks_in_order,
                                        s_setup_plain, s_teardown),
        cmocka_unit_test_setup_teardown(test_raft_follower_catches_up_through_capped_appends,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_raft_follower_catches_up_through_chunked_snapshot,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_messages_dropped_by_reason, s_setup_plain,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_raft_survives_what_a_hostile_member_sends, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_raft_follower_told_of_a_commit_by_a_heartbeat_now,
                                        s_setup, s_teardown),
    };

    ics_log_set_level(ICS_LOG_WARN);
    return cmocka_run_group_tests_name("raftio", tests, NULL, NULL);
}
