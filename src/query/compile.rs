//! Checker and compiler: AST → SQL text + bound parameters.
//!
//! Every identifier is resolved against the schema snapshot (unknown → error with its
//! span) and quoted by `schema::quote_ident`; every value is a bound parameter. The one
//! exception is [`Mode::Index`], whose SQL becomes part of a `CREATE INDEX … WHERE` and
//! cannot take parameters: there literals are rendered by [`sql_literal`].
//!
//! Multi-valued paths (multi relations, back-relations, `:each`, `@collection`) follow
//! PocketBase: the whole condition runs over LEFT JOINs shared per path, a row matches
//! when some joined combination satisfies it (here: one `EXISTS (…)` around the
//! condition, so rows are never duplicated and no `DISTINCT` is needed), and a plain
//! operator on a multi-valued path also requires that no related value fails it (a
//! `NOT EXISTS` over a fresh copy of the joins).

use std::collections::HashMap;

use rusqlite::types::Value as SqlValue;
use serde_json::Value;

use super::ast::{Comparison, Expr, Identifier, Op, Operand, Span};
use super::request::RequestInfo;
use super::QueryError;
use crate::schema::field::FieldKind;
use crate::schema::{quote_ident as q, Collection, Snapshot};

/// Most relations a path may go through (PocketBase's limit).
pub const MAX_RELATION_DEPTH: usize = 6;
/// Most joins one expression may add.
pub const MAX_JOINS: usize = 32;
/// Most sort keys.
pub const MAX_SORT_KEYS: usize = 8;

/// What the expression is for; decides what it may reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A client `filter`: non-superusers may not use `@request`, `@collection` or hidden
    /// fields, and collections reached through relations are restricted by their listRule.
    Filter,
    /// An API rule (written by a superuser): everything is allowed.
    Rule,
    /// A partial-index condition: only this collection's own columns and literals.
    Index,
}

/// What an expression is compiled against.
pub struct Scope<'a> {
    pub snapshot: &'a Snapshot,
    pub collection: &'a Collection,
    pub mode: Mode,
    pub request: &'a RequestInfo,
    /// SQL alias of the main table in the surrounding query.
    pub alias: &'a str,
}

/// SQL and its parameters, in order (`?` placeholders).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Compiled {
    pub sql: String,
    pub params: Vec<SqlValue>,
}

fn err(message: impl Into<String>, span: Span) -> QueryError {
    QueryError::new(message, span)
}

/// One LEFT JOIN of a multi- or single-valued path.
#[derive(Clone, Debug)]
struct Join {
    sql: String,
    params: Vec<SqlValue>,
}

/// A resolved operand.
#[derive(Clone, Debug)]
struct Value_ {
    sql: String,
    params: Vec<SqlValue>,
    /// The joins the value needs, in order (empty for plain columns and literals).
    joins: Vec<Join>,
    /// True when the path yields many values per row.
    multi: bool,
    /// True when the SQL can never be NULL (a NOT NULL column): `=` can use an index.
    not_null: bool,
    /// True for a literal or bound value (not a column).
    literal: bool,
    /// For `~`: a literal text right operand, wrapped in `%…%` unless it has a `%`.
    text: Option<String>,
}

impl Value_ {
    fn scalar(sql: String, params: Vec<SqlValue>, literal: bool) -> Self {
        Self {
            sql,
            params,
            joins: Vec::new(),
            multi: false,
            not_null: false,
            literal,
            text: None,
        }
    }
}

struct Compiler<'a> {
    scope: &'a Scope<'a>,
    aliases: usize,
    /// Shared joins by path key → (alias, join index).
    shared: HashMap<String, String>,
    shared_joins: Vec<Join>,
    fresh: bool,
}

/// Compile a filter or rule into a boolean SQL condition over `scope.alias`.
pub fn compile_where(expr: &Expr, scope: &Scope<'_>) -> Result<Compiled, QueryError> {
    let mut c = Compiler {
        scope,
        aliases: 0,
        shared: HashMap::new(),
        shared_joins: Vec::new(),
        fresh: false,
    };
    let (sql, params) = c.expr(expr)?;
    if c.shared_joins.len() > MAX_JOINS {
        return Err(err(
            format!("the expression needs more than {MAX_JOINS} joins"),
            Span::new(0, 0),
        ));
    }
    if c.shared_joins.is_empty() {
        return Ok(Compiled { sql, params });
    }
    let mut out = Compiled {
        sql: "EXISTS (SELECT 1 FROM (SELECT 1) AS _b".into(),
        params: Vec::new(),
    };
    for j in c.shared_joins {
        out.sql.push(' ');
        out.sql.push_str(&j.sql);
        out.params.extend(j.params);
    }
    out.sql.push_str(" WHERE ");
    out.sql.push_str(&sql);
    out.sql.push(')');
    out.params.extend(params);
    Ok(out)
}

impl Compiler<'_> {
    fn inline(&self) -> bool {
        self.scope.mode == Mode::Index
    }

    /// The alias of an already shared join for `key`, if any (never in fresh mode).
    fn shared_alias(&self, key: &str) -> Option<String> {
        if self.fresh {
            None
        } else {
            self.shared.get(key).cloned()
        }
    }

    /// Register a join made for `alias` under `key`.
    fn add_join(&mut self, key: &str, alias: &str, join: Join, joins: &mut Vec<Join>) {
        if self.fresh {
            joins.push(join);
        } else {
            self.shared.insert(key.to_owned(), alias.to_owned());
            self.shared_joins.push(join);
        }
    }

    fn next_alias(&mut self) -> String {
        self.aliases += 1;
        format!("_j{}", self.aliases)
    }

    fn expr(&mut self, e: &Expr) -> Result<(String, Vec<SqlValue>), QueryError> {
        match e {
            Expr::And(a, b) | Expr::Or(a, b) => {
                let (sa, mut pa) = self.expr(a)?;
                let (sb, pb) = self.expr(b)?;
                pa.extend(pb);
                let op = if matches!(e, Expr::And(..)) {
                    "AND"
                } else {
                    "OR"
                };
                Ok((format!("({sa} {op} {sb})"), pa))
            }
            Expr::Compare(c) => self.comparison(c),
        }
    }

    fn comparison(&mut self, c: &Comparison) -> Result<(String, Vec<SqlValue>), QueryError> {
        let left = self.operand(&c.left)?;
        let right = self.operand(&c.right)?;
        let (sql, mut params) = cmp_sql(c.op.base(), &left, &right, false, self.inline());
        let multi = left.multi || right.multi;
        if c.op.is_any() || !multi {
            return Ok((sql, params));
        }
        // ALL: no related value may fail the comparison (a fresh copy of the joins).
        let was_fresh = self.fresh;
        self.fresh = true;
        let fl = self.operand(&c.left)?;
        let fr = self.operand(&c.right)?;
        self.fresh = was_fresh;
        let (fsql, fparams) = cmp_sql(c.op.base(), &fl, &fr, true, self.inline());
        let mut sub = String::from("NOT EXISTS (SELECT 1 FROM (SELECT 1) AS _b");
        let mut sub_params = Vec::new();
        for j in fl.joins.iter().chain(fr.joins.iter()) {
            sub.push(' ');
            sub.push_str(&j.sql);
            sub_params.extend(j.params.iter().cloned());
        }
        sub.push_str(&format!(" WHERE NOT {fsql})"));
        sub_params.extend(fparams);
        params.extend(sub_params);
        Ok((format!("({sql} AND {sub})"), params))
    }

    fn operand(&mut self, o: &Operand) -> Result<Value_, QueryError> {
        match o {
            Operand::Text(t, _) => {
                let mut v = self.literal(SqlValue::Text(t.clone()));
                v.text = Some(t.clone());
                v.not_null = true;
                Ok(v)
            }
            Operand::Number(n, span) => {
                let value = number(n).ok_or_else(|| err(format!("invalid number {n}"), *span))?;
                let mut v = self.literal(value);
                v.not_null = true;
                Ok(v)
            }
            Operand::Function { name, args, span } => self.function(name, args, *span),
            Operand::Ident(i) => self.identifier(i),
        }
    }

    fn literal(&self, value: SqlValue) -> Value_ {
        if self.scope.mode == Mode::Index {
            Value_::scalar(sql_literal(&value), Vec::new(), true)
        } else {
            Value_::scalar("?".into(), vec![value], true)
        }
    }

    fn function(&mut self, name: &str, args: &[Operand], span: Span) -> Result<Value_, QueryError> {
        let mut compiled = Vec::with_capacity(args.len());
        for a in args {
            let v = self.operand(a)?;
            if v.multi {
                return Err(err("function arguments must be single values", a.span()));
            }
            compiled.push(v);
        }
        let join_args = |vals: &[Value_]| -> (String, Vec<SqlValue>) {
            let mut params = Vec::new();
            let sqls: Vec<String> = vals
                .iter()
                .map(|v| {
                    params.extend(v.params.iter().cloned());
                    v.sql.clone()
                })
                .collect();
            (sqls.join(", "), params)
        };
        match name {
            "strftime" => {
                if compiled.len() < 2 {
                    return Err(err(
                        "strftime(format, time, modifiers...) needs at least 2 arguments",
                        span,
                    ));
                }
                let (sql, params) = join_args(&compiled);
                Ok(Value_::scalar(format!("strftime({sql})"), params, false))
            }
            "geoDistance" => {
                if compiled.len() != 4 {
                    return Err(err(
                        "geoDistance(lonA, latA, lonB, latB) needs 4 arguments",
                        span,
                    ));
                }
                let (sql, params) = join_args(&compiled);
                Ok(Value_::scalar(
                    format!("kb_geo_distance({sql})"),
                    params,
                    false,
                ))
            }
            other => Err(err(
                format!("unknown function {other:?} (known: strftime, geoDistance)"),
                span,
            )),
        }
    }

    fn identifier(&mut self, id: &Identifier) -> Result<Value_, QueryError> {
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
    fn path(
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
                let mut v = Value_::scalar(column, Vec::new(), false);
                v.joins = joins;
                v.multi = multi;
                v.not_null = alias == self.scope.alias
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
                    let target =
                        self.scope
                            .snapshot
                            .get(&r.collection)
                            .cloned()
                            .ok_or_else(|| {
                                err(
                                    format!("relation {name:?} points to a missing collection"),
                                    span,
                                )
                            })?;
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

    /// For client filters by non-superusers: the ON-clause addition that applies the
    /// related collection's listRule (PocketBase §3.4). `null` rule → error.
    fn relation_rule(
        &mut self,
        target: &Collection,
        alias: &str,
        span: Span,
    ) -> Result<(String, Vec<SqlValue>), QueryError> {
        if self.scope.mode != Mode::Filter || self.scope.request.superuser {
            return Ok((String::new(), Vec::new()));
        }
        match target.rules.list.as_deref() {
            None => Err(err(
                format!(
                    "the {:?} collection can only be filtered by superusers",
                    target.name
                ),
                span,
            )),
            Some("") => Ok((String::new(), Vec::new())),
            Some(rule) => {
                let expr = super::parse(rule)
                    .map_err(|e| err(format!("listRule of {:?}: {e}", target.name), span))?;
                // The related collection's rule, over the joined row itself.
                let scope = Scope {
                    snapshot: self.scope.snapshot,
                    collection: target,
                    mode: Mode::Rule,
                    request: self.scope.request,
                    alias,
                };
                let compiled = compile_where(&expr, &scope)?;
                Ok((format!(" AND {}", compiled.sql), compiled.params))
            }
        }
    }

    /// Apply the identifier's modifier.
    fn modify(
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
    fn collection_value(&mut self, id: &Identifier) -> Result<Value_, QueryError> {
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

    /// `@request.*`: static values of this request, bound as parameters.
    fn request_value(&mut self, id: &Identifier) -> Result<Value_, QueryError> {
        let span = id.span;
        if self.scope.mode == Mode::Filter && !self.scope.request.superuser {
            return Err(err("Only superusers can filter by @request.", span).forbidden());
        }
        let req = self.scope.request;
        let part = id.path.get(1).map(String::as_str);
        let modifier = id.modifier.as_deref();
        let value: Value = match part {
            Some("context") if id.path.len() == 2 => Value::String(req.context.clone()),
            Some("method") if id.path.len() == 2 => Value::String(req.method.clone()),
            Some("query") if id.path.len() == 3 => {
                if modifier == Some("isset") {
                    return Ok(self.bool_literal(req.query_value(&id.path[2]).is_some()));
                }
                req.query_value(&id.path[2])
                    .map_or(Value::Null, |v| Value::String(v.to_owned()))
            }
            Some("headers") if id.path.len() == 3 => {
                if modifier == Some("isset") {
                    return Ok(self.bool_literal(req.header_value(&id.path[2]).is_some()));
                }
                req.header_value(&id.path[2])
                    .map_or(Value::Null, |v| Value::String(v.to_owned()))
            }
            Some("auth") if id.path.len() == 3 => {
                let field = id.path[2].as_str();
                match &req.auth {
                    None => Value::Null,
                    Some(a) => match field {
                        "collectionId" => Value::String(a.collection.id.clone()),
                        "collectionName" => Value::String(a.collection.name.clone()),
                        "password" | "tokenKey" => {
                            return Err(err(
                                format!("@request.auth.{field} is not available"),
                                span,
                            ))
                        }
                        f => a.record.get(f).cloned().unwrap_or(Value::Null),
                    },
                }
            }
            Some("auth") if id.path.len() > 3 => {
                // A relation of the authenticated record: join its row, then follow.
                let Some(a) = &req.auth else {
                    return Ok(self.literal(SqlValue::Null));
                };
                let auth_collection = a.collection.clone();
                let auth_id = a
                    .record
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                return self.follow_from_ids(
                    &auth_collection,
                    SqlValue::Text(auth_id),
                    false,
                    &id.path[2..],
                    id,
                    "@request.auth",
                );
            }
            Some("body") if id.path.len() == 2 => {
                return Err(err("@request.body needs a field", span))
            }
            Some("body") => {
                if id.path.len() > 3 {
                    // A relation field of the submitted body: join the records it names.
                    let field = id.path[2].as_str();
                    let f = self
                        .scope
                        .collection
                        .field(field)
                        .ok_or_else(|| err(format!("unknown field {field:?}"), span))?;
                    let FieldKind::Relation(r) = &f.kind else {
                        return Err(err(format!("{field:?} is not a relation"), span));
                    };
                    let target =
                        self.scope
                            .snapshot
                            .get(&r.collection)
                            .cloned()
                            .ok_or_else(|| {
                                err(
                                    format!("relation {field:?} points to a missing collection"),
                                    span,
                                )
                            })?;
                    let ids = match req.body.get(field) {
                        Some(Value::Array(items)) => Value::Array(items.clone()),
                        Some(Value::String(s)) if !s.is_empty() => {
                            Value::Array(vec![Value::String(s.clone())])
                        }
                        _ => Value::Array(Vec::new()),
                    };
                    return self.follow_from_ids(
                        &target,
                        SqlValue::Text(ids.to_string()),
                        true,
                        &id.path[3..],
                        id,
                        "@request.body",
                    );
                }
                let field = id.path[2].as_str();
                let submitted = req.body.get(field);
                match modifier {
                    Some("isset") => return Ok(self.bool_literal(submitted.is_some())),
                    Some("length") => {
                        let n = match submitted {
                            Some(Value::Array(a)) => a.len() as i64,
                            Some(Value::Null) | None => 0,
                            Some(_) => 1,
                        };
                        return Ok(self.literal(SqlValue::Integer(n)));
                    }
                    Some("changed") => {
                        let f = self
                            .scope
                            .collection
                            .field(field)
                            .ok_or_else(|| err(format!("unknown field {field:?}"), span))?;
                        let Some(submitted) = submitted else {
                            return Ok(self.bool_literal(false));
                        };
                        let stored = format!("{}.{}", self.scope.alias, q(&f.name));
                        let v = self.literal(json_to_sql(submitted));
                        let sql =
                            format!("(COALESCE({}, '') IS NOT COALESCE({stored}, ''))", v.sql);
                        let mut out = Value_::scalar(sql, v.params, false);
                        out.not_null = true;
                        return Ok(out);
                    }
                    Some("each") => {
                        let items = match submitted {
                            Some(Value::Array(a)) => Value::Array(a.clone()),
                            Some(Value::Null) | None => Value::Array(Vec::new()),
                            Some(other) => Value::Array(vec![other.clone()]),
                        };
                        let mut joins = Vec::new();
                        let key = format!("@request.body.{field}#each");
                        let text = items.to_string();
                        let a = match self.shared_alias(&key) {
                            Some(a) => a,
                            None => {
                                let a = self.next_alias();
                                let j = Join {
                                    sql: format!("LEFT JOIN json_each(?) AS {a}"),
                                    params: vec![SqlValue::Text(text)],
                                };
                                self.add_join(&key, &a, j, &mut joins);
                                a
                            }
                        };
                        let mut v = Value_::scalar(format!("{a}.value"), Vec::new(), false);
                        v.joins = joins;
                        v.multi = true;
                        return Ok(v);
                    }
                    _ => submitted.cloned().unwrap_or(Value::Null),
                }
            }
            _ => return Err(err(format!("unknown identifier {:?}", id.raw), span)),
        };
        match modifier {
            None => {
                let mut v = self.literal(json_to_sql(&value));
                v.text = value.as_str().map(str::to_owned);
                Ok(v)
            }
            Some("lower") => {
                let v = self.literal(json_to_sql(&value));
                Ok(Value_::scalar(format!("LOWER({})", v.sql), v.params, true))
            }
            Some("isset") => Ok(self.bool_literal(!value.is_null())),
            Some(other) => Err(err(format!("unknown modifier :{other} here"), span)),
        }
    }

    /// Join the records of `collection` with the given id (one bound id, or a bound JSON
    /// array of ids when `many`) and resolve `rest` from there.
    fn follow_from_ids(
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

    fn bool_literal(&self, b: bool) -> Value_ {
        let mut v = self.literal(SqlValue::Integer(i64::from(b)));
        v.not_null = true;
        v
    }
}

/// A one-row subquery holding `record` as the columns of `collection`, so a create rule
/// can run against the record as it would be saved (PocketBase evaluates createRule on
/// such a temporary row): `SELECT EXISTS (SELECT 1 FROM (<this>) AS _m WHERE <rule>)`.
pub fn virtual_row(collection: &Collection, record: &serde_json::Map<String, Value>) -> Compiled {
    let mut params = Vec::new();
    let mut cols = Vec::new();
    for name in collection.system_fields() {
        let v = record.get(name).cloned().unwrap_or(Value::Null);
        params.push(match (name, &v) {
            ("emailVisibility" | "verified", Value::Bool(b)) => SqlValue::Integer(i64::from(*b)),
            (_, Value::Null) if name != "id" => SqlValue::Text(String::new()),
            _ => json_to_sql(&v),
        });
        cols.push(format!("? AS {}", q(name)));
    }
    for f in &collection.fields {
        let v = record
            .get(&f.name)
            .cloned()
            .unwrap_or_else(|| f.kind.zero_value());
        params.push(crate::schema::value::encode(&f.kind, &v));
        cols.push(format!("? AS {}", q(&f.name)));
    }
    Compiled {
        sql: format!("SELECT {}", cols.join(", ")),
        params,
    }
}

/// The SQL of `left op right` (op without `?`). `strict` makes it never NULL (for use
/// under NOT).
fn cmp_sql(op: Op, l: &Value_, r: &Value_, strict: bool, inline: bool) -> (String, Vec<SqlValue>) {
    let mut params = l.params.clone();
    let sql = match op {
        Op::Eq | Op::Neq => {
            let negate = op == Op::Neq;
            // Index-friendly form when neither side can be NULL ('' and NULL are equal).
            let plain = l.not_null && r.not_null;
            params.extend(r.params.iter().cloned());
            match (plain, negate) {
                (true, false) => format!("({} = {})", l.sql, r.sql),
                (true, true) => format!("({} != {})", l.sql, r.sql),
                (false, false) => format!("(COALESCE({}, '') = COALESCE({}, ''))", l.sql, r.sql),
                (false, true) => {
                    format!("(COALESCE({}, '') IS NOT COALESCE({}, ''))", l.sql, r.sql)
                }
            }
        }
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
            params.extend(r.params.iter().cloned());
            let s = match op {
                Op::Gt => ">",
                Op::Gte => ">=",
                Op::Lt => "<",
                _ => "<=",
            };
            format!("({} {s} {})", l.sql, r.sql)
        }
        Op::Like | Op::NotLike if r.text.as_deref().is_some_and(|t| t.contains('\0')) => {
            // SQLite ends a LIKE pattern at NUL, which would match everything. Stored text
            // never holds NUL, so "contains NUL" is false (and "does not contain" true).
            if op == Op::Like {
                format!("({} IS NULL AND 0)", l.sql)
            } else {
                format!("({} IS NULL OR 1)", l.sql)
            }
        }
        Op::Like | Op::NotLike => {
            let not = if op == Op::NotLike { "NOT " } else { "" };
            let pattern = match (&r.text, r.literal) {
                (Some(t), true) if !has_unescaped_percent(t) => {
                    let pattern = SqlValue::Text(format!("%{}%", escape_like(t)));
                    if inline {
                        sql_literal(&pattern)
                    } else {
                        params.push(pattern);
                        "?".to_owned()
                    }
                }
                _ if r.literal => {
                    params.extend(r.params.iter().cloned());
                    r.sql.clone()
                }
                _ => {
                    params.extend(r.params.iter().cloned());
                    format!("('%' || {} || '%')", r.sql)
                }
            };
            format!("({} {not}LIKE {pattern} ESCAPE '\\')", l.sql)
        }
        _ => unreachable!("cmp_sql takes base operators"),
    };
    if strict {
        (format!("COALESCE({sql}, 0)"), params)
    } else {
        (sql, params)
    }
}

/// `x` when it holds valid JSON, else NULL. SQLite may substitute a compared constant for
/// a column (`tags = 'x' AND json_array_length(tags) > 0` becomes
/// `json_array_length('x')`), and JSON functions fail on malformed input: a filter must
/// never turn that into a 500.
pub(crate) fn json_safe(x: &str) -> String {
    format!("(CASE WHEN json_valid({x}) THEN {x} END)")
}

/// A column of `alias` (unqualified when the alias is empty, as index conditions need).
fn column(alias: &str, name: &str) -> String {
    if alias.is_empty() {
        q(name)
    } else {
        format!("{alias}.{}", q(name))
    }
}

/// True when a LIKE text holds a `%` not escaped by `\\` (then it is a raw pattern).
pub(crate) fn has_unescaped_percent(t: &str) -> bool {
    let mut escaped = false;
    for c in t.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '%' if !escaped => return true,
            _ => escaped = false,
        }
    }
    false
}

/// Escape LIKE wildcards so the text matches literally.
pub fn escape_like(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    for c in t.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A number literal as an SQL value: integers stay integers.
fn number(n: &str) -> Option<SqlValue> {
    if !n.contains('.') {
        if let Ok(i) = n.parse::<i64>() {
            return Some(SqlValue::Integer(i));
        }
    }
    n.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(SqlValue::Real)
}

/// A JSON value (from `@request.*`) as an SQL value, the way records store it.
pub fn json_to_sql(v: &Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => n
            .as_i64()
            .map(SqlValue::Integer)
            .unwrap_or_else(|| SqlValue::Real(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => SqlValue::Text(s.clone()),
        other => SqlValue::Text(other.to_string()),
    }
}

/// A literal rendered into SQL text, for index conditions only (which cannot bind).
/// SECURITY: strings are single-quoted with quotes doubled; numbers are printed by Rust.
pub fn sql_literal(v: &SqlValue) -> String {
    match v {
        SqlValue::Null => "NULL".into(),
        SqlValue::Integer(i) => i.to_string(),
        SqlValue::Real(f) => format!("{f:?}"),
        SqlValue::Text(t) => format!("'{}'", t.replace('\'', "''")),
        SqlValue::Blob(_) => "NULL".into(),
    }
}

/// The datetime macros (UTC), API.md §3.8.
pub fn datetime_macro(name: &str) -> Option<SqlValue> {
    use chrono::{Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
    let now = Utc::now();
    let fmt = |t: chrono::DateTime<Utc>| SqlValue::Text(crate::util::format_datetime(t));
    let day_start =
        |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists"));
    let day_end = |d: NaiveDate| {
        Utc.from_utc_datetime(&d.and_hms_milli_opt(23, 59, 59, 999).expect("valid time"))
    };
    let today = now.date_naive();
    let month_start = today.with_day(1)?;
    let next_month = if today.month() == 12 {
        NaiveDate::from_ymd_opt(today.year() + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(today.year(), today.month() + 1, 1)?
    };
    let month_end = next_month.pred_opt()?;
    Some(match name {
        "@now" => fmt(now),
        "@yesterday" => fmt(now - Duration::days(1)),
        "@tomorrow" => fmt(now + Duration::days(1)),
        "@todayStart" => fmt(day_start(today)),
        "@todayEnd" => fmt(day_end(today)),
        "@monthStart" => fmt(day_start(month_start)),
        "@monthEnd" => fmt(day_end(month_end)),
        "@yearStart" => fmt(day_start(NaiveDate::from_ymd_opt(today.year(), 1, 1)?)),
        "@yearEnd" => fmt(day_end(NaiveDate::from_ymd_opt(today.year(), 12, 31)?)),
        "@second" => SqlValue::Integer(i64::from(now.second())),
        "@minute" => SqlValue::Integer(i64::from(now.minute())),
        "@hour" => SqlValue::Integer(i64::from(now.hour())),
        "@day" => SqlValue::Integer(i64::from(now.day())),
        "@month" => SqlValue::Integer(i64::from(now.month())),
        "@weekday" => SqlValue::Integer(i64::from(now.weekday().num_days_from_sunday())),
        "@year" => SqlValue::Integer(i64::from(now.year())),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{parse, RequestInfo};
    use crate::schema::collection::{compile as compile_collection, CollectionRef, Definition};
    use rusqlite::Connection;
    use serde_json::json;

    pub(super) fn fixture_pub() -> (Connection, Snapshot) {
        fixture()
    }

    /// users (auth), posts, comments, tags — tables created in memory, with data.
    fn fixture() -> (Connection, Snapshot) {
        let conn = Connection::open_in_memory().unwrap();
        crate::query::functions::register(&conn).unwrap();
        fixture_on(conn)
    }

    fn fixture_on(conn: Connection) -> (Connection, Snapshot) {
        let defs = vec![
            json!({"id": "_pb_users_auth_", "name": "users", "type": "auth", "listRule": "id = @request.auth.id",
                   "schema": {"type": "object", "properties": {"name": {"type": "string"}, "secret": {"type": "string", "x-hidden": true}}}}),
            json!({"name": "tags", "listRule": "", "schema": {"type": "object", "properties": {"label": {"type": "string"}}}}),
            json!({"name": "posts", "listRule": "", "schema": {"type": "object", "properties": {
                "title": {"type": "string"}, "views": {"type": "integer"}, "published": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}}, "meta": {"type": "object"},
                "author": {"type": "string", "x-relation": {"collection": "users"}},
                "labels": {"type": "array", "items": {"type": "string"}, "x-relation": {"collection": "tags"}},
                "internal": {"type": "string", "x-hidden": true}
            }}}),
            json!({"name": "tasks", "schema": {"type": "object", "properties": {
                "title": {"type": "string"}, "priority": {"type": "integer"},
                "owner": {"type": "string", "x-relation": {"collection": "users"}}
            }}}),
            json!({"name": "comments", "listRule": "", "schema": {"type": "object", "properties": {
                "post": {"type": "string", "x-relation": {"collection": "posts"}},
                "message": {"type": "string"},
                "user": {"type": "string", "x-relation": {"collection": "users"}}
            }}}),
        ];
        let mut compiled: Vec<Collection> = Vec::new();
        for d in defs {
            let refs: Vec<CollectionRef> = compiled
                .iter()
                .map(|c| CollectionRef {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    kind: c.kind,
                    system: false,
                })
                .collect();
            let resolve = |k: &str| refs.iter().find(|r| r.id == k || r.name == k).cloned();
            let body = d.as_object().unwrap();
            let c = compile_collection(
                Definition {
                    body,
                    existing: None,
                    system: false,
                    now: "2026-01-01 00:00:00.000Z",
                    trusted: false,
                },
                &resolve,
            )
            .unwrap();
            let names: Vec<(String, String)> = compiled
                .iter()
                .map(|c| (c.id.clone(), c.name.clone()))
                .collect();
            let table_of = |k: &str| {
                names
                    .iter()
                    .find(|(id, n)| id == k || n == k)
                    .map(|(_, n)| n.clone())
            };
            crate::schema::ddl::create(&conn, &c, &table_of, &|_, _| Ok(None)).unwrap();
            compiled.push(c);
        }
        conn.execute_batch(
            r#"
            INSERT INTO users (id, email, emailVisibility, name, secret, tokenKey) VALUES
                ('alice0000000000', 'alice@example.com', 1, 'Alice', 's1', 'k1'),
                ('bob000000000000', 'bob@example.com', 0, 'Bob', 's2', 'k2');
            INSERT INTO tags (id, label) VALUES ('tagred000000000', 'red'), ('tagblue00000000', 'blue');
            INSERT INTO posts (id, title, views, published, tags, meta, author, labels, internal, created) VALUES
                ('p1', 'Hello World', 10, 1, '["a","b"]', '{"k":[1,2]}', 'alice0000000000', '["tagred000000000","tagblue00000000"]', 'x', '2024-01-01 00:00:00.000Z'),
                ('p2', 'Second_post', 600, 0, '["c"]', 'null', 'bob000000000000', '["tagred000000000"]', '', '2025-06-01 00:00:00.000Z'),
                ('p3', '100% sure', 0, 1, '[]', 'null', NULL, '[]', '', '2026-01-01 00:00:00.000Z');
            INSERT INTO tasks (id, title, priority, owner) VALUES
                ('t1', 'mine', 3, 'alice0000000000'),
                ('t2', 'theirs', 9, 'bob000000000000');
            INSERT INTO comments (id, post, message, user) VALUES
                ('c1', 'p1', 'first comment', 'alice0000000000'),
                ('c2', 'p1', 'second comment', 'bob000000000000'),
                ('c3', 'p2', 'third', 'alice0000000000');
            "#,
        )
        .unwrap();
        (conn, Snapshot::from_collections(1, compiled))
    }

    fn guest() -> RequestInfo {
        RequestInfo {
            method: "GET".into(),
            context: "default".into(),
            ..Default::default()
        }
    }

    fn superuser() -> RequestInfo {
        RequestInfo {
            superuser: true,
            ..guest()
        }
    }

    fn compile_for(
        snapshot: &Snapshot,
        collection: &str,
        filter: &str,
        mode: Mode,
        req: &RequestInfo,
    ) -> Result<Compiled, QueryError> {
        let c = snapshot.get(collection).unwrap();
        let expr = parse(filter)?;
        compile_where(
            &expr,
            &Scope {
                snapshot,
                collection: c,
                mode,
                request: req,
                alias: "_m",
            },
        )
    }

    /// Ids of `collection` rows matching `filter`.
    fn ids(
        conn: &Connection,
        snapshot: &Snapshot,
        collection: &str,
        filter: &str,
        req: &RequestInfo,
    ) -> Vec<String> {
        let w = compile_for(snapshot, collection, filter, Mode::Filter, req)
            .unwrap_or_else(|e| panic!("{filter}: {e}"));
        let sql = format!(
            "SELECT _m.id FROM {} AS _m WHERE {} ORDER BY _m.id",
            q(collection),
            w.sql
        );
        let mut stmt = conn
            .prepare(&sql)
            .unwrap_or_else(|e| panic!("{filter}\n{sql}\n{e}"));
        stmt.query_map(rusqlite::params_from_iter(w.params.iter()), |r| r.get(0))
            .unwrap()
            .collect::<Result<Vec<String>, _>>()
            .unwrap()
    }

    #[test]
    fn compiles_to_exact_sql_with_bound_values() {
        let (_, snap) = fixture();
        let c = compile_for(
            &snap,
            "posts",
            "title = 'x' && (views > 5 || published = true)",
            Mode::Filter,
            &guest(),
        )
        .unwrap();
        assert_eq!(
            c.sql,
            r#"((_m."title" = ?) AND ((_m."views" > ?) OR (_m."published" = ?)))"#
        );
        assert_eq!(
            c.params,
            vec![
                SqlValue::Text("x".into()),
                SqlValue::Integer(5),
                SqlValue::Integer(1)
            ]
        );
        let c = compile_for(&snap, "posts", "author = ''", Mode::Filter, &guest()).unwrap();
        assert_eq!(
            c.sql, r#"(COALESCE(_m."author", '') = COALESCE(?, ''))"#,
            "nullable relation: '' and NULL are equal"
        );
        let c = compile_for(&snap, "posts", "title ~ 'a_b%'", Mode::Filter, &guest()).unwrap();
        assert_eq!(
            c.params,
            vec![SqlValue::Text("a_b%".into())],
            "a % makes it a raw pattern"
        );
        let c = compile_for(&snap, "posts", "title ~ 'a_b'", Mode::Filter, &guest()).unwrap();
        assert_eq!(c.sql, r#"(_m."title" LIKE ? ESCAPE '\')"#);
        assert_eq!(c.params, vec![SqlValue::Text("%a\\_b%".into())]);
    }

    #[test]
    fn pocketbase_semantics_on_real_rows() {
        let (conn, snap) = fixture();
        let g = guest();
        let cases: &[(&str, &str, &[&str])] = &[
            ("posts", "title = 'hello world'", &[]),
            ("posts", "title = 'Hello World'", &["p1"]),
            ("posts", "title ~ 'hello'", &["p1"]),
            ("posts", "title ~ 'Hel%'", &["p1"]),
            ("posts", "title ~ '_post'", &["p2"]),
            ("posts", "title ~ '100%'", &["p3"]),
            ("posts", "title !~ 'o'", &["p3"]),
            ("posts", "author = ''", &["p3"]),
            ("posts", "author = null", &["p3"]),
            ("posts", "author != ''", &["p1", "p2"]),
            ("posts", "published = true", &["p1", "p3"]),
            ("posts", "published = false && views > 500", &["p2"]),
            (
                "posts",
                "views >= 10 || title = '100% sure'",
                &["p1", "p2", "p3"],
            ),
            ("posts", "created > '2025'", &["p2", "p3"]),
            ("posts", "tags ?= 'c'", &[]),
            ("posts", "tags:each ?= 'c'", &["p2"]),
            ("posts", "tags:each = 'c'", &["p2"]),
            ("posts", "tags:length = 2", &["p1"]),
            ("posts", "tags ~ 'c'", &["p2"]),
            ("posts", "meta.k.1 = 2", &["p1"]),
            ("posts", "meta.k = '[1,2]'", &["p1"]),
            ("posts", "labels.label ?= 'blue'", &["p1"]),
            ("posts", "labels.label = 'red'", &["p2"]),
            ("posts", "labels:length > 0", &["p1", "p2"]),
            ("posts", "labels.id ?= 'tagblue00000000'", &["p1"]),
            ("posts", "comments_via_post.message ~ 'comment'", &["p1"]),
            (
                "posts",
                "comments_via_post.message != 'zzz'",
                &["p1", "p2", "p3"],
            ),
            ("posts", "comments_via_post.message = ''", &["p3"]),
            ("posts", "comments_via_post.message ?~ 'second'", &["p1"]),
            ("posts", "title:lower = 'hello world'", &["p1"]),
            // SQLite propagates the constant into the JSON function: must not error.
            (
                "posts",
                "tags = 'x' && tags:length > 0 && meta.k = 'y' && meta.k.0 = 1",
                &[],
            ),
            (
                "posts",
                "geoDistance(23.5, 42.1, 23.5, 43.1) > 111 && geoDistance(0, 0, 0, 1) < 112",
                &["p1", "p2", "p3"],
            ),
            ("posts", "strftime('%Y', created) = '2025'", &["p2"]),
            ("comments", "post.title ~ 'Second'", &["c3"]),
            ("comments", "post.author.id = 'bob000000000000'", &["c3"]),
            ("comments", "post.views > 5 && message ~ 'first'", &["c1"]),
        ];
        for (collection, filter, expected) in cases {
            assert_eq!(
                ids(&conn, &snap, collection, filter, &g),
                *expected,
                "{collection}: {filter}"
            );
        }
        // Relation paths in client filters follow the related listRule: a guest cannot see users.
        assert!(ids(&conn, &snap, "comments", "post.author.name = 'Alice'", &g).is_empty());
        let alice = RequestInfo {
            auth: Some(crate::query::AuthRecord {
                collection: snap.get("users").unwrap().clone(),
                record: json!({"id": "alice0000000000", "name": "Alice"})
                    .as_object()
                    .unwrap()
                    .clone(),
            }),
            ..guest()
        };
        assert_eq!(
            ids(
                &conn,
                &snap,
                "comments",
                "post.author.name = 'Alice'",
                &alice
            ),
            ["c1", "c2"]
        );
        assert_eq!(
            ids(
                &conn,
                &snap,
                "comments",
                "post.author.name = 'Alice'",
                &superuser()
            ),
            ["c1", "c2"]
        );
        // @collection joins are shared per alias: the same comment must match both.
        let su = superuser();
        assert_eq!(
            ids(
                &conn,
                &snap,
                "posts",
                "@collection.comments.post ?= id && @collection.comments.message ?= 'third'",
                &su
            ),
            ["p2"]
        );
        assert_eq!(
            ids(
                &conn,
                &snap,
                "posts",
                "@collection.comments:a.post ?= id && @collection.comments:b.message ?= 'third'",
                &su
            ),
            ["p1", "p2"],
            "independent aliases"
        );
        // Emails are matched only where visible, for non-superusers.
        assert_eq!(
            ids(&conn, &snap, "users", "email = 'bob@example.com'", &su),
            ["bob000000000000"]
        );
        assert_eq!(
            ids(
                &conn,
                &snap,
                "users",
                "email = 'bob@example.com' || email = 'alice@example.com'",
                &alice
            ),
            ["alice0000000000"],
            "Bob's email is hidden, Alice's is visible"
        );
    }

    #[test]
    fn rules_see_the_request() {
        let (conn, snap) = fixture();
        let users = snap.get("users").unwrap().clone();
        let req = RequestInfo {
            auth: Some(crate::query::AuthRecord {
                collection: users,
                record: json!({"id": "alice0000000000", "name": "Alice", "verified": false})
                    .as_object()
                    .unwrap()
                    .clone(),
            }),
            method: "PATCH".into(),
            headers: vec![("x_token".into(), "abc".into())],
            query: vec![("secret".into(), "1".into())],
            body: json!({"title": "Hello World", "views": 3, "tags": ["a", "z"]})
                .as_object()
                .unwrap()
                .clone(),
            ..guest()
        };
        let run = |rule: &str| -> Vec<String> {
            let w = compile_for(&snap, "posts", rule, Mode::Rule, &req)
                .unwrap_or_else(|e| panic!("{rule}: {e}"));
            let sql = format!(
                "SELECT _m.id FROM posts AS _m WHERE {} ORDER BY _m.id",
                w.sql
            );
            let mut stmt = conn
                .prepare(&sql)
                .unwrap_or_else(|e| panic!("{rule}: {sql}: {e}"));
            stmt.query_map(rusqlite::params_from_iter(w.params.iter()), |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        assert_eq!(run("author = @request.auth.id"), ["p1"]);
        assert_eq!(
            run("@request.auth.id != '' && @request.method = 'PATCH'"),
            ["p1", "p2", "p3"]
        );
        assert_eq!(
            run("@request.headers.x_token = 'abc' && @request.query.secret = '1'").len(),
            3
        );
        assert_eq!(run("@request.body.title:changed = false"), ["p1"]);
        assert_eq!(
            run("@request.body.views:isset = true && @request.body.nope:isset = false").len(),
            3
        );
        assert_eq!(
            run("@request.body.tags:length = 2 && @request.body.tags:each ?= 'z'").len(),
            3
        );
        assert_eq!(
            run("@request.body.tags:each = 'a'").len(),
            0,
            "all submitted tags must equal 'a'"
        );
        assert_eq!(run("internal = 'x'"), ["p1"], "rules may use hidden fields");
        assert_eq!(
            run("@request.auth.verified = false && @request.auth.collectionName = 'users'").len(),
            3
        );
        assert_eq!(run("created <= @now && created >= @yearStart").len(), 1);
        assert_eq!(
            run("@request.auth.name = 'Alice'").len(),
            3,
            "a non-static auth field, from the record"
        );
        let with_author = RequestInfo {
            body: json!({"author": "bob000000000000", "labels": ["tagred000000000", "tagblue00000000"]}).as_object().unwrap().clone(),
            ..req.clone()
        };
        let run_with = |rule: &str, r: &RequestInfo| -> usize {
            let w = compile_for(&snap, "posts", rule, Mode::Rule, r)
                .unwrap_or_else(|e| panic!("{rule}: {e}"));
            let sql = format!("SELECT count(*) FROM posts AS _m WHERE {}", w.sql);
            conn.query_row(&sql, rusqlite::params_from_iter(w.params.iter()), |r| {
                r.get::<_, i64>(0)
            })
            .unwrap() as usize
        };
        assert_eq!(
            run_with("@request.body.author.name = 'Bob'", &with_author),
            3
        );
        assert_eq!(
            run_with("@request.body.author.name = 'Alice'", &with_author),
            0
        );
        assert_eq!(
            run_with("@request.body.labels.label ?= 'blue'", &with_author),
            3
        );
        assert_eq!(
            run_with("@request.body.labels.label = 'red'", &with_author),
            0,
            "all labels must be red"
        );
        assert_eq!(
            run_with("@request.auth.email ~ 'alice'", &with_author),
            0,
            "the record given has no email"
        );
    }

    /// The rule examples of API.md §4, on a tasks table (owner, priority) and comments.
    #[test]
    fn the_documented_rule_examples() {
        let (conn, snap) = fixture();
        let tasks = snap.get("tasks").unwrap().clone();
        let as_alice = |method: &str,
                        body: serde_json::Value,
                        headers: Vec<(String, String)>,
                        query: Vec<(String, String)>| RequestInfo {
            auth: Some(crate::query::AuthRecord {
                collection: snap.get("users").unwrap().clone(),
                record: json!({"id": "alice0000000000"})
                    .as_object()
                    .unwrap()
                    .clone(),
            }),
            method: method.into(),
            headers,
            query,
            body: body.as_object().unwrap().clone(),
            ..guest()
        };
        let rows = |rule: &str, req: &RequestInfo| -> Vec<String> {
            let w = compile_where(
                &parse(rule).unwrap(),
                &Scope {
                    snapshot: &snap,
                    collection: &tasks,
                    mode: Mode::Rule,
                    request: req,
                    alias: "_m",
                },
            )
            .unwrap_or_else(|e| panic!("{rule}: {e}"));
            let sql = format!(
                "SELECT _m.id FROM tasks AS _m WHERE {} ORDER BY _m.id",
                w.sql
            );
            let mut stmt = conn.prepare(&sql).unwrap();
            stmt.query_map(rusqlite::params_from_iter(w.params.iter()), |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        // createRule, checked on the record as it would be saved.
        let create = "@request.auth.id != '' && owner = @request.auth.id && (@request.body.priority:isset = false || @request.body.priority <= 5)";
        let allowed = |body: serde_json::Value, req: &RequestInfo| -> bool {
            let row = virtual_row(&tasks, body.as_object().unwrap());
            let w = compile_where(
                &parse(create).unwrap(),
                &Scope {
                    snapshot: &snap,
                    collection: &tasks,
                    mode: Mode::Rule,
                    request: req,
                    alias: "_m",
                },
            )
            .unwrap();
            let sql = format!(
                "SELECT EXISTS (SELECT 1 FROM ({}) AS _m WHERE {})",
                row.sql, w.sql
            );
            let params: Vec<SqlValue> = row.params.into_iter().chain(w.params).collect();
            conn.query_row(&sql, rusqlite::params_from_iter(params.iter()), |r| {
                r.get::<_, bool>(0)
            })
            .unwrap()
        };
        let mine = json!({"id": "new", "title": "x", "owner": "alice0000000000", "priority": 4});
        assert!(allowed(
            mine.clone(),
            &as_alice("POST", mine.clone(), vec![], vec![])
        ));
        let high = json!({"id": "new", "owner": "alice0000000000", "priority": 8});
        assert!(!allowed(
            high.clone(),
            &as_alice("POST", high, vec![], vec![])
        ));
        let others = json!({"id": "new", "owner": "bob000000000000"});
        assert!(!allowed(
            others.clone(),
            &as_alice("POST", others, vec![], vec![])
        ));
        assert!(!allowed(mine.clone(), &guest()), "guests are refused");
        // updateRule: the stored row, with @request.body.
        let update = "owner = @request.auth.id && @request.body.owner:changed = false";
        assert_eq!(
            rows(
                update,
                &as_alice("PATCH", json!({"title": "y"}), vec![], vec![])
            ),
            ["t1"]
        );
        assert_eq!(
            rows(
                update,
                &as_alice("PATCH", json!({"owner": "alice0000000000"}), vec![], vec![])
            ),
            ["t1"]
        );
        assert!(rows(
            update,
            &as_alice("PATCH", json!({"owner": "bob000000000000"}), vec![], vec![])
        )
        .is_empty());
        // listRule and viewRule with headers and query.
        let list = "@request.headers.x_token = 'abc' || owner = @request.auth.id";
        assert_eq!(
            rows(
                list,
                &as_alice(
                    "GET",
                    json!({}),
                    vec![("x_token".into(), "abc".into())],
                    vec![]
                )
            ),
            ["t1", "t2"]
        );
        assert_eq!(
            rows(list, &as_alice("GET", json!({}), vec![], vec![])),
            ["t1"]
        );
        assert_eq!(
            rows(
                "@request.query.secret = '1'",
                &as_alice(
                    "GET",
                    json!({}),
                    vec![],
                    vec![("secret".into(), "1".into())]
                )
            )
            .len(),
            2
        );
        // deleteRule with @collection: alice commented (c1, c3), so she may delete her own task.
        let delete = "@request.method = 'DELETE' && owner = @request.auth.id && @collection.comments.user ?= @request.auth.id";
        assert_eq!(
            rows(delete, &as_alice("DELETE", json!({}), vec![], vec![])),
            ["t1"]
        );
        assert!(rows(delete, &as_alice("GET", json!({}), vec![], vec![])).is_empty());
    }

    /// Doubling the input doubles the output: compile work is linear in the expression.
    #[test]
    fn compiled_size_grows_linearly() {
        let (_, snap) = fixture();
        let posts = snap.get("posts").unwrap();
        let mut last = 0usize;
        // Built as a tree directly: the parser's length and leaf limits would stop the
        // larger inputs before the compiler sees them.
        let term = parse("(title = 'v' || tags:each ?= 'x')").unwrap();
        for n in [25, 50, 100, 200, 400] {
            let mut expr = term.clone();
            for _ in 1..n {
                expr = Expr::And(Box::new(expr), Box::new(term.clone()));
            }
            let c = compile_where(
                &expr,
                &Scope {
                    snapshot: &snap,
                    collection: posts,
                    mode: Mode::Filter,
                    request: &guest(),
                    alias: "_m",
                },
            )
            .unwrap();
            let size = c.sql.len() + c.params.len();
            if last > 0 {
                let ratio = size as f64 / last as f64;
                assert!(
                    (1.8..2.3).contains(&ratio),
                    "n={n}: {last} → {size} ({ratio:.2})"
                );
            }
            last = size;
        }
        assert!(last > 0);
    }

    #[test]
    fn client_filters_are_checked() {
        let (_, snap) = fixture();
        let g = guest();
        let e = compile_for(&snap, "posts", "nope = 1", Mode::Filter, &g).unwrap_err();
        assert_eq!((e.span.start, e.span.end), (0, 4));
        assert!(e.message.contains("nope"));
        assert!(
            compile_for(&snap, "posts", "internal = 'x'", Mode::Filter, &g).is_err(),
            "hidden"
        );
        assert!(compile_for(&snap, "posts", "internal = 'x'", Mode::Filter, &superuser()).is_ok());
        assert!(compile_for(&snap, "posts", "password = 'x'", Mode::Filter, &superuser()).is_err());
        assert!(compile_for(&snap, "users", "tokenKey = 'x'", Mode::Filter, &superuser()).is_err());
        let e =
            compile_for(&snap, "posts", "@request.auth.id != ''", Mode::Filter, &g).unwrap_err();
        assert!(e.forbidden && e.message.contains("@request"));
        let e = compile_for(
            &snap,
            "posts",
            "@collection.comments.post ?= id",
            Mode::Filter,
            &g,
        )
        .unwrap_err();
        assert!(e.forbidden);
        assert!(compile_for(
            &snap,
            "posts",
            "comments_via_post:length > 1",
            Mode::Filter,
            &g
        )
        .is_err());
        assert!(compile_for(&snap, "posts", "title:length > 1", Mode::Filter, &g).is_err());
        assert!(compile_for(&snap, "posts", "title:bogus = 1", Mode::Filter, &g).is_err());
        assert!(compile_for(&snap, "posts", "views.x = 1", Mode::Filter, &g).is_err());
        assert!(compile_for(&snap, "posts", "nope(1) = 1", Mode::Filter, &g).is_err());
        let deep = "author.id = '' && comments_via_post.post.comments_via_post.post.comments_via_post.post.comments_via_post.post.id = ''";
        assert!(compile_for(&snap, "posts", deep, Mode::Filter, &g)
            .unwrap_err()
            .message
            .contains("deep"));
    }

    #[test]
    fn injection_attempts_stay_values() {
        let (conn, snap) = fixture();
        for evil in [
            "' OR 1=1 --",
            "\"; DROP TABLE posts; --",
            "%' OR '1'='1",
            "\u{0}",
            "a'b\"c\\d",
            "ß∂ƒ©˙∆",
            "9999999999999999999999999",
        ] {
            for template in ["title = '{}'", "title ~ '{}'", "meta.{} = 1"] {
                let filter = template.replace("{}", &evil.replace('\'', "\\'"));
                if let Ok(w) = compile_for(&snap, "posts", &filter, Mode::Filter, &guest()) {
                    {
                        if !template.starts_with("meta") {
                            assert!(!w.sql.contains(evil), "{filter}: {}", w.sql);
                        }
                        let sql = format!("SELECT count(*) FROM posts AS _m WHERE {}", w.sql);
                        let n: i64 = conn
                            .query_row(&sql, rusqlite::params_from_iter(w.params.iter()), |r| {
                                r.get(0)
                            })
                            .unwrap_or_else(|e| panic!("{filter}: {e}"));
                        assert_eq!(n, 0, "{filter}");
                    }
                }
            }
        }
        let n: i64 = conn
            .query_row("SELECT count(*) FROM posts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3);
    }

    #[test]
    fn index_conditions_inline_literals_safely() {
        let (conn, snap) = fixture();
        let c = compile_for(
            &snap,
            "posts",
            "title != '' && title != 'it''s' && views > 1.5",
            Mode::Index,
            &guest(),
        );
        assert!(
            c.is_err(),
            "'' inside quotes is not an escape in this grammar"
        );
        let w = compile_for(
            &snap,
            "posts",
            r"title != '' && title != 'it\'s' && views > 1.5",
            Mode::Index,
            &guest(),
        )
        .unwrap();
        assert!(w.params.is_empty());
        assert_eq!(
            w.sql,
            r#"(((_m."title" != '') AND (_m."title" != 'it''s')) AND (_m."views" > 1.5))"#
        );
        conn.execute_batch(&format!(
            "CREATE INDEX t ON posts (title) WHERE {}",
            w.sql.replace("_m.", "")
        ))
        .unwrap();
        assert!(compile_for(&snap, "posts", "author.name = 'x'", Mode::Index, &guest()).is_err());
        assert!(compile_for(&snap, "posts", "created > @now", Mode::Index, &guest()).is_err());
    }
}

/// The SQL compiler against the in-memory evaluator, on random expressions over real rows.
#[cfg(test)]
mod differential {
    use super::tests_support::*;
    use super::*;
    use crate::query::eval::{evaluate, Target};
    use crate::query::parse;
    use proptest::prelude::*;

    fn operand() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("title".to_owned()),
            Just("views".to_owned()),
            Just("published".to_owned()),
            Just("tags".to_owned()),
            Just("tags:each".to_owned()),
            Just("tags:length".to_owned()),
            Just("meta.k.0".to_owned()),
            Just("meta.k".to_owned()),
            Just("author".to_owned()),
            Just("author.id".to_owned()),
            Just("created".to_owned()),
            Just("id".to_owned()),
            Just("title:lower".to_owned()),
            Just("@request.body.title".to_owned()),
            Just("@request.body.tags:each".to_owned()),
            Just("@request.body.views:isset".to_owned()),
            Just("@request.body.title:changed".to_owned()),
            Just("@request.auth.id".to_owned()),
            prop::sample::select(vec![
                "''",
                "'a'",
                "'b'",
                "'Hello World'",
                "'hello'",
                "'%'",
                "'Hel%'",
                "'_'",
                "'10'",
                "'c'",
                "'2025'",
                "'alice0000000000'"
            ])
            .prop_map(str::to_owned),
            prop::sample::select(vec!["-1", "0", "1", "2", "10", "1.5", "600", "10.0"])
                .prop_map(str::to_owned),
            prop::sample::select(vec!["true", "false", "null"]).prop_map(str::to_owned),
        ]
    }

    fn comparison() -> impl Strategy<Value = String> {
        let ops = prop::sample::select(vec![
            "=", "!=", ">", ">=", "<", "<=", "~", "!~", "?=", "?!=", "?>", "?>=", "?<", "?<=",
            "?~", "?!~",
        ]);
        (operand(), ops, operand()).prop_map(|(l, o, r)| format!("{l} {o} {r}"))
    }

    fn expression() -> impl Strategy<Value = String> {
        comparison().prop_recursive(3, 12, 2, |inner| {
            (inner.clone(), prop::sample::select(vec!["&&", "||"]), inner)
                .prop_map(|(a, op, b)| format!("({a} {op} {b})"))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn sql_and_memory_agree(expr in expression()) {
            let (conn, snap, rows) = shared();
            let request = request(snap);
            let parsed = parse(&expr).unwrap();
            let posts = snap.get("posts").unwrap();
            let scope = Scope { snapshot: snap, collection: posts, mode: Mode::Rule, request: &request, alias: "_m" };
            let compiled = compile_where(&parsed, &scope).unwrap_or_else(|e| panic!("{expr}: {e}"));
            let sql = format!("SELECT _m.id FROM posts AS _m WHERE {} ORDER BY _m.id", compiled.sql);
            let mut stmt = conn.prepare(&sql).unwrap();
            let from_sql: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(compiled.params.iter()), |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("{expr}\n{sql}\n{:?}\n{e}", compiled.params));
            let mut from_memory = Vec::new();
            for (id, record) in rows {
                let target = Target { collection: posts, record, request: &request, mode: Mode::Rule };
                if evaluate(&parsed, &target).unwrap_or_else(|e| panic!("{expr}: {e}")) {
                    from_memory.push(id.clone());
                }
            }
            prop_assert_eq!(from_sql, from_memory, "{}\n{}", expr, sql);
        }
    }
}

#[cfg(test)]
mod tests_support {
    use std::sync::OnceLock;

    use rusqlite::Connection;
    use serde_json::{json, Map, Value};

    use crate::query::{AuthRecord, RequestInfo};
    use crate::schema::value::decode;
    use crate::schema::Snapshot;

    type Fixture = (
        std::sync::Mutex<Connection>,
        Snapshot,
        Vec<(String, Map<String, Value>)>,
    );
    type Shared = (
        std::sync::MutexGuard<'static, Connection>,
        &'static Snapshot,
        &'static [(String, Map<String, Value>)],
    );

    /// The compiler tests' fixture, loaded once, with every posts row decoded as the
    /// records API would read it.
    pub fn shared() -> Shared {
        static FIXTURE: OnceLock<Fixture> = OnceLock::new();
        let f = FIXTURE.get_or_init(|| {
            let (conn, snap) = super::tests::fixture_pub();
            conn.execute_batch(
                r#"INSERT INTO posts (id, title, views, published, tags, meta, author, created) VALUES
                    ('p4', '', -1, 0, '["a","c",""]', '{"k":[10,"x"]}', 'bob000000000000', ''),
                    ('p5', 'hello', 2, 1, '["b"]', '{"k":[]}', NULL, '2025-01-01 00:00:00.000Z')"#,
            )
            .unwrap();
            let posts = snap.get("posts").unwrap().clone();
            let mut rows = Vec::new();
            {
                let mut stmt = conn.prepare("SELECT * FROM posts ORDER BY id").unwrap();
                let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
                let mut q = stmt.query([]).unwrap();
                while let Some(r) = q.next().unwrap() {
                    let mut record = Map::new();
                    for (i, name) in names.iter().enumerate() {
                        let v = match posts.field(name) {
                            Some(f) => decode(&f.kind, r.get_ref(i).unwrap()),
                            None => decode(&crate::schema::FieldKind::Text, r.get_ref(i).unwrap()),
                        };
                        record.insert(name.clone(), v);
                    }
                    rows.push((record["id"].as_str().unwrap().to_owned(), record));
                }
            }
            (std::sync::Mutex::new(conn), snap, rows)
        });
        (f.0.lock().unwrap_or_else(|e| e.into_inner()), &f.1, &f.2)
    }

    pub fn request(snap: &Snapshot) -> RequestInfo {
        RequestInfo {
            auth: Some(AuthRecord {
                collection: snap.get("users").unwrap().clone(),
                record: json!({"id": "alice0000000000"})
                    .as_object()
                    .unwrap()
                    .clone(),
            }),
            method: "PATCH".into(),
            context: "default".into(),
            body: json!({"title": "hello", "tags": ["a", "b"], "views": 3})
                .as_object()
                .unwrap()
                .clone(),
            ..Default::default()
        }
    }
}
