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

void ics_note_cosign(const ics_identity_t *id, const char *group, uint64_t size,
                     const uint8_t root[ICS_MERKLE_HASH_BYTES], uint8_t sig[ICS_SIG_BYTES])
{
    char body[ICS_NOTE_BODY_MAX];
    size_t n = ics_note_body(group, size, root, body);

    ics_identity_sign(id, (const uint8_t *)body, n, sig);
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

/* ---------------------------------------------------------------- whole notes */

/* The next LF-ended line of text from *at: its start and length (without
 * the LF); false at the end or if the last line has no LF. */
static bool s_line(const char *text, size_t len, size_t *at, const char **line, size_t *n)
{
    const char *nl;

    if (*at >= len)
        return false;
    nl = memchr(text + *at, '\n', len - *at);
    if (nl == NULL)
        return false;
    *line = text + *at;
    *n = (size_t)(nl - *line);
    *at += *n + 1;
    return true;
}

/* Canonical base64 of exactly want bytes. */
static bool s_b64(const char *s, size_t n, uint8_t *out, size_t want)
{
    char again[128];
    size_t got = 0;

    if (n == 0 || n >= sizeof again ||
        sodium_base642bin(out, want, s, n, NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got != want)
        return false;
    sodium_bin2base64(again, sizeof again, out, want, sodium_base64_VARIANT_ORIGINAL);
    return strlen(again) == n && memcmp(again, s, n) == 0;
}

static bool s_decimal(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0 || n > 19 || (n > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > INT64_MAX)
        return false;
    *out = v;
    return true;
}

int ics_note_parse(const char *text, size_t len, ics_note_t *out, ics_err_t *err)
{
    const char *line;
    size_t at = 0, n;
    char buf[ICS_GROUP_MAX + 8];

    memset(out, 0, sizeof *out);
    if (!s_line(text, len, &at, &line, &n) || n < 6 || n - 5 >= ICS_GROUP_MAX ||
        memcmp(line, "icsd/", 5) != 0)
        return ics_err(err, ICS_EMALFORMED, "tree head: the origin line is not icsd/<group>");
    memcpy(buf, line + 5, n - 5);
    buf[n - 5] = '\0';
    if (!ics_valid_id(buf, ICS_GROUP_MAX))
        return ics_err(err, ICS_EMALFORMED, "tree head: the origin names no valid group");
    ics_strcpy(out->group, sizeof out->group, buf);
    if (!s_line(text, len, &at, &line, &n) || !s_decimal(line, n, &out->size))
        return ics_err(err, ICS_EMALFORMED, "tree head: the size line is not a decimal number");
    if (!s_line(text, len, &at, &line, &n) || !s_b64(line, n, out->root, ICS_MERKLE_HASH_BYTES))
        return ics_err(err, ICS_EMALFORMED,
                       "tree head: the root line is not the base64 of 32 bytes");
    if (!s_line(text, len, &at, &line, &n) || n != 0)
        return ics_err(err, ICS_EMALFORMED, "tree head: no empty line after the body");
    while (s_line(text, len, &at, &line, &n)) {
        uint8_t blob[ICS_NOTE_KEY_HASH_BYTES + ICS_SIG_BYTES];
        const char *sp;
        ics_note_sig_t *g;
        size_t k = out->n_sigs + 1;

        if (out->n_sigs == ICS_NOTE_SIGS_MAX)
            return ics_err(err, ICS_EMALFORMED, "tree head: more than %d signatures",
                           ICS_NOTE_SIGS_MAX);
        g = &out->sigs[out->n_sigs];
        if (n < 4 || memcmp(line, S_EM_DASH " ", 4) != 0 ||
            (sp = memchr(line + 4, ' ', n - 4)) == NULL || (size_t)(sp - line - 4) == 0 ||
            (size_t)(sp - line - 4) >= ICS_ORG_MAX)
            return ics_err(err, ICS_EMALFORMED,
                           "tree head: signature line %zu is not"
                           " '" S_EM_DASH " <name> <base64>'",
                           k);
        memcpy(g->name, line + 4, (size_t)(sp - line - 4));
        g->name[sp - line - 4] = '\0';
        if (!ics_valid_id(g->name, ICS_ORG_MAX))
            return ics_err(err, ICS_EMALFORMED,
                           "tree head: signature line %zu names no valid"
                           " organisation",
                           k);
        if (!s_b64(sp + 1, (size_t)(line + n - sp - 1), blob, sizeof blob))
            return ics_err(err, ICS_EMALFORMED,
                           "tree head: signature of %s is not the base64"
                           " of a key hash and an Ed25519 signature",
                           g->name);
        for (size_t i = 0; i < out->n_sigs; i++)
            if (strcmp(out->sigs[i].name, g->name) == 0)
                return ics_err(err, ICS_EMALFORMED, "tree head: %s signs twice", g->name);
        memcpy(g->key_hash, blob, ICS_NOTE_KEY_HASH_BYTES);
        memcpy(g->sig, blob + ICS_NOTE_KEY_HASH_BYTES, ICS_SIG_BYTES);
        out->n_sigs++;
    }
    if (at != len)
        return ics_err(err, ICS_EMALFORMED, "tree head: the last line does not end the note");
    if (out->n_sigs == 0)
        return ics_err(err, ICS_EMALFORMED, "tree head: no signature");
    return ICS_OK;
}

int ics_note_write(FILE *out, const ics_note_t *n)
{
    char body[ICS_NOTE_BODY_MAX];
    size_t len = ics_note_body(n->group, n->size, n->root, body);

    if (len == 0 || fwrite(body, 1, len, out) != len || fputc('\n', out) == EOF)
        return ICS_EIO;
    for (size_t i = 0; i < n->n_sigs; i++) {
        uint8_t blob[ICS_NOTE_KEY_HASH_BYTES + ICS_SIG_BYTES];
        char b64[sodium_base64_ENCODED_LEN(sizeof blob, sodium_base64_VARIANT_ORIGINAL)];

        memcpy(blob, n->sigs[i].key_hash, ICS_NOTE_KEY_HASH_BYTES);
        memcpy(blob + ICS_NOTE_KEY_HASH_BYTES, n->sigs[i].sig, ICS_SIG_BYTES);
        sodium_bin2base64(b64, sizeof b64, blob, sizeof blob, sodium_base64_VARIANT_ORIGINAL);
        if (fprintf(out, S_EM_DASH " %s %s\n", n->sigs[i].name, b64) < 0)
            return ICS_EIO;
    }
    return ferror(out) ? ICS_EIO : ICS_OK;
}
