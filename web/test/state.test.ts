import { describe, expect, it } from "vitest";

import { apply, connectionLost, initialState, type MeetingState } from "../src/meeting/state";
import type { Participant, ServerMessage } from "../src/proto/wire";

const me = "AAAAAAAAAAAA";
const other = "BBBBBBBBBBBB";

function person(id: string, name: string, extra: Partial<Participant> = {}): Participant {
  return { id, account_id: null, display_name: name, guest: true, role: "participant", hand_raised: false, connected: true, host_muted: [], ...extra };
}

function run(messages: ServerMessage[], state: MeetingState = initialState): MeetingState {
  return messages.reduce(apply, state);
}

const joined: ServerMessage = {
  type: "joined",
  meeting_id: "M".repeat(22),
  participant_id: me,
  role: "host",
  resume_token: "r1",
  roster: [person(me, "Ada", { guest: false, role: "host" })],
  locked: false,
};

describe("meeting state", () => {
  it("goes from the lobby to a seat and tracks the roster", () => {
    const waiting = run([{ type: "waiting", meeting_id: "M".repeat(22), participant_id: me }]);
    expect(waiting.phase.name).toBe("waiting");
    const state = run([
      joined,
      { type: "participant_joined", participant: person(other, "Grace") },
      { type: "participant_updated", participant: person(other, "Grace", { hand_raised: true }) },
      { type: "lock_changed", locked: true },
    ], waiting);
    expect(state.phase.name).toBe("joined");
    expect(state.roster.map((p) => [p.display_name, p.hand_raised])).toEqual([["Ada", false], ["Grace", true]]);
    expect(state.locked).toBe(true);
    const after = apply(state, { type: "participant_left", participant_id: other, reason: "removed" });
    expect(after.roster).toHaveLength(1);
  });

  it("ends on denial, removal and the meeting's end, and then ignores the rest", () => {
    expect(run([{ type: "denied", reason: "no" }]).phase).toEqual({ name: "ended", kind: "denied", reason: "no" });
    const removed = run([joined, { type: "removed", reason: null }]);
    expect(removed.phase).toEqual({ name: "ended", kind: "removed", reason: null });
    expect(apply(removed, joined)).toBe(removed);
    expect(run([joined, { type: "meeting_ended", reason: "ended_by_host", order: null }]).phase).toMatchObject({ kind: "ended" });
    const order = { certificate: "AQ==", ledger_index: 3, inclusion_proof: [], checkpoint: "c" };
    const byOrder = run([joined, { type: "meeting_ended", reason: "order", order }]);
    expect(byOrder.phase).toMatchObject({ kind: "ended_by_order" });
    expect(byOrder.endOrder).toEqual(order);
  });

  it("tells join refusals from notices", () => {
    expect(run([{ type: "error", code: "meeting_locked", message: "locked" }]).phase).toMatchObject({ kind: "locked" });
    expect(run([{ type: "error", code: "wrong_passcode", message: "" }]).phase).toEqual({ name: "passcode", wrong: false });
    expect(run([{ type: "error", code: "wrong_passcode", message: "" }, { type: "error", code: "wrong_passcode", message: "" }]).phase).toEqual({ name: "passcode", wrong: true });
    const seated = run([joined, { type: "error", code: "not_found", message: "no such participant" }]);
    expect(seated.phase.name).toBe("joined");
    expect(seated.notice?.code).toBe("not_found");
    const notice = { request: "ab".repeat(32), action: "suspend_account", reasons: "Court order 1", ledger_index: 9, inclusion_proof: [], checkpoint: "c", issued_at: 1, appeal: null };
    const told = run([joined, { type: "notice", notice }]);
    expect(told.phase.name).toBe("joined");
    expect(told.notice).toMatchObject({ code: "oversight_notice" });
    expect(told.notice?.message).toContain("Court order 1");
  });

  it("holds a seat while reconnecting and ends when the resume fails", () => {
    const lost = connectionLost(run([joined]), 1000);
    expect(lost.phase).toEqual({ name: "reconnecting", since: 1000 });
    expect(lost.resumeToken).toBe("r1");
    expect(apply(lost, { ...joined, resume_token: "r2" }).phase.name).toBe("joined");
    expect(apply(lost, { type: "error", code: "resume_failed", message: "gone" }).phase).toMatchObject({ kind: "resume_failed" });
    expect(connectionLost(initialState, 0).phase.name).toBe("connecting");
  });

  it("keeps its own role in step with updates", () => {
    const demoted = run([joined, { type: "lobby_updated", waiting: [{ id: other, account_id: null, display_name: "G", guest: true, previously_removed: false }] }, { type: "participant_updated", participant: person(me, "Ada", { role: "participant" }) }]);
    expect(demoted.role).toBe("participant");
    expect(demoted.lobby).toEqual([]);
  });
});
