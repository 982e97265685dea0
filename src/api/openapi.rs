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

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::extract::Auth;
use super::list::{DEFAULT_PER_PAGE, MAX_PER_PAGE};
use crate::schema::{Collection, FieldKind, Snapshot};
use crate::state::AppState;

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

const RAPIDOC_JS: &[u8] = include_bytes!("../../assets/docs/rapidoc-min.js");

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

/// The OpenAPI document for `audience`.
pub fn document(snapshot: &Snapshot, audience: Audience) -> Value {
    let mut shown: Vec<&Arc<Collection>> = snapshot
        .all()
        .iter()
        .filter(|c| !c.system)
        .filter(|c| {
            audience == Audience::Superuser || c.rules.list.is_some() || c.rules.view.is_some()
        })
        .collect();
    shown.sort_by(|a, b| a.name.cmp(&b.name));
    let included: HashSet<&str> = shown.iter().map(|c| c.id.as_str()).collect();

    let mut schemas = shared_schemas();
    let mut paths = system_paths();
    paths.extend(superuser_auth_paths(snapshot));
    let mut tags = vec![
        json!({"name": "System", "description": "Health and batch requests."}),
        json!({"name": "Superusers", "description": "Authentication of the `_superusers` system collection."}),
    ];
    for c in shown {
        let doc = CollectionDoc::new(snapshot, c, audience, &included);
        doc.add_to(&mut schemas, &mut paths);
        let kind = c.kind.as_str();
        let what = if c.is_auth() {
            "Records and authentication"
        } else {
            "Records"
        };
        tags.push(json!({"name": c.name, "description": format!("{what} of the {kind} collection `{}`.", c.name)}));
    }

    let description = match audience {
        Audience::Guest => {
            "Generated from the collections of this Keelbase server. Collections that only \
             superusers can list or view are left out; authenticate as a superuser to see them."
        }
        Audience::Superuser => {
            "Generated from the collections of this Keelbase server: every collection, with \
             hidden fields and API rules (this variant is shown to superusers only)."
        }
    };
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Keelbase API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": description,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {}],
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "parameters": shared_parameters(),
            "responses": shared_responses(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "An auth token in the `Authorization` header, as returned by \
                        auth-with-password. The `Bearer ` prefix is optional. A missing, invalid or \
                        expired token makes the request a guest's, never a 401 by itself.",
                },
            },
        },
    })
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

fn shared_schemas() -> Map<String, Value> {
    let mut s = Map::new();
    s.insert(
        "ApiError".into(),
        json!({
            "type": "object",
            "description": "Every error answer.",
            "required": ["status", "message", "data"],
            "properties": {
                "status": {"type": "integer", "description": "The HTTP status."},
                "message": {"type": "string", "examples": ["Failed to create record."]},
                "data": {
                    "type": "object",
                    "description": "Field errors keyed by field name, each `{code, message, params?}`; `{}` for other errors.",
                    "additionalProperties": true,
                    "examples": [{"title": {"code": "validation_required", "message": "Cannot be blank."}}],
                },
            },
        }),
    );
    s.insert(
        "FieldError".into(),
        json!({
            "type": "object",
            "description": "Why one input field was refused.",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "examples": ["validation_required", "validation_is_email", "validation_values_mismatch"]},
                "message": {"type": "string", "examples": ["Cannot be blank."]},
                "params": {"type": "object", "additionalProperties": true},
            },
        }),
    );
    s.insert(
        "ValidationError".into(),
        json!({
            "description": "A 400: `data` holds the refused fields, keyed by name, or is `{}` when no \
                field is to blame (wrong credentials, unreadable body, bad filter).",
            "allOf": [schema_ref("ApiError")],
            "properties": {
                "status": {"const": 400},
                "data": {"type": "object", "additionalProperties": schema_ref("FieldError")},
            },
        }),
    );
    s.insert(
        "RecordRef".into(),
        json!({
            "type": "object",
            "description": "What a create or update answers when the viewRule hides the written record \
                from the caller: only what the caller already knows.",
            "required": ["collectionId", "collectionName", "id"],
            "properties": {
                "collectionId": {"type": "string"},
                "collectionName": {"type": "string"},
                "id": {"type": "string"},
            },
            "additionalProperties": false,
        }),
    );
    s.insert(
        "Health".into(),
        json!({
            "type": "object",
            "required": ["message", "code", "data"],
            "properties": {
                "message": {"type": "string", "examples": ["API is healthy."]},
                "code": {"type": "integer", "examples": [200]},
                "data": {
                    "type": "object",
                    "description": "`{}`; for superusers also `realIP` and `possibleProxyHeader`.",
                    "additionalProperties": true,
                },
            },
        }),
    );
    s.insert(
        "BatchRequest".into(),
        json!({
            "type": "object",
            "required": ["requests"],
            "properties": {
                "requests": {
                    "type": "array",
                    "minItems": 1,
                    "description": "Record requests, run in order in one transaction.",
                    "items": {
                        "type": "object",
                        "required": ["method", "url"],
                        "properties": {
                            "method": {"type": "string", "enum": ["POST", "PUT", "PATCH", "DELETE"], "description": "PUT is an upsert by `body.id`."},
                            "url": {"type": "string", "examples": ["/api/collections/posts/records?fields=id,title"]},
                            "headers": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Applied to the sub-request, except `Authorization`: the outer request's auth applies."},
                            "body": {"type": "object", "additionalProperties": true},
                        },
                    },
                },
            },
        }),
    );
    s.insert(
        "BatchResponse".into(),
        json!({
            "type": "array",
            "description": "One result per request, in request order.",
            "items": {
                "type": "object",
                "required": ["status", "body"],
                "properties": {
                    "status": {"type": "integer", "enum": [200, 204], "description": "200 for a create, update or upsert; 204 for a delete."},
                    "body": {
                        "type": ["object", "null"],
                        "description": "The record, with the keys the item URL's `fields` picks; null for a delete.",
                    },
                },
            },
        }),
    );
    s.insert(
        "BatchError".into(),
        json!({
            "description": "A batch that changed nothing. `data.requests` is a field error when the batch \
                itself is invalid (`validation_required`, `validation_length_too_long`); otherwise it is \
                keyed by the index of the first failing request, holding either that request's field errors \
                (`method`, `url`, `body`) or `batch_request_failed` with the request's own error answer.",
            "allOf": [schema_ref("ApiError")],
            "properties": {
                "status": {"const": 400},
                "data": {
                    "type": "object",
                    "properties": {
                        "requests": {
                            "anyOf": [
                                schema_ref("FieldError"),
                                {
                                    "type": "object",
                                    "propertyNames": {"pattern": "^[0-9]+$"},
                                    "additionalProperties": {
                                        "anyOf": [
                                            {
                                                "type": "object",
                                                "required": ["code", "message", "response"],
                                                "properties": {
                                                    "code": {"const": "batch_request_failed"},
                                                    "message": {"type": "string"},
                                                    "response": schema_ref("ApiError"),
                                                },
                                            },
                                            {"type": "object", "additionalProperties": schema_ref("FieldError")},
                                        ],
                                    },
                                },
                            ],
                        },
                    },
                    "examples": [{"requests": {"1": {
                        "code": "batch_request_failed",
                        "message": "Batch request failed.",
                        "response": {"status": 400, "message": "Failed to create record.", "data": {"title": {"code": "validation_required", "message": "Cannot be blank."}}},
                    }}}],
                },
            },
        }),
    );
    s.insert(
        "SuperuserAuthRequest".into(),
        json!({
            "type": "object",
            "required": ["identity", "password"],
            "properties": {
                "identity": {"type": "string", "minLength": 1, "maxLength": 255, "description": "The superuser's email."},
                "password": {"type": "string", "minLength": 1, "maxLength": 255, "format": "password", "writeOnly": true},
                "identityField": {"type": "string", "enum": ["email"]},
            },
        }),
    );
    s.insert(
        "SuperuserAuth".into(),
        json!({
            "type": "object",
            "required": ["token", "record"],
            "properties": {
                "token": {"type": "string", "description": "Send it in the `Authorization` header."},
                "record": {
                    "type": "object",
                    "required": ["id", "collectionId", "collectionName", "email", "emailVisibility", "verified", "created", "updated"],
                    "properties": {
                        "id": {"type": "string"},
                        "collectionId": {"type": "string", "const": crate::auth::superusers::SUPERUSERS_ID},
                        "collectionName": {"type": "string", "const": crate::auth::superusers::SUPERUSERS_NAME},
                        "email": {"type": "string", "format": "email"},
                        "emailVisibility": {"type": "boolean"},
                        "verified": {"type": "boolean"},
                        "created": timestamp_schema("Creation time,"),
                        "updated": timestamp_schema("Last change,"),
                    },
                },
            },
        }),
    );
    s.insert(
        "AuthMethods".into(),
        json!({
            "type": "object",
            "description": "How records of the collection can sign in; the same for every caller.",
            "required": ["password", "oauth2", "mfa", "otp", "authProviders", "usernamePassword", "emailPassword"],
            "properties": {
                "password": {
                    "type": "object",
                    "required": ["enabled", "identityFields"],
                    "properties": {
                        "enabled": {"type": "boolean"},
                        "identityFields": {"type": "array", "items": {"type": "string"}, "examples": [["email", "username"]]},
                    },
                },
                "oauth2": {
                    "type": "object",
                    "required": ["enabled", "providers"],
                    "properties": {
                        "enabled": {"type": "boolean"},
                        "providers": {"type": "array", "items": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "displayName": {"type": "string"},
                                "state": {"type": "string"},
                                "authURL": {"type": "string", "description": "Ends with `&redirect_uri=`: append the redirect URL."},
                                "codeVerifier": {"type": "string"},
                                "codeChallenge": {"type": "string"},
                                "codeChallengeMethod": {"type": "string"},
                            },
                        }},
                    },
                },
                "mfa": schema_ref("AuthMethodDuration"),
                "otp": schema_ref("AuthMethodDuration"),
                "authProviders": {"type": "array", "deprecated": true, "description": "Legacy: the OAuth2 providers."},
                "usernamePassword": {"type": "boolean", "deprecated": true, "description": "Legacy: password sign-in by a non-email identity field."},
                "emailPassword": {"type": "boolean", "deprecated": true, "description": "Legacy: password sign-in by email."},
            },
        }),
    );
    s.insert(
        "AuthMethodDuration".into(),
        json!({
            "type": "object",
            "required": ["enabled", "duration"],
            "properties": {
                "enabled": {"type": "boolean"},
                "duration": {"type": "integer", "minimum": 0, "description": "Seconds; 0 when disabled."},
            },
        }),
    );
    s.insert(
        "AuthEmailRequest".into(),
        json!({
            "type": "object",
            "required": ["email"],
            "properties": {"email": {"type": "string", "format": "email"}},
        }),
    );
    s.insert(
        "AuthTokenRequest".into(),
        json!({
            "type": "object",
            "required": ["token"],
            "properties": {"token": {"type": "string", "minLength": 1, "description": "The token from the mailed link."}},
        }),
    );
    s.insert(
        "EmailChangeRequest".into(),
        json!({
            "type": "object",
            "required": ["newEmail"],
            "properties": {"newEmail": {"type": "string", "format": "email", "description": "Not in use by another record of the collection, and not the current email."}},
        }),
    );
    s.insert(
        "EmailChangeConfirmRequest".into(),
        json!({
            "type": "object",
            "required": ["token", "password"],
            "properties": {
                "token": {"type": "string", "minLength": 1, "description": "The token from the link mailed to the new address."},
                "password": {"type": "string", "minLength": 1, "format": "password", "writeOnly": true, "description": "The record's current password."},
            },
        }),
    );
    s.insert(
        "ImpersonateRequest".into(),
        json!({
            "type": "object",
            "properties": {
                "duration": {"type": "integer", "minimum": 0, "default": 0, "description": "The token's lifetime in seconds; 0 for the collection's `authToken.duration`."},
            },
        }),
    );
    s
}

fn shared_parameters() -> Value {
    let query = |name: &str, schema: Value, description: &str| json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description});
    json!({
        "page": query("page", json!({"type": "integer", "default": 1}), "The page, from 1; a value ≤ 0 means 1."),
        "perPage": query(
            "perPage",
            json!({"type": "integer", "default": DEFAULT_PER_PAGE}),
            &format!("Items per page; larger values are capped to {MAX_PER_PAGE}, a value ≤ 0 means {DEFAULT_PER_PAGE}."),
        ),
        "sort": query("sort", json!({"type": "string"}), "Comma-separated fields, `-` for descending, e.g. `-created,title`."),
        "filter": query("filter", json!({"type": "string"}), "A filter expression, e.g. `views > 10 && title ~ 'hello'`; combined with the listRule."),
        "expand": query("expand", json!({"type": "string"}), "Comma-separated relation paths to load into `expand`, e.g. `author,comments_via_post.user`."),
        "fields": query("fields", json!({"type": "string"}), "Comma-separated keys to return, e.g. `id,title,expand.author.name`; `*` for all, `:excerpt(n)` to shorten text."),
        "skipTotal": query("skipTotal", json!({"type": "boolean", "default": false}), "Skip counting: `totalItems` and `totalPages` are then -1."),
        "recordId": {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "The record id."},
    })
}

fn shared_responses() -> Value {
    let error = |description: &str| json!({"description": description, "content": json_content(schema_ref("ApiError"))});
    json!({
        "BadRequest": {
            "description": "Invalid input: the body, a field value, or the filter, sort or paging parameters.",
            "content": json_content(schema_ref("ValidationError")),
        },
        "Unauthorized": error("No valid auth token: none was sent, or it is malformed, expired or revoked."),
        "Forbidden": error("Not allowed: the rule is null (superusers only), or a non-superuser used `@request`/`@collection` in a filter."),
        "NotFound": error("The record does not exist, or the rule hides it from the caller."),
    })
}

fn system_paths() -> Map<String, Value> {
    let mut p = Map::new();
    p.insert(
        "/api/health".into(),
        json!({
            "get": {
                "operationId": "health",
                "tags": ["System"],
                "summary": "Health check",
                "responses": {"200": {"description": "The server is up.", "content": json_content(schema_ref("Health"))}},
            },
            "head": {
                "operationId": "healthHead",
                "tags": ["System"],
                "summary": "Health check without a body",
                "responses": {"200": {"description": "The server is up."}},
            },
        }),
    );
    p.insert(
        "/api/batch".into(),
        json!({
            "post": {
                "operationId": "batch",
                "tags": ["System"],
                "summary": "Run record requests in one transaction",
                "description": "Creates, updates (PATCH), upserts (PUT) and deletes records in one transaction; \
                    any failure rolls all of them back. Each request runs with the outer request's auth and \
                    the collection's rules. On by default; the `batch_enabled` setting switches it off. \
                    Multipart bodies carry the JSON in an `@jsonPayload` part.",
                "requestBody": {
                    "required": true,
                    "content": {
                        "application/json": {"schema": schema_ref("BatchRequest")},
                        "multipart/form-data": {"schema": {
                            "type": "object",
                            "required": ["@jsonPayload"],
                            "properties": {"@jsonPayload": {"type": "string", "contentMediaType": "application/json", "description": "The BatchRequest as JSON."}},
                        }},
                    },
                },
                "responses": {
                    "200": {"description": "Every request succeeded.", "content": json_content(schema_ref("BatchResponse"))},
                    "400": {"description": "The batch is invalid, or a request failed (`data.requests.<index>.response` holds its own answer); nothing was changed.", "content": json_content(schema_ref("BatchError"))},
                    "403": {"description": "Batch requests are switched off.", "content": json_content(schema_ref("ApiError"))},
                    "413": {"description": "The body is larger than the batch body limit.", "content": json_content(schema_ref("ApiError"))},
                },
            },
        }),
    );
    p
}

/// The auth endpoints of `_superusers`: those of user auth collections except
/// impersonation (superusers cannot be impersonated) and verification (they are
/// verified by definition).
fn superuser_auth_paths(snapshot: &Snapshot) -> Map<String, Value> {
    let password_lengths = snapshot
        .get(crate::auth::superusers::SUPERUSERS_NAME)
        .map_or(
            (
                crate::auth::superusers::PASSWORD_MIN as u64,
                crate::auth::superusers::PASSWORD_MAX as u64,
            ),
            |c| password_lengths(c),
        );
    AuthEndpoints {
        collection: crate::auth::superusers::SUPERUSERS_NAME.to_owned(),
        tag: "Superusers".to_owned(),
        operation: Box::new(|verb| format!("superuser{verb}")),
        answer: schema_ref("SuperuserAuth"),
        password_body: schema_ref("SuperuserAuthRequest"),
        password_lengths,
        user_collection: false,
        sign_in: "Superusers sign in with their email.".to_owned(),
    }
    .paths()
}

/// The auth endpoints of one auth collection (API.md Part B §5).
struct AuthEndpoints {
    /// Its name, as in the URL.
    collection: String,
    tag: String,
    /// The operationId of an endpoint, from its verb (`AuthWithPassword`, …).
    operation: Box<dyn Fn(&str) -> String>,
    /// The `{token, record}` answer.
    answer: Value,
    /// The auth-with-password body.
    password_body: Value,
    /// `auth.password.{minLength,maxLength}`, for confirm-password-reset.
    password_lengths: (u64, u64),
    /// A user auth collection (not `_superusers`): impersonation, verification, and the
    /// `passwordAuth` and authRule checks at sign-in.
    user_collection: bool,
    /// Who can sign in.
    sign_in: String,
}

impl AuthEndpoints {
    fn paths(&self) -> Map<String, Value> {
        let name = &self.collection;
        let tag = json!([self.tag]);
        let op = |verb: &str| (self.operation)(verb);
        let public = json!([{}]);
        let bearer = json!([{"bearerAuth": []}]);
        let answer = |description: &str| json!({"description": description, "content": json_content(self.answer.clone())});
        let invalid = |description: &str| json!({"description": description, "content": json_content(schema_ref("ValidationError"))});
        let refused = |description: &str| json!({"description": description, "content": json_content(schema_ref("ApiError"))});
        let done = |description: &str| json!({"description": description});
        let body = |schema: Value| json!({"required": true, "content": body_content(schema)});
        let mut p = Map::new();
        let mut insert = |action: &str, method: &str, operation: Value| {
            p.insert(
                format!("/api/collections/{name}/{action}"),
                json!({ method: operation }),
            );
        };

        let mut sign_in = json!({
            "operationId": op("AuthWithPassword"),
            "tags": tag,
            "summary": format!("Sign in to {name} with a password"),
            "description": format!(
                "{} Without `identityField`, every identity field is tried, `email` first.",
                self.sign_in
            ),
            "security": public,
            "requestBody": body(self.password_body.clone()),
            "responses": {
                "200": answer("Signed in: a token and the record, with its email."),
                "400": invalid("Missing or invalid fields, or wrong credentials: `Failed to authenticate.` with empty `data`, the same whether or not the account exists."),
            },
        });
        if self.user_collection {
            sign_in["responses"]["401"] = json!({
                "description": "MFA is on and this was the first method: sign in again with a different method, passing `mfaId` (body or query). A bare object, not the error envelope.",
                "content": json_content(json!({"type": "object", "required": ["mfaId"], "properties": {"mfaId": {"type": "string"}}})),
            });
            sign_in["responses"]["403"] =
                refused("Password sign-in is disabled for the collection, or its authRule refuses the record.");
        }
        insert("auth-with-password", "post", sign_in);

        let refresh_refused = if self.user_collection {
            "The token belongs to another collection, or the authRule now refuses the record."
        } else {
            "The token is not a superuser's."
        };
        insert(
            "auth-refresh",
            "post",
            json!({
                "operationId": op("AuthRefresh"),
                "tags": tag,
                "summary": format!("Renew a {name} token"),
                "description": "Takes the current token and no body. Answers a new token, or the same one \
                    when it is not refreshable (an impersonation token), and the record as stored now.",
                "security": bearer,
                "responses": {
                    "200": answer("A token and the record."),
                    "401": error_response("Unauthorized"),
                    "403": refused(refresh_refused),
                },
            }),
        );
        insert(
            "auth-methods",
            "get",
            json!({
                "operationId": op("AuthMethods"),
                "tags": tag,
                "summary": format!("How {name} records sign in"),
                "security": public,
                "responses": {
                    "200": {"description": "The enabled sign-in methods.", "content": json_content(schema_ref("AuthMethods"))},
                },
            }),
        );
        if self.user_collection {
            p.insert(
                format!("/api/collections/{name}/impersonate/{{id}}"),
                json!({
                    "parameters": [{"$ref": "#/components/parameters/recordId"}],
                    "post": {
                        "operationId": op("Impersonate"),
                        "tags": tag,
                        "summary": format!("Sign in as a {name} record"),
                        "description": "Superusers only. The token is not refreshable.",
                        "security": bearer,
                        "requestBody": {"content": body_content(schema_ref("ImpersonateRequest"))},
                        "responses": {
                            "200": answer("A non-refreshable token for the record, and the record."),
                            "400": invalid("An invalid `duration`."),
                            "401": error_response("Unauthorized"),
                            "403": refused("The caller is not a superuser."),
                            "404": refused("No record has this id."),
                        },
                    },
                }),
            );
        }
        let mut insert = |action: &str, operation: Value| {
            p.insert(
                format!("/api/collections/{name}/{action}"),
                json!({ "post": operation }),
            );
        };
        if self.user_collection {
            insert(
                "request-verification",
                json!({
                    "operationId": op("RequestVerification"),
                    "tags": tag,
                    "summary": format!("Mail a verification link to a {name} record"),
                    "description": "Sent only to an unverified record with this email, at most once per \
                        2 minutes; the answer is the same either way.",
                    "security": public,
                    "requestBody": body(schema_ref("AuthEmailRequest")),
                    "responses": {
                        "204": done("Accepted."),
                        "400": invalid("`data.email`: blank or not an email address."),
                    },
                }),
            );
            insert(
                "confirm-verification",
                json!({
                    "operationId": op("ConfirmVerification"),
                    "tags": tag,
                    "summary": format!("Verify a {name} record with the mailed token"),
                    "security": public,
                    "requestBody": body(schema_ref("AuthTokenRequest")),
                    "responses": {
                        "204": done("The record is verified."),
                        "400": invalid("`data.token`: missing, invalid, expired, or of another collection."),
                    },
                }),
            );
        }
        if self.user_collection {
            let mfa = json!({
                "description": "MFA is on and this was the first method: sign in again with a different method, passing `mfaId` (body or query). A bare object, not the error envelope.",
                "content": json_content(json!({"type": "object", "required": ["mfaId"], "properties": {"mfaId": {"type": "string"}}})),
            });
            insert(
                "request-otp",
                json!({
                    "operationId": op("RequestOtp"),
                    "tags": tag,
                    "summary": format!("Mail a one-time password to a {name} record"),
                    "description": "Answers an `otpId` whether or not the email has an account.",
                    "security": public,
                    "requestBody": body(schema_ref("AuthEmailRequest")),
                    "responses": {
                        "200": {"description": "The id to sign in with.", "content": json_content(json!({"type": "object", "required": ["otpId"], "properties": {"otpId": {"type": "string"}}}))},
                        "400": invalid("`data.email`: blank or not an email address."),
                        "403": refused("OTP is not enabled for the collection."),
                    },
                }),
            );
            insert(
                "auth-with-otp",
                json!({
                    "operationId": op("AuthWithOtp"),
                    "tags": tag,
                    "summary": format!("Sign in to {name} with a mailed one-time password"),
                    "description": "The code works once, for its duration, and at most 5 wrong tries.",
                    "security": public,
                    "requestBody": body(json!({
                        "type": "object",
                        "required": ["otpId", "password"],
                        "properties": {
                            "otpId": {"type": "string"},
                            "password": {"type": "string", "writeOnly": true, "description": "The mailed code."},
                            "mfaId": {"type": "string", "description": "Completes an MFA sign-in started by another method."},
                        },
                    })),
                    "responses": {
                        "200": answer("Signed in: a token and the record."),
                        "400": invalid("`Invalid or expired OTP.`, or an invalid MFA session."),
                        "401": mfa.clone(),
                        "403": refused("OTP is not enabled, or the authRule refuses the record."),
                    },
                }),
            );
            insert(
                "auth-with-oauth2",
                json!({
                    "operationId": op("AuthWithOauth2"),
                    "tags": tag,
                    "summary": format!("Sign in or sign up to {name} with an OAuth2 provider"),
                    "description": "Exchanges the authorization code (with the PKCE verifier from auth-methods), then signs in the linked record, the signed-in caller, or the record with the provider-verified email; otherwise signs up a new record from `createData`.",
                    "security": public,
                    "requestBody": body(json!({
                        "type": "object",
                        "required": ["provider", "code"],
                        "properties": {
                            "provider": {"type": "string"},
                            "code": {"type": "string"},
                            "codeVerifier": {"type": "string"},
                            "redirectURL": {"type": "string"},
                            "createData": {"type": "object"},
                            "mfaId": {"type": "string"},
                        },
                    })),
                    "responses": {
                        "200": {"description": "Signed in: a token, the record and the provider's user (`meta`).", "content": json_content(json!({
                            "allOf": [self.answer.clone()],
                            "properties": {"meta": {"type": "object", "properties": {"isNew": {"type": "boolean"}}}},
                        }))},
                        "400": invalid("An unknown provider (`data.provider`), a failed code exchange, or invalid sign-up data."),
                        "401": mfa,
                        "403": refused("OAuth2 is not enabled, or the authRule refuses the record."),
                    },
                }),
            );
        }
        insert(
            "request-password-reset",
            json!({
                "operationId": op("RequestPasswordReset"),
                "tags": tag,
                "summary": format!("Mail a password reset link to a {name} record"),
                "description": "Sent only when a record has this email, at most once per 2 minutes; the \
                    answer is the same either way.",
                "security": public,
                "requestBody": body(schema_ref("AuthEmailRequest")),
                "responses": {
                    "204": done("Accepted."),
                    "400": invalid("`data.email`: blank or not an email address."),
                },
            }),
        );
        let (min, max) = self.password_lengths;
        insert(
            "confirm-password-reset",
            json!({
                "operationId": op("ConfirmPasswordReset"),
                "tags": tag,
                "summary": format!("Set a new {name} password with the mailed token"),
                "description": "The token works once: the new password ends every earlier token of the \
                    record. The record is marked verified.",
                "security": public,
                "requestBody": body(json!({
                    "type": "object",
                    "required": ["token", "password", "passwordConfirm"],
                    "properties": {
                        "token": {"type": "string", "minLength": 1, "description": "The token from the mailed link."},
                        "password": {"type": "string", "format": "password", "writeOnly": true, "minLength": min, "maxLength": max},
                        "passwordConfirm": {"type": "string", "format": "password", "writeOnly": true, "description": "Must equal `password`."},
                    },
                })),
                "responses": {
                    "204": done("The password is set."),
                    "400": invalid("`data.token` (invalid or expired), `data.password` or `data.passwordConfirm`."),
                },
            }),
        );
        insert(
            "request-email-change",
            json!({
                "operationId": op("RequestEmailChange"),
                "tags": tag,
                "summary": format!("Mail an email change link to a new address of a {name} record"),
                "description": "For the signed-in record itself.",
                "security": bearer,
                "requestBody": body(schema_ref("EmailChangeRequest")),
                "responses": {
                    "204": done("Mailed to the new address."),
                    "400": invalid("`data.newEmail`: not an email address, in use, or the current one."),
                    "401": error_response("Unauthorized"),
                    "403": refused("The token belongs to another collection."),
                },
            }),
        );
        insert(
            "confirm-email-change",
            json!({
                "operationId": op("ConfirmEmailChange"),
                "tags": tag,
                "summary": format!("Set the new email of a {name} record with the mailed token"),
                "description": "The record is marked verified and every earlier token of it ends.",
                "security": public,
                "requestBody": body(schema_ref("EmailChangeConfirmRequest")),
                "responses": {
                    "204": done("The email is changed."),
                    "400": invalid("`data.token` (invalid, expired, or the address was taken meanwhile) or `data.password` (wrong)."),
                },
            }),
        );
        p
    }
}

/// `posts` → `Posts`: component names are `<Name>Record`, `<Name>Create`, … Only the first
/// letter changes, so names unique case-insensitively stay unique. No suffix (`Record`,
/// `List`, `Create`, `Update`, `Schema`, `AuthResponse`) ends with another, and no shared
/// component name (`ApiError`, `RecordRef`, `AuthMethods`, …) ends with one, so one collection's names never meet another's or the
/// shared ones.
fn component_base(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Call `f` on `schema` and on every subschema in it. Only keywords that hold schemas are
/// entered: `const`, `enum`, `default`, `examples` and unknown keywords hold data.
fn walk_schemas(schema: &mut Value, f: &mut dyn FnMut(&mut Map<String, Value>)) {
    match schema {
        Value::Object(obj) => {
            f(obj);
            for (key, value) in obj.iter_mut() {
                match key.as_str() {
                    "additionalProperties"
                    | "unevaluatedProperties"
                    | "items"
                    | "contains"
                    | "propertyNames"
                    | "not"
                    | "if"
                    | "then"
                    | "else"
                    | "unevaluatedItems"
                    | "contentSchema"
                    | "allOf"
                    | "anyOf"
                    | "oneOf"
                    | "prefixItems" => walk_schemas(value, f),
                    "properties" | "patternProperties" | "$defs" | "definitions"
                    | "dependentSchemas" => {
                        if let Value::Object(map) = value {
                            for v in map.values_mut() {
                                walk_schemas(v, f);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        // Arrays of schemas (`allOf`, …) reach here from the keywords above.
        Value::Array(items) => {
            for v in items {
                walk_schemas(v, f);
            }
        }
        _ => {}
    }
}

const REF_KEYWORDS: [&str; 2] = ["$ref", "$dynamicRef"];
const ANCHOR_KEYWORDS: [&str; 2] = ["$anchor", "$dynamicAnchor"];

/// One collection's part of the document.
struct CollectionDoc<'a> {
    snapshot: &'a Snapshot,
    c: &'a Collection,
    audience: Audience,
    included: &'a HashSet<&'a str>,
    /// `Posts` for `posts`.
    base: String,
    /// The schema as written, the target of its `$ref`s; `None` when it has none.
    verbatim: Option<Value>,
    /// Anchors of `verbatim`, already prefixed.
    anchors: HashSet<String>,
}

impl<'a> CollectionDoc<'a> {
    fn new(
        snapshot: &'a Snapshot,
        c: &'a Collection,
        audience: Audience,
        included: &'a HashSet<&'a str>,
    ) -> Self {
        let mut doc = CollectionDoc {
            snapshot,
            c,
            audience,
            included,
            base: component_base(&c.name),
            verbatim: None,
            anchors: HashSet::new(),
        };
        let mut has_refs = false;
        walk_schemas(&mut c.schema.clone(), &mut |obj| {
            has_refs |= REF_KEYWORDS.iter().any(|k| obj.contains_key(*k));
        });
        if has_refs {
            doc.verbatim = Some(doc.verbatim_schema());
        }
        doc
    }

    fn shows(&self, hidden: bool) -> bool {
        !hidden || self.audience == Audience::Superuser
    }

    /// Anchors get the collection's name as a prefix: the document holds many collections.
    fn anchor_name(&self, anchor: &str) -> String {
        format!("{}-{anchor}", self.c.name)
    }

    /// The schema as written, minus what this audience must not see, with anchors renamed
    /// and its own references re-pointed.
    fn verbatim_schema(&mut self) -> Value {
        let mut schema = self.c.schema.clone();
        if let Value::Object(root) = &mut schema {
            let hidden: Vec<&str> = self
                .c
                .fields
                .iter()
                .filter(|f| !self.shows(f.hidden))
                .map(|f| f.name.as_str())
                .collect();
            if let Some(Value::Object(props)) = root.get_mut("properties") {
                props.retain(|k, _| !hidden.contains(&k.as_str()));
            }
            if let Some(Value::Array(required)) = root.get_mut("required") {
                required.retain(|r| !r.as_str().is_some_and(|r| hidden.contains(&r)));
            }
        }
        let mut anchors = HashSet::new();
        walk_schemas(&mut schema, &mut |obj| {
            obj.remove("$id");
            obj.remove("$schema");
            for key in ANCHOR_KEYWORDS {
                if let Some(Value::String(a)) = obj.get(key) {
                    let renamed = self.anchor_name(a);
                    anchors.insert(renamed.clone());
                    obj.insert(key.into(), Value::String(renamed));
                }
            }
        });
        self.anchors = anchors;
        // References are checked against the schema before they are rewritten.
        let original = schema.clone();
        walk_schemas(&mut schema, &mut |obj| self.repoint(obj, &original));
        schema
    }

    /// Point `$ref`/`$dynamicRef` at the `<Name>Schema` component; drop one whose target
    /// is not there (inside a field hidden from this audience).
    fn repoint(&self, obj: &mut Map<String, Value>, verbatim: &Value) {
        for key in REF_KEYWORDS {
            let Some(Value::String(target)) = obj.get(key) else {
                continue;
            };
            // Collections accept only references inside the document ("#…").
            let fragment = target.strip_prefix('#').unwrap_or("\u{0}");
            let repointed = if fragment.is_empty() || fragment.starts_with('/') {
                verbatim
                    .pointer(fragment)
                    .map(|_| format!("#/components/schemas/{}Schema{fragment}", self.base))
            } else {
                let anchor = self.anchor_name(fragment);
                self.anchors.contains(&anchor).then(|| format!("#{anchor}"))
            };
            match repointed {
                Some(r) => obj.insert(key.into(), Value::String(r)),
                None => obj.remove(key),
            };
        }
    }

    /// A property schema as the collection wrote it, ready to sit in another component.
    fn copy(&self, schema: &Value) -> Value {
        let mut copy = schema.clone();
        let verbatim = self.verbatim.as_ref().unwrap_or(&Value::Null);
        walk_schemas(&mut copy, &mut |obj| {
            obj.remove("$id");
            obj.remove("$schema");
            for key in ANCHOR_KEYWORDS {
                obj.remove(key);
            }
            self.repoint(obj, verbatim);
        });
        copy
    }

    /// A relation's target collection, if this document has it.
    fn relation_target(&self, kind: &FieldKind) -> Option<&'a Collection> {
        let FieldKind::Relation(r) = kind else {
            return None;
        };
        self.snapshot
            .get(&r.collection)
            .map(|c| &**c)
            .filter(|t| self.included.contains(t.id.as_str()))
    }

    /// A copied property schema, with a description for relations when it has none.
    fn property(&self, field: &crate::schema::Field) -> Value {
        let mut schema = self.copy(&field.schema);
        if let (FieldKind::Relation(r), Value::Object(obj)) = (&field.kind, &mut schema) {
            if !obj.contains_key("description") {
                let target = self
                    .snapshot
                    .get(&r.collection)
                    .map_or(r.collection.as_str(), |t| t.name.as_str());
                let text = if r.multiple {
                    format!("Ids of `{target}` records.")
                } else {
                    format!("The id of a `{target}` record.")
                };
                obj.insert("description".into(), Value::String(text));
            }
        }
        schema
    }

    /// Properties that are not required and whose zero value (what an unset property reads
    /// as) the collection's schema would reject: the response may still hold that value.
    fn zero_invalid(&self) -> HashSet<String> {
        let mut instance = Map::new();
        for f in &self.c.fields {
            if !f.required && !matches!(f.kind, FieldKind::Autodate(_)) {
                instance.insert(f.name.clone(), f.kind.zero_value());
            }
        }
        let instance = Value::Object(instance);
        self.c
            .validator
            .iter_errors(&instance)
            .filter_map(|e| {
                // Top-level property names are identifiers: no pointer escapes.
                let path = e.instance_path().as_str().to_owned();
                let first = path.trim_start_matches('/').split('/').next()?.to_owned();
                (!first.is_empty()).then_some(first)
            })
            .collect()
    }

    /// The record as list, view, create and update return it.
    fn record_schema(&self) -> Value {
        let c = self.c;
        let mut props = Map::new();
        let id_text = if c.is_view() {
            "The id from the view query's `id` column."
        } else {
            "15 characters of a-z and 0-9 (generated, or given on create)."
        };
        props.insert(
            "id".into(),
            json!({"type": "string", "description": id_text}),
        );
        props.insert(
            "collectionId".into(),
            json!({"type": "string", "const": c.id}),
        );
        props.insert(
            "collectionName".into(),
            json!({"type": "string", "const": c.name}),
        );
        let mut required: Vec<String> = ["id", "collectionId", "collectionName"]
            .map(String::from)
            .to_vec();
        if !c.is_view() {
            props.insert("created".into(), timestamp_schema("Creation time,"));
            props.insert("updated".into(), timestamp_schema("Last change,"));
            required.extend(["created".into(), "updated".into()]);
        }
        if c.is_auth() {
            props.insert("email".into(), json!({
                "type": "string",
                "format": "email",
                "description": "Present when `emailVisibility` is true, for the record itself, and for superusers.",
            }));
            props.insert("emailVisibility".into(), json!({"type": "boolean"}));
            props.insert("verified".into(), json!({"type": "boolean"}));
            required.extend(["emailVisibility".into(), "verified".into()]);
        }
        let zero_invalid = self.zero_invalid();
        let mut expand = Map::new();
        for f in &c.fields {
            if !self.shows(f.hidden) {
                continue;
            }
            let mut schema = self.property(f);
            if zero_invalid.contains(&f.name) {
                schema = or_zero(schema, f.kind.zero_value());
            }
            props.insert(f.name.clone(), schema);
            if !f.hidden {
                required.push(f.name.clone());
            }
            if let Some(target) = self.relation_target(&f.kind) {
                let one = schema_ref(&format!("{}Record", component_base(&target.name)));
                let expanded = if f.kind.is_multiple() {
                    json!({"type": "array", "items": one})
                } else {
                    one
                };
                expand.insert(f.name.clone(), expanded);
            }
        }
        props.insert(
            "expand".into(),
            json!({
                "type": "object",
                "description": "Related records asked for with the `expand` parameter and visible to the caller (back-relations `<collection>_via_<field>` too). Present only when an expansion was asked for.",
                "properties": expand,
                "additionalProperties": true,
            }),
        );
        let mut schema = json!({
            "type": "object",
            "description": format!("A record of `{}`.", c.name),
            "required": required,
            "properties": props,
        });
        copy_annotations(&c.schema, &mut schema);
        schema
    }

    /// The properties a client may send. `create`: with `id` and the required list.
    fn input_schema(&self, create: bool) -> Value {
        let c = self.c;
        let mut props = Map::new();
        let mut required: Vec<String> = Vec::new();
        if create {
            props.insert(
                "id".into(),
                json!({"type": "string", "pattern": "^[a-z0-9]{15}$", "description": "Optional; generated when absent."}),
            );
        }
        if c.is_auth() {
            let (min, max) = password_lengths(c);
            let managers = "superusers and callers matching the manageRule";
            let email = if create {
                "Unique in the collection, case-insensitively.".to_owned()
            } else {
                format!("Only {managers} may change it (`validation_values_mismatch` for others); a change ends every earlier token of the record.")
            };
            props.insert(
                "email".into(),
                json!({"type": "string", "format": "email", "description": email}),
            );
            props.insert(
                "emailVisibility".into(),
                json!({"type": "boolean", "description": "Whether callers other than the record itself and superusers see `email`."}),
            );
            props.insert(
                "verified".into(),
                json!({"type": "boolean", "description": format!("Only {managers} may set it (`validation_values_mismatch` for others).")}),
            );
            if !create {
                props.insert(
                    "oldPassword".into(),
                    json!({"type": "string", "format": "password", "writeOnly": true, "description": format!("The current password: required with `password`, except for {managers}.")}),
                );
            }
            let password = if create {
                "The password; it is stored hashed and never returned."
            } else {
                "A new password; it ends every earlier token of the record."
            };
            props.insert(
                "password".into(),
                json!({"type": "string", "format": "password", "writeOnly": true, "minLength": min, "maxLength": max, "description": password}),
            );
            props.insert(
                "passwordConfirm".into(),
                json!({"type": "string", "format": "password", "writeOnly": true, "description": "Must equal `password`."}),
            );
            if create {
                required.extend(["email".into(), "password".into(), "passwordConfirm".into()]);
            }
        }
        for f in &c.fields {
            if !self.shows(f.hidden) || matches!(f.kind, FieldKind::Autodate(_)) {
                continue;
            }
            props.insert(f.name.clone(), self.property(f));
            if create && f.required && f.default.is_none() && !f.hidden {
                required.push(f.name.clone());
            }
        }
        let description = if create {
            "The new record's values. Unset properties take their `default` or zero value. \
             Unknown keys are ignored. In multipart bodies, `@jsonPayload` parts hold JSON \
             objects merged over the plain values."
        } else {
            "The values to change; others stay. Number fields also take `<field>+`/`<field>-` \
             (add, subtract); array and relation fields `<field>+`, `+<field>` (append, prepend) \
             and `<field>-` (remove). Unknown keys are ignored."
        };
        let mut schema = json!({"type": "object", "description": description, "properties": props});
        if !required.is_empty() {
            schema["required"] = json!(required);
        }
        schema
    }

    fn list_schema(&self) -> Value {
        json!({
            "type": "object",
            "required": ["page", "perPage", "totalItems", "totalPages", "items"],
            "properties": {
                "page": {"type": "integer"},
                "perPage": {"type": "integer"},
                "totalItems": {"type": "integer", "description": "-1 with `skipTotal`."},
                "totalPages": {"type": "integer", "description": "-1 with `skipTotal`."},
                "items": {"type": "array", "items": schema_ref(&format!("{}Record", self.base))},
            },
        })
    }

    /// Who may call an operation governed by `rule` (the `rule_name`), for this audience.
    fn access(&self, rule: &Option<String>, rule_name: &str, unmatched: &str) -> String {
        match (rule, self.audience) {
            (None, _) => "Superusers only: other callers get 403.".to_owned(),
            (Some(r), _) if r.trim().is_empty() => "Anyone.".to_owned(),
            (Some(r), Audience::Superuser) => {
                format!("Callers matching the {rule_name} `{r}`; {unmatched}")
            }
            (Some(_), Audience::Guest) => {
                format!("Callers matching the collection's {rule_name}; {unmatched}")
            }
        }
    }

    fn add_to(&self, schemas: &mut Map<String, Value>, paths: &mut Map<String, Value>) {
        let c = self.c;
        let base = &self.base;
        let tag = json!([c.name]);
        let record = || schema_ref(&format!("{base}Record"));
        let param = |name: &str| json!({"$ref": format!("#/components/parameters/{name}")});
        if let Some(v) = &self.verbatim {
            let mut v = v.clone();
            if let Value::Object(obj) = &mut v {
                obj.entry("description").or_insert_with(|| {
                    json!(format!(
                        "The schema of `{}` as written; the target of its references.",
                        c.name
                    ))
                });
            }
            schemas.insert(format!("{base}Schema"), v);
        }
        schemas.insert(format!("{base}Record"), self.record_schema());
        schemas.insert(format!("{base}List"), self.list_schema());
        let list_params = [
            "page",
            "perPage",
            "sort",
            "filter",
            "expand",
            "fields",
            "skipTotal",
        ]
        .map(param);
        let record_params = ["expand", "fields"].map(param);
        let written = |what: &str| {
            json!({
                "description": format!("The {what} record; only its id when the viewRule hides it from the caller."),
                "content": json_content(json!({"anyOf": [record(), schema_ref("RecordRef")]})),
            })
        };

        let mut collection_path = Map::new();
        collection_path.insert(
            "get".into(),
            json!({
                "operationId": format!("list{base}"),
                "tags": tag,
                "summary": format!("List {} records", c.name),
                "description": self.access(&c.rules.list, "listRule", "records it does not match are left out, never an error."),
                "parameters": list_params,
                "responses": {
                    "200": {"description": "A page of records.", "content": json_content(schema_ref(&format!("{base}List")))},
                    "400": error_response("BadRequest"),
                    "403": error_response("Forbidden"),
                },
            }),
        );
        let mut record_path = Map::new();
        record_path.insert("parameters".into(), json!([param("recordId")]));
        record_path.insert(
            "get".into(),
            json!({
                "operationId": format!("view{base}"),
                "tags": tag,
                "summary": format!("View a {} record", c.name),
                "description": self.access(&c.rules.view, "viewRule", "others get 404."),
                "parameters": record_params,
                "responses": {
                    "200": {"description": "The record.", "content": json_content(record())},
                    "403": error_response("Forbidden"),
                    "404": error_response("NotFound"),
                },
            }),
        );
        if !c.is_view() {
            schemas.insert(format!("{base}Create"), self.input_schema(true));
            schemas.insert(format!("{base}Update"), self.input_schema(false));
            collection_path.insert(
                "post".into(),
                json!({
                    "operationId": format!("create{base}"),
                    "tags": tag,
                    "summary": format!("Create a {} record", c.name),
                    "description": self.access(&c.rules.create, "createRule", "others get 400."),
                    "parameters": record_params,
                    "requestBody": {"content": body_content(schema_ref(&format!("{base}Create")))},
                    "responses": {
                        "200": written("created"),
                        "400": error_response("BadRequest"),
                        "403": error_response("Forbidden"),
                    },
                }),
            );
            record_path.insert(
                "patch".into(),
                json!({
                    "operationId": format!("update{base}"),
                    "tags": tag,
                    "summary": format!("Update a {} record", c.name),
                    "description": self.access(&c.rules.update, "updateRule", "others get 404."),
                    "parameters": record_params,
                    "requestBody": {"content": body_content(schema_ref(&format!("{base}Update")))},
                    "responses": {
                        "200": written("updated"),
                        "400": error_response("BadRequest"),
                        "403": error_response("Forbidden"),
                        "404": error_response("NotFound"),
                    },
                }),
            );
            record_path.insert(
                "delete".into(),
                json!({
                    "operationId": format!("delete{base}"),
                    "tags": tag,
                    "summary": format!("Delete a {} record", c.name),
                    "description": self.access(&c.rules.delete, "deleteRule", "others get 404."),
                    "responses": {
                        "204": {"description": "Deleted."},
                        "400": {"description": "A required relation still references the record.", "content": json_content(schema_ref("ApiError"))},
                        "403": error_response("Forbidden"),
                        "404": error_response("NotFound"),
                    },
                }),
            );
        }
        let prefix = format!("/api/collections/{}/records", c.name);
        paths.insert(prefix.clone(), Value::Object(collection_path));
        paths.insert(format!("{prefix}/{{id}}"), Value::Object(record_path));
        if c.is_auth() {
            self.add_auth_to(schemas, paths);
        }
    }

    /// An auth collection's `{token, record}` answer and its auth endpoints.
    fn add_auth_to(&self, schemas: &mut Map<String, Value>, paths: &mut Map<String, Value>) {
        let c = self.c;
        let base = self.base.clone();
        let answer = format!("{base}AuthResponse");
        schemas.insert(
            answer.clone(),
            json!({
                "type": "object",
                "description": format!("A signed-in `{}` record and its token.", c.name),
                "required": ["token", "record"],
                "properties": {
                    "token": {"type": "string", "description": "Send it in the `Authorization` header."},
                    "record": {
                        "description": "The record, always with its own `email`.",
                        "allOf": [schema_ref(&format!("{base}Record"))],
                        "required": ["email"],
                    },
                },
            }),
        );
        let password_auth = c.auth.as_ref().and_then(|a| a.get("passwordAuth"));
        let identity_fields: Vec<&str> = password_auth
            .and_then(|p| p.get("identityFields"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let shown_fields = identity_fields
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut identity_field =
            json!({"type": "string", "description": "Match only this identity field."});
        if !identity_fields.is_empty() {
            identity_field["enum"] = json!(identity_fields);
        }
        let password_body = json!({
            "type": "object",
            "required": ["identity", "password"],
            "properties": {
                "identity": {"type": "string", "minLength": 1, "maxLength": 255, "description": format!("The value of an identity field ({shown_fields}).")},
                "password": {"type": "string", "minLength": 1, "maxLength": 255, "format": "password", "writeOnly": true},
                "identityField": identity_field,
            },
        });
        let enabled = password_auth.and_then(|p| p.get("enabled")) == Some(&Value::Bool(true));
        let rule = match (&c.rules.auth, self.audience) {
            (None, _) => "The authRule is null: no record can sign in (403).".to_owned(),
            (Some(r), _) if r.trim().is_empty() => {
                "Any record with the right password can sign in.".to_owned()
            }
            (Some(r), Audience::Superuser) => {
                format!("The record must match the authRule `{r}` (403 otherwise).")
            }
            (Some(_), Audience::Guest) => {
                "The record must match the collection's authRule (403 otherwise).".to_owned()
            }
        };
        let sign_in = if enabled {
            format!("Identity fields: {shown_fields}. {rule}")
        } else {
            "Password sign-in is disabled for this collection (403).".to_owned()
        };
        paths.extend(
            AuthEndpoints {
                collection: c.name.clone(),
                tag: c.name.clone(),
                operation: Box::new(move |verb| format!("{}{base}", lower_first(verb))),
                answer: schema_ref(&answer),
                password_body,
                password_lengths: password_lengths(c),
                user_collection: true,
                sign_in,
            }
            .paths(),
        );
    }
}

/// `AuthWithPassword` → `authWithPassword`.
fn lower_first(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `schema`, or the zero value an unset property reads as. Annotations and vendor
/// extensions move to the outside, where readers look for them.
fn or_zero(schema: Value, zero: Value) -> Value {
    let mut outer = Map::new();
    let mut inner = schema;
    if let Value::Object(obj) = &mut inner {
        let keys: Vec<String> = obj
            .keys()
            .filter(|k| k.starts_with("x-") || *k == "title" || *k == "description")
            .cloned()
            .collect();
        for k in keys {
            if let Some(v) = obj.remove(&k) {
                outer.insert(k, v);
            }
        }
    }
    outer.insert("anyOf".into(), json!([inner, {"const": zero}]));
    Value::Object(outer)
}

/// The collection schema's `title`, `description`, `examples` and `deprecated`.
fn copy_annotations(from: &Value, to: &mut Value) {
    for key in ["title", "description", "examples", "deprecated"] {
        if let Some(v) = from.get(key) {
            to[key] = v.clone();
        }
    }
}

/// `auth.password.{minLength,maxLength}` of an auth collection.
fn password_lengths(c: &Collection) -> (u64, u64) {
    let options = c.auth.as_ref().and_then(|a| a.get("password"));
    let get = |key: &str, default: u64| {
        options
            .and_then(|p| p.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(default)
    };
    (get("minLength", 8), get("maxLength", 71))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::collection::{compile, CollectionRef, Definition};

    /// Compile `defs` in order, each able to relate to the ones before it.
    fn snapshot(defs: Vec<Value>) -> Snapshot {
        let mut done: Vec<Collection> = Vec::new();
        for def in defs {
            let body = def.as_object().unwrap().clone();
            let known: Vec<CollectionRef> = done
                .iter()
                .map(|c| CollectionRef {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    kind: c.kind,
                    system: c.system,
                })
                .collect();
            let resolve = |key: &str| known.iter().find(|r| r.id == key || r.name == key).cloned();
            let system = body["name"].as_str().unwrap().starts_with('_');
            let c = compile(
                Definition {
                    body: &body,
                    existing: None,
                    system,
                    now: "2026-01-01 00:00:00.000Z",
                    trusted: false,
                },
                &resolve,
            )
            .unwrap_or_else(|e| panic!("{def}: {e}"));
            done.push(c);
        }
        Snapshot::from_collections(1, done)
    }

    fn sample() -> Snapshot {
        snapshot(vec![
            json!({"name": "_superusers", "type": "auth"}),
            json!({"name": "users", "type": "auth", "listRule": "id = @request.auth.id", "viewRule": "id = @request.auth.id",
                   "schema": {"type": "object", "properties": {"name": {"type": "string"}}}}),
            json!({"name": "posts", "listRule": "", "viewRule": "published = true", "createRule": "",
            "schema": {"type": "object", "properties": {
                "title": {"type": "string", "minLength": 1, "description": "Headline."},
                "published": {"type": "boolean"},
                "due": {"type": "string", "format": "date-time"},
                "meta": {"$ref": "#/$defs/meta"},
                "tree": {"$ref": "#node"},
                "secret": {"type": "string", "x-hidden": true},
                "peek": {"$ref": "#/properties/secret"},
                "author": {"type": "string", "x-relation": {"collection": "users"}},
                "editors": {"type": "array", "items": {"type": "string"}, "x-relation": {"collection": "users"}},
                "stamp": {"type": "string", "x-autodate": "create"},
                "kind": {"enum": ["a", {"$ref": "#/not-a-ref"}]}
            }, "required": ["title"],
            "$defs": {
                "meta": {"type": "object", "properties": {"k": {"type": "integer"}}},
                "node": {"$anchor": "node", "type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#node"}}}}
            }}}),
            json!({"name": "audit", "schema": {"type": "object", "properties": {"what": {"type": "string"}}}}),
            json!({"name": "staff", "type": "auth", "authRule": "verified = true",
                   "schema": {"type": "object", "properties": {"badge": {"type": "string"}}}}),
            json!({"name": "stats", "type": "view", "listRule": "", "viewQuery": "SELECT id, title FROM posts",
                   "schema": {"type": "object", "properties": {"title": {"type": "string"}}}}),
        ])
    }

    /// Every `$ref` in `doc` that is a JSON pointer resolves in `doc`; anchors are defined once.
    fn assert_references_resolve(doc: &Value) {
        fn visit(v: &Value, refs: &mut Vec<String>, anchors: &mut Vec<String>) {
            match v {
                Value::Object(o) => {
                    for (k, v) in o {
                        match (k.as_str(), v) {
                            ("$ref" | "$dynamicRef", Value::String(r)) => refs.push(r.clone()),
                            ("$anchor" | "$dynamicAnchor", Value::String(a)) => {
                                anchors.push(a.clone())
                            }
                            // Data, not schemas.
                            ("enum" | "const" | "examples" | "default", _) => {}
                            _ => visit(v, refs, anchors),
                        }
                    }
                }
                Value::Array(a) => a.iter().for_each(|v| visit(v, refs, anchors)),
                _ => {}
            }
        }
        let (mut refs, mut anchors) = (Vec::new(), Vec::new());
        visit(doc, &mut refs, &mut anchors);
        let unique: HashSet<&String> = anchors.iter().collect();
        assert_eq!(
            unique.len(),
            anchors.len(),
            "anchors defined once: {anchors:?}"
        );
        for r in refs {
            let fragment = r.strip_prefix('#').expect("in-document reference");
            if fragment.starts_with('/') {
                assert!(doc.pointer(fragment).is_some(), "{r} resolves");
            } else {
                assert!(anchors.iter().any(|a| a == fragment), "{r} names an anchor");
            }
        }
    }

    #[test]
    fn guests_get_collections_they_can_reach_without_hidden_fields() {
        let doc = document(&sample(), Audience::Guest);
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        let paths = doc["paths"].as_object().unwrap();
        for p in [
            "/api/collections/posts/records",
            "/api/collections/posts/records/{id}",
            "/api/collections/users/records",
            "/api/collections/stats/records",
            "/api/health",
            "/api/batch",
            "/api/collections/_superusers/auth-with-password",
        ] {
            assert!(paths.contains_key(p), "{p}");
        }
        assert!(
            !paths.contains_key("/api/collections/audit/records"),
            "superusers only"
        );
        assert!(!paths.contains_key("/api/collections/_superusers/records"));
        for action in AUTH_ACTIONS {
            assert!(
                paths.contains_key(&format!("/api/collections/users/{action}")),
                "{action}"
            );
            assert!(
                !paths.contains_key(&format!("/api/collections/staff/{action}")),
                "{action}: superusers only"
            );
        }
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        assert!(!schemas.contains_key("AuditRecord"));
        assert!(!schemas.contains_key("StaffAuthResponse"));
        let record = &schemas["PostsRecord"];
        assert!(record["properties"].get("secret").is_none());
        assert!(schemas["PostsCreate"]["properties"].get("secret").is_none());
        assert!(schemas["PostsSchema"]["properties"].get("secret").is_none());
        assert!(
            !record["properties"]["peek"].to_string().contains("$ref"),
            "a reference into a hidden field is dropped"
        );
        let rules = doc["paths"]["/api/collections/posts/records/{id}"]["get"]["description"]
            .as_str()
            .unwrap();
        assert!(
            !rules.contains("published"),
            "guests never see rule text: {rules}"
        );
        assert_references_resolve(&doc);
    }

    /// Every auth endpoint of a user auth collection, as a path under it.
    const AUTH_ACTIONS: [&str; 13] = [
        "auth-with-password",
        "request-otp",
        "auth-with-otp",
        "auth-with-oauth2",
        "auth-refresh",
        "auth-methods",
        "impersonate/{id}",
        "request-verification",
        "confirm-verification",
        "request-password-reset",
        "confirm-password-reset",
        "request-email-change",
        "confirm-email-change",
    ];

    #[test]
    fn auth_collections_get_their_auth_endpoints() {
        let doc = document(&sample(), Audience::Superuser);
        let paths = doc["paths"].as_object().unwrap();
        for name in ["users", "staff"] {
            for action in AUTH_ACTIONS {
                assert!(
                    paths.contains_key(&format!("/api/collections/{name}/{action}")),
                    "{name}/{action}"
                );
            }
        }
        for action in ["auth-with-password", "auth-refresh", "auth-methods"] {
            assert!(
                !paths.contains_key(&format!("/api/collections/posts/{action}")),
                "not an auth collection"
            );
            let p = format!("/api/collections/_superusers/{action}");
            assert!(paths.contains_key(&p), "{p}");
        }
        for action in [
            "impersonate/{id}",
            "request-verification",
            "confirm-verification",
        ] {
            let p = format!("/api/collections/_superusers/{action}");
            assert!(!paths.contains_key(&p), "{p}: never succeeds");
        }

        let sign_in = &paths["/api/collections/users/auth-with-password"]["post"];
        assert_eq!(sign_in["operationId"], "authWithPasswordUsers");
        assert_eq!(sign_in["security"], json!([{}]));
        assert_eq!(
            sign_in["responses"]["200"]["content"]["application/json"]["schema"],
            json!({"$ref": "#/components/schemas/UsersAuthResponse"})
        );
        let body = &sign_in["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(body["required"], json!(["identity", "password"]));
        assert_eq!(
            body["properties"]["identityField"]["enum"],
            json!(["email"])
        );
        assert_eq!(body["properties"]["password"]["writeOnly"], true);
        let staff = paths["/api/collections/staff/auth-with-password"]["post"]["description"]
            .as_str()
            .unwrap();
        assert!(staff.contains("`verified = true`"), "{staff}");
        assert_eq!(
            paths["/api/collections/users/auth-refresh"]["post"]["security"],
            json!([{"bearerAuth": []}])
        );
        assert_eq!(
            paths["/api/collections/_superusers/auth-refresh"]["post"]["operationId"],
            "superuserAuthRefresh"
        );
        assert_eq!(
            paths["/api/collections/users/confirm-password-reset"]["post"]["requestBody"]
                ["content"]["application/json"]["schema"]["properties"]["password"]["minLength"],
            8
        );

        let s = &doc["components"]["schemas"];
        let answer = &s["UsersAuthResponse"];
        assert_eq!(answer["required"], json!(["token", "record"]));
        assert_eq!(
            answer["properties"]["record"]["allOf"],
            json!([{"$ref": "#/components/schemas/UsersRecord"}])
        );
        assert_eq!(answer["properties"]["record"]["required"], json!(["email"]));

        let create = &s["UsersCreate"];
        let required: Vec<&str> = create["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for key in ["email", "password", "passwordConfirm"] {
            assert!(required.contains(&key), "{key}");
        }
        let update = &s["UsersUpdate"];
        for (schema, keys) in [
            (create, &["password", "passwordConfirm"][..]),
            (update, &["oldPassword", "password", "passwordConfirm"][..]),
        ] {
            for key in keys {
                assert_eq!(schema["properties"][key]["writeOnly"], true, "{key}");
            }
            for key in ["email", "emailVisibility", "verified"] {
                assert!(schema["properties"].get(key).is_some(), "{key}");
            }
            assert!(schema["properties"].get("tokenKey").is_none());
        }
        assert!(update.get("required").is_none());
        assert!(!s.to_string().contains("tokenKey"));
    }

    #[test]
    fn superusers_get_every_collection_hidden_fields_and_rules() {
        let doc = document(&sample(), Audience::Superuser);
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.contains_key("/api/collections/audit/records"));
        assert!(!paths.contains_key("/api/collections/_superusers/records"));
        let record = &doc["components"]["schemas"]["PostsRecord"];
        assert_eq!(record["properties"]["secret"]["x-hidden"], true);
        let required: Vec<&str> = record["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(!required.contains(&"secret"));
        assert_eq!(
            record["properties"]["peek"]["anyOf"][0],
            json!({"$ref": "#/components/schemas/PostsSchema/properties/secret"})
        );
        let rules = doc["paths"]["/api/collections/posts/records/{id}"]["get"]["description"]
            .as_str()
            .unwrap();
        assert!(rules.contains("`published = true`"), "{rules}");
        assert_references_resolve(&doc);
    }

    #[test]
    fn records_carry_system_fields_and_the_schemas_as_written() {
        let doc = document(&sample(), Audience::Guest);
        let s = &doc["components"]["schemas"];
        let posts = &s["PostsRecord"]["properties"];
        for key in [
            "id",
            "collectionId",
            "collectionName",
            "created",
            "updated",
            "expand",
        ] {
            assert!(posts.get(key).is_some(), "{key}");
        }
        assert_eq!(posts["collectionName"]["const"], "posts");
        assert_eq!(posts["published"], json!({"type": "boolean"}));
        assert_eq!(
            posts["author"]["x-relation"]["collection"], "users",
            "extensions stay as vendor extensions"
        );
        assert_eq!(
            posts["expand"]["properties"]["author"],
            json!({"$ref": "#/components/schemas/UsersRecord"})
        );
        assert_eq!(
            posts["expand"]["properties"]["editors"]["items"],
            json!({"$ref": "#/components/schemas/UsersRecord"})
        );
        assert_eq!(
            posts["meta"],
            or_zero(
                json!({"$ref": "#/components/schemas/PostsSchema/$defs/meta"}),
                Value::Null
            ),
            "an unset object reads as null"
        );
        assert_eq!(
            posts["tree"],
            or_zero(json!({"$ref": "#posts-node"}), Value::Null)
        );
        assert_eq!(s["PostsSchema"]["$defs"]["node"]["$anchor"], "posts-node");
        assert_eq!(
            posts["kind"]["anyOf"][0]["enum"][1],
            json!({"$ref": "#/not-a-ref"}),
            "data untouched"
        );
        // Unset values the schema would reject can still be read.
        assert_eq!(posts["due"]["anyOf"][1], json!({"const": ""}));
        assert_eq!(
            posts["title"],
            json!({"type": "string", "minLength": 1, "description": "Headline."}),
            "required: never unset"
        );
        assert!(
            posts["stamp"].get("anyOf").is_none(),
            "autodates are always set"
        );

        let create = &s["PostsCreate"];
        assert_eq!(create["required"], json!(["title"]));
        assert!(
            create["properties"].get("stamp").is_none(),
            "autodates are not input"
        );
        assert!(s["PostsUpdate"].get("required").is_none());

        let users = &s["UsersRecord"];
        for key in ["email", "emailVisibility", "verified"] {
            assert!(users["properties"].get(key).is_some(), "{key}");
        }
        for key in ["password", "tokenKey"] {
            assert!(users["properties"].get(key).is_none(), "{key}");
        }
        assert_eq!(s["UsersCreate"]["properties"]["password"]["minLength"], 8);

        let stats = doc["paths"]["/api/collections/stats/records"]
            .as_object()
            .unwrap();
        assert!(
            stats.contains_key("get") && !stats.contains_key("post"),
            "views are read-only"
        );
        assert!(s.get("StatsCreate").is_none());
        let one = doc["paths"]["/api/collections/stats/records/{id}"]
            .as_object()
            .unwrap();
        assert!(!one.contains_key("patch") && !one.contains_key("delete"));
    }

    #[test]
    fn every_component_schema_is_a_valid_2020_12_schema() {
        for audience in [Audience::Guest, Audience::Superuser] {
            let doc = document(&sample(), audience);
            for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
                if let Err(e) = jsonschema::draft202012::meta::validate(schema) {
                    panic!("{name}: {e}");
                }
            }
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = document(&sample(), Audience::Superuser);
        let mut seen = HashSet::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                    assert!(seen.insert(id.to_owned()), "{id} twice");
                }
            }
        }
        assert!(seen.contains("listPosts") && seen.contains("deleteAudit"));
        assert!(seen.contains("impersonateStaff") && seen.contains("superuserAuthWithPassword"));
    }

    #[test]
    fn the_cache_is_per_snapshot_and_audience() {
        let a = Arc::new(sample());
        let b = Arc::new(sample());
        store(&a, Audience::Guest, Bytes::from_static(b"a"));
        assert_eq!(cached(&a, Audience::Guest).as_deref(), Some(&b"a"[..]));
        assert!(cached(&a, Audience::Superuser).is_none());
        assert!(
            cached(&b, Audience::Guest).is_none(),
            "same version, other snapshot"
        );
    }
}
