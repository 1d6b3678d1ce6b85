/*
 * Fuzz: signed envelopes, the unit of the consensus log, as a node reads
 * them from a peer, a client or its own log: decode (size, protobuf,
 * version, header, canonical encoding), verify against the signer's key,
 * decode the command inside.
 *
 * A mutated envelope almost never verifies, so the harness also signs
 * again what decoded, with the named organisation's test key, and checks
 * that the result opens and that its command decodes exactly when the
 * original's did: the command parser is reached behind a good signature.
 */
#include "fuzz_kit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile uint64_t s_sink;

static void s_command(const Ics__V1__Envelope *env)
{
    Ics__V1__Command *cmd = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    ics_err_t err;

    if (ics_command_decode(env, &cmd, &err) != ICS_OK)
        return;
    /* What the state machine does next: read the body, and (for the
     * submitter) pack it again. */
    if (ics_pack(&cmd->base, &buf, &len) == ICS_OK)
        s_sink += len + (uint64_t)cmd->body_case + strlen(cmd->actor);
    free(buf);
    ics__v1__command__free_unpacked(cmd, NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fk_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t stranger[ICS_PK_BYTES] = {1};
    Ics__V1__Envelope *env = NULL, *again = NULL;
    uint8_t id[ICS_ENTRY_ID_BYTES];
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    ics_err_t err;

    ics_entry_id(data, size, id);
    s_sink += id[0];
    if (ics_envelope_decode(data, size, &env, &err) != ICS_OK)
        return 0;

    const ics_identity_t *key = fk_identity(env->org);
    const uint8_t *pk = key != NULL ? ics_identity_public(key) : stranger;
    if (ics_envelope_verify(env, FK_GROUP, pk, &err) == ICS_OK)
        s_sink++;
    if (ics_envelope_verify(env, env->group, pk, &err) == ICS_OK)
        s_sink++;
    s_command(env);

    /* Only a payload within the limit can be signed (decoding allows a
     * little more for the header; such an envelope never verifies). */
    if (key != NULL && env->payload.len <= ICS_ENVELOPE_MAX) {
        ics_envelope_fields_t f = {env->group, env->org, env->seq, env->timestamp_ms,
                                   env->kind, env->payload.data, env->payload.len};
        if (ics_envelope_seal(key, &f, &sealed, &sealed_len, &err) != ICS_OK) {
            fprintf(stderr, "decoded header does not seal: %s\n", err.msg);
            abort();
        }
        if (ics_envelope_open(sealed, sealed_len, env->group, pk, &again, &err) != ICS_OK) {
            fprintf(stderr, "re-sealed envelope does not open: %s\n", err.msg);
            abort();
        }
        Ics__V1__Command *c1 = NULL, *c2 = NULL;
        int rc1 = ics_command_decode(env, &c1, &err);
        int rc2 = ics_command_decode(again, &c2, &err);
        if (rc1 != rc2)
            abort(); /* the command decodes the same whoever signed it */
        if (c1 != NULL)
            ics__v1__command__free_unpacked(c1, NULL);
        if (c2 != NULL)
            ics__v1__command__free_unpacked(c2, NULL);
        ics__v1__envelope__free_unpacked(again, NULL);
        free(sealed);
    }
    ics__v1__envelope__free_unpacked(env, NULL);
    return 0;
}
