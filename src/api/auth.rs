//! Auth endpoints under `/api/collections/{collection}/…` (API.md Part B §5), for
//! `_superusers` and every user auth collection: `auth-with-password`, `auth-refresh`,
//! `auth-methods`, `auth-with-oauth2`, `impersonate/{id}` and the mailed flows.
//! `{collection}` is the name or the id. (`/api/oauth2-redirect`, which hands the code to
//! the SDK's realtime client, is in `realtime.rs`.)

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{Auth, Body, Superuser};
use super::records::{request_info, write_error};
use crate::auth::oauth2::{self, OAuth2Error, OAuth2Request};
use crate::auth::otp::Completed;
use crate::auth::records::{own_json, AuthRecords, StoredAuth};
use crate::auth::superusers::{record_json, SUPERUSERS_ID};
use crate::db::superusers::SuperuserRow;
use crate::schema::Collection;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/collections/{collection}/auth-with-password",
            post(auth_with_password),
        )
        .route(
            "/api/collections/{collection}/auth-refresh",
            post(auth_refresh),
        )
        .route(
            "/api/collections/{collection}/auth-methods",
            get(auth_methods),
        )
        .route(
            "/api/collections/{collection}/auth-with-oauth2",
            post(auth_with_oauth2),
        )
        .route(
            "/api/collections/{collection}/impersonate/{id}",
            post(impersonate),
        )
        .route(
            "/api/collections/{collection}/request-otp",
            post(request_otp),
        )
        .route(
            "/api/collections/{collection}/auth-with-otp",
            post(auth_with_otp),
        )
        .route(
            "/api/collections/{collection}/request-verification",
            post(request_verification),
        )
        .route(
            "/api/collections/{collection}/confirm-verification",
            post(confirm_verification),
        )
        .route(
            "/api/collections/{collection}/request-password-reset",
            post(request_password_reset),
        )
        .route(
            "/api/collections/{collection}/confirm-password-reset",
            post(confirm_password_reset),
        )
        .route(
            "/api/collections/{collection}/request-email-change",
            post(request_email_change),
        )
        .route(
            "/api/collections/{collection}/confirm-email-change",
            post(confirm_email_change),
        )
}

/// The auth collection a route names; 404 for anything else.
fn auth_collection(state: &AppState, key: &str) -> Result<Arc<Collection>, ApiError> {
    state
        .collections()
        .snapshot()
        .get(key)
        .filter(|c| c.is_auth())
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "Missing or invalid auth collection context.",
            )
        })
}

fn is_superusers(c: &Collection) -> bool {
    c.id == SUPERUSERS_ID
}

/// `{token, record}` for a user auth record (its own view: email included).
fn record_auth_response(
    collection: &Collection,
    stored: &StoredAuth,
    token: String,
) -> Json<Value> {
    Json(json!({"token": token, "record": own_json(collection, &stored.record)}))
}

/// Check a required text field of 1–255 characters, recording a field error if not.
pub(super) fn required_text<'a>(
    body: &'a Body,
    field: &'static str,
    err: &mut ApiError,
) -> Option<&'a str> {
    match body.string(field) {
        Ok(Some(s)) if !s.is_empty() && s.chars().count() <= 255 => Some(s),
        Ok(Some(s)) if !s.is_empty() => {
            err.data.insert(
                field.into(),
                json!({"code": "validation_length_out_of_range", "message": "The length must be between 1 and 255."}),
            );
            None
        }
        Ok(_) => {
            err.data.insert(
                field.into(),
                json!({"code": "validation_required", "message": "Cannot be blank."}),
            );
            None
        }
        Err(e) => {
            err.data.extend(e.data);
            None
        }
    }
}

pub(super) fn auth_response(token: String, record: &SuperuserRow) -> Json<Value> {
    Json(json!({"token": token, "record": record_json(record)}))
}

async fn auth_with_password(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let collection = auth_collection(&state, &collection)?;
    let mut err = ApiError::validation();
    let identity = required_text(&body, "identity", &mut err);
    let password = required_text(&body, "password", &mut err);
    let identity_field = match body.string("identityField") {
        Ok(None) => None,
        Ok(Some(f)) if !is_superusers(&collection) || f == "email" => Some(f),
        Ok(Some(_)) | Err(_) => {
            err.data.insert(
                "identityField".into(),
                json!({"code": "validation_in_invalid", "message": "Must be a valid value."}),
            );
            None
        }
    };
    let (Some(identity), Some(password), true) = (identity, password, err.data.is_empty()) else {
        return Err(err);
    };
    if !state
        .limiter()
        .take_account(&collection.id, "auth-with-password", identity)
    {
        return Ok(super::ratelimit::refused(state.limiter().auth_limit()));
    }
    if !is_superusers(&collection) {
        let records = state.auth_records();
        let stored = records
            .auth_with_password(collection.clone(), identity, password, identity_field)
            .await?;
        let mfa = mfa_id(&body, query.as_deref())?;
        return finish(&state, &collection, &stored, "password", mfa.as_deref()).await;
    }
    let superusers = state.superusers();
    let record = superusers.auth_with_password(identity, password).await?;
    let mfa_on = collection
        .auth
        .as_ref()
        .is_some_and(|a| a["mfa"]["enabled"] == Value::Bool(true));
    if mfa_on {
        // The generic path: the same token (tokenKey + the collection's authToken secret),
        // behind the MFA challenge.
        let stored = state
            .auth_records()
            .find(&collection, &record.id)
            .await?
            .ok_or(crate::auth::AuthError::InvalidCredentials)?;
        let mfa = mfa_id(&body, query.as_deref())?;
        return finish(&state, &collection, &stored, "password", mfa.as_deref()).await;
    }
    Ok(auth_response(superusers.issue_token(&record)?, &record).into_response())
}

/// `mfaId` from the body or the query string.
fn mfa_id(body: &Body, query: Option<&str>) -> Result<Option<String>, ApiError> {
    if let Some(id) = body.string("mfaId")? {
        return Ok(Some(id.to_owned()));
    }
    Ok(super::records::query_param(query, "mfaId"))
}

/// The answer to a successful first (or second) method: the auth response, or the bare
/// `401 {"mfaId"}` MFA challenge (API.md §5.7 — deliberately not the error envelope).
async fn finish(
    state: &AppState,
    collection: &Arc<Collection>,
    stored: &StoredAuth,
    method: &'static str,
    mfa: Option<&str>,
) -> Result<Response, ApiError> {
    match state
        .auth_records()
        .complete(collection, stored, method, mfa)
        .await?
    {
        Completed::Token(token) => {
            Ok(record_auth_response(collection, stored, token).into_response())
        }
        Completed::MfaRequired(id) => {
            Ok((StatusCode::UNAUTHORIZED, Json(json!({ "mfaId": id }))).into_response())
        }
    }
}

async fn request_otp(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let collection = auth_collection(&state, &collection)?;
    let email = text_field(&body, "email")?;
    required("email", email)?;
    if !state
        .limiter()
        .take_account(&collection.id, "request-otp", email)
    {
        return Ok(super::ratelimit::refused(state.limiter().auth_limit()));
    }
    let otp_id = state.auth_records().request_otp(&collection, email).await?;
    Ok(Json(json!({ "otpId": otp_id })).into_response())
}

async fn auth_with_otp(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let collection = auth_collection(&state, &collection)?;
    let otp_id = text_field(&body, "otpId")?;
    required("otpId", otp_id)?;
    let code = text_field(&body, "password")?;
    required("password", code)?;
    let stored = state
        .auth_records()
        .auth_with_otp(&collection, otp_id, code)
        .await?;
    let mfa = mfa_id(&body, query.as_deref())?;
    finish(&state, &collection, &stored, "otp", mfa.as_deref()).await
}

async fn auth_refresh(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    auth: Auth,
) -> Result<Json<Value>, ApiError> {
    let collection = auth_collection(&state, &collection)?;
    let wrong_collection = || {
        ApiError::forbidden(format!(
            "The request requires auth record from {} collection.",
            collection.name
        ))
    };
    match auth {
        Auth::Record(session) if session.collection.id == collection.id => {
            // Re-read: the token check loaded the record, but refresh re-checks the rule.
            let records = state.auth_records();
            let stored = records
                .find(&collection, session.id())
                .await?
                .ok_or_else(|| {
                    ApiError::unauthorized("The request requires valid record authorization token.")
                })?;
            records.check_auth_rule(&collection, &stored).await?;
            let token = if session.claims.refreshable == Some(false) {
                session.token
            } else {
                AuthRecords::issue_token(&collection, &stored, None, true)?
            };
            Ok(record_auth_response(&collection, &stored, token))
        }
        Auth::Record(_) => Err(wrong_collection()),
        Auth::Superuser(_) if !is_superusers(&collection) => Err(wrong_collection()),
        Auth::Superuser(session) => {
            let token = if session.claims.refreshable == Some(false) {
                session.token
            } else {
                state.superusers().issue_token(&session.record)?
            };
            Ok(auth_response(token, &session.record))
        }
        Auth::Guest => Err(ApiError::unauthorized(
            "The request requires valid record authorization token.",
        )),
    }
}

async fn auth_methods(
    State(state): State<AppState>,
    Path(collection): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let collection = auth_collection(&state, &collection)?;
    let options = collection.auth.clone().unwrap_or(Value::Null);
    let password = &options["passwordAuth"];
    let enabled = password["enabled"] == Value::Bool(true);
    let fields = password["identityFields"].clone();
    // Legacy keys: `emailPassword` when email is an identity field, `usernamePassword`
    // when any other field is.
    let has = |email: bool| {
        enabled
            && fields
                .as_array()
                .is_some_and(|a| a.iter().any(|f| (f == "email") == email))
    };
    let flag = |name: &str| {
        let on = options[name]["enabled"] == Value::Bool(true);
        json!({"enabled": on, "duration": if on { options[name]["duration"].clone() } else { json!(0) }})
    };
    let providers = oauth2::offers(&collection);
    Ok(Json(json!({
        "password": {"enabled": enabled, "identityFields": fields},
        "oauth2": {"enabled": oauth2::check_enabled(&collection).is_ok(), "providers": providers},
        "mfa": flag("mfa"),
        "otp": flag("otp"),
        "authProviders": providers,
        "usernamePassword": has(false),
        "emailPassword": has(true),
    })))
}

/// An optional string field of at most `max` bytes.
fn optional_text<'a>(
    body: &'a Body,
    field: &'static str,
    max: usize,
    err: &mut ApiError,
) -> &'a str {
    match body.string(field) {
        Ok(Some(s)) if s.len() <= max => s,
        Ok(Some(_)) => {
            err.data.insert(
                field.into(),
                json!({"code": "validation_length_out_of_range", "message": format!("The length must be at most {max}.")}),
            );
            ""
        }
        Ok(None) => "",
        Err(e) => {
            err.data.extend(e.data);
            ""
        }
    }
}

/// `POST /auth-with-oauth2`: sign in (or up) with a provider's authorization code.
async fn auth_with_oauth2(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    auth: Auth,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let collection = auth_collection(&state, &collection)?;
    oauth2::check_enabled(&collection)?;
    let mut err = ApiError::validation();
    let provider = optional_text(&body, "provider", 100, &mut err);
    let code = optional_text(&body, "code", 4096, &mut err);
    for (field, value) in [("provider", provider), ("code", code)] {
        if value.is_empty() && !err.data.contains_key(field) {
            err.data.insert(
                field.into(),
                json!({"code": "validation_required", "message": "Cannot be blank."}),
            );
        }
    }
    let code_verifier = optional_text(&body, "codeVerifier", 255, &mut err);
    let redirect_url = match optional_text(&body, "redirectURL", 2048, &mut err) {
        "" => optional_text(&body, "redirectUrl", 2048, &mut err),
        url => url,
    };
    let create_data = match body.0.get("createData") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => {
            err.data.insert(
                "createData".into(),
                json!({"code": "validation_invalid_value", "message": "Must be an object."}),
            );
            serde_json::Map::new()
        }
    };
    if !err.data.is_empty() {
        return Err(err);
    }
    let caller = match &auth {
        Auth::Record(s) if s.collection.id == collection.id => Some(s.id().to_owned()),
        _ => None,
    };
    let request = OAuth2Request {
        provider: provider.to_owned(),
        code: code.to_owned(),
        code_verifier: code_verifier.to_owned(),
        redirect_url: redirect_url.to_owned(),
        create_data,
        caller,
        request: request_info(&state, &auth, &method, &headers, query.as_deref()),
    };
    let outcome = state
        .auth_records()
        .auth_with_oauth2(&collection, request)
        .await
        .map_err(|e| match e {
            OAuth2Error::Auth(e) => e.into(),
            OAuth2Error::Create(e) => write_error(e, "Failed to authenticate."),
        })?;
    let mfa = mfa_id(&body, query.as_deref())?;
    match state
        .auth_records()
        .complete(&collection, &outcome.stored, "oauth2", mfa.as_deref())
        .await?
    {
        Completed::Token(token) => Ok(Json(json!({
            "token": token,
            "record": own_json(&collection, &outcome.stored.record),
            "meta": outcome.user.meta(outcome.is_new),
        }))
        .into_response()),
        Completed::MfaRequired(id) => {
            Ok((StatusCode::UNAUTHORIZED, Json(json!({ "mfaId": id }))).into_response())
        }
    }
}

/// `POST /impersonate/{id}` (superusers only): a non-refreshable token for the record.
async fn impersonate(
    State(state): State<AppState>,
    Path((collection, id)): Path<(String, String)>,
    _superuser: Superuser,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let collection = auth_collection(&state, &collection)?;
    let duration = match body.0.get("duration") {
        None | Some(Value::Null) => 0,
        Some(v) => match v.as_i64() {
            Some(d) if d >= 0 => d,
            _ => {
                return Err(ApiError::validation().with_field(
                    "duration",
                    "validation_min_greater_equal_than_required",
                    "Must be no less than 0.",
                ))
            }
        },
    };
    if is_superusers(&collection) {
        return Err(ApiError::forbidden("Superusers cannot be impersonated."));
    }
    let stored = state
        .auth_records()
        .find(&collection, &id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let token = AuthRecords::issue_token(&collection, &stored, Some(duration), false)?;
    Ok(record_auth_response(&collection, &stored, token))
}

/// A string field of the body ("" when absent); a non-string is a field error.
fn text_field<'a>(body: &'a Body, field: &'static str) -> Result<&'a str, ApiError> {
    Ok(body.string(field)?.unwrap_or("").trim())
}

fn required(field: &'static str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::validation().with_field(
            field,
            "validation_required",
            "Cannot be blank.",
        ));
    }
    Ok(())
}

// The mailed-flow handlers below share one shape on purpose: each parses its own fields
// and calls its own service method, so the route table reads as the API does. One
// generic handler over a method table would hide which endpoint checks what.
async fn request_verification(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let collection = auth_collection(&state, &collection)?;
    let email = text_field(&body, "email")?;
    state
        .auth_records()
        .request_verification(&collection, email)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn confirm_verification(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let collection = auth_collection(&state, &collection)?;
    let token = text_field(&body, "token")?;
    required("token", token)?;
    state
        .auth_records()
        .confirm_verification(&collection, token)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn request_password_reset(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let collection = auth_collection(&state, &collection)?;
    let email = text_field(&body, "email")?;
    state
        .auth_records()
        .request_password_reset(&collection, email)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn confirm_password_reset(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let collection = auth_collection(&state, &collection)?;
    let token = text_field(&body, "token")?;
    let mut errors = serde_json::Map::new();
    if token.is_empty() {
        errors.insert(
            "token".into(),
            json!({"code": "validation_required", "message": "Cannot be blank."}),
        );
    }
    let password = crate::records::write::check_password(&collection, &body.0, true, &mut errors);
    let (Some(password), true) = (password, errors.is_empty()) else {
        let mut e = ApiError::validation();
        e.data = errors;
        return Err(e);
    };
    state
        .auth_records()
        .confirm_password_reset(&collection, token, password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn request_email_change(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    auth: Auth,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let collection = auth_collection(&state, &collection)?;
    let id = match &auth {
        Auth::Record(s) if s.collection.id == collection.id => s.id().to_owned(),
        Auth::Superuser(s) if is_superusers(&collection) => s.record.id.clone(),
        Auth::Guest => {
            return Err(ApiError::unauthorized(
                "The request requires valid record authorization token.",
            ))
        }
        _ => {
            return Err(ApiError::forbidden(format!(
                "The request requires auth record from {} collection.",
                collection.name
            )))
        }
    };
    let new_email = text_field(&body, "newEmail")?;
    state
        .auth_records()
        .request_email_change(&collection, &id, new_email)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn confirm_email_change(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let collection = auth_collection(&state, &collection)?;
    let token = text_field(&body, "token")?;
    required("token", token)?;
    let password = body.string("password")?.unwrap_or("");
    required("password", password)?;
    state
        .auth_records()
        .confirm_email_change(&collection, token, password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
