/**
 * Oversight notices about the signed-in account and the meetings it hosts (issue #5): each is
 * checked against the public transparency log before it is shown as verified, its statement
 * of reasons is the log's, and the account may appeal each action once.
 */

import type { AppContext } from "../app";
import { pinnedLog } from "../e2ee/keys";
import type { UserAction } from "../ledger/certificate";
import { verifyNotice } from "../ledger/notice";
import type { OversightNotice } from "../proto/wire";
import { announce, button, field, h, replace } from "./dom";

/** `oversight::MAX_APPEAL_LEN`, in UTF-8 bytes. */
const MAX_APPEAL_BYTES = 8000;

/** What each action means to the person it concerns. */
export const ACTION_TITLES: Record<UserAction, string> = {
  end_meeting: "A meeting you host was ended by an oversight order",
  suspend_account: "Your account was suspended by an oversight order",
  reinstate_account: "Your account was reinstated by an oversight order",
  disclose_account_data: "Data of your account was disclosed under an oversight order",
};

/** The notices card; empty (hidden) until there is a notice to show. */
export function noticesSection(ctx: AppContext): HTMLElement {
  const list = h("ol", { class: "notices" });
  const section = h("section", { class: "card notices-card", "aria-labelledby": "notices-heading", hidden: true },
    h("h2", { id: "notices-heading" }, "Oversight notices"),
    h("p", { class: "hint" }, "Actions taken on your account or your meetings. Each is checked against the public transparency log before this page calls it verified."),
    list);
  void ctx.api.notices().then(
    (notices) => {
      if (notices.length === 0) return;
      section.hidden = false;
      for (const notice of [...notices].reverse()) list.append(noticeItem(ctx, notice));
      announce(`${notices.length} oversight ${notices.length === 1 ? "notice" : "notices"} about your account`);
    },
    (error: unknown) => {
      section.hidden = false;
      list.append(h("li", { class: "error", role: "alert" }, `The notices could not be loaded: ${error instanceof Error ? error.message : String(error)}`));
    },
  );
  return section;
}

function noticeItem(ctx: AppContext, notice: OversightNotice): HTMLElement {
  const title = notice.action in ACTION_TITLES ? ACTION_TITLES[notice.action as UserAction] : `Oversight action: ${notice.action}`;
  const proof = h("p", { class: "proof checking", role: "status" }, "Checking this notice against the public transparency log…");
  const reasons = h("blockquote", { class: "reasons" }, notice.reasons);
  const reasonsLabel = h("p", { class: "reasons-label" }, "The statement of reasons, as the server sends it:");
  const appeal = h("div", { class: "appeal" });
  const item = h("li", { class: "notice-item", "data-request": notice.request },
    h("h3", {}, title),
    h("p", { class: "issued" }, `Issued ${new Date(notice.issued_at * 1000).toLocaleString()}`),
    proof, reasonsLabel, reasons, appeal);
  renderAppeal(ctx, appeal, notice);
  void (async () => {
    try {
      const log = await pinnedLog(ctx.api, localStorage);
      const entry = await ctx.api.ledgerEntry(notice.ledger_index);
      const verified = await verifyNotice(notice, entry, log);
      proof.className = "proof verified";
      replace(proof, h("strong", {}, "Verified. "), `This action is entry ${verified.ledgerIndex} of the public transparency log (checked in this browser against the log's signed checkpoint of ${verified.treeSize} entries). It concerns ${verified.action === "end_meeting" ? "meeting" : "account"} ${verified.subject}.`);
      replace(reasonsLabel, "The statement of reasons, as recorded in the log:");
      replace(reasons, verified.reasons);
    } catch (error) {
      proof.className = "proof unverified";
      replace(proof, h("strong", {}, "Not verified. "), `This notice does not check out against the public transparency log (${error instanceof Error ? error.message : String(error)}). Nothing shows that the staff who may take this action decided it.`);
    }
  })();
  return item;
}

function renderAppeal(ctx: AppContext, container: HTMLElement, notice: OversightNotice): void {
  const appeal = notice.appeal;
  if (appeal) {
    const decided = appeal.state === "upheld" ? "Your appeal was decided: the action stands." : appeal.state === "overturned" ? "Your appeal was decided: the action was overturned." : "Your appeal is with reviewers who took no part in the order.";
    replace(container, h("p", { class: `appeal-state ${appeal.state}` }, decided),
      appeal.reasons ? h("blockquote", { class: "reasons" }, appeal.reasons) : null,
      appeal.effect ? h("p", {}, appeal.effect) : null);
    return;
  }
  const statement = h("textarea", { name: "statement", rows: 3, maxlength: MAX_APPEAL_BYTES, required: true });
  const error = h("p", { class: "error", role: "alert" });
  const submit = h("button", { type: "submit" }, "Send appeal");
  const send = async () => {
    error.textContent = "";
    const text = statement.value.trim();
    if (text.length === 0) {
      error.textContent = "Say why the action was wrong.";
      return;
    }
    if (new TextEncoder().encode(text).length > MAX_APPEAL_BYTES) {
      error.textContent = `An appeal is at most ${MAX_APPEAL_BYTES} bytes.`;
      return;
    }
    submit.disabled = true;
    try {
      const updated = await ctx.api.appeal(notice.request, text);
      renderAppeal(ctx, container, updated);
      announce("Appeal sent");
    } catch (e) {
      error.textContent = e instanceof Error ? e.message : String(e);
      submit.disabled = false;
    }
  };
  replace(container,
    h("form", { class: "appeal-form", "aria-label": "Appeal this action", onsubmit: (e) => (e.preventDefault(), void send()) },
      field("Appeal (once per action)", statement, "Reviewers who took no part in the order decide it and give their reasons."),
      h("div", { class: "actions" }, submit, button("Cancel", () => (statement.value = ""), { class: "secondary" })),
      error));
}
