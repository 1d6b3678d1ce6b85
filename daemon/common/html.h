/*
 * Writing HTML safely, shared by the dashboard (daemon/dashboard.c) and the
 * public register (icsctl publish site): text from the log (partners'
 * titles, notes, names) is escaped before it reaches a page, and times are
 * written as <time> elements in UTC.
 */
#ifndef ICS_HTML_H
#define ICS_HTML_H

#include <stdint.h>
#include <stdio.h>

/* HTML-escapes s onto out (& < > " '); NULL writes nothing. */
void ics_html_escape(FILE *out, const char *s);

/* A <time> element for ms (milliseconds since 1970, UTC) showing
 * "YYYY-MM-DD HH:MM"; an en dash for 0. */
void ics_html_time(FILE *out, uint64_t ms);

#endif
