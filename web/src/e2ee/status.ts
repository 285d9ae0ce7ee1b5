/**
 * What the E2EE status area and the participant badges show (`ui/meeting-view.ts`): a status
 * claims protection only once this browser holds the MLS group's keys.
 */

/** The meeting's end-to-end encryption, as this browser knows it. */
export type E2eeStatus =
  /** No MLS group: media and messages are not end-to-end encrypted. */
  | { state: "not_encrypted"; reason: string }
  /** Joining or updating the MLS group. */
  | { state: "establishing" }
  /** In the MLS group at `epoch`; `safetyCode` is from the epoch authenticator. */
  | { state: "encrypted"; epoch: bigint; safetyCode: string };

/** A participant's key, as this browser's MLS state and the key directory say. */
export type Verification =
  /** Nothing known yet (not in the MLS group). */
  | "unknown"
  /** Their credential matches the account's published identity key. */
  | "verified"
  /** Their identity key differs from the one seen before. */
  | "key_changed"
  /** An ephemeral guest key: nobody vouches for it. */
  | "guest_key";

/** The short label of a status. */
export function statusLabel(status: E2eeStatus): string {
  switch (status.state) {
    case "not_encrypted":
      return "Not end-to-end encrypted";
    case "establishing":
      return "Setting up encryption…";
    case "encrypted":
      return "End-to-end encrypted";
  }
}

/** The longer explanation shown in the status details. */
export function statusDetail(status: E2eeStatus): string {
  switch (status.state) {
    case "not_encrypted":
      return status.reason;
    case "establishing":
      return "Keys are being agreed with the other participants; media is held back until they are.";
    case "encrypted":
      return `Group epoch ${status.epoch}. Compare the safety code with the others out of band.`;
  }
}
