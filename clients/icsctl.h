/*
 * Shared by icsctl's command files: options, the control call, submission
 * and query helpers. Each domain's commands live in their own file
 * (cmd_<domain>.c) and are listed in the table in icsctl.c.
 */
#ifndef ICSCTL_H
#define ICSCTL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/ics.h"
#include "ics/v1/command.pb-c.h"
#include "ics/v1/control.pb-c.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

typedef struct {
    const char *config;
    const char *socket;
    const char *group;
    const char *actor;
    unsigned timeout_ms;
    bool json;
    bool help;
    bool fresh;
    const char *token_hex;
    char socket_buf[PATH_MAX];
    char actor_buf[ICS_ACTOR_MAX];
} opts_t;

/* A command's own option: --name VALUE (or a flag when flag != NULL). */
typedef struct {
    const char *name;
    const char **value;  /* set for options with a value */
    bool *flag;          /* set for flags */
} ctl_opt_t;

/* Consumes global options and the command's own (NULL-terminated table)
 * from argv, anywhere on the line; leaves positionals in argv[0..*argc).
 * Prints an error and returns EXIT_USAGE on an unknown option or a missing
 * value, else EXIT_OK. */
int ctl_parse(opts_t *o, int *argc, char **argv, const ctl_opt_t *own);

/* Sends a request; prints any error; returns the response or NULL. */
Ics__V1__ControlResponse *ctl_call(opts_t *o, Ics__V1__ControlRequest *req);

/* The submission call behind every changing command: token (--token or
 * fresh, its hex in hex), pack, call. On failure prints why (and how to
 * retry safely), sets *rc and returns NULL; otherwise returns a response
 * holding a SubmitReply, which the caller prints and frees. */
Ics__V1__ControlResponse *ctl_submit_call(opts_t *o, Ics__V1__Command *cmd, char hex[33],
                                           int *rc);

/* Signs and submits cmd through the node; prints the outcome (text or
 * JSON). Returns EXIT_OK if accepted, EXIT_FAIL if rejected or failed. */
int ctl_submit(opts_t *o, Ics__V1__Command *cmd);

/* Runs a named query and prints its JSON or text answer. */
int ctl_query(opts_t *o, const char *name, int argc, char **argv);

/* Parsing helpers that print what was wrong. */
bool ctl_u64(const char *what, const char *s, uint64_t *out);
/* "2026-12-01T09:00:00Z", "2026-12-01", "+3d", "+4h", "+30m", "now" -> ms */
bool ctl_time(const char *what, const char *s, uint64_t *out_ms);
void ctl_fmt_time(uint64_t ms, char *out, size_t size);

/* Plans, amendments, consultations, motions, votes, the scheme, people
 * (cmd_plans.c). */
int cmd_plan(opts_t *o, int argc, char **argv);
int cmd_amend(opts_t *o, int argc, char **argv);
int cmd_consult(opts_t *o, int argc, char **argv);
int cmd_motion(opts_t *o, int argc, char **argv);
int cmd_vote(opts_t *o, int argc, char **argv);
int cmd_policy(opts_t *o, int argc, char **argv);
int cmd_people(opts_t *o, int argc, char **argv);

/* Mutual aid and OPEL (cmd_aid.c). */
int cmd_aid(opts_t *o, int argc, char **argv);
int cmd_opel(opts_t *o, int argc, char **argv);

#endif
