//! Reads right after a schema change: every reader connection answers with the new
//! columns (a cached statement prepared before the change must not answer a 500).

mod common;

use axum::http::{Method, StatusCode};
use common::TestApp;
use serde_json::json;

#[tokio::test]
async fn lists_and_views_after_a_dropped_and_an_added_column() {
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    let a = app
        .post(
            "/api/collections",
            json!({"name": "notes", "schema": {"type": "object", "properties": {
                "title": {"type": "string"}, "meta": {"type": "object"}, "n": {"type": "integer"}}},
                "listRule": "", "viewRule": "", "createRule": ""}),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let r = app
        .post(
            "/api/collections/notes/records",
            json!({"title": "x", "meta": {"a": 1}, "n": 2}),
            None,
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    // Warm every reader connection's statement cache.
    for _ in 0..16 {
        assert_eq!(
            app.get("/api/collections/notes/records", None).await.status,
            StatusCode::OK
        );
        assert_eq!(
            app.get(&format!("/api/collections/notes/records/{id}"), None)
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            app.get("/api/collections/notes/records?filter=n%3E1&sort=-n", None)
                .await
                .status,
            StatusCode::OK
        );
    }
    let p = app
        .json(
            Method::PATCH,
            "/api/collections/notes",
            Some(json!({"schema": {"type": "object", "properties": {
                "title": {"type": "string"}, "n": {"type": "integer"}, "extra": {"type": "string"}}}})),
            Some(&token),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    for i in 0..16 {
        let l = app.get("/api/collections/notes/records", None).await;
        assert_eq!(l.status, StatusCode::OK, "list {i}: {}", l.body);
        assert!(l.body["items"][0].get("meta").is_none(), "{}", l.body);
        assert_eq!(l.body["items"][0]["extra"], "");
        let v = app
            .get(&format!("/api/collections/notes/records/{id}"), None)
            .await;
        assert_eq!(v.status, StatusCode::OK, "view {i}: {}", v.body);
        let f = app
            .get("/api/collections/notes/records?filter=n%3E1&sort=-n", None)
            .await;
        assert_eq!(f.status, StatusCode::OK, "filtered {i}: {}", f.body);
    }
}
