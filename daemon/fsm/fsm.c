/*
 * State machine core: admission of an entry, dispatch to the domain that
 * owns its command, the log clock, and snapshots.
 *
 * apply() takes the entry's bytes through a fixed ladder of checks (decode,
 * group, genesis, membership, key in force, signature, replay, command
 * decode, the acting person's signature) and then the owning domain's
 * handler; every outcome except a
 * replay takes the next audit position and steps the chain, so all nodes
 * agree on positions even for garbage. The entry itself, its verdict and
 * chain go to the observer, which keeps the history on disk
 * (daemon/history.c): the state holds no past entries. Invariants:
 *   - the outcome depends only on the bytes and the database: no wall clock,
 *     randomness or configuration is read here or in any domain;
 *   - all state, including the counters (position, chain head, clock,
 *     genesis flag in fsm_core), is in one in-memory SQLite database, so a
 *     snapshot is that database's image and nothing else; what it keeps of
 *     the past is bounded (fsm_audit.c), so its size does not grow with
 *     the length of the log;
 *   - one transaction per entry; the handler runs in a savepoint, so a
 *     rejected command leaves only its position, its replay-window bit and
 *     the clock (which moved because its signature verified);
 *   - (org, seq) is a dedupe key only once the signature has verified, so a
 *     forgery cannot burn a real sequence number;
 *   - the clock never goes backwards;
 *   - what is kept in memory besides the database is derived from it and
 *     kept in step with it: the core row as last committed, what the
 *     domains' on_clock have pending (recomputed from the state after any
 *     command that may have changed it, and after a restore), and the
 *     statements prepared on the connection (ics_db_t, which goes with the
 *     connection).
 *
 * The clock: on_clock runs only when some domain's deadline() says work
 * falls due at the new clock. That changes nothing: at any other clock
 * every on_clock would change nothing (see ics_fsm_domain_t.deadline).
 */
#include "fsm/fsm_internal.h"

#include "common/envelope.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_FORMAT 2 /* fsm_core.format: the layout of this database (2: no audit rows) */

struct ics_fsm {
    char group[ICS_GROUP_MAX];
    ics_db_t *db;
    ics_fsm_observer_t obs;
    ics_core_t core;         /* the fsm_core row as last committed */
    /* What the domains' on_clock have pending (the earliest next of any
     * domain, overdue if any has work overdue), as of the state and clock
     * at which it was computed; valid at every later clock until a command
     * changes the state or on_clock runs. */
    ics_deadline_t due;
    bool due_known;
};

/* Raw and ClockTick belong to no business domain: the core handles them. */
static int s_raw(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd);
static int s_tick(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd);

static const ics_fsm_handler_t s_core_handlers[] = {
    {ICS__V1__COMMAND__BODY_RAW, s_raw},
    {ICS__V1__COMMAND__BODY_TICK, s_tick},
    {0, NULL},
};

static const ics_fsm_domain_t s_core_domain = {
    .name = "core",
    .handlers = s_core_handlers,
    .schema = NULL,
    .on_clock = NULL,
    .deadline = NULL,
};

/* Every domain, in the order on_clock runs. Add new domains here. */
static const ics_fsm_domain_t *const s_domains[] = {
    &s_core_domain,
    &ics_fsm_domain_members,
    &ics_fsm_domain_audit,
    &ics_fsm_domain_people,
    &ics_fsm_domain_policy,
    &ics_fsm_domain_plans,
    &ics_fsm_domain_consult,
    &ics_fsm_domain_motions,
    &ics_fsm_domain_opel,
    &ics_fsm_domain_aid,
    NULL,
};

static const char s_core_schema[] =
    "CREATE TABLE IF NOT EXISTS fsm_core("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " format INTEGER NOT NULL,"
    " grp TEXT NOT NULL,"
    " position INTEGER NOT NULL,"  /* audit entries so far */
    " chain BLOB NOT NULL,"        /* chain head after them */
    " clock_ms INTEGER NOT NULL,"  /* log clock */
    " genesis INTEGER NOT NULL)";  /* 1 once a genesis was accepted */

/* What every domain's on_clock has pending at clock: the earliest next,
 * overdue if any domain has work overdue. */
static int s_deadlines(ics_db_t *db, uint64_t clock, ics_deadline_t *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; s_domains[i] != NULL; i++) {
        ics_deadline_t d = {0, false};
        if (s_domains[i]->deadline == NULL)
            continue;
        int rc = s_domains[i]->deadline(db, clock, &d);
        if (rc != ICS_OK)
            return rc < 0 ? rc : ICS_EIO;
        if (d.next != 0 && (out->next == 0 || d.next < out->next))
            out->next = d.next;
        out->overdue = out->overdue || d.overdue;
    }
    return ICS_OK;
}

static int s_on_clock(ics_apply_ctx_t *ctx)
{
    for (size_t i = 0; s_domains[i] != NULL; i++) {
        if (s_domains[i]->on_clock != NULL) {
            int rc = s_domains[i]->on_clock(ctx);
            if (rc != ICS_OK)
                return rc < 0 ? rc : ICS_EIO;
        }
    }
    return ICS_OK;
}

#ifndef NDEBUG
/* self->due, known, is what the domains say now at clock. */
static bool s_due_in_step(ics_fsm_t *self, uint64_t clock)
{
    ics_deadline_t now;
    return !self->due_known ||
           (s_deadlines(self->db, clock, &now) == ICS_OK && now.next == self->due.next &&
            now.overdue == self->due.overdue);
}

/* Every on_clock, run at ctx's clock, writes nothing (it is undone). */
static bool s_on_clock_idle(const ics_apply_ctx_t *ctx)
{
    ics_apply_ctx_t probe = *ctx;
    int before = sqlite3_total_changes(ics_db_sqlite(ctx->db));
    bool idle;

    probe.effects_ = NULL;
    probe.n_effects_ = probe.cap_effects_ = 0;
    if (ics_sql_exec(ctx->db, "SAVEPOINT clock_probe") != ICS_OK)
        return false;
    idle = s_on_clock(&probe) == ICS_OK && probe.n_effects_ == 0 &&
           sqlite3_total_changes(ics_db_sqlite(ctx->db)) == before;
    free(probe.effects_);
    return ics_sql_exec(ctx->db, "ROLLBACK TO clock_probe") == ICS_OK &&
           ics_sql_exec(ctx->db, "RELEASE clock_probe") == ICS_OK && idle;
}
#endif

/* Moves the clock forward (never back) and lets every domain close what
 * has become due. When nothing falls due by ms, every on_clock would change
 * nothing (debug builds check), and none runs: what was pending stays
 * pending, so self->due stays valid. */
static int s_advance_clock(ics_apply_ctx_t *ctx, uint64_t ms)
{
    ics_fsm_t *self = ctx->fsm_;

    if (ms <= ctx->clock_ms)
        return ICS_OK;
    assert(s_due_in_step(self, ctx->clock_ms));
    if (!self->due_known)
        self->due_known = s_deadlines(ctx->db, ctx->clock_ms, &self->due) == ICS_OK;
    ctx->clock_ms = ms;
    if (self->due_known && !self->due.overdue && (self->due.next == 0 || self->due.next > ms)) {
        assert(s_on_clock_idle(ctx));
        return ICS_OK;
    }
    self->due_known = false;
    return s_on_clock(ctx);
}

static int s_raw(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    (void)ctx;
    (void)cmd;
    return ICS_OK;
}

static int s_tick(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    if (cmd->tick->now_ms > INT64_MAX)
        return ics_reject(ctx, "clock tick %" PRIu64 " is out of range", cmd->tick->now_ms);
    return s_advance_clock(ctx, cmd->tick->now_ms);
}

/* The handler of a command kind, and (if d is not NULL) its domain. */
static const ics_fsm_handler_t *s_handler_for(uint32_t kind, const ics_fsm_domain_t **d)
{
    for (size_t i = 0; kind != 0 && s_domains[i] != NULL; i++)
        for (const ics_fsm_handler_t *h = s_domains[i]->handlers; h->kind != 0; h++)
            if (h->kind == kind) {
                if (d != NULL)
                    *d = s_domains[i];
                return h;
            }
    return NULL;
}

#ifndef NDEBUG
/* No command kind is claimed twice. */
static bool s_domains_ok(void)
{
    for (size_t i = 0; s_domains[i] != NULL; i++)
        for (const ics_fsm_handler_t *h = s_domains[i]->handlers; h->kind != 0; h++)
            if (s_handler_for(h->kind, NULL) != h)
                return false;
    return true;
}
#endif

/* ---------------------------------------------------------------- core row */

/* Only the core writes the row (ics_core_read, fsm_ctx.c, reads it). */
static int s_core_write(ics_db_t *db, const ics_core_t *c)
{
    return ics_sql_run(db, "UPDATE fsm_core SET position = ?1, chain = ?2, clock_ms = ?3,"
                           " genesis = ?4 WHERE id = 1", "ubui", c->position, c->chain,
                       (int)sizeof c->chain, c->clock_ms, c->genesis ? 1 : 0);
}

#ifndef NDEBUG
/* The core row in memory is the one in the database. */
static bool s_core_in_step(ics_fsm_t *self)
{
    ics_core_t c;
    return ics_core_read(self->db, &c) == ICS_OK && c.position == self->core.position &&
           c.clock_ms == self->core.clock_ms && c.genesis == self->core.genesis &&
           memcmp(c.chain, self->core.chain, sizeof c.chain) == 0;
}
#endif

/* ---------------------------------------------------------------- lifecycle */

static int s_schema(ics_db_t *db)
{
    int rc = ics_sql_exec(db, s_core_schema);

    for (size_t i = 0; rc == ICS_OK && s_domains[i] != NULL; i++)
        if (s_domains[i]->schema != NULL)
            rc = s_domains[i]->schema(db);
    return rc;
}

ics_fsm_t *ics_fsm_new(const char *group, ics_err_t *err)
{
    ics_fsm_t *self = NULL;
    sqlite3_stmt *st = NULL;

    assert(s_domains_ok());
    if (group == NULL || !ics_valid_id(group, ICS_GROUP_MAX)) {
        ics_err(err, ICS_EINVAL, "'%s' is not a valid group id", group ? group : "(null)");
        return NULL;
    }
    if (!ics_crypto_init()) {
        ics_err(err, ICS_EIO, "libsodium failed to initialise");
        return NULL;
    }
    self = calloc(1, sizeof *self);
    if (self == NULL) {
        ics_err(err, ICS_ENOMEM, "out of memory");
        return NULL;
    }
    ics_strcpy(self->group, sizeof self->group, group);
    self->db = ics_db_open(err);
    if (self->db == NULL)
        goto fail;
    ics_chain_init(group, self->core.chain);
    if (s_schema(self->db) != ICS_OK ||
        ics_sql_prepare(self->db, "INSERT INTO fsm_core(id, format, grp, position, chain,"
                                  " clock_ms, genesis) VALUES (1, ?1, ?2, 0, ?3, 0, 0)",
                        &st) != ICS_OK ||
        sqlite3_bind_int(st, 1, S_FORMAT) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, group, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
        sqlite3_bind_blob(st, 3, self->core.chain, sizeof self->core.chain, SQLITE_TRANSIENT) !=
            SQLITE_OK ||
        ics_sql_done(self->db, st) != ICS_OK) {
        ics_err(err, ICS_EIO, "cannot create the state database: %s",
                sqlite3_errmsg(ics_db_sqlite(self->db)));
        goto fail;
    }
    ics_sql_release(self->db, st);
    assert(s_core_in_step(self));
    return self;
fail:
    if (self->db != NULL)
        ics_sql_release(self->db, st);
    ics_fsm_destroy(&self);
    return NULL;
}

void ics_fsm_destroy(ics_fsm_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    ics_db_close(&(*self_p)->db);
    free(*self_p);
    *self_p = NULL;
}

void ics_fsm_set_observer(ics_fsm_t *self, const ics_fsm_observer_t *obs)
{
    assert(self);
    if (obs != NULL)
        self->obs = *obs;
    else
        memset(&self->obs, 0, sizeof self->obs);
}

const char *ics_fsm_group(const ics_fsm_t *self)
{
    return self->group;
}

sqlite3 *ics_fsm_db(ics_fsm_t *self)
{
    return ics_db_sqlite(self->db);
}

ics_db_t *ics_fsm_handle(ics_fsm_t *self)
{
    return self->db;
}

/* ---------------------------------------------------------------- apply */

/* Check 3 before any genesis: only a well-formed Genesis, signed by one of
 * its members with the key it lists for them, can start the group. */
static int s_admit_genesis(ics_apply_ctx_t *ctx, const Ics__V1__Envelope *env,
                           Ics__V1__Command **cmd)
{
    uint8_t pk[ICS_PK_BYTES];
    char why[ICS_REASON_MAX];
    ics_err_t err;
    int rc;

    if (env->kind != ICS__V1__COMMAND__BODY_GENESIS)
        return ics_reject(ctx, "group has no genesis yet");
    if (ics_command_decode(env, cmd, &err) != ICS_OK)
        return ics_reject(ctx, "group has no genesis yet: genesis does not decode: %s", err.msg);
    if (ics_members_genesis_check(ctx->group, env, (*cmd)->genesis, pk, why, sizeof why) !=
        ICS_OK)
        return ics_reject(ctx, "group has no genesis yet: %s", why);
    rc = ics_envelope_verify(env, ctx->group, pk, &err);
    if (rc == ICS_EKEY)
        return ics_reject(ctx, "group has no genesis yet: genesis signed with a key not listed"
                               " for %s", env->org);
    if (rc != ICS_OK)
        return ics_reject(ctx, "group has no genesis yet: bad signature");
    return ICS_OK;
}

/* Checks 4-5 after the genesis: a current member, its key in force, a good
 * signature. */
static int s_admit_member(ics_apply_ctx_t *ctx, const Ics__V1__Envelope *env)
{
    ics_member_t m;
    ics_err_t err;
    int rc = ics_members_get(ctx->db, env->org, &m);

    if (rc == ICS_ENOENT)
        return ics_reject(ctx, "unknown organisation %s", env->org);
    if (rc != ICS_OK)
        return rc;
    rc = ics_envelope_verify(env, ctx->group, m.public_key, &err);
    if (rc == ICS_EKEY)
        return ics_reject(ctx, "signed with a key not in force for %s", env->org);
    if (rc != ICS_OK)
        return ics_reject(ctx, "bad signature");
    return ICS_OK;
}

/* Runs the owning domain's handler in a savepoint. A command a domain
 * accepted may have changed what on_clock has pending; the core's own (Raw,
 * and ClockTick, which sees to it itself) change nothing on_clock reads. */
static int s_dispatch(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const ics_fsm_domain_t *d = NULL;
    const ics_fsm_handler_t *h = s_handler_for((uint32_t)cmd->body_case, &d);
    uint64_t clock = ctx->clock_ms;
    int rc;

    if (h == NULL)
        return ics_reject(ctx, "unknown command kind %d", (int)cmd->body_case);
    rc = ics_sql_exec(ctx->db, "SAVEPOINT command");
    if (rc != ICS_OK)
        return rc;
    rc = h->apply(ctx, cmd);
    if (rc == ICS_OK) {
        if (d != &s_core_domain)
            ctx->fsm_->due_known = false;
        return ics_sql_exec(ctx->db, "RELEASE command");
    }
    if (rc == ICS_EREJECTED) {
        if (ctx->reason[0] == '\0')
            ics_strcpy(ctx->reason, sizeof ctx->reason, "rejected");
        ctx->clock_ms = clock;
        ctx->n_effects_ = 0;
        if (ics_sql_exec(ctx->db, "ROLLBACK TO command") != ICS_OK ||
            ics_sql_exec(ctx->db, "RELEASE command") != ICS_OK)
            return ICS_EIO;
        return ICS_EREJECTED;
    }
    return rc < 0 ? rc : ICS_EIO;
}

/* Checks 1-5: the envelope decodes (into *env), is in range and for this
 * group, and is signed by whoever may sign it (before the genesis: the
 * genesis, decoded into *cmd). ICS_OK, ICS_EREJECTED or a failure. */
static int s_admit(ics_apply_ctx_t *ctx, const uint8_t *buf, size_t len,
                   Ics__V1__Envelope **env, Ics__V1__Command **cmd, ics_apply_result_t *res)
{
    const ics_fsm_t *self = ctx->fsm_;
    ics_err_t err;

    /* 1-2: the envelope itself. */
    if (ics_envelope_decode(buf, len, env, &err) != ICS_OK)
        return ics_reject(ctx, "malformed envelope: %s", err.msg);
    ics_strcpy(res->org, sizeof res->org, (*env)->org);
    res->seq = (*env)->seq;
    res->kind = (*env)->kind;
    if ((*env)->seq > INT64_MAX || (*env)->timestamp_ms > INT64_MAX)
        return ics_reject(ctx, "malformed envelope: sequence number or timestamp beyond"
                               " 2^63-1");
    ctx->org = (*env)->org;
    ctx->seq = (*env)->seq;
    ctx->timestamp_ms = (*env)->timestamp_ms;
    if (strcmp((*env)->group, self->group) != 0)
        return ics_reject(ctx, "wrong group: envelope is for '%s', this group is '%s'",
                          (*env)->group, self->group);
    /* 3-5: who may sign, and did they. */
    if (!self->core.genesis)
        return s_admit_genesis(ctx, *env, cmd);
    if ((*env)->kind == ICS__V1__COMMAND__BODY_GENESIS)
        return ics_reject(ctx, "genesis already applied");
    return s_admit_member(ctx, *env);
}

/* Check 6: a replay of something already applied changes nothing
 * (res->duplicate); a seq too old to tell is refused (*verdict); any other
 * takes its place in the replay window. Returns ICS_OK or a failure. */
static int s_check_replay(ics_apply_ctx_t *ctx, const Ics__V1__Envelope *env,
                          ics_apply_result_t *res, int *verdict)
{
    ics_replay_t replay;
    uint64_t highest;
    int rc = ics_audit_replay(ctx->db, env->org, env->seq, &replay, &highest);

    if (rc != ICS_OK)
        return rc;
    if (replay == ICS_REPLAY_SEEN) {
        res->duplicate = true;
        return ICS_OK;
    }
    if (replay == ICS_REPLAY_STALE) {
        /* Its signature verified: it moves the clock like any other. */
        rc = s_advance_clock(ctx, env->timestamp_ms);
        if (rc == ICS_OK)
            *verdict = ics_reject(ctx, "sequence number %" PRIu64 " of %s is below its replay"
                                       " window (highest applied %" PRIu64 ", window %d)",
                                  env->seq, env->org, highest, ICS_FSM_REPLAY_WINDOW);
        return rc;
    }
    return ics_audit_replay_take(ctx->db, env->org, env->seq);
}

/* Checks 7-9 and the command itself: it decodes (unless the genesis check
 * did), its actor's name fits, the person acting, if any, signed it
 * (fsm_people.c); then its domain's handler. ICS_OK, ICS_EREJECTED or a
 * failure. */
static int s_run_command(ics_apply_ctx_t *ctx, const Ics__V1__Envelope *env,
                         Ics__V1__Command **cmd)
{
    ics_err_t err;
    int verdict;

    if (*cmd == NULL && ics_command_decode(env, cmd, &err) != ICS_OK)
        return ics_reject(ctx, "malformed command: %s", err.msg);
    ctx->actor = (*cmd)->actor != NULL ? (*cmd)->actor : "";
    if (strlen(ctx->actor) >= ICS_ACTOR_MAX)
        return ics_reject(ctx, "malformed command: actor name longer than %d bytes",
                          ICS_ACTOR_MAX - 1);
    verdict = ics_people_admit(ctx, *cmd, env->payload.data, env->payload.len);
    if (verdict == ICS_OK)
        verdict = s_dispatch(ctx, *cmd);
    return verdict;
}

/* Gives the entry (env NULL if it did not decode) its position, steps the
 * chain with its verdict, and commits it with the core row. */
static int s_record(ics_fsm_t *self, const ics_apply_ctx_t *ctx, const Ics__V1__Envelope *env,
                    const uint8_t *buf, size_t len, bool accepted, bool verified,
                    ics_apply_result_t *res)
{
    ics_core_t core = self->core;
    bool genesis;
    int rc;

    res->position = ctx->position;
    res->accepted = accepted;
    ics_strcpy(res->reason, sizeof res->reason, res->accepted ? "" : ctx->reason);
    res->clock_ms = ctx->clock_ms;
    ics_chain_step(core.chain, ctx->position, res->entry_id, res->accepted, res->reason,
                   res->chain);
    res->verified = verified;
    genesis = res->accepted && env != NULL && env->kind == ICS__V1__COMMAND__BODY_GENESIS;
    rc = ics_audit_record(self->db, res, buf, len, genesis);
    if (rc != ICS_OK)
        return rc;
    core.position = ctx->position;
    memcpy(core.chain, res->chain, sizeof core.chain);
    core.clock_ms = ctx->clock_ms;
    if (genesis)
        core.genesis = true;
    rc = s_core_write(self->db, &core);
    if (rc == ICS_OK)
        rc = ics_sql_exec(self->db, "COMMIT");
    if (rc == ICS_OK)
        self->core = core;
    return rc;
}

static void s_notify(ics_fsm_t *self, const ics_apply_ctx_t *ctx, const ics_apply_result_t *res)
{
    if (res->accepted && self->obs.effect != NULL)
        for (size_t i = 0; i < ctx->n_effects_; i++)
            self->obs.effect(self->obs.arg, &ctx->effects_[i]);
    if (self->obs.applied != NULL)
        self->obs.applied(self->obs.arg, res);
}

#ifndef NDEBUG
/* The lifecycle invariants hold after an entry is applied. */
static void s_check_invariants(const ics_fsm_t *self)
{
    char why[256];

    if (!ics_fsm_invariants(self->db, why, sizeof why)) {
        ics_error("group %s: after index %" PRIu64 ": %s", self->group, self->core.position,
                  why);
        assert(!"a state machine invariant is broken");
    }
}
#endif

int ics_fsm_apply(ics_fsm_t *self, const uint8_t *buf, size_t len, ics_apply_result_t *res)
{
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *cmd = NULL;
    ics_apply_ctx_t ctx;
    bool in_tx = false, verified = false;
    int rc, verdict;

    assert(self && res && (buf != NULL || len == 0));
    memset(res, 0, sizeof *res);
    memset(&ctx, 0, sizeof ctx);
    if (buf == NULL)
        buf = (const uint8_t *)"";
    ics_entry_id(buf, len, res->entry_id);

    rc = ics_sql_exec(self->db, "BEGIN");
    if (rc != ICS_OK)
        goto out;
    in_tx = true;
    assert(s_core_in_step(self));
    ctx.db = self->db;
    ctx.fsm_ = self;
    ctx.group = self->group;
    ctx.org = "";
    ctx.actor = "";
    ctx.position = self->core.position + 1;
    ctx.clock_ms = self->core.clock_ms;
    ctx.entry_id = res->entry_id;

    /* Each step runs only if the ones before it accepted the entry. */
    verdict = s_admit(&ctx, buf, len, &env, &cmd, res);
    if (verdict == ICS_OK) {
        rc = s_check_replay(&ctx, env, res, &verdict);
        if (rc != ICS_OK || res->duplicate)
            goto out;
    }
    if (verdict == ICS_OK) {
        verified = true;
        rc = s_advance_clock(&ctx, env->timestamp_ms);
        if (rc != ICS_OK)
            goto out;
        verdict = s_run_command(&ctx, env, &cmd);
    }
    if (verdict != ICS_OK && verdict != ICS_EREJECTED) {
        rc = verdict;
        goto out;
    }
    rc = s_record(self, &ctx, env, buf, len, verdict == ICS_OK, verified, res);
    if (rc == ICS_OK)
        in_tx = false;
out:
    if (in_tx && ics_sql_exec(self->db, "ROLLBACK") != ICS_OK && rc == ICS_OK)
        rc = ICS_EIO;
    if (rc != ICS_OK)
        self->due_known = false; /* it may have been computed on what was rolled back */
    if (rc == ICS_OK) {
        res->envelope = buf;
        res->envelope_len = len;
        s_notify(self, &ctx, res);
        res->envelope = NULL;
        res->envelope_len = 0;
    } else if (!res->duplicate)
        snprintf(res->reason, sizeof res->reason, "state database failure");
    free(ctx.effects_);
    if (cmd != NULL)
        ics__v1__command__free_unpacked(cmd, NULL);
    if (env != NULL)
        ics__v1__envelope__free_unpacked(env, NULL);
    assert(ics_db_idle(self->db));
#ifndef NDEBUG
    if (rc == ICS_OK)
        s_check_invariants(self);
#endif
    return rc;
}

/* ---------------------------------------------------------------- snapshots */

int ics_fsm_snapshot(ics_fsm_t *self, uint8_t **buf, size_t *len)
{
    sqlite3_int64 size = 0;
    unsigned char *image = NULL;
    int rc = ICS_EIO;

    assert(self && buf && len);
    *buf = NULL;
    *len = 0;
    image = sqlite3_serialize(ics_db_sqlite(self->db), "main", &size, 0);
    if (image == NULL || size <= 0) {
        ics_error("state machine database: serialize: %s",
                  sqlite3_errmsg(ics_db_sqlite(self->db)));
        rc = ICS_EIO;
        goto out;
    }
    *buf = malloc((size_t)size);
    if (*buf == NULL) {
        rc = ICS_ENOMEM;
        goto out;
    }
    memcpy(*buf, image, (size_t)size);
    *len = (size_t)size;
    rc = ICS_OK;
out:
    sqlite3_free(image);
    return rc;
}

/* Is db a state image of this group and this format? */
static int s_check_image(sqlite3 *db, const char *group, ics_err_t *err)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW ||
        strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
        rc = ics_err(err, ICS_EMALFORMED, "snapshot is not a sound database image: %s",
                     sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT format, grp FROM fsm_core WHERE id = 1", -1, &st,
                           NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        rc = ics_err(err, ICS_EMALFORMED, "snapshot holds no state machine");
        goto out;
    }
    if (sqlite3_column_int(st, 0) != S_FORMAT) {
        rc = ics_err(err, ICS_EVERSION, "snapshot format %d is not supported (this node reads %d)",
                     sqlite3_column_int(st, 0), S_FORMAT);
        goto out;
    }
    if (sqlite3_column_text(st, 1) == NULL ||
        strcmp((const char *)sqlite3_column_text(st, 1), group) != 0) {
        rc = ics_err(err, ICS_EGROUP, "snapshot is of group '%s', not '%s'",
                     sqlite3_column_text(st, 1) ? (const char *)sqlite3_column_text(st, 1) : "",
                     group);
        goto out;
    }
    rc = ICS_OK;
out:
    sqlite3_finalize(st);
    return rc;
}

int ics_fsm_restore(ics_fsm_t *self, const uint8_t *buf, size_t len, ics_err_t *err)
{
    ics_db_t *db = NULL;
    unsigned char *image = NULL;
    ics_core_t core;
    int rc;

    assert(self && (buf != NULL || len == 0));
    if (len == 0)
        return ics_err(err, ICS_EMALFORMED, "snapshot is empty");
    db = ics_db_open(err);
    if (db == NULL)
        return ICS_EIO;
    image = sqlite3_malloc64(len);
    if (image == NULL) {
        rc = ics_err(err, ICS_ENOMEM, "out of memory for a %zu byte snapshot", len);
        goto out;
    }
    memcpy(image, buf, len);
    /* SQLite owns image from here, even when this fails. */
    if (sqlite3_deserialize(
            ics_db_sqlite(db), "main", image, (sqlite3_int64)len, (sqlite3_int64)len,
            SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE) != SQLITE_OK) {
        rc = ics_err(err, ICS_EMALFORMED, "snapshot does not load: %s",
                     sqlite3_errmsg(ics_db_sqlite(db)));
        goto out;
    }
    rc = s_check_image(ics_db_sqlite(db), self->group, err);
    if (rc != ICS_OK)
        goto out;
    if (s_schema(db) != ICS_OK) {
        rc = ics_err(err, ICS_EIO, "cannot bring the snapshot's schema up to date: %s",
                     sqlite3_errmsg(ics_db_sqlite(db)));
        goto out;
    }
    if (ics_core_read(db, &core) != ICS_OK) {
        rc = ics_err(err, ICS_EMALFORMED, "snapshot's state machine counters are damaged");
        goto out;
    }
    ics_db_close(&self->db);
    self->db = db;
    db = NULL;
    self->core = core;
    self->due_known = false;
    rc = ICS_OK;
out:
    ics_db_close(&db);
    return rc;
}

/* ---------------------------------------------------------------- reads */

uint64_t ics_fsm_position(ics_fsm_t *self)
{
    return self->core.position;
}

void ics_fsm_chain(ics_fsm_t *self, uint8_t out[32])
{
    memcpy(out, self->core.chain, sizeof self->core.chain);
}

uint64_t ics_fsm_clock(ics_fsm_t *self)
{
    return self->core.clock_ms;
}

bool ics_fsm_check(ics_fsm_t *self, char *why, size_t size)
{
    return ics_fsm_invariants(self->db, why, size);
}

bool ics_fsm_has_genesis(ics_fsm_t *self)
{
    return self->core.genesis;
}

int ics_fsm_member_key(ics_fsm_t *self, const char *org, uint8_t pk[ICS_PK_BYTES])
{
    ics_member_t m;
    int rc = ics_members_get(self->db, org, &m);

    if (rc == ICS_OK)
        memcpy(pk, m.public_key, ICS_PK_BYTES);
    return rc;
}

int ics_fsm_person_key(ics_fsm_t *self, const char *org, const char *person,
                       uint8_t pk[ICS_PK_BYTES])
{
    sqlite3_stmt *st = NULL;
    int rc = ics_sql_query(self->db, &st, "SELECT k.public_key FROM people p JOIN person_keys k"
                                          " ON k.org = p.org AND k.person = p.person"
                                          " WHERE p.org = ?1 AND p.person = ?2 AND p.active",
                           "tt", org, person);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(self->db, st);
    if (rc == ICS_OK && !ics_sql_column_blob(st, 0, pk, ICS_PK_BYTES))
        rc = ICS_ENOENT;
    ics_sql_release(self->db, st);
    return rc;
}

bool ics_fsm_is_member(ics_fsm_t *self, const char *org)
{
    ics_member_t m;
    return ics_members_get(self->db, org, &m) == ICS_OK;
}

uint64_t ics_fsm_max_seq(ics_fsm_t *self, const char *org)
{
    ics_replay_t r;
    uint64_t highest = 0;

    if (ics_audit_replay(self->db, org, 0, &r, &highest) != ICS_OK)
        return 0;
    return highest;
}

bool ics_fsm_seq_taken(ics_fsm_t *self, const char *org, uint64_t seq)
{
    ics_replay_t r;
    uint64_t highest;

    if (seq > INT64_MAX || ics_audit_replay(self->db, org, seq, &r, &highest) != ICS_OK)
        return false;
    return r != ICS_REPLAY_NEW;
}

int ics_fsm_chain_at(ics_fsm_t *self, uint64_t position, uint8_t out[32])
{
    if (position == 0 || position > INT64_MAX)
        return ICS_ENOENT;
    return ics_audit_mark(self->db, position, out);
}

void ics_fsm_checkpoint_status(ics_fsm_t *self, ics_checkpoint_status_t *out)
{
    ics_audit_checkpoint_status(self->db, out);
}

uint64_t ics_fsm_certified_position(ics_fsm_t *self)
{
    return ics_audit_certified_position(self->db);
}

int ics_fsm_query(ics_fsm_t *self, const char *name, size_t argc, char *const *argv,
                  char **json, char **text, ics_err_t *err)
{
    const ics_fsm_query_t *q = NULL;
    FILE *fj = NULL, *ft = NULL;
    size_t jlen = 0, tlen = 0;
    int rc;

    *json = *text = NULL;
    for (size_t d = 0; s_domains[d] != NULL && q == NULL; d++)
        for (const ics_fsm_query_t *it = s_domains[d]->queries; it && it->name; it++)
            if (strcmp(it->name, name) == 0)
                q = it;
    if (q == NULL)
        return ics_err(err, ICS_ENOENT, "no query '%s' (this node runs icsd %s)", name,
                       ICS_VERSION);
    fj = open_memstream(json, &jlen);
    ft = open_memstream(text, &tlen);
    if (fj == NULL || ft == NULL) {
        rc = ics_err(err, ICS_ENOMEM, "out of memory");
    } else {
        /* A read transaction: the answer reflects one position. */
        rc = ics_sql_exec(self->db, "BEGIN");
        if (rc == ICS_OK) {
            rc = q->fn(self->db, self->group, argc, argv, fj, ft, err);
            ics_sql_exec(self->db, "COMMIT");
        } else {
            ics_err(err, rc, "state database is busy");
        }
        assert(ics_db_idle(self->db));
    }
    if (fj != NULL)
        fclose(fj);
    if (ft != NULL)
        fclose(ft);
    if (rc != ICS_OK) {
        free(*json);
        free(*text);
        *json = *text = NULL;
    }
    return rc;
}

bool ics_fsm_has_checkpoint(ics_fsm_t *self, const char *org, uint64_t position)
{
    return ics_audit_has_checkpoint(self->db, org, position);
}

void ics_fsm_metrics(ics_fsm_t *self, FILE *out)
{
    for (size_t d = 0; s_domains[d] != NULL; d++)
        if (s_domains[d]->metrics != NULL)
            s_domains[d]->metrics(self->db, self->group, out);
}

uint64_t ics_fsm_next_deadline(ics_fsm_t *self)
{
    assert(s_due_in_step(self, self->core.clock_ms));
    if (!self->due_known) {
        self->due_known = s_deadlines(self->db, self->core.clock_ms, &self->due) == ICS_OK;
        assert(ics_db_idle(self->db));
    }
    return self->due_known ? self->due.next : 0;
}

typedef struct {
    void (*fn)(void *arg, const ics_effect_t *member);
    void *arg;
} s_each_t;

static void s_each_member(void *arg, const ics_member_t *m)
{
    s_each_t *e = arg;
    ics_effect_t eff;

    memset(&eff, 0, sizeof eff);
    eff.type = ICS_EFFECT_MEMBER_ADDED;
    ics_strcpy(eff.org, sizeof eff.org, m->org);
    ics_strcpy(eff.endpoint, sizeof eff.endpoint, m->endpoint);
    memcpy(eff.public_key, m->public_key, ICS_PK_BYTES);
    eff.voter = m->voter;
    e->fn(e->arg, &eff);
}

int ics_fsm_each_member(ics_fsm_t *self, void (*fn)(void *arg, const ics_effect_t *member),
                        void *arg)
{
    s_each_t e = {fn, arg};
    return ics_members_each(self->db, s_each_member, &e);
}
