/*
 * Node-to-node transport: one CURVE ROUTER that every peer connects to, one
 * CURVE DEALER per peer to send, and an in-thread ZAP handler that admits
 * only the keys of known peers. Carries opaque frames; it knows nothing of
 * groups or raft.
 */
#ifndef ICS_TRANSPORT_H
#define ICS_TRANSPORT_H

#include <zmq.h>
#include "common/config.h"
#include "common/keys.h"
#include "metrics.h"

typedef struct ics_transport ics_transport_t;

/* A frame from an authenticated peer. data is valid during the call. */
typedef void (*ics_transport_recv_fn)(void *arg, const char *from, const uint8_t *data,
                                      size_t len);

typedef struct {
    uint64_t frames_in, frames_out;
    uint64_t dropped_send;   /* HWM reached or peer not connected */
    uint64_t refused;        /* ZAP refusals */
    uint64_t oversize;       /* over max_message_bytes */
    uint64_t backed_off;     /* frames dropped unread: their sender was backed off */
    uint64_t backoffs;       /* back-offs begun */
} ics_transport_stats_t;

typedef struct {
    const char *org;
    const char *endpoint;
    bool connected;          /* heard from within the liveness window */
    bool ever_seen;
    uint64_t last_seen_ms;   /* monotonic */
    uint32_t rtt_us;
    uint64_t invalid[ICS_INVALID_REASONS]; /* invalid frames, by reason */
    uint64_t invalid_total;
    uint64_t backoff_ms_left; /* 0 unless its frames are being ignored */
    unsigned backoffs;        /* back-offs so far */
} ics_peer_info_t;

/* Binds cfg->listen and connects to every other member of the node's groups.
 * Returns NULL with err set. */
ics_transport_t *ics_transport_new(void *zctx, const ics_config_t *cfg,
                                   const ics_identity_t *id, ics_err_t *err);
void ics_transport_destroy(ics_transport_t **self_p);

/* Admits and connects to a peer (idempotent; updates key or endpoint). */
int ics_transport_add_peer(ics_transport_t *self, const char *org,
                           const uint8_t pk[ICS_PK_BYTES], const char *endpoint,
                           ics_err_t *err);
/* Switches to a rotated identity: new connections to and from this node
 * use the new CURVE keys (the peers learn them from the same log entry).
 * id must outlive the transport or the next switch. */
int ics_transport_set_identity(ics_transport_t *self, const ics_identity_t *id,
                               ics_err_t *err);

/* Stops admitting and disconnects a peer. */
void ics_transport_remove_peer(ics_transport_t *self, const char *org);
bool ics_transport_has_peer(ics_transport_t *self, const char *org);

/* Queues a frame to a peer without blocking. Returns ICS_EUNAVAIL (counted
 * as dropped) if the peer is unknown, unconnected or its queue is full. */
int ics_transport_send(ics_transport_t *self, const char *org, const uint8_t *data,
                       size_t len);

/* Fills poll items (router and ZAP sockets); returns how many. */
size_t ics_transport_pollitems(ics_transport_t *self, zmq_pollitem_t *items, size_t max);
/* Handles whatever is readable; calls fn for each frame. */
void ics_transport_process(ics_transport_t *self, ics_transport_recv_fn fn, void *arg);

/* A frame from org was invalid, for this reason: counted. A peer with
 * more than cfg->peer_invalid_max within 10 s is backed off: its frames
 * are dropped unread for cfg->peer_backoff_ms, twice as long each time it
 * happens again within an hour, at most an hour; logged once per
 * back-off, at warning. */
void ics_transport_note_invalid(ics_transport_t *self, const char *org, ics_invalid_t why);

/* A pong arrived: the path to the peer works both ways. */
void ics_transport_note_rtt(ics_transport_t *self, const char *org, uint32_t rtt_us);

/* Reopens the sending sockets of peers that have not answered a ping for a
 * while. libzmq does not retry a CURVE handshake the peer's ZAP handler
 * refused, so a node admitted after it first tried would otherwise never
 * be heard. Backs off per peer up to reconnect_max_ms. */
void ics_transport_revive(ics_transport_t *self);
size_t ics_transport_peers(ics_transport_t *self, ics_peer_info_t *out, size_t max);
bool ics_transport_peer(ics_transport_t *self, const char *org, ics_peer_info_t *out);
ics_transport_stats_t ics_transport_stats(const ics_transport_t *self);

#endif
