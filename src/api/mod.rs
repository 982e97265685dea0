//! HTTP handlers, thin: they parse, call a service, and shape the answer. No SQL and no
//! rule logic here. `error.rs` is the only place where errors become statuses.
//!
//! Owns the HTTP surface: routers, extractors, the rate-limit middleware, SSE and
//! WebSocket framing. Handlers that write records publish the committed changes
//! (`state.events()`) after the service returns.
//! Depends on `state` and the services below it; nothing imports `api` but `server`
//! (in particular `state` and the services must not).

// `ApiError` carries its field errors inline; it is built on the cold path only, and
// boxing it would cost every handler an allocation-shaped API for no measurable gain.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod batch;
pub mod collections;
pub mod error;
pub mod extract;
pub mod fields;
pub mod files;
pub mod health;
pub mod install;
pub mod list;
pub mod middleware;
pub mod openapi;
pub mod ratelimit;
pub mod realtime;
pub mod realtime_ws;
pub mod record_body;
pub mod records;
pub mod settings;

use axum::Router;

use crate::state::AppState;

/// Every `/api/` route.
pub fn router(config: &crate::config::Config) -> Router<AppState> {
    Router::new()
        .merge(batch::router(config.batch_max_body_size))
        .merge(health::router())
        .merge(auth::router())
        .merge(install::router())
        .merge(collections::router())
        .merge(records::router())
        .merge(files::router())
        .merge(settings::router())
        .merge(realtime::router())
        .merge(openapi::router())
}
