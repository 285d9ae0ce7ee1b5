/**
 * Chat franking in the browser: a sealed message opens under its commitment; a changed
 * plaintext, key or commitment does not. (The browser test checks the other half: the Rust
 * server verifies a report made from a message the browser opened.)
 */

import { describe, expect, it } from "vitest";

import { commit, FrankingError, open, seal } from "../src/e2ee/franking";

const text = new TextEncoder().encode("meet at the usual place");

describe("franking", () => {
  it("opens what it sealed, and the commitment is the documented HMAC", async () => {
    const sealed = await seal(text);
    expect(sealed.inner[0]).toBe(1);
    expect(sealed.inner.length).toBe(1 + 32 + 4 + text.length);
    const opened = await open(sealed.inner, sealed.commitment);
    expect(new TextDecoder().decode(opened.plaintext)).toBe("meet at the usual place");
    expect(await commit(opened.frankingKey, text)).toEqual(sealed.commitment);
  });

  it("refuses a changed plaintext, key, commitment or length", async () => {
    const sealed = await seal(text);
    const flip = (bytes: Uint8Array, at: number) => {
      const copy = bytes.slice();
      copy[at]! ^= 1;
      return copy;
    };
    await expect(open(flip(sealed.inner, sealed.inner.length - 1), sealed.commitment)).rejects.toThrow(FrankingError);
    await expect(open(flip(sealed.inner, 5), sealed.commitment)).rejects.toThrow(/commitment/);
    await expect(open(sealed.inner, flip(sealed.commitment, 0))).rejects.toThrow(/commitment/);
    await expect(open(sealed.inner.subarray(0, sealed.inner.length - 1), sealed.commitment)).rejects.toThrow(/length/);
    await expect(open(flip(sealed.inner, 0), sealed.commitment)).rejects.toThrow(/malformed/);
  });
});
