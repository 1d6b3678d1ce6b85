/*
 * Fuzz: the policy file, the scheme of reservation and delegation an
 * operator writes (ics_policy_parse). A policy that parses is packed,
 * unpacked and checked again, as the genesis carries it to every node's
 * state machine, which must reach the same verdict.
 */
#include "fuzz_kit.h"
#include "common/policyfile.h"
#include "common/envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fk_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Ics__V1__Policy *p = NULL, *q = NULL;
    char *text = malloc(size + 1);
    uint8_t *buf = NULL;
    size_t len = 0;
    char why[256];
    ics_err_t err;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (ics_policy_parse(text, "policy.ini", &p, &err) != ICS_OK)
        goto out;
    if (!ics_policy_valid(p, why, sizeof why)) {
        fprintf(stderr, "parsed policy is not valid: %s\n", why);
        abort();
    }
    if (ics_pack(&p->base, &buf, &len) != ICS_OK)
        goto out;
    q = ics__v1__policy__unpack(NULL, len, buf);
    if (q == NULL || !ics_policy_valid(q, why, sizeof why)) {
        fprintf(stderr, "policy does not survive the wire: %s\n", q == NULL ? "undecodable" : why);
        abort();
    }
out:
    if (q != NULL)
        ics__v1__policy__free_unpacked(q, NULL);
    if (p != NULL)
        ics__v1__policy__free_unpacked(p, NULL);
    free(buf);
    free(text);
    return 0;
}
