/*
 * People as read: people.list, with each person's key in force and key
 * history. Reads only: nothing here is hashed into the audit chain.
 */
#include "fsm/fsm_gov.h"
#include "common/personsig.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- queries */

/* A person's key in force and its history (registered, rotated, revoked,
 * with the index of each), as JSON members of the person's object and as
 * text lines under them. A read: nothing here is hashed. */
static int s_list_keys(ics_db_t *db, const char *org, const char *person, json_t *j, FILE *text)
{
    sqlite3_stmt *st = NULL;
    uint8_t kid[ICS_KEY_ID_BYTES];
    char hex[2 * ICS_KEY_ID_BYTES + 1] = "";
    bool admin = false;
    int rc;

    rc = ics_sql_query(db, &st,
                       "SELECT key_id, admin FROM person_keys WHERE org = ?1 AND"
                       " person = ?2",
                       "tt", org, person);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK && ics_sql_column_blob(st, 0, kid, sizeof kid)) {
        ics_hex(kid, sizeof kid, hex);
        admin = sqlite3_column_int(st, 1) != 0;
    }
    ics_sql_release(db, st);
    st = NULL;
    if (rc != ICS_OK && rc != ICS_ENOENT)
        return rc;
    json_str(j, "key_id", hex);
    json_bool(j, "admin", admin);
    fprintf(text, "%-34s key %s%s\n", "", hex[0] ? hex : "(none)", admin ? " (administrator)" : "");
    json_arr(j, "key_history");
    rc = ics_sql_query(db, &st,
                       "SELECT position, action, key_id, by_person FROM"
                       " person_key_history WHERE org = ?1 AND person = ?2"
                       " ORDER BY position",
                       "tt", org, person);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        const char *action = (const char *)sqlite3_column_text(st, 1);
        const char *by = (const char *)sqlite3_column_text(st, 3);
        hex[0] = '\0';
        if (ics_sql_column_blob(st, 2, kid, sizeof kid))
            ics_hex(kid, sizeof kid, hex);
        json_obj(j, NULL);
        json_u64(j, "index", ics_sql_column_u64(st, 0));
        json_str(j, "action", action);
        json_str(j, "key_id", hex);
        json_str(j, "by", by);
        json_end_obj(j);
        fprintf(text, "%-34s   %s %s at index %" PRIu64 " by %s\n", "", action, hex,
                ics_sql_column_u64(st, 0), by[0] ? by : org);
    }
    ics_sql_release(db, st);
    json_end_arr(j);
    return rc == ICS_ENOENT ? ICS_OK : rc;
}

/* A person's roles, by their titles in the scheme in force p ("roles"). */
static int s_list_roles(ics_db_t *db, const Ics__V1__Policy *p, const char *org,
                        const char *person, json_t *j)
{
    sqlite3_stmt *rs = NULL;
    int rc;

    json_arr(j, "roles");
    rc = ics_sql_query(db, &rs, "SELECT role, scope, since, by_org FROM person_roles"
                                  " WHERE org = ?1 AND person = ?2 ORDER BY role, scope",
                         "tt", org, person);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, rs)) == ICS_OK) {
        const char *role = (const char *)sqlite3_column_text(rs, 0);
        json_obj(j, NULL);
        json_str(j, "role", role);
        json_str(j, "title", ics_policy_role_title(p, role));
        json_bool(j, "in_policy", ics_policy_role(p, role) != NULL);
        json_str(j, "scope", (const char *)sqlite3_column_text(rs, 1));
        json_u64(j, "since", ics_sql_column_u64(rs, 2));
        json_str(j, "appointed_by", (const char *)sqlite3_column_text(rs, 3));
        json_end_obj(j);
    }
    ics_sql_release(db, rs);
    if (rc != ICS_ENOENT)
        return rc;
    json_end_arr(j);
    return ICS_OK;
}

/* One active person (a row of s_list_people): name, roles, keys. */
static int s_list_person(ics_db_t *db, const Ics__V1__Policy *p, sqlite3_stmt *st, json_t *j,
                         FILE *text)
{
    const char *org = (const char *)sqlite3_column_text(st, 0);
    const char *person = (const char *)sqlite3_column_text(st, 1);
    const char *name = (const char *)sqlite3_column_text(st, 2);
    const char *title = (const char *)sqlite3_column_text(st, 3);
    char roles[ICS_REASON_MAX];
    int rc;

    json_obj(j, NULL);
    json_str(j, "org", org);
    json_str(j, "person", person);
    json_str(j, "name", name);
    json_str(j, "title", title);
    json_u64(j, "since", ics_sql_column_u64(st, 4));
    rc = s_list_roles(db, p, org, person, j);
    if (rc != ICS_OK)
        return rc;
    rc = ics_people_roles_text(db, p, org, person, roles, sizeof roles);
    if (rc != ICS_OK)
        return rc;
    fprintf(text, "%-11s %-22s %s%s%s%s\n%-34s %s\n", org, person, name,
            title[0] ? " (" : "", title, title[0] ? ")" : "", "", roles);
    rc = s_list_keys(db, org, person, j, text);
    if (rc != ICS_OK)
        return rc;
    json_end_obj(j);
    return ICS_OK;
}

/* The active people of the organisation `only` ("" for all) ("people"). */
static int s_list_people(ics_db_t *db, const Ics__V1__Policy *p, const char *only, json_t *j,
                         FILE *text)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = ics_sql_query(db, &st, "SELECT org, person, name, title, since FROM people"
                                  " WHERE active = 1 AND (?1 = '' OR org = ?1)"
                                  " ORDER BY org, person", "t", only);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        rc = s_list_person(db, p, st, j, text);
        if (rc != ICS_OK)
            break;
    }
    ics_sql_release(db, st);
    if (rc != ICS_ENOENT)
        return rc;
    json_end_arr(j);
    return ICS_OK;
}

/* The interests declared and not withdrawn ("interests"). */
static int s_list_interests(ics_db_t *db, const char *only, json_t *j, FILE *text)
{
    sqlite3_stmt *st = NULL;
    unsigned n_interests = 0;
    int rc;

    json_arr(j, "interests");
    fprintf(text, "\nDeclared interests\n");
    rc = ics_sql_query(db, &st, "SELECT id, org, person, subject, description FROM interests"
                                  " WHERE withdrawn IS NULL AND (?1 = '' OR org = ?1)"
                                  " ORDER BY id", "t", only);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        const char *person = (const char *)sqlite3_column_text(st, 2);
        json_obj(j, NULL);
        json_u64(j, "declared_at", ics_sql_column_u64(st, 0));
        json_str(j, "org", (const char *)sqlite3_column_text(st, 1));
        json_str(j, "person", person);
        json_str(j, "subject", (const char *)sqlite3_column_text(st, 3));
        json_str(j, "description", (const char *)sqlite3_column_text(st, 4));
        json_end_obj(j);
        fprintf(text, "  %-11s %-22s %-24s %s (index %" PRIu64 ")\n",
                (const char *)sqlite3_column_text(st, 1),
                person[0] ? person : "(organisation)", (const char *)sqlite3_column_text(st, 3),
                (const char *)sqlite3_column_text(st, 4), ics_sql_column_u64(st, 0));
        n_interests++;
    }
    ics_sql_release(db, st);
    if (rc != ICS_ENOENT)
        return rc;
    if (n_interests == 0)
        fprintf(text, "  (none)\n");
    json_end_arr(j);
    return ICS_OK;
}

/* The registered organisations that run no node ("organisations"). */
static int s_list_orgs(ics_db_t *db, const char *only, json_t *j, FILE *text)
{
    sqlite3_stmt *st = NULL;
    unsigned n_orgs = 0;
    int rc;

    json_arr(j, "organisations");
    fprintf(text, "\nOrganisations without a node\n");
    rc = ics_sql_query(db, &st, "SELECT org, kind, name, parent, by_org, since FROM orgs_known"
                                  " WHERE active = 1 AND (?1 = '' OR org = ?1 OR parent = ?1)"
                                  " ORDER BY org", "t", only);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        const char *parent = (const char *)sqlite3_column_text(st, 3);
        json_obj(j, NULL);
        json_str(j, "org", (const char *)sqlite3_column_text(st, 0));
        json_str(j, "kind", (const char *)sqlite3_column_text(st, 1));
        json_str(j, "name", (const char *)sqlite3_column_text(st, 2));
        json_str(j, "parent", parent);
        json_str(j, "registered_by", (const char *)sqlite3_column_text(st, 4));
        json_u64(j, "since", ics_sql_column_u64(st, 5));
        json_end_obj(j);
        fprintf(text, "  %-16s %-12s %s%s%s%s\n", (const char *)sqlite3_column_text(st, 0),
                (const char *)sqlite3_column_text(st, 1),
                (const char *)sqlite3_column_text(st, 2), parent[0] ? " (part of " : "", parent,
                parent[0] ? ")" : "");
        n_orgs++;
    }
    ics_sql_release(db, st);
    if (rc != ICS_ENOENT)
        return rc;
    if (n_orgs == 0)
        fprintf(text, "  (none)\n");
    json_end_arr(j);
    return ICS_OK;
}

/* people.list [ORG]: people, their roles, keys and interests; organisations
 * without a node. */
static int s_query_list(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                        FILE *json, FILE *text, ics_err_t *err)
{
    Ics__V1__Policy *p = NULL;
    const char *only = argc > 0 ? argv[0] : "";
    uint64_t version = 0;
    json_t j;
    int rc;

    if (argc > 1)
        return ics_err(err, ICS_EINVAL, "people list takes at most one organisation");
    if (only[0] != '\0' && !ics_valid_id(only, ICS_ORG_MAX))
        return ics_err(err, ICS_EINVAL, "'%s' is not an organisation id", only);
    rc = ics_policy_in_force(db, &p, &version);
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_u64(&j, "policy_version", version);
    json_arr(&j, "people");
    fprintf(text, "People acting for the members of %s (scheme version %" PRIu64 ")\n\n", group,
            version);
    fprintf(text, "%-11s %-22s %s\n%-34s %s\n", "ORG", "PERSON", "NAME (TITLE)", "", "ROLES");
    rc = s_list_people(db, p, only, &j, text);
    if (rc == ICS_OK)
        rc = s_list_interests(db, only, &j, text);
    if (rc == ICS_OK)
        rc = s_list_orgs(db, only, &j, text);
    if (rc == ICS_OK)
        json_end_obj(&j);
    if (p != NULL)
        ics__v1__policy__free_unpacked(p, NULL);
    return rc == ICS_OK ? ICS_OK : ics_err(err, rc, "state database error");
}

const ics_fsm_query_t ics_people_queries[] = {
    {"people.list", s_query_list},
    {NULL, NULL},
};
