//! The admin dashboard (`admin-ui/`), tested by `cargo test` like everything else:
//! - the committed build in `admin-ui/dist` is what a fresh `vite build` of the sources gives
//!   (the binary embeds `admin-ui/dist`, so a stale build would ship old screens);
//! - the Vitest unit tests (schema builder round trip, filter-bar helpers);
//! - the end-to-end run in headless Chromium (`admin-ui/e2e/run.mjs`, playwright-core driving
//!   Debian's `chromium`) against the real binary, starting from the printed install link.
//!
//! Installs the packages of `admin-ui/package-lock.json` with `npm ci` when they are missing,
//! and Chromium with `apt-get` when `/usr/bin/chromium` is missing (set `CHROMIUM` to use
//! another browser binary).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("admin-ui")
}

/// `npm ci` once per test run when a package the suites need is missing.
fn node_packages() -> &'static Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let modules = ui_dir().join("node_modules");
        let needed = [
            "vite",
            "svelte",
            "vitest",
            "playwright-core",
            "@sveltejs/vite-plugin-svelte",
        ];
        if needed.iter().all(|p| modules.join(p).exists()) {
            return Ok(());
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(ui_dir())
            .status()
            .map_err(|e| format!("npm runs (Node.js 20.19+ with npm is needed): {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err("npm ci failed in admin-ui".into())
        }
    })
}

fn chromium() -> String {
    if let Ok(path) = std::env::var("CHROMIUM") {
        return path;
    }
    let path = "/usr/bin/chromium";
    if !Path::new(path).exists() {
        let status = Command::new("apt-get")
            .args(["install", "-y", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
        assert!(
            matches!(status, Ok(s) if s.success()) && Path::new(path).exists(),
            "the e2e test needs Chromium: install Debian's `chromium` package, or set CHROMIUM"
        );
    }
    path.to_owned()
}

fn report(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn node_bin(name: &str) -> PathBuf {
    ui_dir().join("node_modules/.bin").join(name)
}

/// Every file under `dir`, as paths relative to it, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn committed_dashboard_build_matches_a_fresh_build() {
    node_packages().as_ref().unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(node_bin("vite"))
        .args(["build", "--emptyOutDir", "--logLevel", "warn", "--outDir"])
        .arg(out.path())
        .current_dir(ui_dir())
        .output()
        .expect("vite runs");
    assert!(
        output.status.success(),
        "vite build failed:\n{}",
        report(&output)
    );
    let committed = ui_dir().join("dist");
    let (fresh_files, committed_files) = (files(out.path()), files(&committed));
    assert_eq!(
        fresh_files, committed_files,
        "admin-ui/dist is stale: run `npm run build` in admin-ui and commit admin-ui/dist"
    );
    for f in &fresh_files {
        assert!(
            std::fs::read(out.path().join(f)).unwrap() == std::fs::read(committed.join(f)).unwrap(),
            "admin-ui/dist/{} is stale: run `npm run build` in admin-ui and commit admin-ui/dist",
            f.display()
        );
    }
}

#[test]
fn dashboard_unit_tests_pass() {
    node_packages().as_ref().unwrap();
    let output = Command::new(node_bin("vitest"))
        .args(["run", "--reporter=verbose"])
        .env("NO_COLOR", "1")
        .current_dir(ui_dir())
        .output()
        .expect("vitest runs");
    let text = report(&output);
    println!("{text}");
    assert!(output.status.success(), "vitest failed:\n{text}");
}

/// `keelbase serve` on a fresh data folder with no superuser: its address and install link.
struct Server {
    child: Child,
    url: String,
    install_url: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_keelbase"))
            .args(["serve", "--http", "127.0.0.1:0", "--dir"])
            .arg(dir.path().join("data"))
            .env("KEELBASE_MIGRATIONS_DIR", dir.path().join("migrations"))
            // The run signs in several times from one address.
            .env("KEELBASE_RATE_LIMIT_AUTH_MAX", "1000")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.split("listening on ").nth(1) {
                    let _ = tx.send(("url", url.trim().to_owned()));
                } else if line.contains("/_/#/install/") {
                    let _ = tx.send(("install", line.trim().to_owned()));
                }
            }
        });
        let (mut url, mut install_url) = (String::new(), String::new());
        while url.is_empty() || install_url.is_empty() {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(("url", u)) => url = u,
                Ok((_, i)) => install_url = i,
                Err(_) => panic!("the server prints its address and the install link"),
            }
        }
        Server {
            child,
            url,
            install_url,
            _dir: dir,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn dashboard_works_end_to_end_in_headless_chromium() {
    node_packages().as_ref().unwrap();
    let browser = chromium();
    let server = Server::start();
    let artifacts = ui_dir().join("e2e/artifacts");
    let started = Instant::now();
    let output = Command::new("node")
        .arg("e2e/run.mjs")
        .current_dir(ui_dir())
        .env("KEELBASE_URL", &server.url)
        .env("KEELBASE_INSTALL_URL", &server.install_url)
        .env("KEELBASE_ADMIN_EMAIL", "admin@example.com")
        .env("KEELBASE_ADMIN_PASSWORD", "dashboard-password-1")
        .env("CHROMIUM", &browser)
        .env("E2E_ARTIFACTS", &artifacts)
        .output()
        .expect("node runs");
    drop(server);
    let text = report(&output);
    println!("{text}");
    assert!(
        output.status.success(),
        "the dashboard e2e run failed after {:?} (screenshots in {}):\n{text}",
        started.elapsed(),
        artifacts.display()
    );
}
