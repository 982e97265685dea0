//! The collection's JSON Schema: keywords checked (with the pointer of any rejection)
//! and compiled into the validator every write runs.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::*;
use crate::schema::field::{map_property, Field, FieldKind, EXTENSIONS};
use crate::schema::SchemaError;

/// Check the JSON Schema and map its properties to fields.
pub(super) fn compile_schema(
    schema: &Value,
    kind: CollectionType,
    id: &str,
    name: &str,
    resolve: &dyn Fn(&str) -> Option<CollectionRef>,
) -> Result<(Vec<Field>, jsonschema::Validator), SchemaError> {
    let Value::Object(root) = schema else {
        return Err(schema_error("/: the schema must be a JSON object"));
    };
    if let Err(e) = jsonschema::draft202012::meta::validate(schema) {
        return Err(schema_error(format!(
            "{}: {}",
            pointer_or_root(e.instance_path().as_str()),
            e
        )));
    }
    if root.get("type").and_then(Value::as_str) != Some("object") {
        return Err(schema_error(
            "/type: the top level must be \"type\": \"object\"",
        ));
    }
    match root.get("$schema").and_then(Value::as_str) {
        None | Some("https://json-schema.org/draft/2020-12/schema") => {}
        Some(other) => {
            return Err(schema_error(format!(
                "/$schema: only draft 2020-12 is supported (\"https://json-schema.org/draft/2020-12/schema\"), got {other:?}"
            )))
        }
    }
    for key in [
        "patternProperties",
        "propertyNames",
        "dependentSchemas",
        "$ref",
        "$dynamicRef",
    ] {
        if root.contains_key(key) {
            return Err(schema_error(format!(
                "/{key}: not supported at the top level: every property must be declared in \"properties\" to become a column"
            )));
        }
    }
    for key in ["additionalProperties", "unevaluatedProperties"] {
        match root.get(key) {
            None | Some(Value::Bool(false)) => {}
            Some(_) => {
                return Err(schema_error(format!(
                    "/{key}: only false (or absent) is supported at the top level; declare each property in \"properties\""
                )))
            }
        }
    }
    check_keywords(schema, "", 0)?;

    let empty = Map::new();
    let props = match root.get("properties") {
        None => &empty,
        Some(Value::Object(p)) => p,
        Some(_) => return Err(schema_error("/properties: must be an object")),
    };
    let required: Vec<&str> = match root.get("required") {
        None => Vec::new(),
        Some(Value::Array(r)) => r.iter().filter_map(Value::as_str).collect(),
        Some(_) => {
            return Err(schema_error(
                "/required: must be an array of property names",
            ))
        }
    };
    for (i, r) in required.iter().enumerate() {
        if !props.contains_key(*r) {
            return Err(schema_error(format!(
                "/required/{i}: {r:?} is not a declared property"
            )));
        }
    }
    if props.len() > 500 {
        return Err(schema_error("/properties: at most 500 properties"));
    }

    let mut seen = HashSet::new();
    let mut fields = Vec::with_capacity(props.len());
    for (prop_name, prop) in props {
        let pointer = format!("/properties/{}", escape_pointer(prop_name));
        if !is_identifier(prop_name, 64) {
            return Err(schema_error(format!(
                "{pointer}: property names must start with a letter or _ and contain only letters, digits and _ (at most 64)"
            )));
        }
        let lower = prop_name.to_ascii_lowercase();
        let reserved: &[&str] = if kind == CollectionType::View {
            &["id", "collectionId", "collectionName", "expand"]
        } else {
            RESERVED_NAMES
        };
        if reserved.iter().any(|r| r.eq_ignore_ascii_case(prop_name)) {
            return Err(schema_error(format!(
                "{pointer}: {prop_name:?} is a reserved system field name"
            )));
        }
        if !seen.insert(lower) {
            return Err(schema_error(format!(
                "{pointer}: another property has the same name in a different case (column names are case-insensitive)"
            )));
        }
        let field = map_property(
            prop_name,
            &pointer,
            prop,
            required.contains(&prop_name.as_str()),
        )?;
        if let FieldKind::Relation(rel) = &field.kind {
            let target_is_self = rel.collection == name || rel.collection == id;
            if !target_is_self {
                match resolve(&rel.collection) {
                    None => {
                        return Err(schema_error(format!(
                            "{pointer}/x-relation/collection: unknown collection {:?}",
                            rel.collection
                        )))
                    }
                    Some(t) if t.system => {
                        return Err(schema_error(format!(
                            "{pointer}/x-relation/collection: relations to system collection {:?} are not allowed",
                            t.name
                        )))
                    }
                    Some(t) if t.kind == CollectionType::View => {
                        return Err(schema_error(format!(
                            "{pointer}/x-relation/collection: relations to view collection {:?} are not allowed",
                            t.name
                        )))
                    }
                    Some(_) => {}
                }
            }
            if rel.cascade_delete && rel.multiple {
                // Allowed: a multi-relation drops the deleted id, cascade deletes the referrer.
            }
        }
        fields.push(field);
    }

    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .should_ignore_unknown_formats(false)
        .build(schema)
        .map_err(|e| {
            let at = pointer_or_root(e.schema_path().as_str());
            schema_error(format!("{at}: {e}"))
        })?;
    Ok((fields, validator))
}

pub(super) fn pointer_or_root(p: &str) -> &str {
    if p.is_empty() {
        "/"
    } else {
        p
    }
}

/// RFC 6901 escaping of one pointer segment.
pub(super) fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Walk the whole schema: unknown `x-` keywords are errors, known ones belong on a top-level
/// property only, `$ref` must stay inside the document, and nesting is bounded.
pub(super) fn check_keywords(
    value: &Value,
    pointer: &str,
    depth: usize,
) -> Result<(), SchemaError> {
    if depth > 64 {
        return Err(schema_error(format!(
            "{}: the schema is nested too deeply",
            pointer_or_root(pointer)
        )));
    }
    match value {
        Value::Object(obj) => {
            // `properties/<name>` directly under the root is depth 2.
            let top_level_property = depth == 2 && pointer.starts_with("/properties/");
            for (key, v) in obj {
                let here = format!("{pointer}/{}", escape_pointer(key));
                if key.starts_with("x-") {
                    if !EXTENSIONS.contains(&key.as_str()) {
                        return Err(schema_error(format!(
                            "{here}: unknown extension keyword (known: {})",
                            EXTENSIONS.join(", ")
                        )));
                    }
                    if !top_level_property {
                        return Err(schema_error(format!(
                            "{here}: {key} is only allowed on a top-level property"
                        )));
                    }
                    continue;
                }
                if (key == "$ref" || key == "$dynamicRef")
                    && !v.as_str().is_some_and(|r| r.starts_with('#'))
                {
                    return Err(schema_error(format!(
                        "{here}: only references inside the document (\"#…\") are allowed"
                    )));
                }
                // Keys of `properties`, `$defs` etc. are names, not keywords; recurse into values.
                check_keywords(v, &here, depth + 1)?;
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                check_keywords(v, &format!("{pointer}/{i}"), depth + 1)?;
            }
        }
        _ => {}
    }
    Ok(())
}
