/*
 * The scheme of reservation and delegation in force, and its evaluation:
 * which rule decides a motion, who approves mutual aid. Its versions, roles
 * and rules in words, as read, are in fsm_policy_data.c; how the scheme
 * reads to the public (policy.show) is in fsm_policy_query.c.
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

/* ---------------------------------------------------------------- evaluation */

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
        rc = ics_policy_genesis(ctx->db, &first, &source);
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
