// Small DOM and formatting helpers shared by the wallet's sections.
import { describeError, InputError } from "./errors";

export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el as T;
};
export const input = (id: string) => $<HTMLInputElement>(id);

export const fmtSat = (sat: number) => `${Math.trunc(sat).toLocaleString("en-US")} sat`;
export const fmtMsat = (msat: number) =>
  msat % 1000 === 0
    ? fmtSat(msat / 1000)
    : `${(msat / 1000).toLocaleString("en-US", { maximumFractionDigits: 3 })} sat`;
export const short = (s: string | undefined | null, n = 10) =>
  s && s.length > 2 * n + 1 ? `${s.slice(0, n)}…${s.slice(-n)}` : (s ?? "");
export const fmtTime = (unixSecs: number) =>
  new Date(unixSecs * 1000).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });

/** "in 59 min", "2 h ago": for expiries and the last sync. */
export function relative(unixSecs: number, now = Date.now() / 1000): string {
  const d = Math.round(unixSecs - now);
  const a = Math.abs(d);
  if (a < 5) return "just now";
  const text = a < 60 ? `${a} s` : a < 3600 ? `${Math.round(a / 60)} min` : a < 86400 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} days`;
  return d >= 0 ? `in ${text}` : `${text} ago`;
}

/** A whole number of sat from an input, or an error in words. */
export function readSat(id: string, what: string, { allowZero = false } = {}): number {
  const raw = input(id).value.trim();
  const sat = raw === "" ? (allowZero ? 0 : NaN) : Number(raw);
  if (!Number.isSafeInteger(sat) || sat < 0 || (!allowZero && sat === 0)) {
    throw new InputError(`Enter ${what} as a whole number of sat.`);
  }
  return sat;
}

// ---- errors ------------------------------------------------------------------------------------

/**
 * Shows a failure in #error (and in the open dialog's own error box, since a modal dialog
 * makes the rest of the page inert): the sentence, `data-code`, and the technical detail folded.
 */
export function showError(e: unknown) {
  const d = describeError(e);
  console.error(e);
  // The page's network banner listens for codes that mean "the network is the problem".
  if (d.code) window.dispatchEvent(new CustomEvent("ln-error", { detail: d.code }));
  const boxes = [$("error")];
  const dialog = document.querySelector<HTMLDialogElement>("dialog[open]");
  const inDialog = dialog?.querySelector<HTMLElement>(".dialog-error");
  if (inDialog) boxes.push(inDialog);
  for (const box of boxes) {
    box.dataset.code = d.code;
    box.replaceChildren();
    const p = document.createElement("p");
    p.className = "sentence";
    p.textContent = d.sentence;
    box.append(p);
    if (d.detail && d.detail !== d.sentence) {
      const det = document.createElement("details");
      const sum = document.createElement("summary");
      sum.textContent = "Technical details";
      const code = document.createElement("p");
      code.className = "mono";
      code.textContent = d.code ? `${d.code}: ${d.detail}` : d.detail;
      det.append(sum, code);
      box.append(det);
    }
    box.hidden = false;
  }
}

export function clearError() {
  for (const box of document.querySelectorAll<HTMLElement>("#error, .dialog-error")) {
    box.dataset.code = "";
    box.replaceChildren();
    box.hidden = true;
  }
}

/**
 * Runs a user action on `id`'s click: clears the last error, marks the button busy
 * (aria-busy, not disabled: a disabled button drops keyboard focus), shows any failure.
 */
export function action(id: string, fn: () => Promise<void>) {
  const btn = $<HTMLButtonElement>(id);
  btn.addEventListener("click", async () => {
    if (btn.getAttribute("aria-busy") === "true") return; // no double submits
    clearError();
    btn.setAttribute("aria-busy", "true");
    try {
      await fn();
    } catch (e) {
      showError(e);
    } finally {
      btn.removeAttribute("aria-busy");
    }
  });
}

/**
 * Keyed list update: rows are kept (only their contents change) so a keyboard user's focus on
 * a row's button survives the periodic refresh.
 */
export function syncRows<T>(
  container: HTMLElement,
  items: T[],
  key: (t: T) => string,
  keyAttr: string,
  create: () => HTMLElement,
  update: (row: HTMLElement, t: T) => void,
) {
  const existing = new Map<string, HTMLElement>();
  for (const row of Array.from(container.children) as HTMLElement[]) {
    const k = row.getAttribute(keyAttr);
    if (k !== null) existing.set(k, row);
  }
  let prev: Element | null = null;
  for (const item of items) {
    const k = key(item);
    let row = existing.get(k);
    existing.delete(k);
    if (!row) {
      row = create();
      row.setAttribute(keyAttr, k);
    }
    update(row, item);
    const want: Element | null = prev ? prev.nextElementSibling : container.firstElementChild;
    if (want !== row) container.insertBefore(row, want);
    prev = row;
  }
  for (const row of existing.values()) row.remove();
}

/** Copies `text`, then says so on the button for a moment (and to screen readers via `live`). */
export async function copyText(text: string, btn: HTMLButtonElement, live: HTMLElement) {
  try {
    await navigator.clipboard.writeText(text);
    live.textContent = "Copied to the clipboard.";
  } catch {
    live.textContent = "Copying was refused by the browser: select the text and copy it.";
  }
  const label = btn.textContent;
  btn.textContent = "Copied";
  setTimeout(() => {
    btn.textContent = label;
    live.textContent = "";
  }, 2000);
}
