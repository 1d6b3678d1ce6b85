/*
 * Node configuration: one INI file per node. Parsed once at start-up and
 * frozen; the only global state of the daemon. See icsd.conf(5).
 */
#ifndef ICS_CONFIG_H
#define ICS_CONFIG_H

#include <limits.h>
#include "ics.h"
#include "keys.h"

typedef struct {
    char id[ICS_ORG_MAX];          /* ODS code */
    char kind[32];
    char name[ICS_NAME_MAX];
    char endpoint[ICS_ENDPOINT_MAX];
    uint8_t public_key[ICS_PK_BYTES];
    int line;                      /* where its section starts */
} ics_org_cfg_t;

typedef struct {
    char name[ICS_GROUP_MAX];
    char members[ICS_MAX_ORGS][ICS_ORG_MAX];
    size_t n_members;
    char admin[ICS_ORG_MAX];       /* may add, remove and re-key members */
    bool join;                     /* joining an existing group: never bootstrap */
    char policy[PATH_MAX];         /* scheme of delegation for the genesis, "" = built-in */
    char escalate_to[ICS_GROUP_MAX]; /* regional group for mutual aid, "" if none */
    int line;
} ics_group_cfg_t;

/* [notify NAME]: events of chosen kinds delivered to a command and/or a
 * webhook (daemon/notify.c). */
#define ICS_MAX_NOTIFY 8
#define ICS_NOTIFY_KINDS 16
#define ICS_NOTIFY_URL_MAX 512

typedef struct {
    char name[ICS_GROUP_MAX];      /* "default" for a bare [notify] */
    char kinds[ICS_NOTIFY_KINDS][32]; /* "aid" (every aid.*) or "aid.offered"; none: all */
    size_t n_kinds;
    char command[PATH_MAX];        /* program and arguments (split at spaces), "" if none */
    char url[ICS_NOTIFY_URL_MAX];  /* http(s) webhook, "" if none */
    unsigned timeout_ms;           /* per attempt; a command past it is killed */
    unsigned retry_max_ms;         /* back-off doubles from 1 s up to this */
    int line;
} ics_notify_cfg_t;

typedef struct ics_config {
    char path[PATH_MAX];
    /* [node] */
    char org[ICS_ORG_MAX];
    char key_file[PATH_MAX];
    char listen[ICS_ENDPOINT_MAX];
    char data_dir[PATH_MAX];
    char control[PATH_MAX];        /* ipc:// endpoint */
    char http[ICS_ENDPOINT_MAX];   /* host:port, empty: off */
    bool dashboard;                /* [http] dashboard: serve / and /events too */
    char tls_cert[PATH_MAX];       /* [http] PEM certificate (chain): HTTPS; "" plain HTTP */
    char tls_key[PATH_MAX];        /* [http] its PEM private key */
    char client_ca[PATH_MAX];      /* [http] PEM CA(s): a client certificate it signed is
                                      required for every request; "" none asked */
    int log_level;
    unsigned verify_threads;       /* signatures checked ahead of apply; 0: none */
    /* [raft] tunables */
    unsigned heartbeat_ms;
    unsigned election_ms;
    unsigned snapshot_threshold;
    unsigned snapshot_trailing;
    unsigned tick_interval_ms;     /* clock tick entries */
    unsigned checkpoint_interval;  /* entries between checkpoints */
    unsigned backfill_chunk_bytes; /* history asked of a peer per request */
    /* [transport] */
    unsigned ping_interval_ms;
    unsigned max_message_bytes;
    unsigned send_hwm;
    unsigned reconnect_max_ms;
    unsigned peer_invalid_max;     /* invalid frames in 10 s before a back-off; 0: never */
    unsigned peer_backoff_ms;      /* the first back-off; each next one doubles */
    /* [control]: who may use the control socket, by Unix group (the node
     * asks the kernel who connected: SO_PEERCRED). "" (the default): anyone
     * who can open the socket, as its file mode allows. root always may. */
    char submit_group[64];         /* may submit commands */
    char admin_group[64];          /* may also administer: members, people, roles */
    unsigned submit_gid, admin_gid;

    ics_org_cfg_t orgs[ICS_MAX_ORGS];
    size_t n_orgs;
    ics_group_cfg_t groups[ICS_MAX_GROUPS];
    size_t n_groups;
    ics_notify_cfg_t notify[ICS_MAX_NOTIFY];
    size_t n_notify;
} ics_config_t;

/* Parses and validates path into *cfg. On error returns ICS_ECONFIG with
 * "FILE:LINE: message" in err. Relative paths in the file are resolved
 * against the file's directory. */
int ics_config_load(const char *path, ics_config_t *cfg, ics_err_t *err);

const ics_org_cfg_t *ics_config_org(const ics_config_t *cfg, const char *id);
const ics_group_cfg_t *ics_config_group(const ics_config_t *cfg, const char *name);
bool ics_group_has(const ics_group_cfg_t *g, const char *org);

/* Is kind one of the organisation kinds icsd knows? */
bool ics_org_kind_valid(const char *kind);

#endif
