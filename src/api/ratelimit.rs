//! Rate limits: token buckets keyed by client IP and a normalised route.
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

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::config::{Config, RateLimit as Limit};
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

/// Buckets kept at most; idle ones are dropped first when it fills.
const MAX_BUCKETS: usize = 100_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of one server.
pub struct Limiter {
    auth: Limit,
    create: Limit,
    trusted_proxies: Vec<IpAddr>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    pub fn from_config(config: &Config) -> Self {
        Self {
            auth: config.rate_limit_auth,
            create: config.rate_limit_create,
            trusted_proxies: config.trusted_proxies.clone(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take `n` tokens from `key`'s bucket; false (and nothing taken) when there are
    /// not enough.
    fn take(&self, key: String, limit: Limit, n: u32) -> bool {
        if !limit.is_on() {
            return true;
        }
        let now = Instant::now();
        let capacity = f64::from(limit.max);
        let rate = capacity / limit.window.as_secs_f64();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&key) {
            // Drop the buckets that have refilled (idle for a whole window).
            buckets.retain(|_, b| now.duration_since(b.at) < limit.window);
            if buckets.len() >= MAX_BUCKETS {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(capacity);
        bucket.at = now;
        if bucket.tokens >= f64::from(n) {
            bucket.tokens -= f64::from(n);
            true
        } else {
            false
        }
    }

    /// The client's address (see the module docs).
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> String {
        let Some(peer) = peer else {
            return "unknown".to_owned();
        };
        if !self.trusted_proxies.contains(&peer) {
            return peer.to_string();
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        forwarded
            .iter()
            .rev()
            .find(|ip| !self.trusted_proxies.contains(ip))
            .unwrap_or(&peer)
            .to_string()
    }

    /// Count `creates` record creates into `collection_id` (a batch's creates and
    /// upserts); false when over the limit.
    pub fn take_creates(&self, ip: &str, collection_id: &str, creates: u32) -> bool {
        self.take(format!("create|{ip}|{collection_id}"), self.create, creates)
    }
}

/// The client's address as the limiter sees it (see [`Limiter::client_ip`]).
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

impl Limiter {
    /// Count one attempt of `action` against the account `identity` of `collection_id`,
    /// whatever address it comes from (stops distributed guessing against one account).
    /// The identity is trimmed and lower-cased first, so spelling variants share a bucket.
    pub fn take_account(&self, collection_id: &str, action: &str, identity: &str) -> bool {
        let identity = identity.trim().to_lowercase();
        self.take(
            format!("account|{collection_id}|{action}|{identity}"),
            self.auth,
            1,
        )
    }

    /// The answer when [`Limiter::take_account`] refuses.
    pub fn auth_refused(&self) -> Response {
        too_many(self.auth.window)
    }

    /// The create limit (batches check it per collection).
    pub fn create_limit(&self) -> Limit {
        self.create
    }
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
        (format!("auth|{collection}|{action}"), limiter.auth)
    } else if action == "records" && segs.len() == 4 && request.method() == axum::http::Method::POST
    {
        (format!("create|{collection}"), limiter.create)
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

    fn limiter(max: u32, secs: u64) -> Limiter {
        Limiter {
            auth: Limit {
                max,
                window: Duration::from_secs(secs),
            },
            create: Limit::off(),
            trusted_proxies: vec!["10.0.0.1".parse().unwrap()],
            buckets: Mutex::new(HashMap::new()),
        }
    }

    #[test]
    fn buckets_refuse_past_the_limit_and_refill() {
        let l = limiter(2, 1);
        let limit = l.auth;
        assert!(l.take("k".into(), limit, 1));
        assert!(l.take("k".into(), limit, 1));
        assert!(!l.take("k".into(), limit, 1));
        assert!(l.take("other".into(), limit, 1), "keys are separate");
        std::thread::sleep(Duration::from_millis(600));
        assert!(l.take("k".into(), limit, 1), "refilled at 2 per second");
        assert!(!l.take("k".into(), limit, 2), "all or nothing");
        assert!(l.take("x".into(), Limit::off(), 1000), "off");
    }

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
