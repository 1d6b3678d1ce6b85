/*
 * Control socket credentials (peercred.h). ZeroMQ hides the connection,
 * but a message can name the file descriptor it came in on (ZMQ_SRCFD),
 * and the kernel tells who holds the other end of a Unix socket. Group
 * membership is the user's, from the group database (primary and
 * supplementary groups), as login would give them.
 */
#define _GNU_SOURCE /* struct ucred, getgrouplist */
#include "peercred.h"

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ics/v1/plans.pb-c.h"

void ics_peer_of(zmq_msg_t *msg, ics_peer_t *out)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    int fd = zmq_msg_get(msg, ZMQ_SRCFD);

    memset(out, 0, sizeof *out);
    if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
        len == sizeof cred) {
        out->known = true;
        out->uid = (unsigned)cred.uid;
        out->gid = (unsigned)cred.gid;
    }
}

/* Is the user uid (whose process runs with gid) in group gid? */
static bool s_in_group(const ics_peer_t *peer, unsigned gid)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    gid_t groups[256];
    int n = 256;

    if (peer->gid == gid)
        return true;
    if (getpwuid_r((uid_t)peer->uid, &pw, buf, sizeof buf, &res) != 0 || res == NULL)
        return false;
    if (pw.pw_gid == gid)
        return true;
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
        return false;
    for (int i = 0; i < n; i++)
        if ((unsigned)groups[i] == gid)
            return true;
    return false;
}

bool ics_peer_admin_command(const Ics__V1__Command *cmd)
{
    switch (cmd->body_case) {
    case ICS__V1__COMMAND__BODY_MEMBER_ADD:
    case ICS__V1__COMMAND__BODY_MEMBER_REMOVE:
    case ICS__V1__COMMAND__BODY_KEY_ROTATE:
    case ICS__V1__COMMAND__BODY_ROLE_ASSIGN:
    case ICS__V1__COMMAND__BODY_ORG_REGISTER:
        return true;
    case ICS__V1__COMMAND__BODY_PERSON_REGISTER:
        return cmd->actor == NULL || cmd->person_register->person == NULL ||
               strcmp(cmd->actor, cmd->person_register->person) != 0;
    default:
        return false;
    }
}

int ics_peer_may_submit(const ics_config_t *cfg, const ics_peer_t *peer,
                        const Ics__V1__Command *cmd, char *why, size_t size)
{
    bool admin = ics_peer_admin_command(cmd);

    if (cfg->submit_group[0] == '\0' && cfg->admin_group[0] == '\0')
        return ICS_OK;
    if (!peer->known) {
        snprintf(why, size, "the node cannot tell who you are (no peer credentials)");
        return ICS_EPERM;
    }
    if (peer->uid == 0)
        return ICS_OK;
    if (cfg->admin_group[0] != '\0' && s_in_group(peer, cfg->admin_gid))
        return ICS_OK;
    if (admin && cfg->admin_group[0] != '\0') {
        snprintf(why, size, "administering the node's organisation (members, keys, people, "
                 "roles, organisations) needs membership of the Unix group %s; uid %u is not "
                 "in it", cfg->admin_group, peer->uid);
        return ICS_EPERM;
    }
    if (cfg->submit_group[0] == '\0' || s_in_group(peer, cfg->submit_gid))
        return ICS_OK;
    snprintf(why, size, "submitting needs membership of the Unix group %s; uid %u is not in it",
             cfg->submit_group, peer->uid);
    return ICS_EPERM;
}
