import { defineConfig } from "vitest/config";

export default defineConfig({
  build: {
    target: "es2022",
    // The server embeds dist/ and sets a strict Content-Security-Policy: no inline scripts
    // or styles, so nothing may be inlined as a data: URL either.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  worker: { format: "es" },
  // `npm run dev`: the API and signaling of a `conclave serve` on the default port.
  server: {
    proxy: { "/api": { target: "http://127.0.0.1:8080", ws: true } },
  },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          environment: "node",
          testTimeout: 600_000,
        },
      },
      {
        extends: true,
        test: {
          name: "browser",
          include: ["browser-tests/**/*.test.ts"],
          environment: "node",
          testTimeout: 300_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          // Benchmarks: run on request only (`--project bench`), never by CI.
          name: "bench",
          include: ["bench/**/*.test.ts"],
          environment: "node",
          testTimeout: 900_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
