/*
 * The lifecycles drawn in the domains' headers, checked against the state.
 *
 * Each invariant is a query that returns a row only when the state breaks
 * it. Debug and test builds run them all after every applied entry (an
 * assert in fsm.c), so a handler that leaves the state where its lifecycle
 * says it cannot be stops the build's tests at that entry, not entries
 * later when something reads it. Release builds skip them. They read the
 * state only and decide nothing: no verdict or text depends on them.
 */
#include "fsm/fsm_internal.h"

#include <stdio.h>

typedef struct {
    const char *what; /* the rule, as the header that draws it says it */
    const char *sql;  /* a row: the id of something that breaks it */
} s_invariant_t;

#define S_HOLDING "('awaiting_approval','accepted','delivered','returned')"

static const s_invariant_t s_invariants[] = {
    /* fsm_aid.c */
    {"a request is open, met, closed, cancelled, expired or completed",
     "SELECT id FROM aid_requests WHERE status NOT IN"
     " ('open','met','closed','cancelled','expired','completed') LIMIT 1"},
    {"an offer is in one of the states of its lifecycle",
     "SELECT id FROM aid_offers WHERE status NOT IN ('open','awaiting_approval','accepted',"
     "'delivered','returned','withdrawn','lapsed','declined','released') LIMIT 1"},
    {"an acceptance never exceeds its offer",
     "SELECT id FROM aid_offers WHERE accepted > quantity LIMIT 1"},
    {"an offer holding aid records what was accepted and where",
     "SELECT id FROM aid_offers WHERE status IN " S_HOLDING
     " AND (accepted = 0 OR accepted_at = 0) LIMIT 1"},
    {"aid held on a request never exceeds the quantity requested",
     "SELECT r.id FROM aid_requests r WHERE (SELECT coalesce(sum(o.accepted), 0) FROM"
     " aid_offers o WHERE o.request = r.id AND o.status IN " S_HOLDING ") > r.quantity"
     " LIMIT 1"},
    {"an offer is against a request of this group",
     "SELECT o.id FROM aid_offers o LEFT JOIN aid_requests r ON r.id = o.request"
     " WHERE r.id IS NULL LIMIT 1"},
    /* fsm_motions.c */
    {"a motion is open, carried, lost, lapsed or withdrawn",
     "SELECT id FROM motions WHERE status NOT IN"
     " ('open','carried','lost','lapsed','withdrawn') LIMIT 1"},
    {"a motion is closed exactly when it is no longer open",
     "SELECT id FROM motions WHERE (status = 'open') != (closed_at = 0) LIMIT 1"},
    /* fsm_plans.c */
    {"an adopted version is one of the plan's versions",
     "SELECT plan FROM plans WHERE latest < 1 OR adopted > latest LIMIT 1"},
    {"a plan's versions are numbered 1 to its latest, none missing",
     "SELECT p.plan FROM plans p WHERE (SELECT count(*) FROM plan_versions v WHERE"
     " v.plan = p.plan AND v.version BETWEEN 1 AND p.latest) != p.latest LIMIT 1"},
    {"an amendment is proposed, accepted, rejected, withdrawn or superseded",
     "SELECT id FROM amendments WHERE status NOT IN"
     " ('proposed','accepted','rejected','withdrawn','superseded') LIMIT 1"},
    {"an accepted amendment made a version",
     "SELECT id FROM amendments WHERE status = 'accepted' AND version = 0 LIMIT 1"},
};

bool ics_fsm_invariants(ics_db_t *db, char *why, size_t size)
{
    for (size_t i = 0; i < sizeof s_invariants / sizeof s_invariants[0]; i++) {
        sqlite3_stmt *st = NULL;
        int rc = ics_sql_prepare(db, s_invariants[i].sql, &st);

        if (rc == ICS_OK)
            rc = ics_sql_row(db, st);
        if (rc == ICS_OK)
            snprintf(why, size, "%s: broken by %s", s_invariants[i].what,
                     ics_sql_column_str(st, 0));
        else if (rc != ICS_ENOENT)
            snprintf(why, size, "%s: cannot be checked", s_invariants[i].what);
        ics_sql_release(db, st);
        if (rc != ICS_ENOENT)
            return false;
    }
    return true;
}
