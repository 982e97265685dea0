//! Tests of the bootstrap settings: defaults, precedence, validation.

use std::path::Path;

use super::load::*;
use super::*;
use std::collections::HashMap;

fn load(overrides: &Overrides, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::load_with_env(overrides, |k| map.get(k).cloned())
}

#[test]
fn defaults_apply_when_nothing_is_set() {
    let c = load(&Overrides::default(), &[]).unwrap();
    assert_eq!(c.http, "127.0.0.1:8090".parse().unwrap());
    assert_eq!(c.dir, PathBuf::from("kb_data"));
    assert_eq!(c.body_limit, 32 << 20);
    assert_eq!(c.synchronous, Synchronous::Full);
}

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.toml");
    std::fs::write(
        &path,
        "http = \"127.0.0.1:1001\"\ndir = \"from_file\"\nbody_limit = 4096\nwriter_queue = 7\n",
    )
    .unwrap();
    let o = Overrides {
        config: Some(path),
        http: Some("127.0.0.1:1003".into()),
        ..Default::default()
    };
    let c = load(
        &o,
        &[
            ("KEELBASE_HTTP", "127.0.0.1:1002"),
            ("KEELBASE_DIR", "from_env"),
            ("KEELBASE_BODY_LIMIT", "2048"),
        ],
    )
    .unwrap();
    assert_eq!(c.http.port(), 1003, "flag wins");
    assert_eq!(c.dir, PathBuf::from("from_env"), "env beats file");
    assert_eq!(c.body_limit, 2048, "env beats file");
    assert_eq!(c.writer_queue, 7, "file beats default");
}

#[test]
fn unknown_config_key_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.toml");
    std::fs::write(&path, "htttp = \"x\"\n").unwrap();
    let o = Overrides {
        config: Some(path),
        ..Default::default()
    };
    let err = load(&o, &[]).unwrap_err().to_string();
    assert!(err.contains("htttp"), "{err}");
}

#[test]
fn bad_values_are_one_clear_line() {
    let err = load(
        &Overrides {
            http: Some("nope".into()),
            ..Default::default()
        },
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("--http:"), "{err}");
    let err = load(
        &Overrides::default(),
        &[("KEELBASE_SYNCHRONOUS", "sometimes")],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("KEELBASE_SYNCHRONOUS"), "{err}");
    let err = load(&Overrides::default(), &[("KEELBASE_WRITER_QUEUE", "0")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("writer_queue") && err.contains("out of range"),
        "{err}"
    );
    assert!(!err.contains('\n'));
}

#[test]
fn shorthand_addresses() {
    assert_eq!(parse_addr(":9000").unwrap().port(), 9000);
    assert!(parse_addr("localhost:9000").unwrap().ip().is_loopback());
}

/// Every `KEELBASE_*` variable the loader reads is a known key (so no real setting
/// is ever warned about as a typo).
#[test]
fn every_variable_read_is_a_known_key() {
    let source = include_str!("load.rs");
    let mut read = Vec::new();
    for marker in [
        "raw(\"",
        "parse::<bool>(\"",
        "parse::<Synchronous>(\"",
        " n(\"",
        "n(\n                \"",
    ] {
        for (i, _) in source.match_indices(marker) {
            let rest = &source[i + marker.len()..];
            let key: String = rest
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            if !key.is_empty() {
                read.push(key);
            }
        }
    }
    assert!(read.len() > 20, "the scan found the keys: {read:?}");
    for key in read {
        assert!(
            KEYS.contains(&key.as_str()),
            "KEELBASE_{key} is read but not in KEYS"
        );
    }
}

#[test]
fn shipped_config_file_parses_and_matches_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/keelbase.toml");
    let o = Overrides {
        config: Some(path),
        ..Default::default()
    };
    let c = load(&o, &[]).unwrap();
    let d = Config::default();
    assert_eq!(c.http, d.http);
    assert_eq!(c.dir, d.dir);
    assert_eq!(c.synchronous, d.synchronous);
    assert_eq!(c.body_limit, d.body_limit);
    assert_eq!(c.request_timeout, d.request_timeout);
    assert_eq!(c.writer_queue, d.writer_queue);
    assert_eq!(c.journal_size_limit, d.journal_size_limit);
    assert_eq!(c.cors_origins, d.cors_origins);
    assert_eq!(c.batch_enabled, d.batch_enabled);
    assert_eq!(c.batch_max_requests, d.batch_max_requests);
    assert_eq!(c.batch_timeout, d.batch_timeout);
    assert_eq!(c.batch_max_body_size, d.batch_max_body_size);
    assert_eq!(c.rate_limit_auth, d.rate_limit_auth);
    assert_eq!(c.rate_limit_create, d.rate_limit_create);
    assert_eq!(c.trusted_proxies, d.trusted_proxies);
    assert_eq!(c.realtime_max_clients, d.realtime_max_clients);
    assert_eq!(c.realtime_idle_timeout, d.realtime_idle_timeout);
    assert_eq!(c.realtime_max_lifetime, d.realtime_max_lifetime);
    assert_eq!(
        (
            &c.app_name,
            &c.app_url,
            &c.smtp_host,
            c.smtp_port,
            c.smtp_tls,
            &c.mail_from
        ),
        (
            &d.app_name,
            &d.app_url,
            &d.smtp_host,
            d.smtp_port,
            d.smtp_tls,
            &d.mail_from
        )
    );
}
