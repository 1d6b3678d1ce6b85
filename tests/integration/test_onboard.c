/*
 * Onboarding a partner, rotating a key and removing a partner, as
 * docs/onboarding.md describes them: the new organisation's node is
 * refused until the administrator admits it, then joins raft and catches
 * up; a rotated key is refused until the node restarts with the new key.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>

static const char *const ORGS[] = {"QHM", "RTD", "RX4", "E06000057"};
static const char *const KINDS[] = {"icb", "foundation_trust", "mental_health",
                                    "local_authority"};
enum { NEW = 3 };

static bool s_have_leader(h_cluster_t *c, void *arg)
{
    (void)arg;
    return h_leader(c) >= 0;
}

typedef struct {
    int node;
    const char *org;
    const char *role; /* raft role wanted */
    bool connected;
} want_t;

static bool s_peer(h_cluster_t *c, void *arg)
{
    want_t *w = arg;
    Ics__V1__StatusReply *st;
    Ics__V1__ControlResponse *resp;
    bool ok = false;
    if (h_status(c, w->node, &st, &resp) != ICS_OK)
        return false;
    for (size_t i = 0; i < st->groups[0]->n_peers; i++) {
        const Ics__V1__PeerStatus *p = st->groups[0]->peers[i];
        if (strcmp(p->org, w->org) == 0)
            ok = p->connected == w->connected &&
                 (w->role == NULL || strcmp(p->raft_role, w->role) == 0);
    }
    ics__v1__control_response__free_unpacked(resp, NULL);
    return ok;
}

static uint64_t s_position(h_cluster_t *c, int i)
{
    Ics__V1__StatusReply *st;
    Ics__V1__ControlResponse *resp;
    uint64_t pos = 0;
    if (h_status(c, i, &st, &resp) == ICS_OK) {
        pos = st->groups[0]->position;
        ics__v1__control_response__free_unpacked(resp, NULL);
    }
    return pos;
}

static bool s_caught_up(h_cluster_t *c, void *arg)
{
    int i = *(int *)arg;
    uint64_t p0 = s_position(c, 0);
    return p0 > 0 && s_position(c, i) == p0;
}

static uint64_t s_refused(h_cluster_t *c, int i)
{
    Ics__V1__StatusReply *st;
    Ics__V1__ControlResponse *resp;
    uint64_t n = 0;
    if (h_status(c, i, &st, &resp) == ICS_OK) {
        n = st->refused;
        ics__v1__control_response__free_unpacked(resp, NULL);
    }
    return n;
}

static bool s_refusing(h_cluster_t *c, void *arg)
{
    (void)arg;
    return s_refused(c, 0) > 0;
}


static bool s_switched(h_cluster_t *c, void *arg)
{
    return h_sh("grep -q 'switched to the rotated key' '%s'", c->nodes[*(int *)arg].log) == 0;
}

/* Submits through node i, retrying up to three times with one token. */
/* The same token each time, so that an attempt that timed out but was
 * applied is answered, not applied twice; a node that refuses at once
 * (still finding its leader) is given a second between attempts. */
static bool s_submit_retrying(h_cluster_t *c, int i, const char *text)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        if (attempt > 0)
            h_sleep_ms(1000);
        if (h_sh(ICSCTL_BIN " -s '%s' --timeout 10000 --token 0123456789abcdef%016x "
                 "submit '%s' 2>/dev/null | grep -q accepted",
                 c->nodes[i].control, (unsigned)strlen(text), text) == 0)
            return true;
    }
    return false;
}

static void onboard_rekey_remove(void **state)
{
    h_cluster_t *c = *state;
    char newkey[600], pub[ICS_PUBKEY_TEXT_MAX];
    ics_err_t err;

    h_cluster_init(c, 4, ORGS, KINDS);
    for (int i = 0; i < 3; i++)
        c->nodes[i].members = 0x7;
    c->nodes[NEW].members = 0xF;
    snprintf(c->nodes[NEW].group_extra, sizeof c->nodes[NEW].group_extra, "join = yes");
    for (int i = 0; i < 3; i++)
        h_start(c, i);
    assert_true(h_wait(s_have_leader, c, NULL, 15000));

    /* Until admitted, the new organisation's connections are refused. */
    h_start(c, NEW);
    assert_true(h_wait(s_refusing, c, NULL, 8000));
    assert_int_equal(s_position(c, NEW), 0);

    /* Only the administrator (QHM) may admit it. */
    assert_int_equal(h_sh(ICSCTL_BIN " -s '%s' member add E06000057 --kind local_authority "
                          "--name 'Northumberland County Council' --endpoint tcp://127.0.0.1:%d "
                          "--key %s | grep -q rejected",
                          c->nodes[1].control, c->nodes[NEW].port, c->nodes[NEW].pub), 0);
    assert_int_equal(h_sh(ICSCTL_BIN " -s '%s' member add E06000057 --kind local_authority "
                          "--name 'Northumberland County Council' --endpoint tcp://127.0.0.1:%d "
                          "--key %s >/dev/null",
                          c->nodes[0].control, c->nodes[NEW].port, c->nodes[NEW].pub), 0);

    /* It joins raft as a voter and catches up. */
    int n = NEW;
    want_t voter = {0, "E06000057", "voter", true};
    assert_true(h_wait(s_peer, c, &voter, 20000));
    assert_true(h_wait(s_caught_up, c, &n, 20000));
    assert_int_equal(h_sh(ICSCTL_BIN " -s '%s' members | grep -q E06000057",
                          c->nodes[NEW].control), 0);
    /* And it can submit. */
    assert_int_equal(h_sh(ICSCTL_BIN " -s '%s' submit 'hello from Northumberland' >/dev/null",
                          c->nodes[NEW].control), 0);

    /* A node that restarts lets in the members it had applied before any
     * leader has told it what is committed (raft applies nothing until
     * then): RTD's configuration does not list E06000057, yet with no
     * leader to be had (QHM and RX4 are down) the two must connect. Were
     * E06000057 the leader, RTD would otherwise never hear from it. */
    assert_int_equal(h_stop(c, 1), 0);
    assert_int_equal(h_stop(c, 0), 0);
    assert_int_equal(h_stop(c, 2), 0);
    h_start(c, 1);
    want_t link = {1, "E06000057", NULL, true};
    assert_true(h_wait(s_peer, c, &link, 10000));
    assert_int_equal(s_refused(c, 1), 0);
    h_start(c, 0);
    h_start(c, 2);
    assert_true(h_wait(s_have_leader, c, NULL, 15000));
    assert_true(h_wait(s_caught_up, c, &(int){1}, 20000));

    /* Key rotation: RTD prepares its next key beside the current one and
     * asks for it to be put in force; its node switches when the entry
     * applies, and keeps working without a restart. */
    snprintf(newkey, sizeof newkey, "%s.next", c->nodes[1].key);
    assert_int_equal(ics_identity_generate(newkey, pub, &err), ICS_OK);
    assert_int_equal(h_sh(ICSCTL_BIN " -s '%s' member rekey RTD --key %s >/dev/null",
                          c->nodes[1].control, pub), 0);
    assert_true(h_wait(s_switched, c, &(int){1}, 10000));
    /* The partners pick up the new key as they apply the same entry; a
     * retry with the same token is safe while they do. */
    assert_true(s_submit_retrying(c, 1, "new key"));
    /* A restart with the old public key still in its configuration works:
     * the rotated-away key is kept as .old. */
    assert_int_equal(h_stop(c, 1), 0);
    h_start(c, 1);
    assert_true(h_wait(s_caught_up, c, &(int){1}, 20000));
    assert_true(s_submit_retrying(c, 1, "after restart"));

    /* Removal: the partner leaves raft and the members list. */
    assert_int_equal(h_sh(ICSCTL_BIN " -s '%s' member remove E06000057 >/dev/null",
                          c->nodes[0].control), 0);
    want_t gone = {0, "E06000057", "", false};
    assert_true(h_wait(s_peer, c, &gone, 20000) ||
                h_sh(ICSCTL_BIN " -s '%s' members | grep -vq E06000057", c->nodes[0].control) == 0);
    assert_int_equal(h_sh(ICSCTL_BIN " -s '%s' members | grep -q E06000057", c->nodes[0].control),
                     1);

    for (int i = 0; i < 4; i++)
        assert_int_equal(h_stop(c, i), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(onboard_rekey_remove, h_setup, h_teardown),
    };
    return cmocka_run_group_tests_name("cluster onboarding", tests, NULL, NULL);
}
