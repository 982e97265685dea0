// `/api/settings` (superusers): today only the `s3` file storage section exists on the server.

export interface S3Settings {
  enabled: boolean;
  bucket: string;
  region: string;
  endpoint: string;
  accessKey: string;
  secret: string;
  forcePathStyle: boolean;
}

export function emptyS3(): S3Settings {
  return { enabled: false, bucket: "", region: "", endpoint: "", accessKey: "", secret: "", forcePathStyle: false };
}

/** The server's `s3` section → the form (missing keys get their zero value). */
export function s3FromApi(v: unknown): S3Settings {
  const o = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
  const out = emptyS3();
  for (const k of ["bucket", "region", "endpoint", "accessKey", "secret"] as const) out[k] = typeof o[k] === "string" ? (o[k] as string) : "";
  out.enabled = o.enabled === true;
  out.forcePathStyle = o.forcePathStyle === true;
  return out;
}

/** The PATCH body: every key, text trimmed; a blank secret is left out so the stored one stays. */
export function s3Patch(s: S3Settings): { s3: Partial<S3Settings> } {
  const s3: Partial<S3Settings> = {
    enabled: s.enabled,
    bucket: s.bucket.trim(),
    region: s.region.trim(),
    endpoint: s.endpoint.trim(),
    accessKey: s.accessKey.trim(),
    forcePathStyle: s.forcePathStyle,
  };
  if (s.secret) s3.secret = s.secret;
  return { s3 };
}

/** Field messages of a nested validation error: `data.s3.bucket.message` → `{bucket: "…"}`. */
export function sectionErrors(data: Record<string, unknown> | undefined, section: string): Record<string, string> {
  const sec = data?.[section];
  const out: Record<string, string> = {};
  if (typeof sec !== "object" || sec === null) return out;
  const direct = (sec as { message?: unknown }).message;
  if (typeof direct === "string") {
    out[""] = direct;
    return out;
  }
  for (const [k, v] of Object.entries(sec as Record<string, unknown>)) {
    const m = (v as { message?: unknown } | null)?.message;
    if (typeof m === "string") out[k] = m;
  }
  return out;
}
