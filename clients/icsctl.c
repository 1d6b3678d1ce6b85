/*
 * icsctl: what people at a partner organisation use to work with their own
 * organisation's node. Every command is one control request; the node signs
 * and submits, icsctl holds no keys.
 *
 * The command line is checked against the command tables (one ctl_cmd_t
 * per family, in cmd_<family>.c) before anything is sent: the subcommand,
 * its positional arguments, its own options and the general options it
 * takes. An option a subcommand does not take is a usage error naming both,
 * never silently ignored. --help is written from the same tables.
 *
 * Exit status: 0 ok, 1 failed or rejected, 2 usage error.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/keys.h"

#include "ctl.h"

#define DEFAULT_CONFIG "/etc/icsd/icsd.conf"
#define DEFAULT_SOCKET "ipc:///run/icsd/control.sock"

static int s_help_fn(opts_t *o, const ctl_args_t *a);

static const ctl_sub_t s_help_subs[] = {
    {"", s_help_fn, CTL_NONE, "", {"[COMMAND]", "[SUBCOMMAND...]"}, "help [COMMAND [SUBCOMMAND]]",
     "Show the commands, or help for one command or subcommand (also\n"
     "icsctl COMMAND [SUBCOMMAND] --help)."},
};
const ctl_cmd_t ctl_cmd_help = CTL_CMD("help", "Help for a command", NULL, s_help_subs);

static const ctl_cmd_t *const s_commands[] = {
    &ctl_cmd_status, &ctl_cmd_submit, &ctl_cmd_log, &ctl_cmd_members, &ctl_cmd_member,
    &ctl_cmd_keys, &ctl_cmd_plan, &ctl_cmd_amend, &ctl_cmd_consult, &ctl_cmd_motion,
    &ctl_cmd_vote, &ctl_cmd_policy, &ctl_cmd_people, &ctl_cmd_opel, &ctl_cmd_aid,
    &ctl_cmd_watch, &ctl_cmd_inbox, &ctl_cmd_publish, &ctl_cmd_help,
};

const ctl_cmd_t *const *ctl_commands(size_t *n)
{
    *n = sizeof s_commands / sizeof s_commands[0];
    return s_commands;
}

static const ctl_cmd_t *s_find(const char *name)
{
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (strcmp(s_commands[i]->name, name) == 0)
            return s_commands[i];
    return NULL;
}

/* ---- the general options ------------------------------------------------------ */

static const struct {
    unsigned bit;
    const char *names[2]; /* long, short */
    bool value;
    const char *why_not;  /* said when a subcommand does not take it */
} s_globals[] = {
    {CTL_G_CONFIG, {"config", "c"}, true, "it does not talk to a node"},
    {CTL_G_SOCKET, {"socket", "s"}, true, "it does not talk to a node"},
    {CTL_G_GROUP, {"group", "g"}, true, "it does not talk to a node"},
    {CTL_G_TIMEOUT, {"timeout", "t"}, true, "it does not talk to a node"},
    {CTL_G_AS, {"as", NULL}, true, "only a command that submits a signed entry records who acts"},
    {CTL_G_TOKEN, {"token", NULL}, true, "only a command that submits a signed entry has a token"},
    {CTL_G_JSON, {"json", NULL}, false, "it has no JSON output"},
    {CTL_G_FRESH, {"fresh", NULL}, false,
     "only a query of the group's state waits until the node has caught up"},
    {CTL_G_BEHALF, {"on-behalf-of", NULL}, true,
     "only a command that submits a signed entry is entered for someone"},
};
#define S_N_GLOBALS (sizeof s_globals / sizeof s_globals[0])

static int s_global(const char *name)
{
    for (size_t i = 0; i < S_N_GLOBALS; i++)
        for (int k = 0; k < 2; k++)
            if (s_globals[i].names[k] != NULL && strcmp(s_globals[i].names[k], name) == 0)
                return (int)i;
    return -1;
}

static bool s_set_global(opts_t *o, int g, const char *value)
{
    uint64_t v;

    o->given |= s_globals[g].bit;
    switch (s_globals[g].bit) {
    case CTL_G_CONFIG: o->config = value; break;
    case CTL_G_SOCKET: o->socket = value; break;
    case CTL_G_GROUP: o->group = value; break;
    case CTL_G_AS: o->actor = value; break;
    case CTL_G_BEHALF: o->on_behalf = value; break;
    case CTL_G_TOKEN: o->token_hex = value; break;
    case CTL_G_JSON: o->json = true; break;
    case CTL_G_FRESH: o->fresh = true; break;
    case CTL_G_TIMEOUT:
        if (!ctl_u64(o, "--timeout", value, &v) || v < 100 || v > 3600000) {
            ctl_error(o, "--timeout: expected milliseconds from 100 to 3600000");
            return false;
        }
        o->timeout_ms = (unsigned)v;
        break;
    default:
        assert(!"a general option without a setter");
    }
    return true;
}

/* ---- a subcommand's own options ------------------------------------------------- */

/* Does any subcommand of cmd take a value for option name? (Options have
 * the same arity wherever they appear, which test_icsctl checks.) */
static int s_arity(const ctl_cmd_t *cmd, const char *name)
{
    bool value;
    for (size_t i = 0; i < cmd->n_subs; i++)
        if (ctl_opt_spec(cmd->subs[i].options, name, NULL, 0, &value))
            return value ? 1 : 0;
    return -1;
}


/* ---- the subcommand ------------------------------------------------------------- */

static size_t s_words(const char *name, char w[2][32])
{
    size_t n = 0;
    const char *p = name;
    while (*p && n < 2) {
        size_t len = strcspn(p, " ");
        snprintf(w[n], sizeof w[n], "%.*s", (int)len, p);
        n++;
        p += len;
        while (*p == ' ')
            p++;
    }
    return n;
}

/* How many of a subcommand's words the positionals match (all of them, or
 * the first few). */
static size_t s_match(const ctl_sub_t *sub, char **pos, int npos, size_t *nwords)
{
    char w[2][32];
    size_t n = s_words(sub->name, w), m = 0;
    while (m < n && (int)m < npos && strcmp(w[m], pos[m]) == 0)
        m++;
    *nwords = n;
    return m;
}

/* Lists the words that may come at depth d after a prefix matching d words. */
static void s_choices(const ctl_cmd_t *cmd, char **pos, size_t d, char *out, size_t size)
{
    const char *listed[CTL_OPTS_MAX * 2];
    size_t n = 0, used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < cmd->n_subs; i++) {
        size_t nw, m = s_match(&cmd->subs[i], pos, (int)d, &nw);
        if (m != d || nw <= d)
            continue;
        /* "propose adopt", "propose accept": "propose" once. */
        const char *word = cmd->subs[i].name;
        size_t len = strcspn(word, " ");
        if (d == 1) {
            word += len + 1;
            len = strlen(word);
        }
        bool seen = false;
        for (size_t k = 0; k < n; k++)
            seen = seen || (strlen(listed[k]) >= len && strncmp(listed[k], word, len) == 0 &&
                            (listed[k][len] == ' ' || listed[k][len] == '\0'));
        if (seen || n >= sizeof listed / sizeof listed[0])
            continue;
        listed[n++] = word;
        used += (size_t)snprintf(out + used, used < size ? size - used : 0, "%s%.*s",
                                 used ? ", " : "", (int)len, word);
    }
}

static const ctl_sub_t *s_find_sub(opts_t *o, const ctl_cmd_t *cmd, char **pos, int npos,
                                   size_t *consumed)
{
    const ctl_sub_t *best = NULL;
    size_t best_n = 0, deepest = 0;
    char choices[256], prefix[64];

    for (size_t i = 0; i < cmd->n_subs; i++) {
        size_t nw, m = s_match(&cmd->subs[i], pos, npos, &nw);
        if (m == nw && (best == NULL || nw > best_n)) {
            best = &cmd->subs[i];
            best_n = nw;
        }
        if (m > deepest && m < nw)
            deepest = m;
    }
    if (best != NULL && (best_n > 0 || deepest == 0)) {
        *consumed = best_n;
        return best;
    }
    s_choices(cmd, pos, deepest, choices, sizeof choices);
    snprintf(prefix, sizeof prefix, "%s", cmd->name);
    for (size_t d = 0; d < deepest; d++)
        snprintf(prefix + strlen(prefix), sizeof prefix - strlen(prefix), " %s", pos[d]);
    if ((int)deepest >= npos)
        ctl_error(o, "%s: missing subcommand (%s)", prefix, choices);
    else
        ctl_error(o, "%s: no subcommand '%s' (%s)", prefix, pos[deepest], choices);
    return NULL;
}

/* Checks the positionals against the table: says which is missing, or
 * which is one too many. */
static bool s_check_args(opts_t *o, const ctl_args_t *a)
{
    int required = 0, max = 0;
    bool any = false;

    for (int i = 0; i < CTL_ARGS_MAX && a->sub->args[i] != NULL; i++) {
        const char *spec = a->sub->args[i];
        if (spec[0] != '[')
            required++;
        if (strstr(spec, "...") != NULL)
            any = true;
        max++;
    }
    if (a->argc < required) {
        const char *spec = a->sub->args[a->argc];
        const char *colon = strchr(spec, ':');
        if (colon != NULL)
            ctl_error(o, "%s: missing %.*s (%s)", a->label, (int)(colon - spec), spec,
                      colon + 2);
        else
            ctl_error(o, "%s: missing %s", a->label, spec);
        return false;
    }
    if (!any && a->argc > max) {
        ctl_error(o, "%s: unexpected argument '%s'", a->label, a->argv[max]);
        return false;
    }
    return true;
}

/* ---- help ----------------------------------------------------------------------- */

void ctl_usage(FILE *f)
{
    fprintf(f, "Usage: icsctl [OPTIONS] COMMAND [SUBCOMMAND] [ARGS]\n\nCommands:\n");
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        fprintf(f, "  %-9s %s\n", s_commands[i]->name, s_commands[i]->summary);
    fprintf(f,
            "\nRun 'icsctl COMMAND --help' for its subcommands, arguments and options.\n"
            "\nOptions (each command takes those that apply to it):\n"
            "  -c, --config FILE    node configuration to find the control socket\n"
            "                       (default $ICSCTL_CONFIG, else " DEFAULT_CONFIG ")\n"
            "  -s, --socket ENDPOINT  control socket (default: from the config, else\n"
            "                       " DEFAULT_SOCKET ")\n"
            "  -g, --group NAME     group to act in (needed when the node is in several;\n"
            "                       default $ICSCTL_GROUP)\n"
            "      --as PERSON      the person acting (default: your user name)\n"
            "      --on-behalf-of PERSON  an administrator enters it for PERSON (not a vote)\n"
            "  -t, --timeout MS     how long to wait for a commit (default 5000)\n"
            "      --token HEX      reuse a submission's token to retry it safely\n"
            "      --json           machine-readable output (docs/cli-json.md)\n"
            "      --fresh          read after the node has caught up with the leader\n"
            "  -h, --help           help (for a command: icsctl COMMAND --help)\n"
            "  -V, --version        show the version\n"
            "\nExit status: 0 ok, 1 failed or rejected, 2 usage error.\n");
}

/* A synopsis after prefix; its continuation lines indented under it. */
static void s_put_usage(FILE *f, const char *prefix, const char *usage)
{
    int indent = 8;
    fputs(prefix, f);
    for (const char *p = usage; *p;) {
        size_t n = strcspn(p, "\n");
        fprintf(f, "%.*s\n", (int)n, p);
        p += n + (p[n] == '\n');
        p += strspn(p, " ");
        if (*p)
            fprintf(f, "%*s", indent, "");
    }
}

static void s_indent(FILE *f, const char *text, const char *indent)
{
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        fprintf(f, "%s%.*s\n", n ? indent : "", (int)n, p);
        p += n + (p[n] == '\n');
    }
}

static void s_general(FILE *f, unsigned uses)
{
    static const char *const names[] = {"-c", "-s", "-g", "-t", "--as", "--token", "--json",
                                        "--fresh", "--on-behalf-of"};
    bool any = false;
    fprintf(f, "\nGeneral options it takes:");
    for (size_t i = 0; i < S_N_GLOBALS; i++)
        if (uses & s_globals[i].bit) {
            fprintf(f, " %s", names[i]);
            any = true;
        }
    fprintf(f, "%s (see icsctl --help).\n", any ? "" : " none");
}

static void s_sub_help(FILE *f, const ctl_cmd_t *cmd, const ctl_sub_t *sub)
{
    s_put_usage(f, "Usage: icsctl [OPTIONS] ", sub->usage);
    fputc('\n', f);
    s_indent(f, sub->description, "");
    if (cmd->n_subs == 1 && cmd->description != NULL) {
        fputc('\n', f);
        s_indent(f, cmd->description, "");
    }
    s_general(f, sub->uses);
}

static void s_cmd_help(FILE *f, const ctl_cmd_t *cmd)
{
    if (cmd->n_subs == 1) {
        s_sub_help(f, cmd, &cmd->subs[0]);
        return;
    }
    fprintf(f, "Usage: icsctl [OPTIONS] %s SUBCOMMAND [ARGS]\n\n", cmd->name);
    if (cmd->description != NULL) {
        s_indent(f, cmd->description, "");
        fputc('\n', f);
    }
    for (size_t i = 0; i < cmd->n_subs; i++) {
        s_put_usage(f, "  ", cmd->subs[i].usage);
        s_indent(f, cmd->subs[i].description, "      ");
    }
    fprintf(f, "\nRun 'icsctl %s SUBCOMMAND --help' for the general options one takes;\n"
               "see icsctl --help for what they do.\n", cmd->name);
}

int ctl_help(const char *const *words, int n)
{
    if (n == 0) {
        ctl_usage(stdout);
        return EXIT_OK;
    }
    const ctl_cmd_t *cmd = s_find(words[0]);
    if (cmd == NULL) {
        fprintf(stderr, "icsctl: no command '%s'. Try 'icsctl --help'.\n", words[0]);
        return EXIT_USAGE;
    }
    /* A subcommand named by the words, else the whole command. */
    for (size_t i = 0; n > 1 && i < cmd->n_subs; i++) {
        size_t nw, m = s_match(&cmd->subs[i], (char **)words + 1, n - 1, &nw);
        if (nw > 0 && m == nw) {
            s_sub_help(stdout, cmd, &cmd->subs[i]);
            return EXIT_OK;
        }
    }
    s_cmd_help(stdout, cmd);
    return EXIT_OK;
}

static int s_help_fn(opts_t *o, const ctl_args_t *a)
{
    (void)o;
    return ctl_help((const char *const *)a->argv, a->argc);
}

/* ---- main --------------------------------------------------------------------------- */

/* Parses what follows the command name into a (options checked against the
 * subcommand found). */
static int s_parse(opts_t *o, const ctl_cmd_t *cmd, int argc, char **argv, ctl_args_t *a,
                   char **pos)
{
    struct {
        const char *name;
        const char *value;
        const char *raw;
    } own[CTL_OPTS_MAX];
    size_t n_own = 0;
    int npos = 0;
    char namebuf[CTL_OPTS_MAX][32];

    for (int i = 0; i < argc; i++) {
        char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            while (++i < argc)
                pos[npos++] = argv[i];
            break;
        }
        if (arg[0] != '-' || arg[1] == '\0') {
            pos[npos++] = arg;
            continue;
        }
        const char *name = arg + (arg[1] == '-' ? 2 : 1), *value = NULL;
        const char *eq = strchr(name, '=');
        if (n_own >= CTL_OPTS_MAX) {
            ctl_error(o, "too many options");
            return EXIT_USAGE;
        }
        snprintf(namebuf[n_own], sizeof namebuf[n_own], "%.*s",
                 (int)(eq != NULL ? (size_t)(eq - name) : strlen(name)), name);
        name = namebuf[n_own];
        if (eq != NULL)
            value = eq + 1;
        if (strcmp(name, "h") == 0 || strcmp(name, "help") == 0) {
            o->help = true;
            continue;
        }
        int g = s_global(name);
        int arity = g >= 0 ? (s_globals[g].value ? 1 : 0) : s_arity(cmd, name);
        if (arity == 1 && value == NULL) {
            if (i + 1 >= argc) {
                ctl_error(o, "%s needs a value", arg);
                return EXIT_USAGE;
            }
            value = argv[++i];
        }
        if (g >= 0) {
            if (eq != NULL && !s_globals[g].value) {
                ctl_error(o, "%s takes no value", arg);
                return EXIT_USAGE;
            }
            if (!s_set_global(o, g, value))
                return EXIT_USAGE;
            continue;
        }
        own[n_own].name = name;
        own[n_own].value = value;
        own[n_own].raw = arg;
        n_own++;
    }
    if (o->help) {
        const char *words[8];
        int n = 0;
        words[n++] = cmd->name;
        for (int i = 0; i < npos && n < 3; i++)
            words[n++] = pos[i];
        ctl_help(words, n);
        return -1;
    }

    size_t consumed = 0;
    a->cmd = cmd;
    a->sub = s_find_sub(o, cmd, pos, npos, &consumed);
    if (a->sub == NULL)
        return EXIT_USAGE;
    snprintf(a->label, sizeof a->label, "%s%s%s", cmd->name, a->sub->name[0] ? " " : "",
             a->sub->name);
    a->argc = npos - (int)consumed;
    a->argv = pos + consumed;

    for (size_t i = 0; i < S_N_GLOBALS; i++)
        if ((o->given & s_globals[i].bit) && !(a->sub->uses & s_globals[i].bit)) {
            ctl_error(o, "%s does not take --%s: %s", a->label, s_globals[i].names[0],
                      s_globals[i].why_not);
            return EXIT_USAGE;
        }
    for (size_t i = 0; i < n_own; i++) {
        char first[32];
        bool takes;
        if (!ctl_opt_spec(a->sub->options, own[i].name, first, sizeof first, &takes)) {
            ctl_error(o, "%s does not take %.*s", a->label,
                      (int)strcspn(own[i].raw, "="), own[i].raw);
            return EXIT_USAGE;
        }
        if (!takes && own[i].value != NULL) {
            ctl_error(o, "%s takes no value", own[i].raw);
            return EXIT_USAGE;
        }
        /* The table's first name: handlers ask for one name only. */
        snprintf(a->opts[a->n_opts].name, sizeof a->opts[0].name, "%s", first);
        a->opts[a->n_opts].value = own[i].value;
        a->n_opts++;
    }
    if (!s_check_args(o, a))
        return EXIT_USAGE;
    return EXIT_OK;
}

/* ICSCTL_CONFIG and ICSCTL_GROUP stand in for -c and -g when a command
 * that talks to a node is given neither. Not marked as given: a default
 * is never an option the command refuses. */
static void s_env_defaults(opts_t *o, unsigned uses)
{
    const char *v;

    if ((uses & CTL_G_CONFIG) && o->config == NULL && o->socket == NULL &&
        (v = getenv("ICSCTL_CONFIG")) != NULL && v[0] != '\0')
        o->config = v;
    if ((uses & CTL_G_GROUP) && o->group == NULL && (v = getenv("ICSCTL_GROUP")) != NULL &&
        v[0] != '\0')
        o->group = v;
}

int ctl_main(int argc, char **argv)
{
    opts_t o = {.timeout_ms = 5000};
    ctl_args_t a;
    const ctl_cmd_t *cmd = NULL;
    char **pos = NULL;
    int i, rc = EXIT_USAGE;

    memset(&a, 0, sizeof a);
    /* Errors are JSON from the first one if --json is anywhere. */
    for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--json") == 0)
            o.json = true;

    /* General options before the command. */
    for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        const char *name = argv[i] + (argv[i][1] == '-' ? 2 : 1), *value = NULL;
        char buf[32];
        const char *eq = strchr(name, '=');
        if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
            printf("icsctl %s\n", ICS_VERSION);
            return EXIT_OK;
        }
        snprintf(buf, sizeof buf, "%.*s", (int)(eq != NULL ? (size_t)(eq - name) : strlen(name)),
                 name);
        if (eq != NULL)
            value = eq + 1;
        if (strcmp(buf, "h") == 0 || strcmp(buf, "help") == 0) {
            o.help = true;
            continue;
        }
        int g = s_global(buf);
        if (g < 0) {
            ctl_error(&o, "unknown option %s before the command", argv[i]);
            goto usage;
        }
        if (s_globals[g].value && value == NULL) {
            if (i + 1 >= argc) {
                ctl_error(&o, "%s needs a value", argv[i]);
                goto usage;
            }
            value = argv[++i];
        }
        if (!s_set_global(&o, g, value))
            goto usage;
    }
    if (i >= argc) {
        if (o.help) {
            ctl_usage(stdout);
            return EXIT_OK;
        }
        ctl_error(&o, "missing COMMAND");
        if (!o.json)
            ctl_usage(stderr);
        rc = EXIT_USAGE;
        goto out;
    }
    cmd = s_find(argv[i]);
    if (cmd == NULL) {
        ctl_error(&o, "no command '%s'. Try 'icsctl --help'.", argv[i]);
        goto out;
    }
    pos = calloc((size_t)argc, sizeof *pos);
    if (pos == NULL) {
        ctl_error(&o, "out of memory");
        rc = EXIT_FAIL;
        goto out;
    }
    rc = s_parse(&o, cmd, argc - i - 1, argv + i + 1, &a, pos);
    if (rc < 0) {
        rc = EXIT_OK; /* help was shown */
        goto out;
    }
    if (rc != EXIT_OK)
        goto out;
    if (!ics_crypto_init()) {
        ctl_error(&o, "libsodium failed to initialise");
        rc = EXIT_FAIL;
        goto out;
    }
    s_env_defaults(&o, a.sub->uses);
    rc = a.sub->fn(&o, &a);
    goto out;
usage:
    rc = EXIT_USAGE;
    if (!o.json)
        fprintf(stderr, "Try 'icsctl --help'.\n");
out:
    if (rc == EXIT_USAGE && !o.json && a.sub != NULL)
        s_put_usage(stderr, "Usage: icsctl [OPTIONS] ", a.sub->usage);
    else if (rc == EXIT_USAGE && !o.json && cmd != NULL)
        fprintf(stderr, "Try 'icsctl %s --help'.\n", cmd->name);
    if (rc != EXIT_OK && o.json && o.err != NULL)
        ctl_error_json(&o, rc);
    fflush(stdout);
    free(o.err);
    free(pos);
    return rc;
}
