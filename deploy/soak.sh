#!/bin/sh
# Soak: the consensus test at scale (default 20,000 submissions over three
# nodes, the leader killed with SIGKILL and restarted part-way), on the
# sanitizer build. Every acknowledged submission must be in every node's
# log exactly once, in the same order, and every export must verify.
#   deploy/soak.sh [SUBMISSIONS]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/deploy/deps.sh"
build="$top/build-asan"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DICS_SANITIZE=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target test_consensus icsd icsctl
ICS_SOAK_SUBMISSIONS=${1:-20000} exec "$build/tests/test_consensus"
