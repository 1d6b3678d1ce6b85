/*
 * The decisions other domains read or take, on the motions' tables
 * (fsm_motions.c keeps them, and their rules): whether a motion carried a
 * decision about a target, the membership gates a carried member.admit or
 * member.remove motion opens (fsm_members.c takes them), and the lapse of
 * open motions about something that can no longer be decided.
 *
 * Small reads and updates of rows only: calls fsm_sql.c alone, so that
 * members, consultations, plans and aid call it while fsm_motions.c, which
 * carries out decisions in those domains, sits above them all.
 */
#include "fsm/fsm_gov.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int ics_motions_lapse(ics_apply_ctx_t *ctx, const char *target, const char *why)
{
    char outcome[ICS_WHY_MAX * 2];
    snprintf(outcome, sizeof outcome, "lapsed: %s", why);
    return ics_sql_run(ctx->db, "UPDATE motions SET status = 'lapsed', closed_at = ?2,"
                                 " closed_ms = ?3, outcome = ?4 WHERE target = ?1 AND"
                                 " status = 'open'",
                        "tuut", target, ctx->position, ctx->clock_ms, outcome);
}

int ics_decision_carried(ics_db_t *db, Ics__V1__Decision d, const char *target, uint64_t *motion,
                         uint64_t *value)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *motion = 0;
    if (value != NULL)
        *value = 0;
    rc = ics_sql_query(db, &st, "SELECT id, value FROM motions WHERE decision = ?1 AND"
                                  " target = ?2 AND status = 'carried' AND effect_state <>"
                                  " 'failed' ORDER BY id DESC LIMIT 1", "it", (int)d, target);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK) {
        *motion = ics_sql_column_u64(st, 0);
        if (value != NULL)
            *value = ics_sql_column_u64(st, 1);
    }
    ics_sql_release(db, st);
    return rc;
}

static int s_take(ics_apply_ctx_t *ctx, Ics__V1__Decision d, const char *org,
                  const uint8_t *pk, uint64_t *motion)
{
    sqlite3_stmt *st = NULL;
    char target[48], note[ICS_WHY_MAX];
    int rc;

    *motion = 0;
    snprintf(target, sizeof target, "member:%s", org);
    rc = ics_sql_query(ctx->db, &st, "SELECT id, proposal FROM motions WHERE decision = ?1 AND"
                                       " target = ?2 AND status = 'carried' AND"
                                       " effect_state = 'authorised' ORDER BY id",
                         "it", (int)d, target);
    if (rc != ICS_OK)
        return rc;
    while (*motion == 0 && (rc = ics_sql_row(ctx->db, st)) == ICS_OK) {
        Ics__V1__MotionPropose *p = ics__v1__motion_propose__unpack(
            NULL, (size_t)sqlite3_column_bytes(st, 1), sqlite3_column_blob(st, 1));
        if (p == NULL) {
            rc = ICS_EIO;
            break;
        }
        if (pk == NULL || (p->effect_case == ICS__V1__MOTION_PROPOSE__EFFECT_ADMIT_MEMBER &&
                           p->admit_member->public_key.len == ICS_PK_BYTES &&
                           memcmp(p->admit_member->public_key.data, pk, ICS_PK_BYTES) == 0))
            *motion = ics_sql_column_u64(st, 0);
        ics__v1__motion_propose__free_unpacked(p, NULL);
    }
    ics_sql_release(ctx->db, st);
    if (rc != ICS_OK && rc != ICS_ENOENT)
        return rc;
    if (*motion == 0)
        return ICS_ENOENT;
    snprintf(note, sizeof note, "carried out at index %" PRIu64 " (%s %s)", ctx->position,
             d == ICS__V1__DECISION__DECISION_MEMBER_ADMIT ? "MemberAdd of" : "MemberRemove of",
             org);
    return ics_sql_run(ctx->db, "UPDATE motions SET effect_state = 'executed', executed_at = ?2,"
                                 " effect_note = ?3 WHERE id = ?1",
                        "uut", *motion, ctx->position, note);
}

int ics_motions_take_admission(ics_apply_ctx_t *ctx, const char *org,
                               const uint8_t pk[ICS_PK_BYTES], uint64_t *motion)
{
    return s_take(ctx, ICS__V1__DECISION__DECISION_MEMBER_ADMIT, org, pk, motion);
}

int ics_motions_take_removal(ics_apply_ctx_t *ctx, const char *org, uint64_t *motion)
{
    return s_take(ctx, ICS__V1__DECISION__DECISION_MEMBER_REMOVE, org, NULL, motion);
}
