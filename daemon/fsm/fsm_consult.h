/*
 * Consultation rounds, shared between their apply code (fsm_consult.c,
 * consensus-critical: what it computes is hashed into the audit chain) and
 * their reads (fsm_consult_query.c: the consult.* queries, the summary and
 * the published record, which no entry depends on); both read rounds
 * through fsm_consult_data.c.
 */
#ifndef ICS_FSM_CONSULT_H
#define ICS_FSM_CONSULT_H

#include "fsm/fsm_internal.h"
#include "common/policyfile.h"

typedef struct {
    uint64_t id;
    char plan[ICS_POLICY_ID_MAX];
    uint32_t version;
    char *question;
    uint64_t opens_ms, closes_ms;
    char status[16];
    uint64_t decided_at, opened_at, closed_at, closed_ms;
    char closed_by[48];
} ics_consult_round_t;

void ics_consult_round_free(ics_consult_round_t *r);
/* Round id into *r (free with ics_consult_round_free); ICS_ENOENT if none. */
int ics_consult_round_get(ics_db_t *db, uint64_t id, ics_consult_round_t *r);
/* "closed at 2026-03-01T17:00:00Z (its deadline)" or "closed early ... by ...". */
void ics_consult_closed_text(const ics_consult_round_t *r, char *out, size_t size);
const char *ics_consult_stance_name(int s);
const char *ics_consult_opinion_name(int o);

extern const ics_fsm_query_t ics_consult_queries[];

#endif
