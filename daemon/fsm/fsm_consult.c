/*
 * Consultation rounds on a frozen plan version: consultees, typed responses
 * (revisable until closing), the statutory opinion of each health and
 * wellbeing board (HWB), closing at the deadline by the log's clock or early
 * by decision, and the summary.
 *
 * A round is opened by a carried consultation.open motion (fsm_motions.c
 * calls ics_consult_open) and is named by that motion. Consultees given as
 * kinds ("kind:hwb") are expanded to the organisations of that kind the
 * group knows when the round opens, so the list is fixed for the round.
 * Invariants:
 *   - the version consulted on never changes (versions are immutable);
 *   - responses are kept, every revision, with the signed entry that made
 *     it; the latest revision is the consultee's response;
 *   - a response is accepted only while the round is open: opens_ms <=
 *     clock < closes_ms, and not closed early;
 *   - when a round closes, every HWB consultee gets an opinion record: its
 *     latest opinion, or "not received" saying whether the deadline passed
 *     or the round was closed early; that record is what adoption and the
 *     published plan use.
 *
 *   Consultation round:
 *                 motion consultation.open carried
 *   (none) ------------------------------------------> SCHEDULED
 *          ics_consult_open()                              |
 *                                              clock >= opens_ms: s_on_clock()
 *                    (opens_ms <= clock: straight to OPEN) v
 *                                                        OPEN <--+ ConsultRespond:
 *                                                          |  |  | s_respond() adds
 *                                                          |  +--+ a revision
 *               clock >= closes_ms: s_on_clock() -> s_close() |
 *               motion consultation.close carried:            |
 *               ics_consult_close_early() -> s_close()        v
 *                                                        CLOSED (HWB opinions recorded;
 *                                                        responses refused with the
 *                                                        closing time)
 */
#include "fsm/fsm_gov.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_CONSULTEES 128
#define S_MAX_SPECS 64
#define S_MAX_LINKED 16

static const char s_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS consultations("
    " id INTEGER PRIMARY KEY,"         /* the motion that opened it */
    " plan TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " question TEXT NOT NULL,"
    " opens_ms INTEGER NOT NULL,"
    " closes_ms INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('scheduled', 'open', 'closed')),"
    " decided_at INTEGER NOT NULL,"    /* position of the decision */
    " opened_at INTEGER NOT NULL,"     /* position it opened at, 0 while scheduled */
    " closed_at INTEGER NOT NULL,"     /* position it closed at, 0 while not */
    " closed_ms INTEGER NOT NULL,"
    " closed_by TEXT NOT NULL);"       /* '' , 'deadline', 'motion N' */
    "CREATE INDEX IF NOT EXISTS consultations_due ON consultations(status, opens_ms, closes_ms);"
    "CREATE INDEX IF NOT EXISTS consultations_plan ON consultations(plan, version, id);"
    "CREATE TABLE IF NOT EXISTS consultees("
    " consultation INTEGER NOT NULL,"
    " consultee TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " via TEXT NOT NULL,"              /* the spec that named it, e.g. kind:hwb */
    " PRIMARY KEY (consultation, consultee));"
    "CREATE TABLE IF NOT EXISTS responses("
    " consultation INTEGER NOT NULL,"
    " consultee TEXT NOT NULL,"
    " revision INTEGER NOT NULL,"
    " stance INTEGER NOT NULL CHECK (stance BETWEEN 1 AND 4),"
    " text TEXT NOT NULL,"
    " hwb_opinion INTEGER NOT NULL,"
    " hwb_reasons TEXT NOT NULL,"
    " org TEXT NOT NULL,"
    " person TEXT NOT NULL,"
    " role TEXT NOT NULL,"             /* the role acting for the consultee, '' if its own */
    " position INTEGER NOT NULL,"
    " entry_id BLOB NOT NULL,"
    " clock_ms INTEGER NOT NULL,"
    " PRIMARY KEY (consultation, consultee, revision));"
    "CREATE TABLE IF NOT EXISTS response_amendments("
    " consultation INTEGER NOT NULL,"
    " consultee TEXT NOT NULL,"
    " revision INTEGER NOT NULL,"
    " amendment INTEGER NOT NULL,"
    " PRIMARY KEY (consultation, consultee, revision, amendment));"
    "CREATE TABLE IF NOT EXISTS hwb_opinions("
    " consultation INTEGER NOT NULL,"
    " consultee TEXT NOT NULL,"
    " opinion INTEGER NOT NULL,"       /* Opinion; 0: not received */
    " reasons TEXT NOT NULL,"
    " revision INTEGER NOT NULL,"      /* the response it comes from, 0 if none */
    " note TEXT NOT NULL,"
    " PRIMARY KEY (consultation, consultee));";

static int s_schema(ics_db_t *db)
{
    return ics_sql_exec(db, s_schema_sql);
}

static const char *s_stance_name(int s)
{
    switch (s) {
    case ICS__V1__STANCE__STANCE_SUPPORT: return "support";
    case ICS__V1__STANCE__STANCE_SUPPORT_WITH_CHANGES: return "support with changes";
    case ICS__V1__STANCE__STANCE_OBJECT: return "object";
    case ICS__V1__STANCE__STANCE_NO_COMMENT: return "no comment";
    default: return "unknown";
    }
}

static const char *s_opinion_name(int o)
{
    return o == ICS__V1__OPINION__OPINION_YES ? "yes"
         : o == ICS__V1__OPINION__OPINION_NO ? "no" : "not received";
}

/* ---------------------------------------------------------------- rounds */

typedef struct {
    uint64_t id;
    char plan[ICS_POLICY_ID_MAX];
    uint32_t version;
    char *question;
    uint64_t opens_ms, closes_ms;
    char status[16];
    uint64_t decided_at, opened_at, closed_at, closed_ms;
    char closed_by[48];
} s_round_t;

static void s_round_free(s_round_t *r)
{
    free(r->question);
    memset(r, 0, sizeof *r);
}

static int s_round_get(ics_db_t *db, uint64_t id, s_round_t *r)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(r, 0, sizeof *r);
    if (id > INT64_MAX)
        return ICS_ENOENT;
    rc = ics_sql_query(db, &st, "SELECT plan, version, question, opens_ms, closes_ms, status,"
                                  " decided_at, opened_at, closed_at, closed_ms, closed_by"
                                  " FROM consultations WHERE id = ?1", "u", id);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK) {
        r->id = id;
        ics_sql_column_text(st, 0, r->plan, sizeof r->plan);
        r->version = (uint32_t)ics_sql_column_u64(st, 1);
        r->question = strdup((const char *)sqlite3_column_text(st, 2));
        r->opens_ms = ics_sql_column_u64(st, 3);
        r->closes_ms = ics_sql_column_u64(st, 4);
        ics_sql_column_text(st, 5, r->status, sizeof r->status);
        r->decided_at = ics_sql_column_u64(st, 6);
        r->opened_at = ics_sql_column_u64(st, 7);
        r->closed_at = ics_sql_column_u64(st, 8);
        r->closed_ms = ics_sql_column_u64(st, 9);
        ics_sql_column_text(st, 10, r->closed_by, sizeof r->closed_by);
        if (r->question == NULL)
            rc = ICS_ENOMEM;
    }
    ics_sql_release(db, st);
    return rc;
}

/* "closed at 2026-03-01T17:00:00Z (its deadline)" */
static void s_closed_text(const s_round_t *r, char *out, size_t size)
{
    char when[32];
    ics_gov_time(r->closed_ms, when);
    if (strcmp(r->closed_by, "deadline") == 0)
        snprintf(out, size, "closed at %s (its deadline)", when);
    else
        snprintf(out, size, "closed early at %s by %s", when, r->closed_by);
}

/* ---------------------------------------------------------------- opening */

typedef struct {
    ics_apply_ctx_t *ctx;        /* NULL when only checking */
    ics_db_t *db;
    uint64_t id;
    const char *via;
    unsigned n;
    char (*seen)[ICS_ORG_MAX];
} s_expand_t;

static int s_add_consultee(void *arg, const ics_org_t *o)
{
    s_expand_t *e = arg;

    for (unsigned i = 0; i < e->n; i++)
        if (strcmp(e->seen[i], o->org) == 0)
            return ICS_OK;
    if (e->n >= S_MAX_CONSULTEES)
        return ICS_ETOOBIG;
    ics_strcpy(e->seen[e->n++], ICS_ORG_MAX, o->org);
    if (e->ctx == NULL)
        return ICS_OK;
    return ics_sql_run(e->db, "INSERT INTO consultees(consultation, consultee, kind, name, via)"
                               " VALUES (?1, ?2, ?3, ?4, ?5)",
                        "utttt", e->id, o->org, o->kind, o->name, e->via);
}

/* Resolves (and, with ctx, records) the consultees of m. */
static int s_consultees(ics_db_t *db, ics_apply_ctx_t *ctx, uint64_t id,
                        const Ics__V1__MotionOpenConsultation *m, char *why, size_t size)
{
    char (*seen)[ICS_ORG_MAX] = calloc(S_MAX_CONSULTEES, ICS_ORG_MAX);
    s_expand_t e = {ctx, db, id, "", 0, seen};
    int rc = ICS_OK;

    if (seen == NULL)
        return ICS_ENOMEM;
    if (m->n_consultees == 0 || m->n_consultees > S_MAX_SPECS) {
        snprintf(why, size, "a consultation names 1 to %d consultees (organisations, or kinds "
                 "such as kind:hwb); %zu given", S_MAX_SPECS, m->n_consultees);
        rc = ICS_EREJECTED;
        goto out;
    }
    for (size_t i = 0; i < m->n_consultees && rc == ICS_OK; i++) {
        const char *spec = m->consultees[i];
        unsigned before = e.n;
        e.via = spec;
        if (strncmp(spec, "kind:", 5) == 0) {
            if (!ics_valid_id(spec + 5, 32)) {
                snprintf(why, size, "consultee '%.40s' is not valid: an organisation id, or "
                         "kind:KIND such as kind:hwb", spec);
                rc = ICS_EREJECTED;
                break;
            }
            rc = ics_orgs_each_kind(db, spec + 5, s_add_consultee, &e);
            if (rc == ICS_OK && e.n == before) {
                bool dup = false;
                /* Every organisation of that kind may already be listed. */
                uint64_t n = 0;
                rc = ics_sql_u64(db, &n, "SELECT (SELECT count(*) FROM members WHERE active = 1"
                                         " AND kind = ?1) + (SELECT count(*) FROM orgs_known"
                                         " WHERE active = 1 AND kind = ?1)", "t", spec + 5);
                dup = n > 0;
                if (rc == ICS_OK && !dup) {
                    snprintf(why, size, "no organisation of kind %s is known to the group; "
                             "register one first (icsctl people org add ID --kind %s)",
                             spec + 5, spec + 5);
                    rc = ICS_EREJECTED;
                }
            }
        } else {
            ics_org_t o;
            if (!ics_valid_id(spec, ICS_ORG_MAX)) {
                snprintf(why, size, "consultee '%.40s' is not valid: an organisation id, or "
                         "kind:KIND such as kind:hwb", spec);
                rc = ICS_EREJECTED;
                break;
            }
            rc = ics_orgs_get(db, spec, &o);
            if (rc == ICS_ENOENT) {
                snprintf(why, size, "consultee %s is not an organisation known to the group; "
                         "register it first (icsctl people org add %s --kind KIND --name NAME)",
                         spec, spec);
                rc = ICS_EREJECTED;
                break;
            }
            if (rc == ICS_OK)
                rc = s_add_consultee(&e, &o);
        }
        if (rc == ICS_ETOOBIG) {
            snprintf(why, size, "a consultation has at most %d consultees", S_MAX_CONSULTEES);
            rc = ICS_EREJECTED;
        }
    }
out:
    free(seen);
    return rc;
}

static int s_check_open(ics_db_t *db, uint64_t clock, const Ics__V1__MotionOpenConsultation *m,
                        char *why, size_t size)
{
    char when[32];
    uint64_t opens;
    int rc;

    rc = ics_plans_check_version(db, m->plan, m->version, why, size);
    if (rc != ICS_OK)
        return rc;
    if (!ics_gov_valid_text(m->question, ICS_TEXT_MAX, true)) {
        snprintf(why, size, "a consultation needs a question (under %u bytes)", ICS_TEXT_MAX);
        return ICS_EREJECTED;
    }
    opens = m->opens_ms > clock ? m->opens_ms : clock;
    if (m->closes_ms > INT64_MAX || m->opens_ms > INT64_MAX) {
        snprintf(why, size, "opening or closing time is out of range");
        return ICS_EREJECTED;
    }
    if (m->closes_ms <= opens) {
        ics_gov_time(m->closes_ms, when);
        if (m->closes_ms <= clock)
            snprintf(why, size, "the closing time %s has already passed by the log's clock",
                     when);
        else
            snprintf(why, size, "the closing time %s is not after the opening time", when);
        return ICS_EREJECTED;
    }
    if (m->closes_ms - opens > ICS_POLICY_PERIOD_MAX) {
        snprintf(why, size, "a consultation runs for at most 366 days");
        return ICS_EREJECTED;
    }
    return s_consultees(db, NULL, 0, m, why, size);
}

int ics_consult_check_open(ics_apply_ctx_t *ctx, const Ics__V1__MotionOpenConsultation *m,
                           char *why, size_t size)
{
    return s_check_open(ctx->db, ctx->clock_ms, m, why, size);
}

int ics_consult_open(ics_apply_ctx_t *ctx, uint64_t id, const Ics__V1__MotionOpenConsultation *m,
                     char *why, size_t size)
{
    uint64_t opens = m->opens_ms > ctx->clock_ms ? m->opens_ms : ctx->clock_ms;
    bool now = opens <= ctx->clock_ms;
    int rc = s_check_open(ctx->db, ctx->clock_ms, m, why, size);

    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_run(ctx->db, "INSERT INTO consultations(id, plan, version, question, opens_ms,"
                               " closes_ms, status, decided_at, opened_at, closed_at, closed_ms,"
                               " closed_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, 0, '')",
                      "ututuutuu", id, m->plan, (uint64_t)m->version, m->question, opens,
                      m->closes_ms, now ? "open" : "scheduled", ctx->position,
                      now ? ctx->position : (uint64_t)0);
    if (rc == ICS_OK)
        rc = s_consultees(ctx->db, ctx, id, m, why, size);
    return rc;
}

/* ---------------------------------------------------------------- closing */

static int s_close(ics_apply_ctx_t *ctx, const s_round_t *r, const char *by, uint64_t closed_ms)
{
    sqlite3_stmt *st = NULL;
    char note[160], when[32], target[48], why[96];
    int rc;

    rc = ics_sql_run(ctx->db, "UPDATE consultations SET status = 'closed', closed_at = ?2,"
                               " closed_ms = ?3, closed_by = ?4 WHERE id = ?1",
                      "uuut", r->id, ctx->position, closed_ms, by);
    if (rc != ICS_OK)
        return rc;
    ics_gov_time(r->closes_ms, when);
    if (strcmp(by, "deadline") == 0)
        snprintf(note, sizeof note, "not received by the deadline, %s", when);
    else
        snprintf(note, sizeof note, "not received: the consultation was closed early by %s, "
                 "before its deadline %s", by, when);
    /* Every HWB consultee: its latest opinion, or a record that none came. */
    rc = ics_sql_query(ctx->db, &st,
                         "SELECT c.consultee, coalesce(r.hwb_opinion, 0),"
                         " coalesce(r.hwb_reasons, ''), coalesce(r.revision, 0)"
                         " FROM consultees c LEFT JOIN responses r ON r.consultation ="
                         " c.consultation AND r.consultee = c.consultee AND r.revision ="
                         " (SELECT max(revision) FROM responses x WHERE x.consultation ="
                         " c.consultation AND x.consultee = c.consultee)"
                         " WHERE c.consultation = ?1 AND c.kind = 'hwb' ORDER BY c.consultee",
                         "u", r->id);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(ctx->db, st)) == ICS_OK) {
        int opinion = sqlite3_column_int(st, 1);
        rc = ics_sql_run(ctx->db, "INSERT INTO hwb_opinions(consultation, consultee, opinion,"
                                   " reasons, revision, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                          "utitut", r->id,
                          (const char *)sqlite3_column_text(st, 0), opinion,
                          (const char *)sqlite3_column_text(st, 2), ics_sql_column_u64(st, 3),
                          opinion != 0 ? "" : note);
        if (rc != ICS_OK)
            break;
    }
    ics_sql_release(ctx->db, st);
    if (rc != ICS_ENOENT)
        return rc;
    /* A motion to close it early has nothing left to decide. */
    snprintf(target, sizeof target, "consultation:%" PRIu64, r->id);
    snprintf(why, sizeof why, "consultation %" PRIu64 " closed (%s)", r->id,
             strcmp(by, "deadline") == 0 ? "its deadline" : by);
    return ics_motions_lapse(ctx, target, why);
}

int ics_consult_check_close(ics_db_t *db, uint64_t id, char plan_out[ICS_POLICY_ID_MAX],
                            char *why, size_t size)
{
    s_round_t r;
    char closed[120];
    int rc = s_round_get(db, id, &r);

    plan_out[0] = '\0';
    if (rc == ICS_ENOENT) {
        snprintf(why, size, "there is no consultation %" PRIu64, id);
        return ICS_EREJECTED;
    }
    if (rc != ICS_OK)
        return rc;
    ics_strcpy(plan_out, ICS_POLICY_ID_MAX, r.plan);
    if (strcmp(r.status, "closed") == 0) {
        s_closed_text(&r, closed, sizeof closed);
        snprintf(why, size, "consultation %" PRIu64 " is already %s", id, closed);
        rc = ICS_EREJECTED;
    } else if (strcmp(r.status, "open") != 0) {
        char when[32];
        ics_gov_time(r.opens_ms, when);
        snprintf(why, size, "consultation %" PRIu64 " has not opened yet (it opens at %s)", id,
                 when);
        rc = ICS_EREJECTED;
    }
    s_round_free(&r);
    return rc;
}

int ics_consult_close_early(ics_apply_ctx_t *ctx, uint64_t id, uint64_t motion, char *why,
                            size_t size)
{
    char plan[ICS_POLICY_ID_MAX], by[48];
    s_round_t r;
    int rc = ics_consult_check_close(ctx->db, id, plan, why, size);

    if (rc != ICS_OK)
        return rc;
    rc = s_round_get(ctx->db, id, &r);
    if (rc != ICS_OK)
        return rc;
    snprintf(by, sizeof by, "motion %" PRIu64, motion);
    rc = s_close(ctx, &r, by, ctx->clock_ms);
    s_round_free(&r);
    return rc;
}

static int s_on_clock(ics_apply_ctx_t *ctx)
{
    sqlite3_stmt *st = NULL;
    uint64_t ids[32];
    size_t n;
    int rc;

    rc = ics_sql_run(ctx->db, "UPDATE consultations SET status = 'open', opened_at = ?1"
                               " WHERE status = 'scheduled' AND opens_ms <= ?2",
                      "uu", ctx->position, ctx->clock_ms);
    if (rc != ICS_OK)
        return rc;
    /* Close in batches: s_close writes while we would be reading. */
    do {
        n = 0;
        rc = ics_sql_query(ctx->db, &st, "SELECT id FROM consultations WHERE status = 'open'"
                                           " AND closes_ms <= ?1 ORDER BY id LIMIT 32",
                             "u", ctx->clock_ms);
        if (rc != ICS_OK)
            return rc;
        while (n < 32 && (rc = ics_sql_row(ctx->db, st)) == ICS_OK)
            ids[n++] = ics_sql_column_u64(st, 0);
        ics_sql_release(ctx->db, st);
        if (rc != ICS_OK && rc != ICS_ENOENT)
            return rc;
        rc = ICS_OK;
        for (size_t i = 0; i < n && rc == ICS_OK; i++) {
            s_round_t r;
            rc = s_round_get(ctx->db, ids[i], &r);
            if (rc == ICS_OK)
                rc = s_close(ctx, &r, "deadline", r.closes_ms);
            s_round_free(&r);
        }
    } while (rc == ICS_OK && n == 32);
    return rc;
}

/* s_on_clock acts on exactly these: scheduled rounds by opens_ms, open
 * ones by closes_ms. */
static int s_deadline(ics_db_t *db, uint64_t clock, ics_deadline_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = ics_sql_query(db, &st, "SELECT min(CASE WHEN t > ?1 THEN t END),"
                                  " coalesce(max(t <= ?1), 0) FROM"
                                  " (SELECT opens_ms AS t FROM consultations"
                                  "  WHERE status = 'scheduled' UNION ALL SELECT closes_ms"
                                  "  FROM consultations WHERE status = 'open')", "u", clock);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK) {
        out->next = ics_sql_column_u64(st, 0);
        out->overdue = sqlite3_column_int(st, 1) != 0;
    }
    ics_sql_release(db, st);
    return rc == ICS_OK ? ICS_OK : ICS_EIO;
}

/* ---------------------------------------------------------------- responses */

static int s_respond(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__ConsultRespond *c = cmd->consult_respond;
    ics_person_t who;
    ics_org_t consultee;
    s_round_t r;
    sqlite3_stmt *st = NULL;
    const char *cid = c->consultee[0] != '\0' ? c->consultee : ctx->org;
    char role[ICS_POLICY_ID_MAX] = "", why[ICS_WHY_MAX], when[32];
    uint64_t revision = 0, n = 0;
    bool hwb;
    int rc;

    rc = ics_people_require_actor(ctx, &who);
    if (rc != ICS_OK)
        return rc;
    rc = s_round_get(ctx->db, c->consultation, &r);
    if (rc == ICS_ENOENT)
        return ics_reject(ctx, "there is no consultation %" PRIu64, c->consultation);
    if (rc != ICS_OK)
        return rc;
    if (strcmp(r.status, "closed") == 0) {
        char closed[120];
        s_closed_text(&r, closed, sizeof closed);
        rc = ics_reject(ctx, "too late: consultation %" PRIu64 " on %s version %u %s; responses "
                             "are no longer accepted", r.id, r.plan, r.version, closed);
        goto out;
    }
    if (strcmp(r.status, "open") != 0) {
        ics_gov_time(r.opens_ms, when);
        rc = ics_reject(ctx, "consultation %" PRIu64 " opens at %s; respond then", r.id, when);
        goto out;
    }
    if (!ics_valid_id(cid, ICS_ORG_MAX)) {
        rc = ics_reject(ctx, "'%.40s' is not an organisation id", cid);
        goto out;
    }
    rc = ics_sql_query(ctx->db, &st, "SELECT kind, name FROM consultees WHERE consultation ="
                                       " ?1 AND consultee = ?2", "ut", r.id, cid);
    if (rc != ICS_OK)
        goto out;
    rc = ics_sql_row(ctx->db, st);
    if (rc == ICS_ENOENT) {
        rc = ics_reject(ctx, "%s is not a consultee of consultation %" PRIu64 " (icsctl consult "
                             "show %" PRIu64 " lists them)", cid, r.id, r.id);
        goto out;
    }
    if (rc != ICS_OK)
        goto out;
    memset(&consultee, 0, sizeof consultee);
    ics_strcpy(consultee.org, sizeof consultee.org, cid);
    ics_sql_column_text(st, 0, consultee.kind, sizeof consultee.kind);
    ics_sql_column_text(st, 1, consultee.name, sizeof consultee.name);
    ics_sql_release(ctx->db, st);
    st = NULL;
    hwb = strcmp(consultee.kind, "hwb") == 0;
    if (strcmp(cid, ctx->org) != 0) {
        rc = ics_people_acts_for(ctx->db, ctx->org, ctx->actor, cid, role);
        if (rc != ICS_OK)
            goto out;
        if (role[0] == '\0') {
            rc = ics_reject(ctx, "%s of %s may not respond for %s: that needs a role acting for "
                                 "it (e.g. hwb_chair or consultee_contact with scope %s)",
                            ctx->actor, ctx->org, cid, cid);
            goto out;
        }
    }
    if (c->stance < ICS__V1__STANCE__STANCE_SUPPORT || c->stance > ICS__V1__STANCE__STANCE_NO_COMMENT) {
        rc = ics_reject(ctx, "a response takes a position: support, support with changes, "
                             "object or no comment");
        goto out;
    }
    if (!ics_gov_valid_text(c->text, ICS_TEXT_MAX, false)) {
        rc = ics_reject(ctx, "the response text must be under %u bytes, without control "
                             "characters other than newline and tab", ICS_TEXT_MAX);
        goto out;
    }
    if (hwb && c->hwb_opinion != ICS__V1__OPINION__OPINION_YES &&
        c->hwb_opinion != ICS__V1__OPINION__OPINION_NO) {
        rc = ics_reject(ctx, "%s is a health and wellbeing board: its response must say whether "
                             "the draft takes proper account of its joint local health and "
                             "wellbeing strategy (yes or no, with reasons)", cid);
        goto out;
    }
    if (hwb && !ics_gov_valid_text(c->hwb_reasons, ICS_TEXT_MAX, true)) {
        rc = ics_reject(ctx, "give the health and wellbeing board's reasons for its opinion");
        goto out;
    }
    if (!hwb && (c->hwb_opinion != ICS__V1__OPINION__OPINION_UNSPECIFIED ||
                 c->hwb_reasons[0] != '\0')) {
        rc = ics_reject(ctx, "only a health and wellbeing board gives the statutory opinion; %s "
                             "is %s", cid, consultee.kind);
        goto out;
    }
    if (c->n_amendments > S_MAX_LINKED) {
        rc = ics_reject(ctx, "a response links at most %d amendments", S_MAX_LINKED);
        goto out;
    }
    for (size_t i = 0; i < c->n_amendments; i++) {
        for (size_t k = 0; k < i; k++)
            if (c->amendments[k] == c->amendments[i]) {
                rc = ics_reject(ctx, "amendment %" PRIu64 " is linked twice", c->amendments[i]);
                goto out;
            }
        rc = ics_plans_check_amendment_of(ctx->db, c->amendments[i], r.plan, why, sizeof why);
        if (rc == ICS_EREJECTED)
            rc = ics_reject(ctx, "%s", why);
        if (rc != ICS_OK)
            goto out;
    }
    rc = ics_sql_u64(ctx->db, &revision, "SELECT coalesce(max(revision), 0) FROM responses"
                                         " WHERE consultation = ?1 AND consultee = ?2",
                     "ut", r.id, cid);
    if (rc != ICS_OK)
        goto out;
    if (revision != 0) {
        /* The same response again is a mistake, not a revision. */
        rc = ics_sql_u64(ctx->db, &n, "SELECT count(*) FROM responses WHERE consultation = ?1"
                                      " AND consultee = ?2 AND revision = ?3 AND stance = ?4"
                                      " AND text = ?5 AND hwb_opinion = ?6 AND hwb_reasons = ?7",
                         "utuitit", r.id, cid, revision, (int)c->stance, c->text,
                         (int)c->hwb_opinion, c->hwb_reasons);
        if (rc != ICS_OK)
            goto out;
        if (n != 0) {
            uint64_t links = 0;
            rc = ics_sql_u64(ctx->db, &links, "SELECT count(*) FROM response_amendments WHERE"
                                              " consultation = ?1 AND consultee = ?2 AND"
                                              " revision = ?3", "utu", r.id, cid, revision);
            if (rc != ICS_OK)
                goto out;
            if (links == c->n_amendments) {
                rc = ics_reject(ctx, "%s's response to consultation %" PRIu64 " already says "
                                     "exactly this (revision %" PRIu64 ")", cid, r.id,
                                revision);
                goto out;
            }
        }
    }
    rc = ics_sql_run(ctx->db, "INSERT INTO responses(consultation, consultee, revision, stance,"
                               " text, hwb_opinion, hwb_reasons, org, person, role, position,"
                               " entry_id, clock_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
                               " ?10, ?11, ?12, ?13)",
                      "utuitittttubu", r.id, cid,
                      revision + 1, (int)c->stance, c->text, (int)c->hwb_opinion,
                      c->hwb_reasons, ctx->org, ctx->actor, role, ctx->position, ctx->entry_id,
                      32, ctx->clock_ms);
    for (size_t i = 0; i < c->n_amendments && rc == ICS_OK; i++)
        rc = ics_sql_run(ctx->db, "INSERT INTO response_amendments(consultation, consultee,"
                                   " revision, amendment) VALUES (?1, ?2, ?3, ?4)",
                          "utuu", r.id, cid, revision + 1, c->amendments[i]);
out:
    ics_sql_release(ctx->db, st);
    s_round_free(&r);
    return rc;
}

static const ics_fsm_handler_t s_handlers[] = {
    {ICS__V1__COMMAND__BODY_CONSULT_RESPOND, s_respond},
    {0, NULL},
};

/* ---------------------------------------------------------------- adoption */

typedef struct {
    ics_db_t *db;
    uint64_t id;
    char *why;
    size_t size;
    bool failed;
} s_hwb_check_t;

static int s_hwb_consulted(void *arg, const ics_org_t *o)
{
    s_hwb_check_t *c = arg;
    uint64_t n = 0;
    int rc;

    if (c->failed)
        return ICS_OK;
    rc = ics_sql_u64(c->db, &n, "SELECT count(*) FROM consultees WHERE consultation = ?1 AND"
                                " consultee = ?2", "ut", c->id, o->org);
    if (rc == ICS_OK && n == 0) {
        snprintf(c->why, c->size, "%s (%s) was not a consultee of consultation %" PRIu64 "; "
                 "every health and wellbeing board must be consulted", o->name, o->org, c->id);
        c->failed = true;
    }
    return rc;
}

/* Does round r let its version be adopted? ICS_EREJECTED with why if not. */
static int s_qualifies(ics_db_t *db, const s_round_t *r, char *why, size_t size)
{
    sqlite3_stmt *st = NULL;
    s_hwb_check_t c = {db, r->id, why, size, false};
    int rc = ics_orgs_each_kind(db, "hwb", s_hwb_consulted, &c);

    if (rc != ICS_OK)
        return rc;
    if (c.failed)
        return ICS_EREJECTED;
    rc = ics_sql_query(db, &st, "SELECT c.consultee, c.name, h.opinion FROM consultees c"
                                  " LEFT JOIN hwb_opinions h ON h.consultation = c.consultation"
                                  " AND h.consultee = c.consultee WHERE c.consultation = ?1 AND"
                                  " c.kind = 'hwb' ORDER BY c.consultee", "u", r->id);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        bool recorded = sqlite3_column_type(st, 2) != SQLITE_NULL;
        int opinion = sqlite3_column_int(st, 2);
        if (!recorded) {
            snprintf(why, size, "the opinion of %s is not on record for consultation %" PRIu64,
                     (const char *)sqlite3_column_text(st, 0), r->id);
            rc = ICS_EREJECTED;
            break;
        }
        if (opinion == 0 && strcmp(r->closed_by, "deadline") != 0) {
            snprintf(why, size, "%s gave no opinion and consultation %" PRIu64 " was closed early "
                     "by %s, before its deadline; consult again", (const char *)
                     sqlite3_column_text(st, 0), r->id, r->closed_by);
            rc = ICS_EREJECTED;
            break;
        }
    }
    ics_sql_release(db, st);
    return rc == ICS_ENOENT ? ICS_OK : rc;
}

int ics_consult_for_adoption(ics_db_t *db, const char *plan, uint32_t version, uint64_t *id,
                             char *why, size_t size)
{
    sqlite3_stmt *st = NULL;
    uint64_t ids[16];
    size_t n = 0;
    char first_why[ICS_WHY_MAX] = "";
    int rc;

    *id = 0;
    rc = ics_sql_query(db, &st, "SELECT id FROM consultations WHERE plan = ?1 AND version = ?2"
                                  " AND status = 'closed' ORDER BY id DESC LIMIT 16",
                         "tu", plan, (uint64_t)version);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK)
        ids[n++] = ics_sql_column_u64(st, 0);
    ics_sql_release(db, st);
    if (rc != ICS_ENOENT)
        return rc;
    if (n == 0) {
        uint64_t open = 0;
        rc = ics_sql_u64(db, &open, "SELECT coalesce(max(id), 0) FROM consultations WHERE"
                                    " plan = ?1 AND version = ?2", "tu", plan,
                         (uint64_t)version);
        if (rc != ICS_OK)
            return rc;
        if (open != 0)
            snprintf(why, size, "consultation %" PRIu64 " on version %u of plan %s has not "
                     "closed yet; a version is adopted only after its consultation closes",
                     open, version, plan);
        else
            snprintf(why, size, "version %u of plan %s has not been consulted on; open a "
                     "consultation on it (icsctl consult open) and let it close first", version,
                     plan);
        return ICS_EREJECTED;
    }
    for (size_t i = 0; i < n; i++) {
        s_round_t r;
        rc = s_round_get(db, ids[i], &r);
        if (rc != ICS_OK)
            return rc;
        rc = s_qualifies(db, &r, why, size);
        s_round_free(&r);
        if (rc == ICS_OK) {
            *id = ids[i];
            return ICS_OK;
        }
        if (rc != ICS_EREJECTED)
            return rc;
        if (i == 0)
            ics_strcpy(first_why, sizeof first_why, why);
    }
    /* Report what is wrong with the latest round. */
    ics_strcpy(why, size, first_why);
    return ICS_EREJECTED;
}

int ics_consult_each_for_plan(ics_db_t *db, const char *plan,
                              int (*fn)(void *arg, const ics_consult_info_t *c), void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc = ics_sql_query(db, &st,
                             "SELECT id, version, status, opens_ms, closes_ms, closed_ms,"
                             " closed_by, (SELECT count(*) FROM consultees x WHERE"
                             " x.consultation = c.id), (SELECT count(DISTINCT consultee) FROM"
                             " responses r WHERE r.consultation = c.id)"
                             " FROM consultations c WHERE plan = ?1 ORDER BY id", "t", plan);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        ics_consult_info_t c;
        memset(&c, 0, sizeof c);
        c.id = ics_sql_column_u64(st, 0);
        c.version = (uint32_t)ics_sql_column_u64(st, 1);
        ics_sql_column_text(st, 2, c.status, sizeof c.status);
        c.opens_ms = ics_sql_column_u64(st, 3);
        c.closes_ms = ics_sql_column_u64(st, 4);
        c.closed_ms = ics_sql_column_u64(st, 5);
        ics_sql_column_text(st, 6, c.closed_by, sizeof c.closed_by);
        c.consultees = (unsigned)ics_sql_column_u64(st, 7);
        c.responded = (unsigned)ics_sql_column_u64(st, 8);
        rc = fn(arg, &c);
        if (rc != ICS_OK)
            break;
    }
    ics_sql_release(db, st);
    return rc == ICS_ENOENT ? ICS_OK : rc;
}

/* ---------------------------------------------------------------- reports */

/* Each consultee with its latest response (if any), ordered by consultee. */
#define S_LATEST_SQL                                                                          \
    "SELECT c.consultee, c.kind, c.name, r.revision, r.stance, r.text, r.hwb_opinion,"        \
    " r.hwb_reasons, r.org, r.person, r.role, r.position, r.entry_id, r.clock_ms"            \
    " FROM consultees c LEFT JOIN responses r ON r.consultation = c.consultation AND"         \
    " r.consultee = c.consultee AND r.revision = (SELECT max(revision) FROM responses x"      \
    " WHERE x.consultation = c.consultation AND x.consultee = c.consultee)"                   \
    " WHERE c.consultation = ?1 ORDER BY c.consultee"

typedef struct {
    unsigned consultees, responded;
    unsigned by_stance[5];
} s_counts_t;

static int s_counts(ics_db_t *db, uint64_t id, s_counts_t *c)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(c, 0, sizeof *c);
    rc = ics_sql_query(db, &st, S_LATEST_SQL, "u", id);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        c->consultees++;
        if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
            int s = sqlite3_column_int(st, 4);
            c->responded++;
            if (s >= 1 && s <= 4)
                c->by_stance[s]++;
        }
    }
    ics_sql_release(db, st);
    return rc == ICS_ENOENT ? ICS_OK : rc;
}

static int s_hwb_rows(ics_db_t *db, uint64_t id, FILE *md, json_t *j, FILE *text)
{
    sqlite3_stmt *st = NULL;
    unsigned n = 0;
    int rc = ics_sql_query(db, &st, "SELECT h.consultee, c.name, h.opinion, h.reasons,"
                                      " h.revision, h.note FROM hwb_opinions h JOIN consultees c"
                                      " ON c.consultation = h.consultation AND c.consultee ="
                                      " h.consultee WHERE h.consultation = ?1"
                                      " ORDER BY h.consultee", "u", id);
    if (rc != ICS_OK)
        return rc;
    if (j != NULL)
        json_arr(j, "hwb_opinions");
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        const char *org = (const char *)sqlite3_column_text(st, 0);
        const char *name = (const char *)sqlite3_column_text(st, 1);
        int opinion = sqlite3_column_int(st, 2);
        const char *reasons = (const char *)sqlite3_column_text(st, 3);
        const char *note = (const char *)sqlite3_column_text(st, 5);
        n++;
        if (j != NULL) {
            json_obj(j, NULL);
            json_str(j, "consultee", org);
            json_str(j, "name", name);
            json_str(j, "opinion", s_opinion_name(opinion));
            json_str(j, "reasons", reasons);
            json_u64(j, "revision", ics_sql_column_u64(st, 4));
            json_str(j, "note", note);
            json_end_obj(j);
        }
        if (md != NULL) {
            fprintf(md, "### %s (%s)\n\n", name, org);
            fprintf(md, "Does the draft take proper account of the board's joint local health "
                        "and wellbeing strategy? **%s**\n\n",
                    opinion == ICS__V1__OPINION__OPINION_YES ? "Yes"
                    : opinion == ICS__V1__OPINION__OPINION_NO ? "No" : "No opinion received");
            if (opinion != 0)
                fprintf(md, "%s\n\n", reasons);
            else
                fprintf(md, "_%s._\n\n", note);
        }
        if (text != NULL)
            fprintf(text, "  %-16s %-13s %s\n", org, s_opinion_name(opinion),
                    opinion != 0 ? reasons : note);
    }
    ics_sql_release(db, st);
    if (j != NULL)
        json_end_arr(j);
    if (rc == ICS_ENOENT && n == 0 && md != NULL)
        fprintf(md, "No health and wellbeing board was a consultee.\n\n");
    if (rc == ICS_ENOENT && n == 0 && text != NULL)
        fprintf(text, "  (none recorded yet: recorded when the consultation closes)\n");
    return rc == ICS_ENOENT ? ICS_OK : rc;
}

int ics_consult_markdown(ics_db_t *db, uint64_t id, FILE *out)
{
    sqlite3_stmt *st = NULL;
    s_round_t r;
    s_counts_t c;
    char opens[32], closed[120];
    int rc;

    rc = s_round_get(db, id, &r);
    if (rc != ICS_OK)
        return rc;
    rc = s_counts(db, id, &c);
    if (rc != ICS_OK)
        goto out;
    fprintf(out, "## Opinions of health and wellbeing boards\n\n");
    rc = s_hwb_rows(db, id, out, NULL, NULL);
    if (rc != ICS_OK)
        goto out;
    ics_gov_time(r.opens_ms, opens);
    s_closed_text(&r, closed, sizeof closed);
    fprintf(out, "## Consultation\n\n");
    fprintf(out, "Round %" PRIu64 " on version %u opened at %s and %s.\n\n", r.id, r.version,
            opens, closed);
    fprintf(out, "> %s\n\n", r.question);
    fprintf(out, "%u of %u consultees responded: %u support, %u support with changes, "
                 "%u object, %u no comment.\n\n", c.responded, c.consultees, c.by_stance[1],
            c.by_stance[2], c.by_stance[3], c.by_stance[4]);
    fprintf(out, "| Consultee | Position | Revisions | Log index |\n|---|---|---|---|\n");
    rc = ics_sql_query(db, &st, S_LATEST_SQL, "u", id);
    if (rc != ICS_OK)
        goto out;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        bool responded = sqlite3_column_type(st, 3) != SQLITE_NULL;
        char idx[24] = "-";
        if (responded)
            snprintf(idx, sizeof idx, "%" PRIu64, ics_sql_column_u64(st, 11));
        fprintf(out, "| %s (%s) | %s | %s | %s |\n", (const char *)sqlite3_column_text(st, 2),
                (const char *)sqlite3_column_text(st, 0),
                responded ? s_stance_name(sqlite3_column_int(st, 4)) : "did not respond",
                responded ? (const char *)sqlite3_column_text(st, 3) : "-", idx);
    }
    rc = rc == ICS_ENOENT ? ICS_OK : rc;
out:
    ics_sql_release(db, st);
    s_round_free(&r);
    return rc;
}

int ics_consult_json(ics_db_t *db, uint64_t id, json_t *j)
{
    s_round_t r;
    s_counts_t c;
    int rc = s_round_get(db, id, &r);

    if (rc != ICS_OK)
        return rc;
    rc = s_counts(db, id, &c);
    if (rc == ICS_OK) {
        json_u64(j, "consultation", r.id);
        json_u64(j, "version", r.version);
        json_str(j, "question", r.question);
        json_u64(j, "opens_ms", r.opens_ms);
        json_u64(j, "closes_ms", r.closes_ms);
        json_u64(j, "closed_ms", r.closed_ms);
        json_str(j, "closed_by", r.closed_by);
        json_u64(j, "consultees", c.consultees);
        json_u64(j, "responded", c.responded);
        rc = s_hwb_rows(db, id, NULL, j, NULL);
    }
    s_round_free(&r);
    return rc;
}

static int s_arg_round(ics_db_t *db, size_t argc, char *const *argv, const char *what,
                       s_round_t *r, ics_err_t *err)
{
    uint64_t id = 0;
    int rc;
    if (argc != 1 || !ics_gov_arg_u64(argv[0], &id))
        return ics_err(err, ICS_EINVAL, "%s takes a consultation number", what);
    rc = s_round_get(db, id, r);
    if (rc == ICS_ENOENT)
        return ics_err(err, ICS_ENOENT, "there is no consultation %s (icsctl consult list shows "
                                        "them)", argv[0]);
    return rc == ICS_OK ? ICS_OK : ics_err(err, rc, "state database error");
}

static void s_round_header(FILE *text, json_t *j, const s_round_t *r)
{
    char opens[32], closes[32], closed[120] = "";

    ics_gov_time(r->opens_ms, opens);
    ics_gov_time(r->closes_ms, closes);
    if (strcmp(r->status, "closed") == 0)
        s_closed_text(r, closed, sizeof closed);
    json_u64(j, "consultation", r->id);
    json_str(j, "plan", r->plan);
    json_u64(j, "version", r->version);
    json_str(j, "question", r->question);
    json_u64(j, "opens_ms", r->opens_ms);
    json_u64(j, "closes_ms", r->closes_ms);
    json_str(j, "status", r->status);
    json_u64(j, "decided_at", r->decided_at);
    json_u64(j, "closed_at", r->closed_at);
    json_u64(j, "closed_ms", r->closed_ms);
    json_str(j, "closed_by", r->closed_by);
    fprintf(text, "consultation %" PRIu64 " on plan %s version %u: %s\n", r->id, r->plan,
            r->version, strcmp(r->status, "closed") == 0 ? closed : r->status);
    fprintf(text, "opens %s, closes %s (decided by motion %" PRIu64 ")\n", opens, closes, r->id);
    fprintf(text, "question: %s\n", r->question);
}

/* consult.show ID: the round, its consultees and their current responses. */
static int s_query_show(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                        FILE *json, FILE *text, ics_err_t *err)
{
    sqlite3_stmt *st = NULL, *la = NULL;
    s_round_t r;
    json_t j;
    int rc = s_arg_round(db, argc, argv, "consult show", &r, err);

    if (rc != ICS_OK)
        return rc;
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    s_round_header(text, &j, &r);
    json_arr(&j, "consultees");
    fprintf(text, "\nCONSULTEES AND THEIR CURRENT RESPONSES\n");
    rc = ics_sql_query(db, &st, S_LATEST_SQL, "u", r.id);
    if (rc != ICS_OK)
        goto out;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        const char *cid = (const char *)sqlite3_column_text(st, 0);
        bool responded = sqlite3_column_type(st, 3) != SQLITE_NULL;
        bool hwb = strcmp((const char *)sqlite3_column_text(st, 1), "hwb") == 0;
        json_obj(&j, NULL);
        json_str(&j, "consultee", cid);
        json_str(&j, "kind", (const char *)sqlite3_column_text(st, 1));
        json_str(&j, "name", (const char *)sqlite3_column_text(st, 2));
        json_bool(&j, "responded", responded);
        fprintf(text, "\n%s  %s (%s)\n", cid, (const char *)sqlite3_column_text(st, 2),
                (const char *)sqlite3_column_text(st, 1));
        if (responded) {
            char when[32];
            ics_gov_time(ics_sql_column_u64(st, 13), when);
            json_u64(&j, "revision", ics_sql_column_u64(st, 3));
            json_str(&j, "stance", s_stance_name(sqlite3_column_int(st, 4)));
            json_str(&j, "text", (const char *)sqlite3_column_text(st, 5));
            if (hwb) {
                json_str(&j, "hwb_opinion", s_opinion_name(sqlite3_column_int(st, 6)));
                json_str(&j, "hwb_reasons", (const char *)sqlite3_column_text(st, 7));
            }
            json_str(&j, "org", (const char *)sqlite3_column_text(st, 8));
            json_str(&j, "person", (const char *)sqlite3_column_text(st, 9));
            json_str(&j, "role", (const char *)sqlite3_column_text(st, 10));
            json_u64(&j, "index", ics_sql_column_u64(st, 11));
            json_hex(&j, "entry_id", sqlite3_column_blob(st, 12),
                     (size_t)sqlite3_column_bytes(st, 12));
            fprintf(text, "  %s (revision %" PRIu64 ", index %" PRIu64 ", %s, by %s %s%s%s%s)\n",
                    s_stance_name(sqlite3_column_int(st, 4)), ics_sql_column_u64(st, 3),
                    ics_sql_column_u64(st, 11), when, (const char *)sqlite3_column_text(st, 8),
                    (const char *)sqlite3_column_text(st, 9),
                    sqlite3_column_bytes(st, 10) ? " as " : "",
                    (const char *)sqlite3_column_text(st, 10), "");
            if (hwb)
                fprintf(text, "  takes proper account of the joint local health and wellbeing "
                              "strategy: %s: %s\n", s_opinion_name(sqlite3_column_int(st, 6)),
                        (const char *)sqlite3_column_text(st, 7));
            if (sqlite3_column_bytes(st, 5) > 0)
                fprintf(text, "  %s\n", (const char *)sqlite3_column_text(st, 5));
            json_arr(&j, "amendments");
            rc = ics_sql_query(db, &la, "SELECT amendment FROM response_amendments WHERE"
                                          " consultation = ?1 AND consultee = ?2 AND"
                                          " revision = ?3 ORDER BY amendment", "utu", r.id, cid,
                                 ics_sql_column_u64(st, 3));
            if (rc != ICS_OK)
                goto out;
            bool first = true;
            while ((rc = ics_sql_row(db, la)) == ICS_OK) {
                json_u64(&j, NULL, ics_sql_column_u64(la, 0));
                fprintf(text, "%s%" PRIu64, first ? "  linked amendments: " : ", ",
                        ics_sql_column_u64(la, 0));
                first = false;
            }
            if (!first)
                fputc('\n', text);
            ics_sql_release(db, la);
            la = NULL;
            if (rc != ICS_ENOENT)
                goto out;
            json_end_arr(&j);
        } else {
            fprintf(text, "  no response%s\n", strcmp(r.status, "closed") == 0 ? "" : " yet");
        }
        json_end_obj(&j);
    }
    if (rc != ICS_ENOENT)
        goto out;
    json_end_arr(&j);
    fprintf(text, "\nHWB OPINIONS ON RECORD\n");
    rc = s_hwb_rows(db, r.id, NULL, &j, text);
    json_end_obj(&j);
out:
    ics_sql_release(db, la);
    ics_sql_release(db, st);
    s_round_free(&r);
    return rc == ICS_OK ? ICS_OK : ics_err(err, rc, "state database error");
}

/* consult.summary ID: counts by position, responses per consultee, who did
 * not respond, HWB opinions. */
static int s_query_summary(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                           FILE *json, FILE *text, ics_err_t *err)
{
    sqlite3_stmt *st = NULL;
    s_round_t r;
    s_counts_t c;
    json_t j;
    unsigned silent = 0;
    int rc = s_arg_round(db, argc, argv, "consult summary", &r, err);

    if (rc != ICS_OK)
        return rc;
    rc = s_counts(db, r.id, &c);
    if (rc != ICS_OK)
        goto out;
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    s_round_header(text, &j, &r);
    json_u64(&j, "consultees", c.consultees);
    json_u64(&j, "responded", c.responded);
    json_obj(&j, "positions");
    for (int s = 1; s <= 4; s++)
        json_u64(&j, s_stance_name(s), c.by_stance[s]);
    json_end_obj(&j);
    fprintf(text, "\n%u of %u consultees responded\n", c.responded, c.consultees);
    for (int s = 1; s <= 4; s++)
        fprintf(text, "  %-22s %u\n", s_stance_name(s), c.by_stance[s]);
    fprintf(text, "\nRESPONSES PER CONSULTEE\n");
    json_arr(&j, "responses");
    rc = ics_sql_query(db, &st,
                         "SELECT c.consultee, c.name, count(r.revision), max(r.revision),"
                         " (SELECT stance FROM responses y WHERE y.consultation = c.consultation"
                         " AND y.consultee = c.consultee ORDER BY revision DESC LIMIT 1)"
                         " FROM consultees c LEFT JOIN responses r ON r.consultation ="
                         " c.consultation AND r.consultee = c.consultee"
                         " WHERE c.consultation = ?1 GROUP BY c.consultee ORDER BY c.consultee",
                         "u", r.id);
    if (rc != ICS_OK)
        goto out;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        uint64_t n = ics_sql_column_u64(st, 2);
        if (n == 0) {
            silent++;
            continue;
        }
        json_obj(&j, NULL);
        json_str(&j, "consultee", (const char *)sqlite3_column_text(st, 0));
        json_u64(&j, "revisions", n);
        json_str(&j, "stance", s_stance_name(sqlite3_column_int(st, 4)));
        json_end_obj(&j);
        fprintf(text, "  %-16s %-22s %" PRIu64 " revision%s  %s\n",
                (const char *)sqlite3_column_text(st, 0),
                s_stance_name(sqlite3_column_int(st, 4)), n, n == 1 ? " " : "s",
                (const char *)sqlite3_column_text(st, 1));
    }
    if (rc != ICS_ENOENT)
        goto out;
    if (c.responded == 0)
        fprintf(text, "  (none)\n");
    json_end_arr(&j);
    sqlite3_reset(st);
    fprintf(text, "\n%s\n", strcmp(r.status, "closed") == 0 ? "DID NOT RESPOND"
                                                             : "NOT RESPONDED YET");
    json_arr(&j, "not_responded");
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        if (ics_sql_column_u64(st, 2) != 0)
            continue;
        json_str(&j, NULL, (const char *)sqlite3_column_text(st, 0));
        fprintf(text, "  %-16s %s\n", (const char *)sqlite3_column_text(st, 0),
                (const char *)sqlite3_column_text(st, 1));
    }
    if (rc != ICS_ENOENT)
        goto out;
    if (silent == 0)
        fprintf(text, "  (everyone responded)\n");
    json_end_arr(&j);
    fprintf(text, "\nHWB OPINIONS ON RECORD\n");
    rc = s_hwb_rows(db, r.id, NULL, &j, text);
    json_end_obj(&j);
out:
    ics_sql_release(db, st);
    s_round_free(&r);
    return rc == ICS_OK ? ICS_OK : ics_err(err, rc, "state database error");
}

/* consult.list [PLAN] */
static int s_query_list(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                        FILE *json, FILE *text, ics_err_t *err)
{
    sqlite3_stmt *st = NULL;
    const char *plan = argc > 0 ? argv[0] : "";
    unsigned n = 0;
    json_t j;
    int rc;

    if (argc > 1)
        return ics_err(err, ICS_EINVAL, "consult list takes an optional plan id");
    rc = ics_sql_query(db, &st, "SELECT id, plan, version, status, opens_ms, closes_ms,"
                                  " closed_by, (SELECT count(*) FROM consultees x WHERE"
                                  " x.consultation = c.id), (SELECT count(DISTINCT consultee)"
                                  " FROM responses r WHERE r.consultation = c.id)"
                                  " FROM consultations c WHERE ?1 = '' OR plan = ?1 ORDER BY id",
                         "t", plan);
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_arr(&j, "consultations");
    fprintf(text, "%-7s %-14s %-8s %-10s %-21s %-21s %s\n", "ID", "PLAN", "VERSION", "STATUS",
            "OPENS", "CLOSES", "RESPONDED");
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        char opens[32], closes[32];
        n++;
        ics_gov_time(ics_sql_column_u64(st, 4), opens);
        ics_gov_time(ics_sql_column_u64(st, 5), closes);
        json_obj(&j, NULL);
        json_u64(&j, "consultation", ics_sql_column_u64(st, 0));
        json_str(&j, "plan", (const char *)sqlite3_column_text(st, 1));
        json_u64(&j, "version", ics_sql_column_u64(st, 2));
        json_str(&j, "status", (const char *)sqlite3_column_text(st, 3));
        json_u64(&j, "opens_ms", ics_sql_column_u64(st, 4));
        json_u64(&j, "closes_ms", ics_sql_column_u64(st, 5));
        json_str(&j, "closed_by", (const char *)sqlite3_column_text(st, 6));
        json_u64(&j, "consultees", ics_sql_column_u64(st, 7));
        json_u64(&j, "responded", ics_sql_column_u64(st, 8));
        json_end_obj(&j);
        fprintf(text, "%-7" PRIu64 " %-14s %-8" PRIu64 " %-10s %-21s %-21s %" PRIu64 " of %"
                PRIu64 "\n", ics_sql_column_u64(st, 0), (const char *)sqlite3_column_text(st, 1),
                ics_sql_column_u64(st, 2), (const char *)sqlite3_column_text(st, 3), opens,
                closes, ics_sql_column_u64(st, 8), ics_sql_column_u64(st, 7));
    }
    ics_sql_release(db, st);
    json_end_arr(&j);
    json_end_obj(&j);
    if (n == 0)
        fprintf(text, "(no consultations%s%s)\n", plan[0] ? " on " : "", plan);
    return rc == ICS_ENOENT ? ICS_OK : ics_err(err, rc, "state database error");
}

static const ics_fsm_query_t s_queries[] = {
    {"consult.list", s_query_list},
    {"consult.show", s_query_show},
    {"consult.summary", s_query_summary},
    {NULL, NULL},
};

const ics_fsm_domain_t ics_fsm_domain_consult = {
    .name = "consult",
    .handlers = s_handlers,
    .schema = s_schema,
    .on_clock = s_on_clock,
    .deadline = s_deadline,
    .queries = s_queries,
};
