/**
 * The signaling connection of one browser in one meeting: the thin shell around `state.ts`.
 * It opens the WebSocket, says `hello`, asks to `join` (or `resume` after a drop), keeps the
 * connection alive, and reconnects within the 30 s the server holds a seat.
 */

import {
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  type ClientMessage,
  type HelloAuth,
  type ServerMessage,
} from "../proto/wire";
import { apply, connectionLost, end, initialState, isOver, type MeetingState } from "./state";

/** How long the server holds a dropped participant's seat. */
export const RESUME_WINDOW_MS = 30_000;
/** Keep-alive interval. */
const PING_INTERVAL_MS = 20_000;
/** Delays between reconnection attempts; the last repeats until the window closes. */
const RETRY_DELAYS_MS = [250, 500, 1000, 2000, 4000];

/** The part of `WebSocket` this code uses, so tests can hand in another transport. */
export interface SocketLike {
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface ConnectionOptions {
  /** `ws://host/api/v1/ws` or `wss://...`. */
  url: string;
  auth: HelloAuth;
  meetingId: string;
  passcode: string | null;
  /** Called after every state change. */
  onState: (state: MeetingState) => void;
  /** Every server message, after the state took it (for the media engine). */
  onMessage?: (message: ServerMessage) => void;
  openSocket?: (url: string) => SocketLike;
  now?: () => number;
}

/** The signaling WebSocket URL of the server that served this page. */
export function signalingUrl(location: Location): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/api/v1/ws`;
}

export class MeetingConnection {
  private state: MeetingState = initialState;
  private socket: SocketLike | null = null;
  private passcode: string | null;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private readonly openSocket: (url: string) => SocketLike;
  private readonly now: () => number;

  constructor(private readonly options: ConnectionOptions) {
    this.passcode = options.passcode;
    this.openSocket = options.openSocket ?? ((url) => new WebSocket(url));
    this.now = options.now ?? (() => Date.now());
  }

  /** The current state. */
  current(): MeetingState {
    return this.state;
  }

  /** Opens the connection and asks to join. */
  start(): void {
    this.connect();
  }

  /** Sends a message if connected; returns whether it went out. */
  send(message: ClientMessage): boolean {
    if (!this.socket || this.state.phase.name === "reconnecting") return false;
    const text = JSON.stringify(message);
    if (text.length > MAX_MESSAGE_BYTES) return false;
    this.socket.send(text);
    return true;
  }

  /** Tries again with a passcode after the server asked for one. */
  submitPasscode(passcode: string): void {
    this.passcode = passcode;
    this.send({ type: "join", meeting_id: this.options.meetingId, passcode });
  }

  /** Leaves the meeting (or stops waiting) and closes the connection. */
  leave(): void {
    this.send({ type: "leave" });
    this.finish();
    this.update(end(this.state, "left"));
  }

  /** Local changes to the state (dismissing a notice). */
  edit(change: (state: MeetingState) => MeetingState): void {
    this.update(change(this.state));
  }

  private update(next: MeetingState): void {
    if (next === this.state) return;
    this.state = next;
    this.options.onState(next);
  }

  private connect(): void {
    const socket = this.openSocket(this.options.url);
    this.socket = socket;
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: "hello", version: PROTOCOL_VERSION, auth: this.options.auth } satisfies ClientMessage));
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket || typeof event.data !== "string") return;
      let message: ServerMessage;
      try {
        message = JSON.parse(event.data) as ServerMessage;
      } catch {
        return;
      }
      this.receive(message);
    };
    socket.onclose = () => {
      if (this.socket === socket) this.dropped();
    };
    socket.onerror = () => {
      // A close event follows; that is where the drop is handled.
    };
  }

  private receive(message: ServerMessage): void {
    if (message.type === "welcome") {
      const resuming = this.state.phase.name === "reconnecting" && this.state.resumeToken !== null;
      this.socket?.send(
        JSON.stringify(
          resuming
            ? ({ type: "resume", meeting_id: this.options.meetingId, resume_token: this.state.resumeToken ?? "" } satisfies ClientMessage)
            : ({ type: "join", meeting_id: this.options.meetingId, passcode: this.passcode } satisfies ClientMessage),
        ),
      );
    }
    const before = this.state.phase.name;
    this.update(apply(this.state, message));
    if (this.state.phase.name === "joined" || this.state.phase.name === "waiting") {
      this.attempt = 0;
      if (before !== this.state.phase.name) this.startPing();
    }
    if (isOver(this.state)) this.finish();
    this.options.onMessage?.(message);
  }

  private startPing(): void {
    if (this.pingTimer !== null) return;
    this.pingTimer = setInterval(() => this.send({ type: "ping" }), PING_INTERVAL_MS);
  }

  private dropped(): void {
    this.socket = null;
    if (isOver(this.state)) return this.finish();
    this.update(connectionLost(this.state, this.now()));
    const phase = this.state.phase;
    const since = phase.name === "reconnecting" ? phase.since : this.now();
    const delay = RETRY_DELAYS_MS[Math.min(this.attempt, RETRY_DELAYS_MS.length - 1)] ?? 4000;
    this.attempt += 1;
    if (this.now() + delay - since >= RESUME_WINDOW_MS || (phase.name !== "reconnecting" && this.attempt > RETRY_DELAYS_MS.length)) {
      this.finish();
      this.update(end(this.state, "connection_lost"));
      return;
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!isOver(this.state)) this.connect();
    }, delay);
  }

  /** Stops timers and closes the socket for good. */
  private finish(): void {
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.pingTimer = null;
    this.retryTimer = null;
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, "bye");
  }
}
