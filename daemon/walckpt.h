/*
 * WAL checkpoints off the event loop.
 *
 * In WAL mode SQLite appends each commit to the -wal file and copies the
 * pages back into the database file in a checkpoint. By default that runs
 * inside a COMMIT once the WAL holds 1,000 pages, and the store asked for
 * one after each snapshot too: megabytes copied and the database file
 * synced on the loop thread, 10-30 ms here, which every submission then in
 * flight waits out.
 *
 * A checkpointer is a thread with a connection of its own to the same
 * file. The loop's connection stops checkpointing by itself; after a
 * commit that leaves the WAL at `pages` or more (SQLite's WAL hook), or
 * when asked (ics_walckpt_request), the thread runs a PASSIVE checkpoint,
 * which SQLite lets run beside the one writer without blocking it. When a
 * checkpoint has copied everything, the writer's next transaction starts
 * the WAL from its beginning again, over the blocks the file has, and
 * journal_size_limit trims the file.
 * What is durable does not change: a commit is durable in the WAL, as
 * before, and a checkpoint syncs the database file before the WAL is
 * reused.
 */
#ifndef ICS_WALCKPT_H
#define ICS_WALCKPT_H

#include <sqlite3.h>

#include "common/ics.h"

typedef struct ics_walckpt ics_walckpt_t;

typedef struct {
    uint64_t runs;      /* checkpoints run */
    uint64_t failures;  /* ... that failed (not counting a busy one) */
    char last_error[160];
} ics_walckpt_stats_t;

/* Starts a checkpointer for db (the loop's connection, in WAL mode) whose
 * file is path: a connection of its own and a thread. NULL with err set if
 * either cannot be had. */
ics_walckpt_t *ics_walckpt_start(sqlite3 *db, const char *path, unsigned pages,
                                 ics_err_t *err);
/* Stops the thread (after a checkpoint it is running), closes its
 * connection and gives db its own automatic checkpoints back. Before db is
 * closed. Accepts NULL; sets *self_p to NULL. */
void ics_walckpt_stop(ics_walckpt_t **self_p);

/* Asks for a checkpoint now, whatever the WAL holds (e.g. once a snapshot
 * freed most of the log, so that the database file gives its pages back
 * soon). Returns at once. */
void ics_walckpt_request(ics_walckpt_t *self);

/* Waits (timeout_ms at most) until no checkpoint is asked for or running;
 * false on timeout. For tests and an orderly stop. */
bool ics_walckpt_idle(ics_walckpt_t *self, unsigned timeout_ms);

void ics_walckpt_stats(ics_walckpt_t *self, ics_walckpt_stats_t *out);

#endif
