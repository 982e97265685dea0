//! Shared test harness: a `TestApp` on its own temp data folder, driven through the real
//! router (`oneshot`), and helpers to run a real server on 127.0.0.1:0.
#![allow(dead_code)]

pub mod binary;
pub mod s3;
pub mod smtp;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use keelbase::config::{Config, Overrides};
use keelbase::state::AppState;
use serde_json::Value;
use tower::ServiceExt;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct-horse-battery";

/// A config for tests: the data folder in `dir`, nothing taken from the environment.
pub fn test_config(dir: &Path) -> Config {
    let overrides = Overrides {
        dir: Some(dir.to_path_buf()),
        ..Default::default()
    };
    let mut config = Config::load_with_env(&overrides, |_| None).expect("default config loads");
    config.password_hash_concurrency = 2;
    config.migrations_dir = Some(dir.join("kb_migrations"));
    // Every in-process request comes from the same (unknown) address: tests that check
    // rate limits turn them on themselves.
    config.rate_limit_auth = keelbase::config::RateLimit::off();
    config
}

pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub state: AppState,
    pub router: Router,
}

/// What a request answered.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    pub async fn with_config(edit: impl FnOnce(&mut Config)) -> Self {
        Self::at(tempfile::tempdir().expect("temp dir"), edit).await
    }

    /// A `TestApp` on an existing data folder.
    pub async fn at(dir: tempfile::TempDir, edit: impl FnOnce(&mut Config)) -> Self {
        let mut config = test_config(dir.path());
        edit(&mut config);
        let state = AppState::open(config).await.expect("state opens");
        let router = keelbase::server::router(state.clone());
        Self { dir, state, router }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let raw = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            raw,
        }
    }

    /// A JSON request; `token` goes in `Authorization` as the SDK sends it (raw).
    pub async fn json(
        &self,
        method: Method,
        uri: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> Answer {
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json");
        if let Some(t) = token {
            builder = builder.header("authorization", t);
        }
        let body = body.map_or_else(Body::empty, |v| Body::from(v.to_string()));
        self.send(builder.body(body).unwrap()).await
    }

    pub async fn get(&self, uri: &str, token: Option<&str>) -> Answer {
        self.json(Method::GET, uri, None, token).await
    }

    pub async fn post(&self, uri: &str, body: Value, token: Option<&str>) -> Answer {
        self.json(Method::POST, uri, Some(body), token).await
    }

    /// Create a superuser and return its auth token.
    pub async fn superuser_token(&self) -> String {
        self.state
            .superusers()
            .upsert(ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .expect("upsert");
        let a = self
            .post(
                "/api/collections/_superusers/auth-with-password",
                serde_json::json!({"identity": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        a.body["token"].as_str().expect("token").to_owned()
    }
}

/// Make the Python venv `venv` and `pip install` `requirement` into it (test servers:
/// the SMTP sink, moto).
pub fn pip_venv(venv: &Path, requirement: &str) {
    let made = std::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(venv)
        .status()
        .expect("python3 is installed");
    assert!(made.success(), "python3 -m venv failed");
    let pip = std::process::Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", requirement])
        .status()
        .expect("pip runs");
    assert!(pip.success(), "pip install {requirement} failed");
}

/// Assert the error envelope: exactly `status`, `message`, `data`, with a sentence message.
pub fn assert_error_shape(a: &Answer, status: u16) {
    assert_eq!(a.status.as_u16(), status, "status; body {}", a.body);
    let obj = a.body.as_object().unwrap_or_else(|| {
        panic!(
            "JSON object body, got {:?}",
            String::from_utf8_lossy(&a.raw)
        )
    });
    let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["data", "message", "status"], "{}", a.body);
    assert_eq!(obj["status"], status);
    assert!(obj["data"].is_object());
    let message = obj["message"].as_str().expect("message string");
    assert!(
        message.ends_with('.'),
        "message ends with a period: {message}"
    );
    assert!(a
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("application/json"));
}

/// A real server on 127.0.0.1:0. Dropping `stop` (or sending on it) shuts it down.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.expect("server task")
    }
}

/// Serve `app` for `state` on an ephemeral loopback port with the real lifecycle.
pub async fn spawn_server(state: AppState, app: Router) -> RunningServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(keelbase::server::serve(state, app, listener, async move {
        let _ = rx.await;
    }));
    RunningServer {
        addr,
        stop: Some(tx),
        task,
    }
}
