//! `expand`: inline related records (API.md §1.6), loaded per relation level in one
//! query each (no N+1), each level filtered by the related collection's viewRule for the
//! caller.

use std::collections::{BTreeMap, HashMap};

use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde_json::{Map, Value};

use super::{record_json, RecordsError};
use crate::query::{compile_where, parse, Mode, RequestInfo, Scope};
use crate::schema::field::FieldKind;
use crate::schema::value::string_list;
use crate::schema::{quote_ident as q, Collection, Snapshot};

/// Deepest relation chain an expand may follow (PocketBase's limit).
pub const MAX_DEPTH: usize = 6;
/// Most related records loaded per back-relation and parent.
const MAX_BACK: usize = 1000;

#[derive(Default, Debug)]
struct Tree(BTreeMap<String, Tree>);

fn parse_paths(expand: &str) -> Tree {
    let mut root = Tree::default();
    for path in expand
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .take(32)
    {
        let mut node = &mut root;
        for seg in path.split('.').take(MAX_DEPTH) {
            node = node.0.entry(seg.to_owned()).or_default();
        }
    }
    root
}

/// Load rows of `target` matching `where_sql` (over alias `_m`) plus its viewRule for
/// the caller. `None` when the caller may not view that collection at all.
fn load(
    conn: &Connection,
    snapshot: &Snapshot,
    target: &Collection,
    where_sql: &str,
    params: Vec<SqlValue>,
    request: &RequestInfo,
) -> Result<Option<Vec<Value>>, RecordsError> {
    let (manage_sql, mut manage_params) = super::manage_column(snapshot, target, request);
    let mut sql = format!(
        "SELECT _m.*{manage_sql} FROM {} AS _m WHERE {where_sql}",
        q(&target.name)
    );
    manage_params.extend(params);
    let mut params = manage_params;
    if !request.superuser {
        match target.rules.view.as_deref() {
            None => return Ok(None),
            Some(r) if r.trim().is_empty() => {}
            Some(rule) => {
                let scope = Scope {
                    snapshot,
                    collection: target,
                    mode: Mode::Rule,
                    request,
                    alias: "_m",
                };
                match parse(rule).and_then(|e| compile_where(&e, &scope)) {
                    Ok(c) => {
                        sql.push_str(&format!(" AND {}", c.sql));
                        params.extend(c.params);
                    }
                    // SECURITY: a rule that does not compile shows nothing.
                    Err(_) => return Ok(None),
                }
            }
        }
    }
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut names: Vec<String> = Vec::new();
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    let auth_id = request
        .auth
        .as_ref()
        .and_then(|a| a.record.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        if names.is_empty() {
            names = crate::db::row_names(row);
        }
        out.push(record_json(
            target,
            &names,
            row,
            request.superuser,
            auth_id.as_deref(),
        )?);
    }
    Ok(Some(out))
}

/// Expand `tree` on `items` (records of `collection`), recursively.
fn expand_level(
    conn: &Connection,
    snapshot: &Snapshot,
    collection: &Collection,
    items: &mut [Value],
    tree: &Tree,
    request: &RequestInfo,
) -> Result<(), RecordsError> {
    for (key, subtree) in &tree.0 {
        // A relation field of this collection…
        if let Some(FieldKind::Relation(r)) = collection.field(key).map(|f| &f.kind) {
            let Some(target) = snapshot.get(&r.collection).cloned() else {
                continue;
            };
            let mut all_ids: Vec<String> =
                items.iter().flat_map(|it| string_list(&it[key])).collect();
            all_ids.sort();
            all_ids.dedup();
            let loaded = if all_ids.is_empty() {
                Some(Vec::new())
            } else {
                let list = serde_json::to_string(&all_ids).unwrap_or_default();
                load(
                    conn,
                    snapshot,
                    &target,
                    "_m.\"id\" IN (SELECT value FROM json_each(?))",
                    vec![SqlValue::Text(list)],
                    request,
                )?
            };
            let Some(mut related) = loaded else {
                mark_attempted(items);
                continue;
            };
            expand_level(conn, snapshot, &target, &mut related, subtree, request)?;
            let by_id: HashMap<String, Value> = related
                .into_iter()
                .filter_map(|r| {
                    r.get("id")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .map(|id| (id, r))
                })
                .collect();
            for item in items.iter_mut() {
                let ids = string_list(&item[key]);
                let expand = ensure_expand(item);
                if r.multiple {
                    let found: Vec<Value> =
                        ids.iter().filter_map(|id| by_id.get(id).cloned()).collect();
                    if !found.is_empty() {
                        expand.insert(key.clone(), Value::Array(found));
                    }
                } else if let Some(found) = ids.first().and_then(|id| by_id.get(id)) {
                    expand.insert(key.clone(), found.clone());
                }
            }
            continue;
        }
        // …or a back-relation `<collection>_via_<field>`.
        let Some((source_name, field_name)) = key.split_once("_via_") else {
            continue;
        };
        let Some(source) = snapshot.get(source_name).cloned() else {
            continue;
        };
        let Some(FieldKind::Relation(back)) = source.field(field_name).map(|f| &f.kind) else {
            continue;
        };
        if snapshot
            .get(&back.collection)
            .is_none_or(|t| t.id != collection.id)
        {
            continue;
        }
        let parent_ids: Vec<String> = items
            .iter()
            .filter_map(|it| it["id"].as_str().map(str::to_owned))
            .collect();
        let list = serde_json::to_string(&parent_ids).unwrap_or_default();
        let col = q(field_name);
        let condition = if back.multiple {
            format!("EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(_m.{col}) THEN _m.{col} END) j WHERE j.value IN (SELECT value FROM json_each(?)))")
        } else {
            format!("_m.{col} IN (SELECT value FROM json_each(?))")
        };
        let Some(mut related) = load(
            conn,
            snapshot,
            &source,
            &condition,
            vec![SqlValue::Text(list)],
            request,
        )?
        else {
            mark_attempted(items);
            continue;
        };
        expand_level(conn, snapshot, &source, &mut related, subtree, request)?;
        let unique_single = !back.multiple
            && source.indexes.iter().any(|i| {
                i.unique && i.where_clause.is_none() && i.fields == [field_name.to_owned()]
            });
        for item in items.iter_mut() {
            let id = item["id"].as_str().unwrap_or("").to_owned();
            let mine: Vec<Value> = related
                .iter()
                .filter(|r| string_list(&r[field_name]).contains(&id))
                .take(MAX_BACK)
                .cloned()
                .collect();
            let expand = ensure_expand(item);
            if unique_single {
                if let Some(one) = mine.into_iter().next() {
                    expand.insert(key.clone(), one);
                }
            } else if !mine.is_empty() {
                expand.insert(key.clone(), Value::Array(mine));
            }
        }
    }
    Ok(())
}

/// The `expand` object of a record, created empty if missing.
fn ensure_expand(item: &mut Value) -> &mut Map<String, Value> {
    let obj = item.as_object_mut().expect("records are objects");
    obj.entry("expand")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .expect("expand is an object")
}

/// An expansion was attempted on a known relation: `expand` is present (maybe `{}`).
fn mark_attempted(items: &mut [Value]) {
    for item in items {
        ensure_expand(item);
    }
}

/// Apply the `expand` parameter to `items` of `collection`.
pub fn expand(
    conn: &Connection,
    snapshot: &Snapshot,
    collection: &Collection,
    items: &mut [Value],
    expand: &str,
    request: &RequestInfo,
) -> Result<(), RecordsError> {
    let tree = parse_paths(expand);
    if tree.0.is_empty() || items.is_empty() {
        return Ok(());
    }
    expand_level(conn, snapshot, collection, items, &tree, request)
}
