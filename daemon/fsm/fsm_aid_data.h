/*
 * What the mutual-aid files share: the catalogue of resources and
 * urgencies, the statuses, a request's and an offer's row and how they are
 * read (fsm_aid_data.c). Included only by fsm_aid*.c: the domain's rules
 * are in fsm_aid.c, its queries and metrics in fsm_aid_query.c, the
 * bridge's view in fsm_aid_bridge.c.
 */
#ifndef ICS_FSM_AID_DATA_H
#define ICS_FSM_AID_DATA_H

#include "fsm/fsm_internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define AID_SPECIALTY_MAX 48
#define AID_SITE_MAX 120
#define AID_CONTACT_MAX 160
#define AID_TEXT_MAX 500
#define AID_LINK_OFFERS_MAX 64
#define AID_MIN_MS 60000ull
#define AID_HOUR_MS 3600000ull

/* Request (R_) and offer (O_) statuses, as stored. */
#define R_OPEN "open"
#define R_MET "met"
#define R_CLOSED "closed"
#define R_CANCELLED "cancelled"
#define R_EXPIRED "expired"
#define R_COMPLETED "completed"

#define O_OPEN "open"
#define O_AWAITING "awaiting_approval"
#define O_ACCEPTED "accepted"
#define O_DELIVERED "delivered"
#define O_RETURNED "returned"
#define O_WITHDRAWN "withdrawn"
#define O_LAPSED "lapsed"
#define O_DECLINED "declined"
#define O_RELEASED "released"

/* Offers that hold part of a request's quantity. */
#define AID_ALLOCATED "('" O_AWAITING "','" O_ACCEPTED "','" O_DELIVERED "','" O_RETURNED "')"
/* ... and of those, the ones not yet finished with. */
#define AID_OUTSTANDING "('" O_AWAITING "','" O_ACCEPTED "','" O_DELIVERED "')"

/* ---------------------------------------------------------------- catalogue */

enum { AID_SPEC_NONE, AID_SPEC_OPTIONAL, AID_SPEC_REQUIRED };

typedef struct {
    const char *id;
    const char *one, *many;  /* unit */
    int specialty;
    const char *what;
} ics_aid_resource_t;

typedef struct {
    const char *name;       /* wire and JSON */
    const char *words;      /* for people */
    uint64_t expiry_ms;     /* default time to expiry from raising */
    uint64_t escalate_ms;   /* default time to automatic escalation, 0: none */
} ics_aid_urgency_t;

/* The catalogue, ending with a NULL id. */
extern const ics_aid_resource_t ics_aid_resources[];
/* The catalogue entry of id, NULL if there is none. */
const ics_aid_resource_t *ics_aid_resource(const char *id);
/* "4 beds", "1 nurse". */
const char *ics_aid_qty(const char *resource, uint64_t n, char *buf, size_t size);
/* The urgency (an Ics__V1__AidUrgency), "unspecified" when out of range. */
const ics_aid_urgency_t *ics_aid_urgency(uint64_t u);

/* ---------------------------------------------------------------- statuses and formats */

static inline bool ics_aid_is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

/* Cancelled, expired or completed: nothing more happens to it. */
bool ics_aid_request_ended(const char *status);
bool ics_aid_known_status(const char *s);
/* "2026-03-01T17:00:00Z", "-" for 0. */
void ics_aid_fmt_time(uint64_t ms, char *out, size_t size);
/* "2h05m", "45s". */
void ics_aid_fmt_dur(uint64_t ms, char *out, size_t size);

/* ---------------------------------------------------------------- rows */

typedef struct {
    uint64_t id;
    char org[ICS_ORG_MAX];
    char resource[40];
    char specialty[AID_SPECIALTY_MAX + 1];
    uint64_t quantity, urgency, needed_from, needed_until, raised, expires, escalate_at;
    unsigned opel;
    char status[16];
    uint64_t status_ms, revision;
    bool escalated;
    uint64_t escalated_ms, escalated_qty;
    char region[ICS_GROUP_MAX];
    uint64_t region_request, region_revision;
    char region_status[16];
    uint64_t region_offered, region_accepted, region_delivered, region_returned;
    char link_group[ICS_GROUP_MAX];
    uint64_t link_request;
    char link_requester[ICS_ORG_MAX];
    /* From its offers. */
    uint64_t allocated;      /* awaiting approval, accepted, delivered or returned */
    uint64_t outstanding;    /* offers awaiting approval, accepted or delivered */
    uint64_t offered_open;   /* quantity in open offers */
    uint64_t offered;        /* quantity in live offers: open, or holding aid */
    uint64_t delivered;      /* delivered and not yet returned */
    uint64_t returned;
} ics_aid_req_t;

typedef struct {
    uint64_t id, request, quantity, valid_until, offered_ms, accepted, accepted_at;
    uint64_t status_ms, delivered_ms, returned_ms;
    char org[ICS_ORG_MAX];
    char status[24];
    uint64_t approval_value;
    char approval_role[32];
    char approval_body[32];
    char approval_text[256];
} ics_aid_offer_t;

/* A request with the sums over its offers. ICS_ENOENT if there is none. */
int ics_aid_load_req(ics_db_t *db, uint64_t id, ics_aid_req_t *r);
/* The mirror of (home group, home request) in this group. ICS_ENOENT if none. */
int ics_aid_load_mirror(ics_db_t *db, const char *home, uint64_t home_id, ics_aid_req_t *r);
/* Fills the sums over the request's offers (ics_aid_load_req does). */
int ics_aid_sums(ics_db_t *db, ics_aid_req_t *r);
/* ICS_ENOENT if there is no such offer. */
int ics_aid_load_offer(ics_db_t *db, uint64_t id, ics_aid_offer_t *o);
/* The group's regional group ('' if none) and who set it. */
int ics_aid_settings(ics_db_t *db, char region[ICS_GROUP_MAX], char by[ICS_ORG_MAX]);
/* What the request still needs from offers in this group. */
uint64_t ics_aid_local_need(const ics_aid_req_t *r);
/* Aid agreed on the request here and, for an escalated one, in the region. */
uint64_t ics_aid_covered(const ics_aid_req_t *r);

/* ---------------------------------------------------------------- the other files */

/* fsm_aid_query.c */
extern const ics_fsm_query_t ics_aid_queries[];
void ics_aid_metrics(ics_db_t *db, const char *group, FILE *out);

#endif
