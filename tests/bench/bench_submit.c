/*
 * icsd-bench: committed submissions per second and latency on a loopback
 * cluster of real icsd processes.
 *
 *   icsd-bench [--nodes N] [--clients C] [--seconds S] [--payload BYTES]
 *
 * Each client is a thread with its own control connection to one node
 * (round robin), submitting signed entries one after another; a
 * submission counts when the node reports it applied (so followers'
 * submissions include the forward to the leader). Prints throughput and
 * p50/p90/p99/max latency. This is a benchmark, not a test: it asserts
 * nothing about speed.
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
    unsigned seconds;
    size_t payload;
    uint64_t *lat_us;
    size_t n, cap;
    unsigned errors;
} client_t;

static int s_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void *s_client(void *arg)
{
    client_t *c = arg;
    void *ctx = zmq_ctx_new(), *sock = zmq_socket(ctx, ZMQ_DEALER);
    char *data = malloc(c->payload + 1);
    uint64_t end = ics_mono_ms() + c->seconds * 1000ull;
    int linger = 0;

    memset(data, 'x', c->payload);
    data[c->payload] = '\0';
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(sock, c->endpoint);
    while (ics_mono_ms() < end) {
        Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
        Ics__V1__SubmitRequest sub = ICS__V1__SUBMIT_REQUEST__INIT;
        Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
        Ics__V1__Raw raw = ICS__V1__RAW__INIT;
        uint8_t token[16], *cbuf = NULL, *rbuf = NULL;
        size_t clen = 0, rlen = 0;
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
        req.group = (char *)"";
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
        bool ok = false;
        for (;;) {
            zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
            if (zmq_poll(&it, 1, 15000) <= 0 || zmq_msg_recv(&msg, sock, 0) < 0)
                break;
            if (zmq_msg_size(&msg) == 0 && zmq_msg_more(&msg))
                continue;
            Ics__V1__ControlResponse *resp =
                ics__v1__control_response__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
            ok = resp != NULL && resp->code == 0 && resp->submit != NULL && resp->submit->accepted;
            if (resp != NULL)
                ics__v1__control_response__free_unpacked(resp, NULL);
            break;
        }
        zmq_msg_close(&msg);
        if (!ok) {
            c->errors++;
            continue;
        }
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 4096;
            c->lat_us = realloc(c->lat_us, c->cap * sizeof *c->lat_us);
        }
        c->lat_us[c->n++] = ics_mono_us() - t0;
    }
    free(data);
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return NULL;
}

static bool s_have_leader(h_cluster_t *c, void *arg)
{
    (void)arg;
    return h_leader(c) >= 0;
}

static unsigned s_arg(int argc, char **argv, const char *name, unsigned def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return (unsigned)strtoul(argv[i + 1], NULL, 10);
    return def;
}

int main(int argc, char **argv)
{
    static const char *const orgs[] = {"QHM", "RTD", "RX4", "E06000057", "RX6", "RX7", "QE1"};
    static const char *const kinds[] = {"icb", "foundation_trust", "mental_health",
                                        "local_authority", "ambulance", "ambulance", "icb"};
    unsigned nodes = s_arg(argc, argv, "--nodes", 3);
    unsigned clients = s_arg(argc, argv, "--clients", 4);
    unsigned seconds = s_arg(argc, argv, "--seconds", 10);
    unsigned payload = s_arg(argc, argv, "--payload", 200);
    static h_cluster_t cluster;
    client_t *cl;
    pthread_t *th;
    size_t total = 0;
    unsigned errors = 0;

    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: icsd-bench [--nodes N(3..7)] [--clients C] [--seconds S] "
                   "[--payload BYTES]\n");
            return 0;
        }
    if (nodes < 1 || nodes > 7 || clients < 1 || clients > 256 || seconds < 1) {
        fprintf(stderr, "icsd-bench: --nodes 1..7, --clients 1..256, --seconds >= 1\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    h_cluster_init(&cluster, (int)nodes, orgs, kinds);
    for (unsigned i = 0; i < nodes; i++)
        h_start(&cluster, (int)i);
    if (!h_wait(s_have_leader, &cluster, NULL, 15000)) {
        fprintf(stderr, "icsd-bench: no leader elected\n");
        h_cluster_destroy(&cluster);
        return 1;
    }
    cl = calloc(clients, sizeof *cl);
    th = calloc(clients, sizeof *th);
    uint64_t t0 = ics_mono_us();
    for (unsigned i = 0; i < clients; i++) {
        cl[i].endpoint = cluster.nodes[i % nodes].control;
        cl[i].seconds = seconds;
        cl[i].payload = payload;
        pthread_create(&th[i], NULL, s_client, &cl[i]);
    }
    for (unsigned i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        total += cl[i].n;
        errors += cl[i].errors;
    }
    double elapsed = (ics_mono_us() - t0) / 1e6;
    uint64_t *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (unsigned i = 0; i < clients; i++) {
        memcpy(all + k, cl[i].lat_us, cl[i].n * sizeof *all);
        k += cl[i].n;
        free(cl[i].lat_us);
    }
    qsort(all, total, sizeof *all, s_cmp);
#define PCT(p) (total ? all[(total - 1) * (p) / 100] / 1000.0 : 0.0)
    printf("icsd-bench: %u nodes, %u clients, %u s, %u-byte payloads\n", nodes, clients, seconds,
           payload);
    printf("  committed  %zu submissions (%u failed or timed out)\n", total, errors);
    printf("  throughput %.1f submissions/s\n", total / elapsed);
    printf("  latency    p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n", PCT(50), PCT(90),
           PCT(99), PCT(100));
    free(all);
    free(cl);
    free(th);
    for (unsigned i = 0; i < nodes; i++)
        h_stop(&cluster, (int)i);
    h_cluster_destroy(&cluster);
    return 0;
}
