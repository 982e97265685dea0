//! A real SMTP server for tests: aiosmtpd (PyPI), installed into `tests/smtp/.venv` on
//! first use, running `tests/smtp/sink.py`, which writes every received mail as JSON.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

static VENV: Mutex<()> = Mutex::new(());

/// The venv's python, with aiosmtpd installed (once per checkout).
fn python() -> PathBuf {
    let _guard = VENV.lock().unwrap_or_else(|p| p.into_inner());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp");
    let venv = root.join(".venv");
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ready {
        super::pip_venv(&venv, "aiosmtpd==1.4.6");
    }
    python
}

pub struct Sink {
    child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
    seen: Mutex<Vec<String>>,
}

impl Sink {
    pub fn start() -> Sink {
        let python = python();
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/sink.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the SMTP sink starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
        Sink {
            child,
            dir,
            port,
            seen: Mutex::new(Vec::new()),
        }
    }

    /// Every mail received so far that has not been returned yet.
    pub fn new_mails(&self) -> Vec<Value> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        let mut seen = self.seen.lock().unwrap();
        let mut out = Vec::new();
        for name in names {
            if !seen.contains(&name) {
                let text = std::fs::read_to_string(self.dir.path().join(&name)).unwrap();
                out.push(serde_json::from_str(&text).unwrap());
                seen.push(name);
            }
        }
        out
    }

    /// The next mail to `to`, within 10 s.
    pub async fn mail_to(&self, to: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(m) = self
                .new_mails()
                .into_iter()
                .find(|m| m["to"].as_array().unwrap().iter().any(|t| t == to))
            {
                return m;
            }
            assert!(Instant::now() < deadline, "no mail to {to}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait a moment and assert that nothing arrived.
    pub async fn assert_quiet(&self) {
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(self.new_mails(), Vec::<Value>::new(), "no mail expected");
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
