/*
 * Mutual aid: requests for resources, offers against them, acceptance (with
 * approval above the scheme of reservation and delegation's threshold),
 * delivery, hand-back, cancellation, expiry, and escalation to a regional
 * group. Meaning and rules for people: docs/opel-and-aid.md.
 *
 * Requests and offers are named by the log position of the entry that
 * created them. Because the log orders everything, these hold on every
 * node whatever arrives concurrently from different nodes:
 *   - an offer is accepted at most once (in whole or in part);
 *   - an acceptance never exceeds its offer, and the aid accepted on a
 *     request (here, plus what its regional mirror accepted) never exceeds
 *     the quantity requested: once escalated, the unmet remainder belongs
 *     to the regional group alone (escalated_qty) and no longer to local
 *     offers, so the two groups never promise the same need twice;
 *   - nothing happens to a cancelled, expired or completed request; a
 *     closed one takes no new offers or acceptances, but aid already
 *     agreed on it is still delivered and handed back;
 *   - time is the log clock (ctx->clock_ms) only; expiry, lapsing and
 *     automatic escalation happen in on_clock, and next_deadline makes the
 *     leader tick when one is due.
 *
 * Request lifecycle (aid_requests.status):
 *
 *     AidRequest: s_request()  (a bridging node's mirror: s_mirror())
 *          |
 *          v         AidEscalate s_escalate(), or on_clock
 *     +---------+    s_auto_escalate(): the unmet rest is raised in the
 *     |  OPEN   |--- regional group (stays OPEN, escalated; AidLinkUpdate
 *     +---------+    s_link_update() brings the region's offers and
 *      |  |  |  ^    acceptance back)
 *      |  |  |  | a decline or a release leaves it short: s_refresh()
 *      |  |  |  |
 *      |  |  |  +----------------------------+
 *      |  |  | accepted here + in the region  |
 *      |  |  | reaches the quantity:          |
 *      |  |  | s_accept(), s_link_update()    |
 *      |  |  |  -> s_refresh()                |
 *      |  |  v                                |
 *      |  |  +---------+                      |
 *      |  |  |   MET   |----------------------+
 *      |  |  +---------+
 *      |  |     |  AidCancel s_cancel() with aid delivered: undelivered
 *      |  |     |  aid released -> CLOSED
 *      |  |     | every agreed offer returned or released: s_refresh()
 *      |  |     v
 *      |  |  +-----------+      +---------+  the same, s_refresh()
 *      |  |  | COMPLETED |<-----| CLOSED  |<-- on_clock s_expire() with aid
 *      |  |  +-----------+      +---------+    agreed; s_cancel() with aid
 *      |  |                                     delivered
 *      |  | on_clock s_expire(), nothing agreed
 *      |  +-------------------------------------------------> EXPIRED
 *      | AidCancel s_cancel() (requester), nothing delivered
 *      +----------------------------------------------------> CANCELLED
 *   An escalated OPEN request whose mirror the region ended short of the
 *   need follows it (CLOSED with aid agreed, else EXPIRED or CANCELLED):
 *   s_link_update() -> s_refresh(). A mirror ended at home: s_link_cancel().
 *
 * Offer lifecycle (aid_offers.status):
 *
 *     AidOffer: s_offer()
 *          |
 *          v          AidWithdraw s_withdraw() (offerer)
 *     +---------+---------------------------------------> WITHDRAWN
 *     |  OPEN   |  on_clock s_lapse_offers() (valid until), s_expire(),
 *     +---------+  s_cancel(), s_escalate_now() ----------> LAPSED
 *          | AidAccept s_accept() (requester or coordinator; once;
 *          |   <= offered; <= need)
 *          +------------------------------+
 *          | at or below the threshold    | above it (s_approval_rule())
 *          v                              v
 *     +----------+  AidApprove     +-------------------+ AidApprove decline
 *     | ACCEPTED |<----------------| AWAITING_APPROVAL |------------> DECLINED
 *     +----------+  s_approve()    +-------------------+ s_approve()
 *          |  AidCancel of the request before delivery: both -> RELEASED
 *          | AidDeliver s_deliver_or_return() (offerer, requester or coordinator)
 *          v
 *     +-----------+  AidReturn s_deliver_or_return()  +----------+
 *     | DELIVERED |---------------------------------->| RETURNED |
 *     +-----------+                                   +----------+
 *
 * Across groups (docs/opel-and-aid.md, "Escalation"): a node in both a
 * home group and its regional group (daemon/bridge.c) asks
 * ics_fsm_aid_bridge() what to submit: AidRegion (which group this one
 * escalates to), a mirror AidRequest carrying an AidLink, AidLinkUpdate
 * home-ward and AidLinkCancel region-ward. Each is idempotent here: a
 * second mirror of the same link, an update no newer than the last, a
 * cancel of an ended mirror are accepted and change nothing.
 */
#include "fsm/fsm_aid_data.h"
#include "common/envelope.h"
#include "common/json.h"

#include <assert.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_QTY_MAX 10000
#define S_ESCALATE_MAX_S (30u * 86400)
/* An escalated request expires at home this long after its expiry if the
 * region has not ended it first (no bridge running, say). */
#define S_LINK_GRACE_MS AID_HOUR_MS

/* ---------------------------------------------------------------- schema */

static const char s_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS aid_requests("
    " id INTEGER PRIMARY KEY,"             /* log position that raised it */
    " org TEXT NOT NULL,"                  /* requester (a mirror: the bridging org) */
    " actor TEXT NOT NULL,"
    " resource TEXT NOT NULL,"
    " specialty TEXT NOT NULL,"
    " quantity INTEGER NOT NULL,"
    " urgency INTEGER NOT NULL,"
    " needed_from INTEGER NOT NULL,"
    " needed_until INTEGER NOT NULL,"      /* 0: until handed back */
    " site TEXT NOT NULL,"
    " reason TEXT NOT NULL,"
    " contact TEXT NOT NULL,"
    " opel INTEGER NOT NULL,"              /* requester's OPEL when raised, 0: none */
    " opel_report INTEGER NOT NULL,"       /* the report it was, 0: none */
    " raised_ms INTEGER NOT NULL,"
    " expires_ms INTEGER NOT NULL,"
    " escalate_at INTEGER NOT NULL,"       /* automatic escalation, 0: never */
    " status TEXT NOT NULL CHECK (status IN ('" R_OPEN "', '" R_MET "', '" R_CLOSED "',"
    "  '" R_CANCELLED "', '" R_EXPIRED "', '" R_COMPLETED "')),"
    " status_ms INTEGER NOT NULL,"
    " status_note TEXT NOT NULL,"
    " revision INTEGER NOT NULL,"          /* position of its (or its offers') last change */
    " escalated INTEGER NOT NULL,"
    " escalated_ms INTEGER NOT NULL,"
    " escalated_by TEXT NOT NULL,"
    " escalated_qty INTEGER NOT NULL,"     /* the remainder the region owns */
    " region TEXT NOT NULL,"
    " region_request INTEGER NOT NULL,"
    " region_revision INTEGER NOT NULL,"
    " region_status TEXT NOT NULL,"
    " region_offered INTEGER NOT NULL,"
    " region_accepted INTEGER NOT NULL,"
    " region_delivered INTEGER NOT NULL,"
    " region_returned INTEGER NOT NULL,"
    " link_group TEXT NOT NULL,"           /* a mirror: where it came from */
    " link_request INTEGER NOT NULL,"
    " link_requester TEXT NOT NULL);"
    "CREATE UNIQUE INDEX IF NOT EXISTS aid_requests_link ON aid_requests(link_group,"
    " link_request) WHERE link_group <> '';"
    "CREATE INDEX IF NOT EXISTS aid_requests_status ON aid_requests(status, id);"
    "CREATE TABLE IF NOT EXISTS aid_offers("
    " id INTEGER PRIMARY KEY,"             /* log position of the offer */
    " request INTEGER NOT NULL,"
    " org TEXT NOT NULL,"
    " actor TEXT NOT NULL,"
    " quantity INTEGER NOT NULL,"
    " conditions TEXT NOT NULL,"
    " contact TEXT NOT NULL,"
    " valid_until INTEGER NOT NULL,"       /* 0: while the request is open */
    " offered_ms INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('" O_OPEN "', '" O_AWAITING "', '" O_ACCEPTED "',"
    "  '" O_DELIVERED "', '" O_RETURNED "', '" O_WITHDRAWN "', '" O_LAPSED "', '" O_DECLINED "',"
    "  '" O_RELEASED "')),"
    " status_ms INTEGER NOT NULL,"
    " status_note TEXT NOT NULL,"
    " accepted INTEGER NOT NULL,"          /* quantity accepted, 0 until then */
    " accepted_at INTEGER NOT NULL,"       /* position of the acceptance */
    " accepted_by TEXT NOT NULL,"
    " approval_value INTEGER NOT NULL,"    /* the value the rule was asked about, 0: none */
    " approval_role TEXT NOT NULL,"        /* approved by a role's holder acting alone, */
    " approval_body TEXT NOT NULL,"        /* or by a body's motion ('' both: none needed) */
    " approval_text TEXT NOT NULL,"        /* the rule, for people */
    " approved_by TEXT NOT NULL,"
    " delivered_ms INTEGER NOT NULL,"
    " returned_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS aid_offers_request ON aid_offers(request, id);"
    "CREATE INDEX IF NOT EXISTS aid_offers_status ON aid_offers(status, id);"
    "CREATE TABLE IF NOT EXISTS aid_link_offers("  /* a mirror's offers, as the region has them */
    " request INTEGER NOT NULL,"
    " org TEXT NOT NULL,"
    " offered INTEGER NOT NULL,"
    " accepted INTEGER NOT NULL,"
    " delivered INTEGER NOT NULL,"
    " returned INTEGER NOT NULL,"
    " PRIMARY KEY (request, org));"
    "CREATE TABLE IF NOT EXISTS aid_events("
    " id INTEGER PRIMARY KEY,"             /* max+1: deterministic */
    " request INTEGER NOT NULL,"
    " position INTEGER NOT NULL,"
    " at_ms INTEGER NOT NULL,"
    " org TEXT NOT NULL,"
    " actor TEXT NOT NULL,"
    " text TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS aid_events_request ON aid_events(request, id);"
    "CREATE TABLE IF NOT EXISTS aid_settings("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " region TEXT NOT NULL,"
    " region_by TEXT NOT NULL,"
    " region_at INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO aid_settings(id, region, region_by, region_at) VALUES (1, '', '', 0);";

static int s_schema(ics_db_t *db)
{
    return ics_sql_exec(db, s_schema_sql);
}

/* ---------------------------------------------------------------- checks */

/* Text people typed: bounded, valid UTF-8, no control characters but
 * newline and tab (it goes into terminals and JSON). */
static bool s_text_ok(const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;

    if (strlen(s) > max)
        return false;
    while (*p) {
        unsigned c = *p, len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
                                            : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (len == 0 || (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ||
            (len == 2 && c < 0xc2))
            return false;
        for (unsigned i = 1; i < len; i++)
            if ((p[i] & 0xc0) != 0x80)
                return false;
        p += len;
    }
    return true;
}

/* A specialty names something short: letters, digits, spaces, - _ / . & */
static bool s_specialty_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > AID_SPECIALTY_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == ' ' || c == '-' || c == '_' || c == '/' || c == '.' || c == '&'))
            return false;
    }
    return true;
}

/* ---------------------------------------------------------------- writes */

static int s_event(ics_apply_ctx_t *ctx, uint64_t request, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends a line to the request's timeline. */
static int s_event(ics_apply_ctx_t *ctx, uint64_t request, const char *fmt, ...)
{
    char text[600];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    rc = ics_sql_run(ctx->db,
                     "INSERT INTO aid_events(request, position, at_ms, org, actor,"
                     " text) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                     "uuuttt", request, ctx->position, ctx->clock_ms, ctx->org, ctx->actor, text);
    return rc;
}

/* Marks the request changed at this position (the bridge follows revisions). */
static int s_touch(ics_apply_ctx_t *ctx, uint64_t request)
{
    int rc = ics_sql_run(ctx->db, "UPDATE aid_requests SET revision = ?2 WHERE id = ?1", "uu",
                         request, ctx->position);
    return rc;
}

static int s_set_req_status(ics_apply_ctx_t *ctx, ics_aid_req_t *r, const char *status,
                            const char *note)
{
    int rc = ics_sql_run(ctx->db,
                         "UPDATE aid_requests SET status = ?2, status_ms = ?3,"
                         " status_note = ?4, revision = ?5 WHERE id = ?1",
                         "ututu", r->id, status, ctx->clock_ms, note, ctx->position);
    if (rc == ICS_OK) {
        ics_strcpy(r->status, sizeof r->status, status);
        r->status_ms = ctx->clock_ms;
    }
    return rc;
}

static int s_set_offer_status(ics_apply_ctx_t *ctx, uint64_t offer, const char *status,
                              const char *note)
{
    int rc = ics_sql_run(ctx->db,
                         "UPDATE aid_offers SET status = ?2, status_ms = ?3,"
                         " status_note = ?4 WHERE id = ?1",
                         "utut", offer, status, ctx->clock_ms, note);
    return rc;
}

/* Moves every offer of the request in status `from` to `to`, with a
 * timeline line per offer, in offer order. */
static int s_offers_to(ics_apply_ctx_t *ctx, const ics_aid_req_t *r, const char *from,
                       const char *to, const char *why)
{
    sqlite3_stmt *st = NULL;
    uint64_t ids[64], after = 0;
    char orgs[64][ICS_ORG_MAX];
    size_t n;
    int rc;

    /* In pages, collected first: the updates must not run under an open
     * SELECT. */
    do {
        n = 0;
        rc = ics_sql_query(ctx->db, &st,
                           "SELECT id, org FROM aid_offers WHERE request = ?1"
                           " AND status = ?2 AND id > ?3 ORDER BY id LIMIT 64",
                           "utu", r->id, from, after);
        if (rc != ICS_OK)
            return rc;
        while ((rc = ics_sql_row(ctx->db, st)) == ICS_OK) {
            ids[n] = ics_sql_column_u64(st, 0);
            ics_sql_column_text(st, 1, orgs[n], ICS_ORG_MAX);
            n++;
        }
        ics_sql_release(ctx->db, st);
        if (rc != ICS_ENOENT)
            return rc;
        for (size_t i = 0; i < n; i++) {
            rc = s_set_offer_status(ctx, ids[i], to, why);
            if (rc == ICS_OK)
                rc = s_event(ctx, r->id, "offer %" PRIu64 " from %s %s: %s", ids[i], orgs[i],
                             to, why);
            if (rc != ICS_OK)
                return rc;
            after = ids[i];
        }
    } while (n == 64);
    return ICS_OK;
}

/* Is the request past its expiry by the log clock? An escalated one is
 * the region's to end, with a grace in case no bridge runs. */
static bool s_due(const ics_apply_ctx_t *ctx, const ics_aid_req_t *r)
{
    uint64_t at = r->expires + (r->escalated ? S_LINK_GRACE_MS : 0);
    return at <= ctx->clock_ms;
}

static bool s_region_done(const ics_aid_req_t *r)
{
    return !r->escalated || r->region_request == 0 || ics_aid_request_ended(r->region_status);
}

/* Re-derives the request's status from its offers and its regional
 * mirror: the one place MET, back to OPEN, and COMPLETED are decided. */
static int s_refresh(ics_apply_ctx_t *ctx, uint64_t id)
{
    char a[48], note[200];
    ics_aid_req_t r;
    int rc;

    rc = ics_aid_load_req(ctx->db, id, &r);
    if (rc != ICS_OK)
        return rc == ICS_ENOENT ? ICS_EIO : rc;
    if (ics_aid_request_ended(r.status))
        return ICS_OK;
    uint64_t covered = ics_aid_covered(&r);
    if (ics_aid_is(r.status, R_OPEN) && covered >= r.quantity) {
        snprintf(note, sizeof note, "%s of %" PRIu64 " agreed", ics_aid_qty(r.resource, covered, a,
                 sizeof a), r.quantity);
        rc = s_set_req_status(ctx, &r, R_MET, note);
        if (rc == ICS_OK)
            rc = s_event(ctx, r.id, "request met: %s", note);
    } else if (ics_aid_is(r.status, R_MET) && covered < r.quantity) {
        snprintf(note, sizeof note, "%s of %" PRIu64 " agreed", ics_aid_qty(r.resource, covered, a,
                 sizeof a), r.quantity);
        if (s_due(ctx, &r))
            rc = s_set_req_status(ctx, &r, covered > 0 ? R_CLOSED : R_EXPIRED, note);
        else
            rc = s_set_req_status(ctx, &r, R_OPEN, note);
        if (rc == ICS_OK && !ics_aid_is(r.status, R_OPEN))
            rc = s_offers_to(ctx, &r, O_OPEN, O_LAPSED, "the request expired");
        if (rc == ICS_OK)
            rc = s_event(ctx, r.id, "request no longer met (%s): %s", note, r.status);
    }
    if (rc != ICS_OK)
        return rc;
    /* Not an else: a request just back to OPEN may find its mirror ended. */
    if (ics_aid_is(r.status, R_OPEN) && r.escalated && r.region_request != 0 &&
        (ics_aid_is(r.region_status, R_CLOSED) || ics_aid_request_ended(r.region_status))) {
        /* The region ended its mirror short of the need. */
        snprintf(note, sizeof note, "%s request %" PRIu64 " %s", r.region, r.region_request,
                 r.region_status);
        rc = s_set_req_status(ctx, &r, covered > 0 ? R_CLOSED
                                       : ics_aid_is(r.region_status, R_CANCELLED) ? R_CANCELLED
                                                                            : R_EXPIRED, note);
        if (rc == ICS_OK)
            rc = s_offers_to(ctx, &r, O_OPEN, O_LAPSED, "the request ended");
        if (rc == ICS_OK)
            rc = s_event(ctx, r.id, "request %s: %s", r.status, note);
    }
    if (rc != ICS_OK)
        return rc;
    if ((ics_aid_is(r.status, R_MET) || ics_aid_is(r.status, R_CLOSED)) && r.outstanding == 0 &&
        s_region_done(&r)) {
        const char *end = ics_aid_covered(&r) > 0 ? R_COMPLETED : R_EXPIRED;
        rc = s_set_req_status(ctx, &r, end, ics_aid_is(end, R_COMPLETED)
                                            ? "all agreed aid handed back or released"
                                            : "no aid was agreed");
        if (rc == ICS_OK)
            rc = s_event(ctx, r.id, "request %s", end);
    }
    return rc;
}

/* The reason a request takes nothing more, or NULL if it is live.
 * closed_too: CLOSED counts as ended (for offers and acceptance). */
static const char *s_ended_why(const ics_aid_req_t *r, bool closed_too, char *buf, size_t size)
{
    char when[32];
    if (!ics_aid_request_ended(r->status) && !(closed_too && ics_aid_is(r->status, R_CLOSED)))
        return NULL;
    ics_aid_fmt_time(r->status_ms, when, sizeof when);
    if (ics_aid_is(r->status, R_CLOSED))
        snprintf(buf, size, "request %" PRIu64 " was closed at %s: it takes no new offers or"
                            " acceptances", r->id, when);
    else
        snprintf(buf, size, "request %" PRIu64 " %s at %s: nothing more can happen to it",
                 r->id, ics_aid_is(r->status, R_CANCELLED) ? "was cancelled"
                        : ics_aid_is(r->status, R_EXPIRED) ? "expired" : "was completed", when);
    return buf;
}

/* Is the signer the group's coordinating organisation (its membership
 * administrator: in an ICS the ICB's system coordination centre), which
 * may act for a requester? */
static int s_coordinator(ics_apply_ctx_t *ctx, bool *yes)
{
    ics_member_t m;
    int rc = ics_members_get(ctx->db, ctx->org, &m);

    *yes = rc == ICS_OK && m.admin;
    return rc == ICS_ENOENT ? ICS_OK : rc;
}

/* Loads a request for a command; rejects if there is none. */
static int s_need_req(ics_apply_ctx_t *ctx, uint64_t id, ics_aid_req_t *r)
{
    int rc = ics_aid_load_req(ctx->db, id, r);
    if (rc == ICS_ENOENT)
        return ics_reject(ctx, "there is no request %" PRIu64 " in group %s", id, ctx->group);
    return rc;
}

static int s_need_offer(ics_apply_ctx_t *ctx, uint64_t id, ics_aid_offer_t *o, ics_aid_req_t *r)
{
    int rc = ics_aid_load_offer(ctx->db, id, o);
    if (rc == ICS_ENOENT)
        return ics_reject(ctx, "there is no offer %" PRIu64 " in group %s", id, ctx->group);
    if (rc != ICS_OK)
        return rc;
    rc = ics_aid_load_req(ctx->db, o->request, r);
    return rc == ICS_ENOENT ? ICS_EIO : rc;
}

/* Text a person typed into a field (e.g. "note is"): ICS_OK, or rejected
 * saying which field and why. */
static int s_need_text(ics_apply_ctx_t *ctx, const char *text, size_t max, const char *field_is)
{
    if (s_text_ok(text, max))
        return ICS_OK;
    return ics_reject(ctx, "%s longer than %d bytes, or not plain text", field_is, (int)max);
}

/* ICS_OK while the request can still be acted on; rejected with why once
 * it has ended (or, closed_too, was closed). */
static int s_need_live(ics_apply_ctx_t *ctx, const ics_aid_req_t *r, bool closed_too)
{
    char why[200];

    if (s_ended_why(r, closed_too, why, sizeof why) == NULL)
        return ICS_OK;
    return ics_reject(ctx, "%s", why);
}

/* Why an offer cannot be accepted, approved, delivered... in its state. */
static int s_offer_state_reject(ics_apply_ctx_t *ctx, const ics_aid_offer_t *o, const char *want)
{
    const char *want_words = ics_aid_is(want, O_ACCEPTED) ? "accepted and awaiting delivery"
                             : ics_aid_is(want, O_DELIVERED) ? "delivered"
                             : ics_aid_is(want, O_AWAITING) ? "awaiting approval" : want;
    char when[32];
    ics_aid_fmt_time(o->status_ms, when, sizeof when);
    if (ics_aid_is(o->status, O_AWAITING) || ics_aid_is(o->status, O_ACCEPTED) ||
        ics_aid_is(o->status, O_DELIVERED) || ics_aid_is(o->status, O_RETURNED)) {
        if (ics_aid_is(want, O_OPEN))
            return ics_reject(ctx, "offer %" PRIu64 " was already accepted (%" PRIu64
                                   " at index %" PRIu64 "); an offer is accepted once",
                              o->id, o->accepted, o->accepted_at);
        if (ics_aid_is(o->status, O_AWAITING))
            return ics_reject(ctx, "offer %" PRIu64 " is awaiting approval by %s", o->id,
                              o->approval_text);
        return ics_reject(ctx, "offer %" PRIu64 " is %s, not %s", o->id, o->status,
                          want_words);
    }
    if (ics_aid_is(o->status, O_WITHDRAWN))
        return ics_reject(ctx, "offer %" PRIu64 " was withdrawn by %s at %s", o->id, o->org,
                          when);
    if (ics_aid_is(o->status, O_LAPSED))
        return ics_reject(ctx, "offer %" PRIu64 " lapsed at %s", o->id, when);
    if (ics_aid_is(o->status, O_DECLINED))
        return ics_reject(ctx, "offer %" PRIu64 "'s acceptance was declined at %s", o->id,
                          when);
    if (ics_aid_is(o->status, O_RELEASED))
        return ics_reject(ctx, "offer %" PRIu64 " was released when its request was cancelled"
                               " at %s", o->id, when);
    return ics_reject(ctx, "offer %" PRIu64 " is %s, not %s", o->id, o->status, want_words);
}

/* ---------------------------------------------------------------- approval */

/* The scheme of reservation and delegation's rule for accepting aid worth
 * `value` (the total agreed on the request with this acceptance, so that
 * splitting an acceptance into small ones does not avoid approval) for the
 * organisation that asked: the policy in force (fsm_policy.c; the built-in
 * default has a threshold of 10 and names the ICB's chief executive). */
static int s_approval_rule(ics_db_t *db, uint64_t value, const char *org,
                           ics_aid_approval_t *out)
{
    return ics_policy_aid_approval(db, value, org, out);
}

/* May the signer approve or decline offer o's acceptance? ICS_OK, or
 * ICS_EREJECTED saying who may. A role's holder acts alone, as the
 * person (ctx->org, ctx->actor) the people registry has appointed to it;
 * a body decides by a carried MotionApproveAid for the offer, after which
 * anyone may record the approval; the requester may always withdraw its
 * acceptance (decline) while it awaits a body's decision. */
static int s_approver_check(ics_apply_ctx_t *ctx, const ics_aid_offer_t *o, const ics_aid_req_t *r,
                            bool decline)
{
    char target[32];
    uint64_t motion = 0, value = 0;
    bool holds = false;
    int rc;

    if (o->approval_body[0] != '\0') {
        if (decline && ics_aid_is(ctx->org, r->org))
            return ICS_OK;
        snprintf(target, sizeof target, "aid:%" PRIu64, o->id);
        rc = ics_decision_carried(ctx->db, ICS__V1__DECISION__DECISION_AID_APPROVE, target,
                                  &motion, &value);
        if (rc != ICS_OK && rc != ICS_ENOENT)
            return rc;
        if (rc == ICS_ENOENT || decline)
            return ics_reject(ctx, "offer %" PRIu64 "'s acceptance is for %s to decide by motion"
                                   " (propose approving aid for offer %" PRIu64 ", value %" PRIu64
                                   ")", o->id, o->approval_text, o->id, o->approval_value);
        if (value < o->approval_value)
            return ics_reject(ctx, "motion %" PRIu64 " approved aid of %" PRIu64 " for offer %"
                                   PRIu64 ", less than the %" PRIu64 " agreed", motion, value,
                              o->id, o->approval_value);
        return ICS_OK;
    }
    rc = ics_policy_person_holds(ctx->db, ctx->org, ctx->actor, o->approval_role, &holds);
    if (rc != ICS_OK)
        return rc;
    if (!holds)
        return ics_reject(ctx, "offer %" PRIu64 "'s acceptance must be approved by %s; %s of %s"
                               " does not hold that role", o->id, o->approval_text,
                          ctx->actor[0] ? ctx->actor : "(no person named)", ctx->org);
    return ICS_OK;
}

/* ---------------------------------------------------------------- commands */

typedef struct {
    const ics_aid_resource_t *res;
    uint64_t needed_from, needed_until, expires, escalate_at;
} s_req_fields_t;

/* Checks a request's fields (shared by requests and mirrors). */
static int s_check_request(ics_apply_ctx_t *ctx, const Ics__V1__AidRequest *a, bool mirror,
                           s_req_fields_t *f)
{
    const ics_aid_urgency_t *u;
    char t1[32], t2[32];

    memset(f, 0, sizeof *f);
    f->res = ics_aid_resource(a->resource);
    if (f->res == NULL)
        return ics_reject(ctx, "unknown resource '%.40s' (icsctl aid resources lists them)",
                          a->resource);
    if (a->specialty[0] == '\0' && f->res->specialty == AID_SPEC_REQUIRED)
        return ics_reject(ctx, "%s needs a specialty (e.g. %s)", f->res->id,
                          ics_aid_is(f->res->id, "registered_nurses") ? "critical_care or ed"
                          : ics_aid_is(f->res->id, "doctors") ? "anaesthetics registrar"
                                                         : "what exactly is needed");
    if (a->specialty[0] != '\0' && !s_specialty_ok(a->specialty))
        return ics_reject(ctx, "specialty '%.60s' is not 1 to %d letters, digits, spaces or"
                               " - _ / . &", a->specialty, AID_SPECIALTY_MAX);
    if (a->quantity < 1 || a->quantity > S_QTY_MAX)
        return ics_reject(ctx, "quantity %" PRIu64 " is not 1 to %d", a->quantity, S_QTY_MAX);
    if (a->urgency < ICS__V1__AID_URGENCY__AID_URGENCY_IMMEDIATE ||
        a->urgency > ICS__V1__AID_URGENCY__AID_URGENCY_PLANNED)
        return ics_reject(ctx, "urgency is missing or unknown (immediate, within 4 hours,"
                               " within 24 hours or planned)");
    u = ics_aid_urgency((uint64_t)a->urgency);
    if (a->site[0] == '\0' || !s_text_ok(a->site, AID_SITE_MAX))
        return ics_reject(ctx, "site must say where the aid is needed (1 to %d bytes of text)",
                          AID_SITE_MAX);
    if (a->reason[0] == '\0' || !s_text_ok(a->reason, AID_TEXT_MAX))
        return ics_reject(ctx, "reason must say why the aid is needed (1 to %d bytes of text)",
                          AID_TEXT_MAX);
    if (a->contact[0] == '\0' || !s_text_ok(a->contact, AID_CONTACT_MAX))
        return ics_reject(ctx, "contact must say whom to call (1 to %d bytes of text)",
                          AID_CONTACT_MAX);
    if (a->needed_from_ms > INT64_MAX || a->needed_until_ms > INT64_MAX ||
        a->expires_ms > INT64_MAX)
        return ics_reject(ctx, "a time is beyond 2^63-1 ms");
    if (a->escalate_after_s > S_ESCALATE_MAX_S)
        return ics_reject(ctx, "escalate after %u s is more than 30 days", a->escalate_after_s);
    f->needed_from = a->needed_from_ms ? a->needed_from_ms : ctx->clock_ms;
    f->needed_until = a->needed_until_ms;
    ics_aid_fmt_time(f->needed_from, t1, sizeof t1);
    ics_aid_fmt_time(f->needed_until, t2, sizeof t2);
    if (!mirror && f->needed_until != 0 && f->needed_until <= ctx->clock_ms)
        return ics_reject(ctx, "needed until %s is already past", t2);
    if (f->needed_until != 0 && f->needed_until <= f->needed_from)
        return ics_reject(ctx, "needed until %s is not after needed from %s", t2, t1);
    f->expires = a->expires_ms;
    if (f->expires == 0) {
        f->expires = ctx->clock_ms + u->expiry_ms;
        if (f->needed_until != 0 && f->needed_until < f->expires)
            f->expires = f->needed_until;
    } else if (!mirror && f->expires <= ctx->clock_ms) {
        ics_aid_fmt_time(f->expires, t1, sizeof t1);
        return ics_reject(ctx, "expiry %s is already past", t1);
    }
    if (a->no_auto_escalation)
        f->escalate_at = 0;
    else if (a->escalate_after_s != 0)
        f->escalate_at = ctx->clock_ms + (uint64_t)a->escalate_after_s * 1000;
    else if (u->escalate_ms != 0)
        f->escalate_at = ctx->clock_ms + u->escalate_ms;
    return ICS_OK;
}

static int s_insert_request(ics_apply_ctx_t *ctx, const Ics__V1__AidRequest *a,
                            const s_req_fields_t *f, unsigned opel, uint64_t opel_report,
                            const char *link_group, uint64_t link_request,
                            const char *link_requester)
{
    int rc;

    rc = ics_sql_run(
        ctx->db,
        "INSERT INTO aid_requests(id, org, actor, resource, specialty, quantity, urgency,"
        " needed_from, needed_until, site, reason, contact, opel, opel_report, raised_ms,"
        " expires_ms, escalate_at, status, status_ms, status_note, revision, escalated,"
        " escalated_ms, escalated_by, escalated_qty, region, region_request, region_revision,"
        " region_status, region_offered, region_accepted, region_delivered, region_returned,"
        " link_group, link_request, link_requester)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
        " '" R_OPEN "', ?15, '', ?1, 0, 0, '', 0, '', 0, 0, '', 0, 0, 0, 0, ?18, ?19, ?20)",
        "uttttuiuutttiuuuutut", ctx->position, ctx->org, ctx->actor, f->res->id, a->specialty,
        a->quantity, (int)a->urgency, f->needed_from, f->needed_until, a->site, a->reason,
        a->contact, (int)opel, opel_report, ctx->clock_ms, f->expires, f->escalate_at, link_group,
        link_request, link_requester);
    return rc;
}

/* AidRequest carrying an AidLink: a bridging node raises, in this
 * (regional) group, the unmet remainder of a request escalated in its home
 * group. The signer owns it here and acts on it for the home requester. */
static int s_mirror(ics_apply_ctx_t *ctx, const Ics__V1__AidRequest *a)
{
    const Ics__V1__AidLink *l = a->link;
    s_req_fields_t f;
    char q[48];
    ics_aid_req_t existing;
    int rc;

    if (!ics_valid_id(l->home_group, ICS_GROUP_MAX) || ics_aid_is(l->home_group, ctx->group))
        return ics_reject(ctx, "link names home group '%.64s', which is not another group",
                          l->home_group);
    if (l->home_request == 0 || l->home_request > INT64_MAX)
        return ics_reject(ctx, "link names no home request");
    if (!ics_valid_id(l->home_requester, ICS_ORG_MAX))
        return ics_reject(ctx, "link's home requester '%.40s' is not an organisation id",
                          l->home_requester);
    if (l->home_opel > 4)
        return ics_reject(ctx, "link's OPEL level %u is not 0 to 4", l->home_opel);
    rc = ics_aid_load_mirror(ctx->db, l->home_group, l->home_request, &existing);
    if (rc == ICS_OK)
        return ICS_OK; /* another bridging node (or a retry) was first: nothing to do */
    if (rc != ICS_ENOENT)
        return rc;
    rc = s_check_request(ctx, a, true, &f);
    if (rc != ICS_OK)
        return rc;
    rc = s_insert_request(ctx, a, &f, l->home_opel, 0, l->home_group, l->home_request,
                          l->home_requester);
    if (rc == ICS_OK)
        rc = s_event(ctx, ctx->position, "escalated from %s request %" PRIu64 " of %s"
                                         " (OPEL %u): %s needed; %s acts for it here",
                     l->home_group, l->home_request, l->home_requester, l->home_opel,
                     ics_aid_qty(f.res->id, a->quantity, q, sizeof q), ctx->org);
    return rc;
}

static int s_request(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__AidRequest *a = cmd->aid_request;
    s_req_fields_t f;
    unsigned opel = 0;
    uint64_t report = 0;
    char q[48];
    int rc;

    if (a->link != NULL)
        return s_mirror(ctx, a);
    rc = s_check_request(ctx, a, false, &f);
    if (rc != ICS_OK)
        return rc;
    rc = ics_opel_current(ctx->db, ctx->org, ctx->clock_ms, &opel, &report);
    if (rc != ICS_OK)
        return rc;
    rc = s_insert_request(ctx, a, &f, opel, report, "", 0, "");
    if (rc == ICS_OK)
        rc = s_event(ctx, ctx->position, "raised: %s%s%s needed, %s, at %s (requester at %s)",
                     ics_aid_qty(f.res->id, a->quantity, q, sizeof q), a->specialty[0] ? " " : "",
                     a->specialty, ics_aid_urgency((uint64_t)a->urgency)->words, a->site,
                     opel ? (opel == 1 ? "OPEL 1" : opel == 2 ? "OPEL 2"
                             : opel == 3 ? "OPEL 3" : "OPEL 4") : "no current OPEL report");
    return rc;
}

static int s_offer(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__AidOffer *a = cmd->aid_offer;
    char q[48], when[32];
    ics_aid_req_t r;
    int rc;

    rc = s_need_req(ctx, a->request, &r);
    if (rc != ICS_OK)
        return rc;
    if (ics_aid_is(r.org, ctx->org))
        return ics_reject(ctx, "%s cannot offer aid against its own request %" PRIu64, ctx->org,
                          r.id);
    rc = s_need_live(ctx, &r, true);
    if (rc != ICS_OK)
        return rc;
    if (ics_aid_is(r.status, R_MET))
        return ics_reject(ctx, "request %" PRIu64 " is already met (%s agreed)", r.id,
                          ics_aid_qty(r.resource, ics_aid_covered(&r), q, sizeof q));
    if (ics_aid_local_need(&r) == 0 && r.escalated) {
        ics_aid_fmt_time(r.escalated_ms, when, sizeof when);
        return ics_reject(ctx, "request %" PRIu64 "'s unmet %s went to %s at %s: offer there", r.id,
                          ics_aid_qty(r.resource, r.escalated_qty, q, sizeof q), r.region, when);
    }
    if (a->quantity < 1 || a->quantity > r.quantity)
        return ics_reject(ctx, "offer of %" PRIu64 " is not 1 to the %s requested", a->quantity,
                          ics_aid_qty(r.resource, r.quantity, q, sizeof q));
    rc = s_need_text(ctx, a->conditions, AID_TEXT_MAX, "conditions are");
    if (rc != ICS_OK)
        return rc;
    rc = s_need_text(ctx, a->contact, AID_CONTACT_MAX, "contact is");
    if (rc != ICS_OK)
        return rc;
    if (a->valid_until_ms > INT64_MAX)
        return ics_reject(ctx, "valid until is beyond 2^63-1 ms");
    if (a->valid_until_ms != 0 && a->valid_until_ms <= ctx->clock_ms) {
        ics_aid_fmt_time(a->valid_until_ms, when, sizeof when);
        return ics_reject(ctx, "valid until %s is already past", when);
    }
    rc = ics_sql_run(
        ctx->db,
        "INSERT INTO aid_offers(id, request, org, actor, quantity, conditions, contact,"
        " valid_until, offered_ms, status, status_ms, status_note, accepted, accepted_at,"
        " accepted_by, approval_value, approval_role, approval_body, approval_text, approved_by,"
        " delivered_ms, returned_ms)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, '" O_OPEN "', ?9, '', 0, 0, '', 0, '', '',"
        " '', '', 0, 0)",
        "uuttuttuu", ctx->position, r.id, ctx->org, ctx->actor, a->quantity, a->conditions,
        a->contact, a->valid_until_ms, ctx->clock_ms);
    if (rc == ICS_OK)
        rc = s_event(ctx, r.id, "offer %" PRIu64 ": %s offers %s%s%s", ctx->position, ctx->org,
                     ics_aid_qty(r.resource, a->quantity, q, sizeof q),
                     a->conditions[0] ? ": " : "", a->conditions);
    if (rc == ICS_OK)
        rc = s_touch(ctx, r.id);
    return rc;
}

static int s_accept(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__AidAccept *a = cmd->aid_accept;
    ics_aid_approval_t ap;
    ics_aid_offer_t o;
    ics_aid_req_t r;
    char why[200], q[48], q2[96], when[32];
    uint64_t want, need;
    int rc;

    rc = s_need_offer(ctx, a->offer, &o, &r);
    if (rc != ICS_OK)
        return rc;
    /* The requester accepts; the group's coordinating organisation (its
     * membership administrator: in an ICS the ICB's system coordination
     * centre) may accept for it. */
    if (!ics_aid_is(r.org, ctx->org)) {
        bool coordinator = false;
        rc = s_coordinator(ctx, &coordinator);
        if (rc != ICS_OK)
            return rc;
        if (!coordinator)
            return ics_reject(ctx, "only %s, which made request %" PRIu64 ", or the group's"
                                   " coordinating organisation may accept its offers", r.org,
                              r.id);
    }
    rc = s_need_live(ctx, &r, true);
    if (rc != ICS_OK)
        return rc;
    if (!ics_aid_is(o.status, O_OPEN))
        return s_offer_state_reject(ctx, &o, O_OPEN);
    if (ics_aid_is(r.status, R_MET))
        return ics_reject(ctx, "request %" PRIu64 " is already met (%s agreed)", r.id,
                          ics_aid_qty(r.resource, ics_aid_covered(&r), q, sizeof q));
    want = a->quantity != 0 ? a->quantity : o.quantity;
    if (want > o.quantity)
        return ics_reject(ctx, "offer %" PRIu64 " is for %s; %" PRIu64 " cannot be accepted",
                          o.id, ics_aid_qty(r.resource, o.quantity, q, sizeof q), want);
    need = ics_aid_local_need(&r);
    if (need == 0 && r.escalated) {
        ics_aid_fmt_time(r.escalated_ms, when, sizeof when);
        return ics_reject(ctx, "request %" PRIu64 "'s unmet %s went to %s at %s: offers for it"
                               " are accepted there", r.id,
                          ics_aid_qty(r.resource, r.escalated_qty, q, sizeof q), r.region, when);
    }
    if (want > need) {
        q2[0] = '\0';
        if (r.escalated)
            snprintf(q2, sizeof q2, ", %" PRIu64 " gone to %s", r.escalated_qty, r.region);
        return ics_reject(ctx, "accepting %s would exceed request %" PRIu64 ": %" PRIu64
                               " requested, %" PRIu64 " already agreed%s, %" PRIu64
                               " still needed (accept at most %" PRIu64 ")",
                          ics_aid_qty(r.resource, want, q, sizeof q), r.id, r.quantity, r.allocated,
                          q2, need, need);
    }
    rc = s_approval_rule(ctx->db, r.allocated + want, r.org, &ap);
    if (rc != ICS_OK)
        return rc;
    if (ap.needed && !ap.allowed)
        return ics_reject(ctx, "%s agreed on request %" PRIu64 " would need approval, and the"
                               " scheme of reservation and delegation lets nobody approve it: %s",
                          ics_aid_qty(r.resource, r.allocated + want, q, sizeof q), r.id, ap.text);
    snprintf(why, sizeof why, "%s accepted%s", ics_aid_qty(r.resource, want, q, sizeof q),
             ap.needed ? ", awaiting approval" : "");
    rc = ics_sql_run(ctx->db,
                     "UPDATE aid_offers SET status = ?2, status_ms = ?3,"
                     " status_note = ?4, accepted = ?5, accepted_at = ?6,"
                     " accepted_by = ?7, approval_value = ?8, approval_role = ?9,"
                     " approval_body = ?10, approval_text = ?11 WHERE id = ?1",
                     "ututuututtt", o.id, ap.needed ? O_AWAITING : O_ACCEPTED, ctx->clock_ms, why,
                     want, ctx->position, ctx->actor, ap.needed ? r.allocated + want : 0,
                     ap.needed && ap.individual ? ap.role : "",
                     ap.needed && !ap.individual ? ap.body : "", ap.needed ? ap.text : "");
    if (rc != ICS_OK)
        return rc;
    snprintf(q2, sizeof q2, "%s%s", ics_aid_is(r.org, ctx->org) ? "" : " for ",
             ics_aid_is(r.org, ctx->org) ? "" : r.org);
    if (ap.needed)
        rc = s_event(ctx, r.id, "offer %" PRIu64 " from %s: %s accepted%s; more than %" PRIu64
                                " on one request needs approval by %s", o.id, o.org, q, q2,
                     ap.threshold, ap.text);
    else
        rc = s_event(ctx, r.id, "offer %" PRIu64 " from %s: %s accepted%s", o.id, o.org, q, q2);
    if (rc == ICS_OK)
        rc = s_touch(ctx, r.id);
    if (rc == ICS_OK)
        rc = s_refresh(ctx, r.id);
    return rc;
}

static int s_approve(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__AidApprove *a = cmd->aid_approve;
    ics_aid_offer_t o;
    ics_aid_req_t r;
    char why[200], q[48];
    int rc;

    rc = s_need_offer(ctx, a->offer, &o, &r);
    if (rc != ICS_OK)
        return rc;
    rc = s_need_text(ctx, a->note, AID_TEXT_MAX, "note is");
    if (rc != ICS_OK)
        return rc;
    if (!ics_aid_is(o.status, O_AWAITING)) {
        if (ics_aid_is(o.status, O_ACCEPTED) && o.approval_text[0] == '\0')
            return ics_reject(ctx, "offer %" PRIu64 "'s acceptance needed no approval", o.id);
        if (ics_aid_is(o.status, O_ACCEPTED) || ics_aid_is(o.status, O_DELIVERED) ||
            ics_aid_is(o.status, O_RETURNED))
            return ics_reject(ctx, "offer %" PRIu64 "'s acceptance was already approved", o.id);
        return s_offer_state_reject(ctx, &o, O_AWAITING);
    }
    rc = s_need_live(ctx, &r, false);
    if (rc != ICS_OK)
        return rc;
    rc = s_approver_check(ctx, &o, &r, a->decline);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_run(ctx->db, "UPDATE aid_offers SET approved_by = ?2 WHERE id = ?1", "ut", o.id,
                     ctx->actor);
    if (rc != ICS_OK)
        return rc;
    snprintf(why, sizeof why, "%s by %s (%s)%s%s", a->decline ? "declined" : "approved",
             ctx->org, ctx->actor[0] ? ctx->actor : "no person named", a->note[0] ? ": " : "",
             a->note);
    rc = s_set_offer_status(ctx, o.id, a->decline ? O_DECLINED : O_ACCEPTED, why);
    if (rc == ICS_OK)
        rc = s_event(ctx, r.id, "offer %" PRIu64 " from %s (%s): %s", o.id, o.org,
                     ics_aid_qty(r.resource, o.accepted, q, sizeof q), why);
    if (rc == ICS_OK)
        rc = s_touch(ctx, r.id);
    if (rc == ICS_OK)
        rc = s_refresh(ctx, r.id);
    return rc;
}

/* Deliver and return: the offerer or the requester records it (or the
 * coordinating organisation, for the requester). */
static int s_deliver_or_return(ics_apply_ctx_t *ctx, uint64_t offer, const char *note,
                               bool deliver)
{
    bool coordinator = false;
    ics_aid_offer_t o;
    ics_aid_req_t r;
    char why[200], q[48];
    int rc;

    rc = s_need_offer(ctx, offer, &o, &r);
    if (rc != ICS_OK)
        return rc;
    rc = s_coordinator(ctx, &coordinator);
    if (rc != ICS_OK)
        return rc;
    if (!ics_aid_is(ctx->org, o.org) && !ics_aid_is(ctx->org, r.org) && !coordinator)
        return ics_reject(ctx, "only %s (offering), %s (requesting) or the group's coordinating"
                               " organisation may record offer %" PRIu64 " as %s", o.org, r.org,
                          o.id, deliver ? "delivered" : "handed back");
    rc = s_need_text(ctx, note, AID_TEXT_MAX, "note is");
    if (rc != ICS_OK)
        return rc;
    rc = s_need_live(ctx, &r, false);
    if (rc != ICS_OK)
        return rc;
    if (!ics_aid_is(o.status, deliver ? O_ACCEPTED : O_DELIVERED))
        return s_offer_state_reject(ctx, &o, deliver ? O_ACCEPTED : O_DELIVERED);
    rc = ics_sql_run(ctx->db,
                     deliver ? "UPDATE aid_offers SET delivered_ms = ?2 WHERE id = ?1"
                             : "UPDATE aid_offers SET returned_ms = ?2 WHERE id = ?1",
                     "uu", o.id, ctx->clock_ms);
    if (rc != ICS_OK)
        return rc;
    snprintf(why, sizeof why, "%s %s by %s%s%s", ics_aid_qty(r.resource, o.accepted, q, sizeof q),
             deliver ? "delivered" : "handed back", ctx->org, note[0] ? ": " : "", note);
    rc = s_set_offer_status(ctx, o.id, deliver ? O_DELIVERED : O_RETURNED, why);
    if (rc == ICS_OK)
        rc = s_event(ctx, r.id, "offer %" PRIu64 " from %s: %s", o.id, o.org, why);
    if (rc == ICS_OK)
        rc = s_touch(ctx, r.id);
    if (rc == ICS_OK)
        rc = s_refresh(ctx, r.id);
    return rc;
}

static int s_deliver(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    return s_deliver_or_return(ctx, cmd->aid_deliver->offer, cmd->aid_deliver->note, true);
}

static int s_return(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    return s_deliver_or_return(ctx, cmd->aid_return->offer, cmd->aid_return->note, false);
}

static int s_withdraw(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__AidWithdraw *a = cmd->aid_withdraw;
    ics_aid_offer_t o;
    ics_aid_req_t r;
    char why[ICS_ORG_MAX + AID_TEXT_MAX + 32];
    int rc;

    rc = s_need_offer(ctx, a->offer, &o, &r);
    if (rc != ICS_OK)
        return rc;
    if (!ics_aid_is(ctx->org, o.org))
        return ics_reject(ctx, "only %s, which made offer %" PRIu64 ", may withdraw it", o.org,
                          o.id);
    rc = s_need_text(ctx, a->reason, AID_TEXT_MAX, "reason is");
    if (rc != ICS_OK)
        return rc;
    if (!ics_aid_is(o.status, O_OPEN)) {
        if (ics_aid_is(o.status, O_AWAITING) || ics_aid_is(o.status, O_ACCEPTED) ||
            ics_aid_is(o.status, O_DELIVERED))
            return ics_reject(ctx, "offer %" PRIu64 " was accepted at index %" PRIu64 ": ask %s"
                                   " to cancel the request or hand the aid back instead",
                              o.id, o.accepted_at, r.org);
        return s_offer_state_reject(ctx, &o, O_OPEN);
    }
    snprintf(why, sizeof why, "withdrawn by %s%s%s", ctx->org, a->reason[0] ? ": " : "",
             a->reason);
    rc = s_set_offer_status(ctx, o.id, O_WITHDRAWN, why);
    if (rc == ICS_OK)
        rc = s_event(ctx, r.id, "offer %" PRIu64 " %s", o.id, why);
    if (rc == ICS_OK)
        rc = s_touch(ctx, r.id);
    return rc;
}

/* Ends a request for its requester (or, for a mirror, for its home):
 * aid agreed but not delivered is released, open offers lapse; with aid
 * delivered (here or in the region) it is CLOSED, else CANCELLED. */
static int s_cancel_core(ics_apply_ctx_t *ctx, ics_aid_req_t *r, const char *why)
{
    int rc;

    rc = s_offers_to(ctx, r, O_OPEN, O_LAPSED, "the request was cancelled");
    if (rc == ICS_OK)
        rc = s_offers_to(ctx, r, O_AWAITING, O_RELEASED, "the request was cancelled");
    if (rc == ICS_OK)
        rc = s_offers_to(ctx, r, O_ACCEPTED, O_RELEASED, "the request was cancelled");
    if (rc == ICS_OK)
        rc = ics_aid_sums(ctx->db, r);
    if (rc != ICS_OK)
        return rc;
    bool keep = ics_aid_covered(r) > 0;
    rc = s_set_req_status(ctx, r, keep ? R_CLOSED : R_CANCELLED, why);
    if (rc == ICS_OK)
        rc = s_event(ctx, r->id, "%s: %s%s", keep ? "closed" : "cancelled", why,
                     keep ? " (aid already delivered is still to be handed back)" : "");
    if (rc == ICS_OK && keep)
        rc = s_refresh(ctx, r->id);
    return rc;
}

static int s_cancel(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__AidCancel *a = cmd->aid_cancel;
    char why[200];
    ics_aid_req_t r;
    int rc;

    rc = s_need_req(ctx, a->request, &r);
    if (rc != ICS_OK)
        return rc;
    if (!ics_aid_is(r.org, ctx->org))
        return ics_reject(ctx, "only %s, which made request %" PRIu64 ", may cancel it", r.org,
                          r.id);
    rc = s_need_text(ctx, a->reason, AID_TEXT_MAX, "reason is");
    if (rc != ICS_OK)
        return rc;
    rc = s_need_live(ctx, &r, false);
    if (rc != ICS_OK)
        return rc;
    snprintf(why, sizeof why, "cancelled by %s%s%s", ctx->org, a->reason[0] ? ": " : "",
             a->reason);
    return s_cancel_core(ctx, &r, why);
}

/* Raises the unmet remainder in the regional group: from now on it is the
 * region's (escalated_qty) and local offers for it lapse. */
static int s_escalate_now(ics_apply_ctx_t *ctx, ics_aid_req_t *r, const char *region,
                          const char *by)
{
    uint64_t rest = ics_aid_local_need(r);
    char q[48];
    int rc;

    rc = ics_sql_run(ctx->db,
                     "UPDATE aid_requests SET escalated = 1, escalated_ms = ?2,"
                     " escalated_by = ?3, escalated_qty = ?4, region = ?5,"
                     " revision = ?6 WHERE id = ?1",
                     "uututu", r->id, ctx->clock_ms, by, rest, region, ctx->position);
    if (rc == ICS_OK)
        rc = s_event(ctx, r->id, "escalated to %s, raising the %s still needed there (%s)",
                     region, ics_aid_qty(r->resource, rest, q, sizeof q), by);
    if (rc == ICS_OK)
        rc = s_offers_to(ctx, r, O_OPEN, O_LAPSED, "the unmet need went to the region");
    return rc;
}

static int s_escalate(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__AidEscalate *a = cmd->aid_escalate;
    char why[200], region[ICS_GROUP_MAX], by[ICS_ORG_MAX], when[32], q[48];
    ics_aid_req_t r;
    int rc;

    rc = s_need_req(ctx, a->request, &r);
    if (rc != ICS_OK)
        return rc;
    if (!ics_aid_is(r.org, ctx->org))
        return ics_reject(ctx, "only %s, which made request %" PRIu64 ", may escalate it", r.org,
                          r.id);
    rc = s_need_text(ctx, a->reason, AID_TEXT_MAX, "reason is");
    if (rc != ICS_OK)
        return rc;
    rc = s_need_live(ctx, &r, true);
    if (rc != ICS_OK)
        return rc;
    if (r.escalated) {
        ics_aid_fmt_time(r.escalated_ms, when, sizeof when);
        return ics_reject(ctx, "request %" PRIu64 " was already escalated to %s at %s", r.id,
                          r.region, when);
    }
    if (ics_aid_is(r.status, R_MET) || ics_aid_local_need(&r) == 0)
        return ics_reject(ctx,
                          "request %" PRIu64 " is already met (%s agreed): nothing to"
                          " escalate",
                          r.id, ics_aid_qty(r.resource, ics_aid_covered(&r), q, sizeof q));
    rc = ics_aid_settings(ctx->db, region, by);
    if (rc != ICS_OK)
        return rc;
    if (region[0] == '\0')
        return ics_reject(ctx, "group %s has no regional group to escalate to (a node in both"
                               " sets escalate_to in its [group %s] section)", ctx->group,
                          ctx->group);
    snprintf(why, sizeof why, "by %s%s%s", ctx->org, a->reason[0] ? ": " : "", a->reason);
    return s_escalate_now(ctx, &r, region, why);
}

static int s_region(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__AidRegion *a = cmd->aid_region;
    char region[ICS_GROUP_MAX], by[ICS_ORG_MAX];
    ics_member_t m;
    int rc;

    if (a->region[0] != '\0' &&
        (!ics_valid_id(a->region, ICS_GROUP_MAX) || ics_aid_is(a->region, ctx->group)))
        return ics_reject(ctx, "'%.64s' is not another group's name", a->region);
    rc = ics_aid_settings(ctx->db, region, by);
    if (rc != ICS_OK)
        return rc;
    if (ics_aid_is(region, a->region))
        return ICS_OK; /* already so: idempotent */
    rc = ics_members_get(ctx->db, ctx->org, &m);
    if (rc != ICS_OK)
        return rc == ICS_ENOENT ? ICS_EIO : rc;
    if (region[0] != '\0' && !ics_aid_is(by, ctx->org) && !m.admin)
        return ics_reject(ctx, "group %s escalates to %s, set by %s; only %s or the membership"
                               " administrator may change that", ctx->group, region, by, by);
    rc = ics_sql_run(ctx->db,
                     "UPDATE aid_settings SET region = ?1, region_by = ?2,"
                     " region_at = ?3 WHERE id = 1",
                     "ttu", a->region, ctx->org, ctx->clock_ms);
    return rc;
}

/* A partner's figure as a column holds it: SQLite integers stop at 2^63-1. */
static uint64_t s_cap63(uint64_t v)
{
    return v > INT64_MAX ? INT64_MAX : v;
}

/* The region's figures for a mirrored request, carried home. */
static int s_link_update(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__AidLinkUpdate *u = cmd->aid_link_update;
    char q[48];
    ics_aid_req_t r;
    int rc;

    rc = s_need_req(ctx, u->home_request, &r);
    if (rc != ICS_OK)
        return rc;
    if (!r.escalated || !ics_aid_is(r.region, u->region))
        return ics_reject(ctx, "request %" PRIu64 " was not escalated to '%.64s'", r.id,
                          u->region);
    if (u->region_request == 0 || u->region_request > INT64_MAX || u->revision > INT64_MAX)
        return ics_reject(ctx, "link update names no regional request");
    if (r.region_request != 0 && r.region_request != u->region_request)
        return ics_reject(ctx, "request %" PRIu64 " is mirrored as %s request %" PRIu64 ", not %"
                               PRIu64, r.id, r.region, r.region_request, u->region_request);
    if (u->revision <= r.region_revision)
        return ICS_OK; /* no newer than what we have: idempotent */
    if (!ics_aid_known_status(u->status))
        return ics_reject(ctx, "link update status '%.20s' is not a request status", u->status);
    if (u->accepted > r.escalated_qty || u->delivered > u->accepted ||
        u->returned > u->accepted || u->n_offers > AID_LINK_OFFERS_MAX)
        return ics_reject(ctx, "link update is inconsistent: %" PRIu64 " accepted of %" PRIu64
                               " escalated, %" PRIu64 " delivered, %" PRIu64 " returned",
                          u->accepted, r.escalated_qty, u->delivered, u->returned);
    for (size_t i = 0; i < u->n_offers; i++)
        if (!ics_valid_id(u->offers[i]->org, ICS_ORG_MAX))
            return ics_reject(ctx, "link update names '%.40s', not an organisation id",
                              u->offers[i]->org);

    bool news = !ics_aid_is(r.region_status, u->status) || r.region_accepted != u->accepted ||
                r.region_offered != u->offered || r.region_delivered != u->delivered ||
                r.region_returned != u->returned || r.region_request == 0;
    rc = ics_sql_run(ctx->db,
                     "UPDATE aid_requests SET region_request = ?2,"
                     " region_revision = ?3, region_status = ?4, region_offered = ?5,"
                     " region_accepted = ?6, region_delivered = ?7,"
                     " region_returned = ?8, revision = ?9 WHERE id = ?1",
                     "uuutuuuuu", r.id, u->region_request, u->revision, u->status,
                     s_cap63(u->offered), u->accepted, u->delivered, u->returned, ctx->position);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_run(ctx->db, "DELETE FROM aid_link_offers WHERE request = ?1", "u", r.id);
    if (rc != ICS_OK)
        return rc;
    for (size_t i = 0; i < u->n_offers && rc == ICS_OK; i++) {
        const Ics__V1__AidLinkOffer *lo = u->offers[i];
        rc = ics_sql_run(ctx->db,
                         "INSERT OR REPLACE INTO aid_link_offers(request, org, offered, accepted,"
                         " delivered, returned) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                         "utuuuu", r.id, lo->org, s_cap63(lo->offered), s_cap63(lo->accepted),
                         s_cap63(lo->delivered), s_cap63(lo->returned));
    }
    if (rc == ICS_OK && news)
        rc = s_event(ctx, r.id, "%s request %" PRIu64 " is %s: %" PRIu64 " offered, %s accepted,"
                                " %" PRIu64 " in use, %" PRIu64 " handed back there",
                     u->region, u->region_request, u->status, u->offered,
                     ics_aid_qty(r.resource, u->accepted, q, sizeof q), u->delivered, u->returned);
    if (rc == ICS_OK)
        rc = s_refresh(ctx, r.id);
    return rc;
}

/* The home group ended the original: end its mirror here. */
static int s_link_cancel(ics_apply_ctx_t *ctx, const Ics__V1__Command *cmd)
{
    const Ics__V1__AidLinkCancel *a = cmd->aid_link_cancel;
    char why[300];
    ics_aid_req_t r;
    int rc;

    rc = s_need_text(ctx, a->reason, AID_TEXT_MAX, "reason is");
    if (rc != ICS_OK)
        return rc;
    rc = ics_aid_load_mirror(ctx->db, a->home_group, a->home_request, &r);
    if (rc == ICS_ENOENT)
        return ics_reject(ctx, "no request here is mirrored from %.64s request %" PRIu64,
                          a->home_group, a->home_request);
    if (rc != ICS_OK)
        return rc;
    if (!ics_aid_is(r.status, R_OPEN) && !ics_aid_is(r.status, R_MET))
        return ICS_OK; /* already ended or closed: idempotent */
    snprintf(why, sizeof why, "ended in %s%s%s", a->home_group, a->reason[0] ? ": " : "",
             a->reason);
    return s_cancel_core(ctx, &r, why);
}

static const ics_fsm_handler_t s_handlers[] = {
    {ICS__V1__COMMAND__BODY_AID_REQUEST, s_request},
    {ICS__V1__COMMAND__BODY_AID_OFFER, s_offer},
    {ICS__V1__COMMAND__BODY_AID_ACCEPT, s_accept},
    {ICS__V1__COMMAND__BODY_AID_APPROVE, s_approve},
    {ICS__V1__COMMAND__BODY_AID_DELIVER, s_deliver},
    {ICS__V1__COMMAND__BODY_AID_RETURN, s_return},
    {ICS__V1__COMMAND__BODY_AID_CANCEL, s_cancel},
    {ICS__V1__COMMAND__BODY_AID_ESCALATE, s_escalate},
    {ICS__V1__COMMAND__BODY_AID_WITHDRAW, s_withdraw},
    {ICS__V1__COMMAND__BODY_AID_REGION, s_region},
    {ICS__V1__COMMAND__BODY_AID_LINK_UPDATE, s_link_update},
    {ICS__V1__COMMAND__BODY_AID_LINK_CANCEL, s_link_cancel},
    {0, NULL},
};

/* ---------------------------------------------------------------- the log clock */

#define S_BATCH 64

/* One page of ids due at the clock: sql binds ?1 = clock, ?2 = the link
 * grace, ?3 = the last id of the previous page, and ends with
 * "AND id > ?3 ORDER BY id LIMIT 64". Collected first, so that the caller's
 * updates do not run under an open SELECT. */
static int s_ids(ics_db_t *db, const char *sql, uint64_t clock, uint64_t after, uint64_t *ids,
                 size_t *n)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *n = 0;
    rc = ics_sql_query(db, &st, sql, "uuu", clock, S_LINK_GRACE_MS, after);
    if (rc != ICS_OK)
        return rc;
    while (*n < S_BATCH && (rc = ics_sql_row(db, st)) == ICS_OK)
        ids[(*n)++] = ics_sql_column_u64(st, 0);
    ics_sql_release(db, st);
    return rc == ICS_ENOENT || rc == ICS_OK ? ICS_OK : rc;
}

/* Offers whose valid-until has passed. */
static int s_lapse_offers(ics_apply_ctx_t *ctx)
{
    uint64_t ids[S_BATCH], after = 0;
    size_t n = 0;
    int rc;

    do {
        rc = s_ids(ctx->db, "SELECT id FROM aid_offers WHERE status = '" O_OPEN "'"
                            " AND valid_until <> 0 AND valid_until <= ?1 AND ?2 = ?2"
                            " AND id > ?3 ORDER BY id LIMIT 64", ctx->clock_ms, after, ids, &n);
        for (size_t i = 0; rc == ICS_OK && i < n; i++) {
            ics_aid_offer_t o;
            after = ids[i];
            rc = ics_aid_load_offer(ctx->db, ids[i], &o);
            if (rc == ICS_OK)
                rc = s_set_offer_status(ctx, o.id, O_LAPSED, "its valid-until time passed");
            if (rc == ICS_OK)
                rc = s_event(ctx, o.request, "offer %" PRIu64 " from %s lapsed: its valid-until"
                                             " time passed", o.id, o.org);
            if (rc == ICS_OK)
                rc = s_touch(ctx, o.request);
        }
    } while (rc == ICS_OK && n == S_BATCH);
    return rc;
}

/* Expires (or closes, if aid was agreed) one open request. */
static int s_expire_one(ics_apply_ctx_t *ctx, uint64_t id)
{
    char q[48], note[160];
    uint64_t covered;
    ics_aid_req_t r;
    int rc;

    rc = ics_aid_load_req(ctx->db, id, &r);
    if (rc != ICS_OK)
        return rc == ICS_ENOENT ? ICS_EIO : rc;
    covered = ics_aid_covered(&r);
    snprintf(note, sizeof note, "expired with %s of %" PRIu64 " agreed",
             ics_aid_qty(r.resource, covered, q, sizeof q), r.quantity);
    rc = s_offers_to(ctx, &r, O_OPEN, O_LAPSED, "the request expired");
    if (rc == ICS_OK)
        rc = s_set_req_status(ctx, &r, covered > 0 ? R_CLOSED : R_EXPIRED, note);
    if (rc == ICS_OK)
        rc = s_event(ctx, r.id, "%s", note);
    if (rc == ICS_OK && covered > 0)
        rc = s_refresh(ctx, r.id);
    return rc;
}

/* Open requests past their expiry (an escalated one: after the grace). */
static int s_expire(ics_apply_ctx_t *ctx)
{
    uint64_t ids[S_BATCH], after = 0;
    size_t n = 0;
    int rc;

    do {
        rc = s_ids(ctx->db, "SELECT id FROM aid_requests WHERE status = '" R_OPEN "' AND"
                            " expires_ms + (CASE WHEN escalated = 1 THEN ?2 ELSE 0 END) <= ?1"
                            " AND id > ?3 ORDER BY id LIMIT 64", ctx->clock_ms, after, ids, &n);
        for (size_t i = 0; rc == ICS_OK && i < n; i++) {
            after = ids[i];
            rc = s_expire_one(ctx, ids[i]);
        }
    } while (rc == ICS_OK && n == S_BATCH);
    return rc;
}

/* Open requests unmet past their escalation time, when the group has a
 * regional group to escalate to. */
static int s_auto_escalate(ics_apply_ctx_t *ctx)
{
    char region[ICS_GROUP_MAX], by[ICS_ORG_MAX], why[120], d[32];
    uint64_t ids[S_BATCH], after = 0;
    size_t n = 0;
    int rc = ics_aid_settings(ctx->db, region, by);

    if (rc != ICS_OK || region[0] == '\0')
        return rc;
    do {
        rc = s_ids(ctx->db, "SELECT id FROM aid_requests WHERE status = '" R_OPEN "'"
                            " AND escalated = 0 AND escalate_at <> 0 AND escalate_at <= ?1"
                            " AND ?2 = ?2 AND id > ?3 ORDER BY id LIMIT 64", ctx->clock_ms,
                   after, ids, &n);
        for (size_t i = 0; rc == ICS_OK && i < n; i++) {
            ics_aid_req_t r;
            after = ids[i];
            rc = ics_aid_load_req(ctx->db, ids[i], &r);
            if (rc != ICS_OK || ics_aid_local_need(&r) == 0)
                continue;
            ics_aid_fmt_dur(r.escalate_at - r.raised, d, sizeof d);
            snprintf(why, sizeof why, "automatically: still unmet %s after it was raised", d);
            rc = s_escalate_now(ctx, &r, region, why);
        }
    } while (rc == ICS_OK && n == S_BATCH);
    return rc;
}

static int s_on_clock(ics_apply_ctx_t *ctx)
{
    int rc = s_lapse_offers(ctx);
    if (rc == ICS_OK)
        rc = s_expire(ctx);
    if (rc == ICS_OK)
        rc = s_auto_escalate(ctx);
    return rc;
}

/* The times s_lapse_offers(), s_expire() and s_auto_escalate() select by,
 * on the same rows (escalation only once the group has a region). */
static int s_deadline(ics_db_t *db, uint64_t clock, ics_deadline_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = ics_sql_query(db, &st,
                       "SELECT min(CASE WHEN t > ?1 THEN t END), coalesce(max(t <= ?1), 0) FROM ("
                       " SELECT valid_until AS t FROM aid_offers WHERE status = '" O_OPEN "'"
                       "  AND valid_until <> 0"
                       " UNION ALL SELECT expires_ms + (CASE WHEN escalated = 1 THEN ?2 ELSE 0 END)"
                       "  FROM aid_requests WHERE status = '" R_OPEN "'"
                       " UNION ALL SELECT escalate_at FROM aid_requests WHERE status = '" R_OPEN "'"
                       "  AND escalated = 0 AND escalate_at <> 0"
                       "  AND (SELECT region FROM aid_settings WHERE id = 1) <> '')",
                       "uu", clock, S_LINK_GRACE_MS);
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

const ics_fsm_domain_t ics_fsm_domain_aid = {
    .metrics = ics_aid_metrics,
    .name = "aid",
    .handlers = s_handlers,
    .schema = s_schema,
    .on_clock = s_on_clock,
    .deadline = s_deadline,
    .queries = ics_aid_queries,
};
