//! Keelbase: a self-hosted backend-as-a-service in one binary.
//!
//! # Layout
//! - [`config`]: bootstrap settings (flags > `KEELBASE_*` env > config file > defaults).
//! - [`cli`]: the command line (`serve`, `superuser`, `migrate`); `main.rs` only calls it.
//! - [`server`]: `run(config, listener, shutdown)`, the router and its layers, lifecycle.
//! - [`state`]: `AppState`, what every handler can reach.
//! - [`ratelimit`]: the rate limiter's token buckets and client address (its middleware is in `api`).
//! - [`db`]: SQLite store: one writer thread with group commit, a read-only pool,
//!   system migrations, checkpointer. Repository functions for system tables.
//! - [`schema`]: collections as JSON Schema: model, property→column mapping, DDL that
//!   keeps tables in step, the `_collections` store and the registry snapshot.
//! - [`collections`]: the service that changes collections (exclusive writer jobs).
//! - [`auth`]: argon2id hashing, HS256 tokens, superusers, the auth records of user
//!   collections: password login, mailed flows, OAuth2 sign-in (providers, code exchange).
//! - [`records`]: the record service: reads with API rules as SQL conditions.
//! - [`realtime`]: the broker of realtime clients: subscriptions, bound auth, bounded
//!   per-client queues, delivery by topic (the SSE framing lives in `api`).
//! - [`api`]: thin HTTP handlers and `api/error.rs`, the only HTTP error mapping.
//! - [`admin`]: the embedded admin dashboard served at `/_/`.
//! - [`util`]: timestamps and random ids.
//!
//! Layers run one way: `api` → services (`auth`, …) → `db`. Nothing below `api` knows HTTP.

pub mod admin;
pub mod api;
pub mod auth;
pub mod cli;
pub mod collections;
pub mod config;
pub mod db;
pub mod mail;
pub mod query;
pub mod ratelimit;
pub mod realtime;
pub mod records;
pub mod schema;
pub mod server;
pub mod state;
pub mod util;
