import { defineConfig } from "vite";

export default defineConfig({
  // wasm-ln loads its .wasm with `new URL("…wasm", import.meta.url)` and starts a module
  // Worker the same way; esbuild's dependency pre-bundling would move the JS away from those
  // files, so Vite must serve the package as is.
  optimizeDeps: { exclude: ["wasm-ln"] },
  worker: { format: "es" },
  build: {
    target: "es2022",
    outDir: "dist",
    emptyOutDir: true,
    // Two pages: the demo wallet and the shop (<ln-checkout>, Bitcoin Connect).
    rollupOptions: {
      input: {
        // Relative to Vite's root (this directory).
        main: "index.html",
        shop: "shop.html",
      },
    },
  },
});
