//! `GET /api/openapi.json` and `GET /api/docs`: the document follows the live collections
//! and the caller; the browser page and its script are served from the binary.

mod common;

use axum::http::{Method, StatusCode};
use common::{Answer, TestApp};
use serde_json::{json, Value};

async fn openapi(app: &TestApp, token: Option<&str>) -> Value {
    let a = app.get("/api/openapi.json", token).await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.raw)
    );
    assert_eq!(header(&a, "content-type"), "application/json");
    a.body
}

fn header<'a>(a: &'a Answer, name: &str) -> &'a str {
    a.headers
        .get(name)
        .unwrap_or_else(|| panic!("{name} header"))
        .to_str()
        .unwrap()
}

fn has_path(doc: &Value, path: &str) -> bool {
    doc["paths"].get(path).is_some()
}

async fn create_collection(app: &TestApp, token: &str, body: Value) {
    let a = app.post("/api/collections", body, Some(token)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn the_document_is_openapi_3_1_with_the_paths_of_each_collection() {
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    create_collection(
        &app,
        &token,
        json!({"name": "posts", "listRule": "", "viewRule": "", "createRule": "",
               "schema": {"type": "object", "properties": {
                   "title": {"type": "string", "minLength": 1},
                   "author": {"type": "string", "x-relation": {"collection": "users"}}
               }, "required": ["title"]}}),
    )
    .await;
    let doc = openapi(&app, None).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    for path in [
        "/api/collections/posts/records",
        "/api/collections/posts/records/{id}",
        "/api/collections/users/records",
        "/api/health",
        "/api/batch",
        "/api/collections/_superusers/auth-with-password",
    ] {
        assert!(has_path(&doc, path), "{path}");
    }
    assert!(!has_path(&doc, "/api/collections/_superusers/records"));
    let list = &doc["paths"]["/api/collections/posts/records"]["get"];
    let params: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["$ref"].as_str().unwrap())
        .collect();
    assert_eq!(
        params,
        [
            "page",
            "perPage",
            "sort",
            "filter",
            "expand",
            "fields",
            "skipTotal"
        ]
        .map(|p| format!("#/components/parameters/{p}"))
    );
    let create = &doc["paths"]["/api/collections/posts/records"]["post"];
    let content = create["requestBody"]["content"].as_object().unwrap();
    for ty in [
        "application/json",
        "multipart/form-data",
        "application/x-www-form-urlencoded",
    ] {
        assert_eq!(
            content[ty]["schema"]["$ref"],
            "#/components/schemas/PostsCreate"
        );
    }
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["PostsRecord"]["properties"]["title"],
        json!({"type": "string", "minLength": 1})
    );
    assert_eq!(schemas["PostsCreate"]["required"], json!(["title"]));
    assert_eq!(
        schemas["ApiError"]["required"],
        json!(["status", "message", "data"])
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
    assert_eq!(
        doc["paths"]["/api/collections/posts/records/{id}"]["delete"]["responses"]["404"]["$ref"],
        "#/components/responses/NotFound"
    );
}

#[tokio::test]
async fn the_document_follows_collection_changes() {
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    let before = openapi(&app, Some(&token)).await;
    assert!(!has_path(&before, "/api/collections/notes/records"));
    assert_eq!(
        openapi(&app, Some(&token)).await,
        before,
        "unchanged collections, same document"
    );

    create_collection(
        &app,
        &token,
        json!({"name": "notes", "schema": {"type": "object", "properties": {"body": {"type": "string"}}}}),
    )
    .await;
    let created = openapi(&app, Some(&token)).await;
    assert!(has_path(&created, "/api/collections/notes/records"));
    assert!(
        created["components"]["schemas"]["NotesRecord"]["properties"]
            .get("pinned")
            .is_none()
    );

    let a = app
        .json(
            Method::PATCH,
            "/api/collections/notes",
            Some(json!({"schema": {"type": "object", "properties": {
                "body": {"type": "string"}, "pinned": {"type": "boolean"}
            }}})),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let updated = openapi(&app, Some(&token)).await;
    assert_eq!(
        updated["components"]["schemas"]["NotesRecord"]["properties"]["pinned"],
        json!({"type": "boolean"})
    );

    let a = app
        .json(Method::DELETE, "/api/collections/notes", None, Some(&token))
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
    let deleted = openapi(&app, Some(&token)).await;
    assert!(!has_path(&deleted, "/api/collections/notes/records"));
    assert!(deleted["components"]["schemas"]
        .get("NotesRecord")
        .is_none());
}

#[tokio::test]
async fn superuser_only_collections_are_left_out_for_everyone_else() {
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    create_collection(
        &app,
        &token,
        json!({"name": "audit", "schema": {"type": "object", "properties": {"what": {"type": "string"}}}}),
    )
    .await;
    create_collection(
        &app,
        &token,
        json!({"name": "profiles", "viewRule": "", "schema": {"type": "object", "properties": {
            "bio": {"type": "string"}, "notes": {"type": "string", "x-hidden": true}
        }}}),
    )
    .await;

    let admin = openapi(&app, Some(&token)).await;
    assert!(has_path(&admin, "/api/collections/audit/records"));
    assert_eq!(
        admin["components"]["schemas"]["ProfilesRecord"]["properties"]["notes"]["x-hidden"],
        true
    );

    for guest_token in [None, Some("not-a-token"), Some("Bearer x.y.z")] {
        let guest = openapi(&app, guest_token).await;
        assert!(
            !has_path(&guest, "/api/collections/audit/records"),
            "{guest_token:?}"
        );
        assert!(guest["components"]["schemas"].get("AuditRecord").is_none());
        assert!(
            has_path(&guest, "/api/collections/profiles/records/{id}"),
            "a viewRule is enough"
        );
        assert!(
            guest["components"]["schemas"]["ProfilesRecord"]["properties"]
                .get("notes")
                .is_none(),
            "hidden fields stay hidden"
        );
    }
    // The superuser's variant is still served from its own cache entry.
    assert_eq!(openapi(&app, Some(&token)).await, admin);
}

/// The auth endpoints of a user auth collection, as paths under it.
const AUTH_ACTIONS: [&str; 13] = [
    "auth-with-password",
    "request-otp",
    "auth-with-otp",
    "auth-with-oauth2",
    "auth-refresh",
    "auth-methods",
    "impersonate/{id}",
    "request-verification",
    "confirm-verification",
    "request-password-reset",
    "confirm-password-reset",
    "request-email-change",
    "confirm-email-change",
];

#[tokio::test]
async fn each_auth_collection_gets_its_auth_paths_under_the_same_policy() {
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    create_collection(
        &app,
        &token,
        json!({"name": "members", "type": "auth", "listRule": "", "authRule": "verified = true",
               "schema": {"type": "object", "properties": {"nickname": {"type": "string"}}}}),
    )
    .await;
    create_collection(
        &app,
        &token,
        json!({"name": "staff", "type": "auth",
               "schema": {"type": "object", "properties": {"badge": {"type": "string"}}}}),
    )
    .await;

    let admin = openapi(&app, Some(&token)).await;
    let guest = openapi(&app, None).await;
    for action in AUTH_ACTIONS {
        for name in ["users", "members", "staff"] {
            let path = format!("/api/collections/{name}/{action}");
            assert!(has_path(&admin, &path), "{path}");
        }
        for name in ["users", "members"] {
            let path = format!("/api/collections/{name}/{action}");
            assert!(has_path(&guest, &path), "guests: {path}");
        }
        let hidden = format!("/api/collections/staff/{action}");
        assert!(!has_path(&guest, &hidden), "superusers only: {hidden}");
    }
    for doc in [&admin, &guest] {
        // Superusers cannot be impersonated and are verified by definition.
        for action in [
            "impersonate/{id}",
            "request-verification",
            "confirm-verification",
        ] {
            let path = format!("/api/collections/_superusers/{action}");
            assert!(!has_path(doc, &path), "{path}");
        }
        for action in [
            "auth-with-password",
            "auth-refresh",
            "auth-methods",
            "request-password-reset",
            "confirm-password-reset",
            "request-email-change",
            "confirm-email-change",
        ] {
            let path = format!("/api/collections/_superusers/{action}");
            assert!(has_path(doc, &path), "{path}");
        }
    }
    let schemas = &guest["components"]["schemas"];
    assert!(schemas.get("StaffAuthResponse").is_none());
    assert!(schemas.get("StaffCreate").is_none());
    assert_eq!(
        schemas["MembersAuthResponse"]["properties"]["record"]["allOf"],
        json!([{"$ref": "#/components/schemas/MembersRecord"}])
    );
    let sign_in = &guest["paths"]["/api/collections/members/auth-with-password"]["post"];
    assert_eq!(
        sign_in["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/MembersAuthResponse"
    );
    let description = sign_in["description"].as_str().unwrap();
    assert!(
        !description.contains("verified = true"),
        "guests never see rule text: {description}"
    );
    let admin_description = admin["paths"]["/api/collections/members/auth-with-password"]["post"]
        ["description"]
        .as_str()
        .unwrap();
    assert!(admin_description.contains("`verified = true`"));
    assert_eq!(
        guest["paths"]["/api/collections/members/auth-methods"]["get"]["responses"]["200"]
            ["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/AuthMethods"
    );

    let create = &schemas["MembersCreate"];
    for key in ["email", "password", "passwordConfirm"] {
        assert!(
            create["required"].as_array().unwrap().contains(&json!(key)),
            "{key}"
        );
    }
    assert_eq!(create["properties"]["password"]["writeOnly"], true);
    assert_eq!(create["properties"]["passwordConfirm"]["writeOnly"], true);
    let update = &schemas["MembersUpdate"]["properties"];
    for key in ["oldPassword", "password", "passwordConfirm"] {
        assert_eq!(update[key]["writeOnly"], true, "{key}");
    }
    for key in ["email", "emailVisibility", "verified"] {
        assert!(update.get(key).is_some(), "{key}");
    }
    for doc in [&admin, &guest] {
        assert!(
            !doc.to_string().contains("tokenKey"),
            "tokenKey is never input or output"
        );
    }
}

#[tokio::test]
async fn the_docs_page_loads_its_script_from_the_binary() {
    let app = TestApp::new().await;
    let page = app.get("/api/docs", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(header(&page, "content-type").starts_with("text/html"));
    let html = String::from_utf8(page.raw.clone()).unwrap();
    assert!(html.contains(r#"spec-url="openapi.json""#), "{html}");
    assert!(
        !html.contains("<script>"),
        "no inline script: the CSP forbids it"
    );
    let csp = header(&page, "content-security-policy");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-eval"), "{csp}");

    let src = html
        .split(r#"<script type="module" src=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a script element");
    // Relative to the page at /api/docs.
    let script = app.get(&format!("/api/{src}"), None).await;
    assert_eq!(script.status, StatusCode::OK, "{src}");
    assert_eq!(
        header(&script, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert!(header(&script, "cache-control").contains("max-age=31536000"));
    assert!(script.raw.starts_with(b"/*! RapiDoc"));
    assert!(script.raw.len() > 100_000);
}
