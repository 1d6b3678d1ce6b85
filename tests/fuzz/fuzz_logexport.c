/*
 * Fuzz: the offline verifier of an exported audit log (ics_log_verify),
 * what icsctl runs on a file someone hands it: header, entry lines, chain,
 * clock and signatures.
 */
#define _GNU_SOURCE
#include "fuzz_kit.h"
#include "common/logverify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile uint64_t s_sink;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fk_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ics_log_verify_report_t rep;
    ics_err_t err;
    /* A copy: fmemopen wants a writable buffer, and one of exactly size
     * bytes lets ASan see any read past the input. */
    char *buf = malloc(size > 0 ? size : 1);
    FILE *f;

    if (buf == NULL)
        return 0;
    buf[0] = '\0';
    memcpy(buf, data, size);
    f = fmemopen(buf, size > 0 ? size : 1, "r");
    if (f == NULL) {
        free(buf);
        return 0;
    }
    if (size == 0)
        fgetc(f); /* an empty file: nothing to read */
    int rc = ics_log_verify(f, &rep, &err);
    s_sink += (uint64_t)rc + rep.entries + rep.bad_position;
    fclose(f);
    free(buf);
    return 0;
}
