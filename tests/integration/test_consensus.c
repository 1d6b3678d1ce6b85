/*
 * The consensus log across real processes: 1,000 submissions spread over
 * three nodes while the leader is killed with SIGKILL and restarted. Every
 * acknowledged submission is in the log exactly once, in the same order on
 * every node, and each node's export verifies offline.
 */
#include "harness.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "common/envelope.h"

/* ICS_SOAK_SUBMISSIONS raises the count for a soak run (deploy/soak.sh). */
#define MAX_SUBMISSIONS 200000

static const char *const ORGS[] = {"QHM", "RTD", "RX4"};
static const char *const KINDS[] = {"icb", "foundation_trust", "mental_health"};

static bool s_have_leader(h_cluster_t *c, void *arg)
{
    (void)arg;
    return h_leader(c) >= 0;
}

static uint64_t s_position(h_cluster_t *c, int i)
{
    Ics__V1__StatusReply *st;
    Ics__V1__ControlResponse *resp;
    uint64_t pos;
    if (h_status(c, i, &st, &resp) != ICS_OK)
        return 0;
    pos = st->groups[0]->position;
    ics__v1__control_response__free_unpacked(resp, NULL);
    return pos;
}

/* Positions still to backfill into node i's history. */
static uint64_t s_missing(h_cluster_t *c, int i)
{
    Ics__V1__StatusReply *st;
    Ics__V1__ControlResponse *resp;
    uint64_t n = UINT64_MAX;
    if (h_status(c, i, &st, &resp) != ICS_OK)
        return n;
    if (st->groups[0]->history != NULL)
        n = st->groups[0]->history->missing;
    ics__v1__control_response__free_unpacked(resp, NULL);
    return n;
}

/* Every node has applied up to *arg, holds its whole history, and they
 * stand at the same position. */
static bool s_converged(h_cluster_t *c, void *arg)
{
    uint64_t want = *(uint64_t *)arg;
    for (int i = 0; i < c->n; i++)
        if (s_position(c, i) < want || s_missing(c, i) != 0)
            return false;
    return s_position(c, 0) == s_position(c, 1) && s_position(c, 1) == s_position(c, 2);
}

/* Submits to one live node, retrying with the same token (so a retry can
 * never apply twice); returns true if acknowledged. */
static bool s_submit(h_cluster_t *c, int node, const char *data, bool *accepted)
{
    uint8_t token[16];
    randombytes_buf(token, sizeof token);
    for (int attempt = 0; attempt < 6; attempt++) {
        Ics__V1__ControlResponse *resp = NULL;
        if (h_submit_raw(c, node, data, token, 3000, &resp) != ICS_OK)
            continue;
        bool ok = resp->code == 0 && resp->body_case == ICS__V1__CONTROL_RESPONSE__BODY_SUBMIT;
        if (ok)
            *accepted = resp->submit->accepted;
        ics__v1__control_response__free_unpacked(resp, NULL);
        if (ok)
            return true;
    }
    return false;
}

static void s_export(h_cluster_t *c, int i, char *path, size_t size)
{
    snprintf(path, size, "%s/%s.export", c->dir, c->nodes[i].org);
    assert_int_equal(h_sh(ICSCTL_BIN " -s '%s' log export '%s' 2>/dev/null", c->nodes[i].control,
                          path), 0);
    assert_int_equal(h_sh(ICSCTL_BIN " log verify '%s' >/dev/null", path), 0);
}

/* Reads the raw payloads of accepted entries, in log order. */
static size_t s_accepted_raw(const char *path, char (*out)[32], size_t max)
{
    FILE *f = fopen(path, "r");
    char line[1 << 16];
    size_t n = 0;

    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL) {
        char acc[4], b64[1 << 15];
        unsigned long long pos, clock;
        char id[80], chain[80], reason[512];
        uint8_t env_bytes[1 << 14];
        size_t env_len = 0;
        if (sscanf(line, "e %llu %3s %79s %79s %llu %32767s %511s", &pos, acc, id, chain,
                   &clock, b64, reason) != 7 || strcmp(acc, "a") != 0)
            continue;
        if (sodium_base642bin(env_bytes, sizeof env_bytes, b64, strlen(b64), NULL, &env_len,
                              NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
            fail_msg("bad base64 at %llu", pos);
        Ics__V1__Envelope *env = NULL;
        Ics__V1__Command *cmd = NULL;
        assert_int_equal(ics_envelope_decode(env_bytes, env_len, &env, NULL), ICS_OK);
        if (ics_command_decode(env, &cmd, NULL) == ICS_OK) {
            if (cmd->body_case == ICS__V1__COMMAND__BODY_RAW && n < max) {
                snprintf(out[n], 32, "%.*s", (int)cmd->raw->data.len,
                         (const char *)cmd->raw->data.data);
                n++;
            }
            ics__v1__command__free_unpacked(cmd, NULL);
        }
        ics__v1__envelope__free_unpacked(env, NULL);
    }
    fclose(f);
    return n;
}

static void leader_killed_mid_stream(void **state)
{
    h_cluster_t *c = *state;
    const char *soak = getenv("ICS_SOAK_SUBMISSIONS");
    const int N_SUBMISSIONS = soak != NULL ? atoi(soak) : 1000;
    const int KILL_AT = N_SUBMISSIONS * 2 / 5;
    assert_true(N_SUBMISSIONS >= 10 && N_SUBMISSIONS <= MAX_SUBMISSIONS);
    static bool acked[MAX_SUBMISSIONS];
    static char seen[MAX_SUBMISSIONS * 2][32];
    char paths[3][600];
    int killed = -1;
    unsigned n_acked = 0;

    h_cluster_init(c, 3, ORGS, KINDS);
    for (int i = 0; i < 3; i++)
        h_start(c, i);
    assert_true(h_wait(s_have_leader, c, NULL, 15000));

    for (int k = 0; k < N_SUBMISSIONS; k++) {
        char data[32];
        bool accepted = false;
        if (k == KILL_AT) {
            killed = h_leader(c);
            assert_true(killed >= 0);
            print_message("killing leader %s at submission %d\n", c->nodes[killed].org, k);
            h_kill(c, killed);
        }
        if (k == KILL_AT + N_SUBMISSIONS * 3 / 20) {
            print_message("restarting %s\n", c->nodes[killed].org);
            h_start(c, killed);
        }
        snprintf(data, sizeof data, "sub-%04d", k);
        int node = k % 3;
        if (c->nodes[node].pid <= 0)
            node = (node + 1) % 3;
        if (s_submit(c, node, data, &accepted)) {
            assert_true(accepted);
            acked[k] = true;
            n_acked++;
        }
    }
    print_message("%u of %d submissions acknowledged\n", n_acked, N_SUBMISSIONS);
    assert_true(n_acked >= (unsigned)(N_SUBMISSIONS * 9 / 10));

    /* All nodes converge, and their exports are identical and verify. */
    uint64_t want = s_position(c, h_leader(c) >= 0 ? h_leader(c) : 0);
    assert_true(h_wait(s_converged, c, &want, 30000));
    for (int i = 0; i < 3; i++)
        s_export(c, i, paths[i], sizeof paths[i]);
    /* Nodes may have appended checkpoints since: compare the common prefix
     * by comparing the accepted raw entries, which are ours alone. */
    size_t n0 = s_accepted_raw(paths[0], seen, MAX_SUBMISSIONS * 2);
    for (int i = 1; i < 3; i++) {
        static char other[MAX_SUBMISSIONS * 2][32];
        size_t ni = s_accepted_raw(paths[i], other, MAX_SUBMISSIONS * 2);
        assert_int_equal(ni, n0);
        for (size_t j = 0; j < n0; j++)
            assert_string_equal(seen[j], other[j]);
    }
    /* Exactly once: every acknowledged submission appears once; nothing
     * appears twice. */
    for (int k = 0; k < N_SUBMISSIONS; k++) {
        char data[32];
        int count = 0;
        snprintf(data, sizeof data, "sub-%04d", k);
        for (size_t j = 0; j < n0; j++)
            if (strcmp(seen[j], data) == 0)
                count++;
        if (acked[k] && count != 1)
            fail_msg("%s acknowledged but present %d times", data, count);
        if (count > 1)
            fail_msg("%s present %d times", data, count);
    }
    /* A tampered export fails verification, naming the entry. */
    assert_int_equal(h_sh("sed '5s/ a / r /' '%s' > '%s.bad'", paths[0], paths[0]), 0);
    assert_int_equal(h_sh(ICSCTL_BIN " log verify '%s.bad' 2>&1 | grep -q FAILED", paths[0]), 0);

    for (int i = 0; i < 3; i++)
        assert_int_equal(h_stop(c, i), 0);
}

/* ---- batched entries --------------------------------------------------- */

#define BATCH_CLIENTS 24   /* 8 per node, all at once */
#define BATCH_EACH 10      /* submissions per client, one after another */
#define BATCH_MAX_POS 2048

typedef struct {
    h_cluster_t *c;
    int node, client;
    struct {
        char data[32];
        int rc, code;
        bool accepted;
        uint64_t position, seq;
        uint8_t entry_id[32];
    } sub[BATCH_EACH];
} s_batch_client_t;

static void *s_batch_client(void *arg)
{
    s_batch_client_t *bc = arg;
    for (int k = 0; k < BATCH_EACH; k++) {
        Ics__V1__ControlResponse *resp = NULL;
        uint8_t token[16];
        randombytes_buf(token, sizeof token);
        snprintf(bc->sub[k].data, sizeof bc->sub[k].data, "batch-%02d-%02d", bc->client, k);
        bc->sub[k].rc = h_submit_raw(bc->c, bc->node, bc->sub[k].data, token, 20000, &resp);
        if (bc->sub[k].rc != ICS_OK)
            continue;
        bc->sub[k].code = resp->code;
        if (resp->code == 0 && resp->body_case == ICS__V1__CONTROL_RESPONSE__BODY_SUBMIT) {
            bc->sub[k].accepted = resp->submit->accepted;
            bc->sub[k].position = resp->submit->position;
            bc->sub[k].seq = resp->submit->seq;
            if (resp->submit->entry_id.len == 32)
                memcpy(bc->sub[k].entry_id, resp->submit->entry_id.data, 32);
        }
        ics__v1__control_response__free_unpacked(resp, NULL);
    }
    return NULL;
}

/* One export line, by position: the envelope and its entry id. */
typedef struct {
    bool present;
    char id[65];
    uint8_t *env;
    size_t env_len;
} s_line_t;

static void s_read_export(const char *path, s_line_t *lines, size_t max)
{
    FILE *f = fopen(path, "r");
    static char line[1 << 16], b64[1 << 15];

    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL) {
        char acc[4], id[65], chain[80], reason[512];
        unsigned long long pos, clock;
        uint8_t bytes[1 << 14];
        size_t len = 0;
        if (sscanf(line, "e %llu %3s %64s %79s %llu %32767s %511s", &pos, acc, id, chain,
                   &clock, b64, reason) != 7 || pos >= max)
            continue;
        if (strcmp(b64, "-") != 0 &&
            sodium_base642bin(bytes, sizeof bytes, b64, strlen(b64), NULL, &len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0)
            fail_msg("bad base64 at %llu", pos);
        lines[pos].present = true;
        snprintf(lines[pos].id, sizeof lines[pos].id, "%s", id);
        lines[pos].env = malloc(len > 0 ? len : 1);
        memcpy(lines[pos].env, bytes, len);
        lines[pos].env_len = len;
    }
    fclose(f);
}

static void s_lines_free(s_line_t *lines, size_t max)
{
    for (size_t i = 0; i < max; i++)
        free(lines[i].env);
}

static uint64_t s_last_index(h_cluster_t *c, int i)
{
    Ics__V1__StatusReply *st;
    Ics__V1__ControlResponse *resp;
    uint64_t idx;
    if (h_status(c, i, &st, &resp) != ICS_OK)
        return 0;
    idx = st->groups[0]->last_index;
    ics__v1__control_response__free_unpacked(resp, NULL);
    return idx;
}

/* Submissions that arrive together go to raft together: many clients at
 * once, through every node, take fewer raft entries than audit positions,
 * and still each client gets its own result (the entry at the position it
 * was told is its own envelope, under the entry id and seq it was told),
 * and every node holds the same log, which verifies offline. */
static void concurrent_submissions_batched(void **state)
{
    h_cluster_t *c = *state;
    static s_batch_client_t bc[BATCH_CLIENTS];
    static s_line_t lines[3][BATCH_MAX_POS];
    static bool taken[BATCH_MAX_POS];
    pthread_t th[BATCH_CLIENTS];
    char paths[3][600];

    h_cluster_init(c, 3, ORGS, KINDS);
    for (int i = 0; i < 3; i++)
        h_start(c, i);
    assert_true(h_wait(s_have_leader, c, NULL, 15000));
    for (int t = 0; t < BATCH_CLIENTS; t++) {
        bc[t].c = c;
        bc[t].node = t % 3;
        bc[t].client = t;
        assert_int_equal(pthread_create(&th[t], NULL, s_batch_client, &bc[t]), 0);
    }
    for (int t = 0; t < BATCH_CLIENTS; t++)
        pthread_join(th[t], NULL);

    int leader = h_leader(c);
    assert_true(leader >= 0);
    uint64_t want = s_position(c, leader), last_index = s_last_index(c, leader);
    print_message("%d submissions: audit position %llu in %llu raft entries\n",
                  BATCH_CLIENTS * BATCH_EACH, (unsigned long long)want,
                  (unsigned long long)last_index);
    /* Without batches every envelope is a raft entry of its own, and raft
     * adds its configuration: the raft log is longer than the audit log. */
    assert_true(last_index < want);
    assert_true(h_wait(s_converged, c, &want, 30000));
    for (int i = 0; i < 3; i++) {
        s_export(c, i, paths[i], sizeof paths[i]);
        s_read_export(paths[i], lines[i], BATCH_MAX_POS);
    }
    for (size_t p = 1; p <= want && p < BATCH_MAX_POS; p++) {
        for (int i = 0; i < 3; i++)
            assert_true(lines[i][p].present);
        for (int i = 1; i < 3; i++)
            assert_string_equal(lines[i][p].id, lines[0][p].id);
    }
    for (int t = 0; t < BATCH_CLIENTS; t++) {
        for (int k = 0; k < BATCH_EACH; k++) {
            const char *org = c->nodes[bc[t].node].org;
            char hex[65];
            Ics__V1__Envelope *env = NULL;
            Ics__V1__Command *cmd = NULL;
            uint64_t p = bc[t].sub[k].position;

            if (bc[t].sub[k].rc != ICS_OK || bc[t].sub[k].code != 0)
                fail_msg("%s via %s: rc %d, code %d", bc[t].sub[k].data, org, bc[t].sub[k].rc,
                         bc[t].sub[k].code);
            assert_true(bc[t].sub[k].accepted);
            assert_true(p >= 1 && p <= want && p < BATCH_MAX_POS);
            if (taken[p])
                fail_msg("position %llu told to two submissions", (unsigned long long)p);
            taken[p] = true;
            sodium_bin2hex(hex, sizeof hex, bc[t].sub[k].entry_id, 32);
            assert_string_equal(lines[0][p].id, hex);
            assert_int_equal(ics_envelope_decode(lines[0][p].env, lines[0][p].env_len, &env,
                                                 NULL), ICS_OK);
            assert_string_equal(env->org, org);
            assert_int_equal(env->seq, bc[t].sub[k].seq);
            assert_int_equal(ics_command_decode(env, &cmd, NULL), ICS_OK);
            assert_int_equal(cmd->body_case, ICS__V1__COMMAND__BODY_RAW);
            assert_int_equal(cmd->raw->data.len, strlen(bc[t].sub[k].data));
            assert_memory_equal(cmd->raw->data.data, bc[t].sub[k].data, cmd->raw->data.len);
            /* A client's submissions are in the log in the order it made them. */
            if (k > 0)
                assert_true(p > bc[t].sub[k - 1].position);
            ics__v1__command__free_unpacked(cmd, NULL);
            ics__v1__envelope__free_unpacked(env, NULL);
        }
    }
    for (int i = 0; i < 3; i++) {
        s_lines_free(lines[i], BATCH_MAX_POS);
        assert_int_equal(h_stop(c, i), 0);
    }
}

/* A retry with the same token is applied once, even across a restart. */
static void retry_applies_once(void **state)
{
    h_cluster_t *c = *state;
    uint8_t token[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    Ics__V1__ControlResponse *a = NULL, *b = NULL;

    h_cluster_init(c, 3, ORGS, KINDS);
    for (int i = 0; i < 3; i++)
        h_start(c, i);
    assert_true(h_wait(s_have_leader, c, NULL, 15000));
    assert_int_equal(h_submit_raw(c, 1, "once", token, 5000, &a), ICS_OK);
    assert_int_equal(a->code, 0);
    assert_true(a->submit->accepted);
    assert_int_equal(h_stop(c, 1), 0);
    h_start(c, 1);
    assert_int_equal(h_submit_raw(c, 1, "once", token, 5000, &b), ICS_OK);
    assert_int_equal(b->code, 0);
    assert_int_equal(b->submit->position, a->submit->position);
    assert_int_equal(b->submit->seq, a->submit->seq);
    assert_memory_equal(b->submit->entry_id.data, a->submit->entry_id.data, 32);
    ics__v1__control_response__free_unpacked(a, NULL);
    ics__v1__control_response__free_unpacked(b, NULL);

    /* With no quorum the client hears so within its timeout. */
    h_kill(c, 0);
    h_kill(c, 2);
    uint8_t t2[16] = {9};
    assert_int_equal(h_submit_raw(c, 1, "lonely", t2, 1500, &a), ICS_OK);
    assert_int_equal(a->code, ICS_ETIMEDOUT);
    assert_non_null(strstr(a->error, "quorum"));
    ics__v1__control_response__free_unpacked(a, NULL);
    assert_int_equal(h_stop(c, 1), 0);
}

/* A node that was down while the others compacted their logs catches up
 * by snapshot install, and ends with the same state. */
static void lagging_node_installs_snapshot(void **state)
{
    h_cluster_t *c = *state;
    char paths[3][600];

    h_cluster_init(c, 3, ORGS, KINDS);
    for (int i = 0; i < 3; i++)
        snprintf(c->nodes[i].extra, sizeof c->nodes[i].extra,
                 "snapshot_threshold = 16\nsnapshot_trailing = 4");
    for (int i = 0; i < 3; i++)
        h_start(c, i);
    assert_true(h_wait(s_have_leader, c, NULL, 15000));
    int down = (h_leader(c) + 1) % 3, up = (down + 1) % 3;
    h_kill(c, down);
    for (int k = 0; k < 80; k++) {
        char data[32];
        bool accepted = false;
        snprintf(data, sizeof data, "while-away-%02d", k);
        assert_true(s_submit(c, up, data, &accepted));
        assert_true(accepted);
    }
    h_start(c, down);
    uint64_t want = s_position(c, up);
    assert_true(h_wait(s_converged, c, &want, 30000));
    assert_int_equal(h_sh("grep -q 'restored snapshot' '%s'", c->nodes[down].log), 0);
    for (int i = 0; i < 3; i++)
        s_export(c, i, paths[i], sizeof paths[i]);
    static char a[256][32], b[256][32];
    size_t na = s_accepted_raw(paths[up], a, 256), nb = s_accepted_raw(paths[down], b, 256);
    assert_int_equal(na, nb);
    assert_true(na >= 80);
    for (size_t j = 0; j < na; j++)
        assert_string_equal(a[j], b[j]);
    /* And it restarts from its own snapshot. */
    assert_int_equal(h_stop(c, down), 0);
    h_start(c, down);
    assert_true(h_wait(s_converged, c, &want, 30000));
    for (int i = 0; i < 3; i++)
        assert_int_equal(h_stop(c, i), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(retry_applies_once, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(concurrent_submissions_batched, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(lagging_node_installs_snapshot, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(leader_killed_mid_stream, h_setup, h_teardown),
    };
    return cmocka_run_group_tests_name("cluster consensus", tests, NULL, NULL);
}
