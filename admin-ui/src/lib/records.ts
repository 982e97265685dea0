// Record values ↔ form controls, per field type (the form is generated from the schema).
import type { FieldModel, Json } from "./schema";

export type Record_ = { id: string; [key: string]: unknown };

/** The value a new record's control starts with: the schema default, else the zero value. */
export function initialValue(f: FieldModel): unknown {
  if (f.default !== undefined) return structuredClone(f.default);
  return zeroValue(f);
}

export function zeroValue(f: FieldModel): unknown {
  switch (f.type) {
    case "integer":
    case "number":
      return null; // an empty number box
    case "boolean":
      return false;
    case "object":
    case "json":
    case "custom":
      return null;
    default:
      return f.multiple ? [] : "";
  }
}

/** `2026-11-28 21:27:35.700Z` → `2026-11-28T21:27:35` for <input type=datetime-local> (UTC). */
export function dateToInput(v: unknown): string {
  if (typeof v !== "string" || !v) return "";
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2})?)/.exec(v);
  return m ? `${m[1]}T${m[2]!.length === 5 ? `${m[2]}:00` : m[2]}` : "";
}

/** The datetime-local value (read as UTC) → the API's `YYYY-MM-DD HH:MM:SS.mmmZ`. */
export function inputToDate(v: string): string {
  if (!v) return "";
  const [d, t = "00:00:00"] = v.split("T") as [string, string?];
  const time = t.length === 5 ? `${t}:00` : t.slice(0, 8);
  return `${d} ${time}.000Z`;
}

/** JSON text for a JSON control. */
export function jsonToText(v: unknown): string {
  return v === null || v === undefined ? "" : JSON.stringify(v, null, 2);
}

/** A JSON control's text → its value; "" is null. Throws a readable error on bad JSON. */
export function textToJson(t: string): Json {
  if (!t.trim()) return null;
  try {
    return JSON.parse(t);
  } catch (e) {
    throw new Error(`Not valid JSON: ${(e as Error).message}`);
  }
}

/** A cell of the records table: short text for any value. */
export function cellText(v: unknown): string {
  if (v === null || v === undefined || v === "") return "";
  if (Array.isArray(v)) return v.map((x) => (typeof x === "string" ? x : JSON.stringify(x))).join(", ");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** Fields the form lets the user edit (autodate and files are not edited here). */
export function editable(f: FieldModel): boolean {
  return f.type !== "autodate" && f.type !== "file";
}

/** The names of the text-like properties a plain-word search looks in. */
export function searchableFields(fields: FieldModel[], system: string[]): string[] {
  const names = fields
    .filter((f) => !f.hidden || true)
    .filter((f) => ["text", "email", "url", "select"].includes(f.type) && !f.multiple)
    .map((f) => f.name);
  return [...system.filter((s) => s === "id" || s === "email"), ...names];
}

const LABEL_KEYS = ["name", "title", "label", "username", "email", "slug"];
const NOT_LABELS = new Set(["id", "collectionId", "collectionName", "created", "updated", "expand", "tokenKey", "password"]);

/** A short human label for a record (an expanded relation): a name-like field, else its id. */
export function recordLabel(r: unknown): string {
  if (typeof r !== "object" || r === null) return "";
  const rec = r as Record<string, unknown>;
  for (const k of LABEL_KEYS) if (typeof rec[k] === "string" && rec[k]) return rec[k] as string;
  for (const [k, v] of Object.entries(rec)) if (!NOT_LABELS.has(k) && typeof v === "string" && v) return v;
  return typeof rec.id === "string" ? rec.id : "";
}
