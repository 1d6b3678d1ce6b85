#!/bin/sh
# Fuzz: a member's node sends mutated frames, raft messages among them, to
# a live node (default 1,000,000) on the sanitizer build; the node must
# drop and count them, never crash, stay a member, and keep committing.
# Repeat a run with ICS_FUZZ_SEED=N.
#   deploy/fuzz.sh [ITERATIONS]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/deploy/deps.sh"
build="$top/build-asan"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DICS_SANITIZE=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target test_hostile icsd icsctl
ICS_FUZZ_ITERATIONS=${1:-1000000} exec "$build/tests/test_hostile"
