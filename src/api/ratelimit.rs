//! Rate limits over HTTP: the middleware, route keys and the 429 answer; the buckets are
//! [`crate::ratelimit::Limiter`]'s (token buckets keyed by client IP and a normalised route).
//!
//! On by default for every auth endpoint (`auth-with-password`, `request-*`, `confirm-*`,
//! `auth-refresh`, `impersonate`, …), as `rate_limit_auth_max` requests per
//! `rate_limit_auth_window_secs`; record creates have their own limit (off by default),
//! which every create or upsert inside a batch also counts against.
//!
//! The key never depends on how a client spells the route: the path is percent-decoded,
//! lower-cased and stripped of empty segments and the query, and the collection is named
//! by its id whether the URL used the id or the name. The client IP is the peer address,
//! or — only when the peer is a configured trusted proxy — the last untrusted address of
//! `X-Forwarded-For`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::config::RateLimit as Limit;
pub use crate::ratelimit::Limiter;
use crate::state::AppState;

/// The auth actions under `/api/collections/{c}/`.
const AUTH_ACTIONS: &[&str] = &[
    "auth-with-password",
    "auth-with-otp",
    "auth-with-oauth2",
    "auth-refresh",
    "request-otp",
    "request-verification",
    "confirm-verification",
    "request-password-reset",
    "confirm-password-reset",
    "request-email-change",
    "confirm-email-change",
    "impersonate",
];

/// What the limiter needs from a request's headers.
pub trait LimiterHttp {
    /// The client's address (see the module docs).
    fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> String;
}

impl LimiterHttp for Limiter {
    fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> String {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        self.client_addr(peer, forwarded)
    }
}

/// The client's address as the limiter sees it (see [`LimiterHttp::client_ip`]).
pub struct ClientIp(pub String);

impl axum::extract::FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientIp(state.limiter().client_ip(peer, &parts.headers)))
    }
}

/// The 429 answer for a limit of `limit`.
pub fn refused(limit: Limit) -> Response {
    too_many(limit.window)
}

/// Percent-decoded, lower-cased path segments, empty ones dropped.
fn segments(path: &str) -> Vec<String> {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    decoded
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn too_many(window: Duration) -> Response {
    let mut response = ApiError::status_default(StatusCode::TOO_MANY_REQUESTS).into_response();
    if let Ok(v) = HeaderValue::from_str(&window.as_secs().max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// The middleware.
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // Every limited route is a POST (the auth actions, record creates); other methods
    // never reach their handlers, so they are not counted.
    if request.method() != axum::http::Method::POST {
        return next.run(request).await;
    }
    let limiter = state.limiter();
    let segs = segments(request.uri().path());
    let is_collection_route = segs.len() >= 4 && segs[0] == "api" && segs[1] == "collections";
    if !is_collection_route {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let snapshot = state.collections().snapshot();
    let collection = snapshot
        .get(&segs[2])
        .or_else(|| {
            snapshot
                .all()
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(&segs[2]))
        })
        .map_or_else(|| segs[2].clone(), |c| c.id.clone());
    let action = segs[3].as_str();
    let (key, limit) = if AUTH_ACTIONS.contains(&action) {
        (format!("auth|{collection}|{action}"), limiter.auth_limit())
    } else if action == "records" && segs.len() == 4 && request.method() == axum::http::Method::POST
    {
        (format!("create|{collection}"), limiter.create_limit())
    } else {
        return next.run(request).await;
    };
    let ip = limiter.client_ip(peer, request.headers());
    // `create|…` keys are shared with batch sub-requests: ip goes last there too.
    let key = match key.split_once('|') {
        Some(("create", c)) => format!("create|{ip}|{c}"),
        _ => format!("{key}|{ip}"),
    };
    if !limiter.take(key, limit, 1) {
        return too_many(limit.window);
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::tests::limiter;

    #[test]
    fn forwarded_addresses_only_from_trusted_proxies() {
        let l = limiter(1, 1);
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 5.6.7.8"),
        );
        assert_eq!(l.client_ip(Some("9.9.9.9".parse().unwrap()), &h), "9.9.9.9");
        assert_eq!(
            l.client_ip(Some("10.0.0.1".parse().unwrap()), &h),
            "5.6.7.8"
        );
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 10.0.0.1"),
        );
        assert_eq!(
            l.client_ip(Some("10.0.0.1".parse().unwrap()), &h),
            "1.2.3.4"
        );
    }

    #[test]
    fn spellings_of_a_path_normalise_alike() {
        for p in [
            "/api/collections/users/auth-with-password",
            "/API/Collections/Users/Auth-With-Password/",
            "//api//collections/users/auth%2Dwith%2Dpassword",
        ] {
            assert_eq!(
                segments(p),
                ["api", "collections", "users", "auth-with-password"],
                "{p}"
            );
        }
    }
}
