// Helpers of the records filter bar: plain words become a search over the text columns,
// anything that looks like an expression goes to the server as written (its errors are
// shown inline, never guessed at here), and column headers cycle the sort.

/** A filter-language text literal: double quotes, with `\` and `"` escaped by a backslash. */
export function quote(value: string): string {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

const OPERATOR = /(\?)?(!=|>=|<=|!~|=|~|<|>)|&&|\|\|/;

/** True when `text` has an operator outside quotes, i.e. the user wrote an expression. */
export function looksLikeExpression(text: string): boolean {
  let quoteChar: string | null = null;
  let bare = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoteChar) {
      if (c === "\\") i++;
      else if (c === quoteChar) quoteChar = null;
      continue;
    }
    if (c === '"' || c === "'") quoteChar = c;
    else bare += c;
  }
  return OPERATOR.test(bare);
}

/**
 * The `filter` parameter for what was typed in the bar: an expression is sent as is;
 * plain words search (`~`, contains) the given fields, every word in some field.
 */
export function searchFilter(text: string, fields: string[]): string {
  const t = text.trim();
  if (!t) return "";
  if (looksLikeExpression(t)) return t;
  const words = t.split(/\s+/).filter(Boolean);
  const names = fields.length ? fields : ["id"];
  const one = (w: string) =>
    names.length === 1 ? `${names[0]} ~ ${quote(w)}` : `(${names.map((n) => `${n} ~ ${quote(w)}`).join(" || ")})`;
  return words.map(one).join(" && ");
}

export type SortDirection = "asc" | "desc" | null;

/** Which way `sort` orders `field` (only its first key counts for the header arrow). */
export function sortDirection(sort: string, field: string): SortDirection {
  const first = sort.split(",")[0]?.trim() ?? "";
  if (first === field || first === `+${field}`) return "asc";
  if (first === `-${field}`) return "desc";
  return null;
}

/** A click on a column header: ascending → descending → no sort. */
export function toggleSort(sort: string, field: string): string {
  switch (sortDirection(sort, field)) {
    case null:
      return field;
    case "asc":
      return `-${field}`;
    case "desc":
      return "";
  }
}

/** Field names the filter bar offers to complete at the end of `text`. */
export function completions(text: string, fields: string[]): string[] {
  const m = /([A-Za-z_@][A-Za-z0-9_.@:]*)$/.exec(text);
  if (!m) return [];
  const prefix = m[1]!.toLowerCase();
  return fields.filter((f) => f.toLowerCase().startsWith(prefix) && f.toLowerCase() !== prefix).slice(0, 8);
}

/** Replace the identifier being typed at the end of `text` with `name`. */
export function complete(text: string, name: string): string {
  return text.replace(/([A-Za-z_@][A-Za-z0-9_.@:]*)$/, name) + " ";
}

/** The byte span a server error about an expression points at (`… (at 5..7).`), if any. */
export function errorSpan(message: string): { start: number; end: number } | null {
  const m = /\(at (\d+)\.\.(\d+)\)/.exec(message);
  if (!m) return null;
  const start = Number(m[1]);
  const end = Number(m[2]);
  return end >= start ? { start, end } : null;
}

/** `text` cut around `span` (by UTF-8 bytes, as the server counts) for highlighting. */
export function splitAtSpan(text: string, span: { start: number; end: number }): [string, string, string] {
  const bytes = new TextEncoder().encode(text);
  const dec = new TextDecoder();
  const s = Math.min(span.start, bytes.length);
  const e = Math.min(Math.max(span.end, s), bytes.length);
  return [dec.decode(bytes.slice(0, s)), dec.decode(bytes.slice(s, e)), dec.decode(bytes.slice(e))];
}
