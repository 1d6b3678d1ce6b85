/*
 * Mutual aid's catalogue, statuses and rows (fsm_aid_data.h): what the domain's
 * rules, its queries and the bridge's view all read.
 */
#include "fsm/fsm_aid_data.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- catalogue */

const ics_aid_resource_t ics_aid_resources[] = {
    {"ga_beds", "bed", "beds", AID_SPEC_OPTIONAL, "adult general and acute beds"},
    {"critical_care_beds", "bed", "beds", AID_SPEC_OPTIONAL,
     "adult critical care beds (level 2/3)"},
    {"paediatric_beds", "bed", "beds", AID_SPEC_OPTIONAL, "paediatric beds"},
    {"paediatric_critical_care_beds", "bed", "beds", AID_SPEC_OPTIONAL,
     "paediatric critical care beds"},
    {"neonatal_cots", "cot", "cots", AID_SPEC_OPTIONAL, "neonatal intensive and special care cots"},
    {"mental_health_beds", "bed", "beds", AID_SPEC_OPTIONAL, "mental health inpatient beds"},
    {"community_beds", "bed", "beds", AID_SPEC_OPTIONAL, "community and intermediate care beds"},
    {"care_home_beds", "bed", "beds", AID_SPEC_OPTIONAL, "care home beds for discharge"},
    {"registered_nurses", "nurse", "nurses", AID_SPEC_REQUIRED,
     "registered nurses, by specialty (e.g. ed, critical_care, paediatrics)"},
    {"doctors", "doctor", "doctors", AID_SPEC_REQUIRED, "doctors, by specialty and grade"},
    {"allied_health_professionals", "professional", "professionals", AID_SPEC_REQUIRED,
     "allied health professionals, by profession"},
    {"support_workers", "worker", "workers", AID_SPEC_OPTIONAL, "healthcare support workers"},
    {"ambulance_crews", "crew", "crews", AID_SPEC_OPTIONAL, "double-crewed ambulances with crew"},
    {"patient_transport", "vehicle", "vehicles", AID_SPEC_OPTIONAL,
     "non-emergency patient transport vehicles with crew"},
    {"ventilators", "ventilator", "ventilators", AID_SPEC_OPTIONAL, "ventilators"},
    {"equipment", "item", "items", AID_SPEC_REQUIRED, "other equipment (say what in specialty)"},
    {"discharge_packages", "package", "packages", AID_SPEC_OPTIONAL,
     "home care and discharge-to-assess packages"},
    {"other", "unit", "units", AID_SPEC_REQUIRED, "anything else (say what in specialty)"},
    {NULL, NULL, NULL, 0, NULL},
};

const ics_aid_resource_t *ics_aid_resource(const char *id)
{
    for (const ics_aid_resource_t *r = ics_aid_resources; r->id != NULL; r++)
        if (strcmp(r->id, id) == 0)
            return r;
    return NULL;
}

/* "4 beds", "1 nurse". */
const char *ics_aid_qty(const char *resource, uint64_t n, char *buf, size_t size)
{
    const ics_aid_resource_t *r = ics_aid_resource(resource);
    snprintf(buf, size, "%" PRIu64 " %s", n, r == NULL ? "units" : n == 1 ? r->one : r->many);
    return buf;
}


/* Indexed by Ics__V1__AidUrgency. */
static const ics_aid_urgency_t s_urgencies[] = {
    {"unspecified", "unspecified", 0, 0},
    {"immediate", "immediate", 6 * AID_HOUR_MS, 30 * AID_MIN_MS},
    {"within_4h", "within 4 hours", 12 * AID_HOUR_MS, 2 * AID_HOUR_MS},
    {"within_24h", "within 24 hours", 48 * AID_HOUR_MS, 12 * AID_HOUR_MS},
    {"planned", "planned", 14 * 24 * AID_HOUR_MS, 0},
};
#define S_N_URGENCIES (sizeof s_urgencies / sizeof s_urgencies[0])

const ics_aid_urgency_t *ics_aid_urgency(uint64_t u)
{
    return u < S_N_URGENCIES ? &s_urgencies[u] : &s_urgencies[0];
}

/* ---------------------------------------------------------------- statuses */

bool ics_aid_request_ended(const char *status)
{
    return ics_aid_is(status, R_CANCELLED) || ics_aid_is(status, R_EXPIRED) ||
           ics_aid_is(status, R_COMPLETED);
}

bool ics_aid_known_status(const char *s)
{
    return ics_aid_is(s, R_OPEN) || ics_aid_is(s, R_MET) || ics_aid_is(s, R_CLOSED) ||
           ics_aid_request_ended(s);
}

/* ---------------------------------------------------------------- formats */

void ics_aid_fmt_time(uint64_t ms, char *out, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (ms == 0 || gmtime_r(&t, &tm) == NULL) {
        snprintf(out, size, "-");
        return;
    }
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "2h05m", "45s". */
void ics_aid_fmt_dur(uint64_t ms, char *out, size_t size)
{
    uint64_t s = ms / 1000;
    if (s < 60)
        snprintf(out, size, "%" PRIu64 "s", s);
    else if (s < 3600)
        snprintf(out, size, "%" PRIu64 "m", s / 60);
    else if (s < 86400)
        snprintf(out, size, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s / 60 % 60);
    else
        snprintf(out, size, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s / 3600 % 24);
}

/* ---------------------------------------------------------------- rows */


#define S_REQ_COLS                                                                           \
    "id, org, resource, specialty, quantity, urgency, needed_from, needed_until, raised_ms," \
    " expires_ms, escalate_at, opel, status, status_ms, revision, escalated, escalated_ms,"  \
    " escalated_qty, region, region_request, region_revision, region_status,"               \
    " region_offered, region_accepted, region_delivered, region_returned, link_group,"      \
    " link_request, link_requester"

static void s_read_req(sqlite3_stmt *st, ics_aid_req_t *r)
{
    memset(r, 0, sizeof *r);
    r->id = ics_sql_column_u64(st, 0);
    ics_sql_column_text(st, 1, r->org, sizeof r->org);
    ics_sql_column_text(st, 2, r->resource, sizeof r->resource);
    ics_sql_column_text(st, 3, r->specialty, sizeof r->specialty);
    r->quantity = ics_sql_column_u64(st, 4);
    r->urgency = ics_sql_column_u64(st, 5);
    r->needed_from = ics_sql_column_u64(st, 6);
    r->needed_until = ics_sql_column_u64(st, 7);
    r->raised = ics_sql_column_u64(st, 8);
    r->expires = ics_sql_column_u64(st, 9);
    r->escalate_at = ics_sql_column_u64(st, 10);
    r->opel = (unsigned)sqlite3_column_int(st, 11);
    ics_sql_column_text(st, 12, r->status, sizeof r->status);
    r->status_ms = ics_sql_column_u64(st, 13);
    r->revision = ics_sql_column_u64(st, 14);
    r->escalated = sqlite3_column_int(st, 15) != 0;
    r->escalated_ms = ics_sql_column_u64(st, 16);
    r->escalated_qty = ics_sql_column_u64(st, 17);
    ics_sql_column_text(st, 18, r->region, sizeof r->region);
    r->region_request = ics_sql_column_u64(st, 19);
    r->region_revision = ics_sql_column_u64(st, 20);
    ics_sql_column_text(st, 21, r->region_status, sizeof r->region_status);
    r->region_offered = ics_sql_column_u64(st, 22);
    r->region_accepted = ics_sql_column_u64(st, 23);
    r->region_delivered = ics_sql_column_u64(st, 24);
    r->region_returned = ics_sql_column_u64(st, 25);
    ics_sql_column_text(st, 26, r->link_group, sizeof r->link_group);
    r->link_request = ics_sql_column_u64(st, 27);
    ics_sql_column_text(st, 28, r->link_requester, sizeof r->link_requester);
}

/* Fills the sums over its offers. */
int ics_aid_sums(ics_db_t *db, ics_aid_req_t *r)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = ics_sql_query(db, &st,
                       "SELECT"
                       " coalesce(sum(CASE WHEN status IN " AID_ALLOCATED " THEN accepted END), 0),"
                       " coalesce(sum(status IN " AID_OUTSTANDING "), 0),"
                       " coalesce(sum(CASE WHEN status = '" O_OPEN "' THEN quantity END), 0),"
                       " coalesce(sum(CASE WHEN status = '" O_DELIVERED "' THEN accepted END), 0),"
                       " coalesce(sum(CASE WHEN status = '" O_RETURNED "' THEN accepted END), 0),"
                       " coalesce(sum(CASE WHEN status = '" O_OPEN "' OR status IN " AID_ALLOCATED
                       " THEN quantity END), 0)"
                       " FROM aid_offers WHERE request = ?1",
                       "u", r->id);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK) {
        r->allocated = ics_sql_column_u64(st, 0);
        r->outstanding = ics_sql_column_u64(st, 1);
        r->offered_open = ics_sql_column_u64(st, 2);
        r->delivered = ics_sql_column_u64(st, 3);
        r->returned = ics_sql_column_u64(st, 4);
        r->offered = ics_sql_column_u64(st, 5);
    } else {
        rc = ICS_EIO;
    }
    ics_sql_release(db, st);
    return rc;
}

/* ICS_ENOENT if there is no such request. */
int ics_aid_load_req(ics_db_t *db, uint64_t id, ics_aid_req_t *r)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (id == 0 || id > INT64_MAX)
        return ICS_ENOENT;
    rc = ics_sql_query(db, &st, "SELECT " S_REQ_COLS " FROM aid_requests WHERE id = ?1", "u", id);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK)
        s_read_req(st, r);
    ics_sql_release(db, st);
    return rc == ICS_OK ? ics_aid_sums(db, r) : rc;
}

/* The mirror of (home group, home request) in this group. ICS_ENOENT if none. */
int ics_aid_load_mirror(ics_db_t *db, const char *home, uint64_t home_id, ics_aid_req_t *r)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = ics_sql_query(db, &st,
                       "SELECT " S_REQ_COLS " FROM aid_requests"
                       " WHERE link_group = ?1 AND link_request = ?2",
                       "tu", home, home_id > INT64_MAX ? 0 : home_id);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK)
        s_read_req(st, r);
    ics_sql_release(db, st);
    return rc == ICS_OK ? ics_aid_sums(db, r) : rc;
}


int ics_aid_load_offer(ics_db_t *db, uint64_t id, ics_aid_offer_t *o)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(o, 0, sizeof *o);
    if (id == 0 || id > INT64_MAX)
        return ICS_ENOENT;
    rc = ics_sql_query(db, &st,
                       "SELECT id, request, quantity, valid_until, offered_ms, accepted,"
                       " accepted_at, status_ms, delivered_ms, returned_ms, org, status,"
                       " approval_value, approval_role, approval_body, approval_text"
                       " FROM aid_offers WHERE id = ?1",
                       "u", id);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK) {
        o->id = ics_sql_column_u64(st, 0);
        o->request = ics_sql_column_u64(st, 1);
        o->quantity = ics_sql_column_u64(st, 2);
        o->valid_until = ics_sql_column_u64(st, 3);
        o->offered_ms = ics_sql_column_u64(st, 4);
        o->accepted = ics_sql_column_u64(st, 5);
        o->accepted_at = ics_sql_column_u64(st, 6);
        o->status_ms = ics_sql_column_u64(st, 7);
        o->delivered_ms = ics_sql_column_u64(st, 8);
        o->returned_ms = ics_sql_column_u64(st, 9);
        ics_sql_column_text(st, 10, o->org, sizeof o->org);
        ics_sql_column_text(st, 11, o->status, sizeof o->status);
        o->approval_value = ics_sql_column_u64(st, 12);
        ics_sql_column_text(st, 13, o->approval_role, sizeof o->approval_role);
        ics_sql_column_text(st, 14, o->approval_body, sizeof o->approval_body);
        ics_sql_column_text(st, 15, o->approval_text, sizeof o->approval_text);
    }
    ics_sql_release(db, st);
    return rc;
}

/* The group's regional group ('' if none) and who set it. */
int ics_aid_settings(ics_db_t *db, char region[ICS_GROUP_MAX], char by[ICS_ORG_MAX])
{
    sqlite3_stmt *st = NULL;
    int rc;

    region[0] = by[0] = '\0';
    rc = ics_sql_prepare(db, "SELECT region, region_by FROM aid_settings WHERE id = 1", &st);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK) {
        ics_strcpy(region, ICS_GROUP_MAX, ics_sql_column_str(st, 0));
        ics_strcpy(by, ICS_ORG_MAX, ics_sql_column_str(st, 1));
    }
    ics_sql_release(db, st);
    return rc == ICS_ENOENT ? ICS_OK : rc;
}

/* What the request still needs from offers in this group. */
uint64_t ics_aid_local_need(const ics_aid_req_t *r)
{
    uint64_t held = r->allocated + (r->escalated ? r->escalated_qty : 0);
    return held >= r->quantity ? 0 : r->quantity - held;
}

/* Aid agreed on the request here and, for an escalated one, in the region. */
uint64_t ics_aid_covered(const ics_aid_req_t *r)
{
    return r->allocated + (r->escalated ? r->region_accepted : 0);
}
