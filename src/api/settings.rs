//! `/api/settings` (superusers; API.md Part B §9): today the `s3` file storage section,
//! in PocketBase's shape, and `POST /api/settings/test/s3`. The other sections (mail,
//! backups, logs, rate limits, batch) are issue 12 and still come from the config.
//!
//! The S3 secret is never answered: `GET` gives it as `""`, and a `PATCH` that leaves it
//! blank keeps the stored one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{Body, Superuser};
use crate::files::{Backend, S3Settings, SettingsError, Storage};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/settings", get(get_settings).patch(patch_settings))
        .route("/api/settings/test/s3", post(test_s3))
}

fn shown(s: &S3Settings) -> Value {
    let mut v = serde_json::to_value(s).expect("settings serialise");
    v["secret"] = json!("");
    v
}

async fn get_settings(State(state): State<AppState>, _: Superuser) -> Result<Response, ApiError> {
    let s3 = state.files().s3_settings().await?;
    Ok(Json(json!({ "s3": shown(&s3) })).into_response())
}

async fn patch_settings(
    State(state): State<AppState>,
    _: Superuser,
    Body(body, _): Body,
) -> Result<Response, ApiError> {
    let current = state.files().s3_settings().await?;
    let Some(patch) = body.get("s3") else {
        return Ok(Json(json!({ "s3": shown(&current) })).into_response());
    };
    let Value::Object(patch) = patch else {
        return Err(ApiError::validation().with_field(
            "s3",
            "validation_invalid_value",
            "Must be an object.",
        ));
    };
    let mut merged = serde_json::to_value(&current).expect("settings serialise");
    for (k, v) in patch {
        if k == "secret" && v.as_str().is_some_and(str::is_empty) {
            continue;
        }
        merged[k] = v.clone();
    }
    let next: S3Settings = serde_json::from_value(merged).map_err(|e| {
        ApiError::validation().with_field("s3", "validation_invalid_value", e.to_string())
    })?;
    let problems = next.problems();
    if !problems.is_empty() {
        let mut err = ApiError::validation();
        let mut s3 = serde_json::Map::new();
        for (field, message) in problems {
            let code = if message == "Cannot be blank." {
                "validation_required"
            } else {
                "validation_invalid_value"
            };
            s3.insert(field.into(), json!({"code": code, "message": message}));
        }
        err.data.insert("s3".into(), Value::Object(s3));
        return Err(err);
    }
    match state.files().save_s3_settings(next.clone()).await {
        Ok(()) => Ok(Json(json!({ "s3": shown(&next) })).into_response()),
        Err(SettingsError::Storage(e)) => Err(ApiError::bad_request(s3_failed(&e))),
        Err(SettingsError::Db(e)) => Err(e.into()),
    }
}

/// `POST /api/settings/test/s3 {"filesystem": "storage"}`: write, read back and delete a
/// probe object with the stored settings. 204, or 400 with the backend's error.
async fn test_s3(
    State(state): State<AppState>,
    _: Superuser,
    Body(body, _): Body,
) -> Result<Response, ApiError> {
    match body.get("filesystem").and_then(Value::as_str) {
        Some("storage") => {}
        Some("backups") => {
            return Err(ApiError::bad_request(
                "Backups are not available yet (issue 12).",
            ))
        }
        _ => {
            return Err(ApiError::validation().with_field(
                "filesystem",
                "validation_invalid_value",
                "Must be \"storage\" or \"backups\".",
            ))
        }
    }
    let s3 = state.files().s3_settings().await?;
    if !s3.enabled {
        return Err(ApiError::bad_request(
            "S3 storage filesystem is not enabled.",
        ));
    }
    let backend = Backend::s3(&s3).map_err(|e| ApiError::bad_request(s3_failed(&e)))?;
    Storage::test(&backend)
        .await
        .map_err(|e| ApiError::bad_request(s3_failed(&e)))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn s3_failed(e: &dyn std::fmt::Display) -> String {
    format!(
        "Failed to initialize the S3 storage. Raw error: {}.",
        e.to_string().trim_end().trim_end_matches('.')
    )
}
