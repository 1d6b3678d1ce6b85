/*
 * The node's state, for node.c, which keeps it, and nodeview.c, which
 * answers the services' reads of it. Nothing else includes this header.
 */
#ifndef ICS_NODEVIEW_IMPL_H
#define ICS_NODEVIEW_IMPL_H

#include "nodeview.h"

#include "common/keys.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

struct ics_control;
struct ics_http;
struct ics_notify;
struct ics_bridge;
struct ics_watch;
struct ics_verifier;

struct ics_node {
    const ics_config_t *cfg;
    ics_identity_t *id;
    void *zctx;
    ics_transport_t *transport;
    struct ics_control *control;       /* control.c: icsctl's socket */
    ics_group_t *groups[ICS_MAX_GROUPS];
    size_t n_groups;
    uint64_t started_ms;
    uint64_t next_ping_ms;
    uint64_t ping_nonce;
    struct {
        uint64_t bad_frames, unknown_group, not_member;
    } drops;
    volatile sig_atomic_t *stop;
    struct ics_http *http;             /* http.c: /metrics, NULL when off */
    struct ics_notify *notify;         /* notify.c: [notify] targets, NULL when none */
    struct ics_bridge *bridge;         /* bridge.c: mutual aid across groups */
    volatile sig_atomic_t *reload;     /* set by SIGHUP (main.c); NULL: none */
    bool verbose;                      /* -v: debug, whatever log_level says */
    int log_level;                     /* log_level of the configuration in effect */
    struct ics_watch *watch;           /* what the log and systemd were told */
    struct ics_verifier *verifier;     /* verifier.c: NULL with verify_threads 0 */
};

#endif
