/*
 * Reading the node's JSON answers, and writing JSON that is safe to show.
 *
 * icsctl needs little of JSON: to find a member or an element, to read a
 * number or a string, and to put an answer in the one form every read
 * uses (docs/cli-json.md). So this is a scanner over the text, not a
 * parser into a tree: a value is the span of text it occupies (cj_t), and
 * what is printed is copied from that text. A malformed or too deeply
 * nested document is refused, never guessed at.
 *
 * Every byte printed inside a JSON string goes through s_put_str_bytes:
 * C0 controls, DEL and the C1 controls are \u-escaped, and bytes that are
 * not UTF-8 become U+FFFD, so that the output is valid JSON, a JSON reader
 * gets the characters that were stored, and `cat` of the output cannot
 * drive a terminal.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define S_DEPTH_MAX 64

static const char *s_value_end(const char *p, const char *end, int depth);

static const char *s_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at the opening quote; returns just past the closing one. */
static const char *s_string_end(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\') {
            if (++p >= end)
                return NULL;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

static const char *s_container_end(const char *p, const char *end, int depth, char close)
{
    bool object = close == '}';

    p = s_ws(p + 1, end);
    if (p < end && *p == close)
        return p + 1;
    for (;;) {
        if (object) {
            if (p >= end || *p != '"' || (p = s_string_end(p, end)) == NULL)
                return NULL;
            p = s_ws(p, end);
            if (p >= end || *p != ':')
                return NULL;
            p = s_ws(p + 1, end);
        }
        if ((p = s_value_end(p, end, depth + 1)) == NULL)
            return NULL;
        p = s_ws(p, end);
        if (p < end && *p == ',') {
            p = s_ws(p + 1, end);
            continue;
        }
        return p < end && *p == close ? p + 1 : NULL;
    }
}

/* p at a value; returns just past it, or NULL if it is not one. */
static const char *s_value_end(const char *p, const char *end, int depth)
{
    if (p >= end || depth > S_DEPTH_MAX)
        return NULL;
    switch (*p) {
    case '"':
        return s_string_end(p, end);
    case '{':
        return s_container_end(p, end, depth, '}');
    case '[':
        return s_container_end(p, end, depth, ']');
    default:
        break;
    }
    const char *start = p;
    while (p < end && (strchr("+-.eE", *p) != NULL || (*p >= '0' && *p <= '9') ||
                       (*p >= 'a' && *p <= 'z')))
        p++;
    size_t n = (size_t)(p - start);
    if (n == 0)
        return NULL;
    if ((n == 4 && memcmp(start, "true", 4) == 0) || (n == 5 && memcmp(start, "false", 5) == 0) ||
        (n == 4 && memcmp(start, "null", 4) == 0))
        return p;
    return start[0] == '-' || (start[0] >= '0' && start[0] <= '9') ? p : NULL;
}

bool cj_parse(const char *s, size_t len, cj_t *out)
{
    const char *end = s + len, *p = s_ws(s, end), *e = s_value_end(p, end, 0);

    if (e == NULL || s_ws(e, end) != end)
        return false;
    out->p = p;
    out->n = (size_t)(e - p);
    return true;
}

bool cj_is_object(cj_t v) { return v.n >= 2 && v.p[0] == '{'; }
bool cj_is_array(cj_t v) { return v.n >= 2 && v.p[0] == '['; }

/* The next item of a container: *pos is 0 before the first. */
static bool s_next(cj_t c, size_t *pos, bool object, cj_t *key, cj_t *value)
{
    const char *end = c.p + c.n - 1, *p; /* end: the closing bracket */

    if (c.n < 2)
        return false;
    p = s_ws(c.p + (*pos == 0 ? 1 : *pos), end);
    if (*pos != 0) {
        if (p >= end || *p != ',')
            return false;
        p = s_ws(p + 1, end);
    }
    if (p >= end)
        return false;
    if (object) {
        const char *k = p;
        if ((p = s_string_end(p, end)) == NULL)
            return false;
        key->p = k;
        key->n = (size_t)(p - k);
        p = s_ws(p, end);
        if (p >= end || *p != ':')
            return false;
        p = s_ws(p + 1, end);
    }
    const char *v = p;
    if ((p = s_value_end(p, end, 1)) == NULL)
        return false;
    value->p = v;
    value->n = (size_t)(p - v);
    *pos = (size_t)(p - c.p);
    return true;
}

bool cj_member(cj_t obj, size_t *pos, cj_t *key, cj_t *value)
{
    return cj_is_object(obj) && s_next(obj, pos, true, key, value);
}

bool cj_element(cj_t arr, size_t *pos, cj_t *value)
{
    return cj_is_array(arr) && s_next(arr, pos, false, NULL, value);
}

bool cj_key_is(cj_t key, const char *name)
{
    size_t n = strlen(name);
    return key.n == n + 2 && memcmp(key.p + 1, name, n) == 0;
}

bool cj_get(cj_t obj, const char *name, cj_t *value)
{
    size_t pos = 0;
    cj_t k, v;
    while (cj_member(obj, &pos, &k, &v))
        if (cj_key_is(k, name)) {
            *value = v;
            return true;
        }
    return false;
}

bool cj_u64(cj_t v, uint64_t *out)
{
    uint64_t x = 0;
    if (v.n == 0 || v.n > 20)
        return false;
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return false;
        uint64_t d = (uint64_t)(v.p[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *out = x;
    return true;
}

static int s_hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static size_t s_utf8(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

bool cj_str(cj_t v, char *buf, size_t size)
{
    size_t w = 0;

    if (v.n < 2 || v.p[0] != '"' || size == 0)
        return false;
    for (size_t i = 1; i + 1 < v.n; i++) {
        char tmp[4];
        size_t n = 1;
        tmp[0] = v.p[i];
        if (v.p[i] == '\\') {
            char e = v.p[++i];
            switch (e) {
            case 'n': tmp[0] = '\n'; break;
            case 'r': tmp[0] = '\r'; break;
            case 't': tmp[0] = '\t'; break;
            case 'b': tmp[0] = '\b'; break;
            case 'f': tmp[0] = '\f'; break;
            case 'u': {
                uint32_t cp = 0;
                if (i + 4 >= v.n)
                    return false;
                for (int k = 1; k <= 4; k++) {
                    int h = s_hex(v.p[i + k]);
                    if (h < 0)
                        return false;
                    cp = cp << 4 | (uint32_t)h;
                }
                i += 4;
                /* A surrogate pair: one character. */
                if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < v.n && v.p[i + 1] == '\\' &&
                    v.p[i + 2] == 'u') {
                    uint32_t lo = 0;
                    bool ok = true;
                    for (int k = 3; k <= 6; k++) {
                        int h = s_hex(v.p[i + k]);
                        ok = ok && h >= 0;
                        lo = lo << 4 | (uint32_t)(h < 0 ? 0 : h);
                    }
                    if (ok && lo >= 0xDC00 && lo < 0xE000) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        i += 6;
                    }
                }
                if (cp >= 0xD800 && cp < 0xE000)
                    cp = 0xFFFD;
                n = s_utf8(cp, tmp);
                break;
            }
            default: tmp[0] = e; break; /* \" \\ \/ */
            }
        }
        if (w + n >= size)
            return false;
        memcpy(buf + w, tmp, n);
        w += n;
    }
    buf[w] = '\0';
    return true;
}

bool cj_str_is(cj_t v, const char *s)
{
    size_t n = strlen(s);
    char *buf = malloc(n + 2);
    bool same = buf != NULL && cj_str(v, buf, n + 2) && strcmp(buf, s) == 0;
    free(buf);
    return same;
}

size_t ctl_utf8_len(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t c;

    if (n == 0)
        return 0;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
        c = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        c = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        c = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3F);
    }
    /* Overlong forms, surrogates and beyond U+10FFFF are not UTF-8. */
    if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c < 0xE000))
        return 0;
    *cp = c;
    return len;
}

/* The bytes between a string's quotes, as they may appear in JSON text
 * (escapes already there are kept; raw controls are escaped). */
static void s_put_str_bytes(FILE *f, const char *s, size_t n, bool raw)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = ctl_utf8_len(u + i, n - i, &cp);
        if (len == 0) {
            fputs("\\ufffd", f);
            i++;
            continue;
        }
        if (raw && cp == '"')
            fputs("\\\"", f);
        else if (raw && cp == '\\')
            fputs("\\\\", f);
        else if (raw && cp == '\n')
            fputs("\\n", f);
        else if (raw && cp == '\t')
            fputs("\\t", f);
        else if (raw && cp == '\r')
            fputs("\\r", f);
        else if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
            fprintf(f, "\\u%04x", (unsigned)cp);
        else
            fwrite(u + i, 1, len, f);
        i += len;
    }
}

void cj_write_str(FILE *f, const char *s)
{
    fputc('"', f);
    s_put_str_bytes(f, s, strlen(s), true);
    fputc('"', f);
}

void cj_write(FILE *f, cj_t v)
{
    const char *p = v.p, *end = v.p + v.n;

    while (p < end) {
        if (*p != '"') {
            /* Outside strings only JSON's own characters; blanks dropped. */
            if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
                fputc(*p, f);
            p++;
            continue;
        }
        const char *q = s_string_end(p, end);
        if (q == NULL)
            q = end;
        fputc('"', f);
        s_put_str_bytes(f, p + 1, (size_t)(q - p - 2), false);
        fputc('"', f);
        p = q;
    }
}

/* Members that say where and when an answer was read, kept beside the
 * item: the group always; the log clock when the answer's clock_ms is
 * that (with CJ_MEMBER the answer's other members stay beside the item
 * anyway). */
static bool s_context(cj_t key, bool clock)
{
    return cj_key_is(key, "group") || (clock && cj_key_is(key, "clock_ms"));
}

bool cj_reshape(FILE *f, const char *json, const char *key, int shape, const char *lift)
{
    cj_t doc, k, v;
    size_t pos = 0;
    bool first = true, any, clock = (shape & CJ_CLOCK) != 0 || (shape & 7) == CJ_MEMBER;

    shape &= 7;
    if (!cj_parse(json, strlen(json), &doc))
        return false;
    if (shape == CJ_ARRAY) {
        if (!cj_is_array(doc))
            return false;
        fputs("{", f);
        cj_write_str(f, key);
        fputc(':', f);
        cj_write(f, doc);
        fputs("}\n", f);
        return true;
    }
    if (!cj_is_object(doc) || (shape == CJ_MEMBER && !cj_get(doc, key, &v)))
        return false;
    fputc('{', f);
    while (cj_member(doc, &pos, &k, &v))
        if (s_context(k, clock)) {
            fputs(first ? "" : ",", f);
            cj_write(f, k);
            fputc(':', f);
            cj_write(f, v);
            first = false;
        }
    fputs(first ? "" : ",", f);
    cj_write_str(f, key);
    fputc(':', f);
    if (shape == CJ_MEMBER) {
        cj_get(doc, key, &v);
        cj_write(f, v);
        /* Whatever else a node answers stays, beside the item. */
        for (pos = 0; cj_member(doc, &pos, &k, &v);)
            if (!s_context(k, clock) && !cj_key_is(k, key)) {
                fputc(',', f);
                cj_write(f, k);
                fputc(':', f);
                cj_write(f, v);
            }
        fputs("}\n", f);
        return true;
    }
    fputc('{', f);
    any = false;
    for (pos = 0; cj_member(doc, &pos, &k, &v);) {
        if (s_context(k, clock))
            continue;
        if (lift != NULL && cj_key_is(k, lift) && cj_is_object(v)) {
            size_t lp = 0;
            cj_t lk, lv;
            while (cj_member(v, &lp, &lk, &lv)) {
                fputs(any ? "," : "", f);
                cj_write(f, lk);
                fputc(':', f);
                cj_write(f, lv);
                any = true;
            }
            continue;
        }
        fputs(any ? "," : "", f);
        cj_write(f, k);
        fputc(':', f);
        cj_write(f, v);
        any = true;
    }
    fputs("}}\n", f);
    return true;
}

json_t *ctl_jdoc_begin(ctl_jdoc_t *d)
{
    d->buf = NULL;
    d->len = 0;
    d->m = open_memstream(&d->buf, &d->len);
    if (d->m == NULL)
        return NULL;
    json_init(&d->j, d->m);
    return &d->j;
}

void ctl_jdoc_print(ctl_jdoc_t *d)
{
    cj_t doc;

    fclose(d->m);
    if (cj_parse(d->buf, d->len, &doc)) {
        cj_write(stdout, doc);
        fputc('\n', stdout);
    }
    free(d->buf);
}
