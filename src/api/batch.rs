//! `POST /api/batch` (API.md Part B §8): record creates, updates, upserts and deletes in
//! one transaction. Auth is the outer request's; a per-item `Authorization` is ignored,
//! other per-item headers are seen by rules as `@request.headers`.

use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::extract::{Auth, Body};
use super::ratelimit::ClientIp;
use super::records::{query_param, request_info, write_error};
use crate::query::RequestInfo;
use crate::records::batch::{self, Action, BatchError, Item, Outcome};
use crate::state::AppState;

pub fn router(max_body: usize) -> Router<AppState> {
    Router::new()
        .route("/api/batch", post(run))
        .layer(DefaultBodyLimit::max(max_body))
}

/// An item that cannot even be routed: 400 naming it, in PocketBase's shape.
fn invalid_item(index: usize, field: &str, code: &str, message: &str) -> ApiError {
    let mut e = ApiError::bad_request("Invalid batch request data.");
    e.data.insert(
        "requests".into(),
        json!({ index.to_string(): { field: {"code": code, "message": message} } }),
    );
    e
}

/// The batch failed at item `index` with `inner` as that item's own answer.
fn failed_at(index: usize, inner: ApiError) -> ApiError {
    let mut e = ApiError::bad_request("Batch transaction failed.");
    e.data.insert(
        "requests".into(),
        json!({ index.to_string(): {
            "code": "batch_request_failed",
            "message": "Batch request failed.",
            "response": {"status": inner.status.as_u16(), "message": inner.message, "data": inner.data},
        }}),
    );
    e
}

/// `/api/collections/{c}/records[/{id}]` → (collection, id).
fn parse_path(path: &str) -> Option<(String, Option<String>)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    let rest = path.strip_prefix("/api/collections/")?;
    let mut parts = rest.split('/');
    let collection = decode(parts.next()?)?;
    if parts.next()? != "records" {
        return None;
    }
    let id = match parts.next() {
        None => None,
        Some(id) if !id.is_empty() => Some(decode(id)?),
        Some(_) => return None,
    };
    if parts.next().is_some() || collection.is_empty() {
        return None;
    }
    Some((collection, id))
}

/// One sub-request, routed; `Err` is its own answer (the batch fails there).
struct Parsed {
    item: Result<Item, ApiError>,
    fields: Option<String>,
    failed: &'static str,
}

fn parse_item(
    state: &AppState,
    auth: &Auth,
    outer_headers: &HeaderMap,
    index: usize,
    raw: &Value,
) -> Result<Parsed, ApiError> {
    let Some(obj) = raw.as_object() else {
        return Err(invalid_item(
            index,
            "method",
            "validation_required",
            "Cannot be blank.",
        ));
    };
    let text = |key: &str| obj.get(key).and_then(Value::as_str).unwrap_or("").trim();
    let (method_text, url) = (text("method").to_ascii_uppercase(), text("url"));
    if method_text.is_empty() {
        return Err(invalid_item(
            index,
            "method",
            "validation_required",
            "Cannot be blank.",
        ));
    }
    if url.is_empty() {
        return Err(invalid_item(
            index,
            "url",
            "validation_required",
            "Cannot be blank.",
        ));
    }
    let body = match obj.get("body") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(b)) => b.clone(),
        Some(_) => {
            return Err(invalid_item(
                index,
                "body",
                "validation_invalid_value",
                "Must be an object.",
            ))
        }
    };
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (url, None),
    };
    let route = parse_path(path);
    let (action, key, failed) = match (method_text.as_str(), route) {
        ("POST", Some((c, None))) => (Action::Create, c, "Failed to create record."),
        ("PUT", Some((c, None))) => (Action::Upsert, c, "Failed to create record."),
        ("PATCH", Some((c, Some(id)))) => (Action::Update(id), c, "Failed to update record."),
        ("DELETE", Some((c, Some(id)))) => (Action::Delete(id), c, "Failed to delete record."),
        _ => {
            return Ok(Parsed {
                item: Err(ApiError::status_default(StatusCode::BAD_REQUEST)),
                fields: None,
                failed: "",
            })
        }
    };
    let fields = query_param(query, "fields");
    let expand = query_param(query, "expand");
    let item = super::records::collection(state, &key).map(|collection| {
        // Per-item headers, minus Authorization, over the outer request's.
        let mut headers = outer_headers.clone();
        if let Some(Value::Object(extra)) = obj.get("headers") {
            for (name, value) in extra {
                let (Ok(name), Some(Ok(value))) = (
                    axum::http::HeaderName::try_from(name.as_str()),
                    value.as_str().map(axum::http::HeaderValue::from_str),
                ) else {
                    continue;
                };
                if name != axum::http::header::AUTHORIZATION {
                    headers.insert(name, value);
                }
            }
        }
        let method = Method::from_bytes(method_text.as_bytes()).unwrap_or(Method::POST);
        let mut request: RequestInfo = request_info(state, auth, &method, &headers, query);
        request.context = "batch".into();
        request.body = body.clone();
        Item {
            action,
            collection,
            body,
            request,
            expand,
        }
    });
    Ok(Parsed {
        item,
        fields,
        failed,
    })
}

async fn run(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth,
    headers: HeaderMap,
    RawQuery(_query): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let config = state.config();
    if !config.batch_enabled {
        return Err(ApiError::forbidden("Batch requests are not allowed."));
    }
    let requests = match body.0.get("requests") {
        Some(Value::Array(r)) if !r.is_empty() => r,
        _ => {
            return Err(
                ApiError::bad_request("Invalid batch request data.").with_field(
                    "requests",
                    "validation_required",
                    "Cannot be blank.",
                ),
            )
        }
    };
    if requests.len() > config.batch_max_requests {
        return Err(
            ApiError::bad_request("Invalid batch request data.").with_field(
                "requests",
                "validation_length_too_long",
                format!(
                    "The length must be no more than {}.",
                    config.batch_max_requests
                ),
            ),
        );
    }
    let mut parsed = Vec::with_capacity(requests.len());
    for (index, raw) in requests.iter().enumerate() {
        parsed.push(parse_item(&state, &auth, &headers, index, raw)?);
    }
    // An item that cannot be routed fails the batch where it stands: the items before it
    // still run (and are rolled back), so an earlier failure is the one reported.
    let mut items = Vec::with_capacity(parsed.len());
    let mut shapes = Vec::with_capacity(parsed.len());
    let mut refused = None;
    for (index, p) in parsed.into_iter().enumerate() {
        match p.item {
            Ok(item) => items.push(item),
            Err(e) => {
                refused = Some((index, e));
                break;
            }
        }
        shapes.push((p.fields, p.failed));
    }
    // Every create and upsert counts against the create limit, as if sent alone.
    let mut creates: std::collections::BTreeMap<&str, u32> = Default::default();
    for item in &items {
        if matches!(item.action, Action::Create | Action::Upsert) {
            *creates.entry(item.collection.id.as_str()).or_default() += 1;
        }
    }
    let limiter = state.limiter();
    if creates
        .iter()
        .any(|(c, n)| !limiter.take_creates(&ip, c, *n))
    {
        return Ok(super::ratelimit::refused(limiter.create_limit()));
    }
    let ran = batch::run(
        state.data(),
        state.auth_records().hasher(),
        state.collections().snapshot(),
        items,
        refused.is_some(),
        config.batch_timeout,
    )
    .await
    .map_err(|e| match e {
        BatchError::Item { index, error } => failed_at(index, write_error(error, shapes[index].1)),
        BatchError::Timeout { index } => {
            failed_at(index, ApiError::status_default(StatusCode::REQUEST_TIMEOUT))
        }
        BatchError::RolledBack => match refused.take() {
            Some((index, e)) => failed_at(index, e),
            None => ApiError::internal("batch rolled back without a refused item"),
        },
        BatchError::Db(e) => e.into(),
    })?;
    // The whole batch committed: now, and only now, its events go out.
    state.events().publish_all(ran.changes);
    let answers = ran
        .outcomes
        .into_iter()
        .zip(shapes)
        .map(|(outcome, (fields, _))| match outcome {
            Outcome::Record(mut record) => {
                if let Some(f) = fields.as_deref() {
                    super::fields::pick(f, &mut record);
                }
                json!({"status": 200, "body": record})
            }
            Outcome::Deleted => json!({"status": 204, "body": null}),
        })
        .collect();
    // Deletes and updates in the batch may have queued stored files for removal.
    state.files().kick();
    Ok(Json(Value::Array(answers)).into_response())
}
