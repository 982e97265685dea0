// OAuth2 through the official SDK: listAuthMethods() offers a provider, and
// authWithOAuth2Code() signs up and back in with a code from a small OpenID Connect
// provider on loopback (authorize redirect, token endpoint with client credentials and
// PKCE S256, userinfo). The all-in-one authWithOAuth2() gets its code over realtime: the
// provider sends the "browser" to /api/oauth2-redirect, which hands the code to the SDK's
// EventSource (Node 20 has none: the `eventsource` package stands in).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { EventSource } from "eventsource";
import PocketBase from "pocketbase";

// The SDK opens `new EventSource(...)` from the global scope, as in a browser.
globalThis.EventSource ??= EventSource;

const url = process.env.KEELBASE_URL;
const email = process.env.KEELBASE_ADMIN_EMAIL;
const password = process.env.KEELBASE_ADMIN_PASSWORD;

const s256 = (v) => createHash("sha256").update(v).digest("base64url");

/**
 * A provider that knows one client; codes map to {challenge, redirect, user}. Its
 * /authorize consents at once for `provider.user` and redirects back with code and state.
 */
async function startProvider(clientId, clientSecret) {
  const codes = new Map();
  const tokens = new Map();
  const provider = { user: null };
  const server = createServer((req, res) => {
    const send = (status, body) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const path = new URL(req.url, "http://idp").pathname;
      if (req.method === "GET" && path === "/authorize") {
        const q = new URL(req.url, "http://idp").searchParams;
        if (q.get("client_id") !== clientId || q.get("response_type") !== "code" || !provider.user) {
          return send(400, { error: "invalid_request" });
        }
        const code = randomBytes(12).toString("hex");
        const redirect = q.get("redirect_uri");
        codes.set(code, { challenge: q.get("code_challenge"), redirect, user: provider.user });
        const back = new URL(redirect);
        back.searchParams.set("code", code);
        back.searchParams.set("state", q.get("state"));
        res.writeHead(302, { location: back.toString() });
        return res.end();
      }
      if (req.method === "POST" && req.url === "/token") {
        const form = new URLSearchParams(raw);
        const basic = (req.headers.authorization || "").replace(/^Basic /, "");
        const [id, secret] = Buffer.from(basic, "base64").toString().split(":").map(decodeURIComponent);
        if (id !== clientId || secret !== clientSecret) return send(401, { error: "invalid_client" });
        const grant = codes.get(form.get("code"));
        codes.delete(form.get("code"));
        if (!grant || grant.redirect !== form.get("redirect_uri")) return send(400, { error: "invalid_grant" });
        if (s256(form.get("code_verifier") || "") !== grant.challenge) return send(400, { error: "invalid_grant" });
        const access = randomBytes(16).toString("hex");
        tokens.set(access, grant.user);
        return send(200, { access_token: access, token_type: "Bearer", expires_in: 600 });
      }
      if (req.method === "GET" && req.url === "/userinfo") {
        const user = tokens.get((req.headers.authorization || "").replace(/^Bearer /, ""));
        return user ? send(200, user) : send(401, { error: "invalid_token" });
      }
      send(404, { error: "not_found" });
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  provider.base = base;
  provider.codes = codes;
  provider.close = () => server.close();
  return provider;
}

test("listAuthMethods and authWithOAuth2Code sign up, then sign in again", async () => {
  const idp = await startProvider("sdk-app", "sdk-secret");
  try {
    const admin = new PocketBase(url);
    admin.autoCancellation(false);
    await admin.collection("_superusers").authWithPassword(email, password);
    await admin.collections.create({
      name: "sdk_members",
      type: "auth",
      schema: { type: "object", properties: { name: { type: "string" } } },
      viewRule: "id = @request.auth.id",
      createRule: "",
      auth: {
        oauth2: {
          enabled: true,
          providers: [
            {
              name: "oidc",
              clientId: "sdk-app",
              clientSecret: "sdk-secret",
              displayName: "Loopback IdP",
              authURL: `${idp.base}/authorize`,
              tokenURL: `${idp.base}/token`,
              userInfoURL: `${idp.base}/userinfo`,
            },
          ],
          mappedFields: { name: "name" },
        },
      },
    });
    const collection = await admin.collections.getOne("sdk_members");
    assert.equal(JSON.stringify(collection).includes("sdk-secret"), false, "clientSecret hidden");

    const redirect = "http://127.0.0.1:5173/redirect";
    const signIn = async (pb) => {
      const methods = await pb.collection("sdk_members").listAuthMethods();
      assert.equal(methods.oauth2.enabled, true);
      const provider = methods.oauth2.providers.find((p) => p.name === "oidc");
      assert.equal(provider.displayName, "Loopback IdP");
      assert.ok(provider.authURL.endsWith("redirect_uri="));
      // What the browser would do: open authURL + redirect, consent, come back with a code.
      const authorize = new URL(provider.authURL + encodeURIComponent(redirect));
      assert.equal(authorize.searchParams.get("redirect_uri"), redirect);
      assert.equal(authorize.searchParams.get("code_challenge"), s256(provider.codeVerifier));
      const code = randomBytes(12).toString("hex");
      idp.codes.set(code, {
        challenge: authorize.searchParams.get("code_challenge"),
        redirect,
        user: { sub: "sdk-sub-1", name: "SDK Person", email: "sdk-oauth@example.com", email_verified: true },
      });
      return pb.collection("sdk_members").authWithOAuth2Code(provider.name, code, provider.codeVerifier, redirect, {
        emailVisibility: false,
      });
    };

    const pb = new PocketBase(url);
    pb.autoCancellation(false);
    const first = await signIn(pb);
    assert.equal(first.meta.isNew, true);
    assert.equal(first.meta.email, "sdk-oauth@example.com");
    assert.equal(first.record.name, "SDK Person");
    assert.equal(first.record.verified, true);
    assert.equal(pb.authStore.isValid, true);
    assert.equal(pb.authStore.record.id, first.record.id);

    const other = new PocketBase(url);
    other.autoCancellation(false);
    const second = await signIn(other);
    assert.equal(second.meta.isNew, false);
    assert.equal(second.record.id, first.record.id);
    const refreshed = await other.collection("sdk_members").authRefresh();
    assert.equal(refreshed.record.id, first.record.id);
  } finally {
    idp.close();
  }
});

test("realtime: subscribe gets a client id, unsubscribe disconnects", async () => {
  const pb = new PocketBase(url);
  pb.autoCancellation(false);
  let connected = null;
  await pb.realtime.subscribe("PB_CONNECT", (e) => (connected = e));
  await pb.realtime.subscribe("anything/*", () => {});
  assert.equal(pb.realtime.isConnected, true);
  assert.match(pb.realtime.clientId, /^[A-Za-z0-9]{40}$/);
  assert.deepEqual(connected, { clientId: pb.realtime.clientId });
  await pb.realtime.unsubscribe();
  assert.equal(pb.realtime.isConnected, false);
});

test("authWithOAuth2 all-in-one: the code comes back over realtime", async () => {
  const idp = await startProvider("popup-app", "popup-secret");
  try {
    const admin = new PocketBase(url);
    admin.autoCancellation(false);
    await admin.collection("_superusers").authWithPassword(email, password);
    await admin.collections.create({
      name: "sdk_popup_members",
      type: "auth",
      schema: { type: "object", properties: { name: { type: "string" } } },
      viewRule: "id = @request.auth.id",
      createRule: "",
      auth: {
        oauth2: {
          enabled: true,
          providers: [
            {
              name: "oidc",
              clientId: "popup-app",
              clientSecret: "popup-secret",
              authURL: `${idp.base}/authorize`,
              tokenURL: `${idp.base}/token`,
              userInfoURL: `${idp.base}/userinfo`,
            },
          ],
          mappedFields: { name: "name" },
        },
      },
    });
    idp.user = { sub: "popup-sub-1", name: "Popup Person", email: "popup@example.com", email_verified: true };

    const signIn = async (pb) => {
      const seen = {};
      const auth = await pb.collection("sdk_popup_members").authWithOAuth2({
        provider: "oidc",
        // Instead of a popup: follow the provider's consent redirect, then the redirect
        // back to Keelbase, which forwards code and state to the SDK's realtime client.
        urlCallback: async (authorizeURL) => {
          const u = new URL(authorizeURL);
          seen.state = u.searchParams.get("state");
          assert.equal(u.searchParams.get("redirect_uri"), pb.buildURL("/api/oauth2-redirect"));
          // The SDK's own one-off realtime client (not pb.realtime); it checks the state.
          assert.match(seen.state, /^[A-Za-z0-9]{40}$/, "state is a realtime client id");
          const consent = await fetch(authorizeURL, { redirect: "manual" });
          assert.equal(consent.status, 302);
          const back = consent.headers.get("location");
          assert.ok(back.startsWith(`${url}/api/oauth2-redirect?`));
          const handoff = await fetch(back, { redirect: "manual" });
          assert.equal(handoff.status, 307);
          assert.equal(handoff.headers.get("location"), "../_/#/auth/oauth2-redirect-success");
          assert.equal(await handoff.text(), "");
        },
      });
      assert.ok(seen.state);
      return auth;
    };

    const pb = new PocketBase(url);
    pb.autoCancellation(false);
    const first = await signIn(pb);
    assert.equal(first.meta.isNew, true);
    assert.equal(first.record.email, "popup@example.com");
    assert.equal(first.record.name, "Popup Person");
    assert.equal(pb.authStore.isValid, true);
    assert.equal(pb.authStore.record.id, first.record.id);

    const again = new PocketBase(url);
    again.autoCancellation(false);
    const second = await signIn(again);
    assert.equal(second.meta.isNew, false);
    assert.equal(second.record.id, first.record.id);

    // A redirect that names no waiting client goes to the failure page.
    const stale = await fetch(`${url}/api/oauth2-redirect?state=${encodeURIComponent(first.record.id)}&code=x`, {
      redirect: "manual",
    });
    assert.equal(stale.status, 307);
    assert.equal(stale.headers.get("location"), "../_/#/auth/oauth2-redirect-failure");
  } finally {
    idp.close();
  }
});
