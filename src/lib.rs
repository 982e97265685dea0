//! Keelbase: a self-hosted backend-as-a-service in one binary.
//!
//! # Layout
//! - [`config`]: bootstrap settings (flags > `KEELBASE_*` env > config file > defaults).
//! - [`cli`]: the command line (`serve`, `superuser`, `migrate`); `main.rs` only calls it.
//! - [`server`]: `run(config, listener, shutdown)`, the router and its layers, lifecycle.
//! - [`state`]: `AppState`, what every handler can reach.
//! - [`ratelimit`]: the rate limiter's token buckets and client address (its middleware,
//!   route keys and 429 answer are in `api::ratelimit`).
//! - [`db`]: SQLite store: one writer thread with group commit, a read-only pool,
//!   system migrations, checkpointer. Repository functions for system tables.
//! - [`schema`]: collections as JSON Schema: model, property→column mapping, DDL that
//!   keeps tables in step, the `_collections` store and the registry snapshot.
//! - [`query`]: the filter language: lexer, parser, the compiler to parameterised SQL
//!   (filters, sorts, API rules, index conditions) and an in-memory evaluator.
//! - [`collections`]: the service that changes collections (exclusive writer jobs).
//! - [`auth`]: argon2id hashing, HS256 tokens, superusers, the auth records of user
//!   collections: password login, mailed flows, OAuth2 sign-in (providers, code exchange).
//! - [`records`]: the record service: reads with API rules as SQL conditions, and writes
//!   (create, update, delete, batch) checked and run in one write transaction; record
//!   events (`records::events`): committed changes fanned out to realtime subscribers,
//!   checked and serialised per subscriber, and the re-checking of bound auth.
//! - [`realtime`]: the broker of realtime clients: subscriptions, bound auth, bounded
//!   per-client queues, delivery by topic (the SSE and WebSocket framing live in `api`).
//! - [`files`]: stored files of `x-file` properties: names and keys, content sniffing,
//!   uploads to disk, the `object_store` backend (local or S3), thumbnails, and the
//!   `_files_queue` of files no record names any more.
//! - [`mail`]: outgoing mail and its templates: SMTP when configured, else the log.
//! - [`api`]: thin HTTP handlers and `api/error.rs`, the only HTTP error mapping.
//! - [`admin`]: the embedded admin dashboard served at `/_/`.
//! - [`util`]: timestamps and random ids.
//!
//! # Dependencies
//! Arrows run one way, top to bottom; a module imports only from the rows below it:
//! - `main` → `cli` → `server` → `api`, `admin` → `state`
//! - `state` → services: `records`, `auth`, `collections`, `realtime`, `files`, plus `ratelimit`, `mail`
//! - services → `schema`, `query`, `db`; `records` → `realtime` (events go through the
//!   broker; `realtime` imports no service) and `files` (names, keys and the queue's SQL in
//!   a record's transaction); `query` → `schema`; `db` → `query::functions`
//!   (registered on every connection); everything → `config`, `util`
//!
//! Nothing below `api` knows HTTP (no axum types); `schema` and `query` import neither
//! axum nor tokio. One known exception to the one-way rule: `auth` and `records` use each
//! other (`records::write` checks passwords with `auth`, OAuth2 sign-up creates records).

pub mod admin;
pub mod api;
pub mod auth;
pub mod cli;
pub mod collections;
pub mod config;
pub mod db;
pub mod files;
pub mod mail;
pub mod query;
pub mod ratelimit;
pub mod realtime;
pub mod records;
pub mod schema;
pub mod server;
pub mod state;
pub mod util;
