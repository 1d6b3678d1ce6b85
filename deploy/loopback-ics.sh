#!/bin/bash
# Runs a five-organisation ICS (North East and North Cumbria) on loopback,
# with a regional group for escalated mutual aid (two more nodes), and walks
# through what its partners do with icsd. Every node is a real icsd process
# with its own key, configuration and data directory.
#
#   deploy/loopback-ics.sh [--bin DIR] [--dir DIR] [--keep]
#
#   --bin DIR   where icsd and icsctl are (default: build/ of this tree)
#   --dir DIR   working directory for keys, configs, data, logs
#               (default: demo/ of this tree; wiped first)
#   --keep      leave the nodes running at the end (stop with: kill $(cat DIR/*.pid)),
#               and with them the ICB's dashboard (its URL is printed)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/build"
dir="$top/demo"
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin=$2; shift 2 ;;
        --dir) dir=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "loopback-ics: unknown argument $1" >&2; exit 2 ;;
    esac
done
icsd="$bin/daemon/icsd"
icsctl="$bin/clients/icsctl"
[ -x "$icsd" ] && [ -x "$icsctl" ] || { echo "loopback-ics: build first (no $icsd)" >&2; exit 1; }

ORGS=(QHM RTD RX4 E06000057 RX6)
# A regional group for escalated mutual aid: the ICB and NEAS (in both
# groups) with a neighbouring ICB and ambulance service (only in it).
REGION=(QHM RX6 QE1 RX7)
ALL=("${ORGS[@]}" QE1 RX7)
declare -A KIND=([QHM]=icb [RTD]=foundation_trust [RX4]=mental_health
                 [E06000057]=local_authority [RX6]=ambulance [QE1]=icb [RX7]=ambulance)
declare -A NAME=([QHM]="NHS North East and North Cumbria ICB"
                 [RTD]="The Newcastle upon Tyne Hospitals NHS Foundation Trust"
                 [RX4]="Cumbria, Northumberland, Tyne and Wear NHS Foundation Trust"
                 [E06000057]="Northumberland County Council"
                 [RX6]="North East Ambulance Service NHS Foundation Trust"
                 [QE1]="NHS Lancashire and South Cumbria ICB"
                 [RX7]="North West Ambulance Service NHS Trust")
in_list() { local x=$1; shift; for y in "$@"; do [ "$x" = "$y" ] && return 0; done; return 1; }
declare -A PORT PUB

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }
# Each organisation's people keep their own keys (icsctl keys person-gen);
# here, one directory per organisation stands for their home directories.
ctl() { local org=$1; shift; ICSD_PERSON_DIR="$dir/people-$org" "$icsctl" -c "$dir/$org.conf" "$@"; }

# person ORG GROUP PERSON NAME [TITLE]: PERSON makes their own key and
# their organisation registers it in GROUP: its first person there alone,
# as its administrator (--admin); the others signed by that administrator.
person() {
    local org=$1 group=$2 p=$3 name=$4 title=${5:-} pd="$dir/people-$1" by=()
    mkdir -p "$pd"
    if [ ! -f "$pd/$p.pub" ]; then
        printf '\033[2m$ icsctl keys person-gen %s\033[0m\n' "$p" >&2
        ICSD_PERSON_DIR="$pd" "$icsctl" keys person-gen "$p" >"$pd/$p.pub" 2>/dev/null
    fi
    if [ -f "$pd/admin-$group" ]; then
        by=(--as "$(cat "$pd/admin-$group")")
    fi
    printf '\033[2m$ icsctl -c %s.conf --group %s %s people register %s --name "%s" --key %s%s\033[0m\n' \
        "$org" "$group" "${by[*]}" "$p" "$name" "$(cat "$pd/$p.pub")" \
        "$([ ${#by[@]} = 0 ] && echo " --admin")" >&2
    if [ ${#by[@]} = 0 ]; then
        ctl "$org" --group "$group" people register "$p" --name "$name" --title "$title" \
            --key "$(cat "$pd/$p.pub")" --admin && echo "$p" >"$pd/admin-$group"
    else
        ctl "$org" --group "$group" "${by[@]}" people register "$p" --name "$name" \
            --title "$title" --key "$(cat "$pd/$p.pub")"
    fi
}

# Free loopback ports: a base where the next ${#ALL[@]} are all unused.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
base=$((20000 + RANDOM % 30000))
while :; do
    ok=1
    for i in $(seq 0 ${#ALL[@]}); do port_free $((base + i)) || { ok=0; break; }; done
    [ $ok = 1 ] && break
    base=$((base + 7))
done

dash_port=$((base + ${#ALL[@]}))
rm -rf "$dir"
mkdir -p "$dir"
cleanup() {
    [ $keep = 1 ] && return
    for org in "${ALL[@]}"; do
        [ -f "$dir/$org.pid" ] && kill "$(cat "$dir/$org.pid")" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT

say "Each organisation generates its identity key"
i=0
for org in "${ALL[@]}"; do
    PORT[$org]=$((base + i)); i=$((i + 1))
    PUB[$org]=$("$icsd" keygen "$dir/$org.key" 2>/dev/null)
    printf '  %-10s %s\n' "$org" "${PUB[$org]}"
done

say "Each writes its configuration with every partner's endpoint and public key"
for org in "${ALL[@]}"; do
    known=("${ORGS[@]}")
    in_list "$org" "${ORGS[@]}" || known=("${REGION[@]}")
    in_list "$org" "${ORGS[@]}" && in_list "$org" "${REGION[@]}" && known=("${ALL[@]}")
    {
        echo "# icsd configuration for ${NAME[$org]}"
        echo "[node]"
        echo "org = $org"
        echo "key_file = $org.key"
        echo "listen = tcp://127.0.0.1:${PORT[$org]}"
        echo "data_dir = $org.data"
        echo "control = ipc://$org.sock"
        # The ICB's node serves the read-only dashboard on loopback.
        [ "$org" = QHM ] && printf 'http = 127.0.0.1:%s\n\n[http]\ndashboard = yes\n' "$dash_port"
        echo
        echo "[raft]"
        echo "tick_interval_ms = 5000"
        echo "checkpoint_interval = 16"
        echo
        if in_list "$org" "${ORGS[@]}"; then
            echo "[group nenc]"
            echo "members = ${ORGS[*]}"
            echo "admin = QHM"
            in_list "$org" "${REGION[@]}" && echo "escalate_to = ne-region"
        fi
        if in_list "$org" "${REGION[@]}"; then
            echo
            echo "[group ne-region]"
            echo "members = ${REGION[*]}"
            echo "admin = QHM"
        fi
        for o in "${known[@]}"; do
            echo
            echo "[org $o]"
            echo "kind = ${KIND[$o]}"
            echo "name = ${NAME[$o]}"
            echo "endpoint = tcp://127.0.0.1:${PORT[$o]}"
            echo "public_key = ${PUB[$o]}"
        done
    } > "$dir/$org.conf"
    "$icsd" --check-config "$dir/$org.conf"
done

say "Start the nodes: five in nenc, two more only in the regional group ne-region"
for org in "${ALL[@]}"; do
    "$icsd" -c "$dir/$org.conf" 2>"$dir/$org.log" &
    echo $! > "$dir/$org.pid"
done
for org in "${ALL[@]}"; do
    for _ in $(seq 100); do [ -S "$dir/$org.sock" ] && break; sleep 0.1; done
done

leader=""
for _ in $(seq 100); do
    leader=$(ctl QHM status 2>/dev/null | sed -n 's/^group nenc: .*leader \([A-Z0-9-]*\)$/\1/p')
    [ -n "$leader" ] && [ "$leader" != "(none)" ] && break
    sleep 0.2
done
[ -n "$leader" ] || { echo "loopback-ics: no leader elected" >&2; tail "$dir"/*.log >&2; exit 1; }
echo "  leader elected: $leader"
# Wait until every peer has answered a signed ping.
for _ in $(seq 50); do
    ctl RX6 status | grep -q disconnected || break
    sleep 0.2
done

say "Status on each node: peers authenticated over CURVE, round-trip times"
for org in "${ORGS[@]}"; do
    run "$icsctl" -c "$dir/$org.conf" status
    echo
done

say "Partners submit signed entries to their own node; followers forward to the leader"
run "$icsctl" -c "$dir/RTD.conf" submit "Bed base review ready for the ICB" --note "acute"
run "$icsctl" -c "$dir/E06000057.conf" submit "Discharge to assess: 40 packages funded"
run "$icsctl" -c "$dir/RX6.conf" --group nenc submit "Handover delays above 60 minutes at RVI"

say "A retry with the same token is applied once"
token=0123456789abcdef0123456789abcdef
run "$icsctl" -c "$dir/RX4.conf" --token $token submit "Crisis line staffing confirmed"
run "$icsctl" -c "$dir/RX4.conf" --token $token submit "Crisis line staffing confirmed"

say "The audit log, the same on every node"
run "$icsctl" -c "$dir/QHM.conf" --group nenc log tail -n 8
run "$icsctl" -c "$dir/RX6.conf" --group nenc log show 3

say "Export the log and verify it offline"
run "$icsctl" -c "$dir/E06000057.conf" log export "$dir/nenc-log.txt"
run "$icsctl" log verify "$dir/nenc-log.txt"

. "$top/deploy/walkthrough-winter.sh"
walkthrough_winter
. "$top/deploy/walkthrough-plans.sh"
walkthrough_plans

say "Kill the leader ($leader); the others elect a new one and carry on"
kill -9 "$(cat "$dir/$leader.pid")"
other=RTD; [ "$leader" = RTD ] && other=RX4
run "$icsctl" -c "$dir/$other.conf" --timeout 10000 submit "Submitted while $leader was down"
"$icsd" -c "$dir/$leader.conf" 2>>"$dir/$leader.log" &
echo $! > "$dir/$leader.pid"
for _ in $(seq 100); do [ -S "$dir/$leader.sock" ] && break; sleep 0.1; done
sleep 2
run "$icsctl" -c "$dir/$leader.conf" --group nenc log tail -n 3

say "Done"
echo "  keys, configurations, data and logs are in $dir"
echo "  dashboard (the ICB's node, read-only): http://127.0.0.1:$dash_port/"
echo "  public register (static files, for any web server): $dir/register/index.html"
[ $keep = 1 ] && echo "  nodes left running; stop them with: kill \$(cat $dir/*.pid)"
[ $keep = 1 ] || echo "  (run with --keep to leave the nodes and the dashboard up)"
exit 0
