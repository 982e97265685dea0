// Hash routing under /_/: `#/collections/posts?page=2` → {path: ["collections", "posts"], query}.
// The server sends every /_/ path to index.html; the hash is what the client routes on, and
// links the server prints or mails (`#/install/…`, `#/auth/…`) land here.

import { readable } from "svelte/store";

export interface Route {
  path: string[];
  query: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#/, "");
  const [p, q = ""] = raw.split("?", 2) as [string, string?];
  const path = p
    .split("/")
    .filter(Boolean)
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
  return { path, query: new URLSearchParams(q) };
}

export function href(path: string[], query?: Record<string, string | number | undefined | null>): string {
  const p = path.map(encodeURIComponent).join("/");
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  }
  const q = params.toString();
  return `#/${p}${q ? `?${q}` : ""}`;
}

export const route = readable<Route>(parseHash(typeof location === "undefined" ? "" : location.hash), (set) => {
  const on = () => set(parseHash(location.hash));
  window.addEventListener("hashchange", on);
  return () => window.removeEventListener("hashchange", on);
});

export function navigate(path: string[], query?: Record<string, string | number | undefined | null>, replace = false) {
  const h = href(path, query);
  if (replace) {
    history.replaceState(null, "", h);
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } else {
    location.hash = h;
  }
}
