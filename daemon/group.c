/*
 * A raft group as one node sees it.
 *
 * Submission path (DESIGN.md "Submission path"):
 *
 *   submit ──▶ seal (once a turn) ──▶ outbox (durable: token → seq, envelope)
 *      │
 *      ├─ leader:   raft_apply ─────────────┐
 *      ├─ follower: Forward frame to leader ┤   retried every second with
 *      └─ no leader: wait                   │   the same envelope until
 *                                           ▼   applied or timed out
 *   fsm applies (org, seq) on this node ──▶ done(result)
 *
 * The outcome is taken from this node's own state machine, never from a
 * reply: whatever path the entry took, it is done when this node applies
 * it. Because the envelope (and its seq) is stored before it is first sent,
 * a retry after a crash or a lost leader resends the same bytes, and the
 * state machine's (org, seq) check makes it apply once.
 *
 * A follower learns that an entry is committed from the leader's next
 * AppendEntries, which raft 0.15 sends only for new entries or at the next
 * heartbeat. So that a submission through a follower completes about one
 * round trip after the leader's own would, the leader has raft send a
 * heartbeat at once (s_prompt) to a follower that holds a committed entry
 * carrying its own submission without having been told it is committed,
 * and to all of them on taking office.
 * When the leader changes, pending submissions are sent again at once
 * rather than at their next retry.
 *
 * Sealing: a submission takes its seq at once, and is signed at the end of
 * the loop turn with the others of that turn, up to ICS_SEAL_BATCH_MAX
 * under one signature (envelope.h, s_seal): a node signs once a turn, and
 * every other node verifies once a batch, not once an envelope.
 *
 * Batching (docs/raft-0.15-notes.md, "Batched entries"): the leader does
 * not hand raft each envelope as it comes. s_propose gathers the
 * envelopes of a loop turn (its own submissions, retries and forwards
 * alike) and ics_group_flush proposes them as one raft entry
 * (s_propose_flush), before raft's io writes and sends: one append, one
 * AppendEntries per follower for the lot. A lone envelope goes bare, as
 * before batches. Every node applies a batch one envelope at a time, in
 * order (raftfsm.c), so each keeps its own audit position, verdict and
 * result, and the submission waiting for it completes as if it had been
 * an entry of its own.
 *
 * A forward that arrives while the commit guard holds (raftfix.h) waits
 * at the leader and is proposed as soon as the hold ends (s_hold_forward,
 * s_release_held), rather than after its follower's next retry.
 *
 * Leader duties, each idempotent and re-derived every turn so that a new
 * leader simply carries on: propose genesis while the group has none;
 * append a signed clock tick when a deadline is due or the tick interval
 * has passed; bring raft's configuration in line with the members the
 * state machine has admitted, one change at a time.
 *
 * Storage faults (a full disk, an I/O error on write or fsync, raft turned
 * unavailable, the history not writable). libraft 0.15 keeps the entries of
 * a failed append in memory and carries on as if they were stored, so the
 * store refuses every later append (it would leave a gap). The only state
 * that is known to be right is the one on disk, so the group goes back to
 * it, as a restart would, without one:
 *
 *     up ──fault (s_storage_check)──▶ down ──probe writes, reopen──▶ up
 *      │                              │  ▲       (s_storage_retry)
 *      │                              └──┘ still failing: back off, retry
 *      └──load finds corruption──▶ corrupt (for good; the log says what to do)
 *
 * Down, raft is closed: this node neither votes, acknowledges nor applies
 * in the group; new submissions are refused with the reason, and those
 * already in the outbox wait (they go out again once the group is up). Up
 * again, a new raft, io, store handle and state machine are built from the
 * snapshot and log on disk, the history drops what it had not committed
 * (raft replays it), and the leader sends what this node lacks. Nothing
 * acknowledged is lost: raft acknowledged only what was stored.
 */
#include "group.h"

#include "common/envelope.h"
#include "common/note.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "batch.h"
#include "history.h"
#include "raftfix.h"
#include "raftfsm.h"
#include "raftio.h"
#include "raftview.h"
#include "common/policyfile.h"
#include "outbox.h"
#include "store.h"
#include "verifier.h"

/* How long a leader waits for a follower to answer a snapshot before it
 * sends it again (at the sizes a bounded state has, it takes well under a
 * second on any partner link). */
#define S_INSTALL_SNAPSHOT_MS 5000u
#define RETRY_MS 1000u
#define INTERNAL_TIMEOUT_MS 30000u
#define RECENT_MAX 256
/* Room around a command in a frame: envelope header and signature, raft
 * entry and frame headers, CURVE's own. */
#define ENVELOPE_OVERHEAD 1024u
#define BACKFILL_TIMEOUT_MS 5000u  /* a peer that has not answered by then is skipped */
#define BACKFILL_SLOW_MS 30000u    /* ... and not asked again for this long */
#define BACKFILL_BAD_MS 60000u     /* a peer that served a bad chunk is not asked again for this long */
/* A new submission's seq stays within this of the oldest one still in
 * flight, so that no submission falls below the state machine's replay
 * window (ICS_FSM_REPLAY_WINDOW) before it is applied: this node's highest
 * seq applied is below the next, so any span up to the window would do.
 * (Half the window turned submissions away at 1,000 clients over three
 * nodes, whose latencies spread over more than that.) */
#define INFLIGHT_SPAN (ICS_FSM_REPLAY_WINDOW - ICS_FSM_REPLAY_WINDOW / 8)
/* The history is read back SCRUB_BATCH entries every SCRUB_EVERY_MS: a
 * million entries in under seven minutes, at no cost to a busy loop. */
#define SCRUB_BATCH 256
#define SCRUB_EVERY_MS 100u
#define HOLD_RETRY_MS 5u           /* a held proposal looks again this soon */
#define HELD_MAX 1024              /* forwards kept while the commit guard holds */
#define REOPEN_FIRST_MS 250u       /* first retry after a storage fault */
#define REOPEN_MAX_MS 5000u        /* retries back off to this */
#define REOPEN_LOG_MS 30000u       /* a still-failing retry is logged this often */
/* Failing again this soon after a reopen is the same fault, not a new one:
 * the back-off goes on growing (a disk that takes a probe write but not the
 * next appends would otherwise make the group flap). */
#define RELAPSE_MS 10000u

typedef struct s_pending {
    struct s_pending *next;
    uint64_t seq;
    uint8_t *env;
    size_t env_len;
    uint64_t deadline;
    uint64_t next_try;
    ics_submit_done_fn done;
    void *arg;
    uint32_t kind;
    uint64_t created_us;
    bool stored; /* its outbox row is committed: it may be sent */
    /* Until sealed (s_seal): the command, its time and the client's token. */
    uint8_t *cmd;
    size_t cmd_len;
    uint64_t timestamp_ms;
    uint8_t token[64];
    size_t token_len;
} s_pending_t;

typedef struct {
    struct raft_apply req;
    ics_group_t *group;
} s_apply_t;

typedef struct {
    char org[ICS_ORG_MAX];
    uint64_t seq;
    uint64_t at;
} s_recent_t;

/* A forwarded envelope the leader could not propose at once (the commit
 * guard held): proposed as soon as the hold ends, or forgotten when its
 * sender sends it again anyway. */
typedef struct s_held {
    struct s_held *next;
    char org[ICS_ORG_MAX];
    uint64_t seq;
    uint8_t *env;
    size_t env_len;
    uint64_t until;
} s_held_t;

struct ics_group {
    const ics_config_t *cfg;
    const ics_group_cfg_t *gcfg;
    const ics_identity_t *id;
    ics_transport_t *transport;
    ics_own_key_fn own_key;
    void *own_key_arg;
    char dir[PATH_MAX];

    ics_store_t *store;
    ics_raftio_t *io;
    ics_fsm_t *fsm;
    ics_history_t *history;
    bool history_failed;       /* a write failed: stop applying */
    uint64_t scrub_ms;         /* when the history was last read back */
    struct raft raft;
    ics_raftfsm_t rfsm;
    bool raft_inited, raft_started, raft_closed;

    ics_outbox_t *outbox;
    ics_verifier_t *verifier;  /* the node's; NULL: apply verifies everything */
    s_pending_t *pending;
    char seen_leader[ICS_ORG_MAX]; /* the leader as of the last turn */
    bool was_leader;               /* this node led at the last s_prompt */

    /* libraft 0.15 defect (a): see raftfix.h. */
    ics_commit_guard_t guard;

    /* Leader duties. */
    raft_term genesis_term;
    uint64_t tick_sent_ms;     /* wall clock of our last tick proposal */
    uint64_t tick_seq;         /* seq of our in-flight tick, 0 if none */
    uint64_t unsealed_max;     /* highest seq handed out and not yet sealed, 0 if none */
    uint64_t checkpoint_done;  /* highest position we have checkpointed */
    struct raft_change change;
    bool change_busy;
    int change_error;          /* last failure, logged once */
    /* s_reconcile found raft's configuration (this fingerprint of it) in
     * line with the members, and no membership has changed since. */
    bool members_reconciled;
    /* The members as this node had applied them when raft last opened
     * (s_members_as_applied), for as long as the state machine is behind
     * position as_applied_top; NULL when there is nothing newer. */
    ics_keyset_t *as_applied;
    uint64_t as_applied_top;
    uint64_t reconciled_conf;
    s_recent_t recent[RECENT_MAX]; /* (org, seq) we proposed lately */
    size_t recent_next;
    /* Envelopes proposed this turn, for one entry (s_propose_flush), and
     * the slots in recent that they took. */
    ics_batch_writer_t batch;
    size_t batch_recent[ICS_BATCH_MAX];
    s_held_t *held, **held_tail;   /* forwards waiting for the guard, oldest first */
    size_t n_held;

    /* Backfill of the history after a snapshot install. */
    struct {
        uint64_t request_id;
        uint64_t sent_ms;          /* 0: nothing in flight */
        char peer[ICS_ORG_MAX];    /* asked last */
        size_t next_peer;          /* round robin over members: the one after peer */
        /* Peers passed over until a time: a bad chunk, no answer. */
        struct { char org[ICS_ORG_MAX]; uint64_t until; } skip[ICS_MAX_ORGS];
        char last_error[256];
        uint64_t failures;
        uint64_t last_log_ms;
    } backfill;

    /* Storage faults: raft closed and reopened from disk (see the top). */
    struct {
        bool down;                 /* raft is closed: nothing acknowledged here */
        bool corrupt;              /* for good: the store is damaged */
        char reason[ICS_ERRMSG_SIZE];
        uint64_t since_ms, next_try_ms, last_log_ms;
        uint64_t up_ms;            /* when it last came back */
        unsigned backoff_ms;
        uint64_t faults, reopens;
    } storage;

    ics_group_status_t counters;
    ics_group_metrics_t metrics;
};

static void s_on_effect(void *arg, const ics_effect_t *e);
static void s_storage_check(ics_group_t *self);
static void s_storage_retry(ics_group_t *self, uint64_t now);

/* ---- raft_fsm adapter (raftfsm.c) ---------------------------------------- */

/* A snapshot carries members but emits no effects: re-admit them. */
static void s_restored(void *arg)
{
    ics_group_t *self = arg;
    ics_fsm_each_member(self->fsm, s_on_effect, self);
}

/* ---- submissions ------------------------------------------------------- */

static void s_pending_free(s_pending_t *p)
{
    free(p->env);
    free(p->cmd);
    free(p);
}

/* Removes *pp from the pending list and answers it. */
static void s_finish(ics_group_t *self, s_pending_t **pp, int code, const char *error,
                     const ics_apply_result_t *res)
{
    s_pending_t *p = *pp;

    *pp = p->next;
    if (self->tick_seq == p->seq)
        self->tick_seq = 0;
    if (code == ICS_OK)
        ics_hist_add(&self->metrics.commit_latency, ics_mono_us() - p->created_us);
    if (p->done != NULL)
        p->done(p->arg, code, error, res);
    s_pending_free(p);
}

static bool s_is_entry(const s_pending_t *p, const uint8_t *entry_id)
{
    uint8_t id[32];

    if (p->env == NULL)
        return false;
    ics_entry_id(p->env, p->env_len, id);
    return sodium_memcmp(id, entry_id, sizeof id) == 0;
}

/* Completes and removes every pending submission matching seq (and, if
 * entry_id is given, only one whose envelope is exactly that entry). */
static void s_complete(ics_group_t *self, uint64_t seq, const uint8_t *entry_id, int code,
                       const char *error, const ics_apply_result_t *res)
{
    s_pending_t **pp = &self->pending;
    while (*pp != NULL) {
        s_pending_t *p = *pp;
        if (p->seq == seq && (entry_id == NULL || s_is_entry(p, entry_id)))
            s_finish(self, pp, code, error, res);
        else
            pp = &p->next;
    }
}

/* Our own entry with seq res->seq was applied (or found applied before):
 * the submission that is these bytes, or one whose bytes the outbox no
 * longer holds, gets res. One with other bytes under the same seq gets an
 * error: this node signed a seq it had used before without knowing it (its
 * outbox went with a data directory moved away, and the log was still being
 * replayed), and nothing of it was applied. */
static void s_complete_own(ics_group_t *self, const ics_apply_result_t *res)
{
    s_pending_t **pp = &self->pending;
    char msg[256];

    snprintf(msg, sizeof msg, "sequence number %llu of %s was already used by another entry;"
             " nothing was applied: submit again", (unsigned long long)res->seq, res->org);
    while (*pp != NULL) {
        s_pending_t *p = *pp;
        if (p->seq != res->seq) {
            pp = &p->next;
        } else if (p->env == NULL || s_is_entry(p, res->entry_id)) {
            s_finish(self, pp, ICS_OK, NULL, res);
        } else {
            ics_warn("group %s: %s", self->gcfg->name, msg);
            s_finish(self, pp, ICS_EEXIST, msg, NULL);
        }
    }
}

static bool s_recently_proposed(ics_group_t *self, const char *org, uint64_t seq, uint64_t now)
{
    for (size_t i = 0; i < RECENT_MAX; i++) {
        s_recent_t *r = &self->recent[i];
        if (r->seq == seq && now - r->at < RETRY_MS && strcmp(r->org, org) == 0)
            return true;
    }
    return false;
}

static void s_apply_cb(struct raft_apply *req, int status, void *result)
{
    s_apply_t *a = req->data;
    (void)result;
    if (status != 0)
        ics_debug("group %s: proposal not applied here: %s", ics_fsm_group(a->group->fsm),
                  raft_strerror(status));
    free(a);
}

/* The largest entry a batch may grow to: what a lone envelope may be
 * (ics_group_submit), so that every entry fits an AppendEntries frame. */
static size_t s_entry_max(const ics_group_t *self)
{
    return self->cfg->max_message_bytes - ENVELOPE_OVERHEAD;
}

/* Forgets the envelopes gathered this turn, and that they were proposed:
 * whoever retries them is not held back. */
static void s_batch_drop(ics_group_t *self)
{
    for (uint32_t i = 0; i < self->batch.count; i++)
        self->recent[self->batch_recent[i]].seq = 0;
    ics_batch_reset(&self->batch);
}

/* Leader: hands raft the envelopes gathered this turn as one entry (a
 * lone one bare). If raft refuses (leadership lost), they are dropped. */
static void s_propose_flush(ics_group_t *self)
{
    const uint8_t *entry;
    struct raft_buffer buf;
    s_apply_t *a;
    size_t len;
    int rv = RAFT_NOMEM;

    ics_batch_entry(&self->batch, &entry, &len);
    if (len == 0)
        return;
    a = calloc(1, sizeof *a);
    buf.base = raft_malloc(len);
    buf.len = len;
    if (a != NULL && buf.base != NULL) {
        memcpy(buf.base, entry, len);
        a->group = self;
        a->req.data = a;
        rv = raft_apply(&self->raft, &a->req, &buf, 1, s_apply_cb);
    }
    if (rv != 0) {
        raft_free(buf.base);
        free(a);
        ics_debug("group %s: %u envelope(s) not proposed: %s", self->gcfg->name,
                  self->batch.count, raft_strerror(rv));
        s_batch_drop(self);
        return;
    }
    /* Each follower whose submission this entry carries is to hear of its
     * commit at once (s_prompt). */
    for (uint32_t i = 0; i < self->batch.count; i++)
        ics_raftio_owed(self->io, self->recent[self->batch_recent[i]].org,
                        raft_last_index(&self->raft));
    ics_batch_reset(&self->batch);
}

/* Leader: adds an envelope to this turn's entry unless we proposed it a
 * moment ago; the entry goes to raft at the end of the turn, or now if
 * this one would not fit in it.
 * ICS_EUNAVAIL: held back by the commit guard; try again shortly. */
static int s_propose(ics_group_t *self, const char *org, uint64_t seq, const uint8_t *env,
                     size_t len)
{
    uint64_t now = ics_mono_ms();
    size_t slot;

    if (s_recently_proposed(self, org, seq, now))
        return ICS_OK;
    /* libraft 0.15 commits only once a majority holds the leader's newest
     * entry (fixed upstream in 0.17.1, 1996d32): when the commit index has
     * stood still while the log runs ahead, pause so the followers catch up. */
    if (ics_commit_guard_hold(&self->guard, raft_last_index(&self->raft),
                              raft_last_applied(&self->raft), now))
        return ICS_EUNAVAIL;
    if (self->batch.count >= ICS_BATCH_MAX ||
        (self->batch.count > 0 && ics_batch_size_with(&self->batch, len) > s_entry_max(self)))
        s_propose_flush(self);
    if (ics_batch_add(&self->batch, env, len) != ICS_OK)
        return ICS_ENOMEM;
    slot = self->recent_next++ % RECENT_MAX;
    self->batch_recent[self->batch.count - 1] = slot;
    s_recent_t *r = &self->recent[slot];
    ics_strcpy(r->org, sizeof r->org, org);
    r->seq = seq;
    r->at = now;
    return ICS_OK;
}

/* Forgets every held forward (leadership lost, raft closed): their
 * senders send them again. */
static void s_held_drop(ics_group_t *self)
{
    while (self->held != NULL) {
        s_held_t *h = self->held;
        self->held = h->next;
        free(h->env);
        free(h);
    }
    self->held_tail = &self->held;
    self->n_held = 0;
}

/* Leader: keeps a forward the commit guard held back, to propose it once
 * the hold ends rather than leave it to the sender's next retry a second
 * later. Beyond HELD_MAX it is dropped, as before. */
static void s_hold_forward(ics_group_t *self, const char *org, uint64_t seq,
                           const uint8_t *env, size_t len, uint64_t now)
{
    s_held_t *h;

    if (self->n_held >= HELD_MAX || (h = calloc(1, sizeof *h)) == NULL)
        return;
    h->env = malloc(len);
    if (h->env == NULL) {
        free(h);
        return;
    }
    memcpy(h->env, env, len);
    h->env_len = len;
    ics_strcpy(h->org, sizeof h->org, org);
    h->seq = seq;
    h->until = now + RETRY_MS;
    if (self->held_tail == NULL)
        self->held_tail = &self->held;
    *self->held_tail = h;
    self->held_tail = &h->next;
    self->n_held++;
}

/* Leader: proposes the held forwards, oldest first, until the guard holds
 * again; those whose sender has retried by now are forgotten. Returns how
 * long to wait before looking again (UINT_MAX: nothing held). */
static unsigned s_release_held(ics_group_t *self, uint64_t now)
{
    while (self->held != NULL) {
        s_held_t *h = self->held;
        if (now < h->until && !ics_fsm_seq_taken(self->fsm, h->org, h->seq) &&
            s_propose(self, h->org, h->seq, h->env, h->env_len) == ICS_EUNAVAIL)
            return HOLD_RETRY_MS;
        self->held = h->next;
        if (self->held == NULL)
            self->held_tail = &self->held;
        self->n_held--;
        free(h->env);
        free(h);
    }
    return UINT_MAX;
}

static void s_leader(ics_group_t *self, char org[ICS_ORG_MAX])
{
    raft_id id = 0;
    const char *addr = NULL;
    org[0] = '\0';
    raft_leader(&self->raft, &id, &addr);
    if (id != 0 && addr != NULL)
        ics_strcpy(org, ICS_ORG_MAX, addr);
}

static void s_forward(ics_group_t *self, const char *leader, s_pending_t *p)
{
    Ics__V1__Frame frame = ICS__V1__FRAME__INIT;
    Ics__V1__Forward fwd = ICS__V1__FORWARD__INIT;
    uint8_t *buf = NULL;
    size_t len = 0;

    frame.version = ICS_WIRE_VERSION;
    frame.group = (char *)self->gcfg->name;
    frame.body_case = ICS__V1__FRAME__BODY_FORWARD;
    frame.forward = &fwd;
    fwd.request_id = p->seq;
    fwd.envelope.data = p->env;
    fwd.envelope.len = p->env_len;
    if (ics_pack(&frame.base, &buf, &len) == ICS_OK)
        ics_transport_send(self->transport, leader, buf, len);
    free(buf);
}

static void s_try(ics_group_t *self, s_pending_t *p, uint64_t now)
{
    char leader[ICS_ORG_MAX];

    p->next_try = now + RETRY_MS;
    if (p->env == NULL || self->storage.down)
        return;
    if (raft_state(&self->raft) == RAFT_LEADER) {
        if (s_propose(self, self->cfg->org, p->seq, p->env, p->env_len) == ICS_EUNAVAIL)
            p->next_try = now + HOLD_RETRY_MS;
        return;
    }
    s_leader(self, leader);
    if (leader[0] != '\0' && strcmp(leader, self->cfg->org) != 0)
        s_forward(self, leader, p);
    else
        p->next_try = now + 100; /* no leader yet: look again soon */
}

/* The next seq: above every one stored, applied or waiting to be sealed. */
static int s_next_seq(ics_group_t *self, uint64_t *next, ics_err_t *err)
{
    uint64_t a = 0, b = ics_fsm_max_seq(self->fsm, self->cfg->org);
    int rc = ics_outbox_max_seq(self->outbox, &a, err);
    if (a < b)
        a = b;
    if (a < self->unsealed_max)
        a = self->unsealed_max;
    if (rc == ICS_OK)
        *next = a + 1;
    return rc;
}

/* Lowest seq still waiting to be applied, 0 if none. */
static uint64_t s_oldest_pending(ics_group_t *self)
{
    uint64_t oldest = 0;
    for (const s_pending_t *p = self->pending; p != NULL; p = p->next)
        if (oldest == 0 || p->seq < oldest)
            oldest = p->seq;
    return oldest;
}

/* Signatures ahead of apply (verifier.h), under the keys in force now
 * (should one change before apply, apply verifies afresh). The person
 * signature env's command carries, made by icsctl: */
static void s_preverify_person(ics_group_t *self, const Ics__V1__Envelope *env)
{
    Ics__V1__Command *cmd = NULL;
    uint8_t pk[ICS_PK_BYTES];

    if (self->verifier == NULL || ics_command_decode(env, &cmd, NULL) != ICS_OK)
        return;
    if (cmd->person_sig != NULL && cmd->actor != NULL &&
        ics_fsm_person_key(self->fsm, env->org, cmd->actor, pk) == ICS_OK)
        ics_verifier_push_person(self->verifier, env, cmd, pk);
    ics__v1__command__free_unpacked(cmd, NULL);
}

/* ... and both signatures of another organisation's envelope as it arrives.
 * Ours are in the memo already: the envelope's since we made it, the
 * person's since it was handed over at submission. */
static void s_preverify(ics_group_t *self, const Ics__V1__Envelope *env)
{
    uint8_t pk[ICS_PK_BYTES];

    if (self->verifier == NULL || strcmp(env->org, self->cfg->org) == 0)
        return;
    if (ics_fsm_member_key(self->fsm, env->org, pk) == ICS_OK)
        ics_verifier_push_envelope(self->verifier, env, pk);
    s_preverify_person(self, env);
}

static void s_preverify_bytes(ics_group_t *self, const uint8_t *buf, size_t len, bool ours)
{
    Ics__V1__Envelope *env = ics__v1__envelope__unpack(NULL, len, buf);

    if (env == NULL)
        return;
    if (ours)
        s_preverify_person(self, env);
    else
        s_preverify(self, env);
    ics__v1__envelope__free_unpacked(env, NULL);
}

/* Every envelope in the entries of an AppendEntries, bare or batched: a
 * follower applies them once the leader says they are committed. */
static void s_preverify_entries(ics_group_t *self, const Ics__V1__RaftMessage *m)
{
    if (self->verifier == NULL || m->body_case != ICS__V1__RAFT_MESSAGE__BODY_APPEND_ENTRIES)
        return;
    for (size_t i = 0; i < m->append_entries->n_entries; i++) {
        const Ics__V1__RaftEntry *e = m->append_entries->entries[i];
        ics_batch_reader_t r;
        const uint8_t *el;
        size_t el_len;
        ics_err_t err;

        if (e->type != RAFT_COMMAND)
            continue;
        if (!ics_batch_is(e->data.data, e->data.len))
            s_preverify_bytes(self, e->data.data, e->data.len, false);
        else if (ics_batch_open(&r, e->data.data, e->data.len, &err) == ICS_OK)
            while (ics_batch_next(&r, &el, &el_len))
                s_preverify_bytes(self, el, el_len, false);
    }
}

/* The submission of this turn, not yet sealed, that the client's token
 * names. This turn's submissions lead the list (each is put first), and
 * every one before them is stored (s_send_stored). */
static const s_pending_t *s_unsealed_by_token(const ics_group_t *self, const uint8_t *token,
                                              size_t token_len)
{
    for (const s_pending_t *p = self->pending; p != NULL && !p->stored; p = p->next)
        if (p->cmd != NULL && p->token_len == token_len &&
            memcmp(p->token, token, token_len) == 0)
            return p;
    return NULL;
}

static s_pending_t *s_pending_new(ics_group_t *self, uint64_t seq, uint32_t kind,
                                  uint64_t timeout_ms, ics_submit_done_fn done, void *arg)
{
    s_pending_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->seq = seq;
    p->kind = kind;
    p->deadline = ics_mono_ms() + timeout_ms;
    p->created_us = ics_mono_us();
    p->done = done;
    p->arg = arg;
    p->next = self->pending;
    self->pending = p;
    self->counters.submitted++;
    return p;
}

/* Queues a command for sealing at the end of the turn (s_seal). token may
 * be NULL (internal submissions). */
static int s_submit(ics_group_t *self, const uint8_t *cmd, size_t cmd_len, uint32_t kind,
                    const uint8_t *token, size_t token_len, uint64_t timeout_ms,
                    ics_submit_done_fn done, void *arg, uint64_t *seq_out, ics_err_t *err)
{
    uint8_t fresh[16];
    uint8_t *env = NULL;
    size_t env_len = 0;
    uint64_t seq = 0;
    const s_pending_t *twin = NULL;
    s_pending_t *p;
    int rc;

    if (token == NULL) {
        randombytes_buf(fresh, sizeof fresh);
        token = fresh;
        token_len = sizeof fresh;
    }
    /* A retry of a submission of this turn waits for the first to apply. */
    twin = s_unsealed_by_token(self, token, token_len);
    if (twin != NULL) {
        seq = twin->seq;
        rc = ICS_OK;
    } else {
        rc = ics_outbox_find(self->outbox, token, token_len, &seq, &env, &env_len, err);
    }
    if (rc == ICS_ENOENT) {
        uint64_t next = 0, oldest = s_oldest_pending(self);
        rc = s_next_seq(self, &next, err);
        if (rc != ICS_OK)
            return rc;
        if (oldest != 0 && next - oldest >= INFLIGHT_SPAN)
            return ics_err(err, ICS_EUNAVAIL, "too many submissions in flight in group %s"
                           " (seq %llu is still waiting): try again shortly", self->gcfg->name,
                           (unsigned long long)oldest);
        uint8_t *copy = malloc(cmd_len > 0 ? cmd_len : 1);
        if (copy == NULL || (p = s_pending_new(self, next, kind, timeout_ms, done, arg)) == NULL) {
            free(copy);
            return ics_err(err, ICS_ENOMEM, "out of memory");
        }
        memcpy(copy, cmd, cmd_len);
        p->cmd = copy;
        p->cmd_len = cmd_len;
        p->timestamp_ms = ics_now_ms();
        memcpy(p->token, token, token_len);
        p->token_len = token_len;
        self->unsealed_max = next;
        if (seq_out != NULL)
            *seq_out = next;
        /* Sealed, stored and sent from ics_group_flush. */
        return ICS_OK;
    } else if (rc != ICS_OK) {
        return rc;
    } else if (twin == NULL) {
        /* A retry: if the first attempt is already applied, answer now. */
        ics_apply_result_t res;
        if (ics_history_lookup(self->history, self->cfg->org, seq, &res) == ICS_OK) {
            free(env);
            res.duplicate = true;
            if (seq_out != NULL)
                *seq_out = seq;
            if (done != NULL)
                done(arg, ICS_OK, NULL, &res);
            return ICS_OK;
        }
        /* No envelope: the outbox saw it applied (this state machine may
         * still be replaying the log after a restart) or beyond the replay
         * window. There is nothing to send; the pending waits for the
         * apply or its deadline. */
    }
    p = s_pending_new(self, seq, kind, timeout_ms, done, arg);
    if (p == NULL) {
        free(env);
        return ics_err(err, ICS_ENOMEM, "out of memory");
    }
    p->env = env;
    p->env_len = env_len;
    if (seq_out != NULL)
        *seq_out = seq;
    /* Sent from ics_group_flush, once the outbox has stored it. */
    return ICS_OK;
}

int ics_group_submit(ics_group_t *self, const uint8_t *cmd, size_t cmd_len,
                     const uint8_t *token, size_t token_len, uint64_t timeout_ms,
                     ics_submit_done_fn done, void *arg, ics_err_t *err)
{
    Ics__V1__Command *c = ics__v1__command__unpack(NULL, cmd_len, cmd);
    uint32_t kind;

    if (c == NULL)
        return ics_err(err, ICS_EMALFORMED, "command does not decode");
    kind = (uint32_t)c->body_case;
    ics__v1__command__free_unpacked(c, NULL);
    if (kind == 0)
        return ics_err(err, ICS_EINVAL, "command has no body");
    if (token != NULL && (token_len == 0 || token_len > 64))
        return ics_err(err, ICS_EINVAL, "client token must be 1 to 64 bytes");
    if (self->storage.down)
        return ics_err(err, ICS_EUNAVAIL, "group %s: this node cannot use its storage (%s); "
                       "it takes no submissions until %s", self->gcfg->name,
                       self->storage.reason, self->storage.corrupt
                           ? "its data is moved away and resynced from the partners"
                           : "the fault clears (it retries by itself)");
    /* A log entry travels whole in one frame (AppendEntries, Forward):
     * one that cannot would stall the group behind it. */
    if (cmd_len + ENVELOPE_OVERHEAD > self->cfg->max_message_bytes)
        return ics_err(err, ICS_ETOOBIG, "command of %zu bytes is too large for frames of"
                       " max_message_bytes = %u", cmd_len, self->cfg->max_message_bytes);
    return s_submit(self, cmd, cmd_len, kind, token, token_len, timeout_ms, done, arg, NULL,
                    err);
}

/* Packs a Command of the organisation itself (no person acts) and submits it
 * internally. */
static uint64_t s_submit_internal(ics_group_t *self, Ics__V1__Command *cmd)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    uint64_t seq = 0;
    ics_err_t err;

    cmd->actor = (char *)"";
    if (ics_pack(&cmd->base, &buf, &len) != ICS_OK)
        return 0;
    if (s_submit(self, buf, len, (uint32_t)cmd->body_case, NULL, 0, INTERNAL_TIMEOUT_MS, NULL,
                 NULL, &seq, &err) != ICS_OK) {
        ics_warn("group %s: internal submission failed: %s", self->gcfg->name, err.msg);
        seq = 0;
    }
    free(buf);
    return seq;
}

/* ---- fsm observer ------------------------------------------------------ */

/* An accepted checkpoint cosigns a tree head: the state machine checked
 * the cosignature, this node checks the root against its own history (the
 * state does not hold the tree). A head that differs is a false statement
 * by its signer, or this node's history is wrong: an alarm either way. */
static void s_check_tree_head(ics_group_t *self, const ics_apply_result_t *res)
{
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *cmd = NULL;
    uint8_t mine[ICS_MERKLE_HASH_BYTES];

    if (ics_envelope_decode(res->envelope, res->envelope_len, &env, NULL) != ICS_OK ||
        ics_command_decode(env, &cmd, NULL) != ICS_OK ||
        cmd->body_case != ICS__V1__COMMAND__BODY_CHECKPOINT ||
        cmd->checkpoint->root.len != ICS_MERKLE_HASH_BYTES)
        goto out;
    if (ics_history_tree_root(self->history, cmd->checkpoint->position, mine) != ICS_OK)
        goto out; /* not held yet (backfill): nothing to compare with */
    if (sodium_memcmp(mine, cmd->checkpoint->root.data, sizeof mine) != 0) {
        char theirs_hex[65], mine_hex[65];
        self->counters.tree_heads_false++;
        ics_hex(cmd->checkpoint->root.data, sizeof mine, theirs_hex);
        ics_hex(mine, sizeof mine, mine_hex);
        snprintf(self->counters.tree_alarm, sizeof self->counters.tree_alarm,
                 "tree head mismatch at size %" PRIu64 ": %s cosigned root %s, this node's"
                 " history has %s", cmd->checkpoint->position, res->org, theirs_hex, mine_hex);
        ics_error("group %s: %s (checkpoint at position %" PRIu64 ")", self->gcfg->name,
                  self->counters.tree_alarm, res->position);
    }
out:
    if (cmd != NULL)
        ics__v1__command__free_unpacked(cmd, NULL);
    if (env != NULL)
        ics__v1__envelope__free_unpacked(env, NULL);
}

static void s_on_applied(void *arg, const ics_apply_result_t *res)
{
    ics_group_t *self = arg;
    ics_apply_result_t first;
    ics_err_t err;

    if (!res->duplicate && !self->history_failed) {
        int rc = ics_history_append(self->history, res);
        if (rc == ICS_EIO) {
            self->history_failed = true;
        } else if (rc != ICS_OK) {
            self->counters.history_diverged++;
        }
        if (res->accepted && res->kind == ICS__V1__COMMAND__BODY_CHECKPOINT &&
            res->envelope != NULL)
            s_check_tree_head(self, res);
    }
    if (res->duplicate && strcmp(res->org, self->cfg->org) == 0 &&
        ics_history_lookup(self->history, res->org, res->seq, &first) == ICS_OK) {
        /* Answer a retry with what the entry got when it was applied
         * (s_complete_own answers other bytes under this seq otherwise). */
        first.duplicate = true;
        res = &first;
    }
    if (!res->duplicate) {
        if (res->accepted)
            self->metrics.accepted++;
        else
            ics_reasons_add(&self->metrics.rejected, res->reason);
    }
    if (strcmp(res->org, self->cfg->org) != 0)
        return;
    /* An entry whose signature did not verify completes only the
     * submission whose bytes it is (ours, refused e.g. for a key rotated
     * meanwhile): a forgery claiming our seq completes nothing. */
    bool ours = res->verified || res->duplicate;
    if (ours && ics_outbox_applied(self->outbox, res->seq, &err) != ICS_OK)
        ics_warn("group %s: %s", self->gcfg->name, err.msg);
    if (res->accepted)
        self->counters.applied_ok++;
    else
        self->counters.applied_rejected++;
    if (ours)
        s_complete_own(self, res);
    else
        s_complete(self, res->seq, res->entry_id, ICS_OK, NULL, res);
}

static void s_on_effect(void *arg, const ics_effect_t *e)
{
    ics_group_t *self = arg;
    ics_err_t err;

    self->members_reconciled = false; /* s_reconcile looks again */
    if (strcmp(e->org, self->cfg->org) == 0) {
        if (e->type == ICS_EFFECT_KEY_CHANGED &&
            memcmp(e->public_key, ics_identity_public(self->id), ICS_PK_BYTES) != 0 &&
            self->own_key != NULL)
            self->own_key(self->own_key_arg, e->public_key);
        if (e->type == ICS_EFFECT_MEMBER_REMOVED)
            ics_warn("group %s: %s was removed from the group", self->gcfg->name, e->org);
        return;
    }
    bool known = ics_transport_has_peer(self->transport, e->org);
    switch (e->type) {
    case ICS_EFFECT_MEMBER_ADDED:
    case ICS_EFFECT_KEY_CHANGED:
        if (ics_transport_add_peer(self->transport, e->org, e->public_key, e->endpoint,
                                   &err) != ICS_OK)
            ics_warn("group %s: cannot reach new member %s: %s", self->gcfg->name, e->org,
                     err.msg);
        else if (!known || e->type == ICS_EFFECT_KEY_CHANGED)
            ics_info("group %s: member %s %s (%s)", self->gcfg->name, e->org,
                     e->type == ICS_EFFECT_MEMBER_ADDED ? "admitted" : "re-keyed", e->endpoint);
        break;
    case ICS_EFFECT_MEMBER_REMOVED:
        ics_info("group %s: member %s removed", self->gcfg->name, e->org);
        ics_transport_remove_peer(self->transport, e->org);
        break;
    }
}

/* ---- leader duties ----------------------------------------------------- */

static void s_propose_genesis(ics_group_t *self)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Genesis gen = ICS__V1__GENESIS__INIT;
    Ics__V1__MemberAdd members[ICS_MAX_ORGS], *ptrs[ICS_MAX_ORGS];
    const ics_group_cfg_t *g = self->gcfg;

    for (size_t i = 0; i < g->n_members; i++) {
        const ics_org_cfg_t *o = ics_config_org(self->cfg, g->members[i]);
        ics__v1__member_add__init(&members[i]);
        members[i].org = (char *)o->id;
        members[i].kind = (char *)o->kind;
        members[i].name = (char *)o->name;
        members[i].endpoint = (char *)o->endpoint;
        members[i].public_key.data = (uint8_t *)o->public_key;
        members[i].public_key.len = ICS_PK_BYTES;
        members[i].role = ICS__V1__MEMBER_ROLE__MEMBER_ROLE_VOTER;
        ptrs[i] = &members[i];
    }
    gen.group = (char *)g->name;
    gen.members = ptrs;
    gen.n_members = g->n_members;
    gen.admin = (char *)(g->admin[0] ? g->admin : g->members[0]);
    if (g->policy[0] != '\0') {
        ics_err_t err;
        if (ics_policy_load(g->policy, &gen.policy, &err) != ICS_OK) {
            ics_error("group %s: cannot propose genesis: %s", g->name, err.msg);
            return;
        }
    }
    cmd.body_case = ICS__V1__COMMAND__BODY_GENESIS;
    cmd.genesis = &gen;
    if (s_submit_internal(self, &cmd) != 0)
        ics_notice("group %s: proposed genesis with %zu members, %s", g->name, g->n_members,
                   gen.policy != NULL ? g->policy : "the built-in scheme of delegation");
    if (gen.policy != NULL)
        ics__v1__policy__free_unpacked(gen.policy, NULL);
}

static void s_propose_tick(ics_group_t *self, uint64_t now_wall)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__ClockTick tick = ICS__V1__CLOCK_TICK__INIT;
    tick.now_ms = now_wall;
    cmd.body_case = ICS__V1__COMMAND__BODY_TICK;
    cmd.tick = &tick;
    self->tick_seq = s_submit_internal(self, &cmd);
    self->tick_sent_ms = now_wall;
}

static void s_change_cb(struct raft_change *req, int status)
{
    ics_group_t *self = req->data;
    self->change_busy = false;
    if (status != 0)
        ics_warn("group %s: configuration change failed: %s", self->gcfg->name,
                 raft_strerror(status));
}

typedef struct {
    ics_group_t *self;
    int rv;
    bool busy;
} s_reconcile_t;

/* One member: add it to raft, or fix its role. Stops at the first change. */
static void s_reconcile_member(void *arg, const ics_effect_t *m)
{
    s_reconcile_t *r = arg;
    ics_group_t *self = r->self;
    const struct raft_configuration *conf = ics_raftview_configuration(&self->raft);
    const struct raft_server *s = NULL;
    raft_id id = ics_raft_id(m->org);
    int want = m->voter ? RAFT_VOTER : RAFT_STANDBY;

    if (r->busy || r->rv != 0)
        return;
    for (unsigned i = 0; i < conf->n; i++)
        if (conf->servers[i].id == id)
            s = &conf->servers[i];
    if (s == NULL) {
        r->rv = raft_add(&self->raft, &self->change, id, m->org, s_change_cb);
        if (r->rv == 0)
            ics_info("group %s: adding %s to raft", self->gcfg->name, m->org);
    } else if (s->role != want) {
        r->rv = raft_assign(&self->raft, &self->change, id, want, s_change_cb);
        if (r->rv == 0)
            ics_info("group %s: %s becomes a %s", self->gcfg->name, m->org,
                     want == RAFT_VOTER ? "voter" : "standby");
    } else {
        return;
    }
    r->busy = r->rv == 0;
}

/* What s_reconcile compares: the servers of a configuration and their
 * roles (FNV-1a). */
static uint64_t s_conf_fingerprint(const struct raft_configuration *conf)
{
    uint64_t h = 14695981039346656037ull;

    for (unsigned i = 0; i < conf->n; i++) {
        uint64_t v[2] = {conf->servers[i].id, (uint64_t)conf->servers[i].role};
        const unsigned char *b = (const unsigned char *)v;
        for (size_t k = 0; k < sizeof v; k++)
            h = (h ^ b[k]) * 1099511628211ull;
    }
    return h ^ conf->n;
}

/* Brings raft's configuration in line with the admitted members, one
 * change at a time (raft allows no more). The leader runs it every turn;
 * it reads the members only when they or the configuration changed. */
static void s_reconcile(ics_group_t *self)
{
    const struct raft_configuration *conf = ics_raftview_configuration(&self->raft);
    s_reconcile_t r = {.self = self};
    uint64_t fingerprint;

    if (self->change_busy || ics_raftview_configuration_pending(&self->raft))
        return;
    fingerprint = s_conf_fingerprint(conf);
    if (self->members_reconciled && fingerprint == self->reconciled_conf)
        return;
    self->change.data = self;
    ics_fsm_each_member(self->fsm, s_reconcile_member, &r);
    if (r.rv != 0 && r.rv != self->change_error) {
        ics_warn("group %s: cannot change the raft configuration: %s", self->gcfg->name,
                 raft_errmsg(&self->raft));
    }
    self->change_error = r.rv;
    if (r.busy) {
        self->change_busy = true;
        return;
    }
    /* Servers raft still has that are no longer members. */
    for (unsigned i = 0; i < conf->n; i++) {
        if (!ics_fsm_is_member(self->fsm, conf->servers[i].address)) {
            char org[ICS_ORG_MAX];
            /* raft_remove replaces the configuration: copy what we log. */
            ics_strcpy(org, sizeof org, conf->servers[i].address);
            if (raft_remove(&self->raft, &self->change, conf->servers[i].id, s_change_cb) == 0) {
                self->change_busy = true;
                ics_info("group %s: removing %s from raft", self->gcfg->name, org);
            }
            return;
        }
    }
    if (r.rv == 0) {
        self->members_reconciled = true;
        self->reconciled_conf = fingerprint;
    }
}

static void s_leader_duties(ics_group_t *self)
{
    uint64_t now_wall = ics_now_ms();

    if (!ics_fsm_has_genesis(self->fsm)) {
        if (self->genesis_term != ics_raftio_term(self->io)) {
            self->genesis_term = ics_raftio_term(self->io);
            s_propose_genesis(self);
        }
        return;
    }
    /* The clock moves by ticks only when a deadline falls due: an idle
     * group's log does not grow. tick_interval_ms spaces ticks so that a
     * deadline a domain fails to close cannot flood the log. */
    if (self->tick_seq == 0 && now_wall >= self->tick_sent_ms + self->cfg->tick_interval_ms) {
        uint64_t deadline = ics_fsm_next_deadline(self->fsm);
        if (deadline != 0 && deadline <= now_wall && deadline > ics_fsm_clock(self->fsm))
            s_propose_tick(self, now_wall);
    }
    s_reconcile(self);
}

/* Every node vouches for its state every checkpoint_interval positions:
 * the chain there, and its cosignature of the tree head there, which it
 * gives only for a head of its own history consistent with every head it
 * cosigned before (ics_history_may_cosign), the latest of which it keeps
 * in <group dir>/cosigned. */
static void s_checkpoint_duty(ics_group_t *self)
{
    uint64_t n = self->cfg->checkpoint_interval;
    uint64_t pos = ics_fsm_position(self->fsm) / n * n;
    uint8_t chain[32], root[ICS_MERKLE_HASH_BYTES], sig[ICS_SIG_BYTES], last_root[32];
    char path[PATH_MAX + 16];
    uint64_t last = 0;
    ics_err_t err;
    int rc;

    if (pos == 0 || pos <= self->checkpoint_done || !ics_fsm_is_member(self->fsm, self->cfg->org))
        return;
    /* Vouch only for what we hold as committed, and once: after a restart
     * the log already has our earlier checkpoints. */
    if (raft_last_applied(&self->raft) < ics_raftview_commit_index(&self->raft))
        return;
    /* The tree head needs the history up to pos: wait for the backfill. */
    if (self->history_failed || ics_history_tree_size(self->history) < pos)
        return;
    self->checkpoint_done = pos;
    if (ics_fsm_has_checkpoint(self->fsm, self->cfg->org, pos))
        return;
    if (ics_fsm_chain_at(self->fsm, pos, chain) != ICS_OK)
        return;
    if (ics_history_tree_root(self->history, pos, root) != ICS_OK)
        return;
    snprintf(path, sizeof path, "%s/cosigned", self->dir);
    rc = ics_cosigned_read(path, self->gcfg->name, &last, last_root, &err);
    if (rc == ICS_ENOENT)
        rc = ICS_OK;
    if (rc == ICS_OK)
        rc = ics_history_may_cosign(self->history, pos, root, last, last_root, &err);
    if (rc == ICS_OK && pos > last)
        rc = ics_cosigned_write(path, self->gcfg->name, pos, root, &err);
    if (rc != ICS_OK) {
        self->counters.cosign_refused++;
        ics_error("group %s: not cosigning the tree head of size %" PRIu64 ": %s",
                  self->gcfg->name, pos, err.msg);
        return;
    }
    ics_note_cosign(self->id, self->gcfg->name, pos, root, sig);
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Checkpoint cp = ICS__V1__CHECKPOINT__INIT;
    cp.position = pos;
    cp.chain.data = chain;
    cp.chain.len = sizeof chain;
    cp.root.data = root;
    cp.root.len = sizeof root;
    cp.cosignature.data = sig;
    cp.cosignature.len = sizeof sig;
    cmd.body_case = ICS__V1__COMMAND__BODY_CHECKPOINT;
    cmd.checkpoint = &cp;
    s_submit_internal(self, &cmd);
}

/* ---- history backfill ---------------------------------------------------- */

/* A peer that served a bad chunk, or did not answer, is passed over for a
 * while. */
static bool s_peer_skipped(ics_group_t *self, const char *org, uint64_t now)
{
    for (size_t i = 0; i < ICS_MAX_ORGS; i++)
        if (strcmp(self->backfill.skip[i].org, org) == 0 && now < self->backfill.skip[i].until)
            return true;
    return false;
}

static void s_peer_skip(ics_group_t *self, const char *org, uint64_t until)
{
    size_t slot = 0;
    for (size_t i = 0; i < ICS_MAX_ORGS; i++) {
        if (strcmp(self->backfill.skip[i].org, org) == 0 || self->backfill.skip[i].org[0] == '\0') {
            slot = i;
            break;
        }
        if (self->backfill.skip[i].until < self->backfill.skip[slot].until)
            slot = i;
    }
    ics_strcpy(self->backfill.skip[slot].org, ICS_ORG_MAX, org);
    self->backfill.skip[slot].until = until;
}

/* The first member at or after index want (else the first of all) that is
 * another organisation, connected and not passed over. */
typedef struct {
    ics_group_t *self;
    uint64_t now;
    size_t i, want;
    char pick[ICS_ORG_MAX], first[ICS_ORG_MAX];
    size_t pick_i, first_i;
} s_pick_t;

static void s_pick_peer(void *arg, const ics_effect_t *m)
{
    s_pick_t *p = arg;
    ics_group_t *self = p->self;
    size_t i = p->i++;

    ics_peer_info_t info;

    if (strcmp(m->org, self->cfg->org) == 0 || s_peer_skipped(self, m->org, p->now) ||
        !ics_transport_peer(self->transport, m->org, &info) || !info.connected)
        return;
    if (p->first[0] == '\0') {
        ics_strcpy(p->first, sizeof p->first, m->org);
        p->first_i = i;
    }
    if (p->pick[0] == '\0' && i >= p->want) {
        ics_strcpy(p->pick, sizeof p->pick, m->org);
        p->pick_i = i;
    }
}

/* Entry bytes per backfill chunk: the configured size, leaving room within
 * a frame for the frame around the chunk. */
static size_t s_chunk_bytes(const ics_group_t *self)
{
    size_t half = self->cfg->max_message_bytes / 2;
    return self->cfg->backfill_chunk_bytes < half ? self->cfg->backfill_chunk_bytes : half;
}

/* Asks a peer for the newest missing chunk of history, unless a request is
 * in flight. Peers are asked in turn, a chunk each, so that a long
 * backfill is spread over the partners and every one's history is checked
 * against the chain; one that does not answer in time is passed over for a
 * while. */
static void s_backfill(ics_group_t *self, uint64_t now)
{
    Ics__V1__Frame frame = ICS__V1__FRAME__INIT;
    Ics__V1__HistoryRequest req = ICS__V1__HISTORY_REQUEST__INIT;
    s_pick_t pick = {.self = self, .now = now};
    uint64_t lo, hi;
    uint8_t *buf = NULL;
    size_t len = 0;

    if (!ics_history_gap(self->history, &lo, &hi))
        return;
    if (self->backfill.sent_ms != 0) {
        if (now - self->backfill.sent_ms < BACKFILL_TIMEOUT_MS)
            return;
        if (self->backfill.peer[0] != '\0') {
            snprintf(self->backfill.last_error, sizeof self->backfill.last_error,
                     "%s did not answer within %u ms", self->backfill.peer, BACKFILL_TIMEOUT_MS);
            self->backfill.failures++;
            s_peer_skip(self, self->backfill.peer, now + BACKFILL_SLOW_MS);
        }
    }
    pick.want = self->backfill.next_peer;
    ics_fsm_each_member(self->fsm, s_pick_peer, &pick);
    if (pick.pick[0] == '\0') {
        ics_strcpy(pick.pick, sizeof pick.pick, pick.first);
        pick.pick_i = pick.first_i;
    }
    self->backfill.sent_ms = now;
    if (pick.pick[0] == '\0') {
        self->backfill.peer[0] = '\0';
        return; /* nobody to ask yet: look again after the timeout */
    }
    self->backfill.next_peer = pick.pick_i + 1;
    ics_strcpy(self->backfill.peer, sizeof self->backfill.peer, pick.pick);
    req.first = lo;
    req.last = hi;
    req.request_id = ++self->backfill.request_id;
    req.max_bytes = s_chunk_bytes(self);
    frame.version = ICS_WIRE_VERSION;
    frame.group = (char *)self->gcfg->name;
    frame.body_case = ICS__V1__FRAME__BODY_HISTORY_REQUEST;
    frame.history_request = &req;
    if (ics_pack(&frame.base, &buf, &len) == ICS_OK)
        ics_transport_send(self->transport, pick.pick, buf, len);
    free(buf);
    ics_debug("group %s: asked %s for history %llu..%llu", self->gcfg->name, pick.pick,
              (unsigned long long)lo, (unsigned long long)hi);
}

static void s_on_history_request(ics_group_t *self, const char *from,
                                 const Ics__V1__HistoryRequest *req)
{
    Ics__V1__Frame frame = ICS__V1__FRAME__INIT;
    uint8_t *chunk = NULL, *buf = NULL;
    size_t chunk_len = 0, len = 0;
    size_t cap = s_chunk_bytes(self);
    size_t max = req->max_bytes > 0 && req->max_bytes < cap ? req->max_bytes : cap;

    if (ics_history_serve(self->history, req->request_id, req->first, req->last, max, &chunk,
                          &chunk_len) != ICS_OK)
        return;
    frame.version = ICS_WIRE_VERSION;
    frame.group = (char *)self->gcfg->name;
    frame.body_case = ICS__V1__FRAME__BODY_HISTORY_CHUNK;
    /* The chunk travels packed inside the frame as the same message. */
    frame.history_chunk = ics__v1__history_chunk__unpack(NULL, chunk_len, chunk);
    if (frame.history_chunk != NULL && ics_pack(&frame.base, &buf, &len) == ICS_OK)
        ics_transport_send(self->transport, from, buf, len);
    if (frame.history_chunk != NULL)
        ics__v1__history_chunk__free_unpacked(frame.history_chunk, NULL);
    free(chunk);
    free(buf);
}

static void s_on_history_chunk(ics_group_t *self, const char *from,
                               const Ics__V1__HistoryChunk *chunk)
{
    uint64_t now = ics_mono_ms();
    size_t stored = 0;
    ics_err_t err;
    int rc;

    if (strcmp(from, self->backfill.peer) != 0 || chunk->request_id != self->backfill.request_id)
        return; /* not what we asked for (a late answer from a skipped peer) */
    rc = ics_history_fill_chunk(self->history, chunk, &stored, &err);
    self->backfill.sent_ms = 0;
    if (rc == ICS_OK) {
        uint64_t lo, hi;
        if (!ics_history_gap(self->history, &lo, &hi)) {
            ics_notice("group %s: history complete: backfilled from peers", self->gcfg->name);
            self->backfill.last_error[0] = '\0';
        }
        s_backfill(self, now);   /* the next chunk at once */
        return;
    }
    self->backfill.failures++;
    snprintf(self->backfill.last_error, sizeof self->backfill.last_error, "%s: %.200s", from, err.msg);
    if (rc == ICS_EINVAL || rc == ICS_EMALFORMED) {
        /* A chunk that does not chain up is a peer to stop trusting. */
        s_peer_skip(self, from, now + BACKFILL_BAD_MS);
        self->counters.backfill_bad_chunks++;
        ics_warn("group %s: %s served a bad history chunk: %s; asking another peer",
                 self->gcfg->name, from, err.msg);
    } else if (now - self->backfill.last_log_ms > 10000) {
        self->backfill.last_log_ms = now;
        ics_info("group %s: history backfill from %s failed: %s", self->gcfg->name, from,
                 err.msg);
    }
    s_backfill(self, now);
}

unsigned ics_group_run(ics_group_t *self)
{
    uint64_t now = ics_mono_ms();
    unsigned wait;
    s_pending_t **pp = &self->pending;
    char seen[ICS_ORG_MAX];

    s_storage_check(self);
    s_storage_retry(self, now);
    if (self->storage.down) {
        /* Raft is closed: only the submissions' deadlines run. */
        wait = self->storage.corrupt ? 1000u
               : self->storage.next_try_ms > now ? (unsigned)(self->storage.next_try_ms - now)
                                                 : 1u;
    } else {
        wait = ics_raftio_tick(self->io);
    }

    /* A new leader: what went to the old one may be lost; send it now. */
    s_leader(self, seen);
    if (strcmp(seen, self->seen_leader) != 0) {
        ics_strcpy(self->seen_leader, sizeof self->seen_leader, seen);
        for (s_pending_t *p = self->pending; p != NULL && seen[0] != '\0'; p = p->next)
            p->next_try = now;
    }

    while (*pp != NULL) {
        s_pending_t *p = *pp;
        if (now >= p->deadline) {
            char leader[ICS_ORG_MAX], msg[ICS_ERRMSG_SIZE];
            s_leader(self, leader);
            if (self->storage.down)
                snprintf(msg, sizeof msg, "not committed within the timeout: this node cannot"
                         " use its storage for group %s (%.360s)", self->gcfg->name,
                         self->storage.reason);
            else
                snprintf(msg, sizeof msg,
                         "not committed within the timeout: no quorum in group %s (%s)",
                         self->gcfg->name, leader[0] ? "leader is reachable only partly" :
                         "no leader");
            *pp = p->next;
            if (self->tick_seq == p->seq)
                self->tick_seq = 0;
            self->counters.timeouts++;
            if (p->done != NULL)
                p->done(p->arg, ICS_ETIMEDOUT, msg, NULL);
            s_pending_free(p);
            continue;
        }
        if (p->stored && now >= p->next_try && !self->storage.down)
            s_try(self, p, now);
        uint64_t next = p->next_try < p->deadline ? p->next_try : p->deadline;
        if (next > now && next - now < wait)
            wait = (unsigned)(next - now);
        pp = &p->next;
    }
    if (self->storage.down)
        return wait;
    /* Each member takes its snapshots at its own offset (raftview.h): a
     * snapshot costs the loop a few ms, and the members' falling together
     * was the group's latency tail under load. */
    raft_set_snapshot_threshold(&self->raft, ics_raftview_snapshot_threshold(
                                                 &self->raft, self->cfg->snapshot_threshold));
    if (raft_state(&self->raft) == RAFT_LEADER) {
        unsigned w = s_release_held(self, now);
        if (w < wait)
            wait = w;
        s_leader_duties(self);
    } else {
        s_held_drop(self);
    }
    s_checkpoint_duty(self);
    s_backfill(self, now);
    /* Read a little of the history back now and then: corruption at rest
     * is found, repaired or refetched, before anyone is served it. */
    if (now - self->scrub_ms >= SCRUB_EVERY_MS) {
        uint64_t bad;
        self->scrub_ms = now;
        if (ics_history_scrub(self->history, SCRUB_BATCH, &bad) == ICS_EIO)
            self->history_failed = true;
    }
    if (self->backfill.sent_ms != 0 && wait > BACKFILL_TIMEOUT_MS)
        wait = BACKFILL_TIMEOUT_MS;
    return wait;
}

/* Removes p from the pending list and tells its submitter it failed. */
static void s_fail_pending(ics_group_t *self, s_pending_t *p, int rc, const char *what,
                           const char *why)
{
    s_pending_t **pp = &self->pending;

    while (*pp != p)
        pp = &(*pp)->next;
    *pp = p->next;
    if (self->tick_seq == p->seq)
        self->tick_seq = 0;
    if (p->done != NULL) {
        char msg[ICS_ERRMSG_SIZE + 64];
        snprintf(msg, sizeof msg, "%s: %s", what, why);
        p->done(p->arg, rc, msg, NULL);
    }
    s_pending_free(p);
}

/* Seals the submissions p[0..n) under one signature and puts them into the
 * outbox (committed by s_send_stored). */
static void s_seal_batch(ics_group_t *self, s_pending_t **p, size_t n)
{
    ics_envelope_fields_t f[ICS_SEAL_BATCH_MAX];
    uint8_t *env[ICS_SEAL_BATCH_MAX];
    size_t env_len[ICS_SEAL_BATCH_MAX];
    ics_err_t err;
    int rc;

    for (size_t i = 0; i < n; i++)
        f[i] = (ics_envelope_fields_t){
            .group = self->gcfg->name,
            .org = self->cfg->org,
            .seq = p[i]->seq,
            .timestamp_ms = p[i]->timestamp_ms,
            .kind = p[i]->kind,
            .payload = p[i]->cmd,
            .payload_len = p[i]->cmd_len,
        };
    rc = ics_envelope_seal_batch(self->id, f, n, env, env_len, &err);
    for (size_t i = 0; i < n; i++) {
        if (rc != ICS_OK) {
            s_fail_pending(self, p[i], rc, "cannot seal the submission", err.msg);
            continue;
        }
        int put = ics_outbox_put(self->outbox, p[i]->token, p[i]->token_len, p[i]->seq, env[i],
                                 env_len[i], &err);
        if (put != ICS_OK) {
            free(env[i]);
            s_fail_pending(self, p[i], put, "cannot store the submission in the outbox",
                           err.msg);
            continue;
        }
        free(p[i]->cmd);
        p[i]->cmd = NULL;
        p[i]->env = env[i];
        p[i]->env_len = env_len[i];
        if (self->verifier != NULL)
            s_preverify_bytes(self, env[i], env_len[i], true);
    }
}

/* Every submission of the turn (they lead the list, s_unsealed_by_token),
 * in batches of ICS_SEAL_BATCH_MAX. A batch's failures leave the list
 * only at the batch's own places, never at next. */
static void s_seal(ics_group_t *self)
{
    s_pending_t *batch[ICS_SEAL_BATCH_MAX], *next;
    size_t n = 0;

    if (self->unsealed_max == 0)
        return;
    for (s_pending_t *p = self->pending; p != NULL && !p->stored; p = next) {
        next = p->next;
        if (p->cmd != NULL)
            batch[n++] = p;
        if (n == ICS_SEAL_BATCH_MAX || (n > 0 && (next == NULL || next->stored))) {
            s_seal_batch(self, batch, n);
            n = 0;
        }
    }
    /* A seq whose sealing failed was neither stored nor sent: the next
     * submission may take it. */
    self->unsealed_max = 0;
}

/* Stored before sent: one outbox commit for every submission of the turn,
 * then their first proposal or forward. If the commit fails, none of them
 * was stored and none may go out. */
static void s_send_stored(ics_group_t *self)
{
    uint64_t now = ics_mono_ms();
    s_pending_t **pp = &self->pending;
    ics_err_t err;
    int rc;

    s_seal(self);
    rc = ics_outbox_commit(self->outbox, &err);

    if (rc != ICS_OK)
        ics_error("group %s: %s", self->gcfg->name, err.msg);
    while (*pp != NULL) {
        s_pending_t *p = *pp;
        if (p->stored || p->cmd != NULL) { /* unsealed: submitted since s_seal */
            pp = &p->next;
        } else if (rc == ICS_OK) {
            p->stored = true;
            s_try(self, p, now);
            pp = &p->next;
        } else {
            s_fail_pending(self, p, rc, "cannot store the submission in the outbox", err.msg);
        }
    }
}

/* Leader: a heartbeat now to each follower that holds a committed entry
 * carrying its own submission without having been told it is committed,
 * and to every follower when this node has just taken office (they learn
 * of it at once). The others learn of commits from the next AppendEntries,
 * new entries or their heartbeat: nobody waits on them, and a prompt is a
 * message to send, and to answer, on two nodes. raft sends heartbeats from
 * its tick to the followers it has sent nothing for heartbeat_timeout;
 * raft builds them, and an empty AppendEntries lets a follower commit on
 * receipt, without a write of its own. Returns true if it ran a tick. */
static bool s_prompt(ics_group_t *self)
{
    const char *due[ICS_MAX_ORGS];
    bool leader = raft_state(&self->raft) == RAFT_LEADER;
    bool took_office = leader && !self->was_leader;
    size_t n;

    self->was_leader = leader;
    if (!leader)
        return false;
    if (took_office) {
        /* Every follower, whatever raft sent it last. */
        raft_set_heartbeat_timeout(&self->raft, 0);
        ics_raftio_tick_now(self->io);
        raft_set_heartbeat_timeout(&self->raft, self->cfg->heartbeat_ms);
        return true;
    }
    /* Applied is committed on a leader, which applies as it commits. */
    n = ics_raftio_commit_unseen(self->io, raft_last_applied(&self->raft), due, ICS_MAX_ORGS);
    for (size_t i = 0; i < n; i++)
        ics_raftview_heartbeat_due(&self->raft, due[i]);
    if (n > 0)
        ics_raftio_tick_now(self->io);
    return n > 0;
}

void ics_group_flush(ics_group_t *self)
{
    s_send_stored(self);
    if (self->storage.down)
        return;
    /* What was proposed this turn, as one entry, before raft's io writes
     * and sends. */
    s_propose_flush(self);
    /* Callbacks may queue more work (a follower's reply, a new append);
     * finish it in this turn rather than after the next poll. */
    for (int i = 0; i < 8 && ics_raftio_flush(self->io); i++)
        ;
    if (s_prompt(self))
        ics_raftio_flush(self->io);
    /* Group commit of the history (durable on a snapshot; until then
     * raft's log can replay it). */
    if (ics_history_flush(self->history) != ICS_OK)
        self->history_failed = true;
    s_storage_check(self);
}

/* ---- frames ------------------------------------------------------------ */

static void s_on_forward(ics_group_t *self, const char *from, const Ics__V1__Forward *fwd)
{
    Ics__V1__Envelope *env = NULL;
    ics_err_t err;

    if (raft_state(&self->raft) != RAFT_LEADER)
        return; /* the sender retries with whoever leads next */
    if (ics_envelope_decode(fwd->envelope.data, fwd->envelope.len, &env, &err) != ICS_OK) {
        ics_warn("group %s: forward from %s dropped: %s", self->gcfg->name, from, err.msg);
        return;
    }
    /* A node forwards only its own organisation's envelopes. */
    if (strcmp(env->org, from) != 0 || strcmp(env->group, self->gcfg->name) != 0) {
        ics_warn("group %s: forward from %s of an envelope by %s/%s dropped",
                 self->gcfg->name, from, env->org, env->group);
    } else if (!ics_fsm_seq_taken(self->fsm, env->org, env->seq)) {
        s_preverify(self, env);
        /* Held back by the commit guard, it waits here for the hold to end
         * (s_release_held); the sender retries too. */
        if (s_propose(self, env->org, env->seq, fwd->envelope.data, fwd->envelope.len) ==
            ICS_EUNAVAIL)
            s_hold_forward(self, env->org, env->seq, fwd->envelope.data, fwd->envelope.len,
                           ics_mono_ms());
    }
    ics__v1__envelope__free_unpacked(env, NULL);
}

void ics_group_frame(ics_group_t *self, const char *from, const Ics__V1__Frame *frame)
{
    switch (frame->body_case) {
    case ICS__V1__FRAME__BODY_RAFT:
        /* Down, raft is closed: the leader sends again once it is back. */
        if (!self->storage.down) {
            s_preverify_entries(self, frame->raft);
            ics_raftio_deliver(self->io, from, frame->raft);
        }
        break;
    case ICS__V1__FRAME__BODY_FORWARD:
        s_on_forward(self, from, frame->forward);
        break;
    case ICS__V1__FRAME__BODY_HISTORY_REQUEST:
        s_on_history_request(self, from, frame->history_request);
        break;
    case ICS__V1__FRAME__BODY_HISTORY_CHUNK:
        if (!self->storage.down)
            s_on_history_chunk(self, from, frame->history_chunk);
        break;
    default:
        break;
    }
}

/* ---- life cycle -------------------------------------------------------- */

static int s_mkdirs(const char *path, ics_err_t *err)
{
    char tmp[PATH_MAX];
    ics_strcpy(tmp, sizeof tmp, path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return ics_err(err, ICS_EIO, "%s: %s", tmp, strerror(errno));
            *p = '/';
        }
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return ics_err(err, ICS_EIO, "%s: %s", tmp, strerror(errno));
    return ICS_OK;
}

static int s_raft_send(void *arg, const char *to, const uint8_t *frame, size_t len)
{
    ics_group_t *self = arg;
    return ics_transport_send(self->transport, to, frame, len) == ICS_OK ? 0 : -1;
}

void ics_group_set_identity(ics_group_t *self, const ics_identity_t *id)
{
    self->id = id;
}

void ics_group_set_verifier(ics_group_t *self, ics_verifier_t *v)
{
    self->verifier = v;
}

static ics_fsm_t *s_fsm_new(ics_group_t *self, ics_err_t *err)
{
    ics_fsm_t *fsm = ics_fsm_new(self->gcfg->name, err);

    if (fsm != NULL)
        ics_fsm_set_observer(fsm, &(ics_fsm_observer_t){
                                      .applied = s_on_applied,
                                      .effect = s_on_effect,
                                      .arg = self,
                                  });
    return fsm;
}

/* Raft applies nothing past its snapshot until a leader says what is
 * committed, so a node that (re)opens raft knows the members of its
 * snapshot, or with none those of its configuration, while its history
 * holds what it had applied. A member admitted or re-keyed since would be
 * refused here, and if that member led, this node would never hear from a
 * leader. So until the state machine catches up, the transport, frames
 * and keys go by the members as the history leaves them. Additions and
 * keys only: a member removed since stays reachable until the replay
 * removes it, as after a snapshot alone. Not while a gap is being
 * backfilled: the snapshot is all there is to go by then. */
static void s_members_as_applied(ics_group_t *self)
{
    uint64_t top = ics_history_top(self->history), lo, hi;
    ics_keyset_t *ks;
    ics_err_t err;
    int rc;

    free(self->as_applied);
    self->as_applied = NULL;
    if (top <= ics_fsm_position(self->fsm) || ics_history_gap(self->history, &lo, &hi))
        return;
    ks = calloc(1, sizeof *ks);
    if (ks == NULL)
        return;
    rc = ics_history_keyset(self->history, top, ks, &err);
    if (rc == ICS_OK && !ks->genesis)
        rc = ics_err(&err, ICS_EUNAVAIL, "no genesis held");
    if (rc != ICS_OK) {
        ics_warn("group %s: members as last applied unknown, until a leader is heard: %s",
                 self->gcfg->name, err.msg);
        free(ks);
        return;
    }
    for (size_t i = 0; i < ks->n; i++) {
        const ics_keyset_member_t *m = &ks->m[i];
        if (strcmp(m->org, self->cfg->org) != 0 &&
            ics_transport_add_peer(self->transport, m->org, m->pk, m->endpoint, &err) != ICS_OK)
            ics_warn("group %s: cannot reach member %s: %s", self->gcfg->name, m->org, err.msg);
    }
    self->as_applied = ks;
    self->as_applied_top = top;
}

/* org in the members as last applied, while the state machine is behind;
 * once it has caught up they are let go. */
static const ics_keyset_member_t *s_applied_member(ics_group_t *self, const char *org)
{
    if (self->as_applied != NULL && ics_fsm_position(self->fsm) >= self->as_applied_top) {
        free(self->as_applied);
        self->as_applied = NULL;
    }
    return self->as_applied != NULL ? ics_keyset_find(self->as_applied, org) : NULL;
}

static void s_raft_closed(struct raft *r);

/* Closes raft, which our io completes at once, and leaves struct raft a
 * closed, empty instance for the status readers to look at: no
 * configuration, no log, unavailable. The io stays until the next
 * s_raft_open replaces it, so status still shows the term it left in. */
static void s_raft_close(ics_group_t *self)
{
    if (self->raft_inited) {
        self->raft.data = self;
        raft_close(&self->raft, s_raft_closed);
    }
    ics_raftview_clear(&self->raft, self);
    self->raft_inited = false;
    self->raft_started = false;
    self->change_busy = false;
    self->members_reconciled = false;
    self->was_leader = false;
    s_batch_drop(self); /* never proposed: retried with the next leader */
    s_held_drop(self);
}

/* Builds raft from what is on disk: the store (opened if closed), a new io
 * and raft instance; bootstraps a pristine store unless joining. On failure
 * raft is left closed (s_raft_close) and err says why. */
static int s_raft_open(ics_group_t *self, ics_err_t *err)
{
    const ics_config_t *cfg = self->cfg;
    const ics_group_cfg_t *gcfg = self->gcfg;
    char path[PATH_MAX + 16], why[ICS_ERRMSG_SIZE];
    ics_raftio_t *io, *old;
    int rc = ICS_EIO, rv;

    if (self->store == NULL) {
        snprintf(path, sizeof path, "%s/raft.db", self->dir);
        self->store = ics_store_open(path, err);
        if (self->store == NULL)
            return ICS_EIO;
    }
    io = ics_raftio_new(gcfg->name, self->store, cfg->max_message_bytes, s_raft_send, self);
    if (io == NULL)
        return ics_err(err, ICS_ENOMEM, "out of memory");
    ics_raftfsm_init(&self->rfsm, self->fsm, self->history, &self->history_failed);
    self->rfsm.apply_latency = &self->metrics.apply_latency;
    self->rfsm.restored = s_restored;
    self->rfsm.arg = self;
    rv = raft_init(&self->raft, ics_raftio_io(io), &self->rfsm.rfsm, ics_raft_id(cfg->org),
                   cfg->org);
    if (rv != 0) {
        ics_err(err, ICS_EIO, "raft_init: %s", raft_errmsg(&self->raft));
        ics_raftio_destroy(&io);
        goto fail;
    }
    /* raft now points to the new io: the old one can go, once the new one
     * reports invalid messages where it did. */
    old = self->io;
    ics_raftio_inherit_invalid_fn(io, old);
    self->io = io;
    ics_raftio_destroy(&old);
    self->raft_inited = true;
    self->raft.data = self;
    raft_set_election_timeout(&self->raft, cfg->election_ms);
    raft_set_heartbeat_timeout(&self->raft, cfg->heartbeat_ms);
    raft_set_snapshot_threshold(&self->raft, cfg->snapshot_threshold);
    raft_set_snapshot_trailing(&self->raft, cfg->snapshot_trailing);
    raft_set_pre_vote(&self->raft, true);
    /* A snapshot lost on the way (a link that came back mid-transfer) is
     * sent again after this long; libraft's 30 s default left a follower
     * that long behind after a partition healed. */
    raft_set_install_snapshot_timeout(&self->raft, S_INSTALL_SNAPSHOT_MS);
    ics_commit_guard_init(&self->guard, cfg->heartbeat_ms, ics_mono_ms());

    if (ics_store_pristine(self->store) && gcfg->join) {
        ics_notice("group %s: joining: waiting for the members to admit %s and send the log",
                   gcfg->name, cfg->org);
    } else if (ics_store_pristine(self->store)) {
        struct raft_configuration conf;
        raft_configuration_init(&conf);
        for (size_t i = 0; i < gcfg->n_members; i++) {
            if (raft_configuration_add(&conf, ics_raft_id(gcfg->members[i]), gcfg->members[i],
                                       RAFT_VOTER) != 0) {
                raft_configuration_close(&conf);
                rc = ics_err(err, ICS_EINVAL, "bad member list");
                goto fail;
            }
        }
        rv = raft_bootstrap(&self->raft, &conf);
        raft_configuration_close(&conf);
        if (rv != 0) {
            ics_err(err, ICS_EIO, "bootstrap: %s", raft_errmsg(&self->raft));
            goto fail;
        }
        ics_notice("group %s: new group bootstrapped with %zu members", gcfg->name,
                   gcfg->n_members);
    }
    rv = raft_start(&self->raft);
    if (rv != 0) {
        /* The io keeps the store's whole message; raft's is cut at 256. */
        if (ics_raftio_failed(self->io, why, sizeof why))
            ics_err(err, ICS_EIO, "cannot start raft: %s", why);
        else
            ics_err(err, ICS_EIO, "cannot start raft: %s", raft_errmsg(&self->raft));
        goto fail;
    }
    self->raft_started = true;
    s_members_as_applied(self);
    return ICS_OK;
fail:
    s_raft_close(self);
    return rc;
}

/* ---- storage faults ------------------------------------------------------ */

/* Raft closed, the store handle too: from here the group is down until
 * s_storage_retry gets it up again (or for good if the store is corrupt). */
static void s_storage_down(ics_group_t *self, const char *why)
{
    uint64_t now = ics_mono_ms(), last_log = self->storage.last_log_ms;
    bool was_down = self->storage.down;

    self->storage.corrupt = self->store != NULL && ics_store_corrupt(self->store);
    s_raft_close(self);
    ics_store_close(&self->store);
    ics_strcpy(self->storage.reason, sizeof self->storage.reason, why);
    self->storage.down = true;
    if (self->storage.corrupt) {
        self->storage.last_log_ms = now;
        ics_error("group %s: %s. This node does not serve the group any more.",
                  self->gcfg->name, why);
        return;
    }
    if (was_down)
        return;
    self->storage.faults++;
    self->storage.since_ms = now;
    if (self->storage.reopens > 0 && now - self->storage.up_ms < RELAPSE_MS) {
        /* Soon after the last reopen: back off further, and say so less. */
        self->storage.next_try_ms = now + self->storage.backoff_ms;
        if (self->storage.backoff_ms < REOPEN_MAX_MS || now - last_log >= REOPEN_LOG_MS) {
            self->storage.last_log_ms = now;
            ics_warn("group %s: storage failing again %.1f s after reopening: %s (next try in "
                     "%u ms)", self->gcfg->name, (double)(now - self->storage.up_ms) / 1000.0,
                     why, self->storage.backoff_ms);
        }
        return;
    }
    self->storage.last_log_ms = now;
    self->storage.backoff_ms = REOPEN_FIRST_MS;
    self->storage.next_try_ms = now + REOPEN_FIRST_MS;
    ics_error("group %s: storage failure: %s. This node stops acknowledging in the group and "
              "refuses submissions to it; it reopens raft from disk by itself once the disk "
              "takes writes again", self->gcfg->name, why);
}

/* A fault since the last look: raft's io failed a write or a read, the
 * history could not be written, or raft turned unavailable by itself. */
static void s_storage_check(ics_group_t *self)
{
    char why[ICS_ERRMSG_SIZE];

    if (self->storage.down)
        return;
    if (ics_raftio_failed(self->io, why, sizeof why))
        ;
    else if (self->history_failed)
        snprintf(why, sizeof why, "the history on disk (%.400s/history.db) cannot be written",
                 self->dir);
    else if (self->raft_started && raft_state(&self->raft) == RAFT_UNAVAILABLE)
        snprintf(why, sizeof why, "raft became unavailable: %s", raft_errmsg(&self->raft));
    else
        return;
    s_storage_down(self, why);
}

/* Everything a restart would do for this group, from disk: a store handle
 * that writes (the probe), the history without what it had not committed,
 * a fresh state machine, raft loaded from the snapshot and log. */
static int s_reopen(ics_group_t *self, ics_err_t *err)
{
    char path[PATH_MAX + 16];
    ics_fsm_t *fsm;
    int rc;

    if (self->store == NULL) {
        snprintf(path, sizeof path, "%s/raft.db", self->dir);
        self->store = ics_store_open(path, err);
        if (self->store == NULL)
            return ICS_EIO;
    }
    rc = ics_store_probe(self->store, err);
    if (rc == ICS_OK)
        rc = ics_history_resync(self->history, err);
    if (rc != ICS_OK)
        return rc;
    fsm = s_fsm_new(self, err);
    if (fsm == NULL)
        return ICS_ENOMEM;
    ics_fsm_destroy(&self->fsm);
    self->fsm = fsm;
    self->history_failed = false;
    self->tick_seq = 0;
    return s_raft_open(self, err);
}

static void s_storage_retry(ics_group_t *self, uint64_t now)
{
    ics_err_t err;
    s_pending_t *p;

    if (!self->storage.down || self->storage.corrupt || now < self->storage.next_try_ms)
        return;
    self->storage.backoff_ms = self->storage.backoff_ms * 2 > REOPEN_MAX_MS
                                   ? REOPEN_MAX_MS : self->storage.backoff_ms * 2;
    self->storage.next_try_ms = now + self->storage.backoff_ms;
    if (s_reopen(self, &err) != ICS_OK) {
        if (self->store != NULL && ics_store_corrupt(self->store)) {
            s_storage_down(self, err.msg);
            return;
        }
        ics_store_close(&self->store);
        ics_strcpy(self->storage.reason, sizeof self->storage.reason, err.msg);
        if (now - self->storage.last_log_ms >= REOPEN_LOG_MS) {
            self->storage.last_log_ms = now;
            ics_warn("group %s: storage still failing: %s (trying again every %u ms)",
                     self->gcfg->name, err.msg, self->storage.backoff_ms);
        }
        return;
    }
    self->storage.down = false;
    self->storage.reopens++;
    self->storage.up_ms = now;
    self->storage.reason[0] = '\0';
    ics_notice("group %s: storage writable again after %.1f s: raft reopened from disk "
               "(term %llu, last index %llu); taking part in the group again",
               self->gcfg->name, (double)(now - self->storage.since_ms) / 1000.0,
               (unsigned long long)ics_raftio_term(self->io),
               (unsigned long long)raft_last_index(&self->raft));
    for (p = self->pending; p != NULL; p = p->next)
        p->next_try = now;
}

ics_group_t *ics_group_new(const ics_config_t *cfg, const ics_group_cfg_t *gcfg,
                           const ics_identity_t *id, ics_transport_t *transport,
                           ics_own_key_fn own_key, void *own_key_arg, ics_err_t *err)
{
    ics_group_t *self = calloc(1, sizeof *self);
    char path[PATH_MAX + 16];

    if (self == NULL) {
        ics_err(err, ICS_ENOMEM, "out of memory");
        return NULL;
    }
    self->cfg = cfg;
    self->gcfg = gcfg;
    self->id = id;
    self->transport = transport;
    self->own_key = own_key;
    self->own_key_arg = own_key_arg;
    if (snprintf(self->dir, sizeof self->dir, "%s/%s", cfg->data_dir, gcfg->name) >=
        (int)sizeof self->dir) {
        ics_err(err, ICS_EINVAL, "data_dir path too long");
        goto fail;
    }
    if (s_mkdirs(self->dir, err) != ICS_OK)
        goto fail;
    snprintf(path, sizeof path, "%s/outbox.db", self->dir);
    self->outbox = ics_outbox_open(path, NULL, err);
    if (self->outbox == NULL)
        goto fail;
    snprintf(path, sizeof path, "%s/raft.db", self->dir);
    self->store = ics_store_open(path, err);
    if (self->store == NULL)
        goto fail;
    snprintf(path, sizeof path, "%s/history.db", self->dir);
    self->history = ics_history_open(path, gcfg->name, err);
    if (self->history == NULL)
        goto fail;
    self->fsm = s_fsm_new(self, err);
    if (self->fsm == NULL)
        goto fail;

    if (s_raft_open(self, err) != ICS_OK) {
        char why[ICS_ERRMSG_SIZE];

        /* A damaged store stops this group only: the others go on. */
        if (self->store != NULL && ics_store_corrupt(self->store) && self->io != NULL) {
            s_storage_down(self, err->msg);
            return self;
        }
        ics_strcpy(why, sizeof why, err->msg);
        ics_err(err, ICS_EIO, "group %s: %s", gcfg->name, why);
        goto fail;
    }
    return self;
fail:
    ics_group_destroy(&self);
    return NULL;
}

static void s_raft_closed(struct raft *r)
{
    ics_group_t *self = r->data;
    self->raft_closed = true;
}

void ics_group_destroy(ics_group_t **self_p)
{
    ics_group_t *self;
    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    while (self->pending != NULL) {
        s_pending_t *p = self->pending;
        self->pending = p->next;
        if (p->done != NULL)
            p->done(p->arg, ICS_ESHUTDOWN, "node is shutting down", NULL);
        s_pending_free(p);
    }
    if (self->raft_inited) {
        self->raft.data = self;
        raft_close(&self->raft, s_raft_closed);
        /* Our io completes close synchronously, after flushing. */
    }
    ics_raftio_destroy(&self->io);
    ics_history_close(&self->history);
    ics_fsm_destroy(&self->fsm);
    ics_store_close(&self->store);
    ics_outbox_close(&self->outbox);
    ics_batch_free(&self->batch);
    s_held_drop(self);
    free(self->as_applied);
    free(self);
    *self_p = NULL;
}

const char *ics_group_name(const ics_group_t *self) { return self->gcfg->name; }
ics_fsm_t *ics_group_fsm(ics_group_t *self) { return self->fsm; }
ics_history_t *ics_group_history(ics_group_t *self) { return self->history; }
ics_raftio_t *ics_group_raftio(ics_group_t *self) { return self->io; }

bool ics_group_is_member(ics_group_t *self, const char *org)
{
    return ics_group_has(self->gcfg, org) || ics_fsm_is_member(self->fsm, org) ||
           s_applied_member(self, org) != NULL;
}

int ics_group_member_key(ics_group_t *self, const char *org, uint8_t pk[ICS_PK_BYTES])
{
    const ics_keyset_member_t *m = s_applied_member(self, org);

    if (m == NULL)
        return ics_fsm_member_key(self->fsm, org, pk);
    memcpy(pk, m->pk, ICS_PK_BYTES);
    return ICS_OK;
}

void ics_group_status(ics_group_t *self, ics_group_status_t *out)
{
    static const char *roles[] = {"unavailable", "follower", "candidate", "leader"};
    int st = raft_state(&self->raft);
    *out = self->counters;
    out->role = st >= 0 && st <= 3 ? roles[st] : "unknown";
    out->term = self->io != NULL ? ics_raftio_term(self->io) : 0;
    out->commit_index = ics_raftview_commit_index(&self->raft);
    out->applied_index = raft_last_applied(&self->raft);
    out->last_index = raft_last_index(&self->raft);
    out->snapshot_index = ics_raftview_snapshot_index(&self->raft);
    s_leader(self, out->leader);
    out->history_top = ics_history_top(self->history);
    out->history_missing = ics_history_missing(self->history);
    out->history_failed = self->history_failed;
    ics_strcpy(out->storage_fault, sizeof out->storage_fault,
               self->storage.down ? self->storage.reason : "");
    out->storage_corrupt = self->storage.corrupt;
    out->storage_faults = self->storage.faults;
    out->storage_reopens = self->storage.reopens;
    out->backfill_failures = self->backfill.failures;
    ics_strcpy(out->backfill_peer, sizeof out->backfill_peer,
               out->history_missing > 0 ? self->backfill.peer : "");
    ics_strcpy(out->backfill_error, sizeof out->backfill_error, self->backfill.last_error);
    {
        ics_history_stats_t hs = ics_history_stats(self->history);
        out->history_filled = hs.filled;
        out->history_corrupt = hs.corrupt;
        out->history_scrub_passes = hs.scrub_passes;
    }
}

const ics_group_metrics_t *ics_group_metrics(const ics_group_t *self)
{
    return &self->metrics;
}

const char *ics_group_raft_role(ics_group_t *self, const char *org)
{
    const struct raft_configuration *conf = ics_raftview_configuration(&self->raft);
    for (unsigned i = 0; i < conf->n; i++) {
        if (strcmp(conf->servers[i].address, org) != 0)
            continue;
        switch (conf->servers[i].role) {
        case RAFT_VOTER: return "voter";
        case RAFT_STANDBY: return "standby";
        default: return "spare";
        }
    }
    return "";
}

uint64_t ics_group_match_index(ics_group_t *self, const char *org)
{
    return ics_raftview_match_index(&self->raft, org);
}

size_t ics_group_voters(ics_group_t *self, const char **orgs, size_t max)
{
    const struct raft_configuration *conf = ics_raftview_configuration(&self->raft);
    size_t n = 0;
    for (unsigned i = 0; i < conf->n && n < max; i++)
        if (conf->servers[i].role == RAFT_VOTER && conf->servers[i].address != NULL)
            orgs[n++] = conf->servers[i].address;
    return n;
}
