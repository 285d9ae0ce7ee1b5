/** The screens that say why this browser is not (or no longer) in a meeting. */

import type { AppContext } from "../app";
import type { EndKind } from "../meeting/state";
import { button, h } from "./dom";

interface EndText {
  title: string;
  body: string;
  /** Whether asking to join again can work. */
  rejoin: boolean;
}

/** The screens beyond the end kinds of the meeting state. */
export type ScreenKind = EndKind | "error" | "checking_order" | "ended_without_order";

const TEXTS: Record<ScreenKind, EndText> = {
  denied: { title: "You were not let in", body: "A host turned down your request to join.", rejoin: false },
  removed: { title: "You were removed from the meeting", body: "A host removed you. You can ask to join again; a host would have to let you in.", rejoin: true },
  ended: { title: "The meeting has ended", body: "A host ended the meeting for everyone.", rejoin: false },
  checking_order: { title: "Checking the order that ended the meeting…", body: "The server says an oversight order ended this meeting. This browser checks the order against the public transparency log before believing it.", rejoin: false },
  ended_by_order: {
    title: "The meeting was ended by an oversight order",
    body: "Oversight staff ended this meeting under an order that this browser found in the public transparency log. The statement of reasons below is the one recorded there.",
    rejoin: false,
  },
  ended_without_order: {
    title: "The server cut the meeting off without a valid order",
    body: "The server claimed an oversight order, but what it sent does not check out against the public transparency log. Nothing shows that the people who may end meetings decided this: treat it as the server's operator acting alone.",
    rejoin: true,
  },
  locked: { title: "This meeting is locked", body: "A host locked the meeting: nobody new can ask to join until it is unlocked.", rejoin: true },
  guests_not_allowed: { title: "Guests cannot join this meeting", body: "This meeting is for people with an account on this server. Sign in to join.", rejoin: false },
  not_found: { title: "No such meeting", body: "This server knows no meeting with that link. Check that you have the whole link.", rejoin: false },
  unauthenticated: { title: "Your sign-in was not accepted", body: "The server did not accept your session or your name. Sign in again, or join as a guest.", rejoin: true },
  resume_failed: { title: "Your seat was given up", body: "The connection was down for more than 30 seconds, so the meeting let your seat go. Ask to join again.", rejoin: true },
  connection_lost: { title: "Connection lost", body: "The connection to the server dropped and could not be restored.", rejoin: true },
  shutting_down: { title: "The server is shutting down", body: "The server that runs this meeting is restarting or stopping. Try again in a moment.", rejoin: true },
  left: { title: "You left the meeting", body: "You can join again while the meeting goes on.", rejoin: true },
  error: { title: "Cannot open the meeting", body: "Something went wrong while opening the meeting.", rejoin: true },
};

/** The screen for an end, with the server's reason if it gave one. */
export function endScreen(ctx: AppContext, kind: ScreenKind, reason: string | null, rejoin: (() => void) | null, details: HTMLElement | null = null): HTMLElement {
  const text = TEXTS[kind];
  return h(
    "section",
    { class: `card end-screen end-${kind}`, "aria-labelledby": "end-heading", "data-end": kind },
    h("h1", { id: "end-heading" }, text.title),
    h("p", {}, text.body),
    reason ? h("p", { class: "reason" }, "Reason given: ", h("q", {}, reason)) : null,
    details,
    h("div", { class: "actions" },
      text.rejoin && rejoin ? button("Join again", rejoin, { class: "primary" }) : null,
      button("Go to the start page", () => ctx.navigate("/"), { class: "secondary" })),
  );
}
