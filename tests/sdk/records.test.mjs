// The official PocketBase JS SDK (0.28.1) against a real keelbase server.
// KEELBASE_URL, KEELBASE_ADMIN_EMAIL and KEELBASE_ADMIN_PASSWORD come from tests/sdk.rs.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import PocketBase, { ClientResponseError } from "pocketbase";

const url = process.env.KEELBASE_URL;
const email = process.env.KEELBASE_ADMIN_EMAIL;
const password = process.env.KEELBASE_ADMIN_PASSWORD;

const admin = new PocketBase(url);
admin.autoCancellation(false);
const guest = new PocketBase(url);
guest.autoCancellation(false);

before(async () => {
  await admin.collection("_superusers").authWithPassword(email, password);
  await admin.collections.create({
    name: "notes",
    schema: {
      type: "object",
      properties: {
        title: { type: "string", minLength: 1, maxLength: 50 },
        views: { type: "integer", minimum: 0, default: 0 },
        tags: { type: "array", items: { type: "string" } },
        meta: { type: "object" },
      },
      required: ["title"],
    },
    listRule: "",
    viewRule: "",
    createRule: "",
    updateRule: "views < 100",
    deleteRule: null,
  });
});

test("superuser auth and the auth store", async () => {
  assert.equal(admin.authStore.isValid, true);
  assert.equal(admin.authStore.isSuperuser, true);
  assert.equal(admin.authStore.record.email, email);
  const refreshed = await admin.collection("_superusers").authRefresh();
  assert.ok(refreshed.token);
  assert.equal(refreshed.record.collectionName, "_superusers");
});

test("wrong credentials are a ClientResponseError 400", async () => {
  const pb = new PocketBase(url);
  await assert.rejects(pb.collection("_superusers").authWithPassword(email, "wrong-password"), (err) => {
    assert.ok(err instanceof ClientResponseError);
    assert.equal(err.status, 400);
    assert.equal(err.response.message, "Failed to authenticate.");
    return true;
  });
  assert.equal(pb.authStore.isValid, false);
});

test("CRUD as a guest, with rules", async () => {
  const created = await guest.collection("notes").create({ title: "first", tags: ["a", "b"], meta: { k: 1 } });
  assert.equal(created.title, "first");
  assert.equal(created.views, 0);
  assert.deepEqual(created.tags, ["a", "b"]);
  assert.equal(created.collectionName, "notes");

  const one = await guest.collection("notes").getOne(created.id);
  assert.equal(one.id, created.id);

  const updated = await guest.collection("notes").update(created.id, { "views+": 150, "tags+": "c" });
  assert.equal(updated.views, 150);
  assert.deepEqual(updated.tags, ["a", "b", "c"]);
  // views >= 100 now: the updateRule hides it (404).
  await assert.rejects(guest.collection("notes").update(created.id, { title: "x" }), (err) => err.status === 404);
  // deleteRule is null: superusers only.
  await assert.rejects(guest.collection("notes").delete(created.id), (err) => err.status === 403);
  assert.equal(await admin.collection("notes").delete(created.id), true);
  await assert.rejects(guest.collection("notes").getOne(created.id), (err) => err.status === 404);
});

test("validation errors carry field data", async () => {
  await assert.rejects(guest.collection("notes").create({ views: -1 }), (err) => {
    assert.equal(err.status, 400);
    assert.equal(err.response.message, "Failed to create record.");
    assert.equal(err.response.data.title.code, "validation_required");
    assert.equal(err.response.data.views.code, "validation_min_number_constraint");
    assert.deepEqual(err.response.data.views.params, { min: 0 });
    return true;
  });
  // Code written against PocketBase switches on these: the same codes, messages and params.
  await assert.rejects(guest.collection("notes").create({ title: "x".repeat(51), views: 1.5 }), (err) => {
    assert.ok(err instanceof ClientResponseError);
    assert.deepEqual(err.data.data.title, {
      code: "validation_max_text_constraint",
      message: "Must be no more than 50 character(s).",
      params: { max: 50 },
    });
    assert.deepEqual(err.response.data.views, {
      code: "validation_only_int_constraint",
      message: "Decimal numbers are not allowed.",
    });
    return true;
  });
});

test("getList, getFullList, getFirstListItem and pb.filter", async () => {
  const titles = ["alpha", "beta", "gamma", "it's \"quoted\"", "' || 1=1 //"];
  for (const [i, title] of titles.entries()) {
    await guest.collection("notes").create({ title, views: i });
  }
  const page = await guest.collection("notes").getList(1, 2, { sort: "-views", filter: "views >= 1" });
  assert.equal(page.page, 1);
  assert.equal(page.perPage, 2);
  assert.equal(page.totalItems, 4);
  assert.equal(page.totalPages, 2);
  assert.deepEqual(page.items.map((r) => r.views), [4, 3]);

  const all = await guest.collection("notes").getFullList({ sort: "views", batch: 2 });
  assert.deepEqual(all.map((r) => r.title), titles);

  for (const title of titles) {
    const found = await guest.collection("notes").getFirstListItem(guest.filter("title = {:title}", { title }));
    assert.equal(found.title, title, "pb.filter binds quotes and injection attempts as plain values");
  }
  await assert.rejects(guest.collection("notes").getFirstListItem('title = "nobody"'), (err) => err.status === 404);

  const skip = await guest.collection("notes").getList(1, 10, { skipTotal: true });
  assert.equal(skip.totalItems, -1);
});

test("bad filters and locked collections", async () => {
  await assert.rejects(guest.collection("notes").getList(1, 10, { filter: "nope = 1" }), (err) => err.status === 400);
  await assert.rejects(guest.collection("notes").getList(1, 10, { filter: "@request.auth.id != ''" }), (err) => err.status === 403);
  await assert.rejects(guest.collection("missing").getList(), (err) => err.status === 404);
  await assert.rejects(guest.collection("_superusers").getList(), (err) => err.status === 403);
});

test("health", async () => {
  const health = await guest.health.check();
  assert.equal(health.code, 200);
  assert.equal(health.message, "API is healthy.");
});

test("createBatch: create, update, upsert and delete in one transaction", async () => {
  const batch = guest.createBatch();
  batch.collection("notes").create({ id: "sdkbatch0000001", title: "batched" });
  batch.collection("notes").update("sdkbatch0000001", { "views+": 3 });
  batch.collection("notes").upsert({ id: "sdkbatch0000002", title: "upserted" });
  batch.collection("notes").upsert({ id: "sdkbatch0000002", title: "upserted again" });
  const results = await batch.send();
  assert.equal(results.length, 4);
  assert.deepEqual(
    results.map((r) => r.status),
    [200, 200, 200, 200],
  );
  assert.equal(results[1].body.views, 3);
  assert.equal(results[3].body.title, "upserted again");
  const stored = await guest.collection("notes").getOne("sdkbatch0000002");
  assert.equal(stored.title, "upserted again");

  // deleteRule is null: the whole batch fails, naming the item, and nothing is kept.
  const failing = guest.createBatch();
  failing.collection("notes").create({ id: "sdkbatch0000003", title: "rolled back" });
  failing.collection("notes").delete("sdkbatch0000001");
  await assert.rejects(failing.send(), (err) => {
    assert.ok(err instanceof ClientResponseError);
    assert.equal(err.status, 400);
    assert.equal(err.response.message, "Batch transaction failed.");
    assert.equal(err.response.data.requests["1"].code, "batch_request_failed");
    assert.equal(err.response.data.requests["1"].response.status, 403);
    return true;
  });
  await assert.rejects(guest.collection("notes").getOne("sdkbatch0000003"), (err) => err.status === 404);
});
