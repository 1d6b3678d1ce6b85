/*
 * Signed tree heads on running nodes: every node's checkpoint carries its
 * cosignature of the Merkle tree head at that position, the state machine
 * accepts them, a majority certifies the position, and the export's
 * verifier finds the certified head equal to the tree it recomputes.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>

static const char *const ORGS[] = {"QHM", "RTD", "RX4"};
static const char *const KINDS[] = {"icb", "foundation_trust", "mental_health"};

static bool s_have_leader(h_cluster_t *c, void *arg)
{
    (void)arg;
    return h_leader(c) >= 0;
}

/* Node 0's export verifies and names position 64 certified by all three. */
static bool s_certified_64(h_cluster_t *c, void *arg)
{
    const char *path = arg;
    return h_sh(ICSCTL_BIN " -s '%s' log export '%s' 2>/dev/null && " ICSCTL_BIN
                " log verify '%s' 2>&1 | grep -q 'certified by checkpoints up to position 64"
                " (3 of the voting members'", c->nodes[0].control, path, path) == 0;
}

static void checkpoints_cosign_the_tree_head(void **state)
{
    h_cluster_t *c = *state;
    char path[600];
    uint8_t token[16] = {0};

    h_cluster_init(c, 3, ORGS, KINDS);
    for (int i = 0; i < 3; i++)
        h_start(c, i);
    assert_true(h_wait(s_have_leader, c, NULL, 15000));
    for (int k = 0; k < 70; k++) {
        Ics__V1__ControlResponse *resp = NULL;
        char data[32];
        snprintf(data, sizeof data, "entry-%d", k);
        token[0] = (uint8_t)k;
        token[1] = 7;
        assert_int_equal(h_submit_raw(c, k % 3, data, token, 10000, &resp), ICS_OK);
        assert_int_equal(resp->code, 0);
        ics__v1__control_response__free_unpacked(resp, NULL);
    }
    snprintf(path, sizeof path, "%s/QHM.export", c->dir);
    assert_true(h_wait(s_certified_64, c, path, 30000));
    /* The tree head line, and the JSON report's certified root. */
    assert_int_equal(h_sh(ICSCTL_BIN " log verify '%s' | grep -q '^tree head: size '", path), 0);
    assert_int_equal(h_sh(ICSCTL_BIN " --json log verify '%s' | grep -q '\"certified_root\":\"'",
                          path), 0);
    /* A receipt from one node, checked offline; altered, it fails. */
    assert_int_equal(h_sh(ICSCTL_BIN " -s '%s' log prove 5 --out '%s/r5' 2>/dev/null",
                          c->nodes[1].control, c->dir), 0);
    assert_int_equal(h_sh(ICSCTL_BIN " log verify-receipt '%s/r5' | grep -q 'cosigned by 3 of"
                          " the 3 voting members'", c->dir), 0);
    assert_int_equal(h_sh("sed '2s/^entry 5 a /entry 5 r /' '%s/r5' > '%s/r5.bad'", c->dir,
                          c->dir), 0);
    assert_int_equal(h_sh(ICSCTL_BIN " log verify-receipt '%s/r5.bad' 2>&1 | grep -q 'FAILED'",
                          c->dir), 0);
    /* Another node's log extends the receipt's head. */
    assert_int_equal(h_sh(ICSCTL_BIN " -s '%s' log consistency '%s/r5' | grep -q '^ok: the log'",
                          c->nodes[2].control, c->dir), 0);
    /* Each node keeps the latest head it cosigned beside its history. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(h_sh("grep -q '^icsd-cosigned 1 nenc [1-9][0-9]* [0-9a-f]*$'"
                              " '%s/%s.data/nenc/cosigned'", c->dir, c->nodes[i].org), 0);
    /* No node saw a false tree head nor refused to cosign. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(h_sh("grep -q 'tree head mismatch\\|not cosigning' '%s/%s.log'",
                              c->dir, c->nodes[i].org), 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(h_stop(c, i), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(checkpoints_cosign_the_tree_head, h_setup, h_teardown),
    };
    return cmocka_run_group_tests_name("cluster tree heads", tests, NULL, NULL);
}
