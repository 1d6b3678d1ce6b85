/*
 * Motions and votes: the collective decisions of the scheme of reservation
 * and delegation. A motion asks for one decision (adopt a plan version,
 * accept an amendment, open or close a consultation, admit or remove a
 * member, change the scheme, approve mutual aid); the rule of the scheme in
 * force that covers it names who may propose it and who decides: a body by
 * vote (its electorate, quorum, threshold and voting period) or one role
 * holder acting alone. When a motion is carried the state machine carries
 * out its effect itself, in the same entry.
 *
 * Invariants:
 *   - the electorate, the rule and its quorum and threshold are fixed when
 *     the motion is proposed (a later change of roles or scheme does not
 *     move the goalposts); a member is entitled to vote only while they
 *     still hold one of the roles that put them in it;
 *   - a member with a declared interest in one of the motion's subjects is
 *     excluded: at proposal, or as soon as they declare it (striking a vote
 *     already cast); the record keeps the exclusion and its reason;
 *   - votes are kept, every one, with the signed entry that cast it; a
 *     member's vote is their latest unstruck one; an identical repeat is
 *     refused, a different one changes the vote while the motion is open;
 *   - the outcome is computed with integers only: quorum num/den of the
 *     whole electorate (excluded members count in the denominator but cannot
 *     be present), thresholds over votes for and against;
 *   - a motion closes at its deadline by the log's clock, or as soon as the
 *     votes not yet cast can no longer change its outcome; once closed it
 *     never changes; its effect is tried once, in a savepoint, and a failure
 *     is recorded (the vote stands);
 *   - membership changes only through fsm_members.c: a carried admission or
 *     removal authorises exactly one later MemberAdd (that org, that key) or
 *     MemberRemove, which ics_motions_take_admission/_removal consume
 *     (fsm_decisions.c, with ics_motions_lapse and ics_decision_carried:
 *     what other domains read or take of the motions' tables).
 *
 *   Motion:
 *                 MotionPropose                    Vote: s_vote() -> s_settle()
 *   (none) -----------------------> OPEN <-------+ (a changed vote too)
 *          s_propose(): proposer's   |  |  |  +---+
 *          role, electorate, rule    |  |  |
 *          (one person deciding and  |  |  | MotionWithdraw (its organisation):
 *          proposing: decided at     |  |  | s_withdraw()             -> WITHDRAWN
 *          once)                     |  |  |
 *                                    |  |  | what it decides about became impossible
 *                                    |  |  | (amendment withdrawn or superseded):
 *                                    |  |  | ics_motions_lapse()      -> LAPSED
 *                                    |  |
 *          outcome fixed: s_settle() |  | deadline: s_on_clock() -> s_close()
 *          -> s_close()              v  v
 *                             CARRIED: s_carry() carries out the effect
 *                                      (member.admit/remove: AUTHORISED until
 *                                      the MemberAdd/Remove: EXECUTED)
 *                             LOST:    amendment rejected; nothing else
 */
#include "fsm/fsm_motions.h"

#include "common/envelope.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_SUBJECTS 16
#define S_MAX_USER_SUBJECTS 8

static const char s_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS motions("
    " id INTEGER PRIMARY KEY,"         /* position proposed at */
    " decision INTEGER NOT NULL,"
    " title TEXT NOT NULL,"
    " text TEXT NOT NULL,"
    " proposal BLOB NOT NULL,"         /* packed MotionPropose */
    " target TEXT NOT NULL,"           /* what it decides about; '' if not exclusive */
    " org TEXT NOT NULL,"
    " person TEXT NOT NULL,"
    " entry_id BLOB NOT NULL,"
    " policy_version INTEGER NOT NULL,"
    " rule TEXT NOT NULL,"
    " rule_text TEXT NOT NULL,"
    " body TEXT NOT NULL,"
    " role TEXT NOT NULL,"
    " quorum_count INTEGER NOT NULL,"
    " quorum_num INTEGER NOT NULL,"
    " quorum_den INTEGER NOT NULL,"
    " quorum_roles TEXT NOT NULL,"     /* space-separated; '|' between alternatives */
    " threshold INTEGER NOT NULL,"
    " value INTEGER NOT NULL,"         /* aid.approve: the value */
    " opened_ms INTEGER NOT NULL,"
    " closes_ms INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN"
    "  ('open', 'carried', 'lost', 'lapsed', 'withdrawn')),"
    " closed_at INTEGER NOT NULL,"
    " closed_ms INTEGER NOT NULL,"
    " outcome TEXT NOT NULL,"
    " effect_state TEXT NOT NULL CHECK (effect_state IN"
    "  ('', 'done', 'authorised', 'executed', 'failed')),"
    " effect_note TEXT NOT NULL,"
    " executed_at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS motions_open ON motions(status, closes_ms);"
    "CREATE INDEX IF NOT EXISTS motions_target ON motions(target, status);"
    "CREATE TABLE IF NOT EXISTS motion_subjects("
    " motion INTEGER NOT NULL,"
    " subject TEXT NOT NULL,"
    " PRIMARY KEY (motion, subject));"
    "CREATE TABLE IF NOT EXISTS electorate("
    " motion INTEGER NOT NULL,"
    " org TEXT NOT NULL,"
    " person TEXT NOT NULL,"
    " roles TEXT NOT NULL,"            /* the body's roles they held, space-separated */
    " excluded INTEGER NOT NULL,"
    " interest TEXT NOT NULL,"
    " interest_text TEXT NOT NULL,"
    " interest_at INTEGER NOT NULL,"   /* position the interest was declared at */
    " excluded_at INTEGER NOT NULL,"
    " PRIMARY KEY (motion, org, person));"
    "CREATE TABLE IF NOT EXISTS votes("
    " motion INTEGER NOT NULL,"
    " org TEXT NOT NULL,"
    " person TEXT NOT NULL,"
    " seq INTEGER NOT NULL,"           /* the member's 1st, 2nd ... vote */
    " choice INTEGER NOT NULL,"
    " reason TEXT NOT NULL,"
    " role TEXT NOT NULL,"
    " position INTEGER NOT NULL,"
    " entry_id BLOB NOT NULL,"
    " clock_ms INTEGER NOT NULL,"
    " struck INTEGER NOT NULL,"        /* struck out: the voter declared an interest */
    " PRIMARY KEY (motion, org, person, seq));";

static int s_schema(ics_db_t *db)
{
    return ics_sql_exec(db, s_schema_sql);
}

/* ---------------------------------------------------------------- motion rows */

/* The proposal, for carrying out the effect. Free with
 * ics__v1__motion_propose__free_unpacked. */
static int s_proposal(ics_db_t *db, uint64_t id, Ics__V1__MotionPropose **out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *out = NULL;
    rc = ics_sql_query(db, &st, "SELECT proposal FROM motions WHERE id = ?1", "u", id);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK) {
        *out = ics__v1__motion_propose__unpack(NULL, (size_t)sqlite3_column_bytes(st, 0),
                                               sqlite3_column_blob(st, 0));
        if (*out == NULL)
            rc = ICS_EIO;
    }
    ics_sql_release(db, st);
    return rc;
}

/* ---------------------------------------------------------------- subjects */

typedef struct {
    char s[S_MAX_SUBJECTS][ICS_SUBJECT_MAX];
    char *p[S_MAX_SUBJECTS];
    size_t n;
} s_subjects_t;

/* Adds prefix+a (once; subjects compare without regard to case). */
static void s_subject_add(s_subjects_t *s, const char *prefix, const char *a)
{
    char buf[ICS_SUBJECT_MAX];
    snprintf(buf, sizeof buf, "%s%s", prefix, a);
    for (size_t i = 0; i < s->n; i++)
        if (ics_gov_subject_eq(s->s[i], buf))
            return;
    if (s->n < S_MAX_SUBJECTS) {
        ics_strcpy(s->s[s->n], ICS_SUBJECT_MAX, buf);
        s->p[s->n] = s->s[s->n];
        s->n++;
    }
}

static int s_subjects_load(ics_db_t *db, uint64_t motion, s_subjects_t *s)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(s, 0, sizeof *s);
    rc = ics_sql_query(db, &st, "SELECT subject FROM motion_subjects WHERE motion = ?1"
                                  " ORDER BY subject", "u", motion);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK)
        s_subject_add(s, "", (const char *)sqlite3_column_text(st, 0));
    ics_sql_release(db, st);
    return rc == ICS_ENOENT ? ICS_OK : rc;
}

/* ---------------------------------------------------------------- effects */

/* What carrying out a decision came to: the state and note recorded
 * against the motion, or (ICS_EREJECTED) why it could not be done. */
typedef struct {
    const char *state;      /* "done", or "authorised" awaiting a member command */
    char note[ICS_WHY_MAX];
    char why[ICS_WHY_MAX];
} s_effect_t;

static int s_effect_open(ics_apply_ctx_t *ctx, uint64_t motion,
                         const Ics__V1__MotionOpenConsultation *o, s_effect_t *e)
{
    int rc = ics_consult_open(ctx, motion, o, e->why, sizeof e->why);

    if (o->opens_ms > ctx->clock_ms) {
        char when[32];
        ics_gov_time(o->opens_ms, when);
        snprintf(e->note, sizeof e->note, "consultation %" PRIu64 " opens at %s", motion, when);
    } else {
        snprintf(e->note, sizeof e->note, "consultation %" PRIu64 " opened", motion);
    }
    return rc;
}

/* Authorises the MemberAdd that admits the organisation (fsm_members.c
 * writes the member, never a motion). */
static int s_effect_admit(ics_apply_ctx_t *ctx, const Ics__V1__MotionAdmitMember *a,
                          s_effect_t *e)
{
    ics_member_t cur;
    char pk[ICS_PUBKEY_TEXT_MAX];
    int rc;

    rc = ics_members_get(ctx->db, a->org, &cur);
    if (rc == ICS_OK) {
        snprintf(e->why, sizeof e->why, "%s is already a member", cur.org);
        return ICS_EREJECTED;
    }
    if (rc != ICS_ENOENT)
        return rc;
    e->state = "authorised";
    ics_pubkey_format(a->public_key.data, pk);
    snprintf(e->note, sizeof e->note, "awaiting: icsctl member add %s --kind %s --name NAME "
             "--endpoint tcp://HOST:PORT --key %s", a->org, a->kind, pk);
    return ICS_OK;
}

/* Authorises the MemberRemove, as s_effect_admit the MemberAdd. */
static int s_effect_remove(ics_apply_ctx_t *ctx, const Ics__V1__MotionRemoveMember *r,
                           s_effect_t *e)
{
    ics_member_t cur;
    int rc;

    rc = ics_members_get(ctx->db, r->org, &cur);
    if (rc == ICS_ENOENT) {
        snprintf(e->why, sizeof e->why, "%s is no longer a member", r->org);
        return ICS_EREJECTED;
    }
    if (rc != ICS_OK)
        return rc;
    e->state = "authorised";
    snprintf(e->note, sizeof e->note, "awaiting: icsctl member remove %s", r->org);
    return ICS_OK;
}

/* Carries out the decision of proposal p, carried as motion `motion`. */
static int s_effect(ics_apply_ctx_t *ctx, const Ics__V1__MotionPropose *p, uint64_t motion,
                    s_effect_t *e)
{
    int rc;

    switch (p->effect_case) {
    case ICS__V1__MOTION_PROPOSE__EFFECT_ADOPT_PLAN:
        rc = ics_plans_adopt(ctx, p->adopt_plan->plan, p->adopt_plan->version, motion, e->why,
                             sizeof e->why);
        snprintf(e->note, sizeof e->note, "plan %s version %u adopted", p->adopt_plan->plan,
                 p->adopt_plan->version);
        return rc;
    case ICS__V1__MOTION_PROPOSE__EFFECT_ACCEPT_AMENDMENT:
        rc = ics_plans_accept(ctx, p->accept_amendment->amendment, motion, e->why,
                              sizeof e->why);
        snprintf(e->note, sizeof e->note, "amendment %" PRIu64 " accepted",
                 p->accept_amendment->amendment);
        return rc;
    case ICS__V1__MOTION_PROPOSE__EFFECT_OPEN_CONSULTATION:
        return s_effect_open(ctx, motion, p->open_consultation, e);
    case ICS__V1__MOTION_PROPOSE__EFFECT_CLOSE_CONSULTATION:
        rc = ics_consult_close_early(ctx, p->close_consultation->consultation, motion, e->why,
                                     sizeof e->why);
        snprintf(e->note, sizeof e->note, "consultation %" PRIu64 " closed",
                 p->close_consultation->consultation);
        return rc;
    case ICS__V1__MOTION_PROPOSE__EFFECT_ADMIT_MEMBER:
        return s_effect_admit(ctx, p->admit_member, e);
    case ICS__V1__MOTION_PROPOSE__EFFECT_REMOVE_MEMBER:
        return s_effect_remove(ctx, p->remove_member, e);
    case ICS__V1__MOTION_PROPOSE__EFFECT_CHANGE_POLICY:
        rc = ics_policy_install(ctx, p->change_policy, motion, e->why, sizeof e->why);
        snprintf(e->note, sizeof e->note, "scheme changed");
        return rc;
    case ICS__V1__MOTION_PROPOSE__EFFECT_APPROVE_AID:
        snprintf(e->note, sizeof e->note,
                 "mutual aid offer %" PRIu64 " approved (value %" PRIu64 ")",
                 p->approve_aid->offer, p->approve_aid->value);
        return ICS_OK;
    default:
        snprintf(e->why, sizeof e->why, "unknown decision");
        return ICS_EREJECTED;
    }
}

/* Carries out a carried motion's decision. The vote stands whatever
 * happens; a failure is recorded against the motion. */
static int s_carry(ics_apply_ctx_t *ctx, const ics_motion_t *m)
{
    Ics__V1__MotionPropose *p = NULL;
    s_effect_t e = {.state = "done"};
    int rc;

    rc = s_proposal(ctx->db, m->id, &p);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_savepoint(ctx->db, "effect");
    if (rc != ICS_OK)
        goto out;
    rc = s_effect(ctx, p, m->id, &e);
    rc = ics_sql_savepoint_end(ctx->db, "effect", rc);
    if (rc == ICS_EREJECTED) {
        e.state = "failed";
        snprintf(e.note, sizeof e.note, "could not be carried out: %.220s", e.why);
        rc = ICS_OK;
    }
    if (rc == ICS_OK)
        rc = ics_sql_run(ctx->db, "UPDATE motions SET effect_state = ?2, effect_note = ?3"
                                   " WHERE id = ?1", "utt", m->id, e.state, e.note);
out:
    ics__v1__motion_propose__free_unpacked(p, NULL);
    return rc;
}

static int s_close(ics_apply_ctx_t *ctx, const ics_motion_t *m, int verdict, const char *why)
{
    int rc = ics_sql_run(ctx->db, "UPDATE motions SET status = ?2, closed_at = ?3,"
                                   " closed_ms = ?4, outcome = ?5 WHERE id = ?1",
                          "utuut", m->id, verdict == ICS_MOTION_CARRIED ? "carried" : "lost",
                          ctx->position, ctx->clock_ms, why);
    if (rc != ICS_OK)
        return rc;
    if (verdict == ICS_MOTION_CARRIED)
        return s_carry(ctx, m);
    if (m->decision == ICS__V1__DECISION__DECISION_AMENDMENT_ACCEPT) {
        Ics__V1__MotionPropose *p = NULL;
        rc = s_proposal(ctx->db, m->id, &p);
        if (rc == ICS_OK && p->effect_case == ICS__V1__MOTION_PROPOSE__EFFECT_ACCEPT_AMENDMENT)
            rc = ics_plans_reject(ctx, p->accept_amendment->amendment, m->id);
        if (p != NULL)
            ics__v1__motion_propose__free_unpacked(p, NULL);
    }
    return rc;
}

/* Closes the motion if its outcome is fixed (final: at its deadline). */
static int s_settle(ics_apply_ctx_t *ctx, uint64_t id, bool final)
{
    ics_motion_t m;
    ics_motions_tally_t t;
    char why[ICS_WHY_MAX * 2];
    int verdict, rc;

    rc = ics_motion_get(ctx->db, id, &m);
    if (rc != ICS_OK)
        return rc;
    if (strcmp(m.status, "open") != 0)
        return ICS_OK;
    rc = ics_motions_tally(ctx->db, &m, &t);
    if (rc != ICS_OK)
        return rc;
    verdict = ics_motions_judge(&m, &t, final, why, sizeof why);
    if (verdict == ICS_MOTION_UNDECIDED)
        return ICS_OK;
    return s_close(ctx, &m, verdict, why);
}

/* ---------------------------------------------------------------- proposing */

typedef struct {
    ics_db_t *db;
    uint64_t motion;
    const Ics__V1__Body *body;
    const char *role;
    s_subjects_t *subjects;
    unsigned n;
} s_elect_t;

static bool s_body_has_org(const Ics__V1__Body *b, const char *org)
{
    if (b == NULL || b->n_orgs == 0)
        return true;
    for (size_t i = 0; i < b->n_orgs; i++)
        if (strcmp(b->orgs[i], org) == 0)
            return true;
    return false;
}

/* Adds a role holder to the electorate (or their role to their row). */
static int s_elect_one(void *arg, const char *org, const char *person)
{
    s_elect_t *e = arg;
    uint64_t n = 0, declared = 0;
    bool found = false;
    char subject[ICS_SUBJECT_MAX] = "", text[ICS_LINE_MAX] = "";
    int rc;

    if (!s_body_has_org(e->body, org))
        return ICS_OK;
    rc = ics_sql_u64(e->db, &n, "SELECT count(*) FROM electorate WHERE motion = ?1 AND org = ?2"
                                " AND person = ?3", "utt", e->motion, org, person);
    if (rc != ICS_OK)
        return rc;
    if (n != 0)
        return ics_sql_run(e->db, "UPDATE electorate SET roles = roles || ' ' || ?4"
                                   " WHERE motion = ?1 AND org = ?2 AND person = ?3",
                            "uttt", e->motion, org, person, e->role);
    rc = ics_people_interest(e->db, org, person, e->subjects->p, e->subjects->n, &found, subject,
                             text, sizeof text, &declared);
    if (rc != ICS_OK)
        return rc;
    e->n++;
    return ics_sql_run(e->db, "INSERT INTO electorate(motion, org, person, roles, excluded,"
                               " interest, interest_text, interest_at, excluded_at)"
                               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        "utttittuu", e->motion, org, person, e->role, found ? 1 : 0, subject,
                        text, declared, found ? e->motion : (uint64_t)0);
}

static bool s_valid_key_like(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= ICS_POLICY_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '.' || s[i] == '-'))
            return false;
    return true;
}

/* What a proposal is about, as s_examine derives it from its effect: the
 * decision it asks for, its subjects (for declared interests and the rule),
 * the matter only one open motion may decide at a time ("" for none), the
 * title it gets unless it gives its own and, for aid.approve, the value. */
typedef struct {
    Ics__V1__Decision d;
    s_subjects_t subjects;
    char target[96];
    char title[ICS_LINE_MAX];
    uint64_t value;
} s_about_t;

/* A domain's check said no in `why` (ICS_EREJECTED): the refusal is its
 * words. Anything else passes through. */
static int s_refused(ics_apply_ctx_t *ctx, int rc, const char *why)
{
    if (rc == ICS_EREJECTED)
        return ics_reject(ctx, "%s", why);
    return rc;
}

static int s_about_adopt(ics_apply_ctx_t *ctx, const Ics__V1__MotionAdoptPlan *a,
                         s_about_t *ab)
{
    char why[ICS_WHY_MAX] = "";
    uint64_t consultation;
    int rc;

    if (!s_valid_key_like(a->plan))
        return ics_reject(ctx, "'%.40s' is not a plan id", a->plan);
    rc = ics_plans_check_adopt(ctx->db, a->plan, a->version, &consultation, why, sizeof why);
    s_subject_add(&ab->subjects, "plan:", a->plan);
    snprintf(ab->target, sizeof ab->target, "plan.adopt:%s", a->plan);
    snprintf(ab->title, sizeof ab->title, "Adopt plan %s version %u", a->plan, a->version);
    return s_refused(ctx, rc, why);
}

static int s_about_amendment(ics_apply_ctx_t *ctx, const Ics__V1__MotionAcceptAmendment *a,
                             s_about_t *ab)
{
    char why[ICS_WHY_MAX] = "", plan[ICS_POLICY_ID_MAX], org[ICS_ORG_MAX], id[24];
    int rc;

    rc = ics_plans_check_accept(ctx->db, a->amendment, plan, org, why, sizeof why);
    snprintf(id, sizeof id, "%" PRIu64, a->amendment);
    s_subject_add(&ab->subjects, "amendment:", id);
    if (plan[0] != '\0')
        s_subject_add(&ab->subjects, "plan:", plan);
    if (org[0] != '\0')
        s_subject_add(&ab->subjects, "org:", org);
    snprintf(ab->target, sizeof ab->target, "amendment:%s", id);
    snprintf(ab->title, sizeof ab->title, "Accept amendment %s to plan %s", id, plan);
    return s_refused(ctx, rc, why);
}

static int s_about_open(ics_apply_ctx_t *ctx, const Ics__V1__MotionOpenConsultation *o,
                        s_about_t *ab)
{
    char why[ICS_WHY_MAX] = "";
    int rc;

    if (!s_valid_key_like(o->plan))
        return ics_reject(ctx, "'%.40s' is not a plan id", o->plan);
    rc = ics_consult_check_open(ctx, o, why, sizeof why);
    s_subject_add(&ab->subjects, "plan:", o->plan);
    snprintf(ab->title, sizeof ab->title, "Open a consultation on plan %s version %u", o->plan,
             o->version);
    return s_refused(ctx, rc, why);
}

static int s_about_close(ics_apply_ctx_t *ctx, const Ics__V1__MotionCloseConsultation *c,
                         s_about_t *ab)
{
    char why[ICS_WHY_MAX] = "", plan[ICS_POLICY_ID_MAX], id[24];
    int rc;

    rc = ics_consult_check_close(ctx->db, c->consultation, plan, why, sizeof why);
    snprintf(id, sizeof id, "%" PRIu64, c->consultation);
    s_subject_add(&ab->subjects, "consultation:", id);
    if (plan[0] != '\0')
        s_subject_add(&ab->subjects, "plan:", plan);
    snprintf(ab->target, sizeof ab->target, "consultation:%s", id);
    snprintf(ab->title, sizeof ab->title, "Close consultation %s early", id);
    return s_refused(ctx, rc, why);
}

static int s_about_admit(ics_apply_ctx_t *ctx, const Ics__V1__MotionAdmitMember *a,
                         s_about_t *ab)
{
    ics_member_t m;
    uint8_t curve[32];
    int rc;

    if (!ics_valid_id(a->org, ICS_ORG_MAX))
        return ics_reject(ctx, "'%.40s' is not a valid organisation id", a->org);
    if (!ics_valid_id(a->kind, 32))
        return ics_reject(ctx, "organisation kind '%.40s' is not valid", a->kind);
    if (!ics_gov_valid_line(a->name, ICS_NAME_MAX, true))
        return ics_reject(ctx, "the organisation to admit needs a name (under %d bytes)",
                          ICS_NAME_MAX);
    if (a->public_key.len != ICS_PK_BYTES || ics_curve_public(a->public_key.data, curve) != 0)
        return ics_reject(ctx, "the public key of %s is not a valid Ed25519 key", a->org);
    rc = ics_members_get(ctx->db, a->org, &m);
    if (rc == ICS_OK)
        return ics_reject(ctx, "%s is already a member", a->org);
    if (rc != ICS_ENOENT)
        return rc;
    s_subject_add(&ab->subjects, "org:", a->org);
    snprintf(ab->target, sizeof ab->target, "member:%s", a->org);
    snprintf(ab->title, sizeof ab->title, "Admit %s (%.80s) as a member", a->org, a->name);
    return ICS_OK;
}

static int s_about_remove(ics_apply_ctx_t *ctx, const Ics__V1__MotionRemoveMember *r,
                          s_about_t *ab)
{
    ics_member_t m;
    int rc;

    rc = ics_members_get(ctx->db, r->org, &m);
    if (rc == ICS_ENOENT)
        return ics_reject(ctx, "%.40s is not a member", r->org);
    if (rc != ICS_OK)
        return rc;
    if (m.admin)
        return ics_reject(ctx, "%s administers membership; it cannot be removed by motion",
                          m.org);
    s_subject_add(&ab->subjects, "org:", m.org);
    snprintf(ab->target, sizeof ab->target, "member:%s", m.org);
    snprintf(ab->title, sizeof ab->title, "Remove %s from the group", m.org);
    return ICS_OK;
}

static int s_about_policy(ics_apply_ctx_t *ctx, const Ics__V1__Policy *next, s_about_t *ab)
{
    char why[ICS_WHY_MAX] = "";
    int rc;

    rc = ics_policy_check_change(ctx->db, next, why, sizeof why);
    s_subject_add(&ab->subjects, "", "policy");
    snprintf(ab->target, sizeof ab->target, "policy");
    snprintf(ab->title, sizeof ab->title,
             "Change the scheme of reservation and delegation to: %.200s", next->name);
    return s_refused(ctx, rc, why);
}

/* A motion approves only aid the scheme says needs approving. */
static int s_about_aid(ics_apply_ctx_t *ctx, const Ics__V1__MotionApproveAid *a, s_about_t *ab)
{
    ics_member_t m;
    char id[24];
    ics_aid_approval_t ap;
    int rc;

    if (a->offer == 0 || a->offer > INT64_MAX || a->value == 0 || a->value > INT64_MAX)
        return ics_reject(ctx, "approving mutual aid needs the offer's index and a value "
                               "above 0");
    rc = ics_members_get(ctx->db, a->org, &m);
    if (rc == ICS_ENOENT)
        return ics_reject(ctx, "%.40s is not a member", a->org);
    if (rc != ICS_OK)
        return rc;
    rc = ics_policy_aid_approval(ctx->db, a->value, a->org, &ap);
    if (rc != ICS_OK)
        return rc;
    if (!ap.needed)
        return ics_reject(ctx, "mutual aid of %" PRIu64 " needs no approval: %s", a->value,
                          ap.text);
    snprintf(id, sizeof id, "%" PRIu64, a->offer);
    s_subject_add(&ab->subjects, "aid:", id);
    s_subject_add(&ab->subjects, "org:", a->org);
    snprintf(ab->target, sizeof ab->target, "aid:%s", id);
    snprintf(ab->title, sizeof ab->title, "Approve mutual aid offer %s (%" PRIu64 " for %s)", id,
             a->value, a->org);
    ab->value = a->value;
    return ICS_OK;
}

/* Checks the effect of a proposal and derives what it is about (ab), one
 * helper an effect. */
static int s_examine(ics_apply_ctx_t *ctx, const Ics__V1__MotionPropose *p, s_about_t *ab)
{
    memset(ab, 0, sizeof *ab);
    ab->d = ICS__V1__DECISION__DECISION_UNSPECIFIED;
    switch (p->effect_case) {
    case ICS__V1__MOTION_PROPOSE__EFFECT_ADOPT_PLAN:
        ab->d = ICS__V1__DECISION__DECISION_PLAN_ADOPT;
        return s_about_adopt(ctx, p->adopt_plan, ab);
    case ICS__V1__MOTION_PROPOSE__EFFECT_ACCEPT_AMENDMENT:
        ab->d = ICS__V1__DECISION__DECISION_AMENDMENT_ACCEPT;
        return s_about_amendment(ctx, p->accept_amendment, ab);
    case ICS__V1__MOTION_PROPOSE__EFFECT_OPEN_CONSULTATION:
        ab->d = ICS__V1__DECISION__DECISION_CONSULTATION_OPEN;
        return s_about_open(ctx, p->open_consultation, ab);
    case ICS__V1__MOTION_PROPOSE__EFFECT_CLOSE_CONSULTATION:
        ab->d = ICS__V1__DECISION__DECISION_CONSULTATION_CLOSE;
        return s_about_close(ctx, p->close_consultation, ab);
    case ICS__V1__MOTION_PROPOSE__EFFECT_ADMIT_MEMBER:
        ab->d = ICS__V1__DECISION__DECISION_MEMBER_ADMIT;
        return s_about_admit(ctx, p->admit_member, ab);
    case ICS__V1__MOTION_PROPOSE__EFFECT_REMOVE_MEMBER:
        ab->d = ICS__V1__DECISION__DECISION_MEMBER_REMOVE;
        return s_about_remove(ctx, p->remove_member, ab);
    case ICS__V1__MOTION_PROPOSE__EFFECT_CHANGE_POLICY:
        ab->d = ICS__V1__DECISION__DECISION_POLICY_CHANGE;
        return s_about_policy(ctx, p->change_policy, ab);
    case ICS__V1__MOTION_PROPOSE__EFFECT_APPROVE_AID:
        ab->d = ICS__V1__DECISION__DECISION_AID_APPROVE;
        return s_about_aid(ctx, p->approve_aid, ab);
    default:
        return ics_reject(ctx, "a motion must say what it decides (adopt a plan version, accept "
                               "an amendment, open or close a consultation, admit or remove a "
                               "member, change the scheme, approve mutual aid)");
    }
}

/* "Chair of the ICB or Chief Executive" */
static void s_titles_or(const Ics__V1__Policy *pol, char *const *roles, size_t n, char *out,
                        size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++) {
        int k = snprintf(out + used, size - used, "%s%s",
                         i == 0 ? "" : i + 1 == n ? " or " : ", ",
                         ics_policy_role_title(pol, roles[i]));
        used += k > 0 ? (size_t)k : 0;
    }
}

/* A proposal's own words: its title, its text and the further subjects it
 * names. */
static int s_check_wording(ics_apply_ctx_t *ctx, const Ics__V1__MotionPropose *p)
{
    if (!ics_gov_valid_line(p->title, ICS_LINE_MAX, false))
        return ics_reject(ctx, "a motion's title is one line, under %d bytes", ICS_LINE_MAX);
    if (!ics_gov_valid_text(p->text, ICS_TEXT_MAX, false))
        return ics_reject(ctx, "a motion's text must be under %u bytes, without control "
                               "characters other than newline and tab", ICS_TEXT_MAX);
    if (p->n_subjects > S_MAX_USER_SUBJECTS)
        return ics_reject(ctx, "a motion names at most %d further subjects",
                          S_MAX_USER_SUBJECTS);
    for (size_t i = 0; i < p->n_subjects; i++)
        if (!ics_gov_valid_subject(p->subjects[i]))
            return ics_reject(ctx, "subject '%.40s' is not valid: printable, no spaces, at most "
                                   "%d bytes (e.g. tag:virtual-wards)", p->subjects[i],
                              ICS_SUBJECT_MAX - 1);
    return ICS_OK;
}

/* The actor holds one of the roles the rule lets propose, if it names any. */
static int s_check_proposer(ics_apply_ctx_t *ctx, const Ics__V1__Policy *pol,
                            const Ics__V1__Rule *rule, Ics__V1__Decision d)
{
    char held[ICS_WHY_MAX], names[300];
    bool ok = false;
    int rc = ICS_OK;

    if (rule->n_proposers == 0)
        return ICS_OK;
    for (size_t i = 0; i < rule->n_proposers && !ok && rc == ICS_OK; i++)
        rc = ics_people_holds(ctx->db, ctx->org, ctx->actor, rule->proposers[i], &ok);
    if (rc != ICS_OK || ok)
        return rc;
    rc = ics_people_roles_text(ctx->db, pol, ctx->org, ctx->actor, held, sizeof held);
    if (rc != ICS_OK)
        return rc;
    s_titles_or(pol, rule->proposers, rule->n_proposers, names, sizeof names);
    return ics_reject(ctx, "wrong role: only the %s may propose to %s (rule %s); %s of %s "
                           "holds: %s", names, ics_decision_name(d), rule->id, ctx->actor,
                      ctx->org, held);
}

/* No other motion on the same matter (target; "" for none) is open. */
static int s_check_matter_free(ics_apply_ctx_t *ctx, const char *target)
{
    uint64_t other = 0;
    int rc;

    if (target[0] == '\0')
        return ICS_OK;
    rc = ics_sql_u64(ctx->db, &other, "SELECT coalesce(min(id), 0) FROM motions WHERE"
                                      " target = ?1 AND status = 'open'", "t", target);
    if (rc != ICS_OK)
        return rc;
    if (other != 0)
        return ics_reject(ctx, "motion %" PRIu64 " on the same matter (%s) is already open; "
                               "it must close first", other, target);
    return ICS_OK;
}

/* Writes the open motion, with the rule that decides it (of the scheme's
 * version `version`, fixed now), and its subjects. */
static int s_insert_motion(ics_apply_ctx_t *ctx, const Ics__V1__MotionPropose *p,
                           const s_about_t *ab, const Ics__V1__Policy *pol, uint64_t version,
                           const Ics__V1__Rule *rule)
{
    char rule_text[ICS_WHY_MAX * 2], roles[512] = "";
    uint8_t *packed = NULL;
    size_t plen = 0;
    int rc;

    ics_policy_rule_text(pol, rule, rule_text, sizeof rule_text);
    for (size_t i = 0; i < rule->n_quorum_roles; i++) {
        strncat(roles, i ? " " : "", sizeof roles - strlen(roles) - 1);
        strncat(roles, rule->quorum_roles[i], sizeof roles - strlen(roles) - 1);
    }
    rc = ics_pack(&p->base, &packed, &plen);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_run(ctx->db,
                      "INSERT INTO motions(id, decision, title, text, proposal, target, org,"
                      " person, entry_id, policy_version, rule, rule_text, body, role,"
                      " quorum_count, quorum_num, quorum_den, quorum_roles, threshold, value,"
                      " opened_ms, closes_ms, status, closed_at, closed_ms, outcome,"
                      " effect_state, effect_note, executed_at)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
                      " ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, 'open', 0, 0, '', '', '', 0)",
                      "uittbtttbuttttuuutiuuu", ctx->position, (int)ab->d, ab->title, p->text,
                      packed, (int)plen, ab->target, ctx->org, ctx->actor, ctx->entry_id, 32,
                      version, rule->id, rule_text, rule->body, rule->role,
                      (uint64_t)rule->quorum_count, (uint64_t)rule->quorum_num,
                      (uint64_t)rule->quorum_den, roles, (int)rule->threshold, ab->value,
                      ctx->clock_ms, ctx->clock_ms + rule->period_ms);
    for (size_t i = 0; i < ab->subjects.n && rc == ICS_OK; i++)
        rc = ics_sql_run(ctx->db, "INSERT OR IGNORE INTO motion_subjects(motion, subject)"
                                   " VALUES (?1, ?2)", "ut", ctx->position, ab->subjects.p[i]);
    free(packed);
    return rc;
}

/* The electorate, as it stands now: the holders of the rule's role, or of
 * the roles of its body (body not NULL) in the body's organisations. A
 * motion nobody can decide is refused. */
static int s_elect(ics_apply_ctx_t *ctx, const Ics__V1__Policy *pol, const Ics__V1__Rule *rule,
                   const Ics__V1__Body *body, s_subjects_t *subjects)
{
    char names[300];
    s_elect_t e;
    int rc = ICS_OK;

    memset(&e, 0, sizeof e);
    e.db = ctx->db;
    e.motion = ctx->position;
    e.body = body;
    e.subjects = subjects;
    if (body != NULL) {
        for (size_t i = 0; i < body->n_roles && rc == ICS_OK; i++) {
            e.role = body->roles[i];
            rc = ics_people_each_holder(ctx->db, body->roles[i], s_elect_one, &e);
        }
    } else {
        e.role = rule->role;
        rc = ics_people_each_holder(ctx->db, rule->role, s_elect_one, &e);
    }
    if (rc != ICS_OK || e.n != 0)
        return rc;
    if (body != NULL)
        s_titles_or(pol, body->roles, body->n_roles, names, sizeof names);
    else
        ics_strcpy(names, sizeof names, ics_policy_role_title(pol, rule->role));
    return ics_reject(ctx, "nobody can decide this yet: no one %sholds the role%s of %s; "
                           "appoint them first (icsctl people role)",
                      body != NULL && body->n_orgs ? "of the body's organisations " : "",
                      body != NULL && body->n_roles > 1 ? "s" : "", names);
}

/* A holder acting alone decides by proposing: the proposal is their signed
 * decision, a vote for, if they are in the electorate (not excluded). */
static int s_decide_alone(ics_apply_ctx_t *ctx, const Ics__V1__Rule *rule)
{
    uint64_t mine = 0;
    int rc;

    rc = ics_sql_u64(ctx->db, &mine, "SELECT count(*) FROM electorate WHERE motion = ?1 AND"
                                     " org = ?2 AND person = ?3 AND excluded = 0",
                     "utt", ctx->position, ctx->org, ctx->actor);
    if (rc == ICS_OK && mine != 0)
        rc = ics_sql_run(ctx->db, "INSERT INTO votes(motion, org, person, seq, choice,"
                                   " reason, role, position, entry_id, clock_ms, struck)"
                                   " VALUES (?1, ?2, ?3, 1, ?4, 'decided by proposing',"
                                   " ?5, ?1, ?6, ?7, 0)",
                          "uttitbu", ctx->position, ctx->org, ctx->actor,
                          (int)ICS__V1__VOTE_CHOICE__VOTE_FOR, rule->role, ctx->entry_id, 32,
                          ctx->clock_ms);
    return rc;
}

static int s_propose(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__MotionPropose *p = cmd->motion_propose;
    Ics__V1__Policy *pol = NULL;
    const Ics__V1__Rule *rule;
    const Ics__V1__Body *body = NULL;
    ics_person_t who;
    s_about_t about;
    uint64_t version = 0;
    int rc;

    rc = ics_people_require_actor(ctx, &who);
    if (rc != ICS_OK)
        return rc;
    rc = s_check_wording(ctx, p);
    if (rc != ICS_OK)
        return rc;
    rc = s_examine(ctx, p, &about);
    if (rc != ICS_OK)
        return rc;
    for (size_t i = 0; i < p->n_subjects; i++)
        s_subject_add(&about.subjects, "", p->subjects[i]);
    if (p->title[0] != '\0')
        ics_strcpy(about.title, sizeof about.title, p->title);

    rc = ics_policy_in_force(ctx->db, &pol, &version);
    if (rc != ICS_OK)
        goto out;
    rule = ics_policy_rule_for(pol, about.d, about.subjects.p, about.subjects.n, about.value);
    if (rule == NULL) {
        rc = ics_reject(ctx, "the scheme in force (version %" PRIu64 ") names no one who may "
                             "decide this: %s", version, ics_decision_title(about.d));
        goto out;
    }
    rc = s_check_proposer(ctx, pol, rule, about.d);
    if (rc == ICS_OK)
        rc = s_check_matter_free(ctx, about.target);
    if (rc != ICS_OK)
        goto out;
    if (rule->role[0] == '\0') {
        body = ics_policy_body(pol, rule->body);
        if (body == NULL) {
            rc = ICS_EIO; /* a valid policy's rules name its bodies */
            goto out;
        }
    }
    rc = s_insert_motion(ctx, p, &about, pol, version, rule);
    if (rc == ICS_OK)
        rc = s_elect(ctx, pol, rule, body, &about.subjects);
    if (rc == ICS_OK && rule->role[0] != '\0')
        rc = s_decide_alone(ctx, rule);
    if (rc == ICS_OK)
        rc = s_settle(ctx, ctx->position, false);
out:
    if (pol != NULL)
        ics__v1__policy__free_unpacked(pol, NULL);
    return rc;
}

/* ---------------------------------------------------------------- voting */

/* The motion voted on, which must still be open. */
static int s_open_motion(ics_apply_ctx_t *ctx, uint64_t id, ics_motion_t *m)
{
    char when[32];
    int rc;

    rc = ics_motion_get(ctx->db, id, m);
    if (rc == ICS_ENOENT)
        return ics_reject(ctx, "there is no motion %" PRIu64, id);
    if (rc != ICS_OK)
        return rc;
    if (strcmp(m->status, "open") != 0) {
        ics_gov_time(m->closed_ms, when);
        return ics_reject(ctx, "too late: motion %" PRIu64 " closed at %s (index %" PRIu64 "): "
                               "%.150s", m->id, when, m->closed_at,
                          m->outcome[0] ? m->outcome : m->status);
    }
    return ICS_OK;
}

/* The vote's own words: its choice and its reason. */
static int s_check_ballot(ics_apply_ctx_t *ctx, const Ics__V1__Vote *v)
{
    if (v->choice != ICS__V1__VOTE_CHOICE__VOTE_FOR &&
        v->choice != ICS__V1__VOTE_CHOICE__VOTE_AGAINST &&
        v->choice != ICS__V1__VOTE_CHOICE__VOTE_ABSTAIN)
        return ics_reject(ctx, "a vote is for, against or abstain");
    if (!ics_gov_valid_line(v->reason, ICS_LINE_MAX, false))
        return ics_reject(ctx, "the reason for a vote is one line, under %d bytes",
                          ICS_LINE_MAX);
    return ICS_OK;
}

/* The actor's row in the motion's electorate, fixed at proposal. */
typedef struct {
    char roles[600];                /* the body's roles they held, space-separated */
    char interest[ICS_SUBJECT_MAX]; /* the declared interest that excludes them, if any */
    char itext[ICS_LINE_MAX];
    bool excluded;
} s_seat_t;

/* The actor has a seat in the electorate, and is not excluded from it. */
static int s_seat(ics_apply_ctx_t *ctx, const ics_motion_t *m, s_seat_t *seat)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(seat, 0, sizeof *seat);
    rc = ics_sql_query(ctx->db, &st, "SELECT roles, excluded, interest, interest_text FROM"
                                       " electorate WHERE motion = ?1 AND org = ?2 AND"
                                       " person = ?3", "utt", m->id, ctx->org, ctx->actor);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(ctx->db, st);
    if (rc == ICS_OK) {
        ics_sql_column_text(st, 0, seat->roles, sizeof seat->roles);
        seat->excluded = sqlite3_column_int(st, 1) != 0;
        ics_sql_column_text(st, 2, seat->interest, sizeof seat->interest);
        ics_sql_column_text(st, 3, seat->itext, sizeof seat->itext);
    }
    ics_sql_release(ctx->db, st);
    if (rc == ICS_ENOENT) {
        char decider[ICS_WHY_MAX];
        ics_strcpy(decider, sizeof decider, m->rule_text);
        char *paren = strstr(decider, " (rule");
        if (paren != NULL)
            *paren = '\0';
        return ics_reject(ctx, "%s of %s is not in the electorate of motion %" PRIu64 " (%.120s)",
                          ctx->actor, ctx->org, m->id, decider);
    }
    if (rc != ICS_OK)
        return rc;
    if (seat->excluded)
        return ics_reject(ctx, "%s of %s is excluded from voting on motion %" PRIu64 ": declared "
                               "interest in %s (%.100s)", ctx->actor, ctx->org, m->id,
                          seat->interest, seat->itext);
    return ICS_OK;
}

/* Entitled only while holding a role that put them in the electorate: the
 * first of the seat's roles they still hold, which the vote is cast in. */
static int s_entitling_role(ics_apply_ctx_t *ctx, const ics_motion_t *m, const s_seat_t *seat,
                            char *role, size_t size)
{
    char buf[600];
    char *save = NULL;
    bool holds = false;
    int rc;

    ics_strcpy(buf, sizeof buf, seat->roles);
    for (char *r = strtok_r(buf, " ", &save); r != NULL && !holds;
         r = strtok_r(NULL, " ", &save)) {
        rc = ics_people_holds(ctx->db, ctx->org, ctx->actor, r, &holds);
        if (rc != ICS_OK)
            return rc;
        if (holds)
            ics_strcpy(role, size, r);
    }
    if (!holds)
        return ics_reject(ctx, "%s of %s no longer holds the role (%s) that entitled them to "
                               "vote on motion %" PRIu64, ctx->actor, ctx->org, seat->roles,
                          m->id);
    return ICS_OK;
}

/* The actor's latest vote on the motion (*seq 0 for none); repeating it
 * unchanged is refused. */
static int s_check_repeat(ics_apply_ctx_t *ctx, const ics_motion_t *m, const Ics__V1__Vote *v,
                          uint64_t *seq)
{
    sqlite3_stmt *st = NULL;
    uint64_t last_pos = 0;
    int last = 0, rc;

    *seq = 0;
    rc = ics_sql_query(ctx->db, &st, "SELECT seq, choice, position FROM votes WHERE"
                                       " motion = ?1 AND org = ?2 AND person = ?3"
                                       " ORDER BY seq DESC LIMIT 1", "utt", m->id, ctx->org,
                         ctx->actor);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(ctx->db, st);
    if (rc == ICS_OK) {
        *seq = ics_sql_column_u64(st, 0);
        last = sqlite3_column_int(st, 1);
        last_pos = ics_sql_column_u64(st, 2);
    }
    ics_sql_release(ctx->db, st);
    if (rc != ICS_OK && rc != ICS_ENOENT)
        return rc;
    if (*seq != 0 && last == (int)v->choice)
        return ics_reject(ctx, "duplicate vote: %s of %s already voted %s on motion %" PRIu64
                               " (index %" PRIu64 "); to change it, vote differently",
                          ctx->actor, ctx->org, ics_motions_choice_name(last), m->id, last_pos);
    return ICS_OK;
}

static int s_vote(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__Vote *v = cmd->vote;
    ics_person_t who;
    ics_motion_t m;
    s_seat_t seat;
    char role[ICS_POLICY_ID_MAX] = "";
    uint64_t seq = 0;
    int rc;

    rc = ics_people_require_actor(ctx, &who);
    if (rc == ICS_OK)
        rc = s_open_motion(ctx, v->motion, &m);
    if (rc == ICS_OK)
        rc = s_check_ballot(ctx, v);
    if (rc == ICS_OK)
        rc = s_seat(ctx, &m, &seat);
    if (rc == ICS_OK)
        rc = s_entitling_role(ctx, &m, &seat, role, sizeof role);
    if (rc == ICS_OK)
        rc = s_check_repeat(ctx, &m, v, &seq);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_run(ctx->db, "INSERT INTO votes(motion, org, person, seq, choice, reason, role,"
                               " position, entry_id, clock_ms, struck)"
                               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0)",
                      "uttuittubu", m.id, ctx->org, ctx->actor, seq + 1, (int)v->choice,
                      v->reason, role, ctx->position, ctx->entry_id, 32, ctx->clock_ms);
    if (rc != ICS_OK)
        return rc;
    return s_settle(ctx, m.id, false);
}

static int s_withdraw(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__MotionWithdraw *w = cmd->motion_withdraw;
    ics_person_t who;
    ics_motion_t m;
    char outcome[ICS_WHY_MAX * 2];
    int rc;

    rc = ics_people_require_actor(ctx, &who);
    if (rc != ICS_OK)
        return rc;
    if (!ics_gov_valid_line(w->reason, ICS_LINE_MAX, false))
        return ics_reject(ctx, "the reason is one line, under %d bytes", ICS_LINE_MAX);
    rc = ics_motion_get(ctx->db, w->motion, &m);
    if (rc == ICS_ENOENT)
        return ics_reject(ctx, "there is no motion %" PRIu64, w->motion);
    if (rc != ICS_OK)
        return rc;
    if (strcmp(m.org, ctx->org) != 0)
        return ics_reject(ctx, "only %s, which proposed motion %" PRIu64 ", may withdraw it",
                          m.org, m.id);
    if (strcmp(m.status, "open") != 0)
        return ics_reject(ctx, "motion %" PRIu64 " is %s; only an open motion can be withdrawn",
                          m.id, m.status);
    snprintf(outcome, sizeof outcome, "withdrawn by %s of %s%s%s", ctx->actor, ctx->org,
             w->reason[0] ? ": " : "", w->reason);
    return ics_sql_run(ctx->db, "UPDATE motions SET status = 'withdrawn', closed_at = ?2,"
                                 " closed_ms = ?3, outcome = ?4 WHERE id = ?1",
                        "uuut", m.id, ctx->position, ctx->clock_ms, outcome);
}

static const ics_fsm_handler_t s_handlers[] = {
    {ICS__V1__COMMAND__BODY_MOTION_PROPOSE, s_propose},
    {ICS__V1__COMMAND__BODY_MOTION_WITHDRAW, s_withdraw},
    {ICS__V1__COMMAND__BODY_VOTE, s_vote},
    {0, NULL},
};

/* ---------------------------------------------------------------- clock */

/* Ids of open motions matching sql (bound with one u64), in order. */
static int s_open_ids(ics_db_t *db, const char *sql, const char *types, uint64_t a,
                      const char *b, uint64_t **ids, size_t *n)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *ids = NULL;
    *n = 0;
    rc = types[0] == 'u' ? ics_sql_query(db, &st, sql, "u", a)
                         : ics_sql_query(db, &st, sql, "t", b);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(db, st)) == ICS_OK) {
        uint64_t *p = realloc(*ids, (*n + 1) * sizeof *p);
        if (p == NULL) {
            rc = ICS_ENOMEM;
            break;
        }
        *ids = p;
        (*ids)[(*n)++] = ics_sql_column_u64(st, 0);
    }
    ics_sql_release(db, st);
    if (rc == ICS_ENOENT)
        return ICS_OK;
    free(*ids);
    *ids = NULL;
    *n = 0;
    return rc;
}

static int s_on_clock(ics_apply_ctx_t *ctx)
{
    uint64_t *ids = NULL;
    size_t n = 0;
    int rc = s_open_ids(ctx->db, "SELECT id FROM motions WHERE status = 'open' AND"
                                 " closes_ms <= ?1 ORDER BY closes_ms, id",
                        "u", ctx->clock_ms, NULL, &ids, &n);

    for (size_t i = 0; i < n && rc == ICS_OK; i++)
        rc = s_settle(ctx, ids[i], true);
    free(ids);
    return rc;
}

/* s_on_clock closes every open motion whose deadline has come (settling
 * with final set always closes it). */
static int s_deadline(ics_db_t *db, uint64_t clock, ics_deadline_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = ics_sql_query(db, &st, "SELECT min(CASE WHEN closes_ms > ?1 THEN closes_ms END),"
                                  " coalesce(max(closes_ms <= ?1), 0) FROM motions"
                                  " WHERE status = 'open'", "u", clock);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(db, st);
    if (rc == ICS_OK) {
        out->next = ics_sql_column_u64(st, 0);
        out->overdue = sqlite3_column_int(st, 1) != 0;
    }
    ics_sql_release(db, st);
    return rc == ICS_OK ? ICS_OK : ICS_EIO;
}

/* ---------------------------------------------------------------- for other domains */

int ics_motions_interests_changed(ics_apply_ctx_t *ctx, const char *org, const char *person)
{
    sqlite3_stmt *st = NULL;
    typedef struct { uint64_t motion; char person[ICS_PERSON_MAX]; } hit_t;
    hit_t *hits = NULL;
    size_t n = 0;
    int rc;

    rc = ics_sql_query(ctx->db, &st, "SELECT e.motion, e.person FROM electorate e JOIN motions"
                                       " m ON m.id = e.motion WHERE m.status = 'open' AND"
                                       " e.org = ?1 AND (?2 = '' OR e.person = ?2) AND"
                                       " e.excluded = 0 ORDER BY e.motion, e.person",
                         "tt", org, person);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(ctx->db, st)) == ICS_OK) {
        hit_t *p = realloc(hits, (n + 1) * sizeof *p);
        if (p == NULL) {
            rc = ICS_ENOMEM;
            break;
        }
        hits = p;
        hits[n].motion = ics_sql_column_u64(st, 0);
        ics_sql_column_text(st, 1, hits[n].person, sizeof hits[n].person);
        n++;
    }
    ics_sql_release(ctx->db, st);
    if (rc != ICS_ENOENT)
        goto out;
    rc = ICS_OK;
    for (size_t i = 0; i < n && rc == ICS_OK; i++) {
        s_subjects_t subjects;
        char subject[ICS_SUBJECT_MAX], text[ICS_LINE_MAX];
        uint64_t declared = 0;
        bool found = false;
        rc = s_subjects_load(ctx->db, hits[i].motion, &subjects);
        if (rc == ICS_OK)
            rc = ics_people_interest(ctx->db, org, hits[i].person, subjects.p, subjects.n,
                                     &found, subject, text, sizeof text, &declared);
        if (rc != ICS_OK || !found)
            continue;
        rc = ics_sql_run(ctx->db, "UPDATE electorate SET excluded = 1, interest = ?4,"
                                   " interest_text = ?5, interest_at = ?6, excluded_at = ?7"
                                   " WHERE motion = ?1 AND org = ?2 AND person = ?3",
                          "uttttuu", hits[i].motion, org, hits[i].person, subject, text,
                          declared, ctx->position);
        if (rc == ICS_OK)
            rc = ics_sql_run(ctx->db, "UPDATE votes SET struck = 1 WHERE motion = ?1 AND"
                                       " org = ?2 AND person = ?3",
                              "utt", hits[i].motion, org, hits[i].person);
        if (rc == ICS_OK)
            rc = s_settle(ctx, hits[i].motion, false);
    }
out:
    free(hits);
    return rc;
}


const ics_fsm_domain_t ics_fsm_domain_motions = {
    .name = "motions",
    .handlers = s_handlers,
    .schema = s_schema,
    .on_clock = s_on_clock,
    .deadline = s_deadline,
    .queries = ics_motions_queries,
};
