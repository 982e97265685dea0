//! The outer middleware, one pass per request: request id, JSON errors
//! (`error::normalize`), `fields` (`fields::rewrite`), PocketBase's security headers, the
//! access log and the one log line of every 5xx.
//!
//! One function instead of a stack of layers: this runs on every request, including the
//! cheapest ones, so it allocates nothing it does not need.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;

use super::error::normalize;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

const SECURITY_HEADERS: [(HeaderName, &str); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "SAMEORIGIN"),
    (header::X_XSS_PROTECTION, "1; mode=block"),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    ),
];

/// A request id: 8 random characters fixed per process, then a counter in hex (20 in all).
/// Unique within a process and across restarts; not a secret.
fn next_request_id() -> HeaderValue {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| crate::util::random_string(8));
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    HeaderValue::from_str(&format!("{prefix}{n:012x}"))
        .expect("alphanumerics are a valid header value")
}

/// A client-sent `x-request-id` is kept if it is short and printable.
fn usable(v: &HeaderValue) -> bool {
    v.len() <= 64 && !v.is_empty() && v.as_bytes().iter().all(|b| b.is_ascii_graphic())
}

pub async fn outer(mut request: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = match request.headers().get(&REQUEST_ID) {
        Some(v) if usable(v) => v.clone(),
        _ => {
            let v = next_request_id();
            request.headers_mut().insert(REQUEST_ID, v.clone());
            v
        }
    };
    let method = request.method().clone();
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let access_log = tracing::enabled!(target: "keelbase::access", tracing::Level::DEBUG);
    let uri_path = (access_log || matched.is_none()).then(|| request.uri().path().to_owned());
    let fields = request.uri().query().and_then(super::fields::fields_param);

    let mut response = next.run(request).await;
    if let Some(fields) = fields {
        response = super::fields::rewrite(response, &fields).await;
    }

    let id_text = id.to_str().unwrap_or("-");
    let cause = normalize(&mut response, method == Method::OPTIONS, id_text);
    let path = matched
        .as_ref()
        .map_or_else(|| uri_path.as_deref().unwrap_or("-"), |m| m.as_str());
    let status = response.status().as_u16();
    if let Some(cause) = cause {
        tracing::error!(request_id = id_text, %method, path, status, cause = %cause, "request failed");
    }
    if access_log {
        tracing::debug!(
            target: "keelbase::access",
            request_id = id_text,
            %method,
            path,
            status,
            micros = start.elapsed().as_micros() as u64,
            "request"
        );
    }
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    headers.insert(REQUEST_ID, id);
    response
}
