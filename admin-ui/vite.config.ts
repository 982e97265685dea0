/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// The API the dev server and `vite preview` forward to (a running `keelbase serve`).
const api = process.env.KEELBASE_URL ?? "http://127.0.0.1:8090";

// The same policy src/admin.rs sends, so `vite preview` shows CSP violations too.
const csp =
  "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; " +
  "connect-src 'self'; frame-ancestors 'self'; base-uri 'self'; form-action 'self'";

export default defineConfig({
  base: "/_/",
  plugins: [svelte()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // No inline code anywhere: the CSP has no 'unsafe-inline' for scripts.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
  server: { proxy: { "/api": api } },
  preview: { proxy: { "/api": api }, headers: { "Content-Security-Policy": csp } },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
