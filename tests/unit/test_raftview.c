/*
 * Unit tests for the snapshot spread (raftview.h): each voter's snapshots
 * at its own offset, one every `every` entries on average.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "raftview.h"

/* Raft takes a snapshot once last_applied - last >= threshold, after
 * applying what it has: a little past the threshold when entries come in
 * batches. */
static raft_index s_next(unsigned every, raft_index last, unsigned rank, unsigned voters,
                         unsigned overshoot)
{
    return last + ics_snapshot_spread(every, last, rank, voters) + overshoot;
}

static void each_voter_keeps_its_offset(void **state)
{
    static const unsigned everies[] = {2, 3, 7, 1000, 1024, 1000000};
    (void)state;

    for (size_t e = 0; e < sizeof everies / sizeof *everies; e++) {
        unsigned every = everies[e];
        for (unsigned voters = 2; voters <= 7; voters++) {
            for (unsigned rank = 0; rank < voters; rank++) {
                uint64_t phase = (uint64_t)rank * every / voters;
                raft_index last = 0;
                for (unsigned k = 0; k < 200; k++) {
                    unsigned t = ics_snapshot_spread(every, last, rank, voters);
                    if (2 * (uint64_t)t < every || 2 * (uint64_t)t >= 3 * (uint64_t)every)
                        fail_msg("every %u, rank %u of %u, after %llu: threshold %u", every,
                                 rank, voters, (unsigned long long)last, t);
                    assert_int_equal((last + t) % every, phase);
                    /* An uneven overshoot, as batches give. */
                    last = last + t + (k * 7919u) % (every / 4 + 1);
                }
            }
        }
    }
}

/* Three voters, batches of up to 9 entries: over 300 snapshots each, a
 * snapshot every `every` entries on average, and no two voters' within
 * a sixth of it of each other (their offsets are a third apart). */
static void voters_snapshot_apart(void **state)
{
    const unsigned every = 1024, voters = 3;
    raft_index at[3][300];
    (void)state;

    for (unsigned rank = 0; rank < voters; rank++) {
        raft_index last = 0;
        for (unsigned k = 0; k < 300; k++) {
            last = s_next(every, last, rank, voters, (k * 31u + rank * 17u) % 10);
            at[rank][k] = last;
        }
        double mean = (double)(at[rank][299] - at[rank][0]) / 299;
        if (mean < every - 10 || mean > every + 10)
            fail_msg("rank %u: a snapshot every %.1f entries", rank, mean);
    }
    for (unsigned a = 0; a < voters; a++)
        for (unsigned b = a + 1; b < voters; b++)
            for (unsigned i = 0; i < 300; i++)
                for (unsigned j = 0; j < 300; j++) {
                    raft_index x = at[a][i], y = at[b][j];
                    if ((x > y ? x - y : y - x) < every / 6)
                        fail_msg("ranks %u and %u: snapshots at %llu and %llu", a, b,
                                 (unsigned long long)x, (unsigned long long)y);
                }
}

/* What the spread cannot place stays as configured. */
static void plain_threshold_where_there_is_nothing_to_spread(void **state)
{
    (void)state;
    assert_int_equal(ics_snapshot_spread(1024, 5000, 0, 1), 1024);
    assert_int_equal(ics_snapshot_spread(1, 5000, 1, 3), 1);
    assert_int_equal(ics_snapshot_spread(1024, 5000, 3, 3), 1024);
    /* Rank 0 of any number: offset 0, the nearest multiple. */
    assert_int_equal(ics_snapshot_spread(1024, 0, 0, 3), 1024);
    assert_int_equal(ics_snapshot_spread(1024, 1030, 0, 3), 2048 - 1030);
}

/* From raft's own fields: the rank is the node's among the voters by id;
 * standbys and spares do not count, and a node that is no voter takes
 * offset 0. */
static void rank_from_the_configuration(void **state)
{
    struct raft r;
    (void)state;

    ics_raftview_clear(&r, NULL);
    raft_configuration_init(&r.configuration);
    assert_int_equal(raft_configuration_add(&r.configuration, 30, "c", RAFT_VOTER), 0);
    assert_int_equal(raft_configuration_add(&r.configuration, 10, "a", RAFT_VOTER), 0);
    assert_int_equal(raft_configuration_add(&r.configuration, 15, "s", RAFT_SPARE), 0);
    assert_int_equal(raft_configuration_add(&r.configuration, 20, "b", RAFT_VOTER), 0);
    r.log.snapshot.last_index = 0;

    r.id = 10;
    assert_int_equal(ics_raftview_snapshot_threshold(&r, 900), 900);
    r.id = 20;
    assert_int_equal(ics_raftview_snapshot_threshold(&r, 900), 900 + 300);
    r.id = 30;
    assert_int_equal(ics_raftview_snapshot_threshold(&r, 900), 600);
    r.id = 15; /* a spare */
    assert_int_equal(ics_raftview_snapshot_threshold(&r, 900), 900);
    r.id = 30;
    r.log.snapshot.last_index = 1500; /* next at 2400, offset 600 of a run */
    assert_int_equal(ics_raftview_snapshot_threshold(&r, 900), 900);
    r.log.snapshot.last_index = 1900; /* next at 2400, not 3300 */
    assert_int_equal(ics_raftview_snapshot_threshold(&r, 900), 500);
    raft_configuration_close(&r.configuration);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_voter_keeps_its_offset),
        cmocka_unit_test(voters_snapshot_apart),
        cmocka_unit_test(plain_threshold_where_there_is_nothing_to_spread),
        cmocka_unit_test(rank_from_the_configuration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
