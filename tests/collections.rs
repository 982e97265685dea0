//! `/api/collections`: JSON Schema in, real tables out, kept in step by PATCH.

mod common;

use axum::http::{Method, StatusCode};
use common::{assert_error_shape, TestApp};
use keelbase::db::DbError;
use rusqlite::Connection;
use serde_json::{json, Value};

async fn admin() -> (TestApp, String) {
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    (app, token)
}

async fn create(app: &TestApp, token: &str, body: Value) -> common::Answer {
    app.post("/api/collections", body, Some(token)).await
}

async fn patch(app: &TestApp, token: &str, name: &str, body: Value) -> common::Answer {
    app.json(
        Method::PATCH,
        &format!("/api/collections/{name}"),
        Some(body),
        Some(token),
    )
    .await
}

/// Run SQL on the writer (the records API does not exist yet).
async fn sql(app: &TestApp, statement: &'static str) {
    app.state
        .data()
        .write(move |c: &Connection| -> Result<(), DbError> {
            c.execute_batch(statement)?;
            Ok(())
        })
        .await
        .unwrap();
}

async fn rows(app: &TestApp, query: &'static str) -> Vec<Vec<Value>> {
    app.state
        .data()
        .read(move |c: &Connection| -> Result<Vec<Vec<Value>>, DbError> {
            let mut stmt = c.prepare(query)?;
            let n = stmt.column_count();
            let out = stmt
                .query_map([], |r| {
                    (0..n)
                        .map(|i| {
                            Ok(match r.get_ref(i)? {
                                rusqlite::types::ValueRef::Null => Value::Null,
                                rusqlite::types::ValueRef::Integer(v) => json!(v),
                                rusqlite::types::ValueRef::Real(v) => json!(v),
                                rusqlite::types::ValueRef::Text(t) => {
                                    json!(String::from_utf8_lossy(t))
                                }
                                rusqlite::types::ValueRef::Blob(_) => json!("<blob>"),
                            })
                        })
                        .collect()
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(out)
        })
        .await
        .unwrap()
}

/// `(name, type, notnull)` of each column, from `PRAGMA table_info`.
async fn columns(app: &TestApp, table: &str) -> Vec<(String, String)> {
    let table = table.to_owned();
    app.state
        .data()
        .read(
            move |c: &Connection| -> Result<Vec<(String, String)>, DbError> {
                let mut stmt = c.prepare("SELECT name, type FROM pragma_table_info(?1)")?;
                let v = stmt
                    .query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(v)
            },
        )
        .await
        .unwrap()
}

fn posts() -> Value {
    json!({
        "name": "posts",
        "schema": {
            "type": "object",
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 200},
                "views": {"type": "integer", "minimum": 0, "default": 0},
                "published": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "meta": {"type": "object"},
                "score": {"type": "number"},
                "author": {"type": "string", "x-relation": {"collection": "users"}},
                "due": {"type": "string", "format": "date-time"}
            },
            "required": ["title"],
            "additionalProperties": false
        },
        "indexes": [{"fields": ["title"]}],
        "listRule": "",
        "viewRule": ""
    })
}

#[tokio::test]
async fn a_posted_schema_becomes_a_strict_typed_table() {
    let (app, token) = admin().await;
    let a = create(&app, &token, posts()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["id"], "pbc_1125843985");
    assert_eq!(a.body["type"], "base");
    assert_eq!(a.body["system"], false);
    assert_eq!(
        a.body["schema"],
        posts()["schema"],
        "the schema is returned as written"
    );
    assert_eq!(a.body["listRule"], "");
    assert_eq!(a.body["createRule"], Value::Null);
    assert_eq!(
        a.body["indexes"],
        json!([{"name": "idx_posts_title", "fields": ["title"], "unique": false}])
    );

    let cols = columns(&app, "posts").await;
    let expected = [
        ("id", "TEXT"),
        ("created", "TEXT"),
        ("updated", "TEXT"),
        ("title", "TEXT"),
        ("views", "INTEGER"),
        ("published", "INTEGER"),
        ("tags", "TEXT"),
        ("meta", "TEXT"),
        ("score", "REAL"),
        ("author", "TEXT"),
        ("due", "TEXT"),
    ];
    assert_eq!(
        cols,
        expected
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect::<Vec<_>>()
    );
    let sql_text = rows(&app, "SELECT sql FROM sqlite_master WHERE name = 'posts'").await;
    let ddl = sql_text[0][0].as_str().unwrap();
    assert!(ddl.ends_with("STRICT"), "{ddl}");
    assert!(
        ddl.contains("REFERENCES \"users\"(\"id\") ON DELETE SET NULL"),
        "{ddl}"
    );
    let indexes = rows(
        &app,
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'posts' ORDER BY name",
    )
    .await;
    let names: Vec<&str> = indexes.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert!(names.contains(&"idx_posts_title"), "{names:?}");
    assert!(
        names.iter().any(|n| n.ends_with("_created")),
        "an index on created: {names:?}"
    );

    // View by name and by id; list.
    for key in ["posts", "pbc_1125843985", "POSTS"] {
        let v = app
            .get(&format!("/api/collections/{key}"), Some(&token))
            .await;
        assert_eq!(v.status, StatusCode::OK, "{key}");
        assert_eq!(v.body["name"], "posts");
    }
    let list = app
        .get(
            "/api/collections?perPage=2&sort=-created,name",
            Some(&token),
        )
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["perPage"], 2);
    assert_eq!(list.body["totalItems"], 3, "_superusers, users, posts");
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_default_users_and_superusers_collections_exist() {
    let (app, token) = admin().await;
    let users = app.get("/api/collections/users", Some(&token)).await;
    assert_eq!(users.status, StatusCode::OK);
    assert_eq!(users.body["id"], "_pb_users_auth_");
    assert_eq!(users.body["type"], "auth");
    assert_eq!(users.body["listRule"], "id = @request.auth.id");
    assert_eq!(users.body["createRule"], "");
    assert!(users.body["schema"]["properties"]["avatar"]["x-file"].is_object());
    assert_eq!(users.body["auth"]["authToken"]["duration"], 432000);
    assert!(
        users.body["auth"]["authToken"].get("secret").is_none(),
        "secrets are never shown"
    );
    let cols: Vec<String> = columns(&app, "users")
        .await
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for c in [
        "id",
        "email",
        "emailVisibility",
        "verified",
        "password",
        "tokenKey",
        "name",
        "avatar",
    ] {
        assert!(cols.contains(&c.to_string()), "users has {c}: {cols:?}");
    }
    let su = app.get("/api/collections/_superusers", Some(&token)).await;
    assert_eq!(su.body["id"], "pbc_3142635823");
    assert_eq!(su.body["system"], true);
    assert_error_shape(
        &app.json(
            Method::DELETE,
            "/api/collections/_superusers",
            None,
            Some(&token),
        )
        .await,
        400,
    );
    assert_error_shape(
        &patch(&app, &token, "_superusers", json!({"listRule": ""})).await,
        400,
    );

    // Deleting `users` is remembered: it is not re-created on the next start.
    let del = app
        .json(Method::DELETE, "/api/collections/users", None, Some(&token))
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT, "{}", del.body);
    let dir = app.dir;
    let app = TestApp::at(dir, |_| {}).await;
    assert!(app.state.collections().snapshot().get("users").is_none());
}

#[tokio::test]
async fn collection_routes_are_superuser_only() {
    let app = TestApp::new().await;
    for (method, path) in [
        (Method::GET, "/api/collections"),
        (Method::POST, "/api/collections"),
        (Method::GET, "/api/collections/users"),
        (Method::PATCH, "/api/collections/users"),
        (Method::DELETE, "/api/collections/users"),
        (Method::DELETE, "/api/collections/users/truncate"),
        (Method::PUT, "/api/collections/import"),
    ] {
        let a = app.json(method.clone(), path, Some(json!({})), None).await;
        assert_error_shape(&a, 401);
        let a = app
            .json(
                method.clone(),
                path,
                Some(json!({})),
                Some("forged.token.value"),
            )
            .await;
        assert_error_shape(&a, 401);
    }
    assert!(
        app.state.collections().snapshot().get("users").is_some(),
        "nothing changed"
    );
}

#[tokio::test]
async fn invalid_definitions_are_400s_that_point_at_the_problem() {
    let (app, token) = admin().await;
    let a = create(
        &app,
        &token,
        json!({"name": "events", "schema": {"type": "object", "properties": {"due": {"type": "string", "format": "daytime"}}}}),
    )
    .await;
    assert_error_shape(&a, 400);
    assert_eq!(a.body["message"], "Failed to create collection.");
    assert_eq!(a.body["data"]["schema"]["code"], "invalid_schema");
    assert!(
        a.body["data"]["schema"]["message"]
            .as_str()
            .unwrap()
            .contains("/properties/due/format"),
        "{}",
        a.body
    );

    let a = create(&app, &token, json!({"name": "x", "schema": {"type": "object", "properties": {"a": {"type": "string", "x-relation": {"collection": "ghosts"}}}}})).await;
    assert!(a.body["data"]["schema"]["message"]
        .as_str()
        .unwrap()
        .contains("ghosts"));
    let a = create(&app, &token, json!({"name": "users"})).await;
    assert_eq!(a.body["data"]["name"]["code"], "validation_not_unique");
    let a = create(&app, &token, json!({"schema": {}})).await;
    assert_eq!(a.body["data"]["name"]["code"], "validation_required");
    let a = create(&app, &token, json!({"name": "v", "type": "view"})).await;
    assert_error_shape(&a, 400);
    let tables = rows(
        &app,
        "SELECT count(*) FROM sqlite_master WHERE name IN ('events', 'x', 'v')",
    )
    .await;
    assert_eq!(tables[0][0], 0, "nothing was created");
}

#[tokio::test]
async fn a_tree_relation_to_itself_is_created_in_one_step() {
    let (app, token) = admin().await;
    let a = create(
        &app,
        &token,
        json!({"name": "nodes", "schema": {"type": "object", "properties": {
            "parent": {"type": "string", "x-relation": {"collection": "nodes", "cascadeDelete": true}}
        }}}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    sql(&app, "INSERT INTO nodes (id, parent) VALUES ('root00000000000', NULL); INSERT INTO nodes (id, parent) VALUES ('leaf00000000000', 'root00000000000');").await;
    sql(&app, "DELETE FROM nodes WHERE id = 'root00000000000'").await;
    assert_eq!(
        rows(&app, "SELECT count(*) FROM nodes").await[0][0],
        0,
        "cascade followed the tree"
    );
}

async fn seeded_posts(app: &TestApp, token: &str) {
    let a = create(app, token, posts()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    sql(
        app,
        "INSERT INTO posts (id, title, views, published, tags, meta, score) VALUES
            ('p10000000000001', 'One', 1, 1, '[\"a\"]', '{\"k\":1}', 1.5),
            ('p10000000000002', 'Two', 2, 0, '[]', 'null', 2),
            ('p10000000000003', '3', 3, 0, '[]', 'null', 0)",
    )
    .await;
}

#[tokio::test]
async fn adding_renaming_and_dropping_properties_keeps_the_rows() {
    let (app, token) = admin().await;
    seeded_posts(&app, &token).await;
    let mut schema = posts()["schema"].clone();
    let props = schema["properties"].as_object_mut().unwrap();
    let title = props.remove("title").unwrap();
    props.insert("headline".into(), title);
    props.remove("meta");
    props.insert(
        "subtitle".into(),
        json!({"type": "string", "default": "none"}),
    );
    schema["required"] = json!(["headline"]);
    let a = patch(
        &app,
        &token,
        "posts",
        json!({"schema": schema, "rename": {"title": "headline"}, "indexes": []}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let cols: Vec<String> = columns(&app, "posts")
        .await
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(
        cols.contains(&"headline".into())
            && !cols.contains(&"title".into())
            && !cols.contains(&"meta".into())
    );
    let data = rows(
        &app,
        "SELECT id, headline, views, published, tags, score, subtitle FROM posts ORDER BY id",
    )
    .await;
    assert_eq!(
        data[0],
        vec![
            json!("p10000000000001"),
            json!("One"),
            json!(1),
            json!(1),
            json!("[\"a\"]"),
            json!(1.5),
            json!("none")
        ]
    );
    assert_eq!(data.len(), 3);
}

#[tokio::test]
async fn retyping_converts_values_or_refuses_naming_the_rows() {
    let (app, token) = admin().await;
    seeded_posts(&app, &token).await;
    // title → integer: 'One' and 'Two' cannot convert.
    let mut schema = posts()["schema"].clone();
    schema["properties"]["title"] = json!({"type": "integer"});
    let a = patch(
        &app,
        &token,
        "posts",
        json!({"schema": schema, "indexes": []}),
    )
    .await;
    assert_error_shape(&a, 400);
    assert_eq!(
        a.body["data"]["records"]["code"],
        "validation_existing_records"
    );
    assert_eq!(
        a.body["data"]["records"]["params"]["ids"],
        json!(["p10000000000001", "p10000000000002"])
    );
    assert!(a.body["message"]
        .as_str()
        .unwrap()
        .contains("p10000000000001"));
    assert_eq!(
        columns(&app, "posts").await[3],
        ("title".to_string(), "TEXT".to_string()),
        "nothing changed"
    );

    // views → string and score → integer where every value converts.
    let mut schema = posts()["schema"].clone();
    schema["properties"]["views"] = json!({"type": "string"});
    schema["properties"]["score"] = json!({"type": "integer"});
    let a = patch(&app, &token, "posts", json!({"schema": schema})).await;
    assert_error_shape(&a, 400);
    assert_eq!(
        a.body["data"]["records"]["params"]["ids"],
        json!(["p10000000000001"]),
        "1.5 is not an integer"
    );
    schema["properties"]["score"] = json!({"type": "number"});
    let a = patch(&app, &token, "posts", json!({"schema": schema})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let data = rows(&app, "SELECT views, typeof(views) FROM posts ORDER BY id").await;
    assert_eq!(data[0], vec![json!("1"), json!("text")]);

    // A narrower constraint on the same type is checked against the rows too.
    let mut narrower = schema.clone();
    narrower["properties"]["title"] = json!({"type": "string", "maxLength": 2});
    let a = patch(&app, &token, "posts", json!({"schema": narrower})).await;
    assert_error_shape(&a, 400);
    assert_eq!(
        a.body["data"]["records"]["params"]["ids"],
        json!(["p10000000000001", "p10000000000002"])
    );
}

#[tokio::test]
async fn a_new_required_property_needs_a_default_when_rows_exist() {
    let (app, token) = admin().await;
    seeded_posts(&app, &token).await;
    let mut schema = posts()["schema"].clone();
    schema["properties"]["slug"] = json!({"type": "string"});
    schema["required"] = json!(["title", "slug"]);
    let a = patch(&app, &token, "posts", json!({"schema": schema})).await;
    assert_error_shape(&a, 400);
    assert_eq!(
        a.body["data"]["records"]["params"]["ids"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert!(!columns(&app, "posts")
        .await
        .iter()
        .any(|(n, _)| n == "slug"));
    schema["properties"]["slug"] = json!({"type": "string", "default": "untitled"});
    let a = patch(&app, &token, "posts", json!({"schema": schema})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        rows(&app, "SELECT DISTINCT slug FROM posts").await,
        vec![vec![json!("untitled")]]
    );
}

#[tokio::test]
async fn a_unique_index_over_duplicates_is_refused_naming_them() {
    let (app, token) = admin().await;
    seeded_posts(&app, &token).await;
    sql(
        &app,
        "UPDATE posts SET views = 2 WHERE id = 'p10000000000003'",
    )
    .await;
    let a = patch(
        &app,
        &token,
        "posts",
        json!({"indexes": [{"fields": ["views"], "unique": true}]}),
    )
    .await;
    assert_error_shape(&a, 400);
    assert_eq!(
        a.body["data"]["records"]["params"]["ids"],
        json!(["p10000000000002", "p10000000000003"])
    );
    let still = app.get("/api/collections/posts", Some(&token)).await;
    assert_eq!(
        still.body["indexes"][0]["name"], "idx_posts_title",
        "the old indexes remain"
    );
    let a = patch(
        &app,
        &token,
        "posts",
        json!({"indexes": [{"name": "uniq_title", "fields": ["title"], "unique": true}]}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let idx = rows(&app, "SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('uniq_title', 'idx_posts_title')").await;
    assert_eq!(idx, vec![vec![json!("uniq_title")]]);
}

#[tokio::test]
async fn renaming_a_collection_carries_its_table_and_the_relations_to_it() {
    let (app, token) = admin().await;
    let a = create(&app, &token, json!({"name": "authors", "schema": {"type": "object", "properties": {"name": {"type": "string"}}}})).await;
    assert_eq!(a.status, StatusCode::OK);
    let a = create(
        &app,
        &token,
        json!({"name": "books", "schema": {"type": "object", "properties": {
            "author": {"type": "string", "x-relation": {"collection": "authors", "cascadeDelete": true}},
            "coauthors": {"type": "array", "items": {"type": "string"}, "x-relation": {"collection": "authors"}}
        }}}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    sql(&app, "INSERT INTO authors (id, name) VALUES ('a00000000000001', 'Ann'); INSERT INTO books (id, author) VALUES ('b00000000000001', 'a00000000000001');").await;

    let a = patch(&app, &token, "authors", json!({"name": "writers"})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        rows(&app, "SELECT name FROM writers").await,
        vec![vec![json!("Ann")]]
    );
    let books = app.get("/api/collections/books", Some(&token)).await;
    assert_eq!(
        books.body["schema"]["properties"]["author"]["x-relation"]["collection"],
        "writers"
    );
    assert_eq!(
        books.body["schema"]["properties"]["coauthors"]["x-relation"]["collection"],
        "writers"
    );
    let ddl = rows(&app, "SELECT sql FROM sqlite_master WHERE name = 'books'").await;
    assert!(
        ddl[0][0]
            .as_str()
            .unwrap()
            .contains("REFERENCES \"writers\""),
        "{:?}",
        ddl
    );

    // Deleting a collection others relate to is refused, naming them.
    let del = app
        .json(
            Method::DELETE,
            "/api/collections/writers",
            None,
            Some(&token),
        )
        .await;
    assert_error_shape(&del, 400);
    assert!(
        del.body["message"].as_str().unwrap().contains("books"),
        "{}",
        del.body
    );
    // The foreign key still cascades after the rename.
    sql(&app, "DELETE FROM writers WHERE id = 'a00000000000001'").await;
    assert_eq!(rows(&app, "SELECT count(*) FROM books").await[0][0], 0);
    // Once nothing relates to it, it can go.
    assert_eq!(
        app.json(Method::DELETE, "/api/collections/books", None, Some(&token))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.json(
            Method::DELETE,
            "/api/collections/writers",
            None,
            Some(&token)
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        rows(
            &app,
            "SELECT count(*) FROM sqlite_master WHERE name IN ('books', 'writers')"
        )
        .await[0][0],
        0
    );
}

#[tokio::test]
async fn rebuilding_a_referenced_table_does_not_cascade() {
    let (app, token) = admin().await;
    create(&app, &token, json!({"name": "authors", "schema": {"type": "object", "properties": {"name": {"type": "string"}}}})).await;
    create(
        &app,
        &token,
        json!({"name": "books", "schema": {"type": "object", "properties": {
            "author": {"type": "string", "x-relation": {"collection": "authors", "cascadeDelete": true}}
        }}}),
    )
    .await;
    sql(&app, "INSERT INTO authors (id, name) VALUES ('a00000000000001', '7'); INSERT INTO books (id, author) VALUES ('b00000000000001', 'a00000000000001');").await;
    // Retype `name`: the authors table is rebuilt (dropped and recreated).
    let a = patch(
        &app,
        &token,
        "authors",
        json!({"schema": {"type": "object", "properties": {"name": {"type": "integer"}}}}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        rows(&app, "SELECT name, typeof(name) FROM authors").await,
        vec![vec![json!(7), json!("integer")]]
    );
    assert_eq!(
        rows(&app, "SELECT author FROM books").await,
        vec![vec![json!("a00000000000001")]],
        "the book survived"
    );
    assert!(rows(&app, "PRAGMA foreign_key_check").await.is_empty());
}

#[tokio::test]
async fn truncate_and_import() {
    let (app, token) = admin().await;
    seeded_posts(&app, &token).await;
    let t = app
        .json(
            Method::DELETE,
            "/api/collections/posts/truncate",
            None,
            Some(&token),
        )
        .await;
    assert_eq!(t.status, StatusCode::NO_CONTENT);
    assert_eq!(rows(&app, "SELECT count(*) FROM posts").await[0][0], 0);

    // Import: two new collections that relate to each other in the "wrong" order, plus
    // an update, in one transaction; deleteMissing removes `posts`.
    let body = json!({"collections": [
        {"name": "comments", "schema": {"type": "object", "properties": {"post": {"type": "string", "x-relation": {"collection": "articles"}}}}},
        {"name": "articles", "schema": {"type": "object", "properties": {"title": {"type": "string"}}}},
        {"name": "users", "listRule": ""}
    ], "deleteMissing": true});
    let a = app
        .json(
            Method::PUT,
            "/api/collections/import",
            Some(body),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
    let snapshot = app.state.collections().snapshot();
    let names: Vec<&str> = snapshot.all().iter().map(|c| c.name.as_str()).collect();
    assert!(
        names.contains(&"comments") && names.contains(&"articles") && !names.contains(&"posts"),
        "{names:?}"
    );
    assert_eq!(
        snapshot.get("users").unwrap().rules.list.as_deref(),
        Some("")
    );

    // A failing import changes nothing.
    let bad = json!({"collections": [
        {"name": "fresh", "schema": {"type": "object"}},
        {"name": "broken", "schema": {"type": "object", "properties": {"a": {"type": "nope"}}}}
    ]});
    let a = app
        .json(
            Method::PUT,
            "/api/collections/import",
            Some(bad),
            Some(&token),
        )
        .await;
    assert_error_shape(&a, 400);
    assert!(app.state.collections().snapshot().get("fresh").is_none());
    assert_eq!(
        rows(
            &app,
            "SELECT count(*) FROM sqlite_master WHERE name = 'fresh'"
        )
        .await[0][0],
        0
    );
}

#[tokio::test]
async fn changing_the_auth_rule_rotates_the_token_secret() {
    let (app, token) = admin().await;
    let before = app
        .state
        .collections()
        .snapshot()
        .get("users")
        .unwrap()
        .token_secret("authToken")
        .unwrap()
        .to_owned();
    let a = patch(&app, &token, "users", json!({"listRule": ""})).await;
    assert_eq!(a.status, StatusCode::OK);
    let same = app
        .state
        .collections()
        .snapshot()
        .get("users")
        .unwrap()
        .token_secret("authToken")
        .unwrap()
        .to_owned();
    assert_eq!(before, same, "other rule changes keep the secret");
    let a = patch(
        &app,
        &token,
        "users",
        json!({"authRule": "verified = true"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let after = app
        .state
        .collections()
        .snapshot()
        .get("users")
        .unwrap()
        .token_secret("authToken")
        .unwrap()
        .to_owned();
    assert_ne!(before, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_schema_change_during_writes_loses_no_acknowledged_write() {
    let (app, token) = admin().await;
    seeded_posts(&app, &token).await;
    let db = app.state.data().clone();
    let writer = tokio::spawn(async move {
        let mut acked = Vec::new();
        for i in 0..300 {
            let id = format!("w{:014}", i);
            let id2 = id.clone();
            let r = db
                .write(move |c: &Connection| -> Result<(), DbError> {
                    c.execute("INSERT INTO posts (id, title) VALUES (?1, 'w')", [&id2])?;
                    Ok(())
                })
                .await;
            if r.is_ok() {
                acked.push(id);
            }
            tokio::task::yield_now().await;
        }
        acked
    });
    // Meanwhile: add a property (a rebuild), then retype one.
    let mut schema = posts()["schema"].clone();
    schema["properties"]["extra"] = json!({"type": "string"});
    assert_eq!(
        patch(&app, &token, "posts", json!({"schema": schema.clone()}))
            .await
            .status,
        StatusCode::OK
    );
    schema["properties"]["score"] = json!({"type": "string"});
    assert_eq!(
        patch(&app, &token, "posts", json!({"schema": schema}))
            .await
            .status,
        StatusCode::OK
    );
    let acked = writer.await.unwrap();
    assert!(!acked.is_empty());
    let present = rows(&app, "SELECT id FROM posts WHERE id LIKE 'w%'").await;
    let present: Vec<String> = present
        .into_iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect();
    for id in &acked {
        assert!(
            present.contains(id),
            "acknowledged write {id} survived the schema changes"
        );
    }
}

#[tokio::test]
async fn collections_survive_a_restart() {
    let (app, token) = admin().await;
    seeded_posts(&app, &token).await;
    let before = app.get("/api/collections/posts", Some(&token)).await.body;
    let dir = app.dir;
    let app = TestApp::at(dir, |_| {}).await;
    let token = app.superuser_token().await;
    let after = app.get("/api/collections/posts", Some(&token)).await.body;
    assert_eq!(before, after);
}

#[tokio::test]
async fn view_collections_infer_their_schema_and_follow_their_sources() {
    let (app, token) = admin().await;
    seeded_posts(&app, &token).await;
    let a = create(
        &app,
        &token,
        json!({"name": "published_posts", "type": "view", "listRule": "",
               "viewQuery": "SELECT id, title, views, score * 2 AS double_score, (SELECT count(*) FROM posts) AS total FROM posts WHERE published = 1"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let props = &a.body["schema"]["properties"];
    assert_eq!(
        props["title"],
        posts()["schema"]["properties"]["title"],
        "a plain column keeps its property schema"
    );
    assert_eq!(props["views"]["type"], "integer");
    assert_eq!(
        props["double_score"],
        json!({}),
        "an expression is a JSON value"
    );
    assert!(props.get("id").is_none(), "id is the view's system field");
    assert_eq!(a.body["createRule"], Value::Null);
    assert_eq!(
        rows(&app, "SELECT id, title FROM published_posts").await,
        vec![vec![json!("p10000000000001"), json!("One")]]
    );

    // Refused queries.
    for (query, hint) in [
        ("SELECT title FROM posts", "id"),
        ("DELETE FROM posts", "SELECT"),
        ("SELECT id FROM posts; DELETE FROM posts", "Invalid query"),
        ("SELECT id, password FROM users", "password"),
        ("SELECT id, email FROM _superusers", "system table"),
        (
            "SELECT p.id FROM posts p JOIN (SELECT key AS id FROM _params) x ON x.id = p.id",
            "system table",
        ),
        ("SELECT id, count(*) FROM posts", "AS"),
        ("SELECT name AS id, sql FROM sqlite_master", "system table"),
        ("SELECT nope FROM posts", "Invalid query"),
    ] {
        let a = create(
            &app,
            &token,
            json!({"name": "v2", "type": "view", "viewQuery": query}),
        )
        .await;
        assert_error_shape(&a, 400);
        let message = a.body["data"]["viewQuery"]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(message.contains(hint), "{query}: {}", a.body);
    }
    let a = create(&app, &token, json!({"name": "v3", "type": "view", "viewQuery": "SELECT id FROM posts", "createRule": ""})).await;
    assert_eq!(
        a.body["data"]["createRule"]["code"],
        "validation_invalid_value"
    );

    // The view follows a rebuild of its source table.
    let mut schema = posts()["schema"].clone();
    schema["properties"]["score"] = json!({"type": "string"});
    assert_eq!(
        patch(&app, &token, "posts", json!({"schema": schema}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        rows(&app, "SELECT count(*) FROM published_posts").await[0][0],
        1
    );
    // A change that would break the view is refused.
    let r = patch(&app, &token, "posts", json!({"name": "articles"})).await;
    assert_error_shape(&r, 400);
    assert!(
        r.body["data"]["name"]["message"]
            .as_str()
            .unwrap()
            .contains("published_posts"),
        "{}",
        r.body
    );
    let d = app
        .json(Method::DELETE, "/api/collections/posts", None, Some(&token))
        .await;
    assert_error_shape(&d, 400);
    assert!(app.state.collections().snapshot().get("posts").is_some());

    // A new query re-infers the schema.
    let r = patch(
        &app,
        &token,
        "published_posts",
        json!({"viewQuery": "SELECT id, tags FROM posts"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let props = r.body["schema"]["properties"].as_object().unwrap();
    assert_eq!(props.keys().collect::<Vec<_>>(), ["tags"]);
    assert_eq!(
        rows(&app, "SELECT count(*) FROM published_posts").await[0][0],
        3
    );
    assert_error_shape(
        &app.json(
            Method::DELETE,
            "/api/collections/published_posts/truncate",
            None,
            Some(&token),
        )
        .await,
        400,
    );
    // Deleting the view frees its source.
    assert_eq!(
        app.json(
            Method::DELETE,
            "/api/collections/published_posts",
            None,
            Some(&token)
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.json(Method::DELETE, "/api/collections/posts", None, Some(&token))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn rules_and_index_conditions_are_compiled_when_saved() {
    let (app, token) = admin().await;
    let a = create(
        &app,
        &token,
        json!({"name": "notes", "listRule": "nope = 1 && @request.auth.id != ''"}),
    )
    .await;
    assert_error_shape(&a, 400);
    assert_eq!(
        a.body["data"]["listRule"]["code"],
        "validation_invalid_rule"
    );
    assert!(
        a.body["data"]["listRule"]["message"]
            .as_str()
            .unwrap()
            .contains("(at 0..4)"),
        "{}",
        a.body
    );
    let a = create(
        &app,
        &token,
        json!({"name": "notes", "viewRule": "title = "}),
    )
    .await;
    assert_eq!(
        a.body["data"]["viewRule"]["code"],
        "validation_invalid_rule"
    );

    let a = create(
        &app,
        &token,
        json!({
            "name": "notes",
            "schema": {"type": "object", "properties": {
                "slug": {"type": "string"},
                "owner": {"type": "string", "x-relation": {"collection": "users"}},
                "parent": {"type": "string", "x-relation": {"collection": "notes"}}
            }},
            "indexes": [{"fields": ["slug"], "unique": true, "where": "slug != ''"}],
            "listRule": "owner = @request.auth.id || parent.owner = @request.auth.id",
            "createRule": "@request.auth.id != '' && @request.body.owner = @request.auth.id"
        }),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["indexes"][0]["where"], "slug != ''");
    let ddl = rows(
        &app,
        "SELECT sql FROM sqlite_master WHERE name = 'idx_notes_slug'",
    )
    .await;
    assert!(
        ddl[0][0]
            .as_str()
            .unwrap()
            .ends_with("WHERE (\"slug\" != '')"),
        "{ddl:?}"
    );
    sql(
        &app,
        "INSERT INTO notes (id, slug) VALUES ('n1', ''), ('n2', ''), ('n3', 'a')",
    )
    .await;
    let dup = app
        .state
        .data()
        .write(|c: &Connection| -> Result<(), DbError> {
            c.execute("INSERT INTO notes (id, slug) VALUES ('n4', 'a')", [])?;
            Ok(())
        })
        .await;
    assert!(
        dup.unwrap_err().is_unique_violation(),
        "unique among non-empty slugs"
    );

    let bad = patch(
        &app,
        &token,
        "notes",
        json!({"indexes": [{"fields": ["slug"], "where": "owner.name = 'x'"}]}),
    )
    .await;
    assert_error_shape(&bad, 400);
    assert!(
        bad.body["data"]["indexes"]["message"]
            .as_str()
            .unwrap()
            .contains("/indexes/0/where"),
        "{}",
        bad.body
    );
    let bad = patch(
        &app,
        &token,
        "notes",
        json!({"updateRule": "@collection.nope.id ?= id"}),
    )
    .await;
    assert_eq!(
        bad.body["data"]["updateRule"]["code"],
        "validation_invalid_rule"
    );
}

/// A second collection of an existing name (its default id is derived from the name, so it
/// is the same id too): a 400 naming the field, never a 500 from `CREATE TABLE`.
#[tokio::test]
async fn creating_an_existing_name_again_is_a_400() {
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    let body = json!({"name": "media", "schema": {"type": "object", "properties": {"t": {"type": "string"}}}});
    let a = app
        .post("/api/collections", body.clone(), Some(&token))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    for again in [
        body.clone(),
        json!({"name": "MEDIA", "schema": {"type": "object"}}),
    ] {
        let b = app.post("/api/collections", again, Some(&token)).await;
        assert_error_shape(&b, 400);
        assert_eq!(
            b.body["data"]["name"]["code"], "validation_not_unique",
            "{}",
            b.body
        );
    }
}
