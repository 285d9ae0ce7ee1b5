/**
 * The SFrame worker's cost per frame inside Chromium: the browser check page (`/check`) sends
 * the fake camera at 1280x720, 30 fps, as VP9 through the real `RTCRtpScriptTransform` worker
 * and back, and reports the worker's time per encrypted and decrypted frame (wall time of each
 * transform step, awaits included: an upper bound). Runs the check RUNS times (default 5).
 * Prints a JSON line and writes `test-results/bench-worker.json`.
 *
 * Run: `cd web && npx vitest run --project bench bench/worker.test.ts`.
 */

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { afterAll, beforeAll, expect, it } from "vitest";

import { buildServer, launchBrowser, startServer, type RunningServer } from "../browser-tests/harness";

const RUNS = Number(process.env["RUNS"] ?? 5);

let server: RunningServer;
let browser: Awaited<ReturnType<typeof launchBrowser>>;

beforeAll(async () => {
  server = await startServer(buildServer());
  browser = await launchBrowser("fake", 30);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

it(`measures the worker per frame at 720p30 over ${RUNS} checks`, async () => {
  const runs: { resolution: string; encrypted: number; decrypted: number; encrypt_ms: number; decrypt_ms: number }[] = [];
  for (let run = 0; run < RUNS; run++) {
    const page = await browser.context.newPage();
    await page.goto(`${server.base}/check`);
    await page.locator(".check-result[data-ok]").waitFor({ timeout: 60_000 });
    const figure = async (name: string) => (await page.locator(`[data-figure="${name}"]`).textContent()) ?? "";
    expect(await page.locator(".check-result").getAttribute("data-ok")).toBe("true");
    runs.push({
      resolution: await figure("resolution"),
      encrypted: Number(await figure("encrypted")),
      decrypted: Number(await figure("decrypted")),
      encrypt_ms: Number(await figure("encrypt-ms")),
      decrypt_ms: Number(await figure("decrypt-ms")),
    });
    await page.close();
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
  const out = {
    runs,
    encrypt_ms_per_frame_median: median(runs.map((r) => r.encrypt_ms)),
    decrypt_ms_per_frame_median: median(runs.map((r) => r.decrypt_ms)),
  };
  console.log(JSON.stringify(out));
  mkdirSync(join(import.meta.dirname, "../test-results"), { recursive: true });
  writeFileSync(join(import.meta.dirname, "../test-results/bench-worker.json"), JSON.stringify(out, null, 1));
});
