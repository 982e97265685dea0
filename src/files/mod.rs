//! The files service: uploads of `x-file` properties, stored in `object_store` (a local
//! folder by default, S3 by settings), thumbnails, and the removal of files no record
//! names any more (API.md Part B §6, DESIGN.md "Files", RELIABILITY.md §3.5 and R-4).
//!
//! Consistency, in order: an upload is received into a temporary file; an `upload` row
//! for its key is committed to `_files_queue`; the file is stored; the record's write
//! transaction claims the row (deletes it) when the record names the file, and writes a
//! `delete` row for every file the change leaves unnamed (a record's delete trigger adds
//! its whole folder). After each commit the queue is drained; it is drained again at
//! start, when `upload` rows left by writes that never committed are orphans. So a
//! crash at any point leaves neither a record naming a missing file nor, after the next
//! start, an orphan.
//!
//! Layout: [`name`] makes stored names and keys, [`mime`] sniffs and decides how a file is
//! served, [`upload`] receives a part to disk, [`store`] is the backend, [`queue`] the
//! SQL of `_files_queue`, [`thumb`] the resizer.
//!
//! Depends on `db`, `schema` and `util`; must not depend on `api`, `state`, `records` or axum.

pub mod mime;
pub mod name;
pub mod queue;
pub mod store;
pub mod thumb;
pub mod upload;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::Notify;

use crate::db::{Db, DbError};
pub use store::{Backend, Meta, S3Settings, Storage, StoreError};
pub use upload::{Refused, Upload};

/// `_params` key of the S3 settings (JSON of [`S3Settings`]).
pub const S3_PARAM: &str = "settings.s3";
/// An `upload` row older than this belongs to a write that is long over.
const ORPHAN_AFTER: Duration = Duration::from_secs(3600);
/// How often the queue is drained when nothing asks for it (retries of failures).
const DRAIN_EVERY: Duration = Duration::from_secs(30);

/// Files, with their storage and deletion queue.
pub struct Files {
    db: Db,
    storage: Storage,
    kick: Notify,
    stop: Notify,
    /// Where the local backend keeps files (kept when S3 is switched on).
    local_root: std::path::PathBuf,
}

impl Files {
    /// The files service over `db`, storing under `data_dir/storage` until settings say
    /// otherwise ([`Self::load_settings`]).
    pub fn new(db: Db, data_dir: &Path) -> Result<Arc<Self>, StoreError> {
        let local_root = data_dir.join("storage");
        let tmp = data_dir.join(".tmp_uploads");
        // Uploads of an earlier run that never got stored.
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        Ok(Arc::new(Self {
            db,
            storage: Storage::new(Backend::local(&local_root)?, tmp),
            kick: Notify::new(),
            stop: Notify::new(),
            local_root,
        }))
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The stored S3 settings.
    pub async fn s3_settings(&self) -> Result<S3Settings, DbError> {
        let raw = self
            .db
            .read(|c: &Connection| -> Result<_, DbError> {
                Ok(crate::db::params::get(c, S3_PARAM)?)
            })
            .await?;
        Ok(raw
            .and_then(|r| serde_json::from_str(&r).ok())
            .unwrap_or_default())
    }

    /// Use the backend the stored settings name. A bad S3 setting keeps the local
    /// backend and is logged (the server still starts; uploads then go to the folder).
    pub async fn load_settings(&self) -> Result<(), DbError> {
        let s = self.s3_settings().await?;
        if s.enabled {
            match Backend::s3(&s) {
                Ok(b) => self.storage.set_backend(b),
                Err(e) => {
                    tracing::error!(error = %e, "S3 settings unusable; storing files locally")
                }
            }
        }
        Ok(())
    }

    /// Save `s` and switch to the backend it names. Files already stored stay where they
    /// are: switching to S3 leaves the local folder untouched (records naming files
    /// there answer 404 until they are copied to the bucket, or S3 is switched off again).
    pub async fn save_s3_settings(&self, s: S3Settings) -> Result<(), SettingsError> {
        let backend = if s.enabled {
            Backend::s3(&s).map_err(SettingsError::Storage)?
        } else {
            Backend::local(&self.local_root).map_err(SettingsError::Storage)?
        };
        let json = serde_json::to_string(&s).expect("settings serialise");
        self.db
            .write(move |c: &Connection| -> Result<(), DbError> {
                Ok(crate::db::params::set(c, S3_PARAM, &json)?)
            })
            .await
            .map_err(SettingsError::Db)?;
        self.storage.set_backend(backend);
        Ok(())
    }

    /// Commit `upload` rows for `keys`, then store each upload under its key. On failure
    /// the files stored so far are left to the queue (their rows are orphans at once).
    pub async fn stage(&self, uploads: Vec<(String, Upload)>) -> Result<(), StageError> {
        if uploads.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = uploads.iter().map(|(k, _)| k.clone()).collect();
        self.db
            .write(move |c: &Connection| -> Result<(), DbError> {
                for k in &keys {
                    queue::add_upload(c, k)?;
                }
                Ok(())
            })
            .await
            .map_err(StageError::Db)?;
        let mut stored: Vec<String> = Vec::new();
        for (k, u) in uploads {
            if let Err(e) = self.storage.put_file(&k, u.file).await {
                stored.push(k);
                self.abandon(stored).await;
                return Err(StageError::Storage(e));
            }
            stored.push(k);
        }
        Ok(())
    }

    /// The write that staged `keys` did not commit: they are to be removed now.
    pub async fn abandon(&self, keys: Vec<String>) {
        if keys.is_empty() {
            return;
        }
        let r = self
            .db
            .write(move |c: &Connection| -> Result<(), DbError> {
                for k in &keys {
                    queue::add_delete(c, k)?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = r {
            // The rows stay `upload` and are removed as orphans later.
            tracing::warn!(error = %e, "could not queue abandoned uploads");
        }
        self.kick();
    }

    /// Ask the drain loop to run now (after a commit that queued removals).
    pub fn kick(&self) {
        self.kick.notify_one();
    }

    /// Remove what the queue says is due; returns how many entries were done.
    /// `orphans_now`: treat every `upload` row as an orphan (at start, no write is in
    /// flight).
    pub async fn drain(&self, orphans_now: bool) -> Result<usize, DbError> {
        let before = if orphans_now {
            "9999".to_owned()
        } else {
            crate::util::format_datetime(
                chrono::Utc::now() - chrono::Duration::from_std(ORPHAN_AFTER).expect("fits"),
            )
        };
        let mut done = 0;
        loop {
            let b = before.clone();
            let due = self
                .db
                .read(move |c: &Connection| -> Result<_, DbError> { Ok(queue::due(c, &b, 100)?) })
                .await?;
            if due.is_empty() {
                return Ok(done);
            }
            let mut ok = Vec::new();
            let mut bad = Vec::new();
            for k in due {
                let r = match k.strip_suffix('/') {
                    Some(prefix) => self.storage.delete_prefix(prefix).await.map(|_| ()),
                    None => self.remove_file(&k).await,
                };
                match r {
                    Ok(()) => ok.push(k),
                    Err(e) => {
                        tracing::warn!(key = %k, error = %e, "could not remove a stored file; will retry");
                        bad.push(k);
                    }
                }
            }
            let n = ok.len();
            let failed = !bad.is_empty();
            self.db
                .write(move |c: &Connection| -> Result<(), DbError> {
                    for k in &ok {
                        queue::done(c, k)?;
                    }
                    for k in &bad {
                        queue::failed(c, k)?;
                    }
                    Ok(())
                })
                .await?;
            done += n;
            if failed {
                // Retried on the next tick, not in a tight loop.
                return Ok(done);
            }
        }
    }

    /// Remove a file and its thumbnails.
    async fn remove_file(&self, key: &str) -> Result<(), StoreError> {
        self.storage.delete(key).await?;
        if let Some((folder, name)) = key.rsplit_once('/') {
            self.storage
                .delete_prefix(&format!("{folder}/thumbs_{name}"))
                .await?;
        }
        Ok(())
    }

    /// Drain at start (orphans included), then after every kick and every
    /// [`DRAIN_EVERY`], until [`Self::close`].
    pub fn spawn_worker(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let files = self.clone();
        tokio::spawn(async move {
            let mut first = true;
            loop {
                match files.drain(first).await {
                    Ok(n) if n > 0 => tracing::debug!(removed = n, "stored files removed"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "file removal queue"),
                }
                first = false;
                tokio::select! {
                    _ = files.stop.notified() => return,
                    _ = files.kick.notified() => {}
                    _ = tokio::time::sleep(DRAIN_EVERY) => {}
                }
            }
        })
    }

    /// Stop the drain loop (what is left is drained at the next start).
    pub fn close(&self) {
        self.stop.notify_one();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error(transparent)]
    Db(DbError),
    #[error(transparent)]
    Storage(StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Db(DbError),
    #[error(transparent)]
    Storage(StoreError),
}
