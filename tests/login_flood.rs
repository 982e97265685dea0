//! S-10: a flood of logins is bounded by the argon2 semaphore. Against the real binary
//! (its allocator and thread pools): 200 concurrent logins keep the server's peak RSS
//! within the permits' worth of hashing memory plus 64 MiB over its warmed baseline,
//! and every request is answered (200/400, or 503 once the hashing queue's deadline
//! passes).

mod common;

use serde_json::json;

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_logins_stay_within_the_memory_budget() {
    let (email, password) = ("flood@example.com", "flood-password-123");
    let permits = 2u64;
    let server = common::binary::Binary::start(
        email,
        password,
        &[
            ("KEELBASE_RATE_LIMIT_AUTH_MAX", "0".into()),
            ("KEELBASE_PASSWORD_HASH_CONCURRENCY", permits.to_string()),
        ],
    );
    let (pid, base) = (server.pid(), server.url.clone());
    let url = format!("{base}/api/collections/_superusers/auth-with-password");
    let client = reqwest::Client::new();
    let login = |pw: &'static str| {
        client
            .post(&url)
            .json(&json!({"identity": email, "password": pw}))
            .send()
    };
    // Warm every permit's memory, then take the baseline.
    for _ in 0..permits * 2 {
        login("wrong-password").await.unwrap();
    }
    let baseline = status_kib(pid, "VmRSS:");
    let mut tasks = Vec::new();
    for i in 0..200 {
        let request = login(if i % 10 == 0 {
            password
        } else {
            "wrong-password"
        });
        tasks.push(tokio::spawn(async move {
            request.await.map(|r| r.status().as_u16())
        }));
    }
    let mut statuses = std::collections::BTreeMap::new();
    for t in tasks {
        let status = t.await.unwrap().expect("every request is answered");
        *statuses.entry(status).or_insert(0u32) += 1;
    }
    let peak = status_kib(pid, "VmHWM:");
    drop(server);
    for status in statuses.keys() {
        assert!([200, 400, 503].contains(status), "{statuses:?}");
    }
    assert!(statuses.get(&200).copied().unwrap_or(0) > 0, "{statuses:?}");
    let budget = permits * 19 * 1024 + 64 * 1024;
    assert!(
        peak.saturating_sub(baseline) <= budget,
        "peak {peak} KiB vs baseline {baseline} KiB (budget {budget} KiB); {statuses:?}"
    );
}
