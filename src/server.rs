//! The HTTP server: router assembly, the layers every request passes, and the lifecycle
//! (start after migrations, graceful shutdown, drain the writer, final checkpoint).

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::Router;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;

use crate::api::error::{method_not_allowed, panic_response, route_not_found};
use crate::config::Config;
use crate::state::AppState;

/// Open the data folder, then serve on `listener` until `shutdown` resolves. In-flight
/// requests then get `shutdown_timeout` to finish; queued writes are committed and the
/// databases checkpointed before this returns.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = AppState::open(config).await?;
    state.superusers().hasher().warm_up();
    announce(&state, listener.local_addr()?).await;
    let app = router(state.clone());
    serve(state, app, listener, shutdown).await
}

/// Serve `app` until `shutdown` resolves, give in-flight requests `shutdown_timeout`, then
/// commit the queued writes and checkpoint (`state.close()`).
pub async fn serve(
    state: AppState,
    app: Router,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let deadline = state.config().shutdown_timeout;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut graceful = stop_rx.clone();
    let realtime = state.realtime().clone();
    // No Nagle: a streamed body (files, SSE) is written after its head in separate
    // writes, and waiting for the peer's delayed ACK between them costs ~40 ms each.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
    });
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = graceful.wait_for(|stop| *stop).await;
        tracing::info!("shutting down: no new connections, finishing in-flight requests");
        // Realtime streams never finish by themselves: end them so the drain can.
        realtime.close();
    });
    let mut forced = stop_rx;
    let result = tokio::select! {
        result = server.into_future() => result.map_err(anyhow::Error::from),
        () = async move {
            let _ = forced.wait_for(|stop| *stop).await;
            tokio::time::sleep(deadline).await;
        } => {
            tracing::warn!(?deadline, "in-flight requests did not finish in time; closing them");
            Ok(())
        }
    };
    state.close().await;
    tracing::info!("stopped");
    result
}

/// Print where the server listens and, while no superuser exists, the one-time link that
/// creates the first one.
async fn announce(state: &AppState, addr: SocketAddr) {
    let host = if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    let base = format!("http://{host}");
    println!("Keelbase {} listening on {base}", env!("CARGO_PKG_VERSION"));
    println!("├─ REST API:  {base}/api/");
    println!("└─ Dashboard: {base}/_/");
    tracing::info!(%addr, dir = %state.config().dir.display(), "server started");
    match state.superusers().count().await {
        Ok(0) => {
            let Ok(token) = state.superusers().install_token() else {
                tracing::error!(
                    "cannot make an install token: the _superusers collection has no secret"
                );
                return;
            };
            println!();
            println!("No superuser exists yet. Create the first one within 30 minutes at:");
            println!("    {base}/_/#/install/{token}");
            println!("(or POST {{\"token\",\"email\",\"password\",\"passwordConfirm\"}} to {base}/api/install,");
            println!(" or run: keelbase superuser upsert EMAIL PASSWORD)");
            println!();
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot count superusers"),
    }
}

/// All routes with every layer applied.
pub fn router(state: AppState) -> Router {
    let api = crate::api::router(state.config());
    app(state, api.merge(crate::admin::router()))
}

/// Apply the fallbacks and the layers to `routes` (tests add routes of their own).
pub fn app(state: AppState, routes: Router<AppState>) -> Router {
    let config = state.config().clone();
    // Compressing a body under 1 KiB costs more than it saves.
    let compress_when = SizeAbove::new(1024)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE)
        // Stored files: served byte-exact, so `Range` and `Content-Length` hold.
        .and(
            |_: StatusCode, _: http::Version, h: &http::HeaderMap, _: &http::Extensions| {
                !h.contains_key(http::header::ACCEPT_RANGES)
            },
        );
    // Compression is outermost so the middleware below it (error shape, `fields`) sees
    // plain bodies.
    let layers = ServiceBuilder::new()
        // The fastest level: a 30-record page shrinks about as much, for a fraction of the
        // CPU (the default level cost more than the query itself in the records benchmark).
        .layer(
            CompressionLayer::new()
                .quality(tower_http::CompressionLevel::Fastest)
                .compress_when(compress_when),
        )
        .layer(axum::middleware::from_fn(crate::api::middleware::outer))
        .layer(cors(&config))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::api::ratelimit::limit,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        // Bounds the time to the response head only, so realtime streams (which answer at
        // once) are not cut; they end on their own idle and lifetime limits.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(DefaultBodyLimit::max(config.body_limit));
    routes
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(layers)
        .with_state(state)
}

fn cors(config: &Config) -> CorsLayer {
    let origins = if config.cors_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            config
                .cors_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::PATCH,
            Method::POST,
            Method::DELETE,
        ])
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(Duration::from_secs(86_400))
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
