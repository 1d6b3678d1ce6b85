/*
 * icsctl opel: report and read OPEL (Operational Pressures Escalation
 * Levels; docs/opel-and-aid.md). A report is a signed entry; the system
 * level is derived by every node from the current reports.
 */
#include <string.h>

#include "ctl.h"

static int s_set(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__OpelReport r = ICS__V1__OPEL_REPORT__INIT;
    Ics__V1__OpelParameter params[16], *ptrs[16];
    const char *type = ctl_opt(a, "type"), *note = ctl_opt(a, "note");
    char names[16][64], label[64], hex[33];
    uint64_t level;
    int n = a->argc - 1, rc;

    if (type == NULL) {
        ctl_error(o, "opel set: missing --type TYPE (acute, ambulance, mental_health, "
                     "community or social_care)");
        return EXIT_USAGE;
    }
    if (!ctl_u64(o, "LEVEL", a->argv[0], &level) || level < 1 || level > 4) {
        ctl_error(o, "LEVEL: expected 1 to 4");
        return EXIT_USAGE;
    }
    if (n > 16) {
        ctl_error(o, "at most 16 parameters");
        return EXIT_USAGE;
    }
    for (int i = 0; i < n; i++) {
        const char *arg = a->argv[i + 1], *eq = strchr(arg, '=');
        Ics__V1__OpelParameter *p = &params[i];
        ics__v1__opel_parameter__init(p);
        if (eq == NULL || eq == arg || (size_t)(eq - arg) >= sizeof names[0]) {
            ctl_error(o, "'%s' is not NAME=VALUE (icsctl opel parameters lists the names)", arg);
            return EXIT_USAGE;
        }
        snprintf(names[i], sizeof names[0], "%.*s", (int)(eq - arg), arg);
        if (!ctl_u64(o, names[i], eq + 1, &p->value))
            return EXIT_USAGE;
        p->name = names[i];
        ptrs[i] = p;
    }
    r.level = (uint32_t)level;
    r.provider_type = (char *)type;
    r.parameters = ptrs;
    r.n_parameters = (size_t)n;
    r.note = (char *)(note != NULL ? note : "");
    cmd.body_case = ICS__V1__COMMAND__BODY_OPEL_REPORT;
    cmd.opel_report = &r;
    snprintf(label, sizeof label, "OPEL %llu reported for ", (unsigned long long)level);

    Ics__V1__ControlResponse *resp = ctl_submit_call(o, &cmd, hex, &rc);
    if (resp == NULL)
        return rc;
    const Ics__V1__SubmitReply *sr = resp->submit;
    if (o->json) {
        ctl_result_json(sr, hex, NULL, NULL);
    } else if (sr->accepted) {
        char entry[65];
        ics_hex(sr->entry_id.data, sr->entry_id.len > 32 ? 32 : sr->entry_id.len, entry);
        fputs(label, stdout);
        ctl_put_field(stdout, type, 0);
        printf(" (index %llu, entry %.16s…, ", (unsigned long long)sr->position, entry);
        ctl_put_field(stdout, sr->org, 0);
        printf(" seq %llu)\n", (unsigned long long)sr->seq);
    } else {
        ctl_print_rejected(sr);
    }
    rc = sr->accepted ? EXIT_OK : EXIT_FAIL;
    ics__v1__control_response__free_unpacked(resp, NULL);
    return rc;
}

/* Is the array list of the answer empty? */
static bool s_none(const char *json, const char *list)
{
    cj_t doc, v, item;
    size_t pos = 0;
    return cj_parse(json, strlen(json), &doc) && cj_get(doc, list, &v) &&
           !cj_element(v, &pos, &item);
}

/* A read about one organisation (ORG, when given): the node answers an
 * empty list for one the group does not know, which is an error here. */
static int s_read_org(opts_t *o, const char *query, int argc, char **argv, const char *org,
                      const char *list, const char *key, int shape, const char *label)
{
    Ics__V1__ControlResponse *resp = ctl_query_call(o, query, argc, argv);
    int rc = EXIT_FAIL;

    if (resp == NULL)
        return EXIT_FAIL;
    if (org != NULL && s_none(resp->query->json, list)) {
        int known = ctl_org_known(o, org);
        if (known == 0)
            ctl_error(o, "%s: the group knows no organisation '%s' (icsctl members lists the "
                         "members)", label, org);
        if (known != 1)
            goto out;
    }
    rc = ctl_print_answer(o, resp->query, key, shape, NULL);
out:
    ics__v1__control_response__free_unpacked(resp, NULL);
    return rc;
}

static int s_show(opts_t *o, const ctl_args_t *a)
{
    return s_read_org(o, "opel.show", a->argc, a->argv, a->argc ? a->argv[0] : NULL,
                      "organisations", "opel", CJ_WRAP | CJ_CLOCK, "opel show");
}

static int s_history(opts_t *o, const ctl_args_t *a)
{
    const char *count = ctl_opt(a, "n");
    char *args[2];
    int n = 0;
    uint64_t v;

    if (count != NULL && (!ctl_u64(o, "-n", count, &v) || v < 1 || v > 1000)) {
        ctl_error(o, "-n: expected 1 to 1000");
        return EXIT_USAGE;
    }
    if (a->argc == 1)
        args[n++] = a->argv[0];
    if (count != NULL)
        args[n++] = (char *)count;
    return s_read_org(o, "opel.history", n, args, a->argc ? a->argv[0] : NULL, "reports",
                      "history", CJ_WRAP, "opel history");
}

static int s_parameters(opts_t *o, const ctl_args_t *a)
{
    return ctl_read(o, "opel.parameters", a->argc, a->argv, "provider_types", CJ_ARRAY);
}

static const ctl_sub_t s_subs[] = {
    {"set", s_set, CTL_SUBMIT, "type= note=", {"LEVEL", "[NAME=VALUE...]"},
     "opel set LEVEL --type TYPE [NAME=VALUE ...] [--note TEXT]",
     "Report this organisation's OPEL level (1 maintaining flow, 2 signs of\n"
     "pressure, 3 major pressures compromising flow, 4 unable to deliver\n"
     "comprehensive care) for a provider type (acute, ambulance,\n"
     "mental_health, community, social_care), with the parameters behind it\n"
     "in whole units, e.g.\n"
     "  opel set 4 --type acute handover_mean_mins=95 ed_4h_pct=61 \\\n"
     "      ed_12h_count=23 ga_occupancy_pct=99 nctr_count=140"},
    {"show", s_show, CTL_READ, "", {"[ORG]"}, "opel show [ORG]",
     "The system level and each organisation's current level (or ORG's; an\n"
     "organisation the group does not know is an error)."},
    {"history", s_history, CTL_READ, "n|count=", {"[ORG]"}, "opel history [ORG] [-n N]",
     "Reports newest first (the last 20, or N from 1 to 1000), and the system\n"
     "level's changes."},
    {"parameters", s_parameters, CTL_READ, "", {"[TYPE]"}, "opel parameters [TYPE]",
     "The parameters each provider type reports, with units."},
};

const ctl_cmd_t ctl_cmd_opel = CTL_CMD(
    "opel", "Report and read OPEL levels",
    "Report and read OPEL (Operational Pressures Escalation Levels).\n"
    "\n"
    "The system level is derived from the current reports (each organisation's\n"
    "latest per provider type, at most 24 hours old): a weighted mean of the\n"
    "levels (acute 3, ambulance and mental health 2, others 1), raised to at\n"
    "least 3 when any provider is at 4, and to 4 when those at 4 carry half the\n"
    "weight. docs/opel-and-aid.md has the exact method.", s_subs);
