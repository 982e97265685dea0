// The mailed flows through the SDK: register, verify by the mailed link, reset a
// forgotten password, log in by OTP. Mails arrive at a real SMTP server started by
// tests/sdk.rs, which writes each one as JSON into KEELBASE_MAIL_DIR.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import PocketBase from "pocketbase";

const url = process.env.KEELBASE_URL;
const mailDir = process.env.KEELBASE_MAIL_DIR;
const seen = new Set();

function client() {
  const pb = new PocketBase(url);
  pb.autoCancellation(false);
  return pb;
}

/** The next mail to `to` (waits up to 10 s). */
async function mailTo(to) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    for (const name of readdirSync(mailDir).filter((n) => n.endsWith(".json")).sort()) {
      if (seen.has(name)) continue;
      const mail = JSON.parse(readFileSync(join(mailDir, name), "utf8"));
      if (mail.to.includes(to)) {
        seen.add(name);
        return mail;
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no mail to ${to}`);
}

const tokenIn = (mail, action) => mail.html.match(new RegExp(`/_/#/auth/${action}/([A-Za-z0-9._-]+)`))[1];

test("register, verify by the mailed link, reset a forgotten password", async () => {
  const pb = client();
  const email = "sdk-mail@example.com";
  await pb.collection("users").create({ email, password: "password123", passwordConfirm: "password123" });

  assert.equal(await pb.collection("users").requestVerification(email), true);
  const verify = tokenIn(await mailTo(email), "confirm-verification");
  assert.equal(await pb.collection("users").confirmVerification(verify), true);
  const auth = await pb.collection("users").authWithPassword(email, "password123");
  assert.equal(auth.record.verified, true);

  assert.equal(await pb.collection("users").requestPasswordReset(email), true);
  assert.equal(await client().collection("users").requestPasswordReset("nobody@example.com"), true);
  const reset = tokenIn(await mailTo(email), "confirm-password-reset");
  assert.equal(await pb.collection("users").confirmPasswordReset(reset, "new-password1", "new-password1"), true);
  // The reset ended the earlier session.
  await assert.rejects(pb.collection("users").authRefresh(), (err) => err.status === 401);
  const again = await client().collection("users").authWithPassword(email, "new-password1");
  assert.ok(again.token);
});

test("log in by OTP", async () => {
  const admin = client();
  await admin.collection("_superusers").authWithPassword(process.env.KEELBASE_ADMIN_EMAIL, process.env.KEELBASE_ADMIN_PASSWORD);
  await admin.collections.update("users", { auth: { otp: { enabled: true } } });
  const pb = client();
  const email = "sdk-otp@example.com";
  await pb.collection("users").create({ email, password: "password123", passwordConfirm: "password123" });
  const methods = await pb.collection("users").listAuthMethods();
  assert.equal(methods.otp.enabled, true);

  const { otpId } = await pb.collection("users").requestOTP(email);
  assert.equal(otpId.length, 15);
  const code = (await mailTo(email)).html.match(/\b(\d{8})\b/)[1];
  const auth = await pb.collection("users").authWithOTP(otpId, code);
  assert.equal(pb.authStore.isValid, true);
  assert.equal(auth.record.email, email);
  assert.equal(auth.record.verified, true);
});
