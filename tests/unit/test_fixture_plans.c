/*
 * Determinism under faults: canonical raft's fixture runs a real state
 * machine on every server (3 and 5 servers) while a seeded random workload
 * of governance commands (people, roles, interests, plans, amendments,
 * consultations, responses, motions, votes, clock ticks, membership, and
 * some forged entries) is proposed through whichever server leads, under
 * random disconnections, saturated links, kills and revivals, and changing
 * network and disk latency; entries whose leader lost office are offered
 * again (the state machine applies each (org, seq) once). After healing,
 * every server must have the same position, chain head, clock, state digest
 * and query answers, and every entry a leader reported applied must be at
 * the position it was reported at on every server. The cluster runs raft
 * as icsd does (fx_cluster_daemon), with snapshots on under the faults.
 *
 * A failure names its seed. Long runs:
 *   ICS_FIXTURE_SEEDS=500 tests/test_fixture_plans     (seeds 1..500)
 *   ICS_FIXTURE_SEED=123 tests/test_fixture_plans      (just seed 123)
 */
#include "fixture_fsm.h"

#include <raft.h>
#include <raft/fixture.h>
#include <stdlib.h>
#include <string.h>

#include "common/policyfile.h"

#define GROUP "nenc"
#define PLAN "jfp-2026"
#define HWB "HWB-E06000057"
#define DAY 86400000ull

static const char *const s_ids[] = {"QHM", "RTD", "E06000057", "RX4", "RX6"};
static const char *const s_kinds[] = {"icb", "foundation_trust", "local_authority",
                                      "mental_health", "ambulance"};
static const char *const s_people[] = {"p1", "p2", "p3"};
static const char *const s_roles[] = {"chair", "chief_executive", "finance_director",
                                      "non_executive", "partner_trust",
                                      "partner_local_authority", "strategy_director",
                                      "mental_health_member", "hwb_chair", "operations_director"};
static const char *const s_sections[] = {"intro", "urgent-care", "finance", "new-a", "new-b"};
static const char *const s_subjects[] = {"plan:jfp-2026", "org:RTD", "tag:virtual-wards",
                                         "policy"};

/* ---------------------------------------------------------------- workload */

typedef struct {
    uint8_t *buf;
    size_t len;
    int ticket;        /* -1 not offered yet */
    unsigned tries;
} s_entry_t;

typedef struct {
    fx_cluster_t *c;
    uint64_t *rng;
    fx_org_t orgs[5];
    size_t n;
    uint64_t offset;   /* logical time ahead of the fixture's clock */
    s_entry_t *q;
    size_t nq;
    Ics__V1__Policy *nenc;
    bool forge;        /* now and then forge a signature */
} s_wl_t;

static uint64_t s_r(s_wl_t *w, uint64_t n)
{
    return fx_rand(w->rng) % n;
}

static fx_org_t *s_org(s_wl_t *w)
{
    return &w->orgs[s_r(w, w->n)];
}

static const char *s_person(s_wl_t *w)
{
    return s_people[s_r(w, 3)];
}

static uint64_t s_now(s_wl_t *w)
{
    return FX_EPOCH_MS + w->offset + fx_cluster_time(w->c);
}

/* Signs cmd and queues it for the cluster. */
static void s_send(s_wl_t *w, fx_org_t *org, const char *person, Ics__V1__Command *cmd)
{
    s_entry_t *q = realloc(w->q, (w->nq + 1) * sizeof *q);
    assert_non_null(q);
    w->q = q;
    q[w->nq].buf = fx_seal(GROUP, org, person, s_now(w), cmd, &q[w->nq].len);
    q[w->nq].ticket = -1;
    q[w->nq].tries = 0;
    /* Now and then a forgery: a flipped byte in the signature. */
    if (w->forge && s_r(w, 40) == 0)
        q[w->nq].buf[q[w->nq].len - 1] ^= 0x01;
    w->nq++;
}

/* Offers queued entries to the leader: new ones, and (a few times) those
 * whose leader lost office before applying them. */
static void s_pump(s_wl_t *w)
{
    for (size_t i = 0; i < w->nq; i++) {
        s_entry_t *e = &w->q[i];
        if (e->ticket >= 0 && fx_cluster_ticket(w->c, e->ticket) != -1)
            continue;
        if (e->tries >= 4)
            continue;
        int t = fx_cluster_submit(w->c, e->buf, e->len);
        if (t < 0)
            return; /* no leader now */
        e->ticket = t;
        e->tries++;
    }
}

/* A random id from a column of server 0's state (possibly stale), or a
 * made-up one. */
static uint64_t s_pick(s_wl_t *w, const char *sql)
{
    sqlite3 *db = ics_fsm_db(fx_cluster_fsm(w->c, 0));
    sqlite3_stmt *st = NULL;
    uint64_t ids[64], n = 0;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK)
        while (n < 64 && sqlite3_step(st) == SQLITE_ROW)
            ids[n++] = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (n == 0 || s_r(w, 10) == 0)
        return 1 + s_r(w, 400);
    return ids[s_r(w, n)];
}

#define CMD(kind, field, value)                                                             \
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;                                          \
    cmd.body_case = ICS__V1__COMMAND__BODY_##kind;                                          \
    cmd.field = (value)

static void s_genesis(s_wl_t *w, bool nenc)
{
    Ics__V1__Genesis g = ICS__V1__GENESIS__INIT;
    Ics__V1__MemberAdd m[5], *mp[5];
    char endpoints[5][48];

    for (size_t i = 0; i < w->n; i++) {
        ics__v1__member_add__init(&m[i]);
        snprintf(endpoints[i], sizeof endpoints[i], "tcp://%s.example:7400", w->orgs[i].id);
        m[i].org = (char *)w->orgs[i].id;
        m[i].kind = (char *)w->orgs[i].kind;
        m[i].name = (char *)w->orgs[i].id;
        m[i].endpoint = endpoints[i];
        m[i].public_key.data = (uint8_t *)ics_identity_public(w->orgs[i].key);
        m[i].public_key.len = ICS_PK_BYTES;
        mp[i] = &m[i];
    }
    g.group = GROUP;
    g.members = mp;
    g.n_members = w->n;
    g.admin = "QHM";
    g.policy = nenc ? w->nenc : NULL;
    CMD(GENESIS, genesis, &g);
    s_send(w, &w->orgs[0], "icsd", &cmd);
}

static void s_random_command(s_wl_t *w)
{
    fx_org_t *org = s_org(w);
    const char *person = s_person(w);

    switch (s_r(w, 16)) {
    case 0: {
        Ics__V1__PersonRegister r = ICS__V1__PERSON_REGISTER__INIT;
        r.person = (char *)s_person(w);
        r.name = s_r(w, 2) ? "A Person" : "Another Name";
        r.remove = s_r(w, 12) == 0;
        ics_identity_t *key = fx_person_identity(org->id, r.person);
        r.public_key.data = (uint8_t *)ics_identity_public(key);
        r.public_key.len = ICS_PK_BYTES;
        CMD(PERSON_REGISTER, person_register, &r);
        s_send(w, org, "registrar", &cmd);
        ics_identity_destroy(&key);
        break;
    }
    case 1:
    case 2: {
        Ics__V1__RoleAssign a = ICS__V1__ROLE_ASSIGN__INIT;
        fx_org_t *holder = s_org(w);
        a.org = (char *)holder->id;
        a.person = (char *)s_person(w);
        a.role = (char *)s_roles[s_r(w, sizeof s_roles / sizeof s_roles[0])];
        a.scope = strcmp(a.role, "hwb_chair") == 0 ? HWB : "";
        a.revoke = s_r(w, 8) == 0;
        CMD(ROLE_ASSIGN, role_assign, &a);
        s_send(w, s_r(w, 3) ? &w->orgs[0] : holder, "registrar", &cmd);
        break;
    }
    case 3: {
        Ics__V1__InterestDeclare d = ICS__V1__INTEREST_DECLARE__INIT;
        d.subject = (char *)s_subjects[s_r(w, 4)];
        d.description = "an interest";
        d.organisation = s_r(w, 5) == 0;
        d.withdraw = s_r(w, 6) == 0;
        CMD(INTEREST_DECLARE, interest_declare, &d);
        s_send(w, org, person, &cmd);
        break;
    }
    case 4:
    case 5: {
        static const char *const texts[] = {"Handovers in 30 minutes.", "More beds.\n\nFewer delays.",
                                            "A new paragraph.", ""};
        Ics__V1__AmendPropose a = ICS__V1__AMEND_PROPOSE__INIT;
        a.plan = PLAN;
        a.base_version = 1 + (uint32_t)s_r(w, 4);
        a.op = (Ics__V1__AmendOp)s_r(w, 4);
        a.section = (char *)s_sections[s_r(w, 5)];
        a.title = a.op == ICS__V1__AMEND_OP__AMEND_ADD ? "A new section" : "";
        a.text = (char *)(a.op == ICS__V1__AMEND_OP__AMEND_DELETE ? "" : texts[s_r(w, 4)]);
        a.paragraph = a.op == ICS__V1__AMEND_OP__AMEND_ADD ? 0 : (uint32_t)s_r(w, 3);
        a.after = a.op == ICS__V1__AMEND_OP__AMEND_ADD && s_r(w, 2) ? "intro" : "";
        a.rationale = "because";
        CMD(AMEND_PROPOSE, amend_propose, &a);
        s_send(w, org, person, &cmd);
        break;
    }
    case 6: {
        Ics__V1__AmendWithdraw x = ICS__V1__AMEND_WITHDRAW__INIT;
        x.amendment = s_pick(w, "SELECT id FROM amendments ORDER BY id");
        CMD(AMEND_WITHDRAW, amend_withdraw, &x);
        s_send(w, org, person, &cmd);
        break;
    }
    case 7:
    case 8: {
        Ics__V1__MotionPropose m = ICS__V1__MOTION_PROPOSE__INIT;
        Ics__V1__MotionAcceptAmendment acc = ICS__V1__MOTION_ACCEPT_AMENDMENT__INIT;
        Ics__V1__MotionAdoptPlan ad = ICS__V1__MOTION_ADOPT_PLAN__INIT;
        Ics__V1__MotionOpenConsultation oc = ICS__V1__MOTION_OPEN_CONSULTATION__INIT;
        Ics__V1__MotionCloseConsultation cc = ICS__V1__MOTION_CLOSE_CONSULTATION__INIT;
        Ics__V1__MotionAdmitMember am = ICS__V1__MOTION_ADMIT_MEMBER__INIT;
        char *consultees[] = {"kind:hwb", "RTD", "E06000057"};
        ics_identity_t *newkey = fx_identity("RTF");
        switch (s_r(w, 6)) {
        case 0:
        case 1:
            acc.amendment = s_pick(w, "SELECT id FROM amendments WHERE status = 'proposed'"
                                      " ORDER BY id");
            m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_ACCEPT_AMENDMENT;
            m.accept_amendment = &acc;
            break;
        case 2:
            ad.plan = PLAN;
            ad.version = 1 + (uint32_t)s_r(w, 3);
            m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_ADOPT_PLAN;
            m.adopt_plan = &ad;
            break;
        case 3:
            oc.plan = PLAN;
            oc.version = 1 + (uint32_t)s_r(w, 3);
            oc.question = "Views?";
            oc.closes_ms = s_now(w) + (1 + s_r(w, 3)) * DAY;
            oc.consultees = consultees;
            oc.n_consultees = 1 + s_r(w, 3);
            m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_OPEN_CONSULTATION;
            m.open_consultation = &oc;
            break;
        case 4:
            cc.consultation = s_pick(w, "SELECT id FROM consultations ORDER BY id");
            m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_CLOSE_CONSULTATION;
            m.close_consultation = &cc;
            break;
        default:
            am.org = "RTF";
            am.kind = "foundation_trust";
            am.name = "Northumbria Healthcare";
            am.public_key.data = (uint8_t *)ics_identity_public(newkey);
            am.public_key.len = ICS_PK_BYTES;
            m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_ADMIT_MEMBER;
            m.admit_member = &am;
        }
        CMD(MOTION_PROPOSE, motion_propose, &m);
        s_send(w, org, person, &cmd);
        ics_identity_destroy(&newkey);
        break;
    }
    case 9:
    case 10:
    case 11: {
        Ics__V1__Vote v = ICS__V1__VOTE__INIT;
        v.motion = s_pick(w, "SELECT id FROM motions WHERE status = 'open' ORDER BY id");
        v.choice = (Ics__V1__VoteChoice)(1 + s_r(w, 3));
        v.reason = s_r(w, 2) ? "" : "my reason";
        CMD(VOTE, vote, &v);
        s_send(w, org, person, &cmd);
        break;
    }
    case 12: {
        Ics__V1__ConsultRespond r = ICS__V1__CONSULT_RESPOND__INIT;
        bool hwb = s_r(w, 3) == 0;
        r.consultation = s_pick(w, "SELECT id FROM consultations ORDER BY id");
        r.consultee = hwb ? HWB : "";
        r.stance = (Ics__V1__Stance)(1 + s_r(w, 4));
        r.text = "our view";
        r.hwb_opinion = hwb ? (Ics__V1__Opinion)(1 + s_r(w, 2)) : 0;
        r.hwb_reasons = hwb ? "reasons" : "";
        CMD(CONSULT_RESPOND, consult_respond, &r);
        s_send(w, hwb ? &w->orgs[2] : org, person, &cmd);
        break;
    }
    case 13: {
        /* Time passes: deadlines close by the log's clock. */
        Ics__V1__ClockTick t = ICS__V1__CLOCK_TICK__INIT;
        w->offset += s_r(w, 4) == 0 ? 15 * DAY : (1 + s_r(w, 36)) * 3600000ull;
        t.now_ms = s_now(w);
        CMD(TICK, tick, &t);
        s_send(w, &w->orgs[0], "icsd", &cmd);
        break;
    }
    case 14: {
        /* A member add that only a carried admission can authorise. */
        Ics__V1__MemberAdd a = ICS__V1__MEMBER_ADD__INIT;
        ics_identity_t *newkey = fx_identity("RTF");
        a.org = "RTF";
        a.kind = "foundation_trust";
        a.name = "Northumbria Healthcare";
        a.endpoint = "tcp://rtf.example:7400";
        a.public_key.data = (uint8_t *)ics_identity_public(newkey);
        a.public_key.len = ICS_PK_BYTES;
        CMD(MEMBER_ADD, member_add, &a);
        s_send(w, &w->orgs[1], NULL, &cmd);
        ics_identity_destroy(&newkey);
        break;
    }
    default: {
        Ics__V1__MotionPropose m = ICS__V1__MOTION_PROPOSE__INIT;
        m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_CHANGE_POLICY;
        m.change_policy = w->nenc;
        CMD(MOTION_PROPOSE, motion_propose, &m);
        s_send(w, org, person, &cmd);
        break;
    }
    }
}

/* People, roles, the HWB and the plan, so that random commands have
 * something to act on. */
static void s_prologue(s_wl_t *w)
{
    static const char *const board[][3] = {
        {"QHM", "p1", "chair"}, {"QHM", "p2", "chief_executive"}, {"QHM", "p3", "non_executive"},
        {"RTD", "p1", "partner_trust"}, {"E06000057", "p1", "partner_local_authority"}};
    Ics__V1__PlanSection s[3], *sp[3];
    Ics__V1__PlanCreate pc = ICS__V1__PLAN_CREATE__INIT;
    Ics__V1__OrgRegister o = ICS__V1__ORG_REGISTER__INIT;

    for (size_t i = 0; i < w->n; i++)
        for (size_t p = 0; p < 3; p++) {
            Ics__V1__PersonRegister r = ICS__V1__PERSON_REGISTER__INIT;
            ics_identity_t *key = fx_person_identity(w->orgs[i].id, s_people[p]);
            r.person = (char *)s_people[p];
            r.name = "A Person";
            r.public_key.data = (uint8_t *)ics_identity_public(key);
            r.public_key.len = ICS_PK_BYTES;
            /* The first person is the organisation's administrator, who
             * registers the others. */
            r.admin = p == 0;
            CMD(PERSON_REGISTER, person_register, &r);
            s_send(w, &w->orgs[i], p == 0 ? NULL : "registrar", &cmd);
            if (p == 0)
                snprintf(w->orgs[i].admin, sizeof w->orgs[i].admin, "%s", s_people[p]);
            ics_identity_destroy(&key);
        }
    o.org = HWB;
    o.kind = "hwb";
    o.name = "Northumberland HWB";
    o.parent = "E06000057";
    {
        CMD(ORG_REGISTER, org_register, &o);
        s_send(w, &w->orgs[2], "registrar", &cmd);
    }
    for (size_t i = 0; i < sizeof board / sizeof board[0]; i++) {
        Ics__V1__RoleAssign a = ICS__V1__ROLE_ASSIGN__INIT;
        a.org = (char *)board[i][0];
        a.person = (char *)board[i][1];
        a.role = (char *)board[i][2];
        CMD(ROLE_ASSIGN, role_assign, &a);
        s_send(w, &w->orgs[0], "registrar", &cmd);
    }
    for (size_t i = 0; i < 3; i++) {
        ics__v1__plan_section__init(&s[i]);
        s[i].id = (char *)s_sections[i];
        s[i].title = "A section";
        s[i].text = "First paragraph.\n\nSecond paragraph.";
        sp[i] = &s[i];
    }
    pc.plan = PLAN;
    pc.title = "Joint Forward Plan";
    pc.period = "2026/27-2030/31";
    pc.sections = sp;
    pc.n_sections = 3;
    CMD(PLAN_CREATE, plan_create, &pc);
    s_send(w, &w->orgs[0], "p2", &cmd);
}

/* The same answers to people's questions on every server. */
static void s_assert_same_answers(fx_cluster_t *c, uint64_t seed)
{
    static const char *const queries[][2] = {
        {"plan.history", PLAN}, {"motion.list", NULL}, {"people.list", NULL},
        {"policy.show", NULL}, {"amend.list", NULL}, {"consult.list", NULL}};

    for (size_t q = 0; q < sizeof queries / sizeof queries[0]; q++) {
        char *first = NULL;
        for (unsigned i = 0; i < fx_cluster_size(c); i++) {
            char *json = NULL, *text = NULL, *args[1] = {(char *)queries[q][1]};
            ics_err_t err;
            int rc = ics_fsm_query(fx_cluster_fsm(c, i), queries[q][0], queries[q][1] ? 1 : 0,
                                   args, &json, &text, &err);
            if (rc != ICS_OK) {
                /* The plan may never have been created (a forged genesis). */
                assert_int_equal(rc, ICS_ENOENT);
                text = strdup(err.msg);
            }
            free(json);
            if (first == NULL) {
                first = text;
                continue;
            }
            if (strcmp(first, text) != 0)
                fail_msg("seed %llu: server %u answers %s differently", (unsigned long long)seed,
                         i, queries[q][0]);
            free(text);
        }
        free(first);
    }
}

/* Accepted entries in a server's history (complete after
 * fx_cluster_assert_identical). */
static unsigned s_accepted(ics_history_t *h)
{
    unsigned n = 0;
    for (uint64_t p = 1; p <= ics_history_top(h); p++) {
        ics_log_entry_t e;
        assert_int_equal(ics_history_entry(h, p, &e), ICS_OK);
        n += e.accepted;
        free(e.envelope);
    }
    return n;
}

static void s_run(unsigned servers, uint64_t seed, unsigned commands)
{
    s_wl_t w;
    ics_err_t err;
    unsigned orgs = servers < 5 ? 3 : 5;

    memset(&w, 0, sizeof w);
    w.c = fx_cluster_new_daemon(GROUP, servers, seed);
    w.rng = fx_cluster_rng(w.c);
    /* Snapshots under faults and leader changes, as icsd runs them (its
     * trailing is twice the threshold); the threshold is scaled to the
     * schedule so that snapshots are taken and installed. */
    unsigned thr = 8u << s_r(&w, 4);
    fx_cluster_snapshots(w.c, thr, 2 * thr);
    w.n = orgs;
    for (size_t i = 0; i < orgs; i++) {
        w.orgs[i].id = s_ids[i];
        w.orgs[i].kind = s_kinds[i];
        w.orgs[i].key = fx_identity(s_ids[i]);
    }
    if (ics_policy_load(ICS_SOURCE_DIR "/deploy/examples/nenc-policy.ini", &w.nenc, &err) != ICS_OK)
        fail_msg("%s", err.msg);
    /* Elect a first leader before the genesis. */
    if (!raft_fixture_step_until_has_leader(fx_cluster_raft_fixture(w.c), 10000))
        fail_msg("seed %llu: no leader", (unsigned long long)seed);
    s_genesis(&w, s_r(&w, 2) == 0);
    s_prologue(&w);
    fx_cluster_faults(w.c, true);
    w.forge = true;
    for (unsigned k = 0; k < commands; k++) {
        s_random_command(&w);
        s_pump(&w);
        /* Now and then let the log catch up (see fx_cluster_wait). */
        if (s_r(&w, 6) == 0 && w.q[w.nq - 1].ticket >= 0)
            fx_cluster_wait(w.c, w.q[w.nq - 1].ticket, 1000);
        fx_cluster_step(w.c, 1 + (unsigned)s_r(&w, 40));
    }
    /* Heal, offer what is still unapplied once more, and converge. */
    for (unsigned round = 0; round < 3; round++) {
        if (!fx_cluster_settle(w.c, 60000))
            fail_msg("seed %llu: the cluster did not settle", (unsigned long long)seed);
        for (size_t i = 0; i < w.nq; i++)
            if (w.q[i].ticket >= 0 && fx_cluster_ticket(w.c, w.q[i].ticket) == -1)
                w.q[i].tries = 0;
        s_pump(&w);
    }
    if (!fx_cluster_settle(w.c, 60000))
        fail_msg("seed %llu: the cluster did not settle", (unsigned long long)seed);
    fx_cluster_assert_identical(w.c);

    /* A sure install: one follower is down while the others apply enough
     * to compact their logs past it (trailing 1 to 3); it catches up by
     * InstallSnapshot, restoring the state machine from another server's
     * image, then applies the rest. Faults with leader changes already ran
     * with snapshots on above; here no other fault keeps it from coming. */
    unsigned leader = fx_cluster_leader(w.c) % servers;
    unsigned lagging = (leader + 1) % servers;
    ics_fsm_t *other = fx_cluster_fsm(w.c, leader);
    unsigned threshold = 8 + (unsigned)s_r(&w, 8);
    uint64_t before = ics_fsm_position(other), target = before + 3 * threshold + 8;
    fx_cluster_snapshots(w.c, threshold, 1 + (unsigned)s_r(&w, 3));
    raft_fixture_kill(fx_cluster_raft_fixture(w.c), lagging);
    for (unsigned k = 0; k < 4 * commands && ics_fsm_position(other) < target; k++) {
        s_random_command(&w);
        s_pump(&w);
        if (w.q[w.nq - 1].ticket >= 0)
            fx_cluster_wait(w.c, w.q[w.nq - 1].ticket, 3000);
        else
            fx_cluster_step(w.c, 1 + (unsigned)s_r(&w, 20));
    }
    raft_fixture_revive(fx_cluster_raft_fixture(w.c), lagging);
    if (!fx_cluster_settle(w.c, 60000))
        fail_msg("seed %llu: the cluster did not settle after snapshots",
                 (unsigned long long)seed);
    if (fx_cluster_restores(w.c) == 0)
        fail_msg("seed %llu: no server restored a snapshot (server %u was down from position "
                 "%llu to %llu)", (unsigned long long)seed, lagging,
                 (unsigned long long)before, (unsigned long long)ics_fsm_position(other));
    fx_cluster_assert_identical(w.c);
    s_assert_same_answers(w.c, seed);
    /* Nothing a leader reported applied was lost or moved. */
    for (size_t i = 0; i < w.nq; i++)
        if (w.q[i].ticket >= 0)
            fx_cluster_assert_acknowledged(w.c, w.q[i].ticket, w.q[i].buf, w.q[i].len);
    {
        uint64_t filled = 0, bad = 0;
        for (unsigned i = 0; i < servers; i++) {
            ics_history_stats_t hs = ics_history_stats(fx_cluster_history(w.c, i));
            filled += hs.filled;
            bad += hs.bad_chunks;
        }
        print_message("seed %llu: %u snapshot installs, %llu history entries backfilled,"
                      " %llu corrupted chunks refused\n", (unsigned long long)seed,
                      fx_cluster_restores(w.c), (unsigned long long)filled,
                      (unsigned long long)bad);
        if (filled == 0)
            fail_msg("seed %llu: a server installed a snapshot but backfilled nothing",
                     (unsigned long long)seed);
    }
    /* The workload did real work: the genesis and the prologue at least. */
    if (s_accepted(fx_cluster_history(w.c, 0)) < 20)
        fail_msg("seed %llu: only %u entries accepted", (unsigned long long)seed,
                 s_accepted(fx_cluster_history(w.c, 0)));
    for (size_t i = 0; i < w.nq; i++)
        free(w.q[i].buf);
    free(w.q);
    for (size_t i = 0; i < orgs; i++)
        ics_identity_destroy(&w.orgs[i].key);
    ics__v1__policy__free_unpacked(w.nenc, NULL);
    fx_cluster_destroy(&w.c);
}

static const char *s_argv0 = "tests/test_fixture_plans";
static uint64_t s_running;      /* the seed under way, 0 between seeds */
static unsigned s_running_n;

/* ICS_FIXTURE_SERVERS=3 or 5 runs only that test; ICS_FIXTURE_PROGRESS
 * prints each seed as it starts (deploy/fixture-soak.sh reads it). */
static void s_seeds(unsigned servers, unsigned dflt, unsigned commands)
{
    const char *only = getenv("ICS_FIXTURE_SERVERS");
    uint64_t first, count;

    if (only != NULL && *only != '\0' && (unsigned)atoi(only) != servers)
        return;
    fx_seeds(dflt, &first, &count);
    for (uint64_t s = first; s < first + count; s++) {
        if (count > dflt || getenv("ICS_FIXTURE_PROGRESS") != NULL)
            print_message("servers %u seed %llu\n", servers, (unsigned long long)s);
        s_running = s;
        s_running_n = servers;
        s_run(servers, s, commands);
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
        print_error("rerun: ICS_FIXTURE_SEED=%llu ICS_FIXTURE_SERVERS=%u %s\n",
                    (unsigned long long)s_running, s_running_n, s_argv0);
        s_running = 0;
    }
    return 0;
}

static void test_three_servers_agree_under_faults(void **state)
{
    (void)state;
    s_seeds(3, 10, 120);
}

static void test_five_servers_agree_under_faults(void **state)
{
    (void)state;
    s_seeds(5, 6, 150);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_three_servers_agree_under_faults, s_rerun_hint),
        cmocka_unit_test_teardown(test_five_servers_agree_under_faults, s_rerun_hint),
    };
    if (argc > 0)
        s_argv0 = argv[0];
    return cmocka_run_group_tests(tests, NULL, NULL);
}
