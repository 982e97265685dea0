import { describe, expect, it } from "vitest";
import {
  applyRecordEvent,
  parseRecordEvent,
  placeCreated,
  RealtimeClient,
  reconnectDelay,
  topicKey,
  type EventSourceLike,
  type ListState,
} from "./realtime";

const rec = (id: string, extra: Record<string, unknown> = {}) => ({ id, ...extra });
const view = { page: 1, perPage: 3, sort: "", filter: "" };
const list = (ids: string[], total = ids.length): ListState => ({ items: ids.map((i) => rec(i)), totalItems: total, totalPages: Math.max(1, Math.ceil(total / 3)) });

describe("topic keys and event data", () => {
  it("adds options only when there are some", () => {
    expect(topicKey("posts/*")).toBe("posts/*");
    expect(topicKey("posts/*", { expand: "" })).toBe("posts/*");
    expect(topicKey("posts/*", { expand: "tags" })).toBe(`posts/*?options=${encodeURIComponent('{"query":{"expand":"tags"}}')}`);
  });
  it("parses record events and rejects others", () => {
    expect(parseRecordEvent('{"action":"create","record":{"id":"a"}}')).toEqual({ action: "create", record: { id: "a" } });
    expect(parseRecordEvent('{"action":"nope","record":{"id":"a"}}')).toBeNull();
    expect(parseRecordEvent('{"action":"update"}')).toBeNull();
    expect(parseRecordEvent("not json")).toBeNull();
  });
  it("backs off like the SDK", () => {
    expect([0, 1, 2, 3, 6, 50].map(reconnectDelay)).toEqual([200, 300, 500, 1000, 2000, 2000]);
  });
});

describe("applying events to the table", () => {
  it("replaces an updated row in place", () => {
    const r = applyRecordEvent(list(["a", "b"]), view, { action: "update", record: rec("b", { title: "new" }) });
    expect(r.items).toEqual([rec("a"), rec("b", { title: "new" })]);
    expect(r.totalItems).toBe(2);
  });
  it("ignores updates and deletes of rows not shown", () => {
    const l = list(["a"]);
    expect(applyRecordEvent(l, view, { action: "update", record: rec("z") }).items).toBe(l.items);
    expect(applyRecordEvent(l, view, { action: "delete", record: rec("z") }).totalItems).toBe(1);
  });
  it("removes a deleted row and counts it", () => {
    const r = applyRecordEvent(list(["a", "b"]), view, { action: "delete", record: rec("a") });
    expect(r.items.map((x) => x.id)).toEqual(["b"]);
    expect(r.totalItems).toBe(1);
  });
  it("appends a create to a last page with room in the default order", () => {
    const r = applyRecordEvent(list([]), view, { action: "create", record: rec("n") });
    expect(r.items.map((x) => x.id)).toEqual(["n"]);
    expect(r.unplaced).toBe(false);
    expect(r.totalItems).toBe(1);
  });
  it("counts a create that belongs to another page", () => {
    const r = applyRecordEvent(list(["a", "b", "c"]), view, { action: "create", record: rec("n") });
    expect(r.items.map((x) => x.id)).toEqual(["a", "b", "c"]);
    expect(r.totalItems).toBe(4);
    expect(r.totalPages).toBe(2);
  });
  it("puts a create on top of page 1 when newest come first", () => {
    const r = applyRecordEvent(list(["a", "b", "c"]), { ...view, sort: "-created" }, { action: "create", record: rec("n") });
    expect(r.items.map((x) => x.id)).toEqual(["n", "a", "b"]);
  });
  it("offers a refresh when it cannot place a create", () => {
    expect(applyRecordEvent(list(["a"]), { ...view, filter: "x" }, { action: "create", record: rec("n") }).unplaced).toBe(true);
    expect(applyRecordEvent(list(["a"]), { ...view, sort: "title" }, { action: "create", record: rec("n") }).unplaced).toBe(true);
    expect(placeCreated(list(["a"]), { ...view, sort: "-created", page: 2 })).toBe("unknown");
  });
  it("does not list a create twice", () => {
    const r = applyRecordEvent(list(["a"]), view, { action: "create", record: rec("a") });
    expect(r.items.length).toBe(1);
    expect(r.totalItems).toBe(1);
  });
  it("keeps unknown totals unknown", () => {
    const r = applyRecordEvent({ items: [], totalItems: -1, totalPages: -1 }, view, { action: "create", record: rec("n") });
    expect(r.totalItems).toBe(-1);
    expect(r.items.length).toBe(1);
  });
});

class FakeSource implements EventSourceLike {
  readyState = 0;
  onerror: ((e: Event) => void) | null = null;
  closed = false;
  handlers = new Map<string, ((e: MessageEvent) => void)[]>();
  addEventListener(name: string, cb: (e: MessageEvent) => void) {
    this.handlers.set(name, [...(this.handlers.get(name) ?? []), cb]);
  }
  close() {
    this.closed = true;
    this.readyState = 2;
  }
  emit(name: string, data: string, id: string) {
    for (const h of this.handlers.get(name) ?? []) h({ data, lastEventId: id } as MessageEvent);
  }
}

function harness() {
  const sources: FakeSource[] = [];
  const posts: [string, string[]][] = [];
  const timers: (() => void)[] = [];
  const client = new RealtimeClient({
    open: () => {
      const s = new FakeSource();
      sources.push(s);
      return s;
    },
    post: async (id, subs) => {
      posts.push([id, subs]);
    },
    setTimer: (cb) => timers.push(cb),
    clearTimer: () => {},
  });
  const flush = () => new Promise((r) => setTimeout(r, 0));
  return { client, sources, posts, timers, flush };
}

describe("the realtime client", () => {
  it("posts the subscriptions after PB_CONNECT and delivers events", async () => {
    const { client, sources, posts, flush } = harness();
    const got: string[] = [];
    client.subscribe("posts/*", (d) => got.push(d));
    expect(sources.length).toBe(1);
    sources[0]!.emit("PB_CONNECT", '{"clientId":"c1"}', "c1");
    await flush();
    expect(posts).toEqual([["c1", ["posts/*"]]]);
    sources[0]!.emit("posts/*", "x", "c1");
    expect(got).toEqual(["x"]);
  });
  it("subscribes again with the new clientId after a reconnect", async () => {
    const { client, sources, posts, flush } = harness();
    client.subscribe("posts/*", () => {});
    sources[0]!.emit("PB_CONNECT", "{}", "c1");
    await flush();
    // The browser reconnected the stream by itself: a new PB_CONNECT with a new id.
    sources[0]!.emit("PB_CONNECT", "{}", "c2");
    await flush();
    expect(posts).toEqual([["c1", ["posts/*"]], ["c2", ["posts/*"]]]);
  });
  it("opens a new stream when the browser gave up on one", async () => {
    const { client, sources, posts, timers, flush } = harness();
    client.subscribe("posts/*", () => {});
    sources[0]!.emit("PB_CONNECT", "{}", "c1");
    await flush();
    sources[0]!.readyState = 2;
    sources[0]!.onerror?.(new Event("error"));
    expect(timers.length).toBe(1);
    timers[0]!();
    expect(sources.length).toBe(2);
    sources[1]!.emit("PB_CONNECT", "{}", "c9");
    await flush();
    expect(posts.at(-1)).toEqual(["c9", ["posts/*"]]);
  });
  it("re-posts when the topics change and closes after the last one goes", async () => {
    const { client, sources, posts, timers, flush } = harness();
    const offA = client.subscribe("a/*", () => {});
    sources[0]!.emit("PB_CONNECT", "{}", "c1");
    await flush();
    const offB = client.subscribe("b/*", () => {});
    await flush();
    expect(posts.at(-1)).toEqual(["c1", ["a/*", "b/*"]]);
    offA();
    await flush();
    expect(posts.at(-1)).toEqual(["c1", ["b/*"]]);
    offB();
    expect(sources[0]!.closed).toBe(false);
    timers.at(-1)!();
    expect(sources[0]!.closed).toBe(true);
    expect(posts.length).toBe(3); // no POST on the last unsubscribe
  });
  it("keeps the stream when a new topic comes before the close", async () => {
    const { client, sources, posts, flush } = harness();
    const off = client.subscribe("a/*", () => {});
    sources[0]!.emit("PB_CONNECT", "{}", "c1");
    await flush();
    off();
    client.subscribe("b/*", () => {});
    await flush();
    expect(sources.length).toBe(1);
    expect(posts.at(-1)).toEqual(["c1", ["b/*"]]);
  });
});
