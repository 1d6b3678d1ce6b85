#!/bin/sh
# Builds icsd with AddressSanitizer and UndefinedBehaviorSanitizer and runs
# the whole test suite (unit and multi-process) with ctest.
#   deploy/test.sh [ctest arguments...]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/deploy/deps.sh"
build="$top/build-asan"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DICS_SANITIZE=ON >/dev/null
cmake --build "$build" -j "$(nproc)"
cd "$build"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
exec ctest --output-on-failure --timeout 900 "$@"
