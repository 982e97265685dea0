//! The SQLite store: one writer thread, a pool of read-only connections, system migrations
//! and a background checkpointer.
//!
//! Invariants:
//! - Only the writer thread writes to a database file (the CLI is a separate process that
//!   goes through its own [`Db`], so SQLite's lock and `busy_timeout` arbitrate the two).
//! - Every write runs inside `BEGIN IMMEDIATE`; queued writes share one transaction (group
//!   commit), each in its own savepoint, and nobody is told "done" before the COMMIT returned.
//! - Reader connections are `query_only`: they cannot write even by mistake.
//! - Nothing here blocks a tokio worker: reads run on `spawn_blocking`, writes on the writer.
//!
//! No HTTP in here: callers map [`DbError`] to their own errors.
//!
//! Depends on `config`, `util` and `query::functions` (the SQL functions every connection
//! registers); must not depend on `schema`, the services, `api` or axum.

mod checkpoint;
mod conn;
mod counts;
pub mod external_auths;
pub mod migrate;
pub mod params;
pub mod superusers;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::config::{Config, Synchronous};
pub use migrate::MigrationSet;
pub use writer::WriterStats;

/// A store failure, free of HTTP.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("the write queue is full")]
    QueueFull,
    #[error("the write waited too long in the queue")]
    QueueTimeout,
    #[error("the database is shutting down")]
    Closed,
    #[error("the database operation panicked")]
    Panicked,
    #[error("commit failed: {0}")]
    CommitFailed(String),
    #[error("migration {name}: {message}")]
    Migration { name: String, message: String },
    #[error("{path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

impl DbError {
    /// True when the store is overloaded or closing: the request may be retried later (503).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::QueueFull | Self::QueueTimeout | Self::Closed | Self::Pool(_)
        )
    }

    /// True for a UNIQUE or PRIMARY KEY constraint violation.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ),
            _ => false,
        }
    }
}

/// How a database is opened; built from [`Config`].
#[derive(Clone, Debug)]
pub struct DbOptions {
    pub synchronous: Synchronous,
    pub writer_queue: usize,
    pub write_timeout: Duration,
    pub read_pool_size: u32,
    pub journal_size_limit: u64,
    pub checkpoint_interval: Duration,
}

impl DbOptions {
    pub fn from_config(c: &Config) -> Self {
        Self {
            synchronous: c.synchronous,
            writer_queue: c.writer_queue,
            write_timeout: c.write_timeout,
            read_pool_size: c.read_pool_size,
            journal_size_limit: c.journal_size_limit,
            checkpoint_interval: c.checkpoint_interval,
        }
    }
}

/// Cached `count(*)` for one read (see [`Db::read_counting`]).
pub struct Counter {
    counts: Arc<counts::Counts>,
    commit: u64,
}

impl Counter {
    /// The single integer `sql` returns, reused while nothing committed (at most
    /// [`counts::MAX_AGE`] old, for writes from other processes).
    pub fn count(
        &self,
        conn: &Connection,
        sql: &str,
        params: &[rusqlite::types::Value],
    ) -> Result<i64, DbError> {
        self.counts.count(conn, self.commit, sql, params)
    }
}

/// One SQLite database file. Cheap to clone.
#[derive(Clone)]
pub struct Db(Arc<Inner>);

struct Inner {
    path: PathBuf,
    pool: r2d2::Pool<SqliteConnectionManager>,
    queue: mpsc::Sender<writer::Msg>,
    write_timeout: Duration,
    closed: AtomicBool,
    stats: Arc<WriterStats>,
    counts: Arc<counts::Counts>,
    /// One permit per pooled reader: a read waits here, on the async side, instead of
    /// parking a blocking thread on the pool (which made tokio grow hundreds of threads
    /// under load).
    readers: Arc<tokio::sync::Semaphore>,
    background: Mutex<Option<Background>>,
}

struct Background {
    writer: std::thread::JoinHandle<()>,
    checkpointer: checkpoint::Handle,
}

impl Db {
    /// Open (creating if needed) the database at `path`, apply the embedded system
    /// migrations of `set` in one transaction, then start the writer and checkpointer.
    pub fn open(path: &Path, set: MigrationSet, options: &DbOptions) -> Result<Db, DbError> {
        let mut write_conn = conn::open_writer(path, options)?;
        migrate::apply(&mut write_conn, set)?;

        let manager = SqliteConnectionManager::file(path).with_init(conn::init_reader);
        let pool = r2d2::Pool::builder()
            .max_size(options.read_pool_size)
            .min_idle(Some(1))
            // A local file does not drop connections; the check cost a parse per read.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(5))
            .build(manager)?;

        let stats = Arc::new(WriterStats::default());
        let (queue, rx) = mpsc::channel(options.writer_queue);
        let writer = writer::spawn(write_conn, rx, stats.clone(), path)?;
        let checkpointer = checkpoint::spawn(path, options)?;
        Ok(Db(Arc::new(Inner {
            path: path.to_owned(),
            pool,
            queue,
            write_timeout: options.write_timeout,
            closed: AtomicBool::new(false),
            stats,
            counts: Arc::default(),
            readers: Arc::new(tokio::sync::Semaphore::new(options.read_pool_size as usize)),
            background: Mutex::new(Some(Background {
                writer,
                checkpointer,
            })),
        })))
    }

    pub fn path(&self) -> &Path {
        &self.0.path
    }

    /// Counters of the writer (commits, jobs, batch sizes).
    pub fn writer_stats(&self) -> &WriterStats {
        &self.0.stats
    }

    /// Run `f` on a read-only connection, off the async workers. `f` also gets a
    /// [`Counter`] for `count(*)` queries whose answers may be reused until a commit.
    pub async fn read_counting<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection, &Counter) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        // Read before the query runs: a commit in between makes the entry stale, never
        // a stale entry fresh.
        let counter = Counter {
            counts: self.0.counts.clone(),
            commit: self.0.stats.commits.load(Ordering::Acquire),
        };
        self.read(move |conn| f(conn, &counter)).await
    }

    /// Run `f` on a read-only connection, off the async workers.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.0.pool.clone();
        let permit = self
            .0
            .readers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| DbError::Closed)?;
        match tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = pool.get().map_err(DbError::from)?;
            f(&conn)
        })
        .await
        {
            Ok(result) => result,
            Err(_) => Err(DbError::Panicked.into()),
        }
    }

    /// Run `f` in the writer's transaction, inside its own savepoint: an `Err` (or a panic)
    /// rolls back only what `f` did. Resolves after the shared COMMIT, never before.
    /// A full queue is refused at once with [`DbError::QueueFull`].
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.submit(f, false).await
    }

    /// Like [`Db::write`], but `f` runs alone in its own transaction with foreign keys
    /// off, for schema changes that rebuild tables others reference. `f` must check the
    /// keys it may break (`PRAGMA foreign_key_check`) before returning `Ok`.
    pub async fn write_exclusive<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.submit(f, true).await
    }

    async fn submit<T, E, F>(&self, f: F, exclusive: bool) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        if self.0.closed.load(Ordering::Acquire) {
            return Err(DbError::Closed.into());
        }
        let (tx, rx) = oneshot::channel();
        let job = writer::Job::new(f, tx, self.0.write_timeout, exclusive);
        match self.0.queue.try_send(writer::Msg::Job(job)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => return Err(DbError::QueueFull.into()),
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(DbError::Closed.into()),
        }
        match rx.await {
            Ok(result) => result,
            // The job was dropped without an answer: it panicked.
            Err(_) => Err(DbError::Panicked.into()),
        }
    }

    /// Stop taking writes, finish every queued one, checkpoint and stop the background
    /// threads. Later calls are no-ops.
    pub async fn close(&self) {
        self.0.closed.store(true, Ordering::Release);
        let Some(background) = self.0.background.lock().ok().and_then(|mut b| b.take()) else {
            return;
        };
        let (done_tx, done_rx) = oneshot::channel();
        if self
            .0
            .queue
            .send(writer::Msg::Shutdown(done_tx))
            .await
            .is_ok()
        {
            let _ = done_rx.await;
        }
        let Background {
            writer,
            checkpointer,
        } = background;
        let _ = tokio::task::spawn_blocking(move || {
            checkpointer.stop();
            let _ = writer.join();
        })
        .await;
    }
}

/// Apply the pending migrations of `set` to the database at `path` (the `migrate up` CLI).
pub fn migrate_up(
    path: &Path,
    set: MigrationSet,
    options: &DbOptions,
) -> Result<Vec<String>, DbError> {
    let mut conn = conn::open_writer(path, options)?;
    migrate::apply(&mut conn, set)
}

/// Applied and pending migrations of the database at `path`, changing nothing.
pub fn migration_status(
    path: &Path,
    set: MigrationSet,
) -> Result<Vec<migrate::MigrationStatus>, DbError> {
    if !path.exists() {
        return Ok(migrate::embedded(set)
            .into_iter()
            .map(|m| migrate::MigrationStatus {
                name: m.name,
                applied: None,
            })
            .collect());
    }
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|source| DbError::Open {
            path: path.to_owned(),
            source,
        })?;
    migrate::status(&conn, set)
}

/// Collection migration files recorded in the database at `path`, read-only (empty when
/// the database or the table does not exist yet).
pub fn applied_collection_migrations(path: &Path) -> Result<Vec<(String, String)>, DbError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|source| DbError::Open {
            path: path.to_owned(),
            source,
        })?;
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = '_collection_migrations')",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(Vec::new());
    }
    let mut stmt =
        conn.prepare("SELECT file, applied FROM _collection_migrations ORDER BY file")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The column names of the statement `row` came from, read after it was stepped.
///
/// A cached statement prepared before a schema change still reports the old columns
/// until SQLite re-prepares it on its first step, so names read from the statement
/// before stepping can be stale (wrong values under wrong names). Read them from a row.
pub fn row_names(row: &rusqlite::Row<'_>) -> Vec<String> {
    row.as_ref()
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect()
}
