/**
 * "Check this browser": a loopback video call inside the page, through the SFrame worker,
 * that tells whether this browser can send and receive end-to-end encrypted video as Conclave
 * does it (RTCRtpScriptTransform, VP9, whole frames encrypted with a key the page makes up).
 * Nothing leaves the machine: both peers are in this page and the candidates are loopback.
 */

import type { AppContext } from "../app";
import { MediaCrypto, scriptTransformSupported } from "../e2ee/media-crypto";
import { openMedia, stopStream } from "../media/devices";
import { button, h, replace } from "./dom";

/** How long the check waits for decoded frames. */
const CHECK_TIMEOUT_MS = 15_000;
/** Decoded frames the check waits for: three seconds of a 30 fps camera. */
const CHECK_FRAMES = 90;

export interface CheckResult {
  ok: boolean;
  codec: string | null;
  encrypted: number;
  decrypted: number;
  framesDecoded: number;
  /** The SFrame worker's time per frame, milliseconds. */
  encryptMsPerFrame: number | null;
  decryptMsPerFrame: number | null;
  /** The size of the picture sent. */
  resolution: string | null;
  problem: string | null;
}

export function renderCheck(ctx: AppContext, container: HTMLElement): () => void {
  const output = h("div", { class: "check-result", role: "status", "aria-live": "polite" });
  const remote = h("video", { autoplay: true, playsinline: true, muted: true, class: "check-video", "aria-label": "Video after encryption and decryption" });
  let stop: (() => void) | null = null;
  const run = async () => {
    stop?.();
    replace(output, h("p", {}, "Checking…"));
    const check = await loopbackCheck(remote);
    stop = check.stop;
    const r = check.result;
    output.dataset["ok"] = String(r.ok);
    replace(
      output,
      h("p", { class: r.ok ? "check-ok" : "check-failed" }, r.ok ? "This browser can send and receive end-to-end encrypted video." : "This browser could not complete the encrypted video check."),
      r.problem ? h("p", {}, r.problem) : null,
      h("dl", { class: "check-figures" },
        h("dt", {}, "Video codec"), h("dd", { "data-figure": "codec" }, r.codec ?? "none"),
        h("dt", {}, "Frames encrypted"), h("dd", { "data-figure": "encrypted" }, String(r.encrypted)),
        h("dt", {}, "Frames decrypted"), h("dd", { "data-figure": "decrypted" }, String(r.decrypted)),
        h("dt", {}, "Frames decoded"), h("dd", { "data-figure": "decoded" }, String(r.framesDecoded)),
        h("dt", {}, "Picture sent"), h("dd", { "data-figure": "resolution" }, r.resolution ?? "unknown"),
        h("dt", {}, "Encryption time per frame (ms)"), h("dd", { "data-figure": "encrypt-ms" }, r.encryptMsPerFrame?.toFixed(3) ?? "none"),
        h("dt", {}, "Decryption time per frame (ms)"), h("dd", { "data-figure": "decrypt-ms" }, r.decryptMsPerFrame?.toFixed(3) ?? "none")),
    );
  };
  replace(
    container,
    h("h1", {}, "Check this browser"),
    h("p", {}, "A test call inside this page, from the camera through end-to-end encryption and back, without sending anything over the network."),
    h("section", { class: "card" }, remote, output, h("div", { class: "actions" }, button("Run the check again", () => void run()), button("Go to the start page", () => ctx.navigate("/"), { class: "secondary" }))),
  );
  ctx.screen("Check this browser");
  void run();
  return () => stop?.();
}

/** Runs the loopback call; `stop` releases the camera and both connections. */
export async function loopbackCheck(view: HTMLVideoElement): Promise<{ result: CheckResult; stop: () => void }> {
  const result: CheckResult = {
    ok: false,
    codec: null,
    encrypted: 0,
    decrypted: 0,
    framesDecoded: 0,
    encryptMsPerFrame: null,
    decryptMsPerFrame: null,
    resolution: null,
    problem: null,
  };
  if (!scriptTransformSupported()) {
    result.problem = "This browser has no RTCRtpScriptTransform, which end-to-end encrypted media needs.";
    return { result, stop: () => {} };
  }
  const media = await openMedia({ video: true, audio: false, cameraId: null, microphoneId: null });
  const track = media.stream?.getVideoTracks()[0];
  if (!track) {
    result.problem = media.problem?.message ?? "No camera picture to send.";
    return { result, stop: () => {} };
  }
  const sending = new MediaCrypto();
  const receiving = new MediaCrypto();
  const sender = new RTCPeerConnection();
  const receiver = new RTCPeerConnection();
  const stop = () => {
    sender.close();
    receiver.close();
    sending.close();
    receiving.close();
    stopStream(media.stream);
  };
  try {
    const baseKey = crypto.getRandomValues(new Uint8Array(16));
    sending.installEpoch(1n, baseKey.slice());
    sending.setOwnLeaf(0);
    receiving.installEpoch(1n, baseKey);

    sender.onicecandidate = (e) => void (e.candidate && receiver.addIceCandidate(e.candidate));
    receiver.onicecandidate = (e) => void (e.candidate && sender.addIceCandidate(e.candidate));
    receiver.ontrack = (e) => {
      receiving.decrypt(e.receiver);
      view.srcObject = new MediaStream([e.track]);
    };
    const transceiver = sender.addTransceiver(track, { direction: "sendonly" });
    // VP9 first: Chromium decodes whole-frame encrypted VP9 (DESIGN.md, "SFrame").
    const codecs = RTCRtpSender.getCapabilities("video")?.codecs ?? [];
    const vp9 = codecs.filter((c) => c.mimeType.toLowerCase() === "video/vp9");
    if (vp9.length === 0) throw new Error("This browser cannot send VP9.");
    transceiver.setCodecPreferences([...vp9, ...codecs.filter((c) => c.mimeType.toLowerCase() !== "video/vp9")]);
    sending.encrypt(transceiver.sender);

    await sender.setLocalDescription();
    await receiver.setRemoteDescription(sender.localDescription!);
    await receiver.setLocalDescription();
    await sender.setRemoteDescription(receiver.localDescription!);

    const deadline = performance.now() + CHECK_TIMEOUT_MS;
    while (performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      const stats = await receiver.getStats();
      stats.forEach((s: { type?: string; kind?: string; framesDecoded?: number; codecId?: string }) => {
        if (s.type === "inbound-rtp" && s.kind === "video") {
          result.framesDecoded = s.framesDecoded ?? 0;
          const codec = s.codecId ? (stats.get(s.codecId) as { mimeType?: string } | undefined) : undefined;
          result.codec = codec?.mimeType ?? result.codec;
        }
      });
      if (result.framesDecoded >= CHECK_FRAMES) break;
    }
    const [sent, received] = await Promise.all([sending.stats(), receiving.stats()]);
    result.encrypted = sent.encrypted;
    result.decrypted = received.decrypted;
    if (sent.encrypted > 0) result.encryptMsPerFrame = sent.encrypt_ms / sent.encrypted;
    if (received.decrypted > 0) result.decryptMsPerFrame = received.decrypt_ms / received.decrypted;
    const settings = track.getSettings();
    if (settings.width && settings.height) result.resolution = `${settings.width}x${settings.height}@${Math.round(settings.frameRate ?? 0)}`;
    result.ok = result.framesDecoded > 0 && result.encrypted > 0 && result.decrypted > 0 && result.codec?.toLowerCase() === "video/vp9";
    if (!result.ok && !result.problem) result.problem = "No encrypted frame was decoded in time.";
  } catch (e) {
    result.problem = e instanceof Error ? e.message : String(e);
  }
  return { result, stop };
}
