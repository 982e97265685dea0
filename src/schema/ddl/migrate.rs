//! Updating a collection's table: rename the table and columns in place when that is
//! enough, otherwise rebuild it, converting and validating every changed value; then
//! check the relations that point out of it.

use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde_json::{Map, Value};

use super::indexes::{create_indexes, create_user_index, system_indexes};
use super::tables::{column_def, table_sql};
use super::triggers::{ensure_triggers, system_triggers};
use super::{IndexWhere, TargetTable, MAX_IDS};
use crate::schema::collection::{Collection, IndexDef};
use crate::schema::field::{Field, FieldKind};
use crate::schema::value::{convert, decode, encode, is_zero};
use crate::schema::{quote_ident as q, SchemaError};

const REBUILD_TABLE: &str = "_kb_rebuild";

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
