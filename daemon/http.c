/*
 * HTTP endpoints for operators and monitoring.
 *
 *   /metrics  Prometheus text exposition (version 0.0.4)
 *   /healthz  200 while the event loop turns (it is the one answering)
 *   /readyz   200 when every group has a leader and has applied what it
 *             knows to be committed; 503 with the reason otherwise
 *   /         the dashboard (dashboard.c), with [http] dashboard = yes
 *   /events   its server-sent events: every group's domain events from
 *             the log's end (or after a Last-Event-ID), one message each
 *
 * Read-only by construction: no handler changes state, and anything but
 * GET or HEAD is refused. Bound to loopback unless the operator names
 * another address. With [http] tls_cert and tls_key it speaks only HTTPS
 * (GnuTLS, through libmicrohttpd); with client_ca as well, every request
 * must come with a client certificate that CA signed (the login of a
 * remote control-room screen), or it is answered 403 and nothing else.
 *
 * An /events connection is suspended (MHD_suspend_connection) whenever it
 * has nothing to send, so the loop never spins on it; each turn, before
 * the loop polls (ics_http_timeout), those whose groups have applied new
 * entries, or that are due a keep-alive comment, are resumed.
 */
#include "http.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dashboard.h"
#include "nodeview.h"
#include "raftio.h"
#include "common/sigmemo.h"
#include "verifier.h"

#define S_SSE_KEEPALIVE_MS 5000
#define S_SSE_MAX 16            /* /events streams at once (of 32 connections) */

typedef struct s_sse {
    struct s_sse *next;
    struct ics_http *http;
    struct MHD_Connection *conn;
    ics_dashboard_stream_t *stream;
    char *buf;                  /* what is still to be sent */
    size_t len, off;
    uint64_t last_ms;           /* when something was last sent */
    bool suspended;
} s_sse_t;

struct ics_http {
    struct MHD_Daemon *mhd;
    ics_node_t *node;
    char *tls_cert, *tls_key, *client_ca; /* PEM text, kept while the daemon runs */
    s_sse_t *sse;
    size_t n_sse;
    bool stopping;
};

/* Security headers of the dashboard's page: nothing from anywhere else. */
static const char s_csp[] = "default-src 'none'; style-src 'unsafe-inline'; "
                            "script-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
                            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/* Counters of each group's raft messages under max_message_bytes, one row
 * per sample; rows of a name are adjacent, so HELP and TYPE print once. */
static const struct {
    const char *name, *help, *label;
    size_t off;
} s_raftio_rows[] = {
#define ROW(name, help, label, field) {name, help, label, offsetof(ics_raftio_stats_t, field)}
    ROW("icsd_raft_append_capped_total",
        "AppendEntries cut to the entries that fit in max_message_bytes.", "", append_capped),
    ROW("icsd_raft_oversize_total",
        "Raft messages that cannot fit in max_message_bytes, not sent.", "", oversize),
    ROW("icsd_raft_snapshots_total",
        "Snapshots sent (every chunk queued) and received (reassembled).",
        "direction=\"out\"", snapshot_sends),
    ROW("icsd_raft_snapshots_total", "", "direction=\"in\"", snapshots_received),
    ROW("icsd_raft_snapshot_chunks_total", "Snapshot chunks queued and accepted.",
        "direction=\"out\"", snapshot_chunks_sent),
    ROW("icsd_raft_snapshot_chunks_total", "", "direction=\"in\"", snapshot_chunks_received),
    ROW("icsd_raft_snapshot_send_failures_total", "Snapshot sends that failed, by cause.",
        "cause=\"unreachable\"", snapshot_fail_unreachable),
    ROW("icsd_raft_snapshot_send_failures_total", "", "cause=\"too_big\"",
        snapshot_fail_too_big),
    ROW("icsd_raft_snapshot_send_failures_total", "", "cause=\"no_memory\"",
        snapshot_fail_no_memory),
    ROW("icsd_raft_snapshot_chunks_dropped_total", "Received snapshot chunks dropped, by cause.",
        "cause=\"unknown_transfer\"", chunks_dropped_unknown),
    ROW("icsd_raft_snapshot_chunks_dropped_total", "", "cause=\"out_of_order\"",
        chunks_dropped_order),
    ROW("icsd_raft_snapshot_chunks_dropped_total", "", "cause=\"invalid\"",
        chunks_dropped_invalid),
    ROW("icsd_raft_snapshot_chunks_dropped_total", "", "cause=\"too_big\"",
        chunks_dropped_too_big),
    ROW("icsd_raft_snapshot_transfers_dropped_total",
        "Incoming snapshot transfers dropped before completion, by cause.",
        "cause=\"stalled\"", transfers_stalled),
    ROW("icsd_raft_snapshot_transfers_dropped_total", "", "cause=\"replaced\"",
        transfers_replaced),
    ROW("icsd_raft_snapshot_transfers_dropped_total", "", "cause=\"no_memory\"",
        transfers_no_memory),
#undef ROW
};

static void s_raftio_metrics(ics_node_t *n, FILE *out)
{
    ics_raftio_stats_t st[ICS_MAX_GROUPS];
    size_t n_groups = ics_node_n_groups(n);

    for (size_t g = 0; g < n_groups && g < ICS_MAX_GROUPS; g++)
        st[g] = ics_raftio_stats(ics_group_raftio(ics_node_group_at(n, g)));
    for (size_t r = 0; r < sizeof s_raftio_rows / sizeof s_raftio_rows[0]; r++) {
        const char *label = s_raftio_rows[r].label;
        if (s_raftio_rows[r].help[0] != '\0')
            fprintf(out, "# HELP %s %s\n# TYPE %s counter\n", s_raftio_rows[r].name,
                    s_raftio_rows[r].help, s_raftio_rows[r].name);
        for (size_t g = 0; g < n_groups && g < ICS_MAX_GROUPS; g++) {
            uint64_t v;
            memcpy(&v, (const char *)&st[g] + s_raftio_rows[r].off, sizeof v);
            fprintf(out, "%s{group=\"%s\"%s%s} %llu\n", s_raftio_rows[r].name,
                    ics_group_name(ics_node_group_at(n, g)), label[0] ? "," : "", label,
                    (unsigned long long)v);
        }
    }
}

/* Name of the family a line of the exposition belongs to: the sample's
 * name, or the one a # HELP or # TYPE line describes. */
static size_t s_family(const char *line, size_t len, const char **name)
{
    if (len > 7 && (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0)) {
        line += 7;
        len -= 7;
    } else if (len > 0 && line[0] == '#') {
        *name = NULL;
        return 0;
    }
    *name = line;
    size_t n = 0;
    while (n < len && line[n] != ' ' && line[n] != '{')
        n++;
    return n;
}

/* Writes the lines of text (of length len) that belong to the family
 * fam; kind "# HELP ", "# TYPE " or NULL for samples. Returns how many. */
static unsigned s_family_lines(FILE *out, const char *text, size_t len, const char *fam,
                               size_t fam_len, const char *kind)
{
    unsigned n = 0;
    for (size_t at = 0; at < len;) {
        const char *line = text + at;
        size_t ll = strcspn(line, "\n"), nl;
        const char *name;
        nl = s_family(line, ll, &name);
        bool is_kind = kind != NULL ? strncmp(line, kind, 7) == 0 : line[0] != '#';
        if (name != NULL && is_kind && nl == fam_len && memcmp(name, fam, nl) == 0) {
            fwrite(line, 1, ll, out);
            fputc('\n', out);
            n++;
        }
        at += ll + 1;
    }
    return n;
}

/* The state machine's gauges (OPEL, mutual aid). Each domain writes its
 * families for one group, HELP and TYPE included; the exposition format
 * wants each family once, HELP and TYPE first and every sample of it
 * together. So each group's text is gathered, then written family by
 * family: HELP and TYPE from the first group that gives them, then every
 * group's samples. */
static void s_fsm_metrics(ics_node_t *n, FILE *out)
{
    enum { MAX_FAMILIES = 64 };
    char *text[ICS_MAX_GROUPS] = {0};
    size_t len[ICS_MAX_GROUPS] = {0};
    struct s_fam {
        const char *name;
        size_t len;
    } fam[MAX_FAMILIES];
    size_t n_fam = 0, n_groups = ics_node_n_groups(n);

    if (n_groups > ICS_MAX_GROUPS)
        n_groups = ICS_MAX_GROUPS;

    for (size_t g = 0; g < n_groups; g++) {
        FILE *f = open_memstream(&text[g], &len[g]);
        if (f == NULL)
            continue;
        ics_fsm_metrics(ics_group_fsm(ics_node_group_at(n, g)), f);
        fclose(f);
    }
    for (size_t g = 0; g < n_groups; g++) {
        for (size_t at = 0; text[g] != NULL && at < len[g];) {
            const char *line = text[g] + at, *name;
            size_t ll = strcspn(line, "\n");
            size_t nl = s_family(line, ll, &name), k;
            for (k = 0; k < n_fam; k++)
                if (fam[k].len == nl && memcmp(fam[k].name, name, nl) == 0)
                    break;
            if (name != NULL && nl > 0 && k == n_fam && n_fam < MAX_FAMILIES)
                fam[n_fam++] = (struct s_fam){name, nl};
            at += ll + 1;
        }
    }
    for (size_t k = 0; k < n_fam; k++) {
        bool help = false, type = false;
        for (size_t g = 0; g < n_groups && !(help && type); g++) {
            if (text[g] == NULL)
                continue;
            if (!help)
                help = s_family_lines(out, text[g], len[g], fam[k].name, fam[k].len,
                                      "# HELP ") > 0;
            if (!type)
                type = s_family_lines(out, text[g], len[g], fam[k].name, fam[k].len,
                                      "# TYPE ") > 0;
        }
        for (size_t g = 0; g < n_groups; g++)
            if (text[g] != NULL)
                s_family_lines(out, text[g], len[g], fam[k].name, fam[k].len, NULL);
    }
    for (size_t g = 0; g < n_groups; g++)
        free(text[g]);
}

/* One histogram series per group: the ics_hist_t at offset in its metrics. */
static void s_group_hist(ics_node_t *n, FILE *out, const char *name, const char *help,
                         size_t offset)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (size_t g = 0; g < ics_node_n_groups(n); g++) {
        ics_group_t *grp = ics_node_group_at(n, g);
        char labels[96];
        snprintf(labels, sizeof labels, "group=\"%s\"", ics_group_name(grp));
        ics_hist_write(out, name, labels,
                       (const ics_hist_t *)((const char *)ics_group_metrics(grp) + offset));
    }
}

/* Each group's raft role, then its figures, one series per metric. */
static void s_metrics_groups(ics_node_t *n, FILE *out)
{
    static const char *roles[] = {"unavailable", "follower", "candidate", "leader"};
    size_t n_groups = ics_node_n_groups(n);

    fprintf(out, "# HELP icsd_raft_role 1 for the role this node has in the group.\n"
                 "# TYPE icsd_raft_role gauge\n");
    for (size_t g = 0; g < n_groups; g++) {
        ics_group_t *grp = ics_node_group_at(n, g);
        ics_group_status_t st;
        ics_group_status(grp, &st);
        for (int r = 0; r < 4; r++)
            fprintf(out, "icsd_raft_role{group=\"%s\",role=\"%s\"} %d\n",
                    ics_group_name(grp), roles[r], strcmp(st.role, roles[r]) == 0);
    }
#define SERIES(name, type, help, expr)                                                   \
    do {                                                                                 \
        fprintf(out, "# HELP " name " " help "\n# TYPE " name " " type "\n");           \
        for (size_t g = 0; g < n_groups; g++) {                                          \
            ics_group_t *grp = ics_node_group_at(n, g);                                  \
            ics_group_status_t st;                                                       \
            ics_group_status(grp, &st);                                                  \
            (void)st;                                                                    \
            fprintf(out, name "{group=\"%s\"} %llu\n", ics_group_name(grp),              \
                    (unsigned long long)(expr));                                         \
        }                                                                                \
    } while (0)
#define GAUGE(name, help, expr) SERIES(name, "gauge", help, expr)
#define COUNTER(name, help, expr) SERIES(name, "counter", help, expr)
    GAUGE("icsd_raft_term", "Current raft term.", st.term);
    GAUGE("icsd_raft_commit_index", "Highest raft index known committed.", st.commit_index);
    GAUGE("icsd_raft_applied_index", "Highest raft index applied here.", st.applied_index);
    GAUGE("icsd_raft_last_index", "Last raft index in the local log.", st.last_index);
    GAUGE("icsd_log_position", "Audit log position (entries applied).",
          ics_fsm_position(ics_group_fsm(grp)));
    GAUGE("icsd_log_clock_seconds", "The log's clock.", ics_fsm_clock(ics_group_fsm(grp)) / 1000);
    GAUGE("icsd_checkpoint_certified_position", "Highest certified checkpoint.",
          ics_fsm_certified_position(ics_group_fsm(grp)));
    GAUGE("icsd_history_position", "Highest audit position the history holds or backfills to.",
          st.history_top);
    GAUGE("icsd_history_missing_entries", "History entries still to backfill from peers.",
          st.history_missing);
    GAUGE("icsd_history_write_failed", "1 if the history could not be written (group stopped).",
          st.history_failed ? 1 : 0);
    COUNTER("icsd_submit_timeouts_total", "Own submissions that timed out.", st.timeouts);
    COUNTER("icsd_history_backfilled_entries_total", "History entries backfilled from peers.",
            st.history_filled);
    COUNTER("icsd_history_backfill_failures_total",
            "Backfill requests that failed (no answer, peer lacks the range, bad chunk).",
            st.backfill_failures);
    COUNTER("icsd_history_bad_chunks_total", "Backfill chunks that failed verification.",
            st.backfill_bad_chunks);
    COUNTER("icsd_history_corrupt_entries_total",
            "History entries found corrupt on disk (repaired or fetched again).",
            st.history_corrupt);
    COUNTER("icsd_history_diverged_entries_total",
            "Applied entries that disagreed with the history on disk.", st.history_diverged);
    COUNTER("icsd_tree_heads_false_total",
            "Checkpoints cosigning a tree root that differs from this node's history.",
            st.tree_heads_false);
    COUNTER("icsd_cosign_refused_total",
            "Tree heads this node refused to cosign (inconsistent with one it cosigned).",
            st.cosign_refused);
#undef COUNTER
#undef GAUGE
#undef SERIES
}

/* Each group's checkpoint alarm, entries by outcome, and latencies. */
static void s_metrics_outcomes(ics_node_t *n, FILE *out)
{
    size_t n_groups = ics_node_n_groups(n);

    fprintf(out, "# HELP icsd_checkpoint_alarm 1 if checkpoints disagree.\n"
                 "# TYPE icsd_checkpoint_alarm gauge\n");
    for (size_t g = 0; g < n_groups; g++) {
        ics_group_t *grp = ics_node_group_at(n, g);
        ics_checkpoint_status_t cp;
        ics_fsm_checkpoint_status(ics_group_fsm(grp), &cp);
        fprintf(out, "icsd_checkpoint_alarm{group=\"%s\"} %d\n", ics_group_name(grp),
                cp.alarm ? 1 : 0);
    }

    /* reason is a code from a fixed set (metrics.h), never the text. */
    fprintf(out, "# HELP icsd_entries_total Entries applied, by outcome and reason code.\n"
                 "# TYPE icsd_entries_total counter\n");
    for (size_t g = 0; g < n_groups; g++) {
        ics_group_t *grp = ics_node_group_at(n, g);
        const ics_group_metrics_t *m = ics_group_metrics(grp);
        const char *name = ics_group_name(grp);
        fprintf(out, "icsd_entries_total{group=\"%s\",outcome=\"accepted\",reason=\"\"} %llu\n",
                name, (unsigned long long)m->accepted);
        for (size_t i = 0; i < ICS_REASON_CODES; i++)
            if (m->rejected.count[i] != 0)
                fprintf(out, "icsd_entries_total{group=\"%s\",outcome=\"rejected\","
                             "reason=\"%s\"} %llu\n", name, ics_reason_code_name(i),
                        (unsigned long long)m->rejected.count[i]);
    }
    s_group_hist(n, out, "icsd_commit_latency_seconds", "Own submissions, signed to applied here.",
                 offsetof(ics_group_metrics_t, commit_latency));
    s_group_hist(n, out, "icsd_apply_latency_seconds", "State machine apply time per entry.",
                 offsetof(ics_group_metrics_t, apply_latency));
}

/* The transport: peers, round trips, frames, refusals, back-offs. */
static void s_metrics_peers(ics_node_t *n, FILE *out)
{
    ics_transport_t *transport = ics_node_transport(n);
    ics_transport_stats_t ts = ics_transport_stats(transport);
    ics_node_stats_t ns = ics_node_stats(n);
    ics_peer_info_t peers[ICS_MAX_ORGS];
    size_t np = ics_transport_peers(transport, peers, ICS_MAX_ORGS);

    unsigned connected = 0;
    for (size_t i = 0; i < np; i++)
        connected += peers[i].connected;
    fprintf(out, "# HELP icsd_peers Peers known to the transport.\n# TYPE icsd_peers gauge\n");
    fprintf(out, "icsd_peers{state=\"connected\"} %u\nicsd_peers{state=\"disconnected\"} %zu\n",
            connected, np - connected);
    fprintf(out, "# HELP icsd_peer_rtt_seconds Round-trip time of the last signed ping.\n"
                 "# TYPE icsd_peer_rtt_seconds gauge\n");
    for (size_t i = 0; i < np; i++)
        fprintf(out, "icsd_peer_rtt_seconds{peer=\"%s\"} %.6f\n", peers[i].org,
                peers[i].rtt_us / 1e6);
    fprintf(out, "# HELP icsd_frames_total Node-to-node frames.\n# TYPE icsd_frames_total counter\n");
    fprintf(out, "icsd_frames_total{direction=\"in\"} %llu\n", (unsigned long long)ts.frames_in);
    fprintf(out, "icsd_frames_total{direction=\"out\"} %llu\n", (unsigned long long)ts.frames_out);
    fprintf(out, "# HELP icsd_frames_dropped_total Frames dropped, by cause.\n"
                 "# TYPE icsd_frames_dropped_total counter\n");
    fprintf(out, "icsd_frames_dropped_total{cause=\"send\"} %llu\n",
            (unsigned long long)ts.dropped_send);
    fprintf(out, "icsd_frames_dropped_total{cause=\"undecodable\"} %llu\n",
            (unsigned long long)ns.bad_frames);
    fprintf(out, "icsd_frames_dropped_total{cause=\"unknown_group\"} %llu\n",
            (unsigned long long)ns.unknown_group);
    fprintf(out, "icsd_frames_dropped_total{cause=\"not_member\"} %llu\n",
            (unsigned long long)ns.not_member);
    fprintf(out, "icsd_frames_dropped_total{cause=\"backed_off\"} %llu\n",
            (unsigned long long)ts.backed_off);
    fprintf(out, "# HELP icsd_peer_invalid_frames_total Frames no correct peer sends, by "
                 "peer and reason.\n# TYPE icsd_peer_invalid_frames_total counter\n");
    for (size_t i = 0; i < np; i++)
        for (size_t r = 0; r < ICS_INVALID_REASONS; r++)
            fprintf(out, "icsd_peer_invalid_frames_total{peer=\"%s\",reason=\"%s\"} %llu\n",
                    peers[i].org, ics_invalid_name((ics_invalid_t)r),
                    (unsigned long long)peers[i].invalid[r]);
    fprintf(out, "# HELP icsd_peer_backoff_seconds Time left until a backed-off peer's "
                 "frames are read again.\n# TYPE icsd_peer_backoff_seconds gauge\n");
    for (size_t i = 0; i < np; i++)
        fprintf(out, "icsd_peer_backoff_seconds{peer=\"%s\"} %.3f\n", peers[i].org,
                peers[i].backoff_ms_left / 1000.0);
    fprintf(out, "# HELP icsd_peer_backoffs_total Back-offs of peers that sent too many "
                 "invalid frames.\n# TYPE icsd_peer_backoffs_total counter\n");
    for (size_t i = 0; i < np; i++)
        fprintf(out, "icsd_peer_backoffs_total{peer=\"%s\"} %u\n", peers[i].org,
                peers[i].backoffs);
    fprintf(out, "# HELP icsd_connections_refused_total Connections refused by ZAP.\n"
                 "# TYPE icsd_connections_refused_total counter\n");
    fprintf(out, "icsd_connections_refused_total %llu\n", (unsigned long long)ts.refused);
}

/* Signatures: how many apply found already checked (sigmemo.h), and what
 * the verifier did ahead of apply (verifier.h). */
static void s_metrics_signatures(ics_node_t *n, FILE *out)
{
    ics_sigmemo_stats_t ms;
    ics_verifier_t *v = ics_node_verifier(n);

    ics_sigmemo_stats(&ms);
    fprintf(out, "# HELP icsd_signature_memo_total Signature checks answered from the memo "
                 "of signatures already verified or signed here (hit), or verified in full "
                 "(miss).\n# TYPE icsd_signature_memo_total counter\n");
    fprintf(out, "icsd_signature_memo_total{result=\"hit\"} %llu\n",
            (unsigned long long)ms.hits);
    fprintf(out, "icsd_signature_memo_total{result=\"miss\"} %llu\n",
            (unsigned long long)ms.misses);
    if (v == NULL)
        return;
    ics_verifier_stats_t vs;
    ics_verifier_stats(v, &vs);
    fprintf(out, "# HELP icsd_verifier_jobs_total Signatures handed to the verifier threads "
                 "ahead of apply, by outcome.\n# TYPE icsd_verifier_jobs_total counter\n");
    fprintf(out, "icsd_verifier_jobs_total{outcome=\"valid\"} %llu\n",
            (unsigned long long)vs.valid);
    fprintf(out, "icsd_verifier_jobs_total{outcome=\"invalid\"} %llu\n",
            (unsigned long long)vs.invalid);
    fprintf(out, "icsd_verifier_jobs_total{outcome=\"dropped\"} %llu\n",
            (unsigned long long)vs.dropped);
    fprintf(out, "icsd_verifier_jobs_total{outcome=\"repeated\"} %llu\n",
            (unsigned long long)vs.repeated);
}

static void s_metrics(ics_node_t *n, FILE *out)
{
    ics_node_stats_t ns = ics_node_stats(n);

    fprintf(out, "# HELP icsd_info Build and identity of this node.\n# TYPE icsd_info gauge\n");
    fprintf(out, "icsd_info{org=\"%s\",version=\"%s\"} 1\n", ics_node_config(n)->org, ICS_VERSION);
    fprintf(out, "# HELP icsd_uptime_seconds Time since the node started.\n"
                 "# TYPE icsd_uptime_seconds gauge\n");
    fprintf(out, "icsd_uptime_seconds %.3f\n", ns.uptime_ms / 1000.0);
    s_metrics_groups(n, out);
    s_metrics_outcomes(n, out);
    s_metrics_peers(n, out);
    s_metrics_signatures(n, out);
    s_raftio_metrics(n, out);
    s_fsm_metrics(n, out);
}

static bool s_ready(ics_node_t *n, char *why, size_t size)
{
    for (size_t g = 0; g < ics_node_n_groups(n); g++) {
        ics_group_t *grp = ics_node_group_at(n, g);
        ics_group_status_t st;
        ics_group_status(grp, &st);
        if (st.leader[0] == '\0') {
            snprintf(why, size, "group %s has no leader", ics_group_name(grp));
            return false;
        }
        if (st.applied_index < st.commit_index) {
            snprintf(why, size, "group %s is catching up (applied %llu of %llu)",
                     ics_group_name(grp), (unsigned long long)st.applied_index,
                     (unsigned long long)st.commit_index);
            return false;
        }
    }
    snprintf(why, size, "ready");
    return true;
}

static enum MHD_Result s_reply(struct MHD_Connection *conn, unsigned status, const char *type,
                               char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result rc;
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* ---- /events ------------------------------------------------------------ */

static ssize_t s_sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    s_sse_t *e = cls;
    (void)pos;

    if (e->off == e->len) {
        FILE *f;
        free(e->buf);
        e->buf = NULL;
        e->len = e->off = 0;
        if (e->http->stopping)
            return MHD_CONTENT_READER_END_OF_STREAM;
        f = open_memstream(&e->buf, &e->len);
        if (f == NULL)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        size_t n = ics_dashboard_stream_read(e->stream, f);
        uint64_t now = ics_mono_ms();
        if (n == 0 && now - e->last_ms >= S_SSE_KEEPALIVE_MS)
            fputs(": keep-alive\n\n", f);
        if (fclose(f) != 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (e->len == 0) {
            /* Nothing to say: off the loop until there is (s_sse_wake). */
            e->suspended = true;
            MHD_suspend_connection(e->conn);
            return 0;
        }
        e->last_ms = now;
    }
    size_t n = e->len - e->off < max ? e->len - e->off : max;
    memcpy(buf, e->buf + e->off, n);
    e->off += n;
    return (ssize_t)n;
}

static void s_sse_free(void *cls)
{
    s_sse_t *e = cls, **pp;
    for (pp = &e->http->sse; *pp != NULL && *pp != e; pp = &(*pp)->next)
        ;
    if (*pp == e) {
        *pp = e->next;
        e->http->n_sse--;
    }
    ics_dashboard_stream_free(&e->stream);
    free(e->buf);
    free(e);
}

/* Resumes the streams that have news or are due a keep-alive (all of them
 * when stopping). true if any was. */
static bool s_sse_wake(ics_http_t *self)
{
    uint64_t now = ics_mono_ms();
    bool any = false;
    for (s_sse_t *e = self->sse; e != NULL; e = e->next) {
        if (e->suspended && (self->stopping || now - e->last_ms >= S_SSE_KEEPALIVE_MS ||
                             ics_dashboard_stream_pending(e->stream))) {
            e->suspended = false;
            MHD_resume_connection(e->conn);
            any = true;
        }
    }
    return any;
}

static enum MHD_Result s_events(ics_http_t *self, struct MHD_Connection *conn)
{
    const char *last = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
    struct MHD_Response *r;
    enum MHD_Result rc;
    s_sse_t *e;

    if (last == NULL)
        last = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "after");
    if (self->n_sse >= S_SSE_MAX)
        return s_reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
                       strdup("too many event streams\n"), 23);
    e = calloc(1, sizeof *e);
    if (e == NULL || (e->stream = ics_dashboard_stream_new(self->node, last)) == NULL ||
        (e->buf = strdup("retry: 2000\n: events of this node's groups\n\n")) == NULL) {
        if (e != NULL)
            ics_dashboard_stream_free(&e->stream);
        free(e);
        return MHD_NO;
    }
    e->len = strlen(e->buf);
    e->http = self;
    e->conn = conn;
    e->last_ms = ics_mono_ms();
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, s_sse_read, e, s_sse_free);
    if (r == NULL) {
        ics_dashboard_stream_free(&e->stream);
        free(e->buf);
        free(e);
        return MHD_NO;
    }
    e->next = self->sse;
    self->sse = e;
    self->n_sse++;
    MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    rc = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result s_page(struct MHD_Connection *conn, ics_node_t *node)
{
    char *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&body, &len);
    struct MHD_Response *r;
    enum MHD_Result rc;

    if (f == NULL)
        return MHD_NO;
    ics_dashboard_page(node, f);
    if (fclose(f) != 0) {
        free(body);
        return MHD_NO;
    }
    r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "Content-Security-Policy", s_csp);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    rc = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

/* Did the client present a certificate the trusted CA signed (and that is
 * valid now)? libmicrohttpd asks for one when client_ca is set, but does
 * not itself refuse a connection without it. */
static bool s_client_ok(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    unsigned list_size = 0, status = 0;

    if (ci == NULL || ci->tls_session == NULL)
        return false;
    gnutls_session_t tls = (gnutls_session_t)ci->tls_session;
    if (gnutls_certificate_get_peers(tls, &list_size) == NULL || list_size == 0)
        return false;
    return gnutls_certificate_verify_peers2(tls, &status) == GNUTLS_E_SUCCESS && status == 0;
}

/* A whole PEM file, NUL-terminated (caller frees); NULL with err. */
static char *s_read_pem(const char *path, ics_err_t *err)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0;
    FILE *m;

    if (f == NULL) {
        ics_err(err, ICS_ECONFIG, "%s: %s", path, strerror(errno));
        return NULL;
    }
    m = open_memstream(&buf, &len);
    if (m != NULL) {
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
            fwrite(chunk, 1, n, m);
        fclose(m);
    }
    fclose(f);
    if (buf == NULL || strstr(buf, "-----BEGIN ") == NULL) {
        ics_err(err, ICS_ECONFIG, "%s: not a PEM file", path);
        free(buf);
        return NULL;
    }
    return buf;
}

static enum MHD_Result s_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **req_cls)
{
    ics_http_t *self = cls;
    char *body = NULL;
    size_t len = 0;
    FILE *f;
    (void)version;
    (void)upload_data;
    (void)req_cls;

    if (self->client_ca != NULL && !s_client_ok(conn)) {
        *upload_data_size = 0;
        return s_reply(conn, MHD_HTTP_FORBIDDEN, "text/plain",
                       strdup("a client certificate signed by client_ca is required\n"), 53);
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        *upload_data_size = 0;
        return s_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", strdup("GET only\n"), 9);
    }
    if (ics_node_config(self->node)->dashboard && (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0))
        return s_page(conn, self->node);
    if (ics_node_config(self->node)->dashboard && strcmp(url, "/events") == 0)
        return s_events(self, conn);
    f = open_memstream(&body, &len);
    if (f == NULL)
        return MHD_NO;
    unsigned status = MHD_HTTP_OK;
    const char *type = "text/plain; charset=utf-8";
    if (strcmp(url, "/metrics") == 0) {
        s_metrics(self->node, f);
        type = "text/plain; version=0.0.4; charset=utf-8";
    } else if (strcmp(url, "/healthz") == 0) {
        fputs("ok\n", f);
    } else if (strcmp(url, "/readyz") == 0) {
        char why[160];
        if (!s_ready(self->node, why, sizeof why))
            status = MHD_HTTP_SERVICE_UNAVAILABLE;
        fprintf(f, "%s\n", why);
    } else {
        status = MHD_HTTP_NOT_FOUND;
        fprintf(f, "not found: try /metrics, /healthz or /readyz%s\n",
                ics_node_config(self->node)->dashboard ? ", or / for the dashboard" : "");
    }
    fclose(f);
    return s_reply(conn, status, type, body, len);
}

ics_http_t *ics_http_start(struct ics_node *node, const char *listen, ics_err_t *err)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    char host[64] = "127.0.0.1";
    const char *colon = strrchr(listen, ':');
    const char *port_s = colon != NULL ? colon + 1 : listen;
    char *end = NULL;
    unsigned long port = strtoul(port_s, &end, 10);
    ics_http_t *self;

    if (colon != NULL) {
        size_t hl = (size_t)(colon - listen);
        if (hl == 0 || hl >= sizeof host) {
            ics_err(err, ICS_ECONFIG, "http = '%s': expected PORT or HOST:PORT", listen);
            return NULL;
        }
        memcpy(host, listen, hl);
        host[hl] = '\0';
    }
    if (end == port_s || *end != '\0' || port == 0 || port > 65535 ||
        inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        ics_err(err, ICS_ECONFIG, "http = '%s': expected PORT or IPV4:PORT", listen);
        return NULL;
    }
    addr.sin_port = htons((uint16_t)port);
    self = calloc(1, sizeof *self);
    if (self == NULL) {
        ics_err(err, ICS_ENOMEM, "out of memory");
        return NULL;
    }
    self->node = node;
    const ics_config_t *cfg = ics_node_config(node);
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    struct MHD_OptionItem opts[8];
    size_t n_opts = 0;
    opts[n_opts++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &addr};
    opts[n_opts++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, 32, NULL};
    opts[n_opts++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, 10, NULL};
    if (cfg->tls_cert[0] != '\0') {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            ics_err(err, ICS_ECONFIG, "[http] tls_cert: this libmicrohttpd has no TLS");
            goto fail;
        }
        if ((self->tls_cert = s_read_pem(cfg->tls_cert, err)) == NULL ||
            (self->tls_key = s_read_pem(cfg->tls_key, err)) == NULL ||
            (cfg->client_ca[0] != '\0' && (self->client_ca = s_read_pem(cfg->client_ca, err)) == NULL))
            goto fail;
        flags |= MHD_USE_TLS;
        opts[n_opts++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, self->tls_cert};
        opts[n_opts++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, self->tls_key};
        if (self->client_ca != NULL)
            opts[n_opts++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, self->client_ca};
    }
    opts[n_opts] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    self->mhd = MHD_start_daemon(flags, 0, NULL, NULL, s_handler, self, MHD_OPTION_ARRAY, opts,
                                 MHD_OPTION_END);
    if (self->mhd == NULL) {
        ics_err(err, ICS_EIO, "cannot serve HTTP%s on %s:%lu (address in use%s?)",
                self->tls_cert != NULL ? "S" : "", host, port,
                self->tls_cert != NULL ? ", or a certificate and key that do not match" : "");
        goto fail;
    }
    ics_info("http: serving /metrics, /healthz, /readyz%s on %s:%lu%s%s",
             ics_node_config(node)->dashboard ? " and the dashboard (/, /events)" : "", host, port,
             self->tls_cert != NULL ? " over HTTPS" : "",
             self->client_ca != NULL ? " to clients with a certificate from client_ca" : "");
    return self;
fail:
    free(self->tls_cert);
    free(self->tls_key);
    free(self->client_ca);
    free(self);
    return NULL;
}

void ics_http_stop(ics_http_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    /* Streams end: each is resumed and told so before the daemon stops. */
    (*self_p)->stopping = true;
    if (s_sse_wake(*self_p))
        MHD_run((*self_p)->mhd);
    MHD_stop_daemon((*self_p)->mhd);
    free((*self_p)->tls_cert);
    free((*self_p)->tls_key);
    free((*self_p)->client_ca);
    free(*self_p);
    *self_p = NULL;
}

zmq_pollitem_t ics_http_pollitem(ics_http_t *self)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    return (zmq_pollitem_t){.fd = info != NULL ? info->epoll_fd : -1, .events = ZMQ_POLLIN};
}

long ics_http_timeout(ics_http_t *self)
{
    MHD_UNSIGNED_LONG_LONG t;
    /* Called before every poll of the loop: entries applied in the turn
     * that ends here wake the streams waiting for them. */
    if (s_sse_wake(self))
        return 0;
    if (MHD_get_timeout(self->mhd, &t) == MHD_YES)
        return t > 1000 ? 1000 : (long)t;
    return 1000;
}

void ics_http_run(ics_http_t *self)
{
    MHD_run(self->mhd);
}
