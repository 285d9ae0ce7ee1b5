/**
 * The check a browser makes before it shows an oversight notice (DESIGN.md T7): the entry the
 * notice names is read from the public log, proven to be in a checkpoint signed by the log's
 * pinned key, and must be the execution (or, for a delayed disclosure, the opening) of exactly
 * the request the notice is about. What the page shows, the action, its subject and the
 * statement of reasons, is read from that entry, and the server's copy must agree with it.
 */

import { fromBase64 } from "../base64";
import type { OversightNotice } from "../proto/wire";
import { CertificateError, readCertifiedRequest, type UserAction } from "./certificate";
import { decodeEntry, leafHash, LedgerError, verifyCheckpoint, verifyInclusion, type LedgerEntry, type NoteVerifier } from "./verify";

/** Entries that show an executed action (`oversight::entry`). */
const SHOWING_TAGS = new Set(["oversight.execution", "oversight.opening"]);
/** `oversight::entry::BODY_VERSION`. */
const BODY_VERSION = 1;

/** A notice whose action the log shows. */
export interface VerifiedNotice {
  action: UserAction;
  /** The meeting or account acted on. */
  subject: string;
  /** The statement of reasons, from the log. */
  reasons: string;
  ledgerIndex: number;
  treeSize: bigint;
}

/** Why a notice was not believed. */
export class NoticeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NoticeError";
  }
}

/**
 * Checks `notice` against `entry`, the log entry at its index (from `GET /api/v1/ledger/entries`),
 * with the pinned log key.
 */
export async function verifyNotice(notice: OversightNotice, entry: LedgerEntry, log: { verifier: NoteVerifier; origin: string }): Promise<VerifiedNotice> {
  const index = notice.ledger_index;
  if (!Number.isSafeInteger(index) || index < 0) throw new NoticeError("bad ledger index");
  if (entry.index !== index) throw new NoticeError(`the log answered with entry ${entry.index}, not ${index}`);
  let data: Uint8Array;
  try {
    data = fromBase64(entry.data);
  } catch {
    throw new NoticeError("the log entry is not base64");
  }
  const checkpoint = await verifyCheckpoint(notice.checkpoint, log.verifier, log.origin);
  let proof: Uint8Array[];
  try {
    proof = notice.inclusion_proof.map((hash) => fromBase64(hash));
  } catch {
    throw new NoticeError("the inclusion proof is not base64");
  }
  await verifyInclusion(await leafHash(data), BigInt(index), checkpoint, proof);
  const { tag, body } = decodeEntry(data);
  if (!SHOWING_TAGS.has(tag)) throw new NoticeError(`entry ${index} is ${tag}, not an executed action`);
  if (body[0] !== BODY_VERSION) throw new LedgerError("entry", "unknown oversight entry version");
  let request;
  try {
    request = await readCertifiedRequest(body.subarray(1));
  } catch (error) {
    throw error instanceof CertificateError ? new NoticeError(error.message) : error;
  }
  if (request.requestId !== notice.request) throw new NoticeError(`entry ${index} executes another request than this notice names`);
  if (request.action !== notice.action || request.reasons !== notice.reasons) {
    throw new NoticeError("the server's copy of the action or its reasons differs from the log");
  }
  return { action: request.action, subject: request.subject, reasons: request.reasons, ledgerIndex: index, treeSize: checkpoint.size };
}
