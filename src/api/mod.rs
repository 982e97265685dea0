//! HTTP handlers, thin: they parse, call a service, and shape the answer. No SQL and no
//! rule logic here. `error.rs` is the only place where errors become statuses.

pub mod error;
pub mod extract;
pub mod health;
pub mod install;
pub mod superusers;

use axum::Router;

use crate::state::AppState;

/// Every `/api/` route.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(superusers::router())
        .merge(install::router())
}
