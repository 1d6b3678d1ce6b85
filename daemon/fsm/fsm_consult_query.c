/*
 * Consultation rounds as read (fsm_consult.h): consult.list, consult.show
 * and consult.summary, and the round's record that a published plan
 * quotes. Reads only: nothing here is hashed into the audit chain.
 */
#include "fsm/fsm_consult.h"
#include "fsm/fsm_gov.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- reports */

/* Each consultee with its latest response (if any), ordered by consultee. */
#define S_LATEST_SQL                                                                          \
    "SELECT c.consultee, c.kind, c.name, r.revision, r.stance, r.text, r.hwb_opinion,"        \
    " r.hwb_reasons, r.org, r.person, r.role, r.position, r.entry_id, r.clock_ms"            \
    " FROM consultees c LEFT JOIN responses r ON r.consultation = c.consultation AND"         \
    " r.consultee = c.consultee AND r.revision = (SELECT max(revision) FROM responses x"      \
    " WHERE x.consultation = c.consultation AND x.consultee = c.consultee)"                   \
    " WHERE c.consultation = ?1 ORDER BY c.consultee"

typedef struct {
    unsigned consultees, responded;
    unsigned by_stance[5];
} s_counts_t;

static int s_counts(ics_db_t *db, uint64_t id, s_counts_t *c)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(c, 0, sizeof *c);
    rc = ics_sql_query(db, &st, S_LATEST_SQL, "u", id);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        c->consultees++;
        if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
            int s = sqlite3_column_int(st, 4);
            c->responded++;
            if (s >= 1 && s <= 4)
                c->by_stance[s]++;
        }
    }
    ics_sql_release(db, st);
    return rc == ICS_ENOENT ? ICS_OK : rc;
}

static int s_hwb_rows(ics_db_t *db, uint64_t id, FILE *md, json_t *j, FILE *text)
{
    sqlite3_stmt *st = NULL;
    unsigned n = 0;
    int rc = ics_sql_query(db, &st, "SELECT h.consultee, c.name, h.opinion, h.reasons,"
                                      " h.revision, h.note FROM hwb_opinions h JOIN consultees c"
                                      " ON c.consultation = h.consultation AND c.consultee ="
                                      " h.consultee WHERE h.consultation = ?1"
                                      " ORDER BY h.consultee", "u", id);
    if (rc != ICS_OK)
        return rc;
    if (j != NULL)
        json_arr(j, "hwb_opinions");
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        const char *org = (const char *)sqlite3_column_text(st, 0);
        const char *name = (const char *)sqlite3_column_text(st, 1);
        int opinion = sqlite3_column_int(st, 2);
        const char *reasons = (const char *)sqlite3_column_text(st, 3);
        const char *note = (const char *)sqlite3_column_text(st, 5);
        n++;
        if (j != NULL) {
            json_obj(j, NULL);
            json_str(j, "consultee", org);
            json_str(j, "name", name);
            json_str(j, "opinion", ics_consult_opinion_name(opinion));
            json_str(j, "reasons", reasons);
            json_u64(j, "revision", ics_sql_column_u64(st, 4));
            json_str(j, "note", note);
            json_end_obj(j);
        }
        if (md != NULL) {
            fprintf(md, "### %s (%s)\n\n", name, org);
            fprintf(md, "Does the draft take proper account of the board's joint local health "
                        "and wellbeing strategy? **%s**\n\n",
                    opinion == ICS__V1__OPINION__OPINION_YES ? "Yes"
                    : opinion == ICS__V1__OPINION__OPINION_NO ? "No" : "No opinion received");
            if (opinion != 0)
                fprintf(md, "%s\n\n", reasons);
            else
                fprintf(md, "_%s._\n\n", note);
        }
        if (text != NULL)
            fprintf(text, "  %-16s %-13s %s\n", org, ics_consult_opinion_name(opinion),
                    opinion != 0 ? reasons : note);
    }
    ics_sql_release(db, st);
    if (j != NULL)
        json_end_arr(j);
    if (rc == ICS_ENOENT && n == 0 && md != NULL)
        fprintf(md, "No health and wellbeing board was a consultee.\n\n");
    if (rc == ICS_ENOENT && n == 0 && text != NULL)
        fprintf(text, "  (none recorded yet: recorded when the consultation closes)\n");
    return rc == ICS_ENOENT ? ICS_OK : rc;
}

int ics_consult_markdown(ics_db_t *db, uint64_t id, FILE *out)
{
    sqlite3_stmt *st = NULL;
    ics_consult_round_t r;
    s_counts_t c;
    char opens[32], closed[120];
    int rc;

    rc = ics_consult_round_get(db, id, &r);
    if (rc != ICS_OK)
        return rc;
    rc = s_counts(db, id, &c);
    if (rc != ICS_OK)
        goto out;
    fprintf(out, "## Opinions of health and wellbeing boards\n\n");
    rc = s_hwb_rows(db, id, out, NULL, NULL);
    if (rc != ICS_OK)
        goto out;
    ics_gov_time(r.opens_ms, opens);
    ics_consult_closed_text(&r, closed, sizeof closed);
    fprintf(out, "## Consultation\n\n");
    fprintf(out, "Round %" PRIu64 " on version %u opened at %s and %s.\n\n", r.id, r.version,
            opens, closed);
    fprintf(out, "> %s\n\n", r.question);
    fprintf(out, "%u of %u consultees responded: %u support, %u support with changes, "
                 "%u object, %u no comment.\n\n", c.responded, c.consultees, c.by_stance[1],
            c.by_stance[2], c.by_stance[3], c.by_stance[4]);
    fprintf(out, "| Consultee | Position | Revisions | Log index |\n|---|---|---|---|\n");
    rc = ics_sql_query(db, &st, S_LATEST_SQL, "u", id);
    if (rc != ICS_OK)
        goto out;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        bool responded = sqlite3_column_type(st, 3) != SQLITE_NULL;
        char idx[24] = "-";
        if (responded)
            snprintf(idx, sizeof idx, "%" PRIu64, ics_sql_column_u64(st, 11));
        fprintf(out, "| %s (%s) | %s | %s | %s |\n", (const char *)sqlite3_column_text(st, 2),
                (const char *)sqlite3_column_text(st, 0),
                responded ? ics_consult_stance_name(sqlite3_column_int(st, 4)) : "did not respond",
                responded ? (const char *)sqlite3_column_text(st, 3) : "-", idx);
    }
    rc = rc == ICS_ENOENT ? ICS_OK : rc;
out:
    ics_sql_release(db, st);
    ics_consult_round_free(&r);
    return rc;
}

int ics_consult_json(ics_db_t *db, uint64_t id, json_t *j)
{
    ics_consult_round_t r;
    s_counts_t c;
    int rc = ics_consult_round_get(db, id, &r);

    if (rc != ICS_OK)
        return rc;
    rc = s_counts(db, id, &c);
    if (rc == ICS_OK) {
        json_u64(j, "consultation", r.id);
        json_u64(j, "version", r.version);
        json_str(j, "question", r.question);
        json_u64(j, "opens_ms", r.opens_ms);
        json_u64(j, "closes_ms", r.closes_ms);
        json_u64(j, "closed_ms", r.closed_ms);
        json_str(j, "closed_by", r.closed_by);
        json_u64(j, "consultees", c.consultees);
        json_u64(j, "responded", c.responded);
        rc = s_hwb_rows(db, id, NULL, j, NULL);
    }
    ics_consult_round_free(&r);
    return rc;
}

static int s_arg_round(ics_db_t *db, size_t argc, char *const *argv, const char *what,
                       ics_consult_round_t *r, ics_err_t *err)
{
    uint64_t id = 0;
    int rc;
    if (argc != 1 || !ics_gov_arg_u64(argv[0], &id))
        return ics_err(err, ICS_EINVAL, "%s takes a consultation number", what);
    rc = ics_consult_round_get(db, id, r);
    if (rc == ICS_ENOENT)
        return ics_err(err, ICS_ENOENT, "there is no consultation %s (icsctl consult list shows "
                                        "them)", argv[0]);
    return rc == ICS_OK ? ICS_OK : ics_err(err, rc, "state database error");
}

static void s_round_header(FILE *text, json_t *j, const ics_consult_round_t *r)
{
    char opens[32], closes[32], closed[120] = "";

    ics_gov_time(r->opens_ms, opens);
    ics_gov_time(r->closes_ms, closes);
    if (strcmp(r->status, "closed") == 0)
        ics_consult_closed_text(r, closed, sizeof closed);
    json_u64(j, "consultation", r->id);
    json_str(j, "plan", r->plan);
    json_u64(j, "version", r->version);
    json_str(j, "question", r->question);
    json_u64(j, "opens_ms", r->opens_ms);
    json_u64(j, "closes_ms", r->closes_ms);
    json_str(j, "status", r->status);
    json_u64(j, "decided_at", r->decided_at);
    json_u64(j, "closed_at", r->closed_at);
    json_u64(j, "closed_ms", r->closed_ms);
    json_str(j, "closed_by", r->closed_by);
    fprintf(text, "consultation %" PRIu64 " on plan %s version %u: %s\n", r->id, r->plan,
            r->version, strcmp(r->status, "closed") == 0 ? closed : r->status);
    fprintf(text, "opens %s, closes %s (decided by motion %" PRIu64 ")\n", opens, closes, r->id);
    fprintf(text, "question: %s\n", r->question);
}

/* consult.show ID: the round, its consultees and their current responses. */
static int s_query_show(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                        FILE *json, FILE *text, ics_err_t *err)
{
    sqlite3_stmt *st = NULL, *la = NULL;
    ics_consult_round_t r;
    json_t j;
    int rc = s_arg_round(db, argc, argv, "consult show", &r, err);

    if (rc != ICS_OK)
        return rc;
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    s_round_header(text, &j, &r);
    json_arr(&j, "consultees");
    fprintf(text, "\nCONSULTEES AND THEIR CURRENT RESPONSES\n");
    rc = ics_sql_query(db, &st, S_LATEST_SQL, "u", r.id);
    if (rc != ICS_OK)
        goto out;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        const char *cid = (const char *)sqlite3_column_text(st, 0);
        bool responded = sqlite3_column_type(st, 3) != SQLITE_NULL;
        bool hwb = strcmp((const char *)sqlite3_column_text(st, 1), "hwb") == 0;
        json_obj(&j, NULL);
        json_str(&j, "consultee", cid);
        json_str(&j, "kind", (const char *)sqlite3_column_text(st, 1));
        json_str(&j, "name", (const char *)sqlite3_column_text(st, 2));
        json_bool(&j, "responded", responded);
        fprintf(text, "\n%s  %s (%s)\n", cid, (const char *)sqlite3_column_text(st, 2),
                (const char *)sqlite3_column_text(st, 1));
        if (responded) {
            char when[32];
            ics_gov_time(ics_sql_column_u64(st, 13), when);
            json_u64(&j, "revision", ics_sql_column_u64(st, 3));
            json_str(&j, "stance", ics_consult_stance_name(sqlite3_column_int(st, 4)));
            json_str(&j, "text", (const char *)sqlite3_column_text(st, 5));
            if (hwb) {
                json_str(&j, "hwb_opinion", ics_consult_opinion_name(sqlite3_column_int(st, 6)));
                json_str(&j, "hwb_reasons", (const char *)sqlite3_column_text(st, 7));
            }
            json_str(&j, "org", (const char *)sqlite3_column_text(st, 8));
            json_str(&j, "person", (const char *)sqlite3_column_text(st, 9));
            json_str(&j, "role", (const char *)sqlite3_column_text(st, 10));
            json_u64(&j, "index", ics_sql_column_u64(st, 11));
            json_hex(&j, "entry_id", sqlite3_column_blob(st, 12),
                     (size_t)sqlite3_column_bytes(st, 12));
            fprintf(text, "  %s (revision %" PRIu64 ", index %" PRIu64 ", %s, by %s %s%s%s%s)\n",
                    ics_consult_stance_name(sqlite3_column_int(st, 4)), ics_sql_column_u64(st, 3),
                    ics_sql_column_u64(st, 11), when, (const char *)sqlite3_column_text(st, 8),
                    (const char *)sqlite3_column_text(st, 9),
                    sqlite3_column_bytes(st, 10) ? " as " : "",
                    (const char *)sqlite3_column_text(st, 10), "");
            if (hwb)
                fprintf(text, "  takes proper account of the joint local health and wellbeing "
                              "strategy: %s: %s\n", ics_consult_opinion_name(sqlite3_column_int(st, 6)),
                        (const char *)sqlite3_column_text(st, 7));
            if (sqlite3_column_bytes(st, 5) > 0)
                fprintf(text, "  %s\n", (const char *)sqlite3_column_text(st, 5));
            json_arr(&j, "amendments");
            rc = ics_sql_query(db, &la, "SELECT amendment FROM response_amendments WHERE"
                                          " consultation = ?1 AND consultee = ?2 AND"
                                          " revision = ?3 ORDER BY amendment", "utu", r.id, cid,
                                 ics_sql_column_u64(st, 3));
            if (rc != ICS_OK)
                goto out;
            bool first = true;
            while ((rc = ics_sql_row(db, la)) == ICS_OK) {
                json_u64(&j, NULL, ics_sql_column_u64(la, 0));
                fprintf(text, "%s%" PRIu64, first ? "  linked amendments: " : ", ",
                        ics_sql_column_u64(la, 0));
                first = false;
            }
            if (!first)
                fputc('\n', text);
            ics_sql_release(db, la);
            la = NULL;
            if (rc != ICS_ENOENT)
                goto out;
            json_end_arr(&j);
        } else {
            fprintf(text, "  no response%s\n", strcmp(r.status, "closed") == 0 ? "" : " yet");
        }
        json_end_obj(&j);
    }
    if (rc != ICS_ENOENT)
        goto out;
    json_end_arr(&j);
    fprintf(text, "\nHWB OPINIONS ON RECORD\n");
    rc = s_hwb_rows(db, r.id, NULL, &j, text);
    json_end_obj(&j);
out:
    ics_sql_release(db, la);
    ics_sql_release(db, st);
    ics_consult_round_free(&r);
    return rc == ICS_OK ? ICS_OK : ics_err(err, rc, "state database error");
}

/* consult.summary ID: counts by position, responses per consultee, who did
 * not respond, HWB opinions. */
static int s_query_summary(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                           FILE *json, FILE *text, ics_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ics_consult_round_t r;
    s_counts_t c;
    json_t j;
    unsigned silent = 0;
    int rc = s_arg_round(db, argc, argv, "consult summary", &r, err);

    if (rc != ICS_OK)
        return rc;
    rc = s_counts(db, r.id, &c);
    if (rc != ICS_OK)
        goto out;
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    s_round_header(text, &j, &r);
    json_u64(&j, "consultees", c.consultees);
    json_u64(&j, "responded", c.responded);
    json_obj(&j, "positions");
    for (int s = 1; s <= 4; s++)
        json_u64(&j, ics_consult_stance_name(s), c.by_stance[s]);
    json_end_obj(&j);
    fprintf(text, "\n%u of %u consultees responded\n", c.responded, c.consultees);
    for (int s = 1; s <= 4; s++)
        fprintf(text, "  %-22s %u\n", ics_consult_stance_name(s), c.by_stance[s]);
    fprintf(text, "\nRESPONSES PER CONSULTEE\n");
    json_arr(&j, "responses");
    rc = ics_sql_query(db, &st,
                         "SELECT c.consultee, c.name, count(r.revision), max(r.revision),"
                         " (SELECT stance FROM responses y WHERE y.consultation = c.consultation"
                         " AND y.consultee = c.consultee ORDER BY revision DESC LIMIT 1)"
                         " FROM consultees c LEFT JOIN responses r ON r.consultation ="
                         " c.consultation AND r.consultee = c.consultee"
                         " WHERE c.consultation = ?1 GROUP BY c.consultee ORDER BY c.consultee",
                         "u", r.id);
    if (rc != ICS_OK)
        goto out;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        uint64_t n = ics_sql_column_u64(st, 2);
        if (n == 0) {
            silent++;
            continue;
        }
        json_obj(&j, NULL);
        json_str(&j, "consultee", (const char *)sqlite3_column_text(st, 0));
        json_u64(&j, "revisions", n);
        json_str(&j, "stance", ics_consult_stance_name(sqlite3_column_int(st, 4)));
        json_end_obj(&j);
        fprintf(text, "  %-16s %-22s %" PRIu64 " revision%s  %s\n",
                (const char *)sqlite3_column_text(st, 0),
                ics_consult_stance_name(sqlite3_column_int(st, 4)), n, n == 1 ? " " : "s",
                (const char *)sqlite3_column_text(st, 1));
    }
    if (rc != ICS_ENOENT)
        goto out;
    if (c.responded == 0)
        fprintf(text, "  (none)\n");
    json_end_arr(&j);
    sqlite3_reset(st);
    fprintf(text, "\n%s\n", strcmp(r.status, "closed") == 0 ? "DID NOT RESPOND"
                                                             : "NOT RESPONDED YET");
    json_arr(&j, "not_responded");
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        if (ics_sql_column_u64(st, 2) != 0)
            continue;
        json_str(&j, NULL, (const char *)sqlite3_column_text(st, 0));
        fprintf(text, "  %-16s %s\n", (const char *)sqlite3_column_text(st, 0),
                (const char *)sqlite3_column_text(st, 1));
    }
    if (rc != ICS_ENOENT)
        goto out;
    if (silent == 0)
        fprintf(text, "  (everyone responded)\n");
    json_end_arr(&j);
    fprintf(text, "\nHWB OPINIONS ON RECORD\n");
    rc = s_hwb_rows(db, r.id, NULL, &j, text);
    json_end_obj(&j);
out:
    ics_sql_release(db, st);
    ics_consult_round_free(&r);
    return rc == ICS_OK ? ICS_OK : ics_err(err, rc, "state database error");
}

/* consult.list [PLAN] */
static int s_query_list(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                        FILE *json, FILE *text, ics_err_t *err)
{
    sqlite3_stmt *st = NULL;
    const char *plan = argc > 0 ? argv[0] : "";
    unsigned n = 0;
    json_t j;
    int rc;

    if (argc > 1)
        return ics_err(err, ICS_EINVAL, "consult list takes an optional plan id");
    rc = ics_sql_query(db, &st, "SELECT id, plan, version, status, opens_ms, closes_ms,"
                                  " closed_by, (SELECT count(*) FROM consultees x WHERE"
                                  " x.consultation = c.id), (SELECT count(DISTINCT consultee)"
                                  " FROM responses r WHERE r.consultation = c.id)"
                                  " FROM consultations c WHERE ?1 = '' OR plan = ?1 ORDER BY id",
                         "t", plan);
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_arr(&j, "consultations");
    fprintf(text, "%-7s %-14s %-8s %-10s %-21s %-21s %s\n", "ID", "PLAN", "VERSION", "STATUS",
            "OPENS", "CLOSES", "RESPONDED");
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        char opens[32], closes[32];
        n++;
        ics_gov_time(ics_sql_column_u64(st, 4), opens);
        ics_gov_time(ics_sql_column_u64(st, 5), closes);
        json_obj(&j, NULL);
        json_u64(&j, "consultation", ics_sql_column_u64(st, 0));
        json_str(&j, "plan", (const char *)sqlite3_column_text(st, 1));
        json_u64(&j, "version", ics_sql_column_u64(st, 2));
        json_str(&j, "status", (const char *)sqlite3_column_text(st, 3));
        json_u64(&j, "opens_ms", ics_sql_column_u64(st, 4));
        json_u64(&j, "closes_ms", ics_sql_column_u64(st, 5));
        json_str(&j, "closed_by", (const char *)sqlite3_column_text(st, 6));
        json_u64(&j, "consultees", ics_sql_column_u64(st, 7));
        json_u64(&j, "responded", ics_sql_column_u64(st, 8));
        json_end_obj(&j);
        fprintf(text, "%-7" PRIu64 " %-14s %-8" PRIu64 " %-10s %-21s %-21s %" PRIu64 " of %"
                PRIu64 "\n", ics_sql_column_u64(st, 0), (const char *)sqlite3_column_text(st, 1),
                ics_sql_column_u64(st, 2), (const char *)sqlite3_column_text(st, 3), opens,
                closes, ics_sql_column_u64(st, 8), ics_sql_column_u64(st, 7));
    }
    ics_sql_release(db, st);
    json_end_arr(&j);
    json_end_obj(&j);
    if (n == 0)
        fprintf(text, "(no consultations%s%s)\n", plan[0] ? " on " : "", plan);
    return rc == ICS_ENOENT ? ICS_OK : ics_err(err, rc, "state database error");
}

const ics_fsm_query_t ics_consult_queries[] = {
    {"consult.list", s_query_list},
    {"consult.show", s_query_show},
    {"consult.summary", s_query_summary},
    {NULL, NULL},
};
