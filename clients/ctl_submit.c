/*
 * Submitting a command to this organisation's node: the person's signature
 * (ctl_person.c) around the command bytes, one control call with a client
 * token that makes a retry safe, and what came of it, in text or JSON
 * (docs/cli-json.md).
 */
#include <errno.h>
#include <pwd.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/ctlclient.h"
#include "common/envelope.h"
#include "common/json.h"

#include "ctl.h"

#define DEFAULT_CONFIG "/etc/icsd/icsd.conf"
#define DEFAULT_SOCKET "ipc:///run/icsd/control.sock"
#define S_TEXT_MAX (64u * 1024u)

Ics__V1__ControlResponse *ctl_submit_call(opts_t *o, Ics__V1__Command *cmd, char hex[33],
                                           int *rc)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__SubmitRequest sub = ICS__V1__SUBMIT_REQUEST__INIT;
    Ics__V1__ControlResponse *resp;
    uint8_t token[16], *buf = NULL;
    size_t len = 0, tlen = 0;

    *rc = EXIT_FAIL;
    if (o->token_hex != NULL) {
        if (sodium_hex2bin(token, sizeof token, o->token_hex, strlen(o->token_hex), NULL, &tlen,
                           NULL) != 0 || tlen != sizeof token) {
            ctl_error(o, "--token must be 32 hex digits");
            *rc = EXIT_USAGE;
            return NULL;
        }
    } else {
        randombytes_buf(token, sizeof token);
    }
    ics_hex(token, sizeof token, hex);
    *rc = ctl_person_sign(o, cmd, &buf, &len);
    if (*rc != EXIT_OK)
        return NULL;
    *rc = EXIT_FAIL;
    sub.command.data = buf;
    sub.command.len = len;
    sub.client_token.data = token;
    sub.client_token.len = sizeof token;
    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_SUBMIT;
    req.submit = &sub;
    resp = ctl_call(o, &req);
    free(buf);
    if (resp == NULL) {
        ctl_error(o, "to retry without applying it twice, repeat the command with --token %s",
                  hex);
        return NULL;
    }
    if (resp->body_case != ICS__V1__CONTROL_RESPONSE__BODY_SUBMIT) {
        ctl_error(o, "unexpected answer");
        ics__v1__control_response__free_unpacked(resp, NULL);
        return NULL;
    }
    *rc = EXIT_OK;
    return resp;
}

void ctl_result_json(const Ics__V1__SubmitReply *r, const char *hex, const char *id_key,
                     const char *const *extra)
{
    ctl_jdoc_t d;
    json_t *j = ctl_jdoc_begin(&d);

    if (j == NULL)
        return;
    json_obj(j, NULL);
    json_u64(j, "index", r->position);
    if (id_key != NULL && r->accepted)
        json_u64(j, id_key, r->position);
    json_hex(j, "entry_id", r->entry_id.data, r->entry_id.len);
    json_str(j, "org", r->org);
    json_u64(j, "seq", r->seq);
    json_bool(j, "accepted", r->accepted);
    json_str(j, "reason", r->reason);
    json_str(j, "token", hex);
    for (size_t i = 0; r->accepted && extra != NULL && extra[i] != NULL; i += 2)
        json_str(j, extra[i], extra[i + 1]);
    json_end_obj(j);
    ctl_jdoc_print(&d);
}

void ctl_print_rejected(const Ics__V1__SubmitReply *r)
{
    char id[65];
    ics_hex(r->entry_id.data, r->entry_id.len > 32 ? 32 : r->entry_id.len, id);
    printf("rejected at index %llu: ", (unsigned long long)r->position);
    ctl_put_safe(stdout, r->reason, strlen(r->reason), false);
    printf(" (entry %.16s…)\n", id);
}

/* The plain outcome: "accepted at index N (entry ..., ORG seq N)". */
static void s_print_outcome(const Ics__V1__SubmitReply *r)
{
    char id[65];
    if (!r->accepted) {
        ctl_print_rejected(r);
        return;
    }
    ics_hex(r->entry_id.data, r->entry_id.len > 32 ? 32 : r->entry_id.len, id);
    printf("accepted at index %llu (entry %.16s…, ", (unsigned long long)r->position, id);
    ctl_put_field(stdout, r->org, 0);
    printf(" seq %llu)\n", (unsigned long long)r->seq);
}

int ctl_submit(opts_t *o, Ics__V1__Command *cmd)
{
    char hex[33];
    int rc;
    Ics__V1__ControlResponse *resp = ctl_submit_call(o, cmd, hex, &rc);

    if (resp == NULL)
        return rc;
    if (o->json)
        ctl_result_json(resp->submit, hex, NULL, NULL);
    else
        s_print_outcome(resp->submit);
    rc = resp->submit->accepted ? EXIT_OK : EXIT_FAIL;
    ics__v1__control_response__free_unpacked(resp, NULL);
    return rc;
}

int ctl_submit_made(opts_t *o, Ics__V1__Command *cmd, int made)
{
    Ics__V1__ControlResponse *resp;
    uint64_t position;
    char hex[33];
    int rc;

    resp = ctl_submit_call(o, cmd, hex, &rc);
    if (resp == NULL)
        return rc;
    const Ics__V1__SubmitReply *r = resp->submit;
    bool accepted = r->accepted;
    position = r->position;
    if (o->json)
        ctl_result_json(r, hex, made == CTL_MADE_AMENDMENT ? "amendment"
                                : made == CTL_MADE_MOTION ? "motion" : NULL, NULL);
    else
        s_print_outcome(r);
    ics__v1__control_response__free_unpacked(resp, NULL);
    if (!accepted)
        return EXIT_FAIL;
    if (!o->json && made == CTL_MADE_AMENDMENT) {
        printf("amendment %llu proposed (icsctl amend show %llu)\n",
               (unsigned long long)position, (unsigned long long)position);
    } else if (!o->json && made == CTL_MADE_MOTION) {
        char arg[24], *argv[1] = {arg}, *text;
        static const char *const lines[] = {"motion ", "decided by", "status", "outcome",
                                            "effect", NULL};
        snprintf(arg, sizeof arg, "%llu", (unsigned long long)position);
        text = ctl_query_text(o, "motion.show", 1, argv, false);
        if (text != NULL) {
            ctl_print_lines(text, lines);
            free(text);
        }
    }
    return EXIT_OK;
}
