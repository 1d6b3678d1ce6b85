/*
 * Writes the seed corpora of the fuzz harnesses: real inputs made with the
 * kit's test keys and state (fuzz_kit.h), and the examples in deploy/.
 *   gen_corpus OUT_DIR SOURCE_DIR
 * writes OUT_DIR/<harness>/<seed>. Deterministic: running it again gives
 * the same bytes (Ed25519 signatures are), so the committed corpus in
 * tests/fuzz/corpus/ can be regenerated and compared.
 */
#include "fuzz_kit.h"
#include "prove.h"
#include "wire.h"
#include "common/envelope.h"
#include "common/note.h"
#include "common/policyfile.h"
#include "common/receipt.h"
#include "ics/v1/control.pb-c.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *s_out;
static fk_state_t s_st;

static void s_die(const char *what)
{
    fprintf(stderr, "gen_corpus: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void s_write(const char *harness, const char *name, const void *a, size_t alen,
                    const void *b, size_t blen)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", s_out, harness);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        s_die(path);
    snprintf(path, sizeof path, "%s/%s/%s", s_out, harness, name);
    f = fopen(path, "wb");
    if (f == NULL || (alen > 0 && fwrite(a, 1, alen, f) != alen) ||
        (blen > 0 && fwrite(b, 1, blen, f) != blen) || fclose(f) != 0)
        s_die(path);
}

static void s_write_msg(const char *harness, const char *name, uint8_t prefix,
                        const ProtobufCMessage *m)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (ics_pack(m, &buf, &len) != ICS_OK)
        s_die("pack");
    s_write(harness, name, &prefix, 1, buf, len);
    free(buf);
}

static char *s_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0;
    if (f == NULL)
        s_die(path);
    *len = 0;
    for (;;) {
        if (*len + 4096 > cap && (buf = realloc(buf, cap = cap * 2 + 8192)) == NULL)
            s_die("realloc");
        size_t n = fread(buf + *len, 1, 4096, f);
        *len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    return buf;
}

/* ---- envelopes ----------------------------------------------------------- */

static void s_envelopes(void)
{
    static const char *const names[] = {"genesis", "raw-rtd", "raw-rx4", "raw-e06000057",
                                        "opel-report", "person-register", "bad-signature"};
    Ics__V1__Envelope *env = NULL;
    ics_envelope_fields_t f[3];
    uint8_t *input = NULL, *buf = NULL, *batch[3];
    size_t input_len = 0, len = 0, batch_len[3];

    for (size_t i = 0; i < s_st.n_entries && i < 7; i++)
        s_write("envelope", names[i], s_st.entries[i], s_st.lens[i], NULL, 0);
    /* RTD's raw note as a version 1 envelope (older logs hold them), and
     * the middle one of three sealed together. */
    if (s_st.n_entries < 2 || ics_envelope_decode(s_st.entries[1], s_st.lens[1], &env, NULL) !=
                                  ICS_OK)
        s_die("raw-rtd");
    for (size_t i = 0; i < 3; i++)
        f[i] = (ics_envelope_fields_t){env->group, env->org, env->seq + i, env->timestamp_ms,
                                       env->kind, env->payload.data, env->payload.len};
    if (ics_envelope_seal_batch(fk_identity(env->org), f, 3, batch, batch_len, NULL) != ICS_OK)
        s_die("seal a batch");
    s_write("envelope", "batch-middle", batch[1], batch_len[1], NULL, 0);
    env->version = 1;
    env->batch_size = 0;
    if (ics_envelope_signing_input(env, &input, &input_len) != ICS_OK)
        s_die("signing input");
    ics_identity_sign(fk_identity(env->org), input, input_len, env->signature.data);
    if (ics_pack(&env->base, &buf, &len) != ICS_OK)
        s_die("pack");
    s_write("envelope", "raw-rtd-version-1", buf, len, NULL, 0);
    for (size_t i = 0; i < 3; i++)
        free(batch[i]);
    free(buf);
    free(input);
    ics__v1__envelope__free_unpacked(env, NULL);
}

/* ---- raft messages and frames --------------------------------------------- */

/* The raft messages of the seeds, each packed into *out. */
static Ics__V1__RaftMessage *s_raft(int which, Ics__V1__RaftServer **conf, size_t n_conf,
                                    const uint8_t *data, size_t data_len, uint64_t offset,
                                    uint64_t total)
{
    static Ics__V1__RaftMessage m;
    static Ics__V1__RaftMessage__RequestVote rv;
    static Ics__V1__RaftMessage__RequestVoteResult rvr;
    static Ics__V1__RaftMessage__AppendEntries ae;
    static Ics__V1__RaftMessage__AppendEntriesResult aer;
    static Ics__V1__RaftMessage__InstallSnapshot is;
    static Ics__V1__RaftMessage__TimeoutNow tn;
    static Ics__V1__RaftEntry e[3], *ep[3];

    ics__v1__raft_message__init(&m);
    switch (which) {
    case RAFT_IO_REQUEST_VOTE:
        ics__v1__raft_message__request_vote__init(&rv);
        rv.term = 3;
        rv.candidate_id = ics_raft_id("RTD");
        rv.last_log_index = 7;
        rv.last_log_term = 2;
        rv.pre_vote = true;
        m.body_case = ICS__V1__RAFT_MESSAGE__BODY_REQUEST_VOTE;
        m.request_vote = &rv;
        break;
    case RAFT_IO_REQUEST_VOTE_RESULT:
        ics__v1__raft_message__request_vote_result__init(&rvr);
        rvr.term = 3;
        rvr.vote_granted = true;
        rvr.pre_vote = 1;
        m.body_case = ICS__V1__RAFT_MESSAGE__BODY_REQUEST_VOTE_RESULT;
        m.request_vote_result = &rvr;
        break;
    case RAFT_IO_APPEND_ENTRIES:
        ics__v1__raft_message__append_entries__init(&ae);
        ae.term = 2;
        ae.prev_log_index = 1;
        ae.prev_log_term = 1;
        ae.leader_commit = 1;
        for (size_t i = 0; i < 3; i++) {
            ics__v1__raft_entry__init(&e[i]);
            e[i].term = 2;
            e[i].type = i == 2 ? RAFT_BARRIER : RAFT_COMMAND;
            e[i].data.data = s_st.entries[i + 1];
            e[i].data.len = i == 2 ? 0 : s_st.lens[i + 1];
            ep[i] = &e[i];
        }
        ae.entries = ep;
        ae.n_entries = 3;
        m.body_case = ICS__V1__RAFT_MESSAGE__BODY_APPEND_ENTRIES;
        m.append_entries = &ae;
        break;
    case RAFT_IO_APPEND_ENTRIES_RESULT:
        ics__v1__raft_message__append_entries_result__init(&aer);
        aer.term = 2;
        aer.last_log_index = 4;
        m.body_case = ICS__V1__RAFT_MESSAGE__BODY_APPEND_ENTRIES_RESULT;
        m.append_entries_result = &aer;
        break;
    case RAFT_IO_INSTALL_SNAPSHOT:
        ics__v1__raft_message__install_snapshot__init(&is);
        is.term = 4;
        is.last_index = 40;
        is.last_term = 3;
        is.conf = conf;
        is.n_conf = n_conf;
        is.conf_index = 1;
        is.data.data = (uint8_t *)data;
        is.data.len = data_len;
        is.transfer_id = 0x1c5d;
        is.offset = offset;
        is.total_len = total;
        m.body_case = ICS__V1__RAFT_MESSAGE__BODY_INSTALL_SNAPSHOT;
        m.install_snapshot = &is;
        break;
    case RAFT_IO_TIMEOUT_NOW:
        ics__v1__raft_message__timeout_now__init(&tn);
        tn.term = 2;
        tn.last_log_index = 4;
        tn.last_log_term = 2;
        m.body_case = ICS__V1__RAFT_MESSAGE__BODY_TIMEOUT_NOW;
        m.timeout_now = &tn;
        break;
    }
    m.type = (uint32_t)which;
    return &m;
}

static uint8_t *s_pack_raft(Ics__V1__RaftMessage *m, size_t *len)
{
    uint8_t *buf = NULL;
    if (ics_pack(&m->base, &buf, len) != ICS_OK)
        s_die("pack");
    return buf;
}

static void s_raft_seeds(void)
{
    static const struct { int type; const char *name; } one[] = {
        {RAFT_IO_REQUEST_VOTE, "request-vote"},
        {RAFT_IO_REQUEST_VOTE_RESULT, "request-vote-result"},
        {RAFT_IO_APPEND_ENTRIES, "append-entries"},
        {RAFT_IO_APPEND_ENTRIES_RESULT, "append-entries-result"},
        {RAFT_IO_TIMEOUT_NOW, "timeout-now"},
    };
    Ics__V1__RaftServer s[3], *sp[3];
    uint8_t snap[600];
    uint8_t *buf;
    size_t len;

    for (size_t i = 0; i < 3; i++) {
        ics__v1__raft_server__init(&s[i]);
        s[i].id = ics_raft_id(fk_orgs[i]);
        s[i].address = (char *)fk_orgs[i];
        s[i].role = RAFT_VOTER;
        sp[i] = &s[i];
    }
    for (size_t i = 0; i < sizeof snap; i++)
        snap[i] = (uint8_t)(i * 7);

    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        buf = s_pack_raft(s_raft(one[i].type, NULL, 0, NULL, 0, 0, 0), &len);
        s_write("raftmsg", one[i].name, "\x00", 1, buf, len);
        free(buf);
    }
    /* A whole snapshot in one chunk. */
    buf = s_pack_raft(s_raft(RAFT_IO_INSTALL_SNAPSHOT, sp, 3, snap, sizeof snap, 0, sizeof snap),
                      &len);
    s_write("raftmsg", "install-snapshot", "\x00", 1, buf, len);
    free(buf);
    /* A transfer in three chunks from RTD, with RX4's entries in between. */
    {
        uint8_t *seq = NULL;
        size_t n = 0;
        const size_t sep = sizeof FK_SEP - 1;
        struct { uint8_t from; int type; size_t off, len; size_t n_conf; } parts[] = {
            {0, RAFT_IO_INSTALL_SNAPSHOT, 0, 200, 3},
            {1, RAFT_IO_APPEND_ENTRIES, 0, 0, 0},
            {0, RAFT_IO_INSTALL_SNAPSHOT, 200, 200, 0},
            {0, RAFT_IO_INSTALL_SNAPSHOT, 400, 200, 0},
            {1, RAFT_IO_REQUEST_VOTE, 0, 0, 0},
        };
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
            Ics__V1__RaftMessage *m =
                s_raft(parts[i].type, sp, parts[i].n_conf, snap + parts[i].off, parts[i].len,
                       parts[i].off, sizeof snap);
            buf = s_pack_raft(m, &len);
            seq = realloc(seq, n + sep + 1 + len);
            if (seq == NULL)
                s_die("realloc");
            if (i > 0) {
                memcpy(seq + n, FK_SEP, sep);
                n += sep;
            }
            seq[n++] = parts[i].from;
            memcpy(seq + n, buf, len);
            n += len;
            free(buf);
        }
        s_write("raftmsg", "snapshot-transfer", seq, n, NULL, 0);
        free(seq);
    }
}

static void s_frame_seeds(void)
{
    Ics__V1__Frame f;
    uint8_t input[512], sig[ICS_SIG_BYTES];
    size_t len;

    /* A ping from RTD (prefix 0) to QHM, and a pong. */
    {
        Ics__V1__Ping ping = ICS__V1__PING__INIT;
        ics__v1__frame__init(&f);
        ping.from = (char *)"RTD";
        ping.to = (char *)"QHM";
        ping.nonce = 42;
        ping.sent_ms = 123456789;
        len = ics_ping_input(input, sizeof input, ICS_PING_DOMAIN, FK_GROUP, ping.from, ping.to,
                             ping.nonce, ping.sent_ms);
        ics_identity_sign(fk_identity("RTD"), input, len, sig);
        ping.signature.data = sig;
        ping.signature.len = sizeof sig;
        f.version = ICS_WIRE_VERSION;
        f.group = (char *)FK_GROUP;
        f.body_case = ICS__V1__FRAME__BODY_PING;
        f.ping = &ping;
        s_write_msg("frame", "ping", 0, &f.base);
    }
    {
        Ics__V1__Pong pong = ICS__V1__PONG__INIT;
        ics__v1__frame__init(&f);
        pong.from = (char *)"RX4";
        pong.to = (char *)"QHM";
        pong.nonce = 43;
        pong.echo_ms = 123456789;
        len = ics_ping_input(input, sizeof input, ICS_PONG_DOMAIN, FK_GROUP, pong.from, pong.to,
                             pong.nonce, pong.echo_ms);
        ics_identity_sign(fk_identity("RX4"), input, len, sig);
        pong.signature.data = sig;
        pong.signature.len = sizeof sig;
        f.version = ICS_WIRE_VERSION;
        f.group = (char *)FK_GROUP;
        f.body_case = ICS__V1__FRAME__BODY_PONG;
        f.pong = &pong;
        s_write_msg("frame", "pong", 1, &f.base);
    }
    /* RTD forwards its own envelope to the leader. */
    {
        Ics__V1__Forward fwd = ICS__V1__FORWARD__INIT;
        ics__v1__frame__init(&f);
        fwd.request_id = 9;
        fwd.envelope.data = s_st.entries[1];
        fwd.envelope.len = s_st.lens[1];
        f.version = ICS_WIRE_VERSION;
        f.group = (char *)FK_GROUP;
        f.body_case = ICS__V1__FRAME__BODY_FORWARD;
        f.forward = &fwd;
        s_write_msg("frame", "forward", 0, &f.base);
    }
    /* Backfill: a request, and the chunk a peer serves for it. */
    {
        Ics__V1__HistoryRequest req = ICS__V1__HISTORY_REQUEST__INIT;
        uint64_t top = ics_fsm_position(s_st.fsm);
        uint8_t *chunk = NULL;
        ics__v1__frame__init(&f);
        req.first = 1;
        req.last = top;
        req.max_bytes = 65536;
        req.request_id = 5;
        f.version = ICS_WIRE_VERSION;
        f.group = (char *)FK_GROUP;
        f.body_case = ICS__V1__FRAME__BODY_HISTORY_REQUEST;
        f.history_request = &req;
        s_write_msg("frame", "history-request", 2, &f.base);

        if (ics_history_serve(s_st.history, 5, 1, top, 65536, &chunk, &len) != ICS_OK)
            s_die("history serve");
        ics__v1__frame__init(&f);
        f.version = ICS_WIRE_VERSION;
        f.group = (char *)FK_GROUP;
        f.body_case = ICS__V1__FRAME__BODY_HISTORY_CHUNK;
        f.history_chunk = ics__v1__history_chunk__unpack(NULL, len, chunk);
        if (f.history_chunk == NULL)
            s_die("history chunk");
        s_write_msg("frame", "history-chunk", 2, &f.base);
        ics__v1__history_chunk__free_unpacked(f.history_chunk, NULL);
        free(chunk);
    }
    /* Raft messages in frames. */
    {
        Ics__V1__RaftServer s = ICS__V1__RAFT_SERVER__INIT, *sp = &s;
        s.id = ics_raft_id("RTD");
        s.address = (char *)"RTD";
        s.role = RAFT_VOTER;
        ics__v1__frame__init(&f);
        f.version = ICS_WIRE_VERSION;
        f.group = (char *)FK_GROUP;
        f.body_case = ICS__V1__FRAME__BODY_RAFT;
        f.raft = s_raft(RAFT_IO_APPEND_ENTRIES, NULL, 0, NULL, 0, 0, 0);
        s_write_msg("frame", "raft-append-entries", 0, &f.base);
        f.raft = s_raft(RAFT_IO_REQUEST_VOTE, NULL, 0, NULL, 0, 0, 0);
        s_write_msg("frame", "raft-request-vote", 0, &f.base);
        f.raft = s_raft(RAFT_IO_INSTALL_SNAPSHOT, &sp, 1, (const uint8_t *)"state", 5, 0, 5);
        s_write_msg("frame", "raft-install-snapshot", 0, &f.base);
    }
}

/* ---- control requests ------------------------------------------------------ */

static void s_control_seeds(void)
{
    Ics__V1__ControlRequest r;
    {
        Ics__V1__StatusRequest st = ICS__V1__STATUS_REQUEST__INIT;
        ics__v1__control_request__init(&r);
        r.version = ICS_CONTROL_VERSION;
        r.body_case = ICS__V1__CONTROL_REQUEST__BODY_STATUS;
        r.status = &st;
        uint8_t *buf = NULL;
        size_t len = 0;
        if (ics_pack(&r.base, &buf, &len) != ICS_OK)
            s_die("pack");
        s_write("control", "status", buf, len, NULL, 0);
        free(buf);
    }
    /* The second command carries an actor of its own, which the node
     * replaces with the request's. */
    for (int own_actor = 0; own_actor < 2; own_actor++) {
        Ics__V1__SubmitRequest sub = ICS__V1__SUBMIT_REQUEST__INIT;
        Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
        Ics__V1__Raw raw = ICS__V1__RAW__INIT;
        uint8_t *cbuf = NULL, *buf = NULL;
        size_t clen = 0, len = 0;
        raw.note = (char *)"beds";
        cmd.actor = (char *)(own_actor ? "mallory" : "");
        cmd.body_case = ICS__V1__COMMAND__BODY_RAW;
        cmd.raw = &raw;
        if (ics_pack(&cmd.base, &cbuf, &clen) != ICS_OK)
            s_die("pack");
        ics__v1__control_request__init(&r);
        r.version = ICS_CONTROL_VERSION;
        r.group = (char *)FK_GROUP;
        r.actor = (char *)"jane.doe";
        r.timeout_ms = 5000;
        sub.command.data = cbuf;
        sub.command.len = clen;
        sub.client_token.data = (uint8_t *)"0123456789abcdef";
        sub.client_token.len = 16;
        r.body_case = ICS__V1__CONTROL_REQUEST__BODY_SUBMIT;
        r.submit = &sub;
        if (ics_pack(&r.base, &buf, &len) != ICS_OK)
            s_die("pack");
        s_write("control", own_actor ? "submit-own-actor" : "submit", buf, len, NULL, 0);
        free(buf);
        free(cbuf);
    }
    {
        static const struct { Ics__V1__LogRequest__Op op; uint64_t pos; uint32_t count;
                              const char *name; } logs[] = {
            {ICS__V1__LOG_REQUEST__OP__TAIL, 0, 5, "log-tail"},
            {ICS__V1__LOG_REQUEST__OP__SHOW, 2, 0, "log-show"},
            {ICS__V1__LOG_REQUEST__OP__EXPORT, 0, 0, "log-export"},
        };
        for (size_t i = 0; i < 3; i++) {
            Ics__V1__LogRequest lr = ICS__V1__LOG_REQUEST__INIT;
            uint8_t *buf = NULL;
            size_t len = 0;
            lr.op = logs[i].op;
            lr.position = logs[i].pos;
            lr.count = logs[i].count;
            ics__v1__control_request__init(&r);
            r.version = ICS_CONTROL_VERSION;
            r.actor = (char *)"jane.doe";
            r.body_case = ICS__V1__CONTROL_REQUEST__BODY_LOG;
            r.log = &lr;
            if (ics_pack(&r.base, &buf, &len) != ICS_OK)
                s_die("pack");
            s_write("control", logs[i].name, buf, len, NULL, 0);
            free(buf);
        }
    }
    {
        static const struct { const char *name; const char *args[3]; size_t n; } qs[] = {
            {"members.list", {NULL}, 0},
            {"opel.show", {"RTD"}, 1},
            {"opel.history", {"RTD"}, 1},
            {"opel.parameters", {NULL}, 0},
            {"people.list", {"QHM"}, 1},
            {"aid.board", {NULL}, 0},
            {"aid.list", {"open"}, 1},
            {"aid.show", {"1"}, 1},
            {"aid.resources", {NULL}, 0},
            {"plan.list", {NULL}, 0},
            {"plan.show", {"jfp-2026", "1"}, 2},
            {"plan.diff", {"jfp-2026", "1", "2"}, 3},
            {"amend.list", {"jfp-2026"}, 1},
            {"consult.list", {NULL}, 0},
            {"motion.list", {NULL}, 0},
            {"policy.show", {NULL}, 0},
        };
        for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
            Ics__V1__QueryRequest q = ICS__V1__QUERY_REQUEST__INIT;
            uint8_t *buf = NULL;
            size_t len = 0;
            char name[64];
            q.name = (char *)qs[i].name;
            q.args = (char **)qs[i].args;
            q.n_args = qs[i].n;
            q.fresh = i % 2 == 1;
            ics__v1__control_request__init(&r);
            r.version = ICS_CONTROL_VERSION;
            r.group = (char *)FK_GROUP;
            r.actor = (char *)"jane.doe";
            r.body_case = ICS__V1__CONTROL_REQUEST__BODY_QUERY;
            r.query = &q;
            if (ics_pack(&r.base, &buf, &len) != ICS_OK)
                s_die("pack");
            snprintf(name, sizeof name, "query-%s", qs[i].name);
            s_write("control", name, buf, len, NULL, 0);
            free(buf);
        }
    }
}

/* ---- text files -------------------------------------------------------------- */

static void s_config_seeds(const char *src)
{
    char path[4096], pk[ICS_PUBKEY_TEXT_MAX];
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    snprintf(path, sizeof path, "%s/deploy/examples/icsd.conf.example", src);
    char *example = s_read(path, &len);
    s_write("config", "icsd.conf.example", example, len, NULL, 0);
    free(example);

    /* A configuration that loads: the loopback ICS's, with the kit's keys. */
    f = open_memstream(&text, &len);
    if (f == NULL)
        s_die("open_memstream");
    fprintf(f, "[node]\norg = QHM\nkey_file = QHM.key\nlisten = tcp://127.0.0.1:7400\n"
               "data_dir = data/QHM\ncontrol = ipc://QHM.sock\nhttp = 127.0.0.1:9464\n"
               "log_level = debug\n\n[raft]\nheartbeat_ms = 100\nelection_ms = 800\n"
               "snapshot_threshold = 1024\nsnapshot_trailing = 2048\n"
               "checkpoint_interval = 256\n\n[transport]\nping_interval_ms = 1000\n"
               "max_message_bytes = 67108864\n\n"
               "[group nenc]\nmembers = QHM RTD RX4 E06000057 RX6\nadmin = QHM\n"
               "escalate_to = ne-region\n\n"
               "[group ne-region]\nmembers = QHM RX6\nadmin = QHM\njoin = yes\n");
    for (size_t i = 0; i < FK_N_ORGS; i++) {
        ics_pubkey_format(ics_identity_public(fk_identity(fk_orgs[i])), pk);
        fprintf(f, "\n[org %s]\nkind = %s\nname = Organisation %s\n"
                   "endpoint = tcp://127.0.0.1:%zu\npublic_key = %s\n",
                fk_orgs[i], i == 0 ? "icb" : i == 4 ? "ambulance" : "trust", fk_orgs[i],
                7400 + i, pk);
    }
    fclose(f);
    s_write("config", "loopback.conf", text, len, NULL, 0);
    free(text);
}

static void s_policy_seeds(const char *src)
{
    char path[4096];
    size_t len;
    const char *def = ics_policy_default_text();

    s_write("policy", "default.ini", def, strlen(def), NULL, 0);
    snprintf(path, sizeof path, "%s/deploy/examples/nenc-policy.ini", src);
    char *text = s_read(path, &len);
    s_write("policy", "nenc-policy.ini", text, len, NULL, 0);
    free(text);
}

static void s_export_seeds(void)
{
    char *doc = NULL;
    size_t len = 0;
    ics_err_t err;
    FILE *f = open_memstream(&doc, &len);

    if (f == NULL || ics_history_export(s_st.history, f, &err) != ICS_OK)
        s_die("export");
    fclose(f);
    s_write("logexport", "nenc.export", doc, len, NULL, 0);
    free(doc);
}

/* A log of its own for the receipt seeds, whose entries are accepted. */
static ics_fsm_t *s_rfsm;
static ics_history_t *s_rhist;

static void s_rrecord(void *arg, const ics_apply_result_t *res)
{
    if (ics_history_append(arg, res) != ICS_OK)
        s_die("history append");
}

/* Applies cmd signed by org (acting for no person) to that log. */
static void s_apply_more(const char *org, uint64_t seq, Ics__V1__Command *cmd)
{
    ics_apply_result_t res;
    size_t len;
    uint8_t *buf = fk_seal(org, NULL, seq, FK_EPOCH_MS + 100000 + seq, cmd, &len);

    if (ics_fsm_apply(s_rfsm, buf, len, &res) != ICS_OK || !res.accepted) {
        fprintf(stderr, "gen_corpus: %s's entry: %s\n", org, res.reason);
        exit(1);
    }
    free(buf);
}

/* A receipt, the bare tree head it carries, and the receipt followed by a
 * consistency answer (fuzz_receipt reads both), from a log of the kit's
 * genesis (signed for no person), raw entries to position 16, and every
 * member's checkpoint there. */
static void s_receipt_seeds(void)
{
    char *doc = NULL, *note = NULL, *both = NULL;
    size_t len = 0, nlen = 0, blen = 0;
    uint8_t chain[32], root[32];
    ics_receipt_report_t rep;
    ics_note_t head;
    bool checked;
    ics_err_t err;
    FILE *f;
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *genesis = NULL;

    s_rfsm = ics_fsm_new(FK_GROUP, &err);
    s_rhist = ics_history_open(NULL, FK_GROUP, &err);
    if (s_rfsm == NULL || s_rhist == NULL)
        s_die("receipt log");
    ics_fsm_set_observer(s_rfsm, &(ics_fsm_observer_t){.applied = s_rrecord, .arg = s_rhist});
    if (ics_envelope_decode(s_st.entries[0], s_st.lens[0], &env, NULL) != ICS_OK ||
        ics_command_decode(env, &genesis, NULL) != ICS_OK)
        s_die("genesis");
    {
        char *actor = genesis->actor; /* the kit's genesis names a person: dropped here */
        s_apply_more("QHM", 1, genesis);
        genesis->actor = actor;
    }
    ics__v1__command__free_unpacked(genesis, NULL);
    ics__v1__envelope__free_unpacked(env, NULL);
    for (uint64_t seq = 100; ics_fsm_position(s_rfsm) < 16; seq++) {
        Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
        Ics__V1__Raw raw = ICS__V1__RAW__INIT;
        raw.note = (char *)"filler";
        cmd.body_case = ICS__V1__COMMAND__BODY_RAW;
        cmd.raw = &raw;
        s_apply_more("QHM", seq, &cmd);
    }
    if (ics_fsm_chain_at(s_rfsm, 16, chain) != ICS_OK ||
        ics_history_tree_root(s_rhist, 16, root) != ICS_OK)
        s_die("tree head");
    for (size_t i = 0; i < FK_N_ORGS; i++) {
        Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
        Ics__V1__Checkpoint cp = ICS__V1__CHECKPOINT__INIT;
        uint8_t sig[ICS_SIG_BYTES];

        ics_note_cosign(fk_identity(fk_orgs[i]), FK_GROUP, 16, root, sig);
        cp.position = 16;
        cp.chain.data = chain;
        cp.chain.len = sizeof chain;
        cp.root.data = root;
        cp.root.len = sizeof root;
        cp.cosignature.data = sig;
        cp.cosignature.len = sizeof sig;
        cmd.body_case = ICS__V1__COMMAND__BODY_CHECKPOINT;
        cmd.checkpoint = &cp;
        s_apply_more(fk_orgs[i], 200, &cmd);
    }
    f = open_memstream(&doc, &len);
    if (f == NULL || ics_prove_receipt(s_rhist, FK_GROUP, 3, f, &err) != ICS_OK)
        s_die(err.msg);
    fclose(f);
    if (ics_receipt_verify(doc, len, &rep, &err) != ICS_OK ||
        ics_checkpoint_file_head(doc, len, &head, &checked, &err) != ICS_OK)
        s_die(err.msg);
    s_write("receipt", "entry3.receipt", doc, len, NULL, 0);
    f = open_memstream(&note, &nlen);
    if (f == NULL || ics_note_write(f, &head) != ICS_OK)
        s_die("note");
    fclose(f);
    s_write("receipt", "head16.note", note, nlen, NULL, 0);
    f = open_memstream(&both, &blen);
    if (f == NULL || fwrite(doc, 1, len, f) != len || fputs(FK_SEP, f) < 0 ||
        ics_prove_consistency(s_rhist, FK_GROUP, 8, f, &err) != ICS_OK)
        s_die("consistency");
    fclose(f);
    s_write("receipt", "receipt-and-consistency", both, blen, NULL, 0);
    free(doc);
    free(note);
    free(both);
    ics_fsm_destroy(&s_rfsm);
    ics_history_close(&s_rhist);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: gen_corpus OUT_DIR SOURCE_DIR\n");
        return 2;
    }
    s_out = argv[1];
    if (mkdir(s_out, 0755) != 0 && errno != EEXIST)
        s_die(s_out);
    fk_state_build(&s_st);
    s_envelopes();
    s_raft_seeds();
    s_frame_seeds();
    s_control_seeds();
    s_config_seeds(argv[2]);
    s_policy_seeds(argv[2]);
    s_export_seeds();
    s_receipt_seeds();
    fk_state_free(&s_st);
    return 0;
}
