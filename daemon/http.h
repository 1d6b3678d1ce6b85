/*
 * Optional read-only HTTP listener: /metrics (Prometheus text format),
 * /healthz and /readyz, and with [http] dashboard the dashboard (/) and its
 * event stream (/events, dashboard.h); HTTPS and client certificates with
 * [http] tls_cert, tls_key and client_ca. Served from the node's own event
 * loop (libmicrohttpd in external-epoll mode), so it reads node state
 * without locks.
 */
#ifndef ICS_HTTP_H
#define ICS_HTTP_H

#include <zmq.h>
#include "common/ics.h"

struct ics_node;
typedef struct ics_http ics_http_t;

/* listen is "PORT" (loopback) or "HOST:PORT". NULL with err on failure. */
ics_http_t *ics_http_start(struct ics_node *node, const char *listen, ics_err_t *err);
void ics_http_stop(ics_http_t **self_p);
/* The fd to poll for input, and how long until it needs a turn anyway. */
zmq_pollitem_t ics_http_pollitem(ics_http_t *self);
long ics_http_timeout(ics_http_t *self);
void ics_http_run(ics_http_t *self);

#endif
