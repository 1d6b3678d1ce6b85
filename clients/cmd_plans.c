/*
 * icsctl commands for joint forward plans, amendments, consultations,
 * motions and votes, the scheme of reservation and delegation, and the
 * people who act for each organisation (docs/policy.md).
 *
 * Every change is one signed command submitted through the node; every read
 * is a named state-machine query answered by the node (JSON with --json).
 * Amendments, motions and consultations are numbered by the log index of
 * the entry that created them: after a successful submission these commands
 * say which number that is, and for a motion what was decided, so people
 * never have to look it up.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "common/envelope.h"
#include "common/json.h"
#include "common/keys.h"
#include "common/policyfile.h"

#include "icsctl.h"

#define S_TEXT_MAX (64u * 1024u)

/* ---------------------------------------------------------------- helpers */

/* Reads FILE (or stdin for "-") as text: at most 64 KiB, no NUL, CRLF made
 * LF, trailing newlines dropped. Caller frees. Prints what was wrong. */
static char *s_read_text(const char *what, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    char *buf = NULL, *w;
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "icsctl: %s %s: %s\n", what, path, strerror(errno));
        return NULL;
    }
    buf = malloc(S_TEXT_MAX + 2);
    if (buf == NULL) {
        fprintf(stderr, "icsctl: out of memory\n");
        goto out;
    }
    n = fread(buf, 1, S_TEXT_MAX + 1, f);
    if (ferror(f)) {
        fprintf(stderr, "icsctl: %s %s: %s\n", what, path, strerror(errno));
        goto fail;
    }
    if (n > S_TEXT_MAX) {
        fprintf(stderr, "icsctl: %s %s: longer than %u bytes\n", what, path, S_TEXT_MAX);
        goto fail;
    }
    buf[n] = '\0';
    if (strlen(buf) != n) {
        fprintf(stderr, "icsctl: %s %s: contains a NUL byte; expected text\n", what, path);
        goto fail;
    }
    w = buf;
    for (char *r = buf; *r; r++)
        if (!(r[0] == '\r' && r[1] == '\n'))
            *w++ = *r;
    *w = '\0';
    while (w > buf && w[-1] == '\n')
        *--w = '\0';
    goto out;
fail:
    free(buf);
    buf = NULL;
out:
    if (f != NULL && f != stdin)
        fclose(f);
    return buf;
}

/* --text or --text-file (exactly one when required). *owned is set when the
 * text was read from a file (caller frees). */
static int s_text(const char *text, const char *file, bool required, const char *what,
                  const char **out, char **owned)
{
    *out = "";
    *owned = NULL;
    if (text != NULL && file != NULL) {
        fprintf(stderr, "icsctl: give %s with --text or --text-file, not both\n", what);
        return EXIT_USAGE;
    }
    if (file != NULL) {
        *owned = s_read_text("--text-file", file);
        if (*owned == NULL)
            return EXIT_FAIL;
        *out = *owned;
    } else if (text != NULL) {
        *out = text;
    } else if (required) {
        fprintf(stderr, "icsctl: give %s with --text TEXT or --text-file FILE (- for stdin)\n",
                what);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* Like ctl_time, and also "+45s" (seconds), which short demonstrations use. */
static bool s_time(const char *what, const char *s, uint64_t *ms)
{
    unsigned long long n = 0;
    int used = 0;
    if (s[0] == '+' && sscanf(s + 1, "%llus%n", &n, &used) == 1 && s[1 + used] == '\0' &&
        used > 1) {
        *ms = (uint64_t)time(NULL) * 1000 + n * 1000;
        return true;
    }
    return ctl_time(what, s, ms);
}

static bool s_u32(const char *what, const char *s, uint32_t *out)
{
    uint64_t v;
    if (!ctl_u64(what, s, &v))
        return false;
    if (v > UINT32_MAX) {
        fprintf(stderr, "icsctl: %s: %s is too large\n", what, s);
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

/* Splits a comma- or space-separated list in place into at most max items. */
static size_t s_split(char *s, char **items, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *t = strtok_r(s, ", ", &save); t != NULL && n < max; t = strtok_r(NULL, ", ", &save))
        items[n++] = t;
    return n;
}

/* Runs a query and returns its text (or JSON) answer; NULL on failure
 * (printed). Caller frees. */
static char *s_query_text(opts_t *o, const char *name, int argc, char **argv, bool json)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__QueryRequest q = ICS__V1__QUERY_REQUEST__INIT;
    Ics__V1__ControlResponse *resp;
    char *out = NULL;

    q.name = (char *)name;
    q.args = argv;
    q.n_args = (size_t)argc;
    q.fresh = o->fresh;
    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_QUERY;
    req.query = &q;
    resp = ctl_call(o, &req);
    if (resp == NULL)
        return NULL;
    if (resp->body_case != ICS__V1__CONTROL_RESPONSE__BODY_QUERY)
        fprintf(stderr, "icsctl: unexpected answer\n");
    else
        out = strdup(json ? resp->query->json : resp->query->text);
    ics__v1__control_response__free_unpacked(resp, NULL);
    return out;
}

/* Prints the lines of text that start with one of the prefixes. */
static void s_print_lines(const char *text, const char *const *prefixes)
{
    const char *s = text;
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        for (size_t i = 0; prefixes[i] != NULL; i++)
            if (strncmp(s, prefixes[i], strlen(prefixes[i])) == 0) {
                printf("  %.*s\n", (int)n, s);
                break;
            }
        s += n + (nl ? 1 : 0);
    }
}

enum { S_NOTHING, S_AMENDMENT, S_MOTION };

/* Signs and submits cmd like ctl_submit (which does not return the entry's
 * position), then says what was created: the amendment's number, or the
 * motion's number and what it decided so far. */
static int s_submit(opts_t *o, Ics__V1__Command *cmd, int created)
{
    Ics__V1__ControlResponse *resp;
    uint64_t position = 0;
    char hex[33], id[65];
    bool accepted = false;
    int rc;

    resp = ctl_submit_call(o, cmd, hex, &rc);
    if (resp == NULL)
        return rc;
    const Ics__V1__SubmitReply *r = resp->submit;
    accepted = r->accepted;
    position = r->position;
    ics_hex(r->entry_id.data, r->entry_id.len > 32 ? 32 : r->entry_id.len, id);
    if (o->json) {
        json_t j;
        json_init(&j, stdout);
        json_obj(&j, NULL);
        json_u64(&j, "index", r->position);
        json_str(&j, "entry_id", id);
        json_str(&j, "org", r->org);
        json_u64(&j, "seq", r->seq);
        json_bool(&j, "accepted", r->accepted);
        json_str(&j, "reason", r->reason);
        json_str(&j, "token", hex);
        if (r->accepted && created == S_AMENDMENT)
            json_u64(&j, "amendment", r->position);
        if (r->accepted && created == S_MOTION)
            json_u64(&j, "motion", r->position);
        json_end_obj(&j);
        json_done(&j);
    } else if (r->accepted) {
        printf("accepted at index %llu (entry %.16s…, %s seq %llu)\n",
               (unsigned long long)r->position, id, r->org, (unsigned long long)r->seq);
    } else {
        printf("rejected at index %llu: %s (entry %.16s…)\n", (unsigned long long)r->position,
               r->reason, id);
    }
    ics__v1__control_response__free_unpacked(resp, NULL);
    if (!accepted)
        return EXIT_FAIL;
    if (!o->json && created == S_AMENDMENT) {
        printf("amendment %llu proposed (icsctl amend show %llu)\n",
               (unsigned long long)position, (unsigned long long)position);
    } else if (!o->json && created == S_MOTION) {
        char arg[24], *argv[1] = {arg}, *text;
        static const char *const lines[] = {"motion ", "decided by", "status", "outcome",
                                            "effect", NULL};
        snprintf(arg, sizeof arg, "%llu", (unsigned long long)position);
        text = s_query_text(o, "motion.show", 1, argv, false);
        if (text != NULL) {
            s_print_lines(text, lines);
            free(text);
        }
    }
    return EXIT_OK;
}

static int s_query1(opts_t *o, const char *name, const char *a)
{
    char *argv[1] = {(char *)a};
    return ctl_query(o, name, a != NULL ? 1 : 0, argv);
}

/* ---------------------------------------------------------------- plan */

/* Sections from a file: each begins with a line "## ID Title"; the lines
 * up to the next such line are its text. */
static int s_sections(const char *path, Ics__V1__PlanSection ***out, size_t *n, char **owned)
{
    char *text = s_read_text("--from", path), *line, *save = NULL;
    Ics__V1__PlanSection **v = NULL, *cur = NULL;
    size_t lineno = 0;
    int rc = EXIT_OK;

    *out = NULL;
    *n = 0;
    *owned = text;
    if (text == NULL)
        return EXIT_FAIL;
    /* Split into lines keeping empty ones (strtok_r would merge them). */
    for (line = text; line != NULL; line = save) {
        char *nl = strchr(line, '\n');
        save = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        lineno++;
        if (strncmp(line, "## ", 3) == 0) {
            char *id = line + 3, *title = strchr(id, ' ');
            Ics__V1__PlanSection **p;
            if (title == NULL) {
                fprintf(stderr, "icsctl: %s:%zu: a section line is '## ID Title', e.g. "
                                "'## urgent-care Urgent and emergency care'\n", path, lineno);
                rc = EXIT_USAGE;
                break;
            }
            *title++ = '\0';
            p = realloc(v, (*n + 1) * sizeof *p);
            if (p != NULL)
                v = p;
            cur = p != NULL ? calloc(1, sizeof *cur) : NULL;
            if (cur == NULL) {
                fprintf(stderr, "icsctl: out of memory\n");
                rc = EXIT_FAIL;
                break;
            }
            ics__v1__plan_section__init(cur);
            cur->id = id;
            cur->title = title;
            cur->text = NULL;
            v[(*n)++] = cur;
            continue;
        }
        if (cur == NULL) {
            if (line[0] != '\0') {
                fprintf(stderr, "icsctl: %s:%zu: text before the first '## ID Title' line\n",
                        path, lineno);
                rc = EXIT_USAGE;
                break;
            }
            continue;
        }
        /* The section's text runs from its first line to the next header;
         * the newline we cut is put back by joining. */
        if (cur->text == NULL)
            cur->text = line;
        else
            line[-1] = '\n';
    }
    for (size_t i = 0; i < *n; i++) {
        if (v[i]->text == NULL) {
            v[i]->text = "";
            continue;
        }
        /* Drop blank lines at the ends. */
        while (v[i]->text[0] == '\n')
            v[i]->text++;
        size_t len = strlen(v[i]->text);
        while (len > 0 && v[i]->text[len - 1] == '\n')
            v[i]->text[--len] = '\0';
    }
    if (rc == EXIT_OK && *n == 0) {
        fprintf(stderr, "icsctl: %s: no sections (each starts with a line '## ID Title')\n",
                path);
        rc = EXIT_USAGE;
    }
    *out = v;
    return rc;
}

int cmd_plan(opts_t *o, int argc, char **argv)
{
    const char *title = NULL, *period = NULL, *from = NULL, *version = NULL, *out = NULL;
    const char *text = NULL, *subjects = NULL;
    const ctl_opt_t own[] = {{"title", &title, NULL}, {"period", &period, NULL},
                             {"from", &from, NULL}, {"version", &version, NULL},
                             {"out", &out, NULL}, {"text", &text, NULL},
                             {"subjects", &subjects, NULL}, {NULL, NULL, NULL}};
    int rc;

    if (ctl_parse(o, &argc, argv, own) != EXIT_OK || argc < 1)
        return EXIT_USAGE;
    const char *sub = argv[0];
    if (strcmp(sub, "list") == 0 && argc == 1)
        return ctl_query(o, "plan.list", 0, NULL);
    if (strcmp(sub, "show") == 0 && argc == 2) {
        uint32_t v;
        char *a[2] = {argv[1], (char *)version};
        if (version != NULL && !s_u32("--version", version, &v))
            return EXIT_USAGE;
        return ctl_query(o, "plan.show", version ? 2 : 1, a);
    }
    if (strcmp(sub, "history") == 0 && argc == 2)
        return s_query1(o, "plan.history", argv[1]);
    if (strcmp(sub, "diff") == 0 && argc == 4) {
        uint32_t a, b;
        if (!s_u32("plan diff", argv[2], &a) || !s_u32("plan diff", argv[3], &b))
            return EXIT_USAGE;
        return ctl_query(o, "plan.diff", 3, argv + 1);
    }
    if (strcmp(sub, "publish") == 0 && argc == 2) {
        char *a[2] = {argv[1], (char *)version}, *md;
        uint32_t v;
        FILE *f;
        if (version != NULL && !s_u32("--version", version, &v))
            return EXIT_USAGE;
        if (out == NULL || o->json)
            return ctl_query(o, "plan.publish", version ? 2 : 1, a);
        md = s_query_text(o, "plan.publish", version ? 2 : 1, a, false);
        if (md == NULL)
            return EXIT_FAIL;
        f = strcmp(out, "-") == 0 ? stdout : fopen(out, "w");
        rc = EXIT_OK;
        if (f == NULL || fputs(md, f) < 0) {
            fprintf(stderr, "icsctl: %s: %s\n", out, strerror(errno));
            rc = EXIT_FAIL;
        }
        if (f != NULL && f != stdout && fclose(f) != 0) {
            fprintf(stderr, "icsctl: %s: %s\n", out, strerror(errno));
            rc = EXIT_FAIL;
        }
        if (rc == EXIT_OK && f != stdout)
            fprintf(stderr, "icsctl: wrote %zu bytes of Markdown to %s\n", strlen(md), out);
        free(md);
        return rc;
    }
    if (strcmp(sub, "create") == 0 && argc == 2) {
        Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
        Ics__V1__PlanCreate c = ICS__V1__PLAN_CREATE__INIT;
        Ics__V1__PlanSection **sections = NULL;
        size_t n = 0;
        char *owned = NULL;
        if (title == NULL || period == NULL || from == NULL) {
            fprintf(stderr, "icsctl: plan create needs --title, --period (e.g. 2026/27-2030/31) "
                            "and --from FILE of sections ('## ID Title' then text)\n");
            return EXIT_USAGE;
        }
        rc = s_sections(from, &sections, &n, &owned);
        if (rc == EXIT_OK) {
            c.plan = argv[1];
            c.title = (char *)title;
            c.period = (char *)period;
            c.sections = sections;
            c.n_sections = n;
            cmd.body_case = ICS__V1__COMMAND__BODY_PLAN_CREATE;
            cmd.plan_create = &c;
            rc = s_submit(o, &cmd, S_NOTHING);
        }
        for (size_t i = 0; i < n; i++)
            free(sections[i]);
        free(sections);
        free(owned);
        return rc;
    }
    if (strcmp(sub, "adopt") == 0 && argc == 3) {
        Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
        Ics__V1__MotionPropose m = ICS__V1__MOTION_PROPOSE__INIT;
        Ics__V1__MotionAdoptPlan a = ICS__V1__MOTION_ADOPT_PLAN__INIT;
        char buf[512], *items[8];
        if (!s_u32("plan adopt", argv[2], &a.version))
            return EXIT_USAGE;
        a.plan = argv[1];
        m.title = (char *)(title ? title : "");
        m.text = (char *)(text ? text : "");
        if (subjects != NULL) {
            ics_strcpy(buf, sizeof buf, subjects);
            m.n_subjects = s_split(buf, items, 8);
            m.subjects = items;
        }
        m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_ADOPT_PLAN;
        m.adopt_plan = &a;
        cmd.body_case = ICS__V1__COMMAND__BODY_MOTION_PROPOSE;
        cmd.motion_propose = &m;
        return s_submit(o, &cmd, S_MOTION);
    }
    return EXIT_USAGE;
}

/* ---------------------------------------------------------------- amend */

static bool s_op(const char *s, Ics__V1__AmendOp *op)
{
    if (strcmp(s, "replace") == 0)
        *op = ICS__V1__AMEND_OP__AMEND_REPLACE;
    else if (strcmp(s, "insert") == 0)
        *op = ICS__V1__AMEND_OP__AMEND_INSERT;
    else if (strcmp(s, "delete") == 0)
        *op = ICS__V1__AMEND_OP__AMEND_DELETE;
    else if (strcmp(s, "add") == 0)
        *op = ICS__V1__AMEND_OP__AMEND_ADD;
    else
        return false;
    return true;
}

int cmd_amend(opts_t *o, int argc, char **argv)
{
    const char *base = NULL, *op = NULL, *section = NULL, *title = NULL, *text = NULL;
    const char *text_file = NULL, *paragraph = NULL, *after = NULL, *rationale = NULL;
    const char *reason = NULL, *status = NULL;
    const ctl_opt_t own[] = {
        {"base", &base, NULL}, {"op", &op, NULL}, {"section", &section, NULL},
        {"title", &title, NULL}, {"text", &text, NULL}, {"text-file", &text_file, NULL},
        {"paragraph", &paragraph, NULL}, {"after", &after, NULL},
        {"rationale", &rationale, NULL}, {"reason", &reason, NULL}, {"status", &status, NULL},
        {NULL, NULL, NULL}};
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    int rc;

    if (ctl_parse(o, &argc, argv, own) != EXIT_OK || argc < 1)
        return EXIT_USAGE;
    const char *sub = argv[0];
    if (strcmp(sub, "list") == 0 && argc <= 2) {
        char *a[2] = {argc == 2 ? argv[1] : "-", (char *)status};
        return ctl_query(o, "amend.list", status ? 2 : argc == 2 ? 1 : 0, a);
    }
    if (strcmp(sub, "show") == 0 && argc == 2) {
        uint64_t id;
        if (!ctl_u64("amend show", argv[1], &id))
            return EXIT_USAGE;
        return s_query1(o, "amend.show", argv[1]);
    }
    if (strcmp(sub, "withdraw") == 0 && argc == 2) {
        Ics__V1__AmendWithdraw w = ICS__V1__AMEND_WITHDRAW__INIT;
        if (!ctl_u64("amend withdraw", argv[1], &w.amendment))
            return EXIT_USAGE;
        w.reason = (char *)(reason ? reason : "");
        cmd.body_case = ICS__V1__COMMAND__BODY_AMEND_WITHDRAW;
        cmd.amend_withdraw = &w;
        return s_submit(o, &cmd, S_NOTHING);
    }
    if (strcmp(sub, "accept") == 0 && argc == 2) {
        Ics__V1__MotionPropose m = ICS__V1__MOTION_PROPOSE__INIT;
        Ics__V1__MotionAcceptAmendment a = ICS__V1__MOTION_ACCEPT_AMENDMENT__INIT;
        if (!ctl_u64("amend accept", argv[1], &a.amendment))
            return EXIT_USAGE;
        m.text = (char *)(reason ? reason : "");
        m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_ACCEPT_AMENDMENT;
        m.accept_amendment = &a;
        cmd.body_case = ICS__V1__COMMAND__BODY_MOTION_PROPOSE;
        cmd.motion_propose = &m;
        return s_submit(o, &cmd, S_MOTION);
    }
    if (strcmp(sub, "propose") == 0 && argc == 2) {
        Ics__V1__AmendPropose a = ICS__V1__AMEND_PROPOSE__INIT;
        const char *body = "";
        char *owned = NULL;
        if (base == NULL || op == NULL || section == NULL || rationale == NULL) {
            fprintf(stderr, "icsctl: amend propose needs --base VERSION, --op "
                            "replace|insert|delete|add, --section ID and --rationale TEXT\n");
            return EXIT_USAGE;
        }
        if (!s_op(op, &a.op)) {
            fprintf(stderr, "icsctl: --op '%s': expected replace, insert, delete or add\n", op);
            return EXIT_USAGE;
        }
        if (!s_u32("--base", base, &a.base_version) ||
            (paragraph != NULL && !s_u32("--paragraph", paragraph, &a.paragraph)))
            return EXIT_USAGE;
        rc = s_text(text, text_file, a.op != ICS__V1__AMEND_OP__AMEND_DELETE,
                    "the amendment's text", &body, &owned);
        if (rc != EXIT_OK)
            return rc;
        a.plan = argv[1];
        a.section = (char *)section;
        a.title = (char *)(title ? title : "");
        a.text = (char *)body;
        a.after = (char *)(after ? after : "");
        a.rationale = (char *)rationale;
        cmd.body_case = ICS__V1__COMMAND__BODY_AMEND_PROPOSE;
        cmd.amend_propose = &a;
        rc = s_submit(o, &cmd, S_AMENDMENT);
        free(owned);
        return rc;
    }
    return EXIT_USAGE;
}

/* ---------------------------------------------------------------- consult */

static bool s_stance(const char *s, Ics__V1__Stance *out)
{
    if (strcmp(s, "support") == 0)
        *out = ICS__V1__STANCE__STANCE_SUPPORT;
    else if (strcmp(s, "support-with-changes") == 0)
        *out = ICS__V1__STANCE__STANCE_SUPPORT_WITH_CHANGES;
    else if (strcmp(s, "object") == 0)
        *out = ICS__V1__STANCE__STANCE_OBJECT;
    else if (strcmp(s, "no-comment") == 0)
        *out = ICS__V1__STANCE__STANCE_NO_COMMENT;
    else
        return false;
    return true;
}

int cmd_consult(opts_t *o, int argc, char **argv)
{
    const char *opens = NULL, *closes = NULL, *consultees = NULL, *question = NULL;
    const char *position = NULL, *forwho = NULL, *text = NULL, *text_file = NULL;
    const char *amendments = NULL, *opinion = NULL, *reasons = NULL, *title = NULL;
    const ctl_opt_t own[] = {
        {"opens", &opens, NULL}, {"closes", &closes, NULL}, {"consultees", &consultees, NULL},
        {"question", &question, NULL}, {"position", &position, NULL}, {"for", &forwho, NULL},
        {"text", &text, NULL}, {"text-file", &text_file, NULL},
        {"amendments", &amendments, NULL}, {"hwb-opinion", &opinion, NULL},
        {"hwb-reasons", &reasons, NULL}, {"title", &title, NULL}, {NULL, NULL, NULL}};
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__MotionPropose m = ICS__V1__MOTION_PROPOSE__INIT;
    int rc;

    if (ctl_parse(o, &argc, argv, own) != EXIT_OK || argc < 1)
        return EXIT_USAGE;
    const char *sub = argv[0];
    if (strcmp(sub, "list") == 0 && argc <= 2)
        return s_query1(o, "consult.list", argc == 2 ? argv[1] : NULL);
    if ((strcmp(sub, "show") == 0 || strcmp(sub, "summary") == 0) && argc == 2) {
        uint64_t id;
        if (!ctl_u64(sub, argv[1], &id))
            return EXIT_USAGE;
        return s_query1(o, strcmp(sub, "show") == 0 ? "consult.show" : "consult.summary",
                        argv[1]);
    }
    if (strcmp(sub, "open") == 0 && argc == 3) {
        Ics__V1__MotionOpenConsultation c = ICS__V1__MOTION_OPEN_CONSULTATION__INIT;
        char list[1024], *items[64];
        if (closes == NULL || consultees == NULL || question == NULL) {
            fprintf(stderr, "icsctl: consult open needs --closes TIME, --consultees LIST (e.g. "
                            "'kind:hwb RTD RX4') and --question TEXT\n");
            return EXIT_USAGE;
        }
        if (!s_u32("consult open", argv[2], &c.version) ||
            !s_time("--closes", closes, &c.closes_ms) ||
            (opens != NULL && !s_time("--opens", opens, &c.opens_ms)))
            return EXIT_USAGE;
        if (!ics_strcpy(list, sizeof list, consultees)) {
            fprintf(stderr, "icsctl: --consultees is too long\n");
            return EXIT_USAGE;
        }
        c.plan = argv[1];
        c.question = (char *)question;
        c.n_consultees = s_split(list, items, 64);
        c.consultees = items;
        m.title = (char *)(title ? title : "");
        m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_OPEN_CONSULTATION;
        m.open_consultation = &c;
        cmd.body_case = ICS__V1__COMMAND__BODY_MOTION_PROPOSE;
        cmd.motion_propose = &m;
        return s_submit(o, &cmd, S_MOTION);
    }
    if (strcmp(sub, "close") == 0 && argc == 2) {
        Ics__V1__MotionCloseConsultation c = ICS__V1__MOTION_CLOSE_CONSULTATION__INIT;
        if (!ctl_u64("consult close", argv[1], &c.consultation))
            return EXIT_USAGE;
        m.title = (char *)(title ? title : "");
        m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_CLOSE_CONSULTATION;
        m.close_consultation = &c;
        cmd.body_case = ICS__V1__COMMAND__BODY_MOTION_PROPOSE;
        cmd.motion_propose = &m;
        return s_submit(o, &cmd, S_MOTION);
    }
    if (strcmp(sub, "respond") == 0 && argc == 2) {
        Ics__V1__ConsultRespond r = ICS__V1__CONSULT_RESPOND__INIT;
        uint64_t ids[16];
        char list[512], *items[16];
        const char *body = "";
        char *owned = NULL;
        if (position == NULL) {
            fprintf(stderr, "icsctl: consult respond needs --position support | "
                            "support-with-changes | object | no-comment\n");
            return EXIT_USAGE;
        }
        if (!ctl_u64("consult respond", argv[1], &r.consultation))
            return EXIT_USAGE;
        if (!s_stance(position, &r.stance)) {
            fprintf(stderr, "icsctl: --position '%s': expected support, support-with-changes, "
                            "object or no-comment\n", position);
            return EXIT_USAGE;
        }
        if (opinion != NULL) {
            if (strcmp(opinion, "yes") == 0)
                r.hwb_opinion = ICS__V1__OPINION__OPINION_YES;
            else if (strcmp(opinion, "no") == 0)
                r.hwb_opinion = ICS__V1__OPINION__OPINION_NO;
            else {
                fprintf(stderr, "icsctl: --hwb-opinion '%s': expected yes or no (does the draft "
                                "take proper account of the joint local health and wellbeing "
                                "strategy?)\n", opinion);
                return EXIT_USAGE;
            }
        }
        if (amendments != NULL) {
            if (!ics_strcpy(list, sizeof list, amendments)) {
                fprintf(stderr, "icsctl: --amendments is too long\n");
                return EXIT_USAGE;
            }
            r.n_amendments = s_split(list, items, 16);
            for (size_t i = 0; i < r.n_amendments; i++)
                if (!ctl_u64("--amendments", items[i], &ids[i]))
                    return EXIT_USAGE;
            r.amendments = ids;
        }
        rc = s_text(text, text_file, false, "the response", &body, &owned);
        if (rc != EXIT_OK)
            return rc;
        r.consultee = (char *)(forwho ? forwho : "");
        r.text = (char *)body;
        r.hwb_reasons = (char *)(reasons ? reasons : "");
        cmd.body_case = ICS__V1__COMMAND__BODY_CONSULT_RESPOND;
        cmd.consult_respond = &r;
        rc = s_submit(o, &cmd, S_NOTHING);
        free(owned);
        return rc;
    }
    return EXIT_USAGE;
}

/* ---------------------------------------------------------------- motion, vote */

int cmd_motion(opts_t *o, int argc, char **argv)
{
    const char *title = NULL, *text = NULL, *subjects = NULL, *kind = NULL, *name = NULL;
    const char *key = NULL, *org = NULL, *value = NULL, *reason = NULL;
    bool open_only = false;
    const ctl_opt_t own[] = {
        {"title", &title, NULL}, {"text", &text, NULL}, {"subjects", &subjects, NULL},
        {"kind", &kind, NULL}, {"name", &name, NULL}, {"key", &key, NULL},
        {"org", &org, NULL}, {"value", &value, NULL}, {"reason", &reason, NULL},
        {"open", NULL, &open_only}, {NULL, NULL, NULL}};
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__MotionPropose m = ICS__V1__MOTION_PROPOSE__INIT;
    Ics__V1__MotionAdoptPlan adopt = ICS__V1__MOTION_ADOPT_PLAN__INIT;
    Ics__V1__MotionAcceptAmendment accept = ICS__V1__MOTION_ACCEPT_AMENDMENT__INIT;
    Ics__V1__MotionCloseConsultation close = ICS__V1__MOTION_CLOSE_CONSULTATION__INIT;
    Ics__V1__MotionAdmitMember admit = ICS__V1__MOTION_ADMIT_MEMBER__INIT;
    Ics__V1__MotionRemoveMember remove = ICS__V1__MOTION_REMOVE_MEMBER__INIT;
    Ics__V1__MotionApproveAid aid = ICS__V1__MOTION_APPROVE_AID__INIT;
    uint8_t pk[ICS_PK_BYTES];
    char buf[512], *items[8];

    if (ctl_parse(o, &argc, argv, own) != EXIT_OK || argc < 1)
        return EXIT_USAGE;
    const char *sub = argv[0];
    if (strcmp(sub, "list") == 0 && argc == 1)
        return s_query1(o, "motion.list", open_only ? "open" : "all");
    if (strcmp(sub, "show") == 0 && argc == 2) {
        uint64_t id;
        if (!ctl_u64("motion show", argv[1], &id))
            return EXIT_USAGE;
        return s_query1(o, "motion.show", argv[1]);
    }
    if (strcmp(sub, "withdraw") == 0 && argc == 2) {
        Ics__V1__MotionWithdraw w = ICS__V1__MOTION_WITHDRAW__INIT;
        if (!ctl_u64("motion withdraw", argv[1], &w.motion))
            return EXIT_USAGE;
        w.reason = (char *)(reason ? reason : "");
        cmd.body_case = ICS__V1__COMMAND__BODY_MOTION_WITHDRAW;
        cmd.motion_withdraw = &w;
        return s_submit(o, &cmd, S_NOTHING);
    }
    if (strcmp(sub, "propose") != 0 || argc < 3)
        return EXIT_USAGE;
    const char *what = argv[1];
    if (strcmp(what, "adopt") == 0 && argc == 4) {
        adopt.plan = argv[2];
        if (!s_u32("motion propose adopt", argv[3], &adopt.version))
            return EXIT_USAGE;
        m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_ADOPT_PLAN;
        m.adopt_plan = &adopt;
    } else if (strcmp(what, "accept") == 0 && argc == 3) {
        if (!ctl_u64("motion propose accept", argv[2], &accept.amendment))
            return EXIT_USAGE;
        m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_ACCEPT_AMENDMENT;
        m.accept_amendment = &accept;
    } else if (strcmp(what, "close") == 0 && argc == 3) {
        if (!ctl_u64("motion propose close", argv[2], &close.consultation))
            return EXIT_USAGE;
        m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_CLOSE_CONSULTATION;
        m.close_consultation = &close;
    } else if (strcmp(what, "admit") == 0 && argc == 3) {
        if (kind == NULL || name == NULL || key == NULL) {
            fprintf(stderr, "icsctl: motion propose admit needs --kind, --name and --key "
                            "ed25519:... (the key its MemberAdd must carry)\n");
            return EXIT_USAGE;
        }
        if (!ics_pubkey_parse(key, pk)) {
            fprintf(stderr, "icsctl: --key '%s': expected ed25519:<base64> as printed by "
                            "'icsd keygen'\n", key);
            return EXIT_USAGE;
        }
        admit.org = argv[2];
        admit.kind = (char *)kind;
        admit.name = (char *)name;
        admit.public_key.data = pk;
        admit.public_key.len = sizeof pk;
        m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_ADMIT_MEMBER;
        m.admit_member = &admit;
    } else if (strcmp(what, "remove") == 0 && argc == 3) {
        remove.org = argv[2];
        m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_REMOVE_MEMBER;
        m.remove_member = &remove;
    } else if (strcmp(what, "aid") == 0 && argc == 3) {
        if (org == NULL || value == NULL) {
            fprintf(stderr, "icsctl: motion propose aid OFFER needs --org (the organisation "
                            "asking for aid) and --value N\n");
            return EXIT_USAGE;
        }
        if (!ctl_u64("motion propose aid", argv[2], &aid.offer) ||
            !ctl_u64("--value", value, &aid.value))
            return EXIT_USAGE;
        aid.org = (char *)org;
        m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_APPROVE_AID;
        m.approve_aid = &aid;
    } else {
        return EXIT_USAGE;
    }
    m.title = (char *)(title ? title : "");
    m.text = (char *)(text ? text : "");
    if (subjects != NULL) {
        ics_strcpy(buf, sizeof buf, subjects);
        m.n_subjects = s_split(buf, items, 8);
        m.subjects = items;
    }
    cmd.body_case = ICS__V1__COMMAND__BODY_MOTION_PROPOSE;
    cmd.motion_propose = &m;
    return s_submit(o, &cmd, S_MOTION);
}

int cmd_vote(opts_t *o, int argc, char **argv)
{
    const char *reason = NULL;
    const ctl_opt_t own[] = {{"reason", &reason, NULL}, {NULL, NULL, NULL}};
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Vote v = ICS__V1__VOTE__INIT;
    int rc;

    if (ctl_parse(o, &argc, argv, own) != EXIT_OK || argc != 2)
        return EXIT_USAGE;
    if (!ctl_u64("vote", argv[0], &v.motion))
        return EXIT_USAGE;
    if (strcmp(argv[1], "for") == 0)
        v.choice = ICS__V1__VOTE_CHOICE__VOTE_FOR;
    else if (strcmp(argv[1], "against") == 0)
        v.choice = ICS__V1__VOTE_CHOICE__VOTE_AGAINST;
    else if (strcmp(argv[1], "abstain") == 0)
        v.choice = ICS__V1__VOTE_CHOICE__VOTE_ABSTAIN;
    else {
        fprintf(stderr, "icsctl: vote: '%s' is not for, against or abstain\n", argv[1]);
        return EXIT_USAGE;
    }
    v.reason = (char *)(reason ? reason : "");
    cmd.body_case = ICS__V1__COMMAND__BODY_VOTE;
    cmd.vote = &v;
    rc = s_submit(o, &cmd, S_NOTHING);
    if (rc == EXIT_OK && !o->json) {
        static const char *const lines[] = {"status", "outcome", "effect", NULL};
        char *text = s_query_text(o, "motion.show", 1, &argv[0], false);
        if (text != NULL) {
            s_print_lines(text, lines);
            free(text);
        }
    }
    return rc;
}

/* ---------------------------------------------------------------- policy */

int cmd_policy(opts_t *o, int argc, char **argv)
{
    const char *version = NULL, *title = NULL, *text = NULL;
    const ctl_opt_t own[] = {{"version", &version, NULL}, {"title", &title, NULL},
                             {"text", &text, NULL}, {NULL, NULL, NULL}};
    Ics__V1__Policy *p = NULL;
    ics_err_t err;
    int rc;

    if (ctl_parse(o, &argc, argv, own) != EXIT_OK || argc < 1)
        return EXIT_USAGE;
    if (strcmp(argv[0], "show") == 0 && argc == 1) {
        uint32_t v;
        if (version != NULL && !s_u32("--version", version, &v))
            return EXIT_USAGE;
        return s_query1(o, "policy.show", version);
    }
    if (strcmp(argv[0], "check") == 0 && argc == 2) {
        if (ics_policy_load(argv[1], &p, &err) != ICS_OK) {
            fprintf(stderr, "icsctl: %s\n", err.msg);
            return EXIT_FAIL;
        }
        printf("%s: ok: \"%s\": %zu roles, %zu bodies, %zu rules\n", argv[1], p->name,
               p->n_roles, p->n_bodies, p->n_rules);
        ics__v1__policy__free_unpacked(p, NULL);
        return EXIT_OK;
    }
    if (strcmp(argv[0], "propose-change") == 0 && argc == 2) {
        Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
        Ics__V1__MotionPropose m = ICS__V1__MOTION_PROPOSE__INIT;
        if (ics_policy_load(argv[1], &p, &err) != ICS_OK) {
            fprintf(stderr, "icsctl: %s\n", err.msg);
            return EXIT_FAIL;
        }
        m.title = (char *)(title ? title : "");
        m.text = (char *)(text ? text : "");
        m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_CHANGE_POLICY;
        m.change_policy = p;
        cmd.body_case = ICS__V1__COMMAND__BODY_MOTION_PROPOSE;
        cmd.motion_propose = &m;
        rc = s_submit(o, &cmd, S_MOTION);
        ics__v1__policy__free_unpacked(p, NULL);
        return rc;
    }
    return EXIT_USAGE;
}

/* ---------------------------------------------------------------- people */

int cmd_people(opts_t *o, int argc, char **argv)
{
    const char *name = NULL, *title = NULL, *scope = NULL, *description = NULL;
    const char *kind = NULL, *parent = NULL;
    bool revoke = false, organisation = false, withdraw = false;
    const ctl_opt_t own[] = {
        {"name", &name, NULL}, {"title", &title, NULL}, {"scope", &scope, NULL},
        {"description", &description, NULL}, {"kind", &kind, NULL}, {"parent", &parent, NULL},
        {"revoke", NULL, &revoke}, {"organisation", NULL, &organisation},
        {"withdraw", NULL, &withdraw}, {NULL, NULL, NULL}};
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;

    if (ctl_parse(o, &argc, argv, own) != EXIT_OK || argc < 1)
        return EXIT_USAGE;
    const char *sub = argv[0];
    if (strcmp(sub, "list") == 0 && argc <= 2)
        return s_query1(o, "people.list", argc == 2 ? argv[1] : NULL);
    if (strcmp(sub, "register") == 0 && argc == 2) {
        Ics__V1__PersonRegister r = ICS__V1__PERSON_REGISTER__INIT;
        if (name == NULL) {
            fprintf(stderr, "icsctl: people register PERSON needs --name \"Full Name\"\n");
            return EXIT_USAGE;
        }
        r.person = argv[1];
        r.name = (char *)name;
        r.title = (char *)(title ? title : "");
        cmd.body_case = ICS__V1__COMMAND__BODY_PERSON_REGISTER;
        cmd.person_register = &r;
        return s_submit(o, &cmd, S_NOTHING);
    }
    if (strcmp(sub, "remove") == 0 && argc == 2) {
        Ics__V1__PersonRegister r = ICS__V1__PERSON_REGISTER__INIT;
        r.person = argv[1];
        r.remove = true;
        cmd.body_case = ICS__V1__COMMAND__BODY_PERSON_REGISTER;
        cmd.person_register = &r;
        return s_submit(o, &cmd, S_NOTHING);
    }
    if (strcmp(sub, "role") == 0 && argc == 3) {
        Ics__V1__RoleAssign a = ICS__V1__ROLE_ASSIGN__INIT;
        char *slash = strchr(argv[1], '/');
        if (slash == NULL || slash == argv[1] || slash[1] == '\0') {
            fprintf(stderr, "icsctl: people role ORG/PERSON ROLE: e.g. people role "
                            "RTD/dr.amina.khan partner_trust\n");
            return EXIT_USAGE;
        }
        *slash = '\0';
        a.org = argv[1];
        a.person = slash + 1;
        a.role = argv[2];
        a.scope = (char *)(scope ? scope : "");
        a.revoke = revoke;
        cmd.body_case = ICS__V1__COMMAND__BODY_ROLE_ASSIGN;
        cmd.role_assign = &a;
        return s_submit(o, &cmd, S_NOTHING);
    }
    if (strcmp(sub, "interest") == 0 && argc == 2) {
        Ics__V1__InterestDeclare d = ICS__V1__INTEREST_DECLARE__INIT;
        if (description == NULL && !withdraw) {
            fprintf(stderr, "icsctl: people interest SUBJECT needs --description TEXT (or "
                            "--withdraw)\n");
            return EXIT_USAGE;
        }
        d.subject = argv[1];
        d.description = (char *)(description ? description : "");
        d.organisation = organisation;
        d.withdraw = withdraw;
        cmd.body_case = ICS__V1__COMMAND__BODY_INTEREST_DECLARE;
        cmd.interest_declare = &d;
        return s_submit(o, &cmd, S_NOTHING);
    }
    if (strcmp(sub, "org") == 0 && argc == 3 &&
        (strcmp(argv[1], "add") == 0 || strcmp(argv[1], "remove") == 0)) {
        Ics__V1__OrgRegister r = ICS__V1__ORG_REGISTER__INIT;
        r.org = argv[2];
        r.remove = strcmp(argv[1], "remove") == 0;
        if (!r.remove && (kind == NULL || name == NULL)) {
            fprintf(stderr, "icsctl: people org add ID needs --kind (hwb, icp, nhse, "
                            "healthwatch ...) and --name\n");
            return EXIT_USAGE;
        }
        r.kind = (char *)(kind ? kind : "");
        r.name = (char *)(name ? name : "");
        r.parent = (char *)(parent ? parent : "");
        cmd.body_case = ICS__V1__COMMAND__BODY_ORG_REGISTER;
        cmd.org_register = &r;
        return s_submit(o, &cmd, S_NOTHING);
    }
    return EXIT_USAGE;
}
