/*
 * Control requests from bytes (ctlparse.h). The node answers every error
 * here with its code and message; nothing in a request is trusted until it
 * has been through these checks.
 */
#include "ctlparse.h"

#include "common/envelope.h"

#include <stdlib.h>
#include <string.h>

int ics_control_decode(const uint8_t *data, size_t len, Ics__V1__ControlRequest **out,
                       ics_err_t *err)
{
    Ics__V1__ControlRequest *req = ics__v1__control_request__unpack(NULL, len, data);

    *out = NULL;
    if (req == NULL)
        return ics_err(err, ICS_EMALFORMED, "request does not decode");
    if (req->version != ICS_CONTROL_VERSION) {
        ics__v1__control_request__free_unpacked(req, NULL);
        return ics_err(err, ICS_EVERSION, "icsctl and icsd speak different control versions");
    }
    *out = req;
    return ICS_OK;
}

int ics_control_submit_command(const Ics__V1__ControlRequest *req, Ics__V1__Command **cmd,
                               uint8_t **out, size_t *out_len, ics_err_t *err)
{
    const Ics__V1__SubmitRequest *sub = req->submit;

    *cmd = NULL;
    *out = NULL;
    *out_len = 0;
    *cmd = ics__v1__command__unpack(NULL, sub->command.len, sub->command.data);
    if (*cmd == NULL)
        return ics_err(err, ICS_EMALFORMED, "command does not decode");
    if (strlen((*cmd)->actor) >= ICS_ACTOR_MAX) {
        ics__v1__command__free_unpacked(*cmd, NULL);
        *cmd = NULL;
        return ics_err(err, ICS_EINVAL, "the acting person's id is too long");
    }
    *out = malloc(sub->command.len > 0 ? sub->command.len : 1);
    if (*out == NULL) {
        ics__v1__command__free_unpacked(*cmd, NULL);
        *cmd = NULL;
        return ics_err(err, ICS_ENOMEM, "out of memory");
    }
    if (sub->command.len > 0)
        memcpy(*out, sub->command.data, sub->command.len);
    *out_len = sub->command.len;
    return ICS_OK;
}
