/*
 * Fuzz: control requests as the node reads them from its control socket
 * (control.c): decode and version (ctlparse.h), then what each request
 * makes of its fields against a real state: a submission's command with
 * its actor, the positions a log request names, a query's name and
 * arguments answered by the state machine.
 */
#include "fuzz_kit.h"
#include "ctlparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fk_state_t s_state;
static volatile uint64_t s_sink;

static void s_submit(const Ics__V1__ControlRequest *req)
{
    Ics__V1__Command *cmd = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    ics_err_t err;

    if (ics_control_submit_command(req, &cmd, &buf, &len, &err) != ICS_OK)
        return;
    /* What goes into the envelope is the command's bytes, unchanged: the
     * person signed them. */
    if (len != req->submit->command.len || (len > 0 && memcmp(buf, req->submit->command.data,
                                                              len) != 0))
        abort();
    ics__v1__command__free_unpacked(cmd, NULL);
    free(buf);
}

/* The positions s_log (control.c) reads. */
static void s_log(const Ics__V1__LogRequest *lr)
{
    uint64_t first = 0, last = 0, pos = ics_fsm_position(s_state.fsm);
    ics_log_entry_t e;

    if (lr->op == ICS__V1__LOG_REQUEST__OP__SHOW) {
        if (lr->position == 0 || lr->position > pos)
            return;
        first = last = lr->position;
    } else if (lr->op == ICS__V1__LOG_REQUEST__OP__TAIL) {
        uint64_t count = lr->count ? lr->count : 10;
        if (count > 100)
            count = 100;
        last = pos;
        first = pos >= count ? pos - count + 1 : 1;
    } else {
        char *doc = NULL;
        size_t doc_len = 0;
        ics_err_t err;
        FILE *f = open_memstream(&doc, &doc_len);
        if (f == NULL)
            abort();
        if (ics_history_export(s_state.history, f, &err) != ICS_OK)
            abort();
        fclose(f);
        s_sink += doc_len;
        free(doc);
    }
    for (uint64_t p = first; p != 0 && p <= last; p++) {
        if (ics_history_entry(s_state.history, p, &e) != ICS_OK)
            continue;
        s_sink += e.envelope_len;
        free(e.envelope);
    }
}

static void s_query(const Ics__V1__ControlRequest *req)
{
    char *json = NULL, *text = NULL;
    ics_err_t err;

    if (ics_fsm_query(s_state.fsm, req->query->name, req->query->n_args, req->query->args,
                      &json, &text, &err) == ICS_OK)
        s_sink += strlen(json) + strlen(text);
    free(json);
    free(text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fk_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Ics__V1__ControlRequest *req = NULL;
    ics_err_t err;

    if (s_state.fsm == NULL)
        fk_state_build(&s_state);
    if (ics_control_decode(data, size, &req, &err) != ICS_OK)
        return 0;
    /* ics_node_group: "" is the node's only group. */
    if (req->group[0] != '\0' && strcmp(req->group, FK_GROUP) != 0)
        goto out;
    switch (req->body_case) {
    case ICS__V1__CONTROL_REQUEST__BODY_SUBMIT:
        s_submit(req);
        break;
    case ICS__V1__CONTROL_REQUEST__BODY_LOG:
        s_log(req->log);
        break;
    case ICS__V1__CONTROL_REQUEST__BODY_QUERY:
        s_query(req);
        break;
    default:
        break;
    }
out:
    ics__v1__control_request__free_unpacked(req, NULL);
    return 0;
}
