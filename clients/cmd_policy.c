/*
 * icsctl policy: the scheme of reservation and delegation (docs/policy.md).
 * show reads the one in force from the node; check validates a policy file
 * offline, without a node; propose-change proposes the motion that would
 * put a file in force.
 */
#include <stdlib.h>
#include <string.h>

#include "common/policyfile.h"

#include "ctl.h"

static int s_show(opts_t *o, const ctl_args_t *a)
{
    const char *version = ctl_opt(a, "version");
    char *args[1] = {(char *)version};
    uint32_t v;

    if (version != NULL && !ctl_u32(o, "--version", version, &v))
        return EXIT_USAGE;
    return ctl_read(o, "policy.show", version != NULL ? 1 : 0, args, "policy", CJ_WRAP);
}

static int s_check(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Policy *p = NULL;
    ics_err_t err;

    if (ics_policy_load(a->argv[0], &p, &err) != ICS_OK) {
        ctl_error(o, "%s", err.msg);
        return EXIT_FAIL;
    }
    if (o->json) {
        fputs("{\"check\":{\"file\":", stdout);
        cj_write_str(stdout, a->argv[0]);
        fputs(",\"name\":", stdout);
        cj_write_str(stdout, p->name);
        printf(",\"roles\":%zu,\"bodies\":%zu,\"rules\":%zu,\"valid\":true}}\n", p->n_roles,
               p->n_bodies, p->n_rules);
    } else {
        ctl_put_field(stdout, a->argv[0], 0);
        printf(": ok: \"");
        ctl_put_field(stdout, p->name, 0);
        printf("\": %zu roles, %zu bodies, %zu rules\n", p->n_roles, p->n_bodies, p->n_rules);
    }
    ics__v1__policy__free_unpacked(p, NULL);
    return EXIT_OK;
}

static int s_propose_change(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__MotionPropose m = ICS__V1__MOTION_PROPOSE__INIT;
    const char *title = ctl_opt(a, "title"), *text = ctl_opt(a, "text");
    Ics__V1__Policy *p = NULL;
    ics_err_t err;
    int rc;

    if (ics_policy_load(a->argv[0], &p, &err) != ICS_OK) {
        ctl_error(o, "%s", err.msg);
        return EXIT_FAIL;
    }
    m.title = (char *)(title ? title : "");
    m.text = (char *)(text ? text : "");
    m.effect_case = ICS__V1__MOTION_PROPOSE__EFFECT_CHANGE_POLICY;
    m.change_policy = p;
    cmd.body_case = ICS__V1__COMMAND__BODY_MOTION_PROPOSE;
    cmd.motion_propose = &m;
    rc = ctl_submit_made(o, &cmd, CTL_MADE_MOTION);
    ics__v1__policy__free_unpacked(p, NULL);
    return rc;
}

static const ctl_sub_t s_subs[] = {
    {"show", s_show, CTL_READ, "version=", {NULL}, "policy show [--version V]",
     "The scheme in force (or an earlier version) as a map of who decides what,\n"
     "with quorum, threshold and voting period, the bodies and the roles."},
    {"check", s_check, CTL_OFFLINE, "", {"FILE"}, "policy check FILE",
     "Validate a policy file offline (format: docs/policy.md), naming the file\n"
     "and line of any error."},
    {"propose-change", s_propose_change, CTL_SUBMIT, "title= text=", {"FILE"},
     "policy propose-change FILE [--title T] [--text T]",
     "Propose the motion to put FILE in force; the scheme changes only when that\n"
     "motion is carried."},
};

const ctl_cmd_t ctl_cmd_policy = CTL_CMD(
    "policy", "The scheme of reservation and delegation",
    "The scheme of reservation and delegation: who decides what.", s_subs);
