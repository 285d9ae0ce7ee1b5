/**
 * Entry of the SFrame worker that `RTCRtpScriptTransform` runs (see `src/e2ee/media-crypto.ts`
 * for the main-thread side). One worker serves every sender and receiver of a meeting, so all
 * transforms share one set of keys: the main thread posts {@link WorkerCommand}s (new epoch,
 * own leaf index), and each `rtctransform` event wires one sender or receiver through
 * {@link FrameCryptor}.
 */

/// <reference lib="webworker" />

import { FrameCryptor, type TransformOptions, type WorkerCommand } from "./transform";

declare const self: DedicatedWorkerGlobalScope;

const cryptor = new FrameCryptor();
const clock = () => performance.now();

self.onmessage = (event: MessageEvent<WorkerCommand>) => {
  try {
    const reply = cryptor.command(event.data, clock());
    if (reply) self.postMessage(reply);
  } catch (e) {
    self.postMessage({ type: "error", message: e instanceof Error ? e.message : String(e) });
  }
};

self.onrtctransform = (event: RTCTransformEvent) => {
  const transformer = event.transformer;
  const options = transformer.options as TransformOptions | undefined;
  const operation = options?.operation === "decrypt" ? "decrypt" : "encrypt";
  void transformer.readable
    .pipeThrough(cryptor.transformStream<RTCEncodedVideoFrame | RTCEncodedAudioFrame>(operation, clock))
    .pipeTo(transformer.writable);
};
