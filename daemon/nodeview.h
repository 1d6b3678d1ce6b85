/*
 * What control.c, http.c, dashboard.c and bridge.c read of the node they
 * belong to: its configuration, key, transport, groups and counters. The
 * node (node.c) owns and drives those services; they see it through these
 * accessors only, defined in nodeview.c over the node's state
 * (nodeview_impl.h), so that nothing node.c calls calls node.c back.
 */
#ifndef ICS_NODEVIEW_H
#define ICS_NODEVIEW_H

#include "common/config.h"
#include "group.h"
#include "transport.h"

typedef struct ics_node ics_node_t;


/* The configuration the node started with (frozen: a reload changes only
 * the log level). */
const ics_config_t *ics_node_config(const ics_node_t *self);
/* The public key this node signs with now (it changes when the log
 * rotates the organisation's key); ICS_PK_BYTES, owned by the node. */
const uint8_t *ics_node_public_key(const ics_node_t *self);
ics_transport_t *ics_node_transport(ics_node_t *self);
/* The verifier of signatures ahead of apply; NULL with verify_threads 0. */
struct ics_verifier *ics_node_verifier(ics_node_t *self);

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
