//! Batch writes (API.md Part B §8): every item runs in one write transaction, in order,
//! under the same checks and rules as alone; the first failure rolls everything back.
//!
//! The changes are returned for publishing only once the whole batch committed.
//!
//! Items are checked before the transaction where they can be (creates validate their
//! values, updates and deletes compile their rules), so the writer thread only does the
//! work that needs the store. Failures found early are still reported in item order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde_json::{Map, Value};

use super::events::{capture, Action as EventAction, Change};
use super::write::{self, Create, Delete, Update, WriteError};
use super::{view_on, RecordsError};
use crate::auth::password::Hasher;
use crate::db::{Db, DbError};
use crate::query::RequestInfo;
use crate::schema::{Collection, Snapshot};

/// What one item does.
#[derive(Clone, Debug)]
pub enum Action {
    Create,
    Update(String),
    /// Update when `body.id` names an existing record, create otherwise.
    Upsert,
    Delete(String),
}

/// One sub-request, already routed to its collection.
pub struct Item {
    pub action: Action,
    pub collection: Arc<Collection>,
    pub body: Map<String, Value>,
    pub request: RequestInfo,
    pub expand: Option<String>,
}

/// What one item answers once the batch committed.
#[derive(Debug)]
pub enum Outcome {
    /// The written record, as the caller may view it.
    Record(Value),
    Deleted,
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("batch item {index} failed: {error}")]
    Item { index: usize, error: WriteError },
    /// The batch ran past its time limit before item `index`.
    #[error("batch timed out at item {index}")]
    Timeout { index: usize },
    /// Every item ran, and the caller asked for the batch to be rolled back (an item
    /// after them was refused before it could run).
    #[error("batch rolled back")]
    RolledBack,
    #[error(transparent)]
    Db(#[from] DbError),
}

enum Job {
    Create(Result<Create, WriteError>),
    Update(Result<Update, WriteError>),
    Delete(Result<Delete, WriteError>),
    Upsert(write::Secrets),
}

/// What a batch that committed did: each item's answer, and the changes to publish, in
/// order.
#[derive(Debug)]
pub struct Ran {
    pub outcomes: Vec<Outcome>,
    pub changes: Vec<Change>,
}

/// Run `items` in one transaction. Nothing is written unless every item succeeds and
/// `roll_back` is false.
pub async fn run(
    db: &Db,
    hasher: &Hasher,
    snapshot: Arc<Snapshot>,
    items: Vec<Item>,
    roll_back: bool,
    timeout: Duration,
) -> Result<Ran, BatchError> {
    let deadline = Instant::now() + timeout;
    let jobs: Vec<(Item, Job)> = items
        .into_iter()
        .map(|item| {
            let job = match &item.action {
                Action::Create => Job::Create(write::prepare_create(
                    &snapshot,
                    &item.collection,
                    &item.body,
                    &item.request,
                )),
                Action::Update(id) => Job::Update(write::prepare_update(
                    &snapshot,
                    &item.collection,
                    id.clone(),
                    item.body.clone(),
                    &item.request,
                )),
                Action::Delete(id) => Job::Delete(write::prepare_delete(
                    &snapshot,
                    &item.collection,
                    id.clone(),
                    &item.request,
                )),
                Action::Upsert => Job::Upsert(write::Secrets::default()),
            };
            (item, job)
        })
        .collect();
    // Password hashes and oldPassword checks are slow by design: done here, never on
    // the writer.
    let mut ready = Vec::with_capacity(jobs.len());
    for (item, job) in jobs {
        let upsert_id = item.body.get("id").and_then(Value::as_str);
        let job = match job {
            Job::Create(Ok(c)) => {
                let s = write::secrets(db, hasher, &item.collection, None, &item.body).await;
                Job::Create(s.map(|s| c.with_secrets(s)))
            }
            Job::Update(Ok(u)) => {
                let s =
                    write::secrets(db, hasher, &item.collection, Some(u.id()), &item.body).await;
                Job::Update(s.map(|s| u.with_secrets(s)))
            }
            Job::Upsert(_) => {
                match write::secrets(db, hasher, &item.collection, upsert_id, &item.body).await {
                    Ok(s) => Job::Upsert(s),
                    Err(e) => Job::Create(Err(e)),
                }
            }
            other => other,
        };
        ready.push((item, job));
    }
    let jobs = ready;
    db.write(move |conn: &Connection| {
        let mut outcomes = Vec::with_capacity(jobs.len());
        let mut changes = Vec::with_capacity(jobs.len());
        for (index, (item, job)) in jobs.into_iter().enumerate() {
            if Instant::now() > deadline {
                return Err(BatchError::Timeout { index });
            }
            let (outcome, change) = run_one(conn, &snapshot, &item, job)
                .map_err(|error| BatchError::Item { index, error })?;
            outcomes.push(outcome);
            changes.extend(change);
        }
        if roll_back {
            return Err(BatchError::RolledBack);
        }
        Ok(Ran { outcomes, changes })
    })
    .await
}

/// Run one item; its answer and the change it made (the row as written, or for a
/// delete as it was before).
fn run_one(
    conn: &Connection,
    snapshot: &Arc<Snapshot>,
    item: &Item,
    job: Job,
) -> Result<(Outcome, Vec<Change>), WriteError> {
    let (id, action) = match job {
        Job::Create(job) => {
            let job = job?;
            job.run(conn)?;
            let change = capture(conn, EventAction::Create, &item.collection, job.id())?;
            if item.expand.is_none() {
                if let Some(record) = job.answer(&item.request) {
                    return Ok((Outcome::Record(record), change.into_iter().collect()));
                }
            }
            let outcome = answer(conn, snapshot, item, job.id())?;
            return Ok((outcome, change.into_iter().collect()));
        }
        Job::Update(job) => {
            let job = job?;
            job.run(conn)?;
            (job.id().to_owned(), EventAction::Update)
        }
        Job::Delete(job) => {
            let change = job?.run_capturing(conn)?;
            return Ok((Outcome::Deleted, change));
        }
        Job::Upsert(secrets) => upsert(conn, snapshot, item, secrets)?,
    };
    let change = capture(conn, action, &item.collection, &id)?;
    Ok((
        answer(conn, snapshot, item, &id)?,
        change.into_iter().collect(),
    ))
}

/// The written record `id` as the item's caller may view it.
fn answer(
    conn: &Connection,
    snapshot: &Arc<Snapshot>,
    item: &Item,
    id: &str,
) -> Result<Outcome, WriteError> {
    match view_on(
        conn,
        snapshot,
        &item.collection,
        id,
        item.expand.as_deref(),
        &item.request,
    ) {
        Ok(record) => Ok(Outcome::Record(record)),
        Err(RecordsError::NotFound | RecordsError::SuperusersOnly) => {
            Ok(Outcome::Record(super::id_only(&item.collection, id)))
        }
        Err(e) => Err(e.into()),
    }
}

/// Update the record `body.id` names if it exists, else create it. Returns the id and
/// which it was.
fn upsert(
    conn: &Connection,
    snapshot: &Arc<Snapshot>,
    item: &Item,
    secrets: write::Secrets,
) -> Result<(String, EventAction), WriteError> {
    let existing = match item.body.get("id") {
        Some(Value::String(id)) if !id.is_empty() => {
            write::exists(conn, &item.collection, id)?.then(|| id.clone())
        }
        _ => None,
    };
    match existing {
        Some(id) => {
            let mut body = item.body.clone();
            body.remove("id");
            write::prepare_update(snapshot, &item.collection, id.clone(), body, &item.request)?
                .with_secrets(secrets)
                .run(conn)?;
            Ok((id, EventAction::Update))
        }
        None => {
            let job = write::prepare_create(snapshot, &item.collection, &item.body, &item.request)?
                .with_secrets(secrets);
            job.run(conn)?;
            Ok((job.id().to_owned(), EventAction::Create))
        }
    }
}
