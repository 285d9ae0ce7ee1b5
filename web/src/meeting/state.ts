/**
 * What the browser knows about the meeting it is in, as a pure function of the signaling
 * messages it received: the sans-IO core of the meeting screens. `connection.ts` feeds it and
 * acts on the phase it reaches; the screens render it.
 */

import type { EndOrder, ErrorCode, LobbyEntry, Participant, Role, ServerMessage, TrackInfo } from "../proto/wire";

/** Why the meeting is over for this browser; each has its own screen. */
export type EndKind =
  | "denied"
  | "removed"
  | "ended"
  /** Ended with an oversight order; the screen checks it before believing it. */
  | "ended_by_order"
  | "locked"
  | "guests_not_allowed"
  | "not_found"
  | "unauthenticated"
  | "resume_failed"
  | "connection_lost"
  | "shutting_down"
  | "left";

/** How this browser's attempt to be in the meeting stands. */
export type Phase =
  | { name: "connecting" }
  /** The meeting needs a passcode; `wrong` after a refused one. */
  | { name: "passcode"; wrong: boolean }
  | { name: "waiting" }
  | { name: "joined" }
  /** The connection dropped while seated; the seat is held for 30 s from `since` (ms). */
  | { name: "reconnecting"; since: number }
  | { name: "ended"; kind: EndKind; reason: string | null };

/** A refusal that does not end anything, or an oversight notice, shown as a notice. */
export interface Notice {
  code: ErrorCode | "oversight_notice";
  message: string;
}

export interface MeetingState {
  readonly phase: Phase;
  /** This browser's participant id once waiting or seated. */
  readonly participantId: string | null;
  readonly role: Role | null;
  /** For `resume` after a dropped connection. */
  readonly resumeToken: string | null;
  /** Seated participants, in the order they arrived. */
  readonly roster: readonly Participant[];
  /** Hosts only: who waits in the lobby, longest first. */
  readonly lobby: readonly LobbyEntry[];
  readonly locked: boolean;
  /** Loudest first, from the SFU. */
  readonly activeSpeakers: readonly string[];
  /** Remote tracks this browser receives, from the SFU. */
  readonly tracks: readonly TrackInfo[];
  /** A host asked this participant to unmute. */
  readonly unmuteRequested: boolean;
  readonly notice: Notice | null;
  /** The order the server gave for ending the meeting, not yet checked. */
  readonly endOrder: EndOrder | null;
}

export const initialState: MeetingState = {
  phase: { name: "connecting" },
  participantId: null,
  role: null,
  resumeToken: null,
  roster: [],
  lobby: [],
  locked: false,
  activeSpeakers: [],
  tracks: [],
  unmuteRequested: false,
  notice: null,
  endOrder: null,
};

/** Whether the phase is final: nothing the server sends changes it any more. */
export function isOver(state: MeetingState): boolean {
  return state.phase.name === "ended";
}

/** Whether this browser may use host controls. */
export function moderates(state: MeetingState): boolean {
  return state.role === "host" || state.role === "cohost";
}

function ended(state: MeetingState, kind: EndKind, reason: string | null = null): MeetingState {
  return { ...state, phase: { name: "ended", kind, reason }, lobby: [] };
}

function upsert(roster: readonly Participant[], participant: Participant): Participant[] {
  const at = roster.findIndex((p) => p.id === participant.id);
  if (at < 0) return [...roster, participant];
  const next = roster.slice();
  next[at] = participant;
  return next;
}

/** Error codes that end an attempt to join, when they answer `join` or `resume`. */
const JOIN_REFUSALS: Partial<Record<ErrorCode, EndKind>> = {
  meeting_locked: "locked",
  meeting_ended: "ended",
  guests_not_allowed: "guests_not_allowed",
  not_found: "not_found",
  unauthenticated: "unauthenticated",
  resume_failed: "resume_failed",
};

/** The state after one server message. Messages after the end change nothing. */
export function apply(state: MeetingState, message: ServerMessage): MeetingState {
  if (isOver(state)) return state;
  switch (message.type) {
    case "welcome":
    case "pong":
    case "media_offer":
    case "media_answer":
    // The MLS group and chat are the e2ee layer's, not the meeting state's (#4, #6).
    case "mls_create":
    case "mls_admitted":
    case "mls_proposal":
    case "mls_commit":
    case "mls_commit_accepted":
    case "mls_commit_refused":
    case "mls_welcome":
    case "chat":
      return state;
    // An oversight notice about this account arrived; the start page lists it with its proof.
    case "notice":
      return {
        ...state,
        notice: {
          code: "oversight_notice",
          message: `Oversight notice (${message.notice.action.replaceAll("_", " ")}): ${message.notice.reasons} It is listed, with its check against the public log and a way to appeal, on the start page.`,
        },
      };
    case "waiting":
      return { ...state, phase: { name: "waiting" }, participantId: message.participant_id };
    case "joined":
      return {
        ...state,
        phase: { name: "joined" },
        participantId: message.participant_id,
        role: message.role,
        resumeToken: message.resume_token,
        roster: message.roster,
        locked: message.locked,
        notice: null,
      };
    case "denied":
      return ended(state, "denied", message.reason);
    case "removed":
      return ended(state, "removed", message.reason);
    case "meeting_ended":
      if (message.reason === "order") return { ...ended(state, "ended_by_order", null), endOrder: message.order };
      return ended(state, "ended", null);
    case "participant_joined":
      return { ...state, roster: upsert(state.roster, message.participant) };
    case "participant_updated": {
      const mine = message.participant.id === state.participantId;
      return {
        ...state,
        roster: upsert(state.roster, message.participant),
        role: mine ? message.participant.role : state.role,
        lobby: mine && message.participant.role === "participant" ? [] : state.lobby,
      };
    }
    case "participant_left":
      return {
        ...state,
        roster: state.roster.filter((p) => p.id !== message.participant_id),
        activeSpeakers: state.activeSpeakers.filter((id) => id !== message.participant_id),
        tracks: state.tracks.filter((t) => t.participant_id !== message.participant_id),
      };
    case "lobby_updated":
      return { ...state, lobby: message.waiting };
    case "lock_changed":
      return { ...state, locked: message.locked };
    case "unmute_requested":
      return { ...state, unmuteRequested: true };
    case "media_tracks":
      return { ...state, tracks: message.tracks };
    case "active_speakers":
      return { ...state, activeSpeakers: message.participant_ids };
    case "error": {
      const joining = state.phase.name === "connecting" || state.phase.name === "passcode" || state.phase.name === "reconnecting";
      if (message.code === "shutting_down") return ended(state, "shutting_down", message.message);
      if (joining && message.code === "wrong_passcode") {
        return { ...state, phase: { name: "passcode", wrong: state.phase.name === "passcode" } };
      }
      const refusal = JOIN_REFUSALS[message.code];
      if (joining && refusal) return ended(state, refusal, message.message);
      return { ...state, notice: { code: message.code, message: message.message } };
    }
  }
}

/** The connection dropped at `now` (ms). A seat is held for a resume; a lobby wait is asked for again. */
export function connectionLost(state: MeetingState, now: number): MeetingState {
  switch (state.phase.name) {
    case "joined":
      return { ...state, phase: { name: "reconnecting", since: now } };
    case "reconnecting":
    case "ended":
      return state;
    default:
      return { ...state, phase: { name: "connecting" } };
  }
}

/** This browser gave up on its connection, or the user left. */
export function end(state: MeetingState, kind: EndKind): MeetingState {
  return isOver(state) ? state : ended(state, kind);
}

/** The user dismissed a notice or an unmute request. */
export function dismiss(state: MeetingState): MeetingState {
  return { ...state, notice: null, unmuteRequested: false };
}
