//! Small shared helpers: timestamps in PocketBase's format and random ids/secrets.

use chrono::{DateTime, Utc};
use rand::distr::{Alphanumeric, SampleString};
use rand::Rng;

/// Now, as PocketBase writes it: `YYYY-MM-DD HH:MM:SS.mmmZ` (UTC, space separator).
pub fn now_string() -> String {
    format_datetime(Utc::now())
}

pub fn format_datetime(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3fZ").to_string()
}

/// A record id: 15 characters of `[a-z0-9]`.
pub fn new_id() -> String {
    random_lower(15)
}

/// `len` random characters of `[a-z0-9]` (record ids, stored file name suffixes).
pub fn random_lower(len: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// A random alphanumeric string of `len` characters from the OS-seeded CSPRNG (token keys, secrets).
pub fn random_string(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_15_lowercase_alphanumerics() {
        for _ in 0..100 {
            let id = new_id();
            assert_eq!(id.len(), 15);
            assert!(id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        }
    }

    #[test]
    fn timestamps_have_pocketbase_shape() {
        let t = DateTime::parse_from_rfc3339("2026-11-28T21:27:35.7Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_datetime(t), "2026-11-28 21:27:35.700Z");
        assert_eq!(now_string().len(), 24);
    }
}

/// Parse a date-time given as RFC 3339 or PocketBase's `YYYY-MM-DD[ HH:MM:SS[.fff]]Z` and
/// return it in PocketBase's storage format. `None` when it is not a date.
pub fn normalize_datetime(s: &str) -> Option<String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(format_datetime(t.with_timezone(&Utc)));
    }
    let body = s.strip_suffix('Z').unwrap_or(s);
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(body, fmt) {
            return Some(format_datetime(t.and_utc()));
        }
    }
    chrono::NaiveDate::parse_from_str(body, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| format_datetime(t.and_utc()))
}

#[cfg(test)]
mod datetime_tests {
    use super::normalize_datetime as n;

    #[test]
    fn accepted_date_forms() {
        assert_eq!(
            n("2024-01-02T03:04:05Z").as_deref(),
            Some("2024-01-02 03:04:05.000Z")
        );
        assert_eq!(
            n("2024-01-02T05:04:05+02:00").as_deref(),
            Some("2024-01-02 03:04:05.000Z")
        );
        assert_eq!(
            n("2024-01-02 03:04:05.678Z").as_deref(),
            Some("2024-01-02 03:04:05.678Z")
        );
        assert_eq!(n("2024-01-02").as_deref(), Some("2024-01-02 00:00:00.000Z"));
        assert_eq!(n("yesterday"), None);
        assert_eq!(n("2024-13-02"), None);
    }
}
