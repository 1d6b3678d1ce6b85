/*
 * icsctl: what people at a partner organisation use to work with their own
 * organisation's node. Every command is one control request; the node signs
 * and submits, icsctl holds no keys.
 *
 * Exit status: 0 ok, 1 failed or rejected, 2 usage error.
 */
#define _XOPEN_SOURCE 700 /* strptime */
#include <errno.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/ctlclient.h"
#include "common/envelope.h"
#include "common/keys.h"
#include "common/logverify.h"
#include "common/json.h"

#include "icsctl.h"

#define DEFAULT_CONFIG "/etc/icsd/icsd.conf"
#define DEFAULT_SOCKET "ipc:///run/icsd/control.sock"

typedef struct {
    const char *name;
    int (*fn)(opts_t *o, int argc, char **argv);
    const char *usage;
    const char *help;
} cmd_t;

static const cmd_t *s_find(const char *name);
static void s_command_help(FILE *f, const cmd_t *c);

/* ---- helpers ------------------------------------------------------------ */

void ctl_fmt_time(uint64_t ms, char *out, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms == 0) {
        snprintf(out, size, "-");
        return;
    }
    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *s_kind_name(uint32_t kind)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&ics__v1__command__descriptor, kind);
    return f != NULL ? f->name : "unknown";
}

/* Where is the node? --socket, else the config's control endpoint. */
static const char *s_socket(opts_t *o)
{
    static ics_config_t cfg;
    ics_err_t err;

    if (o->socket != NULL)
        return o->socket;
    if (o->config != NULL || access(DEFAULT_CONFIG, R_OK) == 0) {
        const char *path = o->config != NULL ? o->config : DEFAULT_CONFIG;
        if (ics_config_load(path, &cfg, &err) == ICS_OK) {
            ics_strcpy(o->socket_buf, sizeof o->socket_buf, cfg.control);
            return o->socket_buf;
        }
        if (o->config != NULL) {
            fprintf(stderr, "icsctl: %s\n", err.msg);
            exit(EXIT_FAIL);
        }
    }
    return DEFAULT_SOCKET;
}

static const char *s_actor(opts_t *o)
{
    if (o->actor != NULL)
        return o->actor;
    const char *sudo = getenv("SUDO_USER");
    struct passwd *pw = getpwuid(getuid());
    snprintf(o->actor_buf, sizeof o->actor_buf, "%s", sudo != NULL ? sudo :
             pw != NULL ? pw->pw_name : "unknown");
    return o->actor_buf;
}

/* Sends a request, prints a transport or node error; returns the response
 * (caller frees) or NULL. */
Ics__V1__ControlResponse *ctl_call(opts_t *o, Ics__V1__ControlRequest *req)
{
    Ics__V1__ControlResponse *resp = NULL;
    ics_err_t err;

    req->group = (char *)(o->group != NULL ? o->group : "");
    req->actor = (char *)s_actor(o);
    req->timeout_ms = o->timeout_ms;
    if (ics_ctl_call(s_socket(o), req, o->timeout_ms + 2000, &resp, &err) != ICS_OK) {
        fprintf(stderr, "icsctl: %s\n", err.msg);
        return NULL;
    }
    if (resp->code != 0) {
        fprintf(stderr, "icsctl: %s\n", resp->error[0] ? resp->error : ics_strerror(resp->code));
        ics__v1__control_response__free_unpacked(resp, NULL);
        return NULL;
    }
    return resp;
}

/* ---- status --------------------------------------------------------------- */

static void s_status_json(const Ics__V1__StatusReply *s)
{
    json_t j;
    json_init(&j, stdout);
    json_obj(&j, NULL);
    json_str(&j, "org", s->org);
    json_str(&j, "kind", s->kind);
    json_str(&j, "name", s->name);
    json_str(&j, "version", s->version);
    json_str(&j, "listen", s->listen);
    json_str(&j, "public_key", s->public_key);
    json_u64(&j, "uptime_ms", s->uptime_ms);
    json_obj(&j, "versions");
    json_str(&j, "icsd", s->version);
    json_str(&j, "zmq", s->zmq_version);
    json_str(&j, "sodium", s->sodium_version);
    json_str(&j, "sqlite", s->sqlite_version);
    json_end_obj(&j);
    json_obj(&j, "frames");
    json_u64(&j, "in", s->frames_in);
    json_u64(&j, "out", s->frames_out);
    json_u64(&j, "dropped_send", s->dropped_send);
    json_u64(&j, "dropped_undecodable", s->dropped_bad);
    json_u64(&j, "dropped_unknown_group", s->dropped_unknown_group);
    json_u64(&j, "dropped_not_member", s->dropped_not_member);
    json_u64(&j, "refused", s->refused);
    json_end_obj(&j);
    json_arr(&j, "groups");
    for (size_t g = 0; g < s->n_groups; g++) {
        const Ics__V1__GroupStatus *gs = s->groups[g];
        json_obj(&j, NULL);
        json_str(&j, "name", gs->name);
        json_str(&j, "role", gs->role);
        json_u64(&j, "term", gs->term);
        json_str(&j, "leader", gs->leader);
        json_u64(&j, "commit_index", gs->commit_index);
        json_u64(&j, "applied_index", gs->applied_index);
        json_u64(&j, "last_index", gs->last_index);
        json_u64(&j, "position", gs->position);
        json_hex(&j, "chain", gs->chain.data, gs->chain.len);
        json_u64(&j, "clock_ms", gs->clock_ms);
        json_obj(&j, "checkpoint");
        json_u64(&j, "position", gs->checkpoint_position);
        json_bool(&j, "certified", gs->checkpoint_certified);
        json_bool(&j, "alarm", gs->checkpoint_alarm);
        json_str(&j, "alarm_text", gs->alarm);
        json_end_obj(&j);
        if (gs->history != NULL) {
            const Ics__V1__HistoryStatus *h = gs->history;
            json_obj(&j, "history");
            json_u64(&j, "top", h->top);
            json_u64(&j, "missing", h->missing);
            json_u64(&j, "backfilled", h->filled);
            json_str(&j, "backfill_peer", h->peer);
            json_u64(&j, "backfill_failures", h->failures);
            json_u64(&j, "bad_chunks", h->bad_chunks);
            json_str(&j, "last_error", h->last_error);
            json_bool(&j, "failed", h->failed);
            json_u64(&j, "diverged", h->diverged);
            json_u64(&j, "corrupt", h->corrupt);
            json_u64(&j, "scrub_passes", h->scrub_passes);
            json_end_obj(&j);
        }
        json_arr(&j, "peers");
        for (size_t i = 0; i < gs->n_peers; i++) {
            const Ics__V1__PeerStatus *p = gs->peers[i];
            json_obj(&j, NULL);
            json_str(&j, "org", p->org);
            json_str(&j, "kind", p->kind);
            json_str(&j, "endpoint", p->endpoint);
            json_bool(&j, "connected", p->connected);
            json_bool(&j, "ever_seen", p->ever_seen);
            json_u64(&j, "last_seen_ms_ago", p->last_seen_ms_ago);
            json_u64(&j, "rtt_us", p->rtt_us);
            json_u64(&j, "match_index", p->match_index);
            json_u64(&j, "lag", p->lag);
            json_str(&j, "raft_role", p->raft_role);
            json_end_obj(&j);
        }
        json_end_arr(&j);
        json_end_obj(&j);
    }
    json_end_arr(&j);
    json_end_obj(&j);
    json_done(&j);
}

static void s_status_text(const Ics__V1__StatusReply *s)
{
    char clock[32], chain[17];

    printf("%s  %s (%s)\n", s->org, s->name, s->kind);
    printf("  icsd %s (zmq %s, libsodium %s, sqlite %s), up %.0f s, listening on %s\n",
           s->version, s->zmq_version, s->sodium_version, s->sqlite_version,
           s->uptime_ms / 1000.0, s->listen);
    printf("  public key %s\n", s->public_key);
    for (size_t g = 0; g < s->n_groups; g++) {
        const Ics__V1__GroupStatus *gs = s->groups[g];
        ctl_fmt_time(gs->clock_ms, clock, sizeof clock);
        ics_hex(gs->chain.data, gs->chain.len > 8 ? 8 : gs->chain.len, chain);
        printf("\ngroup %s: %s, term %llu, leader %s\n", gs->name, gs->role,
               (unsigned long long)gs->term, gs->leader[0] ? gs->leader : "(none)");
        printf("  raft: commit %llu, applied %llu, last %llu\n",
               (unsigned long long)gs->commit_index, (unsigned long long)gs->applied_index,
               (unsigned long long)gs->last_index);
        printf("  log: position %llu, chain %s…, clock %s\n", (unsigned long long)gs->position,
               chain, clock);
        if (gs->checkpoint_position == 0)
            printf("  checkpoint: none yet\n");
        else
            printf("  checkpoint: position %llu, %s\n",
                   (unsigned long long)gs->checkpoint_position,
                   gs->checkpoint_certified ? "certified" : "not yet certified");
        if (gs->checkpoint_alarm)
            printf("  ALARM: %s\n", gs->alarm);
        if (gs->history != NULL) {
            const Ics__V1__HistoryStatus *h = gs->history;
            if (h->failed)
                printf("  HISTORY: cannot be written: the group has stopped applying (see the"
                       " log)\n");
            else if (h->missing > 0)
                printf("  history: backfilling, %llu entries missing (asking %s)\n",
                       (unsigned long long)h->missing, h->peer[0] ? h->peer : "no peer yet");
            else
                printf("  history: complete to position %llu\n", (unsigned long long)h->top);
            if (h->corrupt > 0)
                printf("  HISTORY: %llu entries were found corrupt on disk (repaired, or fetched"
                       " again from peers)\n", (unsigned long long)h->corrupt);
            if (h->diverged > 0)
                printf("  HISTORY ALARM: %llu entries on disk disagree with the log\n",
                       (unsigned long long)h->diverged);
            if (h->last_error[0] != '\0' && (h->missing > 0 || h->bad_chunks > 0))
                printf("  backfill: %llu failures, %llu bad chunks; last: %s\n",
                       (unsigned long long)h->failures, (unsigned long long)h->bad_chunks,
                       h->last_error);
        }
        printf("  %-14s %-8s %-13s %-10s %-9s %-7s %s\n", "PEER", "RAFT", "STATE", "LAST SEEN",
               "RTT", "MATCH", "LAG");
        for (size_t i = 0; i < gs->n_peers; i++) {
            const Ics__V1__PeerStatus *p = gs->peers[i];
            char seen[16] = "never", rtt[16] = "-", match[24] = "-", lag[24] = "-";
            if (p->ever_seen)
                snprintf(seen, sizeof seen, "%.1fs ago", p->last_seen_ms_ago / 1000.0);
            if (p->rtt_us)
                snprintf(rtt, sizeof rtt, "%.2fms", p->rtt_us / 1000.0);
            if (strcmp(gs->role, "leader") == 0) {
                snprintf(match, sizeof match, "%llu", (unsigned long long)p->match_index);
                snprintf(lag, sizeof lag, "%llu", (unsigned long long)p->lag);
            }
            printf("  %-14s %-8s %-13s %-10s %-9s %-7s %s\n", p->org,
                   p->raft_role[0] ? p->raft_role : "-",
                   p->connected ? "connected" : "disconnected", seen, rtt, match, lag);
        }
    }
    printf("\nframes: in %llu, out %llu; dropped: send %llu, undecodable %llu, "
           "unknown group %llu, non-member %llu; refused connections %llu\n",
           (unsigned long long)s->frames_in, (unsigned long long)s->frames_out,
           (unsigned long long)s->dropped_send, (unsigned long long)s->dropped_bad,
           (unsigned long long)s->dropped_unknown_group,
           (unsigned long long)s->dropped_not_member, (unsigned long long)s->refused);
}

static int cmd_status(opts_t *o, int argc, char **argv)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__StatusRequest sr = ICS__V1__STATUS_REQUEST__INIT;
    Ics__V1__ControlResponse *resp;
    (void)argv;

    if (ctl_parse(o, &argc, argv, NULL) != EXIT_OK || argc != 0)
        return EXIT_USAGE;
    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_STATUS;
    req.status = &sr;
    resp = ctl_call(o, &req);
    if (resp == NULL)
        return EXIT_FAIL;
    if (resp->body_case != ICS__V1__CONTROL_RESPONSE__BODY_STATUS) {
        fprintf(stderr, "icsctl: unexpected answer\n");
        ics__v1__control_response__free_unpacked(resp, NULL);
        return EXIT_FAIL;
    }
    if (o->json)
        s_status_json(resp->status);
    else
        s_status_text(resp->status);
    ics__v1__control_response__free_unpacked(resp, NULL);
    return EXIT_OK;
}

/* ---- submit --------------------------------------------------------------- */

/* Submits a packed Command; prints the outcome. Shared by every command
 * that changes state. */
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
            fprintf(stderr, "icsctl: --token must be 32 hex digits\n");
            *rc = EXIT_USAGE;
            return NULL;
        }
    } else {
        randombytes_buf(token, sizeof token);
    }
    ics_hex(token, sizeof token, hex);
    if (ics_pack(&cmd->base, &buf, &len) != ICS_OK) {
        fprintf(stderr, "icsctl: out of memory\n");
        return NULL;
    }
    sub.command.data = buf;
    sub.command.len = len;
    sub.client_token.data = token;
    sub.client_token.len = sizeof token;
    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_SUBMIT;
    req.submit = &sub;
    resp = ctl_call(o, &req);
    free(buf);
    if (resp == NULL) {
        fprintf(stderr, "icsctl: to retry without applying it twice, repeat the command with "
                        "--token %s\n", hex);
        return NULL;
    }
    if (resp->body_case != ICS__V1__CONTROL_RESPONSE__BODY_SUBMIT) {
        fprintf(stderr, "icsctl: unexpected answer\n");
        ics__v1__control_response__free_unpacked(resp, NULL);
        return NULL;
    }
    *rc = EXIT_OK;
    return resp;
}

int ctl_submit(opts_t *o, Ics__V1__Command *cmd)
{
    char hex[33];
    int rc;
    Ics__V1__ControlResponse *resp = ctl_submit_call(o, cmd, hex, &rc);

    if (resp == NULL)
        return rc;
    const Ics__V1__SubmitReply *r = resp->submit;
    if (o->json) {
        json_t j;
        json_init(&j, stdout);
        json_obj(&j, NULL);
        json_u64(&j, "index", r->position);
        json_hex(&j, "entry_id", r->entry_id.data, r->entry_id.len);
        json_str(&j, "org", r->org);
        json_u64(&j, "seq", r->seq);
        json_bool(&j, "accepted", r->accepted);
        json_str(&j, "reason", r->reason);
        json_str(&j, "token", hex);
        json_end_obj(&j);
        json_done(&j);
        rc = r->accepted ? EXIT_OK : EXIT_FAIL;
    } else {
        char id[65];
        ics_hex(r->entry_id.data, r->entry_id.len > 32 ? 32 : r->entry_id.len, id);
        if (r->accepted)
            printf("accepted at index %llu (entry %.16s…, %s seq %llu)\n",
                   (unsigned long long)r->position, id, r->org, (unsigned long long)r->seq);
        else
            printf("rejected at index %llu: %s (entry %.16s…)\n",
                   (unsigned long long)r->position, r->reason, id);
        rc = r->accepted ? EXIT_OK : EXIT_FAIL;
    }
    ics__v1__control_response__free_unpacked(resp, NULL);
    return rc;
}

int ctl_query(opts_t *o, const char *name, int argc, char **argv)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__QueryRequest q = ICS__V1__QUERY_REQUEST__INIT;
    Ics__V1__ControlResponse *resp;

    q.name = (char *)name;
    q.args = argv;
    q.n_args = (size_t)argc;
    q.fresh = o->fresh;
    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_QUERY;
    req.query = &q;
    resp = ctl_call(o, &req);
    if (resp == NULL)
        return EXIT_FAIL;
    if (resp->body_case != ICS__V1__CONTROL_RESPONSE__BODY_QUERY) {
        fprintf(stderr, "icsctl: unexpected answer\n");
        ics__v1__control_response__free_unpacked(resp, NULL);
        return EXIT_FAIL;
    }
    if (o->json) {
        fputs(resp->query->json, stdout);
        fputc('\n', stdout);
    } else {
        fputs(resp->query->text, stdout);
        size_t n = strlen(resp->query->text);
        if (n > 0 && resp->query->text[n - 1] != '\n')
            fputc('\n', stdout);
    }
    ics__v1__control_response__free_unpacked(resp, NULL);
    return EXIT_OK;
}

static int cmd_submit(opts_t *o, int argc, char **argv)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Raw raw = ICS__V1__RAW__INIT;
    const char *note = NULL;
    const ctl_opt_t own[] = {{"note", &note, NULL}, {NULL, NULL, NULL}};

    if (ctl_parse(o, &argc, argv, own) != EXIT_OK || argc != 1)
        return EXIT_USAGE;
    raw.data.data = (uint8_t *)argv[0];
    raw.data.len = strlen(argv[0]);
    raw.note = (char *)(note != NULL ? note : "");
    cmd.body_case = ICS__V1__COMMAND__BODY_RAW;
    cmd.raw = &raw;
    return ctl_submit(o, &cmd);
}

/* ---- log ------------------------------------------------------------------ */

static void s_print_entry(const Ics__V1__LogEntry *e, bool json, json_t *j)
{
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *cmd = NULL;
    uint8_t id[ICS_ENTRY_ID_BYTES];
    char when[32], clock[32], idhex[65], chain[65];

    ics_entry_id(e->envelope.data, e->envelope.len, id);
    ics_hex(id, sizeof id, idhex);
    ics_hex(e->chain.data, e->chain.len > 32 ? 32 : e->chain.len, chain);
    ctl_fmt_time(e->clock_ms, clock, sizeof clock);
    if (ics_envelope_decode(e->envelope.data, e->envelope.len, &env, NULL) == ICS_OK)
        ics_command_decode(env, &cmd, NULL);
    if (json) {
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
    } else {
        if (env != NULL) {
            ctl_fmt_time(env->timestamp_ms, when, sizeof when);
            printf("%6llu  %s  %-10s %-10s seq %-5llu %-12s %-10s %s%s\n",
                   (unsigned long long)e->position, when, env->org,
                   cmd != NULL ? cmd->actor : "-", (unsigned long long)env->seq,
                   s_kind_name(env->kind), e->accepted ? "accepted" : "REJECTED",
                   e->accepted ? "" : ": ", e->reason);
        } else {
            printf("%6llu  (undecodable envelope)  REJECTED: %s\n",
                   (unsigned long long)e->position, e->reason);
        }
    }
    if (cmd != NULL)
        ics__v1__command__free_unpacked(cmd, NULL);
    if (env != NULL)
        ics__v1__envelope__free_unpacked(env, NULL);
}

static void s_print_detail(const Ics__V1__LogEntry *e)
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
    printf("outcome    %s%s%s\n", e->accepted ? "accepted" : "rejected",
           e->accepted ? "" : ": ", e->reason);
    printf("chain      %s\n", chain);
    printf("log clock  %s\n", clock);
    if (ics_envelope_decode(e->envelope.data, e->envelope.len, &env, NULL) != ICS_OK) {
        printf("envelope   undecodable (%zu bytes)\n", e->envelope.len);
        return;
    }
    ctl_fmt_time(env->timestamp_ms, when, sizeof when);
    ics_hex(env->key_id.data, env->key_id.len > 8 ? 8 : env->key_id.len, kid);
    printf("group      %s\norg        %s\nkey id     %s\nseq        %llu\nsigned at  %s\n"
           "kind       %s (%u)\n", env->group, env->org, kid, (unsigned long long)env->seq,
           when, s_kind_name(env->kind), env->kind);
    if (ics_command_decode(env, &cmd, NULL) == ICS_OK) {
        printf("actor      %s\n", cmd->actor);
        if (cmd->body_case == ICS__V1__COMMAND__BODY_RAW)
            printf("data       %.*s\nnote       %s\n", (int)cmd->raw->data.len,
                   (const char *)cmd->raw->data.data, cmd->raw->note);
        ics__v1__command__free_unpacked(cmd, NULL);
    }
    ics__v1__envelope__free_unpacked(env, NULL);
}

static int s_log_request(opts_t *o, Ics__V1__LogRequest *lr, Ics__V1__ControlResponse **out)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_LOG;
    req.log = lr;
    *out = ctl_call(o, &req);
    if (*out == NULL)
        return EXIT_FAIL;
    if ((*out)->body_case != ICS__V1__CONTROL_RESPONSE__BODY_LOG) {
        fprintf(stderr, "icsctl: unexpected answer\n");
        ics__v1__control_response__free_unpacked(*out, NULL);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}


static int cmd_log(opts_t *o, int argc, char **argv)
{
    Ics__V1__LogRequest lr = ICS__V1__LOG_REQUEST__INIT;
    Ics__V1__ControlResponse *resp = NULL;
    const char *count = NULL;
    const ctl_opt_t own[] = {{"n", &count, NULL}, {"count", &count, NULL}, {NULL, NULL, NULL}};
    uint64_t n = 10;
    int rc;

    if (ctl_parse(o, &argc, argv, own) != EXIT_OK || argc < 1)
        return EXIT_USAGE;
    if (count != NULL && (!ctl_u64("-n", count, &n) || n < 1 || n > 100)) {
        fprintf(stderr, "icsctl: -n: expected 1 to 100\n");
        return EXIT_USAGE;
    }
    if (strcmp(argv[0], "verify") == 0) {
        ics_log_verify_report_t rep;
        ics_err_t err;
        FILE *f;
        if (argc != 2)
            return EXIT_USAGE;
        f = fopen(argv[1], "r");
        if (f == NULL) {
            fprintf(stderr, "icsctl: %s: %s\n", argv[1], strerror(errno));
            return EXIT_FAIL;
        }
        rc = ics_log_verify(f, &rep, &err);
        fclose(f);
        if (rc != ICS_OK) {
            fprintf(stderr, "icsctl: %s: verification FAILED: %s\n", argv[1], err.msg);
            return EXIT_FAIL;
        }
        printf("%s: ok: group %s, %llu entries (%llu accepted, %llu rejected), chain verified, "
               "every accepted entry signed by its key in force\n", argv[1], rep.group,
               (unsigned long long)rep.entries, (unsigned long long)rep.accepted,
               (unsigned long long)rep.rejected);
        return EXIT_OK;
    }
    if (strcmp(argv[0], "tail") == 0 && argc == 1) {
        lr.op = ICS__V1__LOG_REQUEST__OP__TAIL;
        lr.count = (uint32_t)n;
    } else if (strcmp(argv[0], "show") == 0 && argc == 2) {
        lr.op = ICS__V1__LOG_REQUEST__OP__SHOW;
        uint64_t pos;
        if (!ctl_u64("log show", argv[1], &pos))
            return EXIT_USAGE;
        lr.position = pos;
    } else if (strcmp(argv[0], "export") == 0 && argc == 2) {
        lr.op = ICS__V1__LOG_REQUEST__OP__EXPORT;
    } else {
        return EXIT_USAGE;
    }
    rc = s_log_request(o, &lr, &resp);
    if (rc != EXIT_OK)
        return rc;
    const Ics__V1__LogReply *reply = resp->log;
    if (lr.op == ICS__V1__LOG_REQUEST__OP__EXPORT) {
        FILE *f = strcmp(argv[1], "-") == 0 ? stdout : fopen(argv[1], "w");
        if (f == NULL || fwrite(reply->document.data, 1, reply->document.len, f) !=
                             reply->document.len) {
            fprintf(stderr, "icsctl: %s: %s\n", argv[1], strerror(errno));
            rc = EXIT_FAIL;
        }
        if (f != NULL && f != stdout && fclose(f) != 0) {
            fprintf(stderr, "icsctl: %s: %s\n", argv[1], strerror(errno));
            rc = EXIT_FAIL;
        }
        if (rc == EXIT_OK && f != stdout)
            fprintf(stderr, "icsctl: wrote %zu bytes to %s\n", reply->document.len, argv[1]);
    } else if (o->json) {
        json_t j;
        json_init(&j, stdout);
        json_arr(&j, NULL);
        for (size_t i = 0; i < reply->n_entries; i++)
            s_print_entry(reply->entries[i], true, &j);
        json_end_arr(&j);
        json_done(&j);
    } else if (lr.op == ICS__V1__LOG_REQUEST__OP__SHOW && reply->n_entries == 1) {
        s_print_detail(reply->entries[0]);
    } else {
        for (size_t i = 0; i < reply->n_entries; i++)
            s_print_entry(reply->entries[i], false, NULL);
        if (reply->n_entries == 0)
            printf("(the log is empty)\n");
    }
    ics__v1__control_response__free_unpacked(resp, NULL);
    return rc;
}

/* ---- keys ----------------------------------------------------------------- */

static int cmd_keys(opts_t *o, int argc, char **argv)
{
    char pub[ICS_PUBKEY_TEXT_MAX];
    ics_err_t err;

    if (ctl_parse(o, &argc, argv, NULL) != EXIT_OK || argc != 2 || strcmp(argv[0], "gen") != 0)
        return EXIT_USAGE;
    if (ics_identity_generate(argv[1], pub, &err) != ICS_OK) {
        fprintf(stderr, "icsctl: %s\n", err.msg);
        return EXIT_FAIL;
    }
    printf("%s\n", pub);
    fprintf(stderr, "icsctl: wrote secret key %s (mode 0600)\n", argv[1]);
    return EXIT_OK;
}

/* ---- table and main ------------------------------------------------------- */

static int cmd_help(opts_t *o, int argc, char **argv);

/* member add|remove|rekey: membership commands, for the group's
 * administrator (or, with a carried decision, as the policy allows). */
static int cmd_member(opts_t *o, int argc, char **argv)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__MemberAdd add = ICS__V1__MEMBER_ADD__INIT;
    Ics__V1__MemberRemove rm = ICS__V1__MEMBER_REMOVE__INIT;
    Ics__V1__KeyRotate rot = ICS__V1__KEY_ROTATE__INIT;
    const char *kind = NULL, *name = NULL, *endpoint = NULL, *key = NULL;
    bool standby = false;
    uint8_t pk[ICS_PK_BYTES];
    const ctl_opt_t own[] = {{"kind", &kind, NULL}, {"name", &name, NULL},
                             {"endpoint", &endpoint, NULL}, {"key", &key, NULL},
                             {"standby", NULL, &standby}, {NULL, NULL, NULL}};

    if (ctl_parse(o, &argc, argv, own) != EXIT_OK || argc < 2)
        return EXIT_USAGE;
    if (!ics_valid_id(argv[1], ICS_ORG_MAX)) {
        fprintf(stderr, "icsctl: '%s' is not an organisation id (ODS code)\n", argv[1]);
        return EXIT_USAGE;
    }
    if (key != NULL && !ics_pubkey_parse(key, pk)) {
        fprintf(stderr, "icsctl: --key '%s': expected ed25519:<base64> as printed by "
                        "'icsd keygen'\n", key);
        return EXIT_USAGE;
    }
    if (strcmp(argv[0], "add") == 0 && argc == 2) {
        if (kind == NULL || name == NULL || endpoint == NULL || key == NULL) {
            fprintf(stderr, "icsctl: member add needs --kind, --name, --endpoint and --key\n");
            return EXIT_USAGE;
        }
        if (!ics_org_kind_valid(kind)) {
            fprintf(stderr, "icsctl: --kind '%s' is not an organisation kind\n", kind);
            return EXIT_USAGE;
        }
        if (strncmp(endpoint, "tcp://", 6) != 0) {
            fprintf(stderr, "icsctl: --endpoint '%s': expected tcp://HOST:PORT\n", endpoint);
            return EXIT_USAGE;
        }
        add.org = argv[1];
        add.kind = (char *)kind;
        add.name = (char *)name;
        add.endpoint = (char *)endpoint;
        add.public_key.data = pk;
        add.public_key.len = sizeof pk;
        add.role = standby ? ICS__V1__MEMBER_ROLE__MEMBER_ROLE_STANDBY
                           : ICS__V1__MEMBER_ROLE__MEMBER_ROLE_VOTER;
        cmd.body_case = ICS__V1__COMMAND__BODY_MEMBER_ADD;
        cmd.member_add = &add;
    } else if (strcmp(argv[0], "remove") == 0 && argc == 2) {
        rm.org = argv[1];
        cmd.body_case = ICS__V1__COMMAND__BODY_MEMBER_REMOVE;
        cmd.member_remove = &rm;
    } else if (strcmp(argv[0], "rekey") == 0 && argc == 2) {
        if (key == NULL) {
            fprintf(stderr, "icsctl: member rekey needs --key (the new public key)\n");
            return EXIT_USAGE;
        }
        rot.org = argv[1];
        rot.public_key.data = pk;
        rot.public_key.len = sizeof pk;
        cmd.body_case = ICS__V1__COMMAND__BODY_KEY_ROTATE;
        cmd.key_rotate = &rot;
    } else {
        return EXIT_USAGE;
    }
    return ctl_submit(o, &cmd);
}

static int cmd_members(opts_t *o, int argc, char **argv)
{
    if (ctl_parse(o, &argc, argv, NULL) != EXIT_OK || argc != 0)
        return EXIT_USAGE;
    return ctl_query(o, "members.list", 0, NULL);
}

static const cmd_t s_commands[] = {
    {"status", cmd_status, "status [--json]",
     "Show this node: organisation, groups, raft role and indexes, each peer's\n"
     "connection, last contact and round-trip time, checkpoints, dropped frames."},
    {"submit", cmd_submit, "submit DATA [--note TEXT] [--token HEX] [--json]",
     "Sign DATA as an opaque test entry in the organisation's name and wait until it\n"
     "is applied. Prints the index, entry id and outcome. A retry with the same\n"
     "--token is applied once."},
    {"log", cmd_log, "log tail [-n N] | log show INDEX | log export FILE | log verify FILE",
     "Read the group's audit log. export writes the self-verifying log of every\n"
     "entry (format: docs/log-format.md); verify checks such a file offline and\n"
     "names the first bad entry."},
    {"members", cmd_members, "members [--json] [--fresh]",
     "List the group's current members: organisation, kind, voter or standby,\n"
     "the log index they joined at, and who administers membership."},
    {"member", cmd_member,
     "member add ORG --kind KIND --name NAME --endpoint tcp://HOST:PORT --key ed25519:... "
     "[--standby] | member remove ORG | member rekey ORG --key ed25519:...",
     "Change the group's membership. add admits a partner (a voter unless\n"
     "--standby) with its endpoint and public key: the members' nodes then accept\n"
     "its connections and the leader adds it to raft, after which it catches up.\n"
     "remove takes a partner out; rekey puts a new public key in force for an\n"
     "organisation from the next entry: prepare it first with 'icsd keygen KEY_FILE.next'\n"
     "on that organisation's node, which switches to it when the entry applies.\n"
     "Allowed to the group's administrator, or as the scheme of delegation says."},
    {"keys", cmd_keys, "keys gen FILE",
     "Create an organisation identity key (mode 0600, never overwritten) and print\n"
     "its public key for the members' configurations."},
    /* Plans, consultations, decisions (cmd_plans.c). */
    {"plan", cmd_plan,
     "plan list | plan create PLAN --title T --period 2026/27-2030/31 --from FILE |\n"
     "       plan show PLAN [--version V] | plan history PLAN | plan diff PLAN V1 V2 |\n"
     "       plan publish PLAN [--version V] [--out FILE] | plan adopt PLAN VERSION",
     "Joint forward plans. create makes version 1 from FILE ('-' for stdin): each\n"
     "section starts with a line '## ID Title' and its text follows (paragraphs\n"
     "separated by blank lines). Every accepted amendment makes a new, numbered,\n"
     "immutable version with a content hash. show prints a version (default the\n"
     "latest); history lists versions, adoptions, consultations and amendments;\n"
     "diff compares two versions section by section, in unified-diff style.\n"
     "adopt proposes a motion to adopt a version (after a closed consultation that\n"
     "has every health and wellbeing board's opinion on record); publish writes\n"
     "the adopted version (or --version V, marked as a draft) as Markdown with the\n"
     "HWB opinions, the consultation summary and the decision record, to --out\n"
     "FILE or stdout."},
    {"amend", cmd_amend,
     "amend propose PLAN --base V --op replace|insert|delete|add --section ID\n"
     "       [--title T] [--text T | --text-file F] [--paragraph N] [--after ID]\n"
     "       --rationale R | amend withdraw ID [--reason R] | amend accept ID |\n"
     "       amend show ID | amend list [PLAN] [--status S]",
     "Amendments to a plan, against a base version: replace a section's text (and\n"
     "title with --title); insert text before paragraph --paragraph N (default at\n"
     "the end); delete paragraph N or, without --paragraph, the whole section; add\n"
     "a section (--title, text) after --after ID or at the end. A change to a\n"
     "section that has changed since the base is refused, saying which version and\n"
     "amendment changed it and how to rebase: nothing is ever merged silently.\n"
     "The number printed is the amendment's. accept proposes the motion to accept\n"
     "it (the scheme says who decides); withdraw is for the proposing organisation.\n"
     "Statuses: proposed, accepted, rejected, withdrawn, superseded."},
    {"consult", cmd_consult,
     "consult open PLAN VERSION --consultees LIST --question Q --closes TIME\n"
     "       [--opens TIME] | consult respond ID --position P [--for ORG]\n"
     "       [--text T | --text-file F] [--amendments LIST]\n"
     "       [--hwb-opinion yes|no --hwb-reasons R] | consult close ID |\n"
     "       consult show ID | consult summary ID | consult list [PLAN]",
     "Consultation rounds on a frozen plan version. open proposes the decision to\n"
     "open one; its number is the motion's. Consultees are organisation ids or\n"
     "kinds (kind:hwb, kind:icp, kind:nhse, kind:healthwatch), separated by\n"
     "spaces or commas. Times: 2026-03-01T17:00:00Z, 2026-03-01, now, +3d, +4h,\n"
     "+30m or +45s. respond gives a position (support, support-with-changes,\n"
     "object, no-comment); a later response revises it until closing. --for ORG\n"
     "responds for a consultee you act for (an HWB chair for the board); an HWB\n"
     "must say whether the draft takes proper account of its joint local health\n"
     "and wellbeing strategy (--hwb-opinion, --hwb-reasons). Rounds close at the\n"
     "deadline by the log's clock, or early by the decision close proposes.\n"
     "summary counts positions and lists who did not respond."},
    {"motion", cmd_motion,
     "motion propose adopt PLAN VERSION | accept AMENDMENT | close CONSULTATION |\n"
     "       admit ORG --kind K --name N --key ed25519:... | remove ORG |\n"
     "       aid OFFER --org ORG --value N  [--title T] [--text T] [--subjects LIST] |\n"
     "       motion withdraw ID [--reason R] | motion show ID | motion list [--open]",
     "Collective decisions under the scheme of reservation and delegation (see\n"
     "icsctl policy show): the rule that covers a motion says who may propose it\n"
     "and who decides: a body by vote, with its quorum, threshold and voting\n"
     "period, or one role holder acting alone (who decides at once by proposing).\n"
     "Members with a declared interest in one of the motion's subjects (plan:ID,\n"
     "org:ORG, amendment:N, or --subjects tags) are excluded. A motion closes at\n"
     "its deadline or as soon as the votes not yet cast cannot change the outcome;\n"
     "a carried motion's decision is carried out by every node. An admission\n"
     "authorises one 'icsctl member add' with exactly that organisation and key."},
    {"vote", cmd_vote, "vote MOTION for|against|abstain [--reason R]",
     "Vote on a motion as the person acting (--as). A different later vote\n"
     "changes yours while the motion is open; the same vote twice is refused. Each\n"
     "vote is a signed entry of the log, cited in the decision record."},
    {"policy", cmd_policy,
     "policy show [--version V] | policy check FILE |\n"
     "       policy propose-change FILE [--title T] [--text T]",
     "The scheme of reservation and delegation: show renders the one in force (or\n"
     "an earlier version) as a map of who decides what, with quorum, threshold and\n"
     "voting period, the bodies and the roles. check validates a policy file\n"
     "offline (format: docs/policy.md) and names the file and line of any error.\n"
     "propose-change proposes a motion to put FILE in force; the scheme changes\n"
     "only when that motion is carried."},
    {"people", cmd_people,
     "people register PERSON --name N [--title T] | people remove PERSON |\n"
     "       people role ORG/PERSON ROLE [--scope ORG] [--revoke] |\n"
     "       people interest SUBJECT --description D [--organisation] [--withdraw] |\n"
     "       people org add ID --kind K --name N [--parent ORG] | people org remove ID |\n"
     "       people list [ORG]",
     "Who acts for the members. register records a person of your organisation\n"
     "(PERSON is the name they act under: their user name or --as). role appoints\n"
     "a person to a role of the scheme (some roles are appointed by the ICB, others\n"
     "by the person's own organisation; --scope names what a role acts for, e.g.\n"
     "an HWB chair's board). interest declares the acting person's interest in a\n"
     "subject (plan:ID, org:ORG, tag:...), or with --organisation one of the whole\n"
     "organisation. org add registers an organisation without a node (an HWB, the\n"
     "ICP, NHS England, Healthwatch) so that it can be consulted."},
    /* Mutual aid and OPEL (cmd_aid.c). */
    {"opel", cmd_opel,
     "opel set LEVEL --type TYPE [NAME=VALUE ...] [--note TEXT] | opel show [ORG] |\n"
     "       opel history [ORG] [-n N] | opel parameters [TYPE]",
     "Report and read OPEL (Operational Pressures Escalation Levels).\n"
     "\n"
     "  set LEVEL --type TYPE [NAME=VALUE ...] [--note TEXT]\n"
     "      Report this organisation's OPEL level (1 maintaining flow, 2 signs of\n"
     "      pressure, 3 major pressures compromising flow, 4 unable to deliver\n"
     "      comprehensive care) for a provider type (acute, ambulance,\n"
     "      mental_health, community, social_care), with the parameters behind it\n"
     "      in whole units, e.g.\n"
     "        opel set 4 --type acute handover_mean_mins=95 ed_4h_pct=61 \\\n"
     "            ed_12h_count=23 ga_occupancy_pct=99 nctr_count=140\n"
     "  show [ORG]        the system level and each organisation's current level\n"
     "  history [ORG] [-n N]  reports newest first, and the system level's changes\n"
     "  parameters [TYPE] the parameters each provider type reports, with units\n"
     "\n"
     "The system level is derived from the current reports (each organisation's\n"
     "latest per provider type, at most 24 hours old): a weighted mean of the\n"
     "levels (acute 3, ambulance and mental health 2, others 1), raised to at\n"
     "least 3 when any provider is at 4, and to 4 when those at 4 carry half the\n"
     "weight. docs/opel-and-aid.md has the exact method. Reads take --json."},
    {"aid", cmd_aid,
     "aid request|offer|accept|approve|deliver|return|withdraw|cancel|escalate ... |\n"
     "       aid show REQUEST | aid list [--status S] [--org ORG] [--resource R] |\n"
     "       aid board | aid resources",
     "Mutual aid between partners. Requests and offers are named by the index\n"
     "that raising them printed.\n"
     "\n"
     "  request RESOURCE QUANTITY --urgency immediate|4h|24h|planned --site TEXT\n"
     "          --reason TEXT --contact TEXT [--specialty S] [--from T] [--until T]\n"
     "          [--expires T] [--escalate-after 30m|2h|90s|never]\n"
     "      Ask partners for aid (icsctl aid resources lists resources and units;\n"
     "      staff need --specialty). The request records your current OPEL. It\n"
     "      expires at --expires (default: by urgency, at the latest --until)\n"
     "      and, if still unmet after --escalate-after (default by urgency), is\n"
     "      raised in the regional group. Times: 2026-12-01T09:00:00Z, now, +4h.\n"
     "  offer REQUEST QUANTITY [--conditions TEXT] [--valid-until T] [--contact TEXT]\n"
     "  accept OFFER [QUANTITY]      requester: accept an offer, in whole or part;\n"
     "                               each offer is accepted once\n"
     "  approve OFFER [--decline] [--note TEXT]\n"
     "      approve an acceptance above the scheme of reservation and delegation's\n"
     "      threshold (by the role it names)\n"
     "  deliver OFFER [--note TEXT]  offerer or requester (or the coordinating\n"
     "                               organisation for it): the aid was provided\n"
     "  return OFFER [--note TEXT]   the aid was handed back\n"
     "  withdraw OFFER [--reason TEXT]  offerer: withdraw an offer not yet accepted\n"
     "  cancel REQUEST [--reason TEXT]  requester: cancel (aid already delivered\n"
     "                               stays until handed back)\n"
     "  escalate REQUEST [--reason TEXT]  requester: raise the unmet rest in the\n"
     "                               regional group now\n"
     "  show REQUEST                 one request: offers, escalation, timeline\n"
     "  list [--status open|met|closed|cancelled|expired|completed|active|all]\n"
     "       [--org ORG] [--resource R]\n"
     "  board                        the system picture: OPEL by organisation, open\n"
     "                               requests with what is offered and accepted\n"
     "                               (oldest unmet first), aid in use\n"
     "  resources                    the resource catalogue with units\n"
     "\n"
     "A refusal says why (already accepted, more than needed, cancelled...).\n"
     "Reads take --json and --fresh; changes print the index. See\n"
     "docs/opel-and-aid.md."},
    {"help", cmd_help, "help [COMMAND]", "Show help for a command."},
};

static const cmd_t *s_find(const char *name)
{
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (strcmp(s_commands[i].name, name) == 0)
            return &s_commands[i];
    return NULL;
}

static void s_usage(FILE *f)
{
    fprintf(f, "Usage: icsctl [OPTIONS] COMMAND [ARGS]\n\nCommands:\n");
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        fprintf(f, "  %s\n", s_commands[i].usage);
    fprintf(f,
            "\nOptions:\n"
            "  -c, --config FILE    node configuration to find the control socket\n"
            "                       (default " DEFAULT_CONFIG ")\n"
            "  -s, --socket ENDPOINT  control socket (default: from the config, else\n"
            "                       " DEFAULT_SOCKET ")\n"
            "  -g, --group NAME     group to act in (needed when the node is in several)\n"
            "      --as PERSON      the person acting (default: your user name)\n"
            "  -t, --timeout MS     how long to wait for a commit (default 5000)\n"
            "      --token HEX      reuse a submission's token to retry it safely\n"
            "      --json           machine-readable output\n"
            "      --fresh          read after the node has caught up with the leader\n"
            "  -h, --help           help (for a command: icsctl COMMAND --help)\n"
            "  -V, --version        show the version\n"
            "\nExit status: 0 ok, 1 failed or rejected, 2 usage error.\n");
}

static void s_command_help(FILE *f, const cmd_t *c)
{
    fprintf(f, "Usage: icsctl [OPTIONS] %s\n\n%s\n\nSee icsctl --help for OPTIONS.\n", c->usage,
            c->help);
}

static int cmd_help(opts_t *o, int argc, char **argv)
{
    if (ctl_parse(o, &argc, argv, NULL) != EXIT_OK)
        return EXIT_USAGE;
    if (argc == 0) {
        s_usage(stdout);
        return EXIT_OK;
    }
    const cmd_t *c = s_find(argv[0]);
    if (c == NULL) {
        fprintf(stderr, "icsctl: no command '%s'\n", argv[0]);
        return EXIT_USAGE;
    }
    s_command_help(stdout, c);
    return EXIT_OK;
}

/* ---- option parsing ------------------------------------------------------ */

bool ctl_u64(const char *what, const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
        fprintf(stderr, "icsctl: %s: '%s' is not a whole number\n", what, s);
        return false;
    }
    *out = v;
    return true;
}

bool ctl_time(const char *what, const char *s, uint64_t *out_ms)
{
    struct tm tm;
    char unit = 0;
    unsigned long long n = 0;
    int used = 0;

    memset(&tm, 0, sizeof tm);
    if (strcmp(s, "now") == 0) {
        *out_ms = (uint64_t)time(NULL) * 1000;
        return true;
    }
    if (s[0] == '+' && sscanf(s + 1, "%llu%c%n", &n, &unit, &used) == 2 &&
        s[1 + used] == '\0') {
        uint64_t mult = unit == 'd' ? 86400000ull : unit == 'h' ? 3600000ull :
                        unit == 'm' ? 60000ull : 0;
        if (mult != 0) {
            *out_ms = (uint64_t)time(NULL) * 1000 + n * mult;
            return true;
        }
    }
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end == NULL || *end != '\0') {
        memset(&tm, 0, sizeof tm);
        end = strptime(s, "%Y-%m-%d", &tm);
    }
    if (end == NULL || *end != '\0') {
        fprintf(stderr, "icsctl: %s: '%s' is not a time (use 2026-12-01T09:00:00Z, "
                        "2026-12-01, now, or +3d / +4h / +30m)\n", what, s);
        return false;
    }
    *out_ms = (uint64_t)timegm(&tm) * 1000;
    return true;
}

int ctl_parse(opts_t *o, int *argc, char **argv, const ctl_opt_t *own)
{
    int out = 0;
    for (int i = 0; i < *argc; i++) {
        char *a = argv[i];
        const char *name, *value = NULL;
        char buf[64];

        if (strcmp(a, "--") == 0) {
            for (i++; i < *argc; i++)
                argv[out++] = argv[i];
            break;
        }
        if (a[0] != '-' || a[1] == '\0') {
            argv[out++] = a;
            continue;
        }
        name = a + (a[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        if (eq != NULL) {
            snprintf(buf, sizeof buf, "%.*s", (int)(eq - name), name);
            name = buf;
            value = eq + 1;
        }
#define NEEDS_VALUE()                                                                    \
    do {                                                                                 \
        if (value == NULL) {                                                             \
            if (i + 1 >= *argc) {                                                        \
                fprintf(stderr, "icsctl: %s needs a value\n", a);                        \
                return EXIT_USAGE;                                                       \
            }                                                                            \
            value = argv[++i];                                                           \
        }                                                                                \
    } while (0)
        bool matched = false;
        for (const ctl_opt_t *op = own; op != NULL && op->name != NULL; op++) {
            if (strcmp(name, op->name) != 0)
                continue;
            matched = true;
            if (op->flag != NULL) {
                *op->flag = true;
            } else {
                NEEDS_VALUE();
                *op->value = value;
            }
        }
        if (matched)
            continue;
        if (strcmp(name, "json") == 0) {
            o->json = true;
        } else if (strcmp(name, "fresh") == 0) {
            o->fresh = true;
        } else if (strcmp(name, "h") == 0 || strcmp(name, "help") == 0) {
            o->help = true;
        } else if (strcmp(name, "c") == 0 || strcmp(name, "config") == 0) {
            NEEDS_VALUE();
            o->config = value;
        } else if (strcmp(name, "s") == 0 || strcmp(name, "socket") == 0) {
            NEEDS_VALUE();
            o->socket = value;
        } else if (strcmp(name, "g") == 0 || strcmp(name, "group") == 0) {
            NEEDS_VALUE();
            o->group = value;
        } else if (strcmp(name, "as") == 0) {
            NEEDS_VALUE();
            o->actor = value;
        } else if (strcmp(name, "token") == 0) {
            NEEDS_VALUE();
            o->token_hex = value;
        } else if (strcmp(name, "t") == 0 || strcmp(name, "timeout") == 0) {
            uint64_t v;
            NEEDS_VALUE();
            if (!ctl_u64("--timeout", value, &v) || v < 100 || v > 3600000) {
                fprintf(stderr, "icsctl: --timeout: expected milliseconds from 100 to "
                                "3600000\n");
                return EXIT_USAGE;
            }
            o->timeout_ms = (unsigned)v;
        } else {
            fprintf(stderr, "icsctl: unknown option %s\n", a);
            return EXIT_USAGE;
        }
#undef NEEDS_VALUE
    }
    *argc = out;
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    opts_t o = {.timeout_ms = 5000};
    const cmd_t *cmd;
    int i, rc;

    /* Global options before the command. */
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
            printf("icsctl %s\n", ICS_VERSION);
            return EXIT_OK;
        }
        bool takes_value = strchr(argv[i], '=') == NULL &&
                           (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0 ||
                            strcmp(argv[i], "-s") == 0 || strcmp(argv[i], "--socket") == 0 ||
                            strcmp(argv[i], "-g") == 0 || strcmp(argv[i], "--group") == 0 ||
                            strcmp(argv[i], "--as") == 0 || strcmp(argv[i], "--token") == 0 ||
                            strcmp(argv[i], "-t") == 0 || strcmp(argv[i], "--timeout") == 0);
        if (takes_value)
            i++;
    }
    int nglobal = i - 1;
    if (ctl_parse(&o, &nglobal, argv + 1, NULL) != EXIT_OK) {
        fprintf(stderr, "Try 'icsctl --help'.\n");
        return EXIT_USAGE;
    }
    if (nglobal != 0) {
        fprintf(stderr, "icsctl: unexpected '%s'\n", argv[1]);
        return EXIT_USAGE;
    }
    if (i >= argc) {
        s_usage(o.help ? stdout : stderr);
        return o.help ? EXIT_OK : EXIT_USAGE;
    }
    cmd = s_find(argv[i]);
    if (cmd == NULL) {
        fprintf(stderr, "icsctl: no command '%s'. Try 'icsctl --help'.\n", argv[i]);
        return EXIT_USAGE;
    }
    /* --help anywhere after the command. */
    for (int j = i + 1; j < argc; j++)
        if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0)
            o.help = true;
    if (o.help) {
        s_command_help(stdout, cmd);
        return EXIT_OK;
    }
    if (!ics_crypto_init()) {
        fprintf(stderr, "icsctl: libsodium failed to initialise\n");
        return EXIT_FAIL;
    }
    rc = cmd->fn(&o, argc - i - 1, argv + i + 1);
    if (rc == EXIT_USAGE)
        fprintf(stderr, "Usage: icsctl %s\n", cmd->usage);
    return rc;
}
