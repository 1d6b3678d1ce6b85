/*
 * Mutual aid's queries (aid.show, aid.list, aid.board, aid.resources) and
 * its /metrics families: read-only views of the state fsm_aid.c keeps.
 * Nothing here is hashed into the audit chain.
 */
#include "fsm/fsm_aid_data.h"
#include "common/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_urgency_name(uint64_t u)
{
    return ics_aid_urgency(u)->name;
}

/* "RTD" or, for a mirror, "RTD@nenc" (its home requester and group). */
static void s_requester(const ics_aid_req_t *r, char *out, size_t size)
{
    if (r->link_group[0] != '\0')
        snprintf(out, size, "%s@%s", r->link_requester, r->link_group);
    else
        snprintf(out, size, "%s", r->org);
}

static void s_json_req(json_t *j, const ics_aid_req_t *r, uint64_t clock)
{
    json_u64(j, "id", r->id);
    json_str(j, "org", r->org);
    json_str(j, "resource", r->resource);
    json_str(j, "unit",
             ics_aid_resource(r->resource) ? ics_aid_resource(r->resource)->many : "units");
    json_str(j, "specialty", r->specialty);
    json_u64(j, "quantity", r->quantity);
    json_str(j, "urgency", s_urgency_name(r->urgency));
    json_u64(j, "needed_from_ms", r->needed_from);
    json_u64(j, "needed_until_ms", r->needed_until);
    json_u64(j, "raised_ms", r->raised);
    json_u64(j, "age_ms", clock > r->raised ? clock - r->raised : 0);
    json_u64(j, "expires_ms", r->expires);
    json_u64(j, "escalate_at_ms", r->escalate_at);
    json_u64(j, "opel", r->opel);
    json_str(j, "status", r->status);
    json_u64(j, "status_ms", r->status_ms);
    json_u64(j, "revision", r->revision);
    json_u64(j, "offered", r->offered + (r->escalated ? r->region_offered : 0));
    json_u64(j, "offered_open", r->offered_open);
    json_u64(j, "accepted", ics_aid_covered(r));
    json_u64(j, "accepted_here", r->allocated);
    json_u64(j, "in_use", r->delivered + (r->escalated ? r->region_delivered : 0));
    json_u64(j, "returned", r->returned + (r->escalated ? r->region_returned : 0));
    json_u64(j, "still_needed",
             r->quantity > ics_aid_covered(r) ? r->quantity - ics_aid_covered(r) : 0);
    json_obj(j, "escalation");
    json_bool(j, "escalated", r->escalated);
    if (r->escalated) {
        json_u64(j, "at_ms", r->escalated_ms);
        json_u64(j, "quantity", r->escalated_qty);
        json_str(j, "region", r->region);
        json_u64(j, "region_request", r->region_request);
        json_str(j, "region_status", r->region_status[0] ? r->region_status : "not yet mirrored");
        json_u64(j, "region_offered", r->region_offered);
        json_u64(j, "region_accepted", r->region_accepted);
        json_u64(j, "region_delivered", r->region_delivered);
        json_u64(j, "region_returned", r->region_returned);
    }
    json_end_obj(j);
    if (r->link_group[0] != '\0') {
        json_obj(j, "link");
        json_str(j, "home_group", r->link_group);
        json_u64(j, "home_request", r->link_request);
        json_str(j, "home_requester", r->link_requester);
        json_end_obj(j);
    }
}

/* One summary line per request, for aid.list and aid.board. */
static void s_text_req_line(FILE *text, const ics_aid_req_t *r, uint64_t clock)
{
    char who[96], what[96], age[16], status[160];

    s_requester(r, who, sizeof who);
    snprintf(what, sizeof what, "%s%s%s", r->resource, r->specialty[0] ? "/" : "",
             r->specialty);
    ics_aid_fmt_dur(clock > r->raised ? clock - r->raised : 0, age, sizeof age);
    if (r->escalated)
        snprintf(status, sizeof status, "%s, escalated to %s%s", r->status, r->region,
                 r->region_request ? "" : " (not yet raised there)");
    else
        snprintf(status, sizeof status, "%s", r->status);
    fprintf(text, "%-6" PRIu64 " %-14s %-28.40s %4" PRIu64 " %7" PRIu64 " %8" PRIu64 " %6" PRIu64
                  " %-10s %-6s %s\n",
            r->id, who, what, r->quantity, r->offered + (r->escalated ? r->region_offered : 0),
            ics_aid_covered(r), r->delivered + (r->escalated ? r->region_delivered : 0),
            s_urgency_name(r->urgency), age, status);
}

static void s_text_req_header(FILE *text)
{
    fprintf(text, "%-6s %-14s %-28s %4s %7s %8s %6s %-10s %-6s %s\n", "ID", "REQUESTER",
            "RESOURCE", "NEED", "OFFERED", "ACCEPTED", "IN USE", "URGENCY", "AGE", "STATUS");
}

static int s_json_offers(ics_db_t *db, json_t *j, FILE *text, const ics_aid_req_t *r,
                         uint64_t clock, bool brief)
{
    sqlite3_stmt *st = NULL;
    bool any = false;
    int rc;

    rc = ics_sql_query(db, &st,
                       "SELECT id, org, actor, quantity, conditions, contact,"
                       " valid_until, offered_ms, status, status_note, accepted,"
                       " approval_text, approved_by, delivered_ms, returned_ms"
                       " FROM aid_offers WHERE request = ?1 ORDER BY id",
                       "u", r->id);
    if (rc != ICS_OK)
        return rc;
    json_arr(j, "offers");
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        uint64_t id = ics_sql_column_u64(st, 0), qty = ics_sql_column_u64(st, 3);
        uint64_t until = ics_sql_column_u64(st, 6), acc = ics_sql_column_u64(st, 10);
        const char *status = ics_sql_column_str(st, 8);
        char u[32];
        json_obj(j, NULL);
        json_u64(j, "id", id);
        json_str(j, "org", ics_sql_column_str(st, 1));
        json_str(j, "actor", ics_sql_column_str(st, 2));
        json_u64(j, "quantity", qty);
        json_str(j, "conditions", ics_sql_column_str(st, 4));
        json_str(j, "contact", ics_sql_column_str(st, 5));
        json_u64(j, "valid_until_ms", until);
        json_u64(j, "offered_ms", ics_sql_column_u64(st, 7));
        json_str(j, "status", status);
        json_str(j, "status_note", ics_sql_column_str(st, 9));
        json_u64(j, "accepted", acc);
        json_str(j, "approval", ics_sql_column_str(st, 11));
        json_str(j, "approved_by", ics_sql_column_str(st, 12));
        json_u64(j, "delivered_ms", ics_sql_column_u64(st, 13));
        json_u64(j, "returned_ms", ics_sql_column_u64(st, 14));
        json_end_obj(j);
        if (brief) {
            if (ics_aid_is(status, O_OPEN) || ics_aid_is(status, O_AWAITING) ||
                ics_aid_is(status, O_ACCEPTED) || ics_aid_is(status, O_DELIVERED) ||
                ics_aid_is(status, O_RETURNED)) {
                fprintf(text, "%s offer %" PRIu64 " %s %" PRIu64, any ? "," : "        offers:",
                        id, ics_sql_column_str(st, 1), qty);
                if (!ics_aid_is(status, O_OPEN))
                    fprintf(text, " (%s %" PRIu64 ")", status, acc);
                any = true;
            }
            continue;
        }
        if (!any)
            fprintf(text, "\n%-6s %-10s %4s %8s %-18s %-20s %s\n", "OFFER", "FROM", "QTY",
                    "ACCEPTED", "STATUS", "VALID UNTIL", "CONDITIONS / NOTE");
        any = true;
        if (until == 0)
            snprintf(u, sizeof u, "while open");
        else
            ics_aid_fmt_time(until, u, sizeof u);
        fprintf(text, "%-6" PRIu64 " %-10s %4" PRIu64 " %8" PRIu64 " %-18s %-20s %s%s%s\n", id,
                ics_sql_column_str(st, 1), qty, acc, status, u, ics_sql_column_str(st, 4),
                ics_sql_column_str(st, 4)[0] && ics_sql_column_str(st, 9)[0] ? " / " : "",
                ics_sql_column_str(st, 9));
        if (ics_aid_is(status, O_DELIVERED) && r->needed_until != 0 && r->needed_until <= clock)
            fprintf(text, "%-6s overdue for hand-back: needed only until the request's end\n",
                    "");
    }
    ics_sql_release(db, st);
    json_end_arr(j);
    if (brief && any)
        fputc('\n', text);
    return rc == ICS_ENOENT ? ICS_OK : rc;
}

static int s_json_link_offers(ics_db_t *db, json_t *j, FILE *text, const ics_aid_req_t *r,
                              bool brief)
{
    sqlite3_stmt *st = NULL;
    bool any = false;
    int rc;

    rc = ics_sql_query(db, &st,
                       "SELECT org, offered, accepted, delivered, returned"
                       " FROM aid_link_offers WHERE request = ?1 ORDER BY org",
                       "u", r->id);
    if (rc != ICS_OK)
        return rc;
    json_arr(j, "region_offers");
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        json_obj(j, NULL);
        json_str(j, "org", ics_sql_column_str(st, 0));
        json_u64(j, "offered", ics_sql_column_u64(st, 1));
        json_u64(j, "accepted", ics_sql_column_u64(st, 2));
        json_u64(j, "delivered", ics_sql_column_u64(st, 3));
        json_u64(j, "returned", ics_sql_column_u64(st, 4));
        json_end_obj(j);
        if (brief) {
            fprintf(text, "%s %s %" PRIu64 " (accepted %" PRIu64 ")",
                    any ? "," : "        in the region:", ics_sql_column_str(st, 0),
                    ics_sql_column_u64(st, 1), ics_sql_column_u64(st, 2));
        } else {
            if (!any)
                fprintf(text, "\nIN %s (request %" PRIu64 " there)\n%-10s %7s %8s %6s %11s\n",
                        r->region, r->region_request, "FROM", "OFFERED", "ACCEPTED",
                        "IN USE", "HANDED BACK");
            fprintf(text, "%-10s %7" PRIu64 " %8" PRIu64 " %6" PRIu64 " %11" PRIu64 "\n",
                    ics_sql_column_str(st, 0), ics_sql_column_u64(st, 1), ics_sql_column_u64(st, 2),
                    ics_sql_column_u64(st, 3), ics_sql_column_u64(st, 4));
        }
        any = true;
    }
    ics_sql_release(db, st);
    json_end_arr(j);
    if (brief && any)
        fputc('\n', text);
    return rc == ICS_ENOENT ? ICS_OK : rc;
}

static bool s_parse_id(const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    if (s == NULL || s[0] < '0' || s[0] > '9')
        return false;
    v = strtoull(s, &end, 10);
    if (end == NULL || *end != '\0' || v == 0 || v > INT64_MAX)
        return false;
    *out = v;
    return true;
}

/* What aid.show prints of a request beyond ics_aid_req_t. */
typedef struct {
    char site[AID_SITE_MAX + 1];
    char reason[AID_TEXT_MAX + 1];
    char contact[AID_CONTACT_MAX + 1];
    char actor[ICS_ACTOR_MAX];
    char note[300];
} s_req_words_t;

/* The request's words; left empty if they cannot be read (the show goes on
 * without them). */
static void s_req_words(ics_db_t *db, uint64_t id, s_req_words_t *w)
{
    sqlite3_stmt *st = NULL;

    memset(w, 0, sizeof *w);
    if (ics_sql_query(db, &st,
                      "SELECT site, reason, contact, actor, status_note FROM aid_requests"
                      " WHERE id = ?1",
                      "u", id) == ICS_OK) {
        if (ics_sql_row(db, st) == ICS_OK) {
            ics_sql_column_text(st, 0, w->site, sizeof w->site);
            ics_sql_column_text(st, 1, w->reason, sizeof w->reason);
            ics_sql_column_text(st, 2, w->contact, sizeof w->contact);
            ics_sql_column_text(st, 3, w->actor, sizeof w->actor);
            ics_sql_column_text(st, 4, w->note, sizeof w->note);
        }
    }
    ics_sql_release(db, st);
}

/* The request in text, down to where it was escalated from. */
static void s_show_request(const char *group, const ics_aid_req_t *r, const s_req_words_t *w,
                           FILE *text)
{
    char who[160], t1[32], t2[32], t3[32], q[48];

    s_requester(r, who, sizeof who);
    fprintf(text, "Request %" PRIu64 " in %s: %s — %s%s%s\n", r->id, group,
            ics_aid_qty(r->resource, r->quantity, q, sizeof q), r->status,
            w->note[0] ? ": " : "", w->note);
    if (r->link_group[0] != '\0')
        snprintf(who, sizeof who, "%s, acting here for %s of %s", r->org, r->link_requester,
                 r->link_group);
    fprintf(text, "  requester   %s (%s)", who, w->actor);
    if (r->opel != 0)
        fprintf(text, ", at OPEL %u when raised\n", r->opel);
    else
        fprintf(text, ", no current OPEL report when raised\n");
    fprintf(text, "  resource    %s%s%s (%s), %s\n", r->resource, r->specialty[0] ? ", " : "",
            r->specialty,
            ics_aid_resource(r->resource) ? ics_aid_resource(r->resource)->what : "?",
            ics_aid_urgency(r->urgency)->words);
    ics_aid_fmt_time(r->needed_from, t1, sizeof t1);
    ics_aid_fmt_time(r->needed_until, t2, sizeof t2);
    fprintf(text, "  needed      from %s until %s\n", t1,
            r->needed_until ? t2 : "handed back");
    fprintf(text, "  site        %s\n  reason      %s\n  contact     %s\n", w->site, w->reason,
            w->contact);
    ics_aid_fmt_time(r->raised, t1, sizeof t1);
    ics_aid_fmt_time(r->expires, t2, sizeof t2);
    ics_aid_fmt_time(r->escalate_at, t3, sizeof t3);
    fprintf(text, "  raised      %s; expires %s; automatic escalation %s%s\n", t1, t2,
            r->escalate_at ? "at " : "", r->escalate_at ? t3 : "off");
    fprintf(text, "  agreed      %" PRIu64 " of %" PRIu64 " (here %" PRIu64 "%s",
            ics_aid_covered(r), r->quantity, r->allocated, r->escalated ? ", in " : "");
    if (r->escalated)
        fprintf(text, "%s %" PRIu64, r->region, r->region_accepted);
    /* Quantities, in the resource's unit like the rest of the line. */
    fprintf(text, "); in use %" PRIu64 ", handed back %" PRIu64 "; offered, not yet accepted %"
            PRIu64 "\n",
            r->delivered + (r->escalated ? r->region_delivered : 0),
            r->returned + (r->escalated ? r->region_returned : 0), r->offered_open);
    if (ics_aid_is(r->status, R_OPEN))
        fprintf(text, "  still needed %" PRIu64 "%s\n", r->quantity - ics_aid_covered(r),
                r->escalated ? " (in the region)" : "");
    if (r->escalated) {
        ics_aid_fmt_time(r->escalated_ms, t1, sizeof t1);
        if (r->region_request != 0)
            fprintf(text, "  escalated   %s: %s to %s, request %" PRIu64 " there (%s)\n", t1,
                    ics_aid_qty(r->resource, r->escalated_qty, q, sizeof q), r->region,
                    r->region_request, r->region_status);
        else
            fprintf(text, "  escalated   %s: %s to %s (not yet raised there)\n", t1,
                    ics_aid_qty(r->resource, r->escalated_qty, q, sizeof q), r->region);
    }
    if (r->link_group[0] != '\0')
        fprintf(text, "  escalated from %s request %" PRIu64 " of %s; %s acts for it here\n",
                r->link_group, r->link_request, r->link_requester, r->org);
}

/* The request's events, in order ("timeline"). */
static int s_show_timeline(ics_db_t *db, uint64_t id, json_t *j, FILE *text)
{
    sqlite3_stmt *st = NULL;
    char t1[32];
    int rc;

    rc = ics_sql_query(db, &st,
                       "SELECT position, at_ms, org, actor, text FROM aid_events"
                       " WHERE request = ?1 ORDER BY id",
                       "u", id);
    if (rc != ICS_OK)
        return rc;
    json_arr(j, "timeline");
    fprintf(text, "\nTIMELINE\n");
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        ics_aid_fmt_time(ics_sql_column_u64(st, 1), t1, sizeof t1);
        json_obj(j, NULL);
        json_u64(j, "index", ics_sql_column_u64(st, 0));
        json_u64(j, "at_ms", ics_sql_column_u64(st, 1));
        json_str(j, "org", ics_sql_column_str(st, 2));
        json_str(j, "actor", ics_sql_column_str(st, 3));
        json_str(j, "text", ics_sql_column_str(st, 4));
        json_end_obj(j);
        fprintf(text, "  %s  #%-5" PRIu64 " %-10s %s\n", t1, ics_sql_column_u64(st, 0),
                ics_sql_column_str(st, 2), ics_sql_column_str(st, 4));
    }
    ics_sql_release(db, st);
    json_end_arr(j);
    return rc == ICS_ENOENT ? ICS_OK : rc;
}

/* aid.show ID: one request in full, with its offers and timeline. */
static int s_query_show(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                        FILE *json, FILE *text, ics_err_t *err)
{
    uint64_t id = 0, clock = ics_core_clock(db);
    s_req_words_t w;
    ics_aid_req_t r;
    json_t j;
    int rc;

    if (argc != 1 || !s_parse_id(argv[0], &id))
        return ics_err(err, ICS_EINVAL, "aid show takes one request id (a whole number)");
    rc = ics_aid_load_req(db, id, &r);
    if (rc == ICS_ENOENT)
        return ics_err(err, ICS_ENOENT, "there is no request %" PRIu64 " in group %s", id, group);
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");
    s_req_words(db, id, &w);

    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_u64(&j, "clock_ms", clock);
    json_obj(&j, "request");
    s_json_req(&j, &r, clock);
    json_str(&j, "actor", w.actor);
    json_str(&j, "site", w.site);
    json_str(&j, "reason", w.reason);
    json_str(&j, "contact", w.contact);
    json_str(&j, "status_note", w.note);
    s_show_request(group, &r, &w, text);

    rc = s_json_offers(db, &j, text, &r, clock, false);
    if (rc == ICS_OK && r.escalated)
        rc = s_json_link_offers(db, &j, text, &r, false);
    if (rc == ICS_OK)
        rc = s_show_timeline(db, id, &j, text);
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");
    json_end_obj(&j);
    json_end_obj(&j);
    return ICS_OK;
}

/* Which statuses a filter word selects. */
static const char *s_status_filter(const char *word)
{
    if (ics_aid_is(word, "active"))
        return "('" R_OPEN "','" R_MET "','" R_CLOSED "')";
    if (ics_aid_is(word, "all"))
        return "('" R_OPEN "','" R_MET "','" R_CLOSED "','" R_CANCELLED "','" R_EXPIRED "','"
               R_COMPLETED "')";
    if (ics_aid_is(word, R_OPEN)) return "('" R_OPEN "')";
    if (ics_aid_is(word, R_MET)) return "('" R_MET "')";
    if (ics_aid_is(word, R_CLOSED)) return "('" R_CLOSED "')";
    if (ics_aid_is(word, R_CANCELLED)) return "('" R_CANCELLED "')";
    if (ics_aid_is(word, R_EXPIRED)) return "('" R_EXPIRED "')";
    if (ics_aid_is(word, R_COMPLETED)) return "('" R_COMPLETED "')";
    return NULL;
}

/* aid.list [status=S] [org=ORG] [resource=R]: requests, oldest first. */
static int s_query_list(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                        FILE *json, FILE *text, ics_err_t *err)
{
    sqlite3_stmt *st = NULL;
    const char *statuses = s_status_filter("active"), *org = NULL, *resource = NULL;
    uint64_t clock = ics_core_clock(db);
    char sql[512];
    size_t n = 0;
    json_t j;
    int rc;

    for (size_t i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "status=", 7) == 0) {
            statuses = s_status_filter(a + 7);
            if (statuses == NULL)
                return ics_err(err, ICS_EINVAL, "status '%.20s' is not open, met, closed,"
                                                " cancelled, expired, completed, active or all",
                               a + 7);
        } else if (strncmp(a, "org=", 4) == 0 && ics_valid_id(a + 4, ICS_ORG_MAX)) {
            org = a + 4;
        } else if (strncmp(a, "resource=", 9) == 0 && ics_aid_resource(a + 9) != NULL) {
            resource = a + 9;
        } else {
            return ics_err(err, ICS_EINVAL, "'%.60s' is not status=S, org=ORG or resource=R"
                                            " (with a known resource)", a);
        }
    }
    snprintf(sql, sizeof sql, "SELECT id FROM aid_requests WHERE status IN %s"
                              " AND (?1 IS NULL OR org = ?1 OR link_requester = ?1)"
                              " AND (?2 IS NULL OR resource = ?2) ORDER BY id", statuses);
    /* A NULL org or resource binds NULL: no filter. */
    rc = ics_sql_query(db, &st, sql, "tt", org, resource);
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_u64(&j, "clock_ms", clock);
    json_arr(&j, "requests");
    s_text_req_header(text);
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        ics_aid_req_t r;
        if (ics_aid_load_req(db, ics_sql_column_u64(st, 0), &r) != ICS_OK) {
            rc = ICS_EIO;
            break;
        }
        json_obj(&j, NULL);
        s_json_req(&j, &r, clock);
        json_end_obj(&j);
        s_text_req_line(text, &r, clock);
        n++;
    }
    ics_sql_release(db, st);
    json_end_arr(&j);
    json_end_obj(&j);
    if (rc != ICS_ENOENT)
        return ics_err(err, rc, "state database error");
    if (n == 0)
        fprintf(text, argc > 0 ? "(no requests match)\n"
                               : "(no open, met or closed requests; --status all lists all)\n");
    return ICS_OK;
}

/* aid.board: the system picture in one screen. */
static int s_query_board(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                         FILE *json, FILE *text, ics_err_t *err)
{
    sqlite3_stmt *st = NULL;
    uint64_t clock = ics_core_clock(db);
    char when[32], region[ICS_GROUP_MAX], by[ICS_ORG_MAX];
    size_t n = 0, in_use = 0;
    json_t j;
    int rc;

    (void)argv;
    if (argc != 0)
        return ics_err(err, ICS_EINVAL, "aid board takes no arguments");
    if (ics_aid_settings(db, region, by) != ICS_OK)
        return ics_err(err, ICS_EIO, "state database error");
    ics_aid_fmt_time(clock, when, sizeof when);
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_u64(&j, "clock_ms", clock);
    json_str(&j, "escalates_to", region);
    fprintf(text, "MUTUAL AID BOARD  group %s  log clock %s%s%s\n\n", group, when,
            region[0] ? "  escalates to " : "", region);
    rc = ics_opel_board(db, clock, &j, text);
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");

    /* Unmet first, oldest first: what most needs someone's attention. */
    rc = ics_sql_prepare(db, "SELECT id FROM aid_requests WHERE status IN ('" R_OPEN "','"
                             R_MET "','" R_CLOSED "') ORDER BY status <> '" R_OPEN "',"
                             " raised_ms, id", &st);
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");
    json_arr(&j, "requests");
    fprintf(text, "\nREQUESTS (unmet first, oldest first)\n");
    s_text_req_header(text);
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        ics_aid_req_t r;
        if (ics_aid_load_req(db, ics_sql_column_u64(st, 0), &r) != ICS_OK) {
            rc = ICS_EIO;
            break;
        }
        json_obj(&j, NULL);
        s_json_req(&j, &r, clock);
        s_text_req_line(text, &r, clock);
        rc = s_json_offers(db, &j, text, &r, clock, true);
        if (rc == ICS_OK && r.escalated)
            rc = s_json_link_offers(db, &j, text, &r, true);
        json_end_obj(&j);
        if (rc != ICS_OK)
            break;
        rc = ICS_OK;
        n++;
    }
    ics_sql_release(db, st);
    st = NULL;
    json_end_arr(&j);
    if (rc != ICS_ENOENT)
        return ics_err(err, rc == ICS_OK ? ICS_EIO : rc, "state database error");
    if (n == 0)
        fprintf(text, "(no open requests)\n");

    rc = ics_sql_prepare(db, "SELECT o.id, o.org, r.org, r.resource, o.accepted, o.delivered_ms,"
                             " r.needed_until, r.id FROM aid_offers o JOIN aid_requests r"
                             " ON r.id = o.request WHERE o.status = '" O_DELIVERED "'"
                             " ORDER BY o.delivered_ms, o.id", &st);
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");
    json_arr(&j, "in_use");
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        uint64_t until = ics_sql_column_u64(st, 6);
        char q[48], since[32];
        bool overdue = until != 0 && until <= clock;
        if (in_use++ == 0)
            fprintf(text, "\nAID IN USE (delivered, not yet handed back)\n%-6s %-8s %-10s %-10s"
                          " %-16s %-20s %s\n", "OFFER", "REQUEST", "FROM", "TO", "WHAT",
                    "SINCE", "");
        ics_aid_fmt_time(ics_sql_column_u64(st, 5), since, sizeof since);
        json_obj(&j, NULL);
        json_u64(&j, "offer", ics_sql_column_u64(st, 0));
        json_u64(&j, "request", ics_sql_column_u64(st, 7));
        json_str(&j, "from", ics_sql_column_str(st, 1));
        json_str(&j, "to", ics_sql_column_str(st, 2));
        json_str(&j, "resource", ics_sql_column_str(st, 3));
        json_u64(&j, "quantity", ics_sql_column_u64(st, 4));
        json_u64(&j, "delivered_ms", ics_sql_column_u64(st, 5));
        json_bool(&j, "overdue", overdue);
        json_end_obj(&j);
        fprintf(text, "%-6" PRIu64 " %-8" PRIu64 " %-10s %-10s %-16s %-20s %s\n",
                ics_sql_column_u64(st, 0), ics_sql_column_u64(st, 7), ics_sql_column_str(st, 1),
                ics_sql_column_str(st, 2),
                ics_aid_qty(ics_sql_column_str(st, 3), ics_sql_column_u64(st, 4), q, sizeof q),
                since, overdue ? "OVERDUE for hand-back" : "");
    }
    ics_sql_release(db, st);
    json_end_arr(&j);
    json_end_obj(&j);
    return rc == ICS_ENOENT ? ICS_OK : ics_err(err, rc, "state database error");
}

/* aid.resources: the catalogue, with units. */
static int s_query_resources(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                             FILE *json, FILE *text, ics_err_t *err)
{
    json_t j;

    (void)db;
    (void)group;
    (void)argv;
    if (argc != 0)
        return ics_err(err, ICS_EINVAL, "aid resources takes no arguments");
    json_init(&j, json);
    json_arr(&j, NULL);
    fprintf(text, "%-30s %-14s %-10s %s\n", "RESOURCE", "UNIT", "SPECIALTY", "WHAT");
    for (const ics_aid_resource_t *r = ics_aid_resources; r->id != NULL; r++) {
        const char *spec = r->specialty == AID_SPEC_REQUIRED ? "required"
                           : r->specialty == AID_SPEC_OPTIONAL ? "optional" : "-";
        json_obj(&j, NULL);
        json_str(&j, "resource", r->id);
        json_str(&j, "unit", r->many);
        json_str(&j, "specialty", spec);
        json_str(&j, "description", r->what);
        json_end_obj(&j);
        fprintf(text, "%-30s %-14s %-10s %s\n", r->id, r->many, spec, r->what);
    }
    json_end_arr(&j);
    return ICS_OK;
}

const ics_fsm_query_t ics_aid_queries[] = {
    {"aid.show", s_query_show},
    {"aid.list", s_query_list},
    {"aid.board", s_query_board},
    {"aid.resources", s_query_resources},
    {NULL, NULL},
};

/* /metrics: requests by status and resource (open ones are what an on-call
 * manager watches). Read-only; label values are catalogue names. */
void ics_aid_metrics(ics_db_t *db, const char *group, FILE *out)
{
    sqlite3_stmt *st = NULL;

    fprintf(out, "# HELP icsd_aid_requests Mutual-aid requests by status and resource.\n"
                 "# TYPE icsd_aid_requests gauge\n");
    if (ics_sql_prepare(db, "SELECT status, resource, count(*) FROM aid_requests"
                            " GROUP BY status, resource ORDER BY status, resource", &st) != ICS_OK)
        return;
    while (ics_sql_row(db, st) == ICS_OK)
        fprintf(out, "icsd_aid_requests{group=\"%s\",status=\"%s\",resource=\"%s\"} %llu\n",
                group, (const char *)sqlite3_column_text(st, 0),
                (const char *)sqlite3_column_text(st, 1),
                (unsigned long long)ics_sql_column_u64(st, 2));
    ics_sql_release(db, st);
    fprintf(out, "# HELP icsd_aid_open_requests Mutual-aid requests still open.\n"
                 "# TYPE icsd_aid_open_requests gauge\n");
    fprintf(out, "icsd_aid_open_requests{group=\"%s\"} ", group);
    if (ics_sql_prepare(db, "SELECT count(*) FROM aid_requests WHERE status = '" R_OPEN "'",
                        &st) == ICS_OK && ics_sql_row(db, st) == ICS_OK)
        fprintf(out, "%llu\n", (unsigned long long)ics_sql_column_u64(st, 0));
    else
        fprintf(out, "0\n");
    ics_sql_release(db, st);
}
