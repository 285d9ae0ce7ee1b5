/**
 * The SFrame worker's cost per frame at 720p30: the worker's own code (`FrameCryptor`, the
 * same module `sframe/worker.ts` runs) encrypting and decrypting frames of the sizes a 720p30
 * VP9 camera sends (about 2.5 Mbit/s: ~10 KB delta frames, ~60 KB keyframes) and Opus frames,
 * on Node's WebCrypto. Prints a JSON line and writes `test-results/bench-sframe.json`.
 *
 * Run: `cd web && npx vitest run --project bench bench/sframe.test.ts`.
 */

import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

import { expect, it } from "vitest";

import { FrameCryptor } from "../src/sframe/transform";

const FRAMES = 3000;
const SIZES = { opus_160b: 160, vp9_delta_10kb: 10_000, vp9_key_60kb: 60_000 };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

it("measures encrypt and decrypt per frame", async () => {
  const sender = new FrameCryptor();
  const receiver = new FrameCryptor();
  const key = crypto.getRandomValues(new Uint8Array(16));
  sender.command({ type: "install_epoch", epoch: "1", base_key: key.slice().buffer }, 0);
  sender.command({ type: "set_own_leaf", leaf: 3 }, 0);
  receiver.command({ type: "install_epoch", epoch: "1", base_key: key.slice().buffer }, 0);
  const results: Record<string, { encrypt_us_p50: number; encrypt_us_p95: number; decrypt_us_p50: number; decrypt_us_p95: number }> = {};
  for (const [name, size] of Object.entries(SIZES)) {
    const frame = crypto.getRandomValues(new Uint8Array(Math.min(size, 65536)));
    const payload = new Uint8Array(size);
    for (let at = 0; at < size; at += frame.length) payload.set(frame.subarray(0, Math.min(frame.length, size - at)), at);
    const enc: number[] = [];
    const dec: number[] = [];
    for (let i = 0; i < FRAMES; i++) {
      const t0 = performance.now();
      const sframe = await sender.encrypt(payload.slice().buffer);
      const t1 = performance.now();
      const plain = await receiver.decrypt(sframe!, 0);
      const t2 = performance.now();
      expect(plain?.byteLength).toBe(size);
      enc.push((t1 - t0) * 1000);
      dec.push((t2 - t1) * 1000);
    }
    enc.sort((a, b) => a - b);
    dec.sort((a, b) => a - b);
    results[name] = {
      encrypt_us_p50: Math.round(percentile(enc, 50)),
      encrypt_us_p95: Math.round(percentile(enc, 95)),
      decrypt_us_p50: Math.round(percentile(dec, 50)),
      decrypt_us_p95: Math.round(percentile(dec, 95)),
    };
  }
  const out = { frames_per_size: FRAMES, results };
  console.log(JSON.stringify(out));
  mkdirSync(join(import.meta.dirname, "../test-results"), { recursive: true });
  writeFileSync(join(import.meta.dirname, "../test-results/bench-sframe.json"), JSON.stringify(out, null, 1));
});
