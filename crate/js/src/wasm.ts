// Loading the wasm core once per page or worker. Without a URL wasm-bindgen's glue finds
// `wasm_ln_bg.wasm` beside itself through `import.meta.url`, which bundlers (Vite) and a plain
// `<script type="module">` both understand.

import init from "./wasm_ln.js";

let loading: Promise<unknown> | undefined;

/**
 * Loads and instantiates the wasm core; later calls share the first. `create`, `open` and
 * `decodeInvoice` call it themselves: call it earlier only to start the download sooner, or
 * to give the wasm's URL when it is served from elsewhere.
 */
export function initWasm(wasmUrl?: string | URL): Promise<void> {
  loading ??= init(wasmUrl === undefined ? undefined : { module_or_path: wasmUrl }).catch((e) => {
    loading = undefined; // a failed download may be retried
    throw e;
  });
  return loading.then(() => undefined);
}
