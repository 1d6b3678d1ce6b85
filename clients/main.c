/*
 * icsctl's entry point. Everything else is in icsctl.c and the command
 * files, linked as a library so that tests can run the command line
 * parsing in process (tests/unit/test_icsctl.c).
 */
#include "ctl.h"

int main(int argc, char **argv)
{
    return ctl_main(argc, argv);
}
