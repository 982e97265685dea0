//! The body of a record create or update: [`Body`] plus the files of a
//! `multipart/form-data` request (API.md Part B §1.4, §6).
//!
//! File parts are streamed to disk one at a time as they arrive, each under its
//! property's `maxSize` (checked while streaming) and `mimeTypes` (sniffed from the
//! content); a property takes at most its `maxSelect` files (a single file property
//! keeps the last, as PocketBase). The routes that take these bodies have no global body
//! limit: text parts together, and bodies of every other type, still get `body_limit`.

use axum::extract::{FromRequest, FromRequestParts, Multipart, RawPathParams, Request};
use axum::http::{header, Method};
use futures_util::stream;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{form_body, text_part, too_large_or_bad, Body};
use crate::files::{Refused, Upload};
use crate::schema::field::FieldKind;
use crate::state::AppState;

/// More file parts than this in one request are refused, whatever the properties allow.
const MAX_FILE_PARTS: usize = 100;

pub struct RecordBody {
    pub body: Body,
    pub uploads: Vec<Upload>,
}

impl FromRequest<AppState> for RecordBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.config().body_limit;
        let failed = if req.method() == Method::POST {
            "Failed to create record."
        } else {
            "Failed to update record."
        };
        let multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("multipart/form-data")
            });
        if !multipart {
            let req = req.map(|b| axum::body::Body::new(http_body_util::Limited::new(b, limit)));
            return Ok(RecordBody {
                body: Body::from_request(req, state).await?,
                uploads: Vec::new(),
            });
        }
        let (mut parts, body) = req.into_parts();
        let params = RawPathParams::from_request_parts(&mut parts, state)
            .await
            .map_err(|_| ApiError::not_found())?;
        let key = params
            .iter()
            .find(|(k, _)| *k == "collection")
            .map(|(_, v)| v.to_owned())
            .unwrap_or_default();
        let collection = super::records::collection(state, &key)?;
        let req = Request::from_parts(parts, body);
        let mut form = Multipart::from_request(req, state)
            .await
            .map_err(|_| ApiError::bad_request("Failed to read the request body."))?;
        let bad_body = |e: axum::extract::multipart::MultipartError| too_large_or_bad(e.status());
        let tmp = state.files().storage().tmp_dir().to_owned();
        let mut pairs = Vec::new();
        let mut payloads = Vec::new();
        let mut uploads: Vec<Upload> = Vec::new();
        let mut text_bytes = 0usize;
        let mut file_parts = 0usize;
        while let Some(mut field) = form.next_field().await.map_err(bad_body)? {
            let name = field.name().unwrap_or("").to_owned();
            let Some(original) = field.file_name().map(str::to_owned) else {
                let text = field.text().await.map_err(bad_body)?;
                text_bytes += text.len() + name.len();
                if text_bytes > limit {
                    return Err(ApiError::status_default(
                        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    ));
                }
                text_part(name, text, &mut pairs, &mut payloads)?;
                continue;
            };
            file_parts += 1;
            if file_parts > MAX_FILE_PARTS {
                return Err(ApiError::bad_request(format!(
                    "At most {MAX_FILE_PARTS} files per request."
                )));
            }
            let (prop, append) = match name.strip_suffix('+') {
                Some(p) => (p.to_owned(), true),
                None => (name.clone(), false),
            };
            let Some(f) = collection.field(&prop) else {
                return Err(field_refused(
                    failed,
                    &name,
                    "validation_unknown_field",
                    "Not a property of the collection.",
                ));
            };
            let FieldKind::File(options) = &f.kind else {
                return Err(field_refused(
                    failed,
                    &name,
                    "validation_invalid_file",
                    "Not a file property.",
                ));
            };
            let chunks = Box::pin(stream::unfold(&mut field, |field| async move {
                field.chunk().await.transpose().map(|c| (c, field))
            }));
            let upload = match crate::files::upload::receive(
                &tmp, &prop, append, &original, options, chunks,
            )
            .await
            {
                Ok(u) => u,
                Err(Refused::Field(field, error)) => {
                    let mut err = ApiError::bad_request(failed);
                    err.data.insert(field, error);
                    return Err(err);
                }
                Err(Refused::Body(_)) => {
                    return Err(ApiError::bad_request("Failed to read the request body."))
                }
                Err(Refused::Io(e)) => return Err(storage_error(e)),
            };
            if options.multiple {
                let max = f
                    .schema
                    .get("maxItems")
                    .and_then(Value::as_u64)
                    .unwrap_or(u64::MAX);
                let count = uploads.iter().filter(|u| u.field == prop).count() as u64 + 1;
                if count > max {
                    let mut err = ApiError::bad_request(failed);
                    err.data.insert(
                        prop,
                        json!({"code": "validation_too_many_files",
                               "message": format!("The maximum allowed files is {max}."),
                               "params": {"maxSelect": max}}),
                    );
                    return Err(err);
                }
            } else {
                // A single file property keeps the last file given.
                uploads.retain(|u| u.field != prop);
            }
            uploads.push(upload);
        }
        Ok(RecordBody {
            body: form_body(pairs, payloads),
            uploads,
        })
    }
}

fn field_refused(failed: &'static str, field: &str, code: &str, message: &str) -> ApiError {
    let mut err = ApiError::bad_request(failed);
    err.data
        .insert(field.to_owned(), json!({"code": code, "message": message}));
    err
}

/// A local write of an upload failed: the disk, not the request.
pub(super) fn storage_error(e: std::io::Error) -> ApiError {
    if e.kind() == std::io::ErrorKind::StorageFull {
        ApiError::new(
            axum::http::StatusCode::INSUFFICIENT_STORAGE,
            "Not enough storage space to save the uploaded files.",
        )
    } else {
        tracing::error!(error = %e, "writing an upload failed");
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "Failed to save the uploaded files.",
        )
    }
}
