import { describe, expect, it } from "vitest";
import { displayName, fileExt, fileNames, filePayload, fileUrl, formatBytes, hasThumb, recordBody, typeChip, type FileChange } from "./files";

const change = (c: Partial<FileChange>): FileChange => ({ field: "f", multiple: false, original: [], keep: [], added: [], ...c });
const file = (name: string) => new File(["x"], name, { type: "text/plain" });

describe("file URLs", () => {
  it("builds the SDK's URL, collection id first", () => {
    expect(fileUrl({ collectionId: "c1", collectionName: "posts", id: "r1" }, "a b.png")).toBe("/api/files/c1/r1/a%20b.png");
    expect(fileUrl({ collectionName: "posts", id: "r1" }, "a.png", { thumb: "100x100", token: "t.k", download: true })).toBe(
      "/api/files/posts/r1/a.png?thumb=100x100&download=true&token=t.k",
    );
  });
});

describe("file names", () => {
  it("lists a property's value", () => {
    expect(fileNames("")).toEqual([]);
    expect(fileNames("a.png")).toEqual(["a.png"]);
    expect(fileNames(["a.png", "", 3, "b.txt"])).toEqual(["a.png", "b.txt"]);
    expect(fileNames(null)).toEqual([]);
  });

  it("knows which files have thumbnails and what chip the others get", () => {
    expect(hasThumb("x_abcdefghij.PNG")).toBe(true);
    expect(hasThumb("x.webp")).toBe(true);
    expect(hasThumb("x.svg")).toBe(false);
    expect(hasThumb("png")).toBe(false);
    expect(fileExt("a.tar.gz")).toBe("gz");
    expect(typeChip("report_abcdefghij.pdf")).toBe("PDF");
    expect(typeChip("noext")).toBe("FILE");
    expect(typeChip("x.verylongext")).toBe("FILE");
  });

  it("drops the random suffix for display", () => {
    expect(displayName("my_photo_ebmkqrv730.png")).toBe("my_photo.png");
    expect(displayName("archive_ebmkqrv730.tar.gz")).toBe("archive.tar.gz");
    expect(displayName("plain.png")).toBe("plain.png");
  });

  it("formats sizes", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(5 * 1024 * 1024)).toBe("5 MiB");
  });
});

describe("the upload request", () => {
  it("names parts `field` on create", () => {
    const a = file("a.txt");
    const b = file("b.txt");
    const { json, parts } = filePayload([change({ field: "docs", multiple: true, added: [a, b] }), change({ field: "cover", added: [a, b] })], true);
    expect(json).toEqual({});
    expect(parts).toEqual([["docs", a], ["docs", b], ["cover", b]]);
  });

  it("appends with `field+` and removes with `field-` on update", () => {
    const a = file("a.txt");
    const c = change({ field: "docs", multiple: true, original: ["x.txt", "y.txt"], keep: ["y.txt"], added: [a] });
    expect(filePayload([c], false)).toEqual({ json: { "docs-": ["x.txt"] }, parts: [["docs+", a]] });
  });

  it("replaces or clears a single file, and sends nothing for an unchanged one", () => {
    const a = file("a.txt");
    expect(filePayload([change({ original: ["x.txt"], keep: [], added: [a] })], false)).toEqual({ json: {}, parts: [["f", a]] });
    expect(filePayload([change({ original: ["x.txt"], keep: [] })], false)).toEqual({ json: { f: "" }, parts: [] });
    expect(filePayload([change({ original: ["x.txt"], keep: ["x.txt"] })], false)).toEqual({ json: {}, parts: [] });
  });

  it("is JSON without files and multipart with @jsonPayload with them", async () => {
    expect(recordBody({ a: 1 }, [])).toEqual({ a: 1 });
    const a = file("a.txt");
    const form = recordBody({ title: "x", "docs-": ["y.txt"] }, [["docs+", a]]) as FormData;
    expect(form).toBeInstanceOf(FormData);
    expect(JSON.parse(form.get("@jsonPayload") as string)).toEqual({ title: "x", "docs-": ["y.txt"] });
    expect((form.get("docs+") as File).name).toBe("a.txt");
  });
});
