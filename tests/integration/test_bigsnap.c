/*
 * Catch-up by a snapshot larger than a frame. Three nodes run with
 * max_message_bytes = 65536 (the least the configuration allows) and a
 * log compacted every 16 entries. One is stopped while the others commit
 * entries of 3 KB, so that the snapshot it comes back to is several frames
 * long. It restarts, installs that snapshot (sent in chunks that each fit)
 * and ends with the same position and chain as the others; no raft message
 * was too large to send and no chunk was dropped.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>

static const char *const ORGS[] = {"QHM", "RTD", "RX4"};
static const char *const KINDS[] = {"icb", "foundation_trust", "mental_health"};

#define N_BIG 60
#define BIG_BYTES 3000

static bool s_have_leader(h_cluster_t *c, void *arg)
{
    (void)arg;
    return h_leader(c) >= 0;
}

static bool s_group(h_cluster_t *c, int i, uint64_t *position, uint8_t chain[32])
{
    Ics__V1__StatusReply *st;
    Ics__V1__ControlResponse *resp;
    bool ok = false;

    if (h_status(c, i, &st, &resp) != ICS_OK)
        return false;
    if (st->n_groups == 1 && st->groups[0]->chain.len == 32) {
        *position = st->groups[0]->position;
        memcpy(chain, st->groups[0]->chain.data, 32);
        ok = true;
    }
    ics__v1__control_response__free_unpacked(resp, NULL);
    return ok;
}

/* Every node at the same position (at least *want) with the same chain. */
static bool s_agree(h_cluster_t *c, void *arg)
{
    uint64_t want = *(uint64_t *)arg, pos[3];
    uint8_t chain[3][32];

    for (int i = 0; i < 3; i++)
        if (!s_group(c, i, &pos[i], chain[i]) || pos[i] < want)
            return false;
    return pos[0] == pos[1] && pos[1] == pos[2] && memcmp(chain[0], chain[1], 32) == 0 &&
           memcmp(chain[1], chain[2], 32) == 0;
}

/* A sample's value from a node's /metrics; 0 if absent. */
static double s_metric(int port, const char *sample)
{
    char *body = NULL, *p;
    double v = 0;

    assert_int_equal(h_http_get(port, "/metrics", &body), 200);
    p = strstr(body, sample);
    if (p != NULL)
        sscanf(p + strlen(sample), " %lf", &v);
    else
        fail_msg("no sample %s", sample);
    free(body);
    return v;
}

/* name{group="...",label} of node i, or summed over every node (i < 0). */
static double s_counter(h_cluster_t *c, const int ports[], int i, const char *name,
                        const char *label)
{
    char sample[200];
    double sum = 0;

    snprintf(sample, sizeof sample, "%s{group=\"%s\"%s%s}", name, c->group,
             label[0] ? "," : "", label);
    for (int j = 0; j < c->n; j++)
        if (i < 0 || i == j)
            sum += s_metric(ports[j], sample);
    return sum;
}

static void stopped_follower_installs_big_snapshot(void **state)
{
    h_cluster_t *c = *state;
    int ports[3];

    h_cluster_init(c, 3, ORGS, KINDS);
    for (int i = 0; i < 3; i++) {
        ports[i] = h_free_port();
        snprintf(c->nodes[i].extra, sizeof c->nodes[i].extra,
                 "snapshot_threshold = 16\nsnapshot_trailing = 4\n\n"
                 "[transport]\nmax_message_bytes = 65536");
        snprintf(c->nodes[i].node_extra, sizeof c->nodes[i].node_extra,
                 "http = 127.0.0.1:%d", ports[i]);
    }
    for (int i = 0; i < 3; i++)
        h_start(c, i);
    assert_true(h_wait(s_have_leader, c, NULL, 15000));
    int down = (h_leader(c) + 1) % 3, up = (down + 1) % 3;
    assert_int_equal(h_stop(c, down), 0);

    static char data[BIG_BYTES + 1];
    for (int k = 0; k < N_BIG; k++) {
        uint8_t token[16] = {0xb1, (uint8_t)k};
        Ics__V1__ControlResponse *resp = NULL;
        int n = snprintf(data, sizeof data, "big-%02d-", k);
        memset(data + n, 'a' + k % 26, BIG_BYTES - (size_t)n);
        data[BIG_BYTES] = '\0';
        assert_int_equal(h_submit_raw(c, up, data, token, 10000, &resp), ICS_OK);
        assert_int_equal(resp->code, 0);
        assert_true(resp->submit->accepted);
        ics__v1__control_response__free_unpacked(resp, NULL);
    }

    uint64_t want = 0;
    uint8_t chain[32];
    assert_true(s_group(c, up, &want, chain));
    h_start(c, down);
    assert_true(h_wait(s_agree, c, &want, 60000));
    assert_int_equal(h_sh("grep -q 'restored snapshot' '%s'", c->nodes[down].log), 0);

    /* It came in chunks, none too large and none dropped. */
    assert_true(s_counter(c, ports, down, "icsd_raft_snapshots_total", "direction=\"in\"") >= 1);
    double sent = s_counter(c, ports, -1, "icsd_raft_snapshots_total", "direction=\"out\"");
    double chunks =
        s_counter(c, ports, -1, "icsd_raft_snapshot_chunks_total", "direction=\"out\"");
    print_message("%.0f snapshot(s) sent in %.0f chunks\n", sent, chunks);
    assert_true(sent >= 1);
    assert_true(chunks >= 2 * sent);
    assert_true(s_counter(c, ports, -1, "icsd_raft_oversize_total", "") == 0);
    static const char *const causes[] = {"cause=\"unknown_transfer\"", "cause=\"out_of_order\"",
                                         "cause=\"invalid\"", "cause=\"too_big\""};
    for (size_t i = 0; i < sizeof causes / sizeof causes[0]; i++)
        assert_true(s_counter(c, ports, -1, "icsd_raft_snapshot_chunks_dropped_total",
                              causes[i]) == 0);

    for (int i = 0; i < 3; i++)
        assert_int_equal(h_stop(c, i), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(stopped_follower_installs_big_snapshot, h_setup, h_teardown),
    };
    return cmocka_run_group_tests_name("cluster big snapshot", tests, NULL, NULL);
}
