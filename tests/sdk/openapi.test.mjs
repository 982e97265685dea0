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
    createRule: "",
    updateRule: "id = @request.auth.id",
    schema: { type: "object", properties: { nickname: { type: "string", maxLength: 40 } } },
  });
  await admin.collections.create({
    name: "oa_locked",
    schema: { type: "object", properties: { secret: { type: "string" } } },
  });
  await admin.collections.create({
    name: "oa_staff",
    type: "auth",
    schema: { type: "object", properties: { badge: { type: "string" } } },
  });
});

// The auth endpoints of a user auth collection, as paths under it.
const AUTH_ACTIONS = [
  "auth-with-password",
  "auth-refresh",
  "auth-methods",
  "impersonate/{id}",
  "request-verification",
  "confirm-verification",
  "request-password-reset",
  "confirm-password-reset",
  "request-email-change",
  "confirm-email-change",
];

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
// document, added as one schema resource. `name` is a component schema's name, or a JSON
// pointer ("#/…") to a schema anywhere in the document.
function schemaValidators(doc) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addFormat("password", true);
  ajv.addSchema({ $id: BASE, components: doc.components, paths: doc.paths });
  return (name) => {
    const pointer = name.startsWith("#") ? name : `#/components/schemas/${name}`;
    const validate = ajv.getSchema(`${BASE}${pointer}`);
    assert.ok(validate, `schema ${name}`);
    return (value) =>
      assert.ok(validate(value), `${name} rejects ${JSON.stringify(value)}:\n${JSON.stringify(validate.errors, null, 2)}`);
  };
}

const pointerSegment = (key) => encodeURIComponent(key.replaceAll("~", "~0").replaceAll("/", "~1"));

// Check `value`, the answer of `method path` with `status`, against the schema the document
// gives for that answer (following a `#/components/responses/…` reference).
function answerChecker(doc) {
  const check = schemaValidators(doc);
  return (method, path, status, value) => {
    const response = doc.paths[path]?.[method]?.responses?.[status];
    assert.ok(response, `${method} ${path} documents ${status}`);
    const at = response.$ref ?? ["#", ...["paths", path, method, "responses", String(status)].map(pointerSegment)].join("/");
    assert.ok(!response.$ref || response.$ref.startsWith("#/components/responses/"), response.$ref);
    const resolved = response.$ref ? doc.components.responses[response.$ref.split("/").pop()] : response;
    assert.ok(resolved.content?.["application/json"]?.schema, `${method} ${path} ${status} has a JSON schema`);
    check(`${at}/content/${pointerSegment("application/json")}/schema`)(value);
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
  for (const action of AUTH_ACTIONS) {
    assert.ok(guest.paths[`/api/collections/oa_members/${action}`], action);
    assert.ok(superuser.paths[`/api/collections/oa_staff/${action}`], action);
    assert.equal(guest.paths[`/api/collections/oa_staff/${action}`], undefined, `${action}: superusers only`);
    assert.equal(guest.paths[`/api/collections/oa_items/${action}`], undefined, `${action}: not an auth collection`);
  }
  const members = guest.components.schemas.Oa_membersCreate.properties;
  assert.equal(members.password.writeOnly, true);
  assert.equal(members.passwordConfirm.writeOnly, true);
  assert.equal(members.tokenKey, undefined);
});

test("every schema is a valid JSON Schema 2020-12", async () => {
  const ajv = new Ajv2020({ strict: false });
  for (const doc of [await openapi(), await openapi(admin.authStore.token)]) {
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      assert.ok(ajv.validateSchema(schema), `${name}: ${ajv.errorsText(ajv.errors)}`);
    }
  }
});

// A JSON request; the status and the parsed answer (null for no body).
async function call(method, path, { body, token } = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = token;
  const res = await fetch(new URL(path, url), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

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
  const invalid = await res.json();
  check("ApiError")(invalid);
  check("ValidationError")(invalid);

  const auth = await fetch(new URL("/api/collections/_superusers/auth-with-password", url), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ identity: email, password }),
  });
  check("SuperuserAuth")(await auth.json());
  const health = await fetch(new URL("/api/health", url));
  check("Health")(await health.json());
});

test("auth and batch answers match the schemas the document gives for them", async () => {
  const superuser = await openapi(admin.authStore.token);
  const guest = await openapi();
  const guestSchemas = schemaValidators(guest);
  const checkers = [superuser, guest].map(answerChecker);
  const checkAll = (...args) => checkers.forEach((check) => check(...args));
  const base = "/api/collections/oa_members";
  const memberEmail = "oa-member@example.com";
  const memberPassword = "member-password-1";

  // Registration: the document's Create schema accepts the body, the answer is a record.
  const registration = {
    email: memberEmail,
    password: memberPassword,
    passwordConfirm: memberPassword,
    emailVisibility: false,
    nickname: "M",
  };
  guestSchemas("Oa_membersCreate")(registration);
  const registered = await call("POST", `${base}/records`, { body: registration });
  assert.equal(registered.status, 200, JSON.stringify(registered.body));
  // The viewRule hides the new record from its guest writer: only its id comes back.
  assert.deepEqual(Object.keys(registered.body).sort(), ["collectionId", "collectionName", "id"]);
  checkAll("post", `${base}/records`, 200, registered.body);

  const signIn = await call("POST", `${base}/auth-with-password`, {
    body: { identity: memberEmail, password: memberPassword },
  });
  assert.equal(signIn.status, 200, JSON.stringify(signIn.body));
  assert.equal(signIn.body.record.email, memberEmail);
  checkAll("post", `${base}/auth-with-password`, 200, signIn.body);
  for (const check of checkers) {
    assert.throws(() => check("post", `${base}/auth-with-password`, 200, { ...signIn.body, token: 1 }), "checks bite");
  }
  // The auth answer's record must carry the email: one without it is refused.
  const { email: _email, ...withoutEmail } = signIn.body.record;
  guestSchemas("Oa_membersRecord")(withoutEmail);
  assert.throws(() => guestSchemas("Oa_membersAuthResponse")({ ...signIn.body, record: withoutEmail }));

  const refreshed = await call("POST", `${base}/auth-refresh`, { token: signIn.body.token });
  assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
  checkAll("post", `${base}/auth-refresh`, 200, refreshed.body);
  const anonymous = await call("POST", `${base}/auth-refresh`);
  assert.equal(anonymous.status, 401);
  checkAll("post", `${base}/auth-refresh`, 401, anonymous.body);

  const methods = await call("GET", `${base}/auth-methods`);
  assert.equal(methods.status, 200);
  checkAll("get", `${base}/auth-methods`, 200, methods.body);

  const impersonated = await call("POST", `${base}/impersonate/${signIn.body.record.id}`, {
    body: { duration: 60 },
    token: admin.authStore.token,
  });
  assert.equal(impersonated.status, 200, JSON.stringify(impersonated.body));
  checkAll("post", `${base}/impersonate/{id}`, 200, impersonated.body);

  // 400s with field errors, and the wrong-credentials 400 with empty data.
  const blank = await call("POST", `${base}/auth-with-password`, { body: {} });
  assert.equal(blank.status, 400);
  assert.equal(blank.body.data.identity.code, "validation_required");
  checkAll("post", `${base}/auth-with-password`, 400, blank.body);
  const wrong = await call("POST", `${base}/auth-with-password`, {
    body: { identity: memberEmail, password: "not-the-password" },
  });
  assert.equal(wrong.status, 400);
  checkAll("post", `${base}/auth-with-password`, 400, wrong.body);
  const mismatch = await call("POST", `${base}/records`, {
    body: { email: "other@example.com", password: memberPassword, passwordConfirm: "something-else" },
  });
  assert.equal(mismatch.status, 400);
  assert.equal(mismatch.body.data.passwordConfirm.code, "validation_values_mismatch");
  checkAll("post", `${base}/records`, 400, mismatch.body);
  const badEmail = await call("POST", `${base}/request-password-reset`, { body: { email: "nope" } });
  assert.equal(badEmail.status, 400);
  checkAll("post", `${base}/request-password-reset`, 400, badEmail.body);
  const ownChange = await call("PATCH", `${base}/records/${signIn.body.record.id}`, {
    body: { password: "another-password-1", passwordConfirm: "another-password-1" },
    token: refreshed.body.token,
  });
  assert.equal(ownChange.status, 400, JSON.stringify(ownChange.body));
  assert.equal(ownChange.body.data.oldPassword.code, "validation_required");
  checkAll("patch", `${base}/records/{id}`, 400, ownChange.body);
  const changed = await call("PATCH", `${base}/records/${signIn.body.record.id}`, {
    body: { oldPassword: memberPassword, password: "another-password-1", passwordConfirm: "another-password-1", nickname: "N" },
    token: refreshed.body.token,
  });
  assert.equal(changed.status, 200, JSON.stringify(changed.body));
  assert.equal(changed.body.nickname, "N");
  checkAll("patch", `${base}/records/{id}`, 200, changed.body);

  // The superusers' own auth answers.
  const su = await call("POST", "/api/collections/_superusers/auth-refresh", { token: admin.authStore.token });
  assert.equal(su.status, 200);
  checkAll("post", "/api/collections/_superusers/auth-refresh", 200, su.body);
  checkAll("get", "/api/collections/_superusers/auth-methods", 200, (await call("GET", "/api/collections/_superusers/auth-methods")).body);

  // Batch: a success, a failing request, and an invalid batch.
  const ok = await call("POST", "/api/batch", {
    token: admin.authStore.token,
    body: {
      requests: [
        { method: "POST", url: "/api/collections/oa_people/records?fields=id,name", body: { id: "oabatchperson01", name: "B" } },
        { method: "PATCH", url: "/api/collections/oa_people/records/oabatchperson01", body: { name: "C" } },
        { method: "DELETE", url: "/api/collections/oa_people/records/oabatchperson01" },
      ],
    },
  });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.deepEqual(ok.body.map((r) => r.status), [200, 200, 204]);
  checkAll("post", "/api/batch", 200, ok.body);
  const failed = await call("POST", "/api/batch", {
    body: {
      requests: [
        { method: "POST", url: "/api/collections/oa_people/records", body: { name: "D" } },
        { method: "POST", url: "/api/collections/oa_items/records", body: { count: 1 } },
      ],
    },
  });
  assert.equal(failed.status, 400);
  assert.equal(failed.body.data.requests["1"].code, "batch_request_failed");
  checkAll("post", "/api/batch", 400, failed.body);
  for (const body of [{ requests: [] }, { requests: [{ method: "POST" }] }]) {
    const invalid = await call("POST", "/api/batch", { body });
    assert.equal(invalid.status, 400);
    checkAll("post", "/api/batch", 400, invalid.body);
  }
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
