//! The real `keelbase` binary for tests that need its own process (its allocator, its
//! thread pools, the JS SDK against it): a data folder with one superuser, then `serve`
//! on 127.0.0.1:0. The process is killed when the value is dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Binary {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Binary {
    /// Create superuser `email`/`password` with the CLI, then serve with `env` added.
    pub fn start(email: &str, password: &str, env: &[(&str, String)]) -> Binary {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let migrations = dir.path().join("migrations");
        let bin = env!("CARGO_BIN_EXE_keelbase");
        let upsert = Command::new(bin)
            .args(["superuser", "upsert", email, password, "--dir"])
            .arg(&data)
            .env("KEELBASE_MIGRATIONS_DIR", &migrations)
            .output()
            .unwrap();
        assert!(
            upsert.status.success(),
            "{}",
            String::from_utf8_lossy(&upsert.stderr)
        );
        let mut child = Command::new(bin)
            .args(["serve", "--http", "127.0.0.1:0", "--dir"])
            .arg(&data)
            .env("KEELBASE_MIGRATIONS_DIR", &migrations)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.split("listening on ").nth(1) {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server prints its address");
        Binary {
            child,
            url,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
