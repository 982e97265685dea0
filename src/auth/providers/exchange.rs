//! The two calls of the authorization-code flow (code → token, token → user), over a
//! client that follows no redirects, times out and reads at most [`MAX_BODY`]; and the
//! checks of an id_token from the token endpoint.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde_json::Value;

use super::presets::{Kind, Provider};
use super::user::{map_user, text, ProviderUser};
use super::MAX_BODY;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const APPLE_ISSUER: &str = "https://appleid.apple.com";

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

/// The claims of a JWT, unverified (see the `providers` notes for why that is enough here).
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
    if exp <= crate::auth::token::now_unix() {
        return Err("id_token: expired".into());
    }
    if let Some(issuer) = issuer {
        if claims["iss"].as_str() != Some(issuer) {
            return Err("id_token: wrong issuer".into());
        }
    }
    Ok(())
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
    use serde_json::json;

    use super::*;

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
