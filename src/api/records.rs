//! `/api/collections/{collection}/records`: list, view, create, update, delete (API.md
//! Part B §1.2–§1.8). A write that committed is published to realtime subscribers.

use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::error::ApiError;
use super::extract::Auth;
use super::list::ListParams;
use super::record_body::RecordBody;
use crate::query::{AuthRecord, RequestInfo};
use crate::records::write::{self, WriteError};
use crate::records::{self, ListQuery, RecordsError};
use crate::schema::Collection;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    // Creates and updates may carry files: [`RecordBody`] applies the limits itself
    // (`maxSize` per file while streaming, `body_limit` to everything else).
    Router::new()
        .route(
            "/api/collections/{collection}/records",
            get(list_records).post(create_record),
        )
        .route(
            "/api/collections/{collection}/records/{id}",
            get(view_record).patch(update_record).delete(delete_record),
        )
        .layer(DefaultBodyLimit::disable())
}

fn stores(state: &AppState) -> write::Stores<'_> {
    write::Stores {
        db: state.data(),
        hasher: state.auth_records().hasher(),
        files: state.files(),
    }
}

/// A write failure, with the action's message ("Failed to create record.").
pub(super) fn write_error(e: WriteError, failed: &'static str) -> ApiError {
    match e {
        WriteError::Records(e) => e.into(),
        WriteError::Invalid(errors) => {
            let mut err = ApiError::bad_request(failed);
            err.data = errors;
            err
        }
        WriteError::CreateRuleFailed => ApiError::bad_request(failed),
        WriteError::Unsupported(message) => ApiError::bad_request(message),
        WriteError::Auth(e) => e.into(),
        WriteError::Referenced => ApiError::bad_request(
            "Failed to delete record. Make sure that the record is not part of a required relation reference.",
        ),
        WriteError::Storage(e) => {
            tracing::error!(error = %e, "storing uploaded files failed");
            match e {
                crate::files::StageError::Storage(crate::files::StoreError::Io(io)) => {
                    super::record_body::storage_error(io)
                }
                _ => ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Failed to store the uploaded files.",
                ),
            }
        }
    }
}

/// The record as this caller may view it. When its viewRule hides it, only what the
/// caller already knows: `{collectionId, collectionName, id}` (RELIABILITY.md A-16;
/// PocketBase returns the whole record, which leaks fields the caller may not read).
async fn answer_with_record(
    state: &AppState,
    c: std::sync::Arc<Collection>,
    id: String,
    info: RequestInfo,
) -> Result<Response, ApiError> {
    let expand = query_param(info.query_value("expand"), "");
    let (c_ref, id_ref) = (c.clone(), id.clone());
    match records::view(
        state.data(),
        state.collections().snapshot(),
        c,
        id,
        expand,
        info,
    )
    .await
    {
        Ok(record) => Ok(Json(record).into_response()),
        Err(RecordsError::NotFound | RecordsError::SuperusersOnly) => {
            Ok(Json(records::id_only(&c_ref, &id_ref)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn create_record(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Info(mut info): Info,
    RecordBody { body, uploads }: RecordBody,
) -> Result<Response, ApiError> {
    let c = collection(&state, &key)?;
    let data = body.record_data();
    info.body = data.clone();
    let created = write::create(
        stores(&state),
        state.collections().snapshot(),
        c.clone(),
        data,
        uploads,
        info.clone(),
    )
    .await
    .map_err(|e| write_error(e, "Failed to create record."))?;
    state.events().publish_all(created.change);
    match created.record {
        Some(record) if info.query_value("expand").is_none() => Ok(Json(record).into_response()),
        _ => answer_with_record(&state, c, created.id, info).await,
    }
}

async fn update_record(
    State(state): State<AppState>,
    Path((key, id)): Path<(String, String)>,
    Info(mut info): Info,
    RecordBody { body, uploads }: RecordBody,
) -> Result<Response, ApiError> {
    let c = collection(&state, &key)?;
    let data = body.record_data();
    info.body = data.clone();
    let change = write::update(
        stores(&state),
        state.collections().snapshot(),
        c.clone(),
        id.clone(),
        data,
        uploads,
        info.clone(),
    )
    .await
    .map_err(|e| write_error(e, "Failed to update record."))?;
    state.events().publish_all(change);
    answer_with_record(&state, c, id, info).await
}

async fn delete_record(
    State(state): State<AppState>,
    Path((key, id)): Path<(String, String)>,
    Info(info): Info,
) -> Result<StatusCode, ApiError> {
    let c = collection(&state, &key)?;
    let change = write::delete(state.data(), state.collections().snapshot(), c, id, info)
        .await
        .map_err(|e| write_error(e, "Failed to delete record."))?;
    // The delete queued the record's files (and any cascaded record's).
    state.files().kick();
    state.events().publish_all(change);
    Ok(StatusCode::NO_CONTENT)
}

impl From<RecordsError> for ApiError {
    fn from(e: RecordsError) -> Self {
        match e {
            RecordsError::SuperusersOnly => {
                ApiError::forbidden("Only superusers can perform this action.")
            }
            RecordsError::NotFound => ApiError::not_found(),
            RecordsError::Query(q) if q.forbidden => ApiError::forbidden(q.message),
            RecordsError::Query(q) => {
                ApiError::bad_request(format!("Invalid filter or sort: {q}."))
            }
            RecordsError::Db(e) => e.into(),
        }
    }
}

/// One query parameter (`key` empty: `query` already is the value).
pub(super) fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    let query = query?;
    if key.is_empty() {
        return Some(query.to_owned()).filter(|v| !v.trim().is_empty());
    }
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.trim().is_empty())
}

pub(super) fn collection(
    state: &AppState,
    key: &str,
) -> Result<std::sync::Arc<Collection>, ApiError> {
    state
        .collections()
        .snapshot()
        .get(key)
        .cloned()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "Missing collection context."))
}

/// What `@request.*` sees for this request, as an extractor.
pub struct Info(pub RequestInfo);

impl axum::extract::FromRequestParts<AppState> for Info {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let auth = Auth::from_request_parts(parts, state).await?;
        Ok(Info(request_info(
            state,
            &auth,
            &parts.method,
            &parts.headers,
            parts.uri.query(),
        )))
    }
}

/// What `@request.*` sees for this request.
pub fn request_info(
    state: &AppState,
    auth: &Auth,
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
) -> RequestInfo {
    let mut info = RequestInfo {
        method: method.as_str().to_owned(),
        context: "default".into(),
        ..Default::default()
    };
    for (name, value) in headers {
        if let Ok(v) = value.to_str() {
            let key = RequestInfo::normalize_header(name.as_str());
            if info.header_value(&key).is_none() {
                info.headers.push((key, v.to_owned()));
            }
        }
    }
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if info.query_value(&k).is_none() {
            info.query.push((k.into_owned(), v.into_owned()));
        }
    }
    if let Auth::Record(session) = auth {
        info.auth = Some(session.auth_record());
    }
    if let Auth::Superuser(session) = auth {
        info.superuser = true;
        if let Some(c) = state
            .collections()
            .snapshot()
            .get(crate::auth::SUPERUSERS_ID)
        {
            let record = crate::auth::superusers::record_json(&session.record);
            if let Value::Object(record) = record {
                info.auth = Some(AuthRecord {
                    collection: c.clone(),
                    record,
                });
            }
        }
    }
    info
}

async fn list_records(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Info(info): Info,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let c = collection(&state, &key)?;
    let params = ListParams::parse(query.as_deref())?;
    let list = ListQuery {
        page: params.page,
        per_page: params.per_page,
        skip_total: params.skip_total,
        sort: params.sort.clone(),
        filter: params.filter.clone(),
        expand: query_param(info.query_value("expand"), ""),
    };
    let page = records::list(state.data(), state.collections().snapshot(), c, list, info).await?;
    Ok(match page.items {
        records::Items::Values(items) => Json(params.envelope(items, page.total)).into_response(),
        records::Items::Json(items) => (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            params.envelope_json(&items, page.total),
        )
            .into_response(),
    })
}

async fn view_record(
    State(state): State<AppState>,
    Path((key, id)): Path<(String, String)>,
    Info(info): Info,
) -> Result<Json<Value>, ApiError> {
    let c = collection(&state, &key)?;
    let expand = query_param(info.query_value("expand"), "");
    let record = records::view(
        state.data(),
        state.collections().snapshot(),
        c,
        id,
        expand,
        info,
    )
    .await?;
    Ok(Json(record))
}
