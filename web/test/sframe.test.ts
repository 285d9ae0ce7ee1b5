/**
 * RFC 9605 test vectors (sframe-wg/sframe test-vectors.json, from shared/test-vectors):
 * header encoding, and the full SFrame case for AES_128_GCM_SHA256_128 (0x0004), through the
 * key schedule, the frame functions and MediaKeys. Plus MediaKeys' epoch rules, mirrored from
 * crates/e2ee/src/media.rs.
 */

import { describe, expect, it } from "vitest";

import { encodeHeader, HeaderError, kidFor, kidSender, MAX_FRAME_LEN, parseHeader } from "../src/sframe/header";
import { EPOCH_GRACE_MS, MediaError, MediaKeys } from "../src/sframe/media-keys";
import {
  CIPHER_SUITE,
  decryptFrame,
  deriveKeyMaterial,
  deriveSenderKey,
  encryptFrame,
  frameNonce,
  importBaseKey,
  keyScheduleLabel,
} from "../src/sframe/suite";
import { hex, readVectors, toHex } from "./vectors";

interface HeaderCase {
  kid: bigint;
  ctr: bigint;
  encoded: string;
}
interface SframeCase {
  cipher_suite: number;
  kid: bigint;
  ctr: bigint;
  base_key: string;
  sframe_key_label: string;
  sframe_salt_label: string;
  sframe_secret: string;
  sframe_key: string;
  sframe_salt: string;
  metadata: string;
  nonce: string;
  aad: string;
  pt: string;
  ct: string;
}
interface Vectors {
  header: HeaderCase[];
  sframe: SframeCase[];
}

const vectors = readVectors("sframe/test-vectors.json", ["kid", "ctr"]) as Vectors;
const suite4 = vectors.sframe.filter((c) => c.cipher_suite === CIPHER_SUITE);

describe("RFC 9605 header vectors", () => {
  it("has the published cases", () => {
    expect(vectors.header.length).toBeGreaterThan(100);
  });

  it("parses and encodes every case", () => {
    for (const c of vectors.header) {
      const bytes = hex(c.encoded);
      const header = parseHeader(bytes);
      expect(header.kid, `KID of ${c.encoded}`).toBe(c.kid);
      expect(header.counter, `CTR of ${c.encoded}`).toBe(c.ctr);
      expect(header.length, `length of ${c.encoded}`).toBe(bytes.length);
      expect(toHex(encodeHeader(c.kid, c.ctr)), `encoding of KID ${c.kid} CTR ${c.ctr}`).toBe(c.encoded);
    }
  });

  it("refuses truncated, overlong and non-shortest headers", () => {
    const kind = (bytes: number[] | Uint8Array) => {
      try {
        parseHeader(Uint8Array.from(bytes));
        return "ok";
      } catch (e) {
        return e instanceof HeaderError ? e.kind : "other";
      }
    };
    expect(kind([])).toBe("empty");
    expect(kind([0b1010_0000, 1])).toBe("truncated");
    expect(kind([0b1000_0000, 5])).toBe("not_shortest_form");
    expect(kind([0b0000_1010, 0, 1, 0])).toBe("not_shortest_form");
    expect(kind(new Uint8Array(MAX_FRAME_LEN + 1))).toBe("too_long");
  });
});

describe("RFC 9605 AES_128_GCM_SHA256_128 vector", () => {
  it("exists once", () => {
    expect(suite4).toHaveLength(1);
  });

  for (const c of suite4) {
    it("derives the labels, secret, key, salt and nonce", async () => {
      expect(toHex(keyScheduleLabel("key", c.kid))).toBe(c.sframe_key_label);
      expect(toHex(keyScheduleLabel("salt", c.kid))).toBe(c.sframe_salt_label);
      // HKDF-Extract with an empty salt is HMAC keyed with HashLen zero bytes (RFC 5869).
      const zeros = await crypto.subtle.importKey("raw", new Uint8Array(32), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      const secret = new Uint8Array(await crypto.subtle.sign("HMAC", zeros, hex(c.base_key)));
      expect(toHex(secret)).toBe(c.sframe_secret);
      const material = await deriveKeyMaterial(await importBaseKey(hex(c.base_key)), c.kid);
      expect(toHex(material.key)).toBe(c.sframe_key);
      expect(toHex(material.salt)).toBe(c.sframe_salt);
      expect(toHex(frameNonce(material.salt, c.ctr))).toBe(c.nonce);
      expect(toHex(encodeHeader(c.kid, c.ctr)) + c.metadata).toBe(c.aad);
    });

    it("encrypts the plaintext to the ciphertext and back", async () => {
      const key = await deriveSenderKey(await importBaseKey(hex(c.base_key)), c.kid);
      const ct = await encryptFrame(key, c.ctr, hex(c.pt), hex(c.metadata));
      expect(toHex(ct)).toBe(c.ct);
      const header = parseHeader(hex(c.ct));
      expect(toHex(await decryptFrame(key, header, hex(c.ct), hex(c.metadata)))).toBe(c.pt);
      const tampered = hex(c.ct);
      tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
      await expect(decryptFrame(key, header, tampered, hex(c.metadata))).rejects.toThrow();
    });

    it("decrypts through MediaKeys, which finds the key from the KID", async () => {
      // The vector's KID 0x123 is leaf 0x12 in an epoch whose low bits are 3.
      const keys = new MediaKeys();
      keys.installEpoch(3n, hex(c.base_key), 0);
      const frame = await keys.decrypt(hex(c.ct), 0, hex(c.metadata));
      expect(frame.sender).toBe(0x12);
      expect(frame.epoch).toBe(3n);
      expect(frame.counter).toBe(c.ctr);
      expect(toHex(frame.payload)).toBe(c.pt);
    });
  }
});

function baseKey(fill: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(16).fill(fill);
}

async function mediaError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (e) {
    return e instanceof MediaError ? e.kind : `other: ${String(e)}`;
  }
}

describe("MediaKeys", () => {
  it("packs the leaf above four epoch bits", () => {
    expect(kidFor(0x12, 0x13n)).toBe(0x123n);
    expect(kidFor(0xffffffff, (1n << 64n) - 1n)).toBe((1n << 36n) - 1n);
    expect(kidSender(0x123n)).toBe(0x12);
    expect(() => kidSender(1n << 36n)).toThrow(HeaderError);
  });

  it("round-trips between members and counts up", async () => {
    const alice = new MediaKeys();
    const bob = new MediaKeys();
    alice.installEpoch(1n, baseKey(7), 0);
    bob.installEpoch(1n, baseKey(7), 0);
    const one = await alice.encrypt(new TextEncoder().encode("opus frame"), 5);
    const two = await alice.encrypt(new TextEncoder().encode("opus frame"), 5);
    expect(toHex(one)).not.toBe(toHex(two));
    const opened = await bob.decrypt(two, 0);
    expect(opened.sender).toBe(5);
    expect(opened.counter).toBe(1n);
    expect(new TextDecoder().decode(opened.payload)).toBe("opus frame");
  });

  it("keeps the previous epoch for the grace period only", async () => {
    const alice = new MediaKeys();
    const bob = new MediaKeys();
    alice.installEpoch(1n, baseKey(1), 0);
    bob.installEpoch(1n, baseKey(1), 0);
    const old = await alice.encrypt(new Uint8Array([1, 2, 3]), 0);
    bob.installEpoch(2n, baseKey(2), 1000);
    expect((await bob.decrypt(old, 1000 + EPOCH_GRACE_MS - 1)).epoch).toBe(1n);
    expect(await mediaError(bob.decrypt(old, 1000 + EPOCH_GRACE_MS))).toBe("epoch_expired");
    expect(await mediaError(bob.decrypt(old, 1000 + EPOCH_GRACE_MS))).toBe("unknown_epoch");
  });

  it("refuses stale epochs, no epoch, wrong keys and short frames", async () => {
    const keys = new MediaKeys();
    expect(await mediaError(keys.encrypt(new Uint8Array(1), 0))).toBe("no_epoch");
    keys.installEpoch(4n, baseKey(4), 0);
    expect(() => keys.installEpoch(4n, baseKey(4), 0)).toThrow(MediaError);
    expect(() => keys.installEpoch(5n, new Uint8Array(15), 0)).toThrow(MediaError);
    const other = new MediaKeys();
    other.installEpoch(4n, baseKey(9), 0);
    const forged = await other.encrypt(new Uint8Array([9]), 0);
    expect(await mediaError(keys.decrypt(forged, 0))).toBe("authentication");
    expect(await mediaError(keys.decrypt(new Uint8Array([0x10]), 0))).toBe("too_short");
    expect(await mediaError(keys.decrypt(new Uint8Array(0), 0))).toBe("header");
  });

  it("drops an epoch that shares the new one's KID bits at once", async () => {
    const alice = new MediaKeys();
    const bob = new MediaKeys();
    alice.installEpoch(1n, baseKey(1), 0);
    bob.installEpoch(1n, baseKey(1), 0);
    const old = await alice.encrypt(new Uint8Array([1]), 3);
    bob.installEpoch(17n, baseKey(17), 0);
    expect(await mediaError(bob.decrypt(old, 0))).toBe("authentication");
  });

  it("zeroes the caller's base key once imported", () => {
    const key = baseKey(0xaa);
    new MediaKeys().installEpoch(1n, key, 0);
    expect(key.every((b) => b === 0)).toBe(true);
  });
});
