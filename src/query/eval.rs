//! An in-memory evaluator of the same AST against one record: for realtime checks, for
//! filtering the collection list, and as the test oracle of the SQL compiler.
//!
//! It follows SQLite's semantics as the compiler emits them (storage classes, affinity
//! of column references, NULL, `COALESCE(x, '')` equality, LIKE), for expressions over
//! the record's own fields and `@request.*`. Anything that needs another table
//! (relations beyond `rel.id`, back-relations, `@collection`) or SQLite's `strftime`
//! is [`EvalError::Unsupported`]: callers must then deny (fail closed).

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::ast::{Comparison, Expr, Identifier, Op, Operand};
use super::compile::{datetime_macro, escape_like, has_unescaped_percent, Mode};
use super::request::RequestInfo;
use crate::schema::field::FieldKind;
use crate::schema::Collection;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error("not supported in memory: {0}")]
    Unsupported(String),
    #[error("{0}")]
    Invalid(String),
}

/// An SQLite value.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlV {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl SqlV {
    fn is_numeric(&self) -> bool {
        matches!(self, SqlV::Int(_) | SqlV::Real(_))
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            SqlV::Int(i) => Some(*i as f64),
            SqlV::Real(f) => Some(*f),
            _ => None,
        }
    }

    /// SQLite's text rendering (for LIKE and TEXT affinity).
    fn to_text(&self) -> Option<String> {
        match self {
            SqlV::Null => None,
            SqlV::Int(i) => Some(i.to_string()),
            SqlV::Real(f) => Some(if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{f:.1}")
            } else {
                f.to_string()
            }),
            SqlV::Text(t) => Some(t.clone()),
        }
    }
}

/// A JSON value the way a column (or `json_extract`) holds it.
fn json_sql(v: &Value) -> SqlV {
    match v {
        Value::Null => SqlV::Null,
        Value::Bool(b) => SqlV::Int(i64::from(*b)),
        Value::Number(n) => n
            .as_i64()
            .map(SqlV::Int)
            .unwrap_or_else(|| SqlV::Real(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => SqlV::Text(s.clone()),
        other => SqlV::Text(other.to_string()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Affinity {
    None,
    Numeric,
    Text,
}

/// An evaluated operand.
struct Operand_ {
    values: Vec<SqlV>,
    multi: bool,
    /// For multi-valued operands: the path, which names the shared join in SQL.
    key: Option<String>,
    not_null: bool,
    affinity: Affinity,
    literal_text: Option<String>,
    literal: bool,
}

impl Operand_ {
    /// One value read from the record (not a literal).
    fn column(v: SqlV, not_null: bool, affinity: Affinity) -> Self {
        Self {
            values: vec![v],
            multi: false,
            key: None,
            not_null,
            affinity,
            literal_text: None,
            literal: false,
        }
    }

    /// The values of a multi-valued path `id` (`:each`, a JSON array of the body).
    fn each(values: Vec<SqlV>, id: &Identifier) -> Self {
        Self {
            values,
            multi: true,
            key: Some(id.raw.clone()),
            not_null: false,
            affinity: Affinity::None,
            literal_text: None,
            literal: false,
        }
    }

    fn one(v: SqlV, literal: bool) -> Self {
        let not_null = literal && v != SqlV::Null;
        Self {
            values: vec![v],
            multi: false,
            key: None,
            not_null,
            affinity: Affinity::None,
            literal_text: None,
            literal,
        }
    }
}

/// What the expression is evaluated against.
pub struct Target<'a> {
    pub collection: &'a Collection,
    /// The record as stored (all fields; relation singles unset as "").
    pub record: &'a Map<String, Value>,
    pub request: &'a RequestInfo,
    pub mode: Mode,
}

/// Largest number of join-row combinations evaluated before giving up.
const MAX_COMBINATIONS: usize = 10_000;

/// Evaluate `expr` for `target`.
///
/// Like the SQL (one `EXISTS` over LEFT JOINs shared per path), the expression holds if
/// some combination of one value per multi-valued path satisfies it; a plain operator on
/// a multi-valued path also checks every value (the SQL's `NOT EXISTS` over fresh joins).
pub fn evaluate(expr: &Expr, target: &Target<'_>) -> Result<bool, EvalError> {
    let mut sources: Vec<(String, usize)> = Vec::new();
    collect_sources(expr, target, &mut sources)?;
    let total = sources
        .iter()
        .try_fold(1usize, |acc, (_, n)| acc.checked_mul((*n).max(1)));
    let total = match total {
        Some(t) if t <= MAX_COMBINATIONS => t,
        _ => return Err(EvalError::Unsupported("too many value combinations".into())),
    };
    for mut index in 0..total {
        let mut combo = Vec::with_capacity(sources.len());
        for (key, n) in &sources {
            let n = (*n).max(1);
            combo.push((key.clone(), index % n));
            index /= n;
        }
        if eval_expr(expr, target, &combo)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn collect_sources(
    e: &Expr,
    t: &Target<'_>,
    out: &mut Vec<(String, usize)>,
) -> Result<(), EvalError> {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            collect_sources(a, t, out)?;
            collect_sources(b, t, out)
        }
        Expr::Compare(c) => {
            for o in [&c.left, &c.right] {
                let v = operand(o, t)?;
                if let (true, Some(key)) = (v.multi, v.key) {
                    if !out.iter().any(|(k, _)| k == &key) {
                        out.push((key, v.values.len()));
                    }
                }
            }
            Ok(())
        }
    }
}

fn eval_expr(e: &Expr, t: &Target<'_>, combo: &[(String, usize)]) -> Result<bool, EvalError> {
    match e {
        Expr::And(a, b) => Ok(eval_expr(a, t, combo)? && eval_expr(b, t, combo)?),
        Expr::Or(a, b) => Ok(eval_expr(a, t, combo)? || eval_expr(b, t, combo)?),
        Expr::Compare(c) => compare(c, t, combo),
    }
}

fn compare(c: &Comparison, t: &Target<'_>, combo: &[(String, usize)]) -> Result<bool, EvalError> {
    let l = operand(&c.left, t)?;
    let r = operand(&c.right, t)?;
    let op = c.op.base();
    let plain = l.not_null && r.not_null;
    let test = |a: &SqlV, b: &SqlV| -> bool { cmp_values(op, a, &l, b, &r, plain) == Some(true) };
    let all_values = |o: &Operand_| {
        if o.values.is_empty() {
            vec![SqlV::Null]
        } else {
            o.values.clone()
        }
    };
    // The value this join combination gives each operand.
    let current = |o: &Operand_| -> SqlV {
        if !o.multi {
            return o.values.first().cloned().unwrap_or(SqlV::Null);
        }
        let i = o
            .key
            .as_ref()
            .and_then(|k| combo.iter().find(|(key, _)| key == k))
            .map_or(0, |(_, i)| *i);
        o.values.get(i).cloned().unwrap_or(SqlV::Null)
    };
    let shared = test(&current(&l), &current(&r));
    if c.op.is_any() || !(l.multi || r.multi) {
        return Ok(shared);
    }
    let (lv, rv) = (all_values(&l), all_values(&r));
    Ok(shared && lv.iter().all(|a| rv.iter().all(|b| test(a, b))))
}

/// The comparison as the compiled SQL computes it; `None` is SQL NULL.
fn cmp_values(
    op: Op,
    a: &SqlV,
    la: &Operand_,
    b: &SqlV,
    rb: &Operand_,
    plain: bool,
) -> Option<bool> {
    match op {
        Op::Eq | Op::Neq => {
            if plain {
                let (a, b) = apply_affinity(a, la.affinity, b, rb.affinity);
                let eq = sql_cmp(&a, &b)? == Ordering::Equal;
                Some(if op == Op::Eq { eq } else { !eq })
            } else {
                // COALESCE(x, '') on both sides: no affinity, NULL becomes ''.
                let a = if *a == SqlV::Null {
                    SqlV::Text(String::new())
                } else {
                    a.clone()
                };
                let b = if *b == SqlV::Null {
                    SqlV::Text(String::new())
                } else {
                    b.clone()
                };
                let eq = sql_cmp(&a, &b) == Some(Ordering::Equal);
                Some(if op == Op::Eq { eq } else { !eq })
            }
        }
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
            let (a, b) = apply_affinity(a, la.affinity, b, rb.affinity);
            let o = sql_cmp(&a, &b)?;
            Some(match op {
                Op::Gt => o == Ordering::Greater,
                Op::Gte => o != Ordering::Less,
                Op::Lt => o == Ordering::Less,
                _ => o != Ordering::Greater,
            })
        }
        Op::Like | Op::NotLike => {
            let pattern = match (&rb.literal_text, rb.literal) {
                (Some(t), true) if t.contains('\0') => {
                    a.to_text()?;
                    return Some(op == Op::NotLike);
                }
                (Some(t), true) if !has_unescaped_percent(t) => format!("%{}%", escape_like(t)),
                _ if rb.literal => b.to_text()?,
                _ => format!("%{}%", b.to_text()?),
            };
            let m = like(&a.to_text()?, &pattern);
            Some(if op == Op::Like { m } else { !m })
        }
        _ => None,
    }
}

/// SQLite's comparison affinity rules for `a op b`.
fn apply_affinity(a: &SqlV, aa: Affinity, b: &SqlV, ba: Affinity) -> (SqlV, SqlV) {
    let numeric = |v: &SqlV| -> SqlV {
        match v {
            SqlV::Text(t) => {
                let t2 = t.trim();
                if let Ok(i) = t2.parse::<i64>() {
                    SqlV::Int(i)
                } else if let Ok(f) = t2.parse::<f64>() {
                    if f.is_finite() {
                        SqlV::Real(f)
                    } else {
                        v.clone()
                    }
                } else {
                    v.clone()
                }
            }
            other => other.clone(),
        }
    };
    let text = |v: &SqlV| -> SqlV {
        match v {
            SqlV::Int(_) | SqlV::Real(_) => SqlV::Text(v.to_text().unwrap_or_default()),
            other => other.clone(),
        }
    };
    match (aa, ba) {
        (Affinity::Numeric, Affinity::Text | Affinity::None) => (a.clone(), numeric(b)),
        (Affinity::Text | Affinity::None, Affinity::Numeric) => (numeric(a), b.clone()),
        (Affinity::Text, Affinity::None) => (a.clone(), text(b)),
        (Affinity::None, Affinity::Text) => (text(a), b.clone()),
        _ => (a.clone(), b.clone()),
    }
}

/// SQLite ordering of two values; `None` when either is NULL.
fn sql_cmp(a: &SqlV, b: &SqlV) -> Option<Ordering> {
    match (a, b) {
        (SqlV::Null, _) | (_, SqlV::Null) => None,
        (SqlV::Int(x), SqlV::Int(y)) => Some(x.cmp(y)),
        (x, y) if x.is_numeric() && y.is_numeric() => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (x, SqlV::Text(_)) if x.is_numeric() => Some(Ordering::Less),
        (SqlV::Text(_), y) if y.is_numeric() => Some(Ordering::Greater),
        (SqlV::Text(x), SqlV::Text(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

/// SQLite LIKE with `ESCAPE '\'`: `%`, `_`, ASCII case-insensitive.
pub fn like(text: &str, pattern: &str) -> bool {
    // Tokenise the pattern: literal chars (escape resolved), any-one, any-many.
    #[derive(Clone, Copy, PartialEq)]
    enum P {
        Lit(char),
        One,
        Many,
    }
    let mut pat = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => pat.push(P::Lit(n)),
                None => return false, // a trailing escape makes the pattern invalid
            },
            '%' => pat.push(P::Many),
            '_' => pat.push(P::One),
            c => pat.push(P::Lit(c)),
        }
    }
    let t: Vec<char> = text.chars().collect();
    // Dynamic programming over (pattern index, text index).
    let mut dp = vec![false; t.len() + 1];
    dp[0] = true;
    for p in &pat {
        let mut next = vec![false; t.len() + 1];
        match p {
            P::Many => {
                let mut seen = false;
                for i in 0..=t.len() {
                    seen |= dp[i];
                    next[i] = seen;
                }
            }
            P::One => {
                next[1..].copy_from_slice(&dp[..t.len()]);
            }
            P::Lit(c) => {
                for i in 0..t.len() {
                    next[i + 1] = dp[i] && t[i].eq_ignore_ascii_case(c);
                }
            }
        }
        dp = next;
    }
    dp[t.len()]
}

fn operand(o: &Operand, t: &Target<'_>) -> Result<Operand_, EvalError> {
    match o {
        Operand::Text(s, _) => {
            let mut v = Operand_::one(SqlV::Text(s.clone()), true);
            v.literal_text = Some(s.clone());
            Ok(v)
        }
        Operand::Number(n, _) => {
            let v = if !n.contains('.') {
                n.parse::<i64>()
                    .map(SqlV::Int)
                    .or_else(|_| n.parse::<f64>().map(SqlV::Real))
            } else {
                n.parse::<f64>().map(SqlV::Real)
            };
            Ok(Operand_::one(
                v.map_err(|_| EvalError::Invalid(format!("invalid number {n}")))?,
                true,
            ))
        }
        Operand::Function { name, args, .. } => {
            if name != "geoDistance" || args.len() != 4 {
                return Err(EvalError::Unsupported(format!("function {name}")));
            }
            let mut xs = Vec::new();
            for a in args {
                let v = operand(a, t)?;
                match v.values.first().and_then(SqlV::as_f64) {
                    Some(x) if !v.multi => xs.push(x),
                    _ => return Ok(Operand_::one(SqlV::Null, false)),
                }
            }
            let d = super::functions::geo_distance(xs[0], xs[1], xs[2], xs[3]);
            Ok(Operand_::one(SqlV::Real(d), false))
        }
        Operand::Ident(id) => identifier(id, t),
    }
}

fn identifier(id: &Identifier, t: &Target<'_>) -> Result<Operand_, EvalError> {
    let first = id.path[0].as_str();
    if first == "@request" {
        return request_value(id, t);
    }
    if first == "@collection" || first.contains("_via_") {
        return Err(EvalError::Unsupported(id.raw.clone()));
    }
    if first.starts_with('@') {
        if let Some(v) = datetime_macro(first) {
            return Ok(Operand_::one(
                match v {
                    rusqlite::types::Value::Integer(i) => SqlV::Int(i),
                    rusqlite::types::Value::Text(s) => SqlV::Text(s),
                    _ => SqlV::Null,
                },
                true,
            ));
        }
        return Err(EvalError::Invalid(format!("unknown identifier {}", id.raw)));
    }
    let c = t.collection;
    if id.path.len() == 1 && id.modifier.is_none() && c.field(first).is_none() {
        match first {
            "null" => return Ok(Operand_::one(SqlV::Null, true)),
            "true" => return Ok(Operand_::one(SqlV::Int(1), true)),
            "false" => return Ok(Operand_::one(SqlV::Int(0), true)),
            _ => {}
        }
    }
    let filter_guest = t.mode == Mode::Filter && !t.request.superuser;
    // System fields.
    if c.system_fields().contains(&first) && !["password", "tokenKey"].contains(&first) {
        if id.path.len() > 1 {
            return Err(EvalError::Invalid(format!("{first} has no fields")));
        }
        let raw = t.record.get(first).cloned().unwrap_or(Value::Null);
        let mut v = json_sql(&raw);
        let mut not_null = true;
        if first == "email" && filter_guest {
            let visible = t
                .record
                .get("emailVisibility")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if !visible {
                v = SqlV::Null;
            }
            not_null = false;
        }
        let affinity = if matches!(first, "emailVisibility" | "verified") {
            Affinity::Numeric
        } else {
            Affinity::Text
        };
        let out = Operand_::column(v, not_null, affinity);
        return modify(out, id, None);
    }
    let f = c
        .field(first)
        .ok_or_else(|| EvalError::Invalid(format!("unknown field {first}")))?;
    if f.hidden && filter_guest {
        return Err(EvalError::Invalid(format!("hidden field {first}")));
    }
    let raw = t
        .record
        .get(&f.name)
        .cloned()
        .unwrap_or_else(|| f.kind.zero_value());
    let stored = match (&f.kind, &raw) {
        (FieldKind::Relation(r), Value::String(s)) if !r.multiple && s.is_empty() => SqlV::Null,
        (k, v) if k.is_json() => SqlV::Text(v.to_string()),
        (FieldKind::Number, Value::Number(n)) => SqlV::Real(n.as_f64().unwrap_or(0.0)),
        (_, v) => json_sql(v),
    };
    let affinity = match f.kind {
        FieldKind::Integer | FieldKind::Bool | FieldKind::Number => Affinity::Numeric,
        _ => Affinity::Text,
    };
    let mut not_null = !matches!(&f.kind, FieldKind::Relation(r) if !r.multiple);
    if id.path.len() == 1 {
        // As the compiler: JSON `null` in an object/JSON property compares as NULL.
        let json_null =
            matches!(f.kind, FieldKind::Object | FieldKind::Json) && id.modifier.is_none();
        let stored = if json_null && raw.is_null() {
            SqlV::Null
        } else {
            stored
        };
        not_null &= !json_null;
        // `NULLIF(column, 'null')` is an expression: it has no column affinity.
        let affinity = if json_null { Affinity::None } else { affinity };
        let out = Operand_::column(stored, not_null, affinity);
        return modify(out, id, Some(&f.kind));
    }
    match &f.kind {
        FieldKind::Relation(r) if !r.multiple && id.path.len() == 2 && id.path[1] == "id" => {
            let out = Operand_::column(stored, false, affinity);
            modify(out, id, None)
        }
        FieldKind::Object | FieldKind::Json | FieldKind::Array => {
            let mut cur = Some(&raw);
            for seg in &id.path[1..] {
                cur = cur.and_then(|v| match v {
                    Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
                    Value::Object(o) => o.get(seg.as_str()),
                    _ => None,
                });
            }
            let v = cur.map_or(SqlV::Null, json_sql);
            let out = Operand_::column(v, false, Affinity::None);
            modify(out, id, None)
        }
        _ => Err(EvalError::Unsupported(id.raw.clone())),
    }
}

fn modify(
    mut v: Operand_,
    id: &Identifier,
    kind: Option<&FieldKind>,
) -> Result<Operand_, EvalError> {
    let Some(m) = id.modifier.as_deref() else {
        return Ok(v);
    };
    match m {
        "lower" => {
            v.values = v
                .values
                .into_iter()
                .map(|x| match x {
                    SqlV::Null => SqlV::Null,
                    other => SqlV::Text(other.to_text().unwrap_or_default().to_ascii_lowercase()),
                })
                .collect();
            v.not_null = false;
            v.affinity = Affinity::None;
            Ok(v)
        }
        "length" if kind.is_some_and(|k| k.is_multiple() || k.is_json()) => {
            v.values = v
                .values
                .into_iter()
                .map(|x| match x {
                    SqlV::Text(t) => match serde_json::from_str::<Value>(&t) {
                        Ok(Value::Array(a)) => SqlV::Int(a.len() as i64),
                        Ok(_) => SqlV::Int(0),
                        Err(_) => SqlV::Null,
                    },
                    _ => SqlV::Null,
                })
                .collect();
            v.affinity = Affinity::None;
            Ok(v)
        }
        "each" if kind.is_some_and(|k| k.is_multiple() || k.is_json()) => {
            let mut out = Vec::new();
            for x in &v.values {
                if let SqlV::Text(t) = x {
                    match serde_json::from_str::<Value>(t) {
                        Ok(Value::Array(a)) => out.extend(a.iter().map(json_sql)),
                        Ok(Value::Object(o)) => out.extend(o.values().map(json_sql)),
                        Ok(other) => out.push(json_sql(&other)),
                        Err(_) => return Err(EvalError::Invalid("malformed JSON".into())),
                    }
                }
            }
            Ok(Operand_::each(out, id))
        }
        other => Err(EvalError::Invalid(format!(
            "modifier :{other} is not valid here"
        ))),
    }
}

fn request_value(id: &Identifier, t: &Target<'_>) -> Result<Operand_, EvalError> {
    if t.mode == Mode::Filter && !t.request.superuser {
        return Err(EvalError::Invalid(
            "Only superusers can filter by @request.".into(),
        ));
    }
    let req = t.request;
    let part = id.path.get(1).map(String::as_str);
    let modifier = id.modifier.as_deref();
    let literal = |v: SqlV| -> Operand_ {
        let mut o = Operand_::one(v.clone(), true);
        if let SqlV::Text(s) = v {
            o.literal_text = Some(s);
        }
        o
    };
    let bool_lit = |b: bool| Operand_::one(SqlV::Int(i64::from(b)), true);
    let value: Value = match (part, id.path.len()) {
        (Some("context"), 2) => Value::String(req.context.clone()),
        (Some("method"), 2) => Value::String(req.method.clone()),
        (Some("query"), 3) => {
            let q = req.query_value(&id.path[2]);
            if modifier == Some("isset") {
                return Ok(bool_lit(q.is_some()));
            }
            q.map_or(Value::Null, |v| Value::String(v.to_owned()))
        }
        (Some("headers"), 3) => {
            let h = req.header_value(&id.path[2]);
            if modifier == Some("isset") {
                return Ok(bool_lit(h.is_some()));
            }
            h.map_or(Value::Null, |v| Value::String(v.to_owned()))
        }
        (Some("auth"), 3) => match &req.auth {
            None => Value::Null,
            Some(a) => match id.path[2].as_str() {
                "collectionId" => Value::String(a.collection.id.clone()),
                "collectionName" => Value::String(a.collection.name.clone()),
                "password" | "tokenKey" => return Err(EvalError::Invalid("not available".into())),
                f => a.record.get(f).cloned().unwrap_or(Value::Null),
            },
        },
        (Some("body"), 3) => {
            let field = id.path[2].as_str();
            let submitted = req.body.get(field);
            match modifier {
                Some("isset") => return Ok(bool_lit(submitted.is_some())),
                Some("length") => {
                    let n = match submitted {
                        Some(Value::Array(a)) => a.len() as i64,
                        Some(Value::Null) | None => 0,
                        Some(_) => 1,
                    };
                    return Ok(Operand_::one(SqlV::Int(n), true));
                }
                Some("each") => {
                    let items: Vec<SqlV> = match submitted {
                        Some(Value::Array(a)) => a.iter().map(json_sql).collect(),
                        Some(Value::Null) | None => Vec::new(),
                        Some(other) => vec![json_sql(other)],
                    };
                    return Ok(Operand_::each(items, id));
                }
                Some("changed") => {
                    let Some(submitted) = submitted else {
                        return Ok(bool_lit(false));
                    };
                    let f = t
                        .collection
                        .field(field)
                        .ok_or_else(|| EvalError::Invalid(format!("unknown field {field}")))?;
                    let stored = t.record.get(&f.name).cloned().unwrap_or(Value::Null);
                    let a = json_sql(submitted);
                    let b = json_sql(&stored);
                    let blank = |v: SqlV| {
                        if v == SqlV::Null {
                            SqlV::Text(String::new())
                        } else {
                            v
                        }
                    };
                    let same = sql_cmp(&blank(a), &blank(b)) == Some(Ordering::Equal);
                    // Computed per row in SQL: a value, not a literal.
                    let mut out = bool_lit(!same);
                    out.literal = false;
                    return Ok(out);
                }
                _ => submitted.cloned().unwrap_or(Value::Null),
            }
        }
        _ => return Err(EvalError::Unsupported(id.raw.clone())),
    };
    match modifier {
        None => Ok(literal(json_sql(&value))),
        Some("lower") => Ok(Operand_ {
            values: vec![match json_sql(&value) {
                SqlV::Null => SqlV::Null,
                other => SqlV::Text(other.to_text().unwrap_or_default().to_ascii_lowercase()),
            }],
            multi: false,
            key: None,
            not_null: false,
            affinity: Affinity::None,
            literal_text: None,
            literal: true,
        }),
        Some("isset") => Ok(bool_lit(!value.is_null())),
        Some(other) => Err(EvalError::Invalid(format!(
            "modifier :{other} is not valid here"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_matches_sqlite() {
        assert!(like("Hello World", "%hello%"));
        assert!(like("Hello", "H_llo"));
        assert!(!like("Hello", "H_lo"));
        assert!(like("100% sure", "%100\\%%"));
        assert!(!like("1000 sure", "%100\\%%"));
        assert!(like("a_b", "a\\_b"));
        assert!(!like("axb", "a\\_b"));
        assert!(like("", "%"));
        assert!(!like("x", ""));
    }
}
