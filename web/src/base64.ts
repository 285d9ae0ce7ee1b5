/**
 * Standard base64 with padding, as the signaling messages and the REST API carry bytes
 * (`proto::signaling::Base64Bytes`). Decoding refuses anything but canonical base64.
 */

/** Encodes bytes as standard base64 with padding. */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Decodes standard base64 with padding; throws a `RangeError` on anything else. */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new RangeError("not standard base64");
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  if (toBase64(bytes) !== text) throw new RangeError("not canonical base64");
  return bytes;
}
