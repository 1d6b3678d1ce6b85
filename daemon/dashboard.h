/*
 * The control-room dashboard ([http] dashboard = yes): one server-rendered
 * HTML page (GET /) of every group's OPEL (now, and over time as an inline
 * SVG chart), open mutual-aid requests and offers with their ages,
 * escalations, motions and consultations in progress with their deadlines,
 * and plans; and GET /events, the groups' domain events (events.h) as
 * server-sent events, which the page's few lines of script use to fetch
 * the page again. Read-only: built from the state machine's queries, as
 * icsctl sees them. Runs on the node's loop thread (http.c).
 */
#ifndef ICS_DASHBOARD_H
#define ICS_DASHBOARD_H

#include <stdbool.h>
#include <stdio.h>

struct ics_node;
typedef struct ics_dashboard_stream ics_dashboard_stream_t;

/* Writes the whole page (HTML5, UTF-8) to out. */
void ics_dashboard_page(struct ics_node *node, FILE *out);

/* A /events reader, from the log's end in every group, or from just after
 * last_event_id ("<group>:<index>:<n>", the SSE Last-Event-ID) in its
 * group. NULL if out of memory; the caller frees it with _free. */
ics_dashboard_stream_t *ics_dashboard_stream_new(struct ics_node *node, const char *last_event_id);
void ics_dashboard_stream_free(ics_dashboard_stream_t **self_p);
/* Has any group applied entries the stream has not read yet? */
bool ics_dashboard_stream_pending(ics_dashboard_stream_t *self);
/* Writes the events of the entries not yet read (a bounded number per
 * call) as SSE messages to out. Returns how many events were written. */
size_t ics_dashboard_stream_read(ics_dashboard_stream_t *self, FILE *out);

#endif
