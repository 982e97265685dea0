//! `GET|HEAD /api/health`.

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
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

async fn health(State(state): State<AppState>, request: Request) -> Response {
    // Headers and connection info are read in place (no copies): this is the endpoint
    // load balancers hit most.
    let (mut parts, _) = request.into_parts();
    let auth = match Auth::from_request_parts(&mut parts, &state).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    if !auth.is_superuser() {
        return ([(header::CONTENT_TYPE, "application/json")], HEALTHY).into_response();
    }
    let possible_proxy_header = PROXY_HEADERS
        .iter()
        .find(|h| parts.headers.contains_key(**h))
        .map_or("", |h| *h);
    let real_ip = parts
        .extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let data = json!({"realIP": real_ip, "possibleProxyHeader": possible_proxy_header});
    Json(json!({"message": "API is healthy.", "code": 200, "data": data})).into_response()
}
