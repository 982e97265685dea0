//! `POST /api/batch`: one transaction, PocketBase's shapes (API.md Part B §8).

mod common;

use axum::http::StatusCode;
use common::{assert_error_shape, TestApp};
use serde_json::{json, Value};

async fn setup() -> (TestApp, String) {
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    let a = app
        .post(
            "/api/collections",
            json!({"name": "posts", "schema": {"type": "object", "properties": {
                "title": {"type": "string", "minLength": 1},
                "views": {"type": "integer", "default": 0},
                "secret": {"type": "string"}
            }, "required": ["title"]},
            "listRule": "", "viewRule": "title != 'hidden'", "createRule": "title != 'forbidden'",
            "updateRule": "@request.headers.x_pass = 'yes'", "deleteRule": ""}),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    (app, token)
}

async fn count(app: &TestApp, token: &str) -> u64 {
    let a = app
        .get("/api/collections/posts/records?perPage=1", Some(token))
        .await;
    a.body["totalItems"].as_u64().unwrap()
}

async fn batch(app: &TestApp, requests: Value, token: Option<&str>) -> common::Answer {
    app.post("/api/batch", json!({ "requests": requests }), token)
        .await
}

#[tokio::test]
async fn create_update_upsert_delete_in_one_transaction() {
    let (app, token) = setup().await;
    let a = batch(
        &app,
        json!([
            {"method": "POST", "url": "/api/collections/posts/records?fields=id,title", "body": {"id": "batchcreate0001", "title": "one"}},
            {"method": "PATCH", "url": "/api/collections/posts/records/batchcreate0001", "body": {"views+": 5}, "headers": {"X-Pass": "yes"}},
            {"method": "PUT", "url": "/api/collections/posts/records", "body": {"id": "batchupsert0001", "title": "created by upsert"}},
            {"method": "PUT", "url": "/api/collections/posts/records?fields=title,views", "body": {"id": "batchupsert0001", "title": "updated by upsert"}, "headers": {"x-pass": "yes"}},
            {"method": "POST", "url": "/api/collections/posts/records", "body": {"title": "doomed"}},
            {"method": "DELETE", "url": "/api/collections/posts/records/batchupsert0001"}
        ]),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let items = a.body.as_array().unwrap();
    assert_eq!(items.len(), 6);
    assert_eq!(
        items[0],
        json!({"status": 200, "body": {"id": "batchcreate0001", "title": "one"}})
    );
    assert_eq!(items[1]["status"], 200);
    assert_eq!(items[1]["body"]["views"], 5, "the update saw the create");
    assert_eq!(items[2]["body"]["title"], "created by upsert");
    assert_eq!(
        items[3],
        json!({"status": 200, "body": {"title": "updated by upsert", "views": 0}})
    );
    assert_eq!(items[4]["status"], 200);
    assert_eq!(items[5], json!({"status": 204, "body": null}));
    assert_eq!(count(&app, &token).await, 2);
    let one = app
        .get("/api/collections/posts/records/batchcreate0001", None)
        .await;
    assert_eq!(one.body["views"], 5);
}

#[tokio::test]
async fn a_failing_item_rolls_back_everything_and_is_named() {
    let (app, token) = setup().await;
    let a = batch(
        &app,
        json!([
            {"method": "POST", "url": "/api/collections/posts/records", "body": {"title": "fine"}},
            {"method": "POST", "url": "/api/collections/posts/records", "body": {"views": 3}}
        ]),
        None,
    )
    .await;
    assert_error_shape(&a, 400);
    assert_eq!(a.body["message"], "Batch transaction failed.");
    assert_eq!(
        a.body["data"]["requests"]["1"],
        json!({"code": "batch_request_failed", "message": "Batch request failed.",
               "response": {"status": 400, "message": "Failed to create record.",
                            "data": {"title": {"code": "validation_required", "message": "Cannot be blank."}}}})
    );
    assert_eq!(
        count(&app, &token).await,
        0,
        "the first item was rolled back"
    );

    // A failure at run time (a unique id taken by an earlier item) rolls back too.
    let a = batch(
        &app,
        json!([
            {"method": "POST", "url": "/api/collections/posts/records", "body": {"id": "sameid000000001", "title": "a"}},
            {"method": "POST", "url": "/api/collections/posts/records", "body": {"id": "sameid000000001", "title": "b"}}
        ]),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert_eq!(
        a.body["data"]["requests"]["1"]["response"]["data"]["id"]["code"],
        "validation_not_unique"
    );
    assert_eq!(count(&app, &token).await, 0);
}

#[tokio::test]
async fn rules_apply_per_item_with_the_outer_auth() {
    let (app, token) = setup().await;
    // createRule refuses → inner 400 with empty data.
    let a = batch(
        &app,
        json!([{"method": "POST", "url": "/api/collections/posts/records", "body": {"title": "forbidden"}}]),
        None,
    )
    .await;
    assert_eq!(
        a.body["data"]["requests"]["0"]["response"],
        json!({"status": 400, "message": "Failed to create record.", "data": {}})
    );
    // updateRule needs a header: without it the record is "not found" (inner 404).
    let created = batch(
        &app,
        json!([{"method": "POST", "url": "/api/collections/posts/records", "body": {"id": "ruletest0000001", "title": "x"}}]),
        None,
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let a = batch(
        &app,
        json!([{"method": "PATCH", "url": "/api/collections/posts/records/ruletest0000001", "body": {"title": "y"}}]),
        None,
    )
    .await;
    assert_eq!(a.body["data"]["requests"]["0"]["response"]["status"], 404);
    // A per-item Authorization header is ignored: a guest stays a guest.
    let locked = app
        .post(
            "/api/collections",
            json!({"name": "locked", "schema": {"type": "object", "properties": {"t": {"type": "string"}}}}),
            Some(&token),
        )
        .await;
    assert_eq!(locked.status, StatusCode::OK, "{}", locked.body);
    let a = batch(
        &app,
        json!([{"method": "POST", "url": "/api/collections/locked/records", "body": {"t": "x"},
                "headers": {"Authorization": token}}]),
        None,
    )
    .await;
    assert_eq!(
        a.body["data"]["requests"]["0"]["response"],
        json!({"status": 403, "message": "Only superusers can perform this action.", "data": {}})
    );
    // The outer superuser token works for every item.
    let a = batch(
        &app,
        json!([{"method": "POST", "url": "/api/collections/locked/records", "body": {"t": "x"}}]),
        Some(&token),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // A record the viewRule hides is written, answered with its id only.
    let a = batch(
        &app,
        json!([{"method": "POST", "url": "/api/collections/posts/records", "body": {"title": "hidden"}}]),
        None,
    )
    .await;
    assert_eq!(a.body[0]["status"], 200);
    assert_eq!(
        a.body[0]["body"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["collectionId", "collectionName", "id"]
    );
}

#[tokio::test]
async fn bad_batches_are_refused_before_anything_runs() {
    let (app, token) = setup().await;
    for body in [json!({}), json!({"requests": []}), json!({"requests": "x"})] {
        let a = app.post("/api/batch", body, None).await;
        assert_error_shape(&a, 400);
        assert_eq!(a.body["message"], "Invalid batch request data.");
        assert_eq!(a.body["data"]["requests"]["code"], "validation_required");
    }
    let a = batch(
        &app,
        json!([{"method": "POST", "body": {"title": "t"}}]),
        None,
    )
    .await;
    assert_eq!(
        a.body["data"]["requests"]["0"]["url"]["code"],
        "validation_required"
    );
    let too_many: Vec<Value> = (0..51)
        .map(|i| json!({"method": "POST", "url": "/api/collections/posts/records", "body": {"title": format!("t{i}")}}))
        .collect();
    let a = batch(&app, json!(too_many), None).await;
    assert_error_shape(&a, 400);
    assert_eq!(
        a.body["data"]["requests"]["code"],
        "validation_length_too_long"
    );
    // Unknown actions and collections fail their item, after the earlier items ran and
    // were rolled back.
    for (item, status) in [
        (
            json!({"method": "GET", "url": "/api/collections/posts/records"}),
            400,
        ),
        (
            json!({"method": "POST", "url": "/api/collections/posts/records/abc"}),
            400,
        ),
        (json!({"method": "POST", "url": "/api/health"}), 400),
        (
            json!({"method": "POST", "url": "/api/collections/nope/records", "body": {}}),
            404,
        ),
        (
            json!({"method": "DELETE", "url": "/api/collections/posts/records/zzzzzzzzzzzzzzz"}),
            404,
        ),
    ] {
        let a = batch(
            &app,
            json!([{"method": "POST", "url": "/api/collections/posts/records", "body": {"title": "ok"}}, item]),
            None,
        )
        .await;
        assert_error_shape(&a, 400);
        assert_eq!(
            a.body["data"]["requests"]["1"]["response"]["status"], status,
            "{item}: {}",
            a.body
        );
    }
    // An earlier failing item is reported even when a later one cannot be routed.
    let a = batch(
        &app,
        json!([{"method": "POST", "url": "/api/collections/posts/records", "body": {}},
               {"method": "GET", "url": "/api/collections/posts/records"}]),
        None,
    )
    .await;
    assert!(a.body["data"]["requests"].get("0").is_some(), "{}", a.body);
    assert_eq!(count(&app, &token).await, 0, "nothing was written");
    // Malformed JSON is a plain 400.
    let a = app
        .send(
            axum::http::Request::post("/api/batch")
                .header("content-type", "application/json")
                .body(axum::body::Body::from("{\"requests\": ["))
                .unwrap(),
        )
        .await;
    assert_error_shape(&a, 400);
}

#[tokio::test]
async fn the_sdks_multipart_form_is_accepted() {
    let (app, token) = setup().await;
    let payload = json!({"requests": [
        {"method": "POST", "url": "/api/collections/posts/records", "body": {"title": "from multipart"}}
    ]});
    let boundary = "XBOUNDARYX";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"@jsonPayload\"\r\n\r\n{payload}\r\n--{boundary}--\r\n"
    );
    let a = app
        .send(
            axum::http::Request::post("/api/batch")
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(axum::body::Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body[0]["body"]["title"], "from multipart");
    assert_eq!(count(&app, &token).await, 1);
}

#[tokio::test]
async fn batch_can_be_switched_off_and_limited() {
    let app = TestApp::with_config(|c| c.batch_enabled = false).await;
    let a = app.post("/api/batch", json!({"requests": []}), None).await;
    assert_error_shape(&a, 403);
    assert_eq!(a.body["message"], "Batch requests are not allowed.");

    let app = TestApp::with_config(|c| {
        c.batch_max_requests = 2;
        c.batch_max_body_size = 2048;
    })
    .await;
    let a = app
        .post(
            "/api/batch",
            json!({"requests": [{"method": "POST", "url": "/api/collections/x/records", "body": {"t": "x".repeat(4096)}}]}),
            None,
        )
        .await;
    assert_error_shape(&a, 413);
    // The batch limit, not the general body limit, applies to batches.
    let app2 = TestApp::with_config(|c| c.body_limit = 2048).await;
    let a = app2
        .post(
            "/api/batch",
            json!({"requests": [{"method": "POST", "url": "/api/collections/nope/records", "body": {"t": "x".repeat(4096)}}]}),
            None,
        )
        .await;
    assert_eq!(
        a.body["data"]["requests"]["0"]["response"]["status"], 404,
        "{}",
        a.body
    );
    let three = json!(vec![
        json!({"method": "DELETE", "url": "/api/collections/x/records/a"});
        3
    ]);
    let a = batch(&app, three, None).await;
    assert_eq!(
        a.body["data"]["requests"]["code"],
        "validation_length_too_long"
    );
}
