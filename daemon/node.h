/*
 * The node: one organisation's daemon. Owns the ZeroMQ context, the
 * transport, the control socket and one ics_group_t per configured group,
 * and drives them all from one single-threaded zmq_poll loop.
 *
 * This header is shared by node.c (loop, frames, pings) and control.c
 * (the icsctl protocol); nothing else includes it.
 */
#ifndef ICS_NODE_H
#define ICS_NODE_H

#include <signal.h>
#include "common/config.h"
#include "common/keys.h"
#include "group.h"
#include "ics/v1/control.pb-c.h"
#include "transport.h"

typedef struct ics_node {
    const ics_config_t *cfg;
    ics_identity_t *id;
    void *zctx;
    ics_transport_t *transport;
    void *control;
    struct {
        bool bound;                    /* the socket file at the path is ours */
        uint64_t dev, ino;             /* ... as long as it is this one */
    } control_file;
    ics_group_t *groups[ICS_MAX_GROUPS];
    size_t n_groups;
    uint64_t started_ms;
    uint64_t next_ping_ms;
    uint64_t ping_nonce;
    struct {
        uint64_t bad_frames, unknown_group, not_member;
    } drops;
    volatile sig_atomic_t *stop;
    struct ics_pending_query *queries; /* control.c: --fresh reads waiting */
    struct ics_pending_wait *waits;    /* control.c: long polls (watch, log --follow) waiting */
    struct ics_http *http;             /* http.c: /metrics, NULL when off */
    struct ics_bridge *bridge;         /* bridge.c: mutual aid across groups */
    volatile sig_atomic_t *reload;     /* set by SIGHUP (main.c); NULL: none */
    bool verbose;                      /* -v: debug, whatever log_level says */
    int log_level;                     /* log_level of the configuration in effect */
    struct ics_watch *watch;           /* node.c: what the log and systemd were told */
} ics_node_t;

/* Starts everything; returns NULL with err set. stop is polled each turn. */
ics_node_t *ics_node_new(const ics_config_t *cfg, volatile sig_atomic_t *stop,
                         ics_err_t *err);
void ics_node_destroy(ics_node_t **self_p);
/* Runs until *stop is set; reloads the configuration whenever *reload is
 * set. Returns 0, or a negative code on a fatal error. */
int ics_node_run(ics_node_t *self);

ics_group_t *ics_node_group(ics_node_t *self, const char *name);

/* control.c */
int ics_control_open(ics_node_t *self, ics_err_t *err);
void ics_control_close(ics_node_t *self);
void ics_control_process(ics_node_t *self);

#endif
