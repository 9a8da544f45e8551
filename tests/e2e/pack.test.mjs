// The packed tarball as a stranger gets it: installed into a fresh Vite + TypeScript app (a copy
// of fixtures/vite-app), whose code uses every public symbol with types. `tsc --noEmit` checks
// the package's .d.ts against that use, `vite build` that it bundles with its .wasm asset.
// Vite and TypeScript are the versions www/ uses, so the demo and a stranger's app agree.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");

/** pkg/wasm-ln-<version>.tgz, the newest if several ($WASM_LN_TARBALL overrides). */
function tarball() {
  if (process.env.WASM_LN_TARBALL) return path.resolve(process.env.WASM_LN_TARBALL);
  const dir = path.join(ROOT, "pkg");
  const found = fs.existsSync(dir)
    ? fs.readdirSync(dir).filter((f) => /^wasm-ln-.*\.tgz$/.test(f)).map((f) => path.join(dir, f))
    : [];
  assert.ok(found.length, `no pkg/wasm-ln-*.tgz: run pkg-scripts/build.sh first`);
  return found.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
}

/** The exact version www/ has installed (its lock file), else the range it asks for. */
function wwwVersion(name) {
  try {
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, "www/package-lock.json"), "utf8"));
    const v = lock.packages?.[`node_modules/${name}`]?.version;
    if (v) return v;
  } catch {
    /* no lock file */
  }
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "www/package.json"), "utf8"));
  const v = pkg.devDependencies?.[name] ?? pkg.dependencies?.[name];
  assert.ok(v, `www/package.json does not list ${name}`);
  return v;
}

async function sh(cwd, cmd, args) {
  try {
    return await run(cmd, args, { cwd, timeout: 600_000, maxBuffer: 64 << 20, env: { ...process.env, CI: "1" } });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${e.code}):\n${e.stdout}\n${e.stderr}`);
  }
}

test("pack_has_no_test_only_export", async () => {
  // `testPanic` (cargo feature `test-panic`) panics on purpose: never in what we publish.
  const { stdout } = await sh(ROOT, "tar", ["-xzOf", tarball(), "package/wasm_ln.js", "package/wasm_ln.d.ts"]);
  assert.ok(stdout.includes("eventHandled"), "the glue was read");
  assert.ok(!stdout.includes("testPanic"), "the package exports testPanic");
});

test("pack_installs_into_fresh_vite_project", async () => {
  const tgz = tarball();
  const app = fs.mkdtempSync(path.join(os.tmpdir(), "wasm-ln-vite-app-"));
  try {
    fs.cpSync(path.join(HERE, "fixtures/vite-app"), app, { recursive: true });
    const started = Date.now();
    await sh(app, "npm", [
      "install",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      tgz,
      `vite@${wwwVersion("vite")}`,
      `typescript@${wwwVersion("typescript")}`,
    ]);
    const installed = JSON.parse(fs.readFileSync(path.join(app, "node_modules/wasm-ln/package.json"), "utf8"));
    assert.equal(installed.name, "wasm-ln");
    console.log(`# installed wasm-ln ${installed.version} in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    await sh(app, "npx", ["--no-install", "tsc", "--noEmit", "-p", "."]);
    await sh(app, "npx", ["--no-install", "vite", "build", "--logLevel", "warn"]);

    const assets = fs.readdirSync(path.join(app, "dist"), { recursive: true }).map(String);
    const wasm = assets.filter((f) => f.endsWith(".wasm"));
    assert.ok(wasm.length, `vite build emitted no .wasm asset; dist has: ${assets.join(", ")}`);
    const size = fs.statSync(path.join(app, "dist", wasm[0])).size;
    // The bundled wasm is the package's own (Vite only renames it).
    const pkgDir = path.join(app, "node_modules/wasm-ln");
    const shipped = fs.readdirSync(pkgDir, { recursive: true }).map(String).filter((f) => f.endsWith(".wasm"));
    assert.ok(
      shipped.some((f) => fs.statSync(path.join(pkgDir, f)).size === size),
      `the bundled ${wasm[0]} (${size} bytes) matches none of the package's: ${shipped}`,
    );
    console.log(`# vite build: ${wasm.join(", ")} (${size} bytes)`);
  } finally {
    fs.rmSync(app, { recursive: true, force: true });
  }
});
