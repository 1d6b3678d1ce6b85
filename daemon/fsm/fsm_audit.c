/*
 * What the state keeps of the audit log: the replay windows, the chain at
 * recent checkpointable positions, the genesis, and checkpoints.
 *
 * The history itself (every entry, verdict, reason and chain) is not state:
 * it lives on disk beside the node (daemon/history.c) and never travels in a
 * snapshot, so a snapshot's size depends on the current state only. What an
 * entry's verdict may depend on is therefore kept here, bounded:
 *   - replay: per organisation the highest verified sequence number and a
 *     bitmap of the ICS_FSM_REPLAY_WINDOW numbers below it; a verified
 *     (org, seq) is taken once, a seq at or below highest - window is
 *     refused (docs/log-format.md, "Replay rule");
 *   - marks: the chain head at every position that is a multiple of
 *     ICS_FSM_MARK_STRIDE, the newest ICS_FSM_MARKS_KEPT of them, which is
 *     what a checkpoint is compared with;
 *   - the genesis envelope (the policy in force before any change);
 *   - checkpoints for positions still marked, and alarms.
 * Nodes publish checkpoints (position, chain, Merkle root and their
 * cosignature of that tree head) as ordinary signed entries; agreement by a
 * majority of current voters certifies the position, and any disagreement
 * raises an alarm kept in state. The cosignature is checked here (a pure
 * function of the entry and the signer's key in force); the root is not:
 * it would need the tree's frontier in state. The chain already fixes the
 * entries up to the position, so a root that differs from the log's is its
 * signer's false statement, which each node's history catches outside the
 * state machine (group.c raises the alarm) and `icsctl log verify` refuses.
 * Invariants:
 *   - marks and checkpoints older than the oldest mark are deleted in the
 *     same transaction that adds the newest mark;
 *   - every multi-row read is ORDER BY position (or org), so statuses are
 *     identical on every node;
 *   - an alarm is never cleared by later agreement: a divergence happened.
 */
#include "fsm/fsm_internal.h"

#include "common/note.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define S_WINDOW_BYTES (ICS_FSM_REPLAY_WINDOW / 8)
_Static_assert(ICS_FSM_REPLAY_WINDOW % 8 == 0, "window is whole bytes");

static const char s_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS replay("
    " org TEXT PRIMARY KEY,"
    " highest INTEGER NOT NULL,"   /* highest verified seq */
    " window BLOB NOT NULL);"      /* bit i of byte i/8: seq highest - i taken */
    "CREATE TABLE IF NOT EXISTS marks("
    " position INTEGER PRIMARY KEY CHECK (position % 16 = 0),"
    " chain BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS genesis_entry("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " envelope BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS checkpoints("
    " position INTEGER NOT NULL,"  /* the position the checkpoint speaks of */
    " org TEXT NOT NULL,"
    " chain BLOB NOT NULL,"
    " matches INTEGER NOT NULL,"   /* 1 if it equals this log's chain there */
    " at_position INTEGER NOT NULL," /* the checkpoint entry's own position */
    " PRIMARY KEY (position, org));"
    "CREATE TABLE IF NOT EXISTS alarms("
    " at_position INTEGER PRIMARY KEY,"
    " org TEXT NOT NULL,"
    " position INTEGER NOT NULL,"
    " text TEXT NOT NULL);";
_Static_assert(ICS_FSM_MARK_STRIDE == 16, "the marks CHECK constraint says 16");
_Static_assert(ICS_FSM_REPLAY_WINDOW == ICS_LOG_REPLAY_WINDOW &&
                   ICS_FSM_MARK_STRIDE == ICS_LOG_MARK_STRIDE &&
                   ICS_FSM_MARKS_KEPT == ICS_LOG_MARKS_KEPT,
               "the offline verifier (common/logverify.c) replays the same bounds");

static int s_schema(ics_db_t *db)
{
    return ics_sql_exec(db, s_schema_sql);
}

/* ---------------------------------------------------------------- replay */

static bool s_bit(const uint8_t *w, uint64_t i)
{
    return (w[i / 8] >> (i % 8)) & 1u;
}

static void s_set(uint8_t *w, uint64_t i)
{
    w[i / 8] = (uint8_t)(w[i / 8] | (1u << (i % 8)));
}

/* Reads org's window; *highest 0 and an empty window if it has none. */
static int s_window(ics_db_t *db, const char *org, uint64_t *highest, uint8_t w[S_WINDOW_BYTES],
                    bool *found)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *highest = 0;
    *found = false;
    memset(w, 0, S_WINDOW_BYTES);
    rc = ics_sql_query(db, &st, "SELECT highest, window FROM replay WHERE org = ?1", "t", org);
    if (rc != ICS_OK)
        goto out;
    rc = ics_sql_row(db, st);
    if (rc == ICS_ENOENT) {
        rc = ICS_OK;
        goto out;
    }
    if (rc != ICS_OK)
        goto out;
    *highest = ics_sql_column_u64(st, 0);
    *found = true;
    rc = ics_sql_column_blob(st, 1, w, S_WINDOW_BYTES) ? ICS_OK : ICS_EIO;
out:
    ics_sql_release(db, st);
    return rc;
}

int ics_audit_replay(ics_db_t *db, const char *org, uint64_t seq, ics_replay_t *out,
                     uint64_t *highest)
{
    uint8_t w[S_WINDOW_BYTES];
    bool found;
    int rc = s_window(db, org, highest, w, &found);

    if (rc != ICS_OK)
        return rc;
    if (!found || seq > *highest)
        *out = ICS_REPLAY_NEW;
    else if (*highest - seq >= ICS_FSM_REPLAY_WINDOW)
        *out = ICS_REPLAY_STALE;
    else
        *out = s_bit(w, *highest - seq) ? ICS_REPLAY_SEEN : ICS_REPLAY_NEW;
    return ICS_OK;
}

int ics_audit_replay_take(ics_db_t *db, const char *org, uint64_t seq)
{
    uint8_t w[S_WINDOW_BYTES], shifted[S_WINDOW_BYTES];
    uint64_t highest;
    bool found;
    int rc = s_window(db, org, &highest, w, &found);

    assert(seq <= INT64_MAX);
    if (rc != ICS_OK)
        return rc;
    if (!found || seq > highest) {
        /* Slide: what was bit i is now bit i + (seq - highest). */
        uint64_t by = found ? seq - highest : ICS_FSM_REPLAY_WINDOW;
        memset(shifted, 0, sizeof shifted);
        for (uint64_t i = 0; by < ICS_FSM_REPLAY_WINDOW && i + by < ICS_FSM_REPLAY_WINDOW; i++)
            if (s_bit(w, i))
                s_set(shifted, i + by);
        memcpy(w, shifted, sizeof w);
        highest = seq;
    }
    assert(highest - seq < ICS_FSM_REPLAY_WINDOW);
    s_set(w, highest - seq);
    return ics_sql_run(db, "INSERT OR REPLACE INTO replay(org, highest, window)"
                           " VALUES (?1, ?2, ?3)", "tub", org, highest, w, (int)sizeof w);
}

/* ---------------------------------------------------------------- marks */

int ics_audit_record(ics_db_t *db, const ics_apply_result_t *res, const uint8_t *buf, size_t len,
                     bool genesis)
{
    uint64_t oldest;
    int rc = ICS_OK;

    if (genesis) {
        if (len > INT32_MAX)
            return ICS_ETOOBIG;
        rc = ics_sql_run(db, "INSERT INTO genesis_entry(id, envelope) VALUES (1, ?1)", "b", buf,
                         (int)len);
        if (rc != ICS_OK)
            return rc;
    }
    if (res->position % ICS_FSM_MARK_STRIDE != 0)
        return ICS_OK;
    rc = ics_sql_run(db, "INSERT INTO marks(position, chain) VALUES (?1, ?2)", "ub", res->position,
                     res->chain, ICS_CHAIN_BYTES);
    if (rc != ICS_OK || res->position <= (uint64_t)ICS_FSM_MARK_STRIDE * ICS_FSM_MARKS_KEPT)
        return rc;
    /* Keep the newest ICS_FSM_MARKS_KEPT marks and the checkpoints that
     * can still be compared with them. */
    oldest = res->position - (uint64_t)ICS_FSM_MARK_STRIDE * ICS_FSM_MARKS_KEPT;
    rc = ics_sql_run(db, "DELETE FROM marks WHERE position <= ?1", "u", oldest);
    if (rc != ICS_OK)
        return rc;
    return ics_sql_run(db, "DELETE FROM checkpoints WHERE position <= ?1", "u", oldest);
}

int ics_audit_mark(ics_db_t *db, uint64_t position, uint8_t out[ICS_CHAIN_BYTES])
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = ics_sql_query(db, &st, "SELECT chain FROM marks WHERE position = ?1", "u", position);
    if (rc != ICS_OK)
        goto out;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK && !ics_sql_column_blob(st, 0, out, ICS_CHAIN_BYTES))
        rc = ICS_EIO;
out:
    ics_sql_release(db, st);
    return rc;
}

/* ---------------------------------------------------------------- checkpoints */

static int s_checkpoint(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__Checkpoint *cp = cmd->checkpoint;
    sqlite3_stmt *st = NULL;
    uint8_t ours[ICS_CHAIN_BYTES];
    char theirs_hex[2 * ICS_CHAIN_BYTES + 1], ours_hex[2 * ICS_CHAIN_BYTES + 1];
    char text[ICS_REASON_MAX];
    ics_member_t signer;
    bool matches;
    int rc;

    if (cp->position == 0 || cp->position >= ctx->position)
        return ics_reject(ctx, "checkpoint for position %" PRIu64 ", but this log holds"
                               " positions 1 to %" PRIu64, cp->position, ctx->position - 1);
    if (cp->position % ICS_FSM_MARK_STRIDE != 0)
        return ics_reject(ctx, "checkpoint for position %" PRIu64 ": checkpoints name positions"
                               " that are multiples of %d", cp->position, ICS_FSM_MARK_STRIDE);
    if (cp->chain.len != ICS_CHAIN_BYTES)
        return ics_reject(ctx, "checkpoint chain is %zu bytes, not %d", cp->chain.len,
                          ICS_CHAIN_BYTES);
    if (cp->root.len != ICS_MERKLE_HASH_BYTES)
        return ics_reject(ctx, "checkpoint root is %zu bytes, not %d", cp->root.len,
                          ICS_MERKLE_HASH_BYTES);
    if (cp->cosignature.len != ICS_SIG_BYTES)
        return ics_reject(ctx, "checkpoint cosignature is %zu bytes, not %d",
                          cp->cosignature.len, ICS_SIG_BYTES);
    /* The signer is a current member: its envelope verified under its key. */
    rc = ics_members_get(ctx->db, ctx->org, &signer);
    if (rc != ICS_OK)
        return rc == ICS_ENOENT ? ICS_EIO : rc;
    if (!ics_note_cosignature_ok(ctx->group, cp->position, cp->root.data, signer.public_key,
                                 cp->cosignature.data))
        return ics_reject(ctx, "checkpoint cosignature of %s does not verify for the tree head"
                               " of size %" PRIu64, ctx->org, cp->position);
    rc = ics_sql_query(ctx->db, &st, "SELECT 1 FROM checkpoints WHERE position = ?1 AND org = ?2",
                       "ut", cp->position, ctx->org);
    if (rc != ICS_OK)
        goto out;
    rc = ics_sql_row(ctx->db, st);
    if (rc == ICS_OK) {
        rc = ics_reject(ctx, "%s already sent a checkpoint for position %" PRIu64, ctx->org,
                        cp->position);
        goto out;
    }
    if (rc != ICS_ENOENT)
        goto out;
    ics_sql_release(ctx->db, st);
    st = NULL;

    rc = ics_audit_mark(ctx->db, cp->position, ours);
    if (rc == ICS_ENOENT) {
        rc = ics_reject(ctx, "checkpoint for position %" PRIu64 " is older than the last %d"
                             " checkpointable positions this state keeps", cp->position,
                        ICS_FSM_MARKS_KEPT);
        goto out;
    }
    if (rc != ICS_OK)
        goto out;
    matches = memcmp(ours, cp->chain.data, ICS_CHAIN_BYTES) == 0;
    rc = ics_sql_run(ctx->db, "INSERT INTO checkpoints(position, org, chain, matches,"
                              " at_position) VALUES (?1, ?2, ?3, ?4, ?5)", "utbiu",
                     cp->position, ctx->org, cp->chain.data, ICS_CHAIN_BYTES, matches ? 1 : 0,
                     ctx->position);
    if (rc != ICS_OK || matches)
        goto out;

    ics_hex(cp->chain.data, ICS_CHAIN_BYTES, theirs_hex);
    ics_hex(ours, ICS_CHAIN_BYTES, ours_hex);
    snprintf(text, sizeof text, "checkpoint mismatch at position %" PRIu64 ": %s has %s,"
             " this log has %s", cp->position, ctx->org, theirs_hex, ours_hex);
    rc = ics_sql_run(ctx->db, "INSERT INTO alarms(at_position, org, position, text)"
                              " VALUES (?1, ?2, ?3, ?4)", "utut", ctx->position, ctx->org,
                     cp->position, text);
out:
    ics_sql_release(ctx->db, st);
    return rc;
}

static unsigned s_needed(ics_db_t *db)
{
    unsigned voters = 0;
    if (ics_members_voters(db, &voters) != ICS_OK)
        return UINT32_MAX;
    return voters / 2 + 1;
}

void ics_audit_checkpoint_status(ics_db_t *db, ics_checkpoint_status_t *out)
{
    sqlite3_stmt *st = NULL;
    int alarms = 0;

    memset(out, 0, sizeof *out);
    out->needed = s_needed(db);
    if (ics_sql_prepare(db, "SELECT max(position) FROM checkpoints", &st) != ICS_OK ||
        ics_sql_row(db, st) != ICS_OK)
        goto out;
    out->position = ics_sql_column_u64(st, 0);
    ics_sql_release(db, st);
    st = NULL;
    if (ics_sql_query(db, &st, "SELECT count(*) FROM checkpoints c JOIN members m ON m.org = c.org"
                               " WHERE c.position = ?1 AND c.matches = 1 AND m.active = 1"
                               " AND m.voter = 1", "u", out->position) != ICS_OK ||
        ics_sql_row(db, st) != ICS_OK)
        goto out;
    out->matching = (unsigned)sqlite3_column_int(st, 0);
    out->certified = out->position > 0 && out->matching >= out->needed;
    ics_sql_release(db, st);
    st = NULL;
    if (ics_sql_prepare(db, "SELECT text, (SELECT count(*) FROM alarms) FROM alarms"
                            " ORDER BY at_position LIMIT 1", &st) != ICS_OK ||
        ics_sql_row(db, st) != ICS_OK)
        goto out;
    out->alarm = true;
    alarms = sqlite3_column_int(st, 1);
    if (alarms > 1)
        snprintf(out->alarm_text, sizeof out->alarm_text, "(first of %d) %s", alarms,
                 (const char *)sqlite3_column_text(st, 0));
    else
        ics_strcpy(out->alarm_text, sizeof out->alarm_text,
                   (const char *)sqlite3_column_text(st, 0));
out:
    ics_sql_release(db, st);
}

bool ics_audit_has_checkpoint(ics_db_t *db, const char *org, uint64_t position)
{
    sqlite3_stmt *st = NULL;
    bool found = false;

    if (ics_sql_query(db, &st, "SELECT 1 FROM checkpoints WHERE position = ?1 AND org = ?2",
                      "ut", position, org) != ICS_OK)
        return false;
    found = ics_sql_row(db, st) == ICS_OK;
    ics_sql_release(db, st);
    return found;
}

uint64_t ics_audit_certified_position(ics_db_t *db)
{
    sqlite3_stmt *st = NULL;
    uint64_t v = 0;

    if (ics_sql_query(db, &st, "SELECT c.position FROM checkpoints c JOIN members m"
                               " ON m.org = c.org AND m.active = 1 AND m.voter = 1"
                               " WHERE c.matches = 1 GROUP BY c.position HAVING count(*) >= ?1"
                               " ORDER BY c.position DESC LIMIT 1", "u",
                      (uint64_t)s_needed(db)) == ICS_OK &&
        ics_sql_row(db, st) == ICS_OK)
        v = ics_sql_column_u64(st, 0);
    ics_sql_release(db, st);
    return v;
}

/* ---------------------------------------------------------------- domain */

static const ics_fsm_handler_t s_handlers[] = {
    {ICS__V1__COMMAND__BODY_CHECKPOINT, s_checkpoint},
    {0, NULL},
};

const ics_fsm_domain_t ics_fsm_domain_audit = {
    .name = "audit",
    .handlers = s_handlers,
    .schema = s_schema,
    .on_clock = NULL,
    .deadline = NULL,
};
