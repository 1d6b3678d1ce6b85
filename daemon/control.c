/*
 * The control protocol: icsctl talks to its own node over an ipc:// ROUTER
 * socket. The socket file is created group-accessible (mode 0660) in a
 * directory the operator controls, so file permissions decide who may
 * submit in the organisation's name; the node signs, icsctl never sees a
 * key.
 *
 * Requests are answered immediately (status, log) or when the submission
 * they carry is applied, times out or the node stops; every request gets
 * exactly one response.
 *
 * The socket file: at start only a dead node's socket is replaced (one
 * that nobody answers on); on exit only the socket this node bound is
 * removed.
 */
#include "node.h"

#include "common/envelope.h"
#include "ctlparse.h"

#include <errno.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define ROUTING_MAX 256

typedef struct {
    ics_node_t *node;
    uint8_t routing[ROUTING_MAX];
    size_t routing_len;
    bool delimiter; /* REQ-style client: echo the empty frame */
} s_client_t;

/* Clears the way for binding path. Only a socket that nobody answers on
 * is removed: one a node that died left behind. A live one belongs to a
 * running node (another data_dir, same control path: the data directory
 * lock does not see it), and anything that is not a socket is not ours to
 * remove. */
static int s_clear_path(const char *path, ics_err_t *err)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    struct stat st;
    int fd, rc;

    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return ICS_OK;
        return ics_err(err, ICS_EIO, "control socket %s: %s", path, strerror(errno));
    }
    if (!S_ISSOCK(st.st_mode))
        return ics_err(err, ICS_EEXIST, "control socket %s: the path exists and is not a "
                       "socket; icsd will not replace it", path);
    if (strlen(path) >= sizeof a.sun_path)
        return ics_err(err, ICS_ECONFIG, "control socket %s: path too long", path);
    memcpy(a.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ics_err(err, ICS_EIO, "control socket %s: %s", path, strerror(errno));
    rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    int connect_errno = errno;
    close(fd);
    if (rc == 0)
        return ics_err(err, ICS_EEXIST, "control socket %s: a running node answers on it "
                       "(is another icsd configured with this control path?)", path);
    if (connect_errno != ECONNREFUSED)
        return ics_err(err, ICS_EIO, "control socket %s: cannot tell whether a node uses "
                       "it: %s", path, strerror(connect_errno));
    if (unlink(path) != 0 && errno != ENOENT)
        return ics_err(err, ICS_EIO, "control socket %s: %s", path, strerror(errno));
    ics_info("control socket %s: removed, left by a node that stopped", path);
    return ICS_OK;
}

int ics_control_open(ics_node_t *self, ics_err_t *err)
{
    const char *path = self->cfg->control + 6; /* after ipc:// */
    int linger = 0;
    struct stat st;
    mode_t old;

    self->control = zmq_socket(self->zctx, ZMQ_ROUTER);
    if (self->control == NULL)
        return ics_err(err, ICS_EIO, "control socket: %s", zmq_strerror(errno));
    zmq_setsockopt(self->control, ZMQ_LINGER, &linger, sizeof linger);
    if (s_clear_path(path, err) != ICS_OK)
        return ICS_EIO;
    old = umask(007);
    int rc = zmq_bind(self->control, self->cfg->control);
    umask(old);
    if (rc != 0)
        return ics_err(err, ICS_EIO, "control socket %s: %s", self->cfg->control,
                       zmq_strerror(errno));
    /* Remembered, so that stopping removes this socket and never one that
     * replaced it. */
    if (lstat(path, &st) == 0) {
        self->control_file.bound = true;
        self->control_file.dev = (uint64_t)st.st_dev;
        self->control_file.ino = (uint64_t)st.st_ino;
    }
    return ICS_OK;
}

static void s_queries_run(ics_node_t *self, bool shutting_down);

void ics_control_close(ics_node_t *self)
{
    s_queries_run(self, true);
    if (self->control != NULL) {
        const char *path = self->cfg->control + 6;
        struct stat st;
        zmq_close(self->control);
        self->control = NULL;
        if (self->control_file.bound && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
            (uint64_t)st.st_dev == self->control_file.dev &&
            (uint64_t)st.st_ino == self->control_file.ino)
            unlink(path);
        self->control_file.bound = false;
    }
}

static void s_reply(ics_node_t *node, const s_client_t *c, Ics__V1__ControlResponse *resp)
{
    uint8_t *buf = NULL;
    size_t len = 0;

    if (node->control == NULL || ics_pack(&resp->base, &buf, &len) != ICS_OK)
        return;
    zmq_send(node->control, c->routing, c->routing_len, ZMQ_SNDMORE);
    if (c->delimiter)
        zmq_send(node->control, "", 0, ZMQ_SNDMORE);
    zmq_send(node->control, buf, len, 0);
    free(buf);
}

static void s_reply_error(ics_node_t *node, const s_client_t *c, int code, const char *msg)
{
    Ics__V1__ControlResponse resp = ICS__V1__CONTROL_RESPONSE__INIT;
    resp.code = code;
    resp.error = (char *)msg;
    s_reply(node, c, &resp);
}

/* ---- status ------------------------------------------------------------ */

static void s_status(ics_node_t *self, const s_client_t *c)
{
    Ics__V1__ControlResponse resp = ICS__V1__CONTROL_RESPONSE__INIT;
    Ics__V1__StatusReply st = ICS__V1__STATUS_REPLY__INIT;
    Ics__V1__GroupStatus gs[ICS_MAX_GROUPS], *gptrs[ICS_MAX_GROUPS];
    Ics__V1__HistoryStatus hs[ICS_MAX_GROUPS];
    static Ics__V1__PeerStatus ps[ICS_MAX_GROUPS][ICS_MAX_ORGS];
    Ics__V1__PeerStatus *pptrs[ICS_MAX_GROUPS][ICS_MAX_ORGS];
    ics_group_status_t gst[ICS_MAX_GROUPS];
    ics_checkpoint_status_t cps[ICS_MAX_GROUPS];
    uint8_t chains[ICS_MAX_GROUPS][32];
    ics_peer_info_t peers[ICS_MAX_ORGS];
    const ics_org_cfg_t *me = ics_config_org(self->cfg, self->cfg->org);
    ics_transport_stats_t ts = ics_transport_stats(self->transport);
    char pub[ICS_PUBKEY_TEXT_MAX], zv[32];
    int major, minor, patch;
    size_t np = ics_transport_peers(self->transport, peers, ICS_MAX_ORGS);
    uint64_t now = ics_mono_ms();

    zmq_version(&major, &minor, &patch);
    snprintf(zv, sizeof zv, "%d.%d.%d", major, minor, patch);
    ics_pubkey_format(ics_identity_public(self->id), pub);
    st.org = (char *)self->cfg->org;
    st.kind = (char *)me->kind;
    st.name = (char *)me->name;
    st.version = (char *)ICS_VERSION;
    st.listen = (char *)self->cfg->listen;
    st.frames_in = ts.frames_in;
    st.frames_out = ts.frames_out;
    st.dropped_send = ts.dropped_send;
    st.dropped_bad = self->drops.bad_frames;
    st.dropped_unknown_group = self->drops.unknown_group;
    st.dropped_not_member = self->drops.not_member;
    st.refused = ts.refused;
    st.uptime_ms = now - self->started_ms;
    st.zmq_version = zv;
    st.sodium_version = (char *)sodium_version_string();
    st.sqlite_version = (char *)sqlite3_libversion();
    st.public_key = pub;

    for (size_t g = 0; g < self->n_groups; g++) {
        ics_group_t *grp = self->groups[g];
        ics_fsm_t *fsm = ics_group_fsm(grp);
        Ics__V1__GroupStatus *s = &gs[g];
        size_t n = 0;

        ics__v1__group_status__init(s);
        ics_group_status(grp, &gst[g]);
        ics_fsm_checkpoint_status(fsm, &cps[g]);
        ics_fsm_chain(fsm, chains[g]);
        s->name = (char *)ics_group_name(grp);
        s->role = (char *)gst[g].role;
        s->term = gst[g].term;
        s->leader = gst[g].leader;
        s->commit_index = gst[g].commit_index;
        s->applied_index = gst[g].applied_index;
        s->last_index = gst[g].last_index;
        s->position = ics_fsm_position(fsm);
        s->chain.data = chains[g];
        s->chain.len = 32;
        s->clock_ms = ics_fsm_clock(fsm);
        s->checkpoint_position = cps[g].position;
        s->checkpoint_certified = cps[g].certified;
        s->checkpoint_alarm = cps[g].alarm;
        s->alarm = cps[g].alarm_text;
        ics__v1__history_status__init(&hs[g]);
        hs[g].top = gst[g].history_top;
        hs[g].missing = gst[g].history_missing;
        hs[g].filled = gst[g].history_filled;
        hs[g].peer = gst[g].backfill_peer;
        hs[g].failures = gst[g].backfill_failures;
        hs[g].bad_chunks = gst[g].backfill_bad_chunks;
        hs[g].last_error = gst[g].backfill_error;
        hs[g].failed = gst[g].history_failed;
        hs[g].diverged = gst[g].history_diverged;
        hs[g].corrupt = gst[g].history_corrupt;
        hs[g].scrub_passes = gst[g].history_scrub_passes;
        s->history = &hs[g];
        for (size_t i = 0; i < np; i++) {
            if (!ics_group_is_member(grp, peers[i].org))
                continue;
            Ics__V1__PeerStatus *p = &ps[g][n];
            const ics_org_cfg_t *o = ics_config_org(self->cfg, peers[i].org);
            ics__v1__peer_status__init(p);
            p->org = (char *)peers[i].org;
            p->endpoint = (char *)peers[i].endpoint;
            p->kind = o != NULL ? (char *)o->kind : (char *)"";
            p->connected = peers[i].connected;
            p->ever_seen = peers[i].ever_seen;
            p->last_seen_ms_ago = peers[i].ever_seen ? now - peers[i].last_seen_ms : 0;
            p->rtt_us = peers[i].rtt_us;
            p->match_index = ics_group_match_index(grp, peers[i].org);
            p->raft_role = (char *)ics_group_raft_role(grp, peers[i].org);
            p->lag = p->match_index != 0 && gst[g].last_index > p->match_index
                         ? gst[g].last_index - p->match_index : 0;
            pptrs[g][n] = p;
            n++;
        }
        s->peers = pptrs[g];
        s->n_peers = n;
        gptrs[g] = s;
    }
    st.groups = gptrs;
    st.n_groups = self->n_groups;
    resp.body_case = ICS__V1__CONTROL_RESPONSE__BODY_STATUS;
    resp.status = &st;
    s_reply(self, c, &resp);
}

/* ---- submit ------------------------------------------------------------ */

static void s_submit_done(void *arg, int code, const char *error, const ics_apply_result_t *res)
{
    s_client_t *c = arg;
    Ics__V1__ControlResponse resp = ICS__V1__CONTROL_RESPONSE__INIT;
    Ics__V1__SubmitReply sr = ICS__V1__SUBMIT_REPLY__INIT;
    ics_apply_result_t copy;

    resp.code = code;
    resp.error = (char *)(error != NULL ? error : "");
    if (code == ICS_OK && res != NULL) {
        copy = *res;
        sr.position = copy.position;
        sr.index = copy.position;
        sr.entry_id.data = copy.entry_id;
        sr.entry_id.len = sizeof copy.entry_id;
        sr.accepted = copy.accepted;
        sr.reason = copy.reason;
        sr.seq = copy.seq;
        sr.org = copy.org;
        resp.body_case = ICS__V1__CONTROL_RESPONSE__BODY_SUBMIT;
        resp.submit = &sr;
    }
    s_reply(c->node, c, &resp);
    free(c);
}

static void s_submit(ics_node_t *self, const s_client_t *c, const Ics__V1__ControlRequest *req)
{
    const Ics__V1__SubmitRequest *sub = req->submit;
    ics_group_t *g = ics_node_group(self, req->group);
    uint8_t *buf = NULL;
    size_t len = 0;
    s_client_t *copy = NULL;
    ics_err_t err;
    char msg[256];

    if (g == NULL) {
        snprintf(msg, sizeof msg, req->group[0] ? "this node is not in group '%s'"
                                                : "this node is in several groups: choose one "
                                                  "with --group%s", req->group);
        s_reply_error(self, c, ICS_EGROUP, msg);
        return;
    }
    int rc = ics_control_submit_command(req, &buf, &len, &err);
    if (rc != ICS_OK) {
        s_reply_error(self, c, rc, err.msg);
        return;
    }
    copy = malloc(sizeof *copy);
    if (copy == NULL) {
        s_reply_error(self, c, ICS_ENOMEM, "out of memory");
        goto out;
    }
    *copy = *c;
    uint64_t timeout = req->timeout_ms ? req->timeout_ms : 5000;
    if (ics_group_submit(g, buf, len, sub->client_token.len ? sub->client_token.data : NULL,
                         sub->client_token.len, timeout, s_submit_done, copy, &err) != ICS_OK) {
        s_reply_error(self, c, ICS_EINVAL, err.msg);
        free(copy);
    }
out:
    free(buf);
}

/* ---- log ------------------------------------------------------------- */

static void s_log(ics_node_t *self, const s_client_t *c, const Ics__V1__ControlRequest *req)
{
    const Ics__V1__LogRequest *lr = req->log;
    ics_group_t *g = ics_node_group(self, req->group);
    Ics__V1__ControlResponse resp = ICS__V1__CONTROL_RESPONSE__INIT;
    Ics__V1__LogReply reply = ICS__V1__LOG_REPLY__INIT;
    Ics__V1__LogEntry entries[100], *ptrs[100];
    ics_log_entry_t raw[100];
    size_t n = 0;
    char *doc = NULL;
    size_t doc_len = 0;

    if (g == NULL) {
        s_reply_error(self, c, ICS_EGROUP, req->group[0] ? "this node is not in that group"
                                                          : "choose a group with --group");
        return;
    }
    ics_fsm_t *fsm = ics_group_fsm(g);
    ics_history_t *hist = ics_group_history(g);
    uint64_t first = 0, last = 0, pos = ics_fsm_position(fsm);
    if (lr->op == ICS__V1__LOG_REQUEST__OP__SHOW) {
        if (lr->position == 0 || lr->position > pos) {
            char msg[128];
            snprintf(msg, sizeof msg, "no entry at position %llu (the log has %llu)",
                     (unsigned long long)lr->position, (unsigned long long)pos);
            s_reply_error(self, c, ICS_ENOENT, msg);
            return;
        }
        first = last = lr->position;
    } else if (lr->op == ICS__V1__LOG_REQUEST__OP__TAIL) {
        uint64_t count = lr->count ? lr->count : 10;
        if (count > 100)
            count = 100;
        last = pos;
        first = pos >= count ? pos - count + 1 : 1;
    } else {
        ics_err_t err;
        FILE *f = open_memstream(&doc, &doc_len);
        int rc = f == NULL ? ics_err(&err, ICS_ENOMEM, "out of memory")
                           : ics_history_export(hist, f, &err);
        if (rc != ICS_OK) {
            if (f != NULL)
                fclose(f);
            free(doc);
            s_reply_error(self, c, rc, err.msg);
            return;
        }
        fclose(f);
        reply.document.data = (uint8_t *)doc;
        reply.document.len = doc_len;
    }
    for (uint64_t p = first; p != 0 && p <= last && n < 100; p++) {
        if (ics_history_entry(hist, p, &raw[n]) != ICS_OK) {
            if (first == last) {
                char msg[160];
                snprintf(msg, sizeof msg, "position %llu is not on this node yet: its history"
                         " is being backfilled from peers", (unsigned long long)p);
                s_reply_error(self, c, ICS_EUNAVAIL, msg);
                return;
            }
            continue;
        }
        ics__v1__log_entry__init(&entries[n]);
        entries[n].position = raw[n].position;
        entries[n].envelope.data = raw[n].envelope;
        entries[n].envelope.len = raw[n].envelope_len;
        entries[n].accepted = raw[n].accepted;
        entries[n].reason = raw[n].reason;
        entries[n].chain.data = raw[n].chain;
        entries[n].chain.len = 32;
        entries[n].clock_ms = raw[n].clock_ms;
        ptrs[n] = &entries[n];
        n++;
    }
    reply.entries = ptrs;
    reply.n_entries = n;
    resp.body_case = ICS__V1__CONTROL_RESPONSE__BODY_LOG;
    resp.log = &reply;
    s_reply(self, c, &resp);
    for (size_t i = 0; i < n; i++)
        free(raw[i].envelope);
    free(doc);
}

/* ---- queries --------------------------------------------------------- */

/* A --fresh query waits until this node has applied everything its group
 * had committed when the request arrived (the commit index a follower
 * learns from the leader's heartbeats), then answers from local state. */
typedef struct ics_pending_query {
    struct ics_pending_query *next;
    s_client_t client;
    Ics__V1__ControlRequest *req; /* owned */
    uint64_t target;
    uint64_t deadline;
} s_query_t;

static void s_answer_query(ics_node_t *self, const s_client_t *c,
                           const Ics__V1__ControlRequest *req)
{
    ics_group_t *g = ics_node_group(self, req->group);
    Ics__V1__ControlResponse resp = ICS__V1__CONTROL_RESPONSE__INIT;
    Ics__V1__QueryReply qr = ICS__V1__QUERY_REPLY__INIT;
    char *json = NULL, *text = NULL;
    ics_err_t err;

    if (g == NULL) {
        s_reply_error(self, c, ICS_EGROUP, req->group[0] ? "this node is not in that group"
                                                          : "choose a group with --group");
        return;
    }
    int rc = ics_fsm_query(ics_group_fsm(g), req->query->name, req->query->n_args,
                           req->query->args, &json, &text, &err);
    if (rc != ICS_OK) {
        s_reply_error(self, c, rc, err.msg);
        return;
    }
    qr.json = json;
    qr.text = text;
    qr.position = ics_fsm_position(ics_group_fsm(g));
    resp.body_case = ICS__V1__CONTROL_RESPONSE__BODY_QUERY;
    resp.query = &qr;
    s_reply(self, c, &resp);
    free(json);
    free(text);
}

static void s_query(ics_node_t *self, const s_client_t *c, Ics__V1__ControlRequest **req_p)
{
    Ics__V1__ControlRequest *req = *req_p;
    ics_group_t *g = ics_node_group(self, req->group);
    s_query_t *q;

    if (!req->query->fresh || g == NULL) {
        s_answer_query(self, c, req);
        return;
    }
    q = calloc(1, sizeof *q);
    if (q == NULL) {
        s_reply_error(self, c, ICS_ENOMEM, "out of memory");
        return;
    }
    q->client = *c;
    q->req = req;
    *req_p = NULL;
    q->target = ics_group_raft(g)->commit_index;
    q->deadline = ics_mono_ms() + (req->timeout_ms ? req->timeout_ms : 5000);
    q->next = self->queries;
    self->queries = q;
}

/* Answers the fresh queries whose group has caught up, or has run out of time. */
static void s_queries_run(ics_node_t *self, bool shutting_down)
{
    s_query_t **pp = &self->queries;
    uint64_t now = ics_mono_ms();
    while (*pp != NULL) {
        s_query_t *q = *pp;
        ics_group_t *g = ics_node_group(self, q->req->group);
        char leader[ICS_ORG_MAX] = "";
        bool caught_up = false;
        if (g != NULL) {
            ics_group_status_t st;
            ics_group_status(g, &st);
            memcpy(leader, st.leader, sizeof leader);
            caught_up = leader[0] != '\0' && st.applied_index >= q->target &&
                        st.commit_index >= q->target;
        }
        if (caught_up) {
            s_answer_query(self, &q->client, q->req);
        } else if (shutting_down || now >= q->deadline) {
            s_reply_error(self, &q->client, shutting_down ? ICS_ESHUTDOWN : ICS_ETIMEDOUT,
                          shutting_down ? "node is shutting down"
                                        : "could not confirm a fresh read: no leader in reach "
                                          "(drop --fresh to read possibly stale state)");
        } else {
            pp = &q->next;
            continue;
        }
        *pp = q->next;
        ics__v1__control_request__free_unpacked(q->req, NULL);
        free(q);
    }
}

/* ---- dispatch ---------------------------------------------------------- */

static void s_request(ics_node_t *self, const s_client_t *c, const uint8_t *data, size_t len)
{
    Ics__V1__ControlRequest *req = NULL;
    ics_err_t err;
    int rc = ics_control_decode(data, len, &req, &err);

    if (rc != ICS_OK) {
        s_reply_error(self, c, rc, err.msg);
    } else {
        switch (req->body_case) {
        case ICS__V1__CONTROL_REQUEST__BODY_STATUS:
            s_status(self, c);
            break;
        case ICS__V1__CONTROL_REQUEST__BODY_SUBMIT:
            s_submit(self, c, req);
            break;
        case ICS__V1__CONTROL_REQUEST__BODY_LOG:
            s_log(self, c, req);
            break;
        case ICS__V1__CONTROL_REQUEST__BODY_QUERY:
            s_query(self, c, &req);
            break;
        default:
            s_reply_error(self, c, ICS_EINVAL, "unknown request");
            break;
        }
    }
    if (req != NULL)
        ics__v1__control_request__free_unpacked(req, NULL);
}

void ics_control_process(ics_node_t *self)
{
    s_queries_run(self, false);
    for (int budget = 0; budget < 256; budget++) {
        zmq_msg_t parts[3];
        int n = 0, more = 1;
        s_client_t c = {.node = self};

        while (more) {
            zmq_msg_t tmp, *m = n < 3 ? &parts[n] : &tmp;
            zmq_msg_init(m);
            if (zmq_msg_recv(m, self->control, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(m);
                for (int i = 0; i < n && i < 3; i++)
                    zmq_msg_close(&parts[i]);
                return;
            }
            more = zmq_msg_more(m);
            if (m == &tmp)
                zmq_msg_close(&tmp);
            n++;
        }
        if ((n == 2 || (n == 3 && zmq_msg_size(&parts[1]) == 0)) &&
            zmq_msg_size(&parts[0]) <= ROUTING_MAX) {
            c.routing_len = zmq_msg_size(&parts[0]);
            memcpy(c.routing, zmq_msg_data(&parts[0]), c.routing_len);
            c.delimiter = n == 3;
            zmq_msg_t *body = &parts[n - 1];
            s_request(self, &c, zmq_msg_data(body), zmq_msg_size(body));
        }
        for (int i = 0; i < n && i < 3; i++)
            zmq_msg_close(&parts[i]);
    }
}
