/*
 * Stand-alone membership rules (membership.h), moved here from the state
 * machine so that the offline verifier applies the very same ones. Every
 * reason text here is part of the audit log (it is chained): changing one
 * changes the verdict record of every node, so they stay as they are.
 */
#include "membership.h"

#include "logverify.h"
#include "policyfile.h"

#include <stdio.h>
#include <string.h>

bool ics_member_key_valid(const ProtobufCBinaryData *pk)
{
    uint8_t curve[32];
    return pk->len == ICS_PK_BYTES && ics_curve_public(pk->data, curve) == 0;
}

/* Printable ASCII without spaces: it goes into ZeroMQ connect strings. */
static bool s_valid_endpoint(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= ICS_ENDPOINT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

/* The kind is checked for form, not against a list, so that a newer build
 * knowing more kinds does not decide differently from an older one. */
bool ics_member_check(const Ics__V1__MemberAdd *m, char *why, size_t size)
{
    if (!ics_valid_id(m->org, ICS_ORG_MAX))
        snprintf(why, size, "'%.40s' is not a valid organisation id", m->org);
    else if (!ics_valid_id(m->kind, ICS_KIND_MAX))
        snprintf(why, size, "organisation kind '%.40s' of %s is not valid", m->kind, m->org);
    else if (strlen(m->name) >= ICS_NAME_MAX)
        snprintf(why, size, "name of %s is longer than %d bytes", m->org, ICS_NAME_MAX - 1);
    else if (!s_valid_endpoint(m->endpoint))
        snprintf(why, size, "endpoint of %s is empty, too long or has spaces", m->org);
    else if (!ics_member_key_valid(&m->public_key))
        snprintf(why, size, "public key of %s is not a valid Ed25519 key", m->org);
    else if (m->role != ICS__V1__MEMBER_ROLE__MEMBER_ROLE_VOTER &&
             m->role != ICS__V1__MEMBER_ROLE__MEMBER_ROLE_STANDBY)
        snprintf(why, size, "unknown member role %d for %s", (int)m->role, m->org);
    else
        return true;
    return false;
}

int ics_genesis_check(const char *group, const char *signer, const Ics__V1__Genesis *g,
                      uint8_t signer_pk[ICS_PK_BYTES], char *why, size_t why_size)
{
    const Ics__V1__MemberAdd *by = NULL;
    bool admin_found = false;

    if (strcmp(g->group, group) != 0) {
        snprintf(why, why_size, "genesis is for group '%.64s'", g->group);
        return ICS_EREJECTED;
    }
    if (g->n_members == 0 || g->n_members > ICS_MAX_ORGS) {
        snprintf(why, why_size, "genesis lists %zu members (1 to %d allowed)", g->n_members,
                 ICS_MAX_ORGS);
        return ICS_EREJECTED;
    }
    for (size_t i = 0; i < g->n_members; i++) {
        const Ics__V1__MemberAdd *m = g->members[i];
        if (!ics_member_check(m, why, why_size))
            return ICS_EREJECTED;
        if (m->role != ICS__V1__MEMBER_ROLE__MEMBER_ROLE_VOTER) {
            snprintf(why, why_size, "genesis member %s must be a voter", m->org);
            return ICS_EREJECTED;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(g->members[j]->org, m->org) == 0) {
                snprintf(why, why_size, "genesis lists %s twice", m->org);
                return ICS_EREJECTED;
            }
            if (memcmp(g->members[j]->public_key.data, m->public_key.data, ICS_PK_BYTES) == 0) {
                snprintf(why, why_size, "genesis gives %s and %s the same key",
                         g->members[j]->org, m->org);
                return ICS_EREJECTED;
            }
        }
        if (strcmp(m->org, g->admin) == 0)
            admin_found = true;
        if (strcmp(m->org, signer) == 0)
            by = m;
    }
    if (!admin_found) {
        snprintf(why, why_size, "genesis administrator '%.40s' is not a member", g->admin);
        return ICS_EREJECTED;
    }
    if (by == NULL) {
        snprintf(why, why_size, "genesis signer %s is not among its members", signer);
        return ICS_EREJECTED;
    }
    if (g->policy != NULL) {
        char bad[ICS_REASON_MAX];
        if (!ics_policy_valid(g->policy, bad, sizeof bad)) {
            snprintf(why, why_size, "genesis policy: %.200s", bad);
            return ICS_EREJECTED;
        }
    }
    memcpy(signer_pk, by->public_key.data, ICS_PK_BYTES);
    return ICS_OK;
}
