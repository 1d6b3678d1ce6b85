/*
 * Network partitions between real daemons. Each of five nodes runs in its
 * own network namespace, wired by a veth pair to a bridge in a hub
 * namespace (10.77.0.0/24, reachable from nowhere else, so it cannot clash
 * with the host's networks or with a parallel run). Faults are nftables
 * rules in the receiving node's namespace (a silent black hole, as a real
 * partition is), links taken down, and random loss. Delay and reordering
 * (60±40 ms on every node's eth0) are the kernel's sch_netem where it has
 * it; else netshape (tests/netshape), which an iptables NFQUEUE rule in
 * each node's namespace hands every outgoing packet to and which lets each
 * go after a random delay, so packets overtake each other; without either
 * that phase is skipped, saying so.
 *
 * While clients submit concurrently to every node (raw entries, and
 * mutual-aid requests, offers and racing acceptances), the schedule cuts
 * the group into minority and majority, makes links one-way, isolates the
 * leader, flaps a node's links and drops packets at random. After each
 * heal every node must catch up with what any node had; at the end:
 *
 *   - every node's log is identical entry by entry (entry id and chain);
 *   - every acknowledged submission is in it exactly once, at the position
 *     it was acknowledged at, with the verdict (and reason) it was
 *     acknowledged with; nothing, acknowledged or not, is in it twice;
 *   - no offer is accepted more than once or beyond its quantity, and no
 *     request has more agreed than it asked for, on any node.
 *
 * Namespace names carry this process's pid (icspart<pid>-...); stale ones
 * of dead runs are deleted at start, and ours on every exit path (teardown,
 * exit, the usual signals), with the netshape processes in them. Needs
 * root and `ip netns`; skips otherwise.
 *
 * ICS_PARTITION_SECONDS runs random schedules for that long instead of the
 * fixed one (deploy/partition-soak.sh); ICS_PARTITION_SEED picks them;
 * ICS_PARTITION_SNAPSHOT=N snapshots every N entries (icsd's default is
 * 1024), so that nodes back from a cut install snapshots.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/envelope.h"

#define U(x) ((unsigned long long)(x))
#define N 5
#define N_RAW_CLIENTS 4
#define MAX_PER_CLIENT 100000 /* raw submissions per client: hours of soak */
#define SHAPER_QUEUE "77"     /* netshape's NFQUEUE queue in each node's namespace */
#define SHAPER_RULE "OUTPUT -o eth0 -j NFQUEUE --queue-num " SHAPER_QUEUE " --queue-bypass"

#ifdef NETSHAPE_BIN
static const char *const s_netshape_bin = NETSHAPE_BIN;
#else
static const char *const s_netshape_bin = NULL; /* not built: no libnetfilter-queue */
#endif

static const char *const ORGS[N] = {"QHM", "RTD", "RTF", "RX4", "RX6"};
static const char *const KINDS[N] = {"icb", "foundation_trust", "foundation_trust",
                                     "mental_health", "ambulance"};
enum { P_QHM, P_RTD, P_RTF, P_RX4, P_RX6 };

/* ---------------------------------------------------------------- network */

typedef struct {
    char prefix[32]; /* icspart<pid> */
    char hub[64];
    char ns[N][64];
    char addr[N][16];
    const char *addrs[N];
    bool blocked[N][N]; /* [i][j]: what i sends never reaches j */
    bool link_down[N];
    unsigned loss_pct[N]; /* of what reaches j */
    bool netem;           /* the kernel has sch_netem */
    bool shaper;          /* no netem, but netshape and NFQUEUE work */
    char no_shaper[700];  /* else why not */
    bool delay_on;
    pid_t shaper_pid[N];  /* netshape in node i's namespace, or 0 */
    char shaper_log[N][320];
    long shaper_log_from[N]; /* where the running shaper's output starts */
    uint64_t shaper_seed;
    char rules[300];      /* scratch file for nft */
    bool made;
} s_net_t;

static s_net_t s_net;
static h_cluster_t *s_cluster;

static void s_net_destroy(void)
{
    if (!s_net.made)
        return;
    s_net.made = false;
    /* The shapers and daemons first, so nothing keeps a namespace alive. */
    for (int i = 0; i < N; i++)
        if (s_net.shaper_pid[i] > 0) {
            kill(s_net.shaper_pid[i], SIGKILL);
            waitpid(s_net.shaper_pid[i], NULL, 0);
            s_net.shaper_pid[i] = 0;
        }
    if (s_cluster != NULL)
        for (int i = 0; i < s_cluster->n; i++)
            if (s_cluster->nodes[i].pid > 0)
                kill(s_cluster->nodes[i].pid, SIGKILL);
    for (int i = 0; i < N; i++)
        h_sh("ip netns del '%s' 2>/dev/null", s_net.ns[i]);
    h_sh("ip netns del '%s' 2>/dev/null", s_net.hub);
}

static void s_on_signal(int sig)
{
    char dir[sizeof s_cluster->dir] = "";
    if (s_cluster != NULL && getenv("ICS_TEST_KEEP") == NULL)
        memcpy(dir, s_cluster->dir, sizeof dir);
    s_net_destroy();
    if (dir[0] != '\0')
        h_sh("rm -rf '%s'", dir);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The overall deadline: whatever hangs, the run ends, cleaned up. */
static void s_on_deadline(int sig)
{
    static const char msg[] = "cluster_partition: DEADLINE passed, giving up\n";
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0)
        _exit(1);
    s_on_signal(sig);
}

/* Namespaces icspart<pid>-* whose pid is gone: a run killed outright. */
static void s_delete_stale(void)
{
    FILE *p = popen("ip netns list 2>/dev/null", "r");
    char line[256];
    if (p == NULL)
        return;
    while (fgets(line, sizeof line, p) != NULL) {
        char name[128];
        int pid;
        if (sscanf(line, "%127s", name) != 1 || sscanf(name, "icspart%d-", &pid) != 1)
            continue;
        if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH) {
            print_message("deleting stale namespace %s (pid %d is gone)\n", name, pid);
            h_sh("ip netns del '%s' 2>/dev/null", name);
        }
    }
    pclose(p);
}

/* Why this machine cannot run the test, or NULL. */
static const char *s_cannot_run(void)
{
    if (geteuid() != 0)
        return "needs root (network namespaces)";
    if (h_sh("ip netns list >/dev/null 2>&1") != 0)
        return "`ip netns` is not available (Debian package iproute2)";
    if (h_sh("nft --version >/dev/null 2>&1") != 0)
        return "`nft` is not available (Debian package nftables; deploy/deps.sh installs it)";
    /* Root in a container may still be refused a namespace or nf_tables. */
    int pid = (int)getpid();
    int rc = h_sh("ip netns add icspart%d-probe 2>/dev/null && "
                  "ip netns exec icspart%d-probe nft add table inet icspart 2>/dev/null",
                  pid, pid);
    h_sh("ip netns del icspart%d-probe 2>/dev/null", pid);
    if (rc != 0)
        return "cannot make a network namespace with an nftables table here";
    return NULL;
}

/* ---------------------------------------------------------------- netshape */

/* Starts netshape in node i's namespace (it dies with this process) and
 * waits until it has bound the queue there. Returns its pid, or 0 with
 * why filled in. */
static pid_t s_shaper_spawn(int i, char *why, size_t size)
{
    char seed[24], path[64], line[256];
    struct stat sb;

    snprintf(seed, sizeof seed, "%llu", U(s_net.shaper_seed + (uint64_t)i));
    s_net.shaper_log_from[i] = stat(s_net.shaper_log[i], &sb) == 0 ? (long)sb.st_size : 0;
    pid_t pid = h_spawn_netns(s_net.ns[i], s_net.shaper_log[i],
                              (const char *const[]){s_netshape_bin, "--queue", SHAPER_QUEUE,
                                                    "--delay", "60", "--jitter", "40", "--seed",
                                                    seed, NULL});
    /* Bound once it runs as netshape (so in the namespace, whose
     * /proc/PID/net it then shows) and the queue has a listener there. */
    for (int t = 0; t < 200; t++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            snprintf(why, size, "netshape exited at start (status %d; see %s)", status,
                     s_net.shaper_log[i]);
            return 0;
        }
        char exe[600] = "", link[64];
        snprintf(link, sizeof link, "/proc/%d/exe", (int)pid);
        ssize_t n = readlink(link, exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        const char *base = strrchr(exe, '/');
        if (base != NULL && strcmp(base, "/netshape") == 0) {
            snprintf(path, sizeof path, "/proc/%d/net/netfilter/nfnetlink_queue", (int)pid);
            FILE *f = fopen(path, "r");
            bool bound = false;
            while (f != NULL && fgets(line, sizeof line, f) != NULL) {
                unsigned q, peer;
                if (sscanf(line, "%u %u", &q, &peer) == 2 && q == (unsigned)atoi(SHAPER_QUEUE) &&
                    peer != 0)
                    bound = true;
            }
            if (f != NULL)
                fclose(f);
            if (bound)
                return pid;
        }
        h_sleep_ms(25);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    snprintf(why, size, "netshape did not bind queue %s in %s within 5 s (see %s)",
             SHAPER_QUEUE, s_net.ns[i], s_net.shaper_log[i]);
    return 0;
}

/* SIGTERM: netshape lets go what it holds and exits; returns its status
 * (0 is a clean exit), -1 if it had to be killed. */
static int s_shaper_stop(int i)
{
    pid_t pid = s_net.shaper_pid[i];
    int status = 0;
    if (pid <= 0)
        return 0;
    kill(pid, SIGTERM);
    for (int t = 0; t < 200; t++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            s_net.shaper_pid[i] = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        h_sleep_ms(25);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    s_net.shaper_pid[i] = 0;
    return -1;
}

/* The counts the last netshape started printed when it stopped. */
static void s_shaper_summary(int i, char *out, size_t size)
{
    FILE *f = fopen(s_net.shaper_log[i], "r");
    char line[512];
    snprintf(out, size, "netshape printed no counts");
    if (f != NULL && fseek(f, s_net.shaper_log_from[i], SEEK_SET) != 0) {
        fclose(f);
        f = NULL;
    }
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strstr(line, " stopped: ") != NULL) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(out, size, "%s", line);
        }
    if (f != NULL)
        fclose(f);
}

/* Can netshape delay node 0's packets here? NULL if so, else why not. */
static const char *s_shaper_probe(void)
{
    s_net_t *n = &s_net;
    if (s_netshape_bin == NULL)
        return "netshape was not built (no libnetfilter-queue; deploy/deps.sh installs "
               "libnetfilter-queue-dev)";
    if (access(s_netshape_bin, X_OK) != 0) {
        snprintf(n->no_shaper, sizeof n->no_shaper, "no netshape at %s: %s", s_netshape_bin,
                 strerror(errno));
        return n->no_shaper;
    }
    if (h_sh("ip netns exec '%s' iptables -A " SHAPER_RULE " 2>/dev/null", n->ns[0]) != 0)
        return "iptables cannot add an NFQUEUE rule in a namespace here (Debian package "
               "iptables; deploy/deps.sh installs it)";
    n->shaper_pid[0] = s_shaper_spawn(0, n->no_shaper, sizeof n->no_shaper);
    int rc = n->shaper_pid[0] > 0 ? s_shaper_stop(0) : -2;
    h_sh("ip netns exec '%s' iptables -D " SHAPER_RULE, n->ns[0]);
    if (rc == -2)
        return n->no_shaper;
    if (rc != 0) {
        snprintf(n->no_shaper, sizeof n->no_shaper, "netshape did not stop cleanly on SIGTERM "
                 "(status %d; see %.500s)", rc, n->shaper_log[0]);
        return n->no_shaper;
    }
    return NULL;
}

static void s_net_create(h_cluster_t *c)
{
    s_net_t *n = &s_net;
    snprintf(n->prefix, sizeof n->prefix, "icspart%d", (int)getpid());
    assert_true(snprintf(n->hub, sizeof n->hub, "%s-hub", n->prefix) < (int)sizeof n->hub);
    snprintf(n->rules, sizeof n->rules, "%s/rules.nft", c->dir);
    for (int i = 0; i < N; i++) {
        assert_true(snprintf(n->ns[i], sizeof n->ns[i], "%s-%s", n->prefix, c->nodes[i].org) <
                    (int)sizeof n->ns[i]);
        snprintf(n->addr[i], sizeof n->addr[i], "10.77.0.%d", 11 + i);
        n->addrs[i] = n->addr[i];
        snprintf(n->shaper_log[i], sizeof n->shaper_log[i], "%s/netshape-%s.log", c->dir,
                 c->nodes[i].org);
    }
    s_cluster = c;
    n->made = true;
    assert_int_equal(h_sh("ip netns add '%s' && ip -n '%s' link set lo up && "
                          "ip -n '%s' link add br0 type bridge && ip -n '%s' link set br0 up",
                          n->hub, n->hub, n->hub, n->hub), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(h_sh("ip netns add '%s' && ip -n '%s' link set lo up && "
                              "ip -n '%s' link add v%d type veth peer name eth0 netns '%s' && "
                              "ip -n '%s' link set v%d master br0 up && "
                              "ip -n '%s' addr add %s/24 dev eth0 && ip -n '%s' link set eth0 up",
                              n->ns[i], n->ns[i], n->hub, i, n->ns[i], n->hub, i, n->ns[i],
                              n->addr[i], n->ns[i]), 0);
        assert_int_equal(h_sh("ip netns exec '%s' nft add table inet icspart && "
                              "ip netns exec '%s' nft add chain inet icspart input "
                              "'{ type filter hook input priority 0; policy accept; }'",
                              n->ns[i], n->ns[i]), 0);
    }
    n->netem = h_sh("ip netns exec '%s' tc qdisc add dev lo root netem delay 1ms 2>/dev/null",
                    n->ns[0]) == 0;
    if (n->netem)
        h_sh("ip netns exec '%s' tc qdisc del dev lo root", n->ns[0]);
    const char *why = n->netem ? "netem is used" : s_shaper_probe();
    n->shaper = why == NULL;
    if (why != NULL && why != n->no_shaper)
        snprintf(n->no_shaper, sizeof n->no_shaper, "%s", why);
}

/* Writes every node's input rules from blocked[][] and loss_pct[]. */
static void s_net_apply(void)
{
    s_net_t *n = &s_net;
    for (int j = 0; j < N; j++) {
        FILE *f = fopen(n->rules, "w");
        assert_non_null(f);
        fprintf(f, "flush chain inet icspart input\n");
        for (int i = 0; i < N; i++)
            if (n->blocked[i][j])
                fprintf(f, "add rule inet icspart input ip saddr %s drop\n", n->addr[i]);
        if (n->loss_pct[j] > 0)
            fprintf(f, "add rule inet icspart input iifname \"eth0\" numgen random mod 100 < %u"
                       " drop\n", n->loss_pct[j]);
        fclose(f);
        assert_int_equal(h_sh("ip netns exec '%s' nft -f '%s'", n->ns[j], n->rules), 0);
    }
}

static void s_set_link(int i, bool up)
{
    if (s_net.link_down[i] == !up)
        return;
    assert_int_equal(h_sh("ip -n '%s' link set eth0 %s", s_net.ns[i], up ? "up" : "down"), 0);
    s_net.link_down[i] = !up;
}

/* netshape on every node's eth0: each started and bound, then the rules
 * that hand it the packets; off: the rules go, then the shapers (which let
 * go what they hold), each of which must exit cleanly. */
static void s_shaper(bool on)
{
    char why[700], sum[512];
    for (int i = 0; i < N; i++) {
        if (on) {
            s_net.shaper_pid[i] = s_shaper_spawn(i, why, sizeof why);
            if (s_net.shaper_pid[i] <= 0)
                fail_msg("%s: %s", s_cluster->nodes[i].org, why);
        } else {
            assert_int_equal(h_sh("ip netns exec '%s' iptables -D " SHAPER_RULE, s_net.ns[i]),
                             0);
        }
    }
    for (int i = 0; i < N; i++) {
        if (on) {
            assert_int_equal(h_sh("ip netns exec '%s' iptables -A " SHAPER_RULE, s_net.ns[i]),
                             0);
            continue;
        }
        int rc = s_shaper_stop(i);
        s_shaper_summary(i, sum, sizeof sum);
        print_message("  %s: %s\n", s_cluster->nodes[i].org, sum);
        if (rc != 0)
            fail_msg("%s: netshape exited with status %d on SIGTERM (see %s)",
                     s_cluster->nodes[i].org, rc, s_net.shaper_log[i]);
    }
}

/* Delay and reordering on every link: netem, else netshape. */
static void s_delay(bool on)
{
    if ((!s_net.netem && !s_net.shaper) || s_net.delay_on == on)
        return;
    if (s_net.netem)
        for (int i = 0; i < N; i++)
            assert_int_equal(on ? h_sh("ip netns exec '%s' tc qdisc add dev eth0 root netem "
                                       "delay 60ms 40ms reorder 25%% 50%%", s_net.ns[i])
                                : h_sh("ip netns exec '%s' tc qdisc del dev eth0 root",
                                       s_net.ns[i]),
                             0);
    else
        s_shaper(on);
    s_net.delay_on = on;
}

/* Everything back as it was. */
static void s_heal_all(void)
{
    memset(s_net.blocked, 0, sizeof s_net.blocked);
    memset(s_net.loss_pct, 0, sizeof s_net.loss_pct);
    s_net_apply();
    for (int i = 0; i < N; i++)
        s_set_link(i, true);
    s_delay(false);
}

/* Cuts every link between the sets a and b (bitmasks), both ways. */
static void s_cut(unsigned a, unsigned b)
{
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            if (((a >> i) & 1) && ((b >> j) & 1))
                s_net.blocked[i][j] = s_net.blocked[j][i] = true;
}

/* ---------------------------------------------------------------- status */

typedef struct {
    bool up;
    char role[24];
    char leader[16];
    uint64_t term, position, missing;
} s_view_t;

static s_view_t s_view(h_cluster_t *c, int i)
{
    Ics__V1__StatusReply *st;
    Ics__V1__ControlResponse *resp;
    s_view_t v;
    memset(&v, 0, sizeof v);
    if (c->nodes[i].pid <= 0 || h_status(c, i, &st, &resp) != ICS_OK)
        return v;
    if (st->n_groups > 0) {
        Ics__V1__GroupStatus *g = st->groups[0];
        v.up = true;
        snprintf(v.role, sizeof v.role, "%s", g->role);
        snprintf(v.leader, sizeof v.leader, "%s", g->leader);
        v.term = g->term;
        v.position = g->position;
        v.missing = g->history != NULL ? g->history->missing : 0;
    }
    ics__v1__control_response__free_unpacked(resp, NULL);
    return v;
}

/* A node in mask that calls itself leader, with the highest term; -1. */
static int s_leader_in(h_cluster_t *c, unsigned mask, uint64_t *term)
{
    int best = -1;
    uint64_t t = 0;
    for (int i = 0; i < N; i++) {
        if (!((mask >> i) & 1))
            continue;
        s_view_t v = s_view(c, i);
        if (v.up && strcmp(v.role, "leader") == 0 && (best < 0 || v.term > t)) {
            best = i;
            t = v.term;
        }
    }
    if (term != NULL)
        *term = t;
    return best;
}

static bool s_have_leader(h_cluster_t *c, void *arg)
{
    (void)arg;
    return h_leader(c) >= 0;
}

static uint64_t s_max_position(h_cluster_t *c)
{
    uint64_t m = 0;
    for (int i = 0; i < N; i++) {
        s_view_t v = s_view(c, i);
        if (v.position > m)
            m = v.position;
    }
    return m;
}

/* Every node agrees on a leader and has applied at least *arg. */
static bool s_caught_up(h_cluster_t *c, void *arg)
{
    uint64_t want = *(uint64_t *)arg;
    if (h_leader(c) < 0)
        return false;
    for (int i = 0; i < N; i++)
        if (s_view(c, i).position < want)
            return false;
    return true;
}

/* Every node has applied the same, all of it, and holds its history. */
static bool s_converged(h_cluster_t *c, void *arg)
{
    uint64_t want = *(uint64_t *)arg, first = 0;
    if (h_leader(c) < 0)
        return false;
    for (int i = 0; i < N; i++) {
        s_view_t v = s_view(c, i);
        if (!v.up || v.position < want || v.missing != 0)
            return false;
        if (i == 0)
            first = v.position;
        else if (v.position != first)
            return false;
    }
    return true;
}

static void s_print_views(h_cluster_t *c)
{
    for (int i = 0; i < N; i++) {
        s_view_t v = s_view(c, i);
        print_message("  %s: %s term %llu leader '%s' position %llu missing %llu\n",
                      c->nodes[i].org, v.up ? v.role : "(no answer)", U(v.term), v.leader,
                      U(v.position), U(v.missing));
    }
}

/* One line: each node's role, term, leader and position, and how many
 * submissions were acknowledged meanwhile. */
static void s_print_roles(h_cluster_t *c, unsigned long acks)
{
    char line[512] = "";
    for (int i = 0; i < N; i++) {
        s_view_t v = s_view(c, i);
        size_t n = strlen(line);
        if (!v.up)
            snprintf(line + n, sizeof line - n, " %s:(no answer)", c->nodes[i].org);
        else
            snprintf(line + n, sizeof line - n, " %s:%s/t%llu/%s/@%llu", c->nodes[i].org,
                     v.role, U(v.term), v.leader[0] ? v.leader : "-", U(v.position));
    }
    print_message("  before the heal:%s; %lu acknowledged during the fault\n", line, acks);
}

/* ---------------------------------------------------------------- clients */

typedef enum { K_RAW, K_AID } s_kind_t;

typedef struct {
    s_kind_t kind;
    int client, node;
    uint32_t n;            /* K_RAW: the client's submission number */
    uint64_t position;
    uint8_t id[32];
    bool accepted;
    char reason[200];
} s_ack_t;

typedef struct {
    h_cluster_t *c;
    pthread_mutex_t mu;
    pthread_t threads[N_RAW_CLIENTS + 1];
    int n_threads;
    volatile bool stop;
    s_ack_t *acks; /* grows; read by the checker only with the clients stopped */
    size_t n_acks, cap_acks;
    uint32_t next[N_RAW_CLIENTS]; /* next submission number per client */
    unsigned long sent, timeouts, node_acks[N];
    unsigned aid_rounds;
} s_load_t;

static s_load_t s_load;

static void s_record(const s_ack_t *a)
{
    pthread_mutex_lock(&s_load.mu);
    if (s_load.n_acks == s_load.cap_acks) {
        size_t cap = s_load.cap_acks ? s_load.cap_acks * 2 : 4096;
        s_ack_t *more = realloc(s_load.acks, cap * sizeof *more);
        if (more == NULL)
            abort();
        s_load.acks = more;
        s_load.cap_acks = cap;
    }
    s_load.acks[s_load.n_acks++] = *a;
    s_load.node_acks[a->node]++;
    pthread_mutex_unlock(&s_load.mu);
}

static void s_count(bool timeout)
{
    pthread_mutex_lock(&s_load.mu);
    s_load.sent++;
    if (timeout)
        s_load.timeouts++;
    pthread_mutex_unlock(&s_load.mu);
}

/* Submits a packed command to node i. The same token on every attempt,
 * so a retry is the same entry; another attempt only if the node did not
 * answer at all. Returns true and fills *a if acknowledged. */
static bool s_submit_packed(h_cluster_t *c, int i, const uint8_t *cmd, size_t len,
                            unsigned timeout_ms, s_ack_t *a)
{
    uint8_t token[16];
    randombytes_buf(token, sizeof token);
    for (int attempt = 0; attempt < 3 && !s_load.stop; attempt++) {
        Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
        Ics__V1__SubmitRequest sub = ICS__V1__SUBMIT_REQUEST__INIT;
        Ics__V1__ControlResponse *resp = NULL;
        ics_err_t err;
        sub.command.data = (uint8_t *)cmd;
        sub.command.len = len;
        sub.client_token.data = token;
        sub.client_token.len = sizeof token;
        req.version = ICS_CONTROL_VERSION;
        req.group = (char *)"";
        req.actor = (char *)"test.user";
        req.timeout_ms = timeout_ms;
        req.body_case = ICS__V1__CONTROL_REQUEST__BODY_SUBMIT;
        req.submit = &sub;
        if (ics_ctl_call(c->nodes[i].control, &req, timeout_ms + 3000, &resp, &err) != ICS_OK) {
            h_sleep_ms(200);
            continue;
        }
        bool ok = resp->code == 0 && resp->body_case == ICS__V1__CONTROL_RESPONSE__BODY_SUBMIT &&
                  resp->submit->entry_id.len == 32;
        if (ok) {
            a->node = i;
            a->position = resp->submit->position;
            memcpy(a->id, resp->submit->entry_id.data, 32);
            a->accepted = resp->submit->accepted;
            snprintf(a->reason, sizeof a->reason, "%s", resp->submit->reason);
        }
        ics__v1__control_response__free_unpacked(resp, NULL);
        s_count(!ok);
        return ok;
    }
    return false;
}

static bool s_submit_cmd(h_cluster_t *c, int i, Ics__V1__Command *cmd, unsigned timeout_ms,
                         s_ack_t *a)
{
    size_t len = ics__v1__command__get_packed_size(cmd);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        return false;
    ics__v1__command__pack(cmd, buf);
    bool ok = s_submit_packed(c, i, buf, len, timeout_ms, a);
    free(buf);
    return ok;
}

static void *s_raw_client(void *arg)
{
    int k = (int)(intptr_t)arg;
    h_cluster_t *c = s_load.c;
    for (unsigned turn = (unsigned)k; !s_load.stop; turn++) {
        uint32_t n = s_load.next[k]++;
        if (n >= MAX_PER_CLIENT)
            break;
        char data[32];
        snprintf(data, sizeof data, "c%d-%u", k, n);
        Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
        Ics__V1__Raw raw = ICS__V1__RAW__INIT;
        raw.data.data = (uint8_t *)data;
        raw.data.len = strlen(data);
        cmd.body_case = ICS__V1__COMMAND__BODY_RAW;
        cmd.raw = &raw;
        s_ack_t a = {.kind = K_RAW, .client = k, .n = n};
        if (s_submit_cmd(c, (int)(turn % N), &cmd, 1500, &a))
            s_record(&a);
    }
    return NULL;
}

/* Submits until acknowledged (same token is not possible across nodes,
 * so always to the one node) or stopped; returns the position or 0. */
static uint64_t s_aid_step(h_cluster_t *c, int i, Ics__V1__Command *cmd, bool *accepted)
{
    while (!s_load.stop) {
        s_ack_t a = {.kind = K_AID, .client = -1};
        if (s_submit_cmd(c, i, cmd, 2000, &a)) {
            s_record(&a);
            if (accepted != NULL)
                *accepted = a.accepted;
            return a.position;
        }
    }
    return 0;
}

typedef struct {
    int node;
    uint64_t offer, qty;
} s_accept_t;

static void *s_accept_thread(void *arg)
{
    s_accept_t *x = arg;
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__AidAccept aa = ICS__V1__AID_ACCEPT__INIT;
    aa.offer = x->offer;
    aa.quantity = x->qty;
    cmd.body_case = ICS__V1__COMMAND__BODY_AID_ACCEPT;
    cmd.aid_accept = &aa;
    s_ack_t a = {.kind = K_AID, .client = -1};
    if (s_submit_cmd(s_load.c, x->node, &cmd, 2000, &a))
        s_record(&a);
    return NULL;
}

/* Rounds of: RTD needs 6 beds; RTF, RX4 and RX6 offer 4, 5 and 3; then
 * four acceptances race from RTD's node and the ICB's (QHM), which
 * together would agree 15 on offers of 12 for a need of 6. */
static void *s_aid_client(void *arg)
{
    h_cluster_t *c = s_load.c;
    (void)arg;
    while (!s_load.stop) {
        Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
        Ics__V1__AidRequest r = ICS__V1__AID_REQUEST__INIT;
        Ics__V1__AidOffer o = ICS__V1__AID_OFFER__INIT;
        bool acc = false;
        r.resource = (char *)"ga_beds";
        r.quantity = 6;
        r.urgency = ICS__V1__AID_URGENCY__AID_URGENCY_WITHIN_4H;
        r.site = (char *)"RVI, Newcastle";
        r.reason = (char *)"OPEL 4";
        r.contact = (char *)"Site duty manager";
        r.no_auto_escalation = true;
        cmd.body_case = ICS__V1__COMMAND__BODY_AID_REQUEST;
        cmd.aid_request = &r;
        uint64_t req = s_aid_step(c, P_RTD, &cmd, &acc);
        if (req == 0 || !acc)
            continue;
        static const int offerer[3] = {P_RTF, P_RX4, P_RX6};
        static const uint64_t qty[3] = {4, 5, 3};
        uint64_t off[3] = {0};
        cmd.body_case = ICS__V1__COMMAND__BODY_AID_OFFER;
        cmd.aid_offer = &o;
        o.request = req;
        for (int k = 0; k < 3 && !s_load.stop; k++) {
            o.quantity = qty[k];
            off[k] = s_aid_step(c, offerer[k], &cmd, &acc);
            if (!acc)
                off[k] = 0;
        }
        if (s_load.stop || off[0] == 0 || off[1] == 0 || off[2] == 0)
            continue;
        s_accept_t x[4] = {{P_RTD, off[0], 0}, {P_QHM, off[0], 3}, {P_QHM, off[1], 0},
                           {P_RTD, off[2], 2}};
        pthread_t t[4];
        for (int k = 0; k < 4; k++)
            pthread_create(&t[k], NULL, s_accept_thread, &x[k]);
        for (int k = 0; k < 4; k++)
            pthread_join(t[k], NULL);
        pthread_mutex_lock(&s_load.mu);
        s_load.aid_rounds++;
        pthread_mutex_unlock(&s_load.mu);
    }
    return NULL;
}

static void s_clients_start(h_cluster_t *c)
{
    s_load.c = c;
    s_load.stop = false;
    s_load.n_threads = 0;
    for (int k = 0; k < N_RAW_CLIENTS; k++)
        assert_int_equal(pthread_create(&s_load.threads[s_load.n_threads++], NULL, s_raw_client,
                                        (void *)(intptr_t)k), 0);
    assert_int_equal(pthread_create(&s_load.threads[s_load.n_threads++], NULL, s_aid_client,
                                    NULL), 0);
}

static void s_clients_stop(void)
{
    s_load.stop = true;
    for (int k = 0; k < s_load.n_threads; k++)
        pthread_join(s_load.threads[k], NULL);
    s_load.n_threads = 0;
}

static size_t s_n_acks(void)
{
    pthread_mutex_lock(&s_load.mu);
    size_t n = s_load.n_acks;
    pthread_mutex_unlock(&s_load.mu);
    return n;
}

/* Acknowledgements so far from the nodes in mask. */
static unsigned long s_acks_from(unsigned mask)
{
    unsigned long n = 0;
    pthread_mutex_lock(&s_load.mu);
    for (int i = 0; i < N; i++)
        if ((mask >> i) & 1)
            n += s_load.node_acks[i];
    pthread_mutex_unlock(&s_load.mu);
    return n;
}

/* ---------------------------------------------------------------- schedule */

static uint64_t s_rng;

static unsigned s_rand(unsigned n)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (unsigned)(s_rng % n);
}

static char *s_names(h_cluster_t *c, unsigned mask, char *buf, size_t size)
{
    buf[0] = '\0';
    for (int i = 0; i < N; i++)
        if ((mask >> i) & 1)
            snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", buf[0] ? "," : "",
                     c->nodes[i].org);
    return buf;
}

static int s_current_leader(h_cluster_t *c)
{
    assert_true(h_wait(s_have_leader, c, NULL, 20000));
    return h_leader(c);
}

static double s_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static unsigned s_slow_heals;

/* Heals everything and requires every node to reach, with a leader they
 * agree on, what any node had applied when the network healed. Not within
 * 60 s: it did not recover. Over 10 s is counted and reported as slow,
 * with every node's view each 10 s, for the evidence. */
static void s_heal_and_catch_up(h_cluster_t *c, const char *what)
{
    struct timespec t0;
    double next = 10;

    s_heal_all();
    uint64_t want = s_max_position(c);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!s_caught_up(c, &want)) {
        double secs = s_since(&t0);
        if (secs >= next) {
            print_message("  SLOW RECOVERY after %s: %.0f s since the heal, not all at %llu "
                          "with one leader:\n", what, secs, U(want));
            s_print_views(c);
            next += 10;
        }
        if (secs > 60)
            fail_msg("no recovery within 60 s of healing %s", what);
        h_sleep_ms(100);
    }
    double secs = s_since(&t0);
    if (secs > 10)
        s_slow_heals++;
    /* Leadership may move again between the check and this line. */
    int leader = h_leader(c);
    print_message("  healed: all at >= %llu, leader %s, %.1f s\n", U(want),
                  leader >= 0 ? c->nodes[leader].org : "(changing)", secs);
}

/* Holds a partition for ms, then checks the majority side (mask, if not
 * 0) has a leader of its own and has acknowledged something meanwhile. */
static void s_hold_expect_majority(h_cluster_t *c, unsigned majority, unsigned ms)
{
    unsigned long before = s_acks_from(majority), all = s_acks_from((1u << N) - 1);
    h_sleep_ms(ms);
    s_print_roles(c, s_acks_from((1u << N) - 1) - all);
    if (majority == 0)
        return;
    uint64_t term = 0;
    int l = -1;
    unsigned long acks = 0;
    char b[64];
    /* A short hold may end before an election and a commit: allow 5 s more
     * (still partitioned) before calling it a failure. */
    for (unsigned extra = 0; extra <= 5000; extra += 250) {
        l = s_leader_in(c, majority, &term);
        acks = s_acks_from(majority) - before;
        if (l >= 0 && acks > 0)
            break;
        h_sleep_ms(250);
    }
    print_message("  majority %s: leader %s (term %llu), %lu acknowledged there\n",
                  s_names(c, majority, b, sizeof b), l >= 0 ? c->nodes[l].org : "none", U(term),
                  acks);
    if (l < 0 || acks == 0) {
        s_print_views(c);
        fail_msg("the majority %s made no progress in %u ms", b, ms);
    }
}

static void s_phase_symmetric(h_cluster_t *c, unsigned hold)
{
    int l = s_current_leader(c);
    int other = (l + 1 + (int)s_rand(N - 1)) % N;
    unsigned minority = (1u << l) | (1u << other), majority = ((1u << N) - 1) & ~minority;
    char a[64], b[64];
    print_message("symmetric partition: %s (with the leader) | %s, %u ms\n",
                  s_names(c, minority, a, sizeof a), s_names(c, majority, b, sizeof b), hold);
    s_cut(minority, majority);
    s_net_apply();
    s_hold_expect_majority(c, majority, hold);
    s_heal_and_catch_up(c, "a symmetric partition");
}

static void s_phase_isolated_leader(h_cluster_t *c, unsigned hold)
{
    int l = s_current_leader(c);
    unsigned me = 1u << l, rest = ((1u << N) - 1) & ~me;
    print_message("isolated leader: %s cut off from all, %u ms\n", c->nodes[l].org, hold);
    s_cut(me, rest);
    s_net_apply();
    s_hold_expect_majority(c, rest, hold);
    s_heal_and_catch_up(c, "an isolated leader");
}

/* mode 0: the leader hears no one but everyone hears it; 1: no one hears
 * the leader but it hears everyone; 2: one follower's messages to another
 * are lost, not the other way. */
static void s_phase_asymmetric(h_cluster_t *c, int mode, unsigned hold)
{
    int l = s_current_leader(c);
    if (mode == 0 || mode == 1) {
        print_message("asymmetric: %s %s, %u ms\n", c->nodes[l].org,
                      mode == 0 ? "sends to all but hears no one" : "hears all but no one hears it",
                      hold);
        for (int j = 0; j < N; j++)
            if (j != l) {
                if (mode == 0)
                    s_net.blocked[j][l] = true;
                else
                    s_net.blocked[l][j] = true;
            }
    } else {
        int a = (l + 1 + (int)s_rand(N - 1)) % N, b;
        do
            b = (int)s_rand(N);
        while (b == a || b == l);
        print_message("asymmetric: %s reaches %s, not back; leader %s, %u ms\n",
                      c->nodes[a].org, c->nodes[b].org, c->nodes[l].org, hold);
        s_net.blocked[b][a] = true;
    }
    s_net_apply();
    s_hold_expect_majority(c, 0, hold);
    s_heal_and_catch_up(c, "an asymmetric partition");
}

/* One node (the leader, or a random one) loses all its links and gets
 * them back, alternately by nftables and by the link going down. */
static void s_phase_flapping(h_cluster_t *c, bool leader, unsigned total)
{
    int x = leader ? s_current_leader(c) : (int)s_rand(N);
    unsigned me = 1u << x, rest = ((1u << N) - 1) & ~me, t = 0;
    unsigned long acks = s_acks_from((1u << N) - 1);
    print_message("flapping: %s%s's links, %u ms\n", c->nodes[x].org,
                  leader ? " (the leader)" : "", total);
    for (int k = 0; t < total; k++) {
        unsigned down = 300 + s_rand(1200), up = 300 + s_rand(1200);
        if (k % 2 == 0) {
            s_cut(me, rest);
            s_net_apply();
        } else {
            s_set_link(x, false);
        }
        h_sleep_ms(down);
        memset(s_net.blocked, 0, sizeof s_net.blocked);
        s_net_apply();
        s_set_link(x, true);
        h_sleep_ms(up);
        t += down + up;
    }
    s_print_roles(c, s_acks_from((1u << N) - 1) - acks);
    s_heal_and_catch_up(c, "flapping links");
}

static void s_phase_loss(h_cluster_t *c, unsigned pct, unsigned hold)
{
    int worst = (int)s_rand(N);
    print_message("packet loss: %u%% into every node, %u%% into %s, %u ms\n", pct, pct * 2,
                  c->nodes[worst].org, hold);
    for (int i = 0; i < N; i++)
        s_net.loss_pct[i] = i == worst ? pct * 2 : pct;
    s_net_apply();
    s_hold_expect_majority(c, 0, hold);
    s_heal_and_catch_up(c, "packet loss");
}

static void s_phase_delay(h_cluster_t *c, unsigned hold)
{
    if (s_net.netem) {
        print_message("delay 60±40 ms and 25%% reordering on every link (sch_netem), %u ms\n",
                      hold);
    } else if (s_net.shaper) {
        print_message("delay 60±40 ms on every link, reordering by the jitter (netshape via "
                      "NFQUEUE: this kernel has no sch_netem), %u ms\n", hold);
    } else {
        print_message("delay and reordering: SKIPPED, this kernel has no sch_netem and "
                      "netshape cannot be used: %s\n", s_net.no_shaper);
        return;
    }
    s_net.shaper_seed = s_rng; /* the run's seed repeats the shapers' draws too */
    s_delay(true);
    s_hold_expect_majority(c, 0, hold);
    s_heal_and_catch_up(c, "delay and reordering");
}

/* A random schedule of one of the above. */
static void s_phase_random(h_cluster_t *c)
{
    unsigned hold = 2000 + s_rand(8000), kind = s_rand(8);
    if (s_rand(8) == 0)
        hold = 20000 + s_rand(20000); /* long enough to fall far behind */
    if (kind == 5 && !s_net.netem && !s_net.shaper)
        kind = 4; /* said once at start: no delay without netem or netshape */
    switch (kind) {
    case 0: s_phase_symmetric(c, hold); break;
    case 1: s_phase_isolated_leader(c, hold); break;
    case 2: s_phase_asymmetric(c, (int)s_rand(3), hold); break;
    case 3: s_phase_flapping(c, s_rand(2) == 0, hold); break;
    case 4: s_phase_loss(c, 5 + s_rand(26), hold); break;
    case 5: s_phase_delay(c, hold); break;
    default: {
        /* A random cut: any split, one-way links and loss together. */
        unsigned side = 1 + s_rand((1u << N) - 2);
        char a[64], b[64];
        print_message("random cut: %s | %s, plus one-way and loss, %u ms\n",
                      s_names(c, side, a, sizeof a), s_names(c, ((1u << N) - 1) & ~side, b,
                      sizeof b), hold);
        s_cut(side, ((1u << N) - 1) & ~side);
        int from = (int)s_rand(N), to = (from + 1 + (int)s_rand(N - 1)) % N;
        s_net.blocked[from][to] = true;
        s_net.loss_pct[s_rand(N)] = s_rand(30);
        s_net_apply();
        s_hold_expect_majority(c, 0, hold);
        s_heal_and_catch_up(c, "a random cut");
    }
    }
}

/* ---------------------------------------------------------------- checker */

typedef struct {
    uint64_t position;
    bool accepted;
    char id[65], chain[65];
    char reason[200];
    int body;            /* command body case, 0 if none */
    int client;          /* raw: c<client>-<n>, else -1 */
    uint32_t n;
    uint64_t offer, qty; /* aid accept */
} s_entry_t;

typedef struct {
    s_entry_t *e;
    size_t n;
} s_log_t;

static void s_hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
    out[2 * n] = '\0';
}

/* Exports node i's log with icsctl, verifies it offline, and parses it. */
static void s_read_log(h_cluster_t *c, int i, s_log_t *log)
{
    char path[600], *line = NULL;
    size_t cap = 0, alloc = 0;
    snprintf(path, sizeof path, "%s/%s.export", c->dir, c->nodes[i].org);
    assert_int_equal(h_sh(ICSCTL_BIN " -s '%s' log export '%s' >/dev/null 2>&1",
                          c->nodes[i].control, path), 0);
    if (h_sh(ICSCTL_BIN " log verify '%s' >/dev/null", path) != 0)
        fail_msg("%s: its export does not verify", c->nodes[i].org);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    memset(log, 0, sizeof *log);
    static uint8_t env_bytes[1 << 16];
    while (getline(&line, &cap, f) > 0) {
        char *save = NULL, *tok[8] = {0};
        int nt = 0;
        if (strncmp(line, "e ", 2) != 0)
            continue;
        line[strcspn(line, "\n")] = '\0';
        for (char *t = strtok_r(line, " ", &save); t != NULL && nt < 8;
             t = strtok_r(NULL, " ", &save))
            tok[nt++] = t;
        if (nt < 7)
            fail_msg("%s: bad export line", c->nodes[i].org);
        if (log->n == alloc) {
            alloc = alloc ? alloc * 2 : 4096;
            log->e = realloc(log->e, alloc * sizeof *log->e);
            assert_non_null(log->e);
        }
        s_entry_t *e = &log->e[log->n++];
        memset(e, 0, sizeof *e);
        e->client = -1;
        e->position = strtoull(tok[1], NULL, 10);
        e->accepted = strcmp(tok[2], "a") == 0;
        snprintf(e->id, sizeof e->id, "%s", tok[3]);
        snprintf(e->chain, sizeof e->chain, "%s", tok[4]);
        if (nt > 7 && strcmp(tok[7], "-") != 0) {
            size_t rl = 0;
            if (sodium_base642bin((uint8_t *)e->reason, sizeof e->reason - 1, tok[7],
                                  strlen(tok[7]), NULL, &rl, NULL,
                                  sodium_base64_VARIANT_ORIGINAL) == 0)
                e->reason[rl] = '\0';
        }
        size_t env_len = 0;
        if (strcmp(tok[6], "-") == 0 ||
            sodium_base642bin(env_bytes, sizeof env_bytes, tok[6], strlen(tok[6]), NULL,
                              &env_len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
            continue;
        Ics__V1__Envelope *env = NULL;
        Ics__V1__Command *cmd = NULL;
        if (ics_envelope_decode(env_bytes, env_len, &env, NULL) != ICS_OK)
            continue;
        if (ics_command_decode(env, &cmd, NULL) == ICS_OK) {
            e->body = (int)cmd->body_case;
            if (cmd->body_case == ICS__V1__COMMAND__BODY_RAW) {
                char d[32];
                int k;
                unsigned n;
                snprintf(d, sizeof d, "%.*s", (int)cmd->raw->data.len,
                         (const char *)cmd->raw->data.data);
                if (sscanf(d, "c%d-%u", &k, &n) == 2 && k >= 0 && k < N_RAW_CLIENTS &&
                    n < MAX_PER_CLIENT) {
                    e->client = k;
                    e->n = n;
                }
            } else if (cmd->body_case == ICS__V1__COMMAND__BODY_AID_ACCEPT) {
                e->offer = cmd->aid_accept->offer;
                e->qty = cmd->aid_accept->quantity;
            }
            ics__v1__command__free_unpacked(cmd, NULL);
        }
        ics__v1__envelope__free_unpacked(env, NULL);
    }
    free(line);
    fclose(f);
}

/* "key":N in s (from p on), or -1 */
static long long s_json_num(const char *p, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *q = strstr(p, k);
    return q != NULL ? strtoll(q + strlen(k), NULL, 10) : -1;
}

static char *s_aid_show(h_cluster_t *c, int i, uint64_t request)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__QueryRequest q = ICS__V1__QUERY_REQUEST__INIT;
    Ics__V1__ControlResponse *resp = NULL;
    char id[24], *args[1] = {id}, *json = NULL;
    ics_err_t err;
    snprintf(id, sizeof id, "%llu", U(request));
    q.name = (char *)"aid.show";
    q.args = args;
    q.n_args = 1;
    req.version = ICS_CONTROL_VERSION;
    req.group = (char *)"";
    req.actor = (char *)"test.user";
    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_QUERY;
    req.query = &q;
    if (ics_ctl_call(c->nodes[i].control, &req, 5000, &resp, &err) != ICS_OK)
        return NULL;
    if (resp->code == 0 && resp->body_case == ICS__V1__CONTROL_RESPONSE__BODY_QUERY)
        json = strdup(resp->query->json);
    ics__v1__control_response__free_unpacked(resp, NULL);
    return json;
}

/* The aid invariant on node i for one request: no offer accepted beyond
 * its quantity, no more agreed than requested. Returns the offers part
 * (caller frees) for comparison between nodes. */
static char *s_check_request(h_cluster_t *c, int i, uint64_t request, uint64_t *agreed)
{
    char *json = s_aid_show(c, i, request);
    if (json == NULL)
        fail_msg("%s: aid.show %llu did not answer", c->nodes[i].org, U(request));
    char *offers = strstr(json, "\"offers\":[");
    if (offers == NULL)
        fail_msg("%s: aid.show %llu has no offers: %s", c->nodes[i].org, U(request), json);
    *offers = '\0';
    long long need = s_json_num(json, "quantity"), acc = s_json_num(json, "accepted");
    *offers = '"';
    if (need <= 0 || acc < 0 || acc > need)
        fail_msg("%s: request %llu has %lld agreed of %lld: %s", c->nodes[i].org, U(request),
                 acc, need, json);
    long long sum = 0;
    char *end = strchr(offers, ']');
    for (char *p = strstr(offers, "{\"id\":"); p != NULL && (end == NULL || p < end);
         p = strstr(p + 1, "{\"id\":")) {
        long long oq = s_json_num(p, "quantity"), oa = s_json_num(p, "accepted");
        if (oa < 0 || oq <= 0 || oa > oq)
            fail_msg("%s: request %llu, offer %lld: %lld accepted of %lld offered",
                     c->nodes[i].org, U(request), strtoll(p + 6, NULL, 10), oa, oq);
        sum += oa;
    }
    if (sum != acc)
        fail_msg("%s: request %llu: offers accept %lld, the request says %lld: %s",
                 c->nodes[i].org, U(request), sum, acc, json);
    *agreed = (uint64_t)acc;
    char *part = strdup(offers);
    free(json);
    return part;
}

typedef struct {
    size_t entries, acks, raw_acks, aid_acks, unacked_present, requests, accepts, agreed;
} s_figures_t;

/* Clients stopped and the network healed: the whole check. */
static s_figures_t s_check(h_cluster_t *c)
{
    static s_log_t logs[N];
    s_figures_t fig;
    memset(&fig, 0, sizeof fig);

    uint64_t want = s_max_position(c);
    if (!h_wait(s_converged, c, &want, 60000)) {
        s_print_views(c);
        fail_msg("nodes did not converge at >= %llu within 60 s", U(want));
    }
    for (int i = 0; i < N; i++)
        s_read_log(c, i, &logs[i]);

    /* One order: identical entry by entry over what all hold, and every
     * node holds up to the last acknowledged position. */
    size_t common = logs[0].n;
    for (int i = 1; i < N; i++)
        if (logs[i].n < common)
            common = logs[i].n;
    for (int i = 0; i < N; i++)
        for (size_t k = 0; k < common; k++) {
            const s_entry_t *a = &logs[0].e[k], *b = &logs[i].e[k];
            if (b->position != k + 1)
                fail_msg("%s: export line %zu is position %llu", c->nodes[i].org, k + 1,
                         U(b->position));
            if (strcmp(a->id, b->id) != 0 || strcmp(a->chain, b->chain) != 0 ||
                a->accepted != b->accepted)
                fail_msg("divergence at position %llu: %s has %s (chain %s), %s has %s "
                         "(chain %s)", U(a->position), c->nodes[0].org, a->id, a->chain,
                         c->nodes[i].org, b->id, b->chain);
        }
    fig.entries = common;

    /* Exactly once, at the acknowledged position, with its verdict. */
    static uint8_t seen[N_RAW_CLIENTS][MAX_PER_CLIENT];
    static uint64_t where[N_RAW_CLIENTS][MAX_PER_CLIENT];
    memset(seen, 0, sizeof seen);
    for (size_t k = 0; k < logs[0].n; k++) {
        const s_entry_t *e = &logs[0].e[k];
        if (e->client < 0 || !e->accepted)
            continue;
        if (seen[e->client][e->n]++ > 0)
            fail_msg("c%d-%u is in the log twice: positions %llu and %llu", e->client, e->n,
                     U(where[e->client][e->n]), U(e->position));
        where[e->client][e->n] = e->position;
    }
    size_t n_acks = s_n_acks();
    static uint8_t acked[N_RAW_CLIENTS][MAX_PER_CLIENT];
    memset(acked, 0, sizeof acked);
    for (size_t a = 0; a < n_acks; a++) {
        const s_ack_t *ack = &s_load.acks[a];
        char id[65];
        s_hex(ack->id, 32, id);
        if (ack->position == 0 || ack->position > common)
            fail_msg("acknowledged at position %llu (%s, by %s), beyond the %zu all nodes hold",
                     U(ack->position), id, c->nodes[ack->node].org, common);
        for (int i = 0; i < N; i++) {
            const s_entry_t *e = &logs[i].e[ack->position - 1];
            if (strcmp(e->id, id) != 0)
                fail_msg("%s acknowledged %s at position %llu; %s has %s there",
                         c->nodes[ack->node].org, id, U(ack->position), c->nodes[i].org, e->id);
            if (e->accepted != ack->accepted ||
                (!ack->accepted && strcmp(e->reason, ack->reason) != 0))
                fail_msg("%s acknowledged position %llu as %s '%s'; %s logs it %s '%s'",
                         c->nodes[ack->node].org, U(ack->position),
                         ack->accepted ? "accepted" : "rejected", ack->reason, c->nodes[i].org,
                         e->accepted ? "accepted" : "rejected", e->reason);
        }
        if (ack->kind == K_RAW) {
            if (acked[ack->client][ack->n]++ > 0)
                fail_msg("c%d-%u acknowledged twice", ack->client, ack->n);
            if (seen[ack->client][ack->n] != 1 ||
                where[ack->client][ack->n] != ack->position)
                fail_msg("c%d-%u acknowledged at %llu, in the log %u times (at %llu)",
                         ack->client, ack->n, U(ack->position), seen[ack->client][ack->n],
                         U(where[ack->client][ack->n]));
            fig.raw_acks++;
        } else {
            fig.aid_acks++;
        }
    }
    fig.acks = n_acks;
    for (int k = 0; k < N_RAW_CLIENTS; k++)
        for (uint32_t n = 0; n < MAX_PER_CLIENT; n++)
            if (seen[k][n] && !acked[k][n])
                fig.unacked_present++;

    /* Aid: an offer is accepted once at most (counting accepted AidAccept
     * entries in the log), and every node's state keeps within quantities. */
    for (size_t k = 0; k < logs[0].n; k++) {
        const s_entry_t *e = &logs[0].e[k];
        if (e->body != ICS__V1__COMMAND__BODY_AID_ACCEPT || !e->accepted)
            continue;
        fig.accepts++;
        for (size_t m = k + 1; m < logs[0].n; m++)
            if (logs[0].e[m].body == ICS__V1__COMMAND__BODY_AID_ACCEPT &&
                logs[0].e[m].accepted && logs[0].e[m].offer == e->offer)
                fail_msg("offer %llu accepted twice: positions %llu and %llu", U(e->offer),
                         U(e->position), U(logs[0].e[m].position));
    }
    for (size_t k = 0; k < logs[0].n; k++) {
        const s_entry_t *e = &logs[0].e[k];
        if (e->body != ICS__V1__COMMAND__BODY_AID_REQUEST || !e->accepted)
            continue;
        char *first = NULL;
        uint64_t agreed = 0;
        for (int i = 0; i < N; i++) {
            char *part = s_check_request(c, i, e->position, &agreed);
            if (first == NULL)
                first = part;
            else {
                if (strcmp(first, part) != 0)
                    fail_msg("request %llu: %s and %s differ:\n  %s\n  %s", U(e->position),
                             c->nodes[0].org, c->nodes[i].org, first, part);
                free(part);
            }
        }
        free(first);
        fig.requests++;
        fig.agreed += agreed;
    }
    for (int i = 0; i < N; i++) {
        free(logs[i].e);
        logs[i].e = NULL;
    }
    return fig;
}

/* ---------------------------------------------------------------- test */

static int s_setup(void **state)
{
    return h_setup(state);
}

/* Every exit path: clients joined, daemons killed, namespaces deleted. */
static int s_teardown(void **state)
{
    alarm(0);
    s_clients_stop();
    h_teardown(state);
    s_cluster = NULL;
    s_net_destroy();
    free(s_load.acks);
    s_load.acks = NULL;
    s_load.n_acks = s_load.cap_acks = 0;
    return 0;
}

/* Lines of node i's log containing text. */
static unsigned s_log_count(h_cluster_t *c, int i, const char *text)
{
    char cmd[1200];
    unsigned n = 0;
    snprintf(cmd, sizeof cmd, "grep -c '%s' '%s' 2>/dev/null", text, c->nodes[i].log);
    FILE *p = popen(cmd, "r");
    if (p != NULL) {
        if (fscanf(p, "%u", &n) != 1)
            n = 0;
        pclose(p);
    }
    return n;
}

static void s_report(h_cluster_t *c, const s_figures_t *f, unsigned schedules, double secs)
{
    unsigned installs = 0, taken = 0;
    for (int i = 0; i < N; i++) {
        installs += s_log_count(c, i, "installed a snapshot from");
        taken += s_log_count(c, i, "took a snapshot");
    }
    print_message("snapshots: %u taken, %u installed from a leader; recoveries over 10 s after "
                  "a heal: %u\n", taken, installs, s_slow_heals);
    print_message("checked after %u schedules, %.0f s: %zu log entries identical on %d nodes; "
                  "%lu submissions sent, %lu unanswered or timed out; %zu acknowledged "
                  "(%zu raw, %zu aid) all present once at their positions with their verdicts; "
                  "%zu unacknowledged also committed (once); aid: %u rounds, %zu requests, "
                  "%zu acceptances, %zu agreed, within every offer and need\n",
                  schedules, secs, f->entries, N, s_load.sent, s_load.timeouts, f->acks,
                  f->raw_acks, f->aid_acks, f->unacked_present, s_load.aid_rounds, f->requests,
                  f->accepts, f->agreed);
}

static void partitions_lose_nothing(void **state)
{
    h_cluster_t *c = *state;
    const char *why = s_cannot_run();
    const char *secs_env = getenv("ICS_PARTITION_SECONDS");
    const char *seed_env = getenv("ICS_PARTITION_SEED");
    const char *snap_env = getenv("ICS_PARTITION_SNAPSHOT");
    unsigned soak = secs_env != NULL ? (unsigned)atoi(secs_env) : 0;
    unsigned snap = snap_env != NULL ? (unsigned)atoi(snap_env) : 0;
    struct timespec t0;

    if (why != NULL) {
        print_message("SKIPPED: %s\n", why);
        skip();
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    s_rng = seed_env != NULL ? strtoull(seed_env, NULL, 10) : (uint64_t)time(NULL);
    if (s_rng == 0)
        s_rng = 1;
    print_message("seed %llu (ICS_PARTITION_SEED reproduces the schedule)\n", U(s_rng));
    s_delete_stale();
    signal(SIGINT, s_on_signal);
    signal(SIGTERM, s_on_signal);
    signal(SIGHUP, s_on_signal);
    signal(SIGALRM, s_on_deadline);
    alarm(soak > 0 ? soak + 900 : 230); /* the suite's test stays under 4 minutes */
    atexit(s_net_destroy);

    pthread_mutex_init(&s_load.mu, NULL);
    h_cluster_init(c, N, ORGS, KINDS);
    if (snap > 0) {
        /* A node back from a cut then installs a snapshot and backfills. */
        for (int i = 0; i < N; i++)
            snprintf(c->nodes[i].extra, sizeof c->nodes[i].extra,
                     "snapshot_threshold = %u\nsnapshot_trailing = %u", snap, snap / 4);
        print_message("snapshots every %u entries, %u kept behind\n", snap, snap / 4);
    }
    s_net_create(c);
    print_message("namespaces %s-{hub,%s,%s,%s,%s,%s}, 10.77.0.11-15; delay and reordering "
                  "by %s%s\n", s_net.prefix, ORGS[0], ORGS[1], ORGS[2], ORGS[3], ORGS[4],
                  s_net.netem ? "sch_netem" : s_net.shaper ? "netshape (NFQUEUE; no sch_netem "
                  "here)" : "nothing, SKIPPED: no sch_netem, and ",
                  s_net.netem || s_net.shaper ? "" : s_net.no_shaper);
    for (int i = 0; i < N; i++)
        h_start_netns(c, i, s_net.ns[i], s_net.addrs);
    assert_true(h_wait(s_have_leader, c, NULL, 20000));
    print_message("leader %s\n", c->nodes[h_leader(c)].org);

    unsigned schedules = 0;
    s_clients_start(c);
    h_sleep_ms(1000);
    if (soak == 0) {
        s_phase_symmetric(c, 6000);
        s_phase_asymmetric(c, 0, 5000);
        s_phase_asymmetric(c, 1, 5000);
        s_phase_asymmetric(c, 2, 4000);
        s_phase_isolated_leader(c, 6000);
        s_phase_flapping(c, true, 8000);
        s_phase_loss(c, 15, 6000);
        s_phase_delay(c, 6000);
        schedules = 8;
        s_clients_stop();
        s_heal_all();
        s_figures_t f = s_check(c);
        s_report(c, &f, schedules, s_since(&t0));
        assert_true(f.raw_acks > 0 && f.aid_acks > 0);
    } else {
        /* Checked whole every few minutes, so a violation is found near
         * the schedules that caused it. */
        while (s_since(&t0) < soak) {
            double round = s_since(&t0);
            while (s_since(&t0) < soak && s_since(&t0) - round < 180) {
                s_phase_random(c);
                schedules++;
            }
            s_clients_stop();
            s_heal_all();
            s_figures_t f = s_check(c);
            s_report(c, &f, schedules, s_since(&t0));
            if (s_since(&t0) < soak)
                s_clients_start(c);
        }
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(h_stop(c, i), 0);
    alarm(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(partitions_lose_nothing, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("cluster partition", tests, NULL, NULL);
}
