/**
 * The start page: create a meeting (signed in) and join one by its link.
 */

import type { AppContext } from "../app";
import { encryptInfo, inviteLink, InviteError, MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS, meetingPath, newInfoKey, parseInvite } from "../invite";
import { accountForm } from "./account-form";
import { announce, button, field, h, replace } from "./dom";
import { noticesSection } from "./notices";

export function renderHome(ctx: AppContext, container: HTMLElement): () => void {
  const render = () => {
    replace(
      container,
      h("header", { class: "brand" }, h("h1", {}, "Conclave"), h("p", { class: "tagline" }, "Video meetings the people who run the server cannot watch.")),
      ctx.account ? noticesSection(ctx) : null,
      h("div", { class: "home-grid" }, createSection(ctx, render), joinSection(ctx)),
      h("p", { class: "hint" }, h("a", { href: "/check", onclick: (e) => (e.preventDefault(), ctx.navigate("/check")) }, "Check this browser"), " for end-to-end encrypted video."),
    );
  };
  render();
  ctx.screen("Start");
  return () => {};
}

function createSection(ctx: AppContext, rerender: () => void): HTMLElement {
  const section = h("section", { class: "card", "aria-labelledby": "create-heading" }, h("h2", { id: "create-heading" }, "Start a meeting"));
  const account = ctx.account;
  if (!account) {
    section.append(
      h("p", {}, "Sign in to host a meeting. Guests can join without an account."),
      accountForm(ctx, rerender),
    );
    return section;
  }
  const title = h("input", { name: "title", maxlength: MAX_TITLE_CHARS, autocomplete: "off" });
  const description = h("textarea", { name: "description", maxlength: MAX_DESCRIPTION_CHARS, rows: 3 });
  const lobby = h("input", { type: "checkbox", name: "lobby", checked: true });
  const guests = h("input", { type: "checkbox", name: "guests", checked: true });
  const passcode = h("input", { name: "passcode", type: "password", autocomplete: "off", maxlength: 128 });
  const error = h("p", { class: "error", role: "alert" });
  const result = h("div", { class: "invite-result" });
  const submit = h("button", { type: "submit" }, "Create meeting");

  const create = async () => {
    error.textContent = "";
    submit.disabled = true;
    try {
      const key = newInfoKey();
      const info = title.value.trim() || description.value.trim()
        ? await encryptInfo({ title: title.value.trim(), description: description.value.trim() }, key)
        : null;
      const meeting = await ctx.api.createMeeting({
        lobby: lobby.checked,
        guests_allowed: guests.checked,
        ...(passcode.value ? { passcode: passcode.value } : {}),
        ...(info ? { encrypted_info: info } : {}),
      });
      const link = inviteLink(location.origin, meeting.id, key);
      const linkInput = h("input", { readonly: true, value: link, class: "invite-link", "aria-describedby": "invite-hint" });
      replace(
        result,
        h("h3", {}, "Meeting created"),
        field("Invite link", linkInput),
        h("p", { id: "invite-hint", class: "hint" }, "The part after # is the key to the title; it never reaches the server. Share the whole link."),
        h("div", { class: "actions" },
          button("Copy link", () => {
            void navigator.clipboard?.writeText(link).then(() => announce("Invite link copied"));
            linkInput.select();
          }, { class: "secondary" }),
          button("Join now", () => ctx.navigate(`${meetingPath(meeting.id)}#k=${key}`))),
      );
      announce("Meeting created. The invite link is ready.");
      linkInput.focus();
      linkInput.select();
    } catch (e) {
      error.textContent = e instanceof Error ? e.message : String(e);
    } finally {
      submit.disabled = false;
    }
  };

  section.append(
    h("p", { class: "signed-in" }, `Signed in as ${account.display_name ?? account.username}. `,
      button("Sign out", () => {
        void ctx.api.logout().catch(() => undefined);
        ctx.setSession(null, null);
        rerender();
        announce("Signed out");
      }, { class: "link" })),
    h("form", { "aria-label": "New meeting", onsubmit: (e) => (e.preventDefault(), void create()) },
      field("Title", title, "Encrypted in your browser; the server never sees it."),
      field("Description", description),
      h("div", { class: "checks" },
        h("label", {}, lobby, " Arrivals wait in the lobby until a host lets them in"),
        h("label", {}, guests, " Guests without an account may ask to join")),
      field("Passcode (optional)", passcode),
      h("div", { class: "actions" }, submit),
      error),
    result,
  );
  return section;
}

function joinSection(ctx: AppContext): HTMLElement {
  const link = h("input", { name: "invite", autocomplete: "off", placeholder: "https://…/m/…#k=…", spellcheck: "false" });
  const error = h("p", { class: "error", role: "alert" });
  const join = () => {
    error.textContent = "";
    try {
      const invite = parseInvite(link.value, location.origin);
      ctx.navigate(`${meetingPath(invite.meetingId)}${invite.key ? `#k=${invite.key}` : ""}`);
    } catch (e) {
      error.textContent = e instanceof InviteError ? e.message : String(e);
    }
  };
  return h(
    "section",
    { class: "card", "aria-labelledby": "join-heading" },
    h("h2", { id: "join-heading" }, "Join a meeting"),
    h("form", { "aria-label": "Join by link", onsubmit: (e) => (e.preventDefault(), join()) },
      field("Invite link or meeting id", link),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Continue")),
      error),
  );
}
