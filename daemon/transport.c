/*
 * CURVE transport.
 *
 * Topology: each node binds one ROUTER (CURVE server) and opens one DEALER
 * (CURVE client) per peer. Traffic is one-way per socket: a node sends on
 * its DEALER to the peer's ROUTER, and receives everything on its own
 * ROUTER. The sender of a received frame is the User-Id our ZAP handler
 * gave the connection, i.e. the organisation whose key the CURVE handshake
 * proved; nothing in the frame can claim otherwise.
 *
 * The ZAP handler runs in this thread (a REP socket polled by the event
 * loop): libzmq's I/O thread waits for it during a handshake, so the loop
 * must keep turning. A refused key is logged once, not per attempt.
 *
 * Liveness: a peer is connected when we heard from it within three ping
 * intervals (the node pings every interval). DEALERs use ZMQ_IMMEDIATE so
 * that frames for an unconnected peer are dropped and counted at once
 * rather than queued without bound.
 *
 * One key, two nodes: a peer sends on one DEALER, so its frames reach the
 * router over one connection; after a reconnect the old connection falls
 * silent. Frames under one key that keep alternating between two live
 * connections come from two nodes holding that key (s_note_route), which
 * is logged: only one of them gets the answers.
 *
 * Invalid frames: the node and each group's raft io tell the transport of
 * every frame a peer should never have sent (ics_transport_note_invalid).
 * Past peer_invalid_max of them within INVALID_WINDOW_MS the peer is
 * backed off: whatever it sends is dropped unread, and it is not counted
 * as heard from, until the back-off is over. A peer's CURVE key is its
 * identity, so this holds for every node using that key.
 */
#include "transport.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define MAX_REFUSED_LOGGED 256
/* CURVE carries a frame of n bytes as a MESSAGE command of n + 33 (name 8,
 * nonce 8, MAC 16, flags 1), and libzmq applies ZMQ_MAXMSGSIZE to that
 * command, before decryption. The router allows for it, so that every
 * frame ics_transport_send lets through (up to max_message_bytes) is
 * received rather than costing the sender its connection. */
#define CURVE_MESSAGE_OVERHEAD 33
#define ROUTE_ID_MAX 16           /* libzmq's generated routing ids are 5 bytes */
#define ROUTE_FLIPS_SUSPECT 6     /* alternations within ROUTE_WINDOW_PINGS intervals */
#define ROUTE_WINDOW_PINGS 10
#define DUPLICATE_LOG_MS 60000
#define INVALID_WINDOW_MS 10000   /* peer_invalid_max counts within this */
#define BACKOFF_MAX_MS 3600000ull /* the longest back-off */
#define BACKOFF_MEMORY_MS 3600000ull /* a back-off this soon after the last one doubles */

/* A connection a peer's frames arrived on. */
typedef struct {
    uint8_t id[ROUTE_ID_MAX];
    size_t len;
    uint64_t seen_ms;
    char address[64];         /* Peer-Address, "" if libzmq has none */
} s_route_t;

typedef struct {
    bool used;
    char org[ICS_ORG_MAX];
    char endpoint[ICS_ENDPOINT_MAX];
    uint8_t pk[ICS_PK_BYTES];
    uint8_t curve[32];
    /* During a key rotation the peer switches keys when it applies the
     * entry, which may be before or after we do: until a ping is answered
     * under the new key, the old one is still admitted and tried. */
    uint8_t old_curve[32];
    bool has_old;
    bool dial_old;
    void *dealer;
    uint64_t last_seen_ms;
    bool ever_seen;
    uint32_t rtt_us;
    uint64_t last_pong_ms;    /* or when the dealer was (re)opened */
    uint64_t revive_after_ms; /* current backoff */
    s_route_t routes[2];      /* the last two connections frames came on */
    int route;                /* the one the last frame came on */
    unsigned flips;           /* switches back to a connection still live */
    uint64_t flips_since_ms;
    uint64_t duplicate_logged_ms;
    /* Invalid frames and back-off (ics_transport_note_invalid). */
    uint64_t invalid[ICS_INVALID_REASONS];
    uint64_t window_ms;       /* when the current count began */
    unsigned window_count;
    uint64_t backoff_until_ms; /* 0: not backed off */
    uint64_t backoff_ms;       /* length of the last back-off */
    uint64_t backoff_end_ms;   /* when the last back-off ended */
    unsigned backoffs;
} s_peer_t;

struct ics_transport {
    void *zctx;
    void *router;
    void *zap;
    const ics_config_t *cfg;
    const ics_identity_t *id;
    s_peer_t peers[ICS_MAX_ORGS];
    uint8_t refused_keys[MAX_REFUSED_LOGGED][32];
    size_t n_refused_keys;
    ics_transport_stats_t stats;
};

static s_peer_t *s_find(ics_transport_t *self, const char *org)
{
    for (size_t i = 0; i < ICS_MAX_ORGS; i++)
        if (self->peers[i].used && strcmp(self->peers[i].org, org) == 0)
            return &self->peers[i];
    return NULL;
}

static s_peer_t *s_find_curve(ics_transport_t *self, const uint8_t *curve)
{
    for (size_t i = 0; i < ICS_MAX_ORGS; i++) {
        s_peer_t *p = &self->peers[i];
        if (p->used && (sodium_memcmp(p->curve, curve, 32) == 0 ||
                        (p->has_old && sodium_memcmp(p->old_curve, curve, 32) == 0)))
            return p;
    }
    return NULL;
}

static int s_setint(void *sock, int opt, int v)
{
    return zmq_setsockopt(sock, opt, &v, sizeof v);
}

static void s_close_dealer(s_peer_t *p)
{
    if (p->dealer != NULL) {
        zmq_close(p->dealer);
        p->dealer = NULL;
    }
}

static int s_open_dealer(ics_transport_t *self, s_peer_t *p, ics_err_t *err)
{
    void *d = zmq_socket(self->zctx, ZMQ_DEALER);
    int hb = (int)self->cfg->ping_interval_ms;

    if (d == NULL)
        return ics_err(err, ICS_EIO, "zmq_socket: %s", zmq_strerror(errno));
    if (zmq_setsockopt(d, ZMQ_CURVE_SERVERKEY, p->has_old && p->dial_old ? p->old_curve : p->curve,
                       32) != 0 ||
        zmq_setsockopt(d, ZMQ_CURVE_PUBLICKEY, ics_identity_curve_public(self->id), 32) != 0 ||
        zmq_setsockopt(d, ZMQ_CURVE_SECRETKEY, ics_identity_curve_secret(self->id), 32) != 0 ||
        s_setint(d, ZMQ_LINGER, 0) != 0 || s_setint(d, ZMQ_IMMEDIATE, 1) != 0 ||
        s_setint(d, ZMQ_SNDHWM, (int)self->cfg->send_hwm) != 0 ||
        s_setint(d, ZMQ_RECONNECT_IVL, 100) != 0 ||
        s_setint(d, ZMQ_RECONNECT_IVL_MAX, (int)self->cfg->reconnect_max_ms) != 0 ||
        s_setint(d, ZMQ_HEARTBEAT_IVL, hb) != 0 ||
        s_setint(d, ZMQ_HEARTBEAT_TIMEOUT, 3 * hb) != 0 ||
        s_setint(d, ZMQ_HEARTBEAT_TTL, 3 * hb) != 0) {
        zmq_close(d);
        return ics_err(err, ICS_EIO, "peer %s: socket options: %s", p->org, zmq_strerror(errno));
    }
    if (zmq_connect(d, p->endpoint) != 0) {
        zmq_close(d);
        return ics_err(err, ICS_EIO, "peer %s: connect %s: %s", p->org, p->endpoint,
                       zmq_strerror(errno));
    }
    p->dealer = d;
    p->last_pong_ms = ics_mono_ms();
    return ICS_OK;
}

int ics_transport_add_peer(ics_transport_t *self, const char *org,
                           const uint8_t pk[ICS_PK_BYTES], const char *endpoint,
                           ics_err_t *err)
{
    s_peer_t *p = s_find(self, org);
    uint8_t curve[32];

    if (ics_curve_public(pk, curve) != 0)
        return ics_err(err, ICS_EKEY, "peer %s: public key has no CURVE form", org);
    if (p != NULL) {
        if (memcmp(p->pk, pk, ICS_PK_BYTES) == 0 && strcmp(p->endpoint, endpoint) == 0)
            return ICS_OK;
        s_close_dealer(p);
        if (memcmp(p->curve, curve, 32) != 0) {
            memcpy(p->old_curve, p->curve, 32);
            p->has_old = true;
            p->dial_old = false;
        }
    } else {
        for (size_t i = 0; i < ICS_MAX_ORGS && p == NULL; i++)
            if (!self->peers[i].used)
                p = &self->peers[i];
        if (p == NULL)
            return ics_err(err, ICS_ETOOBIG, "more than %d peers", ICS_MAX_ORGS);
        memset(p, 0, sizeof *p);
        p->used = true;
        ics_strcpy(p->org, sizeof p->org, org);
    }
    memcpy(p->pk, pk, ICS_PK_BYTES);
    memcpy(p->curve, curve, 32);
    ics_strcpy(p->endpoint, sizeof p->endpoint, endpoint);
    int rc = s_open_dealer(self, p, err);
    if (rc != ICS_OK)
        p->used = false;
    return rc;
}

int ics_transport_set_identity(ics_transport_t *self, const ics_identity_t *id,
                               ics_err_t *err)
{
    /* A listener copies the socket's options when it binds, so the router
     * is re-bound to handshake with the new key; the unbind completes in
     * libzmq's I/O thread, hence the short retry. Dealers are reopened with
     * the new client keys. */
    int rc = -1;
    zmq_unbind(self->router, self->cfg->listen);
    if (zmq_setsockopt(self->router, ZMQ_CURVE_SECRETKEY, ics_identity_curve_secret(id), 32) != 0)
        return ics_err(err, ICS_EIO, "router: %s", zmq_strerror(errno));
    for (int i = 0; i < 100 && rc != 0; i++) {
        rc = zmq_bind(self->router, self->cfg->listen);
        if (rc != 0 && errno == EADDRINUSE)
            zmq_poll(NULL, 0, 10);
        else if (rc != 0)
            break;
    }
    if (rc != 0)
        return ics_err(err, ICS_EIO, "cannot listen on %s again: %s", self->cfg->listen,
                       zmq_strerror(errno));
    self->id = id;
    for (size_t i = 0; i < ICS_MAX_ORGS; i++) {
        s_peer_t *p = &self->peers[i];
        if (!p->used)
            continue;
        p->revive_after_ms = 0; /* peers learn the new key any moment now */
        s_close_dealer(p);
        if (s_open_dealer(self, p, err) != ICS_OK)
            return ICS_EIO;
    }
    return ICS_OK;
}

void ics_transport_remove_peer(ics_transport_t *self, const char *org)
{
    s_peer_t *p = s_find(self, org);
    if (p != NULL) {
        s_close_dealer(p);
        memset(p, 0, sizeof *p);
    }
}

bool ics_transport_has_peer(ics_transport_t *self, const char *org)
{
    return s_find(self, org) != NULL;
}

ics_transport_t *ics_transport_new(void *zctx, const ics_config_t *cfg,
                                   const ics_identity_t *id, ics_err_t *err)
{
    ics_transport_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        ics_err(err, ICS_ENOMEM, "out of memory");
        return NULL;
    }
    self->zctx = zctx;
    self->cfg = cfg;
    self->id = id;

    self->zap = zmq_socket(zctx, ZMQ_REP);
    if (self->zap == NULL || s_setint(self->zap, ZMQ_LINGER, 0) != 0 ||
        zmq_bind(self->zap, ZAP_ENDPOINT) != 0) {
        ics_err(err, ICS_EIO, "ZAP handler: %s", zmq_strerror(errno));
        goto fail;
    }
    self->router = zmq_socket(zctx, ZMQ_ROUTER);
    if (self->router == NULL) {
        ics_err(err, ICS_EIO, "zmq_socket: %s", zmq_strerror(errno));
        goto fail;
    }
    int64_t maxmsg = (int64_t)cfg->max_message_bytes + CURVE_MESSAGE_OVERHEAD;
    if (s_setint(self->router, ZMQ_CURVE_SERVER, 1) != 0 ||
        zmq_setsockopt(self->router, ZMQ_CURVE_SECRETKEY, ics_identity_curve_secret(id), 32) != 0 ||
        zmq_setsockopt(self->router, ZMQ_ZAP_DOMAIN, "icsd", 4) != 0 ||
        zmq_setsockopt(self->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        s_setint(self->router, ZMQ_LINGER, 0) != 0 ||
        s_setint(self->router, ZMQ_RCVHWM, (int)cfg->send_hwm) != 0 ||
        s_setint(self->router, ZMQ_HEARTBEAT_IVL, (int)cfg->ping_interval_ms) != 0) {
        ics_err(err, ICS_EIO, "router options: %s", zmq_strerror(errno));
        goto fail;
    }
    if (zmq_bind(self->router, cfg->listen) != 0) {
        ics_err(err, ICS_EIO, "cannot listen on %s: %s", cfg->listen, zmq_strerror(errno));
        goto fail;
    }
    for (size_t g = 0; g < cfg->n_groups; g++) {
        for (size_t m = 0; m < cfg->groups[g].n_members; m++) {
            const ics_org_cfg_t *o = ics_config_org(cfg, cfg->groups[g].members[m]);
            if (strcmp(o->id, cfg->org) == 0 || s_find(self, o->id) != NULL)
                continue;
            if (ics_transport_add_peer(self, o->id, o->public_key, o->endpoint, err) != 0)
                goto fail;
        }
    }
    return self;
fail:
    ics_transport_destroy(&self);
    return NULL;
}

void ics_transport_destroy(ics_transport_t **self_p)
{
    ics_transport_t *self;
    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    for (size_t i = 0; i < ICS_MAX_ORGS; i++)
        s_close_dealer(&self->peers[i]);
    if (self->router != NULL)
        zmq_close(self->router);
    if (self->zap != NULL)
        zmq_close(self->zap);
    free(self);
    *self_p = NULL;
}

int ics_transport_send(ics_transport_t *self, const char *org, const uint8_t *data,
                       size_t len)
{
    s_peer_t *p = s_find(self, org);

    if (p == NULL || p->dealer == NULL || len > self->cfg->max_message_bytes) {
        if (p != NULL && len > self->cfg->max_message_bytes)
            self->stats.oversize++;
        self->stats.dropped_send++;
        return ICS_EUNAVAIL;
    }
    if (zmq_send(p->dealer, data, len, ZMQ_DONTWAIT) < 0) {
        self->stats.dropped_send++;
        return ICS_EUNAVAIL;
    }
    self->stats.frames_out++;
    return ICS_OK;
}

size_t ics_transport_pollitems(ics_transport_t *self, zmq_pollitem_t *items, size_t max)
{
    if (max < 2)
        return 0;
    items[0] = (zmq_pollitem_t){.socket = self->router, .events = ZMQ_POLLIN};
    items[1] = (zmq_pollitem_t){.socket = self->zap, .events = ZMQ_POLLIN};
    return 2;
}

/* Reads one multipart message into up to max frames; returns frame count,
 * or -1 when nothing is waiting. Extra frames are drained and dropped. */
static int s_recv_parts(void *sock, zmq_msg_t *parts, int max)
{
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t tmp;
        zmq_msg_t *m = n < max ? &parts[n] : &tmp;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(m);
            for (int i = 0; i < n && i < max; i++)
                zmq_msg_close(&parts[i]);
            return -1;
        }
        more = zmq_msg_more(m);
        if (m == &tmp)
            zmq_msg_close(&tmp);
        n++;
    }
    return n;
}

static void s_close_parts(zmq_msg_t *parts, int n, int max)
{
    for (int i = 0; i < n && i < max; i++)
        zmq_msg_close(&parts[i]);
}

static void s_zap_reply(void *sock, const zmq_msg_t *req_id, const char *code,
                        const char *text, const char *user)
{
    zmq_send(sock, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(sock, zmq_msg_data((zmq_msg_t *)req_id), zmq_msg_size((zmq_msg_t *)req_id),
             ZMQ_SNDMORE);
    zmq_send(sock, code, strlen(code), ZMQ_SNDMORE);
    zmq_send(sock, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(sock, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(sock, "", 0, 0);
}

static void s_refused(ics_transport_t *self, const uint8_t *curve, const char *address)
{
    self->stats.refused++;
    for (size_t i = 0; i < self->n_refused_keys; i++)
        if (memcmp(self->refused_keys[i], curve, 32) == 0)
            return;
    if (self->n_refused_keys < MAX_REFUSED_LOGGED)
        memcpy(self->refused_keys[self->n_refused_keys++], curve, 32);
    char hex[65], field[96];
    ics_hex(curve, 32, hex);
    snprintf(field, sizeof field, "CURVE_KEY=%s", hex);
    const char *fields[] = {"ICS_EVENT=peer_refused", field, NULL};
    ics_log_fields(ICS_LOG_WARN, fields, "transport: refused connection from %s: CURVE key %s "
                   "is not a member's (logged once per key)", address, hex);
}

/* ZAP request frames: version, request id, domain, address, identity,
 * mechanism, then the client's 32-byte CURVE public key. */
static void s_handle_zap(ics_transport_t *self)
{
    zmq_msg_t f[8];
    int n = s_recv_parts(self->zap, f, 8);
    if (n < 0)
        return;
    if (n < 7 || zmq_msg_size(&f[5]) != 5 || memcmp(zmq_msg_data(&f[5]), "CURVE", 5) != 0 ||
        zmq_msg_size(&f[6]) != 32) {
        s_zap_reply(self->zap, n >= 2 ? &f[1] : &f[0], "400", "CURVE required", "");
        self->stats.refused++;
        s_close_parts(f, n, 8);
        return;
    }
    const uint8_t *curve = zmq_msg_data(&f[6]);
    s_peer_t *p = s_find_curve(self, curve);
    if (p != NULL) {
        s_zap_reply(self->zap, &f[1], "200", "OK", p->org);
    } else {
        char addr[64] = "";
        size_t al = zmq_msg_size(&f[3]) < sizeof addr - 1 ? zmq_msg_size(&f[3]) : sizeof addr - 1;
        memcpy(addr, zmq_msg_data(&f[3]), al);
        s_zap_reply(self->zap, &f[1], "400", "not a member", "");
        s_refused(self, curve, addr);
    }
    s_close_parts(f, n, 8);
}

static void s_note_route(ics_transport_t *self, s_peer_t *p, zmq_msg_t *rid, zmq_msg_t *body)
{
    uint64_t now = ics_mono_ms(), ping = self->cfg->ping_interval_ms;
    size_t len = zmq_msg_size(rid);
    int k = -1;

    if (len == 0 || len > ROUTE_ID_MAX)
        return;
    for (int i = 0; i < 2; i++)
        if (p->routes[i].len == len && memcmp(p->routes[i].id, zmq_msg_data(rid), len) == 0)
            k = i;
    if (now - p->flips_since_ms > ROUTE_WINDOW_PINGS * ping) {
        p->flips = 0;
        p->flips_since_ms = now;
    }
    if (k < 0) {
        /* A new connection takes the place of the one heard from longest ago. */
        k = p->routes[0].seen_ms <= p->routes[1].seen_ms ? 0 : 1;
        memcpy(p->routes[k].id, zmq_msg_data(rid), len);
        p->routes[k].len = len;
        const char *addr = zmq_msg_gets(body, "Peer-Address");
        ics_strcpy(p->routes[k].address, sizeof p->routes[k].address, addr != NULL ? addr : "");
    } else if (k != p->route && p->routes[p->route].len > 0 &&
               now - p->routes[p->route].seen_ms <= 2 * ping) {
        p->flips++;
    }
    p->route = k;
    p->routes[k].seen_ms = now;
    if (p->flips < ROUTE_FLIPS_SUSPECT ||
        (p->duplicate_logged_ms != 0 && now - p->duplicate_logged_ms < DUPLICATE_LOG_MS))
        return;
    p->duplicate_logged_ms = now;
    char pf[ICS_ORG_MAX + 8];
    snprintf(pf, sizeof pf, "PEER=%s", p->org);
    const char *fields[] = {"ICS_EVENT=duplicate_identity", pf, NULL};
    ics_log_fields(ICS_LOG_ERR, fields,
                   "transport: two nodes are connected with %s's identity key (from %s and "
                   "%s): only one can be %s; stop the other (logged at most once a minute)",
                   p->org, p->routes[0].address[0] ? p->routes[0].address : "?",
                   p->routes[1].address[0] ? p->routes[1].address : "?", p->org);
}

/* Ends a back-off that is over; true while one is on. */
static bool s_backed_off(s_peer_t *p, uint64_t now)
{
    if (p->backoff_until_ms == 0)
        return false;
    if (now < p->backoff_until_ms)
        return true;
    p->backoff_until_ms = 0;
    p->backoff_end_ms = now;
    p->window_count = 0;
    p->window_ms = now;
    char pf[ICS_ORG_MAX + 8];
    snprintf(pf, sizeof pf, "PEER=%s", p->org);
    const char *fields[] = {"ICS_EVENT=peer_backoff_over", pf, NULL};
    ics_log_fields(ICS_LOG_NOTICE, fields, "transport: back-off of %s over: its frames are "
                   "read again", p->org);
    return false;
}

void ics_transport_note_invalid(ics_transport_t *self, const char *org, ics_invalid_t why)
{
    s_peer_t *p = s_find(self, org);
    uint64_t now = ics_mono_ms();

    if (p == NULL || (unsigned)why >= ICS_INVALID_REASONS)
        return;
    p->invalid[why]++;
    if (now - p->window_ms >= INVALID_WINDOW_MS) {
        p->window_ms = now;
        p->window_count = 0;
    }
    p->window_count++;
    if (self->cfg->peer_invalid_max == 0 || p->window_count <= self->cfg->peer_invalid_max ||
        s_backed_off(p, now))
        return;
    /* Again within the hour: twice as long. */
    if (p->backoffs > 0 && now - p->backoff_end_ms < BACKOFF_MEMORY_MS)
        p->backoff_ms = p->backoff_ms * 2 < BACKOFF_MAX_MS ? p->backoff_ms * 2 : BACKOFF_MAX_MS;
    else
        p->backoff_ms = self->cfg->peer_backoff_ms;
    p->backoff_until_ms = now + p->backoff_ms;
    p->backoffs++;
    self->stats.backoffs++;
    char pf[ICS_ORG_MAX + 8], rf[48];
    snprintf(pf, sizeof pf, "PEER=%s", p->org);
    snprintf(rf, sizeof rf, "REASON=%s", ics_invalid_name(why));
    const char *fields[] = {"ICS_EVENT=peer_backoff", pf, rf, NULL};
    ics_log_fields(ICS_LOG_WARN, fields,
                   "transport: %s sent %u invalid frames within %u s (the last: %s): its "
                   "frames are ignored for %llu s (back-off %u; peer_invalid_max = %u)",
                   p->org, p->window_count, INVALID_WINDOW_MS / 1000, ics_invalid_name(why),
                   (unsigned long long)(p->backoff_ms / 1000), p->backoffs,
                   self->cfg->peer_invalid_max);
}

void ics_transport_process(ics_transport_t *self, ics_transport_recv_fn fn, void *arg)
{
    for (int budget = 0; budget < 64; budget++)
        if (zmq_poll(&(zmq_pollitem_t){.socket = self->zap, .events = ZMQ_POLLIN}, 1, 0) > 0)
            s_handle_zap(self);
        else
            break;

    for (int budget = 0; budget < 1024; budget++) {
        zmq_msg_t f[2];
        int n = s_recv_parts(self->router, f, 2);
        if (n < 0)
            break;
        if (n != 2) {
            self->stats.frames_in++;
            s_close_parts(f, n, 2);
            continue;
        }
        const char *user = zmq_msg_gets(&f[1], "User-Id");
        s_peer_t *p = user != NULL ? s_find(self, user) : NULL;
        self->stats.frames_in++;
        if (p != NULL && s_backed_off(p, ics_mono_ms())) {
            /* Two nodes under one key are worth knowing even so. */
            s_note_route(self, p, &f[0], &f[1]);
            self->stats.backed_off++;
        } else if (p != NULL) {
            s_note_route(self, p, &f[0], &f[1]);
            p->last_seen_ms = ics_mono_ms();
            p->ever_seen = true;
            fn(arg, p->org, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]));
        }
        s_close_parts(f, n, 2);
    }
}

void ics_transport_note_rtt(ics_transport_t *self, const char *org, uint32_t rtt_us)
{
    s_peer_t *p = s_find(self, org);
    if (p != NULL) {
        p->rtt_us = rtt_us;
        p->last_pong_ms = ics_mono_ms();
        p->revive_after_ms = 0;
        if (p->has_old && !p->dial_old)
            p->has_old = false; /* the rotation is complete on both sides */
    }
}

void ics_transport_revive(ics_transport_t *self)
{
    uint64_t now = ics_mono_ms();
    uint64_t floor = 4ull * self->cfg->ping_interval_ms;

    for (size_t i = 0; i < ICS_MAX_ORGS; i++) {
        s_peer_t *p = &self->peers[i];
        if (!p->used)
            continue;
        s_backed_off(p, now); /* says when one is over, if the peer is silent */
        if (p->revive_after_ms == 0)
            p->revive_after_ms = floor;
        if (now - p->last_pong_ms < p->revive_after_ms)
            continue;
        ics_err_t err;
        s_close_dealer(p);
        if (p->has_old)
            p->dial_old = !p->dial_old;
        if (s_open_dealer(self, p, &err) != ICS_OK)
            ics_warn("transport: %s", err.msg);
        ics_debug("transport: no answer from %s for %llu ms: reconnecting", p->org,
                  (unsigned long long)p->revive_after_ms);
        p->revive_after_ms *= 2;
        if (p->revive_after_ms > self->cfg->reconnect_max_ms)
            p->revive_after_ms = self->cfg->reconnect_max_ms > floor ? self->cfg->reconnect_max_ms
                                                                     : floor;
    }
}

static void s_info(ics_transport_t *self, const s_peer_t *p, ics_peer_info_t *out)
{
    uint64_t now = ics_mono_ms();
    out->org = p->org;
    out->endpoint = p->endpoint;
    out->ever_seen = p->ever_seen;
    out->last_seen_ms = p->last_seen_ms;
    out->connected = p->ever_seen && now - p->last_seen_ms <= 3ull * self->cfg->ping_interval_ms;
    out->rtt_us = p->rtt_us;
    out->invalid_total = 0;
    for (size_t i = 0; i < ICS_INVALID_REASONS; i++) {
        out->invalid[i] = p->invalid[i];
        out->invalid_total += p->invalid[i];
    }
    out->backoff_ms_left = p->backoff_until_ms > now ? p->backoff_until_ms - now : 0;
    out->backoffs = p->backoffs;
}

size_t ics_transport_peers(ics_transport_t *self, ics_peer_info_t *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < ICS_MAX_ORGS && n < max; i++)
        if (self->peers[i].used)
            s_info(self, &self->peers[i], &out[n++]);
    return n;
}

bool ics_transport_peer(ics_transport_t *self, const char *org, ics_peer_info_t *out)
{
    s_peer_t *p = s_find(self, org);
    if (p == NULL)
        return false;
    s_info(self, p, out);
    return true;
}

ics_transport_stats_t ics_transport_stats(const ics_transport_t *self)
{
    return self->stats;
}
