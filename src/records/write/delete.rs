//! Deleting a record, and what relations pointing at it do: cascade, set empty, or refuse.

use std::sync::Arc;

use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;

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

impl Delete {
    /// [`Delete::run`], returning the record as it was just before (the change to
    /// publish once committed).
    pub fn run_capturing(&self, conn: &Connection) -> Result<Option<Change>, WriteError> {
        let before = capture(conn, Action::Delete, &self.collection, &self.id)?;
        self.run(conn)?;
        Ok(before)
    }
}

/// Delete record `id` (see [`Delete::run`]). Returns the change to publish: the record
/// as it was before.
pub async fn delete(
    db: &Db,
    snapshot: Arc<Snapshot>,
    collection: Arc<Collection>,
    id: String,
    request: RequestInfo,
) -> Result<Option<Change>, WriteError> {
    let job = prepare_delete(&snapshot, &collection, id, &request)?;
    db.write(move |conn: &Connection| job.run_capturing(conn))
        .await
}
