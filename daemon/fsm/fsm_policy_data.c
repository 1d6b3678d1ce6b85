/*
 * The scheme of reservation and delegation as read: its versions (the one
 * in force, or any other by number, with where it came from), its roles and
 * bodies, and its rules in words. For fsm_policy.c, which evaluates the
 * scheme and puts new versions in force, for policy.show
 * (fsm_policy_query.c) and for the other domains.
 *
 * Reads only. Calls common/ (the envelope, the built-in default policy),
 * fsm_gov.c and fsm_sql.c; never fsm_policy.c or fsm_policy_query.c, so
 * that both may call it.
 */
#include "fsm/fsm_gov.h"

#include "common/envelope.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- versions */

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

int ics_policy_genesis(ics_db_t *db, Ics__V1__Policy **out, const char **source)
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
        return ics_policy_genesis(db, out, source);
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

/* ---------------------------------------------------------------- in words */

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
