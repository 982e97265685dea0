import { describe, expect, it } from "vitest";
import { emptyS3, s3FromApi, s3Patch, sectionErrors } from "./settings";

describe("S3 settings form", () => {
  it("reads the server's section, filling what is missing", () => {
    expect(s3FromApi({ enabled: true, bucket: "b", secret: "" })).toEqual({ ...emptyS3(), enabled: true, bucket: "b" });
    expect(s3FromApi(null)).toEqual(emptyS3());
    expect(s3FromApi({ enabled: "yes", region: 3 })).toEqual(emptyS3());
  });

  it("leaves a blank secret out of the PATCH so the stored one is kept", () => {
    const s = { ...emptyS3(), enabled: true, bucket: " b ", endpoint: "https://s3.example.com" };
    expect(s3Patch(s)).toEqual({ s3: { enabled: true, bucket: "b", region: "", endpoint: "https://s3.example.com", accessKey: "", forcePathStyle: false } });
    expect(s3Patch({ ...s, secret: " k " }).s3.secret).toBe(" k ");
  });

  it("reads nested field errors", () => {
    const data = { s3: { bucket: { code: "validation_required", message: "Cannot be blank." }, endpoint: { code: "x", message: "Must be a valid url." } } };
    expect(sectionErrors(data, "s3")).toEqual({ bucket: "Cannot be blank.", endpoint: "Must be a valid url." });
    expect(sectionErrors({ s3: { code: "validation_invalid_value", message: "Must be an object." } }, "s3")).toEqual({ "": "Must be an object." });
    expect(sectionErrors({}, "s3")).toEqual({});
    expect(sectionErrors(undefined, "s3")).toEqual({});
  });
});
