//! A provider's user JSON (for Apple, the id_token claims) → a [`ProviderUser`]: which
//! fields each provider names, and which emails count as verified.

use serde_json::{json, Value};

use super::presets::Kind;

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

/// A string claim/property, numbers written out (GitHub and GitLab ids are numbers).
pub(super) fn text(v: &Value, key: &str) -> String {
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

/// Map a provider's user JSON (and, for Apple, the id_token claims) to a [`ProviderUser`].
/// `emails` is GitHub's `/user/emails` list when it could be read.
pub(super) fn map_user(kind: Kind, raw: &Value, emails: Option<&Value>) -> ProviderUser {
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
            // SECURITY: `mail` is tenant-controlled and unverified (see the `providers` notes).
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
