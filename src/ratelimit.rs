//! The rate limiter's core: token buckets by key, and who the client is behind trusted
//! proxies. No HTTP here: the middleware, the route keys and the 429 answer are in
//! `api::ratelimit`, which builds every key; this module only counts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::{Config, RateLimit as Limit};

/// Buckets kept at most; idle ones are dropped first when it fills.
const MAX_BUCKETS: usize = 100_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of one server.
pub struct Limiter {
    auth: Limit,
    create: Limit,
    trusted_proxies: Vec<IpAddr>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    pub fn new(auth: Limit, create: Limit, trusted_proxies: Vec<IpAddr>) -> Self {
        Self {
            auth,
            create,
            trusted_proxies,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn from_config(config: &Config) -> Self {
        Self::new(
            config.rate_limit_auth,
            config.rate_limit_create,
            config.trusted_proxies.clone(),
        )
    }

    /// Take `n` tokens from `key`'s bucket; false (and nothing taken) when there are
    /// not enough.
    pub fn take(&self, key: String, limit: Limit, n: u32) -> bool {
        if !limit.is_on() {
            return true;
        }
        let now = Instant::now();
        let capacity = f64::from(limit.max);
        let rate = capacity / limit.window.as_secs_f64();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&key) {
            // Drop the buckets that have refilled (idle for a whole window).
            buckets.retain(|_, b| now.duration_since(b.at) < limit.window);
            if buckets.len() >= MAX_BUCKETS {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(capacity);
        bucket.at = now;
        if bucket.tokens >= f64::from(n) {
            bucket.tokens -= f64::from(n);
            true
        } else {
            false
        }
    }

    /// The client's address: the peer, or — only when the peer is a trusted proxy — the
    /// last untrusted address of the `X-Forwarded-For` values in `forwarded`.
    pub fn client_addr<'a>(
        &self,
        peer: Option<IpAddr>,
        forwarded: impl IntoIterator<Item = &'a str>,
    ) -> String {
        let Some(peer) = peer else {
            return "unknown".to_owned();
        };
        if !self.trusted_proxies.contains(&peer) {
            return peer.to_string();
        }
        let forwarded: Vec<IpAddr> = forwarded
            .into_iter()
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        forwarded
            .iter()
            .rev()
            .find(|ip| !self.trusted_proxies.contains(ip))
            .unwrap_or(&peer)
            .to_string()
    }

    /// Count `creates` record creates into `collection_id` (a batch's creates and
    /// upserts); false when over the limit.
    pub fn take_creates(&self, ip: &str, collection_id: &str, creates: u32) -> bool {
        self.take(format!("create|{ip}|{collection_id}"), self.create, creates)
    }

    /// Count one attempt of `action` against the account `identity` of `collection_id`,
    /// whatever address it comes from (stops distributed guessing against one account).
    /// The identity is trimmed and lower-cased first, so spelling variants share a bucket.
    pub fn take_account(&self, collection_id: &str, action: &str, identity: &str) -> bool {
        let identity = identity.trim().to_lowercase();
        self.take(
            format!("account|{collection_id}|{action}|{identity}"),
            self.auth,
            1,
        )
    }

    /// The limit of the auth actions (and of [`Limiter::take_account`]).
    pub fn auth_limit(&self) -> Limit {
        self.auth
    }

    /// The create limit (batches check it per collection).
    pub fn create_limit(&self) -> Limit {
        self.create
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;

    pub(crate) fn limiter(max: u32, secs: u64) -> Limiter {
        Limiter {
            auth: Limit {
                max,
                window: Duration::from_secs(secs),
            },
            create: Limit::off(),
            trusted_proxies: vec!["10.0.0.1".parse().unwrap()],
            buckets: Mutex::new(HashMap::new()),
        }
    }

    #[test]
    fn buckets_refuse_past_the_limit_and_refill() {
        let l = limiter(2, 1);
        let limit = l.auth;
        assert!(l.take("k".into(), limit, 1));
        assert!(l.take("k".into(), limit, 1));
        assert!(!l.take("k".into(), limit, 1));
        assert!(l.take("other".into(), limit, 1), "keys are separate");
        std::thread::sleep(Duration::from_millis(600));
        assert!(l.take("k".into(), limit, 1), "refilled at 2 per second");
        assert!(!l.take("k".into(), limit, 2), "all or nothing");
        assert!(l.take("x".into(), Limit::off(), 1000), "off");
    }
}
