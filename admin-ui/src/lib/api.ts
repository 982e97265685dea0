// The HTTP client: every screen talks to the real Keelbase API through `api()`.
// The superuser session ({token, record}) lives in localStorage so it survives reloads.

import { writable, get } from "svelte/store";

export interface AuthRecord {
  id: string;
  email: string;
  collectionName?: string;
  [key: string]: unknown;
}

export interface Session {
  token: string;
  record: AuthRecord;
}

/** An error answer from the API: PocketBase's `{status, message, data}`. */
export class ApiError extends Error {
  status: number;
  data: Record<string, unknown>;
  constructor(status: number, message: string, data: Record<string, unknown> = {}) {
    super(message);
    this.status = status;
    this.data = data;
  }

  /** The message of a field error (`data.<field>.message`), when there is one. */
  field(name: string): string | undefined {
    const e = this.data?.[name] as { message?: string } | undefined;
    return typeof e?.message === "string" ? e.message : undefined;
  }

  /** "Message." plus the per-field messages, for a one-line banner. */
  describe(): string {
    const parts = Object.entries(this.data ?? {})
      .map(([k, v]) => {
        const m = (v as { message?: unknown })?.message;
        return typeof m === "string" ? `${k}: ${m}` : null;
      })
      .filter(Boolean);
    return parts.length ? `${this.message} ${parts.join("; ")}` : this.message;
  }
}

export const STORAGE_KEY = "keelbase_admin_session";

function load(): Session | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    const s = raw ? JSON.parse(raw) : null;
    return s && typeof s.token === "string" && s.record ? s : null;
  } catch {
    return null;
  }
}

export const session = writable<Session | null>(typeof localStorage === "undefined" ? null : load());

session.subscribe((s) => {
  if (typeof localStorage === "undefined") return;
  if (s) localStorage.setItem(STORAGE_KEY, JSON.stringify(s));
  else localStorage.removeItem(STORAGE_KEY);
});

// Another tab logging in or out changes this one too.
if (typeof window !== "undefined") {
  window.addEventListener("storage", (e) => {
    if (e.key === STORAGE_KEY) session.set(load());
  });
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined | null>;
  signal?: AbortSignal;
}

export function buildQuery(query: RequestOptions["query"]): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : "";
}

export async function api<T = unknown>(path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = {};
  const token = get(session)?.token;
  if (token) headers["Authorization"] = token;
  let body: BodyInit | undefined;
  if (opts.body instanceof FormData) {
    body = opts.body;
  } else if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  let res: Response;
  try {
    res = await fetch(path + buildQuery(opts.query), {
      method: opts.method ?? "GET",
      headers,
      body,
      signal: opts.signal,
    });
  } catch (e) {
    if ((e as Error)?.name === "AbortError") throw e;
    throw new ApiError(0, "The server cannot be reached. Is keelbase running?");
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const j = (json ?? {}) as { message?: string; data?: Record<string, unknown> };
    // A superuser token the server no longer accepts ends the session.
    if (res.status === 401 && token && path !== "/api/install") session.set(null);
    throw new ApiError(res.status, j.message ?? `Request failed (${res.status}).`, j.data ?? {});
  }
  return json as T;
}

/** Seconds-since-epoch expiry of a JWT, or 0 when it cannot be read. */
export function tokenExpiry(token: string): number {
  try {
    const part = token.split(".")[1] ?? "";
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const exp = JSON.parse(json).exp;
    return typeof exp === "number" ? exp : 0;
  } catch {
    return 0;
  }
}

const SUPERUSERS = "/api/collections/_superusers";

export async function login(identity: string, password: string): Promise<void> {
  const s = await api<Session>(`${SUPERUSERS}/auth-with-password`, {
    method: "POST",
    body: { identity, password },
  });
  session.set(s);
}

export async function install(token: string, email: string, password: string, passwordConfirm: string) {
  const s = await api<Session>("/api/install", {
    method: "POST",
    body: { token, email, password, passwordConfirm },
  });
  session.set(s);
}

export function logout(): void {
  session.set(null);
}

/** Swap the token for a fresh one; a token the server rejects logs out. */
export async function refresh(): Promise<void> {
  if (!get(session)) return;
  try {
    const s = await api<Session>(`${SUPERUSERS}/auth-refresh`, { method: "POST" });
    session.set(s);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403 || e.status === 404)) {
      session.set(null);
    }
  }
}

let timer: ReturnType<typeof setInterval> | undefined;

/** Refresh now, then whenever the token has less than a quarter of a day left. */
export function keepFresh(): void {
  if (timer) return;
  void refresh();
  timer = setInterval(() => {
    const s = get(session);
    if (s && tokenExpiry(s.token) - Date.now() / 1000 < 6 * 3600) void refresh();
  }, 5 * 60 * 1000);
}

// File tokens for protected files (`POST /api/files/token`, valid 180 s): one is shared
// until it is two minutes old.
let fileTokenCache: { token: string; at: number; session: string } | null = null;
let fileTokenPending: Promise<string> | null = null;

export const FILE_TOKEN_REUSE_MS = 120_000;

export async function fileToken(): Promise<string> {
  const s = get(session)?.token ?? "";
  if (fileTokenCache && fileTokenCache.session === s && Date.now() - fileTokenCache.at < FILE_TOKEN_REUSE_MS) {
    return fileTokenCache.token;
  }
  if (!fileTokenPending) {
    fileTokenPending = api<{ token: string }>("/api/files/token", { method: "POST" })
      .then((r) => {
        fileTokenCache = { token: r.token, at: Date.now(), session: s };
        return r.token;
      })
      .finally(() => {
        fileTokenPending = null;
      });
  }
  return fileTokenPending;
}
