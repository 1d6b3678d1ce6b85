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

int ics_control_submit_command(const Ics__V1__ControlRequest *req, uint8_t **out,
                               size_t *out_len, ics_err_t *err)
{
    const Ics__V1__SubmitRequest *sub = req->submit;
    Ics__V1__Command *cmd = NULL;
    char *actor;
    int rc;

    *out = NULL;
    *out_len = 0;
    cmd = ics__v1__command__unpack(NULL, sub->command.len, sub->command.data);
    if (cmd == NULL)
        return ics_err(err, ICS_EMALFORMED, "command does not decode");
    if (req->actor[0] == '\0' || strlen(req->actor) >= ICS_ACTOR_MAX) {
        rc = ics_err(err, ICS_EINVAL, "the acting person is missing or too long");
        goto out;
    }
    actor = cmd->actor;
    cmd->actor = req->actor; /* borrowed; its own is put back before free */
    rc = ics_pack(&cmd->base, out, out_len);
    cmd->actor = actor;
    if (rc != ICS_OK)
        rc = ics_err(err, ICS_ENOMEM, "out of memory");
out:
    ics__v1__command__free_unpacked(cmd, NULL);
    return rc;
}
