//! Realtime over a real socket: the SSE stream and its first message, subscriptions and
//! their errors, auth and address binding, the OAuth2 redirect hand-off, and the client's
//! lifecycle (disconnect, limits, request timeout, shutdown).

mod common;

use std::time::Duration;

use common::{spawn_server, RunningServer, TestApp};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

async fn serve(edit: impl FnOnce(&mut keelbase::config::Config)) -> (TestApp, RunningServer) {
    let app = TestApp::with_config(edit).await;
    let server = spawn_server(app.state.clone(), app.router.clone()).await;
    (app, server)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// One SSE message as received.
#[derive(Debug)]
struct Event {
    raw: String,
    id: String,
    name: String,
    data: Value,
}

/// A minimal SSE reader over a streaming response (comments skipped).
struct Sse {
    response: reqwest::Response,
    buf: Vec<u8>,
    id: String,
}

impl Sse {
    async fn open(server: &RunningServer, headers: &[(&str, &str)]) -> Self {
        let mut request = client().get(server.url("/api/realtime"));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let mut sse = Self {
            response,
            buf: Vec::new(),
            id: String::new(),
        };
        let connect = sse.next().await.expect("PB_CONNECT");
        assert_eq!(connect.name, "PB_CONNECT");
        sse.id = connect.id;
        sse
    }

    /// The next event, or `None` once the stream has ended.
    async fn next(&mut self) -> Option<Event> {
        tokio::time::timeout(WAIT, self.read())
            .await
            .expect("an SSE event or the end within the wait")
    }

    async fn read(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..end + 2).collect();
                let raw = String::from_utf8(block[..end].to_vec()).unwrap();
                if raw.starts_with(':') {
                    continue;
                }
                let field = |name: &str| {
                    raw.lines()
                        .find_map(|l| l.strip_prefix(name))
                        .unwrap_or_default()
                        .to_owned()
                };
                return Some(Event {
                    id: field("id:"),
                    name: field("event:"),
                    data: serde_json::from_str(&field("data:")).unwrap(),
                    raw,
                });
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk),
                Ok(None) | Err(_) => return None,
            }
        }
    }
}

async fn subscribe(
    server: &RunningServer,
    body: Value,
    headers: &[(&str, &str)],
) -> (u16, Value, String) {
    let mut request = client().post(server.url("/api/realtime")).json(&body);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

async fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn connect_opens_with_pb_connect_byte_for_byte() {
    let (app, server) = serve(|_| {}).await;
    let response = client()
        .get(server.url("/api/realtime"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let h = response.headers();
    assert_eq!(h["content-type"], "text/event-stream");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-accel-buffering"], "no");
    assert!(h.get("content-encoding").is_none());
    let mut sse = Sse {
        response,
        buf: Vec::new(),
        id: String::new(),
    };
    let first = sse.next().await.unwrap();
    let id = first.id.clone();
    assert_eq!(id.len(), 40);
    assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        first.raw,
        format!("id:{id}\nevent:PB_CONNECT\ndata:{{\"clientId\":\"{id}\"}}")
    );
    assert!(app.state.realtime().contains(&id));
    let other = Sse::open(&server, &[]).await;
    assert_ne!(other.id, id);
}

#[tokio::test]
async fn subscriptions_answer_204_and_errors_in_the_envelope() {
    let (app, server) = serve(|_| {}).await;
    let mut sse = Sse::open(&server, &[]).await;
    let id = sse.id.clone();
    let (status, _, text) = subscribe(
        &server,
        json!({"clientId": id, "subscriptions": ["topic", "PB_CONNECT", "posts/*?options=%7B%7D"]}),
        &[],
    )
    .await;
    assert_eq!((status, text.as_str()), (204, ""));
    // Delivery is by topic, named by the exact subscription string.
    assert_eq!(app.state.realtime().publish("posts/*", &json!({"n": 1})), 1);
    let e = sse.next().await.unwrap();
    assert_eq!(
        e.raw,
        format!("id:{id}\nevent:posts/*?options=%7B%7D\ndata:{{\"n\":1}}")
    );

    let (status, body, _) = subscribe(
        &server,
        json!({"clientId": "x".repeat(40), "subscriptions": []}),
        &[],
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"status": 404, "message": "Missing or invalid client id.", "data": {}})
    );

    let (status, body, _) = subscribe(&server, json!({"subscriptions": ["a"]}), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body["data"]["clientId"]["code"], "validation_required");

    let (status, body, _) = subscribe(
        &server,
        json!({"clientId": id, "subscriptions": vec!["t"; 1001]}),
        &[],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["data"]["subscriptions"]["code"],
        "validation_length_too_long"
    );
    let (status, body, _) = subscribe(
        &server,
        json!({"clientId": id, "subscriptions": ["ok", "x".repeat(2501)]}),
        &[],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["data"]["subscriptions"]["1"]["code"],
        "validation_length_too_long"
    );
    let (status, _, _) = subscribe(
        &server,
        json!({"clientId": "y".repeat(256), "subscriptions": []}),
        &[],
    )
    .await;
    assert_eq!(status, 400);
    let (status, body, _) = subscribe(&server, json!(["not", "an", "object"]), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body["status"], 400);

    // An empty list unsubscribes from everything.
    let (status, _, _) =
        subscribe(&server, json!({"clientId": id, "subscriptions": []}), &[]).await;
    assert_eq!(status, 204);
    assert_eq!(app.state.realtime().publish("posts/*", &json!({})), 0);
}

async fn user_token(app: &TestApp, email: &str) -> String {
    let password = "password123";
    let r = app
        .post(
            "/api/collections/users/records",
            json!({"email": email, "password": password, "passwordConfirm": password}),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let a = app
        .post(
            "/api/collections/users/auth-with-password",
            json!({"identity": email, "password": password}),
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_first_authorized_request_binds_the_client() {
    let (app, server) = serve(|_| {}).await;
    let alice = user_token(&app, "alice@example.com").await;
    let bob = user_token(&app, "bob@example.com").await;
    let admin = app.superuser_token().await;
    let sse = Sse::open(&server, &[]).await;
    let body = json!({"clientId": sse.id, "subscriptions": ["a"]});
    let post = |token: Option<&str>| {
        let headers: Vec<(String, String)> = token
            .map(|t| ("authorization".to_owned(), t.to_owned()))
            .into_iter()
            .collect();
        let body = body.clone();
        let server = &server;
        async move {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            subscribe(server, body, &headers).await
        }
    };
    assert_eq!(post(None).await.0, 204, "guest");
    assert_eq!(post(Some(&alice)).await.0, 204, "guest, then bound");
    let bearer = format!("Bearer {alice}");
    assert_eq!(post(Some(&bearer)).await.0, 204, "the same record");
    for other in [
        None,
        Some(bob.as_str()),
        Some(admin.as_str()),
        Some("garbage"),
    ] {
        let (status, body, _) = post(other).await;
        assert_eq!(status, 403);
        assert_eq!(
            body,
            json!({
                "status": 403,
                "message": "The current and the previous request authorization don't match.",
                "data": {},
            })
        );
    }

    // A superuser binds the same way.
    let sse = Sse::open(&server, &[]).await;
    let body = json!({"clientId": sse.id, "subscriptions": []});
    let auth = [("authorization", admin.as_str())];
    assert_eq!(subscribe(&server, body.clone(), &auth).await.0, 204);
    let auth = [("authorization", alice.as_str())];
    assert_eq!(subscribe(&server, body.clone(), &auth).await.0, 403);
}

#[tokio::test]
async fn requests_from_another_address_are_refused() {
    // Loopback is a trusted proxy here, so X-Forwarded-For names the client.
    let (_app, server) = serve(|c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    let mut sse = Sse::open(&server, &[("x-forwarded-for", "203.0.113.7")]).await;
    let body = json!({"clientId": sse.id, "subscriptions": ["@oauth2"]});
    for headers in [vec![], vec![("x-forwarded-for", "198.51.100.1")]] {
        let (status, body, _) = subscribe(&server, body.clone(), &headers).await;
        assert_eq!(status, 400);
        assert_eq!(
            body,
            json!({"status": 400, "message": "Invalid realtime client.", "data": {}})
        );
    }
    let same = [("x-forwarded-for", "203.0.113.7")];
    assert_eq!(subscribe(&server, body, &same).await.0, 204);

    // The OAuth2 hand-off checks the address too, and a refused one changes nothing.
    let url = server.url(&format!("/api/oauth2-redirect?state={}&code=C1", sse.id));
    let r = client()
        .get(&url)
        .header("x-forwarded-for", "198.51.100.1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["location"],
        "../_/#/auth/oauth2-redirect-failure"
    );
    let r = client()
        .get(&url)
        .headers(header(&same))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["location"],
        "../_/#/auth/oauth2-redirect-success"
    );
    let e = sse.next().await.unwrap();
    assert_eq!(e.name, "@oauth2");
    assert_eq!(e.data, json!({"state": sse.id, "code": "C1"}));
}

fn header(pairs: &[(&str, &str)]) -> reqwest::header::HeaderMap {
    let mut map = reqwest::header::HeaderMap::new();
    for (k, v) in pairs {
        map.insert(
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    map
}

#[tokio::test]
async fn oauth2_redirect_hands_the_code_to_the_named_client_only() {
    let (app, server) = serve(|_| {}).await;
    let mut a = Sse::open(&server, &[]).await;
    let mut b = Sse::open(&server, &[]).await;
    for c in [&a, &b] {
        let body = json!({"clientId": c.id, "subscriptions": ["@oauth2", "other"]});
        assert_eq!(subscribe(&server, body, &[]).await.0, 204);
    }

    let url = server.url(&format!(
        "/api/oauth2-redirect?code=THE%2BCODE&state={}&scope=x",
        a.id
    ));
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(
        r.headers()["location"],
        "../_/#/auth/oauth2-redirect-success"
    );
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    assert!(r.text().await.unwrap().is_empty());
    let e = a.next().await.unwrap();
    assert_eq!(
        e.raw,
        format!(
            "id:{0}\nevent:@oauth2\ndata:{{\"state\":\"{0}\",\"code\":\"THE+CODE\"}}",
            a.id
        )
    );
    // The relative location lands on the dashboard's page.
    let landed = reqwest::Url::parse(&url)
        .unwrap()
        .join("../_/#/auth/oauth2-redirect-success")
        .unwrap();
    assert_eq!(landed.path(), "/_/");

    // One shot: a is no longer subscribed to @oauth2, but keeps its other topics.
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(
        r.headers()["location"],
        "../_/#/auth/oauth2-redirect-failure"
    );
    assert_eq!(app.state.realtime().publish("other", &json!("o")), 2);
    assert_eq!(a.next().await.unwrap().name, "other");
    // b got nothing from a's hand-off: its next event is the broadcast.
    assert_eq!(b.next().await.unwrap().name, "other");

    // Apple's form_post: 303; an error is passed on and is a failure.
    let r = client()
        .post(server.url("/api/oauth2-redirect"))
        .form(&[
            ("state", b.id.as_str()),
            ("code", "C2"),
            ("error", "access_denied"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "../_/#/auth/oauth2-redirect-failure"
    );
    let e = b.next().await.unwrap();
    assert_eq!(e.name, "@oauth2");
    assert_eq!(
        e.data,
        json!({"state": b.id, "code": "C2", "error": "access_denied"})
    );

    // A POST that succeeds.
    let body = json!({"clientId": b.id, "subscriptions": ["@oauth2"]});
    assert_eq!(subscribe(&server, body, &[]).await.0, 204);
    let r = client()
        .post(server.url("/api/oauth2-redirect"))
        .form(&[("state", b.id.as_str()), ("code", "C3")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "../_/#/auth/oauth2-redirect-success"
    );
    assert_eq!(b.next().await.unwrap().data["code"], "C3");

    // Unknown or missing state, garbage bodies: the failure page, never an error page.
    for (method, path, status) in [
        ("GET", "/api/oauth2-redirect?state=nobody&code=C", 307),
        ("GET", "/api/oauth2-redirect?code=C", 307),
        ("GET", "/api/oauth2-redirect", 307),
        ("POST", "/api/oauth2-redirect", 303),
    ] {
        let request = if method == "GET" {
            client().get(server.url(path))
        } else {
            client()
                .post(server.url(path))
                .header("content-type", "application/json")
                .body("{not json")
        };
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), status, "{method} {path}");
        assert_eq!(
            r.headers()["location"],
            "../_/#/auth/oauth2-redirect-failure",
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn a_client_is_removed_when_it_disconnects() {
    let (app, server) = serve(|_| {}).await;
    let sse = Sse::open(&server, &[]).await;
    let id = sse.id.clone();
    assert!(app.state.realtime().contains(&id));
    drop(sse);
    wait_until(|| !app.state.realtime().contains(&id)).await;
    let (status, _, _) = subscribe(&server, json!({"clientId": id}), &[]).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn connections_past_the_limit_get_503() {
    let (app, server) = serve(|c| c.realtime_max_clients = 1).await;
    let sse = Sse::open(&server, &[]).await;
    let r = client()
        .get(server.url("/api/realtime"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], 503);
    assert!(body["message"].is_string());
    drop(sse);
    wait_until(|| app.state.realtime().is_empty()).await;
    let _again = Sse::open(&server, &[]).await;
}

#[tokio::test]
async fn streams_outlive_the_request_timeout() {
    let (app, server) = serve(|c| c.request_timeout = Duration::from_secs(1)).await;
    let mut sse = Sse::open(&server, &[]).await;
    let body = json!({"clientId": sse.id, "subscriptions": ["t"]});
    assert_eq!(subscribe(&server, body, &[]).await.0, 204);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.state.realtime().publish("t", &json!(1)), 1);
    assert_eq!(sse.next().await.unwrap().data, json!(1));
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let (app, server) = serve(|c| c.shutdown_timeout = Duration::from_secs(30)).await;
    let mut sse = Sse::open(&server, &[]).await;
    let started = std::time::Instant::now();
    tokio::time::timeout(WAIT, server.shutdown())
        .await
        .expect("shutdown does not wait for the stream")
        .unwrap();
    assert!(started.elapsed() < WAIT);
    assert!(sse.next().await.is_none(), "the stream ended");
    assert!(app.state.realtime().is_empty());
}
