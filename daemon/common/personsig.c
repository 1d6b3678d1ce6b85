/*
 * Person signatures (personsig.h; docs/log-format.md, section 2c).
 *
 * The signed bytes are the Command as sent, minus the person_sig record:
 * the verifier cuts that record out of the payload at the wire level
 * instead of re-encoding the decoded message, so no protobuf
 * canonicalisation is involved. protobuf-c packs fields in field-number
 * order, so icsctl's bytes without the signature are exactly the bytes of
 * the same Command packed with person_sig unset.
 */
#include "personsig.h"

#include "envelope.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const char s_domain[] = "ICSD-PERSON-SIG1"; /* 16 ASCII bytes */
#define S_DOMAIN_LEN 16
_Static_assert(sizeof s_domain - 1 == S_DOMAIN_LEN, "person signing domain is 16 bytes");

static uint8_t *s_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static uint8_t *s_bytes(uint8_t *p, const void *data, size_t n)
{
    p = s_u32(p, (uint32_t)n);
    if (n > 0)
        memcpy(p, data, n);
    return p + n;
}

int ics_person_signing_input(const char *group, const char *org, const char *person,
                             const uint8_t *key_id, size_t key_id_len, uint64_t seq,
                             const uint8_t *cmd, size_t cmd_len, uint8_t **out,
                             size_t *out_len)
{
    size_t glen = strlen(group), olen = strlen(org), plen = strlen(person);
    uint8_t *buf, *p;
    size_t cap;

    if (glen > ICS_GROUP_MAX || olen > ICS_ORG_MAX || plen > ICS_ACTOR_MAX ||
        key_id_len > 64 || cmd_len > ICS_ENVELOPE_MAX)
        return ICS_ETOOBIG;
    cap = S_DOMAIN_LEN + 4 + glen + 4 + olen + 4 + plen + 4 + key_id_len + 8 + 4 + cmd_len;
    buf = malloc(cap);
    if (buf == NULL)
        return ICS_ENOMEM;
    memcpy(buf, s_domain, S_DOMAIN_LEN);
    p = buf + S_DOMAIN_LEN;
    p = s_bytes(p, group, glen);
    p = s_bytes(p, org, olen);
    p = s_bytes(p, person, plen);
    p = s_bytes(p, key_id, key_id_len);
    p = s_u32(p, (uint32_t)(seq >> 32));
    p = s_u32(p, (uint32_t)seq);
    p = s_bytes(p, cmd, cmd_len);
    *out = buf;
    *out_len = (size_t)(p - buf);
    return ICS_OK;
}

/* Reads a base-128 varint at *pos; false if cut or over 10 bytes. */
static bool s_varint(const uint8_t *b, size_t len, size_t *pos, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 70 && *pos < len; shift += 7) {
        uint8_t c = b[(*pos)++];
        *v |= (uint64_t)(c & 0x7f) << shift;
        if ((c & 0x80) == 0)
            return true;
    }
    return false;
}

int ics_person_unsigned_bytes(const uint8_t *payload, size_t len, uint8_t **out,
                              size_t *out_len)
{
    size_t pos = 0, cut_at = 0, cut_len = 0, found = 0;

    while (pos < len) {
        size_t start = pos;
        uint64_t key, n;
        if (!s_varint(payload, len, &pos, &key))
            return ICS_EMALFORMED;
        switch (key & 7) {
        case 0:
            if (!s_varint(payload, len, &pos, &n))
                return ICS_EMALFORMED;
            break;
        case 1:
            if (len - pos < 8)
                return ICS_EMALFORMED;
            pos += 8;
            break;
        case 2:
            if (!s_varint(payload, len, &pos, &n) || n > len - pos)
                return ICS_EMALFORMED;
            pos += (size_t)n;
            break;
        case 5:
            if (len - pos < 4)
                return ICS_EMALFORMED;
            pos += 4;
            break;
        default:
            return ICS_EMALFORMED;
        }
        if ((key >> 3) == ICS_PERSON_SIG_FIELD) {
            if ((key & 7) != 2 || found++ > 0)
                return ICS_EMALFORMED;
            cut_at = start;
            cut_len = pos - start;
        }
    }
    if (found == 0)
        return ICS_ENOENT;
    *out = malloc(len - cut_len > 0 ? len - cut_len : 1);
    if (*out == NULL)
        return ICS_ENOMEM;
    memcpy(*out, payload, cut_at);
    memcpy(*out + cut_at, payload + cut_at + cut_len, len - cut_at - cut_len);
    *out_len = len - cut_len;
    return ICS_OK;
}

int ics_person_sign(const ics_identity_t *id, const char *group, const char *org,
                    uint64_t seq, Ics__V1__Command *cmd, uint8_t **out, size_t *out_len)
{
    Ics__V1__PersonSig ps = ICS__V1__PERSON_SIG__INIT;
    uint8_t *bare = NULL, *input = NULL, sig[ICS_SIG_BYTES];
    size_t bare_len = 0, input_len = 0;
    int rc;

    cmd->person_sig = NULL;
    rc = ics_pack(&cmd->base, &bare, &bare_len);
    if (rc != ICS_OK)
        goto out;
    rc = ics_person_signing_input(group, org, cmd->actor ? cmd->actor : "",
                                  ics_identity_key_id(id), ICS_KEY_ID_BYTES, seq, bare,
                                  bare_len, &input, &input_len);
    if (rc != ICS_OK)
        goto out;
    ics_identity_sign(id, input, input_len, sig);
    ps.key_id.data = (uint8_t *)ics_identity_key_id(id);
    ps.key_id.len = ICS_KEY_ID_BYTES;
    ps.seq = seq;
    ps.signature.data = sig;
    ps.signature.len = sizeof sig;
    cmd->person_sig = &ps;
    rc = ics_pack(&cmd->base, out, out_len);
    cmd->person_sig = NULL;
out:
    free(bare);
    free(input);
    return rc;
}

int ics_person_signed_input(const char *group, const char *org, const Ics__V1__Command *cmd,
                            const uint8_t *payload, size_t len, const uint8_t pk[ICS_PK_BYTES],
                            uint8_t **input, size_t *input_len)
{
    const Ics__V1__PersonSig *ps = cmd->person_sig;
    uint8_t *bare = NULL, kid[ICS_KEY_ID_BYTES];
    size_t bare_len = 0;
    int rc;

    if (ps == NULL)
        return ICS_ENOENT;
    if (ps->key_id.len != ICS_KEY_ID_BYTES || ps->signature.len != ICS_SIG_BYTES)
        return ICS_EMALFORMED;
    ics_key_id(pk, kid);
    if (sodium_memcmp(kid, ps->key_id.data, sizeof kid) != 0)
        return ICS_EKEY;
    rc = ics_person_unsigned_bytes(payload, len, &bare, &bare_len);
    if (rc != ICS_OK)
        return rc == ICS_ENOENT ? ICS_EMALFORMED : rc;
    rc = ics_person_signing_input(group, org, cmd->actor ? cmd->actor : "", ps->key_id.data,
                                  ps->key_id.len, ps->seq, bare, bare_len, input, input_len);
    free(bare);
    return rc;
}

int ics_person_verify(const char *group, const char *org, const Ics__V1__Command *cmd,
                      const uint8_t *payload, size_t len, const uint8_t pk[ICS_PK_BYTES])
{
    uint8_t *input = NULL;
    size_t input_len = 0;
    int rc = ics_person_signed_input(group, org, cmd, payload, len, pk, &input, &input_len);

    if (rc == ICS_OK && !ics_signature_ok(pk, input, input_len, cmd->person_sig->signature.data))
        rc = ICS_ESIG;
    free(input);
    return rc;
}

ics_person_may_t ics_person_may_register(const char *signer, bool signer_admin, uint64_t admins,
                                         const Ics__V1__PersonRegister *r, bool exists)
{
    bool self = signer[0] != '\0' && strcmp(signer, r->person) == 0;

    if (signer[0] != '\0')
        return signer_admin || (self && exists) ? ICS_PERSON_MAY : ICS_PERSON_NOT_ADMIN;
    if (admins > 0)
        return ICS_PERSON_HAS_ADMIN;
    if (r->remove || !r->admin)
        return ICS_PERSON_FIRST_ADMIN;
    return ICS_PERSON_MAY;
}

bool ics_person_admin_after(const char *signer, const Ics__V1__PersonRegister *r, bool was_admin)
{
    return strcmp(signer, r->person) == 0 ? was_admin : r->admin;
}
