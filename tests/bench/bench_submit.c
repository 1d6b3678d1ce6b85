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
 *              [--samples FILE]
 *
 * Closed loop (the default): each client is a control connection of its
 * own to one node, submitting signed entries one after another; a
 * submission counts when the node reports it applied (so followers'
 * submissions include the forward to the leader). Prints throughput and
 * p50/p90/p99/max latency. This is a benchmark, not a test: it asserts
 * nothing about speed.
 *
 * The clients are not threads: one thread drives every connection from
 * one epoll set, as a node's partners' many users would look to it, and
 * so that a thousand clients cost the machine little beside the nodes
 * they measure (a thread each cost about a third of a core of the two
 * here at 1,000 clients).
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
 * --samples FILE writes one line per committed submission: when it was
 * due (or started) since the run began, its latency, both in ms, and the
 * control endpoint it went through; a tail is read off it by when it
 * happened (a stall every few seconds, say, or one long one).
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

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <zmq.h>

#include "common/envelope.h"

#define MAX_CLIENTS 1024u
#define SUBMIT_TIMEOUT_MS 10000u /* asked of the node */
#define ANSWER_WAIT_MS 15000u    /* then the connection is given up and opened anew */
#define TIMER_KEY UINT32_MAX     /* the open loop's timer in the epoll set */

/* One client: a control connection with at most one submission in flight. */
typedef struct {
    const char *endpoint;
    void *sock;
    int fd;           /* its ZMQ_FD, in the run's epoll set */
    bool busy;
    uint64_t due_us;  /* latency counts from here */
    uint64_t sent_us;
} client_t;

/* The run: every client, driven from one thread. */
static struct {
    client_t *clients;
    unsigned n;
    unsigned *idle;   /* a stack of the clients with nothing in flight */
    unsigned n_idle;
    unsigned busy;
    int epfd, timerfd;
    const char *group;
    const char *data;
    size_t payload;
    uint64_t end_us;   /* monotonic: no submission starts after it; 0 for none */
    double rate;       /* open loop: submissions due per second; 0: closed */
    uint64_t slot;     /* open loop: the next submission due */
    uint64_t target;   /* a run towards a position; 0: a timed run */
    uint64_t position; /* highest audit position any answer named */
    bool stop;         /* start nothing more; the run ends when none is busy */
    uint64_t *lat_us;  /* latency of each committed submission */
    uint64_t *done_us; /* when it committed, since the start of the run */
    size_t n_done, cap;
    unsigned errors;
    unsigned late;     /* open loop: due when no client was free */
    uint64_t short_slot; /* open loop: 1 + the slot that found none free */
    char first_error[256];
    FILE *samples;     /* --samples: a line per committed submission, or NULL */
} s_run;
static uint64_t s_t0;
static void *s_ctx; /* one ZeroMQ context for every client */

/* 1: submit; 0: the target is reached; -1: wait, the submissions in
 * flight may reach it (one that fails frees its slot). */
static int s_claim(void)
{
    if (s_run.target == 0)
        return 1;
    if (s_run.position >= s_run.target)
        return 0;
    return s_run.position + s_run.busy >= s_run.target ? -1 : 1;
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

/* A fresh client token: random for the run, then counted (a system call
 * for each would show in the figures on this guest). */
static void s_token(uint8_t token[16])
{
    static uint8_t base[16];
    static uint64_t count;
    if (count++ == 0)
        randombytes_buf(base, sizeof base);
    memcpy(token, base, 16);
    for (unsigned k = 0; k < 8; k++)
        token[8 + k] ^= (uint8_t)(count >> (8 * k));
}

/* Sends one raw submission on sock under the client token given. */
static void s_send(void *sock, const char *group, const char *data, size_t len,
                   const uint8_t token[16], unsigned timeout_ms)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__SubmitRequest sub = ICS__V1__SUBMIT_REQUEST__INIT;
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Raw raw = ICS__V1__RAW__INIT;
    uint8_t *cbuf = NULL, *rbuf = NULL;
    size_t clen = 0, rlen = 0;

    raw.data.data = (uint8_t *)data;
    raw.data.len = len;
    cmd.body_case = ICS__V1__COMMAND__BODY_RAW;
    cmd.raw = &raw;
    ics_pack(&cmd.base, &cbuf, &clen);
    sub.command.data = cbuf;
    sub.command.len = clen;
    sub.client_token.data = (uint8_t *)token;
    sub.client_token.len = 16;
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
}

/* What the answer in msg says; the first failure of the run is kept to
 * be shown. */
static s_outcome_t s_answer(zmq_msg_t *msg, uint64_t *position)
{
    Ics__V1__ControlResponse *resp =
        ics__v1__control_response__unpack(NULL, zmq_msg_size(msg), zmq_msg_data(msg));
    bool ok = resp != NULL && resp->code == 0 && resp->submit != NULL && resp->submit->accepted;

    if (ok)
        *position = resp->submit->position;
    else if (s_run.first_error[0] == '\0')
        snprintf(s_run.first_error, sizeof s_run.first_error, "%s",
                 resp == NULL ? "an answer that does not decode"
                 : resp->code != 0 ? resp->error
                 : resp->submit != NULL ? resp->submit->reason : "no submit reply");
    if (resp != NULL)
        ics__v1__control_response__free_unpacked(resp, NULL);
    return ok ? SUB_OK : SUB_FAILED;
}

/* One submission on sock, waiting up to ANSWER_WAIT_MS for the answer. */
static s_outcome_t s_submit(void *sock, const char *group, const char *data, size_t len,
                            const uint8_t token[16], uint64_t *position)
{
    s_outcome_t out = SUB_NO_ANSWER;
    zmq_msg_t msg;

    s_send(sock, group, data, len, token, SUBMIT_TIMEOUT_MS);
    zmq_msg_init(&msg);
    for (;;) {
        zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, (long)ANSWER_WAIT_MS) <= 0 || zmq_msg_recv(&msg, sock, 0) < 0)
            break;
        if (zmq_msg_size(&msg) == 0 && zmq_msg_more(&msg))
            continue;
        out = s_answer(&msg, position);
        break;
    }
    zmq_msg_close(&msg);
    return out;
}

static void s_record(uint64_t lat_us)
{
    if (s_run.n_done == s_run.cap) {
        s_run.cap = s_run.cap ? s_run.cap * 2 : 65536;
        s_run.lat_us = realloc(s_run.lat_us, s_run.cap * sizeof *s_run.lat_us);
        s_run.done_us = realloc(s_run.done_us, s_run.cap * sizeof *s_run.done_us);
    }
    s_run.lat_us[s_run.n_done] = lat_us;
    s_run.done_us[s_run.n_done++] = ics_mono_us() - s_t0;
}

/* Opens client i's connection and adds it to the epoll set. */
static void s_connect(unsigned i)
{
    client_t *c = &s_run.clients[i];
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
    size_t len = sizeof c->fd;

    c->sock = s_open(c->endpoint);
    if (c->sock == NULL || zmq_getsockopt(c->sock, ZMQ_FD, &c->fd, &len) != 0 ||
        epoll_ctl(s_run.epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        fprintf(stderr, "icsd-bench: cannot open a connection to %s: %s\n", c->endpoint,
                zmq_strerror(errno));
        exit(1);
    }
}

/* Client i's submission has ended: it committed at position, failed, or
 * had no answer in time. */
static void s_finish(unsigned i, s_outcome_t out, uint64_t position)
{
    client_t *c = &s_run.clients[i];

    c->busy = false;
    s_run.busy--;
    s_run.idle[s_run.n_idle++] = i;
    if (position > s_run.position)
        s_run.position = position;
    if (out == SUB_OK) {
        uint64_t lat = ics_mono_us() - c->due_us;
        s_record(lat);
        if (s_run.samples != NULL)
            fprintf(s_run.samples, "%.3f %.3f %s\n", (double)(c->due_us - s_t0) / 1e3,
                    (double)lat / 1e3, c->endpoint);
        return;
    }
    s_run.errors++;
    if (out == SUB_NO_ANSWER) {
        /* A late answer must not be taken for the next request's. */
        epoll_ctl(s_run.epfd, EPOLL_CTL_DEL, c->fd, NULL);
        zmq_close(c->sock);
        s_connect(i);
    }
}

/* Takes every answer client i has waiting. ZMQ_FD only says that the
 * socket's state may have changed, and a call on the socket may take that
 * signal, so this runs until ZMQ_EVENTS says nothing is left. Each
 * ZMQ_EVENTS costs system calls (libzmq looks at the socket's mailbox), so
 * an answer's frames are taken together. */
static void s_drain(unsigned i)
{
    client_t *c = &s_run.clients[i];

    for (;;) {
        int events = 0;
        size_t len = sizeof events;
        if (zmq_getsockopt(c->sock, ZMQ_EVENTS, &events, &len) != 0 || !(events & ZMQ_POLLIN))
            return;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        while (zmq_msg_recv(&msg, c->sock, ZMQ_DONTWAIT) >= 0) {
            if (zmq_msg_more(&msg))
                continue; /* the empty delimiter */
            if (c->busy) {
                uint64_t position = 0;
                s_outcome_t out = s_answer(&msg, &position);
                s_finish(i, out, position);
            }
            break;
        }
        zmq_msg_close(&msg);
    }
}

/* Starts a submission on an idle client; latency counts from due. */
static void s_start(uint64_t due)
{
    unsigned i = s_run.idle[--s_run.n_idle];
    client_t *c = &s_run.clients[i];
    uint8_t token[16];

    c->busy = true;
    c->due_us = due;
    c->sent_us = ics_mono_us();
    s_run.busy++;
    s_token(token);
    s_send(c->sock, s_run.group, s_run.data, s_run.payload, token, SUBMIT_TIMEOUT_MS);
    /* No s_drain here: nothing can be waiting, as this client's last
     * answer was taken to the end and a client without one was given a
     * new connection. */
}

static uint64_t s_due(uint64_t slot)
{
    return s_t0 + (uint64_t)((double)slot * 1e6 / s_run.rate);
}

/* Starts what is due: in the open loop the submissions whose time has
 * come, as far as idle clients go; in the closed loop one on every idle
 * client. Returns false when it holds back only to let the submissions
 * in flight reach the target. */
static bool s_start_due(void)
{
    uint64_t now = ics_mono_us();

    while (!s_run.stop && s_run.n_idle > 0) {
        if (s_run.rate > 0) {
            uint64_t due = s_due(s_run.slot);
            if (s_run.end_us != 0 && due >= s_run.end_us) {
                s_run.stop = true;
                break;
            }
            if (due > now)
                break;
            if (s_run.short_slot == s_run.slot + 1)
                s_run.late++;
            s_run.slot++;
            s_start(due);
        } else {
            int claim = s_claim();
            if (claim < 0)
                return false;
            if (claim == 0 || (s_run.end_us != 0 && now >= s_run.end_us)) {
                s_run.stop = true;
                break;
            }
            s_start(now);
        }
        now = ics_mono_us();
    }
    if (s_run.rate > 0 && !s_run.stop && s_run.n_idle == 0 && s_due(s_run.slot) <= now)
        s_run.short_slot = s_run.slot + 1;
    return true;
}

/* Open loop: the timer wakes the loop when the next submission is due
 * (disarmed while no client is free); set only when that time changes. */
static void s_arm_timer(void)
{
    static uint64_t armed; /* 0: disarmed */
    struct itimerspec its = {0};
    uint64_t due = !s_run.stop && s_run.n_idle > 0 ? s_due(s_run.slot) : 0;

    if (s_run.rate <= 0 || due == armed)
        return;
    armed = due;
    its.it_value.tv_sec = (time_t)(due / 1000000);
    its.it_value.tv_nsec = (long)(due % 1000000) * 1000L;
    timerfd_settime(s_run.timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Every client whose answer is overdue is given up and reconnected. */
static void s_expire(uint64_t now)
{
    for (unsigned i = 0; i < s_run.n; i++)
        if (s_run.clients[i].busy && now - s_run.clients[i].sent_us > ANSWER_WAIT_MS * 1000ull)
            s_finish(i, SUB_NO_ANSWER, 0);
}

/* Runs the clients until the time is up, the target is reached or the
 * run stalls, and every submission in flight has its answer. Towards a
 * target it shows progress every 10 s and gives up (status 1) when no
 * submission has committed for `stall` seconds. */
static int s_loop(uint64_t start_pos, unsigned long long stall)
{
    uint64_t last = start_pos, shown = start_pos, now = ics_mono_us();
    uint64_t last_us = now, shown_us = now, checked_us = now;
    int status = 0;

    for (;;) {
        struct epoll_event evs[64];
        bool holding = !s_start_due();
        if (s_run.stop && s_run.busy == 0)
            break;
        s_arm_timer();
        int n = epoll_wait(s_run.epfd, evs, 64, holding ? 2 : 100);
        for (int k = 0; k < n; k++) {
            if (evs[k].data.u32 == TIMER_KEY) {
                uint64_t ticks;
                if (read(s_run.timerfd, &ticks, sizeof ticks) < 0)
                    continue;
            } else {
                s_drain(evs[k].data.u32);
            }
        }
        now = ics_mono_us();
        if (now - checked_us < 200000)
            continue;
        checked_us = now;
        s_expire(now);
        if (s_run.target == 0)
            continue;
        if (s_run.position != last) {
            last = s_run.position;
            last_us = now;
        } else if (now - last_us > stall * 1000000 && status == 0) {
            fprintf(stderr, "icsd-bench: no progress for %llu s at position %llu; giving up\n",
                    stall, (unsigned long long)last);
            s_run.stop = true;
            status = 1;
        }
        if (now - shown_us >= 10000000) {
            fprintf(stderr, "icsd-bench: position %llu of %llu, %.0f/s\n",
                    (unsigned long long)last, (unsigned long long)s_run.target,
                    (last - shown) * 1e6 / (now - shown_us));
            shown = last;
            shown_us = now;
        }
    }
    return status;
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
               "                  [--snapshot N] [--verify-threads N] [--samples FILE]\n");
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
        uint8_t token[16];
        /* Warm the path through this follower, then let the group go idle. */
        s_token(token);
        if (s_submit(sock, group, data, payload, token, &pos) != SUB_OK) {
            fprintf(stderr, "icsd-bench: round %u: submission before the kill failed\n", r + 1);
            zmq_close(sock);
            status = 1;
            break;
        }
        h_sleep_ms(1500);
        s_token(token); /* the same for every try until it commits */
        uint64_t t0 = ics_mono_us(), t1 = 0;
        h_kill(cl, leader);
        while (ics_mono_us() - t0 < 60000000ull) {
            s_outcome_t out = s_submit(sock, group, data, payload, token, &pos);
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
        "--verify-threads", "--samples"};
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
    const char *samples = s_sarg(argc, argv, "--samples", NULL);
    static h_cluster_t cluster;
    char *eps[H_MAX_NODES], *targets[H_MAX_NODES], *eplist = NULL;
    unsigned n_targets = 0;
    char *data = NULL;
    uint64_t start_pos = 0, pos = 0, commit = 0;
    int status = 0;

    s_run.epfd = s_run.timerfd = -1;
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
    if (samples != NULL && (s_run.samples = fopen(samples, "w")) == NULL) {
        fprintf(stderr, "icsd-bench: --samples %s: %s\n", samples, strerror(errno));
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
    s_run.rate = rate;
    s_run.group = group;
    s_run.payload = payload;
    s_run.n = (unsigned)clients;
    s_run.clients = calloc(clients, sizeof *s_run.clients);
    s_run.idle = calloc(clients, sizeof *s_run.idle);
    s_run.epfd = epoll_create1(EPOLL_CLOEXEC);
    s_run.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    struct epoll_event tev = {.events = EPOLLIN, .data.u32 = TIMER_KEY};
    if (s_run.clients == NULL || s_run.idle == NULL || s_run.epfd < 0 || s_run.timerfd < 0 ||
        epoll_ctl(s_run.epfd, EPOLL_CTL_ADD, s_run.timerfd, &tev) != 0) {
        fprintf(stderr, "icsd-bench: cannot set up the clients: %s\n", strerror(errno));
        status = 1;
        goto out;
    }
    data = malloc(payload + 1);
    memset(data, 'x', payload);
    data[payload] = '\0';
    s_run.data = data;
    for (unsigned i = 0; i < clients; i++) {
        s_run.clients[i].endpoint = targets[i % n_targets];
        s_connect(i);
        s_run.idle[s_run.n_idle++] = (unsigned)clients - 1 - i;
    }
    double cpu0 = s_cluster_cpu_ms(&cluster, control == NULL ? (unsigned)nodes : 0);
    s_t0 = ics_mono_us() + (rate > 0 ? 100000 : 0); /* open loop: let the pool connect */
    s_run.end_us = seconds ? s_t0 + seconds * 1000000ull : 0;
    status = s_loop(start_pos, stall);
    double elapsed = (ics_mono_us() - s_t0) / 1e6;
    double cpu = s_cluster_cpu_ms(&cluster, control == NULL ? (unsigned)nodes : 0) - cpu0;
    size_t total = s_run.n_done;
    unsigned errors = s_run.errors;
    uint64_t *all = s_run.lat_us, *done = s_run.done_us; /* done: in order already */
    qsort(all, total, sizeof *all, s_cmp);
#define PCT(p) (total ? all[(total - 1) * (p) / 100] / 1000.0 : 0.0)
    if (target == 0) {
        printf("icsd-bench: %llu nodes, %llu clients via %s, %llu s, %llu-byte payloads\n",
               nodes, clients, via, seconds, payload);
        if (rate > 0)
            printf("  offered    %.1f submissions/s (open loop; %u started late for want of a "
                   "free client)\n", rate, s_run.late);
        printf("  committed  %zu submissions (%u failed or timed out)\n", total, errors);
        if (s_run.first_error[0] != '\0')
            printf("  first failure: %s\n", s_run.first_error);
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
        if (s_run.position > pos)
            pos = s_run.position;
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
out:
    for (unsigned i = 0; i < s_run.n; i++)
        if (s_run.clients[i].sock != NULL)
            zmq_close(s_run.clients[i].sock);
    free(s_run.clients);
    free(s_run.idle);
    free(s_run.lat_us);
    free(s_run.done_us);
    free(data);
    if (s_run.epfd >= 0)
        close(s_run.epfd);
    if (s_run.timerfd >= 0)
        close(s_run.timerfd);
    if (control == NULL) {
        for (unsigned i = 0; i < nodes; i++)
            h_stop(&cluster, (int)i);
        h_cluster_destroy(&cluster);
    }
    zmq_ctx_term(s_ctx);
    free(eplist);
    if (s_run.samples != NULL && (ferror(s_run.samples) | fclose(s_run.samples)) != 0) {
        fprintf(stderr, "icsd-bench: --samples %s: could not write it all\n", samples);
        status = 1;
    }
    return status;
}
