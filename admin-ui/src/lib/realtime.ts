// A small client of the realtime feed (`/api/realtime`, PocketBase's SSE protocol):
// one EventSource for the whole dashboard, opened on the first subscription and closed when the
// last one goes. The clientId comes from the `PB_CONNECT` event's `id:` (lastEventId); every
// (re)connect gets a new one, and the full subscription list is POSTed again with the
// superuser's Authorization, which binds the client's auth.

import { get } from "svelte/store";
import { api, session } from "./api";
import type { Record_ } from "./records";

export type RecordAction = "create" | "update" | "delete";
export interface RecordEvent {
  action: RecordAction;
  record: Record_;
}

/** The subscription key of a topic, with `?options=` when there are query options (§10.6). */
export function topicKey(topic: string, query: Record<string, string> = {}): string {
  const q = Object.fromEntries(Object.entries(query).filter(([, v]) => v !== ""));
  if (!Object.keys(q).length) return topic;
  return `${topic}?options=${encodeURIComponent(JSON.stringify({ query: q }))}`;
}

/** A record event's data, or null when it is not one. */
export function parseRecordEvent(data: string): RecordEvent | null {
  try {
    const v = JSON.parse(data);
    if (!v || typeof v !== "object") return null;
    if (!["create", "update", "delete"].includes(v.action)) return null;
    if (!v.record || typeof v.record !== "object" || typeof v.record.id !== "string") return null;
    return v as RecordEvent;
  } catch {
    return null;
  }
}

/** Wait before the n-th reconnect attempt (0-based), as the SDK does. */
export function reconnectDelay(attempt: number): number {
  const steps = [200, 300, 500, 1000, 1200, 1500, 2000];
  return steps[Math.min(attempt, steps.length - 1)]!;
}

export interface EventSourceLike {
  readyState: number;
  onerror: ((e: Event) => void) | null;
  addEventListener(name: string, cb: (e: MessageEvent) => void): void;
  close(): void;
}

export interface RealtimeDeps {
  open: (url: string) => EventSourceLike;
  post: (clientId: string, subscriptions: string[]) => Promise<void>;
  setTimer: (cb: () => void, ms: number) => unknown;
  clearTimer: (t: unknown) => void;
}

const CLOSED = 2;

export class RealtimeClient {
  private listeners = new Map<string, Set<(data: string) => void>>();
  private es: EventSourceLike | null = null;
  private clientId = "";
  private attached = new Set<string>(); // keys with a listener on the current EventSource
  private posted = "";
  private closeTimer: unknown = null;
  private retryTimer: unknown = null;
  private attempts = 0;
  /** The clientId of the live connection ("" while connecting); for tests and debugging. */
  get id(): string {
    return this.clientId;
  }

  constructor(private deps: RealtimeDeps, private url = "/api/realtime") {}

  /** Listen to a subscription key; returns the unsubscribe function. */
  subscribe(key: string, cb: (data: string) => void): () => void {
    if (this.closeTimer !== null) {
      this.deps.clearTimer(this.closeTimer);
      this.closeTimer = null;
    }
    let set = this.listeners.get(key);
    if (!set) this.listeners.set(key, (set = new Set()));
    set.add(cb);
    if (!this.es && this.retryTimer === null) this.connect();
    else this.attach();
    void this.sync();
    return () => {
      const s = this.listeners.get(key);
      if (!s) return;
      s.delete(cb);
      if (s.size) return;
      this.listeners.delete(key);
      if (this.listeners.size) {
        void this.sync();
        return;
      }
      // Closed a moment later, so moving from one collection to the next keeps the stream.
      this.closeTimer = this.deps.setTimer(() => {
        this.closeTimer = null;
        if (!this.listeners.size) this.disconnect();
      }, 1000);
    };
  }

  /** Drop the connection and open a new one (a new clientId, auth bound again). */
  reconnect(): void {
    if (!this.listeners.size) return;
    this.disconnect();
    this.connect();
  }

  disconnect(): void {
    if (this.retryTimer !== null) this.deps.clearTimer(this.retryTimer);
    this.retryTimer = null;
    this.es?.close();
    this.es = null;
    this.clientId = "";
    this.attached.clear();
    this.posted = "";
  }

  private connect(): void {
    const es = this.deps.open(this.url);
    this.es = es;
    this.clientId = "";
    this.attached.clear();
    this.posted = "";
    es.addEventListener("PB_CONNECT", (e) => {
      if (this.es !== es) return;
      // The browser reconnects a dropped stream by itself; each connect has a new id.
      this.clientId = e.lastEventId;
      this.posted = "";
      this.attempts = 0;
      void this.sync();
    });
    es.onerror = () => {
      if (this.es !== es) return;
      this.clientId = "";
      if (es.readyState !== CLOSED) return; // the browser retries on its own
      es.close();
      this.es = null;
      this.retryTimer = this.deps.setTimer(() => {
        this.retryTimer = null;
        if (this.listeners.size && !this.es) this.connect();
      }, reconnectDelay(this.attempts++));
    };
    this.attach();
  }

  private attach(): void {
    const es = this.es;
    if (!es) return;
    for (const key of this.listeners.keys()) {
      if (this.attached.has(key)) continue;
      this.attached.add(key);
      es.addEventListener(key, (e) => {
        if (this.es !== es) return;
        for (const cb of this.listeners.get(key) ?? []) cb(e.data);
      });
    }
  }

  private async sync(): Promise<void> {
    if (!this.es || !this.clientId) return;
    const keys = [...this.listeners.keys()].sort();
    const sig = `${this.clientId}\n${keys.join("\n")}`;
    if (sig === this.posted) return;
    this.posted = sig;
    try {
      await this.deps.post(this.clientId, keys);
    } catch {
      // A clientId gone meanwhile: the next PB_CONNECT posts again.
      if (this.posted === sig) this.posted = "";
    }
  }
}

export const realtime = new RealtimeClient({
  open: (url) => new EventSource(url),
  post: (clientId, subscriptions) => api("/api/realtime", { method: "POST", body: { clientId, subscriptions } }),
  setTimer: (cb, ms) => setTimeout(cb, ms),
  clearTimer: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
});

// The realtime client's auth is bound to the first superuser that subscribed; another one
// signing in needs a fresh connection.
if (typeof window !== "undefined") {
  let who = get(session)?.record.id ?? "";
  session.subscribe((s) => {
    const now = s?.record.id ?? "";
    if (now !== who) {
      who = now;
      realtime.reconnect();
    }
  });
}

/** Subscribe to a collection's record events; returns the unsubscribe function. */
export function subscribeRecords(collection: string, expand: string, cb: (e: RecordEvent) => void): () => void {
  const key = topicKey(`${collection}/*`, { expand });
  return realtime.subscribe(key, (data) => {
    const e = parseRecordEvent(data);
    if (e) cb(e);
  });
}

// ---- applying events to the records table ---------------------------------------------------

export interface ListView {
  page: number;
  perPage: number;
  sort: string;
  filter: string;
}

export interface ListState {
  items: Record_[];
  totalItems: number;
  totalPages: number;
}

export interface Applied extends ListState {
  /** A created record the current page cannot place: the table offers a refresh. */
  unplaced: boolean;
}

function pages(total: number, perPage: number): number {
  return total < 0 ? -1 : Math.max(1, Math.ceil(total / perPage));
}

/**
 * Where a new record goes on the page shown: at the top of page 1 when newest come first,
 * at the end of the last page when the order is the default (insertion) one and it has room,
 * on a page not shown (only the counts change), or nowhere we can tell (a filter, another
 * sort): then the table shows a "new records — refresh" notice.
 */
export function placeCreated(list: ListState, view: ListView): "top" | "end" | "elsewhere" | "unknown" {
  if (view.filter.trim()) return "unknown";
  const sort = view.sort.trim();
  if (sort === "-created" || sort === "-created,-id") return view.page === 1 ? "top" : "unknown";
  if (sort === "" || sort === "created" || sort === "created,id") {
    if (list.totalPages >= 0 && view.page < list.totalPages) return "elsewhere";
    return list.items.length < view.perPage ? "end" : "elsewhere";
  }
  return "unknown";
}

/** The table after one record event. */
export function applyRecordEvent(list: ListState, view: ListView, e: RecordEvent): Applied {
  const at = list.items.findIndex((r) => r.id === e.record.id);
  const count = (d: number) => {
    const totalItems = list.totalItems < 0 ? -1 : Math.max(0, list.totalItems + d);
    return { totalItems, totalPages: pages(totalItems, view.perPage) };
  };
  switch (e.action) {
    case "update": {
      if (at < 0) return { ...list, unplaced: false };
      const items = list.items.slice();
      items[at] = e.record;
      return { ...list, items, unplaced: false };
    }
    case "delete": {
      if (at < 0) return { ...list, unplaced: false };
      return { ...count(-1), items: list.items.filter((r) => r.id !== e.record.id), unplaced: false };
    }
    case "create": {
      if (at >= 0) return { ...list, unplaced: false }; // already listed (a reload raced the event)
      const where = placeCreated(list, view);
      const c = count(1);
      if (where === "top") return { ...c, items: [e.record, ...list.items].slice(0, view.perPage), unplaced: false };
      if (where === "end") return { ...c, items: [...list.items, e.record], unplaced: false };
      if (where === "elsewhere") return { ...c, items: list.items, unplaced: false };
      return { ...list, unplaced: true };
    }
  }
}
