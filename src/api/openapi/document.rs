//! The document's skeleton: info, tags, the shared parameters and responses, and the
//! system paths; each shown collection adds its own part.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::auth_paths::superuser_auth_paths;
use super::components::shared_schemas;
use super::schemas::CollectionDoc;
use super::{json_content, schema_ref, Audience};
use crate::api::list::{DEFAULT_PER_PAGE, MAX_PER_PAGE};
use crate::schema::{Collection, Snapshot};

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

pub(super) fn shared_parameters() -> Value {
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

pub(super) fn shared_responses() -> Value {
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

pub(super) fn system_paths() -> Map<String, Value> {
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
