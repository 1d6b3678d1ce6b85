/*
 * The mutual-aid bridge: for each group whose configuration says
 * `escalate_to = REGION`, this node (a member of both) carries escalated
 * requests into the regional group and the regional group's offers,
 * acceptance and hand-back back home. See docs/opel-and-aid.md,
 * "Escalation", and ics_fsm_aid_bridge() in fsm/fsm.h for what it submits.
 *
 * Node-level orchestration only: both groups' state machines decide
 * everything deterministically; the bridge reads them and submits signed
 * commands, each with a client token derived from what it is for, so that
 * a restart or a second bridging node never has it applied twice.
 */
#ifndef ICS_BRIDGE_H
#define ICS_BRIDGE_H

struct ics_node;
typedef struct ics_bridge ics_bridge_t;

/* The bridge of node, which it reads through nodeview.h. NULL when out of
 * memory. */
ics_bridge_t *ics_bridge_new(struct ics_node *node);
/* Once per loop turn. Cheap when nothing changed: it looks at the groups'
 * state machines only when one of their positions has moved. */
void ics_bridge_run(ics_bridge_t *self);

/* Frees the bridge's state. Call after the groups are destroyed (their
 * pending submissions report back to it). Accepts NULL. */
void ics_bridge_destroy(ics_bridge_t **self_p);

#endif
