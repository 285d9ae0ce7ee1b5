/**
 * The safety code, exactly as `crates/e2ee/src/safety_code.rs` derives it from the MLS epoch
 * authenticator (RFC 9420 section 8.7):
 *
 * ```text
 * digest = SHA-512("conclave safety code v1" || epoch_authenticator)
 * group i (i = 0..6) = big-endian integer of digest[5i .. 5i+5] mod 100000
 * code = the six groups, each written with 5 digits (zero-padded), separated by spaces
 * ```
 */

/** The shortest epoch authenticator accepted (MLS gives `KDF.Nh` bytes, 32 for 0x0001). */
export const MIN_AUTHENTICATOR_LEN = 16;
/** The longest epoch authenticator accepted (`KDF.Nh` of SHA-512). */
export const MAX_AUTHENTICATOR_LEN = 64;

const LABEL = new TextEncoder().encode("conclave safety code v1");
const GROUPS = 6;
const GROUP_BYTES = 5;

/** The 30-digit code of the epoch with this authenticator: `"01234 56789 ..."`. */
export async function safetyCode(authenticator: Uint8Array): Promise<string> {
  if (authenticator.length < MIN_AUTHENTICATOR_LEN || authenticator.length > MAX_AUTHENTICATOR_LEN) {
    throw new RangeError(
      `epoch authenticator of ${authenticator.length} bytes is outside ${MIN_AUTHENTICATOR_LEN}..=${MAX_AUTHENTICATOR_LEN}`,
    );
  }
  const input = new Uint8Array(LABEL.length + authenticator.length);
  input.set(LABEL, 0);
  input.set(authenticator, LABEL.length);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-512", input));
  const groups: string[] = [];
  for (let i = 0; i < GROUPS; i++) {
    // 40 bits fit a double exactly (53-bit mantissa).
    let value = 0;
    for (const byte of digest.subarray(GROUP_BYTES * i, GROUP_BYTES * (i + 1))) value = value * 256 + byte;
    groups.push(String(value % 100_000).padStart(5, "0"));
  }
  return groups.join(" ");
}
