#!/bin/bash
# Soak: real icsd processes on loopback under concurrent clients while a
# random schedule SIGKILLs (and restarts) and SIGSTOPs (and resumes) random
# nodes, leader and followers alike. At the end every node is brought back
# and the logs are checked:
#   - every acknowledged submission is on every node at the index and with
#     the entry id its acknowledgement gave (100%, not a sample);
#   - every node's log export is byte for byte the same, and verifies;
#   - no entry id twice, no (org, seq) accepted twice, no submission's text
#     accepted twice.
# Prints the figures and exits 1 on any violation, or when the whole run
# passes its deadline.
#
#   deploy/soak.sh [--nodes 3] [--clients 4] [--seconds 300] [--deadline S]
#                  [--seed N] [--snapshot-threshold N] [--snapshot-trailing N]
#                  [--bin DIR] [--dir DIR] [--keep]
#
#   --nodes N        3 or 5 (default 3)
#   --clients N      concurrent submitting clients, each against the nodes
#                    in turn (default 4)
#   --seconds S      how long clients submit and faults run (default 300)
#   --deadline S     hard limit on the whole run (default seconds + 240); past
#                    it the run fails (stopping takes up to one submission
#                    timeout, 8 s, more)
#   --seed N         the fault schedule's seed (default: random, printed): the
#                    same draws again, though which node leads when is the run's
#   --snapshot-threshold N, --snapshot-trailing N
#                    raft snapshot settings (default: icsd's, 1024 and 2048)
#   --bin DIR        a build directory with daemon/icsd and clients/icsctl
#                    (default: build-asan/ of this tree, built first)
#   --dir DIR        working directory (default: a new /tmp/icsd-soak.XXXXXX,
#                    removed at the end unless --keep or a violation)
#   --check DIR      only check the records and exports a kept run left in
#                    DIR (give the same --nodes)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
nodes=3
clients=4
seconds=300
deadline=""
seed=$(( (RANDOM << 15) | RANDOM ))
snap_threshold=1024
snap_trailing=2048
bin=""
dir=""
keep=0
check_only=0
while [ $# -gt 0 ]; do
    case "$1" in
        --nodes) nodes=$2; shift 2 ;;
        --clients) clients=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --deadline) deadline=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --snapshot-threshold) snap_threshold=$2; shift 2 ;;
        --snapshot-trailing) snap_trailing=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --dir) dir=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        --check) dir=$2; check_only=1; keep=1; shift 2 ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "soak: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$nodes" in 3|5) ;; *) echo "soak: --nodes must be 3 or 5" >&2; exit 2 ;; esac
[ -n "$deadline" ] || deadline=$((seconds + 240))

if [ -z "$bin" ] && [ $check_only = 0 ]; then
    "$top/deploy/deps.sh"
    bin="$top/build-asan"
    cmake -S "$top" -B "$bin" -DCMAKE_BUILD_TYPE=Debug -DICS_SANITIZE=ON >/dev/null
    cmake --build "$bin" -j "$(nproc)" --target icsd icsctl
fi
[ -n "$bin" ] || bin="$top/build-asan"
icsd="$bin/daemon/icsd"
icsctl="$bin/clients/icsctl"
[ -x "$icsd" ] && [ -x "$icsctl" ] || { echo "soak: no $icsd or $icsctl" >&2; exit 2; }
# The checker is Python; exit 77 tells ctest the smoke run was skipped.
command -v python3 >/dev/null || { echo "soak: needs python3 for the checker" >&2; exit 77; }

ALL=(QHM RTD RX4 E06000057 RX6)
KINDS=(icb foundation_trust mental_health local_authority ambulance)
ORGS=("${ALL[@]:0:$nodes}")
GROUP=soak
RANDOM=$seed

[ -n "$dir" ] || dir=$(mktemp -d /tmp/icsd-soak.XXXXXX)
mkdir -p "$dir/clients"
start_s=$(date +%s)
echo "soak: $nodes nodes, $clients clients, ${seconds}s of faults, deadline ${deadline}s," \
     "seed $seed, snapshots $snap_threshold/$snap_trailing, in $dir"

declare -A PID STATE   # STATE: up, killed, stopped
watchdog=""

cleanup() {
    local rc=$?
    [ -n "$watchdog" ] && kill $(pgrep -P "$watchdog") "$watchdog" 2>/dev/null || true
    touch "$dir/stop" 2>/dev/null || true
    for org in "${ORGS[@]}"; do
        p=${PID[$org]:-}
        [ -n "$p" ] || continue
        kill -CONT "$p" 2>/dev/null || true
        kill -TERM "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [ $keep = 0 ] && [ $rc = 0 ]; then
        rm -rf "$dir"
    else
        echo "soak: kept $dir"
    fi
    exit $rc
}
trap cleanup EXIT
# The hard deadline: the watchdog signals this shell, which fails the run.
trap 'echo "soak: FAIL: deadline of ${deadline}s passed" >&2; exit 1' USR1
( sleep "$deadline" && kill -USR1 $$ ) 2>/dev/null &
watchdog=$!

converged=1
if [ $check_only = 0 ]; then
# ---- the cluster ------------------------------------------------------------

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
base=$((20000 + RANDOM % 30000))
while :; do
    ok=1
    for i in $(seq 0 $((nodes - 1))); do port_free $((base + i)) || { ok=0; break; }; done
    [ $ok = 1 ] && break
    base=$((base + 7))
done

declare -A PUB
for i in "${!ORGS[@]}"; do
    org=${ORGS[$i]}
    PUB[$org]=$("$icsd" keygen "$dir/$org.key" 2>/dev/null)
done
for i in "${!ORGS[@]}"; do
    org=${ORGS[$i]}
    {
        echo "[node]"
        echo "org = $org"
        echo "key_file = $dir/$org.key"
        echo "listen = tcp://127.0.0.1:$((base + i))"
        echo "data_dir = $dir/$org.data"
        echo "control = ipc://$dir/$org.sock"
        echo
        echo "[raft]"
        echo "snapshot_threshold = $snap_threshold"
        echo "snapshot_trailing = $snap_trailing"
        # Clock ticks would keep the logs moving while they are compared.
        echo "tick_interval_ms = 86400000"
        echo
        echo "[group $GROUP]"
        echo "members = ${ORGS[*]}"
        echo "admin = ${ORGS[0]}"
        for j in "${!ORGS[@]}"; do
            o=${ORGS[$j]}
            echo
            echo "[org $o]"
            echo "kind = ${KINDS[$j]}"
            echo "name = Soak $o"
            echo "endpoint = tcp://127.0.0.1:$((base + j))"
            echo "public_key = ${PUB[$o]}"
        done
    } > "$dir/$org.conf"
    "$icsd" --check-config "$dir/$org.conf" >/dev/null
done

start_node() {
    local org=$1
    rm -f "$dir/$org.sock"
    "$icsd" -c "$dir/$org.conf" 2>>"$dir/$org.log" &
    PID[$org]=$!
    STATE[$org]=up
}
ctl() { local org=$1; shift; "$icsctl" -c "$dir/$org.conf" -g $GROUP "$@"; }
# The node that says it leads, among those running, or "".
leader() {
    local org
    for org in "${ORGS[@]}"; do
        [ "${STATE[$org]}" = up ] || continue
        if ctl "$org" --json -t 1000 status 2>/dev/null | tr -d ' \n' |
           grep -q '"role":"leader"'; then
            echo "$org"
            return
        fi
    done
}

for org in "${ORGS[@]}"; do start_node "$org"; done
for org in "${ORGS[@]}"; do
    for _ in $(seq 100); do [ -S "$dir/$org.sock" ] && break; sleep 0.1; done
done
for _ in $(seq 150); do [ -n "$(leader)" ] && break; sleep 0.2; done
[ -n "$(leader)" ] || { echo "soak: FAIL: no leader elected" >&2; exit 1; }

# ---- clients ----------------------------------------------------------------

# Client c submits unique texts, each through the next node in turn, and
# records every attempt: node, text, icsctl's exit status and its JSON
# outcome on one line. The checker counts a submission acknowledged when
# icsctl printed an outcome with its index.
client() {
    local c=$1 k=0 org out rc
    local record="$dir/clients/$c.out"
    : > "$record"
    while [ ! -e "$dir/stop" ]; do
        org=${ORGS[$(( (c + k) % nodes ))]}
        text="soak-c$c-$k"
        k=$((k + 1))
        rc=0
        out=$(timeout 30 "$icsctl" -c "$dir/$org.conf" -g $GROUP --json -t 8000 \
                  submit "$text" 2>>"$dir/clients/$c.err") || rc=$?
        printf '%s\t%s\t%s\t%s\n' "$org" "$text" "$rc" "$(printf '%s' "$out" | tr -d '\n')" \
            >> "$record"
        [ $rc = 0 ] || sleep 0.2
    done
}
cpids=()
for c in $(seq 1 "$clients"); do client "$c" & cpids+=($!); done

# ---- faults -----------------------------------------------------------------

# One fault at a time (two at once now and then on five nodes, never a
# majority): a random node, the leader half the time, is SIGKILLed and
# restarted after a while, or SIGSTOPped and resumed.
fault_end=$((start_s + seconds))
log_fault() { printf '%6ds %s\n' $(( $(date +%s) - start_s )) "$*" >> "$dir/faults.log"; }
while [ "$(date +%s)" -lt "$fault_end" ]; do
    sleep "$((1 + RANDOM % 3)).$((RANDOM % 10))"
    victims=()
    l=""
    if [ $((RANDOM % 2)) = 0 ]; then
        l=$(leader)
        [ -n "$l" ] && victims=("$l")
    fi
    [ ${#victims[@]} = 0 ] && victims=("${ORGS[$((RANDOM % nodes))]}")
    if [ "$nodes" = 5 ] && [ $((RANDOM % 4)) = 0 ]; then
        other=${ORGS[$((RANDOM % nodes))]}
        [ "$other" != "${victims[0]}" ] && victims+=("$other")
    fi
    for v in "${victims[@]}"; do
        if [ $((RANDOM % 2)) = 0 ]; then
            kill -KILL "${PID[$v]}" 2>/dev/null || true
            wait "${PID[$v]}" 2>/dev/null || true
            STATE[$v]=killed; log_fault "SIGKILL $v$([ "$v" = "$l" ] && echo ' (leader)')"
        else
            kill -STOP "${PID[$v]}" 2>/dev/null || true
            STATE[$v]=stopped; log_fault "SIGSTOP $v$([ "$v" = "$l" ] && echo ' (leader)')"
        fi
    done
    sleep "$((RANDOM % 5)).$((RANDOM % 10))"
    for v in "${victims[@]}"; do
        if [ "${STATE[$v]}" = killed ]; then
            start_node "$v"; log_fault "restart $v"
        else
            kill -CONT "${PID[$v]}" 2>/dev/null || true
            STATE[$v]=up; log_fault "SIGCONT $v"
        fi
    done
done

touch "$dir/stop"
echo "soak: faults over after $(( $(date +%s) - start_s ))s; waiting for the clients"
# Clients end within one submission's timeout of the stop file.
for p in "${cpids[@]}"; do wait "$p" 2>/dev/null || true; done

# ---- convergence ------------------------------------------------------------

# Every node up; wait until all report the same applied index, no history
# gap, and the same export.
for org in "${ORGS[@]}"; do
    kill -0 "${PID[$org]}" 2>/dev/null || { echo "soak: $org had exited; restarting" >&2; start_node "$org"; }
done
converged=0
for _ in $(seq 120); do
    sleep 1
    rm -f "$dir"/*.export
    ok=1
    for org in "${ORGS[@]}"; do
        st=$(ctl "$org" --json -t 2000 status 2>/dev/null) || { ok=0; break; }
        # A history gap left by a snapshot install must be backfilled.
        printf '%s' "$st" | tr -d ' \n' | grep -q '"missing":[1-9]' && { ok=0; break; }
        ctl "$org" -t 10000 log export "$dir/$org.export" 2>/dev/null || { ok=0; break; }
    done
    [ $ok = 1 ] || continue
    same=1
    for org in "${ORGS[@]:1}"; do
        cmp -s "$dir/${ORGS[0]}.export" "$dir/$org.export" || { same=0; break; }
    done
    [ $same = 1 ] && { converged=1; break; }
done
[ $converged = 1 ] || echo "soak: the exports did not become identical within 120 s" >&2

fi # check_only

# ---- check ------------------------------------------------------------------

for org in "${ORGS[@]}"; do
    [ -f "$dir/$org.export" ] || "$icsctl" -c "$dir/$org.conf" -t 10000 log export "$dir/$org.export" || true
done
verified=1
for org in "${ORGS[@]}"; do
    "$icsctl" log verify "$dir/$org.export" >/dev/null 2>"$dir/$org.verify" ||
        { verified=0; echo "soak: FAIL: $org's export does not verify: $(cat "$dir/$org.verify")" >&2; }
done

elapsed=$(( $(date +%s) - start_s ))
rc=0
python3 - "$dir" "$elapsed" "${ORGS[@]}" <<'EOF' || rc=1
import base64, glob, json, re, sys

d, elapsed = sys.argv[1:3]
orgs = sys.argv[3:]
faults = open(d + "/faults.log").read().split("\n") if glob.glob(d + "/faults.log") else []
kills = sum(" SIGKILL " in f for f in faults)
stops = sum(" SIGSTOP " in f for f in faults)
leader_faults = sum(f.endswith("(leader)") for f in faults)
bad = []

def fail(msg):
    if len(bad) < 30:
        print("soak: FAIL: " + msg, file=sys.stderr)
    bad.append(msg)

acks, submissions = [], 0
for f in glob.glob(d + "/clients/*.out"):
    for line in open(f):
        node, text, rc, out = line.rstrip("\n").split("\t", 3)
        submissions += 1
        try:
            a = json.loads(out)
        except ValueError:
            continue
        if isinstance(a, dict) and a.get("index", 0) > 0:
            a["node"], a["text"] = node, text
            acks.append(a)

logs, raw = {}, {}
for org in orgs:
    try:
        raw[org] = open(f"{d}/{org}.export", "rb").read()
    except OSError:
        fail(f"no export from {org}")
        continue
    lines = raw[org].decode().split("\n")
    entries = {}
    for ln in lines[1:]:
        if not ln.startswith("e "):
            continue
        _, pos, ar, eid, chain, clock, entry, reason = ln.split(" ")
        entries[int(pos)] = (ar, eid, chain, entry)
    logs[org] = entries

# Identical logs, whole.
ref = orgs[0]
for org in orgs[1:]:
    if org in raw and ref in raw and raw[org] != raw[ref]:
        a, b = logs[ref], logs[org]
        first = next((p for p in sorted(set(a) | set(b)) if a.get(p) != b.get(p)), None)
        fail(f"{org}'s export differs from {ref}'s ({len(b)} and {len(a)} entries;"
             f" first difference at index {first})")

# Every acknowledged submission at its index, on every node.
text_re = re.compile(rb"soak-c[0-9]+-[0-9]+")
for a in acks:
    for org, entries in logs.items():
        e = entries.get(a["index"])
        if e is None:
            fail(f"{org}: acknowledged {a['text']} (index {a['index']}) is missing")
        elif e[1] != a["entry_id"]:
            fail(f"{org}: index {a['index']} holds entry {e[1][:16]}, not acknowledged"
                 f" {a['text']} ({a['entry_id'][:16]})")
        elif (e[0] == "a") != a["accepted"]:
            fail(f"{org}: index {a['index']} outcome differs from the acknowledgement")
        else:
            m = text_re.search(base64.b64decode(e[3])) if e[3] != "-" else None
            if m is None or m.group().decode() != a["text"]:
                fail(f"{org}: index {a['index']} does not hold the text {a['text']}"
                     f" that was acknowledged there")

def envelope(b):
    """org (field 3) and seq (field 5) of an ics.v1.Envelope."""
    i, org, seq = 0, None, None
    def varint():
        nonlocal i
        v = s = 0
        while True:
            c = b[i]; i += 1
            v |= (c & 0x7f) << s; s += 7
            if c < 0x80:
                return v
    while i < len(b):
        key = varint()
        f, w = key >> 3, key & 7
        if w == 0:
            v = varint()
            if f == 5:
                seq = v
        elif w == 2:
            n = varint()
            if f == 3:
                org = b[i:i + n].decode()
            i += n
        else:
            return None, None
    return org, seq

# Nothing twice.
for org, entries in logs.items():
    ids, orgseq, texts = {}, {}, {}
    for pos in sorted(entries):
        ar, eid, _, entry = entries[pos]
        if eid in ids:
            fail(f"{org}: entry {eid[:16]} at indexes {ids[eid]} and {pos}")
        ids[eid] = pos
        if ar != "a" or entry == "-":
            continue
        b = base64.b64decode(entry)
        key = envelope(b)
        if key in orgseq:
            fail(f"{org}: {key[0]} seq {key[1]} accepted at indexes {orgseq[key]} and {pos}")
        orgseq[key] = pos
        m = text_re.search(b)
        if m:
            t = m.group().decode()
            if t in texts:
                fail(f"{org}: {t} accepted at indexes {texts[t]} and {pos}")
            texts[t] = pos

acked_ok = sum(1 for a in acks if a["accepted"])
print(f"soak: {submissions} submissions, {len(acks)} acknowledged ({acked_ok} accepted), "
      f"{submissions - len(acks)} not acknowledged; {kills} SIGKILLs, {stops} SIGSTOPs "
      f"({leader_faults} aimed at the leader); log {len(logs.get(ref, {}))} entries; "
      f"{elapsed} s")
print(f"soak: checked {len(acks)} acknowledgements on {len(logs)} nodes at their index; "
      f"{len(bad)} violations")
if not acks:
    fail("nothing was acknowledged")
sys.exit(1 if bad else 0)
EOF
[ $converged = 1 ] && [ $verified = 1 ] || rc=1
if [ $rc = 0 ]; then echo "soak: PASS"; else echo "soak: FAIL (seed $seed; faults in $dir/faults.log)"; fi
exit $rc
