/*
 * The history on disk (daemon/history.c): appends as entries apply, gaps
 * after a snapshot install, backfill chunks verified before they are
 * stored, and the read-back that finds corruption at rest and repairs it.
 * Entries are real ones, applied by a real state machine (fixture_fsm.h);
 * the "peer" is another history holding the same log.
 */
#include "fixture_fsm.h"

#include <sqlite3.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/envelope.h"
#include "common/merkle.h"
#include "history.h"
#include "ics/v1/wire.pb-c.h"

#define GROUP "nenc"

static const char *const ORGS[] = {"QHM:icb", "RTD:foundation_trust", "RX4:mental_health"};

typedef struct {
    fx_fsm_t *fx;                 /* the log, and a complete in-memory history of it */
    char dir[64];
    char path[128];
} fx_t;

static int s_setup(void **state)
{
    fx_t *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->fx = fx_fsm_new(GROUP, ORGS, 3);
    FX_ACCEPTED(fx_genesis(t->fx, NULL));
    for (int i = 0; i < 300; i++) {
        char note[32];
        snprintf(note, sizeof note, "entry %d", i);
        (void)fx_raw(t->fx, i % 3 == 0 ? "QHM" : i % 3 == 1 ? "RTD" : "RX4", NULL, note);
    }
    snprintf(t->dir, sizeof t->dir, "/tmp/ics-history-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof t->path, "%s/history.db", t->dir);
    *state = t;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *t = *state;
    char cmd[160];
    fx_fsm_destroy(&t->fx);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    assert_int_equal(system(cmd), 0);
    free(t);
    return 0;
}

/* ---------------------------------------------------------------- helpers */

static char *s_export(ics_history_t *h, size_t *len, int *rc, ics_err_t *err)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    assert_non_null(f);
    *rc = ics_history_export(h, f, err);
    fclose(f);
    return text;
}

#define ASSERT_SAME_EXPORT(a, b)                                                           \
    do {                                                                                   \
        size_t la_, lb_;                                                                   \
        int ra_, rb_;                                                                      \
        ics_err_t ea_, eb_;                                                                \
        char *xa_ = s_export((a), &la_, &ra_, &ea_), *xb_ = s_export((b), &lb_, &rb_, &eb_); \
        if (ra_ != ICS_OK || rb_ != ICS_OK)                                                \
            fail_msg("export: %s / %s", ra_ ? ea_.msg : "ok", rb_ ? eb_.msg : "ok");       \
        assert_int_equal(la_, lb_);                                                        \
        assert_memory_equal(xa_, xb_, la_);                                                \
        free(xa_);                                                                         \
        free(xb_);                                                                         \
    } while (0)

/* A history on disk holding positions 1..n of the fixture's log. */
static ics_history_t *s_copy(fx_t *t, uint64_t n)
{
    ics_err_t err;
    ics_history_t *h = ics_history_open(t->path, GROUP, &err);
    if (h == NULL)
        fail_msg("open: %s", err.msg);
    fx_history_copy(h, t->fx->history, n);
    assert_int_equal(ics_history_commit(h, true), ICS_OK);
    return h;
}

/* Backfills h from peer until complete; returns the chunks it took. */
static unsigned s_backfill(ics_history_t *h, ics_history_t *peer, size_t max_bytes)
{
    unsigned chunks = 0;
    uint64_t lo, hi, id;
    while (ics_history_gap(h, &lo, &hi)) {
        uint8_t *buf = NULL;
        size_t len = 0, stored = 0;
        ics_err_t err;
        assert_int_equal(ics_history_serve(peer, 1, lo, hi, max_bytes, &buf, &len), ICS_OK);
        if (ics_history_fill(h, buf, len, &id, &stored, &err) != ICS_OK)
            fail_msg("fill %llu..%llu: %s", (unsigned long long)lo, (unsigned long long)hi,
                     err.msg);
        assert_true(stored > 0);
        free(buf);
        chunks++;
    }
    return chunks;
}

/* The root of every tree size 0..n of the fixture's log, recomputed from
 * its entries with the frontier (not from any stored tree). *roots is
 * malloc'd. */
static ics_merkle_hash_t *s_reference_roots(fx_t *t, uint64_t n)
{
    ics_merkle_hash_t *roots = calloc(n + 1, sizeof *roots);
    ics_merkle_frontier_t f;

    assert_non_null(roots);
    ics_merkle_frontier_init(&f);
    ics_merkle_frontier_root(&f, roots[0]);
    for (uint64_t p = 1; p <= n; p++) {
        ics_log_entry_t e;
        uint8_t id[32], leaf[32];
        assert_int_equal(ics_history_entry(t->fx->history, p, &e), ICS_OK);
        ics_entry_id(e.envelope, e.envelope_len, id);
        ics_log_leaf_hash(p, id, e.accepted, e.reason, leaf);
        assert_true(ics_merkle_frontier_push(&f, leaf));
        ics_merkle_frontier_root(&f, roots[p]);
        free(e.envelope);
    }
    return roots;
}

/* h's tree heads of every size up to its tree size are the reference's,
 * and its proofs (a sample) verify against them. */
static void s_assert_tree(fx_t *t, ics_history_t *h, uint64_t size)
{
    ics_merkle_hash_t *roots = s_reference_roots(t, size);
    ics_merkle_hash_t proof[ICS_MERKLE_PROOF_MAX];
    uint8_t root[32];
    size_t len;

    assert_int_equal(ics_history_tree_size(h), size);
    for (uint64_t n = 0; n <= size; n++) {
        assert_int_equal(ics_history_tree_root(h, n, root), ICS_OK);
        assert_memory_equal(root, roots[n], 32);
    }
    assert_int_equal(ics_history_tree_root(h, size + 1, root), ICS_EUNAVAIL);
    for (uint64_t n = 1; n <= size; n += 1 + n / 7) {
        for (uint64_t p = 1; p <= n; p += 1 + n / 5) {
            ics_log_entry_t e;
            uint8_t id[32], leaf[32];
            assert_int_equal(ics_history_inclusion(h, p, n, proof, &len), ICS_OK);
            assert_int_equal(ics_history_entry(t->fx->history, p, &e), ICS_OK);
            ics_entry_id(e.envelope, e.envelope_len, id);
            ics_log_leaf_hash(p, id, e.accepted, e.reason, leaf);
            free(e.envelope);
            assert_true(ics_merkle_verify_inclusion(leaf, p - 1, n, proof, len, roots[n]));
            assert_int_equal(ics_history_consistency(h, p, n, proof, &len), ICS_OK);
            assert_true(ics_merkle_verify_consistency(p, n, roots[p], roots[n], proof, len));
        }
    }
    assert_int_equal(ics_history_inclusion(h, 1, size + 1, proof, &len), ICS_EUNAVAIL);
    assert_int_equal(ics_history_consistency(h, 1, size + 1, proof, &len), ICS_EUNAVAIL);
    assert_int_equal(ics_history_inclusion(h, 0, size, proof, &len), ICS_EINVAL);
    free(roots);
}

static void s_sql(fx_t *t, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(t->path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_close(db);
}

/* ---------------------------------------------------------------- tests */

/* What the fixture's state machine applied is on disk, survives a reopen,
 * and applying it again (a restart's replay) only compares. */
static void test_append_reopen_and_replay(void **state)
{
    fx_t *t = *state;
    uint64_t top = ics_fsm_position(t->fx->fsm);
    ics_history_t *h = s_copy(t, top);
    ics_err_t err;

    assert_int_equal(ics_history_top(h), top);
    ics_history_close(&h);
    h = ics_history_open(t->path, GROUP, &err);
    assert_non_null(h);
    assert_int_equal(ics_history_top(h), top);
    assert_int_equal(ics_history_missing(h), 0);
    ASSERT_SAME_EXPORT(h, t->fx->history);
    /* A lookup finds a verified (org, seq) as it was applied. */
    ics_apply_result_t r;
    assert_int_equal(ics_history_lookup(h, "RTD", 2, &r), ICS_OK);
    assert_true(r.accepted);
    assert_int_equal(ics_history_lookup(h, "RTD", 9999, &r), ICS_ENOENT);
    s_assert_tree(t, h, top);
    {
        /* The offline verifier's tree head of the export is the history's. */
        ics_log_verify_report_t rep;
        uint8_t root[32];
        size_t len;
        int rc;
        char *text = s_export(h, &len, &rc, &err);
        FILE *f = fmemopen(text, len, "r");
        assert_non_null(f);
        if (ics_log_verify(f, &rep, &err) != ICS_OK)
            fail_msg("verify: %s", err.msg);
        fclose(f);
        free(text);
        assert_int_equal(ics_history_tree_root(h, top, root), ICS_OK);
        assert_memory_equal(rep.root, root, 32);
    }
    ics_history_close(&h);

    /* Another group's file is refused, not changed. */
    assert_null(ics_history_open(t->path, "other", &err));
    assert_non_null(strstr(err.msg, "history of group 'nenc', not 'other'"));
}

/* A snapshot installed at P leaves a gap; backfill in small chunks, newest
 * first, closes it; the export is then the same bytes as the peer's. */
static void test_gap_and_backfill(void **state)
{
    fx_t *t = *state;
    uint64_t top = ics_fsm_position(t->fx->fsm), p = top - 20;
    ics_history_t *h = s_copy(t, 40), *empty;
    uint8_t chain[32];
    ics_log_entry_t e;
    ics_err_t err;
    size_t len;
    int rc;

    assert_int_equal(ics_history_entry(t->fx->history, p, &e), ICS_OK);
    memcpy(chain, e.chain, 32);
    assert_int_equal(ics_history_restored(h, p, chain, e.clock_ms), ICS_OK);
    free(e.envelope);
    assert_int_equal(ics_history_top(h), p);
    assert_int_equal(ics_history_missing(h), p - 40);
    /* The tree ends below the gap until it is filled. */
    s_assert_tree(t, h, 40);
    /* While the gap lasts, an export says so rather than hand out a hole. */
    free(s_export(h, &len, &rc, &err));
    assert_int_equal(rc, ICS_EUNAVAIL);
    assert_non_null(strstr(err.msg, "being backfilled from peers"));
    unsigned chunks = s_backfill(h, t->fx->history, 2048);
    assert_true(chunks > 5);
    assert_int_equal(ics_history_missing(h), 0);
    s_assert_tree(t, h, p);
    ics_history_close(&h);

    /* A node that joined late holds nothing: the gap is the whole log. */
    assert_int_equal(unlink(t->path), 0);
    empty = ics_history_open(t->path, GROUP, &err);
    assert_non_null(empty);
    assert_int_equal(ics_history_entry(t->fx->history, top, &e), ICS_OK);
    assert_int_equal(ics_history_restored(empty, top, e.chain, e.clock_ms), ICS_OK);
    free(e.envelope);
    assert_int_equal(ics_history_tree_size(empty), 0);
    s_backfill(empty, t->fx->history, 1u << 20);
    ASSERT_SAME_EXPORT(empty, t->fx->history);
    s_assert_tree(t, empty, top);
    ics_history_close(&empty);
}

/* Chunks that do not chain up to the trusted chain, or that do not end at
 * the gap's top, or whose clock moves as no entry can, are refused whole. */
/* Every entry h holds in [lo, hi] is the one truth holds, clock and all. */
static void s_assert_true_entries(ics_history_t *h, ics_history_t *truth, uint64_t lo,
                                  uint64_t hi)
{
    for (uint64_t p = lo; p <= hi; p++) {
        ics_log_entry_t got, want;
        if (ics_history_entry(h, p, &got) != ICS_OK)
            continue;
        assert_int_equal(ics_history_entry(truth, p, &want), ICS_OK);
        if (got.clock_ms != want.clock_ms || got.accepted != want.accepted ||
            memcmp(got.chain, want.chain, sizeof got.chain) != 0 ||
            strcmp(got.reason, want.reason) != 0)
            fail_msg("a changed chunk stored a false entry %" PRIu64 " (clock %" PRIu64
                     ", not %" PRIu64 ")", p, got.clock_ms, want.clock_ms);
        free(got.envelope);
        free(want.envelope);
    }
}

static void test_bad_chunks_refused(void **state)
{
    fx_t *t = *state;
    uint64_t top = ics_fsm_position(t->fx->fsm);
    ics_history_t *h = s_copy(t, 10);
    ics_log_entry_t e;
    uint64_t id;
    uint8_t *buf;
    size_t len, stored;
    ics_err_t err;

    assert_int_equal(ics_history_entry(t->fx->history, top, &e), ICS_OK);
    assert_int_equal(ics_history_restored(h, top, e.chain, e.clock_ms), ICS_OK);
    free(e.envelope);

    /* Every single-bit flip of a real chunk: refused, or (in a field the
     * chain does not cover) stored as the true entries. */
    assert_int_equal(ics_history_serve(t->fx->history, 1, 11, top, 600, &buf, &len), ICS_OK);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            uint64_t missing = ics_history_missing(h);
            buf[i] ^= (uint8_t)(1u << bit);
            int rc = ics_history_fill(h, buf, len, &id, &stored, &err);
            buf[i] ^= (uint8_t)(1u << bit);
            if (rc != ICS_OK) {
                assert_int_equal(ics_history_missing(h), missing);
            } else if (stored > 0) {
                /* Stored: it must be the truth. Start again from a new gap. */
                s_assert_true_entries(h, t->fx->history, 11, top);
                ics_history_close(&h);
                assert_int_equal(unlink(t->path), 0);
                h = s_copy(t, 10);
                assert_int_equal(ics_history_entry(t->fx->history, top, &e), ICS_OK);
                assert_int_equal(ics_history_restored(h, top, e.chain, e.clock_ms), ICS_OK);
                free(e.envelope);
            }
        }
    }
    free(buf);
    /* An entry whose signature verified moves the log clock to its own
     * time: a chunk that says the clock stood still there is refused,
     * although the chain (which does not cover the clock) still holds. */
    {
        Ics__V1__HistoryChunk *c;
        uint64_t prev;
        size_t k;

        assert_int_equal(ics_history_serve(t->fx->history, 1, 11, top, 1u << 20, &buf, &len),
                         ICS_OK);
        c = ics__v1__history_chunk__unpack(NULL, len, buf);
        assert_non_null(c);
        free(buf);
        prev = c->prev_clock;
        for (k = 0; k < c->n_entries; k++) {
            if (c->entries[k]->verified && c->entries[k]->clock_ms > prev)
                break;
            prev = c->entries[k]->clock_ms;
        }
        assert_true(k < c->n_entries);
        c->entries[k]->clock_ms = prev;
        len = ics__v1__history_chunk__get_packed_size(c);
        buf = malloc(len);
        assert_non_null(buf);
        ics__v1__history_chunk__pack(c, buf);
        ics__v1__history_chunk__free_unpacked(c, NULL);
        assert_int_equal(ics_history_fill(h, buf, len, &id, &stored, &err), ICS_EINVAL);
        assert_non_null(strstr(err.msg, "log clock"));
        free(buf);
    }
    /* A chunk of the wrong range. */
    assert_int_equal(ics_history_serve(t->fx->history, 1, 11, top - 1, 600, &buf, &len), ICS_OK);
    assert_int_equal(ics_history_fill(h, buf, len, &id, &stored, &err), ICS_EINVAL);
    assert_non_null(strstr(err.msg, "not the top of the gap"));
    free(buf);
    /* A peer that lacks the range says so. */
    ics_history_t *poor = ics_history_open(NULL, GROUP, &err);
    assert_int_equal(ics_history_serve(poor, 1, 11, top, 600, &buf, &len), ICS_OK);
    assert_int_equal(ics_history_fill(h, buf, len, &id, &stored, &err), ICS_ENOENT);
    assert_non_null(strstr(err.msg, "not held here"));
    free(buf);
    ics_history_close(&poor);
    assert_true(ics_history_stats(h).bad_chunks > 0);
    s_backfill(h, t->fx->history, 600);
    ASSERT_SAME_EXPORT(h, t->fx->history);
    s_assert_tree(t, h, top);
    ics_history_close(&h);
}

/* Corruption at rest: an entry's bytes changed on disk is found by the
 * read-back, dropped and fetched again; a changed chain column is
 * recomputed in place; an export never hands out either. */
static void test_scrub_repairs_corruption(void **state)
{
    fx_t *t = *state;
    uint64_t top = ics_fsm_position(t->fx->fsm), bad;
    ics_history_t *h = s_copy(t, top);
    ics_err_t err;
    size_t len;
    int rc;

    assert_int_equal(ics_history_scrub(h, 100000, &bad), ICS_OK);
    ics_history_close(&h);
    s_sql(t, "UPDATE entries SET reason = 'forged', accepted = 0 WHERE position = 77");
    s_sql(t, "UPDATE entries SET chain = zeroblob(32) WHERE position = 150");
    h = ics_history_open(t->path, GROUP, &err);
    assert_non_null(h);
    free(s_export(h, &len, &rc, &err));
    assert_int_equal(rc, ICS_EIO);
    assert_non_null(strstr(err.msg, "corrupt at position 77"));

    assert_int_equal(ics_history_scrub(h, 100000, &bad), ICS_EINVAL);
    assert_int_equal(bad, 77);
    ics_history_stats_t st = ics_history_stats(h);
    assert_int_equal(st.corrupt, 2);
    assert_int_equal(st.repaired, 1);
    uint64_t lo, hi;
    assert_true(ics_history_gap(h, &lo, &hi));
    assert_int_equal(lo, 77);
    assert_int_equal(hi, 77);
    s_assert_tree(t, h, 76);
    s_backfill(h, t->fx->history, 4096);
    assert_int_equal(ics_history_scrub(h, 100000, &bad), ICS_OK);
    ASSERT_SAME_EXPORT(h, t->fx->history);
    s_assert_tree(t, h, top);
    ics_history_close(&h);
}

/* A node cosigns only heads of its own history consistent with the last
 * one it cosigned, which it keeps in a file of its own. */
static void test_cosign_only_consistent_heads(void **state)
{
    fx_t *t = *state;
    ics_history_t *h = s_copy(t, 200);
    uint8_t r64[32], r128[32], r192[32], wrong[32], got[32];
    char path[160];
    uint64_t size;
    ics_err_t err;

    assert_int_equal(ics_history_tree_root(h, 64, r64), ICS_OK);
    assert_int_equal(ics_history_tree_root(h, 128, r128), ICS_OK);
    assert_int_equal(ics_history_tree_root(h, 192, r192), ICS_OK);
    assert_int_equal(ics_history_may_cosign(h, 64, r64, 0, NULL, &err), ICS_OK);
    assert_int_equal(ics_history_may_cosign(h, 128, r128, 64, r64, &err), ICS_OK);
    assert_int_equal(ics_history_may_cosign(h, 128, r128, 128, r128, &err), ICS_OK);
    assert_int_equal(ics_history_may_cosign(h, 64, r64, 128, r128, &err), ICS_OK); /* older */
    /* A root that is not this history's. */
    memcpy(wrong, r192, 32);
    wrong[0] ^= 1;
    assert_int_equal(ics_history_may_cosign(h, 192, wrong, 128, r128, &err), ICS_EINVAL);
    assert_non_null(strstr(err.msg, "is not this node's"));
    assert_int_equal(ics_history_may_cosign(h, 300, r192, 128, r128, &err), ICS_EUNAVAIL);
    /* A head cosigned before that this history does not extend (it was
     * replaced by another log's, or the log forked). */
    memcpy(wrong, r128, 32);
    wrong[5] ^= 1;
    assert_int_equal(ics_history_may_cosign(h, 192, r192, 128, wrong, &err), ICS_EINVAL);
    assert_non_null(strstr(err.msg, "not consistent with the head of size 128"));
    assert_int_equal(ics_history_may_cosign(h, 64, r64, 128, wrong, &err), ICS_EINVAL);
    ics_history_close(&h);

    /* The file: written, read back, refused when it is not one. */
    snprintf(path, sizeof path, "%s/cosigned", t->dir);
    assert_int_equal(ics_cosigned_read(path, GROUP, &size, got, &err), ICS_ENOENT);
    assert_int_equal(ics_cosigned_write(path, GROUP, 128, r128, &err), ICS_OK);
    assert_int_equal(ics_cosigned_read(path, GROUP, &size, got, &err), ICS_OK);
    assert_int_equal(size, 128);
    assert_memory_equal(got, r128, 32);
    assert_int_equal(ics_cosigned_read(path, "other", &size, got, &err), ICS_EINVAL);
    assert_non_null(strstr(err.msg, "not a cosigned tree head of group other"));
    {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "sed -i 's/ 128 / 0128 /' '%s'", path);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(ics_cosigned_read(path, GROUP, &size, got, &err), ICS_EINVAL);
        snprintf(cmd, sizeof cmd, "printf 'icsd-cosigned 1 %s 5 abc\\n' > '%s'", GROUP, path);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(ics_cosigned_read(path, GROUP, &size, got, &err), ICS_EINVAL);
    }
}

/* A history file written before the Merkle tree (format 1) gets the tree
 * built when opened, and the same heads as one that always had it. */
static void test_format_1_file_gets_its_tree(void **state)
{
    fx_t *t = *state;
    uint64_t top = ics_fsm_position(t->fx->fsm);
    ics_history_t *h = s_copy(t, top);
    sqlite3 *db = NULL;
    ics_err_t err;

    ics_history_close(&h);
    assert_int_equal(sqlite3_open(t->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE merkle; DROP TABLE keyed;"
                                      " UPDATE meta SET format = 1",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    h = ics_history_open(t->path, GROUP, &err);
    if (h == NULL)
        fail_msg("open: %s", err.msg);
    s_assert_tree(t, h, top);
    {
        /* The membership entries found again: the genesis only. */
        uint64_t *keyed = NULL;
        size_t n = 0;
        assert_int_equal(ics_history_keyed(h, top, &keyed, &n), ICS_OK);
        assert_int_equal(n, 1);
        assert_int_equal(keyed[0], 1);
        free(keyed);
    }
    ics_history_close(&h);
    /* Upgraded once: the file now says format 2. */
    s_sql(t, "UPDATE meta SET grp = grp WHERE format = 2");
    /* A format this node does not know is refused. */
    s_sql(t, "UPDATE meta SET format = 3");
    assert_null(ics_history_open(t->path, GROUP, &err));
    assert_non_null(strstr(err.msg, "history format 3"));
}

/* Appends that are rolled back (a failed write: raft replays them) leave
 * nothing of themselves in the tree: not when the same positions are
 * appended again, and not when a snapshot leaves them a gap and appends
 * go on above it (no node may cover a position not held). */
static void test_rollback_leaves_no_tree(void **state)
{
    fx_t *t = *state;
    uint64_t top = ics_fsm_position(t->fx->fsm);
    uint8_t junk[48];
    ics_log_entry_t e;
    ics_err_t err;

    for (int round = 0; round < 2; round++) {
        ics_history_t *h = s_copy(t, 100);
        memset(junk, 0x5a, sizeof junk);
        for (uint64_t p = 101; p <= 180; p++) {
            ics_apply_result_t r = {.position = p, .accepted = true, .envelope = junk,
                                    .envelope_len = sizeof junk, .clock_ms = p};
            junk[0] = (uint8_t)p;
            assert_int_equal(ics_history_append(h, &r), ICS_OK);
        }
        assert_int_equal(ics_history_resync(h, &err), ICS_OK);
        assert_int_equal(ics_history_top(h), 100);
        if (round == 0) {
            fx_history_copy(h, t->fx->history, top);
        } else {
            assert_int_equal(ics_history_entry(t->fx->history, 180, &e), ICS_OK);
            assert_int_equal(ics_history_restored(h, 180, e.chain, e.clock_ms), ICS_OK);
            free(e.envelope);
            fx_history_copy_range(h, t->fx->history, 181, 192);
            assert_int_equal(ics_history_commit(h, true), ICS_OK);
            ics_history_close(&h);
            /* Leaf indexes 100..179 are the gap. */
            sqlite3 *db = NULL;
            sqlite3_stmt *st = NULL;
            assert_int_equal(sqlite3_open(t->path, &db), SQLITE_OK);
            assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM merkle WHERE"
                                                    " ((idx + 1) << level) > 100 AND"
                                                    " (idx << level) < 180", -1, &st, NULL),
                             SQLITE_OK);
            assert_int_equal(sqlite3_step(st), SQLITE_ROW);
            assert_int_equal(sqlite3_column_int(st, 0), 0);
            sqlite3_finalize(st);
            sqlite3_close(db);
            h = ics_history_open(t->path, GROUP, &err);
            assert_non_null(h);
            s_backfill(h, t->fx->history, 4096);
            top = 192;
        }
        assert_int_equal(ics_history_commit(h, true), ICS_OK);
        s_assert_tree(t, h, top);
        ics_history_close(&h);
        assert_int_equal(unlink(t->path), 0);
    }
}

/* The members as the history leaves them (what a restarted node goes by
 * until its state machine catches up): additions with their endpoints,
 * rotated keys, removals, each from its position on. */
static void test_keyset_as_applied(void **state)
{
    fx_t *t = *state;
    ics_identity_t *rx6 = fx_identity("RX6"), *rtd2 = fx_identity("RTD-next");
    ics_keyset_t *ks = calloc(1, sizeof *ks);
    const ics_keyset_member_t *m;
    uint64_t before, added, rotated;
    ics_err_t err;

    assert_non_null(ks);
    before = ics_fsm_position(t->fx->fsm);
    FX_ACCEPTED(fx_member_add(t->fx, "QHM", "RX6", "trust", ics_identity_public(rx6), 32, true));
    added = ics_fsm_position(t->fx->fsm);
    FX_ACCEPTED(fx_key_rotate(t->fx, "RTD", "RTD", ics_identity_public(rtd2), 32));
    rotated = ics_fsm_position(t->fx->fsm);
    FX_ACCEPTED(fx_member_remove(t->fx, "QHM", "RX4"));

    assert_int_equal(ics_history_keyset(t->fx->history, before, ks, &err), ICS_OK);
    assert_true(ks->genesis);
    assert_int_equal(ks->n, 3);
    assert_null(ics_keyset_find(ks, "RX6"));
    m = ics_keyset_find(ks, "RTD");
    assert_non_null(m);
    assert_memory_equal(m->pk, ics_identity_public(fx_org(t->fx, "RTD")->key), 32);
    assert_string_equal(m->endpoint, "tcp://RTD.example.nhs.uk:7400");

    assert_int_equal(ics_history_keyset(t->fx->history, added, ks, &err), ICS_OK);
    assert_int_equal(ks->n, 4);
    m = ics_keyset_find(ks, "RX6");
    assert_non_null(m);
    assert_true(m->voter);
    assert_memory_equal(m->pk, ics_identity_public(rx6), 32);
    assert_string_equal(m->endpoint, "tcp://RX6.example.nhs.uk:7400");

    assert_int_equal(ics_history_keyset(t->fx->history, rotated + 1, ks, &err), ICS_OK);
    assert_int_equal(ks->n, 3);
    assert_null(ics_keyset_find(ks, "RX4"));
    assert_memory_equal(ics_keyset_find(ks, "RTD")->pk, ics_identity_public(rtd2), 32);

    /* A history that does not hold the genesis has nothing to go by. */
    {
        ics_history_t *h = s_copy(t, 0);
        ics_log_entry_t e;
        assert_int_equal(ics_history_entry(t->fx->history, rotated, &e), ICS_OK);
        assert_int_equal(ics_history_restored(h, rotated, e.chain, e.clock_ms), ICS_OK);
        free(e.envelope);
        assert_int_equal(ics_history_keyset(h, rotated, ks, &err), ICS_OK);
        assert_false(ks->genesis);
        assert_int_equal(ks->n, 0);
        ics_history_close(&h);
    }
    free(ks);
    ics_identity_destroy(&rx6);
    ics_identity_destroy(&rtd2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_reopen_and_replay, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_gap_and_backfill, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bad_chunks_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_scrub_repairs_corruption, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_format_1_file_gets_its_tree, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cosign_only_consistent_heads, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_keyset_as_applied, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_rollback_leaves_no_tree, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
