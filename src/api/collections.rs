//! `/api/collections`: collections as JSON Schema (API.md Part C.1). Superusers only.

use std::cmp::Ordering;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use serde_json::{Map, Value};

use super::error::ApiError;
use super::extract::{Body, Superuser};
use super::list::ListParams;
use crate::collections::CollectionsError;
use crate::schema::{Collection, SchemaError};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/collections",
            get(list_collections).post(create_collection),
        )
        .route("/api/collections/import", put(import_collections))
        .route(
            "/api/collections/{collection}",
            get(view_collection)
                .patch(update_collection)
                .delete(delete_collection),
        )
        .route(
            "/api/collections/{collection}/truncate",
            delete(truncate_collection),
        )
}

/// Map a collections failure to HTTP; `failed` is the operation's message
/// ("Failed to create collection.").
fn collection_error(e: CollectionsError, failed: &'static str) -> ApiError {
    match e {
        CollectionsError::Db(e) => e.into(),
        CollectionsError::Schema(e) => match e {
            SchemaError::Invalid {
                field,
                code,
                message,
            } => ApiError::bad_request(failed).with_field(&field, code, message),
            SchemaError::Violation { message, ids } => {
                let mut err = ApiError::bad_request(format!(
                    "{} Existing records would violate the change: {}.",
                    failed,
                    ids.join(", ")
                ));
                err.data.insert(
                    "records".into(),
                    serde_json::json!({
                        "code": "validation_existing_records",
                        "message": message,
                        "params": {"ids": ids},
                    }),
                );
                err
            }
            SchemaError::Referenced(names) => ApiError::bad_request(format!(
                "{failed} The collection is referenced by: {}.",
                names.join(", ")
            ))
            .with_field(
                "name",
                "validation_collection_in_use",
                format!("Referenced by {}.", names.join(", ")),
            ),
            SchemaError::NotFound => ApiError::not_found(),
            SchemaError::System => ApiError::bad_request(format!(
                "{failed} System collections cannot be changed or deleted."
            )),
            other @ (SchemaError::Sqlite(_) | SchemaError::Corrupt { .. }) => {
                ApiError::internal(other)
            }
        },
    }
}

fn object(body: Body) -> Map<String, Value> {
    body.0
}

/// Sort keys a collection list understands.
fn compare(a: &Collection, b: &Collection, key: &str) -> Ordering {
    match key {
        "id" => a.id.cmp(&b.id),
        "name" => a
            .name
            .to_ascii_lowercase()
            .cmp(&b.name.to_ascii_lowercase()),
        "type" => a.kind.as_str().cmp(b.kind.as_str()),
        "system" => a.system.cmp(&b.system),
        "created" => a.created.cmp(&b.created),
        _ => a.updated.cmp(&b.updated),
    }
}

async fn list_collections(
    State(state): State<AppState>,
    _: Superuser,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = ListParams::parse(query.as_deref())?;
    if params.filter.is_some() {
        return Err(ApiError::bad_request(
            "Filtering the collection list is not supported yet.",
        ));
    }
    let snapshot = state.collections().snapshot();
    let mut items: Vec<&Collection> = snapshot.all().iter().map(|c| &**c).collect();
    if let Some(sort) = &params.sort {
        let mut keys = Vec::new();
        for part in sort.split(',') {
            let part = part.trim();
            let (desc, key) = match part.strip_prefix('-') {
                Some(k) => (true, k),
                None => (false, part.strip_prefix('+').unwrap_or(part)),
            };
            if !["id", "name", "type", "system", "created", "updated"].contains(&key) {
                return Err(ApiError::bad_request(format!(
                    "Invalid sort field {key:?}."
                )));
            }
            keys.push((desc, key));
        }
        items.sort_by(|a, b| {
            keys.iter()
                .map(|(desc, key)| {
                    let o = compare(a, b, key);
                    if *desc {
                        o.reverse()
                    } else {
                        o
                    }
                })
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        });
    }
    let total = items.len() as u64;
    let page: Vec<Value> = items
        .into_iter()
        .skip(params.offset() as usize)
        .take(params.per_page as usize)
        .map(Collection::to_json)
        .collect();
    Ok(Json(
        params.envelope(page, (!params.skip_total).then_some(total)),
    ))
}

async fn view_collection(
    State(state): State<AppState>,
    _: Superuser,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.collections().snapshot();
    let c = snapshot.get(&key).ok_or_else(ApiError::not_found)?;
    Ok(Json(c.to_json()))
}

async fn create_collection(
    State(state): State<AppState>,
    _: Superuser,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let c = state
        .collections()
        .create(object(body))
        .await
        .map_err(|e| collection_error(e, "Failed to create collection."))?;
    Ok(Json(c.to_json()))
}

async fn update_collection(
    State(state): State<AppState>,
    _: Superuser,
    Path(key): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let c = state
        .collections()
        .update(&key, object(body))
        .await
        .map_err(|e| collection_error(e, "Failed to update collection."))?;
    Ok(Json(c.to_json()))
}

// `delete_collection` and `truncate_collection` are alike on purpose: two endpoints, two
// service calls, one line each; their failure messages differ.
async fn delete_collection(
    State(state): State<AppState>,
    _: Superuser,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .collections()
        .delete(&key)
        .await
        .map_err(|e| collection_error(e, "Failed to delete collection."))?;
    // Its stored files were queued for removal in the same transaction.
    state.files().kick();
    Ok(StatusCode::NO_CONTENT)
}

async fn truncate_collection(
    State(state): State<AppState>,
    _: Superuser,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .collections()
        .truncate(&key)
        .await
        .map_err(|e| collection_error(e, "Failed to truncate collection."))?;
    state.files().kick();
    Ok(StatusCode::NO_CONTENT)
}

async fn import_collections(
    State(state): State<AppState>,
    _: Superuser,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let mut body = object(body);
    let list = match body.remove("collections") {
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::Object(o) => Ok(o),
                _ => Err(ApiError::validation().with_field(
                    "collections",
                    "validation_invalid_value",
                    "Every item must be a collection object.",
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => {
            return Err(ApiError::validation().with_field(
                "collections",
                "validation_required",
                "Must be an array of collections.",
            ))
        }
    };
    let delete_missing = match body.remove("deleteMissing") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => {
            return Err(ApiError::validation().with_field(
                "deleteMissing",
                "validation_invalid_value",
                "Must be a boolean.",
            ))
        }
    };
    state
        .collections()
        .import(list, delete_missing)
        .await
        .map_err(|e| collection_error(e, "Failed to import collections."))?;
    Ok(StatusCode::NO_CONTENT)
}
