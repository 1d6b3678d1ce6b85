/*
 * The node: one organisation's daemon. Owns the ZeroMQ context, the
 * transport, the control socket (control.h), the HTTP listener (http.h),
 * the aid bridge (bridge.h) and one ics_group_t per configured group, and
 * drives them all from one single-threaded zmq_poll loop.
 *
 * ics_node_t is opaque. main.c makes, runs and destroys it; control.c,
 * http.c and bridge.c, which node.c owns and calls, read it through the
 * accessors below and nothing else, so they depend on this header and not
 * on node.c's insides.
 */
#ifndef ICS_NODE_H
#define ICS_NODE_H

#include <signal.h>
#include "common/config.h"
#include "group.h"
#include "transport.h"

typedef struct ics_node ics_node_t;

/* ---- life (main.c) --------------------------------------------------- */

/* Starts everything; returns NULL with err set. stop is polled each turn. */
ics_node_t *ics_node_new(const ics_config_t *cfg, volatile sig_atomic_t *stop,
                         ics_err_t *err);
void ics_node_destroy(ics_node_t **self_p);
/* Reloads the configuration whenever *reload is set (by SIGHUP); verbose
 * (-v) keeps debug on whatever log_level says. reload NULL: never. */
void ics_node_set_reload(ics_node_t *self, volatile sig_atomic_t *reload, bool verbose);
/* Runs until *stop is set. Returns 0, or a negative code on a fatal error. */
int ics_node_run(ics_node_t *self);

/* ---- what control, http and the bridge read -------------------------- */

/* The configuration the node started with (frozen: a reload changes only
 * the log level). */
const ics_config_t *ics_node_config(const ics_node_t *self);
/* The public key this node signs with now (it changes when the log
 * rotates the organisation's key); ICS_PK_BYTES, owned by the node. */
const uint8_t *ics_node_public_key(const ics_node_t *self);
ics_transport_t *ics_node_transport(ics_node_t *self);

/* The node's groups, in configuration order: i < ics_node_n_groups(). */
size_t ics_node_n_groups(const ics_node_t *self);
ics_group_t *ics_node_group_at(ics_node_t *self, size_t i);
/* The group called name; the only group when name is NULL or "" and the
 * node is in one. NULL if none. */
ics_group_t *ics_node_group(ics_node_t *self, const char *name);

typedef struct {
    uint64_t uptime_ms;
    /* Frames from peers dropped before reaching a group. */
    uint64_t bad_frames, unknown_group, not_member;
} ics_node_stats_t;
ics_node_stats_t ics_node_stats(const ics_node_t *self);

#endif
