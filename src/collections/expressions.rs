//! The query language applied to collections: every rule and index condition of a
//! definition compiled before it is stored, and the filter of the collection list.

use std::sync::Arc;

use serde_json::json;

use crate::schema::collection::{compile, Collection, Definition};
use crate::schema::{SchemaError, Snapshot};

/// Compile every rule and index condition of `c` (a snapshot holding `c` is built for
/// relations to itself): a bad one is a 400 naming the rule and the position.
pub(super) fn check_expressions(snapshot: &Snapshot, c: &Collection) -> Result<(), SchemaError> {
    use crate::query::{compile_where, parse, Mode, RequestInfo, Scope};
    let with_c = Snapshot::from_collections(
        snapshot.version,
        snapshot
            .all()
            .iter()
            .filter(|x| x.id != c.id)
            .map(|x| (**x).clone())
            .chain(std::iter::once(c.clone())),
    );
    let me = with_c.get(&c.id).expect("just added");
    let request = RequestInfo::default();
    let rules = [
        ("listRule", &c.rules.list),
        ("viewRule", &c.rules.view),
        ("createRule", &c.rules.create),
        ("updateRule", &c.rules.update),
        ("deleteRule", &c.rules.delete),
        ("authRule", &c.rules.auth),
        ("manageRule", &c.rules.manage),
    ];
    for (key, rule) in rules {
        let Some(rule) = rule.as_deref().filter(|r| !r.trim().is_empty()) else {
            continue;
        };
        let scope = Scope {
            snapshot: &with_c,
            collection: me,
            mode: Mode::Rule,
            request: &request,
            alias: "_m",
        };
        parse(rule)
            .and_then(|expr| compile_where(&expr, &scope))
            .map_err(|e| {
                SchemaError::invalid(
                    key,
                    "validation_invalid_rule",
                    format!("Invalid rule: {e}."),
                )
            })?;
    }
    Ok(())
}

/// The SQL of an index's `where` filter (unqualified columns, literals inlined).
pub(super) fn index_where(
    c: &Collection,
    i: &crate::schema::IndexDef,
) -> Result<Option<String>, SchemaError> {
    use crate::query::{compile_where, parse, Mode, RequestInfo, Scope};
    let Some(w) = &i.where_clause else {
        return Ok(None);
    };
    let position = c.indexes.iter().position(|x| x.name == i.name).unwrap_or(0);
    let snapshot = Snapshot::from_collections(0, std::iter::once(c.clone()));
    let request = RequestInfo::default();
    let scope = Scope {
        snapshot: &snapshot,
        collection: c,
        mode: Mode::Index,
        request: &request,
        alias: "",
    };
    parse(w)
        .and_then(|expr| compile_where(&expr, &scope))
        .map(|compiled| Some(compiled.sql))
        .map_err(|e| {
            SchemaError::invalid(
                "indexes",
                "invalid_index",
                format!("/indexes/{position}/where: {e}"),
            )
        })
}

/// The collection model as a collection, so the list endpoint can filter collections
/// with the same language (evaluated in memory: the list is the registry snapshot).
fn collection_model() -> &'static Collection {
    static MODEL: std::sync::OnceLock<Collection> = std::sync::OnceLock::new();
    MODEL.get_or_init(|| {
        let rule = json!({"type": ["string", "null"]});
        let body = json!({
            "name": "_collections",
            "schema": {"type": "object", "properties": {
                "name": {"type": "string"}, "type": {"type": "string"}, "system": {"type": "boolean"},
                "listRule": rule, "viewRule": rule, "createRule": rule, "updateRule": rule,
                "deleteRule": rule, "authRule": rule, "manageRule": rule, "viewQuery": {"type": "string"}
            }}
        });
        compile(
            Definition { body: body.as_object().expect("literal object"), existing: None, system: true, now: "", trusted: false },
            &|_| None,
        )
        .expect("the collection model compiles")
    })
}

/// Keep the collections matching `filter` (collection fields: id, name, type, system,
/// the rules, viewQuery, created, updated).
pub fn filter_collections(
    collections: Vec<Arc<Collection>>,
    filter: &str,
) -> Result<Vec<Arc<Collection>>, crate::query::QueryError> {
    use crate::query::{evaluate, parse, EvalError, Mode, QueryError, RequestInfo, Span, Target};
    let expr = parse(filter)?;
    let model = collection_model();
    let request = RequestInfo {
        superuser: true,
        ..Default::default()
    };
    let mut out = Vec::new();
    for c in collections {
        let json = c.to_json();
        let record = json.as_object().expect("a collection is an object");
        let target = Target {
            collection: model,
            record,
            request: &request,
            mode: Mode::Filter,
        };
        match evaluate(&expr, &target) {
            Ok(true) => out.push(c),
            Ok(false) => {}
            Err(EvalError::Unsupported(what) | EvalError::Invalid(what)) => {
                return Err(QueryError::new(what, Span::new(0, filter.len())))
            }
        }
    }
    Ok(out)
}
