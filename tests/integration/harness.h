/*
 * Multi-process test harness: a throw-away ICS of real icsd processes on
 * loopback, each with its own key, configuration and data directory under
 * one temporary directory. Ports are free ports the kernel picked; every
 * child dies with the test process (PR_SET_PDEATHSIG), and teardown kills
 * what is left and removes the directory.
 */
#ifndef ICS_HARNESS_H
#define ICS_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/types.h>

#include "common/ctlclient.h"
#include "common/keys.h"

#define H_MAX_NODES 8

typedef struct {
    char org[32];
    char kind[32];
    int port;           /* its endpoint, as every configuration names it */
    int listen_port;    /* where it listens, if not port (e.g. behind a test proxy) */
    pid_t pid;
    char conf[512];
    char key[512];
    char log[512];
    char data[512];
    char control[512];
    char pub[ICS_PUBKEY_TEXT_MAX];
    unsigned members;   /* bitmask of nodes in its group configuration */
    char extra[512];    /* extra config lines for [raft] */
    char group_extra[256]; /* extra lines for its [group] section, e.g. join = yes */
    char node_extra[256];  /* extra lines for its [node] section, e.g. http = ... */
    unsigned members2;     /* bitmask of nodes in its second group (c->group2); 0: not in it */
    char group2_extra[256]; /* extra lines for its second group's section */
    char admin[64];        /* its organisation's first person (h_person), '' if none yet */
    char admin2[64];       /* ... in its second group */
} h_node_t;

typedef struct {
    char dir[256];
    char group[32];
    char group2[32];        /* a second group, e.g. a regional one; "" for none. A node
                               whose members mask leaves itself out (and whose members2
                               has it) is only in the second group. */
    h_node_t nodes[H_MAX_NODES];
    int n;
    bool icsd_defaults;     /* leave heartbeat_ms, election_ms, ping_interval_ms and
                               checkpoint_interval to icsd's defaults (and the nodes'
                               extra lines) instead of the tests' short ones */
} h_cluster_t;

/* Creates n nodes (orgs/kinds given), keys and ports; every node's group
 * lists all n as members. Configurations are written by h_start. */
void h_cluster_init(h_cluster_t *c, int n, const char *const orgs[], const char *const kinds[]);
/* cmocka set-up and teardown for a test of one cluster: *state is a
 * zeroed h_cluster_t, destroyed (nodes killed, directory removed) after. */
int h_setup(void **state);
int h_teardown(void **state);

/* Kills every node and removes the directory. */
void h_cluster_destroy(h_cluster_t *c);

void h_write_config(h_cluster_t *c, int i);
void h_start(h_cluster_t *c, int i);
/* SIGTERM and wait; returns the exit status (or 128+signal). */
int h_stop(h_cluster_t *c, int i);
void h_kill(h_cluster_t *c, int i); /* SIGKILL and reap */

/* Control calls. Return ICS_OK and a response the caller frees. */
int h_status(h_cluster_t *c, int i, Ics__V1__StatusReply **out, Ics__V1__ControlResponse **resp);
int h_submit_raw(h_cluster_t *c, int i, const char *data, const uint8_t token[16],
                 unsigned timeout_ms, Ics__V1__ControlResponse **resp);
int h_log(h_cluster_t *c, int i, int op, uint64_t position, unsigned count,
          Ics__V1__ControlResponse **resp);

/* Polls pred every 50 ms until true or timeout; returns pred's last value. */
bool h_wait(bool (*pred)(h_cluster_t *c, void *arg), h_cluster_t *c, void *arg,
            unsigned timeout_ms);

/* Index of the node every live node agrees leads, or -1. */
int h_leader(h_cluster_t *c);
/* A free loopback TCP port. */
int h_free_port(void);
/* HTTP GET on 127.0.0.1:port; returns the status code (0 if no answer)
 * and the body in a malloc'd string the caller frees. */
int h_http_get(int port, const char *path, char **body);

/* Starts n nodes (as h_cluster_init) and waits until they agree on a
 * leader (15 s at most); h_cluster_down stops them and removes it all. */
void h_cluster_up(h_cluster_t *c, int n, const char *const orgs[], const char *const kinds[]);
void h_cluster_down(h_cluster_t *c);

/* Runs icsctl on node i's socket with args (shell words, printf-style),
 * without ICSCTL_CONFIG or ICSCTL_GROUP; its stdout and stderr are left
 * in out and err. Returns its exit status. */
int h_ctl(h_cluster_t *c, int i, char *out, size_t out_size, char *err, size_t err_size,
          const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* h_ctl for a test's fixture fx with members c (the cluster), out and err
 * (arrays); H_CTL_OK fails the test, saying why, if icsctl fails. */
#define H_CTL(fx, i, ...)                                                                          \
    h_ctl(&(fx)->c, (i), (fx)->out, sizeof(fx)->out, (fx)->err, sizeof(fx)->err, __VA_ARGS__)
#define H_CTL_OK(fx, i, ...)                                                                       \
    do {                                                                                           \
        if (H_CTL((fx), (i), __VA_ARGS__) != 0)                                                    \
            fail_msg("icsctl failed: %s%s", (fx)->out, (fx)->err);                                 \
    } while (0)

/* The first size-1 bytes of a file into buf ("" if it cannot be read). */
void h_slurp(const char *path, char *buf, size_t size);
/* A file's size, -1 if there is none. */
long h_file_size(const char *path);
/* Chromium (Debian's chromium, or $CHROMIUM) into path; false if none is
 * installed. */
bool h_find_chromium(char *path, size_t size);

#define H_ASSERT_CONTAINS(haystack, needle)                                                        \
    do {                                                                                           \
        if (strstr((haystack), (needle)) == NULL)                                                  \
            fail_msg("expected '%s' in:\n%.6000s", (needle), (haystack));                          \
    } while (0)

#define H_ASSERT_LACKS(haystack, needle)                                                           \
    do {                                                                                           \
        if (strstr((haystack), (needle)) != NULL)                                                  \
            fail_msg("did not expect '%s' in:\n%.6000s", (needle), (haystack));                    \
    } while (0)

/* path is a PNG of a page (a screenshot), not an empty or blank one. */
#define H_ASSERT_PNG(path)                                                                         \
    do {                                                                                           \
        char sig_[9] = "";                                                                         \
        FILE *f_ = fopen((path), "rb");                                                            \
        if (f_ == NULL)                                                                            \
            fail_msg("no screenshot at %s", (path));                                               \
        size_t n_ = fread(sig_, 1, 8, f_);                                                         \
        fclose(f_);                                                                                \
        if (n_ != 8 || memcmp(sig_, "\x89PNG\r\n\x1a\n", 8) != 0 || h_file_size(path) < 5000)      \
            fail_msg("%s is not a PNG of a page", (path));                                         \
    } while (0)

/* Runs a shell command; returns its exit status. */
int h_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void h_sleep_ms(unsigned ms);

/* Nodes in network namespaces (test_partition). addrs[j] is node j's IPv4
 * address: every endpoint in node i's configuration, and where it
 * listens, use it instead of 127.0.0.1 (ports unchanged). */
void h_write_config_at(h_cluster_t *c, int i, const char *const addrs[]);
/* h_start inside network namespace netns (`ip netns exec`, which execs:
 * nd->pid is icsd's own pid, so h_stop and h_kill work unchanged). */
void h_start_netns(h_cluster_t *c, int i, const char *netns, const char *const addrs[]);
/* Forks `ip netns exec netns argv[0] argv[1] ...` (argv ends with NULL),
 * stdout and stderr appended to log, ASAN_OPTIONS as for icsd unless set.
 * The child dies with this process (PR_SET_PDEATHSIG, kept across both
 * execs); the pid returned is argv[0]'s own once ip has exec'd it. */
pid_t h_spawn_netns(const char *netns, const char *log, const char *const argv[]);

/* People sign what they do with their own keys (docs/log-format.md §2c).
 * h_cluster_init points icsctl's ICSD_PERSON_DIR at DIR/people for every
 * command the test runs, so `--as PERSON` finds PERSON's key there. This
 * makes person's key (or reuses it: names are per test, not per
 * organisation) and registers it with node i's organisation: the first
 * person of an organisation as its administrator (the organisation's own
 * bootstrap), each later one by that administrator. Fails the test if
 * either step fails. */
void h_person(h_cluster_t *c, int i, const char *person);
/* The same in group (c->group or c->group2) of a node in two. */
void h_person_in(h_cluster_t *c, int i, const char *group, const char *person);

#endif
