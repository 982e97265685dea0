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
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..15)
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
