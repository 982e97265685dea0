//! Records list and view: rules as row filters, PocketBase's status codes and shapes.

mod common;

use axum::http::StatusCode;
use common::{assert_error_shape, TestApp};
use keelbase::db::DbError;
use rusqlite::Connection;
use serde_json::{json, Value};

async fn setup() -> (TestApp, String) {
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    let a = app
        .post(
            "/api/collections",
            json!({"name": "posts", "schema": {"type": "object", "properties": {
                "title": {"type": "string"}, "views": {"type": "integer"}, "published": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}}, "meta": {"type": "object"},
                "author": {"type": "string", "x-relation": {"collection": "users"}},
                "internal": {"type": "string", "x-hidden": true}
            }}, "listRule": "published = true", "viewRule": "published = true"}),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    app.state
        .data()
        .write(|c: &Connection| -> Result<(), DbError> {
            c.execute_batch(
                r#"INSERT INTO users (id, email, emailVisibility, password, tokenKey, name) VALUES
                       ('u1', 'shown@example.com', 1, 'hash1', 'key1', 'Shown'),
                       ('u2', 'hidden@example.com', 0, 'hash2', 'key2', 'Hidden');
                   INSERT INTO posts (id, title, views, published, tags, meta, author, internal, created) VALUES
                       ('p1', 'One', 10, 1, '["a"]', '{"k":1}', 'u1', 'secret', '2024-01-01 00:00:00.000Z'),
                       ('p2', 'Two', 600, 1, '[]', 'null', NULL, '', '2025-01-01 00:00:00.000Z'),
                       ('p3', 'Draft', 5, 0, '[]', 'null', NULL, '', '2026-01-01 00:00:00.000Z');"#,
            )?;
            Ok(())
        })
        .await
        .unwrap();
    (app, token)
}

fn ids(body: &Value) -> Vec<&str> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn guests_see_what_the_rules_allow() {
    let (app, token) = setup().await;
    let a = app
        .get("/api/collections/posts/records?sort=id", None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(ids(&a.body), ["p1", "p2"]);
    assert_eq!(
        (
            a.body["page"].clone(),
            a.body["perPage"].clone(),
            a.body["totalItems"].clone(),
            a.body["totalPages"].clone()
        ),
        (json!(1), json!(30), json!(2), json!(1))
    );
    let record = &a.body["items"][0];
    assert_eq!(record["collectionName"], "posts");
    assert_eq!(record["collectionId"], "pbc_1125843985");
    assert_eq!(record["published"], true);
    assert_eq!(record["tags"], json!(["a"]));
    assert_eq!(record["meta"], json!({"k": 1}));
    assert_eq!(record["author"], "u1");
    assert!(record.get("internal").is_none(), "hidden from guests");
    assert_eq!(
        a.body["items"][1]["author"], "",
        "an unset relation reads as \"\""
    );

    let v = app.get("/api/collections/posts/records/p1", None).await;
    assert_eq!(v.status, StatusCode::OK);
    assert_eq!(v.body["title"], "One");
    let hidden = app.get("/api/collections/posts/records/p3", None).await;
    assert_error_shape(&hidden, 404);
    assert_eq!(
        hidden.body["message"],
        "The requested resource wasn't found."
    );
    let missing = app.get("/api/collections/posts/records/nope", None).await;
    assert_eq!(
        missing.body, hidden.body,
        "hidden and missing look the same"
    );

    // Superusers bypass rules and see hidden fields.
    let su = app
        .get("/api/collections/posts/records?sort=-created", Some(&token))
        .await;
    assert_eq!(ids(&su.body), ["p3", "p2", "p1"]);
    assert_eq!(su.body["items"][2]["internal"], "secret");
    assert_eq!(
        app.get("/api/collections/pbc_1125843985/records/p3", Some(&token))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn filter_sort_and_paging() {
    let (app, token) = setup().await;
    let get = |q: &str| {
        let uri = format!("/api/collections/posts/records?{q}");
        let (app, token) = (&app, token.clone());
        async move { app.get(&uri, Some(&token)).await }
    };
    assert_eq!(
        ids(&get("filter=views%20%3E%207&sort=-views").await.body),
        ["p2", "p1"]
    );
    assert_eq!(
        ids(&get("filter=tags:each%20%3F%3D%20'a'").await.body),
        ["p1"]
    );
    let page = get("perPage=2&page=2&sort=id").await.body;
    assert_eq!(ids(&page), ["p3"]);
    assert_eq!(
        (page["totalItems"].clone(), page["totalPages"].clone()),
        (json!(3), json!(2))
    );
    let skip = get("skipTotal=1").await.body;
    assert_eq!(
        (skip["totalItems"].clone(), skip["totalPages"].clone()),
        (json!(-1), json!(-1))
    );
    assert_eq!(get("perPage=5000").await.body["perPage"], 1000);
    assert_eq!(ids(&get("page=99").await.body).len(), 0);
    // The filter is ANDed with the rule for guests.
    let g = app
        .get(
            "/api/collections/posts/records?filter=title%20%3D%20'Draft'",
            None,
        )
        .await;
    assert_eq!(ids(&g.body).len(), 0);
}

#[tokio::test]
async fn bad_queries_and_locked_rules() {
    let (app, token) = setup().await;
    for q in [
        "filter=nope%3D1",
        "filter=title%20%3D",
        "sort=nope",
        "filter=internal%3D'x'",
        "page=x",
        "skipTotal=maybe",
    ] {
        let a = app
            .get(&format!("/api/collections/posts/records?{q}"), None)
            .await;
        assert_error_shape(&a, 400);
    }
    let a = app
        .get(
            "/api/collections/posts/records?filter=@request.auth.id%20!%3D%20''",
            None,
        )
        .await;
    assert_error_shape(&a, 403);
    assert_eq!(a.body["message"], "Only superusers can filter by @request.");
    let ok = app
        .get(
            "/api/collections/posts/records?filter=@request.auth.id%20!%3D%20''",
            Some(&token),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let unknown = app.get("/api/collections/nope/records", None).await;
    assert_error_shape(&unknown, 404);
    assert_eq!(unknown.body["message"], "Missing collection context.");
    assert_eq!(
        app.get("/api/collections/nope/records/x", None).await.body["message"],
        "Missing collection context."
    );
    // _superusers: every rule is null.
    let locked = app.get("/api/collections/_superusers/records", None).await;
    assert_error_shape(&locked, 403);
    assert_eq!(
        locked.body["message"],
        "Only superusers can perform this action."
    );
    assert_error_shape(
        &app.get("/api/collections/_superusers/records/x", None)
            .await,
        403,
    );
}

#[tokio::test]
async fn auth_records_never_show_secrets_and_show_email_only_when_allowed() {
    let (app, token) = setup().await;
    // Open the users list to guests for this test.
    let a = app
        .json(
            axum::http::Method::PATCH,
            "/api/collections/users",
            Some(json!({"listRule": "", "viewRule": ""})),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let list = app
        .get("/api/collections/users/records?sort=id", None)
        .await;
    let items = list.body["items"].as_array().unwrap();
    for r in items {
        assert!(
            r.get("password").is_none() && r.get("tokenKey").is_none(),
            "{r}"
        );
    }
    assert_eq!(items[0]["email"], "shown@example.com");
    assert!(
        items[1].get("email").is_none(),
        "emailVisibility false hides it"
    );
    assert_eq!(items[1]["emailVisibility"], false);
    let su = app
        .get("/api/collections/users/records/u2", Some(&token))
        .await;
    assert_eq!(su.body["email"], "hidden@example.com");
    assert!(su.body.get("password").is_none() && su.body.get("tokenKey").is_none());
    // A guest cannot find the hidden email through a filter either.
    let probe = app
        .get(
            "/api/collections/users/records?filter=email%3D'hidden@example.com'",
            None,
        )
        .await;
    assert_eq!(probe.body["items"].as_array().unwrap().len(), 0);
}
