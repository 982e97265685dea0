//! The collections service: create, update, delete, truncate and import collections.
//!
//! Every change runs as one exclusive job on the writer: it reloads the registry from
//! `_collections` inside the transaction (so two changes never work from a stale view),
//! changes tables and definitions, bumps the registry version and compiles the new
//! snapshot, which is installed only after the COMMIT.

use std::sync::Arc;

use rusqlite::Connection;
use serde_json::{json, Map, Value};

use crate::db::{params, Db, DbError};
use crate::schema::collection::{compile, Collection, Definition};
use crate::schema::field::FieldKind;
use crate::schema::{ddl, store, Registry, SchemaError, Snapshot};
use crate::util::now_string;

/// The default users collection's id, as in PocketBase (rules and apps refer to it).
pub const USERS_ID: &str = "_pb_users_auth_";
const USERS_BOOTSTRAPPED: &str = "bootstrap.users";

impl From<DbError> for SchemaError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Sqlite(e) => SchemaError::Sqlite(e),
            other => SchemaError::Corrupt {
                name: String::new(),
                message: other.to_string(),
            },
        }
    }
}

/// Why a collection call failed: a schema problem, or the store being unavailable.
#[derive(Debug, thiserror::Error)]
pub enum CollectionsError {
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Db(DbError),
}

impl From<DbError> for CollectionsError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Sqlite(e) => Self::Schema(SchemaError::Sqlite(e)),
            other => Self::Db(other),
        }
    }
}

impl From<rusqlite::Error> for CollectionsError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Schema(SchemaError::Sqlite(e))
    }
}

#[derive(Clone)]
pub struct Collections {
    db: Db,
    registry: Arc<Registry>,
}

impl Collections {
    /// Load the registry; on the very first start, create the default `users` collection.
    pub async fn open(db: Db) -> Result<Self, CollectionsError> {
        let snapshot = db
            .read(|conn| -> Result<Snapshot, CollectionsError> { Ok(Snapshot::load(conn)?) })
            .await?;
        let service = Self {
            db,
            registry: Arc::new(Registry::new(snapshot)),
        };
        service.bootstrap_users().await?;
        Ok(service)
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.registry.snapshot()
    }

    /// Run a change on the writer and install the snapshot it produced.
    async fn change<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &Snapshot) -> Result<T, SchemaError> + Send + 'static,
    ) -> Result<(T, Arc<Snapshot>), CollectionsError> {
        let (value, snapshot) = self
            .db
            .write_exclusive(
                move |conn: &Connection| -> Result<(T, Snapshot), CollectionsError> {
                    let current = Snapshot::load(conn)?;
                    let value = f(conn, &current)?;
                    store::bump_version(conn)?;
                    Ok((value, Snapshot::load(conn)?))
                },
            )
            .await?;
        self.registry.install(snapshot);
        Ok((value, self.registry.snapshot()))
    }

    async fn bootstrap_users(&self) -> Result<(), CollectionsError> {
        self.change(|conn, snapshot| {
            if params::get(conn, USERS_BOOTSTRAPPED)?.is_some() {
                return Ok(());
            }
            params::set(conn, USERS_BOOTSTRAPPED, &now_string())?;
            if snapshot.get("users").is_some() || snapshot.get(USERS_ID).is_some() {
                return Ok(());
            }
            let body = default_users();
            create_in(conn, snapshot, body.as_object().expect("literal object"))?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    pub async fn create(
        &self,
        body: Map<String, Value>,
    ) -> Result<Arc<Collection>, CollectionsError> {
        let (id, snapshot) = self
            .change(move |conn, snapshot| create_in(conn, snapshot, &body))
            .await?;
        Ok(snapshot
            .get(&id)
            .cloned()
            .expect("created collection is in the new snapshot"))
    }

    /// Apply a partial definition. `body` may hold `rename: {old: new}` for properties.
    pub async fn update(
        &self,
        id_or_name: &str,
        body: Map<String, Value>,
    ) -> Result<Arc<Collection>, CollectionsError> {
        let key = id_or_name.to_owned();
        let (id, snapshot) = self
            .change(move |conn, snapshot| update_in(conn, snapshot, &key, body))
            .await?;
        Ok(snapshot
            .get(&id)
            .cloned()
            .expect("updated collection is in the new snapshot"))
    }

    pub async fn delete(&self, id_or_name: &str) -> Result<(), CollectionsError> {
        let key = id_or_name.to_owned();
        self.change(move |conn, snapshot| delete_in(conn, snapshot, &key))
            .await?;
        Ok(())
    }

    /// Delete every record of a collection (foreign keys apply: cascades and refusals).
    pub async fn truncate(&self, id_or_name: &str) -> Result<usize, CollectionsError> {
        let snapshot = self.snapshot();
        let c = snapshot
            .get(id_or_name)
            .cloned()
            .ok_or(SchemaError::NotFound)?;
        if c.is_view() {
            return Err(SchemaError::invalid(
                "type",
                "validation_invalid_value",
                "View collections have no records to delete.",
            )
            .into());
        }
        let n = self
            .db
            .write(
                move |conn: &Connection| -> Result<usize, CollectionsError> {
                    Ok(ddl::truncate(conn, &c)?)
                },
            )
            .await?;
        Ok(n)
    }

    /// Create or update every collection of `list` in one transaction; with
    /// `delete_missing`, also delete the non-system collections not in it. Any failure
    /// leaves every collection as it was.
    pub async fn import(
        &self,
        list: Vec<Map<String, Value>>,
        delete_missing: bool,
    ) -> Result<(), CollectionsError> {
        self.change(move |conn, _| import_in(conn, list, delete_missing))
            .await?;
        Ok(())
    }
}

fn import_in(
    conn: &Connection,
    list: Vec<Map<String, Value>>,
    delete_missing: bool,
) -> Result<(), SchemaError> {
    // Collections of one import may relate to each other in any order: apply in passes,
    // retrying those that failed validation, until a pass makes no progress.
    let mut imported_ids: Vec<String> = Vec::new();
    let mut pending: Vec<(usize, Map<String, Value>)> = list.into_iter().enumerate().collect();
    while !pending.is_empty() {
        let before = pending.len();
        let mut failed = Vec::new();
        let mut first_error = None;
        for (i, body) in pending {
            let snapshot = Snapshot::load(conn)?;
            let existing = body
                .get("id")
                .and_then(Value::as_str)
                .and_then(|id| snapshot.get(id))
                .or_else(|| {
                    body.get("name")
                        .and_then(Value::as_str)
                        .and_then(|n| snapshot.get(n))
                })
                .map(|c| c.id.clone());
            let result = match existing {
                Some(id) => update_in(conn, &snapshot, &id, body.clone()),
                None => create_in(conn, &snapshot, &body),
            };
            match result {
                Ok(id) => imported_ids.push(id),
                Err(e @ SchemaError::Invalid { .. }) => {
                    first_error.get_or_insert((i, e));
                    failed.push((i, body));
                }
                Err(e) => return Err(prefix(i, e)),
            }
        }
        if failed.len() == before {
            let (i, e) = first_error.expect("a pass without progress recorded an error");
            return Err(prefix(i, e));
        }
        pending = failed;
    }
    if delete_missing {
        loop {
            let snapshot = Snapshot::load(conn)?;
            let missing: Vec<_> = snapshot
                .all()
                .iter()
                .filter(|c| !c.system && !imported_ids.contains(&c.id))
                .cloned()
                .collect();
            if missing.is_empty() {
                break;
            }
            // Delete first what nothing else (still present) relates to.
            let Some(c) = missing.iter().find(|c| snapshot.referencing(c).is_empty()) else {
                return Err(SchemaError::Referenced(snapshot.referencing(&missing[0])));
            };
            delete_in(conn, &snapshot, &c.id)?;
        }
    }
    Ok(())
}

fn prefix(i: usize, e: SchemaError) -> SchemaError {
    match e {
        SchemaError::Invalid {
            field,
            code,
            message,
        } => SchemaError::Invalid {
            field: format!("collections.{i}.{field}"),
            code,
            message,
        },
        other => other,
    }
}

/// The default `users` auth collection, with PocketBase's default rules.
fn default_users() -> Value {
    json!({
        "id": USERS_ID,
        "name": "users",
        "type": "auth",
        "schema": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 255},
                "avatar": {
                    "type": "string",
                    "x-file": {"maxSize": 0, "mimeTypes": ["image/jpeg", "image/png", "image/svg+xml", "image/gif", "image/webp"]}
                }
            },
            "additionalProperties": false
        },
        "listRule": "id = @request.auth.id",
        "viewRule": "id = @request.auth.id",
        "createRule": "",
        "updateRule": "id = @request.auth.id",
        "deleteRule": "id = @request.auth.id",
        "authRule": "",
        "manageRule": null
    })
}

fn create_in(
    conn: &Connection,
    snapshot: &Snapshot,
    body: &Map<String, Value>,
) -> Result<String, SchemaError> {
    let now = now_string();
    let resolve = |k: &str| snapshot.reference(k);
    let c = compile(
        Definition {
            body,
            existing: None,
            system: false,
            now: &now,
            trusted: false,
        },
        &resolve,
    )?;
    let table_of = |k: &str| snapshot.table_of(k);
    ddl::create(conn, &c, &table_of)?;
    store::insert(conn, &c)?;
    Ok(c.id)
}

/// Parse `rename: {old: new}` out of an update body.
fn take_renames(body: &mut Map<String, Value>) -> Result<Vec<(String, String)>, SchemaError> {
    match body.remove("rename") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => m
            .into_iter()
            .map(|(from, to)| match to {
                Value::String(to) => Ok((from, to)),
                _ => Err(SchemaError::invalid(
                    "rename",
                    "validation_invalid_value",
                    format!("/rename/{from}: must be the new property name"),
                )),
            })
            .collect(),
        Some(_) => Err(SchemaError::invalid(
            "rename",
            "validation_invalid_value",
            "Must be an object {\"oldName\": \"newName\"}.",
        )),
    }
}

fn update_in(
    conn: &Connection,
    snapshot: &Snapshot,
    key: &str,
    mut body: Map<String, Value>,
) -> Result<String, SchemaError> {
    let old = snapshot.get(key).cloned().ok_or(SchemaError::NotFound)?;
    if old.system {
        return Err(SchemaError::System);
    }
    let renames = take_renames(&mut body)?;
    for (from, to) in &renames {
        if old.field(from).is_none() {
            return Err(SchemaError::invalid(
                "rename",
                "validation_invalid_value",
                format!("/rename/{from}: no such property"),
            ));
        }
        let declared = body
            .get("schema")
            .and_then(|s| s.get("properties"))
            .is_some_and(|p| p.get(to).is_some());
        if !declared {
            return Err(SchemaError::invalid(
                "rename",
                "validation_invalid_value",
                format!("/rename/{from}: the new schema must declare the property {to:?}"),
            ));
        }
    }
    let now = now_string();
    let resolve = |k: &str| snapshot.reference(k);
    let mut new = compile(
        Definition {
            body: &body,
            existing: Some(&old),
            system: false,
            now: &now,
            trusted: false,
        },
        &resolve,
    )?;
    // SECURITY: a new authRule logs out every record of the collection (PocketBase does the
    // same), so sessions granted under the old rule do not outlive it.
    if new.is_auth() && new.rules.auth != old.rules.auth {
        if let Some(auth) = new
            .auth
            .as_mut()
            .and_then(|a| a.get_mut("authToken"))
            .and_then(Value::as_object_mut)
        {
            auth.insert("secret".into(), json!(crate::util::random_string(50)));
        }
    }
    let table_of = |k: &str| snapshot.table_of(k);
    ddl::update(conn, &old, &new, &renames, &table_of)?;
    store::update(conn, &new)?;
    if old.name != new.name {
        rename_references(conn, snapshot, &old, &new)?;
    }
    Ok(new.id)
}

/// After a collection rename, rewrite `x-relation.collection` in the schemas that named it.
fn rename_references(
    conn: &Connection,
    snapshot: &Snapshot,
    old: &Collection,
    new: &Collection,
) -> Result<(), SchemaError> {
    for other in snapshot.all().iter().filter(|c| c.id != old.id) {
        let mut changed = false;
        let mut schema = other.schema.clone();
        if let Some(Value::Object(props)) = schema.get_mut("properties") {
            for f in &other.fields {
                let FieldKind::Relation(r) = &f.kind else {
                    continue;
                };
                if r.collection.eq_ignore_ascii_case(&old.name) {
                    if let Some(rel) = props
                        .get_mut(&f.name)
                        .and_then(|p| p.get_mut("x-relation"))
                        .and_then(Value::as_object_mut)
                    {
                        rel.insert("collection".into(), json!(new.name));
                        changed = true;
                    }
                }
            }
        }
        if changed {
            let mut updated = (**other).clone();
            updated.schema = schema;
            updated.updated = new.updated.clone();
            store::update(conn, &updated)?;
        }
    }
    Ok(())
}

fn delete_in(conn: &Connection, snapshot: &Snapshot, key: &str) -> Result<(), SchemaError> {
    let c = snapshot.get(key).cloned().ok_or(SchemaError::NotFound)?;
    if c.system {
        return Err(SchemaError::System);
    }
    let referencing = snapshot.referencing(&c);
    if !referencing.is_empty() {
        return Err(SchemaError::Referenced(referencing));
    }
    ddl::drop_table(conn, &c)?;
    store::delete(conn, &c.id)?;
    Ok(())
}
