//! OAuth2 providers: the presets (endpoints, scopes, and how each provider's user JSON
//! becomes a [`ProviderUser`]), the generic OpenID Connect provider, and the two calls of
//! the authorization-code flow (code → token, token → user).
//!
//! SECURITY:
//! - An email counts as verified only when the provider vouches for it: OIDC/Google
//!   `email_verified`, GitHub's verified primary address (`/user/emails`), GitLab
//!   `confirmed_at`, Discord `verified`, Apple's id_token `email_verified`. Microsoft's
//!   `mail` is never trusted: tenants can set it to any address ("nOAuth").
//! - Outbound requests follow no redirects, time out, and read at most [`MAX_BODY`].
//!   Their URLs come from the collection options, which only superusers set. The avatar
//!   URL a provider returns is handed on as text and never fetched.
//! - ID tokens are read only from the token endpoint's own response (never from the
//!   client), so, as OpenID Connect Core §3.1.3.7 allows, TLS to that endpoint stands in
//!   for the signature; `aud`, `exp` and (Apple) `iss` are still checked, and a userinfo
//!   `sub` must equal the id_token's.
//!
//! Nothing here knows HTTP handlers or the database.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::schema::auth_options::is_oidc;

/// Largest provider response read (token or user JSON).
pub const MAX_BODY: usize = 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const APPLE_ISSUER: &str = "https://appleid.apple.com";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Oidc,
    Google,
    GitHub,
    GitLab,
    Discord,
    Microsoft,
    Apple,
}

/// A preset: display name, endpoints (user endpoint empty: the user is in the id_token)
/// and scopes.
struct Preset {
    kind: Kind,
    display_name: &'static str,
    auth_url: &'static str,
    token_url: &'static str,
    user_url: &'static str,
    scopes: &'static str,
}

fn preset(name: &str) -> Option<Preset> {
    let p = |kind, display_name, auth_url, token_url, user_url, scopes| Preset {
        kind,
        display_name,
        auth_url,
        token_url,
        user_url,
        scopes,
    };
    Some(match name {
        "google" => p(
            Kind::Google,
            "Google",
            "https://accounts.google.com/o/oauth2/v2/auth",
            "https://oauth2.googleapis.com/token",
            "https://openidconnect.googleapis.com/v1/userinfo",
            "openid email profile",
        ),
        "github" => p(
            Kind::GitHub,
            "GitHub",
            "https://github.com/login/oauth/authorize",
            "https://github.com/login/oauth/access_token",
            "https://api.github.com/user",
            "read:user user:email",
        ),
        "gitlab" => p(
            Kind::GitLab,
            "GitLab",
            "https://gitlab.com/oauth/authorize",
            "https://gitlab.com/oauth/token",
            "https://gitlab.com/api/v4/user",
            "read_user",
        ),
        "discord" => p(
            Kind::Discord,
            "Discord",
            "https://discord.com/oauth2/authorize",
            "https://discord.com/api/oauth2/token",
            "https://discord.com/api/users/@me",
            "identify email",
        ),
        "microsoft" => p(
            Kind::Microsoft,
            "Microsoft",
            "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
            "https://login.microsoftonline.com/common/oauth2/v2.0/token",
            "https://graph.microsoft.com/v1.0/me",
            "User.Read",
        ),
        "apple" => p(
            Kind::Apple,
            "Apple",
            "https://appleid.apple.com/auth/authorize",
            "https://appleid.apple.com/auth/token",
            "",
            "name email",
        ),
        n if is_oidc(n) => p(
            Kind::Oidc,
            "OpenID Connect",
            "",
            "",
            "",
            "openid profile email",
        ),
        _ => return None,
    })
}

/// One configured provider: its options over its preset.
#[derive(Clone)]
pub struct Provider {
    pub name: String,
    pub display_name: String,
    pub client_id: String,
    client_secret: String,
    pub auth_url: String,
    pub token_url: String,
    pub user_url: String,
    pub scopes: String,
    /// Whether the flow uses PKCE (S256).
    pub pkce: bool,
    kind: Kind,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// The provider named `name` in a collection's `auth` options, if configured.
    pub fn find(options: &Value, name: &str) -> Option<Self> {
        Self::all(options).into_iter().find(|p| p.name == name)
    }

    /// Every configured provider, in the order of the options.
    pub fn all(options: &Value) -> Vec<Self> {
        let Some(list) = options["oauth2"]["providers"].as_array() else {
            return Vec::new();
        };
        list.iter().filter_map(Self::from_config).collect()
    }

    fn from_config(config: &Value) -> Option<Self> {
        let name = config["name"].as_str()?;
        let preset = preset(name)?;
        let text = |key: &str, default: &str| {
            config[key]
                .as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .unwrap_or(default)
                .to_owned()
        };
        let client_id = text("clientId", "");
        let provider = Self {
            name: name.to_owned(),
            display_name: text("displayName", preset.display_name),
            client_secret: config["clientSecret"].as_str().unwrap_or("").to_owned(),
            auth_url: text("authURL", preset.auth_url),
            token_url: text("tokenURL", preset.token_url),
            user_url: text("userInfoURL", preset.user_url),
            scopes: preset.scopes.to_owned(),
            pkce: config["pkce"].as_bool().unwrap_or(true),
            kind: preset.kind,
            client_id,
        };
        let needs_user_url = provider.kind != Kind::Apple;
        let usable = !provider.client_id.is_empty()
            && !provider.auth_url.is_empty()
            && !provider.token_url.is_empty()
            && (!needs_user_url || !provider.user_url.is_empty());
        usable.then_some(provider)
    }

    /// The authorization URL for the client to open, ending in `redirect_uri=` so the
    /// client appends its own redirect URL (API.md §5.5).
    pub fn authorization_url(&self, state: &str, code_challenge: Option<&str>) -> String {
        let Ok(mut url) = url::Url::parse(&self.auth_url) else {
            // Checked when the options were saved; an unparsable one offers nothing usable.
            return String::new();
        };
        url.set_fragment(None);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.client_id);
            if let Some(challenge) = code_challenge {
                q.append_pair("code_challenge", challenge);
                q.append_pair("code_challenge_method", "S256");
            }
            q.append_pair("response_type", "code");
            q.append_pair("scope", &self.scopes);
            q.append_pair("state", state);
            if self.kind == Kind::Apple {
                // Apple only returns the name and email scopes with a form POST.
                q.append_pair("response_mode", "form_post");
            }
        }
        let mut out = String::from(url);
        out.push_str("&redirect_uri=");
        out
    }
}

/// The S256 PKCE challenge of a verifier: base64url(SHA-256(verifier)), unpadded.
pub fn code_challenge(verifier: &str) -> String {
    B64.encode(Sha256::digest(verifier.as_bytes()))
}

/// The provider account behind a code, as PocketBase's `meta` shows it.
#[derive(Clone, Default)]
pub struct ProviderUser {
    pub id: String,
    pub name: String,
    pub username: String,
    pub email: String,
    /// The provider vouches that `email` belongs to this account.
    pub email_verified: bool,
    /// An http(s) URL or empty; never fetched.
    pub avatar_url: String,
    pub raw: Value,
    pub access_token: String,
    pub refresh_token: String,
    /// When the access token expires (`YYYY-MM-DD HH:MM:SS.mmmZ`), or empty.
    pub expiry: String,
}

impl std::fmt::Debug for ProviderUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderUser")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("email_verified", &self.email_verified)
            .finish_non_exhaustive()
    }
}

impl ProviderUser {
    /// The auth response's `meta` (API.md §5.11).
    pub fn meta(&self, is_new: bool) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "username": self.username,
            "email": self.email,
            "avatarURL": self.avatar_url,
            "accessToken": self.access_token,
            "refreshToken": self.refresh_token,
            "expiry": self.expiry,
            "rawUser": self.raw,
            "isNew": is_new,
        })
    }
}

/// Why the code flow failed. Logged, never shown: the client hears "Failed to authenticate.".
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{step}: request failed: {source}")]
    Http {
        step: &'static str,
        source: reqwest::Error,
    },
    #[error("{step}: the provider answered {status}")]
    Status { step: &'static str, status: u16 },
    #[error("{step}: the response is larger than {MAX_BODY} bytes")]
    TooLarge { step: &'static str },
    #[error("{step}: the response is not the expected JSON")]
    NotJson { step: &'static str },
    #[error("{0}")]
    Invalid(String),
}

/// A string claim/property, numbers written out (GitHub and GitLab ids are numbers).
fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// A boolean claim that some providers (Apple, some OIDC servers) send as a string.
fn flag(v: &Value, key: &str) -> bool {
    matches!(v.get(key), Some(Value::Bool(true)))
        || v.get(key).and_then(Value::as_str) == Some("true")
}

/// Keep an avatar URL only when it is an http(s) URL of sane length: it is stored and
/// shown, and a `javascript:` URL must not reach a client that renders it as a link.
fn avatar(url: &str) -> String {
    let ok = url.len() <= 2048
        && url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if ok {
        url.to_owned()
    } else {
        String::new()
    }
}

/// The claims of a JWT, unverified (see the module notes for why that is enough here).
fn jwt_claims(token: &str) -> Option<Value> {
    if token.len() > 16 * 1024 {
        return None;
    }
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let claims: Value =
        serde_json::from_slice(&B64.decode(payload.trim_end_matches('=')).ok()?).ok()?;
    claims.is_object().then_some(claims)
}

/// Check an id_token's audience and expiry (and issuer when one is required).
fn check_id_token(claims: &Value, client_id: &str, issuer: Option<&str>) -> Result<(), String> {
    let aud_ok = match &claims["aud"] {
        Value::String(a) => a == client_id,
        Value::Array(a) => a.iter().any(|x| x.as_str() == Some(client_id)),
        _ => false,
    };
    if !aud_ok {
        return Err("id_token: wrong audience".into());
    }
    let exp = claims["exp"].as_i64().unwrap_or(0);
    if exp <= super::token::now_unix() {
        return Err("id_token: expired".into());
    }
    if let Some(issuer) = issuer {
        if claims["iss"].as_str() != Some(issuer) {
            return Err("id_token: wrong issuer".into());
        }
    }
    Ok(())
}

/// Map a provider's user JSON (and, for Apple, the id_token claims) to a [`ProviderUser`].
/// `emails` is GitHub's `/user/emails` list when it could be read.
fn map_user(kind: Kind, raw: &Value, emails: Option<&Value>) -> ProviderUser {
    let mut u = ProviderUser {
        raw: raw.clone(),
        ..Default::default()
    };
    match kind {
        Kind::Oidc | Kind::Google => {
            u.id = text(raw, "sub");
            u.name = text(raw, "name");
            u.username = text(raw, "preferred_username");
            u.email = text(raw, "email");
            u.email_verified = flag(raw, "email_verified");
            u.avatar_url = avatar(&text(raw, "picture"));
        }
        Kind::GitHub => {
            u.id = text(raw, "id");
            u.name = text(raw, "name");
            u.username = text(raw, "login");
            u.avatar_url = avatar(&text(raw, "avatar_url"));
            let verified_primary = emails
                .and_then(Value::as_array)
                .and_then(|list| {
                    list.iter()
                        .find(|e| flag(e, "primary") && flag(e, "verified"))
                })
                .map(|e| text(e, "email"))
                .filter(|e| !e.is_empty());
            match verified_primary {
                Some(email) => {
                    u.email = email;
                    u.email_verified = true;
                }
                None => u.email = text(raw, "email"),
            }
        }
        Kind::GitLab => {
            u.id = text(raw, "id");
            u.name = text(raw, "name");
            u.username = text(raw, "username");
            u.email = text(raw, "email");
            u.email_verified = !text(raw, "confirmed_at").is_empty();
            u.avatar_url = avatar(&text(raw, "avatar_url"));
        }
        Kind::Discord => {
            u.id = text(raw, "id");
            u.username = text(raw, "username");
            u.name = match text(raw, "global_name") {
                n if n.is_empty() => u.username.clone(),
                n => n,
            };
            u.email = text(raw, "email");
            u.email_verified = flag(raw, "verified");
            let hash = text(raw, "avatar");
            let hash_ok =
                !hash.is_empty() && hash.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            let id_ok = !u.id.is_empty() && u.id.chars().all(|c| c.is_ascii_digit());
            if hash_ok && id_ok {
                u.avatar_url = format!("https://cdn.discordapp.com/avatars/{}/{hash}.png", u.id);
            }
        }
        Kind::Microsoft => {
            u.id = text(raw, "id");
            u.name = text(raw, "displayName");
            u.email = text(raw, "mail");
            // SECURITY: `mail` is tenant-controlled and unverified (see the module notes).
            u.email_verified = false;
        }
        Kind::Apple => {
            u.id = text(raw, "sub");
            u.email = text(raw, "email");
            u.email_verified = flag(raw, "email_verified");
        }
    }
    if u.email.is_empty() {
        u.email_verified = false;
    }
    u
}

/// The HTTP client of the code flow. Cheap to clone.
#[derive(Clone)]
pub struct OAuth2Client {
    http: reqwest::Client,
}

impl OAuth2Client {
    pub fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("keelbase/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            // Provider calls are rare: an idle connection is not worth keeping for
            // reqwest's default 90 s (it also kept a test provider from shutting down).
            .pool_idle_timeout(std::time::Duration::from_secs(5))
            .build()?;
        Ok(Self { http })
    }

    /// Send a request and read its JSON object answer.
    async fn json(
        &self,
        step: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, ProviderError> {
        match self.read_json(step, request).await? {
            v @ Value::Object(_) => Ok(v),
            _ => Err(ProviderError::NotJson { step }),
        }
    }

    /// Send a request and read its JSON answer, at most [`MAX_BODY`] bytes.
    async fn read_json(
        &self,
        step: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, ProviderError> {
        let http = |source| ProviderError::Http { step, source };
        let mut response = request
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(http)?;
        let status = response.status();
        if !status.is_success() {
            return Err(ProviderError::Status {
                step,
                status: status.as_u16(),
            });
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY as u64)
        {
            return Err(ProviderError::TooLarge { step });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(http)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(ProviderError::TooLarge { step });
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|_| ProviderError::NotJson { step })
    }

    /// Exchange `code` at the provider's token endpoint and fetch the account it names.
    pub async fn authenticate(
        &self,
        provider: &Provider,
        code: &str,
        code_verifier: &str,
        redirect_url: &str,
    ) -> Result<ProviderUser, ProviderError> {
        let mut form: Vec<(&str, &str)> =
            vec![("grant_type", "authorization_code"), ("code", code)];
        if !redirect_url.is_empty() {
            form.push(("redirect_uri", redirect_url));
        }
        if provider.pkce && !code_verifier.is_empty() {
            form.push(("code_verifier", code_verifier));
        }
        let mut request = self.http.post(&provider.token_url);
        if provider.kind == Kind::Oidc {
            // client_secret_basic: the method every OpenID provider must support. The
            // credentials are form-encoded first (RFC 6749 §2.3.1).
            let encode =
                |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request = request.basic_auth(
                encode(&provider.client_id),
                Some(encode(&provider.client_secret)),
            );
        } else {
            form.push(("client_id", &provider.client_id));
            if !provider.client_secret.is_empty() {
                form.push(("client_secret", &provider.client_secret));
            }
        }
        let token = self.json("token exchange", request.form(&form)).await?;
        let access_token = text(&token, "access_token");
        if access_token.is_empty() {
            return Err(ProviderError::Invalid(
                "token exchange: no access_token in the answer".into(),
            ));
        }
        let id_token = token
            .get("id_token")
            .and_then(Value::as_str)
            .map(|t| jwt_claims(t).ok_or("id_token: malformed"))
            .transpose()
            .map_err(|e| ProviderError::Invalid(e.into()))?;

        let mut user = match provider.kind {
            Kind::Apple => {
                let claims = id_token.ok_or_else(|| {
                    ProviderError::Invalid("token exchange: Apple sent no id_token".into())
                })?;
                check_id_token(&claims, &provider.client_id, Some(APPLE_ISSUER))
                    .map_err(ProviderError::Invalid)?;
                map_user(Kind::Apple, &claims, None)
            }
            kind => {
                let raw = self
                    .json(
                        "user fetch",
                        self.http.get(&provider.user_url).bearer_auth(&access_token),
                    )
                    .await?;
                let emails = if kind == Kind::GitHub {
                    // Only the list says which address GitHub verified. Without it (no
                    // `user:email` grant) the public address stays unverified.
                    let url = format!("{}/emails", provider.user_url.trim_end_matches('/'));
                    let request = self.http.get(url).bearer_auth(&access_token);
                    match self.read_json("emails fetch", request).await {
                        Ok(list) => Some(list),
                        Err(e) => {
                            tracing::debug!(provider = %provider.name, error = %e, "no verified email list");
                            None
                        }
                    }
                } else {
                    None
                };
                let user = map_user(kind, &raw, emails.as_ref());
                if let Some(claims) = &id_token {
                    if matches!(kind, Kind::Oidc | Kind::Google) {
                        check_id_token(claims, &provider.client_id, None)
                            .map_err(ProviderError::Invalid)?;
                        if text(claims, "sub") != user.id {
                            return Err(ProviderError::Invalid(
                                "userinfo: sub differs from the id_token's".into(),
                            ));
                        }
                    }
                }
                user
            }
        };
        if user.id.is_empty() || user.id.len() > 255 {
            return Err(ProviderError::Invalid(
                "user fetch: no usable account id".into(),
            ));
        }
        user.access_token = access_token;
        user.refresh_token = text(&token, "refresh_token");
        let expires_in = match token.get("expires_in") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        user.expiry = expires_in
            .filter(|s| (1..=10 * 365 * 86_400).contains(s))
            .map(|s| {
                crate::util::format_datetime(chrono::Utc::now() + chrono::Duration::seconds(s))
            })
            .unwrap_or_default();
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_matches_rfc_7636() {
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn providers_come_from_the_options_over_their_presets() {
        let options = json!({"oauth2": {"providers": [
            {"name": "github", "clientId": "gh", "clientSecret": "s"},
            {"name": "oidc", "clientId": "o", "displayName": "Corp SSO",
             "authURL": "https://sso.example/auth?tenant=1", "tokenURL": "https://sso.example/token",
             "userInfoURL": "https://sso.example/me", "pkce": false},
            {"name": "gitlab", "clientId": ""},
            {"name": "nope", "clientId": "x"}
        ]}});
        let all = Provider::all(&options);
        let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["github", "oidc"], "unusable entries are skipped");
        let gh = &all[0];
        assert_eq!(gh.display_name, "GitHub");
        assert_eq!(gh.token_url, "https://github.com/login/oauth/access_token");
        assert!(gh.pkce);
        assert!(!format!("{gh:?}").contains("\"s\""), "secret redacted");
        let oidc = Provider::find(&options, "oidc").unwrap();
        assert_eq!(oidc.display_name, "Corp SSO");
        assert!(!oidc.pkce);
    }

    #[test]
    fn authorization_urls_end_with_an_empty_redirect_uri() {
        let options = json!({"oauth2": {"providers": [
            {"name": "oidc", "clientId": "my app", "authURL": "https://sso.example/auth?tenant=1",
             "tokenURL": "https://sso.example/token", "userInfoURL": "https://sso.example/me"},
            {"name": "apple", "clientId": "com.example"}
        ]}});
        let oidc = Provider::find(&options, "oidc").unwrap();
        let url = oidc.authorization_url("st4te", Some("ch"));
        assert_eq!(
            url,
            "https://sso.example/auth?tenant=1&client_id=my+app&code_challenge=ch&code_challenge_method=S256&response_type=code&scope=openid+profile+email&state=st4te&redirect_uri="
        );
        let apple = Provider::find(&options, "apple").unwrap();
        let url = apple.authorization_url("s", None);
        assert!(
            url.starts_with(
                "https://appleid.apple.com/auth/authorize?client_id=com.example&response_type=code"
            ),
            "{url}"
        );
        assert!(url.contains("response_mode=form_post") && url.ends_with("&redirect_uri="));
        assert!(!url.contains("code_challenge"));
    }

    #[test]
    fn users_map_per_provider_and_only_vouched_emails_are_verified() {
        let cases = [
            (
                Kind::Oidc,
                json!({"sub": "u1", "name": "Ann", "preferred_username": "ann", "email": "a@x.io", "email_verified": true, "picture": "https://img.example/a.png"}),
                None,
                ("u1", "Ann", "ann", "a@x.io", true, "https://img.example/a.png"),
            ),
            (
                Kind::Google,
                json!({"sub": "g1", "email": "a@x.io", "email_verified": "true", "picture": "javascript:alert(1)"}),
                None,
                ("g1", "", "", "a@x.io", true, ""),
            ),
            (
                Kind::Oidc,
                json!({"sub": "u2", "email": "a@x.io"}),
                None,
                ("u2", "", "", "a@x.io", false, ""),
            ),
            (
                Kind::GitHub,
                json!({"id": 42, "login": "octo", "name": "Octo", "email": "public@x.io", "avatar_url": "https://avatars.example/42"}),
                Some(json!([{"email": "other@x.io", "primary": false, "verified": true}, {"email": "main@x.io", "primary": true, "verified": true}])),
                ("42", "Octo", "octo", "main@x.io", true, "https://avatars.example/42"),
            ),
            (
                Kind::GitHub,
                json!({"id": 42, "login": "octo", "email": "public@x.io"}),
                Some(json!([{"email": "public@x.io", "primary": true, "verified": false}])),
                ("42", "", "octo", "public@x.io", false, ""),
            ),
            (
                Kind::GitLab,
                json!({"id": 7, "username": "lab", "name": "Lab", "email": "l@x.io", "confirmed_at": "2020-01-01T00:00:00Z"}),
                None,
                ("7", "Lab", "lab", "l@x.io", true, ""),
            ),
            (
                Kind::GitLab,
                json!({"id": 7, "username": "lab", "email": "l@x.io", "confirmed_at": null}),
                None,
                ("7", "", "lab", "l@x.io", false, ""),
            ),
            (
                Kind::Discord,
                json!({"id": "80351110224678912", "username": "nelly", "global_name": "Nelly", "email": "n@x.io", "verified": true, "avatar": "8342729096ea3675442027381ff50dfe"}),
                None,
                ("80351110224678912", "Nelly", "nelly", "n@x.io", true, "https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png"),
            ),
            (
                Kind::Microsoft,
                json!({"id": "m1", "displayName": "Mic", "mail": "boss@victim.example"}),
                None,
                ("m1", "Mic", "", "boss@victim.example", false, ""),
            ),
            (
                Kind::Apple,
                json!({"sub": "001.abc", "email": "x@privaterelay.appleid.com", "email_verified": "true"}),
                None,
                ("001.abc", "", "", "x@privaterelay.appleid.com", true, ""),
            ),
        ];
        for (kind, raw, emails, (id, name, username, email, verified, avatar)) in cases {
            let u = map_user(kind, &raw, emails.as_ref());
            assert_eq!(
                (
                    u.id.as_str(),
                    u.name.as_str(),
                    u.username.as_str(),
                    u.email.as_str(),
                    u.email_verified,
                    u.avatar_url.as_str()
                ),
                (id, name, username, email, verified, avatar),
                "{kind:?} {raw}"
            );
            assert_eq!(u.raw, raw);
        }
    }

    #[test]
    fn id_tokens_need_our_audience_a_future_expiry_and_the_issuer() {
        let now = crate::auth::token::now_unix();
        let token = |claims: Value| {
            format!(
                "{}.{}.sig",
                B64.encode(r#"{"alg":"RS256"}"#),
                B64.encode(claims.to_string())
            )
        };
        let good = json!({"iss": APPLE_ISSUER, "aud": "app", "exp": now + 60, "sub": "s"});
        let claims = jwt_claims(&token(good.clone())).unwrap();
        assert!(check_id_token(&claims, "app", Some(APPLE_ISSUER)).is_ok());
        let aud_list = json!({"iss": APPLE_ISSUER, "aud": ["x", "app"], "exp": now + 60});
        assert!(check_id_token(&aud_list, "app", None).is_ok());
        for bad in [
            json!({"iss": APPLE_ISSUER, "aud": "other", "exp": now + 60}),
            json!({"iss": APPLE_ISSUER, "aud": "app", "exp": now - 1}),
            json!({"iss": "https://evil.example", "aud": "app", "exp": now + 60}),
            json!({"iss": APPLE_ISSUER, "aud": "app"}),
        ] {
            assert!(
                check_id_token(&bad, "app", Some(APPLE_ISSUER)).is_err(),
                "{bad}"
            );
        }
        for junk in ["", "a.b", "a.b.c.d", "x.@@@.y", &token(json!([1]))] {
            assert!(jwt_claims(junk).is_none(), "{junk}");
        }
    }
}
