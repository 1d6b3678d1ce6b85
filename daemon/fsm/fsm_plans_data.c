/*
 * A plan as the other files read it: a version's document, its paragraphs,
 * a plan's row and an amendment's row, and the checks a motion makes that
 * a version or an amendment exists (fsm_plans.c holds the domain's rules,
 * fsm_plans_diff.c and fsm_plans_query.c its text diff and queries).
 *
 * Reads only. Calls fsm_sql.c alone, so that consultations and the plan
 * queries may call it while fsm_plans.c calls consultations.
 */
#include "fsm/fsm_plans.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- documents */

/* One version's content, in memory. */

void ics_plan_doc_free(ics_plan_doc_t *d)
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

long ics_plan_doc_find(const ics_plan_doc_t *d, const char *id)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->sec[i].id, id) == 0)
            return (long)i;
    return -1;
}

/* Inserts a copy of the section at index at (0..n). */
int ics_plan_doc_insert(ics_plan_doc_t *d, size_t at, const char *id, const char *title,
                        const char *text)
{
    ics_plan_sec_t s;

    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 8;
        ics_plan_sec_t *p = realloc(d->sec, cap * sizeof *p);
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

int ics_plan_set(char **field, const char *v)
{
    char *c = strdup(v);
    if (c == NULL)
        return ICS_ENOMEM;
    free(*field);
    *field = c;
    return ICS_OK;
}

/* Loads version of plan. ICS_ENOENT if the plan or version does not exist. */
int ics_plan_doc_load(ics_db_t *db, const char *plan, uint32_t version, ics_plan_doc_t *d)
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
    if (ics_plan_set(&d->title, (const char *)sqlite3_column_text(st, 0)) != ICS_OK ||
        ics_plan_set(&d->period, (const char *)sqlite3_column_text(st, 1)) != ICS_OK) {
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
        rc = ics_plan_doc_insert(d, d->n, (const char *)sqlite3_column_text(st, 0),
                          (const char *)sqlite3_column_text(st, 1),
                          (const char *)sqlite3_column_text(st, 2));
        if (rc != ICS_OK)
            goto out;
    }
    rc = rc == ICS_ENOENT ? ICS_OK : rc;
out:
    ics_sql_release(db, st);
    if (rc != ICS_OK)
        ics_plan_doc_free(d);
    return rc;
}

/* ---------------------------------------------------------------- paragraphs */

void ics_plan_paras_free(ics_plan_paras_t *ps)
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
int ics_plan_paras_split(const char *text, ics_plan_paras_t *ps)
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
    ics_plan_paras_free(ps);
    return ICS_ENOMEM;
}

/* Joins paragraphs with one blank line between them. Caller frees. */
char *ics_plan_paras_join(const ics_plan_paras_t *ps)
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

/* ---------------------------------------------------------------- plans */

/* Plan and section ids: a lower-case letter or digit, then a-z 0-9 _ . - */
bool ics_plans_valid_key(const char *s)
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

int ics_plan_get(ics_db_t *db, const char *plan, ics_plan_t *out)
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

/* ---------------------------------------------------------------- amendments */

void ics_amend_free(ics_amend_t *a)
{
    free(a->title);
    free(a->text);
    free(a->rationale);
    free(a->note);
    memset(a, 0, sizeof *a);
}

const char *ics_amend_op_name(int op)
{
    switch (op) {
    case ICS__V1__AMEND_OP__AMEND_REPLACE: return "replace";
    case ICS__V1__AMEND_OP__AMEND_INSERT: return "insert";
    case ICS__V1__AMEND_OP__AMEND_DELETE: return "delete";
    case ICS__V1__AMEND_OP__AMEND_ADD: return "add";
    default: return "unknown";
    }
}

int ics_amend_read(sqlite3_stmt *st, ics_amend_t *a)
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
    if (ics_plan_set(&a->title, (const char *)sqlite3_column_text(st, 5)) != ICS_OK ||
        ics_plan_set(&a->text, (const char *)sqlite3_column_text(st, 6)) != ICS_OK ||
        ics_plan_set(&a->rationale, (const char *)sqlite3_column_text(st, 9)) != ICS_OK ||
        ics_plan_set(&a->note, (const char *)sqlite3_column_text(st, 15)) != ICS_OK) {
        ics_amend_free(a);
        return ICS_ENOMEM;
    }
    return ICS_OK;
}

int ics_amend_get(ics_db_t *db, uint64_t id, ics_amend_t *a)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(a, 0, sizeof *a);
    if (id > INT64_MAX)
        return ICS_ENOENT;
    rc = ics_sql_query(db, &st, "SELECT " ICS_AMEND_COLUMNS " FROM amendments WHERE id = ?1",
                         "u", id);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK)
        rc = ics_amend_read(st, a);
    ics_sql_release(db, st);
    return rc;
}

/* ---------------------------------------------------------------- for decisions */

int ics_plans_check_version(ics_db_t *db, const char *plan, uint32_t version, char *why,
                            size_t size)
{
    ics_plan_t p;
    int rc = ics_plan_get(db, plan, &p);

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
    ics_amend_t a;
    int rc = ics_amend_get(db, amendment, &a);

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
    ics_amend_free(&a);
    return rc;
}
