/**
 * Reading the request inside an oversight quorum certificate, as `crates/oversight` encodes it
 * (`QuorumCertificate::encode`: a version byte, the signed request, the approvals, the time).
 * Only actions with a user subject are read: ending a meeting, suspending or reinstating an
 * account, disclosing account data. Signatures are not checked here.
 */

/** `quorum::CERTIFICATE_VERSION` and `request::REQUEST_VERSION`. */
const VERSION = 1;
/** `REQUEST_HASH_LABEL` in `crates/oversight/src/request.rs`. */
const REQUEST_HASH_LABEL = new TextEncoder().encode("conclave oversight request hash v1\0");
/** `ActionKind::code()`, in order. */
const USER_ACTIONS = ["end_meeting", "suspend_account", "reinstate_account", "disclose_account_data"] as const;

/** An action on an account or a meeting. */
export type UserAction = (typeof USER_ACTIONS)[number];

/** The parts of a certificate's request a person is shown. */
export interface CertifiedRequest {
  /** The action's name. */
  action: UserAction;
  /** The meeting id (end_meeting) or account id (the others). */
  subject: string;
  /** The statement of reasons, as filed and signed. */
  reasons: string;
  /** Lowercase hex SHA-256 of the request: its id in the API and the notice. */
  requestId: string;
}

/** Why a certificate could not be read. */
export class CertificateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CertificateError";
  }
}

/** Reads the request at the start of `certificate` and computes its id. */
export async function readCertifiedRequest(certificate: Uint8Array): Promise<CertifiedRequest> {
  let at = 0;
  const take = (n: number): Uint8Array => {
    if (at + n > certificate.length) throw new CertificateError("the certificate is cut short");
    const part = certificate.subarray(at, at + n);
    at += n;
    return part;
  };
  const u8 = () => take(1)[0] ?? 0;
  const u16 = () => {
    const [high = 0, low = 0] = take(2);
    return (high << 8) | low;
  };
  const text = () => {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(take(u16()));
    } catch (error) {
      if (error instanceof CertificateError) throw error;
      throw new CertificateError("the certificate holds text that is not UTF-8");
    }
  };
  if (u8() !== VERSION) throw new CertificateError("unknown certificate version");
  const requestStart = at;
  if (u8() !== VERSION) throw new CertificateError("unknown request version");
  const action = USER_ACTIONS[u8()];
  if (action === undefined) throw new CertificateError("the certificate is not an action on an account or a meeting");
  const subject = text();
  if (action === "disclose_account_data") {
    take(1); // the fields disclosed, as bits
    text(); // the recipient
  }
  const region = u8();
  if (region === 0) take(2);
  else if (region !== 1) throw new CertificateError("bad region in the certificate");
  const reasons = text();
  const evidence = u16();
  for (let item = 0; item < evidence; item++) {
    const kind = u8();
    if (kind === 0) {
      text(); // the sender's account
      take(32 + 8 + 32); // meeting digest, time, content digest
    } else if (kind === 1 || kind === 2) {
      take(32);
    } else {
      throw new CertificateError("unknown evidence kind in the certificate");
    }
  }
  text(); // the requester
  take(8 + 8 + 32); // filed at, notice delay, nonce
  const request = certificate.subarray(requestStart, at);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", concat(REQUEST_HASH_LABEL, request)));
  return { action, subject, reasons, requestId: [...digest].map((b) => b.toString(16).padStart(2, "0")).join("") };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
