import { describe, expect, it } from "vitest";
import { cellText, dateToInput, inputToDate, recordLabel, textToJson } from "./records";

describe("record form values", () => {
  it("moves dates between the API's form and datetime-local (UTC)", () => {
    expect(dateToInput("2026-11-28 21:27:35.700Z")).toBe("2026-11-28T21:27:35");
    expect(dateToInput("2026-11-28T21:27:00Z")).toBe("2026-11-28T21:27:00");
    expect(dateToInput("")).toBe("");
    expect(inputToDate("2026-12-24T18:30")).toBe("2026-12-24 18:30:00.000Z");
    expect(inputToDate("2026-12-24T18:30:05")).toBe("2026-12-24 18:30:05.000Z");
    expect(inputToDate("")).toBe("");
  });

  it("parses JSON controls, empty being null", () => {
    expect(textToJson("")).toBe(null);
    expect(textToJson('{"a":[1]}')).toEqual({ a: [1] });
    expect(() => textToJson("{")).toThrow(/Not valid JSON/);
  });

  it("shows cells and relation labels briefly", () => {
    expect(cellText(["a", "b"])).toBe("a, b");
    expect(cellText({ k: 1 })).toBe('{"k":1}');
    expect(cellText(null)).toBe("");
    expect(recordLabel({ id: "abc", collectionId: "x", label: "news" })).toBe("news");
    expect(recordLabel({ id: "abc", collectionName: "t", note: "first string" })).toBe("first string");
    expect(recordLabel({ id: "abc" })).toBe("abc");
  });
});
