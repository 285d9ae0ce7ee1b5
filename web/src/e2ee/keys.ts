/**
 * Where identity keys come from and how other members' keys are checked:
 *
 * - An account's identity key lives in this browser (localStorage, per account) and is
 *   registered with the server, which logs it in the key directory. A browser without the
 *   key makes a new one and registers it: the others then see the account's key change.
 * - Another account's key is read from the key directory with its inclusion proof, checked
 *   against a checkpoint signed by the log's key, which is pinned at first use.
 * - Keys seen for an account are remembered, so a later change is shown as "key changed".
 */

import type { Api } from "../api";
import { fromBase64, toBase64 } from "../base64";
import { parseVerifier, verifyKeyDirectory, type NoteVerifier } from "../ledger/verify";
import { ciphersuite, generateIdentityKey, type IdentityKeyPair } from "./mls";

const IDENTITY_PREFIX = "conclave.identity.";
const LOG_KEY = "conclave.ledger-key";
const SEEN_PREFIX = "conclave.seen-key.";
const REGISTRATION_CONTEXT = new TextEncoder().encode("conclave identity key v1\n");

/** The part of `Storage` used here. */
export type KeyStore = Pick<Storage, "getItem" | "setItem">;

function storedPair(store: KeyStore, account: string): IdentityKeyPair | null {
  const text = store.getItem(IDENTITY_PREFIX + account);
  if (!text) return null;
  try {
    const parsed = JSON.parse(text) as { publicKey: string; signKey: string };
    return { publicKey: fromBase64(parsed.publicKey), signKey: fromBase64(parsed.signKey) };
  } catch {
    return null;
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * The account's identity key, registered in the key directory: the stored one if the directory
 * lists it, otherwise a new one, registered now.
 */
export async function accountIdentityKey(api: Api, store: KeyStore, account: string): Promise<IdentityKeyPair> {
  const stored = storedPair(store, account);
  if (stored) {
    const listed = await api.keyDirectory(account).then(
      (answer) => answer.entry,
      () => null,
    );
    // Only decides whether to register again, so the log proof is not checked here: a server
    // that lies about this browser's own entry can only make it register a new key, which the
    // others then see as a key change. The entry's body names the key in base64.
    if (listed !== null && new TextDecoder().decode(fromBase64(listed)).includes(`"public_key":"${toBase64(stored.publicKey)}"`)) return stored;
  }
  const fresh = await generateIdentityKey();
  const accountBytes = new TextEncoder().encode(`${account}\n`);
  const message = new Uint8Array(REGISTRATION_CONTEXT.length + accountBytes.length + fresh.publicKey.length);
  message.set(REGISTRATION_CONTEXT, 0);
  message.set(accountBytes, REGISTRATION_CONTEXT.length);
  message.set(fresh.publicKey, REGISTRATION_CONTEXT.length + accountBytes.length);
  const signature = await (await ciphersuite()).signature.sign(fresh.signKey, message);
  await api.registerIdentityKey({ public_key: toBase64(fresh.publicKey), signature: toBase64(signature) });
  store.setItem(IDENTITY_PREFIX + account, JSON.stringify({ publicKey: toBase64(fresh.publicKey), signKey: toBase64(fresh.signKey) }));
  return fresh;
}

/** The log's key, pinned at first use; a server that changes it is refused. */
export async function pinnedLog(api: Api, store: KeyStore): Promise<{ verifier: NoteVerifier; origin: string }> {
  const served = await api.ledgerKey();
  const pinned = store.getItem(LOG_KEY);
  const current = JSON.stringify({ origin: served.origin, verifier_key: served.verifier_key });
  if (pinned !== null && pinned !== current) {
    throw new Error("the server's transparency log key differs from the one this browser pinned");
  }
  if (pinned === null) store.setItem(LOG_KEY, current);
  return { verifier: await parseVerifier(served.verifier_key), origin: served.origin };
}

/** An account's key from the key directory, with the log's proof checked. */
export async function directoryKey(api: Api, log: Promise<{ verifier: NoteVerifier; origin: string }>, account: string): Promise<Uint8Array> {
  const answer = await api.keyDirectory(account);
  const record = await verifyKeyDirectory(answer, await log, account);
  return record.publicKey;
}

/**
 * Remembers the key seen for an account and says whether it changed since this browser last
 * saw it (trust on first use, on top of the key directory).
 */
export function keyChanged(store: KeyStore, account: string, key: Uint8Array): boolean {
  const seen = store.getItem(SEEN_PREFIX + account);
  const now = toBase64(key);
  if (seen === now) return false;
  store.setItem(SEEN_PREFIX + account, now);
  return seen !== null && !equal(fromBase64(seen), key);
}
