// End-to-end test of the dashboard in headless Chromium (Debian `chromium`, driven by
// playwright-core) against a real keelbase binary. Run by `cargo test --test dashboard`, which
// starts the server and passes:
//   KEELBASE_URL          http://127.0.0.1:PORT
//   KEELBASE_INSTALL_URL  the one-time install link the server printed (optional; without it
//                         KEELBASE_ADMIN_EMAIL / KEELBASE_ADMIN_PASSWORD must already exist)
//   CHROMIUM              the browser (default /usr/bin/chromium)
//   E2E_ARTIFACTS         where screenshots go (default e2e/artifacts)
// Any console error or uncaught page error fails the run, except failed requests a step
// provokes on purpose (a bad filter answers 400) and declares with `expectFailure`.

import { chromium } from "playwright-core";
import { mkdirSync, rmSync } from "node:fs";
import { deflateSync } from "node:zlib";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const base = (process.env.KEELBASE_URL ?? "http://127.0.0.1:8090").replace(/\/$/, "");
const installUrl = process.env.KEELBASE_INSTALL_URL ?? "";
const email = process.env.KEELBASE_ADMIN_EMAIL ?? "e2e@example.com";
const password = process.env.KEELBASE_ADMIN_PASSWORD ?? "e2e-password-123";
const artifacts = process.env.E2E_ARTIFACTS ?? join(here, "artifacts");
rmSync(artifacts, { recursive: true, force: true });
mkdirSync(artifacts, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
context.setDefaultTimeout(10_000);
const page = await context.newPage();

const problems = [];
const expected = []; // {url: substring, status}
function expectFailure(url, status) {
  expected.push({ url, status, seen: false });
}
// Server bugs the run has seen and reported, tolerated (and printed) until they are fixed:
// {url, status, note, hits}.
const knownBugs = [];
function knownServerBug(url, status, note) {
  knownBugs.push({ url, status, note, hits: 0 });
}
page.on("console", (msg) => {
  if (msg.type() !== "error") return;
  const text = msg.text();
  const url = msg.location()?.url ?? "";
  const status = Number(/status of (\d+)/.exec(text)?.[1]);
  const match = expected.find((e) => !e.seen && url.includes(e.url) && e.status === status);
  const bug = knownBugs.find((b) => url.includes(b.url) && b.status === status);
  if (match) match.seen = true;
  else if (bug) bug.hits += 1;
  else problems.push(`console error: ${text} (${url})`);
});
page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
page.on("response", (res) => {
  // The CSP header must be on every dashboard page load.
  if (res.url().startsWith(`${base}/_/`) && res.request().resourceType() === "document") {
    if (!res.headers()["content-security-policy"]) problems.push(`no CSP on ${res.url()}`);
  }
});

let shot = 0;
async function screenshot(name) {
  shot += 1;
  await page.screenshot({ path: join(artifacts, `${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
}

const steps = [];
function step(name, fn) {
  steps.push({ name, fn });
}

const byTestId = (id) => page.getByTestId(id);
const collectionLink = (name) => page.locator(`aside a[href="#/collections/${name}"]`);
const dialog = () => page.locator("dialog[open]");
async function expectVisible(locator, what) {
  try {
    await locator.first().waitFor({ state: "visible" });
  } catch {
    throw new Error(`not visible: ${what}`);
  }
}
async function expectGone(locator, what) {
  try {
    await locator.first().waitFor({ state: "hidden" });
  } catch {
    throw new Error(`still visible: ${what}`);
  }
}
async function api(path, init = {}) {
  const token = await page.evaluate(() => JSON.parse(localStorage.getItem("keelbase_admin_session") ?? "null")?.token);
  const res = await fetch(base + path, {
    ...init,
    headers: { "content-type": "application/json", ...(token ? { authorization: token } : {}), ...(init.headers ?? {}) },
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

// Add a field in the builder: type, then name; returns the new field card.
async function addField(type, name) {
  const d = dialog();
  await d.getByTestId("add-field-type").selectOption(type);
  await d.getByTestId("add-field").click();
  const card = d.locator("[data-testid^='field-']").filter({ has: page.getByTestId("field-name") }).last();
  await card.getByTestId("field-name").fill(name);
  return card;
}

// A real PNG (an RGB gradient) the server can sniff and thumbnail.
function png(width, height) {
  const table = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = table[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) {
      raw[row + 1 + x * 3] = (x * 255) / width;
      raw[row + 2 + x * 3] = (y * 255) / height;
      raw[row + 3 + x * 3] = 160;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}
const pngFile = (name, w = 160, h = 120) => ({ name, mimeType: "image/png", buffer: png(w, h) });

/** Whether an <img> has loaded a real picture. */
async function loadedImage(locator, what) {
  await expectVisible(locator, what);
  const ok = await locator.first().evaluate(async (img) => {
    if (!img.complete) await new Promise((r) => img.addEventListener("load", r, { once: true }));
    return img.naturalWidth > 0;
  });
  if (!ok) throw new Error(`image did not load: ${what}`);
}

// ---------------------------------------------------------------------------------------

step("the install link creates the first superuser and signs in", async () => {
  if (!installUrl) {
    await page.goto(`${base}/_/`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expectVisible(page.getByRole("heading", { name: "users" }), "the users collection opens first");
    return;
  }
  await page.goto(installUrl);
  await expectVisible(page.getByRole("heading", { name: "Create the first superuser" }), "install page");
  await screenshot("install");
  // A mismatched confirmation is refused by the server, shown on the field.
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByLabel("Confirm password").fill("something-else-1");
  expectFailure("/api/install", 400);
  await page.getByRole("button", { name: /Create superuser/ }).click();
  await expectVisible(page.getByText("Values don't match."), "passwordConfirm error");
  await page.getByLabel("Confirm password").fill(password);
  await page.getByRole("button", { name: /Create superuser/ }).click();
  await expectVisible(page.getByRole("heading", { name: "users" }), "the users collection opens first");
  await screenshot("collections-empty");
});

step("the session survives a reload; logout and login work", async () => {
  await page.reload();
  await expectVisible(page.getByRole("heading", { name: "users" }), "still signed in after reload");
  await expectVisible(page.getByText(email), "email in the top bar");
  await byTestId("logout").click();
  await expectVisible(page.getByRole("heading", { name: "Superuser login" }), "login page");
  // Wrong password: the server's message, inline.
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("wrong-password");
  expectFailure("auth-with-password", 400);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expectVisible(page.getByText("Failed to authenticate."), "login error");
  await screenshot("login-error");
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expectVisible(page.getByRole("heading", { name: "users" }), "signed in again");
  await page.reload();
  await expectVisible(page.getByRole("heading", { name: "users" }), "still signed in (token refreshed)");
});

step("superusers: create and delete", async () => {
  await page.getByRole("link", { name: "Superusers" }).click();
  await expectVisible(byTestId("superusers-table").getByText(email), "own row");
  await byTestId("new-superuser").click();
  await dialog().getByLabel("Email").fill("second@example.com");
  await dialog().getByLabel("Password", { exact: true }).fill("second-password-1");
  await dialog().getByLabel("Confirm password").fill("second-password-1");
  await byTestId("save-superuser").click();
  await expectVisible(byTestId("superusers-table").getByText("second@example.com"), "new superuser row");
  await screenshot("superusers");
  await byTestId("delete-superuser-second@example.com").click();
  await byTestId("delete-superuser-second@example.com").click();
  await expectGone(byTestId("superusers-table").getByText("second@example.com"), "deleted superuser");
});

step("build a tags collection and a posts collection with the visual builder", async () => {
  await page.getByRole("link", { name: "Collections" }).click();
  await byTestId("new-collection").first().click();
  await dialog().getByTestId("collection-name").fill("tags");
  const label = await addField("text", "label");
  await label.getByLabel("Required").check();
  await byTestId("save-collection").click();
  await expectGone(dialog(), "editor closed");
  await expectVisible(page.getByRole("heading", { name: "tags" }), "tags records page");

  await byTestId("new-collection").click();
  await dialog().getByTestId("collection-name").fill("posts");
  const title = await addField("text", "title");
  await title.getByLabel("Required").check();
  await title.getByTestId("field-options").click();
  await title.getByTestId("field-max").fill("200");
  await addField("integer", "views");
  await addField("boolean", "published");
  const status = await addField("select", "status");
  await status.getByTestId("field-options").click();
  await status.getByTestId("field-values").fill("draft, live");
  await status.getByTestId("field-values").press("Tab");
  const tags = await addField("relation", "tags");
  await tags.getByTestId("field-multiple").check();
  await tags.getByTestId("field-options").click();
  await tags.getByTestId("field-collection").selectOption("tags");
  await tags.getByTestId("field-cascade").check();
  const cover = await addField("file", "cover");
  await cover.getByTestId("field-options").click();
  await cover.getByLabel(/MIME types/).fill("image/png, image/jpeg");
  await cover.getByLabel(/MIME types/).press("Tab");
  await cover.getByLabel("Thumb sizes").fill("100x100");
  await cover.getByLabel("Thumb sizes").press("Tab");
  await addField("date", "due");
  await addField("object", "meta");

  // The builder wrote the JSON Schema beside it.
  const raw = JSON.parse(await byTestId("raw-schema").inputValue());
  const want = {
    title: { type: "string", maxLength: 200 },
    views: { type: "integer" },
    published: { type: "boolean" },
    status: { type: "string", enum: ["draft", "live"] },
    tags: { type: "array", items: { type: "string" }, "x-relation": { collection: "tags", cascadeDelete: true } },
    cover: { type: "string", "x-file": { mimeTypes: ["image/png", "image/jpeg"], thumbs: ["100x100"] } },
    due: { type: "string", format: "date-time" },
    meta: { type: "object" },
  };
  if (JSON.stringify(raw.properties) !== JSON.stringify(want) || JSON.stringify(raw.required) !== '["title"]') {
    throw new Error(`builder wrote ${JSON.stringify(raw)}`);
  }
  // …and editing the raw JSON Schema updates the builder.
  raw.properties.summary = { type: "string", maxLength: 500 };
  await byTestId("raw-schema").fill(JSON.stringify(raw, null, 2));
  await expectVisible(dialog().locator("input[data-testid='field-name']").nth(8), "ninth field card");
  if ((await dialog().locator("input[data-testid='field-name']").nth(8).inputValue()) !== "summary") {
    throw new Error("the raw edit did not reach the builder");
  }
  await screenshot("collection-builder");
  // Rules: a bad one shows the server's error, then the fixed one saves.
  await byTestId("tab-rules").click();
  await page.keyboard.press("ArrowRight");
  await expectVisible(page.locator("#tab-indexes[aria-selected='true']:focus"), "arrow keys move between tabs");
  await page.keyboard.press("ArrowLeft");
  await expectVisible(page.locator("#tab-rules[aria-selected='true']:focus"), "back on the rules tab");
  for (const rule of ["listRule", "viewRule"]) await byTestId(`rule-${rule}-locked`).uncheck();
  await page.locator("#rule-listRule").fill("title ~ 'a' &&");
  expectFailure("/api/collections", 400);
  await byTestId("save-collection").click();
  await expectVisible(byTestId("rule-listRule-error"), "the rule's error");
  await screenshot("rule-error");
  await page.locator("#rule-listRule").fill("");
  await page.locator("#rule-listRule").type("vie");
  await expectVisible(dialog().getByRole("button", { name: "views", exact: true }), "field-name completion");
  await dialog().getByRole("button", { name: "views", exact: true }).click();
  await page.locator("#rule-listRule").type(">= 0");
  await byTestId("save-collection").click();
  await expectGone(dialog(), "editor closed");
  await expectVisible(page.getByRole("heading", { name: "posts" }), "posts records page");
  const saved = await api("/api/collections/posts");
  if (saved.body.listRule !== "views >= 0" || saved.body.viewRule !== "") throw new Error(`rules saved as ${JSON.stringify(saved.body)}`);
  if (!saved.body.schema.properties.summary) throw new Error("summary from the raw editor was not saved");
});

step("records: add, edit, filter, sort, delete", async () => {
  // A tag to relate to.
  await collectionLink("tags").click();
  await expectVisible(page.getByText("No records yet"), "empty tags");
  await byTestId("new-record").click();
  await dialog().getByLabel(/^label/).fill("news");
  await byTestId("save-record").click();
  await expectVisible(byTestId("records-table").getByText("news"), "tag row");

  await collectionLink("posts").click();
  await expectVisible(page.getByText("No records yet"), "empty posts");
  await byTestId("new-record").click();
  // Required title missing: the server's field error shows on the field.
  expectFailure("/api/collections/posts/records", 400);
  await byTestId("save-record").click();
  await expectVisible(dialog().locator("[data-field='title'] .error-text"), "required title error");
  await dialog().getByLabel(/^title/).fill("Hello");
  await dialog().getByLabel(/^views/).fill("3");
  await dialog().getByLabel("published").check();
  await dialog().getByLabel(/^status/).selectOption("draft");
  await dialog().getByLabel(/^due/).fill("2026-12-24T18:30:00");
  await dialog().getByLabel(/^meta/).fill('{"lang": "en"}');
  await dialog().locator("#f-tags").fill("news");
  await dialog().getByRole("button", { name: "Find" }).click();
  await dialog().getByRole("button", { name: /news/ }).click();
  await screenshot("record-form");
  await byTestId("save-record").click();
  await expectGone(dialog(), "record form closed");
  await expectVisible(byTestId("records-table").getByText("Hello"), "new record row");
  await expectVisible(byTestId("records-table").getByText("news", { exact: true }), "the relation cell shows the tag's label");
  const list = await api("/api/collections/posts/records");
  const rec = list.body.items[0];
  if (rec.views !== 3 || rec.published !== true || rec.tags.length !== 1 || rec.meta.lang !== "en" || !rec.due.startsWith("2026-12-24 18:30:00")) {
    throw new Error(`record saved as ${JSON.stringify(rec)}`);
  }

  // Edit it.
  await byTestId("records-table").getByRole("button", { name: `Open record ${rec.id}` }).click();
  await expectVisible(dialog().locator(".chip", { hasText: "news" }), "the chosen tag's label in the picker");
  await dialog().getByLabel(/^title/).fill("Hello world");
  await dialog().getByLabel(/^views/).fill("7");
  await byTestId("save-record").click();
  await expectVisible(byTestId("records-table").getByText("Hello world"), "edited row");

  // Live: records created, updated and deleted through the API (not the UI) show up in the
  // open table through the realtime feed, without a reload.
  await page.evaluate(() => (window.__noReload = true));
  const live = await api("/api/collections/posts/records", { method: "POST", body: JSON.stringify({ title: "Live one", views: 2 }) });
  if (live.status !== 200) throw new Error(`live create: ${live.status}`);
  await expectVisible(byTestId("records-table").locator("tr", { hasText: "Live one" }), "API-created row appears live");
  await expectVisible(page.getByText("2 records"), "live count");
  await api(`/api/collections/posts/records/${live.body.id}`, { method: "PATCH", body: JSON.stringify({ title: "Live edited", views: 4 }) });
  await expectVisible(byTestId("records-table").locator("tr", { hasText: "Live edited" }), "API-updated row changes live");
  await expectGone(byTestId("records-table").getByText("Live one"), "old title gone");
  await api(`/api/collections/posts/records/${live.body.id}`, { method: "DELETE" });
  await expectGone(byTestId("records-table").getByText("Live edited"), "API-deleted row goes live");
  await expectVisible(page.getByText("1 record", { exact: true }), "live count after delete");
  if (!(await page.evaluate(() => window.__noReload))) throw new Error("the page reloaded");
  // A create the page cannot place (a filter is on) offers a refresh instead.
  await page.getByLabel("Filter records").fill("views > 5");
  await page.getByLabel("Filter records").press("Enter");
  await expectVisible(byTestId("records-table").getByText("Hello world"), "filtered table shows the row");
  const other = await api("/api/collections/posts/records", { method: "POST", body: JSON.stringify({ title: "Live filtered", views: 9 }) });
  await expectVisible(byTestId("new-records"), "new records notice");
  await byTestId("new-records").getByRole("button", { name: "Refresh" }).click();
  await expectVisible(byTestId("records-table").getByText("Live filtered"), "refreshed with the new record");
  await expectGone(byTestId("new-records"), "notice gone after refresh");
  await api(`/api/collections/posts/records/${other.body.id}`, { method: "DELETE" });
  await expectGone(byTestId("records-table").getByText("Live filtered"), "deleted live in a filtered table");
  await page.getByRole("button", { name: "Clear", exact: true }).click();
  await expectGone(page.getByRole("button", { name: "Clear", exact: true }), "filter cleared");

  // A second record (through the API) to sort and filter.
  await api("/api/collections/posts/records", { method: "POST", body: JSON.stringify({ title: "Another", views: 1 }) });
  await page.reload();
  await expectVisible(byTestId("records-table").getByText("Another"), "API-created row after reload");
  await byTestId("records-table").getByRole("button", { name: /^views/ }).click();
  await expectVisible(page.locator("th[aria-sort='ascending']"), "sorted column");
  await expectVisible(byTestId("records-table").locator("tbody tr:first-child", { hasText: "Another" }), "ascending views first");
  await byTestId("records-table").getByRole("button", { name: /^views/ }).click();
  await expectVisible(page.locator("th[aria-sort='descending']"), "sorted descending");
  await expectVisible(byTestId("records-table").locator("tbody tr:first-child", { hasText: "Hello world" }), "descending views first");
  await page.getByLabel("Filter records").fill("vi");
  await expectVisible(page.getByRole("group", { name: "Field names" }).getByRole("button", { name: "views" }), "filter completion");
  await page.getByLabel("Filter records").press("Tab");
  if ((await page.getByLabel("Filter records").inputValue()) !== "views ") throw new Error("Tab did not complete the field name");
  await page.getByLabel("Filter records").fill("views > 5");
  await page.getByLabel("Filter records").press("Enter");
  await expectGone(byTestId("records-table").getByText("Another"), "filtered out");
  await page.getByLabel("Filter records").fill("Anoth");
  await page.getByLabel("Filter records").press("Enter");
  await expectVisible(byTestId("records-table").getByText("Another"), "plain-word search");
  await expectGone(byTestId("records-table").getByText("Hello world"), "search excludes");
  expectFailure("/api/collections/posts/records", 400);
  await page.getByLabel("Filter records").fill("views >");
  await page.getByLabel("Filter records").press("Enter");
  await expectVisible(byTestId("filter-error"), "inline filter error");
  await screenshot("filter-error");
  await page.getByRole("button", { name: "Clear", exact: true }).click();
  await expectVisible(byTestId("records-table").getByText("Hello world"), "cleared filter");
  await screenshot("records");

  // API preview of the collection.
  await byTestId("api-preview").click();
  await expectVisible(dialog().getByText("curl -X POST", { exact: false }), "curl example");
  await expectVisible(dialog().getByText('pb.collection("posts").getList', { exact: false }), "SDK example");
  await screenshot("api-preview");
  await page.keyboard.press("Escape");
  await expectGone(dialog(), "preview closed");

  // Delete one from its form, the other by bulk selection.
  const row = byTestId("records-table").locator("tr", { hasText: "Hello world" });
  await row.getByRole("button", { name: /Open record/ }).click();
  await byTestId("delete-record").click();
  await byTestId("delete-record").click();
  await expectGone(dialog(), "form closed after delete");
  await expectGone(byTestId("records-table").getByText("Hello world"), "deleted row");
  await page.getByLabel("Select all on this page").check();
  await byTestId("delete-selected").click();
  await byTestId("delete-selected").click();
  await expectVisible(page.getByText("No records yet"), "empty after delete");
});

step("files: upload an image and see its thumbnail, a wrong type is refused, remove it", async () => {
  await expectVisible(page.getByText("No records yet"), "empty posts");
  await byTestId("new-record").click();
  await dialog().getByLabel(/^title/).fill("With a cover");
  // A text file where only PNG and JPEG are allowed: the server sniffs it and refuses.
  await byTestId("file-input-cover").setInputFiles({ name: "notes.png", mimeType: "image/png", buffer: Buffer.from("just some text\n") });
  await expectVisible(dialog().locator("[data-new-file='notes.png']"), "picked file listed");
  expectFailure("/api/collections/posts/records", 400);
  await byTestId("save-record").click();
  await expectVisible(dialog().locator("[data-field='cover'] .error-text", { hasText: "mime type must be one of" }), "the server's mime type error");
  await screenshot("file-type-error");
  // A real PNG: a local preview first, then the server's thumbnail after saving.
  await byTestId("file-input-cover").setInputFiles(pngFile("My Photo.png"));
  await loadedImage(dialog().locator("[data-new-file='My Photo.png'] img"), "local preview");
  if (await dialog().locator("[data-new-file='notes.png']").count()) throw new Error("a single file field kept two picks");
  await byTestId("save-record").click();
  await expectGone(dialog(), "record form closed");
  const cell = byTestId("records-table").locator("tr", { hasText: "With a cover" }).locator("img[src*='thumb=100x100']");
  await loadedImage(cell, "thumbnail in the table");
  let rec = (await api("/api/collections/posts/records")).body.items[0];
  if (!/^my_photo_[a-z0-9]{10}\.png$/.test(rec.cover)) throw new Error(`cover stored as ${JSON.stringify(rec.cover)}`);
  const thumb = await fetch(`${base}/api/files/${rec.collectionId}/${rec.id}/${rec.cover}?thumb=100x100`);
  if (thumb.status !== 200 || thumb.headers.get("content-type") !== "image/png") throw new Error(`thumb answered ${thumb.status}`);
  // The form shows the stored file's thumbnail; removing it clears the property.
  await byTestId("records-table").getByRole("button", { name: `Open record ${rec.id}` }).click();
  await loadedImage(dialog().locator(`[data-file='${rec.cover}'] img[src*='thumb=100x100']`), "thumbnail in the form");
  await expectVisible(dialog().getByRole("link", { name: "my_photo.png" }), "link to the file");
  const dl = await dialog().getByRole("link", { name: `Download ${rec.cover}` }).getAttribute("href");
  const dlRes = await fetch(base + dl);
  if (dlRes.status !== 200 || !/^attachment/.test(dlRes.headers.get("content-disposition") ?? "")) throw new Error(`download link ${dl}: ${dlRes.status}`);
  await screenshot("record-file");
  await dialog().getByRole("button", { name: `Remove ${rec.cover}` }).click();
  await expectVisible(dialog().getByText("Removed on save:"), "removal pending");
  await byTestId("save-record").click();
  await expectGone(dialog(), "record form closed after removing");
  rec = (await api(`/api/collections/posts/records/${rec.id}`)).body;
  if (rec.cover !== "") throw new Error(`cover after removal: ${JSON.stringify(rec.cover)}`);
  await expectGone(byTestId("records-table").locator("img"), "no thumbnail after removal");
  await api(`/api/collections/posts/records/${rec.id}`, { method: "DELETE" });

  // A multiple file property: append, too many, remove one and add another.
  const created = await api("/api/collections", {
    method: "POST",
    body: JSON.stringify({
      name: "albums",
      type: "base",
      schema: {
        type: "object",
        properties: {
          name: { type: "string" },
          photos: { type: "array", items: { type: "string" }, maxItems: 2, "x-file": { mimeTypes: ["image/png"] } },
          doc: { type: "string", "x-file": { protected: true, maxSize: 64 } },
        },
      },
    }),
  });
  if (created.status !== 200) throw new Error(`albums: ${JSON.stringify(created.body)}`);
  await page.reload();
  await collectionLink("albums").click();
  await byTestId("new-record").click();
  await dialog().getByLabel(/^name/).fill("Trip");
  await byTestId("file-input-photos").setInputFiles([pngFile("one.png"), pngFile("two.png", 90, 90)]);
  // Over the property's 64-byte maxSize: cut off while streaming, the field says so.
  await byTestId("file-input-doc").setInputFiles({ name: "big.txt", mimeType: "text/plain", buffer: Buffer.alloc(200, "a") });
  expectFailure("/api/collections/albums/records", 400);
  await byTestId("save-record").click();
  await expectVisible(dialog().locator("[data-field='doc'] .error-text"), "file size error");
  const sizeError = await dialog().locator("[data-field='doc'] .error-text").textContent();
  if (!/size|large|limit|64/i.test(sizeError)) throw new Error(`size error reads ${sizeError}`);
  await byTestId("file-input-doc").setInputFiles({ name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("protected notes\n") });
  await byTestId("save-record").click();
  await expectGone(dialog(), "album saved");
  let album = (await api("/api/collections/albums/records")).body.items[0];
  if (album.photos.length !== 2 || !album.doc) throw new Error(`album saved as ${JSON.stringify(album)}`);
  await expectVisible(byTestId("records-table").getByText("+1"), "second photo counted in the cell");
  await expectVisible(byTestId("records-table").getByText("TXT"), "a type chip for the text file");
  await byTestId("records-table").getByRole("button", { name: `Open record ${album.id}` }).click();
  await byTestId("file-input-photos").setInputFiles(pngFile("three.png"));
  expectFailure("/api/collections/albums/records/", 400);
  await byTestId("save-record").click();
  await expectVisible(dialog().locator("[data-field='photos'] .error-text"), "too many files error");
  const tooMany = await dialog().locator("[data-field='photos'] .error-text").textContent();
  if (!/maximum allowed files is 2|at most 2|too many/i.test(tooMany)) throw new Error(`too-many error reads ${tooMany}`);
  await screenshot("too-many-files");
  await dialog().getByRole("button", { name: `Remove ${album.photos[0]}` }).click();
  await byTestId("save-record").click();
  await expectGone(dialog(), "album updated");
  const kept = album.photos[1];
  album = (await api(`/api/collections/albums/records/${album.id}`)).body;
  if (album.photos.length !== 2 || album.photos[0] !== kept || !album.photos[1].startsWith("three_")) {
    throw new Error(`photos after remove + append: ${JSON.stringify(album.photos)}`);
  }
  // The protected file opens with a file token.
  await byTestId("records-table").getByRole("button", { name: `Open record ${album.id}` }).click();
  const href = await dialog().locator(`[data-file='${album.doc}'] .name a`).getAttribute("href");
  if (!/[?&]token=/.test(href)) throw new Error(`protected file link without a token: ${href}`);
  const doc = await fetch(base + href);
  if (doc.status !== 200 || (await doc.text()) !== "protected notes\n") throw new Error(`protected file with token: ${doc.status}`);
  const bare = await fetch(`${base}/api/files/${album.collectionId}/${album.id}/${album.doc}`);
  if (bare.status !== 404) throw new Error(`protected file without a token: ${bare.status}`);
  await page.keyboard.press("Escape");
  await collectionLink("posts").click();
});

step("settings: S3 file storage validation, save, test connection", async () => {
  await page.getByRole("link", { name: "Settings" }).click();
  await expectVisible(page.getByRole("heading", { name: "File storage" }), "file storage section");
  await expectVisible(byTestId("switch-note").getByText("Switching backends moves no files."), "what switching does");
  await expectVisible(page.getByText("Not on the server yet"), "the missing sections are named");
  await byTestId("s3-enabled").check();
  expectFailure("/api/settings", 400);
  await byTestId("save-settings").click();
  for (const id of ["s3-bucket", "s3-region", "s3-endpoint", "s3-accessKey", "s3-secret"]) {
    await expectVisible(page.locator(`#${id}-err`, { hasText: "Cannot be blank." }), `${id} blank error`);
  }
  await screenshot("settings-s3-errors");
  await byTestId("s3-enabled").uncheck();
  await page.getByLabel(/Force path-style/).check();
  await page.locator("#s3-bucket").fill("my-bucket");
  await byTestId("save-settings").click();
  await expectVisible(page.getByText("Saved. New uploads go to the local storage folder."), "saved");
  const got = await api("/api/settings");
  if (got.body.s3.forcePathStyle !== true || got.body.s3.bucket !== "my-bucket" || got.body.s3.enabled) throw new Error(`settings ${JSON.stringify(got.body)}`);
  expectFailure("/api/settings/test/s3", 400);
  await byTestId("test-s3").click();
  await expectVisible(byTestId("test-result").getByText("S3 storage filesystem is not enabled."), "the test's answer");
  await screenshot("settings");
  await page.reload();
  await expectVisible(page.locator("#s3-bucket"), "settings after reload");
  if ((await page.locator("#s3-bucket").inputValue()) !== "my-bucket") throw new Error("saved bucket not shown after reload");
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) throw new Error(`the settings page scrolls sideways by ${overflow}px at phone width`);
  await screenshot("phone-settings");
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.getByRole("link", { name: "Collections" }).click();
  await collectionLink("posts").click();
});

step("schema changes: rows that would break it are named; a drop is reviewed first", async () => {
  await api("/api/collections/posts/records", { method: "POST", body: JSON.stringify({ title: "Hello", meta: { k: 1 } }) });
  await page.reload();
  await expectVisible(byTestId("records-table").getByText("Hello"), "row to violate");
  await byTestId("edit-collection").click();
  const title = dialog().locator("[data-testid^='field-']").filter({ has: page.locator("input[data-testid='field-name']") }).first();
  await title.getByTestId("field-options").click();
  await title.getByTestId("field-max").fill("2");
  expectFailure("/api/collections/", 400);
  await byTestId("save-collection").click();
  await expectVisible(byTestId("collection-error").getByText(/would violate/), "violating rows named");
  await screenshot("schema-violation");
  await title.getByTestId("field-max").fill("200");
  await dialog().getByRole("button", { name: "Remove summary" }).click();
  const names = dialog().locator("input[data-testid='field-name']");
  const metaIndex = (await names.evaluateAll((els) => els.map((e) => e.value))).indexOf("meta");
  await names.nth(metaIndex).fill("metadata");
  await expectVisible(dialog().getByText("renamed from meta"), "rename badge");
  await byTestId("save-collection").click();
  await expectVisible(byTestId("schema-review").getByText("Drops"), "drop reviewed");
  await expectVisible(byTestId("schema-review").getByText("values are kept"), "rename reviewed");
  await screenshot("schema-review");
  await byTestId("confirm-schema-change").click();
  await expectGone(dialog(), "editor closed");
  const saved = await api("/api/collections/posts");
  if (saved.body.schema.properties.summary) throw new Error("summary was not dropped");
  // Every reader answers with the new columns at once (a server bug, fixed: a cached
  // statement reported the old ones).
  for (let i = 0; i < 8; i++) {
    const again = await api("/api/collections/posts/records");
    if (again.status !== 200) throw new Error(`records list after a schema change: ${again.status}`);
  }
  const listed = await api("/api/collections/posts/records");
  const kept = listed.body.items?.[0];
  if (kept?.metadata?.k !== 1) throw new Error(`the renamed column lost its value: ${JSON.stringify(kept)}`);
});

step("dark mode, keyboard and phone width", async () => {
  await byTestId("theme-toggle").click();
  const themeAttr = await page.evaluate(() => document.documentElement.dataset.theme);
  if (themeAttr !== "dark") throw new Error(`theme is ${themeAttr}`);
  await screenshot("records-dark");
  // Keyboard: open the record form with Enter, close it with Escape.
  await byTestId("new-record").focus();
  await page.keyboard.press("Enter");
  await expectVisible(dialog(), "form opened from the keyboard");
  const focused = await page.evaluate(() => document.activeElement?.closest("dialog") !== null);
  if (!focused) throw new Error("focus did not move into the dialog");
  await page.keyboard.press("Escape");
  await expectGone(dialog(), "Escape closes the dialog");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  await expectVisible(page.getByRole("heading", { name: "posts" }), "posts at phone width");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) throw new Error(`page scrolls sideways by ${overflow}px at phone width`);
  await screenshot("phone-dark");
  await byTestId("edit-collection").click();
  await expectVisible(dialog().getByTestId("raw-schema"), "editor at phone width");
  const dialogOverflow = await page.evaluate(() => {
    const d = document.querySelector("dialog[open]");
    return d.scrollWidth - d.clientWidth;
  });
  if (dialogOverflow > 1) throw new Error(`the collection editor scrolls sideways by ${dialogOverflow}px at phone width`);
  await screenshot("phone-editor");
  await page.keyboard.press("Escape");
  // The record form with a picked file fits the phone too.
  await byTestId("new-record").click();
  await byTestId("file-input-cover").setInputFiles(pngFile("a photo with a rather long file name for a phone.png"));
  await loadedImage(dialog().locator("[data-field='cover'] img"), "preview at phone width");
  const formOverflow = await page.evaluate(() => {
    const d = document.querySelector("dialog[open]");
    return d.scrollWidth - d.clientWidth;
  });
  if (formOverflow > 1) throw new Error(`the record form scrolls sideways by ${formOverflow}px at phone width`);
  await screenshot("phone-record-file");
  await page.keyboard.press("Escape");
  await byTestId("theme-toggle").click();
  await screenshot("phone-light");
  await page.setViewportSize({ width: 1280, height: 800 });
});

step("auth collection: create a user, mail actions, impersonate; column chooser", async () => {
  await collectionLink("users").click();
  await byTestId("new-record").click();
  await dialog().locator("#f-email").fill("user1@example.com");
  await dialog().getByLabel("password", { exact: true }).fill("user-password-1");
  await dialog().getByLabel("Confirm password").fill("user-password-1");
  await dialog().getByLabel(/^name/).fill("User One");
  await byTestId("save-record").click();
  await expectGone(dialog(), "user form closed");
  await expectVisible(byTestId("records-table").getByText("user1@example.com"), "user row");
  await byTestId("records-table").getByRole("button", { name: /Open record/ }).click();
  await dialog().getByRole("button", { name: "Send password reset" }).click();
  await expectVisible(dialog().getByText("Password reset mail sent to user1@example.com."), "reset mail note");
  await dialog().getByRole("button", { name: "Impersonate" }).click();
  const token = await dialog().locator("#f-impersonate").inputValue();
  if (token.split(".").length !== 3) throw new Error(`impersonation token ${token}`);
  await screenshot("auth-record");
  await page.keyboard.press("Escape");
  await page.locator("summary", { hasText: "Columns" }).click();
  await page.getByRole("group", { name: "Shown columns" }).getByLabel("name").uncheck();
  await expectGone(page.locator("th", { hasText: /^name/ }), "name column hidden");
  await page.reload();
  await expectVisible(byTestId("records-table"), "table after reload");
  if (await page.locator("th", { hasText: /^name/ }).count()) throw new Error("hidden column came back after reload");
});

step("export and import collections as JSON", async () => {
  await page.getByRole("button", { name: "Export…" }).click();
  const exported = JSON.parse(await dialog().locator("#ie-json").inputValue());
  if (!exported.some((c) => c.name === "posts") || !exported.some((c) => c.name === "tags")) {
    throw new Error(`export holds ${exported.map((c) => c.name)}`);
  }
  await page.keyboard.press("Escape");
  await page.getByRole("button", { name: "Import…" }).click();
  const notes = { name: "notes", type: "base", schema: { type: "object", properties: { text: { type: "string" } } }, listRule: "" };
  await dialog().locator("#ie-json").fill(JSON.stringify([notes]));
  await dialog().getByRole("button", { name: "Import", exact: true }).click();
  await expectVisible(dialog().getByText("Imported 1 collection."), "import done");
  await page.keyboard.press("Escape");
  await expectVisible(collectionLink("notes"), "imported collection in the sidebar");
});

step("delete a collection", async () => {
  await collectionLink("posts").click();
  await byTestId("edit-collection").click();
  await byTestId("delete-collection").click();
  await dialog().locator("#delete-confirm-name").fill("posts");
  await byTestId("confirm-delete-collection").click();
  await expectGone(dialog(), "editor closed");
  await expectGone(collectionLink("posts"), "posts gone from the sidebar");
});

step("the OAuth2 result and mail-link pages render", async () => {
  await page.goto(`${base}/_/#/auth/oauth2-redirect-failure`);
  await expectVisible(page.getByRole("heading", { name: "Sign-in failed" }), "failure page");
  await page.goto(`${base}/_/#/auth/confirm-verification/not-a-token`);
  await expectVisible(page.getByText("This link is incomplete or damaged."), "bad mail link page");
});

// ---------------------------------------------------------------------------------------

let failed = 0;
const started = Date.now();
for (const s of steps) {
  const t = Date.now();
  try {
    await s.fn();
    console.log(`ok   ${s.name} (${Date.now() - t} ms)`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${s.name}: ${e.message}`);
    await screenshot("failure").catch(() => {});
    break;
  }
}
for (const e of expected.filter((e) => !e.seen)) {
  // The request was declared as failing on purpose but no such console error came; fine
  // unless the browser stops reporting them — not a failure of the dashboard.
  void e;
}
for (const b of knownBugs.filter((b) => b.hits)) {
  console.log(`KNOWN SERVER BUG seen ${b.hits}x (tolerated): ${b.note}`);
}
if (problems.length) {
  failed += 1;
  console.log(`FAIL console errors:\n  ${problems.join("\n  ")}`);
}
await browser.close();
console.log(`${failed ? "FAILED" : "passed"}: ${steps.length} steps in ${Date.now() - started} ms; screenshots in ${artifacts}`);
process.exit(failed ? 1 : 0);
