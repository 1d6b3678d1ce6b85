/*
 * What a node checks of a node-to-node frame before it dispatches it, kept
 * apart from node.c's event loop so that it can be exercised alone (the
 * fuzzers in tests/fuzz/): decoding a Frame, and the signing input and
 * verification of pings and pongs.
 */
#ifndef ICS_WIRE_H
#define ICS_WIRE_H

#include <stdbool.h>
#include "common/ics.h"
#include "common/keys.h"
#include "ics/v1/wire.pb-c.h"

#define ICS_PING_DOMAIN "ICSD-PING-V1"
#define ICS_PONG_DOMAIN "ICSD-PONG-V1"

/* Decodes a frame and checks its wire version. NULL if it does not decode
 * or is of another version; free with ics__v1__frame__free_unpacked. */
Ics__V1__Frame *ics_frame_decode(const uint8_t *data, size_t len);

/* The bytes a ping or pong signature covers: domain, group, from, to,
 * nonce, time. Returns their length, 0 if they do not fit in cap. */
size_t ics_ping_input(uint8_t *buf, size_t cap, const char *domain, const char *group,
                      const char *from, const char *to, uint64_t nonce, uint64_t t);

/* Is a ping or pong of frame group `group` from the authenticated peer
 * `from` to this node (`self_org`), and signed under pk? msg_from, msg_to,
 * nonce, t and sig are the message's own fields. */
__attribute__((warn_unused_result))
bool ics_ping_ok(const char *domain, const char *group, const char *msg_from,
                 const char *msg_to, uint64_t nonce, uint64_t t,
                 const ProtobufCBinaryData *sig, const char *from, const char *self_org,
                 const uint8_t pk[ICS_PK_BYTES]);

#endif
