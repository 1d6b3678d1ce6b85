#!/bin/sh
# Builds icsd with AddressSanitizer and UndefinedBehaviorSanitizer and runs
# the whole test suite (unit and multi-process) with ctest; then builds the
# fuzz harnesses with clang (build-fuzz/, -DICS_FUZZ=ON) and runs each
# briefly (the tests labelled fuzz). ICS_NO_FUZZ=1 skips the second part.
#   deploy/test.sh [ctest arguments...]
# The arguments go to both ctest runs: -L unit or -R cluster_consensus
# select no fuzz test, -L fuzz only those.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/deploy/deps.sh"
build="$top/build-asan"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DICS_SANITIZE=ON >/dev/null
cmake --build "$build" -j "$(nproc)"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0
(cd "$build" && ctest --output-on-failure --timeout 900 "$@") || status=$?
[ "${ICS_NO_FUZZ:-0}" = 1 ] && exit $status

fuzz="$top/build-fuzz"
CC=clang cmake -S "$top" -B "$fuzz" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O1" \
    -DICS_FUZZ=ON >/dev/null
cmake --build "$fuzz" -j "$(nproc)" --target ics_fuzzers
(cd "$fuzz" && ctest --output-on-failure --timeout 900 -L fuzz "$@") || status=$?
exit $status
