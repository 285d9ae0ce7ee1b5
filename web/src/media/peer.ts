/**
 * The browser's media session with the SFU: one `RTCPeerConnection`, following the SFU's
 * conventions (`ClientMessage::MediaOffer` in `crates/proto/src/signaling.rs`,
 * `crates/sfu/src/router.rs`):
 *
 * - The client offers first and is the controlling ICE agent; the SFU is ICE-lite.
 * - Its sending m-lines are, in this order: the first audio one is the microphone (Opus), the
 *   first video one the camera (VP9, SVC `L3T3_KEY` on one SSRC), the second video one the
 *   screen. Both video m-lines prefer VP9 only (`setCodecPreferences`): Chromium decodes
 *   whole-frame-encrypted VP9, not VP8, H.264 or AV1.
 * - The SFU adds the tracks this participant receives with its own `media_offer`, answered
 *   with `media_answer`; `media_tracks` says whose media arrives on which `mid`. If the
 *   client's offer crosses the SFU's, the SFU drops its own and offers again later, so a
 *   server offer that arrives while ours is pending is ignored.
 *
 * End-to-end encryption is not optional: every sender gets the SFrame encrypt transform and
 * every receiver the decrypt transform before any frame can flow, and the three sending
 * m-lines stay `inactive`, with no track, until {@link MediaSession.enableSending} says this
 * member holds an MLS epoch key. There is no unencrypted fallback: without
 * `RTCRtpScriptTransform` the session does not start.
 */

import type { ClientMessage, MediaSource, ServerMessage, TrackInfo } from "../proto/wire";

/** The part of `MediaCrypto` the session needs. */
export interface FrameTransforms {
  encrypt(sender: RTCRtpSender): void;
  decrypt(receiver: RTCRtpReceiver): void;
}

export interface MediaSessionOptions {
  /** Sends a signaling message; false if the connection is down. */
  send: (message: ClientMessage) => boolean;
  /** The SFrame transforms (a `MediaCrypto`). */
  transforms: FrameTransforms;
  /** Shows or removes a remote participant's media: the camera stream carries their audio too. */
  onRemoteStream: (participantId: string, source: MediaSource, stream: MediaStream | null) => void;
  /** Makes the peer connection (tests hand in their own configuration). */
  createPeerConnection?: () => RTCPeerConnection;
}

/** How long an offer waits for the SFU's answer before negotiation goes on without it. */
const ANSWER_TIMEOUT_MS = 10_000;

/** The SVC mode the SFU forwards layers of (one SSRC). */
export const CAMERA_SCALABILITY_MODE = "L3T3_KEY";

/** The video codecs offered: VP9 and its retransmission, nothing else. */
export function vp9Preferences(capabilities: RTCRtpCapabilities | null): RTCRtpCodec[] {
  const codecs = capabilities?.codecs ?? [];
  const vp9 = codecs.filter((codec) => codec.mimeType.toLowerCase() === "video/vp9");
  const rtx = codecs.filter((codec) => codec.mimeType.toLowerCase() === "video/rtx");
  return [...vp9, ...rtx];
}

type LocalSource = "audio" | "video" | "screen";

export class MediaSession {
  private readonly pc: RTCPeerConnection;
  private readonly senders: Record<LocalSource, RTCRtpTransceiver>;
  private readonly localTracks: Partial<Record<LocalSource, MediaStreamTrack>> = {};
  private readonly remoteByMid = new Map<string, MediaStreamTrack>();
  private tracks: TrackInfo[] = [];
  /** The streams shown, by `participant/camera` or `participant/screen`. */
  private readonly shown = new Map<string, MediaStream>();
  private sending = false;
  private negotiating: Promise<void> = Promise.resolve();
  /** Resolves the offer step that waits for the SFU's answer. */
  private answered: (() => void) | null = null;
  private closed = false;

  constructor(private readonly options: MediaSessionOptions) {
    this.pc = options.createPeerConnection?.() ?? new RTCPeerConnection({ bundlePolicy: "max-bundle", rtcpMuxPolicy: "require" });
    // `scalabilityMode` (WebRTC-SVC) is not in TypeScript's DOM types yet.
    const cameraEncoding: RTCRtpEncodingParameters & { scalabilityMode: string } = { scalabilityMode: CAMERA_SCALABILITY_MODE };
    // Order matters: the SFU reads the first audio, first video and second video m-lines.
    this.senders = {
      audio: this.pc.addTransceiver("audio", { direction: "inactive" }),
      video: this.pc.addTransceiver("video", { direction: "inactive", sendEncodings: [cameraEncoding] }),
      screen: this.pc.addTransceiver("video", { direction: "inactive" }),
    };
    const videoCodecs = vp9Preferences(RTCRtpReceiver.getCapabilities("video"));
    for (const transceiver of [this.senders.video, this.senders.screen]) {
      if (videoCodecs.length > 0) transceiver.setCodecPreferences(videoCodecs);
    }
    for (const transceiver of Object.values(this.senders)) {
      options.transforms.encrypt(transceiver.sender);
      options.transforms.decrypt(transceiver.receiver);
    }
    this.pc.ontrack = (event) => this.onTrack(event);
  }

  /** Sends the first offer (receive nothing, send nothing until keys exist). */
  start(): Promise<void> {
    return this.offer();
  }

  /** Handles the media part of the signaling. */
  handle(message: ServerMessage): void {
    if (this.closed) return;
    switch (message.type) {
      case "media_answer":
        // Not queued: the offer step ahead in the queue waits for this answer.
        this.pc
          .setRemoteDescription({ type: "answer", sdp: message.sdp })
          .catch((error: unknown) => console.warn("media answer refused", error))
          .finally(() => {
            const answered = this.answered;
            this.answered = null;
            answered?.();
          });
        break;
      case "media_offer":
        this.queue(() => this.answer(message.sdp));
        break;
      case "media_tracks":
        this.tracks = message.tracks;
        this.reconcile();
        break;
      default:
        break;
    }
  }

  /**
   * Sets the local tracks to send once keys exist (a track of null stops that source).
   * Before {@link enableSending} they are only remembered.
   */
  setLocalTrack(source: LocalSource, track: MediaStreamTrack | null): Promise<void> {
    if (track) this.localTracks[source] = track;
    else delete this.localTracks[source];
    return this.sending ? this.applyLocal() : Promise.resolve();
  }

  /**
   * This member holds an MLS epoch key (its SFrame worker has it installed): attach the local
   * tracks and make their m-lines send. Call only after `MediaCrypto.installEpoch`.
   */
  enableSending(): Promise<void> {
    if (this.sending || this.closed) return Promise.resolve();
    this.sending = true;
    return this.applyLocal();
  }

  /** Whether local media may flow (keys exist). */
  get isSending(): boolean {
    return this.sending;
  }

  /** The connection, for stats. */
  get connection(): RTCPeerConnection {
    return this.pc;
  }

  close(): void {
    this.closed = true;
    for (const key of [...this.shown.keys()]) this.show(key, null);
    this.pc.close();
  }

  private async applyLocal(): Promise<void> {
    let changed = false;
    for (const source of ["audio", "video", "screen"] as const) {
      const transceiver = this.senders[source];
      const track = this.localTracks[source] ?? null;
      await transceiver.sender.replaceTrack(track);
      const direction: RTCRtpTransceiverDirection = track ? "sendonly" : "inactive";
      if (transceiver.direction !== direction) {
        transceiver.direction = direction;
        changed = true;
      }
    }
    if (changed) await this.offer();
  }

  private queue(step: () => Promise<unknown>): void {
    this.negotiating = this.negotiating.then(step).then(
      () => undefined,
      (error: unknown) => console.warn("media negotiation failed", error),
    );
  }

  private offer(): Promise<void> {
    this.queue(async () => {
      const offer = await this.pc.createOffer();
      await this.pc.setLocalDescription(offer);
      const sdp = this.pc.localDescription?.sdp;
      if (!sdp || !this.options.send({ type: "media_offer", sdp })) return;
      // One offer at a time: the next negotiation starts from the answered state.
      await new Promise<void>((resolve) => {
        this.answered = resolve;
        setTimeout(resolve, ANSWER_TIMEOUT_MS);
      });
    });
    return this.negotiating;
  }

  private async answer(sdp: string): Promise<void> {
    // Our offer crossed the SFU's: the SFU answers ours and offers again afterwards.
    if (this.pc.signalingState === "have-local-offer") return;
    await this.pc.setRemoteDescription({ type: "offer", sdp });
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    const answer = this.pc.localDescription?.sdp;
    if (answer) this.options.send({ type: "media_answer", sdp: answer });
  }

  private onTrack(event: RTCTrackEvent): void {
    // Transforms go on before frames flow; a transceiver the SFU added is new here.
    if (!Object.values(this.senders).includes(event.transceiver)) this.options.transforms.decrypt(event.receiver);
    const mid = event.transceiver.mid;
    if (mid === null) return;
    this.remoteByMid.set(mid, event.track);
    event.track.onended = () => {
      this.remoteByMid.delete(mid);
      this.reconcile();
    };
    this.reconcile();
  }

  /** Shows each participant's camera (with their audio) and screen from the tracks known now. */
  private reconcile(): void {
    const wanted = new Map<string, MediaStreamTrack[]>();
    for (const info of this.tracks) {
      const track = this.remoteByMid.get(info.mid);
      if (!track) continue;
      const key = `${info.participant_id}/${info.source === "screen" ? "screen" : "camera"}`;
      wanted.set(key, [...(wanted.get(key) ?? []), track]);
    }
    for (const key of [...this.shown.keys()]) if (!wanted.has(key)) this.show(key, null);
    for (const [key, tracks] of wanted) {
      const current = this.shown.get(key);
      const same = current && current.getTracks().length === tracks.length && tracks.every((t) => current.getTrackById(t.id));
      if (!same) this.show(key, new MediaStream(tracks));
    }
  }

  private show(key: string, stream: MediaStream | null): void {
    if (stream) this.shown.set(key, stream);
    else this.shown.delete(key);
    const [participant, kind] = key.split("/") as [string, string];
    this.options.onRemoteStream(participant, kind === "screen" ? "screen" : "video", stream);
  }
}
