#!/bin/sh
# Benchmark: builds an optimised icsd and runs icsd-bench, which starts a
# loopback cluster and prints committed submissions/s and p50/p90/p99
# latency. Defaults: 3 nodes, 4 clients, 10 s. Examples:
#   deploy/bench.sh
#   deploy/bench.sh --clients 16 --seconds 30
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/deploy/deps.sh"
cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$top/build" -j "$(nproc)" --target icsd-bench icsd icsctl
exec "$top/build/tests/icsd-bench" "$@"
