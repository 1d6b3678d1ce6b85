/*
 * Event loop and node-to-node frames.
 *
 * One thread, one zmq_poll: transport (and its ZAP handler), control
 * socket, raft ticks, pings and leader duties. Each turn ends with a group
 * commit per group, so every raft append that arrived during the turn is
 * written in one transaction before raft hears it is stored.
 *
 * Frame admission: a frame must decode, carry our wire version, name a
 * group we are in, and come from an organisation that is a member of that
 * group; anything else is dropped and counted, never trusted.
 */
#include "node.h"
#include "bridge.h"

#include "common/envelope.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "http.h"
#include "ics/v1/wire.pb-c.h"

static const char s_ping_domain[] = "ICSD-PING-V1";
static const char s_pong_domain[] = "ICSD-PONG-V1";

ics_group_t *ics_node_group(ics_node_t *self, const char *name)
{
    if ((name == NULL || name[0] == '\0') && self->n_groups == 1)
        return self->groups[0];
    for (size_t i = 0; i < self->n_groups; i++)
        if (name != NULL && strcmp(ics_group_name(self->groups[i]), name) == 0)
            return self->groups[i];
    return NULL;
}

/* Ping and pong signatures: domain, group, from, to, nonce, time. */
static size_t s_ping_input(uint8_t *buf, size_t cap, const char *domain, const char *group,
                           const char *from, const char *to, uint64_t nonce, uint64_t t)
{
    int n = snprintf((char *)buf, cap, "%s\n%s\n%s\n%s\n%llu\n%llu", domain, group, from, to,
                     (unsigned long long)nonce, (unsigned long long)t);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
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
        len = s_ping_input(input, sizeof input, s_ping_domain, group, ping.from, ping.to,
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

/* The key a peer signs with: the state machine's if it has one (it may
 * have been rotated), else the configured one. */
static bool s_peer_key(ics_node_t *self, ics_group_t *g, const char *org,
                       uint8_t pk[ICS_PK_BYTES])
{
    if (ics_fsm_member_key(ics_group_fsm(g), org, pk) == ICS_OK)
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

    len = s_ping_input(input, sizeof input, s_ping_domain, frame->group, ping->from, ping->to,
                       ping->nonce, ping->sent_ms);
    if (strcmp(ping->from, from) != 0 || strcmp(ping->to, self->cfg->org) != 0 || len == 0 ||
        ping->signature.len != ICS_SIG_BYTES || !s_peer_key(self, g, from, pk) ||
        !ics_signature_ok(pk, input, len, ping->signature.data)) {
        self->drops.bad_frames++;
        return;
    }
    pong.from = (char *)self->cfg->org;
    pong.to = (char *)from;
    pong.nonce = ping->nonce;
    pong.echo_ms = ping->sent_ms;
    len = s_ping_input(input, sizeof input, s_pong_domain, frame->group, pong.from, pong.to,
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

static void s_on_pong(ics_node_t *self, ics_group_t *g, const char *from,
                      const Ics__V1__Frame *frame)
{
    const Ics__V1__Pong *pong = frame->pong;
    uint8_t input[512], pk[ICS_PK_BYTES];
    uint64_t now = ics_mono_us();
    size_t len;

    len = s_ping_input(input, sizeof input, s_pong_domain, frame->group, pong->from, pong->to,
                       pong->nonce, pong->echo_ms);
    if (strcmp(pong->from, from) != 0 || strcmp(pong->to, self->cfg->org) != 0 || len == 0 ||
        pong->signature.len != ICS_SIG_BYTES || !s_peer_key(self, g, from, pk) ||
        !ics_signature_ok(pk, input, len, pong->signature.data) || pong->echo_ms > now) {
        self->drops.bad_frames++;
        return;
    }
    uint64_t rtt = now - pong->echo_ms;
    ics_transport_note_rtt(self->transport, from, rtt > UINT32_MAX ? UINT32_MAX : (uint32_t)rtt);
}

static void s_on_frame(void *arg, const char *from, const uint8_t *data, size_t len)
{
    ics_node_t *self = arg;
    Ics__V1__Frame *frame = ics__v1__frame__unpack(NULL, len, data);
    ics_group_t *g;

    if (frame == NULL || frame->version != ICS_WIRE_VERSION) {
        self->drops.bad_frames++;
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
    case ICS__V1__FRAME__BODY_RAFT:
    case ICS__V1__FRAME__BODY_FORWARD:
    case ICS__V1__FRAME__BODY_HISTORY_REQUEST:
    case ICS__V1__FRAME__BODY_HISTORY_CHUNK:
        ics_group_frame(g, from, frame);
        break;
    default:
        self->drops.bad_frames++;
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
    for (size_t i = 0; i < cfg->n_groups; i++) {
        self->groups[i] = ics_group_new(cfg, &cfg->groups[i], self->id, self->transport,
                                        s_own_key, self, err);
        if (self->groups[i] == NULL)
            goto fail;
        self->n_groups++;
    }
    if (ics_control_open(self, err) != ICS_OK)
        goto fail;
    if (cfg->http[0] != '\0' && (self->http = ics_http_start(self, cfg->http, err)) == NULL)
        goto fail;
    return self;
fail:
    ics_node_destroy(&self);
    return NULL;
}

void ics_node_destroy(ics_node_t **self_p)
{
    ics_node_t *self;
    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    ics_http_stop(&self->http);
    /* Groups first: their pending submissions still answer their clients. */
    for (size_t i = 0; i < self->n_groups; i++)
        ics_group_destroy(&self->groups[i]);
    ics_bridge_destroy(self);
    ics_control_close(self);
    ics_transport_destroy(&self->transport);
    if (self->zctx != NULL)
        zmq_ctx_term(self->zctx);
    ics_identity_destroy(&self->id);
    free(self);
    *self_p = NULL;
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
        ics_bridge_run(self);
        for (size_t i = 0; i < self->n_groups; i++) {
            unsigned w = ics_group_run(self->groups[i]);
            if ((long)w < timeout)
                timeout = (long)w;
        }
        for (size_t i = 0; i < self->n_groups; i++)
            ics_group_flush(self->groups[i]);

        n = ics_transport_pollitems(self->transport, items, 8);
        items[n++] = (zmq_pollitem_t){.socket = self->control, .events = ZMQ_POLLIN};
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
        ics_control_process(self);
        if (self->http != NULL)
            ics_http_run(self->http);
        for (size_t i = 0; i < self->n_groups; i++)
            ics_group_flush(self->groups[i]);
    }
    sd_notify(0, "STOPPING=1");
    return ICS_OK;
}
