/**
 * Invite links and the meeting's encrypted title and description (DESIGN.md, T2).
 *
 * An invite link is `<origin>/m/<meeting id>#k=<key>`. The key (128 random bits, base64url)
 * lives only in the fragment, which browsers never send to a server; the server stores the
 * title and description as an opaque AES-GCM blob it cannot read:
 * `version (1 byte) || IV (12 bytes) || AES-128-GCM(key, IV, AAD, JSON {title, description})`,
 * with AAD = `"conclave meeting info v1"`. Each meeting has its own key, so a blob moved to
 * another meeting does not decrypt.
 */

import { MAX_ENCRYPTED_INFO_BYTES } from "./proto/wire";

/** Longest title, in characters. */
export const MAX_TITLE_CHARS = 200;
/** Longest description, in characters. */
export const MAX_DESCRIPTION_CHARS = 2000;

const VERSION = 1;
const IV_LEN = 12;
const KEY_LEN = 16;
const AAD = new TextEncoder().encode("conclave meeting info v1");
const MEETING_ID = /^[A-Za-z0-9_-]{22}$/;

/** What the host typed; encrypted before it leaves the browser. */
export interface MeetingInfo {
  title: string;
  description: string;
}

/** Why an invite or an info blob was refused. */
export class InviteError extends Error {
  constructor(
    readonly kind: "bad_link" | "bad_key" | "too_long" | "undecryptable",
    message: string,
  ) {
    super(message);
    this.name = "InviteError";
  }
}

export function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new InviteError("bad_key", "not base64url");
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** A fresh meeting-info key, as it goes into the link. */
export function newInfoKey(): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(KEY_LEN)));
}

async function importInfoKey(key: string): Promise<CryptoKey> {
  const raw = fromBase64Url(key);
  if (raw.length !== KEY_LEN) throw new InviteError("bad_key", `the link's key must be ${KEY_LEN} bytes`);
  return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}

/** Encrypts title and description into the base64 blob the server stores. */
export async function encryptInfo(info: MeetingInfo, key: string): Promise<string> {
  if ([...info.title].length > MAX_TITLE_CHARS) {
    throw new InviteError("too_long", `a title may be at most ${MAX_TITLE_CHARS} characters`);
  }
  if ([...info.description].length > MAX_DESCRIPTION_CHARS) {
    throw new InviteError("too_long", `a description may be at most ${MAX_DESCRIPTION_CHARS} characters`);
  }
  const plain = new TextEncoder().encode(JSON.stringify({ title: info.title, description: info.description }));
  const iv = crypto.getRandomValues(new Uint8Array(IV_LEN));
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: AAD }, await importInfoKey(key), plain),
  );
  const blob = new Uint8Array(1 + IV_LEN + sealed.length);
  blob[0] = VERSION;
  blob.set(iv, 1);
  blob.set(sealed, 1 + IV_LEN);
  if (blob.length > MAX_ENCRYPTED_INFO_BYTES) {
    throw new InviteError("too_long", "title and description are too long together");
  }
  return toBase64(blob);
}

/** Decrypts the server's blob with the link's key; fails if either was tampered with. */
export async function decryptInfo(blob: string, key: string): Promise<MeetingInfo> {
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = fromBase64(blob);
  } catch {
    throw new InviteError("undecryptable", "the stored meeting info is not base64");
  }
  if (bytes.length < 1 + IV_LEN + 16 || bytes[0] !== VERSION) {
    throw new InviteError("undecryptable", "the stored meeting info has an unknown format");
  }
  let plain: ArrayBuffer;
  try {
    plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: bytes.subarray(1, 1 + IV_LEN), additionalData: AAD },
      await importInfoKey(key),
      bytes.subarray(1 + IV_LEN),
    );
  } catch (e) {
    if (e instanceof InviteError) throw e;
    throw new InviteError("undecryptable", "the meeting info does not decrypt with this link's key");
  }
  const parsed = JSON.parse(new TextDecoder().decode(plain)) as Partial<MeetingInfo>;
  return {
    title: typeof parsed.title === "string" ? parsed.title.slice(0, MAX_TITLE_CHARS * 2) : "",
    description: typeof parsed.description === "string" ? parsed.description.slice(0, MAX_DESCRIPTION_CHARS * 2) : "",
  };
}

/** A parsed invite: the meeting and, if the link had one, the info key. */
export interface Invite {
  meetingId: string;
  key: string | null;
}

/** The path of a meeting's page (what is sent to the server: no key). */
export function meetingPath(meetingId: string): string {
  return `/m/${meetingId}`;
}

/** The full invite link. */
export function inviteLink(origin: string, meetingId: string, key: string | null): string {
  return `${origin}${meetingPath(meetingId)}${key ? `#k=${key}` : ""}`;
}

/** Reads a meeting id and key from an invite link, a `/m/...` path, or a bare meeting id. */
export function parseInvite(text: string, base = "http://invalid"): Invite {
  const trimmed = text.trim();
  if (MEETING_ID.test(trimmed)) return { meetingId: trimmed, key: null };
  let url: URL;
  try {
    url = new URL(trimmed, base);
  } catch {
    throw new InviteError("bad_link", "that is neither an invite link nor a meeting id");
  }
  const match = /^\/m\/([A-Za-z0-9_-]{22})\/?$/.exec(url.pathname);
  if (!match?.[1]) throw new InviteError("bad_link", "that link does not name a meeting");
  const key = new URLSearchParams(url.hash.slice(1)).get("k");
  return { meetingId: match[1], key: key && /^[A-Za-z0-9_-]{22}$/.test(key) ? key : null };
}
