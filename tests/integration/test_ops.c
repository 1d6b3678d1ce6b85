/*
 * What an operator does to a running node and sees in its log: SIGHUP
 * reloads, the control socket is never taken from a running node nor
 * made of somebody's file, events are logged, and a second node started
 * with a partner's identity key is noticed.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static const char *const ORGS[] = {"QHM", "RTD", "RX4"};
static const char *const KINDS[] = {"icb", "foundation_trust", "mental_health"};

/* ---- helpers ------------------------------------------------------------ */

/* Does the file at path contain needle? */
static bool s_file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t cap = 0;
    bool found = false;
    if (f == NULL)
        return false;
    while (!found && getline(&buf, &cap, f) >= 0)
        found = strstr(buf, needle) != NULL;
    free(buf);
    fclose(f);
    return found;
}

typedef struct {
    const char *path, *needle;
} s_grep_t;

static bool s_logged(h_cluster_t *c, void *arg)
{
    const s_grep_t *g = arg;
    (void)c;
    return s_file_has(g->path, g->needle);
}

#define ASSERT_LOGGED_WITHIN(path_, needle_, ms)                                         \
    do {                                                                             \
        s_grep_t g_ = {(path_), (needle_)};                                          \
        if (!h_wait(s_logged, c, &g_, (ms))) {                                       \
            h_sh("tail -30 '%s' >&2", g_.path);                                      \
            fail_msg("%s does not say '%s'", g_.path, g_.needle);                    \
        }                                                                            \
    } while (0)

#define ASSERT_ANSWERS(i)                                                                \
    do {                                                                             \
        Ics__V1__StatusReply *st_;                                                   \
        Ics__V1__ControlResponse *resp_;                                             \
        assert_int_equal(h_status(c, (i), &st_, &resp_), ICS_OK);                    \
        ics__v1__control_response__free_unpacked(resp_, NULL);                       \
    } while (0)

#define ASSERT_RUNNING(i) assert_int_equal(kill(c->nodes[(i)].pid, 0), 0)

static bool s_has_leader(h_cluster_t *c, void *arg)
{
    (void)arg;
    return h_leader(c) >= 0;
}

/* Runs icsd on node i's configuration in the foreground (it is expected to
 * refuse to start); returns its exit status, its output in node i's log. */
static int s_run_icsd(h_cluster_t *c, int i)
{
    h_write_config(c, i);
    return h_sh("timeout 60 " ICSD_BIN " -c '%s' >>'%s' 2>&1", c->nodes[i].conf,
                c->nodes[i].log);
}

/* ---- SIGHUP ------------------------------------------------------------- */

static void hup_reloads_and_keeps_running(void **state)
{
    h_cluster_t *c = *state;
    uint8_t token[16] = {7};
    Ics__V1__ControlResponse *resp = NULL;

    h_cluster_init(c, 1, ORGS, KINDS);
    h_start(c, 0);
    assert_true(h_wait(s_has_leader, c, NULL, 10000));

    /* A level the node applies, and a setting it can only take at start. */
    snprintf(c->nodes[0].node_extra, sizeof c->nodes[0].node_extra, "log_level = debug");
    snprintf(c->nodes[0].extra, sizeof c->nodes[0].extra, "snapshot_threshold = 100");
    h_write_config(c, 0);
    assert_int_equal(kill(c->nodes[0].pid, SIGHUP), 0);
    ASSERT_LOGGED_WITHIN(c->nodes[0].log, "reload: log_level info -> debug", 5000);
    ASSERT_LOGGED_WITHIN(c->nodes[0].log,
                         "not applied until icsd is restarted: [raft] snapshot_threshold", 5000);
    ASSERT_RUNNING(0);
    ASSERT_ANSWERS(0);

    /* Debug now reaches the log: every applied entry is shown. */
    assert_int_equal(h_submit_raw(c, 0, "after reload", token, 5000, &resp), ICS_OK);
    assert_int_equal(resp->code, 0);
    ics__v1__control_response__free_unpacked(resp, NULL);
    ASSERT_LOGGED_WITHIN(c->nodes[0].log, "debug: group nenc: entry ", 5000);

    /* A configuration that does not parse changes nothing. */
    FILE *f = fopen(c->nodes[0].conf, "a");
    assert_non_null(f);
    fputs("this is not ini\n", f);
    fclose(f);
    assert_int_equal(kill(c->nodes[0].pid, SIGHUP), 0);
    ASSERT_LOGGED_WITHIN(c->nodes[0].log, "reload failed, nothing changed: ", 5000);
    ASSERT_RUNNING(0);
    ASSERT_ANSWERS(0);

    assert_int_equal(h_stop(c, 0), 0);
}

/* ---- the control socket ------------------------------------------------- */

static void control_path_of_a_file_is_refused(void **state)
{
    h_cluster_t *c = *state;
    char path[512];

    h_cluster_init(c, 1, ORGS, KINDS);
    snprintf(path, sizeof path, "%s", c->nodes[0].control + 6);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("the minutes of the last board meeting\n", f);
    fclose(f);

    h_write_config(c, 0);
    assert_int_equal(h_sh(ICSD_BIN " --check-config '%s' >'%s.check' 2>&1", c->nodes[0].conf,
                          c->nodes[0].log), 1);
    char check[600];
    snprintf(check, sizeof check, "%s.check", c->nodes[0].log);
    assert_true(s_file_has(check, "exists and is not a socket; icsd will not replace it"));

    assert_int_equal(s_run_icsd(c, 0), 1);
    assert_true(s_file_has(c->nodes[0].log, "exists and is not a socket"));
    assert_true(s_file_has(path, "the minutes of the last board meeting"));
}

static void live_control_socket_is_not_taken(void **state)
{
    h_cluster_t *c = *state;
    struct stat before, after;
    char path[512];

    h_cluster_init(c, 2, ORGS, KINDS);
    h_start(c, 0);
    snprintf(path, sizeof path, "%s", c->nodes[0].control + 6);
    assert_int_equal(stat(path, &before), 0);

    /* Its own data directory and port, the first node's control path. */
    snprintf(c->nodes[1].control, sizeof c->nodes[1].control, "%s", c->nodes[0].control);
    assert_int_equal(s_run_icsd(c, 1), 1);
    assert_true(s_file_has(c->nodes[1].log, "a running node answers on it"));

    /* The first node's socket is the same file, and it still answers. */
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    ASSERT_ANSWERS(0);

    /* A clean stop removes the socket it made. */
    assert_int_equal(h_stop(c, 0), 0);
    assert_int_equal(stat(path, &after), -1);

    /* A socket nobody answers on (a node that died) is replaced. */
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0 && strlen(path) < sizeof a.sun_path);
    memcpy(a.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    close(fd);
    h_start(c, 0);
    assert_true(s_file_has(c->nodes[0].log, "removed, left by a node that stopped"));
    ASSERT_ANSWERS(0);
}

/* ---- events and identity ------------------------------------------------ */

/* Leadership, peers, rejections and quorum, as the log tells them. */
static void events_are_logged(void **state)
{
    h_cluster_t *c = *state;

    h_cluster_init(c, 3, ORGS, KINDS);
    for (int i = 0; i < 3; i++)
        h_start(c, i);
    assert_true(h_wait(s_has_leader, c, NULL, 15000));
    int leader = h_leader(c), other = (leader + 1) % 3, third = (leader + 2) % 3;
    ASSERT_LOGGED_WITHIN(c->nodes[leader].log, "group nenc: this node won leadership", 5000);
    ASSERT_LOGGED_WITHIN(c->nodes[other].log, "peer ", 5000);
    ASSERT_LOGGED_WITHIN(c->nodes[other].log, " connected (tcp://127.0.0.1:", 5000);

    /* A rejected entry, with its reason code and its reason, on every node. */
    h_person(c, other, "dr.amina.khan");
    assert_int_equal(h_sh(ICSCTL_BIN " -s '%s' --as dr.amina.khan aid cancel 999 >/dev/null 2>&1",
                          c->nodes[other].control), 1);
    ASSERT_LOGGED_WITHIN(c->nodes[leader].log, "rejected [not_found]: there is no request 999",
                         5000);
    ASSERT_LOGGED_WITHIN(c->nodes[third].log, "rejected [not_found]: there is no request 999",
                         5000);

    /* The leader goes: the others see it lost, and a new term. */
    h_kill(c, leader);
    char lost[64];
    snprintf(lost, sizeof lost, "peer %s lost: nothing heard for", c->nodes[leader].org);
    ASSERT_LOGGED_WITHIN(c->nodes[other].log, lost, 10000);
    ASSERT_LOGGED_WITHIN(c->nodes[other].log, "group nenc: term ", 10000);

    /* One of three left: no quorum, and it says so. */
    h_kill(c, third);
    ASSERT_LOGGED_WITHIN(c->nodes[other].log, "group nenc: quorum lost: 1 of 3 voters", 10000);
    h_start(c, third);
    ASSERT_LOGGED_WITHIN(c->nodes[other].log, "group nenc: quorum regained: 2 of 3", 10000);
}

/* A copy of QHM's node, its key and configuration, started elsewhere. */
static void second_node_with_the_same_key_is_noticed(void **state)
{
    h_cluster_t *c = *state;

    h_cluster_init(c, 3, ORGS, KINDS);
    for (int i = 0; i < 3; i++)
        h_start(c, i);
    assert_true(h_wait(s_has_leader, c, NULL, 15000));

    h_node_t *copy = &c->nodes[3];
    *copy = c->nodes[0];
    copy->port = h_free_port();
    snprintf(copy->conf, sizeof copy->conf, "%s/QHM-copy.conf", c->dir);
    snprintf(copy->log, sizeof copy->log, "%s/QHM-copy.log", c->dir);
    snprintf(copy->data, sizeof copy->data, "%s/QHM-copy.data", c->dir);
    snprintf(copy->control, sizeof copy->control, "ipc://%s/QHM-copy.sock", c->dir);
    copy->members = 0x7; /* the same group, QHM's endpoint still the original's */
    c->n = 4;            /* torn down with the others */
    h_start(c, 3);

    /* The partners see two connections under one key; the original sees
     * answers to pings it never sent. */
    ASSERT_LOGGED_WITHIN(c->nodes[1].log, "two nodes are connected with QHM's identity key",
                         15000);
    ASSERT_LOGGED_WITHIN(c->nodes[0].log, "answered a ping this node never sent: another node "
                                          "is running with QHM's identity key", 15000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(hup_reloads_and_keeps_running, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(control_path_of_a_file_is_refused, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(live_control_socket_is_not_taken, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(events_are_logged, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(second_node_with_the_same_key_is_noticed, h_setup,
                                        h_teardown),
    };
    return cmocka_run_group_tests_name("cluster ops", tests, NULL, NULL);
}
