/*
 * Storage faults across real processes (issue 16): a node whose disk is
 * full or failing stops acknowledging, says why, and comes back by itself
 * once the fault clears, with nothing acknowledged lost; a node whose data
 * directory is removed under it says so and stops.
 *
 *   injected    every node runs with tests/faultinject (LD_PRELOAD): writes
 *               and syncs under one node's data directory fail, first on a
 *               follower (ENOSPC), then on a follower's history.db only,
 *               then on the leader (EIO, fsync too), then the leader's
 *               fsyncs only, while a client submits round the three nodes;
 *               snapshots every 64 entries.
 *   tmpfs       a follower's data directory is a small tmpfs, filled with a
 *               file while the client submits, then freed.
 *   removed     rm -rf of a running follower's data directory.
 *   corrupt     one bit flipped in a committed entry in a stopped
 *               follower's raft.db: refused at start, with what to do;
 *               doing it brings the node back level.
 *
 * After each fault: the faulted node reported it in `status` and refused
 * submissions with a reason, it recovered without a restart (same pid),
 * every node stands at the same position, and every acknowledged
 * submission is at its acknowledged position on every node, as the same
 * envelope.
 */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/envelope.h"

#define ACKS_MAX 16384
#define SUBMIT_GAP_MS 4 /* at most 250 submissions/s, so a fast build stays under ACKS_MAX */

static const char *const ORGS[] = {"QHM", "RTD", "RX4"};
static const char *const KINDS[] = {"icb", "foundation_trust", "mental_health"};

/* ---- fixture -------------------------------------------------------------- */

typedef struct {
    uint64_t position;
    uint8_t id[32];
    char data[32];
} s_ack_t;

typedef struct {
    s_ack_t acks[ACKS_MAX];
    size_t n_acks;
    unsigned submitted;
    unsigned refused_storage; /* refused by a faulted node, saying why */
    unsigned next;            /* round robin over the nodes */
    char fault_file[600];
} s_run_t;

static s_run_t s_run;

static uint64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool s_have_leader(h_cluster_t *c, void *arg)
{
    (void)arg;
    return h_leader(c) >= 0;
}

/* ---- helpers ------------------------------------------------------------- */

/* Node i's view of the group: the storage fault ("" if none), position,
 * missing history. false if it does not answer. */
static bool s_group(h_cluster_t *c, int i, char *fault, size_t size, uint64_t *position,
                    uint64_t *missing)
{
    Ics__V1__StatusReply *st;
    Ics__V1__ControlResponse *resp;

    if (c->nodes[i].pid <= 0 || h_status(c, i, &st, &resp) != ICS_OK)
        return false;
    if (fault != NULL)
        snprintf(fault, size, "%s", st->groups[0]->storage_fault);
    if (position != NULL)
        *position = st->groups[0]->position;
    if (missing != NULL)
        *missing = st->groups[0]->history != NULL ? st->groups[0]->history->missing : 0;
    ics__v1__control_response__free_unpacked(resp, NULL);
    return true;
}

static bool s_faulted(h_cluster_t *c, void *arg)
{
    char fault[600] = "";
    return s_group(c, *(int *)arg, fault, sizeof fault, NULL, NULL) && fault[0] != '\0';
}

static bool s_healthy(h_cluster_t *c, void *arg)
{
    char fault[600] = "x";
    return s_group(c, *(int *)arg, fault, sizeof fault, NULL, NULL) && fault[0] == '\0';
}

/* Every live node healthy, at the same position, history complete, and no
 * lower than *arg. */
static bool s_converged(h_cluster_t *c, void *arg)
{
    uint64_t want = *(uint64_t *)arg, first = 0;

    for (int i = 0; i < c->n; i++) {
        char fault[600];
        uint64_t pos = 0, missing = 1;
        if (c->nodes[i].pid <= 0)
            continue;
        if (!s_group(c, i, fault, sizeof fault, &pos, &missing) || fault[0] != '\0' ||
            missing != 0 || pos < want)
            return false;
        if (first == 0)
            first = pos;
        else if (pos != first)
            return false;
    }
    return true;
}

/* One submission to the next node in turn; an acknowledgement is noted
 * with its position and entry id. */
static void s_submit_one(h_cluster_t *c, unsigned timeout_ms)
{
    Ics__V1__ControlResponse *resp = NULL;
    uint8_t token[16];
    char data[32];
    int node;

    static uint64_t last_ms;
    uint64_t now = s_now_ms();

    if (now < last_ms + SUBMIT_GAP_MS)
        h_sleep_ms((unsigned)(last_ms + SUBMIT_GAP_MS - now));
    last_ms = s_now_ms();
    do
        node = (int)(s_run.next++ % (unsigned)c->n);
    while (c->nodes[node].pid <= 0);
    snprintf(data, sizeof data, "df-%05u", s_run.submitted++);
    randombytes_buf(token, sizeof token);
    if (h_submit_raw(c, node, data, token, timeout_ms, &resp) != ICS_OK)
        return;
    if (resp->code == 0 && resp->body_case == ICS__V1__CONTROL_RESPONSE__BODY_SUBMIT) {
        s_ack_t *a = &s_run.acks[s_run.n_acks];
        assert_true(s_run.n_acks < ACKS_MAX);
        assert_true(resp->submit->accepted);
        a->position = resp->submit->position;
        assert_int_equal(resp->submit->entry_id.len, 32);
        memcpy(a->id, resp->submit->entry_id.data, 32);
        snprintf(a->data, sizeof a->data, "%s", data);
        s_run.n_acks++;
    } else if (resp->code != 0 && strstr(resp->error, "storage") != NULL) {
        s_run.refused_storage++;
    }
    ics__v1__control_response__free_unpacked(resp, NULL);
}

static void s_submit_for(h_cluster_t *c, unsigned ms)
{
    uint64_t until = s_now_ms() + ms;
    while (s_now_ms() < until)
        s_submit_one(c, 2000);
}

/* Every acknowledged submission is, on every live node, the entry at the
 * position it was acknowledged at. */
static void s_assert_acks_everywhere(h_cluster_t *c)
{
    for (int i = 0; i < c->n; i++) {
        if (c->nodes[i].pid <= 0)
            continue;
        for (size_t k = 0; k < s_run.n_acks; k++) {
            const s_ack_t *a = &s_run.acks[k];
            Ics__V1__ControlResponse *resp = NULL;
            uint8_t id[32];

            assert_int_equal(h_log(c, i, ICS__V1__LOG_REQUEST__OP__SHOW, a->position, 1, &resp),
                             ICS_OK);
            if (resp->code != 0 || resp->log == NULL || resp->log->n_entries != 1)
                fail_msg("%s: no entry at position %llu (%s acknowledged there): %s",
                         c->nodes[i].org, (unsigned long long)a->position, a->data,
                         resp->error);
            ics_entry_id(resp->log->entries[0]->envelope.data,
                         resp->log->entries[0]->envelope.len, id);
            if (memcmp(id, a->id, 32) != 0 || !resp->log->entries[0]->accepted)
                fail_msg("%s: position %llu holds another entry than %s, acknowledged there",
                         c->nodes[i].org, (unsigned long long)a->position, a->data);
            ics__v1__control_response__free_unpacked(resp, NULL);
        }
    }
}

/* Positions acknowledged are all different (nothing acknowledged twice). */
static void s_assert_acks_distinct(void)
{
    for (size_t i = 0; i < s_run.n_acks; i++)
        for (size_t j = i + 1; j < s_run.n_acks; j++)
            if (s_run.acks[i].position == s_run.acks[j].position)
                fail_msg("%s and %s both acknowledged at %llu", s_run.acks[i].data,
                         s_run.acks[j].data, (unsigned long long)s_run.acks[i].position);
}

static bool s_alive(h_cluster_t *c, int i)
{
    int status;
    return c->nodes[i].pid > 0 && waitpid(c->nodes[i].pid, &status, WNOHANG) == 0;
}

static bool s_log_has(h_cluster_t *c, int i, const char *text)
{
    return h_sh("grep -qF '%s' '%s'", text, c->nodes[i].log) == 0;
}

static void s_faults(const char *line)
{
    FILE *f = fopen(s_run.fault_file, "w");
    assert_non_null(f);
    fputs(line, f);
    fclose(f);
}

static int s_follower(h_cluster_t *c)
{
    int leader = h_leader(c);
    assert_true(leader >= 0);
    return (leader + 1) % c->n;
}

/* Injects mode on the files under node i's data directory whose path
 * there starts with sub (inject), or takes the fault as made already; waits
 * for it to show while submitting; then clears it, submits on, and waits
 * until i is back and every node level. */
static void s_fault_and_recover(h_cluster_t *c, int i, const char *mode, const char *sub,
                                bool inject, void (*clear)(void))
{
    pid_t pid = c->nodes[i].pid;
    uint64_t until, want;
    char line[700];
    bool seen = false;

    print_message("%s: %s on %s/%s\n", mode, c->nodes[i].org, c->nodes[i].data, sub);
    if (inject) {
        snprintf(line, sizeof line, "%s %s/%s\n", mode, c->nodes[i].data, sub);
        s_faults(line);
    }
    until = s_now_ms() + 20000;
    while (!seen && s_now_ms() < until) {
        s_submit_one(c, 1000);
        seen = s_faulted(c, &i);
    }
    if (!seen)
        fail_msg("%s: no storage fault reported", c->nodes[i].org);
    /* Refused with the reason while the fault lasts. */
    unsigned before = s_run.refused_storage;
    for (int k = 0; k < 3 * c->n; k++)
        s_submit_one(c, 1000);
    assert_true(s_run.refused_storage > before);
    s_submit_for(c, 1500);

    clear();
    print_message("cleared; %zu acknowledged so far, %u refused for storage\n", s_run.n_acks,
                  s_run.refused_storage);
    until = s_now_ms() + 30000;
    while (!s_healthy(c, &i) && s_now_ms() < until)
        s_submit_one(c, 1000);
    assert_true(s_healthy(c, &i));
    s_submit_for(c, 1500);

    /* No restart: the same process came back by itself. */
    assert_int_equal(c->nodes[i].pid, pid);
    assert_true(s_alive(c, i));
    assert_true(s_log_has(c, i, "storage failure"));
    assert_true(s_log_has(c, i, "raft reopened from disk"));
    assert_true(h_wait(s_have_leader, c, NULL, 15000));
    want = s_run.n_acks > 0 ? s_run.acks[s_run.n_acks - 1].position : 0;
    assert_true(h_wait(s_converged, c, &want, 30000));
    /* And it takes submissions again itself (its outbox too). */
    size_t acked = s_run.n_acks;
    for (int k = 0; k < 10 && s_run.n_acks == acked; k++) {
        s_run.next = (unsigned)i;
        s_submit_one(c, 3000);
    }
    if (s_run.n_acks == acked)
        fail_msg("%s takes no submissions after recovering", c->nodes[i].org);
}

/* ---- scenarios ------------------------------------------------------------ */

static void s_clear_injected(void)
{
    s_faults("");
}

static void injected_faults_on_follower_and_leader(void **state)
{
    h_cluster_t *c = *state;
    char asan[256];
    int f, l;

    memset(&s_run, 0, sizeof s_run);
    h_cluster_init(c, 3, ORGS, KINDS);
    snprintf(s_run.fault_file, sizeof s_run.fault_file, "%s/faults", c->dir);
    s_faults("");
    /* Every node runs with the injector; the control file says where. */
    setenv("LD_PRELOAD", FAULTINJECT_LIB, 1);
    setenv("ICS_FAULT_FILE", s_run.fault_file, 1);
    snprintf(asan, sizeof asan, "%s%sverify_asan_link_order=0:detect_leaks=1:exitcode=23",
             getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "",
             getenv("ASAN_OPTIONS") ? ":" : "");
    setenv("ASAN_OPTIONS", asan, 1);
    /* Snapshots often, so that faults meet snapshot puts too and the
     * reopened node starts from a snapshot (or is sent one). */
    for (int i = 0; i < 3; i++) {
        snprintf(c->nodes[i].extra, sizeof c->nodes[i].extra,
                 "snapshot_threshold = 64\nsnapshot_trailing = 32\n");
        h_start(c, i);
    }
    unsetenv("LD_PRELOAD");
    assert_true(h_wait(s_have_leader, c, NULL, 15000));
    s_submit_for(c, 1500);

    f = s_follower(c);
    s_fault_and_recover(c, f, "ENOSPC", "", true, s_clear_injected);
    /* The history alone (raft.db writes fine). */
    f = s_follower(c);
    s_fault_and_recover(c, f, "ENOSPC", "nenc/history.db", true, s_clear_injected);
    l = h_leader(c);
    assert_true(l >= 0);
    s_fault_and_recover(c, l, "EIO", "", true, s_clear_injected);
    /* fsync alone failing, on the leader again. */
    l = h_leader(c);
    assert_true(l >= 0);
    s_fault_and_recover(c, l, "FSYNC", "", true, s_clear_injected);

    print_message("%u submitted, %zu acknowledged, %u refused for storage\n", s_run.submitted,
                  s_run.n_acks, s_run.refused_storage);
    assert_true(s_run.n_acks >= 20);
    s_assert_acks_distinct();
    s_assert_acks_everywhere(c);
    for (int i = 0; i < 3; i++)
        assert_int_equal(h_stop(c, i), 0);
}

static char s_tmpfs[600];

static void s_free_tmpfs(void)
{
    assert_int_equal(h_sh("rm -f '%s/filler'", s_tmpfs), 0);
}

static void full_tmpfs_then_freed(void **state)
{
    h_cluster_t *c = *state;
    int f;

    memset(&s_run, 0, sizeof s_run);
    h_cluster_init(c, 3, ORGS, KINDS);
    if (geteuid() != 0) {
        print_message("skipped: mounting a tmpfs needs root\n");
        skip();
    }
    /* The follower-to-be is not known before the election: give every node
     * its own small tmpfs and fill the follower's. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(h_sh("mkdir -p '%s' && mount -t tmpfs -o size=64m,mode=0700 tmpfs '%s'",
                              c->nodes[i].data, c->nodes[i].data), 0);
    }
    for (int i = 0; i < 3; i++)
        h_start(c, i);
    assert_true(h_wait(s_have_leader, c, NULL, 15000));
    s_submit_for(c, 1500);
    f = s_follower(c);
    snprintf(s_tmpfs, sizeof s_tmpfs, "%s", c->nodes[f].data);
    /* dd stops at the end of the space: that is the point. */
    h_sh("dd if=/dev/zero of='%s/filler' bs=64k 2>/dev/null", s_tmpfs);
    s_fault_and_recover(c, f, "full tmpfs", "", false, s_free_tmpfs);
    assert_true(s_log_has(c, f, "database or disk is full"));

    s_assert_acks_distinct();
    s_assert_acks_everywhere(c);
    for (int i = 0; i < 3; i++)
        assert_int_equal(h_stop(c, i), 0);
}

static int s_teardown_tmpfs(void **state)
{
    h_cluster_t *c = *state;

    for (int i = 0; i < c->n; i++)
        h_kill(c, i);
    for (int i = 0; i < c->n; i++)
        h_sh("umount '%s' 2>/dev/null", c->nodes[i].data);
    return h_teardown(state);
}

static void removed_data_dir_stops_the_node(void **state)
{
    h_cluster_t *c = *state;
    uint64_t until;
    int f, status = 0;
    pid_t pid;
    bool gone = false;

    memset(&s_run, 0, sizeof s_run);
    h_cluster_init(c, 3, ORGS, KINDS);
    for (int i = 0; i < 3; i++)
        h_start(c, i);
    assert_true(h_wait(s_have_leader, c, NULL, 15000));
    s_submit_for(c, 1000);
    f = s_follower(c);
    pid = c->nodes[f].pid;
    assert_int_equal(h_sh("rm -rf '%s'", c->nodes[f].data), 0);
    until = s_now_ms() + 5000;
    while (!gone && s_now_ms() < until) {
        gone = waitpid(pid, &status, WNOHANG) == pid;
        if (!gone)
            h_sleep_ms(50);
    }
    if (!gone)
        fail_msg("%s still running 5 s after its data directory was removed",
                 c->nodes[f].org);
    c->nodes[f].pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_true(s_log_has(c, f, "has been removed while icsd was running"));
    /* The others carry on. */
    unsigned acked = (unsigned)s_run.n_acks;
    s_submit_for(c, 1000);
    assert_true(s_run.n_acks > acked);
    s_assert_acks_everywhere(c);
}

/* Flips one bit in the first copy of text in the file at path; true if found. */
static bool s_flip(const char *path, const char *text)
{
    FILE *fp = fopen(path, "r+b");
    size_t n = strlen(text), len;
    uint8_t *buf;
    bool found = false;

    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    len = (size_t)ftell(fp);
    buf = malloc(len);
    assert_non_null(buf);
    rewind(fp);
    assert_int_equal(fread(buf, 1, len, fp), len);
    for (size_t i = 0; i + n <= len && !found; i++) {
        if (memcmp(buf + i, text, n) == 0) {
            buf[i + n - 1] ^= 0x01;
            found = true;
        }
    }
    rewind(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    fclose(fp);
    free(buf);
    return found;
}

/* A bit flipped at rest in a follower's raft.db, in an entry committed
 * everywhere: the follower refuses to serve the group from it, says how to
 * recover, and recovering as it says brings it back level. */
static void corrupt_raft_db_is_refused(void **state)
{
    h_cluster_t *c = *state;
    char fault[600] = "", path[700], text[32];
    uint64_t want;
    int f;

    memset(&s_run, 0, sizeof s_run);
    h_cluster_init(c, 3, ORGS, KINDS);
    for (int i = 0; i < 3; i++)
        h_start(c, i);
    assert_true(h_wait(s_have_leader, c, NULL, 15000));
    while (s_run.n_acks < 30)
        s_submit_one(c, 2000);
    want = s_run.acks[s_run.n_acks - 1].position;
    assert_true(h_wait(s_converged, c, &want, 30000));
    f = s_follower(c);
    assert_int_equal(h_stop(c, f), 0);
    snprintf(path, sizeof path, "%s/%s/raft.db", c->nodes[f].data, c->group);
    snprintf(text, sizeof text, "%s", s_run.acks[20].data);
    assert_true(s_flip(path, text));

    h_start(c, f);
    assert_true(s_group(c, f, fault, sizeof fault, NULL, NULL));
    print_message("%s: %s\n", c->nodes[f].org, fault);
    assert_non_null(strstr(fault, "fails its checksum"));
    assert_non_null(strstr(fault, "move this group's data directory away"));
    assert_true(s_log_has(c, f, "fails its checksum"));
    /* What the operator sees. */
    assert_int_equal(h_sh(ICSCTL_BIN " -s '%s' status | grep -q \"STORAGE FAULT: .*fails its"
                          " checksum.*data directory away\"", c->nodes[f].control), 0);
    /* It takes no submissions, and says why. */
    {
        Ics__V1__ControlResponse *resp = NULL;
        uint8_t token[16];
        randombytes_buf(token, sizeof token);
        assert_int_equal(h_submit_raw(c, f, "refused", token, 1000, &resp), ICS_OK);
        assert_int_not_equal(resp->code, 0);
        assert_non_null(strstr(resp->error, "storage"));
        ics__v1__control_response__free_unpacked(resp, NULL);
    }
    /* The others carry on meanwhile. */
    s_submit_for(c, 1000);

    /* Recovery as the message says: move the directory away, start again. */
    assert_int_equal(h_stop(c, f), 0);
    assert_int_equal(h_sh("mv '%s' '%s.corrupt'", c->nodes[f].data, c->nodes[f].data), 0);
    h_start(c, f);
    s_submit_for(c, 1000);
    want = s_run.acks[s_run.n_acks - 1].position;
    assert_true(h_wait(s_converged, c, &want, 60000));
    s_assert_acks_distinct();
    s_assert_acks_everywhere(c);
    for (int i = 0; i < 3; i++)
        assert_int_equal(h_stop(c, i), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(injected_faults_on_follower_and_leader, h_setup,
                                        h_teardown),
        cmocka_unit_test_setup_teardown(full_tmpfs_then_freed, h_setup, s_teardown_tmpfs),
        cmocka_unit_test_setup_teardown(removed_data_dir_stops_the_node, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(corrupt_raft_db_is_refused, h_setup, h_teardown),
    };
    /* ICS_TEST_FILTER=name runs one scenario (e.g. while debugging it). */
    if (getenv("ICS_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("ICS_TEST_FILTER"));
    return cmocka_run_group_tests_name("cluster diskfault", tests, NULL, NULL);
}
