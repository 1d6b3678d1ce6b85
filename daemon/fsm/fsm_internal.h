/*
 * What the state machine's domains share: the apply context, the domain
 * table that plugs a domain in, and small SQLite helpers. Included only by
 * the .c files of daemon/fsm.
 *
 * Adding a domain (plans, consultations, motions, aid, OPEL):
 *   1. write fsm_<domain>.c defining `const ics_fsm_domain_t ics_fsm_domain_<domain>`
 *      with a table of the Command.body cases it handles, one handler each;
 *   2. declare it below and add it to s_domains[] in fsm.c (order matters
 *      only for on_clock: domains run in array order).
 * The files call one another in layers, so that no call comes back round
 * to its caller's file: each .c calls only files listed before it here.
 *   core      fsm_sql.c, fsm_gov.c, fsm_ctx.c (ics_reject, effects, the
 *             core row): no domain;
 *   lower     fsm_decisions.c, fsm_plans_data.c, fsm_plans_diff.c,
 *             fsm_aid_data.c, fsm_invariants.c, fsm_policy_data.c,
 *             fsm_policy_query.c, fsm_policy.c, fsm_members.c,
 *             fsm_audit.c, fsm_opel.c, fsm_people_data.c,
 *             fsm_motions_data.c, fsm_consult_data.c: what other files
 *             read or take of a domain (rows, the membership gates, a
 *             motion's lapse), and the domains that need nothing above
 *             them;
 *   domains   fsm_consult_query.c, fsm_consult.c, fsm_plans_query.c,
 *             fsm_plans.c, fsm_aid_query.c, fsm_aid.c, fsm_motions_query.c;
 *   motions   fsm_motions.c, which carries out decisions in the domains;
 *   people    fsm_people_query.c, fsm_people.c, whose declared interests
 *             settle open motions;
 *   top       fsm.c: admission, dispatch through the domain tables (no
 *             other file calls a domain table), snapshots, the public API;
 *             fsm_aid_bridge.c, a cross-group view over it.
 * Something one domain needs of another that sits above it goes into the
 * other's readers (fsm_<domain>_data.c), never into a call upwards.
 * Rules every domain keeps, because every node must compute the same thing:
 *   - use only the command, ctx and the database; never the wall clock,
 *     randomness, configuration, environment, ZeroMQ or files;
 *   - every query whose rows feed state, output, a reason or the chain has an
 *     ORDER BY that fixes a total order (or selects by a unique key);
 *   - no floating point in state; integers are 63-bit (SQLite INTEGER);
 *   - schema() uses CREATE ... IF NOT EXISTS: it also runs on a restored
 *     snapshot, which may come from a build without the domain's tables;
 *   - a rejection says why in words a partner's staff understand, through
 *     ics_reject(); a handler may write before rejecting: the core rolls
 *     its savepoint back;
 *   - membership and keys change only through fsm_members.c (the offline
 *     verifier replays exactly Genesis/MemberAdd/MemberRemove/KeyRotate to
 *     know keys): a motion that admits a partner gates a later MemberAdd,
 *     it never writes the members table itself;
 *   - the log clock moves only in the core (envelope time, ClockTick).
 */
#ifndef ICS_FSM_INTERNAL_H
#define ICS_FSM_INTERNAL_H

#include "fsm/fsm.h"
#include "fsm/fsm_sql.h"
#include "common/logverify.h"
#include "common/json.h"

#include "ics/v1/envelope.pb-c.h"


/* Everything a handler may know about the entry being applied. */
typedef struct ics_apply_ctx {
    ics_db_t *db;
    const char *group;
    const char *org;            /* signer; a current member whose signature verified */
    const char *actor;          /* Command.actor, "" if not given */
    uint64_t seq;               /* the signer's sequence number */
    uint64_t position;          /* this entry's audit position */
    uint64_t timestamp_ms;      /* the envelope's (proposer's) time */
    uint64_t clock_ms;          /* log clock for this entry, after the envelope's time;
                                   read-only outside fsm.c */
    const uint8_t *entry_id;    /* 32 bytes */
    char reason[ICS_REASON_MAX];
    /* Private to fsm.c: effects buffered until commit; the state machine. */
    ics_effect_t *effects_;
    size_t n_effects_, cap_effects_;
    struct ics_fsm *fsm_;
} ics_apply_ctx_t;

/* What a domain's on_clock has pending, as of the state and its clock. */
typedef struct {
    uint64_t next;           /* earliest deadline after the clock, 0 if none */
    bool overdue;            /* work due at or before the clock already: on_clock
                                does it the next time the clock moves */
} ics_deadline_t;

/* A command kind a domain handles and its handler. The handler runs
 * inside a savepoint. ICS_OK: accepted. ICS_EREJECTED: rejected, reason set
 * (use ics_reject), all its writes undone. Negative: the database failed;
 * the whole entry is abandoned and the node stops. */
typedef struct {
    uint32_t kind;              /* a Command.body case; 0 ends a table */
    int (*apply)(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd);
} ics_fsm_handler_t;

typedef struct {
    const char *name;
    const ics_fsm_handler_t *handlers;  /* the kinds it handles, {0, NULL} last */
    int (*schema)(ics_db_t *db);                                   /* ICS_OK or ICS_EIO */
    /* Runs when the log clock moves (before the entry's own command, and
     * again after a ClockTick) and some domain's deadline() has work due by
     * the new clock: close everything due, i.e. every deadline <=
     * ctx->clock_ms. Must be idempotent. NULL if none. */
    int (*on_clock)(ics_apply_ctx_t *ctx);
    /* What on_clock has pending at clock (the log clock of the state as it
     * is). The core skips every domain's on_clock while no domain has
     * anything overdue and the clock stays below every domain's next: at
     * such a clock on_clock must change nothing, so everything it would act
     * on, deadline or not (a derived value gone out of date), must show
     * here. The leader ticks for the earliest next. ICS_OK, or ICS_EIO (the
     * core then runs on_clock). NULL if no on_clock. */
    int (*deadline)(ics_db_t *db, uint64_t clock, ics_deadline_t *out);
    const struct ics_fsm_query *queries;     /* read-only queries, name NULL-terminated */
    /* Gauges for /metrics in Prometheus text format, each labelled with
     * group="<group>"; read-only. NULL if none. */
    void (*metrics)(ics_db_t *db, const char *group, FILE *out);
} ics_fsm_domain_t;

/* A read-only query a domain answers for icsctl (through the node's
 * control socket). It writes a JSON document to json and the same answer
 * for people to text. Bad arguments: return ICS_EINVAL with err saying
 * what was wrong; something asked for that does not exist: ICS_ENOENT with
 * err naming it. Queries never write. */
typedef struct ics_fsm_query {
    const char *name;        /* "<domain>.<verb>", e.g. "plan.show" */
    int (*fn)(ics_db_t *db, const char *group, size_t argc, char *const *argv, FILE *json,
              FILE *text, ics_err_t *err);
} ics_fsm_query_t;

extern const ics_fsm_domain_t ics_fsm_domain_members; /* fsm_members.c */
extern const ics_fsm_domain_t ics_fsm_domain_audit;   /* fsm_audit.c */
extern const ics_fsm_domain_t ics_fsm_domain_people;  /* fsm_people.c */
extern const ics_fsm_query_t ics_people_queries[];      /* fsm_people_query.c */
extern const ics_fsm_domain_t ics_fsm_domain_policy;  /* fsm_policy.c */
extern const ics_fsm_query_t ics_policy_queries[];      /* fsm_policy_query.c */
extern const ics_fsm_domain_t ics_fsm_domain_plans;   /* fsm_plans.c */
extern const ics_fsm_domain_t ics_fsm_domain_consult; /* fsm_consult.c */
extern const ics_fsm_domain_t ics_fsm_domain_motions; /* fsm_motions.c */
extern const ics_fsm_domain_t ics_fsm_domain_opel;    /* fsm_opel.c */
extern const ics_fsm_domain_t ics_fsm_domain_aid;     /* fsm_aid.c */

/* ------------------------------------------------------------ context (fsm_ctx.c) */

/* Formats ctx->reason and returns ICS_EREJECTED. */
int ics_reject(ics_apply_ctx_t *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Queues a membership effect, delivered after commit if the entry is
 * accepted. ICS_OK or ICS_ENOMEM. */
int ics_emit_effect(ics_apply_ctx_t *ctx, const ics_effect_t *effect);

/* The core row (fsm_core): the counters of the entries applied so far.
 * Only fsm.c writes it. */
typedef struct {
    uint64_t position;
    uint8_t chain[ICS_CHAIN_BYTES];
    uint64_t clock_ms;
    bool genesis;
} ics_core_t;

/* ICS_OK, or ICS_EIO if the row cannot be read. */
int ics_core_read(ics_db_t *db, ics_core_t *c);
/* The log clock as of the entries applied so far (for queries, which have
 * no apply context). */
uint64_t ics_core_clock(ics_db_t *db);

/* ------------------------------------------------------------ state */

/* The lifecycle invariants (fsm_invariants.c): true while they hold, else
 * why names the first broken. */
bool ics_fsm_invariants(ics_db_t *db, char *why, size_t size);

/* The state database of fsm (fsm.c), for reads by the domains' cross-group
 * helpers (ics_fsm_aid_bridge) and tests. Replaced by a restore. */
ics_db_t *ics_fsm_handle(ics_fsm_t *fsm);

/* ------------------------------------------------------------ members (fsm_members.c) */

typedef struct {
    char org[ICS_ORG_MAX];
    char kind[32];
    char name[ICS_NAME_MAX];
    char endpoint[ICS_ENDPOINT_MAX];
    uint8_t public_key[ICS_PK_BYTES];
    bool voter;
    bool admin;
    uint64_t since;             /* position it (last) joined at */
} ics_member_t;

/* A current member. ICS_ENOENT if org is not one. */
int ics_members_get(ics_db_t *db, const char *org, ics_member_t *out);
/* Number of current voting members. */
int ics_members_voters(ics_db_t *db, unsigned *n);
/* Calls fn for each current member ordered by org. */
int ics_members_each(ics_db_t *db, void (*fn)(void *arg, const ics_member_t *m), void *arg);

/* Checks a Genesis command for this group as signed by env->org, before any
 * genesis has been applied: returns ICS_OK and the signer's listed key, or
 * ICS_EREJECTED with the reason in why. */
int ics_members_genesis_check(const char *group, const Ics__V1__Envelope *env,
                              const Ics__V1__Genesis *g, uint8_t signer_pk[ICS_PK_BYTES],
                              char *why, size_t why_size);

/* ------------------------------------------------------------ people (fsm_people.c) */

/* The admission check of person signatures, run by the core on every
 * command after the envelope verified and before the domain's handler:
 * a command naming a person (Command.actor) must carry that person's
 * signature (Command.person_sig) under the key registered for them, with
 * a per-person sequence number above the last applied, which it takes.
 * A command naming nobody is the organisation's own. ICS_OK, or
 * ICS_EREJECTED with the reason (docs/log-format.md, section 2c). */
int ics_people_admit(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd, const uint8_t *payload,
                     size_t len);

/* ------------------------------------------------------------ policy (fsm_policy.c) */

/* Who must approve mutual aid of `value` (in the units of the aid
 * domain's resource catalogue) asked for by `org`, under the scheme of
 * reservation and delegation in force (docs/policy.md, aid.approve):
 *   needed false      value is at or below the policy's aid_threshold;
 *   allowed false     no rule covers the value: nobody may approve it
 *                     (text says so);
 *   individual true   one person holding `role` approves, acting alone
 *                     (check with ics_policy_person_holds);
 *   individual false  `body` decides by motion: a carried motion
 *                     MotionApproveAid{offer} (see ics_decision_carried
 *                     with target "aid:<offer>").
 * text is a sentence for people, e.g. "Executive Director of Operations,
 * acting alone (aid.approve.director: up to 50)". */
typedef struct {
    bool needed;
    bool allowed;
    bool individual;
    char role[32];
    char body[32];
    char rule[32];
    char text[256];
    uint64_t threshold;          /* the policy's aid_threshold */
} ics_aid_approval_t;

int ics_policy_aid_approval(ics_db_t *db, uint64_t value, const char *org,
                            ics_aid_approval_t *out);
/* Is (org, person) a registered person of org currently appointed to a
 * role the policy in force defines? (fsm_people_data.c) */
int ics_policy_person_holds(ics_db_t *db, const char *org, const char *person, const char *role,
                            bool *yes);
/* ------------------------------------------------------------ decisions (fsm_decisions.c) */

/* A carried motion that decided d about target ("aid:<offer>",
 * "amendment:57", "org:RTD"): ICS_OK with the motion's id (and, for
 * aid.approve, the value it approved; else 0), ICS_ENOENT if none. */
int ics_decision_carried(ics_db_t *db, Ics__V1__Decision d, const char *target, uint64_t *motion,
                         uint64_t *value);

/* Membership gates (fsm_members.c asks; fsm_decisions.c answers, from the
 * motions fsm_motions.c carried): a MemberAdd of exactly org with key pk,
 * or a MemberRemove of org, not signed by the administrator is allowed
 * once per carried member.admit / member.remove motion not yet carried
 * out. ICS_OK marks that motion carried out at ctx->position and returns
 * its id; ICS_ENOENT if none. */
int ics_motions_take_admission(ics_apply_ctx_t *ctx, const char *org,
                               const uint8_t pk[ICS_PK_BYTES], uint64_t *motion);
int ics_motions_take_removal(ics_apply_ctx_t *ctx, const char *org, uint64_t *motion);

/* ------------------------------------------------------------ OPEL (fsm_opel.c) */

/* org's highest current OPEL level over its provider types (0 if it has no
 * current report) and the position of that report (0 if none). */
int ics_opel_current(ics_db_t *db, const char *org, uint64_t clock_ms, unsigned *level,
                     uint64_t *report);
/* Writes the OPEL part of aid.board: an "opel" member into j (inside an
 * object) and its lines to text. */
int ics_opel_board(ics_db_t *db, uint64_t clock_ms, json_t *j, FILE *text);

/* ------------------------------------------------------------ audit (fsm_audit.c) */

/* After an entry's verdict is final: keeps the chain mark if
 * res->position is a multiple of ICS_FSM_MARK_STRIDE (pruning what falls out
 * of the window) and, for an accepted genesis, its envelope. */
int ics_audit_record(ics_db_t *db, const ics_apply_result_t *res, const uint8_t *buf,
                     size_t len, bool genesis);
/* Where a verified (org, seq) stands against org's replay window. */
typedef enum { ICS_REPLAY_NEW, ICS_REPLAY_SEEN, ICS_REPLAY_STALE } ics_replay_t;
int ics_audit_replay(ics_db_t *db, const char *org, uint64_t seq, ics_replay_t *out,
                     uint64_t *highest);
/* Takes (org, seq), which ics_audit_replay found NEW. */
int ics_audit_replay_take(ics_db_t *db, const char *org, uint64_t seq);
/* The chain kept at a marked position. ICS_ENOENT if none is kept. */
int ics_audit_mark(ics_db_t *db, uint64_t position, uint8_t out[ICS_CHAIN_BYTES]);
void ics_audit_checkpoint_status(ics_db_t *db, ics_checkpoint_status_t *out);
uint64_t ics_audit_certified_position(ics_db_t *db);
bool ics_audit_has_checkpoint(ics_db_t *db, const char *org, uint64_t position);

#endif
