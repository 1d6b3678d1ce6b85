/*
 * Signed tree heads in the C2SP tlog-checkpoint signed-note format
 * (docs/log-format.md, section 6b): the note body
 *
 *     icsd/<group>\n<tree size>\n<base64 root hash>\n
 *
 * signed with Ed25519 (signed-note signature type 0x01) by each member's
 * identity key, the key name being the member's organisation id. A member's
 * Checkpoint entry carries its signature of the body for the size it names:
 * its cosignature. Pure: no I/O.
 */
#ifndef ICS_NOTE_H
#define ICS_NOTE_H

#include <stdio.h>

#include "ics.h"
#include "keys.h"
#include "merkle.h"

#define ICS_NOTE_KEY_HASH_BYTES 4
/* "icsd/" group "\n" u64 "\n" base64(32) "\n", with NUL. */
#define ICS_NOTE_BODY_MAX (5 + ICS_GROUP_MAX + 1 + 20 + 1 + 44 + 1 + 1)
/* One signature line: "— " name " " base64(4 + 64) "\n", with NUL. */
#define ICS_NOTE_SIG_LINE_MAX (4 + ICS_ORG_MAX + 1 + 92 + 1 + 1)

/* Writes the body of the tree head (size, root) of group into out (room
 * ICS_NOTE_BODY_MAX) and returns its length. */
size_t ics_note_body(const char *group, uint64_t size, const uint8_t root[ICS_MERKLE_HASH_BYTES],
                     char out[ICS_NOTE_BODY_MAX]);

/* The signed-note key hash of an Ed25519 key named name:
 * the first 4 bytes of SHA-256(name || 0x0A || 0x01 || pk). */
void ics_note_key_hash(const char *name, const uint8_t pk[ICS_PK_BYTES],
                       uint8_t out[ICS_NOTE_KEY_HASH_BYTES]);

/* Does sig verify as name's (key pk) cosignature of the tree head
 * (group, size, root)? The Ed25519 rule of section 2a. */
bool ics_note_cosignature_ok(const char *group, uint64_t size,
                             const uint8_t root[ICS_MERKLE_HASH_BYTES],
                             const uint8_t pk[ICS_PK_BYTES], const uint8_t sig[ICS_SIG_BYTES]);

/* id's cosignature of the tree head (group, size, root): its Ed25519
 * signature of the note body. */
void ics_note_cosign(const ics_identity_t *id, const char *group, uint64_t size,
                     const uint8_t root[ICS_MERKLE_HASH_BYTES], uint8_t sig[ICS_SIG_BYTES]);

/* Writes a signature line "— <name> <base64(key hash || sig)>\n" into out
 * (room ICS_NOTE_SIG_LINE_MAX); returns its length, 0 if name is not a valid
 * organisation id. */
size_t ics_note_sig_line(const char *name, const uint8_t pk[ICS_PK_BYTES],
                         const uint8_t sig[ICS_SIG_BYTES], char out[ICS_NOTE_SIG_LINE_MAX]);

/* A signed tree head as a whole note: body, an empty line, and at least
 * one signature line. Signatures are carried, not checked, by the parser. */
#define ICS_NOTE_SIGS_MAX 64
typedef struct {
    char name[ICS_ORG_MAX];
    uint8_t key_hash[ICS_NOTE_KEY_HASH_BYTES];
    uint8_t sig[ICS_SIG_BYTES];
} ics_note_sig_t;

typedef struct {
    char group[ICS_GROUP_MAX];
    uint64_t size;
    uint8_t root[ICS_MERKLE_HASH_BYTES];
    ics_note_sig_t sigs[ICS_NOTE_SIGS_MAX];
    size_t n_sigs;
} ics_note_t;

/* Parses text (len bytes, exactly one note, every line LF-ended) strictly:
 * each part has one spelling (section 6b), names are organisation ids and
 * appear once, a signature is 4 + 64 bytes. ICS_EMALFORMED with err saying
 * which line is wrong. */
int ics_note_parse(const char *text, size_t len, ics_note_t *out, ics_err_t *err);

/* Writes note n (body, empty line, signature lines). ICS_OK or ICS_EIO. */
int ics_note_write(FILE *out, const ics_note_t *n);

#endif
