//! Realtime over SSE (API.md §7) and the OAuth2 redirect hand-off (§5.11):
//! `GET /api/realtime` streams a client's messages, `POST /api/realtime` sets its
//! subscriptions and binds its auth, `GET|POST /api/oauth2-redirect` passes an
//! authorization code to the client whose id is the OAuth2 `state`.
//!
//! The framing is written here, byte for byte as PocketBase does (`id:X\nevent:N\ndata:D`,
//! no space after the colons), rather than with axum's `Sse`, which puts one there.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body as ResponseBody, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::error::ApiError;
use super::extract::{Auth, Body};
use super::ratelimit::ClientIp;
use crate::auth::superusers::SUPERUSERS_ID;
use crate::realtime::{
    ClientAuth, Connection, KEEP_ALIVE, MAX_CLIENT_ID_LEN, MAX_SUBSCRIPTIONS, MAX_SUBSCRIPTION_LEN,
    OAUTH2_TOPIC,
};
use crate::state::AppState;

/// Where the browser goes after the hand-off: the dashboard's pages, relative to
/// `/api/oauth2-redirect` as PocketBase writes them (so a path prefix added by a proxy
/// is kept).
const OAUTH2_SUCCESS: &str = "../_/#/auth/oauth2-redirect-success";
const OAUTH2_FAILURE: &str = "../_/#/auth/oauth2-redirect-failure";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/realtime", get(connect).post(set_subscriptions))
        .route("/api/realtime/ws", get(super::realtime_ws::connect))
        .route(
            "/api/oauth2-redirect",
            get(oauth2_redirect).post(oauth2_redirect),
        )
}

/// `GET /api/realtime`: a new client; the stream starts with `PB_CONNECT`.
async fn connect(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
) -> Result<Response, ApiError> {
    let connection = state.realtime().connect(ip)?;
    tracing::debug!(client = connection.id(), "realtime client connected");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        sse_body(
            connection,
            state.config().realtime_idle_timeout,
            state.config().realtime_max_lifetime,
        ),
    )
        .into_response())
}

/// One SSE message. `event` and `data` hold no line breaks: ids are alphanumeric,
/// subscriptions with line breaks are refused, and `data` is compact JSON.
fn frame(id: &str, event: &str, data: &str) -> Bytes {
    let mut out = String::with_capacity(id.len() + event.len() + data.len() + 18);
    out.push_str("id:");
    out.push_str(id);
    out.push_str("\nevent:");
    out.push_str(event);
    out.push_str("\ndata:");
    out.push_str(data);
    out.push_str("\n\n");
    Bytes::from(out)
}

struct Stream {
    connection: Connection,
    greeting: Option<Bytes>,
    /// No message delivered by then: close (the keep-alive comments do not count).
    idle_until: Instant,
    ends_at: Instant,
    last_write: Instant,
    idle: Duration,
}

/// The client's messages as an SSE body. It ends when the broker drops the client, after
/// `idle` without a message, or after `lifetime`; when the peer goes away the body
/// is dropped, and with it the `Connection`, which removes the client.
fn sse_body(connection: Connection, idle: Duration, lifetime: Duration) -> ResponseBody {
    let id = connection.id().to_owned();
    let greeting = frame(&id, "PB_CONNECT", &json!({ "clientId": id }).to_string());
    let now = Instant::now();
    let stream = Stream {
        connection,
        greeting: Some(greeting),
        idle_until: now + idle,
        ends_at: now + lifetime,
        idle,
        last_write: now,
    };
    let body = futures_util::stream::unfold(stream, |mut s| async move {
        if let Some(greeting) = s.greeting.take() {
            return Some((Ok::<_, Infallible>(greeting), s));
        }
        let close_at = s.idle_until.min(s.ends_at);
        tokio::select! {
            message = s.connection.recv() => {
                let message = message?;
                let now = Instant::now();
                s.idle_until = now + s.idle;
                s.last_write = now;
                let bytes = frame(s.connection.id(), &message.event, &message.data);
                Some((Ok(bytes), s))
            }
            () = tokio::time::sleep_until(s.last_write + KEEP_ALIVE) => {
                s.last_write = Instant::now();
                Some((Ok(Bytes::from_static(b":\n\n")), s))
            }
            () = tokio::time::sleep_until(close_at) => None,
        }
    });
    ResponseBody::from_stream(body)
}

/// `POST /api/realtime` `{clientId, subscriptions}`: 204; the list replaces the previous one.
async fn set_subscriptions(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let (client_id, keys) = subscriptions_request(&body)?;
    let auth = client_auth(auth);
    state
        .realtime()
        .set_subscriptions(client_id, &ip, auth, &keys)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The auth record a realtime client binds to: the caller of the request, its token and
/// the record as `@request.auth` will see it.
pub(super) fn client_auth(auth: Auth) -> Option<ClientAuth> {
    match auth {
        Auth::Guest => None,
        Auth::Superuser(session) => {
            let record = match crate::auth::superusers::record_json(&session.record) {
                Value::Object(record) => record,
                _ => Map::new(),
            };
            Some(ClientAuth {
                collection_id: SUPERUSERS_ID.to_owned(),
                record_id: session.record.id.clone(),
                token: Arc::from(session.token.as_str()),
                record: Arc::new(record),
            })
        }
        Auth::Record(session) => Some(ClientAuth {
            collection_id: session.collection.id.clone(),
            record_id: session.id().to_owned(),
            token: Arc::from(session.token.as_str()),
            record: Arc::new(session.record.clone()),
        }),
    }
}

/// The client id and the subscription list of a `POST /api/realtime` body, checked
/// against the limits of API.md §7.2; field errors as PocketBase words them.
fn subscriptions_request(body: &Body) -> Result<(&str, Vec<String>), ApiError> {
    let mut err = ApiError::validation();
    let client_id = super::auth::required_text(body, "clientId", &mut err);
    let too_long = |max: usize| {
        json!({
            "code": "validation_length_too_long",
            "message": format!("The length must be no more than {max}."),
        })
    };
    let invalid = |message: &str| json!({"code": "validation_invalid_value", "message": message});
    let mut keys = Vec::new();
    match body.0.get("subscriptions") {
        None | Some(Value::Null) => {}
        // A form body with one value (repeated keys arrive as a list).
        Some(Value::String(s)) if body.1.is_some() => keys.push(s.clone()),
        Some(Value::Array(items)) if items.len() > MAX_SUBSCRIPTIONS => {
            err.data
                .insert("subscriptions".into(), too_long(MAX_SUBSCRIPTIONS));
        }
        Some(Value::Array(items)) => {
            let mut item_errors = Map::new();
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) if s.chars().count() > MAX_SUBSCRIPTION_LEN => {
                        item_errors.insert(i.to_string(), too_long(MAX_SUBSCRIPTION_LEN));
                    }
                    // A line break would end the SSE field that carries the name.
                    Value::String(s) if s.contains(['\r', '\n']) => {
                        item_errors.insert(i.to_string(), invalid("Must not contain line breaks."));
                    }
                    Value::String(s) => keys.push(s.clone()),
                    _ => {
                        item_errors.insert(i.to_string(), invalid("Must be a string."));
                    }
                }
            }
            if !item_errors.is_empty() {
                err.data
                    .insert("subscriptions".into(), Value::Object(item_errors));
            }
        }
        Some(_) => {
            err.data.insert(
                "subscriptions".into(),
                invalid("Must be a list of strings."),
            );
        }
    }
    match client_id {
        Some(id) if err.data.is_empty() => {
            debug_assert!(id.chars().count() <= MAX_CLIENT_ID_LEN);
            Ok((id, keys))
        }
        _ => Err(err),
    }
}

/// `GET|POST /api/oauth2-redirect` (API.md §5.11): the provider sends the browser here
/// with `state` (the realtime client id the SDK put in the authorize URL) and `code`.
/// They go to that client as the `@oauth2` event, which also unsubscribes it; the
/// browser is sent to the dashboard's success or failure page (307 for GET, 303 for a
/// `form_post` POST). Nothing from the request is written into any response.
async fn oauth2_redirect(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    method: Method,
    RawQuery(query): RawQuery,
    body: Result<Body, ApiError>,
) -> Response {
    let (status, params) = if method == Method::POST {
        // Apple's `response_mode=form_post`; an unreadable body is a failed sign-in.
        let params = body.ok().map(|body| {
            let field = |name: &str| {
                body.0
                    .get(name)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            RedirectParams {
                state: field("state"),
                code: field("code"),
                error: field("error"),
            }
        });
        (StatusCode::SEE_OTHER, params)
    } else {
        let params = RedirectParams::from_query(query.as_deref().unwrap_or(""));
        (StatusCode::TEMPORARY_REDIRECT, Some(params))
    };
    let delivered = params.as_ref().is_some_and(|p| {
        if p.state.is_empty() {
            return false;
        }
        let mut data = json!({"state": p.state, "code": p.code});
        if !p.error.is_empty() {
            data["error"] = Value::String(p.error.clone());
        }
        match state
            .realtime()
            .deliver_once(&p.state, &ip, OAUTH2_TOPIC, &data)
        {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, "OAuth2 redirect not handed to a realtime client");
                false
            }
        }
    });
    // The client got the event either way; an error or a missing code is still a failure.
    let success = delivered && params.is_some_and(|p| p.error.is_empty() && !p.code.is_empty());
    let location = if success {
        OAUTH2_SUCCESS
    } else {
        OAUTH2_FAILURE
    };
    (
        status,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store"),
            // The URL that led here carries the authorization code.
            (header::REFERRER_POLICY, "no-referrer"),
        ],
    )
        .into_response()
}

struct RedirectParams {
    state: String,
    code: String,
    error: String,
}

impl RedirectParams {
    /// The first value of each parameter, as Go's `Query().Get`.
    fn from_query(query: &str) -> Self {
        let mut params = Self {
            state: String::new(),
            code: String::new(),
            error: String::new(),
        };
        let mut seen = [false; 3];
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let (slot, field) = match &*key {
                "state" => (0, &mut params.state),
                "code" => (1, &mut params.code),
                "error" => (2, &mut params.error),
                _ => continue,
            };
            if !seen[slot] {
                seen[slot] = true;
                *field = value.into_owned();
            }
        }
        params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_pocketbase_byte_for_byte() {
        assert_eq!(
            &frame("abc", "PB_CONNECT", r#"{"clientId":"abc"}"#)[..],
            b"id:abc\nevent:PB_CONNECT\ndata:{\"clientId\":\"abc\"}\n\n"
        );
    }

    #[test]
    fn redirect_query_takes_the_first_value_of_each_parameter() {
        let p = RedirectParams::from_query("code=a%2Bb&state=s1&state=s2&x=1&error=");
        assert_eq!((&*p.state, &*p.code, &*p.error), ("s1", "a+b", ""));
        let p = RedirectParams::from_query("");
        assert!(p.state.is_empty() && p.code.is_empty());
    }

    fn body(v: Value) -> Body {
        match v {
            Value::Object(m) => Body(m, None),
            _ => unreachable!("test bodies are objects"),
        }
    }

    #[test]
    fn subscription_requests_are_checked_against_the_limits() {
        let b = body(json!({"clientId": "c", "subscriptions": ["a", "b?options=%7B%7D"]}));
        let (id, keys) = subscriptions_request(&b).unwrap();
        assert_eq!((id, keys.len()), ("c", 2));
        let b = body(json!({"clientId": "c"}));
        assert!(subscriptions_request(&b).unwrap().1.is_empty());

        let cases = [
            (json!({}), "clientId", "validation_required"),
            (json!({"clientId": ""}), "clientId", "validation_required"),
            (
                json!({"clientId": "x".repeat(256)}),
                "clientId",
                "validation_length_out_of_range",
            ),
            (
                json!({"clientId": 5}),
                "clientId",
                "validation_invalid_value",
            ),
            (
                json!({"clientId": "c", "subscriptions": vec!["t"; 1001]}),
                "subscriptions",
                "validation_length_too_long",
            ),
            (
                json!({"clientId": "c", "subscriptions": "t"}),
                "subscriptions",
                "validation_invalid_value",
            ),
        ];
        for (input, field, code) in cases {
            let err = subscriptions_request(&body(input.clone())).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{input}");
            assert_eq!(err.data[field]["code"], code, "{input}");
        }
        let b =
            body(json!({"clientId": "c", "subscriptions": ["ok", "x".repeat(2501), 1, "a\nb"]}));
        let err = subscriptions_request(&b).unwrap_err();
        let items = &err.data["subscriptions"];
        assert_eq!(items["1"]["code"], "validation_length_too_long");
        assert_eq!(items["2"]["code"], "validation_invalid_value");
        assert_eq!(items["3"]["code"], "validation_invalid_value");
        assert!(items.get("0").is_none());
        let b = body(json!({"clientId": "c", "subscriptions": vec!["t".repeat(2500); 1000]}));
        assert!(subscriptions_request(&b).is_ok(), "the limits themselves");
    }
}
