/*
 * icsctl people: who acts for the members (the people registry of
 * docs/policy.md): people, their roles, declared interests, and the
 * organisations without a node that can be consulted.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/keys.h"

#include "ctl.h"

/* Does the answer list nothing at all? */
static bool s_empty(const char *json)
{
    static const char *const lists[] = {"people", "interests", "organisations"};
    cj_t doc, v;
    size_t pos;

    if (!cj_parse(json, strlen(json), &doc))
        return false;
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        cj_t item;
        pos = 0;
        if (!cj_get(doc, lists[i], &v) || cj_element(v, &pos, &item))
            return false;
    }
    return true;
}

static int s_list(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__ControlResponse *resp = ctl_query_call(o, "people.list", a->argc, a->argv);
    int rc = EXIT_FAIL;

    if (resp == NULL)
        return EXIT_FAIL;
    /* For an organisation the group does not know the node answers an empty
     * list, as for one with nobody registered yet: tell them apart. */
    if (a->argc == 1 && s_empty(resp->query->json)) {
        int known = ctl_org_known(o, a->argv[0]);
        if (known == 0)
            ctl_error(o, "people list: the group knows no organisation '%s' (icsctl members "
                         "lists the members)", a->argv[0]);
        if (known != 1)
            goto out;
    }
    rc = ctl_print_answer(o, resp->query, "directory", CJ_WRAP, NULL);
out:
    ics__v1__control_response__free_unpacked(resp, NULL);
    return rc;
}

static int s_register(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__PersonRegister r = ICS__V1__PERSON_REGISTER__INIT;
    const char *name = ctl_opt(a, "name"), *title = ctl_opt(a, "title");
    const char *key = ctl_opt(a, "key");
    uint8_t pk[ICS_PK_BYTES];

    if (name == NULL) {
        ctl_error(o, "people register: missing --name \"Full Name\"");
        return EXIT_USAGE;
    }
    if (key == NULL) {
        ctl_error(o, "people register: missing --key ed25519:... (the person creates it with "
                     "icsctl keys person-gen %s)", a->argv[0]);
        return EXIT_USAGE;
    }
    if (!ics_pubkey_parse(key, pk)) {
        const char *why = ics_pubkey_problem(key);
        ctl_error(o, "people register: --key %s", why != NULL ? why : "is not a public key");
        return EXIT_USAGE;
    }
    r.person = a->argv[0];
    r.name = (char *)(name ? name : "");
    r.title = (char *)(title ? title : "");
    r.public_key.data = pk;
    r.public_key.len = sizeof pk;
    r.admin = ctl_flag(a, "admin");
    cmd.body_case = ICS__V1__COMMAND__BODY_PERSON_REGISTER;
    cmd.person_register = &r;
    return ctl_submit_made(o, &cmd, CTL_MADE_NOTHING);
}

static int s_remove(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__PersonRegister r = ICS__V1__PERSON_REGISTER__INIT;

    r.person = a->argv[0];
    r.remove = true;
    cmd.body_case = ICS__V1__COMMAND__BODY_PERSON_REGISTER;
    cmd.person_register = &r;
    return ctl_submit_made(o, &cmd, CTL_MADE_NOTHING);
}

/* A new key for the person acting, signed with the old one: made next to
 * the old key, registered, and put in its place once accepted. A sealed
 * key's successor is sealed too (never silently left open). */
static int s_rotate(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__PersonRegister r = ICS__V1__PERSON_REGISTER__INIT;
    const char *person = ctl_actor(o);
    char path[PATH_MAX], fresh[PATH_MAX + 8], pub[ICS_PUBKEY_TEXT_MAX];
    ics_identity_t *id = NULL;
    bool sealed;
    int rc;

    if (!ctl_person_key_path(o, person, path, sizeof path))
        return EXIT_FAIL;
    sealed = ctl_flag(a, "passphrase") || ctl_person_key_sealed(path);
    snprintf(fresh, sizeof fresh, "%s.new", path);
    unlink(fresh); /* a rotation that failed before left it; never the key itself */
    rc = ctl_person_generate_at(o, fresh, sealed, pub, &id);
    if (rc != EXIT_OK) {
        unlink(fresh);
        return rc;
    }
    r.person = (char *)person;
    r.name = (char *)"";
    r.title = (char *)"";
    r.public_key.data = (uint8_t *)ics_identity_public(id);
    r.public_key.len = ICS_PK_BYTES;
    cmd.body_case = ICS__V1__COMMAND__BODY_PERSON_REGISTER;
    cmd.person_register = &r;
    rc = ctl_submit_made(o, &cmd, CTL_MADE_NOTHING);
    ics_identity_destroy(&id);
    if (rc != EXIT_OK) {
        unlink(fresh);
        return rc;
    }
    if (rename(fresh, path) != 0) {
        ctl_error(o, "the new key is registered but could not replace %s: move %s there",
                  path, fresh);
        return EXIT_FAIL;
    }
    if (!o->json)
        printf("%s\n", pub);
    return EXIT_OK;
}

static int s_role(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__RoleAssign r = ICS__V1__ROLE_ASSIGN__INIT;
    const char *scope = ctl_opt(a, "scope");
    char *slash = strchr(a->argv[0], '/');

    if (slash == NULL || slash == a->argv[0] || slash[1] == '\0') {
        ctl_error(o, "people role ORG/PERSON ROLE: e.g. people role RTD/dr.amina.khan "
                     "partner_trust");
        return EXIT_USAGE;
    }
    *slash = '\0';
    r.org = a->argv[0];
    r.person = slash + 1;
    r.role = a->argv[1];
    r.scope = (char *)(scope ? scope : "");
    r.revoke = ctl_flag(a, "revoke");
    cmd.body_case = ICS__V1__COMMAND__BODY_ROLE_ASSIGN;
    cmd.role_assign = &r;
    return ctl_submit_made(o, &cmd, CTL_MADE_NOTHING);
}

static int s_interest(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__InterestDeclare d = ICS__V1__INTEREST_DECLARE__INIT;
    const char *description = ctl_opt(a, "description");
    bool withdraw = ctl_flag(a, "withdraw");

    if (description == NULL && !withdraw) {
        ctl_error(o, "people interest: missing --description TEXT (or --withdraw)");
        return EXIT_USAGE;
    }
    d.subject = a->argv[0];
    d.description = (char *)(description ? description : "");
    d.organisation = ctl_flag(a, "organisation");
    d.withdraw = withdraw;
    cmd.body_case = ICS__V1__COMMAND__BODY_INTEREST_DECLARE;
    cmd.interest_declare = &d;
    return ctl_submit_made(o, &cmd, CTL_MADE_NOTHING);
}

static int s_org(opts_t *o, const ctl_args_t *a, bool remove)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__OrgRegister r = ICS__V1__ORG_REGISTER__INIT;
    const char *kind = remove ? NULL : ctl_opt(a, "kind");
    const char *name = remove ? NULL : ctl_opt(a, "name");
    const char *parent = remove ? NULL : ctl_opt(a, "parent");

    if (!remove && (kind == NULL || name == NULL)) {
        ctl_error(o, "people org add: missing %s (it needs --kind: hwb, icp, nhse, "
                     "healthwatch ..., and --name)", kind == NULL ? "--kind" : "--name");
        return EXIT_USAGE;
    }
    r.org = a->argv[0];
    r.remove = remove;
    r.kind = (char *)(kind ? kind : "");
    r.name = (char *)(name ? name : "");
    r.parent = (char *)(parent ? parent : "");
    cmd.body_case = ICS__V1__COMMAND__BODY_ORG_REGISTER;
    cmd.org_register = &r;
    return ctl_submit_made(o, &cmd, CTL_MADE_NOTHING);
}

static int s_org_add(opts_t *o, const ctl_args_t *a) { return s_org(o, a, false); }
static int s_org_remove(opts_t *o, const ctl_args_t *a) { return s_org(o, a, true); }

static const ctl_sub_t s_subs[] = {
    {"register", s_register, CTL_SUBMIT, "name= title= key= admin", {"PERSON"},
     "people register PERSON --name N --key ed25519:... [--title T] [--admin]",
     "Register a person of your organisation with the public key they sign with\n"
     "(icsctl keys person-gen PERSON prints it), or re-register them (new key,\n"
     "name, title or rights). --admin lets them register, re-key and revoke your\n"
     "people. Signed by an administrator person of your organisation; while it\n"
     "has none, your organisation registers its first administrator alone."},
    {"revoke", s_remove, CTL_SUBMIT, "", {"PERSON"}, "people revoke PERSON",
     "Revoke a person of your organisation: their key signs nothing more and\n"
     "their roles end (an administrator, or the person themself)."},
    {"remove", s_remove, CTL_SUBMIT, "", {"PERSON"}, "people remove PERSON",
     "The same as people revoke."},
    {"rotate", s_rotate, CTL_SUBMIT, "passphrase", {NULL},
     "people rotate [--as PERSON] [--passphrase]",
     "Replace your key: a new one is made, registered with a command signed by\n"
     "the old one, and put in the old one's place; prints the new public key.\n"
     "The new key is sealed with a passphrase when the old one is (keys\n"
     "person-gen --passphrase) or with --passphrase: icsctl asks for the new\n"
     "key's passphrase twice, then the old key's to sign (or takes both from\n"
     "$ICSD_PASSPHRASE)."},
    {"role", s_role, CTL_SUBMIT, "scope= revoke", {"ORG/PERSON", "ROLE"},
     "people role ORG/PERSON ROLE [--scope ORG] [--revoke]",
     "Appoint a person to a role of the scheme, or with --revoke end it (some\n"
     "roles are appointed by the ICB, others by the person's own organisation);\n"
     "--scope names what a role acts for, e.g. an HWB chair's board."},
    {"interest", s_interest, CTL_SUBMIT, "description= organisation withdraw", {"SUBJECT"},
     "people interest SUBJECT --description D [--organisation] [--withdraw]",
     "Declare the acting person's interest in a subject (plan:ID, org:ORG,\n"
     "tag:...), or with --organisation one of the whole organisation;\n"
     "--withdraw withdraws it."},
    {"org add", s_org_add, CTL_SUBMIT, "kind= name= parent=", {"ID"},
     "people org add ID --kind K --name N [--parent ORG]",
     "Register an organisation without a node (an HWB, the ICP, NHS England,\n"
     "Healthwatch) so that it can be consulted."},
    {"org remove", s_org_remove, CTL_SUBMIT, "", {"ID"}, "people org remove ID",
     "Remove an organisation registered without a node."},
    {"list", s_list, CTL_READ, "", {"[ORG]"}, "people list [ORG]",
     "The people, their roles, declared interests and organisations without a\n"
     "node: of every organisation, or of ORG (an organisation the group does not\n"
     "know is an error). Each person's key id (as log show prints it), whether\n"
     "they are an administrator, and their key's history: registered, rotated\n"
     "and revoked, with the index of each and who did it."},
};

const ctl_cmd_t ctl_cmd_people = CTL_CMD("people", "Who acts for the members",
                                         "Who acts for the members.", s_subs);
