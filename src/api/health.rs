//! `GET|HEAD /api/health`.

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Extension;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::extract::Auth;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/health", get(health))
}

/// Headers a reverse proxy may have set; reported to superusers so they can spot a
/// missing trusted-proxy setting.
const PROXY_HEADERS: &[&str] = &[
    "x-forwarded-for",
    "x-real-ip",
    "cf-connecting-ip",
    "fly-client-ip",
    "forwarded",
];

async fn health(
    State(_): State<AppState>,
    auth: Auth,
    connect: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
) -> Json<Value> {
    let mut data = json!({});
    if auth.is_superuser() {
        let possible_proxy_header = PROXY_HEADERS
            .iter()
            .find(|h| headers.contains_key(**h))
            .map_or("", |h| *h);
        data = json!({
            "realIP": connect.map(|c| c.0 .0.ip().to_string()).unwrap_or_default(),
            "possibleProxyHeader": possible_proxy_header,
        });
    }
    Json(json!({"message": "API is healthy.", "code": 200, "data": data}))
}
