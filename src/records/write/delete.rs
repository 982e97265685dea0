//! Deleting a record, and what relations pointing at it do: cascade, set empty, or refuse.

use std::collections::HashSet;
use std::sync::Arc;

use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde_json::{Map, Value};

use super::persist::select_by_id;
use super::rules::{check_writable, rule_sql};
use super::WriteError;
use crate::db::Db;
use crate::query::RequestInfo;
use crate::records::events::{capture, Action, Change};
use crate::records::RecordsError;
use crate::schema::field::FieldKind;
use crate::schema::{quote_ident as q, Collection, Snapshot};

/// A delete, checked as far as it can be without the stored row.
pub struct Delete {
    snapshot: Arc<Snapshot>,
    collection: Arc<Collection>,
    id: String,
    rule: Option<(String, Vec<SqlValue>)>,
}

/// Check a delete of record `id` before it runs.
pub fn prepare_delete(
    snapshot: &Arc<Snapshot>,
    collection: &Arc<Collection>,
    id: String,
    request: &RequestInfo,
) -> Result<Delete, WriteError> {
    check_writable(collection, &collection.rules.delete, request)?;
    Ok(Delete {
        rule: rule_sql(snapshot, collection, &collection.rules.delete, request)?,
        snapshot: snapshot.clone(),
        collection: collection.clone(),
        id,
    })
}

impl Delete {
    /// Delete the record: single relations follow their foreign keys (cascade, set
    /// empty, or refuse); multi-relations elsewhere drop the id, or lose their record
    /// when they cascade.
    pub fn run(&self, conn: &Connection) -> Result<(), WriteError> {
        let (snapshot, collection, id) = (&self.snapshot, &self.collection, &self.id);
        let (sql, params) = select_by_id("1", collection, id, &self.rule);
        let exists = conn
            .prepare_cached(&sql)?
            .exists(rusqlite::params_from_iter(params.iter()))?;
        if !exists {
            return Err(RecordsError::NotFound.into());
        }
        // Multi-relations pointing here.
        for other in snapshot.all() {
            for f in &other.fields {
                let FieldKind::Relation(r) = &f.kind else {
                    continue;
                };
                let points_here = r.multiple
                    && snapshot
                        .get(&r.collection)
                        .is_some_and(|t| t.id == collection.id);
                if !points_here {
                    continue;
                }
                let (t, c) = (q(&other.name), q(&f.name));
                let holds = format!("EXISTS (SELECT 1 FROM json_each({c}) WHERE value = ?1)");
                if r.cascade_delete {
                    conn.execute(&format!("DELETE FROM {t} WHERE {holds}"), [id])?;
                } else {
                    conn.execute(
                        &format!(
                            "UPDATE {t} SET {c} = (SELECT json_group_array(value) FROM json_each({c}) WHERE value != ?1) WHERE {holds}"
                        ),
                        [id],
                    )?;
                }
            }
        }
        match conn.execute(
            &format!("DELETE FROM {} WHERE \"id\" = ?1", q(&collection.name)),
            [id],
        ) {
            Ok(_) => Ok(()),
            // RESTRICT reports as a trigger constraint.
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_TRIGGER =>
            {
                Err(WriteError::Referenced)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Most rows a delete looks at for the changes its relations make (cascades, ids
/// removed); past it the rest go unpublished (logged), never unbounded.
const MAX_RELATED: usize = 10_000;

/// A record a delete may change: its collection, id, and row before.
type Related = (Arc<Collection>, String, Map<String, Value>);

impl Delete {
    /// [`Delete::run`], returning the changes to publish once committed: the record as it
    /// was just before, then what its relations did to other records (PocketBase sends
    /// those too): a delete for each record that went with it (cascade), an update for
    /// each that lost the id (set empty, multi-relations).
    pub fn run_capturing(&self, conn: &Connection) -> Result<Vec<Change>, WriteError> {
        let Some(before) = capture(conn, Action::Delete, &self.collection, &self.id)? else {
            // Not there: `run` says so.
            self.run(conn)?;
            return Ok(Vec::new());
        };
        let related = self.related(conn)?;
        self.run(conn)?;
        let mut changes = vec![before];
        for (collection, id, row) in related {
            match crate::records::stored_row(conn, &collection, &id)? {
                None => changes.push(Change {
                    action: Action::Delete,
                    collection,
                    record: row,
                }),
                Some(after) if after != row => changes.push(Change {
                    action: Action::Update,
                    collection,
                    record: after,
                }),
                Some(_) => {}
            }
        }
        Ok(changes)
    }

    /// Every record that points at the deleted one by a relation, and, through cascading
    /// relations, at those in turn: as they are before the delete.
    fn related(&self, conn: &Connection) -> Result<Vec<Related>, WriteError> {
        let snapshot = &self.snapshot;
        let mut out: Vec<Related> = Vec::new();
        let mut seen: HashSet<(String, String)> = HashSet::new();
        seen.insert((self.collection.id.clone(), self.id.clone()));
        let mut queue = vec![(self.collection.clone(), self.id.clone())];
        while let Some((target, id)) = queue.pop() {
            for other in snapshot.all().iter().filter(|c| !c.is_view()) {
                for f in &other.fields {
                    let FieldKind::Relation(r) = &f.kind else {
                        continue;
                    };
                    if snapshot
                        .get(&r.collection)
                        .is_none_or(|t| t.id != target.id)
                    {
                        continue;
                    }
                    let c = q(&f.name);
                    let holds = if r.multiple {
                        format!("EXISTS (SELECT 1 FROM json_each({c}) WHERE value = ?1)")
                    } else {
                        format!("{c} = ?1")
                    };
                    let sql = format!("SELECT \"id\" FROM {} WHERE {holds}", q(&other.name));
                    let ids: Vec<String> = conn
                        .prepare_cached(&sql)?
                        .query_map([&id], |row| row.get(0))?
                        .collect::<Result<_, _>>()?;
                    for rid in ids {
                        if !seen.insert((other.id.clone(), rid.clone())) {
                            continue;
                        }
                        if out.len() >= MAX_RELATED {
                            tracing::warn!(collection = %self.collection.name, "a delete touches more related records than are published");
                            return Ok(out);
                        }
                        if let Some(row) = crate::records::stored_row(conn, other, &rid)? {
                            out.push((other.clone(), rid.clone(), row));
                        }
                        if r.cascade_delete {
                            queue.push((other.clone(), rid));
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Delete record `id` (see [`Delete::run`]). Returns the changes to publish (see
/// [`Delete::run_capturing`]).
pub async fn delete(
    db: &Db,
    snapshot: Arc<Snapshot>,
    collection: Arc<Collection>,
    id: String,
    request: RequestInfo,
) -> Result<Vec<Change>, WriteError> {
    let job = prepare_delete(&snapshot, &collection, id, &request)?;
    db.write(move |conn: &Connection| job.run_capturing(conn))
        .await
}
