/*
 * Client side of the control protocol: one request, one response, over the
 * node's ipc:// control socket, with a deadline. Used by icsctl and tests.
 */
#ifndef ICS_CTLCLIENT_H
#define ICS_CTLCLIENT_H

#include "ics.h"
#include "ics/v1/control.pb-c.h"

/* Sends req to the node at endpoint and waits up to wait_ms for the answer.
 * On ICS_OK *resp is set (free with ics__v1__control_response__free_unpacked).
 * Errors: ICS_EUNAVAIL (node not running), ICS_EPERM, ICS_ETIMEDOUT,
 * ICS_EMALFORMED; err says which socket and what to do. */
int ics_ctl_call(const char *endpoint, Ics__V1__ControlRequest *req, unsigned wait_ms,
                 Ics__V1__ControlResponse **resp, ics_err_t *err);

#endif
