/*
 * Who is at the other end of the control socket, as the kernel says
 * (SO_PEERCRED), and what the configuration's [control] groups let them
 * do: reads for anyone who can open the socket; commands for root and the
 * members of submit_group (or admin_group); administration (members,
 * keys, people, roles, organisations) for root and the members of
 * admin_group. A group left unset does not restrict (the socket's file
 * mode still does).
 */
#ifndef ICS_PEERCRED_H
#define ICS_PEERCRED_H

#include <stdbool.h>
#include <stddef.h>
#include <zmq.h>

#include "common/config.h"
#include "ics/v1/command.pb-c.h"

typedef struct {
    bool known;              /* the kernel answered */
    unsigned uid, gid;
} ics_peer_t;

/* The credentials of the connection msg arrived on. */
void ics_peer_of(zmq_msg_t *msg, ics_peer_t *out);

/* Is cmd an administrator's command (membership, keys, the people
 * registry, appointments, organisations)? A person re-keying or revoking
 * themself is not. */
bool ics_peer_admin_command(const Ics__V1__Command *cmd);

/* May peer submit cmd? ICS_OK, or ICS_EPERM with why set. */
int ics_peer_may_submit(const ics_config_t *cfg, const ics_peer_t *peer,
                        const Ics__V1__Command *cmd, char *why, size_t size);

#endif
