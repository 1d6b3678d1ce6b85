/*
 * One raft group (an ICS, or a regional group) as this node takes part in
 * it: the raft instance, its storage and io, the state machine, the node's
 * outbox of signed submissions, and the leader's duties (genesis, clock
 * ticks, membership reconciliation). Several groups share one transport.
 */
#ifndef ICS_GROUP_H
#define ICS_GROUP_H

#include "common/config.h"
#include "common/keys.h"
#include "fsm/fsm.h"
#include "history.h"
#include "ics/v1/wire.pb-c.h"
#include "metrics.h"
#include "transport.h"

typedef struct ics_group ics_group_t;
struct ics_raftio; /* raftio.h */

/* Outcome of a submission, delivered once. code is ICS_OK when the entry
 * was applied (accepted or rejected: see res->accepted), or an error. */
typedef void (*ics_submit_done_fn)(void *arg, int code, const char *error,
                                   const ics_apply_result_t *res);

/* Called when the log puts a new key in force for this node's own
 * organisation; the node switches identity (see node.c). */
typedef void (*ics_own_key_fn)(void *arg, const uint8_t pk[ICS_PK_BYTES]);

/* NULL with err set if the group cannot start. A group whose raft store is
 * found corrupt is made all the same, down for good: it serves nothing and
 * its status (storage_fault) says how to recover, while the node's other
 * groups go on. */
ics_group_t *ics_group_new(const ics_config_t *cfg, const ics_group_cfg_t *gcfg,
                           const ics_identity_t *id, ics_transport_t *transport,
                           ics_own_key_fn own_key, void *own_key_arg, ics_err_t *err);
/* Signs from now on with id (after a key rotation). */
void ics_group_set_identity(ics_group_t *self, const ics_identity_t *id);
/* Hands signatures it receives ahead of apply to v (verifier.h), or with
 * NULL to none; v outlives the group. */
struct ics_verifier;
void ics_group_set_verifier(ics_group_t *self, struct ics_verifier *v);
/* Stops raft and frees everything; pending submissions fail with
 * ICS_ESHUTDOWN. */
void ics_group_destroy(ics_group_t **self_p);

const char *ics_group_name(const ics_group_t *self);
ics_fsm_t *ics_group_fsm(ics_group_t *self);
/* The group's audit history on disk (history.h). */
ics_history_t *ics_group_history(ics_group_t *self);
/* The group's raft io, for its counters (ics_raftio_stats) and its
 * invalid-message callback; replaced when the group reopens its storage. */
struct ics_raftio *ics_group_raftio(ics_group_t *self);

/* Handles a frame for this group from an authenticated member. */
void ics_group_frame(ics_group_t *self, const char *from, const Ics__V1__Frame *frame);

/* Signs cmd (a serialised Command, actor already set) and submits it.
 * token identifies the submission across client retries (16 bytes, or
 * NULL for a fresh one). done is called exactly once. */
int ics_group_submit(ics_group_t *self, const uint8_t *cmd, size_t cmd_len,
                     const uint8_t *token, size_t token_len, uint64_t timeout_ms,
                     ics_submit_done_fn done, void *arg, ics_err_t *err);

/* Timers and duties; returns ms until it next needs to run. */
unsigned ics_group_run(ics_group_t *self);
/* Group commit for this group's outbox, then its raft log. Submissions are
 * first sent from here, once the outbox commit has stored them. */
void ics_group_flush(ics_group_t *self);

/* Is org a member: listed in the configuration, a member in the state
 * machine, or, while the state machine is behind what this node had
 * applied before raft last opened, a member as its history leaves it? */
bool ics_group_is_member(ics_group_t *self, const char *org);
/* The key a member signs with, by the same reckoning (the state machine's,
 * unless it is behind). ICS_ENOENT if org is not such a member. */
int ics_group_member_key(ics_group_t *self, const char *org, uint8_t pk[ICS_PK_BYTES]);

typedef struct {
    const char *role;
    uint64_t term, commit_index, applied_index, last_index;
    uint64_t snapshot_index;     /* last raft index of raft's latest snapshot */
    char leader[ICS_ORG_MAX];
    uint64_t submitted, applied_ok, applied_rejected, timeouts;
    /* History on disk and its backfill from peers. */
    uint64_t history_top;        /* highest position held or vouched for */
    uint64_t history_missing;    /* positions still to backfill */
    uint64_t history_filled;     /* backfilled since start */
    uint64_t history_diverged;   /* applied entries that disagreed with the file */
    bool history_failed;         /* a write failed: the group stopped applying */
    uint64_t history_corrupt;    /* entries found corrupt on disk (repaired or refetched) */
    uint64_t history_scrub_passes; /* whole read-backs of the history completed */
    /* Tree heads (docs/log-format.md 6b): checkpoints of members whose root
     * differs from this node's history (the last as text, "" if none), and
     * heads this node refused to cosign. */
    uint64_t tree_heads_false;
    char tree_alarm[256];
    uint64_t cosign_refused;
    uint64_t backfill_failures, backfill_bad_chunks;
    char backfill_peer[ICS_ORG_MAX];
    char backfill_error[256];    /* the last failure, "" if none */
    /* Storage faults (group.c): while storage_fault is not "", raft is
     * closed here and nothing is acknowledged; the group reopens from disk
     * by itself once the disk takes writes, unless storage_corrupt. */
    char storage_fault[ICS_ERRMSG_SIZE];
    bool storage_corrupt;
    uint64_t storage_faults;     /* times the group went down since start */
    uint64_t storage_reopens;    /* times it came back from disk */
} ics_group_status_t;
void ics_group_status(ics_group_t *self, ics_group_status_t *out);
typedef struct {
    uint64_t accepted;         /* entries applied and accepted (all signers) */
    ics_reasons_t rejected;    /* entries applied and rejected, by reason */
    ics_hist_t commit_latency; /* own submissions: signed -> applied here */
    ics_hist_t apply_latency;  /* state machine apply, per entry */
} ics_group_metrics_t;
const ics_group_metrics_t *ics_group_metrics(const ics_group_t *self);

/* The org's role in this group's raft configuration: "voter", "standby",
 * "spare", or "" when it is not in it. */
const char *ics_group_raft_role(ics_group_t *self, const char *org);

/* Leader's view of a peer's replication: match index, or 0 if unknown. */
uint64_t ics_group_match_index(ics_group_t *self, const char *org);

/* The voters of this group's raft configuration: up to max organisations
 * into orgs, pointing into the configuration (valid until the group next
 * runs). Returns how many. */
size_t ics_group_voters(ics_group_t *self, const char **orgs, size_t max);

#endif
