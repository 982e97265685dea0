//! The shared component schemas: errors, health, batch, auth answers and record refs.

use serde_json::{json, Map, Value};

use super::{schema_ref, timestamp_schema};

pub(super) fn shared_schemas() -> Map<String, Value> {
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
