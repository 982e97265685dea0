// Realtime record events through the official SDK: pb.collection(...).subscribe("*") and
// by record id, with a filter option, as an app would use them; the SDK's own EventSource
// handling (PB_CONNECT, clientId from lastEventId, listener per subscription key) must work
// unchanged. Node 20 has no EventSource: the `eventsource` package stands in.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { EventSource } from "eventsource";
import PocketBase from "pocketbase";

globalThis.EventSource ??= EventSource;

const url = process.env.KEELBASE_URL;
const email = process.env.KEELBASE_ADMIN_EMAIL;
const password = process.env.KEELBASE_ADMIN_PASSWORD;

const admin = new PocketBase(url);
admin.autoCancellation(false);
const guest = new PocketBase(url);
guest.autoCancellation(false);

/** Resolves once `done()` holds; rejects after `ms`. */
async function until(done, what, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  await admin.collection("_superusers").authWithPassword(email, password);
  await admin.collections.create({
    name: "rtposts",
    schema: {
      type: "object",
      properties: {
        title: { type: "string" },
        published: { type: "boolean" },
        secret: { type: "string", "x-hidden": true },
      },
    },
    listRule: "published = true",
    viewRule: "published = true",
    createRule: "",
    updateRule: "",
    deleteRule: "",
  });
});

after(() => {
  guest.realtime.unsubscribe();
  admin.realtime.unsubscribe();
});

test("subscribe('*') gets create, update and delete, and nothing the rule hides", async () => {
  const events = [];
  const unsubscribe = await guest.collection("rtposts").subscribe("*", (e) => events.push(e));
  assert.equal(guest.realtime.isConnected, true);
  assert.equal(guest.realtime.clientId.length, 40);

  await admin.collection("rtposts").create({ title: "draft", published: false, secret: "s" });
  const post = await admin.collection("rtposts").create({ title: "sdk 1", published: true, secret: "s" });
  await until(() => events.length >= 1, "the create");
  assert.equal(events[0].action, "create");
  assert.equal(events[0].record.id, post.id, "the draft never came");
  assert.equal(events[0].record.title, "sdk 1");
  assert.equal(events[0].record.secret, undefined, "hidden fields stay hidden");

  await admin.collection("rtposts").update(post.id, { title: "sdk 1b" });
  await until(() => events.length >= 2, "the update");
  assert.deepEqual([events[1].action, events[1].record.title], ["update", "sdk 1b"]);

  await admin.collection("rtposts").delete(post.id);
  await until(() => events.length >= 3, "the delete");
  assert.deepEqual([events[2].action, events[2].record.id], ["delete", post.id]);

  await unsubscribe();
  await admin.collection("rtposts").create({ title: "after", published: true });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(events.length, 3, "nothing after unsubscribing");
});

test("subscribe(id) and subscribe('*', {filter}) through the SDK's options", async () => {
  const post = await admin.collection("rtposts").create({ title: "target", published: true });
  const byId = [];
  const filtered = [];
  await guest.collection("rtposts").subscribe(post.id, (e) => byId.push(e));
  await guest
    .collection("rtposts")
    .subscribe("*", (e) => filtered.push(e), { filter: 'title ~ "rt"', fields: "id,title" });

  await admin.collection("rtposts").update(post.id, { title: "target 2" });
  await until(() => byId.length >= 1, "the record topic's update");
  assert.deepEqual([byId[0].action, byId[0].record.title], ["update", "target 2"]);

  await admin.collection("rtposts").create({ title: "nomatch", published: true });
  const rt = await admin.collection("rtposts").create({ title: "rt post", published: true });
  await until(() => filtered.length >= 1, "the filtered create");
  assert.deepEqual(filtered[0].record, { id: rt.id, title: "rt post" }, "filter and fields applied");
  assert.equal(byId.length, 1, "the record topic got only its record");
  await guest.realtime.unsubscribe();
});

test("an authenticated subscriber sees what its rules allow", async () => {
  const events = [];
  await admin.collection("rtposts").subscribe("*", (e) => events.push(e));
  await admin.collection("rtposts").create({ title: "draft 2", published: false, secret: "s2" });
  await until(() => events.length >= 1, "the superuser's event");
  assert.equal(events[0].record.title, "draft 2", "superusers pass every rule");
  assert.equal(events[0].record.secret, "s2", "and see hidden fields");
  await admin.realtime.unsubscribe();
});
