//! The `auth` options object of an auth collection: PocketBase's option names and defaults
//! (API.md §5.13), plus `password: {minLength, maxLength}`. Token secrets are generated
//! here, stored with the collection and never shown by the API.

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
                        slot.insert(k.clone(), v.clone());
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
