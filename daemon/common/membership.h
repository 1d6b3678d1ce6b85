/*
 * The rules of membership that stand alone, without the state: what makes a
 * member's listing (a MemberAdd, or one member of a Genesis) well-formed and
 * what makes a Genesis valid. The state machine (daemon/fsm/fsm_members.c)
 * decides with these, and so does the offline verifier (logverify.c), so a
 * third party's check of an exported log and the nodes' own verdicts come
 * from one definition. Pure: no state, no clock, no I/O.
 */
#ifndef ICS_MEMBERSHIP_H
#define ICS_MEMBERSHIP_H

#include <stdbool.h>
#include <stddef.h>

#include "ics.h"
#include "keys.h"
#include "ics/v1/command.pb-c.h"

#define ICS_KIND_MAX 32 /* organisation kind, with NUL */

/* A 32-byte Ed25519 public key that has an X25519 equivalent (libsodium's
 * crypto_sign_ed25519_pk_to_curve25519 accepts it). */
bool ics_member_key_valid(const ProtobufCBinaryData *pk);

/* A MemberAdd's fields, as far as they stand alone. false with the state
 * machine's rejection reason in why. */
bool ics_member_check(const Ics__V1__MemberAdd *m, char *why, size_t size);

/* A Genesis for group, signed as organisation signer, before any genesis:
 * ICS_OK and the signer's listed key in signer_pk, or ICS_EREJECTED with the
 * reason (without the "group has no genesis yet: " prefix) in why. */
int ics_genesis_check(const char *group, const char *signer, const Ics__V1__Genesis *g,
                      uint8_t signer_pk[ICS_PK_BYTES], char *why, size_t why_size);

#endif
