// Dark mode: the system preference unless the user picked one (kept in localStorage).
import { writable } from "svelte/store";

export type Theme = "light" | "dark";
const KEY = "keelbase_admin_theme";

function initial(): Theme {
  const saved = typeof localStorage !== "undefined" ? localStorage.getItem(KEY) : null;
  if (saved === "light" || saved === "dark") return saved;
  return typeof matchMedia !== "undefined" && matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

export const theme = writable<Theme>(initial());

export function applyTheme(): void {
  theme.subscribe((t) => document.documentElement.setAttribute("data-theme", t));
}

export function toggleTheme(): void {
  theme.update((t) => {
    const next = t === "dark" ? "light" : "dark";
    localStorage.setItem(KEY, next);
    return next;
  });
}
