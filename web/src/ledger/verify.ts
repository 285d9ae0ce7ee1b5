/**
 * Checks of the transparency log's answers in the browser, mirroring the `ledger` crate, so
 * that the web client need not trust the server for what the log says (DESIGN.md T4, T6):
 *
 * - signed notes (C2SP signed-note, Ed25519) and the checkpoint they carry
 *   (`ledger::note`, `ledger::checkpoint`);
 * - RFC 9162 inclusion proofs with RFC 6962 hashing (`ledger::proof`, `ledger::hash`);
 * - the entry envelope (`ledger::entry`) and key directory records (`ledger::key_directory`).
 *
 * The log's verifier key comes from `GET /api/v1/ledger/key` and is pinned by the caller at
 * first use: a server that later signs with another key is refused.
 */

import { ed25519 } from "@noble/curves/ed25519.js";

import { fromBase64 as decodeBase64 } from "../base64";

/** Largest signed note accepted (`ledger::note::MAX_NOTE_LEN`). */
export const MAX_NOTE_LEN = 64 * 1024;
/** Largest encoded entry accepted (`ledger::entry::MAX_ENTRY_LEN`). */
export const MAX_ENTRY_LEN = 1 << 20;
/** The longest inclusion proof of a 64-bit tree. */
const MAX_PROOF_LEN = 64;
/** Type tag of key directory entries. */
export const KEY_DIRECTORY_TAG = "key_directory.v1";

const ED25519_TYPE = 0x01;
const SIGNATURE_PREFIX = "\u2014 ";

/** Why a log answer was refused. */
export class LedgerError extends Error {
  constructor(
    readonly kind: "verifier_key" | "note" | "signature" | "checkpoint" | "proof" | "entry" | "record",
    message: string,
  ) {
    super(message);
    this.name = "LedgerError";
  }
}

type Bytes = Uint8Array<ArrayBuffer>;

function fromBase64(text: string, what: LedgerError["kind"]): Bytes {
  try {
    return decodeBase64(text);
  } catch {
    throw new LedgerError(what, "not standard base64");
  }
}

async function sha256(...parts: Uint8Array[]): Promise<Bytes> {
  const input = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    input.set(part, at);
    at += part.length;
  }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", input));
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A signed-note verifier key: `<name>+<key id hex>+<base64 of 0x01 || Ed25519 key>`. */
export interface NoteVerifier {
  readonly name: string;
  readonly keyId: Bytes;
  readonly publicKey: Bytes;
}

/** Parses and checks a verifier key (its key id must match its name and key). */
export async function parseVerifier(encoded: string): Promise<NoteVerifier> {
  // The key's base64 may itself hold '+': only the first two separate parts.
  const first = encoded.indexOf("+");
  const second = first < 0 ? -1 : encoded.indexOf("+", first + 1);
  if (second < 0) throw new LedgerError("verifier_key", "a verifier key has three parts separated by '+'");
  const name = encoded.slice(0, first);
  const idHex = encoded.slice(first + 1, second);
  const keyB64 = encoded.slice(second + 1);
  if (name.length === 0 || /[\s+]/.test(name)) throw new LedgerError("verifier_key", "bad key name");
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new LedgerError("verifier_key", "the key id is 8 hex digits");
  const key = fromBase64(keyB64, "verifier_key");
  if (key.length !== 33 || key[0] !== ED25519_TYPE) throw new LedgerError("verifier_key", "only Ed25519 verifier keys are accepted");
  const keyId = Uint8Array.from(idHex.match(/../g) ?? [], (h) => parseInt(h, 16));
  const expected = (await sha256(new TextEncoder().encode(`${name}\n`), key)).subarray(0, 4);
  if (!equal(keyId, expected)) throw new LedgerError("verifier_key", "the key id does not match the key");
  return { name, keyId, publicKey: key.slice(1) };
}

/** A checkpoint whose signature by the log's key was checked. */
export interface VerifiedCheckpoint {
  readonly origin: string;
  readonly size: bigint;
  readonly root: Bytes;
}

/**
 * Opens a signed checkpoint: the note must carry a valid signature by `verifier` (lines of
 * unknown keys are ignored, a bad one by the known key refuses the note), and its body must be
 * a checkpoint of `origin`.
 */
export async function verifyCheckpoint(note: string, verifier: NoteVerifier, origin: string): Promise<VerifiedCheckpoint> {
  if (new TextEncoder().encode(note).length > MAX_NOTE_LEN) throw new LedgerError("note", "signed note too long");
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw new LedgerError("note", "no signature block");
  const body = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split("\n");
  let signed = false;
  for (const line of lines) {
    if (!line.startsWith(SIGNATURE_PREFIX)) throw new LedgerError("note", "malformed signature line");
    const [name, payloadB64, extra] = line.slice(SIGNATURE_PREFIX.length).split(" ");
    if (name === undefined || payloadB64 === undefined || extra !== undefined) throw new LedgerError("note", "malformed signature line");
    const payload = fromBase64(payloadB64, "note");
    if (name !== verifier.name || !equal(payload.subarray(0, 4), verifier.keyId)) continue;
    const signature = payload.subarray(4);
    let valid = false;
    try {
      valid = signature.length === 64 && ed25519.verify(signature, new TextEncoder().encode(body), verifier.publicKey);
    } catch {
      valid = false;
    }
    if (!valid) throw new LedgerError("signature", "the log's signature on the checkpoint does not verify");
    signed = true;
  }
  if (!signed) throw new LedgerError("signature", "the checkpoint carries no signature by the log's key");
  const [bodyOrigin, sizeText, rootB64] = body.split("\n");
  if (bodyOrigin !== origin) throw new LedgerError("checkpoint", `checkpoint of "${bodyOrigin}", expected "${origin}"`);
  if (sizeText === undefined || !/^(0|[1-9][0-9]{0,19})$/.test(sizeText) || BigInt(sizeText) >= 1n << 64n) {
    throw new LedgerError("checkpoint", "bad tree size");
  }
  const root = fromBase64(rootB64 ?? "", "checkpoint");
  if (root.length !== 32) throw new LedgerError("checkpoint", "bad root hash");
  return { origin: bodyOrigin, size: BigInt(sizeText), root };
}

/** `SHA-256(0x00 || data)`. */
export function leafHash(data: Uint8Array): Promise<Bytes> {
  return sha256(Uint8Array.of(0), data);
}

/** Checks an inclusion proof (RFC 9162 section 2.1.3.2) of the leaf at `index` in `tree`. */
export async function verifyInclusion(leaf: Uint8Array, index: bigint, tree: VerifiedCheckpoint, proof: Uint8Array[]): Promise<void> {
  if (index >= tree.size) throw new LedgerError("proof", `leaf ${index} is beyond the tree of ${tree.size}`);
  if (proof.length > MAX_PROOF_LEN || proof.some((h) => h.length !== 32)) throw new LedgerError("proof", "malformed proof");
  let node = index;
  let last = tree.size - 1n;
  let computed: Uint8Array = leaf;
  for (const sibling of proof) {
    if (last === 0n) throw new LedgerError("proof", "proof is too long");
    if ((node & 1n) === 1n || node === last) {
      computed = await sha256(Uint8Array.of(1), sibling, computed);
      if ((node & 1n) === 0n) {
        while ((node & 1n) === 0n && node !== 0n) {
          node >>= 1n;
          last >>= 1n;
        }
      }
    } else {
      computed = await sha256(Uint8Array.of(1), computed, sibling);
    }
    node >>= 1n;
    last >>= 1n;
  }
  if (last !== 0n || !equal(computed, tree.root)) throw new LedgerError("proof", "the inclusion proof does not lead to the checkpoint's root");
}

/** A decoded entry envelope: `0x01 || u8 tag len || tag || u32_be body len || body`. */
export interface Entry {
  readonly tag: string;
  readonly body: Bytes;
}

/** Decodes an entry, refusing anything but exactly one version-1 envelope. */
export function decodeEntry(bytes: Uint8Array): Entry {
  if (bytes.length > MAX_ENTRY_LEN) throw new LedgerError("entry", "entry too long");
  if (bytes[0] !== 1) throw new LedgerError("entry", "unknown entry version");
  const tagLen = bytes[1];
  if (tagLen === undefined || tagLen === 0 || tagLen > 64 || bytes.length < 2 + tagLen + 4) throw new LedgerError("entry", "entry cut short");
  const tag = new TextDecoder().decode(bytes.subarray(2, 2 + tagLen));
  if (!/^[a-z0-9_.]+$/.test(tag)) throw new LedgerError("entry", "bad entry tag");
  const at = 2 + tagLen;
  const bodyLen = (((bytes[at] ?? 0) << 24) >>> 0) + ((bytes[at + 1] ?? 0) << 16) + ((bytes[at + 2] ?? 0) << 8) + (bytes[at + 3] ?? 0);
  if (at + 4 + bodyLen !== bytes.length) throw new LedgerError("entry", "entry length does not match its body");
  return { tag, body: bytes.slice(at + 4) };
}

/** An account's identity key as a key directory entry records it. */
export interface KeyDirectoryRecord {
  readonly accountId: string;
  readonly version: number;
  readonly publicKey: Bytes;
}

/** The proof `GET /api/v1/ledger/key-directory/{id}` answers with (`proto::ledger::KeyDirectoryProof`). */
export interface KeyDirectoryProof {
  index: number;
  entry: string;
  checkpoint: string;
  proof: string[];
}

/** One entry of `GET /api/v1/ledger/entries` (`proto::ledger::LedgerEntry`). */
export interface LedgerEntry {
  index: number;
  /** The encoded entry, base64. */
  data: string;
}

/** A page of `GET /api/v1/ledger/entries` (`proto::ledger::LedgerEntries`). */
export interface LedgerEntries {
  entries: LedgerEntry[];
  next: number;
}

/** The log's key as `GET /api/v1/ledger/key` gives it (`proto::ledger::LedgerKey`). */
export interface LedgerKey {
  origin: string;
  verifier_key: string;
}

/**
 * Checks a key directory answer: the checkpoint is signed by the log, the entry is in it, and
 * it is a key directory record of `accountId` (`ledger::verify_key_entry`, less the key
 * comparison, which the MLS member does against the credential).
 */
export async function verifyKeyDirectory(answer: KeyDirectoryProof, log: { verifier: NoteVerifier; origin: string }, accountId: string): Promise<KeyDirectoryRecord> {
  const checkpoint = await verifyCheckpoint(answer.checkpoint, log.verifier, log.origin);
  if (!Number.isSafeInteger(answer.index) || answer.index < 0) throw new LedgerError("proof", "bad entry index");
  const entryBytes = fromBase64(answer.entry, "entry");
  await verifyInclusion(await leafHash(entryBytes), BigInt(answer.index), checkpoint, answer.proof.map((h) => fromBase64(h, "proof")));
  const entry = decodeEntry(entryBytes);
  if (entry.tag !== KEY_DIRECTORY_TAG) throw new LedgerError("record", `entry is tagged ${entry.tag}, not ${KEY_DIRECTORY_TAG}`);
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(entry.body));
  } catch {
    throw new LedgerError("record", "key directory body is not JSON");
  }
  const record = body as { account_id?: unknown; version?: unknown; public_key?: unknown };
  if (typeof record.account_id !== "string" || typeof record.version !== "number" || typeof record.public_key !== "string") {
    throw new LedgerError("record", "key directory body is not the expected object");
  }
  if (record.account_id !== accountId) throw new LedgerError("record", `the entry is for account ${record.account_id}, not ${accountId}`);
  const publicKey = fromBase64(record.public_key, "record");
  if (publicKey.length !== 32) throw new LedgerError("record", "the recorded key is not 32 bytes");
  return { accountId, version: record.version, publicKey };
}
