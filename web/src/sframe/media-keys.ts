/**
 * A member's SFrame keys, keyed from MLS per RFC 9605 section 5.2: the web client's mirror of
 * `MediaKeys` in `crates/e2ee/src/media.rs`, with the same rules.
 *
 * - The MLS group driver calls {@link MediaKeys.installEpoch} after each commit with the epoch's
 *   base key, `MLS-Exporter("SFrame 1.0 Base Key", "", 16)`.
 * - A sender's key and salt come from that base key and its KID (leaf index and epoch bits,
 *   see `header.ts`) through the section 4.4.2 key schedule.
 * - A superseded epoch stays usable for decryption for {@link EPOCH_GRACE_MS}, then its keys are
 *   dropped; an epoch sharing the new one's low KID bits is dropped at once.
 * - Counters live here: one CTR sequence per (epoch, own leaf), never reused.
 *
 * Sans-IO: time is the `now` (milliseconds, any monotonic clock) the caller passes in.
 */

import { epochBits, HeaderError, kidFor, kidEpochBits, kidSender, MAX_FRAME_LEN, parseHeader } from "./header";
import { decryptFrame, deriveSenderKey, encryptFrame, importBaseKey, TAG_LEN, type Bytes, type SenderKey } from "./suite";

/** The MLS exporter label that yields an epoch's SFrame base key (RFC 9605 section 5.2). */
export const EXPORTER_LABEL = "SFrame 1.0 Base Key";
/** Length of the base key: `AEAD.Nk` of AES_128_GCM_SHA256_128. */
export const BASE_KEY_LEN = 16;
/** How long an epoch stays usable for decryption after a newer one is installed. */
export const EPOCH_GRACE_MS = 10_000;
/** Decryption keys cached per epoch; beyond it keys are derived per frame. */
const MAX_CACHED_SENDERS = 1024;
/** The longest header: config byte, 8 KID bytes, 8 CTR bytes. */
const MAX_HEADER_LEN = 17;
const U64_MAX = (1n << 64n) - 1n;

/** Why a frame could not be encrypted or decrypted, or an epoch not installed. */
export class MediaError extends Error {
  constructor(
    readonly kind:
      | "header"
      | "too_short"
      | "frame_too_long"
      | "no_epoch"
      | "stale_epoch"
      | "bad_base_key"
      | "unknown_epoch"
      | "epoch_expired"
      | "authentication"
      | "counter_exhausted",
    message: string,
  ) {
    super(message);
    this.name = "MediaError";
  }
}

/** A frame that decrypted and authenticated under a member key of an installed epoch. */
export interface DecryptedFrame {
  /** The leaf index the KID names (any member could name any leaf: RFC 9605 section 7.2). */
  readonly sender: number;
  readonly epoch: bigint;
  readonly counter: bigint;
  readonly payload: Bytes;
}

interface EpochKeys {
  readonly epoch: bigint;
  /** The base key, imported for HKDF only. */
  readonly baseKey: Promise<CryptoKey>;
  supersededAt: number | null;
  /** Decryption keys of senders whose frames authenticated in this epoch. */
  readonly receivers: Map<number, SenderKey>;
  /** Encryption key and next CTR per own leaf, for the epoch's lifetime. */
  readonly senders: Map<number, { key: Promise<SenderKey>; next: bigint }>;
}

function expired(keys: EpochKeys, now: number): boolean {
  return keys.supersededAt !== null && now - keys.supersededAt >= EPOCH_GRACE_MS;
}

/** A member's SFrame keys: the current epoch for sending and receiving, recent ones for receiving. */
export class MediaKeys {
  /** Installed epochs, oldest first; the last one is current. */
  private epochs: EpochKeys[] = [];

  /**
   * Installs the keys of a new MLS epoch, which becomes current for sending. Synchronous, so
   * that frames handled after this call use the new epoch, whatever WebCrypto still has to do.
   * The caller's `baseKey` buffer is zeroed once imported.
   */
  installEpoch(epoch: bigint, baseKey: Bytes, now: number): void {
    if (baseKey.length !== BASE_KEY_LEN) {
      throw new MediaError("bad_base_key", `a base key is ${BASE_KEY_LEN} bytes, got ${baseKey.length}`);
    }
    if (epoch < 0n || epoch > U64_MAX) {
      throw new MediaError("stale_epoch", `epoch ${epoch} is not a 64-bit unsigned integer`);
    }
    const newest = this.currentEpoch();
    if (newest !== null && epoch <= newest) {
      throw new MediaError("stale_epoch", `epoch ${epoch} is not newer than the current epoch ${newest}`);
    }
    const current = this.epochs.at(-1);
    if (current) current.supersededAt = now;
    const bits = epochBits(epoch);
    this.epochs = this.epochs.filter((e) => epochBits(e.epoch) !== bits && !expired(e, now));
    const imported = importBaseKey(baseKey.slice());
    baseKey.fill(0);
    this.epochs.push({ epoch, baseKey: imported, supersededAt: null, receivers: new Map(), senders: new Map() });
  }

  /** The epoch frames are encrypted in, or null before the first one. */
  currentEpoch(): bigint | null {
    return this.epochs.at(-1)?.epoch ?? null;
  }

  /** Drops the keys of every epoch whose grace period is over at `now`. */
  expire(now: number): void {
    this.epochs = this.epochs.filter((e) => !expired(e, now));
  }

  /**
   * Encrypts a media frame as the member at leaf `sender` in the current epoch: header,
   * encrypted frame, tag. `metadata` is authenticated but not sent (RFC 9605 section 4.4.3).
   */
  async encrypt(frame: Bytes, sender: number, metadata?: Uint8Array): Promise<Bytes> {
    const maxFrame = MAX_FRAME_LEN - MAX_HEADER_LEN - TAG_LEN;
    if (frame.length > maxFrame) {
      throw new MediaError("frame_too_long", `media frame of ${frame.length} bytes exceeds the limit of ${maxFrame}`);
    }
    const keys = this.epochs.at(-1);
    if (!keys) throw new MediaError("no_epoch", "no MLS epoch installed yet");
    let state = keys.senders.get(sender);
    if (!state) {
      const kid = kidFor(sender, keys.epoch);
      state = { key: keys.baseKey.then((base) => deriveSenderKey(base, kid)), next: 0n };
      keys.senders.set(sender, state);
    }
    // The counter is taken before any await, so concurrent calls never share one.
    const counter = state.next;
    if (counter > U64_MAX) throw new MediaError("counter_exhausted", `SFrame counter exhausted in epoch ${keys.epoch}`);
    state.next = counter + 1n;
    return encryptFrame(await state.key, counter, frame, metadata);
  }

  /**
   * Decrypts an SFrame ciphertext with the key its KID names. Refuses a frame of an epoch never
   * installed, evicted or expired at `now`, and any frame that fails authentication.
   */
  async decrypt(sframe: Bytes, now: number, metadata?: Uint8Array): Promise<DecryptedFrame> {
    let header;
    let sender;
    try {
      header = parseHeader(sframe);
      sender = kidSender(header.kid);
    } catch (e) {
      if (e instanceof HeaderError) throw new MediaError("header", e.message);
      throw e;
    }
    const min = header.length + TAG_LEN;
    if (sframe.length < min) {
      throw new MediaError("too_short", `SFrame ciphertext of ${sframe.length} bytes is shorter than the ${min} its header and tag need`);
    }
    const bits = kidEpochBits(header.kid);
    const stale = this.epochs.find((e) => epochBits(e.epoch) === bits && expired(e, now));
    this.expire(now);
    if (stale) throw new MediaError("epoch_expired", `epoch ${stale.epoch} expired`);
    const keys = this.epochs.find((e) => epochBits(e.epoch) === bits);
    if (!keys) throw new MediaError("unknown_epoch", `no keys for a frame whose KID carries epoch bits ${bits}`);

    const cached = keys.receivers.get(sender);
    const key = cached ?? (await deriveSenderKey(await keys.baseKey, header.kid));
    let payload;
    try {
      payload = await decryptFrame(key, header, sframe, metadata);
    } catch {
      throw new MediaError("authentication", `frame claiming leaf ${sender} in epoch ${keys.epoch} failed authentication`);
    }
    // Cached only now that a frame authenticated under it, so forged KIDs cannot fill the cache.
    if (!cached && keys.receivers.size < MAX_CACHED_SENDERS) keys.receivers.set(sender, key);
    return { sender, epoch: keys.epoch, counter: header.counter, payload };
  }
}
