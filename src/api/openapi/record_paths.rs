//! A collection's record paths (list, view, create, update, delete), with what each
//! rule allows described for the audience: rule expressions only for superusers.

use serde_json::{json, Map, Value};

use super::schemas::CollectionDoc;
use super::{body_content, error_response, json_content, schema_ref, Audience};

impl CollectionDoc<'_> {
    /// Who may call an operation governed by `rule` (the `rule_name`), for this audience.
    pub(super) fn access(&self, rule: &Option<String>, rule_name: &str, unmatched: &str) -> String {
        match (rule, self.audience) {
            (None, _) => "Superusers only: other callers get 403.".to_owned(),
            (Some(r), _) if r.trim().is_empty() => "Anyone.".to_owned(),
            (Some(r), Audience::Superuser) => {
                format!("Callers matching the {rule_name} `{r}`; {unmatched}")
            }
            (Some(_), Audience::Guest) => {
                format!("Callers matching the collection's {rule_name}; {unmatched}")
            }
        }
    }

    pub(super) fn add_to(&self, schemas: &mut Map<String, Value>, paths: &mut Map<String, Value>) {
        let c = self.c;
        let base = &self.base;
        let tag = json!([c.name]);
        let record = || schema_ref(&format!("{base}Record"));
        let param = |name: &str| json!({"$ref": format!("#/components/parameters/{name}")});
        if let Some(v) = &self.verbatim {
            let mut v = v.clone();
            if let Value::Object(obj) = &mut v {
                obj.entry("description").or_insert_with(|| {
                    json!(format!(
                        "The schema of `{}` as written; the target of its references.",
                        c.name
                    ))
                });
            }
            schemas.insert(format!("{base}Schema"), v);
        }
        schemas.insert(format!("{base}Record"), self.record_schema());
        schemas.insert(format!("{base}List"), self.list_schema());
        let list_params = [
            "page",
            "perPage",
            "sort",
            "filter",
            "expand",
            "fields",
            "skipTotal",
        ]
        .map(param);
        let record_params = ["expand", "fields"].map(param);
        let written = |what: &str| {
            json!({
                "description": format!("The {what} record; only its id when the viewRule hides it from the caller."),
                "content": json_content(json!({"anyOf": [record(), schema_ref("RecordRef")]})),
            })
        };

        let mut collection_path = Map::new();
        collection_path.insert(
            "get".into(),
            json!({
                "operationId": format!("list{base}"),
                "tags": tag,
                "summary": format!("List {} records", c.name),
                "description": self.access(&c.rules.list, "listRule", "records it does not match are left out, never an error."),
                "parameters": list_params,
                "responses": {
                    "200": {"description": "A page of records.", "content": json_content(schema_ref(&format!("{base}List")))},
                    "400": error_response("BadRequest"),
                    "403": error_response("Forbidden"),
                },
            }),
        );
        let mut record_path = Map::new();
        record_path.insert("parameters".into(), json!([param("recordId")]));
        record_path.insert(
            "get".into(),
            json!({
                "operationId": format!("view{base}"),
                "tags": tag,
                "summary": format!("View a {} record", c.name),
                "description": self.access(&c.rules.view, "viewRule", "others get 404."),
                "parameters": record_params,
                "responses": {
                    "200": {"description": "The record.", "content": json_content(record())},
                    "403": error_response("Forbidden"),
                    "404": error_response("NotFound"),
                },
            }),
        );
        if !c.is_view() {
            schemas.insert(format!("{base}Create"), self.input_schema(true));
            schemas.insert(format!("{base}Update"), self.input_schema(false));
            collection_path.insert(
                "post".into(),
                json!({
                    "operationId": format!("create{base}"),
                    "tags": tag,
                    "summary": format!("Create a {} record", c.name),
                    "description": self.access(&c.rules.create, "createRule", "others get 400."),
                    "parameters": record_params,
                    "requestBody": {"content": body_content(schema_ref(&format!("{base}Create")))},
                    "responses": {
                        "200": written("created"),
                        "400": error_response("BadRequest"),
                        "403": error_response("Forbidden"),
                    },
                }),
            );
            record_path.insert(
                "patch".into(),
                json!({
                    "operationId": format!("update{base}"),
                    "tags": tag,
                    "summary": format!("Update a {} record", c.name),
                    "description": self.access(&c.rules.update, "updateRule", "others get 404."),
                    "parameters": record_params,
                    "requestBody": {"content": body_content(schema_ref(&format!("{base}Update")))},
                    "responses": {
                        "200": written("updated"),
                        "400": error_response("BadRequest"),
                        "403": error_response("Forbidden"),
                        "404": error_response("NotFound"),
                    },
                }),
            );
            record_path.insert(
                "delete".into(),
                json!({
                    "operationId": format!("delete{base}"),
                    "tags": tag,
                    "summary": format!("Delete a {} record", c.name),
                    "description": self.access(&c.rules.delete, "deleteRule", "others get 404."),
                    "responses": {
                        "204": {"description": "Deleted."},
                        "400": {"description": "A required relation still references the record.", "content": json_content(schema_ref("ApiError"))},
                        "403": error_response("Forbidden"),
                        "404": error_response("NotFound"),
                    },
                }),
            );
        }
        let prefix = format!("/api/collections/{}/records", c.name);
        paths.insert(prefix.clone(), Value::Object(collection_path));
        paths.insert(format!("{prefix}/{{id}}"), Value::Object(record_path));
        if c.is_auth() {
            self.add_auth_to(schemas, paths);
        }
    }
}
