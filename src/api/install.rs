//! `POST /api/install`: create the first superuser with the install token that
//! `keelbase serve` prints while no superuser exists. Works once: after the first
//! superuser exists it answers 400, whatever the token.
//!
//! Body: `{"token", "email", "password", "passwordConfirm"}`; answers like
//! `auth-with-password` (`{token, record}`) so the dashboard is signed in at once.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;

use super::auth::auth_response;
use super::error::ApiError;
use super::extract::Body;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/install", post(install))
}

async fn install(State(state): State<AppState>, body: Body) -> Result<Json<Value>, ApiError> {
    let token = body.string("token")?.unwrap_or("");
    let email = body.string("email")?.unwrap_or("");
    let password = body.string("password")?.unwrap_or("");
    let confirm = body.string("passwordConfirm")?.unwrap_or("");
    if password != confirm {
        return Err(ApiError::validation().with_field(
            "passwordConfirm",
            "validation_values_mismatch",
            "Values don't match.",
        ));
    }
    let superusers = state.superusers();
    let record = superusers.install(token, email, password).await?;
    Ok(auth_response(superusers.issue_token(&record)?, &record))
}
