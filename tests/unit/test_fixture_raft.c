/*
 * The consensus log under faults, in canonical raft's deterministic
 * fixture: the real state machine on 3 and 5 servers, a seeded workload of
 * signed entries from every organisation (plus replays and forgeries),
 * random disconnections, saturated links, kills, revivals and disk
 * latency. Asserts what the issue promises:
 *   - every server reaches the same position, chain and state;
 *   - no entry that a leader reported applied is ever lost, and none is
 *     accepted twice (retries of the same bytes are deduplicated);
 *   - each organisation's entries appear in the order the log gave them,
 *     identically everywhere (the chain covers order);
 *   - forgeries and replays are rejected and change nothing.
 * A failure prints its seed. Long run:
 *   ICS_FIXTURE_SEEDS=1000 tests/test_fixture_raft    (deploy/fixture-soak.sh)
 */
#include "fixture_fsm.h"

#include <raft.h>
#include <raft/fixture.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"

#define GROUP "nenc"

static const char *const s_ids[] = {"QHM", "RTD", "RX4", "E06000057", "RX6"};
static const char *const s_kinds[] = {"icb", "foundation_trust", "mental_health",
                                      "local_authority", "ambulance"};

typedef struct {
    uint8_t *buf;
    size_t len;
    int ticket;
    unsigned tries;
    bool applied;      /* a leader reported it applied */
    bool hostile;      /* forged: must never be accepted */
    char data[32];
} s_entry_t;

typedef struct {
    fx_cluster_t *c;
    uint64_t *rng;
    fx_org_t orgs[5];
    size_t n;
    s_entry_t *q;
    size_t nq, cap;
} s_wl_t;

static s_entry_t *s_push(s_wl_t *w)
{
    if (w->nq == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 256;
        w->q = realloc(w->q, w->cap * sizeof *w->q);
    }
    s_entry_t *e = &w->q[w->nq++];
    memset(e, 0, sizeof *e);
    e->ticket = -1;
    return e;
}

static void s_raw(s_wl_t *w, fx_org_t *org, const char *data, s_entry_t *e)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Raw raw = ICS__V1__RAW__INIT;
    raw.data.data = (uint8_t *)data;
    raw.data.len = strlen(data);
    cmd.body_case = ICS__V1__COMMAND__BODY_RAW;
    cmd.raw = &raw;
    e->buf = fx_seal(GROUP, org, "tester", FX_EPOCH_MS + fx_cluster_time(w->c), &cmd, &e->len);
    snprintf(e->data, sizeof e->data, "%s", data);
}

static void s_genesis(s_wl_t *w)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Genesis g = ICS__V1__GENESIS__INIT;
    Ics__V1__MemberAdd m[5], *mp[5];
    for (size_t i = 0; i < w->n; i++) {
        ics__v1__member_add__init(&m[i]);
        m[i].org = (char *)w->orgs[i].id;
        m[i].kind = (char *)w->orgs[i].kind;
        m[i].name = (char *)w->orgs[i].id;
        m[i].endpoint = (char *)"tcp://127.0.0.1:1";
        m[i].public_key.data = (uint8_t *)ics_identity_public(w->orgs[i].key);
        m[i].public_key.len = ICS_PK_BYTES;
        mp[i] = &m[i];
    }
    g.group = (char *)GROUP;
    g.members = mp;
    g.n_members = w->n;
    g.admin = (char *)w->orgs[0].id;
    cmd.body_case = ICS__V1__COMMAND__BODY_GENESIS;
    cmd.genesis = &g;
    s_entry_t *e = s_push(w);
    e->buf = fx_seal(GROUP, &w->orgs[0], "icsd", FX_EPOCH_MS, &cmd, &e->len);
    snprintf(e->data, sizeof e->data, "genesis");
}

/* One random step of the workload: a fresh entry, a replay of an earlier
 * one's exact bytes, or a forgery (another organisation's name, our key). */
static void s_random(s_wl_t *w, unsigned k)
{
    uint64_t r = fx_rand(w->rng) % 20;
    fx_org_t *org = &w->orgs[fx_rand(w->rng) % w->n];
    char data[32];

    if (r == 0 && w->nq > 1) {
        size_t from = 1 + fx_rand(w->rng) % (w->nq - 1);
        s_entry_t *e = s_push(w);
        const s_entry_t *src = &w->q[from]; /* after s_push: it may move the array */
        e->len = src->len;
        e->buf = malloc(e->len);
        memcpy(e->buf, src->buf, e->len);
        snprintf(e->data, sizeof e->data, "%s", src->data);
        e->hostile = src->hostile;
        return;
    }
    snprintf(data, sizeof data, "entry-%u", k);
    s_entry_t *e = s_push(w);
    if (r == 1) {
        fx_org_t forger = *org;
        forger.id = w->orgs[(org - w->orgs + 1) % w->n].id; /* claims to be the next org */
        forger.seq = 1000000 + k;
        snprintf(data, sizeof data, "forged-%u", k);
        s_raw(w, &forger, data, e);
        e->hostile = true;
        return;
    }
    s_raw(w, org, data, e);
}

static void s_pump(s_wl_t *w)
{
    for (size_t i = 0; i < w->nq; i++) {
        s_entry_t *e = &w->q[i];
        if (e->ticket >= 0) {
            int st = fx_cluster_ticket(w->c, e->ticket);
            if (st == 1)
                e->applied = true;
            if (st != -1)
                continue;
        }
        if (e->tries >= 5)
            continue;
        int t = fx_cluster_submit(w->c, e->buf, e->len);
        if (t < 0)
            return;
        e->ticket = t;
        e->tries++;
    }
}

/* Raw entries of one server's audit log, in log order; an accepted one's
 * text is prefixed "+", a rejected one's "-" (e.g. applied before the
 * genesis, which a lost leadership can reorder). */
static size_t s_accepted_raw(ics_fsm_t *fsm, ics_history_t *h, char (*out)[32], size_t max)
{
    size_t n = 0;
    for (uint64_t p = 1; p <= ics_fsm_position(fsm); p++) {
        ics_log_entry_t e;
        Ics__V1__Envelope *env = NULL;
        Ics__V1__Command *cmd = NULL;
        assert_int_equal(ics_history_entry(h, p, &e), ICS_OK);
        if (ics_envelope_decode(e.envelope, e.envelope_len, &env, NULL) == ICS_OK &&
            ics_command_decode(env, &cmd, NULL) == ICS_OK &&
            cmd->body_case == ICS__V1__COMMAND__BODY_RAW && n < max)
            snprintf(out[n++], 32, "%c%.*s", e.accepted ? '+' : '-', (int)cmd->raw->data.len,
                     (const char *)cmd->raw->data.data);
        if (cmd != NULL)
            ics__v1__command__free_unpacked(cmd, NULL);
        if (env != NULL)
            ics__v1__envelope__free_unpacked(env, NULL);
        free(e.envelope);
    }
    return n;
}

static void s_run(unsigned servers, uint64_t seed, unsigned entries)
{
    s_wl_t w;
    static char log0[4096][32], logi[4096][32];

    memset(&w, 0, sizeof w);
    w.c = fx_cluster_new(GROUP, servers, seed);
    w.rng = fx_cluster_rng(w.c);
    w.n = servers < 5 ? 3 : 5;
    for (size_t i = 0; i < w.n; i++) {
        w.orgs[i].id = s_ids[i];
        w.orgs[i].kind = s_kinds[i];
        w.orgs[i].key = fx_identity(s_ids[i]);
    }
    if (!raft_fixture_step_until_has_leader(fx_cluster_raft_fixture(w.c), 10000))
        fail_msg("seed %llu: no leader", (unsigned long long)seed);
    s_genesis(&w);
    fx_cluster_faults(w.c, true);
    for (unsigned k = 0; k < entries; k++) {
        s_random(&w, k);
        s_pump(&w);
        fx_cluster_step(w.c, 1 + (unsigned)(fx_rand(w.rng) % 30));
    }
    for (unsigned round = 0; round < 4; round++) {
        if (!fx_cluster_settle(w.c, 60000))
            fail_msg("seed %llu: the cluster did not settle", (unsigned long long)seed);
        for (size_t i = 0; i < w.nq; i++)
            if (w.q[i].ticket >= 0 && fx_cluster_ticket(w.c, w.q[i].ticket) == -1)
                w.q[i].tries = 0;
        s_pump(&w);
    }
    if (!fx_cluster_settle(w.c, 60000))
        fail_msg("seed %llu: the cluster did not settle", (unsigned long long)seed);
    s_pump(&w); /* collect the last tickets */
    fx_cluster_assert_identical(w.c);

    size_t n0 = s_accepted_raw(fx_cluster_fsm(w.c, 0), fx_cluster_history(w.c, 0), log0, 4096);
    for (unsigned i = 1; i < servers; i++) {
        size_t ni = s_accepted_raw(fx_cluster_fsm(w.c, i), fx_cluster_history(w.c, i), logi,
                                   4096);
        if (ni != n0)
            fail_msg("seed %llu: server %u has %zu entries, server 0 %zu",
                     (unsigned long long)seed, i, ni, n0);
        for (size_t j = 0; j < n0; j++)
            if (strcmp(log0[j], logi[j]) != 0)
                fail_msg("seed %llu: server %u differs at %zu", (unsigned long long)seed, i, j);
    }
    unsigned applied = 0;
    for (size_t i = 1; i < w.nq; i++) {
        const s_entry_t *e = &w.q[i];
        unsigned accepted = 0, recorded = 0;
        for (size_t j = 0; j < n0; j++) {
            if (strcmp(log0[j] + 1, e->data) != 0)
                continue;
            recorded++;
            accepted += log0[j][0] == '+';
        }
        if (e->hostile && accepted != 0)
            fail_msg("seed %llu: forged %s was accepted", (unsigned long long)seed, e->data);
        /* Accepted at most once. (An entry applied before the genesis is
         * rejected without taking its sequence number, so a retry after it
         * may be recorded again, and accepted.) */
        if (accepted > 1)
            fail_msg("seed %llu: %s accepted %u times", (unsigned long long)seed, e->data,
                     accepted);
        if (e->applied && recorded == 0)
            fail_msg("seed %llu: %s was reported applied but is not in the log",
                     (unsigned long long)seed, e->data);
        applied += e->applied;
    }
    if (applied < entries / 4)
        fail_msg("seed %llu: only %u of %u entries applied", (unsigned long long)seed, applied,
                 entries);

    for (size_t i = 0; i < w.nq; i++)
        free(w.q[i].buf);
    free(w.q);
    for (size_t i = 0; i < w.n; i++)
        ics_identity_destroy(&w.orgs[i].key);
    fx_cluster_destroy(&w.c);
}

static void s_seeds(unsigned servers, unsigned dflt, unsigned entries)
{
    uint64_t first, count;
    fx_seeds(dflt, &first, &count);
    for (uint64_t s = first; s < first + count; s++) {
        if (count > dflt)
            print_message("servers %u seed %llu\n", servers, (unsigned long long)s);
        s_run(servers, s, entries);
    }
}

static void three_servers_under_faults(void **state)
{
    (void)state;
    s_seeds(3, 6, 300);
}

static void five_servers_under_faults(void **state)
{
    (void)state;
    s_seeds(5, 4, 300);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(three_servers_under_faults),
        cmocka_unit_test(five_servers_under_faults),
    };
    return cmocka_run_group_tests_name("raft fixture", tests, NULL, NULL);
}
