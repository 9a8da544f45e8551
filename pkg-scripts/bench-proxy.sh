#!/usr/bin/env bash
# Bench for wasm-ln-proxy (issue #9): ramps to $BENCH_CONNECTIONS (default 9000) concurrent
# relayed WebSocket connections on loopback through a release build of the proxy pinned to one
# core with a single-threaded runtime, then prints RSS per idle connection, relay throughput
# and the p50/p99 latency the proxy adds to a 1 KB round trip.
#
# Budgets: 9,000 connections on one core, <= 64 KB RSS per idle connection, <= 1 ms added p50.
# Only loopback traffic. Bounded in time; every process it starts is killed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${BENCH_CONNECTIONS:-9000}
PROXY_PORT=${BENCH_PROXY_PORT:-18735}
ECHO_PORT=${BENCH_ECHO_PORT:-19735}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/wasm-ln/target}
WORK=$(mktemp -d)

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cargo build --profile native-release -p wasm-ln-proxy --bin wasm-ln-proxy --example bench
BIN=$CARGO_TARGET_DIR/native-release

# The proxy holds two descriptors per relayed connection.
ulimit -n "$(ulimit -Hn)"
echo "open-files limit: $(ulimit -n)"

CPUS=$(nproc)
OTHER=$(( CPUS > 1 ? 1 : 0 ))

wait_port() { # host port
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "port $1:$2 did not open" >&2
  return 1
}

taskset -c "$OTHER" "$BIN/examples/bench" echo --listen "127.0.0.2:$ECHO_PORT" >"$WORK/echo.log" 2>&1 &
PIDS+=($!)
RUST_LOG=${RUST_LOG:-info} taskset -c 0 "$BIN/wasm-ln-proxy" \
  --listen "127.0.0.1:$PROXY_PORT" --allow-private --allow-port "$ECHO_PORT" \
  --max-connections $((N + 100)) --max-connections-per-ip $((N + 100)) \
  --worker-threads 1 --idle-timeout 10m >"$WORK/proxy.log" 2>&1 &
PROXY_PID=$!
PIDS+=("$PROXY_PID")
wait_port 127.0.0.2 "$ECHO_PORT"
wait_port 127.0.0.1 "$PROXY_PORT"

echo "proxy pid $PROXY_PID pinned to CPU 0, single-threaded runtime; load+echo on CPU $OTHER; $N connections"
timeout 600 taskset -c "$OTHER" "$BIN/examples/bench" load \
  --proxy "127.0.0.1:$PROXY_PORT" --echo "127.0.0.2:$ECHO_PORT" \
  --connections "$N" --proxy-pid "$PROXY_PID" --source-ips 127.0.0.3,127.0.0.4,127.0.0.5

# Graceful shutdown: SIGTERM, the proxy closes its relays and exits. (The load generator has
# exited; give the proxy a moment to see those clients go first.)
sleep 2
kill -TERM "$PROXY_PID"
for _ in $(seq 1 100); do kill -0 "$PROXY_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$PROXY_PID" 2>/dev/null; then echo "proxy still running 10 s after SIGTERM" >&2; fi
echo "proxy log: $(grep -c 'relay closed' "$WORK/proxy.log" || true) 'relay closed' lines, by close_reason:"
grep -o 'close_reason="[a-z_]*"' "$WORK/proxy.log" | sort | uniq -c || true
tail -n 1 "$WORK/proxy.log"
if [ -n "${BENCH_PROXY_LOG:-}" ]; then cp "$WORK/proxy.log" "$BENCH_PROXY_LOG"; fi
