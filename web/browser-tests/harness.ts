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

import { chromium, type BrowserContext } from "playwright-core";

export const WEB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO_ROOT = resolve(WEB_DIR, "..");
/** Screenshots and other artifacts (gitignored). */
export const ARTIFACTS = join(WEB_DIR, "test-artifacts");
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

/** Starts `conclave serve` on 127.0.0.1 with OS-chosen ports; resolves once it listens. */
export async function startServer(binary: string): Promise<RunningServer> {
  const dataDir = mkdtempSync(join(tmpdir(), "conclave-web-test-"));
  const child: ChildProcess = spawn(binary, ["serve", "--data-dir", dataDir, "--http", "127.0.0.1:0", "--media", "127.0.0.1:0"], {
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
];

/**
 * A fresh Chromium with its own profile. `media` "fake" grants a fake camera and microphone;
 * "denied" refuses them, as a user who clicked Block would.
 */
export async function launchBrowser(media: "fake" | "denied"): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh (it installs Debian's chromium)`);
  }
  const profile = mkdtempSync(join(tmpdir(), "conclave-chromium-"));
  const args = [...FLAGS, "--use-fake-device-for-media-stream"];
  args.push(media === "fake" ? "--use-fake-ui-for-media-stream" : "--deny-permission-prompts");
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args,
    viewport: { width: 1280, height: 860 },
  });
  context.setDefaultTimeout(15_000);
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}
