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

// ---------------------------------------------------------------------------------------
// Record events (API.md §7.3–§7.4): what a committed write sends, to whom, in which shape.
// ---------------------------------------------------------------------------------------

/// The identities of the record-event tests, with their tokens.
struct World {
    app: TestApp,
    server: RunningServer,
    admin: String,
    alice: String,
    alice_id: String,
    bob: String,
}

/// `posts`: readable when published or by its owner; `secret` is hidden; `tasks`: readable
/// only with the header `X-Token: abc`.
async fn world() -> World {
    let (app, server) = serve(|_| {}).await;
    let admin = app.superuser_token().await;
    let alice = user_token(&app, "alice@example.com").await;
    let bob = user_token(&app, "bob@example.com").await;
    let me = app
        .get("/api/collections/users/records?fields=id", Some(&alice))
        .await;
    let alice_id = me.body["items"][0]["id"].as_str().unwrap().to_owned();
    let rule = "published = true || owner = @request.auth.id";
    let a = app
        .post(
            "/api/collections",
            json!({"name": "posts", "schema": {"type": "object", "properties": {
                "title": {"type": "string"}, "published": {"type": "boolean"},
                "owner": {"type": "string", "x-relation": {"collection": "users"}},
                "secret": {"type": "string", "x-hidden": true},
                "body": {"type": "string"}
            }}, "listRule": rule, "viewRule": rule, "createRule": "", "updateRule": "",
                "deleteRule": ""}),
            Some(&admin),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = app
        .post(
            "/api/collections",
            json!({"name": "tasks", "schema": {"type": "object", "properties": {
                "title": {"type": "string"}}},
                "listRule": "@request.headers.x_token = 'abc'", "viewRule": "",
                "createRule": ""}),
            Some(&admin),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    World {
        app,
        server,
        admin,
        alice,
        alice_id,
        bob,
    }
}

impl World {
    async fn write(&self, method: reqwest::Method, path: &str, body: Value, token: &str) -> Value {
        let mut r = client().request(method.clone(), self.server.url(path));
        if !token.is_empty() {
            r = r.header("authorization", token);
        }
        if method != reqwest::Method::DELETE {
            r = r.json(&body);
        }
        let response = r.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn create(&self, collection: &str, body: Value, token: &str) -> Value {
        let path = format!("/api/collections/{collection}/records");
        self.write(reqwest::Method::POST, &path, body, token).await
    }

    async fn update(&self, collection: &str, id: &str, body: Value, token: &str) -> Value {
        let path = format!("/api/collections/{collection}/records/{id}");
        self.write(reqwest::Method::PATCH, &path, body, token).await
    }

    async fn delete(&self, collection: &str, id: &str, token: &str) {
        let path = format!("/api/collections/{collection}/records/{id}");
        self.write(reqwest::Method::DELETE, &path, json!({}), token)
            .await;
    }

    /// A GET of the record by `token`'s identity: the body, or `None` when refused.
    async fn view(&self, collection: &str, id: &str, token: &str) -> Option<Value> {
        let mut r = client().get(
            self.server
                .url(&format!("/api/collections/{collection}/records/{id}")),
        );
        if !token.is_empty() {
            r = r.header("authorization", token);
        }
        let response = r.send().await.unwrap();
        if response.status() != 200 {
            return None;
        }
        Some(response.json().await.unwrap())
    }

    /// A new SSE client bound to `token` (empty: a guest) with `keys`.
    async fn listen(&self, token: &str, keys: &[&str]) -> Sse {
        let sse = Sse::open(&self.server, &[]).await;
        self.resubscribe(&sse, token, keys).await;
        sse
    }

    async fn resubscribe(&self, sse: &Sse, token: &str, keys: &[&str]) {
        let headers: Vec<(&str, &str)> = if token.is_empty() {
            Vec::new()
        } else {
            vec![("authorization", token)]
        };
        let body = json!({"clientId": sse.id, "subscriptions": keys});
        let (status, body, _) = subscribe(&self.server, body, &headers).await;
        assert_eq!(status, 204, "{body}");
    }

    /// A published post everyone may see: the next event of a `posts/*` subscriber that
    /// got nothing else in between.
    async fn sentinel(&self, title: &str) -> String {
        let r = self
            .create(
                "posts",
                json!({"title": title, "published": true}),
                &self.admin,
            )
            .await;
        r["id"].as_str().unwrap().to_owned()
    }
}

/// The `?options=` suffix the SDK writes for `options`.
fn with_options(topic: &str, options: Value) -> String {
    let encoded: String =
        url::form_urlencoded::byte_serialize(options.to_string().as_bytes()).collect();
    format!("{topic}?options={}", encoded.replace('+', "%20"))
}

/// The next event, which must be named `name`.
async fn expect_event(sse: &mut Sse, name: &str) -> Value {
    let e = sse.next().await.expect("an event");
    assert_eq!(e.name, name, "event name; data {}", e.data);
    assert_eq!(e.id, sse.id, "every event carries the client id");
    e.data
}

#[tokio::test]
async fn creates_updates_and_deletes_reach_every_matching_topic_with_their_action() {
    let w = world().await;
    let posts = w
        .app
        .state
        .collections()
        .snapshot()
        .get("posts")
        .unwrap()
        .id
        .clone();
    let by_id = format!("{posts}/*");
    let mut sse = w.listen("", &["posts/*", "posts", &by_id, "tasks/*"]).await;
    let created = w
        .create(
            "posts",
            json!({"title": "Hello", "published": true}),
            &w.alice,
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let mut names = Vec::new();
    for _ in 0..3 {
        let e = sse.next().await.unwrap();
        assert_eq!(e.data["action"], "create", "{}", e.data);
        assert_eq!(e.data["record"]["id"], id.as_str());
        assert_eq!(e.data["record"]["title"], "Hello");
        assert_eq!(e.data["record"]["collectionName"], "posts");
        assert!(
            e.data["record"].get("secret").is_none(),
            "hidden fields never reach a guest"
        );
        names.push(e.name);
    }
    names.sort();
    let mut want = vec!["posts".to_owned(), "posts/*".to_owned(), by_id.clone()];
    want.sort();
    assert_eq!(
        names, want,
        "one event per matching subscription, named by it"
    );

    // A single-record topic, alongside a collection topic.
    let record_topic = format!("posts/{id}");
    w.resubscribe(&sse, "", &[&record_topic, "posts/other"])
        .await;
    w.update("posts", &id, json!({"title": "Changed"}), &w.alice)
        .await;
    let data = expect_event(&mut sse, &record_topic).await;
    assert_eq!(data["action"], "update");
    assert_eq!(data["record"]["title"], "Changed");
    let other = w.sentinel("not this one").await;
    w.delete("posts", &id, &w.alice).await;
    let data = expect_event(&mut sse, &record_topic).await;
    assert_eq!(data["action"], "delete");
    assert_eq!(data["record"]["title"], "Changed", "the record as it was");
    // `posts/other` names no record; the sentinel went to no topic of this client.
    assert!(!other.is_empty());
    assert_eq!(w.app.state.events().dropped(), 0);
}

#[tokio::test]
async fn options_filter_fields_and_headers_select_and_shape_events() {
    let w = world().await;
    let filtered = with_options(
        "posts/*",
        json!({"query": {"filter": "title ~ 'rt'", "fields": "id,title"}}),
    );
    let request_filter = with_options(
        "posts/*",
        json!({"query": {"filter": "@request.auth.id != ''"}}),
    );
    let mut guest = w.listen("", &[&filtered, &request_filter, "posts/*"]).await;
    let mut admin = w.listen(&w.admin, &[&request_filter]).await;

    w.create(
        "posts",
        json!({"title": "rt post", "published": true}),
        &w.alice,
    )
    .await;
    // The guest: the filtered subscription (picked fields) and the plain one, never the
    // `@request` filter (refused for non-superusers: the event is dropped).
    let mut got = Vec::new();
    for _ in 0..2 {
        let e = guest.next().await.unwrap();
        got.push((e.name.clone(), e.data));
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let (plain, picked) = (&got[0], &got[1]);
    assert_eq!(plain.0, "posts/*");
    assert_eq!(picked.0, filtered);
    let keys: Vec<&String> = picked.1["record"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "title"], "fields applied: {}", picked.1);
    assert_eq!(picked.1["action"], "create");
    // The superuser may use `@request` in a filter.
    let data = expect_event(&mut admin, &request_filter).await;
    assert_eq!(data["record"]["title"], "rt post");
    assert!(
        data["record"].get("secret").is_some(),
        "superusers see hidden fields"
    );

    w.create(
        "posts",
        json!({"title": "nomatch", "published": true}),
        &w.alice,
    )
    .await;
    let e = guest.next().await.unwrap();
    assert_eq!(e.name, "posts/*", "the filter left out `nomatch`");
    assert_eq!(e.data["record"]["title"], "nomatch");

    // Headers in the options take part in the rule as @request.headers.*.
    let with_header = with_options("tasks/*", json!({"headers": {"X-Token": "abc"}}));
    let wrong_header = with_options("tasks/*", json!({"headers": {"X-Token": "nope"}}));
    let mut tasks = w
        .listen("", &["tasks/*", &wrong_header, &with_header])
        .await;
    w.create("tasks", json!({"title": "t1"}), "").await;
    let data = expect_event(&mut tasks, &with_header).await;
    assert_eq!(data["record"]["title"], "t1");
    w.create("tasks", json!({"title": "t2"}), "").await;
    let data = expect_event(&mut tasks, &with_header).await;
    assert_eq!(data["record"]["title"], "t2", "nothing else in between");

    // Malformed options, an unknown field or a hidden field in a filter: no events.
    let keys = [
        "posts/*?options=%7Bnot-json".to_owned(),
        with_options("posts/*", json!({"query": {"filter": "nope = 1"}})),
        with_options("posts/*", json!({"query": {"filter": "secret = 'x'"}})),
        with_options("posts/*", json!({"query": {"filter": "title ~"}})),
        "posts/*".to_owned(),
    ];
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let mut odd = w.listen("", &keys).await;
    w.create(
        "posts",
        json!({"title": "x", "secret": "x", "published": true}),
        &w.admin,
    )
    .await;
    let e = odd.next().await.unwrap();
    assert_eq!(e.name, "posts/*");
    let sentinel = w.sentinel("after").await;
    let e = odd.next().await.unwrap();
    assert_eq!(
        (e.name.as_str(), e.data["record"]["id"].as_str()),
        ("posts/*", Some(sentinel.as_str()))
    );
}

#[tokio::test]
async fn rule_hidden_records_reach_only_those_who_may_see_them() {
    let w = world().await;
    let mut alice = w.listen(&w.alice, &["posts/*"]).await;
    let mut bob = w.listen(&w.bob, &["posts/*"]).await;
    let mut guest = w.listen("", &["posts/*"]).await;
    let mut admin = w.listen(&w.admin, &["posts/*"]).await;
    let private = w
        .create(
            "posts",
            json!({"title": "mine", "owner": w.alice_id, "secret": "s3cret"}),
            &w.admin,
        )
        .await;
    let private_id = private["id"].as_str().unwrap().to_owned();
    let data = expect_event(&mut alice, "posts/*").await;
    assert_eq!(
        data["record"]["id"],
        private_id.as_str(),
        "the owner gets it"
    );
    assert!(data["record"].get("secret").is_none(), "{data}");
    let data = expect_event(&mut admin, "posts/*").await;
    assert_eq!(data["record"]["secret"], "s3cret");
    let sentinel = w.sentinel("public").await;
    for sse in [&mut bob, &mut guest] {
        let data = expect_event(sse, "posts/*").await;
        assert_eq!(
            data["record"]["id"],
            sentinel.as_str(),
            "the private post never reached them"
        );
    }
    // Deleting it: checked against the record as it was.
    w.delete("posts", &private_id, &w.admin).await;
    let data = expect_event(&mut alice, "posts/*").await;
    assert_eq!(data["action"], "create", "alice also saw the sentinel");
    let data = expect_event(&mut alice, "posts/*").await;
    assert_eq!(
        (data["action"].as_str(), data["record"]["id"].as_str()),
        (Some("delete"), Some(private_id.as_str()))
    );
    let sentinel = w.sentinel("public 2").await;
    for sse in [&mut alice, &mut bob] {
        let data = expect_event(sse, "posts/*").await;
        assert_eq!(data["record"]["id"], sentinel.as_str());
    }

    // Auth records: the owner sees its email, nobody sees password or tokenKey.
    w.resubscribe(&alice, &w.alice, &["users/*"]).await;
    w.resubscribe(&bob, &w.bob, &["users/*"]).await;
    w.update("users", &w.alice_id, json!({"name": "Alice"}), &w.alice)
        .await;
    let data = expect_event(&mut alice, "users/*").await;
    let record = data["record"].as_object().unwrap();
    assert_eq!(record["email"], "alice@example.com");
    assert_eq!(record["name"], "Alice");
    assert!(!record.contains_key("password") && !record.contains_key("tokenKey"));
    let bob_id = w.get_id("users", &w.bob).await;
    w.update("users", &bob_id, json!({"name": "Bob"}), &w.bob)
        .await;
    let data = expect_event(&mut bob, "users/*").await;
    assert_eq!(
        data["record"]["name"], "Bob",
        "bob never got alice's update (users' listRule)"
    );
}

impl World {
    /// The id of the caller's own record of an auth collection.
    async fn get_id(&self, collection: &str, token: &str) -> String {
        let r = self
            .app
            .get(
                &format!("/api/collections/{collection}/records?fields=id"),
                Some(token),
            )
            .await;
        r.body["items"][0]["id"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn unsubscribing_stops_events() {
    let w = world().await;
    let mut sse = w.listen("", &["posts/*"]).await;
    w.resubscribe(&sse, "", &[]).await;
    w.sentinel("unseen").await;
    w.resubscribe(&sse, "", &["posts/*"]).await;
    let seen = w.sentinel("seen").await;
    let data = expect_event(&mut sse, "posts/*").await;
    assert_eq!(data["record"]["id"], seen.as_str());
}

#[tokio::test]
async fn a_batch_publishes_after_it_commits_and_a_failed_batch_publishes_nothing() {
    let w = world().await;
    let mut sse = w.listen("", &["posts/*"]).await;
    let post = |title: &str| {
        json!({"method": "POST", "url": "/api/collections/posts/records",
            "body": {"title": title, "published": true}})
    };
    let failing = json!({"requests": [post("rolled back"), {"method": "POST",
        "url": "/api/collections/posts/records", "body": {"title": 5}}]});
    let r = client()
        .post(w.server.url("/api/batch"))
        .header("authorization", &w.admin)
        .json(&failing)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "{}", r.text().await.unwrap());
    let ok = json!({"requests": [post("b1"), post("b2")]});
    let r = client()
        .post(w.server.url("/api/batch"))
        .header("authorization", &w.admin)
        .json(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answers: Value = r.json().await.unwrap();
    let first = expect_event(&mut sse, "posts/*").await;
    assert_eq!(
        first["record"]["title"], "b1",
        "the rolled-back create sent nothing"
    );
    assert_eq!(first["record"]["id"], answers[0]["body"]["id"]);
    let second = expect_event(&mut sse, "posts/*").await;
    assert_eq!(second["record"]["title"], "b2");
}

/// RELIABILITY.md A-42/S-12: over many writes, an event reaches a subscriber if and only
/// if a GET of that record by the same identity succeeds at that moment (for a delete:
/// just before it), and carries exactly what that GET returns. Four identities listen at
/// once, each on its own stream; the writes come from three of them.
#[tokio::test]
async fn differential_an_event_reaches_a_subscriber_iff_its_get_succeeds() {
    let w = world().await;
    let bob_id = w.get_id("users", &w.bob).await;
    let identities = [
        ("guest", String::new()),
        ("alice", w.alice.clone()),
        ("bob", w.bob.clone()),
        ("admin", w.admin.clone()),
    ];
    let mut collectors = Vec::new();
    for (name, token) in &identities {
        let mut sse = w.listen(token, &["posts/*"]).await;
        collectors.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let e = sse.next().await.expect("the stream stays open");
                if e.data["record"]["title"] == "the end" {
                    return got;
                }
                got.push((
                    e.data["action"].as_str().unwrap().to_owned(),
                    e.data["record"].clone(),
                ));
            }
        }));
        let _ = name;
    }
    let mut expected: Vec<Vec<(String, Value)>> = vec![Vec::new(); identities.len()];
    let mut live: Vec<String> = Vec::new();
    let mut seed: u64 = 0x5eed;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) as usize) % n
    };
    let owners = [String::new(), w.alice_id.clone(), bob_id.clone()];
    let writers = [w.alice.clone(), w.bob.clone(), w.admin.clone()];
    for step in 0..60 {
        let writer = &writers[next(writers.len())];
        let owner = &owners[next(owners.len())];
        let published = next(3) == 0;
        let choice = if live.is_empty() { 0 } else { next(4) };
        let title = format!("step {step}");
        let (action, id) = match choice {
            0 | 1 => {
                let body = json!({"title": title, "owner": owner, "published": published,
                    "secret": "never for users"});
                let r = w.create("posts", body, &w.admin).await;
                let id = r["id"].as_str().unwrap().to_owned();
                live.push(id.clone());
                ("create", id)
            }
            2 => {
                let id = live[next(live.len())].clone();
                let body = json!({"title": title, "owner": owner, "published": published});
                w.update("posts", &id, body, writer).await;
                ("update", id)
            }
            _ => {
                let id = live.remove(next(live.len()));
                for (i, (_, token)) in identities.iter().enumerate() {
                    if let Some(body) = w.view("posts", &id, token).await {
                        expected[i].push(("delete".to_owned(), body));
                    }
                }
                w.delete("posts", &id, writer).await;
                continue;
            }
        };
        for (i, (_, token)) in identities.iter().enumerate() {
            if let Some(body) = w.view("posts", &id, token).await {
                expected[i].push((action.to_owned(), body));
            }
        }
    }
    w.sentinel("the end").await;
    for (i, collector) in collectors.into_iter().enumerate() {
        let got = tokio::time::timeout(WAIT, collector)
            .await
            .unwrap()
            .unwrap();
        let name = identities[i].0;
        assert!(!expected[i].is_empty(), "{name} may see something");
        assert_eq!(
            got.len(),
            expected[i].len(),
            "{name}: events vs successful GETs"
        );
        for (n, (g, e)) in got.iter().zip(&expected[i]).enumerate() {
            assert_eq!(g, e, "{name}: event {n} differs from the GET");
        }
    }
    assert!(
        expected[0].len() < expected[3].len(),
        "the rule hid something from the guest"
    );
}

#[tokio::test]
async fn expand_in_the_options_goes_through_view_rules() {
    let w = world().await;
    let key = with_options("posts/*", json!({"query": {"expand": "owner"}}));
    let mut alice = w.listen(&w.alice, &[&key]).await;
    let mut bob = w.listen(&w.bob, &[&key]).await;
    w.create(
        "posts",
        json!({"title": "owned", "owner": w.alice_id, "published": true}),
        &w.admin,
    )
    .await;
    let data = expect_event(&mut alice, &key).await;
    assert_eq!(data["record"]["expand"]["owner"]["id"], w.alice_id.as_str());
    assert_eq!(
        data["record"]["expand"]["owner"]["email"], "alice@example.com",
        "her own record, email included"
    );
    let data = expect_event(&mut bob, &key).await;
    assert_eq!(data["record"]["owner"], w.alice_id.as_str());
    assert!(
        data["record"]
            .get("expand")
            .is_none_or(|e| e.get("owner").is_none()),
        "users' viewRule hides alice from bob: {data}"
    );
}

/// Waits until no client is bound to `record_id`; panics after `within`.
async fn wait_unbound(app: &TestApp, record_id: &str, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while app
        .state
        .realtime()
        .bound()
        .iter()
        .any(|b| b.auth.record_id == record_id)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still bound to {record_id} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_new_password_a_new_token_key_or_a_deleted_record_ends_the_binding() {
    let w = world().await;
    let bob_id = w.get_id("users", &w.bob).await;
    let mut alice = w.listen(&w.alice, &["posts/*"]).await;
    let private = json!({"title": "for alice", "owner": w.alice_id});
    w.create("posts", private.clone(), &w.admin).await;
    let data = expect_event(&mut alice, "posts/*").await;
    assert_eq!(data["record"]["title"], "for alice");

    // Through the records API: the change is checked before it is fanned out.
    let body = json!({"password": "new-password-1", "passwordConfirm": "new-password-1",
        "oldPassword": "password123"});
    w.update("users", &w.alice_id, body, &w.alice).await;
    wait_unbound(&w.app, &w.alice_id, Duration::from_secs(1)).await;
    w.create("posts", private.clone(), &w.admin).await;
    let sentinel = w.sentinel("public").await;
    let data = expect_event(&mut alice, "posts/*").await;
    assert_eq!(
        data["record"]["id"],
        sentinel.as_str(),
        "a guest now: the private post did not reach the stream"
    );

    // Any other write path (password reset, a direct change): the sweep, within a second.
    let mut bob = w.listen(&w.bob, &["posts/*"]).await;
    assert!(w
        .app
        .state
        .realtime()
        .bound()
        .iter()
        .any(|b| b.auth.record_id == bob_id));
    let id = bob_id.clone();
    w.app
        .state
        .data()
        .write(
            move |c: &rusqlite::Connection| -> Result<(), keelbase::db::DbError> {
                c.execute("UPDATE users SET tokenKey = 'rotated' WHERE id = ?1", [&id])?;
                Ok(())
            },
        )
        .await
        .unwrap();
    wait_unbound(&w.app, &bob_id, Duration::from_secs(1)).await;
    w.create(
        "posts",
        json!({"title": "for bob", "owner": bob_id}),
        &w.admin,
    )
    .await;
    let sentinel = w.sentinel("public 2").await;
    let data = expect_event(&mut bob, "posts/*").await;
    assert_eq!(data["record"]["id"], sentinel.as_str());

    // A deleted record.
    let carol = user_token(&w.app, "carol@example.com").await;
    let carol_id = w.get_id("users", &carol).await;
    let _carol = w.listen(&carol, &["posts/*"]).await;
    w.delete("users", &carol_id, &w.admin).await;
    wait_unbound(&w.app, &carol_id, Duration::from_secs(1)).await;
}

/// A raw SSE client that reads its greeting, then nothing more, with a small receive
/// buffer.
async fn stalled_sse(server: &RunningServer) -> (tokio::net::TcpStream, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(server.addr).await.unwrap();
    let request = format!(
        "GET /api/realtime HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
        server.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let id = loop {
        let mut chunk = [0u8; 512];
        let n = tokio::time::timeout(WAIT, stream.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the greeting arrives");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(at) = text.find("\"clientId\":\"") {
            let rest = &text[at + 12..];
            if let Some(end) = rest.find('"') {
                break rest[..end].to_owned();
            }
        }
    };
    (stream, id)
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_while_healthy_ones_get_everything() {
    use tokio::io::AsyncReadExt;
    let w = world().await;
    let (mut stalled, stalled_id) = stalled_sse(&w.server).await;
    let body = json!({"clientId": stalled_id, "subscriptions": ["posts/*"]});
    assert_eq!(subscribe(&w.server, body, &[]).await.0, 204);
    let healthy = w.listen("", &["posts/*"]).await;
    let count = 320;
    let reader = tokio::spawn(async move {
        let mut healthy = healthy;
        let mut seen = std::collections::HashSet::new();
        while seen.len() < count {
            let e = healthy.next().await.expect("the healthy stream stays open");
            seen.insert(e.data["record"]["id"].as_str().unwrap().to_owned());
        }
        seen.len()
    });
    // ~48 KiB per event, ~14 MiB in all: far more than the stalled client's queue
    // (`CLIENT_QUEUE_BYTES`) and the socket buffers hold.
    let filler = "x".repeat(48 * 1024);
    let started = std::time::Instant::now();
    assert_eq!(count % 8, 0);
    for chunk in 0..count / 8 {
        let mut writes = Vec::new();
        for i in 0..8 {
            let body = json!({"title": format!("bulk {chunk}/{i}"), "published": true,
                "body": filler});
            writes.push(w.create("posts", body, &w.admin));
        }
        futures_util::future::join_all(writes).await;
    }
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(60), reader)
            .await
            .expect("healthy delivery finishes")
            .unwrap(),
        count,
        "the healthy client got every event"
    );
    wait_until(|| !w.app.state.realtime().contains(&stalled_id)).await;
    println!("{count} writes delivered in {:?}", started.elapsed());
    // What it was sent before it was dropped is bounded, and its response then ended.
    let mut total = 0usize;
    let mut tail = Vec::new();
    loop {
        let mut chunk = vec![0u8; 64 * 1024];
        let n = tokio::time::timeout(WAIT, stalled.read(&mut chunk))
            .await
            .expect("the stalled stream ends")
            .unwrap();
        total += n;
        tail.extend_from_slice(&chunk[..n]);
        if tail.len() > 16 {
            tail.drain(..tail.len() - 16);
        }
        if n == 0 || tail.ends_with(b"0\r\n\r\n") {
            break;
        }
    }
    assert!(
        total < count * filler.len() / 2,
        "the stalled client got a bounded share ({total} bytes), not everything"
    );
}

// ---------------------------------------------------------------------------------------
// WebSocket (API.md C.2).
// ---------------------------------------------------------------------------------------

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket client: the `connected` greeting read, its client id kept.
struct Ws {
    stream: WsStream,
    id: String,
}

impl Ws {
    async fn open(server: &RunningServer, token: Option<&str>) -> Self {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("ws://{}/api/realtime/ws", server.addr);
        let mut request = url.into_client_request().unwrap();
        if let Some(t) = token {
            request
                .headers_mut()
                .insert("authorization", t.parse().unwrap());
        }
        let (stream, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(response.status(), 101);
        let mut ws = Self {
            stream,
            id: String::new(),
        };
        let hello = ws.next().await;
        assert_eq!(hello["type"], "connected", "{hello}");
        ws.id = hello["clientId"].as_str().unwrap().to_owned();
        assert_eq!(ws.id.len(), 40);
        ws
    }

    async fn send(&mut self, message: Value) {
        use futures_util::SinkExt;
        let text = tokio_tungstenite::tungstenite::Message::text(message.to_string());
        self.stream.send(text).await.unwrap();
    }

    /// The next text message as JSON.
    async fn next(&mut self) -> Value {
        use futures_util::StreamExt;
        loop {
            let frame = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("a message within the wait")
                .expect("the socket stays open")
                .unwrap();
            if let tokio_tungstenite::tungstenite::Message::Text(t) = frame {
                return serde_json::from_str(&t).unwrap();
            }
        }
    }

    /// Every message sent before this has been handled (messages run in order).
    async fn sync(&mut self) {
        self.send(json!({"type": "ping"})).await;
        let pong = self.next().await;
        assert_eq!(pong, json!({"type": "pong"}));
    }

    async fn subscribe(&mut self, topic: &str, options: Value) -> Value {
        self.send(json!({"type": "subscribe", "topic": topic, "options": options}))
            .await;
        self.next().await
    }

    async fn expect_event(&mut self, topic: &str) -> Value {
        let m = self.next().await;
        assert_eq!(m["type"], "event", "{m}");
        assert_eq!(m["topic"], topic, "{m}");
        m
    }
}

#[tokio::test]
async fn websocket_delivers_checked_shaped_events_and_refuses_bad_subscriptions() {
    let w = world().await;
    let mut ws = Ws::open(&w.server, None).await;
    ws.sync().await;
    let options = json!({"filter": "title ~ 'ws'", "fields": "id,title"});
    let r = ws.subscribe("posts/*", options).await;
    assert_eq!(r, json!({"type": "subscribed", "topic": "posts/*"}));

    let created = w
        .create(
            "posts",
            json!({"title": "ws one", "published": true}),
            &w.admin,
        )
        .await;
    let m = ws.expect_event("posts/*").await;
    assert_eq!(m["action"], "create");
    assert_eq!(
        m["record"],
        json!({"id": created["id"], "title": "ws one"}),
        "fields applied"
    );
    w.create(
        "posts",
        json!({"title": "other", "published": true}),
        &w.admin,
    )
    .await;
    w.create(
        "posts",
        json!({"title": "private ws", "owner": w.alice_id}),
        &w.admin,
    )
    .await;
    w.create(
        "posts",
        json!({"title": "ws two", "published": true}),
        &w.admin,
    )
    .await;
    let m = ws.expect_event("posts/*").await;
    assert_eq!(
        m["record"]["title"], "ws two",
        "neither the filtered-out nor the rule-hidden post came"
    );

    // A record topic, then an update and a delete of it.
    let id = created["id"].as_str().unwrap();
    let topic = format!("posts/{id}");
    assert_eq!(
        ws.subscribe(&topic, Value::Null).await["type"],
        "subscribed"
    );
    w.update("posts", id, json!({"title": "ws one!"}), &w.admin)
        .await;
    // One event per subscription: the record topic and the collection one.
    for action in ["update", "delete"] {
        let mut topics = Vec::new();
        for _ in 0..2 {
            let m = ws.next().await;
            assert_eq!(m["type"], "event", "{m}");
            assert_eq!(m["action"], action, "{m}");
            assert_eq!(m["record"]["title"], "ws one!");
            topics.push(m["topic"].as_str().unwrap().to_owned());
        }
        topics.sort();
        assert_eq!(topics, ["posts/*".to_owned(), topic.clone()]);
        if action == "update" {
            w.delete("posts", id, &w.admin).await;
        }
    }

    // Refusals, each naming what was wrong.
    let cases = [
        (json!({"type": "subscribe", "topic": "nope/*"}), 404),
        (
            json!({"type": "subscribe", "topic": "posts/*", "options": {"filter": "@request.auth.id != ''"}}),
            403,
        ),
        (
            json!({"type": "subscribe", "topic": "posts/*", "options": {"filter": "secret = 'x'"}}),
            400,
        ),
        (
            json!({"type": "subscribe", "topic": "posts/*", "options": {"filter": "title ~"}}),
            400,
        ),
        (json!({"type": "subscribe", "topic": 5}), 400),
        (json!({"type": "subscribe", "topic": "_superusers/*"}), 403),
        (json!({"type": "bogus"}), 400),
        (json!({"type": "auth", "token": "garbage"}), 401),
        (json!([1, 2]), 400),
    ];
    for (message, status) in cases {
        ws.send(message.clone()).await;
        let m = ws.next().await;
        assert_eq!(m["type"], "error", "{message} → {m}");
        assert_eq!(m["status"], status, "{message} → {m}");
        assert!(m["message"].as_str().is_some_and(|s| !s.is_empty()));
        if message["type"] == "subscribe" && message["topic"].is_string() {
            assert_eq!(m["topic"], message["topic"]);
        }
    }
    // The refused filter did not replace the working subscription.
    w.create(
        "posts",
        json!({"title": "ws three", "published": true}),
        &w.admin,
    )
    .await;
    assert_eq!(
        ws.expect_event("posts/*").await["record"]["title"],
        "ws three"
    );
}

#[tokio::test]
async fn websocket_auth_by_header_or_late_message_and_a_password_change_ends_it() {
    let w = world().await;
    // Auth on the upgrade request.
    let mut by_header = Ws::open(&w.server, Some(&w.alice)).await;
    by_header.subscribe("posts/*", Value::Null).await;
    // Auth sent after connecting (what a browser does).
    let mut late = Ws::open(&w.server, None).await;
    late.subscribe("posts/*", Value::Null).await;
    w.create(
        "posts",
        json!({"title": "private 1", "owner": w.alice_id}),
        &w.admin,
    )
    .await;
    assert_eq!(
        by_header.expect_event("posts/*").await["record"]["title"],
        "private 1"
    );
    late.send(json!({"type": "auth", "token": w.alice})).await;
    late.sync().await;
    w.create(
        "posts",
        json!({"title": "private 2", "owner": w.alice_id}),
        &w.admin,
    )
    .await;
    assert_eq!(
        late.expect_event("posts/*").await["record"]["title"],
        "private 2",
        "private 1 was not for a guest; private 2 is for alice"
    );
    assert_eq!(
        by_header.expect_event("posts/*").await["record"]["title"],
        "private 2"
    );

    // Dropping the auth.
    late.send(json!({"type": "auth", "token": null})).await;
    late.sync().await;
    w.create(
        "posts",
        json!({"title": "private 3", "owner": w.alice_id}),
        &w.admin,
    )
    .await;
    let sentinel = w.sentinel("public").await;
    assert_eq!(
        late.expect_event("posts/*").await["record"]["id"],
        sentinel.as_str()
    );
    assert_eq!(
        by_header.expect_event("posts/*").await["record"]["title"],
        "private 3"
    );
    assert_eq!(
        by_header.expect_event("posts/*").await["record"]["id"],
        sentinel.as_str()
    );

    // A new password: the authed subscriptions end with an error naming them.
    let body = json!({"password": "new-password-1", "passwordConfirm": "new-password-1",
        "oldPassword": "password123"});
    w.update("users", &w.alice_id, body, &w.alice).await;
    let m = tokio::time::timeout(Duration::from_secs(1), by_header.next())
        .await
        .expect("within a second");
    assert_eq!(m["type"], "error", "{m}");
    assert_eq!(
        (m["status"].as_u64(), m["topic"].as_str()),
        (Some(401), Some("posts/*"))
    );
    // Subscribed again, now as a guest.
    by_header.subscribe("posts/*", Value::Null).await;
    w.create(
        "posts",
        json!({"title": "private 4", "owner": w.alice_id}),
        &w.admin,
    )
    .await;
    let sentinel = w.sentinel("public 2").await;
    assert_eq!(
        by_header.expect_event("posts/*").await["record"]["id"],
        sentinel.as_str()
    );
}

#[tokio::test]
async fn websocket_unsubscribe_stops_events() {
    let w = world().await;
    let mut ws = Ws::open(&w.server, None).await;
    ws.subscribe("posts/*", Value::Null).await;
    ws.subscribe("tasks/*", json!({"headers": {"X-Token": "abc"}}))
        .await;
    ws.send(json!({"type": "unsubscribe", "topic": "posts/*"}))
        .await;
    ws.sync().await;
    w.sentinel("unseen").await;
    w.create("tasks", json!({"title": "t"}), "").await;
    let m = ws.expect_event("tasks/*").await;
    assert_eq!(m["record"]["title"], "t", "posts/* ended, tasks/* stays");
    ws.send(json!({"type": "unsubscribe"})).await;
    ws.sync().await;
    w.create("tasks", json!({"title": "t2"}), "").await;
    ws.subscribe("posts/*", Value::Null).await;
    let seen = w.sentinel("seen").await;
    assert_eq!(
        ws.expect_event("posts/*").await["record"]["id"],
        seen.as_str()
    );
}

#[tokio::test]
async fn a_websocket_that_falls_behind_gets_overflow_and_close_4008() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let w = world().await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(w.server.addr).await.unwrap();
    let url = format!("ws://{}/api/realtime/ws", w.server.addr);
    let (mut stream, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    let text = |m: Message| -> Value { serde_json::from_str(m.to_text().unwrap()).unwrap() };
    let hello = text(stream.next().await.unwrap().unwrap());
    let id = hello["clientId"].as_str().unwrap().to_owned();
    let subscribe = json!({"type": "subscribe", "topic": "posts/*"}).to_string();
    stream.send(Message::text(subscribe)).await.unwrap();
    assert_eq!(
        text(stream.next().await.unwrap().unwrap())["type"],
        "subscribed"
    );

    // Stop reading; write until the broker drops the client (bounded).
    let filler = "y".repeat(64 * 1024);
    let mut created = 0;
    while w.app.state.realtime().contains(&id) {
        assert!(created < 480, "dropped after a bounded number of events");
        let writes: Vec<_> = (0..8)
            .map(|i| {
                let body = json!({"title": format!("w{created}-{i}"), "published": true,
                    "body": filler});
                w.create("posts", body, &w.admin)
            })
            .collect();
        futures_util::future::join_all(writes).await;
        created += 8;
    }
    // Reading again: what was queued, then the overflow signal and close code 4008.
    let mut events = 0;
    let mut last = Value::Null;
    let close = loop {
        let frame = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("frames keep coming")
            .expect("a close frame before the end")
            .unwrap();
        match frame {
            Message::Text(_) => {
                last = text(frame);
                if last["type"] == "event" {
                    events += 1;
                }
            }
            Message::Close(close) => break close.expect("a close code"),
            _ => {}
        }
    };
    assert_eq!(last, json!({"type": "overflow"}));
    assert_eq!(u16::from(close.code), 4008);
    assert!(
        events < created,
        "{events} of {created} events: the rest were never queued"
    );
}

/// Rules the in-memory evaluator cannot decide alone (a relation path, `@collection`) are
/// checked as SQL over the changed row, for creates and for deletes (the row as it was).
#[tokio::test]
async fn rules_that_need_other_rows_are_checked_in_the_store() {
    let w = world().await;
    let bob_id = w.get_id("users", &w.bob).await;
    w.update("users", &w.alice_id, json!({"name": "Alice"}), &w.alice)
        .await;
    let a = w
        .app
        .post(
            "/api/collections",
            json!({"name": "members", "schema": {"type": "object", "properties": {
                "user": {"type": "string", "x-relation": {"collection": "users"}}}},
                "createRule": ""}),
            Some(&w.admin),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let rule = "owner.name = 'Alice' && @collection.members.user ?= @request.auth.id";
    let a = w
        .app
        .post(
            "/api/collections",
            json!({"name": "notes", "schema": {"type": "object", "properties": {
                "title": {"type": "string"},
                "owner": {"type": "string", "x-relation": {"collection": "users"}}}},
                "listRule": rule, "viewRule": rule, "createRule": "", "deleteRule": ""}),
            Some(&w.admin),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    w.create("members", json!({"user": w.alice_id}), &w.admin)
        .await;
    let mut alice = w.listen(&w.alice, &["notes/*"]).await;
    let mut bob = w.listen(&w.bob, &["notes/*", "posts/*"]).await;
    let mut guest = w.listen("", &["notes/*", "posts/*"]).await;

    let bobs = w
        .create(
            "notes",
            json!({"title": "bob's", "owner": bob_id}),
            &w.admin,
        )
        .await;
    let alices = w
        .create(
            "notes",
            json!({"title": "alice's", "owner": w.alice_id}),
            &w.admin,
        )
        .await;
    let id = alices["id"].as_str().unwrap().to_owned();
    let data = expect_event(&mut alice, "notes/*").await;
    assert_eq!(data["record"]["id"], id.as_str(), "bob's note never came");
    assert!(w.view("notes", &id, &w.alice).await.is_some());
    assert!(w
        .view("notes", bobs["id"].as_str().unwrap(), &w.alice)
        .await
        .is_none());
    w.delete("notes", &id, &w.admin).await;
    let data = expect_event(&mut alice, "notes/*").await;
    assert_eq!(
        (data["action"].as_str(), data["record"]["id"].as_str()),
        (Some("delete"), Some(id.as_str())),
        "checked against the row as it was"
    );
    // Bob is no member, the guest nobody: neither got a note.
    let sentinel = w.sentinel("public").await;
    for sse in [&mut bob, &mut guest] {
        let data = expect_event(sse, "posts/*").await;
        assert_eq!(data["record"]["id"], sentinel.as_str());
    }
}

/// A delete also publishes what its relations did: a delete for each record that went
/// with it (cascade, also through another cascade), an update for each that lost the id.
#[tokio::test]
async fn a_delete_publishes_its_cascades_and_the_records_that_lost_the_id() {
    let w = world().await;
    let schema = |props: Value| json!({"type": "object", "properties": props});
    for (name, props) in [
        ("threads", json!({"title": {"type": "string"}})),
        (
            "comments",
            json!({"text": {"type": "string"},
                "thread": {"type": "string", "x-relation": {"collection": "threads", "cascadeDelete": true}}}),
        ),
        (
            "replies",
            json!({"text": {"type": "string"},
                "comment": {"type": "string", "x-relation": {"collection": "comments", "cascadeDelete": true}}}),
        ),
        (
            "bookmarks",
            json!({"threads": {"type": "array", "items": {"type": "string"},
                "x-relation": {"collection": "threads"}}}),
        ),
    ] {
        let a = w
            .app
            .post(
                "/api/collections",
                json!({"name": name, "schema": schema(props), "listRule": "", "viewRule": "",
                    "createRule": "", "deleteRule": ""}),
                Some(&w.admin),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let thread = w.create("threads", json!({"title": "t"}), "").await;
    let other = w.create("threads", json!({"title": "other"}), "").await;
    let (t, o) = (
        thread["id"].as_str().unwrap(),
        other["id"].as_str().unwrap(),
    );
    let comment = w
        .create("comments", json!({"text": "c", "thread": t}), "")
        .await;
    let reply = w
        .create(
            "replies",
            json!({"text": "r", "comment": comment["id"]}),
            "",
        )
        .await;
    let bookmark = w.create("bookmarks", json!({"threads": [t, o]}), "").await;
    let mut sse = w
        .listen("", &["threads/*", "comments/*", "replies/*", "bookmarks/*"])
        .await;
    w.delete("threads", t, "").await;
    let mut got = Vec::new();
    for _ in 0..4 {
        let e = sse.next().await.unwrap();
        got.push((
            e.name,
            e.data["action"].as_str().unwrap().to_owned(),
            e.data["record"]["id"].as_str().unwrap().to_owned(),
            e.data["record"].clone(),
        ));
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let brief: Vec<(&str, &str, &str)> = got
        .iter()
        .map(|(n, a, i, _)| (n.as_str(), a.as_str(), i.as_str()))
        .collect();
    assert_eq!(
        brief,
        [
            ("bookmarks/*", "update", bookmark["id"].as_str().unwrap()),
            ("comments/*", "delete", comment["id"].as_str().unwrap()),
            ("replies/*", "delete", reply["id"].as_str().unwrap()),
            ("threads/*", "delete", t),
        ]
    );
    assert_eq!(got[0].3["threads"], json!([o]), "the bookmark as it is now");
    assert_eq!(got[1].3["text"], "c", "the comment as it was");
}

#[tokio::test]
async fn idle_and_lifetime_limits_close_sse_and_websocket_streams() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    // Idle: nothing delivered for a second.
    let (app, server) = serve(|c| c.realtime_idle_timeout = Duration::from_secs(1)).await;
    let started = std::time::Instant::now();
    let mut sse = Sse::open(&server, &[]).await;
    let mut ws = Ws::open(&server, None).await;
    assert!(sse.next().await.is_none(), "the idle SSE stream ended");
    let close = loop {
        match tokio::time::timeout(WAIT, ws.stream.next()).await.unwrap() {
            Some(Ok(Message::Close(c))) => break c.unwrap(),
            Some(Ok(_)) => {}
            other => panic!("a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(close.code), 1000);
    assert!(started.elapsed() < Duration::from_secs(5));
    wait_until(|| app.state.realtime().is_empty()).await;

    // Lifetime: closed after two seconds even while messages keep it busy.
    let (app, server) = serve(|c| c.realtime_max_lifetime = Duration::from_secs(2)).await;
    let mut sse = Sse::open(&server, &[]).await;
    let body = json!({"clientId": sse.id, "subscriptions": ["t"]});
    assert_eq!(subscribe(&server, body, &[]).await.0, 204);
    let started = std::time::Instant::now();
    let mut ended = false;
    for i in 0..100 {
        app.state.realtime().publish("t", &json!(i));
        match sse.next().await {
            Some(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            None => {
                ended = true;
                break;
            }
        }
    }
    assert!(ended, "the stream ended at its lifetime");
    assert!(started.elapsed() >= Duration::from_millis(1500));
}

#[tokio::test]
async fn shutdown_closes_websockets_with_going_away() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let (_app, server) = serve(|c| c.shutdown_timeout = Duration::from_secs(30)).await;
    let mut ws = Ws::open(&server, None).await;
    ws.sync().await;
    tokio::time::timeout(WAIT, server.shutdown())
        .await
        .expect("shutdown does not wait for the socket")
        .unwrap();
    let close = loop {
        match tokio::time::timeout(WAIT, ws.stream.next()).await.unwrap() {
            Some(Ok(Message::Close(c))) => break c.unwrap(),
            Some(Ok(_)) => {}
            other => panic!("a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(close.code), 1001);
}

/// The mailed flows change records outside the records API; their changes are published
/// too: a confirmed verification is an update the owner sees; a password reset rotates
/// `tokenKey`, which ends the binding before the change goes out.
#[tokio::test]
async fn mailed_flows_publish_their_changes_and_a_reset_ends_the_binding() {
    let sink = common::smtp::Sink::start();
    let port = sink.port;
    let (app, server) = serve(move |c| {
        c.smtp_host = "127.0.0.1".into();
        c.smtp_port = port;
        c.smtp_tls = keelbase::config::SmtpTls::None;
    })
    .await;
    let alice = user_token(&app, "alice@example.com").await;
    let me = app
        .get("/api/collections/users/records?fields=id", Some(&alice))
        .await;
    let id = me.body["items"][0]["id"].as_str().unwrap().to_owned();
    let topic = format!("users/{id}");
    let mut sse = Sse::open(&server, &[]).await;
    let body = json!({"clientId": sse.id, "subscriptions": [topic]});
    assert_eq!(
        subscribe(&server, body, &[("authorization", &alice)])
            .await
            .0,
        204
    );

    let flow = |action: &str, body: Value| {
        let url = server.url(&format!("/api/collections/users/{action}"));
        async move {
            let r = client().post(url).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
        }
    };
    let token_in = |mail: &Value, action: &str| -> String {
        let html = mail["html"].as_str().unwrap();
        let marker = format!("/_/#/auth/{action}/");
        let start = html.find(&marker).unwrap() + marker.len();
        html[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .collect()
    };
    flow(
        "request-verification",
        json!({"email": "alice@example.com"}),
    )
    .await;
    let token = token_in(
        &sink.mail_to("alice@example.com").await,
        "confirm-verification",
    );
    flow("confirm-verification", json!({"token": token})).await;
    let e = sse.next().await.unwrap();
    assert_eq!(e.name, topic);
    assert_eq!(e.data["action"], "update");
    assert_eq!(e.data["record"]["verified"], true);
    assert_eq!(e.data["record"]["email"], "alice@example.com");

    flow(
        "request-password-reset",
        json!({"email": "alice@example.com"}),
    )
    .await;
    let token = token_in(
        &sink.mail_to("alice@example.com").await,
        "confirm-password-reset",
    );
    flow(
        "confirm-password-reset",
        json!({"token": token, "password": "brand-new-pass", "passwordConfirm": "brand-new-pass"}),
    )
    .await;
    wait_unbound(&app, &id, Duration::from_secs(1)).await;
    // As a guest the stream got nothing of users/<id> (viewRule: the record itself): the
    // next event is a later change, which the dispatcher handles after the reset.
    let admin = app.superuser_token().await;
    let a = app
        .post(
            "/api/collections",
            json!({"name": "pings", "schema": {"type": "object", "properties": {}},
                "listRule": "", "createRule": ""}),
            Some(&admin),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let body = json!({"clientId": sse.id, "subscriptions": [topic, "pings/*"]});
    assert_eq!(subscribe(&server, body, &[]).await.0, 204);
    let r = app
        .post("/api/collections/pings/records", json!({}), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let e = sse.next().await.unwrap();
    assert_eq!(
        e.name, "pings/*",
        "the reset was not sent to a guest: {}",
        e.data
    );
}
