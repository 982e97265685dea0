//! Realtime over WebSocket (API.md Part C.2): `GET /api/realtime/ws`, JSON text frames,
//! the same broker, topics, options and per-event checks as SSE.
//!
//! Auth is the upgrade request's `Authorization` header, or later a
//! `{"type":"auth","token":…}` message (browsers cannot set headers on an upgrade);
//! `"token":null` drops it. Subscriptions are made one at a time and checked when made
//! (collection, closed rule, filter) as well as on every event. A subscription is kept in
//! the broker as `topic?options=<JSON>`, the SSE form, so one fan-out serves both.
//!
//! Backpressure: the broker's bounded queue, plus a send timeout on the socket, so a
//! peer that stops reading is dropped either way. A client the broker dropped for its
//! queue gets `{"type":"overflow"}` and close code 4008.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as Frame, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::error::ApiError;
use super::extract::{Auth, Session};
use super::ratelimit::ClientIp;
use super::realtime::client_auth;
use crate::realtime::{Connection, MessageKind, Transport};
use crate::records::events::{check_subscription, SubscribeError};
use crate::state::AppState;

/// Largest client message (a subscribe with its options, an auth token).
const MAX_MESSAGE: usize = 64 * 1024;
/// A frame the peer does not take within this long ends the connection.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Close code of a client dropped for falling behind (C.2).
const CLOSE_OVERFLOW: u16 = 4008;
const OPTIONS_MARK: &str = "?options=";

/// `GET /api/realtime/ws`: upgrade, bound to the caller of the upgrade request.
pub async fn connect(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Auth,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let connection = state.realtime().connect_with(ip, Transport::WebSocket)?;
    if let Some(bound) = client_auth(auth.clone()) {
        connection.set_auth(Some(bound))?;
    }
    Ok(upgrade
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| {
            Client {
                state,
                connection,
                auth,
                socket,
            }
            .run()
        }))
}

struct Client {
    state: AppState,
    connection: Connection,
    /// Who the client is now (for subscribe-time checks).
    auth: Auth,
    socket: WebSocket,
}

/// Why the loop ended.
enum End {
    /// The peer closed, went away, or could not be written to.
    Peer,
    /// The broker dropped the client: overflow, or shutdown.
    Broker,
    Timeout,
}

impl Client {
    async fn run(mut self) {
        let hello = json!({"type": "connected", "clientId": self.connection.id()});
        if !self.send(hello.to_string()).await {
            return;
        }
        let idle = self.state.config().realtime_idle_timeout;
        let ends_at = Instant::now() + self.state.config().realtime_max_lifetime;
        let mut idle_until = Instant::now() + idle;
        let end = loop {
            let close_at = idle_until.min(ends_at);
            tokio::select! {
                incoming = self.socket.recv() => {
                    let text = match incoming {
                        Some(Ok(Frame::Text(text))) => text,
                        Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => break End::Peer,
                        Some(Ok(Frame::Binary(_))) => {
                            let e = error(StatusCode::BAD_REQUEST, "Messages must be JSON text.", None);
                            if !self.send(e).await { break End::Peer; }
                            continue;
                        }
                        // Pings are answered by the library; pongs need nothing.
                        Some(Ok(_)) => continue,
                    };
                    idle_until = Instant::now() + idle;
                    let reply = self.handle(&text).await;
                    if let Some(reply) = reply {
                        if !self.send(reply).await { break End::Peer; }
                    }
                }
                message = self.connection.recv() => {
                    let Some(message) = message else { break End::Broker };
                    idle_until = Instant::now() + idle;
                    let frame = match message.kind {
                        MessageKind::Event => event_frame(&message.event, &message.data),
                        MessageKind::AuthRevoked => Some(error(
                            StatusCode::UNAUTHORIZED,
                            "The authorization token is no longer valid.",
                            Some(topic_of(&message.event)),
                        )),
                    };
                    if let Some(frame) = frame {
                        if !self.send(frame).await { break End::Peer; }
                    }
                }
                () = tokio::time::sleep_until(close_at) => break End::Timeout,
            }
        };
        let close = match end {
            End::Peer => return,
            End::Broker if self.connection.overflowed() => {
                let _ = self.send(json!({"type": "overflow"}).to_string()).await;
                (CLOSE_OVERFLOW, "overflow")
            }
            // Shutdown.
            End::Broker => (1001, "going away"),
            End::Timeout => (1000, "timeout"),
        };
        let frame = Frame::Close(Some(CloseFrame {
            code: close.0,
            reason: Utf8Bytes::from_static(close.1),
        }));
        let _ = tokio::time::timeout(SEND_TIMEOUT, self.socket.send(frame)).await;
    }

    /// Send a text frame; false when the peer is gone or did not take it in time.
    async fn send(&mut self, text: String) -> bool {
        let frame = Frame::Text(Utf8Bytes::from(text));
        matches!(
            tokio::time::timeout(SEND_TIMEOUT, self.socket.send(frame)).await,
            Ok(Ok(()))
        )
    }

    /// One client message; the reply, if any.
    async fn handle(&mut self, text: &str) -> Option<String> {
        let Ok(Value::Object(message)) = serde_json::from_str::<Value>(text) else {
            return Some(error(
                StatusCode::BAD_REQUEST,
                "Messages must be JSON objects.",
                None,
            ));
        };
        match message.get("type").and_then(Value::as_str) {
            Some("ping") => Some(json!({"type": "pong"}).to_string()),
            Some("auth") => self.authenticate(message.get("token")).await,
            Some("subscribe") => Some(self.subscribe(&message)),
            Some("unsubscribe") => self.unsubscribe(message.get("topic")),
            _ => Some(error(
                StatusCode::BAD_REQUEST,
                "Unknown message type.",
                None,
            )),
        }
    }

    /// `{"type":"auth","token":…}`: bind to the token's record; `null` drops the auth.
    /// An invalid token is refused and the client keeps what it had.
    async fn authenticate(&mut self, token: Option<&Value>) -> Option<String> {
        let auth = match token {
            None | Some(Value::Null) => Auth::Guest,
            Some(Value::String(token)) => match auth_from_token(&self.state, token).await {
                Ok(Auth::Guest) => {
                    return Some(error(
                        StatusCode::UNAUTHORIZED,
                        "The token is invalid or has expired.",
                        None,
                    ))
                }
                Ok(auth) => auth,
                Err(e) => return Some(error(e.status, &e.message, None)),
            },
            Some(_) => {
                return Some(error(
                    StatusCode::BAD_REQUEST,
                    "The token must be a string or null.",
                    None,
                ))
            }
        };
        if self.connection.set_auth(client_auth(auth.clone())).is_err() {
            return None;
        }
        self.auth = auth;
        None
    }

    /// `{"type":"subscribe","topic":…,"options":{filter, expand, fields, headers}}`.
    /// A subscription to the same topic is replaced.
    fn subscribe(&mut self, message: &Map<String, Value>) -> String {
        let topic = match message.get("topic") {
            Some(Value::String(t)) if !t.is_empty() && !t.contains(OPTIONS_MARK) => t.clone(),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "The topic must be a non-empty string.",
                    None,
                )
            }
        };
        let with_topic = |status: StatusCode, text: &str| error(status, text, Some(&topic));
        let mut query = Map::new();
        let mut headers = Map::new();
        match message.get("options") {
            None | Some(Value::Null) => {}
            Some(Value::Object(options)) => {
                for (k, v) in options {
                    match (k.as_str(), v) {
                        ("headers", Value::Object(h)) => headers = h.clone(),
                        ("headers", _) => {
                            return with_topic(
                                StatusCode::BAD_REQUEST,
                                "The headers option must be an object.",
                            )
                        }
                        _ => {
                            query.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            Some(_) => {
                return with_topic(StatusCode::BAD_REQUEST, "The options must be an object.")
            }
        }
        let filter = query.get("filter").and_then(Value::as_str);
        let mut request = super::records::request_info(
            &self.state,
            &self.auth,
            &Method::GET,
            &HeaderMap::new(),
            None,
        );
        request.context = "realtime".into();
        match check_subscription(
            &self.state.collections().snapshot(),
            &topic,
            filter,
            &request,
        ) {
            Ok(()) => {}
            Err(SubscribeError::UnknownCollection) => {
                return with_topic(StatusCode::NOT_FOUND, "Missing collection context.")
            }
            Err(SubscribeError::SuperusersOnly) => {
                return with_topic(
                    StatusCode::FORBIDDEN,
                    "Only superusers can perform this action.",
                )
            }
            Err(SubscribeError::Filter(e)) if e.forbidden => {
                return with_topic(StatusCode::FORBIDDEN, &e.message)
            }
            Err(SubscribeError::Filter(e)) => {
                return with_topic(StatusCode::BAD_REQUEST, &format!("Invalid filter: {e}."))
            }
        }
        let key = if query.is_empty() && headers.is_empty() {
            topic.clone()
        } else {
            let options = json!({"query": query, "headers": headers}).to_string();
            let encoded: String = form_urlencoded::byte_serialize(options.as_bytes()).collect();
            format!("{topic}{OPTIONS_MARK}{encoded}")
        };
        self.connection.unsubscribe(|s| s.topic() == topic);
        match self.connection.subscribe(&key) {
            Ok(()) => json!({"type": "subscribed", "topic": topic}).to_string(),
            Err(e) => {
                let e = ApiError::from(e);
                with_topic(e.status, &e.message)
            }
        }
    }

    /// `{"type":"unsubscribe","topic":…}`; without a topic, every subscription.
    fn unsubscribe(&mut self, topic: Option<&Value>) -> Option<String> {
        match topic {
            None | Some(Value::Null) => {
                self.connection.unsubscribe(|_| true);
                None
            }
            Some(Value::String(t)) => {
                self.connection.unsubscribe(|s| s.topic() == t);
                None
            }
            Some(_) => Some(error(
                StatusCode::BAD_REQUEST,
                "The topic must be a string.",
                None,
            )),
        }
    }
}

/// Who a token authenticates (a guest when it does not), as the `Authorization` header
/// would.
async fn auth_from_token(state: &AppState, token: &str) -> Result<Auth, ApiError> {
    let token = token.trim();
    let token = match token.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => token[7..].trim_start(),
        _ => token,
    };
    if token.is_empty() {
        return Ok(Auth::Guest);
    }
    if let Some((record, claims)) = state.superusers().from_token(token).await? {
        return Ok(Auth::Superuser(Box::new(Session {
            record,
            claims,
            token: token.to_owned(),
        })));
    }
    Ok(match state.auth_records().from_token(token).await? {
        Some(session) => Auth::Record(Box::new(session)),
        None => Auth::Guest,
    })
}

/// The topic part of a broker subscription key.
fn topic_of(key: &str) -> &str {
    key.split_once(OPTIONS_MARK).map_or(key, |(t, _)| t)
}

/// `{"type":"event","topic":…,"action":…,"record":…}` from a record event's data
/// (`{"action":…,"record":…}`), without parsing it again.
fn event_frame(key: &str, data: &str) -> Option<String> {
    let rest = data.strip_prefix('{')?;
    let topic = Value::String(topic_of(key).to_owned()).to_string();
    let mut out = String::with_capacity(data.len() + topic.len() + 32);
    out.push_str("{\"type\":\"event\",\"topic\":");
    out.push_str(&topic);
    if rest.trim_start() != "}" {
        out.push(',');
    }
    out.push_str(rest);
    Some(out)
}

fn error(status: StatusCode, message: &str, topic: Option<&str>) -> String {
    let mut e = json!({"type": "error", "status": status.as_u16(), "message": message});
    if let Some(t) = topic {
        e["topic"] = Value::String(t.to_owned());
    }
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_frames_splice_the_topic_into_the_event_data() {
        let data = r#"{"action":"create","record":{"id":"a"}}"#;
        let frame = event_frame("posts/*?options=%7B%7D", data).unwrap();
        let v: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(
            v,
            json!({"type": "event", "topic": "posts/*", "action": "create", "record": {"id": "a"}})
        );
        assert_eq!(
            serde_json::from_str::<Value>(&event_frame("t\"q", "{}").unwrap()).unwrap(),
            json!({"type": "event", "topic": "t\"q"})
        );
        assert!(event_frame("t", "[1]").is_none());
    }
}
