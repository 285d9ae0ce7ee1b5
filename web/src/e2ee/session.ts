/**
 * This browser's part in a meeting's MLS group, driven by the signaling messages
 * (`crates/e2ee/src/lib.rs`, "Message flow"): the shell around {@link Member}.
 *
 * - `waiting` / `joined`: makes the KeyPackage (account key, or a fresh guest key); sends it
 *   in `mls_key_package` once seated (the server takes KeyPackages from seated participants
 *   only).
 * - `mls_create`: creates the group and sends `mls_group`.
 * - `mls_admitted`: records the admission; for an account, first reads its key from the key
 *   directory and checks the log's proof of it.
 * - `mls_proposal` / `mls_commit`: processes them, then commits the pending proposals when
 *   it is this member's turn ({@link Member.commitDelay}).
 * - `mls_commit_accepted` / `mls_commit_refused`: moves on, or drops the commit and waits for
 *   the winning one (re-base).
 * - `mls_welcome`: joins, checking every member of the tree against the admissions.
 * - `chat`: decrypts and opens the franking commitment.
 *
 * Every epoch installs its SFrame key in the sink (the worker) before anything else sees it.
 * Messages are handled one at a time, in order: each waits for the one before it.
 */

import { fromBase64, toBase64 } from "../base64";
import type { ClientMessage, ServerMessage } from "../proto/wire";
import { describeIdentity, Admissions, KeyDirectory, type MemberIdentity } from "./identity";
import { GhostError, Member, PendingMember, type EpochKeySink, type IdentityKeyPair, type RosterEntry } from "./mls";
import type { OpenedMessage } from "./franking";

/** Longest chat message a person may type, in characters. */
export const MAX_CHAT_CHARS = 4000;

/** What the session needs from the outside world. */
export interface SessionIo {
  /** Sends a signaling message; false if the connection is down. */
  send(message: ClientMessage): boolean;
  /** This member's identity key: the account's registered key, or a fresh one for a guest. */
  identityKey(account: string | null): Promise<IdentityKeyPair>;
  /** An account's key from the key directory, its log proof checked; throws if there is none. */
  directoryKey(account: string): Promise<Uint8Array>;
  /** Milliseconds on any monotonic clock. */
  now(): number;
  /** Runs `task` after `delayMs`; returns a function that cancels it. */
  schedule(delayMs: number, task: () => void): () => void;
}

/** One chat message as the meeting shows it. */
export interface ChatEntry {
  /** Who sent it, by the MLS state; `null` for this browser's own messages. */
  sender: MemberIdentity | null;
  text: string;
  /** The server's franking data, for a report (received messages only). */
  report: { opened: OpenedMessage; tag: Uint8Array; senderAccount: string | null; timestamp: number } | null;
}

/** The group as this member sees it after an epoch change. */
export interface EpochView {
  epoch: bigint;
  safetyCode: string;
  roster: RosterEntry[];
  ownLeaf: number;
}

/** What the session reports. */
export interface SessionEvents {
  /** A new epoch: its keys are installed. */
  onEpoch(view: EpochView): void;
  /** A refusal to show the user: a ghost named, or a failure of the group. */
  onAlert(message: string): void;
  onChat(entry: ChatEntry): void;
  /** This member was removed from the group. */
  onRemoved(): void;
}

export class E2eeSession {
  private readonly directory = new KeyDirectory();
  private pending: PendingMember | null = null;
  private member: Member | null = null;
  private account: string | null = null;
  private participant: string | null = null;
  private keyPackageSent = false;
  private chain: Promise<void> = Promise.resolve();
  private cancelCommit: (() => void) | null = null;
  private readonly outbox: string[] = [];
  private closed = false;

  constructor(
    private readonly sink: EpochKeySink,
    private readonly io: SessionIo,
    private readonly events: SessionEvents,
  ) {}

  /** The member, once in the group. */
  get current(): Member | null {
    return this.member;
  }

  /** Takes one server message; it is handled after every earlier one. */
  handle(message: ServerMessage): Promise<void> {
    return this.enqueue(() => this.step(message));
  }

  /** Sends a chat message, after the pending commit if proposals are waiting. */
  sendChat(text: string): Promise<void> {
    if (text.length === 0 || text.length > MAX_CHAT_CHARS) return Promise.reject(new RangeError(`a chat message has 1 to ${MAX_CHAT_CHARS} characters`));
    this.outbox.push(text);
    return this.enqueue(() => this.flushChat());
  }

  /** Stops timers; later messages are ignored. */
  close(): void {
    this.closed = true;
    this.cancelCommit?.();
    this.cancelCommit = null;
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.chain.then(async () => {
      if (this.closed) return;
      try {
        await task();
      } catch (error) {
        this.report(error);
      }
      this.scheduleCommit();
    });
    this.chain = run;
    return run;
  }

  private report(error: unknown): void {
    if (error instanceof GhostError) {
      const who = error.identity ? describeIdentity(error.identity) : "an unknown participant";
      this.events.onAlert(`Refused ${who}: ${error.message}`);
    } else {
      this.events.onAlert(`Encryption problem: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private async step(message: ServerMessage): Promise<void> {
    switch (message.type) {
      case "welcome":
        this.account = message.account_id;
        return;
      case "waiting":
        this.participant = message.participant_id;
        await this.prepare();
        return;
      case "joined":
        this.participant = message.participant_id;
        await this.prepare();
        if (this.member === null && !this.keyPackageSent && this.pending !== null) {
          this.keyPackageSent = this.io.send({ type: "mls_key_package", key_package: toBase64(this.pending.keyPackage) });
        }
        return;
      case "mls_create": {
        const pending = await this.prepare();
        if (this.member !== null) return;
        const { member, bootstrap } = await pending.createGroup(fromBase64(message.group_id), fromBase64(message.server_key), this.sink);
        this.io.send({ type: "mls_group", group_info: toBase64(bootstrap.groupInfo), ratchet_tree: toBase64(bootstrap.ratchetTree) });
        this.entered(member);
        return;
      }
      case "mls_admitted": {
        const admission = { participant: message.participant_id, account: message.account_id };
        if (admission.account !== null) await this.learnKey(admission.account, admission.participant);
        this.member?.recordAdmission(admission);
        return;
      }
      case "mls_proposal": {
        const member = this.member;
        if (member === null) return;
        await member.processHandshake(fromBase64(message.message), this.directory, this.io.now());
        return;
      }
      case "mls_commit": {
        const member = this.member;
        if (member === null) return;
        const outcome = await member.processHandshake(fromBase64(message.message), this.directory, this.io.now());
        if (outcome.kind === "epoch") this.afterEpoch(member, outcome.change.selfRemoved);
        return;
      }
      case "mls_commit_accepted": {
        const member = this.member;
        if (member === null) return;
        const change = await member.commitAccepted();
        this.afterEpoch(member, change.selfRemoved);
        return;
      }
      case "mls_commit_refused":
        // Another member's commit won the epoch; it arrives as `mls_commit`, and the server
        // proposes again what it did not cover.
        this.member?.commitRefused();
        return;
      case "mls_welcome": {
        const pending = this.pending;
        if (pending === null || this.member !== null) return;
        const seated = new Admissions();
        await Promise.all(
          message.admissions.map(async (a) => {
            if (a.participant_id === this.participant) return;
            if (a.account_id !== null) await this.learnKey(a.account_id, a.participant_id);
            seated.record({ participant: a.participant_id, account: a.account_id });
          }),
        );
        const member = await pending.join(fromBase64(message.welcome), fromBase64(message.ratchet_tree), fromBase64(message.server_key), seated, this.directory, this.sink);
        this.entered(member);
        return;
      }
      case "chat": {
        const member = this.member;
        if (member === null) return;
        const received = await member.receiveChat(fromBase64(message.message), fromBase64(message.commitment));
        const text = new TextDecoder("utf-8", { fatal: true }).decode(received.opened.plaintext);
        this.events.onChat({
          sender: received.sender,
          text,
          report: { opened: received.opened, tag: fromBase64(message.tag), senderAccount: message.sender_account_id, timestamp: message.timestamp },
        });
        return;
      }
      default:
        return;
    }
  }

  /** The KeyPackage, made once this browser knows its participant id. */
  private async prepare(): Promise<PendingMember> {
    if (this.pending !== null) return this.pending;
    if (this.participant === null) throw new Error("the server named no participant id before MLS started");
    const identity = { participant: this.participant, account: this.account };
    const keys = await this.io.identityKey(this.account);
    this.pending = await PendingMember.create(identity, keys, BigInt(Math.floor(Date.now() / 1000)));
    return this.pending;
  }

  /** Reads an account's key from the key directory; a failure is shown naming the participant. */
  private async learnKey(account: string, participant: string): Promise<void> {
    try {
      this.directory.insert(account, await this.io.directoryKey(account));
    } catch (error) {
      this.events.onAlert(`Cannot check the key of ${describeIdentity({ participant, account })}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private entered(member: Member): void {
    this.member = member;
    this.afterEpoch(member, false);
  }

  private afterEpoch(member: Member, removed: boolean): void {
    if (removed || member.isRemoved) {
      this.events.onRemoved();
      return;
    }
    this.events.onEpoch({ epoch: member.epoch, safetyCode: member.safetyCode, roster: member.roster(), ownLeaf: member.ownLeaf });
    if (this.outbox.length > 0) void this.enqueue(() => this.flushChat());
  }

  private async flushChat(): Promise<void> {
    const member = this.member;
    if (member === null || member.hasPendingProposals) return;
    while (this.outbox.length > 0) {
      const text = this.outbox[0]!;
      const chat = await member.sendChat(new TextEncoder().encode(text));
      this.outbox.shift();
      this.io.send({ type: "chat_send", message: toBase64(chat.message), commitment: toBase64(chat.commitment) });
      this.events.onChat({ sender: null, text, report: null });
    }
  }

  /** Commits the pending proposals when it is this member's turn. */
  private scheduleCommit(): void {
    this.cancelCommit?.();
    this.cancelCommit = null;
    const member = this.member;
    if (member === null || this.closed) return;
    const delay = member.commitDelay(this.io.now());
    if (delay === null) return;
    this.cancelCommit = this.io.schedule(delay, () => {
      this.cancelCommit = null;
      void this.enqueue(async () => {
        if (member.commitDelay(this.io.now()) !== 0) return;
        const commit = await member.commitPending(this.directory);
        if (commit === null) return;
        const sent = this.io.send({
          type: "mls_commit",
          epoch: Number(commit.epoch),
          commit: toBase64(commit.commit),
          welcome: commit.welcome === null ? null : toBase64(commit.welcome),
        });
        // Not sent (connection down): drop it, so that the next turn commits again.
        if (!sent) member.commitRefused();
      });
    });
  }
}
