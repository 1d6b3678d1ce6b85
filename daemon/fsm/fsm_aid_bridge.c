/*
 * Mutual aid across groups, the bridge's view: what a node in both a home
 * group and its regional group should submit to keep the two in step
 * (daemon/bridge.c calls ics_fsm_aid_bridge; docs/opel-and-aid.md,
 * "Escalation"). Read-only: it compares the two states and names the
 * commands, each with a token that makes a resubmission idempotent.
 */
#include "fsm/fsm_aid_data.h"
#include "common/envelope.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A token that names what a command is for, so that a node resubmitting it
 * (after a restart, or because the state still calls for it) reuses the
 * same sequence number and it is applied once. */
static void s_token(uint8_t token[16], const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void s_token(uint8_t token[16], const char *fmt, ...)
{
    char what[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    crypto_generichash(token, 16, (const uint8_t *)what,
                       n < 0 ? 0 : (size_t)n < sizeof what ? (size_t)n : sizeof what - 1, NULL, 0);
}

static void s_emit(ics_aid_bridge_fn fn, void *arg, bool to_region, const uint8_t token[16],
                   Ics__V1__Command *cmd, const char *what)
{
    uint8_t *buf = NULL;
    size_t len = 0;

    cmd->actor = (char *)""; /* the bridging organisation itself: no person acts */
    if (ics_pack(&cmd->base, &buf, &len) == ICS_OK)
        fn(arg, to_region, token, buf, len, what);
    free(buf);
}

/* Mirror a home request into the region. */
static int s_bridge_mirror(ics_db_t *hdb, const char *home, const ics_aid_req_t *r,
                           const char *region, ics_aid_bridge_fn fn, void *arg)
{
    sqlite3_stmt *st = NULL;
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__AidRequest a = ICS__V1__AID_REQUEST__INIT;
    Ics__V1__AidLink l = ICS__V1__AID_LINK__INIT;
    char site[AID_SITE_MAX + 1] = "", reason[AID_TEXT_MAX + 1] = "",
                             contact[AID_CONTACT_MAX + 1] = "";
    char what[160];
    uint8_t token[16];
    int rc;

    rc = ics_sql_query(hdb, &st, "SELECT site, reason, contact FROM aid_requests WHERE id = ?1",
                       "u", r->id);
    if (rc != ICS_OK)
        return rc;
    rc = ics_sql_row(hdb, st);
    if (rc == ICS_OK) {
        ics_sql_column_text(st, 0, site, sizeof site);
        ics_sql_column_text(st, 1, reason, sizeof reason);
        ics_sql_column_text(st, 2, contact, sizeof contact);
    }
    ics_sql_release(hdb, st);
    if (rc != ICS_OK)
        return rc;
    l.home_group = (char *)home;
    l.home_request = r->id;
    l.home_requester = (char *)(r->link_requester[0] ? r->link_requester : r->org);
    l.home_opel = r->opel;
    a.resource = (char *)r->resource;
    a.specialty = (char *)r->specialty;
    a.quantity = r->escalated_qty;
    a.urgency = (Ics__V1__AidUrgency)r->urgency;
    a.needed_from_ms = r->needed_from;
    a.needed_until_ms = r->needed_until;
    a.site = site;
    a.reason = reason;
    a.contact = contact;
    a.expires_ms = r->expires;
    a.link = &l;
    cmd.body_case = ICS__V1__COMMAND__BODY_AID_REQUEST;
    cmd.aid_request = &a;
    s_token(token, "icsd-aid-bridge mirror %s %" PRIu64 " %s", home, r->id, region);
    snprintf(what, sizeof what, "mirror of %s request %" PRIu64 " into %s", home, r->id, region);
    s_emit(fn, arg, true, token, &cmd, what);
    return ICS_OK;
}

/* Carry a mirror's state home. */
static int s_bridge_update(ics_db_t *rdb, const char *home, const char *region,
                           const ics_aid_req_t *m, ics_aid_bridge_fn fn, void *arg)
{
    sqlite3_stmt *st = NULL;
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__AidLinkUpdate u = ICS__V1__AID_LINK_UPDATE__INIT;
    Ics__V1__AidLinkOffer offers[AID_LINK_OFFERS_MAX], *ptrs[AID_LINK_OFFERS_MAX];
    char orgs[AID_LINK_OFFERS_MAX][ICS_ORG_MAX], what[160];
    uint8_t token[16];
    size_t n = 0;
    int rc;

    rc = ics_sql_query(rdb, &st,
                       "SELECT org,"
                       " coalesce(sum(CASE WHEN status IN ('" O_OPEN "','" O_AWAITING
                       "','" O_ACCEPTED "','" O_DELIVERED "','" O_RETURNED
                       "') THEN quantity END), 0),"
                       " coalesce(sum(CASE WHEN status IN " AID_ALLOCATED " THEN accepted END), 0),"
                       " coalesce(sum(CASE WHEN status = '" O_DELIVERED "' THEN accepted END), 0),"
                       " coalesce(sum(CASE WHEN status = '" O_RETURNED "' THEN accepted END), 0)"
                       " FROM aid_offers WHERE request = ?1 GROUP BY org ORDER BY org",
                       "u", m->id);
    if (rc != ICS_OK)
        return rc;
    while (n < AID_LINK_OFFERS_MAX && (rc = ics_sql_row(rdb, st)) == ICS_OK) {
        ics__v1__aid_link_offer__init(&offers[n]);
        ics_sql_column_text(st, 0, orgs[n], ICS_ORG_MAX);
        offers[n].org = orgs[n];
        offers[n].offered = ics_sql_column_u64(st, 1);
        offers[n].accepted = ics_sql_column_u64(st, 2);
        offers[n].delivered = ics_sql_column_u64(st, 3);
        offers[n].returned = ics_sql_column_u64(st, 4);
        u.offered += offers[n].offered;
        ptrs[n] = &offers[n];
        n++;
    }
    ics_sql_release(rdb, st);
    if (rc != ICS_OK && rc != ICS_ENOENT)
        return rc;
    u.home_request = m->link_request;
    u.region = (char *)region;
    u.region_request = m->id;
    u.revision = m->revision;
    u.status = (char *)m->status;
    u.quantity = m->quantity;
    u.accepted = m->allocated;
    u.delivered = m->delivered;
    u.returned = m->returned;
    u.offers = ptrs;
    u.n_offers = n;
    cmd.body_case = ICS__V1__COMMAND__BODY_AID_LINK_UPDATE;
    cmd.aid_link_update = &u;
    s_token(token, "icsd-aid-bridge update %s %" PRIu64 " %s %" PRIu64 " %" PRIu64, home,
            m->link_request, region, m->id, m->revision);
    snprintf(what, sizeof what, "%s request %" PRIu64 " (%s) back to %s request %" PRIu64,
             region, m->id, m->status, home, m->link_request);
    s_emit(fn, arg, false, token, &cmd, what);
    return ICS_OK;
}

static void s_bridge_cancel(const char *home, const ics_aid_req_t *r, const char *region,
                            ics_aid_bridge_fn fn, void *arg)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__AidLinkCancel c = ICS__V1__AID_LINK_CANCEL__INIT;
    char reason[64], what[160];
    uint8_t token[16];

    snprintf(reason, sizeof reason, "request %" PRIu64 " %s there", r->id, r->status);
    c.home_group = (char *)home;
    c.home_request = r->id;
    c.reason = reason;
    cmd.body_case = ICS__V1__COMMAND__BODY_AID_LINK_CANCEL;
    cmd.aid_link_cancel = &c;
    s_token(token, "icsd-aid-bridge cancel %s %" PRIu64 " %s", home, r->id, region);
    snprintf(what, sizeof what, "end of %s request %" PRIu64 "'s mirror in %s", home, r->id,
             region);
    s_emit(fn, arg, true, token, &cmd, what);
}

int ics_fsm_aid_bridge(ics_fsm_t *home, ics_fsm_t *region, const char *org,
                       ics_aid_bridge_fn fn, void *arg)
{
    ics_db_t *hdb = ics_fsm_handle(home), *rdb = ics_fsm_handle(region);
    const char *hname = ics_fsm_group(home), *rname = ics_fsm_group(region);
    char set[ICS_GROUP_MAX], by[ICS_ORG_MAX];
    sqlite3_stmt *st = NULL;
    int rc;

    assert(home != NULL && region != NULL && org != NULL && fn != NULL);
    /* 1. The home group learns where it escalates to. Never override
     * another organisation's choice: that is for people to settle. */
    rc = ics_aid_settings(hdb, set, by);
    if (rc != ICS_OK)
        return rc;
    if (!ics_aid_is(set, rname) && (set[0] == '\0' || ics_aid_is(by, org))) {
        Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
        Ics__V1__AidRegion a = ICS__V1__AID_REGION__INIT;
        uint8_t token[16];
        char what[128];
        a.region = (char *)rname;
        cmd.body_case = ICS__V1__COMMAND__BODY_AID_REGION;
        cmd.aid_region = &a;
        s_token(token, "icsd-aid-bridge region %s %s %s", hname, rname, set);
        snprintf(what, sizeof what, "%s escalates to %s", hname, rname);
        s_emit(fn, arg, false, token, &cmd, what);
    } else if (!ics_aid_is(set, rname)) {
        ics_debug("aid bridge: %s escalates to %s (set by %s), not %s: not bridging it", hname,
                  set, by, rname);
        return ICS_OK;
    }

    /* 2-4. Each escalated home request, against its mirror. */
    rc = ics_sql_query(hdb, &st,
                       "SELECT id FROM aid_requests WHERE escalated = 1 AND region = ?1"
                       " ORDER BY id",
                       "t", rname);
    if (rc != ICS_OK)
        return rc;
    while ((rc = ics_sql_row(hdb, st)) == ICS_OK) {
        ics_aid_req_t r, m;
        int mrc;
        if (ics_aid_load_req(hdb, ics_sql_column_u64(st, 0), &r) != ICS_OK) {
            rc = ICS_EIO;
            break;
        }
        mrc = ics_aid_load_mirror(rdb, hname, r.id, &m);
        if (mrc == ICS_ENOENT) {
            if (ics_aid_is(r.status, R_OPEN) || ics_aid_is(r.status, R_MET))
                rc = s_bridge_mirror(hdb, hname, &r, rname, fn, arg);
        } else if (mrc == ICS_OK) {
            if (m.revision > r.region_revision)
                rc = s_bridge_update(rdb, hname, rname, &m, fn, arg);
            if (rc == ICS_OK && !ics_aid_is(r.status, R_OPEN) && !ics_aid_is(r.status, R_MET) &&
                !ics_aid_is(r.status, R_COMPLETED) &&
                (ics_aid_is(m.status, R_OPEN) || ics_aid_is(m.status, R_MET)))
                s_bridge_cancel(hname, &r, rname, fn, arg);
        } else {
            rc = mrc;
        }
        if (rc != ICS_OK && rc != ICS_ENOENT)
            break;
    }
    ics_sql_release(hdb, st);
    return rc == ICS_ENOENT || rc == ICS_OK ? ICS_OK : rc;
}
