//! Extractors: request bodies in every accepted encoding, and the caller's identity.
//!
//! Rejections are [`ApiError`]s, so a bad body answers in the same JSON shape as
//! everything else.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, StatusCode};
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::auth::records::RecordSession;
use crate::auth::token::Claims;
use crate::db::superusers::SuperuserRow;
use crate::state::AppState;

/// A request body as a JSON object, from `application/json`,
/// `application/x-www-form-urlencoded` or `multipart/form-data` (text parts; `@jsonPayload`
/// parts merged over them). An empty body is `{}`. For form bodies the second field holds
/// the values as records read them: PocketBase's inference (API.md §0) applied.
pub struct Body(pub Map<String, Value>, pub Option<Map<String, Value>>);

/// PocketBase's multipart/urlencoded value inference: `"true"`/`"false"` → booleans, a
/// number written in its minimal form → a number (`"12"` → 12; `"012"`, `"1e3"`, `"0.0"`
/// stay strings).
pub fn infer(text: &str) -> Value {
    match text {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        if i.to_string() == text {
            return Value::from(i);
        }
    }
    if let Ok(f) = text.parse::<f64>() {
        if f.is_finite() && f.to_string() == text {
            if let Some(n) = serde_json::Number::from_f64(f) {
                return Value::Number(n);
            }
        }
    }
    Value::String(text.to_owned())
}

/// Add a form value; a repeated key becomes an array.
fn push(map: &mut Map<String, Value>, key: String, value: Value) {
    match map.get_mut(&key) {
        None => {
            map.insert(key, value);
        }
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}

/// A body that could not be read: 413 when it was over the limit, else 400.
pub(super) fn too_large_or_bad(status: StatusCode) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::status_default(StatusCode::PAYLOAD_TOO_LARGE)
    } else {
        ApiError::bad_request("Failed to read the request body.")
    }
}

/// Keep a multipart text part: `@jsonPayload` objects aside (merged last), others as pairs.
pub(super) fn text_part(
    name: String,
    text: String,
    pairs: &mut Vec<(String, String)>,
    payloads: &mut Vec<Map<String, Value>>,
) -> Result<(), ApiError> {
    if name != "@jsonPayload" {
        pairs.push((name, text));
        return Ok(());
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(o)) => {
            payloads.push(o);
            Ok(())
        }
        _ => Err(ApiError::bad_request(
            "@jsonPayload must hold a JSON object.",
        )),
    }
}

/// Build both views of a form: raw strings, and inferred values; `@jsonPayload` objects are
/// merged over both.
pub(super) fn form_body(pairs: Vec<(String, String)>, payloads: Vec<Map<String, Value>>) -> Body {
    let mut raw = Map::new();
    let mut inferred = Map::new();
    for (k, v) in pairs {
        push(&mut inferred, k.clone(), infer(&v));
        push(&mut raw, k, Value::String(v));
    }
    for payload in payloads {
        for (k, v) in payload {
            raw.insert(k.clone(), v.clone());
            inferred.insert(k, v);
        }
    }
    Body(raw, Some(inferred))
}

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        if content_type.as_deref() == Some("multipart/form-data") {
            let mut multipart = axum::extract::Multipart::from_request(req, state)
                .await
                .map_err(|r| too_large_or_bad(r.status()))?;
            let mut pairs = Vec::new();
            let mut payloads = Vec::new();
            while let Some(field) = multipart
                .next_field()
                .await
                .map_err(|e| too_large_or_bad(e.status()))?
            {
                let name = field.name().unwrap_or("").to_owned();
                if field.file_name().is_some() {
                    return Err(ApiError::bad_request(
                        "Files are accepted only by record create and update requests.",
                    ));
                }
                let text = field
                    .text()
                    .await
                    .map_err(|e| too_large_or_bad(e.status()))?;
                text_part(name, text, &mut pairs, &mut payloads)?;
            }
            return Ok(form_body(pairs, payloads));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| too_large_or_bad(rejection.status()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(Map::new(), None));
        }
        match content_type.as_deref() {
            None | Some("application/json") => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => Ok(Body(map, None)),
                Ok(_) => Err(ApiError::bad_request(
                    "The request body must be a JSON object.",
                )),
                Err(e) => Err(ApiError::bad_request(format!(
                    "Failed to parse the JSON body: {e}."
                ))),
            },
            Some("application/x-www-form-urlencoded") => {
                let pairs = form_urlencoded::parse(&bytes)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                Ok(form_body(pairs, Vec::new()))
            }
            Some(_) => Err(ApiError::bad_request("Unsupported Content-Type.")),
        }
    }
}

impl Body {
    /// The body as record data: inferred values for forms, the JSON object otherwise.
    pub fn record_data(self) -> Map<String, Value> {
        self.1.unwrap_or(self.0)
    }

    /// A string field: `None` when absent or null, an error naming the field when not a string.
    pub fn string(&self, field: &'static str) -> Result<Option<&str>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::validation().with_field(
                field,
                "validation_invalid_value",
                "Must be a string.",
            )),
        }
    }
}

/// Who is calling. A missing, malformed, expired or revoked token is a guest, never an
/// error (API.md §0); only endpoints that need auth answer 401.
#[derive(Clone, Debug)]
pub enum Auth {
    Guest,
    Superuser(Box<Session>),
    /// A record of a user auth collection (`users`, …).
    Record(Box<RecordSession>),
}

/// An authenticated caller: the record, its verified token claims and the raw token.
#[derive(Clone, Debug)]
pub struct Session {
    pub record: SuperuserRow,
    pub claims: Claims,
    pub token: String,
}

impl Auth {
    pub fn is_superuser(&self) -> bool {
        matches!(self, Auth::Superuser(_))
    }
}

/// The token of an `Authorization` header: raw, or with an optional `Bearer ` prefix.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let token = match value.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => value[7..].trim_start(),
        _ => value,
    };
    (!token.is_empty()).then_some(token)
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(auth) = parts.extensions.get::<Auth>() {
            return Ok(auth.clone());
        }
        let auth = match bearer_token(parts) {
            None => Auth::Guest,
            Some(token) => match state.superusers().from_token(token).await? {
                Some((record, claims)) => Auth::Superuser(Box::new(Session {
                    record,
                    claims,
                    token: token.to_owned(),
                })),
                None => match state.auth_records().from_token(token).await? {
                    Some(session) => Auth::Record(Box::new(session)),
                    None => Auth::Guest,
                },
            },
        };
        parts.extensions.insert(auth.clone());
        Ok(auth)
    }
}

/// A caller that must be a superuser: 401 for guests, 403 for other auth records.
pub struct Superuser(pub SuperuserRow);

impl FromRequestParts<AppState> for Superuser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Auth::from_request_parts(parts, state).await? {
            Auth::Superuser(session) => Ok(Superuser(session.record)),
            Auth::Guest => Err(ApiError::unauthorized(
                "The request requires valid superuser authorization token.",
            )),
            Auth::Record(_) => Err(ApiError::forbidden(
                "The authorized record is not allowed to perform this action.",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::infer;
    use serde_json::json;

    #[test]
    fn pocketbase_form_inference() {
        assert_eq!(infer("true"), json!(true));
        assert_eq!(infer("false"), json!(false));
        assert_eq!(infer("12"), json!(12));
        assert_eq!(infer("-5"), json!(-5));
        assert_eq!(infer("1.5"), json!(1.5));
        for stays in ["012", "1e3", "0.0", "1.50", "", "True", "12 ", "abc"] {
            assert_eq!(infer(stays), json!(stays), "{stays:?}");
        }
    }
}
