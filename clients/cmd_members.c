/*
 * icsctl members and icsctl member: who is in the group, and changing that
 * (add, remove, rekey). Membership changes are for the group's
 * administrator, or as a carried motion or the scheme of delegation allows:
 * the group decides, icsctl only checks the form.
 */
#include <string.h>

#include "common/config.h"
#include "common/keys.h"

#include "ctl.h"

static int s_members(opts_t *o, const ctl_args_t *a)
{
    (void)a;
    return ctl_read(o, "members.list", 0, NULL, "members", CJ_MEMBER);
}

static const ctl_sub_t s_members_subs[] = {
    {"", s_members, CTL_READ, "", {NULL}, "members",
     "List the group's current members: organisation, kind, voter or standby,\n"
     "the log index they joined at, and who administers membership."},
};
const ctl_cmd_t ctl_cmd_members =
    CTL_CMD("members", "List the group's members", NULL, s_members_subs);

/* ORG, and key (--key) when given: the checks every member change shares. */
static bool s_org_key(opts_t *o, const ctl_args_t *a, const char *key, uint8_t pk[ICS_PK_BYTES],
                      bool *has_key)
{
    if (!ics_valid_id(a->argv[0], ICS_ORG_MAX)) {
        ctl_error(o, "'%s' is not an organisation id (ODS code)", a->argv[0]);
        return false;
    }
    *has_key = key != NULL;
    if (key != NULL && !ics_pubkey_parse(key, pk)) {
        ctl_error(o, "--key '%s' %s", key, ics_pubkey_problem(key));
        return false;
    }
    return true;
}

static int s_add(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__MemberAdd add = ICS__V1__MEMBER_ADD__INIT;
    const char *kind = ctl_opt(a, "kind"), *name = ctl_opt(a, "name");
    const char *endpoint = ctl_opt(a, "endpoint");
    uint8_t pk[ICS_PK_BYTES];
    bool has_key;

    if (!s_org_key(o, a, ctl_opt(a, "key"), pk, &has_key))
        return EXIT_USAGE;
    if (kind == NULL || name == NULL || endpoint == NULL || !has_key) {
        ctl_error(o, "member add: missing %s (it needs --kind, --name, --endpoint and --key)",
                  kind == NULL ? "--kind" : name == NULL ? "--name"
                  : endpoint == NULL ? "--endpoint" : "--key");
        return EXIT_USAGE;
    }
    if (!ics_org_kind_valid(kind)) {
        ctl_error(o, "--kind '%s' is not an organisation kind", kind);
        return EXIT_USAGE;
    }
    if (strncmp(endpoint, "tcp://", 6) != 0) {
        ctl_error(o, "--endpoint '%s': expected tcp://HOST:PORT", endpoint);
        return EXIT_USAGE;
    }
    add.org = a->argv[0];
    add.kind = (char *)kind;
    add.name = (char *)name;
    add.endpoint = (char *)endpoint;
    add.public_key.data = pk;
    add.public_key.len = sizeof pk;
    add.role = ctl_flag(a, "standby") ? ICS__V1__MEMBER_ROLE__MEMBER_ROLE_STANDBY
                                      : ICS__V1__MEMBER_ROLE__MEMBER_ROLE_VOTER;
    cmd.body_case = ICS__V1__COMMAND__BODY_MEMBER_ADD;
    cmd.member_add = &add;
    return ctl_submit(o, &cmd);
}

static int s_remove(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__MemberRemove rm = ICS__V1__MEMBER_REMOVE__INIT;
    uint8_t pk[ICS_PK_BYTES];
    bool has_key;

    if (!s_org_key(o, a, NULL, pk, &has_key))
        return EXIT_USAGE;
    rm.org = a->argv[0];
    cmd.body_case = ICS__V1__COMMAND__BODY_MEMBER_REMOVE;
    cmd.member_remove = &rm;
    return ctl_submit(o, &cmd);
}

static int s_rekey(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__KeyRotate rot = ICS__V1__KEY_ROTATE__INIT;
    uint8_t pk[ICS_PK_BYTES];
    bool has_key;

    if (!s_org_key(o, a, ctl_opt(a, "key"), pk, &has_key))
        return EXIT_USAGE;
    if (!has_key) {
        ctl_error(o, "member rekey: missing --key (the new public key)");
        return EXIT_USAGE;
    }
    rot.org = a->argv[0];
    rot.public_key.data = pk;
    rot.public_key.len = sizeof pk;
    cmd.body_case = ICS__V1__COMMAND__BODY_KEY_ROTATE;
    cmd.key_rotate = &rot;
    return ctl_submit(o, &cmd);
}

static const ctl_sub_t s_member_subs[] = {
    {"add", s_add, CTL_SUBMIT, "kind= name= endpoint= key= standby", {"ORG"},
     "member add ORG --kind KIND --name NAME --endpoint tcp://HOST:PORT --key ed25519:... "
     "[--standby]",
     "Admit a partner (a voter unless --standby) with its endpoint and public key:\n"
     "the members' nodes then accept its connections and the leader adds it to\n"
     "raft, after which it catches up."},
    {"remove", s_remove, CTL_SUBMIT, "", {"ORG"}, "member remove ORG",
     "Take a partner out of the group."},
    {"rekey", s_rekey, CTL_SUBMIT, "key=", {"ORG"}, "member rekey ORG --key ed25519:...",
     "Put a new public key in force for an organisation from the next entry:\n"
     "prepare it first with 'icsd keygen KEY_FILE.next' on that organisation's\n"
     "node, which switches to it when the entry applies."},
};
const ctl_cmd_t ctl_cmd_member =
    CTL_CMD("member", "Change the group's membership",
            "Change the group's membership. Allowed to the group's administrator, or as\n"
            "the scheme of delegation says.", s_member_subs);
