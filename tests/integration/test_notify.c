/*
 * Notifications ([notify] in icsd.conf) against real nodes: the ICB's node
 * hands mutual-aid events to a command hook (a shell script appending what
 * it reads on stdin to a file) and POSTs them to a webhook (a small HTTP
 * receiver in this process). Checked as the receiving end sees it: every
 * aid event arrives once, in log order, with its id; a webhook receiver
 * that was down gets what it missed once it is back; a hook that hangs is
 * killed at its time limit and the event tried again; a node stopped and
 * started again while events happen delivers what happened, nothing twice
 * and nothing lost (compared with icsctl watch); and --check-config names
 * an unknown kind, a bad URL and a command that cannot run.
 *
 * Layout: fixture (with the receiver), helpers, assertions, scenarios.
 */
#define _GNU_SOURCE /* strcasestr */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const ORGS[] = {"QHM", "RTD", "RX4"};
static const char *const KINDS[] = {"icb", "foundation_trust", "mental_health"};
enum { QHM, RTD, RX4 };

#define MAX_GOT 256

/* ---------------------------------------------------------------- fixture */

typedef struct {
    int port;
    int fd;                      /* listening, -1 while "down" */
    pthread_t thread;
    pthread_mutex_t lock;
    char *got[MAX_GOT];          /* bodies received, in order */
    char keys[MAX_GOT][96];      /* their Idempotency-Key headers */
    size_t n_got;
    unsigned requests;           /* answered, including refused */
} s_receiver_t;

typedef struct {
    h_cluster_t c;
    s_receiver_t rx;
    char hook[600], hook_out[600], hang[600];
    char out[262144];
    char err[8192];
} fx_t;

static void *s_receiver_main(void *arg)
{
    s_receiver_t *rx = arg;
    for (;;) {
        int c = accept(rx->fd, NULL, NULL);
        if (c < 0)
            return NULL; /* closed: the receiver is down */
        char buf[65536];
        size_t len = 0;
        ssize_t r;
        struct timeval tv = {.tv_sec = 2};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        while (len < sizeof buf - 1 && (r = read(c, buf + len, sizeof buf - 1 - len)) > 0) {
            len += (size_t)r;
            buf[len] = '\0';
            char *body = strstr(buf, "\r\n\r\n");
            const char *cl = strcasestr(buf, "Content-Length:");
            if (body != NULL && cl != NULL && strlen(body + 4) >= (size_t)atol(cl + 15))
                break;
        }
        buf[len] = '\0';
        char *body = strstr(buf, "\r\n\r\n");
        const char *key = strcasestr(buf, "Idempotency-Key: ");
        pthread_mutex_lock(&rx->lock);
        if (body != NULL && rx->n_got < MAX_GOT && strncmp(buf, "POST /hook ", 11) == 0) {
            rx->got[rx->n_got] = strdup(body + 4);
            if (key != NULL)
                snprintf(rx->keys[rx->n_got], sizeof rx->keys[0], "%.*s",
                         (int)strcspn(key + 17, "\r\n"), key + 17);
            rx->n_got++;
        }
        rx->requests++;
        pthread_mutex_unlock(&rx->lock);
        const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        (void)!write(c, ok, strlen(ok));
        close(c);
    }
}

static void s_receiver_up(s_receiver_t *rx)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)rx->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    rx->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(rx->fd >= 0);
    setsockopt(rx->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal(bind(rx->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(rx->fd, 16), 0);
    assert_int_equal(pthread_create(&rx->thread, NULL, s_receiver_main, rx), 0);
}

static void s_receiver_down(s_receiver_t *rx)
{
    if (rx->fd < 0)
        return;
    shutdown(rx->fd, SHUT_RDWR);
    close(rx->fd);
    pthread_join(rx->thread, NULL);
    rx->fd = -1;
}

static bool s_have_leader(h_cluster_t *c, void *arg)
{
    (void)arg;
    return h_leader(c) >= 0;
}

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    h_cluster_init(&fx->c, 3, ORGS, KINDS);
    pthread_mutex_init(&fx->rx.lock, NULL);
    fx->rx.fd = -1;
    fx->rx.port = h_free_port();
    s_receiver_up(&fx->rx);

    /* The hook: appends "ID JSON" per event; hangs while the file hang exists. */
    snprintf(fx->hook, sizeof fx->hook, "%s/hook.sh", fx->c.dir);
    snprintf(fx->hook_out, sizeof fx->hook_out, "%s/hook.out", fx->c.dir);
    snprintf(fx->hang, sizeof fx->hang, "%s/hang", fx->c.dir);
    FILE *f = fopen(fx->hook, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\nif [ -e '%s' ]; then sleep 30; fi\n"
               "json=$(cat)\nprintf '%%s %%s\\n' \"$ICS_EVENT_ID\" \"$json\" >>'%s'\n",
            fx->hang, fx->hook_out);
    fclose(f);
    chmod(fx->hook, 0755);

    assert_true(strlen(fx->hook) < 300);
    snprintf(fx->c.nodes[QHM].extra, sizeof fx->c.nodes[QHM].extra,
             "\n[notify hooks]\nkinds = aid\ncommand = %.300s\nurl = http://127.0.0.1:%d/hook\n"
             "timeout_ms = 1500\nretry_max_ms = 2000\n",
             fx->hook, fx->rx.port);
    for (int i = 0; i < 3; i++)
        h_start(&fx->c, i);
    assert_true(h_wait(s_have_leader, &fx->c, NULL, 15000));
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    for (int i = 0; i < 3; i++)
        h_stop(&fx->c, i);
    s_receiver_down(&fx->rx);
    for (size_t i = 0; i < fx->rx.n_got; i++)
        free(fx->rx.got[i]);
    h_cluster_destroy(&fx->c);
    free(fx);
    return 0;
}

/* ---------------------------------------------------------------- helpers */

static int s_ctl(fx_t *fx, int i, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int s_ctl(fx_t *fx, int i, const char *fmt, ...)
{
    char args[2048], out[600], err[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(out, sizeof out, "%s/cli.out", fx->c.dir);
    snprintf(err, sizeof err, "%s/cli.err", fx->c.dir);
    int rc = h_sh("env -u ICSCTL_CONFIG -u ICSCTL_GROUP " ICSCTL_BIN " -s '%s' %s >'%s' 2>'%s'",
                  fx->c.nodes[i].control, args, out, err);
    h_slurp(out, fx->out, sizeof fx->out);
    h_slurp(err, fx->err, sizeof fx->err);
    return rc;
}

#define ASSERT_OK(fx, i, ...)                                                            \
    do {                                                                                 \
        if (s_ctl((fx), (i), __VA_ARGS__) != 0)                                          \
            fail_msg("icsctl failed: %s%s", (fx)->out, (fx)->err);                       \
    } while (0)

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

static uint64_t s_request(fx_t *fx, int i, const char *site)
{
    ASSERT_OK(fx, i, "--as duty aid request ga_beds 2 --urgency 4h --site %s --reason r "
                     "--contact c", site);
    return s_made(fx, "request");
}

/* Ids the webhook received, in order ("" separated), into ids. */
static size_t s_webhook_ids(fx_t *fx, char ids[][64], size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&fx->rx.lock);
    for (size_t i = 0; i < fx->rx.n_got && n < max; i++) {
        const char *id = strstr(fx->rx.got[i], "\"id\":\"");
        if (id != NULL)
            snprintf(ids[n++], 64, "%.*s", (int)strcspn(id + 6, "\""), id + 6);
    }
    pthread_mutex_unlock(&fx->rx.lock);
    return n;
}

/* Ids the hook wrote, one a line (the first word). */
static size_t s_hook_ids(fx_t *fx, char ids[][64], size_t max)
{
    size_t n = 0;
    h_slurp(fx->hook_out, fx->out, sizeof fx->out);
    for (const char *p = fx->out; *p && n < max;) {
        size_t w = strcspn(p, " \n");
        snprintf(ids[n++], 64, "%.*s", (int)w, p);
        p = strchr(p, '\n');
        if (p == NULL)
            break;
        p++;
    }
    return n;
}

static bool s_has(char ids[][64], size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(ids[i], id) == 0)
            return true;
    return false;
}

/* Waits until both the hook and the webhook have had event id. */
static void s_until_delivered(fx_t *fx, const char *id, bool hook, bool webhook,
                              unsigned timeout_ms)
{
    static char a[MAX_GOT][64], b[MAX_GOT][64];
    for (unsigned t = 0; t < timeout_ms; t += 100) {
        size_t na = s_webhook_ids(fx, a, MAX_GOT), nb = s_hook_ids(fx, b, MAX_GOT);
        if ((!webhook || s_has(a, na, id)) && (!hook || s_has(b, nb, id)))
            return;
        h_sleep_ms(100);
    }
    fail_msg("event %s never reached the %s", id, hook && webhook ? "hook and webhook"
                                                  : hook ? "hook" : "webhook");
}

/* The ids of the aid events the node's log has, as icsctl watch says. */
static size_t s_watch_ids(fx_t *fx, char ids[][64], size_t max)
{
    size_t n = 0;
    for (int t = 0; t < 100 && s_ctl(fx, QHM, "--json watch --since 0 --once --kind aid") != 0; t++)
        h_sleep_ms(100); /* the node may be starting */
    for (const char *p = strstr(fx->out, "\"id\":\""); p != NULL && n < max;
         p = strstr(p + 1, "\"id\":\""))
        snprintf(ids[n++], 64, "%.*s", (int)strcspn(p + 6, "\""), p + 6);
    return n;
}

static bool s_log_has(fx_t *fx, int i, const char *needle)
{
    h_slurp(fx->c.nodes[i].log, fx->err, sizeof fx->err);
    return strstr(fx->err, needle) != NULL;
}

/* ---------------------------------------------------------------- assertions */

/* got (n of them) is exactly want (m), in the same order: none lost,
 * none repeated. */
#define ASSERT_SAME_IDS(what, got, n, want, m)                                           \
    do {                                                                                 \
        bool same_ = (n) == (m);                                                         \
        for (size_t k_ = 0; same_ && k_ < (n); k_++)                                     \
            same_ = strcmp((got)[k_], (want)[k_]) == 0;                                  \
        if (!same_) {                                                                    \
            fprintf(stderr, "%s had %zu:", (what), (size_t)(n));                         \
            for (size_t k_ = 0; k_ < (n); k_++)                                          \
                fprintf(stderr, " %s", (got)[k_]);                                       \
            fprintf(stderr, "\nthe log has %zu:", (size_t)(m));                          \
            for (size_t k_ = 0; k_ < (m); k_++)                                          \
                fprintf(stderr, " %s", (want)[k_]);                                      \
            fail_msg("%s: events lost, repeated or out of order", (what));               \
        }                                                                                \
    } while (0)

/* ---------------------------------------------------------------- scenarios */

static void delivered_once_through_outage_hang_and_restart(void **state)
{
    fx_t *fx = *state;
    static char hook[MAX_GOT][64], web[MAX_GOT][64], log[MAX_GOT][64];
    char id[64];
    size_t n_web_now;
    h_person(&fx->c, RTD, "duty");
    h_person(&fx->c, RX4, "duty");

    /* Plain delivery: the request and the offer, each with its id. */
    uint64_t req = s_request(fx, RTD, "RVI");
    ASSERT_OK(fx, RX4, "--as duty aid offer %llu 1", (unsigned long long)req);
    uint64_t offer = s_made(fx, "offer");
    snprintf(id, sizeof id, "nenc:%llu:0", (unsigned long long)offer);
    s_until_delivered(fx, id, true, true, 10000);
    pthread_mutex_lock(&fx->rx.lock);
    assert_string_equal(fx->rx.keys[fx->rx.n_got - 1], id);
    assert_non_null(strstr(fx->rx.got[fx->rx.n_got - 1], "\"kind\":\"aid.offered\""));
    assert_non_null(strstr(fx->rx.got[fx->rx.n_got - 1], "\"node\":\"QHM\""));
    pthread_mutex_unlock(&fx->rx.lock);
    h_slurp(fx->hook_out, fx->out, sizeof fx->out);
    assert_non_null(strstr(fx->out, "\"kind\":\"aid.requested\""));

    /* The webhook's receiver is down: attempts fail, the event waits. */
    s_receiver_down(&fx->rx);
    uint64_t req2 = s_request(fx, RTD, "Freeman");
    snprintf(id, sizeof id, "nenc:%llu:0", (unsigned long long)req2);
    s_until_delivered(fx, id, true, false, 10000);
    for (int t = 0; t < 100 && !s_log_has(fx, QHM, "notify hooks/webhook: nenc:"); t++)
        h_sleep_ms(100);
    assert_true(s_log_has(fx, QHM, "not delivered"));
    h_sleep_ms(2500); /* a few more attempts */
    s_receiver_up(&fx->rx);
    s_until_delivered(fx, id, false, true, 10000);

    /* The hook hangs: killed at its limit, tried again until it answers. */
    assert_int_equal(h_sh("touch '%s'", fx->hang), 0);
    ASSERT_OK(fx, RTD, "--as duty aid cancel %llu --reason 'covered elsewhere'",
              (unsigned long long)req2);
    for (int t = 0; t < 100 && !s_log_has(fx, QHM, "killed after 1500 ms"); t++)
        h_sleep_ms(100);
    assert_true(s_log_has(fx, QHM, "killed after 1500 ms"));
    /* ... while the webhook, with a thread of its own, already has it. */
    n_web_now = s_webhook_ids(fx, web, MAX_GOT);
    ASSERT_OK(fx, QHM, "--json watch --since %llu --once --kind aid.cancelled",
              (unsigned long long)req2);
    const char *cancel = strstr(fx->out, "\"id\":\"");
    assert_non_null(cancel);
    snprintf(id, sizeof id, "%.*s", (int)strcspn(cancel + 6, "\""), cancel + 6);
    if (!s_has(web, n_web_now, id))
        fail_msg("the webhook waited for the hanging hook: %s not there yet", id);
    assert_int_equal(h_sh("rm -f '%s'", fx->hang), 0);
    size_t n_log = s_watch_ids(fx, log, MAX_GOT);
    s_until_delivered(fx, log[n_log - 1], true, true, 15000);

    /* The node stops; events happen meanwhile; it starts again. */
    assert_int_equal(h_stop(&fx->c, QHM), 0);
    uint64_t req3 = s_request(fx, RX4, "Ferndene");
    ASSERT_OK(fx, RTD, "--as duty aid offer %llu 2", (unsigned long long)req3);
    uint64_t offer3 = s_made(fx, "offer");
    h_start(&fx->c, QHM);
    snprintf(id, sizeof id, "nenc:%llu:0", (unsigned long long)offer3);
    s_until_delivered(fx, id, true, true, 20000);
    h_sleep_ms(1500); /* anything extra would arrive by now */

    /* The receivers saw exactly the log's aid events, in its order. */
    n_log = s_watch_ids(fx, log, MAX_GOT);
    assert_true(n_log >= 6);
    size_t n_web = s_webhook_ids(fx, web, MAX_GOT), n_hook = s_hook_ids(fx, hook, MAX_GOT);
    ASSERT_SAME_IDS("the webhook", web, n_web, log, n_log);
    ASSERT_SAME_IDS("the hook", hook, n_hook, log, n_log);
    snprintf(id, sizeof id, "nenc:%llu:0", (unsigned long long)req3);
    assert_true(s_has(web, n_web, id));
}

static void reload_changes_what_is_delivered(void **state)
{
    fx_t *fx = *state;
    char id[64];
    h_person(&fx->c, RTD, "duty");
    h_person(&fx->c, RX4, "duty");

    uint64_t req = s_request(fx, RTD, "RVI");
    snprintf(id, sizeof id, "nenc:%llu:0", (unsigned long long)req);
    s_until_delivered(fx, id, true, true, 10000);

    /* SIGHUP with only OPEL changes wanted, and no webhook any more. */
    snprintf(fx->c.nodes[QHM].extra, sizeof fx->c.nodes[QHM].extra,
             "\n[notify hooks]\nkinds = opel.reported\ncommand = %.300s\ntimeout_ms = 1500\n",
             fx->hook);
    h_write_config(&fx->c, QHM);
    assert_int_equal(h_sh("kill -HUP %d", (int)fx->c.nodes[QHM].pid), 0);
    for (int t = 0; t < 100 && !s_log_has(fx, QHM, "1 [notify] section(s) in effect"); t++)
        h_sleep_ms(100);
    assert_true(s_log_has(fx, QHM, "1 [notify] section(s) in effect"));

    uint64_t req2 = s_request(fx, RTD, "Freeman");
    ASSERT_OK(fx, RTD, "--as duty opel set 3 --type acute");
    ASSERT_OK(fx, RTD, "--json watch --since %llu --once --kind opel.reported",
              (unsigned long long)req2);
    const char *p = strstr(fx->out, "\"id\":\"");
    assert_non_null(p);
    snprintf(id, sizeof id, "%.*s", (int)strcspn(p + 6, "\""), p + 6);
    s_until_delivered(fx, id, true, false, 10000);
    h_sleep_ms(1000);
    snprintf(id, sizeof id, "nenc:%llu:0", (unsigned long long)req2);
    static char ids[MAX_GOT][64];
    size_t n = s_hook_ids(fx, ids, MAX_GOT);
    assert_false(s_has(ids, n, id));      /* not a kind it wants now */
    n = s_webhook_ids(fx, ids, MAX_GOT);
    assert_false(s_has(ids, n, id));      /* the webhook is gone */
}

static void check_config_names_what_is_wrong(void **state)
{
    fx_t *fx = *state;
    char conf[600], plain[700], not_exec[800];
    snprintf(conf, sizeof conf, "%s/check.conf", fx->c.dir);
    /* A file that is there but cannot be run. */
    snprintf(plain, sizeof plain, "%s/plain.txt", fx->c.dir);
    assert_int_equal(h_sh("echo text >'%s' && chmod 0644 '%s'", plain, plain), 0);
    snprintf(not_exec, sizeof not_exec, "[notify x]\ncommand = %s\n", plain);

    struct {
        const char *section, *expect;
    } cases[] = {
        {"[notify x]\nkinds = aid bogus\ncommand = /bin/true\n", "no event kind is or starts with 'bogus'"},
        {"[notify x]\nurl = ftp://example.org/\n", "url = 'ftp://example.org/'"},
        {"[notify x]\nurl = http://\n", "url = 'http://'"},
        {not_exec, "is not an executable file"},
        {"[notify x]\ncommand = /nonexistent/hook\n", "is not an executable file"},
        {"[notify x]\nkinds = aid\n", "needs command = PROGRAM or url"},
    };
    assert_int_equal(h_sh("'" ICSD_BIN "' --check-config '%s' >/dev/null 2>&1",
                          fx->c.nodes[QHM].conf), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(h_sh("grep -v '^\\(kinds\\|command\\|url\\|timeout_ms\\|retry_max_ms\\)"
                              " =\\|^\\[notify' '%s' >'%s' && printf '%%s' '%s' >>'%s'",
                              fx->c.nodes[QHM].conf, conf, cases[i].section, conf), 0);
        int rc = h_sh("'" ICSD_BIN "' --check-config '%s' >'%s.out' 2>&1", conf, conf);
        char out[700];
        snprintf(out, sizeof out, "%s.out", conf);
        h_slurp(out, fx->out, sizeof fx->out);
        if (rc == 0 || strstr(fx->out, cases[i].expect) == NULL)
            fail_msg("--check-config with %s: status %d, said: %s (expected '%s')",
                     cases[i].section, rc, fx->out, cases[i].expect);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(delivered_once_through_outage_hang_and_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reload_changes_what_is_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown(check_config_names_what_is_wrong, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
