import { describe, expect, it } from "vitest";
import {
  changeType,
  diffSchemas,
  isEmptyChange,
  renamesOf,
  checkFields,
  defaultToText,
  fromProperty,
  fromSchema,
  newField,
  textToDefault,
  toProperty,
  toSchema,
  type FieldModel,
  type JsonObject,
} from "./schema";

// Every shape the builder writes, as the server (src/schema/field.rs) reads it.
const canonical: JsonObject = {
  type: "object",
  properties: {
    title: { type: "string", minLength: 1, maxLength: 200, pattern: "^[A-Z]", description: "Shown in lists" },
    contact: { type: "string", format: "email" },
    site: { type: "string", format: "uri", maxLength: 500 },
    views: { type: "integer", minimum: 0, default: 0 },
    score: { type: "number", minimum: -1.5, maximum: 99.5 },
    published: { type: "boolean", default: false },
    due: { type: "string", format: "date-time" },
    status: { type: "string", enum: ["draft", "live"], default: "draft" },
    tags: { type: "array", items: { type: "string", enum: ["news", "tech"] }, uniqueItems: true, maxItems: 2 },
    meta: { type: "object" },
    anything: {},
    author: { type: "string", "x-relation": { collection: "users", cascadeDelete: false } },
    related: {
      type: "array",
      items: { type: "string" },
      minItems: 1,
      "x-relation": { collection: "posts", cascadeDelete: true },
    },
    cover: {
      type: "string",
      "x-file": { maxSize: 5242880, mimeTypes: ["image/png", "image/jpeg"], thumbs: ["100x100", "0x50t"], protected: true },
    },
    attachments: { type: "array", items: { type: "string" }, maxItems: 5, "x-file": {} },
    stamped: { type: "string", "x-autodate": "update" },
    secret: { type: "string", "x-hidden": true },
    odd: { type: ["string", "null"] },
    names: { type: "array", items: { type: "string" } },
  },
  required: ["title", "author"],
  additionalProperties: false,
};

describe("JSON Schema → form → JSON Schema", () => {
  it("gives back every property the builder writes, unchanged", () => {
    const model = fromSchema(canonical);
    expect(toSchema(model)).toEqual(canonical);
  });

  it("maps each property to the field type and options the builder shows", () => {
    const byName = Object.fromEntries(fromSchema(canonical).fields.map((f) => [f.name, f]));
    expect(byName.title).toMatchObject({ type: "text", min: 1, max: 200, pattern: "^[A-Z]", required: true });
    expect(byName.contact!.type).toBe("email");
    expect(byName.site).toMatchObject({ type: "url", max: 500 });
    expect(byName.views).toMatchObject({ type: "integer", min: 0, default: 0 });
    expect(byName.score).toMatchObject({ type: "number", min: -1.5, max: 99.5 });
    expect(byName.published).toMatchObject({ type: "boolean", default: false });
    expect(byName.due!.type).toBe("date");
    expect(byName.status).toMatchObject({ type: "select", multiple: false, values: ["draft", "live"] });
    expect(byName.tags).toMatchObject({ type: "select", multiple: true, values: ["news", "tech"], max: 2 });
    expect(byName.meta!.type).toBe("object");
    expect(byName.anything!.type).toBe("json");
    expect(byName.author).toMatchObject({ type: "relation", multiple: false, collection: "users", required: true });
    expect(byName.related).toMatchObject({ type: "relation", multiple: true, cascadeDelete: true, min: 1 });
    expect(byName.cover).toMatchObject({
      type: "file",
      multiple: false,
      maxSize: 5242880,
      mimeTypes: ["image/png", "image/jpeg"],
      thumbs: ["100x100", "0x50t"],
      protected: true,
    });
    expect(byName.attachments).toMatchObject({ type: "file", multiple: true, max: 5, maxSize: null });
    expect(byName.stamped).toMatchObject({ type: "autodate", autodate: "update" });
    expect(byName.secret).toMatchObject({ type: "text", hidden: true });
    expect(byName.odd!.type).toBe("custom");
    expect(byName.names!.type).toBe("custom");
  });

  it("keeps keywords it does not edit", () => {
    const f = fromProperty("t", { type: "string", title: "Title", readOnly: true }, false);
    expect(f.type).toBe("text");
    expect(f.extra).toEqual({ title: "Title", readOnly: true });
    expect(toProperty(f)).toEqual({ type: "string", title: "Title", readOnly: true });
  });

  it("treats shapes it cannot edit as raw schema", () => {
    for (const prop of [
      { type: "string", format: "hostname" },
      { type: "string", "x-relation": { collection: "users", onDelete: "x" } },
      { type: "array", items: { type: "integer" }, "x-file": {} },
      { type: "string", "x-autodate": "sometimes" },
      { type: "integer", minimum: "0" },
      true,
    ]) {
      const f = fromProperty("p", prop as never, false);
      expect(f.type, JSON.stringify(prop)).toBe("custom");
      expect(toProperty(f)).toEqual(prop);
    }
  });
});

describe("form → JSON Schema → form", () => {
  const field = (over: Partial<FieldModel>): FieldModel => ({ ...newField(over.type ?? "text", over.name ?? "f"), ...over });
  const cases: FieldModel[] = [
    field({ name: "a", type: "text", min: 3, max: 10, pattern: "^x", required: true, default: "xyz" }),
    field({ name: "b", type: "email", hidden: true }),
    field({ name: "c", type: "url", description: "Home page" }),
    field({ name: "d", type: "integer", min: 1, max: 5, default: 2 }),
    field({ name: "e", type: "number", max: 0.5 }),
    field({ name: "g", type: "boolean", default: true }),
    field({ name: "h", type: "date", required: true }),
    field({ name: "i", type: "select", values: ["a", "b"] }),
    field({ name: "j", type: "select", values: ["a", "b", "c"], multiple: true, min: 1, max: 2 }),
    field({ name: "k", type: "object", default: { x: 1 } }),
    field({ name: "l", type: "json" }),
    field({ name: "m", type: "relation", collection: "users", cascadeDelete: true }),
    field({ name: "n", type: "relation", collection: "tags", multiple: true, max: 3 }),
    field({ name: "o", type: "file", maxSize: 1024, mimeTypes: ["image/png"], thumbs: ["100x100"] }),
    field({ name: "q", type: "file", multiple: true, protected: true }),
    field({ name: "r", type: "autodate", autodate: "update" }),
    field({ name: "s", type: "custom", raw: { type: ["integer", "null"] } }),
  ];

  it("gives back the same fields", () => {
    const schema = toSchema({ fields: cases, extra: {} });
    expect(fromSchema(schema)).toEqual({ fields: cases, extra: {} });
  });

  it("writes required at the top level, and the x- keywords the server knows", () => {
    const schema = toSchema({ fields: cases, extra: {} }) as { required: string[]; properties: JsonObject };
    expect(schema.required).toEqual(["a", "h"]);
    expect(schema.properties.b).toEqual({ type: "string", format: "email", "x-hidden": true });
    expect(schema.properties.m).toEqual({ type: "string", "x-relation": { collection: "users", cascadeDelete: true } });
    expect(schema.properties.q).toEqual({ type: "array", items: { type: "string" }, "x-file": { protected: true } });
    expect(schema.properties.r).toEqual({ type: "string", "x-autodate": "update" });
  });

  it("an empty builder is an empty object schema", () => {
    expect(toSchema({ fields: [], extra: {} })).toEqual({ type: "object", properties: {} });
    expect(fromSchema(undefined)).toEqual({ fields: [], extra: {} });
  });
});

describe("builder helpers", () => {
  it("changing the type keeps the name and flags and drops options that no longer apply", () => {
    const f = { ...newField("text", "title"), required: true, min: 2, pattern: "x" };
    const g = changeType(f, "integer");
    expect(g).toMatchObject({ name: "title", type: "integer", required: true, min: null, pattern: "" });
    const rel = { ...newField("relation", "r"), multiple: true };
    expect(changeType(rel, "file").multiple).toBe(true);
    expect(changeType(f, "custom").raw).toEqual({ type: "string", minLength: 2, pattern: "x" });
  });

  it("finds bad names, duplicates and missing options", () => {
    const errors = checkFields([
      newField("text", ""),
      newField("text", "9lives"),
      newField("text", "created"),
      newField("text", "Title"),
      newField("text", "title"),
      newField("select", "s"),
      newField("relation", "r"),
      { ...newField("file", "f"), thumbs: ["big"] },
      { ...newField("integer", "n"), min: 5, max: 1 },
      newField("text", "ok"),
    ]);
    expect(Object.keys(errors).map(Number)).toEqual([0, 1, 2, 4, 5, 6, 7, 8]);
  });

  it("reads and writes the default per type", () => {
    const int = newField("integer", "n");
    expect(textToDefault(int, "5")).toBe(5);
    expect(() => textToDefault(int, "5.5")).toThrow();
    expect(textToDefault(newField("text"), "hi")).toBe("hi");
    expect(textToDefault(newField("boolean"), "true")).toBe(true);
    expect(textToDefault(newField("object"), '{"a":1}')).toEqual({ a: 1 });
    expect(() => textToDefault(newField("json"), "{")).toThrow();
    expect(textToDefault(newField("text"), "")).toBeUndefined();
    expect(defaultToText({ ...newField("text"), default: "hi" })).toBe("hi");
    expect(defaultToText({ ...newField("select"), multiple: true, default: ["a"] })).toBe('["a"]');
  });
});

describe("schema change review", () => {
  it("names the columns added, dropped, retyped and constrained", () => {
    const before = {
      type: "object",
      properties: { a: { type: "string" }, b: { type: "integer" }, c: { type: "string" }, d: { type: "boolean" } },
    };
    const after = {
      type: "object",
      properties: { a: { type: "string", maxLength: 5 }, b: { type: "number" }, d: { type: "boolean" }, e: { type: "object" } },
      required: ["d"],
    };
    expect(diffSchemas(before, after)).toEqual({
      added: ["e"],
      dropped: ["c"],
      renamed: [],
      retyped: [{ name: "b", from: "integer", to: "number" }],
      constrained: ["a", "d"],
    });
    expect(isEmptyChange(diffSchemas(before, before))).toBe(true);
    expect(diffSchemas(undefined, after).added).toEqual(["a", "b", "d", "e"]);
  });

  it("a field whose original name differs is a rename, not a drop and an add", () => {
    const before = { type: "object", properties: { b: { type: "string" }, c: { type: "integer" } } };
    const model = fromSchema(before);
    model.fields.forEach((f) => (f.original = f.name));
    model.fields[0]!.name = "bb";
    model.fields[1] = changeType(model.fields[1]!, "text");
    model.fields[1]!.name = "cc";
    const renames = renamesOf(model.fields);
    expect(renames).toEqual({ b: "bb", c: "cc" });
    expect(diffSchemas(before, toSchema(model), renames)).toEqual({
      added: [],
      dropped: [],
      renamed: [
        { from: "b", to: "bb" },
        { from: "c", to: "cc" },
      ],
      retyped: [{ name: "c", from: "integer", to: "text" }],
      constrained: [],
    });
    // A rename to a name that is not in the new schema is ignored (the field was removed).
    expect(diffSchemas(before, { type: "object", properties: {} }, { b: "zz" }).dropped).toEqual(["b", "c"]);
  });
});
