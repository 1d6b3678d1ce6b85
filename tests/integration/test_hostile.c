/*
 * A hostile or broken peer: frames that do not decode, name an unknown
 * group, come from a non-member, claim another sender, carry forged
 * signatures or exceed the size limit, and raft messages outside what a
 * peer may send (a term of 2^62 with a garbage entry, which once left the
 * receiving node's raft unavailable until a restart; absurd indexes; an
 * oversize entry; a configuration entry that does not decode; a vote with
 * a huge term; a handover from a non-leader; a second leader in a term).
 * The node drops and counts each one, by peer and reason, never crashes,
 * stays a working member, and the group keeps committing. A peer that
 * sends too many is backed off for a while, then heard again.
 *
 * Mutation fuzzing of real frames runs here briefly (ICS_FUZZ_ITERATIONS,
 * default 3000); deploy/fuzz.sh runs it long. The corpus has raft messages
 * that pass the checks (stale or harmless ones), so that mutations reach
 * past them into raft.
 */
#include "harness.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "common/envelope.h"
#include "ics/v1/wire.pb-c.h"
#include "raftio.h"

static const char *const ORGS[] = {"QHM", "RTD", "RX4"};
static const char *const KINDS[] = {"icb", "foundation_trust", "mental_health"};

typedef struct {
    void *ctx, *sock;
} peer_t;

/* Connects to node `to` as organisation `as` (its real key: a member). */
static void s_connect(h_cluster_t *c, int as, int to, peer_t *p)
{
    ics_err_t err;
    ics_identity_t *id = ics_identity_load(c->nodes[as].key, &err);
    ics_identity_t *server = ics_identity_load(c->nodes[to].key, &err);
    char ep[64];
    int linger = 0;

    assert_non_null(id);
    assert_non_null(server);
    p->ctx = zmq_ctx_new();
    p->sock = zmq_socket(p->ctx, ZMQ_DEALER);
    zmq_setsockopt(p->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(p->sock, ZMQ_CURVE_SERVERKEY, ics_identity_curve_public(server), 32);
    zmq_setsockopt(p->sock, ZMQ_CURVE_PUBLICKEY, ics_identity_curve_public(id), 32);
    zmq_setsockopt(p->sock, ZMQ_CURVE_SECRETKEY, ics_identity_curve_secret(id), 32);
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", c->nodes[to].port);
    assert_int_equal(zmq_connect(p->sock, ep), 0);
    ics_identity_destroy(&id);
    ics_identity_destroy(&server);
}

static void s_close(peer_t *p)
{
    zmq_close(p->sock);
    zmq_ctx_term(p->ctx);
}

static void s_send(peer_t *p, const void *data, size_t len)
{
    assert_true(zmq_send(p->sock, data, len, 0) >= 0);
}

static void s_send_frame(peer_t *p, Ics__V1__Frame *f)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(ics_pack(&f->base, &buf, &len), ICS_OK);
    s_send(p, buf, len);
    free(buf);
}

static Ics__V1__StatusReply *s_status(h_cluster_t *c, int i, Ics__V1__ControlResponse **resp)
{
    Ics__V1__StatusReply *st = NULL;
    assert_int_equal(h_status(c, i, &st, resp), ICS_OK);
    return st;
}

static bool s_have_leader(h_cluster_t *c, void *arg)
{
    (void)arg;
    return h_leader(c) >= 0;
}

/* Node i's view of the group: its raft term and role. */
static uint64_t s_term(h_cluster_t *c, int i, char role[16])
{
    Ics__V1__ControlResponse *resp;
    Ics__V1__StatusReply *st = s_status(c, i, &resp);
    assert_true(st->n_groups >= 1);
    uint64_t term = st->groups[0]->term;
    if (role != NULL)
        snprintf(role, 16, "%s", st->groups[0]->role);
    ics__v1__control_response__free_unpacked(resp, NULL);
    return term;
}

/* What node i's status says of its peer org. */
typedef struct {
    bool connected;
    uint64_t invalid_frames, backoff_ms_left;
    unsigned backoffs;
} s_peer_view_t;

static s_peer_view_t s_peer_view(h_cluster_t *c, int i, const char *org)
{
    Ics__V1__ControlResponse *resp;
    Ics__V1__StatusReply *st = s_status(c, i, &resp);
    s_peer_view_t v = {0};
    bool found = false;
    for (size_t k = 0; k < st->groups[0]->n_peers; k++) {
        const Ics__V1__PeerStatus *p = st->groups[0]->peers[k];
        if (strcmp(p->org, org) != 0)
            continue;
        v = (s_peer_view_t){p->connected, p->invalid_frames, p->backoff_ms_left, p->backoffs};
        found = true;
    }
    ics__v1__control_response__free_unpacked(resp, NULL);
    assert_true(found);
    return v;
}

/* A member that neither is node `target` nor leads: its key sends the
 * hostile frames, so that the group keeps a leader whatever happens. */
static int s_attacker(h_cluster_t *c, int target)
{
    int leader = h_leader(c);
    for (int i = 0; i < c->n; i++)
        if (i != target && i != leader)
            return i;
    fail_msg("no member to play the attacker");
    return -1;
}

static void s_send_raft(peer_t *p, Ics__V1__RaftMessage *rm)
{
    Ics__V1__Frame f = ICS__V1__FRAME__INIT;
    f.version = ICS_WIRE_VERSION;
    f.group = (char *)"nenc";
    f.body_case = ICS__V1__FRAME__BODY_RAFT;
    f.raft = rm;
    s_send_frame(p, &f);
}

/* An envelope of group that decodes (its signature is fake: the state
 * machine's to find). malloc'd. */
static uint8_t *s_envelope(const char *group, size_t *len)
{
    Ics__V1__Envelope env = ICS__V1__ENVELOPE__INIT;
    uint8_t key_id[ICS_KEY_ID_BYTES] = {1}, sig[ICS_SIG_BYTES] = {2}, *buf = NULL;
    env.version = ICS_ENVELOPE_VERSION;
    env.batch_size = 1; /* a batch of one: no path */
    env.group = (char *)group;
    env.org = (char *)"RX4";
    env.key_id.data = key_id;
    env.key_id.len = sizeof key_id;
    env.seq = 1;
    env.signature.data = sig;
    env.signature.len = sizeof sig;
    assert_int_equal(ics_pack(&env.base, &buf, len), ICS_OK);
    return buf;
}

/* Raft messages under construction, on the stack. */
typedef struct {
    Ics__V1__RaftMessage rm;
    Ics__V1__RaftMessage__AppendEntries ae;
    Ics__V1__RaftMessage__AppendEntriesResult aer;
    Ics__V1__RaftMessage__RequestVote rv;
    Ics__V1__RaftMessage__TimeoutNow tn;
    Ics__V1__RaftMessage__InstallSnapshot is;
    Ics__V1__RaftEntry entry, *entries[1];
    Ics__V1__RaftServer server[3], *servers[3];
} s_raft_t;

static Ics__V1__RaftMessage *s_append(s_raft_t *r, uint64_t term, uint64_t prev_index,
                                      uint64_t prev_term, uint32_t type, const void *data,
                                      size_t len)
{
    memset(r, 0, sizeof *r);
    ics__v1__raft_message__init(&r->rm);
    ics__v1__raft_message__append_entries__init(&r->ae);
    r->rm.type = 1; /* RAFT_IO_APPEND_ENTRIES */
    r->rm.body_case = ICS__V1__RAFT_MESSAGE__BODY_APPEND_ENTRIES;
    r->rm.append_entries = &r->ae;
    r->ae.term = term;
    r->ae.prev_log_index = prev_index;
    r->ae.prev_log_term = prev_term;
    r->ae.leader_commit = prev_index;
    if (data != NULL) {
        ics__v1__raft_entry__init(&r->entry);
        r->entry.term = term;
        r->entry.type = type;
        r->entry.data.data = (uint8_t *)data;
        r->entry.data.len = len;
        r->entries[0] = &r->entry;
        r->ae.entries = r->entries;
        r->ae.n_entries = 1;
    }
    return &r->rm;
}

static Ics__V1__RaftMessage *s_vote(s_raft_t *r, uint64_t term, bool pre_vote)
{
    memset(r, 0, sizeof *r);
    ics__v1__raft_message__init(&r->rm);
    ics__v1__raft_message__request_vote__init(&r->rv);
    r->rm.type = 3; /* RAFT_IO_REQUEST_VOTE */
    r->rm.body_case = ICS__V1__RAFT_MESSAGE__BODY_REQUEST_VOTE;
    r->rm.request_vote = &r->rv;
    r->rv.term = term;
    r->rv.last_log_index = 1;
    r->rv.last_log_term = 1;
    r->rv.pre_vote = pre_vote;
    return &r->rm;
}

static Ics__V1__RaftMessage *s_result(s_raft_t *r, uint64_t term)
{
    memset(r, 0, sizeof *r);
    ics__v1__raft_message__init(&r->rm);
    ics__v1__raft_message__append_entries_result__init(&r->aer);
    r->rm.type = 2; /* RAFT_IO_APPEND_ENTRIES_RESULT */
    r->rm.body_case = ICS__V1__RAFT_MESSAGE__BODY_APPEND_ENTRIES_RESULT;
    r->rm.append_entries_result = &r->aer;
    r->aer.term = term;
    r->aer.last_log_index = 1;
    return &r->rm;
}

static Ics__V1__RaftMessage *s_timeout_now(s_raft_t *r, uint64_t term)
{
    memset(r, 0, sizeof *r);
    ics__v1__raft_message__init(&r->rm);
    ics__v1__raft_message__timeout_now__init(&r->tn);
    r->rm.type = 6; /* RAFT_IO_TIMEOUT_NOW */
    r->rm.body_case = ICS__V1__RAFT_MESSAGE__BODY_TIMEOUT_NOW;
    r->rm.timeout_now = &r->tn;
    r->tn.term = term;
    r->tn.last_log_index = 1;
    r->tn.last_log_term = 1;
    return &r->rm;
}

/* The first chunk of a 16-byte snapshot; ids[i] names the id given to
 * member i (its own, unless forged). */
static Ics__V1__RaftMessage *s_snapshot(s_raft_t *r, uint64_t term, const char *const ids[3])
{
    static uint8_t data[16] = {3};
    memset(r, 0, sizeof *r);
    ics__v1__raft_message__init(&r->rm);
    ics__v1__raft_message__install_snapshot__init(&r->is);
    r->rm.type = 5; /* RAFT_IO_INSTALL_SNAPSHOT */
    r->rm.body_case = ICS__V1__RAFT_MESSAGE__BODY_INSTALL_SNAPSHOT;
    r->rm.install_snapshot = &r->is;
    r->is.term = term;
    r->is.last_index = 1;
    r->is.last_term = 1;
    r->is.conf_index = 1;
    r->is.transfer_id = 99;
    r->is.total_len = sizeof data;
    r->is.data.data = data;
    r->is.data.len = sizeof data;
    for (int i = 0; i < 3; i++) {
        ics__v1__raft_server__init(&r->server[i]);
        r->server[i].id = ics_raft_id(ids[i]);
        r->server[i].address = (char *)ORGS[i];
        r->server[i].role = 1; /* RAFT_VOTER */
        r->servers[i] = &r->server[i];
    }
    r->is.conf = r->servers;
    r->is.n_conf = 3;
    return &r->rm;
}

static size_t s_pack_raft(Ics__V1__RaftMessage *rm, uint8_t *buf, size_t cap)
{
    Ics__V1__Frame f = ICS__V1__FRAME__INIT;
    f.version = ICS_WIRE_VERSION;
    f.group = (char *)"nenc";
    f.body_case = ICS__V1__FRAME__BODY_RAFT;
    f.raft = rm;
    assert_true(ics__v1__frame__get_packed_size(&f) <= cap);
    return protobuf_c_message_pack(&f.base, buf);
}

/* A sample of node i's /metrics, 0 if absent. */
static uint64_t s_metric(int port, const char *sample)
{
    char *body = NULL, *at;
    uint64_t v = 0;
    assert_int_equal(h_http_get(port, "/metrics", &body), 200);
    at = strstr(body, sample);
    if (at != NULL)
        v = strtoull(at + strlen(sample), NULL, 10);
    free(body);
    return v;
}

static bool s_log_has(h_cluster_t *c, int i, const char *text)
{
    FILE *f = fopen(c->nodes[i].log, "r");
    char line[2048];
    bool found = false;
    if (f == NULL)
        return false;
    while (!found && fgets(line, sizeof line, f) != NULL)
        found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

/* Where the corpus's raft messages start. */
#define S_CORPUS_FIRST_RAFT 3

/* Frames a real peer could send, to mutate: raft messages among them that
 * pass the checks (a leader's of an old term, a pre-vote, a result, an old
 * leader's snapshot) so that mutations get past them. term: the group's. */
static size_t s_corpus(uint8_t bufs[][512], size_t *lens, uint64_t term)
{
    Ics__V1__Frame f = ICS__V1__FRAME__INIT;
    Ics__V1__Ping ping = ICS__V1__PING__INIT;
    Ics__V1__Pong pong = ICS__V1__PONG__INIT;
    Ics__V1__Forward fwd = ICS__V1__FORWARD__INIT;
    uint8_t sig[64] = {1}, env[100] = {2};
    size_t n = 0;

    f.version = ICS_WIRE_VERSION;
    f.group = (char *)"nenc";
    ping.from = (char *)"RX4";
    ping.to = (char *)"QHM";
    ping.nonce = 7;
    ping.sent_ms = 12345;
    ping.signature.data = sig;
    ping.signature.len = 64;
    f.body_case = ICS__V1__FRAME__BODY_PING;
    f.ping = &ping;
    lens[n] = protobuf_c_message_pack(&f.base, bufs[n]), n++;
    pong.from = (char *)"RX4";
    pong.to = (char *)"QHM";
    pong.signature.data = sig;
    pong.signature.len = 64;
    f.body_case = ICS__V1__FRAME__BODY_PONG;
    f.pong = &pong;
    lens[n] = protobuf_c_message_pack(&f.base, bufs[n]), n++;
    fwd.request_id = 3;
    fwd.envelope.data = env;
    fwd.envelope.len = sizeof env;
    f.body_case = ICS__V1__FRAME__BODY_FORWARD;
    f.forward = &fwd;
    lens[n] = protobuf_c_message_pack(&f.base, bufs[n]), n++;

    s_raft_t r;
    size_t env_len;
    uint8_t *envelope = s_envelope("nenc", &env_len);
    assert_int_equal(n, S_CORPUS_FIRST_RAFT);
    const char *const ids[3] = {ORGS[0], ORGS[1], ORGS[2]};
    lens[n] = s_pack_raft(s_append(&r, 1, 1, 1, 1, envelope, env_len), bufs[n], 512), n++;
    lens[n] = s_pack_raft(s_vote(&r, term + 1, true), bufs[n], 512), n++;
    lens[n] = s_pack_raft(s_result(&r, term), bufs[n], 512), n++;
    lens[n] = s_pack_raft(s_snapshot(&r, 1, ids), bufs[n], 512), n++;
    free(envelope);
    return n;
}

static void hostile_frames_are_dropped_and_counted(void **state)
{
    h_cluster_t *c = *state;
    Ics__V1__ControlResponse *resp;
    Ics__V1__StatusReply *st;
    peer_t p;
    uint8_t token[16] = {7};

    int ports[3];
    h_cluster_init(c, 3, ORGS, KINDS);
    /* Nodes count every invalid frame but never back the sender off, so
     * that the fuzzing below reaches the target to the end. */
    for (int i = 0; i < 3; i++) {
        ports[i] = h_free_port();
        snprintf(c->nodes[i].extra, sizeof c->nodes[i].extra,
                 "[transport]\npeer_invalid_max = 0\n");
        snprintf(c->nodes[i].node_extra, sizeof c->nodes[i].node_extra,
                 "http = 127.0.0.1:%d", ports[i]);
        h_start(c, i);
    }
    assert_true(h_wait(s_have_leader, c, NULL, 15000));
    /* The target is the leader, the attacker a follower: raft 0.15 takes
     * the most harm as a leader, and the group keeps its leader. */
    int t = h_leader(c), attacker = s_attacker(c, t);
    const char *as = ORGS[attacker], *target = ORGS[t];
    s_connect(c, attacker, t, &p);

    /* Undecodable bytes. */
    s_send(&p, "\xff\xff\xff\xff garbage", 13);
    s_send(&p, "", 0);
    /* Wrong version, unknown group. */
    Ics__V1__Frame f = ICS__V1__FRAME__INIT;
    Ics__V1__Ping ping = ICS__V1__PING__INIT;
    uint8_t sig[64] = {0};
    ping.from = (char *)as;
    ping.to = (char *)target;
    ping.signature.data = sig;
    ping.signature.len = 64;
    f.body_case = ICS__V1__FRAME__BODY_PING;
    f.ping = &ping;
    f.version = 99;
    f.group = (char *)"nenc";
    s_send_frame(&p, &f);
    f.version = ICS_WIRE_VERSION;
    f.group = (char *)"some-other-ics";
    s_send_frame(&p, &f);
    /* A ping with a forged signature; one claiming to be from RTD. */
    f.group = (char *)"nenc";
    s_send_frame(&p, &f);
    ping.from = (char *)ORGS[3 - t - attacker]; /* the third member */
    s_send_frame(&p, &f);
    /* Over the size limit (64 MiB default is too big to bother: the
     * transport's limit is enforced by libzmq, which drops the connection;
     * a large but legal frame must simply be handled). */
    static uint8_t big[300000];
    memset(big, 0x42, sizeof big);
    s_send(&p, big, sizeof big);

    /* Raft messages no member sends. */
    char role[16];
    uint64_t term = s_term(c, t, role);
    s_raft_t r;
    uint8_t garbage[64];
    size_t env_len, other_len;
    uint8_t *env = s_envelope("nenc", &env_len), *other = s_envelope("ne-region", &other_len);
    const char *const forged_ids[3] = {ORGS[0], ORGS[0], ORGS[2]};
    static uint8_t oversize[(1u << 20) + 4096];
    memset(garbage, 0xA5, sizeof garbage);
    memset(oversize, 0x42, sizeof oversize);
    print_message("target %s is %s at term %llu; hostile frames come as %s\n", target, role,
                  (unsigned long long)term, as);
    /* What wedged a node: term 2^62 and a garbage entry. */
    s_send_raft(&p, s_append(&r, (uint64_t)1 << 62, 0, 0, 1, garbage, sizeof garbage));
    s_send_raft(&p, s_vote(&r, (uint64_t)1 << 62, false));
    s_send_raft(&p, s_vote(&r, term + 5 + (1u << 20), true));
    /* A newer term contradicting the committed log (index 1 has term 1). */
    s_send_raft(&p, s_append(&r, term + 1, 1, term + 1, 1, env, env_len));
    s_send_raft(&p, s_append(&r, term + 1, 0, 0, 1, env, env_len));
    /* Absurd indexes. */
    s_send_raft(&p, s_append(&r, term, (uint64_t)1 << 60, 1, 1, NULL, 0));
    s_send_raft(&p, s_append(&r, term, 1, 1, 1, NULL, 0));
    r.ae.leader_commit = UINT64_MAX;
    s_send_raft(&p, &r.rm);
    /* Entries: oversize, garbage, another group's, a bad configuration, a
     * fat barrier, an unknown type. */
    s_send_raft(&p, s_append(&r, 1, 1, 1, 1, oversize, sizeof oversize));
    s_send_raft(&p, s_append(&r, 1, 1, 1, 1, garbage, sizeof garbage));
    s_send_raft(&p, s_append(&r, 1, 1, 1, 1, other, other_len));
    s_send_raft(&p, s_append(&r, 1, 1, 1, 3, garbage, sizeof garbage));
    s_send_raft(&p, s_append(&r, 1, 1, 1, 2, garbage, sizeof garbage));
    s_send_raft(&p, s_append(&r, 1, 1, 1, 7, env, env_len));
    /* A second leader for the current term; a handover from a non-leader;
     * a snapshot whose configuration forges an id. */
    s_send_raft(&p, s_append(&r, term, 1, 1, 1, NULL, 0));
    s_send_raft(&p, s_timeout_now(&r, term));
    s_send_raft(&p, s_snapshot(&r, term, forged_ids));
    /* Type and body that disagree. */
    s_append(&r, 1, 1, 1, 1, NULL, 0);
    r.rm.type = 6;
    s_send_raft(&p, &r.rm);
    /* A forwarded submission of another group. */
    Ics__V1__Forward fwd = ICS__V1__FORWARD__INIT;
    fwd.request_id = 5;
    fwd.envelope.data = other;
    fwd.envelope.len = other_len;
    f.group = (char *)"nenc";
    f.body_case = ICS__V1__FRAME__BODY_FORWARD;
    f.forward = &fwd;
    s_send_frame(&p, &f);
    free(env);
    free(other);
    h_sleep_ms(500);

    s_peer_view_t v = s_peer_view(c, t, as);
    char sample[128];
    print_message("%s counted %llu invalid frames from %s\n", target,
                  (unsigned long long)v.invalid_frames, as);
    assert_true(v.invalid_frames >= 25);
    assert_int_equal(v.backoffs, 0);
    static const struct {
        const char *reason;
        uint64_t at_least;
    } want[] = {{"term", 3},  {"committed", 2}, {"index", 2},         {"entry", 6},
                {"configuration", 2}, {"leader", 2}, {"raft_message", 1}, {"signature", 2}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        snprintf(sample, sizeof sample,
                 "icsd_peer_invalid_frames_total{peer=\"%s\",reason=\"%s\"} ", as,
                 want[i].reason);
        uint64_t got = s_metric(ports[t], sample);
        print_message("  %-14s %llu\n", want[i].reason, (unsigned long long)got);
        assert_true(got >= want[i].at_least);
    }
    /* Still a working member at a sane term. */
    uint64_t after = s_term(c, t, role);
    assert_string_not_equal(role, "unavailable");
    assert_true(after < term + 100);

    /* Mutation fuzzing of plausible frames. */
    unsigned iterations = 3000;
    const char *env_it = getenv("ICS_FUZZ_ITERATIONS");
    if (env_it != NULL)
        iterations = (unsigned)strtoul(env_it, NULL, 10);
    uint32_t seed = (uint32_t)time(NULL);
    if (getenv("ICS_FUZZ_SEED") != NULL)
        seed = (uint32_t)strtoul(getenv("ICS_FUZZ_SEED"), NULL, 10);
    print_message("fuzz: %u iterations, seed %u (ICS_FUZZ_SEED to repeat)\n", iterations, seed);
    static uint8_t corpus[8][512];
    size_t lens[8], n = s_corpus(corpus, lens, s_term(c, t, NULL));
    /* Its raft messages, unmutated, pass the checks: mutations start
     * from there. */
    uint64_t invalid_before = s_peer_view(c, t, as).invalid_frames;
    for (size_t k = S_CORPUS_FIRST_RAFT; k < n; k++)
        s_send(&p, corpus[k], lens[k]);
    h_sleep_ms(300);
    assert_int_equal(s_peer_view(c, t, as).invalid_frames, invalid_before);
    uint8_t m[600];
    for (unsigned it = 0; it < iterations; it++) {
        seed = seed * 1103515245u + 12345u;
        size_t k = (seed >> 16) % n, len = lens[k];
        memcpy(m, corpus[k], len);
        unsigned flips = 1 + (seed >> 8) % 4;
        for (unsigned j = 0; j < flips; j++) {
            seed = seed * 1103515245u + 12345u;
            switch ((seed >> 12) % 3) {
            case 0: m[(seed >> 16) % len] ^= (uint8_t)(1u << ((seed >> 4) % 8)); break;
            case 1: m[(seed >> 16) % len] = (uint8_t)(seed >> 24); break;
            default: if (len > 1) len = 1 + (seed >> 16) % len; break;
            }
        }
        s_send(&p, m, len);
        if (it % 500 == 499)
            h_sleep_ms(20); /* let the node drain; HWM drops are fine too */
    }
    h_sleep_ms(500);

    /* Still alive, counting, and the group still commits. */
    st = s_status(c, t, &resp);
    print_message("dropped: undecodable %llu, unknown group %llu, not member %llu\n",
                  (unsigned long long)st->dropped_bad,
                  (unsigned long long)st->dropped_unknown_group,
                  (unsigned long long)st->dropped_not_member);
    assert_true(st->dropped_bad >= 4);
    assert_true(st->dropped_unknown_group >= 1);
    ics__v1__control_response__free_unpacked(resp, NULL);
    Ics__V1__ControlResponse *sub = NULL;
    assert_int_equal(h_submit_raw(c, 0, "still here", token, 10000, &sub), ICS_OK);
    assert_int_equal(sub->code, 0);
    assert_true(sub->submit->accepted);
    ics__v1__control_response__free_unpacked(sub, NULL);
    s_term(c, t, role);
    assert_string_not_equal(role, "unavailable");
    /* Our connection under the attacker's key alongside the attacker's own
     * node is two nodes with one key; the transport may say so. */
    print_message("%s %s two nodes under %s's key\n", target,
                  s_log_has(c, t, "two nodes are connected with") ? "noticed" : "did not notice",
                  as);
    s_close(&p);
    for (int i = 0; i < 3; i++)
        assert_int_equal(h_stop(c, i), 0);
}

static bool s_backed_off(h_cluster_t *c, void *arg)
{
    return s_peer_view(c, 0, arg).backoffs > 0;
}

static bool s_heard_again(h_cluster_t *c, void *arg)
{
    s_peer_view_t v = s_peer_view(c, 0, arg);
    return v.backoff_ms_left == 0 && v.connected;
}

/* More than peer_invalid_max invalid frames within 10 s: the peer's frames
 * are ignored for peer_backoff_ms, said once at warning; the group goes on
 * without it; afterwards it is heard again; the next back-off is twice as
 * long. */
static void a_peer_sending_invalid_frames_is_backed_off(void **state)
{
    h_cluster_t *c = *state;
    uint8_t token[16] = {8};
    s_raft_t r;
    peer_t p;

    h_cluster_init(c, 3, ORGS, KINDS);
    snprintf(c->nodes[0].extra, sizeof c->nodes[0].extra,
             "[transport]\npeer_invalid_max = 20\npeer_backoff_ms = 2000\n");
    for (int i = 0; i < 3; i++)
        h_start(c, i);
    assert_true(h_wait(s_have_leader, c, NULL, 15000));
    int attacker = s_attacker(c, 0);
    const char *as = ORGS[attacker];
    s_connect(c, attacker, 0, &p);

    for (int i = 0; i < 40; i++)
        s_send_raft(&p, s_append(&r, (uint64_t)1 << 62, 0, 0, 1, "x", 1));
    assert_true(h_wait(s_backed_off, c, (void *)as, 5000));
    s_peer_view_t v = s_peer_view(c, 0, as);
    print_message("%s backed off after %llu invalid frames, %llu ms left\n", as,
                  (unsigned long long)v.invalid_frames, (unsigned long long)v.backoff_ms_left);
    assert_int_equal(v.backoffs, 1);
    /* The rest were dropped unread: only those up to the limit counted. */
    assert_int_equal(v.invalid_frames, 21);
    assert_true(v.backoff_ms_left > 0 && v.backoff_ms_left <= 2000);
    assert_true(s_log_has(c, 0, "invalid frames within 10 s"));

    Ics__V1__ControlResponse *sub = NULL;
    assert_int_equal(h_submit_raw(c, 0, "carries on", token, 10000, &sub), ICS_OK);
    assert_int_equal(sub->code, 0);
    assert_true(sub->submit->accepted);
    ics__v1__control_response__free_unpacked(sub, NULL);

    /* Over: the attacker's node is heard again. */
    assert_true(h_wait(s_heard_again, c, (void *)as, 10000));
    char over[64];
    snprintf(over, sizeof over, "back-off of %s over", as);
    assert_true(s_log_has(c, 0, over));

    /* Again: twice as long. */
    for (int i = 0; i < 40; i++)
        s_send_raft(&p, s_append(&r, (uint64_t)1 << 62, 0, 0, 1, "x", 1));
    h_sleep_ms(300);
    v = s_peer_view(c, 0, as);
    assert_int_equal(v.backoffs, 2);
    assert_true(v.backoff_ms_left > 2000 && v.backoff_ms_left <= 4000);
    s_close(&p);
    for (int i = 0; i < 3; i++)
        assert_int_equal(h_stop(c, i), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(hostile_frames_are_dropped_and_counted, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(a_peer_sending_invalid_frames_is_backed_off, h_setup,
                                        h_teardown),
    };
    return cmocka_run_group_tests_name("cluster hostile peer", tests, NULL, NULL);
}
