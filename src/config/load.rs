//! Loading the bootstrap settings: the config file's keys, the `KEELBASE_*` environment,
//! the flags, and the layering of the three over the defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::*;

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
pub(super) const KEYS: &[&str] = &[
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
pub(super) fn parse_addr(text: &str) -> Result<SocketAddr, String> {
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
