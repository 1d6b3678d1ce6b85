/*
 * Signed envelopes: seal commands under an organisation's key, decode one
 * from bytes, verify it for a group and a key. See docs/log-format.md for
 * the exact signing input.
 *
 * Version 2 seals a batch: one Ed25519 signature over the root of the
 * Merkle tree (merkle.h) of the batch's signing inputs, and in each
 * envelope its index, the batch's size and its inclusion proof, so that
 * each verifies on its own. A node signs what it was given in a loop turn
 * once, and a verifier that meets the rest of the batch finds the
 * signature in its memo (sigmemo.h). Version 1 (one signature over one
 * signing input) is still read: logs written before hold it.
 */
#ifndef ICS_ENVELOPE_H
#define ICS_ENVELOPE_H

#include "ics.h"
#include "keys.h"
#include "ics/v1/command.pb-c.h"
#include "ics/v1/envelope.pb-c.h"

#define ICS_ENTRY_ID_BYTES 32

typedef struct {
    const char *group;
    const char *org;
    uint64_t seq;
    uint64_t timestamp_ms;
    uint32_t kind;          /* Command.body field number */
    const uint8_t *payload; /* serialised Command */
    size_t payload_len;
} ics_envelope_fields_t;

/* Signs n envelopes (1 to ICS_SEAL_BATCH_MAX) with one signature and packs
 * each: out[i] is malloc'd and the caller frees it. On error nothing is
 * left allocated and every out[i] is NULL. */
int ics_envelope_seal_batch(const ics_identity_t *id, const ics_envelope_fields_t *f, size_t n,
                            uint8_t **out, size_t *out_len, ics_err_t *err);

/* A batch of one. */
int ics_envelope_seal(const ics_identity_t *id, const ics_envelope_fields_t *f,
                      uint8_t **out, size_t *out_len, ics_err_t *err);

/* Decodes bytes into an envelope: size limit, protobuf, version, field
 * sizes, canonical encoding (re-packing gives the same bytes). The caller
 * frees *out with ics__v1__envelope__free_unpacked(*out, NULL). Errors:
 * ICS_ETOOBIG, ICS_EMALFORMED, ICS_EVERSION. */
int ics_envelope_decode(const uint8_t *buf, size_t len, Ics__V1__Envelope **out,
                        ics_err_t *err);

/* Checks group (ICS_EGROUP), key id (ICS_EKEY) and signature (ICS_ESIG). */
__attribute__((warn_unused_result))
int ics_envelope_verify(const Ics__V1__Envelope *env, const char *group,
                        const uint8_t pk[ICS_PK_BYTES], ics_err_t *err);

/* decode + verify. */
int ics_envelope_open(const uint8_t *buf, size_t len, const char *group,
                      const uint8_t pk[ICS_PK_BYTES], Ics__V1__Envelope **out,
                      ics_err_t *err);

/* The envelope's signing input: in version 1 what its signature covers, in
 * version 2 its leaf in the batch's tree. *out is malloc'd. */
int ics_envelope_signing_input(const Ics__V1__Envelope *env, uint8_t **out,
                               size_t *out_len);

/* The exact bytes the signature covers: the signing input (version 1) or
 * the batch statement its path leads to (version 2). *out is malloc'd.
 * ICS_EMALFORMED when the batch fields do not fit (ics_envelope_decode
 * refuses such an envelope). */
int ics_envelope_signed_message(const Ics__V1__Envelope *env, uint8_t **out, size_t *out_len);

/* Unpacks the payload and checks its body matches the header's kind
 * (ICS_EMALFORMED, ICS_EKIND). Free with ics__v1__command__free_unpacked. */
int ics_command_decode(const Ics__V1__Envelope *env, Ics__V1__Command **out,
                       ics_err_t *err);

/* BLAKE2b-256 of the envelope bytes. */
void ics_entry_id(const uint8_t *buf, size_t len, uint8_t id[ICS_ENTRY_ID_BYTES]);

/* Packs a protobuf-c message into a malloc'd buffer. */
int ics_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *out_len);

#endif
