#!/bin/sh
# Partition soak: the partition test (cluster_partition) with random
# schedules for MINUTES (default 30) on the sanitizer build, as root. Five
# nodes in their own network namespaces are cut into minorities and
# majorities, get one-way links, an isolated leader, flapping links, packet
# loss, and delay with reordering (60±40 ms on every link: sch_netem, or
# where the kernel lacks it tests/netshape, fed by an iptables NFQUEUE rule
# in each namespace) while clients submit; every few minutes the network
# heals and the checker runs: every acknowledged submission once at its
# acknowledged position with its verdict, identical logs entry by entry, no
# aid offer or need exceeded.
# It prints each schedule, the figures of each check and any violation.
# Repeat a run's schedules with ICS_PARTITION_SEED=N (printed at start).
# Nodes snapshot every ICS_PARTITION_SNAPSHOT entries (default 128; 0 for
# icsd's own 1024), so a node back from a cut often installs a snapshot and
# backfills its history.
#   deploy/partition-soak.sh [MINUTES]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
minutes=${1:-30}
case $minutes in
'' | *[!0-9]*) echo "usage: $0 [MINUTES]" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
    echo "partition-soak: needs root (network namespaces and nftables)" >&2
    exit 1
fi
"$top/deploy/deps.sh"
build="$top/build-asan"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DICS_SANITIZE=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target test_partition icsd icsctl
export ICS_PARTITION_SNAPSHOT="${ICS_PARTITION_SNAPSHOT:-128}"
ICS_PARTITION_SECONDS=$((minutes * 60)) exec "$build/tests/test_partition"
