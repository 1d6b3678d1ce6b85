/*
 * icsd-bench: committed submissions per second and latency on a loopback
 * cluster of real icsd processes.
 *
 *   icsd-bench [--nodes N] [--clients C] [--seconds S] [--payload BYTES]
 *              [--control EP[,EP...]] [--group NAME]
 *              [--until-position P] [--tail K] [--stall S]
 *
 * Each client is a thread with its own control connection to one node
 * (round robin), submitting signed entries one after another; a
 * submission counts when the node reports it applied (so followers'
 * submissions include the forward to the leader). Prints throughput and
 * p50/p90/p99/max latency. This is a benchmark, not a test: it asserts
 * nothing about speed.
 *
 * By default it starts its own cluster. With --control it drives nodes
 * that are already running (their control endpoints, e.g.
 * ipc:///tmp/x/QHM.sock) and starts nothing.
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
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "common/envelope.h"

typedef struct {
    const char *endpoint;
    const char *group;
    uint64_t end_us;   /* monotonic deadline; 0 for none */
    size_t payload;
    uint64_t *lat_us;  /* latency of each committed submission */
    uint64_t *done_us; /* when it committed, since the start of the run */
    size_t n, cap;
    unsigned errors;
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

static void *s_open(void *ctx, const char *endpoint)
{
    void *sock = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(sock, endpoint);
    return sock;
}

static void *s_client(void *arg)
{
    client_t *c = arg;
    void *ctx = zmq_ctx_new(), *sock = s_open(ctx, c->endpoint);
    char *data = malloc(c->payload + 1);

    memset(data, 'x', c->payload);
    data[c->payload] = '\0';
    for (;;) {
        if (c->end_us != 0 && ics_mono_us() >= c->end_us)
            break;
        int claim = s_claim();
        if (claim == 0)
            break;
        if (claim < 0) {
            h_sleep_ms(2);
            continue;
        }
        Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
        Ics__V1__SubmitRequest sub = ICS__V1__SUBMIT_REQUEST__INIT;
        Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
        Ics__V1__Raw raw = ICS__V1__RAW__INIT;
        uint8_t token[16], *cbuf = NULL, *rbuf = NULL;
        size_t clen = 0, rlen = 0;
        uint64_t position = 0;
        zmq_msg_t msg;

        raw.data.data = (uint8_t *)data;
        raw.data.len = c->payload;
        cmd.body_case = ICS__V1__COMMAND__BODY_RAW;
        cmd.raw = &raw;
        ics_pack(&cmd.base, &cbuf, &clen);
        randombytes_buf(token, sizeof token);
        sub.command.data = cbuf;
        sub.command.len = clen;
        sub.client_token.data = token;
        sub.client_token.len = sizeof token;
        req.version = ICS_CONTROL_VERSION;
        req.group = (char *)c->group;
        req.actor = (char *)"bench";
        req.timeout_ms = 10000;
        req.body_case = ICS__V1__CONTROL_REQUEST__BODY_SUBMIT;
        req.submit = &sub;
        ics_pack(&req.base, &rbuf, &rlen);
        uint64_t t0 = ics_mono_us();
        zmq_send(sock, "", 0, ZMQ_SNDMORE);
        zmq_send(sock, rbuf, rlen, 0);
        free(cbuf);
        free(rbuf);
        zmq_msg_init(&msg);
        bool ok = false, answered = false;
        for (;;) {
            zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
            if (zmq_poll(&it, 1, 15000) <= 0 || zmq_msg_recv(&msg, sock, 0) < 0)
                break;
            if (zmq_msg_size(&msg) == 0 && zmq_msg_more(&msg))
                continue;
            Ics__V1__ControlResponse *resp =
                ics__v1__control_response__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
            answered = true;
            ok = resp != NULL && resp->code == 0 && resp->submit != NULL && resp->submit->accepted;
            if (ok)
                position = resp->submit->position;
            if (resp != NULL)
                ics__v1__control_response__free_unpacked(resp, NULL);
            break;
        }
        zmq_msg_close(&msg);
        s_release(position);
        if (!answered) {
            /* A late answer must not be taken for the next request's. */
            zmq_close(sock);
            sock = s_open(ctx, c->endpoint);
        }
        if (!ok) {
            c->errors++;
            continue;
        }
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 4096;
            c->lat_us = realloc(c->lat_us, c->cap * sizeof *c->lat_us);
            c->done_us = realloc(c->done_us, c->cap * sizeof *c->done_us);
        }
        uint64_t now = ics_mono_us();
        c->lat_us[c->n] = now - t0;
        c->done_us[c->n++] = now - s_t0;
    }
    free(data);
    zmq_close(sock);
    zmq_ctx_term(ctx);
    pthread_mutex_lock(&s_run.mu);
    s_run.finished++;
    pthread_mutex_unlock(&s_run.mu);
    return NULL;
}

/* The group's audit position and raft commit index on the node at
 * endpoint; false if it does not answer. */
static bool s_status(const char *endpoint, const char *group, uint64_t *position,
                     uint64_t *commit)
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
        if (!s_status(eps[i], group, &p, &c))
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

static void s_usage(FILE *f)
{
    fprintf(f, "usage: icsd-bench [--nodes N(1..7)] [--clients C] [--seconds S] "
               "[--payload BYTES]\n"
               "                  [--control EP[,EP...]] [--group NAME] "
               "[--until-position P] [--tail K] [--stall S]\n");
}

int main(int argc, char **argv)
{
    static const char *const orgs[] = {"QHM", "RTD", "RX4", "E06000057", "RX6", "RX7", "QE1"};
    static const char *const kinds[] = {"icb", "foundation_trust", "mental_health",
                                        "local_authority", "ambulance", "ambulance", "icb"};
    static const char *const names[] = {"--nodes",   "--clients", "--seconds",
                                        "--payload", "--control", "--group",
                                        "--until-position", "--tail", "--stall"};
    unsigned long long nodes = s_arg(argc, argv, "--nodes", 3);
    unsigned long long clients = s_arg(argc, argv, "--clients", 4);
    unsigned long long target = s_arg(argc, argv, "--until-position", 0);
    unsigned long long seconds = s_arg(argc, argv, "--seconds", target ? 0 : 10);
    unsigned long long payload = s_arg(argc, argv, "--payload", 200);
    unsigned long long tail = s_arg(argc, argv, "--tail", 10000);
    unsigned long long stall = s_arg(argc, argv, "--stall", 120);
    const char *control = s_sarg(argc, argv, "--control", NULL);
    const char *group = s_sarg(argc, argv, "--group", "");
    static h_cluster_t cluster;
    char *eps[H_MAX_NODES], *eplist = NULL;
    client_t *cl;
    pthread_t *th;
    size_t total = 0;
    unsigned errors = 0;
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
    if (nodes < 1 || nodes > 7 || clients < 1 || clients > 256 ||
        (seconds < 1 && target == 0) || payload < 1 || payload > 65536 || tail < 1 ||
        stall < 1) {
        fprintf(stderr, "icsd-bench: --nodes 1..7 (or 1..7 --control endpoints), --clients "
                        "1..256, --seconds >= 1 (or --until-position), --payload 1..65536, "
                        "--tail >= 1, --stall >= 1\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    if (control == NULL) {
        h_cluster_init(&cluster, (int)nodes, orgs, kinds);
        for (unsigned i = 0; i < nodes; i++) {
            h_start(&cluster, (int)i);
            eps[i] = cluster.nodes[i].control;
        }
        if (!h_wait(s_have_leader, &cluster, NULL, 15000)) {
            fprintf(stderr, "icsd-bench: no leader elected\n");
            h_cluster_destroy(&cluster);
            return 1;
        }
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
    cl = calloc(clients, sizeof *cl);
    th = calloc(clients, sizeof *th);
    s_t0 = ics_mono_us();
    for (unsigned i = 0; i < clients; i++) {
        cl[i].endpoint = eps[i % nodes];
        cl[i].group = group;
        cl[i].end_us = seconds ? s_t0 + seconds * 1000000ull : 0;
        cl[i].payload = payload;
        pthread_create(&th[i], NULL, s_client, &cl[i]);
    }
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
    }
    double elapsed = (ics_mono_us() - s_t0) / 1e6;
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
        printf("icsd-bench: %llu nodes, %llu clients, %llu s, %llu-byte payloads\n", nodes,
               clients, seconds, payload);
        printf("  committed  %zu submissions (%u failed or timed out)\n", total, errors);
        printf("  throughput %.1f submissions/s\n", total / elapsed);
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
    printf("  latency    p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n", PCT(50), PCT(90),
           PCT(99), PCT(100));
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
    free(eplist);
    return status;
}
