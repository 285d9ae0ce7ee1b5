import { describe, expect, it } from "vitest";

import { FrameCryptor } from "../src/sframe/transform";

function key(fill: number): ArrayBuffer {
  return new Uint8Array(16).fill(fill).buffer;
}

describe("the SFrame worker core", () => {
  it("drops frames until keyed, never passing plaintext", async () => {
    const cryptor = new FrameCryptor();
    expect(await cryptor.encrypt(new Uint8Array([1, 2, 3]).buffer)).toBeNull();
    cryptor.command({ type: "install_epoch", epoch: "1", base_key: key(3) }, 0);
    expect(await cryptor.encrypt(new Uint8Array([1, 2, 3]).buffer)).toBeNull();
    expect(cryptor.command({ type: "stats" }, 0)).toMatchObject({ dropped_without_key: 2, encrypted: 0 });
  });

  it("encrypts whole frames that another member's worker decrypts", async () => {
    const alice = new FrameCryptor();
    const bob = new FrameCryptor();
    alice.command({ type: "install_epoch", epoch: "7", base_key: key(5) }, 0);
    alice.command({ type: "set_own_leaf", leaf: 2 }, 0);
    bob.command({ type: "install_epoch", epoch: "7", base_key: key(5) }, 0);
    const frame = new Uint8Array(1200).map((_, i) => i % 251);
    const sealed = await alice.encrypt(frame.buffer.slice(0));
    expect(sealed).not.toBeNull();
    expect(new Uint8Array(sealed!)).not.toEqual(frame);
    const opened = await bob.decrypt(sealed!, 0);
    expect(new Uint8Array(opened!)).toEqual(frame);
    const tampered = new Uint8Array(sealed!.slice(0));
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
    expect(await bob.decrypt(tampered.buffer, 0)).toBeNull();
    expect(bob.command({ type: "stats" }, 0)).toMatchObject({ decrypted: 1, dropped_failed: 1, senders: [2], epoch: "7" });
  });

  it("runs as a stream stage", async () => {
    const alice = new FrameCryptor();
    alice.command({ type: "install_epoch", epoch: "1", base_key: key(1) }, 0);
    alice.command({ type: "set_own_leaf", leaf: 0 }, 0);
    const bob = new FrameCryptor();
    bob.command({ type: "install_epoch", epoch: "1", base_key: key(1) }, 0);
    const frames = [1, 2, 3].map((n) => ({ data: new Uint8Array(n * 10).fill(n).buffer }));
    const source = new ReadableStream({ start: (c) => (frames.forEach((f) => c.enqueue(f)), c.close()) });
    const out: { data: ArrayBuffer }[] = [];
    await source
      .pipeThrough(alice.transformStream("encrypt", () => 0))
      .pipeThrough(bob.transformStream("decrypt", () => 0))
      .pipeTo(new WritableStream({ write: (f) => void out.push(f) }));
    expect(out.map((f) => new Uint8Array(f.data)[0])).toEqual([1, 2, 3]);
  });
});
