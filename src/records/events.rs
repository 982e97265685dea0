//! Record events for realtime subscribers (API.md §7.3–§7.4, C.2): what a committed
//! create, update or delete sends, to whom, and in which shape.
//!
//! Writers hand a [`Change`] (the row as committed; for a delete, as it was just before)
//! to [`Events::publish`] after the transaction committed. That is a `try_send` into a
//! bounded queue: publishing never waits, and a full queue drops the event (counted,
//! logged) rather than slow a writer. One dispatcher task takes the changes in order and,
//! for every subscription whose topic names the record (`<collection>`, `<collection>/*`,
//! `<collection>/<id>`, by name or id), checks for that subscriber's own bound auth, as a
//! `GET` in the `realtime` context with the subscription's options as `@request.query`
//! and `@request.headers`:
//!
//! * the listRule (collection topics) or viewRule (record topics);
//! * the subscription's `filter`, compiled as a REST filter would be for that caller
//!   first, so `@request`, `@collection` and hidden fields are refused for
//!   non-superusers exactly as in REST (the event is then dropped);
//! * for auth collections, the manageRule (managers see `email`).
//!
//! Checks run on the in-memory evaluator; what it cannot decide alone (other rows:
//! relations, `@collection`) runs as SQL over the committed row as a one-row subquery.
//! Anything that errors denies. The record is then written as the REST API would show it
//! to that subscriber (hidden fields for superusers only, never `password`/`tokenKey`,
//! `expand` through viewRules, `fields`) and queued with [`Target::send`], which drops a
//! client that cannot take it. Payloads are built per visibility (who, manager, options),
//! never shared across identities.
//!
//! Bound auth: a change to an auth record re-checks the clients bound to it before the
//! change is fanned out (a new password or email rotates `tokenKey`; a delete unbinds).
//! A sweep does the same for every bound client whenever `data.db` committed, and every
//! few seconds regardless (token expiry, collection secret changes, other write paths),
//! so a binding that stopped being valid ends within a second.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::auth::records::{decode_row, token_still_valid};
use crate::auth::SUPERUSERS_ID;
use crate::db::{Db, DbError};
use crate::query::compile::virtual_row;
use crate::query::{
    compile_where, evaluate, parse, AuthRecord, EvalError, Expr, Mode, RequestInfo, Scope,
};
use crate::realtime::{Broker, Options, Target};
use crate::schema::{quote_ident as q, Collection, Registry, Snapshot};

/// Changes waiting for the dispatcher before new ones are dropped.
pub const EVENT_QUEUE: usize = 16_384;
/// How often the bound-auth sweep looks for commits.
const SWEEP_EVERY: Duration = Duration::from_millis(250);
/// The sweep runs at least this often, commits or not (token expiry).
const SWEEP_AT_LEAST: Duration = Duration::from_secs(5);
/// Record ids per query of the sweep.
const SWEEP_CHUNK: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// A committed change to one record.
#[derive(Clone, Debug)]
pub struct Change {
    pub action: Action,
    pub collection: Arc<Collection>,
    /// Every column, decoded ([`super::stored_row`]): after the write, or for a delete
    /// just before it. Secrets included; never sent as is.
    pub record: Map<String, Value>,
}

impl Change {
    pub fn id(&self) -> &str {
        self.record.get("id").and_then(Value::as_str).unwrap_or("")
    }
}

/// Read record `id` inside a write transaction, as a change to publish after the commit.
pub fn capture(
    conn: &Connection,
    action: Action,
    collection: &Arc<Collection>,
    id: &str,
) -> Result<Option<Change>, rusqlite::Error> {
    Ok(
        super::stored_row(conn, collection, id)?.map(|record| Change {
            action,
            collection: collection.clone(),
            record,
        }),
    )
}

/// The publishing side of record events. Cheap to clone.
#[derive(Clone)]
pub struct Events(Arc<Inner>);

struct Inner {
    queue: mpsc::Sender<Change>,
    dropped: AtomicU64,
}

impl Events {
    /// Start the dispatcher and the bound-auth sweep. Both stop once every `Events`
    /// clone is gone (the sweep also when the broker closes).
    pub fn start(db: Db, registry: Arc<Registry>, broker: Broker) -> Self {
        let (queue, changes) = mpsc::channel(EVENT_QUEUE);
        let events = Self(Arc::new(Inner {
            queue,
            dropped: AtomicU64::new(0),
        }));
        let dispatcher = Dispatcher {
            db: db.clone(),
            registry: registry.clone(),
            broker: broker.clone(),
        };
        tokio::spawn(dispatcher.run(changes));
        tokio::spawn(sweep(Arc::downgrade(&events.0), db, registry, broker));
        events
    }

    /// Queue `change` for its subscribers. Never waits: a full queue drops it.
    pub fn publish(&self, change: Change) {
        if let Err(e) = self.0.queue.try_send(change) {
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "realtime event queue full; event dropped");
        }
    }

    pub fn publish_all(&self, changes: impl IntoIterator<Item = Change>) {
        for change in changes {
            self.publish(change);
        }
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }
}

struct Dispatcher {
    db: Db,
    registry: Arc<Registry>,
    broker: Broker,
}

impl Dispatcher {
    async fn run(self, mut changes: mpsc::Receiver<Change>) {
        while let Some(change) = changes.recv().await {
            self.dispatch(change).await;
        }
    }

    async fn dispatch(&self, change: Change) {
        if change.collection.is_auth() {
            recheck_bound(&self.broker, &change);
        }
        let (collection, id) = (&change.collection, change.id().to_owned());
        let targets = self
            .broker
            .targets(|s| topic_kind(s.topic(), collection, &id).is_some());
        if targets.is_empty() {
            return;
        }
        let mut event = Event::new(self.registry.snapshot(), change);
        let mut later = Vec::new();
        for target in targets {
            match event.check(&target, None) {
                Check::Send(data) => {
                    target.send(&self.broker, data);
                }
                Check::Skip => {}
                Check::NeedsStore => later.push(target),
            }
        }
        if later.is_empty() {
            return;
        }
        // What the evaluator could not decide alone: one read for all of them.
        let checked = self
            .db
            .read(move |conn| -> Result<Vec<(Target, Check)>, DbError> {
                Ok(later
                    .into_iter()
                    .map(|t| {
                        let check = event.check(&t, Some(conn));
                        (t, check)
                    })
                    .collect())
            })
            .await;
        match checked {
            Ok(checked) => {
                for (target, check) in checked {
                    if let Check::Send(data) = check {
                        target.send(&self.broker, data);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "realtime checks could not read the store"),
        }
    }
}

/// Which rule a topic is checked with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TopicKind {
    /// `<collection>` or `<collection>/*`: the listRule.
    Collection,
    /// `<collection>/<id>`: the viewRule.
    Record,
}

fn topic_kind(topic: &str, collection: &Collection, id: &str) -> Option<TopicKind> {
    topic_names(topic, &collection.id, &collection.name, id)
}

fn topic_names(topic: &str, collection_id: &str, name: &str, id: &str) -> Option<TopicKind> {
    let (named, rest) = match topic.split_once('/') {
        Some((named, rest)) => (named, Some(rest)),
        None => (topic, None),
    };
    if named != collection_id && !named.eq_ignore_ascii_case(name) {
        return None;
    }
    match rest {
        None | Some("*") => Some(TopicKind::Collection),
        Some(r) if r == id && !id.is_empty() => Some(TopicKind::Record),
        Some(_) => None,
    }
}

/// A stored rule, parsed once per event.
enum Rule {
    /// `null`: superusers only.
    Closed,
    /// `""`: everyone.
    Open,
    Expr(Expr),
}

impl Rule {
    fn parse(collection: &Collection, rule: &Option<String>) -> Self {
        match rule.as_deref() {
            None => Rule::Closed,
            Some(r) if r.trim().is_empty() => Rule::Open,
            Some(r) => match parse(r) {
                Ok(e) => Rule::Expr(e),
                Err(e) => {
                    // SECURITY: fail closed, as `stored_rule_sql` does for REST.
                    tracing::error!(collection = %collection.name, error = %e, "a stored rule does not parse; denying");
                    Rule::Closed
                }
            },
        }
    }
}

/// What one subscription gets for an event.
enum Check {
    Send(Arc<str>),
    Skip,
    /// The in-memory evaluator could not decide: run again with a connection.
    NeedsStore,
}

/// Three-valued outcome of one condition.
enum Holds {
    Yes,
    No,
    NeedsStore,
}

/// One change being fanned out: the rules parsed once, payloads shared per visibility.
struct Event {
    snapshot: Arc<Snapshot>,
    change: Change,
    list: Rule,
    view: Rule,
    manage: Rule,
    /// Parsed filters by text (a parse error is `None`).
    filters: HashMap<String, Option<Expr>>,
    payloads: HashMap<PayloadKey, Arc<str>>,
}

type Pairs = Vec<(String, String)>;

/// Everything a payload depends on besides the record.
#[derive(Clone, PartialEq, Eq, Hash)]
struct PayloadKey {
    auth: Option<(String, String)>,
    superuser: bool,
    manager: bool,
    expand: Option<String>,
    fields: Option<String>,
    /// With `expand`, the options too: viewRules of expanded records may read them.
    options: Option<(Pairs, Pairs)>,
}

fn option<'a>(options: &'a Options, name: &str) -> Option<&'a str> {
    options
        .query
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
}

impl Event {
    fn new(snapshot: Arc<Snapshot>, change: Change) -> Self {
        let c = &change.collection;
        Self {
            list: Rule::parse(c, &c.rules.list),
            view: Rule::parse(c, &c.rules.view),
            manage: Rule::parse(c, &c.rules.manage),
            snapshot,
            change,
            filters: HashMap::new(),
            payloads: HashMap::new(),
        }
    }

    /// What `@request` is for this subscriber: its bound auth (a guest when the auth's
    /// collection is gone), `GET`, context `realtime`, the options' query and headers.
    fn request(&self, target: &Target, options: &Options) -> RequestInfo {
        let mut info = RequestInfo {
            method: "GET".into(),
            context: "realtime".into(),
            query: options
                .query
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            ..Default::default()
        };
        for (name, value) in &options.headers {
            let key = RequestInfo::normalize_header(name);
            if info.header_value(&key).is_none() {
                info.headers.push((key, value.clone()));
            }
        }
        if let Some(auth) = &target.auth {
            if let Some(c) = self.snapshot.get(&auth.collection_id) {
                info.superuser = c.id == SUPERUSERS_ID;
                info.auth = Some(AuthRecord {
                    collection: c.clone(),
                    record: (*auth.record).clone(),
                });
            }
        }
        info
    }

    fn check(&mut self, target: &Target, conn: Option<&Connection>) -> Check {
        let collection = self.change.collection.clone();
        let Some(kind) = topic_kind(target.subscription.topic(), &collection, self.change.id())
        else {
            return Check::Skip;
        };
        // Options that do not parse: the subscription gets no record events.
        let Some(options) = target.subscription.options() else {
            return Check::Skip;
        };
        let request = self.request(target, options);
        let rule = match kind {
            TopicKind::Collection => &self.list,
            TopicKind::Record => &self.view,
        };
        match self.rule_holds(rule, &request, conn) {
            Holds::Yes => {}
            Holds::No => return Check::Skip,
            Holds::NeedsStore => return Check::NeedsStore,
        }
        if let Some(filter) = option(options, "filter") {
            match self.filter_holds(filter, &request, conn) {
                Holds::Yes => {}
                Holds::No => return Check::Skip,
                Holds::NeedsStore => return Check::NeedsStore,
            }
        }
        let manager = if collection.is_auth() && !request.superuser {
            match self.rule_holds(&self.manage, &request, conn) {
                Holds::Yes => true,
                Holds::No => false,
                Holds::NeedsStore => return Check::NeedsStore,
            }
        } else {
            false
        };
        self.payload(&request, options, manager, conn)
    }

    fn rule_holds(&self, rule: &Rule, request: &RequestInfo, conn: Option<&Connection>) -> Holds {
        if request.superuser {
            return Holds::Yes;
        }
        match rule {
            Rule::Closed => Holds::No,
            Rule::Open => Holds::Yes,
            Rule::Expr(e) => self.holds(e, Mode::Rule, request, conn),
        }
    }

    fn filter_holds(
        &mut self,
        filter: &str,
        request: &RequestInfo,
        conn: Option<&Connection>,
    ) -> Holds {
        let parsed = self
            .filters
            .entry(filter.to_owned())
            .or_insert_with(|| parse(filter).ok())
            .clone();
        let Some(expr) = parsed else {
            return Holds::No;
        };
        // SECURITY: the same refusals as a REST filter for this caller (`@request`,
        // `@collection` and hidden fields for non-superusers; unknown fields; limits),
        // decided by the compiler whatever the evaluator could do alone.
        let scope = Scope {
            snapshot: &self.snapshot,
            collection: &self.change.collection,
            mode: Mode::Filter,
            request,
            alias: "_m",
        };
        if compile_where(&expr, &scope).is_err() {
            return Holds::No;
        }
        self.holds(&expr, Mode::Filter, request, conn)
    }

    /// `expr` for the changed record: in memory, or as SQL over the record as a one-row
    /// subquery when the evaluator needs other rows.
    fn holds(
        &self,
        expr: &Expr,
        mode: Mode,
        request: &RequestInfo,
        conn: Option<&Connection>,
    ) -> Holds {
        let collection = &self.change.collection;
        let target = crate::query::Target {
            collection,
            record: &self.change.record,
            request,
            mode,
        };
        match evaluate(expr, &target) {
            Ok(true) => return Holds::Yes,
            Ok(false) | Err(EvalError::Invalid(_)) => return Holds::No,
            Err(EvalError::Unsupported(_)) => {}
        }
        let Some(conn) = conn else {
            return Holds::NeedsStore;
        };
        let scope = Scope {
            snapshot: &self.snapshot,
            collection,
            mode,
            request,
            alias: "_m",
        };
        let Ok(compiled) = compile_where(expr, &scope) else {
            return Holds::No;
        };
        let row = virtual_row(collection, &self.change.record);
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM ({}) AS _m WHERE {})",
            row.sql, compiled.sql
        );
        let params: Vec<SqlValue> = row.params.into_iter().chain(compiled.params).collect();
        match conn.query_row(&sql, rusqlite::params_from_iter(params.iter()), |r| {
            r.get::<_, bool>(0)
        }) {
            Ok(true) => Holds::Yes,
            Ok(false) => Holds::No,
            Err(e) => {
                tracing::warn!(error = %e, "a realtime check failed; denying");
                Holds::No
            }
        }
    }

    /// `{"action", "record"}` as this subscriber may see the record.
    fn payload(
        &mut self,
        request: &RequestInfo,
        options: &Options,
        manager: bool,
        conn: Option<&Connection>,
    ) -> Check {
        let expand = option(options, "expand").map(str::to_owned);
        let fields = option(options, "fields").map(str::to_owned);
        let auth = request.auth.as_ref().map(|a| {
            let id = a.record.get("id").and_then(Value::as_str).unwrap_or("");
            (a.collection.id.clone(), id.to_owned())
        });
        let key = PayloadKey {
            options: expand
                .as_ref()
                .map(|_| (request.query.clone(), request.headers.clone())),
            auth,
            superuser: request.superuser,
            manager,
            expand,
            fields,
        };
        if let Some(data) = self.payloads.get(&key) {
            return Check::Send(data.clone());
        }
        let collection = &self.change.collection;
        let auth_id = key.auth.as_ref().map(|(_, id)| id.as_str());
        let mut record = super::record_view(
            collection,
            &self.change.record,
            request.superuser,
            auth_id,
            manager,
        );
        if let Some(e) = &key.expand {
            let Some(conn) = conn else {
                return Check::NeedsStore;
            };
            if let Err(err) = super::expand::expand(
                conn,
                &self.snapshot,
                collection,
                std::slice::from_mut(&mut record),
                e,
                request,
            ) {
                // As REST: an expand that fails leaves the record unexpanded.
                tracing::debug!(error = %err, "realtime expand failed");
            }
        }
        if let Some(f) = &key.fields {
            crate::query::fields::pick(f, &mut record);
        }
        let mut data = Map::with_capacity(2);
        data.insert(
            "action".into(),
            Value::String(self.change.action.as_str().into()),
        );
        data.insert("record".into(), record);
        let data: Arc<str> = Arc::from(Value::Object(data).to_string());
        self.payloads.insert(key, data.clone());
        Check::Send(data)
    }
}

/// Why a subscription is refused when it is made (WebSocket `subscribe`; every event is
/// still checked on its own).
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error("no collection named by the topic")]
    UnknownCollection,
    /// The topic's rule is `null` and the subscriber is not a superuser.
    #[error("only superusers can subscribe to this topic")]
    SuperusersOnly,
    #[error("invalid filter: {0}")]
    Filter(crate::query::QueryError),
}

/// Check a subscription when it is made (RELIABILITY.md A-50): the topic names a
/// collection (`<collection>`, `<collection>/*`, `<collection>/<id>`), its rule is not
/// closed to this subscriber, and the filter compiles for it as a REST filter would.
pub fn check_subscription(
    snapshot: &Snapshot,
    topic: &str,
    filter: Option<&str>,
    request: &RequestInfo,
) -> Result<(), SubscribeError> {
    let (name, rest) = match topic.split_once('/') {
        Some((name, rest)) => (name, Some(rest)),
        None => (topic, None),
    };
    let collection = snapshot
        .get(name)
        .filter(|_| rest.is_none_or(|r| !r.is_empty() && !r.contains('/')))
        .ok_or(SubscribeError::UnknownCollection)?;
    let rule = match rest {
        None | Some("*") => &collection.rules.list,
        Some(_) => &collection.rules.view,
    };
    if rule.is_none() && !request.superuser {
        return Err(SubscribeError::SuperusersOnly);
    }
    if let Some(filter) = filter.filter(|f| !f.trim().is_empty()) {
        let scope = Scope {
            snapshot,
            collection,
            mode: Mode::Filter,
            request,
            alias: "_m",
        };
        parse(filter)
            .and_then(|e| compile_where(&e, &scope))
            .map_err(SubscribeError::Filter)?;
    }
    Ok(())
}

/// The clients bound to the changed auth record: unbound when it was deleted or the
/// token no longer verifies (new `tokenKey`), otherwise their `@request.auth` refreshed.
fn recheck_bound(broker: &Broker, change: &Change) {
    let (collection, id) = (&change.collection, change.id());
    let bound: Vec<_> = broker
        .bound()
        .into_iter()
        .filter(|b| b.auth.collection_id == collection.id && b.auth.record_id == id)
        .collect();
    if bound.is_empty() {
        return;
    }
    if change.action == Action::Delete {
        for b in bound {
            broker.revoke_auth(&b.client_id, b.serial, &b.auth.token);
        }
        return;
    }
    let stored = stored_auth(collection, &change.record);
    let record = Arc::new(stored.record.clone());
    for b in bound {
        if token_still_valid(collection, &stored, &b.auth.token) {
            broker.refresh_auth(&b.client_id, b.serial, &b.auth.token, record.clone());
        } else {
            broker.revoke_auth(&b.client_id, b.serial, &b.auth.token);
        }
    }
}

/// A decoded row as [`crate::auth::records::StoredAuth`]: secrets split off, the
/// collection keys added, as a token lookup would load it.
fn stored_auth(
    collection: &Collection,
    row: &Map<String, Value>,
) -> crate::auth::records::StoredAuth {
    let mut record = Map::with_capacity(row.len() + 2);
    record.insert("collectionId".into(), Value::String(collection.id.clone()));
    record.insert(
        "collectionName".into(),
        Value::String(collection.name.clone()),
    );
    let text = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    for (k, v) in row {
        if k != "password" && k != "tokenKey" {
            record.insert(k.clone(), v.clone());
        }
    }
    crate::auth::records::StoredAuth {
        record,
        password_hash: text("password"),
        token_key: text("tokenKey"),
    }
}

/// Check every binding again whenever `data.db` committed (and every
/// [`SWEEP_AT_LEAST`] regardless): one query per auth collection and chunk of ids.
async fn sweep(events: Weak<Inner>, db: Db, registry: Arc<Registry>, broker: Broker) {
    let mut seen_commits = u64::MAX;
    let mut last = Instant::now();
    loop {
        tokio::time::sleep(SWEEP_EVERY).await;
        if broker.is_closed() || events.strong_count() == 0 {
            return;
        }
        let commits = db.writer_stats().commits.load(Ordering::Acquire);
        if commits == seen_commits && last.elapsed() < SWEEP_AT_LEAST {
            continue;
        }
        seen_commits = commits;
        last = Instant::now();
        if let Err(e) = sweep_once(&db, &registry, &broker).await {
            tracing::warn!(error = %e, "realtime auth sweep failed");
        }
    }
}

async fn sweep_once(db: &Db, registry: &Registry, broker: &Broker) -> Result<(), DbError> {
    let bound = broker.bound();
    if bound.is_empty() {
        return Ok(());
    }
    let snapshot = registry.snapshot();
    let mut by_collection: HashMap<String, Vec<crate::realtime::Bound>> = HashMap::new();
    for b in bound {
        by_collection
            .entry(b.auth.collection_id.clone())
            .or_default()
            .push(b);
    }
    for (collection_id, clients) in by_collection {
        let Some(collection) = snapshot.get(&collection_id).cloned() else {
            for b in clients {
                broker.revoke_auth(&b.client_id, b.serial, &b.auth.token);
            }
            continue;
        };
        let mut ids: Vec<String> = clients.iter().map(|b| b.auth.record_id.clone()).collect();
        ids.sort_unstable();
        ids.dedup();
        let c = collection.clone();
        let rows = db
            .read(
                move |conn| -> Result<HashMap<String, crate::auth::records::StoredAuth>, DbError> {
                    let sql = format!(
                        "SELECT * FROM {} WHERE \"id\" IN (SELECT value FROM json_each(?1))",
                        q(&c.name)
                    );
                    let mut out = HashMap::with_capacity(ids.len());
                    let mut stmt = conn.prepare_cached(&sql)?;
                    let names: Vec<String> =
                        stmt.column_names().into_iter().map(str::to_owned).collect();
                    for chunk in ids.chunks(SWEEP_CHUNK) {
                        let list = Value::from(chunk.to_vec()).to_string();
                        let mut rows = stmt.query([list])?;
                        while let Some(row) = rows.next()? {
                            let stored = decode_row(&c, &names, row)?;
                            out.insert(stored.id().to_owned(), stored);
                        }
                    }
                    Ok(out)
                },
            )
            .await?;
        for b in clients {
            match rows.get(&b.auth.record_id) {
                Some(stored) if token_still_valid(&collection, stored, &b.auth.token) => {
                    if *b.auth.record != stored.record {
                        let record = Arc::new(stored.record.clone());
                        broker.refresh_auth(&b.client_id, b.serial, &b.auth.token, record);
                    }
                }
                _ => broker.revoke_auth(&b.client_id, b.serial, &b.auth.token),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_name_the_collection_by_name_or_id_and_the_record_by_id() {
        let cases = [
            ("posts", Some(TopicKind::Collection)),
            ("POSTS/*", Some(TopicKind::Collection)),
            ("pbc_posts", Some(TopicKind::Collection)),
            ("pbc_posts/*", Some(TopicKind::Collection)),
            ("posts/r1", Some(TopicKind::Record)),
            ("pbc_posts/r1", Some(TopicKind::Record)),
            ("posts/r2", None),
            ("posts/", None),
            ("posts/*/x", None),
            ("comments/*", None),
            ("@oauth2", None),
            ("", None),
        ];
        for (topic, want) in cases {
            assert_eq!(
                topic_names(topic, "pbc_posts", "posts", "r1"),
                want,
                "{topic}"
            );
        }
        assert_eq!(topic_names("posts/", "pbc_posts", "posts", ""), None);
    }
}
