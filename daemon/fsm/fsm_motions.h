/*
 * What the motion files share: a motion's row and how it is read, its
 * votes, and its decision record (fsm_motions_data.c, reads only, below
 * fsm_motions.c, which holds the rules: proposing, voting, settling and
 * carrying out). Included only by those files; what other domains use of
 * motions is declared in fsm_gov.h and fsm_internal.h.
 */
#ifndef ICS_FSM_MOTIONS_H
#define ICS_FSM_MOTIONS_H

#include "fsm/fsm_gov.h"

#include <stdio.h>

/* A motion's row (table motions). */
typedef struct {
    uint64_t id;
    Ics__V1__Decision decision;
    char title[ICS_LINE_MAX];
    char org[ICS_ORG_MAX];
    char person[ICS_PERSON_MAX];
    char target[96];
    char rule[ICS_POLICY_ID_MAX];
    char rule_text[ICS_WHY_MAX * 2];
    char body[ICS_POLICY_ID_MAX];
    char role[ICS_POLICY_ID_MAX];
    uint32_t quorum_count, quorum_num, quorum_den;
    char quorum_roles[512];
    int threshold;
    uint64_t value, policy_version;
    uint64_t opened_ms, closes_ms;
    char status[16];
    uint64_t closed_at, closed_ms;
    char outcome[ICS_WHY_MAX * 2];
    char effect_state[16];
    char effect_note[ICS_WHY_MAX];
    uint64_t executed_at;
} ics_motion_t;

#define ICS_MOTION_COLUMNS                                                                     \
    "id, decision, title, org, person, target, rule, rule_text, body, role,"                   \
    " quorum_count, quorum_num, quorum_den, quorum_roles, threshold, value, policy_version,"   \
    " opened_ms, closes_ms, status, closed_at, closed_ms, outcome, effect_state, effect_note," \
    " executed_at"

/* Votes of a motion, every one, for the record: fn gets each row. */
#define ICS_VOTES_SQL                                                                      \
    "SELECT v.org, v.person, v.seq, v.choice, v.reason, v.role, v.position, v.entry_id,"   \
    " v.clock_ms, v.struck, v.seq = (SELECT max(seq) FROM votes x WHERE x.motion ="        \
    " v.motion AND x.org = v.org AND x.person = v.person) FROM votes v WHERE v.motion = ?1" \
    " ORDER BY v.position, v.org, v.person"

/* "for", "against", "abstain" (a vote's choice), "unknown" for anything else. */
const char *ics_motions_choice_name(int c);
/* Fills m from a row of ICS_MOTION_COLUMNS, in order. */
void ics_motion_read(sqlite3_stmt *st, ics_motion_t *m);
/* Motion id: ICS_ENOENT if there is none. */
int ics_motion_get(ics_db_t *db, uint64_t id, ics_motion_t *m);
/* The decision record of m: Markdown to md and/or its JSON members to j
 * (either may be NULL). */
int ics_motions_record(ics_db_t *db, const ics_motion_t *m, FILE *md, json_t *j);

/* A motion's verdict as the tally gives it (ics_motions_judge). */
enum { ICS_MOTION_UNDECIDED, ICS_MOTION_CARRIED, ICS_MOTION_LOST };

/* The votes cast on m so far, who may still vote and the quorum roles
 * missing. */
typedef struct {
    unsigned members, excluded, eligible;
    unsigned yes, no, abstain, pending;
    bool roles_now, roles_best;
    char missing[300];            /* quorum roles with no vote yet */
} ics_motions_tally_t;
int ics_motions_tally(ics_db_t *db, const ics_motion_t *m, ics_motions_tally_t *t);
/* The outcome if the motion closed now (final) or whether it is already
 * fixed: ICS_MOTION_CARRIED, _LOST or _UNDECIDED, with the words for the
 * record in why. */
int ics_motions_judge(const ics_motion_t *m, const ics_motions_tally_t *t, bool final, char *why,
                      size_t size);

extern const ics_fsm_query_t ics_motions_queries[];

#endif
