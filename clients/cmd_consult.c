/*
 * icsctl consult: consultation rounds on a frozen plan version. Opening and
 * closing a round early are decisions (motions, numbered by theirs);
 * responding is a signed entry of the consultee, revised by a later one
 * until the round closes.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

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

static int s_list(opts_t *o, const ctl_args_t *a)
{
    return ctl_read(o, "consult.list", a->argc, a->argv, "consultations", CJ_MEMBER);
}

static int s_show(opts_t *o, const ctl_args_t *a)
{
    uint64_t id;
    if (!ctl_u64(o, "consult show", a->argv[0], &id))
        return EXIT_USAGE;
    return ctl_read(o, "consult.show", 1, a->argv, "consultation", CJ_WRAP);
}

static int s_summary(opts_t *o, const ctl_args_t *a)
{
    uint64_t id;
    if (!ctl_u64(o, "consult summary", a->argv[0], &id))
        return EXIT_USAGE;
    return ctl_read(o, "consult.summary", 1, a->argv, "summary", CJ_WRAP);
}

static int s_open(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__MotionPropose m = ICS__V1__MOTION_PROPOSE__INIT;
    Ics__V1__MotionOpenConsultation c = ICS__V1__MOTION_OPEN_CONSULTATION__INIT;
    const char *closes = ctl_opt(a, "closes"), *opens = ctl_opt(a, "opens");
    const char *consultees = ctl_opt(a, "consultees"), *question = ctl_opt(a, "question");
    const char *title = ctl_opt(a, "title");
    char list[1024], *items[64];

    if (closes == NULL || consultees == NULL || question == NULL) {
        ctl_error(o, "consult open: missing %s (it needs --closes TIME, --consultees LIST, "
                     "e.g. 'kind:hwb RTD RX4', and --question TEXT)",
                  closes == NULL ? "--closes" : consultees == NULL ? "--consultees"
                  : "--question");
        return EXIT_USAGE;
    }
    if (!ctl_u32(o, "consult open VERSION", a->argv[1], &c.version) ||
        !ctl_time(o, "--closes", closes, &c.closes_ms) ||
        (opens != NULL && !ctl_time(o, "--opens", opens, &c.opens_ms)))
        return EXIT_USAGE;
    if (!ics_strcpy(list, sizeof list, consultees)) {
        ctl_error(o, "--consultees is too long");
        return EXIT_USAGE;
    }
    c.plan = a->argv[0];
    c.question = (char *)question;
    c.n_consultees = ctl_split(list, items, 64);
    c.consultees = items;
    m.title = (char *)(title ? title : "");
    m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_OPEN_CONSULTATION;
    m.open_consultation = &c;
    cmd.body_case = ICS__V1__COMMAND__BODY_MOTION_PROPOSE;
    cmd.motion_propose = &m;
    return ctl_submit_made(o, &cmd, CTL_MADE_MOTION);
}

static int s_close(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__MotionPropose m = ICS__V1__MOTION_PROPOSE__INIT;
    Ics__V1__MotionCloseConsultation c = ICS__V1__MOTION_CLOSE_CONSULTATION__INIT;
    const char *title = ctl_opt(a, "title");

    if (!ctl_u64(o, "consult close", a->argv[0], &c.consultation))
        return EXIT_USAGE;
    m.title = (char *)(title ? title : "");
    m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_CLOSE_CONSULTATION;
    m.close_consultation = &c;
    cmd.body_case = ICS__V1__COMMAND__BODY_MOTION_PROPOSE;
    cmd.motion_propose = &m;
    return ctl_submit_made(o, &cmd, CTL_MADE_MOTION);
}

static int s_respond(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__ConsultRespond r = ICS__V1__CONSULT_RESPOND__INIT;
    const char *position = ctl_opt(a, "position"), *forwho = ctl_opt(a, "for");
    const char *amendments = ctl_opt(a, "amendments"), *opinion = ctl_opt(a, "hwb-opinion");
    const char *reasons = ctl_opt(a, "hwb-reasons"), *body = "";
    uint64_t ids[16];
    char list[512], *items[16], *owned = NULL;
    int rc;

    if (position == NULL) {
        ctl_error(o, "consult respond: missing --position (support, support-with-changes, "
                     "object or no-comment)");
        return EXIT_USAGE;
    }
    if (!ctl_u64(o, "consult respond", a->argv[0], &r.consultation))
        return EXIT_USAGE;
    if (!s_stance(position, &r.stance)) {
        ctl_error(o, "--position '%s': expected support, support-with-changes, object or "
                     "no-comment", position);
        return EXIT_USAGE;
    }
    if (opinion != NULL) {
        if (strcmp(opinion, "yes") == 0)
            r.hwb_opinion = ICS__V1__OPINION__OPINION_YES;
        else if (strcmp(opinion, "no") == 0)
            r.hwb_opinion = ICS__V1__OPINION__OPINION_NO;
        else {
            ctl_error(o, "--hwb-opinion '%s': expected yes or no (does the draft take proper "
                         "account of the joint local health and wellbeing strategy?)", opinion);
            return EXIT_USAGE;
        }
    }
    if (amendments != NULL) {
        if (!ics_strcpy(list, sizeof list, amendments)) {
            ctl_error(o, "--amendments is too long");
            return EXIT_USAGE;
        }
        r.n_amendments = ctl_split(list, items, 16);
        for (size_t i = 0; i < r.n_amendments; i++)
            if (!ctl_u64(o, "--amendments", items[i], &ids[i]))
                return EXIT_USAGE;
        r.amendments = ids;
    }
    rc = ctl_text_opt(o, a, false, "the response", &body, &owned);
    if (rc != EXIT_OK)
        return rc;
    r.consultee = (char *)(forwho ? forwho : "");
    r.text = (char *)body;
    r.hwb_reasons = (char *)(reasons ? reasons : "");
    cmd.body_case = ICS__V1__COMMAND__BODY_CONSULT_RESPOND;
    cmd.consult_respond = &r;
    rc = ctl_submit_made(o, &cmd, CTL_MADE_NOTHING);
    free(owned);
    return rc;
}

static const ctl_sub_t s_subs[] = {
    {"open", s_open, CTL_SUBMIT, "closes= opens= consultees= question= title=",
     {"PLAN", "VERSION"},
     "consult open PLAN VERSION --consultees LIST --question Q --closes TIME\n"
     "       [--opens TIME] [--title T]",
     "Propose the decision to open a round on a frozen version; its number is the\n"
     "motion's. Consultees are organisation ids or kinds (kind:hwb, kind:icp,\n"
     "kind:nhse, kind:healthwatch), separated by spaces or commas. Times:\n"
     "2026-03-01T17:00:00Z, 2026-03-01, now, +3d, +4h, +30m or +45s."},
    {"respond", s_respond, CTL_SUBMIT,
     "position= for= text= text-file= amendments= hwb-opinion= hwb-reasons=", {"ID"},
     "consult respond ID --position P [--for ORG] [--text T | --text-file F]\n"
     "       [--amendments LIST] [--hwb-opinion yes|no --hwb-reasons R]",
     "Give a position (support, support-with-changes, object, no-comment); a later\n"
     "response revises it until closing. --for ORG responds for a consultee you\n"
     "act for (an HWB chair for the board); an HWB must say whether the draft\n"
     "takes proper account of its joint local health and wellbeing strategy."},
    {"close", s_close, CTL_SUBMIT, "title=", {"ID"}, "consult close ID [--title T]",
     "Propose the decision to close a round before its deadline."},
    {"show", s_show, CTL_READ, "", {"ID"}, "consult show ID",
     "A round: its question, consultees and their responses."},
    {"summary", s_summary, CTL_READ, "", {"ID"}, "consult summary ID",
     "Positions counted, and who did not respond."},
    {"list", s_list, CTL_READ, "", {"[PLAN]"}, "consult list [PLAN]", "The rounds."},
};

const ctl_cmd_t ctl_cmd_consult = CTL_CMD(
    "consult", "Consultation rounds on a plan version",
    "Consultation rounds on a frozen plan version. Rounds close at the deadline\n"
    "by the log's clock, or early by the decision close proposes.", s_subs);
