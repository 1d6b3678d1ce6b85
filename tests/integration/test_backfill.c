/*
 * History after a snapshot install, across real processes: a node that was
 * down while the others went far past what one frame can carry, and a node
 * that joined late, install a (small) snapshot, backfill the history they
 * lack from their peers, and end with an export byte-identical to the
 * leader's. A peer whose history was corrupted on disk serves a chunk that
 * does not chain up: it is detected, logged, and another peer is used. A
 * node killed with SIGKILL in the middle of a backfill resumes it.
 */
#include "harness.h"

#include "common/envelope.h"
#include "common/logverify.h"

#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static const char *const ORGS[] = {"QHM", "RTD", "RX4", "E06000057"};
static const char *const KINDS[] = {"icb", "foundation_trust", "mental_health",
                                    "local_authority"};

/* Tiny frames and snapshot thresholds: the state image and the history
 * both outgrow one frame quickly. */
#define SMALL "snapshot_threshold = 32\nsnapshot_trailing = 8\nbackfill_chunk_bytes = 1024\n" \
              "\n[transport]\nmax_message_bytes = 65536"

static bool s_have_leader(h_cluster_t *c, void *arg)
{
    (void)arg;
    return h_leader(c) >= 0;
}

typedef struct {
    uint64_t position, missing, filled, bad_chunks;
    bool ok;
} s_hist_t;

static s_hist_t s_hist(h_cluster_t *c, int i)
{
    Ics__V1__StatusReply *st;
    Ics__V1__ControlResponse *resp;
    s_hist_t h = {0};
    if (h_status(c, i, &st, &resp) != ICS_OK)
        return h;
    if (st->n_groups > 0 && st->groups[0]->history != NULL) {
        h.position = st->groups[0]->position;
        h.missing = st->groups[0]->history->missing;
        h.filled = st->groups[0]->history->filled;
        h.bad_chunks = st->groups[0]->history->bad_chunks;
        h.ok = true;
    }
    ics__v1__control_response__free_unpacked(resp, NULL);
    return h;
}

/* Every node in mask has applied up to want and holds all of its history. */
typedef struct {
    unsigned mask;
    uint64_t want;
} s_complete_t;

static bool s_complete(h_cluster_t *c, void *arg)
{
    s_complete_t *w = arg;
    for (int i = 0; i < c->n; i++) {
        if (!(w->mask & (1u << i)))
            continue;
        s_hist_t h = s_hist(c, i);
        if (!h.ok || h.position < w->want || h.missing != 0)
            return false;
    }
    return true;
}

static void s_fill(h_cluster_t *c, int node, int n, const char *tag)
{
    /* ~400-byte payloads: 600 of them are far more than one 64 KiB frame. */
    char data[420];
    for (int k = 0; k < n; k++) {
        Ics__V1__ControlResponse *resp = NULL;
        uint8_t token[16];
        randombytes_buf(token, sizeof token);
        snprintf(data, sizeof data, "%s-%04d-", tag, k);
        memset(data + strlen(data), 'x', sizeof data - 1 - strlen(data));
        data[sizeof data - 1] = '\0';
        int rc = ICS_EIO;
        for (int attempt = 0; attempt < 5 && rc != ICS_OK; attempt++) {
            rc = h_submit_raw(c, node, data, token, 5000, &resp);
            if (rc == ICS_OK && resp->code != 0) {
                ics__v1__control_response__free_unpacked(resp, NULL);
                resp = NULL;
                rc = ICS_EIO;
            }
        }
        assert_int_equal(rc, ICS_OK);
        assert_true(resp->submit->accepted);
        ics__v1__control_response__free_unpacked(resp, NULL);
    }
}

static void s_export(h_cluster_t *c, int i, char *path, size_t size)
{
    snprintf(path, size, "%s/%s.export", c->dir, c->nodes[i].org);
    if (h_sh(ICSCTL_BIN " -s '%s' log export '%s'", c->nodes[i].control, path) != 0)
        fail_msg("log export on %s failed", c->nodes[i].org);
    assert_int_equal(h_sh(ICSCTL_BIN " log verify '%s' >/dev/null", path), 0);
}

/* Every node in mask stands at one position with all of its history. */
typedef struct {
    unsigned mask;
    uint64_t position; /* out: where they stand */
} s_level_t;

static bool s_level(h_cluster_t *c, void *arg)
{
    s_level_t *w = arg;
    bool first = true;
    for (int i = 0; i < c->n; i++) {
        if (!(w->mask & (1u << i)))
            continue;
        s_hist_t h = s_hist(c, i);
        if (!h.ok || h.missing != 0 || (!first && h.position != w->position))
            return false;
        w->position = h.position;
        first = false;
    }
    return true;
}

/* The exports of every node in mask are byte-identical. A follower learns
 * of a commit from the next AppendEntries, so the log may move between two
 * nodes' exports: they are taken with every node at one position, and a
 * difference fails the test only if no node moved meanwhile. */
static void s_assert_same_exports(h_cluster_t *c, unsigned mask)
{
    for (int attempt = 0;; attempt++) {
        s_level_t level = {mask, 0};
        char first[600] = "", path[600];
        bool same = true;
        assert_true(h_wait(s_level, c, &level, 30000));
        uint64_t at = level.position;
        for (int i = 0; i < c->n && same; i++) {
            if (!(mask & (1u << i)))
                continue;
            s_export(c, i, path, sizeof path);
            if (first[0] == '\0')
                snprintf(first, sizeof first, "%s", path);
            else
                same = h_sh("cmp -s '%s' '%s'", first, path) == 0;
        }
        if (same)
            return;
        bool moved = !s_level(c, &level) || level.position != at;
        if (!moved || attempt == 4)
            fail_msg("exports differ at position %llu: %s and %s%s", (unsigned long long)at,
                     first, path, moved ? " (the log kept moving)" : "");
        print_message("the log moved past %llu during the exports; again\n",
                      (unsigned long long)at);
    }
}

static bool s_snapshot_restored(h_cluster_t *c, int i)
{
    return h_sh("grep -q 'restored snapshot' '%s'", c->nodes[i].log) == 0;
}

/* A follower down while the others went far past one frame's worth of
 * state and history catches up, backfills, and exports the same bytes. */
static void far_behind_follower_backfills(void **state)
{
    h_cluster_t *c = *state;

    h_cluster_init(c, 3, ORGS, KINDS);
    for (int i = 0; i < 3; i++)
        snprintf(c->nodes[i].extra, sizeof c->nodes[i].extra, SMALL);
    for (int i = 0; i < 3; i++)
        h_start(c, i);
    assert_true(h_wait(s_have_leader, c, NULL, 15000));
    int leader = h_leader(c), down = (leader + 1) % 3;
    s_fill(c, leader, 20, "before");
    h_kill(c, down);
    s_fill(c, leader, 600, "away");
    s_hist_t lh = s_hist(c, leader);
    assert_true(lh.position > 600);

    h_start(c, down);
    s_complete_t all = {0x7, lh.position};
    assert_true(h_wait(s_complete, c, &all, 60000));
    assert_true(s_snapshot_restored(c, down));
    assert_true(s_hist(c, down).filled > 0);
    s_assert_same_exports(c, 0x7);
    for (int i = 0; i < 3; i++)
        assert_int_equal(h_stop(c, i), 0);
}

static bool s_backfilling(h_cluster_t *c, void *arg)
{
    s_hist_t h = s_hist(c, *(int *)arg);
    return h.ok && h.missing > 0 && h.filled > 0;
}

/* Rewrites a stopped node's history from position 30 on, as a forger
 * would: one verdict turned and every later chain recomputed, so that the
 * file is consistent in itself (its own read-back finds nothing) and only
 * the chain the partners agree on exposes it. */
static void s_reseal_history(h_cluster_t *c, int i)
{
    char path[700];
    sqlite3 *db = NULL;
    sqlite3_stmt *rd = NULL, *wr = NULL;
    uint8_t chain[ICS_CHAIN_BYTES];
    int rows = 0;

    snprintf(path, sizeof path, "%s/%s/history.db", c->nodes[i].data, c->group);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN; UPDATE entries SET accepted = 0,"
                                      " reason = 'forged' WHERE position = 30",
                                  NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT chain FROM entries WHERE position = 29", -1,
                                        &rd, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(rd), SQLITE_ROW);
    memcpy(chain, sqlite3_column_blob(rd, 0), sizeof chain);
    sqlite3_finalize(rd);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT position, envelope, accepted, reason FROM"
                                            " entries WHERE position >= 30 ORDER BY position",
                                        -1, &rd, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "UPDATE entries SET chain = ?1 WHERE position = ?2",
                                        -1, &wr, NULL), SQLITE_OK);
    while (sqlite3_step(rd) == SQLITE_ROW) {
        uint8_t id[32];
        ics_entry_id(sqlite3_column_blob(rd, 1), (size_t)sqlite3_column_bytes(rd, 1), id);
        ics_chain_step(chain, (uint64_t)sqlite3_column_int64(rd, 0), id,
                       sqlite3_column_int(rd, 2) != 0, (const char *)sqlite3_column_text(rd, 3),
                       chain);
        sqlite3_bind_blob(wr, 1, chain, sizeof chain, SQLITE_STATIC);
        sqlite3_bind_int64(wr, 2, sqlite3_column_int64(rd, 0));
        assert_int_equal(sqlite3_step(wr), SQLITE_DONE);
        sqlite3_reset(wr);
        rows++;
    }
    sqlite3_finalize(rd);
    sqlite3_finalize(wr);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_true(rows > 100);
    sqlite3_close(db);
}

/* A partner admitted late installs a snapshot and backfills the whole
 * history, a chunk from each peer in turn; QHM serves a corrupted chunk
 * and is passed over; SIGKILL in the middle of the backfill does not stop
 * it finishing. */
static void late_joiner_backfills_despite_bad_peer_and_kill(void **state)
{
    h_cluster_t *c = *state;
    enum { NEW = 3 };
    int n = NEW;

    h_cluster_init(c, 4, ORGS, KINDS);
    for (int i = 0; i < 4; i++) {
        c->nodes[i].members = i == NEW ? 0xF : 0x7;
        snprintf(c->nodes[i].extra, sizeof c->nodes[i].extra, SMALL);
    }
    snprintf(c->nodes[NEW].group_extra, sizeof c->nodes[NEW].group_extra, "join = yes");
    /* Its log names every peer it asks. */
    snprintf(c->nodes[NEW].node_extra, sizeof c->nodes[NEW].node_extra, "log_level = debug");
    for (int i = 0; i < 3; i++)
        h_start(c, i);
    assert_true(h_wait(s_have_leader, c, NULL, 15000));
    s_fill(c, h_leader(c), 700, "history");

    /* QHM's history is rewritten on disk behind its back. It notices when
     * its snapshot's chain disagrees with the file, and says so. */
    assert_int_equal(h_stop(c, 0), 0);
    s_reseal_history(c, 0);
    h_start(c, 0);
    assert_true(h_wait(s_have_leader, c, NULL, 15000));
    assert_int_equal(h_sh("grep -q 'disagrees with the history on disk' '%s'", c->nodes[0].log),
                     0);

    h_start(c, NEW);
    assert_int_equal(h_sh(ICSCTL_BIN " -s '%s' member add E06000057 --kind local_authority "
                          "--name 'Northumberland County Council' --endpoint tcp://127.0.0.1:%d "
                          "--key %s >/dev/null",
                          c->nodes[0].control, c->nodes[NEW].port, c->nodes[NEW].pub), 0);
    assert_true(h_wait(s_backfilling, c, &n, 30000));
    h_kill(c, NEW);
    s_hist_t before = s_hist(c, 1);
    h_start(c, NEW);
    s_complete_t all = {0xE, before.position};
    assert_true(h_wait(s_complete, c, &all, 90000));
    assert_true(s_snapshot_restored(c, NEW));
    /* Every peer was asked, whichever it reached first; the bad chunk was
     * seen and said so; the good peers served the rest. */
    for (int i = 0; i < 3; i++)
        if (h_sh("grep -q 'asked %s for history' '%s'", c->nodes[i].org, c->nodes[NEW].log) != 0)
            fail_msg("%s was never asked for history", c->nodes[i].org);
    assert_int_equal(h_sh("grep -q 'QHM served a bad history chunk' '%s'", c->nodes[NEW].log),
                     0);
    s_assert_same_exports(c, 0x6 | (1u << NEW));
    for (int i = 0; i < 4; i++)
        assert_int_equal(h_stop(c, i), 0);
}

/* With nothing due, the log does not grow: no clock tick without a
 * deadline, even with the shortest tick interval. */
static void idle_group_does_not_grow(void **state)
{
    h_cluster_t *c = *state;

    h_cluster_init(c, 3, ORGS, KINDS);
    for (int i = 0; i < 3; i++)
        snprintf(c->nodes[i].extra, sizeof c->nodes[i].extra, "tick_interval_ms = 100");
    for (int i = 0; i < 3; i++)
        h_start(c, i);
    assert_true(h_wait(s_have_leader, c, NULL, 15000));
    s_fill(c, h_leader(c), 3, "busy");
    h_sleep_ms(1000); /* let the last commits settle */
    uint64_t before = s_hist(c, 0).position;
    h_sleep_ms(3000);
    for (int i = 0; i < 3; i++)
        assert_int_equal(s_hist(c, i).position, before);
    for (int i = 0; i < 3; i++)
        assert_int_equal(h_stop(c, i), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(idle_group_does_not_grow, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(far_behind_follower_backfills, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(late_joiner_backfills_despite_bad_peer_and_kill, h_setup,
                                        h_teardown),
    };
    return cmocka_run_group_tests_name("cluster backfill", tests, NULL, NULL);
}
