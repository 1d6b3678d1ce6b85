#!/bin/sh
# Long determinism run in canonical raft's fixture: the real state machine
# on 3 and 5 simulated servers under random faults, for many seeds (default
# 500), with a signed-entry workload (test_fixture_raft) and a governance
# workload (test_fixture_plans). A failure prints its seed; rerun one with
# ICS_FIXTURE_SEED=N.
#   deploy/fixture-soak.sh [SEEDS]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/deploy/deps.sh"
build="$top/build-asan"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DICS_SANITIZE=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target test_fixture_raft test_fixture_plans
export ICS_FIXTURE_SEEDS=${1:-500}
"$build/tests/test_fixture_raft"
"$build/tests/test_fixture_plans"
