#!/bin/bash
# Benchmark: builds an optimised icsd and runs icsd-bench, which starts a
# loopback cluster of its own (icsd's default timing) and prints committed
# submissions/s and p50/p90/p99/max latency. Defaults: 3 nodes, 4 clients,
# 10 s, closed loop, clients spread over every node. Examples:
#
#   deploy/bench.sh
#   deploy/bench.sh --clients 16 --seconds 30
#   deploy/bench.sh --nodes 5 --rate 300         # open loop at 300/s: p50/p90/p99/max
#   deploy/bench.sh --rate 2 --via follower      # one submission at a time through a follower
#   deploy/bench.sh --rate 2 --via leader --heartbeat 200
#   deploy/bench.sh --rate 500 --runs 5          # five runs on fresh clusters: each, then
#                                                # the median and range of every figure
#   deploy/bench.sh --failover 20                # SIGKILL the leader 20 times: median/max
#                                                # time from the kill to the next commit
#   deploy/bench.sh --vs-etcd [--seconds 60]     # etcd's 'check perf' against icsd
#   deploy/bench.sh --vs-etcd --baseline OTHER/tests/icsd-bench
#                                                # ... and another build of icsd too
#
# Every option but --vs-etcd goes to icsd-bench (icsd-bench --help):
#   --nodes N (1..7), --clients C (up to 1024), --seconds S, --payload BYTES,
#   --via all|leader|follower, --rate R (open loop: R submissions/s whatever
#   the answers, latency from when each was due), --failover N,
#   --heartbeat MS, --election MS, --snapshot N (snapshot_threshold),
#   --verify-threads N (0: every signature verified on the event loop),
#   --samples FILE (a line per committed submission: when it was due, its
#   latency, the node it went through; with --runs, FILE.1, FILE.2, ...).
# It also prints the CPU time the icsd processes used per submission, the
# figure that shows what a change costs on a machine busy with other work.
#
# --runs N (not with --vs-etcd) runs icsd-bench N times, each on a fresh
# cluster, prints each run's figures and then, per figure, the median and
# the lowest and highest of the N. On a small machine shared by every node
# and the load, one run's tail (p99, max) moves by half or more from run to
# run; compare medians of several runs, interleaved.
#
# --vs-etcd installs Debian's etcd-server and etcd-client if they are
# missing, then on loopback, in turn: a 3-member etcd and `etcdctl check perf
# --load=l` (500 clients, at most 8000 writes/s, 60 s), icsd-bench with 500
# clients, `check perf --load=xl` (1000 clients, at most 15000 writes/s),
# icsd-bench with 1000 clients; each on a fresh cluster. It prints both
# throughputs and their ratio, per load and at the peak. etcd's values are
# 1 KiB, so icsd's payloads are too unless --payload says otherwise; icsd
# runs --seconds (default 60, as etcd's check does). Only etcd processes
# this script started are stopped. On a machine with systemd, installing
# etcd-server also enables its etcd.service (systemctl disable --now etcd).
# With --baseline BENCH, each icsd run is followed by one of BENCH (the
# icsd-bench of another build, e.g. of an older commit: it starts that
# build's icsd) with the same clients, so that the two builds and etcd are
# compared in one interleaved run; the table gains a column for it.
#
# The optimised build goes to build-rel/ (ICSD_BENCH_BUILD overrides), out
# of the way of the sanitizer build the tests use.
set -euo pipefail
export LC_ALL=C
top=$(cd "$(dirname "$0")/.." && pwd)

vs_etcd=0
baseline=""
runs=1
args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --vs-etcd) vs_etcd=1 ;;
    --baseline) baseline=${2:-}; shift ;;
    --runs) runs=${2:-}; shift ;;
    *) args+=("$1") ;;
    esac
    shift
done
if [ -n "$baseline" ] && { [ "$vs_etcd" = 0 ] || [ ! -x "$baseline" ]; }; then
    echo "bench: --baseline takes an icsd-bench executable, with --vs-etcd" >&2
    exit 2
fi
if ! [[ "$runs" =~ ^[0-9]+$ ]] || [ "$runs" -lt 1 ] || [ "$runs" -gt 100 ]; then
    echo "bench: --runs takes a number of runs from 1 to 100" >&2
    exit 2
fi
if [ "$runs" -gt 1 ] && [ "$vs_etcd" = 1 ]; then
    echo "bench: --runs is for icsd-bench runs, not --vs-etcd" >&2
    exit 2
fi

build=${ICSD_BENCH_BUILD:-$top/build-rel}
"$top/deploy/deps.sh"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target icsd-bench icsd icsctl >&2
bench="$build/tests/icsd-bench"

if [ "$vs_etcd" = 0 ] && [ "$runs" = 1 ]; then
    exec "$bench" ${args[@]+"${args[@]}"}
fi

# ---- --runs N ----------------------------------------------------------------

# The figures of one run's output, one "name value" line each.
figures() {
    awk '$1 == "throughput" { print "throughput", $2 }
         $1 == "cpu" { print "cpu", $2 }
         $1 == "latency" { for (i = 2; i < NF; i++) if ($i ~ /^(p[0-9]+|max)$/) print $i, $(i + 1) }
         $1 == "failover" && $3 == "rounds:" { print "failover-median", $5; print "failover-max", $8 }'
}

if [ "$vs_etcd" = 0 ]; then
    all=""
    for ((r = 1; r <= runs; r++)); do
        printf 'run %d of %d\n' "$r" "$runs"
        # --samples FILE: each run's samples go to FILE.1, FILE.2, ...
        run_args=()
        for ((i = 0; i < ${#args[@]}; i++)); do
            run_args+=("${args[i]}")
            if [ "${args[i]}" = --samples ] && [ $((i + 1)) -lt ${#args[@]} ]; then
                i=$((i + 1))
                run_args+=("${args[i]}.$r")
            fi
        done
        out=$("$bench" "${run_args[@]}") || {
            printf '%s\n' "$out"
            echo "bench: run $r failed" >&2
            exit 1
        }
        printf '%s\n' "$out"
        all+=$(printf '%s\n' "$out" | figures)$'\n'
    done
    printf '\n%d runs: median (lowest .. highest)\n' "$runs"
    # Per figure, in the order first seen: sort its values, take the middle.
    awk 'NF == 2 { if (!($1 in n)) order[++k] = $1; v[$1, ++n[$1]] = $2 }
         END {
             if (k == 0) print "  (no figures in the output to summarise)"
             unit["throughput"] = " submissions/s"; unit["cpu"] = " ms per submission"
             for (j = 1; j <= k; j++) {
                 f = order[j]; m = n[f]
                 for (a = 1; a <= m; a++) s[a] = v[f, a] + 0
                 for (a = 2; a <= m; a++)
                     for (b = a; b > 1 && s[b - 1] > s[b]; b--) { t = s[b]; s[b] = s[b - 1]; s[b - 1] = t }
                 med = m % 2 ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
                 u = (f in unit) ? unit[f] : " ms"
                 printf "  %-16s %8.2f%s  (%.2f .. %.2f)\n", f, med, u, s[1], s[m]
             }
         }' <<<"$all"
    exit 0
fi

# ---- --vs-etcd -------------------------------------------------------------

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

seconds=60
payload=1024
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in
    --seconds) seconds=${args[$((i + 1))]:-}; i=$((i + 1)) ;;
    --payload) payload=${args[$((i + 1))]:-}; i=$((i + 1)) ;;
    *) die "--vs-etcd takes only --seconds S and --payload BYTES, not ${args[$i]}" ;;
    esac
done
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 1 ]] || die "--seconds: a whole number of seconds"
[[ "$payload" =~ ^[0-9]+$ && "$payload" -ge 1 ]] || die "--payload: a whole number of bytes"

if ! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1; then
    say "installing Debian's etcd-server and etcd-client"
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends etcd-server etcd-client >/dev/null
fi
export ETCDCTL_API=3

work=$(mktemp -d /tmp/icsd-vs-etcd-XXXXXX)
etcd_pids=()
stop_etcd() {
    local p
    for p in ${etcd_pids[@]+"${etcd_pids[@]}"}; do kill "$p" 2>/dev/null || true; done
    for p in ${etcd_pids[@]+"${etcd_pids[@]}"}; do wait "$p" 2>/dev/null || true; done
    etcd_pids=()
}
trap 'stop_etcd; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# A loopback port nothing listens on, not handed out before in this run.
used=" "
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
    local p _
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 40000))
        case "$used" in *" $p "*) continue ;; esac
        if port_free "$p"; then used="$used$p "; echo "$p"; return 0; fi
    done
    return 1
}

# Starts a fresh 3-member etcd in $1 on ports nobody else took; sets eps
# to its client endpoints. Returns 1 if a member could not start (on a
# shared machine another process can take a port between the look and
# etcd's bind) or the cluster did not become healthy within about 30 s.
etcd_start() {
    local dir=$1 load=$2 cluster="" i p
    local -a client peer
    eps=""
    for i in 1 2 3; do
        client[i]=$(pick_port) || die "no free loopback port"
        peer[i]=$(pick_port) || die "no free loopback port"
        cluster="$cluster${cluster:+,}m$i=http://127.0.0.1:${peer[i]}"
        eps="$eps${eps:+,}127.0.0.1:${client[i]}"
    done
    rm -rf "$dir"
    mkdir -p "$dir"
    for i in 1 2 3; do
        etcd --name "m$i" --data-dir "$dir/m$i" \
            --listen-client-urls "http://127.0.0.1:${client[i]}" \
            --advertise-client-urls "http://127.0.0.1:${client[i]}" \
            --listen-peer-urls "http://127.0.0.1:${peer[i]}" \
            --initial-advertise-peer-urls "http://127.0.0.1:${peer[i]}" \
            --initial-cluster "$cluster" --initial-cluster-token "icsd-bench-$load" \
            --initial-cluster-state new --quota-backend-bytes 8589934592 \
            --logger zap --log-level warn >"$dir/m$i.log" 2>&1 &
        etcd_pids+=($!)
    done
    for i in $(seq 1 60); do
        for p in "${etcd_pids[@]}"; do
            kill -0 "$p" 2>/dev/null || { grep -h '"error"' "$dir"/m*.log | tail -1 >&2; return 1; }
        done
        etcdctl --endpoints "$eps" --dial-timeout=1s --command-timeout=2s endpoint health \
            >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}

# Runs `etcdctl check perf --load=$1` on a fresh 3-member cluster; prints
# its verdicts to stderr and sets result to the writes/s it reports.
# A check that etcd itself gives up on ("request timed out" when the
# machine is busy) is run again on a fresh cluster, up to three times.
etcd_perf() {
    local load=$1 dir="$work/etcd-$1" out try _
    for _ in 1 2 3; do
        for try in 1 2 3; do
            etcd_start "$dir" "$load" && break
            stop_etcd
            [ "$try" = 3 ] && { tail -20 "$dir/m1.log" >&2; die "etcd did not become healthy"; }
            say "etcd did not start; again on other ports"
        done
        say "etcd: 3 members, check perf --load=$load (60 s)"
        out=$(etcdctl --endpoints "$eps" check perf --load="$load" 2>&1 | tr '\r' '\n' || true)
        printf '%s\n' "$out" | grep -E 'PASS|FAIL|Slowest|Stddev|Error' >&2 || true
        stop_etcd
        rm -rf "$dir"
        result=$(printf '%s\n' "$out" |
            sed -n 's/.*Throughput[^0-9]*\([0-9][0-9]*\) writes\/s.*/\1/p' | tail -1)
        [ -n "$result" ] && return 0
        say "etcd's check did not finish; again on a fresh cluster"
    done
    die "could not read etcd's throughput"
}

# icsd-bench ($2, default this build's) with $1 clients on a fresh 3-node
# cluster; prints its figures to stderr and sets result to the
# submissions/s.
icsd_perf() {
    local out b=${2:-$bench}
    say "icsd ($b): 3 nodes, $1 clients, $seconds s, $payload-byte payloads"
    out=$("$b" --nodes 3 --clients "$1" --seconds "$seconds" --payload "$payload") ||
        { printf '%s\n' "$out" >&2; die "icsd-bench failed"; }
    printf '%s\n' "$out" | grep -E 'committed|first failure|throughput|raft log|latency' >&2
    result=$(printf '%s\n' "$out" | sed -n 's/.*throughput \([0-9.]*\) submissions\/s.*/\1/p' |
        head -1)
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 > b + 0) ? a : b }'; }

result=""
b_l="" b_xl=""
etcd_perf l; e_l=$result
icsd_perf 500; i_l=$result
if [ -n "$baseline" ]; then icsd_perf 500 "$baseline"; b_l=$result; fi
etcd_perf xl; e_xl=$result
icsd_perf 1000; i_xl=$result
if [ -n "$baseline" ]; then icsd_perf 1000 "$baseline"; b_xl=$result; fi
e_peak=$(max "$e_l" "$e_xl")
i_peak=$(max "$i_l" "$i_xl")

printf '\nicsd against etcd %s, 3 members each on loopback, on %s cores\n' \
    "$(etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p')" "$(nproc)"
if [ -z "$baseline" ]; then
    printf '%-6s %8s %16s %22s %10s\n' load clients "etcd writes/s" "icsd submissions/s" icsd/etcd
    printf '%-6s %8s %16s %22s %10s\n' l 500 "$e_l" "$i_l" "$(ratio "$i_l" "$e_l")"
    printf '%-6s %8s %16s %22s %10s\n' xl 1000 "$e_xl" "$i_xl" "$(ratio "$i_xl" "$e_xl")"
    printf '%-6s %8s %16s %22s %10s\n' peak "" "$e_peak" "$i_peak" "$(ratio "$i_peak" "$e_peak")"
else
    b_peak=$(max "$b_l" "$b_xl")
    printf '%-6s %8s %14s %14s %10s %14s %10s\n' load clients "etcd writes/s" "icsd subm/s" \
        icsd/etcd "baseline" base/etcd
    printf '%-6s %8s %14s %14s %10s %14s %10s\n' l 500 "$e_l" "$i_l" "$(ratio "$i_l" "$e_l")" \
        "$b_l" "$(ratio "$b_l" "$e_l")"
    printf '%-6s %8s %14s %14s %10s %14s %10s\n' xl 1000 "$e_xl" "$i_xl" \
        "$(ratio "$i_xl" "$e_xl")" "$b_xl" "$(ratio "$b_xl" "$e_xl")"
    printf '%-6s %8s %14s %14s %10s %14s %10s\n' peak "" "$e_peak" "$i_peak" \
        "$(ratio "$i_peak" "$e_peak")" "$b_peak" "$(ratio "$b_peak" "$e_peak")"
    printf 'baseline: %s\n' "$baseline"
fi
printf '%s\n' "etcd: 256-byte keys, 1 KiB values, offered at most 8000 (l) or 15000 (xl) writes/s." \
    "icsd: $payload-byte payloads in signed envelopes, closed loop; each node verifies every entry."
