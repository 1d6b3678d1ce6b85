/*
 * What every icsctl command shares: finding the node, one control call,
 * reading a query's answer, reporting errors, and printing text from the
 * log or the node safely. Submitting a signed command is ctl_submit.c's.
 *
 * Two rules hold for everything printed here. Text that came from the
 * log or the node (names, reasons, notes, the node's text answers) goes
 * to a terminal only through ctl_put_safe, so that nobody's --as value or
 * note can move a cursor, set a title or hide a line in another partner's
 * terminal; under --json the same text is JSON-escaped instead, so the
 * bytes stay what they were. And an error is reported once, through
 * ctl_error: on stderr for people, or as the {"error": ...} object of
 * docs/cli-json.md under --json.
 */
#define _XOPEN_SOURCE 700 /* strptime */
#include <errno.h>
#include <pwd.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/ctlclient.h"
#include "common/envelope.h"
#include "common/json.h"

#include "ctl.h"

#define DEFAULT_CONFIG "/etc/icsd/icsd.conf"
#define DEFAULT_SOCKET "ipc:///run/icsd/control.sock"
#define S_TEXT_MAX (64u * 1024u)

/* ---- errors ---------------------------------------------------------------- */

static char *s_vformat(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static char *s_vformat(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s != NULL)
        vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

void ctl_error(opts_t *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = s_vformat(fmt, ap);
    va_end(ap);
    if (msg == NULL)
        return;
    if (o->json) {
        /* Several messages (a failure, then how to retry) make one. */
        size_t had = o->err != NULL ? strlen(o->err) : 0;
        char *all = realloc(o->err, had + strlen(msg) + 3);
        if (all != NULL) {
            strcpy(all + had, had ? "; " : "");
            strcat(all, msg);
            o->err = all;
        }
    } else {
        fputs("icsctl: ", stderr);
        ctl_put_safe(stderr, msg, strlen(msg), false);
        fputc('\n', stderr);
    }
    free(msg);
}

void ctl_note(opts_t *o, const char *fmt, ...)
{
    va_list ap;
    (void)o;
    va_start(ap, fmt);
    char *msg = s_vformat(fmt, ap);
    va_end(ap);
    if (msg == NULL)
        return;
    fputs("icsctl: ", stderr);
    ctl_put_safe(stderr, msg, strlen(msg), false);
    fputc('\n', stderr);
    free(msg);
}

void ctl_error_json(opts_t *o, int code)
{
    printf("{\"error\":{\"code\":%d,\"message\":", code);
    cj_write_str(stdout, o->err != NULL ? o->err : "failed");
    printf("}}\n");
}

/* ---- safe text ------------------------------------------------------------- */

/* Writes one character (the UTF-8 sequence at s) for a terminal; returns
 * the bytes it took and sets *cols to the columns written. */
static size_t s_put_char(FILE *f, const unsigned char *s, size_t n, bool lines, int *cols)
{
    uint32_t cp;
    size_t len = ctl_utf8_len(s, n, &cp);

    if (len == 0) {
        *cols = fprintf(f, "\\x%02x", s[0]);
        return 1;
    }
    if ((cp < 0x20 && !(lines && (cp == '\n' || cp == '\t'))) || cp == 0x7F) {
        *cols = fprintf(f, "\\x%02x", (unsigned)cp);
    } else if (cp >= 0x80 && cp <= 0x9F) {
        *cols = fprintf(f, "\\u%04x", (unsigned)cp);
    } else {
        fwrite(s, 1, len, f);
        *cols = 1;
    }
    return len;
}

void ctl_put_safe(FILE *f, const char *s, size_t len, bool lines)
{
    const unsigned char *u = (const unsigned char *)s;
    int cols;
    for (size_t i = 0; i < len;)
        i += s_put_char(f, u + i, len - i, lines, &cols);
}

void ctl_put_field(FILE *f, const char *s, int width)
{
    const unsigned char *u = (const unsigned char *)(s != NULL ? s : "");
    size_t len = strlen((const char *)u);
    int used = 0, cols;
    for (size_t i = 0; i < len;) {
        i += s_put_char(f, u + i, len - i, false, &cols);
        used += cols;
    }
    for (; used < width; used++)
        fputc(' ', f);
}

void ctl_put_text(const char *s)
{
    size_t n = strlen(s);
    ctl_put_safe(stdout, s, n, true);
    if (n > 0 && s[n - 1] != '\n')
        fputc('\n', stdout);
}

void ctl_print_lines(const char *text, const char *const *prefixes)
{
    const char *s = text;
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        for (size_t i = 0; prefixes[i] != NULL; i++)
            if (strncmp(s, prefixes[i], strlen(prefixes[i])) == 0) {
                fputs("  ", stdout);
                ctl_put_safe(stdout, s, n, false);
                fputc('\n', stdout);
                break;
            }
        s += n + (nl ? 1 : 0);
    }
}

/* ---- the node -------------------------------------------------------------- */

void ctl_fmt_time(uint64_t ms, char *out, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms == 0) {
        snprintf(out, size, "-");
        return;
    }
    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Where is the node? --socket, else the config's control endpoint. NULL
 * (reported) when the configuration given cannot be read. */
static const char *s_socket(opts_t *o)
{
    ics_config_t *cfg;
    ics_err_t err;
    const char *path, *out = DEFAULT_SOCKET;

    if (o->socket != NULL)
        return o->socket;
    if (o->config == NULL && access(DEFAULT_CONFIG, R_OK) != 0)
        return DEFAULT_SOCKET;
    path = o->config != NULL ? o->config : DEFAULT_CONFIG;
    cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL) {
        ctl_error(o, "out of memory");
        return NULL;
    }
    if (ics_config_load(path, cfg, &err) == ICS_OK) {
        ics_strcpy(o->socket_buf, sizeof o->socket_buf, cfg->control);
        out = o->socket_buf;
    } else if (o->config != NULL) {
        ctl_error(o, "%s", err.msg);
        out = NULL;
    }
    free(cfg);
    return out;
}

static const char *s_actor(opts_t *o)
{
    if (o->actor != NULL)
        return o->actor;
    const char *sudo = getenv("SUDO_USER");
    struct passwd *pw = getpwuid(getuid());
    snprintf(o->actor_buf, sizeof o->actor_buf, "%s", sudo != NULL ? sudo :
             pw != NULL ? pw->pw_name : "unknown");
    return o->actor_buf;
}

Ics__V1__ControlResponse *ctl_call(opts_t *o, Ics__V1__ControlRequest *req)
{
    Ics__V1__ControlResponse *resp = NULL;
    const char *socket = s_socket(o);
    ics_err_t err;

    if (socket == NULL)
        return NULL;
    req->group = (char *)(o->group != NULL ? o->group : "");
    req->actor = (char *)s_actor(o);
    req->timeout_ms = o->timeout_ms;
    if (ics_ctl_call(socket, req, o->timeout_ms + 2000, &resp, &err) != ICS_OK) {
        ctl_error(o, "%s", err.msg);
        return NULL;
    }
    if (resp->code != 0) {
        ctl_error(o, "%s", resp->error[0] ? resp->error : ics_strerror(resp->code));
        ics__v1__control_response__free_unpacked(resp, NULL);
        return NULL;
    }
    return resp;
}

const char *ctl_actor(opts_t *o)
{
    return s_actor(o);
}

Ics__V1__ControlResponse *ctl_call_quiet(opts_t *o, Ics__V1__ControlRequest *req,
                                         unsigned call_timeout_ms, int *code, char *msg,
                                         size_t size)
{
    Ics__V1__ControlResponse *resp = NULL;
    const char *socket = s_socket(o);
    ics_err_t err;

    *code = ICS_OK;
    if (socket == NULL) {
        *code = ICS_ECONFIG;
        snprintf(msg, size, "no control socket");
        return NULL;
    }
    req->group = (char *)(o->group != NULL ? o->group : "");
    req->actor = (char *)s_actor(o);
    req->timeout_ms = call_timeout_ms;
    *code = ics_ctl_call(socket, req, call_timeout_ms + 2000, &resp, &err);
    if (*code != ICS_OK) {
        snprintf(msg, size, "%s", err.msg);
        return NULL;
    }
    if (resp->code != 0) {
        *code = resp->code;
        snprintf(msg, size, "%s", resp->error[0] ? resp->error : ics_strerror(resp->code));
        ics__v1__control_response__free_unpacked(resp, NULL);
        return NULL;
    }
    return resp;
}

Ics__V1__ControlResponse *ctl_query_call(opts_t *o, const char *name, int argc, char **argv)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__QueryRequest q = ICS__V1__QUERY_REQUEST__INIT;
    Ics__V1__ControlResponse *resp;

    q.name = (char *)name;
    q.args = argv;
    q.n_args = (size_t)argc;
    q.fresh = o->fresh;
    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_QUERY;
    req.query = &q;
    resp = ctl_call(o, &req);
    if (resp != NULL && resp->body_case != ICS__V1__CONTROL_RESPONSE__BODY_QUERY) {
        ctl_error(o, "unexpected answer");
        ics__v1__control_response__free_unpacked(resp, NULL);
        resp = NULL;
    }
    return resp;
}

int ctl_print_answer(opts_t *o, const Ics__V1__QueryReply *q, const char *key, int shape,
                     const char *lift)
{
    if (!o->json) {
        ctl_put_text(q->text);
        return EXIT_OK;
    }
    /* Reshaped into a buffer first: nothing half-printed on a bad answer. */
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    bool ok = m != NULL && cj_reshape(m, q->json, key, shape, lift);
    if (m != NULL)
        fclose(m);
    if (ok)
        fwrite(buf, 1, len, stdout);
    else
        ctl_error(o, "the node's answer is not the JSON this icsctl expects");
    free(buf);
    return ok ? EXIT_OK : EXIT_FAIL;
}

int ctl_read(opts_t *o, const char *name, int argc, char **argv, const char *key, int shape)
{
    Ics__V1__ControlResponse *resp = ctl_query_call(o, name, argc, argv);
    if (resp == NULL)
        return EXIT_FAIL;
    int rc = ctl_print_answer(o, resp->query, key, shape, NULL);
    ics__v1__control_response__free_unpacked(resp, NULL);
    return rc;
}

char *ctl_query_text(opts_t *o, const char *name, int argc, char **argv, bool json)
{
    Ics__V1__ControlResponse *resp = ctl_query_call(o, name, argc, argv);
    char *out = NULL;
    if (resp == NULL)
        return NULL;
    out = strdup(json ? resp->query->json : resp->query->text);
    if (out == NULL)
        ctl_error(o, "out of memory");
    ics__v1__control_response__free_unpacked(resp, NULL);
    return out;
}

/* Does the array member list of the answer to query hold an object whose
 * "org" is org? -1 if the node could not say. */
static int s_listed(opts_t *o, const char *query, int argc, char **argv, const char *list,
                    const char *org)
{
    char *json = ctl_query_text(o, query, argc, argv, true);
    cj_t doc, arr, item, v;
    size_t pos = 0;
    int found = -1;

    if (json == NULL)
        return -1;
    if (cj_parse(json, strlen(json), &doc) && cj_get(doc, list, &arr) && cj_is_array(arr)) {
        found = 0;
        while (found == 0 && cj_element(arr, &pos, &item))
            if (cj_get(item, "org", &v) && cj_str_is(v, org))
                found = 1;
    }
    free(json);
    return found;
}

int ctl_org_known(opts_t *o, const char *org)
{
    char *argv[1] = {(char *)org};
    int known = s_listed(o, "members.list", 0, NULL, "members", org);
    if (known == 0)
        known = s_listed(o, "people.list", 1, argv, "organisations", org);
    return known;
}

/* ---- parsing helpers -------------------------------------------------------- */

bool ctl_u64(opts_t *o, const char *what, const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
        ctl_error(o, "%s: '%s' is not a whole number", what, s);
        return false;
    }
    *out = v;
    return true;
}

bool ctl_u32(opts_t *o, const char *what, const char *s, uint32_t *out)
{
    uint64_t v;
    if (!ctl_u64(o, what, s, &v))
        return false;
    if (v > UINT32_MAX) {
        ctl_error(o, "%s: %s is too large", what, s);
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

bool ctl_time(opts_t *o, const char *what, const char *s, uint64_t *out_ms)
{
    struct tm tm;

    memset(&tm, 0, sizeof tm);
    if (strcmp(s, "now") == 0) {
        *out_ms = (uint64_t)time(NULL) * 1000;
        return true;
    }
    if (s[0] == '+' && s[1] >= '0' && s[1] <= '9') {
        char *end = NULL;
        errno = 0;
        unsigned long long n = strtoull(s + 1, &end, 10);
        uint64_t mult = end[0] == '\0' || end[1] != '\0' ? 0
                        : end[0] == 'd' ? 86400000ull : end[0] == 'h' ? 3600000ull
                        : end[0] == 'm' ? 60000ull : end[0] == 's' ? 1000ull : 0;
        if (errno == 0 && mult != 0 && n <= UINT64_MAX / mult / 2) {
            *out_ms = (uint64_t)time(NULL) * 1000 + n * mult;
            return true;
        }
    }
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end == NULL || *end != '\0') {
        memset(&tm, 0, sizeof tm);
        end = strptime(s, "%Y-%m-%d", &tm);
    }
    if (end == NULL || *end != '\0') {
        ctl_error(o, "%s: '%s' is not a time (use 2026-12-01T09:00:00Z, 2026-12-01, now, or "
                     "+3d / +4h / +30m / +45s)", what, s);
        return false;
    }
    *out_ms = (uint64_t)timegm(&tm) * 1000;
    return true;
}

size_t ctl_split(char *s, char **items, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *t = strtok_r(s, ", ", &save); t != NULL && n < max; t = strtok_r(NULL, ", ", &save))
        items[n++] = t;
    return n;
}

char *ctl_read_file(opts_t *o, const char *what, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    char *buf = NULL, *w;
    size_t n;

    if (f == NULL) {
        ctl_error(o, "%s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    buf = malloc(S_TEXT_MAX + 2);
    if (buf == NULL) {
        ctl_error(o, "out of memory");
        goto out;
    }
    n = fread(buf, 1, S_TEXT_MAX + 1, f);
    if (ferror(f)) {
        ctl_error(o, "%s %s: %s", what, path, strerror(errno));
        goto fail;
    }
    if (n > S_TEXT_MAX) {
        ctl_error(o, "%s %s: longer than %u bytes", what, path, S_TEXT_MAX);
        goto fail;
    }
    buf[n] = '\0';
    if (strlen(buf) != n) {
        ctl_error(o, "%s %s: contains a NUL byte; expected text", what, path);
        goto fail;
    }
    w = buf;
    for (char *r = buf; *r; r++)
        if (!(r[0] == '\r' && r[1] == '\n'))
            *w++ = *r;
    *w = '\0';
    while (w > buf && w[-1] == '\n')
        *--w = '\0';
    goto out;
fail:
    free(buf);
    buf = NULL;
out:
    if (f != NULL && f != stdin)
        fclose(f);
    return buf;
}

bool ctl_transient(int code)
{
    return code == ICS_ETIMEDOUT || code == ICS_EIO || code == ICS_ESHUTDOWN ||
           code == ICS_EUNAVAIL || code == ICS_ENOTLEADER;
}

void ctl_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
