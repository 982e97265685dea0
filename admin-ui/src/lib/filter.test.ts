import { describe, expect, it } from "vitest";
import {
  complete,
  completions,
  errorSpan,
  looksLikeExpression,
  quote,
  searchFilter,
  sortDirection,
  splitAtSpan,
  toggleSort,
} from "./filter";

describe("filter bar", () => {
  it("quotes text literals with escapes", () => {
    expect(quote("plain")).toBe('"plain"');
    expect(quote('say "hi"')).toBe('"say \\"hi\\""');
    expect(quote("back\\slash")).toBe('"back\\\\slash"');
  });

  it("tells expressions from plain search words", () => {
    expect(looksLikeExpression("title = 'x'")).toBe(true);
    expect(looksLikeExpression("views>=3")).toBe(true);
    expect(looksLikeExpression("tags:each ?= 'a'")).toBe(true);
    expect(looksLikeExpression("a && b")).toBe(true);
    expect(looksLikeExpression("hello world")).toBe(false);
    expect(looksLikeExpression("'a = b'")).toBe(false);
    expect(looksLikeExpression('"it\\" = x"')).toBe(false);
  });

  it("turns words into a contains-search over the text fields", () => {
    expect(searchFilter("", ["title"])).toBe("");
    expect(searchFilter("  milk ", ["title"])).toBe('title ~ "milk"');
    expect(searchFilter("buy milk", ["id", "title"])).toBe(
      '(id ~ "buy" || title ~ "buy") && (id ~ "milk" || title ~ "milk")',
    );
    expect(searchFilter("done = true", ["title"])).toBe("done = true");
    expect(searchFilter('a"b', [])).toBe('id ~ "a\\"b"');
  });

  it("cycles the sort of a column: ascending, descending, none", () => {
    expect(toggleSort("", "title")).toBe("title");
    expect(toggleSort("title", "title")).toBe("-title");
    expect(toggleSort("-title", "title")).toBe("");
    expect(toggleSort("-views", "title")).toBe("title");
    expect(sortDirection("+title,-id", "title")).toBe("asc");
    expect(sortDirection("-title", "title")).toBe("desc");
    expect(sortDirection("views", "title")).toBe(null);
  });

  it("completes field names at the cursor", () => {
    const fields = ["title", "tags", "views", "author.name"];
    expect(completions("t", fields)).toEqual(["title", "tags"]);
    expect(completions("views > 1 && ti", fields)).toEqual(["title"]);
    expect(completions("title", fields)).toEqual([]);
    expect(completions("x = ", fields)).toEqual([]);
    expect(complete("views > 1 && ti", "title")).toBe("views > 1 && title ");
  });
});

describe("error positions", () => {
  it("reads the span of a server error and cuts the expression around it", () => {
    const span = errorSpan("Invalid rule: unexpected end of input (at 13..13).");
    expect(span).toEqual({ start: 13, end: 13 });
    expect(errorSpan("Something went wrong.")).toBe(null);
    expect(splitAtSpan("title ~ 'a' &&", { start: 12, end: 14 })).toEqual(["title ~ 'a' ", "&&", ""]);
    expect(splitAtSpan("é = x", { start: 2, end: 3 })).toEqual(["é", " ", "= x"]);
    expect(splitAtSpan("ab", { start: 5, end: 9 })).toEqual(["ab", "", ""]);
  });
});
