/*
 * /metrics, /healthz and /readyz on a running node, scraped over HTTP and
 * parsed as Prometheus text format.
 */
#include "harness.h"

#include <regex.h>
#include <stdio.h>
#include <string.h>

static const char *const ORGS[] = {"QHM", "RTD", "RX4"};
static const char *const KINDS[] = {"icb", "foundation_trust", "mental_health"};

/* Value of the first sample whose name{labels} starts with prefix. */
static bool s_value(const char *body, const char *prefix, double *out)
{
    const char *p = body;
    size_t n = strlen(prefix);
    while (p != NULL && *p) {
        if (strncmp(p, prefix, n) == 0) {
            const char *sp = strchr(p, ' ');
            if (sp != NULL && sscanf(sp + 1, "%lf", out) == 1)
                return true;
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return false;
}

/* Every line is a comment or "name{labels} value" as the format requires. */
static void s_assert_format(const char *body)
{
    regex_t re;
    char line[1024];
    const char *p = body;
    unsigned samples = 0;

    assert_int_equal(regcomp(&re, "^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"[^\"\\\\\n]*\",?)*\\})? "
                                  "(-?[0-9.]+(e[-+]?[0-9]+)?|\\+Inf|NaN)$",
                         REG_EXTENDED | REG_NOSUB), 0);
    while (*p) {
        size_t n = strcspn(p, "\n");
        assert_true(n < sizeof line);
        memcpy(line, p, n);
        line[n] = '\0';
        if (n > 0 && line[0] != '#') {
            if (regexec(&re, line, 0, NULL, 0) != 0)
                fail_msg("not Prometheus text format: '%s'", line);
            samples++;
        } else if (n > 0) {
            assert_true(strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0);
        }
        p += n;
        if (*p == '\n')
            p++;
    }
    regfree(&re);
    assert_true(samples > 20);
}

static bool s_ready(h_cluster_t *c, void *arg)
{
    char *body = NULL;
    int port = *(int *)arg;
    int st = h_http_get(port, "/readyz", &body);
    free(body);
    (void)c;
    return st == 200;
}

static bool s_has_opel(h_cluster_t *c, void *arg)
{
    char *body = NULL;
    double v = 0;
    bool ok = h_http_get(*(int *)arg, "/metrics", &body) == 200 &&
              s_value(body, "icsd_opel_level{group=\"nenc\",org=\"RTD\"", &v) && v == 4;
    (void)c;
    free(body);
    return ok;
}

static void scrape_a_running_node(void **state)
{
    h_cluster_t *c = *state;
    int port = h_free_port();
    char *body = NULL;
    double v;
    uint8_t token[16] = {42};
    Ics__V1__ControlResponse *resp = NULL;

    h_cluster_init(c, 3, ORGS, KINDS);
    snprintf(c->nodes[0].node_extra, sizeof c->nodes[0].node_extra, "http = 127.0.0.1:%d", port);
    for (int i = 0; i < 3; i++)
        h_start(c, i);

    assert_int_equal(h_http_get(port, "/healthz", &body), 200);
    assert_string_equal(body, "ok\n");
    free(body);
    assert_true(h_wait(s_ready, c, &port, 15000));

    assert_int_equal(h_submit_raw(c, 0, "metered", token, 5000, &resp), ICS_OK);
    assert_int_equal(resp->code, 0);
    ics__v1__control_response__free_unpacked(resp, NULL);

    h_person(c, 1, "site.director");
    assert_int_equal(h_sh(ICSCTL_BIN " -s '%s' --as site.director opel set 4 --type acute "
                          ">/dev/null", c->nodes[1].control), 0);
    /* QHM's node applies RTD's report a moment after RTD's does. */
    assert_true(h_wait(s_has_opel, c, &port, 10000));
    assert_int_equal(h_http_get(port, "/metrics", &body), 200);
    s_assert_format(body);
    assert_true(s_value(body, "icsd_raft_applied_index{group=\"nenc\"}", &v) && v >= 2);
    assert_true(s_value(body, "icsd_log_position{group=\"nenc\"}", &v) && v >= 2);
    assert_true(s_value(body, "icsd_raft_term{group=\"nenc\"}", &v) && v >= 1);
    assert_true(s_value(body, "icsd_peers{state=\"connected\"}", &v) && v == 2);
    assert_true(s_value(body, "icsd_entries_total{group=\"nenc\",outcome=\"accepted\"", &v) &&
                v >= 2);
    assert_true(s_value(body, "icsd_commit_latency_seconds_count{group=\"nenc\"}", &v) && v >= 1);
    assert_true(s_value(body, "icsd_apply_latency_seconds_count{group=\"nenc\"}", &v) && v >= 2);
    assert_true(s_value(body, "icsd_frames_dropped_total{cause=\"send\"}", &v));
    assert_true(s_value(body, "icsd_aid_open_requests{group=\"nenc\"}", &v) && v == 0);
    assert_true(s_value(body, "icsd_opel_level{group=\"nenc\",org=\"RTD\",provider=\"acute\"}",
                        &v) && v == 4);
    assert_true(s_value(body, "icsd_opel_system_level{group=\"nenc\"}", &v) && v >= 1);
    double leader = 0, follower = 0;
    /* Our own envelope was known as signed here; RTD's was checked by the
     * verifier when it arrived (forwarded, or in an AppendEntries). */
    assert_true(s_value(body, "icsd_signature_memo_total{result=\"hit\"}", &v) && v >= 1);
    assert_true(s_value(body, "icsd_verifier_jobs_total{outcome=\"valid\"}", &v) && v >= 1);
    assert_true(s_value(body, "icsd_verifier_jobs_total{outcome=\"invalid\"}", &v) && v == 0);
    assert_true(s_value(body, "icsd_verifier_jobs_total{outcome=\"repeated\"}", &v));
    assert_true(s_value(body, "icsd_raft_role{group=\"nenc\",role=\"leader\"}", &leader));
    assert_true(s_value(body, "icsd_raft_role{group=\"nenc\",role=\"follower\"}", &follower));
    assert_true(leader + follower == 1);
    free(body);

    assert_int_equal(h_http_get(port, "/nowhere", &body), 404);
    free(body);

    /* Without a quorum the node is alive but not ready. */
    h_kill(c, 1);
    h_kill(c, 2);
    bool unready = false;
    for (int t = 0; t < 100 && !unready; t++) {
        int st = h_http_get(port, "/readyz", &body);
        unready = st == 503;
        free(body);
        h_sleep_ms(100);
    }
    assert_true(unready);
    assert_int_equal(h_http_get(port, "/healthz", &body), 200);
    free(body);
    assert_int_equal(h_stop(c, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(scrape_a_running_node, h_setup, h_teardown),
    };
    return cmocka_run_group_tests_name("cluster metrics", tests, NULL, NULL);
}
