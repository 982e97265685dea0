//! The `sort` parameter: `-field,+field,field`, `@random`, `@rowid`, relation paths.

use super::ast::Span;
use super::compile::{Mode, Scope, MAX_RELATION_DEPTH, MAX_SORT_KEYS};
use super::QueryError;
use crate::schema::field::FieldKind;
use crate::schema::{quote_ident as q, Collection};

/// Longest single sort key.
const MAX_KEY_LENGTH: usize = 255;

/// Compile a sort list into an `ORDER BY` body (no parameters are needed: every part is
/// an identifier from the schema).
pub fn compile_sort(sort: &str, scope: &Scope<'_>) -> Result<String, QueryError> {
    let mut out = Vec::new();
    let mut offset = 0;
    for raw in sort.split(',') {
        let start = offset + (raw.len() - raw.trim_start().len());
        offset += raw.len() + 1;
        let key = raw.trim();
        let span = Span::new(start, start + key.len());
        if key.is_empty() {
            continue;
        }
        if out.len() == MAX_SORT_KEYS {
            return Err(QueryError::new(
                format!("at most {MAX_SORT_KEYS} sort fields"),
                span,
            ));
        }
        if key.len() > MAX_KEY_LENGTH {
            return Err(QueryError::new(
                format!("a sort field is at most {MAX_KEY_LENGTH} characters"),
                span,
            ));
        }
        let (desc, name) = match key.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, key.strip_prefix('+').unwrap_or(key)),
        };
        let dir = if desc { "DESC" } else { "ASC" };
        let expr = match name {
            "@random" => "RANDOM()".to_owned(),
            "@rowid" => format!("{}.rowid", scope.alias),
            _ if name.starts_with('@') => {
                let forbidden = scope.mode == Mode::Filter && !scope.request.superuser;
                let e = QueryError::new(format!("cannot sort by {name:?}"), span);
                return Err(if forbidden { e.forbidden() } else { e });
            }
            _ => sort_path(scope, scope.collection, scope.alias, name, span, 0)?,
        };
        out.push(format!("{expr} {dir}"));
    }
    Ok(out.join(", "))
}

/// A single value per row: plain fields, system fields, JSON paths, and single
/// relations (as correlated scalar subqueries, so rows never multiply).
fn sort_path(
    scope: &Scope<'_>,
    collection: &Collection,
    alias: &str,
    path: &str,
    span: Span,
    depth: usize,
) -> Result<String, QueryError> {
    let (first, rest) = match path.split_once('.') {
        Some((f, r)) => (f, Some(r)),
        None => (path, None),
    };
    let superuser = scope.request.superuser;
    let unknown = || QueryError::new(format!("unknown or hidden sort field {path:?}"), span);
    if first.is_empty() || first.contains(':') {
        return Err(unknown());
    }
    if collection.system_fields().contains(&first) && !["password", "tokenKey"].contains(&first) {
        if rest.is_some() {
            return Err(unknown());
        }
        if first == "email" && scope.mode == Mode::Filter && !superuser {
            return Ok(format!(
                "(CASE WHEN {alias}.\"emailVisibility\" = 1 THEN {alias}.\"email\" END)"
            ));
        }
        return Ok(format!("{alias}.{}", q(first)));
    }
    let f = collection.field(first).ok_or_else(unknown)?;
    if f.hidden && scope.mode == Mode::Filter && !superuser {
        return Err(unknown());
    }
    let column = format!("{alias}.{}", q(&f.name));
    let Some(rest) = rest else { return Ok(column) };
    match &f.kind {
        FieldKind::Relation(r) if !r.multiple => {
            if depth + 1 >= MAX_RELATION_DEPTH {
                return Err(QueryError::new(
                    format!("relation paths go at most {MAX_RELATION_DEPTH} deep"),
                    span,
                ));
            }
            let target = scope.snapshot.get(&r.collection).ok_or_else(unknown)?;
            if scope.mode == Mode::Filter && !superuser && target.rules.list.is_none() {
                return Err(QueryError::new(
                    format!(
                        "the {:?} collection can only be sorted by superusers",
                        target.name
                    ),
                    span,
                ));
            }
            let inner_alias = format!("_s{}", depth + 1);
            let inner = sort_path(scope, target, &inner_alias, rest, span, depth + 1)?;
            Ok(format!(
                "(SELECT {inner} FROM {} AS {inner_alias} WHERE {inner_alias}.\"id\" = {column})",
                q(&target.name)
            ))
        }
        FieldKind::Relation(_) => Err(QueryError::new(
            "cannot sort by a multi-valued relation",
            span,
        )),
        FieldKind::Object | FieldKind::Json | FieldKind::Array => {
            // JSON path segments become an SQL string literal here (ORDER BY takes no
            // parameters in our queries): only plain names and indexes are accepted.
            let mut json_path = String::from("$");
            for seg in rest.split('.') {
                if seg.bytes().all(|b| b.is_ascii_digit()) && !seg.is_empty() {
                    json_path.push_str(&format!("[{seg}]"));
                } else if !seg.is_empty()
                    && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    json_path.push('.');
                    json_path.push_str(seg);
                } else {
                    return Err(unknown());
                }
            }
            Ok(format!(
                "json_extract({}, '{json_path}')",
                super::compile::json_safe(&column)
            ))
        }
        _ => Err(unknown()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::RequestInfo;
    use crate::schema::collection::{compile, Definition};
    use crate::schema::Snapshot;
    use serde_json::json;

    fn snapshot() -> Snapshot {
        let mk = |v: serde_json::Value, refs: &[(&str, &str)]| {
            let refs: Vec<crate::schema::CollectionRef> = refs
                .iter()
                .map(|(id, name)| crate::schema::CollectionRef {
                    id: id.to_string(),
                    name: name.to_string(),
                    kind: crate::schema::CollectionType::Base,
                    system: false,
                })
                .collect();
            let resolve = |k: &str| refs.iter().find(|r| r.id == k || r.name == k).cloned();
            compile(
                Definition {
                    body: v.as_object().unwrap(),
                    existing: None,
                    system: false,
                    now: "x",
                    trusted: false,
                },
                &resolve,
            )
            .unwrap()
        };
        let authors = mk(
            json!({"name": "authors", "listRule": "", "schema": {"type": "object", "properties": {"name": {"type": "string"}}}}),
            &[],
        );
        let posts = mk(
            json!({"name": "posts", "schema": {"type": "object", "properties": {
                "title": {"type": "string"}, "meta": {"type": "object"}, "secret": {"type": "string", "x-hidden": true},
                "author": {"type": "string", "x-relation": {"collection": "authors"}},
                "tags": {"type": "array", "items": {"type": "string"}, "x-relation": {"collection": "authors"}}
            }}}),
            &[(&authors.id, "authors")],
        );
        Snapshot::from_collections(1, [authors, posts])
    }

    fn sort(s: &str, superuser: bool) -> Result<String, QueryError> {
        let snap = snapshot();
        let c = snap.get("posts").unwrap();
        let req = RequestInfo {
            superuser,
            ..Default::default()
        };
        compile_sort(
            s,
            &Scope {
                snapshot: &snap,
                collection: c,
                mode: Mode::Filter,
                request: &req,
                alias: "_m",
            },
        )
    }

    #[test]
    fn sort_keys_compile() {
        assert_eq!(
            sort("-created, +title,id", false).unwrap(),
            r#"_m."created" DESC, _m."title" ASC, _m."id" ASC"#
        );
        assert_eq!(
            sort("@random,-@rowid", false).unwrap(),
            "RANDOM() ASC, _m.rowid DESC"
        );
        assert_eq!(
            sort("-author.name", false).unwrap(),
            r#"(SELECT _s1."name" FROM "authors" AS _s1 WHERE _s1."id" = _m."author") DESC"#
        );
        assert_eq!(
            sort("meta.a.0", false).unwrap(),
            r#"json_extract((CASE WHEN json_valid(_m."meta") THEN _m."meta" END), '$.a[0]') ASC"#
        );
    }

    #[test]
    fn bad_sorts_are_refused() {
        for s in [
            "nope",
            "secret",
            "tags.name",
            "title.x",
            "meta.a'b",
            "@request.auth.id",
            "password",
            "a,b,c,d,e,f,g,h,i",
        ] {
            assert!(sort(s, false).is_err(), "{s}");
        }
        assert!(
            sort("secret", true).is_ok(),
            "superusers may sort by hidden fields"
        );
        assert!(sort("@request.auth.id", false).unwrap_err().forbidden);
        assert_eq!(sort("title,,", false).unwrap(), r#"_m."title" ASC"#);
    }
}
