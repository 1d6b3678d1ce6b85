/*
 * The SQLite files' shared opening and closing (sqlfile.h).
 */
#include "sqlfile.h"

#include "common/ics.h"

int ics_sqlfile_open(const char *path, sqlite3 **db)
{
    return sqlite3_open_v2(path, db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
}

int ics_sqlfile_wal(sqlite3 *db, char *mode, size_t size, bool *stepped)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    *stepped = false;
    rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return rc;
    *stepped = true;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        const char *answer = (const char *)sqlite3_column_text(stmt, 0);
        ics_strcpy(mode, size, answer != NULL ? answer : "unknown");
        rc = SQLITE_OK;
    }
    /* A failed step's code and message stay the connection's through the
     * finalize (SQLite hands the statement's error over to it). */
    sqlite3_finalize(stmt);
    return rc;
}

int ics_sqlfile_prepare(sqlite3 *db, const char *const *sql, sqlite3_stmt **stmt, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &stmt[i], NULL);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

int ics_sqlfile_close(sqlite3 *db, sqlite3_stmt **stmt, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sqlite3_finalize(stmt[i]);
    return db != NULL ? sqlite3_close(db) : SQLITE_OK;
}
