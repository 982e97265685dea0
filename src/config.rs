//! Bootstrap settings: the ones a restart is needed to change.
//!
//! Every setting has one name used in three places: the TOML key in the config file
//! (`config/keelbase.toml` documents each one), the environment variable `KEELBASE_<NAME>`
//! in upper case, and for the most used ones a `serve` flag. Precedence is
//! flag > environment > config file > default. Unknown config keys are an error.
//! Runtime settings (mail, storage, rate limits) live in the database, not here.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

/// Durability of a commit, mapped to SQLite's `synchronous` pragma in WAL mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// Survives a crash of the process; a power cut may lose the last commits.
    Normal,
    /// Survives a power cut too (the WAL is fsynced at every commit).
    Full,
}

impl Synchronous {
    pub fn pragma(self) -> &'static str {
        match self {
            Self::Normal => "NORMAL",
            Self::Full => "FULL",
        }
    }
}

impl FromStr for Synchronous {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "normal" => Ok(Self::Normal),
            "full" => Ok(Self::Full),
            _ => Err(format!("expected \"normal\" or \"full\", got {s:?}")),
        }
    }
}

/// The validated bootstrap configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub http: SocketAddr,
    pub dir: PathBuf,
    pub dev: bool,
    pub synchronous: Synchronous,
    pub body_limit: usize,
    pub request_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub writer_queue: usize,
    pub write_timeout: Duration,
    pub read_pool_size: u32,
    pub journal_size_limit: u64,
    pub checkpoint_interval: Duration,
    pub cors_origins: Vec<String>,
    pub password_hash_concurrency: usize,
    pub log_level: String,
    /// Where collection changes are written as JSON migration files. `None`: the folder
    /// `kb_migrations` beside the data folder.
    pub migrations_dir: Option<PathBuf>,
    /// `POST /api/batch`: on by default (PocketBase ships it off).
    pub batch_enabled: bool,
    pub batch_max_requests: usize,
    pub batch_timeout: Duration,
    pub batch_max_body_size: usize,
    /// Name and public address used in mails and links.
    pub app_name: String,
    pub app_url: String,
    /// SMTP server for outgoing mail; empty: mails are written to the log.
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_username: String,
    pub smtp_password: String,
    pub smtp_tls: SmtpTls,
    pub mail_from: String,
    /// Every auth endpoint, per client IP, collection and action.
    pub rate_limit_auth: RateLimit,
    /// Record creates (batch items included), per client IP and collection.
    pub rate_limit_create: RateLimit,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Open realtime (SSE) connections at most; past it `GET /api/realtime` answers 503.
    pub realtime_max_clients: usize,
    /// A realtime stream (SSE or WebSocket) that delivered nothing for this long is closed.
    pub realtime_idle_timeout: Duration,
    /// A realtime stream is closed after this long, whatever it delivered.
    pub realtime_max_lifetime: Duration,
}

/// `max` requests per `window`; `max == 0` turns the limit off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub window: Duration,
}

impl RateLimit {
    pub fn off() -> Self {
        Self {
            max: 0,
            window: Duration::from_secs(1),
        }
    }

    pub fn is_on(self) -> bool {
        self.max > 0
    }
}

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// STARTTLS, required (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// Plain text: only for a server on the same machine.
    None,
}

impl std::str::FromStr for SmtpTls {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "starttls" => Ok(Self::StartTls),
            "tls" => Ok(Self::Tls),
            "none" => Ok(Self::None),
            other => Err(format!("{other:?} is not one of starttls, tls, none")),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            http: SocketAddr::from(([127, 0, 0, 1], 8090)),
            dir: PathBuf::from("kb_data"),
            dev: false,
            synchronous: Synchronous::Full,
            body_limit: 32 << 20,
            request_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
            writer_queue: 4096,
            write_timeout: Duration::from_secs(5),
            read_pool_size: (cores as u32 * 2).max(4),
            journal_size_limit: 64 << 20,
            checkpoint_interval: Duration::from_millis(1000),
            cors_origins: vec!["*".to_owned()],
            password_hash_concurrency: cores,
            log_level: "info".to_owned(),
            migrations_dir: None,
            batch_enabled: true,
            batch_max_requests: 50,
            batch_timeout: Duration::from_secs(3),
            batch_max_body_size: 128 << 20,
            app_name: "Keelbase".to_owned(),
            app_url: "http://127.0.0.1:8090".to_owned(),
            smtp_host: String::new(),
            smtp_port: 587,
            smtp_username: String::new(),
            smtp_password: String::new(),
            smtp_tls: SmtpTls::StartTls,
            mail_from: "Keelbase <no-reply@localhost>".to_owned(),
            rate_limit_auth: RateLimit {
                max: 2,
                window: Duration::from_secs(3),
            },
            rate_limit_create: RateLimit {
                max: 0,
                window: Duration::from_secs(5),
            },
            trusted_proxies: Vec::new(),
            realtime_max_clients: 10_000,
            realtime_idle_timeout: Duration::from_secs(300),
            realtime_max_lifetime: Duration::from_secs(1800),
        }
    }
}

/// The config file, every key optional. Unknown keys are rejected by serde.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    http: Option<String>,
    dir: Option<PathBuf>,
    dev: Option<bool>,
    synchronous: Option<String>,
    body_limit: Option<u64>,
    request_timeout_secs: Option<u64>,
    shutdown_timeout_secs: Option<u64>,
    writer_queue: Option<u64>,
    write_timeout_ms: Option<u64>,
    read_pool_size: Option<u64>,
    journal_size_limit: Option<u64>,
    checkpoint_interval_ms: Option<u64>,
    cors_origins: Option<Vec<String>>,
    password_hash_concurrency: Option<u64>,
    log_level: Option<String>,
    migrations_dir: Option<PathBuf>,
    batch_enabled: Option<bool>,
    batch_max_requests: Option<u64>,
    batch_timeout_secs: Option<u64>,
    batch_max_body_size: Option<u64>,
    app_name: Option<String>,
    app_url: Option<String>,
    smtp_host: Option<String>,
    smtp_port: Option<u64>,
    smtp_username: Option<String>,
    smtp_password: Option<String>,
    smtp_tls: Option<String>,
    mail_from: Option<String>,
    rate_limit_auth_max: Option<u64>,
    rate_limit_auth_window_secs: Option<u64>,
    rate_limit_create_max: Option<u64>,
    rate_limit_create_window_secs: Option<u64>,
    trusted_proxies: Option<Vec<String>>,
    realtime_max_clients: Option<u64>,
    realtime_idle_timeout_secs: Option<u64>,
    realtime_max_lifetime_secs: Option<u64>,
}

/// Values given on the command line (or by clap from the matching env var).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub http: Option<String>,
    pub dir: Option<PathBuf>,
    pub dev: bool,
}

/// A config problem, phrased as the one line the CLI prints.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Names of the settings, for the unknown-variable warning.
const KEYS: &[&str] = &[
    "CONFIG",
    "HTTP",
    "DIR",
    "DEV",
    "SYNCHRONOUS",
    "BODY_LIMIT",
    "REQUEST_TIMEOUT_SECS",
    "SHUTDOWN_TIMEOUT_SECS",
    "WRITER_QUEUE",
    "WRITE_TIMEOUT_MS",
    "READ_POOL_SIZE",
    "JOURNAL_SIZE_LIMIT",
    "CHECKPOINT_INTERVAL_MS",
    "CORS_ORIGINS",
    "PASSWORD_HASH_CONCURRENCY",
    "LOG_LEVEL",
    "MIGRATIONS_DIR",
    "REALTIME_MAX_CLIENTS",
    "REALTIME_IDLE_TIMEOUT_SECS",
    "REALTIME_MAX_LIFETIME_SECS",
    "BATCH_ENABLED",
    "BATCH_MAX_REQUESTS",
    "BATCH_TIMEOUT_SECS",
    "BATCH_MAX_BODY_SIZE",
    "APP_NAME",
    "APP_URL",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
    "SMTP_TLS",
    "MAIL_FROM",
    "RATE_LIMIT_AUTH_MAX",
    "RATE_LIMIT_AUTH_WINDOW_SECS",
    "RATE_LIMIT_CREATE_MAX",
    "RATE_LIMIT_CREATE_WINDOW_SECS",
    "TRUSTED_PROXIES",
];

/// Environment variables that start with `KEELBASE_` but name no setting (likely typos).
pub fn unknown_env_vars() -> Vec<String> {
    std::env::vars()
        .filter_map(|(k, _)| {
            let name = k.strip_prefix("KEELBASE_")?;
            (!KEYS.contains(&name)).then_some(k)
        })
        .collect()
}

impl Config {
    /// Resolve the configuration: `overrides` (flags) > `KEELBASE_*` env > file > default.
    pub fn load(overrides: &Overrides) -> Result<Self, ConfigError> {
        Self::load_with_env(overrides, |k| std::env::var(k).ok())
    }

    /// As [`Config::load`], reading the environment through `env` (tests pass a map).
    pub fn load_with_env(
        overrides: &Overrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let config_path = overrides
            .config
            .clone()
            .or_else(|| env("KEELBASE_CONFIG").map(PathBuf::from));
        let file = match &config_path {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let layer = Layer { env: &env };
        let d = Config::default();

        let http_text = match &overrides.http {
            Some(v) => Some(("--http".to_owned(), v.clone())),
            None => layer
                .raw("HTTP")
                .map(|v| ("KEELBASE_HTTP".to_owned(), v))
                .or_else(|| file.http.clone().map(|v| ("config key http".to_owned(), v))),
        };
        let http = match http_text {
            Some((origin, text)) => {
                parse_addr(&text).map_err(|e| ConfigError(format!("{origin}: {e}")))?
            }
            None => d.http,
        };

        let dir = overrides
            .dir
            .clone()
            .or_else(|| layer.raw("DIR").map(PathBuf::from))
            .or(file.dir)
            .unwrap_or(d.dir);
        let dev = overrides.dev || layer.parse::<bool>("DEV")?.or(file.dev).unwrap_or(d.dev);
        let synchronous = match layer.parse::<Synchronous>("SYNCHRONOUS")? {
            Some(s) => s,
            None => match file.synchronous {
                Some(s) => s
                    .parse()
                    .map_err(|e| ConfigError(format!("config key synchronous: {e}")))?,
                None => d.synchronous,
            },
        };
        let cors_origins = match layer.raw("CORS_ORIGINS") {
            Some(v) => v
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            None => file.cors_origins.unwrap_or(d.cors_origins),
        };
        let log_level = layer
            .raw("LOG_LEVEL")
            .or(file.log_level)
            .unwrap_or(d.log_level);

        let n = |key: &str, file_value: Option<u64>, min: u64, max: u64, default: u64| {
            let value = layer.parse::<u64>(key)?.or(file_value).unwrap_or(default);
            if value < min || value > max {
                return Err(ConfigError(format!(
                    "{}: {value} is out of range ({min}..={max})",
                    key.to_ascii_lowercase()
                )));
            }
            Ok(value)
        };
        let config = Config {
            http,
            dir,
            dev,
            synchronous,
            body_limit: n(
                "BODY_LIMIT",
                file.body_limit,
                1024,
                1 << 40,
                d.body_limit as u64,
            )? as usize,
            request_timeout: Duration::from_secs(n(
                "REQUEST_TIMEOUT_SECS",
                file.request_timeout_secs,
                1,
                86_400,
                d.request_timeout.as_secs(),
            )?),
            shutdown_timeout: Duration::from_secs(n(
                "SHUTDOWN_TIMEOUT_SECS",
                file.shutdown_timeout_secs,
                0,
                3_600,
                d.shutdown_timeout.as_secs(),
            )?),
            writer_queue: n(
                "WRITER_QUEUE",
                file.writer_queue,
                1,
                1 << 20,
                d.writer_queue as u64,
            )? as usize,
            write_timeout: Duration::from_millis(n(
                "WRITE_TIMEOUT_MS",
                file.write_timeout_ms,
                1,
                600_000,
                d.write_timeout.as_millis() as u64,
            )?),
            read_pool_size: n(
                "READ_POOL_SIZE",
                file.read_pool_size,
                1,
                256,
                d.read_pool_size as u64,
            )? as u32,
            journal_size_limit: n(
                "JOURNAL_SIZE_LIMIT",
                file.journal_size_limit,
                0,
                1 << 40,
                d.journal_size_limit,
            )?,
            checkpoint_interval: Duration::from_millis(n(
                "CHECKPOINT_INTERVAL_MS",
                file.checkpoint_interval_ms,
                10,
                3_600_000,
                d.checkpoint_interval.as_millis() as u64,
            )?),
            cors_origins,
            password_hash_concurrency: n(
                "PASSWORD_HASH_CONCURRENCY",
                file.password_hash_concurrency,
                1,
                1024,
                d.password_hash_concurrency as u64,
            )? as usize,
            log_level,
            migrations_dir: layer
                .raw("MIGRATIONS_DIR")
                .map(PathBuf::from)
                .or(file.migrations_dir),
            batch_enabled: layer
                .parse::<bool>("BATCH_ENABLED")?
                .or(file.batch_enabled)
                .unwrap_or(d.batch_enabled),
            batch_max_requests: n(
                "BATCH_MAX_REQUESTS",
                file.batch_max_requests,
                1,
                100_000,
                d.batch_max_requests as u64,
            )? as usize,
            batch_timeout: Duration::from_secs(n(
                "BATCH_TIMEOUT_SECS",
                file.batch_timeout_secs,
                1,
                3_600,
                d.batch_timeout.as_secs(),
            )?),
            batch_max_body_size: n(
                "BATCH_MAX_BODY_SIZE",
                file.batch_max_body_size,
                1024,
                1 << 40,
                d.batch_max_body_size as u64,
            )? as usize,
            app_name: layer
                .raw("APP_NAME")
                .or(file.app_name)
                .unwrap_or(d.app_name),
            app_url: layer.raw("APP_URL").or(file.app_url).unwrap_or(d.app_url),
            smtp_host: layer
                .raw("SMTP_HOST")
                .or(file.smtp_host)
                .unwrap_or(d.smtp_host),
            smtp_port: n(
                "SMTP_PORT",
                file.smtp_port,
                1,
                65_535,
                u64::from(d.smtp_port),
            )? as u16,
            smtp_username: layer
                .raw("SMTP_USERNAME")
                .or(file.smtp_username)
                .unwrap_or(d.smtp_username),
            smtp_password: layer
                .raw("SMTP_PASSWORD")
                .or(file.smtp_password)
                .unwrap_or(d.smtp_password),
            smtp_tls: match layer.raw("SMTP_TLS").or(file.smtp_tls) {
                Some(t) => t
                    .parse()
                    .map_err(|e| ConfigError(format!("smtp_tls: {e}")))?,
                None => d.smtp_tls,
            },
            mail_from: layer
                .raw("MAIL_FROM")
                .or(file.mail_from)
                .unwrap_or(d.mail_from),
            rate_limit_auth: RateLimit {
                max: n(
                    "RATE_LIMIT_AUTH_MAX",
                    file.rate_limit_auth_max,
                    0,
                    1_000_000,
                    u64::from(d.rate_limit_auth.max),
                )? as u32,
                window: Duration::from_secs(n(
                    "RATE_LIMIT_AUTH_WINDOW_SECS",
                    file.rate_limit_auth_window_secs,
                    1,
                    86_400,
                    d.rate_limit_auth.window.as_secs(),
                )?),
            },
            rate_limit_create: RateLimit {
                max: n(
                    "RATE_LIMIT_CREATE_MAX",
                    file.rate_limit_create_max,
                    0,
                    1_000_000,
                    u64::from(d.rate_limit_create.max),
                )? as u32,
                window: Duration::from_secs(n(
                    "RATE_LIMIT_CREATE_WINDOW_SECS",
                    file.rate_limit_create_window_secs,
                    1,
                    86_400,
                    d.rate_limit_create.window.as_secs(),
                )?),
            },
            trusted_proxies: {
                let list: Vec<String> = match layer.raw("TRUSTED_PROXIES") {
                    Some(v) => v
                        .split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect(),
                    None => file.trusted_proxies.unwrap_or_default(),
                };
                list.iter()
                    .map(|s| {
                        s.parse().map_err(|_| {
                            ConfigError(format!("trusted_proxies: {s:?} is not an IP address"))
                        })
                    })
                    .collect::<Result<_, _>>()?
            },
            realtime_max_clients: n(
                "REALTIME_MAX_CLIENTS",
                file.realtime_max_clients,
                1,
                1_000_000,
                d.realtime_max_clients as u64,
            )? as usize,
            realtime_idle_timeout: Duration::from_secs(n(
                "REALTIME_IDLE_TIMEOUT_SECS",
                file.realtime_idle_timeout_secs,
                1,
                86_400,
                d.realtime_idle_timeout.as_secs(),
            )?),
            realtime_max_lifetime: Duration::from_secs(n(
                "REALTIME_MAX_LIFETIME_SECS",
                file.realtime_max_lifetime_secs,
                1,
                7 * 86_400,
                d.realtime_max_lifetime.as_secs(),
            )?),
        };
        Ok(config)
    }

    /// Where `data.db` lives.
    pub fn data_db(&self) -> PathBuf {
        self.dir.join("data.db")
    }

    /// Where `aux.db` (request logs) lives.
    pub fn aux_db(&self) -> PathBuf {
        self.dir.join("aux.db")
    }

    /// The folder of collection migration files.
    pub fn migrations_path(&self) -> PathBuf {
        match &self.migrations_dir {
            Some(p) => p.clone(),
            None => self.dir.parent().map_or_else(
                || PathBuf::from("kb_migrations"),
                |p| p.join("kb_migrations"),
            ),
        }
    }

    /// Create the data folder if needed and prove it is writable.
    pub fn prepare_dir(&self) -> Result<(), ConfigError> {
        let dir = &self.dir;
        let shown = dir.display();
        if dir.exists() && !dir.is_dir() {
            return Err(ConfigError(format!(
                "data dir {shown}: exists and is not a folder"
            )));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| ConfigError(format!("data dir {shown}: cannot create it: {e}")))?;
        let probe = dir.join(".keelbase-write-test");
        std::fs::write(&probe, b"ok")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|e| ConfigError(format!("data dir {shown}: not writable: {e}")))?;
        Ok(())
    }
}

struct Layer<'a, F: Fn(&str) -> Option<String>> {
    env: &'a F,
}

impl<F: Fn(&str) -> Option<String>> Layer<'_, F> {
    fn raw(&self, key: &str) -> Option<String> {
        (self.env)(&format!("KEELBASE_{key}")).filter(|v| !v.is_empty())
    }

    fn parse<T: FromStr>(&self, key: &str) -> Result<Option<T>, ConfigError>
    where
        T::Err: fmt::Display,
    {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|e| ConfigError(format!("KEELBASE_{key}={v:?}: {e}"))),
        }
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| {
        let msg = e.message().to_owned();
        ConfigError(format!("config file {}: {msg}", path.display()))
    })
}

/// Accept `host:port`, `:port` (all interfaces) and `localhost:port`.
fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    if let Some(port) = t.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| format!("invalid port in {t:?}"))?;
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    if let Some(port) = t.strip_prefix("localhost:") {
        let port: u16 = port.parse().map_err(|_| format!("invalid port in {t:?}"))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    t.parse()
        .map_err(|_| format!("invalid address {t:?} (expected HOST:PORT, e.g. 127.0.0.1:8090)"))
}

#[cfg(test)]
mod tests {
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
        let source = include_str!("config.rs");
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
}
