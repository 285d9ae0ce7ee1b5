/**
 * The main-thread side of the SFrame worker (`sframe/worker.ts`): one worker per meeting,
 * through which every sender and receiver runs with `RTCRtpScriptTransform`.
 *
 * Plug-in points for the media (#3) and MLS (#4) wiring:
 * - after creating a sender: `crypto.encrypt(sender)`; for each receiver: `crypto.decrypt(receiver)`
 *   (before any frame flows, i.e. right after `addTransceiver` / in `ontrack`);
 * - after joining the MLS group: `crypto.setOwnLeaf(leafIndex)`;
 * - after every commit: `crypto.installEpoch(epoch, exporterSecret)` with
 *   `MLS-Exporter("SFrame 1.0 Base Key", "", 16)` of that epoch.
 */

import type { CryptorStats, TransformOptions, WorkerCommand } from "../sframe/transform";

/** Whether this browser can run SFrame on encoded frames. */
export function scriptTransformSupported(): boolean {
  return typeof RTCRtpScriptTransform !== "undefined";
}

export class MediaCrypto {
  private readonly worker: Worker;
  private readonly pendingStats: ((stats: CryptorStats) => void)[] = [];
  /** The last error the worker reported, if any. */
  lastError: string | null = null;

  constructor() {
    this.worker = new Worker(new URL("../sframe/worker.ts", import.meta.url), { type: "module", name: "sframe" });
    this.worker.onmessage = (event: MessageEvent<CryptorStats | { type: "error"; message: string }>) => {
      if (event.data.type === "stats") this.pendingStats.shift()?.(event.data);
      else this.lastError = event.data.message;
    };
  }

  private post(command: WorkerCommand, transfer: Transferable[] = []): void {
    this.worker.postMessage(command, transfer);
  }

  /** Encrypts everything this sender sends from now on. */
  encrypt(sender: RTCRtpSender): void {
    sender.transform = new RTCRtpScriptTransform(this.worker, { operation: "encrypt" } satisfies TransformOptions);
  }

  /** Decrypts everything this receiver receives from now on. */
  decrypt(receiver: RTCRtpReceiver): void {
    receiver.transform = new RTCRtpScriptTransform(this.worker, { operation: "decrypt" } satisfies TransformOptions);
  }

  /** This member's MLS leaf index. */
  setOwnLeaf(leaf: number): void {
    this.post({ type: "set_own_leaf", leaf });
  }

  /** A new epoch's base key; the buffer is handed over to the worker (and emptied here). */
  installEpoch(epoch: bigint, baseKey: Uint8Array<ArrayBuffer>): void {
    const copy = baseKey.slice().buffer;
    baseKey.fill(0);
    this.post({ type: "install_epoch", epoch: epoch.toString(), base_key: copy }, [copy]);
  }

  /** The worker's counters. */
  stats(): Promise<CryptorStats> {
    return new Promise((resolve) => {
      this.pendingStats.push(resolve);
      this.post({ type: "stats" });
    });
  }

  close(): void {
    this.worker.terminate();
  }
}
