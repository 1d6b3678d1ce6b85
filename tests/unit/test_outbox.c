/*
 * Unit tests for the outbox: every test runs against a fresh file in its own
 * mkdtemp directory and reopens it (or reads it from a second connection or
 * a crashed child process) to prove what it checks was, or was not, on disk.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "outbox.h"
#include "store.h"

/* ---- fixture ----------------------------------------------------------- */

typedef struct {
    char dir[64];
    char path[128];
    ics_outbox_t *ob;
} s_fixture_t;

/* Every test leaves only plain files directly in its directory. */
static void s_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[128 + sizeof e->d_name];

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        assert_int_equal(unlink(p), 0);
    }
    closedir(d);
    assert_int_equal(rmdir(dir), 0);
}

static int s_setup(void **state)
{
    s_fixture_t *f = calloc(1, sizeof *f);
    ics_err_t err = {{0}};

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_outbox.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/outbox.db", f->dir);
    f->ob = ics_outbox_open(f->path, NULL, &err);
    if (f->ob == NULL) {
        /* cmocka skips the teardown of a failed setup. */
        s_rmdir(f->dir);
        free(f);
        fail_msg("open: %s", err.msg);
    }
    *state = f;
    return 0;
}

/* For tests that build the file themselves before opening it. */
static int s_setup_empty_dir(void **state)
{
    s_fixture_t *f = calloc(1, sizeof *f);

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_outbox.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/outbox.db", f->dir);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    s_fixture_t *f = *state;

    ics_outbox_close(&f->ob);
    assert_null(f->ob);
    s_rmdir(f->dir);
    free(f);
    return 0;
}

static void s_reopen(s_fixture_t *f, const ics_outbox_opts_t *opts)
{
    ics_err_t err = {{0}};

    ics_outbox_close(&f->ob);
    assert_null(f->ob);
    f->ob = ics_outbox_open(f->path, opts, &err);
    if (f->ob == NULL)
        fail_msg("reopen %s: %s", f->path, err.msg);
}

/* ---- helpers ----------------------------------------------------------- */

/* Submission i: token "token-<i>" (16 bytes), seq i, envelope "envelope
 * <i>" padded to len bytes (at least 16). */
static void s_token(uint64_t i, uint8_t token[16])
{
    char buf[17];

    snprintf(buf, sizeof buf, "token-%010llu", (unsigned long long)i);
    memcpy(token, buf, 16);
}

static uint8_t *s_envelope(uint64_t i, size_t len)
{
    uint8_t *env = malloc(len);

    assert_non_null(env);
    assert_true(len >= 16);
    memset(env, (int)(i % 251), len);
    snprintf((char *)env, 16, "envelope %llu", (unsigned long long)i);
    return env;
}

static void s_put_sized(s_fixture_t *f, uint64_t i, size_t len)
{
    uint8_t token[16], *env = s_envelope(i, len);
    ics_err_t err = {{0}};
    int rc;

    s_token(i, token);
    rc = ics_outbox_put(f->ob, token, sizeof token, i, env, len, &err);
    free(env);
    if (rc != ICS_OK)
        fail_msg("put %llu: %d %s", (unsigned long long)i, rc, err.msg);
}

static void s_put(s_fixture_t *f, uint64_t first, uint64_t last)
{
    for (uint64_t i = first; i <= last; i++)
        s_put_sized(f, i, 32);
}

static void s_commit(s_fixture_t *f)
{
    ics_err_t err = {{0}};
    int rc = ics_outbox_commit(f->ob, &err);

    if (rc != ICS_OK)
        fail_msg("commit: %d %s", rc, err.msg);
}

static void s_applied(s_fixture_t *f, uint64_t first, uint64_t last)
{
    ics_err_t err = {{0}};

    for (uint64_t i = first; i <= last; i++)
        if (ics_outbox_applied(f->ob, i, &err) != ICS_OK)
            fail_msg("applied %llu: %s", (unsigned long long)i, err.msg);
}

static uint64_t s_max_seq(s_fixture_t *f)
{
    ics_err_t err = {{0}};
    uint64_t seq = 99;

    assert_int_equal(ics_outbox_max_seq(f->ob, &seq, &err), ICS_OK);
    return seq;
}

/* A second connection's view: only what was committed. */
static void s_sql_text(const char *path, const char *sql, char *out, size_t size)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    snprintf(out, size, "%s", (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

static void s_sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static long s_file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

static long s_disk_use(const s_fixture_t *f, long *db, long *wal)
{
    char path[160];

    snprintf(path, sizeof path, "%s-wal", f->path);
    *db = s_file_size(f->path);
    *wal = s_file_size(path);
    return *db + *wal;
}

/* ---- domain assertions ------------------------------------------------- */

/* Token i maps to seq i, with its envelope (held) or without (answered). */
static void s_assert_found(s_fixture_t *f, uint64_t i, bool held, size_t len)
{
    uint8_t token[16], *env = NULL, *want;
    size_t env_len = 1;
    uint64_t seq = 0;
    ics_err_t err = {{0}};
    int rc;

    s_token(i, token);
    rc = ics_outbox_find(f->ob, token, sizeof token, &seq, &env, &env_len, &err);
    if (rc != ICS_OK)
        fail_msg("token %llu: %d %s", (unsigned long long)i, rc, err.msg);
    assert_int_equal(seq, i);
    if (!held) {
        assert_null(env);
        assert_int_equal(env_len, 0);
        return;
    }
    assert_non_null(env);
    want = s_envelope(i, len);
    assert_int_equal(env_len, len);
    assert_memory_equal(env, want, len);
    free(want);
    free(env);
}

#define ASSERT_HELD(f, i) s_assert_found(f, i, true, 32)
#define ASSERT_ANSWERED(f, i) s_assert_found(f, i, false, 0)

static void ASSERT_UNKNOWN(s_fixture_t *f, uint64_t i)
{
    uint8_t token[16], *env = (uint8_t *)&env;
    size_t env_len = 1;
    uint64_t seq = 1;
    ics_err_t err = {{0}};

    s_token(i, token);
    assert_int_equal(ics_outbox_find(f->ob, token, sizeof token, &seq, &env, &env_len, &err),
                     ICS_ENOENT);
    assert_null(env);
    assert_int_equal(seq, 0);
    assert_non_null(strstr(err.msg, f->path));
}

/* The lowest seq in flight is want (0: none), and its envelope comes with it. */
static void ASSERT_OLDEST(s_fixture_t *f, uint64_t want)
{
    uint8_t *env = NULL, *expect;
    size_t env_len = 0;
    uint64_t seq = 99;
    ics_err_t err = {{0}};

    assert_int_equal(ics_outbox_oldest_unapplied(f->ob, &seq, NULL, NULL, &err), ICS_OK);
    assert_int_equal(seq, want);
    assert_int_equal(ics_outbox_oldest_unapplied(f->ob, &seq, &env, &env_len, &err), ICS_OK);
    assert_int_equal(seq, want);
    if (want == 0) {
        assert_null(env);
        return;
    }
    expect = s_envelope(want, 32);
    assert_int_equal(env_len, 32);
    assert_memory_equal(env, expect, 32);
    free(expect);
    free(env);
}

static void s_assert_open_fails(const char *path, const char *what)
{
    ics_err_t err = {{0}};
    ics_outbox_t *ob = ics_outbox_open(path, NULL, &err);

    if (ob != NULL) {
        ics_outbox_close(&ob);
        fail_msg("%s opened as an outbox", path);
    }
    assert_non_null(strstr(err.msg, path));
    if (strstr(err.msg, what) == NULL)
        fail_msg("error \"%s\" does not say \"%s\"", err.msg, what);
}

/* ---- scenarios --------------------------------------------------------- */

static void test_put_find_commit(void **state)
{
    s_fixture_t *f = *state;
    char count[16];

    assert_int_equal(s_max_seq(f), 0);
    ASSERT_UNKNOWN(f, 1);
    ASSERT_OLDEST(f, 0);

    s_put(f, 1, 3);
    /* Uncommitted puts are seen by this handle: a retry in the same turn
     * maps to the same seq. */
    ASSERT_HELD(f, 1);
    ASSERT_HELD(f, 3);
    assert_int_equal(s_max_seq(f), 3);
    ASSERT_OLDEST(f, 1);
    /* ... but not by anyone else: not stored yet. */
    s_sql_text(f->path, "SELECT count(*) FROM tokens", count, sizeof count);
    assert_string_equal(count, "0");

    s_commit(f);
    s_sql_text(f->path, "SELECT count(*) FROM tokens", count, sizeof count);
    assert_string_equal(count, "3");
    ASSERT_HELD(f, 2);
    ASSERT_UNKNOWN(f, 4);
    /* Committing with nothing to commit is a no-op. */
    s_commit(f);
    s_commit(f);
    assert_int_equal(s_max_seq(f), 3);
}

static void test_duplicates_refused(void **state)
{
    s_fixture_t *f = *state;
    uint8_t token[16], other[16], env[16] = "other envelope";
    ics_err_t err = {{0}};

    s_put(f, 1, 1);
    s_token(1, token);
    s_token(2, other);
    assert_int_equal(ics_outbox_put(f->ob, token, sizeof token, 2, env, sizeof env, &err),
                     ICS_EEXIST);
    assert_non_null(strstr(err.msg, "already"));
    assert_int_equal(ics_outbox_put(f->ob, other, sizeof other, 1, env, sizeof env, &err),
                     ICS_EEXIST);
    assert_int_equal(ics_outbox_put(f->ob, other, sizeof other, 0, env, sizeof env, &err),
                     ICS_EINVAL);
    /* A refused put leaves the batch intact. */
    s_commit(f);
    s_reopen(f, NULL);
    ASSERT_HELD(f, 1);
    ASSERT_UNKNOWN(f, 2);
}

static void test_reopen_keeps_committed(void **state)
{
    s_fixture_t *f = *state;

    s_put(f, 1, 5);
    s_commit(f);
    s_applied(f, 2, 2);
    s_put(f, 6, 6);
    /* Closing commits what was put: never sent, but a retry after a restart
     * resends the same envelope. */
    s_reopen(f, NULL);
    for (uint64_t i = 1; i <= 6; i++)
        s_assert_found(f, i, i != 2, 32);
    assert_int_equal(s_max_seq(f), 6);
    ASSERT_OLDEST(f, 1);
}

/* Stored before sent: a crash between put and commit loses the row, which
 * is why nothing may be sent before the commit returns. */
static void test_crash_loses_uncommitted(void **state)
{
    s_fixture_t *f = *state;
    int status = 0;
    pid_t pid;

    ics_outbox_close(&f->ob);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ics_err_t err;
        ics_outbox_t *ob = ics_outbox_open(f->path, NULL, &err);
        uint8_t token[16], env[16] = "an envelope";

        s_token(1, token);
        if (ob == NULL || ics_outbox_put(ob, token, sizeof token, 1, env, sizeof env, &err) ||
            ics_outbox_commit(ob, &err))
            _exit(1);
        s_token(2, token);
        if (ics_outbox_put(ob, token, sizeof token, 2, env, sizeof env, &err))
            _exit(1);
        _exit(0); /* killed before the turn's commit */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    s_reopen(f, NULL);
    assert_int_equal(s_max_seq(f), 1);
    ASSERT_UNKNOWN(f, 2);
}

static void test_applied_drops_envelope_keeps_token(void **state)
{
    s_fixture_t *f = *state;

    s_put(f, 1, 4);
    s_commit(f);
    s_applied(f, 1, 3);
    s_applied(f, 3, 3); /* replayed after a restart */
    s_applied(f, 99, 99); /* not ours */
    ASSERT_ANSWERED(f, 1);
    ASSERT_ANSWERED(f, 3);
    ASSERT_HELD(f, 4);
    ASSERT_OLDEST(f, 4);
    s_put(f, 5, 5);
    s_commit(f);
    s_reopen(f, NULL);
    ASSERT_ANSWERED(f, 1);
    ASSERT_ANSWERED(f, 2);
    ASSERT_HELD(f, 4);
    ASSERT_OLDEST(f, 4);
    assert_int_equal(s_max_seq(f), 5);
}

/* Marks need no fsync of their own: they wait for the next commit with
 * puts, or for the prune batch. */
static void test_marks_ride_with_puts(void **state)
{
    s_fixture_t *f = *state;
    const ics_outbox_opts_t opts = {.prune_every = 4};
    char count[16];

    s_reopen(f, &opts);
    s_put(f, 1, 5);
    s_commit(f);
    s_applied(f, 1, 1);
    s_commit(f);
    s_sql_text(f->path, "SELECT count(*) FROM envelopes", count, sizeof count);
    assert_string_equal(count, "5");
    s_put(f, 6, 6);
    s_commit(f);
    s_sql_text(f->path, "SELECT count(*) FROM envelopes", count, sizeof count);
    assert_string_equal(count, "5");
    /* Four marks since the last prune: committed without a put. */
    s_applied(f, 2, 4);
    s_commit(f);
    s_sql_text(f->path, "SELECT count(*) FROM envelopes", count, sizeof count);
    assert_string_equal(count, "2");
}

static void test_prune_forgets_old_tokens(void **state)
{
    s_fixture_t *f = *state;
    const ics_outbox_opts_t opts = {.retain = 10, .window = 4, .prune_every = 8};

    s_reopen(f, &opts);
    s_put(f, 1, 30);
    s_commit(f);
    /* All applied but 12 and 29: 12 went missing long ago, 29 is still on
     * its way. */
    s_applied(f, 1, 11);
    s_applied(f, 13, 28);
    s_applied(f, 30, 30);
    /* 30 applied: the state machine rejects seqs below 30 - 4 from now on,
     * so 12 is no longer in flight, even before the prune. */
    ASSERT_OLDEST(f, 29);
    ASSERT_HELD(f, 12);
    s_commit(f); /* the prune is due: 28 marks */

    /* The newest 10 seqs keep their tokens; the rest are forgotten, 12
     * included, its envelope being of no more use. */
    for (uint64_t i = 1; i <= 20; i++)
        ASSERT_UNKNOWN(f, i);
    for (uint64_t i = 21; i <= 30; i++)
        s_assert_found(f, i, i == 29, 32);
    assert_int_equal(s_max_seq(f), 30);
    ASSERT_OLDEST(f, 29);

    /* The highest answered seq survives a restart as the applied mark. */
    s_reopen(f, &opts);
    ASSERT_OLDEST(f, 29);
    s_put(f, 31, 40);
    s_applied(f, 31, 40);
    s_commit(f);
    for (uint64_t i = 21; i <= 30; i++)
        ASSERT_UNKNOWN(f, i);
    /* 29 is 11 below 40, beyond the window: dropped and forgotten. */
    ASSERT_OLDEST(f, 0);
    ASSERT_ANSWERED(f, 31);
    assert_int_equal(s_max_seq(f), 40);
}

/* Disk use follows what is in flight and the tokens kept, not what was
 * ever sent. */
#define DISK_SUBMISSIONS 10000
#define DISK_ENVELOPE_BYTES 2048
#define DISK_PER_TURN 50
#define DISK_IN_FLIGHT 100

static void test_prune_keeps_file_small(void **state)
{
    s_fixture_t *f = *state;
    const ics_outbox_opts_t opts = {.retain = 1000, .prune_every = 256};
    long db = 0, wal = 0, used, peak = 0;

    s_reopen(f, &opts);
    for (uint64_t first = 1; first <= DISK_SUBMISSIONS; first += DISK_PER_TURN) {
        for (uint64_t i = first; i < first + DISK_PER_TURN; i++)
            s_put_sized(f, i, DISK_ENVELOPE_BYTES);
        if (first > DISK_IN_FLIGHT)
            s_applied(f, first - DISK_IN_FLIGHT, first + DISK_PER_TURN - 1 - DISK_IN_FLIGHT);
        s_commit(f);
        used = s_disk_use(f, &db, &wal);
        if (used > peak)
            peak = used;
    }
    print_message("outbox after %d submissions of %d bytes: database %ld + WAL %ld bytes "
                  "(peak %ld)\n", DISK_SUBMISSIONS, DISK_ENVELOPE_BYTES, db, wal, peak);
    /* At worst a prune batch's envelopes sit in the WAL and the database
     * next to those in flight: (256 + 100) * 2 KiB, twice over. The 20 MB
     * sent must not show. */
    assert_true(peak < 4 * 1024 * 1024);
    /* Closed: 100 envelopes in flight and 1000 tokens, about 250 KiB. */
    s_reopen(f, &opts);
    used = s_disk_use(f, &db, &wal);
    print_message("reopened: database %ld + WAL %ld bytes\n", db, wal);
    assert_true(used < 1024 * 1024);
    s_assert_found(f, DISK_SUBMISSIONS, true, DISK_ENVELOPE_BYTES);
    ASSERT_UNKNOWN(f, DISK_SUBMISSIONS - 2000);
}

static void test_migrates_unversioned_outbox(void **state)
{
    s_fixture_t *f = *state;
    char out[32];

    /* The table the group kept before the outbox was a module, written
     * the way it wrote it. */
    s_sql_exec(f->path,
               "PRAGMA journal_mode=WAL;"
               "CREATE TABLE IF NOT EXISTS outbox("
               " token BLOB PRIMARY KEY, seq INTEGER NOT NULL UNIQUE,"
               " envelope BLOB NOT NULL)");
    {
        ics_err_t err = {{0}};

        f->ob = ics_outbox_open(f->path, NULL, &err);
        if (f->ob == NULL)
            fail_msg("migrate an empty outbox: %s", err.msg);
    }
    ics_outbox_close(&f->ob);
    /* Same again, with rows, so the copy is exercised too. */
    unlink(f->path);
    s_sql_exec(f->path,
               "PRAGMA journal_mode=WAL;"
               "CREATE TABLE IF NOT EXISTS outbox("
               " token BLOB PRIMARY KEY, seq INTEGER NOT NULL UNIQUE,"
               " envelope BLOB NOT NULL)");
    {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;

        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO outbox VALUES (?, ?, ?)", -1,
                                            &st, NULL), SQLITE_OK);
        for (uint64_t i = 1; i <= 3; i++) {
            uint8_t token[16], *env = s_envelope(i, 32);

            s_token(i, token);
            sqlite3_bind_blob(st, 1, token, sizeof token, SQLITE_TRANSIENT);
            sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
            sqlite3_bind_blob(st, 3, env, 32, SQLITE_TRANSIENT);
            assert_int_equal(sqlite3_step(st), SQLITE_DONE);
            sqlite3_reset(st);
            free(env);
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    {
        const ics_outbox_opts_t opts = {.prune_every = 1};
        ics_err_t err = {{0}};

        f->ob = ics_outbox_open(f->path, &opts, &err);
        if (f->ob == NULL)
            fail_msg("migrate: %s", err.msg);
    }
    ASSERT_HELD(f, 1);
    ASSERT_HELD(f, 3);
    assert_int_equal(s_max_seq(f), 3);
    ASSERT_OLDEST(f, 1);
    /* The envelope can be dropped now, the token kept. */
    s_applied(f, 1, 1);
    s_commit(f);
    ASSERT_ANSWERED(f, 1);
    s_put(f, 4, 4);
    s_commit(f);

    s_sql_text(f->path, "PRAGMA application_id", out, sizeof out);
    assert_string_equal(out, "1229149007");
    s_sql_text(f->path, "PRAGMA user_version", out, sizeof out);
    assert_string_equal(out, "1");
    s_sql_text(f->path, "PRAGMA auto_vacuum", out, sizeof out);
    assert_string_equal(out, "2");
    s_sql_text(f->path, "PRAGMA journal_mode", out, sizeof out);
    assert_string_equal(out, "wal");

    s_reopen(f, NULL);
    ASSERT_ANSWERED(f, 1);
    ASSERT_HELD(f, 2);
    ASSERT_HELD(f, 4);
}

static void test_fresh_file(void **state)
{
    s_fixture_t *f = *state;
    char out[32];

    s_sql_text(f->path, "PRAGMA application_id", out, sizeof out);
    assert_string_equal(out, "1229149007");
    s_sql_text(f->path, "PRAGMA user_version", out, sizeof out);
    assert_string_equal(out, "1");
    s_sql_text(f->path, "PRAGMA auto_vacuum", out, sizeof out);
    assert_string_equal(out, "2");
    s_sql_text(f->path, "PRAGMA journal_mode", out, sizeof out);
    assert_string_equal(out, "wal");
    s_reopen(f, NULL);
    ics_outbox_close(NULL);
}

static void test_bad_files(void **state)
{
    s_fixture_t *f = *state;
    char path[192], out[16];
    FILE *fp;

    /* Not a database at all. */
    snprintf(path, sizeof path, "%s/plainfile", f->dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 200; i++)
        fputs("definitely not sqlite ", fp);
    fclose(fp);
    s_assert_open_fails(path, "not a database");

    /* A directory that does not exist. */
    snprintf(path, sizeof path, "%s/missing/outbox.db", f->dir);
    s_assert_open_fails(path, "unable to open");

    /* Someone else's SQLite database is refused and left as it was. */
    snprintf(path, sizeof path, "%s/other.db", f->dir);
    s_sql_exec(path, "CREATE TABLE t (x)");
    s_assert_open_fails(path, "not an icsd outbox");
    s_sql_text(path, "SELECT count(*) FROM sqlite_schema", out, sizeof out);
    assert_string_equal(out, "1");
    s_sql_text(path, "PRAGMA journal_mode", out, sizeof out);
    assert_string_equal(out, "delete");

    /* A table called outbox that is not ours. */
    snprintf(path, sizeof path, "%s/lookalike.db", f->dir);
    s_sql_exec(path, "CREATE TABLE outbox (token BLOB, seq INTEGER)");
    s_assert_open_fails(path, "not an icsd outbox");

    /* The raft store next to it, named by mistake. */
    {
        ics_err_t err = {{0}};
        ics_store_t *store;

        snprintf(path, sizeof path, "%s/raft.db", f->dir);
        store = ics_store_open(path, &err);
        assert_non_null(store);
        ics_store_close(&store);
        s_assert_open_fails(path, "not an icsd outbox (application_id 1229149010");
    }

    /* An outbox from a newer build. */
    ics_outbox_close(&f->ob);
    s_sql_exec(f->path, "PRAGMA user_version = 2");
    s_assert_open_fails(f->path, "outbox schema version 2, this build knows 1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_find_commit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_duplicates_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_committed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_crash_loses_uncommitted, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_applied_drops_envelope_keeps_token, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_marks_ride_with_puts, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_prune_forgets_old_tokens, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_prune_keeps_file_small, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_migrates_unversioned_outbox, s_setup_empty_dir,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_fresh_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bad_files, s_setup, s_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
