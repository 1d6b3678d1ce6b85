/*
 * The consensus log under faults, in canonical raft's deterministic
 * fixture: the real state machine on 3 and 5 servers, run as icsd runs raft
 * (fx_cluster_daemon: the raftfix shim, the commit guard, icsd's timeouts,
 * no deposing to settle), with snapshots on throughout (threshold drawn per
 * seed, icsd's trailing of twice it), a seeded workload of signed entries
 * from every organisation (plus replays and forgeries), random
 * disconnections, saturated links, kills, revivals and disk and network
 * latency. Asserts what the issue promises:
 *   - every server reaches the same position, chain and state, and the
 *     same history export;
 *   - every entry a leader reported applied is, on every server, at the
 *     position the leader's state machine gave it, with the same entry id,
 *     outcome and chain (a replay reported as a duplicate: its original is
 *     there); no (org, seq) is accepted twice;
 *   - forgeries are rejected and never accepted anywhere.
 * A failure prints its seed and the command that replays it. Long run:
 *   ICS_FIXTURE_SEEDS=1000 tests/test_fixture_raft    (deploy/fixture-soak.sh)
 * ICS_FIXTURE_FIRST, _SERVERS, _ENTRIES, _SNAPSHOT, _VERBOSE: see s_seeds,
 * s_snapshots and s_run.
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
    bool applied;      /* a leader reported it applied (its ticket has the result) */
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

/* One position of a server's audit log, as the checks read it. */
typedef struct {
    uint8_t id[ICS_ENTRY_ID_BYTES];
    uint8_t chain[32];
    bool accepted;
    char org[ICS_ORG_MAX];
    uint64_t seq;
} s_pos_t;

/* Server i's audit log, position p at [p - 1] (malloc'd). */
static s_pos_t *s_log(fx_cluster_t *c, unsigned i, size_t *n)
{
    ics_fsm_t *fsm = fx_cluster_fsm(c, i);
    ics_history_t *h = fx_cluster_history(c, i);
    s_pos_t *log;

    *n = (size_t)ics_fsm_position(fsm);
    log = calloc(*n + 1, sizeof *log);
    assert_non_null(log);
    for (uint64_t p = 1; p <= *n; p++) {
        s_pos_t *l = &log[p - 1];
        ics_log_entry_t e;
        Ics__V1__Envelope *env = NULL;
        assert_int_equal(ics_history_entry(h, p, &e), ICS_OK);
        ics_entry_id(e.envelope, e.envelope_len, l->id);
        memcpy(l->chain, e.chain, 32);
        l->accepted = e.accepted;
        if (ics_envelope_decode(e.envelope, e.envelope_len, &env, NULL) == ICS_OK) {
            snprintf(l->org, sizeof l->org, "%s", env->org);
            l->seq = env->seq;
            ics__v1__envelope__free_unpacked(env, NULL);
        }
        free(e.envelope);
    }
    return log;
}

/* The position of the accepted entry signed as (org, seq), 0 if none;
 * fails if there are two. */
static uint64_t s_find(const s_pos_t *log, size_t n, const char *org, uint64_t seq,
                       uint64_t seed, unsigned server)
{
    uint64_t at = 0;
    for (size_t p = 1; p <= n; p++) {
        if (!log[p - 1].accepted || log[p - 1].seq != seq || strcmp(log[p - 1].org, org) != 0)
            continue;
        if (at != 0)
            fail_msg("seed %llu: server %u accepted %s seq %llu twice, at %llu and %zu",
                     (unsigned long long)seed, server, org, (unsigned long long)seq,
                     (unsigned long long)at, p);
        at = p;
    }
    return at;
}

/* Every entry a leader reported applied is, on every server, at the
 * position that leader's state machine gave it, with the same entry id,
 * outcome and chain; no (org, seq) is accepted twice; no forgery is
 * accepted. Returns how many entries were reported applied. */
static unsigned s_check_acknowledged(s_wl_t *w, uint64_t seed, unsigned servers)
{
    unsigned applied = 0;

    for (unsigned i = 0; i < servers; i++) {
        size_t n;
        s_pos_t *log = s_log(w->c, i, &n);
        for (size_t p = 1; p <= n; p++)
            if (log[p - 1].accepted && log[p - 1].seq != 0)
                (void)s_find(log, n, log[p - 1].org, log[p - 1].seq, seed, i);
        for (size_t k = 1; k < w->nq; k++) {
            const s_entry_t *e = &w->q[k];
            const ics_apply_result_t *r =
                e->ticket >= 0 ? fx_cluster_ticket_result(w->c, e->ticket) : NULL;
            uint8_t id[ICS_ENTRY_ID_BYTES];

            ics_entry_id(e->buf, e->len, id);
            for (size_t p = 1; e->hostile && p <= n; p++)
                if (log[p - 1].accepted && memcmp(log[p - 1].id, id, sizeof id) == 0)
                    fail_msg("seed %llu: server %u accepted forged %s at %zu",
                             (unsigned long long)seed, i, e->data, p);
            if (r == NULL)
                continue;
            applied += i == 0;
            if (e->hostile && r->accepted)
                fail_msg("seed %llu: forged %s was reported accepted",
                         (unsigned long long)seed, e->data);
            if (r->duplicate) {
                /* A replay of bytes already applied: the original stands,
                 * accepted or rejected (a verified entry takes its seq). */
                uint64_t at = 0;
                for (size_t p = 1; p <= n && at == 0; p++)
                    if (log[p - 1].seq == r->seq && strcmp(log[p - 1].org, r->org) == 0 &&
                        memcmp(log[p - 1].id, id, sizeof id) == 0)
                        at = p;
                if (at == 0)
                    fail_msg("seed %llu: server %u: %s (%s seq %llu) was reported a duplicate "
                             "but its original is not in the log",
                             (unsigned long long)seed, i, e->data, r->org,
                             (unsigned long long)r->seq);
                continue;
            }
            if (r->position == 0 || r->position > n)
                fail_msg("seed %llu: server %u: %s was reported applied at position %llu, "
                         "the log ends at %zu", (unsigned long long)seed, i, e->data,
                         (unsigned long long)r->position, n);
            const s_pos_t *l = &log[r->position - 1];
            if (memcmp(l->id, id, sizeof id) != 0)
                fail_msg("seed %llu: server %u: %s was reported applied at position %llu, "
                         "which holds another entry (%s seq %llu)", (unsigned long long)seed, i,
                         e->data, (unsigned long long)r->position, l->org,
                         (unsigned long long)l->seq);
            if (l->accepted != r->accepted || memcmp(l->chain, r->chain, 32) != 0)
                fail_msg("seed %llu: server %u: %s at position %llu has another outcome or "
                         "chain than the leader reported", (unsigned long long)seed, i,
                         e->data, (unsigned long long)r->position);
        }
        free(log);
    }
    return applied;
}

/* Snapshot threshold for a seed: ICS_FIXTURE_SNAPSHOT=T[/TRAILING] (e.g.
 * icsd's own 1024/2048, for long schedules), or drawn from 8 to 64 with
 * icsd's trailing of twice the threshold, so that schedules of a few
 * hundred entries take snapshots and lagging servers install them. */
static void s_snapshots(fx_cluster_t *c, unsigned *thr, unsigned *trailing)
{
    const char *env = getenv("ICS_FIXTURE_SNAPSHOT");
    *thr = 8u << (fx_rand(fx_cluster_rng(c)) % 4);
    *trailing = 2 * *thr;
    if (env != NULL && *env != '\0') {
        char *end;
        *thr = (unsigned)strtoul(env, &end, 10);
        *trailing = *end == '/' ? (unsigned)strtoul(end + 1, NULL, 10) : 2 * *thr;
    }
    fx_cluster_snapshots(c, *thr, *trailing);
}

static void s_run(unsigned servers, uint64_t seed, unsigned entries)
{
    s_wl_t w;
    unsigned thr, trailing;

    memset(&w, 0, sizeof w);
    w.c = fx_cluster_new_daemon(GROUP, servers, seed);
    w.rng = fx_cluster_rng(w.c);
    s_snapshots(w.c, &thr, &trailing);
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

    unsigned applied = s_check_acknowledged(&w, seed, servers);
    if (applied < entries / 4)
        fail_msg("seed %llu: only %u of %u entries applied", (unsigned long long)seed, applied,
                 entries);
    if (getenv("ICS_FIXTURE_VERBOSE") != NULL) {
        fx_raftfix_t fix = fx_cluster_raftfix(w.c);
        uint8_t chain[32];
        char hex[65];
        ics_fsm_chain(fx_cluster_fsm(w.c, 0), chain);
        for (int b = 0; b < 32; b++)
            snprintf(hex + 2 * b, 3, "%02x", chain[b]);
        print_message("servers %u seed %llu: position %llu chain %.16s, %u applied, "
                      "%u faults, snapshots %u/%u, %u restores, %llu installs (%llu ticks "
                      "held, %llu votes dropped), %llu results clamped, %u holds, "
                      "%llu previous-term results capped, %llu barriers, %llu appends held, "
                      "%u servers rebuilt from their store\n",
                      servers, (unsigned long long)seed,
                      (unsigned long long)ics_fsm_position(fx_cluster_fsm(w.c, 0)), hex,
                      applied, fx_cluster_fault_count(w.c), thr, trailing,
                      fx_cluster_restores(w.c), (unsigned long long)fix.installs,
                      (unsigned long long)fix.ticks_held, (unsigned long long)fix.votes_dropped,
                      (unsigned long long)fix.results_clamped, fix.holds,
                      (unsigned long long)fix.prevterm_capped,
                      (unsigned long long)fix.barriers, (unsigned long long)fix.appends_held,
                      fx_cluster_stored_checks(w.c));
    }

    for (size_t i = 0; i < w.nq; i++)
        free(w.q[i].buf);
    free(w.q);
    for (size_t i = 0; i < w.n; i++)
        ics_identity_destroy(&w.orgs[i].key);
    fx_cluster_destroy(&w.c);
}

static const char *s_argv0 = "tests/test_fixture_raft";
static uint64_t s_running;      /* the seed under way, 0 between seeds */
static unsigned s_running_n;

/* ICS_FIXTURE_SERVERS=3 or 5 runs only that test; ICS_FIXTURE_ENTRIES sets
 * the schedule's length; ICS_FIXTURE_PROGRESS prints each seed as it
 * starts (deploy/fixture-soak.sh reads it). */
static void s_seeds(unsigned servers, unsigned dflt, unsigned entries)
{
    const char *only = getenv("ICS_FIXTURE_SERVERS"), *len = getenv("ICS_FIXTURE_ENTRIES");
    uint64_t first, count;

    if (only != NULL && *only != '\0' && (unsigned)atoi(only) != servers)
        return;
    if (len != NULL && *len != '\0')
        entries = (unsigned)atoi(len);
    fx_seeds(dflt, &first, &count);
    for (uint64_t s = first; s < first + count; s++) {
        if ((count > dflt || getenv("ICS_FIXTURE_PROGRESS") != NULL) &&
            getenv("ICS_FIXTURE_VERBOSE") == NULL)
            print_message("servers %u seed %llu\n", servers, (unsigned long long)s);
        s_running = s;
        s_running_n = servers;
        s_run(servers, s, entries);
        s_running = 0;
    }
}

/* After a failed seed (cmocka runs a test's teardown after a failure too):
 * the command that replays it. */
static int s_rerun_hint(void **state)
{
    (void)state;
    fx_cluster_remove_stores();
    if (s_running != 0) {
        const char *len = getenv("ICS_FIXTURE_ENTRIES"), *snap = getenv("ICS_FIXTURE_SNAPSHOT");
        print_error("rerun: ICS_FIXTURE_SEED=%llu ICS_FIXTURE_SERVERS=%u%s%s%s%s %s\n",
                    (unsigned long long)s_running, s_running_n,
                    len != NULL ? " ICS_FIXTURE_ENTRIES=" : "", len != NULL ? len : "",
                    snap != NULL ? " ICS_FIXTURE_SNAPSHOT=" : "", snap != NULL ? snap : "",
                    s_argv0);
        s_running = 0;
    }
    return 0;
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

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(three_servers_under_faults, s_rerun_hint),
        cmocka_unit_test_teardown(five_servers_under_faults, s_rerun_hint),
    };
    if (argc > 0)
        s_argv0 = argv[0];
    return cmocka_run_group_tests_name("raft fixture", tests, NULL, NULL);
}
