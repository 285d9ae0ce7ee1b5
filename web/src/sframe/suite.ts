/**
 * RFC 9605 cipher suite AES_128_GCM_SHA256_128 (0x0004) on WebCrypto: the key schedule of
 * section 4.4.2 (HKDF-SHA256) and the frame encryption of section 4.4.3 (AES-128-GCM).
 * Works in a window and in a worker; nothing here keeps state.
 */

import { encodeHeader, type FrameHeader } from "./header";

/** The cipher suite's number in RFC 9605's registry. */
export const CIPHER_SUITE = 0x0004;
/** `AEAD.Nk`: key length in bytes. */
export const KEY_LEN = 16;
/** `AEAD.Nn`: nonce length in bytes. */
export const NONCE_LEN = 12;
/** `AEAD.Nt`: tag length in bytes. */
export const TAG_LEN = 16;

/** Bytes that WebCrypto accepts. */
export type Bytes = Uint8Array<ArrayBuffer>;

const encoder = new TextEncoder();
const KEY_LABEL = encoder.encode("SFrame 1.0 Secret key ");
const SALT_LABEL = encoder.encode("SFrame 1.0 Secret salt ");

/** `label || KID (8 bytes) || cipher suite (2 bytes)`, section 4.4.2. */
export function keyScheduleLabel(prefix: "key" | "salt", kid: bigint): Bytes {
  const text = prefix === "key" ? KEY_LABEL : SALT_LABEL;
  const out = new Uint8Array(text.length + 10);
  out.set(text);
  const view = new DataView(out.buffer);
  view.setBigUint64(text.length, kid);
  view.setUint16(text.length + 8, CIPHER_SUITE);
  return out;
}

/** What the key schedule yields for one KID: raw key bytes and the salt. */
export interface KeyMaterial {
  readonly key: Bytes;
  readonly salt: Bytes;
}

/**
 * `sframe_key` and `sframe_salt` for `kid` from a base key already imported for HKDF:
 * `HKDF-Expand(HKDF-Extract("", base_key), label, N)`.
 */
export async function deriveKeyMaterial(baseKey: CryptoKey, kid: bigint): Promise<KeyMaterial> {
  const expand = async (label: Bytes, bytes: number) =>
    new Uint8Array(
      await crypto.subtle.deriveBits(
        { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: label },
        baseKey,
        bytes * 8,
      ),
    );
  const [key, salt] = await Promise.all([
    expand(keyScheduleLabel("key", kid), KEY_LEN),
    expand(keyScheduleLabel("salt", kid), NONCE_LEN),
  ]);
  return { key, salt };
}

/** Imports a base key (an MLS exporter secret) for HKDF only; it cannot be read back. */
export function importBaseKey(baseKey: Bytes): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", baseKey, "HKDF", false, ["deriveBits"]);
}

/** One KID's AEAD key (not extractable) and salt. */
export interface SenderKey {
  readonly kid: bigint;
  readonly key: CryptoKey;
  readonly salt: Bytes;
}

/** Derives and imports the AEAD key for `kid`. */
export async function deriveSenderKey(baseKey: CryptoKey, kid: bigint): Promise<SenderKey> {
  const material = await deriveKeyMaterial(baseKey, kid);
  const key = await crypto.subtle.importKey("raw", material.key, "AES-GCM", false, ["encrypt", "decrypt"]);
  material.key.fill(0);
  return { kid, key, salt: material.salt };
}

/** The nonce: the counter, big-endian in `Nn` bytes, XOR the salt (section 4.4.3). */
export function frameNonce(salt: Bytes, counter: bigint): Bytes {
  const nonce = new Uint8Array(NONCE_LEN);
  new DataView(nonce.buffer).setBigUint64(NONCE_LEN - 8, counter);
  for (let i = 0; i < NONCE_LEN; i++) nonce[i] = (nonce[i] ?? 0) ^ (salt[i] ?? 0);
  return nonce;
}

function concat(a: Uint8Array, b: Uint8Array): Bytes {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Encrypts one frame: `header || AEAD.Encrypt(key, nonce, header || metadata, frame)`. */
export async function encryptFrame(
  sender: SenderKey,
  counter: bigint,
  frame: Bytes,
  metadata: Uint8Array = new Uint8Array(0),
): Promise<Bytes> {
  const header = encodeHeader(sender.kid, counter);
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: frameNonce(sender.salt, counter), additionalData: concat(header, metadata), tagLength: TAG_LEN * 8 },
    sender.key,
    frame,
  );
  return concat(header, new Uint8Array(sealed));
}

/**
 * Decrypts one SFrame ciphertext whose header was parsed into `header`; rejects (with the
 * WebCrypto `OperationError`) when it does not authenticate.
 */
export async function decryptFrame(
  sender: SenderKey,
  header: FrameHeader,
  sframe: Bytes,
  metadata: Uint8Array = new Uint8Array(0),
): Promise<Bytes> {
  const headerBytes = sframe.subarray(0, header.length);
  const opened = await crypto.subtle.decrypt(
    {
      name: "AES-GCM",
      iv: frameNonce(sender.salt, header.counter),
      additionalData: concat(headerBytes, metadata),
      tagLength: TAG_LEN * 8,
    },
    sender.key,
    sframe.subarray(header.length),
  );
  return new Uint8Array(opened);
}
