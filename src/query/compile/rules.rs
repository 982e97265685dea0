//! What only rules see: `@request.*` values, the listRule applied to relations a client
//! filter reaches, and the virtual row a createRule runs against.

use rusqlite::types::Value as SqlValue;
use serde_json::Value;

use super::operators::json_to_sql;
use super::{compile_where, err, Compiled, Compiler, Join, Mode, Scope, Value_};
use crate::query::ast::{Identifier, Span};
use crate::query::QueryError;
use crate::schema::field::FieldKind;
use crate::schema::{quote_ident as q, Collection};

impl Compiler<'_> {
    /// For client filters by non-superusers: the ON-clause addition that applies the
    /// related collection's listRule (PocketBase §3.4). `null` rule → error.
    pub(super) fn relation_rule(
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
                let expr = crate::query::parse(rule)
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

    /// `@request.*`: static values of this request, bound as parameters.
    pub(super) fn request_value(&mut self, id: &Identifier) -> Result<Value_, QueryError> {
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
                    let target = self.relation_target(&r.collection, field, span)?;
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
