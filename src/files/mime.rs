//! Content types: what an upload is (sniffed from its first bytes, never taken from the
//! client), and how a stored file is served (RELIABILITY.md A-33…A-35).
//!
//! Serving is an allow-list: only images, audio, video, PDF and plain text are shown
//! inline, and only with the type their extension names; everything else is an
//! attachment. Types a browser would run (HTML, SVG, XML, JavaScript, …) are always an
//! attachment of type `application/octet-stream`, whatever their name says.

/// How many leading bytes [`sniff`] looks at.
pub const SNIFF_LEN: usize = 8192;

/// The type of content starting with `head`, and the extension to give a name that has
/// none (`None` for unknown binary data).
pub fn sniff(head: &[u8]) -> (String, Option<&'static str>) {
    // Text first: magic numbers know XML but not SVG inside it.
    if let Some(text) = as_text(head) {
        let start = text.trim_start_matches('\u{feff}').trim_start();
        let lower: String = start
            .chars()
            .take(512)
            .collect::<String>()
            .to_ascii_lowercase();
        if lower.starts_with("<svg") || (lower.starts_with("<?xml") && lower.contains("<svg")) {
            return ("image/svg+xml".into(), Some(".svg"));
        }
        if [
            "<!doctype html",
            "<html",
            "<head",
            "<body",
            "<script",
            "<iframe",
        ]
        .iter()
        .any(|p| lower.starts_with(p))
        {
            return ("text/html".into(), Some(".html"));
        }
        if lower.starts_with("<?xml") {
            return ("text/xml".into(), Some(".xml"));
        }
        if (start.starts_with('{') || start.starts_with('['))
            && serde_json::from_str::<serde_json::Value>(start).is_ok()
        {
            return ("application/json".into(), Some(".json"));
        }
        return ("text/plain; charset=utf-8".into(), Some(".txt"));
    }
    if let Some(t) = infer::get(head) {
        let mime = t.mime_type();
        return (mime.to_owned(), extension_of(mime));
    }
    ("application/octet-stream".into(), None)
}

/// `head` as text when it looks like text: UTF-8 (a sequence cut at the end allowed) with
/// no control characters other than whitespace.
fn as_text(head: &[u8]) -> Option<&str> {
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) if e.error_len().is_none() && head.len() - e.valid_up_to() < 4 => {
            std::str::from_utf8(&head[..e.valid_up_to()]).ok()?
        }
        Err(_) => return None,
    };
    text.chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\x0c'))
        .then_some(text)
}

fn extension_of(mime: &str) -> Option<&'static str> {
    Some(match mime {
        "image/png" => ".png",
        "image/jpeg" => ".jpg",
        "image/gif" => ".gif",
        "image/webp" => ".webp",
        "image/bmp" => ".bmp",
        "image/x-icon" | "image/vnd.microsoft.icon" => ".ico",
        "image/avif" => ".avif",
        "image/heif" => ".heif",
        "image/tiff" => ".tiff",
        "application/pdf" => ".pdf",
        "application/zip" => ".zip",
        "application/gzip" => ".gz",
        "application/x-tar" => ".tar",
        "application/x-7z-compressed" => ".7z",
        "application/vnd.sqlite3" | "application/x-sqlite3" => ".sqlite",
        "application/wasm" => ".wasm",
        "audio/mpeg" => ".mp3",
        "audio/ogg" => ".ogg",
        "audio/x-wav" | "audio/wav" => ".wav",
        "audio/x-flac" | "audio/flac" => ".flac",
        "audio/aac" => ".aac",
        "video/mp4" => ".mp4",
        "video/webm" => ".webm",
        "video/quicktime" => ".mov",
        "video/x-matroska" => ".mkv",
        "video/x-msvideo" => ".avi",
        "application/epub+zip" => ".epub",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => ".docx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => ".xlsx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => ".pptx",
        _ => return None,
    })
}

/// Whether a sniffed type satisfies a field's `mimeTypes` (empty: anything). Parameters
/// (`; charset=utf-8`) are ignored on both sides.
pub fn allowed(mime: &str, allowed: &[String]) -> bool {
    let essence = |m: &str| {
        m.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    allowed.is_empty() || allowed.iter().any(|a| essence(a) == essence(mime))
}

/// How a stored file is served: its `Content-Type`, and whether it may be shown inline.
pub fn serving(name: &str) -> (&'static str, bool) {
    let ext = extension(name);
    match ext.as_str() {
        "png" => ("image/png", true),
        "jpg" | "jpeg" => ("image/jpeg", true),
        "gif" => ("image/gif", true),
        "webp" => ("image/webp", true),
        "bmp" => ("image/bmp", true),
        "ico" => ("image/x-icon", true),
        "avif" => ("image/avif", true),
        "pdf" => ("application/pdf", true),
        "mp3" => ("audio/mpeg", true),
        "ogg" | "oga" => ("audio/ogg", true),
        "wav" => ("audio/wav", true),
        "flac" => ("audio/flac", true),
        "mp4" | "m4v" => ("video/mp4", true),
        "webm" => ("video/webm", true),
        "mov" => ("video/quicktime", true),
        "txt" => ("text/plain; charset=utf-8", false),
        "csv" => ("text/csv; charset=utf-8", false),
        "json" => ("application/json", false),
        "zip" => ("application/zip", false),
        "gz" => ("application/gzip", false),
        "docx" => (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            false,
        ),
        "xlsx" => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            false,
        ),
        "pptx" => (
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            false,
        ),
        // HTML, SVG, XML, scripts, styles and anything unknown: bytes to save, never to run.
        _ => ("application/octet-stream", false),
    }
}

/// The last extension of `name`, lower-cased (`""` when none).
fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// Whether `name` is an image the thumbnailer reads (Part B §6.3: png, jpg, gif, webp).
pub fn is_thumbable(name: &str) -> bool {
    let ext = extension(name);
    matches!(ext.as_str(), "png" | "jpg" | "jpeg" | "gif" | "webp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_decides_not_the_name() {
        let png = [
            0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d,
        ];
        assert_eq!(sniff(&png), ("image/png".into(), Some(".png")));
        assert_eq!(sniff(b"hello\n").0, "text/plain; charset=utf-8");
        assert_eq!(
            sniff(b"\n <svg xmlns='http://www.w3.org/2000/svg'/>").1,
            Some(".svg")
        );
        assert_eq!(sniff(b"<?xml version='1.0'?><svg/>").0, "image/svg+xml");
        assert_eq!(sniff(b"<!DOCTYPE html><p>x").0, "text/html");
        assert_eq!(sniff(br#"{"a": 1}"#).0, "application/json");
        assert_eq!(
            sniff(&[0, 1, 2, 3]),
            ("application/octet-stream".into(), None)
        );
        // A multi-byte character cut by the sniff window is still text.
        assert_eq!(sniff("héllo".as_bytes()[..2].as_ref()).1, Some(".txt"));
    }

    #[test]
    fn active_types_are_never_inline() {
        for name in [
            "a.html", "a.HTM", "a.svg", "a.xhtml", "a.xml", "a.js", "a.css", "a.shtml", "noext",
        ] {
            assert_eq!(serving(name), ("application/octet-stream", false), "{name}");
        }
        assert_eq!(serving("a.PNG"), ("image/png", true));
        assert!(!serving("a.txt").1);
        assert!(allowed("text/plain; charset=utf-8", &["text/plain".into()]));
        assert!(!allowed("image/svg+xml", &["image/png".into()]));
        assert!(allowed("anything", &[]));
    }
}
