//! Rate limits over a real socket: on by default for auth endpoints, keyed so that no
//! spelling of the route escapes, and batch creates counted one by one.

mod common;

use std::time::Duration;

use common::{spawn_server, RunningServer, TestApp};
use keelbase::config::RateLimit;
use serde_json::{json, Value};

async fn serve(edit: impl FnOnce(&mut keelbase::config::Config)) -> (TestApp, RunningServer) {
    let app = TestApp::with_config(edit).await;
    let server = spawn_server(app.state.clone(), app.router.clone()).await;
    (app, server)
}

async fn post(url: &str, body: Value, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut r = reqwest::Client::new().post(url).json(&body);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let response = r.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn auth_endpoints_are_limited_by_default_whatever_the_spelling() {
    // The shipped default (2 per 3 s), not the tests' "off".
    let (_app, server) = serve(|c| {
        c.rate_limit_auth = keelbase::config::Config::default().rate_limit_auth;
    })
    .await;
    let body = json!({"identity": "nobody@example.com", "password": "wrong-password"});
    let url = server.url("/api/collections/users/auth-with-password");
    for _ in 0..2 {
        assert_eq!(post(&url, body.clone(), &[]).await.0, 400);
    }
    let variants = [
        "/api/collections/users/auth-with-password".to_owned(),
        "/api/collections/users/auth-with-password?x=1".to_owned(),
        "/api/collections/users/auth-with-password/".to_owned(),
        "/API/collections/USERS/auth-with-password".to_owned(),
        "/api/collections/_pb_users_auth_/auth-with-password".to_owned(),
        "/api//collections/users/auth%2Dwith%2Dpassword".to_owned(),
    ];
    for v in &variants {
        let (status, answer) = post(&server.url(v), body.clone(), &[]).await;
        assert_eq!(status, 429, "{v}");
        assert_eq!(
            answer,
            json!({"status": 429, "message": "Too Many Requests.", "data": {}}),
            "{v}"
        );
    }
    // Forwarded headers do not help when the peer is not a trusted proxy.
    let (status, _) = post(&url, body.clone(), &[("x-forwarded-for", "203.0.113.9")]).await;
    assert_eq!(status, 429);
    // Other actions have their own buckets; health is never limited.
    let (status, _) = post(
        &server.url("/api/collections/users/request-password-reset"),
        json!({"email": "a@example.com"}),
        &[],
    )
    .await;
    assert_eq!(status, 204);
    // The bucket refills.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(post(&url, body.clone(), &[]).await.0, 400);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn trusted_proxies_name_the_client() {
    let (_app, server) = serve(|c| {
        c.rate_limit_auth = RateLimit {
            max: 1,
            window: Duration::from_secs(60),
        };
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let url = server.url("/api/collections/users/request-password-reset");
    let body = json!({"email": "a@example.com"});
    let from = |ip: &'static str| [("x-forwarded-for", ip)];
    assert_eq!(post(&url, body.clone(), &from("198.51.100.1")).await.0, 204);
    assert_eq!(post(&url, body.clone(), &from("198.51.100.1")).await.0, 429);
    assert_eq!(post(&url, body.clone(), &from("198.51.100.2")).await.0, 204);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn batch_creates_count_one_by_one() {
    let (app, server) = serve(|c| {
        c.rate_limit_create = RateLimit {
            max: 3,
            window: Duration::from_secs(60),
        };
    })
    .await;
    let token = app.superuser_token().await;
    let a = app
        .post(
            "/api/collections",
            json!({"name": "posts", "createRule": "", "schema": {"type": "object", "properties": {"t": {"type": "string"}}}}),
            Some(&token),
        )
        .await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.body);
    let item =
        json!({"method": "POST", "url": "/api/collections/posts/records", "body": {"t": "x"}});
    let batch = server.url("/api/batch");
    let (status, body) = post(&batch, json!({"requests": [item, item]}), &[]).await;
    assert_eq!(status, 200, "{body}");
    // Two creates used; a batch of two more is over the limit of three.
    let (status, _) = post(&batch, json!({"requests": [item, item]}), &[]).await;
    assert_eq!(status, 429);
    let single = server.url("/api/collections/posts/records");
    assert_eq!(post(&single, json!({"t": "y"}), &[]).await.0, 200);
    assert_eq!(post(&single, json!({"t": "z"}), &[]).await.0, 429);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn one_account_is_limited_across_addresses_and_spellings() {
    let (_app, server) = serve(|c| {
        c.rate_limit_auth = RateLimit {
            max: 2,
            window: Duration::from_secs(60),
        };
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let url = server.url("/api/collections/users/auth-with-password");
    let attempt = |identity: &'static str, ip: &'static str| {
        let url = url.clone();
        async move {
            post(
                &url,
                json!({"identity": identity, "password": "guess-guess"}),
                &[("x-forwarded-for", ip)],
            )
            .await
            .0
        }
    };
    assert_eq!(attempt("victim@example.com", "198.51.100.1").await, 400);
    assert_eq!(attempt("victim@example.com", "198.51.100.2").await, 400);
    // A third address, and spelling variants of the same account: refused.
    assert_eq!(attempt("victim@example.com", "198.51.100.3").await, 429);
    assert_eq!(attempt(" VICTIM@example.com", "198.51.100.4").await, 429);
    // Another account from a fresh address is not affected.
    assert_eq!(attempt("other@example.com", "198.51.100.5").await, 400);
    server.shutdown().await.unwrap();
}
