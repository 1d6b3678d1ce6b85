/*
 * Fuzz: raft messages from peers, as the raftio turns them into what
 * libraft receives (ics_raftio_deliver): entries copied into raft's
 * memory, snapshot transfers reassembled from chunks.
 *
 * One input is a sequence of messages separated by FK_SEP (fuzz_kit.h);
 * each part's first byte picks the peer it comes from (so transfers from
 * several peers interleave), the rest is a RaftMessage. A fresh raftio per
 * input, so an input replays alone; the receive callback reads every field
 * it is given and frees what raft takes, so a leak or a bad buffer shows.
 */
#include "fuzz_kit.h"

#include <stdlib.h>

static const char *const s_peers[] = {"RTD", "RX4", "E06000057", "RX6"};

static void s_part(void *arg, size_t i, const uint8_t *part, size_t len)
{
    ics_raftio_t *io = arg;
    Ics__V1__RaftMessage *m;

    if (len == 0)
        return;
    m = ics__v1__raft_message__unpack(NULL, len - 1, part + 1);
    if (m == NULL)
        return;
    ics_raftio_deliver(io, s_peers[part[0] % 4], m);
    ics__v1__raft_message__free_unpacked(m, NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fk_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ics_raftio_t *io = fk_raftio_new();

    /* Small limits, so that an input can reach them. */
    if (size > 0 && (data[0] & 1))
        ics_raftio_set_transfer_limits(io, 4096, ICS_RAFTIO_TRANSFER_STALL_MS);
    fk_split(data, size, 64, s_part, io);
    ics_raftio_tick(io);
    ics_raftio_destroy(&io);
    return 0;
}
