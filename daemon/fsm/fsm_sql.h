/*
 * The state database (fsm_sql.c): an SQLite connection and the statements
 * prepared on it, which ics_sql_prepare() compiles once and hands out
 * again. It lives as long as the connection: a restore replaces both.
 * Included only by the .c files of daemon/fsm.
 */
#ifndef ICS_FSM_SQL_H
#define ICS_FSM_SQL_H

#include "common/ics.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ics_db ics_db_t;

/* A new, empty in-memory database. NULL with err set if SQLite fails. */
ics_db_t *ics_db_open(ics_err_t *err);
/* Finalizes its statements and closes the connection. Accepts NULL. */
void ics_db_close(ics_db_t **db_p);
/* The connection, for what only SQLite itself does (serialize, counters). */
sqlite3 *ics_db_sqlite(ics_db_t *db);
#ifndef NDEBUG
/* Every statement handed out has been released. */
bool ics_db_idle(const ics_db_t *db);
#endif

/* Each returns ICS_OK or ICS_EIO (logging SQLite's message). */
int ics_sql_exec(ics_db_t *db, const char *sql);
/* A statement for sql, ready to bind and step: the one prepared on db
 * before when it is free, else a new one. The caller hands it back with
 * ics_sql_release() (never sqlite3_finalize), on every path. */
int ics_sql_prepare(ics_db_t *db, const char *sql, sqlite3_stmt **st);
/* Hands back a statement from ics_sql_prepare(db, ...): reset, its bindings
 * cleared, for the next caller. Accepts NULL. */
void ics_sql_release(ics_db_t *db, sqlite3_stmt *st);
/* Steps a statement expected to finish without rows. */
int ics_sql_done(ics_db_t *db, sqlite3_stmt *st);
/* sqlite3_step result: ICS_OK on a row, ICS_ENOENT when done, else ICS_EIO. */
int ics_sql_row(ics_db_t *db, sqlite3_stmt *st);
/* Binds a value of at most INT64_MAX (callers check ranges first). */
int ics_sql_bind_u64(sqlite3_stmt *st, int i, uint64_t v);
uint64_t ics_sql_column_u64(sqlite3_stmt *st, int i);
/* A TEXT column, "" for NULL. */
const char *ics_sql_column_str(sqlite3_stmt *st, int i);
/* Copies a BLOB column of exactly n bytes; false if it has another size. */
bool ics_sql_column_blob(sqlite3_stmt *st, int i, uint8_t *out, size_t n);

/* SQL with bound arguments, described by a type string: 't' const char *,
 * 'u' uint64_t (at most INT64_MAX), 'i' int, 'b' const void * then int
 * length. Each returns ICS_OK or ICS_EIO. */
int ics_sql_query(ics_db_t *db, sqlite3_stmt **st, const char *sql, const char *types, ...);
/* Runs a statement that returns no rows. */
int ics_sql_run(ics_db_t *db, const char *sql, const char *types, ...);
/* The first column of the first row as a number (0 if no row). */
int ics_sql_u64(ics_db_t *db, uint64_t *out, const char *sql, const char *types, ...);
/* Copies a TEXT column ("" for NULL). */
void ics_sql_column_text(sqlite3_stmt *st, int i, char *out, size_t size);
/* Runs "SAVEPOINT name"; ics_sql_savepoint_end() releases it, rolling back
 * first when rc is not ICS_OK. Returns rc, or ICS_EIO if SQLite failed. */
int ics_sql_savepoint(ics_db_t *db, const char *name);
int ics_sql_savepoint_end(ics_db_t *db, const char *name, int rc);

#endif
