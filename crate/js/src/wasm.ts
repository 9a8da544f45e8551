// Loading the wasm core once per page or worker. Without a URL wasm-bindgen's glue finds
// `wasm_ln_bg.wasm` beside itself through `import.meta.url`, which bundlers (Vite) and a plain
// `<script type="module">` both understand.

import init from "./wasm_ln.js";
import { LnError, toLnError } from "./errors.js";

let loading: Promise<unknown> | undefined;

/**
 * Loads and instantiates the wasm core; later calls share the first. `create`, `open` and
 * `decodeInvoice` call it themselves: call it earlier only to start the download sooner, or
 * to give the wasm's URL when it is served from elsewhere. The first call's URL wins: with a
 * wasm served elsewhere, call this before `decodeInvoice`.
 */
export function initWasm(wasmUrl?: string | URL): Promise<void> {
  loading ??= init(wasmUrl === undefined ? undefined : { module_or_path: wasmUrl }).catch((e) => {
    loading = undefined; // a failed download may be retried
    throw new LnError("INTERNAL", `the wasm-ln core could not be loaded: ${toLnError(e).message}`);
  });
  return loading.then(() => undefined);
}
