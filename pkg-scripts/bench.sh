#!/usr/bin/env bash
# The budgets of DESIGN.md §4, measured: wasm size as served (raw/gzip/brotli), cold start in
# Chromium, 1-hop payment latency in Chromium vs our node native vs ldk-node → ldk-node, Esplora
# requests for an idle sync, peak JS heap with 1,000 payments; natively, a mainnet-sized RGS
# snapshot's size and apply time, the stored graph's size and route-finding time. Prints ONE
# markdown table on stdout (builds and progress go to stderr). Figures only, no assertion: not
# part of test.sh.
#
#   pkg-scripts/bench.sh                   # everything (the native bench builds for minutes)
#   BENCH_NATIVE=off pkg-scripts/bench.sh  # skip cargo bench (its row says n/a)
#   BENCH_ARGS="--payments 100" pkg-scripts/bench.sh
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/wasm-ln/target}
export CARGO_TERM_COLOR=never

{
  "$root/pkg-scripts/setup.sh"
  # The package exactly as npm users get it (pkg-scripts/build.sh).
  WASM_LN_SKIP_SETUP=1 "$root/pkg-scripts/build.sh"
  # One package per cargo invocation: the peer's ldk-node turns on lightning/std (DESIGN.md §3).
  cargo build -p regtest-esplora
  cargo build -p peer
  cargo build -p wasm-ln-proxy
} >&2

native=$(mktemp)
trap 'rm -f "$native"' EXIT
if [ "${BENCH_NATIVE:-on}" != off ]; then
  # crate/benches/pay_latency.rs prints one "1-hop payment latency (native, …)" line.
  WASM_LN_PEER_EXE="$CARGO_TARGET_DIR/debug/peer" \
    cargo bench -p wasm-ln --bench pay_latency 2>&1 | tee "$native" >&2 ||
    echo "bench: cargo bench failed; the native row says n/a" >&2
  # crate/benches/graph.rs prints the RGS snapshot, apply, stored-graph and route-finding lines.
  cargo bench -p wasm-ln --bench graph 2>&1 | tee -a "$native" >&2 ||
    echo "bench: cargo bench --bench graph failed; its rows say n/a" >&2
fi

# shellcheck disable=SC2086
node "$root/tests/e2e/bench.mjs" --native-output "$native" ${BENCH_ARGS:-}
