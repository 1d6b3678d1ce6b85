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
#include "fsm/fsm_consult.h"
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

/* ---------------------------------------------------------------- rounds */


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

static int s_close(ics_apply_ctx_t *ctx, const ics_consult_round_t *r, const char *by, uint64_t closed_ms)
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
    ics_consult_round_t r;
    char closed[120];
    int rc = ics_consult_round_get(db, id, &r);

    plan_out[0] = '\0';
    if (rc == ICS_ENOENT) {
        snprintf(why, size, "there is no consultation %" PRIu64, id);
        return ICS_EREJECTED;
    }
    if (rc != ICS_OK)
        return rc;
    ics_strcpy(plan_out, ICS_POLICY_ID_MAX, r.plan);
    if (strcmp(r.status, "closed") == 0) {
        ics_consult_closed_text(&r, closed, sizeof closed);
        snprintf(why, size, "consultation %" PRIu64 " is already %s", id, closed);
        rc = ICS_EREJECTED;
    } else if (strcmp(r.status, "open") != 0) {
        char when[32];
        ics_gov_time(r.opens_ms, when);
        snprintf(why, size, "consultation %" PRIu64 " has not opened yet (it opens at %s)", id,
                 when);
        rc = ICS_EREJECTED;
    }
    ics_consult_round_free(&r);
    return rc;
}

int ics_consult_close_early(ics_apply_ctx_t *ctx, uint64_t id, uint64_t motion, char *why,
                            size_t size)
{
    char plan[ICS_POLICY_ID_MAX], by[48];
    ics_consult_round_t r;
    int rc = ics_consult_check_close(ctx->db, id, plan, why, size);

    if (rc != ICS_OK)
        return rc;
    rc = ics_consult_round_get(ctx->db, id, &r);
    if (rc != ICS_OK)
        return rc;
    snprintf(by, sizeof by, "motion %" PRIu64, motion);
    rc = s_close(ctx, &r, by, ctx->clock_ms);
    ics_consult_round_free(&r);
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
            ics_consult_round_t r;
            rc = ics_consult_round_get(ctx->db, ids[i], &r);
            if (rc == ICS_OK)
                rc = s_close(ctx, &r, "deadline", r.closes_ms);
            ics_consult_round_free(&r);
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

/* The round responded to must be open: neither closed nor still
 * scheduled. */
static int s_check_round_open(ics_apply_ctx_t *ctx, const ics_consult_round_t *r)
{
    char when[32];

    if (strcmp(r->status, "closed") == 0) {
        char closed[120];
        ics_consult_closed_text(r, closed, sizeof closed);
        return ics_reject(ctx, "too late: consultation %" PRIu64 " on %s version %u %s; "
                               "responses are no longer accepted", r->id, r->plan, r->version,
                          closed);
    }
    if (strcmp(r->status, "open") != 0) {
        ics_gov_time(r->opens_ms, when);
        return ics_reject(ctx, "consultation %" PRIu64 " opens at %s; respond then", r->id,
                          when);
    }
    return ICS_OK;
}

/* The consultee responding (cid), as the round lists it. */
static int s_consultee(ics_apply_ctx_t *ctx, const ics_consult_round_t *r, const char *cid,
                       ics_org_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (!ics_valid_id(cid, ICS_ORG_MAX))
        return ics_reject(ctx, "'%.40s' is not an organisation id", cid);
    rc = ics_sql_query(ctx->db, &st, "SELECT kind, name FROM consultees WHERE consultation ="
                                       " ?1 AND consultee = ?2", "ut", r->id, cid);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(ctx->db, st);
    if (rc == ICS_OK) {
        memset(out, 0, sizeof *out);
        ics_strcpy(out->org, sizeof out->org, cid);
        ics_sql_column_text(st, 0, out->kind, sizeof out->kind);
        ics_sql_column_text(st, 1, out->name, sizeof out->name);
    }
    ics_sql_release(ctx->db, st);
    if (rc == ICS_ENOENT)
        return ics_reject(ctx, "%s is not a consultee of consultation %" PRIu64 " (icsctl "
                               "consult show %" PRIu64 " lists them)", cid, r->id, r->id);
    return rc;
}

/* Responding for another organisation than one's own needs a role acting
 * for it: role, "" when responding for one's own. */
static int s_check_responder(ics_apply_ctx_t *ctx, const char *cid,
                             char role[ICS_POLICY_ID_MAX])
{
    int rc;

    if (strcmp(cid, ctx->org) == 0)
        return ICS_OK;
    rc = ics_people_acts_for(ctx->db, ctx->org, ctx->actor, cid, role);
    if (rc != ICS_OK)
        return rc;
    if (role[0] == '\0')
        return ics_reject(ctx, "%s of %s may not respond for %s: that needs a role acting for "
                               "it (e.g. hwb_chair or consultee_contact with scope %s)",
                          ctx->actor, ctx->org, cid, cid);
    return ICS_OK;
}

/* The response's own words: its stance, its text and, from a health and
 * wellbeing board only, the statutory opinion with its reasons. */
static int s_check_wording(ics_apply_ctx_t *ctx, const Ics__V1__ConsultRespond *c,
                           const char *cid, const ics_org_t *consultee)
{
    bool hwb = strcmp(consultee->kind, "hwb") == 0;

    if (c->stance < ICS__V1__STANCE__STANCE_SUPPORT ||
        c->stance > ICS__V1__STANCE__STANCE_NO_COMMENT)
        return ics_reject(ctx, "a response takes a position: support, support with changes, "
                               "object or no comment");
    if (!ics_gov_valid_text(c->text, ICS_TEXT_MAX, false))
        return ics_reject(ctx, "the response text must be under %u bytes, without control "
                               "characters other than newline and tab", ICS_TEXT_MAX);
    if (hwb && c->hwb_opinion != ICS__V1__OPINION__OPINION_YES &&
        c->hwb_opinion != ICS__V1__OPINION__OPINION_NO)
        return ics_reject(ctx, "%s is a health and wellbeing board: its response must say "
                               "whether the draft takes proper account of its joint local "
                               "health and wellbeing strategy (yes or no, with reasons)", cid);
    if (hwb && !ics_gov_valid_text(c->hwb_reasons, ICS_TEXT_MAX, true))
        return ics_reject(ctx, "give the health and wellbeing board's reasons for its opinion");
    if (!hwb && (c->hwb_opinion != ICS__V1__OPINION__OPINION_UNSPECIFIED ||
                 c->hwb_reasons[0] != '\0'))
        return ics_reject(ctx, "only a health and wellbeing board gives the statutory opinion; "
                               "%s is %s", cid, consultee->kind);
    return ICS_OK;
}

/* The amendments a response links: few enough, each once, each to the
 * round's plan. */
static int s_check_links(ics_apply_ctx_t *ctx, const Ics__V1__ConsultRespond *c,
                         const char *plan)
{
    char why[ICS_WHY_MAX];
    int rc;

    if (c->n_amendments > S_MAX_LINKED)
        return ics_reject(ctx, "a response links at most %d amendments", S_MAX_LINKED);
    for (size_t i = 0; i < c->n_amendments; i++) {
        for (size_t k = 0; k < i; k++)
            if (c->amendments[k] == c->amendments[i])
                return ics_reject(ctx, "amendment %" PRIu64 " is linked twice",
                                  c->amendments[i]);
        rc = ics_plans_check_amendment_of(ctx->db, c->amendments[i], plan, why, sizeof why);
        if (rc == ICS_EREJECTED)
            rc = ics_reject(ctx, "%s", why);
        if (rc != ICS_OK)
            return rc;
    }
    return ICS_OK;
}

/* The consultee's latest revision (0 for none). The same response again is
 * a mistake, not a revision: refused. */
static int s_check_revision(ics_apply_ctx_t *ctx, const Ics__V1__ConsultRespond *c,
                            uint64_t round, const char *cid, uint64_t *revision)
{
    uint64_t n = 0, links = 0;
    int rc;

    rc = ics_sql_u64(ctx->db, revision, "SELECT coalesce(max(revision), 0) FROM responses"
                                        " WHERE consultation = ?1 AND consultee = ?2",
                     "ut", round, cid);
    if (rc != ICS_OK || *revision == 0)
        return rc;
    rc = ics_sql_u64(ctx->db, &n, "SELECT count(*) FROM responses WHERE consultation = ?1"
                                  " AND consultee = ?2 AND revision = ?3 AND stance = ?4"
                                  " AND text = ?5 AND hwb_opinion = ?6 AND hwb_reasons = ?7",
                     "utuitit", round, cid, *revision, (int)c->stance, c->text,
                     (int)c->hwb_opinion, c->hwb_reasons);
    if (rc != ICS_OK || n == 0)
        return rc;
    rc = ics_sql_u64(ctx->db, &links, "SELECT count(*) FROM response_amendments WHERE"
                                      " consultation = ?1 AND consultee = ?2 AND"
                                      " revision = ?3", "utu", round, cid, *revision);
    if (rc != ICS_OK)
        return rc;
    if (links == c->n_amendments)
        return ics_reject(ctx, "%s's response to consultation %" PRIu64 " already says "
                               "exactly this (revision %" PRIu64 ")", cid, round, *revision);
    return ICS_OK;
}

/* Writes the response as the consultee's revision `revision`, with the
 * amendments it links. */
static int s_insert_response(ics_apply_ctx_t *ctx, const Ics__V1__ConsultRespond *c,
                             uint64_t round, const char *cid, uint64_t revision,
                             const char *role)
{
    int rc;

    rc = ics_sql_run(ctx->db, "INSERT INTO responses(consultation, consultee, revision, stance,"
                               " text, hwb_opinion, hwb_reasons, org, person, role, position,"
                               " entry_id, clock_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
                               " ?10, ?11, ?12, ?13)",
                      "utuitittttubu", round, cid,
                      revision, (int)c->stance, c->text, (int)c->hwb_opinion,
                      c->hwb_reasons, ctx->org, ctx->actor, role, ctx->position, ctx->entry_id,
                      32, ctx->clock_ms);
    for (size_t i = 0; i < c->n_amendments && rc == ICS_OK; i++)
        rc = ics_sql_run(ctx->db, "INSERT INTO response_amendments(consultation, consultee,"
                                   " revision, amendment) VALUES (?1, ?2, ?3, ?4)",
                          "utuu", round, cid, revision, c->amendments[i]);
    return rc;
}

static int s_respond(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__ConsultRespond *c = cmd->consult_respond;
    ics_person_t who;
    ics_org_t consultee;
    ics_consult_round_t r;
    const char *cid = c->consultee[0] != '\0' ? c->consultee : ctx->org;
    char role[ICS_POLICY_ID_MAX] = "";
    uint64_t revision = 0;
    int rc;

    rc = ics_people_require_actor(ctx, &who);
    if (rc != ICS_OK)
        return rc;
    rc = ics_consult_round_get(ctx->db, c->consultation, &r);
    if (rc == ICS_ENOENT)
        return ics_reject(ctx, "there is no consultation %" PRIu64, c->consultation);
    if (rc != ICS_OK)
        return rc;
    rc = s_check_round_open(ctx, &r);
    if (rc == ICS_OK)
        rc = s_consultee(ctx, &r, cid, &consultee);
    if (rc == ICS_OK)
        rc = s_check_responder(ctx, cid, role);
    if (rc == ICS_OK)
        rc = s_check_wording(ctx, c, cid, &consultee);
    if (rc == ICS_OK)
        rc = s_check_links(ctx, c, r.plan);
    if (rc == ICS_OK)
        rc = s_check_revision(ctx, c, r.id, cid, &revision);
    if (rc == ICS_OK)
        rc = s_insert_response(ctx, c, r.id, cid, revision + 1, role);
    ics_consult_round_free(&r);
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
static int s_qualifies(ics_db_t *db, const ics_consult_round_t *r, char *why, size_t size)
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
        ics_consult_round_t r;
        rc = ics_consult_round_get(db, ids[i], &r);
        if (rc != ICS_OK)
            return rc;
        rc = s_qualifies(db, &r, why, size);
        ics_consult_round_free(&r);
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


const ics_fsm_domain_t ics_fsm_domain_consult = {
    .name = "consult",
    .handlers = s_handlers,
    .schema = s_schema,
    .on_clock = s_on_clock,
    .deadline = s_deadline,
    .queries = ics_consult_queries,
};
