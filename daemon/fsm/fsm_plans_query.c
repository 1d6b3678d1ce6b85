/*
 * Plan queries (plan.list, plan.show, plan.history, plan.diff,
 * plan.publish, amend.list, amend.show): read-only views of what
 * fsm_plans.c keeps. Nothing here is hashed into the audit chain.
 */
#include "fsm/fsm_plans.h"
#include "common/json.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static int s_arg_plan(ics_db_t *db, const char *arg, ics_plan_t *p, ics_err_t *err)
{
    int rc;
    if (!ics_plans_valid_key(arg))
        return ics_err(err, ICS_EINVAL, "'%s' is not a plan id", arg);
    rc = ics_plan_get(db, arg, p);
    if (rc == ICS_ENOENT)
        return ics_err(err, ICS_ENOENT, "there is no plan %s (icsctl plan list shows the plans)",
                       arg);
    return rc == ICS_OK ? ICS_OK : ics_err(err, rc, "state database error");
}

static int s_arg_version(const ics_plan_t *p, const char *arg, uint32_t *v, ics_err_t *err)
{
    uint64_t x = 0;
    if (!ics_gov_arg_u64(arg, &x) || x == 0 || x > p->latest)
        return ics_err(err, x > p->latest ? ICS_ENOENT : ICS_EINVAL,
                       "plan %s has versions 1 to %u; '%s' is not one of them", p->plan,
                       p->latest, arg);
    *v = (uint32_t)x;
    return ICS_OK;
}

static int s_version_row(ics_db_t *db, const char *plan, uint32_t v, uint8_t hash[32],
                         uint64_t *position, uint64_t *clock, uint64_t *amendment, char *org,
                         char *person)
{
    sqlite3_stmt *st = NULL;
    int rc = ics_sql_query(db, &st, "SELECT hash, position, clock_ms, amendment, org, person"
                                      " FROM plan_versions WHERE plan = ?1 AND version = ?2",
                             "tu", plan, (uint64_t)v);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK) {
        if (!ics_sql_column_blob(st, 0, hash, 32))
            rc = ICS_EIO;
        *position = ics_sql_column_u64(st, 1);
        *clock = ics_sql_column_u64(st, 2);
        *amendment = ics_sql_column_u64(st, 3);
        ics_sql_column_text(st, 4, org, ICS_ORG_MAX);
        ics_sql_column_text(st, 5, person, ICS_PERSON_MAX);
    }
    ics_sql_release(db, st);
    return rc;
}

/* plan.list: every plan. */
static int s_query_list(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                        FILE *json, FILE *text, ics_err_t *err)
{
    sqlite3_stmt *st = NULL;
    json_t j;
    int rc;

    if (argc != 0)
        return ics_err(err, ICS_EINVAL, "plan list takes no arguments");
    rc = ics_sql_query(db, &st, "SELECT plan, title, period, org, latest, adopted,"
                                  " (SELECT count(*) FROM amendments a WHERE a.plan = p.plan AND"
                                  " a.status = 'proposed') FROM plans p ORDER BY plan", "");
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_arr(&j, "plans");
    fprintf(text, "%-16s %-8s %-8s %-9s %-5s %s\n", "PLAN", "LATEST", "ADOPTED", "PROPOSED",
            "BY", "TITLE (PERIOD)");
    unsigned n = 0;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        n++;
        json_obj(&j, NULL);
        json_str(&j, "plan", (const char *)sqlite3_column_text(st, 0));
        json_str(&j, "title", (const char *)sqlite3_column_text(st, 1));
        json_str(&j, "period", (const char *)sqlite3_column_text(st, 2));
        json_str(&j, "org", (const char *)sqlite3_column_text(st, 3));
        json_u64(&j, "latest", ics_sql_column_u64(st, 4));
        json_u64(&j, "adopted", ics_sql_column_u64(st, 5));
        json_u64(&j, "proposed_amendments", ics_sql_column_u64(st, 6));
        json_end_obj(&j);
        char adopted[16] = "-";
        if (ics_sql_column_u64(st, 5) != 0)
            snprintf(adopted, sizeof adopted, "%" PRIu64, ics_sql_column_u64(st, 5));
        fprintf(text, "%-16s %-8" PRIu64 " %-8s %-9" PRIu64 " %-5s %s (%s)\n",
                (const char *)sqlite3_column_text(st, 0), ics_sql_column_u64(st, 4), adopted,
                ics_sql_column_u64(st, 6), (const char *)sqlite3_column_text(st, 3),
                (const char *)sqlite3_column_text(st, 1),
                (const char *)sqlite3_column_text(st, 2));
    }
    ics_sql_release(db, st);
    json_end_arr(&j);
    json_end_obj(&j);
    if (n == 0)
        fprintf(text, "(no plans yet: icsctl plan create)\n");
    return rc == ICS_ENOENT ? ICS_OK : ics_err(err, rc, "state database error");
}

/* plan.show PLAN [VERSION]: a version's sections (default the latest). */
static int s_query_show(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                        FILE *json, FILE *text, ics_err_t *err)
{
    ics_plan_t p;
    ics_plan_doc_t d;
    uint8_t hash[32];
    char hex[65], when[32], org[ICS_ORG_MAX], person[ICS_PERSON_MAX];
    uint64_t position = 0, clock = 0, amendment = 0;
    uint32_t v;
    json_t j;
    int rc;

    memset(&d, 0, sizeof d);
    if (argc < 1 || argc > 2)
        return ics_err(err, ICS_EINVAL, "plan show takes a plan id and optionally a version");
    rc = s_arg_plan(db, argv[0], &p, err);
    if (rc != ICS_OK)
        return rc;
    v = p.latest;
    if (argc == 2 && (rc = s_arg_version(&p, argv[1], &v, err)) != ICS_OK)
        return rc;
    rc = ics_plan_doc_load(db, p.plan, v, &d);
    if (rc == ICS_OK)
        rc = s_version_row(db, p.plan, v, hash, &position, &clock, &amendment, org, person);
    if (rc != ICS_OK) {
        ics_plan_doc_free(&d);
        return ics_err(err, rc, "state database error");
    }
    ics_hex(hash, 32, hex);
    ics_gov_time(clock, when);
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_str(&j, "plan", p.plan);
    json_str(&j, "title", p.title);
    json_str(&j, "period", p.period);
    json_u64(&j, "version", v);
    json_u64(&j, "latest", p.latest);
    json_u64(&j, "adopted", p.adopted);
    json_str(&j, "hash", hex);
    json_u64(&j, "index", position);
    json_u64(&j, "amendment", amendment);
    json_str(&j, "org", org);
    json_str(&j, "person", person);
    json_arr(&j, "sections");
    fprintf(text, "%s (%s)\n", p.title, p.period);
    fprintf(text, "plan %s, version %u of %u%s; content hash %s\n", p.plan, v, p.latest,
            p.adopted == v ? ", ADOPTED" : p.adopted ? "" : ", draft (no version adopted yet)",
            hex);
    if (p.adopted != 0 && p.adopted != v)
        fprintf(text, "(the adopted version is %u)\n", p.adopted);
    if (amendment == 0)
        fprintf(text, "created by %s (%s) at index %" PRIu64 ", %s\n", org, person, position,
                when);
    else
        fprintf(text, "made by amendment %" PRIu64 " of %s (%s), accepted at index %" PRIu64
                ", %s\n", amendment, org, person, position, when);
    for (size_t i = 0; i < d.n; i++) {
        json_obj(&j, NULL);
        json_str(&j, "id", d.sec[i].id);
        json_str(&j, "title", d.sec[i].title);
        json_str(&j, "text", d.sec[i].text);
        json_end_obj(&j);
        fprintf(text, "\n== %zu. %s  [%s]\n\n%s\n", i + 1, d.sec[i].title, d.sec[i].id,
                d.sec[i].text);
    }
    json_end_arr(&j);
    json_end_obj(&j);
    ics_plan_doc_free(&d);
    return ICS_OK;
}

static int s_history_consult(void *arg, const ics_consult_info_t *c)
{
    void **a = arg;
    FILE *text = a[0];
    json_t *j = a[1];
    char opens[32], closes[32];

    ics_gov_time(c->opens_ms, opens);
    ics_gov_time(c->closed_ms ? c->closed_ms : c->closes_ms, closes);
    json_obj(j, NULL);
    json_u64(j, "consultation", c->id);
    json_u64(j, "version", c->version);
    json_str(j, "status", c->status);
    json_u64(j, "opens_ms", c->opens_ms);
    json_u64(j, "closes_ms", c->closes_ms);
    json_u64(j, "closed_ms", c->closed_ms);
    json_str(j, "closed_by", c->closed_by);
    json_u64(j, "consultees", c->consultees);
    json_u64(j, "responded", c->responded);
    json_end_obj(j);
    fprintf(text, "  consultation %-6" PRIu64 " on version %-3u %-9s %s to %s%s%s; %u of %u "
            "consultees responded\n", c->id, c->version, c->status, opens, closes,
            c->closed_by[0] ? " closed by " : "", c->closed_by, c->responded, c->consultees);
    return ICS_OK;
}

/* One row of the versions of s_history_versions. */
static int s_history_version(sqlite3_stmt *st, const ics_plan_t *p, json_t *j, FILE *text)
{
    uint8_t hash[32];
    char hex[65], when[32], by[ICS_ORG_MAX + ICS_PERSON_MAX + 2];
    uint64_t version = ics_sql_column_u64(st, 0), amendment = ics_sql_column_u64(st, 4);
    const char *rationale = (const char *)sqlite3_column_text(st, 9);

    if (!ics_sql_column_blob(st, 1, hash, 32))
        return ICS_EIO;
    ics_hex(hash, 32, hex);
    ics_gov_time(ics_sql_column_u64(st, 3), when);
    snprintf(by, sizeof by, "%s %s", (const char *)sqlite3_column_text(st, 5),
             (const char *)sqlite3_column_text(st, 6));
    json_obj(j, NULL);
    json_u64(j, "version", version);
    json_str(j, "hash", hex);
    json_u64(j, "index", ics_sql_column_u64(st, 2));
    json_u64(j, "clock_ms", ics_sql_column_u64(st, 3));
    json_u64(j, "amendment", amendment);
    json_str(j, "org", (const char *)sqlite3_column_text(st, 5));
    json_str(j, "person", (const char *)sqlite3_column_text(st, 6));
    json_bool(j, "adopted", version == p->adopted);
    json_end_obj(j);
    fprintf(text, "%-8" PRIu64 " %-6" PRIu64 " %-21s %-28s ", version,
            ics_sql_column_u64(st, 2), when, by);
    if (amendment == 0)
        fprintf(text, "created with %" PRIu64 " sections", ics_sql_column_u64(st, 10));
    else
        fprintf(text, "amendment %" PRIu64 ": %s %s: %.60s%s", amendment,
                ics_amend_op_name(sqlite3_column_int(st, 7)),
                (const char *)sqlite3_column_text(st, 8), rationale ? rationale : "",
                rationale && strlen(rationale) > 60 ? "..." : "");
    fprintf(text, "%s\n        sha %.16s...\n", version == p->adopted ? "  [ADOPTED]" : "",
            hex);
    return ICS_OK;
}

/* Every version, and the amendment that made it ("versions"). */
static int s_history_versions(ics_db_t *db, const ics_plan_t *p, json_t *j, FILE *text)
{
    sqlite3_stmt *st = NULL;
    int rc;

    fprintf(text, "%-8s %-6s %-21s %-28s %s\n", "VERSION", "INDEX", "WHEN", "BY", "CHANGE");
    json_arr(j, "versions");
    rc = ics_sql_query(db, &st,
                         "SELECT v.version, v.hash, v.position, v.clock_ms, v.amendment, v.org,"
                         " v.person, a.op, a.section, a.rationale,"
                         " (SELECT count(*) FROM plan_sections s WHERE s.plan = v.plan AND"
                         " s.version = v.version)"
                         " FROM plan_versions v LEFT JOIN amendments a ON a.id = v.amendment"
                         " WHERE v.plan = ?1 ORDER BY v.version", "t", p->plan);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        rc = s_history_version(st, p, j, text);
        if (rc != ICS_OK)
            break;
    }
    ics_sql_release(db, st);
    if (rc != ICS_ENOENT)
        return rc;
    json_end_arr(j);
    return ICS_OK;
}

/* A part of the history after the versions: a JSON array (key) and a text
 * heading; s_history_end closes it, saying so when it had nothing. */
static void s_history_begin(json_t *j, FILE *text, const char *key, const char *heading)
{
    json_arr(j, key);
    fprintf(text, "\n%s\n", heading);
}

static int s_history_end(bool any, json_t *j, FILE *text)
{
    if (!any)
        fprintf(text, "  (none yet)\n");
    json_end_arr(j);
    return ICS_OK;
}

/* Each adoption: which version, by which motion, after which consultation
 * ("adoptions"). */
static int s_history_adoptions(ics_db_t *db, const ics_plan_t *p, json_t *j, FILE *text)
{
    sqlite3_stmt *st = NULL;
    bool any = false;
    int rc;

    s_history_begin(j, text, "adoptions", "Adoptions");
    rc = ics_sql_query(db, &st, "SELECT version, position, clock_ms, motion, consultation"
                                  " FROM adoptions WHERE plan = ?1 ORDER BY position", "t",
                         p->plan);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        char when[32];
        any = true;
        ics_gov_time(ics_sql_column_u64(st, 2), when);
        json_obj(j, NULL);
        json_u64(j, "version", ics_sql_column_u64(st, 0));
        json_u64(j, "index", ics_sql_column_u64(st, 1));
        json_u64(j, "clock_ms", ics_sql_column_u64(st, 2));
        json_u64(j, "motion", ics_sql_column_u64(st, 3));
        json_u64(j, "consultation", ics_sql_column_u64(st, 4));
        json_end_obj(j);
        fprintf(text, "  version %" PRIu64 " adopted at index %" PRIu64 ", %s, by motion %"
                PRIu64 " after consultation %" PRIu64 "\n", ics_sql_column_u64(st, 0),
                ics_sql_column_u64(st, 1), when, ics_sql_column_u64(st, 3),
                ics_sql_column_u64(st, 4));
    }
    ics_sql_release(db, st);
    if (rc != ICS_ENOENT)
        return rc;
    return s_history_end(any, j, text);
}

/* The plan's consultations, by s_history_consult ("consultations"). */
static int s_history_consultations(ics_db_t *db, const ics_plan_t *p, json_t *j, FILE *text)
{
    void *arg[2] = {text, j};
    long before;
    int rc;

    s_history_begin(j, text, "consultations", "Consultations");
    before = ftell(text);
    rc = ics_consult_each_for_plan(db, p->plan, s_history_consult, arg);
    if (rc != ICS_OK)
        return rc;
    return s_history_end(ftell(text) != before, j, text);
}

/* Every amendment and where it stands ("amendments"). */
static int s_history_amendments(ics_db_t *db, const ics_plan_t *p, json_t *j, FILE *text)
{
    sqlite3_stmt *st = NULL;
    bool any = false;
    int rc;

    s_history_begin(j, text, "amendments", "Amendments");
    rc = ics_sql_query(db, &st, "SELECT id, op, section, org, person, status, version,"
                                  " status_note FROM amendments WHERE plan = ?1 ORDER BY id",
                         "t", p->plan);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        const char *status = (const char *)sqlite3_column_text(st, 5);
        const char *note = (const char *)sqlite3_column_text(st, 7);
        any = true;
        json_obj(j, NULL);
        json_u64(j, "amendment", ics_sql_column_u64(st, 0));
        json_str(j, "op", ics_amend_op_name(sqlite3_column_int(st, 1)));
        json_str(j, "section", (const char *)sqlite3_column_text(st, 2));
        json_str(j, "org", (const char *)sqlite3_column_text(st, 3));
        json_str(j, "person", (const char *)sqlite3_column_text(st, 4));
        json_str(j, "status", status);
        json_u64(j, "version", ics_sql_column_u64(st, 6));
        json_str(j, "note", note);
        json_end_obj(j);
        fprintf(text, "  %-6" PRIu64 " %-8s %-18s %-9s %-20s %s", ics_sql_column_u64(st, 0),
                ics_amend_op_name(sqlite3_column_int(st, 1)),
                (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3),
                (const char *)sqlite3_column_text(st, 4), status);
        if (strcmp(status, "accepted") == 0)
            fprintf(text, " -> version %" PRIu64, ics_sql_column_u64(st, 6));
        else if (note[0] != '\0')
            fprintf(text, ": %s", note);
        fputc('\n', text);
    }
    ics_sql_release(db, st);
    if (rc != ICS_ENOENT)
        return rc;
    return s_history_end(any, j, text);
}

/* plan.history PLAN: versions, adoptions, consultations, amendments. */
static int s_query_history(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                           FILE *json, FILE *text, ics_err_t *err)
{
    ics_plan_t p;
    json_t j;
    int rc;

    if (argc != 1)
        return ics_err(err, ICS_EINVAL, "plan history takes a plan id");
    rc = s_arg_plan(db, argv[0], &p, err);
    if (rc != ICS_OK)
        return rc;
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_str(&j, "plan", p.plan);
    json_str(&j, "title", p.title);
    json_str(&j, "period", p.period);
    json_u64(&j, "latest", p.latest);
    json_u64(&j, "adopted", p.adopted);
    fprintf(text, "Plan %s: %s (%s)\n\n", p.plan, p.title, p.period);
    rc = s_history_versions(db, &p, &j, text);
    if (rc == ICS_OK)
        rc = s_history_adoptions(db, &p, &j, text);
    if (rc == ICS_OK)
        rc = s_history_consultations(db, &p, &j, text);
    if (rc == ICS_OK)
        rc = s_history_amendments(db, &p, &j, text);
    if (rc == ICS_OK)
        json_end_obj(&j);
    return rc == ICS_OK ? ICS_OK : ics_err(err, rc, "state database error");
}

/* plan.diff PLAN V1 V2 */
static int s_query_diff(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                        FILE *json, FILE *text, ics_err_t *err)
{
    ics_plan_t p;
    ics_plan_doc_t a, b;
    uint8_t ha[32], hb[32];
    char xa[65], xb[65], org[ICS_ORG_MAX], person[ICS_PERSON_MAX];
    uint64_t pos, clock, amendment;
    uint32_t va = 0, vb = 0;
    json_t j;
    int rc;

    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    if (argc != 3)
        return ics_err(err, ICS_EINVAL, "plan diff takes a plan id and two versions");
    rc = s_arg_plan(db, argv[0], &p, err);
    if (rc == ICS_OK)
        rc = s_arg_version(&p, argv[1], &va, err);
    if (rc == ICS_OK)
        rc = s_arg_version(&p, argv[2], &vb, err);
    if (rc != ICS_OK)
        return rc;
    rc = ics_plan_doc_load(db, p.plan, va, &a);
    if (rc == ICS_OK)
        rc = ics_plan_doc_load(db, p.plan, vb, &b);
    if (rc == ICS_OK)
        rc = s_version_row(db, p.plan, va, ha, &pos, &clock, &amendment, org, person);
    if (rc == ICS_OK)
        rc = s_version_row(db, p.plan, vb, hb, &pos, &clock, &amendment, org, person);
    if (rc != ICS_OK)
        goto out;
    ics_hex(ha, 32, xa);
    ics_hex(hb, 32, xb);
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_str(&j, "plan", p.plan);
    json_u64(&j, "from", va);
    json_u64(&j, "to", vb);
    json_str(&j, "from_hash", xa);
    json_str(&j, "to_hash", xb);
    fprintf(text, "--- %s version %u (sha %.16s...)\n+++ %s version %u (sha %.16s...)\n", p.plan,
            va, xa, p.plan, vb, xb);
    rc = ics_plan_doc_diff(text, &j, &a, &b);
    json_end_obj(&j);
out:
    ics_plan_doc_free(&a);
    ics_plan_doc_free(&b);
    return rc == ICS_OK ? ICS_OK : ics_err(err, rc, "state database error");
}

static void s_md_text(FILE *f, const char *s)
{
    /* Section text is the authors' Markdown; keep it, ending in a newline. */
    fputs(s, f);
    if (s[0] != '\0' && s[strlen(s) - 1] != '\n')
        fputc('\n', f);
}

/* What plan.publish publishes: a version of a plan and, when it was
 * adopted, the adoption (motion 0: a draft). */
typedef struct {
    const char *group;
    const ics_plan_t *p;
    uint32_t v;
    ics_plan_doc_t d;
    char hex[65];               /* the version's content hash */
    uint64_t motion, consultation, adopted_at, adopted_clock;
} s_pub_t;

/* The latest adoption of the version, if any. */
static int s_pub_adoption(ics_db_t *db, s_pub_t *pub)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = ics_sql_query(db, &st, "SELECT motion, consultation, position, clock_ms FROM"
                                  " adoptions WHERE plan = ?1 AND version = ?2"
                                  " ORDER BY position DESC LIMIT 1", "tu", pub->p->plan,
                         (uint64_t)pub->v);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK) {
        pub->motion = ics_sql_column_u64(st, 0);
        pub->consultation = ics_sql_column_u64(st, 1);
        pub->adopted_at = ics_sql_column_u64(st, 2);
        pub->adopted_clock = ics_sql_column_u64(st, 3);
    }
    ics_sql_release(db, st);
    return rc == ICS_ENOENT ? ICS_OK : rc;
}

/* The publication as Markdown: the plan's head, its sections, the HWB
 * opinions of the consultation and the decision record. */
static int s_pub_markdown(ics_db_t *db, const s_pub_t *pub, FILE *f)
{
    const ics_plan_t *p = pub->p;
    char when[32];
    int rc;

    fprintf(f, "# %s\n\n", p->title);
    if (pub->motion == 0)
        fprintf(f, "> **DRAFT: version %u has not been adopted.** It is published for "
                   "information only.\n\n", pub->v);
    fprintf(f, "| | |\n|---|---|\n");
    fprintf(f, "| Plan | `%s`, group `%s` |\n", p->plan, pub->group);
    fprintf(f, "| Period | %s |\n", p->period);
    fprintf(f, "| Version | %u of %u |\n", pub->v, p->latest);
    fprintf(f, "| Content hash | `%s` (BLAKE2b-256, docs/policy.md) |\n", pub->hex);
    if (pub->motion != 0) {
        ics_gov_time(pub->adopted_clock, when);
        fprintf(f, "| Status | Adopted at log index %" PRIu64 " (%s) by motion %" PRIu64 " |\n",
                pub->adopted_at, when, pub->motion);
        fprintf(f, "| Consultation | round %" PRIu64 " |\n", pub->consultation);
    } else {
        fprintf(f, "| Status | Draft |\n");
    }
    fprintf(f, "\n## Contents\n\n");
    for (size_t i = 0; i < pub->d.n; i++)
        fprintf(f, "%zu. %s\n", i + 1, pub->d.sec[i].title);
    for (size_t i = 0; i < pub->d.n; i++) {
        fprintf(f, "\n## %zu. %s\n\n", i + 1, pub->d.sec[i].title);
        s_md_text(f, pub->d.sec[i].text);
    }
    if (pub->consultation != 0) {
        fprintf(f, "\n");
        rc = ics_consult_markdown(db, pub->consultation, f);
        if (rc != ICS_OK)
            return rc;
    }
    if (pub->motion != 0) {
        fprintf(f, "\n");
        rc = ics_motions_record_markdown(db, pub->motion, f);
        if (rc != ICS_OK)
            return rc;
    }
    fprintf(f, "\n---\nPublished from the replicated log of group `%s`. Anyone holding an "
               "export of the log (`icsctl log export`) can check every entry cited here with "
               "`icsctl log verify`.\n", pub->group);
    return ICS_OK;
}

/* The publication as JSON, its Markdown (md) included. */
static int s_pub_json(ics_db_t *db, const s_pub_t *pub, const char *md, FILE *json)
{
    json_t j;
    int rc;

    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", pub->group);
    json_str(&j, "plan", pub->p->plan);
    json_str(&j, "title", pub->p->title);
    json_str(&j, "period", pub->p->period);
    json_u64(&j, "version", pub->v);
    json_str(&j, "hash", pub->hex);
    json_bool(&j, "adopted", pub->motion != 0);
    json_u64(&j, "adopted_at", pub->adopted_at);
    json_arr(&j, "sections");
    for (size_t i = 0; i < pub->d.n; i++) {
        json_obj(&j, NULL);
        json_str(&j, "id", pub->d.sec[i].id);
        json_str(&j, "title", pub->d.sec[i].title);
        json_str(&j, "text", pub->d.sec[i].text);
        json_end_obj(&j);
    }
    json_end_arr(&j);
    if (pub->consultation != 0) {
        json_obj(&j, "consultation");
        rc = ics_consult_json(db, pub->consultation, &j);
        json_end_obj(&j);
        if (rc != ICS_OK)
            return rc;
    }
    if (pub->motion != 0) {
        json_obj(&j, "decision");
        rc = ics_motions_record_json(db, pub->motion, &j);
        json_end_obj(&j);
        if (rc != ICS_OK)
            return rc;
    }
    json_str(&j, "markdown", md);
    json_end_obj(&j);
    return ICS_OK;
}

/* plan.publish PLAN [VERSION]: the adopted plan (or a draft version) as
 * Markdown, with the HWB opinions and the decision record. */
static int s_query_publish(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                           FILE *json, FILE *text, ics_err_t *err)
{
    ics_plan_t p;
    s_pub_t pub;
    uint8_t hash[32];
    char org[ICS_ORG_MAX], person[ICS_PERSON_MAX];
    char *md = NULL;
    size_t mdlen = 0;
    uint64_t pos, clock, amendment;
    FILE *f = NULL;
    int rc;

    memset(&pub, 0, sizeof pub);
    if (argc < 1 || argc > 2)
        return ics_err(err, ICS_EINVAL, "plan publish takes a plan id and optionally a version");
    rc = s_arg_plan(db, argv[0], &p, err);
    if (rc != ICS_OK)
        return rc;
    pub.group = group;
    pub.p = &p;
    pub.v = p.adopted;
    if (argc == 2 && (rc = s_arg_version(&p, argv[1], &pub.v, err)) != ICS_OK)
        return rc;
    if (pub.v == 0)
        return ics_err(err, ICS_ENOENT, "plan %s has no adopted version yet; to publish a draft "
                                        "give its version (1 to %u)", p.plan, p.latest);
    rc = s_pub_adoption(db, &pub);
    if (rc == ICS_OK)
        rc = ics_plan_doc_load(db, p.plan, pub.v, &pub.d);
    if (rc == ICS_OK)
        rc = s_version_row(db, p.plan, pub.v, hash, &pos, &clock, &amendment, org, person);
    if (rc != ICS_OK)
        goto out;
    ics_hex(hash, 32, pub.hex);
    f = open_memstream(&md, &mdlen);
    if (f == NULL) {
        rc = ICS_ENOMEM;
        goto out;
    }
    rc = s_pub_markdown(db, &pub, f);
    if (rc != ICS_OK)
        goto out;
    fclose(f);
    f = NULL;
    fputs(md, text);
    rc = s_pub_json(db, &pub, md, json);
out:
    if (f != NULL)
        fclose(f);
    free(md);
    ics_plan_doc_free(&pub.d);
    return rc == ICS_OK ? ICS_OK : ics_err(err, rc, "state database error");
}

static const char *s_status_word(const char *s)
{
    static const char *const known[] = {"proposed", "accepted", "rejected", "withdrawn",
                                        "superseded", NULL};
    for (int i = 0; known[i] != NULL; i++)
        if (strcmp(s, known[i]) == 0)
            return known[i];
    return NULL;
}

/* amend.list [PLAN|-] [STATUS] */
static int s_query_amend_list(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                              FILE *json, FILE *text, ics_err_t *err)
{
    sqlite3_stmt *st = NULL;
    const char *plan = argc > 0 && strcmp(argv[0], "-") != 0 ? argv[0] : "";
    const char *status = argc > 1 ? argv[1] : "";
    json_t j;
    unsigned n = 0;
    int rc;

    if (argc > 2)
        return ics_err(err, ICS_EINVAL, "amend list takes an optional plan and status");
    if (plan[0] != '\0' && !ics_plans_valid_key(plan))
        return ics_err(err, ICS_EINVAL, "'%s' is not a plan id", plan);
    if (status[0] != '\0' && s_status_word(status) == NULL)
        return ics_err(err, ICS_EINVAL, "status '%s' is not one of proposed, accepted, rejected, "
                                        "withdrawn, superseded", status);
    rc = ics_sql_query(db, &st, "SELECT " ICS_AMEND_COLUMNS " FROM amendments"
                                  " WHERE (?1 = '' OR plan = ?1) AND (?2 = '' OR status = ?2)"
                                  " ORDER BY id", "tt", plan, status);
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_arr(&j, "amendments");
    fprintf(text, "%-7s %-14s %-5s %-8s %-18s %-9s %-18s %s\n", "ID", "PLAN", "BASE", "OP",
            "SECTION", "ORG", "PERSON", "STATUS");
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        ics_amend_t a;
        rc = ics_amend_read(st, &a);
        if (rc != ICS_OK)
            break;
        n++;
        json_obj(&j, NULL);
        json_u64(&j, "amendment", a.id);
        json_str(&j, "plan", a.plan);
        json_u64(&j, "base", a.base);
        json_str(&j, "op", ics_amend_op_name(a.op));
        json_str(&j, "section", a.section);
        json_str(&j, "org", a.org);
        json_str(&j, "person", a.person);
        json_str(&j, "status", a.status);
        json_u64(&j, "version", a.version);
        json_u64(&j, "motion", a.motion);
        json_str(&j, "rationale", a.rationale);
        json_str(&j, "note", a.note);
        json_end_obj(&j);
        fprintf(text, "%-7" PRIu64 " %-14s %-5u %-8s %-18s %-9s %-18s %s", a.id, a.plan, a.base,
                ics_amend_op_name(a.op), a.section, a.org, a.person, a.status);
        if (strcmp(a.status, "accepted") == 0)
            fprintf(text, " (version %u)", a.version);
        fputc('\n', text);
        ics_amend_free(&a);
    }
    ics_sql_release(db, st);
    json_end_arr(&j);
    json_end_obj(&j);
    if (rc == ICS_ENOENT && n == 0)
        fprintf(text, "(no amendments%s%s%s%s)\n", plan[0] ? " to " : "", plan,
                status[0] ? " that are " : "", status);
    return rc == ICS_ENOENT ? ICS_OK : ics_err(err, rc, "state database error");
}

/* The section as the amendment would leave it, from `before` (its text in
 * the base version; in_base: the section is there). ps and *built hold
 * what the answer points into: free them after. */
static const char *s_amend_after(const ics_amend_t *a, const char *before, bool in_base,
                                 ics_plan_paras_t *ps, char **built)
{
    switch (a->op) {
    case ICS__V1__AMEND_OP__AMEND_ADD:
    case ICS__V1__AMEND_OP__AMEND_REPLACE:
        return a->text;
    case ICS__V1__AMEND_OP__AMEND_DELETE:
        if (a->paragraph != 0 && in_base && ics_plan_paras_split(before, ps) == ICS_OK &&
            a->paragraph <= ps->n) {
            free(ps->p[a->paragraph - 1]);
            memmove(&ps->p[a->paragraph - 1], &ps->p[a->paragraph],
                    (ps->n - a->paragraph) * sizeof *ps->p);
            ps->n--;
            *built = ics_plan_paras_join(ps);
        }
        return *built != NULL ? *built : "";
    default: {
        ics_plan_paras_t add;
        memset(&add, 0, sizeof add);
        if (in_base && ics_plan_paras_split(before, ps) == ICS_OK &&
            ics_plan_paras_split(a->text, &add) == ICS_OK && a->paragraph <= ps->n + 1) {
            size_t at = a->paragraph == 0 ? ps->n : a->paragraph - 1;
            char **p = realloc(ps->p, (ps->n + add.n + 1) * sizeof *p);
            if (p != NULL) {
                ps->p = p;
                memmove(&ps->p[at + add.n], &ps->p[at], (ps->n - at) * sizeof *ps->p);
                memcpy(&ps->p[at], add.p, add.n * sizeof *add.p);
                ps->n += add.n;
                free(add.p);
                add.p = NULL;
                add.n = 0;
                *built = ics_plan_paras_join(ps);
            }
        }
        ics_plan_paras_free(&add);
        return *built != NULL ? *built : a->text;
    }
    }
}

static void s_amend_show_json(const char *group, const ics_amend_t *a, const char *hunks,
                              FILE *json)
{
    json_t j;

    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_u64(&j, "amendment", a->id);
    json_str(&j, "plan", a->plan);
    json_u64(&j, "base", a->base);
    json_str(&j, "op", ics_amend_op_name(a->op));
    json_str(&j, "section", a->section);
    json_str(&j, "title", a->title);
    json_str(&j, "text", a->text);
    json_u64(&j, "paragraph", a->paragraph);
    json_str(&j, "after", a->after);
    json_str(&j, "rationale", a->rationale);
    json_str(&j, "org", a->org);
    json_str(&j, "person", a->person);
    json_u64(&j, "clock_ms", a->clock_ms);
    json_str(&j, "status", a->status);
    json_u64(&j, "status_at", a->status_at);
    json_str(&j, "note", a->note);
    json_u64(&j, "version", a->version);
    json_u64(&j, "motion", a->motion);
    json_str(&j, "diff", hunks);
    json_end_obj(&j);
}

static void s_amend_show_text(const ics_amend_t *a, const char *hunks, FILE *text)
{
    char when[32];

    ics_gov_time(a->clock_ms, when);
    fprintf(text, "amendment %" PRIu64 " to plan %s, against version %u\n", a->id, a->plan,
            a->base);
    fprintf(text, "proposed by  %s (%s), %s\n", a->org, a->person, when);
    fprintf(text, "change       %s ", ics_amend_op_name(a->op));
    if (a->op == ICS__V1__AMEND_OP__AMEND_ADD)
        fprintf(text, "section %s \"%s\" %s%s\n", a->section, a->title,
                a->after[0] ? "after " : "at the end", a->after);
    else if (a->op == ICS__V1__AMEND_OP__AMEND_INSERT)
        fprintf(text, "into section %s %s%u\n", a->section,
                a->paragraph ? "before paragraph " : "at the end", a->paragraph);
    else if (a->op == ICS__V1__AMEND_OP__AMEND_DELETE && a->paragraph)
        fprintf(text, "paragraph %u of section %s\n", a->paragraph, a->section);
    else
        fprintf(text, "section %s%s%s%s\n", a->section, a->title[0] ? " (new title \"" : "",
                a->title, a->title[0] ? "\")" : "");
    fprintf(text, "status       %s", a->status);
    if (strcmp(a->status, "accepted") == 0)
        fprintf(text, ": version %u, by motion %" PRIu64 " at index %" PRIu64, a->version,
                a->motion, a->status_at);
    else if (strcmp(a->status, "proposed") != 0)
        fprintf(text, " at index %" PRIu64 "%s%s", a->status_at, a->note[0] ? ": " : "",
                a->note);
    fprintf(text, "\nrationale    %s\n\n--- section %s, version %u\n+++ as amended\n%s",
            a->rationale, a->section, a->base, hunks);
}

/* amend.show ID: the amendment, what happened to it, and its change as a
 * diff against its base version. */
static int s_query_amend_show(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                              FILE *json, FILE *text, ics_err_t *err)
{
    ics_amend_t a;
    ics_plan_doc_t base;
    uint64_t id = 0;
    long i;
    char *hunks = NULL;
    size_t hlen = 0;
    const char *before, *after;
    ics_plan_paras_t ps;
    char *built = NULL;
    FILE *h;
    int rc;

    memset(&base, 0, sizeof base);
    memset(&ps, 0, sizeof ps);
    if (argc != 1 || !ics_gov_arg_u64(argv[0], &id))
        return ics_err(err, ICS_EINVAL, "amend show takes an amendment number");
    rc = ics_amend_get(db, id, &a);
    if (rc == ICS_ENOENT)
        return ics_err(err, ICS_ENOENT, "there is no amendment %s", argv[0]);
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");
    rc = ics_plan_doc_load(db, a.plan, a.base, &base);
    if (rc != ICS_OK)
        goto out;
    i = ics_plan_doc_find(&base, a.section);
    before = i >= 0 ? base.sec[i].text : "";
    /* The change as it reads against the base version. */
    after = s_amend_after(&a, before, i >= 0, &ps, &built);
    h = open_memstream(&hunks, &hlen);
    if (h == NULL) {
        rc = ICS_ENOMEM;
        goto out;
    }
    rc = ics_text_unified(h, before, after);
    fclose(h);
    if (rc != ICS_OK)
        goto out;
    s_amend_show_json(group, &a, hunks, json);
    s_amend_show_text(&a, hunks, text);
out:
    free(hunks);
    free(built);
    ics_plan_paras_free(&ps);
    ics_plan_doc_free(&base);
    ics_amend_free(&a);
    return rc == ICS_OK ? ICS_OK : ics_err(err, rc, "state database error");
}

const ics_fsm_query_t ics_plans_queries[] = {
    {"plan.list", s_query_list},
    {"plan.show", s_query_show},
    {"plan.history", s_query_history},
    {"plan.diff", s_query_diff},
    {"plan.publish", s_query_publish},
    {"amend.list", s_query_amend_list},
    {"amend.show", s_query_amend_show},
    {NULL, NULL},
};
