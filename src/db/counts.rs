//! Row counts cached until the next commit.
//!
//! A list with `totalItems` needs a `count(*)` over every matching row, the one part of a
//! list that grows with the table. The answer only changes when something commits, so it
//! is kept, keyed by the exact SQL and parameters, together with the writer's commit
//! number; any commit through this server makes every entry stale at once. Writes from
//! another process (the CLI) do not go through the writer, so entries also expire after
//! [`MAX_AGE`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;

use super::DbError;

/// How long a count may be served without a commit in between.
pub const MAX_AGE: Duration = Duration::from_secs(1);
/// Entries kept at most; the cache is emptied when it fills.
const CAPACITY: usize = 1024;

#[derive(Default)]
pub(super) struct Counts {
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    commit: u64,
    at: Instant,
    count: i64,
}

fn key(sql: &str, params: &[SqlValue]) -> String {
    use std::fmt::Write;
    let mut key = String::with_capacity(sql.len() + 16 * params.len());
    key.push_str(sql);
    for p in params {
        // Debug output keeps types apart: Text("1") and Integer(1) differ.
        let _ = write!(key, "\u{0}{p:?}");
    }
    key
}

impl Counts {
    /// `SELECT count(*) …` as `sql` with `params`, from the cache when nothing committed
    /// since (`commit` is the writer's commit number read before the query runs).
    pub(super) fn count(
        &self,
        conn: &Connection,
        commit: u64,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<i64, DbError> {
        let key = key(sql, params);
        if let Ok(entries) = self.entries.lock() {
            if let Some(e) = entries.get(&key) {
                if e.commit == commit && e.at.elapsed() < MAX_AGE {
                    return Ok(e.count);
                }
            }
        }
        let count: i64 = conn
            .prepare_cached(sql)?
            .query_row(rusqlite::params_from_iter(params.iter()), |r| r.get(0))?;
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(
                key,
                Entry {
                    commit,
                    at: Instant::now(),
                    count,
                },
            );
        }
        Ok(count)
    }
}
