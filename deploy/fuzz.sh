#!/bin/sh
# Fuzz, long: every libFuzzer harness of tests/fuzz (envelopes, node-to-node
# frames, raft messages, control requests, configuration, policy and log
# export files) for SECONDS each (default 600), on the clang tree
# build-fuzz/ (ASan, UBSan, leak checks); prints executions and crashes per
# harness. Then, as before, a member's node sends mutated frames, raft
# messages among them, to a live node on the sanitizer build (test_hostile,
# ICS_FUZZ_ITERATIONS, default 1,000,000; ICS_FUZZ_SEED=N repeats a run;
# ICS_FUZZ_LIVE=0 skips it).
#   deploy/fuzz.sh [SECONDS_PER_HARNESS [HARNESS...]]
# FUZZ_JOBS=N runs N harnesses at a time (default 1). New inputs are kept
# in build-fuzz/tests/fuzz/work/NAME/corpus, crashes next to them in the
# run's directory (each is a file to replay: build-fuzz/tests/fuzz/fuzz_NAME FILE).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-600}
[ $# -gt 0 ] && shift
harnesses=${*:-"envelope frame raftmsg control config policy logexport"}
jobs=${FUZZ_JOBS:-1}
"$top/deploy/deps.sh"

fuzz="$top/build-fuzz"
CC=clang cmake -S "$top" -B "$fuzz" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O1" \
    -DICS_FUZZ=ON >/dev/null
cmake --build "$fuzz" -j "$(nproc)" --target ics_fuzzers
dir="$fuzz/tests/fuzz"
stamp=$(date -u +%Y%m%dT%H%M%SZ)

# One harness: its log, then a line "NAME EXECUTIONS CRASHES" in its .result.
run_one() {
    name=$1
    work="$dir/work/$name"
    out="$work/run-$stamp"
    mkdir -p "$work/corpus" "$out"
    # Seeds, and inputs that once found a bug (tests/fuzz/regress), are read only.
    seeds="$top/tests/fuzz/corpus/$name"
    [ -d "$top/tests/fuzz/regress/$name" ] && seeds="$seeds $top/tests/fuzz/regress/$name"
    set +e
    # shellcheck disable=SC2086
    "$dir/fuzz_$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$out/" "$work/corpus" $seeds \
        >"$out/log" 2>&1
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log" | tail -n 1)
    crashes=$(find "$out" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
              -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    echo "$name ${execs:-0} $crashes $out" >"$out.result"
}

echo "icsd fuzz: $seconds s per harness, $jobs at a time: $harnesses"
running=0
for name in $harnesses; do
    [ -x "$dir/fuzz_$name" ] || { echo "fuzz.sh: no harness $name" >&2; exit 2; }
    run_one "$name" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait
        running=0
    fi
done
wait

total_crashes=0
printf '\n%-10s %14s %8s  %s\n' harness executions crashes "log and crashes"
for name in $harnesses; do
    # shellcheck disable=SC2046
    set -- $(cat "$dir/work/$name/run-$stamp.result")
    printf '%-10s %14s %8s  %s\n' "$1" "$2" "$3" "$4"
    total_crashes=$((total_crashes + $3))
done

status=0
[ "$total_crashes" -eq 0 ] || status=1
if [ "${ICS_FUZZ_LIVE:-1}" != 0 ]; then
    echo
    echo "icsd fuzz: mutated frames against a live node (test_hostile)"
    build="$top/build-asan"
    cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DICS_SANITIZE=ON >/dev/null
    cmake --build "$build" -j "$(nproc)" --target test_hostile icsd icsctl
    ICS_FUZZ_ITERATIONS=${ICS_FUZZ_ITERATIONS:-1000000} "$build/tests/test_hostile" || status=1
fi
exit $status
