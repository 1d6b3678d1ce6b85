/*
 * icsctl plan and icsctl amend: joint forward plans and their amendments.
 *
 * Every change is one signed command submitted through the node; every
 * read is a named state-machine query answered by the node (JSON with
 * --json). Amendments are numbered by the log index of the entry that
 * proposed them, and the motions that adopt a plan or accept an amendment
 * by theirs: after a successful submission these commands say which number
 * that is, so people never have to look it up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* ---------------------------------------------------------------- plan */

static int s_list(opts_t *o, const ctl_args_t *a)
{
    (void)a;
    return ctl_read(o, "plan.list", 0, NULL, "plans", CJ_MEMBER);
}

/* PLAN and --version V when given, as the plan.show/publish queries take. */
static int s_plan_version(opts_t *o, const ctl_args_t *a, char *args[2])
{
    const char *version = ctl_opt(a, "version");
    uint32_t v;
    if (version != NULL && !ctl_u32(o, "--version", version, &v))
        return -1;
    args[0] = a->argv[0];
    args[1] = (char *)version;
    return version != NULL ? 2 : 1;
}

static int s_show(opts_t *o, const ctl_args_t *a)
{
    char *args[2];
    int n = s_plan_version(o, a, args);
    return n < 0 ? EXIT_USAGE : ctl_read(o, "plan.show", n, args, "plan", CJ_WRAP);
}

static int s_history(opts_t *o, const ctl_args_t *a)
{
    return ctl_read(o, "plan.history", 1, a->argv, "history", CJ_WRAP);
}

static int s_diff(opts_t *o, const ctl_args_t *a)
{
    uint32_t v1, v2;
    if (!ctl_u32(o, "plan diff V1", a->argv[1], &v1) ||
        !ctl_u32(o, "plan diff V2", a->argv[2], &v2))
        return EXIT_USAGE;
    return ctl_read(o, "plan.diff", 3, a->argv, "diff", CJ_WRAP);
}

static int s_publish(opts_t *o, const ctl_args_t *a)
{
    const char *out = ctl_opt(a, "out");
    char *args[2], *md;
    FILE *f;
    int n = s_plan_version(o, a, args), rc = EXIT_OK;

    if (n < 0)
        return EXIT_USAGE;
    if (out != NULL && o->json) {
        ctl_error(o, "plan publish: --out writes the Markdown; give --out or --json, not both");
        return EXIT_USAGE;
    }
    if (out == NULL)
        return ctl_read(o, "plan.publish", n, args, "publication", CJ_WRAP);
    md = ctl_query_text(o, "plan.publish", n, args, false);
    if (md == NULL)
        return EXIT_FAIL;
    /* A document for a file, written as the node made it. */
    f = strcmp(out, "-") == 0 ? stdout : fopen(out, "w");
    if (f == NULL || fputs(md, f) < 0) {
        ctl_error(o, "%s: %s", out, strerror(errno));
        rc = EXIT_FAIL;
    }
    if (f != NULL && f != stdout && fclose(f) != 0) {
        ctl_error(o, "%s: %s", out, strerror(errno));
        rc = EXIT_FAIL;
    }
    if (rc == EXIT_OK && f != stdout)
        ctl_note(o, "wrote %zu bytes of Markdown to %s", strlen(md), out);
    free(md);
    return rc;
}

/* Sections from a file: each begins with a line "## ID Title"; the lines
 * up to the next such line are its text. */
static int s_sections(opts_t *o, const char *path, Ics__V1__PlanSection ***out, size_t *n,
                      char **owned)
{
    char *text = ctl_read_file(o, "--from", path), *line, *save = NULL;
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
                ctl_error(o, "%s:%zu: a section line is '## ID Title', e.g. "
                             "'## urgent-care Urgent and emergency care'", path, lineno);
                rc = EXIT_USAGE;
                break;
            }
            *title++ = '\0';
            p = realloc(v, (*n + 1) * sizeof *p);
            if (p != NULL)
                v = p;
            cur = p != NULL ? calloc(1, sizeof *cur) : NULL;
            if (cur == NULL) {
                ctl_error(o, "out of memory");
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
                ctl_error(o, "%s:%zu: text before the first '## ID Title' line", path, lineno);
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
        ctl_error(o, "%s: no sections (each starts with a line '## ID Title')", path);
        rc = EXIT_USAGE;
    }
    *out = v;
    return rc;
}

static int s_create(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__PlanCreate c = ICS__V1__PLAN_CREATE__INIT;
    Ics__V1__PlanSection **sections = NULL;
    const char *title = ctl_opt(a, "title"), *period = ctl_opt(a, "period");
    const char *from = ctl_opt(a, "from");
    size_t n = 0;
    char *owned = NULL;
    int rc;

    if (title == NULL || period == NULL || from == NULL) {
        ctl_error(o, "plan create: missing %s (it needs --title, --period, e.g. "
                     "2026/27-2030/31, and --from FILE of sections: '## ID Title' then text)",
                  title == NULL ? "--title" : period == NULL ? "--period" : "--from");
        return EXIT_USAGE;
    }
    rc = s_sections(o, from, &sections, &n, &owned);
    if (rc == EXIT_OK) {
        c.plan = a->argv[0];
        c.title = (char *)title;
        c.period = (char *)period;
        c.sections = sections;
        c.n_sections = n;
        cmd.body_case = ICS__V1__COMMAND__BODY_PLAN_CREATE;
        cmd.plan_create = &c;
        rc = ctl_submit_made(o, &cmd, CTL_MADE_NOTHING);
    }
    for (size_t i = 0; i < n; i++)
        free(sections[i]);
    free(sections);
    free(owned);
    return rc;
}

static int s_adopt(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__MotionPropose m = ICS__V1__MOTION_PROPOSE__INIT;
    Ics__V1__MotionAdoptPlan ad = ICS__V1__MOTION_ADOPT_PLAN__INIT;
    const char *title = ctl_opt(a, "title"), *text = ctl_opt(a, "text");
    const char *subjects = ctl_opt(a, "subjects");
    char buf[512], *items[8];

    if (!ctl_u32(o, "plan adopt VERSION", a->argv[1], &ad.version))
        return EXIT_USAGE;
    ad.plan = a->argv[0];
    m.title = (char *)(title ? title : "");
    m.text = (char *)(text ? text : "");
    if (subjects != NULL) {
        ics_strcpy(buf, sizeof buf, subjects);
        m.n_subjects = ctl_split(buf, items, 8);
        m.subjects = items;
    }
    m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_ADOPT_PLAN;
    m.adopt_plan = &ad;
    cmd.body_case = ICS__V1__COMMAND__BODY_MOTION_PROPOSE;
    cmd.motion_propose = &m;
    return ctl_submit_made(o, &cmd, CTL_MADE_MOTION);
}

static const ctl_sub_t s_plan_subs[] = {
    {"list", s_list, CTL_READ, "", {NULL}, "plan list", "The group's plans."},
    {"create", s_create, CTL_SUBMIT, "title= period= from=", {"PLAN"},
     "plan create PLAN --title T --period 2026/27-2030/31 --from FILE",
     "Make version 1 from FILE ('-' for stdin): each section starts with a line\n"
     "'## ID Title' and its text follows (paragraphs separated by blank lines)."},
    {"show", s_show, CTL_READ, "version=", {"PLAN"}, "plan show PLAN [--version V]",
     "A version of the plan (default the latest)."},
    {"history", s_history, CTL_READ, "", {"PLAN"}, "plan history PLAN",
     "Versions, adoptions, consultations and amendments."},
    {"diff", s_diff, CTL_READ, "", {"PLAN", "V1", "V2"}, "plan diff PLAN V1 V2",
     "Two versions compared section by section, in unified-diff style."},
    {"publish", s_publish, CTL_READ, "version= out=", {"PLAN"},
     "plan publish PLAN [--version V] [--out FILE]",
     "The adopted version (or --version V, marked as a draft) as Markdown with the\n"
     "HWB opinions, the consultation summary and the decision record (each vote\n"
     "with its entry and the id of the voter's own key that signed it), to --out\n"
     "FILE or stdout."},
    {"adopt", s_adopt, CTL_SUBMIT, "title= text= subjects=", {"PLAN", "VERSION"},
     "plan adopt PLAN VERSION [--title T] [--text T] [--subjects LIST]",
     "Propose the motion to adopt a version (after a closed consultation that has\n"
     "every health and wellbeing board's opinion on record)."},
};

const ctl_cmd_t ctl_cmd_plan = CTL_CMD(
    "plan", "Joint forward plans: create, show, compare, adopt, publish",
    "Joint forward plans. Every accepted amendment makes a new, numbered,\n"
    "immutable version with a content hash.", s_plan_subs);

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

static int s_amend_list(opts_t *o, const ctl_args_t *a)
{
    const char *status = ctl_opt(a, "status");
    char *args[2] = {a->argc == 1 ? a->argv[0] : "-", (char *)status};
    return ctl_read(o, "amend.list", status ? 2 : a->argc, args, "amendments", CJ_MEMBER);
}

static int s_amend_show(opts_t *o, const ctl_args_t *a)
{
    uint64_t id;
    if (!ctl_u64(o, "amend show", a->argv[0], &id))
        return EXIT_USAGE;
    return ctl_read(o, "amend.show", 1, a->argv, "amendment", CJ_WRAP);
}

static int s_amend_withdraw(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__AmendWithdraw w = ICS__V1__AMEND_WITHDRAW__INIT;
    const char *reason = ctl_opt(a, "reason");

    if (!ctl_u64(o, "amend withdraw", a->argv[0], &w.amendment))
        return EXIT_USAGE;
    w.reason = (char *)(reason ? reason : "");
    cmd.body_case = ICS__V1__COMMAND__BODY_AMEND_WITHDRAW;
    cmd.amend_withdraw = &w;
    return ctl_submit_made(o, &cmd, CTL_MADE_NOTHING);
}

static int s_amend_accept(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__MotionPropose m = ICS__V1__MOTION_PROPOSE__INIT;
    Ics__V1__MotionAcceptAmendment acc = ICS__V1__MOTION_ACCEPT_AMENDMENT__INIT;
    const char *reason = ctl_opt(a, "reason");

    if (!ctl_u64(o, "amend accept", a->argv[0], &acc.amendment))
        return EXIT_USAGE;
    m.text = (char *)(reason ? reason : "");
    m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_ACCEPT_AMENDMENT;
    m.accept_amendment = &acc;
    cmd.body_case = ICS__V1__COMMAND__BODY_MOTION_PROPOSE;
    cmd.motion_propose = &m;
    return ctl_submit_made(o, &cmd, CTL_MADE_MOTION);
}

static int s_amend_propose(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__AmendPropose p = ICS__V1__AMEND_PROPOSE__INIT;
    const char *base = ctl_opt(a, "base"), *op = ctl_opt(a, "op");
    const char *section = ctl_opt(a, "section"), *rationale = ctl_opt(a, "rationale");
    const char *title = ctl_opt(a, "title"), *after = ctl_opt(a, "after");
    const char *paragraph = ctl_opt(a, "paragraph"), *body = "";
    char *owned = NULL;
    int rc;

    if (base == NULL || op == NULL || section == NULL || rationale == NULL) {
        ctl_error(o, "amend propose: missing %s (it needs --base VERSION, --op "
                     "replace|insert|delete|add, --section ID and --rationale TEXT)",
                  base == NULL ? "--base" : op == NULL ? "--op"
                  : section == NULL ? "--section" : "--rationale");
        return EXIT_USAGE;
    }
    if (!s_op(op, &p.op)) {
        ctl_error(o, "--op '%s': expected replace, insert, delete or add", op);
        return EXIT_USAGE;
    }
    if (!ctl_u32(o, "--base", base, &p.base_version) ||
        (paragraph != NULL && !ctl_u32(o, "--paragraph", paragraph, &p.paragraph)))
        return EXIT_USAGE;
    rc = ctl_text_opt(o, a, p.op != ICS__V1__AMEND_OP__AMEND_DELETE, "the amendment's text",
                      &body, &owned);
    if (rc != EXIT_OK)
        return rc;
    p.plan = a->argv[0];
    p.section = (char *)section;
    p.title = (char *)(title ? title : "");
    p.text = (char *)body;
    p.after = (char *)(after ? after : "");
    p.rationale = (char *)rationale;
    cmd.body_case = ICS__V1__COMMAND__BODY_AMEND_PROPOSE;
    cmd.amend_propose = &p;
    rc = ctl_submit_made(o, &cmd, CTL_MADE_AMENDMENT);
    free(owned);
    return rc;
}

static const ctl_sub_t s_amend_subs[] = {
    {"propose", s_amend_propose, CTL_SUBMIT,
     "base= op= section= title= text= text-file= paragraph= after= rationale=", {"PLAN"},
     "amend propose PLAN --base V --op replace|insert|delete|add --section ID\n"
     "       [--title T] [--text T | --text-file F] [--paragraph N] [--after ID]\n"
     "       --rationale R",
     "Propose a change against a base version: replace a section's text (and\n"
     "title with --title); insert text before paragraph --paragraph N (default at\n"
     "the end); delete paragraph N or, without --paragraph, the whole section; add\n"
     "a section (--title, text) after --after ID or at the end. The number\n"
     "printed is the amendment's."},
    {"withdraw", s_amend_withdraw, CTL_SUBMIT, "reason=", {"ID"}, "amend withdraw ID [--reason R]",
     "Withdraw an amendment: the proposing organisation only."},
    {"accept", s_amend_accept, CTL_SUBMIT, "reason=", {"ID"}, "amend accept ID [--reason R]",
     "Propose the motion to accept it (the scheme says who decides); --reason\n"
     "becomes the motion's text."},
    {"show", s_amend_show, CTL_READ, "", {"ID"}, "amend show ID",
     "One amendment, with its diff against its base and, if it cannot apply, how\n"
     "to rebase it."},
    {"list", s_amend_list, CTL_READ, "status=", {"[PLAN]"}, "amend list [PLAN] [--status S]",
     "The amendments, of one plan or all. Statuses: proposed, accepted, rejected,\n"
     "withdrawn, superseded."},
};

const ctl_cmd_t ctl_cmd_amend = CTL_CMD(
    "amend", "Amendments to a plan",
    "Amendments to a plan, against a base version. A change to a section that has\n"
    "changed since the base is refused, saying which version and amendment\n"
    "changed it and how to rebase: nothing is ever merged silently.", s_amend_subs);
