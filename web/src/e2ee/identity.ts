/**
 * Who a group member is, byte for byte as `crates/e2ee/src/identity.rs` encodes it (the two
 * implementations must agree, `web/test/mls-interop.test.ts` checks it against openmls):
 *
 * ```text
 * "conclave member v1" || kind (1 byte: 0 account, 1 guest)
 *     || u16_be(len) || participant id || [u16_be(len) || account id]   (account only)
 * ```
 *
 * plus the two inputs that refuse a ghost (threat T4): the server's admission announcements
 * and the key directory.
 */

/** The longest participant or account id, in bytes (`franking::MAX_ID_LEN`). */
export const MAX_ID_LEN = 256;
/** Length of an Ed25519 public key. */
export const IDENTITY_KEY_LEN = 32;

const CREDENTIAL_LABEL = new TextEncoder().encode("conclave member v1");
const KIND_ACCOUNT = 0;
const KIND_GUEST = 1;

/** Why an identity or credential was refused. */
export class IdentityError extends Error {
  constructor(
    readonly reason: "participant_id_length" | "account_id_length" | "not_conclave" | "malformed" | "unknown_kind",
    message: string,
  ) {
    super(message);
    this.name = "IdentityError";
  }
}

/** What a member's MLS credential says: a participant, and its account or `null` for a guest. */
export interface MemberIdentity {
  readonly participant: string;
  readonly account: string | null;
}

function checkId(id: string, what: "participant_id_length" | "account_id_length"): Uint8Array {
  const bytes = new TextEncoder().encode(id);
  if (bytes.length === 0 || bytes.length > MAX_ID_LEN) {
    throw new IdentityError(what, `${what.replace(/_/g, " ")} of ${bytes.length} bytes is outside 1..=${MAX_ID_LEN}`);
  }
  return bytes;
}

/** The credential identity bytes (see the module docs). */
export function encodeIdentity(identity: MemberIdentity): Uint8Array<ArrayBuffer> {
  const ids = [checkId(identity.participant, "participant_id_length")];
  if (identity.account !== null) ids.push(checkId(identity.account, "account_id_length"));
  const length = CREDENTIAL_LABEL.length + 1 + ids.reduce((sum, id) => sum + 2 + id.length, 0);
  const out = new Uint8Array(length);
  out.set(CREDENTIAL_LABEL, 0);
  let at = CREDENTIAL_LABEL.length;
  out[at++] = identity.account === null ? KIND_GUEST : KIND_ACCOUNT;
  for (const id of ids) {
    out[at++] = id.length >> 8;
    out[at++] = id.length & 0xff;
    out.set(id, at);
    at += id.length;
  }
  return out;
}

/** Decodes credential identity bytes, refusing anything but the exact encoding. */
export function decodeIdentity(bytes: Uint8Array): MemberIdentity {
  const label = bytes.subarray(0, CREDENTIAL_LABEL.length);
  if (label.length !== CREDENTIAL_LABEL.length || label.some((b, i) => b !== CREDENTIAL_LABEL[i])) {
    throw new IdentityError("not_conclave", "credential is not a Conclave member credential");
  }
  let at = CREDENTIAL_LABEL.length;
  const malformed = () => new IdentityError("malformed", "malformed Conclave member credential");
  const kind = bytes[at++];
  if (kind === undefined) throw malformed();
  const takeId = (): string => {
    if (at + 2 > bytes.length) throw malformed();
    const len = ((bytes[at] ?? 0) << 8) | (bytes[at + 1] ?? 0);
    at += 2;
    if (at + len > bytes.length) throw malformed();
    const id = bytes.subarray(at, at + len);
    at += len;
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(id);
    } catch {
      throw malformed();
    }
  };
  const participant = takeId();
  checkId(participant, "participant_id_length");
  let account: string | null;
  if (kind === KIND_ACCOUNT) {
    account = takeId();
    if (account.length === 0 || new TextEncoder().encode(account).length > MAX_ID_LEN) throw malformed();
  } else if (kind === KIND_GUEST) {
    account = null;
  } else {
    throw new IdentityError("unknown_kind", `unknown member kind ${kind} in credential`);
  }
  if (at !== bytes.length) throw malformed();
  return { participant, account };
}

/** How the UI names a member in messages. */
export function describeIdentity(identity: MemberIdentity): string {
  return identity.account === null ? `guest ${identity.participant}` : `${identity.participant} (${identity.account})`;
}

/** The server's announcements of admitted participants that no Add has used yet. */
export class Admissions {
  private readonly byParticipant = new Map<string, MemberIdentity>();

  /** Records an admission; a later one for the same participant replaces it. */
  record(admission: MemberIdentity): void {
    this.byParticipant.set(admission.participant, { ...admission });
  }

  /** Whether `identity` was announced, with the same account (or as a guest). */
  admits(identity: MemberIdentity): boolean {
    const admission = this.byParticipant.get(identity.participant);
    return admission !== undefined && admission.account === identity.account;
  }

  /** Forgets the admission of a participant whose Add took effect. */
  consume(participant: string): void {
    this.byParticipant.delete(participant);
  }
}

/** Each account's current identity key, as the client learned it from the key directory. */
export class KeyDirectory {
  private readonly keys = new Map<string, Uint8Array>();

  /** Records an account's key; a later one replaces it. */
  insert(account: string, key: Uint8Array): void {
    if (key.length !== IDENTITY_KEY_LEN) {
      throw new IdentityError("malformed", `identity key of ${key.length} bytes is not ${IDENTITY_KEY_LEN}`);
    }
    this.keys.set(account, key.slice());
  }

  /** The key listed for `account`. */
  keyOf(account: string): Uint8Array | undefined {
    return this.keys.get(account);
  }
}
