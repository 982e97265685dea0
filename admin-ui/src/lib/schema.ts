// The visual field builder's model and its two-way mapping to a collection's JSON Schema.
//
// One top-level property is one field. The shapes follow src/schema/field.rs:
//   text / email / url   {"type":"string"[, "format":"email"|"uri"], minLength, maxLength, pattern}
//   date                 {"type":"string","format":"date-time"}
//   autodate             {"type":"string","x-autodate":"create"|"update"}
//   integer / number     {"type":"integer"|"number", minimum, maximum}
//   boolean / object     {"type":"boolean"} / {"type":"object"}
//   json (any value)     {}
//   select               {"type":"string","enum":[…]} or
//                        {"type":"array","items":{"type":"string","enum":[…]},"uniqueItems":true}
//   relation             {"type":"string","x-relation":{"collection","cascadeDelete"}} or the array form
//   file                 {"type":"string","x-file":{maxSize,mimeTypes,thumbs,protected}} or the array form
// plus on any field: "x-hidden": true, "default", "description", and `required` at the top level.
// Keywords the builder does not edit are kept in `extra` and written back unchanged; a property
// whose shape the builder does not know at all is a `custom` field holding its raw schema.

export type FieldType =
  | "text"
  | "email"
  | "url"
  | "integer"
  | "number"
  | "boolean"
  | "date"
  | "autodate"
  | "select"
  | "object"
  | "json"
  | "relation"
  | "file"
  | "custom";

export const FIELD_TYPES: { type: FieldType; label: string }[] = [
  { type: "text", label: "Text" },
  { type: "email", label: "Email" },
  { type: "url", label: "URL" },
  { type: "integer", label: "Integer" },
  { type: "number", label: "Number" },
  { type: "boolean", label: "Boolean" },
  { type: "date", label: "Date-time" },
  { type: "select", label: "Select (enum)" },
  { type: "object", label: "Object" },
  { type: "json", label: "JSON (any value)" },
  { type: "relation", label: "Relation" },
  { type: "file", label: "File" },
  { type: "autodate", label: "Autodate" },
  { type: "custom", label: "Custom (raw JSON Schema)" },
];

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface FieldModel {
  name: string;
  type: FieldType;
  required: boolean;
  hidden: boolean;
  /** select, relation, file: an array of values instead of one. */
  multiple: boolean;
  description: string;
  /** The JSON Schema `default`; undefined = none. */
  default: Json | undefined;
  /** text/email/url: minLength/maxLength; integer/number: minimum/maximum; multiple: minItems/maxItems. */
  min: number | null;
  max: number | null;
  /** text: a regular expression the value must match. */
  pattern: string;
  /** select: the allowed values. */
  values: string[];
  /** relation: the target collection (name or id) and whether deleting it deletes this record. */
  collection: string;
  cascadeDelete: boolean;
  /** file options (maxSize in bytes; null = the server's default of 5 MiB). */
  maxSize: number | null;
  mimeTypes: string[];
  thumbs: string[];
  protected: boolean;
  /** autodate: set on create only, or on create and every update. */
  autodate: "create" | "update";
  /** custom: the property's whole schema. */
  raw: Json;
  /** Keywords of the property the builder does not edit, kept verbatim. */
  extra: JsonObject;
  /** The name the property had when the collection was opened; another name now is a rename. */
  original?: string;
}

export interface SchemaModel {
  fields: FieldModel[];
  /** Top-level keywords other than type/properties/required (e.g. additionalProperties). */
  extra: JsonObject;
}

export function newField(type: FieldType = "text", name = ""): FieldModel {
  return {
    name,
    type,
    required: false,
    hidden: false,
    multiple: false,
    description: "",
    default: undefined,
    min: null,
    max: null,
    pattern: "",
    values: [],
    collection: "",
    cascadeDelete: false,
    maxSize: null,
    mimeTypes: [],
    thumbs: [],
    protected: false,
    autodate: "create",
    raw: {},
    extra: {},
  };
}

/** Switch a field to another type, keeping what still applies (name, flags, description). */
export function changeType(f: FieldModel, type: FieldType): FieldModel {
  const next = newField(type, f.name);
  next.original = f.original;
  next.required = f.required;
  next.hidden = f.hidden;
  next.description = f.description;
  if (type === "custom") next.raw = toProperty(f);
  if (["select", "relation", "file"].includes(type) && ["select", "relation", "file"].includes(f.type)) {
    next.multiple = f.multiple;
  }
  return next;
}

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === "string");

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => k in b && deepEqual(a[k], b[k]));
  }
  return false;
}

function clone<T>(v: T): T {
  return v === undefined ? v : JSON.parse(JSON.stringify(v));
}

/** Take `keys` out of `rest` (a copy of the property), returning what they held. */
function take(rest: JsonObject, ...keys: string[]): JsonObject {
  const out: JsonObject = {};
  for (const k of keys) {
    if (k in rest) {
      out[k] = rest[k];
      delete rest[k];
    }
  }
  return out;
}

function custom(name: string, prop: Json, required: boolean): FieldModel {
  const f = newField("custom", name);
  f.required = required;
  f.raw = clone(prop);
  return f;
}

/** One property of the schema → one field. */
export function fromProperty(name: string, prop: Json, required: boolean): FieldModel {
  if (!isObject(prop)) return custom(name, prop, required);
  const rest: JsonObject = clone(prop);
  const common = take(rest, "description", "default", "x-hidden");
  if ("x-hidden" in common && typeof common["x-hidden"] !== "boolean") return custom(name, prop, required);
  if ("description" in common && typeof common.description !== "string") return custom(name, prop, required);
  const type = rest.type;
  let f: FieldModel | null = null;

  const multi = (): boolean | null => {
    // single: "type":"string"; multiple: "type":"array" with items exactly {"type":"string"}
    if (type === "string") return false;
    if (type === "array" && deepEqual(rest.items, { type: "string" })) return true;
    return null;
  };
  const items = (m: FieldModel) => {
    if (!m.multiple) return true;
    delete rest.items;
    const r = take(rest, "minItems", "maxItems");
    if (("minItems" in r && !isNum(r.minItems)) || ("maxItems" in r && !isNum(r.maxItems))) return false;
    m.min = isNum(r.minItems) ? r.minItems : null;
    m.max = isNum(r.maxItems) ? r.maxItems : null;
    return true;
  };

  if ("x-relation" in rest) {
    const rel = rest["x-relation"];
    const m = multi();
    if (m === null || !isObject(rel) || typeof rel.collection !== "string") return custom(name, prop, required);
    const known = Object.keys(rel).every((k) => k === "collection" || k === "cascadeDelete");
    if (!known || ("cascadeDelete" in rel && typeof rel.cascadeDelete !== "boolean")) {
      return custom(name, prop, required);
    }
    f = newField("relation", name);
    f.multiple = m;
    f.collection = rel.collection;
    f.cascadeDelete = rel.cascadeDelete === true;
    delete rest["x-relation"];
    delete rest.type;
    if (!items(f)) return custom(name, prop, required);
  } else if ("x-file" in rest) {
    const opt = rest["x-file"];
    const m = multi();
    if (m === null || !isObject(opt)) return custom(name, prop, required);
    const okKeys = Object.keys(opt).every((k) => ["maxSize", "mimeTypes", "thumbs", "protected"].includes(k));
    if (
      !okKeys ||
      ("maxSize" in opt && !isNum(opt.maxSize)) ||
      ("mimeTypes" in opt && !isStringArray(opt.mimeTypes)) ||
      ("thumbs" in opt && !isStringArray(opt.thumbs)) ||
      ("protected" in opt && typeof opt.protected !== "boolean")
    ) {
      return custom(name, prop, required);
    }
    f = newField("file", name);
    f.multiple = m;
    f.maxSize = isNum(opt.maxSize) && opt.maxSize > 0 ? opt.maxSize : null;
    f.mimeTypes = isStringArray(opt.mimeTypes) ? [...opt.mimeTypes] : [];
    f.thumbs = isStringArray(opt.thumbs) ? [...opt.thumbs] : [];
    f.protected = opt.protected === true;
    delete rest["x-file"];
    delete rest.type;
    if (!items(f)) return custom(name, prop, required);
  } else if ("x-autodate" in rest) {
    const a = rest["x-autodate"];
    if (type !== "string" || (a !== "create" && a !== "update")) return custom(name, prop, required);
    f = newField("autodate", name);
    f.autodate = a;
    delete rest["x-autodate"];
    delete rest.type;
  } else if (type === "string" && isStringArray(rest.enum)) {
    f = newField("select", name);
    f.values = [...rest.enum];
    delete rest.enum;
    delete rest.type;
  } else if (
    type === "array" &&
    isObject(rest.items) &&
    rest.uniqueItems === true &&
    Object.keys(rest.items).length === 2 &&
    rest.items.type === "string" &&
    isStringArray(rest.items.enum)
  ) {
    f = newField("select", name);
    f.multiple = true;
    f.values = [...rest.items.enum];
    delete rest.uniqueItems;
    delete rest.type;
    if (!items(f)) return custom(name, prop, required);
  } else if (type === "string") {
    const format = rest.format;
    const kind: FieldType | null =
      format === undefined ? "text" : format === "email" ? "email" : format === "uri" ? "url" : format === "date-time" ? "date" : null;
    if (kind === null) return custom(name, prop, required);
    f = newField(kind, name);
    delete rest.format;
    delete rest.type;
    if (kind !== "date") {
      const r = take(rest, "minLength", "maxLength");
      if (("minLength" in r && !isNum(r.minLength)) || ("maxLength" in r && !isNum(r.maxLength))) {
        return custom(name, prop, required);
      }
      f.min = isNum(r.minLength) ? r.minLength : null;
      f.max = isNum(r.maxLength) ? r.maxLength : null;
      if (kind === "text" && typeof rest.pattern === "string") {
        f.pattern = rest.pattern;
        delete rest.pattern;
      }
    }
  } else if (type === "integer" || type === "number") {
    f = newField(type, name);
    const r = take(rest, "minimum", "maximum");
    if (("minimum" in r && !isNum(r.minimum)) || ("maximum" in r && !isNum(r.maximum))) {
      return custom(name, prop, required);
    }
    f.min = isNum(r.minimum) ? r.minimum : null;
    f.max = isNum(r.maximum) ? r.maximum : null;
    delete rest.type;
  } else if (type === "boolean" || type === "object") {
    f = newField(type, name);
    delete rest.type;
  } else if (type === undefined && Object.keys(rest).length === 0) {
    f = newField("json", name);
  } else {
    return custom(name, prop, required);
  }

  f.required = required;
  f.hidden = common["x-hidden"] === true;
  f.description = typeof common.description === "string" ? common.description : "";
  f.default = "default" in common ? common.default : undefined;
  f.extra = rest;
  return f;
}

/** One field → its property schema. */
export function toProperty(f: FieldModel): JsonObject {
  if (f.type === "custom") {
    return isObject(f.raw) ? clone(f.raw) : (clone(f.raw) as unknown as JsonObject);
  }
  const p: JsonObject = {};
  const setItems = () => {
    if (f.min !== null) p.minItems = f.min;
    if (f.max !== null) p.maxItems = f.max;
  };
  switch (f.type) {
    case "text":
    case "email":
    case "url":
      p.type = "string";
      if (f.type === "email") p.format = "email";
      if (f.type === "url") p.format = "uri";
      if (f.min !== null) p.minLength = f.min;
      if (f.max !== null) p.maxLength = f.max;
      if (f.type === "text" && f.pattern) p.pattern = f.pattern;
      break;
    case "date":
      p.type = "string";
      p.format = "date-time";
      break;
    case "autodate":
      p.type = "string";
      p["x-autodate"] = f.autodate;
      break;
    case "integer":
    case "number":
      p.type = f.type;
      if (f.min !== null) p.minimum = f.min;
      if (f.max !== null) p.maximum = f.max;
      break;
    case "boolean":
    case "object":
      p.type = f.type;
      break;
    case "json":
      break;
    case "select":
      if (f.multiple) {
        p.type = "array";
        p.items = { type: "string", enum: [...f.values] };
        p.uniqueItems = true;
        setItems();
      } else {
        p.type = "string";
        p.enum = [...f.values];
      }
      break;
    case "relation":
      if (f.multiple) {
        p.type = "array";
        p.items = { type: "string" };
        setItems();
      } else p.type = "string";
      p["x-relation"] = { collection: f.collection, cascadeDelete: f.cascadeDelete };
      break;
    case "file": {
      if (f.multiple) {
        p.type = "array";
        p.items = { type: "string" };
        setItems();
      } else p.type = "string";
      const o: JsonObject = {};
      if (f.maxSize !== null) o.maxSize = f.maxSize;
      if (f.mimeTypes.length) o.mimeTypes = [...f.mimeTypes];
      if (f.thumbs.length) o.thumbs = [...f.thumbs];
      if (f.protected) o.protected = true;
      p["x-file"] = o;
      break;
    }
  }
  Object.assign(p, clone(f.extra));
  if (f.description) p.description = f.description;
  if (f.default !== undefined) p.default = clone(f.default);
  if (f.hidden) p["x-hidden"] = true;
  return p;
}

/** A collection's `schema` → the builder's model. Anything that is not an object gives no fields. */
export function fromSchema(schema: unknown): SchemaModel {
  if (!isObject(schema)) return { fields: [], extra: {} };
  const { type: _t, properties, required, ...extra } = clone(schema);
  const req = isStringArray(required) ? required : [];
  const fields = isObject(properties)
    ? Object.entries(properties).map(([name, prop]) => fromProperty(name, prop, req.includes(name)))
    : [];
  return { fields, extra };
}

/** The builder's model → the collection's `schema`. */
export function toSchema(model: SchemaModel): JsonObject {
  const properties: JsonObject = {};
  const required: string[] = [];
  for (const f of model.fields) {
    properties[f.name] = toProperty(f);
    if (f.required) required.push(f.name);
  }
  const out: JsonObject = { type: "object", properties };
  if (required.length) out.required = required;
  Object.assign(out, clone(model.extra));
  return out;
}

export const RESERVED_NAMES = [
  "id",
  "created",
  "updated",
  "collectionId",
  "collectionName",
  "expand",
  "email",
  "emailVisibility",
  "verified",
  "password",
  "tokenKey",
  "passwordConfirm",
  "oldPassword",
];

const THUMB = /^(\d+)x(\d+)[tbf]?$/;

/** Problems the builder can see before the server does, keyed by field index. */
export function checkFields(fields: FieldModel[]): Record<number, string> {
  const errors: Record<number, string> = {};
  const seen = new Map<string, number>();
  fields.forEach((f, i) => {
    const lower = f.name.toLowerCase();
    if (!f.name) errors[i] = "A field needs a name.";
    else if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(f.name)) {
      errors[i] = "Use letters, digits and _ (starting with a letter or _), at most 64.";
    } else if (RESERVED_NAMES.some((r) => r.toLowerCase() === lower)) errors[i] = `"${f.name}" is a system field name.`;
    else if (seen.has(lower)) errors[i] = `Another field is already named "${f.name}".`;
    else if (f.type === "select" && f.values.length === 0) errors[i] = "A select needs at least one value.";
    else if (f.type === "relation" && !f.collection) errors[i] = "Choose the related collection.";
    else if (f.type === "file" && f.thumbs.some((t) => !THUMB.test(t))) {
      errors[i] = "Thumb sizes look like 100x100, 0x100, 100x0 or 100x100t/b/f.";
    } else if (f.min !== null && f.max !== null && f.min > f.max) errors[i] = "Min is greater than max.";
    if (f.name) seen.set(lower, i);
  });
  return errors;
}

/** The default as the builder's text box shows it. */
export function defaultToText(f: FieldModel): string {
  if (f.default === undefined) return "";
  if (typeof f.default === "string" && ["text", "email", "url", "date", "select"].includes(f.type) && !f.multiple) {
    return f.default;
  }
  return JSON.stringify(f.default);
}

/** The builder's default text box → the JSON default (undefined = none); throws on bad input. */
export function textToDefault(f: FieldModel, text: string): Json | undefined {
  if (text === "") return undefined;
  if (["text", "email", "url", "date", "select"].includes(f.type) && !f.multiple) return text;
  if (f.type === "integer" || f.type === "number") {
    const n = Number(text);
    if (!Number.isFinite(n) || (f.type === "integer" && !Number.isInteger(n))) {
      throw new Error(f.type === "integer" ? "Not an integer." : "Not a number.");
    }
    return n;
  }
  if (f.type === "boolean") {
    if (text === "true" || text === "false") return text === "true";
    throw new Error("true or false.");
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error("Not valid JSON.");
  }
}

/** A one-line summary of a field's options, for the field list. */
export function describeField(f: FieldModel): string {
  const bits: string[] = [];
  if (f.type === "relation") bits.push(`→ ${f.collection || "?"}${f.cascadeDelete ? " (cascade)" : ""}`);
  if (f.type === "select") bits.push(f.values.join(", "));
  if (f.type === "autodate") bits.push(f.autodate === "create" ? "on create" : "on create and update");
  if (f.multiple) bits.push("multiple");
  if (f.required) bits.push("required");
  if (f.hidden) bits.push("hidden");
  return bits.join(" · ");
}

export interface SchemaChange {
  added: string[];
  dropped: string[];
  /** Columns renamed in place (their values kept). */
  renamed: { from: string; to: string }[];
  /** Properties whose column kind changes (the table is rebuilt; values must fit the new type). */
  retyped: { name: string; from: string; to: string }[];
  /** Properties kept with the same kind whose constraints change (existing rows must still pass). */
  constrained: string[];
}

function kindOf(f: FieldModel): string {
  if (f.type === "custom") return "custom";
  return f.multiple ? `${f.type} (multiple)` : f.type;
}

/** The `rename` map the update API takes (`{old: new}`), from the fields' original names. */
export function renamesOf(fields: FieldModel[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fields) if (f.original && f.name && f.original !== f.name) out[f.original] = f.name;
  return out;
}

/** What saving `next` over `prev` (with `renames`, old → new) does to the table, for the review before saving. */
export function diffSchemas(prev: unknown, next: unknown, renames: Record<string, string> = {}): SchemaChange {
  const a = new Map(fromSchema(prev).fields.map((f) => [f.name, f]));
  const b = new Map(fromSchema(next).fields.map((f) => [f.name, f]));
  const renamedTo = new Set(Object.entries(renames).filter(([from, to]) => a.has(from) && b.has(to)).map(([, to]) => to));
  const out: SchemaChange = { added: [], dropped: [], renamed: [], retyped: [], constrained: [] };
  for (const name of b.keys()) if (!a.has(name) && !renamedTo.has(name)) out.added.push(name);
  for (const [name, f] of a) {
    const to = renames[name];
    const g = to && renamedTo.has(to) ? b.get(to) : b.get(name);
    if (to && g && renamedTo.has(to)) out.renamed.push({ from: name, to });
    if (!g) out.dropped.push(name);
    else if (kindOf(f) !== kindOf(g)) out.retyped.push({ name, from: kindOf(f), to: kindOf(g) });
    else if (!deepEqual(toProperty(f), toProperty(g)) || f.required !== g.required) out.constrained.push(name);
  }
  return out;
}

export function isEmptyChange(c: SchemaChange): boolean {
  return !c.added.length && !c.dropped.length && !c.renamed.length && !c.retyped.length && !c.constrained.length;
}
