/*
 * libraft 0.15 defect (a) across real processes: a leader that keeps
 * appending may never commit (0.15 looks for a majority only at the
 * leader's newest stored entry; fixed upstream in 0.17.1, 1996d32). A
 * client sends submissions to the leader at a steady rate without waiting
 * for answers, over links that delay every byte (a proxy in this test, as
 * between two organisations' data centres); the leader's commit index must
 * keep moving and every submission must be answered, applied or refused as
 * too many in flight. The daemon's commit guard (daemon/raftfix.h, used in
 * group.c) pauses proposals for a moment when the commit index stands
 * still; tests/unit/test_raft_defects.c shows the stall itself in raft's
 * fixture. Here, on loopback, the daemon's event loop (answers read before
 * new submissions, one disk write per turn) has not been seen to stall
 * even without the guard; the test holds the guard to doing no harm.
 *
 *   ICS_STALL_SECONDS  length of the load (default 10)
 *   ICS_STALL_EVERY_US one submission every so many microseconds (default 5000)
 *   ICS_STALL_DELAY_MS one-way delay between nodes (default 15)
 */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/envelope.h"

static const char *const ORGS[] = {"QHM", "RTD", "RX4"};
static const char *const KINDS[] = {"icb", "foundation_trust", "mental_health"};

static bool s_have_leader(h_cluster_t *c, void *arg)
{
    (void)arg;
    return h_leader(c) >= 0;
}

/* ---- a slow network on loopback ----------------------------------------
 *
 * Each node listens on a port of its own; every configuration names, as its
 * endpoint, a port where this test forwards the bytes after DELAY_MS, as a
 * link between two organisations' data centres would. CURVE runs end to
 * end through it. */

static unsigned s_delay_ms;

typedef struct {
    int from, to;
} s_pipe_t;

static uint64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One direction: each chunk read goes out DELAY_MS after it was read. */
static void *s_pump(void *arg)
{
    s_pipe_t *p = arg;
    char buf[65536];
    ssize_t n;

    while ((n = read(p->from, buf, sizeof buf)) > 0) {
        uint64_t due = s_now_ms() + s_delay_ms;
        for (uint64_t now = s_now_ms(); now < due; now = s_now_ms())
            h_sleep_ms((unsigned)(due - now));
        for (ssize_t off = 0; off < n;) {
            ssize_t w = send(p->to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
            if (w <= 0)
                goto out;
            off += w;
        }
    }
out:
    shutdown(p->to, SHUT_WR);
    shutdown(p->from, SHUT_RD);
    free(p);
    return NULL;
}

static int s_listen(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

typedef struct {
    int lfd, target;
} s_proxy_t;

static void *s_proxy(void *arg)
{
    s_proxy_t *px = arg;
    for (;;) {
        int in = accept(px->lfd, NULL, NULL), one = 1;
        if (in < 0)
            return NULL;
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)px->target)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int out = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(out, (struct sockaddr *)&a, sizeof a) != 0) {
            close(in);
            close(out);
            continue;
        }
        setsockopt(in, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(out, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        s_pipe_t *up = malloc(sizeof *up), *down = malloc(sizeof *down);
        pthread_t t;
        *up = (s_pipe_t){in, out};
        *down = (s_pipe_t){out, in};
        pthread_create(&t, NULL, s_pump, up);
        pthread_detach(t);
        pthread_create(&t, NULL, s_pump, down);
        pthread_detach(t);
    }
}

/* Puts a proxy in front of every node (before h_start). */
static void s_slow_network(h_cluster_t *c, unsigned delay_ms)
{
    s_delay_ms = delay_ms;
    for (int i = 0; i < c->n; i++) {
        static s_proxy_t px[H_MAX_NODES];
        pthread_t t;
        c->nodes[i].listen_port = h_free_port();
        px[i].target = c->nodes[i].listen_port;
        px[i].lfd = s_listen(c->nodes[i].port);
        assert_true(px[i].lfd >= 0);
        pthread_create(&t, NULL, s_proxy, &px[i]);
        pthread_detach(t);
    }
}

static unsigned s_env(const char *name, unsigned dflt)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? (unsigned)strtoul(v, NULL, 10) : dflt;
}

typedef struct {
    uint64_t commit, last;
    bool ok;
} s_sample_t;

static s_sample_t s_sample(h_cluster_t *c, int i)
{
    Ics__V1__StatusReply *st;
    Ics__V1__ControlResponse *resp;
    s_sample_t s = {0};
    if (h_status(c, i, &st, &resp) != ICS_OK)
        return s;
    s.commit = st->groups[0]->commit_index;
    s.last = st->groups[0]->last_index;
    s.ok = true;
    ics__v1__control_response__free_unpacked(resp, NULL);
    return s;
}

static void s_send(void *sock, unsigned k)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__SubmitRequest sub = ICS__V1__SUBMIT_REQUEST__INIT;
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Raw raw = ICS__V1__RAW__INIT;
    uint8_t token[16], *cbuf = NULL, *rbuf = NULL;
    size_t clen = 0, rlen = 0;
    char data[32];

    snprintf(data, sizeof data, "load-%u", k);
    raw.data.data = (uint8_t *)data;
    raw.data.len = strlen(data);
    cmd.body_case = ICS__V1__COMMAND__BODY_RAW;
    cmd.raw = &raw;
    assert_int_equal(ics_pack(&cmd.base, &cbuf, &clen), ICS_OK);
    randombytes_buf(token, sizeof token);
    sub.command.data = cbuf;
    sub.command.len = clen;
    sub.client_token.data = token;
    sub.client_token.len = sizeof token;
    req.version = ICS_CONTROL_VERSION;
    req.group = (char *)"";
    req.actor = (char *)"test.user";
    req.timeout_ms = 60000;
    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_SUBMIT;
    req.submit = &sub;
    assert_int_equal(ics_pack(&req.base, &rbuf, &rlen), ICS_OK);
    zmq_send(sock, "", 0, ZMQ_SNDMORE);
    zmq_send(sock, rbuf, rlen, 0);
    free(cbuf);
    free(rbuf);
}

typedef struct {
    unsigned applied, refused, failed;
} s_answers_t;

/* Reads every answer waiting (at most wait_ms for the first). */
static unsigned s_drain(void *sock, s_answers_t *a, long wait_ms)
{
    unsigned n = 0;
    for (;;) {
        zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
        zmq_msg_t msg;
        if (zmq_poll(&it, 1, n == 0 ? wait_ms : 0) <= 0)
            return n;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, sock, 0) < 0) {
            zmq_msg_close(&msg);
            return n;
        }
        if (zmq_msg_size(&msg) == 0 && zmq_msg_more(&msg)) {
            zmq_msg_close(&msg);
            continue;
        }
        Ics__V1__ControlResponse *resp =
            ics__v1__control_response__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
        if (resp != NULL && resp->code == 0 && resp->submit != NULL)
            a->applied++;
        else if (resp != NULL && resp->error != NULL && strstr(resp->error, "in flight"))
            a->refused++; /* too many in flight: the client may try again */
        else {
            if (a->failed++ == 0)
                print_message("first failed answer: code %d: %s\n", resp ? resp->code : 0,
                              resp && resp->error ? resp->error : "(undecodable)");
        }
        if (resp != NULL)
            ics__v1__control_response__free_unpacked(resp, NULL);
        zmq_msg_close(&msg);
        n++;
    }
}

static void commits_keep_moving_under_steady_load(void **state)
{
    h_cluster_t c;
    unsigned seconds = s_env("ICS_STALL_SECONDS", 10);
    unsigned every_us = s_env("ICS_STALL_EVERY_US", 5000);
    s_answers_t a = {0};
    uint64_t longest = 0, stall_from, last_commit = 0, commits_under_load = 0, first_commit;
    unsigned sent = 0;
    int linger = 0;
    (void)state;

    h_cluster_init(&c, 3, ORGS, KINDS);
    s_slow_network(&c, s_env("ICS_STALL_DELAY_MS", 15));
    for (int i = 0; i < 3; i++)
        h_start(&c, i);
    assert_true(h_wait(s_have_leader, &c, NULL, 20000));
    int l = h_leader(&c);
    /* Let the genesis commit first. */
    h_sleep_ms(1000);

    void *ctx = zmq_ctx_new(), *sock = zmq_socket(ctx, ZMQ_DEALER);
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_connect(sock, c.nodes[l].control), 0);

    s_sample_t s0 = s_sample(&c, l);
    assert_true(s0.ok);
    first_commit = last_commit = s0.commit;
    uint64_t t0 = ics_mono_us(), end = t0 + seconds * 1000000ull, next_sample = 0;
    stall_from = ics_mono_ms();
    while (ics_mono_us() < end) {
        uint64_t now_us = ics_mono_us();
        unsigned due = (unsigned)((now_us - t0) / every_us) + 1;
        for (; sent < due; sent++)
            s_send(sock, sent);
        s_drain(sock, &a, 1);
        if (now_us >= next_sample) {
            next_sample = now_us + 200000;
            s_sample_t s = s_sample(&c, l);
            uint64_t now = ics_mono_ms();
            if (!s.ok)
                continue;
            if (s.commit != last_commit || s.last <= s.commit) {
                last_commit = s.commit;
                stall_from = now;
            }
            if (now - stall_from > longest)
                longest = now - stall_from;
        }
    }
    commits_under_load = last_commit - first_commit;
    /* Every submission is answered: applied, or refused while too many
     * were in flight. */
    uint64_t drain_end = ics_mono_ms() + 90000;
    while (a.applied + a.refused + a.failed < sent && ics_mono_ms() < drain_end)
        s_drain(sock, &a, 500);
    print_message("commit stall: %u submissions in %u s (one per %u us): %u applied, %u "
                  "refused as too many in flight, %u failed; %llu entries committed under "
                  "load; longest stall of the commit index %llu ms\n",
                  sent, seconds, every_us, a.applied, a.refused, a.failed,
                  (unsigned long long)commits_under_load, (unsigned long long)longest);
    zmq_close(sock);
    zmq_ctx_term(ctx);
    h_cluster_destroy(&c);

    assert_true(longest < 3000);
    assert_int_equal(a.failed, 0);
    assert_int_equal(a.applied + a.refused, sent);
    assert_true(a.applied >= sent / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(commits_keep_moving_under_steady_load),
    };
    return cmocka_run_group_tests_name("commit stall (libraft 0.15)", tests, NULL, NULL);
}
