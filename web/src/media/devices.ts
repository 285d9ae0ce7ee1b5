/**
 * The local camera and microphone: opening them with a chosen device, listing devices, and
 * telling apart the ways it fails (blocked, missing, busy), each with its own screen.
 */

/** Why the camera or microphone could not be opened. */
export type MediaProblem = "denied" | "not_found" | "in_use" | "unsupported" | "other";

export interface MediaChoice {
  video: boolean;
  audio: boolean;
  cameraId: string | null;
  microphoneId: string | null;
}

export interface OpenedMedia {
  stream: MediaStream | null;
  problem: { kind: MediaProblem; message: string } | null;
}

function classify(error: unknown): { kind: MediaProblem; message: string } {
  const name = error instanceof DOMException ? error.name : "";
  switch (name) {
    case "NotAllowedError":
    case "SecurityError":
      return { kind: "denied", message: "The browser blocked the camera and microphone for this site." };
    case "NotFoundError":
    case "OverconstrainedError":
      return { kind: "not_found", message: "No camera or microphone was found." };
    case "NotReadableError":
    case "AbortError":
      return { kind: "in_use", message: "The camera or microphone is in use by another program." };
    default:
      return { kind: "other", message: error instanceof Error ? error.message : String(error) };
  }
}

/** Opens what `choice` asks for; never throws. */
export async function openMedia(choice: MediaChoice): Promise<OpenedMedia> {
  if (!choice.video && !choice.audio) return { stream: null, problem: null };
  if (!navigator.mediaDevices?.getUserMedia) {
    return { stream: null, problem: { kind: "unsupported", message: "This browser cannot capture media here (a secure origin is needed)." } };
  }
  const video: MediaTrackConstraints | false = choice.video
    ? { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 }, ...(choice.cameraId ? { deviceId: { exact: choice.cameraId } } : {}) }
    : false;
  const audio: MediaTrackConstraints | false = choice.audio
    ? { echoCancellation: true, noiseSuppression: true, ...(choice.microphoneId ? { deviceId: { exact: choice.microphoneId } } : {}) }
    : false;
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ video, audio }), problem: null };
  } catch (e) {
    return { stream: null, problem: classify(e) };
  }
}

/** Cameras and microphones; labels are empty until the user allowed access once. */
export async function listDevices(): Promise<{ cameras: MediaDeviceInfo[]; microphones: MediaDeviceInfo[] }> {
  if (!navigator.mediaDevices?.enumerateDevices) return { cameras: [], microphones: [] };
  const devices = await navigator.mediaDevices.enumerateDevices();
  return {
    cameras: devices.filter((d) => d.kind === "videoinput"),
    microphones: devices.filter((d) => d.kind === "audioinput"),
  };
}

export function stopStream(stream: MediaStream | null): void {
  for (const track of stream?.getTracks() ?? []) track.stop();
}
