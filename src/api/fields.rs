//! The `fields` query parameter on responses: the picker itself is
//! [`crate::query::fields`]; this applies it to any 2xx JSON response.

use axum::body::{to_bytes, Body};
use axum::http::header;
use axum::response::Response;
use serde_json::Value;

pub use crate::query::fields::pick;

/// Largest JSON body the picker will rewrite (bigger ones pass through untouched).
const MAX_BODY: usize = 64 << 20;

/// The `fields` parameter of a query string, if any and not blank.
pub fn fields_param(query: &str) -> Option<String> {
    if !query.contains("fields") {
        return None;
    }
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "fields")
        .map(|(_, v)| v.into_owned())
        .filter(|f| !f.trim().is_empty())
}

/// Rewrite a 2xx JSON response through `fields`; anything else passes unchanged.
pub async fn rewrite(response: Response, fields: &str) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !response.status().is_success() || !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    pick(fields, &mut value);
    let out = serde_json::to_vec(&value).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(out))
}
