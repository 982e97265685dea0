//! The one HTTP error type, and every mapping from a domain error to a status.
//!
//! Bodies are always `{"status", "message", "data"}` (API.md Part B §2). A 500 never says
//! why: the cause travels in a response extension to `normalize`, which logs it once with
//! the request id and puts only that id in the message.

use std::borrow::Cow;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::auth::AuthError;
use crate::db::DbError;
use crate::realtime::RealtimeError;

/// An error answer: status, message and `data` (field errors or `{}`).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: Cow<'static, str>,
    pub data: Map<String, Value>,
    /// For 5xx: what went wrong, logged once and never sent to the client.
    cause: Option<String>,
}

/// The internal cause of a 5xx, carried to the logging middleware.
#[derive(Clone, Debug)]
pub struct InternalCause(pub String);

/// PocketBase's default message for a status.
pub fn default_message(status: StatusCode) -> Cow<'static, str> {
    match status.as_u16() {
        400 => "Something went wrong while processing your request.".into(),
        401 => "Missing or invalid authentication.".into(),
        403 => "You are not allowed to perform this request.".into(),
        404 => "The requested resource wasn't found.".into(),
        408 => "The request took too long to process.".into(),
        413 => "Request entity too large.".into(),
        429 => "Too Many Requests.".into(),
        500 => "Something went wrong while processing your request.".into(),
        503 => "The server is busy, try again later.".into(),
        _ => format!("{}.", status.canonical_reason().unwrap_or("Error")).into(),
    }
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            message: message.into(),
            data: Map::new(),
            cause: None,
        }
    }

    pub fn status_default(status: StatusCode) -> Self {
        Self::new(status, default_message(status))
    }

    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found() -> Self {
        Self::status_default(StatusCode::NOT_FOUND)
    }

    pub fn unauthorized(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// A 500 whose `cause` is logged, not sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut e = Self::status_default(StatusCode::INTERNAL_SERVER_ERROR);
        e.cause = Some(cause.to_string());
        e
    }

    /// Add a field error `data.<field> = {code, message}`.
    pub fn with_field(mut self, field: &str, code: &str, message: impl Into<String>) -> Self {
        self.data.insert(
            field.to_owned(),
            json!({"code": code, "message": message.into()}),
        );
        self
    }

    /// A 400 with PocketBase's validation message and no field errors yet.
    pub fn validation() -> Self {
        Self::bad_request("An error occurred while validating the submitted data.")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "status": self.status.as_u16(),
            "message": self.message,
            "data": self.data,
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(cause) = self.cause {
            response.extensions_mut().insert(InternalCause(cause));
        }
        response
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        if e.is_unavailable() {
            let mut err = ApiError::status_default(StatusCode::SERVICE_UNAVAILABLE);
            err.cause = Some(e.to_string());
            return err;
        }
        ApiError::internal(e)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidCredentials => ApiError::bad_request("Failed to authenticate."),
            AuthError::Invalid(field, code, message) => {
                ApiError::validation().with_field(field, code, message)
            }
            AuthError::AlreadyInstalled => {
                ApiError::bad_request("The first superuser was already created.")
            }
            AuthError::InvalidInstallToken => ApiError::validation().with_field(
                "token",
                "validation_invalid_token",
                "Invalid or expired install token.",
            ),
            AuthError::InvalidProvider(name) => {
                let mut e = ApiError::validation();
                e.data.insert(
                    "provider".into(),
                    json!({
                        "code": "validation_invalid_provider",
                        "message": format!("Provider with name {name:?} is missing or is not enabled."),
                        "params": {"name": name},
                    }),
                );
                e
            }
            AuthError::Forbidden(message) => ApiError::forbidden(message),
            AuthError::BadRequest(message) => ApiError::bad_request(message),
            AuthError::Busy => ApiError::status_default(StatusCode::SERVICE_UNAVAILABLE),
            AuthError::Db(e) => e.into(),
            AuthError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<RealtimeError> for ApiError {
    fn from(e: RealtimeError) -> Self {
        match e {
            RealtimeError::TooManyClients | RealtimeError::Closed => {
                ApiError::status_default(StatusCode::SERVICE_UNAVAILABLE)
            }
            RealtimeError::UnknownClient => {
                ApiError::new(StatusCode::NOT_FOUND, "Missing or invalid client id.")
            }
            RealtimeError::AddressMismatch
            | RealtimeError::NotSubscribed
            | RealtimeError::Undeliverable => ApiError::bad_request("Invalid realtime client."),
            RealtimeError::AuthMismatch => ApiError::forbidden(
                "The current and the previous request authorization don't match.",
            ),
            RealtimeError::TooManySubscriptions => ApiError::bad_request("Too many subscriptions."),
        }
    }
}

/// Make every error JSON, whoever produced it (axum rejections, timeouts, the body limit,
/// the panic catcher), and answer a CORS preflight with 204 as PocketBase does. Returns
/// the internal cause of a 5xx, for the caller to log once.
pub fn normalize(response: &mut Response, is_options: bool, request_id: &str) -> Option<String> {
    let status = response.status();
    if is_options
        && status == StatusCode::OK
        && response
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_METHODS)
    {
        *response.status_mut() = StatusCode::NO_CONTENT;
        return None;
    }
    if !status.is_client_error() && !status.is_server_error() {
        return None;
    }
    let cause = response
        .extensions_mut()
        .remove::<InternalCause>()
        .map(|c| c.0);
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if status == StatusCode::INTERNAL_SERVER_ERROR || !is_json {
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            format!("Something went wrong while processing your request (request id {request_id}).")
        } else {
            default_message(status).into_owned()
        };
        let body = json!({"status": status.as_u16(), "message": message, "data": {}});
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.remove(header::CONTENT_LENGTH);
        *response.body_mut() = Body::from(bytes);
    }
    cause.or_else(|| status.is_server_error().then(|| "-".to_owned()))
}

/// The answer to a panic inside a handler: a 500 whose cause the middleware logs.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let text = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(non-string panic payload)");
    ApiError::internal(format!("handler panicked: {text}")).into_response()
}

/// Unmatched routes: PocketBase's static fallback answers `404 "File not found."`.
pub async fn route_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "File not found.")
}

/// A path that exists with another method: PocketBase has no route for it, so 404.
pub async fn method_not_allowed() -> ApiError {
    ApiError::not_found()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_overload_is_503_and_other_store_errors_are_500() {
        for e in [DbError::QueueFull, DbError::QueueTimeout, DbError::Closed] {
            assert_eq!(ApiError::from(e).status, StatusCode::SERVICE_UNAVAILABLE);
        }
        assert_eq!(
            ApiError::from(DbError::Panicked).status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let busy = ApiError::from(AuthError::Busy);
        assert_eq!(busy.status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn internal_causes_never_reach_the_body() {
        let response = ApiError::internal("disk on fire at /secret/path").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.extensions().get::<InternalCause>().is_some());
        let mut response = response;
        let cause = normalize(&mut response, false, "req-1");
        assert_eq!(cause.as_deref(), Some("disk on fire at /secret/path"));
    }
}
