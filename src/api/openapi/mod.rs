//! `GET /api/openapi.json`: an OpenAPI 3.1 document generated from the live collections;
//! `GET /api/docs`: an API browser for it (RapiDoc, embedded from `assets/docs/`).
//!
//! The document depends on the registry snapshot and on the audience. Guests get the
//! collections whose listRule or viewRule is not null (the others answer superusers only)
//! and never see hidden fields or rule expressions; superusers get every non-system
//! collection. Each variant is generated once per snapshot, off the async workers, and
//! served from a cache until a collection change installs a new snapshot.
//!
//! Auth collections also get their auth endpoints (`auth-with-password`, `auth-refresh`,
//! `auth-methods`, `impersonate/{id}`, the mailed flows) under the same policy, with a
//! `<Name>AuthResponse` whose record is the collection's record schema; `_superusers` gets
//! those that apply to it, for everyone.
//!
//! Collection schemas are JSON Schema 2020-12, as OpenAPI 3.1 schemas are, so property
//! schemas are copied as written and `x-relation`/`x-file`/`x-autodate`/`x-hidden` stay as
//! vendor extensions. Copies drop `$id`, `$schema` and anchors (the document must not define
//! them twice). A schema that uses `$ref` also gets a `<Name>Schema` component, a copy of it
//! as written, and every `$ref` is pointed there; a reference that does not resolve in that
//! copy (into a field hidden from guests) is dropped, so the document's references all resolve.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::Auth;
use crate::schema::Snapshot;
use crate::state::AppState;

mod auth_paths;
mod components;
mod document;
mod record_paths;
mod schemas;
#[cfg(test)]
mod tests;

pub use document::document;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/openapi.json", get(openapi_json))
        .route("/api/docs", get(docs_page))
        .route("/api/docs/rapidoc-min.js", get(docs_script))
}

/// The embedded RapiDoc release (`assets/docs/README.md`); part of the script URL so a new
/// release is fetched despite the year-long cache.
macro_rules! rapidoc_version {
    () => {
        "9.3.8"
    };
}

const RAPIDOC_JS: &[u8] = include_bytes!("../../../assets/docs/rapidoc-min.js");

/// Relative URLs, so the page also works behind a proxy that mounts Keelbase under a prefix.
/// `load-fonts="false"`: RapiDoc would otherwise fetch fonts from a third-party host.
const DOCS_HTML: &str = concat!(
    r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Keelbase API</title>
<script type="module" src="docs/rapidoc-min.js?v="#,
    rapidoc_version!(),
    r#""></script>
</head>
<body>
<rapi-doc spec-url="openapi.json" load-fonts="false" render-style="read" theme="light"
  show-header="false" allow-authentication="true" allow-server-selection="false"
  sort-endpoints-by="none"
  regular-font="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
  mono-font="ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace"
  schema-description-expanded="true" default-schema-tab="schema"></rapi-doc>
</body>
</html>
"#
);

/// The page runs only our script. RapiDoc renders `style="…"` attributes and inline
/// `<style>` (Lit templates), which `style-src` must allow; images are its inline SVG icons.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'self'";

async fn docs_page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, DOCS_CSP),
        ],
        DOCS_HTML,
    )
        .into_response()
}

async fn docs_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        RAPIDOC_JS,
    )
        .into_response()
}

/// Who the document is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    Guest = 0,
    Superuser = 1,
}

struct Cached {
    /// Keyed by the snapshot itself, not its version: versions count per data folder, so two
    /// servers in one process (tests) can share a number. The `Weak` keeps the allocation,
    /// so its address cannot be reused by a later snapshot while this entry exists.
    snapshot: Weak<Snapshot>,
    body: Bytes,
}

/// One entry per [`Audience`].
static CACHE: [Mutex<Option<Cached>>; 2] = [const { Mutex::new(None) }; 2];

fn cached(snapshot: &Arc<Snapshot>, audience: Audience) -> Option<Bytes> {
    let slot = CACHE[audience as usize]
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    slot.as_ref()
        .filter(|c| std::ptr::eq(c.snapshot.as_ptr(), Arc::as_ptr(snapshot)))
        .map(|c| c.body.clone())
}

fn store(snapshot: &Arc<Snapshot>, audience: Audience, body: Bytes) {
    *CACHE[audience as usize]
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(Cached {
        snapshot: Arc::downgrade(snapshot),
        body,
    });
}

async fn openapi_json(State(state): State<AppState>, auth: Auth) -> Result<Response, ApiError> {
    let audience = if auth.is_superuser() {
        Audience::Superuser
    } else {
        Audience::Guest
    };
    let snapshot = state.collections().snapshot();
    let body = match cached(&snapshot, audience) {
        Some(body) => body,
        None => {
            let snap = snapshot.clone();
            let body =
                tokio::task::spawn_blocking(move || serde_json::to_vec(&document(&snap, audience)))
                    .await
                    .map_err(ApiError::internal)?
                    .map_err(ApiError::internal)?;
            let body = Bytes::from(body);
            store(&snapshot, audience, body.clone());
            body
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::VARY, "Authorization"),
        ],
        body,
    )
        .into_response())
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

/// Request bodies: JSON, urlencoded and multipart (API.md §0), all described by `schema`.
fn body_content(schema: Value) -> Value {
    json!({
        "application/json": {"schema": schema},
        "multipart/form-data": {"schema": schema},
        "application/x-www-form-urlencoded": {"schema": schema},
    })
}

fn error_response(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

/// Timestamps as the API writes them; never RFC 3339's `T` form, so no `format`.
fn timestamp_schema(description: &str) -> Value {
    json!({
        "type": "string",
        "readOnly": true,
        "description": format!("{description} UTC, `YYYY-MM-DD HH:MM:SS.mmmZ`."),
        "examples": ["2026-11-28 21:27:35.700Z"],
    })
}
