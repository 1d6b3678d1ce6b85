/*
 * Workarounds for canonical raft 0.15 defects (see raftfix.h and
 * docs/raft-0.15-notes.md), each behind the public raft.h API so that a
 * move to a release that fixes them is a deletion, not a rewrite.
 *
 * The shim wraps a raft_io in place: it keeps the io's own start, send,
 * snapshot_put, append and close and puts its own in their stead, and hands
 * raft's tick and recv callbacks on through its own. struct raft_io has no
 * field left for the shim (data is raft's, impl the backend's), so a small
 * table maps each attached io to its state; the daemon and the tests run
 * raft on one thread.
 *
 * Invariants: installing is true exactly between a snapshot_put that raft
 * makes while handling an InstallSnapshot message and that put's callback;
 * in_append is true only while raft handles an AppendEntries message, and
 * then limit is prev_log_index + n_entries of that message; barrier_term is
 * the last term in which this server, leading, found an entry of its own
 * term in its log or appended a barrier to have one; s_appends holds every
 * append made through a shim and not yet reported to raft, in the order
 * raft made them, and raft learns of an append's completion only once it
 * has learnt of every earlier one of the same io and s_hold lets it go.
 */
#include "raftfix.h"

#include "raftview.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    struct raft_io *io;
    int (*start)(struct raft_io *, unsigned, raft_io_tick_cb, raft_io_recv_cb);
    int (*send)(struct raft_io *, struct raft_io_send *, const struct raft_message *,
                raft_io_send_cb);
    int (*snapshot_put)(struct raft_io *, unsigned, struct raft_io_snapshot_put *,
                        const struct raft_snapshot *, raft_io_snapshot_put_cb);
    int (*append)(struct raft_io *, struct raft_io_append *, const struct raft_entry[], unsigned,
                  raft_io_append_cb);
    void (*close)(struct raft_io *, raft_io_close_cb);
    raft_io_tick_cb tick;
    raft_io_recv_cb recv;

    /* (c) the AppendEntries being handled */
    bool in_append;
    raft_id append_from;
    raft_index limit;

    /* (b) a snapshot install in progress */
    bool in_install_message;
    bool installing;
    struct raft_io_snapshot_put *put_req;
    raft_io_snapshot_put_cb put_cb;

    /* (d) the term in which this server, leading, has an entry of its own */
    raft_term barrier_term;

    ics_raftfix_stats_t stats;
} s_fix_t;

static s_fix_t s_table[ICS_RAFTFIX_MAX];

static s_fix_t *s_find(const struct raft_io *io)
{
    for (size_t i = 0; i < ICS_RAFTFIX_MAX; i++)
        if (s_table[i].io == io)
            return &s_table[i];
    return NULL;
}

/* ---- (b): no state change while a snapshot installs ---------------------
 *
 * 0.15 restores the log to the snapshot's index when an InstallSnapshot
 * arrives and finishes the install in the io's callback. If raft becomes a
 * candidate (election timer, TimeoutNow, or a RequestVote that bumps its
 * term) or even a leader in between, the callback restores the snapshot
 * under a candidate or leader and answers the "leader" through the
 * follower fields of a union that now holds candidate or leader state.
 * Upstream 4fbd3c0 and 2a38d3d (0.17.1) keep raft a follower during an
 * install: no election on timeout, RequestVote rejected. Here the io does
 * the same from outside: ticks wait, and the two messages that can start
 * an election are dropped, as a lossy network may drop them anyway. */

static void s_own_term_entry(s_fix_t *f, struct raft *r);
static void s_cap_prevterm_result(s_fix_t *f, struct raft *r,
                                  struct raft_append_entries_result *res);
static void s_report(struct raft_io *io);

static void s_tick(struct raft_io *io)
{
    s_fix_t *f = s_find(io);
    if (f->installing) {
        f->stats.ticks_held++;
        return;
    }
    f->tick(io);
    f = s_find(io);
    if (f != NULL)
        s_own_term_entry(f, io->data);
    s_report(io);
}

static void s_recv(struct raft_io *io, struct raft_message *m)
{
    s_fix_t *f = s_find(io);

    if (f->installing && (m->type == RAFT_IO_REQUEST_VOTE || m->type == RAFT_IO_TIMEOUT_NOW)) {
        f->stats.votes_dropped++;
        return; /* neither carries memory raft would have taken */
    }
    if (m->type == RAFT_IO_APPEND_ENTRIES) {
        f->in_append = true;
        f->append_from = m->server_id;
        f->limit = m->append_entries.prev_log_index + m->append_entries.n_entries;
    }
    if (m->type == RAFT_IO_APPEND_ENTRIES_RESULT)
        s_cap_prevterm_result(f, io->data, &m->append_entries_result);
    f->in_install_message = m->type == RAFT_IO_INSTALL_SNAPSHOT;
    f->recv(io, m);
    /* raft may have closed and detached meanwhile: look again. */
    f = s_find(io);
    if (f != NULL) {
        f->in_append = false;
        f->in_install_message = false;
        s_own_term_entry(f, io->data);
    }
    /* A result may have given a majority an append the leader holds. */
    s_report(io);
}

static void s_put_done(struct raft_io_snapshot_put *req, int status)
{
    raft_io_snapshot_put_cb cb = NULL;

    for (size_t i = 0; i < ICS_RAFTFIX_MAX; i++) {
        s_fix_t *f = &s_table[i];
        if (f->io != NULL && f->installing && f->put_req == req) {
            f->installing = false;
            f->put_req = NULL;
            cb = f->put_cb;
            break;
        }
    }
    if (cb != NULL)
        cb(req, status);
}

static int s_snapshot_put(struct raft_io *io, unsigned trailing,
                          struct raft_io_snapshot_put *req, const struct raft_snapshot *snapshot,
                          raft_io_snapshot_put_cb cb)
{
    s_fix_t *f = s_find(io);
    int rv;

    /* Raft's own snapshots keep trailing entries (or are taken outside any
     * message); an install is a put with none, made while handling an
     * InstallSnapshot. */
    if (trailing != 0 || !f->in_install_message)
        return f->snapshot_put(io, trailing, req, snapshot, cb);
    f->installing = true;
    f->put_req = req;
    f->put_cb = cb;
    f->stats.installs++;
    rv = f->snapshot_put(io, trailing, req, snapshot, s_put_done);
    if (rv != 0) {
        f->installing = false;
        f->put_req = NULL;
    }
    return rv;
}

/* ---- (c): a result claims only what its request proved ------------------
 *
 * A follower whose log already holds every entry of an AppendEntries
 * answers at once with its own last stored index. If its log runs on past
 * the request with entries of an older term, the leader takes them as
 * matching its own (it caps the claim only at its own last index), sets
 * the follower's match index past the point of divergence and from then on
 * ignores the follower's rejections as stale: the follower is never
 * repaired, and the leader counts it towards a majority for entries it
 * does not hold. The request proved the log only up to prev_log_index +
 * n_entries; claim no more. The answers raft sends later, after writing new
 * entries, follow a truncation of any conflicting tail and are left alone. */

static int s_send(struct raft_io *io, struct raft_io_send *req, const struct raft_message *m,
                  raft_io_send_cb cb)
{
    s_fix_t *f = s_find(io);

    if (f->in_append && m->type == RAFT_IO_APPEND_ENTRIES_RESULT &&
        m->server_id == f->append_from && m->append_entries_result.rejected == 0 &&
        m->append_entries_result.last_log_index > f->limit) {
        struct raft_message copy = *m;
        copy.append_entries_result.last_log_index = f->limit;
        f->stats.results_clamped++;
        return f->send(io, req, &copy, cb);
    }
    return f->send(io, req, m, cb);
}

/* ---- appends reported in the order raft made them -----------------------
 *
 * 0.15 counts what is stored: each completed append adds the number of its
 * entries still in the in-memory log to last_stored (updateLastStored,
 * still so in 0.18.1), as if it followed the previous one. An io that
 * completes appends out of order (the raft fixture's, whose disk latency
 * may drop between two writes) makes raft believe entries stored that are
 * not: the leader counts itself for them, commits, and may compact them
 * into a snapshot before their write completes; that write then finds no
 * entry in the log and counts nothing, and last_stored stays behind the
 * log for good. As 0.15 tries a commit only at last_stored (see (a)), the
 * leader's newest entries then never commit while it leads. libraft's own
 * io and the daemon's (raftio.c) complete appends in order; here any io
 * does: a completion waits until every earlier append of its io has been
 * reported. The records are not the io's table entry's, so that appends
 * under way when the shim is detached are still reported (an io's close
 * completes them all); attaching an io forgets any left for its address. */

typedef struct {
    struct raft_io *io;
    struct raft_io_append *req;
    raft_io_append_cb cb;
    int status;
    bool done;
    bool held;           /* (a) was held when it completed */
    raft_term lead_term; /* the term raft led in when it made the append, 0 if it did not lead */
    raft_index last;     /* then: the last index of the append */
} s_append_t;

static s_append_t *s_appends;
static size_t s_n_appends, s_cap_appends;

static void s_append_remove(size_t k)
{
    memmove(&s_appends[k], &s_appends[k + 1], (s_n_appends - k - 1) * sizeof s_appends[0]);
    s_n_appends--;
}

/* (a) Should the oldest append of its io, done, wait before raft learns
 * of it? A leader's own write of its newest entries completes before its
 * followers' answers come back, and 0.15 then looks for a majority only at
 * that newest index, which no follower has yet: under steady load the
 * commit index stands still until proposals pause (raftfix.h, (a)). So
 * while it leads, raft learns its append completed only once enough
 * followers hold the append's last index to make a majority with it; the
 * entries were stored all along, and are counted when the majority is
 * there, at once and exactly where 1996d32 (0.17.1) would commit them. Not
 * while the last entry raft knows stored is of an earlier term: (d) then
 * cuts the followers' answers below it, and the leader's first entry of
 * its own term must be counted for them to reach it. */
static bool s_hold(const s_append_t *a)
{
    struct raft *r = a->io->data;
    raft_term term;

    if (r == NULL || a->status != 0 || a->lead_term == 0 || raft_state(r) != RAFT_LEADER)
        return false;
    term = ics_raftview_term(r);
    if (a->lead_term != term ||
        ics_raftview_entry_term(r, ics_raftview_last_stored(r)) != term)
        return false;
    return a->last > ics_raftview_quorum_match(r);
}

/* Reports io's oldest appends while they are done and not held. Raft may
 * append again from its callback: look from the start each time. */
static void s_report(struct raft_io *io)
{
    for (;;) {
        size_t k = 0;
        while (k < s_n_appends && s_appends[k].io != io)
            k++;
        if (k == s_n_appends || !s_appends[k].done || s_hold(&s_appends[k]))
            return;
        s_append_t a = s_appends[k];
        s_append_remove(k);
        if (a.held) {
            s_fix_t *f = s_find(io);
            if (f != NULL)
                f->stats.appends_counted_late++;
        }
        if (a.cb != NULL)
            a.cb(a.req, a.status);
    }
}

static void s_append_done(struct raft_io_append *req, int status)
{
    struct raft_io *io = NULL;

    for (size_t k = 0; k < s_n_appends; k++) {
        if (s_appends[k].req == req && !s_appends[k].done) {
            s_appends[k].done = true;
            s_appends[k].status = status;
            s_appends[k].held = s_hold(&s_appends[k]);
            io = s_appends[k].io;
            break;
        }
    }
    if (io == NULL)
        abort(); /* a completion of no append made here: raft would wait for ever */
    for (size_t k = 0; k < s_n_appends && s_appends[k].req != req; k++) {
        if (s_appends[k].io == io) {
            s_fix_t *f = s_find(io);
            if (f != NULL)
                f->stats.appends_held++;
            break;
        }
    }
    s_report(io);
}

static int s_append(struct raft_io *io, struct raft_io_append *req,
                    const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
    s_fix_t *f = s_find(io);
    int rv;

    if (s_n_appends == s_cap_appends) {
        size_t cap = s_cap_appends != 0 ? 2 * s_cap_appends : 64;
        s_append_t *p = realloc(s_appends, cap * sizeof *p);
        if (p == NULL)
            return RAFT_NOMEM;
        s_appends = p;
        s_cap_appends = cap;
    }
    struct raft *r = io->data;
    bool lead = r != NULL && raft_state(r) == RAFT_LEADER;
    /* A leader has put the entries in its log before writing them. */
    s_appends[s_n_appends++] = (s_append_t){.io = io, .req = req, .cb = cb,
                                            .lead_term = lead ? ics_raftview_term(r) : 0,
                                            .last = lead ? raft_last_index(r) : 0};
    rv = f->append(io, req, entries, n, s_append_done);
    if (rv != 0) {
        for (size_t k = s_n_appends; k-- > 0;) {
            if (s_appends[k].req == req) {
                s_append_remove(k);
                break;
            }
        }
    }
    return rv;
}

/* ---- (d): no entry of an earlier term committed by counting copies -------
 *
 * 0.15's replicationQuorum commits the leader's last stored index once a
 * majority holds it, whatever its term (upstream issue 220, fixed by PR
 * 336). Raft commits only entries of the leader's own term by counting;
 * earlier ones commit with them. A new leader whose last stored entry is
 * of an earlier term would commit it with one more copy, and a later
 * leader that won with a newer term at that index overwrites it: the
 * Figure 8 case of the Raft paper, an applied entry replaced.
 *
 * 0.15 tries a commit only at the leader's last stored index (see (a)), so
 * it is enough that no follower's match index reaches that index while it
 * is of an earlier term: such a successful result is cut to claim one
 * entry less. Raft still takes it as a success (the follower's next index
 * moves on, a probe turns into a pipeline), so replication goes on; the
 * follower's next answer after the leader has stored an entry of its own
 * term counts in full. And a leader appends a barrier as soon as it leads
 * without an entry of its own term, so that it has one to commit. */

static void s_cap_prevterm_result(s_fix_t *f, struct raft *r,
                                  struct raft_append_entries_result *res)
{
    raft_index stored;

    if (r == NULL || res->rejected != 0 || raft_state(r) != RAFT_LEADER ||
        res->term != ics_raftview_term(r))
        return; /* a rejection, or raft's to ignore or step down on */
    stored = ics_raftview_last_stored(r);
    if (stored == 0 || res->last_log_index < stored ||
        ics_raftview_entry_term(r, stored) == ics_raftview_term(r))
        return;
    res->last_log_index = stored - 1;
    f->stats.prevterm_capped++;
}

static void s_barrier_done(struct raft_barrier *req, int status)
{
    (void)status; /* applied, or leadership lost: either way it is done */
    free(req);
}

static void s_own_term_entry(s_fix_t *f, struct raft *r)
{
    raft_term term;
    struct raft_barrier *req;

    if (r == NULL || raft_state(r) != RAFT_LEADER)
        return; /* an io that no raft has taken (raft_init sets data) */
    term = ics_raftview_term(r);
    if (f->barrier_term == term)
        return;
    if (ics_raftview_entry_term(r, raft_last_index(r)) == term) {
        f->barrier_term = term;
        return;
    }
    req = calloc(1, sizeof *req);
    if (req == NULL)
        return; /* tried again at the next tick */
    if (raft_barrier(r, req, s_barrier_done) != 0) {
        free(req); /* a leadership transfer under way: tried again */
        return;
    }
    f->barrier_term = term;
    f->stats.barriers++;
}

/* raft_close has made raft unavailable: it learns of whatever it was
 * held back before the io completes the rest. */
static void s_close(struct raft_io *io, raft_io_close_cb cb)
{
    s_fix_t *f = s_find(io);
    void (*close)(struct raft_io *, raft_io_close_cb) = f->close;

    s_report(io);
    close(io, cb);
}

static int s_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
                   raft_io_recv_cb recv)
{
    s_fix_t *f = s_find(io);
    f->tick = tick;
    f->recv = recv;
    return f->start(io, msecs, s_tick, s_recv);
}

/* ---- attach ------------------------------------------------------------- */

int ics_raftfix_attach(struct raft_io *io)
{
    s_fix_t *f = s_find(io);

    if (f != NULL)
        return 0; /* already wrapped: wrapping twice would loop */
    f = s_find(NULL);
    if (f == NULL)
        return RAFT_NOMEM;
    for (size_t k = s_n_appends; k-- > 0;)
        if (s_appends[k].io == io)
            s_append_remove(k);
    memset(f, 0, sizeof *f);
    f->io = io;
    f->start = io->start;
    f->send = io->send;
    f->snapshot_put = io->snapshot_put;
    f->append = io->append;
    f->close = io->close;
    io->start = s_start;
    io->send = s_send;
    io->snapshot_put = s_snapshot_put;
    io->append = s_append;
    io->close = s_close;
    return 0;
}

void ics_raftfix_detach(struct raft_io *io)
{
    s_fix_t *f = io != NULL ? s_find(io) : NULL;
    if (f == NULL)
        return;
    io->start = f->start;
    io->send = f->send;
    io->snapshot_put = f->snapshot_put;
    io->append = f->append;
    io->close = f->close;
    memset(f, 0, sizeof *f);
}

ics_raftfix_stats_t ics_raftfix_stats(const struct raft_io *io)
{
    const s_fix_t *f = s_find(io);
    return f != NULL ? f->stats : (ics_raftfix_stats_t){0};
}

/* ---- (a): commit guard ----------------------------------------------------
 *
 * 0.15 (replicationUpdate, appendLeaderCb) checks for a majority only at
 * the leader's last stored index, never below it. A leader that stores a
 * new entry before the followers' answers for the previous one arrive
 * checks, at every answer, an index no follower has yet: under steady load
 * nothing commits, however long it runs (upstream 1996d32 checks the
 * follower's match index instead, 0.17.1). In the daemon the stall feeds
 * itself: every pending submission is proposed again each second, so the
 * log keeps growing. A short pause in new proposals lets the followers
 * store the newest entry, and that commits everything before it. */

void ics_commit_guard_init(ics_commit_guard_t *g, unsigned stall_ms, uint64_t now_ms)
{
    memset(g, 0, sizeof *g);
    g->stall_ms = stall_ms;
    g->since_ms = now_ms;
}

bool ics_commit_guard_hold(ics_commit_guard_t *g, raft_index last, raft_index applied,
                           uint64_t now_ms)
{
    if (applied != g->applied || last <= applied) {
        g->applied = applied;
        g->since_ms = now_ms;
        g->holding = false;
        return false;
    }
    if (now_ms - g->since_ms < g->stall_ms)
        return false;
    if (!g->holding)
        g->holds++;
    g->holding = true;
    return true;
}
