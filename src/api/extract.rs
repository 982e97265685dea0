//! Extractors: request bodies in every accepted encoding, and the caller's identity.
//!
//! Rejections are [`ApiError`]s, so a bad body answers in the same JSON shape as
//! everything else.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, StatusCode};
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::auth::token::Claims;
use crate::db::superusers::SuperuserRow;
use crate::state::AppState;

/// A request body as a JSON object, from `application/json` or
/// `application/x-www-form-urlencoded`. An empty body is `{}`.
pub struct Body(pub Map<String, Value>);

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
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::status_default(StatusCode::PAYLOAD_TOO_LARGE)
            } else {
                ApiError::bad_request("Failed to read the request body.")
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(Map::new()));
        }
        match content_type.as_deref() {
            None | Some("application/json") => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => Ok(Body(map)),
                Ok(_) => Err(ApiError::bad_request(
                    "The request body must be a JSON object.",
                )),
                Err(e) => Err(ApiError::bad_request(format!(
                    "Failed to parse the JSON body: {e}."
                ))),
            },
            Some("application/x-www-form-urlencoded") => {
                let mut map = Map::new();
                for (k, v) in form_urlencoded::parse(&bytes) {
                    map.insert(k.into_owned(), Value::String(v.into_owned()));
                }
                Ok(Body(map))
            }
            Some(_) => Err(ApiError::bad_request("Unsupported Content-Type.")),
        }
    }
}

impl Body {
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
                None => Auth::Guest,
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
        }
    }
}
