/*
 * /metrics of a node in two groups, as Prometheus reads it: promtool check
 * metrics must find nothing wrong (each family's HELP and TYPE once, its
 * samples together, counters named _total), and a rejection's reason label
 * is a code, never the reason's text.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>

/* QHM is in both groups; RTD only in nenc, QE1 only in ne-region. */
static const char *const ORGS[] = {"QHM", "RTD", "QE1"};
static const char *const KINDS[] = {"icb", "foundation_trust", "icb"};

static bool s_ready(h_cluster_t *c, void *arg)
{
    char *body = NULL;
    int st = h_http_get(*(int *)arg, "/readyz", &body);
    (void)c;
    free(body);
    return st == 200;
}

/* How many lines of body start with prefix. */
static unsigned s_lines_starting(const char *body, const char *prefix)
{
    unsigned n = 0;
    size_t len = strlen(prefix);
    for (const char *p = body; p != NULL && *p; p = strchr(p, '\n'), p = p != NULL ? p + 1 : NULL)
        n += strncmp(p, prefix, len) == 0;
    return n;
}

static void two_groups_pass_promtool(void **state)
{
    h_cluster_t *c = *state;
    int port = h_free_port();
    char *body = NULL, path[600];

    h_cluster_init(c, 3, ORGS, KINDS);
    snprintf(c->group2, sizeof c->group2, "ne-region");
    c->nodes[0].members = 0x3;  /* QHM RTD */
    c->nodes[0].members2 = 0x5; /* QHM QE1 */
    c->nodes[1].members = 0x3;
    c->nodes[2].members = 0x3;  /* leaves itself out: only in ne-region */
    c->nodes[2].members2 = 0x5;
    snprintf(c->nodes[0].node_extra, sizeof c->nodes[0].node_extra, "http = 127.0.0.1:%d", port);
    for (int i = 0; i < 3; i++)
        h_start(c, i);
    assert_true(h_wait(s_ready, c, &port, 20000));

    /* Something in each group's state, and a rejection: there is no request 999. */
    h_person_in(c, 0, "nenc", "site.director");
    h_person_in(c, 0, "ne-region", "site.director");
    h_person_in(c, 0, "nenc", "dr.amina.khan");
    assert_int_equal(h_sh(ICSCTL_BIN " -s '%s' -g nenc --as site.director opel set 3 --type acute"
                          " >/dev/null", c->nodes[0].control), 0);
    assert_int_equal(h_sh(ICSCTL_BIN " -s '%s' -g ne-region --as site.director opel set 2 --type"
                          " acute >/dev/null", c->nodes[0].control), 0);
    assert_int_equal(h_sh(ICSCTL_BIN " -s '%s' -g nenc --as dr.amina.khan aid cancel 999"
                          " >/dev/null 2>&1", c->nodes[0].control), 1);

    assert_int_equal(h_http_get(port, "/metrics", &body), 200);
    snprintf(path, sizeof path, "%s/metrics.txt", c->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(body, f);
    fclose(f);
    int rc = h_sh(PROMTOOL_BIN " check metrics <'%s' >'%s.out' 2>&1", path, path);
    if (rc != 0) {
        h_sh("cat '%s.out' >&2", path);
        fail_msg("promtool check metrics failed (%d) on %s", rc, path);
    }

    /* Both groups' samples, each family described once. */
    assert_int_equal(s_lines_starting(body, "# TYPE icsd_opel_level "), 1);
    assert_int_equal(s_lines_starting(body, "# HELP icsd_aid_open_requests "), 1);
    assert_int_equal(s_lines_starting(body, "icsd_aid_open_requests{group=\"nenc\"}"), 1);
    assert_int_equal(s_lines_starting(body, "icsd_aid_open_requests{group=\"ne-region\"}"), 1);
    assert_int_equal(s_lines_starting(body, "icsd_opel_level{group=\"ne-region\",org=\"QHM\""), 1);
    assert_int_equal(s_lines_starting(body, "# TYPE icsd_submit_timeouts_total counter"), 1);

    /* The reason is a code; the text ("there is no request 999 ...") is not. */
    assert_int_equal(s_lines_starting(body, "icsd_entries_total{group=\"nenc\",outcome=\"rejected\","
                                            "reason=\"not_found\"} 1"), 1);
    assert_null(strstr(body, "999"));
    free(body);
    assert_int_equal(h_stop(c, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(two_groups_pass_promtool, h_setup, h_teardown),
    };
    return cmocka_run_group_tests_name("cluster promtool", tests, NULL, NULL);
}
