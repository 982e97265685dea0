//! Identifiers and paths: fields, relations followed through LEFT JOINs (shared per
//! path, or fresh under NOT EXISTS), back-relations, `@collection`, and modifiers.

use rusqlite::types::Value as SqlValue;

use super::datetime_macro;
use super::operators::json_safe;
use super::{err, Compiler, Join, Mode, Value_, MAX_RELATION_DEPTH};
use crate::query::ast::{Identifier, Span};
use crate::query::QueryError;
use crate::schema::field::FieldKind;
use crate::schema::{quote_ident as q, Collection};

impl Compiler<'_> {
    /// The collection relation field `name` points to (by id or name).
    pub(super) fn relation_target(
        &self,
        target: &str,
        name: &str,
        span: Span,
    ) -> Result<std::sync::Arc<Collection>, QueryError> {
        self.scope.snapshot.get(target).cloned().ok_or_else(|| {
            err(
                format!("relation {name:?} points to a missing collection"),
                span,
            )
        })
    }

    pub(super) fn identifier(&mut self, id: &Identifier) -> Result<Value_, QueryError> {
        let first = id.path[0].as_str();
        let span = id.span;
        if self.scope.mode == Mode::Index && first.starts_with(['@', '#']) {
            return Err(err(
                "index conditions may only use this collection's fields and literals",
                span,
            ));
        }
        if first == "@request" {
            return self.request_value(id);
        }
        if first == "@collection" {
            return self.collection_value(id);
        }
        if first.starts_with('@') {
            if id.path.len() == 1 && id.modifier.is_none() {
                if let Some(v) = datetime_macro(first) {
                    return Ok(self.literal(v));
                }
            }
            return Err(err(format!("unknown identifier {:?}", id.raw), span));
        }
        // null / true / false, unless a field has that name.
        let has_field = self.scope.collection.field(first).is_some();
        if id.path.len() == 1 && id.modifier.is_none() && !has_field {
            match first {
                "null" => return Ok(self.literal(SqlValue::Null)),
                "true" => {
                    let mut v = self.literal(SqlValue::Integer(1));
                    v.not_null = true;
                    return Ok(v);
                }
                "false" => {
                    let mut v = self.literal(SqlValue::Integer(0));
                    v.not_null = true;
                    return Ok(v);
                }
                _ => {}
            }
        }
        let collection = self.scope.collection;
        let alias = self.scope.alias.to_owned();
        self.path(collection, &alias, &id.path, id, 0, false, Vec::new())
    }

    /// Resolve `path` starting at `collection` (table alias `alias`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn path(
        &mut self,
        collection: &Collection,
        alias: &str,
        path: &[String],
        id: &Identifier,
        depth: usize,
        multi: bool,
        mut joins: Vec<Join>,
    ) -> Result<Value_, QueryError> {
        let span = id.span;
        let name = path[0].as_str();
        let rest = &path[1..];
        let superuser = self.scope.request.superuser;
        let filter = self.scope.mode == Mode::Filter;
        let index = self.scope.mode == Mode::Index;
        let is_last = rest.is_empty();

        // System columns.
        if collection.system_fields().contains(&name) && !["password", "tokenKey"].contains(&name) {
            if !rest.is_empty() {
                return Err(err(format!("{name:?} has no fields"), span));
            }
            let mut sql = column(alias, name);
            if name == "email" && filter && !superuser {
                // SECURITY: non-superusers only match emails their owners made visible.
                sql = format!(
                    "(CASE WHEN {} = 1 THEN {sql} END)",
                    column(alias, "emailVisibility")
                );
            }
            let mut v = Value_::scalar(sql, Vec::new(), false);
            v.joins = joins;
            v.multi = multi;
            // A column reached through a LEFT JOIN can be NULL whatever its declaration.
            let joined = alias != self.scope.alias;
            v.not_null = !joined && (name != "email" || !filter || superuser);
            return self.modify(v, id, None);
        }

        if let Some(f) = collection.field(name) {
            // SECURITY: hidden fields are oracles in client filters; superusers only.
            if f.hidden && filter && !superuser {
                return Err(err(format!("unknown or hidden field {name:?}"), span));
            }
            let column = column(alias, &f.name);
            if is_last {
                // A JSON property holding JSON `null` (or never set) is `null` in a
                // comparison (API.md Part B §3.2); its modifiers still see the JSON text.
                let json_null =
                    matches!(f.kind, FieldKind::Object | FieldKind::Json) && id.modifier.is_none();
                let sql = if json_null {
                    format!("NULLIF({column}, 'null')")
                } else {
                    column
                };
                let mut v = Value_::scalar(sql, Vec::new(), false);
                v.joins = joins;
                v.multi = multi;
                v.not_null = alias == self.scope.alias
                    && !json_null
                    && !matches!(&f.kind, FieldKind::Relation(r) if !r.multiple);
                return self.modify(v, id, Some(&f.kind));
            }
            if index {
                return Err(err(
                    "index conditions cannot follow relations or JSON paths",
                    span,
                ));
            }
            match &f.kind {
                FieldKind::Relation(r) => {
                    if depth + 1 > MAX_RELATION_DEPTH {
                        return Err(err(
                            format!("relation paths go at most {MAX_RELATION_DEPTH} deep"),
                            span,
                        ));
                    }
                    let target = self.relation_target(&r.collection, name, span)?;
                    // `rel.id` is the column itself for single relations.
                    if !r.multiple && rest.len() == 1 && rest[0] == "id" {
                        let mut v = Value_::scalar(column, Vec::new(), false);
                        v.joins = joins;
                        v.multi = multi;
                        return self.modify(v, id, None);
                    }
                    let key = format!("{alias}.{name}");
                    let table = q(&target.name);
                    let new_alias = match self.shared_alias(&key) {
                        Some(a) => a,
                        None => {
                            let a = self.next_alias();
                            let (rule_sql, rule_params) = self.relation_rule(&target, &a, span)?;
                            let on = if r.multiple {
                                let each_key = format!("{key}#each");
                                let je = match self.shared_alias(&each_key) {
                                    Some(je) => je,
                                    None => {
                                        let je = self.next_alias();
                                        let j = Join {
                                            sql: format!(
                                                "LEFT JOIN json_each({}) AS {je}",
                                                json_safe(&column)
                                            ),
                                            params: Vec::new(),
                                        };
                                        self.add_join(&each_key, &je, j, &mut joins);
                                        je
                                    }
                                };
                                format!("{a}.\"id\" = {je}.value")
                            } else {
                                format!("{a}.\"id\" = {column}")
                            };
                            let j = Join {
                                sql: format!("LEFT JOIN {table} AS {a} ON {on}{rule_sql}"),
                                params: rule_params,
                            };
                            self.add_join(&key, &a, j, &mut joins);
                            a
                        }
                    };
                    self.path(
                        &target,
                        &new_alias,
                        rest,
                        id,
                        depth + 1,
                        multi || r.multiple,
                        joins,
                    )
                }
                FieldKind::Object | FieldKind::Json | FieldKind::Array => {
                    // A JSON path: meta.a.b.0 → json_extract(meta, '$.a.b[0]'), path bound.
                    let mut json_path = String::from("$");
                    for seg in rest {
                        if seg.bytes().all(|b| b.is_ascii_digit()) {
                            json_path.push_str(&format!("[{seg}]"));
                        } else {
                            json_path.push_str(&format!(".\"{}\"", seg.replace('"', "")));
                        }
                    }
                    let mut v = Value_::scalar(
                        format!("json_extract({}, ?)", json_safe(&column)),
                        vec![SqlValue::Text(json_path)],
                        false,
                    );
                    v.joins = joins;
                    v.multi = multi;
                    self.modify(v, id, None)
                }
                _ => Err(err(format!("{name:?} has no fields"), span)),
            }
        } else if let Some((source_name, field_name)) = name.split_once("_via_") {
            if index {
                return Err(err("index conditions cannot follow relations", span));
            }
            // A back-relation: records of `source` whose `field` points here.
            let source = self
                .scope
                .snapshot
                .get(source_name)
                .cloned()
                .ok_or_else(|| {
                    err(
                        format!("unknown collection {source_name:?} in {name:?}"),
                        span,
                    )
                })?;
            let back = source
                .field(field_name)
                .and_then(|f| match &f.kind {
                    FieldKind::Relation(r) => Some(r.clone()),
                    _ => None,
                })
                .ok_or_else(|| {
                    err(
                        format!("{source_name}.{field_name} is not a relation"),
                        span,
                    )
                })?;
            let points_here = self
                .scope
                .snapshot
                .get(&back.collection)
                .is_some_and(|t| t.id == collection.id);
            if !points_here {
                return Err(err(
                    format!(
                        "{source_name}.{field_name} does not relate to {}",
                        collection.name
                    ),
                    span,
                ));
            }
            if rest.is_empty() {
                return Err(err(format!("{name:?} needs a field, e.g. {name}.id"), span));
            }
            if id.modifier.as_deref() == Some("length") && rest.len() == 1 {
                return Err(err(":length is not supported on back-relations", span));
            }
            if depth + 1 > MAX_RELATION_DEPTH {
                return Err(err(
                    format!("relation paths go at most {MAX_RELATION_DEPTH} deep"),
                    span,
                ));
            }
            let table = q(&source.name);
            let col = q(field_name);
            let key = format!("{alias}.{name}");
            let new_alias = match self.shared_alias(&key) {
                Some(a) => a,
                None => {
                    let a = self.next_alias();
                    let (rule_sql, rule_params) = self.relation_rule(&source, &a, span)?;
                    let on = if back.multiple {
                        format!(
                            "EXISTS (SELECT 1 FROM json_each({}) WHERE value = {alias}.\"id\")",
                            json_safe(&format!("{a}.{col}"))
                        )
                    } else {
                        format!("{a}.{col} = {alias}.\"id\"")
                    };
                    let j = Join {
                        sql: format!("LEFT JOIN {table} AS {a} ON {on}{rule_sql}"),
                        params: rule_params,
                    };
                    self.add_join(&key, &a, j, &mut joins);
                    a
                }
            };
            self.path(&source, &new_alias, rest, id, depth + 1, true, joins)
        } else {
            Err(err(format!("unknown field {name:?}"), span))
        }
    }

    /// Apply the identifier's modifier.
    pub(super) fn modify(
        &mut self,
        mut v: Value_,
        id: &Identifier,
        kind: Option<&FieldKind>,
    ) -> Result<Value_, QueryError> {
        let Some(m) = id.modifier.as_deref() else {
            return Ok(v);
        };
        match m {
            "lower" => {
                v.sql = format!("LOWER({})", v.sql);
                v.not_null = false;
                Ok(v)
            }
            "length" => {
                let multiple = kind.is_some_and(|k| k.is_multiple() || k.is_json());
                if !multiple {
                    return Err(err(":length needs a multi-valued field", id.span));
                }
                v.sql = format!("json_array_length({})", json_safe(&v.sql));
                Ok(v)
            }
            "each" => {
                if self.inline() {
                    return Err(err("index conditions cannot use :each", id.span));
                }
                if !kind.is_some_and(|k| k.is_multiple() || k.is_json()) {
                    return Err(err(":each needs a multi-valued field", id.span));
                }
                let key = format!("{}#each", v.sql);
                let column = v.sql.clone();
                let mut joins = std::mem::take(&mut v.joins);
                let a = match self.shared_alias(&key) {
                    Some(a) => a,
                    None => {
                        let a = self.next_alias();
                        let j = Join {
                            sql: format!("LEFT JOIN json_each({}) AS {a}", json_safe(&column)),
                            params: Vec::new(),
                        };
                        self.add_join(&key, &a, j, &mut joins);
                        a
                    }
                };
                v.joins = joins;
                v.sql = format!("{a}.value");
                v.multi = true;
                v.not_null = false;
                Ok(v)
            }
            "isset" | "changed" => Err(err(
                format!(":{m} is only valid on @request.body fields"),
                id.span,
            )),
            other => Err(err(format!("unknown modifier :{other}"), id.span)),
        }
    }

    /// `@collection.<name>[:alias].<field…>`: a join with no condition of its own.
    pub(super) fn collection_value(&mut self, id: &Identifier) -> Result<Value_, QueryError> {
        let span = id.span;
        if self.scope.mode == Mode::Filter && !self.scope.request.superuser {
            return Err(err("Only superusers can filter by @collection.", span).forbidden());
        }
        if id.path.len() < 3 {
            return Err(err(
                "@collection needs a collection and a field: @collection.posts.title",
                span,
            ));
        }
        let target = self
            .scope
            .snapshot
            .get(&id.path[1])
            .cloned()
            .ok_or_else(|| err(format!("unknown collection {:?}", id.path[1]), span))?;
        let key = format!(
            "@collection.{}:{}",
            target.id,
            id.alias.as_deref().unwrap_or("")
        );
        let table = q(&target.name);
        let mut joins = Vec::new();
        let a = match self.shared_alias(&key) {
            Some(a) => a,
            None => {
                let a = self.next_alias();
                self.add_join(
                    &key,
                    &a,
                    Join {
                        sql: format!("LEFT JOIN {table} AS {a}"),
                        params: Vec::new(),
                    },
                    &mut joins,
                );
                a
            }
        };
        self.path(&target, &a, &id.path[2..], id, 1, true, joins)
    }

    /// Join the records of `collection` with the given id (one bound id, or a bound JSON
    /// array of ids when `many`) and resolve `rest` from there.
    pub(super) fn follow_from_ids(
        &mut self,
        collection: &std::sync::Arc<Collection>,
        ids: SqlValue,
        many: bool,
        rest: &[String],
        id: &Identifier,
        origin: &str,
    ) -> Result<Value_, QueryError> {
        if rest.is_empty() {
            return Err(err(format!("{origin} path needs a field"), id.span));
        }
        let key = format!("{origin}.{}#{}", collection.id, id.path.len());
        let mut joins = Vec::new();
        let alias = match self.shared_alias(&key) {
            Some(a) => a,
            None => {
                let a = self.next_alias();
                let table = q(&collection.name);
                let join = if many {
                    Join { sql: format!("LEFT JOIN {table} AS {a} ON {a}.\"id\" IN (SELECT value FROM json_each(?))"), params: vec![ids] }
                } else {
                    Join {
                        sql: format!("LEFT JOIN {table} AS {a} ON {a}.\"id\" = ?"),
                        params: vec![ids],
                    }
                };
                self.add_join(&key, &a, join, &mut joins);
                a
            }
        };
        self.path(collection, &alias, rest, id, 1, many, joins)
    }
}

/// A column of `alias` (unqualified when the alias is empty, as index conditions need).
pub(super) fn column(alias: &str, name: &str) -> String {
    if alias.is_empty() {
        q(name)
    } else {
        format!("{alias}.{}", q(name))
    }
}
