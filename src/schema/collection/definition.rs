//! Compiling a definition: the API's JSON checked and turned into a [`Collection`]
//! (mapped fields, rules, auth options), with its schema and indexes compiled alongside.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::indexes::parse_indexes;
use super::json_schema::compile_schema;
use super::*;
use crate::schema::field::Field;
use crate::schema::SchemaError;

/// The inputs to [`compile`]: a definition from the API (or from `_collections`).
pub struct Definition<'a> {
    pub body: &'a Map<String, Value>,
    /// The collection being replaced (update), if any.
    pub existing: Option<&'a Collection>,
    /// System collections may use `_` names; only Keelbase itself creates them.
    pub system: bool,
    pub now: &'a str,
    /// The body comes from `_collections`, not a request: stored secrets are kept.
    pub trusted: bool,
}

/// Check a definition and compile it. `resolve` finds other collections by name or id.
pub fn compile(
    def: Definition<'_>,
    resolve: &dyn Fn(&str) -> Option<CollectionRef>,
) -> Result<Collection, SchemaError> {
    let body = def.body;
    let existing = def.existing;
    let known: &[&str] = &[
        "id",
        "name",
        "type",
        "system",
        "schema",
        "indexes",
        "listRule",
        "viewRule",
        "createRule",
        "updateRule",
        "deleteRule",
        "authRule",
        "manageRule",
        "auth",
        "viewQuery",
        "created",
        "updated",
    ];
    if let Some(key) = body.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(invalid(key, format!("Unknown collection key {key:?}.")));
    }
    let get_str = |key: &str| -> Result<Option<String>, SchemaError> {
        match body.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(key, "Must be a string.")),
        }
    };

    let kind = match get_str("type")? {
        None => existing.map_or(CollectionType::Base, |e| e.kind),
        Some(t) => CollectionType::parse(&t)
            .ok_or_else(|| invalid("type", "Must be one of base, auth, view."))?,
    };
    if let Some(e) = existing {
        if e.kind != kind {
            return Err(invalid(
                "type",
                "The type of an existing collection cannot change.",
            ));
        }
    }
    let system = existing.map_or(def.system, |e| e.system);
    let name = match (get_str("name")?, existing) {
        (Some(n), _) => n,
        (None, Some(e)) => e.name.clone(),
        (None, None) => {
            return Err(SchemaError::invalid(
                "name",
                "validation_required",
                "Cannot be blank.",
            ))
        }
    };
    validate_name(&name, system)?;
    if let Some(e) = existing {
        if e.system && name != e.name {
            return Err(invalid("name", "System collections cannot be renamed."));
        }
    }

    let id = match (existing, get_str("id")?) {
        (Some(e), Some(id)) if id != e.id => {
            return Err(invalid("id", "The id of a collection cannot change."))
        }
        (Some(e), _) => e.id.clone(),
        (None, Some(id)) => {
            if !is_identifier(&id, 100)
                && !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                || id.is_empty()
            {
                return Err(invalid(
                    "id",
                    "Must contain only letters, digits and _ (at most 100 characters).",
                ));
            }
            id
        }
        (None, None) => default_id(kind, &name),
    };
    // Name and id must not collide with another collection (case-insensitively for names,
    // as SQLite table names are).
    for probe in [&name, &id] {
        if let Some(other) = resolve(probe) {
            // A new collection from a request collides with any other: its default id is
            // derived from its name, so a second `posts` gets the first one's id too. (A
            // stored one being loaded finds itself.)
            let new = existing.is_none() && !def.trusted;
            if new || other.id != id {
                let field = if probe == &name { "name" } else { "id" };
                return Err(SchemaError::invalid(
                    field,
                    "validation_not_unique",
                    format!("The collection {:?} already uses this {field}.", other.name),
                ));
            }
        }
    }

    let rule =
        |key: &str, fallback: Option<&Option<String>>| -> Result<Option<String>, SchemaError> {
            match body.get(key) {
                None => Ok(fallback.cloned().flatten()),
                Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.len() <= 10_000 => Ok(Some(s.clone())),
                Some(Value::String(_)) => Err(invalid(key, "A rule is at most 10000 characters.")),
                Some(_) => Err(invalid(
                    key,
                    "Must be a string (a filter expression) or null.",
                )),
            }
        };
    let old = existing.map(|e| &e.rules);
    let mut rules = Rules {
        list: rule("listRule", old.map(|r| &r.list))?,
        view: rule("viewRule", old.map(|r| &r.view))?,
        create: rule("createRule", old.map(|r| &r.create))?,
        update: rule("updateRule", old.map(|r| &r.update))?,
        delete: rule("deleteRule", old.map(|r| &r.delete))?,
        auth: None,
        manage: None,
    };
    if kind == CollectionType::Auth {
        rules.auth = match (body.get("authRule"), old) {
            (None, None) => Some(String::new()),
            _ => rule("authRule", old.map(|r| &r.auth))?,
        };
        rules.manage = rule("manageRule", old.map(|r| &r.manage))?;
    } else {
        for key in ["authRule", "manageRule", "auth"] {
            if body.contains_key(key) {
                return Err(invalid(key, "Only auth collections have this option."));
            }
        }
    }

    let view_query = if kind == CollectionType::View {
        for (key, value) in [
            ("createRule", &rules.create),
            ("updateRule", &rules.update),
            ("deleteRule", &rules.delete),
        ] {
            if value.is_some() {
                return Err(invalid(
                    key,
                    "View collections are read-only: this rule must be null.",
                ));
            }
        }
        match (body.get("viewQuery"), existing) {
            (Some(Value::String(q)), _) if !q.trim().is_empty() => Some(q.trim().to_owned()),
            (None, Some(e)) => e.view_query.clone(),
            _ => {
                return Err(SchemaError::invalid(
                    "viewQuery",
                    "validation_required",
                    "Cannot be blank.",
                ))
            }
        }
    } else {
        if body.contains_key("viewQuery") {
            return Err(invalid(
                "viewQuery",
                "Only view collections have a viewQuery.",
            ));
        }
        None
    };

    let schema = match (body.get("schema"), existing) {
        (Some(s), _) => s.clone(),
        (None, Some(e)) => e.schema.clone(),
        (None, None) => json!({"type": "object", "properties": {}}),
    };
    let (fields, validator) = compile_schema(&schema, kind, &id, &name, resolve)?;

    let indexes = match (body.get("indexes"), existing) {
        (Some(Value::Array(v)), _) if kind == CollectionType::View && !v.is_empty() => {
            return Err(invalid("indexes", "View collections cannot have indexes."));
        }
        (Some(v), _) => parse_indexes(v, &name, kind, &fields)?,
        (None, Some(e)) => {
            // Keep the indexes whose columns still exist.
            let mut kept = e.indexes.clone();
            kept.retain(|i| i.fields.iter().all(|f| has_column(kind, &fields, f)));
            kept
        }
        (None, None) => Vec::new(),
    };

    let auth = if kind == CollectionType::Auth {
        let (given, stored) = if def.trusted {
            (None, body.get("auth"))
        } else {
            (body.get("auth"), existing.and_then(|e| e.auth.as_ref()))
        };
        let options = crate::schema::auth_options::merge(given, stored, &name)?;
        check_mapped_fields(&options, &fields)?;
        Some(options)
    } else {
        None
    };

    Ok(Collection {
        id,
        name,
        kind,
        system,
        schema,
        fields,
        indexes,
        rules,
        auth,
        view_query,
        created: existing.map_or_else(|| def.now.to_owned(), |e| e.created.clone()),
        updated: def.now.to_owned(),
        validator: Arc::new(validator),
    })
}

/// `oauth2.mappedFields` may only name properties of the collection (never system fields).
pub(super) fn check_mapped_fields(options: &Value, fields: &[Field]) -> Result<(), SchemaError> {
    let Some(Value::Object(mapped)) = options.get("oauth2").and_then(|o| o.get("mappedFields"))
    else {
        return Ok(());
    };
    for (key, target) in mapped {
        let target = target.as_str().unwrap_or("");
        if !target.is_empty() && !fields.iter().any(|f| f.name == target) {
            return Err(invalid(
                "auth",
                format!("/auth/oauth2/mappedFields/{key}: {target:?} is not a property of this collection"),
            ));
        }
    }
    Ok(())
}

pub(super) fn has_column(kind: CollectionType, fields: &[Field], name: &str) -> bool {
    BASE_SYSTEM_FIELDS.contains(&name)
        || (kind == CollectionType::Auth
            && AUTH_SYSTEM_FIELDS.contains(&name)
            && name != "password")
        || fields.iter().any(|f| f.name == name)
}
