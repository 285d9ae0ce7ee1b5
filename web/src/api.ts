/**
 * The REST API under `/api/v1`, typed with the declarations generated from `crates/proto`.
 */

import type { KeyDirectoryProof, LedgerEntries, LedgerEntry, LedgerKey } from "./ledger/verify";
import type {
  Account,
  ChatReportOpening,
  ChatReportVerdict,
  ErrorBody,
  IdentityKeyRecord,
  IdentityKeyRegistration,
  Meeting,
  MeetingUpdate,
  NewAccount,
  NewMeeting,
  OversightNotice,
  Session,
} from "./proto/wire";

/** An error answer of the API, or a failure to reach it. */
export class ApiError extends Error {
  constructor(
    /** HTTP status, or 0 when the server could not be reached. */
    readonly status: number,
    /** The API's stable code (`invalid_credentials`, ...), or `network`. */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** A client of one server's API; `token` signs requests in when set. */
export class Api {
  constructor(
    private readonly base = "",
    public token: string | null = null,
  ) {}

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.token) headers["authorization"] = `Bearer ${this.token}`;
    let response: Response;
    try {
      response = await fetch(`${this.base}/api/v1${path}`, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (e) {
      throw new ApiError(0, "network", `the server could not be reached (${e instanceof Error ? e.message : String(e)})`);
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // Not JSON: reported below with the status.
    }
    if (!response.ok) {
      const error = parsed as Partial<ErrorBody> | null;
      throw new ApiError(
        response.status,
        typeof error?.error === "string" ? error.error : "http_error",
        typeof error?.message === "string" ? error.message : `the server answered ${response.status}`,
      );
    }
    return parsed as T;
  }

  /** `POST /accounts`; `region` is the holder's country (ISO 3166-1 alpha-2), if given. */
  register(username: string, password: string, region?: string): Promise<Account> {
    const body: NewAccount = { username, password, region: region || null };
    return this.request("POST", "/accounts", body);
  }

  /** `POST /sessions`: log in. */
  login(username: string, password: string): Promise<Session> {
    return this.request("POST", "/sessions", { username, password });
  }

  /** `DELETE /sessions/current`: log out. */
  logout(): Promise<void> {
    return this.request("DELETE", "/sessions/current");
  }

  /** `GET /accounts/me`. */
  me(): Promise<Account> {
    return this.request("GET", "/accounts/me");
  }

  /** `POST /meetings`. */
  createMeeting(settings: NewMeeting): Promise<Meeting> {
    return this.request("POST", "/meetings", settings);
  }

  /** `GET /meetings/{id}`. */
  meeting(id: string): Promise<Meeting> {
    return this.request("GET", `/meetings/${encodeURIComponent(id)}`);
  }

  /** `PATCH /meetings/{id}` (host only). */
  updateMeeting(id: string, update: MeetingUpdate): Promise<Meeting> {
    return this.request("PATCH", `/meetings/${encodeURIComponent(id)}`, update);
  }

  /** `PUT /accounts/me/identity-key`: registers (or changes) the account's identity key. */
  registerIdentityKey(registration: IdentityKeyRegistration): Promise<IdentityKeyRecord> {
    return this.request("PUT", "/accounts/me/identity-key", registration);
  }

  /** `GET /ledger/entries`: the one entry at `index`. */
  async ledgerEntry(index: number): Promise<LedgerEntry> {
    const page: LedgerEntries = await this.request("GET", `/ledger/entries?start=${index}&end=${index + 1}`);
    const entry = page.entries[0];
    if (entry === undefined) throw new ApiError(404, "not_found", `the log has no entry ${index}`);
    return entry;
  }

  /** `GET /notices`: oversight notices about the caller's account and the meetings it hosts. */
  notices(): Promise<OversightNotice[]> {
    return this.request("GET", "/notices");
  }

  /** `POST /notices/{request}/appeal`: the one appeal against a notice's action. */
  appeal(request: string, statement: string): Promise<OversightNotice> {
    return this.request("POST", `/notices/${encodeURIComponent(request)}/appeal`, { statement });
  }

  /** `GET /ledger/key`: the log's origin and verifier key. */
  ledgerKey(): Promise<LedgerKey> {
    return this.request("GET", "/ledger/key");
  }

  /** `GET /ledger/key-directory/{id}`: an account's key entry with its proof. */
  keyDirectory(accountId: string): Promise<KeyDirectoryProof> {
    return this.request("GET", `/ledger/key-directory/${encodeURIComponent(accountId)}`);
  }

  /** `POST /chat/reports/verify`: checks a reported chat message's opening. */
  verifyReport(opening: ChatReportOpening): Promise<ChatReportVerdict> {
    return this.request("POST", "/chat/reports/verify", opening);
  }
}
