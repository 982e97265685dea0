//! Auth endpoints of the `_superusers` collection: `auth-with-password`, `auth-refresh`.
//! They live under `/api/collections/{collection}/…`, where `{collection}` is the name or
//! the id; the auth flows of user collections will answer on the same routes.

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{Auth, Body};
use crate::auth::superusers::{record_json, SUPERUSERS_ID, SUPERUSERS_NAME};
use crate::db::superusers::SuperuserRow;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/collections/{collection}/auth-with-password",
            post(auth_with_password),
        )
        .route(
            "/api/collections/{collection}/auth-refresh",
            post(auth_refresh),
        )
}

fn require_superusers_collection(collection: &str) -> Result<(), ApiError> {
    if collection == SUPERUSERS_NAME || collection == SUPERUSERS_ID {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "Missing or invalid auth collection context.",
        ))
    }
}

/// Check a required text field of 1–255 characters, recording a field error if not.
fn required_text<'a>(body: &'a Body, field: &'static str, err: &mut ApiError) -> Option<&'a str> {
    match body.string(field) {
        Ok(Some(s)) if !s.is_empty() && s.chars().count() <= 255 => Some(s),
        Ok(Some(s)) if !s.is_empty() => {
            err.data.insert(
                field.into(),
                json!({"code": "validation_length_out_of_range", "message": "The length must be between 1 and 255."}),
            );
            None
        }
        Ok(_) => {
            err.data.insert(
                field.into(),
                json!({"code": "validation_required", "message": "Cannot be blank."}),
            );
            None
        }
        Err(e) => {
            err.data.extend(e.data);
            None
        }
    }
}

pub(super) fn auth_response(token: String, record: &SuperuserRow) -> Json<Value> {
    Json(json!({"token": token, "record": record_json(record)}))
}

async fn auth_with_password(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    require_superusers_collection(&collection)?;
    let mut err = ApiError::validation();
    let identity = required_text(&body, "identity", &mut err);
    let password = required_text(&body, "password", &mut err);
    match body.string("identityField") {
        Ok(None) | Ok(Some("email")) => {}
        Ok(Some(_)) | Err(_) => {
            err.data.insert(
                "identityField".into(),
                json!({"code": "validation_in_invalid", "message": "Must be a valid value."}),
            );
        }
    }
    let (Some(identity), Some(password), true) = (identity, password, err.data.is_empty()) else {
        return Err(err);
    };
    let superusers = state.superusers();
    let record = superusers.auth_with_password(identity, password).await?;
    Ok(auth_response(superusers.issue_token(&record)?, &record))
}

async fn auth_refresh(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    auth: Auth,
) -> Result<Json<Value>, ApiError> {
    require_superusers_collection(&collection)?;
    match auth {
        Auth::Superuser(session) => {
            let token = if session.claims.refreshable == Some(false) {
                session.token
            } else {
                state.superusers().issue_token(&session.record)?
            };
            Ok(auth_response(token, &session.record))
        }
        Auth::Guest => Err(ApiError::unauthorized(
            "The request requires valid record authorization token.",
        )),
    }
}
