/**
 * Cross-implementation SFrame: frames encrypted by the Rust e2ee crate decrypt here, and frames
 * encrypted here decrypt in Rust. The request is made at test time (random keys and frames),
 * the Rust side is `crates/interop` (`interop sframe`), run through cargo.
 */

import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

import { MediaError, MediaKeys } from "../src/sframe/media-keys";
import { REPO_ROOT, hex, toHex } from "./vectors";

interface Response {
  encrypted: string[];
  decrypted: ({ ok: { sender: number; epoch: string; counter: string; payload: string } } | { error: string })[];
}

function random(length: number): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(length));
}

/** Runs the Rust side on a request; cargo builds it first if needed. */
function runRust(request: unknown): Response {
  const dir = join(process.env["CARGO_TARGET_DIR"] ?? join(REPO_ROOT, "target"), "web-interop");
  mkdirSync(dir, { recursive: true });
  const requestPath = join(dir, `sframe-request-${process.pid}.json`);
  const responsePath = join(dir, `sframe-response-${process.pid}.json`);
  writeFileSync(requestPath, JSON.stringify(request, null, 1));
  execFileSync("cargo", ["run", "--quiet", "--locked", "-p", "interop", "--", "sframe", requestPath, responsePath], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "inherit", "inherit"],
    timeout: 600_000,
  });
  return JSON.parse(readFileSync(responsePath, "utf8")) as Response;
}

describe("SFrame between the Rust e2ee crate and the web client", () => {
  it("decrypts in both directions, across two epochs, with and without metadata", async () => {
    const epochs = [
      { epoch: 6n, key: random(16) },
      // 6 + 17: other low bits, so both epochs stay installed.
      { epoch: 23n, key: random(16) },
    ];
    const frames = [random(1), random(160), random(30_000), new Uint8Array(0)];
    const metadata = random(5);

    // TS keys hold copies: installEpoch zeroes what it is given.
    const ts = new MediaKeys();
    const tsOld = new MediaKeys();
    for (const e of epochs) ts.installEpoch(e.epoch, e.key.slice(), 0);
    tsOld.installEpoch(epochs[0]!.epoch, epochs[0]!.key.slice(), 0);

    const fromTs = [
      ...(await Promise.all(frames.map((f) => ts.encrypt(f, 9)))),
      await ts.encrypt(frames[1]!, 300, metadata),
      // A frame of the older epoch, still within its grace period on the Rust side.
      await tsOld.encrypt(frames[0]!, 2),
    ];
    const tampered = fromTs[1]!.slice();
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 0x80;

    const response = runRust({
      epochs: epochs.map((e) => ({ epoch: e.epoch.toString(), base_key: toHex(e.key) })),
      encrypt: [
        ...frames.map((f) => ({ sender: 4, frame: toHex(f) })),
        { sender: 0xfffffffe, frame: toHex(frames[2]!), metadata: toHex(metadata) },
      ],
      decrypt: [
        ...fromTs.slice(0, frames.length).map((s) => ({ sframe: toHex(s) })),
        { sframe: toHex(fromTs[frames.length]!), metadata: toHex(metadata) },
        { sframe: toHex(fromTs[frames.length + 1]!) },
        { sframe: toHex(tampered) },
      ],
    });

    // Rust opened what TS sealed.
    const expected = [
      ...frames.map((f) => ({ sender: 9, epoch: "23", payload: toHex(f) })),
      { sender: 300, epoch: "23", payload: toHex(frames[1]!) },
      { sender: 2, epoch: "6", payload: toHex(frames[0]!) },
    ];
    expected.forEach((want, i) => {
      const got = response.decrypted[i];
      expect(got && "ok" in got ? got.ok : got, `frame ${i}`).toMatchObject(want);
    });
    const last = response.decrypted[expected.length];
    expect(last && "error" in last ? last.error : "decrypted").toMatch(/authentication/);

    // TS opens what Rust sealed.
    for (const [i, sframe] of response.encrypted.slice(0, frames.length).entries()) {
      const opened = await ts.decrypt(hex(sframe), 0);
      expect(opened.sender).toBe(4);
      expect(opened.epoch).toBe(23n);
      expect(opened.counter).toBe(BigInt(i));
      expect(toHex(opened.payload)).toBe(toHex(frames[i]!));
    }
    const withMetadata = hex(response.encrypted[frames.length]!);
    const opened = await ts.decrypt(withMetadata, 0, metadata);
    expect(opened.sender).toBe(0xfffffffe);
    expect(toHex(opened.payload)).toBe(toHex(frames[2]!));
    await expect(ts.decrypt(withMetadata, 0)).rejects.toBeInstanceOf(MediaError);
  });
});
