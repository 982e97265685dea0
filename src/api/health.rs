//! `GET|HEAD /api/health`.

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Extension;
use axum::{Json, Router};
use serde_json::json;

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

/// The answer for everyone but superusers, serialised once.
const HEALTHY: &str = r#"{"message":"API is healthy.","code":200,"data":{}}"#;

async fn health(
    State(_): State<AppState>,
    auth: Auth,
    connect: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    if !auth.is_superuser() {
        return ([(header::CONTENT_TYPE, "application/json")], HEALTHY).into_response();
    }
    let data = {
        let possible_proxy_header = PROXY_HEADERS
            .iter()
            .find(|h| headers.contains_key(**h))
            .map_or("", |h| *h);
        json!({
            "realIP": connect.map(|c| c.0 .0.ip().to_string()).unwrap_or_default(),
            "possibleProxyHeader": possible_proxy_header,
        })
    };
    Json(json!({"message": "API is healthy.", "code": 200, "data": data})).into_response()
}
