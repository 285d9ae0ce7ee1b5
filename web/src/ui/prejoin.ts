/**
 * The meeting page before joining: the decrypted title, name (guest or signed in), camera and
 * microphone preview and choice, and the camera-blocked screen. Joining hands over to the
 * meeting view in the same place.
 */

import { ApiError } from "../api";
import type { AppContext } from "../app";
import { decryptInfo, type MeetingInfo } from "../invite";
import { listDevices, openMedia, stopStream, type MediaChoice, type OpenedMedia } from "../media/devices";
import { MAX_DISPLAY_NAME_CHARS, type HelloAuth, type Meeting } from "../proto/wire";
import { accountForm } from "./account-form";
import { announce, button, field, h, replace } from "./dom";
import { endScreen } from "./ended";
import { MeetingView } from "./meeting-view";

const NAME_KEY = "conclave.name";

/** What the title area shows: decrypted, or why not. */
export type TitleState =
  | { kind: "info"; info: MeetingInfo }
  | { kind: "none" }
  | { kind: "no_key" }
  | { kind: "undecryptable" };

export async function meetingTitle(meeting: Meeting, key: string | null): Promise<TitleState> {
  if (!meeting.encrypted_info) return { kind: "none" };
  if (!key) return { kind: "no_key" };
  try {
    return { kind: "info", info: await decryptInfo(meeting.encrypted_info, key) };
  } catch {
    return { kind: "undecryptable" };
  }
}

export function titleText(title: TitleState): string {
  switch (title.kind) {
    case "info":
      return title.info.title || "Untitled meeting";
    case "none":
      return "Untitled meeting";
    case "no_key":
      return "Meeting (the link has no key for its title)";
    case "undecryptable":
      return "Meeting (its title does not decrypt with this link)";
  }
}

export function renderPreJoin(ctx: AppContext, container: HTMLElement, meetingId: string, key: string | null): () => void {
  let cleanup: (() => void) | null = null;
  let closed = false;
  const load = async () => {
    replace(container, h("h1", {}, "Opening the meeting…"));
    let meeting: Meeting;
    try {
      meeting = await ctx.api.meeting(meetingId);
    } catch (e) {
      if (closed) return;
      const missing = e instanceof ApiError && e.status === 404;
      replace(container, endScreen(ctx, missing ? "not_found" : "error", e instanceof Error ? e.message : null, null));
      ctx.screen(missing ? "No such meeting" : "Cannot open the meeting");
      return;
    }
    if (closed) return;
    if (meeting.ended_at !== null) {
      replace(container, endScreen(ctx, "ended", null, null));
      ctx.screen("Meeting ended");
      return;
    }
    const title = await meetingTitle(meeting, key);
    if (closed) return;
    cleanup = preJoin(ctx, container, meeting, title, (auth, media, passcode) => {
      cleanup?.();
      const view = new MeetingView(ctx, container, { meetingId, title, auth, media, passcode, rejoin: () => void load() });
      cleanup = () => view.close();
    });
  };
  void load();
  return () => {
    closed = true;
    cleanup?.();
  };
}

type JoinHandler = (auth: HelloAuth, media: OpenedMedia & { choice: MediaChoice }, passcode: string | null) => void;

function preJoin(ctx: AppContext, container: HTMLElement, meeting: Meeting, title: TitleState, onJoin: JoinHandler): () => void {
  let media: OpenedMedia = { stream: null, problem: null };
  const choice: MediaChoice = { video: true, audio: true, cameraId: null, microphoneId: null };
  let released = false;

  const preview = h("video", { class: "preview-video", autoplay: true, playsinline: true, "aria-label": "Your camera preview" });
  preview.muted = true;
  const previewPlaceholder = h("div", { class: "preview-placeholder" }, "Camera off");
  const problem = h("div", { class: "media-problem", role: "alert" });
  const cameraSelect = h("select", { name: "camera" });
  const microphoneSelect = h("select", { name: "microphone" });
  const cameraOn = h("input", { type: "checkbox", name: "camera-on", checked: true });
  const microphoneOn = h("input", { type: "checkbox", name: "microphone-on", checked: true });

  const showMedia = () => {
    preview.srcObject = media.stream;
    const hasVideo = (media.stream?.getVideoTracks().length ?? 0) > 0;
    preview.hidden = !hasVideo;
    previewPlaceholder.hidden = hasVideo;
    previewPlaceholder.textContent = choice.video ? "No camera picture" : "Camera off";
    if (media.problem) {
      const blocked = media.problem.kind === "denied";
      replace(
        problem,
        h("h2", {}, blocked ? "Camera and microphone are blocked" : "Camera or microphone unavailable"),
        h("p", {}, media.problem.message),
        blocked
          ? h("p", {}, "To allow them, use the camera icon in the address bar (or the site settings), then try again.")
          : null,
        h("p", {}, "You can still join without them; others will see your name."),
        button("Try again", () => void reopen(), { class: "secondary" }),
      );
      problem.hidden = false;
    } else {
      replace(problem);
      problem.hidden = true;
    }
  };

  const fillDevices = async () => {
    const { cameras, microphones } = await listDevices();
    const fill = (select: HTMLSelectElement, devices: MediaDeviceInfo[], current: string | null, noun: string) => {
      replace(select, ...devices.map((d, i) => h("option", { value: d.deviceId, selected: d.deviceId === current }, d.label || `${noun} ${i + 1}`)));
      select.disabled = devices.length === 0;
    };
    const track = (kind: "video" | "audio") => media.stream?.getTracks().find((t) => t.kind === kind)?.getSettings().deviceId ?? null;
    fill(cameraSelect, cameras, choice.cameraId ?? track("video"), "Camera");
    fill(microphoneSelect, microphones, choice.microphoneId ?? track("audio"), "Microphone");
  };

  // Joining waits for the camera being opened, so the meeting starts with the chosen media.
  let opening: Promise<void> = Promise.resolve();
  const reopen = () => (opening = opening.then(open));
  const open = async () => {
    stopStream(media.stream);
    media = { stream: null, problem: null };
    media = await openMedia(choice);
    if (released) {
      stopStream(media.stream);
      return;
    }
    showMedia();
    await fillDevices();
  };

  cameraOn.addEventListener("change", () => {
    choice.video = cameraOn.checked;
    void reopen();
  });
  microphoneOn.addEventListener("change", () => {
    choice.audio = microphoneOn.checked;
    void reopen();
  });
  cameraSelect.addEventListener("change", () => {
    choice.cameraId = cameraSelect.value || null;
    void reopen();
  });
  microphoneSelect.addEventListener("change", () => {
    choice.microphoneId = microphoneSelect.value || null;
    void reopen();
  });

  const account = ctx.account;
  const name = h("input", {
    name: "display-name",
    autocomplete: "nickname",
    maxlength: MAX_DISPLAY_NAME_CHARS,
    required: !account,
    value: localStorage.getItem(NAME_KEY) ?? "",
  });
  const asGuest = h("input", { type: "checkbox", name: "as-guest" });
  const passcode = h("input", { name: "passcode", type: "password", autocomplete: "off", maxlength: 128, required: true });
  const error = h("p", { class: "error", role: "alert" });

  const identity = h("div", { class: "identity" });
  const renderIdentity = () => {
    if (account && !asGuest.checked) {
      replace(identity, h("p", {}, `You will join as ${account.display_name ?? account.username}.`), h("label", {}, asGuest, " Join as a guest instead"));
    } else if (account) {
      replace(identity, field("Your name", name, "Shown to everyone, with a guest badge."), h("label", {}, asGuest, " Join as a guest instead"));
    } else {
      replace(identity, field("Your name", name, "Shown to everyone, with a guest badge."));
    }
  };
  asGuest.addEventListener("change", () => {
    name.required = asGuest.checked;
    renderIdentity();
  });
  renderIdentity();

  const join = async () => {
    await opening;
    if (released) return;
    error.textContent = "";
    const guest = !account || asGuest.checked;
    const displayName = name.value.trim();
    if (guest && (displayName.length === 0 || [...displayName].length > MAX_DISPLAY_NAME_CHARS)) {
      error.textContent = `Enter a name of 1 to ${MAX_DISPLAY_NAME_CHARS} characters.`;
      name.focus();
      return;
    }
    if (guest) localStorage.setItem(NAME_KEY, displayName);
    const auth: HelloAuth = guest ? { kind: "guest", display_name: displayName } : { kind: "token", token: ctx.api.token ?? "" };
    released = true;
    onJoin(auth, { ...media, choice: { ...choice } }, meeting.settings.passcode_required ? passcode.value : null);
  };

  const description = title.kind === "info" && title.info.description ? h("p", { class: "description" }, title.info.description) : null;
  replace(
    container,
    h("h1", {}, titleText(title)),
    description,
    h("div", { class: "prejoin" },
      h("section", { class: "card preview", "aria-labelledby": "preview-heading" },
        h("h2", { id: "preview-heading" }, "Camera and microphone"),
        h("div", { class: "preview-frame" }, preview, previewPlaceholder),
        problem,
        h("div", { class: "checks" },
          h("label", {}, cameraOn, " Camera on"),
          h("label", {}, microphoneOn, " Microphone on")),
        field("Camera", cameraSelect),
        field("Microphone", microphoneSelect)),
      h("section", { class: "card", "aria-labelledby": "join-heading" },
        h("h2", { id: "join-heading" }, "Join"),
        h("form", { "aria-label": "Join the meeting", onsubmit: (e) => (e.preventDefault(), void join()) },
          identity,
          meeting.settings.passcode_required ? field("Passcode", passcode) : null,
          meeting.settings.lobby ? h("p", { class: "hint" }, "A host will let you in.") : null,
          h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Join meeting")),
          error),
        account
          ? null
          : h("details", { class: "sign-in" },
              h("summary", {}, "Sign in instead"),
              accountForm(ctx, () => ctx.navigate(location.pathname + location.hash))))),
  );
  showMedia();
  void reopen();
  ctx.screen(titleText(title));
  announce("Check your camera and microphone, then join.");
  return () => {
    if (!released) stopStream(media.stream);
    released = true;
  };
}
