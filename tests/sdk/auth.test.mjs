// Auth records through the official SDK: register, log in, refresh, change password,
// impersonate, and what the auth store holds.
import { test } from "node:test";
import assert from "node:assert/strict";
import PocketBase, { ClientResponseError } from "pocketbase";

const url = process.env.KEELBASE_URL;
const email = process.env.KEELBASE_ADMIN_EMAIL;
const password = process.env.KEELBASE_ADMIN_PASSWORD;

function client() {
  const pb = new PocketBase(url);
  pb.autoCancellation(false);
  return pb;
}

test("register, log in, refresh, change the password", async () => {
  const pb = client();
  const created = await pb.collection("users").create({
    email: "sdk-user@example.com",
    password: "password123",
    passwordConfirm: "password123",
    name: "SDK",
  });
  assert.ok(created.id);

  const auth = await pb.collection("users").authWithPassword("sdk-user@example.com", "password123");
  assert.equal(pb.authStore.isValid, true);
  assert.equal(pb.authStore.isSuperuser, false);
  assert.equal(pb.authStore.record.id, created.id);
  assert.equal(auth.record.email, "sdk-user@example.com");

  const me = await pb.collection("users").getOne(created.id);
  assert.equal(me.name, "SDK");

  const refreshed = await pb.collection("users").authRefresh();
  assert.ok(refreshed.token);
  assert.equal(pb.authStore.token, refreshed.token);

  await assert.rejects(
    pb.collection("users").update(created.id, { password: "newpassword1", passwordConfirm: "newpassword1", oldPassword: "nope-nope" }),
    (err) => {
      assert.ok(err instanceof ClientResponseError);
      assert.equal(err.status, 400);
      assert.equal(err.response.data.oldPassword.code, "validation_invalid_old_password");
      return true;
    },
  );
  const oldToken = pb.authStore.token;
  await pb.collection("users").update(created.id, {
    password: "newpassword1",
    passwordConfirm: "newpassword1",
    oldPassword: "password123",
  });
  // The earlier token no longer works.
  const stale = client();
  stale.authStore.save(oldToken, null);
  await assert.rejects(stale.collection("users").authRefresh(), (err) => err.status === 401);
  await pb.collection("users").authWithPassword("sdk-user@example.com", "newpassword1");
  assert.equal(pb.authStore.isValid, true);

  await assert.rejects(pb.collection("users").authWithPassword("sdk-user@example.com", "password123"), (err) => {
    assert.equal(err.status, 400);
    assert.equal(err.response.message, "Failed to authenticate.");
    return true;
  });
});

test("impersonate gives a non-refreshable token", async () => {
  const admin = client();
  await admin.collection("_superusers").authWithPassword(email, password);
  const target = await admin.collection("users").create({
    email: "sdk-imp@example.com",
    password: "password123",
    passwordConfirm: "password123",
  });
  const imp = await admin.collection("users").impersonate(target.id, 120);
  assert.equal(imp.authStore.record.id, target.id);
  const again = await imp.collection("users").authRefresh();
  assert.equal(again.token, imp.authStore.token, "not refreshable: the same token back");
  const methods = await client().collection("users").listAuthMethods();
  assert.equal(methods.password.enabled, true);
  assert.deepEqual(methods.password.identityFields, ["email"]);
});
