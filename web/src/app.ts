/**
 * The application shell: who is signed in, which screen shows, and navigation between them.
 * Routes: `/` (home), `/m/<meeting id>` (pre-join, lobby, meeting) and `/check` (browser check); the invite key stays in
 * the fragment, which no request carries.
 */

import { Api, ApiError } from "./api";
import type { Account } from "./proto/wire";
import { renderCheck } from "./ui/check";
import { renderHome } from "./ui/home";
import { renderPreJoin } from "./ui/prejoin";
import { h, replace } from "./ui/dom";

const TOKEN_KEY = "conclave.session";

/** What every screen may use. */
export interface AppContext {
  readonly api: Api;
  account: Account | null;
  /** Signs in with a fresh session token (or out with null). */
  setSession(token: string | null, account: Account | null): void;
  /** Goes to a path in this app (with an optional fragment). */
  navigate(path: string): void;
  /** Sets the document title and moves focus to the new screen's heading. */
  screen(title: string): void;
}

export class App implements AppContext {
  readonly api = new Api();
  account: Account | null = null;
  /** Runs when the current screen is left (stops media, closes connections). */
  private cleanup: (() => void) | null = null;

  constructor(private readonly root: HTMLElement) {}

  async start(): Promise<void> {
    const token = localStorage.getItem(TOKEN_KEY);
    if (token) {
      this.api.token = token;
      try {
        this.account = await this.api.me();
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) localStorage.removeItem(TOKEN_KEY);
        this.api.token = null;
      }
    }
    window.addEventListener("popstate", () => this.route());
    this.route();
  }

  setSession(token: string | null, account: Account | null): void {
    this.api.token = token;
    this.account = account;
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  }

  navigate(path: string): void {
    history.pushState(null, "", path);
    this.route();
  }

  screen(title: string): void {
    document.title = `${title} · Conclave`;
    const heading = this.root.querySelector("h1");
    if (heading) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
  }

  private route(): void {
    this.cleanup?.();
    this.cleanup = null;
    const container = h("div", { class: "screen" });
    replace(this.root, container);
    const meeting = /^\/m\/([A-Za-z0-9_-]{22})\/?$/.exec(location.pathname);
    if (meeting?.[1]) {
      const key = new URLSearchParams(location.hash.slice(1)).get("k");
      this.cleanup = renderPreJoin(this, container, meeting[1], key);
    } else if (location.pathname === "/") {
      this.cleanup = renderHome(this, container);
    } else if (location.pathname === "/check") {
      this.cleanup = renderCheck(this, container);
    } else {
      replace(
        container,
        h("h1", {}, "Page not found"),
        h("p", {}, "There is nothing at this address."),
        h("p", {}, h("a", { href: "/", onclick: (e) => (e.preventDefault(), this.navigate("/")) }, "Go to the start page")),
      );
      this.screen("Not found");
    }
  }
}
