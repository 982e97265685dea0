//! The option objects of `x-relation` (target collection, cascade) and `x-file` (size,
//! MIME types, thumb sizes, protection), each unknown key an error naming its pointer.

use serde_json::Value;

use super::{invalid, FileOptions, Relation};
use crate::schema::SchemaError;

pub(super) fn parse_relation(
    pointer: &str,
    value: &Value,
    multiple: bool,
) -> Result<Relation, SchemaError> {
    let Value::Object(o) = value else {
        return Err(invalid(
            pointer,
            "must be an object like {\"collection\": \"users\"}",
        ));
    };
    for key in o.keys() {
        if !["collection", "cascadeDelete"].contains(&key.as_str()) {
            return Err(invalid(
                &format!("{pointer}/{key}"),
                "unknown option (known: collection, cascadeDelete)",
            ));
        }
    }
    let collection = match o.get("collection") {
        Some(Value::String(c)) if !c.is_empty() => c.clone(),
        _ => {
            return Err(invalid(
                &format!("{pointer}/collection"),
                "the target collection name is required",
            ))
        }
    };
    let cascade_delete = match o.get("cascadeDelete") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(invalid(
                &format!("{pointer}/cascadeDelete"),
                "must be true or false",
            ))
        }
    };
    Ok(Relation {
        collection,
        multiple,
        cascade_delete,
    })
}

/// Default largest upload, as PocketBase (5 MiB).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 5 << 20;

pub(super) fn parse_file(
    pointer: &str,
    value: &Value,
    multiple: bool,
) -> Result<FileOptions, SchemaError> {
    let Value::Object(o) = value else {
        return Err(invalid(
            pointer,
            "must be an object, e.g. {} or {\"maxSize\": 5242880}",
        ));
    };
    let strings = |key: &str| -> Result<Vec<String>, SchemaError> {
        match o.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_owned).ok_or_else(|| {
                        invalid(&format!("{pointer}/{key}"), "must be an array of strings")
                    })
                })
                .collect(),
            Some(_) => Err(invalid(
                &format!("{pointer}/{key}"),
                "must be an array of strings",
            )),
        }
    };
    for key in o.keys() {
        if !["maxSize", "mimeTypes", "thumbs", "protected"].contains(&key.as_str()) {
            return Err(invalid(
                &format!("{pointer}/{key}"),
                "unknown option (known: maxSize, mimeTypes, thumbs, protected)",
            ));
        }
    }
    let max_size = match o.get("maxSize") {
        None => DEFAULT_MAX_FILE_SIZE,
        Some(v) => match v.as_u64() {
            Some(0) => DEFAULT_MAX_FILE_SIZE,
            Some(n) => n,
            None => {
                return Err(invalid(
                    &format!("{pointer}/maxSize"),
                    "must be a non-negative integer (bytes)",
                ))
            }
        },
    };
    let thumbs = strings("thumbs")?;
    for (i, t) in thumbs.iter().enumerate() {
        if !is_thumb_size(t) {
            return Err(invalid(
                &format!("{pointer}/thumbs/{i}"),
                format!("{t:?} is not a thumb size like 100x100, 0x100, 100x0, 100x100t, 100x100b or 100x100f"),
            ));
        }
    }
    let protected = match o.get("protected") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(invalid(
                &format!("{pointer}/protected"),
                "must be true or false",
            ))
        }
    };
    Ok(FileOptions {
        multiple,
        max_size,
        mime_types: strings("mimeTypes")?,
        thumbs,
        protected,
    })
}

/// PocketBase's thumb formats: `WxH`, `WxHt`, `WxHb`, `WxHf`, `0xH`, `Wx0`.
fn is_thumb_size(t: &str) -> bool {
    ThumbSize::parse(t).is_some()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThumbMode {
    /// `WxH`: cover the box, crop from the centre.
    Center,
    /// `WxHt` / `WxHb`: cover the box, crop from the top / bottom.
    Top,
    Bottom,
    /// `WxHf`: fit inside the box, no crop.
    Fit,
}

/// A parsed thumb size. A zero side keeps the aspect ratio (`0x100`, `100x0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThumbSize {
    pub width: u32,
    pub height: u32,
    pub mode: ThumbMode,
}

impl ThumbSize {
    /// Parse `WxH[t|b|f]`; `None` for anything else (both sides zero, sides over 10000).
    pub fn parse(s: &str) -> Option<ThumbSize> {
        let (w, rest) = s.split_once('x')?;
        let (h, mode) = match rest.as_bytes().last()? {
            b't' => (&rest[..rest.len() - 1], ThumbMode::Top),
            b'b' => (&rest[..rest.len() - 1], ThumbMode::Bottom),
            b'f' => (&rest[..rest.len() - 1], ThumbMode::Fit),
            _ => (rest, ThumbMode::Center),
        };
        let digits =
            |d: &str| !d.is_empty() && d.len() <= 5 && d.bytes().all(|b| b.is_ascii_digit());
        if !digits(w) || !digits(h) {
            return None;
        }
        let (width, height): (u32, u32) = (w.parse().ok()?, h.parse().ok()?);
        if (width == 0 && height == 0) || width > 10_000 || height > 10_000 {
            return None;
        }
        Some(ThumbSize {
            width,
            height,
            mode,
        })
    }
}
