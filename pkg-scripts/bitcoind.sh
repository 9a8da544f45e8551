#!/usr/bin/env bash
# Builds Bitcoin Core's `bitcoind` and `bitcoin-cli` from the source tree that the crates.io
# package `libbitcoinkernel-sys` ships (DESIGN.md §3), into a cache outside the clone keyed by
# the crate version. Instant when the binaries are already there. Prints the bitcoind path last.
#
# Needs: cmake, a C++ compiler, libboost-dev, libevent-dev, pkg-config (setup.sh installs them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
manifest="$here/bitcoin-core-src/Cargo.toml"
cache_root=${WASM_LN_CACHE:-$HOME/.cache/wasm-ln}

# Find the crate's source through cargo metadata (downloads it if needed), never a fixed path.
crate_manifest=$(cargo metadata --format-version 1 --manifest-path "$manifest" --locked 2>/dev/null |
  python3 -c 'import json,sys
m=json.load(sys.stdin)
print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="libbitcoinkernel-sys"))')
crate_dir=$(dirname "$crate_manifest")
version=$(basename "$crate_dir" | sed 's/^libbitcoinkernel-sys-//')
src="$crate_dir/bitcoin"
out="$cache_root/bitcoind/libbitcoinkernel-sys-$version"
bin="$out/build/bin"

if [ -x "$bin/bitcoind" ] && [ -x "$bin/bitcoin-cli" ]; then
  echo "bitcoind: cached ($("$bin/bitcoind" -version | head -1)): $bin/bitcoind, $bin/bitcoin-cli" >&2
  echo "$bin/bitcoind"
  exit 0
fi

echo "bitcoind: building Bitcoin Core from $src into $out (about 8 minutes on 2 cores)" >&2
mkdir -p "$out"
start=$(date +%s)
# Flags that work with what the crate ships: no wallet, zmq, GUI or ASMap data in it.
cmake -S "$src" -B "$out/build" -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_DAEMON=ON -DBUILD_CLI=ON -DENABLE_WALLET=OFF -DWITH_ZMQ=OFF \
  -DWITH_EMBEDDED_ASMAP=OFF -DENABLE_IPC=OFF -DBUILD_GUI=OFF -DBUILD_TESTS=OFF \
  -DBUILD_BENCH=OFF -DBUILD_FUZZ_BINARY=OFF -DBUILD_TX=OFF -DBUILD_UTIL=OFF \
  -DBUILD_WALLET_TOOL=OFF -DBUILD_KERNEL_LIB=OFF -DBUILD_BITCOIN_BIN=OFF \
  -DENABLE_EXTERNAL_SIGNER=OFF >"$out/configure.log" 2>&1 ||
  { tail -40 "$out/configure.log" >&2; exit 1; }
cmake --build "$out/build" --target bitcoind bitcoin-cli -j"$(nproc)" >"$out/build.log" 2>&1 ||
  { tail -40 "$out/build.log" >&2; exit 1; }
echo "bitcoind: built in $(( $(date +%s) - start ))s ($("$bin/bitcoind" -version | head -1)): $bin/bitcoind, $bin/bitcoin-cli" >&2
echo "$bin/bitcoind"
