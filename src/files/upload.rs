//! Receiving one uploaded file: streamed to a temporary file with the field's size limit
//! enforced as the bytes arrive, its type sniffed from the first bytes, and its stored
//! name made. Nothing here knows HTTP: the caller hands in the part's byte stream.

use std::path::Path;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::mime::{self, SNIFF_LEN};
use super::name::stored_name;
use crate::schema::field::FileOptions;

/// A received upload, on disk and not yet stored.
#[derive(Debug)]
pub struct Upload {
    /// The file property it is for.
    pub field: String,
    /// `field+`: added to the files already there, rather than replacing them.
    pub append: bool,
    /// The name the client gave (for messages only).
    pub original: String,
    /// The name it will be stored under.
    pub name: String,
    pub size: u64,
    pub mime: String,
    pub file: tempfile::TempPath,
}

/// Why an upload was refused: a field error (`data.<field>`), or the stream failed.
#[derive(Debug)]
pub enum Refused {
    Field(String, Value),
    Io(std::io::Error),
    /// The request body ended badly (the client's fault; 400).
    Body(String),
}

/// Receive the part `chunks` of `field` named `original` by the client, under the
/// options of `field`'s property.
pub async fn receive<S, E>(
    tmp: &Path,
    field: &str,
    append: bool,
    original: &str,
    options: &FileOptions,
    mut chunks: S,
) -> Result<Upload, Refused>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    std::fs::create_dir_all(tmp).map_err(Refused::Io)?;
    let named = tempfile::Builder::new()
        .prefix("upload-")
        .tempfile_in(tmp)
        .map_err(Refused::Io)?;
    let (std_file, path) = named.into_parts();
    let mut out = tokio::fs::File::from_std(std_file);
    let mut size: u64 = 0;
    let mut head: Vec<u8> = Vec::with_capacity(SNIFF_LEN);
    let too_large = || {
        Refused::Field(
            field.to_owned(),
            json!({
                "code": "validation_file_size_limit",
                "message": format!("Failed to upload {original} - the maximum allowed file size is {} bytes.", options.max_size),
                "params": {"file": original, "maxSize": options.max_size},
            }),
        )
    };
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| Refused::Body(e.to_string()))?;
        size += chunk.len() as u64;
        // SECURITY: stop reading the moment the limit is passed, whatever is still coming.
        if size > options.max_size {
            return Err(too_large());
        }
        if head.len() < SNIFF_LEN {
            let take = (SNIFF_LEN - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        out.write_all(&chunk).await.map_err(Refused::Io)?;
    }
    out.flush().await.map_err(Refused::Io)?;
    drop(out);
    let (mime, ext) = mime::sniff(&head);
    let name = stored_name(original, ext);
    if !mime::allowed(&mime, &options.mime_types) {
        return Err(Refused::Field(
            field.to_owned(),
            json!({
                "code": "validation_invalid_mime_type",
                "message": format!("\"{name}\" mime type must be one of: {}.", options.mime_types.join(", ")),
                "params": {"file": original, "mimeTypes": options.mime_types},
            }),
        ));
    }
    Ok(Upload {
        field: field.to_owned(),
        append,
        original: original.to_owned(),
        name,
        size,
        mime,
        file: path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(max_size: u64, mime_types: &[&str]) -> FileOptions {
        FileOptions {
            multiple: false,
            max_size,
            mime_types: mime_types.iter().map(|s| s.to_string()).collect(),
            thumbs: Vec::new(),
            protected: false,
        }
    }

    fn stream(parts: Vec<&'static [u8]>) -> impl Stream<Item = Result<Bytes, String>> + Unpin {
        futures_util::stream::iter(parts.into_iter().map(|p| Ok(Bytes::from_static(p))))
    }

    #[tokio::test]
    async fn streams_to_disk_and_sniffs() {
        let dir = tempfile::tempdir().unwrap();
        let u = receive(
            dir.path(),
            "doc",
            false,
            "notes",
            &options(100, &[]),
            stream(vec![b"hel", b"lo"]),
        )
        .await
        .unwrap();
        assert_eq!((u.size, u.mime.as_str()), (5, "text/plain; charset=utf-8"));
        assert!(
            u.name.starts_with("notes_") && u.name.ends_with(".txt"),
            "{}",
            u.name
        );
        assert_eq!(std::fs::read(&u.file).unwrap(), b"hello");
        let path = u.file.to_path_buf();
        drop(u);
        assert!(!path.exists(), "an upload never stored leaves no file");
    }

    #[tokio::test]
    async fn the_limit_stops_the_stream_and_types_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        // The stream would go on forever; the limit ends it.
        let endless = futures_util::stream::repeat_with(|| {
            Ok::<_, String>(Bytes::from_static(&[b'x'; 1000]))
        });
        let Err(Refused::Field(f, e)) = receive(
            dir.path(),
            "doc",
            false,
            "big.txt",
            &options(4096, &[]),
            endless,
        )
        .await
        else {
            panic!("oversize accepted");
        };
        assert_eq!(
            (f.as_str(), &e["code"]),
            ("doc", &json!("validation_file_size_limit"))
        );
        assert_eq!(e["params"], json!({"file": "big.txt", "maxSize": 4096}));
        let Err(Refused::Field(_, e)) = receive(
            dir.path(),
            "doc",
            false,
            "evil.png",
            &options(100, &["image/png"]),
            stream(vec![b"<html><script>alert(1)</script>"]),
        )
        .await
        else {
            panic!("HTML named .png accepted as image/png");
        };
        assert_eq!(e["code"], "validation_invalid_mime_type");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "refused uploads are removed"
        );
    }
}
