//! The `auth` options object of an auth collection: PocketBase's option names and defaults
//! (API.md §5.13), plus `password: {minLength, maxLength}`. Token secrets are generated
//! here, stored with the collection and never shown by the API; so are the OAuth2
//! providers' `clientSecret`s, which an update that leaves them out keeps.

use serde_json::{json, Map, Value};

use super::SchemaError;

const TOKENS: &[(&str, u64)] = &[
    ("authToken", 432_000),
    ("passwordResetToken", 1_800),
    ("emailChangeToken", 1_800),
    ("verificationToken", 86_400),
    ("fileToken", 180),
];

fn defaults(collection: &str) -> Value {
    let template = |subject: &str, action: &str, path: &str| {
        json!({
            "subject": subject,
            "body": format!(
                "<p>Hello,</p>\n<p>{action}</p>\n<p><a href=\"{{APP_URL}}/_/#/auth/{path}/{{TOKEN}}\" target=\"_blank\" rel=\"noopener\">{{APP_URL}}/_/#/auth/{path}/{{TOKEN}}</a></p>\n<p>Thanks,<br/>{{APP_NAME}} team</p>"
            ),
        })
    };
    json!({
        "passwordAuth": {"enabled": true, "identityFields": ["email"]},
        "oauth2": {
            "enabled": false,
            "providers": [],
            "mappedFields": {"id": "", "name": "", "username": "", "avatarURL": ""}
        },
        "otp": {
            "enabled": false,
            "duration": 180,
            "length": 8,
            "emailTemplate": {
                "subject": "OTP for {APP_NAME}",
                "body": "<p>Hello,</p>\n<p>Your one-time password is: <strong>{OTP}</strong></p>\n<p>If you didn't ask for it, you can ignore this email.</p>\n<p>Thanks,<br/>{APP_NAME} team</p>"
            }
        },
        "mfa": {"enabled": false, "duration": 600, "rule": ""},
        "authAlert": {
            "enabled": true,
            "emailTemplate": {
                "subject": "Login from a new location",
                "body": "<p>Hello,</p>\n<p>We noticed a login to your {APP_NAME} account from a new location.</p>\n<p>If this wasn't you, change your password right away.</p>\n<p>Thanks,<br/>{APP_NAME} team</p>"
            }
        },
        "verificationTemplate": template("Verify your {APP_NAME} email", "Click on the link below to verify your email address.", "confirm-verification"),
        "resetPasswordTemplate": template("Reset your {APP_NAME} password", "Click on the link below to reset your password.", "confirm-password-reset"),
        "confirmEmailChangeTemplate": template("Confirm your {APP_NAME} new email address", "Click on the link below to confirm your new email address.", "confirm-email-change"),
        "password": {"minLength": 8, "maxLength": 71},
        "_collection": collection,
    })
}

/// The OAuth2 provider names a collection may configure: the presets (their endpoints and
/// user mapping live in `auth/providers/`) and up to three generic OpenID Connect
/// providers, whose endpoints must be given.
pub const OAUTH2_PROVIDERS: &[&str] = &[
    "apple",
    "discord",
    "github",
    "gitlab",
    "google",
    "microsoft",
    "oidc",
    "oidc2",
    "oidc3",
];

/// A generic OpenID Connect provider (no preset endpoints).
pub fn is_oidc(name: &str) -> bool {
    matches!(name, "oidc" | "oidc2" | "oidc3")
}

/// The keys of one `oauth2.providers` entry.
const PROVIDER_KEYS: &[&str] = &[
    "name",
    "clientId",
    "clientSecret",
    "authURL",
    "tokenURL",
    "userInfoURL",
    "displayName",
    "pkce",
    "extra",
];

/// The keys of `oauth2.mappedFields`.
pub const MAPPED_FIELDS: &[&str] = &["id", "name", "username", "avatarURL"];

fn invalid(path: &str, message: impl std::fmt::Display) -> SchemaError {
    SchemaError::invalid(
        "auth",
        "validation_invalid_value",
        format!("/auth/{path}: {message}"),
    )
}

/// `given` (from the request) merged over `existing` (the stored options), then over the
/// defaults. Unknown option names are errors; secrets are kept or generated.
pub fn merge(
    given: Option<&Value>,
    existing: Option<&Value>,
    collection: &str,
) -> Result<Value, SchemaError> {
    let mut out = defaults(collection);
    let out_map = out.as_object_mut().expect("defaults are an object");
    out_map.remove("_collection");
    for (key, _) in TOKENS {
        out_map.insert((*key).into(), json!({}));
    }
    let layers = [existing, given];
    for (layer_index, layer) in layers.into_iter().enumerate() {
        let Some(layer) = layer else { continue };
        let Value::Object(layer) = layer else {
            return Err(invalid("", "must be an object"));
        };
        for (key, value) in layer {
            let Some(slot) = out_map.get_mut(key) else {
                return Err(invalid(key, "unknown auth option"));
            };
            match (slot, value) {
                (Value::Object(slot), Value::Object(value)) => {
                    for (k, v) in value {
                        // SECURITY: secrets come from storage only, never from a request.
                        if k == "secret" && layer_index == 1 {
                            continue;
                        }
                        let v = if key == "oauth2" && k == "providers" {
                            keep_client_secrets(v, slot.get("providers"))
                        } else {
                            v.clone()
                        };
                        slot.insert(k.clone(), v);
                    }
                }
                (_, _) => return Err(invalid(key, "must be an object")),
            }
        }
    }
    for (key, default_duration) in TOKENS {
        let slot = out_map
            .get_mut(*key)
            .and_then(Value::as_object_mut)
            .expect("inserted above");
        match slot.get("duration") {
            None => {
                slot.insert("duration".into(), json!(default_duration));
            }
            Some(d) if d.as_u64().is_some_and(|d| (1..=365 * 86_400).contains(&d)) => {}
            Some(_) => {
                return Err(invalid(
                    &format!("{key}/duration"),
                    "must be 1..31536000 seconds",
                ))
            }
        }
        if slot
            .get("secret")
            .and_then(Value::as_str)
            .is_none_or(|s| s.len() < 30)
        {
            slot.insert("secret".into(), json!(crate::util::random_string(50)));
        }
    }
    check(out_map)?;
    Ok(out)
}

/// `given` providers, each without a `clientSecret` taking the one stored for the provider
/// of the same name: the API never shows client secrets, so a definition read back and
/// sent again must not erase them.
fn keep_client_secrets(given: &Value, stored: Option<&Value>) -> Value {
    let mut out = given.clone();
    let (Some(list), Some(Value::Array(stored))) = (out.as_array_mut(), stored) else {
        return out;
    };
    for provider in list.iter_mut().filter_map(Value::as_object_mut) {
        if provider.contains_key("clientSecret") {
            continue;
        }
        let secret = stored
            .iter()
            .find(|s| {
                s.get("name")
                    .is_some_and(|n| Some(n) == provider.get("name"))
            })
            .and_then(|s| s.get("clientSecret"));
        if let Some(secret) = secret {
            provider.insert("clientSecret".into(), secret.clone());
        }
    }
    out
}

/// An absolute http(s) URL with a host.
fn is_http_url(s: &str) -> bool {
    url::Url::parse(s)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

fn check_oauth2(o: &Map<String, Value>) -> Result<(), SchemaError> {
    let providers = match o.get("providers") {
        Some(Value::Array(p)) => p,
        _ => return Err(invalid("oauth2/providers", "must be an array")),
    };
    let mut seen: Vec<&str> = Vec::new();
    for (i, provider) in providers.iter().enumerate() {
        let at = |key: &str| format!("oauth2/providers/{i}/{key}");
        let Value::Object(p) = provider else {
            return Err(invalid(
                &format!("oauth2/providers/{i}"),
                "must be an object",
            ));
        };
        if let Some(key) = p.keys().find(|k| !PROVIDER_KEYS.contains(&k.as_str())) {
            return Err(invalid(&at(key), "unknown provider option"));
        }
        let name = match p.get("name") {
            Some(Value::String(n)) if OAUTH2_PROVIDERS.contains(&n.as_str()) => n.as_str(),
            _ => {
                return Err(invalid(
                    &at("name"),
                    format!("must be one of {}", OAUTH2_PROVIDERS.join(", ")),
                ))
            }
        };
        if seen.contains(&name) {
            return Err(invalid(
                &at("name"),
                format!("{name:?} is configured twice"),
            ));
        }
        seen.push(name);
        match p.get("clientId") {
            Some(Value::String(id)) if !id.trim().is_empty() && id.len() <= 1000 => {}
            _ => return Err(invalid(&at("clientId"), "must be a non-empty string")),
        }
        for key in ["clientSecret", "displayName"] {
            match p.get(key) {
                None | Some(Value::String(_)) => {}
                Some(_) => return Err(invalid(&at(key), "must be a string")),
            }
        }
        for key in ["authURL", "tokenURL", "userInfoURL"] {
            match p.get(key) {
                Some(Value::String(u)) if is_http_url(u) => {}
                None | Some(Value::String(_)) if is_oidc(name) => {
                    return Err(invalid(
                        &at(key),
                        "an OpenID Connect provider needs an http(s) URL",
                    ))
                }
                None => {}
                Some(Value::String(u)) if u.is_empty() => {}
                Some(_) => return Err(invalid(&at(key), "must be an http(s) URL or empty")),
            }
        }
        match p.get("pkce") {
            None | Some(Value::Null | Value::Bool(_)) => {}
            Some(_) => return Err(invalid(&at("pkce"), "must be true, false or null")),
        }
        match p.get("extra") {
            None | Some(Value::Null | Value::Object(_)) => {}
            Some(_) => return Err(invalid(&at("extra"), "must be an object or null")),
        }
    }
    match o.get("mappedFields") {
        Some(Value::Object(m)) => {
            if let Some(key) = m.keys().find(|k| !MAPPED_FIELDS.contains(&k.as_str())) {
                return Err(invalid(
                    &format!("oauth2/mappedFields/{key}"),
                    "unknown mapped field",
                ));
            }
            if let Some((key, _)) = m.iter().find(|(_, v)| !v.is_string()) {
                return Err(invalid(
                    &format!("oauth2/mappedFields/{key}"),
                    "must be a field name or empty",
                ));
            }
        }
        _ => return Err(invalid("oauth2/mappedFields", "must be an object")),
    }
    Ok(())
}

fn check(o: &Map<String, Value>) -> Result<(), SchemaError> {
    let bool_at = |path: &str, v: Option<&Value>| -> Result<(), SchemaError> {
        match v {
            Some(Value::Bool(_)) => Ok(()),
            _ => Err(invalid(path, "must be true or false")),
        }
    };
    for key in ["passwordAuth", "oauth2", "otp", "mfa", "authAlert"] {
        bool_at(&format!("{key}/enabled"), o[key].get("enabled"))?;
    }
    if let Value::Object(oauth2) = &o["oauth2"] {
        check_oauth2(oauth2)?;
    }
    match o["passwordAuth"].get("identityFields") {
        Some(Value::Array(f)) if f.iter().all(Value::is_string) => {}
        _ => {
            return Err(invalid(
                "passwordAuth/identityFields",
                "must be an array of field names",
            ))
        }
    }
    let n = |path: &str, v: Option<&Value>, lo: u64, hi: u64| -> Result<u64, SchemaError> {
        v.and_then(Value::as_u64)
            .filter(|x| (lo..=hi).contains(x))
            .ok_or_else(|| invalid(path, format!("must be an integer in {lo}..={hi}")))
    };
    n("otp/duration", o["otp"].get("duration"), 1, 86_400)?;
    n("otp/length", o["otp"].get("length"), 4, 32)?;
    n("mfa/duration", o["mfa"].get("duration"), 1, 86_400)?;
    let min = n("password/minLength", o["password"].get("minLength"), 1, 255)?;
    let max = n("password/maxLength", o["password"].get("maxLength"), 1, 255)?;
    if min > max {
        return Err(invalid("password", "minLength must not exceed maxLength"));
    }
    for key in [
        "verificationTemplate",
        "resetPasswordTemplate",
        "confirmEmailChangeTemplate",
    ] {
        for part in ["subject", "body"] {
            if !o[key].get(part).is_some_and(Value::is_string) {
                return Err(invalid(&format!("{key}/{part}"), "must be a string"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_and_given_values_win() {
        let v = merge(
            Some(&json!({"otp": {"enabled": true}, "authToken": {"duration": 60}})),
            None,
            "users",
        )
        .unwrap();
        assert_eq!(v["otp"]["enabled"], true);
        assert_eq!(v["otp"]["length"], 8);
        assert_eq!(v["authToken"]["duration"], 60);
        assert_eq!(v["fileToken"]["duration"], 180);
        assert!(v.get("_collection").is_none());
    }

    #[test]
    fn secrets_are_kept_from_storage_and_never_taken_from_requests() {
        let first = merge(None, None, "users").unwrap();
        let secret = first["authToken"]["secret"].as_str().unwrap().to_owned();
        let again = merge(
            Some(&json!({"authToken": {"secret": "attacker-chosen-secret-attacker-chosen"}})),
            Some(&first),
            "users",
        )
        .unwrap();
        assert_eq!(again["authToken"]["secret"], secret);
    }

    #[test]
    fn client_secrets_survive_an_update_that_leaves_them_out() {
        let github = json!({"name": "github", "clientId": "id1", "clientSecret": "s3cret"});
        let first = merge(
            Some(&json!({"oauth2": {"enabled": true, "providers": [github]}})),
            None,
            "users",
        )
        .unwrap();
        // Read back without the secret (as the API shows it) and sent again, with a new one.
        let again = merge(
            Some(&json!({"oauth2": {"providers": [
                {"name": "github", "clientId": "id2"},
                {"name": "oidc", "clientId": "x", "authURL": "https://id.example/auth",
                 "tokenURL": "https://id.example/token", "userInfoURL": "https://id.example/me"}
            ]}})),
            Some(&first),
            "users",
        )
        .unwrap();
        let providers = &again["oauth2"]["providers"];
        assert_eq!(providers[0]["clientId"], "id2");
        assert_eq!(providers[0]["clientSecret"], "s3cret");
        assert!(providers[1].get("clientSecret").is_none());
        assert_eq!(again["oauth2"]["enabled"], true);
        // A given secret replaces the stored one.
        let replaced = merge(
            Some(&json!({"oauth2": {"providers": [{"name": "github", "clientId": "id2", "clientSecret": "new"}]}})),
            Some(&again),
            "users",
        )
        .unwrap();
        assert_eq!(replaced["oauth2"]["providers"][0]["clientSecret"], "new");
    }

    #[test]
    fn oauth2_providers_are_checked() {
        let oidc = |extra: Value| {
            let mut p = json!({"name": "oidc", "clientId": "c", "authURL": "https://i.example/a",
                               "tokenURL": "https://i.example/t", "userInfoURL": "https://i.example/u"});
            for (k, v) in extra.as_object().unwrap() {
                p[k] = v.clone();
            }
            json!({"oauth2": {"enabled": true, "providers": [p]}})
        };
        assert!(merge(Some(&oidc(json!({}))), None, "users").is_ok());
        assert!(merge(
            Some(&json!({"oauth2": {"providers": [{"name": "github", "clientId": "c", "pkce": null, "extra": {}}]}})),
            None,
            "users"
        )
        .is_ok());
        for (given, path) in [
            (oidc(json!({"name": "facebook"})), "providers/0/name"),
            (oidc(json!({"clientId": ""})), "providers/0/clientId"),
            (oidc(json!({"userInfoURL": ""})), "providers/0/userInfoURL"),
            (
                oidc(json!({"tokenURL": "file:///etc/passwd"})),
                "providers/0/tokenURL",
            ),
            (oidc(json!({"pkce": "yes"})), "providers/0/pkce"),
            (oidc(json!({"extra": []})), "providers/0/extra"),
            (oidc(json!({"scopes": "x"})), "providers/0/scopes"),
            (oidc(json!({"clientSecret": 5})), "providers/0/clientSecret"),
            (
                json!({"oauth2": {"providers": [{"name": "github", "clientId": "a"}, {"name": "github", "clientId": "b"}]}}),
                "providers/1/name",
            ),
            (
                json!({"oauth2": {"providers": [{"name": "gitlab", "clientId": "a", "authURL": "not a url"}]}}),
                "providers/0/authURL",
            ),
            (json!({"oauth2": {"providers": {}}}), "oauth2/providers"),
            (
                json!({"oauth2": {"mappedFields": {"email": "x"}}}),
                "mappedFields/email",
            ),
            (
                json!({"oauth2": {"mappedFields": {"name": 1}}}),
                "mappedFields/name",
            ),
        ] {
            let e = merge(Some(&given), None, "users").unwrap_err().to_string();
            assert!(e.contains(path), "{given}: {e}");
        }
    }

    #[test]
    fn bad_options_name_their_path() {
        for (given, path) in [
            (json!({"nope": {}}), "/auth/nope"),
            (json!({"otp": {"length": 1}}), "/auth/otp/length"),
            (
                json!({"password": {"minLength": 20, "maxLength": 10}}),
                "/auth/password",
            ),
            (json!({"mfa": {"enabled": "yes"}}), "/auth/mfa/enabled"),
            (
                json!({"authToken": {"duration": 0}}),
                "/auth/authToken/duration",
            ),
        ] {
            let e = merge(Some(&given), None, "users").unwrap_err().to_string();
            assert!(e.contains(path), "{given}: {e}");
        }
    }
}
