// File fields: their URLs (as the JS SDK builds them), previews, and the request body that
// uploads, appends and removes files the way the records API takes them (multipart: a part named
// `field` sets, `field+` appends; JSON `{"field-": [names]}` removes, `{"field": ""}` clears).

export interface FileTarget {
  collectionId?: string;
  collectionName?: string;
  id: string;
}

export interface FileUrlOptions {
  thumb?: string;
  token?: string;
  download?: boolean;
}

/** `/api/files/{collectionIdOrName}/{recordId}/{filename}?thumb=…&download=true&token=…`. */
export function fileUrl(record: FileTarget, name: string, opts: FileUrlOptions = {}): string {
  const c = record.collectionId || record.collectionName || "";
  const params = new URLSearchParams();
  if (opts.thumb) params.set("thumb", opts.thumb);
  if (opts.download) params.set("download", "true");
  if (opts.token) params.set("token", opts.token);
  const q = params.toString();
  return `/api/files/${encodeURIComponent(c)}/${encodeURIComponent(record.id)}/${encodeURIComponent(name)}${q ? `?${q}` : ""}`;
}

/** A file property's value as a list of stored names (single: "" → []). */
export function fileNames(v: unknown): string[] {
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === "string" && x !== "");
  return typeof v === "string" && v ? [v] : [];
}

/** The lower-case extension of a name ("" when there is none). */
export function fileExt(name: string): string {
  const base = name.split("/").pop() ?? "";
  const i = base.lastIndexOf(".");
  return i > 0 ? base.slice(i + 1).toLowerCase() : "";
}

const THUMBABLE = new Set(["png", "jpg", "jpeg", "gif", "webp"]);

/** Whether the server makes thumbnails of this file (png, jpg, gif, webp). */
export function hasThumb(name: string): boolean {
  return THUMBABLE.has(fileExt(name));
}

/** The short label of a file-type chip: the extension in capitals, else "FILE". */
export function typeChip(name: string): string {
  const e = fileExt(name);
  return e && e.length <= 5 ? e.toUpperCase() : "FILE";
}

/** The name a user gave a stored file (`my_photo_ebmkqrv730.png` → `my_photo.png`). */
export function displayName(stored: string): string {
  const m = /^(.+)_[a-z0-9]{10}(\.[^.]+(?:\.[^.]+)?)?$/.exec(stored);
  return m ? `${m[1]}${m[2] ?? ""}` : stored;
}

/** A byte count for people: 512 B, 1.5 KiB, 5 MiB. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  const s = i === 0 || n >= 10 ? String(Math.round(n)) : n.toFixed(1).replace(/\.0$/, "");
  return `${s} ${units[i]}`;
}

/** What the form holds for one file property: the stored names it keeps and the new files. */
export interface FileChange {
  field: string;
  multiple: boolean;
  /** The names the record had when the form opened. */
  original: string[];
  /** The stored names still kept. */
  keep: string[];
  /** Files picked for upload. */
  added: File[];
}

/** Whether the form changed anything for the property. */
export function fileChanged(c: FileChange): boolean {
  return c.added.length > 0 || c.original.some((n) => !c.keep.includes(n));
}

/**
 * The JSON keys and the file parts for the changes. `creating`: no record yet (parts are named
 * `field`); on update a multiple property appends with `field+` and removes with `field-`, and a
 * single one is replaced by a `field` part or cleared with `""`.
 */
export function filePayload(changes: FileChange[], creating: boolean): { json: Record<string, unknown>; parts: [string, File][] } {
  const json: Record<string, unknown> = {};
  const parts: [string, File][] = [];
  for (const c of changes) {
    if (!creating && !fileChanged(c)) continue;
    if (c.multiple) {
      const removed = creating ? [] : c.original.filter((n) => !c.keep.includes(n));
      if (removed.length) json[`${c.field}-`] = removed;
      for (const f of c.added) parts.push([creating ? c.field : `${c.field}+`, f]);
    } else if (c.added.length) {
      parts.push([c.field, c.added[c.added.length - 1]!]);
    } else if (!creating && c.keep.length === 0) {
      json[c.field] = "";
    }
  }
  return { json, parts };
}

/**
 * The request body: plain JSON without files; with files, multipart with the JSON in
 * `@jsonPayload` (as the JS SDK sends it) and one part per file.
 */
export function recordBody(json: Record<string, unknown>, parts: [string, File][]): Record<string, unknown> | FormData {
  if (!parts.length) return json;
  const form = new FormData();
  form.append("@jsonPayload", JSON.stringify(json));
  for (const [name, file] of parts) form.append(name, file, file.name);
  return form;
}
