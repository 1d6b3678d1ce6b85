/*
 * icsd-bench: committed submissions per second and latency on a loopback
 * cluster of real icsd processes.
 *
 *   icsd-bench [--nodes N] [--clients C] [--seconds S] [--payload BYTES]
 *              [--via all|leader|follower] [--rate R]
 *              [--heartbeat MS] [--election MS] [--failover N]
 *              [--snapshot N] [--verify-threads N]
 *              [--control EP[,EP...]] [--group NAME]
 *              [--until-position P] [--tail K] [--stall S]
 *
 * Closed loop (the default): each client is a thread with its own control
 * connection to one node, submitting signed entries one after another; a
 * submission counts when the node reports it applied (so followers'
 * submissions include the forward to the leader). Prints throughput and
 * p50/p90/p99/max latency. This is a benchmark, not a test: it asserts
 * nothing about speed.
 *
 * --via picks the nodes the clients talk to: all of them in turn (the
 * default), the leader only, or the followers only (in turn).
 *
 * --rate R is an open loop: submissions are due at a fixed R per second
 * whatever the answers, taken by a pool of C connections (--clients,
 * default 32 here). Latency runs from when a submission was due, so a pool
 * that falls behind shows as latency rather than as a lower rate; the
 * submissions that started late for want of a free connection are counted.
 * At a low rate (e.g. --rate 5) each submission meets an idle group.
 *
 * --failover N: N times, with the group idle, SIGKILL the leader and at
 * once submit through a surviving follower (again with the same client
 * token until it commits); prints the time from the kill to that commit
 * for each round, then the median and the maximum. The killed node is
 * restarted and catches up before the next round.
 *
 * The cluster it starts runs icsd's default timing (heartbeat_ms,
 * election_ms, ping_interval_ms) unless --heartbeat or --election say
 * otherwise, icsd's default checkpoint_interval, and icsd's defaults for
 * the snapshot threshold ([raft] snapshot_threshold: --snapshot N) and the
 * verifier threads ([node] verify_threads: --verify-threads N, 0 to verify
 * on the loop).
 *
 * With --control it drives nodes that are already running (their control
 * endpoints, e.g. ipc:///tmp/x/QHM.sock) and starts nothing.
 *
 * With --until-position P it submits until the group's audit log reaches
 * position P (no time limit unless --seconds is given), prints progress
 * to stderr every 10 s, and reports the rate of the whole run and over
 * its last K submissions (--tail, default 10000), plus one `result` line
 * of key=value pairs for scripts (deploy/scale.sh). It gives up, exit
 * status 1, when no submission has committed for S seconds (--stall,
 * default 120).
 */
#include "../integration/harness.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/envelope.h"

#define MAX_CLIENTS 1024u

typedef struct {
    const char *endpoint;
    const char *group;
    uint64_t end_us;   /* monotonic deadline; 0 for none */
    size_t payload;
    uint64_t *lat_us;  /* latency of each committed submission */
    uint64_t *done_us; /* when it committed, since the start of the run */
    size_t n, cap;
    unsigned errors;
    unsigned late;     /* open loop: started after it was due */
} client_t;

/* Shared by the clients of a run towards a target position: a client
 * takes a slot before it submits, so that the submissions in flight plus
 * the highest position seen never pass the target. */
static struct {
    pthread_mutex_t mu;
    uint64_t target;   /* 0: a timed run */
    uint64_t position; /* highest audit position any reply named */
    unsigned inflight;
    unsigned finished; /* client threads that have returned */
    bool stop;
} s_run = {.mu = PTHREAD_MUTEX_INITIALIZER};
static uint64_t s_t0;
static char s_first_error[256]; /* under s_run.mu */
static void *s_ctx;            /* one ZeroMQ context for every client */
static double s_rate;          /* open loop: submissions due per second; 0: closed */
static atomic_ullong s_slot;   /* open loop: the next submission to take */

/* 1: submit; 0: the target is reached (or the run stopped); -1: wait, the
 * submissions in flight may reach it (one that fails frees its slot). */
static int s_claim(void)
{
    int r;
    pthread_mutex_lock(&s_run.mu);
    if (s_run.stop || (s_run.target != 0 && s_run.position >= s_run.target))
        r = 0;
    else if (s_run.target != 0 && s_run.position + s_run.inflight >= s_run.target)
        r = -1;
    else
        r = 1;
    if (r == 1)
        s_run.inflight++;
    pthread_mutex_unlock(&s_run.mu);
    return r;
}

static void s_release(uint64_t position)
{
    pthread_mutex_lock(&s_run.mu);
    s_run.inflight--;
    if (position > s_run.position)
        s_run.position = position;
    pthread_mutex_unlock(&s_run.mu);
}

static int s_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void *s_open(const char *endpoint)
{
    void *sock = zmq_socket(s_ctx, ZMQ_DEALER);
    int linger = 0;
    if (sock == NULL)
        return NULL;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(sock, endpoint);
    return sock;
}

typedef enum { SUB_OK, SUB_FAILED, SUB_NO_ANSWER } s_outcome_t;

/* One raw submission on sock, waiting up to wait_ms for the answer. A
 * token of NULL draws a fresh one. */
static s_outcome_t s_submit(void *sock, const char *group, const char *data, size_t len,
                            const uint8_t *token_in, unsigned timeout_ms, unsigned wait_ms,
                            uint64_t *position)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__SubmitRequest sub = ICS__V1__SUBMIT_REQUEST__INIT;
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Raw raw = ICS__V1__RAW__INIT;
    uint8_t token[16], *cbuf = NULL, *rbuf = NULL;
    size_t clen = 0, rlen = 0;
    s_outcome_t out = SUB_NO_ANSWER;
    zmq_msg_t msg;

    raw.data.data = (uint8_t *)data;
    raw.data.len = len;
    cmd.body_case = ICS__V1__COMMAND__BODY_RAW;
    cmd.raw = &raw;
    ics_pack(&cmd.base, &cbuf, &clen);
    if (token_in != NULL)
        memcpy(token, token_in, sizeof token);
    else
        randombytes_buf(token, sizeof token);
    sub.command.data = cbuf;
    sub.command.len = clen;
    sub.client_token.data = token;
    sub.client_token.len = sizeof token;
    req.version = ICS_CONTROL_VERSION;
    req.group = (char *)group;
    req.actor = (char *)"bench";
    req.timeout_ms = timeout_ms;
    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_SUBMIT;
    req.submit = &sub;
    ics_pack(&req.base, &rbuf, &rlen);
    zmq_send(sock, "", 0, ZMQ_SNDMORE);
    zmq_send(sock, rbuf, rlen, 0);
    free(cbuf);
    free(rbuf);
    zmq_msg_init(&msg);
    for (;;) {
        zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, (long)wait_ms) <= 0 || zmq_msg_recv(&msg, sock, 0) < 0)
            break;
        if (zmq_msg_size(&msg) == 0 && zmq_msg_more(&msg))
            continue;
        Ics__V1__ControlResponse *resp =
            ics__v1__control_response__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
        bool ok = resp != NULL && resp->code == 0 && resp->submit != NULL &&
                  resp->submit->accepted;
        if (ok && position != NULL)
            *position = resp->submit->position;
        if (!ok) {
            pthread_mutex_lock(&s_run.mu);
            if (s_first_error[0] == '\0')
                snprintf(s_first_error, sizeof s_first_error, "%s",
                         resp == NULL ? "an answer that does not decode"
                         : resp->code != 0 ? resp->error
                         : resp->submit != NULL ? resp->submit->reason : "no submit reply");
            pthread_mutex_unlock(&s_run.mu);
        }
        out = ok ? SUB_OK : SUB_FAILED;
        if (resp != NULL)
            ics__v1__control_response__free_unpacked(resp, NULL);
        break;
    }
    zmq_msg_close(&msg);
    return out;
}

static void s_record(client_t *c, uint64_t lat_us)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 4096;
        c->lat_us = realloc(c->lat_us, c->cap * sizeof *c->lat_us);
        c->done_us = realloc(c->done_us, c->cap * sizeof *c->done_us);
    }
    c->lat_us[c->n] = lat_us;
    c->done_us[c->n++] = ics_mono_us() - s_t0;
}

static void s_sleep_until_us(uint64_t t)
{
    uint64_t now = ics_mono_us();
    if (t > now) {
        struct timespec ts = {.tv_sec = (time_t)((t - now) / 1000000),
                              .tv_nsec = (long)((t - now) % 1000000) * 1000L};
        nanosleep(&ts, NULL);
    }
}

static void *s_client(void *arg)
{
    client_t *c = arg;
    void *sock = s_open(c->endpoint);
    char *data = malloc(c->payload + 1);

    memset(data, 'x', c->payload);
    data[c->payload] = '\0';
    for (;;) {
        uint64_t t0;
        if (s_rate > 0) {
            /* Open loop: take the next due submission, whoever is free. */
            unsigned long long k = atomic_fetch_add(&s_slot, 1);
            t0 = s_t0 + (uint64_t)((double)k * 1e6 / s_rate);
            if (c->end_us != 0 && t0 >= c->end_us)
                break;
            if (ics_mono_us() > t0 + 1000)
                c->late++;
            s_sleep_until_us(t0);
        } else {
            if (c->end_us != 0 && ics_mono_us() >= c->end_us)
                break;
            t0 = ics_mono_us();
        }
        int claim = s_claim();
        if (claim == 0)
            break;
        if (claim < 0) {
            h_sleep_ms(2);
            continue;
        }
        uint64_t position = 0;
        s_outcome_t out = s_submit(sock, c->group, data, c->payload, NULL, 10000, 15000,
                                   &position);
        s_release(position);
        if (out == SUB_NO_ANSWER) {
            /* A late answer must not be taken for the next request's. */
            zmq_close(sock);
            sock = s_open(c->endpoint);
        }
        if (out != SUB_OK) {
            c->errors++;
            continue;
        }
        s_record(c, ics_mono_us() - t0);
    }
    free(data);
    zmq_close(sock);
    pthread_mutex_lock(&s_run.mu);
    s_run.finished++;
    pthread_mutex_unlock(&s_run.mu);
    return NULL;
}

/* The group's status on the node at endpoint; false if it does not
 * answer. role may be NULL. */
static bool s_status(const char *endpoint, const char *group, uint64_t *position,
                     uint64_t *commit, char *role, size_t role_len)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__StatusRequest sr = ICS__V1__STATUS_REQUEST__INIT;
    Ics__V1__ControlResponse *resp = NULL;
    ics_err_t err;
    bool found = false;

    req.version = ICS_CONTROL_VERSION;
    req.group = (char *)"";
    req.actor = (char *)"bench";
    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_STATUS;
    req.status = &sr;
    if (ics_ctl_call(endpoint, &req, 5000, &resp, &err) != ICS_OK)
        return false;
    if (resp->code == 0 && resp->status != NULL)
        for (size_t g = 0; g < resp->status->n_groups && !found; g++) {
            const Ics__V1__GroupStatus *gs = resp->status->groups[g];
            if (group[0] == '\0' || strcmp(gs->name, group) == 0) {
                *position = gs->position;
                *commit = gs->commit_index;
                if (role != NULL)
                    snprintf(role, role_len, "%s", gs->role);
                found = true;
            }
        }
    ics__v1__control_response__free_unpacked(resp, NULL);
    return found;
}

/* The highest position and commit index any of the nodes reports (a
 * follower may not have applied the latest yet); false if none answers. */
static bool s_position(char *const eps[], unsigned n, const char *group, uint64_t *position,
                       uint64_t *commit)
{
    bool any = false;
    *position = *commit = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t p, c;
        if (!s_status(eps[i], group, &p, &c, NULL, 0))
            continue;
        any = true;
        if (p > *position)
            *position = p;
        if (c > *commit)
            *commit = c;
    }
    return any;
}

static bool s_have_leader(h_cluster_t *c, void *arg)
{
    (void)arg;
    return h_leader(c) >= 0;
}

/* Every live node has applied what the leader has committed. */
static bool s_caught_up(h_cluster_t *c, void *arg)
{
    const char *group = arg;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < c->n; i++) {
        uint64_t p, cm;
        if (c->nodes[i].pid <= 0)
            continue;
        if (!s_status(c->nodes[i].control, group, &p, &cm, NULL, 0))
            return false;
        lo = p < lo ? p : lo;
        hi = p > hi ? p : hi;
    }
    return lo == hi && h_leader(c) >= 0;
}

static const char *s_sarg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return def;
}

static unsigned long long s_arg(int argc, char **argv, const char *name, unsigned long long def)
{
    const char *v = s_sarg(argc, argv, name, NULL);
    return v != NULL ? strtoull(v, NULL, 10) : def;
}

/* CPU time (user + system, ms) the cluster's icsd processes have used so
 * far; 0 when it drives nodes it did not start. Per submission, it shows
 * what a change costs even on a machine busy with other work, where
 * throughput and latency mostly show the other work. */
static double s_cluster_cpu_ms(const h_cluster_t *c, unsigned nodes)
{
    double ms = 0;
    long hz = sysconf(_SC_CLK_TCK);

    for (unsigned i = 0; i < nodes && c->nodes[i].pid > 0; i++) {
        char path[64], buf[1024];
        unsigned long long ut = 0, st = 0;
        snprintf(path, sizeof path, "/proc/%d/stat", (int)c->nodes[i].pid);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* Fields 14 and 15, counted after the ")" that ends the name. */
        const char *p = strrchr(buf, ')');
        if (p != NULL && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                                &ut, &st) == 2)
            ms += (ut + st) * 1000.0 / hz;
    }
    return ms;
}

static void s_usage(FILE *f)
{
    fprintf(f, "usage: icsd-bench [--nodes N(1..7)] [--clients C] [--seconds S] "
               "[--payload BYTES]\n"
               "                  [--via all|leader|follower] [--rate R] "
               "[--heartbeat MS] [--election MS]\n"
               "                  [--failover N] [--control EP[,EP...]] [--group NAME]\n"
               "                  [--until-position P] [--tail K] [--stall S]\n"
               "                  [--snapshot N] [--verify-threads N]\n");
}

/* --failover: rounds of SIGKILL of the leader, then one submission
 * through a surviving follower; the time from the kill to its commit. */
static int s_failover(h_cluster_t *cl, unsigned rounds, const char *group, size_t payload)
{
    uint64_t *ms = calloc(rounds, sizeof *ms);
    char *data = malloc(payload + 1);
    unsigned done = 0;
    int status = 0;

    memset(data, 'f', payload);
    data[payload] = '\0';
    for (unsigned r = 0; r < rounds; r++) {
        if (!h_wait(s_caught_up, cl, (void *)group, 30000)) {
            fprintf(stderr, "icsd-bench: round %u: no leader, or a node did not catch up\n",
                    r + 1);
            status = 1;
            break;
        }
        int leader = h_leader(cl), via = -1;
        for (int k = 1; k < cl->n && via < 0; k++) {
            int j = (leader + (int)r + k) % cl->n;
            if (j != leader)
                via = j;
        }
        void *sock = s_open(cl->nodes[via].control);
        uint64_t pos = 0;
        /* Warm the path through this follower, then let the group go idle. */
        if (s_submit(sock, group, data, payload, NULL, 10000, 15000, &pos) != SUB_OK) {
            fprintf(stderr, "icsd-bench: round %u: submission before the kill failed\n", r + 1);
            zmq_close(sock);
            status = 1;
            break;
        }
        h_sleep_ms(1500);
        uint8_t token[16];
        randombytes_buf(token, sizeof token);
        uint64_t t0 = ics_mono_us(), t1 = 0;
        h_kill(cl, leader);
        while (ics_mono_us() - t0 < 60000000ull) {
            s_outcome_t out = s_submit(sock, group, data, payload, token, 10000, 15000, &pos);
            if (out == SUB_OK) {
                t1 = ics_mono_us();
                break;
            }
            if (out == SUB_NO_ANSWER) {
                zmq_close(sock);
                sock = s_open(cl->nodes[via].control);
            } else {
                h_sleep_ms(10);
            }
        }
        zmq_close(sock);
        if (t1 == 0) {
            fprintf(stderr, "icsd-bench: round %u: nothing committed within 60 s of the kill\n",
                    r + 1);
            status = 1;
            break;
        }
        ms[done++] = (t1 - t0) / 1000;
        printf("  failover %2u: killed %s (leader), committed via %s after %llu ms\n", r + 1,
               cl->nodes[leader].org, cl->nodes[via].org, (unsigned long long)ms[done - 1]);
        fflush(stdout);
        h_start(cl, leader);
    }
    if (done > 0) {
        qsort(ms, done, sizeof *ms, s_cmp);
        printf("  failover   %u rounds: median %llu ms  max %llu ms  (min %llu ms)\n", done,
               (unsigned long long)(done % 2 ? ms[done / 2] : (ms[done / 2 - 1] + ms[done / 2]) / 2),
               (unsigned long long)ms[done - 1], (unsigned long long)ms[0]);
    }
    free(ms);
    free(data);
    return status;
}

int main(int argc, char **argv)
{
    static const char *const orgs[] = {"QHM", "RTD", "RX4", "E06000057", "RX6", "RX7", "QE1"};
    static const char *const kinds[] = {"icb", "foundation_trust", "mental_health",
                                        "local_authority", "ambulance", "ambulance", "icb"};
    static const char *const names[] = {
        "--nodes",     "--clients",   "--seconds",  "--payload",        "--control",
        "--group",     "--until-position", "--tail", "--stall",         "--via",
        "--rate",      "--heartbeat", "--election", "--failover",       "--snapshot",
        "--verify-threads"};
    unsigned long long nodes = s_arg(argc, argv, "--nodes", 3);
    unsigned long long target = s_arg(argc, argv, "--until-position", 0);
    unsigned long long seconds = s_arg(argc, argv, "--seconds", target ? 0 : 10);
    unsigned long long payload = s_arg(argc, argv, "--payload", 200);
    unsigned long long tail = s_arg(argc, argv, "--tail", 10000);
    unsigned long long stall = s_arg(argc, argv, "--stall", 120);
    unsigned long long heartbeat = s_arg(argc, argv, "--heartbeat", 0);
    unsigned long long election = s_arg(argc, argv, "--election", 0);
    unsigned long long failover = s_arg(argc, argv, "--failover", 0);
    unsigned long long snapshot = s_arg(argc, argv, "--snapshot", 0);
    const char *verify_threads = s_sarg(argc, argv, "--verify-threads", NULL);
    const char *rate_s = s_sarg(argc, argv, "--rate", NULL);
    double rate = rate_s != NULL ? strtod(rate_s, NULL) : 0;
    unsigned long long clients = s_arg(argc, argv, "--clients", rate > 0 ? 32 : 4);
    const char *via = s_sarg(argc, argv, "--via", "all");
    const char *control = s_sarg(argc, argv, "--control", NULL);
    const char *group = s_sarg(argc, argv, "--group", "");
    static h_cluster_t cluster;
    char *eps[H_MAX_NODES], *targets[H_MAX_NODES], *eplist = NULL;
    unsigned n_targets = 0;
    client_t *cl;
    pthread_t *th;
    pthread_attr_t attr;
    size_t total = 0;
    unsigned errors = 0, late = 0;
    uint64_t start_pos = 0, pos = 0, commit = 0;
    int status = 0;

    for (int i = 1; i < argc; i++) {
        bool known = false;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            s_usage(stdout);
            return 0;
        }
        for (size_t k = 0; k < sizeof names / sizeof *names; k++)
            known = known || strcmp(argv[i], names[k]) == 0;
        if (!known || i + 1 >= argc) {
            fprintf(stderr, "icsd-bench: %s: %s\n", argv[i],
                    known ? "missing value" : "unknown argument");
            s_usage(stderr);
            return 2;
        }
        i++;
    }
    if (control != NULL) {
        nodes = 0;
        eplist = strdup(control);
        for (char *save = NULL, *ep = strtok_r(eplist, ",", &save); ep != NULL;
             ep = strtok_r(NULL, ",", &save))
            if (nodes < H_MAX_NODES)
                eps[nodes++] = ep;
    }
    if (nodes < 1 || nodes > 7 || clients < 1 || clients > MAX_CLIENTS ||
        (seconds < 1 && target == 0) || payload < 1 || payload > 65536 || tail < 1 ||
        stall < 1 || (rate_s != NULL && !(rate > 0 && rate <= 1e6)) ||
        (rate > 0 && target != 0) || (heartbeat != 0 && heartbeat < 10) ||
        (snapshot != 0 && snapshot < 2) ||
        (verify_threads != NULL && strspn(verify_threads, "0123456789") == 0) ||
        (strcmp(via, "all") != 0 && strcmp(via, "leader") != 0 &&
         strcmp(via, "follower") != 0) ||
        (failover != 0 && (control != NULL || nodes < 3))) {
        fprintf(stderr, "icsd-bench: --nodes 1..7 (or 1..7 --control endpoints), --clients "
                        "1..%u, --seconds >= 1 (or --until-position), --payload 1..65536, "
                        "--tail >= 1, --stall >= 1, --rate > 0 (not with --until-position), "
                        "--heartbeat >= 10, --snapshot >= 2, --verify-threads N, "
                        "--via all|leader|follower, --failover with a "
                        "cluster of its own of 3 nodes or more\n",
                MAX_CLIENTS);
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    s_ctx = zmq_ctx_new();
    zmq_ctx_set(s_ctx, ZMQ_MAX_SOCKETS, (int)clients + 64);
    if (control == NULL) {
        h_cluster_init(&cluster, (int)nodes, orgs, kinds);
        cluster.icsd_defaults = true;
        for (unsigned i = 0; i < nodes; i++) {
            char *x = cluster.nodes[i].extra;
            size_t room = sizeof cluster.nodes[i].extra;
            if (heartbeat != 0)
                snprintf(x + strlen(x), room - strlen(x), "heartbeat_ms = %llu\n", heartbeat);
            if (election != 0)
                snprintf(x + strlen(x), room - strlen(x), "election_ms = %llu\n", election);
            if (snapshot != 0)
                snprintf(x + strlen(x), room - strlen(x), "snapshot_threshold = %llu\n",
                         snapshot);
            if (verify_threads != NULL)
                snprintf(cluster.nodes[i].node_extra, sizeof cluster.nodes[i].node_extra,
                         "verify_threads = %s\n", verify_threads);
        }
        for (unsigned i = 0; i < nodes; i++) {
            h_start(&cluster, (int)i);
            eps[i] = cluster.nodes[i].control;
        }
        if (!h_wait(s_have_leader, &cluster, NULL, 15000)) {
            fprintf(stderr, "icsd-bench: no leader elected\n");
            status = 1;
            goto out;
        }
    }
    if (failover != 0) {
        printf("icsd-bench: %llu nodes, failover of the leader, %llu rounds\n", nodes, failover);
        status = s_failover(&cluster, (unsigned)failover, group, payload);
        goto out;
    }
    /* The nodes the clients talk to. */
    for (unsigned i = 0; i < nodes; i++) {
        char role[32] = "";
        uint64_t p, cm;
        if (strcmp(via, "all") != 0 &&
            (!s_status(eps[i], group, &p, &cm, role, sizeof role) ||
             (strcmp(role, "leader") == 0) != (strcmp(via, "leader") == 0)))
            continue;
        targets[n_targets++] = eps[i];
    }
    if (n_targets == 0) {
        fprintf(stderr, "icsd-bench: no node is a %s\n", via);
        status = 1;
        goto out;
    }
    if (target != 0) {
        if (!s_position(eps, (unsigned)nodes, group, &start_pos, &commit)) {
            fprintf(stderr, "icsd-bench: no node answers with the status%s%s\n",
                    group[0] ? " of group " : "", group);
            status = 1;
            goto out;
        }
        s_run.position = start_pos;
        s_run.target = target;
    }
    s_rate = rate;
    cl = calloc(clients, sizeof *cl);
    th = calloc(clients, sizeof *th);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    double cpu0 = s_cluster_cpu_ms(&cluster, control == NULL ? (unsigned)nodes : 0);
    s_t0 = ics_mono_us() + (rate > 0 ? 100000 : 0); /* open loop: let the pool connect */
    for (unsigned i = 0; i < clients; i++) {
        cl[i].endpoint = targets[i % n_targets];
        cl[i].group = group;
        cl[i].end_us = seconds ? s_t0 + seconds * 1000000ull : 0;
        cl[i].payload = payload;
        pthread_create(&th[i], &attr, s_client, &cl[i]);
    }
    pthread_attr_destroy(&attr);
    if (target != 0) {
        /* Watch: progress every 10 s; give up after `stall` s without any. */
        uint64_t last = start_pos, last_ms = ics_mono_ms(), shown_ms = last_ms, shown = start_pos;
        for (;;) {
            h_sleep_ms(200);
            pthread_mutex_lock(&s_run.mu);
            uint64_t p = s_run.position;
            bool done = s_run.finished == clients;
            pthread_mutex_unlock(&s_run.mu);
            uint64_t now = ics_mono_ms();
            if (done)
                break;
            if (p != last) {
                last = p;
                last_ms = now;
            } else if (now - last_ms > stall * 1000 && status == 0) {
                fprintf(stderr, "icsd-bench: no progress for %llu s at position %llu; giving up\n",
                        stall, (unsigned long long)p);
                pthread_mutex_lock(&s_run.mu);
                s_run.stop = true;
                pthread_mutex_unlock(&s_run.mu);
                status = 1;
            }
            if (now - shown_ms >= 10000) {
                fprintf(stderr, "icsd-bench: position %llu of %llu, %.0f/s\n",
                        (unsigned long long)p, target, (p - shown) * 1000.0 / (now - shown_ms));
                shown = p;
                shown_ms = now;
            }
        }
    }
    for (unsigned i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        total += cl[i].n;
        errors += cl[i].errors;
        late += cl[i].late;
    }
    double elapsed = (ics_mono_us() - s_t0) / 1e6;
    double cpu = s_cluster_cpu_ms(&cluster, control == NULL ? (unsigned)nodes : 0) - cpu0;
    uint64_t *all = malloc((total ? total : 1) * sizeof *all);
    uint64_t *done = malloc((total ? total : 1) * sizeof *done);
    size_t k = 0;
    for (unsigned i = 0; i < clients; i++) {
        memcpy(all + k, cl[i].lat_us, cl[i].n * sizeof *all);
        memcpy(done + k, cl[i].done_us, cl[i].n * sizeof *done);
        k += cl[i].n;
        free(cl[i].lat_us);
        free(cl[i].done_us);
    }
    qsort(all, total, sizeof *all, s_cmp);
    qsort(done, total, sizeof *done, s_cmp);
#define PCT(p) (total ? all[(total - 1) * (p) / 100] / 1000.0 : 0.0)
    if (target == 0) {
        printf("icsd-bench: %llu nodes, %llu clients via %s, %llu s, %llu-byte payloads\n",
               nodes, clients, via, seconds, payload);
        if (rate > 0)
            printf("  offered    %.1f submissions/s (open loop; %u started late for want of a "
                   "free client)\n", rate, late);
        printf("  committed  %zu submissions (%u failed or timed out)\n", total, errors);
        if (s_first_error[0] != '\0')
            printf("  first failure: %s\n", s_first_error);
        printf("  throughput %.1f submissions/s\n", total / elapsed);
        if (cpu > 0 && total > 0)
            printf("  cpu        %.3f ms per submission, all %llu icsd processes together\n",
                   cpu / total, nodes);
        /* Raft entries that are not submissions (barriers, configuration,
         * clock ticks, checkpoints) show as the gap between the two. */
        if (s_position(eps, (unsigned)nodes, group, &pos, &commit))
            printf("  raft log   commit index %llu at audit position %llu\n",
                   (unsigned long long)commit, (unsigned long long)pos);
    } else {
        /* The rate over the last `tail` submissions: from the commit just
         * before them (or the start) to the last one. */
        size_t kt = total > tail ? (size_t)tail : total;
        uint64_t from = total > tail ? done[total - tail - 1] : 0;
        double tail_s = total ? (done[total - 1] - from) / 1e6 : 0;
        double tail_rate = tail_s > 0 ? kt / tail_s : 0;
        s_position(eps, (unsigned)nodes, group, &pos, &commit);
        pthread_mutex_lock(&s_run.mu);
        if (s_run.position > pos)
            pos = s_run.position;
        pthread_mutex_unlock(&s_run.mu);
        if (pos < target)
            status = 1;
        printf("icsd-bench: %llu nodes, %llu clients, %llu-byte payloads, position %llu to %llu "
               "(target %llu)\n",
               nodes, clients, payload, (unsigned long long)start_pos, (unsigned long long)pos,
               target);
        printf("  committed  %zu submissions in %.1f s (%u failed or timed out)\n", total, elapsed,
               errors);
        printf("  throughput %.1f submissions/s; last %zu: %.1f submissions/s\n", total / elapsed,
               kt, tail_rate);
        printf("result submitted=%zu seconds=%.3f rate=%.1f tail=%zu tail_rate=%.1f "
               "start=%llu position=%llu commit=%llu errors=%u\n",
               total, elapsed, total / elapsed, kt, tail_rate, (unsigned long long)start_pos,
               (unsigned long long)pos, (unsigned long long)commit, errors);
    }
    printf("  latency    p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms%s\n", PCT(50),
           PCT(90), PCT(99), PCT(100), rate > 0 ? " (from when each was due)" : "");
    fflush(stdout);
    free(all);
    free(done);
    free(cl);
    free(th);
out:
    if (control == NULL) {
        for (unsigned i = 0; i < nodes; i++)
            h_stop(&cluster, (int)i);
        h_cluster_destroy(&cluster);
    }
    zmq_ctx_term(s_ctx);
    free(eplist);
    return status;
}
