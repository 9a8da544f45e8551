#!/usr/bin/env bash
# The demo: builds the npm package, the test network's binaries and the demo page, then starts
# bitcoind + regtest-esplora, a funded ldk-node peer and wasm-ln-proxy on free loopback ports
# and serves www/dist with its /config.json. Prints the URL and stays in the foreground;
# Ctrl-C stops everything it started. Each run is a fresh regtest chain.
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

# newer_than FILE PATHS...: true when FILE is missing or any file under PATHS is newer.
newer_than() {
  local file=$1; shift
  [ -f "$file" ] || return 0
  [ -n "$(find "$@" -newer "$file" -type f -not -path '*/node_modules/*' -print -quit 2>/dev/null)" ]
}

# --- the npm package (build.sh rebuilds pkg/ from scratch, so skip it when it is current) ----
tarball=$(ls "$root"/pkg/wasm-ln-*.tgz 2>/dev/null | head -n 1 || true)
if [ -z "$tarball" ] || newer_than "$tarball" crate/src crate/js/src crate/js/README.md crate/Cargo.toml \
  Cargo.lock pkg-scripts/build.sh; then
  say "building the npm package (pkg-scripts/build.sh)"
  tarball=$(WASM_LN_SKIP_SETUP=1 "$root/pkg-scripts/build.sh" | tail -n 1)
fi
[ -f "$tarball" ] || { say "no package tarball in pkg/"; exit 1; }

# --- the network's binaries: one package per cargo invocation (peer's ldk-node turns on
# lightning/std, which must never be unified into a wasm-ln build, DESIGN.md §3) ------------
for p in regtest-esplora peer wasm-ln-proxy; do
  say "cargo build -p $p"
  cargo build -p "$p"
done

# --- the page --------------------------------------------------------------------------------
# The package comes from the tarball, never from package.json: its hash changes every build and
# would break `npm ci`. A stamp says which tarball node_modules holds (npm keeps the 1985
# mtimes of the tarball's files, useless for comparing).
stamp=www/.wasm-ln-tarball
if newer_than "$stamp" "$tarball"; then
  say "npm install --no-save $(basename "$tarball") in www/"
  (cd www && npm install --no-save --no-audit --no-fund --loglevel=error "$tarball")
  touch "$stamp"
fi
if newer_than www/dist/index.html "$stamp" www/src www/index.html www/vite.config.ts www/tsconfig.json \
  www/package.json www/package-lock.json; then
  say "npm run build in www/"
  (cd www && npm run --silent build)
fi

# --- run: exec, so Ctrl-C reaches node, which stops the peer, the proxy and regtest-esplora
# (and with it bitcoind) in order --------------------------------------------------------------
exec node "$root/tests/e2e/lib/demo-server.mjs" --root "$root/www/dist" --target-dir "$CARGO_TARGET_DIR"
