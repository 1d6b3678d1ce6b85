/*
 * The scheme of reservation and delegation as a file an operator writes
 * (docs/policy.md), the built-in default scheme, and the structural checks
 * every scheme must pass before a group uses it. Shared by the daemon (the
 * genesis policy from configuration), icsctl (policy propose-change) and the
 * state machine (a changed policy is checked again when applied).
 *
 * A policy returned here is built like an unpacked protobuf-c message:
 * free it with ics__v1__policy__free_unpacked(p, NULL).
 */
#ifndef ICS_POLICYFILE_H
#define ICS_POLICYFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "ics.h"
#include "ics/v1/plans.pb-c.h"

/* Limits of a policy (also checked by ics_policy_valid). */
#define ICS_POLICY_ID_MAX 32      /* role, body and rule ids, with NUL */
#define ICS_POLICY_MAX_ROLES 64
#define ICS_POLICY_MAX_BODIES 32
#define ICS_POLICY_MAX_RULES 64
#define ICS_POLICY_MAX_LIST 32    /* roles, orgs, kinds ... in one list */
#define ICS_POLICY_TEXT_MAX 512   /* names, titles, notes */
#define ICS_POLICY_PERIOD_MAX (366ull * 86400000ull)

/* Loads and checks a policy file. On any error returns ICS_ECONFIG (or
 * ICS_EIO / ICS_ENOMEM) with "FILE:LINE: message" in err, naming the key or
 * value that is wrong. On success *out is the policy; the caller frees it. */
int ics_policy_load(const char *path, Ics__V1__Policy **out, ics_err_t *err);

/* The same for text already in memory; name stands for the file in
 * messages. */
int ics_policy_parse(const char *text, const char *name, Ics__V1__Policy **out,
                     ics_err_t *err);

/* The built-in default scheme (docs/policy.md, "The built-in default"), used
 * by a group whose genesis carries no policy. Its text never changes: every
 * node must derive the same default. ICS_OK or ICS_ENOMEM. */
int ics_policy_default(Ics__V1__Policy **out);
const char *ics_policy_default_text(void);

/* Is p usable as a group's scheme? Ids well formed and unique, every
 * reference resolves, quorum fractions and periods in range, and every
 * decision but aid.approve has a rule that applies to any motion. On false,
 * why says what is wrong, naming the role, body or rule. Deterministic: the
 * state machine relies on it. */
bool ics_policy_valid(const Ics__V1__Policy *p, char *why, size_t why_size);

/* "plan.adopt", ... ; NULL for an unknown decision. */
const char *ics_decision_name(Ics__V1__Decision d);
/* "Adopt a plan version", ... */
const char *ics_decision_title(Ics__V1__Decision d);
bool ics_decision_parse(const char *name, Ics__V1__Decision *out);
/* "simple majority", "two thirds", "unanimity" */
const char *ics_threshold_title(Ics__V1__Threshold t);

#endif
