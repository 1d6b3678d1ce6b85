/*
 * What the node's SQLite files (the raft store, the outbox, the history)
 * do alike in opening and closing: the connection, write-ahead logging,
 * and the statements each prepares once for the connection's life. How a
 * failure is worded stays each file's own: a helper that fails returns the
 * SQLite code of the call that failed, straight after it, so the
 * connection's message is still that call's.
 */
#ifndef ICS_SQLFILE_H
#define ICS_SQLFILE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

/* Opens path (":memory:" too) for reading and writing, creating it if it
 * is missing. *db is set even when this fails: close it anyway. The
 * connection has no mutex of its own (SQLite's multi-thread mode): it
 * belongs to the thread that uses it, as every one of the node's does (the
 * loop's; a checkpointer opens its own). */
int ics_sqlfile_open(const char *path, sqlite3 **db);

/* Asks for write-ahead logging and copies into mode the journal mode now
 * in force: the pragma answers with it, and it stays the old one if WAL is
 * impossible (e.g. no shared memory on this filesystem); "unknown" if it
 * says none. SQLITE_OK, or the failing call's code, with *stepped telling
 * whether the pragma was prepared and failed running. */
int ics_sqlfile_wal(sqlite3 *db, char *mode, size_t size, bool *stepped);

/* Prepares the n statements sql[] into stmt[], to be kept for the
 * connection's life. SQLITE_OK, or the code of the first that fails; those
 * before it stay prepared (ics_sqlfile_close finalizes them). */
int ics_sqlfile_prepare(sqlite3 *db, const char *const *sql, sqlite3_stmt **stmt, size_t n);

/* Finalizes the n statements stmt[] (NULL ones too) and closes db, which
 * may be NULL. SQLite's code of closing; on failure db stays open. */
int ics_sqlfile_close(sqlite3 *db, sqlite3_stmt **stmt, size_t n);

#endif
