/*
 * What every domain needs from the core, below every domain: the apply
 * context's rejection and effect queue, and the core row (fsm_core) as
 * read by the log clock's readers. fsm.c, which alone writes the row,
 * dispatches to the domains and owns everything else of the state machine.
 *
 * Calls only fsm_sql.c: no domain and not fsm.c, so that every domain may
 * call it and the files of daemon/fsm call one another without a circle
 * (the layers are listed in fsm_internal.h).
 */
#include "fsm/fsm_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- context */

int ics_reject(ics_apply_ctx_t *ctx, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(ctx->reason, sizeof ctx->reason, fmt, ap);
    va_end(ap);
    if (ctx->reason[0] == '\0')
        ics_strcpy(ctx->reason, sizeof ctx->reason, "rejected");
    return ICS_EREJECTED;
}

int ics_emit_effect(ics_apply_ctx_t *ctx, const ics_effect_t *effect)
{
    if (ctx->n_effects_ == ctx->cap_effects_) {
        size_t cap = ctx->cap_effects_ ? 2 * ctx->cap_effects_ : 4;
        ics_effect_t *p = realloc(ctx->effects_, cap * sizeof *p);
        if (p == NULL)
            return ICS_ENOMEM;
        ctx->effects_ = p;
        ctx->cap_effects_ = cap;
    }
    ctx->effects_[ctx->n_effects_++] = *effect;
    return ICS_OK;
}

/* ---------------------------------------------------------------- core row */

int ics_core_read(ics_db_t *db, ics_core_t *c)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(c, 0, sizeof *c);
    rc = ics_sql_prepare(db, "SELECT position, chain, clock_ms, genesis FROM fsm_core WHERE id = 1",
                         &st);
    if (rc != ICS_OK)
        goto out;
    rc = ics_sql_row(db, st);
    if (rc != ICS_OK) {
        rc = ICS_EIO;
        goto out;
    }
    c->position = ics_sql_column_u64(st, 0);
    c->clock_ms = ics_sql_column_u64(st, 2);
    c->genesis = sqlite3_column_int(st, 3) != 0;
    rc = ics_sql_column_blob(st, 1, c->chain, sizeof c->chain) ? ICS_OK : ICS_EIO;
out:
    ics_sql_release(db, st);
    return rc;
}

uint64_t ics_core_clock(ics_db_t *db)
{
    ics_core_t c;
    return ics_core_read(db, &c) == ICS_OK ? c.clock_ms : 0;
}
