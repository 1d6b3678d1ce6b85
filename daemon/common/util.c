/*
 * Error buffer, clocks, identifiers and the log line format shared by icsd
 * and icsctl.
 */
#include "ics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int ics_err(ics_err_t *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *ics_strerror(int code)
{
    switch (code) {
    case ICS_OK: return "ok";
    case ICS_EINVAL: return "invalid argument";
    case ICS_ENOMEM: return "out of memory";
    case ICS_EIO: return "input/output error";
    case ICS_ESIG: return "bad signature";
    case ICS_EGROUP: return "wrong group";
    case ICS_EMALFORMED: return "malformed input";
    case ICS_ETOOBIG: return "too big";
    case ICS_EKEY: return "unknown key";
    case ICS_ENOTLEADER: return "not the leader";
    case ICS_ETIMEDOUT: return "timed out";
    case ICS_EPERM: return "not permitted";
    case ICS_EEXIST: return "already exists";
    case ICS_ENOENT: return "not found";
    case ICS_ECONFIG: return "configuration error";
    case ICS_EVERSION: return "unsupported version";
    case ICS_EKIND: return "payload kind mismatch";
    case ICS_ESHUTDOWN: return "shutting down";
    case ICS_EUNAVAIL: return "no leader or no quorum";
    case ICS_EREJECTED: return "rejected";
    default: return "unknown error";
    }
}

static uint64_t s_clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ics_now_ms(void) { return s_clock_ns(CLOCK_REALTIME) / 1000000u; }
uint64_t ics_mono_ms(void) { return s_clock_ns(CLOCK_MONOTONIC) / 1000000u; }
uint64_t ics_mono_us(void) { return s_clock_ns(CLOCK_MONOTONIC) / 1000u; }

void ics_hex(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

bool ics_valid_id(const char *s, size_t max)
{
    size_t n = 0;
    if (s == NULL || *s == '\0')
        return false;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok || n + 1 >= max)
            return false;
    }
    return true;
}

bool ics_strcpy(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (size == 0)
        return false;
    if (n >= size) {
        memcpy(dst, src, size - 1);
        dst[size - 1] = '\0';
        return false;
    }
    memcpy(dst, src, n + 1);
    return true;
}

static int s_log_level = ICS_LOG_INFO;
static ics_log_sink_fn s_sink;

void ics_log_set_level(int level) { s_log_level = level; }
int ics_log_level(void) { return s_log_level; }
void ics_log_set_sink(ics_log_sink_fn fn) { s_sink = fn; }

/* systemd sets JOURNAL_STREAM to the device and inode of the stream it
 * connects standard error to; a child whose stderr was redirected keeps
 * the variable but not the stream. */
bool ics_log_journald(void)
{
    static int known = -1;
    if (known < 0) {
        const char *env = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        known = env != NULL && sscanf(env, "%llu:%llu", &dev, &ino) == 2 &&
                fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
                (unsigned long long)st.st_ino == ino;
    }
    return known == 1;
}

const char *ics_log_prefix(int level)
{
    static const char *prefixes[] = {"<0>", "<1>", "<2>", "<3>", "<4>", "<5>", "<6>", "<7>"};
    return ics_log_journald() && level >= 0 && level <= 7 ? prefixes[level] : "";
}

static void s_vlog(int level, const char *const *fields, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void s_vlog(int level, const char *const *fields, const char *fmt, va_list ap)
{
    static const char *names[] = {"emerg", "alert", "crit", "error", "warn",
                                  "notice", "info", "debug"};
    char line[1024];
    size_t n, start;

    if (level > s_log_level)
        return;
    if (ics_log_journald()) {
        n = (size_t)snprintf(line, sizeof line, "<%d>%s: ", level, names[level]);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
        n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ %s: ",
                              ts.tv_nsec / 1000000, names[level]);
    }
    start = n;
    vsnprintf(line + n, sizeof line - n, fmt, ap);
    if (s_sink != NULL && s_sink(level, line + start, fields))
        return;
    n = strlen(line);
    if (n + 1 < sizeof line) {
        line[n++] = '\n';
    } else {
        line[sizeof line - 1] = '\n';
        n = sizeof line;
    }
    /* One write per line so concurrent writers never interleave a line. */
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}

void ics_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vlog(level, NULL, fmt, ap);
    va_end(ap);
}

void ics_log_fields(int level, const char *const *fields, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vlog(level, fields, fmt, ap);
    va_end(ap);
}
