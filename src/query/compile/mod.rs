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

use super::ast::{Comparison, Expr, Operand, Span};
use super::request::RequestInfo;
use super::QueryError;
use crate::schema::{Collection, Snapshot};

mod functions;
mod operators;
mod paths;
mod rules;

pub use functions::datetime_macro;
use operators::{cmp_sql, number};
pub use operators::{escape_like, json_to_sql, sql_literal};
pub(crate) use operators::{has_unescaped_percent, json_safe};
pub use rules::virtual_row;

/// The SQL compiler against the in-memory evaluator, on random expressions over real rows.
#[cfg(test)]
mod differential;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_support;

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

    fn bool_literal(&self, b: bool) -> Value_ {
        let mut v = self.literal(SqlValue::Integer(i64::from(b)));
        v.not_null = true;
        v
    }
}
