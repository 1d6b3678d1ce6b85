/*
 * icsctl motion and icsctl vote: collective decisions under the scheme of
 * reservation and delegation. A motion is numbered by the index of the
 * entry that proposed it; after proposing or voting, icsctl reads the
 * motion back and shows what was decided so far.
 */
#include <stdlib.h>
#include <string.h>

#include "common/keys.h"

#include "ctl.h"

static int s_list(opts_t *o, const ctl_args_t *a)
{
    char *args[1] = {ctl_flag(a, "open") ? "open" : "all"};
    return ctl_read(o, "motion.list", 1, args, "motions", CJ_MEMBER);
}

static int s_show(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__ControlResponse *resp;
    uint64_t id;
    int rc;

    if (!ctl_u64(o, "motion show", a->argv[0], &id))
        return EXIT_USAGE;
    resp = ctl_query_call(o, "motion.show", 1, a->argv);
    if (resp == NULL)
        return EXIT_FAIL;
    /* The node answers the motion's own fields under "record". */
    rc = ctl_print_answer(o, resp->query, "motion", CJ_WRAP, "record");
    ics__v1__control_response__free_unpacked(resp, NULL);
    return rc;
}

static int s_withdraw(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__MotionWithdraw w = ICS__V1__MOTION_WITHDRAW__INIT;
    const char *reason = ctl_opt(a, "reason");

    if (!ctl_u64(o, "motion withdraw", a->argv[0], &w.motion))
        return EXIT_USAGE;
    w.reason = (char *)(reason ? reason : "");
    cmd.body_case = ICS__V1__COMMAND__BODY_MOTION_WITHDRAW;
    cmd.motion_withdraw = &w;
    return ctl_submit_made(o, &cmd, CTL_MADE_NOTHING);
}

/* Title, text and subjects, which every proposal takes; then submits. */
static int s_propose(opts_t *o, const ctl_args_t *a, Ics__V1__MotionPropose *m)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    const char *title = ctl_opt(a, "title"), *text = ctl_opt(a, "text");
    const char *subjects = ctl_opt(a, "subjects");
    char buf[512], *items[8];

    m->title = (char *)(title ? title : "");
    m->text = (char *)(text ? text : "");
    if (subjects != NULL) {
        ics_strcpy(buf, sizeof buf, subjects);
        m->n_subjects = ctl_split(buf, items, 8);
        m->subjects = items;
    }
    cmd.body_case = ICS__V1__COMMAND__BODY_MOTION_PROPOSE;
    cmd.motion_propose = m;
    return ctl_submit_made(o, &cmd, CTL_MADE_MOTION);
}

static int s_propose_adopt(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__MotionPropose m = ICS__V1__MOTION_PROPOSE__INIT;
    Ics__V1__MotionAdoptPlan adopt = ICS__V1__MOTION_ADOPT_PLAN__INIT;

    adopt.plan = a->argv[0];
    if (!ctl_u32(o, "motion propose adopt VERSION", a->argv[1], &adopt.version))
        return EXIT_USAGE;
    m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_ADOPT_PLAN;
    m.adopt_plan = &adopt;
    return s_propose(o, a, &m);
}

static int s_propose_accept(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__MotionPropose m = ICS__V1__MOTION_PROPOSE__INIT;
    Ics__V1__MotionAcceptAmendment accept = ICS__V1__MOTION_ACCEPT_AMENDMENT__INIT;

    if (!ctl_u64(o, "motion propose accept", a->argv[0], &accept.amendment))
        return EXIT_USAGE;
    m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_ACCEPT_AMENDMENT;
    m.accept_amendment = &accept;
    return s_propose(o, a, &m);
}

static int s_propose_close(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__MotionPropose m = ICS__V1__MOTION_PROPOSE__INIT;
    Ics__V1__MotionCloseConsultation close = ICS__V1__MOTION_CLOSE_CONSULTATION__INIT;

    if (!ctl_u64(o, "motion propose close", a->argv[0], &close.consultation))
        return EXIT_USAGE;
    m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_CLOSE_CONSULTATION;
    m.close_consultation = &close;
    return s_propose(o, a, &m);
}

static int s_propose_admit(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__MotionPropose m = ICS__V1__MOTION_PROPOSE__INIT;
    Ics__V1__MotionAdmitMember admit = ICS__V1__MOTION_ADMIT_MEMBER__INIT;
    const char *kind = ctl_opt(a, "kind"), *name = ctl_opt(a, "name"), *key = ctl_opt(a, "key");
    uint8_t pk[ICS_PK_BYTES];

    if (kind == NULL || name == NULL || key == NULL) {
        ctl_error(o, "motion propose admit: missing %s (it needs --kind, --name and --key "
                     "ed25519:..., the key its MemberAdd must carry)",
                  kind == NULL ? "--kind" : name == NULL ? "--name" : "--key");
        return EXIT_USAGE;
    }
    if (!ics_pubkey_parse(key, pk)) {
        ctl_error(o, "--key '%s' %s", key, ics_pubkey_problem(key));
        return EXIT_USAGE;
    }
    admit.org = a->argv[0];
    admit.kind = (char *)kind;
    admit.name = (char *)name;
    admit.public_key.data = pk;
    admit.public_key.len = sizeof pk;
    m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_ADMIT_MEMBER;
    m.admit_member = &admit;
    return s_propose(o, a, &m);
}

static int s_propose_remove(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__MotionPropose m = ICS__V1__MOTION_PROPOSE__INIT;
    Ics__V1__MotionRemoveMember remove = ICS__V1__MOTION_REMOVE_MEMBER__INIT;

    remove.org = a->argv[0];
    m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_REMOVE_MEMBER;
    m.remove_member = &remove;
    return s_propose(o, a, &m);
}

static int s_propose_aid(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__MotionPropose m = ICS__V1__MOTION_PROPOSE__INIT;
    Ics__V1__MotionApproveAid aid = ICS__V1__MOTION_APPROVE_AID__INIT;
    const char *org = ctl_opt(a, "org"), *value = ctl_opt(a, "value");

    if (org == NULL || value == NULL) {
        ctl_error(o, "motion propose aid: missing %s (it needs --org, the organisation "
                     "asking for aid, and --value N)", org == NULL ? "--org" : "--value");
        return EXIT_USAGE;
    }
    if (!ctl_u64(o, "motion propose aid", a->argv[0], &aid.offer) ||
        !ctl_u64(o, "--value", value, &aid.value))
        return EXIT_USAGE;
    aid.org = (char *)org;
    m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_APPROVE_AID;
    m.approve_aid = &aid;
    return s_propose(o, a, &m);
}

static int s_vote(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Vote v = ICS__V1__VOTE__INIT;
    const char *reason = ctl_opt(a, "reason");
    int rc;

    if (!ctl_u64(o, "vote MOTION", a->argv[0], &v.motion))
        return EXIT_USAGE;
    if (strcmp(a->argv[1], "for") == 0)
        v.choice = ICS__V1__VOTE_CHOICE__VOTE_FOR;
    else if (strcmp(a->argv[1], "against") == 0)
        v.choice = ICS__V1__VOTE_CHOICE__VOTE_AGAINST;
    else if (strcmp(a->argv[1], "abstain") == 0)
        v.choice = ICS__V1__VOTE_CHOICE__VOTE_ABSTAIN;
    else {
        ctl_error(o, "vote: '%s' is not for, against or abstain", a->argv[1]);
        return EXIT_USAGE;
    }
    v.reason = (char *)(reason ? reason : "");
    cmd.body_case = ICS__V1__COMMAND__BODY_VOTE;
    cmd.vote = &v;
    rc = ctl_submit_made(o, &cmd, CTL_MADE_NOTHING);
    if (rc == EXIT_OK && !o->json) {
        static const char *const lines[] = {"status", "outcome", "effect", NULL};
        char *text = ctl_query_text(o, "motion.show", 1, a->argv, false);
        if (text != NULL) {
            ctl_print_lines(text, lines);
            free(text);
        }
    }
    return rc;
}

#define S_MOTION_OPTS "title= text= subjects="

static const ctl_sub_t s_motion_subs[] = {
    {"propose adopt", s_propose_adopt, CTL_SUBMIT, S_MOTION_OPTS, {"PLAN", "VERSION"},
     "motion propose adopt PLAN VERSION [--title T] [--text T] [--subjects LIST]",
     "Propose adopting a plan version."},
    {"propose accept", s_propose_accept, CTL_SUBMIT, S_MOTION_OPTS, {"AMENDMENT"},
     "motion propose accept AMENDMENT [--title T] [--text T] [--subjects LIST]",
     "Propose accepting an amendment."},
    {"propose close", s_propose_close, CTL_SUBMIT, S_MOTION_OPTS, {"CONSULTATION"},
     "motion propose close CONSULTATION [--title T] [--text T] [--subjects LIST]",
     "Propose closing a consultation round before its deadline."},
    {"propose admit", s_propose_admit, CTL_SUBMIT, "kind= name= key= " S_MOTION_OPTS, {"ORG"},
     "motion propose admit ORG --kind K --name N --key ed25519:... [--title T] [--text T]\n"
     "       [--subjects LIST]",
     "Propose admitting a member: a carried admission authorises one\n"
     "'icsctl member add' with exactly that organisation and key."},
    {"propose remove", s_propose_remove, CTL_SUBMIT, S_MOTION_OPTS, {"ORG"},
     "motion propose remove ORG [--title T] [--text T] [--subjects LIST]",
     "Propose removing a member."},
    {"propose aid", s_propose_aid, CTL_SUBMIT, "org= value= " S_MOTION_OPTS, {"OFFER"},
     "motion propose aid OFFER --org ORG --value N [--title T] [--text T]\n"
     "       [--subjects LIST]",
     "Propose approving an acceptance of aid above the threshold, where the\n"
     "scheme gives that to a body."},
    {"withdraw", s_withdraw, CTL_SUBMIT, "reason=", {"ID"}, "motion withdraw ID [--reason R]",
     "Withdraw a motion."},
    {"show", s_show, CTL_READ, "", {"ID"}, "motion show ID",
     "A motion: who decides, the electorate, the votes (each with its log index,\n"
     "entry id and the id of the voter's key that signed it), the outcome and\n"
     "effect."},
    {"list", s_list, CTL_READ, "open", {NULL}, "motion list [--open]",
     "The motions (with --open, the open ones)."},
};

const ctl_cmd_t ctl_cmd_motion = CTL_CMD(
    "motion", "Collective decisions: propose, withdraw, show",
    "Collective decisions under the scheme of reservation and delegation (see\n"
    "icsctl policy show): the rule that covers a motion says who may propose it\n"
    "and who decides: a body by vote, with its quorum, threshold and voting\n"
    "period, or one role holder acting alone (who decides at once by proposing).\n"
    "Members with a declared interest in one of the motion's subjects (plan:ID,\n"
    "org:ORG, amendment:N, or --subjects tags) are excluded. A motion closes at\n"
    "its deadline or as soon as the votes not yet cast cannot change the outcome;\n"
    "a carried motion's decision is carried out by every node.", s_motion_subs);

static const ctl_sub_t s_vote_subs[] = {
    /* A vote is the voter's own: nobody casts it on another's behalf. */
    {"", s_vote, CTL_SUBMIT & ~CTL_G_BEHALF, "reason=",
     {"MOTION", "CHOICE: for, against or abstain"},
     "vote MOTION for|against|abstain [--reason R]",
     "Vote on a motion as the person acting (--as). A different later vote\n"
     "changes yours while the motion is open; the same vote twice is refused. Each\n"
     "vote is an entry of the log signed with your own key, cited in the decision\n"
     "record with that key's id; nobody votes on another's behalf."},
};

const ctl_cmd_t ctl_cmd_vote = CTL_CMD("vote", "Vote on a motion", NULL, s_vote_subs);
