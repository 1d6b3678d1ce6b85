/*
 * The audit log, its hash chain, checkpoints, and the log export.
 *
 * Every entry raft orders gets one audit row, accepted or rejected, holding
 * the exact envelope bytes, its entry id, the verdict and reason, the log
 * clock, and the chain head after it (formula in common/logverify.c and
 * docs/log-format.md). Nodes publish checkpoints (position, chain) as
 * ordinary signed entries; each node compares them with its own chain at
 * that position: agreement by a majority of current voters certifies the
 * position, and any disagreement raises an alarm kept in state. Invariants:
 *   - audit positions are 1, 2, 3, ... with no gaps; rows are never changed;
 *   - (org, seq) is unique among rows whose signature verified (the partial
 *     unique index), which is what makes replays duplicates;
 *   - every multi-row read is ORDER BY position (or org), so exports and
 *     statuses are identical on every node;
 *   - an alarm is never cleared by later agreement: a divergence happened.
 */
#include "fsm/fsm_internal.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char s_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS audit("
    " position INTEGER PRIMARY KEY,"
    " entry_id BLOB NOT NULL,"
    " envelope BLOB NOT NULL,"
    " accepted INTEGER NOT NULL,"
    " reason TEXT NOT NULL,"
    " chain BLOB NOT NULL,"
    " clock_ms INTEGER NOT NULL,"
    " org TEXT NOT NULL,"          /* as claimed; '' if undecodable */
    " seq INTEGER NOT NULL,"       /* as claimed */
    " kind INTEGER NOT NULL,"
    " verified INTEGER NOT NULL);" /* signature verified: (org, seq) is taken */
    "CREATE UNIQUE INDEX IF NOT EXISTS audit_dedupe ON audit(org, seq) WHERE verified = 1;"
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

static int s_schema(sqlite3 *db)
{
    return ics_sql_exec(db, s_schema_sql);
}

/* ---------------------------------------------------------------- audit rows */

int ics_audit_record(sqlite3 *db, const ics_apply_result_t *res, const uint8_t *buf,
                     size_t len, bool verified)
{
    sqlite3_stmt *st = NULL;
    int rc;

    assert(!verified || res->seq <= INT64_MAX);
    if (len > INT32_MAX)
        return ICS_ETOOBIG;
    rc = ics_sql_prepare(db, "INSERT INTO audit(position, entry_id, envelope, accepted, reason,"
                             " chain, clock_ms, org, seq, kind, verified)"
                             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)", &st);
    if (rc != ICS_OK)
        goto out;
    ics_sql_bind_u64(st, 1, res->position);
    sqlite3_bind_blob(st, 2, res->entry_id, 32, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 3, buf, (int)len, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 4, res->accepted ? 1 : 0);
    sqlite3_bind_text(st, 5, res->reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 6, res->chain, 32, SQLITE_TRANSIENT);
    ics_sql_bind_u64(st, 7, res->clock_ms);
    sqlite3_bind_text(st, 8, res->org, -1, SQLITE_TRANSIENT);
    /* A claimed seq beyond INT64_MAX (rejected, never verified) is kept
     * bit for bit; it takes part in no ordering. */
    sqlite3_bind_int64(st, 9, (sqlite3_int64)res->seq);
    sqlite3_bind_int64(st, 10, (sqlite3_int64)res->kind);
    sqlite3_bind_int(st, 11, verified ? 1 : 0);
    rc = ics_sql_done(db, st);
out:
    sqlite3_finalize(st);
    return rc;
}

int ics_audit_lookup(sqlite3 *db, const char *org, uint64_t seq, ics_apply_result_t *res)
{
    sqlite3_stmt *st = NULL;
    const char *text;
    int rc;

    rc = ics_sql_prepare(db, "SELECT position, accepted, reason, entry_id, chain, org, seq, kind,"
                             " clock_ms FROM audit WHERE org = ?1 AND seq = ?2 AND verified = 1",
                         &st);
    if (rc != ICS_OK)
        goto out;
    sqlite3_bind_text(st, 1, org, -1, SQLITE_TRANSIENT);
    ics_sql_bind_u64(st, 2, seq);
    rc = ics_sql_row(db, st);
    if (rc != ICS_OK)
        goto out;
    res->position = ics_sql_column_u64(st, 0);
    res->accepted = sqlite3_column_int(st, 1) != 0;
    res->duplicate = false;
    text = (const char *)sqlite3_column_text(st, 2);
    ics_strcpy(res->reason, sizeof res->reason, text ? text : "");
    text = (const char *)sqlite3_column_text(st, 5);
    ics_strcpy(res->org, sizeof res->org, text ? text : "");
    res->seq = ics_sql_column_u64(st, 6);
    res->kind = (uint32_t)sqlite3_column_int64(st, 7);
    res->clock_ms = ics_sql_column_u64(st, 8);
    if (!ics_sql_column_blob(st, 3, res->entry_id, 32) ||
        !ics_sql_column_blob(st, 4, res->chain, 32))
        rc = ICS_EIO;
out:
    sqlite3_finalize(st);
    return rc;
}

uint64_t ics_audit_max_seq(sqlite3 *db, const char *org)
{
    sqlite3_stmt *st = NULL;
    uint64_t v = 0;

    if (ics_sql_prepare(db, "SELECT max(seq) FROM audit WHERE org = ?1 AND verified = 1", &st) ==
        ICS_OK) {
        sqlite3_bind_text(st, 1, org, -1, SQLITE_TRANSIENT);
        if (ics_sql_row(db, st) == ICS_OK)
            v = ics_sql_column_u64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

int ics_audit_entry(sqlite3 *db, uint64_t position, ics_log_entry_t *out)
{
    sqlite3_stmt *st = NULL;
    const char *reason;
    size_t n;
    int rc;

    rc = ics_sql_prepare(db, "SELECT envelope, accepted, reason, chain, clock_ms FROM audit"
                             " WHERE position = ?1", &st);
    if (rc != ICS_OK)
        goto out;
    ics_sql_bind_u64(st, 1, position);
    rc = ics_sql_row(db, st);
    if (rc != ICS_OK)
        goto out;
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
    reason = (const char *)sqlite3_column_text(st, 2);
    ics_strcpy(out->reason, sizeof out->reason, reason ? reason : "");
    out->clock_ms = ics_sql_column_u64(st, 4);
    if (!ics_sql_column_blob(st, 3, out->chain, 32)) {
        free(out->envelope);
        out->envelope = NULL;
        rc = ICS_EIO;
    }
out:
    sqlite3_finalize(st);
    return rc;
}

int ics_audit_export(sqlite3 *db, FILE *out, uint64_t entries)
{
    sqlite3_stmt *st = NULL;
    uint64_t expect = 1;
    int rc;

    rc = ics_sql_prepare(db, "SELECT position, accepted, entry_id, chain, clock_ms, envelope,"
                             " reason FROM audit ORDER BY position", &st);
    if (rc != ICS_OK)
        goto out;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        ics_log_line_t line;
        const char *reason = (const char *)sqlite3_column_text(st, 6);

        memset(&line, 0, sizeof line);
        line.position = ics_sql_column_u64(st, 0);
        line.accepted = sqlite3_column_int(st, 1) != 0;
        line.entry_id = sqlite3_column_blob(st, 2);
        if (sqlite3_column_bytes(st, 2) != 32 || line.entry_id == NULL) {
            rc = ICS_EIO;
            goto out;
        }
        line.chain = sqlite3_column_blob(st, 3);
        if (sqlite3_column_bytes(st, 3) != ICS_CHAIN_BYTES || line.chain == NULL) {
            rc = ICS_EIO;
            goto out;
        }
        line.clock_ms = ics_sql_column_u64(st, 4);
        line.envelope = sqlite3_column_blob(st, 5);
        line.envelope_len = (size_t)sqlite3_column_bytes(st, 5);
        line.reason = reason != NULL ? reason : "";
        if (line.position != expect++) {
            ics_error("state machine audit log has a gap before position %" PRIu64,
                      line.position);
            rc = ICS_EIO;
            goto out;
        }
        rc = ics_log_write_entry(out, &line);
        if (rc != ICS_OK)
            goto out;
    }
    if (rc != ICS_ENOENT)
        goto out;
    rc = expect - 1 == entries ? ics_log_write_end(out) : ICS_EIO;
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---------------------------------------------------------------- checkpoints */

/* The chain this log recorded at position, into out. */
static int s_chain_at(sqlite3 *db, uint64_t position, uint8_t out[ICS_CHAIN_BYTES])
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = ics_sql_prepare(db, "SELECT chain FROM audit WHERE position = ?1", &st);
    if (rc != ICS_OK)
        goto out;
    ics_sql_bind_u64(st, 1, position);
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK && !ics_sql_column_blob(st, 0, out, ICS_CHAIN_BYTES))
        rc = ICS_EIO;
    if (rc == ICS_ENOENT)
        rc = ICS_EIO; /* positions below ours always exist */
out:
    sqlite3_finalize(st);
    return rc;
}

static int s_checkpoint(ics_apply_ctx_t *ctx, const Ics__V1__Checkpoint *cp)
{
    sqlite3_stmt *st = NULL;
    uint8_t ours[ICS_CHAIN_BYTES];
    char theirs_hex[2 * ICS_CHAIN_BYTES + 1], ours_hex[2 * ICS_CHAIN_BYTES + 1];
    char text[ICS_REASON_MAX];
    bool matches;
    int rc;

    if (cp->position == 0 || cp->position >= ctx->position)
        return ics_reject(ctx, "checkpoint for position %" PRIu64 ", but this log holds"
                               " positions 1 to %" PRIu64, cp->position, ctx->position - 1);
    if (cp->chain.len != ICS_CHAIN_BYTES)
        return ics_reject(ctx, "checkpoint chain is %zu bytes, not %d", cp->chain.len,
                          ICS_CHAIN_BYTES);
    rc = ics_sql_prepare(ctx->db, "SELECT 1 FROM checkpoints WHERE position = ?1 AND org = ?2",
                         &st);
    if (rc != ICS_OK)
        goto out;
    ics_sql_bind_u64(st, 1, cp->position);
    sqlite3_bind_text(st, 2, ctx->org, -1, SQLITE_TRANSIENT);
    rc = ics_sql_row(ctx->db, st);
    if (rc == ICS_OK) {
        rc = ics_reject(ctx, "%s already sent a checkpoint for position %" PRIu64, ctx->org,
                        cp->position);
        goto out;
    }
    if (rc != ICS_ENOENT)
        goto out;
    sqlite3_finalize(st);
    st = NULL;

    rc = s_chain_at(ctx->db, cp->position, ours);
    if (rc != ICS_OK)
        goto out;
    matches = memcmp(ours, cp->chain.data, ICS_CHAIN_BYTES) == 0;
    rc = ics_sql_prepare(ctx->db, "INSERT INTO checkpoints(position, org, chain, matches,"
                                  " at_position) VALUES (?1, ?2, ?3, ?4, ?5)", &st);
    if (rc != ICS_OK)
        goto out;
    ics_sql_bind_u64(st, 1, cp->position);
    sqlite3_bind_text(st, 2, ctx->org, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 3, cp->chain.data, ICS_CHAIN_BYTES, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 4, matches ? 1 : 0);
    ics_sql_bind_u64(st, 5, ctx->position);
    rc = ics_sql_done(ctx->db, st);
    if (rc != ICS_OK || matches)
        goto out;

    sqlite3_finalize(st);
    st = NULL;
    ics_hex(cp->chain.data, ICS_CHAIN_BYTES, theirs_hex);
    ics_hex(ours, ICS_CHAIN_BYTES, ours_hex);
    snprintf(text, sizeof text, "checkpoint mismatch at position %" PRIu64 ": %s has %s,"
             " this log has %s", cp->position, ctx->org, theirs_hex, ours_hex);
    rc = ics_sql_prepare(ctx->db, "INSERT INTO alarms(at_position, org, position, text)"
                                  " VALUES (?1, ?2, ?3, ?4)", &st);
    if (rc != ICS_OK)
        goto out;
    ics_sql_bind_u64(st, 1, ctx->position);
    sqlite3_bind_text(st, 2, ctx->org, -1, SQLITE_TRANSIENT);
    ics_sql_bind_u64(st, 3, cp->position);
    sqlite3_bind_text(st, 4, text, -1, SQLITE_TRANSIENT);
    rc = ics_sql_done(ctx->db, st);
out:
    sqlite3_finalize(st);
    return rc;
}

static unsigned s_needed(sqlite3 *db)
{
    unsigned voters = 0;
    if (ics_members_voters(db, &voters) != ICS_OK)
        return UINT32_MAX;
    return voters / 2 + 1;
}

void ics_audit_checkpoint_status(sqlite3 *db, ics_checkpoint_status_t *out)
{
    sqlite3_stmt *st = NULL;
    int alarms = 0;

    memset(out, 0, sizeof *out);
    out->needed = s_needed(db);
    if (ics_sql_prepare(db, "SELECT max(position) FROM checkpoints", &st) != ICS_OK ||
        ics_sql_row(db, st) != ICS_OK)
        goto out;
    out->position = ics_sql_column_u64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (ics_sql_prepare(db, "SELECT count(*) FROM checkpoints c JOIN members m ON m.org = c.org"
                            " WHERE c.position = ?1 AND c.matches = 1 AND m.active = 1"
                            " AND m.voter = 1", &st) != ICS_OK)
        goto out;
    ics_sql_bind_u64(st, 1, out->position);
    if (ics_sql_row(db, st) != ICS_OK)
        goto out;
    out->matching = (unsigned)sqlite3_column_int(st, 0);
    out->certified = out->position > 0 && out->matching >= out->needed;
    sqlite3_finalize(st);
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
    sqlite3_finalize(st);
}

bool ics_audit_has_checkpoint(sqlite3 *db, const char *org, uint64_t position)
{
    sqlite3_stmt *st = NULL;
    bool found = false;

    if (ics_sql_prepare(db, "SELECT 1 FROM checkpoints WHERE position = ?1 AND org = ?2",
                        &st) != ICS_OK)
        return false;
    ics_sql_bind_u64(st, 1, position);
    sqlite3_bind_text(st, 2, org, -1, SQLITE_STATIC);
    found = ics_sql_row(db, st) == ICS_OK;
    sqlite3_finalize(st);
    return found;
}

uint64_t ics_audit_certified_position(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    uint64_t v = 0;

    if (ics_sql_prepare(db, "SELECT c.position FROM checkpoints c JOIN members m"
                            " ON m.org = c.org AND m.active = 1 AND m.voter = 1"
                            " WHERE c.matches = 1 GROUP BY c.position HAVING count(*) >= ?1"
                            " ORDER BY c.position DESC LIMIT 1", &st) == ICS_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)s_needed(db));
        if (ics_sql_row(db, st) == ICS_OK)
            v = ics_sql_column_u64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

/* ---------------------------------------------------------------- domain */

static int s_apply(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    if (cmd->body_case == ICS__V1__COMMAND__BODY_CHECKPOINT)
        return s_checkpoint(ctx, cmd->checkpoint);
    return ics_reject(ctx, "unknown command kind %d", (int)cmd->body_case);
}

static const uint32_t s_kinds[] = {ICS__V1__COMMAND__BODY_CHECKPOINT, 0};

const ics_fsm_domain_t ics_fsm_domain_audit = {
    .name = "audit",
    .kinds = s_kinds,
    .schema = s_schema,
    .apply = s_apply,
    .on_clock = NULL,
    .next_deadline = NULL,
};
