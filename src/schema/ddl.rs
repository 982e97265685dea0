//! Keeping a collection's table in step with its definition.
//!
//! All of this runs inside one transaction on the writer, with foreign keys off (see
//! `Db::write_exclusive`) so a rebuild can drop and recreate a table that others reference
//! without cascading; each change ends with `PRAGMA foreign_key_check` on what it touched.
//!
//! - create: `CREATE TABLE … STRICT`, system indexes (created, auth email/tokenKey, one per
//!   single-relation column), the declared indexes, and on auth tables a delete trigger
//!   that drops the record's OAuth2 links.
//! - update: rename the table (references in other tables follow), rename columns in place
//!   when that is all that changed, otherwise rebuild: copy every row into a new table,
//!   converting and validating each changed value in Rust. Any row that cannot follow the
//!   change stops it: nothing is applied, and up to 10 offending ids are named.

use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde_json::{Map, Value};

use super::collection::{Collection, IndexDef};
use super::field::{Field, FieldKind};
use super::value::{convert, decode, encode, is_zero};
use super::{quote_ident as q, SchemaError};

/// Resolves a relation target (collection name or id) to its table name.
pub type TargetTable<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Compiles an index's `where` filter to SQL over unqualified columns (the query
/// compiler lives above this module and is passed in).
pub type IndexWhere<'a> = &'a dyn Fn(&Collection, &IndexDef) -> Result<Option<String>, SchemaError>;

const REBUILD_TABLE: &str = "_kb_rebuild";
/// Most offending record ids named in an error.
const MAX_IDS: usize = 10;

fn system_column_defs(c: &Collection) -> Vec<String> {
    let mut cols = vec![
        "\"id\" TEXT PRIMARY KEY NOT NULL CHECK (\"id\" != '')".to_owned(),
        "\"created\" TEXT NOT NULL DEFAULT ''".to_owned(),
        "\"updated\" TEXT NOT NULL DEFAULT ''".to_owned(),
    ];
    if c.is_auth() {
        cols.extend([
            "\"email\" TEXT NOT NULL DEFAULT '' COLLATE NOCASE".to_owned(),
            "\"emailVisibility\" INTEGER NOT NULL DEFAULT 0".to_owned(),
            "\"verified\" INTEGER NOT NULL DEFAULT 0".to_owned(),
            "\"password\" TEXT NOT NULL DEFAULT ''".to_owned(),
            "\"tokenKey\" TEXT NOT NULL DEFAULT ''".to_owned(),
        ]);
    }
    cols
}

/// The column definition of one field.
fn column_def(
    f: &Field,
    target_table: TargetTable<'_>,
    self_table: &str,
    self_refs: &[&str],
) -> Result<String, SchemaError> {
    let mut def = format!("{} {}", q(&f.name), f.kind.sql_type().as_sql());
    match (&f.kind, f.kind.sql_default()) {
        (FieldKind::Relation(r), None) => {
            let table = if self_refs.contains(&r.collection.as_str()) {
                self_table.to_owned()
            } else {
                target_table(&r.collection).ok_or_else(|| {
                    SchemaError::invalid(
                        "schema",
                        "invalid_schema",
                        format!(
                            "/properties/{}/x-relation/collection: unknown collection {:?}",
                            f.name, r.collection
                        ),
                    )
                })?
            };
            let on_delete = if r.cascade_delete {
                "CASCADE"
            } else if f.required {
                "RESTRICT"
            } else {
                "SET NULL"
            };
            def.push_str(&format!(
                " DEFAULT NULL REFERENCES {}(\"id\") ON DELETE {on_delete}",
                q(&table)
            ));
        }
        (_, Some(default)) => def.push_str(&format!(" NOT NULL DEFAULT {default}")),
        (_, None) => {}
    }
    Ok(def)
}

fn table_sql(
    c: &Collection,
    table: &str,
    target_table: TargetTable<'_>,
) -> Result<String, SchemaError> {
    let self_refs = [c.name.as_str(), c.id.as_str()];
    let mut cols = system_column_defs(c);
    for f in &c.fields {
        cols.push(column_def(f, target_table, &c.name, &self_refs)?);
    }
    Ok(format!(
        "CREATE TABLE {} (\n  {}\n) STRICT",
        q(table),
        cols.join(",\n  ")
    ))
}

/// Indexes Keelbase adds to every table of this collection, by name.
fn system_indexes(c: &Collection) -> Vec<(String, String)> {
    let t = q(&c.name);
    let mut v = vec![(
        format!("_idx_{}_created", c.id),
        format!(
            "CREATE INDEX {} ON {t} (\"created\")",
            q(&format!("_idx_{}_created", c.id))
        ),
    )];
    if c.is_auth() {
        let token = format!("_idx_{}_tokenKey", c.id);
        let email = format!("_idx_{}_email", c.id);
        v.push((
            token.clone(),
            format!(
                "CREATE UNIQUE INDEX {} ON {t} (\"tokenKey\") WHERE \"tokenKey\" != ''",
                q(&token)
            ),
        ));
        v.push((
            email.clone(),
            format!(
                "CREATE UNIQUE INDEX {} ON {t} (\"email\") WHERE \"email\" != ''",
                q(&email)
            ),
        ));
    }
    for f in &c.fields {
        if matches!(&f.kind, FieldKind::Relation(r) if !r.multiple) {
            let name = format!("_idx_{}_{}", c.id, f.name);
            v.push((
                name.clone(),
                format!("CREATE INDEX {} ON {t} ({})", q(&name), q(&f.name)),
            ));
        }
    }
    v
}

/// Triggers Keelbase adds to the table of a user auth collection, by name: deleting a
/// record deletes its OAuth2 links (`_externalAuths`), whether the delete comes from the
/// API, a truncate or a relation cascade. A link that outlived its record could attach a
/// provider account to a later record created with the same id.
///
/// Collections with an `x-file` property get a second one: deleting a record queues its
/// folder of stored files for removal (`_files_queue`, see `files`), in the deleting
/// transaction, however the delete comes. (It stays when the last file property goes;
/// it then queues folders that hold nothing, which is harmless.)
fn system_triggers(c: &Collection) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if c.is_view() || c.system {
        return out;
    }
    let id = c.id.replace('\'', "''");
    if c.is_auth() {
        let name = format!("_trg_{}_externalAuths", c.id);
        let sql = format!(
            "CREATE TRIGGER IF NOT EXISTS {} AFTER DELETE ON {} BEGIN \
             DELETE FROM _externalAuths WHERE collectionRef = '{id}' AND recordRef = OLD.\"id\"; END",
            q(&name),
            q(&c.name),
        );
        out.push((name, sql));
    }
    if c.fields
        .iter()
        .any(|f| matches!(f.kind, FieldKind::File(_)))
    {
        let name = format!("_trg_{}_files", c.id);
        let sql = format!(
            "CREATE TRIGGER IF NOT EXISTS {} AFTER DELETE ON {} BEGIN \
             INSERT INTO _files_queue (key, kind, created) \
             VALUES ('{id}/' || OLD.\"id\" || '/', 'delete', strftime('%Y-%m-%d %H:%M:%fZ', 'now')) \
             ON CONFLICT (key) DO UPDATE SET kind = 'delete'; END",
            q(&name),
            q(&c.name),
        );
        out.push((name, sql));
    }
    out
}

/// Create the system triggers of `c` that are missing (tables made before they existed).
pub fn ensure_triggers(conn: &Connection, c: &Collection) -> Result<(), SchemaError> {
    for (_, sql) in system_triggers(c) {
        conn.execute_batch(&sql)?;
    }
    Ok(())
}

/// Whether every system trigger of `c` exists.
pub fn has_triggers(conn: &Connection, c: &Collection) -> Result<bool, SchemaError> {
    for (name, _) in system_triggers(c) {
        let exists: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ?1)",
            [&name],
            |r| r.get(0),
        )?;
        if !exists {
            return Ok(false);
        }
    }
    Ok(true)
}

fn index_sql(c: &Collection, i: &IndexDef, where_sql: Option<&str>) -> String {
    let cols: Vec<String> = i.fields.iter().map(|f| q(f)).collect();
    let condition = where_sql.map_or_else(String::new, |w| format!(" WHERE {w}"));
    format!(
        "CREATE {}INDEX {} ON {} ({}){condition}",
        if i.unique { "UNIQUE " } else { "" },
        q(&i.name),
        q(&c.name),
        cols.join(", ")
    )
}

/// Ids of up to [`MAX_IDS`] rows that share their values of `fields` with another row.
fn duplicate_ids(
    conn: &Connection,
    c: &Collection,
    fields: &[String],
) -> Result<Vec<String>, SchemaError> {
    let cols: Vec<String> = fields.iter().map(|f| q(f)).collect();
    let cols = cols.join(", ");
    let sql = format!(
        "SELECT \"id\" FROM {t} WHERE ({cols}) IN (SELECT {cols} FROM {t} GROUP BY {cols} HAVING count(*) > 1) ORDER BY \"id\" LIMIT {MAX_IDS}",
        t = q(&c.name)
    );
    let mut stmt = conn.prepare(&sql)?;
    let ids = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(ids)
}

fn create_user_index(
    conn: &Connection,
    c: &Collection,
    i: &IndexDef,
    index_where: IndexWhere<'_>,
) -> Result<(), SchemaError> {
    let where_sql = index_where(c, i)?;
    match conn.execute_batch(&index_sql(c, i, where_sql.as_deref())) {
        Ok(()) => Ok(()),
        Err(e) => {
            let text = e.to_string();
            if text.contains("already exists") {
                return Err(SchemaError::invalid(
                    "indexes",
                    "invalid_index",
                    format!(
                        "index name {:?} is already used by another collection",
                        i.name
                    ),
                ));
            }
            if i.unique && text.contains("UNIQUE") {
                let ids = duplicate_ids(conn, c, &i.fields)?;
                return Err(SchemaError::Violation {
                    message: format!(
                        "unique index {:?} on ({}): existing records share values",
                        i.name,
                        i.fields.join(", ")
                    ),
                    ids,
                });
            }
            Err(e.into())
        }
    }
}

fn create_indexes(
    conn: &Connection,
    c: &Collection,
    index_where: IndexWhere<'_>,
) -> Result<(), SchemaError> {
    for (_, sql) in system_indexes(c) {
        conn.execute_batch(&sql)?;
    }
    for i in &c.indexes {
        create_user_index(conn, c, i, index_where)?;
    }
    ensure_triggers(conn, c)
}

/// Create the table of a new collection.
pub fn create(
    conn: &Connection,
    c: &Collection,
    target_table: TargetTable<'_>,
    index_where: IndexWhere<'_>,
) -> Result<(), SchemaError> {
    conn.execute_batch(&table_sql(c, &c.name, target_table)?)?;
    create_indexes(conn, c, index_where)
}

/// Drop the table of a deleted collection (its indexes go with it).
/// Its stored files are queued for removal in the same transaction (see `files`).
pub fn drop_table(conn: &Connection, c: &Collection) -> Result<(), SchemaError> {
    conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", q(&c.name)))?;
    conn.execute(
        "INSERT INTO _files_queue (key, kind, created) \
         VALUES (?1, 'delete', strftime('%Y-%m-%d %H:%M:%fZ', 'now')) \
         ON CONFLICT (key) DO UPDATE SET kind = 'delete'",
        [format!("{}/", c.id)],
    )?;
    Ok(())
}

/// Delete every record; returns how many. Runs with foreign keys on (a normal write), so
/// cascades and RESTRICT apply.
pub fn truncate(conn: &Connection, c: &Collection) -> Result<usize, SchemaError> {
    Ok(conn.execute(&format!("DELETE FROM {}", q(&c.name)), [])?)
}

/// Row ids (as record ids) that violate a foreign key of `table`.
fn foreign_key_violations(conn: &Connection, table: &str) -> Result<Vec<String>, SchemaError> {
    let mut stmt = conn.prepare(&format!("PRAGMA foreign_key_check({})", q(table)))?;
    let rowids: Vec<i64> = stmt
        .query_map([], |r| r.get::<_, Option<i64>>(1))?
        .filter_map(|r| r.ok().flatten())
        .take(MAX_IDS)
        .collect();
    let mut ids = Vec::new();
    for rowid in rowids {
        let id: String = conn.query_row(
            &format!("SELECT \"id\" FROM {} WHERE rowid = ?1", q(table)),
            [rowid],
            |r| r.get(0),
        )?;
        ids.push(id);
    }
    Ok(ids)
}

/// Records whose multi-relation `field` holds an id missing from the target table.
fn missing_multi_relation_ids(
    conn: &Connection,
    table: &str,
    field: &str,
    target: &str,
) -> Result<Vec<String>, SchemaError> {
    let sql = format!(
        "SELECT DISTINCT t.\"id\" FROM {t} AS t, json_each(t.{f}) AS j \
         WHERE NOT EXISTS (SELECT 1 FROM {target} AS x WHERE x.\"id\" = j.value) ORDER BY t.\"id\" LIMIT {MAX_IDS}",
        t = q(table),
        f = q(field),
        target = q(target)
    );
    let mut stmt = conn.prepare(&sql)?;
    let ids = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(ids)
}

/// A validator for one property on its own (with the root's `$defs`, so local references
/// still resolve).
fn property_validator(root: &Value, f: &Field) -> Result<jsonschema::Validator, SchemaError> {
    let mut doc = match &f.schema {
        Value::Object(o) => o.clone(),
        _ => Map::new(),
    };
    if let Some(defs) = root.get("$defs") {
        doc.insert("$defs".into(), defs.clone());
    }
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&Value::Object(doc))
        .map_err(|e| {
            SchemaError::invalid(
                "schema",
                "invalid_schema",
                format!("/properties/{}: {e}", f.name),
            )
        })
}

/// One column of the new table and where its values come from.
struct Source<'a> {
    field: &'a Field,
    old: Option<&'a Field>,
    /// The value or its constraints changed: convert and validate every row.
    check: bool,
}

/// Apply `new` over `old`. `renames` maps old property names to new ones.
pub fn update(
    conn: &Connection,
    old: &Collection,
    new: &Collection,
    renames: &[(String, String)],
    target_table: TargetTable<'_>,
    index_where: IndexWhere<'_>,
) -> Result<(), SchemaError> {
    if old.name != new.name {
        conn.execute_batch(&format!(
            "ALTER TABLE {} RENAME TO {}",
            q(&old.name),
            q(&new.name)
        ))?;
    }
    let renamed_from = |new_name: &str| -> Option<&str> {
        renames
            .iter()
            .find(|(_, to)| to == new_name)
            .map(|(from, _)| from.as_str())
    };
    let sources: Vec<Source<'_>> = new
        .fields
        .iter()
        .map(|f| {
            let old_field = match renamed_from(&f.name) {
                Some(from) => old.field(from),
                None => old.field(&f.name),
            };
            let check = old_field.is_none_or(|o| o.kind != f.kind || o.schema != f.schema);
            Source {
                field: f,
                old: old_field,
                check,
            }
        })
        .collect();

    let self_refs_old = [old.name.as_str(), old.id.as_str()];
    let self_refs_new = [new.name.as_str(), new.id.as_str()];
    let same_columns = old.fields.len() == new.fields.len()
        && sources.iter().all(|s| {
            s.old.is_some_and(|o| {
                let mut renamed = o.clone();
                renamed.name = s.field.name.clone();
                column_def(&renamed, target_table, &old.name, &self_refs_old).ok()
                    == column_def(s.field, target_table, &new.name, &self_refs_new).ok()
            })
        });

    if same_columns {
        for s in &sources {
            let from = &s
                .old
                .expect("same_columns means every field has a source")
                .name;
            if from != &s.field.name {
                conn.execute_batch(&format!(
                    "ALTER TABLE {} RENAME COLUMN {} TO {}",
                    q(&new.name),
                    q(from),
                    q(&s.field.name)
                ))?;
            }
        }
        check_rows(conn, new, &sources)?;
        // Indexes: drop the old ones that are gone or changed, create the new ones.
        let keep = |i: &IndexDef| new.indexes.iter().any(|n| n == i);
        for i in old.indexes.iter().filter(|i| !keep(i)) {
            conn.execute_batch(&format!("DROP INDEX IF EXISTS {}", q(&i.name)))?;
        }
        if old.id != new.id || old.name != new.name {
            for (name, _) in system_indexes(old) {
                conn.execute_batch(&format!("DROP INDEX IF EXISTS {}", q(&name)))?;
            }
            for (name, _) in system_triggers(old) {
                conn.execute_batch(&format!("DROP TRIGGER IF EXISTS {}", q(&name)))?;
            }
        }
        ensure_triggers(conn, new)?;
        let existing: Vec<String> = {
            let mut stmt = conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1")?;
            let names = stmt
                .query_map([&new.name], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            names
        };
        for (name, sql) in system_indexes(new) {
            if !existing.contains(&name) {
                conn.execute_batch(&sql)?;
            }
        }
        for i in new.indexes.iter().filter(|i| !old.indexes.contains(i)) {
            create_user_index(conn, new, i, index_where)?;
        }
    } else {
        rebuild(conn, new, &sources, target_table, index_where)?;
    }

    let violations = foreign_key_violations(conn, &new.name)?;
    if !violations.is_empty() {
        return Err(SchemaError::Violation {
            message: "existing records point to records missing from the new relation target"
                .into(),
            ids: violations,
        });
    }
    for s in sources.iter().filter(|s| s.check) {
        if let FieldKind::Relation(r) = &s.field.kind {
            if r.multiple {
                let target = if self_refs_new.contains(&r.collection.as_str()) {
                    new.name.clone()
                } else {
                    target_table(&r.collection).unwrap_or_default()
                };
                let ids = missing_multi_relation_ids(conn, &new.name, &s.field.name, &target)?;
                if !ids.is_empty() {
                    return Err(SchemaError::Violation {
                        message: format!(
                            "{:?}: existing records reference ids missing from {target:?}",
                            s.field.name
                        ),
                        ids,
                    });
                }
            }
        }
    }
    Ok(())
}

/// Collects offending rows: the first message and up to [`MAX_IDS`] ids.
#[derive(Default)]
struct Offenders {
    message: Option<String>,
    ids: Vec<String>,
    count: usize,
}

impl Offenders {
    fn add(&mut self, id: &str, message: impl FnOnce() -> String) {
        self.count += 1;
        if self.message.is_none() {
            self.message = Some(message());
        }
        if self.ids.len() < MAX_IDS {
            self.ids.push(id.to_owned());
        }
    }

    fn into_result(self) -> Result<(), SchemaError> {
        match self.message {
            None => Ok(()),
            Some(m) => Err(SchemaError::Violation {
                message: format!(
                    "{} existing record(s) would violate the change; first: {m}",
                    self.count
                ),
                ids: self.ids,
            }),
        }
    }
}

/// The new value of one cell, or why the row cannot follow the change.
fn new_value(
    s: &Source<'_>,
    raw: Option<rusqlite::types::ValueRef<'_>>,
    validator: Option<&jsonschema::Validator>,
) -> Result<Value, String> {
    let f = s.field;
    let v = match (s.old, raw) {
        (Some(old), Some(raw)) => {
            let current = decode(&old.kind, raw);
            if old.kind == f.kind {
                current
            } else {
                convert(&current, &f.kind).ok_or_else(|| {
                    format!("{:?} cannot become {} ({current})", f.name, f.kind.label())
                })?
            }
        }
        _ => match &f.default {
            Some(d) => d.clone(),
            None if f.required => {
                return Err(format!("{:?} is required and has no default", f.name));
            }
            None => f.kind.zero_value(),
        },
    };
    if let Some(validator) = validator {
        if !is_zero(&f.kind, &v) || f.required {
            if let Some(e) = validator.iter_errors(&v).next() {
                return Err(format!("{:?}: {e}", f.name));
            }
        }
    }
    Ok(v)
}

fn validators<'a>(
    c: &Collection,
    sources: &'a [Source<'a>],
) -> Result<Vec<Option<jsonschema::Validator>>, SchemaError> {
    sources
        .iter()
        .map(|s| {
            if s.check {
                property_validator(&c.schema, s.field).map(Some)
            } else {
                Ok(None)
            }
        })
        .collect()
}

/// Without a rebuild: check the rows against properties whose constraints changed.
fn check_rows(
    conn: &Connection,
    c: &Collection,
    sources: &[Source<'_>],
) -> Result<(), SchemaError> {
    let checked: Vec<usize> = (0..sources.len()).filter(|i| sources[*i].check).collect();
    if checked.is_empty() {
        return Ok(());
    }
    let validators = validators(c, sources)?;
    let cols: Vec<String> = checked.iter().map(|i| q(&sources[*i].field.name)).collect();
    let mut stmt = conn.prepare(&format!(
        "SELECT \"id\", {} FROM {}",
        cols.join(", "),
        q(&c.name)
    ))?;
    let mut rows = stmt.query([])?;
    let mut offenders = Offenders::default();
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        for (n, i) in checked.iter().enumerate() {
            let s = &sources[*i];
            if let Err(m) = new_value(s, Some(row.get_ref(n + 1)?), validators[*i].as_ref()) {
                offenders.add(&id, || m);
            }
        }
    }
    offenders.into_result()
}

/// Copy every row into a table with the new columns, then swap the tables.
fn rebuild(
    conn: &Connection,
    new: &Collection,
    sources: &[Source<'_>],
    target_table: TargetTable<'_>,
    index_where: IndexWhere<'_>,
) -> Result<(), SchemaError> {
    conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", q(REBUILD_TABLE)))?;
    conn.execute_batch(&table_sql(new, REBUILD_TABLE, target_table)?)?;
    let system: Vec<&str> = new.system_fields();
    let old_cols: Vec<String> = sources
        .iter()
        .filter_map(|s| s.old.map(|o| q(&o.name)))
        .collect();
    let select_cols: Vec<String> = system.iter().map(|c| q(c)).chain(old_cols).collect();
    let insert_cols: Vec<String> = system
        .iter()
        .map(|c| q(c))
        .chain(sources.iter().map(|s| q(&s.field.name)))
        .collect();
    let placeholders: Vec<String> = (1..=insert_cols.len()).map(|i| format!("?{i}")).collect();
    let validators = validators(new, sources)?;

    let mut select = conn.prepare(&format!(
        "SELECT {} FROM {}",
        select_cols.join(", "),
        q(&new.name)
    ))?;
    let mut insert = conn.prepare(&format!(
        "INSERT INTO {} ({}) VALUES ({})",
        q(REBUILD_TABLE),
        insert_cols.join(", "),
        placeholders.join(", ")
    ))?;
    let mut rows = select.query([])?;
    let mut offenders = Offenders::default();
    let mut values: Vec<SqlValue> = Vec::with_capacity(insert_cols.len());
    while let Some(row) = rows.next()? {
        values.clear();
        for i in 0..system.len() {
            values.push(row.get::<_, SqlValue>(i)?);
        }
        let id = match &values[0] {
            SqlValue::Text(t) => t.clone(),
            _ => String::new(),
        };
        let mut column = system.len();
        let mut row_ok = true;
        for (n, s) in sources.iter().enumerate() {
            let raw = if s.old.is_some() {
                let r = row.get_ref(column)?;
                column += 1;
                Some(r)
            } else {
                None
            };
            match new_value(s, raw, validators[n].as_ref()) {
                Ok(v) => values.push(encode(&s.field.kind, &v)),
                Err(m) => {
                    offenders.add(&id, || m);
                    row_ok = false;
                    values.push(SqlValue::Null);
                }
            }
        }
        if row_ok && offenders.message.is_none() {
            insert.execute(rusqlite::params_from_iter(values.iter()))?;
        }
    }
    std::mem::drop(rows);
    std::mem::drop(select);
    std::mem::drop(insert);
    offenders.into_result()?;
    conn.execute_batch(&format!("DROP TABLE {}", q(&new.name)))?;
    conn.execute_batch(&format!(
        "ALTER TABLE {} RENAME TO {}",
        q(REBUILD_TABLE),
        q(&new.name)
    ))?;
    create_indexes(conn, new, index_where)
}

fn view_error(message: impl Into<String>) -> SchemaError {
    SchemaError::invalid("viewQuery", "validation_invalid_value", message)
}

/// Check a view query and infer its JSON Schema.
///
/// The query must be one read-only `SELECT` (or `WITH … SELECT`) with an `id` column and
/// a plain name for every column. It may read collection tables only: a query that
/// touches a system table (`_superusers`, `_params`, …) or selects `password`/`tokenKey`
/// is refused, since whatever a view returns can be exposed through the records API.
/// A column taken straight from a collection keeps that property's schema; other
/// columns get a type from their declared type, or none (a JSON value).
pub fn infer_view_schema(
    conn: &Connection,
    query: &str,
    collection_of_table: &dyn Fn(&str) -> Option<std::sync::Arc<Collection>>,
) -> Result<Value, SchemaError> {
    let query = query.trim().trim_end_matches(';').trim();
    if query.is_empty() {
        return Err(view_error("Cannot be blank."));
    }
    if query.len() > 20_000 {
        return Err(view_error("At most 20000 characters."));
    }
    let first = query
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    if first != "SELECT" && first != "WITH" {
        return Err(view_error("Must be a single SELECT statement."));
    }
    let stmt = conn
        .prepare(query)
        .map_err(|e| view_error(format!("Invalid query: {e}.")))?;
    if !stmt.readonly() {
        return Err(view_error("Must be a read-only SELECT statement."));
    }
    // SECURITY: find every table the query reads (the b-trees it opens), whatever the
    // SQL text looks like, and refuse system tables.
    let mut explain = conn
        .prepare(&format!("EXPLAIN {query}"))
        .map_err(|e| view_error(format!("Invalid query: {e}.")))?;
    // EXPLAIN rows: addr, opcode, p1, p2, p3, …; OpenRead's p2 is a root page, p3 the
    // database (0 = main).
    let roots: Vec<i64> = explain
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(1)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?
        .filter_map(Result::ok)
        .filter(|(op, _, db)| (op == "OpenRead" || op == "ReopenIdx") && *db == 0)
        .map(|(_, root, _)| root)
        .collect();
    for root in roots {
        if root == 1 {
            return Err(view_error(
                "Views cannot read the system table \"sqlite_master\".",
            ));
        }
        let table: Option<String> = conn
            .query_row(
                "SELECT tbl_name FROM sqlite_master WHERE rootpage = ?1",
                [root],
                |r| r.get(0),
            )
            .ok();
        if let Some(t) = table {
            if t.starts_with('_') || t.to_ascii_lowercase().starts_with("sqlite_") {
                return Err(view_error(format!(
                    "Views cannot read the system table {t:?}."
                )));
            }
        }
    }

    let decl: Vec<Option<String>> = stmt
        .columns()
        .iter()
        .map(|c| c.decl_type().map(str::to_owned))
        .collect();
    let mut properties = Map::new();
    let mut seen = std::collections::HashSet::new();
    let mut has_id = false;
    for (i, col) in stmt.columns_with_metadata().iter().enumerate() {
        let name = col.name();
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && name.len() <= 64;
        if !valid {
            return Err(view_error(format!(
                "Column {} ({name:?}) needs a plain name: add `AS some_name`.",
                i + 1
            )));
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(view_error(format!("Two columns are named {name:?}.")));
        }
        let origin = col.table_name().zip(col.origin_name());
        if let Some((_, origin_col)) = origin {
            if origin_col == "password" || origin_col == "tokenKey" {
                return Err(view_error(format!(
                    "Column {name:?}: views cannot expose {origin_col}."
                )));
            }
        }
        if name == "id" {
            has_id = true;
            continue;
        }
        if ["collectionId", "collectionName", "expand"].contains(&name) {
            return Err(view_error(format!("Column {name:?} is a reserved name.")));
        }
        let from_collection = origin.and_then(|(table, column)| {
            let c = collection_of_table(table)?;
            if let Some(f) = c.field(column) {
                return Some(f.schema.clone());
            }
            match column {
                "created" | "updated" => {
                    Some(serde_json::json!({"type": "string", "format": "date-time"}))
                }
                "email" => Some(serde_json::json!({"type": "string"})),
                "emailVisibility" | "verified" => Some(serde_json::json!({"type": "boolean"})),
                "id" => Some(serde_json::json!({"type": "string"})),
                _ => None,
            }
        });
        let schema = from_collection.unwrap_or_else(|| {
            let t = decl[i].as_deref().unwrap_or("").to_ascii_uppercase();
            if t.contains("INT") {
                serde_json::json!({"type": "integer"})
            } else if t.contains("REAL")
                || t.contains("FLOA")
                || t.contains("DOUB")
                || t.contains("NUM")
            {
                serde_json::json!({"type": "number"})
            } else if t.contains("TEXT") || t.contains("CHAR") || t.contains("CLOB") {
                serde_json::json!({"type": "string"})
            } else {
                serde_json::json!({})
            }
        });
        properties.insert(name.to_owned(), schema);
    }
    if !has_id {
        return Err(view_error(
            "The query must return an \"id\" column (e.g. `SELECT id, …` or `… AS id`).",
        ));
    }
    Ok(serde_json::json!({"type": "object", "properties": properties}))
}

/// Create the SQL view of a view collection.
pub fn create_view(conn: &Connection, c: &Collection) -> Result<(), SchemaError> {
    let query = c
        .view_query
        .as_deref()
        .unwrap_or("")
        .trim()
        .trim_end_matches(';');
    conn.execute_batch(&format!("CREATE VIEW {} AS {query}", q(&c.name)))?;
    Ok(())
}

pub fn drop_view(conn: &Connection, name: &str) -> Result<(), SchemaError> {
    conn.execute_batch(&format!("DROP VIEW IF EXISTS {}", q(name)))?;
    Ok(())
}

/// After a change, check that every view still runs; `Err` names the first broken one.
pub fn check_views(conn: &Connection, views: &[&Collection]) -> Result<(), SchemaError> {
    for v in views {
        if let Err(e) = conn.prepare(&format!("SELECT * FROM {} LIMIT 0", q(&v.name))) {
            return Err(SchemaError::invalid(
                "name",
                "validation_view_dependency",
                format!("The view collection {:?} depends on this change's target and would break: {e}.", v.name),
            ));
        }
    }
    Ok(())
}
