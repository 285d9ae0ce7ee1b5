/**
 * The web client in real Chromium against a real `conclave serve`: a host registers and
 * creates a meeting with an encrypted title, a guest opens the invite link and waits, the host
 * admits them, both see each other; lock, hand, mute, a dropped connection that resumes,
 * removal, the camera-blocked screen and the end of the meeting.
 */

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

import type { Page, WebSocketRoute } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { artifactPath, buildServer, launchBrowser, startServer, type RunningServer } from "./harness";

const TITLE = "Budget review: pelican crossing";
const DESCRIPTION = "Agenda in the usual place";
const PASSWORD = "correct horse battery staple";

let server: RunningServer;
let host: Awaited<ReturnType<typeof launchBrowser>>;
let guest: Awaited<ReturnType<typeof launchBrowser>>;
let hostPage: Page;
let guestPage: Page;
let invite = "";
/** The guest page's current signaling socket, routed through the test so it can drop it. */
let guestSocket: WebSocketRoute | null = null;

beforeAll(async () => {
  const binary = buildServer();
  server = await startServer(binary);
  [host, guest] = await Promise.all([launchBrowser("fake"), launchBrowser("fake")]);
  hostPage = await host.context.newPage();
  guestPage = await guest.context.newPage();
  await guestPage.routeWebSocket(/\/api\/v1\/ws$/, (ws) => {
    ws.connectToServer();
    guestSocket = ws;
  });
});

afterAll(async () => {
  await Promise.allSettled([host?.close(), guest?.close()]);
  await server?.stop();
});

/** Every form control and button on the page has an accessible name. */
async function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll<HTMLElement>("button, input, select, textarea, a[href], summary"))
      .filter((el) => !el.closest("[hidden]"))
      .filter((el) => {
        const aria = el.getAttribute("aria-label") ?? el.getAttribute("aria-labelledby");
        const labels = "labels" in el ? ((el as HTMLInputElement).labels?.length ?? 0) : 0;
        const text = ["BUTTON", "A", "SUMMARY"].includes(el.tagName) ? (el.textContent ?? "").trim() : "";
        return !aria && labels === 0 && !text;
      })
      .map((el) => el.outerHTML.slice(0, 120)),
  );
}

describe("serving the client", () => {
  it("serves the page with a strict policy and leaves the API alone", async () => {
    const page = await fetch(`${server.base}/m/AAAAAAAAAAAAAAAAAAAAAA`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe");
    const html = await page.text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeTruthy();
    const asset = await fetch(`${server.base}${script}`);
    expect(asset.headers.get("cache-control")).toContain("immutable");
    expect(asset.headers.get("content-type")).toContain("javascript");
    const api = await fetch(`${server.base}/api/v1/nothing`);
    expect(api.status).toBe(404);
    expect(await api.json()).toMatchObject({ error: "not_found" });
  });
});

describe("end-to-end encrypted video in this Chromium", () => {
  it("sends VP9 through the SFrame worker and decodes it after decryption", async () => {
    const page = await host.context.newPage();
    try {
      await page.goto(`${server.base}/check`);
      const result = page.locator(".check-result[data-ok]");
      await result.waitFor({ timeout: 30_000 });
      const figure = async (name: string) => (await page.locator(`[data-figure="${name}"]`).textContent()) ?? "";
      const figures = { codec: await figure("codec"), encrypted: Number(await figure("encrypted")), decrypted: Number(await figure("decrypted")), decoded: Number(await figure("decoded")) };
      await page.screenshot({ path: artifactPath("browser-check.png") });
      expect(figures.codec.toLowerCase()).toBe("video/vp9");
      expect(figures.encrypted).toBeGreaterThan(0);
      expect(figures.decrypted).toBeGreaterThan(0);
      expect(figures.decoded).toBeGreaterThan(0);
      expect(await result.getAttribute("data-ok")).toBe("true");
    } finally {
      await page.close();
    }
  });
});

describe("a meeting between a host and a guest", () => {
  it("lets the host register and create a meeting with an encrypted title", async () => {
    await hostPage.goto(`${server.base}/`);
    await hostPage.getByLabel("Username").fill("hostess");
    await hostPage.getByLabel("Password").fill(PASSWORD);
    await hostPage.getByRole("button", { name: "Create account" }).click();
    await hostPage.locator("#app").getByText("Signed in as hostess").waitFor();
    await hostPage.getByLabel("Title").fill(TITLE);
    await hostPage.getByLabel("Description").fill(DESCRIPTION);
    await hostPage.getByRole("button", { name: "Create meeting" }).click();
    invite = await hostPage.getByLabel("Invite link", { exact: true }).inputValue();
    expect(invite).toMatch(new RegExp(`^${server.base}/m/[A-Za-z0-9_-]{22}#k=[A-Za-z0-9_-]{22}$`));
    expect(await unlabelledControls(hostPage)).toEqual([]);

    await hostPage.getByRole("button", { name: "Join now" }).click();
    await hostPage.getByRole("heading", { level: 1, name: TITLE }).waitFor();
    await hostPage.locator("#app").getByText("You will join as hostess.").waitFor();
    await hostPage.getByRole("button", { name: "Join meeting" }).click();
    await hostPage.locator('[data-phase="joined"]').waitFor();
    await hostPage.getByRole("heading", { name: "Participants (1)" }).waitFor();
    // The fake camera chosen before joining plays in the host's own tile.
    await hostPage.waitForFunction(() => {
      const video = document.querySelector<HTMLVideoElement>(".tile video");
      return video !== null && !video.hidden && video.readyState >= 2 && video.videoWidth > 0;
    });
    await hostPage.getByRole("button", { name: "Turn camera off" }).click();
    await hostPage.getByRole("button", { name: "Turn camera on" }).click();
    // Honest status: nothing claims encryption before MLS is wired in.
    await expect(hostPage.locator("[data-e2ee]").getAttribute("data-e2ee")).resolves.toBe("not_encrypted");
  });

  it("lets a guest open the invite and join with the keyboard alone, then wait", async () => {
    await guestPage.goto(invite);
    await guestPage.getByRole("heading", { level: 1, name: TITLE }).waitFor();
    await guestPage.locator("#app").getByText(DESCRIPTION).waitFor();
    // The fake camera is granted: the preview plays.
    await guestPage.waitForFunction(() => {
      const video = document.querySelector<HTMLVideoElement>(".preview-video");
      return video !== null && !video.hidden && video.readyState >= 2;
    });
    expect(await unlabelledControls(guestPage)).toEqual([]);

    const nameField = guestPage.getByLabel("Your name");
    let reached = false;
    for (let i = 0; i < 30 && !reached; i++) {
      await guestPage.keyboard.press("Tab");
      reached = await nameField.evaluate((el) => el === document.activeElement);
    }
    expect(reached, "Tab reaches the name field").toBe(true);
    await guestPage.keyboard.type("Grace");
    await guestPage.keyboard.press("Enter");
    await guestPage.getByRole("heading", { name: "Waiting for a host to let you in" }).waitFor();
  });

  it("shows the host the waiting guest; admitting seats them and both see each other", async () => {
    const lobby = hostPage.locator(".lobby-list");
    await lobby.getByText("Grace").waitFor();
    await expect(lobby.locator(".badge.guest").textContent()).resolves.toBe("Guest");
    await hostPage.getByRole("button", { name: "Admit Grace" }).click();

    await guestPage.locator('[data-phase="joined"]').waitFor();
    await guestPage.getByRole("heading", { name: "Participants (2)" }).waitFor();
    await guestPage.locator(".participants").getByText("hostess").waitFor();
    await hostPage.getByRole("heading", { name: "Participants (2)" }).waitFor();
    const graceRow = hostPage.locator(".participant", { hasText: "Grace" });
    await expect(graceRow.locator(".badge.guest").textContent()).resolves.toBe("Guest");
    await guestPage.getByRole("heading", { level: 1, name: TITLE }).waitFor();
    expect(await unlabelledControls(hostPage)).toEqual([]);
    expect(await unlabelledControls(guestPage)).toEqual([]);
    await hostPage.screenshot({ path: artifactPath("meeting-host.png"), fullPage: true });
    await guestPage.screenshot({ path: artifactPath("meeting-guest.png"), fullPage: true });
  });

  it("never lets the server hold the title in plaintext", async () => {
    const meetingId = new URL(invite).pathname.split("/")[2] ?? "";
    const stored = (await (await fetch(`${server.base}/api/v1/meetings/${meetingId}`)).json()) as { encrypted_info: string };
    expect(stored.encrypted_info.length).toBeGreaterThan(20);
    expect(Buffer.from(stored.encrypted_info, "base64").toString("latin1")).not.toContain("pelican");
    const needles = [TITLE, "pelican", DESCRIPTION].map((s) => Buffer.from(s, "utf8"));
    const files = readdirSync(server.dataDir, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const bytes = readFileSync(join(file.parentPath, file.name));
      for (const needle of needles) expect(bytes.includes(needle), `${file.name} holds "${needle}"`).toBe(false);
    }
    // Nor the key: it stayed in the fragment.
    const key = new URL(invite).hash.slice(3);
    for (const file of files) expect(readFileSync(join(file.parentPath, file.name)).includes(Buffer.from(key))).toBe(false);
  });

  it("carries a raised hand, the lock and a host mute request", async () => {
    await guestPage.getByRole("button", { name: "Raise hand" }).click();
    await hostPage.locator(".participant", { hasText: "Grace" }).locator(".badge.hand").waitFor();
    await guestPage.getByRole("button", { name: "Lower hand" }).click();
    await hostPage.locator(".participant", { hasText: "Grace" }).locator(".badge.hand").waitFor({ state: "detached" });

    await hostPage.getByRole("button", { name: "Lock meeting" }).click();
    await guestPage.locator("#app").getByText("Locked", { exact: true }).waitFor();
    const late = await guest.context.newPage();
    await late.goto(invite);
    await late.getByLabel("Your name").fill("Latecomer");
    await late.getByRole("button", { name: "Join meeting" }).click();
    await late.getByRole("heading", { name: "This meeting is locked" }).waitFor();
    await late.screenshot({ path: artifactPath("locked.png") });
    await late.close();
    await hostPage.getByRole("button", { name: "Unlock meeting" }).click();
    await guestPage.locator("#app").getByText("Locked", { exact: true }).waitFor({ state: "hidden" });

    // Mute goes out as the `mute` message; the server marks Grace's audio as host-muted in the
    // roster, and `lift_mute` undoes it.
    await hostPage.getByRole("button", { name: "Mute Grace" }).click();
    await hostPage.getByRole("button", { name: "Allow Grace's audio" }).click();
    await hostPage.getByRole("button", { name: "Mute Grace" }).waitFor();
  });

  it("resumes the guest's seat after a dropped connection", async () => {
    const dropped = guestSocket;
    expect(dropped).not.toBeNull();
    await dropped?.close({ code: 4000, reason: "test drops the connection" });
    await guestPage.locator("#app").getByText("Reconnecting… your seat is held for 30 seconds.").waitFor();
    await guestPage.locator("#app").getByText("Reconnecting…").waitFor({ state: "hidden", timeout: 20_000 });
    expect(guestSocket).not.toBe(dropped);
    await guestPage.getByRole("heading", { name: "Participants (2)" }).waitFor();
    await hostPage.getByRole("heading", { name: "Participants (2)" }).waitFor();
    await hostPage.locator(".participant", { hasText: "Grace" }).locator(".badge.away").waitFor({ state: "detached" });
  });

  it("lets the host remove the guest, who sees the removed screen", async () => {
    hostPage.once("dialog", (dialog) => void dialog.accept());
    await hostPage.getByRole("button", { name: "Remove Grace" }).click();
    await guestPage.getByRole("heading", { name: "You were removed from the meeting" }).waitFor();
    await guestPage.screenshot({ path: artifactPath("removed.png") });
    await hostPage.getByRole("heading", { name: "Participants (1)" }).waitFor();
  });

  it("shows the camera-blocked screen when the camera is refused, and still allows joining", async () => {
    const blocked = await launchBrowser("denied");
    try {
      const page = await blocked.context.newPage();
      await page.goto(invite);
      await page.getByRole("heading", { name: "Camera and microphone are blocked" }).waitFor();
      await page.screenshot({ path: artifactPath("camera-blocked.png") });
      await page.getByLabel("Your name").fill("Camera Shy");
      await page.getByRole("button", { name: "Join meeting" }).click();
      await page.getByRole("heading", { name: "Waiting for a host to let you in" }).waitFor();
      await hostPage.locator(".lobby-list").getByText("Camera Shy").waitFor();
      await hostPage.getByRole("button", { name: "Deny Camera Shy" }).click();
      await page.getByRole("heading", { name: "You were not let in" }).waitFor();
    } finally {
      await blocked.close();
    }
  });

  it("ends the meeting for everyone", async () => {
    hostPage.once("dialog", (dialog) => void dialog.accept());
    await hostPage.getByRole("button", { name: "End meeting for all" }).click();
    await hostPage.getByRole("heading", { name: "The meeting has ended" }).waitFor();
    await guestPage.goto(invite);
    await guestPage.getByRole("heading", { name: "The meeting has ended" }).waitFor();
  });
});
