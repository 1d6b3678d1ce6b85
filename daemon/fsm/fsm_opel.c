/*
 * OPEL: each organisation's Operational Pressures Escalation Level (1 to 4)
 * for each provider type it runs, with the parameters behind it, and the
 * system level derived from them.
 *
 *   1  maintaining flow
 *   2  signs of pressure
 *   3  major pressures compromising flow
 *   4  unable to deliver comprehensive care
 *
 * A report (OpelReport, signed by the organisation itself) names a provider
 * type (acute, mental_health, community, ambulance, social_care), a level,
 * and any of the parameters the catalogue below defines for that type, in
 * whole units (percent, minutes, hours or counts). Nothing is ever updated
 * in place: every report is kept, so the history is the state.
 *
 * The system level (docs/opel-and-aid.md, "System OPEL") is derived from the
 * current reports: the latest per (organisation, provider type), from a
 * current member, at most S_STALE_MS old by the log clock. In integers:
 *
 *   W = sum of weights, S = sum of weight x level   (weights: s_types[])
 *   score = (100 S + W/2) / W          the weighted mean level x 100
 *   level = (2 S + W) / (2 W)          that mean, rounded half up
 *   if any current report is at 4, level >= 3
 *   if the reports at 4 carry at least half of W, level = 4
 *   no current report: level 0 ("not known")
 *
 * Invariants:
 *   - a report is about its signer only, and every one is kept;
 *   - opel_system gets a row whenever the derived level or score changes
 *     (after a report, or when the log clock makes a report stale), so the
 *     system history is part of the replicated state, not recomputed from
 *     a wall clock;
 *   - only integers; every query has a total order.
 */
#include "fsm/fsm_internal.h"
#include "common/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_STALE_MS (24ull * 3600 * 1000) /* a report counts for a day of log time */
#define S_PARAMS_MAX 16
#define S_NOTE_MAX 500

/* ---------------------------------------------------------------- catalogue */

typedef struct {
    const char *type;
    const char *name;
    const char *unit;        /* "%", "min", "h", "" (a count) */
    uint64_t max;
    const char *what;
} s_param_t;

typedef struct {
    const char *name;
    unsigned weight;         /* share in the system level */
    const char *what;
} s_type_t;

/* Acute trusts drive system flow most (ED, beds, handovers); ambulance and
 * mental health services next; community and social care are weighted
 * once. Changing a weight changes what every node derives: it is part of
 * the log's meaning, so only ever add types. */
static const s_type_t s_types[] = {
    {"acute", 3, "acute hospital services"},
    {"ambulance", 2, "ambulance service"},
    {"mental_health", 2, "mental health services"},
    {"community", 1, "community health services"},
    {"social_care", 1, "adult social care"},
    {NULL, 0, NULL},
};

static const s_param_t s_params[] = {
    {"acute", "handover_mean_mins", "min", 1440, "mean ambulance handover time"},
    {"acute", "handovers_over_60", "", 10000, "ambulance handovers over 60 minutes, last 24 hours"},
    {"acute", "ed_4h_pct", "%", 100, "4-hour performance: attendances seen within 4 hours"},
    {"acute", "ed_12h_count", "", 10000, "patients in ED over 12 hours from arrival"},
    {"acute", "ed_occupancy_pct", "%", 1000, "ED majors and resus occupancy"},
    {"acute", "ga_occupancy_pct", "%", 200, "adult general and acute bed occupancy"},
    {"acute", "nctr_count", "", 100000, "patients not meeting the criteria to reside"},
    {"acute", "critical_care_occupancy_pct", "%", 200, "adult critical care occupancy"},
    {"mental_health", "mh_occupancy_pct", "%", 200, "adult acute mental health bed occupancy"},
    {"mental_health", "s136_count", "", 10000, "section 136 detentions, last 24 hours"},
    {"mental_health", "out_of_area_count", "", 10000, "inappropriate out-of-area placements"},
    {"mental_health", "mh_ed_12h_count", "", 10000, "mental health patients in ED over 12 hours"},
    {"community", "community_occupancy_pct", "%", 200, "community bed occupancy"},
    {"community", "nctr_count", "", 100000, "community patients not meeting the criteria to reside"},
    {"community", "ucr_2h_pct", "%", 100, "urgent community responses within 2 hours"},
    {"community", "virtual_ward_occupancy_pct", "%", 200, "virtual ward occupancy"},
    {"community", "awaiting_package_count", "", 100000, "patients awaiting a care package"},
    {"ambulance", "cat2_mean_mins", "min", 1440, "category 2 mean response time"},
    {"ambulance", "handover_hours_lost", "h", 100000, "hours lost to handover delays, last 24 hours"},
    {"ambulance", "incidents_waiting", "", 100000, "incidents waiting for a response"},
    {"ambulance", "handovers_over_60", "", 10000, "handovers over 60 minutes, last 24 hours"},
    {"social_care", "care_home_occupancy_pct", "%", 200, "care home occupancy"},
    {"social_care", "home_care_hours_unmet", "h", 1000000, "home care hours a week not delivered"},
    {"social_care", "awaiting_assessment_count", "", 100000, "people awaiting a Care Act assessment"},
    {"social_care", "delayed_discharge_count", "", 100000, "people in hospital awaiting social care"},
    {NULL, NULL, NULL, 0, NULL},
};

static const s_type_t *s_type(const char *name)
{
    for (const s_type_t *t = s_types; t->name != NULL; t++)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

static const s_param_t *s_param(const char *type, const char *name)
{
    for (const s_param_t *p = s_params; p->name != NULL; p++)
        if (strcmp(p->type, type) == 0 && strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

static const char *const s_level_words[] = {
    "not known", "maintaining flow", "signs of pressure", "major pressures compromising flow",
    "unable to deliver comprehensive care"};

/* ---------------------------------------------------------------- schema */

static const char s_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS opel_reports("
    " id INTEGER PRIMARY KEY,"         /* log position of the report */
    " org TEXT NOT NULL,"
    " provider_type TEXT NOT NULL,"
    " level INTEGER NOT NULL,"
    " reported_ms INTEGER NOT NULL,"   /* log clock */
    " actor TEXT NOT NULL,"
    " note TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS opel_reports_by_org ON opel_reports(org, provider_type, id);"
    "CREATE TABLE IF NOT EXISTS opel_parameters("
    " report INTEGER NOT NULL,"
    " name TEXT NOT NULL,"
    " value INTEGER NOT NULL,"
    " PRIMARY KEY (report, name));"
    "CREATE TABLE IF NOT EXISTS opel_system("
    " position INTEGER PRIMARY KEY,"   /* entry at which it changed */
    " at_ms INTEGER NOT NULL,"
    " level INTEGER NOT NULL,"         /* 0: no current report */
    " score INTEGER NOT NULL,"         /* weighted mean level x 100 */
    " reports INTEGER NOT NULL,"       /* current reports counted */
    " basis TEXT NOT NULL);";

static int s_schema(ics_db_t *db)
{
    return ics_sql_exec(db, s_schema_sql);
}

/* ---------------------------------------------------------------- helpers */

static void s_fmt_time(uint64_t ms, char *out, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (ms == 0 || gmtime_r(&t, &tm) == NULL) {
        snprintf(out, size, "-");
        return;
    }
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}


/* Text people typed: bounded, valid UTF-8, no control characters but
 * newline and tab (it goes into terminals and JSON). */
static bool s_text_ok(const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);

    if (n > max)
        return false;
    while (*p) {
        unsigned c = *p, len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
                                            : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (len == 0 || (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ||
            (len == 2 && c < 0xc2))
            return false;
        for (unsigned i = 1; i < len; i++)
            if ((p[i] & 0xc0) != 0x80)
                return false;
        p += len;
    }
    return true;
}

/* ---------------------------------------------------------------- derivation */

typedef struct {
    unsigned level;          /* 0..4 */
    uint64_t score;          /* weighted mean x 100, 0 if none */
    unsigned reports;
    char basis[200];
    uint64_t stale_at;       /* when the first of the reports counted goes stale, 0 if none */
} s_system_t;

/* The current reports: the latest per (org, provider type) of a current
 * member, not stale at clock. Columns: id, org, provider_type, level,
 * reported_ms, actor, note. */
#define S_CURRENT_SQL                                                                       \
    "SELECT r.id, r.org, r.provider_type, r.level, r.reported_ms, r.actor, r.note"         \
    " FROM opel_reports r JOIN members m ON m.org = r.org AND m.active = 1"                 \
    " WHERE r.id = (SELECT max(id) FROM opel_reports x WHERE x.org = r.org"                 \
    "               AND x.provider_type = r.provider_type)"                                 \
    "   AND r.reported_ms + ?1 > ?2"

static int s_derive(ics_db_t *db, uint64_t clock, s_system_t *out)
{
    sqlite3_stmt *st = NULL;
    uint64_t w_total = 0, s_total = 0, w_four = 0;
    char first_four[ICS_ORG_MAX + 32] = "";
    unsigned fours = 0;
    int rc;

    memset(out, 0, sizeof *out);
    rc = ics_sql_query(db, &st, S_CURRENT_SQL " ORDER BY r.org, r.provider_type", "uu",
                       (uint64_t)S_STALE_MS, clock);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        const s_type_t *t = s_type(ics_sql_column_str(st, 2));
        unsigned level = (unsigned)sqlite3_column_int(st, 3);
        unsigned w = t != NULL ? t->weight : 1;
        uint64_t stale_at = ics_sql_column_u64(st, 4) + S_STALE_MS;
        if (out->stale_at == 0 || stale_at < out->stale_at)
            out->stale_at = stale_at;
        w_total += w;
        s_total += (uint64_t)w * level;
        out->reports++;
        if (level == 4) {
            w_four += w;
            if (fours++ == 0)
                snprintf(first_four, sizeof first_four, "%s (%s)", ics_sql_column_str(st, 1), ics_sql_column_str(st, 2));
        }
    }
    ics_sql_release(db, st);
    if (rc != ICS_ENOENT)
        return rc;
    if (w_total == 0) {
        snprintf(out->basis, sizeof out->basis, "no current reports");
        return ICS_OK;
    }
    out->score = (100 * s_total + w_total / 2) / w_total;
    out->level = (unsigned)((2 * s_total + w_total) / (2 * w_total));
    if (fours > 0 && 2 * w_four >= w_total) {
        out->level = 4;
        snprintf(out->basis, sizeof out->basis,
                 "%u of %u reports at OPEL 4, carrying half the weight or more", fours,
                 out->reports);
    } else if (fours > 0 && out->level < 3) {
        out->level = 3;
        snprintf(out->basis, sizeof out->basis, "%s%s at OPEL 4 raises the weighted mean",
                 first_four, fours > 1 ? " and others" : "");
    } else {
        snprintf(out->basis, sizeof out->basis, "weighted mean of %u current report%s",
                 out->reports, out->reports == 1 ? "" : "s");
    }
    return ICS_OK;
}

/* The system derived at clock, and whether it differs from the last one
 * recorded in level or score (with none recorded: whether any report is
 * current). */
static int s_system_at(ics_db_t *db, uint64_t clock, s_system_t *sys, bool *changed)
{
    sqlite3_stmt *st = NULL;
    bool same = false;
    int rc;

    *changed = false;
    rc = s_derive(db, clock, sys);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_prepare(db, "SELECT level, score FROM opel_system"
                             " ORDER BY position DESC LIMIT 1", &st);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK)
        same = (unsigned)sqlite3_column_int(st, 0) == sys->level &&
               ics_sql_column_u64(st, 1) == sys->score;
    else if (rc == ICS_ENOENT)
        same = sys->reports == 0; /* nothing known, nothing to record */
    ics_sql_release(db, st);
    if (rc != ICS_OK && rc != ICS_ENOENT)
        return rc;
    *changed = !same;
    return ICS_OK;
}

/* Appends a system history row if the derived level or score changed. */
static int s_record_system(ics_apply_ctx_t *ctx)
{
    s_system_t sys;
    bool changed;
    int rc;

    rc = s_system_at(ctx->db, ctx->clock_ms, &sys, &changed);
    if (rc != ICS_OK || !changed)
        return rc;
    return ics_sql_run(ctx->db, "INSERT OR REPLACE INTO opel_system(position, at_ms, level,"
                                " score, reports, basis) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                       "uuiuit", ctx->position, ctx->clock_ms, (int)sys.level, sys.score,
                       (int)sys.reports, sys.basis);
}

/* ---------------------------------------------------------------- commands */

static int s_report(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__OpelReport *r = cmd->opel_report;
    const s_type_t *type;
    int rc;

    if (r->level < 1 || r->level > 4)
        return ics_reject(ctx, "OPEL level %u is not 1 to 4", r->level);
    type = s_type(r->provider_type);
    if (type == NULL)
        return ics_reject(ctx, "unknown provider type '%.40s' (expected acute, ambulance,"
                               " mental_health, community or social_care)", r->provider_type);
    if (r->n_parameters > S_PARAMS_MAX)
        return ics_reject(ctx, "%zu parameters given; at most %d", r->n_parameters,
                          S_PARAMS_MAX);
    if (!s_text_ok(r->note, S_NOTE_MAX))
        return ics_reject(ctx, "note is longer than %d bytes, or not plain UTF-8 text",
                          S_NOTE_MAX);
    for (size_t i = 0; i < r->n_parameters; i++) {
        const Ics__V1__OpelParameter *p = r->parameters[i];
        const s_param_t *def = s_param(type->name, p->name);
        if (def == NULL)
            return ics_reject(ctx, "'%.40s' is not an OPEL parameter for %s providers (see"
                                   " icsctl opel parameters %s)", p->name, type->name,
                              type->name);
        if (p->value > def->max)
            return ics_reject(ctx, "%s = %" PRIu64 " is out of range (0 to %" PRIu64 "%s)",
                              p->name, p->value, def->max, def->unit);
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->parameters[j]->name, p->name) == 0)
                return ics_reject(ctx, "parameter %s is given twice", p->name);
    }

    rc = ics_sql_run(ctx->db, "INSERT INTO opel_reports(id, org, provider_type, level,"
                              " reported_ms, actor, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                     "uttiutt", ctx->position, ctx->org, type->name, (int)r->level,
                     ctx->clock_ms, ctx->actor, r->note);
    /* Each value is at most its parameter's max (checked above). */
    for (size_t i = 0; i < r->n_parameters && rc == ICS_OK; i++)
        rc = ics_sql_run(ctx->db, "INSERT INTO opel_parameters(report, name, value)"
                                  " VALUES (?1, ?2, ?3)", "utu", ctx->position,
                         r->parameters[i]->name, r->parameters[i]->value);
    if (rc == ICS_OK)
        rc = s_record_system(ctx);
    return rc;
}

static const ics_fsm_handler_t s_handlers[] = {
    {ICS__V1__COMMAND__BODY_OPEL_REPORT, s_report},
    {0, NULL},
};

/* Reports go stale as the log clock moves: the system level may change. */
static int s_on_clock(ics_apply_ctx_t *ctx)
{
    return s_record_system(ctx);
}

/* The system level changes only when the set of current reports does: by
 * a report, by a member leaving or coming back (which records nothing
 * itself: the level is recorded the next time the clock moves, so it is
 * overdue), or by a report going stale (next). */
static int s_deadline(ics_db_t *db, uint64_t clock, ics_deadline_t *out)
{
    s_system_t sys;
    bool changed;
    int rc = s_system_at(db, clock, &sys, &changed);

    if (rc != ICS_OK)
        return rc;
    out->next = sys.stale_at;
    out->overdue = changed;
    return ICS_OK;
}

/* ---------------------------------------------------------------- reads shared with aid */

int ics_opel_current(ics_db_t *db, const char *org, uint64_t clock_ms, unsigned *level,
                     uint64_t *report)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *level = 0;
    *report = 0;
    rc = ics_sql_query(db, &st, "SELECT id, level FROM (" S_CURRENT_SQL ") WHERE org = ?3"
                                " ORDER BY level DESC, id DESC LIMIT 1", "uut",
                       (uint64_t)S_STALE_MS, clock_ms, org);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK) {
        *report = ics_sql_column_u64(st, 0);
        *level = (unsigned)sqlite3_column_int(st, 1);
    } else if (rc == ICS_ENOENT) {
        rc = ICS_OK;
    }
    ics_sql_release(db, st);
    return rc;
}

/* "name=value unit, ..." of a report, for text output. */
static void s_param_line(ics_db_t *db, uint64_t report, const char *type, char *out,
                         size_t size)
{
    sqlite3_stmt *st = NULL;
    size_t used = 0;

    out[0] = '\0';
    if (ics_sql_query(db, &st, "SELECT name, value FROM opel_parameters WHERE report = ?1"
                               " ORDER BY name", "u", report) != ICS_OK)
        return;
    while (ics_sql_row(db, st) == ICS_OK) {
        const s_param_t *def = s_param(type, ics_sql_column_str(st, 0));
        char item[128];
        int n = snprintf(item, sizeof item, "%s%s=%" PRIu64 "%s", used ? " " : "",
                         ics_sql_column_str(st, 0), ics_sql_column_u64(st, 1), def ? def->unit : "");
        /* Whole items only: a cut one would misread as another value. */
        if (n < 0 || used + (size_t)n + 5 > size) {
            if (used + 5 <= size)
                memcpy(out + used, " ...", 5);
            break;
        }
        memcpy(out + used, item, (size_t)n + 1);
        used += (size_t)n;
    }
    ics_sql_release(db, st);
}

static void s_json_params(ics_db_t *db, json_t *j, uint64_t report)
{
    sqlite3_stmt *st = NULL;

    json_obj(j, "parameters");
    if (ics_sql_query(db, &st, "SELECT name, value FROM opel_parameters WHERE report = ?1"
                               " ORDER BY name", "u", report) == ICS_OK) {
        while (ics_sql_row(db, st) == ICS_OK)
            json_u64(j, ics_sql_column_str(st, 0), ics_sql_column_u64(st, 1));
    }
    ics_sql_release(db, st);
    json_end_obj(j);
}

static void s_json_system(json_t *j, const s_system_t *sys)
{
    json_obj(j, "system");
    json_u64(j, "level", sys->level);
    json_str(j, "meaning", s_level_words[sys->level]);
    json_u64(j, "score_x100", sys->score);
    json_u64(j, "reports", sys->reports);
    json_str(j, "basis", sys->basis);
    json_end_obj(j);
}

static void s_text_system(FILE *text, const s_system_t *sys)
{
    if (sys->level == 0)
        fprintf(text, "System OPEL: not known (no current reports)\n");
    else
        fprintf(text, "System OPEL %u: %s (score %" PRIu64 ".%02" PRIu64 "; %s)\n", sys->level,
                s_level_words[sys->level], sys->score / 100, sys->score % 100, sys->basis);
}

/* One row per report (current and stale latest ones), for opel.show and
 * aid.board. org NULL: every organisation. */
static int s_write_reports(ics_db_t *db, uint64_t clock, const char *org, json_t *j, FILE *text,
                           bool wide)
{
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    int rc;

    /* org NULL binds NULL: every organisation. */
    rc = ics_sql_query(db, &st, "SELECT r.id, r.org, r.provider_type, r.level, r.reported_ms,"
                                " r.actor, r.note, m.active IS 1"
                                " FROM opel_reports r LEFT JOIN members m ON m.org = r.org"
                                " WHERE r.id = (SELECT max(id) FROM opel_reports x"
                                "  WHERE x.org = r.org AND x.provider_type = r.provider_type)"
                                "  AND (?1 IS NULL OR r.org = ?1)"
                                " ORDER BY r.level DESC, r.org, r.provider_type", "t", org);
    if (rc != ICS_OK)
        return rc;
    json_arr(j, "organisations");
    fprintf(text, "%-10s %-13s %-4s %-20s %s\n", "ORG", "TYPE", "OPEL", "REPORTED",
            "PARAMETERS");
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        n++;
        uint64_t id = ics_sql_column_u64(st, 0), at = ics_sql_column_u64(st, 4);
        bool member = sqlite3_column_int(st, 7) != 0;
        bool stale = at + S_STALE_MS <= clock;
        char when[32], params[400];
        s_fmt_time(at, when, sizeof when);
        s_param_line(db, id, ics_sql_column_str(st, 2), params, wide ? sizeof params : 120);
        json_obj(j, NULL);
        json_str(j, "org", ics_sql_column_str(st, 1));
        json_str(j, "provider_type", ics_sql_column_str(st, 2));
        json_u64(j, "level", (uint64_t)sqlite3_column_int(st, 3));
        json_u64(j, "report", id);
        json_u64(j, "reported_ms", at);
        json_str(j, "actor", ics_sql_column_str(st, 5));
        json_str(j, "note", ics_sql_column_str(st, 6));
        json_bool(j, "current", member && !stale);
        json_str(j, "not_counted_because", !member ? "no longer a member"
                                           : stale ? "older than 24 hours" : "");
        s_json_params(db, j, id);
        json_end_obj(j);
        fprintf(text, "%-10s %-13s %-4d %-20s %s%s\n", ics_sql_column_str(st, 1), ics_sql_column_str(st, 2),
                sqlite3_column_int(st, 3), when, params,
                !member ? " (not counted: no longer a member)"
                : stale ? " (not counted: older than 24 hours)" : "");
        if (wide && ics_sql_column_str(st, 6)[0] != '\0')
            fprintf(text, "%-10s note: %s\n", "", ics_sql_column_str(st, 6));
    }
    ics_sql_release(db, st);
    json_end_arr(j);
    if (rc == ICS_ENOENT && n == 0)
        fprintf(text, "(no OPEL reports%s%s)\n", org != NULL ? " from " : "", org != NULL ? org : "");
    return rc == ICS_ENOENT ? ICS_OK : rc;
}

int ics_opel_board(ics_db_t *db, uint64_t clock_ms, json_t *j, FILE *text)
{
    s_system_t sys;
    int rc = s_derive(db, clock_ms, &sys);

    if (rc != ICS_OK)
        return rc;
    json_obj(j, "opel");
    s_json_system(j, &sys);
    s_text_system(text, &sys);
    rc = s_write_reports(db, clock_ms, NULL, j, text, false);
    json_end_obj(j);
    return rc;
}

/* ---------------------------------------------------------------- queries */

/* opel.show [ORG]: the system level and the latest report of each
 * organisation (or of ORG) for each provider type. */
static int s_query_show(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                        FILE *json, FILE *text, ics_err_t *err)
{
    uint64_t clock = ics_core_clock(db);
    const char *org = argc > 0 ? argv[0] : NULL;
    char when[32];
    s_system_t sys;
    json_t j;
    int rc;

    if (argc > 1)
        return ics_err(err, ICS_EINVAL, "opel show takes at most one organisation");
    if (org != NULL && !ics_valid_id(org, ICS_ORG_MAX))
        return ics_err(err, ICS_EINVAL, "'%.40s' is not an organisation id", org);
    rc = s_derive(db, clock, &sys);
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");
    s_fmt_time(clock, when, sizeof when);
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_u64(&j, "clock_ms", clock);
    s_json_system(&j, &sys);
    fprintf(text, "Group %s, log clock %s\n", group, when);
    s_text_system(text, &sys);
    fputc('\n', text);
    rc = s_write_reports(db, clock, org, &j, text, true);
    json_end_obj(&j);
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");
    return ICS_OK;
}

/* opel.history [ORG] [N]: reports newest first, and the system level's
 * changes. */
static int s_query_history(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                           FILE *json, FILE *text, ics_err_t *err)
{
    sqlite3_stmt *st = NULL;
    const char *org = NULL;
    uint64_t limit = 20;
    json_t j;
    int rc;

    for (size_t i = 0; i < argc; i++) {
        char *end = NULL;
        unsigned long long v = strtoull(argv[i], &end, 10);
        if (argv[i][0] >= '0' && argv[i][0] <= '9' && end != NULL && *end == '\0') {
            if (v < 1 || v > 1000)
                return ics_err(err, ICS_EINVAL, "history length %s is not 1 to 1000", argv[i]);
            limit = v;
        } else if (org == NULL && ics_valid_id(argv[i], ICS_ORG_MAX)) {
            org = argv[i];
        } else {
            return ics_err(err, ICS_EINVAL, "'%.40s' is neither an organisation id nor a count",
                           argv[i]);
        }
    }
    /* org NULL binds NULL: every organisation. */
    rc = ics_sql_query(db, &st, "SELECT id, org, provider_type, level, reported_ms, actor, note"
                                " FROM opel_reports WHERE ?1 IS NULL OR org = ?1"
                                " ORDER BY id DESC LIMIT ?2", "tu", org, limit);
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_arr(&j, "reports");
    fprintf(text, "OPEL reports%s%s, newest first\n", org ? " of " : "", org ? org : "");
    fprintf(text, "%-7s %-20s %-10s %-13s %-4s %-18s %s\n", "INDEX", "REPORTED", "ORG", "TYPE",
            "OPEL", "BY", "PARAMETERS");
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        uint64_t id = ics_sql_column_u64(st, 0);
        char when[32], params[400];
        s_fmt_time(ics_sql_column_u64(st, 4), when, sizeof when);
        s_param_line(db, id, ics_sql_column_str(st, 2), params, sizeof params);
        json_obj(&j, NULL);
        json_u64(&j, "report", id);
        json_str(&j, "org", ics_sql_column_str(st, 1));
        json_str(&j, "provider_type", ics_sql_column_str(st, 2));
        json_u64(&j, "level", (uint64_t)sqlite3_column_int(st, 3));
        json_u64(&j, "reported_ms", ics_sql_column_u64(st, 4));
        json_str(&j, "actor", ics_sql_column_str(st, 5));
        json_str(&j, "note", ics_sql_column_str(st, 6));
        s_json_params(db, &j, id);
        json_end_obj(&j);
        fprintf(text, "%-7" PRIu64 " %-20s %-10s %-13s %-4d %-18s %s\n", id, when, ics_sql_column_str(st, 1),
                ics_sql_column_str(st, 2), sqlite3_column_int(st, 3), ics_sql_column_str(st, 5), params);
        if (ics_sql_column_str(st, 6)[0] != '\0')
            fprintf(text, "%-7s note: %s\n", "", ics_sql_column_str(st, 6));
    }
    ics_sql_release(db, st);
    st = NULL;
    json_end_arr(&j);
    if (rc != ICS_ENOENT)
        return ics_err(err, rc, "state database error");

    rc = ics_sql_query(db, &st, "SELECT position, at_ms, level, score, reports, basis"
                                " FROM opel_system ORDER BY position DESC LIMIT ?1", "u", limit);
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");
    json_arr(&j, "system");
    fprintf(text, "\nSystem OPEL changes, newest first\n%-7s %-20s %-5s %-6s %s\n", "INDEX",
            "AT", "OPEL", "SCORE", "BASIS");
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        char when[32];
        uint64_t score = ics_sql_column_u64(st, 3);
        s_fmt_time(ics_sql_column_u64(st, 1), when, sizeof when);
        json_obj(&j, NULL);
        json_u64(&j, "index", ics_sql_column_u64(st, 0));
        json_u64(&j, "at_ms", ics_sql_column_u64(st, 1));
        json_u64(&j, "level", (uint64_t)sqlite3_column_int(st, 2));
        json_u64(&j, "score_x100", score);
        json_u64(&j, "reports", (uint64_t)sqlite3_column_int(st, 4));
        json_str(&j, "basis", ics_sql_column_str(st, 5));
        json_end_obj(&j);
        fprintf(text, "%-7" PRIu64 " %-20s %-5d %" PRIu64 ".%02" PRIu64 "   %s\n",
                ics_sql_column_u64(st, 0), when, sqlite3_column_int(st, 2), score / 100,
                score % 100, ics_sql_column_str(st, 5));
    }
    ics_sql_release(db, st);
    json_end_arr(&j);
    json_end_obj(&j);
    return rc == ICS_ENOENT ? ICS_OK : ics_err(err, rc, "state database error");
}

/* opel.parameters [TYPE]: the catalogue of provider types and parameters. */
static int s_query_parameters(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                              FILE *json, FILE *text, ics_err_t *err)
{
    const char *only = argc > 0 ? argv[0] : NULL;
    json_t j;

    (void)db;
    (void)group;
    if (argc > 1)
        return ics_err(err, ICS_EINVAL, "opel parameters takes at most one provider type");
    if (only != NULL && s_type(only) == NULL)
        return ics_err(err, ICS_EINVAL, "unknown provider type '%.40s' (expected acute,"
                                        " ambulance, mental_health, community or social_care)",
                       only);
    json_init(&j, json);
    json_arr(&j, NULL);
    for (const s_type_t *t = s_types; t->name != NULL; t++) {
        if (only != NULL && strcmp(only, t->name) != 0)
            continue;
        json_obj(&j, NULL);
        json_str(&j, "provider_type", t->name);
        json_str(&j, "description", t->what);
        json_u64(&j, "weight", t->weight);
        json_arr(&j, "parameters");
        fprintf(text, "%s (%s; weight %u in the system level)\n", t->name, t->what, t->weight);
        for (const s_param_t *p = s_params; p->name != NULL; p++) {
            if (strcmp(p->type, t->name) != 0)
                continue;
            json_obj(&j, NULL);
            json_str(&j, "name", p->name);
            json_str(&j, "unit", p->unit[0] ? p->unit : "count");
            json_u64(&j, "max", p->max);
            json_str(&j, "description", p->what);
            json_end_obj(&j);
            fprintf(text, "  %-28s %-6s %s\n", p->name, p->unit[0] ? p->unit : "count",
                    p->what);
        }
        json_end_arr(&j);
        json_end_obj(&j);
    }
    json_end_arr(&j);
    return ICS_OK;
}

static const ics_fsm_query_t s_queries[] = {
    {"opel.show", s_query_show},
    {"opel.history", s_query_history},
    {"opel.parameters", s_query_parameters},
    {NULL, NULL},
};

/* /metrics: each organisation's latest reported OPEL level and the
 * system level, as of the log clock. */
static void s_metrics(ics_db_t *db, const char *group, FILE *out)
{
    sqlite3_stmt *st = NULL;

    fprintf(out, "# HELP icsd_opel_level Latest OPEL level reported, by organisation and "
                 "provider type (0: none).\n# TYPE icsd_opel_level gauge\n");
    if (ics_sql_prepare(db, "SELECT r.org, r.provider_type, r.level FROM opel_reports r"
                            " WHERE r.id = (SELECT max(id) FROM opel_reports x"
                            "  WHERE x.org = r.org AND x.provider_type = r.provider_type)"
                            " ORDER BY r.org, r.provider_type", &st) == ICS_OK) {
        while (ics_sql_row(db, st) == ICS_OK)
            fprintf(out, "icsd_opel_level{group=\"%s\",org=\"%s\",provider=\"%s\"} %llu\n",
                    group, (const char *)sqlite3_column_text(st, 0),
                    (const char *)sqlite3_column_text(st, 1), (unsigned long long)ics_sql_column_u64(st, 2));
        ics_sql_release(db, st);
    }
    fprintf(out, "# HELP icsd_opel_system_level System-level OPEL (0: no current reports).\n"
                 "# TYPE icsd_opel_system_level gauge\n");
    if (ics_sql_prepare(db, "SELECT level FROM opel_system ORDER BY position DESC LIMIT 1",
                        &st) == ICS_OK) {
        fprintf(out, "icsd_opel_system_level{group=\"%s\"} %llu\n", group,
                ics_sql_row(db, st) == ICS_OK ? (unsigned long long)ics_sql_column_u64(st, 0) : 0ull);
        ics_sql_release(db, st);
    }
}

const ics_fsm_domain_t ics_fsm_domain_opel = {
    .metrics = s_metrics,
    .name = "opel",
    .handlers = s_handlers,
    .schema = s_schema,
    .on_clock = s_on_clock,
    .deadline = s_deadline,
    .queries = s_queries,
};
