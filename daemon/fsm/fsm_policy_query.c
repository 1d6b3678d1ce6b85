/*
 * The scheme as read: policy.show, the functions and decisions map of a
 * version of the scheme. Reads only: nothing here is hashed into the audit
 * chain. It reads the scheme through fsm_policy_data.c; fsm_policy.c names
 * this file's table in its domain, and only fsm.c calls through it.
 */
#include "fsm/fsm_gov.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- rules */

/* A JSON array of strings, as member key. */
static void s_json_strs(json_t *j, const char *key, char *const *v, size_t n)
{
    json_arr(j, key);
    for (size_t i = 0; i < n; i++)
        json_str(j, NULL, v[i]);
    json_end_arr(j);
}

static void s_list_titles(const Ics__V1__Policy *p, char *const *roles, size_t n, char *out,
                          size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++) {
        int k = snprintf(out + used, size - used, "%s%s", i ? "; " : "",
                         ics_policy_role_title(p, roles[i]));
        used += k > 0 ? (size_t)k : 0;
    }
}

static void s_rule_json(json_t *j, const Ics__V1__Policy *p, const Ics__V1__Rule *r)
{
    char text[600];

    json_obj(j, NULL);
    json_str(j, "id", r->id);
    json_str(j, "decision", ics_decision_name(r->decision));
    json_str(j, "title", ics_decision_title(r->decision));
    json_str(j, "body", r->body);
    json_str(j, "role", r->role);
    ics_policy_decider_text(p, r, text, sizeof text);
    json_str(j, "decided_by", text);
    s_json_strs(j, "proposers", r->proposers, r->n_proposers);
    json_obj(j, "quorum");
    json_u64(j, "count", r->quorum_count);
    json_u64(j, "num", r->quorum_num);
    json_u64(j, "den", r->quorum_den);
    s_json_strs(j, "roles", r->quorum_roles, r->n_quorum_roles);
    json_end_obj(j);
    json_str(j, "threshold", r->role[0] ? "" : ics_threshold_title(r->threshold));
    json_u64(j, "period_ms", r->period_ms);
    json_str(j, "scope", r->scope);
    json_u64(j, "up_to", r->up_to);
    json_str(j, "note", r->note);
    ics_policy_rule_text(p, r, text, sizeof text);
    json_str(j, "text", text);
    json_end_obj(j);
}

static void s_rule_text(FILE *text, const Ics__V1__Policy *p, const Ics__V1__Rule *r)
{
    char buf[600], period[48];

    ics_policy_decider_text(p, r, buf, sizeof buf);
    if (r->scope[0] != '\0' || r->up_to != 0) {
        fprintf(text, "    when         ");
        if (r->up_to != 0)
            fprintf(text, "the value is up to %" PRIu64 "%s%s%s", r->up_to,
                    p->aid_unit[0] ? " " : "", p->aid_unit, r->scope[0] ? " and " : "");
        if (r->scope[0] != '\0')
            fprintf(text, "the motion concerns %s", r->scope);
        fputc('\n', text);
    }
    fprintf(text, "    decided by   %s%s\n", buf,
            r->role[0] ? "" : " (by a vote of its members)");
    if (r->n_proposers > 0) {
        s_list_titles(p, r->proposers, r->n_proposers, buf, sizeof buf);
        fprintf(text, "    proposed by  %s\n", buf);
    } else {
        fprintf(text, "    proposed by  any person registered by a member organisation\n");
    }
    ics_gov_period(r->period_ms, period, sizeof period);
    if (r->role[0] == '\0') {
        ics_policy_quorum_text(p, r, buf, sizeof buf);
        fprintf(text, "    quorum       %s\n", buf);
        fprintf(text, "    threshold    %s%s\n", ics_threshold_title(r->threshold),
                r->threshold == ICS__V1__THRESHOLD__THRESHOLD_SIMPLE_MAJORITY
                    ? " (more votes for than against; abstentions do not count)"
                : r->threshold == ICS__V1__THRESHOLD__THRESHOLD_TWO_THIRDS
                    ? " (at least two thirds of the votes for or against)"
                    : " (every vote cast is for)");
        fprintf(text, "    voting       %s\n", period);
    } else {
        fprintf(text, "    time limit   %s\n", period);
    }
    if (r->note[0] != '\0')
        fprintf(text, "    note         %s\n", r->note);
    fprintf(text, "    rule         %s\n", r->id);
}

/* ---------------------------------------------------------------- policy.show */

/* Which version this is, and where it came from (source: "genesis",
 * "default" or "motion"). */
static void s_show_head(json_t *j, FILE *text, const char *group, const Ics__V1__Policy *p,
                        uint64_t version, const char *source, uint64_t position,
                        uint64_t motion)
{
    json_str(j, "group", group);
    json_u64(j, "version", version);
    json_str(j, "source", source);
    json_u64(j, "index", position);
    json_u64(j, "motion", motion);
    json_str(j, "name", p->name);
    json_str(j, "note", p->note);
    json_u64(j, "aid_threshold", p->aid_threshold);
    json_str(j, "aid_unit", p->aid_unit);

    fprintf(text, "%s\n", p->name);
    fprintf(text, "Scheme of reservation and delegation of group %s, version %" PRIu64 ": ",
            group, version);
    if (strcmp(source, "motion") == 0)
        fprintf(text, "in force from index %" PRIu64 ", decided by motion %" PRIu64 "\n",
                position, motion);
    else if (strcmp(source, "default") == 0)
        fprintf(text, "the built-in default (the genesis named no scheme)\n");
    else
        fprintf(text, "from the group's genesis\n");
    if (p->note[0] != '\0')
        fprintf(text, "%s\n", p->note);
}

/* Each kind of decision and the rules that decide it, in the scheme's
 * order. */
static void s_show_decisions(json_t *j, FILE *text, const Ics__V1__Policy *p)
{
    fprintf(text, "\nWHO DECIDES WHAT\n");
    json_arr(j, "decisions");
    for (int d = ICS__V1__DECISION__DECISION_PLAN_ADOPT;
         d <= ICS__V1__DECISION__DECISION_AID_APPROVE; d++) {
        bool any = false;
        json_obj(j, NULL);
        json_str(j, "decision", ics_decision_name((Ics__V1__Decision)d));
        json_str(j, "title", ics_decision_title((Ics__V1__Decision)d));
        json_arr(j, "rules");
        fprintf(text, "\n  %s", ics_decision_title((Ics__V1__Decision)d));
        if (d == ICS__V1__DECISION__DECISION_AID_APPROVE)
            fprintf(text, " (aid up to %" PRIu64 "%s%s needs no approval)", p->aid_threshold,
                    p->aid_unit[0] ? " " : "", p->aid_unit);
        fprintf(text, "  [%s]\n", ics_decision_name((Ics__V1__Decision)d));
        for (size_t i = 0; i < p->n_rules; i++) {
            if ((int)p->rules[i]->decision != d)
                continue;
            if (any)
                fputc('\n', text);
            any = true;
            s_rule_json(j, p, p->rules[i]);
            s_rule_text(text, p, p->rules[i]);
        }
        if (!any)
            fprintf(text, "    nobody: the scheme reserves this decision to no one\n");
        json_end_arr(j);
        json_end_obj(j);
    }
    json_end_arr(j);
}

/* The bodies that decide by vote: whose role holders sit on them. */
static void s_show_bodies(json_t *j, FILE *text, const Ics__V1__Policy *p)
{
    char buf[600];

    fprintf(text, "\nBODIES\n");
    json_arr(j, "bodies");
    for (size_t i = 0; i < p->n_bodies; i++) {
        const Ics__V1__Body *b = p->bodies[i];
        json_obj(j, NULL);
        json_str(j, "id", b->id);
        json_str(j, "name", b->name);
        json_str(j, "kind", b->kind);
        s_json_strs(j, "roles", b->roles, b->n_roles);
        s_json_strs(j, "orgs", b->orgs, b->n_orgs);
        json_str(j, "note", b->note);
        json_end_obj(j);
        fprintf(text, "\n  %s (%s, id %s)\n", b->name, b->kind, b->id);
        s_list_titles(p, b->roles, b->n_roles, buf, sizeof buf);
        fprintf(text, "    members      the holders of: %s\n", buf);
        if (b->n_orgs > 0) {
            fprintf(text, "    drawn from   ");
            for (size_t k = 0; k < b->n_orgs; k++)
                fprintf(text, "%s%s", k ? ", " : "", b->orgs[k]);
            fputc('\n', text);
        }
        if (b->note[0] != '\0')
            fprintf(text, "    note         %s\n", b->note);
    }
    if (p->n_bodies == 0)
        fprintf(text, "  (none: every decision is delegated to a person)\n");
    json_end_arr(j);
}

/* The roles: who appoints to them, who may hold them, and how many. */
static void s_show_roles(json_t *j, FILE *text, const Ics__V1__Policy *p)
{
    fprintf(text, "\nROLES\n");
    json_arr(j, "roles");
    for (size_t i = 0; i < p->n_roles; i++) {
        const Ics__V1__RoleDef *r = p->roles[i];
        json_obj(j, NULL);
        json_str(j, "id", r->id);
        json_str(j, "title", r->title);
        json_str(j, "appointed_by", r->appointed_by);
        s_json_strs(j, "holder_kinds", r->holder_kinds, r->n_holder_kinds);
        json_u64(j, "max", r->max_holders);
        json_u64(j, "max_per_org", r->max_per_org);
        json_bool(j, "scoped", r->scoped);
        json_end_obj(j);
        fprintf(text, "  %-26s %s; appointed by %s", r->id, r->title,
                strcmp(r->appointed_by, "own") == 0 ? "the holder's own organisation"
                                                    : r->appointed_by);
        if (r->n_holder_kinds > 0) {
            fprintf(text, "; held by people of ");
            for (size_t k = 0; k < r->n_holder_kinds; k++)
                fprintf(text, "%s%s", k ? ", " : "", r->holder_kinds[k]);
        }
        if (r->max_holders != 0)
            fprintf(text, "; at most %u", r->max_holders);
        if (r->max_per_org != 0)
            fprintf(text, "; at most %u per organisation", r->max_per_org);
        if (r->scoped)
            fprintf(text, "; acts for a named organisation");
        fputc('\n', text);
    }
    json_end_arr(j);
}

/* Every version of the scheme and what put it in force; before the first
 * change, the one from the genesis (source: where version 1 came from). */
static int s_show_versions(ics_db_t *db, json_t *j, FILE *text, const char *source)
{
    sqlite3_stmt *st = NULL;
    bool listed = false;
    int rc;

    fprintf(text, "\nVERSIONS\n");
    json_arr(j, "versions");
    rc = ics_sql_query(db, &st, "SELECT version, position, motion, source FROM"
                                  " policy_versions ORDER BY version", "");
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        const char *s = (const char *)sqlite3_column_text(st, 3);
        listed = true;
        json_obj(j, NULL);
        json_u64(j, "version", ics_sql_column_u64(st, 0));
        json_u64(j, "index", ics_sql_column_u64(st, 1));
        json_u64(j, "motion", ics_sql_column_u64(st, 2));
        json_str(j, "source", s);
        json_end_obj(j);
        if (strcmp(s, "motion") == 0)
            fprintf(text, "  %" PRIu64 "  index %" PRIu64 ", motion %" PRIu64 "\n",
                    ics_sql_column_u64(st, 0), ics_sql_column_u64(st, 1),
                    ics_sql_column_u64(st, 2));
        else
            fprintf(text, "  %" PRIu64 "  %s\n", ics_sql_column_u64(st, 0),
                    strcmp(s, "default") == 0 ? "built-in default" : "genesis");
    }
    ics_sql_release(db, st);
    if (rc != ICS_ENOENT)
        return rc;
    if (!listed) {
        json_obj(j, NULL);
        json_u64(j, "version", 1);
        json_u64(j, "index", 0);
        json_u64(j, "motion", 0);
        json_str(j, "source", source);
        json_end_obj(j);
        fprintf(text, "  1  %s\n", strcmp(source, "default") == 0 ? "built-in default"
                                                                   : "genesis");
    }
    json_end_arr(j);
    return ICS_OK;
}

/* policy.show [VERSION]: the scheme as a functions and decisions map. */
static int s_query_show(ics_db_t *db, const char *group, size_t argc, char *const *argv,
                        FILE *json, FILE *text, ics_err_t *err)
{
    Ics__V1__Policy *p = NULL;
    uint64_t want = 0, version = 0, position = 0, motion = 0;
    const char *source = "genesis";
    json_t j;
    int rc;

    if (argc > 1 || (argc == 1 && (!ics_gov_arg_u64(argv[0], &want) || want == 0)))
        return ics_err(err, ICS_EINVAL, "policy show takes an optional version number (1, 2, "
                                        "...)");
    rc = ics_policy_version_info(db, want, &p, &version, &position, &motion, &source);
    if (rc == ICS_ENOENT)
        return ics_err(err, ICS_ENOENT, "there is no version %" PRIu64 " of the scheme", want);
    if (rc != ICS_OK)
        return ics_err(err, rc, "state database error");

    json_init(&j, json);
    json_obj(&j, NULL);
    s_show_head(&j, text, group, p, version, source, position, motion);
    s_show_decisions(&j, text, p);
    s_show_bodies(&j, text, p);
    s_show_roles(&j, text, p);
    rc = s_show_versions(db, &j, text, source);
    if (rc == ICS_OK)
        json_end_obj(&j);
    ics__v1__policy__free_unpacked(p, NULL);
    return rc == ICS_OK ? ICS_OK : ics_err(err, rc, "state database error");
}

const ics_fsm_query_t ics_policy_queries[] = {
    {"policy.show", s_query_show},
    {NULL, NULL},
};
