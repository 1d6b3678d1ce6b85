/*
 * Joint forward plans: plans, their numbered immutable versions, and the
 * amendments that make new versions. Adoption of a version, acceptance of an
 * amendment and its rejection are decisions: fsm_motions.c carries them out
 * through ics_plans_adopt / _accept / _reject once a motion is carried (or
 * lost). How a plan, a version and an amendment are read is in
 * fsm_plans_data.c.
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
#include "fsm/fsm_plans.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_SECTIONS 200

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
    " status TEXT NOT NULL CHECK (status IN"
    "  ('proposed', 'accepted', 'rejected', 'withdrawn', 'superseded')),"
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

static void s_doc_remove(ics_plan_doc_t *d, size_t at)
{
    free(d->sec[at].title);
    free(d->sec[at].text);
    memmove(&d->sec[at], &d->sec[at + 1], (d->n - at - 1) * sizeof *d->sec);
    d->n--;
}

static void s_lp(crypto_generichash_state *h, const char *s)
{
    size_t n = strlen(s);
    uint8_t len[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    crypto_generichash_update(h, len, sizeof len);
    crypto_generichash_update(h, (const uint8_t *)s, n);
}

static void s_doc_hash(const ics_plan_doc_t *d, uint8_t out[32])
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
static int s_doc_store(ics_apply_ctx_t *ctx, const ics_plan_doc_t *d, uint64_t amendment,
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

/* ---------------------------------------------------------------- validation */

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
    if (!ics_plans_valid_key(id))
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

static int s_plan_create(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__PlanCreate *c = cmd->plan_create;
    ics_person_t who;
    ics_plan_t cur;
    ics_plan_doc_t d;
    int rc;

    memset(&d, 0, sizeof d);
    rc = ics_people_require_actor(ctx, &who);
    if (rc != ICS_OK)
        return rc;
    if (!ics_plans_valid_key(c->plan))
        return ics_reject(ctx, "plan id '%.40s' is not valid: a lower-case letter or digit, then "
                               "a-z 0-9 _ . -, at most %d (e.g. jfp-2026)", c->plan,
                          ICS_POLICY_ID_MAX - 1);
    rc = ics_plan_get(ctx->db, c->plan, &cur);
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
    if (ics_plan_set(&d.title, c->title) != ICS_OK ||
        ics_plan_set(&d.period, c->period) != ICS_OK) {
        rc = ICS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < c->n_sections; i++) {
        const Ics__V1__PlanSection *s = c->sections[i];
        rc = s_check_section(ctx, s->id, s->title, s->text);
        if (rc != ICS_OK)
            goto out;
        if (ics_plan_doc_find(&d, s->id) >= 0) {
            rc = ics_reject(ctx, "section %s is given twice", s->id);
            goto out;
        }
        rc = ics_plan_doc_insert(&d, d.n, s->id, s->title, s->text);
        if (rc != ICS_OK)
            goto out;
    }
    rc = ics_sql_run(ctx->db, "INSERT INTO plans(plan, title, period, org, person, created,"
                               " latest, adopted) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0)",
                      "tttttu", c->plan, c->title, c->period, ctx->org, ctx->actor, ctx->position);
    if (rc == ICS_OK)
        rc = s_doc_store(ctx, &d, 0, ctx->org, ctx->actor);
out:
    ics_plan_doc_free(&d);
    return rc;
}

/* ---------------------------------------------------------------- amendments */

/* The first version after `base` (up to `latest`) in which section differs
 * from base: its number, and the amendment that made it. */
static int s_changed_in(ics_db_t *db, const char *plan, const char *section, uint32_t base,
                        uint32_t latest, uint32_t *version, ics_amend_t *by)
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
        rc = ics_amend_get(db, amendment, by);
    return rc == ICS_ENOENT ? ICS_OK : rc;
}

/* The stale-amendment message: what changed, and how to rebase. */
static void s_stale_why(const ics_amend_t *a, const char *what, const char *section,
                        uint32_t version, const ics_amend_t *by, char *why, size_t size)
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
static void s_not_proposed(const ics_amend_t *a, char *why, size_t size)
{
    if (strcmp(a->status, "superseded") == 0 && a->note != NULL && a->note[0] != '\0')
        snprintf(why, size, "amendment %" PRIu64 " was superseded: %s", a->id, a->note);
    else
        snprintf(why, size, "amendment %" PRIu64 " is %s, not proposed", a->id, a->status);
}

/* Rejects amendment a as stale when section changed after its base version
 * (always, if the caller already knows it did), saying what happened to it
 * (what) and in which version. ICS_OK if it did not change. */
static int s_check_stale(ics_db_t *db, const ics_amend_t *a, const char *section,
                         uint32_t latest, const char *what, bool always, char *why, size_t size)
{
    ics_amend_t by;
    uint32_t changed = 0;
    int rc;

    rc = s_changed_in(db, a->plan, section, a->base, latest, &changed, &by);
    if (rc == ICS_OK && (changed != 0 || always)) {
        s_stale_why(a, what, section, changed, &by, why, size);
        rc = ICS_EREJECTED;
    }
    ics_amend_free(&by);
    return rc;
}

/* Adding a section: its id is new in the base and still absent from the
 * latest version (cur), the section it goes after is in both, and the plan
 * has room. bi and ci: where its id is in base and cur. */
static int s_check_add(ics_db_t *db, const ics_amend_t *a, uint32_t latest,
                       const ics_plan_doc_t *base, const ics_plan_doc_t *cur, long bi, long ci,
                       char *why, size_t size)
{
    if (bi >= 0) {
        snprintf(why, size, "section %s already exists in version %u; to change it, "
                 "replace its text instead", a->section, a->base);
        return ICS_EREJECTED;
    }
    if (ci >= 0)
        return s_check_stale(db, a, a->section, latest, "was added", true, why, size);
    if (a->after[0] != '\0') {
        if (ics_plan_doc_find(base, a->after) < 0) {
            snprintf(why, size, "there is no section %s in version %u to add a section "
                     "after", a->after, a->base);
            return ICS_EREJECTED;
        }
        if (ics_plan_doc_find(cur, a->after) < 0)
            return s_check_stale(db, a, a->after, latest, "was deleted", true, why, size);
    }
    if (cur->n >= S_MAX_SECTIONS) {
        snprintf(why, size, "plan %s already has %d sections, the most allowed", a->plan,
                 S_MAX_SECTIONS);
        return ICS_EREJECTED;
    }
    return ICS_OK;
}

/* Replacing, inserting into or deleting (from) a section: it is in the base
 * unchanged since, the paragraph named exists, and the change changes
 * something. On ICS_OK, *ps holds the paragraphs of its latest text (at ci
 * in cur); the caller frees them in any case. */
static int s_check_change(ics_db_t *db, const ics_amend_t *a, uint32_t latest,
                          const ics_plan_doc_t *cur, long bi, long ci, ics_plan_paras_t *ps,
                          char *why, size_t size)
{
    int rc;

    if (bi < 0) {
        snprintf(why, size, "there is no section %s in version %u of plan %s", a->section,
                 a->base, a->plan);
        return ICS_EREJECTED;
    }
    rc = s_check_stale(db, a, a->section, latest, ci < 0 ? "was deleted" : "changed", ci < 0,
                       why, size);
    if (rc != ICS_OK)
        return rc;
    if (ics_plan_paras_split(cur->sec[ci].text, ps) != ICS_OK)
        return ICS_ENOMEM;
    if (a->op == ICS__V1__AMEND_OP__AMEND_INSERT && a->paragraph > ps->n + 1) {
        snprintf(why, size, "section %s has %zu paragraphs: insert before 1 to %zu, or 0 "
                 "for the end", a->section, ps->n, ps->n + 1);
        return ICS_EREJECTED;
    }
    if (a->op == ICS__V1__AMEND_OP__AMEND_DELETE && a->paragraph > ps->n) {
        snprintf(why, size, "section %s has %zu paragraphs; there is no paragraph %u to "
                 "delete", a->section, ps->n, a->paragraph);
        return ICS_EREJECTED;
    }
    if (a->op == ICS__V1__AMEND_OP__AMEND_DELETE && a->paragraph == 0 && cur->n == 1) {
        snprintf(why, size, "section %s is the plan's only section; a plan keeps at least "
                 "one", a->section);
        return ICS_EREJECTED;
    }
    if (a->op == ICS__V1__AMEND_OP__AMEND_REPLACE && strcmp(cur->sec[ci].text, a->text) == 0 &&
        (a->title[0] == '\0' || strcmp(cur->sec[ci].title, a->title) == 0)) {
        snprintf(why, size, "the amendment changes nothing: section %s already reads so",
                 a->section);
        return ICS_EREJECTED;
    }
    return ICS_OK;
}

/* Removes paragraph n (from 1, at most ps->n) from ps. */
static void s_paras_drop(ics_plan_paras_t *ps, uint32_t n)
{
    free(ps->p[n - 1]);
    memmove(&ps->p[n - 1], &ps->p[n], (ps->n - n) * sizeof *ps->p);
    ps->n--;
}

/* Inserts the paragraphs of text into ps before paragraph n (from 1; 0: at
 * the end). ICS_OK or ICS_ENOMEM. */
static int s_paras_insert(ics_plan_paras_t *ps, uint32_t n, const char *text)
{
    ics_plan_paras_t add;
    size_t at = n == 0 ? ps->n : n - 1;
    char **p;
    int rc;

    rc = ics_plan_paras_split(text, &add);
    if (rc != ICS_OK)
        return rc;
    p = realloc(ps->p, (ps->n + add.n + 1) * sizeof *p);
    if (p == NULL) {
        ics_plan_paras_free(&add);
        return ICS_ENOMEM;
    }
    ps->p = p;
    memmove(&ps->p[at + add.n], &ps->p[at], (ps->n - at) * sizeof *ps->p);
    memcpy(&ps->p[at], add.p, add.n * sizeof *add.p);
    ps->n += add.n;
    free(add.p);
    return ICS_OK;
}

/* Sets the text of section ci of d to the paragraphs ps. An insertion can
 * make it too long: then, with section naming it, ICS_EREJECTED and why (a
 * deletion only shortens it: section NULL). */
static int s_set_paras(ics_plan_doc_t *d, long ci, const ics_plan_paras_t *ps,
                       const char *section, char *why, size_t size)
{
    char *joined = ics_plan_paras_join(ps);

    if (joined == NULL)
        return ICS_ENOMEM;
    if (section != NULL && strlen(joined) >= ICS_TEXT_MAX) {
        free(joined);
        snprintf(why, size, "section %s would be longer than %u bytes", section, ICS_TEXT_MAX);
        return ICS_EREJECTED;
    }
    free(d->sec[ci].text);
    d->sec[ci].text = joined;
    return ICS_OK;
}

/* Applies checked amendment a to out, a copy of the latest version, making
 * it the next; ci is where a's section is in it and ps its paragraphs (which
 * this changes). */
static int s_amend_apply(const ics_amend_t *a, ics_plan_doc_t *out, long ci,
                         ics_plan_paras_t *ps, char *why, size_t size)
{
    int rc;

    switch (a->op) {
    case ICS__V1__AMEND_OP__AMEND_ADD: {
        size_t at = out->n;
        if (a->after[0] != '\0')
            at = (size_t)ics_plan_doc_find(out, a->after) + 1;
        return ics_plan_doc_insert(out, at, a->section, a->title, a->text);
    }
    case ICS__V1__AMEND_OP__AMEND_REPLACE:
        rc = ics_plan_set(&out->sec[ci].text, a->text);
        if (rc == ICS_OK && a->title[0] != '\0')
            rc = ics_plan_set(&out->sec[ci].title, a->title);
        return rc;
    case ICS__V1__AMEND_OP__AMEND_DELETE:
        if (a->paragraph == 0) {
            s_doc_remove(out, (size_t)ci);
            return ICS_OK;
        }
        s_paras_drop(ps, a->paragraph);
        return s_set_paras(out, ci, ps, NULL, why, size);
    case ICS__V1__AMEND_OP__AMEND_INSERT:
        rc = s_paras_insert(ps, a->paragraph, a->text);
        if (rc == ICS_OK)
            rc = s_set_paras(out, ci, ps, a->section, why, size);
        return rc;
    default:
        snprintf(why, size, "unknown amendment operation %d", a->op);
        return ICS_EREJECTED;
    }
}

/* Can amendment a be applied to the plan's latest version? If so and out is
 * not NULL, *out is the resulting document (the next version). */
static int s_amend_check(ics_db_t *db, const ics_amend_t *a, ics_plan_doc_t *out, char *why,
                         size_t size)
{
    ics_plan_t plan;
    ics_plan_doc_t base, cur;
    ics_plan_paras_t ps;
    long bi, ci;
    int rc;

    memset(&base, 0, sizeof base);
    memset(&cur, 0, sizeof cur);
    memset(&ps, 0, sizeof ps);
    if (out != NULL)
        memset(out, 0, sizeof *out);
    rc = ics_plan_get(db, a->plan, &plan);
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
    rc = ics_plan_doc_load(db, a->plan, a->base, &base);
    if (rc == ICS_OK)
        rc = ics_plan_doc_load(db, a->plan, plan.latest, &cur);
    if (rc != ICS_OK)
        goto out;
    bi = ics_plan_doc_find(&base, a->section);
    ci = ics_plan_doc_find(&cur, a->section);
    if (a->op == ICS__V1__AMEND_OP__AMEND_ADD)
        rc = s_check_add(db, a, plan.latest, &base, &cur, bi, ci, why, size);
    else
        rc = s_check_change(db, a, plan.latest, &cur, bi, ci, &ps, why, size);
    if (rc != ICS_OK || out == NULL)
        goto out;
    /* Build the next version from the latest. */
    *out = cur;
    memset(&cur, 0, sizeof cur);
    out->version = plan.latest + 1;
    rc = s_amend_apply(a, out, ci, &ps, why, size);
    if (rc != ICS_OK)
        ics_plan_doc_free(out);
out:
    ics_plan_paras_free(&ps);
    ics_plan_doc_free(&base);
    ics_plan_doc_free(&cur);
    return rc;
}

static int s_amend_propose(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__AmendPropose *p = cmd->amend_propose;
    ics_person_t who;
    ics_amend_t a;
    char why[ICS_WHY_MAX];
    int rc;

    memset(&a, 0, sizeof a);
    rc = ics_people_require_actor(ctx, &who);
    if (rc != ICS_OK)
        return rc;
    if (!ics_plans_valid_key(p->plan))
        return ics_reject(ctx, "'%.40s' is not a plan id", p->plan);
    if (p->op != ICS__V1__AMEND_OP__AMEND_REPLACE && p->op != ICS__V1__AMEND_OP__AMEND_INSERT &&
        p->op != ICS__V1__AMEND_OP__AMEND_DELETE && p->op != ICS__V1__AMEND_OP__AMEND_ADD)
        return ics_reject(ctx, "unknown amendment operation %d (replace, insert, delete or add)",
                          (int)p->op);
    if (!ics_plans_valid_key(p->section))
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
        if (p->after[0] != '\0' && !ics_plans_valid_key(p->after))
            return ics_reject(ctx, "'%.40s' is not a section id", p->after);
        if (p->paragraph != 0)
            return ics_reject(ctx, "adding a section takes no paragraph number");
        break;
    case ICS__V1__AMEND_OP__AMEND_REPLACE:
    case ICS__V1__AMEND_OP__AMEND_INSERT:
        if (!ics_gov_valid_text(p->text, ICS_TEXT_MAX, true))
            return ics_reject(ctx, "%s needs text (under %u bytes, no control characters but "
                                   "newline and tab)", ics_amend_op_name(p->op), ICS_TEXT_MAX);
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
    if (ics_plan_set(&a.title, p->title) != ICS_OK || ics_plan_set(&a.text, p->text) != ICS_OK ||
        ics_plan_set(&a.rationale, p->rationale) != ICS_OK) {
        rc = ICS_ENOMEM;
        goto out;
    }
    rc = s_amend_check(ctx->db, &a, NULL, why, sizeof why);
    if (rc == ICS_EREJECTED)
        rc = ics_reject(ctx, "%s", why);
    if (rc != ICS_OK)
        goto out;
    rc = ics_sql_run(ctx->db, "INSERT INTO amendments(" ICS_AMEND_COLUMNS ") VALUES (?1, ?2, ?3,"
                               " ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'proposed', ?14, '',"
                               " 0, 0)",
                      "utuitttuttttuu", a.id, a.plan,
                      (uint64_t)a.base, a.op, a.section, a.title, a.text, (uint64_t)a.paragraph,
                      a.after, a.rationale, a.org, a.person, ctx->clock_ms, ctx->position);
out:
    ics_amend_free(&a);
    return rc;
}

static int s_amend_withdraw(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__AmendWithdraw *w = cmd->amend_withdraw;
    ics_person_t who;
    ics_amend_t a;
    char why[ICS_WHY_MAX], target[48];
    int rc;

    rc = ics_people_require_actor(ctx, &who);
    if (rc != ICS_OK)
        return rc;
    if (!ics_gov_valid_line(w->reason, ICS_LINE_MAX, false))
        return ics_reject(ctx, "the reason for withdrawing is one line, under %d bytes",
                          ICS_LINE_MAX);
    rc = ics_amend_get(ctx->db, w->amendment, &a);
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
    ics_amend_free(&a);
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
        ics_amend_t a;
        char why[ICS_WHY_MAX], target[48];
        rc = ics_amend_get(ctx->db, ids[i], &a);
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
        ics_amend_free(&a);
    }
out:
    free(ids);
    return rc;
}

/* ---------------------------------------------------------------- decisions */

int ics_plans_check_adopt(ics_db_t *db, const char *plan, uint32_t version,
                          uint64_t *consultation, char *why, size_t size)
{
    ics_plan_t p;
    int rc;

    *consultation = 0;
    rc = ics_plans_check_version(db, plan, version, why, size);
    if (rc != ICS_OK)
        return rc;
    rc = ics_plan_get(db, plan, &p);
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
    ics_amend_t a;
    int rc = ics_amend_get(db, amendment, &a);

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
    ics_amend_free(&a);
    return rc;
}

int ics_plans_accept(ics_apply_ctx_t *ctx, uint64_t amendment, uint64_t motion, char *why,
                     size_t size)
{
    ics_amend_t a;
    ics_plan_doc_t next;
    int rc;

    memset(&next, 0, sizeof next);
    rc = ics_amend_get(ctx->db, amendment, &a);
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
    ics_plan_doc_free(&next);
    ics_amend_free(&a);
    return rc;
}

int ics_plans_reject(ics_apply_ctx_t *ctx, uint64_t amendment, uint64_t motion)
{
    return ics_sql_run(ctx->db, "UPDATE amendments SET status = 'rejected', status_at = ?2,"
                                 " motion = ?3, status_note = 'the motion to accept it was lost'"
                                 " WHERE id = ?1 AND status = 'proposed'",
                        "uuu", amendment, ctx->position, motion);
}

static const ics_fsm_handler_t s_handlers[] = {
    {ICS__V1__COMMAND__BODY_PLAN_CREATE, s_plan_create},
    {ICS__V1__COMMAND__BODY_AMEND_PROPOSE, s_amend_propose},
    {ICS__V1__COMMAND__BODY_AMEND_WITHDRAW, s_amend_withdraw},
    {0, NULL},
};

const ics_fsm_domain_t ics_fsm_domain_plans = {
    .name = "plans",
    .handlers = s_handlers,
    .schema = s_schema,
    .on_clock = NULL,
    .deadline = NULL,
    .queries = ics_plans_queries,
};
