/*
 * Durable raft storage: the term, the vote, the log and the latest snapshot
 * of this node, in one SQLite database that backs the persistent half of
 * raft_io. Raft's safety rests on what this file remembers after a crash, so
 * the database runs in WAL mode with synchronous=FULL: every commit fsyncs
 * the WAL before it returns.
 *
 * Disk use follows what raft keeps, not what it ever wrote. A snapshot put
 * deletes the entries it covers and replaces the previous snapshot, so it is
 * where space is freed: it hands the free pages back to the filesystem
 * (incremental auto-vacuum, on for files this build creates; older files
 * without it keep working and reuse their free pages instead), and once its
 * batch is committed the WAL is checkpointed. The WAL restarts from its
 * beginning after each checkpoint that copied all of it (walckpt.h) and is
 * cut back to journal_size_limit then, so neither file keeps a high-water
 * mark of the past.
 *
 * Invariants:
 *  - meta has exactly one row (id 0); changing the term clears the vote.
 *  - entries hold one contiguous run of indexes: append refuses to leave a
 *    gap and load checks again, because raft takes entries[i] to be at
 *    start_index + i.
 *  - snapshot has at most one row (id 0); snapshot_servers holds its
 *    configuration in order (pos), so it round-trips exactly without the
 *    configuration decoder raft keeps private.
 *  - Every public call that writes is atomic (a savepoint). Outside a batch
 *    it is its own transaction and durable on return; inside one it becomes
 *    durable at ics_store_commit. set_term, set_vote and bootstrap promise
 *    durability on return and so are refused inside a batch.
 *  - Memory handed out is raft_malloc'd in the shapes raft itself frees
 *    (snapshotDestroy, entryBatchesDestroy).
 *  - Every entry row carries a checksum of its index, term, type and data,
 *    and the snapshot one of its header, data and configuration (BLAKE2b,
 *    16 bytes, domain-separated). Load and snapshot_get check them: a bit
 *    flipped at rest is refused with a message saying how to recover,
 *    never handed to raft and applied. Files of schema version 1 get their
 *    checksums computed when first opened by this build.
 */
#include "store.h"
#include "sqlfile.h"
#include "walckpt.h"

#include <assert.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* PRAGMA application_id "ICSR" and user_version: tell our file apart from
 * any other SQLite database a misconfigured path might point at. */
#define S_APPLICATION_ID 1229149010
#define S_SCHEMA_VERSION 2
#define S_SUM_BYTES 16
#define S_STR_(x) #x
#define S_STR(x) S_STR_(x)

/* The WAL is cut back to this size whenever SQLite resets it: about one
 * automatic checkpoint's worth (1000 pages), so ordinary appends never pay
 * for regrowing it. */
#define S_WAL_LIMIT 4194304
/* WAL pages (4 KiB) past which the checkpointer copies them back. */
#define S_CHECKPOINT_PAGES 256

static const char s_schema_sql[] =
    "CREATE TABLE meta (id INTEGER PRIMARY KEY CHECK (id = 0),"
    " term INTEGER NOT NULL, vote INTEGER NOT NULL);"
    "INSERT INTO meta (id, term, vote) VALUES (0, 0, 0);"
    "CREATE TABLE entries (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL,"
    " type INTEGER NOT NULL, data BLOB NOT NULL, sum BLOB);"
    "CREATE TABLE snapshot (id INTEGER PRIMARY KEY CHECK (id = 0),"
    " idx INTEGER NOT NULL, term INTEGER NOT NULL, conf_index INTEGER NOT NULL,"
    " data BLOB NOT NULL, sum BLOB);"
    "CREATE TABLE snapshot_servers (pos INTEGER PRIMARY KEY, id INTEGER NOT NULL,"
    " address TEXT NOT NULL, role INTEGER NOT NULL);"
    "PRAGMA application_id = " S_STR(S_APPLICATION_ID) ";"
    "PRAGMA user_version = " S_STR(S_SCHEMA_VERSION) ";";

/* Statements prepared once per handle: the per-append path and the
 * transaction control every write goes through. */
enum {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_SAVEPOINT,
    S_RELEASE,
    S_ROLLBACK_TO,
    S_SET_TERM,
    S_SET_VOTE,
    S_PUT_ENTRY,
    S_TRUNCATE,
    S_LAST_INDEX,
    S_PRISTINE,
    S_VACUUM,
    S_PROBE,
    S_NSTMT
};

static const char *const s_sql[S_NSTMT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVEPOINT] = "SAVEPOINT ics_op",
    [S_RELEASE] = "RELEASE ics_op",
    [S_ROLLBACK_TO] = "ROLLBACK TO ics_op",
    [S_SET_TERM] = "UPDATE meta SET term = ?1, vote = 0 WHERE id = 0",
    [S_SET_VOTE] = "UPDATE meta SET vote = ?1 WHERE id = 0",
    [S_PUT_ENTRY] = "INSERT OR REPLACE INTO entries (idx, term, type, data, sum)"
                    " VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_TRUNCATE] = "DELETE FROM entries WHERE idx >= ?1",
    [S_LAST_INDEX] = "SELECT coalesce((SELECT max(idx) FROM entries),"
                     " (SELECT idx FROM snapshot WHERE id = 0), 0)",
    [S_PRISTINE] = "SELECT coalesce((SELECT term = 0 FROM meta WHERE id = 0), 0)"
                   " AND NOT EXISTS (SELECT 1 FROM entries)"
                   " AND NOT EXISTS (SELECT 1 FROM snapshot)",
    /* A no-op on files without auto-vacuum. */
    [S_VACUUM] = "PRAGMA incremental_vacuum",
    [S_PROBE] = "UPDATE meta SET term = term WHERE id = 0",
};

struct ics_store {
    sqlite3 *db;
    char *path;                   /* for error messages */
    sqlite3_stmt *stmt[S_NSTMT];
    bool in_batch;                /* between ics_store_begin and commit/rollback */
    bool checkpoint_due;          /* a snapshot put freed space since the last one */
    ics_walckpt_t *ckpt;          /* WAL checkpoints off the loop (walckpt.h) */
    bool corrupt;                 /* a checksum or SQLite found the file damaged */
};

/* SQLite integers are signed. Server ids may be 64-bit hashes (raft_digest)
 * above INT64_MAX; copying the bits round-trips them exactly. Terms and
 * indexes never get that large, so their ordering in SQL is unaffected. */
static sqlite3_int64 s_i64(uint64_t v)
{
    sqlite3_int64 out;
    memcpy(&out, &v, sizeof out);
    return out;
}

static uint64_t s_u64(sqlite3_int64 v)
{
    uint64_t out;
    memcpy(&out, &v, sizeof out);
    return out;
}

static int s_code(int sqlite_rc)
{
    switch (sqlite_rc & 0xff) {
    case SQLITE_NOMEM: return ICS_ENOMEM;
    case SQLITE_TOOBIG: return ICS_ETOOBIG;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return ICS_EMALFORMED;
    default: return ICS_EIO;
    }
}

/* Must be called straight after the failing SQLite call, before any other
 * call on the connection replaces its error message. */
static int s_fail(ics_store_t *self, ics_err_t *err, int sqlite_rc, const char *what)
{
    const char *msg = self->db != NULL ? sqlite3_errmsg(self->db) : sqlite3_errstr(sqlite_rc);
    int rc = s_code(sqlite_rc);

    if (rc == ICS_EMALFORMED) {
        self->corrupt = true;
        return ics_err(err, rc, "%s: %s: %s: the raft store is damaged; " ICS_STORE_RECOVERY,
                       self->path, what, msg);
    }
    return ics_err(err, rc, "%s: %s: %s", self->path, what, msg);
}

/* ---- checksums ---------------------------------------------------------- */

static void s_sum_u64(crypto_generichash_state *st, uint64_t v)
{
    uint8_t b[8];

    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    crypto_generichash_update(st, b, sizeof b);
}

/* The index is part of the sum, so a row moved to another index fails too. */
static void s_entry_sum(raft_index index, raft_term term, unsigned type, const void *data,
                        size_t len, uint8_t out[S_SUM_BYTES])
{
    static const char domain[] = "ICSD-RAFT-ENTRY-V1";
    crypto_generichash_state st;

    crypto_generichash_init(&st, NULL, 0, S_SUM_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)domain, sizeof domain);
    s_sum_u64(&st, index);
    s_sum_u64(&st, term);
    s_sum_u64(&st, type);
    s_sum_u64(&st, len);
    if (len > 0)
        crypto_generichash_update(&st, data, len);
    crypto_generichash_final(&st, out, S_SUM_BYTES);
}

/* Over the header, every buffer in order and the configuration. */
static void s_snapshot_sum(const struct raft_snapshot *snap, uint8_t out[S_SUM_BYTES])
{
    static const char domain[] = "ICSD-RAFT-SNAPSHOT-V1";
    crypto_generichash_state st;
    uint64_t total = 0;

    for (unsigned i = 0; i < snap->n_bufs; i++)
        total += snap->bufs[i].len;
    crypto_generichash_init(&st, NULL, 0, S_SUM_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)domain, sizeof domain);
    s_sum_u64(&st, snap->index);
    s_sum_u64(&st, snap->term);
    s_sum_u64(&st, snap->configuration_index);
    s_sum_u64(&st, total);
    for (unsigned i = 0; i < snap->n_bufs; i++)
        if (snap->bufs[i].len > 0)
            crypto_generichash_update(&st, snap->bufs[i].base, snap->bufs[i].len);
    s_sum_u64(&st, snap->configuration.n);
    for (unsigned i = 0; i < snap->configuration.n; i++) {
        const struct raft_server *srv = &snap->configuration.servers[i];
        size_t alen = srv->address != NULL ? strlen(srv->address) : 0;

        s_sum_u64(&st, srv->id);
        s_sum_u64(&st, (uint64_t)srv->role);
        s_sum_u64(&st, alen);
        crypto_generichash_update(&st, (const uint8_t *)srv->address, alen);
    }
    crypto_generichash_final(&st, out, S_SUM_BYTES);
}

/* A stored sum that is missing or differs: what, and how to recover. */
static int s_bad_sum(ics_store_t *self, ics_err_t *err, const char *what, raft_index index)
{
    self->corrupt = true;
    return ics_err(err, ICS_EMALFORMED,
                   "%s: %s %llu fails its checksum (corruption at rest): refusing to use it; "
                   ICS_STORE_RECOVERY, self->path, what, (unsigned long long)index);
}

static bool s_sum_ok(sqlite3_stmt *stmt, int col, const uint8_t want[S_SUM_BYTES])
{
    const void *got = sqlite3_column_blob(stmt, col);

    return got != NULL && sqlite3_column_bytes(stmt, col) == S_SUM_BYTES &&
           sodium_memcmp(got, want, S_SUM_BYTES) == 0;
}

static int s_prepare(ics_store_t *self, const char *sql, sqlite3_stmt **stmt,
                     ics_err_t *err)
{
    int rc = sqlite3_prepare_v2(self->db, sql, -1, stmt, NULL);
    return rc == SQLITE_OK ? ICS_OK : s_fail(self, err, rc, "cannot prepare a statement");
}

static int s_exec(ics_store_t *self, const char *sql, ics_err_t *err, const char *what)
{
    int rc = sqlite3_exec(self->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? ICS_OK : s_fail(self, err, rc, what);
}

/* Runs a cached statement that returns no row and leaves it ready for the
 * next call; clearing the bindings drops any pointer into caller memory. */
static int s_run(ics_store_t *self, sqlite3_stmt *stmt, ics_err_t *err, const char *what)
{
    int rc = sqlite3_step(stmt);

    rc = rc == SQLITE_DONE ? ICS_OK : s_fail(self, err, rc, what);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc;
}

/* Runs a cached statement that returns one integer. */
static int s_query(ics_store_t *self, sqlite3_stmt *stmt, sqlite3_int64 *out,
                   ics_err_t *err, const char *what)
{
    int rc = sqlite3_step(stmt);

    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(stmt, 0);
        rc = ICS_OK;
    } else {
        rc = s_fail(self, err, rc, what);
    }
    sqlite3_reset(stmt);
    return rc;
}

static void s_log_failure(int rc, const ics_err_t *err)
{
    if (rc != ICS_OK)
        ics_error("%s", err->msg);
}

/* Undoes the current call after a failure. Outside a batch that is the whole
 * transaction; inside one only the call's savepoint, so the batch's earlier
 * calls survive for the caller to commit or roll back. */
static void s_op_abort(ics_store_t *self)
{
    ics_err_t err;
    int rc;

    /* I/O errors, a full disk or lack of memory make SQLite roll back the
     * whole transaction by itself; then no savepoint is left to undo. */
    if (sqlite3_get_autocommit(self->db))
        return;
    if (!self->in_batch) {
        s_log_failure(s_run(self, self->stmt[S_ROLLBACK], &err, "cannot roll back"), &err);
        return;
    }
    rc = s_run(self, self->stmt[S_ROLLBACK_TO], &err, "cannot undo a failed call");
    if (rc == ICS_OK)
        rc = s_run(self, self->stmt[S_RELEASE], &err, "cannot undo a failed call");
    s_log_failure(rc, &err);
}

static int s_op_begin(ics_store_t *self, ics_err_t *err)
{
    /* Had SQLite rolled the batch back behind our back, the savepoint would
     * open a fresh transaction and this call would commit on its own, out
     * of the batch the caller believes it is in. */
    if (self->in_batch && sqlite3_get_autocommit(self->db))
        return ics_err(err, ICS_EIO,
                       "%s: the batch was rolled back after an earlier error", self->path);
    return s_run(self, self->stmt[S_SAVEPOINT], err, "cannot start a transaction");
}

/* Ends the call opened by s_op_begin; rc is the call's result so far. */
static int s_op_end(ics_store_t *self, int rc, ics_err_t *err)
{
    if (rc == ICS_OK) {
        rc = s_run(self, self->stmt[S_RELEASE], err,
                   self->in_batch ? "cannot release a savepoint" : "cannot commit");
        if (rc == ICS_OK)
            return ICS_OK;
    }
    s_op_abort(self);
    return rc;
}

/* Once a snapshot put that freed space is committed: has the WAL copied
 * into the database now, on the checkpointer's thread (walckpt.h), so that
 * the free pages go back to the filesystem. A failure is logged by the
 * checkpointer, and the next snapshot put asks again. */
static void s_checkpoint(ics_store_t *self)
{
    if (!self->checkpoint_due || self->in_batch)
        return;
    self->checkpoint_due = false;
    ics_walckpt_request(self->ckpt);
}

static int s_refuse_in_batch(ics_store_t *self, ics_err_t *err, const char *what)
{
    return ics_err(err, ICS_EINVAL,
                   "%s: %s inside a batch would not be durable on return", self->path, what);
}

static int s_last_index(ics_store_t *self, raft_index *out, ics_err_t *err)
{
    sqlite3_int64 v = 0;
    int rc = s_query(self, self->stmt[S_LAST_INDEX], &v, err, "cannot read the last index");

    *out = s_u64(v);
    return rc;
}

static int s_pristine(ics_store_t *self, bool *out, ics_err_t *err)
{
    sqlite3_int64 v = 0;
    int rc = s_query(self, self->stmt[S_PRISTINE], &v, err, "cannot read the store");

    *out = rc == ICS_OK && v != 0;
    return rc;
}

static int s_put_entry(ics_store_t *self, raft_index index, raft_term term,
                       unsigned short type, const struct raft_buffer *buf,
                       ics_err_t *err)
{
    sqlite3_stmt *stmt = self->stmt[S_PUT_ENTRY];
    uint8_t sum[S_SUM_BYTES];
    int rc;

    s_entry_sum(index, term, type, buf->base, buf->len, sum);
    sqlite3_bind_int64(stmt, 1, s_i64(index));
    sqlite3_bind_int64(stmt, 2, s_i64(term));
    sqlite3_bind_int(stmt, 3, type);
    sqlite3_bind_blob(stmt, 5, sum, sizeof sum, SQLITE_TRANSIENT);
    /* A NULL blob would be SQL NULL, which the NOT NULL column rejects. */
    if (buf->len == 0)
        rc = sqlite3_bind_zeroblob(stmt, 4, 0);
    else
        rc = sqlite3_bind_blob64(stmt, 4, buf->base, buf->len, SQLITE_STATIC);
    if (rc != SQLITE_OK) {
        rc = s_fail(self, err, rc, "cannot store a log entry");
        sqlite3_clear_bindings(stmt);
        return rc;
    }
    return s_run(self, stmt, err, "cannot store a log entry");
}

static void s_snapshot_destroy(struct raft_snapshot *snap)
{
    if (snap == NULL)
        return;
    raft_configuration_close(&snap->configuration);
    for (unsigned i = 0; i < snap->n_bufs; i++)
        raft_free(snap->bufs[i].base);
    raft_free(snap->bufs);
    raft_free(snap);
}

/* verify false only for the migration that computes the first checksum. */
static int s_snapshot_read(ics_store_t *self, struct raft_snapshot **out, bool verify,
                           ics_err_t *err)
{
    sqlite3_stmt *head = NULL, *servers = NULL;
    struct raft_snapshot *snap = NULL;
    const void *data;
    size_t len;
    int rc;

    *out = NULL;
    rc = s_prepare(self,
                   "SELECT idx, term, conf_index, data, sum FROM snapshot WHERE id = 0",
                   &head, err);
    if (rc != ICS_OK)
        goto out;
    rc = sqlite3_step(head);
    if (rc == SQLITE_DONE) {
        rc = ICS_OK;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        rc = s_fail(self, err, rc, "cannot read the snapshot");
        goto out;
    }
    snap = raft_malloc(sizeof *snap);
    if (snap == NULL) {
        rc = ics_err(err, ICS_ENOMEM, "%s: out of memory for the snapshot", self->path);
        goto out;
    }
    memset(snap, 0, sizeof *snap);
    raft_configuration_init(&snap->configuration);
    snap->index = s_u64(sqlite3_column_int64(head, 0));
    snap->term = s_u64(sqlite3_column_int64(head, 1));
    snap->configuration_index = s_u64(sqlite3_column_int64(head, 2));
    data = sqlite3_column_blob(head, 3);
    len = (size_t)sqlite3_column_bytes(head, 3);
    snap->bufs = raft_malloc(sizeof *snap->bufs);
    if (snap->bufs == NULL || (len > 0 && data == NULL)) {
        rc = ics_err(err, ICS_ENOMEM, "%s: out of memory for the snapshot", self->path);
        goto out;
    }
    /* Never 0 bytes: a NULL base would read as allocation failure, and the
     * FSM's restore takes the buffer whatever its length. */
    snap->bufs[0].base = raft_malloc(len > 0 ? len : 1);
    if (snap->bufs[0].base == NULL) {
        rc = ics_err(err, ICS_ENOMEM, "%s: out of memory for %zu bytes of snapshot",
                     self->path, len);
        goto out;
    }
    snap->bufs[0].len = len;
    snap->n_bufs = 1;
    if (len > 0)
        memcpy(snap->bufs[0].base, data, len);

    rc = s_prepare(self, "SELECT id, address, role FROM snapshot_servers ORDER BY pos",
                   &servers, err);
    if (rc != ICS_OK)
        goto out;
    while ((rc = sqlite3_step(servers)) == SQLITE_ROW) {
        raft_id id = s_u64(sqlite3_column_int64(servers, 0));
        const char *address = (const char *)sqlite3_column_text(servers, 1);
        int rv;

        /* raft_configuration_add asserts on id 0 rather than failing. */
        if (id == 0 || address == NULL) {
            rc = ics_err(err, ICS_EMALFORMED,
                         "%s: snapshot configuration has a server with no id or address",
                         self->path);
            goto out;
        }
        rv = raft_configuration_add(&snap->configuration, id, address,
                                    sqlite3_column_int(servers, 2));
        if (rv != 0) {
            rc = ics_err(err, rv == RAFT_NOMEM ? ICS_ENOMEM : ICS_EMALFORMED,
                         "%s: snapshot configuration: server %llu (%s): %s", self->path,
                         id, address, raft_strerror(rv));
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        rc = s_fail(self, err, rc, "cannot read the snapshot configuration");
        goto out;
    }
    if (verify) {
        uint8_t sum[S_SUM_BYTES];

        s_snapshot_sum(snap, sum);
        if (!s_sum_ok(head, 4, sum)) {
            rc = s_bad_sum(self, err, "the snapshot at index", snap->index);
            goto out;
        }
    }
    *out = snap;
    snap = NULL;
    rc = ICS_OK;
out:
    sqlite3_finalize(head);
    sqlite3_finalize(servers);
    s_snapshot_destroy(snap);
    return rc;
}

static int s_configure(ics_store_t *self, ics_err_t *err)
{
    char mode[16];
    bool stepped;
    int rc;

    /* Only takes effect on a file that has no page yet, so it must come
     * before anything (switching to WAL included) writes the header; on an
     * existing file it changes nothing. */
    rc = s_exec(self, "PRAGMA auto_vacuum = INCREMENTAL", err,
                "cannot set auto_vacuum=INCREMENTAL");
    if (rc != ICS_OK)
        return rc;
    rc = ics_sqlfile_wal(self->db, mode, sizeof mode, &stepped);
    if (rc != SQLITE_OK)
        return s_fail(self, err, rc,
                      stepped ? "cannot enable WAL" : "cannot prepare a statement");
    if (strcmp(mode, "wal") != 0)
        return ics_err(err, ICS_EIO, "%s: cannot enable WAL: journal mode stays %s",
                       self->path, mode);
    /* synchronous and journal_size_limit are per connection: they must be
     * set on every open. */
    rc = s_exec(self, "PRAGMA synchronous = FULL", err, "cannot set synchronous=FULL");
    if (rc != ICS_OK)
        return rc;
    return s_exec(self, "PRAGMA journal_size_limit = " S_STR(S_WAL_LIMIT), err,
                  "cannot set journal_size_limit");
}

/* SQL function for the migration: ics_entry_sum(idx, term, type, data). */
static void s_sql_entry_sum(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    uint8_t sum[S_SUM_BYTES];

    (void)argc;
    s_entry_sum(s_u64(sqlite3_value_int64(argv[0])), s_u64(sqlite3_value_int64(argv[1])),
                (unsigned)sqlite3_value_int(argv[2]), sqlite3_value_blob(argv[3]),
                (size_t)sqlite3_value_bytes(argv[3]), sum);
    sqlite3_result_blob(ctx, sum, sizeof sum, SQLITE_TRANSIENT);
}

/* Schema 1 had no checksums: add the columns and compute them for what is
 * there. What was damaged before this point cannot be told apart any more;
 * from here on it can. Runs inside s_schema's write lock. */
static int s_migrate_v1(ics_store_t *self, ics_err_t *err)
{
    struct raft_snapshot *snap = NULL;
    sqlite3_stmt *put = NULL;
    uint8_t sum[S_SUM_BYTES];
    int rc;

    rc = s_exec(self, "ALTER TABLE entries ADD COLUMN sum BLOB;"
                      "ALTER TABLE snapshot ADD COLUMN sum BLOB",
                err, "cannot add the checksum columns");
    if (rc != ICS_OK)
        goto out;
    rc = sqlite3_create_function(self->db, "ics_entry_sum", 4, SQLITE_UTF8, NULL,
                                 s_sql_entry_sum, NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = s_fail(self, err, rc, "cannot register the checksum function");
        goto out;
    }
    rc = s_exec(self, "UPDATE entries SET sum = ics_entry_sum(idx, term, type, data)", err,
                "cannot compute the entries' checksums");
    sqlite3_create_function(self->db, "ics_entry_sum", 4, SQLITE_UTF8, NULL, NULL, NULL,
                            NULL);
    if (rc != ICS_OK)
        goto out;
    rc = s_snapshot_read(self, &snap, false, err);
    if (rc != ICS_OK || snap == NULL)
        goto out;
    s_snapshot_sum(snap, sum);
    rc = s_prepare(self, "UPDATE snapshot SET sum = ?1 WHERE id = 0", &put, err);
    if (rc != ICS_OK)
        goto out;
    sqlite3_bind_blob(put, 1, sum, sizeof sum, SQLITE_STATIC);
    rc = sqlite3_step(put);
    rc = rc == SQLITE_DONE ? ICS_OK : s_fail(self, err, rc, "cannot store the snapshot's checksum");
out:
    sqlite3_finalize(put);
    s_snapshot_destroy(snap);
    if (rc == ICS_OK)
        rc = s_exec(self, "PRAGMA user_version = " S_STR(S_SCHEMA_VERSION), err,
                    "cannot record the schema version");
    if (rc == ICS_OK)
        ics_notice("%s: raft store upgraded to schema version %d (checksums on every entry"
                   " and the snapshot)", self->path, S_SCHEMA_VERSION);
    return rc;
}

static int s_schema(ics_store_t *self, ics_err_t *err)
{
    sqlite3_stmt *stmt = NULL;
    sqlite3_int64 app, version, objects;
    bool locked = false;
    int rc;

    /* Checked and created under one write lock, so two processes opening a
     * new file at once cannot both create the schema. */
    rc = s_exec(self, "BEGIN IMMEDIATE", err, "cannot lock the database");
    if (rc != ICS_OK)
        goto out;
    locked = true;
    rc = s_prepare(self,
                   "SELECT (SELECT application_id FROM pragma_application_id),"
                   " (SELECT user_version FROM pragma_user_version),"
                   " (SELECT count(*) FROM sqlite_schema)",
                   &stmt, err);
    if (rc != ICS_OK)
        goto out;
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
        rc = s_fail(self, err, rc, "cannot read the schema");
        goto out;
    }
    app = sqlite3_column_int64(stmt, 0);
    version = sqlite3_column_int64(stmt, 1);
    objects = sqlite3_column_int64(stmt, 2);
    rc = ICS_OK;
    if (app == 0 && version == 0 && objects == 0) {
        rc = s_exec(self, s_schema_sql, err, "cannot create the schema");
    } else if (app != S_APPLICATION_ID) {
        rc = ics_err(err, ICS_ECONFIG,
                     "%s: not an icsd raft store (application_id %lld)", self->path,
                     (long long)app);
    } else if (version == 1) {
        rc = s_migrate_v1(self, err);
    } else if (version != S_SCHEMA_VERSION) {
        rc = ics_err(err, ICS_EVERSION,
                     "%s: raft store schema version %lld, this build knows %d", self->path,
                     (long long)version, S_SCHEMA_VERSION);
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

ics_store_t *ics_store_open(const char *path, ics_err_t *err)
{
    ics_store_t *self = NULL;
    int rc;

    assert(path != NULL);
    self = calloc(1, sizeof *self);
    if (self == NULL || (self->path = strdup(path)) == NULL) {
        rc = ics_err(err, ICS_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    rc = ics_sqlfile_open(path, &self->db);
    if (rc != SQLITE_OK) {
        rc = s_fail(self, err, rc, "cannot open the raft store");
        goto out;
    }
    rc = s_configure(self, err);
    if (rc != ICS_OK)
        goto out;
    rc = s_schema(self, err);
    if (rc != ICS_OK)
        goto out;
    rc = ics_sqlfile_prepare(self->db, s_sql, self->stmt, S_NSTMT);
    if (rc != SQLITE_OK) {
        rc = s_fail(self, err, rc, "cannot prepare a statement");
        goto out;
    }
    self->ckpt = ics_walckpt_start(self->db, path, S_CHECKPOINT_PAGES, err);
    if (self->ckpt == NULL)
        rc = ICS_EIO;
out:
    if (rc != ICS_OK)
        ics_store_close(&self);
    return self;
}

bool ics_store_settle(ics_store_t *self, unsigned timeout_ms)
{
    return ics_walckpt_idle(self->ckpt, timeout_ms);
}

void ics_store_close(ics_store_t **self_p)
{
    ics_store_t *self;

    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    ics_walckpt_stop(&self->ckpt);
    /* An open batch needs no explicit rollback: closing the connection
     * discards it, and it never reached the disk as committed. */
    /* sqlite3_open_v2 hands back a handle even when it fails. */
    if (ics_sqlfile_close(self->db, self->stmt, S_NSTMT) != SQLITE_OK)
        ics_error("%s: cannot close the raft store: %s", self->path,
                  sqlite3_errmsg(self->db));
    free(self->path);
    free(self);
    *self_p = NULL;
}

bool ics_store_pristine(ics_store_t *self)
{
    ics_err_t err;
    bool pristine = false;

    assert(self != NULL);
    s_log_failure(s_pristine(self, &pristine, &err), &err);
    return pristine;
}

raft_index ics_store_last_index(ics_store_t *self)
{
    ics_err_t err;
    raft_index index = 0;
    int rc;

    assert(self != NULL);
    rc = s_last_index(self, &index, &err);
    s_log_failure(rc, &err);
    return rc == ICS_OK ? index : 0;
}

/* The term and vote (within ics_store_load's savepoint). */
static int s_load_meta(ics_store_t *self, raft_term *term, raft_id *vote, ics_err_t *err)
{
    sqlite3_stmt *meta = NULL;
    int rc = s_prepare(self, "SELECT term, vote FROM meta WHERE id = 0", &meta, err);

    if (rc != ICS_OK)
        return rc;
    rc = sqlite3_step(meta);
    if (rc == SQLITE_ROW) {
        *term = s_u64(sqlite3_column_int64(meta, 0));
        *vote = s_u64(sqlite3_column_int64(meta, 1));
        rc = ICS_OK;
    } else {
        rc = rc == SQLITE_DONE
                 ? ics_err(err, ICS_EMALFORMED, "%s: term and vote are missing", self->path)
                 : s_fail(self, err, rc, "cannot read the term and vote");
    }
    sqlite3_finalize(meta);
    return rc;
}

typedef struct {
    size_t count, total;   /* entries, and the bytes of their data */
    raft_index first, last;
} s_log_shape_t;

static int s_load_shape(ics_store_t *self, s_log_shape_t *out, ics_err_t *err)
{
    sqlite3_stmt *stats = NULL;
    int rc = s_prepare(self,
                       "SELECT count(*), coalesce(min(idx), 0), coalesce(max(idx), 0),"
                       " coalesce(sum(length(data)), 0) FROM entries",
                       &stats, err);

    if (rc != ICS_OK)
        return rc;
    rc = sqlite3_step(stats);
    if (rc == SQLITE_ROW) {
        out->count = (size_t)sqlite3_column_int64(stats, 0);
        out->first = s_u64(sqlite3_column_int64(stats, 1));
        out->last = s_u64(sqlite3_column_int64(stats, 2));
        out->total = (size_t)sqlite3_column_int64(stats, 3);
        rc = ICS_OK;
    } else {
        rc = s_fail(self, err, rc, "cannot read the log");
    }
    sqlite3_finalize(stats);
    return rc;
}

/* Reads the log's count entries into list, their data into batch (total
 * bytes), checking each entry's checksum; the log must be as shape says. */
static int s_load_entries(ics_store_t *self, const s_log_shape_t *shape,
                          struct raft_entry *list, uint8_t *batch, ics_err_t *err)
{
    sqlite3_stmt *rows = NULL;
    size_t off = 0, i = 0;
    int rc = s_prepare(self, "SELECT term, type, data, sum FROM entries ORDER BY idx", &rows,
                       err);

    if (rc != ICS_OK)
        return rc;
    while ((rc = sqlite3_step(rows)) == SQLITE_ROW) {
        const void *data = sqlite3_column_blob(rows, 2);
        size_t len = (size_t)sqlite3_column_bytes(rows, 2);
        uint8_t sum[S_SUM_BYTES];

        if (i == shape->count || len > shape->total - off) {
            rc = ics_err(err, ICS_EMALFORMED, "%s: log changed while loading", self->path);
            goto out;
        }
        if (len > 0 && data == NULL) {
            rc = ics_err(err, ICS_ENOMEM, "%s: out of memory reading entry %llu",
                         self->path, shape->first + i);
            goto out;
        }
        if (len > 0)
            memcpy(batch + off, data, len);
        list[i].term = s_u64(sqlite3_column_int64(rows, 0));
        list[i].type = (unsigned short)sqlite3_column_int(rows, 1);
        s_entry_sum(shape->first + i, list[i].term, list[i].type, batch + off, len, sum);
        if (!s_sum_ok(rows, 3, sum)) {
            rc = s_bad_sum(self, err, "log entry", shape->first + i);
            goto out;
        }
        list[i].buf.base = batch + off;
        list[i].buf.len = len;
        list[i].batch = batch;
        off += len;
        i++;
    }
    if (rc != SQLITE_DONE)
        rc = s_fail(self, err, rc, "cannot read the log");
    else if (i != shape->count)
        rc = ics_err(err, ICS_EMALFORMED, "%s: log changed while loading", self->path);
    else
        rc = ICS_OK;
out:
    sqlite3_finalize(rows);
    return rc;
}

int ics_store_load(ics_store_t *self, raft_term *term, raft_id *voted_for,
                   struct raft_snapshot **snapshot, raft_index *start_index,
                   struct raft_entry **entries, size_t *n_entries, ics_err_t *err)
{
    struct raft_snapshot *snap = NULL;
    struct raft_entry *list = NULL;
    uint8_t *batch = NULL;
    s_log_shape_t shape = {0};
    raft_term cur_term = 0;
    raft_id vote = 0;
    raft_index start = 1;
    bool opened = false;
    int rc;

    assert(self != NULL && term != NULL && voted_for != NULL && snapshot != NULL &&
           start_index != NULL && entries != NULL && n_entries != NULL);
    *snapshot = NULL;
    *entries = NULL;
    *n_entries = 0;

    /* One savepoint gives all the reads below the same view of the file. */
    rc = s_op_begin(self, err);
    if (rc != ICS_OK)
        goto out;
    opened = true;
    rc = s_load_meta(self, &cur_term, &vote, err);
    if (rc == ICS_OK)
        rc = s_snapshot_read(self, &snap, true, err);
    if (rc == ICS_OK)
        rc = s_load_shape(self, &shape, err);
    if (rc != ICS_OK)
        goto out;

    if (snap != NULL && (shape.count == 0 || shape.last <= snap->index)) {
        /* Trailing entries the snapshot already covers are of no use to raft
         * without a newer entry to follow them. */
        shape.count = 0;
        start = snap->index + 1;
        goto out;
    }
    if (shape.count == 0)
        goto out;
    /* idx is unique, so count == last - first + 1 means no gaps. */
    if (shape.last - shape.first + 1 != shape.count) {
        rc = ics_err(err, ICS_EMALFORMED, "%s: log %llu..%llu has gaps (%zu entries)",
                     self->path, shape.first, shape.last, shape.count);
        goto out;
    }
    if (snap == NULL ? shape.first != 1 : shape.first > snap->index + 1) {
        rc = ics_err(err, ICS_EMALFORMED,
                     "%s: log starts at %llu but the snapshot ends at %llu", self->path,
                     shape.first, snap != NULL ? snap->index : 0);
        goto out;
    }
    start = shape.first;
    list = shape.count <= SIZE_MAX / sizeof *list ? raft_malloc(shape.count * sizeof *list)
                                                  : NULL;
    /* Never 0 bytes: raft frees entries by their non-NULL batch pointer. */
    batch = raft_malloc(shape.total > 0 ? shape.total : 1);
    if (list == NULL || batch == NULL) {
        rc = ics_err(err, ICS_ENOMEM, "%s: out of memory for %zu entries (%zu bytes)",
                     self->path, shape.count, shape.total);
        goto out;
    }
    rc = s_load_entries(self, &shape, list, batch, err);
out:
    if (opened)
        rc = s_op_end(self, rc, err);
    if (rc == ICS_OK) {
        *term = cur_term;
        *voted_for = vote;
        *snapshot = snap;
        *start_index = start;
        *entries = shape.count > 0 ? list : NULL;
        *n_entries = shape.count;
        if (shape.count > 0) {
            list = NULL;
            batch = NULL;
        }
        snap = NULL;
    }
    s_snapshot_destroy(snap);
    raft_free(list);
    raft_free(batch);
    return rc;
}

int ics_store_set_term(ics_store_t *self, raft_term term, ics_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc;

    assert(self != NULL);
    if (self->in_batch)
        return s_refuse_in_batch(self, err, "set_term");
    stmt = self->stmt[S_SET_TERM];
    sqlite3_bind_int64(stmt, 1, s_i64(term));
    /* One statement in autocommit mode: atomic, and fsync'd before it returns. */
    rc = s_run(self, stmt, err, "cannot store the term");
    if (rc == ICS_OK && sqlite3_changes(self->db) != 1)
        rc = ics_err(err, ICS_EMALFORMED, "%s: term and vote are missing", self->path);
    return rc;
}

int ics_store_set_vote(ics_store_t *self, raft_id id, ics_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc;

    assert(self != NULL);
    if (self->in_batch)
        return s_refuse_in_batch(self, err, "set_vote");
    stmt = self->stmt[S_SET_VOTE];
    sqlite3_bind_int64(stmt, 1, s_i64(id));
    rc = s_run(self, stmt, err, "cannot store the vote");
    if (rc == ICS_OK && sqlite3_changes(self->db) != 1)
        rc = ics_err(err, ICS_EMALFORMED, "%s: term and vote are missing", self->path);
    return rc;
}

int ics_store_begin(ics_store_t *self, ics_err_t *err)
{
    int rc;

    assert(self != NULL);
    if (self->in_batch)
        return ics_err(err, ICS_EINVAL, "%s: a batch is already open", self->path);
    /* IMMEDIATE takes the write lock now, so the batch's writes cannot meet
     * a busy database halfway through. */
    rc = s_run(self, self->stmt[S_BEGIN], err, "cannot begin a batch");
    if (rc == ICS_OK)
        self->in_batch = true;
    return rc;
}

int ics_store_commit(ics_store_t *self, ics_err_t *err)
{
    int rc;

    assert(self != NULL);
    if (!self->in_batch)
        return ics_err(err, ICS_EINVAL, "%s: no batch is open", self->path);
    if (sqlite3_get_autocommit(self->db)) {
        rc = ics_err(err, ICS_EIO, "%s: the batch was rolled back after an earlier error",
                     self->path);
    } else {
        rc = s_run(self, self->stmt[S_COMMIT], err, "cannot commit the batch");
        /* A failed COMMIT (say SQLITE_BUSY) can leave the transaction open;
         * end it so the store is back at its last durable state. */
        if (rc != ICS_OK && !sqlite3_get_autocommit(self->db))
            sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
    }
    self->in_batch = false;
    if (rc == ICS_OK)
        s_checkpoint(self);
    else
        self->checkpoint_due = false;
    return rc;
}

void ics_store_rollback(ics_store_t *self)
{
    ics_err_t err;

    assert(self != NULL);
    if (!sqlite3_get_autocommit(self->db))
        s_log_failure(s_run(self, self->stmt[S_ROLLBACK], &err, "cannot roll back the batch"),
                      &err);
    self->in_batch = false;
    self->checkpoint_due = false;
}

int ics_store_append(ics_store_t *self, raft_index first, const struct raft_entry *entries,
                     unsigned n, ics_err_t *err)
{
    raft_index last = 0;
    bool opened = false;
    int rc;

    assert(self != NULL && (n == 0 || entries != NULL));
    if (n == 0)
        return ICS_OK;
    rc = s_op_begin(self, err);
    if (rc != ICS_OK)
        goto out;
    opened = true;
    rc = s_last_index(self, &last, err);
    if (rc != ICS_OK)
        goto out;
    if (first == 0 || first > last + 1) {
        rc = ics_err(err, ICS_EINVAL,
                     "%s: append at index %llu would leave a gap after index %llu",
                     self->path, first, last);
        goto out;
    }
    for (unsigned i = 0; i < n; i++) {
        rc = s_put_entry(self, first + i, entries[i].term, entries[i].type,
                         &entries[i].buf, err);
        if (rc != ICS_OK)
            goto out;
    }
out:
    if (opened)
        rc = s_op_end(self, rc, err);
    return rc;
}

int ics_store_truncate(ics_store_t *self, raft_index index, ics_err_t *err)
{
    int rc;

    assert(self != NULL);
    rc = s_op_begin(self, err);
    if (rc != ICS_OK)
        return rc;
    sqlite3_bind_int64(self->stmt[S_TRUNCATE], 1, s_i64(index));
    rc = s_run(self, self->stmt[S_TRUNCATE], err, "cannot truncate the log");
    return s_op_end(self, rc, err);
}

int ics_store_snapshot_put(ics_store_t *self, const struct raft_snapshot *snapshot,
                           unsigned trailing, ics_err_t *err)
{
    sqlite3_stmt *put = NULL, *server = NULL, *drop = NULL;
    sqlite3_blob *blob = NULL;
    const sqlite3_int64 limit = sqlite3_limit(self->db, SQLITE_LIMIT_LENGTH, -1);
    sqlite3_int64 total = 0, off = 0;
    uint8_t sum[S_SUM_BYTES];
    raft_index keep_after;
    bool opened = false;
    int rc;

    assert(self != NULL && snapshot != NULL);
    assert(snapshot->n_bufs == 0 || snapshot->bufs != NULL);
    for (unsigned i = 0; i < snapshot->n_bufs; i++) {
        if (snapshot->bufs[i].len > (uint64_t)(limit - total))
            return ics_err(err, ICS_ETOOBIG,
                           "%s: snapshot %llu is over SQLite's %lld-byte limit", self->path,
                           snapshot->index, (long long)limit);
        total += (sqlite3_int64)snapshot->bufs[i].len;
    }
    rc = s_op_begin(self, err);
    if (rc != ICS_OK)
        goto out;
    opened = true;

    /* The old snapshot and the entries the new one covers go first, and
     * their pages back to the filesystem (with this call's commit, not at
     * some later VACUUM). Done before the new snapshot is written, the
     * vacuum only moves what was appended since the last snapshot into
     * the holes, never the new snapshot's pages. */
    rc = s_exec(self, "DELETE FROM snapshot", err, "cannot replace the snapshot");
    if (rc != ICS_OK)
        goto out;
    /* idx <= keep_after goes; 0 keeps everything and INT64_MAX nothing. */
    if (trailing == 0)
        keep_after = INT64_MAX;
    else
        keep_after = snapshot->index > trailing ? snapshot->index - trailing : 0;
    rc = s_prepare(self, "DELETE FROM entries WHERE idx <= ?1", &drop, err);
    if (rc != ICS_OK)
        goto out;
    sqlite3_bind_int64(drop, 1, s_i64(keep_after));
    rc = sqlite3_step(drop);
    rc = rc == SQLITE_DONE ? ICS_OK : s_fail(self, err, rc, "cannot compact the log");
    if (rc != ICS_OK)
        goto out;
    /* The pragma answers one row per page it frees. */
    while ((rc = sqlite3_step(self->stmt[S_VACUUM])) == SQLITE_ROW)
        ;
    rc = rc == SQLITE_DONE ? ICS_OK : s_fail(self, err, rc, "cannot reclaim free pages");
    sqlite3_reset(self->stmt[S_VACUUM]);
    if (rc != ICS_OK)
        goto out;

    /* The data goes in through incremental blob I/O, so a snapshot of many
     * buffers is never gathered into one more copy in memory. */
    rc = s_prepare(self,
                   "INSERT OR REPLACE INTO snapshot (id, idx, term, conf_index, data, sum)"
                   " VALUES (0, ?1, ?2, ?3, zeroblob(?4), ?5)",
                   &put, err);
    if (rc != ICS_OK)
        goto out;
    sqlite3_bind_int64(put, 1, s_i64(snapshot->index));
    sqlite3_bind_int64(put, 2, s_i64(snapshot->term));
    sqlite3_bind_int64(put, 3, s_i64(snapshot->configuration_index));
    sqlite3_bind_int64(put, 4, total);
    s_snapshot_sum(snapshot, sum);
    sqlite3_bind_blob(put, 5, sum, sizeof sum, SQLITE_STATIC);
    rc = sqlite3_step(put);
    if (rc != SQLITE_DONE) {
        rc = s_fail(self, err, rc, "cannot store the snapshot");
        goto out;
    }
    rc = sqlite3_blob_open(self->db, "main", "snapshot", "data", 0, 1, &blob);
    if (rc != SQLITE_OK) {
        rc = s_fail(self, err, rc, "cannot store the snapshot data");
        goto out;
    }
    for (unsigned i = 0; i < snapshot->n_bufs; i++) {
        const struct raft_buffer *b = &snapshot->bufs[i];

        if (b->len == 0)
            continue;
        rc = sqlite3_blob_write(blob, b->base, (int)b->len, (int)off);
        if (rc != SQLITE_OK) {
            rc = s_fail(self, err, rc, "cannot store the snapshot data");
            goto out;
        }
        off += (sqlite3_int64)b->len;
    }
    rc = sqlite3_blob_close(blob);
    blob = NULL;
    if (rc != SQLITE_OK) {
        rc = s_fail(self, err, rc, "cannot store the snapshot data");
        goto out;
    }

    rc = s_exec(self, "DELETE FROM snapshot_servers", err,
                "cannot store the snapshot configuration");
    if (rc != ICS_OK)
        goto out;
    rc = s_prepare(self,
                   "INSERT INTO snapshot_servers (pos, id, address, role)"
                   " VALUES (?1, ?2, ?3, ?4)",
                   &server, err);
    if (rc != ICS_OK)
        goto out;
    for (unsigned i = 0; i < snapshot->configuration.n; i++) {
        const struct raft_server *s = &snapshot->configuration.servers[i];

        assert(s->address != NULL);
        sqlite3_bind_int64(server, 1, (sqlite3_int64)i);
        sqlite3_bind_int64(server, 2, s_i64(s->id));
        sqlite3_bind_text(server, 3, s->address, -1, SQLITE_STATIC);
        sqlite3_bind_int(server, 4, s->role);
        rc = sqlite3_step(server);
        if (rc != SQLITE_DONE) {
            rc = s_fail(self, err, rc, "cannot store the snapshot configuration");
            goto out;
        }
        sqlite3_reset(server);
    }
    rc = ICS_OK;
out:
    sqlite3_blob_close(blob);
    sqlite3_finalize(put);
    sqlite3_finalize(server);
    sqlite3_finalize(drop);
    if (opened)
        rc = s_op_end(self, rc, err);
    if (rc == ICS_OK) {
        self->checkpoint_due = true;
        s_checkpoint(self);
    }
    return rc;
}

int ics_store_snapshot_get(ics_store_t *self, struct raft_snapshot **out, ics_err_t *err)
{
    int rc;

    assert(self != NULL && out != NULL);
    *out = NULL;
    rc = s_op_begin(self, err);
    if (rc != ICS_OK)
        return rc;
    rc = s_snapshot_read(self, out, true, err);
    rc = s_op_end(self, rc, err);
    if (rc != ICS_OK) {
        s_snapshot_destroy(*out);
        *out = NULL;
    }
    return rc;
}

int ics_store_bootstrap(ics_store_t *self, const struct raft_configuration *conf,
                        ics_err_t *err)
{
    struct raft_buffer buf = {NULL, 0};
    bool opened = false, pristine = false;
    int rc, rv;

    assert(self != NULL && conf != NULL);
    if (self->in_batch)
        return s_refuse_in_batch(self, err, "bootstrap");
    rv = raft_configuration_encode(conf, &buf);
    if (rv != 0)
        return ics_err(err, rv == RAFT_NOMEM ? ICS_ENOMEM : ICS_EINVAL,
                       "%s: cannot encode the bootstrap configuration: %s", self->path,
                       raft_strerror(rv));
    rc = s_op_begin(self, err);
    if (rc != ICS_OK)
        goto out;
    opened = true;
    rc = s_pristine(self, &pristine, err);
    if (rc != ICS_OK)
        goto out;
    if (!pristine) {
        rc = ics_err(err, ICS_EEXIST,
                     "%s: already holds raft state; refusing to bootstrap", self->path);
        goto out;
    }
    sqlite3_bind_int64(self->stmt[S_SET_TERM], 1, 1);
    rc = s_run(self, self->stmt[S_SET_TERM], err, "cannot store the term");
    if (rc != ICS_OK)
        goto out;
    rc = s_put_entry(self, 1, 1, RAFT_CHANGE, &buf, err);
out:
    if (opened)
        rc = s_op_end(self, rc, err);
    raft_free(buf.base);
    return rc;
}

bool ics_store_corrupt(const ics_store_t *self)
{
    assert(self != NULL);
    return self->corrupt;
}

int ics_store_probe(ics_store_t *self, ics_err_t *err)
{
    sqlite3_stmt *stmt;
    int rc;

    assert(self != NULL);
    if (self->in_batch)
        return s_refuse_in_batch(self, err, "probe");
    /* Rewrites the meta row as it is: a real page write and fsync. */
    stmt = self->stmt[S_PROBE];
    rc = s_run(self, stmt, err, "cannot write");
    if (rc == ICS_OK && sqlite3_changes(self->db) != 1)
        rc = ics_err(err, ICS_EMALFORMED, "%s: term and vote are missing", self->path);
    return rc;
}
