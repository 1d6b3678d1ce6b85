/*
 * The people registry as the other domains read it: who acts for each
 * organisation, in which roles, with which interests and keys, and the
 * organisations the group knows (fsm_people.c holds the registry's rules
 * and commands).
 *
 * Reads only. Calls the readers of members and of policy (role titles,
 * the roles in force), fsm_ctx.c, fsm_gov.c and fsm_sql.c; never
 * fsm_people.c, so that consultations, plans and motions may call it
 * while fsm_people.c, whose declared interests settle open motions, sits
 * above fsm_motions.c.
 */
#include "fsm/fsm_gov.h"

#include <string.h>

/* ---------------------------------------------------------------- reads */

int ics_people_get(ics_db_t *db, const char *org, const char *person, ics_person_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    rc = ics_sql_query(db, &st, "SELECT name, title FROM people WHERE org = ?1 AND person = ?2"
                                  " AND active = 1", "tt", org, person);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK) {
        ics_strcpy(out->org, sizeof out->org, org);
        ics_strcpy(out->person, sizeof out->person, person);
        ics_sql_column_text(st, 0, out->name, sizeof out->name);
        ics_sql_column_text(st, 1, out->title, sizeof out->title);
    }
    ics_sql_release(db, st);
    return rc;
}

int ics_people_require_actor(ics_apply_ctx_t *ctx, ics_person_t *out)
{
    int rc;

    if (ctx->actor[0] == '\0')
        return ics_reject(ctx, "no person signed this: it needs a person of %s, signing with "
                               "their own key (icsctl keys person-gen)", ctx->org);
    rc = ics_people_get(ctx->db, ctx->org, ctx->actor, out);
    if (rc == ICS_ENOENT)
        return ics_reject(ctx, "%.60s is not registered as acting for %s; %s registers its "
                               "people with: icsctl people register %.60s --name NAME",
                          ctx->actor, ctx->org, ctx->org, ctx->actor);
    return rc;
}

int ics_people_holds(ics_db_t *db, const char *org, const char *person, const char *role,
                     bool *yes)
{
    uint64_t n = 0;
    int rc = ics_sql_u64(db, &n, "SELECT count(*) FROM person_roles r JOIN people p"
                                 " ON p.org = r.org AND p.person = r.person AND p.active = 1"
                                 " WHERE r.org = ?1 AND r.person = ?2 AND r.role = ?3",
                         "ttt", org, person, role);
    *yes = rc == ICS_OK && n > 0;
    return rc;
}

int ics_people_roles_text(ics_db_t *db, const Ics__V1__Policy *p, const char *org,
                          const char *person, char *out, size_t size)
{
    sqlite3_stmt *st = NULL;
    size_t used = 0;
    int rc;

    out[0] = '\0';
    rc = ics_sql_query(db, &st, "SELECT role, scope FROM person_roles WHERE org = ?1 AND"
                                  " person = ?2 ORDER BY role, scope", "tt", org, person);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK && used < size) {
        const char *role = (const char *)sqlite3_column_text(st, 0);
        const char *scope = (const char *)sqlite3_column_text(st, 1);
        int n = snprintf(out + used, size - used, "%s%s%s%s%s", used ? ", " : "",
                         ics_policy_role_title(p, role), scope[0] ? " (" : "", scope,
                         scope[0] ? ")" : "");
        used += n > 0 ? (size_t)n : 0;
    }
    ics_sql_release(db, st);
    if (out[0] == '\0')
        ics_strcpy(out, size, "no role");
    return rc == ICS_ENOENT || rc == ICS_OK ? ICS_OK : rc;
}

int ics_people_acts_for(ics_db_t *db, const char *org, const char *person, const char *scope,
                        char out[ICS_POLICY_ID_MAX])
{
    sqlite3_stmt *st = NULL;
    int rc;

    out[0] = '\0';
    rc = ics_sql_query(db, &st, "SELECT r.role FROM person_roles r JOIN people p"
                                  " ON p.org = r.org AND p.person = r.person AND p.active = 1"
                                  " WHERE r.org = ?1 AND r.person = ?2 AND r.scope = ?3"
                                  " ORDER BY r.role LIMIT 1", "ttt", org, person, scope);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK)
        ics_sql_column_text(st, 0, out, ICS_POLICY_ID_MAX);
    ics_sql_release(db, st);
    return rc == ICS_ENOENT ? ICS_OK : rc;
}

int ics_people_interest(ics_db_t *db, const char *org, const char *person,
                        char *const *subjects, size_t n, bool *found,
                        char subject[ICS_SUBJECT_MAX], char *description, size_t size,
                        uint64_t *declared_at)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *found = false;
    *declared_at = 0;
    rc = ics_sql_query(db, &st, "SELECT subject, subject_key, description, id FROM interests"
                                  " WHERE org = ?1 AND (person = ?2 OR person = '')"
                                  " AND withdrawn IS NULL ORDER BY id", "tt", org, person);
    if (rc != ICS_OK)
        return rc;
    while (!*found && (rc = ics_sql_row(db, st)) == ICS_OK) {
        const char *key = (const char *)sqlite3_column_text(st, 1);
        for (size_t i = 0; i < n && !*found; i++) {
            if (ics_gov_subject_eq(key, subjects[i])) {
                *found = true;
                ics_sql_column_text(st, 0, subject, ICS_SUBJECT_MAX);
                ics_sql_column_text(st, 2, description, size);
                *declared_at = ics_sql_column_u64(st, 3);
            }
        }
    }
    ics_sql_release(db, st);
    return rc == ICS_ENOENT || rc == ICS_OK ? ICS_OK : rc;
}

int ics_people_each_holder(ics_db_t *db, const char *role,
                           int (*fn)(void *arg, const char *org, const char *person),
                           void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = ics_sql_query(db, &st, "SELECT DISTINCT r.org, r.person FROM person_roles r"
                                  " JOIN people p ON p.org = r.org AND p.person = r.person"
                                  " AND p.active = 1 WHERE r.role = ?1"
                                  " ORDER BY r.org, r.person", "t", role);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        rc = fn(arg, (const char *)sqlite3_column_text(st, 0),
                (const char *)sqlite3_column_text(st, 1));
        if (rc != ICS_OK)
            break;
    }
    ics_sql_release(db, st);
    return rc == ICS_ENOENT ? ICS_OK : rc;
}

int ics_people_key_at(ics_db_t *db, const char *org, const char *person, uint64_t position,
                      char out[2 * ICS_KEY_ID_BYTES + 1])
{
    sqlite3_stmt *st = NULL;
    uint8_t kid[ICS_KEY_ID_BYTES];
    int rc;

    out[0] = '\0';
    rc = ics_sql_query(db, &st,
                       "SELECT key_id FROM person_key_history WHERE org = ?1 AND"
                       " person = ?2 AND position < ?3 AND action <> 'revoked'"
                       " ORDER BY position DESC LIMIT 1",
                       "ttu", org, person, position);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK && ics_sql_column_blob(st, 0, kid, sizeof kid))
        ics_hex(kid, sizeof kid, out);
    ics_sql_release(db, st);
    return rc == ICS_ENOENT ? ICS_OK : rc;
}

int ics_orgs_get(ics_db_t *db, const char *org, ics_org_t *out)
{
    sqlite3_stmt *st = NULL;
    ics_member_t m;
    int rc;

    memset(out, 0, sizeof *out);
    rc = ics_members_get(db, org, &m);
    if (rc == ICS_OK) {
        ics_strcpy(out->org, sizeof out->org, m.org);
        ics_strcpy(out->kind, sizeof out->kind, m.kind);
        ics_strcpy(out->name, sizeof out->name, m.name);
        out->member = true;
        return ICS_OK;
    }
    if (rc != ICS_ENOENT)
        return rc;
    rc = ics_sql_query(db, &st, "SELECT kind, name, parent FROM orgs_known WHERE org = ?1"
                                  " AND active = 1", "t", org);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK) {
        ics_strcpy(out->org, sizeof out->org, org);
        ics_sql_column_text(st, 0, out->kind, sizeof out->kind);
        ics_sql_column_text(st, 1, out->name, sizeof out->name);
        ics_sql_column_text(st, 2, out->parent, sizeof out->parent);
    }
    ics_sql_release(db, st);
    return rc;
}

int ics_orgs_each_kind(ics_db_t *db, const char *kind,
                       int (*fn)(void *arg, const ics_org_t *o), void *arg)
{
    sqlite3_stmt *st = NULL;
    ics_org_t o;
    int rc;

    /* Members and registered organisations are disjoint (OrgRegister
     * refuses a member), so the union has one row per organisation. */
    rc = ics_sql_query(db, &st, "SELECT org, kind, name, '', 1 FROM members"
                                  " WHERE active = 1 AND kind = ?1"
                                  " UNION ALL SELECT org, kind, name, parent, 0 FROM orgs_known"
                                  " WHERE active = 1 AND kind = ?1 ORDER BY 1", "t", kind);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        memset(&o, 0, sizeof o);
        ics_sql_column_text(st, 0, o.org, sizeof o.org);
        ics_sql_column_text(st, 1, o.kind, sizeof o.kind);
        ics_sql_column_text(st, 2, o.name, sizeof o.name);
        ics_sql_column_text(st, 3, o.parent, sizeof o.parent);
        o.member = sqlite3_column_int(st, 4) != 0;
        rc = fn(arg, &o);
        if (rc != ICS_OK)
            break;
    }
    ics_sql_release(db, st);
    return rc == ICS_ENOENT ? ICS_OK : rc;
}

/* ---------------------------------------------------------------- roles under the policy */

int ics_policy_person_holds(ics_db_t *db, const char *org, const char *person, const char *role,
                            bool *yes)
{
    Ics__V1__Policy *p = NULL;
    uint64_t version;
    int rc;

    *yes = false;
    rc = ics_policy_in_force(db, &p, &version);
    if (rc != ICS_OK)
        return rc;
    if (ics_policy_role(p, role) != NULL)
        rc = ics_people_holds(db, org, person, role, yes);
    ics__v1__policy__free_unpacked(p, NULL);
    return rc;
}
