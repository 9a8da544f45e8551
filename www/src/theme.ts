// Light and dark: the system's choice (prefers-color-scheme) unless the user pressed the
// toggle, which is remembered in localStorage and set as <html data-theme>.
import { $ } from "./ui";

const KEY = "wasm-ln-demo-theme";
const media = window.matchMedia("(prefers-color-scheme: dark)");

function current(): "light" | "dark" {
  const set = document.documentElement.dataset.theme;
  if (set === "light" || set === "dark") return set;
  return media.matches ? "dark" : "light";
}

function render() {
  const btn = $<HTMLButtonElement>("theme-toggle");
  const dark = current() === "dark";
  btn.setAttribute("aria-pressed", String(dark));
  btn.textContent = dark ? "Dark theme: on" : "Dark theme: off";
}

export function initTheme() {
  let saved: string | null = null;
  try {
    saved = localStorage.getItem(KEY);
  } catch {
    // storage refused: the system's choice then
  }
  if (saved === "light" || saved === "dark") document.documentElement.dataset.theme = saved;
  $("theme-toggle").addEventListener("click", () => {
    const next = current() === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    try {
      localStorage.setItem(KEY, next);
    } catch {
      // not remembered, still applied
    }
    render();
  });
  media.addEventListener("change", render);
  render();
}
