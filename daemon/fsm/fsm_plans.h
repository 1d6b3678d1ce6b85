/*
 * What the plan files share: a version's document (sections), its
 * paragraphs, a plan's row and an amendment's row, and how they are read
 * (fsm_plans_data.c; the domain's rules are in fsm_plans.c), the text diff
 * (fsm_plans_diff.c) and the queries (fsm_plans_query.c). Included only by
 * those files.
 */
#ifndef ICS_FSM_PLANS_H
#define ICS_FSM_PLANS_H

#include "fsm/fsm_gov.h"

#include <stdio.h>

/* Beyond this many cells (lines of a times lines of b) a text diff skips
 * the longest-common-subsequence table and shows every line of a removed
 * and every line of b added. */
#define ICS_PLANS_DIFF_CELLS (4u * 1024u * 1024u)

typedef struct {
    char id[ICS_POLICY_ID_MAX];
    char *title;
    char *text;
} ics_plan_sec_t;

typedef struct {
    char plan[ICS_POLICY_ID_MAX];
    char *title;
    char *period;
    uint32_t version;
    size_t n, cap;
    ics_plan_sec_t *sec;
} ics_plan_doc_t;

typedef struct {
    size_t n;
    char **p;
} ics_plan_paras_t;

typedef struct {
    char plan[ICS_POLICY_ID_MAX];
    char title[ICS_LINE_MAX];
    char period[64];
    char org[ICS_ORG_MAX];
    char person[ICS_PERSON_MAX];
    uint64_t created;
    uint32_t latest, adopted;
} ics_plan_t;

typedef struct {
    uint64_t id;
    char plan[ICS_POLICY_ID_MAX];
    uint32_t base;
    int op;
    char section[ICS_POLICY_ID_MAX];
    char *title;
    char *text;
    uint32_t paragraph;
    char after[ICS_POLICY_ID_MAX];
    char *rationale;
    char org[ICS_ORG_MAX];
    char person[ICS_PERSON_MAX];
    uint64_t clock_ms;
    char status[16];
    uint64_t status_at;
    char *note;
    uint32_t version;
    uint64_t motion;
} ics_amend_t;

#define ICS_AMEND_COLUMNS "id, plan, base, op, section, title, text, paragraph, after, rationale," \
                        " org, person, clock_ms, status, status_at, status_note, version, motion"

/* ---------------------------------------------------------------- fsm_plans_data.c */

/* A plan or section id: a lower-case letter or digit, then a-z 0-9 _ . - */
bool ics_plans_valid_key(const char *s);
/* A version's document; ICS_ENOENT if there is no such version. */
int ics_plan_doc_load(ics_db_t *db, const char *plan, uint32_t version, ics_plan_doc_t *d);
void ics_plan_doc_free(ics_plan_doc_t *d);
/* Inserts a copy of the section at index at (0..n): ICS_OK or ICS_ENOMEM. */
int ics_plan_doc_insert(ics_plan_doc_t *d, size_t at, const char *id, const char *title,
                        const char *text);
/* Replaces *field with a copy of v: ICS_OK or ICS_ENOMEM (*field unchanged). */
int ics_plan_set(char **field, const char *v);
/* The index of section id in d, -1 if it has none. */
long ics_plan_doc_find(const ics_plan_doc_t *d, const char *id);
/* A text's paragraphs (split at blank lines) and back. */
int ics_plan_paras_split(const char *text, ics_plan_paras_t *ps);
char *ics_plan_paras_join(const ics_plan_paras_t *ps);
void ics_plan_paras_free(ics_plan_paras_t *ps);
/* ICS_ENOENT if there is no such plan. */
int ics_plan_get(ics_db_t *db, const char *plan, ics_plan_t *out);
/* Fills a from a row of ICS_AMEND_COLUMNS, in order: ICS_OK or ICS_ENOMEM. */
int ics_amend_read(sqlite3_stmt *st, ics_amend_t *a);
/* Amendment id: ICS_ENOENT if there is none. */
int ics_amend_get(ics_db_t *db, uint64_t id, ics_amend_t *a);
void ics_amend_free(ics_amend_t *a);
/* "replace", "insert", "delete", "add". */
const char *ics_amend_op_name(int op);

/* ---------------------------------------------------------------- fsm_plans_diff.c */

/* A unified diff of two texts, line by line. */
int ics_text_unified(FILE *f, const char *ta, const char *tb);
/* What changed between two versions, section by section: text to f, the
 * "sections" array to j. */
int ics_plan_doc_diff(FILE *f, json_t *j, const ics_plan_doc_t *a, const ics_plan_doc_t *b);

/* ---------------------------------------------------------------- fsm_plans_query.c */

extern const ics_fsm_query_t ics_plans_queries[];

#endif
