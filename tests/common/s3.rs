//! A real S3-compatible server for tests: moto (PyPI, `moto[server]`), installed once into
//! `~/.cache/keelbase-test/moto-venv` (or `$KEELBASE_TEST_CACHE/moto-venv`) and started on
//! a free loopback port, one per test binary.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

fn cache() -> PathBuf {
    match std::env::var_os("KEELBASE_TEST_CACHE") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into()))
            .join(".cache/keelbase-test"),
    }
}

static INSTALL: Mutex<()> = Mutex::new(());

/// `moto_server` from the cached venv, installed on first use.
fn moto_server() -> PathBuf {
    let _guard = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    let venv = cache().join("moto-venv");
    let bin = venv.join("bin/moto_server");
    if !bin.exists() {
        std::fs::create_dir_all(cache()).unwrap();
        super::pip_venv(&venv, "moto[server]==5.1.22");
    }
    bin
}

pub struct S3Server {
    _child: Child,
    pub endpoint: String,
}

/// The moto server of this test binary, started on first use.
pub fn server() -> &'static str {
    static SERVER: OnceLock<Mutex<S3Server>> = OnceLock::new();
    let s = SERVER.get_or_init(|| Mutex::new(start()));
    let endpoint = s.lock().unwrap().endpoint.clone();
    Box::leak(endpoint.into_boxed_str())
}

fn start() -> S3Server {
    let bin = moto_server();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // A static is never dropped: the shell kills moto when this process's end closes
    // its stdin, so no server outlives the test binary.
    let child = Command::new("sh")
        .args([
            "-c",
            "\"$0\" -H 127.0.0.1 -p \"$1\" & p=$!; cat >/dev/null; kill $p",
        ])
        .arg(bin)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not listen within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    S3Server {
        _child: child,
        endpoint: format!("http://127.0.0.1:{port}"),
    }
}

/// Create bucket `name` on the server (moto takes unsigned requests).
pub async fn create_bucket(endpoint: &str, name: &str) {
    let r = reqwest::Client::new()
        .put(format!("{endpoint}/{name}"))
        .send()
        .await
        .expect("moto answers");
    assert!(r.status().is_success(), "create bucket: {}", r.status());
}
