/*
 * The dashboard page and its event stream (dashboard.h).
 *
 * The page is built from the same named queries icsctl reads (aid.board,
 * opel.show, opel.history, motion.list, consult.list, plan.list), parsed
 * by a small JSON reader below, so it shows what the state machine says
 * and nothing it would not. Every string from the state (partners' titles,
 * notes, names) goes through ics_html_escape; numbers are printed as
 * numbers. The page fetches nothing from anywhere: styles are inline, the
 * chart is SVG drawn here, and the script (a few lines, optional) only
 * opens /events and fetches / again, from the same origin. http.c sends a
 * Content-Security-Policy that says as much to the browser.
 *
 * Times: ages and deadlines are measured against each group's log clock
 * (the clock every node agrees on), not this machine's.
 */
#include "dashboard.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/html.h"
#include "events.h"
#include "history.h"
#include "nodeview.h"
#include "notify.h"

/* ---- a small JSON reader --------------------------------------------------- */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } s_jtype_t;

typedef struct s_jv {
    s_jtype_t type;
    char *key;              /* member name inside an object */
    char *str;
    double num;
    bool b;
    struct s_jv *child, *next;
} s_jv_t;

static void s_jfree(s_jv_t *v)
{
    while (v != NULL) {
        s_jv_t *next = v->next;
        s_jfree(v->child);
        free(v->key);
        free(v->str);
        free(v);
        v = next;
    }
}

static void s_ws(const char **p)
{
    while (**p == ' ' || **p == '\n' || **p == '\t' || **p == '\r')
        (*p)++;
}

static void s_utf8(char **o, unsigned cp)
{
    char *w = *o;
    if (cp < 0x80) {
        *w++ = (char)cp;
    } else if (cp < 0x800) {
        *w++ = (char)(0xc0 | (cp >> 6));
        *w++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *w++ = (char)(0xe0 | (cp >> 12));
        *w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *w++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *w++ = (char)(0xf0 | (cp >> 18));
        *w++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *w++ = (char)(0x80 | (cp & 0x3f));
    }
    *o = w;
}

static char *s_jstring(const char **p)
{
    const char *s = *p + 1;
    size_t len = 0;
    while (s[len] != '"' && s[len] != '\0')
        len += s[len] == '\\' && s[len + 1] != '\0' ? 2 : 1;
    if (s[len] != '"')
        return NULL;
    char *out = malloc(len + 1), *w = out;
    if (out == NULL)
        return NULL;
    for (const char *c = s; c < s + len; c++) {
        if (*c != '\\') {
            *w++ = *c;
            continue;
        }
        c++;
        switch (*c) {
        case 'n': *w++ = '\n'; break;
        case 't': *w++ = '\t'; break;
        case 'r': *w++ = '\r'; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'u': {
            unsigned cp = 0;
            if (sscanf(c + 1, "%4x", &cp) != 1 || c + 4 >= s + len) {
                *w++ = '?';
                break;
            }
            c += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && c + 6 < s + len && c[1] == '\\' && c[2] == 'u') {
                unsigned lo = 0;
                if (sscanf(c + 3, "%4x", &lo) == 1 && lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    c += 6;
                }
            }
            if (cp == 0 || (cp >= 0xd800 && cp < 0xe000))
                cp = 0xfffd;
            s_utf8(&w, cp); /* at most 4 bytes for 6 or 12 read */
            break;
        }
        default: *w++ = *c; break;
        }
    }
    *w = '\0';
    *p = s + len + 1;
    return out;
}

static s_jv_t *s_jparse(const char **p, int depth)
{
    s_jv_t *v;

    s_ws(p);
    if (depth > 32 || (v = calloc(1, sizeof *v)) == NULL)
        return NULL;
    if (**p == '{' || **p == '[') {
        bool obj = **p == '{';
        s_jv_t **tail = &v->child;
        v->type = obj ? J_OBJ : J_ARR;
        (*p)++;
        s_ws(p);
        if (**p == (obj ? '}' : ']')) {
            (*p)++;
            return v;
        }
        for (;;) {
            char *key = NULL;
            s_ws(p);
            if (obj) {
                if (**p != '"' || (key = s_jstring(p)) == NULL)
                    goto bad;
                s_ws(p);
                if (**p != ':') {
                    free(key);
                    goto bad;
                }
                (*p)++;
            }
            s_jv_t *c = s_jparse(p, depth + 1);
            if (c == NULL) {
                free(key);
                goto bad;
            }
            c->key = key;
            *tail = c;
            tail = &c->next;
            s_ws(p);
            if (**p == ',') {
                (*p)++;
                continue;
            }
            if (**p == (obj ? '}' : ']')) {
                (*p)++;
                return v;
            }
            goto bad;
        }
    }
    if (**p == '"') {
        v->type = J_STR;
        if ((v->str = s_jstring(p)) == NULL)
            goto bad;
        return v;
    }
    if (strncmp(*p, "true", 4) == 0 || strncmp(*p, "false", 5) == 0) {
        v->type = J_BOOL;
        v->b = **p == 't';
        *p += v->b ? 4 : 5;
        return v;
    }
    if (strncmp(*p, "null", 4) == 0) {
        *p += 4;
        return v;
    }
    char *end = NULL;
    v->num = strtod(*p, &end);
    if (end == *p)
        goto bad;
    v->type = J_NUM;
    *p = end;
    return v;
bad:
    s_jfree(v);
    return NULL;
}

static const s_jv_t *s_jget(const s_jv_t *o, const char *key)
{
    for (const s_jv_t *c = o != NULL && o->type == J_OBJ ? o->child : NULL; c; c = c->next)
        if (c->key != NULL && strcmp(c->key, key) == 0)
            return c;
    return NULL;
}

static const char *s_jstr(const s_jv_t *o, const char *key)
{
    const s_jv_t *v = s_jget(o, key);
    return v != NULL && v->type == J_STR ? v->str : "";
}

static uint64_t s_ju64(const s_jv_t *o, const char *key)
{
    const s_jv_t *v = s_jget(o, key);
    return v != NULL && v->type == J_NUM && v->num > 0 ? (uint64_t)v->num : 0;
}

static bool s_jbool(const s_jv_t *o, const char *key)
{
    const s_jv_t *v = s_jget(o, key);
    return v != NULL && v->type == J_BOOL && v->b;
}

/* First element of the array o[key], or NULL. */
static const s_jv_t *s_jarr(const s_jv_t *o, const char *key)
{
    const s_jv_t *v = s_jget(o, key);
    return v != NULL && v->type == J_ARR ? v->child : NULL;
}

/* A named query of group g as parsed JSON (caller frees), or NULL. */
static s_jv_t *s_query(ics_group_t *g, const char *name, size_t argc, char *const *argv)
{
    char *json = NULL, *text = NULL;
    ics_err_t err;
    s_jv_t *v = NULL;

    if (ics_fsm_query(ics_group_fsm(g), name, argc, argv, &json, &text, &err) == ICS_OK &&
        json != NULL) {
        const char *p = json;
        v = s_jparse(&p, 0);
    }
    free(json);
    free(text);
    return v;
}

/* ---- writing -------------------------------------------------------------------- */

#define E(s) ics_html_escape(out, (s))

/* The same as plain text, for inside SVG. */
static void s_time_text(FILE *out, uint64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[32] = "";
    if (gmtime_r(&t, &tm) != NULL)
        strftime(buf, sizeof buf, "%d %b %H:%M UTC", &tm);
    fputs(buf, out);
}

static void s_dur(FILE *out, uint64_t ms)
{
    uint64_t m = ms / 60000;
    if (m < 60)
        fprintf(out, "%" PRIu64 " min", m);
    else if (m < 48 * 60)
        fprintf(out, "%" PRIu64 " h %" PRIu64 " min", m / 60, m % 60);
    else
        fprintf(out, "%" PRIu64 " d %" PRIu64 " h", m / 1440, (m % 1440) / 60);
}

/* A deadline, and how far it is from the log clock. */
static void s_deadline(FILE *out, uint64_t at, uint64_t clock)
{
    ics_html_time(out, at);
    if (at == 0)
        return;
    fputs(" <span class=\"rel\">(", out);
    if (at >= clock) {
        fputs("in ", out);
        s_dur(out, at - clock);
    } else {
        s_dur(out, clock - at);
        fputs(" ago", out);
    }
    fputs(")</span>", out);
}

static void s_opel_badge(FILE *out, uint64_t level)
{
    if (level == 0)
        fputs("<span class=\"opel opel0\">none</span>", out);
    else
        fprintf(out, "<span class=\"opel opel%" PRIu64 "\">OPEL %" PRIu64 "</span>",
                level > 4 ? 4 : level, level);
}

static const char *const s_palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                        "#8c564b", "#e377c2", "#17becf", "#bcbd22"};

/* OPEL over time: one stepped line per organisation (and provider type),
 * and the system level dashed, from the reports the log holds. */
static void s_chart(FILE *out, ics_group_t *g, uint64_t clock)
{
    char *args[] = {"1000"};
    s_jv_t *h = s_query(g, "opel.history", 1, args);
    enum { W = 760, H = 230, L = 64, R = 150, T = 12, B = 34 };
    struct {
        char org[ICS_ORG_MAX + 40];
    } series[8];
    size_t n_series = 0;
    uint64_t lo = UINT64_MAX, hi = clock;

    if (h == NULL) {
        fputs("<p>No OPEL history.</p>", out);
        return;
    }
    for (const s_jv_t *r = s_jarr(h, "reports"); r != NULL; r = r->next) {
        uint64_t at = s_ju64(r, "reported_ms");
        if (at < lo)
            lo = at;
        if (at > hi)
            hi = at;
    }
    if (lo == UINT64_MAX) {
        fputs("<p class=\"empty\">No OPEL reports yet.</p>", out);
        s_jfree(h);
        return;
    }
    if (hi <= lo)
        hi = lo + 3600000;
    double span = (double)(hi - lo);
#define X(t) (L + (double)((t) - lo) / span * (W - L - R))
#define Y(l) (T + (4.0 - (double)(l)) / 3.0 * (H - T - B))
    fprintf(out, "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\">"
                 "<title>OPEL over time, group ",
            W, H, W, H);
    E(ics_group_name(g));
    fputs("</title>", out);
    for (int l = 1; l <= 4; l++)
        fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"grid\"/>"
                     "<text x=\"%d\" y=\"%.1f\" class=\"axis\">OPEL %d</text>",
                L, Y(l), W - R, Y(l), 4, Y(l) + 4, l);
    fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"axis\">", L, H - 8);
    s_time_text(out, lo);
    fprintf(out, "</text><text x=\"%d\" y=\"%d\" class=\"axis\" text-anchor=\"end\">", W - R,
            H - 8);
    s_time_text(out, hi);
    fputs("</text>", out);
    /* Reports come newest first: each series is drawn oldest first. */
    for (const s_jv_t *r = s_jarr(h, "reports"); r != NULL && n_series < 8; r = r->next) {
        char key[sizeof series[0].org];
        snprintf(key, sizeof key, "%s %s", s_jstr(r, "org"), s_jstr(r, "provider_type"));
        bool seen = false;
        for (size_t i = 0; i < n_series && !seen; i++)
            seen = strcmp(series[i].org, key) == 0;
        if (!seen)
            ics_strcpy(series[n_series++].org, sizeof series[0].org, key);
    }
    for (size_t i = 0; i < n_series; i++) {
        const s_jv_t *pts[1000];
        size_t n = 0;
        for (const s_jv_t *r = s_jarr(h, "reports"); r != NULL && n < 1000; r = r->next) {
            char key[sizeof series[0].org];
            snprintf(key, sizeof key, "%s %s", s_jstr(r, "org"), s_jstr(r, "provider_type"));
            if (strcmp(key, series[i].org) == 0)
                pts[n++] = r;
        }
        fprintf(out, "<polyline class=\"series\" fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" points=\"",
                s_palette[i % 8]);
        double py = 0;
        for (size_t k = n; k-- > 0;) {
            double x = X(s_ju64(pts[k], "reported_ms")), y = Y(s_ju64(pts[k], "level"));
            if (k + 1 < n)
                fprintf(out, "%.1f,%.1f ", x, py);
            fprintf(out, "%.1f,%.1f ", x, y);
            py = y;
        }
        fprintf(out, "%.1f,%.1f\"/>", X(hi), py);
        fprintf(out, "<rect x=\"%d\" y=\"%zu\" width=\"12\" height=\"4\" fill=\"%s\"/>"
                     "<text x=\"%d\" y=\"%zu\" class=\"legend\">",
                W - R + 10, T + 14 * i + 4, s_palette[i % 8], W - R + 26, T + 14 * i + 10);
        E(series[i].org);
        fputs("</text>", out);
    }
    /* The system level: changes, oldest first. */
    const s_jv_t *sys[1000];
    size_t ns = 0;
    for (const s_jv_t *s = s_jarr(h, "system"); s != NULL && ns < 1000; s = s->next)
        sys[ns++] = s;
    if (ns > 0) {
        bool newest_first = ns > 1 && s_ju64(sys[0], "index") > s_ju64(sys[ns - 1], "index");
        fputs("<polyline class=\"system\" fill=\"none\" stroke=\"#000\" stroke-width=\"1.5\" "
              "stroke-dasharray=\"6 4\" points=\"", out);
        double py = Y(0);
        bool first = true;
        for (size_t k = 0; k < ns; k++) {
            const s_jv_t *s = sys[newest_first ? ns - 1 - k : k];
            uint64_t at = s_ju64(s, "at_ms"), lvl = s_ju64(s, "level");
            if (at < lo)
                at = lo;
            double x = X(at), y = lvl == 0 ? Y(0.5) : Y(lvl);
            if (!first)
                fprintf(out, "%.1f,%.1f ", x, py);
            fprintf(out, "%.1f,%.1f ", x, y);
            py = y;
            first = false;
        }
        fprintf(out, "%.1f,%.1f\"/>", X(hi), py);
        fprintf(out, "<text x=\"%d\" y=\"%zu\" class=\"legend\">- - system</text>", W - R + 10,
                T + 14 * n_series + 10);
    }
#undef X
#undef Y
    fputs("</svg>", out);
    s_jfree(h);
}

static void s_section_opel(FILE *out, ics_group_t *g, const char *gid)
{
    s_jv_t *v = s_query(g, "opel.show", 0, NULL);
    uint64_t clock = s_ju64(v, "clock_ms");
    const s_jv_t *sys = s_jget(v, "system");

    fprintf(out, "<section id=\"opel-%s\" class=\"opel-section\"><h3>OPEL</h3>", gid);
    fputs("<p class=\"system-opel\">System: ", out);
    s_opel_badge(out, s_ju64(sys, "level"));
    fputs(" ", out);
    E(s_jstr(sys, "meaning"));
    fprintf(out, " <span class=\"rel\">(%" PRIu64 " current report(s))</span></p>",
            s_ju64(sys, "reports"));
    fputs("<table class=\"opel-orgs\"><thead><tr><th>Organisation</th><th>Type</th><th>Level</th>"
          "<th>Reported</th><th>Note</th></tr></thead><tbody>", out);
    size_t n = 0;
    for (const s_jv_t *r = s_jarr(v, "organisations"); r != NULL; r = r->next, n++) {
        fputs("<tr class=\"opel-org\" data-org=\"", out);
        E(s_jstr(r, "org"));
        fputs("\"><td>", out);
        E(s_jstr(r, "org"));
        fputs("</td><td>", out);
        E(s_jstr(r, "provider_type"));
        fputs("</td><td>", out);
        s_opel_badge(out, s_ju64(r, "level"));
        if (!s_jbool(r, "current"))
            fputs(" <span class=\"rel\">(not counted)</span>", out);
        fputs("</td><td>", out);
        ics_html_time(out, s_ju64(r, "reported_ms"));
        fputs("</td><td>", out);
        E(s_jstr(r, "note"));
        fputs("</td></tr>", out);
    }
    if (n == 0)
        fputs("<tr><td colspan=\"5\" class=\"empty\">No reports.</td></tr>", out);
    fputs("</tbody></table>", out);
    s_chart(out, g, clock);
    fputs("</section>", out);
    s_jfree(v);
}

static void s_section_aid(FILE *out, ics_group_t *g, const char *gid)
{
    s_jv_t *v = s_query(g, "aid.board", 0, NULL);
    uint64_t clock = s_ju64(v, "clock_ms");
    size_t n = 0, n_esc = 0;

    fprintf(out, "<section id=\"aid-%s\" class=\"aid-section\"><h3>Mutual aid: open requests "
                 "and offers</h3>", gid);
    fputs("<table class=\"aid\"><thead><tr><th>Request</th><th>From</th><th>Needs</th>"
          "<th>Urgency</th><th>Still needed</th><th>Status</th><th>Age</th><th>Expires</th>"
          "</tr></thead><tbody>", out);
    for (const s_jv_t *r = s_jarr(v, "requests"); r != NULL; r = r->next, n++) {
        const s_jv_t *esc = s_jget(r, "escalation");
        n_esc += s_jbool(esc, "escalated");
        fprintf(out, "<tr class=\"aid-request\" id=\"%s-request-%" PRIu64 "\" data-request=\"%"
                     PRIu64 "\"><td>%" PRIu64 "</td><td>", gid, s_ju64(r, "id"), s_ju64(r, "id"),
                s_ju64(r, "id"));
        E(s_jstr(r, "org"));
        fprintf(out, "</td><td>%" PRIu64 " ", s_ju64(r, "quantity"));
        E(s_jstr(r, "unit"));
        if (s_jstr(r, "specialty")[0] != '\0') {
            fputs(" (", out);
            E(s_jstr(r, "specialty"));
            fputs(")", out);
        }
        fputs("</td><td>", out);
        E(s_jstr(r, "urgency"));
        fprintf(out, "</td><td>%" PRIu64 "</td><td>", s_ju64(r, "still_needed"));
        E(s_jstr(r, "status"));
        if (s_jbool(esc, "escalated"))
            fputs(" <span class=\"tag\">escalated</span>", out);
        fputs("</td><td class=\"age\">", out);
        s_dur(out, s_ju64(r, "age_ms"));
        fputs("</td><td>", out);
        s_deadline(out, s_ju64(r, "expires_ms"), clock);
        fputs("</td></tr>", out);
        for (const s_jv_t *o = s_jarr(r, "offers"); o != NULL; o = o->next) {
            fprintf(out, "<tr class=\"aid-offer\" id=\"%s-offer-%" PRIu64 "\"><td class=\"sub\">"
                         "offer %" PRIu64 "</td><td>", gid, s_ju64(o, "id"), s_ju64(o, "id"));
            E(s_jstr(o, "org"));
            fprintf(out, "</td><td>%" PRIu64 " offered", s_ju64(o, "quantity"));
            if (s_ju64(o, "accepted") > 0)
                fprintf(out, ", %" PRIu64 " accepted", s_ju64(o, "accepted"));
            fputs("</td><td>", out);
            E(s_jstr(o, "conditions"));
            fputs("</td><td></td><td>", out);
            E(s_jstr(o, "status"));
            fputs("</td><td class=\"age\">", out);
            uint64_t at = s_ju64(o, "offered_ms");
            s_dur(out, clock > at ? clock - at : 0);
            fputs("</td><td>", out);
            s_deadline(out, s_ju64(o, "valid_until_ms"), clock);
            fputs("</td></tr>", out);
        }
    }
    if (n == 0)
        fputs("<tr><td colspan=\"8\" class=\"empty\">No open requests.</td></tr>", out);
    fputs("</tbody></table>", out);

    fprintf(out, "<h3 id=\"escalations-%s\">Escalations</h3>", gid);
    if (n_esc == 0)
        fputs("<p class=\"empty\">None.</p>", out);
    else
        fputs("<table class=\"escalations\"><thead><tr><th>Request</th><th>From</th>"
              "<th>Escalated</th><th>Quantity</th><th>Region</th><th>Region status</th>"
              "</tr></thead><tbody>", out);
    for (const s_jv_t *r = s_jarr(v, "requests"); r != NULL && n_esc > 0; r = r->next) {
        const s_jv_t *esc = s_jget(r, "escalation");
        if (!s_jbool(esc, "escalated"))
            continue;
        fprintf(out, "<tr class=\"escalation\"><td>%" PRIu64 "</td><td>", s_ju64(r, "id"));
        E(s_jstr(r, "org"));
        fputs("</td><td>", out);
        ics_html_time(out, s_ju64(esc, "at_ms"));
        fprintf(out, "</td><td>%" PRIu64 "</td><td>", s_ju64(esc, "quantity"));
        E(s_jstr(esc, "region"));
        fputs("</td><td>", out);
        E(s_jstr(esc, "region_status"));
        fputs("</td></tr>", out);
    }
    if (n_esc > 0)
        fputs("</tbody></table>", out);
    fputs("</section>", out);
    s_jfree(v);
}

static void s_section_gov(FILE *out, ics_group_t *g, const char *gid, uint64_t clock)
{
    char *open_arg[] = {"open"};
    s_jv_t *m = s_query(g, "motion.list", 1, open_arg);
    s_jv_t *c = s_query(g, "consult.list", 0, NULL);
    s_jv_t *p = s_query(g, "plan.list", 0, NULL);
    size_t n = 0;

    fprintf(out, "<section id=\"motions-%s\" class=\"motions-section\"><h3>Motions open</h3>", gid);
    fputs("<table class=\"motions\"><thead><tr><th>Motion</th><th>Title</th><th>Decision</th>"
          "<th>Proposed by</th><th>Closes</th></tr></thead><tbody>", out);
    for (const s_jv_t *r = s_jarr(m, "motions"); r != NULL; r = r->next) {
        if (strcmp(s_jstr(r, "status"), "open") != 0)
            continue;
        n++;
        fprintf(out, "<tr class=\"motion\"><td>%" PRIu64 "</td><td>", s_ju64(r, "motion"));
        E(s_jstr(r, "title"));
        fputs("</td><td>", out);
        E(s_jstr(r, "decision"));
        fputs("</td><td>", out);
        E(s_jstr(r, "org"));
        fputs("</td><td>", out);
        s_deadline(out, s_ju64(r, "closes_ms"), clock);
        fputs("</td></tr>", out);
    }
    if (n == 0)
        fputs("<tr><td colspan=\"5\" class=\"empty\">None open.</td></tr>", out);
    fputs("</tbody></table></section>", out);

    n = 0;
    fprintf(out, "<section id=\"consultations-%s\" class=\"consultations-section\">"
                 "<h3>Consultations in progress</h3>", gid);
    fputs("<table class=\"consultations\"><thead><tr><th>Consultation</th><th>Plan</th>"
          "<th>Status</th><th>Responses</th><th>Opens</th><th>Closes</th></tr></thead><tbody>",
          out);
    for (const s_jv_t *r = s_jarr(c, "consultations"); r != NULL; r = r->next) {
        if (strcmp(s_jstr(r, "status"), "closed") == 0)
            continue;
        n++;
        fprintf(out, "<tr class=\"consultation\"><td>%" PRIu64 "</td><td>",
                s_ju64(r, "consultation"));
        E(s_jstr(r, "plan"));
        fprintf(out, " v%" PRIu64 "</td><td>", s_ju64(r, "version"));
        E(s_jstr(r, "status"));
        fprintf(out, "</td><td>%" PRIu64 " of %" PRIu64 "</td><td>", s_ju64(r, "responded"),
                s_ju64(r, "consultees"));
        ics_html_time(out, s_ju64(r, "opens_ms"));
        fputs("</td><td>", out);
        s_deadline(out, s_ju64(r, "closes_ms"), clock);
        fputs("</td></tr>", out);
    }
    if (n == 0)
        fputs("<tr><td colspan=\"6\" class=\"empty\">None in progress.</td></tr>", out);
    fputs("</tbody></table></section>", out);

    n = 0;
    fprintf(out, "<section id=\"plans-%s\" class=\"plans-section\"><h3>Plans</h3>", gid);
    fputs("<table class=\"plans\"><thead><tr><th>Plan</th><th>Title</th><th>Period</th>"
          "<th>Owner</th><th>Latest</th><th>Adopted</th><th>Amendments proposed</th></tr>"
          "</thead><tbody>", out);
    for (const s_jv_t *r = s_jarr(p, "plans"); r != NULL; r = r->next, n++) {
        fputs("<tr class=\"plan\"><td>", out);
        E(s_jstr(r, "plan"));
        fputs("</td><td>", out);
        E(s_jstr(r, "title"));
        fputs("</td><td>", out);
        E(s_jstr(r, "period"));
        fputs("</td><td>", out);
        E(s_jstr(r, "org"));
        fprintf(out, "</td><td>v%" PRIu64 "</td><td>", s_ju64(r, "latest"));
        if (s_ju64(r, "adopted") > 0)
            fprintf(out, "v%" PRIu64, s_ju64(r, "adopted"));
        else
            fputs("not yet", out);
        fprintf(out, "</td><td>%" PRIu64 "</td></tr>", s_ju64(r, "proposed_amendments"));
    }
    if (n == 0)
        fputs("<tr><td colspan=\"7\" class=\"empty\">No plans.</td></tr>", out);
    fputs("</tbody></table></section>", out);
    s_jfree(m);
    s_jfree(c);
    s_jfree(p);
}

static const char s_style[] =
    "body{font:15px/1.4 system-ui,sans-serif;margin:0;color:#111;background:#f4f6f8}"
    "header{background:#005eb8;color:#fff;padding:10px 18px}header h1{margin:0;font-size:20px}"
    "header p{margin:2px 0 0;font-size:13px}main{padding:8px 18px}"
    ".group{background:#fff;border:1px solid #d0d5da;border-radius:6px;margin:12px 0;padding:6px 14px}"
    "h2{margin:6px 0;font-size:18px}h3{margin:14px 0 4px;font-size:15px}"
    "table{border-collapse:collapse;width:100%;font-size:13px}"
    "th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #e3e6e9;vertical-align:top}"
    "th{background:#eef1f4}tr.aid-offer td{color:#444;background:#fafbfc}td.sub{padding-left:22px}"
    ".opel{display:inline-block;padding:0 6px;border-radius:3px;font-weight:600;color:#fff}"
    ".opel0{background:#888}.opel1{background:#007f3b}.opel2{background:#b27a00}"
    ".opel3{background:#d5281b}.opel4{background:#000}"
    ".rel{color:#555;font-size:12px}.empty{color:#666;font-style:italic}"
    ".tag{background:#ffeb3b;padding:0 4px;border-radius:3px;font-size:12px}"
    "svg.chart{max-width:100%;height:auto;background:#fff}"
    ".grid{stroke:#ddd}.axis{font-size:11px;fill:#444}.legend{font-size:11px;fill:#222}"
    "#status{font-size:12px;color:#fff}";

/* The live part: a few lines that open /events and, on an event, fetch
 * this page again and swap #live for the new one. Without it the page
 * reloads itself every 30 seconds (the <noscript> refresh). */
static const char s_script[] =
    "(function(){if(!window.EventSource||!window.fetch)return;"
    "var es=new EventSource('/events'),t=null,n=0,st=document.getElementById('status');"
    "es.onopen=function(){st.textContent='live';};"
    "es.onerror=function(){st.textContent='reconnecting';};"
    "es.onmessage=function(m){var d={};try{d=JSON.parse(m.data);}catch(e){}"
    "st.textContent='live; last event: '+(d.text||'');"
    "clearTimeout(t);t=setTimeout(function(){fetch(location.pathname,{cache:'no-store'})"
    ".then(function(r){return r.text();}).then(function(h){"
    "var nd=new DOMParser().parseFromString(h,'text/html'),a=document.getElementById('live'),"
    "b=nd.getElementById('live');if(a&&b){a.replaceWith(b);n++;"
    "document.body.setAttribute('data-updates',String(n));}});},200);};})();";

void ics_dashboard_page(struct ics_node *node, FILE *out)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
          "<noscript><meta http-equiv=\"refresh\" content=\"30\"></noscript><title>ICS dashboard: ",
          out);
    E(ics_node_config(node)->org);
    fprintf(out, "</title><style>%s</style></head><body data-updates=\"0\"><header><h1>"
                 "ICS dashboard</h1><p>Node ", s_style);
    E(ics_node_config(node)->org);
    const ics_org_cfg_t *me = ics_config_org(ics_node_config(node), ics_node_config(node)->org);
    if (me != NULL && me->name[0] != '\0') {
        fputs(" (", out);
        E(me->name);
        fputs(")", out);
    }
    fputs(" &middot; read-only &middot; <span id=\"status\">updates every 30 s</span></p>"
          "</header><main id=\"live\">", out);
    for (size_t i = 0; i < ics_node_n_groups(node); i++) {
        ics_group_t *g = ics_node_group_at(node, i);
        const char *gid = ics_group_name(g); /* [A-Za-z0-9_-]: safe in an id */
        uint64_t clock = ics_fsm_clock(ics_group_fsm(g));
        fprintf(out, "<div class=\"group\" id=\"group-%s\" data-position=\"%" PRIu64 "\"><h2>"
                     "Group %s</h2><p class=\"rel\">Log position %" PRIu64 ", log clock ",
                gid, ics_fsm_position(ics_group_fsm(g)), gid, ics_fsm_position(ics_group_fsm(g)));
        ics_html_time(out, clock);
        fputs(" UTC</p>", out);
        s_section_opel(out, g, gid);
        s_section_aid(out, g, gid);
        s_section_gov(out, g, gid, clock);
        fputs("</div>", out);
    }
    fprintf(out, "</main><script>%s</script></body></html>\n", s_script);
}

/* ---- /events ---------------------------------------------------------------- */

struct ics_dashboard_stream {
    ics_node_t *node;
    uint64_t next[ICS_MAX_GROUPS];  /* first entry not read */
    uint32_t skip[ICS_MAX_GROUPS];  /* events of it already sent */
};

ics_dashboard_stream_t *ics_dashboard_stream_new(struct ics_node *node, const char *last_event_id)
{
    ics_dashboard_stream_t *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    self->node = node;
    for (size_t g = 0; g < ics_node_n_groups(node) && g < ICS_MAX_GROUPS; g++) {
        self->next[g] = ics_fsm_position(ics_group_fsm(ics_node_group_at(node, g))) + 1;
        if (last_event_id != NULL) {
            const char *name = ics_group_name(ics_node_group_at(node, g));
            size_t nl = strlen(name);
            unsigned long long idx;
            unsigned n;
            char tail;
            if (strncmp(last_event_id, name, nl) == 0 && last_event_id[nl] == ':' &&
                sscanf(last_event_id + nl + 1, "%llu:%u%c", &idx, &n, &tail) == 2 && idx > 0 &&
                idx < self->next[g]) {
                self->next[g] = idx;
                self->skip[g] = n + 1;
            }
        }
    }
    return self;
}

void ics_dashboard_stream_free(ics_dashboard_stream_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    free(*self_p);
    *self_p = NULL;
}

bool ics_dashboard_stream_pending(ics_dashboard_stream_t *self)
{
    for (size_t g = 0; g < ics_node_n_groups(self->node) && g < ICS_MAX_GROUPS; g++)
        if (ics_fsm_position(ics_group_fsm(ics_node_group_at(self->node, g))) >= self->next[g])
            return true;
    return false;
}

size_t ics_dashboard_stream_read(ics_dashboard_stream_t *self, FILE *out)
{
    enum { BATCH = 50 };
    size_t sent = 0;

    for (size_t g = 0; g < ics_node_n_groups(self->node) && g < ICS_MAX_GROUPS; g++) {
        ics_group_t *grp = ics_node_group_at(self->node, g);
        ics_history_t *hist = ics_group_history(grp);
        uint64_t top = ics_fsm_position(ics_group_fsm(grp)), p = self->next[g], prev = 0;
        ics_log_entry_t batch[BATCH];
        ics_events_t ev = {0};
        size_t nb = 0;

        if (p > top)
            continue;
        if (p > 1) {
            ics_log_entry_t before;
            if (ics_history_entry(hist, p - 1, &before) != ICS_OK)
                continue;
            prev = before.clock_ms;
            free(before.envelope);
        }
        while (nb < BATCH && p + nb <= top && ics_history_entry(hist, p + nb, &batch[nb]) == ICS_OK)
            nb++;
        if (nb == 0)
            continue; /* a gap being backfilled: wait for it */
        int rc = ics_events_derive_batch(ics_fsm_db(ics_group_fsm(grp)), batch, nb, prev, &ev);
        for (size_t i = 0; i < nb; i++)
            free(batch[i].envelope);
        if (rc == ICS_OK) {
            for (size_t k = 0; k < ev.n; k++) {
                const ics_event_t *e = &ev.v[k];
                char id[ICS_GROUP_MAX + 48];
                if (e->index == p && e->n < self->skip[g])
                    continue;
                snprintf(id, sizeof id, "%s:%" PRIu64 ":%u", ics_group_name(grp), e->index, e->n);
                char *json = ics_notify_event_json(ics_node_config(self->node)->org, ics_group_name(grp), e, id);
                if (json == NULL)
                    continue;
                json[strcspn(json, "\n")] = '\0'; /* one data: line */
                fprintf(out, "id: %s\ndata: %s\n\n", id, json);
                free(json);
                sent++;
            }
        }
        ics_events_free(&ev);
        self->next[g] = p + nb;
        self->skip[g] = 0;
    }
    return sent;
}
