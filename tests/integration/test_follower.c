/*
 * Read-your-writes through a follower, across real processes. A submission
 * made through a follower is forwarded to the leader, and its answer comes
 * only once that follower has applied the entry: a read on the same
 * follower right after the answer already shows it, at the position the
 * answer named, as the same entry. This holds through the control protocol
 * and through icsctl, and for a submission made just as the leader is
 * killed. How long a submission takes is the benchmark's business
 * (deploy/bench.sh --via follower), not this test's.
 */
#include "harness.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "common/envelope.h"

static const char *const ORGS[] = {"QHM", "RTD", "RX4"};
static const char *const KINDS[] = {"icb", "foundation_trust", "mental_health"};

static bool s_have_leader(h_cluster_t *c, void *arg)
{
    (void)arg;
    return h_leader(c) >= 0;
}

/* Node i's view of the group: its audit position and raft applied index. */
static void s_view(h_cluster_t *c, int i, uint64_t *position, uint64_t *applied)
{
    Ics__V1__StatusReply *st;
    Ics__V1__ControlResponse *resp;
    assert_int_equal(h_status(c, i, &st, &resp), ICS_OK);
    assert_true(st->n_groups > 0);
    *position = st->groups[0]->position;
    *applied = st->groups[0]->applied_index;
    ics__v1__control_response__free_unpacked(resp, NULL);
}

/* Node i's log shows, at position, the entry with this id, signed by org. */
#define ASSERT_SHOWS(c, i, position, id, org) s_assert_shows(c, i, position, id, org)
static void s_assert_shows(h_cluster_t *c, int i, uint64_t position, const uint8_t id[32],
                           const char *org)
{
    Ics__V1__ControlResponse *resp = NULL;
    Ics__V1__Envelope *env = NULL;
    uint8_t got[32];

    assert_int_equal(h_log(c, i, ICS__V1__LOG_REQUEST__OP__SHOW, position, 0, &resp), ICS_OK);
    assert_int_equal(resp->code, 0);
    assert_int_equal(resp->body_case, ICS__V1__CONTROL_RESPONSE__BODY_LOG);
    assert_int_equal(resp->log->n_entries, 1);
    const Ics__V1__LogEntry *e = resp->log->entries[0];
    assert_int_equal(e->position, position);
    ics_entry_id(e->envelope.data, e->envelope.len, got);
    assert_memory_equal(got, id, sizeof got);
    assert_int_equal(ics_envelope_decode(e->envelope.data, e->envelope.len, &env, NULL), ICS_OK);
    assert_string_equal(env->org, org);
    ics__v1__envelope__free_unpacked(env, NULL);
    ics__v1__control_response__free_unpacked(resp, NULL);
}

/* Submits through node i (the same token on every attempt, so that it
 * applies once) and checks, as soon as the answer is in, that node i
 * already shows the entry. Returns its position. */
static uint64_t s_submit_and_read(h_cluster_t *c, int i, const char *data, unsigned timeout_ms)
{
    Ics__V1__ControlResponse *resp = NULL;
    uint8_t token[16], id[32];
    uint64_t position, index, seen, applied;

    randombytes_buf(token, sizeof token);
    for (int attempt = 0; resp == NULL && attempt < 3; attempt++)
        if (h_submit_raw(c, i, data, token, timeout_ms, &resp) != ICS_OK)
            resp = NULL;
    assert_non_null(resp);
    assert_int_equal(resp->code, 0);
    assert_int_equal(resp->body_case, ICS__V1__CONTROL_RESPONSE__BODY_SUBMIT);
    assert_true(resp->submit->accepted);
    assert_string_equal(resp->submit->org, c->nodes[i].org);
    position = resp->submit->position;
    index = resp->submit->index;
    assert_int_equal(resp->submit->entry_id.len, sizeof id);
    memcpy(id, resp->submit->entry_id.data, sizeof id);
    ics__v1__control_response__free_unpacked(resp, NULL);

    s_view(c, i, &seen, &applied);
    assert_true(seen >= position);
    if (index != 0)
        assert_true(applied >= index);
    ASSERT_SHOWS(c, i, position, id, c->nodes[i].org);
    return position;
}

/* The value of "key": "..." in a line of icsctl's JSON. */
static bool s_json_str(const char *json, const char *key, char *out, size_t size)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(json, pat);
    if (p == NULL || (p = strchr(p + strlen(pat), '"')) == NULL)
        return false;
    const char *end = strchr(++p, '"');
    if (end == NULL || (size_t)(end - p) >= size)
        return false;
    snprintf(out, size, "%.*s", (int)(end - p), p);
    return true;
}

static bool s_json_u64(const char *json, const char *key, unsigned long long *out)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(json, pat);
    return p != NULL && (p = strchr(p, ':')) != NULL && sscanf(p + 1, " %llu", out) == 1;
}

/* Runs an icsctl command line against node i; returns what it printed. */
static void s_icsctl(h_cluster_t *c, int i, const char *args, char *out, size_t size)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s -s '%s' --json %s 2>&1", ICSCTL_BIN, c->nodes[i].control,
             args);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    if (st != 0)
        fail_msg("%s: exit status %d: %s", cmd, st, out);
}

static int s_follower(h_cluster_t *c, int leader, int skip)
{
    for (int i = 0; i < c->n; i++)
        if (i != leader && i != skip && c->nodes[i].pid > 0)
            return i;
    return -1;
}

/* ---- scenarios --------------------------------------------------------- */

static void follower_reads_its_own_writes(void **state)
{
    h_cluster_t *c = *state;
    char data[64];

    h_cluster_init(c, 3, ORGS, KINDS);
    for (int i = 0; i < 3; i++)
        h_start(c, i);
    assert_true(h_wait(s_have_leader, c, NULL, 15000));
    int leader = h_leader(c);
    int a = s_follower(c, leader, -1), b = s_follower(c, leader, a);
    assert_true(a >= 0 && b >= 0);

    /* Alternating followers, each reading right after its own answer. */
    uint64_t last = 0;
    for (int k = 0; k < 40; k++) {
        int via = k % 2 ? b : a;
        snprintf(data, sizeof data, "ryw-%d", k);
        uint64_t pos = s_submit_and_read(c, via, data, 10000);
        assert_true(pos > last);
        last = pos;
    }
    /* The leader's own submissions too. */
    s_submit_and_read(c, leader, "ryw-leader", 10000);

    for (int i = 0; i < 3; i++)
        assert_int_equal(h_stop(c, i), 0);
}

static void icsctl_reads_its_own_writes_on_a_follower(void **state)
{
    h_cluster_t *c = *state;
    char out[8192], args[256], id[80], shown[80];
    unsigned long long pos = 0, at = 0;

    h_cluster_init(c, 3, ORGS, KINDS);
    for (int i = 0; i < 3; i++)
        h_start(c, i);
    assert_true(h_wait(s_have_leader, c, NULL, 15000));
    int f = s_follower(c, h_leader(c), -1);

    for (int k = 0; k < 5; k++) {
        snprintf(args, sizeof args, "submit icsctl-ryw-%d", k);
        s_icsctl(c, f, args, out, sizeof out);
        assert_true(s_json_u64(out, "index", &pos));
        assert_true(s_json_str(out, "entry_id", id, sizeof id));
        snprintf(args, sizeof args, "log show %llu", pos);
        s_icsctl(c, f, args, out, sizeof out);
        assert_true(s_json_u64(out, "index", &at));
        assert_int_equal(at, pos);
        assert_true(s_json_str(out, "entry_id", shown, sizeof shown));
        assert_string_equal(shown, id);
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(h_stop(c, i), 0);
}

/* Submitted through a follower just as the leader dies: the answer comes
 * once a new leader has committed it and this follower has applied it. */
static void follower_reads_its_own_writes_across_a_new_leader(void **state)
{
    h_cluster_t *c = *state;

    h_cluster_init(c, 3, ORGS, KINDS);
    for (int i = 0; i < 3; i++)
        h_start(c, i);
    assert_true(h_wait(s_have_leader, c, NULL, 15000));
    for (int round = 0; round < 2; round++) {
        int leader = h_leader(c);
        int f = s_follower(c, leader, -1);
        s_submit_and_read(c, f, "before", 10000);
        h_kill(c, leader);
        s_submit_and_read(c, f, "during", 30000);
        assert_true(h_wait(s_have_leader, c, NULL, 15000));
        int g = s_follower(c, h_leader(c), -1);
        if (g >= 0)
            s_submit_and_read(c, g, "after", 10000);
        h_start(c, leader);
        assert_true(h_wait(s_have_leader, c, NULL, 15000));
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(h_stop(c, i), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(follower_reads_its_own_writes, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(icsctl_reads_its_own_writes_on_a_follower, h_setup,
                                        h_teardown),
        cmocka_unit_test_setup_teardown(follower_reads_its_own_writes_across_a_new_leader, h_setup,
                                        h_teardown),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
