/*
 * The replicated state machine of one raft group (one ICS). Raft orders
 * signed envelopes; every node applies them here, in order, and must reach
 * the same state, the same verdict (accepted, or rejected with a reason) and
 * the same audit chain. Nothing here reads the wall clock, randomness or the
 * node's configuration: an entry's outcome depends on its bytes and on the
 * state before it, nothing else. See docs/log-format.md for the audit chain
 * and the export format, and fsm_internal.h for adding a command domain.
 *
 * Not thread-safe: one thread applies, snapshots and reads.
 */
#ifndef ICS_FSM_H
#define ICS_FSM_H

#include <stdio.h>

#include "common/ics.h"
#include "common/keys.h"
#include "ics/v1/command.pb-c.h"
#include <sqlite3.h>

/* Names the state machine's consensus-visible rules: its verdicts, the
 * exact texts of its rejections (hashed into the audit chain) and the
 * effects of every command on the state. Nodes that apply the same log
 * under different rules disagree. It must change whenever any of them
 * changes, together with the golden log in tests/unit/test_golden.c,
 * which fails until both are updated. */
#define ICS_RULES_VERSION 6

typedef struct ics_fsm ics_fsm_t;

typedef struct {
    uint64_t position;       /* audit log position (1-based) of the entry; 0 for a duplicate
                                (the state keeps no past results: see the history) */
    bool accepted;
    bool duplicate;          /* (org, seq) already applied: nothing changed; only org, seq,
                                kind and entry_id are set */
    char reason[256];        /* why rejected; "" when accepted */
    uint8_t entry_id[32];    /* ics_entry_id of the envelope bytes */
    uint8_t chain[32];       /* chain head after this entry */
    char org[ICS_ORG_MAX];   /* signer as claimed ("" if undecodable) */
    uint64_t seq;
    uint32_t kind;
    uint64_t clock_ms;       /* state machine clock after this entry */
    bool verified;           /* the signature verified and (org, seq) was taken */
    /* The entry's bytes, for the observer's applied() only (the history
     * records them); NULL elsewhere. */
    const uint8_t *envelope;
    size_t envelope_len;
} ics_apply_result_t;

/* Bounds of what the state keeps of the past (fsm_audit.c). Changing any
 * is a consensus change. */
#define ICS_FSM_REPLAY_WINDOW 1024  /* sequence numbers remembered per organisation */
#define ICS_FSM_MARK_STRIDE 16      /* checkpoints name multiples of this */
#define ICS_FSM_MARKS_KEPT 256      /* chain marks kept: 4,096 positions */

/* Membership effects the node must carry out (raft configuration, transport allow-list). */
typedef enum { ICS_EFFECT_MEMBER_ADDED, ICS_EFFECT_MEMBER_REMOVED, ICS_EFFECT_KEY_CHANGED } ics_effect_type_t;

typedef struct {
    ics_effect_type_t type;
    char org[ICS_ORG_MAX];
    char endpoint[ICS_ENDPOINT_MAX];
    uint8_t public_key[ICS_PK_BYTES]; /* ADDED: its key; REMOVED: its last key; KEY_CHANGED: the new key */
    bool voter;              /* MemberAdd role */
} ics_effect_t;

/* Called after the entry's transaction has committed, never during it: for
 * an accepted entry first effect() once per membership change, in the order
 * the command made them (a genesis: one MEMBER_ADDED per member, in its
 * order), then applied(). The callbacks may call the read functions below
 * but must not apply, snapshot or restore. */
typedef struct {
    void (*applied)(void *arg, const ics_apply_result_t *res);   /* after every apply, incl. duplicates */
    void (*effect)(void *arg, const ics_effect_t *effect);       /* after an accepted membership change */
    void *arg;
} ics_fsm_observer_t;

/* Creates an empty state machine for group (position 0, no genesis).
 * Returns NULL with err set if group is not a valid id or SQLite fails.
 * The caller destroys it. */
ics_fsm_t *ics_fsm_new(const char *group, ics_err_t *err);

/* Accepts NULL; sets *self_p to NULL. */
void ics_fsm_destroy(ics_fsm_t **self_p);

/* Copies *obs (NULL clears it). */
void ics_fsm_set_observer(ics_fsm_t *self, const ics_fsm_observer_t *obs);

/* Applies one raft command entry (the signed envelope bytes). Fills *res. Returns ICS_OK whether the entry
   was accepted or rejected; a negative code only when the database itself failed (the node must stop). */
int ics_fsm_apply(ics_fsm_t *self, const uint8_t *buf, size_t len, ics_apply_result_t *res);

/* The whole state as bytes (an SQLite database image). *buf is malloc'd;
 * the caller frees it. */
int ics_fsm_snapshot(ics_fsm_t *self, uint8_t **buf, size_t *len);         /* malloc'd */

/* Replaces the state with a snapshot. The buffer is copied, the caller keeps
 * it. Refuses (ICS_EMALFORMED, ICS_EGROUP, ICS_EVERSION) an image that is not
 * a state of this group and leaves the current state untouched. Emits no
 * effects: afterwards, rebuild membership with ics_fsm_each_member(). */
int ics_fsm_restore(ics_fsm_t *self, const uint8_t *buf, size_t len, ics_err_t *err);

const char *ics_fsm_group(const ics_fsm_t *self);

/* Core counters, as of the last entry applied (kept in memory: no SQL). */
uint64_t ics_fsm_position(ics_fsm_t *self);
void ics_fsm_chain(ics_fsm_t *self, uint8_t out[32]);
uint64_t ics_fsm_clock(ics_fsm_t *self);
bool ics_fsm_has_genesis(ics_fsm_t *self);
/* Whether the state keeps the lifecycles the domains draw (fsm_invariants.c);
 * if not, why names the first rule broken. Debug builds check after every
 * applied entry. */
bool ics_fsm_check(ics_fsm_t *self, char *why, size_t size);

int ics_fsm_member_key(ics_fsm_t *self, const char *org, uint8_t pk[ICS_PK_BYTES]);   /* ICS_ENOENT if not a member */
/* The key in force for an active person of org; ICS_ENOENT if none. */
int ics_fsm_person_key(ics_fsm_t *self, const char *org, const char *person,
                       uint8_t pk[ICS_PK_BYTES]);
bool ics_fsm_is_member(ics_fsm_t *self, const char *org);

/* Highest verified seq of org, 0 if none. */
uint64_t ics_fsm_max_seq(ics_fsm_t *self, const char *org);
/* Has a verified (org, seq) been applied? true also for a seq below org's
 * replay window, which can never be applied again. */
bool ics_fsm_seq_taken(ics_fsm_t *self, const char *org, uint64_t seq);
/* The chain head at a position the state still keeps a mark for (a
 * multiple of ICS_FSM_MARK_STRIDE among the newest ICS_FSM_MARKS_KEPT).
 * ICS_ENOENT otherwise. */
int ics_fsm_chain_at(ics_fsm_t *self, uint64_t position, uint8_t out[32]);

/* One entry of the history (daemon/history.h). */
typedef struct { uint64_t position; uint8_t *envelope; size_t envelope_len; bool accepted; char reason[256];
                 uint8_t chain[32]; uint64_t clock_ms; } ics_log_entry_t;   /* envelope malloc'd, caller frees */

/* position: the highest position any checkpoint names (0 if none); matching:
 * current voting members whose checkpoint for it matches this log; needed:
 * a majority of current voting members; certified: matching >= needed.
 * alarm: some checkpoint ever disagreed with this log; alarm_text: the first
 * such disagreement, naming the position, the organisation and both chains
 * ("(first of N) ..." when there were several). */
typedef struct { uint64_t position; bool certified; unsigned matching, needed; bool alarm; char alarm_text[256]; } ics_checkpoint_status_t;
void ics_fsm_checkpoint_status(ics_fsm_t *self, ics_checkpoint_status_t *out); /* latest checkpoint position */

/* Highest position certified by a majority of current voting members, 0 if none. */
uint64_t ics_fsm_certified_position(ics_fsm_t *self);
/* Has org already submitted a checkpoint for position? */
bool ics_fsm_has_checkpoint(ics_fsm_t *self, const char *org, uint64_t position);

/* The earliest deadline (ms) of any domain after the log clock, 0 if none:
 * when the leader should tick. Kept in memory: it reads the database only
 * after an entry that carried a domain's command or closed something due,
 * or a restore. */
uint64_t ics_fsm_next_deadline(ics_fsm_t *self);

/* Calls fn once per current member, ordered by organisation id, with an
 * ICS_EFFECT_MEMBER_ADDED effect: how the node rebuilds its raft
 * configuration and allow-list after a restore or at start-up. */
/* Answers a named read-only query (see ics_fsm_query_t in fsm_internal.h).
 * *json and *text are malloc'd; the caller frees them. ICS_ENOENT with err
 * set for an unknown query. */
int ics_fsm_query(ics_fsm_t *self, const char *name, size_t argc, char *const *argv,
                  char **json, char **text, ics_err_t *err);

/* Writes every domain's gauges (Prometheus text format) to out. */
void ics_fsm_metrics(ics_fsm_t *self, FILE *out);

int ics_fsm_each_member(ics_fsm_t *self, void (*fn)(void *arg, const ics_effect_t *member),
                        void *arg);

/* For read-only queries by the node. Tables: members(org, kind, name,
 * endpoint, public_key, voter, admin, active, since, removed), member_keys,
 * replay, marks, checkpoints, alarms, and each domain's own. The handle changes on
 * restore: do not keep it, or prepared statements on it, across one. */
sqlite3 *ics_fsm_db(ics_fsm_t *self);   /* for read-only queries by the node */

/* Mutual aid across groups (fsm_aid.c; docs/opel-and-aid.md, "Escalation").
 * For a node in both home and region (a bridge, daemon/bridge.c): calls
 * fn for each command the two states call for, to be submitted by org
 * with the given client token (the same token whenever the same command
 * is called for, so that it is applied once): to_region false for the
 * home group (AidRegion, AidLinkUpdate), true for the region (mirror
 * AidRequest, AidLinkCancel). cmd is a serialised Command valid during
 * the call; what describes it for logs. Reads only. */
typedef void (*ics_aid_bridge_fn)(void *arg, bool to_region, const uint8_t token[16],
                                  const uint8_t *cmd, size_t cmd_len, const char *what);
int ics_fsm_aid_bridge(ics_fsm_t *home, ics_fsm_t *region, const char *org,
                       ics_aid_bridge_fn fn, void *arg);

#endif
