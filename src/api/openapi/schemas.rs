//! Record schemas: one collection's record, create, update and list schemas, copied
//! from its JSON Schema with `$ref`s repointed and hidden fields left out for guests.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::auth_paths::password_lengths;
use super::{schema_ref, timestamp_schema, Audience};
use crate::schema::{Collection, FieldKind, Snapshot};

/// `posts` → `Posts`: component names are `<Name>Record`, `<Name>Create`, … Only the first
/// letter changes, so names unique case-insensitively stay unique. No suffix (`Record`,
/// `List`, `Create`, `Update`, `Schema`, `AuthResponse`) ends with another, and no shared
/// component name (`ApiError`, `RecordRef`, `AuthMethods`, …) ends with one, so one collection's names never meet another's or the
/// shared ones.
pub(super) fn component_base(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Call `f` on `schema` and on every subschema in it. Only keywords that hold schemas are
/// entered: `const`, `enum`, `default`, `examples` and unknown keywords hold data.
pub(super) fn walk_schemas(schema: &mut Value, f: &mut dyn FnMut(&mut Map<String, Value>)) {
    match schema {
        Value::Object(obj) => {
            f(obj);
            for (key, value) in obj.iter_mut() {
                match key.as_str() {
                    "additionalProperties"
                    | "unevaluatedProperties"
                    | "items"
                    | "contains"
                    | "propertyNames"
                    | "not"
                    | "if"
                    | "then"
                    | "else"
                    | "unevaluatedItems"
                    | "contentSchema"
                    | "allOf"
                    | "anyOf"
                    | "oneOf"
                    | "prefixItems" => walk_schemas(value, f),
                    "properties" | "patternProperties" | "$defs" | "definitions"
                    | "dependentSchemas" => {
                        if let Value::Object(map) = value {
                            for v in map.values_mut() {
                                walk_schemas(v, f);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        // Arrays of schemas (`allOf`, …) reach here from the keywords above.
        Value::Array(items) => {
            for v in items {
                walk_schemas(v, f);
            }
        }
        _ => {}
    }
}

pub(super) const REF_KEYWORDS: [&str; 2] = ["$ref", "$dynamicRef"];

pub(super) const ANCHOR_KEYWORDS: [&str; 2] = ["$anchor", "$dynamicAnchor"];

/// One collection's part of the document.
pub(super) struct CollectionDoc<'a> {
    pub(super) snapshot: &'a Snapshot,
    pub(super) c: &'a Collection,
    pub(super) audience: Audience,
    pub(super) included: &'a HashSet<&'a str>,
    /// `Posts` for `posts`.
    pub(super) base: String,
    /// The schema as written, the target of its `$ref`s; `None` when it has none.
    pub(super) verbatim: Option<Value>,
    /// Anchors of `verbatim`, already prefixed.
    pub(super) anchors: HashSet<String>,
}

impl<'a> CollectionDoc<'a> {
    pub(super) fn new(
        snapshot: &'a Snapshot,
        c: &'a Collection,
        audience: Audience,
        included: &'a HashSet<&'a str>,
    ) -> Self {
        let mut doc = CollectionDoc {
            snapshot,
            c,
            audience,
            included,
            base: component_base(&c.name),
            verbatim: None,
            anchors: HashSet::new(),
        };
        let mut has_refs = false;
        walk_schemas(&mut c.schema.clone(), &mut |obj| {
            has_refs |= REF_KEYWORDS.iter().any(|k| obj.contains_key(*k));
        });
        if has_refs {
            doc.verbatim = Some(doc.verbatim_schema());
        }
        doc
    }

    pub(super) fn shows(&self, hidden: bool) -> bool {
        !hidden || self.audience == Audience::Superuser
    }

    /// Anchors get the collection's name as a prefix: the document holds many collections.
    pub(super) fn anchor_name(&self, anchor: &str) -> String {
        format!("{}-{anchor}", self.c.name)
    }

    /// The schema as written, minus what this audience must not see, with anchors renamed
    /// and its own references re-pointed.
    pub(super) fn verbatim_schema(&mut self) -> Value {
        let mut schema = self.c.schema.clone();
        if let Value::Object(root) = &mut schema {
            let hidden: Vec<&str> = self
                .c
                .fields
                .iter()
                .filter(|f| !self.shows(f.hidden))
                .map(|f| f.name.as_str())
                .collect();
            if let Some(Value::Object(props)) = root.get_mut("properties") {
                props.retain(|k, _| !hidden.contains(&k.as_str()));
            }
            if let Some(Value::Array(required)) = root.get_mut("required") {
                required.retain(|r| !r.as_str().is_some_and(|r| hidden.contains(&r)));
            }
        }
        let mut anchors = HashSet::new();
        walk_schemas(&mut schema, &mut |obj| {
            obj.remove("$id");
            obj.remove("$schema");
            for key in ANCHOR_KEYWORDS {
                if let Some(Value::String(a)) = obj.get(key) {
                    let renamed = self.anchor_name(a);
                    anchors.insert(renamed.clone());
                    obj.insert(key.into(), Value::String(renamed));
                }
            }
        });
        self.anchors = anchors;
        // References are checked against the schema before they are rewritten.
        let original = schema.clone();
        walk_schemas(&mut schema, &mut |obj| self.repoint(obj, &original));
        schema
    }

    /// Point `$ref`/`$dynamicRef` at the `<Name>Schema` component; drop one whose target
    /// is not there (inside a field hidden from this audience).
    pub(super) fn repoint(&self, obj: &mut Map<String, Value>, verbatim: &Value) {
        for key in REF_KEYWORDS {
            let Some(Value::String(target)) = obj.get(key) else {
                continue;
            };
            // Collections accept only references inside the document ("#…").
            let fragment = target.strip_prefix('#').unwrap_or("\u{0}");
            let repointed = if fragment.is_empty() || fragment.starts_with('/') {
                verbatim
                    .pointer(fragment)
                    .map(|_| format!("#/components/schemas/{}Schema{fragment}", self.base))
            } else {
                let anchor = self.anchor_name(fragment);
                self.anchors.contains(&anchor).then(|| format!("#{anchor}"))
            };
            match repointed {
                Some(r) => obj.insert(key.into(), Value::String(r)),
                None => obj.remove(key),
            };
        }
    }

    /// A property schema as the collection wrote it, ready to sit in another component.
    pub(super) fn copy(&self, schema: &Value) -> Value {
        let mut copy = schema.clone();
        let verbatim = self.verbatim.as_ref().unwrap_or(&Value::Null);
        walk_schemas(&mut copy, &mut |obj| {
            obj.remove("$id");
            obj.remove("$schema");
            for key in ANCHOR_KEYWORDS {
                obj.remove(key);
            }
            self.repoint(obj, verbatim);
        });
        copy
    }

    /// A relation's target collection, if this document has it.
    pub(super) fn relation_target(&self, kind: &FieldKind) -> Option<&'a Collection> {
        let FieldKind::Relation(r) = kind else {
            return None;
        };
        self.snapshot
            .get(&r.collection)
            .map(|c| &**c)
            .filter(|t| self.included.contains(t.id.as_str()))
    }

    /// A copied property schema, with a description for relations when it has none.
    pub(super) fn property(&self, field: &crate::schema::Field) -> Value {
        let mut schema = self.copy(&field.schema);
        if let (FieldKind::Relation(r), Value::Object(obj)) = (&field.kind, &mut schema) {
            if !obj.contains_key("description") {
                let target = self
                    .snapshot
                    .get(&r.collection)
                    .map_or(r.collection.as_str(), |t| t.name.as_str());
                let text = if r.multiple {
                    format!("Ids of `{target}` records.")
                } else {
                    format!("The id of a `{target}` record.")
                };
                obj.insert("description".into(), Value::String(text));
            }
        }
        schema
    }

    /// Properties that are not required and whose zero value (what an unset property reads
    /// as) the collection's schema would reject: the response may still hold that value.
    pub(super) fn zero_invalid(&self) -> HashSet<String> {
        let mut instance = Map::new();
        for f in &self.c.fields {
            if !f.required && !matches!(f.kind, FieldKind::Autodate(_)) {
                instance.insert(f.name.clone(), f.kind.zero_value());
            }
        }
        let instance = Value::Object(instance);
        self.c
            .validator
            .iter_errors(&instance)
            .filter_map(|e| {
                // Top-level property names are identifiers: no pointer escapes.
                let path = e.instance_path().as_str().to_owned();
                let first = path.trim_start_matches('/').split('/').next()?.to_owned();
                (!first.is_empty()).then_some(first)
            })
            .collect()
    }

    /// The record as list, view, create and update return it.
    pub(super) fn record_schema(&self) -> Value {
        let c = self.c;
        let mut props = Map::new();
        let id_text = if c.is_view() {
            "The id from the view query's `id` column."
        } else {
            "15 characters of a-z and 0-9 (generated, or given on create)."
        };
        props.insert(
            "id".into(),
            json!({"type": "string", "description": id_text}),
        );
        props.insert(
            "collectionId".into(),
            json!({"type": "string", "const": c.id}),
        );
        props.insert(
            "collectionName".into(),
            json!({"type": "string", "const": c.name}),
        );
        let mut required: Vec<String> = ["id", "collectionId", "collectionName"]
            .map(String::from)
            .to_vec();
        if !c.is_view() {
            props.insert("created".into(), timestamp_schema("Creation time,"));
            props.insert("updated".into(), timestamp_schema("Last change,"));
            required.extend(["created".into(), "updated".into()]);
        }
        if c.is_auth() {
            props.insert("email".into(), json!({
                "type": "string",
                "format": "email",
                "description": "Present when `emailVisibility` is true, for the record itself, and for superusers.",
            }));
            props.insert("emailVisibility".into(), json!({"type": "boolean"}));
            props.insert("verified".into(), json!({"type": "boolean"}));
            required.extend(["emailVisibility".into(), "verified".into()]);
        }
        let zero_invalid = self.zero_invalid();
        let mut expand = Map::new();
        for f in &c.fields {
            if !self.shows(f.hidden) {
                continue;
            }
            let mut schema = self.property(f);
            if zero_invalid.contains(&f.name) {
                schema = or_zero(schema, f.kind.zero_value());
            }
            props.insert(f.name.clone(), schema);
            if !f.hidden {
                required.push(f.name.clone());
            }
            if let Some(target) = self.relation_target(&f.kind) {
                let one = schema_ref(&format!("{}Record", component_base(&target.name)));
                let expanded = if f.kind.is_multiple() {
                    json!({"type": "array", "items": one})
                } else {
                    one
                };
                expand.insert(f.name.clone(), expanded);
            }
        }
        props.insert(
            "expand".into(),
            json!({
                "type": "object",
                "description": "Related records asked for with the `expand` parameter and visible to the caller (back-relations `<collection>_via_<field>` too). Present only when an expansion was asked for.",
                "properties": expand,
                "additionalProperties": true,
            }),
        );
        let mut schema = json!({
            "type": "object",
            "description": format!("A record of `{}`.", c.name),
            "required": required,
            "properties": props,
        });
        copy_annotations(&c.schema, &mut schema);
        schema
    }

    /// The properties a client may send. `create`: with `id` and the required list.
    pub(super) fn input_schema(&self, create: bool) -> Value {
        let c = self.c;
        let mut props = Map::new();
        let mut required: Vec<String> = Vec::new();
        if create {
            props.insert(
                "id".into(),
                json!({"type": "string", "pattern": "^[a-z0-9]{15}$", "description": "Optional; generated when absent."}),
            );
        }
        if c.is_auth() {
            let (min, max) = password_lengths(c);
            let managers = "superusers and callers matching the manageRule";
            let email = if create {
                "Unique in the collection, case-insensitively.".to_owned()
            } else {
                format!("Only {managers} may change it (`validation_values_mismatch` for others); a change ends every earlier token of the record.")
            };
            props.insert(
                "email".into(),
                json!({"type": "string", "format": "email", "description": email}),
            );
            props.insert(
                "emailVisibility".into(),
                json!({"type": "boolean", "description": "Whether callers other than the record itself and superusers see `email`."}),
            );
            props.insert(
                "verified".into(),
                json!({"type": "boolean", "description": format!("Only {managers} may set it (`validation_values_mismatch` for others).")}),
            );
            if !create {
                props.insert(
                    "oldPassword".into(),
                    json!({"type": "string", "format": "password", "writeOnly": true, "description": format!("The current password: required with `password`, except for {managers}.")}),
                );
            }
            let password = if create {
                "The password; it is stored hashed and never returned."
            } else {
                "A new password; it ends every earlier token of the record."
            };
            props.insert(
                "password".into(),
                json!({"type": "string", "format": "password", "writeOnly": true, "minLength": min, "maxLength": max, "description": password}),
            );
            props.insert(
                "passwordConfirm".into(),
                json!({"type": "string", "format": "password", "writeOnly": true, "description": "Must equal `password`."}),
            );
            if create {
                required.extend(["email".into(), "password".into(), "passwordConfirm".into()]);
            }
        }
        for f in &c.fields {
            if !self.shows(f.hidden) || matches!(f.kind, FieldKind::Autodate(_)) {
                continue;
            }
            props.insert(f.name.clone(), self.property(f));
            if create && f.required && f.default.is_none() && !f.hidden {
                required.push(f.name.clone());
            }
        }
        let description = if create {
            "The new record's values. Unset properties take their `default` or zero value. \
             Unknown keys are ignored. In multipart bodies, `@jsonPayload` parts hold JSON \
             objects merged over the plain values."
        } else {
            "The values to change; others stay. Number fields also take `<field>+`/`<field>-` \
             (add, subtract); array and relation fields `<field>+`, `+<field>` (append, prepend) \
             and `<field>-` (remove). Unknown keys are ignored."
        };
        let mut schema = json!({"type": "object", "description": description, "properties": props});
        if !required.is_empty() {
            schema["required"] = json!(required);
        }
        schema
    }

    pub(super) fn list_schema(&self) -> Value {
        json!({
            "type": "object",
            "required": ["page", "perPage", "totalItems", "totalPages", "items"],
            "properties": {
                "page": {"type": "integer"},
                "perPage": {"type": "integer"},
                "totalItems": {"type": "integer", "description": "-1 with `skipTotal`."},
                "totalPages": {"type": "integer", "description": "-1 with `skipTotal`."},
                "items": {"type": "array", "items": schema_ref(&format!("{}Record", self.base))},
            },
        })
    }
}

/// `schema`, or the zero value an unset property reads as. Annotations and vendor
/// extensions move to the outside, where readers look for them.
pub(super) fn or_zero(schema: Value, zero: Value) -> Value {
    let mut outer = Map::new();
    let mut inner = schema;
    if let Value::Object(obj) = &mut inner {
        let keys: Vec<String> = obj
            .keys()
            .filter(|k| k.starts_with("x-") || *k == "title" || *k == "description")
            .cloned()
            .collect();
        for k in keys {
            if let Some(v) = obj.remove(&k) {
                outer.insert(k, v);
            }
        }
    }
    outer.insert("anyOf".into(), json!([inner, {"const": zero}]));
    Value::Object(outer)
}

/// The collection schema's `title`, `description`, `examples` and `deprecated`.
pub(super) fn copy_annotations(from: &Value, to: &mut Value) {
    for key in ["title", "description", "examples", "deprecated"] {
        if let Some(v) = from.get(key) {
            to[key] = v.clone();
        }
    }
}
