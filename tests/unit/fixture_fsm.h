/*
 * Test kit for the state machine, shared by the unit tests of its domains.
 *
 * Two halves:
 *   - fx_fsm_t: one ics_fsm with a set of organisations (deterministic keys
 *     from seeds), a proposer clock, and helpers that sign commands as an
 *     organisation and person, apply them (optionally keeping every entry
 *     on a tape, to replay the same log elsewhere) and run queries; plus
 *     builders for the governance commands (people, roles, interests,
 *     plans, amendments, consultations, motions, votes), which other
 *     domains use too (e.g. to appoint the role that approves mutual aid),
 *     and for the core, membership, OPEL and mutual aid commands, also as
 *     values (fx_cmd_t) for tests that sign in their own way;
 *   - fx_cluster_t: canonical raft's deterministic in-process fixture
 *     (raft/fixture.h) running a real ics_fsm on every server, with seeded
 *     fault injection (disconnects, kills and revivals, network and disk
 *     latency) and a check that every server reached the same state;
 *     optionally with raft run as icsd runs it (fx_cluster_daemon). Under
 *     every server's fixture io the kit keeps a shadow of icsd's own raft
 *     store (store.c), written as raft asks, which the final check
 *     compares with raft and rebuilds a state machine from. What the
 *     fixture cannot do: run raft on icsd's io (raft_fixture builds its
 *     own in-memory io for each server, and raftio.c reads the monotonic
 *     clock and sends through the transport, with no hook for a simulated
 *     clock or network), restart a server from its stored state mid-run (a
 *     fixture "kill" only stops delivery and ticks; closing a server frees
 *     its io's state and raft_fixture has no call to start one again), or
 *     inject faults in the store (the fixture io's own fault injection
 *     fails raft's calls, which the daemon answers by reopening raft from
 *     disk, group.c, which the fixture cannot do).
 *
 * Long runs: fx_seeds() reads ICS_FIXTURE_SEEDS (number of seeds, default
 * given by the test), ICS_FIXTURE_FIRST (first of them) and
 * ICS_FIXTURE_SEED (run just that seed), so
 *   ICS_FIXTURE_SEEDS=2000 ./test_fixture_plans
 * soaks the determinism tests (deploy/fixture-soak.sh); a failure prints
 * its seed and the command that replays it.
 *
 * All functions fail the running cmocka test on unexpected errors.
 */
#ifndef ICS_FIXTURE_FSM_H
#define ICS_FIXTURE_FSM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>

#include "fsm/fsm.h"
#include "history.h"
#include "common/keys.h"
#include "ics/v1/command.pb-c.h"

#define FX_MAX_ORGS 8
#define FX_EPOCH_MS 1767225600000ull  /* 2026-01-01T00:00:00Z */

typedef struct {
    const char *id;
    const char *kind;
    ics_identity_t *key;
    uint64_t seq;            /* last sequence number used */
    uint64_t person_seq;     /* last person sequence number used by any of its people */
    char admin[128];         /* the person fx_person registered first (its administrator,
                                who signs the fixture's later registrations); "" if none */
} fx_org_t;

/* An entry as applied: its exact bytes and its result. */
typedef struct {
    uint8_t *buf;
    size_t len;
    ics_apply_result_t res;
} fx_entry_t;

typedef struct {
    ics_fsm_t *fsm;
    ics_history_t *history;  /* in memory: every entry the fsm applied */
    const char *group;
    fx_org_t orgs[FX_MAX_ORGS];
    size_t n_orgs;
    uint64_t now;            /* envelope timestamp of the next entry */
    ics_apply_result_t last; /* result of the last entry applied */
    bool taping;             /* keep every entry applied in tape (fx_tape) */
    fx_entry_t *tape;
    size_t n_tape;
} fx_fsm_t;

/* Appends positions 1..n of history from to history to, as a node that
 * applied them would (org, seq and verified from each envelope). */
void fx_history_copy(ics_history_t *to, ics_history_t *from, uint64_t n);
/* ... positions lo..hi only. */
void fx_history_copy_range(ics_history_t *to, ics_history_t *from, uint64_t lo, uint64_t hi);

/* ---------------------------------------------------------------- one state machine */

/* orgs: "ID:kind" strings, e.g. "QHM:icb"; the first administers membership.
 * Keys come from seeds derived from the ids, so every fixture agrees. */
fx_fsm_t *fx_fsm_new(const char *group, const char *const *orgs, size_t n);
void fx_fsm_destroy(fx_fsm_t **self_p);
fx_org_t *fx_org(fx_fsm_t *fx, const char *id);

/* Deterministic identity for an organisation id (caller destroys). */
ics_identity_t *fx_identity(const char *id);
/* Deterministic key of a person of org (caller destroys). */
ics_identity_t *fx_person_identity(const char *org, const char *person);
/* The command's bytes signed by person of org with id (NULL: their fixture
 * key) and person sequence number seq, as icsctl signs. malloc'd. */
uint8_t *fx_person_sign(const char *group, const char *org, const char *person,
                        const ics_identity_t *id, uint64_t seq, Ics__V1__Command *cmd,
                        size_t *len);

/* Signs cmd as org (next seq) at time ts, acting as person, who signs it
 * with their fixture key (fx_person_identity) and the org's next person
 * sequence number. person NULL, "" or "icsd": the organisation itself (no
 * person); "registrar": the org's administrator person if it has one, else
 * the organisation itself. Returns malloc'd envelope bytes. */
uint8_t *fx_seal(const char *group, fx_org_t *org, const char *person, uint64_t ts,
                 Ics__V1__Command *cmd, size_t *len);
/* The same for payload bytes as given, under header kind (which need not
 * match them: for malformed commands). */
uint8_t *fx_seal_payload(const char *group, fx_org_t *org, uint64_t ts, uint32_t kind,
                         const uint8_t *payload, size_t plen, size_t *len);

/* Signs and applies; fx->now moves on by step_ms (default 1000). */
ics_apply_result_t fx_send(fx_fsm_t *fx, const char *org, const char *person,
                           Ics__V1__Command *cmd);
void fx_set_step(uint64_t step_ms);
/* The same, signed by person with key (not their fixture key) and the
 * org's next person sequence number. */
ics_apply_result_t fx_send_key(fx_fsm_t *fx, const char *org, const char *person,
                               const ics_identity_t *key, Ics__V1__Command *cmd);
/* Applies entry bytes as they are (and tapes them). */
ics_apply_result_t fx_apply(fx_fsm_t *fx, const uint8_t *buf, size_t len);
/* From now on keep a copy of every entry applied, with its result, in
 * fx->tape (freed with the fixture): to replay the same log elsewhere. */
void fx_tape(fx_fsm_t *fx);

/* Genesis of all the fixture's organisations, signed by the first, with
 * policy (NULL: the built-in default). */
ics_apply_result_t fx_genesis(fx_fsm_t *fx, const Ics__V1__Policy *policy);
/* Genesis of the fixture's first n organisations (the first administers
 * membership), signed by signer, who need not be among them. */
ics_apply_result_t fx_genesis_as(fx_fsm_t *fx, const char *signer,
                                 const Ics__V1__Policy *policy, size_t n);
/* A clock tick to now_ms (signed by the first organisation). */
ics_apply_result_t fx_tick(fx_fsm_t *fx, uint64_t now_ms);

/* Runs a query; returns its text (or JSON) answer, malloc'd. Fails the test
 * if the query fails. */
char *fx_query(fx_fsm_t *fx, bool json, const char *name, ...); /* args, then NULL */
/* Runs a query expected to fail; returns the code and copies the message. */
int fx_query_fail(fx_fsm_t *fx, char *msg, size_t size, const char *name, ...);

/* ---------------------------------------------------------------- commands */

ics_apply_result_t fx_person(fx_fsm_t *fx, const char *org, const char *person,
                             const char *name);
ics_apply_result_t fx_person_remove(fx_fsm_t *fx, const char *org, const char *person);
ics_apply_result_t fx_role(fx_fsm_t *fx, const char *signer, const char *org,
                           const char *person, const char *role, const char *scope);
ics_apply_result_t fx_role_revoke(fx_fsm_t *fx, const char *signer, const char *org,
                                  const char *person, const char *role, const char *scope);
/* person NULL: an interest of the whole organisation. */
ics_apply_result_t fx_interest(fx_fsm_t *fx, const char *org, const char *person,
                               const char *subject, const char *description);
ics_apply_result_t fx_interest_withdraw(fx_fsm_t *fx, const char *org, const char *person,
                                        const char *subject);
ics_apply_result_t fx_org_register(fx_fsm_t *fx, const char *signer, const char *id,
                                   const char *kind, const char *name, const char *parent);

typedef struct {
    const char *id, *title, *text;
} fx_section_t;

ics_apply_result_t fx_plan_create(fx_fsm_t *fx, const char *org, const char *person,
                                  const char *plan, const char *title, const char *period,
                                  const fx_section_t *sections, size_t n);
ics_apply_result_t fx_amend(fx_fsm_t *fx, const char *org, const char *person,
                            const char *plan, uint32_t base, Ics__V1__AmendOp op,
                            const char *section, const char *title, const char *text,
                            uint32_t paragraph, const char *after, const char *rationale);
ics_apply_result_t fx_amend_withdraw(fx_fsm_t *fx, const char *org, const char *person,
                                     uint64_t amendment, const char *reason);
ics_apply_result_t fx_respond(fx_fsm_t *fx, const char *org, const char *person,
                              uint64_t consultation, const char *consultee,
                              Ics__V1__Stance stance, const char *text,
                              Ics__V1__Opinion opinion, const char *reasons);

/* Motions; the result's position is the motion's number. */
ics_apply_result_t fx_motion(fx_fsm_t *fx, const char *org, const char *person,
                             Ics__V1__MotionPropose *m);
ics_apply_result_t fx_motion_adopt(fx_fsm_t *fx, const char *org, const char *person,
                                   const char *plan, uint32_t version);
ics_apply_result_t fx_motion_accept(fx_fsm_t *fx, const char *org, const char *person,
                                    uint64_t amendment);
/* consultees: a NULL-terminated list. */
ics_apply_result_t fx_motion_consult(fx_fsm_t *fx, const char *org, const char *person,
                                     const char *plan, uint32_t version, uint64_t opens_ms,
                                     uint64_t closes_ms, const char *const *consultees);
ics_apply_result_t fx_motion_close(fx_fsm_t *fx, const char *org, const char *person,
                                   uint64_t consultation);
ics_apply_result_t fx_motion_policy(fx_fsm_t *fx, const char *org, const char *person,
                                    Ics__V1__Policy *policy);
ics_apply_result_t fx_motion_admit(fx_fsm_t *fx, const char *org, const char *person,
                                   const char *id, const char *kind, const uint8_t *pk);
ics_apply_result_t fx_motion_withdraw(fx_fsm_t *fx, const char *org, const char *person,
                                      uint64_t motion);
ics_apply_result_t fx_vote(fx_fsm_t *fx, const char *org, const char *person, uint64_t motion,
                           Ics__V1__VoteChoice choice, const char *reason);

/* ---------------------------------------------------------------- commands as values */

#define FX_OPEL_PARAMS 20

/* A command with room for its body, built by fx_cmd_*() for tests that
 * sign and apply in their own way (several groups, raw envelopes); the
 * senders below use the same builders. cmd points into the struct: build
 * it where it stays and do not copy it. The actor is left NULL. */
typedef struct {
    Ics__V1__Command cmd;
    union {
        Ics__V1__Raw raw;
        Ics__V1__ClockTick tick;
        Ics__V1__Checkpoint checkpoint;
        Ics__V1__MemberAdd member_add;
        Ics__V1__MemberRemove member_remove;
        Ics__V1__KeyRotate key_rotate;
        Ics__V1__OpelReport opel_report;
        Ics__V1__AidRequest aid_request;
        Ics__V1__AidOffer aid_offer;
        Ics__V1__AidAccept aid_accept;
        Ics__V1__AidApprove aid_approve;
        Ics__V1__AidDeliver aid_deliver;
        Ics__V1__AidReturn aid_return;
        Ics__V1__AidWithdraw aid_withdraw;
        Ics__V1__AidCancel aid_cancel;
        Ics__V1__AidEscalate aid_escalate;
        Ics__V1__AidRegion aid_region;
        Ics__V1__AidLinkUpdate aid_link_update;
        Ics__V1__AidLinkCancel aid_link_cancel;
    } body;
    char text[2][128];       /* names and endpoints made up for the body */
    uint8_t bytes[2][64];    /* a checkpoint's root and cosignature */
    Ics__V1__OpelParameter param[FX_OPEL_PARAMS], *param_p[FX_OPEL_PARAMS];
    char param_name[FX_OPEL_PARAMS][64];
} fx_cmd_t;

/* An aid request's fields (0 / "" : not given). */
typedef struct {
    const char *resource, *specialty, *site, *reason, *contact;
    uint64_t quantity, from, until, expires;
    int urgency;
    uint32_t escalate_after_s;
    bool no_auto;
} fx_aid_req_t;

/* n general and acute beds within 4 hours, for an ED at OPEL 4. */
fx_aid_req_t fx_aid_beds(uint64_t n);

void fx_cmd_raw(fx_cmd_t *c, const char *note);
void fx_cmd_tick(fx_cmd_t *c, uint64_t now_ms);
void fx_cmd_checkpoint(fx_cmd_t *c, uint64_t position, const uint8_t *chain, size_t len);
/* Sets a checkpoint's root and key's cosignature of the tree head
 * (group, its position, root). */
void fx_cmd_cosign(fx_cmd_t *c, const char *group, const uint8_t root[32],
                   const ics_identity_t *key);
/* Named "Organisation ORG", endpoint tcp://ORG.example.nhs.uk:7400. */
void fx_cmd_member_add(fx_cmd_t *c, const char *org, const char *kind, const uint8_t *pk,
                       size_t pk_len, bool voter);
void fx_cmd_member_remove(fx_cmd_t *c, const char *org);
void fx_cmd_key_rotate(fx_cmd_t *c, const char *org, const uint8_t *pk, size_t pk_len);
/* Parameters as "name=value" strings, then NULL. */
void fx_cmd_opel(fx_cmd_t *c, unsigned level, const char *type, const char *note, ...);
void fx_cmd_opel_v(fx_cmd_t *c, unsigned level, const char *type, const char *note,
                   va_list params);
void fx_cmd_aid_request(fx_cmd_t *c, const fx_aid_req_t *q);
void fx_cmd_aid_offer(fx_cmd_t *c, uint64_t request, uint64_t qty, uint64_t valid_until);
void fx_cmd_aid_accept(fx_cmd_t *c, uint64_t offer, uint64_t qty);
void fx_cmd_aid_approve(fx_cmd_t *c, uint64_t offer, bool decline);
void fx_cmd_aid_deliver(fx_cmd_t *c, uint64_t offer);
void fx_cmd_aid_return(fx_cmd_t *c, uint64_t offer);
void fx_cmd_aid_withdraw(fx_cmd_t *c, uint64_t offer);
void fx_cmd_aid_cancel(fx_cmd_t *c, uint64_t request);
void fx_cmd_aid_escalate(fx_cmd_t *c, uint64_t request);
void fx_cmd_aid_region(fx_cmd_t *c, const char *region);
/* The figures (quantities, offers) are left 0 for the caller to set. */
void fx_cmd_aid_link_update(fx_cmd_t *c, uint64_t home_request, const char *region,
                            uint64_t region_request, uint64_t revision, const char *status);
void fx_cmd_aid_link_cancel(fx_cmd_t *c, const char *home_group, uint64_t home_request,
                            const char *reason);

/* The same, signed as org (acting: person) and applied. */
ics_apply_result_t fx_raw(fx_fsm_t *fx, const char *org, const char *person, const char *note);
/* With the root of the fixture's history at position (zeros if it has
 * none), cosigned by org. */
ics_apply_result_t fx_checkpoint(fx_fsm_t *fx, const char *org, uint64_t position,
                                 const uint8_t *chain, size_t len);
ics_apply_result_t fx_member_add(fx_fsm_t *fx, const char *signer, const char *org,
                                 const char *kind, const uint8_t *pk, size_t pk_len, bool voter);
ics_apply_result_t fx_member_remove(fx_fsm_t *fx, const char *signer, const char *org);
ics_apply_result_t fx_key_rotate(fx_fsm_t *fx, const char *signer, const char *org,
                                 const uint8_t *pk, size_t pk_len);
ics_apply_result_t fx_opel(fx_fsm_t *fx, const char *org, const char *person, unsigned level,
                           const char *type, const char *note, ...);
ics_apply_result_t fx_aid_request(fx_fsm_t *fx, const char *org, const char *person,
                                  const fx_aid_req_t *q);
ics_apply_result_t fx_aid_offer(fx_fsm_t *fx, const char *org, const char *person,
                                uint64_t request, uint64_t qty, uint64_t valid_until);
ics_apply_result_t fx_aid_accept(fx_fsm_t *fx, const char *org, const char *person,
                                 uint64_t offer, uint64_t qty);
ics_apply_result_t fx_aid_approve(fx_fsm_t *fx, const char *org, const char *person,
                                  uint64_t offer, bool decline);
ics_apply_result_t fx_aid_deliver(fx_fsm_t *fx, const char *org, const char *person,
                                  uint64_t offer);
ics_apply_result_t fx_aid_return(fx_fsm_t *fx, const char *org, const char *person,
                                 uint64_t offer);
ics_apply_result_t fx_aid_withdraw(fx_fsm_t *fx, const char *org, const char *person,
                                   uint64_t offer);
ics_apply_result_t fx_aid_cancel(fx_fsm_t *fx, const char *org, const char *person,
                                 uint64_t request);
ics_apply_result_t fx_aid_escalate(fx_fsm_t *fx, const char *org, const char *person,
                                   uint64_t request);
ics_apply_result_t fx_aid_region(fx_fsm_t *fx, const char *org, const char *person,
                                 const char *region);
ics_apply_result_t fx_aid_link_update(fx_fsm_t *fx, const char *org, const char *person,
                                      uint64_t home_request, const char *region,
                                      uint64_t region_request, uint64_t revision,
                                      const char *status);
ics_apply_result_t fx_aid_link_cancel(fx_fsm_t *fx, const char *org, const char *person,
                                      const char *home_group, uint64_t home_request);

/* ---------------------------------------------------------------- assertions */

#define FX_ACCEPTED(expr)                                                                   \
    do {                                                                                    \
        ics_apply_result_t r_ = (expr);                                                     \
        if (!r_.accepted)                                                                   \
            fail_msg("%s:%d: expected accepted, got rejected: %s", __FILE__, __LINE__,      \
                     r_.reason);                                                            \
    } while (0)

/* The entry is rejected and its reason contains each of the strings. */
#define FX_REJECTED(expr, ...)                                                              \
    do {                                                                                    \
        ics_apply_result_t r_ = (expr);                                                     \
        const char *want_[] = {__VA_ARGS__, NULL};                                          \
        if (r_.accepted)                                                                    \
            fail_msg("%s:%d: expected rejected, got accepted", __FILE__, __LINE__);         \
        for (size_t k_ = 0; want_[k_] != NULL; k_++)                                        \
            if (strstr(r_.reason, want_[k_]) == NULL)                                       \
                fail_msg("%s:%d: reason \"%s\" lacks \"%s\"", __FILE__, __LINE__,           \
                         r_.reason, want_[k_]);                                             \
    } while (0)

/* The text contains each of the strings. */
#define FX_CONTAINS(text, ...)                                                              \
    do {                                                                                    \
        const char *fxc_text_ = (text);                                                     \
        const char *fxc_want_[] = {__VA_ARGS__, NULL};                                      \
        for (size_t fxc_k_ = 0; fxc_want_[fxc_k_] != NULL; fxc_k_++)                        \
            if (strstr(fxc_text_, fxc_want_[fxc_k_]) == NULL) {                             \
                fprintf(stderr, "---- output:\n%s\n----\n", fxc_text_);                     \
                fail_msg("%s:%d: output lacks \"%s\"", __FILE__, __LINE__,                   \
                         fxc_want_[fxc_k_]);                                                \
            }                                                                               \
    } while (0)

#define FX_LACKS(text, s)                                                                   \
    do {                                                                                    \
        if (strstr((text), (s)) != NULL)                                                    \
            fail_msg("%s:%d: output has \"%s\":\n%s", __FILE__, __LINE__, (s), (text));     \
    } while (0)

/* ---------------------------------------------------------------- raft cluster */

typedef struct fx_cluster fx_cluster_t;

/* n (1..8) servers, each with a fresh ics_fsm of group, bootstrapped as
 * voters and started; election timeouts, snapshot thresholds and faults
 * drawn from seed (and n, so one seed gives different runs for 3 and 5). */
fx_cluster_t *fx_cluster_new(const char *group, unsigned n, uint64_t seed);
/* fx_cluster_new in two halves: the servers bootstrapped but not started,
 * so that a test can change what they load (raft_fixture_set_term,
 * raft_fixture_add_entry) or wrap their ios (daemon/raftfix.h) first. */
fx_cluster_t *fx_cluster_prepare(const char *group, unsigned n, uint64_t seed);
void fx_cluster_start(fx_cluster_t *c);
/* Between prepare and start: run raft as icsd does (daemon/group.c,
 * raftio.c): the raftfix shim on every io (libraft 0.15 defects (b) and (c),
 * docs/raft-0.15-notes.md), the commit guard on fx_cluster_submit (defect
 * (a): a held proposal returns -1 like "no leader"), icsd's heartbeat and
 * election timeouts, and fx_cluster_settle without deposing leaders. The
 * snapshot settings stay the test's (fx_cluster_snapshots). */
void fx_cluster_daemon(fx_cluster_t *c);
/* prepare, daemon, start. */
fx_cluster_t *fx_cluster_new_daemon(const char *group, unsigned n, uint64_t seed);
void fx_cluster_destroy(fx_cluster_t **self_p);
unsigned fx_cluster_size(fx_cluster_t *c);
ics_fsm_t *fx_cluster_fsm(fx_cluster_t *c, unsigned i);
/* Server i's history (in memory), kept as the daemon keeps it: appended as
 * entries apply, a gap after each snapshot install, backfilled from peers
 * by fx_cluster_backfill. */
ics_history_t *fx_cluster_history(fx_cluster_t *c, unsigned i);
/* One backfill exchange for every server with a gap, from a peer drawn
 * from the seed, with chunks of at most max_bytes; with corrupt, a chunk
 * now and then has one byte changed and must be refused (fails the test
 * otherwise). Returns entries still missing over all servers. */
uint64_t fx_cluster_backfill(fx_cluster_t *c, size_t max_bytes, bool corrupt);
uint64_t fx_cluster_time(fx_cluster_t *c);     /* fixture time, ms */
uint64_t *fx_cluster_rng(fx_cluster_t *c);     /* the seeded generator, for workloads */
struct raft_fixture *fx_cluster_raft_fixture(fx_cluster_t *c);

/* Offers entry bytes (copied) to the current leader. Returns a ticket
 * (>= 0), or -1 when no server is leader right now (step and retry). */
int fx_cluster_submit(fx_cluster_t *c, const uint8_t *buf, size_t len);
/* 0 pending, 1 applied by the leader that took it, -1 failed (e.g. that
 * leader lost office; the entry may still be committed later). */
int fx_cluster_ticket(fx_cluster_t *c, int ticket);
/* Steps until the ticket is no longer pending (at most max_ms of fixture
 * time); true if it was applied. libraft 0.15 advances the commit index
 * only when a majority has the leader's newest entry (fixed upstream in
 * 0.17.1, 1996d32), so a workload that never pauses can stall commits:
 * wait now and then, or hold back as the daemon's commit guard does
 * (daemon/raftfix.h; docs/raft-0.15-notes.md (a)). */
bool fx_cluster_wait(fx_cluster_t *c, int ticket, unsigned max_ms);
/* What the state machine of the leader that took the ticket made of the
 * entry when it applied it (position, chain, org, seq, entry id,
 * accepted, duplicate), or NULL unless the ticket was applied. */
const ics_apply_result_t *fx_cluster_ticket_result(fx_cluster_t *c, int ticket);
/* Loss check for one entry (buf, len) offered under ticket: if a leader
 * reported it applied, every server's history holds it at the position
 * that leader's state machine gave it, with the same entry id, outcome
 * and chain (or, reported a duplicate, holds the same bytes earlier);
 * fails naming the seed otherwise. Returns 1 if it was applied, else 0. */
unsigned fx_cluster_assert_acknowledged(fx_cluster_t *c, int ticket, const uint8_t *buf,
                                        size_t len);

/* Runs n fixture steps; with faults on, may first disconnect, reconnect,
 * kill or revive servers and change latencies. */
void fx_cluster_step(fx_cluster_t *c, unsigned n);
void fx_cluster_faults(fx_cluster_t *c, bool on);
/* Snapshot threshold and trailing entries on every server (threshold 0:
 * none, the default). libraft 0.15 can finish a snapshot install as a
 * candidate or leader when leadership changes meanwhile (fixed upstream in
 * 0.17.1: 4fbd3c0, 2a38d3d, 0ddb329; the daemon's io shim keeps it off,
 * docs/raft-0.15-notes.md (b)), so tests without the shim
 * (fx_cluster_daemon) turn snapshots on only where faults do not change
 * leaders. */
void fx_cluster_snapshots(fx_cluster_t *c, unsigned threshold, unsigned trailing);
/* Cuts server i off from (or reconnects it to) every other server. */
void fx_cluster_isolate(fx_cluster_t *c, unsigned i, bool isolated);
/* The current leader, or fx_cluster_size() if there is none. */
unsigned fx_cluster_leader(fx_cluster_t *c);
/* Heals every fault, elects a leader, commits a barrier and steps until
 * every server has applied the leader's log. False if it did not within
 * max_ms of fixture time. */
bool fx_cluster_settle(fx_cluster_t *c, unsigned max_ms);
/* Every server has the same position, chain head, clock and state digest
 * as server 0, and (after backfilling every gap) a byte-identical history
 * export; and each server's shadow store (icsd's raft store, store.c,
 * written with every persistent change raft asked of its io) holds raft's
 * term, vote and entries, and a state machine rebuilt from that store
 * alone reaches the server's state. Otherwise fails, naming the seed. */
void fx_cluster_assert_identical(fx_cluster_t *c);
/* Servers checked against their shadow store so far. */
unsigned fx_cluster_stored_checks(fx_cluster_t *c);
/* Removes the shadow stores' files of every cluster not destroyed, e.g.
 * one a failed test left behind (call from the test's teardown). */
void fx_cluster_remove_stores(void);
/* Faults injected so far, and snapshots servers restored (for the test's
 * report and to check a scenario did what it meant to). */
unsigned fx_cluster_fault_count(fx_cluster_t *c);
unsigned fx_cluster_restores(fx_cluster_t *c);
/* What the daemon's workarounds did (fx_cluster_daemon), summed over the
 * servers: proposals held by the commit guard, snapshot installs seen,
 * ticks held and votes dropped during them, results clamped, results
 * capped below an entry of an earlier term, barriers appended, append
 * completions held back for an earlier append. */
typedef struct {
    unsigned holds;
    uint64_t installs, ticks_held, votes_dropped, results_clamped;
    uint64_t prevterm_capped, barriers; /* (d) */
    uint64_t appends_held;
} fx_raftfix_t;
fx_raftfix_t fx_cluster_raftfix(fx_cluster_t *c);

/* A digest of every table of the state (rows in a total order). */
void fx_state_digest(ics_fsm_t *fsm, uint8_t out[32]);

uint64_t fx_rand(uint64_t *state);       /* splitmix64 */
/* Seeds to run: ICS_FIXTURE_SEED=S runs just S; ICS_FIXTURE_SEEDS=N runs
 * N seeds from ICS_FIXTURE_FIRST (default 1); otherwise 1..dflt.
 * first/count out. */
void fx_seeds(unsigned dflt, uint64_t *first, uint64_t *count);

#endif
