/*
 * People, roles and interests: who acts for each member organisation, in
 * which role of the scheme of reservation and delegation, and what interests
 * they have declared; plus the organisations the group deals with that run
 * no node (health and wellbeing boards, the ICP, NHS England, Healthwatch).
 *
 * The envelope's signer is the organisation, authenticated by its key;
 * Command.actor is the person. An organisation vouches for its own people:
 * it registers them, and only a registered person can propose, vote,
 * respond or amend. Roles are appointments under the policy in force: a
 * role says who appoints (the person's own organisation, or an organisation
 * of a kind such as the ICB), whose people may hold it and how many may.
 * Invariants:
 *   - a role appointment names a person registered (and active) for org;
 *     removing the person ends their appointments in the same entry;
 *   - at most one live declaration per (org, person, subject); the person
 *     "" stands for the whole organisation;
 *   - interests only ever add exclusions to open motions (a withdrawal does
 *     not re-admit a member already excluded: the record says they were
 *     conflicted when it mattered);
 *   - a registered organisation is never a current member.
 *
 * What the other domains read of the registry is in fsm_people_data.c.
 * This file sits above fsm_motions.c: a declared interest excludes the
 * person from open motions and settles them (ics_motions_interests_changed),
 * which may carry one out.
 *
 *   Person (org, person):
 *                 PersonRegister              PersonRegister{remove}
 *   (unknown) ---------------------> ACTIVE ------------------------> REMOVED
 *               s_person_register()    |  ^   s_person_register():       |
 *                                      |  |   roles end                  |
 *                  PersonRegister      +--+      PersonRegister          |
 *                  (new name/title)         <----------------------------+
 *
 *   Appointment (org, person, role, scope):
 *                 RoleAssign                    RoleAssign{revoke}
 *   (none) -----------------------> APPOINTED -----------------------> (ended)
 *            s_role_assign(): appointer,        s_role_assign();
 *            holder kind, limits, scope         also when the person is removed
 *
 *   Interest (org, person|"", subject):
 *                 InterestDeclare               InterestDeclare{withdraw}
 *   (none) -----------------------> DECLARED -----------------------> WITHDRAWN
 *            s_interest(): excludes from          s_interest()
 *            matching open motions
 *
 *   Registered organisation:
 *                 OrgRegister (admin or parent)  OrgRegister{remove}
 *   (unknown) ---------------------> KNOWN -----------------------> REMOVED
 *               s_org_register()                 s_org_register()
 */
#include "fsm/fsm_gov.h"

#include "common/personsig.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char s_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS people("
    " org TEXT NOT NULL,"
    " person TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " title TEXT NOT NULL,"
    " active INTEGER NOT NULL,"
    " since INTEGER NOT NULL,"         /* position (last) registered at */
    " removed INTEGER,"                /* position removed at, NULL while active */
    " PRIMARY KEY (org, person));"
    /* The key each person signs with (docs/log-format.md, section 2c). The
     * row outlives a revocation, so that seq keeps a re-registered person's
     * old signatures from being replayed. */
    "CREATE TABLE IF NOT EXISTS person_keys("
    " org TEXT NOT NULL,"
    " person TEXT NOT NULL,"
    " public_key BLOB NOT NULL,"
    " key_id BLOB NOT NULL,"
    " admin INTEGER NOT NULL,"         /* may register, re-key and revoke org's people */
    " seq INTEGER NOT NULL,"           /* highest person seq applied, 0 if none */
    " since INTEGER NOT NULL,"         /* position the key came into force at */
    " PRIMARY KEY (org, person));"
    "CREATE TABLE IF NOT EXISTS person_key_history("
    " position INTEGER NOT NULL,"
    " org TEXT NOT NULL,"
    " person TEXT NOT NULL,"
    " action TEXT NOT NULL,"           /* registered, rotated, revoked */
    " key_id BLOB NOT NULL,"
    " by_person TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS person_roles("
    " org TEXT NOT NULL,"
    " person TEXT NOT NULL,"
    " role TEXT NOT NULL,"
    " scope TEXT NOT NULL,"            /* '' unless the role is scoped */
    " since INTEGER NOT NULL,"
    " by_org TEXT NOT NULL,"
    " by_person TEXT NOT NULL,"
    " PRIMARY KEY (org, person, role, scope));"
    "CREATE INDEX IF NOT EXISTS person_roles_role ON person_roles(role, org, person);"
    "CREATE TABLE IF NOT EXISTS role_history("
    " position INTEGER NOT NULL,"
    " org TEXT NOT NULL,"
    " person TEXT NOT NULL,"
    " role TEXT NOT NULL,"
    " scope TEXT NOT NULL,"
    " action TEXT NOT NULL,"           /* appointed, ended */
    " by_org TEXT NOT NULL,"
    " by_person TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS interests("
    " id INTEGER PRIMARY KEY,"         /* position declared at */
    " org TEXT NOT NULL,"
    " person TEXT NOT NULL,"           /* '' : the whole organisation */
    " subject TEXT NOT NULL,"
    " subject_key TEXT NOT NULL,"      /* lower-case, for matching */
    " description TEXT NOT NULL,"
    " declared_by TEXT NOT NULL,"
    " withdrawn INTEGER);"             /* position, NULL while live */
    "CREATE INDEX IF NOT EXISTS interests_who ON interests(org, person, subject_key);"
    "CREATE TABLE IF NOT EXISTS orgs_known("
    " org TEXT PRIMARY KEY,"
    " kind TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " parent TEXT NOT NULL,"
    " by_org TEXT NOT NULL,"
    " since INTEGER NOT NULL,"
    " active INTEGER NOT NULL);";

static int s_schema(ics_db_t *db)
{
    return ics_sql_exec(db, s_schema_sql);
}

/* ---------------------------------------------------------------- person signatures */

/* Is (org, person) an active person with admin rights? */
static int s_is_admin(ics_db_t *db, const char *org, const char *person, bool *yes)
{
    uint64_t n = 0;
    int rc = ics_sql_u64(db, &n, "SELECT count(*) FROM person_keys k JOIN people p"
                                 " ON p.org = k.org AND p.person = k.person AND p.active = 1"
                                 " WHERE k.org = ?1 AND k.person = ?2 AND k.admin = 1",
                         "tt", org, person);
    *yes = rc == ICS_OK && n > 0;
    return rc;
}

/* actor, whose signature verified, enters cmd on behalf of another person
 * of the organisation: only an administrator, never a vote; the domain
 * then sees that person acting (the entry keeps both names). */
static int s_on_behalf(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd, const char *actor,
                       const char *on_behalf)
{
    ics_person_t who;
    bool admin = false;
    int rc;

    if (cmd->body_case == ICS__V1__COMMAND__BODY_VOTE)
        return ics_reject(ctx, "a vote is the voter's own: %.60s cannot cast it on behalf of "
                               "%.60s", actor, on_behalf);
    rc = s_is_admin(ctx->db, ctx->org, actor, &admin);
    if (rc != ICS_OK)
        return rc;
    if (!admin)
        return ics_reject(ctx, "%.60s is not an administrator of %s: only an administrator "
                               "enters an action on behalf of someone", actor, ctx->org);
    rc = ics_people_get(ctx->db, ctx->org, on_behalf, &who);
    if (rc == ICS_ENOENT)
        return ics_reject(ctx, "%.60s is not registered as acting for %s; nobody acts on their "
                               "behalf", on_behalf, ctx->org);
    if (rc != ICS_OK)
        return rc;
    ctx->actor = cmd->on_behalf_of;
    return ICS_OK;
}

int ics_people_admit(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd, const uint8_t *payload,
                     size_t len)
{
    const char *actor = cmd->actor != NULL ? cmd->actor : "";
    const char *on_behalf = cmd->on_behalf_of != NULL ? cmd->on_behalf_of : "";
    const Ics__V1__PersonSig *ps = cmd->person_sig;
    sqlite3_stmt *st = NULL;
    uint8_t pk[ICS_PK_BYTES];
    uint64_t last = 0, removed = 0;
    bool active = false, keyed = false;
    char hex[2 * ICS_KEY_ID_BYTES + 1] = "";
    int rc;

    if (actor[0] == '\0') {
        if (ps != NULL)
            return ics_reject(ctx, "malformed command: a person signature but no person named");
        if (on_behalf[0] != '\0')
            return ics_reject(ctx, "malformed command: on behalf of %.60s but no person named",
                              on_behalf);
        return ICS_OK; /* the organisation itself acts */
    }
    if (strlen(on_behalf) >= ICS_ACTOR_MAX)
        return ics_reject(ctx, "malformed command: on-behalf name longer than %d bytes",
                          ICS_ACTOR_MAX - 1);
    if (ps == NULL)
        return ics_reject(ctx, "%.60s of %s did not sign this: every action of a person "
                               "carries their own signature (icsctl keys person-gen; their "
                               "organisation registers the key)", actor, ctx->org);
    if (ps->key_id.len != ICS_KEY_ID_BYTES || ps->signature.len != ICS_SIG_BYTES ||
        ps->seq == 0 || ps->seq > INT64_MAX)
        return ics_reject(ctx, "malformed person signature: key id of 8 bytes, signature of 64 "
                               "and a sequence number from 1 to 2^63-1 needed");
    rc = ics_sql_query(ctx->db, &st, "SELECT p.active, p.removed, k.public_key, k.seq"
                                     " FROM people p LEFT JOIN person_keys k"
                                     " ON k.org = p.org AND k.person = p.person"
                                     " WHERE p.org = ?1 AND p.person = ?2", "tt", ctx->org, actor);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(ctx->db, st);
    if (rc == ICS_OK) {
        active = sqlite3_column_int(st, 0) != 0;
        removed = ics_sql_column_u64(st, 1);
        keyed = ics_sql_column_blob(st, 2, pk, sizeof pk);
        last = ics_sql_column_u64(st, 3);
    }
    ics_sql_release(ctx->db, st);
    if (rc == ICS_ENOENT)
        return ics_reject(ctx, "%.60s is not registered as acting for %s; %s registers its "
                               "people with: icsctl people register %.60s --name NAME --key KEY",
                          actor, ctx->org, ctx->org, actor);
    if (rc != ICS_OK)
        return rc;
    if (!active)
        return ics_reject(ctx, "%.60s of %s was revoked at index %" PRIu64 ": their signature "
                               "no longer counts", actor, ctx->org, removed);
    if (!keyed)
        return ics_reject(ctx, "%.60s of %s has no registered key; %s registers it with: icsctl "
                               "people register %.60s --name NAME --key KEY", actor, ctx->org,
                          ctx->org, actor);
    rc = ics_person_verify(ctx->group, ctx->org, cmd, payload, len, pk);
    if (rc == ICS_EKEY) {
        ics_hex(ps->key_id.data, ICS_KEY_ID_BYTES, hex);
        return ics_reject(ctx, "person signature of %.60s of %s is by key %s, not the key "
                               "registered for them", actor, ctx->org, hex);
    }
    if (rc == ICS_EMALFORMED)
        return ics_reject(ctx, "malformed person signature: the command must hold exactly one");
    if (rc == ICS_ESIG)
        return ics_reject(ctx, "bad person signature of %.60s of %s", actor, ctx->org);
    if (rc != ICS_OK)
        return rc == ICS_ENOMEM ? rc : ICS_EIO;
    if (ps->seq <= last)
        return ics_reject(ctx, "replayed person signature: sequence number %" PRIu64 " of %.60s "
                               "of %s is not above the last applied (%" PRIu64 ")", ps->seq,
                          actor, ctx->org, last);
    rc = ics_sql_run(ctx->db, "UPDATE person_keys SET seq = ?3 WHERE org = ?1 AND person = ?2",
                     "ttu", ctx->org, actor, ps->seq);
    if (rc != ICS_OK || on_behalf[0] == '\0')
        return rc;
    return s_on_behalf(ctx, cmd, actor, on_behalf);
}

/* ---------------------------------------------------------------- commands */

/* May the signer (ctx->org, ctx->actor) register, re-key or revoke person
 * of its organisation? The rule is ics_person_may_register (personsig.c),
 * which icsctl log verify replays too: an administrator person may do all
 * of it; a person may rotate their own key (keeping their rights) or revoke
 * themself; the organisation alone (no person) only while it has no active
 * administrator, and then only to register one (the bootstrap of
 * docs/log-format.md, section 2c). */
static int s_may_register(ics_apply_ctx_t *ctx, const Ics__V1__PersonRegister *r, bool exists)
{
    bool admin = false;
    uint64_t admins = 0;
    int rc;

    if (ctx->actor[0] != '\0')
        rc = s_is_admin(ctx->db, ctx->org, ctx->actor, &admin);
    else
        rc = ics_sql_u64(ctx->db, &admins,
                         "SELECT count(*) FROM person_keys k JOIN people p"
                         " ON p.org = k.org AND p.person = k.person"
                         " AND p.active = 1 WHERE k.org = ?1 AND k.admin = 1",
                         "t", ctx->org);
    if (rc != ICS_OK)
        return rc;
    switch (ics_person_may_register(ctx->actor, admin, admins, r, exists)) {
    case ICS_PERSON_MAY:
        return ICS_OK;
    case ICS_PERSON_NOT_ADMIN:
        return ics_reject(ctx,
                          "%.60s is not an administrator of %s: only an administrator "
                          "registers, re-keys or revokes its people",
                          ctx->actor, ctx->org);
    case ICS_PERSON_HAS_ADMIN:
        return ics_reject(ctx, "%s has an administrator person: people are registered, "
                               "re-keyed and revoked by an administrator, signing with their "
                               "own key", ctx->org);
    case ICS_PERSON_FIRST_ADMIN:
        break;
    }
    return ics_reject(ctx,
                      "%s has no administrator person yet: the organisation may "
                      "only register its first administrator (--admin), who then "
                      "registers the others",
                      ctx->org);
}

/* What is registered for a person before the command: their row (exists),
 * and their key and whether it makes them an administrator. */
typedef struct {
    ics_person_t cur;
    bool exists;
    bool had_key;
    bool was_admin;             /* only of a person still registered */
    uint8_t old_pk[ICS_PK_BYTES];
} s_registered_t;

static int s_registered(ics_apply_ctx_t *ctx, const char *person, s_registered_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    rc = ics_people_get(ctx->db, ctx->org, person, &out->cur);
    if (rc != ICS_OK && rc != ICS_ENOENT)
        return rc;
    out->exists = rc == ICS_OK;
    rc = ics_sql_query(ctx->db, &st, "SELECT public_key, admin FROM person_keys WHERE org = ?1"
                                     " AND person = ?2", "tt", ctx->org, person);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(ctx->db, st);
    if (rc == ICS_OK) {
        out->had_key = ics_sql_column_blob(st, 0, out->old_pk, sizeof out->old_pk);
        out->was_admin = sqlite3_column_int(st, 1) != 0;
    }
    ics_sql_release(ctx->db, st);
    if (rc != ICS_OK && rc != ICS_ENOENT)
        return rc;
    out->was_admin = out->was_admin && out->exists;
    return ICS_OK;
}

/* Revokes the person: their roles end, their row stays inactive, their key
 * is recorded revoked. */
static int s_person_remove(ics_apply_ctx_t *ctx, const Ics__V1__PersonRegister *r,
                           const s_registered_t *reg)
{
    uint8_t kid[ICS_KEY_ID_BYTES];
    int rc;

    rc = ics_sql_run(ctx->db, "INSERT INTO role_history(position, org, person, role,"
                               " scope, action, by_org, by_person) SELECT ?1, org, person,"
                               " role, scope, 'ended', ?2, ?3 FROM person_roles"
                               " WHERE org = ?2 AND person = ?4 ORDER BY role, scope",
                      "uttt", ctx->position, ctx->org, ctx->actor, r->person);
    if (rc == ICS_OK)
        rc = ics_sql_run(ctx->db, "DELETE FROM person_roles WHERE org = ?1 AND person = ?2",
                          "tt", ctx->org, r->person);
    if (rc == ICS_OK)
        rc = ics_sql_run(ctx->db, "UPDATE people SET active = 0, removed = ?3"
                                   " WHERE org = ?1 AND person = ?2",
                          "ttu", ctx->org, r->person, ctx->position);
    if (rc == ICS_OK && reg->had_key) {
        ics_key_id(reg->old_pk, kid);
        rc = ics_sql_run(ctx->db, "INSERT INTO person_key_history(position, org, person,"
                                   " action, key_id, by_person) VALUES (?1, ?2, ?3,"
                                   " 'revoked', ?4, ?5)", "uttbt", ctx->position, ctx->org,
                          r->person, kid, (int)sizeof kid, ctx->actor);
    }
    return rc;
}

/* Writes the person's key (and administrator flag), and records a new key
 * in the key history. */
static int s_person_set_key(ics_apply_ctx_t *ctx, const Ics__V1__PersonRegister *r,
                            bool had_key, bool same_key, bool admin)
{
    uint8_t kid[ICS_KEY_ID_BYTES];
    int rc;

    ics_key_id(r->public_key.data, kid);
    /* seq survives a new key and a re-registration: old signatures stay spent. */
    rc = ics_sql_run(ctx->db, "INSERT INTO person_keys(org, person, public_key, key_id, admin,"
                               " seq, since) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)"
                               " ON CONFLICT(org, person) DO UPDATE SET public_key = ?3,"
                               " key_id = ?4, admin = ?5, since = ?6",
                      "ttbbiu", ctx->org, r->person, r->public_key.data, ICS_PK_BYTES, kid,
                      (int)sizeof kid, admin ? 1 : 0, ctx->position);
    if (rc == ICS_OK && !same_key)
        rc = ics_sql_run(ctx->db, "INSERT INTO person_key_history(position, org, person,"
                                   " action, key_id, by_person) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                          "utttbt", ctx->position, ctx->org, r->person,
                          had_key ? "rotated" : "registered", kid, (int)sizeof kid,
                          ctx->actor);
    return rc;
}

/* Registers the person, or changes their name, title, key or administrator
 * flag; the same registration again is refused. */
static int s_person_write(ics_apply_ctx_t *ctx, const Ics__V1__PersonRegister *r,
                          const s_registered_t *reg)
{
    const ics_person_t *cur = &reg->cur;
    uint8_t curve[32];
    int rc;

    if (r->public_key.len != ICS_PK_BYTES || ics_curve_public(r->public_key.data, curve) != ICS_OK)
        return ics_reject(ctx, "%.60s needs a key: the Ed25519 public key they sign with "
                               "(icsctl keys person-gen prints it)", r->person);
    /* A new key alone (no name given) keeps the person's name and title. */
    const char *name = r->name, *title = r->title;
    if (reg->exists && name[0] == '\0' && title[0] == '\0') {
        name = cur->name;
        title = cur->title;
    }
    if (!ics_gov_valid_line(name, ICS_LINE_MAX, true))
        return ics_reject(ctx, "%s needs a name: one line of text, under %d bytes", r->person,
                          ICS_LINE_MAX);
    if (!ics_gov_valid_line(title, ICS_LINE_MAX, false))
        return ics_reject(ctx, "the job title of %s must be one line, under %d bytes",
                          r->person, ICS_LINE_MAX);
    bool admin = ics_person_admin_after(ctx->actor, r, reg->was_admin);
    bool same_key = reg->had_key && memcmp(reg->old_pk, r->public_key.data, ICS_PK_BYTES) == 0;
    if (reg->exists && strcmp(cur->name, name) == 0 && strcmp(cur->title, title) == 0 &&
        same_key && reg->was_admin == admin)
        return ics_reject(ctx, "%s is already registered for %s as %s%s%s", r->person, ctx->org,
                          cur->name, cur->title[0] ? ", " : "", cur->title);
    if (reg->exists)
        rc = ics_sql_run(ctx->db, "UPDATE people SET name = ?3, title = ?4"
                                   " WHERE org = ?1 AND person = ?2",
                          "tttt", ctx->org, r->person, name, title);
    else
        rc = ics_sql_run(ctx->db, "INSERT OR REPLACE INTO people(org, person, name, title,"
                                   " active, since, removed) VALUES (?1, ?2, ?3, ?4, 1, ?5, NULL)",
                          "ttttu", ctx->org, r->person, name, title, ctx->position);
    if (rc != ICS_OK || (same_key && reg->exists && reg->was_admin == admin))
        return rc;
    return s_person_set_key(ctx, r, reg->had_key, same_key, admin);
}

static int s_person_register(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__PersonRegister *r = cmd->person_register;
    s_registered_t reg;
    int rc;

    if (!ics_gov_valid_person(r->person))
        return ics_reject(ctx, "person id '%.40s' is not valid: 1 to %d printable characters "
                               "without spaces, as they sign in (e.g. dr.amina.khan)",
                          r->person, ICS_PERSON_MAX - 1);
    rc = s_registered(ctx, r->person, &reg);
    if (rc != ICS_OK)
        return rc;
    if (r->remove && !reg.exists)
        return ics_reject(ctx, "%s has no registered person %s", ctx->org, r->person);
    rc = s_may_register(ctx, r, reg.exists);
    if (rc != ICS_OK)
        return rc;
    if (r->remove)
        return s_person_remove(ctx, r, &reg);
    return s_person_write(ctx, r, &reg);
}

/* May the signer appoint to (or remove from) role for a person of org? */
static int s_may_appoint(ics_apply_ctx_t *ctx, const Ics__V1__RoleDef *role, const char *org)
{
    ics_member_t signer;
    int rc;

    if (strcmp(role->appointed_by, "own") == 0) {
        if (strcmp(ctx->org, org) != 0)
            return ics_reject(ctx, "%s appoints its own %s; %s cannot", org, role->title,
                              ctx->org);
        return ICS_OK;
    }
    rc = ics_members_get(ctx->db, ctx->org, &signer);
    if (rc != ICS_OK)
        return rc == ICS_ENOENT ? ICS_EIO : rc; /* the core admitted the signer */
    if (strcmp(signer.kind, role->appointed_by) != 0)
        return ics_reject(ctx, "%s is appointed by an organisation of kind %s; %s is %s",
                          role->title, role->appointed_by, ctx->org, signer.kind);
    return ICS_OK;
}

/* The role `id` of the scheme in force (version), which must name it. */
static int s_role_named(ics_apply_ctx_t *ctx, const Ics__V1__Policy *p, uint64_t version,
                        const char *id, const Ics__V1__RoleDef **out)
{
    char list[ICS_REASON_MAX] = "";

    *out = ics_policy_role(p, id);
    if (*out != NULL)
        return ICS_OK;
    for (size_t i = 0; i < p->n_roles && strlen(list) < 180; i++) {
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, p->roles[i]->id, sizeof list - strlen(list) - 1);
    }
    return ics_reject(ctx, "no role '%.40s' in the scheme in force (version %" PRIu64 "); "
                           "its roles: %s", id, version, list);
}

/* The person appointed is registered by a member organisation (org). */
static int s_check_appointee(ics_apply_ctx_t *ctx, const Ics__V1__RoleAssign *a, ics_org_t *org)
{
    ics_person_t who;
    int rc;

    rc = ics_orgs_get(ctx->db, a->org, org);
    if (rc == ICS_ENOENT || (rc == ICS_OK && !org->member))
        return ics_reject(ctx, "%.40s is not a member organisation of the group", a->org);
    if (rc != ICS_OK)
        return rc;
    rc = ics_people_get(ctx->db, a->org, a->person, &who);
    if (rc == ICS_ENOENT)
        return ics_reject(ctx, "%s has not registered %.60s; %s registers its people with: "
                               "icsctl people register %.60s --name NAME", a->org, a->person,
                          a->org, a->person);
    return rc;
}

/* A scope exactly when the role acts for a named organisation, and one the
 * group knows. */
static int s_check_scope(ics_apply_ctx_t *ctx, const Ics__V1__RoleDef *role,
                         const Ics__V1__RoleAssign *a)
{
    ics_org_t scope;
    int rc;

    if (role->scoped && a->scope[0] == '\0')
        return ics_reject(ctx, "%s acts for a named organisation: give its id as the scope "
                               "(e.g. --scope HWB-E06000057)", role->title);
    if (!role->scoped && a->scope[0] != '\0')
        return ics_reject(ctx, "%s takes no scope", role->title);
    if (a->scope[0] == '\0')
        return ICS_OK;
    rc = ics_orgs_get(ctx->db, a->scope, &scope);
    if (rc == ICS_ENOENT)
        return ics_reject(ctx, "scope %.40s is not an organisation known to the group; "
                               "register it first (icsctl people org add)", a->scope);
    return rc;
}

/* The appointment's history row: action is "appointed" or "ended". */
static int s_role_history(ics_apply_ctx_t *ctx, const Ics__V1__RoleAssign *a, const char *action)
{
    return ics_sql_run(ctx->db, "INSERT INTO role_history(position, org, person, role, scope,"
                                " action, by_org, by_person)"
                                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                       "uttttttt", ctx->position, a->org, a->person, a->role, a->scope, action,
                       ctx->org, ctx->actor);
}

/* Ends the appointment, which must exist (n: how many rows hold it). */
static int s_role_end(ics_apply_ctx_t *ctx, const Ics__V1__RoleAssign *a,
                      const Ics__V1__RoleDef *role, uint64_t n)
{
    int rc;

    if (n == 0)
        return ics_reject(ctx, "%s of %s does not hold %s%s%s", a->person, a->org, role->title,
                          a->scope[0] ? " for " : "", a->scope);
    rc = ics_sql_run(ctx->db, "DELETE FROM person_roles WHERE org = ?1 AND person = ?2"
                               " AND role = ?3 AND scope = ?4",
                      "tttt", a->org, a->person, a->role, a->scope);
    if (rc == ICS_OK)
        rc = s_role_history(ctx, a, "ended");
    return rc;
}

/* The role is held by people of these kinds of organisation, if it names
 * any. */
static int s_check_holder_kind(ics_apply_ctx_t *ctx, const Ics__V1__RoleAssign *a,
                               const Ics__V1__RoleDef *role, const ics_org_t *org)
{
    bool ok = false;
    char kinds[200] = "";

    if (role->n_holder_kinds == 0)
        return ICS_OK;
    for (size_t i = 0; i < role->n_holder_kinds; i++) {
        ok = ok || strcmp(role->holder_kinds[i], org->kind) == 0;
        strncat(kinds, i ? ", " : "", sizeof kinds - strlen(kinds) - 1);
        strncat(kinds, role->holder_kinds[i], sizeof kinds - strlen(kinds) - 1);
    }
    if (!ok)
        return ics_reject(ctx, "%s is held by people of %s organisations; %s is %s",
                          role->title, kinds, a->org, org->kind);
    return ICS_OK;
}

/* Room for one more holder: in all, then from the organisation. */
static int s_check_holder_limits(ics_apply_ctx_t *ctx, const Ics__V1__RoleAssign *a,
                                 const Ics__V1__RoleDef *role)
{
    uint64_t n = 0;
    int rc;

    if (role->max_holders != 0) {
        rc = ics_sql_u64(ctx->db, &n, "SELECT count(*) FROM person_roles WHERE role = ?1", "t",
                         a->role);
        if (rc != ICS_OK)
            return rc;
        if (n >= role->max_holders)
            return ics_reject(ctx, "%s already has %" PRIu64 " holder%s, the most the scheme "
                                   "allows; end an appointment first", role->title, n,
                              n == 1 ? "" : "s");
    }
    if (role->max_per_org != 0) {
        rc = ics_sql_u64(ctx->db, &n, "SELECT count(*) FROM person_roles WHERE role = ?1 AND"
                                      " org = ?2", "tt", a->role, a->org);
        if (rc != ICS_OK)
            return rc;
        if (n >= role->max_per_org)
            return ics_reject(ctx, "%s already has %" PRIu64 " holder%s from %s, the most the "
                                   "scheme allows per organisation", role->title, n,
                              n == 1 ? "" : "s", a->org);
    }
    return ICS_OK;
}

/* Appoints the person, who must not hold the role already (n: how many
 * rows hold it), within the role's limits. */
static int s_role_begin(ics_apply_ctx_t *ctx, const Ics__V1__RoleAssign *a,
                        const Ics__V1__RoleDef *role, const ics_org_t *org, uint64_t n)
{
    int rc;

    if (n != 0)
        return ics_reject(ctx, "%s of %s already holds %s%s%s", a->person, a->org, role->title,
                          a->scope[0] ? " for " : "", a->scope);
    rc = s_check_holder_kind(ctx, a, role, org);
    if (rc == ICS_OK)
        rc = s_check_holder_limits(ctx, a, role);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_run(ctx->db, "INSERT INTO person_roles(org, person, role, scope, since, by_org,"
                               " by_person) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                      "ttttutt", a->org, a->person, a->role, a->scope, ctx->position, ctx->org,
                      ctx->actor);
    if (rc == ICS_OK)
        rc = s_role_history(ctx, a, "appointed");
    return rc;
}

static int s_role_assign(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__RoleAssign *a = cmd->role_assign;
    Ics__V1__Policy *p = NULL;
    const Ics__V1__RoleDef *role = NULL;
    ics_org_t org;
    uint64_t version = 0, n = 0;
    int rc;

    rc = ics_policy_in_force(ctx->db, &p, &version);
    if (rc == ICS_OK)
        rc = s_role_named(ctx, p, version, a->role, &role);
    if (rc == ICS_OK)
        rc = s_check_appointee(ctx, a, &org);
    if (rc == ICS_OK)
        rc = s_may_appoint(ctx, role, a->org);
    if (rc == ICS_OK)
        rc = s_check_scope(ctx, role, a);
    if (rc == ICS_OK)
        rc = ics_sql_u64(ctx->db, &n, "SELECT count(*) FROM person_roles WHERE org = ?1 AND"
                                      " person = ?2 AND role = ?3 AND scope = ?4",
                         "tttt", a->org, a->person, a->role, a->scope);
    if (rc == ICS_OK)
        rc = a->revoke ? s_role_end(ctx, a, role, n) : s_role_begin(ctx, a, role, &org, n);
    if (p != NULL)
        ics__v1__policy__free_unpacked(p, NULL);
    return rc;
}

static int s_interest(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__InterestDeclare *d = cmd->interest_declare;
    ics_person_t who;
    const char *person = "";
    char key[ICS_SUBJECT_MAX];
    uint64_t id = 0;
    int rc;

    if (!ics_gov_valid_subject(d->subject))
        return ics_reject(ctx, "interest subject '%.40s' is not valid: 1 to %d printable "
                               "characters without spaces, e.g. org:RTD, plan:jfp-2026 or "
                               "tag:virtual-wards", d->subject, ICS_SUBJECT_MAX - 1);
    if (!d->organisation) {
        rc = ics_people_require_actor(ctx, &who);
        if (rc != ICS_OK)
            return rc;
        person = ctx->actor;
    }
    ics_gov_subject_key(d->subject, key);
    rc = ics_sql_u64(ctx->db, &id, "SELECT id FROM interests WHERE org = ?1 AND person = ?2"
                                   " AND subject_key = ?3 AND withdrawn IS NULL",
                     "ttt", ctx->org, person, key);
    if (rc != ICS_OK)
        return rc;
    if (d->withdraw) {
        if (id == 0)
            return ics_reject(ctx, "%s%s%s has no declared interest in %s to withdraw",
                              person[0] ? person : "", person[0] ? " of " : "", ctx->org,
                              d->subject);
        return ics_sql_run(ctx->db, "UPDATE interests SET withdrawn = ?2 WHERE id = ?1", "uu",
                            id, ctx->position);
    }
    if (id != 0)
        return ics_reject(ctx, "an interest in %s is already declared (at index %" PRIu64 ")",
                          d->subject, id);
    if (!ics_gov_valid_line(d->description, ICS_LINE_MAX, true))
        return ics_reject(ctx, "describe the interest: one line of text, under %d bytes",
                          ICS_LINE_MAX);
    rc = ics_sql_run(ctx->db, "INSERT INTO interests(id, org, person, subject, subject_key,"
                               " description, declared_by, withdrawn)"
                               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL)",
                      "utttttt", ctx->position, ctx->org, person, d->subject, key,
                      d->description, ctx->actor);
    if (rc == ICS_OK)
        rc = ics_motions_interests_changed(ctx, ctx->org, person);
    return rc;
}

static int s_org_register(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__OrgRegister *r = cmd->org_register;
    ics_member_t signer, m;
    ics_org_t cur;
    int rc;

    if (!ics_valid_id(r->org, ICS_ORG_MAX))
        return ics_reject(ctx, "'%.40s' is not a valid organisation id (1 to %d of A-Z a-z 0-9 "
                               "_ -)", r->org, ICS_ORG_MAX - 1);
    rc = ics_members_get(ctx->db, ctx->org, &signer);
    if (rc != ICS_OK)
        return rc == ICS_ENOENT ? ICS_EIO : rc;
    rc = ics_members_get(ctx->db, r->org, &m);
    if (rc == ICS_OK)
        return ics_reject(ctx, "%s is a member of the group; it needs no registration", r->org);
    if (rc != ICS_ENOENT)
        return rc;
    rc = ics_orgs_get(ctx->db, r->org, &cur);
    if (rc != ICS_OK && rc != ICS_ENOENT)
        return rc;
    if (r->remove) {
        if (rc == ICS_ENOENT)
            return ics_reject(ctx, "%s is not a registered organisation", r->org);
        if (!signer.admin && strcmp(cur.parent, ctx->org) != 0)
            return ics_reject(ctx, "only the membership administrator or %s's parent "
                                   "organisation may remove it", r->org);
        return ics_sql_run(ctx->db, "UPDATE orgs_known SET active = 0 WHERE org = ?1", "t",
                            r->org);
    }
    if (!ics_valid_id(r->kind, 32))
        return ics_reject(ctx, "organisation kind '%.40s' is not valid (hwb, icp, nhse, "
                               "healthwatch ...)", r->kind);
    if (!ics_gov_valid_line(r->name, ICS_LINE_MAX, true))
        return ics_reject(ctx, "%s needs a name: one line of text", r->org);
    if (r->parent[0] != '\0') {
        rc = ics_members_get(ctx->db, r->parent, &m);
        if (rc == ICS_ENOENT)
            return ics_reject(ctx, "parent %.40s is not a member of the group", r->parent);
        if (rc != ICS_OK)
            return rc;
    }
    if (!signer.admin && strcmp(r->parent, ctx->org) != 0)
        return ics_reject(ctx, "only the membership administrator, or the organisation's parent "
                               "member (e.g. a council for its HWB, with --parent %s), may "
                               "register %s", ctx->org, r->org);
    if (cur.org[0] != '\0' && strcmp(cur.kind, r->kind) == 0 &&
        strcmp(cur.name, r->name) == 0 && strcmp(cur.parent, r->parent) == 0)
        return ics_reject(ctx, "%s is already registered as %s", r->org, cur.name);
    return ics_sql_run(ctx->db, "INSERT OR REPLACE INTO orgs_known(org, kind, name, parent,"
                                 " by_org, since, active) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1)",
                        "tttttu", r->org, r->kind, r->name, r->parent, ctx->org, ctx->position);
}

static const ics_fsm_handler_t s_handlers[] = {
    {ICS__V1__COMMAND__BODY_PERSON_REGISTER, s_person_register},
    {ICS__V1__COMMAND__BODY_ROLE_ASSIGN, s_role_assign},
    {ICS__V1__COMMAND__BODY_INTEREST_DECLARE, s_interest},
    {ICS__V1__COMMAND__BODY_ORG_REGISTER, s_org_register},
    {0, NULL},
};


const ics_fsm_domain_t ics_fsm_domain_people = {
    .name = "people",
    .handlers = s_handlers,
    .schema = s_schema,
    .on_clock = NULL,
    .deadline = NULL,
    .queries = ics_people_queries,
};
