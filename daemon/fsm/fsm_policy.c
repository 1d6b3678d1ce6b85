/*
 * The scheme of reservation and delegation in force, and its evaluation:
 * which rule decides a motion, who approves mutual aid. How the scheme reads
 * to the public (policy.show) is in fsm_policy_query.c.
 *
 * The first version is the genesis's policy, or the built-in default
 * (common/policyfile.c) when the genesis carried none; it is read from the
 * genesis entry itself until the first change, so a state that predates
 * this domain's tables needs no migration. Later versions are put in force
 * only by a carried policy.change motion (fsm_motions.c calls
 * ics_policy_install). Invariants:
 *   - versions are 1, 2, 3 ... and never change once written; the newest is
 *     in force;
 *   - every version passed ics_policy_valid when it was put in force (an
 *     invalid genesis policy is refused with the genesis);
 *   - evaluation uses integers only: quorum fractions are num/den, values and
 *     limits whole numbers.
 *
 *   Scheme:
 *               genesis (policy or built-in default)
 *   (none) -----------------------------------------> VERSION 1 (in force)
 *                                                         |
 *                 motion policy.change carried            | ics_policy_install()
 *                 (fsm_motions.c s_carry)                 v
 *                                                     VERSION n+1 (in force;
 *                                                     n kept for the record)
 */
#include "fsm/fsm_gov.h"

#include "common/envelope.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char s_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS policy_versions("
    " version INTEGER PRIMARY KEY,"
    " policy BLOB NOT NULL,"           /* packed ics.v1.Policy */
    " position INTEGER NOT NULL,"      /* put in force at (0: the genesis) */
    " motion INTEGER NOT NULL,"        /* by motion (0: the genesis) */
    " source TEXT NOT NULL);";         /* genesis, default, motion */

static int s_schema(ics_db_t *db)
{
    return ics_sql_exec(db, s_schema_sql);
}

/* ---------------------------------------------------------------- reading */

static int s_unpack(const uint8_t *buf, size_t len, Ics__V1__Policy **out)
{
    *out = ics__v1__policy__unpack(NULL, len, buf);
    return *out != NULL ? ICS_OK : ICS_EIO;
}

/* A deep copy, as an unpacked message. */
static int s_copy(const Ics__V1__Policy *p, Ics__V1__Policy **out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = ics_pack(&p->base, &buf, &len);
    if (rc != ICS_OK)
        return rc;
    rc = s_unpack(buf, len, out);
    free(buf);
    return rc;
}

/* Version 1 as the genesis defines it: its policy, or the default. */
static int s_genesis_policy(ics_db_t *db, Ics__V1__Policy **out, const char **source)
{
    sqlite3_stmt *st = NULL;
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *cmd = NULL;
    char why[ICS_WHY_MAX];
    int rc;

    *out = NULL;
    *source = "default";
    rc = ics_sql_query(db, &st, "SELECT envelope FROM genesis_entry WHERE id = 1", "");
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK &&
        ics_envelope_decode(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), &env,
                            NULL) == ICS_OK &&
        ics_command_decode(env, &cmd, NULL) == ICS_OK &&
        cmd->body_case == ICS__V1__COMMAND__BODY_GENESIS && cmd->genesis->policy != NULL &&
        ics_policy_valid(cmd->genesis->policy, why, sizeof why)) {
        rc = s_copy(cmd->genesis->policy, out);
        *source = "genesis";
    } else if (rc == ICS_OK || rc == ICS_ENOENT) {
        rc = ics_policy_default(out);
    }
    if (cmd != NULL)
        ics__v1__command__free_unpacked(cmd, NULL);
    if (env != NULL)
        ics__v1__envelope__free_unpacked(env, NULL);
    ics_sql_release(db, st);
    return rc;
}

int ics_policy_version_info(ics_db_t *db, uint64_t v, Ics__V1__Policy **out,
                            uint64_t *version, uint64_t *position, uint64_t *motion,
                            const char **source)
{
    sqlite3_stmt *st = NULL;
    uint64_t newest = 0;
    int rc;

    *out = NULL;
    *version = *position = *motion = 0;
    *source = "genesis";
    rc = ics_sql_u64(db, &newest, "SELECT coalesce(max(version), 0) FROM policy_versions", "");
    if (rc != ICS_OK)
        return rc;
    if (newest == 0) {
        if (v > 1)
            return ICS_ENOENT;
        *version = 1;
        return s_genesis_policy(db, out, source);
    }
    if (v == 0)
        v = newest;
    rc = ics_sql_query(db, &st, "SELECT policy, position, motion, source FROM policy_versions"
                                  " WHERE version = ?1", "u", v);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK) {
        const char *s = (const char *)sqlite3_column_text(st, 3);
        *source = s != NULL && strcmp(s, "motion") == 0 ? "motion"
                : s != NULL && strcmp(s, "default") == 0 ? "default" : "genesis";
        *version = v;
        *position = ics_sql_column_u64(st, 1);
        *motion = ics_sql_column_u64(st, 2);
        rc = s_unpack(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), out);
    }
    ics_sql_release(db, st);
    return rc;
}

int ics_policy_version(ics_db_t *db, uint64_t v, Ics__V1__Policy **out)
{
    uint64_t version, position, motion;
    const char *source;
    if (v == 0)
        return ICS_ENOENT;
    return ics_policy_version_info(db, v, out, &version, &position, &motion, &source);
}

int ics_policy_in_force(ics_db_t *db, Ics__V1__Policy **out, uint64_t *version)
{
    uint64_t position, motion;
    const char *source;
    return ics_policy_version_info(db, 0, out, version, &position, &motion, &source);
}

const Ics__V1__RoleDef *ics_policy_role(const Ics__V1__Policy *p, const char *id)
{
    for (size_t i = 0; i < p->n_roles; i++)
        if (strcmp(p->roles[i]->id, id) == 0)
            return p->roles[i];
    return NULL;
}

const Ics__V1__Body *ics_policy_body(const Ics__V1__Policy *p, const char *id)
{
    for (size_t i = 0; i < p->n_bodies; i++)
        if (strcmp(p->bodies[i]->id, id) == 0)
            return p->bodies[i];
    return NULL;
}

const char *ics_policy_role_title(const Ics__V1__Policy *p, const char *id)
{
    const Ics__V1__RoleDef *r = ics_policy_role(p, id);
    return r != NULL ? r->title : id;
}

const Ics__V1__Rule *ics_policy_rule_for(const Ics__V1__Policy *p, Ics__V1__Decision d,
                                         char *const *subjects, size_t n, uint64_t value)
{
    const Ics__V1__Rule *best = NULL;

    for (size_t i = 0; i < p->n_rules; i++) {
        const Ics__V1__Rule *r = p->rules[i];
        bool in_scope = r->scope[0] == '\0';
        if (r->decision != d)
            continue;
        for (size_t k = 0; k < n && !in_scope; k++)
            in_scope = ics_gov_subject_eq(r->scope, subjects[k]);
        if (!in_scope || (r->up_to != 0 && value > r->up_to))
            continue;
        if (best == NULL) {
            best = r;
            continue;
        }
        /* Smallest limit first (0 is no limit, so last), then scoped. */
        uint64_t lb = best->up_to ? best->up_to : UINT64_MAX;
        uint64_t lr = r->up_to ? r->up_to : UINT64_MAX;
        if (lr < lb || (lr == lb && r->scope[0] != '\0' && best->scope[0] == '\0'))
            best = r;
    }
    return best;
}

/* "half", "two thirds", or "3/5". */
static void s_fraction(uint32_t num, uint32_t den, char *out, size_t size)
{
    if (num == den)
        snprintf(out, size, "all");
    else if (num * 2 == den)
        snprintf(out, size, "half");
    else if (num * 3 == den)
        snprintf(out, size, "a third");
    else if (num * 3 == den * 2)
        snprintf(out, size, "two thirds");
    else if (num * 4 == den)
        snprintf(out, size, "a quarter");
    else if (num * 4 == den * 3)
        snprintf(out, size, "three quarters");
    else
        snprintf(out, size, "%u/%u", num, den);
}

/* "Chair of the ICB or Independent non-executive member" for "chair|non_executive". */
static void s_alternatives(const Ics__V1__Policy *p, const char *alts, char *out, size_t size)
{
    char buf[256];
    char *save = NULL;
    size_t used = 0;

    out[0] = '\0';
    ics_strcpy(buf, sizeof buf, alts);
    for (char *t = strtok_r(buf, "|", &save); t != NULL && used < size;
         t = strtok_r(NULL, "|", &save)) {
        int n = snprintf(out + used, size - used, "%s%s", used ? " or " : "",
                         ics_policy_role_title(p, t));
        used += n > 0 ? (size_t)n : 0;
    }
}

void ics_policy_quorum_text(const Ics__V1__Policy *p, const Ics__V1__Rule *r, char *out,
                            size_t size)
{
    char frac[32], alt[300];
    size_t used = 0;
    int n;

    out[0] = '\0';
    if (r->quorum_den != 0) {
        s_fraction(r->quorum_num, r->quorum_den, frac, sizeof frac);
        n = snprintf(out, size, "%s of the members voting", frac);
        used += n > 0 ? (size_t)n : 0;
    }
    if (r->quorum_count != 0 && used < size) {
        n = snprintf(out + used, size - used, "%sat least %u vote%s", used ? " and " : "",
                     r->quorum_count, r->quorum_count == 1 ? "" : "s");
        used += n > 0 ? (size_t)n : 0;
    }
    for (size_t i = 0; i < r->n_quorum_roles && used < size; i++) {
        s_alternatives(p, r->quorum_roles[i], alt, sizeof alt);
        n = snprintf(out + used, size - used, "%s%s", i == 0 ? (used ? ", including a " :
                                                                       "a vote by a ")
                                                             : (i + 1 == r->n_quorum_roles
                                                                    ? " and a " : ", a "),
                     alt);
        used += n > 0 ? (size_t)n : 0;
    }
    if (out[0] == '\0')
        snprintf(out, size, "no quorum");
}

void ics_policy_decider_text(const Ics__V1__Policy *p, const Ics__V1__Rule *r, char *out,
                             size_t size)
{
    if (r->role[0] != '\0') {
        snprintf(out, size, "%s, acting alone", ics_policy_role_title(p, r->role));
    } else {
        const Ics__V1__Body *b = ics_policy_body(p, r->body);
        snprintf(out, size, "%s", b != NULL ? b->name : r->body);
    }
}

void ics_policy_rule_text(const Ics__V1__Policy *p, const Ics__V1__Rule *r, char *out,
                          size_t size)
{
    char who[300], quorum[400], period[48];

    ics_policy_decider_text(p, r, who, sizeof who);
    ics_gov_period(r->period_ms, period, sizeof period);
    if (r->role[0] != '\0') {
        snprintf(out, size, "%s (rule %s; %s to decide)", who, r->id, period);
        return;
    }
    ics_policy_quorum_text(p, r, quorum, sizeof quorum);
    snprintf(out, size, "%s (rule %s; quorum: %s; %s; %s to vote)", who, r->id, quorum,
             ics_threshold_title(r->threshold), period);
}

static bool s_same(const Ics__V1__Policy *a, const Ics__V1__Policy *b)
{
    uint8_t *pa = NULL, *pb = NULL;
    size_t la = 0, lb = 0;
    bool same = false;

    if (ics_pack(&a->base, &pa, &la) == ICS_OK && ics_pack(&b->base, &pb, &lb) == ICS_OK)
        same = la == lb && memcmp(pa, pb, la) == 0;
    free(pa);
    free(pb);
    return same;
}

int ics_policy_check_change(ics_db_t *db, const Ics__V1__Policy *p, char *why, size_t size)
{
    Ics__V1__Policy *cur = NULL;
    uint64_t version = 0;
    char bad[ICS_WHY_MAX];
    int rc;

    if (!ics_policy_valid(p, bad, sizeof bad)) {
        snprintf(why, size, "the proposed scheme is not valid: %s", bad);
        return ICS_EREJECTED;
    }
    rc = ics_policy_in_force(db, &cur, &version);
    if (rc != ICS_OK)
        return rc;
    if (s_same(cur, p)) {
        snprintf(why, size, "the proposed scheme is the one in force (version %" PRIu64 ")",
                 version);
        rc = ICS_EREJECTED;
    }
    ics__v1__policy__free_unpacked(cur, NULL);
    return rc;
}

static int s_insert(ics_db_t *db, uint64_t version, const Ics__V1__Policy *p, uint64_t position,
                    uint64_t motion, const char *source)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = ics_pack(&p->base, &buf, &len);

    if (rc != ICS_OK)
        return rc;
    if (len > INT32_MAX) {
        free(buf);
        return ICS_ETOOBIG;
    }
    rc = ics_sql_run(db, "INSERT INTO policy_versions(version, policy, position, motion, source)"
                          " VALUES (?1, ?2, ?3, ?4, ?5)", "ubuut", version, buf, (int)len,
                      position, motion, source);
    free(buf);
    return rc;
}

int ics_policy_install(ics_apply_ctx_t *ctx, const Ics__V1__Policy *p, uint64_t motion,
                       char *why, size_t size)
{
    Ics__V1__Policy *first = NULL;
    const char *source = NULL;
    uint64_t newest = 0;
    int rc;

    rc = ics_policy_check_change(ctx->db, p, why, size);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_u64(ctx->db, &newest, "SELECT coalesce(max(version), 0) FROM policy_versions",
                     "");
    if (rc != ICS_OK)
        return rc;
    if (newest == 0) {
        /* Keep version 1 in the table too, for the record. */
        rc = s_genesis_policy(ctx->db, &first, &source);
        if (rc == ICS_OK)
            rc = s_insert(ctx->db, 1, first, 0, 0, source);
        if (first != NULL)
            ics__v1__policy__free_unpacked(first, NULL);
        if (rc != ICS_OK)
            return rc;
        newest = 1;
    }
    return s_insert(ctx->db, newest + 1, p, ctx->position, motion, "motion");
}

/* ---------------------------------------------------------------- for other domains */

int ics_policy_aid_approval(ics_db_t *db, uint64_t value, const char *org,
                            ics_aid_approval_t *out)
{
    Ics__V1__Policy *p = NULL;
    const Ics__V1__Rule *r;
    char subject[ICS_SUBJECT_MAX], who[300];
    char *subjects[1] = {subject};
    uint64_t version;
    int rc;

    memset(out, 0, sizeof *out);
    rc = ics_policy_in_force(db, &p, &version);
    if (rc != ICS_OK)
        return rc;
    out->threshold = p->aid_threshold;
    if (value <= p->aid_threshold) {
        out->allowed = true;
        snprintf(out->text, sizeof out->text, "no approval needed: %" PRIu64 " is within the "
                 "threshold of %" PRIu64 "%s%s", value, p->aid_threshold,
                 p->aid_unit[0] ? " " : "", p->aid_unit);
        goto out;
    }
    out->needed = true;
    snprintf(subject, sizeof subject, "org:%s", org);
    r = ics_policy_rule_for(p, ICS__V1__DECISION__DECISION_AID_APPROVE, subjects, 1, value);
    if (r == NULL) {
        snprintf(out->text, sizeof out->text, "the scheme in force names nobody who may approve "
                 "mutual aid of %" PRIu64 "%s%s for %s", value, p->aid_unit[0] ? " " : "",
                 p->aid_unit, org);
        goto out;
    }
    out->allowed = true;
    out->individual = r->role[0] != '\0';
    ics_strcpy(out->role, sizeof out->role, r->role);
    ics_strcpy(out->body, sizeof out->body, r->body);
    ics_strcpy(out->rule, sizeof out->rule, r->id);
    ics_policy_decider_text(p, r, who, sizeof who);
    if (r->up_to != 0)
        snprintf(out->text, sizeof out->text, "%.180s (rule %s: up to %" PRIu64 ")", who, r->id,
                 r->up_to);
    else
        snprintf(out->text, sizeof out->text, "%.180s (rule %s)", who, r->id);
out:
    ics__v1__policy__free_unpacked(p, NULL);
    return ICS_OK;
}

/* ---------------------------------------------------------------- the domain */

/* The scheme changes only through a carried motion (fsm_motions.c): no
 * command of its own. */
static const ics_fsm_handler_t s_handlers[] = {{0, NULL}};

const ics_fsm_domain_t ics_fsm_domain_policy = {
    .name = "policy",
    .handlers = s_handlers,
    .schema = s_schema,
    .on_clock = NULL,
    .deadline = NULL,
    .queries = ics_policy_queries,
};
