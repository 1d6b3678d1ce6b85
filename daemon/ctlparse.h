/*
 * What the node makes of a control request's bytes before it acts on it
 * (control.c), kept free of sockets and node state so that it can be
 * exercised alone (the fuzzers in tests/fuzz/).
 */
#ifndef ICS_CTLPARSE_H
#define ICS_CTLPARSE_H

#include "common/ics.h"
#include "ics/v1/command.pb-c.h"
#include "ics/v1/control.pb-c.h"

/* Decodes a request and checks its protocol version: ICS_EMALFORMED or
 * ICS_EVERSION with err set. The caller frees *out with
 * ics__v1__control_request__free_unpacked. */
int ics_control_decode(const uint8_t *data, size_t len, Ics__V1__ControlRequest **out,
                       ics_err_t *err);

/* The command of a submit request: *cmd decoded (for the caller's checks
 * of who may submit it; free it with ics__v1__command__free_unpacked) and
 * *out its bytes exactly as they came, which the node puts into the
 * envelope unchanged (the acting person signed them: Command.person_sig).
 * ICS_EMALFORMED (the command does not decode), ICS_EINVAL (the acting
 * person's id is too long), ICS_ENOMEM, with err set and nothing to free.
 * *out is malloc'd; the caller frees it. */
int ics_control_submit_command(const Ics__V1__ControlRequest *req, Ics__V1__Command **cmd,
                               uint8_t **out, size_t *out_len, ics_err_t *err);

#endif
