import { describe, expect, it } from "vitest";

import { decryptInfo, encryptInfo, InviteError, inviteLink, newInfoKey, parseInvite } from "../src/invite";

const ID = "AbCdEfGhIjKlMnOpQrStUv";

describe("meeting info encryption", () => {
  it("round-trips with the link's key and hides the plaintext", async () => {
    const key = newInfoKey();
    const blob = await encryptInfo({ title: "Quarterly böard", description: "Room 4\nAgenda" }, key);
    expect(atob(blob)).not.toContain("Quarterly");
    expect(await decryptInfo(blob, key)).toEqual({ title: "Quarterly böard", description: "Room 4\nAgenda" });
  });

  it("refuses another key, a tampered blob and a short key", async () => {
    const key = newInfoKey();
    const blob = await encryptInfo({ title: "t", description: "" }, key);
    await expect(decryptInfo(blob, newInfoKey())).rejects.toMatchObject({ kind: "undecryptable" });
    const bytes = Uint8Array.from(atob(blob), (c) => c.charCodeAt(0));
    bytes[20] = (bytes[20] ?? 0) ^ 1;
    await expect(decryptInfo(btoa(String.fromCharCode(...bytes)), key)).rejects.toMatchObject({ kind: "undecryptable" });
    await expect(decryptInfo(blob, "AAAA")).rejects.toMatchObject({ kind: "bad_key" });
  });

  it("refuses titles over the limit", async () => {
    await expect(encryptInfo({ title: "x".repeat(201), description: "" }, newInfoKey())).rejects.toBeInstanceOf(InviteError);
  });
});

describe("invite links", () => {
  it("carry the key in the fragment only", () => {
    const key = newInfoKey();
    const link = inviteLink("https://meet.example", ID, key);
    const url = new URL(link);
    expect(url.pathname).toBe(`/m/${ID}`);
    expect(url.search).toBe("");
    expect(url.hash).toBe(`#k=${key}`);
    expect(parseInvite(link)).toEqual({ meetingId: ID, key });
  });

  it("accept a bare id or a path, and refuse other links", () => {
    expect(parseInvite(` ${ID} `)).toEqual({ meetingId: ID, key: null });
    expect(parseInvite(`/m/${ID}`, "https://x.example")).toEqual({ meetingId: ID, key: null });
    expect(() => parseInvite("https://x.example/other")).toThrow(InviteError);
    expect(() => parseInvite(`https://x.example/m/${ID}x`)).toThrow(InviteError);
  });
});
