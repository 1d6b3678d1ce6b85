/*
 * Notifications ([notify NAME] in icsd.conf): domain events (events.h) of
 * chosen kinds handed to a command (the event as JSON on its stdin) and/or
 * POSTed to a webhook, at least once, in log order, each with its event id
 * "<group>:<index>:<n>" for the receiver to drop a repeat.
 *
 * The node's loop reads the events (ics_notify_run, a bounded amount per
 * turn); a worker thread per target delivers them, so a slow receiver
 * holds up neither the loop nor the other targets. A cursor per target and group, in notify.db in the data
 * directory, moves only once the receiver has taken the event.
 */
#ifndef ICS_NOTIFY_H
#define ICS_NOTIFY_H

#include "common/config.h"
#include "common/ics.h"
#include "events.h"

struct ics_group;
typedef struct ics_notify ics_notify_t;

/* Checks cfg's [notify] sections beyond what the parser can (event kinds
 * known, URLs libcurl accepts). ICS_OK, or ICS_ECONFIG with
 * "FILE:LINE: message" in err. */
int ics_notify_check(const ics_config_t *cfg, ics_err_t *err);

/* Starts delivering for cfg's [notify] sections (copied: cfg may go after
 * this returns) into *out, which the caller owns; *out is NULL when there
 * are none. ICS_OK, or an error with err set. */
int ics_notify_new(const ics_config_t *cfg, ics_notify_t **out, ics_err_t *err);
/* Lets an attempt under way finish (2 s at most: then it is cut, and its
 * event is delivered again after the restart), then stops. */
void ics_notify_destroy(ics_notify_t **self_p);
/* Reads new events of the groups and queues those each target wants.
 * Called from the node's loop; never waits on a receiver. */
void ics_notify_run(ics_notify_t *self, struct ics_group *const *groups, size_t n_groups);

/* The event as one line of JSON ending in a newline: id, group, index, n,
 * kind, clock_ms, time, org, other, actor, ref, ref2, text and node (the
 * organisation whose node says so). What a command reads on stdin, a
 * webhook receives and /events sends. Caller frees; NULL if out of memory. */
char *ics_notify_event_json(const char *org, const char *group, const ics_event_t *ev,
                            const char *id);

#endif
