#!/usr/bin/env bash
# Every test of the project: formatting, clippy on both targets, the no-`lightning/std` check,
# the wasm32 release build, the native tests of each package, the browser tests in headless
# Chromium, and any JS/e2e suites present. One summary line per suite; the last line is
# `N passed, N failed`, counting each test of a test suite and each check as one.
# Exits non-zero on any failure.
set -uo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

"$root/pkg-scripts/setup.sh" || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

# A target dir outside the clone, shared by every clone on this machine: reruns stay warm.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/wasm-ln/target}
export CARGO_TERM_COLOR=never
logs=${WASM_LN_TEST_LOGS:-$CARGO_TARGET_DIR/test-logs}
export WASM_LN_TEST_LOGS=$logs   # the JS e2e save their screenshots under it
mkdir -p "$logs"
# The run's own temporary directory, removed when it ends: chromedriver leaves each Chromium
# profile it started behind (about 85 MB apiece), and a killed test its bitcoind datadir.
run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/wasm-ln-test.XXXXXX")
export TMPDIR=$run_tmp
BITCOIND_EXE=${BITCOIND_EXE:-$("$root/pkg-scripts/bitcoind.sh" 2>/dev/null)}
export BITCOIND_EXE

passed=0
failed=0
failed_suites=()
# Processes the tests start (bitcoind, the ldk-node peer) must die with them.
procs() { { pgrep -x bitcoind; pgrep -x peer; } | sort || true; }
procs_before=$(procs)

# run NAME KIND CMD...: KIND is "tests" (count cargo's `test result:` lines) or "check" (one).
run() {
  local name=$1 kind=$2; shift 2
  local log="$logs/$name.log" start rc p=0 f=0
  start=$(date +%s)
  "$@" >"$log" 2>&1
  rc=$?
  if [ "$kind" = tests ]; then
    # cargo test and wasm-bindgen-test-runner both print `test result: ok. N passed; M failed`.
    read -r p f < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
                        END { print p + 0, f + 0 }' "$log")
    # node --test (the JS suites) ends with `# pass N` and `# fail N` instead.
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
      read -r p f < <(awk '/^# pass / { p += $3 } /^# fail / { f += $3 } END { print p + 0, f + 0 }' "$log")
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # a build error or crash counts as a failure
    if [ "$rc" -eq 0 ] && [ "$p" -eq 0 ]; then f=1; rc=1; echo "ran no test" >>"$log"; fi
  else
    if [ "$rc" -eq 0 ]; then p=1; else f=1; fi
  fi
  passed=$((passed + p)); failed=$((failed + f))
  local took=$(( $(date +%s) - start ))
  if [ "$rc" -eq 0 ]; then
    printf 'suite %-26s ok      %4d passed  %4ds\n' "$name" "$p" "$took"
  else
    failed_suites+=("$name")
    printf 'suite %-26s FAILED  %4d passed %3d failed  %4ds  (log: %s)\n' "$name" "$p" "$f" "$took" "$log"
    # What failed first (cargo's per-test output, node's `not ok`), then the end of the log:
    # CI shows only what this prints.
    grep -E -A14 '^---- .* stdout ----|panicked at|^ *(✖|not ok) ' "$log" | head -n 80 | sed 's/^/    ! /'
    tail -n 40 "$log" | sed 's/^/    | /'
  fi
}

no_lightning_std() {
  # Feature unification must never turn on lightning/std for wasm-ln (DESIGN.md §1, §6):
  # neither in the browser build nor in the native test build (dev-dependencies included).
  local out
  for target in "" "--target wasm32-unknown-unknown"; do
    # shellcheck disable=SC2086
    out=$(cargo tree -p wasm-ln $target -e features,normal,dev -i lightning) || return 1
    echo "== cargo tree -p wasm-ln $target -i lightning"; echo "$out"
    if echo "$out" | grep -q 'lightning feature "std"'; then echo "lightning/std is enabled"; return 1; fi
  done
}

run fmt                   check cargo fmt --all --check
run no-lightning-std      check no_lightning_std
# wasm-ln alone, the rest together: one cargo invocation unifies features across the packages
# it builds, and wasm-ln must be built with exactly its own (DESIGN.md §3).
run clippy-wasm-ln        check cargo clippy -p wasm-ln --all-targets -- -D warnings
run clippy-wasm-ln-wasm32 check cargo clippy -p wasm-ln --target wasm32-unknown-unknown --all-targets -- -D warnings
run clippy-others         check cargo clippy --workspace --exclude wasm-ln --all-targets -- -D warnings
run wasm32-release-build  check cargo build -p wasm-ln --target wasm32-unknown-unknown --release
# The npm package (pkg/, packed to pkg/wasm-ln-<version>.tgz): the JS e2e below import it, and
# the example that calls every public method must type-check against its declarations.
run npm-package           check env WASM_LN_SKIP_SETUP=1 pkg-scripts/build.sh
run tsc-example           check crate/js/node_modules/.bin/tsc -p crate/js/example/tsconfig.json
# wasm-ln's node tests (crate/tests/node.rs) drive a real ldk-node `peer` process: build it
# first, in its own invocation (it turns on lightning/std, DESIGN.md §3).
run build-peer            check cargo build -p peer
run test-wasm-ln          tests cargo test -p wasm-ln --no-fail-fast
run test-regtest-esplora  tests cargo test -p regtest-esplora
run test-proxy            tests cargo test -p wasm-ln-proxy
# ldk-node, in its own invocation: it turns on lightning/std (DESIGN.md §3).
run test-peer             tests cargo test -p peer

# Browser tests: wasm-bindgen-test in headless Chromium through chromedriver. Chromium's flags
# (root needs --no-sandbox; no background traffic) are in crate/webdriver.json.
run test-wasm-ln-chromium tests env CHROMEDRIVER=/usr/bin/chromedriver \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  WASM_BINDGEN_TEST_TIMEOUT=180 \
  cargo test -p wasm-ln --target wasm32-unknown-unknown
# The panic hook (crate/src/wasm/panic.rs) through the `testPanic()` export of the feature
# `test-panic`, which the npm package never has: a Rust panic is logged and every later call
# rejects with INTERNAL. Its own wasm instance: the panic poisons it.
run test-wasm-ln-chromium-panic tests env CHROMEDRIVER=/usr/bin/chromedriver \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  WASM_BINDGEN_TEST_TIMEOUT=180 \
  cargo test -p wasm-ln --target wasm32-unknown-unknown --features test-panic --test web_panic

# Browser end-to-end (feature `e2e`): our PeerManager in Chromium reaches a real ldk-node peer
# through wasm-ln-proxy (crate/tests/web_transport.rs), and a whole node on IndexedDB funds,
# opens, pays, restarts and closes against it (crate/tests/web_node.rs). This suite starts
# regtest-esplora (with its bitcoind), the peer and the proxy on free loopback ports, passes
# their addresses to the test at compile time, and stops all three afterwards.
e2e_pids=()
e2e_stop() {
  local p i
  [ -n "${e2e_stdin_fd:-}" ] && { exec {e2e_stdin_fd}>&-; e2e_stdin_fd=; }
  for p in "${e2e_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${e2e_pids[@]}"; do
    for i in $(seq 1 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  e2e_pids=()
}
trap 'e2e_stop; rm -rf "$run_tmp"' EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_line FILE PID WHAT: waits (at most 120 s) for FILE's first line while PID runs.
wait_line() {
  local i
  for i in $(seq 1 1200); do
    if [ -s "$1" ] && head -n 1 "$1" | grep -q '}'; then head -n 1 "$1"; return 0; fi
    kill -0 "$2" 2>/dev/null || { echo "$3 exited before it was ready" >&2; return 1; }
    sleep 0.1
  done
  echo "$3 was not ready within 120 s" >&2
  return 1
}

e2e_suite() {
  local dir esplora_port proxy_port dead_port line peer_id peer_addr peer_port quiet_id quiet_port i
  # One package per cargo invocation: peer's ldk-node turns on lightning/std (DESIGN.md §3).
  cargo build -p regtest-esplora || return 1
  cargo build -p peer || return 1
  cargo build -p wasm-ln-proxy || return 1
  dir=$(mktemp -d)
  esplora_port=$(free_port) && proxy_port=$(free_port) && dead_port=$(free_port) || return 1

  "$CARGO_TARGET_DIR/debug/regtest-esplora" --listen "127.0.0.1:$esplora_port" \
    >"$dir/esplora.out" 2>"$dir/esplora.err" &
  e2e_pids+=($!)
  wait_line "$dir/esplora.out" $! regtest-esplora || { cat "$dir/esplora.err"; return 1; }
  echo "regtest-esplora on 127.0.0.1:$esplora_port"

  # The peer also exits when its stdin (a FIFO we hold open) closes.
  mkfifo "$dir/peer.in"
  "$CARGO_TARGET_DIR/debug/peer" --regtest-esplora "http://127.0.0.1:$esplora_port" \
    --exit-on-stdin-close <"$dir/peer.in" >"$dir/peer.out" 2>"$dir/peer.err" &
  e2e_pids+=($!)
  exec {e2e_stdin_fd}>"$dir/peer.in"
  line=$(wait_line "$dir/peer.out" $! peer) || { cat "$dir/peer.err"; return 1; }
  echo "peer: $line"
  peer_id=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["node_id"])' "$line") || return 1
  peer_addr=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["p2p_address"])' "$line") || return 1
  peer_port=${peer_addr##*:}

  # A peer that answers our init and then stays silent (#14 item 13); exits with our FIFO too.
  node crate/tests/common/quiet_peer.mjs <"$dir/peer.in" {e2e_stdin_fd}>&- >"$dir/quiet.out" 2>"$dir/quiet.err" &
  e2e_pids+=($!)
  line=$(wait_line "$dir/quiet.out" $! quiet-peer) || { cat "$dir/quiet.err"; return 1; }
  quiet_id=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["node_id"])' "$line") || return 1
  quiet_port=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["port"])' "$line") || return 1

  "$CARGO_TARGET_DIR/debug/wasm-ln-proxy" --listen "127.0.0.1:$proxy_port" --allow-private \
    --allow-port "$peer_port" --allow-port "$quiet_port" --worker-threads 1 {e2e_stdin_fd}>&- >"$dir/proxy.log" 2>&1 &
  e2e_pids+=($!)
  for i in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$proxy_port") 2>/dev/null && break
    kill -0 "${e2e_pids[-1]}" 2>/dev/null || { cat "$dir/proxy.log"; return 1; }
    [ "$i" -eq 300 ] && { echo "proxy not listening within 30 s"; return 1; }
    sleep 0.1
  done
  echo "proxy on 127.0.0.1:$proxy_port"

  env CHROMEDRIVER=/usr/bin/chromedriver \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    WASM_BINDGEN_TEST_TIMEOUT=600 \
    WASM_LN_TEST_ESPLORA_URL="http://127.0.0.1:$esplora_port" \
    WASM_LN_TEST_PROXY_URL="ws://127.0.0.1:$proxy_port" \
    WASM_LN_TEST_PEER="$peer_id@127.0.0.1:$peer_port" \
    WASM_LN_TEST_DEAD_URL="ws://127.0.0.1:$dead_port" \
    WASM_LN_TEST_QUIET_PEER="$quiet_id@127.0.0.1:$quiet_port" \
    cargo test -p wasm-ln --target wasm32-unknown-unknown --features e2e --test web_transport --test web_node
  local rc=$?
  e2e_stop
  echo "== proxy log"; tail -n 20 "$dir/proxy.log"
  rm -rf "$dir"
  return $rc
}
run test-wasm-ln-chromium-e2e tests e2e_suite
e2e_stop

for dir in www tests/e2e; do
  if [ -f "$dir/package.json" ] && grep -q '"test"' "$dir/package.json"; then
    run "npm-${dir//\//-}" tests npm --prefix "$dir" test
  fi
done

# No bitcoind or peer the suite started may outlive it.
leaked=$(comm -13 <(echo "$procs_before") <(procs) | tr '\n' ' ')
if [ -n "${leaked// /}" ]; then
  echo "suite no-leaked-processes    FAILED  still running: $(ps -o pid=,comm= -p "$(echo $leaked | tr ' ' ',')" | tr '\n' ' ')"
  # shellcheck disable=SC2086
  kill $leaked 2>/dev/null
  failed=$((failed + 1)); failed_suites+=(no-leaked-processes)
else
  echo "suite no-leaked-processes    ok"
  passed=$((passed + 1))
fi

[ ${#failed_suites[@]} -eq 0 ] || echo "failed suites: ${failed_suites[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
