/*
 * Joint forward plans: plans, their numbered immutable versions, and the
 * amendments that make new versions. Adoption of a version, acceptance of an
 * amendment and its rejection are decisions: fsm_motions.c carries them out
 * through ics_plans_adopt / _accept / _reject once a motion is carried (or
 * lost).
 *
 * A version is the plan's title and period and an ordered list of sections
 * (id, title, text). Section texts are stored once per distinct content and
 * shared between versions, so a long history keeps the snapshot small. Each
 * version has a content hash (docs/policy.md, "Plan content hash"):
 *   BLAKE2b-256("ICSD-PLAN-V1" || lp(plan) || lp(title) || lp(period)
 *               || u32be(n) || for each section lp(id) || lp(title) || lp(text))
 * with lp(x) = u32be(len(x)) || x.
 *
 * Invariants:
 *   - versions of a plan are 1, 2, 3 ... without gaps; a version's rows
 *     never change once written; plans.latest is the highest;
 *   - a version n > 1 is made by exactly one accepted amendment, applied to
 *     version n-1;
 *   - an amendment is accepted only while its section (for an added section:
 *     its id and its anchor) is as it was in the amendment's base version;
 *     otherwise it is refused when proposed, and superseded when another
 *     amendment changes the section first. Nothing is ever merged;
 *   - plans.adopted only moves forward, to a version that passed
 *     ics_plans_check_adopt.
 *
 *   Plan version:
 *                PlanCreate            amendment accepted
 *   (none) ------------------> v1 ------------------------> v2 -> ... (immutable)
 *          s_plan_create()          ics_plans_accept()
 *                               |
 *                               | motion plan.adopt carried: ics_plans_adopt()
 *                               v
 *                         ADOPTED (plans.adopted = v; the published plan)
 *
 *   Amendment:
 *                   AmendPropose                    motion amendment.accept carried
 *   (none) ------------------------> PROPOSED -----------------------------> ACCEPTED
 *          s_amend_propose(): refused   |  |  |     ics_plans_accept(): new version
 *          when stale (a conflict)      |  |  |
 *            motion lost:               |  |  | another amendment changes its section
 *            ics_plans_reject()         |  |  | first: s_sweep() -> SUPERSEDED
 *          REJECTED <-------------------+  |  +--------------------> SUPERSEDED
 *                                          | AmendWithdraw (its organisation):
 *                                          v s_amend_withdraw()
 *                                       WITHDRAWN
 */
#include "fsm/fsm_gov.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_SECTIONS 200
#define S_DIFF_CELLS (4u * 1024u * 1024u)

static const char s_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS plans("
    " plan TEXT PRIMARY KEY,"
    " title TEXT NOT NULL,"
    " period TEXT NOT NULL,"
    " org TEXT NOT NULL,"
    " person TEXT NOT NULL,"
    " created INTEGER NOT NULL,"       /* position */
    " latest INTEGER NOT NULL,"
    " adopted INTEGER NOT NULL);"      /* version, 0 if none */
    "CREATE TABLE IF NOT EXISTS plan_versions("
    " plan TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " hash BLOB NOT NULL,"
    " position INTEGER NOT NULL,"
    " clock_ms INTEGER NOT NULL,"
    " amendment INTEGER NOT NULL,"     /* 0 for version 1 */
    " org TEXT NOT NULL,"
    " person TEXT NOT NULL,"
    " PRIMARY KEY (plan, version));"
    "CREATE TABLE IF NOT EXISTS plan_texts("
    " hash BLOB PRIMARY KEY,"          /* BLAKE2b-256 of the text */
    " text TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS plan_sections("
    " plan TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " ord INTEGER NOT NULL,"
    " section TEXT NOT NULL,"
    " title TEXT NOT NULL,"
    " text_hash BLOB NOT NULL,"
    " PRIMARY KEY (plan, version, ord));"
    "CREATE UNIQUE INDEX IF NOT EXISTS plan_sections_id ON plan_sections(plan, section, version);"
    "CREATE TABLE IF NOT EXISTS amendments("
    " id INTEGER PRIMARY KEY,"         /* position proposed at */
    " plan TEXT NOT NULL,"
    " base INTEGER NOT NULL,"
    " op INTEGER NOT NULL,"
    " section TEXT NOT NULL,"
    " title TEXT NOT NULL,"
    " text TEXT NOT NULL,"
    " paragraph INTEGER NOT NULL,"
    " after TEXT NOT NULL,"
    " rationale TEXT NOT NULL,"
    " org TEXT NOT NULL,"
    " person TEXT NOT NULL,"
    " clock_ms INTEGER NOT NULL,"
    " status TEXT NOT NULL,"           /* proposed accepted rejected withdrawn superseded */
    " status_at INTEGER NOT NULL,"     /* position of the last change */
    " status_note TEXT NOT NULL,"
    " version INTEGER NOT NULL,"       /* the version it made, when accepted */
    " motion INTEGER NOT NULL);"       /* the motion that decided it, 0 if none */
    "CREATE INDEX IF NOT EXISTS amendments_plan ON amendments(plan, status, id);"
    "CREATE TABLE IF NOT EXISTS adoptions("
    " plan TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " position INTEGER NOT NULL,"
    " clock_ms INTEGER NOT NULL,"
    " motion INTEGER NOT NULL,"
    " consultation INTEGER NOT NULL,"
    " PRIMARY KEY (plan, position));";

static int s_schema(ics_db_t *db)
{
    return ics_sql_exec(db, s_schema_sql);
}

/* ---------------------------------------------------------------- documents */

typedef struct {
    char id[ICS_POLICY_ID_MAX];
    char *title;
    char *text;
} s_sec_t;

/* One version's content, in memory. */
typedef struct {
    char plan[ICS_POLICY_ID_MAX];
    char *title;
    char *period;
    uint32_t version;
    size_t n, cap;
    s_sec_t *sec;
} s_doc_t;

static void s_doc_free(s_doc_t *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->sec[i].title);
        free(d->sec[i].text);
    }
    free(d->sec);
    free(d->title);
    free(d->period);
    memset(d, 0, sizeof *d);
}

static long s_doc_find(const s_doc_t *d, const char *id)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->sec[i].id, id) == 0)
            return (long)i;
    return -1;
}

/* Inserts a copy of the section at index at (0..n). */
static int s_doc_insert(s_doc_t *d, size_t at, const char *id, const char *title,
                        const char *text)
{
    s_sec_t s;

    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 8;
        s_sec_t *p = realloc(d->sec, cap * sizeof *p);
        if (p == NULL)
            return ICS_ENOMEM;
        d->sec = p;
        d->cap = cap;
    }
    memset(&s, 0, sizeof s);
    ics_strcpy(s.id, sizeof s.id, id);
    s.title = strdup(title);
    s.text = strdup(text);
    if (s.title == NULL || s.text == NULL) {
        free(s.title);
        free(s.text);
        return ICS_ENOMEM;
    }
    memmove(&d->sec[at + 1], &d->sec[at], (d->n - at) * sizeof *d->sec);
    d->sec[at] = s;
    d->n++;
    return ICS_OK;
}

static void s_doc_remove(s_doc_t *d, size_t at)
{
    free(d->sec[at].title);
    free(d->sec[at].text);
    memmove(&d->sec[at], &d->sec[at + 1], (d->n - at - 1) * sizeof *d->sec);
    d->n--;
}

static int s_set(char **field, const char *v)
{
    char *c = strdup(v);
    if (c == NULL)
        return ICS_ENOMEM;
    free(*field);
    *field = c;
    return ICS_OK;
}

/* Loads version of plan. ICS_ENOENT if the plan or version does not exist. */
static int s_doc_load(ics_db_t *db, const char *plan, uint32_t version, s_doc_t *d)
{
    sqlite3_stmt *st = NULL;
    uint64_t n = 0;
    int rc;

    memset(d, 0, sizeof *d);
    rc = ics_sql_u64(db, &n, "SELECT count(*) FROM plan_versions WHERE plan = ?1 AND"
                             " version = ?2", "tu", plan, (uint64_t)version);
    if (rc != ICS_OK)
        return rc;
    if (n == 0)
        return ICS_ENOENT;
    ics_strcpy(d->plan, sizeof d->plan, plan);
    d->version = version;
    rc = ics_sql_query(db, &st, "SELECT title, period FROM plans WHERE plan = ?1", "t", plan);
    if (rc != ICS_OK)
        goto out;
    rc = ics_sql_row(db, st);
    if (rc != ICS_OK) {
        rc = rc == ICS_ENOENT ? ICS_EIO : rc;
        goto out;
    }
    if (s_set(&d->title, (const char *)sqlite3_column_text(st, 0)) != ICS_OK ||
        s_set(&d->period, (const char *)sqlite3_column_text(st, 1)) != ICS_OK) {
        rc = ICS_ENOMEM;
        goto out;
    }
    ics_sql_release(db, st);
    rc = ics_sql_query(db, &st, "SELECT s.section, s.title, t.text FROM plan_sections s"
                                  " JOIN plan_texts t ON t.hash = s.text_hash"
                                  " WHERE s.plan = ?1 AND s.version = ?2 ORDER BY s.ord",
                         "tu", plan, (uint64_t)version);
    if (rc != ICS_OK)
        goto out;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        rc = s_doc_insert(d, d->n, (const char *)sqlite3_column_text(st, 0),
                          (const char *)sqlite3_column_text(st, 1),
                          (const char *)sqlite3_column_text(st, 2));
        if (rc != ICS_OK)
            goto out;
    }
    rc = rc == ICS_ENOENT ? ICS_OK : rc;
out:
    ics_sql_release(db, st);
    if (rc != ICS_OK)
        s_doc_free(d);
    return rc;
}

static void s_lp(crypto_generichash_state *h, const char *s)
{
    size_t n = strlen(s);
    uint8_t len[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    crypto_generichash_update(h, len, sizeof len);
    crypto_generichash_update(h, (const uint8_t *)s, n);
}

static void s_doc_hash(const s_doc_t *d, uint8_t out[32])
{
    crypto_generichash_state h;
    uint8_t n[4] = {(uint8_t)(d->n >> 24), (uint8_t)(d->n >> 16), (uint8_t)(d->n >> 8),
                    (uint8_t)d->n};

    crypto_generichash_init(&h, NULL, 0, 32);
    crypto_generichash_update(&h, (const uint8_t *)"ICSD-PLAN-V1", 12);
    s_lp(&h, d->plan);
    s_lp(&h, d->title);
    s_lp(&h, d->period);
    crypto_generichash_update(&h, n, sizeof n);
    for (size_t i = 0; i < d->n; i++) {
        s_lp(&h, d->sec[i].id);
        s_lp(&h, d->sec[i].title);
        s_lp(&h, d->sec[i].text);
    }
    crypto_generichash_final(&h, out, 32);
}

static void s_text_hash(const char *text, uint8_t out[32])
{
    crypto_generichash(out, 32, (const uint8_t *)text, strlen(text), NULL, 0);
}

/* Writes d as version d->version of its plan, made by amendment (0: the
 * plan's creation) of org/person. */
static int s_doc_store(ics_apply_ctx_t *ctx, const s_doc_t *d, uint64_t amendment,
                       const char *org, const char *person)
{
    uint8_t hash[32];
    int rc = ICS_OK;

    for (size_t i = 0; i < d->n && rc == ICS_OK; i++) {
        uint8_t th[32];
        s_text_hash(d->sec[i].text, th);
        rc = ics_sql_run(ctx->db, "INSERT OR IGNORE INTO plan_texts(hash, text) VALUES (?1, ?2)",
                          "bt", th, 32, d->sec[i].text);
        if (rc == ICS_OK)
            rc = ics_sql_run(ctx->db, "INSERT INTO plan_sections(plan, version, ord, section,"
                                       " title, text_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                              "tuuttb", d->plan, (uint64_t)d->version, (uint64_t)i,
                              d->sec[i].id, d->sec[i].title, th, 32);
    }
    if (rc != ICS_OK)
        return rc;
    s_doc_hash(d, hash);
    rc = ics_sql_run(ctx->db, "INSERT INTO plan_versions(plan, version, hash, position,"
                               " clock_ms, amendment, org, person)"
                               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                      "tubuuutt", d->plan, (uint64_t)d->version, hash, 32, ctx->position,
                      ctx->clock_ms, amendment, org, person);
    if (rc == ICS_OK)
        rc = ics_sql_run(ctx->db, "UPDATE plans SET latest = ?2 WHERE plan = ?1", "tu",
                          d->plan, (uint64_t)d->version);
    return rc;
}

/* ---------------------------------------------------------------- paragraphs */

typedef struct {
    size_t n;
    char **p;
} s_paras_t;

static void s_paras_free(s_paras_t *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        free(ps->p[i]);
    free(ps->p);
    memset(ps, 0, sizeof *ps);
}

static bool s_blank_line(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return false;
    return true;
}

/* Paragraphs: runs of lines that are not blank. */
static int s_paras_split(const char *text, s_paras_t *ps)
{
    const char *s = text, *start = NULL, *end = NULL;

    memset(ps, 0, sizeof *ps);
    for (;;) {
        const char *nl = strchr(s, '\n');
        size_t n = nl != NULL ? (size_t)(nl - s) : strlen(s);
        bool blank = s_blank_line(s, n);
        if (!blank) {
            if (start == NULL)
                start = s;
            end = s + n;
        }
        if ((blank || nl == NULL) && start != NULL) {
            char **p = realloc(ps->p, (ps->n + 1) * sizeof *p);
            if (p == NULL)
                goto fail;
            ps->p = p;
            ps->p[ps->n] = strndup(start, (size_t)(end - start));
            if (ps->p[ps->n] == NULL)
                goto fail;
            ps->n++;
            start = NULL;
        }
        if (nl == NULL)
            break;
        s = nl + 1;
    }
    return ICS_OK;
fail:
    s_paras_free(ps);
    return ICS_ENOMEM;
}

/* Joins paragraphs with one blank line between them. Caller frees. */
static char *s_paras_join(const s_paras_t *ps)
{
    size_t len = 1;
    char *out, *w;

    for (size_t i = 0; i < ps->n; i++)
        len += strlen(ps->p[i]) + 2;
    out = malloc(len);
    if (out == NULL)
        return NULL;
    w = out;
    for (size_t i = 0; i < ps->n; i++) {
        size_t n = strlen(ps->p[i]);
        if (i > 0) {
            memcpy(w, "\n\n", 2);
            w += 2;
        }
        memcpy(w, ps->p[i], n);
        w += n;
    }
    *w = '\0';
    return out;
}

/* ---------------------------------------------------------------- validation */

/* Plan and section ids: a lower-case letter or digit, then a-z 0-9 _ . - */
static bool s_valid_key(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= ICS_POLICY_ID_MAX || !((s[0] >= 'a' && s[0] <= 'z') ||
                                                (s[0] >= '0' && s[0] <= '9')))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '.' || s[i] == '-'))
            return false;
    return true;
}

/* "2026/27-2030/31" (an en dash or " to " also separates): consecutive
 * financial years, at most ten. Kept as typed (it is part of the content
 * hash, and a partner comparing versions should see the bytes proposed). */
static bool s_period_valid(const char *in)
{
    unsigned a, a2, b, b2;
    int used = 0;
    char sep[8] = "";

    if (sscanf(in, "%4u/%2u%n", &a, &a2, &used) != 2 || used != 7)
        return false;
    in += used;
    if (strncmp(in, "-", 1) == 0)
        ics_strcpy(sep, sizeof sep, "-");
    else if (strncmp(in, "\xe2\x80\x93", 3) == 0)
        ics_strcpy(sep, sizeof sep, "\xe2\x80\x93");
    else if (strncmp(in, " to ", 4) == 0)
        ics_strcpy(sep, sizeof sep, " to ");
    else
        return false;
    in += strlen(sep);
    used = 0;
    if (sscanf(in, "%4u/%2u%n", &b, &b2, &used) != 2 || used != 7 || in[used] != '\0')
        return false;
    if (a < 2000 || a > 2199 || (a + 1) % 100 != a2 || (b + 1) % 100 != b2 || b < a ||
        b - a > 9)
        return false;
    return true;
}

static int s_check_section(ics_apply_ctx_t *ctx, const char *id, const char *title,
                           const char *text)
{
    if (!s_valid_key(id))
        return ics_reject(ctx, "section id '%.40s' is not valid: a lower-case letter or digit, "
                               "then a-z 0-9 _ . -, at most %d", id, ICS_POLICY_ID_MAX - 1);
    if (!ics_gov_valid_line(title, ICS_LINE_MAX, true))
        return ics_reject(ctx, "section %s needs a title: one line, under %d bytes", id,
                          ICS_LINE_MAX);
    if (!ics_gov_valid_text(text, ICS_TEXT_MAX, false))
        return ics_reject(ctx, "the text of section %s must be under %u bytes, without control "
                               "characters other than newline and tab", id, ICS_TEXT_MAX);
    return ICS_OK;
}

/* ---------------------------------------------------------------- plans */

typedef struct {
    char plan[ICS_POLICY_ID_MAX];
    char title[ICS_LINE_MAX];
    char period[64];
    char org[ICS_ORG_MAX];
    char person[ICS_PERSON_MAX];
    uint64_t created;
    uint32_t latest, adopted;
} s_plan_t;

static int s_plan_get(ics_db_t *db, const char *plan, s_plan_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    rc = ics_sql_query(db, &st, "SELECT title, period, org, person, created, latest, adopted"
                                  " FROM plans WHERE plan = ?1", "t", plan);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK) {
        ics_strcpy(out->plan, sizeof out->plan, plan);
        ics_sql_column_text(st, 0, out->title, sizeof out->title);
        ics_sql_column_text(st, 1, out->period, sizeof out->period);
        ics_sql_column_text(st, 2, out->org, sizeof out->org);
        ics_sql_column_text(st, 3, out->person, sizeof out->person);
        out->created = ics_sql_column_u64(st, 4);
        out->latest = (uint32_t)ics_sql_column_u64(st, 5);
        out->adopted = (uint32_t)ics_sql_column_u64(st, 6);
    }
    ics_sql_release(db, st);
    return rc;
}

static int s_plan_create(ics_apply_ctx_t *ctx, const Ics__V1__PlanCreate *c)
{
    ics_person_t who;
    s_plan_t cur;
    s_doc_t d;
    int rc;

    memset(&d, 0, sizeof d);
    rc = ics_people_require_actor(ctx, &who);
    if (rc != ICS_OK)
        return rc;
    if (!s_valid_key(c->plan))
        return ics_reject(ctx, "plan id '%.40s' is not valid: a lower-case letter or digit, then "
                               "a-z 0-9 _ . -, at most %d (e.g. jfp-2026)", c->plan,
                          ICS_POLICY_ID_MAX - 1);
    rc = s_plan_get(ctx->db, c->plan, &cur);
    if (rc == ICS_OK)
        return ics_reject(ctx, "plan %s already exists (created by %s at index %" PRIu64 ")",
                          c->plan, cur.org, cur.created);
    if (rc != ICS_ENOENT)
        return rc;
    if (!ics_gov_valid_line(c->title, ICS_LINE_MAX, true))
        return ics_reject(ctx, "plan %s needs a title: one line, under %d bytes", c->plan,
                          ICS_LINE_MAX);
    if (!s_period_valid(c->period))
        return ics_reject(ctx, "period '%.40s' is not a range of financial years such as "
                               "2026/27-2030/31", c->period);
    if (c->n_sections == 0 || c->n_sections > S_MAX_SECTIONS)
        return ics_reject(ctx, "a plan has 1 to %d sections; %zu given", S_MAX_SECTIONS,
                          c->n_sections);
    ics_strcpy(d.plan, sizeof d.plan, c->plan);
    d.version = 1;
    if (s_set(&d.title, c->title) != ICS_OK || s_set(&d.period, c->period) != ICS_OK) {
        rc = ICS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < c->n_sections; i++) {
        const Ics__V1__PlanSection *s = c->sections[i];
        rc = s_check_section(ctx, s->id, s->title, s->text);
        if (rc != ICS_OK)
            goto out;
        if (s_doc_find(&d, s->id) >= 0) {
            rc = ics_reject(ctx, "section %s is given twice", s->id);
            goto out;
        }
        rc = s_doc_insert(&d, d.n, s->id, s->title, s->text);
        if (rc != ICS_OK)
            goto out;
    }
    rc = ics_sql_run(ctx->db, "INSERT INTO plans(plan, title, period, org, person, created,"
                               " latest, adopted) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0)",
                      "tttttu", c->plan, c->title, c->period, ctx->org, ctx->actor, ctx->position);
    if (rc == ICS_OK)
        rc = s_doc_store(ctx, &d, 0, ctx->org, ctx->actor);
out:
    s_doc_free(&d);
    return rc;
}

/* ---------------------------------------------------------------- amendments */

typedef struct {
    uint64_t id;
    char plan[ICS_POLICY_ID_MAX];
    uint32_t base;
    int op;
    char section[ICS_POLICY_ID_MAX];
    char *title;
    char *text;
    uint32_t paragraph;
    char after[ICS_POLICY_ID_MAX];
    char *rationale;
    char org[ICS_ORG_MAX];
    char person[ICS_PERSON_MAX];
    uint64_t clock_ms;
    char status[16];
    uint64_t status_at;
    char *note;
    uint32_t version;
    uint64_t motion;
} s_amend_t;

static void s_amend_free(s_amend_t *a)
{
    free(a->title);
    free(a->text);
    free(a->rationale);
    free(a->note);
    memset(a, 0, sizeof *a);
}

static const char *s_op_name(int op)
{
    switch (op) {
    case ICS__V1__AMEND_OP__AMEND_REPLACE: return "replace";
    case ICS__V1__AMEND_OP__AMEND_INSERT: return "insert";
    case ICS__V1__AMEND_OP__AMEND_DELETE: return "delete";
    case ICS__V1__AMEND_OP__AMEND_ADD: return "add";
    default: return "unknown";
    }
}

#define S_AMEND_COLUMNS "id, plan, base, op, section, title, text, paragraph, after, rationale," \
                        " org, person, clock_ms, status, status_at, status_note, version, motion"

static int s_amend_read(sqlite3_stmt *st, s_amend_t *a)
{
    memset(a, 0, sizeof *a);
    a->id = ics_sql_column_u64(st, 0);
    ics_sql_column_text(st, 1, a->plan, sizeof a->plan);
    a->base = (uint32_t)ics_sql_column_u64(st, 2);
    a->op = sqlite3_column_int(st, 3);
    ics_sql_column_text(st, 4, a->section, sizeof a->section);
    a->paragraph = (uint32_t)ics_sql_column_u64(st, 7);
    ics_sql_column_text(st, 8, a->after, sizeof a->after);
    ics_sql_column_text(st, 10, a->org, sizeof a->org);
    ics_sql_column_text(st, 11, a->person, sizeof a->person);
    a->clock_ms = ics_sql_column_u64(st, 12);
    ics_sql_column_text(st, 13, a->status, sizeof a->status);
    a->status_at = ics_sql_column_u64(st, 14);
    a->version = (uint32_t)ics_sql_column_u64(st, 16);
    a->motion = ics_sql_column_u64(st, 17);
    if (s_set(&a->title, (const char *)sqlite3_column_text(st, 5)) != ICS_OK ||
        s_set(&a->text, (const char *)sqlite3_column_text(st, 6)) != ICS_OK ||
        s_set(&a->rationale, (const char *)sqlite3_column_text(st, 9)) != ICS_OK ||
        s_set(&a->note, (const char *)sqlite3_column_text(st, 15)) != ICS_OK) {
        s_amend_free(a);
        return ICS_ENOMEM;
    }
    return ICS_OK;
}

static int s_amend_get(ics_db_t *db, uint64_t id, s_amend_t *a)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(a, 0, sizeof *a);
    if (id > INT64_MAX)
        return ICS_ENOENT;
    rc = ics_sql_query(db, &st, "SELECT " S_AMEND_COLUMNS " FROM amendments WHERE id = ?1",
                         "u", id);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK)
        rc = s_amend_read(st, a);
    ics_sql_release(db, st);
    return rc;
}

/* The first version after `base` (up to `latest`) in which section differs
 * from base: its number, and the amendment that made it. */
static int s_changed_in(ics_db_t *db, const char *plan, const char *section, uint32_t base,
                        uint32_t latest, uint32_t *version, s_amend_t *by)
{
    sqlite3_stmt *st = NULL;
    char title0[ICS_LINE_MAX] = "";
    uint8_t hash0[32];
    bool in_base = false;
    int rc;

    *version = 0;
    memset(by, 0, sizeof *by);
    rc = ics_sql_query(db, &st, "SELECT title, text_hash FROM plan_sections WHERE plan = ?1"
                                  " AND section = ?2 AND version = ?3",
                         "ttu", plan, section, (uint64_t)base);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK) {
        in_base = true;
        ics_sql_column_text(st, 0, title0, sizeof title0);
        if (!ics_sql_column_blob(st, 1, hash0, sizeof hash0))
            rc = ICS_EIO;
    }
    ics_sql_release(db, st);
    st = NULL;
    if (rc != ICS_OK && rc != ICS_ENOENT)
        return rc;
    for (uint32_t v = base + 1; v <= latest && *version == 0; v++) {
        bool here = false, same = false;
        rc = ics_sql_query(db, &st, "SELECT title, text_hash FROM plan_sections WHERE"
                                      " plan = ?1 AND section = ?2 AND version = ?3",
                             "ttu", plan, section, (uint64_t)v);
        if (rc != ICS_OK)
            return rc;
        rc = ics_sql_row(db, st);
        if (rc == ICS_OK) {
            uint8_t h[32];
            here = true;
            same = in_base && ics_sql_column_blob(st, 1, h, sizeof h) &&
                   memcmp(h, hash0, 32) == 0 &&
                   strcmp((const char *)sqlite3_column_text(st, 0), title0) == 0;
        }
        ics_sql_release(db, st);
        st = NULL;
        if (rc != ICS_OK && rc != ICS_ENOENT)
            return rc;
        if (here != in_base || (here && !same))
            *version = v;
    }
    if (*version == 0)
        return ICS_OK;
    uint64_t amendment = 0;
    rc = ics_sql_u64(db, &amendment, "SELECT amendment FROM plan_versions WHERE plan = ?1 AND"
                                     " version = ?2", "tu", plan, (uint64_t)*version);
    if (rc == ICS_OK && amendment != 0)
        rc = s_amend_get(db, amendment, by);
    return rc == ICS_ENOENT ? ICS_OK : rc;
}

/* The stale-amendment message: what changed, and how to rebase. */
static void s_stale_why(const s_amend_t *a, const char *what, const char *section,
                        uint32_t version, const s_amend_t *by, char *why, size_t size)
{
    if (by->id != 0)
        snprintf(why, size, "stale amendment: section %s %s in version %u (amendment %" PRIu64
                 ", %s %.24s) after your base version %u; nothing was merged. Rebase: "
                 "icsctl plan diff %s %u %u, then propose again with --base %u",
                 section, what, version, by->id, by->org, by->person, a->base, a->plan,
                 a->base, version, version);
    else
        snprintf(why, size, "stale amendment: section %s %s in version %u after your base "
                 "version %u; nothing was merged. Rebase: icsctl plan diff %s %u %u, then "
                 "propose again with --base %u", section, what, version, a->base, a->plan,
                 a->base, version, version);
}

/* Why an amendment that is no longer proposed cannot be accepted; one that
 * was superseded repeats what changed and how to rebase. */
static void s_not_proposed(const s_amend_t *a, char *why, size_t size)
{
    if (strcmp(a->status, "superseded") == 0 && a->note != NULL && a->note[0] != '\0')
        snprintf(why, size, "amendment %" PRIu64 " was superseded: %s", a->id, a->note);
    else
        snprintf(why, size, "amendment %" PRIu64 " is %s, not proposed", a->id, a->status);
}

/* Can amendment a be applied to the plan's latest version? If so and out is
 * not NULL, *out is the resulting document (the next version). */
static int s_amend_check(ics_db_t *db, const s_amend_t *a, s_doc_t *out, char *why, size_t size)
{
    s_plan_t plan;
    s_doc_t base, cur;
    s_amend_t by;
    s_paras_t ps;
    uint32_t changed = 0;
    long bi, ci;
    int rc;

    memset(&base, 0, sizeof base);
    memset(&cur, 0, sizeof cur);
    memset(&by, 0, sizeof by);
    memset(&ps, 0, sizeof ps);
    if (out != NULL)
        memset(out, 0, sizeof *out);
    rc = s_plan_get(db, a->plan, &plan);
    if (rc == ICS_ENOENT) {
        snprintf(why, size, "there is no plan %s", a->plan);
        return ICS_EREJECTED;
    }
    if (rc != ICS_OK)
        return rc;
    if (a->base == 0 || a->base > plan.latest) {
        snprintf(why, size, "plan %s has versions 1 to %u; there is no version %u to amend",
                 a->plan, plan.latest, a->base);
        return ICS_EREJECTED;
    }
    rc = s_doc_load(db, a->plan, a->base, &base);
    if (rc == ICS_OK)
        rc = s_doc_load(db, a->plan, plan.latest, &cur);
    if (rc != ICS_OK)
        goto out;
    bi = s_doc_find(&base, a->section);
    ci = s_doc_find(&cur, a->section);
    rc = ICS_EREJECTED;
    if (a->op == ICS__V1__AMEND_OP__AMEND_ADD) {
        if (bi >= 0) {
            snprintf(why, size, "section %s already exists in version %u; to change it, "
                     "replace its text instead", a->section, a->base);
            goto out;
        }
        if (ci >= 0) {
            int r2 = s_changed_in(db, a->plan, a->section, a->base, plan.latest, &changed, &by);
            if (r2 != ICS_OK) {
                rc = r2;
                goto out;
            }
            s_stale_why(a, "was added", a->section, changed, &by, why, size);
            goto out;
        }
        if (a->after[0] != '\0') {
            if (s_doc_find(&base, a->after) < 0) {
                snprintf(why, size, "there is no section %s in version %u to add a section "
                         "after", a->after, a->base);
                goto out;
            }
            if (s_doc_find(&cur, a->after) < 0) {
                int r2 = s_changed_in(db, a->plan, a->after, a->base, plan.latest, &changed,
                                      &by);
                if (r2 != ICS_OK) {
                    rc = r2;
                    goto out;
                }
                s_stale_why(a, "was deleted", a->after, changed, &by, why, size);
                goto out;
            }
        }
        if (cur.n >= S_MAX_SECTIONS) {
            snprintf(why, size, "plan %s already has %d sections, the most allowed", a->plan,
                     S_MAX_SECTIONS);
            goto out;
        }
    } else {
        if (bi < 0) {
            snprintf(why, size, "there is no section %s in version %u of plan %s", a->section,
                     a->base, a->plan);
            goto out;
        }
        int r2 = s_changed_in(db, a->plan, a->section, a->base, plan.latest, &changed, &by);
        if (r2 != ICS_OK) {
            rc = r2;
            goto out;
        }
        if (changed != 0 || ci < 0) {
            s_stale_why(a, ci < 0 ? "was deleted" : "changed", a->section, changed, &by, why,
                        size);
            goto out;
        }
        if (s_paras_split(cur.sec[ci].text, &ps) != ICS_OK) {
            rc = ICS_ENOMEM;
            goto out;
        }
        if (a->op == ICS__V1__AMEND_OP__AMEND_INSERT && a->paragraph > ps.n + 1) {
            snprintf(why, size, "section %s has %zu paragraphs: insert before 1 to %zu, or 0 "
                     "for the end", a->section, ps.n, ps.n + 1);
            goto out;
        }
        if (a->op == ICS__V1__AMEND_OP__AMEND_DELETE && a->paragraph > ps.n) {
            snprintf(why, size, "section %s has %zu paragraphs; there is no paragraph %u to "
                     "delete", a->section, ps.n, a->paragraph);
            goto out;
        }
        if (a->op == ICS__V1__AMEND_OP__AMEND_DELETE && a->paragraph == 0 && cur.n == 1) {
            snprintf(why, size, "section %s is the plan's only section; a plan keeps at least "
                     "one", a->section);
            goto out;
        }
        if (a->op == ICS__V1__AMEND_OP__AMEND_REPLACE &&
            strcmp(cur.sec[ci].text, a->text) == 0 &&
            (a->title[0] == '\0' || strcmp(cur.sec[ci].title, a->title) == 0)) {
            snprintf(why, size, "the amendment changes nothing: section %s already reads so",
                     a->section);
            goto out;
        }
    }
    rc = ICS_OK;
    if (out == NULL)
        goto out;
    /* Build the next version from the latest. */
    *out = cur;
    memset(&cur, 0, sizeof cur);
    out->version = plan.latest + 1;
    switch (a->op) {
    case ICS__V1__AMEND_OP__AMEND_ADD: {
        size_t at = out->n;
        if (a->after[0] != '\0')
            at = (size_t)s_doc_find(out, a->after) + 1;
        rc = s_doc_insert(out, at, a->section, a->title, a->text);
        break;
    }
    case ICS__V1__AMEND_OP__AMEND_REPLACE:
        rc = s_set(&out->sec[ci].text, a->text);
        if (rc == ICS_OK && a->title[0] != '\0')
            rc = s_set(&out->sec[ci].title, a->title);
        break;
    case ICS__V1__AMEND_OP__AMEND_DELETE:
        if (a->paragraph == 0) {
            s_doc_remove(out, (size_t)ci);
        } else {
            char *joined;
            free(ps.p[a->paragraph - 1]);
            memmove(&ps.p[a->paragraph - 1], &ps.p[a->paragraph],
                    (ps.n - a->paragraph) * sizeof *ps.p);
            ps.n--;
            joined = s_paras_join(&ps);
            if (joined == NULL) {
                rc = ICS_ENOMEM;
                break;
            }
            free(out->sec[ci].text);
            out->sec[ci].text = joined;
        }
        break;
    case ICS__V1__AMEND_OP__AMEND_INSERT: {
        s_paras_t add;
        size_t at = a->paragraph == 0 ? ps.n : a->paragraph - 1;
        char **p;
        char *joined;
        rc = s_paras_split(a->text, &add);
        if (rc != ICS_OK)
            break;
        p = realloc(ps.p, (ps.n + add.n + 1) * sizeof *p);
        if (p == NULL) {
            s_paras_free(&add);
            rc = ICS_ENOMEM;
            break;
        }
        ps.p = p;
        memmove(&ps.p[at + add.n], &ps.p[at], (ps.n - at) * sizeof *ps.p);
        memcpy(&ps.p[at], add.p, add.n * sizeof *add.p);
        ps.n += add.n;
        free(add.p);
        joined = s_paras_join(&ps);
        if (joined == NULL) {
            rc = ICS_ENOMEM;
            break;
        }
        if (strlen(joined) >= ICS_TEXT_MAX) {
            free(joined);
            snprintf(why, size, "section %s would be longer than %u bytes", a->section,
                     ICS_TEXT_MAX);
            rc = ICS_EREJECTED;
            break;
        }
        free(out->sec[ci].text);
        out->sec[ci].text = joined;
        break;
    }
    default:
        snprintf(why, size, "unknown amendment operation %d", a->op);
        rc = ICS_EREJECTED;
    }
    if (rc != ICS_OK)
        s_doc_free(out);
out:
    s_paras_free(&ps);
    s_amend_free(&by);
    s_doc_free(&base);
    s_doc_free(&cur);
    return rc;
}

static int s_amend_propose(ics_apply_ctx_t *ctx, const Ics__V1__AmendPropose *p)
{
    ics_person_t who;
    s_amend_t a;
    char why[ICS_WHY_MAX];
    int rc;

    memset(&a, 0, sizeof a);
    rc = ics_people_require_actor(ctx, &who);
    if (rc != ICS_OK)
        return rc;
    if (!s_valid_key(p->plan))
        return ics_reject(ctx, "'%.40s' is not a plan id", p->plan);
    if (p->op != ICS__V1__AMEND_OP__AMEND_REPLACE && p->op != ICS__V1__AMEND_OP__AMEND_INSERT &&
        p->op != ICS__V1__AMEND_OP__AMEND_DELETE && p->op != ICS__V1__AMEND_OP__AMEND_ADD)
        return ics_reject(ctx, "unknown amendment operation %d (replace, insert, delete or add)",
                          (int)p->op);
    if (!s_valid_key(p->section))
        return ics_reject(ctx, "section id '%.40s' is not valid: a lower-case letter or digit, "
                               "then a-z 0-9 _ . -", p->section);
    if (!ics_gov_valid_text(p->rationale, ICS_TEXT_MAX, true))
        return ics_reject(ctx, "an amendment needs a rationale: why the change (under %u "
                               "bytes)", ICS_TEXT_MAX);
    switch (p->op) {
    case ICS__V1__AMEND_OP__AMEND_ADD:
        rc = s_check_section(ctx, p->section, p->title, p->text);
        if (rc != ICS_OK)
            return rc;
        if (p->text[0] == '\0')
            return ics_reject(ctx, "a new section needs text");
        if (p->after[0] != '\0' && !s_valid_key(p->after))
            return ics_reject(ctx, "'%.40s' is not a section id", p->after);
        if (p->paragraph != 0)
            return ics_reject(ctx, "adding a section takes no paragraph number");
        break;
    case ICS__V1__AMEND_OP__AMEND_REPLACE:
    case ICS__V1__AMEND_OP__AMEND_INSERT:
        if (!ics_gov_valid_text(p->text, ICS_TEXT_MAX, true))
            return ics_reject(ctx, "%s needs text (under %u bytes, no control characters but "
                                   "newline and tab)", s_op_name(p->op), ICS_TEXT_MAX);
        if (!ics_gov_valid_line(p->title, ICS_LINE_MAX, false))
            return ics_reject(ctx, "a section title is one line, under %d bytes", ICS_LINE_MAX);
        if (p->op == ICS__V1__AMEND_OP__AMEND_INSERT && p->title[0] != '\0')
            return ics_reject(ctx, "inserting text takes no title; replace the section to "
                                   "retitle it");
        if (p->op == ICS__V1__AMEND_OP__AMEND_REPLACE && p->paragraph != 0)
            return ics_reject(ctx, "replace changes the whole section; it takes no paragraph "
                                   "number");
        if (p->after[0] != '\0')
            return ics_reject(ctx, "only adding a section takes --after");
        break;
    default: /* delete */
        if (p->text[0] != '\0' || p->title[0] != '\0' || p->after[0] != '\0')
            return ics_reject(ctx, "delete takes no text, title or --after");
        break;
    }
    a.id = ctx->position;
    ics_strcpy(a.plan, sizeof a.plan, p->plan);
    a.base = p->base_version;
    a.op = (int)p->op;
    ics_strcpy(a.section, sizeof a.section, p->section);
    ics_strcpy(a.after, sizeof a.after, p->after);
    a.paragraph = p->paragraph;
    ics_strcpy(a.org, sizeof a.org, ctx->org);
    ics_strcpy(a.person, sizeof a.person, ctx->actor);
    if (s_set(&a.title, p->title) != ICS_OK || s_set(&a.text, p->text) != ICS_OK ||
        s_set(&a.rationale, p->rationale) != ICS_OK) {
        rc = ICS_ENOMEM;
        goto out;
    }
    rc = s_amend_check(ctx->db, &a, NULL, why, sizeof why);
    if (rc == ICS_EREJECTED)
        rc = ics_reject(ctx, "%s", why);
    if (rc != ICS_OK)
        goto out;
    rc = ics_sql_run(ctx->db, "INSERT INTO amendments(" S_AMEND_COLUMNS ") VALUES (?1, ?2, ?3,"
                               " ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'proposed', ?14, '',"
                               " 0, 0)",
                      "utuitttuttttuu", a.id, a.plan,
                      (uint64_t)a.base, a.op, a.section, a.title, a.text, (uint64_t)a.paragraph,
                      a.after, a.rationale, a.org, a.person, ctx->clock_ms, ctx->position);
out:
    s_amend_free(&a);
    return rc;
}

static int s_amend_withdraw(ics_apply_ctx_t *ctx, const Ics__V1__AmendWithdraw *w)
{
    ics_person_t who;
    s_amend_t a;
    char why[ICS_WHY_MAX], target[48];
    int rc;

    rc = ics_people_require_actor(ctx, &who);
    if (rc != ICS_OK)
        return rc;
    if (!ics_gov_valid_line(w->reason, ICS_LINE_MAX, false))
        return ics_reject(ctx, "the reason for withdrawing is one line, under %d bytes",
                          ICS_LINE_MAX);
    rc = s_amend_get(ctx->db, w->amendment, &a);
    if (rc == ICS_ENOENT)
        return ics_reject(ctx, "there is no amendment %" PRIu64, w->amendment);
    if (rc != ICS_OK)
        return rc;
    if (strcmp(a.org, ctx->org) != 0) {
        rc = ics_reject(ctx, "only %s, which proposed amendment %" PRIu64 ", may withdraw it",
                        a.org, a.id);
        goto out;
    }
    if (strcmp(a.status, "proposed") != 0) {
        rc = ics_reject(ctx, "amendment %" PRIu64 " is %s; only a proposed amendment can be "
                             "withdrawn", a.id, a.status);
        goto out;
    }
    rc = ics_sql_run(ctx->db, "UPDATE amendments SET status = 'withdrawn', status_at = ?2,"
                               " status_note = ?3 WHERE id = ?1",
                      "uut", a.id, ctx->position, w->reason);
    if (rc != ICS_OK)
        goto out;
    snprintf(target, sizeof target, "amendment:%" PRIu64, a.id);
    snprintf(why, sizeof why, "amendment %" PRIu64 " was withdrawn by %s", a.id, ctx->org);
    rc = ics_motions_lapse(ctx, target, why);
out:
    s_amend_free(&a);
    return rc;
}

/* After a new version: every other proposed amendment of the plan that no
 * longer applies is superseded, and any motion to accept it lapses. */
static int s_sweep(ics_apply_ctx_t *ctx, const char *plan, uint64_t except)
{
    sqlite3_stmt *st = NULL;
    uint64_t *ids = NULL;
    size_t n = 0;
    int rc;

    rc = ics_sql_query(ctx->db, &st, "SELECT id FROM amendments WHERE plan = ?1 AND"
                                       " status = 'proposed' AND id <> ?2 ORDER BY id",
                         "tu", plan, except);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(ctx->db, st)) == ICS_OK) {
        uint64_t *p = realloc(ids, (n + 1) * sizeof *p);
        if (p == NULL) {
            rc = ICS_ENOMEM;
            break;
        }
        ids = p;
        ids[n++] = ics_sql_column_u64(st, 0);
    }
    ics_sql_release(ctx->db, st);
    if (rc != ICS_ENOENT)
        goto out;
    rc = ICS_OK;
    for (size_t i = 0; i < n && rc == ICS_OK; i++) {
        s_amend_t a;
        char why[ICS_WHY_MAX], target[48];
        rc = s_amend_get(ctx->db, ids[i], &a);
        if (rc != ICS_OK)
            break;
        rc = s_amend_check(ctx->db, &a, NULL, why, sizeof why);
        if (rc == ICS_EREJECTED) {
            const char *note = strncmp(why, "stale amendment: ", 17) == 0 ? why + 17 : why;
            rc = ics_sql_run(ctx->db, "UPDATE amendments SET status = 'superseded',"
                                       " status_at = ?2, status_note = ?3 WHERE id = ?1",
                              "uut", a.id, ctx->position, note);
            if (rc == ICS_OK) {
                snprintf(target, sizeof target, "amendment:%" PRIu64, a.id);
                snprintf(why, sizeof why, "amendment %" PRIu64 " was superseded at index %"
                         PRIu64, a.id, ctx->position);
                rc = ics_motions_lapse(ctx, target, why);
            }
        }
        s_amend_free(&a);
    }
out:
    free(ids);
    return rc;
}

/* ---------------------------------------------------------------- decisions */

int ics_plans_check_version(ics_db_t *db, const char *plan, uint32_t version, char *why,
                            size_t size)
{
    s_plan_t p;
    int rc = s_plan_get(db, plan, &p);

    if (rc == ICS_ENOENT) {
        snprintf(why, size, "there is no plan %.40s", plan);
        return ICS_EREJECTED;
    }
    if (rc != ICS_OK)
        return rc;
    if (version == 0 || version > p.latest) {
        snprintf(why, size, "plan %s has versions 1 to %u; there is no version %u", plan,
                 p.latest, version);
        return ICS_EREJECTED;
    }
    return ICS_OK;
}

int ics_plans_check_amendment_of(ics_db_t *db, uint64_t amendment, const char *plan, char *why,
                                 size_t size)
{
    s_amend_t a;
    int rc = s_amend_get(db, amendment, &a);

    if (rc == ICS_ENOENT) {
        snprintf(why, size, "there is no amendment %" PRIu64, amendment);
        return ICS_EREJECTED;
    }
    if (rc != ICS_OK)
        return rc;
    if (strcmp(a.plan, plan) != 0) {
        snprintf(why, size, "amendment %" PRIu64 " is to plan %s, not %s", amendment, a.plan,
                 plan);
        rc = ICS_EREJECTED;
    }
    s_amend_free(&a);
    return rc;
}

int ics_plans_check_adopt(ics_db_t *db, const char *plan, uint32_t version,
                          uint64_t *consultation, char *why, size_t size)
{
    s_plan_t p;
    int rc;

    *consultation = 0;
    rc = ics_plans_check_version(db, plan, version, why, size);
    if (rc != ICS_OK)
        return rc;
    rc = s_plan_get(db, plan, &p);
    if (rc != ICS_OK)
        return rc;
    if (p.adopted == version) {
        snprintf(why, size, "version %u of plan %s is already the adopted version", version,
                 plan);
        return ICS_EREJECTED;
    }
    if (p.adopted > version) {
        snprintf(why, size, "version %u of plan %s is adopted; an older version cannot replace "
                 "it", p.adopted, plan);
        return ICS_EREJECTED;
    }
    return ics_consult_for_adoption(db, plan, version, consultation, why, size);
}

int ics_plans_adopt(ics_apply_ctx_t *ctx, const char *plan, uint32_t version, uint64_t motion,
                    char *why, size_t size)
{
    uint64_t consultation = 0;
    int rc = ics_plans_check_adopt(ctx->db, plan, version, &consultation, why, size);

    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_run(ctx->db, "INSERT INTO adoptions(plan, version, position, clock_ms, motion,"
                               " consultation) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                      "tuuuuu", plan, (uint64_t)version, ctx->position, ctx->clock_ms, motion,
                      consultation);
    if (rc == ICS_OK)
        rc = ics_sql_run(ctx->db, "UPDATE plans SET adopted = ?2 WHERE plan = ?1", "tu", plan,
                          (uint64_t)version);
    return rc;
}

int ics_plans_check_accept(ics_db_t *db, uint64_t amendment, char plan_out[ICS_POLICY_ID_MAX],
                           char org_out[ICS_ORG_MAX], char *why, size_t size)
{
    s_amend_t a;
    int rc = s_amend_get(db, amendment, &a);

    plan_out[0] = org_out[0] = '\0';
    if (rc == ICS_ENOENT) {
        snprintf(why, size, "there is no amendment %" PRIu64, amendment);
        return ICS_EREJECTED;
    }
    if (rc != ICS_OK)
        return rc;
    ics_strcpy(plan_out, ICS_POLICY_ID_MAX, a.plan);
    ics_strcpy(org_out, ICS_ORG_MAX, a.org);
    if (strcmp(a.status, "proposed") != 0) {
        s_not_proposed(&a, why, size);
        rc = ICS_EREJECTED;
    } else {
        rc = s_amend_check(db, &a, NULL, why, size);
    }
    s_amend_free(&a);
    return rc;
}

int ics_plans_accept(ics_apply_ctx_t *ctx, uint64_t amendment, uint64_t motion, char *why,
                     size_t size)
{
    s_amend_t a;
    s_doc_t next;
    int rc;

    memset(&next, 0, sizeof next);
    rc = s_amend_get(ctx->db, amendment, &a);
    if (rc == ICS_ENOENT) {
        snprintf(why, size, "there is no amendment %" PRIu64, amendment);
        return ICS_EREJECTED;
    }
    if (rc != ICS_OK)
        return rc;
    if (strcmp(a.status, "proposed") != 0) {
        s_not_proposed(&a, why, size);
        rc = ICS_EREJECTED;
        goto out;
    }
    rc = s_amend_check(ctx->db, &a, &next, why, size);
    if (rc != ICS_OK)
        goto out;
    rc = s_doc_store(ctx, &next, a.id, a.org, a.person);
    if (rc == ICS_OK)
        rc = ics_sql_run(ctx->db, "UPDATE amendments SET status = 'accepted', status_at = ?2,"
                                   " version = ?3, motion = ?4 WHERE id = ?1",
                          "uuuu", a.id, ctx->position, (uint64_t)next.version, motion);
    if (rc == ICS_OK)
        rc = s_sweep(ctx, a.plan, a.id);
out:
    s_doc_free(&next);
    s_amend_free(&a);
    return rc;
}

int ics_plans_reject(ics_apply_ctx_t *ctx, uint64_t amendment, uint64_t motion)
{
    return ics_sql_run(ctx->db, "UPDATE amendments SET status = 'rejected', status_at = ?2,"
                                 " motion = ?3, status_note = 'the motion to accept it was lost'"
                                 " WHERE id = ?1 AND status = 'proposed'",
                        "uuu", amendment, ctx->position, motion);
}

static int s_apply(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    switch (cmd->body_case) {
    case ICS__V1__COMMAND__BODY_PLAN_CREATE:
        return s_plan_create(ctx, cmd->plan_create);
    case ICS__V1__COMMAND__BODY_AMEND_PROPOSE:
        return s_amend_propose(ctx, cmd->amend_propose);
    case ICS__V1__COMMAND__BODY_AMEND_WITHDRAW:
        return s_amend_withdraw(ctx, cmd->amend_withdraw);
    default:
        return ics_reject(ctx, "unknown command kind %d", (int)cmd->body_case);
    }
}

static const uint32_t s_kinds[] = {ICS__V1__COMMAND__BODY_PLAN_CREATE,
                                   ICS__V1__COMMAND__BODY_AMEND_PROPOSE,
                                   ICS__V1__COMMAND__BODY_AMEND_WITHDRAW, 0};

/* ---------------------------------------------------------------- diff */

/* Lines of a text, as pointers into a copy. */
typedef struct {
    char *buf;
    char **line;
    size_t n;
} s_lines_t;

static void s_lines_free(s_lines_t *l)
{
    free(l->buf);
    free(l->line);
    memset(l, 0, sizeof *l);
}

static int s_lines(const char *text, s_lines_t *l)
{
    size_t cap = 1;
    char *s;

    memset(l, 0, sizeof *l);
    if (text[0] == '\0')
        return ICS_OK;
    l->buf = strdup(text);
    if (l->buf == NULL)
        return ICS_ENOMEM;
    for (const char *p = text; *p; p++)
        cap += *p == '\n';
    l->line = calloc(cap, sizeof *l->line);
    if (l->line == NULL) {
        s_lines_free(l);
        return ICS_ENOMEM;
    }
    s = l->buf;
    for (;;) {
        char *nl = strchr(s, '\n');
        l->line[l->n++] = s;
        if (nl == NULL)
            break;
        *nl = '\0';
        s = nl + 1;
        if (*s == '\0')
            break;
    }
    return ICS_OK;
}

typedef struct {
    char op;        /* ' ', '-', '+' */
    const char *s;
    size_t a, b;    /* line numbers (1-based) in each text; 0 where absent */
} s_edit_t;

/* Line edits turning a into b (longest common subsequence); falls back to
 * "all removed, all added" when the texts are too big to compare. */
static int s_edits(const s_lines_t *a, const s_lines_t *b, s_edit_t **out, size_t *n)
{
    uint32_t *t = NULL;
    size_t rows = a->n + 1, cols = b->n + 1, i = 0, j = 0, k = 0;
    s_edit_t *e;

    *out = NULL;
    *n = 0;
    e = calloc(a->n + b->n + 1, sizeof *e);
    if (e == NULL)
        return ICS_ENOMEM;
    if (rows * cols <= S_DIFF_CELLS) {
        t = calloc(rows * cols, sizeof *t);
        if (t == NULL) {
            free(e);
            return ICS_ENOMEM;
        }
        /* t[i][j]: length of the LCS of a[i..] and b[j..]. */
        for (size_t x = a->n; x-- > 0;)
            for (size_t y = b->n; y-- > 0;)
                t[x * cols + y] = strcmp(a->line[x], b->line[y]) == 0
                                      ? t[(x + 1) * cols + y + 1] + 1
                                  : t[(x + 1) * cols + y] >= t[x * cols + y + 1]
                                      ? t[(x + 1) * cols + y]
                                      : t[x * cols + y + 1];
        while (i < a->n && j < b->n) {
            if (strcmp(a->line[i], b->line[j]) == 0) {
                e[k++] = (s_edit_t){' ', a->line[i], i + 1, j + 1};
                i++;
                j++;
            } else if (t[(i + 1) * cols + j] >= t[i * cols + j + 1]) {
                e[k++] = (s_edit_t){'-', a->line[i], i + 1, 0};
                i++;
            } else {
                e[k++] = (s_edit_t){'+', b->line[j], 0, j + 1};
                j++;
            }
        }
    }
    for (; i < a->n; i++)
        e[k++] = (s_edit_t){'-', a->line[i], i + 1, 0};
    for (; j < b->n; j++)
        e[k++] = (s_edit_t){'+', b->line[j], 0, j + 1};
    free(t);
    *out = e;
    *n = k;
    return ICS_OK;
}

/* Unified-diff hunks (3 lines of context) of text a -> b. */
static int s_unified(FILE *f, const char *ta, const char *tb)
{
    s_lines_t a, b;
    s_edit_t *e = NULL;
    size_t n = 0;
    int rc;

    rc = s_lines(ta, &a);
    if (rc != ICS_OK)
        return rc;
    rc = s_lines(tb, &b);
    if (rc == ICS_OK)
        rc = s_edits(&a, &b, &e, &n);
    if (rc != ICS_OK)
        goto out;
    for (size_t i = 0; i < n;) {
        size_t start, end, la = 0, lb = 0, ca = 0, cb = 0;
        if (e[i].op == ' ') {
            i++;
            continue;
        }
        start = i >= 3 ? i - 3 : 0;
        /* Extend the hunk while changes are within 6 lines of each other. */
        end = i;
        for (size_t k = i; k < n; k++) {
            if (e[k].op != ' ')
                end = k;
            else if (k - end > 6)
                break;
        }
        end = end + 3 < n ? end + 3 : n - 1;
        for (size_t k = start; k <= end; k++) {
            if (e[k].op != '+') {
                if (la == 0)
                    la = e[k].a;
                ca++;
            }
            if (e[k].op != '-') {
                if (lb == 0)
                    lb = e[k].b;
                cb++;
            }
        }
        /* An empty side starts at the line before the change. */
        if (ca == 0)
            for (size_t k = start; k > 0 && la == 0; k--)
                la = e[k - 1].a;
        if (cb == 0)
            for (size_t k = start; k > 0 && lb == 0; k--)
                lb = e[k - 1].b;
        fprintf(f, "@@ -%zu,%zu +%zu,%zu @@\n", la, ca, lb, cb);
        for (size_t k = start; k <= end; k++)
            fprintf(f, "%c%s\n", e[k].op, e[k].s);
        i = end + 1;
    }
out:
    free(e);
    s_lines_free(&a);
    s_lines_free(&b);
    return rc;
}

/* A section-aware diff of two documents. */
static int s_doc_diff(FILE *f, json_t *j, const s_doc_t *a, const s_doc_t *b)
{
    char *hunks = NULL;
    size_t hlen = 0, unchanged = 0;
    int rc = ICS_OK;

    json_arr(j, "sections");
    for (size_t pass = 0; pass < 2 && rc == ICS_OK; pass++) {
        /* Pass 0: b's sections in b's order; pass 1: sections a had and b lost. */
        const s_doc_t *d = pass == 0 ? b : a;
        for (size_t i = 0; i < d->n && rc == ICS_OK; i++) {
            const s_sec_t *sb = pass == 0 ? &b->sec[i] : NULL;
            const s_sec_t *sa = pass == 1 ? &a->sec[i] : NULL;
            long other;
            const char *status;
            FILE *h;
            if (pass == 0) {
                other = s_doc_find(a, sb->id);
                sa = other >= 0 ? &a->sec[other] : NULL;
            } else {
                if (s_doc_find(b, sa->id) >= 0)
                    continue;
            }
            if (sa == NULL)
                status = "added";
            else if (sb == NULL)
                status = "removed";
            else if (strcmp(sa->text, sb->text) == 0 && strcmp(sa->title, sb->title) == 0)
                status = "unchanged";
            else
                status = "changed";
            if (strcmp(status, "unchanged") == 0) {
                unchanged++;
                json_obj(j, NULL);
                json_str(j, "id", sb->id);
                json_str(j, "status", status);
                json_end_obj(j);
                continue;
            }
            h = open_memstream(&hunks, &hlen);
            if (h == NULL) {
                rc = ICS_ENOMEM;
                break;
            }
            rc = s_unified(h, sa != NULL ? sa->text : "", sb != NULL ? sb->text : "");
            fclose(h);
            if (rc != ICS_OK)
                break;
            const s_sec_t *s = sb != NULL ? sb : sa;
            fprintf(f, "=== section %s: %s (%s)\n", s->id, s->title, status);
            if (sa != NULL && sb != NULL && strcmp(sa->title, sb->title) != 0)
                fprintf(f, "title: \"%s\" -> \"%s\"\n", sa->title, sb->title);
            fputs(hunks, f);
            json_obj(j, NULL);
            json_str(j, "id", s->id);
            json_str(j, "status", status);
            json_str(j, "title_before", sa != NULL ? sa->title : "");
            json_str(j, "title_after", sb != NULL ? sb->title : "");
            json_str(j, "diff", hunks);
            json_end_obj(j);
            free(hunks);
            hunks = NULL;
        }
    }
    json_end_arr(j);
    free(hunks);
    if (rc == ICS_OK && unchanged > 0)
        fprintf(f, "(%zu section%s unchanged)\n", unchanged, unchanged == 1 ? "" : "s");
    return rc;
}

/* ---------------------------------------------------------------- queries */

static int s_arg_plan(ics_db_t *db, const char *arg, s_plan_t *p, ics_err_t *err)
{
    int rc;
    if (!s_valid_key(arg))
        return ics_err(err, ICS_EINVAL, "'%s' is not a plan id", arg);
    rc = s_plan_get(db, arg, p);
    if (rc == ICS_ENOENT)
        return ics_err(err, ICS_ENOENT, "there is no plan %s (icsctl plan list shows the plans)",
                       arg);
    return rc == ICS_OK ? ICS_OK : ics_err(err, rc, "state database error");
}

static int s_arg_version(const s_plan_t *p, const char *arg, uint32_t *v, ics_err_t *err)
{
    uint64_t x = 0;
    if (!ics_gov_arg_u64(arg, &x) || x == 0 || x > p->latest)
        return ics_err(err, x > p->latest ? ICS_ENOENT : ICS_EINVAL,
                       "plan %s has versions 1 to %u; '%s' is not one of them", p->plan,
                       p->latest, arg);
    *v = (uint32_t)x;
    return ICS_OK;
}

static int s_version_row(ics_db_t *db, const char *plan, uint32_t v, uint8_t hash[32],
                         uint64_t *position, uint64_t *clock, uint64_t *amendment, char *org,
                         char *person)
{
    sqlite3_stmt *st = NULL;
    int rc = ics_sql_query(db, &st, "SELECT hash, position, clock_ms, amendment, org, person"
                                      " FROM plan_versions WHERE plan = ?1 AND version = ?2",
                             "tu", plan, (uint64_t)v);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK) {
        if (!ics_sql_column_blob(st, 0, hash, 32))
            rc = ICS_EIO;
        *position = ics_sql_column_u64(st, 1);
        *clock = ics_sql_column_u64(st, 2);
        *amendment = ics_sql_column_u64(st, 3);
        ics_sql_column_text(st, 4, org, ICS_ORG_MAX);
        ics_sql_column_text(st, 5, person, ICS_PERSON_MAX);
    }
    ics_sql_release(db, st);
    return rc;
}

/* plan.list: every plan. */
static int s_query_list(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                        FILE *json, FILE *text, ics_err_t *err)
{
    sqlite3_stmt *st = NULL;
    json_t j;
    int rc;

    if (argc != 0)
        return ics_err(err, ICS_EINVAL, "plan list takes no arguments");
    rc = ics_sql_query(db, &st, "SELECT plan, title, period, org, latest, adopted,"
                                  " (SELECT count(*) FROM amendments a WHERE a.plan = p.plan AND"
                                  " a.status = 'proposed') FROM plans p ORDER BY plan", "");
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_arr(&j, "plans");
    fprintf(text, "%-16s %-8s %-8s %-9s %-5s %s\n", "PLAN", "LATEST", "ADOPTED", "PROPOSED",
            "BY", "TITLE (PERIOD)");
    unsigned n = 0;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        n++;
        json_obj(&j, NULL);
        json_str(&j, "plan", (const char *)sqlite3_column_text(st, 0));
        json_str(&j, "title", (const char *)sqlite3_column_text(st, 1));
        json_str(&j, "period", (const char *)sqlite3_column_text(st, 2));
        json_str(&j, "org", (const char *)sqlite3_column_text(st, 3));
        json_u64(&j, "latest", ics_sql_column_u64(st, 4));
        json_u64(&j, "adopted", ics_sql_column_u64(st, 5));
        json_u64(&j, "proposed_amendments", ics_sql_column_u64(st, 6));
        json_end_obj(&j);
        char adopted[16] = "-";
        if (ics_sql_column_u64(st, 5) != 0)
            snprintf(adopted, sizeof adopted, "%" PRIu64, ics_sql_column_u64(st, 5));
        fprintf(text, "%-16s %-8" PRIu64 " %-8s %-9" PRIu64 " %-5s %s (%s)\n",
                (const char *)sqlite3_column_text(st, 0), ics_sql_column_u64(st, 4), adopted,
                ics_sql_column_u64(st, 6), (const char *)sqlite3_column_text(st, 3),
                (const char *)sqlite3_column_text(st, 1),
                (const char *)sqlite3_column_text(st, 2));
    }
    ics_sql_release(db, st);
    json_end_arr(&j);
    json_end_obj(&j);
    if (n == 0)
        fprintf(text, "(no plans yet: icsctl plan create)\n");
    return rc == ICS_ENOENT ? ICS_OK : ics_err(err, rc, "state database error");
}

/* plan.show PLAN [VERSION]: a version's sections (default the latest). */
static int s_query_show(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                        FILE *json, FILE *text, ics_err_t *err)
{
    s_plan_t p;
    s_doc_t d;
    uint8_t hash[32];
    char hex[65], when[32], org[ICS_ORG_MAX], person[ICS_PERSON_MAX];
    uint64_t position = 0, clock = 0, amendment = 0;
    uint32_t v;
    json_t j;
    int rc;

    memset(&d, 0, sizeof d);
    if (argc < 1 || argc > 2)
        return ics_err(err, ICS_EINVAL, "plan show takes a plan id and optionally a version");
    rc = s_arg_plan(db, argv[0], &p, err);
    if (rc != ICS_OK)
        return rc;
    v = p.latest;
    if (argc == 2 && (rc = s_arg_version(&p, argv[1], &v, err)) != ICS_OK)
        return rc;
    rc = s_doc_load(db, p.plan, v, &d);
    if (rc == ICS_OK)
        rc = s_version_row(db, p.plan, v, hash, &position, &clock, &amendment, org, person);
    if (rc != ICS_OK) {
        s_doc_free(&d);
        return ics_err(err, rc, "state database error");
    }
    ics_hex(hash, 32, hex);
    ics_gov_time(clock, when);
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_str(&j, "plan", p.plan);
    json_str(&j, "title", p.title);
    json_str(&j, "period", p.period);
    json_u64(&j, "version", v);
    json_u64(&j, "latest", p.latest);
    json_u64(&j, "adopted", p.adopted);
    json_str(&j, "hash", hex);
    json_u64(&j, "index", position);
    json_u64(&j, "amendment", amendment);
    json_str(&j, "org", org);
    json_str(&j, "person", person);
    json_arr(&j, "sections");
    fprintf(text, "%s (%s)\n", p.title, p.period);
    fprintf(text, "plan %s, version %u of %u%s; content hash %s\n", p.plan, v, p.latest,
            p.adopted == v ? ", ADOPTED" : p.adopted ? "" : ", draft (no version adopted yet)",
            hex);
    if (p.adopted != 0 && p.adopted != v)
        fprintf(text, "(the adopted version is %u)\n", p.adopted);
    if (amendment == 0)
        fprintf(text, "created by %s (%s) at index %" PRIu64 ", %s\n", org, person, position,
                when);
    else
        fprintf(text, "made by amendment %" PRIu64 " of %s (%s), accepted at index %" PRIu64
                ", %s\n", amendment, org, person, position, when);
    for (size_t i = 0; i < d.n; i++) {
        json_obj(&j, NULL);
        json_str(&j, "id", d.sec[i].id);
        json_str(&j, "title", d.sec[i].title);
        json_str(&j, "text", d.sec[i].text);
        json_end_obj(&j);
        fprintf(text, "\n== %zu. %s  [%s]\n\n%s\n", i + 1, d.sec[i].title, d.sec[i].id,
                d.sec[i].text);
    }
    json_end_arr(&j);
    json_end_obj(&j);
    s_doc_free(&d);
    return ICS_OK;
}

static int s_history_consult(void *arg, const ics_consult_info_t *c)
{
    void **a = arg;
    FILE *text = a[0];
    json_t *j = a[1];
    char opens[32], closes[32];

    ics_gov_time(c->opens_ms, opens);
    ics_gov_time(c->closed_ms ? c->closed_ms : c->closes_ms, closes);
    json_obj(j, NULL);
    json_u64(j, "consultation", c->id);
    json_u64(j, "version", c->version);
    json_str(j, "status", c->status);
    json_u64(j, "opens_ms", c->opens_ms);
    json_u64(j, "closes_ms", c->closes_ms);
    json_u64(j, "closed_ms", c->closed_ms);
    json_str(j, "closed_by", c->closed_by);
    json_u64(j, "consultees", c->consultees);
    json_u64(j, "responded", c->responded);
    json_end_obj(j);
    fprintf(text, "  consultation %-6" PRIu64 " on version %-3u %-9s %s to %s%s%s; %u of %u "
            "consultees responded\n", c->id, c->version, c->status, opens, closes,
            c->closed_by[0] ? " closed by " : "", c->closed_by, c->responded, c->consultees);
    return ICS_OK;
}

/* plan.history PLAN: versions, adoptions, consultations, amendments. */
static int s_query_history(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                           FILE *json, FILE *text, ics_err_t *err)
{
    sqlite3_stmt *st = NULL;
    s_plan_t p;
    json_t j;
    int rc;

    if (argc != 1)
        return ics_err(err, ICS_EINVAL, "plan history takes a plan id");
    rc = s_arg_plan(db, argv[0], &p, err);
    if (rc != ICS_OK)
        return rc;
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_str(&j, "plan", p.plan);
    json_str(&j, "title", p.title);
    json_str(&j, "period", p.period);
    json_u64(&j, "latest", p.latest);
    json_u64(&j, "adopted", p.adopted);
    fprintf(text, "Plan %s: %s (%s)\n\n", p.plan, p.title, p.period);
    fprintf(text, "%-8s %-6s %-21s %-28s %s\n", "VERSION", "INDEX", "WHEN", "BY", "CHANGE");
    json_arr(&j, "versions");
    rc = ics_sql_query(db, &st,
                         "SELECT v.version, v.hash, v.position, v.clock_ms, v.amendment, v.org,"
                         " v.person, a.op, a.section, a.rationale,"
                         " (SELECT count(*) FROM plan_sections s WHERE s.plan = v.plan AND"
                         " s.version = v.version)"
                         " FROM plan_versions v LEFT JOIN amendments a ON a.id = v.amendment"
                         " WHERE v.plan = ?1 ORDER BY v.version", "t", p.plan);
    if (rc != ICS_OK)
        goto out;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        uint8_t hash[32];
        char hex[65], when[32], by[ICS_ORG_MAX + ICS_PERSON_MAX + 2];
        uint64_t version = ics_sql_column_u64(st, 0), amendment = ics_sql_column_u64(st, 4);
        const char *rationale = (const char *)sqlite3_column_text(st, 9);
        if (!ics_sql_column_blob(st, 1, hash, 32)) {
            rc = ICS_EIO;
            goto out;
        }
        ics_hex(hash, 32, hex);
        ics_gov_time(ics_sql_column_u64(st, 3), when);
        snprintf(by, sizeof by, "%s %s", (const char *)sqlite3_column_text(st, 5),
                 (const char *)sqlite3_column_text(st, 6));
        json_obj(&j, NULL);
        json_u64(&j, "version", version);
        json_str(&j, "hash", hex);
        json_u64(&j, "index", ics_sql_column_u64(st, 2));
        json_u64(&j, "clock_ms", ics_sql_column_u64(st, 3));
        json_u64(&j, "amendment", amendment);
        json_str(&j, "org", (const char *)sqlite3_column_text(st, 5));
        json_str(&j, "person", (const char *)sqlite3_column_text(st, 6));
        json_bool(&j, "adopted", version == p.adopted);
        json_end_obj(&j);
        fprintf(text, "%-8" PRIu64 " %-6" PRIu64 " %-21s %-28s ", version,
                ics_sql_column_u64(st, 2), when, by);
        if (amendment == 0)
            fprintf(text, "created with %" PRIu64 " sections", ics_sql_column_u64(st, 10));
        else
            fprintf(text, "amendment %" PRIu64 ": %s %s: %.60s%s", amendment,
                    s_op_name(sqlite3_column_int(st, 7)),
                    (const char *)sqlite3_column_text(st, 8), rationale ? rationale : "",
                    rationale && strlen(rationale) > 60 ? "..." : "");
        fprintf(text, "%s\n        sha %.16s...\n", version == p.adopted ? "  [ADOPTED]" : "",
                hex);
    }
    if (rc != ICS_ENOENT)
        goto out;
    ics_sql_release(db, st);
    st = NULL;
    json_end_arr(&j);

    json_arr(&j, "adoptions");
    fprintf(text, "\nAdoptions\n");
    rc = ics_sql_query(db, &st, "SELECT version, position, clock_ms, motion, consultation"
                                  " FROM adoptions WHERE plan = ?1 ORDER BY position", "t",
                         p.plan);
    if (rc != ICS_OK)
        goto out;
    bool any = false;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        char when[32];
        any = true;
        ics_gov_time(ics_sql_column_u64(st, 2), when);
        json_obj(&j, NULL);
        json_u64(&j, "version", ics_sql_column_u64(st, 0));
        json_u64(&j, "index", ics_sql_column_u64(st, 1));
        json_u64(&j, "clock_ms", ics_sql_column_u64(st, 2));
        json_u64(&j, "motion", ics_sql_column_u64(st, 3));
        json_u64(&j, "consultation", ics_sql_column_u64(st, 4));
        json_end_obj(&j);
        fprintf(text, "  version %" PRIu64 " adopted at index %" PRIu64 ", %s, by motion %"
                PRIu64 " after consultation %" PRIu64 "\n", ics_sql_column_u64(st, 0),
                ics_sql_column_u64(st, 1), when, ics_sql_column_u64(st, 3),
                ics_sql_column_u64(st, 4));
    }
    if (rc != ICS_ENOENT)
        goto out;
    if (!any)
        fprintf(text, "  (none yet)\n");
    ics_sql_release(db, st);
    st = NULL;
    json_end_arr(&j);

    json_arr(&j, "consultations");
    fprintf(text, "\nConsultations\n");
    void *arg[2] = {text, &j};
    long before = ftell(text);
    rc = ics_consult_each_for_plan(db, p.plan, s_history_consult, arg);
    if (rc != ICS_OK)
        goto out;
    if (ftell(text) == before)
        fprintf(text, "  (none yet)\n");
    json_end_arr(&j);

    json_arr(&j, "amendments");
    fprintf(text, "\nAmendments\n");
    rc = ics_sql_query(db, &st, "SELECT id, op, section, org, person, status, version,"
                                  " status_note FROM amendments WHERE plan = ?1 ORDER BY id",
                         "t", p.plan);
    if (rc != ICS_OK)
        goto out;
    any = false;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        const char *status = (const char *)sqlite3_column_text(st, 5);
        const char *note = (const char *)sqlite3_column_text(st, 7);
        any = true;
        json_obj(&j, NULL);
        json_u64(&j, "amendment", ics_sql_column_u64(st, 0));
        json_str(&j, "op", s_op_name(sqlite3_column_int(st, 1)));
        json_str(&j, "section", (const char *)sqlite3_column_text(st, 2));
        json_str(&j, "org", (const char *)sqlite3_column_text(st, 3));
        json_str(&j, "person", (const char *)sqlite3_column_text(st, 4));
        json_str(&j, "status", status);
        json_u64(&j, "version", ics_sql_column_u64(st, 6));
        json_str(&j, "note", note);
        json_end_obj(&j);
        fprintf(text, "  %-6" PRIu64 " %-8s %-18s %-9s %-20s %s", ics_sql_column_u64(st, 0),
                s_op_name(sqlite3_column_int(st, 1)), (const char *)sqlite3_column_text(st, 2),
                (const char *)sqlite3_column_text(st, 3),
                (const char *)sqlite3_column_text(st, 4), status);
        if (strcmp(status, "accepted") == 0)
            fprintf(text, " -> version %" PRIu64, ics_sql_column_u64(st, 6));
        else if (note[0] != '\0')
            fprintf(text, ": %s", note);
        fputc('\n', text);
    }
    if (rc != ICS_ENOENT)
        goto out;
    if (!any)
        fprintf(text, "  (none yet)\n");
    json_end_arr(&j);
    json_end_obj(&j);
    rc = ICS_OK;
out:
    ics_sql_release(db, st);
    return rc == ICS_OK ? ICS_OK : ics_err(err, rc, "state database error");
}

/* plan.diff PLAN V1 V2 */
static int s_query_diff(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                        FILE *json, FILE *text, ics_err_t *err)
{
    s_plan_t p;
    s_doc_t a, b;
    uint8_t ha[32], hb[32];
    char xa[65], xb[65], org[ICS_ORG_MAX], person[ICS_PERSON_MAX];
    uint64_t pos, clock, amendment;
    uint32_t va = 0, vb = 0;
    json_t j;
    int rc;

    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    if (argc != 3)
        return ics_err(err, ICS_EINVAL, "plan diff takes a plan id and two versions");
    rc = s_arg_plan(db, argv[0], &p, err);
    if (rc == ICS_OK)
        rc = s_arg_version(&p, argv[1], &va, err);
    if (rc == ICS_OK)
        rc = s_arg_version(&p, argv[2], &vb, err);
    if (rc != ICS_OK)
        return rc;
    rc = s_doc_load(db, p.plan, va, &a);
    if (rc == ICS_OK)
        rc = s_doc_load(db, p.plan, vb, &b);
    if (rc == ICS_OK)
        rc = s_version_row(db, p.plan, va, ha, &pos, &clock, &amendment, org, person);
    if (rc == ICS_OK)
        rc = s_version_row(db, p.plan, vb, hb, &pos, &clock, &amendment, org, person);
    if (rc != ICS_OK)
        goto out;
    ics_hex(ha, 32, xa);
    ics_hex(hb, 32, xb);
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_str(&j, "plan", p.plan);
    json_u64(&j, "from", va);
    json_u64(&j, "to", vb);
    json_str(&j, "from_hash", xa);
    json_str(&j, "to_hash", xb);
    fprintf(text, "--- %s version %u (sha %.16s...)\n+++ %s version %u (sha %.16s...)\n", p.plan,
            va, xa, p.plan, vb, xb);
    rc = s_doc_diff(text, &j, &a, &b);
    json_end_obj(&j);
out:
    s_doc_free(&a);
    s_doc_free(&b);
    return rc == ICS_OK ? ICS_OK : ics_err(err, rc, "state database error");
}

static void s_md_text(FILE *f, const char *s)
{
    /* Section text is the authors' Markdown; keep it, ending in a newline. */
    fputs(s, f);
    if (s[0] != '\0' && s[strlen(s) - 1] != '\n')
        fputc('\n', f);
}

/* plan.publish PLAN [VERSION]: the adopted plan (or a draft version) as
 * Markdown, with the HWB opinions and the decision record. */
static int s_query_publish(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                           FILE *json, FILE *text, ics_err_t *err)
{
    sqlite3_stmt *st = NULL;
    s_plan_t p;
    s_doc_t d;
    uint8_t hash[32];
    char hex[65], org[ICS_ORG_MAX], person[ICS_PERSON_MAX], when[32];
    char *md = NULL;
    size_t mdlen = 0;
    uint64_t pos, clock, amendment, motion = 0, consultation = 0, adopted_at = 0;
    uint64_t adopted_clock = 0;
    uint32_t v;
    FILE *f = NULL;
    json_t j;
    int rc;

    memset(&d, 0, sizeof d);
    if (argc < 1 || argc > 2)
        return ics_err(err, ICS_EINVAL, "plan publish takes a plan id and optionally a version");
    rc = s_arg_plan(db, argv[0], &p, err);
    if (rc != ICS_OK)
        return rc;
    v = p.adopted;
    if (argc == 2 && (rc = s_arg_version(&p, argv[1], &v, err)) != ICS_OK)
        return rc;
    if (v == 0)
        return ics_err(err, ICS_ENOENT, "plan %s has no adopted version yet; to publish a draft "
                                        "give its version (1 to %u)", p.plan, p.latest);
    rc = ics_sql_query(db, &st, "SELECT motion, consultation, position, clock_ms FROM"
                                  " adoptions WHERE plan = ?1 AND version = ?2"
                                  " ORDER BY position DESC LIMIT 1", "tu", p.plan, (uint64_t)v);
    if (rc != ICS_OK)
        goto out;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK) {
        motion = ics_sql_column_u64(st, 0);
        consultation = ics_sql_column_u64(st, 1);
        adopted_at = ics_sql_column_u64(st, 2);
        adopted_clock = ics_sql_column_u64(st, 3);
    } else if (rc != ICS_ENOENT) {
        goto out;
    }
    ics_sql_release(db, st);
    st = NULL;
    rc = s_doc_load(db, p.plan, v, &d);
    if (rc == ICS_OK)
        rc = s_version_row(db, p.plan, v, hash, &pos, &clock, &amendment, org, person);
    if (rc != ICS_OK)
        goto out;
    ics_hex(hash, 32, hex);
    f = open_memstream(&md, &mdlen);
    if (f == NULL) {
        rc = ICS_ENOMEM;
        goto out;
    }
    fprintf(f, "# %s\n\n", p.title);
    if (motion == 0)
        fprintf(f, "> **DRAFT: version %u has not been adopted.** It is published for "
                   "information only.\n\n", v);
    fprintf(f, "| | |\n|---|---|\n");
    fprintf(f, "| Plan | `%s`, group `%s` |\n", p.plan, group);
    fprintf(f, "| Period | %s |\n", p.period);
    fprintf(f, "| Version | %u of %u |\n", v, p.latest);
    fprintf(f, "| Content hash | `%s` (BLAKE2b-256, docs/policy.md) |\n", hex);
    if (motion != 0) {
        ics_gov_time(adopted_clock, when);
        fprintf(f, "| Status | Adopted at log index %" PRIu64 " (%s) by motion %" PRIu64 " |\n",
                adopted_at, when, motion);
        fprintf(f, "| Consultation | round %" PRIu64 " |\n", consultation);
    } else {
        fprintf(f, "| Status | Draft |\n");
    }
    fprintf(f, "\n## Contents\n\n");
    for (size_t i = 0; i < d.n; i++)
        fprintf(f, "%zu. %s\n", i + 1, d.sec[i].title);
    for (size_t i = 0; i < d.n; i++) {
        fprintf(f, "\n## %zu. %s\n\n", i + 1, d.sec[i].title);
        s_md_text(f, d.sec[i].text);
    }
    if (consultation != 0) {
        fprintf(f, "\n");
        rc = ics_consult_markdown(db, consultation, f);
        if (rc != ICS_OK)
            goto out;
    }
    if (motion != 0) {
        fprintf(f, "\n");
        rc = ics_motions_record_markdown(db, motion, f);
        if (rc != ICS_OK)
            goto out;
    }
    fprintf(f, "\n---\nPublished from the replicated log of group `%s`. Anyone holding an "
               "export of the log (`icsctl log export`) can check every entry cited here with "
               "`icsctl log verify`.\n", group);
    fclose(f);
    f = NULL;
    fputs(md, text);

    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_str(&j, "plan", p.plan);
    json_str(&j, "title", p.title);
    json_str(&j, "period", p.period);
    json_u64(&j, "version", v);
    json_str(&j, "hash", hex);
    json_bool(&j, "adopted", motion != 0);
    json_u64(&j, "adopted_at", adopted_at);
    json_arr(&j, "sections");
    for (size_t i = 0; i < d.n; i++) {
        json_obj(&j, NULL);
        json_str(&j, "id", d.sec[i].id);
        json_str(&j, "title", d.sec[i].title);
        json_str(&j, "text", d.sec[i].text);
        json_end_obj(&j);
    }
    json_end_arr(&j);
    if (consultation != 0) {
        json_obj(&j, "consultation");
        rc = ics_consult_json(db, consultation, &j);
        json_end_obj(&j);
        if (rc != ICS_OK)
            goto out;
    }
    if (motion != 0) {
        json_obj(&j, "decision");
        rc = ics_motions_record_json(db, motion, &j);
        json_end_obj(&j);
        if (rc != ICS_OK)
            goto out;
    }
    json_str(&j, "markdown", md);
    json_end_obj(&j);
    rc = ICS_OK;
out:
    if (f != NULL)
        fclose(f);
    free(md);
    ics_sql_release(db, st);
    s_doc_free(&d);
    return rc == ICS_OK ? ICS_OK : ics_err(err, rc, "state database error");
}

static const char *s_status_word(const char *s)
{
    static const char *const known[] = {"proposed", "accepted", "rejected", "withdrawn",
                                        "superseded", NULL};
    for (int i = 0; known[i] != NULL; i++)
        if (strcmp(s, known[i]) == 0)
            return known[i];
    return NULL;
}

/* amend.list [PLAN|-] [STATUS] */
static int s_query_amend_list(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                              FILE *json, FILE *text, ics_err_t *err)
{
    sqlite3_stmt *st = NULL;
    const char *plan = argc > 0 && strcmp(argv[0], "-") != 0 ? argv[0] : "";
    const char *status = argc > 1 ? argv[1] : "";
    json_t j;
    unsigned n = 0;
    int rc;

    if (argc > 2)
        return ics_err(err, ICS_EINVAL, "amend list takes an optional plan and status");
    if (plan[0] != '\0' && !s_valid_key(plan))
        return ics_err(err, ICS_EINVAL, "'%s' is not a plan id", plan);
    if (status[0] != '\0' && s_status_word(status) == NULL)
        return ics_err(err, ICS_EINVAL, "status '%s' is not one of proposed, accepted, rejected, "
                                        "withdrawn, superseded", status);
    rc = ics_sql_query(db, &st, "SELECT " S_AMEND_COLUMNS " FROM amendments"
                                  " WHERE (?1 = '' OR plan = ?1) AND (?2 = '' OR status = ?2)"
                                  " ORDER BY id", "tt", plan, status);
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_arr(&j, "amendments");
    fprintf(text, "%-7s %-14s %-5s %-8s %-18s %-9s %-18s %s\n", "ID", "PLAN", "BASE", "OP",
            "SECTION", "ORG", "PERSON", "STATUS");
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        s_amend_t a;
        rc = s_amend_read(st, &a);
        if (rc != ICS_OK)
            break;
        n++;
        json_obj(&j, NULL);
        json_u64(&j, "amendment", a.id);
        json_str(&j, "plan", a.plan);
        json_u64(&j, "base", a.base);
        json_str(&j, "op", s_op_name(a.op));
        json_str(&j, "section", a.section);
        json_str(&j, "org", a.org);
        json_str(&j, "person", a.person);
        json_str(&j, "status", a.status);
        json_u64(&j, "version", a.version);
        json_u64(&j, "motion", a.motion);
        json_str(&j, "rationale", a.rationale);
        json_str(&j, "note", a.note);
        json_end_obj(&j);
        fprintf(text, "%-7" PRIu64 " %-14s %-5u %-8s %-18s %-9s %-18s %s", a.id, a.plan, a.base,
                s_op_name(a.op), a.section, a.org, a.person, a.status);
        if (strcmp(a.status, "accepted") == 0)
            fprintf(text, " (version %u)", a.version);
        fputc('\n', text);
        s_amend_free(&a);
    }
    ics_sql_release(db, st);
    json_end_arr(&j);
    json_end_obj(&j);
    if (rc == ICS_ENOENT && n == 0)
        fprintf(text, "(no amendments%s%s%s%s)\n", plan[0] ? " to " : "", plan,
                status[0] ? " that are " : "", status);
    return rc == ICS_ENOENT ? ICS_OK : ics_err(err, rc, "state database error");
}

/* amend.show ID: the amendment, what happened to it, and its change as a
 * diff against its base version. */
static int s_query_amend_show(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                              FILE *json, FILE *text, ics_err_t *err)
{
    s_amend_t a;
    s_doc_t base;
    uint64_t id = 0;
    long i;
    char when[32], *hunks = NULL;
    size_t hlen = 0;
    const char *before = "", *after = "";
    s_paras_t ps;
    char *built = NULL;
    json_t j;
    FILE *h;
    int rc;

    memset(&base, 0, sizeof base);
    memset(&ps, 0, sizeof ps);
    if (argc != 1 || !ics_gov_arg_u64(argv[0], &id))
        return ics_err(err, ICS_EINVAL, "amend show takes an amendment number");
    rc = s_amend_get(db, id, &a);
    if (rc == ICS_ENOENT)
        return ics_err(err, ICS_ENOENT, "there is no amendment %s", argv[0]);
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");
    rc = s_doc_load(db, a.plan, a.base, &base);
    if (rc != ICS_OK)
        goto out;
    i = s_doc_find(&base, a.section);
    before = i >= 0 ? base.sec[i].text : "";
    /* The change as it reads against the base version. */
    switch (a.op) {
    case ICS__V1__AMEND_OP__AMEND_ADD:
    case ICS__V1__AMEND_OP__AMEND_REPLACE:
        after = a.text;
        break;
    case ICS__V1__AMEND_OP__AMEND_DELETE:
        if (a.paragraph != 0 && i >= 0 && s_paras_split(before, &ps) == ICS_OK &&
            a.paragraph <= ps.n) {
            free(ps.p[a.paragraph - 1]);
            memmove(&ps.p[a.paragraph - 1], &ps.p[a.paragraph],
                    (ps.n - a.paragraph) * sizeof *ps.p);
            ps.n--;
            built = s_paras_join(&ps);
        }
        after = built != NULL ? built : "";
        break;
    default: {
        s_paras_t add;
        memset(&add, 0, sizeof add);
        if (i >= 0 && s_paras_split(before, &ps) == ICS_OK &&
            s_paras_split(a.text, &add) == ICS_OK && a.paragraph <= ps.n + 1) {
            size_t at = a.paragraph == 0 ? ps.n : a.paragraph - 1;
            char **p = realloc(ps.p, (ps.n + add.n + 1) * sizeof *p);
            if (p != NULL) {
                ps.p = p;
                memmove(&ps.p[at + add.n], &ps.p[at], (ps.n - at) * sizeof *ps.p);
                memcpy(&ps.p[at], add.p, add.n * sizeof *add.p);
                ps.n += add.n;
                free(add.p);
                add.p = NULL;
                add.n = 0;
                built = s_paras_join(&ps);
            }
        }
        s_paras_free(&add);
        after = built != NULL ? built : a.text;
    }
    }
    h = open_memstream(&hunks, &hlen);
    if (h == NULL) {
        rc = ICS_ENOMEM;
        goto out;
    }
    rc = s_unified(h, before, after);
    fclose(h);
    if (rc != ICS_OK)
        goto out;
    ics_gov_time(a.clock_ms, when);
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_u64(&j, "amendment", a.id);
    json_str(&j, "plan", a.plan);
    json_u64(&j, "base", a.base);
    json_str(&j, "op", s_op_name(a.op));
    json_str(&j, "section", a.section);
    json_str(&j, "title", a.title);
    json_str(&j, "text", a.text);
    json_u64(&j, "paragraph", a.paragraph);
    json_str(&j, "after", a.after);
    json_str(&j, "rationale", a.rationale);
    json_str(&j, "org", a.org);
    json_str(&j, "person", a.person);
    json_u64(&j, "clock_ms", a.clock_ms);
    json_str(&j, "status", a.status);
    json_u64(&j, "status_at", a.status_at);
    json_str(&j, "note", a.note);
    json_u64(&j, "version", a.version);
    json_u64(&j, "motion", a.motion);
    json_str(&j, "diff", hunks);
    json_end_obj(&j);

    fprintf(text, "amendment %" PRIu64 " to plan %s, against version %u\n", a.id, a.plan,
            a.base);
    fprintf(text, "proposed by  %s (%s), %s\n", a.org, a.person, when);
    fprintf(text, "change       %s ", s_op_name(a.op));
    if (a.op == ICS__V1__AMEND_OP__AMEND_ADD)
        fprintf(text, "section %s \"%s\" %s%s\n", a.section, a.title,
                a.after[0] ? "after " : "at the end", a.after);
    else if (a.op == ICS__V1__AMEND_OP__AMEND_INSERT)
        fprintf(text, "into section %s %s%u\n", a.section,
                a.paragraph ? "before paragraph " : "at the end", a.paragraph);
    else if (a.op == ICS__V1__AMEND_OP__AMEND_DELETE && a.paragraph)
        fprintf(text, "paragraph %u of section %s\n", a.paragraph, a.section);
    else
        fprintf(text, "section %s%s%s%s\n", a.section, a.title[0] ? " (new title \"" : "",
                a.title, a.title[0] ? "\")" : "");
    fprintf(text, "status       %s", a.status);
    if (strcmp(a.status, "accepted") == 0)
        fprintf(text, ": version %u, by motion %" PRIu64 " at index %" PRIu64, a.version,
                a.motion, a.status_at);
    else if (strcmp(a.status, "proposed") != 0)
        fprintf(text, " at index %" PRIu64 "%s%s", a.status_at, a.note[0] ? ": " : "", a.note);
    fprintf(text, "\nrationale    %s\n\n--- section %s, version %u\n+++ as amended\n%s", a.rationale,
            a.section, a.base, hunks);
out:
    free(hunks);
    free(built);
    s_paras_free(&ps);
    s_doc_free(&base);
    s_amend_free(&a);
    return rc == ICS_OK ? ICS_OK : ics_err(err, rc, "state database error");
}

static const ics_fsm_query_t s_queries[] = {
    {"plan.list", s_query_list},
    {"plan.show", s_query_show},
    {"plan.history", s_query_history},
    {"plan.diff", s_query_diff},
    {"plan.publish", s_query_publish},
    {"amend.list", s_query_amend_list},
    {"amend.show", s_query_amend_show},
    {NULL, NULL},
};

const ics_fsm_domain_t ics_fsm_domain_plans = {
    .name = "plans",
    .kinds = s_kinds,
    .schema = s_schema,
    .apply = s_apply,
    .on_clock = NULL,
    .deadline = NULL,
    .queries = s_queries,
};
