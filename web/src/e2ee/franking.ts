/**
 * Chat franking, byte for byte as `crates/e2ee/src/franking.rs` (threat T5):
 *
 * - inner message (inside the MLS ciphertext): `0x01 || franking_key (32) || u32_be(len) || plaintext`;
 * - commitment (beside it, the MLS authenticated data): `HMAC-SHA256(franking_key,
 *   "conclave franking commitment v1" || u32_be(len) || plaintext)`.
 *
 * HMAC-SHA256 under a fixed 32-byte key is committing (see the Rust module for why); a
 * receiver shows a message only if its commitment opens.
 */

/** Length of a franking key, a commitment and a tag. */
export const FRANKING_KEY_LEN = 32;
/** The largest chat plaintext that can be franked: 64 KiB. */
export const MAX_PLAINTEXT_LEN = 64 * 1024;

const INNER_VERSION = 1;
const INNER_HEADER_LEN = 1 + FRANKING_KEY_LEN + 4;
const COMMITMENT_LABEL = new TextEncoder().encode("conclave franking commitment v1");

type Bytes = Uint8Array<ArrayBuffer>;

/** Why a message could not be franked or opened. */
export class FrankingError extends Error {
  constructor(
    readonly kind: "too_long" | "malformed" | "commitment_mismatch",
    message: string,
  ) {
    super(message);
    this.name = "FrankingError";
  }
}

function u32(value: number): Uint8Array {
  return Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

/** The commitment to `plaintext` under `key`. */
export async function commit(key: Uint8Array<ArrayBuffer>, plaintext: Uint8Array): Promise<Bytes> {
  if (plaintext.length > MAX_PLAINTEXT_LEN) throw new FrankingError("too_long", `chat message of ${plaintext.length} bytes is over ${MAX_PLAINTEXT_LEN}`);
  const hmac = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const input = new Uint8Array(COMMITMENT_LABEL.length + 4 + plaintext.length);
  input.set(COMMITMENT_LABEL, 0);
  input.set(u32(plaintext.length), COMMITMENT_LABEL.length);
  input.set(plaintext, COMMITMENT_LABEL.length + 4);
  return new Uint8Array(await crypto.subtle.sign("HMAC", hmac, input));
}

/** A message ready to go into MLS: the inner bytes and the commitment that travels beside them. */
export interface FrankedMessage {
  inner: Bytes;
  commitment: Bytes;
}

/** Seals `plaintext` with a fresh franking key. */
export async function seal(plaintext: Uint8Array): Promise<FrankedMessage> {
  const key = crypto.getRandomValues(new Uint8Array(FRANKING_KEY_LEN));
  const commitment = await commit(key, plaintext);
  const inner = new Uint8Array(INNER_HEADER_LEN + plaintext.length);
  inner[0] = INNER_VERSION;
  inner.set(key, 1);
  inner.set(u32(plaintext.length), 1 + FRANKING_KEY_LEN);
  inner.set(plaintext, INNER_HEADER_LEN);
  return { inner, commitment };
}

/** A received message whose commitment opened: what a report carries. */
export interface OpenedMessage {
  plaintext: Bytes;
  frankingKey: Bytes;
  commitment: Bytes;
}

/** Parses the inner message and checks it against the commitment that came beside it. */
export async function open(inner: Uint8Array, commitment: Uint8Array): Promise<OpenedMessage> {
  if (inner.length < INNER_HEADER_LEN || inner[0] !== INNER_VERSION) throw new FrankingError("malformed", "malformed franked message");
  const length = ((inner[1 + FRANKING_KEY_LEN]! << 24) >>> 0) + (inner[2 + FRANKING_KEY_LEN]! << 16) + (inner[3 + FRANKING_KEY_LEN]! << 8) + inner[4 + FRANKING_KEY_LEN]!;
  if (length > MAX_PLAINTEXT_LEN || INNER_HEADER_LEN + length !== inner.length) throw new FrankingError("malformed", "franked message length does not match");
  const frankingKey = inner.slice(1, 1 + FRANKING_KEY_LEN);
  const plaintext = inner.slice(INNER_HEADER_LEN);
  const expected = await commit(frankingKey, plaintext);
  // Not secret: the commitment is public; a plain comparison is fine.
  if (commitment.length !== expected.length || expected.some((b, i) => b !== commitment[i])) {
    throw new FrankingError("commitment_mismatch", "the message does not match its franking commitment");
  }
  return { plaintext, frankingKey, commitment: expected };
}
