/*
 * Text and time rules the governance domains share (fsm_gov.h): how a
 * person, a line, a text and a subject are checked, and how log-clock
 * times and periods are written in messages. Every one of them shapes a
 * verdict or a rejection text, so changing one is a consensus change.
 */
#include "fsm/fsm_gov.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void ics_gov_time(uint64_t ms, char out[32])
{
    time_t t;
    struct tm tm;

    if (ms == 0 || ms / 1000 > (uint64_t)INT32_MAX * 64) {
        snprintf(out, 32, "-");
        return;
    }
    t = (time_t)(ms / 1000);
    if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%" PRIu64 " ms", ms);
}

void ics_gov_period(uint64_t ms, char *out, size_t size)
{
    static const struct { uint64_t ms; const char *one, *many; } units[] = {
        {86400000ull, "day", "days"}, {3600000ull, "hour", "hours"},
        {60000ull, "minute", "minutes"}, {1000ull, "second", "seconds"}};

    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (ms >= units[i].ms && ms % units[i].ms == 0) {
            uint64_t n = ms / units[i].ms;
            snprintf(out, size, "%" PRIu64 " %s", n, n == 1 ? units[i].one : units[i].many);
            return;
        }
    }
    snprintf(out, size, "%" PRIu64 " ms", ms);
}

bool ics_gov_valid_person(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= ICS_PERSON_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

bool ics_gov_valid_line(const char *s, size_t max, bool required)
{
    size_t n = strlen(s);
    if ((required && n == 0) || n >= max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

bool ics_gov_valid_text(const char *s, size_t max, bool required)
{
    size_t n = strlen(s);
    if ((required && n == 0) || n >= max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] < 0x20 && s[i] != '\n' && s[i] != '\t') || s[i] == 0x7f)
            return false;
    return true;
}

bool ics_gov_valid_subject(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= ICS_SUBJECT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

static char s_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

bool ics_gov_subject_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (s_lower(*a) != s_lower(*b))
            return false;
    return *a == *b;
}

void ics_gov_subject_key(const char *in, char out[ICS_SUBJECT_MAX])
{
    size_t i = 0;
    for (; in[i] && i < ICS_SUBJECT_MAX - 1; i++)
        out[i] = s_lower(in[i]);
    out[i] = '\0';
}

bool ics_gov_arg_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (s == NULL || *s == '\0')
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}
