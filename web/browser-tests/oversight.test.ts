/**
 * Oversight in real Chromium against a real `conclave serve` with a staff set: a host signs up
 * in the browser, two staff members from two jurisdictions end one of her meetings with the
 * `conclave admin` CLI, and her start page shows the notice verified against the public log
 * (the server's request id, entry and reasons checked in the browser); she appeals once, and
 * the server records the appeal.
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { artifactPath, buildServer, launchBrowser, startServer, type RunningServer } from "./harness";

const PASSWORD = "correct horse battery staple";
const REASONS = "Order 4711 of the Landgericht Berlin: the meeting was used to coordinate fraud.";
const STAFF: [string, string][] = [
  ["alice", "DE"],
  ["bob", "DE"],
  ["carol", "FR"],
];
const ACTIONS = ["end_meeting", "suspend_account", "reinstate_account", "disclose_account_data", "add_staff", "remove_staff", "change_policy"];

let binary: string;
let keys: string;
let server: RunningServer;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let page: Page;

/** Runs `conclave admin …` as `staff`; returns its standard output. */
function admin(staff: string, args: string[]): string {
  return execFileSync(binary, ["admin", ...args, "--key", join(keys, `${staff}.key`), `--staff-id=${staff}`, "--server", server.base], {
    encoding: "utf8",
    timeout: 60_000,
  }).trim();
}

async function api<T>(method: string, path: string, body?: unknown, token?: string): Promise<T> {
  const response = await fetch(`${server.base}/api/v1${path}`, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? null : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

beforeAll(async () => {
  binary = buildServer();
  keys = mkdtempSync(join(tmpdir(), "conclave-staff-"));
  let toml = "[oversight]\ndefault_region = \"DE\"\n\n";
  for (const [id, country] of STAFF) {
    const publicKey = execFileSync(binary, ["admin", "keygen", "--out", join(keys, `${id}.key`)], { encoding: "utf8" }).trim();
    toml += `[[oversight.staff]]\nid = "${id}"\npublic_key = "${publicKey}"\njurisdiction = "${country}"\nroles = ["requester", "approver", "reviewer"]\n\n`;
  }
  for (const action of ACTIONS) {
    toml += `[oversight.policy.${action}]\napprovals = 2\ndistinct_jurisdictions = 2\nexpiry_secs = 3600\n\n`;
  }
  const config = join(keys, "conclave.toml");
  writeFileSync(config, toml);
  server = await startServer(binary, ["--config", config]);
  browser = await launchBrowser("fake");
  page = await browser.context.newPage();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (keys) rmSync(keys, { recursive: true, force: true });
});

describe("oversight notices in the browser", () => {
  it("shows a quorum's order to its subject, verified against the log, and takes one appeal", async () => {
    await page.goto(server.base);
    await page.getByLabel("Username").fill("hostess");
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByLabel("Country (new accounts, optional)").fill("de");
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByRole("button", { name: "Create meeting" }).waitFor();
    // No notice yet: the card stays hidden.
    expect(await page.getByRole("heading", { name: "Oversight notices" }).isVisible()).toBe(false);

    const token = await page.evaluate(() => localStorage.getItem("conclave.session") ?? "");
    expect(token).not.toBe("");
    const account = await api<{ region: string | null }>("GET", "/accounts/me", undefined, token);
    expect(account.region).toBe("DE");
    const meeting = await api<{ id: string }>("POST", "/meetings", {}, token);

    // Alice files; an approver from each jurisdiction makes the quorum.
    const request = admin("alice", ["request", "end_meeting", `--subject=${meeting.id}`, "--region", "DE", "--reason", REASONS]);
    expect(request).toMatch(/^[0-9a-f]{64}$/);
    admin("bob", ["approve", request]);
    admin("carol", ["approve", request]);

    await page.reload();
    const item = page.locator(`li.notice-item[data-request="${request}"]`);
    await item.waitFor({ timeout: 30_000 });
    await expect.poll(() => item.locator(".proof").textContent(), { timeout: 30_000 }).toMatch(/^Verified\. This action is entry \d+ of the public transparency log/);
    expect(await item.getByRole("heading").textContent()).toBe("A meeting you host was ended by an oversight order");
    expect(await item.locator(".reasons").first().textContent()).toBe(REASONS);
    expect(await item.locator(".reasons-label").textContent()).toContain("as recorded in the log");
    await page.screenshot({ path: artifactPath("oversight-notice.png"), fullPage: true });

    await item.getByLabel("Appeal (once per action)").fill("The meeting was a neighbourhood association's annual meeting.");
    await item.getByRole("button", { name: "Send appeal" }).click();
    await expect.poll(() => item.locator(".appeal-state").textContent(), { timeout: 30_000 }).toContain("with reviewers who took no part");
    const notices = await api<{ request: string; appeal: { state: string } | null }[]>("GET", "/notices", undefined, token);
    expect(notices.map((n) => [n.request, n.appeal?.state])).toEqual([[request, "pending"]]);

    // The same page after a reload still shows the appeal, not the form.
    await page.reload();
    await expect.poll(() => page.locator(`li.notice-item[data-request="${request}"] .appeal-state`).textContent(), { timeout: 30_000 }).toContain("with reviewers");
    expect(await page.getByRole("button", { name: "Send appeal" }).count()).toBe(0);
  });
});
