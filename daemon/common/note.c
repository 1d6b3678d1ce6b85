/*
 * C2SP signed-note tree heads (note.h). The body and the signature line are
 * spelled exactly one way: decimal size without leading zeros, standard
 * base64 with padding, LF line ends, and the em dash U+2014 (UTF-8 E2 80 94)
 * that opens a signature line.
 */
#include "note.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define S_EM_DASH "\xe2\x80\x94"

size_t ics_note_body(const char *group, uint64_t size, const uint8_t root[ICS_MERKLE_HASH_BYTES],
                     char out[ICS_NOTE_BODY_MAX])
{
    char b64[sodium_base64_ENCODED_LEN(ICS_MERKLE_HASH_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    int n;

    sodium_bin2base64(b64, sizeof b64, root, ICS_MERKLE_HASH_BYTES, sodium_base64_VARIANT_ORIGINAL);
    n = snprintf(out, ICS_NOTE_BODY_MAX, "icsd/%s\n%" PRIu64 "\n%s\n", group, size, b64);
    return n > 0 && n < ICS_NOTE_BODY_MAX ? (size_t)n : 0;
}

void ics_note_key_hash(const char *name, const uint8_t pk[ICS_PK_BYTES],
                       uint8_t out[ICS_NOTE_KEY_HASH_BYTES])
{
    crypto_hash_sha256_state st;
    uint8_t h[crypto_hash_sha256_BYTES];
    const uint8_t sep[2] = {0x0a, 0x01};

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
    crypto_hash_sha256_update(&st, sep, sizeof sep);
    crypto_hash_sha256_update(&st, pk, ICS_PK_BYTES);
    crypto_hash_sha256_final(&st, h);
    memcpy(out, h, ICS_NOTE_KEY_HASH_BYTES);
}

bool ics_note_cosignature_ok(const char *group, uint64_t size,
                             const uint8_t root[ICS_MERKLE_HASH_BYTES],
                             const uint8_t pk[ICS_PK_BYTES], const uint8_t sig[ICS_SIG_BYTES])
{
    char body[ICS_NOTE_BODY_MAX];
    size_t n = ics_note_body(group, size, root, body);

    return n > 0 && ics_signature_ok(pk, (const uint8_t *)body, n, sig);
}

size_t ics_note_sig_line(const char *name, const uint8_t pk[ICS_PK_BYTES],
                         const uint8_t sig[ICS_SIG_BYTES], char out[ICS_NOTE_SIG_LINE_MAX])
{
    uint8_t blob[ICS_NOTE_KEY_HASH_BYTES + ICS_SIG_BYTES];
    char b64[sodium_base64_ENCODED_LEN(sizeof blob, sodium_base64_VARIANT_ORIGINAL)];
    int n;

    if (!ics_valid_id(name, ICS_ORG_MAX))
        return 0;
    ics_note_key_hash(name, pk, blob);
    memcpy(blob + ICS_NOTE_KEY_HASH_BYTES, sig, ICS_SIG_BYTES);
    sodium_bin2base64(b64, sizeof b64, blob, sizeof blob, sodium_base64_VARIANT_ORIGINAL);
    n = snprintf(out, ICS_NOTE_SIG_LINE_MAX, S_EM_DASH " %s %s\n", name, b64);
    return n > 0 && n < ICS_NOTE_SIG_LINE_MAX ? (size_t)n : 0;
}
