/**
 * The frame-by-frame core of the SFrame worker: whole encoded frames in, whole SFrame frames
 * out (and back). Opus and VP9 frames are encrypted whole (DESIGN.md, "SFrame"), so no
 * metadata travels in the clear.
 *
 * No plaintext frame ever leaves an encrypting transform: before the first epoch is installed,
 * or when encryption fails, the frame is dropped. A frame that does not decrypt is dropped too.
 * Kept apart from `worker.ts` so that it runs in unit tests without a browser.
 */

import { MediaError, MediaKeys } from "./media-keys";

/** What the main thread tells the worker (see `src/e2ee/media-crypto.ts`). */
export type WorkerCommand =
  /** A new MLS epoch: its number (decimal, it is a u64) and `MLS-Exporter("SFrame 1.0 Base Key", "", 16)`. */
  | { type: "install_epoch"; epoch: string; base_key: ArrayBuffer }
  /** This member's leaf index in the MLS group: the sender part of its KID. */
  | { type: "set_own_leaf"; leaf: number }
  /** Ask for a {@link CryptorStats} reply. */
  | { type: "stats" };

/** Which way a transform works, given as the `RTCRtpScriptTransform` options. */
export interface TransformOptions {
  operation: "encrypt" | "decrypt";
}

/** Counters for the E2EE status area and for tests; no key material. */
export interface CryptorStats {
  type: "stats";
  epoch: string | null;
  encrypted: number;
  decrypted: number;
  /** Frames dropped because no epoch (or no own leaf) was installed yet. */
  dropped_without_key: number;
  /** Frames dropped because they failed to decrypt (wrong epoch, forged, corrupt). */
  dropped_failed: number;
  /** Time the transforms spent encrypting and decrypting, in total, in milliseconds. */
  encrypt_ms: number;
  decrypt_ms: number;
  /** Leaf indices that sent frames which authenticated, most recent last. */
  senders: number[];
  last_error: string | null;
}

/** The part of `RTCEncodedVideoFrame` / `RTCEncodedAudioFrame` this code touches. */
export interface EncodedFrame {
  data: ArrayBuffer;
}

/** One worker's keys and counters, shared by all its transforms. */
export class FrameCryptor {
  private readonly keys = new MediaKeys();
  private ownLeaf: number | null = null;
  private readonly stats: CryptorStats = {
    type: "stats",
    epoch: null,
    encrypted: 0,
    decrypted: 0,
    dropped_without_key: 0,
    dropped_failed: 0,
    encrypt_ms: 0,
    decrypt_ms: 0,
    senders: [],
    last_error: null,
  };

  /** Applies a command; returns the reply to post back, if any. */
  command(command: WorkerCommand, now: number): CryptorStats | null {
    switch (command.type) {
      case "install_epoch":
        this.keys.installEpoch(BigInt(command.epoch), new Uint8Array(command.base_key), now);
        this.stats.epoch = command.epoch;
        return null;
      case "set_own_leaf":
        if (!Number.isInteger(command.leaf) || command.leaf < 0 || command.leaf > 0xffffffff) {
          throw new RangeError(`leaf index ${command.leaf} is not a 32-bit unsigned integer`);
        }
        this.ownLeaf = command.leaf;
        return null;
      case "stats":
        return { ...this.stats, senders: [...this.stats.senders] };
    }
  }

  /** Encrypts one frame, or returns null when it must be dropped. */
  async encrypt(data: ArrayBuffer): Promise<ArrayBuffer | null> {
    if (this.ownLeaf === null || this.keys.currentEpoch() === null) {
      this.stats.dropped_without_key += 1;
      return null;
    }
    try {
      const out = await this.keys.encrypt(new Uint8Array(data), this.ownLeaf);
      this.stats.encrypted += 1;
      return out.buffer;
    } catch (e) {
      this.stats.dropped_failed += 1;
      this.stats.last_error = e instanceof Error ? e.message : String(e);
      return null;
    }
  }

  /** Decrypts one frame, or returns null when it must be dropped. */
  async decrypt(data: ArrayBuffer, now: number): Promise<ArrayBuffer | null> {
    try {
      const frame = await this.keys.decrypt(new Uint8Array(data), now);
      this.stats.decrypted += 1;
      if (this.stats.senders.at(-1) !== frame.sender) {
        this.stats.senders = [...this.stats.senders.filter((s) => s !== frame.sender), frame.sender];
      }
      return frame.payload.buffer;
    } catch (e) {
      const withoutKey = e instanceof MediaError && (e.kind === "unknown_epoch" || e.kind === "no_epoch");
      if (withoutKey) this.stats.dropped_without_key += 1;
      else this.stats.dropped_failed += 1;
      this.stats.last_error = e instanceof Error ? e.message : String(e);
      return null;
    }
  }

  /** A stream stage for `transformer.readable.pipeThrough(...)`, in encoded-frame order. */
  transformStream<F extends EncodedFrame>(operation: TransformOptions["operation"], clock: () => number): TransformStream<F, F> {
    return new TransformStream<F, F>({
      transform: async (frame, controller) => {
        const start = clock();
        const out = operation === "encrypt" ? await this.encrypt(frame.data) : await this.decrypt(frame.data, start);
        // Wall time, awaits included: an upper bound of what the transform adds per frame.
        if (operation === "encrypt") this.stats.encrypt_ms += clock() - start;
        else this.stats.decrypt_ms += clock() - start;
        if (out === null) return;
        frame.data = out;
        controller.enqueue(frame);
      },
    });
  }
}
