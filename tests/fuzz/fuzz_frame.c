/*
 * Fuzz: node-to-node frames as node QHM of group nenc receives them from
 * an authenticated peer: the checks of node.c (wire.h: decode, version,
 * group, membership, ping and pong signatures) and the group's handling of
 * each body (group.c): raft messages into a raftio, forwarded envelopes,
 * history requests served from a real history, history chunks checked
 * against a history with a gap, as a node does after a snapshot install.
 *
 * The first byte of an input picks the authenticated peer (the ZAP
 * User-Id, never part of a frame); the rest is the frame.
 */
#include "fuzz_kit.h"
#include "wire.h"

#include <stdlib.h>
#include <string.h>

static const char *const s_peers[] = {"RTD", "RX4", "E06000057", "RX6", "QE1"};
static fk_state_t s_state;
static uint64_t s_top, s_clock;
static uint8_t s_chain[ICS_CHAIN_BYTES];
static volatile uint64_t s_sink;

static bool s_member(const char *org)
{
    for (size_t i = 0; i < FK_N_ORGS; i++)
        if (strcmp(fk_orgs[i], org) == 0)
            return true;
    return false;
}

static void s_ping(const char *from, const Ics__V1__Frame *frame)
{
    const uint8_t *pk = ics_identity_public(fk_identity(from));
    const Ics__V1__Ping *ping = frame->ping;
    uint8_t input[512];

    if (!ics_ping_ok(ICS_PING_DOMAIN, frame->group, ping->from, ping->to, ping->nonce,
                     ping->sent_ms, &ping->signature, from, "QHM", pk))
        return;
    /* The pong the node would sign. */
    s_sink += ics_ping_input(input, sizeof input, ICS_PONG_DOMAIN, frame->group, "QHM", from,
                             ping->nonce, ping->sent_ms);
}

static void s_pong(const char *from, const Ics__V1__Frame *frame)
{
    const uint8_t *pk = ics_identity_public(fk_identity(from));
    const Ics__V1__Pong *pong = frame->pong;

    if (ics_ping_ok(ICS_PONG_DOMAIN, frame->group, pong->from, pong->to, pong->nonce,
                    pong->echo_ms, &pong->signature, from, "QHM", pk))
        s_sink++;
}

static void s_forward(const char *from, const Ics__V1__Forward *fwd)
{
    Ics__V1__Envelope *env = NULL;
    ics_err_t err;

    if (ics_envelope_decode(fwd->envelope.data, fwd->envelope.len, &env, &err) != ICS_OK)
        return;
    if (strcmp(env->org, from) == 0 && strcmp(env->group, FK_GROUP) == 0)
        s_sink += ics_fsm_seq_taken(s_state.fsm, env->org, env->seq);
    ics__v1__envelope__free_unpacked(env, NULL);
}

static void s_history_request(const Ics__V1__HistoryRequest *req)
{
    size_t cap = 1u << 20;
    size_t max = req->max_bytes > 0 && req->max_bytes < cap ? req->max_bytes : cap;
    uint8_t *chunk = NULL;
    size_t len = 0;

    if (ics_history_serve(s_state.history, req->request_id, req->first, req->last, max, &chunk,
                          &len) != ICS_OK)
        return;
    Ics__V1__HistoryChunk *c = ics__v1__history_chunk__unpack(NULL, len, chunk);
    if (c == NULL)
        abort(); /* what the node serves must decode */
    ics__v1__history_chunk__free_unpacked(c, NULL);
    free(chunk);
}

static void s_history_chunk(const Ics__V1__HistoryChunk *chunk)
{
    ics_history_t *h;
    size_t stored = 0;
    ics_err_t err;

    h = ics_history_open(NULL, FK_GROUP, &err);
    if (h == NULL || ics_history_restored(h, s_top, s_chain, s_clock) != ICS_OK)
        abort();
    if (ics_history_fill_chunk(h, chunk, &stored, &err) == ICS_OK) {
        uint64_t lo, hi;
        s_sink += stored + ics_history_gap(h, &lo, &hi);
    }
    ics_history_close(&h);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fk_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Ics__V1__Frame *frame;
    const char *from;

    if (s_state.fsm == NULL) {
        fk_state_build(&s_state);
        s_top = ics_fsm_position(s_state.fsm);
        s_clock = ics_fsm_clock(s_state.fsm);
        ics_fsm_chain(s_state.fsm, s_chain);
    }
    if (size == 0)
        return 0;
    from = s_peers[data[0] % 5];
    frame = ics_frame_decode(data + 1, size - 1);
    if (frame == NULL)
        return 0;
    if (frame->group[0] == '\0' || strcmp(frame->group, FK_GROUP) != 0 || !s_member(from))
        goto out;
    switch (frame->body_case) {
    case ICS__V1__FRAME__BODY_PING:
        s_ping(from, frame);
        break;
    case ICS__V1__FRAME__BODY_PONG:
        s_pong(from, frame);
        break;
    case ICS__V1__FRAME__BODY_RAFT: {
        ics_raftio_t *io = fk_raftio_new();
        ics_raftio_deliver(io, from, frame->raft);
        ics_raftio_destroy(&io);
        break;
    }
    case ICS__V1__FRAME__BODY_FORWARD:
        s_forward(from, frame->forward);
        break;
    case ICS__V1__FRAME__BODY_HISTORY_REQUEST:
        s_history_request(frame->history_request);
        break;
    case ICS__V1__FRAME__BODY_HISTORY_CHUNK:
        s_history_chunk(frame->history_chunk);
        break;
    default:
        break;
    }
out:
    ics__v1__frame__free_unpacked(frame, NULL);
    return 0;
}
