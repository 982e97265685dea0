//! The collections service: create, update, delete, truncate and import collections.
//!
//! Every change runs as one exclusive job on the writer: it reloads the registry from
//! `_collections` inside the transaction (so two changes never work from a stale view),
//! changes tables and definitions, bumps the registry version and compiles the new
//! snapshot, which is installed only after the COMMIT.
//!
//! Depends on `schema`, `db`, `query`, `util`; must not depend on `api`, `state`, the other
//! services or axum.

pub mod files;

use std::path::PathBuf;
use std::sync::Arc;

use files::Record;
use rusqlite::Connection;
use serde_json::{json, Map, Value};

use crate::db::{params, Db, DbError};
use crate::schema::collection::{compile, Collection, Definition};
use crate::schema::field::FieldKind;
use crate::schema::{ddl, store, Registry, SchemaError, Snapshot};
use crate::util::now_string;

/// Compile every rule and index condition of `c` (a snapshot holding `c` is built for
/// relations to itself): a bad one is a 400 naming the rule and the position.
fn check_expressions(snapshot: &Snapshot, c: &Collection) -> Result<(), SchemaError> {
    use crate::query::{compile_where, parse, Mode, RequestInfo, Scope};
    let with_c = Snapshot::from_collections(
        snapshot.version,
        snapshot
            .all()
            .iter()
            .filter(|x| x.id != c.id)
            .map(|x| (**x).clone())
            .chain(std::iter::once(c.clone())),
    );
    let me = with_c.get(&c.id).expect("just added");
    let request = RequestInfo::default();
    let rules = [
        ("listRule", &c.rules.list),
        ("viewRule", &c.rules.view),
        ("createRule", &c.rules.create),
        ("updateRule", &c.rules.update),
        ("deleteRule", &c.rules.delete),
        ("authRule", &c.rules.auth),
        ("manageRule", &c.rules.manage),
    ];
    for (key, rule) in rules {
        let Some(rule) = rule.as_deref().filter(|r| !r.trim().is_empty()) else {
            continue;
        };
        let scope = Scope {
            snapshot: &with_c,
            collection: me,
            mode: Mode::Rule,
            request: &request,
            alias: "_m",
        };
        parse(rule)
            .and_then(|expr| compile_where(&expr, &scope))
            .map_err(|e| {
                SchemaError::invalid(
                    key,
                    "validation_invalid_rule",
                    format!("Invalid rule: {e}."),
                )
            })?;
    }
    Ok(())
}

/// The SQL of an index's `where` filter (unqualified columns, literals inlined).
fn index_where(c: &Collection, i: &crate::schema::IndexDef) -> Result<Option<String>, SchemaError> {
    use crate::query::{compile_where, parse, Mode, RequestInfo, Scope};
    let Some(w) = &i.where_clause else {
        return Ok(None);
    };
    let position = c.indexes.iter().position(|x| x.name == i.name).unwrap_or(0);
    let snapshot = Snapshot::from_collections(0, std::iter::once(c.clone()));
    let request = RequestInfo::default();
    let scope = Scope {
        snapshot: &snapshot,
        collection: c,
        mode: Mode::Index,
        request: &request,
        alias: "",
    };
    parse(w)
        .and_then(|expr| compile_where(&expr, &scope))
        .map(|compiled| Some(compiled.sql))
        .map_err(|e| {
            SchemaError::invalid(
                "indexes",
                "invalid_index",
                format!("/indexes/{position}/where: {e}"),
            )
        })
}

/// The collection model as a collection, so the list endpoint can filter collections
/// with the same language (evaluated in memory: the list is the registry snapshot).
fn collection_model() -> &'static Collection {
    static MODEL: std::sync::OnceLock<Collection> = std::sync::OnceLock::new();
    MODEL.get_or_init(|| {
        let rule = json!({"type": ["string", "null"]});
        let body = json!({
            "name": "_collections",
            "schema": {"type": "object", "properties": {
                "name": {"type": "string"}, "type": {"type": "string"}, "system": {"type": "boolean"},
                "listRule": rule, "viewRule": rule, "createRule": rule, "updateRule": rule,
                "deleteRule": rule, "authRule": rule, "manageRule": rule, "viewQuery": {"type": "string"}
            }}
        });
        compile(
            Definition { body: body.as_object().expect("literal object"), existing: None, system: true, now: "", trusted: false },
            &|_| None,
        )
        .expect("the collection model compiles")
    })
}

/// Keep the collections matching `filter` (collection fields: id, name, type, system,
/// the rules, viewQuery, created, updated).
pub fn filter_collections(
    collections: Vec<Arc<Collection>>,
    filter: &str,
) -> Result<Vec<Arc<Collection>>, crate::query::QueryError> {
    use crate::query::{evaluate, parse, EvalError, Mode, QueryError, RequestInfo, Span, Target};
    let expr = parse(filter)?;
    let model = collection_model();
    let request = RequestInfo {
        superuser: true,
        ..Default::default()
    };
    let mut out = Vec::new();
    for c in collections {
        let json = c.to_json();
        let record = json.as_object().expect("a collection is an object");
        let target = Target {
            collection: model,
            record,
            request: &request,
            mode: Mode::Filter,
        };
        match evaluate(&expr, &target) {
            Ok(true) => out.push(c),
            Ok(false) => {}
            Err(EvalError::Unsupported(what) | EvalError::Invalid(what)) => {
                return Err(QueryError::new(what, Span::new(0, filter.len())))
            }
        }
    }
    Ok(out)
}

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

    /// Add the system triggers (ddl.rs) to auth tables made before those triggers existed.
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

    /// Migration files in the folder and whether each is applied to this database.
    pub async fn migration_status(
        &self,
    ) -> Result<Vec<(String, Option<String>)>, CollectionsError> {
        let Some(dir) = &self.migrations_dir else {
            return Ok(Vec::new());
        };
        let names = files::list(dir).map_err(|e| io_error(dir, e))?;
        let applied = self
            .db
            .read(|conn| -> Result<_, CollectionsError> { Ok(store::applied_migrations(conn)?) })
            .await?;
        Ok(names
            .into_iter()
            .map(|n| {
                let at = applied
                    .iter()
                    .find(|(f, _)| f == &n)
                    .map(|(_, a)| a.clone());
                (n, at)
            })
            .collect())
    }

    /// Apply every pending migration file, in order, each in its own transaction. Stops
    /// at the first failure (naming the file); returns the files applied.
    pub async fn migrate_up(&self) -> Result<Vec<String>, CollectionsError> {
        let Some(dir) = self.migrations_dir.clone() else {
            return Ok(Vec::new());
        };
        let mut applied = Vec::new();
        for (name, at) in self.migration_status().await? {
            if at.is_some() {
                continue;
            }
            let text = std::fs::read_to_string(dir.join(&name)).map_err(|e| io_error(&dir, e))?;
            let body: Value = serde_json::from_str(&text)
                .map_err(|e| file_error(&name, format!("not valid JSON: {e}")))?;
            let file = name.clone();
            self.change(Origin::Replay(name.clone()), move |conn, snapshot| {
                apply_record(conn, snapshot, &body)
                    .map_err(|e| file_error(&file, e.to_string()))?;
                Ok(((), None))
            })
            .await?;
            applied.push(name);
        }
        Ok(applied)
    }

    /// Write one file that recreates every non-system collection as it is now (an import
    /// with `deleteMissing`), recorded as applied here. Returns its path.
    pub async fn write_snapshot(&self) -> Result<Option<PathBuf>, CollectionsError> {
        let Some(dir) = self.migrations_dir.clone() else {
            return Ok(None);
        };
        let snapshot = self.snapshot();
        let collections: Vec<Value> = snapshot
            .all()
            .iter()
            .filter(|c| !c.system)
            .map(|c| c.to_json())
            .collect();
        let record = Record::new(
            "import",
            "snapshot",
            json!({"collections": collections, "deleteMissing": true}),
        );
        let name = record.file_name(snapshot.version);
        let path = files::write(&dir, &name, &record).map_err(|e| io_error(&dir, e))?;
        self.db
            .write(move |conn: &Connection| -> Result<(), CollectionsError> {
                Ok(store::record_migration(conn, &name)?)
            })
            .await?;
        Ok(Some(path))
    }
}

fn io_error(dir: &std::path::Path, e: std::io::Error) -> CollectionsError {
    CollectionsError::Schema(SchemaError::Corrupt {
        name: dir.display().to_string(),
        message: e.to_string(),
    })
}

fn file_error(file: &str, message: String) -> SchemaError {
    SchemaError::Corrupt {
        name: format!("migration file {file}"),
        message,
    }
}

fn as_object(v: Option<&Value>) -> Result<Map<String, Value>, SchemaError> {
    match v {
        Some(Value::Object(o)) => Ok(o.clone()),
        _ => Err(SchemaError::invalid(
            "collection",
            "validation_invalid_value",
            "expected a collection object",
        )),
    }
}

/// Replay one migration file's change.
fn apply_record(conn: &Connection, snapshot: &Snapshot, body: &Value) -> Result<(), SchemaError> {
    let str_of = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    match body.get("action").and_then(Value::as_str) {
        Some("create") => {
            create_in(conn, snapshot, &as_object(body.get("collection"))?)?;
        }
        Some("update") => {
            let mut c = as_object(body.get("collection"))?;
            if let Some(r) = body.get("rename").filter(|r| !r.is_null()) {
                c.insert("rename".into(), r.clone());
            }
            update_in(conn, snapshot, &str_of("id"), c)?;
        }
        Some("delete") => {
            delete_in(conn, snapshot, &str_of("id"))?;
        }
        Some("import") => {
            let list = match body.get("collections") {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| as_object(Some(v)))
                    .collect::<Result<Vec<_>, _>>()?,
                _ => {
                    return Err(SchemaError::invalid(
                        "collections",
                        "validation_invalid_value",
                        "expected an array",
                    ))
                }
            };
            let delete_missing = body
                .get("deleteMissing")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            import_in(conn, list, delete_missing)?;
        }
        other => {
            return Err(SchemaError::invalid(
                "action",
                "validation_invalid_value",
                format!("unknown action {other:?}"),
            ))
        }
    }
    Ok(())
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
                Ok(c) => imported_ids.push(c.id),
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
) -> Result<Collection, SchemaError> {
    let now = now_string();
    let resolve = |k: &str| snapshot.reference(k);
    let mut body = body.clone();
    if body.get("type").and_then(Value::as_str) == Some("view") {
        let query = body
            .get("viewQuery")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        body.insert("schema".into(), view_schema(conn, snapshot, &query, None)?);
    }
    let body = &body;
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
    check_expressions(snapshot, &c)?;
    if c.is_view() {
        ddl::create_view(conn, &c)?;
    } else {
        let table_of = |k: &str| snapshot.table_of(k);
        ddl::create(conn, &c, &table_of, &index_where)?;
    }
    store::insert(conn, &c)?;
    Ok(c)
}

/// Infer a view's schema; the other views are recreated first so a view may read one.
fn view_schema(
    conn: &Connection,
    snapshot: &Snapshot,
    query: &str,
    except: Option<&str>,
) -> Result<Value, SchemaError> {
    for v in snapshot
        .all()
        .iter()
        .filter(|c| c.is_view() && Some(c.id.as_str()) != except)
    {
        ddl::drop_view(conn, &v.name)?;
        ddl::create_view(conn, v)?;
    }
    let lookup = |table: &str| snapshot.get(table).cloned();
    let schema = ddl::infer_view_schema(conn, query, &lookup);
    for v in snapshot.all().iter().filter(|c| c.is_view()) {
        ddl::drop_view(conn, &v.name)?;
    }
    schema
}

/// (Re)create the SQL view of every view collection and check each one runs.
fn recreate_views(conn: &Connection, snapshot: &Snapshot) -> Result<(), SchemaError> {
    let views: Vec<&Collection> = snapshot
        .all()
        .iter()
        .filter(|c| c.is_view())
        .map(|c| &**c)
        .collect();
    for v in &views {
        ddl::drop_view(conn, &v.name)?;
    }
    for v in &views {
        ddl::create_view(conn, v).map_err(|e| {
            SchemaError::invalid(
                "name",
                "validation_view_dependency",
                format!("The view collection {:?} would break: {e}.", v.name),
            )
        })?;
    }
    ddl::check_views(conn, &views)
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
) -> Result<Collection, SchemaError> {
    let old = snapshot.get(key).cloned().ok_or(SchemaError::NotFound)?;
    if old.system {
        // Of a system auth collection (`_superusers`) only the auth options may change
        // (OTP, MFA, token durations): the rest of its definition stays as shipped.
        // Other keys are accepted only unchanged (a migration file repeats the whole
        // definition).
        let Value::Object(mut full) = old.to_json() else {
            return Err(SchemaError::System);
        };
        let changes_more = body.iter().any(|(k, v)| {
            !matches!(k.as_str(), "auth" | "created" | "updated") && full.get(k) != Some(v)
        });
        if !old.is_auth() || !body.contains_key("auth") || changes_more {
            return Err(SchemaError::System);
        }
        full.insert("auth".into(), body.remove("auth").unwrap_or(Value::Null));
        body = full;
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
    if old.is_view() {
        let query = match body.get("viewQuery") {
            Some(Value::String(q)) => q.clone(),
            Some(_) => String::new(),
            None => old.view_query.clone().unwrap_or_default(),
        };
        body.insert(
            "schema".into(),
            view_schema(conn, snapshot, &query, Some(&old.id))?,
        );
    }
    let mut new = compile(
        Definition {
            body: &body,
            existing: Some(&old),
            system: old.system,
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
    check_expressions(snapshot, &new)?;
    if !new.is_view() {
        let table_of = |k: &str| snapshot.table_of(k);
        ddl::update(conn, &old, &new, &renames, &table_of, &index_where)?;
    }
    store::update(conn, &new)?;
    if old.name != new.name {
        rename_references(conn, snapshot, &old, &new)?;
    }
    Ok(new)
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

fn delete_in(
    conn: &Connection,
    snapshot: &Snapshot,
    key: &str,
) -> Result<Arc<Collection>, SchemaError> {
    let c = snapshot.get(key).cloned().ok_or(SchemaError::NotFound)?;
    if c.system {
        return Err(SchemaError::System);
    }
    let referencing = snapshot.referencing(&c);
    if !referencing.is_empty() {
        return Err(SchemaError::Referenced(referencing));
    }
    if c.is_view() {
        ddl::drop_view(conn, &c.name)?;
    } else {
        // DROP TABLE fires no delete trigger: the OAuth2 links go here.
        crate::db::external_auths::delete_for_collection(conn, &c.id)?;
        ddl::drop_table(conn, &c)?;
    }
    store::delete(conn, &c.id)?;
    Ok(c)
}
