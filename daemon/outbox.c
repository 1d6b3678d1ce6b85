/*
 * The outbox: this node's own signed submissions, from before they are
 * first sent until the state machine has applied them.
 *
 * A submission is a token row (seq, token) and, while its envelope is of
 * use, an envelope row (seq, envelope). Its life:
 *
 *   put ──────▶ buffered ──commit──▶ stored ──applied──▶ answered ──retain──▶ gone
 *   (in the open  (may be lost;       (may be sent;      (envelope row gone;  (token row
 *    batch)        never sent)         resent on retry)   token -> seq kept)   gone too)
 *                                        │
 *                                        └──beyond the replay window──▶ answered
 *
 *   ics_outbox_put        buffered
 *   ics_outbox_commit     buffered -> stored, and the prune when due
 *   ics_outbox_applied    stored -> answered
 *   s_prune               stored -> answered for seqs the state machine can
 *                         no longer apply; answered -> gone for old tokens
 *
 * Invariants:
 *  - An envelope is durable before it may be sent: puts accumulate in one
 *    open transaction and ics_outbox_commit ends it with one fsync for all
 *    of them. If SQLite rolls that transaction back by itself (I/O error,
 *    full disk), the loss is remembered and reported by the next commit, so
 *    the caller never takes lost rows for stored ones.
 *  - seq is the rowid of both tables: the highest seq and the oldest held
 *    envelope are found in one b-tree descent, and pruning deletes ranges.
 *    Envelopes live apart from tokens because SQLite frees the pages of
 *    deleted rows but never merges rows that an UPDATE shrank: dropping an
 *    envelope is a DELETE, and the small token rows stay packed.
 *  - Tokens are forgotten oldest seq first and never while their envelope
 *    is held, so the highest seq and every submission in flight are always
 *    found; an envelope row never outlives its token row.
 *  - Marks and prunes need no durability of their own: a lost mark leaves an
 *    envelope that the next mark or the replay window drops. They ride with
 *    the next commit that has puts, or with the prune batch.
 *  - The file never keeps a high-water mark: it is created with incremental
 *    auto-vacuum, each prune ends by handing the free pages back, and after
 *    a prune's commit the WAL is checkpointed; it restarts from its
 *    beginning and is cut back to journal_size_limit (walckpt.h).
 */
#include "outbox.h"
#include "sqlfile.h"
#include "walckpt.h"

#include <assert.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* PRAGMA application_id "ICSO" and user_version. Version 0 is the
 * unversioned table the group kept before the outbox was a module:
 * outbox(token BLOB PRIMARY KEY, seq INTEGER NOT NULL UNIQUE,
 * envelope BLOB NOT NULL). */
#define S_APPLICATION_ID 1229149007
#define S_SCHEMA_VERSION 1
#define S_STR_(x) #x
#define S_STR(x) S_STR_(x)

/* The WAL is cut back to this size whenever SQLite resets it. */
#define S_WAL_LIMIT 4194304

#define S_SCHEMA_SQL                                                                  \
    "CREATE TABLE tokens (seq INTEGER PRIMARY KEY, token BLOB NOT NULL UNIQUE);"      \
    "CREATE TABLE envelopes (seq INTEGER PRIMARY KEY, envelope BLOB NOT NULL);"       \
    "PRAGMA application_id = " S_STR(S_APPLICATION_ID) ";"                            \
    "PRAGMA user_version = " S_STR(S_SCHEMA_VERSION) ";"

static const char s_create_sql[] = S_SCHEMA_SQL;

static const char s_migrate_v0_sql[] =
    S_SCHEMA_SQL
    "INSERT INTO tokens (seq, token) SELECT seq, token FROM outbox;"
    "INSERT INTO envelopes (seq, envelope) SELECT seq, envelope FROM outbox;"
    "DROP TABLE outbox;";

enum {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_SAVEPOINT,
    S_RELEASE,
    S_ROLLBACK_TO,
    S_FIND,
    S_PUT_TOKEN,
    S_PUT_ENVELOPE,
    S_MAX_SEQ,
    S_MARK,
    S_OLDEST,
    S_DROP_DEAD,
    S_FORGET,
    S_VACUUM,
    S_NSTMT
};

static const char *const s_sql[S_NSTMT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVEPOINT] = "SAVEPOINT ics_put",
    [S_RELEASE] = "RELEASE ics_put",
    [S_ROLLBACK_TO] = "ROLLBACK TO ics_put",
    [S_FIND] = "SELECT t.seq, e.envelope FROM tokens t LEFT JOIN envelopes e USING (seq)"
               " WHERE t.token = ?1",
    [S_PUT_TOKEN] = "INSERT INTO tokens (seq, token) VALUES (?1, ?2)",
    [S_PUT_ENVELOPE] = "INSERT INTO envelopes (seq, envelope) VALUES (?1, ?2)",
    [S_MAX_SEQ] = "SELECT coalesce(max(seq), 0) FROM tokens",
    [S_MARK] = "DELETE FROM envelopes WHERE seq = ?1",
    [S_OLDEST] = "SELECT seq, envelope FROM envelopes WHERE seq >= ?1 ORDER BY seq LIMIT 1",
    [S_DROP_DEAD] = "DELETE FROM envelopes WHERE seq < ?1",
    [S_FORGET] = "DELETE FROM tokens WHERE seq <= ?1"
                 " AND NOT EXISTS (SELECT 1 FROM envelopes e WHERE e.seq = tokens.seq)",
    [S_VACUUM] = "PRAGMA incremental_vacuum",
};

struct ics_outbox {
    sqlite3 *db;
    char *path;                 /* for error messages */
    sqlite3_stmt *stmt[S_NSTMT];
    ics_walckpt_t *ckpt;        /* WAL checkpoints off the loop (walckpt.h) */
    ics_outbox_opts_t opts;
    bool in_txn;                /* the batch's transaction is open */
    bool lost;                  /* SQLite rolled back a batch that had puts */
    unsigned n_puts;            /* puts in the open batch */
    unsigned n_marks;           /* ics_outbox_applied calls since the last prune */
    uint64_t applied_max;       /* highest seq known applied */
};

static int s_code(int sqlite_rc)
{
    switch (sqlite_rc & 0xff) {
    case SQLITE_NOMEM: return ICS_ENOMEM;
    case SQLITE_TOOBIG: return ICS_ETOOBIG;
    case SQLITE_CONSTRAINT: return ICS_EEXIST;
    default: return ICS_EIO;
    }
}

/* Must be called straight after the failing SQLite call, before any other
 * call on the connection replaces its error message. */
static int s_fail(ics_outbox_t *self, ics_err_t *err, int sqlite_rc, const char *what)
{
    const char *msg = self->db != NULL ? sqlite3_errmsg(self->db) : sqlite3_errstr(sqlite_rc);
    return ics_err(err, s_code(sqlite_rc), "%s: %s: %s", self->path, what, msg);
}

static int s_exec(ics_outbox_t *self, const char *sql, ics_err_t *err, const char *what)
{
    int rc = sqlite3_exec(self->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? ICS_OK : s_fail(self, err, rc, what);
}

/* Runs a cached statement to its end, ignoring any rows, and leaves it
 * ready for the next call; clearing the bindings drops any pointer into
 * caller memory. */
static int s_run(ics_outbox_t *self, sqlite3_stmt *stmt, ics_err_t *err, const char *what)
{
    int rc;

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        ;
    rc = rc == SQLITE_DONE ? ICS_OK : s_fail(self, err, rc, what);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc;
}

static int s_query_u64(ics_outbox_t *self, sqlite3_stmt *stmt, uint64_t *out, ics_err_t *err,
                       const char *what)
{
    int rc = sqlite3_step(stmt);

    if (rc == SQLITE_ROW) {
        *out = (uint64_t)sqlite3_column_int64(stmt, 0);
        rc = ICS_OK;
    } else {
        rc = s_fail(self, err, rc, what);
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc;
}

/* I/O errors, a full disk or lack of memory make SQLite roll back the open
 * transaction by itself. Puts that were in it must not pass for stored. */
static void s_check_lost(ics_outbox_t *self)
{
    if (!self->in_txn || !sqlite3_get_autocommit(self->db))
        return;
    self->in_txn = false;
    if (self->n_puts > 0)
        self->lost = true;
    self->n_puts = 0;
}

static int s_begin(ics_outbox_t *self, ics_err_t *err)
{
    int rc;

    s_check_lost(self);
    if (self->in_txn)
        return ICS_OK;
    /* IMMEDIATE takes the write lock now, so no put of the batch can meet a
     * busy database halfway through. */
    rc = s_run(self, self->stmt[S_BEGIN], err, "cannot begin a batch");
    if (rc == ICS_OK)
        self->in_txn = true;
    return rc;
}

static void s_rollback(ics_outbox_t *self)
{
    ics_err_t err;

    if (!sqlite3_get_autocommit(self->db) &&
        s_run(self, self->stmt[S_ROLLBACK], &err, "cannot roll back the batch") != ICS_OK)
        ics_error("%s", err.msg);
    self->in_txn = false;
    self->n_puts = 0;
}

/* Copies column col of stmt into a malloc'd buffer; NULL for SQL NULL. */
static int s_copy_blob(ics_outbox_t *self, sqlite3_stmt *stmt, int col, uint8_t **out,
                       size_t *out_len, ics_err_t *err)
{
    const void *data;
    size_t len;

    *out = NULL;
    *out_len = 0;
    if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
        return ICS_OK;
    data = sqlite3_column_blob(stmt, col);
    len = (size_t)sqlite3_column_bytes(stmt, col);
    if (len > 0 && data == NULL)
        return ics_err(err, ICS_ENOMEM, "%s: out of memory reading an envelope", self->path);
    *out = malloc(len > 0 ? len : 1);
    if (*out == NULL)
        return ics_err(err, ICS_ENOMEM, "%s: out of memory for a %zu-byte envelope",
                       self->path, len);
    if (len > 0)
        memcpy(*out, data, len);
    *out_len = len;
    return ICS_OK;
}

/* Envelopes of seqs below this can never be applied any more. */
static uint64_t s_dead_below(const ics_outbox_t *self)
{
    return self->applied_max > self->opts.window ? self->applied_max - self->opts.window : 0;
}

/* Inside the open batch: drops envelopes beyond the replay window, forgets
 * answered tokens older than the newest `retain` seqs, and hands the freed
 * pages back to the filesystem. Cost follows what is pruned, not what is
 * kept: both deletes are range scans of a rowid. */
static int s_prune(ics_outbox_t *self, ics_err_t *err)
{
    uint64_t max_seq = 0;
    int rc;

    self->n_marks = 0;
    if (s_dead_below(self) > 0) {
        sqlite3_bind_int64(self->stmt[S_DROP_DEAD], 1, (sqlite3_int64)s_dead_below(self));
        rc = s_run(self, self->stmt[S_DROP_DEAD], err, "cannot drop expired envelopes");
        if (rc != ICS_OK)
            return rc;
    }
    rc = s_query_u64(self, self->stmt[S_MAX_SEQ], &max_seq, err, "cannot read the last seq");
    if (rc != ICS_OK)
        return rc;
    if (max_seq > self->opts.retain) {
        sqlite3_bind_int64(self->stmt[S_FORGET], 1,
                           (sqlite3_int64)(max_seq - self->opts.retain));
        rc = s_run(self, self->stmt[S_FORGET], err, "cannot forget old tokens");
        if (rc != ICS_OK)
            return rc;
    }
    /* A no-op on a file without auto-vacuum. */
    return s_run(self, self->stmt[S_VACUUM], err, "cannot reclaim free pages");
}

/* After a prune's commit: has the WAL copied into the database, off the
 * loop (walckpt.h). The checkpointer logs a failure; the commit itself has
 * succeeded. */
static void s_checkpoint(ics_outbox_t *self)
{
    ics_walckpt_request(self->ckpt);
}

/* Reads the file's identity and schema under one write lock, so two
 * processes opening a new file at once cannot both create it; creates or
 * migrates it. *migrated tells the caller to compact the file. */
static int s_schema(ics_outbox_t *self, bool *migrated, ics_err_t *err)
{
    sqlite3_stmt *stmt = NULL;
    sqlite3_int64 app, version, objects;
    const char *columns;
    bool locked = false, v0_columns;
    int rc;

    *migrated = false;
    rc = s_exec(self, "BEGIN IMMEDIATE", err, "cannot lock the outbox");
    if (rc != ICS_OK)
        goto out;
    locked = true;
    rc = sqlite3_prepare_v2(self->db,
                            "SELECT (SELECT application_id FROM pragma_application_id),"
                            " (SELECT user_version FROM pragma_user_version),"
                            " (SELECT count(*) FROM sqlite_schema"
                            "   WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'),"
                            " (SELECT group_concat(name, ',') FROM"
                            "   (SELECT name FROM pragma_table_info('outbox') ORDER BY cid))",
                            -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        rc = s_fail(self, err, rc, "cannot read the schema");
        goto out;
    }
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
        rc = s_fail(self, err, rc, "cannot read the schema");
        goto out;
    }
    app = sqlite3_column_int64(stmt, 0);
    version = sqlite3_column_int64(stmt, 1);
    objects = sqlite3_column_int64(stmt, 2);
    columns = (const char *)sqlite3_column_text(stmt, 3);
    v0_columns = columns != NULL && strcmp(columns, "token,seq,envelope") == 0;
    /* A statement still reading would keep DROP TABLE from running. */
    sqlite3_finalize(stmt);
    stmt = NULL;
    rc = ICS_OK;
    if (app == 0 && version == 0 && objects == 0) {
        rc = s_exec(self, s_create_sql, err, "cannot create the outbox");
    } else if (app == 0 && version == 0 && objects == 1 && v0_columns) {
        rc = s_exec(self, s_migrate_v0_sql, err, "cannot migrate the outbox to version 1");
        *migrated = rc == ICS_OK;
    } else if (app != S_APPLICATION_ID) {
        rc = ics_err(err, ICS_ECONFIG,
                     "%s: not an icsd outbox (application_id %lld, %lld other tables)",
                     self->path, (long long)app, (long long)objects);
    } else if (version != S_SCHEMA_VERSION) {
        rc = ics_err(err, ICS_EVERSION, "%s: outbox schema version %lld, this build knows %d",
                     self->path, (long long)version, S_SCHEMA_VERSION);
    }
    if (rc != ICS_OK)
        goto out;
    rc = s_exec(self, "COMMIT", err, "cannot commit the schema");
    if (rc == ICS_OK)
        locked = false;
out:
    sqlite3_finalize(stmt);
    if (locked)
        sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int s_configure(ics_outbox_t *self, ics_err_t *err)
{
    char mode[16];
    bool stepped;
    int rc;

    rc = ics_sqlfile_wal(self->db, mode, sizeof mode, &stepped);
    if (rc != SQLITE_OK)
        return s_fail(self, err, rc, "cannot enable WAL");
    if (strcmp(mode, "wal") != 0)
        return ics_err(err, ICS_EIO, "%s: cannot enable WAL: journal mode stays %s", self->path,
                       mode);
    /* Per connection: set on every open. */
    return s_exec(self,
                  "PRAGMA synchronous = FULL;"
                  "PRAGMA journal_size_limit = " S_STR(S_WAL_LIMIT),
                  err, "cannot configure the outbox");
}

/* The highest answered seq stands in for the highest applied one until
 * ics_outbox_applied says more. */
static int s_load_applied_max(ics_outbox_t *self, ics_err_t *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    rc = sqlite3_prepare_v2(self->db,
                            "SELECT seq FROM tokens t WHERE NOT EXISTS"
                            " (SELECT 1 FROM envelopes e WHERE e.seq = t.seq)"
                            " ORDER BY seq DESC LIMIT 1",
                            -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return s_fail(self, err, rc, "cannot read the outbox");
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        self->applied_max = (uint64_t)sqlite3_column_int64(stmt, 0);
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? ICS_OK
                                               : s_fail(self, err, rc, "cannot read the outbox");
    sqlite3_finalize(stmt);
    return rc;
}

ics_outbox_t *ics_outbox_open(const char *path, const ics_outbox_opts_t *opts, ics_err_t *err)
{
    ics_outbox_t *self = NULL;
    bool migrated = false;
    int rc;

    assert(path != NULL);
    self = calloc(1, sizeof *self);
    if (self == NULL || (self->path = strdup(path)) == NULL) {
        rc = ics_err(err, ICS_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    if (opts != NULL)
        self->opts = *opts;
    if (self->opts.retain == 0)
        self->opts.retain = ICS_OUTBOX_RETAIN;
    if (self->opts.window == 0)
        self->opts.window = ICS_OUTBOX_WINDOW;
    if (self->opts.prune_every == 0)
        self->opts.prune_every = ICS_OUTBOX_PRUNE_EVERY;
    rc = ics_sqlfile_open(path, &self->db);
    if (rc != SQLITE_OK) {
        rc = s_fail(self, err, rc, "cannot open the outbox");
        goto out;
    }
    /* Before anything writes the first page: afterwards only a VACUUM can
     * change it. The file is identified before it is touched, so another
     * program's database is left as it was. */
    rc = s_exec(self, "PRAGMA auto_vacuum = INCREMENTAL", err,
                "cannot set auto_vacuum=INCREMENTAL");
    if (rc != ICS_OK)
        goto out;
    rc = s_schema(self, &migrated, err);
    if (rc != ICS_OK)
        goto out;
    rc = s_configure(self, err);
    if (rc != ICS_OK)
        goto out;
    if (migrated) {
        ics_err_t verr;
        /* Once: rewrites the file with incremental auto-vacuum and without
         * the old table's pages. The outbox works without it. */
        if (s_exec(self, "VACUUM", &verr, "cannot compact the migrated outbox") != ICS_OK)
            ics_warn("%s", verr.msg);
        ics_notice("%s: outbox migrated to schema version %d", path, S_SCHEMA_VERSION);
    }
    rc = ics_sqlfile_prepare(self->db, s_sql, self->stmt, S_NSTMT);
    if (rc != SQLITE_OK) {
        rc = s_fail(self, err, rc, "cannot prepare a statement");
        goto out;
    }
    /* Little is written per turn: small checkpoints, often. */
    self->ckpt = ics_walckpt_start(self->db, path, 64, err);
    if (self->ckpt == NULL) {
        rc = ICS_EIO;
        goto out;
    }
    rc = s_load_applied_max(self, err);
out:
    if (rc != ICS_OK)
        ics_outbox_close(&self);
    return self;
}

void ics_outbox_close(ics_outbox_t **self_p)
{
    ics_outbox_t *self;
    ics_err_t err;

    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    /* What was put but never committed was never sent either; keeping it
     * lets a client's retry after a restart resend the same envelope. */
    s_check_lost(self);
    if (self->in_txn && s_run(self, self->stmt[S_COMMIT], &err, "cannot commit") != ICS_OK)
        ics_error("%s", err.msg);
    ics_walckpt_stop(&self->ckpt);
    /* sqlite3_open_v2 hands back a handle even when it fails. */
    if (ics_sqlfile_close(self->db, self->stmt, S_NSTMT) != SQLITE_OK)
        ics_error("%s: cannot close the outbox: %s", self->path, sqlite3_errmsg(self->db));
    free(self->path);
    free(self);
    *self_p = NULL;
}

int ics_outbox_find(ics_outbox_t *self, const uint8_t *token, size_t token_len,
                    uint64_t *seq, uint8_t **env, size_t *env_len, ics_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc;

    assert(self != NULL && token != NULL && token_len > 0 && token_len <= INT32_MAX);
    assert(seq != NULL && env != NULL && env_len != NULL);
    *seq = 0;
    *env = NULL;
    *env_len = 0;
    stmt = self->stmt[S_FIND];
    sqlite3_bind_blob(stmt, 1, token, (int)token_len, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *seq = (uint64_t)sqlite3_column_int64(stmt, 0);
        rc = s_copy_blob(self, stmt, 1, env, env_len, err);
    } else if (rc == SQLITE_DONE) {
        rc = ics_err(err, ICS_ENOENT, "%s: no submission with this token", self->path);
    } else {
        rc = s_fail(self, err, rc, "cannot look up a token");
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc;
}

int ics_outbox_put(ics_outbox_t *self, const uint8_t *token, size_t token_len, uint64_t seq,
                   const uint8_t *env, size_t env_len, ics_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc;

    assert(self != NULL && token != NULL && token_len > 0 && token_len <= INT32_MAX);
    assert(env != NULL && env_len > 0);
    if (seq == 0 || seq > INT64_MAX)
        return ics_err(err, ICS_EINVAL, "%s: seq %llu is out of range", self->path,
                       (unsigned long long)seq);
    if (env_len > INT32_MAX)
        return ics_err(err, ICS_ETOOBIG, "%s: a %zu-byte envelope is too big", self->path,
                       env_len);
    rc = s_begin(self, err);
    if (rc != ICS_OK)
        return rc;
    /* Both rows or neither, without giving up the batch's earlier puts. */
    rc = s_run(self, self->stmt[S_SAVEPOINT], err, "cannot store a submission");
    if (rc != ICS_OK)
        return rc;
    stmt = self->stmt[S_PUT_TOKEN];
    sqlite3_bind_int64(stmt, 1, (sqlite3_int64)seq);
    sqlite3_bind_blob(stmt, 2, token, (int)token_len, SQLITE_STATIC);
    rc = s_run(self, stmt, err, "cannot store a submission");
    if (rc == ICS_OK) {
        stmt = self->stmt[S_PUT_ENVELOPE];
        sqlite3_bind_int64(stmt, 1, (sqlite3_int64)seq);
        sqlite3_bind_blob(stmt, 2, env, (int)env_len, SQLITE_STATIC);
        rc = s_run(self, stmt, err, "cannot store a submission");
    }
    if (rc == ICS_EEXIST)
        rc = ics_err(err, ICS_EEXIST, "%s: seq %llu or its token is already in the outbox",
                     self->path, (unsigned long long)seq);
    /* If SQLite rolled the whole batch back, no savepoint is left to undo:
     * s_check_lost reports that at the next call. */
    if (!sqlite3_get_autocommit(self->db)) {
        ics_err_t uerr;
        if (rc != ICS_OK &&
            s_run(self, self->stmt[S_ROLLBACK_TO], &uerr, "cannot undo a failed put") != ICS_OK)
            ics_error("%s", uerr.msg);
        if (s_run(self, self->stmt[S_RELEASE], &uerr, "cannot store a submission") != ICS_OK &&
            rc == ICS_OK)
            rc = ics_err(err, ICS_EIO, "%s", uerr.msg);
    }
    if (rc == ICS_OK)
        self->n_puts++;
    return rc;
}

int ics_outbox_commit(ics_outbox_t *self, ics_err_t *err)
{
    bool pruned = false;
    int rc;

    assert(self != NULL);
    s_check_lost(self);
    if (self->lost) {
        /* Puts after the loss went into a new transaction; the caller is
         * told the batch failed, so none of them may pass for stored. */
        s_rollback(self);
        self->lost = false;
        return ics_err(err, ICS_EIO, "%s: the batch was rolled back after an earlier error",
                       self->path);
    }
    if (!self->in_txn)
        return ICS_OK;
    if (self->n_marks >= self->opts.prune_every) {
        ics_err_t perr = {{0}};
        /* A failed prune is tried again after as many marks; the puts
         * still get committed unless the failure took the transaction
         * with it. */
        if (s_prune(self, &perr) != ICS_OK)
            ics_warn("%s", perr.msg);
        else
            pruned = true;
        s_check_lost(self);
        if (self->lost) {
            self->lost = false;
            return ics_err(err, ICS_EIO, "%s: the batch was rolled back: %s", self->path,
                           perr.msg);
        }
        if (!self->in_txn)
            return ICS_OK;
    } else if (self->n_puts == 0) {
        return ICS_OK; /* marks alone wait: nothing here must be durable now */
    }
    rc = s_run(self, self->stmt[S_COMMIT], err, "cannot commit the batch");
    if (rc != ICS_OK) {
        /* A failed COMMIT (say SQLITE_BUSY) can leave the transaction open:
         * end it, so the outbox is back at its last durable state. */
        s_rollback(self);
        return rc;
    }
    self->in_txn = false;
    self->n_puts = 0;
    if (pruned)
        s_checkpoint(self);
    return ICS_OK;
}

int ics_outbox_max_seq(ics_outbox_t *self, uint64_t *seq, ics_err_t *err)
{
    assert(self != NULL && seq != NULL);
    *seq = 0;
    return s_query_u64(self, self->stmt[S_MAX_SEQ], seq, err, "cannot read the last seq");
}

int ics_outbox_applied(ics_outbox_t *self, uint64_t seq, ics_err_t *err)
{
    int rc;

    assert(self != NULL);
    if (seq == 0 || seq > INT64_MAX)
        return ICS_OK; /* never stored */
    if (seq > self->applied_max)
        self->applied_max = seq;
    self->n_marks++;
    rc = s_begin(self, err);
    if (rc != ICS_OK)
        return rc;
    sqlite3_bind_int64(self->stmt[S_MARK], 1, (sqlite3_int64)seq);
    return s_run(self, self->stmt[S_MARK], err, "cannot mark a submission applied");
}

int ics_outbox_oldest_unapplied(ics_outbox_t *self, uint64_t *seq, uint8_t **env,
                                size_t *env_len, ics_err_t *err)
{
    sqlite3_stmt *stmt;
    uint8_t *copy = NULL;
    size_t len = 0;
    int rc;

    assert(self != NULL && seq != NULL && (env == NULL || env_len != NULL));
    *seq = 0;
    if (env != NULL) {
        *env = NULL;
        *env_len = 0;
    }
    stmt = self->stmt[S_OLDEST];
    sqlite3_bind_int64(stmt, 1, (sqlite3_int64)s_dead_below(self));
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *seq = (uint64_t)sqlite3_column_int64(stmt, 0);
        rc = env != NULL ? s_copy_blob(self, stmt, 1, &copy, &len, err) : ICS_OK;
    } else if (rc == SQLITE_DONE) {
        rc = ICS_OK;
    } else {
        rc = s_fail(self, err, rc, "cannot read the submissions in flight");
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (env != NULL && rc == ICS_OK) {
        *env = copy;
        *env_len = len;
        copy = NULL;
    }
    free(copy);
    return rc;
}
