/*
 * Domain events from the applied log (events.h).
 *
 * An accepted entry says what its signer did: a request raised, an offer
 * made, a vote cast. What the state machine then decided on its own (a
 * motion carried by the last vote, a consultation closed at its deadline,
 * a request expired or escalated on a clock tick, the system OPEL level
 * moved) is read from the rows it keeps for good, each stamped with the
 * position that made it: that position is this entry's, so the events of
 * an entry are the same whenever, and on whichever node, they are asked
 * for.
 *
 * Order within an entry, which the event numbers follow: the signer's own
 * act, then what it or the clock set off, domain by domain (aid timeline,
 * motions, consultations, amendments, plan adoptions, system OPEL), each by
 * id. A rejected entry's command did nothing, but the time it carried may
 * have closed deadlines first (docs/log-format.md §6): those events are its
 * own. Reads only: each table once per batch of entries (its rows by
 * position), one statement at a time, finalised before return.
 */
#include "events.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/envelope.h"

const char *const ics_event_kinds[] = {
    "member.added", "member.removed", "member.key_changed", "org.registered",
    "person.registered", "role.assigned",
    "opel.reported", "opel.changed",
    "aid.requested", "aid.offered", "aid.accepted", "aid.approved", "aid.delivered",
    "aid.returned", "aid.cancelled", "aid.withdrawn", "aid.escalated", "aid.met",
    "aid.expired", "aid.closed", "aid.completed", "aid.offer_lapsed",
    "motion.opened", "motion.voted", "motion.decided", "motion.withdrawn",
    "consultation.opened", "consultation.responded", "consultation.closing_soon",
    "consultation.closed",
    "amendment.proposed", "amendment.withdrawn", "amendment.accepted", "amendment.rejected",
    "amendment.superseded",
    "plan.created", "plan.adopted",
    NULL};

void ics_events_clear(ics_events_t *ev)
{
    ev->n = 0;
}

void ics_events_free(ics_events_t *ev)
{
    if (ev == NULL)
        return;
    free(ev->v);
    ev->v = NULL;
    ev->n = ev->cap = 0;
}

typedef struct {
    ics_events_t *out;
    const ics_log_entry_t *e;  /* the batch: consecutive positions */
    size_t n_e;
    uint64_t pos, clock;       /* the entry the next event belongs to */
    int rc;
} s_ctx_t;

static ics_event_t *s_add(s_ctx_t *x, const char *kind, const char *org, uint64_t ref,
                          const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static ics_event_t *s_add(s_ctx_t *x, const char *kind, const char *org, uint64_t ref,
                          const char *fmt, ...)
{
    ics_events_t *o = x->out;
    va_list ap;

    if (x->rc != ICS_OK)
        return NULL;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        ics_event_t *v = realloc(o->v, cap * sizeof *v);
        if (v == NULL) {
            x->rc = ICS_ENOMEM;
            return NULL;
        }
        o->v = v;
        o->cap = cap;
    }
    ics_event_t *ev = &o->v[o->n];
    memset(ev, 0, sizeof *ev);
    ev->index = x->pos;
    ev->clock_ms = x->clock; /* numbered when the entry's events are put together */
    ics_strcpy(ev->kind, sizeof ev->kind, kind);
    ics_strcpy(ev->org, sizeof ev->org, org != NULL ? org : "");
    ev->ref = ref;
    va_start(ap, fmt);
    vsnprintf(ev->text, sizeof ev->text, fmt, ap);
    va_end(ap);
    o->n++;
    return ev;
}

/* A log-clock time as text (UTC). Events never read the wall clock. */
static void s_fmt_time(uint64_t ms, char *out, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (ms == 0 || gmtime_r(&t, &tm) == NULL) {
        snprintf(out, size, "-");
        return;
    }
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- reading the state --------------------------------------------------- */

static const char *s_col(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t != NULL ? (const char *)t : "";
}

/* Runs sql over the batch (?1 = its first position, ?2 = its last); column
 * 0 of each row is the position the row belongs to. Calls row for each. */
static void s_rows(s_ctx_t *x, sqlite3 *db, const char *sql,
                   void (*row)(s_ctx_t *x, sqlite3 *db, sqlite3_stmt *st, void *arg), void *arg)
{
    sqlite3_stmt *st = NULL;
    uint64_t lo = x->e[0].position, hi = x->e[x->n_e - 1].position;
    int rc;

    if (x->rc != ICS_OK)
        return;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        /* A table this build does not know: no events from it. */
        sqlite3_finalize(st);
        return;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)lo);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)hi);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && x->rc == ICS_OK) {
        uint64_t pos = (uint64_t)sqlite3_column_int64(st, 0);
        if (pos < lo || pos > hi)
            continue;
        x->pos = pos;
        x->clock = x->e[pos - lo].clock_ms;
        row(x, db, st, arg);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        x->rc = ICS_EIO;
    sqlite3_finalize(st);
}

/* One text column of one row ("" if none). */
static void s_lookup(sqlite3 *db, const char *sql, uint64_t id, char *out, size_t size)
{
    sqlite3_stmt *st = NULL;

    out[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
        if (sqlite3_step(st) == SQLITE_ROW)
            ics_strcpy(out, size, s_col(st, 0));
    }
    sqlite3_finalize(st);
}

static void s_request_org(sqlite3 *db, uint64_t request, char out[ICS_ORG_MAX])
{
    s_lookup(db, "SELECT org FROM aid_requests WHERE id = ?1", request, out, ICS_ORG_MAX);
}

/* An offer's organisation and request. */
static uint64_t s_offer(sqlite3 *db, uint64_t offer, char org[ICS_ORG_MAX])
{
    sqlite3_stmt *st = NULL;
    uint64_t request = 0;

    org[0] = '\0';
    if (sqlite3_prepare_v2(db, "SELECT org, request FROM aid_offers WHERE id = ?1", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)offer);
        if (sqlite3_step(st) == SQLITE_ROW) {
            ics_strcpy(org, ICS_ORG_MAX, s_col(st, 0));
            request = (uint64_t)sqlite3_column_int64(st, 1);
        }
    }
    sqlite3_finalize(st);
    return request;
}

/* ---- the signer's own act ---------------------------------------------------- */

/* An act on an offer: the signer, and the other side of the offer. */
static void s_offer_act(s_ctx_t *x, sqlite3 *db, const char *kind, const char *signer,
                        uint64_t offer, const char *verb)
{
    char offerer[ICS_ORG_MAX], requester[ICS_ORG_MAX];
    uint64_t request = s_offer(db, offer, offerer);
    s_request_org(db, request, requester);
    ics_event_t *ev = s_add(x, kind, signer, offer, "offer %" PRIu64 " (request %" PRIu64
                            ") %s by %s", offer, request, verb, signer);
    if (ev != NULL) {
        ev->ref2 = request;
        ics_strcpy(ev->other, sizeof ev->other,
                   strcmp(signer, offerer) == 0 ? requester : offerer);
    }
}

static void s_direct(s_ctx_t *x, sqlite3 *db, const Ics__V1__Envelope *env,
                     const Ics__V1__Command *cmd)
{
    const char *org = env->org;
    uint64_t pos = x->pos;
    ics_event_t *ev;

    switch (cmd->body_case) {
    case ICS__V1__COMMAND__BODY_GENESIS:
        for (size_t i = 0; i < cmd->genesis->n_members; i++)
            s_add(x, "member.added", cmd->genesis->members[i]->org, 0, "%s (%s) a founding member",
                  cmd->genesis->members[i]->org, cmd->genesis->members[i]->kind);
        break;
    case ICS__V1__COMMAND__BODY_MEMBER_ADD:
        s_add(x, "member.added", cmd->member_add->org, 0, "%s (%s) joined the group",
              cmd->member_add->org, cmd->member_add->kind);
        break;
    case ICS__V1__COMMAND__BODY_MEMBER_REMOVE:
        s_add(x, "member.removed", cmd->member_remove->org, 0, "%s left the group",
              cmd->member_remove->org);
        break;
    case ICS__V1__COMMAND__BODY_KEY_ROTATE:
        s_add(x, "member.key_changed", cmd->key_rotate->org, 0, "%s has a new key",
              cmd->key_rotate->org);
        break;
    case ICS__V1__COMMAND__BODY_ORG_REGISTER:
        s_add(x, "org.registered", cmd->org_register->org, 0, "%s %s %s",
              cmd->org_register->org, cmd->org_register->remove ? "removed" : "registered as",
              cmd->org_register->remove ? "" : cmd->org_register->kind);
        break;
    case ICS__V1__COMMAND__BODY_PERSON_REGISTER:
        s_add(x, "person.registered", org, 0, "%s %s %s", org, cmd->person_register->person,
              cmd->person_register->remove ? "removed" : "registered");
        break;
    case ICS__V1__COMMAND__BODY_ROLE_ASSIGN:
        s_add(x, "role.assigned", cmd->role_assign->org, 0, "%s %s %s role %s",
              cmd->role_assign->org, cmd->role_assign->person,
              cmd->role_assign->revoke ? "no longer holds" : "holds", cmd->role_assign->role);
        break;
    case ICS__V1__COMMAND__BODY_OPEL_REPORT:
        s_add(x, "opel.reported", org, pos, "%s reports OPEL %u (%s)", org,
              cmd->opel_report->level, cmd->opel_report->provider_type);
        break;
    case ICS__V1__COMMAND__BODY_AID_REQUEST:
        s_add(x, "aid.requested", org, pos, "request %" PRIu64 ": %s asks for %" PRIu64 " %s%s%s",
              pos, org, cmd->aid_request->quantity, cmd->aid_request->resource,
              cmd->aid_request->specialty[0] ? " " : "", cmd->aid_request->specialty);
        break;
    case ICS__V1__COMMAND__BODY_AID_OFFER: {
        char requester[ICS_ORG_MAX];
        s_request_org(db, cmd->aid_offer->request, requester);
        ev = s_add(x, "aid.offered", org, pos, "offer %" PRIu64 ": %s offers %" PRIu64
                   " against request %" PRIu64 " of %s", pos, org, cmd->aid_offer->quantity,
                   cmd->aid_offer->request, requester);
        if (ev != NULL) {
            ev->ref2 = cmd->aid_offer->request;
            ics_strcpy(ev->other, sizeof ev->other, requester);
        }
        break;
    }
    case ICS__V1__COMMAND__BODY_AID_ACCEPT:
        s_offer_act(x, db, "aid.accepted", org, cmd->aid_accept->offer, "accepted");
        break;
    case ICS__V1__COMMAND__BODY_AID_APPROVE:
        s_offer_act(x, db, "aid.approved", org, cmd->aid_approve->offer,
                    cmd->aid_approve->decline ? "declined" : "approved");
        break;
    case ICS__V1__COMMAND__BODY_AID_DELIVER:
        s_offer_act(x, db, "aid.delivered", org, cmd->aid_deliver->offer, "delivered");
        break;
    case ICS__V1__COMMAND__BODY_AID_RETURN:
        s_offer_act(x, db, "aid.returned", org, cmd->aid_return->offer, "handed back");
        break;
    case ICS__V1__COMMAND__BODY_AID_WITHDRAW:
        s_offer_act(x, db, "aid.withdrawn", org, cmd->aid_withdraw->offer, "withdrawn");
        break;
    case ICS__V1__COMMAND__BODY_AID_CANCEL:
        s_add(x, "aid.cancelled", org, cmd->aid_cancel->request,
              "request %" PRIu64 " cancelled by %s", cmd->aid_cancel->request, org);
        break;
    case ICS__V1__COMMAND__BODY_MOTION_PROPOSE:
        s_add(x, "motion.opened", org, pos, "motion %" PRIu64 ": %s", pos,
              cmd->motion_propose->title);
        break;
    case ICS__V1__COMMAND__BODY_MOTION_WITHDRAW:
        s_add(x, "motion.withdrawn", org, cmd->motion_withdraw->motion,
              "motion %" PRIu64 " withdrawn by %s", cmd->motion_withdraw->motion, org);
        break;
    case ICS__V1__COMMAND__BODY_VOTE: {
        static const char *const choice[] = {"?", "for", "against", "abstain"};
        unsigned c = (unsigned)cmd->vote->choice;
        s_add(x, "motion.voted", org, cmd->vote->motion, "%s voted %s on motion %" PRIu64, org,
              c < 4 ? choice[c] : "?", cmd->vote->motion);
        break;
    }
    case ICS__V1__COMMAND__BODY_AMEND_PROPOSE:
        s_add(x, "amendment.proposed", org, pos, "amendment %" PRIu64 " to %s section %s", pos,
              cmd->amend_propose->plan, cmd->amend_propose->section);
        break;
    case ICS__V1__COMMAND__BODY_AMEND_WITHDRAW:
        s_add(x, "amendment.withdrawn", org, cmd->amend_withdraw->amendment,
              "amendment %" PRIu64 " withdrawn", cmd->amend_withdraw->amendment);
        break;
    case ICS__V1__COMMAND__BODY_CONSULT_RESPOND: {
        const char *who = cmd->consult_respond->consultee[0] ? cmd->consult_respond->consultee
                                                             : org;
        s_add(x, "consultation.responded", who, cmd->consult_respond->consultation,
              "%s responded to consultation %" PRIu64, who, cmd->consult_respond->consultation);
        break;
    }
    case ICS__V1__COMMAND__BODY_PLAN_CREATE:
        s_add(x, "plan.created", org, pos, "plan %s created: %s", cmd->plan_create->plan,
              cmd->plan_create->title);
        break;
    default:
        break;
    }
}

/* ---- what the state machine decided at this position ---------------------------- */

/* A request's timeline (aid_events) says what a tick or an act set off; the
 * texts are the state machine's and part of its rules. */
static const struct {
    const char *prefix;
    const char *kind;
} s_aid_texts[] = {
    {"escalated to ", "aid.escalated"},
    {"request met", "aid.met"},
    {"expired with ", "aid.expired"},
    {"request expired", "aid.expired"},
    {"request completed", "aid.completed"},
    {"request closed", "aid.closed"},
};

static void s_aid_row(s_ctx_t *x, sqlite3 *db, sqlite3_stmt *st, void *arg)
{
    uint64_t request = (uint64_t)sqlite3_column_int64(st, 1);
    const char *text = s_col(st, 2);
    char requester[ICS_ORG_MAX];
    unsigned long long offer = 0;
    (void)arg;

    s_request_org(db, request, requester);
    for (size_t i = 0; i < sizeof s_aid_texts / sizeof s_aid_texts[0]; i++) {
        if (strncmp(text, s_aid_texts[i].prefix, strlen(s_aid_texts[i].prefix)) == 0) {
            s_add(x, s_aid_texts[i].kind, requester, request, "request %" PRIu64 ": %s", request,
                  text);
            return;
        }
    }
    if (sscanf(text, "offer %llu from", &offer) == 1 && strstr(text, " lapsed") != NULL) {
        char offerer[ICS_ORG_MAX];
        s_offer(db, offer, offerer);
        ics_event_t *ev = s_add(x, "aid.offer_lapsed", offerer, offer,
                                "request %" PRIu64 ": %s", request, text);
        if (ev != NULL) {
            ev->ref2 = request;
            ics_strcpy(ev->other, sizeof ev->other, requester);
        }
    }
}

static void s_motion_row(s_ctx_t *x, sqlite3 *db, sqlite3_stmt *st, void *arg)
{
    uint64_t id = (uint64_t)sqlite3_column_int64(st, 1);
    const char *status = s_col(st, 2);
    (void)db;
    (void)arg;

    if (strcmp(status, "withdrawn") == 0)
        return; /* the signer's own act said so */
    s_add(x, "motion.decided", s_col(st, 4), id, "motion %" PRIu64 " %s: %s%s%s", id, status,
          s_col(st, 3), sqlite3_column_bytes(st, 5) > 0 ? " — " : "", s_col(st, 5));
}

/* Columns: position, id, plan, version, closes_ms or closed_by. */
static void s_consult_row(s_ctx_t *x, sqlite3 *db, sqlite3_stmt *st, void *arg)
{
    const char *what = arg;
    uint64_t id = (uint64_t)sqlite3_column_int64(st, 1);
    char closes[32];
    (void)db;

    if (strcmp(what, "closed") == 0) {
        s_add(x, "consultation.closed", "", id, "consultation %" PRIu64 " on %s v%lld closed%s%s",
              id, s_col(st, 2), (long long)sqlite3_column_int64(st, 3),
              sqlite3_column_bytes(st, 4) > 0 ? " by " : "", s_col(st, 4));
        return;
    }
    s_fmt_time((uint64_t)sqlite3_column_int64(st, 4), closes, sizeof closes);
    s_add(x, "consultation.opened", "", id, "consultation %" PRIu64 " on %s v%lld opened, closes %s",
          id, s_col(st, 2), (long long)sqlite3_column_int64(st, 3), closes);
}

static void s_amend_row(s_ctx_t *x, sqlite3 *db, sqlite3_stmt *st, void *arg)
{
    uint64_t id = (uint64_t)sqlite3_column_int64(st, 1);
    const char *status = s_col(st, 2);
    char kind[ICS_EVENT_KIND_MAX];
    (void)db;
    (void)arg;

    snprintf(kind, sizeof kind, "amendment.%s", status);
    s_add(x, kind, s_col(st, 3), id, "amendment %" PRIu64 " to %s %s%s%s", id, s_col(st, 4),
          status, sqlite3_column_bytes(st, 5) > 0 ? ": " : "", s_col(st, 5));
}

static void s_adopt_row(s_ctx_t *x, sqlite3 *db, sqlite3_stmt *st, void *arg)
{
    (void)db;
    (void)arg;
    ics_event_t *ev = s_add(x, "plan.adopted", "", (uint64_t)sqlite3_column_int64(st, 3),
                            "plan %s version %lld adopted", s_col(st, 1),
                            (long long)sqlite3_column_int64(st, 2));
    if (ev != NULL)
        ev->ref2 = (uint64_t)sqlite3_column_int64(st, 2);
}

static void s_opel_row(s_ctx_t *x, sqlite3 *db, sqlite3_stmt *st, void *arg)
{
    long long level = sqlite3_column_int64(st, 1), was = sqlite3_column_int64(st, 2);
    (void)db;
    (void)arg;
    if (level == 0)
        s_add(x, "opel.changed", "", (uint64_t)level, "system OPEL: no current report (was %lld)",
              was);
    else
        s_add(x, "opel.changed", "", (uint64_t)level, "system OPEL %lld (was %lld)", level, was);
}

/* Consultations "closing soon": the log clock crossed closes - 24 h at an
 * entry (or it opened already that close) while it was open and did not
 * close at that entry. The candidates are read once for the batch. */
static void s_closing_soon(s_ctx_t *x, sqlite3 *db, uint64_t prev_clock)
{
    sqlite3_stmt *st = NULL;
    uint64_t lo = x->e[0].position, hi = x->e[x->n_e - 1].position;
    uint64_t soon = ICS_EVENT_CLOSING_SOON_MS;
    int rc;

    if (x->rc != ICS_OK ||
        sqlite3_prepare_v2(db, "SELECT id, plan, version, closes_ms, opened_at, closed_at"
                               " FROM consultations WHERE opened_at <> 0 AND opened_at <= ?2"
                               " AND (closed_at = 0 OR closed_at > ?1) AND closes_ms > ?3"
                               " ORDER BY id", -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)lo);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)hi);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)prev_clock);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && x->rc == ICS_OK) {
        uint64_t id = (uint64_t)sqlite3_column_int64(st, 0);
        uint64_t closes = (uint64_t)sqlite3_column_int64(st, 3);
        uint64_t opened = (uint64_t)sqlite3_column_int64(st, 4);
        uint64_t closed = (uint64_t)sqlite3_column_int64(st, 5);
        uint64_t pc = prev_clock;
        char when[32];
        s_fmt_time(closes, when, sizeof when);
        for (size_t i = 0; i < x->n_e; i++) {
            const ics_log_entry_t *e = &x->e[i];
            uint64_t now = e->clock_ms, pos = e->position;
            bool open = opened <= pos && (closed == 0 || closed > pos);
            if (open && closes > now && closes <= now + soon &&
                (closes > pc + soon || opened == pos)) {
                x->pos = pos;
                x->clock = now;
                s_add(x, "consultation.closing_soon", "", id, "consultation %" PRIu64 " on %s v%lld"
                      " closes soon, at %s", id, s_col(st, 1), (long long)sqlite3_column_int64(st, 2),
                      when);
            }
            pc = now;
        }
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        x->rc = ICS_EIO;
    sqlite3_finalize(st);
}

/* The derived events of the batch, one list per domain, each in position
 * order: they are merged into each entry's events in this order. */
enum { D_AID, D_MOTION, D_OPENED, D_SOON, D_CLOSED, D_AMEND, D_ADOPT, D_OPEL, D_N };

static void s_derived(s_ctx_t *x, sqlite3 *db, uint64_t prev_clock, ics_events_t dom[D_N])
{
    ics_events_t *out = x->out;

    x->out = &dom[D_AID];
    s_rows(x, db, "SELECT position, request, text FROM aid_events"
                  " WHERE position BETWEEN ?1 AND ?2 ORDER BY position, id", s_aid_row, NULL);
    x->out = &dom[D_MOTION];
    s_rows(x, db, "SELECT closed_at, id, status, title, org, outcome FROM motions"
                  " WHERE closed_at BETWEEN ?1 AND ?2 ORDER BY closed_at, id", s_motion_row, NULL);
    x->out = &dom[D_OPENED];
    s_rows(x, db, "SELECT opened_at, id, plan, version, closes_ms FROM consultations"
                  " WHERE opened_at BETWEEN ?1 AND ?2 ORDER BY opened_at, id", s_consult_row,
           "opened");
    x->out = &dom[D_SOON];
    s_closing_soon(x, db, prev_clock);
    if (dom[D_SOON].n > 1) {
        /* Found consultation by consultation: put them in position order
         * (ids ascending within a position, as found). */
        for (size_t i = 1; i < dom[D_SOON].n; i++) {
            ics_event_t t = dom[D_SOON].v[i];
            size_t j = i;
            while (j > 0 && dom[D_SOON].v[j - 1].index > t.index) {
                dom[D_SOON].v[j] = dom[D_SOON].v[j - 1];
                j--;
            }
            dom[D_SOON].v[j] = t;
        }
    }
    x->out = &dom[D_CLOSED];
    s_rows(x, db, "SELECT closed_at, id, plan, version, closed_by FROM consultations"
                  " WHERE closed_at BETWEEN ?1 AND ?2 ORDER BY closed_at, id", s_consult_row,
           "closed");
    x->out = &dom[D_AMEND];
    s_rows(x, db, "SELECT status_at, id, status, org, plan, status_note FROM amendments"
                  " WHERE status_at BETWEEN ?1 AND ?2"
                  " AND status IN ('accepted', 'rejected', 'superseded') ORDER BY status_at, id",
           s_amend_row, NULL);
    x->out = &dom[D_ADOPT];
    s_rows(x, db, "SELECT position, plan, version, motion FROM adoptions"
                  " WHERE position BETWEEN ?1 AND ?2 ORDER BY position, plan", s_adopt_row, NULL);
    x->out = &dom[D_OPEL];
    s_rows(x, db, "SELECT s.position, s.level, COALESCE((SELECT p.level FROM opel_system p"
                  " WHERE p.position < s.position ORDER BY p.position DESC LIMIT 1), 0)"
                  " FROM opel_system s WHERE s.position BETWEEN ?1 AND ?2 ORDER BY s.position",
           s_opel_row, NULL);
    x->out = out;
}

/* Moves ev to the end of out. */
static bool s_move(ics_events_t *out, const ics_event_t *ev)
{
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 16;
        ics_event_t *v = realloc(out->v, cap * sizeof *v);
        if (v == NULL)
            return false;
        out->v = v;
        out->cap = cap;
    }
    out->v[out->n++] = *ev;
    return true;
}

int ics_events_derive_batch(sqlite3 *db, const ics_log_entry_t *e, size_t n,
                            uint64_t prev_clock_ms, ics_events_t *out)
{
    ics_events_t dom[D_N], own = {0};
    size_t at[D_N] = {0};
    s_ctx_t x = {.out = &own, .e = e, .n_e = n, .rc = ICS_OK};

    memset(dom, 0, sizeof dom);
    if (n == 0)
        return ICS_OK;
    for (size_t i = 1; i < n; i++)
        if (e[i].position != e[0].position + i)
            return ICS_EINVAL;
    s_derived(&x, db, prev_clock_ms, dom);
    for (size_t i = 0; i < n && x.rc == ICS_OK; i++) {
        Ics__V1__Envelope *env = NULL;
        Ics__V1__Command *cmd = NULL;
        size_t first = out->n;

        /* A rejected entry's own act did nothing; but its time may have
         * closed deadlines before it was refused (docs/log-format.md §6),
         * and those are its events too. */
        own.n = 0;
        x.pos = e[i].position;
        x.clock = e[i].clock_ms;
        if (e[i].accepted && ics_envelope_decode(e[i].envelope, e[i].envelope_len, &env, NULL) == ICS_OK &&
            ics_command_decode(env, &cmd, NULL) == ICS_OK) {
            s_direct(&x, db, env, cmd);
            for (size_t k = 0; k < own.n; k++) {
                ics_strcpy(own.v[k].actor, sizeof own.v[k].actor, cmd->actor);
                ics_strcpy(own.v[k].on_behalf, sizeof own.v[k].on_behalf, cmd->on_behalf_of);
            }
        }
        if (cmd != NULL)
            ics__v1__command__free_unpacked(cmd, NULL);
        if (env != NULL)
            ics__v1__envelope__free_unpacked(env, NULL);
        for (size_t k = 0; k < own.n && x.rc == ICS_OK; k++)
            if (!s_move(out, &own.v[k]))
                x.rc = ICS_ENOMEM;
        for (int d = 0; d < D_N && x.rc == ICS_OK; d++) {
            while (at[d] < dom[d].n && dom[d].v[at[d]].index < e[i].position)
                at[d]++;
            for (; at[d] < dom[d].n && dom[d].v[at[d]].index == e[i].position; at[d]++)
                if (!s_move(out, &dom[d].v[at[d]]))
                    x.rc = ICS_ENOMEM;
        }
        for (size_t k = first; k < out->n; k++)
            out->v[k].n = (uint32_t)(k - first);
    }
    for (int d = 0; d < D_N; d++)
        ics_events_free(&dom[d]);
    ics_events_free(&own);
    return x.rc;
}

int ics_events_derive(sqlite3 *db, const ics_log_entry_t *e, uint64_t prev_clock_ms,
                      ics_events_t *out)
{
    return ics_events_derive_batch(db, e, 1, prev_clock_ms, out);
}

bool ics_event_matches(const ics_event_t *ev, char *const *kinds, size_t n_kinds,
                       char *const *orgs, size_t n_orgs)
{
    bool kind_ok = n_kinds == 0, org_ok = n_orgs == 0;

    for (size_t i = 0; !kind_ok && i < n_kinds; i++) {
        size_t n = strlen(kinds[i]);
        kind_ok = strncmp(ev->kind, kinds[i], n) == 0 &&
                  (ev->kind[n] == '\0' || ev->kind[n] == '.');
    }
    for (size_t i = 0; !org_ok && i < n_orgs; i++)
        org_ok = strcmp(ev->org, orgs[i]) == 0 || strcmp(ev->other, orgs[i]) == 0;
    return kind_ok && org_ok;
}
