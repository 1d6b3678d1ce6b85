/*
 * The dashboard as a person in a control room sees it: three real nodes, a
 * small winter scenario through icsctl (OPEL reports, a mutual-aid request
 * and an offer whose partners typed HTML into their notes), then the ICB
 * node's dashboard loaded in headless Chromium: the rows are in the DOM,
 * the page is well-formed and fetches nothing from another host, partners'
 * text is shown as text, a new aid request arrives on the open page by its
 * event stream without a reload, and screenshots are written to the test's
 * temporary directory (ICS_TEST_KEEP=1 keeps it). Also: the page is
 * read-only (anything but GET is refused) and /events resumes after an id;
 * over HTTPS with client_ca, only a screen with a certificate the CA
 * signed gets anything.
 *
 * Skipped, saying so, when Chromium is not installed (deploy/deps.sh
 * installs Debian's chromium).
 *
 * Layout: fixture, helpers, assertions, scenarios.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const ORGS[] = {"QHM", "RTD", "RX4"};
static const char *const KINDS[] = {"icb", "foundation_trust", "mental_health"};
enum { QHM, RTD, RX4 };

/* ---------------------------------------------------------------- fixture */

typedef struct {
    h_cluster_t c;
    int http_port;
    char chromium[256];
    char url[128];
    char out[262144];
    char err[8192];
} fx_t;

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
    fx->http_port = h_free_port();
    snprintf(fx->c.nodes[QHM].node_extra, sizeof fx->c.nodes[QHM].node_extra,
             "http = 127.0.0.1:%d\n\n[http]\ndashboard = yes\n", fx->http_port);
    snprintf(fx->url, sizeof fx->url, "http://127.0.0.1:%d/", fx->http_port);
    for (int i = 0; i < 3; i++)
        h_start(&fx->c, i);
    assert_true(h_wait(s_have_leader, &fx->c, NULL, 15000));
    *state = fx;
    return 0;
}

/* The same, but HTTPS with client certificates: a CA (ca.pem), the node's
 * certificate (server.pem, for 127.0.0.1), a control-room screen's
 * (screen.pem, signed by the CA) and a stranger's (self-signed). */
static int setup_tls(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    h_cluster_init(&fx->c, 3, ORGS, KINDS);
    assert_int_equal(h_sh(
        "(cd '%s' && K='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes' && "
        "printf 'subjectAltName=IP:127.0.0.1\\n' >server.ext && "
        "printf 'extendedKeyUsage=clientAuth\\n' >client.ext && "
        "openssl req -x509 $K -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca && "
        "openssl req $K -keyout server.key -out server.csr -subj /CN=127.0.0.1 && "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
        "-out server.pem -days 2 -extfile server.ext && "
        "openssl req $K -keyout screen.key -out screen.csr -subj /CN=control-room && "
        "openssl x509 -req -in screen.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
        "-out screen.pem -days 2 -extfile client.ext && "
        "openssl req -x509 $K -keyout stranger.key -out stranger.pem -days 2 -subj /CN=x)"
        " >'%s/openssl.log' 2>&1", fx->c.dir, fx->c.dir), 0);
    fx->http_port = h_free_port();
    snprintf(fx->c.nodes[QHM].node_extra, sizeof fx->c.nodes[QHM].node_extra,
             "http = 127.0.0.1:%d\n\n[http]\ndashboard = yes\ntls_cert = server.pem\n"
             "tls_key = server.key\nclient_ca = ca.pem\n", fx->http_port);
    snprintf(fx->url, sizeof fx->url, "https://127.0.0.1:%d/", fx->http_port);
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
    h_cluster_destroy(&fx->c);
    free(fx);
    return 0;
}

/* ---------------------------------------------------------------- helpers */

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

/* GETs the dashboard until it contains needle (15 s at most); the page is
 * left in fx->out. */
static void s_page_until(fx_t *fx, const char *needle)
{
    for (int t = 0; t < 150; t++) {
        char *body = NULL;
        int status = h_http_get(fx->http_port, "/", &body);
        snprintf(fx->out, sizeof fx->out, "%s", body != NULL ? body : "");
        free(body);
        if (status == 200 && strstr(fx->out, needle) != NULL)
            return;
        h_sleep_ms(100);
    }
    fail_msg("the dashboard never showed '%s':\n%.4000s", needle, fx->out);
}

/* Sends raw (a whole request) to the HTTP port; reads the answer until it
 * contains needle, the connection closes or timeout_ms pass. Returns true
 * if the server closed the connection. */
static bool s_http_raw(fx_t *fx, const char *raw, const char *needle, unsigned timeout_ms)
{
    bool closed = false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx->http_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
    size_t len = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    fx->out[0] = '\0';
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(write(fd, raw, strlen(raw)), (ssize_t)strlen(raw));
    uint64_t end = ics_mono_ms() + timeout_ms;
    while (ics_mono_ms() < end && len < sizeof fx->out - 1) {
        ssize_t r = read(fd, fx->out + len, sizeof fx->out - 1 - len);
        if (r == 0) {
            closed = true;
            break;
        }
        if (r > 0) {
            len += (size_t)r;
            fx->out[len] = '\0';
            if (needle != NULL && strstr(fx->out, needle) != NULL)
                break;
        }
    }
    close(fd);
    return closed;
}

static size_t s_count(const char *haystack, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(haystack, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Runs Chromium headless on the dashboard with extra arguments. */
static int s_chromium(fx_t *fx, const char *args, const char *stdout_file)
{
    return h_sh("timeout 60 '%s' --headless --no-sandbox --disable-gpu --no-first-run "
                "--user-data-dir='%s/chromium-profile' %s '%s' >'%s/%s' 2>'%s/chromium.err'",
                fx->chromium, fx->c.dir, args, fx->url, fx->c.dir, stdout_file, fx->c.dir);
}

/* ---------------------------------------------------------------- assertions */

/* The HTML parses, every element closes, and nothing in it leaves the
 * machine (dashboard_check.py parse). */
#define ASSERT_HTML_SOUND(fx, file)                                                                \
    do {                                                                                           \
        if (h_sh("python3 '" DASHBOARD_CHECK "' parse '%s/%s' >'%s/parse.out' 2>&1", (fx)->c.dir,  \
                 (file), (fx)->c.dir) != 0) {                                                      \
            char p_[600];                                                                          \
            snprintf(p_, sizeof p_, "%s/parse.out", (fx)->c.dir);                                  \
            h_slurp(p_, (fx)->err, sizeof(fx)->err);                                               \
            fail_msg("%s is not sound HTML:\n%s", (file), (fx)->err);                              \
        }                                                                                          \
    } while (0)

/* ---------------------------------------------------------------- scenarios */

static void winter_scenario_in_the_browser(void **state)
{
    fx_t *fx = *state;
    char want[256], path[600];
    h_person(&fx->c, RTD, "site.director");
    h_person(&fx->c, RX4, "bed.manager");

    if (!h_find_chromium(fx->chromium, sizeof fx->chromium)) {
        fprintf(stderr, "dashboard: chromium is not installed (deploy/deps.sh installs "
                        "Debian's chromium); skipping the browser test\n");
        skip();
    }

    /* The winter scenario, as partners type it. */
    H_CTL_OK(fx, RTD,
             "--as site.director opel set 3 --type acute "
             "--note '<b>ED full</b> & ambulances queuing'");
    H_CTL_OK(fx, RX4, "--as bed.manager opel set 2 --type mental_health");
    H_CTL_OK(fx, RTD,
             "--as site.director aid request ga_beds 3 --urgency 4h --site RVI "
             "--reason 'winter surge' --contact 'bed bureau'");
    uint64_t req = s_made(fx, "request");
    H_CTL_OK(fx, RX4,
             "--as bed.manager aid offer %llu 2 "
             "--conditions '<script>alert(1)</script> staffed beds'",
             (unsigned long long)req);
    uint64_t offer = s_made(fx, "offer");

    /* What the server renders (and what a browser without JS shows). */
    snprintf(want, sizeof want, "id=\"nenc-offer-%llu\"", (unsigned long long)offer);
    s_page_until(fx, want);
    snprintf(path, sizeof path, "%s/page.html", fx->c.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(fx->out, f);
    fclose(f);
    ASSERT_HTML_SOUND(fx, "page.html");
    H_ASSERT_CONTAINS(fx->out, "&lt;script&gt;alert(1)&lt;/script&gt; staffed beds");
    H_ASSERT_LACKS(fx->out, "<script>alert(1)");
    H_ASSERT_CONTAINS(fx->out, "&lt;b&gt;ED full&lt;/b&gt; &amp; ambulances queuing");
    H_ASSERT_CONTAINS(fx->out, "<meta http-equiv=\"refresh\" content=\"30\">");

    /* Chromium: the rows a person looks for are in the DOM. */
    assert_int_equal(s_chromium(fx, "--dump-dom", "dom.html"), 0);
    snprintf(path, sizeof path, "%s/dom.html", fx->c.dir);
    h_slurp(path, fx->out, sizeof fx->out);
    snprintf(want, sizeof want, "id=\"nenc-request-%llu\"", (unsigned long long)req);
    H_ASSERT_CONTAINS(fx->out, want);
    snprintf(want, sizeof want, "id=\"nenc-offer-%llu\"", (unsigned long long)offer);
    H_ASSERT_CONTAINS(fx->out, want);
    H_ASSERT_CONTAINS(fx->out, "<tr class=\"opel-org\" data-org=\"RTD\">");
    H_ASSERT_CONTAINS(fx->out, "<tr class=\"opel-org\" data-org=\"RX4\">");
    H_ASSERT_CONTAINS(fx->out, "<span class=\"opel opel3\">OPEL 3</span>");
    H_ASSERT_CONTAINS(fx->out, "<svg class=\"chart\"");
    H_ASSERT_CONTAINS(fx->out, "class=\"series\"");
    H_ASSERT_CONTAINS(fx->out, "3 beds");
    H_ASSERT_CONTAINS(fx->out, "2 offered");
    H_ASSERT_LACKS(fx->out, "<script>alert(1)");
    ASSERT_HTML_SOUND(fx, "dom.html");

    char shot[700];
    snprintf(path, sizeof path, "%s/dashboard.png", fx->c.dir);
    snprintf(shot, sizeof shot, "--window-size=1280,1024 --screenshot='%s'", path);
    assert_int_equal(s_chromium(fx, shot, "shot.out"), 0);
    H_ASSERT_PNG(path);

    /* Live: the page is open, a new request is made, and it appears. */
    assert_int_equal(h_sh("python3 '" DASHBOARD_CHECK "' live '%s' '%s' '%s' >'%s/live.log' "
                          "2>&1 & echo $! >'%s/live.pid'", fx->chromium, fx->url, fx->c.dir,
                          fx->c.dir, fx->c.dir), 0);
    snprintf(path, sizeof path, "%s/ready", fx->c.dir);
    for (int t = 0; t < 300 && h_file_size(path) < 0; t++)
        h_sleep_ms(100);
    if (h_file_size(path) < 0) {
        snprintf(path, sizeof path, "%s/live.log", fx->c.dir);
        h_slurp(path, fx->err, sizeof fx->err);
        fail_msg("the page in Chromium never opened its event stream: %s", fx->err);
    }
    H_CTL_OK(fx, RX4,
             "--as bed.manager aid request ga_beds 2 --urgency 4h --site Ferndene "
             "--reason 'second surge' --contact 'duty'");
    uint64_t req2 = s_made(fx, "request");
    snprintf(path, sizeof path, "%s/live.png", fx->c.dir);
    for (int t = 0; t < 400 && h_file_size(path) <= 0; t++)
        h_sleep_ms(100);
    h_sleep_ms(300);
    char log[600];
    snprintf(log, sizeof log, "%s/live.log", fx->c.dir);
    h_slurp(log, fx->err, sizeof fx->err);
    if (h_file_size(path) <= 0)
        fail_msg("no live update in the open page: %s", fx->err);
    H_ASSERT_PNG(path);
    snprintf(path, sizeof path, "%s/live.html", fx->c.dir);
    h_slurp(path, fx->out, sizeof fx->out);
    snprintf(want, sizeof want, "id=\"nenc-request-%llu\"", (unsigned long long)req2);
    H_ASSERT_CONTAINS(fx->out, want);
    H_ASSERT_CONTAINS(fx->out, "data-updates=\"");
    H_ASSERT_LACKS(fx->out, "data-updates=\"0\"");
    fprintf(stderr, "dashboard: screenshots %s/dashboard.png and %s/live.png%s\n", fx->c.dir,
            fx->c.dir, getenv("ICS_TEST_KEEP") ? "" : " (ICS_TEST_KEEP=1 keeps them)");
}

static void read_only_and_events_resume(void **state)
{
    fx_t *fx = *state;
    char want[256], raw[256];
    h_person(&fx->c, RTD, "site.director");
    h_person(&fx->c, RX4, "bed.manager");

    H_CTL_OK(fx, RTD,
             "--as site.director aid request ga_beds 1 --urgency 4h --site RVI "
             "--reason r --contact c");
    uint64_t req = s_made(fx, "request");
    H_CTL_OK(fx, RX4, "--as bed.manager aid offer %llu 1", (unsigned long long)req);
    uint64_t offer = s_made(fx, "offer");
    snprintf(want, sizeof want, "id=\"nenc-offer-%llu\"", (unsigned long long)offer);
    s_page_until(fx, want);

    /* Never a command: anything but GET is refused, whatever the path. */
    s_http_raw(fx, "POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}", NULL, 2000);
    H_ASSERT_CONTAINS(fx->out, "405");
    s_http_raw(fx, "DELETE /events HTTP/1.0\r\n\r\n", NULL, 2000);
    H_ASSERT_CONTAINS(fx->out, "405");

    /* /events after the request's event: the offer's comes next, with
     * its id, as one SSE message. */
    snprintf(raw, sizeof raw, "GET /events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: nenc:%llu:0"
                              "\r\n\r\n", (unsigned long long)req);
    snprintf(want, sizeof want, "id: nenc:%llu:0\ndata: {\"id\":\"nenc:%llu:0\"",
             (unsigned long long)offer, (unsigned long long)offer);
    s_http_raw(fx, raw, want, 5000);
    H_ASSERT_CONTAINS(fx->out, "text/event-stream");
    H_ASSERT_CONTAINS(fx->out, want);
    H_ASSERT_CONTAINS(fx->out, "\"kind\":\"aid.offered\"");
    snprintf(want, sizeof want, "id: nenc:%llu:0\n", (unsigned long long)req);
    H_ASSERT_LACKS(fx->out, want);

    /* A quiet stream stays open, kept alive by comments every few seconds. */
    assert_false(s_http_raw(fx, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n", NULL, 12500));
    if (s_count(fx->out, ": keep-alive\n") < 2)
        fail_msg("a quiet /events stream was not kept alive:\n%s", fx->out);

    /* The operators' endpoints are still there beside it. */
    char *body = NULL;
    assert_int_equal(h_http_get(fx->http_port, "/metrics", &body), 200);
    free(body);
}

/* curl against the HTTPS listener with the given client certificate
 * ("" for none); its HTTP status, 0 if no HTTP answer at all. */
static int s_https(fx_t *fx, const char *cert, const char *path)
{
    char status_file[600], buf[16];
    snprintf(status_file, sizeof status_file, "%s/curl.status", fx->c.dir);
    h_sh("cd '%s' && curl -s --max-time 10 --cacert ca.pem %s%s%s%s%s -o curl.body "
         "-w '%%{http_code}' 'https://127.0.0.1:%d%s' >curl.status 2>/dev/null",
         fx->c.dir, cert[0] ? "--cert " : "", cert, cert[0] ? ".pem --key " : "", cert,
         cert[0] ? ".key" : "", fx->http_port, path);
    h_slurp(status_file, buf, sizeof buf);
    return atoi(buf);
}

static void https_for_screens_with_a_certificate(void **state)
{
    fx_t *fx = *state;
    char path[600];

    if (h_sh("command -v curl >/dev/null") != 0) {
        fprintf(stderr, "dashboard: curl is not installed; skipping the HTTPS test\n");
        skip();
    }
    int status = 0;
    for (int t = 0; t < 50 && (status = s_https(fx, "screen", "/")) != 200; t++)
        h_sleep_ms(100);
    assert_int_equal(status, 200);
    snprintf(path, sizeof path, "%s/curl.body", fx->c.dir);
    h_slurp(path, fx->out, sizeof fx->out);
    H_ASSERT_CONTAINS(fx->out, "<h1>ICS dashboard</h1>");
    assert_int_equal(s_https(fx, "screen", "/metrics"), 200);

    /* No certificate, or one the CA did not sign: refused, whatever the path. */
    assert_int_equal(s_https(fx, "", "/"), 403);
    assert_int_equal(s_https(fx, "stranger", "/"), 403);
    assert_int_equal(s_https(fx, "stranger", "/events"), 403);
    assert_int_equal(s_https(fx, "", "/metrics"), 403);

    /* Plain HTTP gets no page. */
    char *body = NULL;
    assert_int_not_equal(h_http_get(fx->http_port, "/", &body), 200);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(winter_scenario_in_the_browser, setup, teardown),
        cmocka_unit_test_setup_teardown(read_only_and_events_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(https_for_screens_with_a_certificate, setup_tls,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
