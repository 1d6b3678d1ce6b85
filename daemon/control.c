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
#include "control.h"

#include "common/envelope.h"
#include "ctlparse.h"
#include "events.h"
#include "ics/v1/control.pb-c.h"
#include "nodeview.h"
#include "peercred.h"
#include "prove.h"

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

struct ics_control {
    ics_node_t *node;
    void *socket;
    struct {
        bool bound;                    /* the socket file at the path is ours */
        uint64_t dev, ino;             /* ... as long as it is this one */
    } file;
    struct ics_pending_query *queries; /* --fresh reads waiting */
    struct ics_pending_wait *waits;    /* long polls (watch, log --follow) waiting */
};

typedef struct {
    ics_control_t *ctl;
    uint8_t routing[ROUTING_MAX];
    size_t routing_len;
    bool delimiter; /* REQ-style client: echo the empty frame */
    ics_peer_t peer; /* who connected (peercred.h) */
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

ics_control_t *ics_control_new(ics_node_t *node, void *zctx, ics_err_t *err)
{
    const char *endpoint = ics_node_config(node)->control;
    const char *path = endpoint + 6; /* after ipc:// */
    int linger = 0;
    struct stat st;
    mode_t old;
    ics_control_t *self = calloc(1, sizeof *self);

    if (self == NULL) {
        ics_err(err, ICS_ENOMEM, "out of memory");
        return NULL;
    }
    self->node = node;
    self->socket = zmq_socket(zctx, ZMQ_ROUTER);
    if (self->socket == NULL) {
        ics_err(err, ICS_EIO, "control socket: %s", zmq_strerror(errno));
        goto fail;
    }
    zmq_setsockopt(self->socket, ZMQ_LINGER, &linger, sizeof linger);
    if (s_clear_path(path, err) != ICS_OK)
        goto fail;
    old = umask(007);
    int rc = zmq_bind(self->socket, endpoint);
    umask(old);
    if (rc != 0) {
        ics_err(err, ICS_EIO, "control socket %s: %s", endpoint, zmq_strerror(errno));
        goto fail;
    }
    /* Remembered, so that stopping removes this socket and never one that
     * replaced it. */
    if (lstat(path, &st) == 0) {
        self->file.bound = true;
        self->file.dev = (uint64_t)st.st_dev;
        self->file.ino = (uint64_t)st.st_ino;
    }
    return self;
fail:
    ics_control_destroy(&self);
    return NULL;
}

static void s_queries_run(ics_control_t *self, bool shutting_down);
static void s_waits_run(ics_control_t *self, bool shutting_down);

void ics_control_destroy(ics_control_t **self_p)
{
    ics_control_t *self;

    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    s_queries_run(self, true);
    s_waits_run(self, true);
    if (self->socket != NULL) {
        const char *path = ics_node_config(self->node)->control + 6;
        struct stat st;
        zmq_close(self->socket);
        self->socket = NULL;
        if (self->file.bound && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
            (uint64_t)st.st_dev == self->file.dev && (uint64_t)st.st_ino == self->file.ino)
            unlink(path);
        self->file.bound = false;
    }
    free(self);
    *self_p = NULL;
}

zmq_pollitem_t ics_control_pollitem(ics_control_t *self)
{
    return (zmq_pollitem_t){.socket = self->socket, .events = ZMQ_POLLIN};
}

static void s_reply(ics_control_t *ctl, const s_client_t *c, Ics__V1__ControlResponse *resp)
{
    uint8_t *buf = NULL;
    size_t len = 0;

    if (ctl->socket == NULL || ics_pack(&resp->base, &buf, &len) != ICS_OK)
        return;
    zmq_send(ctl->socket, c->routing, c->routing_len, ZMQ_SNDMORE);
    if (c->delimiter)
        zmq_send(ctl->socket, "", 0, ZMQ_SNDMORE);
    zmq_send(ctl->socket, buf, len, 0);
    free(buf);
}

static void s_reply_error(ics_control_t *ctl, const s_client_t *c, int code, const char *msg)
{
    Ics__V1__ControlResponse resp = ICS__V1__CONTROL_RESPONSE__INIT;
    resp.code = code;
    resp.error = (char *)msg;
    s_reply(ctl, c, &resp);
}

/* ---- status ------------------------------------------------------------ */

/* No group by that name, or none named on a node in several: the error
 * names the groups this node is in, so that the caller can choose. */
static void s_no_group(ics_control_t *self, const s_client_t *c, const char *asked)
{
    char msg[512], list[400] = "";
    size_t len = 0, n = ics_node_n_groups(self->node);

    for (size_t i = 0; i < n && len < sizeof list; i++) {
        int k = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
                         ics_group_name(ics_node_group_at(self->node, i)));
        if (k < 0)
            break;
        len += (size_t)k;
    }
    if (asked[0] != '\0')
        snprintf(msg, sizeof msg, "this node is not in group '%s' (its groups: %s)", asked, list);
    else
        snprintf(msg, sizeof msg, "this node is in several groups: choose one with --group or "
                 "ICSCTL_GROUP (its groups: %s)", list);
    s_reply_error(self, c, ICS_EGROUP, msg);
}

static void s_status(ics_control_t *self, const s_client_t *c)
{
    ics_node_t *node = self->node;
    const ics_config_t *cfg = ics_node_config(node);
    ics_transport_t *transport = ics_node_transport(node);
    ics_node_stats_t ns = ics_node_stats(node);
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
    const ics_org_cfg_t *me = ics_config_org(cfg, cfg->org);
    ics_transport_stats_t ts = ics_transport_stats(transport);
    char pub[ICS_PUBKEY_TEXT_MAX], zv[32];
    int major, minor, patch;
    size_t np = ics_transport_peers(transport, peers, ICS_MAX_ORGS);
    uint64_t now = ics_mono_ms();

    zmq_version(&major, &minor, &patch);
    snprintf(zv, sizeof zv, "%d.%d.%d", major, minor, patch);
    ics_pubkey_format(ics_node_public_key(node), pub);
    st.org = (char *)cfg->org;
    st.kind = (char *)me->kind;
    st.name = (char *)me->name;
    st.version = (char *)ICS_VERSION;
    st.listen = (char *)cfg->listen;
    st.frames_in = ts.frames_in;
    st.frames_out = ts.frames_out;
    st.dropped_send = ts.dropped_send;
    st.dropped_bad = ns.bad_frames;
    st.dropped_unknown_group = ns.unknown_group;
    st.dropped_not_member = ns.not_member;
    st.refused = ts.refused;
    st.uptime_ms = ns.uptime_ms;
    st.zmq_version = zv;
    st.sodium_version = (char *)sodium_version_string();
    st.sqlite_version = (char *)sqlite3_libversion();
    st.public_key = pub;

    for (size_t g = 0; g < ics_node_n_groups(node); g++) {
        ics_group_t *grp = ics_node_group_at(node, g);
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
        /* A member's checkpoint cosigning a root this node's history does
         * not have: this node's finding (the state cannot hold the tree). */
        if (!cps[g].alarm && gst[g].tree_alarm[0] != '\0') {
            s->checkpoint_alarm = true;
            s->alarm = gst[g].tree_alarm;
        }
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
        s->storage_fault = gst[g].storage_fault;
        for (size_t i = 0; i < np; i++) {
            if (!ics_group_is_member(grp, peers[i].org))
                continue;
            Ics__V1__PeerStatus *p = &ps[g][n];
            const ics_org_cfg_t *o = ics_config_org(cfg, peers[i].org);
            ics__v1__peer_status__init(p);
            p->org = (char *)peers[i].org;
            p->endpoint = (char *)peers[i].endpoint;
            p->kind = o != NULL ? (char *)o->kind : (char *)"";
            p->connected = peers[i].connected;
            p->ever_seen = peers[i].ever_seen;
            p->last_seen_ms_ago = peers[i].ever_seen ? now - peers[i].last_seen_ms : 0;
            p->rtt_us = peers[i].rtt_us;
            p->invalid_frames = peers[i].invalid_total;
            p->backoff_ms_left = peers[i].backoff_ms_left;
            p->backoffs = peers[i].backoffs;
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
    st.n_groups = ics_node_n_groups(node);
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
    s_reply(c->ctl, c, &resp);
    free(c);
}

static void s_submit(ics_control_t *self, const s_client_t *c, const Ics__V1__ControlRequest *req)
{
    const Ics__V1__SubmitRequest *sub = req->submit;
    ics_group_t *g = ics_node_group(self->node, req->group);
    Ics__V1__Command *cmd = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    s_client_t *copy = NULL;
    ics_err_t err;

    if (g == NULL) {
        s_no_group(self, c, req->group);
        return;
    }
    int rc = ics_control_submit_command(req, &cmd, &buf, &len, &err);
    if (rc != ICS_OK) {
        s_reply_error(self, c, rc, err.msg);
        return;
    }
    char why[256];
    if (ics_peer_may_submit(ics_node_config(self->node), &c->peer, cmd, why, sizeof why) !=
        ICS_OK) {
        s_reply_error(self, c, ICS_EPERM, why);
        goto out;
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
    ics__v1__command__free_unpacked(cmd, NULL);
    free(buf);
}

/* ---- log ------------------------------------------------------------- */

static void s_log(ics_control_t *self, const s_client_t *c, const Ics__V1__ControlRequest *req)
{
    const Ics__V1__LogRequest *lr = req->log;
    ics_group_t *g = ics_node_group(self->node, req->group);
    Ics__V1__ControlResponse resp = ICS__V1__CONTROL_RESPONSE__INIT;
    Ics__V1__LogReply reply = ICS__V1__LOG_REPLY__INIT;
    Ics__V1__LogEntry entries[100], *ptrs[100];
    ics_log_entry_t raw[100];
    size_t n = 0;
    char *doc = NULL;
    size_t doc_len = 0;

    if (g == NULL) {
        s_no_group(self, c, req->group);
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
                 : lr->op == ICS__V1__LOG_REQUEST__OP__PROVE
                     ? ics_prove_receipt(hist, ics_group_name(g), lr->position, f, &err)
                 : lr->op == ICS__V1__LOG_REQUEST__OP__CONSISTENCY
                     ? ics_prove_consistency(hist, ics_group_name(g), lr->position, f, &err)
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

static void s_answer_query(ics_control_t *self, const s_client_t *c,
                           const Ics__V1__ControlRequest *req)
{
    ics_group_t *g = ics_node_group(self->node, req->group);
    Ics__V1__ControlResponse resp = ICS__V1__CONTROL_RESPONSE__INIT;
    Ics__V1__QueryReply qr = ICS__V1__QUERY_REPLY__INIT;
    char *json = NULL, *text = NULL;
    ics_err_t err;

    if (g == NULL) {
        s_no_group(self, c, req->group);
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

static void s_query(ics_control_t *self, const s_client_t *c, Ics__V1__ControlRequest **req_p)
{
    Ics__V1__ControlRequest *req = *req_p;
    ics_group_t *g = ics_node_group(self->node, req->group);
    ics_group_status_t st;
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
    ics_group_status(g, &st);
    q->target = st.commit_index;
    q->deadline = ics_mono_ms() + (req->timeout_ms ? req->timeout_ms : 5000);
    q->next = self->queries;
    self->queries = q;
}

/* Answers the fresh queries whose group has caught up, or has run out of time. */
static void s_queries_run(ics_control_t *self, bool shutting_down)
{
    s_query_t **pp = &self->queries;
    uint64_t now = ics_mono_ms();
    while (*pp != NULL) {
        s_query_t *q = *pp;
        /* Stopping, the node has destroyed its groups already. */
        ics_group_t *g = shutting_down ? NULL : ics_node_group(self->node, q->req->group);
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

/* ---- long polls: log ranges and domain events -------------------------- */

/* A request that waits for the log to grow: LogRequest RANGE and
 * WatchRequest. Its cursor (position, or from_index and skip) is moved on
 * in place as entries are read while it waits, so that each turn reads
 * only what is new. Answered as soon as there is something to give, when
 * its time is up (with nothing, and where to continue) or when the node
 * stops. A gap in the history (being backfilled) is waited at, never
 * skipped: a cursor only ever passes entries that were read. */
typedef struct ics_pending_wait {
    struct ics_pending_wait *next;
    s_client_t client;
    Ics__V1__ControlRequest *req; /* owned */
    uint64_t deadline;
} s_wait_t;

#define S_WAIT_MAX_MS 60000
#define S_SCAN_BUDGET 2000  /* entries read per answer, to keep a loop turn short */
#define S_BATCH 100         /* entries whose events are derived together */

/* RANGE: entries from lr->position on. true if it replied. */
static bool s_range_answer(ics_control_t *self, const s_client_t *c, Ics__V1__ControlRequest *req,
                           bool must)
{
    Ics__V1__LogRequest *lr = req->log;
    ics_group_t *g = ics_node_group(self->node, req->group);
    Ics__V1__ControlResponse resp = ICS__V1__CONTROL_RESPONSE__INIT;
    Ics__V1__LogReply reply = ICS__V1__LOG_REPLY__INIT;
    Ics__V1__LogEntry entries[100], *ptrs[100];
    ics_log_entry_t raw[100];
    size_t n = 0, max = lr->count == 0 || lr->count > 100 ? 100 : lr->count;

    if (g == NULL) {
        s_no_group(self, c, req->group);
        return true;
    }
    ics_history_t *hist = ics_group_history(g);
    uint64_t top = ics_fsm_position(ics_group_fsm(g)), p = lr->position ? lr->position : 1;
    for (; p <= top && n < max; p++) {
        if (ics_history_entry(hist, p, &raw[n]) != ICS_OK)
            break; /* not held yet: wait for it */
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
    if (n == 0 && !must)
        return false;
    reply.entries = ptrs;
    reply.n_entries = n;
    reply.top = top;
    reply.next = p;
    resp.body_case = ICS__V1__CONTROL_RESPONSE__BODY_LOG;
    resp.log = &reply;
    s_reply(self, c, &resp);
    for (size_t i = 0; i < n; i++)
        free(raw[i].envelope);
    return true;
}

/* Watch: events from the cursor on, filtered. true if it replied. */
static bool s_watch_answer(ics_control_t *self, const s_client_t *c, Ics__V1__ControlRequest *req,
                           bool must)
{
    Ics__V1__WatchRequest *wr = req->watch;
    ics_group_t *g = ics_node_group(self->node, req->group);
    Ics__V1__ControlResponse resp = ICS__V1__CONTROL_RESPONSE__INIT;
    Ics__V1__WatchReply reply = ICS__V1__WATCH_REPLY__INIT;
    Ics__V1__Event *out = NULL, **ptrs = NULL;
    ics_events_t all = {0};
    char (*ids)[ICS_GROUP_MAX + 48] = NULL;
    size_t n = 0, max = wr->max_events == 0 ? 100 : wr->max_events > 1000 ? 1000 : wr->max_events;
    bool replied = false, full = false;
    unsigned scanned = 0;

    if (g == NULL) {
        s_no_group(self, c, req->group);
        return true;
    }
    const char *group = ics_group_name(g);
    ics_history_t *hist = ics_group_history(g);
    sqlite3 *db = ics_fsm_db(ics_group_fsm(g));
    uint64_t top = ics_fsm_position(ics_group_fsm(g));
    uint64_t p = wr->from_index ? wr->from_index : 1, prev_clock = 0;
    uint32_t skip = wr->skip;

    if (p > top && !must)
        return false;
    out = calloc(max, sizeof *out);
    ptrs = calloc(max, sizeof *ptrs);
    ids = calloc(max, sizeof *ids);
    if (out == NULL || ptrs == NULL || ids == NULL) {
        s_reply_error(self, c, ICS_ENOMEM, "out of memory");
        replied = true;
        goto out;
    }
    if (p > 1 && p <= top) {
        ics_log_entry_t before;
        if (ics_history_entry(hist, p - 1, &before) == ICS_OK) {
            prev_clock = before.clock_ms;
            free(before.envelope);
        }
    }
    while (p <= top && !full && scanned < S_SCAN_BUDGET) {
        ics_log_entry_t batch[S_BATCH];
        size_t nb = 0;
        /* Consecutive entries up to a gap being backfilled: that is waited
         * for, never stepped over. */
        while (nb < S_BATCH && p + nb <= top && ics_history_entry(hist, p + nb, &batch[nb]) == ICS_OK)
            nb++;
        if (nb == 0)
            break;
        ics_events_clear(&all);
        int rc = ics_events_derive_batch(db, batch, nb, prev_clock, &all);
        prev_clock = batch[nb - 1].clock_ms;
        for (size_t i = 0; i < nb; i++)
            free(batch[i].envelope);
        if (rc != ICS_OK) {
            s_reply_error(self, c, rc, "could not read the events of the log");
            replied = true;
            goto out;
        }
        scanned += (unsigned)nb;
        uint64_t stop_at = 0;
        uint32_t stop_skip = 0;
        for (size_t k = 0; k < all.n; k++) {
            const ics_event_t *ev = &all.v[k];
            if (ev->index == p && ev->n < skip)
                continue; /* given before */
            if (!ics_event_matches(ev, wr->kinds, wr->n_kinds, wr->orgs, wr->n_orgs))
                continue;
            if (n == max) {
                full = true;
                stop_at = ev->index;
                stop_skip = ev->n;
                break;
            }
            Ics__V1__Event *o = &out[n];
            ics__v1__event__init(o);
            snprintf(ids[n], sizeof ids[n], "%s:%llu:%u", group, (unsigned long long)ev->index,
                     ev->n);
            o->id = ids[n];
            o->group = (char *)group;
            o->index = ev->index;
            o->n = ev->n;
            o->kind = strdup(ev->kind);
            o->clock_ms = ev->clock_ms;
            o->org = strdup(ev->org);
            o->other = strdup(ev->other);
            o->actor = strdup(ev->actor);
            o->on_behalf_of = strdup(ev->on_behalf);
            o->ref = ev->ref;
            o->ref2 = ev->ref2;
            o->text = strdup(ev->text);
            ptrs[n++] = o;
        }
        if (full) {
            p = stop_at;
            skip = stop_skip;
        } else {
            p += nb;
            skip = 0;
        }
    }
    if (n == 0 && !must && scanned < S_SCAN_BUDGET) {
        /* Nothing yet: wait from here rather than read it all again. */
        wr->from_index = p;
        wr->skip = skip;
        goto out;
    }
    reply.events = ptrs;
    reply.n_events = n;
    reply.next_index = p;
    reply.next_skip = skip;
    reply.top = top;
    resp.body_case = ICS__V1__CONTROL_RESPONSE__BODY_WATCH;
    resp.watch = &reply;
    s_reply(self, c, &resp);
    replied = true;
out:
    for (size_t i = 0; i < n; i++) {
        free(out[i].kind);
        free(out[i].org);
        free(out[i].other);
        free(out[i].actor);
        free(out[i].on_behalf_of);
        free(out[i].text);
    }
    free(out);
    free(ptrs);
    free(ids);
    ics_events_free(&all);
    return replied;
}

static bool s_wait_answer(ics_control_t *self, const s_client_t *c, Ics__V1__ControlRequest *req,
                          bool must)
{
    if (req->body_case == ICS__V1__CONTROL_REQUEST__BODY_WATCH)
        return s_watch_answer(self, c, req, must);
    return s_range_answer(self, c, req, must);
}

static void s_wait(ics_control_t *self, const s_client_t *c, Ics__V1__ControlRequest **req_p)
{
    Ics__V1__ControlRequest *req = *req_p;
    uint32_t wait = req->body_case == ICS__V1__CONTROL_REQUEST__BODY_WATCH ? req->watch->wait_ms
                                                                          : req->log->wait_ms;
    s_wait_t *w;

    if (wait > S_WAIT_MAX_MS)
        wait = S_WAIT_MAX_MS;
    if (s_wait_answer(self, c, req, wait == 0))
        return;
    w = calloc(1, sizeof *w);
    if (w == NULL) {
        s_reply_error(self, c, ICS_ENOMEM, "out of memory");
        return;
    }
    w->client = *c;
    w->req = req;
    *req_p = NULL;
    w->deadline = ics_mono_ms() + wait;
    w->next = self->waits;
    self->waits = w;
}

/* Answers the long polls that have something to give or whose time is up.
 * Stopping answers them with an error: the watcher asks again, from the
 * same cursor, once the node is back. */
static void s_waits_run(ics_control_t *self, bool shutting_down)
{
    s_wait_t **pp = &self->waits;
    uint64_t now = ics_mono_ms();

    while (*pp != NULL) {
        s_wait_t *w = *pp;
        if (shutting_down) {
            /* The groups are gone by now: the client asks again, same cursor. */
            s_reply_error(self, &w->client, ICS_ESHUTDOWN, "node is shutting down");
        } else if (!s_wait_answer(self, &w->client, w->req, now >= w->deadline)) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        ics__v1__control_request__free_unpacked(w->req, NULL);
        free(w);
    }
}

/* ---- dispatch ---------------------------------------------------------- */

static void s_request(ics_control_t *self, const s_client_t *c, const uint8_t *data, size_t len)
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
            if (req->log->op == ICS__V1__LOG_REQUEST__OP__RANGE)
                s_wait(self, c, &req);
            else
                s_log(self, c, req);
            break;
        case ICS__V1__CONTROL_REQUEST__BODY_WATCH:
            s_wait(self, c, &req);
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

void ics_control_process(ics_control_t *self)
{
    s_queries_run(self, false);
    s_waits_run(self, false);
    for (int budget = 0; budget < 256; budget++) {
        zmq_msg_t parts[3];
        int n = 0, more = 1;
        s_client_t c = {.ctl = self};

        while (more) {
            zmq_msg_t tmp, *m = n < 3 ? &parts[n] : &tmp;
            zmq_msg_init(m);
            if (zmq_msg_recv(m, self->socket, ZMQ_DONTWAIT) < 0) {
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
            ics_peer_of(body, &c.peer);
            s_request(self, &c, zmq_msg_data(body), zmq_msg_size(body));
        }
        for (int i = 0; i < n && i < 3; i++)
            zmq_msg_close(&parts[i]);
    }
}
