/**
 * The browser's checks of the transparency log: RFC 9162 inclusion proofs against the shared
 * C2SP/transparency-dev vectors, signed checkpoints (a forged or foreign signature is refused),
 * and key directory answers (a proof for another entry, another account or a tampered entry is
 * refused).
 */

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";

import { fromBase64, toBase64 } from "../src/base64";
import { verifyNotice } from "../src/ledger/notice";
import { verifyEndOrder } from "../src/ledger/order";
import { leafHash, LedgerError, parseVerifier, verifyCheckpoint, verifyInclusion, verifyKeyDirectory } from "../src/ledger/verify";
import { vectorsDir } from "./vectors";

interface InclusionVector {
  leafIdx: number;
  treeSize: number;
  root: string | null;
  leafHash: string | null;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : name.endsWith(".json") ? [path] : [];
  });
}

function bytes(text: string | null): Uint8Array<ArrayBuffer> {
  return text === null ? new Uint8Array(0) : Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

describe("inclusion proofs", () => {
  const paths = files(join(vectorsDir(), "merkle/inclusion"));

  it("has the shared vectors", () => {
    expect(paths.length).toBeGreaterThan(20);
  });

  it("accepts exactly the vectors that must verify", async () => {
    let accepted = 0;
    for (const path of paths) {
      const v = JSON.parse(readFileSync(path, "utf8")) as InclusionVector;
      const tree = { origin: "o", size: BigInt(v.treeSize), root: bytes(v.root) };
      const proof = (v.proof ?? []).map(bytes);
      let ok = true;
      try {
        if (tree.root.length !== 32 || bytes(v.leafHash).length !== 32) throw new LedgerError("proof", "not a hash");
        await verifyInclusion(bytes(v.leafHash), BigInt(v.leafIdx), tree, proof);
      } catch (error) {
        expect(error).toBeInstanceOf(LedgerError);
        ok = false;
      }
      expect(ok, `${path}: ${v.desc}`).toBe(!v.wantErr);
      if (ok) accepted += 1;
    }
    expect(accepted).toBeGreaterThan(0);
  });
});

/** A log of the given entries, signed like `ledger::checkpoint` with a fresh key. */
async function makeLog(entries: Uint8Array[]) {
  const secret = ed25519.utils.randomSecretKey();
  const publicKey = ed25519.getPublicKey(secret);
  const name = "test.example/log";
  const typed = Uint8Array.of(1, ...publicKey);
  const id = new Uint8Array(await crypto.subtle.digest("SHA-256", Uint8Array.of(...new TextEncoder().encode(`${name}\n`), ...typed))).subarray(0, 4);
  const verifierKey = `${name}+${[...id].map((b) => b.toString(16).padStart(2, "0")).join("")}+${toBase64(typed)}`;
  const leaves = await Promise.all(entries.map((e) => leafHash(e)));
  const node = async (l: Uint8Array, r: Uint8Array) => new Uint8Array(await crypto.subtle.digest("SHA-256", Uint8Array.of(1, ...l, ...r)));
  // Two leaves only: enough for a proof of one sibling.
  if (leaves.length !== 2) throw new Error("this helper makes two-entry logs");
  const root = await node(leaves[0]!, leaves[1]!);
  const body = `${name}\n2\n${toBase64(root)}\n`;
  const sign = (text: string, key = secret) => toBase64(Uint8Array.of(...id, ...ed25519.sign(new TextEncoder().encode(text), key)));
  const note = `${body}\n\u2014 ${name} ${sign(body)}\n`;
  return { name, verifierKey, note, leaves, body, sign };
}

function keyEntry(account: string, key: Uint8Array): Uint8Array {
  const body = new TextEncoder().encode(`{"account_id":"${account}","version":1,"public_key":"${toBase64(key)}","registered_at":1700000000,"previous_key":null}`);
  const tag = new TextEncoder().encode("key_directory.v1");
  const len = body.length;
  return Uint8Array.of(1, tag.length, ...tag, len >>> 24, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff, ...body);
}

describe("signed checkpoints and key directory answers", () => {
  it("accepts a checkpoint signed by the pinned key and refuses forgeries", async () => {
    const entry = keyEntry("acct-a", new Uint8Array(32).fill(7));
    const log = await makeLog([entry, new Uint8Array([9])]);
    const verifier = await parseVerifier(log.verifierKey);
    const checkpoint = await verifyCheckpoint(log.note, verifier, log.name);
    expect(checkpoint.size).toBe(2n);

    // The body changed after signing.
    await expect(verifyCheckpoint(log.note.replace("\n2\n", "\n3\n"), verifier, log.name)).rejects.toThrow(LedgerError);
    // Signed by another key under the same name and key id.
    const other = `${log.body}\n\u2014 ${log.name} ${log.sign(log.body, ed25519.utils.randomSecretKey())}\n`;
    await expect(verifyCheckpoint(other, verifier, log.name)).rejects.toThrow(/does not verify/);
    // Another origin.
    await expect(verifyCheckpoint(log.note, verifier, "elsewhere")).rejects.toThrow(LedgerError);
    // A verifier key whose id does not match its key.
    await expect(parseVerifier(log.verifierKey.replace(/\+[0-9a-f]{8}\+/, "+00000000+"))).rejects.toThrow(LedgerError);
  });

  it("reads an account's key only with a proof that leads to the signed root", async () => {
    const key = new Uint8Array(32).fill(7);
    const entry = keyEntry("acct-a", key);
    const other = new Uint8Array([9]);
    const log = await makeLog([entry, other]);
    const pinned = { verifier: await parseVerifier(log.verifierKey), origin: log.name };
    const answer = { index: 0, entry: toBase64(entry), checkpoint: log.note, proof: [toBase64(log.leaves[1]!)] };

    const record = await verifyKeyDirectory(answer, pinned, "acct-a");
    expect(record.publicKey).toEqual(key);

    await expect(verifyKeyDirectory(answer, pinned, "acct-b")).rejects.toThrow(/acct-b/);
    await expect(verifyKeyDirectory({ ...answer, index: 1 }, pinned, "acct-a")).rejects.toThrow(LedgerError);
    const tampered = keyEntry("acct-a", new Uint8Array(32).fill(8));
    await expect(verifyKeyDirectory({ ...answer, entry: toBase64(tampered) }, pinned, "acct-a")).rejects.toThrow(/root/);
    await expect(verifyKeyDirectory({ ...answer, proof: [] }, pinned, "acct-a")).rejects.toThrow(LedgerError);
    expect(fromBase64(answer.entry)).toEqual(entry);
  });
});

const text = (t: string) => {
  const b = new TextEncoder().encode(t);
  return [b.length >> 8, b.length & 0xff, ...b];
};

/**
 * A certificate as `oversight` encodes it: version, the request (version, action, subject,
 * region DE, reasons, one screenshot, requester, times, nonce), then signature and approvals'
 * bytes, which these checks do not read.
 */
function certificate(action: number, subject: string, reasons: string): Uint8Array {
  const request = [1, action, ...text(subject), 0, 0x44, 0x45, ...text(reasons), 0, 1, 1, ...new Array<number>(32).fill(5), ...text("alice"), ...new Array<number>(48).fill(6)];
  return Uint8Array.of(1, ...request, ...new Uint8Array(104).fill(3));
}

/** The request id `oversight` gives the request inside `certificate(...)`. */
async function requestId(cert: Uint8Array): Promise<string> {
  const request = cert.subarray(1, cert.length - 104);
  const label = new TextEncoder().encode("conclave oversight request hash v1\0");
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", Uint8Array.from([...label, ...request])));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function endCertificate(meeting: string, reasons: string): Uint8Array {
  return certificate(0, meeting, reasons);
}

function executionEntry(certificate: Uint8Array): Uint8Array {
  const tag = new TextEncoder().encode("oversight.execution");
  const len = certificate.length + 1;
  return Uint8Array.of(1, tag.length, ...tag, len >>> 24, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff, 1, ...certificate);
}

describe("orders that end a meeting", () => {
  it("believes an order only when it is the logged execution for this meeting", async () => {
    const certificate = endCertificate("meeting-1", "Court order 12/34");
    const log = await makeLog([new Uint8Array([9]), executionEntry(certificate)]);
    const pinned = { verifier: await parseVerifier(log.verifierKey), origin: log.name };
    const order = { certificate: toBase64(certificate), ledger_index: 1, inclusion_proof: [toBase64(log.leaves[0]!)], checkpoint: log.note };

    const verified = await verifyEndOrder(order, "meeting-1", pinned);
    expect(verified.reasons).toBe("Court order 12/34");
    expect(verified.ledgerIndex).toBe(1);

    await expect(verifyEndOrder(order, "meeting-2", pinned)).rejects.toThrow(/another meeting/);
    const forged = endCertificate("meeting-1", "Court order 99/99");
    await expect(verifyEndOrder({ ...order, certificate: toBase64(forged) }, "meeting-1", pinned)).rejects.toThrow(/root/);
    await expect(verifyEndOrder({ ...order, ledger_index: 0 }, "meeting-1", pinned)).rejects.toThrow(LedgerError);
    const unsigned = log.note.slice(0, log.note.lastIndexOf("\n\n") + 2) + `\u2014 ${log.name} ${log.sign(log.body, ed25519.utils.randomSecretKey())}\n`;
    await expect(verifyEndOrder({ ...order, checkpoint: unsigned }, "meeting-1", pinned)).rejects.toThrow(/signature/);
  });
});

describe("oversight notices", () => {
  it("believes a notice only when the log shows the execution of its request with its reasons", async () => {
    const cert = certificate(1, "acct-1", "Court order 56/78");
    const entry = executionEntry(cert);
    const log = await makeLog([new Uint8Array([9]), entry]);
    const pinned = { verifier: await parseVerifier(log.verifierKey), origin: log.name };
    const notice = {
      request: await requestId(cert),
      action: "suspend_account",
      reasons: "Court order 56/78",
      ledger_index: 1,
      inclusion_proof: [toBase64(log.leaves[0]!)],
      checkpoint: log.note,
      issued_at: 1,
      appeal: null,
    };
    const logged = { index: 1, data: toBase64(entry) };

    const verified = await verifyNotice(notice, logged, pinned);
    expect(verified).toMatchObject({ action: "suspend_account", subject: "acct-1", reasons: "Court order 56/78", ledgerIndex: 1 });

    await expect(verifyNotice({ ...notice, request: "00".repeat(32) }, logged, pinned)).rejects.toThrow(/another request/);
    await expect(verifyNotice({ ...notice, reasons: "Something milder" }, logged, pinned)).rejects.toThrow(/differs from the log/);
    await expect(verifyNotice({ ...notice, action: "end_meeting" }, logged, pinned)).rejects.toThrow(/differs from the log/);
    await expect(verifyNotice(notice, { index: 0, data: toBase64(new Uint8Array([9])) }, pinned)).rejects.toThrow(/entry 0/);
    // An entry the proof does not lead to: a certificate with other reasons.
    const forged = executionEntry(certificate(1, "acct-1", "Court order 99/99"));
    await expect(verifyNotice(notice, { index: 1, data: toBase64(forged) }, pinned)).rejects.toThrow(/root/);
    // A logged entry that is not an execution.
    const other = await makeLog([new Uint8Array([9]), keyEntry("acct-1", new Uint8Array(32))]);
    const otherPinned = { verifier: await parseVerifier(other.verifierKey), origin: other.name };
    await expect(
      verifyNotice({ ...notice, checkpoint: other.note, inclusion_proof: [toBase64(other.leaves[0]!)] }, { index: 1, data: toBase64(keyEntry("acct-1", new Uint8Array(32))) }, otherPinned),
    ).rejects.toThrow(/not an executed action/);
    const unsigned = log.note.slice(0, log.note.lastIndexOf("\n\n") + 2) + `\u2014 ${log.name} ${log.sign(log.body, ed25519.utils.randomSecretKey())}\n`;
    await expect(verifyNotice({ ...notice, checkpoint: unsigned }, logged, pinned)).rejects.toThrow(/signature/);
  });
});
