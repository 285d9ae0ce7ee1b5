/** Reads the shared RFC test vectors from the file system (never the network). */

import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (the folder holding web/). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** `$CONCLAVE_TEST_VECTORS`, or `shared/test-vectors` beside the clone, as CI lays it out. */
export function vectorsDir(): string {
  return process.env["CONCLAVE_TEST_VECTORS"] ?? join(REPO_ROOT, "../shared/test-vectors");
}

/**
 * Parses a vectors file, keeping the named integer fields exact: they reach 2^64 - 1, beyond
 * what a JS number holds, so they are read as decimal strings and become bigints.
 */
export function readVectors(relative: string, bigFields: string[]): unknown {
  const path = join(vectorsDir(), relative);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`cannot read ${path} (set CONCLAVE_TEST_VECTORS to the shared/test-vectors folder): ${String(e)}`);
  }
  const pattern = new RegExp(`"(${bigFields.join("|")})"\\s*:\\s*(\\d+)`, "g");
  const quoted = text.replace(pattern, '"$1": "$2"');
  return JSON.parse(quoted, (key, value: unknown) =>
    bigFields.includes(key) && typeof value === "string" ? BigInt(value) : value,
  );
}

export function hex(text: string): Uint8Array<ArrayBuffer> {
  if (text.length % 2 !== 0 || /[^0-9a-f]/i.test(text)) throw new Error(`not hex: ${text}`);
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
