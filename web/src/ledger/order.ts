/**
 * The check a browser makes before it believes that oversight staff ended its meeting
 * (DESIGN.md T6): the order's quorum certificate must be the `oversight.execution` entry at
 * the given index of the public log, proven by an inclusion proof into a checkpoint signed by
 * the log's pinned key, and it must be an order to end this meeting. Its statement of
 * reasons is shown to the user.
 *
 * Not checked here: the approvals' signatures and the quorum against the staff set and
 * policy in force (that needs the staff keys from the log; `conclave audit` checks them).
 * What is checked already makes the order public: the server cannot end a meeting by order
 * without writing it where everyone, the participants first, can read it.
 */

import { fromBase64 } from "../base64";
import type { EndOrder } from "../proto/wire";
import { CertificateError, readCertifiedRequest } from "./certificate";
import { leafHash, verifyCheckpoint, verifyInclusion, type NoteVerifier } from "./verify";

/** Largest certificate accepted. */
const MAX_CERTIFICATE_LEN = 64 * 1024;
const EXECUTION_TAG = new TextEncoder().encode("oversight.execution");
/** `oversight::entry::BODY_VERSION`. */
const VERSION = 1;

/** An order that passed the checks. */
export interface VerifiedOrder {
  reasons: string;
  ledgerIndex: number;
  treeSize: bigint;
}

/** Why an order was not believed. */
export class OrderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OrderError";
  }
}

/** Checks an order to end `meetingId` against the log with the pinned key. */
export async function verifyEndOrder(order: EndOrder, meetingId: string, log: { verifier: NoteVerifier; origin: string }): Promise<VerifiedOrder> {
  let certificate: Uint8Array;
  try {
    certificate = fromBase64(order.certificate);
  } catch {
    throw new OrderError("the certificate is not base64");
  }
  if (certificate.length > MAX_CERTIFICATE_LEN) throw new OrderError("the certificate is too long");
  let request;
  try {
    request = await readCertifiedRequest(certificate);
  } catch (error) {
    throw error instanceof CertificateError ? new OrderError(error.message) : error;
  }
  if (request.action !== "end_meeting") throw new OrderError("the certificate is not an order to end a meeting");
  if (request.subject !== meetingId) throw new OrderError("the order is for another meeting");
  const reasons = request.reasons;
  const body = certificate.length + 1;
  const entry = Uint8Array.of(VERSION, EXECUTION_TAG.length, ...EXECUTION_TAG, body >>> 24, (body >>> 16) & 0xff, (body >>> 8) & 0xff, body & 0xff, VERSION, ...certificate);
  const checkpoint = await verifyCheckpoint(order.checkpoint, log.verifier, log.origin);
  if (!Number.isSafeInteger(order.ledger_index) || order.ledger_index < 0) throw new OrderError("bad ledger index");
  await verifyInclusion(await leafHash(entry), BigInt(order.ledger_index), checkpoint, order.inclusion_proof.map((h) => fromBase64(h)));
  return { reasons, ledgerIndex: order.ledger_index, treeSize: checkpoint.size };
}
