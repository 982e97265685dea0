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

async fn patch(app: &TestApp, uri: &str, body: Value, token: Option<&str>) -> common::Answer {
    app.json(axum::http::Method::PATCH, uri, Some(body), token)
        .await
}

async fn delete(app: &TestApp, uri: &str, token: Option<&str>) -> common::Answer {
    app.json(axum::http::Method::DELETE, uri, None, token).await
}

async fn articles(app: &TestApp, token: &str, rules: Value) -> () {
    let mut body = json!({"name": "articles", "schema": {"type": "object", "properties": {
        "title": {"type": "string", "minLength": 2, "maxLength": 10},
        "views": {"type": "integer", "minimum": 0, "default": 7},
        "tags": {"type": "array", "items": {"type": "string"}},
        "status": {"type": "string", "enum": ["draft", "live"]},
        "contact": {"type": "string", "format": "email"},
        "author": {"type": "string", "x-relation": {"collection": "users"}},
        "internal": {"type": "string", "x-hidden": true},
        "stamp": {"type": "string", "x-autodate": "update"}
    }, "required": ["title"]}});
    for (k, v) in rules.as_object().unwrap() {
        body[k] = v.clone();
    }
    let a = app.post("/api/collections", body, Some(token)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn create_validates_applies_defaults_and_answers_the_record() {
    let (app, token) = setup().await;
    articles(
        &app,
        &token,
        json!({"listRule": "", "viewRule": "", "createRule": ""}),
    )
    .await;
    let a = app
        .post(
            "/api/collections/articles/records",
            json!({"title": "Hi", "tags": ["a"], "unknown": 1, "internal": "x", "author": "u1"}),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let r = &a.body;
    assert_eq!(r["id"].as_str().unwrap().len(), 15);
    assert_eq!(r["views"], 7, "JSON Schema default");
    assert_eq!(r["status"], "", "an unset enum reads as its zero value");
    assert_eq!(r["contact"], "");
    assert!(r.get("unknown").is_none());
    assert!(r["created"].as_str().unwrap().ends_with('Z') && r["created"] == r["updated"]);
    assert_eq!(r["stamp"], r["created"], "x-autodate set on create");
    let stored = app
        .get(
            &format!(
                "/api/collections/articles/records/{}",
                r["id"].as_str().unwrap()
            ),
            Some(&token),
        )
        .await;
    assert_eq!(
        stored.body["internal"], "",
        "guests cannot set hidden fields"
    );

    // Several errors at once, PocketBase-shaped.
    let bad = app
        .post(
            "/api/collections/articles/records",
            json!({"views": -1, "status": "nope", "contact": "not-an-email", "author": "ghost", "id": "Bad-ID"}),
            None,
        )
        .await;
    assert_error_shape(&bad, 400);
    assert_eq!(bad.body["message"], "Failed to create record.");
    let data = &bad.body["data"];
    assert_eq!(data["title"]["code"], "validation_required");
    assert_eq!(data["views"]["code"], "validation_min_number_constraint");
    assert_eq!(data["status"]["code"], "validation_invalid_value");
    assert_eq!(data["contact"]["code"], "validation_is_email");
    assert_eq!(data["id"]["code"], "validation_min_text_constraint");
    let too_long = app
        .post(
            "/api/collections/articles/records",
            json!({"title": "far too long a title"}),
            None,
        )
        .await;
    assert_eq!(
        too_long.body["data"]["title"]["code"],
        "validation_max_text_constraint"
    );
    let ghost = app
        .post(
            "/api/collections/articles/records",
            json!({"title": "ok", "author": "ghost"}),
            None,
        )
        .await;
    assert_eq!(
        ghost.body["data"]["author"]["code"],
        "validation_missing_rel_records"
    );
    // Custom ids: accepted once, duplicates refused.
    let custom = app
        .post(
            "/api/collections/articles/records",
            json!({"id": "abcdefghij12345", "title": "ok"}),
            None,
        )
        .await;
    assert_eq!(custom.body["id"], "abcdefghij12345");
    let dup = app
        .post(
            "/api/collections/articles/records",
            json!({"id": "abcdefghij12345", "title": "ok"}),
            None,
        )
        .await;
    assert_eq!(dup.body["data"]["id"]["code"], "validation_not_unique");
    // Nothing invalid was written.
    let all = app
        .get("/api/collections/articles/records", Some(&token))
        .await;
    assert_eq!(all.body["totalItems"], 2);
}

#[tokio::test]
async fn create_rules_null_empty_and_expression() {
    let (app, token) = setup().await;
    articles(
        &app,
        &token,
        json!({"viewRule": "status = 'live'", "createRule": "title != 'no'"}),
    )
    .await;
    let denied = app
        .post(
            "/api/collections/articles/records",
            json!({"title": "no"}),
            None,
        )
        .await;
    assert_error_shape(&denied, 400);
    assert_eq!(
        denied.body,
        json!({"status": 400, "message": "Failed to create record.", "data": {}})
    );
    let hidden = app
        .post(
            "/api/collections/articles/records",
            json!({"title": "yes"}),
            None,
        )
        .await;
    assert_eq!(hidden.status, StatusCode::OK, "{}", hidden.body);
    assert_eq!(
        hidden.body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["collectionId", "collectionName", "id"],
        "created, but the viewRule hides it from the caller: only what the caller knows"
    );
    let shown = app
        .post(
            "/api/collections/articles/records",
            json!({"title": "yes", "status": "live"}),
            None,
        )
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    let locked = app
        .post(
            "/api/collections/posts/records",
            json!({"title": "x"}),
            None,
        )
        .await;
    assert_error_shape(&locked, 403);
    assert_eq!(
        locked.body["message"],
        "Only superusers can perform this action."
    );
    assert_eq!(
        app.post(
            "/api/collections/posts/records",
            json!({"title": "x"}),
            Some(&token)
        )
        .await
        .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn update_with_modifiers_and_rules() {
    let (app, token) = setup().await;
    articles(
        &app,
        &token,
        json!({"listRule": "", "viewRule": "", "createRule": "", "updateRule": "status != 'live'"}),
    )
    .await;
    let created = app
        .post(
            "/api/collections/articles/records",
            json!({"title": "Hi", "views": 10, "tags": ["a", "b"]}),
            None,
        )
        .await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let uri = format!("/api/collections/articles/records/{id}");
    let a = patch(
        &app,
        &uri,
        json!({"views+": 5, "tags+": ["c"], "+tags": "d"}),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["views"], 15);
    assert_eq!(a.body["tags"], json!(["d", "a", "b", "c"]));
    assert_ne!(
        a.body["stamp"], created.body["stamp"],
        "x-autodate update moves"
    );
    let a = patch(&app, &uri, json!({"tags-": ["a", "c"], "views-": 5}), None).await;
    assert_eq!(
        (a.body["tags"].clone(), a.body["views"].clone()),
        (json!(["d", "b"]), json!(10))
    );
    let bad = patch(&app, &uri, json!({"title": "x", "views": -5}), None).await;
    assert_error_shape(&bad, 400);
    assert_eq!(bad.body["message"], "Failed to update record.");
    assert!(bad.body["data"].get("title").is_some() && bad.body["data"].get("views").is_some());
    assert_eq!(
        patch(&app, &uri, json!({"status": "live"}), None)
            .await
            .status,
        StatusCode::OK
    );
    // Now the updateRule hides it: 404, and nothing changes.
    let hidden = patch(&app, &uri, json!({"title": "Changed"}), None).await;
    assert_error_shape(&hidden, 404);
    assert_eq!(app.get(&uri, None).await.body["title"], "Hi");
    assert_error_shape(
        &patch(
            &app,
            "/api/collections/articles/records/nope",
            json!({}),
            None,
        )
        .await,
        404,
    );
    assert_error_shape(
        &patch(
            &app,
            "/api/collections/posts/records/p1",
            json!({"title": "x"}),
            None,
        )
        .await,
        403,
    );
}

#[tokio::test]
async fn delete_follows_rules_and_relations() {
    let (app, token) = setup().await;
    // comments: a required single relation (refuses), a cascading one, and a multi one.
    let a = app
        .post(
            "/api/collections",
            json!({"name": "comments", "schema": {"type": "object", "properties": {
                "post": {"type": "string", "x-relation": {"collection": "posts"}},
                "pinned": {"type": "string", "x-relation": {"collection": "posts", "cascadeDelete": true}},
                "mentions": {"type": "array", "items": {"type": "string"}, "x-relation": {"collection": "posts"}},
                "owner": {"type": "string", "x-relation": {"collection": "users"}}
            }, "required": ["owner"]}, "listRule": "", "viewRule": "", "deleteRule": "owner != ''"}),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    app.state
        .data()
        .write(|c: &Connection| -> Result<(), DbError> {
            c.execute_batch(
                r#"INSERT INTO comments (id, post, pinned, mentions, owner) VALUES
                     ('c1', 'p1', NULL, '["p1","p2"]', 'u1'),
                     ('c2', NULL, 'p2', '["p2"]', 'u2');"#,
            )?;
            Ok(())
        })
        .await
        .unwrap();
    // posts.deleteRule is null: guests may not delete.
    assert_error_shape(
        &delete(&app, "/api/collections/posts/records/p1", None).await,
        403,
    );
    // p2: c2 cascades away, and p2 leaves c1's mentions.
    assert_eq!(
        delete(&app, "/api/collections/posts/records/p2", Some(&token))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let left = app
        .get("/api/collections/comments/records?sort=id", None)
        .await;
    assert_eq!(ids(&left.body), ["c1"]);
    assert_eq!(left.body["items"][0]["mentions"], json!(["p1"]));
    // u1 is the required owner of c1: refused.
    let refused = delete(&app, "/api/collections/users/records/u1", Some(&token)).await;
    assert_error_shape(&refused, 400);
    assert_eq!(refused.body["message"], "Failed to delete record. Make sure that the record is not part of a required relation reference.");
    // c1 by a guest: the deleteRule passes.
    assert_eq!(
        delete(&app, "/api/collections/comments/records/c1", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_error_shape(
        &delete(&app, "/api/collections/comments/records/c1", None).await,
        404,
    );
}

#[tokio::test]
async fn fields_pick_keys_from_every_json_answer() {
    let (app, token) = setup().await;
    let list = app
        .get(
            "/api/collections/posts/records?fields=id,title&sort=id",
            None,
        )
        .await;
    assert_eq!(list.body["items"][0], json!({"id": "p1", "title": "One"}));
    assert_eq!(list.body["perPage"], 30);
    let one = app
        .get(
            "/api/collections/posts/records/p1?fields=title:excerpt(2,true)",
            None,
        )
        .await;
    assert_eq!(one.body, json!({"title": "On..."}));
    let auth = app
        .post(
            "/api/collections/_superusers/auth-with-password?fields=record.email",
            json!({"identity": common::ADMIN_EMAIL, "password": common::ADMIN_PASSWORD}),
            None,
        )
        .await;
    assert_eq!(auth.body, json!({"record": {"email": common::ADMIN_EMAIL}}));
    let err = app
        .get("/api/collections/nope/records?fields=id", Some(&token))
        .await;
    assert_error_shape(&err, 404);
}

#[tokio::test]
async fn expand_relations_back_relations_and_nesting_under_view_rules() {
    let (app, token) = setup().await;
    let a = app
        .post(
            "/api/collections",
            json!({"name": "comments", "schema": {"type": "object", "properties": {
                "post": {"type": "string", "x-relation": {"collection": "posts"}},
                "message": {"type": "string"},
                "user": {"type": "string", "x-relation": {"collection": "users"}},
                "likes": {"type": "array", "items": {"type": "string"}, "x-relation": {"collection": "users"}}
            }}, "listRule": "", "viewRule": ""}),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    app.state
        .data()
        .write(|c: &Connection| -> Result<(), DbError> {
            c.execute_batch(
                r#"INSERT INTO comments (id, post, message, user, likes) VALUES
                     ('c1', 'p1', 'first', 'u1', '["u1","u2"]'),
                     ('c2', 'p1', 'second', 'u2', '[]'),
                     ('c3', 'p2', 'third', 'u1', '[]');"#,
            )?;
            Ok(())
        })
        .await
        .unwrap();
    // Superuser: everything expands.
    let su = app
        .get(
            "/api/collections/posts/records/p1?expand=author,comments_via_post.user",
            Some(&token),
        )
        .await;
    assert_eq!(su.status, StatusCode::OK, "{}", su.body);
    assert_eq!(su.body["expand"]["author"]["name"], "Shown");
    let comments = su.body["expand"]["comments_via_post"].as_array().unwrap();
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0]["expand"]["user"]["id"], comments[0]["user"]);
    let multi = app
        .get(
            "/api/collections/comments/records/c1?expand=likes,post",
            Some(&token),
        )
        .await;
    assert_eq!(multi.body["expand"]["likes"].as_array().unwrap().len(), 2);
    assert_eq!(multi.body["expand"]["post"]["title"], "One");
    // Guests: users.viewRule hides the authors, so `expand` is present but empty.
    let guest = app
        .get("/api/collections/posts/records/p1?expand=author", None)
        .await;
    assert_eq!(guest.body["expand"], json!({}));
    let list = app
        .get(
            "/api/collections/posts/records?expand=comments_via_post&sort=id",
            None,
        )
        .await;
    assert_eq!(
        list.body["items"][0]["expand"]["comments_via_post"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        list.body["items"][1]["expand"]["comments_via_post"][0]["message"],
        "third"
    );
    // Unknown paths are ignored.
    let unknown = app
        .get("/api/collections/posts/records/p1?expand=nope", None)
        .await;
    assert!(unknown.body.get("expand").is_none());
}

#[tokio::test]
async fn form_bodies_infer_values_and_merge_json_payloads() {
    use axum::body::Body;
    use axum::http::{Method, Request};
    let (app, token) = setup().await;
    articles(
        &app,
        &token,
        json!({"listRule": "", "viewRule": "", "createRule": ""}),
    )
    .await;
    // urlencoded: "12" → 12, repeated keys → arrays; "012" stays a string (and fails the schema).
    let a = app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/api/collections/articles/records")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from("title=Form&views=12&tags=a&tags=c"))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        (a.body["views"].clone(), a.body["tags"].clone()),
        (json!(12), json!(["a", "c"]))
    );
    let bad = app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/api/collections/articles/records")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from("title=Form&views=012"))
                .unwrap(),
        )
        .await;
    assert_eq!(bad.body["data"]["views"]["code"], "validation_invalid_type");

    // multipart, as the SDK sends objects and arrays: one @jsonPayload part per value.
    let boundary = "XkbBoundary";
    let part = |name: &str, value: &str| {
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
    };
    let body = format!(
        "{}{}{}--{boundary}--\r\n",
        part("title", "Multi"),
        part("views", "3"),
        part("@jsonPayload", r#"{"tags":["x","y"]}"#)
    );
    let m = app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/api/collections/articles/records")
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(m.status, StatusCode::OK, "{}", m.body);
    assert_eq!(
        (m.body["views"].clone(), m.body["tags"].clone()),
        (json!(3), json!(["x", "y"]))
    );
    let file = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"cover\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\nPNG\r\n--{boundary}--\r\n"
    );
    let f = app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/api/collections/articles/records")
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(Body::from(file))
                .unwrap(),
        )
        .await;
    // A file part for a property that is not a file property: a clear 400 naming it.
    assert_error_shape(&f, 400);
    assert_eq!(f.body["data"]["cover"]["code"], "validation_unknown_field");
    // Passwords sent as forms stay strings for auth endpoints (no inference there).
    let login = app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/api/collections/_superusers/auth-with-password")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "identity={}&password=1234567890",
                    common::ADMIN_EMAIL
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(
        login.body["message"], "Failed to authenticate.",
        "a numeric password is compared as text"
    );
}

#[tokio::test]
async fn list_totals_follow_every_commit() {
    let (app, token) = setup().await;
    let total = |a: &common::Answer| a.body["totalItems"].as_u64().unwrap();
    let uri = "/api/collections/posts/records?perPage=1";
    let before = total(&app.get(uri, Some(&token)).await);
    assert_eq!(before, 3);
    // Served twice with nothing committed in between: the same answer.
    assert_eq!(total(&app.get(uri, Some(&token)).await), 3);
    for n in 1..=3u64 {
        let a = app
            .post(
                "/api/collections/posts/records",
                json!({"title": format!("new {n}")}),
                Some(&token),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(total(&app.get(uri, Some(&token)).await), 3 + n);
    }
    // A filter and a rule are part of what is cached: different answers, both right.
    let guest = app
        .get("/api/collections/posts/records?perPage=1", None)
        .await;
    assert_eq!(total(&guest), 2, "listRule: published only");
    let filtered = app
        .get(
            "/api/collections/posts/records?perPage=1&filter=title~'new'",
            Some(&token),
        )
        .await;
    assert_eq!(total(&filtered), 3);
}

#[tokio::test]
async fn date_time_properties_accept_rfc3339_and_the_storage_format() {
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    let a = app
        .post(
            "/api/collections",
            json!({"name": "events", "schema": {"type": "object", "properties": {
                "at": {"type": "string", "format": "date-time"}
            }, "required": ["at"]}, "createRule": "", "viewRule": ""}),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    for (given, stored) in [
        ("2024-05-06T07:08:09Z", "2024-05-06 07:08:09.000Z"),
        ("2024-05-06 07:08:09.123Z", "2024-05-06 07:08:09.123Z"),
        ("2024-05-06T09:08:09+02:00", "2024-05-06 07:08:09.000Z"),
    ] {
        let a = app
            .post(
                "/api/collections/events/records",
                json!({"at": given}),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{given}: {}", a.body);
        assert_eq!(a.body["at"], stored, "{given}");
    }
    let bad = app
        .post(
            "/api/collections/events/records",
            json!({"at": "yesterday"}),
            None,
        )
        .await;
    assert_error_shape(&bad, 400);
    assert_eq!(bad.body["data"]["at"]["code"], "validation_invalid_date");
}

/// A create answered from the values written (no read back) is exactly what a read
/// returns, for every kind of property, to superusers and guests alike.
#[tokio::test]
async fn create_answers_equal_what_a_read_returns() {
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    let a = app
        .post(
            "/api/collections",
            json!({"name": "kinds", "schema": {"type": "object", "properties": {
                "s": {"type": "string"}, "i": {"type": "integer", "default": 7},
                "n": {"type": "number"}, "b": {"type": "boolean"},
                "arr": {"type": "array", "items": {"type": "string"}},
                "obj": {"type": "object"}, "any": {},
                "at": {"type": "string", "format": "date-time"},
                "e": {"enum": ["x", "y"]},
                "one": {"type": "string", "x-relation": {"collection": "kinds"}},
                "many": {"type": "array", "items": {"type": "string"}, "x-relation": {"collection": "kinds"}},
                "secret": {"type": "string", "x-hidden": true}
            }}, "createRule": "", "viewRule": "", "listRule": ""}),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let base = app
        .post(
            "/api/collections/kinds/records",
            json!({"id": "kinds0000000001"}),
            Some(&token),
        )
        .await;
    assert_eq!(base.status, StatusCode::OK, "{}", base.body);
    let bodies = [
        json!({"s": "hello", "n": 1.5, "b": true, "arr": ["a", "b"],
               "obj": {"k": [1, 2]}, "any": [1, "two"], "at": "2024-05-06T07:08:09Z", "e": "y",
               "secret": "shh"}),
        json!({"s": "", "n": 2, "one": "kinds0000000001", "many": ["kinds0000000001", "kinds0000000001"], "any": null}),
        json!({}),
    ];
    for body in bodies {
        for who in [Some(token.as_str()), None] {
            let created = app
                .post("/api/collections/kinds/records", body.clone(), who)
                .await;
            assert_eq!(created.status, StatusCode::OK, "{body}: {}", created.body);
            let id = created.body["id"].as_str().unwrap();
            let read = app
                .get(&format!("/api/collections/kinds/records/{id}"), who)
                .await;
            assert_eq!(created.body, read.body, "{body} as {:?}", who.is_some());
            // A list writes its records straight to JSON text: the same record again.
            let listed = app
                .get(
                    &format!("/api/collections/kinds/records?filter=id='{id}'"),
                    who,
                )
                .await;
            assert_eq!(listed.body["items"][0], read.body, "{body} listed");
        }
    }
}
