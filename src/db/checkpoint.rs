//! The background checkpointer: copies the WAL back into the database on its own
//! connection, so no commit pays for a checkpoint, and keeps the WAL bounded.
//!
//! Every interval it runs a PASSIVE checkpoint (never waits, never blocks anyone). Under
//! steady writes a passive checkpoint never finds a moment when the WAL can restart, so the
//! file keeps growing (and every fsync gets dearer): past [`RESTART_BYTES`] it escalates
//! to RESTART, which lets the next commit write from the start of the WAL again, and past
//! `journal_size_limit` to TRUNCATE. Their short busy timeout (see
//! `conn::open_checkpointer`) bounds how long they can hold writers back.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use super::{conn, DbError, DbOptions};

/// WAL size past which the checkpointer restarts the log.
const RESTART_BYTES: u64 = 4 << 20;

pub(super) struct Handle {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Handle {
    pub(super) fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

pub(super) fn spawn(path: &Path, options: &DbOptions) -> Result<Handle, DbError> {
    let conn = conn::open_checkpointer(path)?;
    let wal = wal_path(path);
    let interval = options.checkpoint_interval;
    let limit = options.journal_size_limit.max(1 << 20);
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("kb-checkpointer".into())
        .spawn(move || loop {
            match stopped.recv_timeout(interval) {
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
            if size == 0 {
                continue;
            }
            let mode = if size > limit {
                "TRUNCATE"
            } else if size > RESTART_BYTES.min(limit) {
                "RESTART"
            } else {
                "PASSIVE"
            };
            let result = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            });
            match result {
                Ok((busy, log, done)) => {
                    tracing::trace!(mode, busy, log, done, wal_bytes = size, "checkpoint");
                }
                Err(e) => tracing::warn!(mode, error = %e, "checkpoint failed"),
            }
        })
        .map_err(|e| DbError::CommitFailed(format!("cannot start the checkpointer: {e}")))?;
    Ok(Handle { stop, thread })
}

pub(super) fn wal_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push("-wal");
    PathBuf::from(p)
}
