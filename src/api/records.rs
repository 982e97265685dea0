//! `/api/collections/{collection}/records`: list and view (API.md Part B §1.2–§1.3).

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::error::ApiError;
use super::extract::Auth;
use super::list::ListParams;
use crate::query::{AuthRecord, RequestInfo};
use crate::records::{self, ListQuery, RecordsError};
use crate::schema::Collection;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/collections/{collection}/records", get(list_records))
        .route(
            "/api/collections/{collection}/records/{id}",
            get(view_record),
        )
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

fn collection(state: &AppState, key: &str) -> Result<std::sync::Arc<Collection>, ApiError> {
    state
        .collections()
        .snapshot()
        .get(key)
        .cloned()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "Missing collection context."))
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
    auth: Auth,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let c = collection(&state, &key)?;
    let params = ListParams::parse(query.as_deref())?;
    let info = request_info(&state, &auth, &method, &headers, query.as_deref());
    let list = ListQuery {
        page: params.page,
        per_page: params.per_page,
        skip_total: params.skip_total,
        sort: params.sort.clone(),
        filter: params.filter.clone(),
    };
    let page = records::list(state.data(), state.collections().snapshot(), c, list, info).await?;
    Ok(Json(params.envelope(page.items, page.total)))
}

async fn view_record(
    State(state): State<AppState>,
    Path((key, id)): Path<(String, String)>,
    auth: Auth,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let c = collection(&state, &key)?;
    let info = request_info(&state, &auth, &method, &headers, query.as_deref());
    let record = records::view(state.data(), state.collections().snapshot(), c, id, info).await?;
    Ok(Json(record))
}
