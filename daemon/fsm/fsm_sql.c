/*
 * The state database's connection and the SQL every domain writes through.
 *
 * Compiling SQL costs more than running most of these statements, so each
 * is compiled once per connection and handed out again (ics_sql_prepare);
 * the typed helpers below (ics_sql_query, ics_sql_run, ics_sql_u64) bind
 * their arguments from a type string and check every bind, so no domain
 * binds by hand. The connection is an in-memory database whose image is the
 * snapshot (fsm.c). Nothing here reads a clock, a file or the environment.
 */
#include "fsm/fsm_sql.h"

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Compiling SQL costs more than running most of these statements, so each
 * is compiled once per connection and handed out again. The cache is an
 * open-addressing table keyed by the SQL text itself (not its address:
 * some SQL is built in a buffer), with no deletions while the connection
 * lives. A statement is handed out to one caller at a time: a caller that
 * asks for SQL whose statement is already out (a helper re-entered while
 * an outer caller steps it) gets a new statement of its own, finalized
 * when released. Statements that do not fit, and scripts (several
 * statements in one text), are not kept either. */
#define S_SLOTS 1024                 /* a power of two */
#define S_CACHED_MAX (S_SLOTS / 2)   /* keeps probe chains short and one slot free */

typedef struct {
    sqlite3_stmt *st;        /* NULL: a free slot */
    uint32_t hash;           /* of sqlite3_sql(st) */
    bool out;                /* handed out, not yet released */
} s_slot_t;

struct ics_db {
    sqlite3 *sql;
    size_t cached;           /* slots in use */
    size_t loose;            /* statements out that are not cached */
    s_slot_t slot[S_SLOTS];
};

static int s_sql_fail(ics_db_t *db, const char *what)
{
    ics_error("state machine database: %s: %s", what, sqlite3_errmsg(db->sql));
    return ICS_EIO;
}

static uint32_t s_hash(const char *sql)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (const unsigned char *p = (const unsigned char *)sql; *p != '\0'; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

/* The slot holding sql, or the free slot where it would go. */
static s_slot_t *s_slot(ics_db_t *db, const char *sql, uint32_t h)
{
    for (size_t i = h & (S_SLOTS - 1);; i = (i + 1) & (S_SLOTS - 1)) {
        s_slot_t *s = &db->slot[i];
        if (s->st == NULL || (s->hash == h && strcmp(sqlite3_sql(s->st), sql) == 0))
            return s;
    }
}

#ifndef NDEBUG
bool ics_db_idle(const ics_db_t *db)
{
    if (db->loose != 0)
        return false;
    for (size_t i = 0; i < S_SLOTS; i++)
        if (db->slot[i].out)
            return false;
    return true;
}
#endif

/* A statement for sql; *script set if sql holds more than one statement. */
static int s_acquire(ics_db_t *db, const char *sql, sqlite3_stmt **st, bool *script)
{
    uint32_t h = s_hash(sql);
    s_slot_t *s = s_slot(db, sql, h);
    bool keep = s->st == NULL && db->cached < S_CACHED_MAX;
    const char *tail = NULL;

    *st = NULL;
    *script = false;
    if (s->st != NULL && !s->out) {
        s->out = true;
        *st = s->st;
        return ICS_OK;
    }
    if (sqlite3_prepare_v3(db->sql, sql, -1, keep ? SQLITE_PREPARE_PERSISTENT : 0, st, &tail) !=
        SQLITE_OK)
        return s_sql_fail(db, "prepare");
    *script = tail != NULL && *tail != '\0';
    if (keep && *st != NULL && !*script) {
        s->st = *st;
        s->hash = h;
        s->out = true;
        db->cached++;
    } else {
        db->loose++;
    }
    return ICS_OK;
}

int ics_sql_prepare(ics_db_t *db, const char *sql, sqlite3_stmt **st)
{
    bool script;
    return s_acquire(db, sql, st, &script);
}

void ics_sql_release(ics_db_t *db, sqlite3_stmt *st)
{
    const char *sql;
    s_slot_t *s;

    if (st == NULL)
        return;
    assert(sqlite3_db_handle(st) == db->sql);
    sql = sqlite3_sql(st);
    s = s_slot(db, sql, s_hash(sql));
    if (s->st == st) {
        assert(s->out);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        s->out = false;
        return;
    }
    assert(db->loose > 0);
    db->loose--;
    sqlite3_finalize(st);
}

int ics_sql_exec(ics_db_t *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    char *msg = NULL;
    bool script;
    int rc = s_acquire(db, sql, &st, &script);

    if (rc != ICS_OK)
        return rc;
    if (!script) {
        rc = SQLITE_DONE; /* st is NULL for a text without a statement */
        while (st != NULL && (rc = sqlite3_step(st)) == SQLITE_ROW)
            ;
        if (rc != SQLITE_DONE)
            ics_error("state machine database: %s (in \"%.60s\")", sqlite3_errmsg(db->sql),
                      sql);
        ics_sql_release(db, st);
        return rc == SQLITE_DONE ? ICS_OK : ICS_EIO;
    }
    /* A script (a schema): run once, not kept. */
    ics_sql_release(db, st);
    rc = sqlite3_exec(db->sql, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        ics_error("state machine database: %s (in \"%.60s\")", msg ? msg : sqlite3_errstr(rc),
                  sql);
        sqlite3_free(msg);
        return ICS_EIO;
    }
    return ICS_OK;
}

int ics_sql_done(ics_db_t *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return s_sql_fail(db, "step");
    return ICS_OK;
}

int ics_sql_row(ics_db_t *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return ICS_OK;
    if (rc == SQLITE_DONE)
        return ICS_ENOENT;
    return s_sql_fail(db, "step");
}

int ics_sql_bind_u64(sqlite3_stmt *st, int i, uint64_t v)
{
    assert(v <= INT64_MAX);
    return sqlite3_bind_int64(st, i, (sqlite3_int64)v) == SQLITE_OK ? ICS_OK : ICS_EIO;
}

uint64_t ics_sql_column_u64(sqlite3_stmt *st, int i)
{
    sqlite3_int64 v = sqlite3_column_int64(st, i);
    return v < 0 ? 0 : (uint64_t)v;
}

bool ics_sql_column_blob(sqlite3_stmt *st, int i, uint8_t *out, size_t n)
{
    const void *p = sqlite3_column_blob(st, i);
    if ((size_t)sqlite3_column_bytes(st, i) != n || (p == NULL && n > 0))
        return false;
    if (n > 0)
        memcpy(out, p, n);
    return true;
}

const char *ics_sql_column_str(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s != NULL ? s : "";
}

/* ---------------------------------------------------------------- typed helpers */

static int s_bindv(sqlite3_stmt *st, const char *types, va_list ap)
{
    int rc = SQLITE_OK;
    for (int i = 0; types != NULL && types[i] != '\0' && rc == SQLITE_OK; i++) {
        switch (types[i]) {
        case 't':
            rc = sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
            break;
        case 'u': {
            uint64_t v = va_arg(ap, uint64_t);
            rc = v > INT64_MAX ? SQLITE_RANGE : sqlite3_bind_int64(st, i + 1, (sqlite3_int64)v);
            break;
        }
        case 'i':
            rc = sqlite3_bind_int(st, i + 1, va_arg(ap, int));
            break;
        case 'b': {
            const void *p = va_arg(ap, const void *);
            int n = va_arg(ap, int);
            rc = sqlite3_bind_blob(st, i + 1, p, n, SQLITE_TRANSIENT);
            break;
        }
        default:
            rc = SQLITE_MISUSE;
        }
    }
    return rc == SQLITE_OK ? ICS_OK : ICS_EIO;
}

int ics_sql_query(ics_db_t *db, sqlite3_stmt **st, const char *sql, const char *types, ...)
{
    va_list ap;
    int rc = ics_sql_prepare(db, sql, st);

    if (rc != ICS_OK)
        return rc;
    va_start(ap, types);
    rc = s_bindv(*st, types, ap);
    va_end(ap);
    if (rc != ICS_OK) {
        ics_error("state machine database: cannot bind arguments of \"%.60s\"", sql);
        ics_sql_release(db, *st);
        *st = NULL;
    }
    return rc;
}

int ics_sql_run(ics_db_t *db, const char *sql, const char *types, ...)
{
    sqlite3_stmt *st = NULL;
    va_list ap;
    int rc = ics_sql_prepare(db, sql, &st);

    if (rc != ICS_OK)
        return rc;
    va_start(ap, types);
    rc = s_bindv(st, types, ap);
    va_end(ap);
    if (rc == ICS_OK)
        rc = ics_sql_done(db, st);
    ics_sql_release(db, st);
    return rc;
}

int ics_sql_u64(ics_db_t *db, uint64_t *out, const char *sql, const char *types, ...)
{
    sqlite3_stmt *st = NULL;
    va_list ap;
    int rc = ics_sql_prepare(db, sql, &st);

    *out = 0;
    if (rc != ICS_OK)
        return rc;
    va_start(ap, types);
    rc = s_bindv(st, types, ap);
    va_end(ap);
    if (rc == ICS_OK) {
        rc = ics_sql_row(db, st);
        if (rc == ICS_OK)
            *out = ics_sql_column_u64(st, 0);
        else if (rc == ICS_ENOENT)
            rc = ICS_OK;
    }
    ics_sql_release(db, st);
    return rc;
}

void ics_sql_column_text(sqlite3_stmt *st, int i, char *out, size_t size)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    ics_strcpy(out, size, s != NULL ? s : "");
}

int ics_sql_savepoint(ics_db_t *db, const char *name)
{
    char sql[64];
    snprintf(sql, sizeof sql, "SAVEPOINT %s", name);
    return ics_sql_exec(db, sql);
}

int ics_sql_savepoint_end(ics_db_t *db, const char *name, int rc)
{
    char sql[80];
    if (rc != ICS_OK) {
        snprintf(sql, sizeof sql, "ROLLBACK TO %s", name);
        if (ics_sql_exec(db, sql) != ICS_OK)
            return ICS_EIO;
    }
    snprintf(sql, sizeof sql, "RELEASE %s", name);
    if (ics_sql_exec(db, sql) != ICS_OK)
        return ICS_EIO;
    return rc;
}

/* ---------------------------------------------------------------- lifecycle */

/* A new, empty in-memory database. NULL with err set if SQLite fails. */
ics_db_t *ics_db_open(ics_err_t *err)
{
    ics_db_t *db = calloc(1, sizeof *db);

    if (db == NULL) {
        ics_err(err, ICS_ENOMEM, "out of memory");
        return NULL;
    }
    /* The state machine runs on one thread: no per-connection mutex. */
    if (sqlite3_open_v2(":memory:", &db->sql,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        ics_err(err, ICS_EIO, "cannot open the state database: %s",
                db->sql ? sqlite3_errmsg(db->sql) : "out of memory");
        sqlite3_close(db->sql);
        free(db);
        return NULL;
    }
    sqlite3_db_config(db->sql, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(db->sql, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    /* Small pages: every table and index takes at least one, and the
     * snapshot is the whole image. */
    sqlite3_exec(db->sql, "PRAGMA page_size = 1024", NULL, NULL, NULL);
    return db;
}

/* Finalizes its statements and closes the connection. Accepts NULL. */
void ics_db_close(ics_db_t **db_p)
{
    ics_db_t *db = *db_p;

    if (db == NULL)
        return;
    assert(ics_db_idle(db));
    for (size_t i = 0; i < S_SLOTS; i++)
        sqlite3_finalize(db->slot[i].st);
    sqlite3_close(db->sql);
    free(db);
    *db_p = NULL;
}

sqlite3 *ics_db_sqlite(ics_db_t *db)
{
    return db->sql;
}
