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

#include "node.h"

/* Once per loop turn. Cheap when nothing changed: it looks at the groups'
 * state machines only when one of their positions has moved. */
void ics_bridge_run(ics_node_t *node);

/* Frees the bridge's state. Call after the groups are destroyed (their
 * pending submissions report back to it). Accepts a node without one. */
void ics_bridge_destroy(ics_node_t *node);

#endif
