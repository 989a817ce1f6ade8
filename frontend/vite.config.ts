import { defineConfig } from "vitest/config";

// The built app is served by Django under /static/ (WhiteNoise); index.html is served for every app route.
// `npm run dev` proxies the API to a platform started with `make run` (port 8000).
const backend = process.env.READINGROOM_BACKEND ?? "http://127.0.0.1:8000";

export default defineConfig({
  base: "/static/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    assetsDir: "assets",
    // One small entry chunk; no inline scripts so a strict Content-Security-Policy holds.
    modulePreload: { polyfill: false },
  },
  server: {
    proxy: {
      "/api": backend,
      "/healthz": backend,
      "/ws": { target: backend.replace(/^http/, "ws"), ws: true },
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
