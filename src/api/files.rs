//! `/api/files`: downloads, thumbnails and file tokens (API.md Part B §6.3, §6.4).
//!
//! Files of properties that are not `protected` are public, as in PocketBase. A
//! protected file is served when the record's viewRule lets the identity of the
//! `?token=` file token (or a guest, without one) view the record; otherwise 404.
//! Responses are streamed from storage with `Range`, `ETag`/`If-None-Match` and
//! `If-Modified-Since`; types a browser would run are never served inline (see
//! `files::mime`).

use std::ops::Range;

use axum::body::Body as HttpBody;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::TryStreamExt;
use serde_json::json;

use super::error::ApiError;
use super::extract::Auth;
use super::records::{query_param, request_info};
use crate::files::{mime, name, thumb, Meta, StoreError};
use crate::records::{self, RecordsError};
use crate::schema::field::FieldKind;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/files/token", post(file_token))
        .route("/api/files/{collection}/{record}/{filename}", get(download))
}

/// `POST /api/files/token`: a short-lived token for protected files (401 for guests).
async fn file_token(State(state): State<AppState>, auth: Auth) -> Result<Response, ApiError> {
    let token = match &auth {
        Auth::Guest => {
            return Err(ApiError::unauthorized(
                "The request requires valid record authorization token.",
            ))
        }
        Auth::Superuser(s) => state.superusers().issue_file_token(&s.record)?,
        Auth::Record(s) => state.auth_records().file_token(s).await?,
    };
    Ok(Json(json!({ "token": token })).into_response())
}

const CSP: &str = "default-src 'none'; media-src 'self'; style-src 'unsafe-inline'; sandbox";
const PUBLIC_CACHE: &str = "max-age=2592000, stale-while-revalidate=86400";

async fn download(
    State(state): State<AppState>,
    Path((key, record_id, filename)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let snapshot = state.collections().snapshot();
    let Some(collection) = snapshot.get(&key).cloned() else {
        return Err(ApiError::not_found());
    };
    // SECURITY: only names the server could have made become part of a key.
    if !name::is_key_id(&record_id) || !name::is_stored_name(&filename) {
        return Err(ApiError::not_found());
    }
    let field = records::file_field(
        state.data(),
        collection.clone(),
        record_id.clone(),
        filename.clone(),
    )
    .await?
    .ok_or_else(ApiError::not_found)?;
    let Some(FieldKind::File(options)) = collection.field(&field).map(|f| f.kind.clone()) else {
        return Err(ApiError::not_found());
    };
    let q = query.as_deref();
    if options.protected {
        // The identity comes only from a file token in the query (Part B §6.3).
        let auth = match query_param(q, "token") {
            None => Auth::Guest,
            Some(t) => file_token_auth(&state, &t).await?,
        };
        let mut info = request_info(&state, &auth, &Method::GET, &HeaderMap::new(), q);
        info.context = "protectedFile".into();
        match records::view(
            state.data(),
            snapshot.clone(),
            collection.clone(),
            record_id.clone(),
            None,
            info,
        )
        .await
        {
            Ok(_) => {}
            Err(RecordsError::NotFound | RecordsError::SuperusersOnly) => {
                return Err(ApiError::not_found())
            }
            Err(e) => return Err(e.into()),
        }
    }
    let file_key = name::key(&collection.id, &record_id, &filename);
    let mut served_key = file_key.clone();
    let mut served_name = filename.clone();
    if let Some(size) = query_param(q, "thumb") {
        let declared = size == thumb::DEFAULT_SIZE || options.thumbs.contains(&size);
        if let (true, true, Some(parsed)) = (
            declared,
            mime::is_thumbable(&filename),
            thumb::Size::parse(&size),
        ) {
            let thumb_key = name::thumb_key(&collection.id, &record_id, &filename, &size);
            if ensure_thumb(
                &state,
                &file_key,
                &thumb_key,
                &filename,
                parsed,
                options.max_size,
            )
            .await
            {
                served_key = thumb_key;
                served_name = format!("{size}_{filename}");
            }
        }
    }
    let download = matches!(query_param(q, "download").as_deref(), Some("1" | "true"));
    serve(
        &state,
        &served_key,
        &served_name,
        &headers,
        download,
        options.protected,
    )
    .await
}

/// The auth of a `?token=`: only a file token counts; anything else is a guest.
async fn file_token_auth(state: &AppState, token: &str) -> Result<Auth, ApiError> {
    if let Some((record, claims)) = state.superusers().from_file_token(token).await? {
        return Ok(Auth::Superuser(Box::new(super::extract::Session {
            record,
            claims,
            token: token.to_owned(),
        })));
    }
    Ok(match state.auth_records().from_file_token(token).await? {
        Some(session) => Auth::Record(Box::new(session)),
        None => Auth::Guest,
    })
}

/// Make the thumbnail under `thumb_key` unless it exists; `false` when the original
/// cannot be thumbnailed (then the original is served, as PocketBase does).
async fn ensure_thumb(
    state: &AppState,
    file_key: &str,
    thumb_key: &str,
    filename: &str,
    size: thumb::Size,
    max_source: u64,
) -> bool {
    let storage = state.files().storage();
    if storage.head(thumb_key).await.is_ok() {
        return true;
    }
    match storage.head(file_key).await {
        Ok(m) if m.size <= max_source.max(1) => {}
        _ => return false,
    }
    let Ok(bytes) = storage.read(file_key).await else {
        return false;
    };
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_owned())
        .unwrap_or_default();
    let made = tokio::task::spawn_blocking(move || thumb::make(&bytes, &ext, size)).await;
    match made {
        Ok(Ok(out)) => match storage.put_bytes(thumb_key, out).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(key = thumb_key, error = %e, "storing a thumbnail failed");
                false
            }
        },
        Ok(Err(e)) => {
            tracing::debug!(key = file_key, error = %e, "no thumbnail for this file");
            false
        }
        Err(_) => false,
    }
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Ranged {
    /// No range (absent, malformed or several: the whole file, 200).
    Whole,
    Part(Range<u64>),
    /// Cannot be satisfied (416).
    Unsatisfiable,
}

fn parse_range(value: &str, size: u64) -> Ranged {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ranged::Whole;
    };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ranged::Whole;
    };
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a.trim().is_empty(), num(a), num(b)) {
        // `bytes=-N`: the last N bytes.
        (true, _, Some(n)) => {
            if n == 0 || size == 0 {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part(size.saturating_sub(n)..size)
            }
        }
        (false, Some(start), end) => {
            if !b.trim().is_empty() && end.is_none() {
                return Ranged::Whole;
            }
            if start >= size {
                return Ranged::Unsatisfiable;
            }
            match end {
                Some(e) if e < start => Ranged::Whole,
                Some(e) => Ranged::Part(start..e.min(size - 1) + 1),
                None => Ranged::Part(start..size),
            }
        }
        _ => Ranged::Whole,
    }
}

fn http_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn not_modified(headers: &HeaderMap, meta: &Meta) -> bool {
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        return inm
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == meta.etag);
    }
    if let Some(ims) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
    {
        if let Ok(since) = chrono::DateTime::parse_from_rfc2822(ims) {
            return meta.last_modified.timestamp() <= since.timestamp();
        }
    }
    false
}

async fn serve(
    state: &AppState,
    key: &str,
    filename: &str,
    headers: &HeaderMap,
    download: bool,
    protected: bool,
) -> Result<Response, ApiError> {
    let storage = state.files().storage();
    let meta = storage.head(key).await.map_err(store_error)?;
    let (content_type, inline) = mime::serving(filename);
    let disposition = if inline && !download {
        "inline"
    } else {
        "attachment"
    };
    let mut response = Response::builder()
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, &meta.etag)
        .header(header::LAST_MODIFIED, http_date(meta.last_modified))
        .header(
            header::CACHE_CONTROL,
            if protected {
                "private, max-age=0, must-revalidate"
            } else {
                PUBLIC_CACHE
            },
        )
        .header(header::CONTENT_SECURITY_POLICY, CSP)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if not_modified(headers, &meta) {
        return Ok(response
            .status(StatusCode::NOT_MODIFIED)
            .body(HttpBody::empty())
            .expect("valid response"));
    }
    // `If-Range` that no longer matches: the whole (changed) file.
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() == meta.etag);
    let ranged = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) if if_range_ok => parse_range(r, meta.size),
        _ => Ranged::Whole,
    };
    response = response.header(header::CONTENT_TYPE, content_type).header(
        header::CONTENT_DISPOSITION,
        format!("{disposition}; filename=\"{filename}\""),
    );
    let (status, range) = match ranged {
        Ranged::Unsatisfiable => {
            let mut r = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "The requested range is not satisfiable.",
            )
            .into_response();
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{}", meta.size)).expect("ascii"),
            );
            return Ok(r);
        }
        Ranged::Whole => (StatusCode::OK, None),
        Ranged::Part(r) => {
            response = response.header(
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{}", r.start, r.end - 1, meta.size),
            );
            (StatusCode::PARTIAL_CONTENT, Some(r))
        }
    };
    let len = range.as_ref().map_or(meta.size, |r| r.end - r.start);
    let body = if len == 0 {
        HttpBody::empty()
    } else {
        let stream = storage.get(key, range).await.map_err(store_error)?;
        HttpBody::from_stream(stream.map_err(std::io::Error::other))
    };
    Ok(response
        .status(status)
        .header(header::CONTENT_LENGTH, len)
        .body(body)
        .expect("valid response"))
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound | StoreError::BadKey => ApiError::not_found(),
        other => {
            tracing::error!(error = %other, "reading a stored file failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Failed to read the file.",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use Ranged::*;
        assert_eq!(parse_range("bytes=0-9", 100), Part(0..10));
        assert_eq!(parse_range("bytes=90-", 100), Part(90..100));
        assert_eq!(parse_range("bytes=90-1000", 100), Part(90..100));
        assert_eq!(parse_range("bytes=-10", 100), Part(90..100));
        assert_eq!(parse_range("bytes=-1000", 100), Part(0..100));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-0", 0), Unsatisfiable);
        for whole in [
            "",
            "bytes=",
            "bytes=a-b",
            "bytes=5-2",
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=1-x",
        ] {
            assert_eq!(parse_range(whole, 100), Whole, "{whole}");
        }
    }
}
