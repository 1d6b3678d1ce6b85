/*
 * icsctl status, submit and keys: the node itself, an opaque test entry,
 * and an organisation's identity key.
 *
 * status is the node's own view (no --fresh: it is not a query of the
 * group's state); with -g it shows that group only. Names in it come from
 * the configuration and the peers, so it is printed through ctl_put_safe
 * like every other text from the node.
 */
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/keys.h"

#include "ctl.h"

/* ---- status ----------------------------------------------------------------- */

static void s_status_json(FILE *f, const Ics__V1__StatusReply *s, const char *only)
{
    json_t j;
    json_init(&j, f);
    json_obj(&j, NULL);
    json_obj(&j, "status");
    json_str(&j, "org", s->org);
    json_str(&j, "kind", s->kind);
    json_str(&j, "name", s->name);
    json_str(&j, "version", s->version);
    json_str(&j, "listen", s->listen);
    json_str(&j, "public_key", s->public_key);
    json_u64(&j, "uptime_ms", s->uptime_ms);
    json_obj(&j, "versions");
    json_str(&j, "icsd", s->version);
    json_str(&j, "zmq", s->zmq_version);
    json_str(&j, "sodium", s->sodium_version);
    json_str(&j, "sqlite", s->sqlite_version);
    json_end_obj(&j);
    json_obj(&j, "frames");
    json_u64(&j, "in", s->frames_in);
    json_u64(&j, "out", s->frames_out);
    json_u64(&j, "dropped_send", s->dropped_send);
    json_u64(&j, "dropped_undecodable", s->dropped_bad);
    json_u64(&j, "dropped_unknown_group", s->dropped_unknown_group);
    json_u64(&j, "dropped_not_member", s->dropped_not_member);
    json_u64(&j, "refused", s->refused);
    json_end_obj(&j);
    json_arr(&j, "groups");
    for (size_t g = 0; g < s->n_groups; g++) {
        const Ics__V1__GroupStatus *gs = s->groups[g];
        if (only != NULL && strcmp(gs->name, only) != 0)
            continue;
        json_obj(&j, NULL);
        json_str(&j, "name", gs->name);
        json_str(&j, "role", gs->role);
        json_str(&j, "storage_fault", gs->storage_fault);
        json_u64(&j, "term", gs->term);
        json_str(&j, "leader", gs->leader);
        json_u64(&j, "commit_index", gs->commit_index);
        json_u64(&j, "applied_index", gs->applied_index);
        json_u64(&j, "last_index", gs->last_index);
        json_u64(&j, "index", gs->position);
        json_hex(&j, "chain", gs->chain.data, gs->chain.len);
        json_u64(&j, "clock_ms", gs->clock_ms);
        json_obj(&j, "checkpoint");
        json_u64(&j, "index", gs->checkpoint_position);
        json_bool(&j, "certified", gs->checkpoint_certified);
        json_bool(&j, "alarm", gs->checkpoint_alarm);
        json_str(&j, "alarm_text", gs->alarm);
        json_end_obj(&j);
        if (gs->history != NULL) {
            const Ics__V1__HistoryStatus *h = gs->history;
            json_obj(&j, "history");
            json_u64(&j, "top", h->top);
            json_u64(&j, "missing", h->missing);
            json_u64(&j, "backfilled", h->filled);
            json_str(&j, "backfill_peer", h->peer);
            json_u64(&j, "backfill_failures", h->failures);
            json_u64(&j, "bad_chunks", h->bad_chunks);
            json_str(&j, "last_error", h->last_error);
            json_bool(&j, "failed", h->failed);
            json_u64(&j, "diverged", h->diverged);
            json_u64(&j, "corrupt", h->corrupt);
            json_u64(&j, "scrub_passes", h->scrub_passes);
            json_end_obj(&j);
        }
        json_arr(&j, "peers");
        for (size_t i = 0; i < gs->n_peers; i++) {
            const Ics__V1__PeerStatus *p = gs->peers[i];
            json_obj(&j, NULL);
            json_str(&j, "org", p->org);
            json_str(&j, "kind", p->kind);
            json_str(&j, "endpoint", p->endpoint);
            json_bool(&j, "connected", p->connected);
            json_bool(&j, "ever_seen", p->ever_seen);
            json_u64(&j, "last_seen_ms_ago", p->last_seen_ms_ago);
            json_u64(&j, "rtt_us", p->rtt_us);
            json_u64(&j, "match_index", p->match_index);
            json_u64(&j, "lag", p->lag);
            json_str(&j, "raft_role", p->raft_role);
            json_u64(&j, "invalid_frames", p->invalid_frames);
            json_u64(&j, "backoff_ms_left", p->backoff_ms_left);
            json_u64(&j, "backoffs", p->backoffs);
            json_end_obj(&j);
        }
        json_end_arr(&j);
        json_end_obj(&j);
    }
    json_end_arr(&j);
    json_end_obj(&j);
    json_end_obj(&j);
    json_done(&j);
}

static void s_status_text(FILE *f, const Ics__V1__StatusReply *s, const char *only)
{
    char clock[32], chain[17];

    fprintf(f, "%s  %s (%s)\n", s->org, s->name, s->kind);
    fprintf(f, "  icsd %s (zmq %s, libsodium %s, sqlite %s), up %.0f s, listening on %s\n",
            s->version, s->zmq_version, s->sodium_version, s->sqlite_version,
            s->uptime_ms / 1000.0, s->listen);
    fprintf(f, "  public key %s\n", s->public_key);
    for (size_t g = 0; g < s->n_groups; g++) {
        const Ics__V1__GroupStatus *gs = s->groups[g];
        if (only != NULL && strcmp(gs->name, only) != 0)
            continue;
        ctl_fmt_time(gs->clock_ms, clock, sizeof clock);
        ics_hex(gs->chain.data, gs->chain.len > 8 ? 8 : gs->chain.len, chain);
        fprintf(f, "\ngroup %s: %s, term %llu, leader %s\n", gs->name, gs->role,
                (unsigned long long)gs->term, gs->leader[0] ? gs->leader : "(none)");
        if (gs->storage_fault[0] != '\0')
            fprintf(f, "  STORAGE FAULT: %s\n", gs->storage_fault);
        fprintf(f, "  raft: commit %llu, applied %llu, last %llu\n",
                (unsigned long long)gs->commit_index, (unsigned long long)gs->applied_index,
                (unsigned long long)gs->last_index);
        fprintf(f, "  log: index %llu, chain %s…, clock %s\n",
                (unsigned long long)gs->position, chain, clock);
        if (gs->checkpoint_position == 0)
            fprintf(f, "  checkpoint: none yet\n");
        else
            fprintf(f, "  checkpoint: index %llu, %s\n",
                    (unsigned long long)gs->checkpoint_position,
                    gs->checkpoint_certified ? "certified" : "not yet certified");
        if (gs->checkpoint_alarm)
            fprintf(f, "  ALARM: %s\n", gs->alarm);
        if (gs->history != NULL) {
            const Ics__V1__HistoryStatus *h = gs->history;
            if (h->failed)
                fprintf(f, "  HISTORY: cannot be written: the group has stopped applying (see the"
                        " log)\n");
            else if (h->missing > 0)
                fprintf(f, "  history: backfilling, %llu entries missing (asking %s)\n",
                        (unsigned long long)h->missing, h->peer[0] ? h->peer : "no peer yet");
            else
                fprintf(f, "  history: complete to index %llu\n", (unsigned long long)h->top);
            if (h->corrupt > 0)
                fprintf(f, "  HISTORY: %llu entries were found corrupt on disk (repaired, or"
                        " fetched again from peers)\n", (unsigned long long)h->corrupt);
            if (h->diverged > 0)
                fprintf(f, "  HISTORY ALARM: %llu entries on disk disagree with the log\n",
                        (unsigned long long)h->diverged);
            if (h->last_error[0] != '\0' && (h->missing > 0 || h->bad_chunks > 0))
                fprintf(f, "  backfill: %llu failures, %llu bad chunks; last: %s\n",
                        (unsigned long long)h->failures, (unsigned long long)h->bad_chunks,
                        h->last_error);
        }
        fprintf(f, "  %-14s %-8s %-13s %-10s %-9s %-7s %s\n", "PEER", "RAFT", "STATE", "LAST SEEN",
                "RTT", "MATCH", "LAG");
        for (size_t i = 0; i < gs->n_peers; i++) {
            const Ics__V1__PeerStatus *p = gs->peers[i];
            char seen[16] = "never", rtt[16] = "-", match[24] = "-", lag[24] = "-";
            if (p->ever_seen)
                snprintf(seen, sizeof seen, "%.1fs ago", p->last_seen_ms_ago / 1000.0);
            if (p->rtt_us)
                snprintf(rtt, sizeof rtt, "%.2fms", p->rtt_us / 1000.0);
            if (strcmp(gs->role, "leader") == 0) {
                snprintf(match, sizeof match, "%llu", (unsigned long long)p->match_index);
                snprintf(lag, sizeof lag, "%llu", (unsigned long long)p->lag);
            }
            fprintf(f, "  %-14s %-8s %-13s %-10s %-9s %-7s %s\n", p->org,
                    p->raft_role[0] ? p->raft_role : "-",
                    p->backoff_ms_left > 0 ? "backed off"
                                           : (p->connected ? "connected" : "disconnected"),
                    seen, rtt, match, lag);
        }
        for (size_t i = 0; i < gs->n_peers; i++) {
            const Ics__V1__PeerStatus *p = gs->peers[i];
            if (p->invalid_frames == 0)
                continue;
            fprintf(f, "  %s sent %llu invalid frames", p->org,
                    (unsigned long long)p->invalid_frames);
            if (p->backoff_ms_left > 0)
                fprintf(f, "; ignored for %.0f s more (back-off %u)",
                        (p->backoff_ms_left + 999) / 1000.0, p->backoffs);
            else if (p->backoffs > 0)
                fprintf(f, "; backed off %u times", p->backoffs);
            fprintf(f, " (icsd_peer_invalid_frames_total has the reasons)\n");
        }
    }
    fprintf(f, "\nframes: in %llu, out %llu; dropped: send %llu, undecodable %llu, "
            "unknown group %llu, non-member %llu; refused connections %llu\n",
            (unsigned long long)s->frames_in, (unsigned long long)s->frames_out,
            (unsigned long long)s->dropped_send, (unsigned long long)s->dropped_bad,
            (unsigned long long)s->dropped_unknown_group,
            (unsigned long long)s->dropped_not_member, (unsigned long long)s->refused);
}

static int s_status(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__StatusRequest sr = ICS__V1__STATUS_REQUEST__INIT;
    Ics__V1__ControlResponse *resp;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = NULL;
    int rc = EXIT_FAIL;
    (void)a;

    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_STATUS;
    req.status = &sr;
    resp = ctl_call(o, &req);
    if (resp == NULL)
        return EXIT_FAIL;
    if (resp->body_case != ICS__V1__CONTROL_RESPONSE__BODY_STATUS) {
        ctl_error(o, "unexpected answer");
        goto out;
    }
    if (o->group != NULL) {
        bool in = false;
        for (size_t g = 0; g < resp->status->n_groups; g++)
            in = in || strcmp(resp->status->groups[g]->name, o->group) == 0;
        if (!in) {
            ctl_error(o, "this node is not in group '%s'", o->group);
            goto out;
        }
    }
    m = open_memstream(&buf, &len);
    if (m == NULL) {
        ctl_error(o, "out of memory");
        goto out;
    }
    if (o->json)
        s_status_json(m, resp->status, o->group);
    else
        s_status_text(m, resp->status, o->group);
    fclose(m);
    m = NULL;
    if (o->json) {
        cj_t doc;
        if (!cj_parse(buf, len, &doc)) {
            ctl_error(o, "out of memory");
            goto out;
        }
        cj_write(stdout, doc);
        fputc('\n', stdout);
    } else {
        ctl_put_safe(stdout, buf, len, true);
    }
    rc = EXIT_OK;
out:
    if (m != NULL)
        fclose(m);
    free(buf);
    ics__v1__control_response__free_unpacked(resp, NULL);
    return rc;
}

static const ctl_sub_t s_status_subs[] = {
    {"", s_status, CTL_STATE, "", {NULL}, "status",
     "Show this node: organisation, groups, raft role and indexes, each peer's\n"
     "connection, last contact and round-trip time, checkpoints, dropped frames.\n"
     "With -g, only that group."},
};
const ctl_cmd_t ctl_cmd_status =
    CTL_CMD("status", "Show this node, its groups and its peers", NULL, s_status_subs);

/* ---- submit ------------------------------------------------------------------ */

static int s_submit(opts_t *o, const ctl_args_t *a)
{
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Raw raw = ICS__V1__RAW__INIT;
    const char *note = ctl_opt(a, "note");

    raw.data.data = (uint8_t *)a->argv[0];
    raw.data.len = strlen(a->argv[0]);
    raw.note = (char *)(note != NULL ? note : "");
    cmd.body_case = ICS__V1__COMMAND__BODY_RAW;
    cmd.raw = &raw;
    return ctl_submit(o, &cmd);
}

static const ctl_sub_t s_submit_subs[] = {
    {"", s_submit, CTL_SUBMIT, "note=", {"DATA"}, "submit DATA [--note TEXT]",
     "Sign DATA as an opaque test entry in the organisation's name and wait until it\n"
     "is applied. Prints the index, entry id and outcome. A retry with the same\n"
     "--token is applied once."},
};
const ctl_cmd_t ctl_cmd_submit =
    CTL_CMD("submit", "Submit an opaque test entry", NULL, s_submit_subs);

/* ---- keys ---------------------------------------------------------------------- */

static int s_keys_gen(opts_t *o, const ctl_args_t *a)
{
    char pub[ICS_PUBKEY_TEXT_MAX];
    ics_err_t err;

    if (ics_identity_generate(a->argv[0], pub, &err) != ICS_OK) {
        ctl_error(o, "%s", err.msg);
        return EXIT_FAIL;
    }
    if (o->json) {
        fputs("{\"key\":{\"file\":", stdout);
        cj_write_str(stdout, a->argv[0]);
        fputs(",\"public_key\":", stdout);
        cj_write_str(stdout, pub);
        fputs("}}\n", stdout);
    } else {
        printf("%s\n", pub);
    }
    ctl_note(o, "wrote secret key %s (mode 0600)", a->argv[0]);
    return EXIT_OK;
}

static int s_keys_person_gen(opts_t *o, const ctl_args_t *a)
{
    char pub[ICS_PUBKEY_TEXT_MAX], path[PATH_MAX];
    int rc = ctl_person_generate(o, a->argv[0], ctl_flag(a, "passphrase"), pub, path,
                                 sizeof path);

    if (rc != EXIT_OK)
        return rc;
    if (o->json) {
        fputs("{\"key\":{\"person\":", stdout);
        cj_write_str(stdout, a->argv[0]);
        fputs(",\"file\":", stdout);
        cj_write_str(stdout, path);
        fputs(",\"public_key\":", stdout);
        cj_write_str(stdout, pub);
        fputs("}}\n", stdout);
    } else {
        printf("%s\n", pub);
    }
    ctl_note(o, "wrote your secret key %s (mode 0600); give the public key to your "
                "organisation's administrator: icsctl people register %s --name NAME --key %s",
             path, a->argv[0], pub);
    return EXIT_OK;
}

static const ctl_sub_t s_keys_subs[] = {
    {"gen", s_keys_gen, CTL_OFFLINE, "", {"FILE"}, "keys gen FILE",
     "Create an organisation identity key (mode 0600, never overwritten) and print\n"
     "its public key for the members' configurations."},
    {"person-gen", s_keys_person_gen, CTL_OFFLINE, "passphrase", {"PERSON"},
     "keys person-gen PERSON [--passphrase]",
     "Create your own key as PERSON (the id you act under) in ~/.config/icsd/\n"
     "(or $ICSD_PERSON_DIR; mode 0600, never overwritten) and print its public\n"
     "key, which your organisation registers (people register --key). icsctl\n"
     "signs every command you submit with it. --passphrase seals it with a\n"
     "passphrase (asked for, or $ICSD_PASSPHRASE), asked again whenever it signs."},
};
const ctl_cmd_t ctl_cmd_keys =
    CTL_CMD("keys", "Create an organisation's or a person's key", NULL, s_keys_subs);
