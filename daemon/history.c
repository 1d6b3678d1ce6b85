/*
 * The audit history of one group, on disk (history.h). One SQLite file per
 * group beside raft.db: entries(position, envelope, verdict, reason, chain,
 * clock, org, seq) and gaps(lo, hi, chain and clock at hi).
 *
 * Writes go into one open transaction that the event loop commits once per
 * turn (group commit); the file runs in WAL mode with synchronous=NORMAL, so
 * an ordinary commit costs no fsync. That is safe because every entry the
 * history may lose in a crash is still in raft's log and is applied, and so
 * appended, again on restart: raft replays from its latest snapshot, and
 * before raft persists a snapshot the group commits here with sync=true.
 *
 * Invariants:
 *   - a position is stored once and never changed; the chain stored with it
 *     is the chain head after it (docs/log-format.md);
 *   - held positions and gaps are disjoint and together cover 1..top;
 *   - a backfilled entry is stored only once the chain recomputed over it
 *     reaches a chain this node already trusts (the one a restored snapshot
 *     carried, or that of an entry held above it), and its clock rises only
 *     to its own envelope's time or tick;
 *   - the Merkle tree holds the hash of every complete subtree whose leaves
 *     are all held, written in the transaction that stores the entry that
 *     completes it, so a tree head or a proof of any size up to the first
 *     gap costs O(log n) reads (common/merkle.c);
 *   - nothing here decides anything for the state machine: it only keeps.
 */
#include "history.h"
#include "sqlfile.h"
#include "walckpt.h"

#include "common/envelope.h"
#include "common/receipt.h"
#include "ics/v1/wire.pb-c.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* PRAGMA application_id "ICSH". */
#define S_APPLICATION_ID 1229148232
/* 1: entries and gaps; 2: and the Merkle tree (a file of format 1 is
 * upgraded in place when opened). */
#define S_FORMAT 2

/* Group commit (ics_history_flush): a transaction ends once it has
 * written S_BATCH_ROWS rows (an entry writes two or three: itself and the
 * Merkle subtrees it completes) or is S_BATCH_MS old. Each commit rewrites
 * every page it touched into the WAL, and one entry's rows touch several
 * pages (the entries table, two or three levels of the tree): committing
 * every turn wrote about 20 KiB an entry at 500 entries/s, more than the
 * raft log and the outbox together, and the disk's queue behind it held up
 * their syncs. */
#define S_BATCH_ROWS 1024
#define S_BATCH_MS 250

static const char s_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " grp TEXT NOT NULL,"
    " format INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS entries("
    " position INTEGER PRIMARY KEY CHECK (position > 0),"
    " envelope BLOB NOT NULL,"
    " accepted INTEGER NOT NULL CHECK (accepted IN (0, 1)),"
    " reason TEXT NOT NULL,"
    " chain BLOB NOT NULL CHECK (length(chain) = 32),"
    " clock_ms INTEGER NOT NULL,"
    " org TEXT NOT NULL,"
    " seq INTEGER NOT NULL,"
    " verified INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS entries_by_seq ON entries(org, seq) WHERE verified = 1;"
    "CREATE TABLE IF NOT EXISTS gaps("
    " hi INTEGER PRIMARY KEY,"
    " lo INTEGER NOT NULL CHECK (lo >= 1 AND lo <= hi),"
    " chain BLOB NOT NULL CHECK (length(chain) = 32)," /* chain head at hi */
    " clock_ms INTEGER NOT NULL,"                      /* log clock at hi, or a bound */
    " exact INTEGER NOT NULL CHECK (exact IN (0, 1)));" /* 1: clock_ms is the clock at hi;
                                                            0: the clock at hi is at most it */
    /* The Merkle tree (docs/log-format.md, section 4a): the hash of every
     * complete subtree whose leaves are all held; level 0 holds the leaf
     * hash of position idx + 1. */
    "CREATE TABLE IF NOT EXISTS merkle("
    " level INTEGER NOT NULL CHECK (level >= 0 AND level < 64),"
    " idx INTEGER NOT NULL CHECK (idx >= 0),"
    " hash BLOB NOT NULL CHECK (length(hash) = 32),"
    " PRIMARY KEY (level, idx)) WITHOUT ROWID;"
    /* Accepted membership entries (genesis, additions, removals, key
     * rotations): the evidence of the keys a receipt carries. */
    "CREATE TABLE IF NOT EXISTS keyed(position INTEGER PRIMARY KEY);";

enum {
    S_BEGIN,
    S_COMMIT,
    S_INSERT,
    S_CHAIN,
    S_ENTRY,
    S_LOOKUP,
    S_GAP_TOP,
    S_GAP_ADD,
    S_GAP_DEL,
    S_MISSING,
    S_RANGE,
    S_NODE_GET,
    S_NODE_PUT,
    S_FIRST_GAP,
    S_N
};

static const char *const s_sql[S_N] = {
    [S_BEGIN] = "BEGIN",
    [S_COMMIT] = "COMMIT",
    [S_INSERT] = "INSERT INTO entries(position, envelope, accepted, reason, chain, clock_ms,"
                 " org, seq, verified) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [S_CHAIN] = "SELECT chain, clock_ms FROM entries WHERE position = ?1",
    [S_ENTRY] = "SELECT envelope, accepted, reason, chain, clock_ms FROM entries"
                " WHERE position = ?1",
    [S_LOOKUP] = "SELECT position, accepted, reason, chain, clock_ms, envelope FROM entries"
                 " WHERE org = ?1 AND seq = ?2 AND verified = 1 ORDER BY position LIMIT 1",
    [S_GAP_TOP] = "SELECT lo, hi, chain, clock_ms, exact FROM gaps ORDER BY hi DESC LIMIT 1",
    [S_GAP_ADD] = "INSERT OR REPLACE INTO gaps(hi, lo, chain, clock_ms, exact)"
                  " VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_GAP_DEL] = "DELETE FROM gaps WHERE hi = ?1",
    [S_MISSING] = "SELECT coalesce(sum(hi - lo + 1), 0) FROM gaps",
    [S_RANGE] = "SELECT position, envelope, accepted, reason, chain, clock_ms, verified"
                " FROM entries WHERE position >= ?1 AND position <= ?2 ORDER BY position",
    [S_NODE_GET] = "SELECT hash FROM merkle WHERE level = ?1 AND idx = ?2",
    [S_NODE_PUT] = "INSERT OR REPLACE INTO merkle(level, idx, hash) VALUES (?1, ?2, ?3)",
    [S_FIRST_GAP] = "SELECT min(lo) FROM gaps",
};

struct ics_history {
    char group[ICS_GROUP_MAX];
    sqlite3 *db;
    sqlite3_stmt *st[S_N];
    ics_walckpt_t *ckpt;             /* WAL checkpoints off the loop (walckpt.h) */
    bool in_tx;
    uint64_t tx_ms;                  /* when the open transaction began */
    int tx_changes;                  /* sqlite3_total_changes() then */
    uint64_t top;                    /* highest position held or vouched for */
    uint8_t chain0[ICS_CHAIN_BYTES]; /* chain before position 1 */
    uint64_t scrub_next;             /* next position the scrub reads back */
    uint64_t missing;                /* positions in gaps, when !gaps_changed */
    bool gaps_changed;               /* missing must be counted again */
    ics_history_stats_t stats;
    /* The right edge of the Merkle tree: per level, the last node this
     * process wrote (s_merkle_add), so that appending at the top reads
     * nothing back. Forgotten when a transaction is rolled back. */
    struct {
        uint64_t idx;
        uint8_t hash[ICS_MERKLE_HASH_BYTES];
        bool ok;
    } edge[ICS_MERKLE_LEVELS];
};

static void s_edge_forget(ics_history_t *self)
{
    memset(self->edge, 0, sizeof self->edge);
}

/* ---------------------------------------------------------------- SQLite */

static int s_fail(ics_history_t *self, const char *what)
{
    s_edge_forget(self); /* SQLite may have rolled back what it held */
    ics_error("group %s: history: %s: %s", self->group, what, sqlite3_errmsg(self->db));
    return ICS_EIO;
}

/* A prepared statement, reset and unbound, ready for binds. */
static sqlite3_stmt *s_st(ics_history_t *self, int which)
{
    sqlite3_stmt *st = self->st[which];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

static int s_done(ics_history_t *self, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? ICS_OK : s_fail(self, what);
}

static int s_begin(ics_history_t *self)
{
    if (self->in_tx)
        return ICS_OK;
    if (s_done(self, s_st(self, S_BEGIN), "begin") != ICS_OK)
        return ICS_EIO;
    self->in_tx = true;
    self->tx_ms = ics_mono_ms();
    self->tx_changes = sqlite3_total_changes(self->db);
    return ICS_OK;
}

static uint64_t s_u64(sqlite3_stmt *st, int i)
{
    sqlite3_int64 v = sqlite3_column_int64(st, i);
    return v < 0 ? 0 : (uint64_t)v;
}

static bool s_blob32(sqlite3_stmt *st, int i, uint8_t out[32])
{
    const void *p = sqlite3_column_blob(st, i);
    if (p == NULL || sqlite3_column_bytes(st, i) != 32)
        return false;
    memcpy(out, p, 32);
    return true;
}

/* The chain and clock held at position (chain0 and 0 at position 0).
 * ICS_ENOENT if not held. */
static int s_chain_at(ics_history_t *self, uint64_t position, uint8_t chain[ICS_CHAIN_BYTES],
                      uint64_t *clock_ms)
{
    sqlite3_stmt *st;
    int rc;

    if (position == 0) {
        memcpy(chain, self->chain0, ICS_CHAIN_BYTES);
        *clock_ms = 0;
        return ICS_OK;
    }
    st = s_st(self, S_CHAIN);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)position);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *clock_ms = s_u64(st, 1);
        rc = s_blob32(st, 0, chain) ? ICS_OK : s_fail(self, "bad chain column");
    } else {
        rc = rc == SQLITE_DONE ? ICS_ENOENT : s_fail(self, "read");
    }
    sqlite3_reset(st);
    return rc;
}

typedef struct {
    uint64_t lo, hi, clock_ms;
    bool exact;                      /* clock_ms is the clock at hi, not a bound */
    uint8_t chain[ICS_CHAIN_BYTES];
} s_gap_t;

/* The highest gap; ICS_ENOENT if there is none. */
static int s_gap_top(ics_history_t *self, s_gap_t *g)
{
    sqlite3_stmt *st = s_st(self, S_GAP_TOP);
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        g->lo = s_u64(st, 0);
        g->hi = s_u64(st, 1);
        g->clock_ms = s_u64(st, 3);
        g->exact = sqlite3_column_int(st, 4) != 0;
        rc = s_blob32(st, 2, g->chain) ? ICS_OK : s_fail(self, "bad gap row");
    } else {
        rc = rc == SQLITE_DONE ? ICS_ENOENT : s_fail(self, "read gaps");
    }
    sqlite3_reset(st);
    return rc;
}

static int s_gap_put(ics_history_t *self, const s_gap_t *g)
{
    sqlite3_stmt *st = s_st(self, S_GAP_ADD);

    assert(g->lo >= 1 && g->lo <= g->hi);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)g->hi);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)g->lo);
    sqlite3_bind_blob(st, 3, g->chain, ICS_CHAIN_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)g->clock_ms);
    sqlite3_bind_int(st, 5, g->exact ? 1 : 0);
    self->gaps_changed = true;
    return s_done(self, st, "write gap");
}

static int s_gap_del(ics_history_t *self, uint64_t hi)
{
    sqlite3_stmt *st = s_st(self, S_GAP_DEL);
    self->gaps_changed = true;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)hi);
    return s_done(self, st, "delete gap");
}

/* ---------------------------------------------------------------- Merkle tree */

/* The node at (level, idx); ICS_ENOENT if its leaves are not all held. */
static int s_node_get(ics_history_t *self, unsigned level, uint64_t idx, uint8_t out[32])
{
    sqlite3_stmt *st;
    int rc;

    if (idx > INT64_MAX)
        return ICS_ENOENT;
    st = s_st(self, S_NODE_GET);
    sqlite3_bind_int(st, 1, (int)level);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)idx);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        rc = s_blob32(st, 0, out) ? ICS_OK : s_fail(self, "bad Merkle tree row");
    else
        rc = rc == SQLITE_DONE ? ICS_ENOENT : s_fail(self, "read Merkle tree");
    sqlite3_reset(st);
    return rc;
}

static int s_node_fn(void *ctx, unsigned level, uint64_t index, uint8_t out[ICS_MERKLE_HASH_BYTES])
{
    ics_history_t *self = ctx;
    int rc = s_node_get(self, level, index, out);

    if (rc == ICS_ENOENT) {
        /* Asked only below the tree size: a node must be there. */
        ics_error("group %s: history: Merkle tree node (%u, %" PRIu64 ") is missing", self->group,
                  level, index);
        rc = ICS_EIO;
    }
    return rc;
}

/* Stores the leaf hash of position and every node above it that it
 * completes (each whose sibling is held). A leaf stored again (an entry
 * backfilled after the scrub dropped it) recomputes the path above it.
 * at_top: position is above every leaf held, so no node right of its path
 * exists; a left sibling is usually the edge's last node. */
static int s_merkle_add(ics_history_t *self, uint64_t position, const uint8_t leaf[32],
                        bool at_top)
{
    uint8_t cur[32], sib[32];
    uint64_t idx = position - 1;
    unsigned level = 0;

    assert(position > 0 && position <= INT64_MAX);
    memcpy(cur, leaf, sizeof cur);
    for (;;) {
        sqlite3_stmt *st = s_st(self, S_NODE_PUT);
        bool known = (idx & 1) && self->edge[level].ok && self->edge[level].idx == (idx ^ 1);
        int rc;

        if (known)
            memcpy(sib, self->edge[level].hash, sizeof sib);
        sqlite3_bind_int(st, 1, (int)level);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)idx);
        sqlite3_bind_blob(st, 3, cur, sizeof cur, SQLITE_TRANSIENT);
        rc = s_done(self, st, "write Merkle tree");
        if (rc != ICS_OK || level == ICS_MERKLE_LEVELS - 1)
            return rc;
        self->edge[level].idx = idx;
        memcpy(self->edge[level].hash, cur, sizeof cur);
        self->edge[level].ok = true;
        if (at_top && !(idx & 1))
            return ICS_OK; /* its right sibling would cover leaves not held */
        if (!known) {
            rc = s_node_get(self, level, idx ^ 1, sib);
            if (rc == ICS_ENOENT)
                return ICS_OK;
            if (rc != ICS_OK)
                return rc;
        }
        if (idx & 1)
            ics_merkle_node_hash(sib, cur, cur);
        else
            ics_merkle_node_hash(cur, sib, cur);
        idx >>= 1;
        level++;
    }
}

/* Notes position as an accepted membership entry if its kind is one. */
static int s_keyed_add(ics_history_t *self, uint64_t position, uint32_t kind)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (!ics_keyset_kind_is_membership(kind))
        return ICS_OK;
    if (sqlite3_prepare_v2(self->db, "INSERT OR IGNORE INTO keyed(position) VALUES (?1)", -1, &st,
                           NULL) != SQLITE_OK)
        return s_fail(self, "write keyed");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)position);
    rc = sqlite3_step(st) == SQLITE_DONE ? ICS_OK : s_fail(self, "write keyed");
    sqlite3_finalize(st);
    return rc;
}

static int s_merkle_add_entry(ics_history_t *self, uint64_t position, const uint8_t *envelope,
                              size_t envelope_len, bool accepted, const char *reason, bool at_top)
{
    uint8_t id[32], leaf[ICS_MERKLE_HASH_BYTES];

    ics_entry_id(envelope, envelope_len, id);
    ics_log_leaf_hash(position, id, accepted, reason, leaf);
    return s_merkle_add(self, position, leaf, at_top);
}

typedef struct {
    uint64_t position;
    const uint8_t *envelope;
    size_t envelope_len;
    bool accepted;
    const char *reason;
    const uint8_t *chain;
    uint64_t clock_ms;
    bool verified;
    const char *org;     /* as claimed, if the caller knows it (else decoded) */
    uint64_t seq;
    uint32_t kind;       /* the envelope's, when org is given */
    bool at_top;         /* above every position held (an append) */
} s_row_t;

static int s_insert(ics_history_t *self, const s_row_t *r)
{
    Ics__V1__Envelope *env = NULL;
    sqlite3_stmt *st = s_st(self, S_INSERT);
    int rc;

    const char *org = r->org;
    uint64_t seq = r->seq;
    uint32_t kind = r->kind;

    if (r->envelope_len > INT32_MAX || r->position > INT64_MAX)
        return ICS_ETOOBIG;
    /* org and seq as claimed, for lookups of a verified entry. */
    if (org == NULL && ics_envelope_decode(r->envelope, r->envelope_len, &env, NULL) == ICS_OK) {
        org = env->org;
        seq = env->seq;
        kind = env->kind;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)r->position);
    sqlite3_bind_blob(st, 2, r->envelope_len ? r->envelope : (const void *)"", (int)r->envelope_len,
                      SQLITE_STATIC);
    sqlite3_bind_int(st, 3, r->accepted ? 1 : 0);
    sqlite3_bind_text(st, 4, r->reason, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, r->chain, ICS_CHAIN_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)r->clock_ms);
    sqlite3_bind_text(st, 7, org != NULL ? org : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, seq <= INT64_MAX ? (sqlite3_int64)seq : 0);
    sqlite3_bind_int(st, 9, r->verified && org != NULL ? 1 : 0);
    rc = s_done(self, st, "append");
    if (rc == ICS_OK)
        rc = s_merkle_add_entry(self, r->position, r->envelope, r->envelope_len, r->accepted,
                                r->reason, r->at_top);
    if (rc == ICS_OK && r->accepted)
        rc = s_keyed_add(self, r->position, kind);
    if (env != NULL)
        ics__v1__envelope__free_unpacked(env, NULL);
    return rc;
}

/* ---------------------------------------------------------------- life cycle */

static int s_open_db(ics_history_t *self, const char *path, int *format, ics_err_t *err)
{
    const char *name = path != NULL ? path : ":memory:";
    sqlite3_stmt *st = NULL;
    char *msg = NULL;
    int rc = ICS_EIO;

    if (ics_sqlfile_open(name, &self->db) != SQLITE_OK)
        return ics_err(err, ICS_EIO, "%s: %s", name,
                       self->db ? sqlite3_errmsg(self->db) : "out of memory");
    sqlite3_busy_timeout(self->db, 1000);
    /* Another application's database at this path is refused, not changed. */
    if (sqlite3_prepare_v2(self->db, "PRAGMA application_id", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        rc = ics_err(err, ICS_EIO, "%s: not a readable database: %s", name,
                     sqlite3_errmsg(self->db));
        goto out;
    }
    if (sqlite3_column_int(st, 0) != 0 && sqlite3_column_int(st, 0) != S_APPLICATION_ID) {
        rc = ics_err(err, ICS_EINVAL, "%s: not an icsd history file", name);
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_exec(self->db,
                     "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                     "PRAGMA journal_size_limit = 8388608;"
                     "PRAGMA application_id = 1229148232;",
                     NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(self->db, s_schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
        rc = ics_err(err, ICS_EIO, "%s: %s", name, msg ? msg : sqlite3_errmsg(self->db));
        goto out;
    }
    if (sqlite3_prepare_v2(self->db, "INSERT OR IGNORE INTO meta(id, grp, format) VALUES"
                                     " (1, ?1, ?2)", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, self->group, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int(st, 2, S_FORMAT) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
        rc = ics_err(err, ICS_EIO, "%s: %s", name, sqlite3_errmsg(self->db));
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(self->db, "SELECT grp, format FROM meta WHERE id = 1", -1, &st,
                           NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        rc = ics_err(err, ICS_EIO, "%s: %s", name, sqlite3_errmsg(self->db));
        goto out;
    }
    if (strcmp((const char *)sqlite3_column_text(st, 0), self->group) != 0) {
        rc = ics_err(err, ICS_EGROUP, "%s: history of group '%s', not '%s'", name,
                     (const char *)sqlite3_column_text(st, 0), self->group);
        goto out;
    }
    *format = sqlite3_column_int(st, 1);
    if (*format != 1 && *format != S_FORMAT) {
        rc = ics_err(err, ICS_EVERSION, "%s: history format %d (this node reads 1 and %d)", name,
                     *format, S_FORMAT);
        goto out;
    }
    if (ics_sqlfile_prepare(self->db, s_sql, self->st, S_N) != SQLITE_OK) {
        rc = ics_err(err, ICS_EIO, "%s: %s", name, sqlite3_errmsg(self->db));
        goto out;
    }
    if (path != NULL && (self->ckpt = ics_walckpt_start(self->db, path, 256, err)) == NULL)
        goto out;
    rc = ICS_OK;
out:
    sqlite3_free(msg);
    sqlite3_finalize(st);
    return rc;
}

/* Format 1 to 2: the Merkle tree over the entries held, in one
 * transaction (an interrupted upgrade leaves format 1 and starts again). */
static int s_upgrade(ics_history_t *self, ics_err_t *err)
{
    sqlite3_stmt *st = NULL;
    uint64_t n = 0;
    int rc;

    rc = s_begin(self);
    if (rc == ICS_OK && sqlite3_prepare_v2(self->db, "SELECT position, envelope, accepted, reason"
                                           " FROM entries ORDER BY position", -1, &st,
                                           NULL) != SQLITE_OK)
        rc = s_fail(self, "upgrade");
    while (rc == ICS_OK) {
        int step = sqlite3_step(st);
        if (step == SQLITE_DONE)
            break;
        if (step != SQLITE_ROW) {
            rc = s_fail(self, "upgrade");
            break;
        }
        rc = s_merkle_add_entry(self, s_u64(st, 0), sqlite3_column_blob(st, 1),
                                (size_t)sqlite3_column_bytes(st, 1),
                                sqlite3_column_int(st, 2) != 0,
                                (const char *)sqlite3_column_text(st, 3), false);
        if (rc == ICS_OK && sqlite3_column_int(st, 2) != 0) {
            Ics__V1__Envelope *env = NULL;
            if (ics_envelope_decode(sqlite3_column_blob(st, 1),
                                    (size_t)sqlite3_column_bytes(st, 1), &env, NULL) == ICS_OK) {
                rc = s_keyed_add(self, s_u64(st, 0), env->kind);
                ics__v1__envelope__free_unpacked(env, NULL);
            }
        }
        n++;
    }
    sqlite3_finalize(st);
    if (rc == ICS_OK && sqlite3_exec(self->db, "UPDATE meta SET format = 2 WHERE id = 1", NULL,
                                     NULL, NULL) != SQLITE_OK)
        rc = s_fail(self, "upgrade");
    if (rc == ICS_OK)
        rc = ics_history_commit(self, true);
    if (rc != ICS_OK)
        return ics_err(err, rc, "group %s: history: cannot add the Merkle tree to the history"
                       " file (format 1 to 2)", self->group);
    ics_notice("group %s: history: Merkle tree built over %" PRIu64 " entries (format 1 to 2)",
               self->group, n);
    return ICS_OK;
}

ics_history_t *ics_history_open(const char *path, const char *group, ics_err_t *err)
{
    int format = S_FORMAT;

    ics_history_t *self = calloc(1, sizeof *self);
    sqlite3_stmt *st = NULL;

    if (self == NULL) {
        ics_err(err, ICS_ENOMEM, "out of memory");
        return NULL;
    }
    if (!ics_strcpy(self->group, sizeof self->group, group)) {
        ics_err(err, ICS_EINVAL, "group id too long");
        goto fail;
    }
    ics_chain_init(group, self->chain0);
    if (s_open_db(self, path, &format, err) != ICS_OK)
        goto fail;
    if (format == 1 && s_upgrade(self, err) != ICS_OK)
        goto fail;
    if (sqlite3_prepare_v2(self->db, "SELECT max(coalesce((SELECT max(position) FROM entries), 0),"
                                     " coalesce((SELECT max(hi) FROM gaps), 0))",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        ics_err(err, ICS_EIO, "history: %s", sqlite3_errmsg(self->db));
        goto fail;
    }
    self->top = s_u64(st, 0);
    self->gaps_changed = true;
    sqlite3_finalize(st);
    return self;
fail:
    sqlite3_finalize(st);
    ics_history_close(&self);
    return NULL;
}

void ics_history_close(ics_history_t **self_p)
{
    ics_history_t *self;

    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    if (self->in_tx)
        ics_history_commit(self, false);
    ics_walckpt_stop(&self->ckpt);
    ics_sqlfile_close(self->db, self->st, S_N);
    free(self);
    *self_p = NULL;
}

int ics_history_commit(ics_history_t *self, bool sync)
{
    uint64_t t0;
    int rc;

    if (!self->in_tx)
        return sync ? (sqlite3_wal_checkpoint_v2(self->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
                                                 NULL) == SQLITE_OK ? ICS_OK : ICS_EIO)
                    : ICS_OK;
    /* SQLite rolled the transaction back after a failure (logged then):
     * what it held is gone until ics_history_resync. */
    if (sqlite3_get_autocommit(self->db))
        return ICS_EIO;
    t0 = ics_mono_us();
    if (sync)
        sqlite3_exec(self->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
    rc = s_done(self, s_st(self, S_COMMIT), "commit");
    if (sync)
        sqlite3_exec(self->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
    if (rc == ICS_OK) {
        uint64_t us = ics_mono_us() - t0;
        self->in_tx = false;
        self->stats.commits++;
        if (us > self->stats.commit_us_max)
            self->stats.commit_us_max = us;
    }
    return rc;
}

int ics_history_flush(ics_history_t *self)
{
    if (!self->in_tx)
        return ICS_OK;
    if (sqlite3_total_changes(self->db) - self->tx_changes < S_BATCH_ROWS &&
        ics_mono_ms() - self->tx_ms < S_BATCH_MS)
        return ICS_OK;
    return ics_history_commit(self, false);
}

int ics_history_resync(ics_history_t *self, ics_err_t *err)
{
    sqlite3_stmt *st = NULL;
    int rc;

    assert(self != NULL);
    /* SQLite may have rolled the transaction back itself (SQLITE_FULL,
     * SQLITE_IOERR); if not, nothing in it may be kept: raft replays it. */
    if (!sqlite3_get_autocommit(self->db))
        sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
    self->in_tx = false;
    s_edge_forget(self);
    if (sqlite3_prepare_v2(self->db, "SELECT max(coalesce((SELECT max(position) FROM entries),"
                                     " 0), coalesce((SELECT max(hi) FROM gaps), 0))",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        rc = ics_err(err, ICS_EIO, "group %s: history: cannot read it back: %s", self->group,
                     sqlite3_errmsg(self->db));
    } else {
        uint64_t top = s_u64(st, 0);
        if (top != self->top)
            ics_notice("group %s: history: back to position %" PRIu64 " on disk (%" PRIu64
                       " not committed; replayed from raft's log)", self->group, top,
                       self->top > top ? self->top - top : 0);
        self->top = top;
        self->gaps_changed = true;
        rc = ICS_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---------------------------------------------------------------- applied entries */

int ics_history_append(ics_history_t *self, const ics_apply_result_t *res)
{
    uint8_t held[ICS_CHAIN_BYTES];
    uint64_t clock;
    int rc;

    assert(self && res);
    if (res->duplicate)
        return ICS_OK;
    assert(res->envelope != NULL || res->envelope_len == 0);
    rc = s_begin(self);
    if (rc != ICS_OK)
        return rc;
    if (res->position <= self->top) {
        /* Applied again after a restart: what we hold must agree. */
        rc = s_chain_at(self, res->position, held, &clock);
        if (rc == ICS_ENOENT) {
            ics_error("group %s: history: position %" PRIu64 " applied inside a gap",
                      self->group, res->position);
            return ICS_EINVAL;
        }
        if (rc != ICS_OK)
            return rc;
        self->stats.compared++;
        if (sodium_memcmp(held, res->chain, ICS_CHAIN_BYTES) != 0) {
            self->stats.diverged++;
            ics_error("group %s: history: position %" PRIu64 " on disk disagrees with the"
                      " log (chain differs): the history file is corrupt or from another log",
                      self->group, res->position);
            return ICS_EINVAL;
        }
        return ICS_OK;
    }
    if (res->position != self->top + 1) {
        ics_error("group %s: history: position %" PRIu64 " applied after %" PRIu64
                  " with nothing in between", self->group, res->position, self->top);
        return ICS_EINVAL;
    }
    rc = s_insert(self, &(s_row_t){
                            .position = res->position,
                            .envelope = res->envelope,
                            .envelope_len = res->envelope_len,
                            .accepted = res->accepted,
                            .reason = res->reason,
                            .chain = res->chain,
                            .clock_ms = res->clock_ms,
                            .verified = res->verified,
                            .org = res->org,
                            .seq = res->seq,
                            .kind = res->kind,
                            .at_top = true,
                        });
    if (rc == ICS_OK) {
        self->top = res->position;
        self->stats.appended++;
    }
    return rc;
}

int ics_history_restored(ics_history_t *self, uint64_t position, const uint8_t chain[32],
                         uint64_t clock_ms)
{
    uint8_t held[ICS_CHAIN_BYTES];
    uint64_t clock;
    int rc;

    if (position == 0)
        return ICS_OK;
    rc = s_begin(self);
    if (rc != ICS_OK)
        return rc;
    if (position <= self->top) {
        rc = s_chain_at(self, position, held, &clock);
        if (rc == ICS_ENOENT)
            return ICS_OK; /* inside a gap already being filled */
        if (rc != ICS_OK)
            return rc;
        if (sodium_memcmp(held, chain, ICS_CHAIN_BYTES) != 0) {
            self->stats.diverged++;
            ics_error("group %s: history: the snapshot at position %" PRIu64 " disagrees with"
                      " the history on disk: the history file is corrupt or from another log",
                      self->group, position);
            return ICS_EINVAL;
        }
        return ICS_OK;
    }
    s_gap_t g = {.lo = self->top + 1, .hi = position, .clock_ms = clock_ms, .exact = true};
    memcpy(g.chain, chain, ICS_CHAIN_BYTES);
    rc = s_gap_put(self, &g);
    if (rc == ICS_OK) {
        ics_info("group %s: history: positions %" PRIu64 " to %" PRIu64 " to be backfilled from"
                 " peers", self->group, g.lo, g.hi);
        self->top = position;
    }
    return rc;
}

uint64_t ics_history_top(const ics_history_t *self)
{
    return self->top;
}

bool ics_history_gap(ics_history_t *self, uint64_t *lo, uint64_t *hi)
{
    s_gap_t g;
    /* Asked every loop turn: no query while the history is complete. */
    if (ics_history_missing(self) == 0 || s_gap_top(self, &g) != ICS_OK)
        return false;
    *lo = g.lo;
    *hi = g.hi;
    return true;
}

uint64_t ics_history_missing(ics_history_t *self)
{
    sqlite3_stmt *st;

    if (!self->gaps_changed)
        return self->missing;
    st = s_st(self, S_MISSING);
    if (sqlite3_step(st) == SQLITE_ROW) {
        self->missing = s_u64(st, 0);
        self->gaps_changed = false;
    }
    sqlite3_reset(st);
    return self->missing;
}

/* ---------------------------------------------------------------- tree heads and proofs */

uint64_t ics_history_tree_size(ics_history_t *self)
{
    sqlite3_stmt *st;
    uint64_t lo = 0;

    if (ics_history_missing(self) == 0)
        return self->top;
    st = s_st(self, S_FIRST_GAP);
    if (sqlite3_step(st) == SQLITE_ROW)
        lo = s_u64(st, 0);
    sqlite3_reset(st);
    return lo > 0 ? lo - 1 : 0;
}

int ics_history_tree_root(ics_history_t *self, uint64_t size, uint8_t root[ICS_MERKLE_HASH_BYTES])
{
    if (size > ics_history_tree_size(self))
        return ICS_EUNAVAIL;
    return ics_merkle_root(s_node_fn, self, size, root);
}

int ics_history_inclusion(ics_history_t *self, uint64_t position, uint64_t size,
                          ics_merkle_hash_t proof[ICS_MERKLE_PROOF_MAX], size_t *len)
{
    *len = 0;
    if (position == 0 || position > size)
        return ICS_EINVAL;
    if (size > ics_history_tree_size(self))
        return ICS_EUNAVAIL;
    return ics_merkle_inclusion_proof(s_node_fn, self, position - 1, size, proof, len);
}

int ics_history_consistency(ics_history_t *self, uint64_t old_size, uint64_t size,
                            ics_merkle_hash_t proof[ICS_MERKLE_PROOF_MAX], size_t *len)
{
    *len = 0;
    if (old_size == 0 || old_size > size)
        return ICS_EINVAL;
    if (size > ics_history_tree_size(self))
        return ICS_EUNAVAIL;
    return ics_merkle_consistency_proof(s_node_fn, self, old_size, size, proof, len);
}

int ics_history_keyed(ics_history_t *self, uint64_t upto, uint64_t **positions, size_t *n)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc = ICS_OK;

    *positions = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(self->db, "SELECT position FROM keyed WHERE position <= ?1"
                                     " ORDER BY position", -1, &st, NULL) != SQLITE_OK)
        return s_fail(self, "read keyed");
    sqlite3_bind_int64(st, 1, upto > INT64_MAX ? INT64_MAX : (sqlite3_int64)upto);
    while (rc == ICS_OK && sqlite3_step(st) == SQLITE_ROW) {
        if (*n == cap) {
            uint64_t *more = realloc(*positions, (cap ? 2 * cap : 16) * sizeof *more);
            if (more == NULL) {
                rc = ICS_ENOMEM;
                break;
            }
            *positions = more;
            cap = cap ? 2 * cap : 16;
        }
        (*positions)[(*n)++] = s_u64(st, 0);
    }
    sqlite3_finalize(st);
    if (rc != ICS_OK) {
        free(*positions);
        *positions = NULL;
        *n = 0;
    }
    return rc;
}

int ics_history_keyset(ics_history_t *self, uint64_t upto, ics_keyset_t *ks, ics_err_t *err)
{
    uint64_t *pos = NULL;
    size_t n = 0;
    int rc;

    memset(ks, 0, sizeof *ks);
    rc = ics_history_keyed(self, upto, &pos, &n);
    if (rc != ICS_OK)
        return ics_err(err, rc, "history database failure");
    for (size_t i = 0; rc == ICS_OK && i < n; i++) {
        ics_log_entry_t e;
        ics_err_t why;
        rc = ics_history_entry(self, pos[i], &e);
        if (rc == ICS_OK) {
            rc = ics_keyset_apply(ks, self->group, e.envelope, e.envelope_len, &why);
            free(e.envelope);
            if (rc != ICS_OK)
                rc = ics_err(err, ICS_EIO, "membership entry %" PRIu64 " cannot be replayed: %s",
                             pos[i], why.msg);
        } else {
            rc = ics_err(err, ICS_EIO, "membership entry %" PRIu64 " is not held", pos[i]);
        }
    }
    free(pos);
    return rc;
}

/* ---------------------------------------------------------------- cosigning */

int ics_history_may_cosign(ics_history_t *self, uint64_t size, const uint8_t root[32],
                           uint64_t last, const uint8_t last_root[32], ics_err_t *err)
{
    ics_merkle_hash_t proof[ICS_MERKLE_PROOF_MAX];
    uint8_t mine[32];
    uint64_t lo, hi;
    size_t len;
    int rc;

    rc = ics_history_tree_root(self, size, mine);
    if (rc != ICS_OK)
        return ics_err(err, rc, "the history does not hold the tree of size %" PRIu64, size);
    if (sodium_memcmp(mine, root, 32) != 0)
        return ics_err(err, ICS_EINVAL, "the tree head of size %" PRIu64 " is not this node's",
                       size);
    if (size == 0 || last == 0)
        return ICS_OK;
    /* Consistent in either order: the older head is a prefix of the newer. */
    lo = size < last ? size : last;
    hi = size < last ? last : size;
    rc = ics_history_consistency(self, lo, hi, proof, &len);
    if (rc == ICS_EUNAVAIL)
        return ics_err(err, ICS_EINVAL,
                       "cannot prove the tree head of size %" PRIu64
                       " consistent with the head of size %" PRIu64 " cosigned before:"
                       " the history holds %" PRIu64 " entries",
                       size, last, ics_history_tree_size(self));
    if (rc != ICS_OK)
        return ics_err(err, rc, "history database failure");
    if (!ics_merkle_verify_consistency(lo, hi, size < last ? root : last_root,
                                       size < last ? last_root : root, proof, len))
        return ics_err(err, ICS_EINVAL,
                       "the tree head of size %" PRIu64 " is not consistent"
                       " with the head of size %" PRIu64 " this node cosigned before (the"
                       " history was replaced, or the log forked)",
                       size, last);
    return ICS_OK;
}

#define S_COSIGNED_MAGIC "icsd-cosigned 1"

int ics_cosigned_read(const char *path, const char *group, uint64_t *size, uint8_t root[32],
                      ics_err_t *err)
{
    char line[256], prefix[ICS_GROUP_MAX + 32], *p, *sp;
    uint64_t n = 0;
    size_t plen;
    FILE *f = fopen(path, "r");
    bool ok;

    *size = 0;
    memset(root, 0, 32);
    if (f == NULL)
        return errno == ENOENT ? ICS_ENOENT
                               : ics_err(err, ICS_EIO, "%s: %s", path, strerror(errno));
    plen = (size_t)snprintf(prefix, sizeof prefix, S_COSIGNED_MAGIC " %s ", group);
    ok = fgets(line, sizeof line, f) != NULL && fgetc(f) == EOF &&
         strncmp(line, prefix, plen) == 0;
    p = line + plen;
    sp = ok ? strchr(p, ' ') : NULL;
    ok = sp != NULL && sp > p && (sp - p == 1 || p[0] != '0') && sp - p <= 19 &&
         strspn(p, "0123456789") == (size_t)(sp - p) && strlen(sp + 1) == 65 &&
         sp[65] == '\n' && strspn(sp + 1, "0123456789abcdef") == 64 &&
         sodium_hex2bin(root, 32, sp + 1, 64, NULL, NULL, NULL) == 0;
    for (const char *d = p; ok && d < sp; d++)
        n = n * 10 + (uint64_t)(*d - '0');
    fclose(f);
    if (!ok || n > INT64_MAX)
        return ics_err(err, ICS_EINVAL, "%s: not a cosigned tree head of group %s", path, group);
    *size = n;
    return ICS_OK;
}

int ics_cosigned_write(const char *path, const char *group, uint64_t size, const uint8_t root[32],
                       ics_err_t *err)
{
    char tmp[PATH_MAX], hex[65];
    FILE *f;
    int ok;

    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return ics_err(err, ICS_EINVAL, "%s: path too long", path);
    f = fopen(tmp, "w");
    if (f == NULL)
        return ics_err(err, ICS_EIO, "%s: %s", tmp, strerror(errno));
    ics_hex(root, 32, hex);
    ok = fprintf(f, S_COSIGNED_MAGIC " %s %" PRIu64 " %s\n", group, size, hex) > 0 &&
         fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ics_err(err, ICS_EIO, "%s: %s", path, strerror(e));
    }
    return ICS_OK;
}

/* ---------------------------------------------------------------- reads */

int ics_history_entry(ics_history_t *self, uint64_t position, ics_log_entry_t *out)
{
    sqlite3_stmt *st;
    size_t n;
    int rc;

    memset(out, 0, sizeof *out);
    if (position == 0 || position > INT64_MAX)
        return ICS_ENOENT;
    st = s_st(self, S_ENTRY);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)position);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? ICS_ENOENT : s_fail(self, "read");
        goto out;
    }
    n = (size_t)sqlite3_column_bytes(st, 0);
    out->envelope = malloc(n > 0 ? n : 1);
    if (out->envelope == NULL) {
        rc = ICS_ENOMEM;
        goto out;
    }
    if (n > 0)
        memcpy(out->envelope, sqlite3_column_blob(st, 0), n);
    out->envelope_len = n;
    out->position = position;
    out->accepted = sqlite3_column_int(st, 1) != 0;
    ics_strcpy(out->reason, sizeof out->reason, (const char *)sqlite3_column_text(st, 2));
    out->clock_ms = s_u64(st, 4);
    rc = ICS_OK;
    if (!s_blob32(st, 3, out->chain)) {
        free(out->envelope);
        out->envelope = NULL;
        rc = s_fail(self, "bad chain column");
    }
out:
    sqlite3_reset(st);
    return rc;
}

int ics_history_lookup(ics_history_t *self, const char *org, uint64_t seq,
                       ics_apply_result_t *res)
{
    sqlite3_stmt *st;
    int rc;

    memset(res, 0, sizeof *res);
    if (seq > INT64_MAX)
        return ICS_ENOENT;
    st = s_st(self, S_LOOKUP);
    sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? ICS_ENOENT : s_fail(self, "lookup");
        goto out;
    }
    res->position = s_u64(st, 0);
    res->accepted = sqlite3_column_int(st, 1) != 0;
    ics_strcpy(res->reason, sizeof res->reason, (const char *)sqlite3_column_text(st, 2));
    res->clock_ms = s_u64(st, 4);
    ics_strcpy(res->org, sizeof res->org, org);
    res->seq = seq;
    res->verified = true;
    ics_entry_id(sqlite3_column_blob(st, 5), (size_t)sqlite3_column_bytes(st, 5), res->entry_id);
    {
        Ics__V1__Envelope *env = NULL;
        if (ics_envelope_decode(sqlite3_column_blob(st, 5), (size_t)sqlite3_column_bytes(st, 5),
                                &env, NULL) == ICS_OK) {
            res->kind = env->kind;
            ics__v1__envelope__free_unpacked(env, NULL);
        }
    }
    rc = s_blob32(st, 3, res->chain) ? ICS_OK : s_fail(self, "bad chain column");
out:
    sqlite3_reset(st);
    return rc;
}

int ics_history_export(ics_history_t *self, FILE *out, ics_err_t *err)
{
    uint8_t head[ICS_CHAIN_BYTES], prev[ICS_CHAIN_BYTES];
    uint64_t clock, expect = 1;
    s_gap_t g;
    sqlite3_stmt *st;
    int rc;

    rc = s_gap_top(self, &g);
    if (rc == ICS_OK)
        return ics_err(err, ICS_EUNAVAIL, "the history of %s is not complete yet: %" PRIu64
                       " entries are being backfilled from peers (positions %" PRIu64 " to %"
                       PRIu64 " first)", self->group, ics_history_missing(self), g.lo, g.hi);
    if (rc != ICS_ENOENT)
        return ics_err(err, rc, "history database failure");
    rc = s_chain_at(self, self->top, head, &clock);
    if (rc != ICS_OK)
        return ics_err(err, ICS_EIO, "history database failure");
    rc = ics_log_write_header(out, self->group, self->top, head);
    memcpy(prev, self->chain0, sizeof prev);
    st = s_st(self, S_RANGE);
    sqlite3_bind_int64(st, 1, 1);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)self->top);
    while (rc == ICS_OK && sqlite3_step(st) == SQLITE_ROW) {
        uint8_t id[32], chain[32];
        ics_log_line_t line = {
            .position = s_u64(st, 0),
            .envelope = sqlite3_column_blob(st, 1),
            .envelope_len = (size_t)sqlite3_column_bytes(st, 1),
            .accepted = sqlite3_column_int(st, 2) != 0,
            .reason = (const char *)sqlite3_column_text(st, 3),
            .clock_ms = s_u64(st, 5),
            .entry_id = id,
            .chain = chain,
        };
        if (line.position != expect++ || !s_blob32(st, 4, chain)) {
            rc = ICS_EIO;
            break;
        }
        ics_entry_id(line.envelope, line.envelope_len, id);
        /* Never hand out what the disk corrupted: each line must chain. */
        ics_chain_step(prev, line.position, id, line.accepted, line.reason, prev);
        if (sodium_memcmp(prev, chain, sizeof prev) != 0) {
            sqlite3_reset(st);
            return ics_err(err, ICS_EIO, "the history on disk is corrupt at position %" PRIu64
                           ": the node repairs it in the background (see icsctl status); try"
                           " again later", line.position);
        }
        rc = ics_log_write_entry(out, &line);
    }
    sqlite3_reset(st);
    if (rc == ICS_OK && expect - 1 != self->top)
        rc = ICS_EIO;
    if (rc == ICS_OK)
        rc = ics_log_write_end(out);
    if (rc == ICS_OK && fflush(out) != 0)
        rc = ICS_EIO;
    if (rc != ICS_OK)
        return ics_err(err, rc, "log export failed: %s",
                       rc == ICS_EIO ? "write error or history database failure"
                                     : ics_strerror(rc));
    return ICS_OK;
}

/* ---------------------------------------------------------------- backfill */

int ics_history_serve(ics_history_t *self, uint64_t request_id, uint64_t first, uint64_t last,
                      size_t max_bytes, uint8_t **buf, size_t *len)
{
    Ics__V1__HistoryChunk chunk = ICS__V1__HISTORY_CHUNK__INIT;
    Ics__V1__HistoryEntry *items = NULL, **ptrs = NULL;
    uint8_t prev[ICS_CHAIN_BYTES];
    uint64_t prev_clock = 0, lo;
    size_t n = 0, cap = 0, bytes = 0;
    sqlite3_stmt *st = NULL;
    char error[160] = "";
    int rc;

    *buf = NULL;
    *len = 0;
    chunk.request_id = request_id;
    if (first == 0 || first > last || last > self->top) {
        snprintf(error, sizeof error, "positions %" PRIu64 " to %" PRIu64 " are not held here"
                 " (this node holds up to %" PRIu64 ")", first, last, self->top);
        goto pack;
    }
    /* Walk down from last while the chunk fits; each row must be held and
     * so must the one below the lowest (for prev_chain). */
    cap = 64;
    items = calloc(cap, sizeof *items);
    if (items == NULL)
        return ICS_ENOMEM;
    lo = last;
    for (uint64_t p = last; p >= first; p--) {
        size_t need;
        if (n == cap) {
            Ics__V1__HistoryEntry *more = realloc(items, 2 * cap * sizeof *items);
            if (more == NULL) {
                rc = ICS_ENOMEM;
                goto out;
            }
            items = more;
            cap *= 2;
        }
        st = s_st(self, S_RANGE);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)p);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)p);
        if (sqlite3_step(st) != SQLITE_ROW) {
            sqlite3_reset(st);
            if (n == 0) {
                snprintf(error, sizeof error, "position %" PRIu64 " is not held here", p);
                goto pack;
            }
            break; /* a gap below: serve what we have above it */
        }
        need = (size_t)sqlite3_column_bytes(st, 1) + (size_t)sqlite3_column_bytes(st, 3) + 32;
        if (n > 0 && bytes + need > max_bytes) {
            sqlite3_reset(st);
            break;
        }
        Ics__V1__HistoryEntry *e = &items[n];
        ics__v1__history_entry__init(e);
        e->envelope.len = (size_t)sqlite3_column_bytes(st, 1);
        e->envelope.data = malloc(e->envelope.len ? e->envelope.len : 1);
        e->reason = strdup((const char *)sqlite3_column_text(st, 3));
        if (e->envelope.data == NULL || e->reason == NULL) {
            free(e->envelope.data);
            free(e->reason);
            sqlite3_reset(st);
            rc = ICS_ENOMEM;
            goto out;
        }
        if (e->envelope.len > 0)
            memcpy(e->envelope.data, sqlite3_column_blob(st, 1), e->envelope.len);
        e->accepted = sqlite3_column_int(st, 2) != 0;
        e->clock_ms = s_u64(st, 5);
        e->verified = sqlite3_column_int(st, 6) != 0;
        sqlite3_reset(st);
        bytes += need;
        n++;
        lo = p;
        if (p == 1)
            break;
    }
    if (s_chain_at(self, lo - 1, prev, &prev_clock) != ICS_OK) {
        snprintf(error, sizeof error, "position %" PRIu64 " is not held here", lo - 1);
        goto pack;
    }
    /* Items were collected newest first; the chunk runs oldest first. */
    ptrs = calloc(n ? n : 1, sizeof *ptrs);
    if (ptrs == NULL) {
        rc = ICS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &items[n - 1 - i];
    chunk.first = lo;
    chunk.prev_chain.data = prev;
    chunk.prev_chain.len = sizeof prev;
    chunk.prev_clock = prev_clock;
    chunk.entries = ptrs;
    chunk.n_entries = n;
pack:
    if (error[0] != '\0') {
        chunk.error = error;
        chunk.n_entries = 0;
    }
    rc = ics_pack(&chunk.base, buf, len);
out:
    for (size_t i = 0; i < n; i++) {
        free(items[i].envelope.data);
        free(items[i].reason);
    }
    free(items);
    free(ptrs);
    return rc;
}

/* May the log clock step from prev to e->clock_ms at this entry? It never
 * falls, and it rises only to the entry's own time (or its tick's). An
 * entry whose signature verified (its (org, seq) was taken) always moves
 * it to at least its own time, as the state machine does before judging
 * the command; one that did not verify leaves it, unless it was a replay
 * below the window (verified, but not taken), which moves it too. */
static bool s_clock_step_ok(uint64_t prev, const Ics__V1__HistoryEntry *e)
{
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *cmd = NULL;
    uint64_t moved;
    bool ok;

    if (e->clock_ms < prev)
        return false;
    if (ics_envelope_decode(e->envelope.data, e->envelope.len, &env, NULL) != ICS_OK)
        return !e->verified && e->clock_ms == prev;
    moved = env->timestamp_ms > prev ? env->timestamp_ms : prev;
    ok = e->clock_ms == moved || (!e->verified && e->clock_ms == prev);
    if (!ok && e->verified && env->kind == ICS__V1__COMMAND__BODY_TICK &&
        ics_command_decode(env, &cmd, NULL) == ICS_OK &&
        cmd->body_case == ICS__V1__COMMAND__BODY_TICK)
        ok = cmd->tick->now_ms > moved && cmd->tick->now_ms == e->clock_ms;
    if (cmd != NULL)
        ics__v1__command__free_unpacked(cmd, NULL);
    ics__v1__envelope__free_unpacked(env, NULL);
    return ok;
}

int ics_history_fill_chunk(ics_history_t *self, const Ics__V1__HistoryChunk *c, size_t *stored,
                           ics_err_t *err)
{
    uint8_t (*chains)[ICS_CHAIN_BYTES] = NULL;
    uint8_t below[ICS_CHAIN_BYTES];
    uint64_t clock, below_clock = 0;
    bool closing, below_exact = false;
    s_gap_t g;
    int rc;

    *stored = 0;
    if (c->error != NULL && c->error[0] != '\0') {
        rc = ics_err(err, ICS_ENOENT, "peer cannot serve: %.200s", c->error);
        goto out;
    }
    rc = s_gap_top(self, &g);
    if (rc == ICS_ENOENT) {
        rc = ICS_OK; /* nothing missing any more: a late answer */
        goto out;
    }
    if (rc != ICS_OK)
        goto out;
    if (c->n_entries == 0 || c->prev_chain.len != ICS_CHAIN_BYTES || c->first < g.lo ||
        c->first > g.hi || g.hi - c->first + 1 != c->n_entries) {
        rc = ics_err(err, ICS_EINVAL, "history chunk covers %zu entries from %" PRIu64
                     ", not the top of the gap %" PRIu64 " to %" PRIu64, c->n_entries,
                     c->first, g.lo, g.hi);
        goto out;
    }
    chains = malloc(c->n_entries * sizeof *chains);
    if (chains == NULL) {
        rc = ics_err(err, ICS_ENOMEM, "out of memory");
        goto out;
    }
    /* Closing the gap: the chain below must be the one we already hold,
     * and the clock steps from the one we hold there. */
    closing = c->first == g.lo;
    if (closing) {
        rc = s_chain_at(self, g.lo - 1, below, &below_clock);
        below_exact = rc == ICS_OK;
        if (rc == ICS_ENOENT) {
            /* Another gap ends right below: its top chain is what we know. */
            sqlite3_stmt *st = NULL;
            rc = ICS_EIO;
            if (sqlite3_prepare_v2(self->db, "SELECT chain FROM gaps WHERE hi = ?1", -1, &st,
                                   NULL) == SQLITE_OK) {
                sqlite3_bind_int64(st, 1, (sqlite3_int64)(g.lo - 1));
                if (sqlite3_step(st) == SQLITE_ROW && s_blob32(st, 0, below))
                    rc = ICS_OK;
            }
            sqlite3_finalize(st);
        }
        if (rc != ICS_OK) {
            rc = ics_err(err, ICS_EIO, "history database failure");
            goto out;
        }
    }
    /* Recompute the chain over every entry and check the clock's steps.
     * prev_clock is the peer's word (the chain does not cover clocks): it
     * only opens the steps, and is never trusted beyond this chunk. */
    clock = closing && below_exact ? below_clock : c->prev_clock;
    for (size_t i = 0; i < c->n_entries; i++) {
        const Ics__V1__HistoryEntry *e = c->entries[i];
        const uint8_t *prev = i == 0 ? c->prev_chain.data : chains[i - 1];
        const char *reason = e->reason != NULL ? e->reason : "";
        uint8_t id[32];

        if (strlen(reason) >= ICS_REASON_MAX || (e->accepted && reason[0] != '\0') ||
            e->envelope.len > ICS_ENVELOPE_MAX) {
            rc = ics_err(err, ICS_EINVAL, "history chunk entry %" PRIu64 " is malformed",
                         c->first + i);
            goto out;
        }
        if (!s_clock_step_ok(clock, e)) {
            rc = ics_err(err, ICS_EINVAL, "history chunk entry %" PRIu64 " has a log clock (%"
                         PRIu64 ") its entry cannot have moved to", c->first + i, e->clock_ms);
            goto out;
        }
        clock = e->clock_ms;
        ics_entry_id(e->envelope.data, e->envelope.len, id);
        ics_chain_step(prev, c->first + i, id, e->accepted, reason, chains[i]);
    }
    if (sodium_memcmp(chains[c->n_entries - 1], g.chain, ICS_CHAIN_BYTES) != 0 ||
        (g.exact ? clock != g.clock_ms : clock > g.clock_ms)) {
        rc = ics_err(err, ICS_EINVAL, "history chunk %" PRIu64 " to %" PRIu64 " does not reach"
                     " the chain (or clock) this node holds for position %" PRIu64,
                     c->first, g.hi, g.hi);
        goto out;
    }
    if (closing) {
        /* The chunk's chain is now trusted, prev_chain with it. */
        if (sodium_memcmp(below, c->prev_chain.data, ICS_CHAIN_BYTES) != 0) {
            self->stats.diverged++;
            ics_error("group %s: history: the entries below position %" PRIu64 " on disk do not"
                      " lead to the chain the snapshot vouches for: the history file is corrupt"
                      " or from another log", self->group, g.lo);
            rc = ics_err(err, ICS_EINVAL, "this node's own history below position %" PRIu64
                         " disagrees with the backfilled entries", g.lo);
            goto out;
        }
    }
    rc = s_begin(self);
    if (rc == ICS_OK && sqlite3_exec(self->db, "SAVEPOINT fill", NULL, NULL, NULL) != SQLITE_OK)
        rc = s_fail(self, "savepoint");
    for (size_t i = 0; rc == ICS_OK && i < c->n_entries; i++) {
        const Ics__V1__HistoryEntry *e = c->entries[i];
        rc = s_insert(self, &(s_row_t){
                                .position = c->first + i,
                                .envelope = e->envelope.data,
                                .envelope_len = e->envelope.len,
                                .accepted = e->accepted,
                                .reason = e->reason != NULL ? e->reason : "",
                                .chain = chains[i],
                                .clock_ms = e->clock_ms,
                                .verified = e->verified,
                            });
    }
    if (rc == ICS_OK)
        rc = s_gap_del(self, g.hi);
    if (rc == ICS_OK && c->first > g.lo) {
        /* The clock before the chunk is at most its first entry's. */
        s_gap_t rest = {.lo = g.lo, .hi = c->first - 1, .clock_ms = c->entries[0]->clock_ms,
                        .exact = false};
        memcpy(rest.chain, c->prev_chain.data, ICS_CHAIN_BYTES);
        rc = s_gap_put(self, &rest);
    }
    if (rc != ICS_OK) {
        sqlite3_exec(self->db, "ROLLBACK TO fill; RELEASE fill", NULL, NULL, NULL);
        s_edge_forget(self);
        rc = ics_err(err, ICS_EIO, "history database failure");
        goto out;
    }
    if (sqlite3_exec(self->db, "RELEASE fill", NULL, NULL, NULL) != SQLITE_OK) {
        rc = ics_err(err, s_fail(self, "release"), "history database failure");
        goto out;
    }
    *stored = c->n_entries;
    self->stats.filled += c->n_entries;
    self->stats.chunks++;
out:
    if (rc == ICS_EINVAL)
        self->stats.bad_chunks++;
    free(chains);
    return rc;
}

int ics_history_fill(ics_history_t *self, const uint8_t *buf, size_t len, uint64_t *request_id,
                     size_t *stored, ics_err_t *err)
{
    Ics__V1__HistoryChunk *c = ics__v1__history_chunk__unpack(NULL, len, buf);
    int rc;

    *stored = 0;
    *request_id = 0;
    if (c == NULL) {
        self->stats.bad_chunks++;
        return ics_err(err, ICS_EMALFORMED, "history chunk does not decode");
    }
    *request_id = c->request_id;
    rc = ics_history_fill_chunk(self, c, stored, err);
    ics__v1__history_chunk__free_unpacked(c, NULL);
    return rc;
}

/* ---------------------------------------------------------------- scrubbing */

typedef struct {
    uint64_t position, clock_ms;
    uint8_t chain[ICS_CHAIN_BYTES];
    uint8_t computed[ICS_CHAIN_BYTES]; /* from the previous row's chain */
    uint8_t id[32];
    bool accepted;
    char reason[ICS_REASON_MAX];
} s_scrub_row_t;

/* Reads row p (ICS_ENOENT if not held) and recomputes its chain from prev. */
/* The S_RANGE row st is on, with the chain recomputed from prev (the
 * stored chain of the position below). */
static void s_scrub_row(sqlite3_stmt *st, const uint8_t prev[ICS_CHAIN_BYTES], s_scrub_row_t *r)
{
    r->position = s_u64(st, 0);
    ics_entry_id(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1), r->id);
    r->accepted = sqlite3_column_int(st, 2) != 0;
    ics_strcpy(r->reason, sizeof r->reason, (const char *)sqlite3_column_text(st, 3));
    r->clock_ms = s_u64(st, 5);
    if (!s_blob32(st, 4, r->chain))
        memset(r->chain, 0, sizeof r->chain); /* a mangled column: it will not match */
    ics_chain_step(prev, r->position, r->id, r->accepted, r->reason, r->computed);
}

static int s_scrub_read(ics_history_t *self, uint64_t p, const uint8_t prev[ICS_CHAIN_BYTES],
                        s_scrub_row_t *r)
{
    sqlite3_stmt *st = s_st(self, S_RANGE);
    int rc;

    sqlite3_bind_int64(st, 1, (sqlite3_int64)p);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)p);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? ICS_ENOENT : s_fail(self, "scrub read");
    }
    s_scrub_row(st, prev, r);
    sqlite3_reset(st);
    return ICS_OK;
}

/* The trusted chain just below position p: a held row's, a gap's top, or
 * the group's start. ICS_ENOENT if none is known. */
static int s_chain_below(ics_history_t *self, uint64_t p, uint8_t out[ICS_CHAIN_BYTES])
{
    uint64_t clock;
    sqlite3_stmt *st = NULL;
    int rc = s_chain_at(self, p - 1, out, &clock);

    if (rc != ICS_ENOENT)
        return rc;
    if (sqlite3_prepare_v2(self->db, "SELECT chain FROM gaps WHERE hi = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return s_fail(self, "scrub read gaps");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)(p - 1));
    rc = sqlite3_step(st) == SQLITE_ROW && s_blob32(st, 0, out) ? ICS_OK : ICS_ENOENT;
    sqlite3_finalize(st);
    return rc;
}

/* Row p does not give its stored chain. If the next row confirms the
 * stored chain, p's bytes are what changed: drop the row, and the gap it
 * leaves is backfilled from peers (trusting the stored chain, which the
 * next row vouches for). If the next row confirms the recomputed chain,
 * only the chain column changed: rewrite it. Otherwise (p is the last held
 * entry, or more changed) nothing here can tell: report it and keep it. */
static int s_scrub_repair(ics_history_t *self, const s_scrub_row_t *r)
{
    s_scrub_row_t next;
    sqlite3_stmt *st = NULL;
    bool have_next;
    int rc;

    self->stats.corrupt++;
    rc = s_scrub_read(self, r->position + 1, r->chain, &next);
    if (rc != ICS_OK && rc != ICS_ENOENT)
        return rc;
    have_next = rc == ICS_OK;
    rc = s_begin(self);
    if (rc != ICS_OK)
        return rc;
    if (have_next && sodium_memcmp(next.computed, next.chain, ICS_CHAIN_BYTES) == 0) {
        /* The stored chain is right: the entry's bytes are not. */
        s_gap_t g = {.lo = r->position, .hi = r->position, .clock_ms = next.clock_ms,
                     .exact = false};
        memcpy(g.chain, r->chain, sizeof g.chain);
        if (sqlite3_prepare_v2(self->db, "DELETE FROM entries WHERE position = ?1", -1, &st,
                               NULL) != SQLITE_OK)
            return s_fail(self, "scrub delete");
        sqlite3_bind_int64(st, 1, (sqlite3_int64)r->position);
        rc = sqlite3_step(st) == SQLITE_DONE ? ICS_OK : s_fail(self, "scrub delete");
        sqlite3_finalize(st);
        if (rc == ICS_OK)
            rc = s_gap_put(self, &g);
        if (rc == ICS_OK)
            ics_error("group %s: history: the entry at position %" PRIu64 " on disk is corrupt"
                      " (its bytes no longer give its chain): dropped, to be fetched again from"
                      " peers", self->group, r->position);
        return rc;
    }
    s_scrub_row_t again;
    if (have_next && s_scrub_read(self, r->position + 1, r->computed, &again) == ICS_OK &&
        sodium_memcmp(again.computed, again.chain, ICS_CHAIN_BYTES) == 0) {
        /* The bytes are right and lead on: only the chain column changed. */
        if (sqlite3_prepare_v2(self->db, "UPDATE entries SET chain = ?1 WHERE position = ?2", -1,
                               &st, NULL) != SQLITE_OK)
            return s_fail(self, "scrub update");
        sqlite3_bind_blob(st, 1, r->computed, ICS_CHAIN_BYTES, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)r->position);
        rc = sqlite3_step(st) == SQLITE_DONE ? ICS_OK : s_fail(self, "scrub update");
        sqlite3_finalize(st);
        if (rc == ICS_OK) {
            self->stats.repaired++;
            ics_error("group %s: history: the chain stored at position %" PRIu64 " on disk was"
                      " corrupt; recomputed from the entry and its neighbours", self->group,
                      r->position);
        }
        return rc;
    }
    ics_error("group %s: history: the entry at position %" PRIu64 " on disk is corrupt and its"
              " neighbours cannot tell how; move the group's history.db away and restart to"
              " fetch the whole history again from peers", self->group, r->position);
    return ICS_OK;
}

/* Reads positions from..to back in one pass over the table: each row's
 * chain recomputed from the stored chain of the row below, which is the
 * row just read, or (after a gap, or for the first) looked up. Stops at
 * the first row that does not give its stored chain, after repairing it
 * (*bad = its position). Returns the next position to read. Where the old
 * read-back ran two queries per entry, this is one scan: the loop's share
 * of a 256-entry read-back fell from tens of milliseconds to about one. */
static uint64_t s_scrub_range(ics_history_t *self, uint64_t from, uint64_t to, uint64_t *bad,
                              int *rc)
{
    sqlite3_stmt *st = s_st(self, S_RANGE);
    uint8_t prev[ICS_CHAIN_BYTES];
    uint64_t below = 0; /* the position prev is the stored chain of; 0: none */
    s_scrub_row_t r;
    int step;

    *rc = ICS_OK;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)from);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)to);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t p = s_u64(st, 0);
        if (below == 0 || p != below + 1) {
            *rc = s_chain_below(self, p, prev);
            if (*rc == ICS_ENOENT) {
                *rc = ICS_OK; /* below a gap: nothing held to check it against */
                below = 0;
                continue;
            }
            if (*rc != ICS_OK)
                break;
        }
        s_scrub_row(st, prev, &r);
        self->stats.scrubbed++;
        if (sodium_memcmp(r.computed, r.chain, ICS_CHAIN_BYTES) != 0) {
            /* Repairing writes: the read ends first. */
            sqlite3_reset(st);
            *bad = p;
            *rc = s_scrub_repair(self, &r);
            return p + 1;
        }
        memcpy(prev, r.chain, sizeof prev);
        below = p;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        *rc = s_fail(self, "scrub read");
    sqlite3_reset(st);
    return to + 1;
}

int ics_history_scrub(ics_history_t *self, size_t max_entries, uint64_t *position)
{
    uint64_t p = self->scrub_next ? self->scrub_next : 1, bad = 0;
    int rc = ICS_OK;

    *position = 0;
    if (self->top == 0 || max_entries == 0)
        return ICS_OK;
    if (p > self->top) {
        p = 1;
        self->stats.scrub_passes++;
    }
    uint64_t to = self->top - p < max_entries - 1 ? self->top : p + max_entries - 1;
    while (p <= to && rc == ICS_OK) {
        uint64_t found = 0;
        p = s_scrub_range(self, p, to, &found, &rc);
        if (bad == 0)
            bad = found;
    }
    self->scrub_next = p;
    if (rc != ICS_OK)
        return rc;
    *position = bad;
    return bad != 0 ? ICS_EINVAL : ICS_OK;
}

ics_history_stats_t ics_history_stats(const ics_history_t *self)
{
    return self->stats;
}
