//! Bootstrap settings: the ones a restart is needed to change.
//!
//! Every setting has one name used in three places: the TOML key in the config file
//! (`config/keelbase.toml` documents each one), the environment variable `KEELBASE_<NAME>`
//! in upper case, and for the most used ones a `serve` flag. Precedence is
//! flag > environment > config file > default. Unknown config keys are an error.
//! Runtime settings (mail, storage, rate limits) live in the database, not here.
//!
//! Layout: the settings' types and defaults here; [`load`] reads the file, the environment
//! and the flags and layers them.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
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

mod load;
#[cfg(test)]
mod tests;

pub use load::{unknown_env_vars, ConfigError, Overrides};
