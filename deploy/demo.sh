#!/bin/sh
# Builds icsd and icsctl, then runs the main job: a five-organisation ICS on
# loopback walking through a real scenario (deploy/loopback-ics.sh).
#   deploy/demo.sh [loopback-ics.sh arguments...]
# It prints the URL of the ICB node's dashboard at the end; --keep leaves
# the nodes, and so the dashboard, running (loopback-ics.sh --help).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/deploy/deps.sh"
cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$top/build" -j "$(nproc)"
exec "$top/deploy/loopback-ics.sh" --bin "$top/build" "$@"
