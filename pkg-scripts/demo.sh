#!/usr/bin/env bash
# The demo: builds the npm package, the test network's binaries and the pages (www/), then
# starts bitcoind + regtest-esplora, the test network of issue #16 (an ldk-node LSP with LSPS2,
# a merchant and carol, announced channels LSP→merchant→carol; the merchant also serves
# LNURL-pay and a Lightning address) and wasm-ln-proxy on free loopback ports, and serves
# www/dist with its /config.json: the wallet at /, the shop at /shop.html. Prints both URLs and
# the merchant's Lightning address, and stays in the foreground; Ctrl-C stops everything it
# started. Each run is a fresh regtest chain.
#
#   pkg-scripts/demo.sh              # DEMO_PORT=8080 pkg-scripts/demo.sh for a fixed port
#
# A second run rebuilds only what changed (cargo and npm are incremental; the package and the
# page are skipped when they are newer than their sources). Nothing is downloaded beyond what
# setup.sh installs.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/wasm-ln/target}
say() { echo "demo: $*" >&2; }

"$root/pkg-scripts/setup.sh"
BITCOIND_EXE=${BITCOIND_EXE:-$("$root/pkg-scripts/bitcoind.sh" 2>/dev/null)}
export BITCOIND_EXE

# The package and the page, each rebuilt only when its sources changed.
"$root/pkg-scripts/build-demo.sh" >/dev/null

# --- the network's binaries: one package per cargo invocation (peer's ldk-node turns on
# lightning/std, which must never be unified into a wasm-ln build, DESIGN.md §3) ------------
for p in regtest-esplora peer wasm-ln-proxy; do
  say "cargo build -p $p"
  cargo build -p "$p"
done

# --- run: exec, so Ctrl-C reaches node, which stops the peer, the proxy and regtest-esplora
# (and with it bitcoind) in order --------------------------------------------------------------
exec node "$root/tests/e2e/lib/demo-server.mjs" --root "$root/www/dist" --target-dir "$CARGO_TARGET_DIR"
