/*
 * Organisation identities: one Ed25519 key per organisation, from which the
 * node's CURVE (X25519) keypair for ZeroMQ is derived. Secret material lives
 * in sodium_malloc memory and is wiped on every exit path.
 */
#ifndef ICS_KEYS_H
#define ICS_KEYS_H

#include "ics.h"

#define ICS_PK_BYTES 32
#define ICS_SIG_BYTES 64
#define ICS_KEY_ID_BYTES 8
/* "ed25519:" + base64 of 32 bytes (44 chars) + NUL */
#define ICS_PUBKEY_TEXT_MAX 64

typedef struct ics_identity ics_identity_t;

/* Writes a new secret key file (mode 0600; refuses to overwrite) and, if
 * pub_text is not NULL, its public key in config form. */
int ics_identity_generate(const char *path, char pub_text[ICS_PUBKEY_TEXT_MAX],
                          ics_err_t *err);

/* Loads a key file; refuses one that group or others can read. Caller
 * destroys the result. Returns NULL with err set on failure. */
ics_identity_t *ics_identity_load(const char *path, ics_err_t *err);

/* Creates an identity from a 32-byte seed (tests, fixtures). */
ics_identity_t *ics_identity_from_seed(const uint8_t seed[32]);

/* Wipes and frees; accepts NULL; sets *self_p to NULL. */
void ics_identity_destroy(ics_identity_t **self_p);

const uint8_t *ics_identity_public(const ics_identity_t *self);
const uint8_t *ics_identity_key_id(const ics_identity_t *self);
const uint8_t *ics_identity_curve_public(const ics_identity_t *self);
const uint8_t *ics_identity_curve_secret(const ics_identity_t *self);

void ics_identity_sign(const ics_identity_t *self, const uint8_t *msg,
                       size_t len, uint8_t sig[ICS_SIG_BYTES]);

__attribute__((warn_unused_result))
bool ics_signature_ok(const uint8_t pk[ICS_PK_BYTES], const uint8_t *msg,
                      size_t len, const uint8_t sig[ICS_SIG_BYTES]);

/* "ed25519:<base64>" <-> 32 bytes. Parse returns false on anything else,
 * including a point that has no CURVE equivalent. */
bool ics_pubkey_parse(const char *text, uint8_t pk[ICS_PK_BYTES]);
/* Why text is not a public key, for messages ("is not ed25519:<base64 of
 * 32 bytes>..." or "is not a valid Ed25519 public key..."); NULL if it is. */
const char *ics_pubkey_problem(const char *text);
void ics_pubkey_format(const uint8_t pk[ICS_PK_BYTES],
                       char out[ICS_PUBKEY_TEXT_MAX]);

void ics_key_id(const uint8_t pk[ICS_PK_BYTES], uint8_t id[ICS_KEY_ID_BYTES]);
int ics_curve_public(const uint8_t pk[ICS_PK_BYTES], uint8_t curve[32]);

/* Calls sodium_init once; returns false if libsodium cannot start. */
bool ics_crypto_init(void);

#endif
