/*
 * Shared by icsctl's command files: the command tables, the options, the
 * control call, submission, reads, errors and safe output.
 *
 * Each command family lives in its own file (cmd_<family>.c) and exports
 * one ctl_cmd_t: a table of subcommands, each naming its handler, the
 * positional arguments and the options it takes, and the text --help
 * shows. icsctl.c parses the command line against that table before any
 * handler runs, so a handler sees only what its subcommand takes.
 */
#ifndef ICS_CTL_H
#define ICS_CTL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/ics.h"
#include "common/json.h"
#include "common/keys.h"
#include "ics/v1/command.pb-c.h"
#include "ics/v1/control.pb-c.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* The general options (icsctl --help), as bits: which were given, and
 * which a subcommand takes. */
enum {
    CTL_G_CONFIG = 1u << 0,  /* -c, --config */
    CTL_G_SOCKET = 1u << 1,  /* -s, --socket */
    CTL_G_GROUP = 1u << 2,   /* -g, --group */
    CTL_G_TIMEOUT = 1u << 3, /* -t, --timeout */
    CTL_G_AS = 1u << 4,      /* --as */
    CTL_G_TOKEN = 1u << 5,   /* --token */
    CTL_G_JSON = 1u << 6,    /* --json */
    CTL_G_FRESH = 1u << 7,   /* --fresh */
    CTL_G_BEHALF = 1u << 8,  /* --on-behalf-of */
};
#define CTL_G_NODE (CTL_G_CONFIG | CTL_G_SOCKET | CTL_G_GROUP | CTL_G_TIMEOUT)

/* What kind of command a subcommand is decides the general options it
 * takes: an option that would do nothing is refused. */
#define CTL_READ (CTL_G_NODE | CTL_G_JSON | CTL_G_FRESH)  /* a query of the group's state */
#define CTL_STATE (CTL_G_NODE | CTL_G_JSON)  /* the node's own view: status, the log */
#define CTL_SUBMIT (CTL_G_NODE | CTL_G_JSON | CTL_G_AS | CTL_G_TOKEN | CTL_G_BEHALF) /* a signed entry */
#define CTL_EXPORT (CTL_G_NODE)              /* writes a file in its own format */
#define CTL_OFFLINE (CTL_G_JSON)             /* works without a node */
#define CTL_NONE 0u

typedef struct {
    const char *config;
    const char *socket;
    const char *group;
    const char *actor;
    const char *on_behalf;   /* --on-behalf-of: the person an administrator acts for */
    unsigned timeout_ms;
    bool json;
    bool help;
    bool fresh;
    unsigned given;          /* CTL_G_* bits of the general options given */
    const char *token_hex;
    char *err;               /* under --json: the error messages so far (malloc'd) */
    char socket_buf[PATH_MAX];
    char actor_buf[ICS_ACTOR_MAX];
} opts_t;

/* ---- the tables ----------------------------------------------------------- */

#define CTL_ARGS_MAX 4
#define CTL_OPTS_MAX 24

typedef struct ctl_args ctl_args_t;

typedef struct {
    /* "list", or two words for a nested one ("propose adopt", "org add");
     * "" for a command without subcommands (status, vote). */
    const char *name;
    int (*fn)(opts_t *o, const ctl_args_t *a);
    unsigned uses;           /* CTL_READ, CTL_SUBMIT ...: the general options it takes */
    /* Its own options, blank-separated: "version= out= open". A name
     * ending in '=' takes a value; "note|reason=" gives two names of one
     * option (the first is the one handlers ask for). */
    const char *options;
    /* Positional arguments in order: "PLAN"; "[ORG]" is optional;
     * "[NAME=VALUE...]" takes any number; "CHOICE: for, against or
     * abstain" says what a missing one should be. */
    const char *args[CTL_ARGS_MAX];
    const char *usage;       /* the synopsis after "icsctl [OPTIONS] " */
    const char *description; /* for --help */
} ctl_sub_t;

typedef struct {
    const char *name;        /* "plan" */
    const char *summary;     /* one line, for icsctl --help */
    const char *description; /* for icsctl COMMAND --help */
    const ctl_sub_t *subs;
    size_t n_subs;
} ctl_cmd_t;

#define CTL_CMD(name_, summary_, description_, subs_)                                    \
    {name_, summary_, description_, subs_, sizeof subs_ / sizeof subs_[0]}

/* A parsed command line, checked against its subcommand's entry. */
struct ctl_args {
    const ctl_cmd_t *cmd;
    const ctl_sub_t *sub;
    char label[64];          /* "plan show", for messages */
    int argc;                /* positional arguments after the subcommand's words */
    char **argv;
    size_t n_opts;
    struct {
        char name[32];       /* the option's first name in the table */
        const char *value;   /* NULL for a flag */
    } opts[CTL_OPTS_MAX];
};

/* The value of the subcommand's option name (its first name in the
 * table), or NULL if not given. Asking for an option the subcommand does
 * not list is a programming error. */
/* Finds name in an options string ("note|reason= decline"): its first
 * name (into first, when not NULL) and whether it takes a value. */
bool ctl_opt_spec(const char *spec, const char *name, char *first, size_t size, bool *value);
const char *ctl_opt(const ctl_args_t *a, const char *name);
bool ctl_flag(const ctl_args_t *a, const char *name);

/* The command families, in the order icsctl --help lists them. */
extern const ctl_cmd_t ctl_cmd_status, ctl_cmd_submit, ctl_cmd_log, ctl_cmd_members,
    ctl_cmd_member, ctl_cmd_keys, ctl_cmd_plan, ctl_cmd_amend, ctl_cmd_consult,
    ctl_cmd_motion, ctl_cmd_vote, ctl_cmd_policy, ctl_cmd_people, ctl_cmd_opel, ctl_cmd_aid,
    ctl_cmd_watch, ctl_cmd_inbox, ctl_cmd_publish, ctl_cmd_help;
const ctl_cmd_t *const *ctl_commands(size_t *n);

/* icsctl itself: parses argv, runs the command, returns the exit status. */
int ctl_main(int argc, char **argv);

/* Usage and help (icsctl.c). */
void ctl_usage(FILE *f);
int ctl_help(const char *const *words, int n);

/* ---- errors and output (ctl.c) -------------------------------------------- */

/* An error for the person or script running icsctl: printed to stderr as
 * "icsctl: MESSAGE", or under --json kept for the {"error": ...} object
 * ctl_main prints when the command fails. */
void ctl_error(opts_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A remark that is not an error ("wrote 812 bytes to FILE"): stderr. */
void ctl_note(opts_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints {"error": {"code": code, "message": ...}} for the errors kept. */
void ctl_error_json(opts_t *o, int code);

/* Text for a terminal: control characters (C0 but newline and tab when
 * lines is set, DEL, C1) are written as \xHH (C1 as \u0080..\u009f), bytes
 * that are not UTF-8 as \xHH; other text as is. */
void ctl_put_safe(FILE *f, const char *s, size_t len, bool lines);
/* A field in a line: like ctl_put_safe without lines, padded with blanks
 * to width characters (left-aligned). */
void ctl_put_field(FILE *f, const char *s, int width);
/* Prints a text answer safely, ending in a newline. */
void ctl_put_text(const char *s);

/* ---- JSON (ctl_json.c) ------------------------------------------------------ */

/* A JSON value's text inside a larger document. */
typedef struct {
    const char *p;
    size_t n;
} cj_t;

/* The value the whole of s (len bytes) is, without surrounding blanks;
 * false if s is not one JSON value. */
bool cj_parse(const char *s, size_t len, cj_t *out);
/* Members of an object and elements of an array, in order: *pos starts
 * at 0. */
bool cj_member(cj_t obj, size_t *pos, cj_t *key, cj_t *value);
bool cj_element(cj_t arr, size_t *pos, cj_t *value);
bool cj_get(cj_t obj, const char *name, cj_t *value);
bool cj_is_object(cj_t v);
bool cj_is_array(cj_t v);
bool cj_key_is(cj_t key, const char *name);
bool cj_u64(cj_t v, uint64_t *out);
/* A string's value, unescaped, into buf; false if not a string or cut. */
bool cj_str(cj_t v, char *buf, size_t size);
bool cj_str_is(cj_t v, const char *s);
/* Copies v to f with every string's control characters (C0, DEL, C1)
 * JSON-escaped and bytes that are not UTF-8 written as U+FFFD. */
void cj_write(FILE *f, cj_t v);
/* A JSON string for s, escaped as cj_write does. */
void cj_write_str(FILE *f, const char *s);

/* A JSON document for stdout: written with common/json.h into memory,
 * then printed whole through cj_write (nothing half-printed, every string
 * escaped for display), with a newline. */
typedef struct {
    char *buf;
    size_t len;
    FILE *m;
    json_t j;
} ctl_jdoc_t;
/* Starts one; NULL when out of memory (then nothing is printed). */
json_t *ctl_jdoc_begin(ctl_jdoc_t *d);
/* Prints it (unless what was written is not one JSON value) and frees it. */
void ctl_jdoc_print(ctl_jdoc_t *d);
/* The length of the UTF-8 sequence at s (at most n bytes) and its code
 * point; 0 if the bytes there are not UTF-8. */
size_t ctl_utf8_len(const unsigned char *s, size_t n, uint32_t *cp);

/* How a node's answer is put in the one-named-key form of docs/cli-json.md. */
enum {
    CJ_MEMBER = 1, /* the answer already holds the item under the key */
    CJ_WRAP = 2,   /* the answer's members (but the context) are the item */
    CJ_ARRAY = 3,  /* the answer is the list */
    CJ_CLOCK = 8,  /* with CJ_WRAP: the answer's clock_ms is the log clock it was
                      read at (context), not a time of the item's */
};
/* Writes {"group":..,["clock_ms":..,]"KEY": ITEM} for answer json (with
 * CJ_WRAP, the members of the object member lift are spliced into the
 * item). False if json is not of the expected shape. */
bool cj_reshape(FILE *f, const char *json, const char *key, int shape, const char *lift);

/* ---- talking to the node (ctl.c) ------------------------------------------- */

/* Sends a request; reports any error; returns the response or NULL. */
Ics__V1__ControlResponse *ctl_call(opts_t *o, Ics__V1__ControlRequest *req);

/* The person acting: --as, else the user running icsctl (SUDO_USER under
 * sudo). Valid as long as o. */
const char *ctl_actor(opts_t *o);

/* Is code (of ctl_call_quiet) a failure that may pass: the node stopping
 * or restarting, a timeout, no leader? A long poll (watch, log tail
 * --follow) then asks again from the same place. */
bool ctl_transient(int code);

/* Like ctl_call, but reports nothing: on failure NULL, with *code the
 * ICS_E* code (the node's, or the call's) and msg what went wrong. For
 * loops that ask again (watch, log tail --follow). */
Ics__V1__ControlResponse *ctl_call_quiet(opts_t *o, Ics__V1__ControlRequest *req,
                                         unsigned call_timeout_ms, int *code, char *msg,
                                         size_t size);

/* A named query: the response (holding a QueryReply; caller frees) or
 * NULL, the error reported. */
Ics__V1__ControlResponse *ctl_query_call(opts_t *o, const char *name, int argc, char **argv);

/* Prints a query's answer: its text safely, or under --json its JSON in
 * the form of docs/cli-json.md (key and shape as for cj_reshape). */
int ctl_print_answer(opts_t *o, const Ics__V1__QueryReply *q, const char *key, int shape,
                     const char *lift);

/* A read: ctl_query_call then ctl_print_answer. */
int ctl_read(opts_t *o, const char *name, int argc, char **argv, const char *key, int shape);

/* The submission call behind every changing command: token (--token or
 * fresh, its hex in hex), pack, call. On failure reports why (and how to
 * retry safely), sets *rc and returns NULL; otherwise returns a response
 * holding a SubmitReply, which the caller prints and frees. */
Ics__V1__ControlResponse *ctl_submit_call(opts_t *o, Ics__V1__Command *cmd, char hex[33],
                                           int *rc);

/* Prints a submission's outcome under --json: index, the id_key member
 * (the index again, naming what the entry made) when accepted and id_key
 * is not NULL, entry id, org, seq, accepted, reason, token, and extra
 * ("name":"value" pairs, NULL-terminated) when accepted. */
void ctl_result_json(const Ics__V1__SubmitReply *r, const char *hex, const char *id_key,
                     const char *const *extra);

/* Prints "rejected at index N: REASON (entry ...)" safely. */
void ctl_print_rejected(const Ics__V1__SubmitReply *r);

/* Signs and submits cmd through the node; prints the outcome (text or
 * JSON). Returns EXIT_OK if accepted, EXIT_FAIL if rejected or failed. */
int ctl_submit(opts_t *o, Ics__V1__Command *cmd);

/* What a governance submission made, said after it is accepted. */
enum { CTL_MADE_NOTHING, CTL_MADE_AMENDMENT, CTL_MADE_MOTION };
/* Like ctl_submit, then says what was made: the amendment's number, or
 * the motion's and what it decided so far. */
int ctl_submit_made(opts_t *o, Ics__V1__Command *cmd, int made);

/* The answer of a query as text (or JSON), NULL on failure (reported).
 * Caller frees. */
char *ctl_query_text(opts_t *o, const char *name, int argc, char **argv, bool json);
/* Prints, indented and safely, the lines of text that start with one of
 * the prefixes. */
void ctl_print_lines(const char *text, const char *const *prefixes);

/* Is org a member of the group or an organisation registered without a
 * node? Asks the node (members.list, people.list); -1 if it could not. */
int ctl_org_known(opts_t *o, const char *org);

/* ---- a person's own key (ctl_person.c) ------------------------------------- */
/* Where a person's keys are: $ICSD_PERSON_DIR, else $XDG_CONFIG_HOME/icsd,
 * else ~/.config/icsd. */
bool ctl_person_dir(opts_t *o, char *out, size_t size);
/* The key file of person there: DIR/person-PERSON.key. */
bool ctl_person_key_path(opts_t *o, const char *person, char *out, size_t size);
/* Creates person's key (mode 0600 in a 0700 directory, never
 * overwritten), sealed with a passphrase when sealed; pub gets its public
 * key, path the file. EXIT_*. */
int ctl_person_generate(opts_t *o, const char *person, bool sealed,
                        char pub[ICS_PUBKEY_TEXT_MAX], char *path, size_t size);
/* The same at path (its directory exists); *id, if id is not NULL, gets
 * the new key's identity (the caller destroys it). EXIT_*. */
int ctl_person_generate_at(opts_t *o, const char *path, bool sealed, char pub[ICS_PUBKEY_TEXT_MAX],
                           ics_identity_t **id);
/* Is the key file at path sealed with a passphrase? */
bool ctl_person_key_sealed(const char *path);
/* The command's bytes as submitted: signed as the acting person
 * (ctl_actor) with their key when icsctl holds it; without --as and
 * without a key, the organisation's own command (no person named). With
 * --as and no key: an error. *out is malloc'd. EXIT_*. */
int ctl_person_sign(opts_t *o, Ics__V1__Command *cmd, uint8_t **out, size_t *out_len);

/* ---- the log as it grows (cmd_log.c, cmd_watch.c) -------------------------------- */

/* A request on the node's audit log (show, tail, export ...): the
 * response holding a LogReply (caller frees) or NULL, the error reported. */
Ics__V1__ControlResponse *ctl_log_request(opts_t *o, Ics__V1__LogRequest *lr);

/* Sleeps ms milliseconds (between retries of a long poll). */
void ctl_sleep_ms(unsigned ms);

/* ---- parsing helpers (ctl.c): they report what was wrong ------------------ */

bool ctl_u64(opts_t *o, const char *what, const char *s, uint64_t *out);
bool ctl_u32(opts_t *o, const char *what, const char *s, uint32_t *out);
/* "2026-12-01T09:00:00Z", "2026-12-01", "now", "+3d", "+4h", "+30m",
 * "+45s" -> ms */
bool ctl_time(opts_t *o, const char *what, const char *s, uint64_t *out_ms);
void ctl_fmt_time(uint64_t ms, char *out, size_t size);
/* Splits a comma- or blank-separated list in place into at most max
 * items. */
size_t ctl_split(char *s, char **items, size_t max);
/* Reads FILE (or stdin for "-") as text: at most 64 KiB, no NUL, CRLF made
 * LF, trailing newlines dropped. Caller frees; NULL on error (reported). */
char *ctl_read_file(opts_t *o, const char *what, const char *path);
/* --text or --text-file (exactly one when required). *owned is set when
 * the text was read from a file (caller frees). */
int ctl_text_opt(opts_t *o, const ctl_args_t *a, bool required, const char *what,
                 const char **out, char **owned);

#endif
