/**
 * What the browser tests run against: the real `conclave serve` binary (built from this tree,
 * with this tree's bundle embedded) on free loopback ports with a temporary data directory,
 * and Debian's Chromium driven through playwright-core with a fake camera and microphone.
 */

import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { chromium, type BrowserContext, type Page } from "playwright-core";

export const WEB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO_ROOT = resolve(WEB_DIR, "..");
/** Screenshots and other artifacts (gitignored). */
export const ARTIFACTS = join(WEB_DIR, "test-results");
export const CHROMIUM = process.env["CONCLAVE_CHROMIUM"] ?? "/usr/bin/chromium";

/** Builds the bundle, then the server binary that embeds it; returns the binary's path. */
export function buildServer(): string {
  if (process.env["CONCLAVE_BIN"]) return process.env["CONCLAVE_BIN"];
  execFileSync("npx", ["vite", "build", "--logLevel", "warn"], { cwd: WEB_DIR, stdio: "inherit", timeout: 300_000 });
  execFileSync("cargo", ["build", "--quiet", "--locked", "-p", "conclave"], { cwd: REPO_ROOT, stdio: "inherit", timeout: 1_200_000 });
  const target = process.env["CARGO_TARGET_DIR"] ?? join(REPO_ROOT, "target");
  return join(target, "debug", "conclave");
}

export interface RunningServer {
  base: string;
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * Starts `conclave serve` on 127.0.0.1 with OS-chosen ports, and `extraArgs` (such as
 * `--config FILE`); resolves once it listens.
 */
export async function startServer(binary: string, extraArgs: string[] = []): Promise<RunningServer> {
  const dataDir = mkdtempSync(join(tmpdir(), "conclave-web-test-"));
  const child: ChildProcess = spawn(binary, ["serve", "--data-dir", dataDir, "--http", "127.0.0.1:0", "--media", "127.0.0.1:0", ...extraArgs], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, RUST_LOG: process.env["RUST_LOG"] ?? "warn" },
  });
  const base = await new Promise<string>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error("conclave serve did not print its listening line within 60 s")), 60_000);
    child.once("exit", (code) => reject(new Error(`conclave serve exited with ${code}`)));
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      const match = /^conclave listening on (http:\/\/[0-9.]+:\d+)/.exec(line);
      if (match?.[1]) {
        clearTimeout(timer);
        resolvePromise(match[1]);
      }
    });
  });
  return {
    base,
    dataDir,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (child.exitCode === null) child.kill("SIGKILL");
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The flags of every test browser. */
const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  // Lets a test's WebAudio analyser run without a click.
  "--autoplay-policy=no-user-gesture-required",
];

/**
 * A fresh Chromium with its own profile. `media` "fake" grants a fake camera and microphone;
 * "denied" refuses them, as a user who clicked Block would. `fakeFps` sets the fake camera's
 * frame rate (Chromium's default is 20).
 */
export async function launchBrowser(media: "fake" | "denied", fakeFps?: number): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh (it installs Debian's chromium)`);
  }
  const profile = mkdtempSync(join(tmpdir(), "conclave-chromium-"));
  const args = [...FLAGS, fakeFps === undefined ? "--use-fake-device-for-media-stream" : `--use-fake-device-for-media-stream=fps=${fakeFps}`];
  args.push(media === "fake" ? "--use-fake-ui-for-media-stream" : "--deny-permission-prompts");
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args,
    viewport: { width: 1280, height: 860 },
  });
  context.setDefaultTimeout(15_000);
  // Errors and warnings of the pages go to the test's output, to explain a failure.
  context.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") console.log(`[browser ${message.type()}] ${message.text()}`);
  });
  context.on("weberror", (error) => console.log(`[browser page error] ${error.error().message}`));
  // Every peer connection a page makes, so a test can read its getStats().
  await context.addInitScript(() => {
    const Native = window.RTCPeerConnection;
    const made: RTCPeerConnection[] = [];
    (window as unknown as { __peerConnections: RTCPeerConnection[] }).__peerConnections = made;
    window.RTCPeerConnection = class extends Native {
      constructor(config?: RTCConfiguration) {
        super(config);
        made.push(this);
      }
    };
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** One inbound RTP stream of a page, from getStats(). */
export interface InboundStats {
  kind: string;
  mid: string;
  framesDecoded: number;
  totalAudioEnergy: number;
  packetsReceived: number;
}

/** The inbound RTP streams of every open peer connection of a page. */
export function inboundStats(page: Page): Promise<InboundStats[]> {
  return page.evaluate(async () => {
    const out: InboundStats[] = [];
    const all = (window as unknown as { __peerConnections: RTCPeerConnection[] }).__peerConnections;
    for (const pc of all) {
      if (pc.connectionState === "closed") continue;
      const report = await pc.getStats();
      report.forEach((s: Record<string, unknown>) => {
        if (s["type"] !== "inbound-rtp") return;
        out.push({
          kind: String(s["kind"]),
          mid: String(s["mid"]),
          framesDecoded: Number(s["framesDecoded"] ?? 0),
          totalAudioEnergy: Number(s["totalAudioEnergy"] ?? 0),
          packetsReceived: Number(s["packetsReceived"] ?? 0),
        });
      });
    }
    return out;
  });
}

/**
 * The loudest frequency, in Hz, of each remote audio track of a page, from a WebAudio
 * analyser listening for `ms`; null for a silent track. Tells a real tone from noise.
 */
export function remoteAudioPeaks(page: Page, ms: number): Promise<(number | null)[]> {
  return page.evaluate(async (ms) => {
    const all = (window as unknown as { __peerConnections: RTCPeerConnection[] }).__peerConnections;
    const tracks = all
      .filter((pc) => pc.connectionState !== "closed")
      .flatMap((pc) => pc.getReceivers().map((r) => r.track))
      .filter((t) => t.kind === "audio" && t.readyState === "live");
    const context = new AudioContext();
    await context.resume();
    const analysers = tracks.map((track) => {
      const analyser = context.createAnalyser();
      analyser.fftSize = 4096;
      context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
      return analyser;
    });
    const sums = analysers.map((a) => new Float64Array(a.frequencyBinCount));
    const bins = new Float32Array(4096 / 2);
    const deadline = performance.now() + ms;
    while (performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      analysers.forEach((analyser, i) => {
        analyser.getFloatFrequencyData(bins);
        bins.forEach((db, bin) => (sums[i]![bin]! += Math.pow(10, db / 10)));
      });
    }
    await context.close();
    return sums.map((sum) => {
      let peak = 0;
      sum.forEach((power, bin) => {
        if (power > sum[peak]!) peak = bin;
      });
      return sum[peak]! > 0 ? (peak * context.sampleRate) / 4096 : null;
    });
  }, ms);
}

/** Polls `check` every 250 ms until it holds or `timeoutMs` passes; returns the last value. */
export async function pollUntil<T>(read: () => Promise<T>, check: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!check(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    value = await read();
  }
  return value;
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}
