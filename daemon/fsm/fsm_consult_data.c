/*
 * Consultation rounds as rows (fsm_consult.h): what the apply code
 * (fsm_consult.c) and the reads (fsm_consult_query.c) both need of a round.
 * A lower layer: it calls nothing of either.
 */
#include "fsm/fsm_consult.h"
#include "fsm/fsm_gov.h"

#include <stdlib.h>
#include <string.h>

void ics_consult_round_free(ics_consult_round_t *r)
{
    free(r->question);
    memset(r, 0, sizeof *r);
}

int ics_consult_round_get(ics_db_t *db, uint64_t id, ics_consult_round_t *r)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(r, 0, sizeof *r);
    if (id > INT64_MAX)
        return ICS_ENOENT;
    rc = ics_sql_query(db, &st, "SELECT plan, version, question, opens_ms, closes_ms, status,"
                                  " decided_at, opened_at, closed_at, closed_ms, closed_by"
                                  " FROM consultations WHERE id = ?1", "u", id);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK) {
        r->id = id;
        ics_sql_column_text(st, 0, r->plan, sizeof r->plan);
        r->version = (uint32_t)ics_sql_column_u64(st, 1);
        r->question = strdup((const char *)sqlite3_column_text(st, 2));
        r->opens_ms = ics_sql_column_u64(st, 3);
        r->closes_ms = ics_sql_column_u64(st, 4);
        ics_sql_column_text(st, 5, r->status, sizeof r->status);
        r->decided_at = ics_sql_column_u64(st, 6);
        r->opened_at = ics_sql_column_u64(st, 7);
        r->closed_at = ics_sql_column_u64(st, 8);
        r->closed_ms = ics_sql_column_u64(st, 9);
        ics_sql_column_text(st, 10, r->closed_by, sizeof r->closed_by);
        if (r->question == NULL)
            rc = ICS_ENOMEM;
    }
    ics_sql_release(db, st);
    return rc;
}

/* "closed at 2026-03-01T17:00:00Z (its deadline)" */
void ics_consult_closed_text(const ics_consult_round_t *r, char *out, size_t size)
{
    char when[32];
    ics_gov_time(r->closed_ms, when);
    if (strcmp(r->closed_by, "deadline") == 0)
        snprintf(out, size, "closed at %s (its deadline)", when);
    else
        snprintf(out, size, "closed early at %s by %s", when, r->closed_by);
}

const char *ics_consult_stance_name(int s)
{
    switch (s) {
    case ICS__V1__STANCE__STANCE_SUPPORT: return "support";
    case ICS__V1__STANCE__STANCE_SUPPORT_WITH_CHANGES: return "support with changes";
    case ICS__V1__STANCE__STANCE_OBJECT: return "object";
    case ICS__V1__STANCE__STANCE_NO_COMMENT: return "no comment";
    default: return "unknown";
    }
}

const char *ics_consult_opinion_name(int o)
{
    return o == ICS__V1__OPINION__OPINION_YES ? "yes"
         : o == ICS__V1__OPINION__OPINION_NO ? "no" : "not received";
}
