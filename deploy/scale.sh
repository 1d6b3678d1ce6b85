#!/bin/bash
# Scale benchmark: does a node's cost grow with the length of its history?
# Starts a three-node group (QHM, RTD, RX4) on loopback, grows its log to
# each size in turn (200-byte raw submissions from concurrent clients, via
# icsd-bench) and after each fill measures memory, snapshot and disk size,
# the restart time of a follower and the catch-up time of a follower that
# was down while the others advanced. Prints one row per size as it goes,
# then the whole table in Markdown.
#
#   deploy/scale.sh [--sizes "10000 100000 1000000"] [--clients 32]
#                   [--advance 100000] [--deadline SECONDS] [--step-timeout SECONDS]
#                   [--stall SECONDS]
#                   [--keep DIR] [--conf FILE] [--bin DIR] [--no-build]
#
#   --sizes LIST        history sizes (audit log positions), ascending; the log
#                       grows from one to the next (default "10000 100000 1000000")
#   --clients N         concurrent submitting clients during fills (default 32)
#   --advance N         the catch-up test advances the log by min(N, size)
#                       entries while a follower is down (default 100000)
#   --deadline S        give up after S seconds in all (default 43200)
#   --step-timeout S    give up on one restart or catch-up after S seconds (default 1800)
#   --stall S           ... or when the node's applied index has not moved for S
#                       seconds; and on a fill that commits nothing for S seconds
#                       (default 300)
#   --keep DIR          keep keys, configurations, data and logs in DIR (created;
#                       must not exist or be empty); default: a temporary directory,
#                       removed at the end
#   --conf FILE         append FILE to every node's configuration (e.g. a [raft]
#                       section with snapshot_threshold = 8192)
#   --bin DIR           build directory with daemon/icsd, clients/icsctl and
#                       tests/icsd-bench (default: build/ of this tree)
#   --no-build          use --bin as it is (default: configure and build it, Release)
#
# Progress goes to stderr, the table to stdout:
#   deploy/scale.sh --sizes "2000 10000" > scale.md

# Functions called only from traps look unreachable to shellcheck.
# shellcheck disable=SC2317
set -uo pipefail
export LC_ALL=C

top=$(cd "$(dirname "$0")/.." && pwd)
sizes="10000 100000 1000000"
clients=32
payload=200
advance_max=100000
deadline=43200
step_timeout=1800
stall=300
keep=""
conf_extra=""
bin="$top/build"
build=1

usage() { awk 'NR > 1 { if (!/^#/) exit; sub(/^# ?/, ""); print }' "$0"; }
die() { echo "scale: $*" >&2; exit 2; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) [ $# -ge 2 ] || die "--sizes needs a value"; sizes=$2; shift 2 ;;
        --clients) [ $# -ge 2 ] || die "--clients needs a value"; clients=$2; shift 2 ;;
        --advance) [ $# -ge 2 ] || die "--advance needs a value"; advance_max=$2; shift 2 ;;
        --deadline) [ $# -ge 2 ] || die "--deadline needs a value"; deadline=$2; shift 2 ;;
        --step-timeout) [ $# -ge 2 ] || die "--step-timeout needs a value"; step_timeout=$2; shift 2 ;;
        --stall) [ $# -ge 2 ] || die "--stall needs a value"; stall=$2; shift 2 ;;
        --keep) [ $# -ge 2 ] || die "--keep needs a directory"; keep=$2; shift 2 ;;
        --conf) [ $# -ge 2 ] || die "--conf needs a file"; conf_extra=$2; shift 2 ;;
        --bin) [ $# -ge 2 ] || die "--bin needs a directory"; bin=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
for v in clients advance_max deadline step_timeout stall; do
    if ! is_uint "${!v}" || [ "${!v}" -eq 0 ]; then
        die "--${v%_max}: expected a positive whole number, not '${!v}'"
    fi
done
[ "$clients" -le 256 ] || die "--clients: at most 256"
size_list=()
for s in $sizes; do
    if ! is_uint "$s" || [ "$s" -lt 100 ]; then
        die "--sizes: '$s' is not a whole number of at least 100"
    fi
    size_list+=("$s")
done
[ ${#size_list[@]} -gt 0 ] || die "--sizes: no sizes given"
mapfile -t size_list < <(printf '%s\n' "${size_list[@]}" | sort -n -u)
[ -z "$conf_extra" ] || [ -r "$conf_extra" ] || die "--conf: cannot read $conf_extra"
[ -z "$conf_extra" ] || conf_extra=$(cd "$(dirname "$conf_extra")" && pwd)/$(basename "$conf_extra")

t_start=$EPOCHREALTIME
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
left() { awk -v a="$t_start" -v b="$(now)" -v d="$deadline" 'BEGIN { x = a + d - b; printf "%d", (x > 0 ? x : 0) }'; }
say() { printf '%s scale: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- build and tools ---------------------------------------------------------
if [ $build = 1 ]; then
    "$top/deploy/deps.sh" || die "cannot install the build dependencies (deploy/deps.sh)"
    say "building $bin (Release)"
    cmake -S "$top" -B "$bin" -DCMAKE_BUILD_TYPE=Release >/dev/null || die "cmake configure failed"
    cmake --build "$bin" -j "$(nproc)" --target icsd icsctl icsd-bench >/dev/null ||
        die "build failed (run: cmake --build $bin --target icsd icsctl icsd-bench)"
fi
icsd="$bin/daemon/icsd"
icsctl="$bin/clients/icsctl"
bench="$bin/tests/icsd-bench"
for x in "$icsd" "$icsctl" "$bench"; do
    [ -x "$x" ] || die "missing $x (build first, or drop --no-build)"
done
"$bench" --help | grep -q -- --until-position ||
    die "$bench has no --until-position: rebuild it from this tree"

# Reading the snapshot's size from raft.db: the sqlite3 shell, or Python's
# sqlite3 module; else install the Debian package sqlite3 (as deploy/deps.sh does).
if command -v sqlite3 >/dev/null 2>&1; then
    sql_reader=cli
elif command -v python3 >/dev/null 2>&1 && python3 -c 'import sqlite3' 2>/dev/null; then
    sql_reader=python
else
    say "installing the Debian package sqlite3 (to read snapshot sizes)"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || { command -v sudo >/dev/null 2>&1 && SUDO=sudo; } ||
        die "no sqlite3 shell and no python3: run as root: apt-get install sqlite3"
    export DEBIAN_FRONTEND=noninteractive
    { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends sqlite3 >/dev/null; } ||
        die "cannot install sqlite3"
    sql_reader=cli
fi
# Prints "INDEX BYTES" of the latest snapshot in a raft.db ("0 0" if none).
snapshot_of() {
    local q="SELECT coalesce(max(idx), 0) || ' ' || coalesce(max(length(data)), 0) FROM snapshot"
    if [ $sql_reader = cli ]; then
        sqlite3 -readonly -cmd ".timeout 10000" "$1" "$q" 2>/dev/null
    else
        python3 - "$1" "$q" <<'EOF' 2>/dev/null
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=10)
print(db.execute(sys.argv[2]).fetchone()[0])
EOF
    fi
}

# ---- working directory and clean-up --------------------------------------------
if [ -n "$keep" ]; then
    if [ -e "$keep" ] && { [ ! -d "$keep" ] || [ -n "$(ls -A "$keep" 2>/dev/null)" ]; }; then
        die "--keep $keep: must not exist or be an empty directory"
    fi
    mkdir -p "$keep" || die "--keep $keep: cannot create it"
    dir=$(cd "$keep" && pwd)
else
    dir=$(mktemp -d "${TMPDIR:-/tmp}/icsd-scale-XXXXXX") || die "cannot create a temporary directory"
fi
[ ${#dir} -le 90 ] || die "$dir: path too long for the nodes' ipc:// control sockets (keep it under 90 characters)"

ORGS=(QHM RTD RX4)
declare -A KIND=([QHM]=icb [RTD]=foundation_trust [RX4]=mental_health)
declare -A PORT HTTP PUB PID
bench_pid=""
rows=()       # finished table rows, "|"-separated cells
failures=0

stop_all() {
    [ -n "$bench_pid" ] && kill "$bench_pid" 2>/dev/null
    for org in "${ORGS[@]}"; do
        [ -n "${PID[$org]:-}" ] && kill -TERM "${PID[$org]}" 2>/dev/null
    done
    for _ in $(seq 100); do
        local alive=0
        for org in "${ORGS[@]}"; do
            [ -n "${PID[$org]:-}" ] && kill -0 "${PID[$org]}" 2>/dev/null && alive=1
        done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for org in "${ORGS[@]}"; do
        [ -n "${PID[$org]:-}" ] && kill -KILL "${PID[$org]}" 2>/dev/null
        PID[$org]=""
    done
    wait 2>/dev/null
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    stop_all
    if [ -n "$keep" ]; then
        say "keys, configurations, data and logs kept in $dir"
    else
        rm -rf "$dir"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; print_table; exit 130' INT TERM HUP

# Fatal: say why, show the end of the node logs, print what was measured.
fail() {
    say "FAILED: $*"
    if [ "${quiet_fail:-0}" = 0 ]; then
        for org in "${ORGS[@]}"; do
            [ -s "$dir/$org.log" ] && { echo "--- last lines of $org.log" >&2; tail -5 "$dir/$org.log" >&2; }
        done
    fi
    print_table
    exit 1
}
check_deadline() { [ "$(left)" -gt 0 ] || { quiet_fail=1; fail "deadline of ${deadline}s reached ($1)"; }; }

# ---- ports and configurations -----------------------------------------------------
port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null &&
        ! ss -Htan "( sport = :$1 or dport = :$1 )" 2>/dev/null | grep -q .
}
used=" "
pick_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 40000))
        case "$used" in *" $p "*) continue ;; esac
        port_free "$p" && { used="$used$p "; echo "$p"; return 0; }
    done
    return 1
}
for org in "${ORGS[@]}"; do
    PORT[$org]=$(pick_port) || die "no free loopback port found"
    HTTP[$org]=$(pick_port) || die "no free loopback port found"
    PUB[$org]=$("$icsd" keygen "$dir/$org.key" 2>/dev/null) || die "icsd keygen failed"
done
for org in "${ORGS[@]}"; do
    {
        echo "[node]"
        echo "org = $org"
        echo "key_file = $org.key"
        echo "listen = tcp://127.0.0.1:${PORT[$org]}"
        echo "data_dir = $org.data"
        echo "control = ipc://$org.sock"
        echo "http = 127.0.0.1:${HTTP[$org]}"
        echo
        echo "[group nenc]"
        echo "members = ${ORGS[*]}"
        echo "admin = QHM"
        for o in "${ORGS[@]}"; do
            echo
            echo "[org $o]"
            echo "kind = ${KIND[$o]}"
            echo "name = Scale test organisation $o"
            echo "endpoint = tcp://127.0.0.1:${PORT[$o]}"
            echo "public_key = ${PUB[$o]}"
        done
        if [ -n "$conf_extra" ]; then
            echo
            cat "$conf_extra"
        fi
    } > "$dir/$org.conf"
    "$icsd" --check-config "$dir/$org.conf" >/dev/null 2>"$dir/check.err" ||
        { cat "$dir/check.err" >&2; die "configuration of $org rejected"; }
done

# ---- nodes ----------------------------------------------------------------------------
# Started as children of this script; with setpriv they die with it too.
pdeath=()
setpriv --pdeathsig KILL true 2>/dev/null && pdeath=(setpriv --pdeathsig KILL)
start_node() {
    local org=$1
    "${pdeath[@]}" "$icsd" -c "$dir/$org.conf" >>"$dir/$org.log" 2>&1 &
    PID[$org]=$!
}
# SIGTERM and wait for it to exit (SIGKILL after 120 s); returns 1 if killed.
stop_node() {
    local org=$1 pid=${PID[$1]:-}
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1200); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; PID[$org]=""; return 0; }
        sleep 0.1
    done
    say "$org did not stop within 120 s of SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    PID[$org]=""
    return 1
}
# Status of a node's group: sets S_ROLE S_LEADER S_COMMIT S_APPLIED S_LAST S_POS.
# shellcheck disable=SC2034
status() {
    local out
    out=$("$icsctl" -c "$dir/$1.conf" --timeout 100 status 2>/dev/null) || return 1
    read -r S_ROLE S_LEADER S_COMMIT S_APPLIED S_LAST S_POS S_MISSING < <(awk '
        BEGIN            { missing = 0 }
        /^group /        { role = $3; sub(",", "", role); leader = $NF }
        /^  raft: commit/ { gsub(",", ""); commit = $3; applied = $5; last = $7 }
        /^  log: index/ { pos = $3; sub(",", "", pos) }
        /^  history: backfilling/ { missing = $3 }
        END { print role, leader, commit, applied, last, pos, missing }' <<<"$out")
    [ -n "${S_POS:-}" ]
}
# The leader's org (every running node agrees on it), or "".
leader() {
    local l="" org
    for org in "${ORGS[@]}"; do
        [ -n "${PID[$org]:-}" ] || continue
        status "$org" || return 0
        case "$S_LEADER" in ''|'(none)') return 0 ;; esac
        [ -z "$l" ] || [ "$l" = "$S_LEADER" ] || return 0
        l=$S_LEADER
    done
    echo "$l"
}
wait_leader() {
    local l
    for _ in $(seq 300); do
        l=$(leader)
        [ -n "$l" ] && { echo "$l"; return 0; }
        sleep 0.1
    done
    return 1
}
readyz() { # prints the HTTP status of /readyz (0 if no answer)
    local line
    line=$( (exec 3<>"/dev/tcp/127.0.0.1/${HTTP[$1]}" &&
             printf 'GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3 &&
             timeout 2 head -1 <&3) 2>/dev/null)
    # shellcheck disable=SC2086
    set -- $line
    echo "${2:-0}"
}
# Waits until org has applied up to raft index target; sets W_READY (seconds
# from t0 until then) and W_READYZ (until /readyz first said 200, "-" if
# never). Gives up after --step-timeout, or when the applied index has not
# moved for --stall seconds; W_WHY then says why.
wait_applied() {
    local org=$1 target=$2 t0=$3 limit code seen=-1 moved=$EPOCHSECONDS shown=$EPOCHSECONDS
    limit=$(awk -v a="$(now)" -v s="$step_timeout" -v l="$(left)" 'BEGIN { printf "%.3f", a + (s < l ? s : l) }')
    W_READY="" W_READYZ="-" W_WHY=""
    while :; do
        if [ "$W_READYZ" = "-" ]; then
            code=$(readyz "$org")
            [ "$code" = 200 ] && W_READYZ=$(elapsed "$t0")
        fi
        if status "$org"; then
            if [ "$S_APPLIED" -ge "$target" ]; then
                W_READY=$(elapsed "$t0")
                # /readyz judges by what the node itself knows is committed.
                for _ in $(seq 100); do
                    [ "$W_READYZ" = "-" ] || break
                    [ "$(readyz "$org")" = 200 ] && W_READYZ=$(elapsed "$t0")
                    sleep 0.05
                done
                return 0
            fi
            [ "$S_APPLIED" != "$seen" ] && { seen=$S_APPLIED; moved=$EPOCHSECONDS; }
        fi
        if ! kill -0 "${PID[$org]}" 2>/dev/null; then
            W_WHY="$org exited"
            return 1
        fi
        if awk -v a="$(now)" -v l="$limit" 'BEGIN { exit !(a > l) }'; then
            W_WHY="not there within $(hms "$(elapsed "$t0")") (applied ${seen/#-1/?} of $target)"
            return 1
        fi
        if [ $((EPOCHSECONDS - moved)) -ge "$stall" ]; then
            W_WHY="its applied index has not moved for ${stall}s (applied ${seen/#-1/?} of $target)"
            return 1
        fi
        if [ $((EPOCHSECONDS - shown)) -ge 30 ]; then
            say "  $org: applied ${seen/#-1/?} of $target after $(hms "$(elapsed "$t0")")"
            shown=$EPOCHSECONDS
        fi
        sleep 0.05
    done
}
# What a node's log says about snapshots and errors, for a failed step.
log_hints() {
    local org
    for org in "$@"; do
        grep -iE 'snapshot|error|warn|too big|refus' "$dir/$org.log" 2>/dev/null | tail -4 |
            sed "s/^/    $org.log: /" >&2
    done
}
# Grows the log to position target through the nodes given; sets F_* from
# icsd-bench's result line. Returns 1 if it fell short.
fill() {
    local target=$1; shift
    local eps="" org out secs
    for org in "$@"; do eps="$eps${eps:+,}ipc://$dir/$org.sock"; done
    secs=$(left)
    [ "$secs" -gt 0 ] || return 1
    : >"$dir/bench.err"
    "${pdeath[@]}" "$bench" --control "$eps" --group nenc --until-position "$target" --clients "$clients" \
        --payload "$payload" --tail 10000 --seconds "$secs" --stall "$stall" >"$dir/bench.out" 2>>"$dir/bench.err" &
    bench_pid=$!
    # Relay icsd-bench's progress lines while it runs.
    tail -n +1 -f "$dir/bench.err" --pid "$bench_pid" 2>/dev/null | sed -u 's/^icsd-bench: /    /' >&2 &
    local relay=$!
    wait "$bench_pid"
    local rc=$?
    bench_pid=""
    wait "$relay" 2>/dev/null
    out=$(sed -n 's/^result //p' "$dir/bench.out")
    F_SUBMITTED=0 F_SECONDS=0 F_RATE=0 F_TAIL=0 F_TAIL_RATE=0 F_START=0 F_POSITION=0 F_ERRORS=0
    local kv
    for kv in $out; do
        case "$kv" in
            submitted=*) F_SUBMITTED=${kv#*=} ;; seconds=*) F_SECONDS=${kv#*=} ;;
            rate=*) F_RATE=${kv#*=} ;; tail=*) F_TAIL=${kv#*=} ;;
            tail_rate=*) F_TAIL_RATE=${kv#*=} ;; start=*) F_START=${kv#*=} ;;
            position=*) F_POSITION=${kv#*=} ;; errors=*) F_ERRORS=${kv#*=} ;;
        esac
    done
    [ $rc = 0 ] && [ -n "$out" ] && return 0
    cat "$dir/bench.out" >&2   # (its stderr was relayed above)
    return 1
}
# Waits until every running node has applied what the leader has committed.
settle() {
    local l=$1 org
    status "$l" || return 1
    local target=$S_COMMIT
    for org in "${ORGS[@]}"; do
        [ -n "${PID[$org]:-}" ] || continue
        local step_timeout=120
        wait_applied "$org" "$target" "$(now)" || return 1
    done
}
kib() { awk '/^'"$2"':/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
files_list() { # the files of a directory and their sizes, largest first
    (cd "$1" && find . -type f -printf '%s %P\n' 2>/dev/null) | sort -rn |
        awk '{ printf "%s%s %.1f MiB", (NR > 1 ? ", " : ""), $2, $1 / 1048576 }'
}
files_bytes() { find "$1" -type f -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'; }
hms_paren() { awk -v s="$1" 'BEGIN { exit !(s >= 60) }' && echo " ($(hms "$1"))"; }
hms() { awk -v s="$1" 'BEGIN { s = int(s + 0.5); if (s >= 3600) printf "%dh%02dm", s / 3600, (s % 3600) / 60;
        else if (s >= 60) printf "%dm%02ds", s / 60, s % 60; else printf "%ds", s }'; }

# The largest frame the nodes send (the last max_message_bytes in the
# configuration, else icsd's default).
max_message_bytes() {
    local v
    v=$(sed -n 's/^[[:space:]]*max_message_bytes[[:space:]]*[=:][[:space:]]*\([0-9]*\).*/\1/p' "$dir/$1.conf" | tail -1)
    echo "${v:-67108864}"
}

# ---- the table -------------------------------------------------------------------------
HEAD=("entries" "fill (s)" "fill (entries/s)" "last 10k (subm/s)" "RSS max (MiB)" "VmHWM max (MiB)"
      "snapshot (MiB)" "disk (B/entry)" "restart (s)" "catch-up (s)" "history backfilled (s)")
# The cells of the row being measured; "-" until measured.
new_row() {
    C_ENTRIES="-" C_FILL_S="-" C_FILL_RATE="-" C_TAIL="-" C_RSS="-" C_HWM="-" C_SNAP="-"
    C_DISK="-" C_RESTART="-" C_CATCHUP="-" C_BACKFILL="-"
}
cur_row() {
    echo "$C_ENTRIES|$C_FILL_S|$C_FILL_RATE|$C_TAIL|$C_RSS|$C_HWM|$C_SNAP|$C_DISK|$C_RESTART|$C_CATCHUP|$C_BACKFILL"
}
in_row=0
print_row() { # cells separated by |
    local IFS='|'
    # shellcheck disable=SC2086
    set -- $1
    printf '%9s %8s %8s %18s %8s %8s %9s %9s %10s %14s %s\n' "$@"
}
md_row() { # cells separated by |
    local IFS='|' c out="|"
    set -f
    # shellcheck disable=SC2086
    set -- $1
    set +f
    for c in "$@"; do out="$out $c |"; done
    echo "$out"
}
print_table() {
    local r all=("${rows[@]}")
    [ $in_row = 1 ] && [ "$C_ENTRIES" != "-" ] && all+=("$(cur_row | sed 's/|-|/|(unfinished)|/; t; s/|-$/|(unfinished)/')")
    [ ${#all[@]} -gt 0 ] || return 0
    echo
    echo "icsd scale: 3 nodes on loopback, ${payload}-byte raw submissions, $clients clients," \
         "icsd $("$icsd" --version 2>/dev/null | head -1 | awk '{ print $NF }'), $(date +%Y-%m-%d)"
    echo
    md_row "$(IFS='|'; echo "${HEAD[*]}")"
    echo "|$(printf -- '---:|%.0s' "${HEAD[@]}")"
    for r in "${all[@]}"; do md_row "$r"; done
    echo
    echo "entries: audit log positions when measured; the fill grows the log from the previous"
    echo "row's end (including that row's catch-up advance) with $clients concurrent clients"
    echo "spread over the nodes; last 10k: committed submissions/s over the fill's last 10,000"
    echo "submissions. RSS, VmHWM: /proc/PID/status after the fill, highest of the nodes."
    echo "snapshot: length(data) of the snapshot row in raft.db (largest node). disk: all files"
    echo "under a node's data_dir divided by entries (largest node). restart: a follower"
    echo "SIGTERMed and started again, until icsctl status shows it has applied up to the"
    echo "leader's commit index. catch-up: a follower stopped while the others advance by (+N)"
    echo "entries, from its start until it has applied up to the leader's commit index."
    echo "history backfilled: from the same start until its history holds every position"
    echo "(the entries its snapshot install skipped, fetched from peers and verified)."
    [ -z "$out_node" ] || echo "$out_node was left out after a failed catch-up: later rows are of two nodes."
}

# ---- the run --------------------------------------------------------------------------------
say "working directory $dir; ports ${PORT[*]} (http ${HTTP[*]}); deadline ${deadline}s"
for org in "${ORGS[@]}"; do start_node "$org"; done
for org in "${ORGS[@]}"; do
    for _ in $(seq 200); do status "$org" && break; kill -0 "${PID[$org]}" 2>/dev/null || break; sleep 0.05; done
    status "$org" || fail "$org did not start (see $dir/$org.log)"
done
lead=$(wait_leader) || fail "no leader elected within 30 s"
say "leader $lead"
out_node=""   # a node that could not catch up, stopped and left out

print_row "entries|fill s|fill/s|tail/s|RSS MiB|HWM MiB|snap MiB|disk B/e|restart s|catch-up s|backfilled s"
for size in "${size_list[@]}"; do
    new_row; in_row=1
    check_deadline "before filling to $size"
    lead=$(wait_leader) || fail "no leader before filling to $size"
    live=()
    for org in "${ORGS[@]}"; do [ -n "${PID[$org]:-}" ] && live+=("$org"); done
    status "$lead" || fail "no status from the leader $lead"
    if [ "$S_POS" -ge "$size" ]; then
        say "the log is already at position $S_POS (>= $size): no fill"
    else
        say "filling from position $S_POS to $size ($clients clients across ${live[*]})"
        if ! fill "$size" "${live[@]}"; then
            check_deadline "filling to $size"
            fail "fill to $size fell short (position $F_POSITION; icsd-bench's output is above)"
        fi
        C_FILL_S=$(printf '%.1f' "$F_SECONDS")
        C_FILL_RATE=$(awk -v n="$((F_POSITION - F_START))" -v s="$F_SECONDS" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
        tail_rate=$(printf '%.0f' "$F_TAIL_RATE")
        C_TAIL=$tail_rate
        [ "$F_TAIL" -ge 10000 ] || C_TAIL="$tail_rate (last $F_TAIL)"
        say "filled $F_START -> $F_POSITION in $C_FILL_S s$(hms_paren "$F_SECONDS"): $C_FILL_RATE entries/s;" \
            "$F_SUBMITTED submissions, the last $F_TAIL at $tail_rate/s; $F_ERRORS failed or timed out"
        # How long the next size would take at this rate.
        for next in "${size_list[@]}"; do
            [ "$next" -gt "$size" ] || continue
            [ "$tail_rate" -gt 0 ] &&
                say "at $tail_rate submissions/s, filling on to $next would take about $(hms $(( (next - size) / tail_rate )))"
            break
        done
    fi
    settle "$lead" || fail "the nodes did not all apply the leader's commit after the fill: $W_WHY"

    # Memory, snapshot and disk, with every node level with the leader.
    status "$lead" || fail "no status from the leader $lead"
    entries=$S_POS
    C_ENTRIES=$entries
    rss_max=0 hwm_max=0 snap_max=0 disk_max=0
    for org in "${live[@]}"; do
        rss=$(kib "${PID[$org]}" VmRSS) hwm=$(kib "${PID[$org]}" VmHWM)
        read -r snap_idx snap_bytes < <(snapshot_of "$dir/$org.data/nenc/raft.db" || echo "? 0")
        disk=$(files_bytes "$dir/$org.data")
        say "  $org: VmRSS $(mib "$rss") MiB, VmHWM $(mib "$hwm") MiB; snapshot at raft index ${snap_idx:-?}," \
            "${snap_bytes:-?} bytes; data dir $disk bytes ($((disk / entries)) per entry: $(files_list "$dir/$org.data"))"
        [ "${rss:-0}" -gt "$rss_max" ] && rss_max=$rss
        [ "${hwm:-0}" -gt "$hwm_max" ] && hwm_max=$hwm
        [ "${snap_bytes:-0}" -gt "$snap_max" ] && snap_max=$snap_bytes
        [ "$disk" -gt "$disk_max" ] && disk_max=$disk
    done
    C_RSS=$(mib "$rss_max") C_HWM=$(mib "$hwm_max") C_SNAP=$(mib $((snap_max / 1024)))
    C_DISK=$((disk_max / entries))

    # Restart: SIGTERM a follower, start it again, until it has applied up
    # to the leader's commit.
    check_deadline "before the restart at $size"
    followers=()
    for org in "${live[@]}"; do [ "$org" != "$lead" ] && followers+=("$org"); done
    node=${followers[0]}
    status "$lead" || fail "no status from the leader $lead"
    target=$S_COMMIT
    t0=$(now)
    stop_node "$node" || true
    t_stop=$(elapsed "$t0")
    t1=$(now)
    start_node "$node"
    if wait_applied "$node" "$target" "$t1"; then
        C_RESTART=$(awk -v a="$t_stop" -v b="$W_READY" 'BEGIN { printf "%.2f", a + b }')
        say "restart of $node: stopped in ${t_stop}s, applied to index $target ${W_READY}s after start" \
            "(/readyz 200 after ${W_READYZ}s); VmRSS now $(mib "$(kib "${PID[$node]}" VmRSS)") MiB"
    else
        C_RESTART="failed"; failures=$((failures + 1))
        say "restart of $node failed: $W_WHY"
        log_hints "$node" "$lead"
        fail "cannot go on without $node"
    fi

    # Catch-up: stop the other follower, advance, start it, until it has
    # applied up to the leader's commit.
    check_deadline "before the catch-up at $size"
    lead=$(wait_leader) || fail "no leader before the catch-up at $size"
    adv=$(( size < advance_max ? size : advance_max ))
    if [ -n "$out_node" ]; then
        C_CATCHUP="skipped"
        say "catch-up: skipped, $out_node is out (stopping another node would lose the quorum)"
    else
        node=""
        for org in "${live[@]}"; do [ "$org" != "$lead" ] && [ "$org" != "${followers[0]}" ] && node=$org; done
        [ -n "$node" ] || node=${followers[0]}
        stop_node "$node" || true
        rest=()
        for org in "${live[@]}"; do [ "$org" != "$node" ] && rest+=("$org"); done
        status "$lead" || fail "no status from the leader $lead"
        from=$S_POS
        say "catch-up: $node stopped; advancing from position $from by $adv through ${rest[*]}"
        if ! fill "$((from + adv))" "${rest[@]}"; then
            check_deadline "advancing to $((from + adv))"
            fail "advance to $((from + adv)) fell short (position $F_POSITION; icsd-bench's output is above)"
        fi
        say "advanced to $F_POSITION in $(printf '%.1f' "$F_SECONDS") s ($(printf '%.0f' "$F_RATE") submissions/s with $node down)"
        status "$lead" || fail "no status from the leader $lead"
        target=$S_COMMIT
        read -r _ lead_snap < <(snapshot_of "$dir/$lead.data/nenc/raft.db" || echo "? 0")
        t1=$(now)
        start_node "$node"
        if wait_applied "$node" "$target" "$t1"; then
            C_CATCHUP="$W_READY (+$adv)"
            say "catch-up of $node: applied to index $target ${W_READY}s after start (/readyz 200 after ${W_READYZ}s)"
            # Then the history it skipped by installing a snapshot comes from its peers.
            while status "$node" && [ "${S_MISSING:-0}" -gt 0 ] &&
                  awk -v a="$(now)" -v t="$t1" -v s="$step_timeout" 'BEGIN { exit !(a - t < s) }'; do
                sleep 0.1
            done
            if status "$node" && [ "${S_MISSING:-1}" -eq 0 ]; then
                C_BACKFILL=$(elapsed "$t1")
                say "catch-up of $node: history complete ${C_BACKFILL}s after start"
            else
                C_BACKFILL="unfinished"
                say "catch-up of $node: history still missing ${S_MISSING:-?} entries"
            fi
        else
            C_CATCHUP="failed (+$adv)"; failures=$((failures + 1))
            say "catch-up of $node failed: $W_WHY; /readyz said 200 after ${W_READYZ}s"
            log_hints "$node" "$lead"
            maxmsg=$(max_message_bytes "$lead")
            [ "${lead_snap:-0}" -gt "$maxmsg" ] &&
                say "  the leader's snapshot ($lead_snap bytes) is larger than max_message_bytes ($maxmsg):" \
                    "a snapshot travels in one frame, and larger frames are dropped (see 'dropped: send' in icsctl status)"
            say "  stopping $node and going on with the two others"
            stop_node "$node" || true
            out_node=$node
        fi
    fi

    rows+=("$(cur_row)")
    in_row=0
    print_row "$(cur_row)"
done

print_table
[ $failures = 0 ] || { say "$failures measurement(s) failed (see above)"; exit 1; }
exit 0
