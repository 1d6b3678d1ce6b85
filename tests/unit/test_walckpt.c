/*
 * WAL checkpoints off the loop (daemon/walckpt.h): the writer's commits
 * never fail or wait because of the checkpointer, the WAL stays bounded
 * while it writes without pause, what was committed is all there (also
 * through a connection opened afresh), and a checkpoint can be asked for
 * whatever the WAL holds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "walckpt.h"

typedef struct {
    char dir[64];
    char path[128];
    sqlite3 *db;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/icsd-walckpt-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    assert_int_equal(sqlite3_open(f->path, &f->db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(f->db,
                                  "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                                  "PRAGMA journal_size_limit = 1048576;"
                                  "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[160];
    sqlite3_close(f->db);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static long s_wal_size(const fixture_t *f)
{
    char wal[160];
    struct stat st;
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    return stat(wal, &st) == 0 ? (long)st.st_size : 0;
}

/* n transactions of 10 rows of 1 KiB each, from row `from` on; every step
 * must succeed. */
static void s_write(fixture_t *f, int from, int n)
{
    sqlite3_stmt *st;
    uint8_t blob[1024];

    memset(blob, 0x5a, sizeof blob);
    assert_int_equal(sqlite3_prepare_v2(f->db, "INSERT INTO t (k, v) VALUES (?1, ?2)", -1, &st,
                                        NULL),
                     SQLITE_OK);
    for (int t = 0; t < n; t++) {
        assert_int_equal(sqlite3_exec(f->db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
        for (int r = 0; r < 10; r++) {
            sqlite3_bind_int(st, 1, from + t * 10 + r);
            sqlite3_bind_blob(st, 2, blob, sizeof blob, SQLITE_STATIC);
            assert_int_equal(sqlite3_step(st), SQLITE_DONE);
            sqlite3_reset(st);
        }
        assert_int_equal(sqlite3_exec(f->db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    }
    sqlite3_finalize(st);
}

static int s_count(sqlite3 *db)
{
    sqlite3_stmt *st;
    int n;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void checkpoints_beside_the_writer(void **state)
{
    fixture_t *f = *state;
    ics_walckpt_stats_t st;
    ics_err_t err;
    long max_wal = 0;

    ics_walckpt_t *c = ics_walckpt_start(f->db, f->path, 64, &err);
    assert_non_null(c);
    /* 20,000 rows, about 20 MiB, in 2,000 commits, the WAL looked at as we
     * go: the checkpointer keeps it near its threshold, never near the
     * data's size. */
    for (int chunk = 0; chunk < 20; chunk++) {
        s_write(f, chunk * 1000, 100);
        long w = s_wal_size(f);
        if (w > max_wal)
            max_wal = w;
    }
    assert_true(ics_walckpt_idle(c, 10000));
    ics_walckpt_stats(c, &st);
    fprintf(stderr, "largest WAL %ld bytes, %llu checkpoints\n", max_wal,
            (unsigned long long)st.runs);
    assert_true(st.runs > 0);
    assert_int_equal(st.failures, 0);
    /* About four thresholds' worth of 4 KiB pages (1 MiB), with slack for a
     * busy machine; SQLite's own checkpoints would let it reach 4 MiB. */
    assert_true(max_wal < 3 * 1024 * 1024);
    assert_int_equal(s_count(f->db), 20000);

    /* Asked for: runs although the WAL is below the threshold, and copies
     * it all, so the next commit starts the WAL from its beginning again:
     * the file does not grow, and is not cut to nothing either. */
    uint64_t runs = st.runs;
    s_write(f, 20000, 1);
    long before = s_wal_size(f);
    assert_true(before > 0);
    ics_walckpt_request(c);
    assert_true(ics_walckpt_idle(c, 10000));
    ics_walckpt_stats(c, &st);
    assert_true(st.runs > runs);
    assert_int_equal(sqlite3_exec(f->db, "BEGIN; UPDATE t SET v = x'00' WHERE k = 0; COMMIT",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(s_wal_size(f), before);
    int log = -1;
    assert_int_equal(sqlite3_wal_checkpoint_v2(f->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log,
                                               NULL),
                     SQLITE_OK);
    assert_true(log > 0 && log <= 4); /* the one commit's frames, from the start */
    ics_walckpt_stop(&c);
    assert_null(c);
    ics_walckpt_stop(&c);

    /* Everything there for a connection opened afresh. */
    sqlite3 *again;
    assert_int_equal(sqlite3_open(f->path, &again), SQLITE_OK);
    assert_int_equal(s_count(again), 20010);
    sqlite3_close(again);
    /* And SQLite checkpoints by itself again once stopped. */
    s_write(f, 30000, 300);
    assert_true(s_wal_size(f) < 8 * 1024 * 1024);
}

static void a_file_that_cannot_be_opened_is_named(void **state)
{
    fixture_t *f = *state;
    ics_err_t err;
    char bad[160];

    snprintf(bad, sizeof bad, "%s/no/such/dir/t.db", f->dir);
    assert_null(ics_walckpt_start(f->db, bad, 64, &err));
    assert_non_null(strstr(err.msg, bad));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(checkpoints_beside_the_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(a_file_that_cannot_be_opened_is_named, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
