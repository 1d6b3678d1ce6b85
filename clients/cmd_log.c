/*
 * icsctl log: the group's audit log as this node holds it (tail, show),
 * its self-verifying export, and the offline check of an export.
 *
 * Every field that came from a signed entry (the person acting, a note,
 * raw data, a rejection reason) was written by some partner and is shown
 * to everyone: it is printed through ctl_put_field, so a control sequence
 * in it is displayed, not obeyed, and a newline in it cannot fake a line of
 * the listing. --json keeps the same bytes, JSON-escaped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/json.h"
#include "common/logverify.h"

#include "icsctl.h"

static const char *s_kind_name(uint32_t kind)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&ics__v1__command__descriptor, kind);
    return f != NULL ? f->name : "unknown";
}

static void s_entry_json(json_t *j, const Ics__V1__LogEntry *e)
{
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *cmd = NULL;
    uint8_t id[ICS_ENTRY_ID_BYTES];
    char idhex[65], chain[65];

    ics_entry_id(e->envelope.data, e->envelope.len, id);
    ics_hex(id, sizeof id, idhex);
    ics_hex(e->chain.data, e->chain.len > 32 ? 32 : e->chain.len, chain);
    if (ics_envelope_decode(e->envelope.data, e->envelope.len, &env, NULL) == ICS_OK)
        ics_command_decode(env, &cmd, NULL);
    json_obj(j, NULL);
    json_u64(j, "index", e->position);
    json_str(j, "entry_id", idhex);
    json_bool(j, "accepted", e->accepted);
    json_str(j, "reason", e->reason);
    json_str(j, "chain", chain);
    json_u64(j, "clock_ms", e->clock_ms);
    if (env != NULL) {
        json_str(j, "group", env->group);
        json_str(j, "org", env->org);
        json_u64(j, "seq", env->seq);
        json_u64(j, "timestamp_ms", env->timestamp_ms);
        json_str(j, "kind", s_kind_name(env->kind));
    }
    if (cmd != NULL)
        json_str(j, "actor", cmd->actor);
    json_end_obj(j);
    if (cmd != NULL)
        ics__v1__command__free_unpacked(cmd, NULL);
    if (env != NULL)
        ics__v1__envelope__free_unpacked(env, NULL);
}

static void s_entry_line(const Ics__V1__LogEntry *e)
{
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *cmd = NULL;
    char when[32];

    if (ics_envelope_decode(e->envelope.data, e->envelope.len, &env, NULL) != ICS_OK) {
        printf("%6llu  (undecodable envelope)  REJECTED: ", (unsigned long long)e->position);
        ctl_put_field(stdout, e->reason, 0);
        fputc('\n', stdout);
        return;
    }
    ics_command_decode(env, &cmd, NULL);
    ctl_fmt_time(env->timestamp_ms, when, sizeof when);
    printf("%6llu  %s  ", (unsigned long long)e->position, when);
    ctl_put_field(stdout, env->org, 10);
    fputc(' ', stdout);
    ctl_put_field(stdout, cmd != NULL ? cmd->actor : "-", 10);
    printf(" seq %-5llu %-12s %-10s %s", (unsigned long long)env->seq, s_kind_name(env->kind),
           e->accepted ? "accepted" : "REJECTED", e->accepted ? "" : ": ");
    ctl_put_field(stdout, e->reason, 0);
    fputc('\n', stdout);
    if (cmd != NULL)
        ics__v1__command__free_unpacked(cmd, NULL);
    ics__v1__envelope__free_unpacked(env, NULL);
}

static void s_entry_detail(const Ics__V1__LogEntry *e)
{
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *cmd = NULL;
    uint8_t id[ICS_ENTRY_ID_BYTES];
    char idhex[65], chain[65], when[32], clock[32], kid[17];

    ics_entry_id(e->envelope.data, e->envelope.len, id);
    ics_hex(id, sizeof id, idhex);
    ics_hex(e->chain.data, e->chain.len > 32 ? 32 : e->chain.len, chain);
    ctl_fmt_time(e->clock_ms, clock, sizeof clock);
    printf("index      %llu\n", (unsigned long long)e->position);
    printf("entry id   %s\n", idhex);
    printf("outcome    %s%s", e->accepted ? "accepted" : "rejected", e->accepted ? "" : ": ");
    ctl_put_field(stdout, e->reason, 0);
    printf("\nchain      %s\n", chain);
    printf("log clock  %s\n", clock);
    if (ics_envelope_decode(e->envelope.data, e->envelope.len, &env, NULL) != ICS_OK) {
        printf("envelope   undecodable (%zu bytes)\n", e->envelope.len);
        return;
    }
    ctl_fmt_time(env->timestamp_ms, when, sizeof when);
    ics_hex(env->key_id.data, env->key_id.len > 8 ? 8 : env->key_id.len, kid);
    printf("group      ");
    ctl_put_field(stdout, env->group, 0);
    printf("\norg        ");
    ctl_put_field(stdout, env->org, 0);
    printf("\nkey id     %s\nseq        %llu\nsigned at  %s\nkind       %s (%u)\n", kid,
           (unsigned long long)env->seq, when, s_kind_name(env->kind), env->kind);
    if (ics_command_decode(env, &cmd, NULL) == ICS_OK) {
        printf("actor      ");
        ctl_put_field(stdout, cmd->actor, 0);
        fputc('\n', stdout);
        if (cmd->body_case == ICS__V1__COMMAND__BODY_RAW) {
            printf("data       ");
            ctl_put_safe(stdout, (const char *)cmd->raw->data.data, cmd->raw->data.len, false);
            printf("\nnote       ");
            ctl_put_field(stdout, cmd->raw->note, 0);
            fputc('\n', stdout);
        }
        ics__v1__command__free_unpacked(cmd, NULL);
    }
    ics__v1__envelope__free_unpacked(env, NULL);
}

static Ics__V1__ControlResponse *s_log_request(opts_t *o, Ics__V1__LogRequest *lr)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__ControlResponse *resp;

    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_LOG;
    req.log = lr;
    resp = ctl_call(o, &req);
    if (resp != NULL && resp->body_case != ICS__V1__CONTROL_RESPONSE__BODY_LOG) {
        ctl_error(o, "unexpected answer");
        ics__v1__control_response__free_unpacked(resp, NULL);
        return NULL;
    }
    return resp;
}

/* {"entries": [...]} or {"entry": {...}}, escaped for safe display. */
static void s_entries_json(const Ics__V1__LogReply *reply, bool one)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    json_t j;
    cj_t doc;

    if (m == NULL)
        return;
    json_init(&j, m);
    json_obj(&j, NULL);
    if (one) {
        fputs("\"entry\":", m);
        s_entry_json(&j, reply->entries[0]);
    } else {
        json_arr(&j, "entries");
        for (size_t i = 0; i < reply->n_entries; i++)
            s_entry_json(&j, reply->entries[i]);
        json_end_arr(&j);
    }
    json_end_obj(&j);
    fclose(m);
    if (cj_parse(buf, len, &doc)) {
        cj_write(stdout, doc);
        fputc('\n', stdout);
    }
    free(buf);
}

static int s_tail(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__LogRequest lr = ICS__V1__LOG_REQUEST__INIT;
    Ics__V1__ControlResponse *resp;
    const char *count = ctl_opt(a, "n");
    uint64_t n = 10;

    if (count != NULL && (!ctl_u64(o, "-n", count, &n) || n < 1 || n > 100)) {
        ctl_error(o, "-n: expected 1 to 100");
        return EXIT_USAGE;
    }
    lr.op = ICS__V1__LOG_REQUEST__OP__TAIL;
    lr.count = (uint32_t)n;
    resp = s_log_request(o, &lr);
    if (resp == NULL)
        return EXIT_FAIL;
    if (o->json)
        s_entries_json(resp->log, false);
    else if (resp->log->n_entries == 0)
        printf("(the log is empty)\n");
    for (size_t i = 0; !o->json && i < resp->log->n_entries; i++)
        s_entry_line(resp->log->entries[i]);
    ics__v1__control_response__free_unpacked(resp, NULL);
    return EXIT_OK;
}

static int s_show(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__LogRequest lr = ICS__V1__LOG_REQUEST__INIT;
    Ics__V1__ControlResponse *resp;
    uint64_t pos;

    if (!ctl_u64(o, "log show", a->argv[0], &pos))
        return EXIT_USAGE;
    lr.op = ICS__V1__LOG_REQUEST__OP__SHOW;
    lr.position = pos;
    resp = s_log_request(o, &lr);
    if (resp == NULL)
        return EXIT_FAIL;
    int rc = EXIT_OK;
    if (resp->log->n_entries != 1) {
        ctl_error(o, "there is no entry at index %llu", (unsigned long long)pos);
        rc = EXIT_FAIL;
    } else if (o->json) {
        s_entries_json(resp->log, true);
    } else {
        s_entry_detail(resp->log->entries[0]);
    }
    ics__v1__control_response__free_unpacked(resp, NULL);
    return rc;
}

static int s_export(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__LogRequest lr = ICS__V1__LOG_REQUEST__INIT;
    Ics__V1__ControlResponse *resp;
    const char *path = a->argv[0];
    int rc = EXIT_OK;

    lr.op = ICS__V1__LOG_REQUEST__OP__EXPORT;
    resp = s_log_request(o, &lr);
    if (resp == NULL)
        return EXIT_FAIL;
    const Ics__V1__LogReply *reply = resp->log;
    /* The export is a document in its own format (docs/log-format.md),
     * written byte for byte: its signatures must verify. */
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (f == NULL || fwrite(reply->document.data, 1, reply->document.len, f) !=
                         reply->document.len) {
        ctl_error(o, "%s: %s", path, strerror(errno));
        rc = EXIT_FAIL;
    }
    if (f != NULL && f != stdout && fclose(f) != 0) {
        ctl_error(o, "%s: %s", path, strerror(errno));
        rc = EXIT_FAIL;
    }
    if (rc == EXIT_OK && f != stdout)
        ctl_note(o, "wrote %zu bytes to %s", reply->document.len, path);
    ics__v1__control_response__free_unpacked(resp, NULL);
    return rc;
}

static int s_verify(opts_t *o, const ctl_args_t *a)
{
    const char *path = a->argv[0];
    ics_log_verify_report_t rep;
    ics_err_t err;
    FILE *f;
    int rc;

    f = fopen(path, "r");
    if (f == NULL) {
        ctl_error(o, "%s: %s", path, strerror(errno));
        return EXIT_FAIL;
    }
    rc = ics_log_verify(f, &rep, &err);
    fclose(f);
    if (rc != ICS_OK) {
        ctl_error(o, "%s: verification FAILED: %s", path, err.msg);
        return EXIT_FAIL;
    }
    if (o->json) {
        char chain[65];
        ics_hex(rep.chain, sizeof rep.chain, chain);
        fputs("{\"verification\":{\"file\":", stdout);
        cj_write_str(stdout, path);
        fputs(",\"group\":", stdout);
        cj_write_str(stdout, rep.group);
        printf(",\"entries\":%llu,\"accepted\":%llu,\"rejected\":%llu,\"chain\":\"%s\","
               "\"clock_ms\":%llu,\"checkpoints\":%llu,\"certified_position\":%llu,"
               "\"certified_by\":%u,\"certify_needed\":%u,\"verified\":true}}\n",
               (unsigned long long)rep.entries, (unsigned long long)rep.accepted,
               (unsigned long long)rep.rejected, chain, (unsigned long long)rep.clock_ms,
               (unsigned long long)rep.checkpoints, (unsigned long long)rep.certified_position,
               rep.certified_by, rep.certify_needed);
        return EXIT_OK;
    }
    ctl_put_field(stdout, path, 0);
    printf(": ok: group ");
    ctl_put_field(stdout, rep.group, 0);
    printf(", %llu entries (%llu accepted, %llu rejected), chain verified, every verdict the "
           "file decides checked, every accepted entry signed by its key in force\n",
           (unsigned long long)rep.entries, (unsigned long long)rep.accepted,
           (unsigned long long)rep.rejected);
    if (rep.certified_position > 0)
        printf("certified by checkpoints up to position %llu (%u of the voting members, %u "
               "needed); %llu checkpoints, each matching this log\n",
               (unsigned long long)rep.certified_position, rep.certified_by, rep.certify_needed,
               (unsigned long long)rep.checkpoints);
    else
        printf("no position is certified by a majority of the voting members' checkpoints "
               "(%llu checkpoints, each matching this log): anchor the final chain "
               "elsewhere\n", (unsigned long long)rep.checkpoints);
    return EXIT_OK;
}

static const ctl_sub_t s_subs[] = {
    {"tail", s_tail, CTL_STATE, "n|count=", {NULL}, "log tail [-n N]",
     "The last N entries of the group's audit log (1 to 100, default 10): index,\n"
     "time signed, organisation, person, sequence number, kind and outcome."},
    {"show", s_show, CTL_STATE, "", {"INDEX"}, "log show INDEX",
     "One entry in full: entry id, outcome, chain hash, log clock, group,\n"
     "organisation, key id, sequence number, time signed, kind, person, content."},
    {"export", s_export, CTL_EXPORT, "", {"FILE"}, "log export FILE",
     "Write the self-verifying log of every entry (format: docs/log-format.md)\n"
     "to FILE, or to standard output for '-'."},
    {"verify", s_verify, CTL_OFFLINE, "", {"FILE"}, "log verify FILE",
     "Check an exported log offline: the hash chain, that every accepted entry\n"
     "is signed by its organisation's key in force, the replay rule, the verdicts\n"
     "the file decides (genesis, membership, checkpoints), that every checkpoint\n"
     "matches the chain, and the highest position certified by a majority of\n"
     "the members' checkpoints. Names the first bad entry and exits 1 if it does\n"
     "not verify (docs/log-format.md, section 8)."},
};

const ctl_cmd_t ctl_cmd_log = CTL_CMD("log", "Read, export and verify the audit log",
                                      "The group's audit log, the same on every node.", s_subs);
