/**
 * The web client in real Chromium against a real `conclave serve`: a host registers and
 * creates a meeting with an encrypted title, a guest opens the invite link and waits, the host
 * admits them; both join one MLS group, show one safety code, decode each other's SFrame-
 * encrypted video and audio, and chat (franked, reported); a host mute stops the guest's audio;
 * lock, hand, a dropped connection that resumes, removal, the camera-blocked screen and the end
 * of the meeting.
 */

import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

import type { Page, WebSocketRoute } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { artifactPath, buildServer, inboundStats, launchBrowser, pollUntil, remoteAudioPeaks, REPO_ROOT, startServer, type InboundStats, type RunningServer } from "./harness";

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
/** While true, the guest page's attempts to reconnect fail. */
let holdGuestOffline = false;

beforeAll(async () => {
  const binary = buildServer();
  server = await startServer(binary);
  [host, guest] = await Promise.all([launchBrowser("fake"), launchBrowser("fake")]);
  hostPage = await host.context.newPage();
  guestPage = await guest.context.newPage();
  await guestPage.routeWebSocket(/\/api\/v1\/ws$/, (ws) => {
    if (holdGuestOffline) {
      ws.close({ code: 1011, reason: "test keeps the guest offline" });
      return;
    }
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

/**
 * Whether every remote video track decoded frames and every remote audio track had energy.
 * A track is its `mid`; when its sender's SSRC changed, the stream with the most packets is it.
 */
function mediaFlows(stats: InboundStats[]): boolean {
  const byMid = new Map<string, InboundStats>();
  for (const s of stats) {
    const known = byMid.get(s.mid);
    if (s.packetsReceived > 0 && (!known || s.packetsReceived > known.packetsReceived)) byMid.set(s.mid, s);
  }
  const tracks = [...byMid.values()];
  const video = tracks.filter((s) => s.kind === "video");
  const audio = tracks.filter((s) => s.kind === "audio");
  return video.length > 0 && audio.length > 0 && video.every((s) => s.framesDecoded > 0) && audio.every((s) => s.totalAudioEnergy > 0);
}

/** The safety code the page shows in its dialog. */
async function safetyCode(page: Page): Promise<string> {
  await page.getByRole("button", { name: "Show safety code" }).click();
  const code = (await page.locator("dialog [data-safety-code]").textContent()) ?? "";
  await page.locator("dialog").getByRole("button", { name: "Close" }).click();
  return code;
}

async function sendChat(page: Page, text: string): Promise<void> {
  await page.getByLabel("Message", { exact: true }).fill(text);
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await page.locator(".chat-message", { hasText: text }).waitFor();
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
    // Alone in the meeting, the host creates the MLS group: epoch 0 is encrypted.
    await hostPage.locator('[data-e2ee="encrypted"]').waitFor({ timeout: 30_000 });
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
  });

  it("puts both in one encrypted group with one safety code, the roster from MLS", async () => {
    await guestPage.locator('[data-e2ee="encrypted"]').waitFor({ timeout: 30_000 });
    for (const page of [hostPage, guestPage]) {
      await page.getByRole("heading", { name: "In the encrypted group (2)" }).waitFor({ timeout: 30_000 });
    }
    const hostCode = await safetyCode(hostPage);
    const guestCode = await safetyCode(guestPage);
    expect(hostCode).toMatch(/^\d{5}( \d{5}){5}$/);
    expect(guestCode).toBe(hostCode);
    // Badges come from the MLS credentials: the host's key is in the key directory, Grace is a guest.
    await guestPage.locator(".mls-member", { hasText: "hostess" }).locator(".badge.verified").waitFor();
    await hostPage.locator(".mls-member", { hasText: "Grace" }).locator(".badge.guest").waitFor();
    expect(await unlabelledControls(hostPage)).toEqual([]);
  });

  it("decodes each other's encrypted video and hears each other's audio", async () => {
    for (const page of [hostPage, guestPage]) {
      const stats = await pollUntil(() => inboundStats(page), (s) => mediaFlows(s), 45_000);
      expect(stats.filter((s) => s.kind === "video").length, JSON.stringify(stats)).toBeGreaterThanOrEqual(1);
      expect(mediaFlows(stats), JSON.stringify(stats)).toBe(true);
    }
    await guestPage.waitForFunction(() => Array.from(document.querySelectorAll<HTMLVideoElement>(".tile video")).filter((v) => v.videoWidth > 0).length >= 2);
    await hostPage.waitForFunction(() => Array.from(document.querySelectorAll<HTMLVideoElement>(".tile video")).filter((v) => v.videoWidth > 0).length >= 2);
    await hostPage.screenshot({ path: artifactPath("meeting-host.png"), fullPage: true });
    await guestPage.screenshot({ path: artifactPath("meeting-guest.png"), fullPage: true });
  });

  it("carries franked chat both ways, and a report of it verifies", async () => {
    await sendChat(hostPage, "Hello from the host");
    await guestPage.locator(".chat-message", { hasText: "Hello from the host" }).waitFor();
    await sendChat(guestPage, "Hello back from Grace");
    const received = hostPage.locator(".chat-message", { hasText: "Hello back from Grace" });
    await received.waitFor();
    await expect(received.locator(".sender").textContent()).resolves.toBe("Grace");
    await received.getByText("⋯").click();
    await received.getByRole("button", { name: "Report the message from Grace" }).click();
    await received.locator('.report-result[data-verified="true"]').waitFor();
    await expect(received.locator(".report-result").textContent()).resolves.toContain("guest:");
    expect(await unlabelledControls(hostPage)).toEqual([]);
    expect(await unlabelledControls(guestPage)).toEqual([]);
    await hostPage.screenshot({ path: artifactPath("meeting-chat-host.png"), fullPage: true });
  });

  it("admits the native bot from the lobby: one encrypted group of three with one safety code and chat both ways", async () => {
    // `conclave bot` (Rust, openmls) joins the group the browsers (ts-mls) keep: the host's
    // browser commits its Add, it joins from that Welcome, and prints its safety code.
    const binary = process.env["CONCLAVE_BIN"] ?? join(process.env["CARGO_TARGET_DIR"] ?? join(REPO_ROOT, "target"), "debug", "conclave");
    const meetingId = new URL(invite).pathname.split("/")[2] ?? "";
    const bot = spawn(binary, ["bot", "--server", server.base, "--meeting", meetingId, "--name", "Robo", "--duration", "20", "--expect-peers", "2", "--print-safety-code", "--chat", "Hello from Robo", "--video-file", join(REPO_ROOT, "crates/client/tests/fixtures/clip-320x180.ivf"), "--audio-file", join(REPO_ROOT, "crates/client/tests/fixtures/tone-440hz.opus")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    bot.stdout.on("data", (d: Buffer) => (output += d.toString()));
    bot.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => bot.once("exit", resolve));
    await hostPage.getByRole("button", { name: "Admit Robo" }).click({ timeout: 30_000 });
    for (const page of [hostPage, guestPage]) await page.getByRole("heading", { name: "In the encrypted group (3)" }).waitFor({ timeout: 30_000 });
    const codes = [await safetyCode(hostPage), await safetyCode(guestPage)];
    // Chat between openmls and ts-mls, franked: the bot's message reaches both browsers, and
    // the host's reaches the bot (checked in its printed report below).
    for (const page of [hostPage, guestPage]) await page.locator(".chat-message", { hasText: "Hello from Robo" }).waitFor({ timeout: 30_000 });
    await sendChat(hostPage, "Hello Robo, from the host");
    // The bot sends a real VP9 clip and a real Opus tone, SFrame-encrypted under keys from
    // openmls: both browsers decrypt, decode and play them, as they do each other's media.
    for (const page of [hostPage, guestPage]) {
      const decoded = (s: InboundStats[]) => s.filter((x) => x.kind === "video" && x.framesDecoded > 0).length;
      const heard = (s: InboundStats[]) => s.filter((x) => x.kind === "audio" && x.totalAudioEnergy > 0).length;
      const stats = await pollUntil(() => inboundStats(page), (s) => decoded(s) >= 2 && heard(s) >= 2, 20_000);
      expect(decoded(stats), JSON.stringify(stats)).toBeGreaterThanOrEqual(2);
      expect(heard(stats), JSON.stringify(stats)).toBeGreaterThanOrEqual(2);
      // Energy alone would not tell a decoded tone from bytes decoded as noise: the bot's
      // track must peak at its 440 Hz (one analyser bin is about 12 Hz at 48 kHz).
      const peaks = await remoteAudioPeaks(page, 1500);
      console.log(`remote audio peaks: ${JSON.stringify(peaks)}`);
      expect(peaks.some((hz) => hz !== null && Math.abs(hz - 440) < 24), JSON.stringify(peaks)).toBe(true);
    }
    // The bot exits 0 only if both browsers' media decrypted (real Opus and VP9 cannot be
    // checked byte for byte like its synthetic frames, only that they decrypt and arrive).
    const status = await exited;
    expect(status, output).toBe(0);
    const botCode = /(\d{5}(?: \d{5}){5})/.exec(output)?.[1];
    expect(botCode, output).toBe(codes[0]);
    expect(codes[1]).toBe(codes[0]);
    expect(output).toMatch(/chat from .*"Hello Robo, from the host"/);
    for (const page of [hostPage, guestPage]) await page.getByRole("heading", { name: "In the encrypted group (2)" }).waitFor({ timeout: 30_000 });
  });

  it("stops the guest's audio at the host while the host mutes it", async () => {
    const audioPackets = async () => (await inboundStats(hostPage)).filter((s) => s.kind === "audio").reduce((n, s) => n + s.packetsReceived, 0);
    const before = await audioPackets();
    await new Promise((r) => setTimeout(r, 500));
    expect(await audioPackets()).toBeGreaterThan(before);
    await hostPage.getByRole("button", { name: "Mute Grace" }).click();
    await hostPage.getByRole("button", { name: "Allow Grace's audio" }).waitFor();
    await guestPage.locator(".participant", { hasText: "Grace" }).locator(".badge.muted").waitFor();
    // Packets in flight when the mute took effect may still arrive.
    await new Promise((r) => setTimeout(r, 1000));
    const muted = await audioPackets();
    await new Promise((r) => setTimeout(r, 2000));
    expect(await audioPackets()).toBe(muted);
    await hostPage.getByRole("button", { name: "Allow Grace's audio" }).click();
    await hostPage.getByRole("button", { name: "Mute Grace" }).waitFor();
    const lifted = await audioPackets();
    await pollUntil(audioPackets, (n) => n > lifted, 10_000);
    expect(await audioPackets()).toBeGreaterThan(lifted);
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

  it("replays the group's messages the guest missed while away", async () => {
    holdGuestOffline = true;
    await guestSocket?.close({ code: 4000, reason: "test drops the connection" });
    await hostPage.locator(".participant", { hasText: "Grace" }).locator(".badge.away").waitFor();
    // An MLS application message while the guest is away: the server holds it for the seat.
    await sendChat(hostPage, "Sent while you were away");
    await hostPage.locator(".chat-message", { hasText: "Sent while you were away" }).waitFor();
    holdGuestOffline = false;
    await guestPage.locator("#app").getByText("Reconnecting…").waitFor({ state: "hidden", timeout: 20_000 });
    await guestPage.locator(".chat-message", { hasText: "Sent while you were away" }).waitFor({ timeout: 10_000 });
    expect(await safetyCode(guestPage)).toBe(await safetyCode(hostPage));
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

describe("an end that claims an order it cannot prove", () => {
  it("shows the ended-without-order screen, not the order's", async () => {
    await hostPage.goto(`${server.base}/`);
    await hostPage.getByLabel("Arrivals wait in the lobby until a host lets them in").uncheck();
    await hostPage.getByRole("button", { name: "Create meeting" }).click();
    const link = await hostPage.getByLabel("Invite link", { exact: true }).inputValue();
    await hostPage.getByRole("button", { name: "Join now" }).click();
    await hostPage.getByRole("button", { name: "Join meeting" }).click();
    await hostPage.locator('[data-e2ee="encrypted"]').waitFor({ timeout: 30_000 });

    const page = await guest.context.newPage();
    let socket: WebSocketRoute | null = null;
    await page.routeWebSocket(/\/api\/v1\/ws$/, (ws) => {
      ws.connectToServer();
      socket = ws;
    });
    await page.goto(link);
    await page.getByLabel("Your name").fill("Ada");
    await page.getByRole("button", { name: "Join meeting" }).click();
    await page.locator('[data-phase="joined"]').waitFor();
    // A server (or anyone between) claims an order with a certificate that is in no log.
    const forged = { type: "meeting_ended", reason: "order", order: { certificate: "AQEAAAFtAAA=", ledger_index: 0, inclusion_proof: [], checkpoint: "nothing\n" } };
    expect(socket).not.toBeNull();
    socket!.send(JSON.stringify(forged));
    await page.getByRole("heading", { name: "The server cut the meeting off without a valid order" }).waitFor();
    await expect(page.locator('[data-order="refused"]').textContent()).resolves.toContain("Why the order was refused");
    await page.screenshot({ path: artifactPath("ended-without-order.png") });
    await page.close();
  });
});
