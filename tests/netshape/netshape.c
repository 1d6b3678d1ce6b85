/*
 * netshape: a userspace link shaper for kernels without sch_netem. It binds
 * an NFQUEUE queue in the network namespace it runs in and gives each
 * packet its verdict after a delay drawn uniformly from mean-jitter to
 * mean+jitter, so that packets of one flow overtake each other (reordering)
 * as they would under `tc qdisc ... netem delay MEAN JITTER`. A percentage
 * of packets can be dropped instead. It runs until SIGTERM or SIGINT, then
 * accepts whatever it still holds and unbinds.
 *
 * The caller sends packets to it, e.g. in the namespace:
 *   iptables -A OUTPUT -o eth0 -j NFQUEUE --queue-num 7 --queue-bypass
 * (--queue-bypass: while no shaper is bound, packets pass unshaped), and
 * removes that rule again; netshape never touches the rules.
 */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

typedef struct {
    uint64_t due_ns;
    uint32_t id;
} s_held_t;

typedef struct {
    unsigned queue;
    unsigned delay_ms, jitter_ms, loss_pct;
    size_t max_held;
    uint64_t seed;
    bool verbose;
} s_opts_t;

static volatile sig_atomic_t s_stop;
static s_opts_t s_opt = {.delay_ms = 60, .jitter_ms = 40, .max_held = 65536};
static struct nfq_q_handle *s_qh;
static s_held_t *s_heap;
static size_t s_n_held, s_cap_held;
static uint64_t s_rng;
static struct {
    unsigned long long seen, delayed, dropped, passed_full, released, overtaken,
        verdict_errors, enobufs;
    size_t max_held;
    uint32_t last_id; /* the latest arrival released so far */
} s_stats;

static void s_usage(FILE *f)
{
    fprintf(f,
            "usage: netshape [--queue N] [--delay MS] [--jitter MS] [--loss PCT]\n"
            "                [--max-held N] [--seed N] [--verbose]\n"
            "\n"
            "Delays (and optionally drops) the packets that iptables sends to NFQUEUE\n"
            "queue N in this network namespace, like `tc qdisc ... netem delay MS JITTER\n"
            "loss PCT%%`: each packet's verdict (accept) comes after a delay drawn\n"
            "uniformly from MS-JITTER to MS+JITTER, so packets reorder. Runs until SIGTERM\n"
            "or SIGINT, then accepts every packet it still holds and prints its counts.\n"
            "\n"
            "  -q, --queue N      NFQUEUE queue number to bind (default 0)\n"
            "  -d, --delay MS     mean delay in milliseconds (default 60)\n"
            "  -j, --jitter MS    delay varies by up to this much either way (default 40)\n"
            "  -l, --loss PCT     drop this percentage of packets (0-100, default 0)\n"
            "  -m, --max-held N   packets held at once; beyond, accepted at once\n"
            "                     (default 65536)\n"
            "  -s, --seed N       seed of the delay and loss draws (default: time and pid)\n"
            "  -v, --verbose      print the counts every second\n"
            "  -h, --help         this text\n"
            "\n"
            "Send packets to it with, e.g., in the same namespace:\n"
            "  iptables -A OUTPUT -o eth0 -j NFQUEUE --queue-num N --queue-bypass\n"
            "and delete that rule when done (netshape does not touch rules). With\n"
            "--queue-bypass, packets pass unshaped while no netshape is bound.\n");
}

static bool s_parse_uint(const char *what, const char *text, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v > max) {
        fprintf(stderr, "netshape: %s: '%s' is not a whole number from 0 to %lu\n", what, text,
                max);
        return false;
    }
    *out = v;
    return true;
}

static uint64_t s_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t s_rand(void)
{
    /* xorshift64*: fast and good enough for delay draws */
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return s_rng * 0x2545F4914F6CDD1Dull;
}

/* ------------------------------------------------ held packets: a min-heap */

static void s_heap_push(s_held_t h)
{
    size_t i = s_n_held++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (s_heap[parent].due_ns <= h.due_ns)
            break;
        s_heap[i] = s_heap[parent];
        i = parent;
    }
    s_heap[i] = h;
}

static s_held_t s_heap_pop(void)
{
    s_held_t top = s_heap[0], last = s_heap[--s_n_held];
    size_t i = 0;
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= s_n_held)
            break;
        if (k + 1 < s_n_held && s_heap[k + 1].due_ns < s_heap[k].due_ns)
            k++;
        if (last.due_ns <= s_heap[k].due_ns)
            break;
        s_heap[i] = s_heap[k];
        i = k;
    }
    if (s_n_held > 0)
        s_heap[i] = last;
    return top;
}

static bool s_hold(uint32_t id, uint64_t due_ns)
{
    if (s_n_held == s_cap_held) {
        size_t cap = s_cap_held ? s_cap_held * 2 : 1024;
        if (cap > s_opt.max_held)
            cap = s_opt.max_held;
        if (cap <= s_n_held)
            return false;
        s_held_t *more = realloc(s_heap, cap * sizeof *more);
        if (more == NULL)
            return false;
        s_heap = more;
        s_cap_held = cap;
    }
    s_heap_push((s_held_t){.due_ns = due_ns, .id = id});
    if (s_n_held > s_stats.max_held)
        s_stats.max_held = s_n_held;
    return true;
}

static void s_verdict(uint32_t id, uint32_t verdict)
{
    /* ENOENT: the kernel no longer holds it (e.g. its device went away). */
    if (nfq_set_verdict(s_qh, id, verdict, 0, NULL) < 0)
        s_stats.verdict_errors++;
}

/* Accepts every held packet due by now_ns (all of them if now_ns is max). */
static void s_release(uint64_t now_ns)
{
    while (s_n_held > 0 && s_heap[0].due_ns <= now_ns) {
        s_held_t h = s_heap_pop();
        s_verdict(h.id, NF_ACCEPT);
        /* Ids grow with arrival: a lower one than already released was
         * overtaken by a later packet, i.e. reordered. */
        if (s_stats.released > 0 && (int32_t)(h.id - s_stats.last_id) < 0)
            s_stats.overtaken++;
        else
            s_stats.last_id = h.id;
        s_stats.released++;
    }
}

/* ------------------------------------------------ the queue */

static int s_on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
                       void *data)
{
    (void)qh;
    (void)msg;
    (void)data;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    if (ph == NULL)
        return 0;
    uint32_t id = ntohl(ph->packet_id);
    s_stats.seen++;
    if (s_opt.loss_pct > 0 && s_rand() % 100 < s_opt.loss_pct) {
        s_verdict(id, NF_DROP);
        s_stats.dropped++;
        return 0;
    }
    int64_t d_us = (int64_t)s_opt.delay_ms * 1000;
    if (s_opt.jitter_ms > 0) {
        uint64_t span = (uint64_t)s_opt.jitter_ms * 2000 + 1;
        d_us += (int64_t)(s_rand() % span) - (int64_t)s_opt.jitter_ms * 1000;
    }
    if (d_us <= 0 || !s_hold(id, s_now_ns() + (uint64_t)d_us * 1000)) {
        if (d_us > 0)
            s_stats.passed_full++;
        s_verdict(id, NF_ACCEPT);
        return 0;
    }
    s_stats.delayed++;
    return 0;
}

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void s_print_stats(const char *when)
{
    fprintf(stderr,
            "netshape: queue %u %s: %llu packets, %llu delayed (%llu of them overtaken by a "
            "later one), %llu dropped, %llu passed undelayed (held list full); %zu held now, "
            "%zu at most; %llu verdict errors, %llu receive overruns\n",
            s_opt.queue, when, s_stats.seen, s_stats.delayed, s_stats.overtaken,
            s_stats.dropped, s_stats.passed_full, s_n_held, s_stats.max_held,
            s_stats.verdict_errors, s_stats.enobufs);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"queue", required_argument, NULL, 'q'},  {"delay", required_argument, NULL, 'd'},
        {"jitter", required_argument, NULL, 'j'}, {"loss", required_argument, NULL, 'l'},
        {"max-held", required_argument, NULL, 'm'}, {"seed", required_argument, NULL, 's'},
        {"verbose", no_argument, NULL, 'v'},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool seeded = false;
    int ch;
    unsigned long v;

    while ((ch = getopt_long(argc, argv, "q:d:j:l:m:s:vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'q':
            if (!s_parse_uint("--queue", optarg, 65535, &v))
                return 2;
            s_opt.queue = (unsigned)v;
            break;
        case 'd':
            if (!s_parse_uint("--delay", optarg, 60000, &v))
                return 2;
            s_opt.delay_ms = (unsigned)v;
            break;
        case 'j':
            if (!s_parse_uint("--jitter", optarg, 60000, &v))
                return 2;
            s_opt.jitter_ms = (unsigned)v;
            break;
        case 'l':
            if (!s_parse_uint("--loss", optarg, 100, &v))
                return 2;
            s_opt.loss_pct = (unsigned)v;
            break;
        case 'm':
            if (!s_parse_uint("--max-held", optarg, 1000000, &v))
                return 2;
            if (v == 0) {
                fprintf(stderr, "netshape: --max-held must be at least 1\n");
                return 2;
            }
            s_opt.max_held = v;
            break;
        case 's':
            if (!s_parse_uint("--seed", optarg, ULONG_MAX, &v))
                return 2;
            s_opt.seed = v;
            seeded = true;
            break;
        case 'v':
            s_opt.verbose = true;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "netshape: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    s_rng = seeded ? s_opt.seed : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    if (s_rng == 0)
        s_rng = 0x9E3779B97F4A7C15ull;

    /* SIGTERM and SIGINT are taken only inside ppoll: no lost wake-up. */
    sigset_t block, during;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &during);
    sigdelset(&during, SIGTERM);
    sigdelset(&during, SIGINT);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    struct nfq_handle *h = nfq_open();
    if (h == NULL) {
        fprintf(stderr, "netshape: cannot open an nfnetlink socket: %s (needs root, or "
                        "CAP_NET_ADMIN, and the kernel's nfnetlink_queue)\n", strerror(errno));
        return 1;
    }
    s_qh = nfq_create_queue(h, (uint16_t)s_opt.queue, s_on_packet, NULL);
    if (s_qh == NULL) {
        fprintf(stderr, "netshape: cannot bind NFQUEUE queue %u: %s (another program bound "
                        "to it, or no nfnetlink_queue in this kernel?)\n", s_opt.queue,
                strerror(errno));
        nfq_close(h);
        return 1;
    }
    /* Only the packet's id and headers are needed, not its payload. */
    if (nfq_set_mode(s_qh, NFQNL_COPY_META, 0) < 0) {
        fprintf(stderr, "netshape: queue %u: cannot set metadata-only copy mode: %s\n",
                s_opt.queue, strerror(errno));
        nfq_destroy_queue(s_qh);
        nfq_close(h);
        return 1;
    }
    /* The kernel holds the packets meanwhile: room for all of them. A
     * full queue lets packets through (fail-open), undelayed. */
    uint32_t maxlen = s_opt.max_held > 100000 ? 100000 : (uint32_t)s_opt.max_held;
    if (nfq_set_queue_maxlen(s_qh, maxlen) < 0)
        fprintf(stderr, "netshape: queue %u: cannot set its length to %u: %s (kernel "
                        "default kept)\n", s_opt.queue, maxlen, strerror(errno));
    if (nfq_set_queue_flags(s_qh, NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO,
                            NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO) < 0)
        fprintf(stderr, "netshape: queue %u: cannot set fail-open: %s\n", s_opt.queue,
                strerror(errno));
    int fd = nfq_fd(h);
    nfnl_rcvbufsiz(nfq_nfnlh(h), 8u << 20);
    int one = 1;
    setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
    fprintf(stderr, "netshape: bound queue %u: delay %u ms ± %u ms, loss %u%%\n", s_opt.queue,
            s_opt.delay_ms, s_opt.jitter_ms, s_opt.loss_pct);

    static char buf[65536] __attribute__((aligned));
    uint64_t next_report = s_now_ns() + 1000000000ull;
    int rc = 0;
    while (!s_stop) {
        uint64_t now = s_now_ns();
        s_release(now);
        if (s_opt.verbose && now >= next_report) {
            s_print_stats("so far");
            next_report = now + 1000000000ull;
        }
        struct timespec ts = {.tv_sec = 1, .tv_nsec = 0};
        if (s_n_held > 0) {
            uint64_t wait = s_heap[0].due_ns > now ? s_heap[0].due_ns - now : 0;
            if (wait < 1000000000ull) {
                ts.tv_sec = 0;
                ts.tv_nsec = (long)wait;
            }
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int n = ppoll(&pfd, 1, &ts, &during);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "netshape: poll: %s\n", strerror(errno));
            rc = 1;
            break;
        }
        if (n == 0)
            continue;
        for (;;) {
            ssize_t len = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (len < 0) {
                if (errno == ENOBUFS) {
                    s_stats.enobufs++;
                    continue;
                }
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                    fprintf(stderr, "netshape: receiving from queue %u: %s\n", s_opt.queue,
                            strerror(errno));
                    rc = 1;
                }
                break;
            }
            nfq_handle_packet(h, buf, (int)len);
        }
        if (rc != 0)
            break;
    }
    /* Whatever is still held goes on its way now, not dropped. */
    s_release(UINT64_MAX);
    s_print_stats(s_stop ? "stopped" : "failed");
    nfq_destroy_queue(s_qh);
    nfq_close(h);
    free(s_heap);
    return rc;
}
