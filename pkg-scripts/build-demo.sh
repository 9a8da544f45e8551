#!/usr/bin/env bash
# Builds the demo pages (www/dist: the wallet, the shop) against the npm package, each only when its sources changed:
# the package with pkg-scripts/build.sh, then the page with Vite against the packed tarball.
# demo.sh and the e2e tests (tests/e2e/wallet.test.mjs) run it; it runs no setup (setup.sh
# installs www/'s npm packages). Prints the tarball's path last.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/wasm-ln/target}
say() { echo "build-demo: $*" >&2; }

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

# --- the page --------------------------------------------------------------------------------
# The package comes from the tarball, never from package.json: its hash changes every build and
# would break `npm ci`. A stamp says which tarball node_modules holds (npm keeps the 1985
# mtimes of the tarball's files, useless for comparing).
stamp=www/.wasm-ln-tarball
# (`npm ci` or `npm install` in www/ removes the package the stamp speaks of.)
if newer_than "$stamp" "$tarball" || [ ! -d www/node_modules/wasm-ln ]; then
  say "npm install --no-save $(basename "$tarball") in www/"
  (cd www && npm install --no-save --no-audit --no-fund --loglevel=error "$tarball") >&2
  touch "$stamp"
fi
if newer_than www/dist/index.html "$stamp" www/src www/index.html www/shop.html www/vite.config.ts www/tsconfig.json \
  www/package.json www/package-lock.json; then
  say "npm run build in www/"
  (cd www && npm run --silent build) >&2
fi
echo "$tarball"
