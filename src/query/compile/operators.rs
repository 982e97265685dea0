//! Operators and literals: the SQL of each comparison (PocketBase's NULL and `''`
//! equivalence, LIKE escaping), and literal values as bound or inlined SQL.

use rusqlite::types::Value as SqlValue;
use serde_json::Value;

use super::Value_;
use crate::query::ast::Op;

/// The SQL of `left op right` (op without `?`). `strict` makes it never NULL (for use
/// under NOT).
pub(super) fn cmp_sql(
    op: Op,
    l: &Value_,
    r: &Value_,
    strict: bool,
    inline: bool,
) -> (String, Vec<SqlValue>) {
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
pub(super) fn number(n: &str) -> Option<SqlValue> {
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
