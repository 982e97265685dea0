// OAuth2 through the official SDK: listAuthMethods() offers a provider, and
// authWithOAuth2Code() signs up and back in with a code from a small OpenID Connect
// provider on loopback (token endpoint with client credentials and PKCE S256, userinfo).
// The all-in-one authWithOAuth2() needs realtime, which the server does not have yet.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import PocketBase from "pocketbase";

const url = process.env.KEELBASE_URL;
const email = process.env.KEELBASE_ADMIN_EMAIL;
const password = process.env.KEELBASE_ADMIN_PASSWORD;

const s256 = (v) => createHash("sha256").update(v).digest("base64url");

/** A provider that knows one client; codes map to {challenge, redirect, user}. */
async function startProvider(clientId, clientSecret) {
  const codes = new Map();
  const tokens = new Map();
  const server = createServer((req, res) => {
    const send = (status, body) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
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
  return { base, codes, close: () => server.close() };
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
