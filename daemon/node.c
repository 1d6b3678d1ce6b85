/*
 * Event loop and node-to-node frames.
 *
 * One thread, one zmq_poll: transport (and its ZAP handler), control
 * socket, raft ticks, pings and leader duties. Each turn ends with a group
 * commit per group, so every raft append that arrived during the turn is
 * written in one transaction before raft hears it is stored. Beside it
 * only ZeroMQ's I/O thread and the verifier's (verifier.h), which checks
 * received signatures ahead of apply and shares nothing with the loop but
 * its queue and the signature memo.
 *
 * Frame admission: a frame must decode, carry our wire version, name a
 * group we are in, and come from an organisation that is a member of that
 * group; anything else is dropped and counted, never trusted. Frames no
 * correct peer sends (undecodable, another version, a ping or pong not
 * signed by its sender for us, a forward that is not the sender's
 * envelope for the group, a raft message its group's io finds invalid)
 * are also counted against the peer by the transport, which backs off a
 * peer that sends too many.
 *
 * What operators see: groups and the transport keep state, not history,
 * so the loop looks at them every WATCH_MS (s_watch) and logs what changed
 * since the last look: leadership, terms and leaders, quorum, snapshots,
 * rejected entries (rate-limited; every entry at debug), checkpoint
 * alarms, peers connected and lost. The same look keeps systemd's STATUS=
 * current. Under journald each of these lines carries structured fields:
 * ICS_EVENT (what happened), GROUP, PEER, ORG, TERM, POSITION, REASON.
 *
 * SIGHUP (s_reload) re-reads the configuration: log_level is applied, and
 * every other change is named as needing a restart.
 *
 * The data directory is watched too (s_files_check, every FILES_CHECK_MS):
 * SQLite keeps writing to files it has open even once they are unlinked, so
 * a data directory removed or replaced under a running node would go on
 * "storing" and acknowledging into files no restart will ever see. The
 * directory, the lock file and each group's directory and databases must
 * stay the files they were at start-up (device and inode); if one does not,
 * the node logs what happened at error level and stops with a failure
 * (systemd restarts it from what is on disk then).
 */
#include "node.h"
#include "nodeview_impl.h"
#include "bridge.h"
#include "control.h"

#include "common/envelope.h"
#include "common/keys.h"
#include "common/sigmemo.h"

#include <assert.h>
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "http.h"
#include "ics/v1/wire.pb-c.h"
#include "notify.h"
#include "raftio.h"
#include "verifier.h"
#include "wire.h"

#define WATCH_MS 200           /* how often the loop looks for changes */
#define SLOW_WATCH_MS 1000     /* ... and for those that cost a query */
#define STATUS_MIN_MS 1000     /* STATUS= with new positions, at most this often */
#define LIMIT_WINDOW_MS 60000  /* rate limits count lines per minute */
#define REJECTIONS_PER_MIN 10  /* rejected entries logged per group */
#define PEER_EVENTS_PER_MIN 20 /* peers connected and lost */
#define SCAN_MAX 256           /* history entries read per look */
#define PINGS_KEPT 256         /* pings remembered, to recognise their pongs */
#define FILES_CHECK_MS 1000    /* how often the data directory is looked at */
#define FILES_MAX (2 + 4 * ICS_MAX_GROUPS)

/* At most burst lines a minute; the rest are counted and the count logged
 * when the minute is over. */
typedef struct {
    const char *what;
    uint64_t start_ms;
    unsigned used;
    uint64_t dropped;
} s_limit_t;

/* What was last logged of a group. */
typedef struct {
    bool seen;
    char role[16];
    char leader[ICS_ORG_MAX];
    uint64_t term;
    int quorum;                 /* -1 not judged yet, 0 lost, 1 held */
    uint64_t snapshot_index;    /* raft's latest snapshot */
    uint64_t snapshots_in;      /* snapshots received so far */
    uint64_t rejected;          /* rejections counted so far */
    uint64_t scanned;           /* history position looked at */
    uint64_t replayed_to;       /* positions applied before this run */
    bool alarm;
    s_limit_t rejections;
} s_gwatch_t;


struct ics_watch {
    s_gwatch_t g[ICS_MAX_GROUPS];
    struct {
        char org[ICS_ORG_MAX];
        bool connected;
    } peers[ICS_MAX_ORGS];
    size_t n_peers;
    s_limit_t peer_events;
    uint64_t next_ms, next_slow_ms;
    char status_key[512];       /* roles and leaders of the last STATUS= */
    char status[1024];          /* the last STATUS= */
    uint64_t status_ms;
    struct {
        uint64_t nonce, sent_us;
    } pings[PINGS_KEPT];        /* ring of pings sent */
    size_t pings_next;
    uint64_t foreign_pong_ms;   /* when another node's pong was last logged */
    struct {
        char path[PATH_MAX + 32];
        dev_t dev;
        ino_t ino;
    } files[FILES_MAX];         /* the data directory as it was at start-up */
    size_t n_files;
    uint64_t files_next_ms;
};

/* Structured fields of a log line (see ics_log_fields). */
typedef struct {
    char text[8][160];
    const char *list[9];
    size_t n;
} s_fields_t;

static void s_field(s_fields_t *f, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_field(s_fields_t *f, const char *name, const char *fmt, ...)
{
    va_list ap;
    int k;
    if (f->n >= 8)
        return;
    k = snprintf(f->text[f->n], sizeof f->text[0], "%s=", name);
    va_start(ap, fmt);
    vsnprintf(f->text[f->n] + k, sizeof f->text[0] - (size_t)k, fmt, ap);
    va_end(ap);
    f->list[f->n] = f->text[f->n];
    f->list[++f->n] = NULL;
}


static void s_send_frame(ics_node_t *self, const char *to, Ics__V1__Frame *frame)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (ics_pack(&frame->base, &buf, &len) == ICS_OK)
        ics_transport_send(self->transport, to, buf, len);
    free(buf);
}

static void s_send_pings(ics_node_t *self)
{
    ics_peer_info_t peers[ICS_MAX_ORGS];
    size_t n = ics_transport_peers(self->transport, peers, ICS_MAX_ORGS);

    for (size_t i = 0; i < n; i++) {
        Ics__V1__Frame frame = ICS__V1__FRAME__INIT;
        Ics__V1__Ping ping = ICS__V1__PING__INIT;
        uint8_t input[512], sig[ICS_SIG_BYTES];
        const char *group = NULL;
        size_t len;

        /* Name a group both belong to, so the peer can admit the frame. */
        for (size_t g = 0; g < self->n_groups && group == NULL; g++)
            if (ics_group_is_member(self->groups[g], peers[i].org))
                group = ics_group_name(self->groups[g]);
        if (group == NULL)
            continue;
        ping.from = (char *)self->cfg->org;
        ping.to = (char *)peers[i].org;
        ping.nonce = ++self->ping_nonce;
        ping.sent_ms = ics_mono_us();
        self->watch->pings[self->watch->pings_next].nonce = ping.nonce;
        self->watch->pings[self->watch->pings_next].sent_us = ping.sent_ms;
        self->watch->pings_next = (self->watch->pings_next + 1) % PINGS_KEPT;
        len = ics_ping_input(input, sizeof input, ICS_PING_DOMAIN, group, ping.from, ping.to,
                             ping.nonce, ping.sent_ms);
        ics_identity_sign(self->id, input, len, sig);
        ping.signature.data = sig;
        ping.signature.len = sizeof sig;
        frame.version = ICS_WIRE_VERSION;
        frame.group = (char *)group;
        frame.body_case = ICS__V1__FRAME__BODY_PING;
        frame.ping = &ping;
        s_send_frame(self, peers[i].org, &frame);
    }
}

/* The key a peer signs with: the group's if it has one (it may have been
 * rotated), else the configured one. */
static bool s_peer_key(ics_node_t *self, ics_group_t *g, const char *org,
                       uint8_t pk[ICS_PK_BYTES])
{
    if (ics_group_member_key(g, org, pk) == ICS_OK)
        return true;
    const ics_org_cfg_t *o = ics_config_org(self->cfg, org);
    if (o == NULL)
        return false;
    memcpy(pk, o->public_key, ICS_PK_BYTES);
    return true;
}

static void s_on_ping(ics_node_t *self, ics_group_t *g, const char *from,
                      const Ics__V1__Frame *frame)
{
    const Ics__V1__Ping *ping = frame->ping;
    Ics__V1__Frame reply = ICS__V1__FRAME__INIT;
    Ics__V1__Pong pong = ICS__V1__PONG__INIT;
    uint8_t input[512], sig[ICS_SIG_BYTES], pk[ICS_PK_BYTES];
    size_t len;

    if (!s_peer_key(self, g, from, pk) ||
        !ics_ping_ok(ICS_PING_DOMAIN, frame->group, ping->from, ping->to, ping->nonce,
                     ping->sent_ms, &ping->signature, from, self->cfg->org, pk)) {
        self->drops.bad_frames++;
        ics_transport_note_invalid(self->transport, from, ICS_INVALID_SIGNATURE);
        return;
    }
    pong.from = (char *)self->cfg->org;
    pong.to = (char *)from;
    pong.nonce = ping->nonce;
    pong.echo_ms = ping->sent_ms;
    len = ics_ping_input(input, sizeof input, ICS_PONG_DOMAIN, frame->group, pong.from, pong.to,
                         pong.nonce, pong.echo_ms);
    ics_identity_sign(self->id, input, len, sig);
    pong.signature.data = sig;
    pong.signature.len = sizeof sig;
    reply.version = ICS_WIRE_VERSION;
    reply.group = frame->group;
    reply.body_case = ICS__V1__FRAME__BODY_PONG;
    reply.pong = &pong;
    s_send_frame(self, from, &reply);
}

/* Did this node send the ping a pong answers? false only when sure: the
 * ping would still be remembered, and it is not. A pong signed by a peer
 * for us, for a ping we never sent, answers another node that signs with
 * our key: two nodes run as this organisation. */
static bool s_our_ping(const ics_node_t *self, uint64_t nonce, uint64_t sent_us)
{
    const struct ics_watch *w = self->watch;
    uint64_t oldest = UINT64_MAX;
    for (size_t i = 0; i < PINGS_KEPT; i++) {
        if (w->pings[i].nonce == 0)
            continue;
        if (w->pings[i].nonce == nonce && w->pings[i].sent_us == sent_us)
            return true;
        if (w->pings[i].sent_us < oldest)
            oldest = w->pings[i].sent_us;
    }
    return oldest == UINT64_MAX || sent_us < oldest;
}

static void s_foreign_pong(ics_node_t *self, const char *from, const char *group)
{
    uint64_t now = ics_mono_ms();
    s_fields_t f = {0};

    self->drops.bad_frames++;
    if (self->watch->foreign_pong_ms != 0 && now - self->watch->foreign_pong_ms < 60000)
        return;
    self->watch->foreign_pong_ms = now;
    s_field(&f, "ICS_EVENT", "duplicate_identity");
    s_field(&f, "GROUP", "%s", group);
    s_field(&f, "PEER", "%s", from);
    s_field(&f, "ORG", "%s", self->cfg->org);
    ics_log_fields(ICS_LOG_ERR, f.list,
                   "%s answered a ping this node never sent: another node is running with "
                   "%s's identity key (logged at most once a minute)", from, self->cfg->org);
}

static void s_on_pong(ics_node_t *self, ics_group_t *g, const char *from,
                      const Ics__V1__Frame *frame)
{
    const Ics__V1__Pong *pong = frame->pong;
    uint8_t pk[ICS_PK_BYTES];
    uint64_t now = ics_mono_us();

    if (!s_peer_key(self, g, from, pk) ||
        !ics_ping_ok(ICS_PONG_DOMAIN, frame->group, pong->from, pong->to, pong->nonce,
                     pong->echo_ms, &pong->signature, from, self->cfg->org, pk)) {
        self->drops.bad_frames++;
        ics_transport_note_invalid(self->transport, from, ICS_INVALID_SIGNATURE);
        return;
    }
    if (!s_our_ping(self, pong->nonce, pong->echo_ms)) {
        s_foreign_pong(self, from, frame->group);
        return;
    }
    if (pong->echo_ms > now) {
        self->drops.bad_frames++;
        return;
    }
    uint64_t rtt = now - pong->echo_ms;
    ics_transport_note_rtt(self->transport, from, rtt > UINT32_MAX ? UINT32_MAX : (uint32_t)rtt);
}

/* A forwarded submission is an envelope of the frame's group by the
 * sender's own organisation (its signature is the state machine's to
 * check); a correct peer sends nothing else. */
static bool s_forward_ok(const char *from, const Ics__V1__Frame *frame)
{
    Ics__V1__Envelope *env = NULL;
    ics_err_t err;
    bool ok = ics_envelope_decode(frame->forward->envelope.data, frame->forward->envelope.len,
                                  &env, &err) == ICS_OK &&
              strcmp(env->org, from) == 0 && strcmp(env->group, frame->group) == 0;
    if (env != NULL)
        ics__v1__envelope__free_unpacked(env, NULL);
    return ok;
}

/* A group's raft io dropped a message from a peer as invalid. */
static void s_on_invalid_raft(void *arg, const char *from, ics_invalid_t why)
{
    ics_node_t *self = arg;
    ics_transport_note_invalid(self->transport, from, why);
}

static void s_on_frame(void *arg, const char *from, const uint8_t *data, size_t len)
{
    ics_node_t *self = arg;
    Ics__V1__Frame *frame = ics_frame_decode(data, len);
    ics_group_t *g;

    if (frame == NULL) {
        self->drops.bad_frames++;
        ics_transport_note_invalid(self->transport, from, ICS_INVALID_FRAME);
        goto out;
    }
    g = ics_node_group(self, frame->group);
    if (g == NULL || frame->group[0] == '\0') {
        self->drops.unknown_group++;
        goto out;
    }
    if (!ics_group_is_member(g, from)) {
        self->drops.not_member++;
        goto out;
    }
    switch (frame->body_case) {
    case ICS__V1__FRAME__BODY_PING:
        s_on_ping(self, g, from, frame);
        break;
    case ICS__V1__FRAME__BODY_PONG:
        s_on_pong(self, g, from, frame);
        break;
    case ICS__V1__FRAME__BODY_FORWARD:
        if (!s_forward_ok(from, frame)) {
            self->drops.bad_frames++;
            ics_transport_note_invalid(self->transport, from, ICS_INVALID_ENTRY);
            break;
        }
        ics_group_frame(g, from, frame);
        break;
    case ICS__V1__FRAME__BODY_RAFT:
    case ICS__V1__FRAME__BODY_HISTORY_REQUEST:
    case ICS__V1__FRAME__BODY_HISTORY_CHUNK:
        ics_group_frame(g, from, frame);
        break;
    default:
        self->drops.bad_frames++;
        ics_transport_note_invalid(self->transport, from, ICS_INVALID_FRAME);
        break;
    }
out:
    if (frame != NULL)
        ics__v1__frame__free_unpacked(frame, NULL);
}

/* Was the configured key rotated away from (KEY_FILE.old holds it)? */
static bool s_rotated_from(const ics_config_t *cfg, const uint8_t pk[ICS_PK_BYTES])
{
    char old[PATH_MAX + 8];
    ics_identity_t *id;
    bool match;

    snprintf(old, sizeof old, "%s.old", cfg->key_file);
    id = ics_identity_load(old, NULL);
    match = id != NULL && memcmp(ics_identity_public(id), pk, ICS_PK_BYTES) == 0;
    ics_identity_destroy(&id);
    return match;
}

/* The log put a new key in force for our organisation. The operator
 * prepared it as KEY_FILE.next (icsd keygen KEY_FILE.next); switch to it
 * and keep the old one as KEY_FILE.old. Without it, this node can no
 * longer sign or connect: say so loudly. */
static void s_own_key(void *arg, const uint8_t pk[ICS_PK_BYTES])
{
    ics_node_t *self = arg;
    char next[PATH_MAX + 8], old[PATH_MAX + 8];
    ics_identity_t *id;
    ics_err_t err;

    if (memcmp(pk, ics_identity_public(self->id), ICS_PK_BYTES) == 0)
        return; /* already switched (another group applied it first) */
    snprintf(next, sizeof next, "%s.next", self->cfg->key_file);
    snprintf(old, sizeof old, "%s.old", self->cfg->key_file);
    if (access(next, F_OK) != 0) {
        /* Also seen when replaying an old rotation at start-up. */
        ics_warn("the log puts a new key in force for %s and there is no %s: if this node "
                 "does not hold that key, it cannot sign or connect until restarted with it",
                 self->cfg->org, next);
        return;
    }
    id = ics_identity_load(next, &err);
    if (id == NULL || memcmp(ics_identity_public(id), pk, ICS_PK_BYTES) != 0) {
        ics_error("the log rotated %s's key, but %s %s; this node cannot sign or connect "
                  "until it is restarted with the new key file", self->cfg->org, next,
                  id == NULL ? err.msg : "holds a different key");
        ics_identity_destroy(&id);
        return;
    }
    if (ics_transport_set_identity(self->transport, id, &err) != ICS_OK) {
        ics_error("switching to the rotated key: %s", err.msg);
        ics_identity_destroy(&id);
        return;
    }
    for (size_t i = 0; i < self->n_groups; i++)
        ics_group_set_identity(self->groups[i], id);
    ics_identity_destroy(&self->id);
    self->id = id;
    if (rename(self->cfg->key_file, old) != 0 || rename(next, self->cfg->key_file) != 0)
        ics_error("switched to the rotated key, but could not move %s into place: %s; do it "
                  "before the next restart", next, strerror(errno));
    else
        ics_notice("switched to the rotated key of %s (old key kept as %s); update public_key "
                   "in the [org %s] sections of the members' configurations", self->cfg->org,
                   old, self->cfg->org);
}

static int s_files_note(ics_node_t *self, ics_err_t *err);

ics_node_t *ics_node_new(const ics_config_t *cfg, volatile sig_atomic_t *stop, ics_err_t *err)
{
    ics_node_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        ics_err(err, ICS_ENOMEM, "out of memory");
        return NULL;
    }
    self->cfg = cfg;
    self->stop = stop;
    self->started_ms = ics_mono_ms();
    self->log_level = cfg->log_level;
    self->watch = calloc(1, sizeof *self->watch);
    if (self->watch == NULL) {
        ics_err(err, ICS_ENOMEM, "out of memory");
        goto fail;
    }
    self->id = ics_identity_load(cfg->key_file, err);
    if (self->id == NULL)
        goto fail;
    const ics_org_cfg_t *me = ics_config_org(cfg, cfg->org);
    if (sodium_memcmp(me->public_key, ics_identity_public(self->id), ICS_PK_BYTES) != 0 &&
        !s_rotated_from(cfg, me->public_key)) {
        char pub[ICS_PUBKEY_TEXT_MAX];
        ics_pubkey_format(ics_identity_public(self->id), pub);
        ics_err(err, ICS_EKEY, "%s: key file %s holds public key %s, but [org %s] says "
                "otherwise", cfg->path, cfg->key_file, pub, cfg->org);
        goto fail;
    }
    self->zctx = zmq_ctx_new();
    if (self->zctx == NULL) {
        ics_err(err, ICS_EIO, "zmq_ctx_new: %s", zmq_strerror(errno));
        goto fail;
    }
    self->transport = ics_transport_new(self->zctx, cfg, self->id, err);
    if (self->transport == NULL)
        goto fail;
    /* Signatures seen before (signed here, or checked ahead of apply by the
     * verifier) are not verified again on the loop: sigmemo.h. 2^16 slots,
     * 2 MiB, far more than are ever in flight. */
    if (!ics_sigmemo_enable(16))
        ics_warn("signature memo: out of memory; every signature is verified on apply");
    if (cfg->verify_threads > 0 &&
        (self->verifier = ics_verifier_new(cfg->verify_threads, 8192, err)) == NULL)
        goto fail;
    for (size_t i = 0; i < cfg->n_groups; i++) {
        self->groups[i] = ics_group_new(cfg, &cfg->groups[i], self->id, self->transport,
                                        s_own_key, self, err);
        if (self->groups[i] == NULL)
            goto fail;
        self->n_groups++;
        ics_group_set_verifier(self->groups[i], self->verifier);
        ics_raftio_set_invalid_fn(ics_group_raftio(self->groups[i]), s_on_invalid_raft, self);
    }
    /* Entries up to here were applied by an earlier run: replaying them is
     * no news (their rejections were logged then). */
    for (size_t i = 0; i < self->n_groups; i++) {
        self->watch->g[i].replayed_to = ics_history_top(ics_group_history(self->groups[i]));
        self->watch->g[i].quorum = -1;
        self->watch->g[i].rejections.what = "rejected entries";
    }
    self->watch->peer_events.what = "peers connected or lost";
    if (s_files_note(self, err) != ICS_OK)
        goto fail;
    self->bridge = ics_bridge_new(self);
    if (self->bridge == NULL) {
        ics_err(err, ICS_ENOMEM, "out of memory");
        goto fail;
    }
    self->control = ics_control_new(self, self->zctx, err);
    if (self->control == NULL)
        goto fail;
    if (cfg->http[0] != '\0' && (self->http = ics_http_start(self, cfg->http, err)) == NULL)
        goto fail;
    if (ics_notify_new(cfg, &self->notify, err) != ICS_OK)
        goto fail;
    return self;
fail:
    ics_node_destroy(&self);
    return NULL;
}

void ics_node_set_reload(ics_node_t *self, volatile sig_atomic_t *reload, bool verbose)
{
    self->reload = reload;
    self->verbose = verbose;
}

void ics_node_destroy(ics_node_t **self_p)
{
    ics_node_t *self;
    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    ics_notify_destroy(&self->notify);
    ics_http_stop(&self->http);
    /* Groups first: their pending submissions still answer their clients. */
    for (size_t i = 0; i < self->n_groups; i++)
        ics_group_destroy(&self->groups[i]);
    ics_bridge_destroy(&self->bridge);
    ics_verifier_destroy(&self->verifier);
    ics_control_destroy(&self->control);
    ics_transport_destroy(&self->transport);
    if (self->zctx != NULL)
        zmq_ctx_term(self->zctx);
    ics_identity_destroy(&self->id);
    free(self->watch);
    free(self);
    *self_p = NULL;
}

/* ---- watching: what the log and systemd are told ----------------------- */

static bool s_limit(s_limit_t *l, uint64_t now, unsigned burst)
{
    if (l->start_ms == 0 || now - l->start_ms >= LIMIT_WINDOW_MS) {
        l->start_ms = now;
        l->used = 0;
    }
    if (l->used < burst) {
        l->used++;
        return true;
    }
    l->dropped++;
    return false;
}

/* Once the minute is over: how many lines the limit held back. */
static void s_limit_flush(s_limit_t *l, uint64_t now, const char *group)
{
    if (l->dropped == 0 || now - l->start_ms < LIMIT_WINDOW_MS)
        return;
    if (group != NULL)
        ics_notice("group %s: %s: %llu more not logged in the last minute", group, l->what,
                   (unsigned long long)l->dropped);
    else
        ics_notice("%s: %llu more not logged in the last minute", l->what,
                   (unsigned long long)l->dropped);
    l->dropped = 0;
}

/* Leadership, term and leader: one line per look that saw a change. */
static void s_watch_leadership(ics_node_t *self, s_gwatch_t *w, const char *name,
                               const ics_group_status_t *st)
{
    bool was_leader = strcmp(w->role, "leader") == 0, is_leader = strcmp(st->role, "leader") == 0;
    s_fields_t f = {0};

    /* The first look reports a leader already known, not the lack of one. */
    if (!w->seen && st->leader[0] == '\0')
        goto out;
    if (strcmp(w->role, st->role) == 0 && strcmp(w->leader, st->leader) == 0 &&
        w->term == st->term)
        goto out;
    s_field(&f, "GROUP", "%s", name);
    s_field(&f, "TERM", "%llu", (unsigned long long)st->term);
    if (st->leader[0] != '\0')
        s_field(&f, "LEADER", "%s", st->leader);
    if (is_leader && !was_leader) {
        s_field(&f, "ICS_EVENT", "leader_won");
        ics_log_fields(ICS_LOG_NOTICE, f.list, "group %s: this node won leadership (term %llu)",
                       name, (unsigned long long)st->term);
    } else if (was_leader && !is_leader) {
        s_field(&f, "ICS_EVENT", "leader_lost");
        ics_log_fields(ICS_LOG_NOTICE, f.list,
                       "group %s: this node lost leadership (term %llu, now %s%s%s)", name,
                       (unsigned long long)st->term, st->role,
                       st->leader[0] != '\0' ? ", leader " : ", no leader",
                       st->leader[0] != '\0' ? st->leader : "");
    } else if (strcmp(w->leader, st->leader) != 0 || w->term != st->term) {
        s_field(&f, "ICS_EVENT", w->term != st->term ? "term_changed" : "leader_changed");
        if (st->leader[0] != '\0')
            ics_log_fields(ICS_LOG_INFO, f.list, "group %s: term %llu, leader %s", name,
                           (unsigned long long)st->term, st->leader);
        else
            ics_log_fields(ICS_LOG_INFO, f.list, "group %s: term %llu, no leader (this node: %s)",
                           name, (unsigned long long)st->term, st->role);
    }
out:
    ics_strcpy(w->role, sizeof w->role, st->role);
    ics_strcpy(w->leader, sizeof w->leader, st->leader);
    w->term = st->term;
}

/* Quorum as this node sees it: voters it hears from (itself included)
 * against the raft configuration. Judged once the node has had time to
 * hear from its peers after starting. */
static void s_watch_quorum(ics_node_t *self, s_gwatch_t *w, ics_group_t *g, uint64_t now)
{
    const char *orgs[ICS_MAX_ORGS];
    size_t n_orgs = ics_group_voters(g, orgs, ICS_MAX_ORGS);
    const char *name = ics_group_name(g);
    char unreachable[256] = "";
    unsigned voters = 0, reachable = 0;
    size_t ul = 0;
    s_fields_t f = {0};

    if (now - self->started_ms < 3ull * self->cfg->ping_interval_ms + self->cfg->election_ms)
        return;
    for (size_t i = 0; i < n_orgs; i++) {
        ics_peer_info_t peer;
        const char *org = orgs[i];
        voters++;
        if (strcmp(org, self->cfg->org) == 0 ||
            (ics_transport_peer(self->transport, org, &peer) && peer.connected)) {
            reachable++;
        } else if (ul + strlen(org) + 2 < sizeof unreachable) {
            ul += (size_t)snprintf(unreachable + ul, sizeof unreachable - ul, "%s%s",
                                   ul > 0 ? " " : "", org);
        }
    }
    if (voters == 0)
        return; /* joining: no configuration yet */
    int have = reachable * 2 > voters;
    if (have == w->quorum)
        return;
    s_field(&f, "GROUP", "%s", name);
    if (!have) {
        s_field(&f, "ICS_EVENT", "quorum_lost");
        ics_log_fields(ICS_LOG_WARN, f.list,
                       "group %s: quorum lost: %u of %u voters reachable (not: %s); nothing is "
                       "committed until %u are", name, reachable, voters, unreachable,
                       voters / 2 + 1);
    } else if (w->quorum == 0) {
        s_field(&f, "ICS_EVENT", "quorum_regained");
        ics_log_fields(ICS_LOG_NOTICE, f.list, "group %s: quorum regained: %u of %u voters "
                       "reachable", name, reachable, voters);
    }
    w->quorum = have;
}

static void s_watch_snapshots(s_gwatch_t *w, ics_group_t *g, const ics_group_status_t *st)
{
    const char *name = ics_group_name(g);
    uint64_t index = st->snapshot_index;
    uint64_t in = ics_raftio_stats(ics_group_raftio(g)).snapshots_received;
    s_fields_t f = {0};

    if (w->seen && index != w->snapshot_index) {
        s_field(&f, "GROUP", "%s", name);
        s_field(&f, "POSITION", "%llu", (unsigned long long)ics_fsm_position(ics_group_fsm(g)));
        if (in != w->snapshots_in) {
            s_field(&f, "ICS_EVENT", "snapshot_installed");
            ics_log_fields(ICS_LOG_NOTICE, f.list, "group %s: installed a snapshot from %s "
                           "(raft index %llu, log position %llu)", name,
                           st->leader[0] != '\0' ? st->leader : "the leader",
                           (unsigned long long)index,
                           (unsigned long long)ics_fsm_position(ics_group_fsm(g)));
        } else {
            s_field(&f, "ICS_EVENT", "snapshot_taken");
            ics_log_fields(ICS_LOG_INFO, f.list, "group %s: took a snapshot at raft index %llu",
                           name, (unsigned long long)index);
        }
    }
    w->snapshot_index = index;
    w->snapshots_in = in;
}

/* Entries applied since the last look, read back from the history: the
 * rejected ones at notice (rate-limited), all of them at debug. Only read
 * when there is something to say. */
static void s_watch_entries(ics_node_t *self, s_gwatch_t *w, ics_group_t *g, uint64_t now)
{
    const char *name = ics_group_name(g);
    uint64_t position = ics_fsm_position(ics_group_fsm(g));
    uint64_t rejected = ics_reasons_total(&ics_group_metrics(g)->rejected);
    bool debug = ics_log_level() >= ICS_LOG_DEBUG;

    if (!w->seen || position < w->scanned || (rejected == w->rejected && !debug)) {
        w->scanned = position;
        w->rejected = rejected;
        return;
    }
    w->rejected = rejected;
    if (position - w->scanned > SCAN_MAX) {
        ics_debug("group %s: positions %llu to %llu applied, not shown", name,
                  (unsigned long long)w->scanned + 1,
                  (unsigned long long)(position - SCAN_MAX));
        w->scanned = position - SCAN_MAX;
    }
    for (uint64_t p = w->scanned + 1; p <= position; p++) {
        ics_log_entry_t e;
        Ics__V1__Envelope *env = NULL;
        const ProtobufCFieldDescriptor *kind = NULL;
        const char *org = "?";
        s_fields_t f = {0};

        if (ics_history_entry(ics_group_history(g), p, &e) != ICS_OK)
            continue;
        if (ics_envelope_decode(e.envelope, e.envelope_len, &env, NULL) == ICS_OK) {
            org = env->org;
            kind = protobuf_c_message_descriptor_get_field(&ics__v1__command__descriptor,
                                                           env->kind);
        }
        const char *kind_name = kind != NULL ? kind->name : "unknown";
        if (!e.accepted && p > w->replayed_to &&
            s_limit(&w->rejections, now, REJECTIONS_PER_MIN)) {
            const char *code = ics_reason_code(e.reason);
            s_field(&f, "ICS_EVENT", "entry_rejected");
            s_field(&f, "GROUP", "%s", name);
            s_field(&f, "ORG", "%s", org);
            s_field(&f, "POSITION", "%llu", (unsigned long long)p);
            s_field(&f, "REASON", "%s", code);
            ics_log_fields(ICS_LOG_NOTICE, f.list, "group %s: entry %llu by %s (%s) rejected "
                           "[%s]: %s", name, (unsigned long long)p, org, kind_name, code,
                           e.reason);
        } else if (debug) {
            ics_debug("group %s: entry %llu by %s seq %llu (%s) %s%s%s", name,
                      (unsigned long long)p, org,
                      env != NULL ? (unsigned long long)env->seq : 0ull, kind_name,
                      e.accepted ? "accepted" : "rejected", e.accepted ? "" : ": ",
                      e.accepted ? "" : e.reason);
        }
        if (env != NULL)
            ics__v1__envelope__free_unpacked(env, NULL);
        free(e.envelope);
    }
    w->scanned = position;
}

static void s_watch_alarm(s_gwatch_t *w, ics_group_t *g)
{
    ics_checkpoint_status_t cp;
    s_fields_t f = {0};

    ics_fsm_checkpoint_status(ics_group_fsm(g), &cp);
    if (cp.alarm && !w->alarm) {
        s_field(&f, "ICS_EVENT", "checkpoint_alarm");
        s_field(&f, "GROUP", "%s", ics_group_name(g));
        ics_log_fields(ICS_LOG_ERR, f.list, "group %s: checkpoint alarm: %s", ics_group_name(g),
                       cp.alarm_text);
    }
    w->alarm = cp.alarm;
}

static void s_watch_peers(ics_node_t *self, uint64_t now)
{
    struct ics_watch *w = self->watch;
    ics_peer_info_t peers[ICS_MAX_ORGS];
    size_t n = ics_transport_peers(self->transport, peers, ICS_MAX_ORGS);

    for (size_t i = 0; i < n; i++) {
        size_t k;
        for (k = 0; k < w->n_peers; k++)
            if (strcmp(w->peers[k].org, peers[i].org) == 0)
                break;
        if (k == w->n_peers) {
            if (k == ICS_MAX_ORGS)
                continue;
            ics_strcpy(w->peers[k].org, sizeof w->peers[k].org, peers[i].org);
            w->peers[k].connected = false;
            w->n_peers++;
        }
        if (w->peers[k].connected == peers[i].connected)
            continue;
        w->peers[k].connected = peers[i].connected;
        if (!s_limit(&w->peer_events, now, PEER_EVENTS_PER_MIN))
            continue;
        s_fields_t f = {0};
        s_field(&f, "PEER", "%s", peers[i].org);
        if (peers[i].connected) {
            s_field(&f, "ICS_EVENT", "peer_connected");
            ics_log_fields(ICS_LOG_INFO, f.list, "peer %s connected (%s)", peers[i].org,
                           peers[i].endpoint);
        } else {
            s_field(&f, "ICS_EVENT", "peer_lost");
            ics_log_fields(ICS_LOG_NOTICE, f.list, "peer %s lost: nothing heard for %llu ms (%s)",
                           peers[i].org, (unsigned long long)(ics_mono_ms() - peers[i].last_seen_ms),
                           peers[i].endpoint);
        }
    }
}

/* systemd's STATUS=: each group's role, leader and applied index. Sent at
 * once when a role or leader changes, else at most once a second. */
static void s_notify_status(ics_node_t *self, const ics_group_status_t *st, uint64_t now)
{
    struct ics_watch *w = self->watch;
    char key[sizeof w->status_key], text[sizeof w->status];
    size_t kl = 0, tl = 0;

    tl += (size_t)snprintf(text, sizeof text, "%s:", self->cfg->org);
    for (size_t i = 0; i < self->n_groups; i++) {
        const char *name = ics_group_name(self->groups[i]);
        bool leader = strcmp(st[i].role, "leader") == 0;
        if (kl < sizeof key)
            kl += (size_t)snprintf(key + kl, sizeof key - kl, "%s %s %s;", name, st[i].role,
                                   st[i].leader);
        if (tl < sizeof text)
            tl += (size_t)snprintf(text + tl, sizeof text - tl, "%s %s %s%s%s, applied %llu",
                                   i > 0 ? ";" : "", name, leader ? "leader" : st[i].role,
                                   leader ? "" : (st[i].leader[0] != '\0' ? " of " : ", no leader"),
                                   leader ? "" : st[i].leader,
                                   (unsigned long long)st[i].applied_index);
    }
    if (kl == 0)
        key[0] = '\0';
    bool urgent = strcmp(key, w->status_key) != 0;
    if (strcmp(text, w->status) == 0 || (!urgent && now - w->status_ms < STATUS_MIN_MS))
        return;
    sd_notifyf(0, "STATUS=%s", text);
    ics_strcpy(w->status_key, sizeof w->status_key, key);
    ics_strcpy(w->status, sizeof w->status, text);
    w->status_ms = now;
}

static void s_watch(ics_node_t *self)
{
    struct ics_watch *w = self->watch;
    ics_group_status_t st[ICS_MAX_GROUPS];
    uint64_t now = ics_mono_ms();
    bool slow;

    if (now < w->next_ms)
        return;
    w->next_ms = now + WATCH_MS;
    slow = now >= w->next_slow_ms;
    if (slow)
        w->next_slow_ms = now + SLOW_WATCH_MS;
    for (size_t i = 0; i < self->n_groups; i++) {
        ics_group_t *g = self->groups[i];
        s_gwatch_t *gw = &w->g[i];
        ics_group_status(g, &st[i]);
        s_watch_leadership(self, gw, ics_group_name(g), &st[i]);
        s_watch_quorum(self, gw, g, now);
        if (st[i].storage_fault[0] == '\0')
            s_watch_snapshots(gw, g, &st[i]);
        s_watch_entries(self, gw, g, now);
        if (slow) {
            s_watch_alarm(gw, g);
            s_limit_flush(&gw->rejections, now, ics_group_name(g));
        }
        gw->seen = true;
    }
    s_watch_peers(self, now);
    if (slow)
        s_limit_flush(&w->peer_events, now, NULL);
    s_notify_status(self, st, now);
}

/* ---- data directory ------------------------------------------------------ */

static int s_file_note(ics_node_t *self, const char *path, ics_err_t *err)
{
    struct ics_watch *w = self->watch;
    struct stat st;

    if (w->n_files == FILES_MAX)
        return ICS_OK;
    if (stat(path, &st) != 0)
        return ics_err(err, ICS_EIO, "%s: %s", path, strerror(errno));
    ics_strcpy(w->files[w->n_files].path, sizeof w->files[w->n_files].path, path);
    w->files[w->n_files].dev = st.st_dev;
    w->files[w->n_files].ino = st.st_ino;
    w->n_files++;
    return ICS_OK;
}

static int s_files_note(ics_node_t *self, ics_err_t *err)
{
    static const char *const dbs[] = {"", "/raft.db", "/history.db", "/outbox.db"};
    char path[PATH_MAX + 32];
    int rc;

    rc = s_file_note(self, self->cfg->data_dir, err);
    snprintf(path, sizeof path, "%s/icsd.lock", self->cfg->data_dir);
    if (rc == ICS_OK && access(path, F_OK) == 0) /* tests may run without main.c's lock */
        rc = s_file_note(self, path, err);
    for (size_t g = 0; g < self->n_groups && rc == ICS_OK; g++) {
        for (size_t i = 0; i < sizeof dbs / sizeof *dbs && rc == ICS_OK; i++) {
            snprintf(path, sizeof path, "%s/%s%s", self->cfg->data_dir,
                     ics_group_name(self->groups[g]), dbs[i]);
            rc = s_file_note(self, path, err);
        }
    }
    return rc;
}

/* False, with the story logged, once a file noted at start-up is gone or
 * is another file now. */
static bool s_files_check(ics_node_t *self, uint64_t now)
{
    struct ics_watch *w = self->watch;
    s_fields_t f = {0};

    if (now < w->files_next_ms)
        return true;
    w->files_next_ms = now + FILES_CHECK_MS;
    for (size_t i = 0; i < w->n_files; i++) {
        struct stat st;
        const char *what;

        if (stat(w->files[i].path, &st) != 0)
            what = errno == ENOENT ? "has been removed" : strerror(errno);
        else if (st.st_dev != w->files[i].dev || st.st_ino != w->files[i].ino)
            what = "has been replaced by another file";
        else
            continue;
        s_field(&f, "ICS_EVENT", "data_dir_lost");
        ics_log_fields(ICS_LOG_ERR, f.list,
                       "%s %s while icsd was running (data_dir %s): what this node writes "
                       "would go to files no restart will see, so it stops acknowledging "
                       "and exits now; restore the directory from a backup or move it away "
                       "and let the node resync from its partners, then start icsd again",
                       w->files[i].path, what, self->cfg->data_dir);
        return false;
    }
    return true;
}

/* ---- reload (SIGHUP) ----------------------------------------------------- */

static const char *s_level_name(int level)
{
    static const char *names[] = {"error", "warn", "notice", "info", "debug"};
    return level >= ICS_LOG_ERR && level <= ICS_LOG_DEBUG ? names[level - ICS_LOG_ERR] : "?";
}

/* Appends item to a "; "-separated list. */
static void s_list_add(char *list, size_t size, const char *item)
{
    size_t n = strlen(list);
    if (n + 8 >= size)
        return;
    if (n + strlen(item) + 3 >= size) {
        snprintf(list + n, size - n, "%s...", n > 0 ? ", " : "");
        return;
    }
    snprintf(list + n, size - n, "%s%s", n > 0 ? ", " : "", item);
}

/* What differs between two configurations, other than log_level: the
 * settings that take effect only when the node starts. */
static void s_config_diff(const ics_config_t *a, const ics_config_t *b, char *out, size_t size)
{
#define STR(field, label) if (strcmp(a->field, b->field) != 0) s_list_add(out, size, label)
#define NUM(field, label) if (a->field != b->field) s_list_add(out, size, label)
    STR(org, "org");
    STR(key_file, "key_file");
    STR(listen, "listen");
    STR(data_dir, "data_dir");
    STR(control, "control");
    STR(http, "http");
    NUM(dashboard, "[http] dashboard");
    STR(tls_cert, "[http] tls_cert");
    STR(tls_key, "[http] tls_key");
    STR(client_ca, "[http] client_ca");
    NUM(heartbeat_ms, "[raft] heartbeat_ms");
    NUM(election_ms, "[raft] election_ms");
    NUM(snapshot_threshold, "[raft] snapshot_threshold");
    NUM(snapshot_trailing, "[raft] snapshot_trailing");
    NUM(tick_interval_ms, "[raft] tick_interval_ms");
    NUM(checkpoint_interval, "[raft] checkpoint_interval");
    NUM(backfill_chunk_bytes, "[raft] backfill_chunk_bytes");
    NUM(ping_interval_ms, "[transport] ping_interval_ms");
    NUM(max_message_bytes, "[transport] max_message_bytes");
    NUM(send_hwm, "[transport] send_hwm");
    NUM(reconnect_max_ms, "[transport] reconnect_max_ms");
    NUM(peer_invalid_max, "[transport] peer_invalid_max");
    NUM(peer_backoff_ms, "[transport] peer_backoff_ms");
#undef STR
#undef NUM
    char item[ICS_ORG_MAX + ICS_GROUP_MAX + 48];
    for (size_t i = 0; i < b->n_orgs; i++) {
        const ics_org_cfg_t *o = &b->orgs[i], *was = ics_config_org(a, o->id);
        if (was == NULL) {
            snprintf(item, sizeof item, "[org %s] (new)", o->id);
            s_list_add(out, size, item);
            continue;
        }
        const char *what[4] = {NULL};
        size_t nw = 0;
        if (strcmp(was->kind, o->kind) != 0)
            what[nw++] = "kind";
        if (strcmp(was->name, o->name) != 0)
            what[nw++] = "name";
        if (strcmp(was->endpoint, o->endpoint) != 0)
            what[nw++] = "endpoint";
        if (memcmp(was->public_key, o->public_key, ICS_PK_BYTES) != 0)
            what[nw++] = "public_key";
        for (size_t k = 0; k < nw; k++) {
            snprintf(item, sizeof item, "[org %s] %s", o->id, what[k]);
            s_list_add(out, size, item);
        }
    }
    for (size_t i = 0; i < a->n_orgs; i++)
        if (ics_config_org(b, a->orgs[i].id) == NULL) {
            snprintf(item, sizeof item, "[org %s] (removed)", a->orgs[i].id);
            s_list_add(out, size, item);
        }
    for (size_t i = 0; i < b->n_groups; i++) {
        const ics_group_cfg_t *g = &b->groups[i], *was = ics_config_group(a, g->name);
        bool same = was != NULL && was->n_members == g->n_members &&
                    strcmp(was->admin, g->admin) == 0 && was->join == g->join &&
                    strcmp(was->policy, g->policy) == 0 &&
                    strcmp(was->escalate_to, g->escalate_to) == 0;
        for (size_t m = 0; same && m < g->n_members; m++)
            same = ics_group_has(was, g->members[m]);
        if (!same) {
            snprintf(item, sizeof item, "[group %s]%s", g->name, was == NULL ? " (new)" : "");
            s_list_add(out, size, item);
        }
    }
    for (size_t i = 0; i < a->n_groups; i++)
        if (ics_config_group(b, a->groups[i].name) == NULL) {
            snprintf(item, sizeof item, "[group %s] (removed)", a->groups[i].name);
            s_list_add(out, size, item);
        }
}

/* Reloads what can change while the node runs, the log level, and names
 * the rest. The configuration the node started with stays in force (it is
 * frozen: groups, transport and raft hold pointers into it), so a second
 * reload compares with it again. */
static void s_reload(ics_node_t *self)
{
    ics_config_t *next = calloc(1, sizeof *next);
    char restart[768] = "";
    ics_err_t err;

    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)ics_mono_us());
    if (next == NULL) {
        ics_error("reload: out of memory; nothing changed");
        goto out;
    }
    if (ics_config_load(self->cfg->path, next, &err) != ICS_OK) {
        ics_error("reload failed, nothing changed: %s", err.msg);
        goto out;
    }
    bool level_changed = next->log_level != self->log_level;
    if (level_changed) {
        if (self->verbose)
            ics_notice("reload: log_level %s noted; debug stays on (started with -v)",
                       s_level_name(next->log_level));
        else
            ics_notice("reload: log_level %s -> %s", s_level_name(self->log_level),
                       s_level_name(next->log_level));
        self->log_level = next->log_level;
        ics_log_set_level(self->verbose ? ICS_LOG_DEBUG : next->log_level);
    }
    s_config_diff(self->cfg, next, restart, sizeof restart);
    if (restart[0] != '\0')
        ics_warn("reload: changed in %s, not applied until icsd is restarted: %s",
                 self->cfg->path, restart);
    /* Where a member is reached is in its group's log (it came with the
     * genesis or the admission); the configuration's endpoint is used only
     * before a group has one. Say so rather than let a restart disappoint. */
    for (size_t i = 0; i < next->n_orgs; i++) {
        const ics_org_cfg_t *o = &next->orgs[i], *was = ics_config_org(self->cfg, o->id);
        for (size_t g = 0; was != NULL && strcmp(was->endpoint, o->endpoint) != 0 &&
                           g < self->n_groups; g++) {
            if (ics_fsm_is_member(ics_group_fsm(self->groups[g]), o->id)) {
                ics_warn("reload: [org %s] endpoint: group %s's log records where %s is "
                         "reached, and a restart keeps that too", o->id,
                         ics_group_name(self->groups[g]), o->id);
                break;
            }
        }
    }
    /* Notification targets are the notifier's own copy: started again
     * from what each has delivered (notify.db). */
    if (ics_notify_check(next, &err) != ICS_OK) {
        ics_error("reload: [notify] not changed: %s", err.msg);
    } else if (self->notify != NULL || next->n_notify > 0) {
        ics_notify_destroy(&self->notify);
        if (ics_notify_new(next, &self->notify, &err) != ICS_OK)
            ics_error("reload: notifications stopped: %s", err.msg);
        else
            ics_notice("reload: %zu [notify] section(s) in effect", next->n_notify);
    }
    if (restart[0] == '\0')
        ics_notice("reload: %s read; %s", self->cfg->path,
                   level_changed ? "all that changed is applied" : "nothing changed");
out:
    free(next);
    sd_notify(0, "READY=1");
    self->watch->status[0] = '\0'; /* STATUS= again */
}

int ics_node_run(ics_node_t *self)
{
    zmq_pollitem_t items[8];
    uint64_t watchdog_usec = 0, next_watchdog = 0;

    /* Loaded state and bound sockets: tell systemd we are up. The watchdog
     * is fed from the loop itself, so a wedged loop gets the node restarted. */
    if (sd_watchdog_enabled(0, &watchdog_usec) <= 0)
        watchdog_usec = 0;
    sd_notifyf(0, "READY=1\nSTATUS=%s in %zu group(s), listening on %s", self->cfg->org,
               self->n_groups, self->cfg->listen);

    while (!*self->stop) {
        uint64_t now = ics_mono_ms();
        long timeout = 1000;
        size_t n;

        if (self->reload != NULL && *self->reload) {
            *self->reload = 0;
            s_reload(self);
        }

        if (watchdog_usec != 0 && now >= next_watchdog) {
            sd_notify(0, "WATCHDOG=1");
            next_watchdog = now + watchdog_usec / 2000;
        }
        if (watchdog_usec != 0 && (long)(next_watchdog - now) < timeout)
            timeout = (long)(next_watchdog - now);

        if (now >= self->next_ping_ms) {
            ics_transport_revive(self->transport);
            s_send_pings(self);
            self->next_ping_ms = now + self->cfg->ping_interval_ms;
        }
        if ((long)(self->next_ping_ms - now) < timeout)
            timeout = (long)(self->next_ping_ms - now);
        ics_bridge_run(self->bridge);
        for (size_t i = 0; i < self->n_groups; i++) {
            unsigned w = ics_group_run(self->groups[i]);
            if ((long)w < timeout)
                timeout = (long)w;
        }
        for (size_t i = 0; i < self->n_groups; i++)
            ics_group_flush(self->groups[i]);
        ics_notify_run(self->notify, self->groups, self->n_groups);
        s_watch(self);
        if (!s_files_check(self, now)) {
            sd_notifyf(0, "STATUS=data directory %s vanished or was replaced: stopping",
                       self->cfg->data_dir);
            return ICS_EIO;
        }

        n = ics_transport_pollitems(self->transport, items, 8);
        items[n++] = ics_control_pollitem(self->control);
        if (self->http != NULL) {
            items[n++] = ics_http_pollitem(self->http);
            long t = ics_http_timeout(self->http);
            if (t < timeout)
                timeout = t;
        }
        if (zmq_poll(items, (int)n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            ics_error("zmq_poll: %s", zmq_strerror(errno));
            return ICS_EIO;
        }
        ics_transport_process(self->transport, s_on_frame, self);
        ics_control_process(self->control);
        if (self->http != NULL)
            ics_http_run(self->http);
        for (size_t i = 0; i < self->n_groups; i++)
            ics_group_flush(self->groups[i]);
    }
    sd_notify(0, "STOPPING=1");
    return ICS_OK;
}
