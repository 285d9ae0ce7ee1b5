/**
 * MLS between openmls (the Rust e2ee crate, through `crates/interop`'s `interop mls` session)
 * and ts-mls (`src/e2ee/mls.ts`): the Rust side plays the server view and two members, the web
 * client joins from a Rust Welcome, commits Add and Remove that Rust follows, and SFrame
 * frames cross under the MLS-derived keys. Keys, groups and frames are made at test time.
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { Admissions, KeyDirectory, decodeIdentity, encodeIdentity } from "../src/e2ee/identity";
import { GhostError, Member, PendingMember, generateIdentityKey } from "../src/e2ee/mls";
import { safetyCode } from "../src/e2ee/safety-code";
import { KeysSink, members, RustSession, type RustMember } from "./rust-session";
import { hex, toHex } from "./vectors";

/** Frames cross both ways between the web member and a Rust member. */
async function crossFrames(rust: RustSession, who: string, sink: KeysSink, rustLeaf: number): Promise<void> {
  const frame = crypto.getRandomValues(new Uint8Array(200));
  const fromWeb = await sink.keys.encrypt(frame, sink.leaf);
  const opened = await rust.call({ cmd: "decrypt", who, sframe: toHex(fromWeb) });
  expect(opened).toMatchObject({ sender: sink.leaf, payload: toHex(frame) });
  const fromRust = await rust.call({ cmd: "encrypt", who, frame: toHex(frame) });
  const decrypted = await sink.keys.decrypt(hex(fromRust["sframe"] as string), 0);
  expect(decrypted.sender).toBe(rustLeaf);
  expect(toHex(decrypted.payload)).toBe(toHex(frame));
}

describe("credential and safety code, as the Rust crate computes them", () => {
  it("encodes identities byte for byte", () => {
    const account = encodeIdentity({ participant: "p-1", account: "acct-1" });
    expect(toHex(account)).toBe(toHex(new TextEncoder().encode("conclave member v1")) + "00" + "0003" + toHex(new TextEncoder().encode("p-1")) + "0006" + toHex(new TextEncoder().encode("acct-1")));
    expect(decodeIdentity(account)).toEqual({ participant: "p-1", account: "acct-1" });
    const guest = encodeIdentity({ participant: "p-2", account: null });
    expect(decodeIdentity(guest)).toEqual({ participant: "p-2", account: null });
    expect(() => decodeIdentity(Uint8Array.of(...guest, 0))).toThrow(/malformed/);
    expect(() => decodeIdentity(new TextEncoder().encode("other"))).toThrow(/not a Conclave/);
  });

  it("derives the pinned safety code of safety_code.rs", async () => {
    const authenticator = Uint8Array.from({ length: 32 }, (_, i) => i);
    expect(await safetyCode(authenticator)).toBe("25482 57980 86487 37606 49828 60740");
    await expect(safetyCode(new Uint8Array(15))).rejects.toThrow(/outside/);
  });
});

describe("MLS between openmls and ts-mls", () => {
  let rust: RustSession;
  beforeAll(() => {
    rust = new RustSession();
  });
  afterAll(() => rust.close());

  it("joins a Rust group, commits Add and Remove that Rust follows, and shares safety code and SFrame keys", async () => {
    const setup = await rust.call({ cmd: "setup", group_id: toHex(new TextEncoder().encode("meeting-interop")) });
    const serverKey = hex(setup["server_key"] as string);

    const keys = await generateIdentityKey();
    const web = { participant: "p-web", account: "acct-web" };
    const pending = await PendingMember.create(web, keys, BigInt(Math.floor(Date.now() / 1000)));
    const added = await rust.call({ cmd: "add_web", key_package: toHex(pending.keyPackage), participant: web.participant, account: web.account });

    const seated = new Admissions();
    seated.record({ participant: "p-alice", account: "acct-alice" });
    const directory = new KeyDirectory();
    directory.insert("acct-alice", hex(setup["alice_key"] as string));
    directory.insert(web.account, keys.publicKey);
    // Ghost protection on join: a seated member whose key is not the directory's, or who was
    // never announced, is refused by name.
    const wrongKeys = new KeyDirectory();
    wrongKeys.insert("acct-alice", keys.publicKey);
    const welcome = hex(added["welcome"] as string);
    const tree = hex(added["ratchet_tree"] as string);
    const mismatch = await pending.join(welcome, tree, serverKey, seated, wrongKeys, new KeysSink()).catch((e: unknown) => e);
    expect(mismatch).toMatchObject({ name: "GhostError", kind: "key_mismatch", identity: { participant: "p-alice" } });
    const unseated = await pending.join(welcome, tree, serverKey, new Admissions(), directory, new KeysSink()).catch((e: unknown) => e);
    expect(unseated).toMatchObject({ name: "GhostError", kind: "not_admitted", identity: { participant: "p-alice" } });
    const otherServer = await pending.join(welcome, tree, keys.publicKey, seated, directory, new KeysSink()).catch((e: unknown) => e);
    expect(otherServer).toMatchObject({ name: "MemberError", kind: "external_senders" });

    const sink = new KeysSink();
    const member: Member = await pending.join(hex(added["welcome"] as string), hex(added["ratchet_tree"] as string), serverKey, seated, directory, sink);

    const alice = members(added)["alice"]!;
    expect(member.epoch).toBe(BigInt(alice.epoch));
    expect(member.ownLeaf).toBe(1);
    expect(member.safetyCode).toBe(alice.safety_code);
    expect(member.roster().map((e) => e.identity.participant)).toEqual(alice.roster);
    await crossFrames(rust, "alice", sink, 0);

    // The server proposes Carol: refused until announced, then the web client commits her Add.
    const proposal = hex((await rust.call({ cmd: "propose_carol", participant: "p-carol" }))["proposal"] as string);
    const ghost = await member.processHandshake(proposal, directory, 0).catch((e: unknown) => e);
    expect(ghost).toBeInstanceOf(GhostError);
    expect((ghost as GhostError).identity?.participant).toBe("p-carol");
    member.recordAdmission({ participant: "p-carol", account: null });
    expect(await member.processHandshake(proposal, directory, 0)).toMatchObject({ kind: "proposal", proposal: { kind: "add" } });
    expect(member.commitDelay(0)).toBe(500);
    const addCommit = await member.commitPending(directory);
    expect(addCommit?.welcome).not.toBeNull();
    const afterAdd = await rust.call({ cmd: "submit", commit: toHex(addCommit!.commit), welcome: toHex(addCommit!.welcome!) });
    await member.commitAccepted();
    const { alice: alice2, carol } = members(afterAdd) as { alice: RustMember; carol: RustMember };
    expect(member.epoch).toBe(2n);
    expect([alice2.epoch, carol.epoch]).toEqual(["2", "2"]);
    expect(carol.safety_code).toBe(member.safetyCode);
    expect(alice2.safety_code).toBe(member.safetyCode);
    await crossFrames(rust, "carol", sink, 2);

    // The server removes Alice; the web client (first in the commit order) commits it.
    const remove = hex((await rust.call({ cmd: "propose_remove", participant: "p-alice" }))["proposal"] as string);
    expect(await member.processHandshake(remove, directory, 0)).toMatchObject({ kind: "proposal", proposal: { kind: "remove", leaf: 0 } });
    expect(member.commitDelay(0)).toBe(0);
    const removeCommit = await member.commitPending(directory);
    expect(removeCommit?.welcome).toBeNull();
    const afterRemove = await rust.call({ cmd: "submit", commit: toHex(removeCommit!.commit) });
    const change = await member.commitAccepted();
    expect(change.removed.map((i) => i.participant)).toEqual(["p-alice"]);
    const after = members(afterRemove) as { alice: RustMember; carol: RustMember };
    expect(after.alice.removed).toBe(true);
    expect(after.carol.epoch).toBe("3");
    expect(after.carol.safety_code).toBe(member.safetyCode);
    expect(member.roster().map((e) => e.identity.participant)).toEqual(["p-web", "p-carol"]);
    await crossFrames(rust, "carol", sink, 2);
  });
});

describe("a group the web client creates", () => {
  let rust: RustSession;
  beforeAll(() => {
    rust = new RustSession();
  });
  afterAll(() => rust.close());

  it("is followed by the Rust server view, and a Rust member joins from the web Welcome", async () => {
    const serverKey = hex((await rust.call({ cmd: "server_key" }))["server_key"] as string);
    const keys = await generateIdentityKey();
    const web = { participant: "p-host", account: "acct-host" };
    const pending = await PendingMember.create(web, keys, BigInt(Math.floor(Date.now() / 1000)));
    const sink = new KeysSink();
    const { member, bootstrap } = await pending.createGroup(new TextEncoder().encode("meeting-web"), serverKey, sink);
    expect(member.epoch).toBe(0n);
    const adopted = await rust.call({
      cmd: "adopt",
      group_info: toHex(bootstrap.groupInfo),
      ratchet_tree: toHex(bootstrap.ratchetTree),
      participant: web.participant,
      account: web.account,
      key: toHex(keys.publicKey),
    });
    expect(adopted["roster"]).toEqual(["p-host"]);

    const directory = new KeyDirectory();
    directory.insert(web.account, keys.publicKey);
    const proposal = hex((await rust.call({ cmd: "propose_carol", participant: "p-carol" }))["proposal"] as string);
    member.recordAdmission({ participant: "p-carol", account: null });
    await member.processHandshake(proposal, directory, 0);
    expect(member.commitDelay(0)).toBe(0);
    const commit = await member.commitPending(directory);
    const submitted = await rust.call({ cmd: "submit", commit: toHex(commit!.commit), welcome: toHex(commit!.welcome!) });
    await member.commitAccepted();
    const carol = members(submitted)["carol"]!;
    expect(carol.epoch).toBe("1");
    expect(carol.safety_code).toBe(member.safetyCode);
    expect(carol.roster).toEqual(["p-host", "p-carol"]);
    await crossFrames(rust, "carol", sink, 1);
  });
});
