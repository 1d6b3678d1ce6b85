/*
 * Text diffs for plan versions: a line diff (longest common subsequence,
 * bounded by ICS_PLANS_DIFF_CELLS) shown as a unified diff, and a
 * section-by-section comparison of two versions. Pure functions of their
 * inputs; used by queries only, never by a verdict.
 */
#include "fsm/fsm_plans.h"
#include "common/json.h"

#include <stdlib.h>
#include <string.h>

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
    if (rows * cols <= ICS_PLANS_DIFF_CELLS) {
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
int ics_text_unified(FILE *f, const char *ta, const char *tb)
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
int ics_plan_doc_diff(FILE *f, json_t *j, const ics_plan_doc_t *a, const ics_plan_doc_t *b)
{
    char *hunks = NULL;
    size_t hlen = 0, unchanged = 0;
    int rc = ICS_OK;

    json_arr(j, "sections");
    for (size_t pass = 0; pass < 2 && rc == ICS_OK; pass++) {
        /* Pass 0: b's sections in b's order; pass 1: sections a had and b lost. */
        const ics_plan_doc_t *d = pass == 0 ? b : a;
        for (size_t i = 0; i < d->n && rc == ICS_OK; i++) {
            const ics_plan_sec_t *sb = pass == 0 ? &b->sec[i] : NULL;
            const ics_plan_sec_t *sa = pass == 1 ? &a->sec[i] : NULL;
            long other;
            const char *status;
            FILE *h;
            if (pass == 0) {
                other = ics_plan_doc_find(a, sb->id);
                sa = other >= 0 ? &a->sec[other] : NULL;
            } else {
                if (ics_plan_doc_find(b, sa->id) >= 0)
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
            rc = ics_text_unified(h, sa != NULL ? sa->text : "", sb != NULL ? sb->text : "");
            fclose(h);
            if (rc != ICS_OK)
                break;
            const ics_plan_sec_t *s = sb != NULL ? sb : sa;
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
