/**
 * The browser's side of a meeting's MLS group (RFC 9420, `ts-mls`, ciphersuite 0x0001),
 * following the same rules as the native member (`crates/e2ee/src/member.rs`):
 *
 * - A {@link PendingMember} holds the KeyPackage the server will propose; it becomes a
 *   {@link Member} by {@link PendingMember.createGroup} (first participant, with the server as
 *   the group's only external sender) or {@link PendingMember.join} (Welcome + ratchet tree).
 * - The only proposals a member stores are the server's Add and Remove. An Add is accepted only
 *   for a participant the server announced as admitted ({@link Member.recordAdmission}) with the
 *   same account, and for an account only with the key the {@link KeyDirectory} lists. A commit
 *   is merged only if every Add in it passes, no member's identity or key changes in it, and it
 *   is not an external commit. A joiner checks every member of the tree the same way. Any
 *   mismatch is a {@link GhostError} naming the participant.
 * - Every epoch installs `MLS-Exporter("SFrame 1.0 Base Key", "", 16)` into an
 *   {@link EpochKeySink} (a `MediaCrypto`) and derives the safety code.
 * - Handshake messages are PublicMessages (openmls' pure-plaintext wire format policy), so
 *   the server can follow the group.
 */

import {
  createApplicationMessage,
  createCommit,
  createGroup,
  decodeMlsMessage,
  defaultCapabilities,
  emptyPskIndex,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  mlsExporter,
  processMessage,
  type CiphersuiteImpl,
  type ClientState,
  type Credential,
  type Extension,
  type KeyPackage,
  type LeafNode,
  type PrivateKeyPackage,
  type Proposal,
  type ProposalWithSender,
} from "ts-mls";
import { createGroupInfo } from "ts-mls/createCommit.js";
import { decryptSenderData } from "ts-mls/privateMessage.js";
import { decodeRatchetTree, encodeRatchetTree } from "ts-mls/ratchetTree.js";

import { BASE_KEY_LEN, EXPORTER_LABEL } from "../sframe/media-keys";
import { FRANKING_KEY_LEN, open, seal, type OpenedMessage } from "./franking";
import { Admissions, decodeIdentity, describeIdentity, IDENTITY_KEY_LEN, type KeyDirectory, type MemberIdentity, encodeIdentity } from "./identity";
import { safetyCode } from "./safety-code";

/** The one MLS ciphersuite Conclave uses: 0x0001. */
export const CIPHERSUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519" as const;
/** The identity the server signs its proposals under (`member::SERVER_CREDENTIAL`). */
export const SERVER_CREDENTIAL = new TextEncoder().encode("conclave server v1");
/** The longest group id (the meeting id), in bytes. */
export const MAX_GROUP_ID_LEN = 256;
/** How long each member further down the commit order waits (`member::COMMIT_STAGGER`). */
export const COMMIT_STAGGER_MS = 500;
/** The largest MLS message accepted from the network. */
export const MAX_MLS_MESSAGE_LEN = 4 * 1024 * 1024;
/** KeyPackage lifetime: openmls refuses lifetimes longer than about three months. */
const KEY_PACKAGE_LIFETIME_S = 28n * 24n * 3600n;

type Bytes = Uint8Array<ArrayBuffer>;

/** Where each epoch's SFrame base key goes: `MediaCrypto` fits. */
export interface EpochKeySink {
  setOwnLeaf(leaf: number): void;
  installEpoch(epoch: bigint, baseKey: Bytes): void;
}

/** A participant refused entry into this member's group state (threat T4). */
export class GhostError extends Error {
  constructor(
    readonly kind: "not_admitted" | "key_mismatch" | "no_directory_key" | "already_member" | "key_changed" | "unreadable_credential" | "external_commit",
    /** Who the credential names, when it could be read. */
    readonly identity: MemberIdentity | null,
    message: string,
  ) {
    super(message);
    this.name = "GhostError";
  }
}

/** A member operation failed for a reason other than a ghost. */
export class MemberError extends Error {
  constructor(
    readonly kind:
      | "wire"
      | "wrong_group"
      | "group_id_length"
      | "external_senders"
      | "proposal_not_from_server"
      | "unexpected_proposal"
      | "unexpected_content"
      | "removed"
      | "commit_in_flight"
      | "no_pending_commit"
      | "no_such_member"
      | "proposals_pending"
      | "commitment_mismatch"
      | "mls",
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "MemberError";
  }
}

let suite: Promise<CiphersuiteImpl> | null = null;
/** The ciphersuite implementation (WebCrypto where it can). */
export function ciphersuite(): Promise<CiphersuiteImpl> {
  suite ??= getCiphersuiteImpl(getCiphersuiteFromName(CIPHERSUITE));
  return suite;
}

/** An Ed25519 key pair: the account's identity key (32-byte seed) or a fresh guest key. */
export interface IdentityKeyPair {
  readonly publicKey: Uint8Array;
  readonly signKey: Uint8Array;
}

/** A fresh key pair, e.g. for a guest. */
export async function generateIdentityKey(): Promise<IdentityKeyPair> {
  return (await ciphersuite()).signature.keygen();
}

function memberCredential(identity: MemberIdentity): Credential {
  return { credentialType: "basic", identity: encodeIdentity(identity) };
}

/** QUIC-style variable-length integer (RFC 9420 section 2.1.2). */
function varint(value: number): Uint8Array {
  if (value < 0x40) return Uint8Array.of(value);
  if (value < 0x4000) return Uint8Array.of(0x40 | (value >> 8), value & 0xff);
  return Uint8Array.of(0x80 | (value >>> 24), (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff);
}

function concat(...parts: Uint8Array[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * The ExternalSender struct (RFC 9420 section 12.1.8.1) of the server:
 * `opaque signature_key<V>; Credential credential;` with a basic credential.
 */
function serverSender(serverKey: Uint8Array): Bytes {
  return concat(varint(serverKey.length), serverKey, Uint8Array.of(0, 1), varint(SERVER_CREDENTIAL.length), SERVER_CREDENTIAL);
}

/**
 * The external_senders extension data as RFC 9420 section 12.1.8.1 defines it and openmls
 * writes it: `ExternalSender external_senders<V>`, here with the server as the only entry.
 */
export function externalSendersExtension(serverKey: Uint8Array): Extension {
  const sender = serverSender(serverKey);
  return { extensionType: "external_senders", extensionData: concat(varint(sender.length), sender) };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function checkExternalSenders(extensions: Extension[], serverKey: Uint8Array): void {
  const senders = extensions.filter((e) => e.extensionType === "external_senders");
  const expected = externalSendersExtension(serverKey).extensionData;
  if (senders.length !== 1 || !bytesEqual(senders[0]!.extensionData, expected)) {
    throw new MemberError("external_senders", "the group's external senders are not exactly the server's key");
  }
}

/** The single ExternalSender inside an RFC external_senders extension of one entry. */
function onlyExternalSender(extensionData: Uint8Array): Uint8Array {
  const first = extensionData[0] ?? 0;
  const prefix = 1 << (first >> 6);
  if (prefix > 2) throw new MemberError("external_senders", "external_senders extension is too long");
  const length = prefix === 1 ? first : ((first & 0x3f) << 8) | (extensionData[1] ?? 0);
  if (prefix + length !== extensionData.length) throw new MemberError("external_senders", "malformed external_senders extension");
  return extensionData.subarray(prefix);
}

function checkGroupId(groupId: Uint8Array): void {
  if (groupId.length === 0 || groupId.length > MAX_GROUP_ID_LEN) {
    throw new MemberError("group_id_length", `group id of ${groupId.length} bytes is outside 1..=${MAX_GROUP_ID_LEN}`);
  }
}

function decode(bytes: Uint8Array, expected: "mls_welcome" | "mls_public_message" | "mls_private_message") {
  if (bytes.length > MAX_MLS_MESSAGE_LEN) {
    throw new MemberError("wire", `MLS message of ${bytes.length} bytes is over ${MAX_MLS_MESSAGE_LEN}`);
  }
  let decoded;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch (cause) {
    throw new MemberError("wire", "malformed MLS message", { cause });
  }
  if (decoded === undefined || decoded[1] !== bytes.length) throw new MemberError("wire", "malformed MLS message");
  const message = decoded[0];
  if (message.wireformat !== expected) throw new MemberError("wire", `expected ${expected}, got ${message.wireformat}`);
  return message;
}

function readIdentity(leaf: LeafNode, leafIndex: number | null): MemberIdentity {
  if (leaf.credential.credentialType !== "basic") {
    throw new GhostError("unreadable_credential", null, `unreadable credential${leafIndex === null ? "" : ` at leaf ${leafIndex}`}`);
  }
  try {
    return decodeIdentity(leaf.credential.identity);
  } catch (cause) {
    const at = leafIndex === null ? "" : ` at leaf ${leafIndex}`;
    throw new GhostError("unreadable_credential", null, `unreadable credential${at}: ${String(cause)}`);
  }
}

/** The admission and key checks for one participant (`member::check_admitted`). */
function checkAdmitted(identity: MemberIdentity, signatureKey: Uint8Array, admissions: Admissions, directory: KeyDirectory): void {
  const who = describeIdentity(identity);
  if (!admissions.admits(identity)) {
    throw new GhostError("not_admitted", identity, `${who} was added but never announced as admitted`);
  }
  if (identity.account !== null) {
    const expected = directory.keyOf(identity.account);
    if (expected === undefined) {
      throw new GhostError("no_directory_key", identity, `${who} was added but the key directory has no key for the account`);
    }
    if (!bytesEqual(expected, signatureKey)) {
      throw new GhostError("key_mismatch", identity, `${who} was added with a key that is not the account's registered key`);
    }
  }
}

/** The members of a group state, by leaf index. */
function leaves(state: ClientState): { leaf: number; node: LeafNode }[] {
  const out: { leaf: number; node: LeafNode }[] = [];
  state.ratchetTree.forEach((node, index) => {
    if (node?.nodeType === "leaf") out.push({ leaf: index / 2, node: node.leaf });
  });
  return out;
}

function ownLeafOf(state: ClientState): number {
  const own = state.privatePath.leafIndex;
  return Number(own);
}

/** What the group's creator sends the server: a signed GroupInfo and the ratchet tree. */
export interface GroupBootstrap {
  groupInfo: Bytes;
  ratchetTree: Bytes;
}

/** A participant with a KeyPackage, not yet in the group. */
export class PendingMember {
  private constructor(
    readonly identity: MemberIdentity,
    private readonly publicPackage: KeyPackage,
    private readonly privatePackage: PrivateKeyPackage,
    /** The KeyPackage as an MLSMessage, to send to the server in `mls_key_package`. */
    readonly keyPackage: Bytes,
  ) {}

  /** Makes a KeyPackage for `identity`, signed with `keys`. */
  static async create(identity: MemberIdentity, keys: IdentityKeyPair, nowSeconds: bigint): Promise<PendingMember> {
    if (keys.publicKey.length !== IDENTITY_KEY_LEN) throw new MemberError("mls", "identity key is not 32 bytes");
    const cs = await ciphersuite();
    const lifetime = { notBefore: nowSeconds - 3600n, notAfter: nowSeconds + KEY_PACKAGE_LIFETIME_S };
    const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
      memberCredential(identity),
      defaultCapabilities(),
      lifetime,
      [],
      { signKey: keys.signKey, publicKey: keys.publicKey },
      cs,
    );
    const encoded = encodeMlsMessage({ wireformat: "mls_key_package", version: "mls10", keyPackage: publicPackage });
    return new PendingMember(identity, publicPackage, privatePackage, new Uint8Array(encoded));
  }

  /** Creates the meeting's group as its first member, with the server as the only external sender. */
  async createGroup(groupId: Uint8Array, serverKey: Uint8Array, sink: EpochKeySink): Promise<{ member: Member; bootstrap: GroupBootstrap }> {
    checkGroupId(groupId);
    const cs = await ciphersuite();
    // ts-mls 1.6.4 cannot decode the RFC form of external_senders (see
    // Member.processExternalProposal) and refuses it in createGroup, so the group is created
    // without it and the extension set in the epoch-0 context before anything derives from
    // it: ts-mls' epoch-0 key schedule starts from a random epoch secret and its tree hash
    // does not cover the context, and the GroupInfo below is signed over the final context.
    const created = await createGroup(groupId, this.publicPackage, this.privatePackage, [], cs);
    const state: ClientState = {
      ...created,
      groupContext: { ...created.groupContext, extensions: [externalSendersExtension(serverKey)] },
    };
    // Without the external_pub extension: nobody joins by external commit, and ts-mls 1.6.4
    // writes its data as the bare key where RFC 9420 section 12.4.3.2 has
    // `HPKEPublicKey external_pub` (an opaque<V>), which openmls cannot read.
    const groupInfo = await createGroupInfo(state.groupContext, state.confirmationTag, state, [], cs);
    const bootstrap = {
      groupInfo: new Uint8Array(encodeMlsMessage({ wireformat: "mls_group_info", version: "mls10", groupInfo })),
      ratchetTree: new Uint8Array(encodeRatchetTree(state.ratchetTree)),
    };
    return { member: await Member.start(this.identity, state, sink), bootstrap };
  }

  /**
   * Joins from the Welcome and ratchet tree the server delivered. Every other member of the
   * tree must be one of `seated` (with the directory's key for accounts), and the only
   * external sender must be `serverKey`.
   */
  async join(
    welcome: Uint8Array,
    ratchetTree: Uint8Array,
    serverKey: Uint8Array,
    seated: Admissions,
    directory: KeyDirectory,
    sink: EpochKeySink,
  ): Promise<Member> {
    const message = decode(welcome, "mls_welcome");
    if (message.wireformat !== "mls_welcome") throw new MemberError("wire", "not a Welcome");
    const tree = decodeRatchetTree(ratchetTree, 0);
    if (tree === undefined || tree[1] !== ratchetTree.length) throw new MemberError("wire", "malformed ratchet tree");
    const cs = await ciphersuite();
    let state: ClientState;
    try {
      state = await joinGroup(message.welcome, this.publicPackage, this.privatePackage, emptyPskIndex, cs, tree[0]);
    } catch (cause) {
      throw new MemberError("mls", `join from welcome: ${String(cause)}`, { cause });
    }
    checkExternalSenders(state.groupContext.extensions, serverKey);
    const own = ownLeafOf(state);
    for (const { leaf, node } of leaves(state)) {
      if (leaf === own) continue;
      checkAdmitted(readIdentity(node, leaf), node.signaturePublicKey, seated, directory);
    }
    return Member.start(this.identity, state, sink);
  }
}

/** What a server proposal asks for. */
export type ProposalOutcome = { kind: "add"; identity: MemberIdentity } | { kind: "remove"; leaf: number; identity: MemberIdentity };

/** The effect of a merged commit. */
export interface EpochChange {
  epoch: bigint;
  added: MemberIdentity[];
  removed: MemberIdentity[];
  selfRemoved: boolean;
}

/** What processing a handshake message did. */
export type HandshakeOutcome = { kind: "proposal"; proposal: ProposalOutcome } | { kind: "epoch"; change: EpochChange };

/** A commit to send to the server in `mls_commit`. */
export interface OutgoingCommit {
  epoch: bigint;
  commit: Bytes;
  welcome: Bytes | null;
}

/** A chat message to send to the server in `chat_send`. */
export interface OutgoingChat {
  message: Bytes;
  commitment: Bytes;
}

/** A chat message that decrypted and whose franking commitment opened. */
export interface ReceivedChat {
  /** Who sent it, by this member's own MLS state. */
  sender: MemberIdentity;
  opened: OpenedMessage;
}

/** One member as the roster shows it, from this member's own MLS state. */
export interface RosterEntry {
  leaf: number;
  identity: MemberIdentity;
  key: Uint8Array;
}

/** A member of a meeting's MLS group. */
export class Member {
  private readonly admissions = new Admissions();
  private pending: { state: ClientState; change: EpochChange } | null = null;
  private proposalsSince: number | null = null;
  private removed = false;
  private code = "";

  private constructor(
    readonly identity: MemberIdentity,
    private state: ClientState,
    private readonly sink: EpochKeySink,
  ) {}

  static async start(identity: MemberIdentity, state: ClientState, sink: EpochKeySink): Promise<Member> {
    const member = new Member(identity, state, sink);
    sink.setOwnLeaf(member.ownLeaf);
    await member.enterEpoch();
    return member;
  }

  /** This member's leaf index, which its SFrame KIDs carry. */
  get ownLeaf(): number {
    return ownLeafOf(this.state);
  }

  /** The current epoch. */
  get epoch(): bigint {
    return this.state.groupContext.epoch;
  }

  /** The group id (the meeting id). */
  get groupId(): Uint8Array {
    return this.state.groupContext.groupId;
  }

  /** The safety code of the current epoch, equal for every member of it. */
  get safetyCode(): string {
    return this.code;
  }

  /** Whether a commit removed this member. */
  get isRemoved(): boolean {
    return this.removed;
  }

  /** The members as this member's own MLS state has them. */
  roster(): RosterEntry[] {
    return leaves(this.state).map(({ leaf, node }) => ({ leaf, identity: readIdentity(node, leaf), key: node.signaturePublicKey }));
  }

  /** The member at `leaf`, e.g. to name the sender of a decrypted frame. */
  memberAt(leaf: number): MemberIdentity | null {
    const node = this.state.ratchetTree[leaf * 2];
    if (node?.nodeType !== "leaf") return null;
    try {
      return decodeIdentity(node.leaf.credential.credentialType === "basic" ? node.leaf.credential.identity : new Uint8Array());
    } catch {
      return null;
    }
  }

  /** Records the server's `mls_admitted` announcement; only such a participant's Add is accepted. */
  recordAdmission(admission: MemberIdentity): void {
    this.admissions.record(admission);
  }

  /** The SFrame base key of the current epoch (`MLS-Exporter("SFrame 1.0 Base Key", "", 16)`). */
  async exportBaseKey(): Promise<Bytes> {
    const cs = await ciphersuite();
    const key = await mlsExporter(this.state.keySchedule.exporterSecret, EXPORTER_LABEL, new Uint8Array(), BASE_KEY_LEN, cs);
    return new Uint8Array(key);
  }

  /** The epoch authenticator (RFC 9420 section 8.7) the safety code comes from. */
  epochAuthenticator(): Uint8Array {
    return this.state.keySchedule.epochAuthenticator;
  }

  /**
   * Processes a proposal or commit the server relayed. A commit this member made itself is
   * answered by `mls_commit_accepted` / `mls_commit_refused` instead.
   */
  async processHandshake(bytes: Uint8Array, directory: KeyDirectory, nowMs: number): Promise<HandshakeOutcome> {
    this.checkActive();
    const message = decode(bytes, "mls_public_message");
    if (message.wireformat !== "mls_public_message") throw new MemberError("wire", "not a PublicMessage");
    const content = message.publicMessage.content;
    if (!bytesEqual(content.groupId, this.groupId)) throw new MemberError("wrong_group", "message for another group");
    if (content.contentType === "proposal") {
      if (content.sender.senderType !== "external") {
        throw new MemberError("proposal_not_from_server", `proposal from a ${content.sender.senderType}, but only the server proposes`);
      }
      const outcome = this.checkProposal(content.proposal, directory);
      await this.processExternalProposal(message);
      this.proposalsSince ??= nowMs;
      return { kind: "proposal", proposal: outcome };
    }
    if (content.contentType === "commit") {
      if (content.sender.senderType !== "member") {
        throw new GhostError("external_commit", null, "external commit refused: joining needs an admission");
      }
      const committer = content.sender.leafIndex;
      const path = content.commit.path;
      if (path !== undefined) {
        const current = this.state.ratchetTree[committer * 2];
        if (current?.nodeType !== "leaf") throw new MemberError("no_such_member", `no member at leaf ${committer}`);
        const currentCredential = current.leaf.credential;
        const newCredential = path.leafNode.credential;
        const sameCredential =
          currentCredential.credentialType === "basic" &&
          newCredential.credentialType === "basic" &&
          bytesEqual(currentCredential.identity, newCredential.identity);
        if (!sameCredential || !bytesEqual(current.leaf.signaturePublicKey, path.leafNode.signaturePublicKey)) {
          const identity = readIdentity(current.leaf, committer);
          throw new GhostError("key_changed", identity, `a commit changes the identity or key of ${describeIdentity(identity)}`);
        }
      }
      let refusal: Error | null = null;
      let change: EpochChange | null = null;
      await this.process(message, (incoming) => {
        if (incoming.kind !== "commit") return "reject";
        try {
          change = this.checkCommit(incoming.proposals, directory);
          return "accept";
        } catch (error) {
          refusal = error as Error;
          return "reject";
        }
      });
      if (refusal !== null) throw refusal;
      if (change === null) throw new MemberError("mls", "commit was not applied");
      return { kind: "epoch", change: await this.afterCommit(change) };
    }
    throw new MemberError("unexpected_content", "expected a proposal or commit");
  }

  private async process(
    message: Parameters<typeof processMessage>[0],
    decide: Parameters<typeof processMessage>[3],
  ): Promise<void> {
    const cs = await ciphersuite();
    let result;
    try {
      result = await processMessage(message, this.state, emptyPskIndex, decide, cs);
    } catch (cause) {
      throw new MemberError("mls", `process handshake: ${String(cause)}`, { cause });
    }
    if (result.kind !== "newState") throw new MemberError("unexpected_content", "expected a proposal or commit");
    if (result.actionTaken === "accept") this.state = result.newState;
  }

  /**
   * Processes the server's proposal around a ts-mls 1.6.4 bug: it reads the external_senders
   * extension as one `ExternalSender` and `sender_index` as the index of the extension
   * (`senderFromExtension` in `publicMessage.js`, also `proposeExternal` and
   * `validateExternalSenders`), where RFC 9420 section 12.1.8.1 (and openmls) have one
   * extension holding `ExternalSender external_senders<V>`, indexed by `sender_index`. The
   * group context keeps the RFC bytes; only for verifying this proposal does ts-mls see the
   * one sender it can decode. Nothing a proposal's processing derives depends on the group
   * context extensions (an external sender's signature does not cover the context, and the
   * proposal reference hashes only the authenticated content).
   */
  private async processExternalProposal(message: Parameters<typeof processMessage>[0]): Promise<void> {
    const original = this.state;
    const extensions = original.groupContext.extensions.map((extension) =>
      extension.extensionType === "external_senders" ? { ...extension, extensionData: onlyExternalSender(extension.extensionData) } : extension,
    );
    this.state = { ...original, groupContext: { ...original.groupContext, extensions } };
    try {
      await this.process(message, () => "accept");
      this.state = { ...this.state, groupContext: original.groupContext };
    } catch (error) {
      this.state = original;
      throw error;
    }
  }

  private checkProposal(proposal: Proposal, directory: KeyDirectory): ProposalOutcome {
    if (proposal.proposalType === "add") {
      const leaf = proposal.add.keyPackage.leafNode;
      const identity = readIdentity(leaf, null);
      this.checkNewMember(identity, leaf.signaturePublicKey, directory);
      return { kind: "add", identity };
    }
    if (proposal.proposalType === "remove") {
      const leaf = proposal.remove.removed;
      const identity = this.memberAt(leaf);
      if (identity === null) throw new MemberError("no_such_member", `no member at leaf ${leaf}`);
      return { kind: "remove", leaf, identity };
    }
    throw new MemberError("unexpected_proposal", `${String(proposal.proposalType)} proposals are not used in Conclave`);
  }

  private checkNewMember(identity: MemberIdentity, signatureKey: Uint8Array, directory: KeyDirectory): void {
    checkAdmitted(identity, signatureKey, this.admissions, directory);
    const already = leaves(this.state).some(({ node }) => {
      try {
        return readIdentity(node, null).participant === identity.participant;
      } catch {
        return false;
      }
    });
    if (already) throw new GhostError("already_member", identity, `${describeIdentity(identity)} is already in the group`);
  }

  /** The ghost checks on a commit's proposals (`member::Member::check_commit`). */
  private checkCommit(proposals: ProposalWithSender[], directory: KeyDirectory): EpochChange {
    const change: EpochChange = { epoch: this.epoch + 1n, added: [], removed: [], selfRemoved: false };
    const seen = new Set<string>();
    for (const { proposal, senderLeafIndex } of proposals) {
      // ts-mls gives no leaf index for the server's (external) proposals; a member's proposal
      // carries its leaf index.
      if (senderLeafIndex !== undefined) {
        throw new MemberError("proposal_not_from_server", "proposal from a member, but only the server proposes");
      }
      const outcome = this.checkProposal(proposal, directory);
      if (outcome.kind === "add") {
        if (seen.has(outcome.identity.participant)) {
          throw new GhostError("already_member", outcome.identity, `${describeIdentity(outcome.identity)} is already in the group`);
        }
        seen.add(outcome.identity.participant);
        change.added.push(outcome.identity);
      } else {
        change.removed.push(outcome.identity);
        if (outcome.leaf === this.ownLeaf) change.selfRemoved = true;
      }
    }
    return change;
  }

  /**
   * How long to wait before committing the pending proposals, or `null` if there is nothing
   * to commit (or this member is being removed by them): members take turns by leaf index.
   */
  commitDelay(nowMs: number): number | null {
    const pending = Object.values(this.state.unappliedProposals);
    if (this.removed || pending.length === 0 || this.pending !== null) return null;
    const removed = pending.flatMap(({ proposal }) => (proposal.proposalType === "remove" ? [proposal.remove.removed] : []));
    const own = this.ownLeaf;
    if (removed.includes(own)) return null;
    const rank = leaves(this.state).filter(({ leaf }) => leaf < own && !removed.includes(leaf)).length;
    const waited = this.proposalsSince === null ? 0 : Math.max(0, nowMs - this.proposalsSince);
    return Math.max(0, rank * COMMIT_STAGGER_MS - waited);
  }

  /** Commits every pending proposal; `null` if none is pending. */
  async commitPending(directory: KeyDirectory): Promise<OutgoingCommit | null> {
    this.checkActive();
    if (this.pending !== null) throw new MemberError("commit_in_flight", "a commit is already waiting for the server");
    const proposals = Object.values(this.state.unappliedProposals);
    if (proposals.length === 0) return null;
    const change = this.checkCommit(proposals, directory);
    const cs = await ciphersuite();
    let result;
    try {
      result = await createCommit({ state: this.state, cipherSuite: cs }, { wireAsPublicMessage: true, ratchetTreeExtension: false });
    } catch (cause) {
      throw new MemberError("mls", `commit: ${String(cause)}`, { cause });
    }
    this.pending = { state: result.newState, change };
    return {
      epoch: this.epoch,
      commit: new Uint8Array(encodeMlsMessage(result.commit)),
      welcome:
        result.welcome === undefined
          ? null
          : new Uint8Array(encodeMlsMessage({ wireformat: "mls_welcome", version: "mls10", welcome: result.welcome })),
    };
  }

  /** Whether proposals wait for a commit (chat waits for the commit, as in openmls). */
  get hasPendingProposals(): boolean {
    return Object.keys(this.state.unappliedProposals).length > 0;
  }

  /**
   * Encrypts a franked chat message: the franking key and plaintext inside the MLS
   * ciphertext, the commitment as its authenticated data (which the server reads and tags).
   */
  async sendChat(plaintext: Uint8Array): Promise<OutgoingChat> {
    this.checkActive();
    if (this.hasPendingProposals || this.pending !== null) throw new MemberError("proposals_pending", "a commit is due before chat can be sent");
    const franked = await seal(plaintext);
    const cs = await ciphersuite();
    let result;
    try {
      result = await createApplicationMessage(this.state, franked.inner, cs, franked.commitment);
    } catch (cause) {
      throw new MemberError("mls", `encrypt chat: ${String(cause)}`, { cause });
    }
    this.state = result.newState;
    const message = new Uint8Array(encodeMlsMessage({ wireformat: "mls_private_message", version: "mls10", privateMessage: result.privateMessage }));
    return { message, commitment: franked.commitment };
  }

  /**
   * Decrypts a chat message and checks its franking commitment, which must be the one the
   * server delivered beside it and the one the sender signed (`member::Member::receive_chat`).
   */
  async receiveChat(bytes: Uint8Array, commitment: Uint8Array): Promise<ReceivedChat> {
    this.checkActive();
    if (commitment.length !== FRANKING_KEY_LEN) throw new MemberError("commitment_mismatch", "a commitment is 32 bytes");
    const message = decode(bytes, "mls_private_message");
    if (message.wireformat !== "mls_private_message") throw new MemberError("wire", "not a PrivateMessage");
    const pm = message.privateMessage;
    if (!bytesEqual(pm.groupId, this.groupId)) throw new MemberError("wrong_group", "message for another group");
    if (pm.epoch !== this.epoch) throw new MemberError("mls", `chat of epoch ${pm.epoch}, but the group is at ${this.epoch}`);
    // The authenticated data travels in the clear: compare before decrypting.
    if (!bytesEqual(pm.authenticatedData, commitment)) {
      throw new MemberError("commitment_mismatch", "the commitment beside the message is not the one inside it");
    }
    const cs = await ciphersuite();
    let leaf: number;
    let inner: Uint8Array;
    try {
      const senderData = await decryptSenderData(pm, this.state.keySchedule.senderDataSecret, cs);
      if (senderData === undefined) throw new Error("sender data does not decrypt");
      leaf = senderData.leafIndex;
      const result = await processMessage(message, this.state, emptyPskIndex, () => "reject", cs);
      if (result.kind !== "applicationMessage") throw new Error("not an application message");
      this.state = result.newState;
      inner = result.message;
    } catch (cause) {
      throw new MemberError("mls", `decrypt chat: ${String(cause)}`, { cause });
    }
    const sender = this.memberAt(leaf);
    if (sender === null) throw new MemberError("no_such_member", `no member at leaf ${leaf}`);
    try {
      return { sender, opened: await open(inner, commitment) };
    } catch (cause) {
      throw new MemberError("commitment_mismatch", String(cause), { cause });
    }
  }

  /** The server accepted this member's commit: move to the new epoch. */
  async commitAccepted(): Promise<EpochChange> {
    this.checkActive();
    if (this.pending === null) throw new MemberError("no_pending_commit", "no commit is waiting for the server");
    const { state, change } = this.pending;
    this.pending = null;
    this.state = state;
    return this.afterCommit(change);
  }

  /** The server refused this member's commit (another won the epoch): drop it. */
  commitRefused(): void {
    if (this.pending === null) throw new MemberError("no_pending_commit", "no commit is waiting for the server");
    this.pending = null;
  }

  private checkActive(): void {
    if (this.removed) throw new MemberError("removed", "this member was removed from the group");
  }

  private async afterCommit(change: EpochChange): Promise<EpochChange> {
    this.proposalsSince = null;
    for (const identity of change.added) this.admissions.consume(identity.participant);
    if (change.selfRemoved) {
      this.removed = true;
    } else {
      change.epoch = this.epoch;
      await this.enterEpoch();
    }
    return change;
  }

  /** Installs the current epoch's SFrame base key and safety code. */
  private async enterEpoch(): Promise<void> {
    this.sink.installEpoch(this.epoch, await this.exportBaseKey());
    this.code = await safetyCode(this.epochAuthenticator());
  }
}
