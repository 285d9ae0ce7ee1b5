/**
 * A few lines of DOM building instead of a framework. Text goes in as text nodes, never as
 * HTML, so nothing a participant or the server sends can become markup.
 */

type Child = Node | string | null | undefined | false;
type Handler = (event: Event) => void;
export type Props = Record<string, string | number | boolean | Handler | null | undefined>;

/** Creates an element: `on*` props become listeners, other props attributes (`true` = present). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
}

/** Replaces all children. */
export function replace(parent: Node, ...children: Child[]): void {
  while (parent.firstChild) parent.removeChild(parent.firstChild);
  append(parent, children);
}

let nextId = 0;
/** A unique id for label/aria wiring. */
export function uid(prefix: string): string {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/** A labelled form field. */
export function field(
  label: string,
  input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement,
  hint?: string,
): HTMLDivElement {
  input.id ||= uid("field");
  const hintElement = hint ? h("p", { class: "hint", id: `${input.id}-hint` }, hint) : null;
  if (hintElement) input.setAttribute("aria-describedby", hintElement.id);
  return h("div", { class: "field" }, h("label", { for: input.id }, label), input, hintElement);
}

/** A button; `label` is its visible text, `aria` an optional longer accessible name. */
export function button(label: string, onClick: () => void, props: Props = {}): HTMLButtonElement {
  return h("button", { type: "button", ...props, onclick: () => onClick() }, label);
}

/**
 * Keeps `container`'s children in step with `items` by key: existing elements are updated in
 * place and keep their focus; new ones are created; gone ones removed.
 */
export function syncList<T>(
  container: HTMLElement,
  items: readonly T[],
  key: (item: T) => string,
  create: (item: T) => HTMLElement,
  update: (element: HTMLElement, item: T) => void,
): void {
  const existing = new Map<string, HTMLElement>();
  for (const child of Array.from(container.children)) {
    if (child instanceof HTMLElement && child.dataset["key"] !== undefined) existing.set(child.dataset["key"], child);
  }
  let previous: Element | null = null;
  for (const item of items) {
    const k = key(item);
    let element = existing.get(k);
    if (element) {
      existing.delete(k);
    } else {
      element = create(item);
      element.dataset["key"] = k;
    }
    update(element, item);
    const expected: Element | null = previous ? previous.nextElementSibling : container.firstElementChild;
    if (expected !== element) container.insertBefore(element, expected);
    previous = element;
  }
  for (const gone of existing.values()) gone.remove();
}

/** Says something to screen readers through the page's live region. */
export function announce(text: string): void {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  // A separate task, so the same text twice is announced twice.
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}
