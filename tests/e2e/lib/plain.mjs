// The packed npm package as a plain site: the tarball (pkg/wasm-ln-*.tgz, pkg-scripts/build.sh)
// unpacked beside an HTML page whose `<script type="module">` imports it as `window.wasmLn`
// and then sets the title to "ready". No bundler. Used by api.test.mjs and network.test.mjs.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/** A page that imports the package from `from` as `window.wasmLn`, then titles itself "ready". */
export const importPage = (from) => `<!doctype html><meta charset="utf-8"><title>wasm-ln plain</title>
<script type="module">
  import * as wasmLn from "${from}";
  window.wasmLn = wasmLn;
  document.title = "ready";
</script>`;

/** A fresh temp dir with the tarball unpacked into `package/` and `index.html` importing it. */
export function plainSite(prefix = "wasm-ln-plain-") {
  const tarball = fs.readdirSync(path.join(ROOT, "pkg")).find((f) => /^wasm-ln-.*\.tgz$/.test(f));
  assert.ok(tarball, "pkg/wasm-ln-*.tgz: run pkg-scripts/build.sh first");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  execFileSync("tar", ["-xzf", path.join(ROOT, "pkg", tarball), "-C", dir]);
  fs.writeFileSync(path.join(dir, "index.html"), importPage("./package/index.js"));
  return dir;
}
