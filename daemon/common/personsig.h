/*
 * Person signatures: the acting person's own Ed25519 signature inside a
 * Command (Command.person_sig), made by icsctl with the person's key and
 * checked by every node's state machine against the key the person's
 * organisation registered. The signature covers a domain-separated,
 * length-prefixed signing input (docs/log-format.md, section 2c): group,
 * organisation, person, key id, per-person sequence number and the
 * command's bytes without the person_sig field, so it cannot be moved to
 * another group, organisation, person or command.
 */
#ifndef ICS_PERSONSIG_H
#define ICS_PERSONSIG_H

#include "ics.h"
#include "keys.h"
#include "ics/v1/command.pb-c.h"

#define ICS_PERSON_SIG_FIELD 2 /* Command.person_sig */

/* The exact bytes a person signs. *out is malloc'd; the caller frees it.
 * ICS_ETOOBIG if a field is over its limit, ICS_ENOMEM. */
int ics_person_signing_input(const char *group, const char *org, const char *person,
                             const uint8_t *key_id, size_t key_id_len, uint64_t seq,
                             const uint8_t *cmd, size_t cmd_len, uint8_t **out,
                             size_t *out_len);

/* The command's bytes with its one top-level person_sig record cut out:
 * what the signing input holds. *out is malloc'd. ICS_ENOENT if the
 * payload has no person_sig record; ICS_EMALFORMED if its top level does
 * not parse as protobuf wire records or has more than one such record. */
int ics_person_unsigned_bytes(const uint8_t *payload, size_t len, uint8_t **out,
                              size_t *out_len);

/* Signs cmd (actor set; person_sig must be NULL) as its actor of org in
 * group with seq, and packs it with the signature: *out (malloc'd) is the
 * Command's bytes. cmd is left as it was. */
int ics_person_sign(const ics_identity_t *id, const char *group, const char *org,
                    uint64_t seq, Ics__V1__Command *cmd, uint8_t **out, size_t *out_len);

/* The bytes the person signature of payload (decoded as cmd) covers, if
 * its key id is pk's: *input malloc'd, ICS_OK; or ics_person_verify's
 * errors but ICS_ESIG. */
int ics_person_signed_input(const char *group, const char *org, const Ics__V1__Command *cmd,
                            const uint8_t *payload, size_t len, const uint8_t pk[ICS_PK_BYTES],
                            uint8_t **input, size_t *input_len);

/* Checks that the command bytes payload (decoded as cmd) carry a good
 * signature of cmd->actor of org under pk: ICS_OK; ICS_ENOENT (no
 * person_sig), ICS_EMALFORMED (a field of the wrong size, or the record
 * cannot be cut out), ICS_EKEY (key id is not pk's), ICS_ESIG. */
__attribute__((warn_unused_result))
int ics_person_verify(const char *group, const char *org, const Ics__V1__Command *cmd,
                      const uint8_t *payload, size_t len, const uint8_t pk[ICS_PK_BYTES]);

/* Who may register, re-key or revoke a person (docs/log-format.md, section
 * 2c): the state machine (fsm_people.c) decides with this, and so does the
 * offline verifier (logverify.c). Pure: the caller looks up the facts. */
typedef enum {
    ICS_PERSON_MAY = 0,     /* allowed */
    ICS_PERSON_NOT_ADMIN,   /* a person who is no administrator, and not the one registered */
    ICS_PERSON_HAS_ADMIN,   /* the organisation alone, but it has an administrator person */
    ICS_PERSON_FIRST_ADMIN, /* the organisation alone may only register its first admin */
} ics_person_may_t;

/* May signer ("" for the organisation itself) make registration r of its
 * organisation? signer_admin: the signer is an active administrator person
 * of it; admins: how many active administrator persons it has; exists: the
 * person r names is active. */
ics_person_may_t ics_person_may_register(const char *signer, bool signer_admin, uint64_t admins,
                                         const Ics__V1__PersonRegister *r, bool exists);

/* Whether the person r registers administers their organisation's people
 * afterwards: a person registering themself (a rotation) keeps the rights
 * they had (was_admin), anyone else's registration says. */
bool ics_person_admin_after(const char *signer, const Ics__V1__PersonRegister *r, bool was_admin);

#endif
