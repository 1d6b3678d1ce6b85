/*
 * Three organisations' nodes on loopback find and authenticate each other;
 * a fourth whose key no member configured is refused; a killed peer shows
 * disconnected and comes back when restarted.
 */
#include "harness.h"

#include <string.h>

static const char *const ORGS[] = {"QHM", "RTD", "RX4", "RX6"};
static const char *const KINDS[] = {"icb", "foundation_trust", "mental_health", "ambulance"};

typedef struct {
    int node;
    const char *peer;
    bool connected;
    bool need_rtt;
} peer_want_t;

/* Does node see peer in the wanted state (and with an RTT if asked)? */
static bool s_peer_is(h_cluster_t *c, void *arg)
{
    peer_want_t *w = arg;
    Ics__V1__StatusReply *st;
    Ics__V1__ControlResponse *resp;
    bool ok = false, found = false;

    if (h_status(c, w->node, &st, &resp) != ICS_OK)
        return false;
    for (size_t i = 0; i < st->groups[0]->n_peers; i++) {
        const Ics__V1__PeerStatus *p = st->groups[0]->peers[i];
        if (strcmp(p->org, w->peer) != 0)
            continue;
        found = true;
        ok = p->connected == w->connected && (!w->need_rtt || p->rtt_us > 0);
    }
    ics__v1__control_response__free_unpacked(resp, NULL);
    return found && ok;
}

#define ASSERT_PEER(c, i, peer_, conn, rtt)                                                \
    do {                                                                                 \
        peer_want_t w_ = {(i), (peer_), (conn), (rtt)};                                  \
        if (!h_wait(s_peer_is, (c), &w_, 8000))                                          \
            fail_msg("%s does not see %s %s", (c)->nodes[i].org, (peer_),                \
                     (conn) ? "connected" : "disconnected");                             \
    } while (0)

static uint64_t s_refused(h_cluster_t *c, int i)
{
    Ics__V1__StatusReply *st;
    Ics__V1__ControlResponse *resp;
    uint64_t n;
    assert_int_equal(h_status(c, i, &st, &resp), ICS_OK);
    n = st->refused;
    ics__v1__control_response__free_unpacked(resp, NULL);
    return n;
}

static bool s_refused_some(h_cluster_t *c, void *arg)
{
    return s_refused(c, *(int *)arg) > 0;
}

static void three_nodes_authenticate_and_recover(void **state)
{
    h_cluster_t *c = *state;

    h_cluster_init(c, 4, ORGS, KINDS);
    for (int i = 0; i < 3; i++)
        c->nodes[i].members = 0x7; /* QHM RTD RX4 */
    c->nodes[3].members = 0x9;     /* the rogue thinks it is in with QHM */
    for (int i = 0; i < 3; i++)
        h_start(c, i);

    /* Everyone sees everyone, with a round-trip time from signed pings. */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (i != j)
                ASSERT_PEER(c, i, ORGS[j], true, true);

    /* A node with a key nobody configured is refused, and sees nobody. */
    assert_int_equal(s_refused(c, 0), 0);
    h_start(c, 3);
    int zero = 0;
    assert_true(h_wait(s_refused_some, c, &zero, 8000));
    ASSERT_PEER(c, 3, "QHM", false, false);
    {
        Ics__V1__StatusReply *st;
        Ics__V1__ControlResponse *resp;
        assert_int_equal(h_status(c, 0, &st, &resp), ICS_OK);
        assert_int_equal(st->groups[0]->n_peers, 2); /* RX6 is no peer of QHM */
        ics__v1__control_response__free_unpacked(resp, NULL);
    }
    /* Logged once per key, however often it retries. */
    h_sleep_ms(1500);
    assert_int_equal(h_sh("test $(grep -c 'refused connection' '%s') -eq 1", c->nodes[0].log), 0);
    assert_int_equal(h_stop(c, 3), 0);

    /* A killed peer shows disconnected, then connected again on restart. */
    h_kill(c, 2);
    ASSERT_PEER(c, 0, "RX4", false, false);
    ASSERT_PEER(c, 1, "RX4", false, false);
    h_start(c, 2);
    ASSERT_PEER(c, 0, "RX4", true, true);
    ASSERT_PEER(c, 1, "RX4", true, true);
    ASSERT_PEER(c, 2, "QHM", true, true);

    /* icsctl shows the same, as text and JSON. */
    assert_int_equal(h_sh(ICSCTL_BIN " -s '%s' status | grep -q 'RTD .*connected'",
                          c->nodes[0].control), 0);
    assert_int_equal(h_sh(ICSCTL_BIN " -s '%s' status --json | grep -q '\"org\":\"QHM\"'",
                          c->nodes[0].control), 0);

    /* Clean shutdown: exit status 0 (and no leaks under the sanitizers). */
    for (int i = 0; i < 3; i++)
        assert_int_equal(h_stop(c, i), 0);
}

static void icsctl_without_a_node(void **state)
{
    (void)state;
    /* Clear message and exit status 1 when the node is not running. */
    assert_int_equal(h_sh(ICSCTL_BIN " -s ipc:///tmp/icsd-no-such.sock status 2>&1 | "
                          "grep -q 'icsd is not running'"), 0);
    assert_int_equal(h_sh(ICSCTL_BIN " -s ipc:///tmp/icsd-no-such.sock status 2>/dev/null"), 1);
    /* Usage errors exit 2; --help for a command exits 0. */
    assert_int_equal(h_sh(ICSCTL_BIN " frobnicate 2>/dev/null"), 2);
    assert_int_equal(h_sh(ICSCTL_BIN " log show notanumber 2>/dev/null"), 2);
    assert_int_equal(h_sh(ICSCTL_BIN " status --help | grep -q 'Usage: icsctl'"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(three_nodes_authenticate_and_recover, h_setup, h_teardown),
        cmocka_unit_test(icsctl_without_a_node),
    };
    return cmocka_run_group_tests_name("cluster transport", tests, NULL, NULL);
}
