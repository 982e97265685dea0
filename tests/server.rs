//! The HTTP server: health, the JSON error shape for every failure class, CORS, security
//! headers, compression, and the lifecycle on a real socket.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use common::{assert_error_shape, spawn_server, TestApp};
use keelbase::db::DbError;
use keelbase::state::AppState;
use serde_json::json;

const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "SAMEORIGIN"),
    ("x-xss-protection", "1; mode=block"),
    ("cross-origin-opener-policy", "same-origin"),
];

#[tokio::test]
async fn health_answers_with_pocketbase_shape_on_get_and_head() {
    let app = TestApp::new().await;
    let a = app.get("/api/health", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.body,
        json!({"message": "API is healthy.", "code": 200, "data": {}})
    );
    let head = app
        .send(
            Request::builder()
                .method(Method::HEAD)
                .uri("/api/health")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.raw.is_empty());
}

#[tokio::test]
async fn health_tells_superusers_more() {
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    let a = app.get("/api/health", Some(&token)).await;
    assert!(a.body["data"].get("realIP").is_some(), "{}", a.body);
    assert!(a.body["data"].get("possibleProxyHeader").is_some());
}

#[tokio::test]
async fn unknown_api_route_is_a_json_404() {
    let app = TestApp::new().await;
    for path in [
        "/api/nope",
        "/api/records",
        "/nothing/here",
        "/api/health/extra",
    ] {
        let a = app.get(path, None).await;
        assert_error_shape(&a, 404);
        assert_eq!(a.body["message"], "File not found.", "{path}");
    }
}

#[tokio::test]
async fn wrong_method_is_a_json_404() {
    let app = TestApp::new().await;
    for (method, path) in [
        (Method::DELETE, "/api/health"),
        (Method::PUT, "/api/health"),
        (
            Method::GET,
            "/api/collections/_superusers/auth-with-password",
        ),
    ] {
        let a = app.json(method.clone(), path, None, None).await;
        assert_error_shape(&a, 404);
        assert_eq!(
            a.body["message"], "The requested resource wasn't found.",
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn malformed_json_is_a_400_that_says_so() {
    let app = TestApp::new().await;
    for body in ["{bad", "[1,2]", "\"text\"", "{\"identity\": }"] {
        let a = app
            .send(
                Request::builder()
                    .method(Method::POST)
                    .uri("/api/collections/_superusers/auth-with-password")
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await;
        assert_error_shape(&a, 400);
        assert!(
            a.body["message"].as_str().unwrap().contains("JSON"),
            "{body}: {}",
            a.body
        );
    }
}

#[tokio::test]
async fn unsupported_content_type_is_a_400() {
    let app = TestApp::new().await;
    let a = app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/api/collections/_superusers/auth-with-password")
                .header("content-type", "text/xml")
                .body(Body::from("<a/>"))
                .unwrap(),
        )
        .await;
    assert_error_shape(&a, 400);
    assert_eq!(a.body["message"], "Unsupported Content-Type.");
}

#[tokio::test]
async fn body_over_the_limit_is_a_413() {
    let app = TestApp::with_config(|c| c.body_limit = 1024).await;
    let big = json!({"identity": "a".repeat(4096), "password": "x"});
    let a = app
        .post("/api/collections/_superusers/auth-with-password", big, None)
        .await;
    assert_error_shape(&a, 413);
    assert_eq!(a.body["message"], "Request entity too large.");
    // A body under the limit on the same route is processed normally.
    let small = app
        .post(
            "/api/collections/_superusers/auth-with-password",
            json!({"identity": "a@b.c", "password": "x"}),
            None,
        )
        .await;
    assert_error_shape(&small, 400);
    assert_eq!(small.body["message"], "Failed to authenticate.");
}

#[tokio::test]
async fn a_panicking_handler_answers_500_json_with_the_request_id_only() {
    let base = TestApp::new().await;
    let routes = keelbase::api::router(&Default::default()).route(
        "/api/test/panic",
        get(|| async {
            if true {
                panic!("secret internal detail");
            }
            "unreachable"
        }),
    );
    let router = keelbase::server::app(base.state.clone(), routes);
    let app = TestApp { router, ..base };
    let a = app.get("/api/test/panic", None).await;
    assert_error_shape(&a, 500);
    let id = a
        .headers
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let message = a.body["message"].as_str().unwrap();
    assert!(message.contains(&id), "{message} names request id {id}");
    assert!(
        !message.contains("secret"),
        "the cause is not sent to the client"
    );
    // The server keeps serving after a panic.
    assert_eq!(app.get("/api/health", None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_slow_request_times_out_with_a_json_408() {
    let base = TestApp::with_config(|c| c.request_timeout = Duration::from_secs(1)).await;
    let routes = keelbase::api::router(&Default::default()).route(
        "/api/test/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    );
    let router = keelbase::server::app(base.state.clone(), routes);
    let app = TestApp { router, ..base };
    let a = app.get("/api/test/slow", None).await;
    assert_error_shape(&a, 408);
}

#[tokio::test]
async fn cors_preflight_is_204_with_pocketbase_headers() {
    let app = TestApp::new().await;
    let a = app
        .send(
            Request::builder()
                .method(Method::OPTIONS)
                .uri("/api/collections/posts/records")
                .header("origin", "http://example.com")
                .header("access-control-request-method", "PATCH")
                .header(
                    "access-control-request-headers",
                    "content-type,authorization",
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let h = |name: &str| a.headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(h("access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(
        h("access-control-allow-methods").as_deref(),
        Some("GET,HEAD,PUT,PATCH,POST,DELETE")
    );
    assert_eq!(
        h("access-control-allow-headers").as_deref(),
        Some("content-type,authorization")
    );
    // A simple cross-origin request gets the origin header too.
    let simple = app
        .send(
            Request::builder()
                .uri("/api/health")
                .header("origin", "http://example.com")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        simple.headers.get("access-control-allow-origin").unwrap(),
        "*"
    );
}

#[tokio::test]
async fn configured_cors_origins_are_the_only_ones_allowed() {
    let app = TestApp::with_config(|c| c.cors_origins = vec!["https://app.example".into()]).await;
    let allowed = app
        .send(
            Request::builder()
                .uri("/api/health")
                .header("origin", "https://app.example")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        allowed.headers.get("access-control-allow-origin").unwrap(),
        "https://app.example"
    );
    let other = app
        .send(
            Request::builder()
                .uri("/api/health")
                .header("origin", "https://evil.example")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(other.headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn security_headers_and_request_id_are_on_every_response() {
    let app = TestApp::new().await;
    for path in ["/api/health", "/api/nope", "/_/"] {
        let a = app.get(path, None).await;
        for (name, value) in SECURITY_HEADERS {
            assert_eq!(
                a.headers.get(*name).map(|v| v.to_str().unwrap()),
                Some(*value),
                "{name} on {path}"
            );
        }
        assert_eq!(a.headers.get("x-request-id").unwrap().len(), 20, "{path}");
    }
    let echoed = app
        .send(
            Request::builder()
                .uri("/api/health")
                .header("x-request-id", "trace-me-123")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(echoed.headers.get("x-request-id").unwrap(), "trace-me-123");
}

#[tokio::test]
async fn large_responses_are_compressed_when_the_client_accepts_gzip() {
    let base = TestApp::new().await;
    let routes = keelbase::api::router(&Default::default()).route(
        "/api/test/big",
        get(|| async { axum::Json(json!({"text": "keelbase ".repeat(1000)})) }),
    );
    let router = keelbase::server::app(base.state.clone(), routes);
    let app = TestApp { router, ..base };
    let gzip = |uri: &'static str| {
        Request::builder()
            .uri(uri)
            .header("accept-encoding", "gzip")
            .body(Body::empty())
            .unwrap()
    };
    let a = app.send(gzip("/api/test/big")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers.get("content-encoding").unwrap(), "gzip");
    assert_eq!(&a.raw[..2], &[0x1f, 0x8b], "gzip magic");
    assert!(a.raw.len() < 2000, "9 KB of repetitive JSON compresses");
    // Small bodies are not worth compressing.
    let small = app.send(gzip("/api/health")).await;
    assert!(small.headers.get("content-encoding").is_none());
    assert_eq!(small.body["message"], "API is healthy.");
}

#[tokio::test]
async fn the_dashboard_is_served_under_underscore_with_a_csp() {
    let app = TestApp::new().await;
    let a = app.get("/_/", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(a.headers.get("content-security-policy").is_some());
    assert!(String::from_utf8_lossy(&a.raw).contains("Keelbase"));
    let deep = app.get("/_/collections/posts", None).await;
    assert_eq!(
        deep.status,
        StatusCode::OK,
        "client-side routes get index.html"
    );
    let redirect = app.get("/_", None).await;
    assert!(redirect.status.is_redirection());
    assert_eq!(redirect.headers.get("location").unwrap(), "/_/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_server_on_an_ephemeral_port_answers_and_stops() {
    let app = TestApp::new().await;
    let server = spawn_server(
        app.state.clone(),
        keelbase::server::router(app.state.clone()),
    )
    .await;
    let client = reqwest::Client::new();
    let r = client.get(server.url("/api/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-frame-options"], "SAMEORIGIN");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["message"], "API is healthy.");
    let addr = server.addr;
    server.shutdown().await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_completes_an_in_flight_request_and_its_write() {
    let app = TestApp::new().await;
    let (entered_tx, entered_rx) = tokio::sync::mpsc::channel::<()>(1);
    let routes = keelbase::api::router(&Default::default()).route(
        "/api/test/slow-write",
        post(
            move |axum::extract::State(state): axum::extract::State<AppState>| {
                let entered = entered_tx.clone();
                async move {
                    let _ = entered.send(()).await;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    state
                        .data()
                        .write(|c: &rusqlite::Connection| -> Result<(), DbError> {
                            keelbase::db::params::set(c, "test.in_flight", "done")?;
                            Ok(())
                        })
                        .await
                        .map(|()| "written")
                        .map_err(keelbase::api::error::ApiError::from)
                }
            },
        ),
    );
    let router: Router = keelbase::server::app(app.state.clone(), routes);
    let server = spawn_server(app.state.clone(), router).await;
    let url = server.url("/api/test/slow-write");
    let request = tokio::spawn(async move { reqwest::Client::new().post(url).send().await });
    let mut entered_rx = entered_rx;
    entered_rx.recv().await.expect("handler entered");
    let stopping = tokio::spawn(server.shutdown());
    let response = request.await.unwrap().expect("in-flight request answered");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "written");
    stopping.await.unwrap().unwrap();

    let conn = rusqlite::Connection::open(app.data_dir().join("data.db")).unwrap();
    let v: String = conn
        .query_row(
            "SELECT value FROM _params WHERE key = 'test.in_flight'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        v, "done",
        "the write acknowledged during shutdown is on disk"
    );
}

#[tokio::test]
async fn the_superuser_extractor_guards_admin_routes() {
    use keelbase::api::extract::Superuser;
    let base = TestApp::new().await;
    let routes = keelbase::api::router(&Default::default()).route(
        "/api/test/admin-only",
        get(|Superuser(record): Superuser| async move { record.email }),
    );
    let router = keelbase::server::app(base.state.clone(), routes);
    let app = TestApp { router, ..base };
    let guest = app.get("/api/test/admin-only", None).await;
    assert_error_shape(&guest, 401);
    let invalid = app.get("/api/test/admin-only", Some("not-a-token")).await;
    assert_error_shape(&invalid, 401);
    let token = app.superuser_token().await;
    let ok = app.get("/api/test/admin-only", Some(&token)).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(String::from_utf8_lossy(&ok.raw), common::ADMIN_EMAIL);
}
