#!/bin/bash
# Long determinism run in canonical raft's fixture: the real state machine
# on 3 and 5 simulated servers under random faults (disconnections,
# saturated links, kills and revivals, disk and network latency), raft run
# as icsd runs it (the raftfix shim, the commit guard, icsd's timeouts,
# snapshots on throughout with icsd's trailing of twice the threshold),
# for many seeds. Two workloads: signed entries with replays and forgeries
# (test_fixture_raft: every acknowledged entry checked at its position on
# every server, no (org, seq) accepted twice) and governance
# (test_fixture_plans). A failing seed does not stop the run: it is
# recorded with the command that replays it, and the run goes on from the
# next seed. Prints seeds, time, seeds per minute and every failure.
#
#   deploy/fixture-soak.sh [--seeds 10000] [--first 1] [--servers "3 5"]
#                          [--workloads "raft plans"] [--entries N]
#                          [--jobs 1] [--asan] [--bin DIR]
#
#   --seeds N      seeds per server count and workload (default 10000)
#   --first S      first seed (default 1)
#   --entries N    entries per raft schedule (default 300, the suite's)
#   --jobs J       processes at once (default 1; the machine may be shared)
#   --asan         the sanitizer build (build-asan/), several times slower
#   --bin DIR      a build directory that has tests/test_fixture_*
#
# Replay one seed: ICS_FIXTURE_SEED=N ICS_FIXTURE_SERVERS=3 build-soak/tests/test_fixture_raft
# (the failure line prints the exact command, with ICS_FIXTURE_ENTRIES if set).
# Add ICS_FIXTURE_VERBOSE=1 for what the seed did, LIBRAFT_TRACE=1 for raft's
# own trace.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
seeds=10000
first=1
servers="3 5"
workloads="raft plans"
entries=""
jobs=1
asan=0
bin=""
while [ $# -gt 0 ]; do
    case "$1" in
        --seeds) seeds=$2; shift 2 ;;
        --first) first=$2; shift 2 ;;
        --servers) servers=$2; shift 2 ;;
        --workloads) workloads=$2; shift 2 ;;
        --entries) entries=$2; shift 2 ;;
        --jobs) jobs=$2; shift 2 ;;
        --asan) asan=1; shift ;;
        --bin) bin=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
        # The old form: deploy/fixture-soak.sh SEEDS
        [0-9]*) seeds=$1; shift ;;
        *) echo "fixture-soak: unknown argument $1" >&2; exit 2 ;;
    esac
done

if [ -z "$bin" ]; then
    "$top/deploy/deps.sh"
    if [ $asan = 1 ]; then
        bin="$top/build-asan"
        cmake -S "$top" -B "$bin" -DCMAKE_BUILD_TYPE=Debug -DICS_SANITIZE=ON >/dev/null
    else
        bin="$top/build-soak"
        cmake -S "$top" -B "$bin" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    fi
    cmake --build "$bin" -j "$(nproc)" --target test_fixture_raft test_fixture_plans
fi

out=$(mktemp -d /tmp/icsd-fixture-soak.XXXXXX)
[ -n "$entries" ] && export ICS_FIXTURE_ENTRIES=$entries
export ICS_FIXTURE_PROGRESS=1

# Runs seeds [from, to] of one workload and server count, going on past
# failures; appends "workload servers seed" per failure to $out/failures
# and the replay command to $out/rerun.
range() {
    local w=$1 n=$2 from=$3 to=$4 log="$out/$w-$n-$3.log"
    local exe="$bin/tests/test_fixture_$w"
    while [ "$from" -le "$to" ]; do
        if ICS_FIXTURE_SERVERS=$n ICS_FIXTURE_FIRST=$from ICS_FIXTURE_SEEDS=$((to - from + 1)) \
               "$exe" > "$log" 2>&1; then
            break
        fi
        # The seed under way when it failed: its progress line is the last.
        local bad
        bad=$(sed -n 's/^servers [0-9]* seed \([0-9]*\)$/\1/p' "$log" | tail -1)
        if [ -z "$bad" ]; then
            echo "fixture-soak: $w on $n servers failed before its first seed:" >&2
            tail -5 "$log" >&2
            echo "$w $n ?" >> "$out/failures"
            break
        fi
        echo "$w $n $bad" >> "$out/failures"
        { grep -E "seed $bad|rerun:" "$log" | grep -v "^servers" | tail -3
          echo "ICS_FIXTURE_SEED=$bad ICS_FIXTURE_SERVERS=$n${entries:+ ICS_FIXTURE_ENTRIES=$entries} $exe"
        } >> "$out/rerun"
        cp "$log" "$out/$w-$n-seed$bad.log"
        from=$((bad + 1))
    done
}

start=$(date +%s)
: > "$out/failures"
echo "fixture-soak: $seeds seeds from $first, servers $servers, workloads $workloads," \
     "$jobs job(s), ${entries:-300} entries per raft schedule; logs in $out"
for w in $workloads; do
    for n in $servers; do
        per=$(( (seeds + jobs - 1) / jobs ))
        for j in $(seq 0 $((jobs - 1))); do
            from=$((first + j * per))
            to=$((from + per - 1))
            [ $to -ge $((first + seeds)) ] && to=$((first + seeds - 1))
            [ $from -le $to ] || continue
            range "$w" "$n" "$from" "$to" &
        done
        wait
        now=$(date +%s)
        printf 'fixture-soak: %s, %s servers: %d seeds done at %ds\n' "$w" "$n" "$seeds" $((now - start))
    done
done
elapsed=$(( $(date +%s) - start ))
runs=0
for w in $workloads; do for n in $servers; do runs=$((runs + seeds)); done; done
fails=$(wc -l < "$out/failures")
echo "fixture-soak: $runs schedules ($seeds seeds x servers {$servers} x workloads {$workloads})" \
     "in ${elapsed}s, $(( runs * 60 / (elapsed > 0 ? elapsed : 1) )) per minute; $fails failed"
if [ "$fails" -gt 0 ]; then
    echo "fixture-soak: failures (workload servers seed):"
    sed 's/^/  /' "$out/failures"
    echo "fixture-soak: replay with:"
    grep '^ICS_FIXTURE_SEED=' "$out/rerun" | sed 's/^/  /'
    exit 1
fi
rm -rf "$out"
