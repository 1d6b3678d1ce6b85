/*
 * Motions as read (fsm_motions.h): motion.show and motion.list, with the
 * tally so far. Reads only: nothing here is hashed into the audit chain.
 */
#include "fsm/fsm_motions.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- queries */

/* The motion's head: JSON members and the tally; text lines up to its
 * status, with what it would come to if it closed now while open. */
static void s_show_head(const char *group, const ics_motion_t *m, const ics_motions_tally_t *t,
                        json_t *j, FILE *text)
{
    char when[32], closes[32], why[ICS_WHY_MAX * 2];

    ics_gov_time(m->opened_ms, when);
    ics_gov_time(m->closes_ms, closes);
    json_str(j, "group", group);
    json_u64(j, "opened_ms", m->opened_ms);
    json_u64(j, "closes_ms", m->closes_ms);
    json_str(j, "target", m->target);
    json_obj(j, "tally");
    json_u64(j, "members", t->members);
    json_u64(j, "excluded", t->excluded);
    json_u64(j, "for", t->yes);
    json_u64(j, "against", t->no);
    json_u64(j, "abstain", t->abstain);
    json_u64(j, "not_voted", t->pending);
    json_end_obj(j);

    fprintf(text, "motion %" PRIu64 ": %s\n", m->id, m->title);
    fprintf(text, "decision     %s [%s]\n", ics_decision_title(m->decision),
            ics_decision_name(m->decision));
    fprintf(text, "proposed by  %s (%s) at index %" PRIu64 ", %s\n", m->person, m->org, m->id,
            when);
    fprintf(text, "decided by   %s\n", m->rule_text);
    fprintf(text, "             (scheme version %" PRIu64 ")\n", m->policy_version);
    if (strcmp(m->status, "open") == 0) {
        ics_motions_judge(m, t, true, why, sizeof why);
        fprintf(text, "status       OPEN until %s; so far %u for, %u against, %u abstaining, %u "
                      "not voted\n", closes, t->yes, t->no, t->abstain, t->pending);
        fprintf(text, "             if it closed now: %s\n", why);
    } else {
        char closed[32];
        ics_gov_time(m->closed_ms, closed);
        fprintf(text, "status       %s at index %" PRIu64 ", %s\n", m->status, m->closed_at,
                closed);
        fprintf(text, "outcome      %s\n", m->outcome);
        if (m->effect_note[0] != '\0')
            fprintf(text, "effect       %s\n", m->effect_note);
    }
}

/* The electorate, each member's current vote or exclusion ("electorate"). */
static int s_show_electorate(ics_db_t *db, const ics_motion_t *m, json_t *j, FILE *text)
{
    sqlite3_stmt *st = NULL;
    int rc;

    fprintf(text, "\nELECTORATE\n");
    json_arr(j, "electorate");
    rc = ics_sql_query(db, &st, "SELECT e.org, e.person, e.roles, e.excluded, e.interest,"
                                  " e.interest_text, (SELECT choice FROM votes v WHERE"
                                  " v.motion = e.motion AND v.org = e.org AND v.person ="
                                  " e.person AND v.struck = 0 ORDER BY seq DESC LIMIT 1)"
                                  " FROM electorate e WHERE e.motion = ?1 ORDER BY e.org,"
                                  " e.person", "u", m->id);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        bool excluded = sqlite3_column_int(st, 3) != 0;
        bool voted = sqlite3_column_type(st, 6) != SQLITE_NULL;
        json_obj(j, NULL);
        json_str(j, "org", (const char *)sqlite3_column_text(st, 0));
        json_str(j, "person", (const char *)sqlite3_column_text(st, 1));
        json_str(j, "roles", (const char *)sqlite3_column_text(st, 2));
        json_bool(j, "excluded", excluded);
        json_str(j, "interest", (const char *)sqlite3_column_text(st, 4));
        json_str(j, "vote", voted ? ics_motions_choice_name(sqlite3_column_int(st, 6)) : "");
        json_end_obj(j);
        fprintf(text, "  %-11s %-22s %-34s ", (const char *)sqlite3_column_text(st, 0),
                (const char *)sqlite3_column_text(st, 1),
                (const char *)sqlite3_column_text(st, 2));
        if (excluded)
            fprintf(text, "EXCLUDED: interest in %s (%s)\n",
                    (const char *)sqlite3_column_text(st, 4),
                    (const char *)sqlite3_column_text(st, 5));
        else
            fprintf(text, "%s\n", voted ? ics_motions_choice_name(sqlite3_column_int(st, 6))
                                        : "not voted");
    }
    ics_sql_release(db, st);
    if (rc != ICS_ENOENT)
        return rc;
    json_end_arr(j);
    return ICS_OK;
}

/* Every vote cast: in JSON the decision record ("record"), in text a line
 * each with the key it was signed with. */
static int s_show_votes(ics_db_t *db, const ics_motion_t *m, json_t *j, FILE *text)
{
    sqlite3_stmt *st = NULL;
    bool any = false;
    int rc;

    fprintf(text, "\nVOTES (each a log entry signed by the voter's own key)\n");
    json_obj(j, "record");
    rc = ics_motions_record(db, m, NULL, j);
    json_end_obj(j);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_query(db, &st, ICS_VOTES_SQL, "u", m->id);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        char eid[65], kid[2 * ICS_KEY_ID_BYTES + 1];
        bool current = sqlite3_column_int(st, 10) != 0, struck = sqlite3_column_int(st, 9) != 0;
        ics_hex(sqlite3_column_blob(st, 7), sqlite3_column_bytes(st, 7) == 32 ? 32 : 0, eid);
        rc = ics_people_key_at(db, (const char *)sqlite3_column_text(st, 0),
                               (const char *)sqlite3_column_text(st, 1), ics_sql_column_u64(st, 6),
                               kid);
        if (rc != ICS_OK)
            break;
        any = true;
        fprintf(text, "  index %-6" PRIu64 " %-11s %-22s %-8s%s %s%s entry %.16s... key %s\n",
                ics_sql_column_u64(st, 6), (const char *)sqlite3_column_text(st, 0),
                (const char *)sqlite3_column_text(st, 1),
                ics_motions_choice_name(sqlite3_column_int(st, 3)),
                struck    ? " (struck)"
                : current ? ""
                          : " (changed)",
                (const char *)sqlite3_column_text(st, 4), sqlite3_column_bytes(st, 4) ? ";" : "",
                eid, kid[0] ? kid : "none");
    }
    ics_sql_release(db, st);
    if (rc != ICS_ENOENT)
        return rc;
    if (!any)
        fprintf(text, "  (none yet)\n");
    return ICS_OK;
}

/* motion.show ID: the motion, its rule, electorate, votes and outcome (or
 * the tally so far). */
static int s_query_show(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                        FILE *json, FILE *text, ics_err_t *err)
{
    ics_motion_t m;
    ics_motions_tally_t t;
    uint64_t id = 0;
    json_t j;
    int rc;

    if (argc != 1 || !ics_gov_arg_u64(argv[0], &id))
        return ics_err(err, ICS_EINVAL, "motion show takes a motion number");
    rc = ics_motion_get(db, id, &m);
    if (rc == ICS_ENOENT)
        return ics_err(err, ICS_ENOENT, "there is no motion %s (icsctl motion list shows them)",
                       argv[0]);
    if (rc == ICS_OK)
        rc = ics_motions_tally(db, &m, &t);
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");
    json_init(&j, json);
    json_obj(&j, NULL);
    s_show_head(group, &m, &t, &j, text);
    rc = s_show_electorate(db, &m, &j, text);
    if (rc == ICS_OK)
        rc = s_show_votes(db, &m, &j, text);
    if (rc == ICS_OK)
        json_end_obj(&j);
    return rc == ICS_OK ? ICS_OK : ics_err(err, rc, "state database error");
}

/* motion.list [open] */
static int s_query_list(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                        FILE *json, FILE *text, ics_err_t *err)
{
    sqlite3_stmt *st = NULL;
    bool only_open = argc == 1 && strcmp(argv[0], "open") == 0;
    unsigned n = 0;
    json_t j;
    int rc;

    if (argc > 1 || (argc == 1 && !only_open && strcmp(argv[0], "all") != 0))
        return ics_err(err, ICS_EINVAL, "motion list takes 'open' or 'all'");
    rc = ics_sql_query(db, &st, "SELECT " ICS_MOTION_COLUMNS " FROM motions WHERE ?1 = 0 OR"
                                  " status = 'open' ORDER BY id", "i", only_open ? 1 : 0);
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_arr(&j, "motions");
    fprintf(text, "%-7s %-10s %-19s %-9s %-21s %s\n", "ID", "STATUS", "DECISION", "BY",
            "CLOSES/CLOSED", "TITLE");
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        ics_motion_t m;
        char when[32];
        ics_motion_read(st, &m);
        n++;
        ics_gov_time(strcmp(m.status, "open") == 0 ? m.closes_ms : m.closed_ms, when);
        json_obj(&j, NULL);
        json_u64(&j, "motion", m.id);
        json_str(&j, "status", m.status);
        json_str(&j, "decision", ics_decision_name(m.decision));
        json_str(&j, "title", m.title);
        json_str(&j, "org", m.org);
        json_str(&j, "person", m.person);
        json_u64(&j, "closes_ms", m.closes_ms);
        json_u64(&j, "closed_at", m.closed_at);
        json_str(&j, "outcome", m.outcome);
        json_str(&j, "effect", m.effect_state);
        json_end_obj(&j);
        fprintf(text, "%-7" PRIu64 " %-10s %-19s %-9s %-21s %s\n", m.id, m.status,
                ics_decision_name(m.decision), m.org, when, m.title);
    }
    ics_sql_release(db, st);
    json_end_arr(&j);
    json_end_obj(&j);
    if (n == 0)
        fprintf(text, "(no %smotions)\n", only_open ? "open " : "");
    return rc == ICS_ENOENT ? ICS_OK : ics_err(err, rc, "state database error");
}

const ics_fsm_query_t ics_motions_queries[] = {
    {"motion.list", s_query_list},
    {"motion.show", s_query_show},
    {NULL, NULL},
};
