//! The collections service: create, update, delete, truncate and import collections.
//!
//! Every change runs as one exclusive job on the writer: it reloads the registry from
//! `_collections` inside the transaction (so two changes never work from a stale view),
//! changes tables and definitions, bumps the registry version and compiles the new
//! snapshot, which is installed only after the COMMIT.
//!
//! Depends on `schema`, `db`, `query`, `util`; must not depend on `api`, `state`, the other
//! services or axum.

mod create;
mod delete;
mod expressions;
pub mod files;
mod import;
mod migrate;
mod update;
mod views;

use std::path::PathBuf;
use std::sync::Arc;

use files::Record;
use rusqlite::Connection;
use serde_json::{json, Map, Value};

use crate::db::{params, Db, DbError};
use crate::schema::collection::Collection;
use crate::schema::{ddl, store, Registry, SchemaError, Snapshot};
use crate::util::now_string;
use create::create_in;
use delete::delete_in;
pub use expressions::filter_collections;
use import::import_in;
use update::update_in;
use views::recreate_views;

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
    /// Where API changes are written as migration files (`None`: not written).
    migrations_dir: Option<PathBuf>,
}

/// Who asked for a change: decides whether a migration file is written or recorded.
enum Origin {
    /// The API: write a migration file.
    Api,
    /// Replaying the named migration file: record it, write nothing.
    Replay(String),
    /// Keelbase itself (first-start bootstrap): neither.
    Internal,
}

type Change<T> = (T, Option<Record>);
/// What a committed change hands back: its value, the new snapshot, the file to write.
type Committed<T> = (T, Snapshot, Option<(String, Record)>);

impl Collections {
    /// Load the registry; on the very first start, create the default `users` collection.
    pub async fn open(db: Db, migrations_dir: Option<PathBuf>) -> Result<Self, CollectionsError> {
        let snapshot = db
            .read(|conn| -> Result<Snapshot, CollectionsError> { Ok(Snapshot::load(conn)?) })
            .await?;
        let service = Self {
            db,
            registry: Arc::new(Registry::new(snapshot)),
            migrations_dir,
        };
        service.bootstrap_users().await?;
        service.ensure_triggers().await?;
        Ok(service)
    }

    /// Add the system triggers (`ddl/triggers.rs`) to auth tables made before those
    /// triggers existed.
    async fn ensure_triggers(&self) -> Result<(), CollectionsError> {
        let snapshot = self.snapshot();
        let missing = self
            .db
            .read(move |conn| -> Result<bool, CollectionsError> {
                for c in snapshot.all().iter().filter(|c| c.is_auth()) {
                    if !ddl::has_triggers(conn, c)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            })
            .await?;
        if !missing {
            return Ok(());
        }
        self.db
            .write(|conn| -> Result<(), CollectionsError> {
                for c in Snapshot::load(conn)?.all().iter().filter(|c| c.is_auth()) {
                    ddl::ensure_triggers(conn, c)?;
                }
                Ok(())
            })
            .await
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.registry.snapshot()
    }

    /// Run a change on the writer and install the snapshot it produced. The change's
    /// migration record is written as a file after the COMMIT (API changes) or recorded
    /// as applied (replays).
    async fn change<T: Send + 'static>(
        &self,
        origin: Origin,
        f: impl FnOnce(&Connection, &Snapshot) -> Result<Change<T>, SchemaError> + Send + 'static,
    ) -> Result<(T, Arc<Snapshot>), CollectionsError> {
        let write_files = self.migrations_dir.is_some();
        let (value, snapshot, to_write) = self
            .db
            .write_exclusive(
                move |conn: &Connection| -> Result<Committed<T>, CollectionsError> {
                    let current = Snapshot::load(conn)?;
                    // Views come down during the change (a rebuild or rename must not trip
                    // over them) and are recreated from their stored queries after it.
                    for v in current.all().iter().filter(|c| c.is_view()) {
                        ddl::drop_view(conn, &v.name)?;
                    }
                    let (value, record) = f(conn, &current)?;
                    let version = store::bump_version(conn)?;
                    let mut to_write = None;
                    match (origin, record) {
                        (Origin::Replay(name), _) => store::record_migration(conn, &name)?,
                        (Origin::Api, Some(record)) if write_files => {
                            let name = record.file_name(version);
                            store::record_migration(conn, &name)?;
                            to_write = Some((name, record));
                        }
                        _ => {}
                    }
                    let next = Snapshot::load(conn)?;
                    recreate_views(conn, &next)?;
                    Ok((value, next, to_write))
                },
            )
            .await?;
        self.registry.install(snapshot);
        if let (Some((name, record)), Some(dir)) = (to_write, &self.migrations_dir) {
            if let Err(e) = files::write(dir, &name, &record) {
                // The change is committed; only its file is missing. `migrate collections`
                // writes a full snapshot to recover.
                tracing::error!(file = %name, dir = %dir.display(), error = %e, "cannot write the collection migration file");
            }
        }
        Ok((value, self.registry.snapshot()))
    }

    async fn bootstrap_users(&self) -> Result<(), CollectionsError> {
        let done = self
            .db
            .read(|conn| -> Result<bool, CollectionsError> {
                Ok(params::get(conn, USERS_BOOTSTRAPPED)?.is_some())
            })
            .await?;
        if done {
            return Ok(());
        }
        self.change(Origin::Internal, |conn, snapshot| {
            if params::get(conn, USERS_BOOTSTRAPPED)?.is_some() {
                return Ok(((), None));
            }
            params::set(conn, USERS_BOOTSTRAPPED, &now_string())?;
            if snapshot.get("users").is_none() && snapshot.get(USERS_ID).is_none() {
                let body = default_users();
                create_in(conn, snapshot, body.as_object().expect("literal object"))?;
            }
            Ok(((), None))
        })
        .await?;
        Ok(())
    }

    pub async fn create(
        &self,
        body: Map<String, Value>,
    ) -> Result<Arc<Collection>, CollectionsError> {
        let (id, snapshot) = self
            .change(Origin::Api, move |conn, snapshot| {
                let c = create_in(conn, snapshot, &body)?;
                let record = Record::new("create", &c.name, json!({"collection": c.to_json()}));
                Ok((c.id, Some(record)))
            })
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
            .change(Origin::Api, move |conn, snapshot| {
                let rename = body.get("rename").cloned().unwrap_or(Value::Null);
                let c = update_in(conn, snapshot, &key, body)?;
                let record = Record::new(
                    "update",
                    &c.name,
                    json!({"id": c.id, "collection": c.to_json(), "rename": rename}),
                );
                Ok((c.id, Some(record)))
            })
            .await?;
        Ok(snapshot
            .get(&id)
            .cloned()
            .expect("updated collection is in the new snapshot"))
    }

    pub async fn delete(&self, id_or_name: &str) -> Result<(), CollectionsError> {
        let key = id_or_name.to_owned();
        self.change(Origin::Api, move |conn, snapshot| {
            let c = delete_in(conn, snapshot, &key)?;
            let record = Record::new("delete", &c.name, json!({"id": c.id, "name": c.name}));
            Ok(((), Some(record)))
        })
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
        self.change(Origin::Api, move |conn, _| {
            let record = Record::new(
                "import",
                "import",
                json!({"collections": list.clone(), "deleteMissing": delete_missing}),
            );
            import_in(conn, list, delete_missing)?;
            Ok(((), Some(record)))
        })
        .await?;
        Ok(())
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
