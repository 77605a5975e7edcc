// The page builds its DOM with createElement and textContent only: no HTML strings, so no value,
// name or audit field can ever become markup (and the CSP's Trusted Types would refuse it anyway).

type Child = Node | string | number | null | undefined | false;
type Attr = string | number | boolean | null | undefined | ((ev: Event) => void);

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, Attr> = {}, ...kids: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "value") (el as HTMLInputElement).value = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, ...kids);
  return el;
}

export function append(el: Node, ...kids: Child[]) {
  for (const k of kids) if (k !== null && k !== undefined && k !== false) el.appendChild(typeof k === "object" ? k : document.createTextNode(String(k)));
}

export function clear(el: Element, ...kids: Child[]) {
  el.replaceChildren();
  append(el, ...kids);
}

let ids = 0;
/** A labelled input (label for=id) with an optional hint that is its description, not its name. */
export function field(label: string, input: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement, hint?: string) {
  input.id ||= `f-${++ids}`;
  const hintEl = hint ? h("small", { id: `${input.id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: input.id }, label), input, hintEl);
}

/** A polite live region for results and errors of an action. */
export type Status = HTMLElement & { say(msg: string, kind?: "ok" | "error" | ""): void };
export function statusLine(): Status {
  const el = h("p", { role: "status", "aria-live": "polite", class: "status" }) as unknown as Status;
  el.say = (msg, kind = "") => {
    el.textContent = msg;
    el.className = `status ${kind}`;
  };
  return el;
}

export const when = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : "—");

export function duration(ms: number): string {
  if (ms <= 0) return "expired";
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const hh = String(Math.floor((s % 86400) / 3600)).padStart(2, "0");
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return `${d ? `${d}d ` : ""}${hh}:${mm}:${ss}`;
}

export function table(headers: string[], rows: Child[][], caption?: string) {
  return h(
    "table",
    {},
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, ...headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c) => h("td", {}, c))))),
  );
}

export async function copy(text: string, say: (m: string, k?: "ok" | "error") => void) {
  try {
    await navigator.clipboard.writeText(text);
    say("Copied to the clipboard.", "ok");
  } catch {
    say("The browser refused the clipboard: select the text and copy it by hand.", "error");
  }
}
