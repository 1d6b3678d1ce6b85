/*
 * Identity keys. The key file holds one line, "ed25519-secret:<base64 seed>",
 * and must be private to its owner (mode 0600 or stricter). The seed and the
 * expanded secret keys are kept in one sodium_malloc region, locked in
 * memory and wiped when the identity is destroyed.
 */
#include "keys.h"
#include "sigmemo.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEYFILE_PREFIX "ed25519-secret:"
#define PUBKEY_PREFIX "ed25519:"

struct ics_identity {
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t curve_sk[crypto_scalarmult_curve25519_BYTES];
    uint8_t curve_pk[crypto_scalarmult_curve25519_BYTES];
    uint8_t key_id[ICS_KEY_ID_BYTES];
};

_Static_assert(crypto_sign_PUBLICKEYBYTES == ICS_PK_BYTES, "pk size");
_Static_assert(crypto_sign_BYTES == ICS_SIG_BYTES, "sig size");

bool ics_crypto_init(void)
{
    return sodium_init() >= 0;
}

ics_identity_t *ics_identity_from_seed(const uint8_t seed[32])
{
    ics_identity_t *self;

    if (!ics_crypto_init())
        return NULL;
    self = sodium_malloc(sizeof *self);
    if (self == NULL)
        return NULL;
    crypto_sign_seed_keypair(self->pk, self->sk, seed);
    if (crypto_sign_ed25519_sk_to_curve25519(self->curve_sk, self->sk) != 0 ||
        crypto_sign_ed25519_pk_to_curve25519(self->curve_pk, self->pk) != 0) {
        ics_identity_destroy(&self);
        return NULL;
    }
    ics_key_id(self->pk, self->key_id);
    return self;
}

void ics_identity_destroy(ics_identity_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    sodium_free(*self_p); /* wipes before unmapping */
    *self_p = NULL;
}

int ics_identity_generate(const char *path, char pub_text[ICS_PUBKEY_TEXT_MAX],
                          ics_err_t *err)
{
    uint8_t *seed = NULL;
    char *line = NULL;
    const size_t b64len = sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL);
    const size_t linelen = sizeof KEYFILE_PREFIX - 1 + b64len + 1;
    ics_identity_t *id = NULL;
    int fd = -1, rc = ICS_EIO;

    if (!ics_crypto_init())
        return ics_err(err, ICS_EIO, "libsodium failed to initialise");
    seed = sodium_malloc(32);
    line = sodium_malloc(linelen + 1);
    if (seed == NULL || line == NULL) {
        rc = ics_err(err, ICS_ENOMEM, "out of secure memory");
        goto out;
    }
    randombytes_buf(seed, 32);
    id = ics_identity_from_seed(seed);
    if (id == NULL) {
        rc = ics_err(err, ICS_EIO, "could not derive keys");
        goto out;
    }
    memcpy(line, KEYFILE_PREFIX, sizeof KEYFILE_PREFIX - 1);
    sodium_bin2base64(line + sizeof KEYFILE_PREFIX - 1, b64len, seed, 32,
                      sodium_base64_VARIANT_ORIGINAL);
    size_t n = strlen(line);
    line[n++] = '\n';

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        rc = ics_err(err, errno == EEXIST ? ICS_EEXIST : ICS_EIO,
                     "%s: %s%s", path, strerror(errno),
                     errno == EEXIST ? " (refusing to overwrite a key file)" : "");
        goto out;
    }
    if (fchmod(fd, 0600) != 0 || write(fd, line, n) != (ssize_t)n || fsync(fd) != 0) {
        rc = ics_err(err, ICS_EIO, "%s: %s", path, strerror(errno));
        unlink(path);
        goto out;
    }
    if (pub_text != NULL)
        ics_pubkey_format(id->pk, pub_text);
    rc = ICS_OK;
out:
    if (fd >= 0)
        close(fd);
    sodium_free(seed);
    sodium_free(line);
    ics_identity_destroy(&id);
    return rc;
}

ics_identity_t *ics_identity_load(const char *path, ics_err_t *err)
{
    char *buf = NULL;
    uint8_t *seed = NULL;
    const size_t bufsize = 256;
    ics_identity_t *self = NULL;
    struct stat st;
    ssize_t n;
    size_t seedlen = 0;
    const char *end = NULL;
    int fd;

    if (!ics_crypto_init()) {
        ics_err(err, ICS_EIO, "libsodium failed to initialise");
        return NULL;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ics_err(err, ICS_EIO, "key file %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0) {
        ics_err(err, ICS_EIO, "key file %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        ics_err(err, ICS_EPERM, "key file %s: not a regular file", path);
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        ics_err(err, ICS_EPERM,
                "key file %s is readable by others (mode %04o); run: chmod 600 %s",
                path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    buf = sodium_malloc(bufsize);
    seed = sodium_malloc(32);
    if (buf == NULL || seed == NULL) {
        ics_err(err, ICS_ENOMEM, "out of secure memory");
        goto out;
    }
    n = read(fd, buf, bufsize - 1);
    if (n < 0) {
        ics_err(err, ICS_EIO, "key file %s: %s", path, strerror(errno));
        goto out;
    }
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    if (strncmp(buf, KEYFILE_PREFIX, sizeof KEYFILE_PREFIX - 1) != 0 ||
        sodium_base642bin(seed, 32, buf + sizeof KEYFILE_PREFIX - 1,
                          (size_t)n - (sizeof KEYFILE_PREFIX - 1), NULL, &seedlen,
                          &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        seedlen != 32 || *end != '\0') {
        ics_err(err, ICS_EMALFORMED,
                "key file %s: not an icsd key (expected one line \"" KEYFILE_PREFIX
                "<base64>\")", path);
        goto out;
    }
    self = ics_identity_from_seed(seed);
    if (self == NULL)
        ics_err(err, ICS_EIO, "key file %s: could not derive keys", path);
out:
    close(fd);
    sodium_free(buf);
    sodium_free(seed);
    return self;
}

const uint8_t *ics_identity_public(const ics_identity_t *self) { return self->pk; }
const uint8_t *ics_identity_key_id(const ics_identity_t *self) { return self->key_id; }
const uint8_t *ics_identity_curve_public(const ics_identity_t *self) { return self->curve_pk; }
const uint8_t *ics_identity_curve_secret(const ics_identity_t *self) { return self->curve_sk; }

void ics_identity_sign(const ics_identity_t *self, const uint8_t *msg, size_t len,
                       uint8_t sig[ICS_SIG_BYTES])
{
    uint8_t d[ICS_SIGMEMO_DIGEST];

    crypto_sign_detached(sig, NULL, msg, len, self->sk);
    /* pk is derived from sk's seed: what we sign verifies (sigmemo.h). */
    if (ics_sigmemo_digest(self->pk, msg, len, sig, d))
        ics_sigmemo_put(d);
}

bool ics_signature_ok(const uint8_t pk[ICS_PK_BYTES], const uint8_t *msg,
                      size_t len, const uint8_t sig[ICS_SIG_BYTES])
{
    uint8_t d[ICS_SIGMEMO_DIGEST];
    bool memo = ics_sigmemo_digest(pk, msg, len, sig, d);

    if (memo && ics_sigmemo_has(d))
        return true;
    if (crypto_sign_verify_detached(sig, msg, len, pk) != 0)
        return false;
    if (memo)
        ics_sigmemo_put(d);
    return true;
}

bool ics_pubkey_parse(const char *text, uint8_t pk[ICS_PK_BYTES])
{
    size_t len = 0;
    const char *end = NULL;
    uint8_t curve[32];

    if (text == NULL || strncmp(text, PUBKEY_PREFIX, sizeof PUBKEY_PREFIX - 1) != 0)
        return false;
    text += sizeof PUBKEY_PREFIX - 1;
    if (sodium_base642bin(pk, ICS_PK_BYTES, text, strlen(text), NULL, &len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        len != ICS_PK_BYTES || *end != '\0')
        return false;
    return ics_curve_public(pk, curve) == 0;
}

const char *ics_pubkey_problem(const char *text)
{
    uint8_t pk[ICS_PK_BYTES];
    size_t len = 0;
    const char *end = NULL;

    if (ics_pubkey_parse(text, pk))
        return NULL;
    if (text != NULL && strncmp(text, PUBKEY_PREFIX, sizeof PUBKEY_PREFIX - 1) == 0 &&
        sodium_base642bin(pk, ICS_PK_BYTES, text + sizeof PUBKEY_PREFIX - 1,
                          strlen(text + sizeof PUBKEY_PREFIX - 1), NULL, &len, &end,
                          sodium_base64_VARIANT_ORIGINAL) == 0 &&
        len == ICS_PK_BYTES && *end == '\0')
        return "is well-formed but not a valid Ed25519 public key (not a usable point on the"
               " curve): check it was copied whole from 'icsd keygen'";
    return "is not ed25519:<base64 of 32 bytes> as printed by 'icsd keygen'";
}

void ics_pubkey_format(const uint8_t pk[ICS_PK_BYTES], char out[ICS_PUBKEY_TEXT_MAX])
{
    memcpy(out, PUBKEY_PREFIX, sizeof PUBKEY_PREFIX - 1);
    sodium_bin2base64(out + sizeof PUBKEY_PREFIX - 1,
                      ICS_PUBKEY_TEXT_MAX - (sizeof PUBKEY_PREFIX - 1), pk,
                      ICS_PK_BYTES, sodium_base64_VARIANT_ORIGINAL);
}

void ics_key_id(const uint8_t pk[ICS_PK_BYTES], uint8_t id[ICS_KEY_ID_BYTES])
{
    uint8_t h[crypto_generichash_BYTES_MIN];

    /* BLAKE2b-128, first 8 bytes: libsodium's minimum output is 16. */
    crypto_generichash(h, sizeof h, pk, ICS_PK_BYTES, NULL, 0);
    memcpy(id, h, ICS_KEY_ID_BYTES);
}

int ics_curve_public(const uint8_t pk[ICS_PK_BYTES], uint8_t curve[32])
{
    return crypto_sign_ed25519_pk_to_curve25519(curve, pk) == 0 ? 0 : ICS_EKEY;
}
