/**
 * From clicking "Join meeting" to the first remote video frame rendered, in real Chromium
 * against a real `conclave serve` on loopback: the host is already in the meeting (lobby off,
 * camera on); each run a fresh guest page opens the invite, its camera preview is running,
 * and the clock starts at the click. It stops at the first frame of the host's video that the
 * guest's page presents (`requestVideoFrameCallback`): signaling, the MLS Add commit and
 * Welcome, the SFU's offer/answer, ICE and DTLS, the first keyframe, SFrame decryption and
 * VP9 decoding all lie inside. The guest then leaves (the host commits the Remove) before the
 * next run. Prints a JSON line and writes `test-results/bench-join.json`.
 *
 * Run: `cd web && npx vitest run --project bench bench/join.test.ts` (RUNS=20 for more runs).
 */

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { afterAll, beforeAll, expect, it } from "vitest";

import { buildServer, launchBrowser, startServer, type RunningServer } from "../browser-tests/harness";

const RUNS = Number(process.env["RUNS"] ?? 12);

let server: RunningServer;
let host: Awaited<ReturnType<typeof launchBrowser>>;
let guest: Awaited<ReturnType<typeof launchBrowser>>;

beforeAll(async () => {
  server = await startServer(buildServer());
  [host, guest] = await Promise.all([launchBrowser("fake"), launchBrowser("fake")]);
});

afterAll(async () => {
  await Promise.allSettled([host?.close(), guest?.close()]);
  await server?.stop();
});

async function api<T>(path: string, body: unknown, token?: string): Promise<T> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers["authorization"] = `Bearer ${token}`;
  const response = await fetch(`${server.base}/api/v1${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

it(`measures join click to first remote frame over ${RUNS} runs`, async () => {
  const password = "correct horse battery staple";
  await api("/accounts", { username: "benchhost", password });
  const session = await api<{ token: string }>("/sessions", { username: "benchhost", password });
  const meeting = await api<{ id: string }>("/meetings", { lobby: false }, session.token);

  const hostPage = await host.context.newPage();
  await hostPage.goto(`${server.base}/`);
  await hostPage.evaluate((token) => localStorage.setItem("conclave.session", token), session.token);
  await hostPage.goto(`${server.base}/m/${meeting.id}`);
  await hostPage.getByRole("button", { name: "Join meeting" }).click();
  await hostPage.locator('[data-e2ee="encrypted"]').waitFor({ timeout: 30_000 });

  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const page = await guest.context.newPage();
    await page.goto(`${server.base}/m/${meeting.id}`);
    await page.getByLabel("Your name").fill(`Guest ${run}`);
    await page.waitForFunction(() => {
      const video = document.querySelector<HTMLVideoElement>(".preview-video");
      return video !== null && video.readyState >= 2;
    });
    const ms = await page.evaluate(
      () =>
        new Promise<number>((resolve, reject) => {
          const button = Array.from(document.querySelectorAll("button")).find((b) => b.textContent === "Join meeting");
          if (!button) return reject(new Error("no join button"));
          const seen = new WeakSet<HTMLVideoElement>();
          const watch = () => {
            for (const video of Array.from(document.querySelectorAll<HTMLVideoElement>(".tile video"))) {
              if (video.muted || seen.has(video)) continue;
              seen.add(video);
              video.requestVideoFrameCallback(() => resolve(performance.now() - start));
            }
          };
          new MutationObserver(watch).observe(document.body, { subtree: true, childList: true });
          setTimeout(() => reject(new Error("no remote frame within 30 s")), 30_000);
          const start = performance.now();
          button.click();
        }),
    );
    times.push(ms);
    await page.getByRole("button", { name: "Leave" }).click();
    await page.close();
    await hostPage.getByRole("heading", { name: "Participants (1)" }).waitFor();
    await hostPage.getByRole("heading", { name: "In the encrypted group (1)" }).waitFor({ timeout: 30_000 });
  }
  const sorted = [...times].sort((a, b) => a - b);
  const out = {
    runs: RUNS,
    join_to_first_frame_ms_p50: Math.round(percentile(sorted, 50)),
    join_to_first_frame_ms_p95: Math.round(percentile(sorted, 95)),
    min_ms: Math.round(sorted[0] ?? NaN),
    max_ms: Math.round(sorted.at(-1) ?? NaN),
    all_ms: times.map(Math.round),
  };
  console.log(JSON.stringify(out));
  mkdirSync(join(import.meta.dirname, "../test-results"), { recursive: true });
  writeFileSync(join(import.meta.dirname, "../test-results/bench-join.json"), JSON.stringify(out, null, 1));
  expect(times.length).toBe(RUNS);
});
