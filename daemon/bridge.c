/*
 * The mutual-aid bridge (bridge.h). Each loop turn: if any group's log
 * position moved since the last look, ask ics_fsm_aid_bridge() about each
 * configured (home, escalate_to) pair and submit what it calls for.
 *
 * Invariants:
 *   - at most one submission per token is in flight: the state keeps
 *     calling for a command until it is applied, and resubmitting it every
 *     turn would queue duplicates;
 *   - the same command always carries the same token (derived by the state
 *     machine from what it is for), so a resubmission after a timeout or a
 *     restart reuses the outbox's sequence number and is applied once;
 *   - nothing here decides anything: a command the state machine rejects
 *     is logged and left; it is submitted again (as the same entry, so it
 *     is not applied again) only when the state changes.
 */
#include "bridge.h"

#include "nodeview.h"

#include <stdlib.h>
#include <string.h>

typedef struct s_flight {
    struct s_flight *next;
    struct ics_bridge *bridge;
    uint8_t token[16];
    char group[ICS_GROUP_MAX];
    char what[160];
} s_flight_t;

struct ics_bridge {
    ics_node_t *node;
    uint64_t seen[ICS_MAX_GROUPS];  /* position of each group at the last look */
    s_flight_t *flights;
    bool any;                       /* does any group escalate anywhere? */
};

typedef struct {
    ics_bridge_t *bridge;
    ics_group_t *home, *region;
} s_pair_t;

static void s_done(void *arg, int code, const char *error, const ics_apply_result_t *res)
{
    s_flight_t *f = arg;
    s_flight_t **pp = &f->bridge->flights;

    if (code != ICS_OK)
        ics_info("aid bridge: %s: not applied in %s yet (%s); will try again", f->what,
                 f->group, error != NULL ? error : ics_strerror(code));
    else if (res != NULL && !res->accepted && !res->duplicate)
        ics_warn("aid bridge: %s rejected in %s: %s", f->what, f->group, res->reason);
    else if (res != NULL && res->accepted && !res->duplicate)
        ics_info("aid bridge: %s (index %llu in %s)", f->what,
                 (unsigned long long)res->position, f->group);
    while (*pp != NULL && *pp != f)
        pp = &(*pp)->next;
    if (*pp == f)
        *pp = f->next;
    free(f);
}

static void s_submit(void *arg, bool to_region, const uint8_t token[16], const uint8_t *cmd,
                     size_t cmd_len, const char *what)
{
    s_pair_t *pair = arg;
    struct ics_bridge *b = pair->bridge;
    ics_group_t *g = to_region ? pair->region : pair->home;
    s_flight_t *f;
    ics_err_t err;

    for (f = b->flights; f != NULL; f = f->next)
        if (memcmp(f->token, token, sizeof f->token) == 0)
            return;
    f = calloc(1, sizeof *f);
    if (f == NULL)
        return; /* the state still calls for it: next time */
    f->bridge = b;
    memcpy(f->token, token, sizeof f->token);
    ics_strcpy(f->group, sizeof f->group, ics_group_name(g));
    ics_strcpy(f->what, sizeof f->what, what);
    /* In the list before submitting: a resubmission of something already
     * applied completes (and frees f) inside ics_group_submit. */
    f->next = b->flights;
    b->flights = f;
    if (ics_group_submit(g, cmd, cmd_len, token, 16, 30000, s_done, f, &err) != ICS_OK) {
        ics_warn("aid bridge: cannot submit %s to %s: %s", what, f->group, err.msg);
        b->flights = f->next; /* still first: nothing ran in between */
        free(f);
    }
}

ics_bridge_t *ics_bridge_new(ics_node_t *node)
{
    const ics_config_t *cfg = ics_node_config(node);
    ics_bridge_t *b = calloc(1, sizeof *b);

    if (b == NULL)
        return NULL;
    b->node = node;
    for (size_t i = 0; i < cfg->n_groups; i++)
        if (cfg->groups[i].escalate_to[0] != '\0')
            b->any = true;
    return b;
}

void ics_bridge_run(ics_bridge_t *b)
{
    ics_node_t *node = b->node;
    const ics_config_t *cfg = ics_node_config(node);
    size_t n_groups = ics_node_n_groups(node);
    bool moved = false;

    if (!b->any)
        return;
    for (size_t i = 0; i < n_groups; i++) {
        uint64_t pos = ics_fsm_position(ics_group_fsm(ics_node_group_at(node, i)));
        if (pos != b->seen[i]) {
            b->seen[i] = pos;
            moved = true;
        }
    }
    if (!moved)
        return;
    for (size_t i = 0; i < n_groups; i++) {
        ics_group_t *home = ics_node_group_at(node, i);
        const ics_group_cfg_t *gc = ics_config_group(cfg, ics_group_name(home));
        s_pair_t pair = {b, home, NULL};
        ics_fsm_t *hf, *rf;

        if (gc == NULL || gc->escalate_to[0] == '\0')
            continue;
        pair.region = ics_node_group(node, gc->escalate_to);
        if (pair.region == NULL)
            continue; /* the configuration check makes this impossible */
        hf = ics_group_fsm(pair.home);
        rf = ics_group_fsm(pair.region);
        /* Both groups must have started, with this organisation in them. */
        if (!ics_fsm_has_genesis(hf) || !ics_fsm_has_genesis(rf) ||
            !ics_fsm_is_member(hf, cfg->org) || !ics_fsm_is_member(rf, cfg->org))
            continue;
        if (ics_fsm_aid_bridge(hf, rf, cfg->org, s_submit, &pair) != ICS_OK)
            ics_warn("aid bridge: cannot read %s and %s", gc->name, gc->escalate_to);
    }
}

void ics_bridge_destroy(ics_bridge_t **self_p)
{
    struct ics_bridge *b;

    if (self_p == NULL || *self_p == NULL)
        return;
    b = *self_p;
    while (b->flights != NULL) {
        s_flight_t *f = b->flights;
        b->flights = f->next;
        free(f);
    }
    free(b);
    *self_p = NULL;
}
