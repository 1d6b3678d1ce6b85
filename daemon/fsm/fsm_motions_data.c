/*
 * A motion's row, its votes and its decision record, as read: for the
 * motion queries (fsm_motions.c) and the published plan (fsm_plans_query.c,
 * ics_motions_record_markdown / _json).
 *
 * Reads only. Calls the readers of people (the key each vote was signed
 * with) and of policy (role titles), fsm_gov.c and fsm_sql.c; never
 * fsm_motions.c, so that the plan queries may call it while fsm_motions.c
 * carries out decisions in plans.
 */
#include "fsm/fsm_motions.h"

#include "common/envelope.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

const char *ics_motions_choice_name(int c)
{
    return c == ICS__V1__VOTE_CHOICE__VOTE_FOR ? "for"
         : c == ICS__V1__VOTE_CHOICE__VOTE_AGAINST ? "against"
         : c == ICS__V1__VOTE_CHOICE__VOTE_ABSTAIN ? "abstain" : "unknown";
}

/* ---------------------------------------------------------------- motion rows */

void ics_motion_read(sqlite3_stmt *st, ics_motion_t *m)
{
    memset(m, 0, sizeof *m);
    m->id = ics_sql_column_u64(st, 0);
    m->decision = (Ics__V1__Decision)sqlite3_column_int(st, 1);
    ics_sql_column_text(st, 2, m->title, sizeof m->title);
    ics_sql_column_text(st, 3, m->org, sizeof m->org);
    ics_sql_column_text(st, 4, m->person, sizeof m->person);
    ics_sql_column_text(st, 5, m->target, sizeof m->target);
    ics_sql_column_text(st, 6, m->rule, sizeof m->rule);
    ics_sql_column_text(st, 7, m->rule_text, sizeof m->rule_text);
    ics_sql_column_text(st, 8, m->body, sizeof m->body);
    ics_sql_column_text(st, 9, m->role, sizeof m->role);
    m->quorum_count = (uint32_t)ics_sql_column_u64(st, 10);
    m->quorum_num = (uint32_t)ics_sql_column_u64(st, 11);
    m->quorum_den = (uint32_t)ics_sql_column_u64(st, 12);
    ics_sql_column_text(st, 13, m->quorum_roles, sizeof m->quorum_roles);
    m->threshold = sqlite3_column_int(st, 14);
    m->value = ics_sql_column_u64(st, 15);
    m->policy_version = ics_sql_column_u64(st, 16);
    m->opened_ms = ics_sql_column_u64(st, 17);
    m->closes_ms = ics_sql_column_u64(st, 18);
    ics_sql_column_text(st, 19, m->status, sizeof m->status);
    m->closed_at = ics_sql_column_u64(st, 20);
    m->closed_ms = ics_sql_column_u64(st, 21);
    ics_sql_column_text(st, 22, m->outcome, sizeof m->outcome);
    ics_sql_column_text(st, 23, m->effect_state, sizeof m->effect_state);
    ics_sql_column_text(st, 24, m->effect_note, sizeof m->effect_note);
    m->executed_at = ics_sql_column_u64(st, 25);
}

int ics_motion_get(ics_db_t *db, uint64_t id, ics_motion_t *m)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(m, 0, sizeof *m);
    if (id > INT64_MAX)
        return ICS_ENOENT;
    rc = ics_sql_query(db, &st, "SELECT " ICS_MOTION_COLUMNS " FROM motions WHERE id = ?1", "u",
                         id);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK)
        ics_motion_read(st, m);
    ics_sql_release(db, st);
    return rc;
}

/* ---------------------------------------------------------------- records */

/* The motion's text as a Markdown block quote, one "> " per line. */
static void s_md_quote(FILE *md, const char *text)
{
    for (const char *p = text; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
        fprintf(md, n > 0 ? "> %.*s\n" : ">\n", (int)n, p);
        p += n + (nl != NULL);
    }
    fputc('\n', md);
}

/* The motion's text (free it). */
static int s_motion_text(ics_db_t *db, uint64_t id, char **text)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *text = NULL;
    rc = ics_sql_query(db, &st, "SELECT text FROM motions WHERE id = ?1", "u", id);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK)
        *text = strdup((const char *)sqlite3_column_text(st, 0));
    ics_sql_release(db, st);
    if (rc != ICS_OK || *text == NULL)
        return rc == ICS_OK ? ICS_ENOMEM : rc;
    return ICS_OK;
}

/* The record's head: who proposed what under which rule, and the outcome;
 * in Markdown, up to the head of the table of votes. */
static void s_record_head(const ics_motion_t *m, const char *text, FILE *md, json_t *j)
{
    char when[32], closed[32];

    ics_gov_time(m->opened_ms, when);
    ics_gov_time(m->closed_ms, closed);
    if (md != NULL) {
        fprintf(md, "## Decision record\n\n");
        fprintf(md, "**Motion %" PRIu64 ": %s.** Proposed by %s (%s) at log index %" PRIu64
                    ", %s, under version %" PRIu64 " of the scheme of reservation and "
                    "delegation: %s.\n\n", m->id, m->title, m->person, m->org, m->id, when,
                m->policy_version, m->rule_text);
        if (text[0] != '\0')
            s_md_quote(md, text);
        fprintf(md, "Outcome at log index %" PRIu64 " (%s): **%s**", m->closed_at, closed,
                m->outcome);
        if (m->effect_note[0] != '\0')
            fprintf(md, "; %s", m->effect_note);
        fprintf(md, ".\n\n| Member | Organisation | Role | Vote | Reason | Log index | Entry id "
                    "| Signed with key |\n|---|---|---|---|---|---|---|---|\n");
    }
    if (j != NULL) {
        json_u64(j, "motion", m->id);
        json_str(j, "title", m->title);
        json_str(j, "text", text);
        json_str(j, "decision", ics_decision_name(m->decision));
        json_str(j, "org", m->org);
        json_str(j, "person", m->person);
        json_u64(j, "policy_version", m->policy_version);
        json_str(j, "rule", m->rule);
        json_str(j, "rule_text", m->rule_text);
        json_str(j, "status", m->status);
        json_str(j, "outcome", m->outcome);
        json_u64(j, "closed_at", m->closed_at);
        json_str(j, "effect", m->effect_state);
        json_str(j, "effect_note", m->effect_note);
    }
}

/* One row of ICS_VOTES_SQL, with the key it was signed with; roles by
 * their titles in pol when there is one. */
static int s_record_vote(ics_db_t *db, sqlite3_stmt *st, const Ics__V1__Policy *pol, FILE *md,
                         json_t *j)
{
    char id[65], kid[2 * ICS_KEY_ID_BYTES + 1];
    bool current = sqlite3_column_int(st, 10) != 0, struck = sqlite3_column_int(st, 9) != 0;
    const uint8_t *eid = sqlite3_column_blob(st, 7);
    int rc;

    ics_hex(eid, sqlite3_column_bytes(st, 7) == 32 ? 32 : 0, id);
    rc = ics_people_key_at(db, (const char *)sqlite3_column_text(st, 0),
                           (const char *)sqlite3_column_text(st, 1), ics_sql_column_u64(st, 6),
                           kid);
    if (rc != ICS_OK)
        return rc;
    if (j != NULL) {
        json_obj(j, NULL);
        json_str(j, "org", (const char *)sqlite3_column_text(st, 0));
        json_str(j, "person", (const char *)sqlite3_column_text(st, 1));
        json_u64(j, "seq", ics_sql_column_u64(st, 2));
        json_str(j, "choice", ics_motions_choice_name(sqlite3_column_int(st, 3)));
        json_str(j, "reason", (const char *)sqlite3_column_text(st, 4));
        json_str(j, "role", (const char *)sqlite3_column_text(st, 5));
        json_u64(j, "index", ics_sql_column_u64(st, 6));
        json_str(j, "entry_id", id);
        json_str(j, "key_id", kid);
        json_bool(j, "current", current && !struck);
        json_bool(j, "struck", struck);
        json_end_obj(j);
    }
    if (md != NULL)
        fprintf(
            md, "| %s | %s | %s | %s%s | %s | %" PRIu64 " | `%.16s` | `%s` |\n",
            (const char *)sqlite3_column_text(st, 1), (const char *)sqlite3_column_text(st, 0),
            pol != NULL ? ics_policy_role_title(pol, (const char *)sqlite3_column_text(st, 5))
                        : (const char *)sqlite3_column_text(st, 5),
            ics_motions_choice_name(sqlite3_column_int(st, 3)),
            struck    ? " (struck: interest declared)"
            : current ? ""
                      : " (changed later)",
            (const char *)sqlite3_column_text(st, 4), ics_sql_column_u64(st, 6), id,
            kid[0] ? kid : "none");
    return ICS_OK;
}

/* Every vote cast, struck and changed ones too ("votes" in JSON). */
static int s_record_votes(ics_db_t *db, const ics_motion_t *m, const Ics__V1__Policy *pol,
                          FILE *md, json_t *j)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (j != NULL)
        json_arr(j, "votes");
    rc = ics_sql_query(db, &st, ICS_VOTES_SQL, "u", m->id);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        rc = s_record_vote(db, st, pol, md, j);
        if (rc != ICS_OK)
            break;
    }
    ics_sql_release(db, st);
    if (rc != ICS_ENOENT)
        return rc;
    if (j != NULL)
        json_end_arr(j);
    return ICS_OK;
}

/* The members excluded for a declared interest ("excluded" in JSON). */
static int s_record_excluded(ics_db_t *db, const ics_motion_t *m, FILE *md, json_t *j)
{
    sqlite3_stmt *st = NULL;
    bool any = false;
    int rc;

    if (j != NULL)
        json_arr(j, "excluded");
    rc = ics_sql_query(db, &st, "SELECT org, person, interest, interest_text, excluded_at,"
                                  " interest_at FROM electorate WHERE motion = ?1 AND"
                                  " excluded = 1 ORDER BY org, person", "u", m->id);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        if (j != NULL) {
            json_obj(j, NULL);
            json_str(j, "org", (const char *)sqlite3_column_text(st, 0));
            json_str(j, "person", (const char *)sqlite3_column_text(st, 1));
            json_str(j, "interest", (const char *)sqlite3_column_text(st, 2));
            json_str(j, "description", (const char *)sqlite3_column_text(st, 3));
            json_u64(j, "excluded_at", ics_sql_column_u64(st, 4));
            json_u64(j, "declared_at", ics_sql_column_u64(st, 5));
            json_end_obj(j);
        }
        if (md != NULL) {
            if (!any)
                fprintf(md, "\nExcluded from the vote for a declared interest:\n\n");
            fprintf(md, "- %s (%s): interest in `%s` (%s), declared at log index %" PRIu64
                        "%s\n", (const char *)sqlite3_column_text(st, 1),
                    (const char *)sqlite3_column_text(st, 0),
                    (const char *)sqlite3_column_text(st, 2),
                    (const char *)sqlite3_column_text(st, 3), ics_sql_column_u64(st, 5),
                    ics_sql_column_u64(st, 4) == m->id ? ""
                                                       : "; a vote cast before it was struck out");
        }
        any = true;
    }
    ics_sql_release(db, st);
    if (rc != ICS_ENOENT)
        return rc;
    if (j != NULL)
        json_end_arr(j);
    return ICS_OK;
}

int ics_motions_record(ics_db_t *db, const ics_motion_t *m, FILE *md, json_t *j)
{
    Ics__V1__Policy *pol = NULL;
    char *text = NULL;
    int rc;

    /* Roles by their titles in the scheme the motion was decided under. */
    if (md != NULL && ics_policy_version(db, m->policy_version, &pol) != ICS_OK)
        pol = NULL;
    rc = s_motion_text(db, m->id, &text);
    if (rc != ICS_OK)
        goto out;
    s_record_head(m, text, md, j);
    rc = s_record_votes(db, m, pol, md, j);
    if (rc == ICS_OK)
        rc = s_record_excluded(db, m, md, j);
    if (rc != ICS_OK)
        goto out;
    if (md != NULL)
        fprintf(md, "\nEach vote is a signed entry of the log, signed by the voter with their "
                    "own key: the entry at that index, whose BLAKE2b-256 id begins as shown, is "
                    "a `Vote` command carrying the voter's signature by the key shown (its id: "
                    "the first 8 bytes of BLAKE2b-128 of the public key, as `icsctl people "
                    "list` shows it, with its history), inside their organisation's signed "
                    "envelope. Nobody votes on another's behalf. `icsctl log verify` checks "
                    "both signatures against the keys in force at that index.\n");
out:
    free(text);
    if (pol != NULL)
        ics__v1__policy__free_unpacked(pol, NULL);
    return rc;
}

int ics_motions_record_markdown(ics_db_t *db, uint64_t motion, FILE *out)
{
    ics_motion_t m;
    int rc = ics_motion_get(db, motion, &m);
    return rc == ICS_OK ? ics_motions_record(db, &m, out, NULL) : rc;
}

int ics_motions_record_json(ics_db_t *db, uint64_t motion, json_t *j)
{
    ics_motion_t m;
    int rc = ics_motion_get(db, motion, &m);
    return rc == ICS_OK ? ics_motions_record(db, &m, NULL, j) : rc;
}

/* ---------------------------------------------------------------- tally */


/* Does a person with these roles (space-separated) satisfy "a|b"? */
static bool s_has_alt(const char *roles, const char *alts)
{
    char a[256], r[600];
    char *sa = NULL, *sr = NULL;

    ics_strcpy(a, sizeof a, alts);
    for (char *x = strtok_r(a, "|", &sa); x != NULL; x = strtok_r(NULL, "|", &sa)) {
        ics_strcpy(r, sizeof r, roles);
        for (char *y = strtok_r(r, " ", &sr); y != NULL; y = strtok_r(NULL, " ", &sr))
            if (strcmp(x, y) == 0)
                return true;
    }
    return false;
}

int ics_motions_tally(ics_db_t *db, const ics_motion_t *m, ics_motions_tally_t *t)
{
    sqlite3_stmt *st = NULL;
    char qr[512];
    char *save = NULL;
    int rc;

    memset(t, 0, sizeof *t);
    t->roles_now = t->roles_best = true;
    rc = ics_sql_query(db, &st,
                         "SELECT e.excluded, e.roles, (SELECT choice FROM votes v WHERE"
                         " v.motion = e.motion AND v.org = e.org AND v.person = e.person AND"
                         " v.struck = 0 ORDER BY seq DESC LIMIT 1)"
                         " FROM electorate e WHERE e.motion = ?1 ORDER BY e.org, e.person",
                         "u", m->id);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        t->members++;
        if (sqlite3_column_int(st, 0)) {
            t->excluded++;
            continue;
        }
        t->eligible++;
        switch (sqlite3_column_type(st, 2) == SQLITE_NULL ? 0 : sqlite3_column_int(st, 2)) {
        case ICS__V1__VOTE_CHOICE__VOTE_FOR: t->yes++; break;
        case ICS__V1__VOTE_CHOICE__VOTE_AGAINST: t->no++; break;
        case ICS__V1__VOTE_CHOICE__VOTE_ABSTAIN: t->abstain++; break;
        default: t->pending++; break;
        }
    }
    ics_sql_release(db, st);
    st = NULL;
    if (rc != ICS_ENOENT)
        return rc;
    rc = ICS_OK;
    /* Quorum roles: each needs a present (voted) holder; best case counts
     * eligible holders who have not voted yet. */
    ics_strcpy(qr, sizeof qr, m->quorum_roles);
    for (char *alt = strtok_r(qr, " ", &save); alt != NULL && rc == ICS_OK;
         alt = strtok_r(NULL, " ", &save)) {
        bool now = false, best = false;
        rc = ics_sql_query(db, &st,
                             "SELECT e.roles, EXISTS (SELECT 1 FROM votes v WHERE v.motion ="
                             " e.motion AND v.org = e.org AND v.person = e.person AND"
                             " v.struck = 0) FROM electorate e WHERE e.motion = ?1 AND"
                             " e.excluded = 0 ORDER BY e.org, e.person", "u", m->id);
        if (rc != ICS_OK)
            break;
        while ((rc = ics_sql_row(db, st)) == ICS_OK) {
            if (!s_has_alt((const char *)sqlite3_column_text(st, 0), alt))
                continue;
            best = true;
            now = now || sqlite3_column_int(st, 1) != 0;
        }
        ics_sql_release(db, st);
        st = NULL;
        if (rc != ICS_ENOENT)
            break;
        rc = ICS_OK;
        if (!now) {
            t->roles_now = false;
            size_t used = strlen(t->missing);
            snprintf(t->missing + used, sizeof t->missing - used, "%s%s", used ? ", " : "", alt);
        }
        t->roles_best = t->roles_best && best;
    }
    ics_sql_release(db, st);
    return rc;
}

static bool s_quorum(const ics_motion_t *m, const ics_motions_tally_t *t, unsigned cast, bool roles)
{
    if (cast < m->quorum_count || !roles)
        return false;
    if (m->quorum_den != 0 &&
        (uint64_t)cast * m->quorum_den < (uint64_t)m->quorum_num * t->members)
        return false;
    return true;
}

static bool s_threshold(int threshold, uint64_t yes, uint64_t no, uint64_t abstain)
{
    switch (threshold) {
    case ICS__V1__THRESHOLD__THRESHOLD_TWO_THIRDS:
        return yes > 0 && 3 * yes >= 2 * (yes + no);
    case ICS__V1__THRESHOLD__THRESHOLD_UNANIMITY:
        return yes > 0 && no == 0 && abstain == 0;
    default:
        return yes > no;
    }
}


/* The outcome if the motion closed now (final) or whether it is already
 * fixed (early), with the words for the record. */
int ics_motions_judge(const ics_motion_t *m, const ics_motions_tally_t *t, bool final, char *why,
                      size_t size)
{
    unsigned cast = t->yes + t->no + t->abstain;
    char counts[160];
    int verdict = ICS_MOTION_UNDECIDED;

    snprintf(counts, sizeof counts, "%u for, %u against, %u abstaining of %u members", t->yes,
             t->no, t->abstain, t->members);
    if (t->excluded)
        snprintf(counts + strlen(counts), sizeof counts - strlen(counts),
                 " (%u excluded for a declared interest)", t->excluded);
    if (m->role[0] != '\0') {
        /* One person decides: the first vote for or against. */
        if (t->yes > 0)
            verdict = ICS_MOTION_CARRIED;
        else if (t->no > 0)
            verdict = ICS_MOTION_LOST;
        else if (final || t->pending == 0)
            verdict = ICS_MOTION_LOST;
        if (verdict == ICS_MOTION_CARRIED)
            snprintf(why, size, "carried: decided by a holder of role %s, acting alone",
                     m->role);
        else if (verdict == ICS_MOTION_LOST && t->no > 0)
            snprintf(why, size, "lost: declined by a holder of role %s", m->role);
        else if (verdict == ICS_MOTION_LOST)
            snprintf(why, size, "lost: no decision by a %s %s", m->role,
                     t->eligible == 0 ? "without a declared interest"
                                      : "before the deadline");
        return verdict;
    }
    if (final || t->pending == 0) {
        if (!s_quorum(m, t, cast, t->roles_now)) {
            if (!t->roles_now)
                snprintf(why, size, "lost: quorum not met: %s; no vote by: %s", counts,
                         t->missing);
            else
                snprintf(why, size, "lost: quorum not met: %s (%u voted)", counts, cast);
            return ICS_MOTION_LOST;
        }
        if (s_threshold(m->threshold, t->yes, t->no, t->abstain)) {
            snprintf(why, size, "carried: %s", counts);
            return ICS_MOTION_CARRIED;
        }
        snprintf(why, size, "lost: %s; %s not reached", counts,
                 ics_threshold_title((Ics__V1__Threshold)m->threshold));
        return ICS_MOTION_LOST;
    }
    /* Early: fixed whatever the members yet to vote do. */
    if (s_quorum(m, t, cast, t->roles_now) &&
        m->threshold != ICS__V1__THRESHOLD__THRESHOLD_UNANIMITY &&
        s_threshold(m->threshold, t->yes, (uint64_t)t->no + t->pending, t->abstain)) {
        snprintf(why, size, "carried: %s (the %u yet to vote could not change it)", counts,
                 t->pending);
        return ICS_MOTION_CARRIED;
    }
    if (!s_quorum(m, t, cast + t->pending, t->roles_best)) {
        snprintf(why, size, "lost: quorum cannot be met: %s; %s", counts,
                 t->roles_best ? "too few members can still vote"
                               : "no member without a declared interest holds a required role");
        return ICS_MOTION_LOST;
    }
    if (!s_threshold(m->threshold, (uint64_t)t->yes + t->pending, t->no, t->abstain)) {
        snprintf(why, size, "lost: %s; %s can no longer be reached", counts,
                 ics_threshold_title((Ics__V1__Threshold)m->threshold));
        return ICS_MOTION_LOST;
    }
    return ICS_MOTION_UNDECIDED;
}
