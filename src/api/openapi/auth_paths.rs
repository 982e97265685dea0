//! Auth endpoints: `auth-with-password`, `auth-refresh`, `auth-methods`, `impersonate`
//! and the mailed flows, for `_superusers` and for each shown auth collection.

use serde_json::{json, Map, Value};

use super::schemas::CollectionDoc;
use super::{body_content, error_response, json_content, schema_ref, Audience};
use crate::schema::{Collection, Snapshot};

/// The auth endpoints of `_superusers`: those of user auth collections except
/// impersonation (superusers cannot be impersonated) and verification (they are
/// verified by definition).
pub(super) fn superuser_auth_paths(snapshot: &Snapshot) -> Map<String, Value> {
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
    pub(super) collection: String,
    pub(super) tag: String,
    /// The operationId of an endpoint, from its verb (`AuthWithPassword`, …).
    pub(super) operation: Box<dyn Fn(&str) -> String>,
    /// The `{token, record}` answer.
    pub(super) answer: Value,
    /// The auth-with-password body.
    pub(super) password_body: Value,
    /// `auth.password.{minLength,maxLength}`, for confirm-password-reset.
    pub(super) password_lengths: (u64, u64),
    /// A user auth collection (not `_superusers`): impersonation, verification, and the
    /// `passwordAuth` and authRule checks at sign-in.
    pub(super) user_collection: bool,
    /// Who can sign in.
    pub(super) sign_in: String,
}

impl AuthEndpoints {
    pub(super) fn paths(&self) -> Map<String, Value> {
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

impl CollectionDoc<'_> {
    /// An auth collection's `{token, record}` answer and its auth endpoints.
    pub(super) fn add_auth_to(
        &self,
        schemas: &mut Map<String, Value>,
        paths: &mut Map<String, Value>,
    ) {
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
pub(super) fn lower_first(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `auth.password.{minLength,maxLength}` of an auth collection.
pub(super) fn password_lengths(c: &Collection) -> (u64, u64) {
    let options = c.auth.as_ref().and_then(|a| a.get("password"));
    let get = |key: &str, default: u64| {
        options
            .and_then(|p| p.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(default)
    };
    (get("minLength", 8), get("maxLength", 71))
}
