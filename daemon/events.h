/*
 * Domain events (icsctl watch): what happened in a group, derived from its
 * applied log. Every event belongs to one entry of the audit log and is
 * numbered within it, so its id "<group>:<index>:<n>" names it for good:
 * a watcher that resumes after an id is given exactly the events after it.
 *
 * An entry's events are a function of the entry (its command and verdict)
 * and of rows the state machine keeps for good, keyed by the position that
 * made them (a motion's closed_at, a consultation's opened_at and closed_at,
 * an amendment's final status_at, a system OPEL change, a request's
 * timeline): never of the wall clock or of when the question is asked.
 * Nothing here writes to the state machine's database.
 */
#ifndef ICS_EVENTS_H
#define ICS_EVENTS_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ics.h"
#include "fsm/fsm.h"

#define ICS_EVENT_KIND_MAX 32
#define ICS_EVENT_TEXT_MAX 256

/* How long before a consultation closes "closing soon" is said. */
#define ICS_EVENT_CLOSING_SOON_MS (24ull * 3600 * 1000)

typedef struct {
    uint64_t index;                  /* the entry's audit-log index */
    uint32_t n;                      /* its number among the entry's events, from 0 */
    char kind[ICS_EVENT_KIND_MAX];   /* "aid.offered", "motion.decided", ... */
    uint64_t clock_ms;               /* the log clock after the entry */
    char org[ICS_ORG_MAX];           /* the organisation that acted, or it is about */
    char other[ICS_ORG_MAX];         /* a second organisation concerned, "" if none */
    char actor[ICS_ACTOR_MAX];       /* the person who signed, "" for derived events */
    char on_behalf[ICS_ACTOR_MAX];   /* the person actor entered it for, "" if none */
    uint64_t ref;                    /* what it is about: request, offer, motion, ... */
    uint64_t ref2;                   /* the request of an offer, a motion's consultation ... */
    char text[ICS_EVENT_TEXT_MAX];   /* one line for people */
} ics_event_t;

typedef struct {
    ics_event_t *v;
    size_t n, cap;
} ics_events_t;

/* Appends the events of entry e (as the history holds it) to out, numbered
 * from 0. db is the group's state (ics_fsm_db), at e's position or later;
 * prev_clock_ms is the log clock after the entry before e (0 for the
 * first). ICS_OK, or ICS_ENOMEM / ICS_EIO. */
int ics_events_derive(sqlite3 *db, const ics_log_entry_t *e, uint64_t prev_clock_ms,
                      ics_events_t *out);

/* The same for n entries at consecutive positions (ICS_EINVAL if they are
 * not), reading each table of the state once for all of them: prev_clock_ms
 * is the clock after the entry before e[0]. Events come out in entry order.
 * What a node serving a watcher calls. */
int ics_events_derive_batch(sqlite3 *db, const ics_log_entry_t *e, size_t n,
                            uint64_t prev_clock_ms, ics_events_t *out);

/* Empties the list (keeps its memory). */
void ics_events_clear(ics_events_t *ev);
/* Frees the list's memory. */
void ics_events_free(ics_events_t *ev);

/* Does ev pass the filters? kinds: "aid" matches every aid.* kind,
 * "aid.offered" only that one; orgs: ev's org or other. An empty filter
 * passes everything. */
bool ics_event_matches(const ics_event_t *ev, char *const *kinds, size_t n_kinds,
                       char *const *orgs, size_t n_orgs);

/* Every kind an event can have, NULL-terminated (for --help and checks). */
extern const char *const ics_event_kinds[];

#endif
