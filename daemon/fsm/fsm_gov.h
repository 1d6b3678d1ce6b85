/*
 * What the governance domains (people, policy, plans, consultations,
 * motions) share with each other; included only by their .c files. The
 * parts other domains may use (aid approval, decisions carried, the
 * membership gates) are declared in fsm_internal.h.
 *
 * Conventions of these domains:
 *   - the acting person is (signer org, Command.actor) and must be registered
 *     by that organisation (fsm_people.c) before doing anything but
 *     registering people;
 *   - amendments and motions are named by the audit position of the entry
 *     that proposed them; a consultation by the motion that opened it;
 *   - a check function (…_check_…) decides whether something could be done
 *     now and says why not in `why`; the matching effect function does it,
 *     re-checking, because a motion is carried out later than it was
 *     proposed. Both return ICS_OK, ICS_EREJECTED (why set) or a negative
 *     code when the database failed;
 *   - times in messages are UTC, ISO 8601, from the log clock.
 */
#ifndef ICS_FSM_GOV_H
#define ICS_FSM_GOV_H

#include "fsm/fsm_internal.h"
#include "common/json.h"
#include "common/policyfile.h"

#include "ics/v1/plans.pb-c.h"

#define ICS_PERSON_MAX ICS_ACTOR_MAX    /* person id, with NUL */
#define ICS_SUBJECT_MAX 65              /* interest / motion subject, with NUL */
#define ICS_LINE_MAX 512                /* titles, names, questions (bytes) */
#define ICS_TEXT_MAX (64u * 1024u)      /* section text, rationale, response (bytes) */
#define ICS_WHY_MAX ICS_REASON_MAX

/* ------------------------------------------------------------ text rules (fsm_gov.c) */

/* "2026-03-01T17:00:00Z" (UTC) of a log-clock time; "-" for 0. */
void ics_gov_time(uint64_t ms, char out[32]);
/* "14 days", "36 hours", "90 minutes", "45 seconds" (exact when it can be). */
void ics_gov_period(uint64_t ms, char *out, size_t size);
/* A person id: 1..127 printable ASCII bytes without spaces. */
bool ics_gov_valid_person(const char *s);
/* One line of text (no control characters), at most max - 1 bytes. */
bool ics_gov_valid_line(const char *s, size_t max, bool required);
/* Text that may span lines: no control characters but newline and tab. */
bool ics_gov_valid_text(const char *s, size_t max, bool required);
/* A subject: 1..64 printable bytes without spaces, e.g. "org:RTD". */
bool ics_gov_valid_subject(const char *s);
/* Subjects compare without regard to ASCII case. */
bool ics_gov_subject_eq(const char *a, const char *b);
/* The subject's key for lookups: lower-cased, cut to ICS_SUBJECT_MAX - 1. */
void ics_gov_subject_key(const char *in, char out[ICS_SUBJECT_MAX]);
/* A query argument as a whole number. */
bool ics_gov_arg_u64(const char *s, uint64_t *out);
/* ------------------------------------------------------------ people (fsm_people_data.c) */

typedef struct {
    char org[ICS_ORG_MAX];
    char person[ICS_PERSON_MAX];
    char name[ICS_LINE_MAX];
    char title[ICS_LINE_MAX];
} ics_person_t;

/* A person currently acting for org. ICS_ENOENT if not registered. */
int ics_people_get(ics_db_t *db, const char *org, const char *person, ics_person_t *out);
/* The acting person (ctx->org, ctx->actor), who must be registered:
 * ICS_OK, or ICS_EREJECTED with a reason saying how to register. */
int ics_people_require_actor(ics_apply_ctx_t *ctx, ics_person_t *out);
/* Does the person hold role (with any scope)? */
int ics_people_holds(ics_db_t *db, const char *org, const char *person, const char *role,
                     bool *yes);
/* The person's current roles as "title, title" (roles unknown to p by id),
 * or "no role" when none. */
int ics_people_roles_text(ics_db_t *db, const Ics__V1__Policy *p, const char *org,
                          const char *person, char *out, size_t size);
/* The role by which the person may act for `scope` (a role appointed with
 * that scope), first by role id; out "" if none. */
int ics_people_acts_for(ics_db_t *db, const char *org, const char *person, const char *scope,
                        char out[ICS_POLICY_ID_MAX]);
/* The first live declared interest (the person's own or their
 * organisation's, in order of declaration) in one of subjects. found false
 * if none. subject and description are filled when found. */
int ics_people_interest(ics_db_t *db, const char *org, const char *person,
                        char *const *subjects, size_t n, bool *found,
                        char subject[ICS_SUBJECT_MAX], char *description, size_t size,
                        uint64_t *declared_at);

/* The id of the key that was the person's in force when the entry at
 * position was applied (the last registered or rotated to before it), in
 * hex as log show prints key ids; "" if none. A read, for the decision
 * record: the key each vote was signed with. */
int ics_people_key_at(ics_db_t *db, const char *org, const char *person, uint64_t position,
                      char out[2 * ICS_KEY_ID_BYTES + 1]);

/* Calls fn for each current person holding role, ordered by (org, person). */
int ics_people_each_holder(ics_db_t *db, const char *role,
                           int (*fn)(void *arg, const char *org, const char *person),
                           void *arg);

typedef struct {
    char org[ICS_ORG_MAX];
    char kind[32];
    char name[ICS_LINE_MAX];
    char parent[ICS_ORG_MAX];
    bool member;               /* runs a node in the group */
} ics_org_t;

/* A current member or a registered organisation. ICS_ENOENT if neither. */
int ics_orgs_get(ics_db_t *db, const char *org, ics_org_t *out);
/* Calls fn for each known organisation of kind, ordered by id. */
int ics_orgs_each_kind(ics_db_t *db, const char *kind,
                       int (*fn)(void *arg, const ics_org_t *o), void *arg);

/* ------------------------------------------------------------ policy, read (fsm_policy_data.c) */

/* Version 1 as the genesis defines it: its policy (source "genesis"), or
 * the built-in default when it carried none ("default"). */
int ics_policy_genesis(ics_db_t *db, Ics__V1__Policy **out, const char **source);
/* Version v of the scheme (as ics_policy_in_force). ICS_ENOENT if none. */
int ics_policy_version(ics_db_t *db, uint64_t v, Ics__V1__Policy **out);
/* Version v of the scheme (0: the one in force), its number, and where it
 * came from: source "genesis", "default" (the genesis carried none) or
 * "motion" (put in force at position by motion). ICS_ENOENT if none. */
int ics_policy_version_info(ics_db_t *db, uint64_t v, Ics__V1__Policy **out,
                            uint64_t *version, uint64_t *position, uint64_t *motion,
                            const char **source);
/* The policy in force and its version (1 = the genesis policy, or the
 * built-in default when the genesis carried none). Free *out with
 * ics__v1__policy__free_unpacked(*out, NULL). */
int ics_policy_in_force(ics_db_t *db, Ics__V1__Policy **out, uint64_t *version);
const Ics__V1__RoleDef *ics_policy_role(const Ics__V1__Policy *p, const char *id);
const Ics__V1__Body *ics_policy_body(const Ics__V1__Policy *p, const char *id);
/* The role's title, or its id if p does not define it. */
const char *ics_policy_role_title(const Ics__V1__Policy *p, const char *id);
/* "ICB Board (quorum: half of its 9 members, ...; two thirds; 28 days)" */
void ics_policy_rule_text(const Ics__V1__Policy *p, const Ics__V1__Rule *r, char *out,
                          size_t size);
/* Who decides, for people: "ICB Board" or "Chief Executive, acting alone". */
void ics_policy_decider_text(const Ics__V1__Policy *p, const Ics__V1__Rule *r, char *out,
                             size_t size);
/* A body's quorum, for people: "half of the members voting, including a
 * vote by a Chair of the ICB", or "no quorum". */
void ics_policy_quorum_text(const Ics__V1__Policy *p, const Ics__V1__Rule *r, char *out,
                            size_t size);

/* ------------------------------------------------------------ policy (fsm_policy.c) */

/* The rule that decides d for a motion with these subjects (and, for
 * aid.approve, this value): among rules of d whose scope is empty or one of
 * the subjects and whose up_to (0: any) covers value, the one with the
 * smallest up_to, a scoped one before an unscoped one, then the first in
 * the policy. NULL if none. */
const Ics__V1__Rule *ics_policy_rule_for(const Ics__V1__Policy *p, Ics__V1__Decision d,
                                         char *const *subjects, size_t n, uint64_t value);
/* Checks a policy proposed as a change (ics_policy_valid, and that it is
 * not the policy in force). */
int ics_policy_check_change(ics_db_t *db, const Ics__V1__Policy *p, char *why, size_t size);
/* Puts p in force as the next version, decided by motion. */
int ics_policy_install(ics_apply_ctx_t *ctx, const Ics__V1__Policy *p, uint64_t motion,
                       char *why, size_t size);

/* ------------------------------------------------------------ plans (fsm_plans.c) */

/* Can version of plan be adopted now? On ICS_OK *consultation is the
 * closed consultation that qualifies it. */
int ics_plans_check_adopt(ics_db_t *db, const char *plan, uint32_t version,
                          uint64_t *consultation, char *why, size_t size);
int ics_plans_adopt(ics_apply_ctx_t *ctx, const char *plan, uint32_t version, uint64_t motion,
                    char *why, size_t size);
/* Is the amendment still proposed and applicable? plan_out gets its plan. */
int ics_plans_check_accept(ics_db_t *db, uint64_t amendment, char plan_out[ICS_POLICY_ID_MAX],
                           char org_out[ICS_ORG_MAX], char *why, size_t size);
int ics_plans_accept(ics_apply_ctx_t *ctx, uint64_t amendment, uint64_t motion, char *why,
                     size_t size);
/* The motion to accept it was lost. */
int ics_plans_reject(ics_apply_ctx_t *ctx, uint64_t amendment, uint64_t motion);

/* ------------------------------------------------------------ plans (fsm_plans_data.c) */

/* Does the version exist? ICS_OK or ICS_EREJECTED with why. */
int ics_plans_check_version(ics_db_t *db, const char *plan, uint32_t version, char *why,
                            size_t size);
/* Amendment exists, on plan: ICS_OK or ICS_EREJECTED with why. */
int ics_plans_check_amendment_of(ics_db_t *db, uint64_t amendment, const char *plan, char *why,
                                 size_t size);

/* ------------------------------------------------------------ consultations (fsm_consult.c) */

int ics_consult_check_open(ics_apply_ctx_t *ctx, const Ics__V1__MotionOpenConsultation *m,
                           char *why, size_t size);
/* Opens (or schedules) consultation id as decided by that motion. */
int ics_consult_open(ics_apply_ctx_t *ctx, uint64_t id, const Ics__V1__MotionOpenConsultation *m,
                     char *why, size_t size);
/* plan_out gets the consultation's plan. */
int ics_consult_check_close(ics_db_t *db, uint64_t id, char plan_out[ICS_POLICY_ID_MAX],
                            char *why, size_t size);
int ics_consult_close_early(ics_apply_ctx_t *ctx, uint64_t id, uint64_t motion, char *why,
                            size_t size);
/* The latest closed consultation on the version that lets it be adopted:
 * every HWB known to the group was a consultee and each HWB consultee's
 * opinion is on record (given, or not received by a deadline that passed).
 * ICS_OK with *id, or ICS_EREJECTED saying what is missing. */
int ics_consult_for_adoption(ics_db_t *db, const char *plan, uint32_t version, uint64_t *id,
                             char *why, size_t size);
typedef struct {
    uint64_t id;
    uint32_t version;
    char status[16];           /* scheduled, open, closed */
    uint64_t opens_ms, closes_ms, closed_ms;
    char closed_by[48];        /* "deadline" or "motion N" */
    unsigned consultees, responded;
} ics_consult_info_t;

/* Calls fn for each consultation on plan, ordered by id. */
int ics_consult_each_for_plan(ics_db_t *db, const char *plan,
                              int (*fn)(void *arg, const ics_consult_info_t *c), void *arg);
/* The consultation's summary and HWB opinions, for a published plan. */
int ics_consult_markdown(ics_db_t *db, uint64_t id, FILE *out);
int ics_consult_json(ics_db_t *db, uint64_t id, json_t *j);

/* ------------------------------------------------------------ decisions (fsm_decisions.c) */

/* The thing `target` names ("amendment:57") can no longer be decided: any
 * open motion about it lapses, with why. */
int ics_motions_lapse(ics_apply_ctx_t *ctx, const char *target, const char *why);

/* ------------------------------------------------------------ records (fsm_motions_data.c) */

/* The decision record of a carried motion, for a published plan. */
int ics_motions_record_markdown(ics_db_t *db, uint64_t motion, FILE *out);
int ics_motions_record_json(ics_db_t *db, uint64_t motion, json_t *j);

/* ------------------------------------------------------------ motions (fsm_motions.c) */

/* The person's interests changed: exclude them from open motions whose
 * subjects match, striking any vote they cast, and settle those motions.
 * person "" means every person of org. */
int ics_motions_interests_changed(ics_apply_ctx_t *ctx, const char *org, const char *person);

#endif
