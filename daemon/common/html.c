/*
 * See html.h. Escaping covers the five characters that could end a text
 * node or an attribute value; callers quote every attribute with '"', so
 * escaped text is safe in either place.
 */
#include "html.h"

#include <time.h>

void ics_html_escape(FILE *out, const char *s)
{
    for (; s != NULL && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*s, out); break;
        }
    }
}

void ics_html_time(FILE *out, uint64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[32];
    if (ms == 0 || gmtime_r(&t, &tm) == NULL) {
        fputs("&ndash;", out);
        return;
    }
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
    fprintf(out, "<time datetime=\"%04d-%02d-%02dT%02d:%02d:%02dZ\">%s</time>", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, buf);
}
