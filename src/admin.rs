//! The admin dashboard at `/_/`: the files of `admin-ui/dist`, embedded in the binary.
//! Unknown paths under `/_/` get `index.html` (the dashboard routes on the client).

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use rust_embed::RustEmbed;

use crate::state::AppState;

#[derive(RustEmbed)]
#[folder = "admin-ui/dist/"]
struct Assets;

/// The dashboard loads only its own code; nothing inline, nothing from elsewhere.
const CSP: &str =
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; \
                   connect-src 'self'; frame-ancestors 'self'; base-uri 'self'; form-action 'self'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/_", get(|| async { Redirect::permanent("/_/") }))
        .route("/_/", get(|| serve(String::new())))
        .route("/_/{*path}", get(|Path(path): Path<String>| serve(path)))
}

async fn serve(path: String) -> Response {
    let (file, name) = match Assets::get(&path) {
        Some(f) if !path.is_empty() => (f, path.as_str()),
        _ => match Assets::get("index.html") {
            Some(f) => (f, "index.html"),
            None => return StatusCode::NOT_FOUND.into_response(),
        },
    };
    let mime = file.metadata.mimetype().to_owned();
    let cache = if name == "index.html" {
        "no-cache"
    } else {
        "public, max-age=3600"
    };
    let mut response = file.data.into_owned().into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}
