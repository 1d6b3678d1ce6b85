/*
 * Policy files: the scheme of reservation and delegation in a small INI-like
 * format (docs/policy.md), parsed by hand rather than with inih so that the
 * rules are exactly ours (no multi-line values, no inline comments) and
 * every error can name its line. The same parser turns the built-in default
 * text into a policy, so the state machine and the documentation share one
 * definition. The structural check (ics_policy_valid) is deterministic: the
 * state machine runs it on every policy it is asked to put in force.
 */
#include "policyfile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_FILE_MAX (1u << 20)
#define S_LINE_MAX 2048

/* The built-in default. Never edit it: every node derives the default
 * policy of a group whose genesis has none from this text, and nodes
 * running different text would disagree. A new default needs a new
 * name and a way for groups to opt in. */
static const char s_default_text[] =
    "# Built-in default scheme of reservation and delegation (icsd, frozen).\n"
    "[policy]\n"
    "name = Built-in default scheme: the ICB board decides, executives act within delegation\n"
    "note = Used when a group's genesis carries no policy. Change it by a policy.change motion.\n"
    "aid_threshold = 10\n"
    "aid_unit = units of the resource catalogue\n"
    "\n"
    "[role chair]\n"
    "title = Chair of the ICB\n"
    "appointed_by = icb\n"
    "holders = icb\n"
    "max = 1\n"
    "\n"
    "[role chief_executive]\n"
    "title = Chief Executive\n"
    "appointed_by = icb\n"
    "holders = icb\n"
    "max = 1\n"
    "\n"
    "[role finance_director]\n"
    "title = Executive Director of Finance\n"
    "appointed_by = icb\n"
    "holders = icb\n"
    "\n"
    "[role medical_director]\n"
    "title = Executive Medical Director\n"
    "appointed_by = icb\n"
    "holders = icb\n"
    "\n"
    "[role nursing_director]\n"
    "title = Executive Director of Nursing\n"
    "appointed_by = icb\n"
    "holders = icb\n"
    "\n"
    "[role non_executive]\n"
    "title = Independent non-executive member\n"
    "appointed_by = icb\n"
    "holders = icb\n"
    "\n"
    "[role partner_trust]\n"
    "title = Partner member: NHS trusts and foundation trusts\n"
    "appointed_by = icb\n"
    "holders = trust foundation_trust mental_health ambulance\n"
    "\n"
    "[role partner_primary_care]\n"
    "title = Partner member: primary medical services\n"
    "appointed_by = icb\n"
    "holders = primary_care\n"
    "\n"
    "[role partner_local_authority]\n"
    "title = Partner member: local authorities\n"
    "appointed_by = icb\n"
    "holders = local_authority\n"
    "\n"
    "[role hwb_chair]\n"
    "title = Chair of a health and wellbeing board\n"
    "appointed_by = own\n"
    "holders = local_authority hwb\n"
    "scoped = yes\n"
    "\n"
    "[role consultee_contact]\n"
    "title = Consultation contact\n"
    "appointed_by = own\n"
    "scoped = yes\n"
    "\n"
    "[body board]\n"
    "name = ICB Board\n"
    "kind = board\n"
    "roles = chair chief_executive finance_director medical_director nursing_director"
    " non_executive partner_trust partner_primary_care partner_local_authority\n"
    "\n"
    "[rule plan.adopt]\n"
    "body = board\n"
    "proposers = chair chief_executive\n"
    "quorum = 1/2\n"
    "quorum_roles = chair|non_executive\n"
    "threshold = simple_majority\n"
    "period = 14d\n"
    "\n"
    "[rule amendment.accept]\n"
    "role = chief_executive\n"
    "period = 7d\n"
    "\n"
    "[rule consultation.open]\n"
    "role = chief_executive\n"
    "period = 7d\n"
    "\n"
    "[rule consultation.close]\n"
    "role = chair\n"
    "period = 7d\n"
    "\n"
    "[rule member.admit]\n"
    "body = board\n"
    "proposers = chair chief_executive\n"
    "quorum = 2/3\n"
    "quorum_roles = chair|non_executive\n"
    "threshold = two_thirds\n"
    "period = 28d\n"
    "\n"
    "[rule member.remove]\n"
    "body = board\n"
    "proposers = chair chief_executive\n"
    "quorum = 2/3\n"
    "quorum_roles = chair|non_executive\n"
    "threshold = two_thirds\n"
    "period = 28d\n"
    "\n"
    "[rule policy.change]\n"
    "body = board\n"
    "proposers = chair\n"
    "quorum = 2/3\n"
    "quorum_roles = chair partner_trust|partner_primary_care|partner_local_authority\n"
    "threshold = two_thirds\n"
    "period = 28d\n"
    "\n"
    "[rule aid.approve]\n"
    "role = chief_executive\n"
    "period = 1d\n";

const char *ics_policy_default_text(void)
{
    return s_default_text;
}

/* ---------------------------------------------------------------- names */

static const struct {
    Ics__V1__Decision d;
    const char *name, *title;
} s_decisions[] = {
    {ICS__V1__DECISION__DECISION_PLAN_ADOPT, "plan.adopt", "Adopt a plan version"},
    {ICS__V1__DECISION__DECISION_AMENDMENT_ACCEPT, "amendment.accept",
     "Accept an amendment to a plan"},
    {ICS__V1__DECISION__DECISION_CONSULTATION_OPEN, "consultation.open",
     "Open a consultation round"},
    {ICS__V1__DECISION__DECISION_CONSULTATION_CLOSE, "consultation.close",
     "Close a consultation round early"},
    {ICS__V1__DECISION__DECISION_MEMBER_ADMIT, "member.admit", "Admit a partner organisation"},
    {ICS__V1__DECISION__DECISION_MEMBER_REMOVE, "member.remove",
     "Remove a partner organisation"},
    {ICS__V1__DECISION__DECISION_POLICY_CHANGE, "policy.change",
     "Change this scheme of reservation and delegation"},
    {ICS__V1__DECISION__DECISION_AID_APPROVE, "aid.approve",
     "Approve mutual aid above the threshold"},
};

#define S_N_DECISIONS (sizeof s_decisions / sizeof s_decisions[0])

const char *ics_decision_name(Ics__V1__Decision d)
{
    for (size_t i = 0; i < S_N_DECISIONS; i++)
        if (s_decisions[i].d == d)
            return s_decisions[i].name;
    return NULL;
}

const char *ics_decision_title(Ics__V1__Decision d)
{
    for (size_t i = 0; i < S_N_DECISIONS; i++)
        if (s_decisions[i].d == d)
            return s_decisions[i].title;
    return "unknown decision";
}

bool ics_decision_parse(const char *name, Ics__V1__Decision *out)
{
    for (size_t i = 0; i < S_N_DECISIONS; i++)
        if (strcmp(s_decisions[i].name, name) == 0) {
            *out = s_decisions[i].d;
            return true;
        }
    return false;
}

const char *ics_threshold_title(Ics__V1__Threshold t)
{
    switch (t) {
    case ICS__V1__THRESHOLD__THRESHOLD_SIMPLE_MAJORITY:
        return "simple majority";
    case ICS__V1__THRESHOLD__THRESHOLD_TWO_THIRDS:
        return "two thirds";
    case ICS__V1__THRESHOLD__THRESHOLD_UNANIMITY:
        return "unanimity";
    default:
        return "unknown threshold";
    }
}

static bool s_threshold_parse(const char *s, Ics__V1__Threshold *out)
{
    if (strcmp(s, "simple_majority") == 0)
        *out = ICS__V1__THRESHOLD__THRESHOLD_SIMPLE_MAJORITY;
    else if (strcmp(s, "two_thirds") == 0)
        *out = ICS__V1__THRESHOLD__THRESHOLD_TWO_THIRDS;
    else if (strcmp(s, "unanimity") == 0)
        *out = ICS__V1__THRESHOLD__THRESHOLD_UNANIMITY;
    else
        return false;
    return true;
}

/* ---------------------------------------------------------------- checks */

/* Role, body and rule ids: a lower-case letter, then [a-z0-9_.-]. */
static bool s_valid_pid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= ICS_POLICY_ID_MAX || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return false;
    }
    return true;
}

/* One line of text people read: no control characters. */
static bool s_valid_text(const char *s, bool required)
{
    size_t n = strlen(s);
    if ((required && n == 0) || n >= ICS_POLICY_TEXT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

/* A subject as in declared interests: printable, no spaces. */
static bool s_valid_subject(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static const Ics__V1__RoleDef *s_role(const Ics__V1__Policy *p, const char *id)
{
    for (size_t i = 0; i < p->n_roles; i++)
        if (strcmp(p->roles[i]->id, id) == 0)
            return p->roles[i];
    return NULL;
}

static const Ics__V1__Body *s_body(const Ics__V1__Policy *p, const char *id)
{
    for (size_t i = 0; i < p->n_bodies; i++)
        if (strcmp(p->bodies[i]->id, id) == 0)
            return p->bodies[i];
    return NULL;
}

/* "a|b|c": each alternative a role of p. */
static bool s_alternatives_ok(const Ics__V1__Policy *p, const char *alts, char *bad, size_t size)
{
    char buf[256];
    char *save = NULL;

    if (!ics_strcpy(buf, sizeof buf, alts) || alts[0] == '\0') {
        snprintf(bad, size, "%.60s", alts);
        return false;
    }
    for (char *t = strtok_r(buf, "|", &save); t != NULL; t = strtok_r(NULL, "|", &save))
        if (s_role(p, t) == NULL) {
            snprintf(bad, size, "%.60s", t);
            return false;
        }
    return alts[strlen(alts) - 1] != '|' && alts[0] != '|' && strstr(alts, "||") == NULL;
}

enum { S_AT_POLICY, S_AT_ROLE, S_AT_BODY, S_AT_RULE };

static bool s_check(const Ics__V1__Policy *p, char *why, size_t size, int *where, size_t *index)
{
    char bad[128];

    *where = S_AT_POLICY;
    *index = 0;
#define FAIL(...)                                                                       \
    do {                                                                                \
        snprintf(why, size, __VA_ARGS__);                                               \
        return false;                                                                   \
    } while (0)
    if (!s_valid_text(p->name, true))
        FAIL("the policy needs a name (one line, under %d bytes)", ICS_POLICY_TEXT_MAX);
    if (!s_valid_text(p->note, false) || !s_valid_text(p->aid_unit, false))
        FAIL("the policy's note and aid_unit must be one line under %d bytes",
             ICS_POLICY_TEXT_MAX);
    if (p->aid_threshold > INT64_MAX)
        FAIL("aid_threshold %" PRIu64 " is out of range", p->aid_threshold);
    if (p->n_roles == 0 || p->n_roles > ICS_POLICY_MAX_ROLES)
        FAIL("the policy defines %zu roles (1 to %d allowed)", p->n_roles, ICS_POLICY_MAX_ROLES);
    if (p->n_bodies > ICS_POLICY_MAX_BODIES)
        FAIL("the policy defines %zu bodies (at most %d)", p->n_bodies, ICS_POLICY_MAX_BODIES);
    if (p->n_rules == 0 || p->n_rules > ICS_POLICY_MAX_RULES)
        FAIL("the policy defines %zu rules (1 to %d allowed)", p->n_rules, ICS_POLICY_MAX_RULES);

    *where = S_AT_ROLE;
    for (size_t i = 0; i < p->n_roles; i++) {
        const Ics__V1__RoleDef *r = p->roles[i];
        *index = i;
        if (!s_valid_pid(r->id))
            FAIL("role id '%.40s' is not valid (a lower-case letter, then a-z 0-9 _ . -, at "
                 "most %d)", r->id, ICS_POLICY_ID_MAX - 1);
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->roles[j]->id, r->id) == 0)
                FAIL("role %s is defined twice", r->id);
        if (!s_valid_text(r->title, true))
            FAIL("role %s needs a title (one line)", r->id);
        if (strcmp(r->appointed_by, "own") != 0 && !s_valid_pid(r->appointed_by))
            FAIL("role %s: appointed_by '%.40s' must be 'own' or an organisation kind such as "
                 "icb", r->id, r->appointed_by);
        if (r->n_holder_kinds > ICS_POLICY_MAX_LIST)
            FAIL("role %s lists more than %d holder kinds", r->id, ICS_POLICY_MAX_LIST);
        for (size_t k = 0; k < r->n_holder_kinds; k++)
            if (!s_valid_pid(r->holder_kinds[k]))
                FAIL("role %s: holder kind '%.40s' is not an organisation kind", r->id,
                     r->holder_kinds[k]);
        if (r->max_holders > 10000 || r->max_per_org > 10000)
            FAIL("role %s: max and max_per_org must be at most 10000", r->id);
    }

    *where = S_AT_BODY;
    for (size_t i = 0; i < p->n_bodies; i++) {
        const Ics__V1__Body *b = p->bodies[i];
        *index = i;
        if (!s_valid_pid(b->id))
            FAIL("body id '%.40s' is not valid (a lower-case letter, then a-z 0-9 _ . -)", b->id);
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->bodies[j]->id, b->id) == 0)
                FAIL("body %s is defined twice", b->id);
        if (!s_valid_text(b->name, true))
            FAIL("body %s needs a name (one line)", b->id);
        if (!s_valid_pid(b->kind))
            FAIL("body %s: kind '%.40s' is not valid (board, committee, joint_committee ...)",
                 b->id, b->kind);
        if (!s_valid_text(b->note, false))
            FAIL("body %s: note must be one line", b->id);
        if (b->n_roles == 0 || b->n_roles > ICS_POLICY_MAX_LIST)
            FAIL("body %s lists %zu roles (1 to %d allowed)", b->id, b->n_roles,
                 ICS_POLICY_MAX_LIST);
        for (size_t k = 0; k < b->n_roles; k++)
            if (s_role(p, b->roles[k]) == NULL)
                FAIL("body %s: no role '%.40s' in this policy", b->id, b->roles[k]);
        if (b->n_orgs > ICS_POLICY_MAX_LIST)
            FAIL("body %s lists more than %d organisations", b->id, ICS_POLICY_MAX_LIST);
        for (size_t k = 0; k < b->n_orgs; k++)
            if (!ics_valid_id(b->orgs[k], ICS_ORG_MAX))
                FAIL("body %s: '%.40s' is not an organisation id", b->id, b->orgs[k]);
    }

    *where = S_AT_RULE;
    for (size_t i = 0; i < p->n_rules; i++) {
        const Ics__V1__Rule *r = p->rules[i];
        bool individual = r->role[0] != '\0';
        *index = i;
        if (!s_valid_pid(r->id))
            FAIL("rule id '%.40s' is not valid (a lower-case letter, then a-z 0-9 _ . -)", r->id);
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->rules[j]->id, r->id) == 0)
                FAIL("rule %s is defined twice", r->id);
        if (ics_decision_name(r->decision) == NULL)
            FAIL("rule %s: unknown decision %d", r->id, (int)r->decision);
        if ((r->body[0] != '\0') == individual)
            FAIL("rule %s needs exactly one of body (a body votes) or role (one person "
                 "decides)", r->id);
        if (!individual && s_body(p, r->body) == NULL)
            FAIL("rule %s: no body '%.40s' in this policy", r->id, r->body);
        if (individual && s_role(p, r->role) == NULL)
            FAIL("rule %s: no role '%.40s' in this policy", r->id, r->role);
        if (r->n_proposers > ICS_POLICY_MAX_LIST || r->n_quorum_roles > ICS_POLICY_MAX_LIST)
            FAIL("rule %s: lists are limited to %d entries", r->id, ICS_POLICY_MAX_LIST);
        for (size_t k = 0; k < r->n_proposers; k++)
            if (s_role(p, r->proposers[k]) == NULL)
                FAIL("rule %s: proposers: no role '%.40s' in this policy", r->id,
                     r->proposers[k]);
        if (individual && (r->quorum_count != 0 || r->quorum_den != 0 ||
                           r->n_quorum_roles != 0 ||
                           r->threshold != ICS__V1__THRESHOLD__THRESHOLD_SIMPLE_MAJORITY))
            FAIL("rule %s is decided by one person (role %s): quorum and threshold do not "
                 "apply", r->id, r->role);
        if (r->quorum_den == 0 && r->quorum_num != 0)
            FAIL("rule %s: quorum fraction has no denominator", r->id);
        if (r->quorum_den != 0 &&
            (r->quorum_num == 0 || r->quorum_num > r->quorum_den || r->quorum_den > 1000))
            FAIL("rule %s: quorum %u/%u must be a fraction from 1/1000 to 1", r->id,
                 r->quorum_num, r->quorum_den);
        if (r->quorum_count > 10000)
            FAIL("rule %s: quorum count %u is more than 10000", r->id, r->quorum_count);
        for (size_t k = 0; k < r->n_quorum_roles; k++)
            if (!s_alternatives_ok(p, r->quorum_roles[k], bad, sizeof bad))
                FAIL("rule %s: quorum_roles: '%s' is not a role of this policy", r->id, bad);
        if (r->threshold != ICS__V1__THRESHOLD__THRESHOLD_SIMPLE_MAJORITY &&
            r->threshold != ICS__V1__THRESHOLD__THRESHOLD_TWO_THIRDS &&
            r->threshold != ICS__V1__THRESHOLD__THRESHOLD_UNANIMITY)
            FAIL("rule %s: unknown threshold %d", r->id, (int)r->threshold);
        if (r->period_ms < 1000 || r->period_ms > ICS_POLICY_PERIOD_MAX)
            FAIL("rule %s: voting period must be from 1s to 366d", r->id);
        if (r->scope[0] != '\0' && !s_valid_subject(r->scope))
            FAIL("rule %s: scope '%.40s' must be a subject without spaces, at most 64 bytes",
                 r->id, r->scope);
        if (r->up_to != 0 && r->decision != ICS__V1__DECISION__DECISION_AID_APPROVE)
            FAIL("rule %s: up_to applies only to aid.approve", r->id);
        if (r->up_to > INT64_MAX)
            FAIL("rule %s: up_to is out of range", r->id);
        if (!s_valid_text(r->note, false))
            FAIL("rule %s: note must be one line", r->id);
    }

    *where = S_AT_POLICY;
    *index = 0;
    for (size_t i = 0; i < S_N_DECISIONS; i++) {
        bool covered = false;
        if (s_decisions[i].d == ICS__V1__DECISION__DECISION_AID_APPROVE)
            continue;
        for (size_t j = 0; j < p->n_rules && !covered; j++)
            covered = p->rules[j]->decision == s_decisions[i].d && p->rules[j]->scope[0] == '\0';
        if (!covered)
            FAIL("no rule decides %s for every case: add a [rule] with decision = %s and no "
                 "scope", s_decisions[i].name, s_decisions[i].name);
    }
#undef FAIL
    return true;
}

bool ics_policy_valid(const Ics__V1__Policy *p, char *why, size_t why_size)
{
    int where;
    size_t index;
    return s_check(p, why, why_size, &where, &index);
}

/* ---------------------------------------------------------------- building */

typedef struct {
    const char *name;         /* file name for messages */
    int line;
    ics_err_t *err;
    bool failed;
    Ics__V1__Policy *p;
    int section;              /* S_AT_*, -1 before any */
    void *cur;                /* the message of the current section */
    int policy_line;
    int *role_lines, *body_lines, *rule_lines;
    uint32_t seen;            /* keys already given in this section (bit per key) */
    bool policy_seen;
} s_parser_t;

static int s_fail(s_parser_t *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int s_fail(s_parser_t *ps, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!ps->failed)
        ics_err(ps->err, ICS_ECONFIG, "%s:%d: %s", ps->name, ps->line, msg);
    ps->failed = true;
    return ICS_ECONFIG;
}

static char *s_dup(const char *s)
{
    return strdup(s);
}

/* Appends a copy of s to a repeated string field. */
static int s_push(char ***arr, size_t *n, const char *s)
{
    char **a = realloc(*arr, (*n + 1) * sizeof *a);
    if (a == NULL)
        return ICS_ENOMEM;
    *arr = a;
    a[*n] = s_dup(s);
    if (a[*n] == NULL)
        return ICS_ENOMEM;
    (*n)++;
    return ICS_OK;
}

/* Appends a message to a repeated field, remembering the line it starts at. */
static int s_push_msg(void ***arr, size_t *n, void *m, int line, int **lines_p)
{
    void **a = realloc(*arr, (*n + 1) * sizeof *a);
    int *l;
    if (a == NULL)
        return ICS_ENOMEM;
    *arr = a;
    l = realloc(*lines_p, (*n + 1) * sizeof *l);
    if (l == NULL)
        return ICS_ENOMEM;
    *lines_p = l;
    a[*n] = m;
    l[*n] = line;
    (*n)++;
    return ICS_OK;
}

static char *s_trim(char *s)
{
    char *e;
    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        e--;
    *e = '\0';
    return s;
}

/* A space-separated list into a repeated string field. */
static int s_list(s_parser_t *ps, const char *key, const char *value, char ***arr, size_t *n,
                  bool (*valid)(const char *), const char *what)
{
    char buf[S_LINE_MAX];
    char *save = NULL;

    if (*n != 0)
        return s_fail(ps, "%s given twice", key);
    ics_strcpy(buf, sizeof buf, value);
    for (char *t = strtok_r(buf, " \t,", &save); t != NULL; t = strtok_r(NULL, " \t,", &save)) {
        if (valid != NULL && !valid(t))
            return s_fail(ps, "%s: '%s' is not %s", key, t, what);
        if (*n >= ICS_POLICY_MAX_LIST)
            return s_fail(ps, "%s: more than %d entries", key, ICS_POLICY_MAX_LIST);
        for (size_t i = 0; i < *n; i++)
            if (strcmp((*arr)[i], t) == 0)
                return s_fail(ps, "%s: '%s' listed twice", key, t);
        if (s_push(arr, n, t) != ICS_OK)
            return ICS_ENOMEM;
    }
    return ICS_OK;
}

static bool s_valid_org(const char *s)
{
    return ics_valid_id(s, ICS_ORG_MAX);
}

static bool s_valid_alts(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= 256 || s[0] == '|' || s[n - 1] == '|' || strstr(s, "||") != NULL)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '.' || s[i] == '-' || s[i] == '|'))
            return false;
    return true;
}

static int s_u64(s_parser_t *ps, const char *key, const char *v, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    unsigned long long x;

    errno = 0;
    if (v[0] < '0' || v[0] > '9')
        return s_fail(ps, "%s: '%s' is not a whole number", key, v);
    x = strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0' || x > max)
        return s_fail(ps, "%s: '%s' is not a whole number from 0 to %" PRIu64, key, v, max);
    *out = x;
    return ICS_OK;
}

/* "14d", "36h", "90m", "45s", or combinations such as "1d12h". */
static int s_period(s_parser_t *ps, const char *key, const char *v, uint64_t *out)
{
    uint64_t total = 0;
    const char *s = v;

    if (*s == '\0')
        return s_fail(ps, "%s needs a value such as 14d, 36h, 90m or 45s", key);
    while (*s != '\0') {
        uint64_t n = 0, mult;
        if (*s < '0' || *s > '9')
            return s_fail(ps, "%s: '%s' is not a period (e.g. 14d, 36h, 90m, 45s)", key, v);
        while (*s >= '0' && *s <= '9') {
            n = n * 10 + (uint64_t)(*s - '0');
            if (n > 1000000)
                return s_fail(ps, "%s: '%s' is too long (at most 366d)", key, v);
            s++;
        }
        switch (*s) {
        case 'd': mult = 86400000ull; break;
        case 'h': mult = 3600000ull; break;
        case 'm': mult = 60000ull; break;
        case 's': mult = 1000ull; break;
        default:
            return s_fail(ps, "%s: '%s' needs a unit after each number (d, h, m or s)", key, v);
        }
        s++;
        total += n * mult;
        if (total > ICS_POLICY_PERIOD_MAX)
            return s_fail(ps, "%s: '%s' is too long (at most 366d)", key, v);
    }
    if (total < 1000)
        return s_fail(ps, "%s: '%s' is shorter than 1s", key, v);
    *out = total;
    return ICS_OK;
}

/* "N", "N/D" or both, e.g. "3 1/2": at least 3 votes and half the eligible. */
static int s_quorum(s_parser_t *ps, const char *v, Ics__V1__Rule *r)
{
    char buf[128];
    char *save = NULL;
    bool count = false, frac = false;

    if (!ics_strcpy(buf, sizeof buf, v) || v[0] == '\0')
        return s_fail(ps, "quorum: expected a count (4), a fraction of the eligible (1/2) or "
                          "both (4 1/2)");
    for (char *t = strtok_r(buf, " \t", &save); t != NULL; t = strtok_r(NULL, " \t", &save)) {
        unsigned a = 0, b = 0;
        char tail;
        if (sscanf(t, "%u/%u%c", &a, &b, &tail) == 2) {
            if (frac)
                return s_fail(ps, "quorum: two fractions in '%s'", v);
            if (b == 0 || a == 0 || a > b || b > 1000)
                return s_fail(ps, "quorum: '%s' must be a fraction from 1/1000 to 1/1", t);
            r->quorum_num = a;
            r->quorum_den = b;
            frac = true;
        } else if (sscanf(t, "%u%c", &a, &tail) == 1 && t[0] >= '0' && t[0] <= '9') {
            if (count)
                return s_fail(ps, "quorum: two counts in '%s'", v);
            if (a > 10000)
                return s_fail(ps, "quorum: count %u is more than 10000", a);
            r->quorum_count = a;
            count = true;
        } else {
            return s_fail(ps, "quorum: '%s' is neither a count (4) nor a fraction (1/2)", t);
        }
    }
    return ICS_OK;
}

static bool s_yes(const char *v, bool *out)
{
    if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0) {
        *out = true;
        return true;
    }
    if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0) {
        *out = false;
        return true;
    }
    return false;
}

static bool s_valid_kind(const char *s)
{
    return s_valid_pid(s);
}

/* Keys of each section; the index is the bit in s_parser_t.seen. */
static const char *const s_policy_keys[] = {"name", "note", "aid_threshold", "aid_unit", NULL};
static const char *const s_role_keys[] = {"title", "appointed_by", "holders", "max",
                                          "max_per_org", "scoped", NULL};
static const char *const s_body_keys[] = {"name", "kind", "roles", "orgs", "note", NULL};
static const char *const s_rule_keys[] = {"decision", "body", "role", "proposers", "quorum",
                                          "quorum_roles", "threshold", "period", "scope",
                                          "up_to", "note", NULL};

static int s_key_index(s_parser_t *ps, const char *const *keys, const char *key,
                       const char *section)
{
    char list[256] = "";
    for (int i = 0; keys[i] != NULL; i++) {
        if (strcmp(keys[i], key) == 0) {
            if (ps->seen & (1u << i))
                return s_fail(ps, "%s given twice in this [%s] section", key, section);
            ps->seen |= 1u << i;
            return i;
        }
    }
    for (int i = 0; keys[i] != NULL; i++) {
        strncat(list, keys[i], sizeof list - strlen(list) - 1);
        if (keys[i + 1] != NULL)
            strncat(list, ", ", sizeof list - strlen(list) - 1);
    }
    return s_fail(ps, "unknown key '%s' in a [%s] section (known: %s)", key, section, list);
}

static int s_text_value(s_parser_t *ps, const char *key, const char *v, bool required,
                        char **field)
{
    if (!s_valid_text(v, required))
        return s_fail(ps, "%s: %s", key,
                      v[0] == '\0' ? "needs a value"
                                   : "must be one line of text under 512 bytes");
    *field = s_dup(v);
    return *field == NULL ? ICS_ENOMEM : ICS_OK;
}

static int s_policy_key(s_parser_t *ps, const char *key, const char *v)
{
    Ics__V1__Policy *p = ps->p;
    int k = s_key_index(ps, s_policy_keys, key, "policy");
    if (k < 0)
        return k;
    switch (k) {
    case 0: return s_text_value(ps, key, v, true, &p->name);
    case 1: return s_text_value(ps, key, v, false, &p->note);
    case 2: return s_u64(ps, key, v, INT64_MAX, &p->aid_threshold);
    default: return s_text_value(ps, key, v, false, &p->aid_unit);
    }
}

static int s_role_key(s_parser_t *ps, const char *key, const char *v)
{
    Ics__V1__RoleDef *r = ps->cur;
    uint64_t n = 0;
    int rc, k = s_key_index(ps, s_role_keys, key, "role");
    if (k < 0)
        return k;
    switch (k) {
    case 0:
        return s_text_value(ps, key, v, true, &r->title);
    case 1:
        if (strcmp(v, "own") != 0 && !s_valid_kind(v))
            return s_fail(ps, "appointed_by: '%s' must be 'own' (the person's organisation) "
                              "or an organisation kind such as icb", v);
        free(r->appointed_by);
        r->appointed_by = s_dup(v);
        return r->appointed_by == NULL ? ICS_ENOMEM : ICS_OK;
    case 2:
        return s_list(ps, key, v, &r->holder_kinds, &r->n_holder_kinds, s_valid_kind,
                      "an organisation kind (icb, trust, local_authority ...)");
    case 3:
    case 4:
        rc = s_u64(ps, key, v, 10000, &n);
        if (rc == ICS_OK) {
            if (k == 3)
                r->max_holders = (uint32_t)n;
            else
                r->max_per_org = (uint32_t)n;
        }
        return rc;
    default: {
        bool yes = false;
        if (!s_yes(v, &yes))
            return s_fail(ps, "scoped: '%s' must be yes or no", v);
        r->scoped = yes;
        return ICS_OK;
    }
    }
}

static int s_body_key(s_parser_t *ps, const char *key, const char *v)
{
    Ics__V1__Body *b = ps->cur;
    int k = s_key_index(ps, s_body_keys, key, "body");
    if (k < 0)
        return k;
    switch (k) {
    case 0:
        return s_text_value(ps, key, v, true, &b->name);
    case 1:
        if (!s_valid_kind(v))
            return s_fail(ps, "kind: '%s' is not valid (board, committee, joint_committee ...)",
                          v);
        free(b->kind);
        b->kind = s_dup(v);
        return b->kind == NULL ? ICS_ENOMEM : ICS_OK;
    case 2:
        return s_list(ps, key, v, &b->roles, &b->n_roles, s_valid_pid, "a role id");
    case 3:
        return s_list(ps, key, v, &b->orgs, &b->n_orgs, s_valid_org,
                      "an organisation id (ODS code)");
    default:
        return s_text_value(ps, key, v, false, &b->note);
    }
}

static int s_rule_key(s_parser_t *ps, const char *key, const char *v)
{
    Ics__V1__Rule *r = ps->cur;
    int k = s_key_index(ps, s_rule_keys, key, "rule");
    if (k < 0)
        return k;
    switch (k) {
    case 0:
        if (!ics_decision_parse(v, &r->decision))
            return s_fail(ps, "decision: '%s' is not one of plan.adopt, amendment.accept, "
                              "consultation.open, consultation.close, member.admit, "
                              "member.remove, policy.change, aid.approve", v);
        return ICS_OK;
    case 1:
    case 2:
        if (!s_valid_pid(v))
            return s_fail(ps, "%s: '%s' is not a %s id", key, v, k == 1 ? "body" : "role");
        if (k == 1)
            r->body = s_dup(v);
        else
            r->role = s_dup(v);
        return (k == 1 ? r->body : r->role) == NULL ? ICS_ENOMEM : ICS_OK;
    case 3:
        return s_list(ps, key, v, &r->proposers, &r->n_proposers, s_valid_pid, "a role id");
    case 4:
        return s_quorum(ps, v, r);
    case 5:
        return s_list(ps, key, v, &r->quorum_roles, &r->n_quorum_roles, s_valid_alts,
                      "a role id or alternatives such as chair|vice_chair");
    case 6:
        if (!s_threshold_parse(v, &r->threshold))
            return s_fail(ps, "threshold: '%s' must be simple_majority, two_thirds or "
                              "unanimity", v);
        return ICS_OK;
    case 7:
        return s_period(ps, key, v, &r->period_ms);
    case 8:
        if (!s_valid_subject(v))
            return s_fail(ps, "scope: '%s' must be a subject such as org:E06000057 (no spaces, "
                              "at most 64 bytes)", v);
        r->scope = s_dup(v);
        return r->scope == NULL ? ICS_ENOMEM : ICS_OK;
    case 9:
        return s_u64(ps, key, v, INT64_MAX, &r->up_to);
    default:
        return s_text_value(ps, key, v, false, &r->note);
    }
}

/* A new [role], [body] or [rule] section's message, appended to its list
 * (with the line it starts on) and made the current section. NULL when
 * out of memory. */
static void *s_open_section(s_parser_t *ps, int section, const ProtobufCMessageDescriptor *d,
                            void ***arr, size_t *n, int **lines)
{
    void *m = calloc(1, d->sizeof_message);

    if (m == NULL)
        return NULL;
    protobuf_c_message_init(d, m);
    if (s_push_msg(arr, n, m, ps->line, lines) != ICS_OK) {
        free(m);
        return NULL;
    }
    ps->section = section;
    ps->cur = m;
    return m;
}

static int s_section(s_parser_t *ps, char *head)
{
    char *type = head, *label, *sp;
    Ics__V1__Policy *p = ps->p;

    label = strpbrk(head, " \t");
    if (label != NULL) {
        *label++ = '\0';
        label = s_trim(label);
    } else {
        label = head + strlen(head);
    }
    ps->seen = 0;
    if (strcmp(type, "policy") == 0) {
        if (label[0] != '\0')
            return s_fail(ps, "[policy] takes no name");
        if (ps->policy_seen)
            return s_fail(ps, "a second [policy] section");
        ps->policy_seen = true;
        ps->policy_line = ps->line;
        ps->section = S_AT_POLICY;
        ps->cur = p;
        return ICS_OK;
    }
    sp = strpbrk(label, " \t");
    if (label[0] == '\0' || sp != NULL)
        return s_fail(ps, "[%s] needs one id, e.g. [%s %s]", type, type,
                      strcmp(type, "role") == 0 ? "chair" : strcmp(type, "body") == 0
                                                                ? "board" : "plan.adopt");
    if (!s_valid_pid(label))
        return s_fail(ps, "'%s' is not a valid id (a lower-case letter, then a-z 0-9 _ . -, at "
                          "most %d)", label, ICS_POLICY_ID_MAX - 1);
    if (strcmp(type, "role") == 0) {
        Ics__V1__RoleDef *r = s_open_section(ps, S_AT_ROLE, &ics__v1__role_def__descriptor,
                                             (void ***)&p->roles, &p->n_roles, &ps->role_lines);
        if (r == NULL)
            return ICS_ENOMEM;
        r->id = s_dup(label);
        r->appointed_by = s_dup("own");
        return r->id == NULL || r->appointed_by == NULL ? ICS_ENOMEM : ICS_OK;
    }
    if (strcmp(type, "body") == 0) {
        Ics__V1__Body *b = s_open_section(ps, S_AT_BODY, &ics__v1__body__descriptor,
                                          (void ***)&p->bodies, &p->n_bodies, &ps->body_lines);
        if (b == NULL)
            return ICS_ENOMEM;
        b->id = s_dup(label);
        b->kind = s_dup("board");
        return b->id == NULL || b->kind == NULL ? ICS_ENOMEM : ICS_OK;
    }
    if (strcmp(type, "rule") == 0) {
        Ics__V1__Rule *r = s_open_section(ps, S_AT_RULE, &ics__v1__rule__descriptor,
                                          (void ***)&p->rules, &p->n_rules, &ps->rule_lines);
        if (r == NULL)
            return ICS_ENOMEM;
        r->id = s_dup(label);
        /* [rule plan.adopt] decides plan.adopt unless decision = says otherwise. */
        ics_decision_parse(label, &r->decision);
        return r->id == NULL ? ICS_ENOMEM : ICS_OK;
    }
    return s_fail(ps, "unknown section [%s] (expected [policy], [role ID], [body ID] or "
                      "[rule ID])", type);
}

static int s_line(s_parser_t *ps, char *line)
{
    char *s = s_trim(line), *eq, *key, *value;

    if (*s == '\0' || *s == '#' || *s == ';')
        return ICS_OK;
    if (*s == '[') {
        char *end = strchr(s, ']');
        if (end == NULL || s_trim(end + 1)[0] != '\0')
            return s_fail(ps, "a section header must be [type id] alone on its line");
        *end = '\0';
        return s_section(ps, s_trim(s + 1));
    }
    eq = strchr(s, '=');
    if (eq == NULL)
        return s_fail(ps, "expected 'key = value', a [section] or a # comment");
    *eq = '\0';
    key = s_trim(s);
    value = s_trim(eq + 1);
    if (key[0] == '\0')
        return s_fail(ps, "a key is missing before '='");
    switch (ps->section) {
    case S_AT_POLICY: return s_policy_key(ps, key, value);
    case S_AT_ROLE: return s_role_key(ps, key, value);
    case S_AT_BODY: return s_body_key(ps, key, value);
    case S_AT_RULE: return s_rule_key(ps, key, value);
    default: return s_fail(ps, "'%s' comes before any [section]", key);
    }
}

int ics_policy_parse(const char *text, const char *name, Ics__V1__Policy **out, ics_err_t *err)
{
    s_parser_t ps;
    char line[S_LINE_MAX + 2];
    const char *s = text;
    char why[300];
    int where = 0, rc = ICS_OK;
    size_t index = 0;

    *out = NULL;
    memset(&ps, 0, sizeof ps);
    ps.name = name;
    ps.err = err;
    ps.section = -1;
    ps.p = calloc(1, sizeof *ps.p);
    if (ps.p == NULL)
        return ics_err(err, ICS_ENOMEM, "out of memory");
    ics__v1__policy__init(ps.p);
    while (*s != '\0' && rc == ICS_OK) {
        const char *nl = strchr(s, '\n');
        size_t n = nl != NULL ? (size_t)(nl - s) : strlen(s);
        ps.line++;
        if (n > S_LINE_MAX) {
            rc = s_fail(&ps, "line is longer than %d characters", S_LINE_MAX);
            break;
        }
        if (memchr(s, '\0', n) != NULL) {
            rc = s_fail(&ps, "NUL byte in the line");
            break;
        }
        memcpy(line, s, n);
        line[n] = '\0';
        rc = s_line(&ps, line);
        s += n + (nl != NULL ? 1 : 0);
    }
    if (rc == ICS_ENOMEM) {
        ics_err(err, ICS_ENOMEM, "out of memory");
        goto out;
    }
    if (rc != ICS_OK)
        goto out;
    if (!ps.policy_seen) {
        ps.line = 1;
        rc = s_fail(&ps, "no [policy] section (it names the scheme)");
        goto out;
    }
    for (size_t i = 0; i < ps.p->n_rules; i++) {
        if (ps.p->rules[i]->decision == ICS__V1__DECISION__DECISION_UNSPECIFIED) {
            ps.line = ps.rule_lines[i];
            rc = s_fail(&ps, "[rule %s] needs decision = (plan.adopt, amendment.accept, ...) "
                             "since its id is not a decision name", ps.p->rules[i]->id);
            goto out;
        }
    }
    if (!s_check(ps.p, why, sizeof why, &where, &index)) {
        ps.line = where == S_AT_ROLE ? ps.role_lines[index]
                : where == S_AT_BODY ? ps.body_lines[index]
                : where == S_AT_RULE ? ps.rule_lines[index]
                : ps.policy_line;
        rc = s_fail(&ps, "%s", why);
        goto out;
    }
    *out = ps.p;
    ps.p = NULL;
out:
    if (ps.p != NULL)
        ics__v1__policy__free_unpacked(ps.p, NULL);
    free(ps.role_lines);
    free(ps.body_lines);
    free(ps.rule_lines);
    return rc;
}

int ics_policy_load(const char *path, Ics__V1__Policy **out, ics_err_t *err)
{
    FILE *f = NULL;
    char *text = NULL;
    size_t n = 0;
    int rc;

    *out = NULL;
    f = fopen(path, "r");
    if (f == NULL)
        return ics_err(err, ICS_EIO, "%s: %s", path, strerror(errno));
    text = malloc(S_FILE_MAX + 1);
    if (text == NULL) {
        rc = ics_err(err, ICS_ENOMEM, "out of memory");
        goto out;
    }
    n = fread(text, 1, S_FILE_MAX + 1, f);
    if (ferror(f)) {
        rc = ics_err(err, ICS_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (n > S_FILE_MAX) {
        rc = ics_err(err, ICS_ECONFIG, "%s: larger than %u bytes", path, S_FILE_MAX);
        goto out;
    }
    text[n] = '\0';
    if (strlen(text) != n) {
        rc = ics_err(err, ICS_ECONFIG, "%s: contains a NUL byte; a policy file is text", path);
        goto out;
    }
    rc = ics_policy_parse(text, path, out, err);
out:
    free(text);
    if (f != NULL)
        fclose(f);
    return rc;
}

int ics_policy_default(Ics__V1__Policy **out)
{
    ics_err_t err;
    int rc = ics_policy_parse(s_default_text, "(built-in default policy)", out, &err);
    /* The text is ours and checked by the tests: only memory can fail. */
    return rc == ICS_OK ? ICS_OK : ICS_ENOMEM;
}
