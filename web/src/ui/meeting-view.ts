/**
 * The meeting: lobby wait, then the video grid, participant list, host controls, E2EE status
 * and the reconnecting banner; the end screens when it is over.
 *
 * End-to-end encryption: an {@link E2eeSession} follows the MLS messages; its SFrame keys go
 * to one {@link MediaCrypto} worker. Once this member is in the group and its first epoch key
 * is installed, the media session (`media/peer.ts`) offers to the SFU with every sender and
 * receiver through the worker. Nothing starts media otherwise: without MLS there is no media,
 * never unencrypted media. The E2EE area shows the status, the safety code (in a dialog), the
 * group's members from this browser's own MLS state with their badges, and every refusal.
 */

import type { AppContext } from "../app";
import { toBase64 } from "../base64";
import { accountIdentityKey, directoryKey, keyChanged, pinnedLog } from "../e2ee/keys";
import { MediaCrypto, scriptTransformSupported } from "../e2ee/media-crypto";
import { generateIdentityKey, type RosterEntry } from "../e2ee/mls";
import { verifyEndOrder } from "../ledger/order";
import { E2eeSession, MAX_CHAT_CHARS, type ChatEntry, type EpochView } from "../e2ee/session";
import { statusDetail, statusLabel, type E2eeStatus, type Verification } from "../e2ee/status";
import { MeetingConnection, signalingUrl } from "../meeting/connection";
import { dismiss, moderates, type MeetingState } from "../meeting/state";
import { stopStream, type MediaChoice, type OpenedMedia } from "../media/devices";
import { MediaSession, type FrameTransforms } from "../media/peer";
import type { ClientMessage, HelloAuth, LobbyEntry, MediaSource, Participant, ServerMessage } from "../proto/wire";
import { announce, button, field, h, replace, syncList } from "./dom";
import { endScreen } from "./ended";
import { titleText, type TitleState } from "./prejoin";

/** Chat messages kept on screen; older ones are dropped. */
const MAX_CHAT_SHOWN = 500;

/** Tiles per page of the video grid. */
export const TILES_PER_PAGE = 9;

export interface MeetingViewOptions {
  meetingId: string;
  title: TitleState;
  auth: HelloAuth;
  media: OpenedMedia & { choice: MediaChoice };
  passcode: string | null;
  /** Back to the pre-join screen, to ask again. */
  rejoin: () => void;
}

type Mounted = "none" | "phase" | "meeting";

export class MeetingView {
  private readonly connection: MeetingConnection;
  private readonly listeners: ((message: ServerMessage) => void)[] = [];
  private readonly remoteStreams = new Map<string, MediaStream>();
  private readonly verification = new Map<string, Verification>();
  private e2ee: E2eeStatus;
  private readonly crypto: MediaCrypto | null;
  private readonly session: E2eeSession | null;
  private mlsRoster: RosterEntry[] = [];
  private readonly changedKeys = new Set<string>();
  private readonly alerts: string[] = [];
  /** The chat shown, oldest first, at most {@link MAX_CHAT_SHOWN}; ids key the list items. */
  private readonly chat: { id: number; entry: ChatEntry }[] = [];
  private chatCount = 0;
  private mounted: Mounted = "none";
  private shownPhase = "";
  private page = 0;
  private stream: MediaStream | null;
  private previous: MeetingState | null = null;
  private media: MediaSession | null = null;
  private mediaStarted = false;

  // Parts of the meeting layout, made once.
  private readonly grid = h("div", { class: "grid", role: "list", "aria-label": "Participants' video" });
  private readonly pager = h("div", { class: "pager" });
  private readonly participantList = h("ul", { class: "participants" });
  private readonly participantHeading = h("h2", { id: "participants-heading" }, "Participants");
  private readonly lobbySection = h("section", { class: "lobby-list", "aria-labelledby": "lobby-heading" });
  private readonly lobbyList = h("ul", {});
  private readonly emptyLobby = h("p", { class: "hint" }, "Nobody is waiting.");
  private readonly e2eeArea = h("section", { class: "e2ee", "aria-labelledby": "e2ee-heading" });
  private readonly banner = h("div", { class: "banner", role: "status", "aria-live": "polite" });
  private readonly notice = h("div", { class: "notice", role: "alert" });
  private readonly toolbar = h("div", { class: "toolbar", role: "toolbar", "aria-label": "Meeting controls" });
  private readonly lockBadge = h("span", { class: "badge locked", hidden: true }, "Locked");
  private readonly chatSection = h("section", { class: "chat", "aria-labelledby": "chat-heading" });
  private readonly chatLog = h("ol", { class: "chat-log", role: "log", "aria-label": "Chat messages", "aria-live": "polite" });
  private readonly chatInput = h("input", { type: "text", name: "chat", maxlength: MAX_CHAT_CHARS, autocomplete: "off" });
  private readonly safetyDialog = h("dialog", { class: "safety-dialog", "aria-labelledby": "safety-heading" });

  constructor(
    private readonly ctx: AppContext,
    private readonly container: HTMLElement,
    private readonly options: MeetingViewOptions,
  ) {
    this.stream = options.media.stream;
    if (scriptTransformSupported()) {
      this.crypto = new MediaCrypto();
      this.e2ee = { state: "establishing" };
      this.session = this.startSession(this.crypto);
    } else {
      this.crypto = null;
      this.session = null;
      this.e2ee = {
        state: "not_encrypted",
        reason: "This browser cannot encrypt media frames (no RTCRtpScriptTransform), so it sends and receives no media.",
      };
    }
    this.connection = new MeetingConnection({
      url: signalingUrl(location),
      auth: options.auth,
      meetingId: options.meetingId,
      passcode: options.passcode,
      onState: (state) => this.render(state),
      onMessage: (message) => {
        void this.session?.handle(message);
        // The peer connection and its transforms are made once seated, off the path from the
        // first epoch's keys to the first offer; nothing is offered before those keys.
        if (message.type === "joined" && this.crypto) this.prepareMedia(this.crypto);
        for (const listener of this.listeners) listener(message);
      },
    });
    this.render(this.connection.current());
    this.connection.start();
  }

  private startSession(crypto: MediaCrypto): E2eeSession {
    const api = this.ctx.api;
    let log: ReturnType<typeof pinnedLog> | null = null;
    // The identity key is made (and for an account, checked or registered) while the
    // connection opens, not after the seat is granted: it is on the way to the first frame.
    const account = this.options.auth.kind === "token" ? (this.ctx.account?.id ?? null) : null;
    const early = account === null ? generateIdentityKey() : accountIdentityKey(api, localStorage, account);
    early.catch(() => {});
    return new E2eeSession(
      crypto,
      {
        send: (message) => this.send(message),
        identityKey: (seatedAs) => {
          if (seatedAs === account) return early;
          return seatedAs === null ? generateIdentityKey() : accountIdentityKey(api, localStorage, seatedAs);
        },
        directoryKey: (account) => {
          log ??= pinnedLog(api, localStorage);
          return directoryKey(api, log, account);
        },
        now: () => performance.now(),
        schedule: (delay, task) => {
          const timer = setTimeout(task, delay);
          return () => clearTimeout(timer);
        },
      },
      {
        onEpoch: (view) => this.onEpoch(view, crypto),
        onAlert: (message) => {
          console.warn(message);
          this.alerts.push(message);
          announce(message);
          this.refresh();
        },
        onChat: (entry) => {
          this.chatCount += 1;
          this.chat.push({ id: this.chatCount, entry });
          if (this.chat.length > MAX_CHAT_SHOWN) this.chat.shift();
          this.refresh();
        },
        onRemoved: () => this.setE2ee({ state: "not_encrypted", reason: "This browser was removed from the meeting's encrypted group." }),
      },
    );
  }

  private onEpoch(view: EpochView, crypto: MediaCrypto): void {
    this.mlsRoster = view.roster;
    for (const entry of view.roster) {
      const account = entry.identity.account;
      if (account === null) {
        this.verification.set(entry.identity.participant, "guest_key");
        continue;
      }
      if (keyChanged(localStorage, account, entry.key)) this.changedKeys.add(account);
      this.verification.set(entry.identity.participant, this.changedKeys.has(account) ? "key_changed" : "verified");
    }
    const first = this.e2ee.state !== "encrypted";
    this.setE2ee({ state: "encrypted", epoch: view.epoch, safetyCode: view.safetyCode });
    if (first) this.startMedia(crypto);
  }

  /** Sends a signaling message; false if the connection is down. */
  send(message: ClientMessage): boolean {
    return this.connection.send(message);
  }

  /** Every server message from now on. */
  private addMessageListener(listener: (message: ServerMessage) => void): void {
    this.listeners.push(listener);
  }

  /** Shows (or, with null, removes) a remote participant's media in their tile. */
  private setRemoteStream(participantId: string, source: MediaSource, stream: MediaStream | null): void {
    const key = `${participantId}/${source === "screen" ? "screen" : "camera"}`;
    if (stream) this.remoteStreams.set(key, stream);
    else this.remoteStreams.delete(key);
    this.refresh();
  }

  /**
   * Starts the media session with the SFU, every frame through `transforms` (a
   * `MediaCrypto`). Senders stay inactive until `setE2ee` reports `encrypted`.
   */
  private startMedia(transforms: FrameTransforms): void {
    const media = this.prepareMedia(transforms);
    if (this.mediaStarted) return;
    this.mediaStarted = true;
    // With keys already there, the first offer carries the tracks: one offer, no second one
    // that could cross the SFU's.
    if (this.e2ee.state === "encrypted") void media.enableSending();
    else void media.start();
  }

  /** The media session with every sender and receiver through `transforms`, not yet offering. */
  private prepareMedia(transforms: FrameTransforms): MediaSession {
    if (this.media) return this.media;
    const media = new MediaSession({
      send: (message) => this.send(message),
      transforms,
      onRemoteStream: (participantId, source, stream) => this.setRemoteStream(participantId, source, stream),
    });
    this.media = media;
    this.addMessageListener((message) => media.handle(message));
    for (const track of this.stream?.getTracks() ?? []) void media.setLocalTrack(track.kind === "audio" ? "audio" : "video", track);
    return media;
  }

  /** The E2EE status area; `encrypted` also lets the media session send. */
  private setE2ee(status: E2eeStatus): void {
    this.e2ee = status;
    if (status.state === "encrypted" && this.mediaStarted) void this.media?.enableSending();
    this.refresh();
  }

  /** Leaves and releases the camera; the screen is being left. */
  close(): void {
    if (this.connection.current().phase.name !== "ended") this.connection.leave();
    this.session?.close();
    this.media?.close();
    this.media = null;
    this.crypto?.close();
    stopStream(this.stream);
    this.stream = null;
  }

  private refresh(): void {
    this.render(this.connection.current());
  }

  private render(state: MeetingState): void {
    const phase = state.phase;
    if (phase.name === "joined" || phase.name === "reconnecting") {
      if (this.mounted !== "meeting") this.mountMeeting();
      this.updateMeeting(state);
    } else {
      const key = phase.name === "passcode" ? `passcode-${phase.wrong}` : phase.name;
      if (this.mounted !== "phase" || this.shownPhase !== key) this.renderPhase(state);
    }
    this.announceChanges(state);
    this.previous = state;
  }

  private renderPhase(state: MeetingState): void {
    const phase = state.phase;
    this.mounted = "phase";
    this.shownPhase = phase.name === "passcode" ? `passcode-${phase.wrong}` : phase.name;
    const title = titleText(this.options.title);
    switch (phase.name) {
      case "connecting":
        replace(this.container, h("section", { class: "card waiting" }, h("h1", {}, "Connecting…"), h("p", {}, title)));
        this.ctx.screen("Connecting");
        return;
      case "passcode": {
        const input = h("input", { type: "password", name: "passcode", required: true, maxlength: 128, autocomplete: "off" });
        replace(
          this.container,
          h("section", { class: "card" },
            h("h1", {}, "This meeting needs a passcode"),
            phase.wrong ? h("p", { class: "error", role: "alert" }, "That passcode was wrong.") : null,
            h("form", { onsubmit: (e) => (e.preventDefault(), this.connection.submitPasscode(input.value)) },
              field("Passcode", input),
              h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Join"), button("Cancel", () => this.cancel(), { class: "secondary" })))),
        );
        this.ctx.screen("Passcode");
        input.focus();
        return;
      }
      case "waiting":
        replace(
          this.container,
          h("section", { class: "card waiting", "aria-labelledby": "waiting-heading", "data-phase": "waiting" },
            h("h1", { id: "waiting-heading" }, "Waiting for a host to let you in"),
            h("p", {}, title),
            h("p", { class: "spinner", "aria-hidden": "true" }),
            h("p", { class: "hint" }, "A host of this meeting sees that you are waiting. Keep this page open."),
            h("div", { class: "actions" }, button("Cancel", () => this.cancel(), { class: "secondary" }))),
        );
        this.ctx.screen("Waiting in the lobby");
        return;
      case "ended":
        stopStream(this.stream);
        this.stream = null;
        this.session?.close();
        this.media?.close();
        this.media = null;
        if (phase.kind === "ended_by_order") {
          replace(this.container, endScreen(this.ctx, "checking_order", null, null));
          void this.checkOrder(state);
        } else {
          replace(this.container, endScreen(this.ctx, phase.kind, phase.reason, () => this.options.rejoin()));
        }
        this.ctx.screen(this.container.querySelector("h1")?.textContent ?? "Meeting over");
        return;
      case "joined":
      case "reconnecting":
        return;
    }
  }

  /** Believes an order to end the meeting only once it checks out against the log. */
  private async checkOrder(state: MeetingState): Promise<void> {
    const rejoin = () => this.options.rejoin();
    try {
      if (!state.endOrder) throw new Error("the server gave no order");
      const order = await verifyEndOrder(state.endOrder, this.options.meetingId, await pinnedLog(this.ctx.api, localStorage));
      replace(
        this.container,
        endScreen(this.ctx, "ended_by_order", null, null,
          h("div", { class: "order", "data-order": "verified" },
            h("h2", {}, "Statement of reasons"),
            h("blockquote", { class: "reasons" }, order.reasons),
            h("p", {}, `Verified: the order is entry ${order.ledgerIndex} of the public log, proven into a checkpoint of ${order.treeSize} entries signed with the log's key.`))),
      );
    } catch (error) {
      replace(
        this.container,
        endScreen(this.ctx, "ended_without_order", null, rejoin,
          h("p", { class: "order", "data-order": "refused" }, `Why the order was refused: ${error instanceof Error ? error.message : String(error)}`)),
      );
    }
    this.ctx.screen(this.container.querySelector("h1")?.textContent ?? "Meeting over");
  }

  private cancel(): void {
    this.connection.leave();
    stopStream(this.stream);
    this.stream = null;
    this.options.rejoin();
  }

  private mountMeeting(): void {
    this.mounted = "meeting";
    this.shownPhase = "meeting";
    const title = titleText(this.options.title);
    const info = this.options.title;
    replace(
      this.container,
      h("div", { class: "meeting", "data-phase": "joined" },
        h("header", { class: "meeting-header" },
          h("h1", { class: "meeting-title" }, title),
          this.lockBadge,
          info.kind === "info" && info.info.description ? h("p", { class: "description" }, info.info.description) : null),
        this.banner,
        this.notice,
        h("div", { class: "meeting-body" },
          h("section", { class: "stage", "aria-label": "Video" }, this.grid, this.pager),
          h("aside", { class: "sidebar" },
            this.e2eeArea,
            this.lobbySection,
            h("section", { "aria-labelledby": "participants-heading" }, this.participantHeading, this.participantList),
            this.chatSection)),
        this.toolbar,
        this.safetyDialog),
    );
    replace(
      this.chatSection,
      h("h2", { id: "chat-heading" }, "Chat"),
      this.chatLog,
      h("form", { class: "chat-form", onsubmit: (e) => (e.preventDefault(), this.submitChat()) },
        field("Message", this.chatInput),
        h("button", { type: "submit" }, "Send")),
    );
    replace(this.lobbySection, h("h2", { id: "lobby-heading" }, "Waiting in the lobby"), this.emptyLobby, this.lobbyList);
    this.ctx.screen(title);
  }

  private updateMeeting(state: MeetingState): void {
    const me = state.roster.find((p) => p.id === state.participantId) ?? null;
    const host = moderates(state);

    this.lockBadge.hidden = !state.locked;
    if (state.phase.name === "reconnecting") {
      replace(this.banner, h("strong", {}, "Connection lost. "), "Reconnecting… your seat is held for 30 seconds.");
      this.banner.hidden = false;
    } else {
      replace(this.banner);
      this.banner.hidden = true;
    }

    if (state.notice || state.unmuteRequested) {
      replace(
        this.notice,
        state.notice ? h("p", {}, state.notice.message) : null,
        state.unmuteRequested ? h("p", {}, "A host asks you to unmute your microphone.") : null,
        h("div", { class: "actions" },
          state.unmuteRequested && this.track("audio") ? button("Unmute", () => (this.setTrack("audio", true), this.connection.edit(dismiss))) : null,
          button("Dismiss", () => this.connection.edit(dismiss), { class: "secondary" })),
      );
      this.notice.hidden = false;
    } else {
      replace(this.notice);
      this.notice.hidden = true;
    }

    this.renderE2ee(state);
    this.renderChat(state);
    this.renderGrid(state);
    this.renderParticipants(state, host);
    this.renderLobby(state, host);
    this.renderToolbar(state, me, host);
  }

  private renderE2ee(state: MeetingState): void {
    const status = this.e2ee;
    const code = status.state === "encrypted" ? status.safetyCode : null;
    const nameOf = (participant: string) => state.roster.find((p) => p.id === participant)?.display_name ?? participant;
    const key = `${status.state}|${code}|${this.alerts.length}|${this.mlsRoster.map((e) => `${e.leaf}:${nameOf(e.identity.participant)}:${this.verification.get(e.identity.participant)}`).join(",")}`;
    if (this.e2eeArea.dataset["render"] === key) return;
    this.e2eeArea.dataset["render"] = key;
    replace(
      this.e2eeArea,
      h("h2", { id: "e2ee-heading" }, "Encryption"),
      h("p", { class: `e2ee-state e2ee-${status.state}`, "data-e2ee": status.state }, statusLabel(status)),
      h("details", {}, h("summary", {}, "Details"), h("p", {}, statusDetail(status))),
      code
        ? button("Show safety code", () => this.showSafetyCode(code), { class: "secondary", "data-control": "safety-code" })
        : h("p", { class: "safety-code" }, "Safety code: none yet (no encrypted group)"),
      this.mlsRoster.length > 0
        ? h("div", { class: "mls-roster" },
            h("h3", { id: "mls-roster-heading" }, `In the encrypted group (${this.mlsRoster.length})`),
            h("ul", { "aria-labelledby": "mls-roster-heading" },
              ...this.mlsRoster.map((entry) => {
                const verification = this.verification.get(entry.identity.participant) ?? "unknown";
                return h("li", { class: "mls-member", "data-participant": entry.identity.participant },
                  h("span", { class: "name" }, nameOf(entry.identity.participant)),
                  verification === "verified" ? h("span", { class: "badge verified", title: "The account's key matches the key directory" }, "Verified") : null,
                  verification === "guest_key" ? h("span", { class: "badge guest", title: "No account: nobody vouches for this key" }, "Guest") : null,
                  verification === "key_changed" ? h("span", { class: "badge key-changed", title: "This account's key differs from the one this browser saw before" }, "Key changed") : null);
              })))
        : null,
      this.alerts.length > 0
        ? h("div", { class: "e2ee-alerts", role: "alert" }, ...this.alerts.map((text) => h("p", { class: "error" }, text)))
        : null,
    );
  }

  private showSafetyCode(code: string): void {
    replace(
      this.safetyDialog,
      h("h2", { id: "safety-heading" }, "Safety code"),
      h("p", { class: "safety-code" }, h("code", { "data-safety-code": code }, code)),
      h("p", {}, "Everyone in this encrypted group sees the same 30 digits. Compare them with the others by voice or another channel: a different code means someone else is in the group."),
      h("form", { method: "dialog" }, h("button", { type: "submit" }, "Close")),
    );
    this.safetyDialog.showModal();
  }

  private submitChat(): void {
    const text = this.chatInput.value.trim();
    if (!text || !this.session) return;
    this.chatInput.value = "";
    this.session.sendChat(text).catch((error: unknown) => {
      this.alerts.push(`Chat not sent: ${error instanceof Error ? error.message : String(error)}`);
      this.refresh();
    });
  }

  private renderChat(state: MeetingState): void {
    const nameOf = (participant: string) => state.roster.find((p) => p.id === participant)?.display_name ?? participant;
    syncList(
      this.chatLog,
      this.chat,
      ({ id }) => String(id),
      ({ entry }) => {
        const from = entry.sender === null ? "You" : nameOf(entry.sender.participant);
        const menu = entry.report
          ? h("details", { class: "message-menu" },
              h("summary", { "aria-label": `Options for the message from ${from}` }, "⋯"),
              // The report endpoint takes signed-in accounts only (reports weigh by account).
              this.ctx.account !== null && this.options.auth.kind === "token"
                ? button("Report", () => void this.reportMessage(entry, item), { "aria-label": `Report the message from ${from}` })
                : h("p", { class: "hint" }, "Sign in to report a message."))
          : null;
        const item = h("li", { class: "chat-message" },
          h("span", { class: "sender" }, from),
          h("span", { class: "text" }, entry.text),
          entry.report ? h("span", { class: "badge verified", title: "The message matches its franking commitment" }, "Franked") : null,
          menu,
          h("p", { class: "report-result", role: "status" }));
        return item;
      },
      () => {},
    );
  }

  private async reportMessage(entry: ChatEntry, item: HTMLElement): Promise<void> {
    const report = entry.report;
    const result = item.querySelector(".report-result");
    if (!report || !result || !entry.sender) return;
    try {
      const verdict = await this.ctx.api.verifyReport({
        plaintext: toBase64(report.opened.plaintext),
        franking_key: toBase64(report.opened.frankingKey),
        commitment: toBase64(report.opened.commitment),
        tag: toBase64(report.tag),
        sender_account_id: report.senderAccount ?? `guest:${entry.sender.participant}`,
        meeting_id: this.options.meetingId,
        timestamp: report.timestamp,
      });
      result.textContent = verdict.verified
        ? `Report verified: sent by account ${verdict.sender_account_id ?? "?"}.`
        : `Report does not verify: ${verdict.reason ?? "no reason given"}.`;
      result.setAttribute("data-verified", String(verdict.verified));
    } catch (error) {
      result.textContent = `Report failed: ${error instanceof Error ? error.message : String(error)}`;
    }
  }

  private tileOrder(state: MeetingState): Participant[] {
    const mine = state.roster.filter((p) => p.id === state.participantId);
    const speaking = state.activeSpeakers
      .map((id) => state.roster.find((p) => p.id === id && p.id !== state.participantId))
      .filter((p): p is Participant => p !== undefined);
    const rest = state.roster.filter((p) => p.id !== state.participantId && !speaking.includes(p));
    return [...mine, ...speaking, ...rest];
  }

  private renderGrid(state: MeetingState): void {
    const ordered = this.tileOrder(state);
    const pages = Math.max(1, Math.ceil(ordered.length / TILES_PER_PAGE));
    this.page = Math.min(this.page, pages - 1);
    const shown = ordered.slice(this.page * TILES_PER_PAGE, (this.page + 1) * TILES_PER_PAGE);
    const loudest = state.activeSpeakers[0] ?? null;
    syncList(
      this.grid,
      shown,
      (p) => p.id,
      (p) => {
        const video = h("video", { autoplay: true, playsinline: true });
        video.muted = p.id === state.participantId;
        return h("figure", { class: "tile", role: "listitem" }, video, h("div", { class: "avatar", "aria-hidden": "true" }), h("figcaption", {}));
      },
      (element, p) => {
        const self = p.id === state.participantId;
        const stream = self ? this.stream : (this.remoteStreams.get(`${p.id}/camera`) ?? null);
        const video = element.querySelector("video");
        if (video && video.srcObject !== stream) video.srcObject = stream;
        const showsVideo = (stream?.getVideoTracks().some((t) => t.enabled) ?? false);
        if (video) video.hidden = !showsVideo;
        const avatar = element.querySelector(".avatar");
        if (avatar) {
          avatar.textContent = initials(p.display_name);
          (avatar as HTMLElement).hidden = showsVideo;
        }
        element.classList.toggle("speaking", p.id === loudest);
        element.setAttribute("aria-label", `${p.display_name}${self ? " (you)" : ""}${p.id === loudest ? ", speaking" : ""}`);
        const caption = element.querySelector("figcaption");
        if (caption) {
          replace(caption, p.display_name, self ? " (you)" : "", p.hand_raised ? h("span", { class: "badge hand" }, "Hand raised") : null,
            !self && !stream ? h("span", { class: "badge muted" }, "No media yet") : null);
        }
      },
    );
    if (pages > 1) {
      replace(
        this.pager,
        button("Previous page", () => ((this.page -= 1), this.refresh()), { disabled: this.page === 0 }),
        h("span", { "aria-live": "polite" }, `Page ${this.page + 1} of ${pages}`),
        button("Next page", () => ((this.page += 1), this.refresh()), { disabled: this.page >= pages - 1 }),
      );
      this.pager.hidden = false;
    } else {
      replace(this.pager);
      this.pager.hidden = true;
    }
  }

  private renderParticipants(state: MeetingState, host: boolean): void {
    this.participantHeading.textContent = `Participants (${state.roster.length})`;
    syncList(
      this.participantList,
      state.roster,
      (p) => p.id,
      () => h("li", { class: "participant" }),
      (element, p) => {
        const self = p.id === state.participantId;
        const verification = this.verification.get(p.id) ?? "unknown";
        const audioMuted = p.host_muted.includes("audio");
        const name = `${p.display_name}${self ? " (you)" : ""}`;
        const controls =
          host && !self
            ? h("div", { class: "controls" },
                audioMuted
                  ? button("Allow audio", () => this.send({ type: "lift_mute", participant_id: p.id, media: ["audio"] }), { "aria-label": `Allow ${p.display_name}'s audio` })
                  : button("Mute", () => this.send({ type: "mute", participant_id: p.id, media: ["audio"] }), { "aria-label": `Mute ${p.display_name}` }),
                p.role === "participant" && state.role === "host"
                  ? button("Make co-host", () => this.send({ type: "make_cohost", participant_id: p.id }), { class: "secondary", "aria-label": `Make ${p.display_name} a co-host` })
                  : null,
                button("Remove", () => {
                  if (confirm(`Remove ${p.display_name} from the meeting?`)) this.send({ type: "remove", participant_id: p.id, reason: null });
                }, { class: "danger", "aria-label": `Remove ${p.display_name}` }))
            : null;
        const key = `${name}|${p.guest}|${p.role}|${p.hand_raised}|${p.connected}|${audioMuted}|${verification}|${host}|${state.role}`;
        if (element.dataset["render"] === key) return;
        element.dataset["render"] = key;
        replace(
          element,
          h("span", { class: "name" }, name),
          h("span", { class: "badges" },
            p.guest ? h("span", { class: "badge guest", title: "No account: nobody vouches for this name" }, "Guest") : null,
            p.role === "host" ? h("span", { class: "badge role" }, "Host") : null,
            p.role === "cohost" ? h("span", { class: "badge role" }, "Co-host") : null,
            p.hand_raised ? h("span", { class: "badge hand" }, "Hand raised") : null,
            !p.connected ? h("span", { class: "badge away" }, "Reconnecting") : null,
            audioMuted ? h("span", { class: "badge muted" }, "Muted by host") : null,
            verification === "verified" ? h("span", { class: "badge verified" }, "Verified") : null,
            verification === "key_changed" ? h("span", { class: "badge key-changed" }, "Key changed") : null),
          controls,
        );
      },
    );
  }

  private renderLobby(state: MeetingState, host: boolean): void {
    this.lobbySection.hidden = !host;
    syncList(
      this.lobbyList,
      host ? state.lobby : [],
      (w) => w.id,
      (w: LobbyEntry) =>
        h("li", { class: "waiter" },
          h("span", { class: "name" }, w.display_name),
          h("span", { class: "badges" },
            w.guest ? h("span", { class: "badge guest" }, "Guest") : null,
            w.previously_removed ? h("span", { class: "badge removed" }, "Removed earlier") : null),
          h("div", { class: "controls" },
            button("Admit", () => this.send({ type: "admit", participant_id: w.id }), { class: "primary", "aria-label": `Admit ${w.display_name}` }),
            button("Deny", () => this.send({ type: "deny", participant_id: w.id, reason: "A host did not let you in." }), { class: "danger", "aria-label": `Deny ${w.display_name}` }))),
      () => {},
    );
    this.emptyLobby.hidden = state.lobby.length > 0;
  }

  private track(kind: "audio" | "video"): MediaStreamTrack | null {
    return this.stream?.getTracks().find((t) => t.kind === kind) ?? null;
  }

  private setTrack(kind: "audio" | "video", on: boolean): void {
    const track = this.track(kind);
    if (track) track.enabled = on;
    this.refresh();
  }

  private renderToolbar(state: MeetingState, me: Participant | null, host: boolean): void {
    const mic = this.track("audio");
    const camera = this.track("video");
    const hand = me?.hand_raised ?? false;
    const key = `${mic?.enabled}|${camera?.enabled}|${hand}|${host}|${state.locked}|${state.phase.name}`;
    if (this.toolbar.dataset["render"] === key) return;
    this.toolbar.dataset["render"] = key;
    const focused = document.activeElement instanceof HTMLElement && this.toolbar.contains(document.activeElement) ? document.activeElement.dataset["control"] : undefined;
    const control = (id: string, label: string, onClick: () => void, props: Record<string, string | boolean> = {}) =>
      button(label, onClick, { "data-control": id, ...props });
    replace(
      this.toolbar,
      control("microphone", mic ? (mic.enabled ? "Mute microphone" : "Unmute microphone") : "No microphone", () => this.setTrack("audio", !mic?.enabled), {
        "aria-pressed": mic ? String(!mic.enabled) : "false",
        disabled: !mic,
      }),
      control("camera", camera ? (camera.enabled ? "Turn camera off" : "Turn camera on") : "No camera", () => this.setTrack("video", !camera?.enabled), {
        "aria-pressed": camera ? String(!camera.enabled) : "false",
        disabled: !camera,
      }),
      control("hand", hand ? "Lower hand" : "Raise hand", () => this.send({ type: hand ? "lower_hand" : "raise_hand" }), { "aria-pressed": String(hand) }),
      host ? control("lock", state.locked ? "Unlock meeting" : "Lock meeting", () => this.send({ type: state.locked ? "unlock" : "lock" })) : null,
      host
        ? control("end", "End meeting for all", () => {
            if (confirm("End the meeting for everyone?")) this.send({ type: "end_meeting" });
          }, { class: "danger" })
        : null,
      control("leave", "Leave", () => this.connection.leave(), { class: "danger" }),
    );
    if (focused) (this.toolbar.querySelector(`[data-control="${focused}"]`) as HTMLElement | null)?.focus();
  }

  private announceChanges(state: MeetingState): void {
    const before = this.previous;
    if (!before) return;
    if (state.lobby.length > before.lobby.length && moderates(state)) {
      const newest = state.lobby.at(-1);
      if (newest) announce(`${newest.display_name} is waiting in the lobby`);
    }
    if (state.roster.length !== before.roster.length && state.phase.name === "joined") {
      const joined = state.roster.filter((p) => !before.roster.some((b) => b.id === p.id));
      const left = before.roster.filter((p) => !state.roster.some((s) => s.id === p.id));
      for (const p of joined) if (p.id !== state.participantId) announce(`${p.display_name} joined`);
      for (const p of left) announce(`${p.display_name} left`);
    }
    if (state.locked !== before.locked && state.phase.name === "joined") announce(state.locked ? "The meeting is locked" : "The meeting is unlocked");
    if (state.phase.name === "reconnecting" && before.phase.name !== "reconnecting") announce("Connection lost. Reconnecting.");
    if (state.phase.name === "joined" && before.phase.name === "reconnecting") announce("Reconnected");
  }
}

function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  return words.slice(0, 2).map((w) => [...w][0]?.toUpperCase() ?? "").join("") || "?";
}
