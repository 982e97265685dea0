//! The writer thread: the only connection that writes, fed by a bounded queue.
//!
//! Group commit: the thread takes every job already queued (up to [`MAX_BATCH`]), runs
//! them in one `BEGIN IMMEDIATE` transaction, each inside its own savepoint, and COMMITs
//! once. A job that fails (or panics) is rolled back to its savepoint alone. Results are
//! handed back only after the COMMIT: nobody hears "done" for a write that could still
//! be rolled back. Under `synchronous=FULL` the jobs of a batch share one fsync.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::DbError;

/// Most jobs that share one transaction. Bounds the latency one batch adds to its last job.
const MAX_BATCH: usize = 512;

pub(super) enum Msg {
    Job(Job),
    /// Finish what is queued, checkpoint, stop; answer on the sender when done.
    Shutdown(oneshot::Sender<()>),
}

/// What a job tells the writer after it ran: whether to keep its savepoint, and how to
/// deliver its result once the outcome of the COMMIT is known.
struct Ran {
    ok: bool,
    deliver: Box<dyn FnOnce(Option<DbError>) + Send>,
}

/// A type-erased write request.
pub(super) struct Job {
    deadline: Instant,
    /// Run alone, in its own transaction, with foreign keys off (schema changes).
    exclusive: bool,
    run: Box<dyn FnOnce(&Connection) -> Ran + Send>,
    reject: Box<dyn FnOnce(DbError) + Send>,
}

impl Job {
    pub(super) fn new<T, E, F>(
        f: F,
        tx: oneshot::Sender<Result<T, E>>,
        timeout: Duration,
        exclusive: bool,
    ) -> Job
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        // The sender is needed both by `run` and by `reject`; only one of them is called.
        let slot = Arc::new(std::sync::Mutex::new(Some(tx)));
        let slot2 = slot.clone();
        let take = move |s: &std::sync::Mutex<Option<oneshot::Sender<Result<T, E>>>>| {
            s.lock().ok().and_then(|mut g| g.take())
        };
        Job {
            deadline: Instant::now() + timeout,
            exclusive,
            run: Box::new(move |conn| {
                let result = f(conn);
                let ok = result.is_ok();
                let tx = take(&slot);
                Ran {
                    ok,
                    deliver: Box::new(move |commit_error| {
                        if let Some(tx) = tx {
                            let _ = tx.send(match commit_error {
                                Some(e) if ok => Err(e.into()),
                                _ => result,
                            });
                        }
                    }),
                }
            }),
            reject: Box::new(move |e| {
                if let Some(tx) = take(&slot2) {
                    let _ = tx.send(Err(e.into()));
                }
            }),
        }
    }
}

/// Counters for tests, benchmarks and metrics.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Jobs that ran (committed or rolled back to their savepoint).
    pub jobs: AtomicU64,
    /// Jobs refused because they waited past their deadline.
    pub expired: AtomicU64,
    /// Largest number of jobs in one transaction so far.
    pub max_batch: AtomicU64,
}

pub(super) fn spawn(
    conn: Connection,
    rx: mpsc::Receiver<Msg>,
    stats: Arc<WriterStats>,
    path: &Path,
) -> Result<std::thread::JoinHandle<()>, DbError> {
    let name = format!(
        "kb-writer-{}",
        path.file_stem().and_then(|s| s.to_str()).unwrap_or("db")
    );
    std::thread::Builder::new()
        .name(name)
        .spawn(move || run(conn, rx, &stats))
        .map_err(|e| DbError::CommitFailed(format!("cannot start the writer thread: {e}")))
}

fn run(conn: Connection, mut rx: mpsc::Receiver<Msg>, stats: &WriterStats) {
    let mut shutdown: Option<oneshot::Sender<()>> = None;
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    // An exclusive job met while filling a batch waits here for the batch to commit.
    let mut carried: Option<Job> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match rx.blocking_recv() {
                Some(Msg::Job(job)) => job,
                Some(Msg::Shutdown(done)) => {
                    shutdown = Some(done);
                    break;
                }
                None => break,
            },
        };
        if first.exclusive {
            run_exclusive(&conn, first, stats);
            continue;
        }
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Msg::Job(job)) if job.exclusive => {
                    carried = Some(job);
                    break;
                }
                Ok(Msg::Job(job)) => batch.push(job),
                Ok(Msg::Shutdown(done)) => {
                    shutdown = Some(done);
                    break;
                }
                Err(_) => break,
            }
        }
        run_batch(&conn, std::mem::take(&mut batch), stats);
        if shutdown.is_some() {
            if let Some(job) = carried.take() {
                run_exclusive(&conn, job, stats);
            }
            break;
        }
    }
    // Shutting down: refuse new jobs, but run every job that was already accepted.
    rx.close();
    loop {
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Msg::Job(job)) if job.exclusive => run_exclusive(&conn, job, stats),
                Ok(Msg::Job(job)) => batch.push(job),
                Ok(Msg::Shutdown(done)) => drop(done),
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            break;
        }
        run_batch(&conn, std::mem::take(&mut batch), stats);
    }
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
        tracing::warn!(error = %e, "final checkpoint failed");
    }
    drop(conn);
    if let Some(done) = shutdown {
        let _ = done.send(());
    }
}

/// Run one job alone with foreign keys off. The job checks the keys it may have broken
/// (`PRAGMA foreign_key_check`); SQLite ignores the pragma inside a transaction, hence
/// a transaction of its own.
fn run_exclusive(conn: &Connection, job: Job, stats: &WriterStats) {
    if let Err(e) = conn.execute_batch("PRAGMA foreign_keys = OFF") {
        (job.reject)(DbError::Sqlite(e));
        return;
    }
    run_batch(conn, vec![job], stats);
    if let Err(e) = conn.execute_batch("PRAGMA foreign_keys = ON") {
        tracing::error!(error = %e, "cannot turn foreign keys back on");
    }
}

fn run_batch(conn: &Connection, jobs: Vec<Job>, stats: &WriterStats) {
    let now = Instant::now();
    let mut pending: Vec<Job> = Vec::with_capacity(jobs.len());
    for job in jobs {
        if job.deadline < now {
            stats.expired.fetch_add(1, Ordering::Relaxed);
            (job.reject)(DbError::QueueTimeout);
        } else {
            pending.push(job);
        }
    }
    let mut jobs = pending.into_iter().peekable();
    while jobs.peek().is_some() {
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let message = e.to_string();
            for job in jobs {
                (job.reject)(DbError::CommitFailed(message.clone()));
            }
            return;
        }
        let mut ran: Vec<Ran> = Vec::new();
        let mut aborted = false;
        let mut in_transaction = 0u64;
        for job in jobs.by_ref() {
            in_transaction += 1;
            let result = run_job(conn, job);
            stats.jobs.fetch_add(1, Ordering::Relaxed);
            if let Some(r) = result {
                ran.push(r);
            }
            // Some errors (SQLITE_FULL, SQLITE_IOERR…) make SQLite roll back the whole
            // transaction. Then nothing before this point is committed: tell those jobs,
            // and start a fresh transaction for the rest of the batch.
            if conn.is_autocommit() {
                aborted = true;
                break;
            }
        }
        let outcome = if aborted {
            Err("the transaction was rolled back by SQLite".to_owned())
        } else {
            conn.execute_batch("COMMIT").map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                e.to_string()
            })
        };
        match outcome {
            Ok(()) => {
                // Release: a reader that sees the new number also sees the commit.
                stats.commits.fetch_add(1, Ordering::Release);
                stats.max_batch.fetch_max(in_transaction, Ordering::Relaxed);
                for r in ran {
                    (r.deliver)(None);
                }
            }
            Err(message) => {
                tracing::error!(error = %message, jobs = ran.len(), "write transaction failed");
                for r in ran {
                    (r.deliver)(Some(DbError::CommitFailed(message.clone())));
                }
            }
        }
    }
}

/// Run one job in its own savepoint. `None` when the job could not run or panicked (its
/// caller has been answered already).
fn run_job(conn: &Connection, job: Job) -> Option<Ran> {
    let Job { run, reject, .. } = job;
    // Cached statements: these run for every job, parsing them each time showed in profiles.
    if let Err(e) = conn
        .prepare_cached("SAVEPOINT kb_job")
        .and_then(|mut s| s.execute([]))
    {
        reject(DbError::Sqlite(e));
        return None;
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| run(conn)));
    let keep = matches!(&outcome, Ok(r) if r.ok);
    if !conn.is_autocommit() {
        let result = if keep {
            conn.prepare_cached("RELEASE kb_job")
                .and_then(|mut s| s.execute([]))
        } else {
            conn.prepare_cached("ROLLBACK TO kb_job")
                .and_then(|mut s| s.execute([]))
                .and_then(|_| {
                    conn.prepare_cached("RELEASE kb_job")
                        .and_then(|mut s| s.execute([]))
                })
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "savepoint cleanup failed");
        }
    }
    match outcome {
        Ok(ran) => Some(ran),
        Err(_) => {
            tracing::error!("a write job panicked; its changes were rolled back");
            reject(DbError::Panicked);
            None
        }
    }
}
