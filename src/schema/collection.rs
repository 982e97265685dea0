//! A collection definition: parsed from the API's JSON, checked, and compiled into a
//! [`Collection`] (mapped fields, JSON Schema validator, indexes, rules, auth options).
//!
//! Every rejection names the JSON pointer of the offending part in its message.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::field::{map_property, Field, FieldKind, EXTENSIONS};
use super::SchemaError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CollectionType {
    Base,
    Auth,
    View,
}

impl CollectionType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Base => "base",
            Self::Auth => "auth",
            Self::View => "view",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "base" => Some(Self::Base),
            "auth" => Some(Self::Auth),
            "view" => Some(Self::View),
            _ => None,
        }
    }
}

/// A declared index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexDef {
    pub name: String,
    pub fields: Vec<String>,
    pub unique: bool,
    /// A filter expression making this a partial index.
    pub where_clause: Option<String>,
}

/// The API rules. `None` = superusers only, `Some("")` = anyone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    pub list: Option<String>,
    pub view: Option<String>,
    pub create: Option<String>,
    pub update: Option<String>,
    pub delete: Option<String>,
    /// Auth collections only.
    pub auth: Option<String>,
    /// Auth collections only.
    pub manage: Option<String>,
}

/// Columns every collection table has.
pub const BASE_SYSTEM_FIELDS: &[&str] = &["id", "created", "updated"];
/// Extra columns of auth collection tables.
pub const AUTH_SYSTEM_FIELDS: &[&str] = &[
    "email",
    "emailVisibility",
    "verified",
    "password",
    "tokenKey",
];
/// Names a property may not take: system fields and keys of the record JSON.
pub const RESERVED_NAMES: &[&str] = &[
    "id",
    "created",
    "updated",
    "collectionId",
    "collectionName",
    "expand",
    "email",
    "emailVisibility",
    "verified",
    "password",
    "tokenKey",
    "passwordConfirm",
    "oldPassword",
];
/// Collection names that would shadow `/api/collections/…` routes.
const RESERVED_COLLECTION_NAMES: &[&str] = &["meta", "import"];

/// A compiled collection. Immutable; shared through the registry snapshot.
#[derive(Clone, Debug)]
pub struct Collection {
    pub id: String,
    pub name: String,
    pub kind: CollectionType,
    pub system: bool,
    /// The JSON Schema as the user wrote it.
    pub schema: Value,
    /// One per top-level property, in declaration order.
    pub fields: Vec<Field>,
    pub indexes: Vec<IndexDef>,
    pub rules: Rules,
    /// Auth options (PocketBase names), defaults filled in, secrets included.
    pub auth: Option<Value>,
    pub view_query: Option<String>,
    pub created: String,
    pub updated: String,
    pub validator: Arc<jsonschema::Validator>,
}

/// What the collection resolver knows about another collection.
#[derive(Clone, Debug)]
pub struct CollectionRef {
    pub id: String,
    pub name: String,
    pub kind: CollectionType,
    pub system: bool,
}

fn invalid(field: &str, message: impl Into<String>) -> SchemaError {
    SchemaError::invalid(field, "validation_invalid_value", message)
}

fn schema_error(message: impl Into<String>) -> SchemaError {
    SchemaError::invalid("schema", "invalid_schema", message)
}

/// PocketBase's collection id: `pbc_` + the decimal CRC-32 of type + name.
pub fn default_id(kind: CollectionType, name: &str) -> String {
    format!(
        "pbc_{}",
        crc32fast::hash(format!("{}{}", kind.as_str(), name).as_bytes())
    )
}

fn is_identifier(s: &str, max: usize) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= max
}

/// Check a user collection name.
pub fn validate_name(name: &str, system: bool) -> Result<(), SchemaError> {
    if !is_identifier(name, 100) {
        return Err(invalid(
            "name",
            "Must start with a letter or _ and contain only letters, digits and _ (at most 100 characters).",
        ));
    }
    if name.starts_with('_') && !system {
        return Err(invalid(
            "name",
            "Names starting with _ are reserved for system collections.",
        ));
    }
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("sqlite_") || RESERVED_COLLECTION_NAMES.contains(&lower.as_str()) {
        return Err(invalid("name", format!("The name {name:?} is reserved.")));
    }
    Ok(())
}

impl Collection {
    pub fn is_auth(&self) -> bool {
        self.kind == CollectionType::Auth
    }

    pub fn is_view(&self) -> bool {
        self.kind == CollectionType::View
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The system columns of this collection's table.
    pub fn system_fields(&self) -> Vec<&'static str> {
        if self.is_view() {
            return vec!["id"];
        }
        let mut v = BASE_SYSTEM_FIELDS.to_vec();
        if self.is_auth() {
            v.extend_from_slice(AUTH_SYSTEM_FIELDS);
        }
        v
    }

    /// Every column: system ones first, then one per property.
    pub fn column_names(&self) -> Vec<String> {
        self.system_fields()
            .into_iter()
            .map(str::to_owned)
            .chain(self.fields.iter().map(|f| f.name.clone()))
            .collect()
    }

    /// The definition as stored in `_collections` (auth secrets included).
    pub fn stored_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "name": self.name,
            "type": self.kind.as_str(),
            "system": self.system,
            "schema": self.schema,
            "indexes": self.indexes.iter().map(index_json).collect::<Vec<_>>(),
            "listRule": self.rules.list,
            "viewRule": self.rules.view,
            "createRule": self.rules.create,
            "updateRule": self.rules.update,
            "deleteRule": self.rules.delete,
            "created": self.created,
            "updated": self.updated,
        });
        if let Some(auth) = &self.auth {
            v["authRule"] = json!(self.rules.auth);
            v["manageRule"] = json!(self.rules.manage);
            v["auth"] = auth.clone();
        }
        if let Some(q) = &self.view_query {
            v["viewQuery"] = json!(q);
        }
        v
    }

    /// The definition as the API shows it: auth secrets removed (token secrets and the
    /// OAuth2 providers' client secrets).
    pub fn to_json(&self) -> Value {
        let mut v = self.stored_json();
        if let Some(Value::Object(auth)) = v.get_mut("auth") {
            for (_, option) in auth.iter_mut() {
                if let Value::Object(o) = option {
                    o.remove("secret");
                }
            }
            if let Some(Value::Array(providers)) =
                auth.get_mut("oauth2").and_then(|o| o.get_mut("providers"))
            {
                for provider in providers.iter_mut().filter_map(Value::as_object_mut) {
                    provider.remove("clientSecret");
                }
            }
        }
        v
    }

    /// An auth token secret (`authToken`, `fileToken`, …) of an auth collection.
    pub fn token_secret(&self, token: &str) -> Option<&str> {
        self.auth.as_ref()?.get(token)?.get("secret")?.as_str()
    }
}

fn index_json(i: &IndexDef) -> Value {
    let mut v = json!({"name": i.name, "fields": i.fields, "unique": i.unique});
    if let Some(w) = &i.where_clause {
        v["where"] = json!(w);
    }
    v
}

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
            if other.id != id {
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
        let options = super::auth_options::merge(given, stored, &name)?;
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
fn check_mapped_fields(options: &Value, fields: &[Field]) -> Result<(), SchemaError> {
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

fn has_column(kind: CollectionType, fields: &[Field], name: &str) -> bool {
    BASE_SYSTEM_FIELDS.contains(&name)
        || (kind == CollectionType::Auth
            && AUTH_SYSTEM_FIELDS.contains(&name)
            && name != "password")
        || fields.iter().any(|f| f.name == name)
}

/// Check the JSON Schema and map its properties to fields.
fn compile_schema(
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

fn pointer_or_root(p: &str) -> &str {
    if p.is_empty() {
        "/"
    } else {
        p
    }
}

/// RFC 6901 escaping of one pointer segment.
fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Walk the whole schema: unknown `x-` keywords are errors, known ones belong on a top-level
/// property only, `$ref` must stay inside the document, and nesting is bounded.
fn check_keywords(value: &Value, pointer: &str, depth: usize) -> Result<(), SchemaError> {
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

fn parse_indexes(
    v: &Value,
    collection: &str,
    kind: CollectionType,
    fields: &[Field],
) -> Result<Vec<IndexDef>, SchemaError> {
    let Value::Array(items) = v else {
        return Err(invalid(
            "indexes",
            "Must be an array of {fields, unique?, name?, where?} objects.",
        ));
    };
    let mut out: Vec<IndexDef> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |msg: String| {
            SchemaError::invalid("indexes", "invalid_index", format!("/indexes/{i}: {msg}"))
        };
        let Value::Object(o) = item else {
            return Err(at(
                "must be an object like {\"fields\": [\"title\"], \"unique\": true}".into(),
            ));
        };
        if let Some(k) = o
            .keys()
            .find(|k| !["name", "fields", "unique", "where"].contains(&k.as_str()))
        {
            return Err(at(format!(
                "unknown key {k:?} (known: name, fields, unique, where)"
            )));
        }
        let cols: Vec<String> = match o.get("fields") {
            Some(Value::Array(f)) if !f.is_empty() && f.len() <= 16 => f
                .iter()
                .map(|c| c.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| at("fields must be column names".into()))?,
            _ => {
                return Err(at(
                    "fields must be a non-empty array of up to 16 column names".into(),
                ))
            }
        };
        for c in &cols {
            if !has_column(kind, fields, c) {
                return Err(at(format!("unknown column {c:?}")));
            }
        }
        let unique = match o.get("unique") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(at("unique must be true or false".into())),
        };
        let where_clause = match o.get("where") {
            None | Some(Value::Null) => None,
            Some(Value::String(w)) if w.trim().is_empty() => None,
            Some(Value::String(w)) => Some(w.trim().to_owned()),
            Some(_) => return Err(at("where must be a filter expression string".into())),
        };
        let name = match o.get("name") {
            None | Some(Value::Null) => format!("idx_{collection}_{}", cols.join("_")),
            Some(Value::String(n)) if is_identifier(n, 120) => n.clone(),
            Some(_) => return Err(at("name must be an identifier (letters, digits, _)".into())),
        };
        if out.iter().any(|x| x.name.eq_ignore_ascii_case(&name)) {
            return Err(at(format!("another index is named {name:?}")));
        }
        out.push(IndexDef {
            name,
            fields: cols,
            unique,
            where_clause,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> CollectionRef {
        CollectionRef {
            id: "_pb_users_auth_".into(),
            name: "users".into(),
            kind: CollectionType::Auth,
            system: false,
        }
    }

    fn resolve(n: &str) -> Option<CollectionRef> {
        match n.to_ascii_lowercase().as_str() {
            "users" | "_pb_users_auth_" => Some(users()),
            "_superusers" => Some(CollectionRef {
                id: "pbc_3142635823".into(),
                name: "_superusers".into(),
                kind: CollectionType::Auth,
                system: true,
            }),
            _ => None,
        }
    }

    fn create(body: Value) -> Result<Collection, SchemaError> {
        let map = body.as_object().unwrap().clone();
        compile(
            Definition {
                body: &map,
                existing: None,
                system: false,
                now: "2026-01-01 00:00:00.000Z",
                trusted: false,
            },
            &resolve,
        )
    }

    fn err(body: Value) -> String {
        match create(body.clone()) {
            Ok(_) => panic!("accepted: {body}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_full_definition_compiles() {
        let c = create(json!({
            "name": "posts",
            "schema": {
                "type": "object",
                "properties": {
                    "title": {"type": "string", "minLength": 1, "maxLength": 200},
                    "views": {"type": "integer", "minimum": 0, "default": 0},
                    "author": {"type": "string", "x-relation": {"collection": "users"}},
                    "parent": {"type": "string", "x-relation": {"collection": "posts"}},
                    "due": {"type": "string", "format": "date-time"},
                    "meta": {"$ref": "#/$defs/meta"}
                },
                "$defs": {"meta": {"type": "object"}},
                "required": ["title"],
                "additionalProperties": false
            },
            "indexes": [{"fields": ["title"], "unique": true}],
            "listRule": ""
        }))
        .unwrap();
        assert_eq!(c.id, "pbc_1125843985", "PocketBase's id for base+posts");
        assert_eq!(c.fields.len(), 6);
        assert!(c.field("title").unwrap().required);
        assert_eq!(c.indexes[0].name, "idx_posts_title");
        assert_eq!(c.rules.list.as_deref(), Some(""));
        assert_eq!(
            c.rules.view, None,
            "omitted rules default to superusers only"
        );
        assert!(c.validator.is_valid(&json!({"title": "x"})));
        assert!(!c.validator.is_valid(&json!({"title": ""})));
        assert!(!c.validator.is_valid(&json!({"title": "x", "extra": 1})));
    }

    #[test]
    fn every_invalid_definition_class_is_rejected_with_a_pointer() {
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"name": "p", "schema": {"type": "object", "properties": {"a": {"type": "string", "x-color": 1}}}}),
                "/properties/a/x-color",
            ),
            (
                json!({"name": "p", "schema": {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "string", "x-hidden": true}}}}}}),
                "/properties/a/properties/b/x-hidden",
            ),
            (
                json!({"name": "p", "schema": {"type": "object", "patternProperties": {"^a": {}}}}),
                "/patternProperties",
            ),
            (
                json!({"name": "p", "schema": {"type": "object", "additionalProperties": true}}),
                "/additionalProperties",
            ),
            (
                json!({"name": "p", "schema": {"type": "object", "additionalProperties": {"type": "string"}}}),
                "/additionalProperties",
            ),
            (
                json!({"name": "p", "schema": {"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}}}),
                "/properties/a/$ref",
            ),
            (
                json!({"name": "p", "schema": {"type": "object", "properties": {"id": {"type": "string"}}}}),
                "/properties/id",
            ),
            (
                json!({"name": "p", "schema": {"type": "object", "properties": {"Created": {"type": "string"}}}}),
                "/properties/Created",
            ),
            (
                json!({"name": "p", "schema": {"type": "object", "properties": {"expand": {"type": "string"}}}}),
                "/properties/expand",
            ),
            (
                json!({"name": "p", "schema": {"type": "object", "properties": {"a": {"type": "string", "x-relation": {"collection": "nope"}}}}}),
                "/properties/a/x-relation/collection",
            ),
            (
                json!({"name": "p", "schema": {"type": "object", "properties": {"a": {"type": "string", "x-relation": {"collection": "_superusers"}}}}}),
                "/properties/a/x-relation/collection",
            ),
            (
                json!({"name": "p", "schema": {"type": "object", "properties": {"a": {"type": "integer", "x-file": {}}}}}),
                "/properties/a/x-file",
            ),
            (
                json!({"name": "p", "schema": {"type": "object", "properties": {"due": {"type": "string", "format": "daytime"}}}}),
                "/properties/due/format",
            ),
            (
                json!({"name": "p", "schema": {"type": "object", "properties": {"a": {"type": "strin"}}}}),
                "/properties/a/type",
            ),
            (
                json!({"name": "p", "schema": {"type": "object", "properties": {"a": {}}, "required": ["b"]}}),
                "/required/0",
            ),
            (json!({"name": "p", "schema": {"type": "array"}}), "/type"),
            (
                json!({"name": "p", "schema": {"type": "object", "properties": {"a b": {}}}}),
                "/properties/a b",
            ),
            (
                json!({"name": "p", "schema": {"type": "object", "properties": {"a": {}, "A": {}}}}),
                "/properties/",
            ),
            (
                json!({"name": "p", "schema": {"type": "object", "$schema": "http://json-schema.org/draft-07/schema#"}}),
                "/$schema",
            ),
            (
                json!({"name": "p", "indexes": [{"fields": ["nope"]}]}),
                "/indexes/0",
            ),
        ];
        for (body, pointer) in cases {
            let e = err(body.clone());
            assert!(
                e.contains(pointer),
                "{body}\n  expected pointer {pointer} in: {e}"
            );
        }
    }

    #[test]
    fn names_are_checked() {
        for bad in [
            "",
            "1posts",
            "po-sts",
            "_hidden",
            "sqlite_master",
            "meta",
            &"a".repeat(101),
        ] {
            assert!(create(json!({"name": bad})).is_err(), "{bad:?}");
        }
        let e = err(json!({"name": "users"}));
        assert!(e.contains("already"), "{e}");
        let e = err(json!({"name": "USERS"}));
        assert!(
            e.contains("already"),
            "names collide case-insensitively: {e}"
        );
        assert!(err(json!({"name": "x", "bogus": 1})).contains("bogus"));
        assert!(err(json!({"name": "x", "authRule": ""})).contains("auth"));
    }

    #[test]
    fn a_property_without_type_or_with_several_is_a_json_column() {
        let c = create(json!({"name": "p", "schema": {"type": "object", "properties": {"any": {}, "multi": {"type": ["string", "integer"]}}}})).unwrap();
        assert_eq!(c.field("any").unwrap().kind, FieldKind::Json);
        assert_eq!(c.field("multi").unwrap().kind, FieldKind::Json);
    }

    #[test]
    fn auth_collections_get_options_with_defaults_and_hidden_secrets() {
        let c = create(json!({"name": "members", "type": "auth", "auth": {"passwordAuth": {"identityFields": ["email"]}}})).unwrap();
        let auth = c.auth.as_ref().unwrap();
        assert_eq!(auth["authToken"]["duration"], 432000);
        assert!(c.token_secret("authToken").unwrap().len() >= 30);
        let public = c.to_json();
        assert!(public["auth"]["authToken"].get("secret").is_none());
        assert_eq!(public["authRule"], "");
        assert_eq!(public["manageRule"], Value::Null);
        assert!(c.system_fields().contains(&"tokenKey"));
    }

    #[test]
    fn oauth2_client_secrets_are_stored_but_never_shown_and_mapped_fields_must_exist() {
        let c = create(json!({"name": "members", "type": "auth",
            "schema": {"type": "object", "properties": {"name": {"type": "string"}}},
            "auth": {"oauth2": {"enabled": true,
                "providers": [{"name": "github", "clientId": "cid", "clientSecret": "TOPSECRET"}],
                "mappedFields": {"name": "name"}}}}))
        .unwrap();
        assert_eq!(
            c.stored_json()["auth"]["oauth2"]["providers"][0]["clientSecret"],
            "TOPSECRET"
        );
        let shown = c.to_json();
        assert_eq!(shown["auth"]["oauth2"]["providers"][0]["clientId"], "cid");
        assert!(!shown.to_string().contains("TOPSECRET"));
        let e = create(json!({"name": "members", "type": "auth",
            "auth": {"oauth2": {"mappedFields": {"avatarURL": "avatar"}}}}))
        .unwrap_err()
        .to_string();
        assert!(e.contains("/auth/oauth2/mappedFields/avatarURL"), "{e}");
    }
}
