#!/usr/bin/env bash
# Builds the npm package `wasm-ln` into pkg/ and packs it into pkg/wasm-ln-<version>.tgz:
# the wasm32 release build, wasm-bindgen (--target web; wasm-opt only on request, see below), the
# TypeScript wrapper (crate/js) compiled beside them, package.json and the npm README.
#
#   pkg-scripts/build.sh                # what demo.sh and test.sh run
#   WASM_OPT=-Oz pkg-scripts/build.sh   # also run wasm-opt with these flags (see below)
#
# Prints the tarball's path last. Sizes of the served wasm are in pkg-scripts/bench.sh.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ "${WASM_LN_SKIP_SETUP:-}" = 1 ] || "$root/pkg-scripts/setup.sh"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/wasm-ln/target}
pkg="$root/pkg"
say() { echo "build: $*" >&2; }

version=$(cargo metadata --format-version 1 --no-deps --manifest-path crate/Cargo.toml |
  python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="wasm-ln"))')

say "cargo build -p wasm-ln --target wasm32-unknown-unknown --release"
cargo build -p wasm-ln --target wasm32-unknown-unknown --release
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/wasm_ln.wasm"

rm -rf "$pkg"
mkdir -p "$pkg"
say "wasm-bindgen --target web"
# Without the name section (3 MB of function names) and the producers section.
wasm-bindgen --target web --remove-name-section --remove-producers-section \
  --out-dir "$pkg" --out-name wasm_ln "$wasm"

# The wasm class is internal (the wrapper is the API), but its declarations are read for the
# result types: drop its `[Symbol.dispose]`, which needs TypeScript's esnext lib in every app.
sed -i '/\[Symbol\.dispose\]()/d' "$pkg/wasm_ln.d.ts"

# No wasm-opt by default: measured on this crate, `wasm-opt -Oz` (binaryen 132 and Debian's
# 108 alike) makes the file 10 % smaller raw but 20 % bigger served: 8.58 MB raw / 2.05 MB
# gzip / 1.44 MB brotli straight from wasm-bindgen, against 7.77 / 2.47 / 1.69 MB after -Oz.
# Browsers download the compressed file, so that is what counts (DESIGN.md §4).
if [ -n "${WASM_OPT:-}" ]; then
  say "wasm-opt $WASM_OPT"
  # npm's binaryen (v132, crate/js/node_modules); the features rustc enables for wasm32.
  # shellcheck disable=SC2086
  "$root/crate/js/node_modules/.bin/wasm-opt" $WASM_OPT --strip-debug --strip-producers \
    --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
    --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
    "$pkg/wasm_ln_bg.wasm" -o "$pkg/wasm_ln_bg.opt.wasm"
  mv "$pkg/wasm_ln_bg.opt.wasm" "$pkg/wasm_ln_bg.wasm"
fi

say "tsc (crate/js)"
"$root/crate/js/node_modules/.bin/tsc" -p "$root/crate/js/tsconfig.json"

# wasm-bindgen's own package.json and .gitignore are not ours.
# The third-party libraries the package uses at run time (crate/js/src/vendor/*.ts re-export
# them) are bundled into pkg/vendor/*.js over tsc's output: the package then has no runtime
# dependency and works from a plain <script type="module"> with no bundler and no import map.
# Their declarations stay out: no public type may come from a vendored library.
if compgen -G "$root/crate/js/src/vendor/*.ts" >/dev/null; then
  say "esbuild (vendored libraries)"
  "$root/crate/js/node_modules/.bin/esbuild" "$root"/crate/js/src/vendor/*.ts --bundle --format=esm \
    --minify --target=es2020 --legal-comments=eof --log-level=warning --outdir="$pkg/vendor"
  rm -f "$pkg"/vendor/*.d.ts
fi

rm -f "$pkg/package.json" "$pkg/.gitignore"
cp "$root/crate/js/README.md" "$pkg/README.md"
python3 - "$pkg/package.json" "$version" <<'PY'
import json, sys
path, version = sys.argv[1], sys.argv[2]
pkg = {
    "name": "wasm-ln",
    "version": version,
    "description": "A self-custodial Lightning node in the browser: LDK + BDK compiled to WebAssembly",
    "license": "MIT OR Apache-2.0",
    "repository": {"type": "git", "url": "https://github.com/wasm-ln/wasm-ln"},
    "type": "module",
    "main": "./index.js",
    "types": "./index.d.ts",
    "exports": {
        ".": {"types": "./index.d.ts", "default": "./index.js"},
        "./checkout": {"types": "./checkout.d.ts", "default": "./checkout.js"},
        "./wasm": "./wasm_ln_bg.wasm",
        "./package.json": "./package.json",
    },
    # The wasm glue initialises itself only when asked; nothing runs at import time.
    # Importing the checkout defines <ln-checkout>: a bundler must not drop that import.
    "sideEffects": ["./checkout.js"],
    "files": ["*.js", "*.d.ts", "vendor/*.js", "wasm_ln_bg.wasm", "README.md"],
    "keywords": ["lightning", "bitcoin", "ldk", "wasm", "webln"],
}
with open(path, "w") as f:
    json.dump(pkg, f, indent=2)
    f.write("\n")
PY

say "npm pack"
(cd "$pkg" && npm pack --silent >/dev/null)
tarball="$pkg/wasm-ln-$version.tgz"
[ -f "$tarball" ] || { say "npm pack made no $tarball"; exit 1; }
say "$(ls -l "$pkg/wasm_ln_bg.wasm" | awk '{print $5}') bytes of wasm; $tarball"
echo "$tarball"
