/*
 * Control client. A DEALER socket that sends an empty delimiter first
 * speaks to the node's ROUTER like a REQ socket would, but never gets stuck
 * in REQ's send/receive lock-step when an answer does not come.
 */
#include "ctlclient.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "envelope.h"

int ics_ctl_call(const char *endpoint, Ics__V1__ControlRequest *req, unsigned wait_ms,
                 Ics__V1__ControlResponse **resp, ics_err_t *err)
{
    void *ctx = NULL, *sock = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    zmq_msg_t msg;
    int rc = ICS_EIO, linger = 0;
    struct stat st;
    const char *path = strncmp(endpoint, "ipc://", 6) == 0 ? endpoint + 6 : NULL;

    *resp = NULL;
    zmq_msg_init(&msg);
    if (path != NULL) {
        if (stat(path, &st) != 0) {
            if (errno == EACCES)
                rc = ics_err(err, ICS_EPERM,
                             "permission denied on %s: ask an administrator to add you to the "
                             "group that owns it", path);
            else
                rc = ics_err(err, ICS_EUNAVAIL,
                             "icsd is not running (no control socket at %s)", path);
            goto out;
        }
        if (access(path, R_OK | W_OK) != 0) {
            rc = ics_err(err, ICS_EPERM,
                         "permission denied on %s: ask an administrator to add you to the "
                         "group that owns it", path);
            goto out;
        }
    }
    req->version = ICS_CONTROL_VERSION;
    if (ics_pack(&req->base, &buf, &len) != ICS_OK) {
        rc = ics_err(err, ICS_ENOMEM, "out of memory");
        goto out;
    }
    ctx = zmq_ctx_new();
    sock = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    if (sock == NULL) {
        rc = ics_err(err, ICS_EIO, "zmq: %s", zmq_strerror(errno));
        goto out;
    }
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(sock, endpoint) != 0) {
        rc = ics_err(err, ICS_EIO, "cannot connect to %s: %s", endpoint, zmq_strerror(errno));
        goto out;
    }
    if (zmq_send(sock, "", 0, ZMQ_SNDMORE) < 0 || zmq_send(sock, buf, len, 0) < 0) {
        rc = ics_err(err, ICS_EIO, "cannot send to %s: %s", endpoint, zmq_strerror(errno));
        goto out;
    }
    for (;;) {
        zmq_pollitem_t item = {.socket = sock, .events = ZMQ_POLLIN};
        int n = zmq_poll(&item, 1, (long)wait_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = ics_err(err, ICS_ETIMEDOUT, "no answer from icsd at %s within %.1f s",
                         endpoint, wait_ms / 1000.0);
            goto out;
        }
        if (zmq_msg_recv(&msg, sock, 0) < 0) {
            rc = ics_err(err, ICS_EIO, "receive: %s", zmq_strerror(errno));
            goto out;
        }
        if (zmq_msg_size(&msg) == 0 && zmq_msg_more(&msg))
            continue; /* the delimiter */
        break;
    }
    *resp = ics__v1__control_response__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
    if (*resp == NULL) {
        rc = ics_err(err, ICS_EMALFORMED, "icsd sent an answer that does not decode");
        goto out;
    }
    rc = ICS_OK;
out:
    zmq_msg_close(&msg);
    free(buf);
    if (sock != NULL)
        zmq_close(sock);
    if (ctx != NULL)
        zmq_ctx_term(ctx);
    return rc;
}
