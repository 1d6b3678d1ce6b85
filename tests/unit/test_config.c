/*
 * Configuration and key files: every kind of bad input gives its own error,
 * naming the file and the line, as an operator would read it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/config.h"
#include "common/keys.h"

typedef struct {
    char dir[64];
    char conf[128];
    char key[128];
    char pub[ICS_PUBKEY_TEXT_MAX];
    char pub2[ICS_PUBKEY_TEXT_MAX];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    char other[160];
    ics_err_t err;

    strcpy(f->dir, "/tmp/ics-test-config-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->conf, sizeof f->conf, "%s/icsd.conf", f->dir);
    snprintf(f->key, sizeof f->key, "%s/QHM.key", f->dir);
    snprintf(other, sizeof other, "%s/RTD.key", f->dir);
    assert_int_equal(ics_identity_generate(f->key, f->pub, &err), ICS_OK);
    assert_int_equal(ics_identity_generate(other, f->pub2, &err), ICS_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* A valid two-organisation configuration with one line replaced: the
 * lines are numbered as in the file. */
static const char *s_lines[] = {
    "# NENC ICB node",                             /* 1 */
    "[node]",                                      /* 2 */
    "org = QHM",                                   /* 3 */
    "key_file = QHM.key",                          /* 4 */
    "listen = tcp://127.0.0.1:7401",               /* 5 */
    "data_dir = data",                             /* 6 */
    "control = ipc://run/control.sock",            /* 7 */
    "",                                            /* 8 */
    "[raft]",                                      /* 9 */
    "election_ms = 1000",                          /* 10 */
    "",                                            /* 11 */
    "[group nenc]",                                /* 12 */
    "members = QHM RTD",                           /* 13 */
    "admin = QHM",                                 /* 14 */
    "",                                            /* 15 */
    "[org QHM]",                                   /* 16 */
    "kind = icb",                                  /* 17 */
    "name = NHS North East and North Cumbria ICB", /* 18 */
    "endpoint = tcp://127.0.0.1:7401",             /* 19 */
    "public_key = @PUB1@",                         /* 20 */
    "",                                            /* 21 */
    "[org RTD]",                                   /* 22 */
    "kind = foundation_trust",                     /* 23 */
    "name = The Newcastle upon Tyne Hospitals NHS FT", /* 24 */
    "endpoint = tcp://127.0.0.1:7402",             /* 25 */
    "public_key = @PUB2@",                         /* 26 */
};
#define N_LINES (sizeof s_lines / sizeof s_lines[0])

/* Writes the configuration with line replace_line replaced by the len
 * bytes of with (which may hold a NUL). */
static void s_write(fixture_t *f, int replace_line, const char *with, size_t len)
{
    FILE *fp = fopen(f->conf, "w");
    assert_non_null(fp);
    for (size_t i = 0; i < N_LINES; i++) {
        const char *line = s_lines[i];
        if ((int)i + 1 == replace_line && strncmp(with, "public_key = @", 14) != 0) {
            assert_int_equal(fwrite(with, 1, len, fp), len);
            fputc('\n', fp);
            continue;
        }
        if ((int)i + 1 == replace_line)
            line = with;
        if (strcmp(line, "public_key = @PUB1@") == 0)
            fprintf(fp, "public_key = %s\n", f->pub);
        else if (strcmp(line, "public_key = @PUB2@") == 0)
            fprintf(fp, "public_key = %s\n", f->pub2);
        else
            fprintf(fp, "%s\n", line);
    }
    fclose(fp);
}

static int s_load(fixture_t *f, int replace_line, const char *with, ics_config_t *cfg,
                  ics_err_t *err)
{
    s_write(f, replace_line, with, with != NULL ? strlen(with) : 0);
    memset(err, 0, sizeof *err);
    return ics_config_load(f->conf, cfg, err);
}

static void expect_error(fixture_t *f, int line, const char *with, int err_line,
                         const char *needle)
{
    static ics_config_t cfg;
    ics_err_t err;
    char where[160];

    assert_int_equal(s_load(f, line, with, &cfg, &err), ICS_ECONFIG);
    snprintf(where, sizeof where, "%s:%d: ", f->conf, err_line);
    if (strncmp(err.msg, where, strlen(where)) != 0 || strstr(err.msg, needle) == NULL)
        fail_msg("for line %d = '%s'\n  expected: %s...%s\n  got:      %s", line, with, where,
                 needle, err.msg);
}

static void valid_config(void **state)
{
    fixture_t *f = *state;
    static ics_config_t cfg;
    ics_err_t err;
    char path[256];

    assert_int_equal(s_load(f, 0, NULL, &cfg, &err), ICS_OK);
    assert_string_equal(cfg.org, "QHM");
    assert_int_equal(cfg.n_orgs, 2);
    assert_int_equal(cfg.n_groups, 1);
    assert_string_equal(cfg.groups[0].name, "nenc");
    assert_int_equal(cfg.groups[0].n_members, 2);
    assert_string_equal(cfg.groups[0].admin, "QHM");
    assert_string_equal(ics_config_org(&cfg, "RTD")->kind, "foundation_trust");
    snprintf(path, sizeof path, "%s/QHM.key", f->dir);
    assert_string_equal(cfg.key_file, path); /* relative to the file */
    snprintf(path, sizeof path, "ipc://%s/run/control.sock", f->dir);
    assert_string_equal(cfg.control, path);
    assert_int_equal(cfg.election_ms, 1000);
    assert_int_equal(cfg.heartbeat_ms, 100); /* default */
    assert_int_equal(cfg.verify_threads, 1);   /* default */
}

static void each_bad_input_names_file_and_line(void **state)
{
    fixture_t *f = *state;

    expect_error(f, 3, "org = Q H M!", 3, "org = 'Q H M!'");
    expect_error(f, 5, "listen = 127.0.0.1:7401", 5, "expected tcp://HOST:PORT");
    expect_error(f, 5, "listen = tcp://127.0.0.1", 5, "missing :PORT");
    expect_error(f, 7, "control = tcp://127.0.0.1:9", 7, "expected ipc://PATH");
    expect_error(f, 7, "colour = blue", 7, "unknown key 'colour' in [node]");
    expect_error(f, 7, "http = localhost:9464", 7, "expected PORT or IPV4:PORT");
    expect_error(f, 7, "http = 70000", 7, "expected PORT or IPV4:PORT");
    expect_error(f, 7, "verify_threads = 17", 7, "verify_threads");
    expect_error(f, 7, "verify_threads = two", 7, "verify_threads");
    expect_error(f, 10, "election_ms = soon", 10, "election_ms = 'soon'");
    expect_error(f, 10, "election_ms = 99999999", 10, "from 50 to 600000");
    expect_error(f, 9, "[nodes]", 9, "unknown section [nodes]");
    expect_error(f, 13, "members = QHM RTD QHM", 13, "'QHM' is listed twice");
    expect_error(f, 13, "members = QHM RTD RX4", 12, "member RX4 has no [org RX4] section");
    expect_error(f, 13, "members = RTD", 12, "does not list this node's org QHM");
    expect_error(f, 14, "admin = RX6", 12, "admin = RX6 is not a member");
    expect_error(f, 14, "policy = no-such-policy.ini", 12, "[group nenc] policy: ");
    expect_error(f, 14, "escalate_to = ne-region", 12,
                 "escalate_to = ne-region, but there is no [group ne-region] section");
    expect_error(f, 14, "escalate_to = nenc", 12, "escalate_to = nenc names the group itself");
    expect_error(f, 14, "escalate_to = north east", 14, "escalate_to = 'north east'");
    expect_error(f, 17, "kind = hospital", 17, "kind = 'hospital'");
    expect_error(f, 19, "endpoint = localhost", 19, "endpoint = 'localhost'");
    expect_error(f, 20, "public_key = ed25519:notakey", 20, "public_key = 'ed25519:notakey'");
    /* 32 bytes of base64, but no usable curve point (all zero). */
    expect_error(f, 20, "public_key = ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 20,
                 "not a valid Ed25519 public key");
    expect_error(f, 20, "public_key = @PUB2@", 22, "same public_key as [org QHM]");
    expect_error(f, 22, "[org QHM]", 22, "[org QHM] is defined twice");
    expect_error(f, 18, "this is not ini", 18, "syntax error");
    expect_error(f, 3, "# org removed", 1, "[node] needs org");
    expect_error(f, 1, "stray = 1", 1, "outside any section");
}

/* [http] dashboard and [notify NAME] sections, put in line 21 (between
 * the two [org] sections). */
static void dashboard_and_notify_sections(void **state)
{
    fixture_t *f = *state;
    static ics_config_t cfg;
    ics_err_t err;

    assert_int_equal(s_load(f, 21, "[http]\ndashboard = no\n[notify pager]\n"
                                   "kinds = aid, opel.changed\n"
                                   "url = https://hooks.example.nhs.uk/ics\n"
                                   "command = /bin/cat -u\ntimeout_ms = 5000\n"
                                   "[notify]\nurl = http://127.0.0.1:8080/\n", &cfg, &err),
                     ICS_OK);
    assert_false(cfg.dashboard);
    assert_int_equal(cfg.n_notify, 2);
    assert_string_equal(cfg.notify[0].name, "pager");
    assert_int_equal(cfg.notify[0].n_kinds, 2);
    assert_string_equal(cfg.notify[0].kinds[1], "opel.changed");
    assert_string_equal(cfg.notify[0].url, "https://hooks.example.nhs.uk/ics");
    assert_string_equal(cfg.notify[0].command, "/bin/cat -u");
    assert_int_equal(cfg.notify[0].timeout_ms, 5000);
    assert_int_equal(cfg.notify[0].retry_max_ms, 300000); /* default */
    assert_string_equal(cfg.notify[1].name, "default");
    assert_int_equal(cfg.notify[1].n_kinds, 0);           /* every kind */

    expect_error(f, 21, "[http]\ndashboard = maybe", 22, "dashboard = 'maybe'");
    expect_error(f, 21, "[http]\ndashboard = yes", 1, "[node] http is not set");
    expect_error(f, 21, "[http main]\ndashboard = no", 21, "[http] takes no name");
    expect_error(f, 21, "[http]\ntls_cert = /nonexistent/cert.pem", 22,
                 "tls_cert = '/nonexistent/cert.pem': cannot read");
    expect_error(f, 21, "[http]\ntls_cert = icsd.conf", 1, "tls_cert and tls_key go together");
    expect_error(f, 21, "[http]\nclient_ca = icsd.conf", 1, "client_ca asks for client "
                                                            "certificates, which needs HTTPS");
    expect_error(f, 21, "[notify x]\nurl = gopher://example.org/", 22,
                 "url = 'gopher://example.org/'");
    expect_error(f, 21, "[notify x]\ncommand = no-such-hook --now", 22,
                 "no-such-hook is not an executable file");
    expect_error(f, 21, "[notify x]\ncommand = /bin/true\ntimeout_ms = 5", 23,
                 "from 100 to 600000");
    expect_error(f, 21, "[notify x]\nkinds = AID\ncommand = /bin/true", 22,
                 "'AID' is not an event kind");
    expect_error(f, 21, "[notify x]\ncolour = red", 22, "unknown key 'colour' in [notify x]");
    expect_error(f, 21, "[notify x]\nkinds = aid", 21, "[notify x] needs command = PROGRAM");
    expect_error(f, 21, "[notify x]\ncommand = /bin/true\n[notify x]\nurl = http://a/", 23,
                 "[notify x] is defined twice");
}

/* [control] names Unix groups that exist here; the node checks who
 * connects against them (daemon/peercred.c). */
static void control_groups(void **state)
{
    fixture_t *f = *state;
    static ics_config_t cfg;
    ics_err_t err;

    assert_int_equal(s_load(f, 0, NULL, &cfg, &err), ICS_OK);
    assert_string_equal(cfg.submit_group, "");
    assert_string_equal(cfg.admin_group, "");
    assert_int_equal(s_load(f, 9, "[control]\nsubmit_group = root\nadmin_group = root\n[raft]",
                            &cfg, &err), ICS_OK);
    assert_string_equal(cfg.admin_group, "root");
    assert_int_equal(cfg.admin_gid, 0);
    expect_error(f, 9, "[control]\nadmin_group = no-such-group-here\n[raft]", 10,
                 "admin_group = 'no-such-group-here': no such Unix group on this machine");
    expect_error(f, 9, "[control]\nusers = root\n[raft]", 10,
                 "unknown key 'users' in [control]");
}

/* Endpoints libzmq would take and then fail on, or bind somewhere odd. */
static void endpoints_are_checked(void **state)
{
    fixture_t *f = *state;
    static ics_config_t cfg;
    ics_err_t err;

    expect_error(f, 19, "endpoint = tcp://127.0.0.1:99999", 19,
                 "port '99999' is not a number from 1 to 65535");
    expect_error(f, 19, "endpoint = tcp://:", 19, "port '' is not a number");
    expect_error(f, 19, "endpoint = tcp://:7401", 19, "missing HOST");
    expect_error(f, 19, "endpoint = tcp://127.0.0.1:0", 19, "port '0' is not");
    expect_error(f, 19, "endpoint = tcp://127.0.0.1:74x1", 19, "port '74x1' is not");
    expect_error(f, 19, "endpoint = tcp://*:7401", 19, "HOST '*' is not a host name");
    expect_error(f, 19, "endpoint = tcp://a b:7401", 19, "HOST 'a b' is not");
    expect_error(f, 19, "endpoint = tcp://[::1:7401", 19, "IPv6 address in brackets");
    expect_error(f, 5, "listen = tcp://127.0.0.1:-1", 5,
                 "port '-1' is not a number from 1 to 65535");
    expect_error(f, 5, "listen = tcp://127.0.0.1:65536", 5, "port '65536' is not");

    assert_int_equal(s_load(f, 5, "listen = tcp://*:7401", &cfg, &err), ICS_OK);
    assert_int_equal(s_load(f, 5, "listen = tcp://[::1]:7401", &cfg, &err), ICS_OK);
    assert_int_equal(s_load(f, 19, "endpoint = tcp://icb.nenc.example:65535", &cfg, &err),
                     ICS_OK);
}

/* inih would stop at the NUL and take "NHS" for the name. */
static void nul_byte_refused(void **state)
{
    fixture_t *f = *state;
    static ics_config_t cfg;
    static const char line[] = "name = NHS\0 North East and North Cumbria ICB";
    ics_err_t err;
    char where[160];

    s_write(f, 18, line, sizeof line - 1);
    assert_int_equal(ics_config_load(f->conf, &cfg, &err), ICS_ECONFIG);
    snprintf(where, sizeof where, "%s:18: line contains a NUL byte", f->conf);
    assert_string_equal(err.msg, where);
}

static void directory_is_not_a_config(void **state)
{
    fixture_t *f = *state;
    static ics_config_t cfg;
    ics_err_t err;
    char want[160];

    assert_int_equal(ics_config_load(f->dir, &cfg, &err), ICS_ECONFIG);
    snprintf(want, sizeof want, "%s: a directory, not a configuration file", f->dir);
    assert_string_equal(err.msg, want);
}

/* The node replaces a socket left by a dead node, never a file the control
 * path happens to name. */
static void control_path_must_be_a_socket(void **state)
{
    fixture_t *f = *state;
    static ics_config_t cfg;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    ics_err_t err;
    char path[sizeof a.sun_path];
    int fd;

    snprintf(path, sizeof path, "%s/run", f->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/run/control.sock", f->dir);
    assert_int_equal(s_load(f, 0, NULL, &cfg, &err), ICS_OK); /* nothing there yet */

    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("precious\n", fp);
    fclose(fp);
    expect_error(f, 7, "control = ipc://run/control.sock", 7, "exists and is not a socket");
    assert_int_equal(unlink(path), 0);

    assert_int_equal(mkdir(path, 0700), 0);
    expect_error(f, 7, "control = ipc://run/control.sock", 7, "exists and is not a socket");
    assert_int_equal(rmdir(path), 0);

    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    close(fd);
    assert_int_equal(s_load(f, 0, NULL, &cfg, &err), ICS_OK); /* a socket: the node decides */
}

/* A scheme of delegation for the genesis is checked with the configuration. */
static void policy_file(void **state)
{
    fixture_t *f = *state;
    static ics_config_t cfg;
    ics_err_t err;

    assert_int_equal(s_load(f, 14, "policy = " ICS_SOURCE_DIR "/deploy/examples/nenc-policy.ini",
                            &cfg, &err), ICS_OK);
    assert_string_equal(cfg.groups[0].policy, ICS_SOURCE_DIR "/deploy/examples/nenc-policy.ini");
    assert_int_equal(s_load(f, 14, "admin = QHM", &cfg, &err), ICS_OK);
    assert_string_equal(cfg.groups[0].policy, "");
}

static void long_line_rejected(void **state)
{
    fixture_t *f = *state;
    char line[400];
    memset(line, 'x', sizeof line - 1);
    memcpy(line, "name = ", 7);
    line[sizeof line - 1] = '\0';
    expect_error(f, 18, line, 18, "longer than");
}

static void missing_file(void **state)
{
    static ics_config_t cfg;
    ics_err_t err;
    (void)state;
    assert_int_equal(ics_config_load("/nonexistent/icsd.conf", &cfg, &err), ICS_ECONFIG);
    assert_non_null(strstr(err.msg, "/nonexistent/icsd.conf"));
}

static void key_file_rules(void **state)
{
    fixture_t *f = *state;
    char pub[ICS_PUBKEY_TEXT_MAX], path[160];
    ics_identity_t *id;
    ics_err_t err;
    struct stat st;
    uint8_t pk[ICS_PK_BYTES];

    /* Written 0600, never overwritten. */
    assert_int_equal(stat(f->key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(ics_identity_generate(f->key, pub, &err), ICS_EEXIST);
    assert_non_null(strstr(err.msg, "refusing to overwrite"));

    /* Loads, and its public key is the one printed. */
    id = ics_identity_load(f->key, &err);
    assert_non_null(id);
    assert_true(ics_pubkey_parse(f->pub, pk));
    assert_memory_equal(pk, ics_identity_public(id), ICS_PK_BYTES);
    ics_identity_destroy(&id);

    /* Readable by others: refused, naming the file. */
    assert_int_equal(chmod(f->key, 0644), 0);
    id = ics_identity_load(f->key, &err);
    assert_null(id);
    assert_non_null(strstr(err.msg, f->key));
    assert_non_null(strstr(err.msg, "readable by others"));

    /* Not a key. */
    snprintf(path, sizeof path, "%s/junk.key", f->dir);
    FILE *fp = fopen(path, "w");
    fputs("hello\n", fp);
    fclose(fp);
    chmod(path, 0600);
    assert_null(ics_identity_load(path, &err));
    assert_non_null(strstr(err.msg, "not an icsd key"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(valid_config, setup, teardown),
        cmocka_unit_test_setup_teardown(control_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(each_bad_input_names_file_and_line, setup, teardown),
        cmocka_unit_test_setup_teardown(endpoints_are_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(dashboard_and_notify_sections, setup, teardown),
        cmocka_unit_test_setup_teardown(nul_byte_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(directory_is_not_a_config, setup, teardown),
        cmocka_unit_test_setup_teardown(control_path_must_be_a_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(policy_file, setup, teardown),
        cmocka_unit_test_setup_teardown(long_line_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(key_file_rules, setup, teardown),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
