#!/usr/bin/env bash
# Installs everything the build, the tests and the demo need on a fresh Debian machine, and
# does nothing (quickly) when all of it is already there. Called by test.sh and demo.sh.
#
#   Debian: clang (secp256k1 for wasm32), cmake libboost-dev libevent-dev pkg-config (bitcoind),
#           chromium chromium-driver (browser tests), binaryen (wasm-opt), brotli, nodejs npm
#   Rust:   the wasm32-unknown-unknown target, wasm-bindgen-cli at Cargo.lock's wasm-bindgen version
#   Bitcoin Core: bitcoind + bitcoin-cli built by bitcoind.sh (cached outside the clone)
#   npm:    the packages of crate/js (tsc, wasm-opt), www/ and tests/e2e
set -euo pipefail
# rustup installs cargo, and cargo install puts wasm-bindgen, in ~/.cargo/bin.
export PATH="$HOME/.cargo/bin:$PATH"
root=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "setup: $*" >&2; }

# --- Debian packages -------------------------------------------------------------------------
need_cmd() { command -v "$1" >/dev/null 2>&1; }
need_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in clang cmake libboost-dev libevent-dev pkg-config chromium chromium-driver binaryen brotli python3 curl ca-certificates; do
  need_pkg "$p" || missing+=("$p")
done
need_cmd node || missing+=(nodejs)
need_cmd npm || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Rust toolchain pieces ---------------------------------------------------------------------
if ! need_cmd cargo; then
  say "cargo not found: install Rust with rustup first (https://rustup.rs)"; exit 1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

# wasm-bindgen-cli must match the wasm-bindgen in Cargo.lock exactly, or the runner and the
# bindings disagree. `--locked` fails here on a pinned dependency that is gone: install without it.
wb_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$root/Cargo.lock")
if [ -z "$wb_version" ]; then say "no wasm-bindgen in Cargo.lock"; exit 1; fi
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$wb_version" ]; then
  say "installing wasm-bindgen-cli $wb_version (have: ${have:-none}); takes a few minutes"
  cargo install --quiet --force wasm-bindgen-cli --version "$wb_version"
fi

# --- Bitcoin Core --------------------------------------------------------------------------------
"$root/pkg-scripts/bitcoind.sh" >/dev/null

# --- npm packages --------------------------------------------------------------------------------
for dir in "$root/crate/js" "$root/www" "$root/tests/e2e"; do
  [ -f "$dir/package.json" ] || continue
  stamp="$dir/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
    say "npm ci in ${dir#"$root"/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
