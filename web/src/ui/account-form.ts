/** Sign in or register: one form, two buttons. */

import { ApiError } from "../api";
import type { AppContext } from "../app";
import { MIN_PASSWORD_CHARS } from "../proto/wire";
import { announce, field, h } from "./dom";

/** A sign-in form; `done` runs once signed in. */
export function accountForm(ctx: AppContext, done: () => void): HTMLFormElement {
  const username = h("input", { name: "username", autocomplete: "username", required: true, minlength: 3, maxlength: 32, autocapitalize: "none", spellcheck: "false" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, maxlength: 1024 });
  const region = h("input", { name: "region", autocomplete: "country", maxlength: 2, pattern: "[A-Za-z]{2}", autocapitalize: "characters", spellcheck: "false" });
  const error = h("p", { class: "error", role: "alert" });
  const busy = (on: boolean) => {
    for (const b of form.querySelectorAll("button")) b.disabled = on;
  };
  const run = async (register: boolean) => {
    if (!form.reportValidity()) return;
    error.textContent = "";
    busy(true);
    try {
      if (register) {
        if ([...password.value].length < MIN_PASSWORD_CHARS) {
          throw new ApiError(400, "weak_password", `A password needs at least ${MIN_PASSWORD_CHARS} characters.`);
        }
        await ctx.api.register(username.value, password.value, region.value.trim().toUpperCase());
      }
      const session = await ctx.api.login(username.value, password.value);
      ctx.setSession(session.token, null);
      ctx.setSession(session.token, await ctx.api.me());
      announce(`Signed in as ${ctx.account?.username ?? username.value}`);
      done();
    } catch (e) {
      error.textContent = e instanceof Error ? e.message : String(e);
    } finally {
      busy(false);
    }
  };
  const form = h(
    "form",
    { class: "account-form", "aria-label": "Sign in or create an account", onsubmit: (e) => (e.preventDefault(), void run(false)) },
    field("Username", username, "3 to 32 characters: a-z, 0-9, dot, dash, underscore."),
    field("Password", password, `At least ${MIN_PASSWORD_CHARS} characters for a new account.`),
    field(
      "Country (new accounts, optional)",
      region,
      "Two letters, such as DE. It decides which oversight staff may act on your account; without it the server's default applies.",
    ),
    h("div", { class: "actions" },
      h("button", { type: "submit" }, "Sign in"),
      h("button", { type: "button", class: "secondary", onclick: () => void run(true) }, "Create account")),
    error,
  );
  return form;
}
