#!/bin/sh
# Installs the Debian packages icsd needs to build and test, if any are
# missing. Safe to run again: does nothing when all are present.
set -eu

# prometheus: its promtool checks /metrics in the test suite
# (cluster_promtool). iproute2 and nftables: network namespaces, links
# and packet filters for the partition test (cluster_partition).
# libnetfilter-queue-dev and iptables: where the kernel has no sch_netem,
# the partition test's delay and reordering come from tests/netshape, which
# iptables' NFQUEUE target hands each packet to (nftables has no queue
# expression here). clang and libclang-rt-dev (libFuzzer, which clang only
# recommends): the fuzz harnesses (tests/fuzz, deploy/fuzz.sh).
# libcurl4-openssl-dev: webhooks of [notify] sections.
# libgnutls28-dev: HTTPS client certificates ([http] client_ca); openssl and
# curl make and present them in cluster_dashboard.
# chromium: the dashboard test loads the page in headless Chromium
# (cluster_dashboard; it skips without it). ICS_NO_CHROMIUM=1 leaves it out.
PACKAGES="build-essential cmake pkg-config protobuf-c-compiler libprotobuf-c-dev
libzmq3-dev libsodium-dev libsqlite3-dev libraft-dev libcmocka-dev libinih-dev
libsystemd-dev libmicrohttpd-dev libcurl4-openssl-dev libgnutls28-dev prometheus
python3 openssl curl iproute2 nftables libnetfilter-queue-dev iptables clang
libclang-rt-dev"
[ "${ICS_NO_CHROMIUM:-0}" = 1 ] || PACKAGES="$PACKAGES chromium"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "icsd: installing missing Debian packages:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "icsd: run as root: apt-get install$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
# The tests need promtool only: the Prometheus server that the package
# starts and enables is stopped and disabled again, if this installed it.
case " $missing " in
*" prometheus "*)
    if [ -d /run/systemd/system ]; then
        $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    fi
    ;;
esac
