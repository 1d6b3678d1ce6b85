/*
 * icsctl publish site DIR: the public register, a static website an ICB can
 * host on its own web server. It shows the adopted plans with their version
 * history and the changes between versions, the outcomes of consultations
 * with the health and wellbeing boards' opinions, the decisions with their
 * vote records and declared interests, the scheme of delegation as a map of
 * who decides what, and a page on how anyone can check all of it against
 * the audit log.
 *
 * What it shows comes from the node's own reads, the JSON answers icsctl
 * prints with --json (plan.list, plan.history, plan.show, plan.diff,
 * amend.list, consult.list, consult.show, motion.list, motion.show,
 * policy.show), never from the daemon's files. Every answer says which log
 * index it reflects; a site is kept only if all of them reflect the same
 * one, so the register is the state at one index, which every page names.
 * If the log moves while the site is written (a vote, a clock tick), it is
 * written again, up to S_ATTEMPTS times.
 *
 * Invariants:
 * - everything taken from an answer is written through ics_html_escape:
 *   titles, texts, names and reasons are partners' words;
 * - every item shown cites its audit-log index through s_cite_entry, and
 *   only there; beside it a link to the entry's receipt (icsctl log prove),
 *   receipts/INDEX.txt, asked of the node and checked offline before it is
 *   written, when a tree head cosigned by a majority covers the entry (a
 *   newer entry has none yet, and its index stands alone);
 * - every link is relative and names a page this run writes; nothing is
 *   fetched from anywhere (one local style sheet, no script, no images);
 * - DIR is never half written: the site is written into DIR.tmp-XXXXXX
 *   beside it, every file synced, then renamed into place in one step
 *   (with --force, exchanged with the old DIR, which is then removed). A
 *   crash leaves at most a DIR.tmp-XXXXXX directory, which is not DIR.
 */
#define _GNU_SOURCE /* renameat2 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "common/html.h"
#include "common/receipt.h"

#include "ctl.h"

#define S_ATTEMPTS 3
#define S_ID_MAX 96

typedef struct {
    opts_t *o;
    char tmp[PATH_MAX]; /* the directory being written */
    bool have_position;
    uint64_t position; /* the log index every answer reflects */
    uint64_t moved_to; /* an answer reflected this other index (0: none) */
    char group[64];
    char **keep; /* the answers' JSON, until the site is written */
    size_t n_keep;
    size_t n_pages;
    cj_t plans, consults, motions, policy;
    struct {
        uint64_t index;
        bool written; /* receipts/INDEX.txt holds its receipt */
    } *receipts;      /* every entry cited, once */
    size_t n_receipts, n_written;
    bool receipt_failed; /* the node or a receipt failed: reported */
} s_site_t;

/* ---- reading the node's answers ------------------------------------------------- */

/* The answer to a named query: its member key (the whole answer if key is
 * NULL) in *out, valid until s_site_free. -1 on failure, reported. */
static int s_ask(s_site_t *s, const char *name, int argc, char **argv, const char *key, cj_t *out)
{
    Ics__V1__ControlResponse *resp = ctl_query_call(s->o, name, argc, argv);
    char *json = NULL, **keep;
    cj_t doc;
    int rc = -1;

    if (resp == NULL)
        return -1;
    if (!s->have_position) {
        s->position = resp->query->position;
        s->have_position = true;
    } else if (resp->query->position != s->position) {
        s->moved_to = resp->query->position;
    }
    json = strdup(resp->query->json);
    keep = json != NULL ? realloc(s->keep, (s->n_keep + 1) * sizeof *keep) : NULL;
    if (keep == NULL) {
        ctl_error(s->o, "out of memory");
        goto out;
    }
    s->keep = keep;
    s->keep[s->n_keep++] = json;
    if (!cj_parse(json, strlen(json), &doc) || (key != NULL && !cj_get(doc, key, &doc))) {
        json = NULL;
        ctl_error(s->o, "publish site: the node's answer to %s is not what icsctl expects", name);
        goto out;
    }
    json = NULL;
    *out = doc;
    rc = 0;
out:
    free(json);
    ics__v1__control_response__free_unpacked(resp, NULL);
    return rc;
}

static uint64_t s_u64(cj_t obj, const char *key)
{
    cj_t v;
    uint64_t x = 0;
    return cj_get(obj, key, &v) && cj_u64(v, &x) ? x : 0;
}

static bool s_true(cj_t obj, const char *key)
{
    cj_t v;
    return cj_get(obj, key, &v) && v.n == 4 && memcmp(v.p, "true", 4) == 0;
}

/* A short string member (an id, a status) into buf; "" if absent or too long. */
static const char *s_get(cj_t obj, const char *key, char *buf, size_t size)
{
    cj_t v;
    if (!cj_get(obj, key, &v) || !cj_str(v, buf, size))
        buf[0] = '\0';
    return buf;
}

/* A string member of any length, unescaped; caller frees. NULL if absent. */
static char *s_dup(cj_t obj, const char *key)
{
    cj_t v;
    char *buf;
    if (!cj_get(obj, key, &v) || (buf = malloc(v.n + 1)) == NULL)
        return NULL;
    if (!cj_str(v, buf, v.n + 1)) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Plan ids are a-z 0-9 _ . - (the state machine's rule); checked again
 * here, since they become file names. */
static bool s_safe_id(const char *id)
{
    if (!((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= '0' && id[0] <= '9')))
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("_.-", *p)))
            return false;
    return strlen(id) < 64;
}

/* ---- writing ---------------------------------------------------------------------- */

/* The escaped text of a string member. */
static void s_put(FILE *f, cj_t obj, const char *key)
{
    char *t = s_dup(obj, key);
    ics_html_escape(f, t);
    free(t);
}

/* A string member's text as paragraphs (blank lines between them). */
static void s_put_paras(FILE *f, cj_t obj, const char *key)
{
    char *t = s_dup(obj, key), *p = t;

    while (p != NULL && *p != '\0') {
        char *end = strstr(p, "\n\n"), *next = end != NULL ? end + 2 : NULL;
        if (end != NULL)
            *end = '\0';
        while (*p == '\n')
            p++;
        if (*p != '\0') {
            fputs("<p>", f);
            ics_html_escape(f, p);
            fputs("</p>\n", f);
        }
        p = next;
    }
    free(t);
}

/* Every item on the register is cited by the index of its entry in the
 * audit log, and only through this function: it is where a link to the
 * item's receipt (icsctl log prove INDEX) belongs once receipts exist. */
static FILE *s_open(s_site_t *s, const char *name);
static int s_close(s_site_t *s, FILE *f, const char *name);

/* Writes receipts/INDEX.txt from the node's receipt for entry index once it
 * verifies. False when no tree head cosigned by a majority covers the entry
 * yet (or on a failure, reported and remembered in s->receipt_failed). */
static bool s_write_receipt(s_site_t *s, uint64_t index)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__LogRequest lr = ICS__V1__LOG_REQUEST__INIT;
    Ics__V1__ControlResponse *resp;
    ics_receipt_report_t *rep = calloc(1, sizeof *rep);
    char msg[ICS_ERRMSG_SIZE], name[48];
    ics_err_t err;
    bool ok = false;
    int code;
    FILE *f;

    if (rep == NULL) {
        ctl_error(s->o, "out of memory");
        s->receipt_failed = true;
        return false;
    }
    lr.op = ICS__V1__LOG_REQUEST__OP__PROVE;
    lr.position = index;
    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_LOG;
    req.log = &lr;
    resp = ctl_call_quiet(s->o, &req, s->o->timeout_ms, &code, msg, sizeof msg);
    if (resp == NULL) {
        if (code != ICS_EUNAVAIL) { /* EUNAVAIL: no cosigned head covers it yet */
            ctl_error(s->o, "publish site: the receipt of entry %" PRIu64 ": %s", index, msg);
            s->receipt_failed = true;
        }
        free(rep);
        return false;
    }
    if (resp->body_case != ICS__V1__CONTROL_RESPONSE__BODY_LOG ||
        ics_receipt_verify((const char *)resp->log->document.data, resp->log->document.len, rep,
                           &err) != ICS_OK) {
        ctl_error(s->o, "publish site: the node's receipt of entry %" PRIu64 " does not verify: %s",
                  index,
                  resp->body_case == ICS__V1__CONTROL_RESPONSE__BODY_LOG ? err.msg : "no receipt");
        s->receipt_failed = true;
        goto out;
    }
    if (s->n_written == 0) {
        char dir[PATH_MAX + 16];
        snprintf(dir, sizeof dir, "%s/receipts", s->tmp);
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            ctl_error(s->o, "%s: %s", dir, strerror(errno));
            s->receipt_failed = true;
            goto out;
        }
    }
    snprintf(name, sizeof name, "receipts/%" PRIu64 ".txt", index);
    f = s_open(s, name);
    if (f == NULL) {
        s->receipt_failed = true;
        goto out;
    }
    fwrite(resp->log->document.data, 1, resp->log->document.len, f);
    ok = s_close(s, f, name) == 0;
    s->receipt_failed |= !ok;
    s->n_written += ok;
out:
    ics__v1__control_response__free_unpacked(resp, NULL);
    free(rep);
    return ok;
}

/* Has entry index a receipt on the site? Asked of the node the first time. */
static bool s_receipt(s_site_t *s, uint64_t index)
{
    void *grown;

    for (size_t i = 0; i < s->n_receipts; i++)
        if (s->receipts[i].index == index)
            return s->receipts[i].written;
    grown = realloc(s->receipts, (s->n_receipts + 1) * sizeof *s->receipts);
    if (grown == NULL) {
        s->receipt_failed = true;
        return false;
    }
    s->receipts = grown;
    s->receipts[s->n_receipts].index = index;
    s->receipts[s->n_receipts].written = index > 0 && s_write_receipt(s, index);
    return s->receipts[s->n_receipts++].written;
}

static void s_cite_entry(s_site_t *s, FILE *f, uint64_t index)
{
    fprintf(f, "<span class=\"index\" data-index=\"%" PRIu64 "\">log index %" PRIu64 "</span>",
            index, index);
    if (s_receipt(s, index))
        fprintf(f, " <a class=\"receipt\" href=\"receipts/%" PRIu64 ".txt\" download>receipt</a>",
                index);
}

static FILE *s_open(s_site_t *s, const char *name)
{
    char path[PATH_MAX + S_ID_MAX];
    snprintf(path, sizeof path, "%s/%s", s->tmp, name);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        ctl_error(s->o, "%s: %s", path, strerror(errno));
    return f;
}

/* Flushes, syncs and closes f; -1 if any write failed (reported). */
static int s_close(s_site_t *s, FILE *f, const char *name)
{
    int rc = 0;
    if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0)
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    if (rc != 0)
        ctl_error(s->o, "%s/%s: %s", s->tmp, name, strerror(errno));
    return rc;
}

static const struct {
    const char *file, *label;
} s_nav[] = {
    {"index.html", "Home"},
    {"plans.html", "Plans"},
    {"consultations.html", "Consultations"},
    {"decisions.html", "Decisions"},
    {"scheme.html", "Who decides what"},
    {"verify.html", "How to check this"},
};

/* Opens page name and writes its head, header and navigation (the entry
 * of s_nav it belongs to marked current) and the heading title. */
static FILE *s_page(s_site_t *s, const char *name, const char *section, const char *title)
{
    FILE *f = s_open(s, name);
    if (f == NULL)
        return NULL;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
          f);
    ics_html_escape(f, title);
    fputs(" &middot; Public register of ", f);
    ics_html_escape(f, s->group);
    fputs("</title>\n<link rel=\"stylesheet\" href=\"style.css\">\n</head>\n<body>\n"
          "<a class=\"skip\" href=\"#main\">Skip to content</a>\n<header>\n"
          "<p class=\"site\"><a href=\"index.html\">Public register</a> of the partners in <b>",
          f);
    ics_html_escape(f, s->group);
    fputs("</b></p>\n<nav aria-label=\"Register\"><ul>\n", f);
    for (size_t i = 0; i < sizeof s_nav / sizeof s_nav[0]; i++)
        fprintf(f, "<li><a href=\"%s\"%s>%s</a></li>\n", s_nav[i].file,
                strcmp(s_nav[i].file, section) == 0 ? " aria-current=\"page\"" : "",
                s_nav[i].label);
    fputs("</ul></nav>\n</header>\n<main id=\"main\">\n<h1>", f);
    ics_html_escape(f, title);
    fputs("</h1>\n", f);
    s->n_pages++;
    return f;
}

static int s_page_end(s_site_t *s, FILE *f, const char *name)
{
    fprintf(f,
            "</main>\n<footer>\n<p>Made from the partners' audit log as it stood at log "
            "index <b>%" PRIu64 "</b>, by <code>icsctl publish site</code>. Each item names "
            "its own log index: <a href=\"verify.html\">how to check this</a>.</p>\n"
            "</footer>\n</body>\n</html>\n",
            s->position);
    return s_close(s, f, name);
}

/* What the register shows: plans with an adopted version, closed
 * consultations, decided motions. */
static bool s_plan_shown(cj_t plan)
{
    return s_u64(plan, "adopted") > 0;
}

static bool s_consultation_shown(cj_t c)
{
    char status[32];
    return strcmp(s_get(c, "status", status, sizeof status), "closed") == 0;
}

static bool s_decision_shown(cj_t m)
{
    char status[32];
    return strcmp(s_get(m, "status", status, sizeof status), "open") != 0;
}

/* How many items of list the register shows. */
static size_t s_count(cj_t list, bool (*shown)(cj_t))
{
    size_t pos = 0, n = 0;
    cj_t it;
    while (cj_element(list, &pos, &it))
        n += shown(it);
    return n;
}

/* "decision-24.html" if motion m is on the register (it is decided), else "". */
static const char *s_decision_href(s_site_t *s, uint64_t m, char *buf, size_t size)
{
    size_t pos = 0;
    cj_t it;
    buf[0] = '\0';
    while (m != 0 && cj_element(s->motions, &pos, &it))
        if (s_u64(it, "motion") == m && s_decision_shown(it))
            snprintf(buf, size, "decision-%" PRIu64 ".html", m);
    return buf;
}

/* "plan-ID.html" (or "plan-ID-vN.html" for version > 0) if the plan is on
 * the register (it has an adopted version), else "". */
static const char *s_plan_href(s_site_t *s, const char *plan, uint64_t version, char *buf,
                               size_t size)
{
    size_t pos = 0;
    cj_t it;
    char id[S_ID_MAX];
    buf[0] = '\0';
    while (cj_element(s->plans, &pos, &it))
        if (strcmp(s_get(it, "plan", id, sizeof id), plan) == 0 && s_plan_shown(it) &&
            s_safe_id(id) && version <= s_u64(it, "latest")) {
            if (version > 0)
                snprintf(buf, size, "plan-%s-v%" PRIu64 ".html", id, version);
            else
                snprintf(buf, size, "plan-%s.html", id);
        }
    return buf;
}

/* A link to href with the escaped text, or the text alone if href is "". */
static void s_link(FILE *f, const char *href, const char *text)
{
    if (href[0] != '\0')
        fprintf(f, "<a href=\"%s\">", href);
    ics_html_escape(f, text);
    if (href[0] != '\0')
        fputs("</a>", f);
}

/* "org/person", escaped. */
static void s_who(FILE *f, cj_t obj)
{
    s_put(f, obj, "person");
    fputs(" <span class=\"org\">(", f);
    s_put(f, obj, "org");
    fputs(")</span>", f);
}

/* When something happened, who did it (when who is not NULL) and its
 * entry: "<time> by person (org), log index N". */
static void s_event(s_site_t *s, FILE *f, uint64_t ms, const cj_t *who, uint64_t index)
{
    ics_html_time(f, ms);
    if (who != NULL) {
        fputs(" by ", f);
        s_who(f, *who);
    }
    fputs(", ", f);
    s_cite_entry(s, f, index);
}

/* The start of a table (in a box that scrolls sideways on a narrow
 * screen) with its column headings, given as "Plan|Period|...". */
static void s_table(FILE *f, const char *cls, const char *headings)
{
    const char *h = headings;
    fprintf(f, "<div class=\"scroll\"><table class=\"%s\">\n<thead><tr>", cls);
    while (*h != '\0') {
        size_t n = strcspn(h, "|");
        fprintf(f, "<th scope=\"col\">%.*s</th>", (int)n, h);
        h += n + (h[n] == '|');
    }
    fputs("</tr></thead>\n<tbody>\n", f);
}

/* The end of a table of rows rows; empty, if not NULL, says so when
 * there are none. */
static void s_table_end(FILE *f, size_t rows, int cols, const char *empty)
{
    if (rows == 0 && empty != NULL)
        fprintf(f, "<tr><td colspan=\"%d\">%s</td></tr>\n", cols, empty);
    fputs("</tbody>\n</table></div>\n", f);
}

/* Has the array no element? */
static bool s_none(cj_t arr)
{
    size_t pos = 0;
    cj_t it;
    return !cj_element(arr, &pos, &it);
}

/* ---- plans ------------------------------------------------------------------------ */

static void s_sections(FILE *f, cj_t sections)
{
    size_t pos = 0, n = 0;
    cj_t sec;
    while (cj_element(sections, &pos, &sec)) {
        fprintf(f, "<section class=\"plan-section\">\n<h3>%zu. ", ++n);
        s_put(f, sec, "title");
        fputs("</h3>\n", f);
        s_put_paras(f, sec, "text");
        fputs("</section>\n", f);
    }
}

/* The changes between two versions as the node's plan.diff gives them,
 * each hunk line marked as removed or added. */
static void s_diff(FILE *f, cj_t diff)
{
    cj_t secs, sec;
    size_t pos = 0;
    char status[32];

    if (!cj_get(diff, "sections", &secs))
        return;
    fputs("<p class=\"legend\">Lines marked <del>&minus; removed</del> were taken out; lines "
          "marked <ins>+ added</ins> were put in.</p>\n",
          f);
    while (cj_element(secs, &pos, &sec)) {
        s_get(sec, "status", status, sizeof status);
        fputs("<section class=\"change\">\n<h3>Section <code>", f);
        s_put(f, sec, "id");
        fputs("</code>: ", f);
        ics_html_escape(f, status);
        fputs("</h3>\n", f);
        char *d = s_dup(sec, "diff");
        if (d != NULL && d[0] != '\0') {
            fputs("<pre class=\"diff\">", f);
            for (char *line = d, *next; line != NULL && *line != '\0'; line = next) {
                char *nl = strchr(line, '\n');
                next = nl != NULL ? nl + 1 : NULL;
                if (nl != NULL)
                    *nl = '\0';
                /* A removed or added line is a del or ins, a block (style.css)
                 * that ends its line; a hunk header is marked as such. */
                const char *tag = line[0] == '-'   ? "del"
                                  : line[0] == '+' ? "ins"
                                  : line[0] == '@' ? "span"
                                                   : NULL;
                if (tag != NULL)
                    fprintf(f, tag[0] == 's' ? "<span class=\"hunk\">" : "<%s>", tag);
                ics_html_escape(f, line);
                if (tag != NULL)
                    fprintf(f, "</%s>", tag);
                if (tag == NULL || tag[0] == 's')
                    fputc('\n', f);
            }
            fputs("</pre>\n", f);
        }
        free(d);
        fputs("</section>\n", f);
    }
}

/* plan-ID-vN.html: one version, what changed from the one before, and its
 * full text. */
static int s_version_page(s_site_t *s, const char *plan, cj_t hist, cj_t ver)
{
    char name[S_ID_MAX + 32], title[S_ID_MAX + 300], v[24], vprev[24], href[S_ID_MAX + 32];
    char *args[3] = {(char *)plan, v, vprev};
    char *ptitle = s_dup(hist, "title");
    uint64_t n = s_u64(ver, "version"), amendment = s_u64(ver, "amendment");
    cj_t show, diff;
    FILE *f = NULL;
    int rc = -1;

    snprintf(v, sizeof v, "%" PRIu64, n);
    snprintf(vprev, sizeof vprev, "%" PRIu64, n - 1);
    snprintf(name, sizeof name, "plan-%s-v%" PRIu64 ".html", plan, n);
    snprintf(title, sizeof title, "%s, version %" PRIu64, ptitle != NULL ? ptitle : plan, n);
    if (s_ask(s, "plan.show", 2, args, NULL, &show) != 0)
        goto out;
    f = s_page(s, name, "plans.html", title);
    if (f == NULL)
        goto out;
    fprintf(f, "<p class=\"status %s\">", s_true(ver, "adopted") ? "adopted" : "draft");
    fputs(s_true(ver, "adopted") ? "The adopted version." : "Not the adopted version.", f);
    fprintf(f, " <a href=\"plan-%s.html\">The plan and all its versions</a>.</p>\n", plan);
    fputs("<dl class=\"facts\">\n<dt>Made</dt><dd>", f);
    s_event(s, f, s_u64(ver, "clock_ms"), &ver, s_u64(ver, "index"));
    fputs("</dd>\n", f);
    if (amendment != 0)
        fprintf(f,
                "<dt>From</dt><dd>amendment %" PRIu64 " (<a href=\"plan-%s.html#amendment-%" PRIu64
                "\">its rationale</a>)</dd>\n",
                amendment, plan, amendment);
    fputs("<dt>Content hash</dt><dd><code class=\"hash\">", f);
    s_put(f, ver, "hash");
    fputs("</code></dd>\n</dl>\n", f);
    if (n > 1) {
        if (s_ask(s, "plan.diff", 3, (char *[]){(char *)plan, vprev, v}, NULL, &diff) != 0)
            goto out;
        fprintf(f, "<h2>Changes from <a href=\"%s\">version %" PRIu64 "</a></h2>\n",
                s_plan_href(s, plan, n - 1, href, sizeof href), n - 1);
        s_diff(f, diff);
    }
    fprintf(f, "<h2>Full text of version %" PRIu64 "</h2>\n", n);
    if (cj_get(show, "sections", &diff))
        s_sections(f, diff);
    rc = s_page_end(s, f, name);
    f = NULL;
out:
    if (f != NULL)
        fclose(f);
    free(ptitle);
    return rc;
}

/* plan-ID.html and a page per version. */
static int s_plan_pages(s_site_t *s, cj_t item)
{
    char plan[S_ID_MAX], name[S_ID_MAX + 16], title[300], buf[32], href[64];
    char *args[2] = {plan, buf};
    cj_t hist, arr, it, adopted, amends;
    size_t pos;
    FILE *f = NULL;
    int rc = -1;
    uint64_t v_adopted = s_u64(item, "adopted");

    s_get(item, "plan", plan, sizeof plan);
    if (!s_safe_id(plan)) {
        ctl_error(s->o, "publish site: plan id '%s' cannot be a file name", plan);
        return -1;
    }
    if (s_ask(s, "plan.history", 1, args, NULL, &hist) != 0)
        return -1;
    if (cj_get(hist, "versions", &arr))
        for (pos = 0; cj_element(arr, &pos, &it);)
            if (s_version_page(s, plan, hist, it) != 0)
                return -1;
    snprintf(buf, sizeof buf, "%" PRIu64, v_adopted);
    if (s_ask(s, "plan.show", 2, args, NULL, &adopted) != 0 ||
        s_ask(s, "amend.list", 1, args, "amendments", &amends) != 0)
        return -1;
    snprintf(name, sizeof name, "plan-%s.html", plan);
    s_get(item, "title", title, sizeof title);
    f = s_page(s, name, "plans.html", title[0] ? title : plan);
    if (f == NULL)
        return -1;
    fputs("<dl class=\"facts\">\n<dt>Plan</dt><dd><code>", f);
    ics_html_escape(f, plan);
    fputs("</code>, for ", f);
    s_put(f, item, "period");
    fputs(", drawn up by ", f);
    s_put(f, item, "org");
    fputs("</dd>\n", f);
    if (cj_get(hist, "adoptions", &arr))
        for (pos = 0; cj_element(arr, &pos, &it);) {
            uint64_t c = s_u64(it, "consultation");
            fprintf(f,
                    "<dt>Adopted</dt><dd class=\"adoption\"><a href=\"plan-%s-v%" PRIu64
                    ".html\">version %" PRIu64 "</a>, by ",
                    plan, s_u64(it, "version"), s_u64(it, "version"));
            s_link(f, s_decision_href(s, s_u64(it, "motion"), href, sizeof href), "decision");
            fprintf(f,
                    " %" PRIu64 " after <a href=\"consultation-%" PRIu64 ".html\">"
                    "consultation %" PRIu64 "</a>: ",
                    s_u64(it, "motion"), c, c);
            s_event(s, f, s_u64(it, "clock_ms"), NULL, s_u64(it, "index"));
            fputs("</dd>\n", f);
        }
    fputs("</dl>\n", f);

    fprintf(f,
            "<h2>The adopted plan: <a href=\"plan-%s-v%" PRIu64 ".html\">version %" PRIu64
            "</a></h2>\n",
            plan, v_adopted, v_adopted);
    if (cj_get(adopted, "sections", &arr))
        s_sections(f, arr);

    fputs("<h2>Versions</h2>\n", f);
    s_table(f, "versions", "Version|Made|By|From amendment|Index");
    if (cj_get(hist, "versions", &arr))
        for (pos = 0; cj_element(arr, &pos, &it);) {
            uint64_t v = s_u64(it, "version"), a = s_u64(it, "amendment");
            fprintf(f,
                    "<tr><td><a href=\"plan-%s-v%" PRIu64 ".html\">version %" PRIu64
                    "</a>%s</td><td>",
                    plan, v, v, s_true(it, "adopted") ? " <b class=\"tag\">adopted</b>" : "");
            ics_html_time(f, s_u64(it, "clock_ms"));
            fputs("</td><td>", f);
            s_who(f, it);
            if (a != 0)
                fprintf(f, "</td><td><a href=\"#amendment-%" PRIu64 "\">%" PRIu64 "</a></td><td>",
                        a, a);
            else
                fputs("</td><td>&ndash;</td><td>", f);
            s_cite_entry(s, f, s_u64(it, "index"));
            fputs("</td></tr>\n", f);
        }
    s_table_end(f, 1, 5, NULL);

    fputs("<h2>Amendments</h2>\n", f);
    if (s_none(amends))
        fputs("<p>None.</p>\n", f);
    for (pos = 0; cj_element(amends, &pos, &it);) {
        uint64_t a = s_u64(it, "amendment");
        char status[32];
        fprintf(f,
                "<section class=\"amendment\" id=\"amendment-%" PRIu64 "\">\n<h3>Amendment %" PRIu64
                " to section <code>",
                a, a);
        s_put(f, it, "section");
        fputs("</code> (", f);
        s_put(f, it, "op");
        fputs(")</h3>\n<p>Proposed by ", f);
        s_who(f, it);
        fprintf(f, " against version %" PRIu64 ", ", s_u64(it, "base"));
        s_cite_entry(s, f, a);
        fputs(". ", f);
        s_get(it, "status", status, sizeof status);
        fputs("<b>", f);
        ics_html_escape(f, status);
        fputs("</b>", f);
        if (strcmp(status, "accepted") == 0)
            fprintf(f, ": it made <a href=\"plan-%s-v%" PRIu64 ".html\">version %" PRIu64 "</a>",
                    plan, s_u64(it, "version"), s_u64(it, "version"));
        fputs(".</p>\n<blockquote class=\"rationale\">", f);
        s_put_paras(f, it, "rationale");
        fputs("</blockquote>\n</section>\n", f);
    }
    rc = s_page_end(s, f, name);
    return rc;
}

/* ---- consultations -------------------------------------------------------------- */

static const char *s_opinion_words(const char *o)
{
    return strcmp(o, "yes") == 0 ? "Yes" : strcmp(o, "no") == 0 ? "No" : "Not received";
}

/* consultation-N.html: the question, the health and wellbeing boards'
 * opinions, every response. */
static int s_consultation_page(s_site_t *s, cj_t item)
{
    uint64_t id = s_u64(item, "consultation");
    char arg[24], name[48], title[64], plan[S_ID_MAX], href[S_ID_MAX + 32], buf[64];
    char *args[1] = {arg};
    cj_t c, arr, it, resp, ops, ces;
    size_t pos, p2, n, answered;
    FILE *f;

    snprintf(arg, sizeof arg, "%" PRIu64, id);
    if (s_ask(s, "consult.show", 1, args, NULL, &c) != 0)
        return -1;
    snprintf(name, sizeof name, "consultation-%" PRIu64 ".html", id);
    snprintf(title, sizeof title, "Consultation %" PRIu64, id);
    f = s_page(s, name, "consultations.html", title);
    if (f == NULL)
        return -1;
    s_get(c, "plan", plan, sizeof plan);
    fputs("<dl class=\"facts\">\n<dt>On</dt><dd>", f);
    snprintf(buf, sizeof buf, "version %" PRIu64, s_u64(c, "version"));
    fputs("plan <code>", f);
    ics_html_escape(f, plan);
    fputs("</code>, ", f);
    s_link(f, s_plan_href(s, plan, s_u64(c, "version"), href, sizeof href), buf);
    fputs("</dd>\n<dt>Opened</dt><dd>", f);
    s_event(s, f, s_u64(c, "opens_ms"), NULL, id);
    fputs("</dd>\n<dt>Closed</dt><dd>", f);
    s_event(s, f, s_u64(c, "closed_ms"), NULL, s_u64(c, "closed_at"));
    fputs(" (", f);
    s_put(f, c, "closed_by");
    fputs(")", f);
    fputs("</dd>\n</dl>\n<h2>The question</h2>\n<blockquote>", f);
    s_put_paras(f, c, "question");
    fputs("</blockquote>\n<h2>Opinions of health and wellbeing boards</h2>\n", f);
    if (!cj_get(c, "hwb_opinions", &ops) || !cj_get(c, "consultees", &ces))
        ops = ces = (cj_t){"[]", 2};
    if (s_none(ops))
        fputs("<p>No health and wellbeing board was consulted in this round.</p>\n", f);
    for (pos = 0; cj_element(ops, &pos, &it);) {
        char who[S_ID_MAX], opinion[16];
        uint64_t index = 0;
        fputs("<section class=\"hwb-opinion\">\n<h3>", f);
        s_put(f, it, "name");
        fputs(" <span class=\"org\">(", f);
        ics_html_escape(f, s_get(it, "consultee", who, sizeof who));
        fputs(")</span></h3>\n<p>Does the draft take proper account of the board's joint local "
              "health and wellbeing strategy? <b class=\"opinion\">",
              f);
        ics_html_escape(f, s_opinion_words(s_get(it, "opinion", opinion, sizeof opinion)));
        fputs("</b>", f);
        /* The response that gave the opinion, for its index. */
        for (p2 = 0; cj_element(ces, &p2, &resp);)
            if (cj_get(resp, "consultee", &arr) && cj_str_is(arr, who))
                index = s_u64(resp, "index");
        if (index != 0) {
            fputs(" (", f);
            s_cite_entry(s, f, index);
            fputs(")", f);
        }
        fputs("</p>\n<blockquote class=\"reasons\">\n", f);
        s_put_paras(f, it, "reasons");
        s_put_paras(f, it, "note");
        fputs("</blockquote>\n</section>\n", f);
    }
    for (pos = 0, n = 0, answered = 0; cj_element(ces, &pos, &it); n++)
        answered += s_true(it, "responded");
    fprintf(f, "<h2>Responses</h2>\n<p>%zu of %zu consultees responded.</p>\n", answered, n);
    s_table(f, "responses", "Consultee|Position|Response|Given by|Index");
    for (pos = 0; cj_element(ces, &pos, &it);) {
        fputs("<tr class=\"response\"><td>", f);
        s_put(f, it, "name");
        fputs(" <span class=\"org\">(", f);
        s_put(f, it, "consultee");
        fputs(")</span></td>", f);
        if (!s_true(it, "responded")) {
            fputs("<td colspan=\"4\">did not respond</td></tr>\n", f);
            continue;
        }
        fputs("<td>", f);
        s_put(f, it, "stance");
        fputs("</td><td>", f);
        s_put_paras(f, it, "text");
        fputs("</td><td>", f);
        s_who(f, it);
        fputs("</td><td>", f);
        s_cite_entry(s, f, s_u64(it, "index"));
        fputs("</td></tr>\n", f);
    }
    s_table_end(f, 1, 5, NULL);
    return s_page_end(s, f, name);
}

/* ---- decisions ------------------------------------------------------------------ */

/* The motion's title, or what it decides when it has none. */
static void s_motion_title(FILE *f, cj_t m)
{
    char *t = s_dup(m, "title");
    if (t != NULL && t[0] != '\0')
        ics_html_escape(f, t);
    else
        fprintf(f, "Motion %" PRIu64, s_u64(m, "motion"));
    free(t);
}

/* decision-N.html: what was decided, by whom under which rule, every vote
 * and every member excluded for a declared interest. */
static int s_decision_page(s_site_t *s, cj_t item)
{
    uint64_t id = s_u64(item, "motion");
    char arg[24], name[48], title[400], choice[16];
    char *args[1] = {arg};
    cj_t doc, m, tally, arr, it;
    size_t pos;
    FILE *f;

    snprintf(arg, sizeof arg, "%" PRIu64, id);
    if (s_ask(s, "motion.show", 1, args, NULL, &doc) != 0)
        return -1;
    if (!cj_get(doc, "record", &m) || !cj_get(doc, "tally", &tally)) {
        ctl_error(s->o, "publish site: motion %" PRIu64 " has no record", id);
        return -1;
    }
    snprintf(name, sizeof name, "decision-%" PRIu64 ".html", id);
    if (s_get(m, "title", title, sizeof title)[0] == '\0')
        snprintf(title, sizeof title, "Motion %" PRIu64, id);
    f = s_page(s, name, "decisions.html", title);
    if (f == NULL)
        return -1;
    fputs("<p class=\"outcome\">", f);
    s_put(f, m, "outcome");
    fprintf(f, "</p>\n<dl class=\"facts\">\n<dt>Motion %" PRIu64 "</dt><dd>proposed ", id);
    s_event(s, f, s_u64(doc, "opened_ms"), &m, id);
    fputs("</dd>\n<dt>Decides</dt><dd><code>", f);
    if (s_get(doc, "target", title, sizeof title)[0] != '\0')
        ics_html_escape(f, title);
    else
        s_put(f, m, "decision");
    fputs("</code></dd>\n<dt>Who decides</dt><dd>", f);
    s_put(f, m, "rule_text");
    fprintf(f, " (<a href=\"scheme.html\">scheme</a> version %" PRIu64 ")</dd>\n",
            s_u64(m, "policy_version"));
    fputs("<dt>Status</dt><dd>", f);
    s_put(f, m, "status");
    if (s_u64(m, "closed_at") != 0) {
        fputs(", ", f);
        s_cite_entry(s, f, s_u64(m, "closed_at"));
    }
    fputs("</dd>\n", f);
    if (s_get(m, "effect_note", title, sizeof title)[0] != '\0') {
        fputs("<dt>Effect</dt><dd>", f);
        ics_html_escape(f, title);
        fputs("</dd>\n", f);
    }
    fputs("</dl>\n", f);
    if (cj_get(m, "text", &it) && it.n > 2) {
        fputs("<h2>The motion</h2>\n<blockquote>", f);
        s_put_paras(f, m, "text");
        fputs("</blockquote>\n", f);
    }

    fprintf(f,
            "<h2>Votes</h2>\n<ul class=\"tally\" aria-label=\"Votes counted\">\n"
            "<li><b data-count=\"for\">%" PRIu64 "</b> for</li>\n"
            "<li><b data-count=\"against\">%" PRIu64 "</b> against</li>\n"
            "<li><b data-count=\"abstain\">%" PRIu64 "</b> abstaining</li>\n"
            "<li><b data-count=\"not_voted\">%" PRIu64 "</b> did not vote</li>\n"
            "<li><b data-count=\"excluded\">%" PRIu64 "</b> excluded</li>\n</ul>\n"
            "<p>Of %" PRIu64 " members entitled to decide.</p>\n",
            s_u64(tally, "for"), s_u64(tally, "against"), s_u64(tally, "abstain"),
            s_u64(tally, "not_voted"), s_u64(tally, "excluded"), s_u64(tally, "members"));
    if (!cj_get(m, "votes", &arr) || s_none(arr)) {
        fputs("<p>No votes: decided by one role holder acting alone, or withdrawn.</p>\n", f);
    } else {
        s_table(f, "votes", "Member|Role|Vote|Reason|Index");
        for (pos = 0; cj_element(arr, &pos, &it);) {
            bool current = s_true(it, "current");
            fprintf(f, "<tr class=\"vote%s\"><td>", current ? "" : " earlier");
            s_who(f, it);
            fputs("</td><td>", f);
            s_put(f, it, "role");
            fputs("</td><td>", f);
            ics_html_escape(f, s_get(it, "choice", choice, sizeof choice));
            if (s_true(it, "struck"))
                fputs(" <span class=\"tag\">struck out</span>", f);
            else if (!current)
                fputs(" <span class=\"tag\">changed later</span>", f);
            fputs("</td><td>", f);
            s_put(f, it, "reason");
            fputs("</td><td>", f);
            s_cite_entry(s, f, s_u64(it, "index"));
            fputs("</td></tr>\n", f);
        }
        s_table_end(f, 1, 5, NULL);
    }

    fputs("<h2>Declared interests</h2>\n", f);
    bool excluded = cj_get(m, "excluded", &arr) && !s_none(arr);
    if (!excluded)
        fputs("<p>No member was excluded for a declared interest.</p>\n", f);
    else
        fputs("<p>Members with a declared interest in what the motion decides were excluded "
              "from the vote:</p>\n<ul class=\"interests\">\n",
              f);
    for (pos = 0; excluded && cj_element(arr, &pos, &it);) {
        fputs("<li class=\"interest\">", f);
        s_who(f, it);
        fputs(": interest in <code>", f);
        s_put(f, it, "interest");
        fputs("</code>, &ldquo;", f);
        s_put(f, it, "description");
        fputs("&rdquo; (declared at ", f);
        s_cite_entry(s, f, s_u64(it, "declared_at"));
        fputs(")</li>\n", f);
    }
    if (excluded)
        fputs("</ul>\n", f);
    return s_page_end(s, f, name);
}

/* ---- the lists ------------------------------------------------------------------ */

static void s_plan_row(s_site_t *s, FILE *f, cj_t it)
{
    char href[S_ID_MAX + 16], buf[300], id[S_ID_MAX];

    fputs("<tr class=\"plan\"><td>", f);
    s_get(it, "plan", id, sizeof id);
    s_link(f, s_plan_href(s, id, 0, href, sizeof href), s_get(it, "title", buf, sizeof buf));
    fputs("</td><td>", f);
    s_put(f, it, "period");
    fputs("</td><td>", f);
    s_put(f, it, "org");
    fprintf(f, "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td></tr>\n", s_u64(it, "adopted"),
            s_u64(it, "latest"));
}

static void s_consultation_row(s_site_t *s, FILE *f, cj_t it)
{
    char plan[S_ID_MAX], href[S_ID_MAX + 32], buf[64];
    uint64_t id = s_u64(it, "consultation");

    fprintf(f,
            "<tr class=\"consultation\"><td><a href=\"consultation-%" PRIu64 ".html\">"
            "Consultation %" PRIu64 "</a></td><td><code>",
            id, id);
    ics_html_escape(f, s_get(it, "plan", plan, sizeof plan));
    fputs("</code> ", f);
    snprintf(buf, sizeof buf, "version %" PRIu64, s_u64(it, "version"));
    s_link(f, s_plan_href(s, plan, s_u64(it, "version"), href, sizeof href), buf);
    fputs("</td><td>", f);
    ics_html_time(f, s_u64(it, "closes_ms"));
    fprintf(f, "</td><td>%" PRIu64 " of %" PRIu64 "</td><td>", s_u64(it, "responded"),
            s_u64(it, "consultees"));
    s_cite_entry(s, f, id);
    fputs("</td></tr>\n", f);
}

static void s_decision_row(s_site_t *s, FILE *f, cj_t it)
{
    uint64_t id = s_u64(it, "motion");

    (void)s;
    fprintf(f, "<tr class=\"decision\"><td><a href=\"decision-%" PRIu64 ".html\">", id);
    s_motion_title(f, it);
    fputs("</a></td><td><code>", f);
    s_put(f, it, "decision");
    fputs("</code></td><td>", f);
    s_put(f, it, "outcome");
    fputs("</td><td>", f);
    s_cite_entry(s, f, id);
    fputs("</td></tr>\n", f);
}

/* A list page and a page for each item on it. */
typedef struct {
    const char *file, *title, *intro;
    const char *headings, *empty; /* the table's column headings, and its text when empty */
    int cols;
    bool (*shown)(cj_t item);
    int (*page)(s_site_t *s, cj_t item);
    void (*row)(s_site_t *s, FILE *f, cj_t item);
} s_list_t;

static const s_list_t s_plan_list = {
    "plans.html",
    "Plans",
    "Plans the partners have adopted, each with every version, what changed between them and "
    "why. Drafts appear here once a version is adopted.",
    "Plan|Period|Drawn up by|Adopted version|Latest version",
    "No plan has been adopted yet.",
    5,
    s_plan_shown,
    s_plan_pages,
    s_plan_row};

static const s_list_t s_consultation_list = {
    "consultations.html",
    "Consultations",
    "Closed consultation rounds on plan versions, with every response and the opinion of each "
    "health and wellbeing board.",
    "Consultation|Plan version|Closed|Responses|Index",
    "No consultation has closed yet.",
    5,
    s_consultation_shown,
    s_consultation_page,
    s_consultation_row};

static const s_list_t s_decision_list = {
    "decisions.html",
    "Decisions",
    "Every decision the partners have taken together under their <a href=\"scheme.html\">scheme "
    "of delegation</a>, with its votes and the members excluded for a declared interest. "
    "Motions still open to votes appear once decided.",
    "Motion|Decides|Outcome|Index",
    "No decision has been taken yet.",
    4,
    s_decision_shown,
    s_decision_page,
    s_decision_row};

static int s_list_pages(s_site_t *s, const s_list_t *l, cj_t list)
{
    size_t pos = 0;
    cj_t it;
    FILE *f;

    while (cj_element(list, &pos, &it))
        if (l->shown(it) && l->page(s, it) != 0)
            return -1;
    f = s_page(s, l->file, l->file, l->title);
    if (f == NULL)
        return -1;
    fprintf(f, "<p>%s</p>\n", l->intro);
    s_table(f, "list", l->headings);
    for (pos = 0; cj_element(list, &pos, &it);)
        if (l->shown(it))
            l->row(s, f, it);
    s_table_end(f, s_count(list, l->shown), l->cols, l->empty);
    return s_page_end(s, f, l->file);
}

/* ---- the scheme of delegation ------------------------------------------------------ */

/* The items of a string array member, escaped and comma-separated; for a
 * role id, its title from the scheme's roles. */
static void s_list(FILE *f, cj_t obj, const char *key, cj_t roles)
{
    cj_t arr, v, r;
    size_t pos = 0, rp;
    bool first = true;
    char id[S_ID_MAX], rid[S_ID_MAX];

    if (!cj_get(obj, key, &arr))
        return;
    while (cj_element(arr, &pos, &v)) {
        if (!cj_str(v, id, sizeof id))
            continue;
        fputs(first ? "" : ", ", f);
        first = false;
        bool titled = false;
        for (rp = 0; !titled && cj_element(roles, &rp, &r);)
            if (strcmp(s_get(r, "id", rid, sizeof rid), id) == 0) {
                s_put(f, r, "title");
                titled = true;
            }
        if (!titled)
            ics_html_escape(f, id);
    }
}

/* scheme.html: who decides what, from the scheme in force. */
static int s_scheme(s_site_t *s)
{
    cj_t p = s->policy, decisions, roles, bodies, d, rules, r;
    size_t pos, rp;
    char href[64];
    FILE *f = s_page(s, "scheme.html", "scheme.html", "Who decides what");

    if (f == NULL)
        return -1;
    if (!cj_get(p, "roles", &roles))
        roles = (cj_t){"[]", 2};
    fputs("<p>The partners' scheme of reservation and delegation: for each kind of decision, "
          "who decides it, with the quorum, threshold and time allowed. Members with a "
          "declared interest in what a motion decides are excluded from its vote.</p>\n",
          f);
    fputs("<dl class=\"facts\">\n<dt>Scheme</dt><dd>", f);
    s_put(f, p, "name");
    fprintf(f, ", version %" PRIu64 "</dd>\n", s_u64(p, "version"));
    if (s_u64(p, "motion") != 0) {
        fputs("<dt>In force since</dt><dd>", f);
        s_link(f, s_decision_href(s, s_u64(p, "motion"), href, sizeof href), "the decision");
        fputs(" that adopted it, ", f);
        s_cite_entry(s, f, s_u64(p, "index"));
        fputs("</dd>\n", f);
    }
    fputs("</dl>\n", f);
    s_put_paras(f, p, "note");
    fputs("<h2>Decisions</h2>\n", f);
    s_table(f, "scheme", "Decision|Decided by|Who may propose");
    for (pos = 0; cj_get(p, "decisions", &decisions) && cj_element(decisions, &pos, &d);)
        for (rp = 0; cj_get(d, "rules", &rules) && cj_element(rules, &rp, &r);) {
            fputs("<tr><th scope=\"row\">", f);
            s_put(f, r, "title");
            fputs(" <code>", f);
            s_put(f, r, "id");
            fputs("</code></th><td>", f);
            s_put(f, r, "text");
            fputs("</td><td>", f);
            s_list(f, r, "proposers", roles);
            fputs("</td></tr>\n", f);
        }
    s_table_end(f, 1, 3, NULL);
    fputs("<h2>Bodies</h2>\n", f);
    for (pos = 0; cj_get(p, "bodies", &bodies) && cj_element(bodies, &pos, &d);) {
        fputs("<section class=\"body\">\n<h3>", f);
        s_put(f, d, "name");
        fputs("</h3>\n<p>Members: the holders of ", f);
        s_list(f, d, "roles", roles);
        fputs(".</p>\n</section>\n", f);
    }
    return s_page_end(s, f, "scheme.html");
}

/* ---- how to check it, the home page, the style ---------------------------------- */

/* verify.html: how anyone checks an item against the audit log. */
static int s_verify(s_site_t *s)
{
    Ics__V1__LogRequest lr = ICS__V1__LOG_REQUEST__INIT;
    Ics__V1__ControlResponse *resp;
    const Ics__V1__LogEntry *e;
    char chain[65];
    FILE *f;
    int rc = -1;

    lr.op = ICS__V1__LOG_REQUEST__OP__SHOW;
    lr.position = s->position;
    resp = ctl_log_request(s->o, &lr);
    if (resp == NULL)
        return -1;
    if (resp->log->n_entries != 1 || resp->log->entries[0]->chain.len != 32) {
        ctl_error(s->o, "publish site: the node has no entry at index %" PRIu64, s->position);
        goto out;
    }
    e = resp->log->entries[0];
    ics_hex(e->chain.data, 32, chain);
    f = s_page(s, "verify.html", "verify.html", "How to check this");
    if (f == NULL)
        goto out;
    fputs("<p>Everything on this register was read from the audit log the partner "
          "organisations keep together. Every proposal, amendment, response and vote in it is "
          "an entry signed by the person who made it and by their organisation, and every "
          "partner's server holds the same log, entry for entry. Each item on these pages names "
          "its <em>log index</em>: its place in that log.</p>\n",
          f);
    fputs("<h2>The log this register was made from</h2>\n<dl class=\"facts\">\n<dt>Group</dt>"
          "<dd><code>",
          f);
    ics_html_escape(f, s->group);
    fputs("</code></dd>\n<dt>Log index</dt><dd>", f);
    s_cite_entry(s, f, s->position);
    fputs("</dd>\n<dt>Log clock</dt><dd>", f);
    ics_html_time(f, e->clock_ms);
    fprintf(f,
            " UTC</dd>\n<dt>Chain hash there</dt><dd><code class=\"hash\">%s</code></dd>\n"
            "</dl>\n<p>The chain hash covers every entry up to that index: a copy of the log "
            "whose entry %" PRIu64 " carries this chain hash is the log this register was "
            "made from, and nothing in it before that index can have changed.</p>\n",
            chain, s->position);
    fputs("<h2>Checking an item</h2>\n<ol class=\"steps\">\n"
          "<li><p>Get a copy of the whole log. Any partner organisation can write one with</p>"
          "\n<pre><code>icsctl log export log.txt</code></pre>\n<p>Ask the integrated care "
          "board, or any partner, for a copy.</p></li>\n"
          "<li><p>Check the copy, offline, with</p>\n<pre><code>icsctl log verify log.txt"
          "</code></pre>\n<p>It checks every signature, the hash chain, that every verdict is "
          "the one the rules give, and which index a majority of the partners has certified. "
          "In the copy, the line of each entry (<code>e INDEX &hellip;</code>) carries the "
          "chain hash after it, in its fifth field: where the line of the index above carries "
          "the chain hash above, the copy is the log this register was made from.</p></li>\n"
          "<li><p>Find the item's entry by the log index this register shows beside it: the "
          "line <code>e INDEX &hellip;</code> of the copy holds the signed entry, which says who "
          "signed it, for which organisation, when, and what it asked for. On a partner's "
          "server the same entry is shown by</p>\n<pre><code>icsctl log show INDEX</code></pre>"
          "\n<p>A decision's page gives the index of every vote, and of each member's declared "
          "interest.</p></li>\n</ol>\n"
          "<h2>Checking one item with its receipt</h2>\n<p>Beside an item's log index, a "
          "<em>receipt</em> link gives a small file that proves that one entry without the "
          "whole log: the signed entry, its place in the log's Merkle tree, a tree head that a "
          "majority of the partner organisations signed, and the membership entries that show "
          "whose keys those are. Check it, offline, with</p>\n<pre><code>icsctl log "
          "verify-receipt RECEIPT.txt</code></pre>\n<p>It prints the entry, the tree head and who "
          "cosigned it, and the genesis entry the keys descend from: compare that with the "
          "group's. Entries newer than the latest tree head the partners have cosigned have no "
          "receipt yet. Anyone who keeps a receipt can later check that the log still holds it, "
          "unchanged, with <code>icsctl log consistency RECEIPT.txt</code> on any partner's "
          "server.</p>\n"
          "<h2>Checking without icsctl</h2>\n<p>The format of the log and its export, the "
          "signatures and every rule a checker applies are specified in "
          "<code>docs/log-format.md</code> in the source of icsd, the software the partners "
          "run, together with a short independent checker in Python, so that anyone can write "
          "their own.</p>\n",
          f);
    rc = s_page_end(s, f, "verify.html");
out:
    ics__v1__control_response__free_unpacked(resp, NULL);
    return rc;
}

/* index.html: what the register holds. */
static int s_home(s_site_t *s)
{
    size_t plans = s_count(s->plans, s_plan_shown);
    size_t consults = s_count(s->consults, s_consultation_shown);
    size_t decisions = s_count(s->motions, s_decision_shown);
    FILE *f;

    f = s_page(s, "index.html", "index.html", "Public register");
    if (f == NULL)
        return -1;
    fputs("<p class=\"lead\">The plans, consultations and decisions of the NHS and local "
          "government organisations working together in the integrated care system <b>",
          f);
    ics_html_escape(f, s->group);
    fprintf(f,
            "</b>, as they stood at log index <b class=\"position\">%" PRIu64 "</b> of their "
            "shared audit log.</p>\n<ul class=\"cards\">\n",
            s->position);
    fprintf(f,
            "<li><a href=\"plans.html\"><b>%zu</b> adopted plan%s</a><p>Each version, what "
            "changed and why.</p></li>\n",
            plans, plans == 1 ? "" : "s");
    fprintf(f,
            "<li><a href=\"consultations.html\"><b>%zu</b> consultation%s</a><p>Every "
            "response, and the health and wellbeing boards' opinions.</p></li>\n",
            consults, consults == 1 ? "" : "s");
    fprintf(f,
            "<li><a href=\"decisions.html\"><b>%zu</b> decision%s</a><p>Votes, outcomes and "
            "declared interests.</p></li>\n",
            decisions, decisions == 1 ? "" : "s");
    fputs("<li><a href=\"scheme.html\">Who decides what</a><p>The scheme of reservation and "
          "delegation.</p></li>\n",
          f);
    fputs("</ul>\n<p>Nothing here is taken on trust: every item names its place in the audit "
          "log, and <a href=\"verify.html\">anyone can check it</a>.</p>\n",
          f);
    return s_page_end(s, f, "index.html");
}

static const char s_css[] =
    "/* The public register: one style sheet, no fonts or images from elsewhere. */\n"
    ":root{--ink:#212b32;--muted:#4c6272;--line:#d8dde0;--bg:#f0f4f5;--accent:#005eb8;"
    "--add:#e6f4ea;--del:#fbe9e9}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;font:1rem/1.55 system-ui,-apple-system,\"Segoe UI\",Arial,sans-serif;"
    "color:var(--ink);background:var(--bg)}\n"
    ".skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#ffeb3b;"
    "padding:4px 8px;z-index:1}\n"
    "header{background:var(--accent);color:#fff;padding:.6rem 1rem}\n"
    "header a{color:#fff}.site{margin:0 0 .3rem;font-size:1.05rem}\n"
    "nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.2rem 1rem}\n"
    "nav a{text-decoration:none;padding:.15rem 0;border-bottom:2px solid transparent}\n"
    "nav a:hover,nav a:focus,nav a[aria-current=page]{border-bottom-color:#fff}\n"
    "main{max-width:60rem;margin:0 auto;padding:1rem;background:#fff;min-height:60vh}\n"
    "h1{font-size:1.7rem;line-height:1.25;margin:.4rem 0 .8rem}\n"
    "h2{font-size:1.3rem;margin:1.6rem 0 .5rem;border-bottom:1px solid var(--line)}\n"
    "h3{font-size:1.08rem;margin:1.1rem 0 .3rem}\n"
    "a{color:var(--accent)}a:focus{outline:3px solid #ffeb3b}\n"
    ".lead{font-size:1.15rem}\n"
    ".cards{list-style:none;padding:0;display:grid;gap:.8rem;"
    "grid-template-columns:repeat(auto-fit,minmax(13rem,1fr))}\n"
    ".cards li{border:1px solid var(--line);border-radius:4px;padding:.7rem}"
    ".cards p{margin:.3rem 0 0;color:var(--muted)}\n"
    ".facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}"
    ".facts dt{font-weight:600}.facts dd{margin:0}\n"
    ".scroll{overflow-x:auto}\n"
    "table{border-collapse:collapse;width:100%;font-size:.95rem}\n"
    "th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;"
    "border-bottom:1px solid var(--line)}\nthead th{background:var(--bg)}\n"
    "td p{margin:0 0 .4rem}\n"
    ".index{font-size:.85rem;color:var(--muted);white-space:nowrap}\n"
    ".org{color:var(--muted)}\n"
    ".tag{font-size:.8rem;font-weight:600;background:var(--bg);border:1px solid var(--line);"
    "border-radius:3px;padding:0 .3rem}\n"
    ".status.adopted{font-weight:600}\n"
    "blockquote p,td p{white-space:pre-line}\n"
    "blockquote{margin:.5rem 0;padding:.2rem 1rem;border-left:4px solid var(--line)}\n"
    ".outcome{font-size:1.1rem;font-weight:600}\n"
    ".tally{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.5rem 1.5rem}"
    ".tally b{font-size:1.4rem}\n"
    "tr.earlier td{color:var(--muted)}\n"
    ".hwb-opinion{border:1px solid var(--line);border-radius:4px;padding:0 .8rem;"
    "margin:.6rem 0}\n"
    "pre{overflow-x:auto;background:var(--bg);padding:.5rem;font-size:.9rem}\n"
    "pre.diff del,pre.diff ins{display:block;text-decoration:none}\n"
    "pre.diff del{background:var(--del)}pre.diff ins{background:var(--add)}\n"
    ".legend del{background:var(--del);text-decoration:none}"
    ".legend ins{background:var(--add);text-decoration:none}\n"
    ".hunk{color:var(--muted)}\n"
    ".hash{word-break:break-all;font-size:.85rem}\n"
    "footer{max-width:60rem;margin:0 auto;padding:.8rem 1rem;font-size:.9rem;"
    "color:var(--muted)}\n"
    "@media (max-width:40rem){.facts{grid-template-columns:1fr}.facts dd{margin-bottom:.4rem}"
    "h1{font-size:1.4rem}}\n"
    "@media print{body{background:#fff;font-size:11pt}header{background:#fff;color:#000;"
    "border-bottom:1px solid #000}header a{color:#000}nav,.skip{display:none}"
    "main{max-width:none;padding:0}a{color:#000}.scroll{overflow:visible}"
    "pre.diff del{text-decoration:line-through}pre.diff ins{text-decoration:underline}"
    "h2,h3{break-after:avoid}tr,.hwb-opinion,.amendment{break-inside:avoid}}\n";

static int s_style(s_site_t *s)
{
    FILE *f = s_open(s, "style.css");
    if (f == NULL)
        return -1;
    fputs(s_css, f);
    return s_close(s, f, "style.css");
}

/* ---- writing DIR in one step ---------------------------------------------------- */

static int s_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* Removes path and everything under it, never following a symbolic link
 * or crossing into another file system. */
static int s_rm_tree(const char *path)
{
    return nftw(path, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static void s_site_free(s_site_t *s)
{
    for (size_t i = 0; i < s->n_keep; i++)
        free(s->keep[i]);
    free(s->keep);
    s->keep = NULL;
    s->n_keep = 0;
    free(s->receipts);
    s->receipts = NULL;
    s->n_receipts = s->n_written = 0;
    s->receipt_failed = false;
}

/* Every page into s->tmp, from the node's answers. */
static int s_generate(s_site_t *s)
{
    char *all[1] = {"all"};
    cj_t doc;

    if (s_ask(s, "plan.list", 0, NULL, NULL, &doc) != 0 || !cj_get(doc, "plans", &s->plans) ||
        s_ask(s, "consult.list", 0, NULL, "consultations", &s->consults) != 0 ||
        s_ask(s, "motion.list", 1, all, "motions", &s->motions) != 0 ||
        s_ask(s, "policy.show", 0, NULL, NULL, &s->policy) != 0)
        return -1;
    s_get(doc, "group", s->group, sizeof s->group);
    if (s_style(s) != 0 || s_list_pages(s, &s_plan_list, s->plans) != 0 ||
        s_list_pages(s, &s_consultation_list, s->consults) != 0 ||
        s_list_pages(s, &s_decision_list, s->motions) != 0 || s_scheme(s) != 0 ||
        s_verify(s) != 0 || s_home(s) != 0 || s->receipt_failed)
        return -1;
    return 0;
}

/* Is directory path empty? */
static bool s_empty(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    bool empty = true;
    if (d == NULL)
        return false;
    while (empty && (e = readdir(d)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

static int s_sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY), rc = -1;
    if (fd >= 0) {
        rc = fsync(fd);
        close(fd);
    }
    return rc;
}

static int s_site(opts_t *o, const ctl_args_t *a)
{
    char dir[PATH_MAX - 16], parent[PATH_MAX];
    s_site_t s;
    struct stat st;
    bool replace = false;
    uint64_t first = 0;
    int rc = EXIT_FAIL;

    memset(&s, 0, sizeof s);
    s.o = o;
    ics_strcpy(dir, sizeof dir, a->argv[0]);
    for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--)
        dir[n - 1] = '\0';
    if (dir[0] == '\0' || strcmp(dir, "/") == 0 || strlen(a->argv[0]) >= sizeof dir) {
        ctl_error(o, "publish site: '%s' cannot be the site's directory", a->argv[0]);
        return EXIT_USAGE;
    }
    if (lstat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            ctl_error(o, "publish site: %s exists and is not a directory", dir);
            return EXIT_FAIL;
        }
        replace = !s_empty(dir);
        if (replace && !ctl_flag(a, "force")) {
            ctl_error(o,
                      "publish site: %s exists and is not empty (--force replaces what is "
                      "in it with the site)",
                      dir);
            return EXIT_FAIL;
        }
    } else if (errno != ENOENT) {
        ctl_error(o, "publish site: %s: %s", dir, strerror(errno));
        return EXIT_FAIL;
    }
    snprintf(s.tmp, sizeof s.tmp, "%s.tmp-XXXXXX", dir);
    if (mkdtemp(s.tmp) == NULL || chmod(s.tmp, 0755) != 0) {
        ctl_error(o, "publish site: cannot make a directory beside %s: %s", dir, strerror(errno));
        return EXIT_FAIL;
    }
    /* All answers must reflect one log index: if the log moved on while
     * the site was written, write it again. */
    for (int attempt = 0; attempt < S_ATTEMPTS; attempt++) {
        s_site_free(&s);
        s.have_position = false;
        s.moved_to = 0;
        s.n_pages = 0;
        if (attempt > 0 && (s_rm_tree(s.tmp) != 0 || mkdir(s.tmp, 0755) != 0)) {
            ctl_error(o, "publish site: %s: %s", s.tmp, strerror(errno));
            goto out;
        }
        if (s_generate(&s) != 0)
            goto out;
        if (s.moved_to == 0)
            break;
        first = first != 0 ? first : s.position;
    }
    if (s.moved_to != 0) {
        ctl_error(o,
                  "publish site: the log kept moving while the site was written (index %" PRIu64
                  " to %" PRIu64 ", %d times); try again",
                  first, s.moved_to, S_ATTEMPTS);
        goto out;
    }
    if (s_sync_dir(s.tmp) != 0 ||
        (replace ? renameat2(AT_FDCWD, s.tmp, AT_FDCWD, dir, RENAME_EXCHANGE)
                 : rename(s.tmp, dir)) != 0) {
        ctl_error(o, "publish site: cannot put the site in place at %s: %s", dir, strerror(errno));
        goto out;
    }
    ics_strcpy(parent, sizeof parent, dir);
    char *slash = strrchr(parent, '/');
    if (slash == NULL)
        ics_strcpy(parent, sizeof parent, ".");
    else
        slash[slash == parent ? 1 : 0] = '\0';
    s_sync_dir(parent);
    rc = EXIT_OK;
    ctl_note(o, "wrote %zu pages to %s: the public register at log index %" PRIu64, s.n_pages, dir,
             s.position);
    /* With --force, s.tmp now holds what DIR held before. */
    if (replace && s_rm_tree(s.tmp) != 0)
        ctl_note(o, "what %s held before is in %s: remove it", dir, s.tmp);
    s.tmp[0] = '\0';
out:
    if (s.tmp[0] != '\0' && s_rm_tree(s.tmp) != 0)
        ctl_note(o, "remove %s, which holds an unfinished site", s.tmp);
    s_site_free(&s);
    return rc;
}

static const ctl_sub_t s_subs[] = {
    {"site",
     s_site,
     CTL_G_NODE | CTL_G_FRESH,
     "force",
     {"DIR"},
     "publish site DIR [--force]",
     "Write the public register into DIR as a static website (HTML and one style\n"
     "sheet; no script, nothing fetched from elsewhere) that an ICB can put on its\n"
     "own web server: the adopted plans with every version and what changed, the\n"
     "closed consultations with the health and wellbeing boards' opinions, the\n"
     "decisions with their votes and declared interests, the scheme of delegation,\n"
     "and how to check each item against the audit log by the log index it shows.\n"
     "All of it is the group's state at one log index, named on every page. DIR\n"
     "must not exist or be empty; --force replaces what it holds. The site is\n"
     "written into DIR.tmp-XXXXXX beside it and moved into place in one step, so\n"
     "DIR is never half written."},
};

const ctl_cmd_t ctl_cmd_publish =
    CTL_CMD("publish", "The public register, as a static website",
            "The public register: what the partners have adopted, consulted on and decided,\n"
            "for anyone to read and check.",
            s_subs);
