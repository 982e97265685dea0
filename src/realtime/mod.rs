//! The realtime broker: the connected clients, what each is subscribed to, the auth each
//! is bound to, and delivery (API.md §7).
//!
//! A client exists from [`Broker::connect`] until its [`Connection`] is dropped (the SSE
//! stream ended: disconnect, idle or lifetime limit, shutdown) or the broker drops it.
//! Every client has a bounded queue: a client that cannot take a message (queue full,
//! receiver gone) is dropped whole, never waited for, so one slow reader cannot hold up a
//! publisher. Its stream then ends after the messages already queued, and the SDK
//! reconnects with a new id.
//!
//! Invariants: the client map is behind a std mutex that is never held across an
//! `.await`; sending is `try_send` only. This module knows nothing of HTTP, rules or
//! records: the api layer frames messages as SSE or WebSocket frames; record events
//! (`records::events`) pick their subscribers with [`Broker::targets`], check rules
//! outside the lock and send through [`Target::send`].
//!
//! A client is an SSE stream or a WebSocket ([`Transport`]). They differ in one place:
//! when the bound auth stops being valid ([`Broker::revoke_auth`]), an SSE client
//! silently becomes a guest (PocketBase), a WebSocket client also loses its
//! subscriptions and is told so (API.md C.2).
//!
//! Depends only on `util`; must not depend on `api`, `state`, `records` or axum.

mod subscription;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::mpsc;

pub use subscription::{Options, Subscription};

/// The topic of the OAuth2 redirect hand-off (API.md §5.11).
pub const OAUTH2_TOPIC: &str = "@oauth2";
/// Length of a client id (40 alphanumerics, as PocketBase).
pub const CLIENT_ID_LEN: usize = 40;
/// Messages waiting per client before it is dropped.
pub const CLIENT_QUEUE: usize = 256;
/// Bytes of message data waiting per client before it is dropped (a payload shared by
/// several clients counts for each), so big records cannot make [`CLIENT_QUEUE`] large.
pub const CLIENT_QUEUE_BYTES: usize = 1 << 20;
/// Subscriptions per client, characters per subscription, characters of a client id in a
/// request (API.md §7.2).
pub const MAX_SUBSCRIPTIONS: usize = 1000;
pub const MAX_SUBSCRIPTION_LEN: usize = 2500;
pub const MAX_CLIENT_ID_LEN: usize = 255;
// The idle timeout and the maximum lifetime of a stream are settings
// (`Config::realtime_idle_timeout`, `realtime_max_lifetime`), applied by the transports.
/// An SSE comment is written after this long without a message, so proxies keep the
/// stream open and a vanished peer is noticed (API.md Part A: every 25 s). EventSource
/// ignores comments.
pub const KEEP_ALIVE: Duration = Duration::from_secs(25);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RealtimeError {
    #[error("too many realtime clients")]
    TooManyClients,
    #[error("the realtime broker is shut down")]
    Closed,
    #[error("no realtime client with that id")]
    UnknownClient,
    #[error("the request does not come from the realtime client's address")]
    AddressMismatch,
    #[error("the realtime client is bound to another auth record")]
    AuthMismatch,
    #[error("the realtime client is not subscribed to the topic")]
    NotSubscribed,
    #[error("the realtime client could not take the message and was dropped")]
    Undeliverable,
    #[error("too many subscriptions")]
    TooManySubscriptions,
}

/// The auth record a client is bound to: the first authorized `POST /api/realtime` sets it,
/// and later ones must name the same record. The token it came with is kept so that the
/// binding can be checked again when the record or its collection changes.
#[derive(Clone)]
pub struct ClientAuth {
    pub collection_id: String,
    pub record_id: String,
    /// The token that bound it (never logged: `Debug` leaves it out).
    pub token: Arc<str>,
    /// The record as `@request.auth` sees it (no password, no tokenKey).
    pub record: Arc<Map<String, Value>>,
}

impl ClientAuth {
    /// Both name the same auth record.
    pub fn same_record(&self, other: &ClientAuth) -> bool {
        self.collection_id == other.collection_id && self.record_id == other.record_id
    }
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAuth")
            .field("collection_id", &self.collection_id)
            .field("record_id", &self.record_id)
            .finish_non_exhaustive()
    }
}

/// How a client is connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Sse,
    WebSocket,
}

/// What a queued message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// An event under a subscription (`event` names it).
    Event,
    /// WebSocket only: the bound auth stopped being valid and the subscription `event`
    /// names was ended.
    AuthRevoked,
}

/// One message: the event name (a subscription string, or `PB_CONNECT`) and the JSON
/// data, shared between the clients it goes to.
#[derive(Clone, Debug)]
pub struct Message {
    pub event: Arc<str>,
    pub data: Arc<str>,
    pub kind: MessageKind,
}

struct Client {
    /// Tells this client apart from an earlier one that had the same id.
    serial: u64,
    sender: mpsc::Sender<Message>,
    subscriptions: Vec<Arc<Subscription>>,
    auth: Option<ClientAuth>,
    ip: String,
    transport: Transport,
    /// Set when the broker dropped the client because its queue was full.
    overflowed: Arc<AtomicBool>,
    /// Bytes of data in the queue.
    queued: Arc<AtomicUsize>,
}

struct Inner {
    clients: Mutex<HashMap<Arc<str>, Client>>,
    max_clients: usize,
    closed: AtomicBool,
    serials: AtomicU64,
}

/// The broker of one server. Cheap to clone.
#[derive(Clone)]
pub struct Broker(Arc<Inner>);

/// A connected client, held by its stream. Dropping it removes the client.
pub struct Connection {
    id: Arc<str>,
    serial: u64,
    receiver: mpsc::Receiver<Message>,
    broker: Broker,
    overflowed: Arc<AtomicBool>,
    queued: Arc<AtomicUsize>,
}

/// A client whose subscription matched, picked by [`Broker::targets`].
pub struct Target {
    pub client_id: Arc<str>,
    pub auth: Option<ClientAuth>,
    pub subscription: Arc<Subscription>,
    serial: u64,
    sender: mpsc::Sender<Message>,
    overflowed: Arc<AtomicBool>,
    queued: Arc<AtomicUsize>,
}

/// A client bound to an auth record, as [`Broker::bound`] lists them.
pub struct Bound {
    pub client_id: Arc<str>,
    pub serial: u64,
    pub auth: ClientAuth,
}

impl Broker {
    pub fn new(max_clients: usize) -> Self {
        Self(Arc::new(Inner {
            clients: Mutex::new(HashMap::new()),
            max_clients,
            closed: AtomicBool::new(false),
            serials: AtomicU64::new(0),
        }))
    }

    fn clients(&self) -> MutexGuard<'_, HashMap<Arc<str>, Client>> {
        // A panic while holding the lock leaves the map consistent: every change is one
        // insert, remove or field assignment.
        self.0.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register a new SSE client connecting from `ip`.
    pub fn connect(&self, ip: String) -> Result<Connection, RealtimeError> {
        self.connect_with(ip, Transport::Sse)
    }

    /// Register a new client connecting from `ip` over `transport`.
    pub fn connect_with(
        &self,
        ip: String,
        transport: Transport,
    ) -> Result<Connection, RealtimeError> {
        if self.0.closed.load(Ordering::Acquire) {
            return Err(RealtimeError::Closed);
        }
        let (sender, receiver) = mpsc::channel(CLIENT_QUEUE);
        let serial = self.0.serials.fetch_add(1, Ordering::Relaxed);
        let mut clients = self.clients();
        if clients.len() >= self.0.max_clients {
            return Err(RealtimeError::TooManyClients);
        }
        // 40 alphanumerics: a repeat is practically impossible, but cheap to rule out. The
        // loop is bounded because each id is a fresh random draw.
        let id: Arc<str> = loop {
            let id: Arc<str> = Arc::from(crate::util::random_string(CLIENT_ID_LEN));
            if !clients.contains_key(&id) {
                break id;
            }
        };
        let overflowed = Arc::new(AtomicBool::new(false));
        let queued = Arc::new(AtomicUsize::new(0));
        clients.insert(
            id.clone(),
            Client {
                serial,
                sender,
                subscriptions: Vec::new(),
                auth: None,
                ip,
                transport,
                overflowed: overflowed.clone(),
                queued: queued.clone(),
            },
        );
        Ok(Connection {
            id,
            serial,
            receiver,
            broker: self.clone(),
            overflowed,
            queued,
        })
    }

    /// Connected clients.
    pub fn len(&self) -> usize {
        self.clients().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, client_id: &str) -> bool {
        self.clients().contains_key(client_id)
    }

    /// Replace the subscriptions of `client_id` (`POST /api/realtime`) and bind its auth.
    ///
    /// The request must come from the client's address. A client bound to an auth record
    /// keeps it: a request with another auth, or none, is refused. A guest client becomes
    /// bound by the first request that carries an auth.
    pub fn set_subscriptions(
        &self,
        client_id: &str,
        ip: &str,
        auth: Option<ClientAuth>,
        keys: &[String],
    ) -> Result<(), RealtimeError> {
        let mut subscriptions: Vec<Arc<Subscription>> = Vec::with_capacity(keys.len());
        for key in keys {
            if !subscriptions.iter().any(|s| &**s.key() == key.as_str()) {
                subscriptions.push(Arc::new(Subscription::parse(key)));
            }
        }
        let mut clients = self.clients();
        // SECURITY: a client id alone must not let another machine steer the stream.
        let client = client_at(&mut clients, client_id, ip)?;
        // SECURITY: once bound, the stream's events are checked against that record;
        // nobody else may change what it receives.
        if let Some(bound) = &client.auth {
            if !auth.as_ref().is_some_and(|a| a.same_record(bound)) {
                return Err(RealtimeError::AuthMismatch);
            }
        }
        if auth.is_some() {
            client.auth = auth;
        }
        client.subscriptions = subscriptions;
        Ok(())
    }

    /// Send `data` to every client subscribed to exactly `topic` (any options), one
    /// message per matching subscription named by it. Returns the messages queued.
    pub fn publish(&self, topic: &str, data: &Value) -> usize {
        let targets = self.targets(|s| s.topic() == topic);
        if targets.is_empty() {
            return 0;
        }
        let data: Arc<str> = Arc::from(data.to_string());
        targets
            .iter()
            .filter(|t| t.send(self, data.clone()))
            .count()
    }

    /// Every (client, subscription) pair whose subscription `matches`, taken under the lock
    /// and returned so that the caller can check access (which may need the store) without
    /// holding it.
    pub fn targets(&self, matches: impl Fn(&Subscription) -> bool) -> Vec<Target> {
        let clients = self.clients();
        let mut out = Vec::new();
        for (id, client) in clients.iter() {
            for subscription in client.subscriptions.iter().filter(|s| matches(s)) {
                out.push(Target {
                    client_id: id.clone(),
                    auth: client.auth.clone(),
                    subscription: subscription.clone(),
                    serial: client.serial,
                    sender: client.sender.clone(),
                    overflowed: client.overflowed.clone(),
                    queued: client.queued.clone(),
                });
            }
        }
        out
    }

    /// Hand `data` to the one client `client_id` on its subscriptions to `topic`, then
    /// unsubscribe it from them (the OAuth2 redirect: a one-shot delivery). The request
    /// must come from the client's address.
    pub fn deliver_once(
        &self,
        client_id: &str,
        ip: &str,
        topic: &str,
        data: &Value,
    ) -> Result<(), RealtimeError> {
        let data: Arc<str> = Arc::from(data.to_string());
        let mut clients = self.clients();
        // SECURITY: the code goes only to a stream opened from the same address.
        let client = client_at(&mut clients, client_id, ip)?;
        let (matching, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut client.subscriptions)
            .into_iter()
            .partition(|s| s.topic() == topic);
        client.subscriptions = rest;
        if matching.is_empty() {
            return Err(RealtimeError::NotSubscribed);
        }
        for subscription in matching {
            let message = Message {
                event: subscription.key().clone(),
                data: data.clone(),
                kind: MessageKind::Event,
            };
            // Counted as `Target::send` counts, since `Connection::recv` takes it back.
            client.queued.fetch_add(data.len(), Ordering::AcqRel);
            if client.sender.try_send(message).is_err() {
                client.overflowed.store(true, Ordering::Release);
                clients.remove(client_id);
                return Err(RealtimeError::Undeliverable);
            }
        }
        Ok(())
    }

    /// Every client bound to an auth record (for checking the bindings again).
    pub fn bound(&self) -> Vec<Bound> {
        let clients = self.clients();
        clients
            .iter()
            .filter_map(|(id, c)| {
                c.auth.as_ref().map(|auth| Bound {
                    client_id: id.clone(),
                    serial: c.serial,
                    auth: auth.clone(),
                })
            })
            .collect()
    }

    /// The bound auth of client `client_id` (the instance `serial`) stopped being valid:
    /// the token no longer verifies, or the record is gone. Only when the client is
    /// still bound by `token` (a newer binding is left alone). An SSE client becomes a
    /// guest; a WebSocket client also loses its subscriptions and is told per topic.
    pub fn revoke_auth(&self, client_id: &str, serial: u64, token: &str) {
        let mut clients = self.clients();
        let Some(client) = clients.get_mut(client_id) else {
            return;
        };
        let bound_by_token = client.auth.as_ref().is_some_and(|a| &*a.token == token);
        if client.serial != serial || !bound_by_token {
            return;
        }
        client.auth = None;
        if client.transport == Transport::Sse {
            return;
        }
        let ended = std::mem::take(&mut client.subscriptions);
        let data: Arc<str> = Arc::from("");
        for subscription in ended {
            let message = Message {
                event: subscription.key().clone(),
                data: data.clone(),
                kind: MessageKind::AuthRevoked,
            };
            if client.sender.try_send(message).is_err() {
                client.overflowed.store(true, Ordering::Release);
                clients.remove(client_id);
                return;
            }
        }
    }

    /// Replace the cached auth record of a client still bound by `token` (the record
    /// changed, the token is still valid).
    pub fn refresh_auth(
        &self,
        client_id: &str,
        serial: u64,
        token: &str,
        record: Arc<Map<String, Value>>,
    ) {
        let mut clients = self.clients();
        if let Some(client) = clients.get_mut(client_id) {
            if client.serial != serial {
                return;
            }
            if let Some(auth) = client.auth.as_mut().filter(|a| &*a.token == token) {
                auth.record = record;
            }
        }
    }

    /// Drop every client and refuse new ones: their streams end (server shutdown).
    pub fn close(&self) {
        self.0.closed.store(true, Ordering::Release);
        self.clients().clear();
    }

    pub fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::Acquire)
    }

    fn remove(&self, client_id: &str, serial: u64) {
        let mut clients = self.clients();
        if clients.get(client_id).is_some_and(|c| c.serial == serial) {
            clients.remove(client_id);
        }
    }
}

impl Target {
    /// Queue `data` under this subscription's name. A client that cannot take it is
    /// dropped; false then.
    pub fn send(&self, broker: &Broker, data: Arc<str>) -> bool {
        let len = data.len();
        let message = Message {
            event: self.subscription.key().clone(),
            data,
            kind: MessageKind::Event,
        };
        let before = self.queued.fetch_add(len, Ordering::AcqRel);
        if before + len <= CLIENT_QUEUE_BYTES && self.sender.try_send(message).is_ok() {
            return true;
        }
        self.queued.fetch_sub(len, Ordering::AcqRel);
        self.overflowed.store(true, Ordering::Release);
        broker.remove(&self.client_id, self.serial);
        false
    }
}

impl Connection {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The next message; `None` once the broker dropped the client (queue overflow,
    /// shutdown) and the queue is drained.
    pub async fn recv(&mut self) -> Option<Message> {
        let message = self.receiver.recv().await?;
        if message.kind == MessageKind::Event {
            self.queued.fetch_sub(message.data.len(), Ordering::AcqRel);
        }
        Some(message)
    }

    /// The broker dropped this client because it could not take a message.
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Acquire)
    }

    /// Add one subscription (WebSocket `subscribe`); an existing one with the same key
    /// stays. Refused past [`MAX_SUBSCRIPTIONS`].
    pub fn subscribe(&self, key: &str) -> Result<(), RealtimeError> {
        let mut clients = self.broker.clients();
        let client = self.own(&mut clients)?;
        if client.subscriptions.iter().any(|s| &**s.key() == key) {
            return Ok(());
        }
        if client.subscriptions.len() >= MAX_SUBSCRIPTIONS {
            return Err(RealtimeError::TooManySubscriptions);
        }
        client
            .subscriptions
            .push(Arc::new(Subscription::parse(key)));
        Ok(())
    }

    /// Remove the subscriptions `remove` picks (WebSocket `unsubscribe`); how many went.
    pub fn unsubscribe(&self, remove: impl Fn(&Subscription) -> bool) -> usize {
        let mut clients = self.broker.clients();
        let Ok(client) = self.own(&mut clients) else {
            return 0;
        };
        let before = client.subscriptions.len();
        client.subscriptions.retain(|s| !remove(s));
        before - client.subscriptions.len()
    }

    /// Set or drop the bound auth (WebSocket `auth` message: unlike SSE, a WebSocket may
    /// change who it is, since only its own socket can send the message).
    pub fn set_auth(&self, auth: Option<ClientAuth>) -> Result<(), RealtimeError> {
        let mut clients = self.broker.clients();
        let client = self.own(&mut clients)?;
        client.auth = auth;
        Ok(())
    }

    fn own<'a>(
        &self,
        clients: &'a mut HashMap<Arc<str>, Client>,
    ) -> Result<&'a mut Client, RealtimeError> {
        clients
            .get_mut(&self.id)
            .filter(|c| c.serial == self.serial)
            .ok_or(RealtimeError::UnknownClient)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.broker.remove(&self.id, self.serial);
    }
}

/// Client `client_id`, only when `ip` is the address its stream was opened from.
fn client_at<'a>(
    clients: &'a mut HashMap<Arc<str>, Client>,
    client_id: &str,
    ip: &str,
) -> Result<&'a mut Client, RealtimeError> {
    let client = clients
        .get_mut(client_id)
        .ok_or(RealtimeError::UnknownClient)?;
    if client.ip != ip {
        return Err(RealtimeError::AddressMismatch);
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const IP: &str = "127.0.0.1";

    fn subs(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|k| (*k).to_owned()).collect()
    }

    fn auth(collection: &str, record: &str) -> Option<ClientAuth> {
        Some(ClientAuth {
            collection_id: collection.into(),
            record_id: record.into(),
            token: Arc::from(format!("token-of-{record}")),
            record: Arc::new(Map::new()),
        })
    }

    #[tokio::test]
    async fn clients_get_ids_and_leave_when_their_connection_drops() {
        let broker = Broker::new(2);
        let a = broker.connect(IP.into()).unwrap();
        let b = broker.connect(IP.into()).unwrap();
        assert_eq!(a.id().len(), CLIENT_ID_LEN);
        assert!(a.id().chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.id(), b.id());
        assert_eq!(
            broker.connect(IP.into()).err(),
            Some(RealtimeError::TooManyClients)
        );
        let id = a.id().to_owned();
        drop(a);
        assert!(!broker.contains(&id));
        assert_eq!(broker.len(), 1);
        broker.close();
        assert!(broker.is_empty());
        assert_eq!(broker.connect(IP.into()).err(), Some(RealtimeError::Closed));
    }

    #[tokio::test]
    async fn publish_names_each_message_by_the_subscription_string() {
        let broker = Broker::new(10);
        let mut a = broker.connect(IP.into()).unwrap();
        let mut b = broker.connect(IP.into()).unwrap();
        let with_options = "@oauth2?options=%7B%7D";
        broker
            .set_subscriptions(a.id(), IP, None, &subs(&["@oauth2", with_options, "x"]))
            .unwrap();
        broker
            .set_subscriptions(b.id(), IP, None, &subs(&["y"]))
            .unwrap();
        assert_eq!(broker.publish("@oauth2", &json!({"k": 1})), 2);
        let first = a.recv().await.unwrap();
        let second = a.recv().await.unwrap();
        let mut names = [&*first.event, &*second.event];
        names.sort_unstable();
        assert_eq!(names, ["@oauth2", with_options]);
        assert_eq!(&*first.data, r#"{"k":1}"#);
        assert!(b.receiver.try_recv().is_err(), "b is not subscribed");
        assert_eq!(broker.publish("nobody", &json!({})), 0);
    }

    #[tokio::test]
    async fn subscriptions_are_replaced_and_deduplicated() {
        let broker = Broker::new(10);
        let mut a = broker.connect(IP.into()).unwrap();
        broker
            .set_subscriptions(a.id(), IP, None, &subs(&["t", "t"]))
            .unwrap();
        assert_eq!(broker.publish("t", &json!(1)), 1);
        broker.set_subscriptions(a.id(), IP, None, &[]).unwrap();
        assert_eq!(broker.publish("t", &json!(2)), 0);
        assert_eq!(&*a.recv().await.unwrap().data, "1");
    }

    #[tokio::test]
    async fn address_and_auth_binding() {
        let broker = Broker::new(10);
        let a = broker.connect(IP.into()).unwrap();
        let id = a.id().to_owned();
        let set = |ip: &str, who: Option<ClientAuth>| broker.set_subscriptions(&id, ip, who, &[]);
        assert_eq!(
            broker.set_subscriptions("nope", IP, None, &[]),
            Err(RealtimeError::UnknownClient)
        );
        assert_eq!(set("10.0.0.9", None), Err(RealtimeError::AddressMismatch));
        assert_eq!(set(IP, None), Ok(()), "guest");
        assert_eq!(set(IP, auth("users", "u1")), Ok(()), "guest, then bound");
        assert_eq!(set(IP, auth("users", "u1")), Ok(()), "same record");
        assert_eq!(
            set(IP, auth("users", "u2")),
            Err(RealtimeError::AuthMismatch)
        );
        assert_eq!(
            set(IP, auth("staff", "u1")),
            Err(RealtimeError::AuthMismatch)
        );
        assert_eq!(set(IP, None), Err(RealtimeError::AuthMismatch), "no guest");
    }

    #[tokio::test]
    async fn deliver_once_goes_to_one_client_then_unsubscribes_it() {
        let broker = Broker::new(10);
        let mut a = broker.connect(IP.into()).unwrap();
        let mut other = broker.connect(IP.into()).unwrap();
        for c in [&a, &other] {
            broker
                .set_subscriptions(c.id(), IP, None, &subs(&["@oauth2", "keep"]))
                .unwrap();
        }
        let data = json!({"state": a.id(), "code": "c"});
        assert_eq!(
            broker.deliver_once(a.id(), "10.1.1.1", OAUTH2_TOPIC, &data),
            Err(RealtimeError::AddressMismatch)
        );
        broker
            .deliver_once(a.id(), IP, OAUTH2_TOPIC, &data)
            .unwrap();
        let m = a.recv().await.unwrap();
        assert_eq!(&*m.event, "@oauth2");
        assert_eq!(serde_json::from_str::<Value>(&m.data).unwrap(), data);
        assert!(other.receiver.try_recv().is_err());
        assert_eq!(
            broker.deliver_once(a.id(), IP, OAUTH2_TOPIC, &data),
            Err(RealtimeError::NotSubscribed),
            "one shot"
        );
        assert_eq!(broker.publish("keep", &json!(0)), 2, "other topics stay");
        assert_eq!(
            broker.deliver_once("unknown", IP, OAUTH2_TOPIC, &data),
            Err(RealtimeError::UnknownClient)
        );
    }

    #[tokio::test]
    async fn a_client_that_falls_behind_is_dropped_and_its_stream_ends() {
        let broker = Broker::new(10);
        let mut slow = broker.connect(IP.into()).unwrap();
        let fast = broker.connect(IP.into()).unwrap();
        for c in [&slow, &fast] {
            broker
                .set_subscriptions(c.id(), IP, None, &subs(&["t"]))
                .unwrap();
        }
        let id = slow.id().to_owned();
        let mut fast = fast;
        for i in 0..CLIENT_QUEUE {
            assert_eq!(broker.publish("t", &json!(i)), 2);
            fast.recv().await.unwrap();
        }
        assert_eq!(broker.publish("t", &json!("over")), 1, "slow is dropped");
        assert!(!broker.contains(&id));
        assert!(broker.contains(fast.id()));
        assert!(slow.overflowed() && !fast.overflowed());
        let mut drained = 0;
        while slow.recv().await.is_some() {
            drained += 1;
        }
        assert_eq!(drained, CLIENT_QUEUE, "queued messages, then the end");
    }

    #[tokio::test]
    async fn a_dropped_connection_never_removes_a_newer_client() {
        let broker = Broker::new(10);
        let a = broker.connect(IP.into()).unwrap();
        let id = a.id().to_owned();
        // Another client under the same id (as if the id had been drawn again).
        broker.remove(&id, a.serial);
        let (sender, _receiver) = mpsc::channel(1);
        broker.clients().insert(
            Arc::from(id.as_str()),
            Client {
                serial: u64::MAX,
                sender,
                subscriptions: Vec::new(),
                auth: None,
                ip: IP.into(),
                transport: Transport::Sse,
                overflowed: Arc::new(AtomicBool::new(false)),
                queued: Arc::new(AtomicUsize::new(0)),
            },
        );
        drop(a);
        assert!(broker.contains(&id));
    }

    #[tokio::test]
    async fn a_revoked_sse_client_becomes_a_guest_and_a_websocket_loses_its_subscriptions() {
        let broker = Broker::new(10);
        let sse = broker.connect(IP.into()).unwrap();
        let mut ws = broker
            .connect_with(IP.into(), Transport::WebSocket)
            .unwrap();
        broker
            .set_subscriptions(sse.id(), IP, auth("users", "u1"), &subs(&["t"]))
            .unwrap();
        ws.set_auth(auth("users", "u1")).unwrap();
        ws.subscribe("t").unwrap();
        ws.subscribe("t").unwrap();
        assert_eq!(broker.bound().len(), 2);

        // A stale revocation (another token) changes nothing.
        broker.revoke_auth(sse.id(), sse.serial, "token-of-u2");
        assert_eq!(broker.bound().len(), 2);
        for b in broker.bound() {
            broker.revoke_auth(&b.client_id, b.serial, &b.auth.token);
        }
        assert!(broker.bound().is_empty());
        let targets = broker.targets(|s| s.topic() == "t");
        assert_eq!(targets.len(), 1, "the SSE client keeps its subscription");
        assert_eq!(&*targets[0].client_id, sse.id());
        assert!(targets[0].auth.is_none());
        let m = ws.recv().await.unwrap();
        assert_eq!((m.kind, &*m.event), (MessageKind::AuthRevoked, "t"));
        assert_eq!(ws.unsubscribe(|_| true), 0, "nothing left");
    }

    #[tokio::test]
    async fn refresh_replaces_the_record_of_the_same_binding_only() {
        let broker = Broker::new(10);
        let a = broker.connect(IP.into()).unwrap();
        broker
            .set_subscriptions(a.id(), IP, auth("users", "u1"), &[])
            .unwrap();
        let mut record = Map::new();
        record.insert("role".into(), Value::from("admin"));
        broker.refresh_auth(a.id(), a.serial, "other-token", Arc::new(record.clone()));
        assert!(broker.bound()[0].auth.record.is_empty());
        broker.refresh_auth(a.id(), a.serial, "token-of-u1", Arc::new(record));
        assert_eq!(broker.bound()[0].auth.record["role"], "admin");
    }

    #[tokio::test]
    async fn a_client_whose_queue_holds_too_many_bytes_is_dropped() {
        let broker = Broker::new(10);
        let mut a = broker.connect(IP.into()).unwrap();
        broker
            .set_subscriptions(a.id(), IP, None, &subs(&["t"]))
            .unwrap();
        let big = Value::String("x".repeat(CLIENT_QUEUE_BYTES / 2 - 8));
        assert_eq!(broker.publish("t", &big), 1);
        a.recv().await.unwrap();
        assert_eq!(broker.publish("t", &big), 1, "the budget came back");
        assert_eq!(broker.publish("t", &big), 1);
        assert_eq!(broker.publish("t", &big), 0, "over the byte budget");
        assert!(a.overflowed() && !broker.contains(a.id()));
    }
}
