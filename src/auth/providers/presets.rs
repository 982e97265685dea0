//! Provider presets (endpoints, scopes, display names) and the configured [`Provider`]:
//! its collection options over its preset, and the authorization URL it offers.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::schema::auth_options::is_oidc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
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
    pub(super) client_secret: String,
    pub auth_url: String,
    pub token_url: String,
    pub user_url: String,
    pub scopes: String,
    /// Whether the flow uses PKCE (S256).
    pub pkce: bool,
    pub(super) kind: Kind,
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

#[cfg(test)]
mod tests {
    use serde_json::json;

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
}
