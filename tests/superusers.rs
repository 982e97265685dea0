//! Superusers end to end: the CLI, auth-with-password, auth-refresh, token revocation,
//! the install link, and the CLI's error handling.

mod common;

use std::process::{Command, Output};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use common::{assert_error_shape, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::{json, Value};

const AUTH: &str = "/api/collections/_superusers/auth-with-password";
const REFRESH: &str = "/api/collections/_superusers/auth-refresh";

fn keelbase(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keelbase"))
        .args(args)
        .env_remove("KEELBASE_CONFIG")
        .env_remove("KEELBASE_DIR")
        .output()
        .expect("binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}

async fn login(app: &TestApp, identity: &str, password: &str) -> common::Answer {
    app.post(
        AUTH,
        json!({"identity": identity, "password": password}),
        None,
    )
    .await
}

#[tokio::test]
async fn cli_upsert_then_auth_with_password_and_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = keelbase(&[
        "superuser",
        "upsert",
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        "--dir",
        d,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Created superuser"));

    let app = TestApp::at(dir, |_| {}).await;
    let a = login(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let mut keys: Vec<_> = a.body.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["record", "token"]);
    let record = &a.body["record"];
    assert_eq!(record["collectionId"], "pbc_3142635823");
    assert_eq!(record["collectionName"], "_superusers");
    assert_eq!(record["email"], ADMIN_EMAIL);
    assert_eq!(record["verified"], true);
    assert_eq!(record["id"].as_str().unwrap().len(), 15);
    assert!(record.get("password").is_none() && record.get("tokenKey").is_none());

    let token = a.body["token"].as_str().unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&B64.decode(token.split('.').next().unwrap()).unwrap())
            .unwrap(),
        json!({"alg": "HS256", "typ": "JWT"})
    );
    let c = claims(token);
    assert_eq!(c["type"], "auth");
    assert_eq!(c["collectionId"], "pbc_3142635823");
    assert_eq!(c["id"], record["id"]);
    assert_eq!(c["refreshable"], true);
    let exp = c["exp"].as_i64().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(
        (exp - now - 86_400).abs() < 60,
        "superuser tokens last 86400 s"
    );

    // Refresh, with the raw token and with a `Bearer ` prefix in any case.
    for header in [
        token.to_owned(),
        format!("Bearer {token}"),
        format!("bEaReR {token}"),
    ] {
        let r = app.json(Method::POST, REFRESH, None, Some(&header)).await;
        assert_eq!(r.status, StatusCode::OK, "{header}: {}", r.body);
        assert_eq!(r.body["record"]["id"], record["id"]);
        assert!(
            claims(r.body["token"].as_str().unwrap())["exp"]
                .as_i64()
                .unwrap()
                >= exp
        );
    }
    // The collection may be named by id too.
    let by_id = app
        .json(
            Method::POST,
            "/api/collections/pbc_3142635823/auth-refresh",
            None,
            Some(token),
        )
        .await;
    assert_eq!(by_id.status, StatusCode::OK);
}

#[tokio::test]
async fn auth_with_password_accepts_urlencoded_bodies_and_any_email_case() {
    let app = TestApp::new().await;
    app.superuser_token().await;
    let a = app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri(AUTH)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "identity=ADMIN%40Example.com&password={ADMIN_PASSWORD}"
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_answer_the_same_400() {
    let app = TestApp::new().await;
    app.superuser_token().await;
    let wrong = login(&app, ADMIN_EMAIL, "not-the-password").await;
    let unknown = login(&app, "nobody@example.com", ADMIN_PASSWORD).await;
    let not_email = login(&app, "nobody", ADMIN_PASSWORD).await;
    assert_error_shape(&wrong, 400);
    assert_eq!(
        wrong.body,
        json!({"status": 400, "message": "Failed to authenticate.", "data": {}})
    );
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.body, not_email.body);
}

#[tokio::test]
async fn missing_or_invalid_fields_are_field_errors() {
    let app = TestApp::new().await;
    let a = app.post(AUTH, json!({}), None).await;
    assert_error_shape(&a, 400);
    assert_eq!(a.body["data"]["identity"]["code"], "validation_required");
    assert_eq!(a.body["data"]["password"]["code"], "validation_required");

    let a = app
        .post(
            AUTH,
            json!({"identity": "a@b.c", "password": "x", "identityField": "username"}),
            None,
        )
        .await;
    assert_eq!(
        a.body["data"]["identityField"]["code"],
        "validation_in_invalid"
    );

    let a = app
        .post(AUTH, json!({"identity": 42, "password": ["x"]}), None)
        .await;
    assert_error_shape(&a, 400);
    assert_eq!(
        a.body["data"]["identity"]["code"],
        "validation_invalid_value"
    );
    assert_eq!(
        a.body["data"]["password"]["code"],
        "validation_invalid_value"
    );

    let a = app
        .post(
            AUTH,
            json!({"identity": "a".repeat(256), "password": "x"}),
            None,
        )
        .await;
    assert_eq!(
        a.body["data"]["identity"]["code"],
        "validation_length_out_of_range"
    );
}

#[tokio::test]
async fn auth_routes_of_non_auth_collections_are_404() {
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    let c = app
        .post(
            "/api/collections",
            json!({"name": "posts", "schema": {"type": "object", "properties": {"t": {"type": "string"}}}}),
            Some(&token),
        )
        .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.body);
    let a = app
        .post(
            "/api/collections/posts/auth-with-password",
            json!({"identity": "a", "password": "b"}),
            None,
        )
        .await;
    assert_error_shape(&a, 404);
    assert_eq!(
        a.body["message"],
        "Missing or invalid auth collection context."
    );
}

#[tokio::test]
async fn refresh_without_a_valid_token_is_401() {
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut forged = claims(&token);
    forged["exp"] = json!(4_000_000_000i64);
    parts[1] = B64.encode(forged.to_string());
    let tampered = parts.join(".");
    let mut bad_sig = token.clone();
    bad_sig.pop();
    bad_sig.push(if token.ends_with('A') { 'B' } else { 'A' });
    for header in [
        None,
        Some(""),
        Some("garbage"),
        Some(tampered.as_str()),
        Some(bad_sig.as_str()),
    ] {
        let r = app.json(Method::POST, REFRESH, None, header).await;
        assert_error_shape(&r, 401);
        assert_eq!(
            r.body["message"], "The request requires valid record authorization token.",
            "{header:?}"
        );
        // An invalid token is a guest, not an error: public routes still answer.
        let h = app.get("/api/health", header).await;
        assert_eq!(h.status, StatusCode::OK);
        assert_eq!(
            h.body["data"],
            json!({}),
            "a tampered token gets no superuser view"
        );
    }
}

#[tokio::test]
async fn changing_the_password_invalidates_earlier_tokens() {
    let app = TestApp::new().await;
    let first = app.superuser_token().await;
    let second = login(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for t in [&first, &second] {
        assert_eq!(
            app.json(Method::POST, REFRESH, None, Some(t)).await.status,
            StatusCode::OK
        );
    }
    let old_tokens = [first, second];
    let upserted = app
        .state
        .superusers()
        .upsert(ADMIN_EMAIL, "a-brand-new-password")
        .await
        .unwrap();
    assert!(!upserted.created);
    for old in &old_tokens {
        let r = app.json(Method::POST, REFRESH, None, Some(old)).await;
        assert_error_shape(&r, 401);
    }
    assert_error_shape(&login(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await, 400);
    let fresh = login(&app, ADMIN_EMAIL, "a-brand-new-password").await;
    assert_eq!(fresh.status, StatusCode::OK);
    let r = app
        .json(Method::POST, REFRESH, None, fresh.body["token"].as_str())
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn a_deleted_superusers_token_stops_working() {
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    assert!(app.state.superusers().delete(ADMIN_EMAIL).await.unwrap());
    assert_error_shape(
        &app.json(Method::POST, REFRESH, None, Some(&token)).await,
        401,
    );
    assert!(!app.state.superusers().delete(ADMIN_EMAIL).await.unwrap());
}

#[tokio::test]
async fn the_install_token_creates_the_first_superuser_once() {
    let app = TestApp::new().await;
    let install = app.state.superusers().install_token().unwrap();
    let body = |token: &str, email: &str| json!({"token": token, "email": email, "password": "first-admin-pass", "passwordConfirm": "first-admin-pass"});

    let wrong = app
        .post("/api/install", body("not-a-token", "a@example.com"), None)
        .await;
    assert_error_shape(&wrong, 400);
    assert_eq!(
        wrong.body["data"]["token"]["code"],
        "validation_invalid_token"
    );
    // A superuser auth token is not an install token.
    let mismatch = app
        .post(
            "/api/install",
            json!({"token": install, "email": "a@example.com", "password": "first-admin-pass", "passwordConfirm": "other-pass-123"}),
            None,
        )
        .await;
    assert_eq!(
        mismatch.body["data"]["passwordConfirm"]["code"],
        "validation_values_mismatch"
    );
    let short = app
        .post("/api/install", json!({"token": install, "email": "a@example.com", "password": "short", "passwordConfirm": "short"}), None)
        .await;
    assert_eq!(
        short.body["data"]["password"]["code"],
        "validation_length_out_of_range"
    );
    let bad_email = app
        .post("/api/install", body(&install, "not-an-email"), None)
        .await;
    assert_eq!(
        bad_email.body["data"]["email"]["code"],
        "validation_is_email"
    );
    assert_eq!(
        app.state.superusers().count().await.unwrap(),
        0,
        "failed attempts changed nothing"
    );

    let ok = app
        .post("/api/install", body(&install, "first@example.com"), None)
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["record"]["email"], "first@example.com");
    let r = app
        .json(Method::POST, REFRESH, None, ok.body["token"].as_str())
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the install answer signs the new superuser in"
    );

    let again = app
        .post("/api/install", body(&install, "second@example.com"), None)
        .await;
    assert_error_shape(&again, 400);
    assert_eq!(app.state.superusers().count().await.unwrap(), 1);
}

#[tokio::test]
async fn the_install_token_does_not_work_as_an_auth_token() {
    let app = TestApp::new().await;
    let install = app.state.superusers().install_token().unwrap();
    assert_error_shape(
        &app.json(Method::POST, REFRESH, None, Some(&install)).await,
        401,
    );
}

#[test]
fn cli_delete_and_errors_are_one_clear_line_and_nonzero() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    assert!(keelbase(&[
        "superuser",
        "upsert",
        "x@example.com",
        "0123456789",
        "--dir",
        d
    ])
    .status
    .success());
    let again = keelbase(&[
        "superuser",
        "upsert",
        "X@EXAMPLE.com",
        "9876543210",
        "--dir",
        d,
    ]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("Updated superuser"),
        "emails match case-insensitively"
    );
    assert!(
        keelbase(&["superuser", "delete", "x@example.com", "--dir", d])
            .status
            .success()
    );

    let missing = keelbase(&["superuser", "delete", "x@example.com", "--dir", d]);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("no superuser with email x@example.com"));

    let bad_email = keelbase(&["superuser", "upsert", "nope", "0123456789", "--dir", d]);
    assert!(!bad_email.status.success());
    assert!(
        stderr(&bad_email).contains("valid email"),
        "{}",
        stderr(&bad_email)
    );

    let short = keelbase(&["superuser", "upsert", "y@example.com", "short", "--dir", d]);
    assert!(!short.status.success());
    assert_eq!(
        stderr(&short).trim().lines().count(),
        1,
        "{}",
        stderr(&short)
    );

    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let bad_dir = keelbase(&[
        "superuser",
        "upsert",
        "y@example.com",
        "0123456789",
        "--dir",
        file.to_str().unwrap(),
    ]);
    assert!(!bad_dir.status.success());
    let msg = stderr(&bad_dir);
    assert!(
        msg.contains("data dir") && msg.contains("not a folder"),
        "{msg}"
    );
    assert_eq!(msg.trim().lines().count(), 1, "{msg}");

    let config = dir.path().join("k.toml");
    std::fs::write(&config, "bogus_key = 1\n").unwrap();
    let bad_config = keelbase(&[
        "migrate",
        "status",
        "--config",
        config.to_str().unwrap(),
        "--dir",
        d,
    ]);
    assert!(!bad_config.status.success());
    assert!(
        stderr(&bad_config).contains("bogus_key"),
        "{}",
        stderr(&bad_config)
    );

    let bad_flag = keelbase(&["serve", "--htp", "x"]);
    assert_eq!(bad_flag.status.code(), Some(2));
    assert!(stderr(&bad_flag).lines().next().unwrap().contains("--htp"));

    let bad_addr = keelbase(&["serve", "--http", "nowhere", "--dir", d]);
    assert!(!bad_addr.status.success());
    assert!(
        stderr(&bad_addr).contains("--http"),
        "{}",
        stderr(&bad_addr)
    );
}

#[test]
fn cli_version_help_and_migrate() {
    let v = keelbase(&["--version"]);
    assert!(String::from_utf8_lossy(&v.stdout).contains(env!("CARGO_PKG_VERSION")));
    let help = keelbase(&["--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    for word in ["serve", "superuser", "migrate", "KEELBASE_"] {
        assert!(text.contains(word), "help mentions {word}");
    }

    // The migrations folder defaults to beside the data folder: nest the data folder so
    // that is ours too, not a shared `/tmp/kb_migrations`.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let status =
        String::from_utf8_lossy(&keelbase(&["migrate", "status", "--dir", d]).stdout).into_owned();
    assert!(
        status.contains("pending") && !status.contains("applied "),
        "{status}"
    );
    let up = String::from_utf8_lossy(&keelbase(&["migrate", "up", "--dir", d]).stdout).into_owned();
    assert!(up.contains("data.db: applied 0001_system"), "{up}");
    let up_again =
        String::from_utf8_lossy(&keelbase(&["migrate", "up", "--dir", d]).stdout).into_owned();
    assert!(
        up_again.contains("up to date") && !up_again.contains("applied"),
        "{up_again}"
    );
    let status =
        String::from_utf8_lossy(&keelbase(&["migrate", "status", "--dir", d]).stdout).into_owned();
    assert!(
        status.contains("applied") && !status.contains("pending"),
        "{status}"
    );
}

/// The real binary: serves on its address, prints the install link, and exits 0 on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_prints_the_install_link_and_stops_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_keelbase"))
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--dir",
            dir.path().to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut base = None;
    let mut install = None;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while (base.is_none() || install.is_none()) && std::time::Instant::now() < deadline {
        let Ok(line) = lines_rx.recv_timeout(std::time::Duration::from_secs(1)) else {
            continue;
        };
        if let Some(rest) = line.split("listening on ").nth(1) {
            base = Some(rest.trim().to_owned());
        }
        if let Some(token) = line.split("#/install/").nth(1) {
            install = Some(token.trim().to_owned());
        }
    }
    let base = base.expect("prints its address");
    let install = install.expect("prints the install link when no superuser exists");

    let client = reqwest::Client::new();
    let health = client
        .get(format!("{base}/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let created = client
        .post(format!("{base}/api/install"))
        .json(&json!({"token": install, "email": "root@example.com", "password": "0123456789", "passwordConfirm": "0123456789"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status:?}");

    // The superuser created just before the stop is on disk.
    let out = keelbase(&[
        "superuser",
        "upsert",
        "root@example.com",
        "0123456789",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Updated superuser"));
}
