/**
 * The browser's MLS driver (`E2eeSession`) fed with the signaling messages a server sends, the
 * MLS bytes made by the Rust crates (`interop mls`): it sends its KeyPackage when seated,
 * joins from the Welcome after reading the seated account's key from the key directory,
 * refuses an Add nobody announced and names the participant, then commits the announced Add
 * on its turn (again after a refusal), and the Rust members follow it to one safety code.
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { toBase64 } from "../src/base64";
import { generateIdentityKey } from "../src/e2ee/mls";
import { E2eeSession, type EpochView } from "../src/e2ee/session";
import type { ClientMessage, ServerMessage } from "../src/proto/wire";
import { KeysSink, members, RustSession } from "./rust-session";
import { hex, toHex } from "./vectors";

let rust: RustSession;
beforeAll(() => {
  rust = new RustSession();
});
afterAll(() => rust.close());

const b64 = (hexText: string) => toBase64(hex(hexText));

describe("the browser's MLS session", () => {
  it("joins, refuses a ghost by name, and commits an announced Add on its turn", async () => {
    const setup = await rust.call({ cmd: "setup", group_id: toHex(new TextEncoder().encode("meeting-session")) });
    const keys = await generateIdentityKey();
    const sent: ClientMessage[] = [];
    const alerts: string[] = [];
    const epochs: EpochView[] = [];
    const timers: { delay: number; task: () => void }[] = [];
    const looked: string[] = [];
    const sink = new KeysSink();
    let clock = 0;
    const session = new E2eeSession(
      sink,
      {
        send: (message) => (sent.push(message), true),
        identityKey: async () => keys,
        directoryKey: async (account) => {
          looked.push(account);
          if (account === "acct-alice") return hex(setup["alice_key"] as string);
          throw new Error("no key");
        },
        now: () => clock,
        schedule: (delay, task) => {
          timers.push({ delay, task });
          return () => {};
        },
      },
      {
        onEpoch: (view) => epochs.push(view),
        onAlert: (message) => alerts.push(message),
        onChat: () => {},
        onRemoved: () => {},
      },
    );
    const handle = (message: ServerMessage) => session.handle(message);

    await handle({ type: "welcome", version: 1, account_id: "acct-web", display_name: "Web" });
    await handle({ type: "joined", meeting_id: "m", participant_id: "p-web", role: "participant", resume_token: "t", roster: [], locked: false });
    const keyPackage = sent.find((m) => m.type === "mls_key_package");
    expect(keyPackage).toBeDefined();
    const keyPackageHex = toHex(Uint8Array.from(atob((keyPackage as { key_package: string }).key_package), (c) => c.charCodeAt(0)));
    const added = await rust.call({ cmd: "add_web", key_package: keyPackageHex, participant: "p-web", account: "acct-web" });

    await handle({
      type: "mls_welcome",
      welcome: b64(added["welcome"] as string),
      ratchet_tree: b64(added["ratchet_tree"] as string),
      server_key: b64(setup["server_key"] as string),
      admissions: [
        { participant_id: "p-alice", account_id: "acct-alice" },
        { participant_id: "p-web", account_id: "acct-web" },
      ],
    });
    expect(alerts).toEqual([]);
    expect(looked).toEqual(["acct-alice"]);
    expect(epochs).toHaveLength(1);
    expect(epochs[0]!.safetyCode).toBe(members(added)["alice"]!.safety_code);
    expect(session.current?.ownLeaf).toBe(1);

    // An Add the server never announced: refused, shown naming the participant, not stored.
    const proposal = await rust.call({ cmd: "propose_carol", participant: "p-carol" });
    await handle({ type: "mls_proposal", message: b64(proposal["proposal"] as string) });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toContain("p-carol");
    expect(session.current?.hasPendingProposals).toBe(false);

    // Announced, the same Add is taken; this member (leaf 1, after Alice) commits after 500 ms.
    await handle({ type: "mls_admitted", participant_id: "p-carol", account_id: null });
    await handle({ type: "mls_proposal", message: b64(proposal["proposal"] as string) });
    expect(alerts).toHaveLength(1);
    const turn = timers.at(-1);
    expect(turn?.delay).toBe(500);
    expect(sent.some((m) => m.type === "mls_commit")).toBe(false);
    clock = 500;
    turn!.task();
    await session.handle({ type: "pong" });
    const first = sent.filter((m) => m.type === "mls_commit");
    expect(first).toHaveLength(1);
    // The server refuses it (another commit won, or it came late): this member drops it and,
    // the proposal still pending, commits again at once on its next turn.
    await handle({ type: "mls_commit_refused", reason: "superseded", current_epoch: 1 });
    expect(epochs).toHaveLength(1);
    const again = timers.at(-1);
    expect(again).not.toBe(turn);
    expect(again?.delay).toBe(0);
    again!.task();
    await session.handle({ type: "pong" });
    const commits = sent.filter((m) => m.type === "mls_commit") as Extract<ClientMessage, { type: "mls_commit" }>[];
    expect(commits).toHaveLength(2);
    const commit = commits[1];
    expect(commit?.epoch).toBe(1);
    expect(commit?.welcome).toBeTruthy();
    const fromB64 = (text: string) => toHex(Uint8Array.from(atob(text), (c) => c.charCodeAt(0)));
    const accepted = await rust.call({ cmd: "submit", commit: fromB64(commit!.commit), welcome: fromB64(commit!.welcome!) });
    await handle({ type: "mls_commit_accepted", epoch: 2 });
    expect(epochs).toHaveLength(2);
    const after = members(accepted);
    expect(after["carol"]!.safety_code).toBe(epochs[1]!.safetyCode);
    expect(after["alice"]!.safety_code).toBe(epochs[1]!.safetyCode);
    expect(epochs[1]!.roster.map((e) => e.identity.participant)).toEqual(["p-alice", "p-web", "p-carol"]);
    session.close();
  });
});
