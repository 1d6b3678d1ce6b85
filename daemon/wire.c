/*
 * Frame decoding and ping/pong signatures (wire.h). Pure: no sockets, no
 * state, so a frame's checks can be run on arbitrary bytes.
 */
#include "wire.h"

#include <stdio.h>
#include <string.h>

Ics__V1__Frame *ics_frame_decode(const uint8_t *data, size_t len)
{
    Ics__V1__Frame *frame = ics__v1__frame__unpack(NULL, len, data);

    if (frame != NULL && frame->version != ICS_WIRE_VERSION) {
        ics__v1__frame__free_unpacked(frame, NULL);
        frame = NULL;
    }
    return frame;
}

size_t ics_ping_input(uint8_t *buf, size_t cap, const char *domain, const char *group,
                      const char *from, const char *to, uint64_t nonce, uint64_t t)
{
    int n = snprintf((char *)buf, cap, "%s\n%s\n%s\n%s\n%llu\n%llu", domain, group, from, to,
                     (unsigned long long)nonce, (unsigned long long)t);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

bool ics_ping_ok(const char *domain, const char *group, const char *msg_from,
                 const char *msg_to, uint64_t nonce, uint64_t t,
                 const ProtobufCBinaryData *sig, const char *from, const char *self_org,
                 const uint8_t pk[ICS_PK_BYTES])
{
    uint8_t input[512];
    size_t len = ics_ping_input(input, sizeof input, domain, group, msg_from, msg_to, nonce, t);

    return strcmp(msg_from, from) == 0 && strcmp(msg_to, self_org) == 0 && len != 0 &&
           sig->len == ICS_SIG_BYTES && ics_signature_ok(pk, input, len, sig->data);
}
