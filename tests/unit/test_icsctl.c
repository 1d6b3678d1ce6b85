/*
 * icsctl's command line, run in process: the tables it is parsed against,
 * what a person sees for a command line that is wrong (exit status, the
 * message naming what was wrong, the JSON error object), the JSON form of
 * answers, and the escaping of text for a terminal. Nothing here needs a
 * node: every usage error is found before icsctl talks to one, and the one
 * failed call goes to a socket that does not exist.
 *
 * Layout: fixture (running icsctl and capturing what it prints), domain
 * assertions, then scenarios.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

#define NO_NODE "ipc:///tmp/icsctl-test-no-such-node.sock"

/* ---------------------------------------------------------------- fixture */

typedef struct {
    int rc;
    char out[16384];
    char err[16384];
} run_t;

/* Reads what a captured descriptor got into buf. */
static void s_slurp(FILE *f, char *buf, size_t size)
{
    size_t n;
    rewind(f);
    n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
}

/* Runs icsctl with the words of cmdline (blank-separated; a word in
 * single quotes may hold blanks), capturing stdout and stderr. */
static void s_run(run_t *r, const char *cmdline)
{
    char line[1024], *argv[64], *p = line;
    int argc = 0;
    FILE *out = tmpfile(), *err = tmpfile();
    int saved_out = dup(1), saved_err = dup(2);

    assert_non_null(out);
    assert_non_null(err);
    snprintf(line, sizeof line, "%s", cmdline);
    argv[argc++] = "icsctl";
    while (*p) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        if (*p == '\'') {
            argv[argc++] = ++p;
            p = strchr(p, '\'');
            assert_non_null(p);
        } else {
            argv[argc++] = p;
            p += strcspn(p, " ");
        }
        if (*p)
            *p++ = '\0';
    }
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    dup2(fileno(out), 1);
    dup2(fileno(err), 2);
    r->rc = ctl_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    s_slurp(out, r->out, sizeof r->out);
    s_slurp(err, r->err, sizeof r->err);
    fclose(out);
    fclose(err);
}

/* What a function printing to a FILE printed. */
#define CAPTURE(buf, call)                                                               \
    do {                                                                                 \
        size_t len_ = 0;                                                                 \
        char *mem_ = NULL;                                                               \
        FILE *f = open_memstream(&mem_, &len_);                                          \
        assert_non_null(f);                                                              \
        call;                                                                            \
        fclose(f);                                                                       \
        snprintf(buf, sizeof buf, "%s", mem_);                                           \
        free(mem_);                                                                      \
    } while (0)

/* ---------------------------------------------------------------- assertions */

#define ASSERT_CONTAINS(haystack, needle)                                                \
    do {                                                                                 \
        if (strstr((haystack), (needle)) == NULL)                                        \
            fail_msg("expected '%s' in:\n%s", (needle), (haystack));                     \
    } while (0)

/* A usage error: exit 2, the message on stderr, nothing on stdout. */
#define ASSERT_USAGE(cmdline, message)                                                   \
    do {                                                                                 \
        run_t r_;                                                                        \
        s_run(&r_, cmdline);                                                             \
        if (r_.rc != EXIT_USAGE)                                                         \
            fail_msg("%s: exit %d, not 2 (stderr: %s)", cmdline, r_.rc, r_.err);         \
        ASSERT_CONTAINS(r_.err, "icsctl: " message "\n");                                \
        assert_string_equal(r_.out, "");                                                 \
    } while (0)

/* Under --json: exactly the error object on stdout, nothing on stderr. */
#define ASSERT_JSON_ERROR(cmdline, code, message)                                        \
    do {                                                                                 \
        run_t r_;                                                                        \
        s_run(&r_, cmdline);                                                             \
        assert_int_equal(r_.rc, code);                                                   \
        assert_string_equal(r_.out, "{\"error\":{\"code\":" #code ",\"message\":\""       \
                            message "\"}}\n");                                           \
        assert_string_equal(r_.err, "");                                                 \
    } while (0)

/* ---------------------------------------------------------------- the tables */

static const char *const s_general[] = {"config", "c", "socket", "s", "group", "g",
                                        "timeout", "t", "as", "token", "json", "fresh",
                                        "help", "h", NULL};

/* Every name in an options string, with its arity. */
typedef struct {
    char name[32];
    bool value;
    const char *where;
} seen_t;

static void table_entries_are_complete_and_consistent(void **state)
{
    size_t n;
    const ctl_cmd_t *const *cmds = ctl_commands(&n);
    seen_t seen[256];
    size_t n_seen = 0;
    (void)state;

    assert_true(n >= 15);
    for (size_t c = 0; c < n; c++) {
        const ctl_cmd_t *cmd = cmds[c];
        assert_non_null(cmd->summary);
        assert_true(cmd->n_subs >= 1);
        for (size_t s = 0; s < cmd->n_subs; s++) {
            const ctl_sub_t *sub = &cmd->subs[s];
            char label[64];
            snprintf(label, sizeof label, "%s%s%s", cmd->name, sub->name[0] ? " " : "",
                     sub->name);
            assert_non_null(sub->fn);
            assert_non_null(sub->description);
            /* The synopsis starts with the words that select it. */
            if (strncmp(sub->usage, label, strlen(label)) != 0)
                fail_msg("%s: usage '%s'", label, sub->usage);
            /* Required arguments come before optional ones. */
            bool optional = false;
            for (int i = 0; i < CTL_ARGS_MAX && sub->args[i] != NULL; i++) {
                if (sub->args[i][0] == '[')
                    optional = true;
                else if (optional)
                    fail_msg("%s: required %s after an optional one", label, sub->args[i]);
            }
            /* Own options: never a general option's name; the same arity
             * wherever a name appears, since the parser relies on it before
             * it knows the subcommand. */
            char opts[256];
            snprintf(opts, sizeof opts, "%s", sub->options);
            for (char *save = NULL, *t = strtok_r(opts, " ", &save); t != NULL;
                 t = strtok_r(NULL, " ", &save)) {
                bool value = t[strlen(t) - 1] == '=';
                if (value)
                    t[strlen(t) - 1] = '\0';
                for (char *s2 = NULL, *nm = strtok_r(t, "|", &s2); nm != NULL;
                     nm = strtok_r(NULL, "|", &s2)) {
                    for (size_t g = 0; s_general[g] != NULL; g++)
                        if (strcmp(nm, s_general[g]) == 0)
                            fail_msg("%s: own option --%s is a general option", label, nm);
                    for (size_t k = 0; k < n_seen; k++)
                        if (strcmp(seen[k].name, nm) == 0 && seen[k].value != value)
                            fail_msg("--%s takes a value in %s but not in %s, or the reverse",
                                     nm, seen[k].where, label);
                    assert_true(n_seen < sizeof seen / sizeof seen[0]);
                    snprintf(seen[n_seen].name, sizeof seen[0].name, "%s", nm);
                    seen[n_seen].value = value;
                    seen[n_seen].where = cmd->name;
                    n_seen++;
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- scenarios */

static void an_option_a_subcommand_does_not_take_is_refused(void **state)
{
    (void)state;
    /* Options were pooled across a command's subcommands. */
    ASSERT_USAGE("plan list --out x", "plan list does not take --out");
    ASSERT_USAGE("plan show jfp --out=x", "plan show does not take --out");
    ASSERT_USAGE("aid withdraw 5 --decline", "aid withdraw does not take --decline");
    ASSERT_USAGE("people register p --name N --revoke", "people register does not take --revoke");
    ASSERT_USAGE("motion propose remove RTD --kind icb",
                 "motion propose remove does not take --kind");
    ASSERT_USAGE("members --frobnicate", "members does not take --frobnicate");
    /* General options that would do nothing, before or after the command. */
    ASSERT_USAGE("--fresh status", "status does not take --fresh: only a query of the "
                                   "group's state waits until the node has caught up");
    ASSERT_USAGE("log tail --fresh", "log tail does not take --fresh: only a query of the "
                                     "group's state waits until the node has caught up");
    ASSERT_USAGE("--as jo plan list", "plan list does not take --as: only a command that "
                                      "submits a signed entry records who acts");
    ASSERT_USAGE("aid board --token 00112233445566778899aabbccddeeff",
                 "aid board does not take --token: only a command that submits a signed "
                 "entry has a token");
    ASSERT_USAGE("-s " NO_NODE " log verify x.log",
                 "log verify does not take --socket: it does not talk to a node");
    ASSERT_JSON_ERROR("--json log export x", 2, "log export does not take --json: it has no "
                                                "JSON output");
    /* A flag given a value, an option missing one. */
    ASSERT_USAGE("motion list --open=yes", "--open=yes takes no value");
    ASSERT_USAGE("log tail -n", "-n needs a value");
}

static void what_is_missing_is_named(void **state)
{
    (void)state;
    ASSERT_USAGE("vote 93", "vote: missing CHOICE (for, against or abstain)");
    ASSERT_USAGE("vote", "vote: missing MOTION");
    ASSERT_USAGE("plan show", "plan show: missing PLAN");
    ASSERT_USAGE("plan diff jfp 1", "plan diff: missing V2");
    ASSERT_USAGE("people role RTD/dr.amina.khan", "people role: missing ROLE");
    ASSERT_USAGE("motion propose adopt jfp", "motion propose adopt: missing VERSION");
    ASSERT_USAGE("motion propose", "motion propose: missing subcommand (adopt, accept, "
                                   "close, admit, remove, aid)");
    ASSERT_USAGE("people org rename X", "people org: no subcommand 'rename' (add, remove)");
    ASSERT_USAGE("plan", "plan: missing subcommand (list, create, show, history, diff, "
                         "publish, adopt)");
    ASSERT_USAGE("plan list extra", "plan list: unexpected argument 'extra'");
    /* Required options, checked by the subcommand before it sends. */
    ASSERT_USAGE("-s " NO_NODE " people register sam", "people register: missing --name "
                                                       "\"Full Name\"");
    ASSERT_USAGE("-s " NO_NODE " plan create jfp --title T --from f",
                 "plan create: missing --period (it needs --title, --period, e.g. "
                 "2026/27-2030/31, and --from FILE of sections: '## ID Title' then text)");
    ASSERT_USAGE("-s " NO_NODE " opel set 3", "opel set: missing --type TYPE (acute, "
                                              "ambulance, mental_health, community or "
                                              "social_care)");
    /* A value of the wrong form. */
    ASSERT_USAGE("-s " NO_NODE " vote 93 maybe", "vote: 'maybe' is not for, against or "
                                                 "abstain");
    ASSERT_USAGE("-s " NO_NODE " log show notanumber",
                 "log show: 'notanumber' is not a whole number");
}

static void a_usage_error_shows_the_subcommand_synopsis(void **state)
{
    run_t r;
    (void)state;
    s_run(&r, "vote 93");
    ASSERT_CONTAINS(r.err, "Usage: icsctl [OPTIONS] vote MOTION for|against|abstain "
                           "[--reason R]\n");
    s_run(&r, "frobnicate");
    assert_int_equal(r.rc, EXIT_USAGE);
    ASSERT_CONTAINS(r.err, "icsctl: no command 'frobnicate'. Try 'icsctl --help'.");
}

static void errors_under_json_are_one_object_on_stdout(void **state)
{
    run_t r;
    (void)state;
    ASSERT_JSON_ERROR("--json vote 93", 2, "vote: missing CHOICE (for, against or abstain)");
    ASSERT_JSON_ERROR("plan list --out x --json", 2, "plan list does not take --out");
    ASSERT_JSON_ERROR("--json frobnicate", 2, "no command 'frobnicate'. Try 'icsctl --help'.");
    /* The node cannot be reached: exit 1, and the message says why. */
    s_run(&r, "--json -s " NO_NODE " members");
    assert_int_equal(r.rc, EXIT_FAIL);
    ASSERT_CONTAINS(r.out, "{\"error\":{\"code\":1,\"message\":\"");
    ASSERT_CONTAINS(r.out, "icsd is not running");
    assert_string_equal(r.err, "");
    /* A submission that cannot be sent adds how to retry it safely. */
    s_run(&r, "--json -s " NO_NODE " submit hello");
    assert_int_equal(r.rc, EXIT_FAIL);
    ASSERT_CONTAINS(r.out, "; to retry without applying it twice, repeat the command with "
                           "--token ");
    /* Offline commands fail the same way. */
    ASSERT_JSON_ERROR("--json log verify /nonexistent/x.log", 1,
                      "/nonexistent/x.log: No such file or directory");
}

static void offline_commands_answer_json(void **state)
{
    run_t r;
    (void)state;
    s_run(&r, "--json policy check " ICS_SOURCE_DIR "/deploy/examples/nenc-policy.ini");
    assert_int_equal(r.rc, EXIT_OK);
    ASSERT_CONTAINS(r.out, "{\"check\":{\"file\":\"");
    ASSERT_CONTAINS(r.out, "\"valid\":true}}\n");
    s_run(&r, "policy check " ICS_SOURCE_DIR "/deploy/examples/nenc-policy.ini");
    assert_int_equal(r.rc, EXIT_OK);
    ASSERT_CONTAINS(r.out, "nenc-policy.ini: ok: \"");
}

static void help_comes_from_the_tables(void **state)
{
    run_t r;
    (void)state;
    s_run(&r, "plan --help");
    assert_int_equal(r.rc, EXIT_OK);
    ASSERT_CONTAINS(r.out, "  plan publish PLAN [--version V] [--out FILE]\n");
    s_run(&r, "plan publish --help");
    assert_int_equal(r.rc, EXIT_OK);
    ASSERT_CONTAINS(r.out, "Usage: icsctl [OPTIONS] plan publish PLAN");
    ASSERT_CONTAINS(r.out, "General options it takes: -c -s -g -t --json --fresh");
    s_run(&r, "help vote");
    assert_int_equal(r.rc, EXIT_OK);
    ASSERT_CONTAINS(r.out, "General options it takes: -c -s -g -t --as --token --json (");
    s_run(&r, "--help");
    assert_int_equal(r.rc, EXIT_OK);
    ASSERT_CONTAINS(r.out, "  people    Who acts for the members\n");
}

static void control_characters_are_shown_not_obeyed(void **state)
{
    char buf[512];
    (void)state;
    /* ESC and an OSC title sequence, CR, DEL, a C1 CSI (U+009B), a byte
     * that is not UTF-8; an en dash and an accent are text. */
    static const char in[] = "a\033]0;x\007b\rc\177d\xc2\x9b" "e\xff" "f–é\tg\nh";
    CAPTURE(buf, ctl_put_safe(f, in, sizeof in - 1, true));
    assert_string_equal(buf, "a\\x1b]0;x\\x07b\\x0dc\\x7fd\\u009be\\xfff–é\tg\nh");
    /* In a field of a line, a newline or tab cannot start a new line. */
    CAPTURE(buf, ctl_put_safe(f, "x\ny\tz", 5, false));
    assert_string_equal(buf, "x\\x0ay\\x09z");
    /* Padding counts characters, not bytes. */
    CAPTURE(buf, ctl_put_field(f, "Zoë", 5));
    assert_string_equal(buf, "Zoë  ");
    CAPTURE(buf, ctl_put_field(f, "\033[2J", 2));
    assert_string_equal(buf, "\\x1b[2J");
}

static void json_strings_keep_characters_and_stay_valid(void **state)
{
    char buf[512];
    cj_t doc;
    (void)state;
    /* Raw DEL, C1 and invalid bytes inside strings (the node's writer
     * passes them through) are \u-escaped; escapes already there stay. */
    const char *in = "{\"a\":\"x\177y\xc2\x9bz\xff\",\"b\":\"\\u001b[31m\"}";
    assert_true(cj_parse(in, strlen(in), &doc));
    CAPTURE(buf, cj_write(f, doc));
    assert_string_equal(buf, "{\"a\":\"x\\u007fy\\u009bz\\ufffd\",\"b\":\"\\u001b[31m\"}");
    CAPTURE(buf, cj_write_str(f, "q\"\\\n\033é"));
    assert_string_equal(buf, "\"q\\\"\\\\\\n\\u001bé\"");
    /* Reading back: escapes decoded, numbers exact. */
    cj_t v;
    char s[64];
    uint64_t u;
    const char *j2 = "{\"s\":\"a\\u00e9\\n\\\"\",\"n\":18446744073709551615,\"x\":[1,{\"y\":2}]}";
    assert_true(cj_parse(j2, strlen(j2), &doc));
    assert_true(cj_get(doc, "s", &v) && cj_str(v, s, sizeof s));
    assert_string_equal(s, "aé\n\"");
    assert_true(cj_get(doc, "n", &v) && cj_u64(v, &u));
    assert_true(u == UINT64_MAX);
    assert_false(cj_get(doc, "y", &v));
    /* Not JSON, or more than one value: refused. */
    assert_false(cj_parse("{\"a\":1", 6, &doc));
    assert_false(cj_parse("{} {}", 5, &doc));
    assert_false(cj_parse("{\"a\":tru}", 9, &doc));
}

static void answers_take_one_form(void **state)
{
    char buf[1024];
    (void)state;
    /* The item already under its key: context first, the rest beside it. */
    CAPTURE(buf, assert_true(cj_reshape(f, "{\"clock_ms\":5,\"group\":\"nenc\",\"requests\":[]}",
                                        "requests", CJ_MEMBER, NULL)));
    assert_string_equal(buf, "{\"clock_ms\":5,\"group\":\"nenc\",\"requests\":[]}\n");
    /* The answer's own members are the item; "record" lifted into it. */
    CAPTURE(buf, assert_true(cj_reshape(f, "{\"group\":\"nenc\",\"tally\":{\"for\":2},"
                                           "\"record\":{\"motion\":7,\"status\":\"open\"}}",
                                        "motion", CJ_WRAP, "record")));
    assert_string_equal(buf, "{\"group\":\"nenc\",\"motion\":{\"tally\":{\"for\":2},"
                             "\"motion\":7,\"status\":\"open\"}}\n");
    /* A time of the item stays in it unless it is the clock of the read. */
    CAPTURE(buf, assert_true(cj_reshape(f, "{\"group\":\"g\",\"amendment\":9,\"clock_ms\":3}",
                                        "amendment", CJ_WRAP, NULL)));
    assert_string_equal(buf, "{\"group\":\"g\",\"amendment\":{\"amendment\":9,\"clock_ms\":3}}\n");
    CAPTURE(buf, assert_true(cj_reshape(f, "{\"group\":\"g\",\"clock_ms\":3,\"system\":{}}",
                                        "opel", CJ_WRAP | CJ_CLOCK, NULL)));
    assert_string_equal(buf, "{\"group\":\"g\",\"clock_ms\":3,\"opel\":{\"system\":{}}}\n");
    /* A bare list gets its key. */
    CAPTURE(buf, assert_true(cj_reshape(f, "[{\"resource\":\"ga_beds\"}]", "resources",
                                        CJ_ARRAY, NULL)));
    assert_string_equal(buf, "{\"resources\":[{\"resource\":\"ga_beds\"}]}\n");
    /* Not the shape expected: refused, not guessed. */
    CAPTURE(buf, assert_false(cj_reshape(f, "{\"group\":\"g\"}", "requests", CJ_MEMBER, NULL)));
    CAPTURE(buf, assert_false(cj_reshape(f, "{}", "resources", CJ_ARRAY, NULL)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_entries_are_complete_and_consistent),
        cmocka_unit_test(an_option_a_subcommand_does_not_take_is_refused),
        cmocka_unit_test(what_is_missing_is_named),
        cmocka_unit_test(a_usage_error_shows_the_subcommand_synopsis),
        cmocka_unit_test(errors_under_json_are_one_object_on_stdout),
        cmocka_unit_test(offline_commands_answer_json),
        cmocka_unit_test(help_comes_from_the_tables),
        cmocka_unit_test(control_characters_are_shown_not_obeyed),
        cmocka_unit_test(json_strings_keep_characters_and_stay_valid),
        cmocka_unit_test(answers_take_one_form),
    };
    return cmocka_run_group_tests_name("icsctl", tests, NULL, NULL);
}
