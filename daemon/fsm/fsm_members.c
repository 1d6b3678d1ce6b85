/*
 * Members and their keys: the genesis, and the membership commands
 * MemberAdd, MemberRemove and KeyRotate.
 *
 * A group's members are the organisations whose signed entries count. Each
 * has exactly one Ed25519 key in force at any position; member_keys keeps
 * the history (from_position .. to_position, inclusive) so that anyone can
 * tell which key an entry had to be signed with. Invariants:
 *   - membership and keys change only here, and only through accepted
 *     Genesis / MemberAdd / MemberRemove / KeyRotate entries: the offline
 *     verifier (common/logverify.c) replays exactly those to know the key in
 *     force, so nothing else may write these tables;
 *   - genesis members are voters; the genesis names the administrator, who
 *     adds, removes and re-keys members (a member may re-key itself); any
 *     member may carry out an addition or removal that a carried motion
 *     authorised (fsm_motions.c: that org, that key, once);
 *   - there is always an administrator: it cannot remove itself, and the
 *     last administrator cannot be removed;
 *   - at most ICS_MAX_ORGS current members; no two current members share a
 *     key;
 *   - a new or rotated key is in force from the entry after the one that
 *     installed it (a genesis key from the genesis entry itself, which it
 *     signed).
 *
 * Membership lifecycle of one organisation:
 *
 *          Genesis                           MemberAdd (admin, or as a
 *                                            carried member.admit motion says)
 *          s_genesis()                       s_member_add()
 *   (not a member) ---------+       +------------------------- (not a member)
 *                           |       |
 *                           v       v
 *                     +------------------+   KeyRotate (itself or admin)
 *                     |      ACTIVE      |---------------+ s_key_rotate():
 *                     | voter | standby  |<--------------+ new key in force
 *                     +------------------+                 from next entry
 *                              |
 *                              | MemberRemove (admin or a carried motion; not itself,
 *                              | not the last admin) s_member_remove()
 *                              v
 *                     +------------------+  MemberAdd (admin)
 *                     |     REMOVED      |------------------> ACTIVE
 *                     | (row kept, key   |  s_member_add(), possibly
 *                     |  history closed) |  with a new key
 *                     +------------------+
 *
 * Every transition is an accepted entry and emits an effect (MEMBER_ADDED,
 * KEY_CHANGED, MEMBER_REMOVED) that the node carries out after commit.
 */
#include "fsm/fsm_internal.h"
#include "common/json.h"
#include "common/membership.h"

#include <inttypes.h>
#include <string.h>

static const char s_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS members("
    " org TEXT PRIMARY KEY,"
    " kind TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " endpoint TEXT NOT NULL,"
    " public_key BLOB NOT NULL,"   /* the key in force while active */
    " voter INTEGER NOT NULL,"
    " admin INTEGER NOT NULL,"
    " active INTEGER NOT NULL,"
    " since INTEGER NOT NULL,"     /* position it (last) joined at */
    " removed INTEGER);"           /* position it left at, NULL while active */
    "CREATE TABLE IF NOT EXISTS member_keys("
    " org TEXT NOT NULL,"
    " public_key BLOB NOT NULL,"
    " from_position INTEGER NOT NULL," /* first entry it may sign */
    " to_position INTEGER,"            /* last entry it may sign, NULL while in force */
    " PRIMARY KEY (org, from_position));";

static int s_schema(ics_db_t *db)
{
    return ics_sql_exec(db, s_schema_sql);
}

/* ---------------------------------------------------------------- reads */

static int s_read_member(sqlite3_stmt *st, ics_member_t *m)
{
    const char *org = (const char *)sqlite3_column_text(st, 0);
    const char *kind = (const char *)sqlite3_column_text(st, 1);
    const char *name = (const char *)sqlite3_column_text(st, 2);
    const char *endpoint = (const char *)sqlite3_column_text(st, 3);

    memset(m, 0, sizeof *m);
    if (org == NULL || kind == NULL || name == NULL || endpoint == NULL ||
        !ics_sql_column_blob(st, 4, m->public_key, ICS_PK_BYTES))
        return ICS_EIO;
    ics_strcpy(m->org, sizeof m->org, org);
    ics_strcpy(m->kind, sizeof m->kind, kind);
    ics_strcpy(m->name, sizeof m->name, name);
    ics_strcpy(m->endpoint, sizeof m->endpoint, endpoint);
    m->voter = sqlite3_column_int(st, 5) != 0;
    m->admin = sqlite3_column_int(st, 6) != 0;
    m->since = ics_sql_column_u64(st, 7);
    return ICS_OK;
}

#define S_MEMBER_COLUMNS "org, kind, name, endpoint, public_key, voter, admin, since"

int ics_members_get(ics_db_t *db, const char *org, ics_member_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = ics_sql_query(db, &st, "SELECT " S_MEMBER_COLUMNS " FROM members"
                                " WHERE org = ?1 AND active = 1", "t", org);
    if (rc != ICS_OK)
        goto out;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK)
        rc = s_read_member(st, out);
out:
    ics_sql_release(db, st);
    return rc;
}

int ics_members_voters(ics_db_t *db, unsigned *n)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *n = 0;
    rc = ics_sql_prepare(db, "SELECT count(*) FROM members WHERE active = 1 AND voter = 1", &st);
    if (rc != ICS_OK)
        goto out;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK)
        *n = (unsigned)sqlite3_column_int(st, 0);
    else
        rc = ICS_EIO;
out:
    ics_sql_release(db, st);
    return rc;
}

int ics_members_each(ics_db_t *db, void (*fn)(void *arg, const ics_member_t *m), void *arg)
{
    sqlite3_stmt *st = NULL;
    ics_member_t m;
    int rc;

    rc = ics_sql_prepare(db, "SELECT " S_MEMBER_COLUMNS " FROM members WHERE active = 1"
                             " ORDER BY org", &st);
    if (rc != ICS_OK)
        goto out;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        rc = s_read_member(st, &m);
        if (rc != ICS_OK)
            goto out;
        fn(arg, &m);
    }
    if (rc == ICS_ENOENT)
        rc = ICS_OK;
out:
    ics_sql_release(db, st);
    return rc;
}

/* The current member (other than org) holding pk, if any, into holder. */
static int s_key_holder(ics_db_t *db, const uint8_t pk[ICS_PK_BYTES], const char *org,
                        char holder[ICS_ORG_MAX])
{
    sqlite3_stmt *st = NULL;
    int rc;

    holder[0] = '\0';
    rc = ics_sql_query(db, &st, "SELECT org FROM members WHERE active = 1 AND public_key = ?1"
                                " AND org <> ?2 ORDER BY org LIMIT 1", "bt", pk, ICS_PK_BYTES,
                       org);
    if (rc != ICS_OK)
        goto out;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK)
        ics_strcpy(holder, ICS_ORG_MAX, (const char *)sqlite3_column_text(st, 0));
    else if (rc == ICS_ENOENT)
        rc = ICS_OK;
out:
    ics_sql_release(db, st);
    return rc;
}

static int s_count(ics_db_t *db, const char *sql, unsigned *n)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *n = 0;
    rc = ics_sql_prepare(db, sql, &st);
    if (rc != ICS_OK)
        goto out;
    rc = ics_sql_row(db, st) == ICS_OK ? ICS_OK : ICS_EIO;
    if (rc == ICS_OK)
        *n = (unsigned)sqlite3_column_int(st, 0);
out:
    ics_sql_release(db, st);
    return rc;
}

/* ---------------------------------------------------------------- validation */

/* The stand-alone rules live in common/membership.c, shared with the
 * offline verifier. */
int ics_members_genesis_check(const char *group, const Ics__V1__Envelope *env,
                              const Ics__V1__Genesis *g, uint8_t signer_pk[ICS_PK_BYTES],
                              char *why, size_t why_size)
{
    return ics_genesis_check(group, env->org, g, signer_pk, why, why_size);
}

/* ---------------------------------------------------------------- writes */

/* Opens org's key history with pk, in force from position from. */
static int s_open_key(ics_apply_ctx_t *ctx, const char *org, const uint8_t pk[ICS_PK_BYTES],
                      uint64_t from)
{
    return ics_sql_run(ctx->db, "INSERT INTO member_keys(org, public_key, from_position,"
                                " to_position) VALUES (?1, ?2, ?3, NULL)", "tbu", org, pk,
                       ICS_PK_BYTES, from);
}

static int s_insert_member(ics_apply_ctx_t *ctx, const Ics__V1__MemberAdd *m, bool admin,
                           uint64_t key_from)
{
    int rc;

    rc = ics_sql_run(ctx->db,
                     "INSERT OR REPLACE INTO members(org, kind, name, endpoint, public_key,"
                     " voter, admin, active, since, removed)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, NULL)", "ttttbiiu", m->org,
                     m->kind, m->name, m->endpoint, m->public_key.data, ICS_PK_BYTES,
                     m->role == ICS__V1__MEMBER_ROLE__MEMBER_ROLE_VOTER ? 1 : 0, admin ? 1 : 0,
                     ctx->position);
    if (rc != ICS_OK)
        return rc;
    return s_open_key(ctx, m->org, m->public_key.data, key_from);
}

/* Closes org's key in force: it signs nothing after this entry. */
static int s_close_key(ics_apply_ctx_t *ctx, const char *org)
{
    return ics_sql_run(ctx->db, "UPDATE member_keys SET to_position = ?2"
                                " WHERE org = ?1 AND to_position IS NULL", "tu", org,
                       ctx->position);
}

static int s_emit(ics_apply_ctx_t *ctx, ics_effect_type_t type, const char *org,
                  const char *endpoint, const uint8_t pk[ICS_PK_BYTES], bool voter)
{
    ics_effect_t e;

    memset(&e, 0, sizeof e);
    e.type = type;
    ics_strcpy(e.org, sizeof e.org, org);
    ics_strcpy(e.endpoint, sizeof e.endpoint, endpoint);
    memcpy(e.public_key, pk, ICS_PK_BYTES);
    e.voter = voter;
    return ics_emit_effect(ctx, &e);
}

/* Rejects unless the signer is a current administrator, or a carried
 * member.admit / member.remove motion not yet carried out authorises exactly
 * this change (org, and for an admission its key): then that motion is
 * marked carried out by this entry (undone with it if the entry is
 * rejected later). pk NULL: a removal. */
static int s_require_admin(ics_apply_ctx_t *ctx, const char *what, const char *org,
                           const ProtobufCBinaryData *pk)
{
    ics_member_t signer;
    uint64_t motion = 0;
    int rc = ics_members_get(ctx->db, ctx->org, &signer);

    if (rc != ICS_OK && rc != ICS_ENOENT)
        return rc;
    if (rc == ICS_OK && signer.admin)
        return ICS_OK;
    if (org == NULL)
        rc = ICS_ENOENT;
    else if (pk == NULL)
        rc = ics_motions_take_removal(ctx, org, &motion);
    else if (pk->len == ICS_PK_BYTES)
        rc = ics_motions_take_admission(ctx, org, pk->data, &motion);
    else
        rc = ICS_ENOENT;
    if (rc == ICS_OK)
        return ICS_OK;
    if (rc != ICS_ENOENT)
        return rc;
    return ics_reject(ctx, "only the membership administrator may %s; %s is not it", what,
                      ctx->org);
}

/* ---------------------------------------------------------------- commands */

static int s_genesis(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__Genesis *g = cmd->genesis;
    unsigned n = 0;
    int rc;

    /* The core admits a genesis only before the first one; this holds the
     * line even if a domain is ever dispatched differently. */
    rc = s_count(ctx->db, "SELECT count(*) FROM members", &n);
    if (rc != ICS_OK)
        return rc;
    if (n != 0)
        return ics_reject(ctx, "genesis already applied");
    for (size_t i = 0; i < g->n_members; i++) {
        const Ics__V1__MemberAdd *m = g->members[i];
        rc = s_insert_member(ctx, m, strcmp(m->org, g->admin) == 0, ctx->position);
        if (rc == ICS_OK)
            rc = s_emit(ctx, ICS_EFFECT_MEMBER_ADDED, m->org, m->endpoint, m->public_key.data,
                        true);
        if (rc != ICS_OK)
            return rc;
    }
    return ICS_OK;
}

static int s_member_add(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__MemberAdd *m = cmd->member_add;
    ics_member_t cur;
    char why[ICS_REASON_MAX], holder[ICS_ORG_MAX];
    unsigned n = 0;
    int rc;

    rc = s_require_admin(ctx, "add members", m->org, &m->public_key);
    if (rc != ICS_OK)
        return rc;
    if (!ics_member_check(m, why, sizeof why))
        return ics_reject(ctx, "%s", why);
    rc = ics_members_get(ctx->db, m->org, &cur);
    if (rc == ICS_OK)
        return ics_reject(ctx, "%s is already a member", m->org);
    if (rc != ICS_ENOENT)
        return rc;
    rc = s_count(ctx->db, "SELECT count(*) FROM members WHERE active = 1", &n);
    if (rc != ICS_OK)
        return rc;
    if (n >= ICS_MAX_ORGS)
        return ics_reject(ctx, "the group already has %d members, the most allowed", ICS_MAX_ORGS);
    rc = s_key_holder(ctx->db, m->public_key.data, m->org, holder);
    if (rc != ICS_OK)
        return rc;
    if (holder[0] != '\0')
        return ics_reject(ctx, "that public key already belongs to %s", holder);
    rc = s_insert_member(ctx, m, false, ctx->position + 1);
    if (rc != ICS_OK)
        return rc;
    return s_emit(ctx, ICS_EFFECT_MEMBER_ADDED, m->org, m->endpoint, m->public_key.data,
                  m->role == ICS__V1__MEMBER_ROLE__MEMBER_ROLE_VOTER);
}

static int s_member_remove(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__MemberRemove *r = cmd->member_remove;
    ics_member_t target;
    unsigned admins = 0;
    int rc;

    rc = s_require_admin(ctx, "remove members", r->org, NULL);
    if (rc != ICS_OK)
        return rc;
    rc = ics_members_get(ctx->db, r->org, &target);
    if (rc == ICS_ENOENT)
        return ics_reject(ctx, "%.40s is not a member", r->org);
    if (rc != ICS_OK)
        return rc;
    if (strcmp(target.org, ctx->org) == 0)
        return ics_reject(ctx, "%s %s cannot remove itself", target.admin ? "the administrator"
                                                                         : "member", ctx->org);
    rc = s_count(ctx->db, "SELECT count(*) FROM members WHERE active = 1 AND admin = 1", &admins);
    if (rc != ICS_OK)
        return rc;
    if (target.admin && admins <= 1)
        return ics_reject(ctx, "%s is the last administrator and cannot be removed", target.org);

    rc = ics_sql_run(ctx->db, "UPDATE members SET active = 0, removed = ?2 WHERE org = ?1",
                     "tu", target.org, ctx->position);
    if (rc == ICS_OK)
        rc = s_close_key(ctx, target.org);
    if (rc == ICS_OK)
        rc = s_emit(ctx, ICS_EFFECT_MEMBER_REMOVED, target.org, target.endpoint,
                    target.public_key, target.voter);
    return rc;
}

static int s_key_rotate(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__KeyRotate *k = cmd->key_rotate;
    ics_member_t target, signer;
    char holder[ICS_ORG_MAX];
    int rc;

    rc = ics_members_get(ctx->db, k->org, &target);
    if (rc == ICS_ENOENT)
        return ics_reject(ctx, "%.40s is not a member", k->org);
    if (rc != ICS_OK)
        return rc;
    rc = ics_members_get(ctx->db, ctx->org, &signer);
    if (rc != ICS_OK)
        return rc == ICS_ENOENT ? ICS_EIO : rc; /* the core admitted the signer */
    if (strcmp(target.org, signer.org) != 0 && !signer.admin)
        return ics_reject(ctx, "only %s itself or the membership administrator may rotate its"
                               " key", target.org);
    if (!ics_member_key_valid(&k->public_key))
        return ics_reject(ctx, "new public key for %s is not a valid Ed25519 key", target.org);
    if (memcmp(k->public_key.data, target.public_key, ICS_PK_BYTES) == 0)
        return ics_reject(ctx, "that key is already the key in force for %s", target.org);
    rc = s_key_holder(ctx->db, k->public_key.data, target.org, holder);
    if (rc != ICS_OK)
        return rc;
    if (holder[0] != '\0')
        return ics_reject(ctx, "that public key already belongs to %s", holder);

    rc = s_close_key(ctx, target.org);
    if (rc == ICS_OK)
        rc = ics_sql_run(ctx->db, "UPDATE members SET public_key = ?2 WHERE org = ?1", "tb",
                         target.org, k->public_key.data, ICS_PK_BYTES);
    if (rc == ICS_OK)
        rc = s_open_key(ctx, target.org, k->public_key.data, ctx->position + 1);
    if (rc == ICS_OK)
        rc = s_emit(ctx, ICS_EFFECT_KEY_CHANGED, target.org, target.endpoint,
                    k->public_key.data, target.voter);
    return rc;
}

static const ics_fsm_handler_t s_handlers[] = {
    {ICS__V1__COMMAND__BODY_GENESIS, s_genesis},
    {ICS__V1__COMMAND__BODY_MEMBER_ADD, s_member_add},
    {ICS__V1__COMMAND__BODY_MEMBER_REMOVE, s_member_remove},
    {ICS__V1__COMMAND__BODY_KEY_ROTATE, s_key_rotate},
    {0, NULL},
};

/* ---------------------------------------------------------------- queries */

/* members.list: every current member, ordered by org. */
static int s_query_list(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                        FILE *json, FILE *text, ics_err_t *err)
{
    sqlite3_stmt *st = NULL;
    json_t j;
    int rc;

    (void)argv;
    if (argc != 0)
        return ics_err(err, ICS_EINVAL, "members takes no arguments");
    rc = ics_sql_prepare(db, "SELECT org, kind, name, endpoint, public_key, voter, admin, since"
                             " FROM members WHERE active = 1 ORDER BY org", &st);
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");
    json_init(&j, json);
    json_obj(&j, NULL);
    json_str(&j, "group", group);
    json_arr(&j, "members");
    fprintf(text, "%-14s %-17s %-8s %-6s %s\n", "ORG", "KIND", "ROLE", "SINCE", "NAME");
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        char pub[ICS_PUBKEY_TEXT_MAX] = "";
        const char *org = (const char *)sqlite3_column_text(st, 0);
        const char *kind = (const char *)sqlite3_column_text(st, 1);
        const char *name = (const char *)sqlite3_column_text(st, 2);
        bool voter = sqlite3_column_int(st, 5) != 0, admin = sqlite3_column_int(st, 6) != 0;
        if (sqlite3_column_bytes(st, 4) == ICS_PK_BYTES)
            ics_pubkey_format(sqlite3_column_blob(st, 4), pub);
        json_obj(&j, NULL);
        json_str(&j, "org", org);
        json_str(&j, "kind", kind);
        json_str(&j, "name", name);
        json_str(&j, "endpoint", (const char *)sqlite3_column_text(st, 3));
        json_str(&j, "public_key", pub);
        json_bool(&j, "voter", voter);
        json_bool(&j, "admin", admin);
        json_u64(&j, "since", ics_sql_column_u64(st, 7));
        json_end_obj(&j);
        fprintf(text, "%-14s %-17s %-8s %-6llu %s%s\n", org, kind, voter ? "voter" : "standby",
                (unsigned long long)ics_sql_column_u64(st, 7), name, admin ? " (admin)" : "");
    }
    ics_sql_release(db, st);
    json_end_arr(&j);
    json_end_obj(&j);
    return rc == ICS_ENOENT ? ICS_OK : ics_err(err, rc, "state database error");
}

static const ics_fsm_query_t s_queries[] = {
    {"members.list", s_query_list},
    {NULL, NULL},
};

const ics_fsm_domain_t ics_fsm_domain_members = {
    .queries = s_queries,
    .name = "members",
    .handlers = s_handlers,
    .schema = s_schema,
    .on_clock = NULL,
    .deadline = NULL,
};
