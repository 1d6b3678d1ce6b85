/*
 * Unit tests for the durable raft store: every test runs against a fresh
 * database in its own mkdtemp directory, reopens the file to prove what it
 * checks was on disk, and frees loaded memory exactly the way raft does, so
 * that AddressSanitizer catches a leak or a double free in the ownership
 * rules.
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
#include <unistd.h>

#include "store.h"

typedef struct {
    char dir[64];
    char path[128];
    ics_store_t *store;
    long heap_base; /* live raft blocks before the test */
} s_fixture_t;

typedef struct {
    raft_term term;
    raft_id vote;
    struct raft_snapshot *snapshot;
    raft_index start;
    struct raft_entry *entries;
    size_t n;
} s_loaded_t;

/* raft's heap for the tests: counts live raft_malloc blocks so each test can
 * prove it got back every byte raft would free, and zeroes new blocks so the
 * padding raft_configuration_encode leaves unset compares equal. */
static long s_heap_live;

static void *s_heap_malloc(void *data, size_t size)
{
    void *p = calloc(1, size > 0 ? size : 1);

    (void)data;
    s_heap_live += p != NULL;
    return p;
}

static void s_heap_free(void *data, void *ptr)
{
    (void)data;
    s_heap_live -= ptr != NULL;
    free(ptr);
}

static void *s_heap_calloc(void *data, size_t nmemb, size_t size)
{
    void *p = calloc(nmemb > 0 ? nmemb : 1, size > 0 ? size : 1);

    (void)data;
    s_heap_live += p != NULL;
    return p;
}

static void *s_heap_realloc(void *data, void *ptr, size_t size)
{
    void *p = realloc(ptr, size > 0 ? size : 1);

    (void)data;
    s_heap_live += ptr == NULL && p != NULL;
    return p;
}

static void *s_heap_aligned_alloc(void *data, size_t alignment, size_t size)
{
    void *p = aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);

    (void)data;
    s_heap_live += p != NULL;
    return p;
}

static void s_heap_aligned_free(void *data, size_t alignment, void *ptr)
{
    (void)alignment;
    s_heap_free(data, ptr);
}

static struct raft_heap s_heap = {
    .malloc = s_heap_malloc,
    .free = s_heap_free,
    .calloc = s_heap_calloc,
    .realloc = s_heap_realloc,
    .aligned_alloc = s_heap_aligned_alloc,
    .aligned_free = s_heap_aligned_free,
};

/* Every test leaves only plain files (the database, its -wal and -shm, and
 * decoys) directly in its directory. */
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
    f->heap_base = s_heap_live;
    snprintf(f->dir, sizeof f->dir, "/tmp/test_store.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/raft.db", f->dir);
    f->store = ics_store_open(f->path, &err);
    if (f->store == NULL) {
        /* cmocka skips the teardown of a failed setup. */
        s_rmdir(f->dir);
        free(f);
        fail_msg("open: %s", err.msg);
    }
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    s_fixture_t *f = *state;
    long heap_base = f->heap_base;

    ics_store_close(&f->store);
    assert_null(f->store);
    s_rmdir(f->dir);
    free(f);
    /* Whatever the store handed out, the test freed the way raft would. */
    assert_int_equal(s_heap_live, heap_base);
    return 0;
}

static void s_reopen(s_fixture_t *f)
{
    ics_err_t err = {{0}};

    ics_store_close(&f->store);
    assert_null(f->store);
    f->store = ics_store_open(f->path, &err);
    if (f->store == NULL)
        fail_msg("reopen %s: %s", f->path, err.msg);
}

/* As raft's entryBatchesDestroy: each distinct batch once, then the array. */
static void s_entries_free(struct raft_entry *entries, size_t n)
{
    void *batch = NULL;

    if (entries == NULL) {
        assert_int_equal(n, 0);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        assert_non_null(entries[i].batch);
        if (entries[i].batch != batch) {
            batch = entries[i].batch;
            raft_free(batch);
        }
    }
    raft_free(entries);
}

/* As raft's snapshotDestroy. */
static void s_snapshot_free(struct raft_snapshot *s)
{
    if (s == NULL)
        return;
    raft_configuration_close(&s->configuration);
    for (unsigned i = 0; i < s->n_bufs; i++)
        raft_free(s->bufs[i].base);
    raft_free(s->bufs);
    raft_free(s);
}

static void s_load(s_fixture_t *f, s_loaded_t *l)
{
    ics_err_t err = {{0}};
    int rc;

    memset(l, 0xa5, sizeof *l); /* outputs must all be written */
    rc = ics_store_load(f->store, &l->term, &l->vote, &l->snapshot, &l->start,
                        &l->entries, &l->n, &err);
    if (rc != ICS_OK)
        fail_msg("load: %d %s", rc, err.msg);
    /* The layout raft relies on: one batch shared by every entry, each
     * entry's data inside it, laid end to end. */
    if (l->n == 0) {
        assert_null(l->entries);
    } else {
        uint8_t *batch = l->entries[0].batch;
        size_t off = 0;

        assert_non_null(batch);
        for (size_t i = 0; i < l->n; i++) {
            assert_ptr_equal(l->entries[i].batch, batch);
            assert_ptr_equal(l->entries[i].buf.base, batch + off);
            off += l->entries[i].buf.len;
        }
    }
    if (l->snapshot != NULL) {
        assert_int_equal(l->snapshot->n_bufs, 1);
        assert_non_null(l->snapshot->bufs);
        assert_non_null(l->snapshot->bufs[0].base);
    }
}

static void s_loaded_free(s_loaded_t *l)
{
    s_snapshot_free(l->snapshot);
    s_entries_free(l->entries, l->n);
    memset(l, 0, sizeof *l);
}

static void s_append_ok(s_fixture_t *f, raft_index first, const struct raft_entry *e,
                        unsigned n)
{
    ics_err_t err = {{0}};
    int rc = ics_store_append(f->store, first, e, n, &err);

    if (rc != ICS_OK)
        fail_msg("append at %llu: %d %s", first, rc, err.msg);
}

/* Entry i (1-based) of the synthetic logs: term i / 3 + 1, data "entry-<i>". */
static char s_data[64][16];

static struct raft_entry s_entry(raft_index i)
{
    struct raft_entry e;

    assert_true(i < 64);
    snprintf(s_data[i], sizeof s_data[i], "entry-%llu", i);
    e.term = i / 3 + 1;
    e.type = RAFT_COMMAND;
    e.buf.base = s_data[i];
    e.buf.len = strlen(s_data[i]);
    e.batch = NULL;
    return e;
}

static void s_append_range(s_fixture_t *f, raft_index first, raft_index last)
{
    struct raft_entry e[64];
    unsigned n = 0;

    for (raft_index i = first; i <= last; i++)
        e[n++] = s_entry(i);
    s_append_ok(f, first, e, n);
}

/* Loaded entries are exactly s_entry(start), s_entry(start + 1), ... */
static void s_assert_synthetic(const s_loaded_t *l, raft_index start, size_t n)
{
    assert_int_equal(l->start, start);
    assert_int_equal(l->n, n);
    for (size_t i = 0; i < n; i++) {
        struct raft_entry want = s_entry(start + i);

        assert_int_equal(l->entries[i].term, want.term);
        assert_int_equal(l->entries[i].type, want.type);
        assert_int_equal(l->entries[i].buf.len, want.buf.len);
        assert_memory_equal(l->entries[i].buf.base, want.buf.base, want.buf.len);
    }
}

static void s_assert_conf_equal(const struct raft_configuration *a,
                                const struct raft_configuration *b)
{
    assert_int_equal(a->n, b->n);
    for (unsigned i = 0; i < a->n; i++) {
        assert_true(a->servers[i].id == b->servers[i].id);
        assert_string_equal(a->servers[i].address, b->servers[i].address);
        assert_int_equal(a->servers[i].role, b->servers[i].role);
    }
}

static void s_conf_three(struct raft_configuration *c)
{
    raft_configuration_init(c);
    /* Out of id order, one id above INT64_MAX, and all three roles. */
    assert_int_equal(raft_configuration_add(c, 7, "tcp://node-b:5555", RAFT_VOTER), 0);
    assert_int_equal(raft_configuration_add(c, 0xF00000000000000Dull, "tcp://node-a:5555",
                                            RAFT_STANDBY), 0);
    assert_int_equal(raft_configuration_add(c, 2, "tcp://node-c:5555", RAFT_SPARE), 0);
}

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

static void test_fresh_is_pristine_and_empty(void **state)
{
    s_fixture_t *f = *state;
    s_loaded_t l;
    char mode[16];

    assert_true(ics_store_pristine(f->store));
    assert_int_equal(ics_store_last_index(f->store), 0);
    s_load(f, &l);
    assert_int_equal(l.term, 0);
    assert_int_equal(l.vote, 0);
    assert_null(l.snapshot);
    assert_int_equal(l.start, 1);
    assert_null(l.entries);
    assert_int_equal(l.n, 0);
    s_loaded_free(&l);

    s_sql_text(f->path, "PRAGMA journal_mode", mode, sizeof mode);
    assert_string_equal(mode, "wal");
    /* 2: incremental, so what a snapshot frees can be handed back. */
    s_sql_text(f->path, "PRAGMA auto_vacuum", mode, sizeof mode);
    assert_string_equal(mode, "2");

    /* Reopening an existing store must not recreate or reject it. */
    s_reopen(f);
    assert_true(ics_store_pristine(f->store));
    ics_store_close(NULL);
}

static void test_bootstrap(void **state)
{
    s_fixture_t *f = *state;
    struct raft_configuration conf;
    struct raft_buffer want = {NULL, 0};
    ics_err_t err = {{0}};
    s_loaded_t l;

    s_conf_three(&conf);
    assert_int_equal(raft_configuration_encode(&conf, &want), 0);
    assert_int_equal(ics_store_bootstrap(f->store, &conf, &err), ICS_OK);
    assert_false(ics_store_pristine(f->store));

    s_reopen(f);
    s_load(f, &l);
    assert_int_equal(l.term, 1);
    assert_int_equal(l.vote, 0);
    assert_null(l.snapshot);
    assert_int_equal(l.start, 1);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.entries[0].term, 1);
    assert_int_equal(l.entries[0].type, RAFT_CHANGE);
    assert_int_equal(l.entries[0].buf.len, want.len);
    assert_memory_equal(l.entries[0].buf.base, want.base, want.len);
    s_loaded_free(&l);
    assert_int_equal(ics_store_last_index(f->store), 1);

    assert_int_equal(ics_store_bootstrap(f->store, &conf, &err), ICS_EEXIST);
    assert_non_null(strstr(err.msg, f->path));

    raft_free(want.base);
    raft_configuration_close(&conf);
}

static void test_bootstrap_refused_after_term(void **state)
{
    s_fixture_t *f = *state;
    struct raft_configuration conf;
    ics_err_t err = {{0}};
    s_loaded_t l;

    /* Any raft state at all, here only a term, forbids bootstrapping. */
    s_conf_three(&conf);
    assert_int_equal(ics_store_set_term(f->store, 3, &err), ICS_OK);
    assert_false(ics_store_pristine(f->store));
    assert_int_equal(ics_store_bootstrap(f->store, &conf, &err), ICS_EEXIST);
    s_load(f, &l);
    assert_int_equal(l.term, 3);
    assert_int_equal(l.n, 0);
    s_loaded_free(&l);
    raft_configuration_close(&conf);
}

static void test_bootstrap_refused_in_batch(void **state)
{
    s_fixture_t *f = *state;
    struct raft_configuration conf;
    ics_err_t err = {{0}};

    /* It would not be durable on return inside a batch. */
    s_conf_three(&conf);
    assert_int_equal(ics_store_begin(f->store, &err), ICS_OK);
    assert_int_equal(ics_store_bootstrap(f->store, &conf, &err), ICS_EINVAL);
    assert_non_null(strstr(err.msg, f->path));
    ics_store_rollback(f->store);
    assert_true(ics_store_pristine(f->store));
    assert_int_equal(ics_store_bootstrap(f->store, &conf, &err), ICS_OK);
    assert_int_equal(ics_store_last_index(f->store), 1);
    raft_configuration_close(&conf);
}

static void test_term_and_vote(void **state)
{
    s_fixture_t *f = *state;
    ics_err_t err = {{0}};
    s_loaded_t l;

    assert_int_equal(ics_store_set_term(f->store, 5, &err), ICS_OK);
    assert_int_equal(ics_store_set_vote(f->store, 3, &err), ICS_OK);
    s_reopen(f);
    s_load(f, &l);
    assert_int_equal(l.term, 5);
    assert_int_equal(l.vote, 3);
    s_loaded_free(&l);

    assert_int_equal(ics_store_set_term(f->store, 6, &err), ICS_OK);
    s_reopen(f);
    s_load(f, &l);
    assert_int_equal(l.term, 6);
    assert_int_equal(l.vote, 0);
    s_loaded_free(&l);

    /* Ids may be raft_digest hashes, above INT64_MAX. */
    assert_int_equal(ics_store_set_vote(f->store, 0xF00000000000000Dull, &err), ICS_OK);
    s_reopen(f);
    s_load(f, &l);
    assert_true(l.vote == 0xF00000000000000Dull);
    s_loaded_free(&l);

    /* Inside a batch these could not be durable on return. */
    assert_int_equal(ics_store_begin(f->store, &err), ICS_OK);
    assert_int_equal(ics_store_set_term(f->store, 9, &err), ICS_EINVAL);
    assert_int_equal(ics_store_set_vote(f->store, 9, &err), ICS_EINVAL);
    ics_store_rollback(f->store);
    s_load(f, &l);
    assert_int_equal(l.term, 6);
    s_loaded_free(&l);
}

static void test_append_batch_survives_reopen(void **state)
{
    s_fixture_t *f = *state;
    static char big[70000];
    static char cmd[] = "command";
    static char barrier[] = "barrier!";
    struct raft_entry e[4];
    ics_err_t err = {{0}};
    s_loaded_t l;

    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 31 + 7);
    e[0] = (struct raft_entry){.term = 1, .type = RAFT_CHANGE,
                               .buf = {barrier, sizeof barrier - 1}};
    e[1] = (struct raft_entry){.term = 2, .type = RAFT_COMMAND, .buf = {cmd, sizeof cmd}};
    e[2] = (struct raft_entry){.term = 2, .type = RAFT_BARRIER, .buf = {NULL, 0}};
    e[3] = (struct raft_entry){.term = 4, .type = RAFT_COMMAND, .buf = {big, sizeof big}};

    assert_int_equal(ics_store_begin(f->store, &err), ICS_OK);
    assert_int_equal(ics_store_begin(f->store, &err), ICS_EINVAL);
    s_append_ok(f, 1, e, 2);
    s_append_ok(f, 3, e + 2, 2);
    assert_int_equal(ics_store_last_index(f->store), 4);
    assert_int_equal(ics_store_commit(f->store, &err), ICS_OK);
    assert_int_equal(ics_store_commit(f->store, &err), ICS_EINVAL);

    s_reopen(f);
    s_load(f, &l);
    assert_int_equal(l.start, 1);
    assert_int_equal(l.n, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(l.entries[i].term, e[i].term);
        assert_int_equal(l.entries[i].type, e[i].type);
        assert_int_equal(l.entries[i].buf.len, e[i].buf.len);
        if (e[i].buf.len > 0)
            assert_memory_equal(l.entries[i].buf.base, e[i].buf.base, e[i].buf.len);
    }
    s_loaded_free(&l);

    /* Appending over index 2 replaces it and leaves 3 and 4 alone. */
    e[0] = (struct raft_entry){.term = 3, .type = RAFT_COMMAND, .buf = {cmd, 3}};
    s_append_ok(f, 2, e, 1);
    s_reopen(f);
    s_load(f, &l);
    assert_int_equal(l.n, 4);
    assert_int_equal(l.entries[1].term, 3);
    assert_int_equal(l.entries[1].buf.len, 3);
    assert_memory_equal(l.entries[1].buf.base, "com", 3);
    assert_int_equal(l.entries[2].type, RAFT_BARRIER);
    assert_int_equal(l.entries[3].buf.len, sizeof big);
    s_loaded_free(&l);

    /* A gap would break raft's entries[i] = start_index + i. */
    assert_int_equal(ics_store_append(f->store, 6, e, 1, &err), ICS_EINVAL);
    assert_non_null(strstr(err.msg, f->path));
    assert_int_equal(ics_store_append(f->store, 0, e, 1, &err), ICS_EINVAL);
    assert_int_equal(ics_store_last_index(f->store), 4);
    assert_int_equal(ics_store_append(f->store, 5, e, 0, &err), ICS_OK);
}

static void test_rollback_discards(void **state)
{
    s_fixture_t *f = *state;
    ics_err_t err = {{0}};
    s_loaded_t l;

    s_append_range(f, 1, 2);
    assert_int_equal(ics_store_begin(f->store, &err), ICS_OK);
    s_append_range(f, 3, 4);
    assert_int_equal(ics_store_truncate(f->store, 1, &err), ICS_OK);
    assert_int_equal(ics_store_last_index(f->store), 0);
    ics_store_rollback(f->store);
    assert_int_equal(ics_store_last_index(f->store), 2);
    ics_store_rollback(f->store); /* no batch open: a no-op */

    s_reopen(f);
    s_load(f, &l);
    s_assert_synthetic(&l, 1, 2);
    s_loaded_free(&l);

    /* A failed call inside a batch undoes only itself; the rest commits. */
    assert_int_equal(ics_store_begin(f->store, &err), ICS_OK);
    s_append_range(f, 3, 3);
    {
        struct raft_entry e = s_entry(9);
        assert_int_equal(ics_store_append(f->store, 9, &e, 1, &err), ICS_EINVAL);
    }
    s_append_range(f, 4, 5);
    assert_int_equal(ics_store_commit(f->store, &err), ICS_OK);

    /* Closing with a batch open must not commit it. */
    assert_int_equal(ics_store_begin(f->store, &err), ICS_OK);
    s_append_range(f, 6, 7);
    s_reopen(f);
    s_load(f, &l);
    s_assert_synthetic(&l, 1, 5);
    s_loaded_free(&l);
}

static void test_truncate(void **state)
{
    s_fixture_t *f = *state;
    ics_err_t err = {{0}};
    s_loaded_t l;

    s_append_range(f, 1, 5);
    assert_int_equal(ics_store_truncate(f->store, 3, &err), ICS_OK);
    assert_int_equal(ics_store_last_index(f->store), 2);
    assert_int_equal(ics_store_truncate(f->store, 10, &err), ICS_OK);
    s_reopen(f);
    s_load(f, &l);
    s_assert_synthetic(&l, 1, 2);
    s_loaded_free(&l);

    /* The usual conflict resolution: truncate, then append new entries. */
    assert_int_equal(ics_store_begin(f->store, &err), ICS_OK);
    assert_int_equal(ics_store_truncate(f->store, 2, &err), ICS_OK);
    s_append_range(f, 2, 4);
    assert_int_equal(ics_store_commit(f->store, &err), ICS_OK);
    s_reopen(f);
    s_load(f, &l);
    s_assert_synthetic(&l, 1, 4);
    s_loaded_free(&l);
}

static void test_snapshot_trailing(void **state)
{
    s_fixture_t *f = *state;
    static char part1[] = "state-", part3[] = "machine";
    char whole[sizeof part1 + sizeof part3];
    struct raft_buffer bufs[3] = {{part1, sizeof part1 - 1}, {NULL, 0},
                                  {part3, sizeof part3 - 1}};
    struct raft_snapshot snap = {0};
    struct raft_snapshot *got = NULL;
    ics_err_t err = {{0}};
    s_loaded_t l;

    snprintf(whole, sizeof whole, "%s%s", part1, part3);
    s_append_range(f, 1, 10);
    snap.index = 8;
    snap.term = 3;
    snap.configuration_index = 6;
    s_conf_three(&snap.configuration);
    snap.bufs = bufs;
    snap.n_bufs = 3;

    /* Keeps entries after 8 - 3 = 5: 6..10. */
    assert_int_equal(ics_store_snapshot_put(f->store, &snap, 3, &err), ICS_OK);
    assert_int_equal(ics_store_last_index(f->store), 10);
    s_reopen(f);
    s_load(f, &l);
    assert_non_null(l.snapshot);
    assert_int_equal(l.snapshot->index, 8);
    assert_int_equal(l.snapshot->term, 3);
    assert_int_equal(l.snapshot->configuration_index, 6);
    s_assert_conf_equal(&l.snapshot->configuration, &snap.configuration);
    assert_int_equal(l.snapshot->bufs[0].len, strlen(whole));
    assert_memory_equal(l.snapshot->bufs[0].base, whole, strlen(whole));
    s_assert_synthetic(&l, 6, 5);
    s_loaded_free(&l);

    assert_int_equal(ics_store_snapshot_get(f->store, &got, &err), ICS_OK);
    assert_non_null(got);
    assert_int_equal(got->index, 8);
    assert_int_equal(got->term, 3);
    assert_int_equal(got->configuration_index, 6);
    s_assert_conf_equal(&got->configuration, &snap.configuration);
    assert_int_equal(got->n_bufs, 1);
    assert_int_equal(got->bufs[0].len, strlen(whole));
    assert_memory_equal(got->bufs[0].base, whole, strlen(whole));
    s_snapshot_free(got);

    /* Only entries the snapshot covers left: raft starts after it. */
    assert_int_equal(ics_store_truncate(f->store, 9, &err), ICS_OK);
    assert_int_equal(ics_store_last_index(f->store), 8);
    s_reopen(f);
    s_load(f, &l);
    assert_non_null(l.snapshot);
    assert_int_equal(l.start, 9);
    assert_int_equal(l.n, 0);
    assert_null(l.entries);
    s_loaded_free(&l);
    s_append_range(f, 9, 9);
    s_load(f, &l);
    s_assert_synthetic(&l, 6, 4); /* trailing 6..8 come back with 9 */
    s_loaded_free(&l);

    raft_configuration_close(&snap.configuration);
}

static void test_snapshot_small_index_keeps_log(void **state)
{
    s_fixture_t *f = *state;
    static char data[] = "x";
    struct raft_buffer buf = {data, 1};
    struct raft_snapshot snap = {0};
    ics_err_t err = {{0}};
    s_loaded_t l;

    s_append_range(f, 1, 4);
    snap.index = 3;
    snap.term = 2;
    snap.configuration_index = 1;
    s_conf_three(&snap.configuration);
    snap.bufs = &buf;
    snap.n_bufs = 1;
    assert_int_equal(ics_store_snapshot_put(f->store, &snap, 5, &err), ICS_OK);
    s_reopen(f);
    s_load(f, &l);
    assert_non_null(l.snapshot);
    s_assert_synthetic(&l, 1, 4);
    s_loaded_free(&l);

    /* Boundary: index - trailing = 1 drops exactly entry 1. */
    assert_int_equal(ics_store_snapshot_put(f->store, &snap, 2, &err), ICS_OK);
    s_load(f, &l);
    s_assert_synthetic(&l, 2, 3);
    s_loaded_free(&l);
    raft_configuration_close(&snap.configuration);
}

static void test_installed_snapshot_replaces_log(void **state)
{
    s_fixture_t *f = *state;
    static char first[] = "first snapshot", second[] = "second";
    struct raft_buffer buf = {first, sizeof first - 1};
    struct raft_snapshot snap = {0};
    struct raft_snapshot *got = NULL;
    ics_err_t err = {{0}};
    s_loaded_t l;

    s_append_range(f, 1, 5);
    snap.index = 20;
    snap.term = 7;
    snap.configuration_index = 18;
    s_conf_three(&snap.configuration);
    snap.bufs = &buf;
    snap.n_bufs = 1;
    assert_int_equal(ics_store_begin(f->store, &err), ICS_OK);
    assert_int_equal(ics_store_snapshot_put(f->store, &snap, 0, &err), ICS_OK);
    assert_int_equal(ics_store_commit(f->store, &err), ICS_OK);
    assert_int_equal(ics_store_last_index(f->store), 20);
    assert_false(ics_store_pristine(f->store));

    s_reopen(f);
    s_load(f, &l);
    assert_non_null(l.snapshot);
    assert_int_equal(l.snapshot->index, 20);
    assert_int_equal(l.start, 21);
    assert_int_equal(l.n, 0);
    assert_null(l.entries);
    s_loaded_free(&l);

    /* The log resumes right after the snapshot and nowhere else. */
    {
        struct raft_entry e = s_entry(1);
        assert_int_equal(ics_store_append(f->store, 22, &e, 1, &err), ICS_EINVAL);
        s_append_ok(f, 21, &e, 1);
    }
    assert_int_equal(ics_store_last_index(f->store), 21);

    /* A newer snapshot replaces the old one, configuration included. */
    raft_configuration_close(&snap.configuration);
    raft_configuration_init(&snap.configuration);
    assert_int_equal(raft_configuration_add(&snap.configuration, 42, "tcp://solo:1",
                                            RAFT_VOTER), 0);
    snap.index = 30;
    snap.term = 8;
    snap.configuration_index = 25;
    buf = (struct raft_buffer){second, sizeof second - 1};
    assert_int_equal(ics_store_snapshot_put(f->store, &snap, 0, &err), ICS_OK);
    s_reopen(f);
    assert_int_equal(ics_store_snapshot_get(f->store, &got, &err), ICS_OK);
    assert_non_null(got);
    assert_int_equal(got->index, 30);
    assert_int_equal(got->term, 8);
    assert_int_equal(got->configuration_index, 25);
    s_assert_conf_equal(&got->configuration, &snap.configuration);
    assert_int_equal(got->bufs[0].len, sizeof second - 1);
    assert_memory_equal(got->bufs[0].base, second, sizeof second - 1);
    s_snapshot_free(got);
    s_load(f, &l);
    assert_int_equal(l.start, 31);
    assert_int_equal(l.n, 0);
    s_loaded_free(&l);
    raft_configuration_close(&snap.configuration);
}

static void test_snapshot_get_none_and_empty(void **state)
{
    s_fixture_t *f = *state;
    struct raft_snapshot *got = (struct raft_snapshot *)&got; /* must be overwritten */
    ics_err_t err = {{0}};

    assert_int_equal(ics_store_snapshot_get(f->store, &got, &err), ICS_OK);
    assert_null(got);

    /* An empty snapshot (no data, no servers) still comes back in raft's
     * shape: one buffer with a valid base. */
    {
        struct raft_snapshot empty = {.index = 1, .term = 1};

        raft_configuration_init(&empty.configuration);
        assert_int_equal(ics_store_snapshot_put(f->store, &empty, 0, &err), ICS_OK);
        assert_int_equal(ics_store_snapshot_get(f->store, &got, &err), ICS_OK);
        assert_non_null(got);
        assert_int_equal(got->index, 1);
        assert_int_equal(got->configuration.n, 0);
        assert_int_equal(got->n_bufs, 1);
        assert_non_null(got->bufs[0].base);
        assert_int_equal(got->bufs[0].len, 0);
        s_snapshot_free(got);
    }
}

/* Frees loaded memory in the order raft_start does: the FSM takes the
 * snapshot data, raft keeps the configuration and frees bufs and the struct;
 * the log keeps the batch and restoreEntries frees the array. */
static void test_load_memory_raft_style(void **state)
{
    s_fixture_t *f = *state;
    static char data[] = "fsm";
    struct raft_buffer buf = {data, 3};
    struct raft_snapshot snap = {0};
    struct raft_configuration kept;
    void *fsm_data, *log_batch;
    ics_err_t err = {{0}};
    s_loaded_t l;

    s_append_range(f, 1, 6);
    snap.index = 4;
    snap.term = 2;
    snap.configuration_index = 1;
    s_conf_three(&snap.configuration);
    snap.bufs = &buf;
    snap.n_bufs = 1;
    assert_int_equal(ics_store_snapshot_put(f->store, &snap, 2, &err), ICS_OK);
    s_load(f, &l);
    assert_int_equal(l.start, 3);
    assert_int_equal(l.n, 4);

    fsm_data = l.snapshot->bufs[0].base;
    kept = l.snapshot->configuration;
    raft_free(l.snapshot->bufs);
    raft_free(l.snapshot);
    log_batch = l.entries[0].batch;
    raft_free(l.entries);

    assert_memory_equal(fsm_data, "fsm", 3);
    raft_free(fsm_data);
    s_assert_conf_equal(&kept, &snap.configuration);
    raft_configuration_close(&kept);
    raft_free(log_batch);
    raft_configuration_close(&snap.configuration);
}

static void s_sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void s_load_fails(s_fixture_t *f, int want, const char *what)
{
    raft_term term;
    raft_id vote;
    struct raft_snapshot *snap = NULL;
    raft_index start;
    struct raft_entry *entries = NULL;
    size_t n = 99;
    ics_err_t err = {{0}};

    assert_int_equal(ics_store_load(f->store, &term, &vote, &snap, &start, &entries, &n,
                                    &err), want);
    assert_null(snap);
    assert_null(entries);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err.msg, f->path));
    assert_non_null(strstr(err.msg, what));
}

/* Damage done behind the store's back is reported, not handed to raft (which
 * would assert), and the error paths free what they had built. */
static void test_corrupt_store_is_reported(void **state)
{
    s_fixture_t *f = *state;
    struct raft_snapshot *got = NULL;
    ics_err_t err = {{0}};

    ics_store_close(&f->store);
    s_sql_exec(f->path, "INSERT INTO entries (idx, term, type, data) VALUES"
                        " (1, 1, 1, x'00'), (2, 1, 1, x'00'), (4, 1, 1, x'00')");
    s_reopen(f);
    s_load_fails(f, ICS_EMALFORMED, "gaps");

    ics_store_close(&f->store);
    s_sql_exec(f->path, "DELETE FROM entries WHERE idx < 3");
    s_reopen(f);
    s_load_fails(f, ICS_EMALFORMED, "log starts at 4");

    ics_store_close(&f->store);
    s_sql_exec(f->path, "INSERT INTO snapshot (id, idx, term, conf_index, data)"
                        " VALUES (0, 5, 1, 1, x'0102');"
                        "INSERT INTO snapshot_servers VALUES (0, 9, 'a', 1), (1, 9, 'b', 1)");
    s_reopen(f);
    s_load_fails(f, ICS_EMALFORMED, "server 9");
    assert_int_equal(ics_store_snapshot_get(f->store, &got, &err), ICS_EMALFORMED);
    assert_null(got);

    ics_store_close(&f->store);
    s_sql_exec(f->path, "DELETE FROM meta");
    s_reopen(f);
    s_load_fails(f, ICS_EMALFORMED, "term and vote are missing");
    assert_int_equal(ics_store_set_term(f->store, 2, &err), ICS_EMALFORMED);
}

/* ---- corruption at rest ------------------------------------------------- */

/* Flips one bit of byte `at` of every copy of needle in the file at path
 * (the database; the WAL is checkpointed away by closing the store first),
 * as a failing disk would, behind SQLite's back. Returns how many. */
static int s_flip_raw(const char *path, const char *needle, size_t at)
{
    FILE *fp = fopen(path, "r+b");
    size_t nlen = strlen(needle), len;
    uint8_t *buf;
    int hits = 0;

    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    len = (size_t)ftell(fp);
    buf = malloc(len);
    assert_non_null(buf);
    rewind(fp);
    assert_int_equal(fread(buf, 1, len, fp), len);
    for (size_t i = 0; i + nlen <= len; i++) {
        if (memcmp(buf + i, needle, nlen) == 0) {
            buf[i + at] ^= 0x04;
            hits++;
        }
    }
    rewind(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    fclose(fp);
    free(buf);
    return hits;
}

/* What the operator reads: what is damaged, where, and what to do. */
static void s_assert_recovery_told(const char *msg, const char *what)
{
    assert_non_null(strstr(msg, what));
    assert_non_null(strstr(msg, "checksum"));
    assert_non_null(strstr(msg, "move this group's data directory away"));
    assert_non_null(strstr(msg, "resyncs the group from its partners"));
}

static void test_entry_flipped_at_rest_is_refused(void **state)
{
    s_fixture_t *f = *state;
    ics_err_t err = {{0}};
    raft_term term;
    raft_id vote;
    struct raft_snapshot *snap = NULL;
    raft_index start;
    struct raft_entry *entries = NULL;
    size_t n = 0;
    s_loaded_t l;

    s_append_range(f, 1, 9);
    ics_store_close(&f->store);
    /* One bit of entry 7's payload ("entry-7" becomes "entry-3"). */
    assert_int_equal(s_flip_raw(f->path, "entry-7", 6), 1);
    s_reopen(f);
    assert_false(ics_store_corrupt(f->store));
    assert_int_equal(ics_store_load(f->store, &term, &vote, &snap, &start, &entries, &n, &err),
                     ICS_EMALFORMED);
    assert_null(entries);
    assert_int_equal(n, 0);
    s_assert_recovery_told(err.msg, "log entry 7 fails its checksum");
    assert_non_null(strstr(err.msg, f->path));
    assert_true(ics_store_corrupt(f->store));

    /* The same through SQLite: a term changed in place, the data intact. */
    ics_store_close(&f->store);
    assert_int_equal(s_flip_raw(f->path, "entry-3", 6), 2); /* 3 and the old 7 */
    s_sql_exec(f->path, "UPDATE entries SET term = term + 1 WHERE idx = 2");
    s_reopen(f);
    s_load_fails(f, ICS_EMALFORMED, "log entry 2 fails its checksum");

    /* Repaired (rewritten by raft, say) it loads again. */
    s_append_range(f, 1, 9);
    s_load(f, &l);
    s_assert_synthetic(&l, 1, 9);
    s_loaded_free(&l);
}

static void test_snapshot_flipped_at_rest_is_refused(void **state)
{
    s_fixture_t *f = *state;
    struct raft_snapshot snap = {.index = 5, .term = 2, .configuration_index = 1};
    struct raft_snapshot *got = NULL;
    char data[] = "snapshot-data-0123456789";
    struct raft_buffer buf = {data, sizeof data};
    ics_err_t err = {{0}};

    snap.bufs = &buf;
    snap.n_bufs = 1;
    s_conf_three(&snap.configuration);
    assert_int_equal(ics_store_snapshot_put(f->store, &snap, 0, &err), ICS_OK);
    raft_configuration_close(&snap.configuration);
    assert_int_equal(ics_store_snapshot_get(f->store, &got, &err), ICS_OK);
    s_snapshot_free(got);
    got = NULL;

    ics_store_close(&f->store);
    assert_int_equal(s_flip_raw(f->path, "snapshot-data", 3), 1);
    s_reopen(f);
    s_load_fails(f, ICS_EMALFORMED, "the snapshot at index 5 fails its checksum");
    assert_int_equal(ics_store_snapshot_get(f->store, &got, &err), ICS_EMALFORMED);
    assert_null(got);
    s_assert_recovery_told(err.msg, "snapshot");

    /* The configuration is covered too: an address changed in place. */
    ics_store_close(&f->store);
    assert_int_equal(s_flip_raw(f->path, "snatshot-data", 3), 1); /* undo */
    s_reopen(f);
    assert_int_equal(ics_store_snapshot_get(f->store, &got, &err), ICS_OK);
    s_snapshot_free(got);
    got = NULL;
    ics_store_close(&f->store);
    s_sql_exec(f->path, "UPDATE snapshot_servers SET address = 'tcp://node-x:5555'"
                        " WHERE pos = 1");
    s_reopen(f);
    s_load_fails(f, ICS_EMALFORMED, "the snapshot at index 5 fails its checksum");
}

/* A damaged page (not just a value) is refused the same way. */
static void test_damaged_page_is_refused(void **state)
{
    s_fixture_t *f = *state;
    ics_err_t err = {{0}};
    raft_term term;
    raft_id vote;
    struct raft_snapshot *snap = NULL;
    raft_index start;
    struct raft_entry *entries = NULL;
    size_t n = 0;
    int rc;

    s_append_range(f, 1, 9);
    ics_store_close(&f->store);
    {
        /* Page 2 onward: overwrite the first b-tree page's header. */
        FILE *fp = fopen(f->path, "r+b");
        uint8_t junk[64];

        memset(junk, 0xee, sizeof junk);
        assert_non_null(fp);
        assert_int_equal(fseek(fp, 4096, SEEK_SET), 0);
        assert_int_equal(fwrite(junk, 1, sizeof junk, fp), sizeof junk);
        assert_int_equal(fseek(fp, 8192, SEEK_SET), 0);
        assert_int_equal(fwrite(junk, 1, sizeof junk, fp), sizeof junk);
        fclose(fp);
    }
    f->store = ics_store_open(f->path, &err);
    if (f->store == NULL) {
        /* Refused at open: say so clearly. */
        assert_non_null(strstr(err.msg, "move this group's data directory away"));
        /* Leave a file the teardown can remove. */
        assert_int_equal(unlink(f->path), 0);
        s_reopen(f);
        return;
    }
    rc = ics_store_load(f->store, &term, &vote, &snap, &start, &entries, &n, &err);
    assert_int_equal(rc, ICS_EMALFORMED);
    assert_non_null(strstr(err.msg, "move this group's data directory away"));
    assert_true(ics_store_corrupt(f->store));
}

/* Files of schema 1 (no checksums) are upgraded when opened: checksums
 * are computed for what they hold, and damage after that is caught. */
static void test_schema_1_is_migrated(void **state)
{
    s_fixture_t *f = *state;
    char version[16];
    s_loaded_t l;
    struct raft_snapshot snap = {.index = 3, .term = 1, .configuration_index = 1};
    char data[] = "old-snapshot";
    struct raft_buffer buf = {data, sizeof data};
    ics_err_t err = {{0}};

    snap.bufs = &buf;
    snap.n_bufs = 1;
    s_conf_three(&snap.configuration);
    assert_int_equal(ics_store_snapshot_put(f->store, &snap, 0, &err), ICS_OK);
    raft_configuration_close(&snap.configuration);
    s_append_range(f, 4, 12);
    ics_store_close(&f->store);
    /* Back to what schema 1 was. */
    s_sql_exec(f->path, "ALTER TABLE entries DROP COLUMN sum;"
                        "ALTER TABLE snapshot DROP COLUMN sum;"
                        "PRAGMA user_version = 1");
    s_reopen(f);
    s_sql_text(f->path, "PRAGMA user_version", version, sizeof version);
    assert_string_equal(version, "2");
    s_load(f, &l);
    assert_non_null(l.snapshot);
    assert_int_equal(l.snapshot->index, 3);
    s_assert_synthetic(&l, 4, 9);
    s_loaded_free(&l);
    ics_store_close(&f->store);
    assert_int_equal(s_flip_raw(f->path, "entry-11", 6), 1);
    s_reopen(f);
    s_load_fails(f, ICS_EMALFORMED, "log entry 11 fails its checksum");
}

/* The probe writes: it fails where writes fail. */
static void test_probe(void **state)
{
    s_fixture_t *f = *state;
    ics_err_t err = {{0}};

    assert_int_equal(ics_store_probe(f->store, &err), ICS_OK);
    assert_int_equal(ics_store_begin(f->store, &err), ICS_OK);
    assert_int_equal(ics_store_probe(f->store, &err), ICS_EINVAL);
    ics_store_rollback(f->store);
}

/* ---- disk use --------------------------------------------------------- */

/* The store driven as raft drives it under the default configuration
 * (snapshot_threshold 1024, snapshot_trailing 2048): batches of 200-byte
 * entries and, every 1024 entries, a snapshot put inside the batch whose data
 * grows with the log, as the state machine's does (its audit trail keeps
 * every entry). */
#define DISK_ENTRIES 16384
#define DISK_ENTRY_BYTES 200
#define DISK_BATCH 64
#define DISK_THRESHOLD 1024
#define DISK_TRAILING 2048
#define DISK_SNAPSHOT_BYTES_PER_ENTRY 128

static long s_file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* Bytes on disk: the database and its WAL. */
static long s_disk_use(const s_fixture_t *f, long *db, long *wal)
{
    char path[160];

    snprintf(path, sizeof path, "%s-wal", f->path);
    *db = s_file_size(f->path);
    *wal = s_file_size(path);
    return *db + *wal;
}

/* Appends entries first..first+n-1, each DISK_ENTRY_BYTES of data. */
static void s_append_sized(s_fixture_t *f, raft_index first, unsigned n)
{
    static char data[DISK_BATCH][DISK_ENTRY_BYTES];
    struct raft_entry e[DISK_BATCH];

    assert_true(n <= DISK_BATCH);
    for (unsigned i = 0; i < n; i++) {
        memset(data[i], 'a' + (int)((first + i) % 26), sizeof data[i]);
        e[i] = (struct raft_entry){.term = 1, .type = RAFT_COMMAND,
                                   .buf = {data[i], sizeof data[i]}};
    }
    s_append_ok(f, first, e, n);
}

/* Puts a snapshot at index with DISK_SNAPSHOT_BYTES_PER_ENTRY bytes of data
 * per entry it covers; returns the data's size. */
static size_t s_snapshot_sized(s_fixture_t *f, raft_index index, unsigned trailing)
{
    struct raft_snapshot snap = {.index = index, .term = 1, .configuration_index = 1};
    struct raft_buffer buf;
    ics_err_t err = {{0}};
    int rc;

    buf.len = (size_t)index * DISK_SNAPSHOT_BYTES_PER_ENTRY;
    buf.base = malloc(buf.len);
    assert_non_null(buf.base);
    memset(buf.base, (int)(index % 251), buf.len);
    snap.bufs = &buf;
    snap.n_bufs = 1;
    raft_configuration_init(&snap.configuration);
    assert_int_equal(raft_configuration_add(&snap.configuration, 1, "tcp://a:1", RAFT_VOTER),
                     0);
    rc = ics_store_snapshot_put(f->store, &snap, trailing, &err);
    raft_configuration_close(&snap.configuration);
    free(buf.base);
    if (rc != ICS_OK)
        fail_msg("snapshot put at %llu: %d %s", index, rc, err.msg);
    return buf.len;
}

/* What a store could not do with less: the latest snapshot and the entries
 * kept after pruning, with room for SQLite's pages and b-tree. */
static long s_disk_bound(size_t snapshot_bytes, raft_index kept_entries)
{
    long live = (long)snapshot_bytes + (long)kept_entries * DISK_ENTRY_BYTES;

    return live + live / 4 + 128 * 1024;
}

static void test_snapshots_keep_files_small(void **state)
{
    s_fixture_t *f = *state;
    ics_err_t err = {{0}};
    long db = 0, wal = 0, used, peak = 0;
    size_t snapshot_bytes = 0;
    s_loaded_t l;

    raft_index snapped = 0;
    for (raft_index first = 1; first <= DISK_ENTRIES; first += DISK_BATCH) {
        raft_index last = first + DISK_BATCH - 1;

        assert_int_equal(ics_store_begin(f->store, &err), ICS_OK);
        s_append_sized(f, first, DISK_BATCH);
        if (last % DISK_THRESHOLD == 0)
            snapshot_bytes = s_snapshot_sized(f, last, DISK_TRAILING);
        assert_int_equal(ics_store_commit(f->store, &err), ICS_OK);
        used = s_disk_use(f, &db, &wal);
        if (used > peak)
            peak = used;
        if (snapped != 0) {
            /* The commit after a snapshot, once the checkpointer has
             * copied the WAL: the snapshot's predecessor and the entries it
             * covers are gone from the database file, not only from the
             * tables. The WAL keeps its size, to be written over from its
             * beginning (walckpt.h); the peak below bounds it. */
            raft_index kept = (snapped < DISK_TRAILING ? snapped : DISK_TRAILING) + DISK_BATCH;
            if (db > s_disk_bound(snapshot_bytes, kept))
                fail_msg("after the snapshot at %llu: database %ld bytes (WAL %ld) for a "
                         "%zu-byte snapshot and %llu entries", snapped, db, wal,
                         snapshot_bytes, kept);
            snapped = 0;
        }
        if (last % DISK_THRESHOLD == 0) {
            assert_true(ics_store_settle(f->store, 10000));
            snapped = last;
        }
    }
    print_message("disk use after %d entries: database %ld + WAL %ld bytes (peak %ld) for "
                  "a %zu-byte snapshot and %d trailing entries\n", DISK_ENTRIES, db, wal,
                  peak, snapshot_bytes, DISK_TRAILING);
    /* Between snapshots the database holds at most a threshold's worth of
     * appends more, never two snapshots; the WAL, copied back on the
     * checkpointer's thread, may still hold the newest snapshot's pages and
     * the 1 MiB (256 pages) it is left to gather before it is copied. */
    assert_true(peak < s_disk_bound(snapshot_bytes, DISK_TRAILING + DISK_THRESHOLD) +
                           (long)snapshot_bytes + 1024 * 1024);

    /* Nothing raft needs was given up for it: with one more batch after
     * the snapshot, the trailing entries come back with it. */
    s_append_sized(f, DISK_ENTRIES + 1, DISK_BATCH);
    s_reopen(f);
    s_load(f, &l);
    assert_non_null(l.snapshot);
    assert_int_equal(l.snapshot->index, DISK_ENTRIES);
    assert_int_equal(l.snapshot->bufs[0].len, snapshot_bytes);
    assert_int_equal(l.start, DISK_ENTRIES - DISK_TRAILING + 1);
    assert_int_equal(l.n, DISK_TRAILING + DISK_BATCH);
    s_loaded_free(&l);
}

/* Files made before auto-vacuum was switched on are not rewritten: they
 * keep working, reusing their free pages. */
static void test_store_without_auto_vacuum(void **state)
{
    s_fixture_t *f = *state;
    char mode[16];
    s_loaded_t l;

    ics_store_close(&f->store);
    s_sql_exec(f->path, "PRAGMA auto_vacuum = NONE; VACUUM");
    s_sql_text(f->path, "PRAGMA auto_vacuum", mode, sizeof mode);
    assert_string_equal(mode, "0");
    s_reopen(f);
    for (raft_index first = 1; first <= 8 * DISK_BATCH; first += DISK_BATCH) {
        s_append_sized(f, first, DISK_BATCH);
        s_snapshot_sized(f, first + DISK_BATCH - 1, DISK_BATCH);
    }
    s_append_sized(f, 8 * DISK_BATCH + 1, 1);
    s_reopen(f);
    s_load(f, &l);
    assert_non_null(l.snapshot);
    assert_int_equal(l.snapshot->index, 8 * DISK_BATCH);
    assert_int_equal(l.start, 7 * DISK_BATCH + 1);
    assert_int_equal(l.n, DISK_BATCH + 1);
    s_loaded_free(&l);
    s_sql_text(f->path, "PRAGMA auto_vacuum", mode, sizeof mode);
    assert_string_equal(mode, "0");
}

static void test_bad_paths(void **state)
{
    s_fixture_t *f = *state;
    ics_err_t err = {{0}};
    ics_store_t *s;
    char path[192];
    FILE *fp;

    /* A regular file where a directory should be stops root as well. */
    snprintf(path, sizeof path, "%s/plainfile", f->dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("not a directory\n", fp);
    fclose(fp);
    snprintf(path, sizeof path, "%s/plainfile/raft.db", f->dir);
    s = ics_store_open(path, &err);
    assert_null(s);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "unable to open"));

    snprintf(path, sizeof path, "%s/missing/raft.db", f->dir);
    memset(&err, 0, sizeof err);
    assert_null(ics_store_open(path, &err));
    assert_non_null(strstr(err.msg, path));

    /* Not a database at all. */
    snprintf(path, sizeof path, "%s/plainfile", f->dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 200; i++)
        fputs("definitely not sqlite ", fp);
    fclose(fp);
    memset(&err, 0, sizeof err);
    assert_null(ics_store_open(path, &err));
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "not a database"));

    /* Someone else's SQLite database is left alone. */
    {
        sqlite3 *db = NULL;
        char out[8];

        snprintf(path, sizeof path, "%s/other.db", f->dir);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
        memset(&err, 0, sizeof err);
        assert_null(ics_store_open(path, &err));
        assert_non_null(strstr(err.msg, path));
        assert_non_null(strstr(err.msg, "not an icsd raft store"));
        s_sql_text(path, "SELECT count(*) FROM sqlite_schema", out, sizeof out);
        assert_string_equal(out, "1");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_is_pristine_and_empty, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bootstrap, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bootstrap_refused_after_term, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_bootstrap_refused_in_batch, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_term_and_vote, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_append_batch_survives_reopen, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_rollback_discards, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_truncate, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_trailing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_small_index_keeps_log, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_installed_snapshot_replaces_log, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_get_none_and_empty, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_load_memory_raft_style, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_store_is_reported, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_entry_flipped_at_rest_is_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_flipped_at_rest_is_refused, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_damaged_page_is_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_schema_1_is_migrated, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_probe, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bad_paths, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_snapshots_keep_files_small, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_store_without_auto_vacuum, s_setup,
                                        s_teardown),
    };

    raft_heap_set(&s_heap);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
