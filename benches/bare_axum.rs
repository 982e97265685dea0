//! The HTTP ceiling: a bare axum 0.8 server answering `GET /api/health` with the same
//! JSON body Keelbase sends, and nothing else (no layers, no state, no logging).
//!
//! Run by hand (never part of the tests):
//!
//! ```text
//! cargo bench --bench bare_axum -- 127.0.0.1:8091
//! KB_BENCH_ADDR=127.0.0.1:8091 cargo bench --bench bare_axum
//! ```
//!
//! It serves until killed. `benches/run.sh` runs the built binary directly, pinned to one
//! core, and drives it with the same load generator as Keelbase and PocketBase.

use std::net::SocketAddr;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

const DEFAULT_ADDR: &str = "127.0.0.1:8091";

/// The listen address: the first argument that is not a flag (cargo passes `--bench`),
/// else `KB_BENCH_ADDR`, else [`DEFAULT_ADDR`].
fn listen_addr() -> Result<SocketAddr, String> {
    let raw = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .or_else(|| std::env::var("KB_BENCH_ADDR").ok())
        .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    raw.parse()
        .map_err(|e| format!("bad listen address {raw:?}: {e}"))
}

async fn health() -> Json<Value> {
    // Built per request, as Keelbase does, so the ceiling pays the same serialisation.
    Json(json!({"message": "API is healthy.", "code": 200, "data": {}}))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = listen_addr()?;
    // The same runtime flavour as `keelbase serve`: multi-thread, default worker count.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = Router::new().route("/api/health", get(health));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        eprintln!("bare_axum listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    })
}
