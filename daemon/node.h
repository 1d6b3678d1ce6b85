/*
 * The node: one organisation's daemon. Owns the ZeroMQ context, the
 * transport, the control socket (control.h), the HTTP listener (http.h),
 * the aid bridge (bridge.h) and one ics_group_t per configured group, and
 * drives them all from one single-threaded zmq_poll loop.
 *
 * ics_node_t is opaque. main.c makes, runs and destroys it through this
 * header; control.c, http.c, dashboard.c and bridge.c, which node.c owns
 * and calls, read it through nodeview.h and nothing else, so they depend
 * on nodeview.c and not on node.c: no circle.
 */
#ifndef ICS_NODE_H
#define ICS_NODE_H

#include <signal.h>
#include "nodeview.h"

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

#endif
