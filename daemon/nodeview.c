/*
 * The services' reads of the node (nodeview.h).
 */
#include "nodeview.h"
#include "nodeview_impl.h"

#include <assert.h>
#include <string.h>

const ics_config_t *ics_node_config(const ics_node_t *self) { return self->cfg; }
ics_transport_t *ics_node_transport(ics_node_t *self) { return self->transport; }
struct ics_verifier *ics_node_verifier(ics_node_t *self) { return self->verifier; }
size_t ics_node_n_groups(const ics_node_t *self) { return self->n_groups; }

const uint8_t *ics_node_public_key(const ics_node_t *self)
{
    return ics_identity_public(self->id);
}

ics_group_t *ics_node_group_at(ics_node_t *self, size_t i)
{
    assert(i < self->n_groups);
    return self->groups[i];
}

ics_node_stats_t ics_node_stats(const ics_node_t *self)
{
    return (ics_node_stats_t){
        .uptime_ms = ics_mono_ms() - self->started_ms,
        .bad_frames = self->drops.bad_frames,
        .unknown_group = self->drops.unknown_group,
        .not_member = self->drops.not_member,
    };
}

ics_group_t *ics_node_group(ics_node_t *self, const char *name)
{
    if ((name == NULL || name[0] == '\0') && self->n_groups == 1)
        return self->groups[0];
    for (size_t i = 0; i < self->n_groups; i++)
        if (name != NULL && strcmp(ics_group_name(self->groups[i]), name) == 0)
            return self->groups[i];
    return NULL;
}
