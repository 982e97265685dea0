//! Stored file names and storage keys (API.md Part B §6.2, RELIABILITY.md A-37, A-41).
//!
//! The server makes every name: a client's file name only suggests the base and the
//! extension, both cut down to safe characters, and a random suffix is always added. A
//! key is `collectionId/recordId/name`; [`is_stored_name`] is the check every name read
//! back from a request or a row passes before it becomes part of a key.

use crate::util::random_lower;

/// The longest base name kept, and the longest extension (with its dot).
const MAX_BASE: usize = 100;
const MAX_EXT: usize = 20;

/// The stored name for an upload called `original` whose content sniffed as `detected`
/// (an extension such as `.png`, used when the name has none): PocketBase's
/// `<snake_case base>_<10 random [a-z0-9]><ext>`, with a base shorter than 3 characters
/// padded by 10 random characters. The last two dot-separated parts are the extension
/// (`.tar.gz`), as PocketBase keeps them.
pub fn stored_name(original: &str, detected: Option<&str>) -> String {
    // Only the last path segment of a client's name counts (`../../etc/passwd` → `passwd`).
    let original = original
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .trim_end_matches(['.', ' '])
        .trim_start_matches(' ');
    let (base, ext) = split_extension(original);
    let mut ext = clean_extension(ext);
    if ext.is_empty() {
        ext = detected.unwrap_or("").to_owned();
    }
    let mut base = snake_case(base);
    if base.len() < 3 {
        base.push_str(&random_lower(10));
    } else if base.len() > MAX_BASE {
        base.truncate(MAX_BASE);
    }
    format!("{base}_{}{ext}", random_lower(10))
}

/// `("my.photo", ".png")` style split: the extension is the last two dot-separated parts
/// when there are two (`a.tar.gz` → `.tar.gz`), else the last.
fn split_extension(name: &str) -> (&str, &str) {
    let Some(last) = name.rfind('.') else {
        return (name, "");
    };
    match name[..last].rfind('.') {
        Some(second) => (&name[..second], &name[second..]),
        None => (&name[..last], &name[last..]),
    }
}

/// Keep `[A-Za-z0-9_.-]`, no empty parts (`..`), at most [`MAX_EXT`] characters kept from
/// the end; `""` when nothing is left.
fn clean_extension(ext: &str) -> String {
    let kept: String = ext
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .collect();
    let parts: Vec<&str> = kept.split('.').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return String::new();
    }
    let mut ext = format!(".{}", parts.join("."));
    if ext.len() > MAX_EXT {
        ext = format!(".{}", &ext[ext.len() - MAX_EXT..]);
    }
    ext
}

/// PocketBase's snake case: words are runs of ASCII letters and digits, a lower-case
/// letter or digit followed by an upper-case one starts a new word; joined with `_`,
/// lower-cased. Anything else (punctuation, spaces, non-ASCII) separates words.
fn snake_case(s: &str) -> String {
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            let boundary = match prev {
                None => !out.is_empty(),
                Some(p) => c.is_ascii_uppercase() && (p.is_ascii_lowercase() || p.is_ascii_digit()),
            };
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev = Some(c);
        } else {
            prev = None;
        }
    }
    out
}

/// Whether `name` could have been made by [`stored_name`]: only `[A-Za-z0-9_.-]`, not
/// starting with `.`, no `..`, at most 255 bytes. Anything else is never a key part.
pub fn is_stored_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains("..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Whether `id` is a record or collection id that may be a key part: `[A-Za-z0-9_]`.
pub fn is_key_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The key of a stored file.
pub fn key(collection_id: &str, record_id: &str, name: &str) -> String {
    format!("{collection_id}/{record_id}/{name}")
}

/// The folder of a file's thumbnails, and one thumbnail's key (Part B §6.2).
pub fn thumbs_prefix(collection_id: &str, record_id: &str, name: &str) -> String {
    format!("{collection_id}/{record_id}/thumbs_{name}")
}

pub fn thumb_key(collection_id: &str, record_id: &str, name: &str, size: &str) -> String {
    format!(
        "{}/{size}_{name}",
        thumbs_prefix(collection_id, record_id, name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The part of a stored name before the random suffix, and the extension after it.
    fn parts(stored: &str) -> (String, String) {
        let (head, tail) = stored.rsplit_once('_').unwrap();
        let dot = tail.find('.').unwrap_or(tail.len());
        assert_eq!(dot, 10, "10 random characters in {stored}");
        assert!(tail[..10]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        (head.to_owned(), tail[10..].to_owned())
    }

    #[test]
    fn names_as_pocketbase_stores_them() {
        // Observed on PocketBase 0.40.6 (the random parts aside).
        for (upload, base, ext) in [
            ("img1.png", "img1", ".png"),
            ("My Photo!.png", "my_photo", ".png"),
            ("myPhotoFile.PNG", "my_photo_file", ".PNG"),
            ("archive.tar.gz", "archive", ".tar.gz"),
            ("report.v2.pdf", "report", ".v2.pdf"),
            ("a.b.c.d", "a_b", ".c.d"),
            ("trail .png ", "trail", ".png"),
            ("semi.png;.html", "semi", ".png.html"),
            ("a;b.svg", "a_b", ".svg"),
            ("../../etc/passwd", "passwd", ""),
            ("..\\..\\boot.ini", "boot", ".ini"),
            ("noext", "noext", ""),
        ] {
            let stored = stored_name(upload, None);
            assert_eq!(
                parts(&stored),
                (base.to_owned(), ext.to_owned()),
                "{upload}"
            );
            assert!(is_stored_name(&stored), "{stored}");
        }
    }

    #[test]
    fn short_and_odd_bases_are_padded_and_cut() {
        let (base, ext) = parts(&stored_name("f.txt", None));
        assert_eq!((base.len(), &base[..1], ext.as_str()), (11, "f", ".txt"));
        let (base, ext) = parts(&stored_name(".hidden", None));
        assert_eq!((base.len(), ext.as_str()), (10, ".hidden"));
        let (base, _) = parts(&stored_name("ünï cödé.TXT", None));
        assert_eq!(base, "n_c_d");
        let (base, _) = parts(&stored_name(&"x".repeat(130), None));
        assert_eq!(base.len(), 100);
        let (_, ext) = parts(&stored_name(&format!("a.{}", "e".repeat(30)), None));
        assert_eq!(ext, format!(".{}", "e".repeat(20)));
        let (base, ext) = parts(&stored_name("blob", Some(".png")));
        assert_eq!((base.as_str(), ext.as_str()), ("blob", ".png"));
        let (_, ext) = parts(&stored_name("x.html.", None));
        assert_eq!(ext, ".html");
        let (_, ext) = parts(&stored_name("x\0.ph\0p", None));
        assert_eq!(ext, ".php");
    }

    #[test]
    fn only_safe_names_and_ids_make_keys() {
        for bad in [
            "",
            ".",
            "..",
            ".env",
            "a/b",
            "a\\b",
            "..%2f",
            "a\0b",
            "/etc/passwd",
            "C:x",
            "a b",
            "a..b",
        ] {
            assert!(!is_stored_name(bad), "{bad:?}");
        }
        assert!(is_stored_name("img1_ob3rsgqgmb.png"));
        assert!(!is_key_id("../x") && !is_key_id("") && !is_key_id("a.b"));
        assert!(is_key_id("pbc_1125843985"));
        assert_eq!(
            thumb_key("c", "r", "a.png", "100x100"),
            "c/r/thumbs_a.png/100x100_a.png"
        );
    }
}
