//! The official PocketBase JS SDK (`pocketbase` 0.28.1 on npm) against the real binary:
//! `tests/sdk/*.test.mjs`, run by Node's test runner (`openapi.test.mjs` checks
//! `/api/openapi.json` with an OpenAPI 3.1 validator; `eventsource` stands in for the
//! browser's EventSource in realtime tests). Installs the packages of
//! `tests/sdk/package.json` with npm when one is missing (the registry is reachable wherever
//! the tests run).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

#[test]
fn pocketbase_js_sdk_works_unchanged() {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk");
    let packages = [
        "pocketbase",
        "@seriousme/openapi-schema-validator",
        "ajv",
        "ajv-formats",
        "eventsource",
    ];
    if packages
        .iter()
        .any(|p| !sdk.join("node_modules").join(p).exists())
    {
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund"])
            .current_dir(&sdk)
            .status()
            .expect("npm is installed (Node.js 20+)");
        assert!(status.success(), "npm install failed");
    }

    let (email, password) = ("sdk@example.com", "sdk-password-123");
    // Mails (verification, reset, OTP) go to a real SMTP server; the Node tests read them.
    let sink = common::smtp::Sink::start();
    let server = common::binary::Binary::start(
        email,
        password,
        &[
            // The suites log in many times from one address; the limit itself has its tests.
            ("KEELBASE_RATE_LIMIT_AUTH_MAX", "1000".into()),
            ("KEELBASE_SMTP_HOST", "127.0.0.1".into()),
            ("KEELBASE_SMTP_PORT", sink.port.to_string()),
            ("KEELBASE_SMTP_TLS", "none".into()),
        ],
    );
    let url = server.url.clone();

    let started = Instant::now();
    let output = Command::new("node")
        .args(["--test", "--test-reporter=spec"])
        .current_dir(&sdk)
        .env("KEELBASE_URL", &url)
        .env("KEELBASE_ADMIN_EMAIL", email)
        .env("KEELBASE_ADMIN_PASSWORD", password)
        .env("KEELBASE_MAIL_DIR", sink.dir.path())
        .output()
        .expect("node runs");
    drop(server);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{report}");
    assert!(
        output.status.success(),
        "SDK tests failed after {:?}:\n{report}",
        started.elapsed()
    );
    let passed = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("ℹ pass "))
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(0);
    assert!(passed > 0, "the SDK tests ran:\n{report}");
}
