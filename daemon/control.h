/*
 * The control socket: icsctl's way into its own node (control.c). Owned
 * and polled by the node; reads the node only through nodeview.h.
 */
#ifndef ICS_CONTROL_H
#define ICS_CONTROL_H

#include <zmq.h>
#include "common/ics.h"

struct ics_node;
typedef struct ics_control ics_control_t;

/* Binds the node's configured control endpoint in zctx. NULL with err on
 * failure. */
ics_control_t *ics_control_new(struct ics_node *node, void *zctx, ics_err_t *err);
/* Answers the --fresh reads still waiting (the node is stopping), closes
 * the socket and removes its file if it is still the one bound. Call
 * after the groups are destroyed: their pending submissions answer their
 * clients through it. */
void ics_control_destroy(ics_control_t **self_p);
/* The socket to poll for input. */
zmq_pollitem_t ics_control_pollitem(ics_control_t *self);
/* Serves what has arrived and the --fresh reads that can be answered. */
void ics_control_process(ics_control_t *self);

#endif
