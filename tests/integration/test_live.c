/*
 * The live view through icsctl against real nodes: watch gives the group's
 * events in log order, resumes after an event id exactly, and a watcher
 * that keeps running while its node restarts misses and repeats nothing;
 * inbox shows each person what waits for them; log tail filters, follows
 * and hides clock ticks; log search finds text in the history; ICSCTL_CONFIG
 * and ICSCTL_GROUP stand in for -c and -g, and a node in several groups
 * names them when none is chosen.
 *
 * Layout: fixture, helpers, domain assertions, scenarios.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>


static const char *const ORGS[] = {"QHM", "RTD", "RX4"};
static const char *const KINDS[] = {"icb", "foundation_trust", "mental_health"};
enum { QHM, RTD, RX4 };

/* ---------------------------------------------------------------- fixture */

typedef struct {
    h_cluster_t c;
    char out[262144];
    char err[8192];
} fx_t;

static bool s_have_leader(h_cluster_t *c, void *arg)
{
    (void)arg;
    return h_leader(c) >= 0;
}

static int s_start(void **state, bool two_groups)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    h_cluster_init(&fx->c, 3, ORGS, KINDS);
    if (two_groups) {
        snprintf(fx->c.group2, sizeof fx->c.group2, "ne-region");
        for (int i = 0; i < 3; i++)
            fx->c.nodes[i].members2 = 7;
    }
    for (int i = 0; i < 3; i++)
        h_start(&fx->c, i);
    assert_true(h_wait(s_have_leader, &fx->c, NULL, 15000));
    *state = fx;
    return 0;
}

static int setup(void **state)
{
    return s_start(state, false);
}

static int setup_two_groups(void **state)
{
    return s_start(state, true);
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    for (int i = 0; i < 3; i++)
        h_stop(&fx->c, i);
    h_cluster_destroy(&fx->c);
    free(fx);
    return 0;
}

/* ---------------------------------------------------------------- helpers */

/* Runs icsctl with env (shell assignments, may be "") and args; without
 * ICSCTL_CONFIG in env, on node i's socket. Keeps stdout and stderr in
 * fx->out and fx->err; returns the exit status. */
static int s_ctl_env(fx_t *fx, int i, const char *env, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int s_ctl_env(fx_t *fx, int i, const char *env, const char *fmt, ...)
{
    char args[2048], out[600], err[600], sock[700] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(out, sizeof out, "%s/cli.out", fx->c.dir);
    snprintf(err, sizeof err, "%s/cli.err", fx->c.dir);
    if (strstr(env, "ICSCTL_CONFIG") == NULL)
        snprintf(sock, sizeof sock, "-s '%s'", fx->c.nodes[i].control);
    int rc = h_sh("env -u ICSCTL_CONFIG -u ICSCTL_GROUP %s " ICSCTL_BIN " %s %s >'%s' 2>'%s'",
                  env, sock, args, out, err);
    h_slurp(out, fx->out, sizeof fx->out);
    h_slurp(err, fx->err, sizeof fx->err);
    return rc;
}

#define s_ctl(fx, i, ...) s_ctl_env((fx), (i), "", __VA_ARGS__)

/* The number in "<what> N ..." at the start of the output. */
static uint64_t s_made(fx_t *fx, const char *what)
{
    size_t n = strlen(what);
    char *end = NULL;
    unsigned long long id = 0;
    if (strncmp(fx->out, what, n) == 0 && fx->out[n] == ' ')
        id = strtoull(fx->out + n + 1, &end, 10);
    if (id == 0 || end == NULL || *end != ' ')
        fail_msg("expected '%s N ...', got: %s%s", what, fx->out, fx->err);
    return id;
}

/* Runs args on node i until its output contains needle (10 s at most). */
static void s_until(fx_t *fx, int i, const char *needle, const char *args)
{
    for (int t = 0; t < 100; t++) {
        if (s_ctl(fx, i, "%s", args) == 0 && strstr(fx->out, needle) != NULL)
            return;
        h_sleep_ms(100);
    }
    fail_msg("'%s' never showed '%s':\n%s%s", args, needle, fx->out, fx->err);
}

/* Starts icsctl on node i in the background, output to file; its pid. */
static pid_t s_background(fx_t *fx, int i, const char *file, const char *args)
{
    char pidfile[600], buf[32];
    snprintf(pidfile, sizeof pidfile, "%s/bg.pid", fx->c.dir);
    assert_int_equal(h_sh(ICSCTL_BIN " -s '%s' %s >'%s/%s' 2>'%s/%s.err' & echo $! >'%s'",
                          fx->c.nodes[i].control, args, fx->c.dir, file, fx->c.dir, file,
                          pidfile), 0);
    h_slurp(pidfile, buf, sizeof buf);
    pid_t pid = (pid_t)atoi(buf);
    assert_true(pid > 0);
    return pid;
}

static void s_end(pid_t pid)
{
    kill(pid, SIGTERM);
    for (int t = 0; t < 100 && kill(pid, 0) == 0; t++)
        h_sleep_ms(20);
}

/* Waits until file (in the cluster's directory) contains needle. */
static bool s_file_has(fx_t *fx, const char *file, const char *needle, unsigned timeout_ms)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", fx->c.dir, file);
    for (unsigned t = 0; t < timeout_ms; t += 100) {
        h_slurp(path, fx->out, sizeof fx->out);
        if (strstr(fx->out, needle) != NULL)
            return true;
        h_sleep_ms(100);
    }
    return false;
}

/* The value of "id" in each line of out, one string a line. */
static size_t s_ids(const char *out, char ids[][64], size_t max)
{
    size_t n = 0;
    for (const char *p = out; *p && n < max;) {
        const char *nl = strchr(p, '\n'), *id = strstr(p, "\"id\":\"");
        if (nl == NULL)
            nl = p + strlen(p);
        if (id != NULL && id < nl) {
            id += 6;
            size_t len = strcspn(id, "\"");
            snprintf(ids[n++], 64, "%.*s", (int)len, id);
        }
        p = *nl ? nl + 1 : nl;
    }
    return n;
}

/* ---------------------------------------------------------------- assertions */

#define ASSERT_CONTAINS(haystack, needle)                                                \
    do {                                                                                 \
        if (strstr((haystack), (needle)) == NULL)                                        \
            fail_msg("expected '%s' in:\n%s", (needle), (haystack));                     \
    } while (0)

#define ASSERT_LACKS(haystack, needle)                                                   \
    do {                                                                                 \
        if (strstr((haystack), (needle)) != NULL)                                        \
            fail_msg("did not expect '%s' in:\n%s", (needle), (haystack));               \
    } while (0)

#define ASSERT_OK(fx, i, ...)                                                            \
    do {                                                                                 \
        if (s_ctl(fx, i, __VA_ARGS__) != 0)                                              \
            fail_msg("icsctl failed: %s%s", (fx)->out, (fx)->err);                        \
    } while (0)

/* needle a comes before needle b in text. */
#define ASSERT_BEFORE(text, a, b)                                                        \
    do {                                                                                 \
        const char *a_ = strstr((text), (a)), *b_ = strstr((text), (b));                 \
        if (a_ == NULL || b_ == NULL || a_ >= b_)                                        \
            fail_msg("expected '%s' before '%s' in:\n%s", (a), (b), (text));             \
    } while (0)

/* Every non-empty line of text contains needle. */
static void s_assert_each_line(const char *text, const char *needle)
{
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        char line[4096];
        snprintf(line, sizeof line, "%.*s", (int)len, p);
        if (len > 0 && strstr(line, needle) == NULL)
            fail_msg("line without '%s': %s\nin:\n%s", needle, line, text);
        p += len + (nl != NULL);
    }
}

/* ---------------------------------------------------------------- scenarios */

static void watch_resumes_without_loss_or_repeat(void **state)
{
    fx_t *fx = *state;
    char want[128], want2[128], ids[512][64], ids2[512][64], offered_id[64];
    h_person(&fx->c, RTD, "site.director");
    h_person(&fx->c, RX4, "bed.manager");
    h_person(&fx->c, QHM, "duty");

    ASSERT_OK(fx, RTD, "--as site.director opel set 3 --type acute");
    ASSERT_OK(fx, RTD, "--as site.director aid request ga_beds 3 --urgency 4h --site RVI "
                       "--reason r --contact c");
    uint64_t req = s_made(fx, "request");
    ASSERT_OK(fx, RX4, "--as bed.manager aid offer %llu 3", (unsigned long long)req);
    uint64_t offer = s_made(fx, "offer");
    ASSERT_OK(fx, RTD, "--as site.director aid accept %llu", (unsigned long long)offer);

    /* In log order, each once. */
    ASSERT_OK(fx, RTD, "--json watch --since 0 --once");
    snprintf(want, sizeof want, "\"kind\":\"aid.requested\",\"clock_ms\"");
    ASSERT_BEFORE(fx->out, "\"kind\":\"opel.reported\"", want);
    ASSERT_BEFORE(fx->out, want, "\"kind\":\"aid.offered\"");
    ASSERT_BEFORE(fx->out, "\"kind\":\"aid.offered\"", "\"kind\":\"aid.accepted\"");
    ASSERT_BEFORE(fx->out, "\"kind\":\"aid.accepted\"", "\"kind\":\"aid.met\"");
    snprintf(want, sizeof want, "\"id\":\"nenc:%llu:0\",", (unsigned long long)offer);
    ASSERT_CONTAINS(fx->out, want);
    size_t n = s_ids(fx->out, ids, 512);
    assert_true(n >= 5);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(ids[i], ids[j]) == 0)
                fail_msg("event %s twice", ids[i]);

    /* After an event id: exactly the rest. */
    snprintf(offered_id, sizeof offered_id, "nenc:%llu:0", (unsigned long long)offer);
    ASSERT_OK(fx, RTD, "--json watch --since %s --once", offered_id);
    size_t m = s_ids(fx->out, ids2, 512), at = 0;
    while (at < n && strcmp(ids[at], offered_id) != 0)
        at++;
    assert_true(at < n);
    assert_int_equal(m, n - at - 1);
    for (size_t i = 0; i < m; i++)
        assert_string_equal(ids2[i], ids[at + 1 + i]);

    /* Filters: kinds and an organisation on either side. */
    ASSERT_OK(fx, RTD, "--json watch --since 0 --once --kind aid.offered,aid.accepted --org RX4");
    s_assert_each_line(fx->out, "\"org\":\"");
    ASSERT_CONTAINS(fx->out, "aid.offered");
    ASSERT_CONTAINS(fx->out, "aid.accepted");
    ASSERT_LACKS(fx->out, "aid.requested");
    ASSERT_LACKS(fx->out, "opel.");
    ASSERT_OK(fx, RTD, "watch --since 0 --once --kind opel");
    ASSERT_CONTAINS(fx->out, "opel.reported");
    ASSERT_LACKS(fx->out, "aid.");

    /* A watcher that runs while its node restarts. */
    pid_t w = s_background(fx, RTD, "watch.out", "--json watch --since 0");
    assert_true(s_file_has(fx, "watch.out", "\"kind\":\"aid.met\"", 20000));
    assert_int_equal(h_stop(&fx->c, RTD), 0);
    ASSERT_OK(fx, RX4, "--as bed.manager aid request ga_beds 2 --urgency 4h --site Ferndene "
                       "--reason r2 --contact c2");
    uint64_t req2 = s_made(fx, "request");
    h_start(&fx->c, RTD);
    assert_true(h_wait(s_have_leader, &fx->c, NULL, 15000));
    for (int t = 0; t < 100 && s_ctl(fx, QHM, "--as duty aid offer %llu 2",
                                     (unsigned long long)req2) != 0; t++)
        h_sleep_ms(100);
    uint64_t offer2 = s_made(fx, "offer");
    snprintf(want2, sizeof want2, "\"id\":\"nenc:%llu:0\"", (unsigned long long)offer2);
    if (!s_file_has(fx, "watch.out", want2, 60000))
        fail_msg("the watcher did not see offer %llu:\n%s", (unsigned long long)offer2, fx->out);
    s_end(w);
    char seen[262144];
    memcpy(seen, fx->out, sizeof seen);
    size_t nw = s_ids(seen, ids, 512);
    ASSERT_OK(fx, RTD, "--json watch --since 0 --once");
    size_t nf = s_ids(fx->out, ids2, 512);
    assert_true(nw <= nf);
    for (size_t i = 0; i < nw; i++)
        if (strcmp(ids[i], ids2[i]) != 0)
            fail_msg("watcher's event %zu is %s, the log's is %s", i, ids[i], ids2[i]);
    snprintf(want, sizeof want, "\"id\":\"nenc:%llu:0\"", (unsigned long long)req2);
    ASSERT_CONTAINS(seen, want);
}

static void inbox_shows_what_waits_for_each_person(void **state)
{
    fx_t *fx = *state;
    char want[160];
    h_person(&fx->c, RTD, "site.director");
    h_person(&fx->c, RX4, "bed.manager");

    h_person(&fx->c, QHM, "ceo");
    ASSERT_OK(fx, QHM, "people role QHM/ceo chief_executive");
    ASSERT_OK(fx, RTD, "--as site.director aid request ga_beds 12 --urgency 4h --site RVI "
                       "--reason 'OPEL 4' --contact 'Site director'");
    uint64_t big = s_made(fx, "request");
    ASSERT_OK(fx, RX4, "--as bed.manager aid offer %llu 12", (unsigned long long)big);
    uint64_t offer = s_made(fx, "offer");
    /* A motion the ICB Board decides: its chair and chief executive vote. */
    h_person(&fx->c, QHM, "chair");
    ASSERT_OK(fx, QHM, "people role QHM/chair chair");
    ASSERT_OK(fx, QHM, "--as ceo motion propose remove RX4 --title 'Remove RX4'");
    ASSERT_CONTAINS(fx->out, "status       OPEN");

    /* The requester: the offer against its request. */
    ASSERT_OK(fx, RTD, "--json --fresh inbox --as site.director");
    ASSERT_CONTAINS(fx->out, "{\"group\":\"nenc\",\"clock_ms\":");
    ASSERT_CONTAINS(fx->out, "\"person\":\"site.director\"");
    snprintf(want, sizeof want, "{\"kind\":\"offer\",\"ref\":%llu,\"request\":%llu,\"org\":\"RX4\"",
             (unsigned long long)offer, (unsigned long long)big);
    ASSERT_CONTAINS(fx->out, want);
    ASSERT_LACKS(fx->out, "\"kind\":\"request\"");
    /* The offerer has answered the request: nothing on it. */
    ASSERT_OK(fx, RX4, "--json --fresh inbox --as bed.manager");
    snprintf(want, sizeof want, "\"ref\":%llu,", (unsigned long long)big);
    ASSERT_LACKS(fx->out, want);
    /* The ICB's chief executive: the open request, and the vote. */
    ASSERT_OK(fx, QHM, "--json --fresh inbox --as ceo");
    snprintf(want, sizeof want, "{\"kind\":\"request\",\"ref\":%llu,", (unsigned long long)big);
    ASSERT_CONTAINS(fx->out, want);
    ASSERT_CONTAINS(fx->out, "\"roles\":[\"chief_executive\"]");
    ASSERT_CONTAINS(fx->out, "{\"kind\":\"vote\"");
    ASSERT_CONTAINS(fx->out, "Remove RX4");
    /* Most urgent first: the request expires (4 h) before the motion closes. */
    ASSERT_BEFORE(fx->out, "\"kind\":\"request\"", "\"kind\":\"vote\"");
    ASSERT_OK(fx, QHM, "inbox --as ceo --resource staff_nurses");
    ASSERT_LACKS(fx->out, " request ");
    ASSERT_CONTAINS(fx->out, "Remove RX4");
    /* Someone with no roles and nothing to answer. */
    /* Accepted above the threshold: it waits for the ICB's chief executive. */
    ASSERT_OK(fx, RTD, "--as site.director aid accept %llu", (unsigned long long)offer);
    s_until(fx, QHM, "\"kind\":\"approval\"", "--json inbox --as ceo");
    snprintf(want, sizeof want, "{\"kind\":\"approval\",\"ref\":%llu,\"request\":%llu,",
             (unsigned long long)offer, (unsigned long long)big);
    ASSERT_CONTAINS(fx->out, want);
    ASSERT_CONTAINS(fx->out, "\"your_role\":true");
    ASSERT_OK(fx, RTD, "--json inbox --as site.director");
    ASSERT_CONTAINS(fx->out, want);
    ASSERT_CONTAINS(fx->out, "\"your_role\":false");
    snprintf(want, sizeof want, "{\"kind\":\"offer\",\"ref\":%llu,", (unsigned long long)offer);
    ASSERT_LACKS(fx->out, want);
    /* Once voted, the motion no longer waits for the chief executive; it
     * still waits for the chair. */
    s_until(fx, QHM, "Remove RX4", "--json motion list");
    char *id = strstr(fx->out, "\"motion\":");
    assert_non_null(id);
    unsigned long long motion = strtoull(id + 9, NULL, 10);
    ASSERT_OK(fx, QHM, "--as ceo vote %llu for", motion);
    ASSERT_OK(fx, QHM, "inbox --as ceo");
    ASSERT_LACKS(fx->out, "Remove RX4");
    ASSERT_OK(fx, QHM, "--json inbox --as chair");
    ASSERT_CONTAINS(fx->out, "\"roles\":[\"chair\"]");
    ASSERT_CONTAINS(fx->out, "{\"kind\":\"vote\"");
    ASSERT_OK(fx, QHM, "inbox --as nobody --resource staff_nurses");
    ASSERT_CONTAINS(fx->out, "(nothing)");
}

static void log_reading_filters_follows_and_searches(void **state)
{
    fx_t *fx = *state;
    char want[160];
    h_person(&fx->c, RTD, "site.director");
    h_person(&fx->c, RX4, "bed.manager");
    h_person(&fx->c, QHM, "duty");

    ASSERT_OK(fx, RTD, "--as site.director aid request ga_beds 4 --urgency 4h --site RVI "
                       "--reason 'Norovirus on ward 12' --contact 'Site director'");
    uint64_t req = s_made(fx, "request");
    ASSERT_OK(fx, RX4, "--as bed.manager aid offer %llu 4", (unsigned long long)req);
    ASSERT_OK(fx, QHM, "--as duty submit hello --note greeting");
    s_until(fx, RTD, " raw ", "log tail -n 1");

    ASSERT_OK(fx, RTD, "log tail -n 100 --kind aid_request");
    ASSERT_CONTAINS(fx->out, "aid_request");
    s_assert_each_line(fx->out, "aid_request");
    ASSERT_OK(fx, RTD, "log tail -n 100 --kind aid");
    ASSERT_CONTAINS(fx->out, "aid_offer");
    ASSERT_LACKS(fx->out, " raw ");
    ASSERT_OK(fx, RTD, "log tail -n 100 --org RX4");
    s_assert_each_line(fx->out, " RX4 ");
    ASSERT_OK(fx, RTD, "log tail -n 100 --person bed.manager");
    s_assert_each_line(fx->out, "bed.manager");
    ASSERT_OK(fx, RTD, "log tail -n 1");
    ASSERT_CONTAINS(fx->out, " raw ");
    /* Clock ticks only when asked for. */
    ASSERT_OK(fx, RTD, "log tail -n 1000");
    ASSERT_LACKS(fx->out, " tick ");
    ASSERT_OK(fx, RTD, "log tail -n 1000 --kind tick");
    if (fx->out[0] != '(')
        s_assert_each_line(fx->out, " tick ");
    /* After an index. */
    ASSERT_OK(fx, RTD, "--json log tail --since %llu", (unsigned long long)req);
    snprintf(want, sizeof want, "\"index\":%llu,", (unsigned long long)req);
    ASSERT_LACKS(fx->out, want);
    snprintf(want, sizeof want, "\"index\":%llu,", (unsigned long long)req + 1);
    ASSERT_CONTAINS(fx->out, "{\"entries\":[");
    /* From a time: everything today. */
    ASSERT_OK(fx, RTD, "log tail --since 2000-01-01 --kind raw");
    ASSERT_CONTAINS(fx->out, " raw ");
    ASSERT_OK(fx, RTD, "log tail --since 2100-01-01");
    ASSERT_CONTAINS(fx->out, "(no entries)");

    /* Search: the text of a command, any case. */
    ASSERT_OK(fx, RTD, "--json log search norovirus");
    snprintf(want, sizeof want, "\"index\":%llu,", (unsigned long long)req);
    ASSERT_CONTAINS(fx->out, want);
    ASSERT_OK(fx, RTD, "log search 'no such words anywhere'");
    ASSERT_CONTAINS(fx->out, "(no entry matches)");
    ASSERT_OK(fx, RTD, "log search greeting --org QHM");
    ASSERT_CONTAINS(fx->out, " raw ");

    /* Follow: an entry applied after it started. */
    pid_t f = s_background(fx, RTD, "follow.out", "--json log tail -n 1 --follow");
    h_sleep_ms(500);
    ASSERT_OK(fx, RX4, "--as bed.manager submit later --note followed");
    uint64_t later = strtoull(fx->out + strlen("accepted at index "), NULL, 10);
    assert_true(strncmp(fx->out, "accepted at index ", 18) == 0 && later > 0);
    snprintf(want, sizeof want, "\"index\":%llu,", (unsigned long long)later);
    if (!s_file_has(fx, "follow.out", want, 20000))
        fail_msg("log tail --follow did not print entry %llu:\n%s", (unsigned long long)later,
                 fx->out);
    s_end(f);
    s_assert_each_line(fx->out, "{\"entry\":{");
}

static void environment_defaults_and_several_groups(void **state)
{
    fx_t *fx = *state;
    char env[700];

    /* No group chosen on a node in two: the error names both. */
    assert_int_equal(s_ctl(fx, QHM, "aid list"), 1);
    ASSERT_CONTAINS(fx->err, "several groups");
    ASSERT_CONTAINS(fx->err, "nenc");
    ASSERT_CONTAINS(fx->err, "ne-region");
    assert_int_equal(s_ctl_env(fx, QHM, "ICSCTL_GROUP=elsewhere", "aid list"), 1);
    ASSERT_CONTAINS(fx->err, "not in group 'elsewhere'");
    ASSERT_CONTAINS(fx->err, "ne-region");
    /* ICSCTL_GROUP chooses; -g still wins. */
    assert_int_equal(s_ctl_env(fx, QHM, "ICSCTL_GROUP=ne-region", "--json aid list"), 0);
    ASSERT_CONTAINS(fx->out, "\"group\":\"ne-region\"");
    assert_int_equal(s_ctl_env(fx, QHM, "ICSCTL_GROUP=ne-region", "--json -g nenc aid list"), 0);
    ASSERT_CONTAINS(fx->out, "\"group\":\"nenc\"");
    /* ICSCTL_CONFIG finds the socket; a bad one is named. */
    snprintf(env, sizeof env, "ICSCTL_CONFIG='%s' ICSCTL_GROUP=nenc", fx->c.nodes[RTD].conf);
    assert_int_equal(s_ctl_env(fx, RTD, env, "--json status"), 0);
    ASSERT_CONTAINS(fx->out, "\"org\":\"RTD\"");
    assert_int_equal(s_ctl_env(fx, RTD, "ICSCTL_CONFIG=/nonexistent/icsd.conf", "status"), 1);
    ASSERT_CONTAINS(fx->err, "/nonexistent/icsd.conf");
    /* Watch: one group at a time, and the cursor must make sense. */
    assert_int_equal(s_ctl(fx, QHM, "watch --once --since 0"), 1);
    ASSERT_CONTAINS(fx->err, "ne-region");
    assert_int_equal(s_ctl(fx, QHM, "watch --once --since nenc:x:0"), 2);
    assert_int_equal(s_ctl(fx, QHM, "-g nenc watch --once --since ne-region:1:0"), 2);
    ASSERT_CONTAINS(fx->err, "group 'ne-region'");
    assert_int_equal(s_ctl(fx, QHM, "watch --limit 0"), 2);
    /* The second group's first entry may not be applied here yet. */
    s_until(fx, QHM, "\"id\":\"ne-region:1:1\"", "--json watch --once --since ne-region:1:0");
    ASSERT_LACKS(fx->out, "\"group\":\"nenc\"");
    /* An offline command ignores both. */
    assert_int_equal(s_ctl_env(fx, RTD, "ICSCTL_CONFIG=/nonexistent/icsd.conf ICSCTL_GROUP=x",
                               "--help"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(watch_resumes_without_loss_or_repeat, setup, teardown),
        cmocka_unit_test_setup_teardown(inbox_shows_what_waits_for_each_person, setup, teardown),
        cmocka_unit_test_setup_teardown(log_reading_filters_follows_and_searches, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(environment_defaults_and_several_groups,
                                        setup_two_groups, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
