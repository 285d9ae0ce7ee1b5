/**
 * The SFrame header (RFC 9605 section 4.3) and Conclave's KID layout (section 5.2), readable
 * without any key. Mirrors `crates/e2ee/src/header.rs`: the same layout, the same limits and the
 * same refusals, so a frame one implementation accepts the other accepts too.
 *
 * KID layout: `KID = (leaf << 4) | (epoch mod 16)`, context bits always zero.
 *
 * ```text
 *   28 bits      32 bits   4 bits
 * +-----------+----------+-------+
 * | context=0 |   leaf   | epoch |
 * +-----------+----------+-------+
 * ```
 */

/** `E` of RFC 9605 section 5.2: how many low bits of the MLS epoch the KID carries. */
export const EPOCH_BITS = 4;
/** `S` of RFC 9605 section 5.2: how many bits above the epoch carry the sender's leaf index. */
export const INDEX_BITS = 32;
/** The largest SFrame ciphertext (header, encrypted frame and tag) accepted: 2 MiB. */
export const MAX_FRAME_LEN = 2 * 1024 * 1024;

const U64_MAX = (1n << 64n) - 1n;
const EPOCH_MASK = (1n << BigInt(EPOCH_BITS)) - 1n;
const LEAF_MAX = (1n << BigInt(INDEX_BITS)) - 1n;

/** Why a header was refused; `kind` is stable, the message is for people. */
export class HeaderError extends Error {
  constructor(
    readonly kind: "empty" | "too_long" | "truncated" | "not_shortest_form" | "context_not_zero" | "out_of_range",
    message: string,
  ) {
    super(message);
    this.name = "HeaderError";
  }
}

/** The KID a member at leaf `sender` uses for every frame it encrypts in `epoch`. */
export function kidFor(sender: number, epoch: bigint): bigint {
  if (!Number.isInteger(sender) || sender < 0 || BigInt(sender) > LEAF_MAX) {
    throw new HeaderError("out_of_range", `leaf index ${sender} is not a 32-bit unsigned integer`);
  }
  if (epoch < 0n || epoch > U64_MAX) {
    throw new HeaderError("out_of_range", `epoch ${epoch} is not a 64-bit unsigned integer`);
  }
  return (BigInt(sender) << BigInt(EPOCH_BITS)) | (epoch & EPOCH_MASK);
}

/** The sender's leaf index a KID names, or an error if its context bits are not zero. */
export function kidSender(kid: bigint): number {
  const index = kid >> BigInt(EPOCH_BITS);
  if (index > LEAF_MAX) {
    throw new HeaderError("context_not_zero", `KID 0x${kid.toString(16)} does not follow the Conclave layout (context bits set)`);
  }
  return Number(index);
}

/** The low epoch bits a KID carries. */
export function kidEpochBits(kid: bigint): number {
  return Number(kid & EPOCH_MASK);
}

/** The low epoch bits any KID of `epoch` carries. */
export function epochBits(epoch: bigint): number {
  return Number(epoch & EPOCH_MASK);
}

/** A parsed header: the KID, the counter, and how many bytes it takes. */
export interface FrameHeader {
  readonly kid: bigint;
  readonly counter: bigint;
  readonly length: number;
}

/** Bytes a value needs in the extension, or 0 when it fits the config byte (0 to 7). */
function extensionBytes(value: bigint): number {
  if (value < 8n) return 0;
  let n = 0;
  for (let v = value; v > 0n; v >>= 8n) n += 1;
  return n;
}

function writeBigEndian(out: Uint8Array, offset: number, value: bigint, length: number): void {
  let v = value;
  for (let i = length - 1; i >= 0; i--) {
    out[offset + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

function readBigEndian(bytes: Uint8Array, offset: number, length: number): bigint {
  let v = 0n;
  for (let i = 0; i < length; i++) v = (v << 8n) | BigInt(bytes[offset + i] ?? 0);
  return v;
}

/** Encodes the header a sender puts in front of a frame encrypted under `kid` with `counter`. */
export function encodeHeader(kid: bigint, counter: bigint): Uint8Array<ArrayBuffer> {
  for (const [name, v] of [["KID", kid], ["CTR", counter]] as const) {
    if (v < 0n || v > U64_MAX) throw new HeaderError("out_of_range", `${name} ${v} is not a 64-bit unsigned integer`);
  }
  const kidLen = extensionBytes(kid);
  const ctrLen = extensionBytes(counter);
  const out = new Uint8Array(1 + kidLen + ctrLen);
  const kidHalf = kidLen === 0 ? Number(kid) : 0b1000 | (kidLen - 1);
  const ctrHalf = ctrLen === 0 ? Number(counter) : 0b1000 | (ctrLen - 1);
  out[0] = (kidHalf << 4) | ctrHalf;
  writeBigEndian(out, 1, kid, kidLen);
  writeBigEndian(out, 1 + kidLen, counter, ctrLen);
  return out;
}

function halfLength(half: number): number {
  return half & 0b1000 ? (half & 0b0111) + 1 : 0;
}

/**
 * Parses the header at the start of `frame` without any key. Refuses input above
 * {@link MAX_FRAME_LEN}, a header cut short, and a KID or CTR not written in its shortest form
 * (a second spelling of one header would let one frame travel as two byte strings).
 */
export function parseHeader(frame: Uint8Array): FrameHeader {
  if (frame.length > MAX_FRAME_LEN) {
    throw new HeaderError("too_long", `SFrame ciphertext of ${frame.length} bytes exceeds the limit of ${MAX_FRAME_LEN}`);
  }
  const config = frame[0];
  if (config === undefined) throw new HeaderError("empty", "empty SFrame ciphertext");
  const kidHalf = config >> 4;
  const ctrHalf = config & 0x0f;
  const kidLen = halfLength(kidHalf);
  const ctrLen = halfLength(ctrHalf);
  const length = 1 + kidLen + ctrLen;
  if (frame.length < length) {
    throw new HeaderError("truncated", `SFrame header needs ${length} bytes, frame has ${frame.length}`);
  }
  const kid = kidLen === 0 ? BigInt(kidHalf) : readBigEndian(frame, 1, kidLen);
  const counter = ctrLen === 0 ? BigInt(ctrHalf) : readBigEndian(frame, 1 + kidLen, ctrLen);
  if (extensionBytes(kid) !== kidLen || extensionBytes(counter) !== ctrLen) {
    throw new HeaderError("not_shortest_form", "SFrame header is not in its shortest form");
  }
  return { kid, counter, length };
}
