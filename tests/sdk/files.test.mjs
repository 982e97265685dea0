// Files through the official PocketBase JS SDK (0.28.1): create with File/Blob data,
// append with `field+`, pb.files.getURL with thumb and token, protected files.
// KEELBASE_URL, KEELBASE_ADMIN_EMAIL and KEELBASE_ADMIN_PASSWORD come from tests/sdk.rs.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import zlib from "node:zlib";
import PocketBase, { ClientResponseError } from "pocketbase";

const url = process.env.KEELBASE_URL;
const email = process.env.KEELBASE_ADMIN_EMAIL;
const password = process.env.KEELBASE_ADMIN_PASSWORD;

const admin = new PocketBase(url);
admin.autoCancellation(false);
const guest = new PocketBase(url);
guest.autoCancellation(false);

// A solid 60x40 RGB PNG, written by hand (no image library in the test).
function png(width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(width * 3, 0x80)]);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", zlib.deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

function pngSize(buf) {
  return [buf.readUInt32BE(16), buf.readUInt32BE(20)];
}

before(async () => {
  await admin.collection("_superusers").authWithPassword(email, password);
  await admin.collections.create({
    name: "albums",
    schema: {
      type: "object",
      properties: {
        title: { type: "string" },
        cover: { type: "string", "x-file": { maxSize: 100000, mimeTypes: ["image/png"], thumbs: ["30x30"] } },
        photos: { type: "array", items: { type: "string" }, maxItems: 3, "x-file": {} },
        contract: { type: "string", "x-file": { protected: true } },
      },
    },
    listRule: "",
    viewRule: "@request.auth.id != ''",
    createRule: "",
    updateRule: "",
  });
});

test("create with File and Blob, append, and getURL with thumb", async () => {
  const record = await admin.collection("albums").create({
    title: "holiday",
    cover: new File([png(60, 40)], "Cover Photo.png", { type: "image/png" }),
    photos: [new Blob(["one"]), new File(["two"], "two.txt")],
  });
  assert.match(record.cover, /^cover_photo_[a-z0-9]{10}\.png$/);
  assert.equal(record.photos.length, 2);
  assert.match(record.photos[0], /^blob_[a-z0-9]{10}\.txt$/, "a nameless Blob is `blob`, typed by content");

  const full = await fetch(admin.files.getURL(record, record.cover));
  assert.equal(full.status, 200);
  assert.equal(full.headers.get("content-type"), "image/png");
  assert.deepEqual(pngSize(Buffer.from(await full.arrayBuffer())), [60, 40]);
  const thumb = await fetch(admin.files.getURL(record, record.cover, { thumb: "30x30" }));
  assert.deepEqual(pngSize(Buffer.from(await thumb.arrayBuffer())), [30, 30]);
  const dl = await fetch(admin.files.getURL(record, record.cover, { download: true }));
  assert.match(dl.headers.get("content-disposition"), /^attachment/);

  const updated = await admin.collection("albums").update(record.id, { "photos+": new File(["three"], "three.txt") });
  assert.equal(updated.photos.length, 3);
  assert.equal(updated.photos[0], record.photos[0]);
  const text = await fetch(admin.files.getURL(updated, updated.photos[2]));
  assert.equal(await text.text(), "three");

  const removed = await admin.collection("albums").update(record.id, { "photos-": [record.photos[0]] });
  assert.deepEqual(removed.photos, updated.photos.slice(1));
});

test("PocketBase's error codes for files", async () => {
  await assert.rejects(
    admin.collection("albums").create({ cover: new File(["not a png"], "fake.png") }),
    (err) => {
      assert.ok(err instanceof ClientResponseError);
      assert.equal(err.status, 400);
      assert.equal(err.response.data.cover.code, "validation_invalid_mime_type");
      return true;
    },
  );
  await assert.rejects(
    admin.collection("albums").create({ photos: ["a", "b", "c", "d"].map((n) => new File([n], `${n}.txt`)) }),
    (err) => err.response.data.photos.code === "validation_too_many_files",
  );
});

test("protected files need a file token from pb.files.getToken", async () => {
  const record = await admin.collection("albums").create({
    title: "private",
    contract: new File(["signed"], "contract.txt"),
  });
  const plain = await fetch(admin.files.getURL(record, record.contract));
  assert.equal(plain.status, 404, "the Authorization header is not sent, and would not count");
  await assert.rejects(guest.files.getToken(), (err) => err.status === 401);
  const token = await admin.files.getToken();
  const withToken = await fetch(admin.files.getURL(record, record.contract, { token }));
  assert.equal(withToken.status, 200);
  assert.equal(await withToken.text(), "signed");
});
