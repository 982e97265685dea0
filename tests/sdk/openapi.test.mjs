// GET /api/openapi.json of a real keelbase server, checked by an OpenAPI 3.1 validator
// (@seriousme/openapi-schema-validator: the OAS 3.1 schema and every $ref), its schemas
// checked against the JSON Schema 2020-12 meta-schema, and real answers checked against
// the schemas the document gives for them (Ajv).
// KEELBASE_URL, KEELBASE_ADMIN_EMAIL and KEELBASE_ADMIN_PASSWORD come from tests/sdk.rs.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import PocketBase from "pocketbase";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const url = process.env.KEELBASE_URL;
const email = process.env.KEELBASE_ADMIN_EMAIL;
const password = process.env.KEELBASE_ADMIN_PASSWORD;

const admin = new PocketBase(url);
admin.autoCancellation(false);

// Every kind of property a collection can have.
const itemSchema = {
  type: "object",
  properties: {
    title: { type: "string", minLength: 1, maxLength: 100, pattern: "^[^<>]*$", description: "Shown in lists." },
    count: { type: "integer", minimum: 0, default: 0 },
    price: { type: "number", exclusiveMinimum: 0 },
    active: { type: "boolean" },
    data: {},
    either: { type: ["string", "null"] },
    due: { type: "string", format: "date-time" },
    status: { type: "string", enum: ["draft", "live"] },
    tags: { type: "array", items: { type: "string", enum: ["a", "b", "c"] }, uniqueItems: true },
    points: { type: "array", items: { $ref: "#/$defs/point" } },
    address: {
      type: "object",
      properties: { city: { type: "string" }, geo: { $ref: "#/$defs/point" } },
      required: ["city"],
      additionalProperties: false,
    },
    tree: { $ref: "#node" },
    shape: { oneOf: [{ type: "string" }, { type: "object", properties: { kind: { const: "circle" } } }] },
    owner: { type: "string", "x-relation": { collection: "oa_people" } },
    watchers: { type: "array", items: { type: "string" }, "x-relation": { collection: "oa_people" } },
    parent: { type: "string", "x-relation": { collection: "oa_items" } },
    cover: { type: "string", "x-file": { maxSize: 1048576, mimeTypes: ["image/png"] } },
    internal: { type: "string", "x-hidden": true },
    stamp: { type: "string", "x-autodate": "create" },
  },
  required: ["title"],
  additionalProperties: false,
  $defs: {
    point: { type: "object", properties: { x: { type: "number" }, y: { type: "number" } }, required: ["x", "y"] },
    node: {
      $anchor: "node",
      type: "object",
      properties: { label: { type: "string" }, children: { type: "array", items: { $ref: "#node" } } },
    },
  },
};

before(async () => {
  await admin.collection("_superusers").authWithPassword(email, password);
  const open = { listRule: "", viewRule: "", createRule: "", updateRule: "", deleteRule: "" };
  await admin.collections.create({
    name: "oa_people",
    ...open,
    schema: { type: "object", properties: { name: { type: "string" } } },
  });
  await admin.collections.create({ name: "oa_items", ...open, schema: itemSchema });
  await admin.collections.create({
    name: "oa_item_stats",
    type: "view",
    listRule: "",
    viewRule: "",
    viewQuery: "SELECT id, title, count, tags FROM oa_items",
  });
  await admin.collections.create({
    name: "oa_members",
    type: "auth",
    listRule: "id = @request.auth.id",
    viewRule: "id = @request.auth.id",
    schema: { type: "object", properties: { nickname: { type: "string", maxLength: 40 } } },
  });
  await admin.collections.create({
    name: "oa_locked",
    schema: { type: "object", properties: { secret: { type: "string" } } },
  });
});

async function openapi(token) {
  const res = await fetch(new URL("/api/openapi.json", url), {
    headers: token ? { Authorization: token } : {},
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json");
  return res.json();
}

async function assertValidOpenApi(doc) {
  const validator = new Validator();
  const result = await validator.validate(doc);
  assert.ok(result.valid, `invalid OpenAPI document:\n${JSON.stringify(result.errors, null, 2)}`);
  assert.equal(validator.version, "3.1");
}

const BASE = "https://keelbase.invalid/openapi.json";

// Ajv over the document's schemas: `#/components/...` pointers and anchors resolve in the
// document, added as one schema resource.
function schemaValidators(doc) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addFormat("password", true);
  ajv.addSchema({ $id: BASE, components: doc.components });
  return (name) => {
    const validate = ajv.getSchema(`${BASE}#/components/schemas/${name}`);
    assert.ok(validate, `schema ${name}`);
    return (value) =>
      assert.ok(validate(value), `${name} rejects ${JSON.stringify(value)}:\n${JSON.stringify(validate.errors, null, 2)}`);
  };
}

test("the document is valid OpenAPI 3.1, for guests and superusers", async () => {
  const guest = await openapi();
  const superuser = await openapi(admin.authStore.token);
  await assertValidOpenApi(guest);
  await assertValidOpenApi(superuser);
  for (const name of ["oa_items", "oa_people", "oa_members", "oa_item_stats"]) {
    assert.ok(guest.paths[`/api/collections/${name}/records`], name);
  }
  assert.equal(guest.paths["/api/collections/oa_locked/records"], undefined, "superusers only");
  assert.ok(superuser.paths["/api/collections/oa_locked/records"]);
  assert.equal(guest.paths["/api/collections/oa_item_stats/records"].post, undefined, "views are read-only");
  assert.equal(guest.components.schemas.Oa_itemsRecord.properties.internal, undefined);
  assert.equal(superuser.components.schemas.Oa_itemsRecord.properties.internal["x-hidden"], true);
});

test("every schema is a valid JSON Schema 2020-12", async () => {
  const ajv = new Ajv2020({ strict: false });
  for (const doc of [await openapi(), await openapi(admin.authStore.token)]) {
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      assert.ok(ajv.validateSchema(schema), `${name}: ${ajv.errorsText(ajv.errors)}`);
    }
  }
});

// A create whose failure shows the field errors.
async function create(collection, body, options) {
  try {
    return await admin.collection(collection).create(body, options);
  } catch (err) {
    throw new Error(`create in ${collection} failed: ${JSON.stringify(err.response)}`);
  }
}

test("answers match the schemas the document gives for them", async () => {
  const doc = await openapi(admin.authStore.token);
  const check = schemaValidators(doc);
  const person = await create("oa_people", { name: "Ada" });
  check("Oa_peopleRecord")(person);

  const full = await create("oa_items", {
    title: "Full",
    count: 3,
    price: 9.5,
    active: true,
    data: { any: ["thing", 1] },
    either: null,
    due: "2026-03-04T05:06:07Z",
    status: "live",
    tags: ["a", "c"],
    points: [{ x: 1, y: 2 }],
    address: { city: "Oslo", geo: { x: 10.7, y: 59.9 } },
    tree: { label: "root", children: [{ label: "leaf", children: [] }] },
    shape: { kind: "circle" },
    owner: person.id,
    watchers: [person.id],
    internal: "for superusers",
  });
  check("Oa_itemsRecord")(full);
  check("Oa_itemsCreate")({ title: "Full", status: "live", tags: ["a"], owner: person.id });

  // Unset properties read as their zero values ("" for a date, null for an object).
  const bare = await create("oa_items", { title: "Bare", parent: full.id }, { expand: "parent,owner" });
  assert.equal(bare.due, "");
  assert.equal(bare.address, null);
  check("Oa_itemsRecord")(bare);

  const list = await admin.collection("oa_items").getList(1, 10, { expand: "owner,watchers,parent" });
  check("Oa_itemsList")(list);
  check("Oa_item_statsList")(await admin.collection("oa_item_stats").getList(1, 10));
  check("Oa_membersList")(await admin.collection("oa_members").getList(1, 10));

  const res = await fetch(new URL("/api/collections/oa_items/records", url), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ title: "" }),
  });
  assert.equal(res.status, 400);
  check("ApiError")(await res.json());

  const auth = await fetch(new URL("/api/collections/_superusers/auth-with-password", url), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ identity: email, password }),
  });
  check("SuperuserAuth")(await auth.json());
  const health = await fetch(new URL("/api/health", url));
  check("Health")(await health.json());
});

test("the document changes with the collections", async () => {
  const before = await openapi(admin.authStore.token);
  assert.equal(before.components.schemas.Oa_peopleRecord.properties.age, undefined);
  await admin.collections.update("oa_people", {
    schema: { type: "object", properties: { name: { type: "string" }, age: { type: "integer" } } },
  });
  const after = await openapi(admin.authStore.token);
  assert.deepEqual(after.components.schemas.Oa_peopleRecord.properties.age, { type: "integer" });
  await assertValidOpenApi(after);
});
