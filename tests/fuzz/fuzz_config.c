/*
 * Fuzz: the node's configuration file (ics_config_load). The input is
 * written to a memory file and loaded by its /proc/self/fd path, as a
 * regular file would be; a configuration that loads is then looked up the
 * way the daemon does.
 */
#define _GNU_SOURCE
#include "fuzz_kit.h"
#include "common/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static ics_config_t s_cfg;
static volatile uint64_t s_sink;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fk_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    ics_err_t err;

    if (fd < 0) {
        fd = memfd_create("icsd.conf", 0);
        if (fd < 0)
            abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
        abort();
    if (ics_config_load(path, &s_cfg, &err) != ICS_OK) {
        s_sink += strlen(err.msg);
        return 0;
    }
    if (ics_config_org(&s_cfg, s_cfg.org) == NULL)
        abort(); /* a loaded configuration has an [org] for its own node */
    for (size_t i = 0; i < s_cfg.n_groups; i++) {
        const ics_group_cfg_t *g = &s_cfg.groups[i];
        if (ics_config_group(&s_cfg, g->name) != g)
            abort();
        for (size_t j = 0; j < g->n_members; j++)
            s_sink += ics_config_org(&s_cfg, g->members[j]) != NULL;
        s_sink += ics_group_has(g, s_cfg.org);
    }
    return 0;
}
