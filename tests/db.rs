//! The store: group commit, savepoint isolation, read isolation, migrations, limits.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use keelbase::config::Synchronous;
use keelbase::db::{Db, DbError, DbOptions, MigrationSet};
use rusqlite::Connection;

fn options() -> DbOptions {
    DbOptions {
        synchronous: Synchronous::Normal,
        writer_queue: 4096,
        write_timeout: Duration::from_secs(10),
        read_pool_size: 4,
        journal_size_limit: 64 << 20,
        checkpoint_interval: Duration::from_millis(200),
    }
}

async fn open_with(dir: &Path, options: DbOptions) -> Db {
    let path = dir.join("data.db");
    let db = tokio::task::spawn_blocking(move || Db::open(&path, MigrationSet::Data, &options))
        .await
        .unwrap()
        .expect("db opens");
    db.write(|c: &Connection| -> Result<(), DbError> {
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL) STRICT",
        )?;
        Ok(())
    })
    .await
    .unwrap();
    db
}

async fn open(dir: &Path) -> Db {
    open_with(dir, options()).await
}

async fn insert(db: &Db, id: i64) -> Result<(), DbError> {
    db.write(move |c: &Connection| -> Result<(), DbError> {
        c.prepare_cached("INSERT INTO t (id, v) VALUES (?1, 'x')")?
            .execute([id])?;
        Ok(())
    })
    .await
}

async fn count(db: &Db) -> i64 {
    db.read(|c: &Connection| -> Result<i64, DbError> {
        Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?)
    })
    .await
    .unwrap()
}

async fn exists(db: &Db, id: i64) -> bool {
    db.read(move |c: &Connection| -> Result<bool, DbError> {
        Ok(
            c.query_row("SELECT EXISTS (SELECT 1 FROM t WHERE id = ?1)", [id], |r| {
                r.get(0)
            })?,
        )
    })
    .await
    .unwrap()
}

/// Occupy the writer thread for `ms` so the jobs sent meanwhile share the next transaction.
fn block_writer(db: &Db, ms: u64) -> tokio::task::JoinHandle<Result<(), DbError>> {
    let db = db.clone();
    let (started_tx, started_rx) = mpsc::channel();
    let handle = tokio::spawn(async move {
        db.write(move |_: &Connection| -> Result<(), DbError> {
            let _ = started_tx.send(());
            std::thread::sleep(Duration::from_millis(ms));
            Ok(())
        })
        .await
    });
    started_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("writer picked up the blocking job");
    handle
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_writers_lose_nothing_and_never_see_locked() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path()).await;
    let mut tasks = Vec::new();
    for w in 0..64i64 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..50 {
                let id = w * 1000 + i;
                insert(&db, id)
                    .await
                    .map_err(|e| format!("write {id}: {e}"))?;
                acked.push(id);
            }
            Ok::<_, String>(acked)
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(
            t.await
                .unwrap()
                .expect("no write fails (no 'database is locked')"),
        );
    }
    assert_eq!(acked.len(), 64 * 50);
    assert_eq!(count(&db).await, 64 * 50);
    for id in acked.iter().step_by(97) {
        assert!(
            exists(&db, *id).await,
            "acknowledged write {id} is readable"
        );
    }
    let stats = db.writer_stats();
    let commits = stats.commits.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        commits < 64 * 50,
        "concurrent writes shared transactions ({commits} commits)"
    );
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_write_in_a_shared_commit_rolls_back_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path()).await;
    let commits_before = db
        .writer_stats()
        .commits
        .load(std::sync::atomic::Ordering::Relaxed);
    let blocker = block_writer(&db, 300);
    let ok1 = tokio::spawn({
        let db = db.clone();
        async move { insert(&db, 1).await }
    });
    let failing = tokio::spawn({
        let db = db.clone();
        async move {
            db.write(|c: &Connection| -> Result<(), DbError> {
                c.execute("INSERT INTO t (id, v) VALUES (2, 'x')", [])?;
                // A constraint violation after a successful insert in the same job.
                c.execute("INSERT INTO t (id, v) VALUES (20, NULL)", [])?;
                Ok(())
            })
            .await
        }
    });
    let panicking = tokio::spawn({
        let db = db.clone();
        async move {
            db.write(|c: &Connection| -> Result<(), DbError> {
                c.execute("INSERT INTO t (id, v) VALUES (3, 'x')", [])?;
                panic!("job bug");
            })
            .await
        }
    });
    let ok2 = tokio::spawn({
        let db = db.clone();
        async move { insert(&db, 4).await }
    });
    blocker.await.unwrap().unwrap();
    ok1.await.unwrap().expect("first ok write commits");
    ok2.await.unwrap().expect("second ok write commits");
    let err = failing
        .await
        .unwrap()
        .expect_err("failing job reports its error");
    assert!(err.to_string().contains("NOT NULL"), "{err}");
    assert!(matches!(panicking.await.unwrap(), Err(DbError::Panicked)));

    assert!(exists(&db, 1).await && exists(&db, 4).await);
    assert!(
        !exists(&db, 2).await,
        "the failing job's first insert was rolled back"
    );
    assert!(
        !exists(&db, 3).await,
        "the panicking job's insert was rolled back"
    );
    let stats = db.writer_stats();
    assert!(
        stats.max_batch.load(std::sync::atomic::Ordering::Relaxed) >= 4,
        "the four jobs shared one transaction"
    );
    let commits = stats.commits.load(std::sync::atomic::Ordering::Relaxed) - commits_before;
    assert_eq!(
        commits, 2,
        "one commit for the blocker, one for the shared batch"
    );
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_never_see_uncommitted_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path()).await;
    let (inserted_tx, inserted_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let write = tokio::spawn({
        let db = db.clone();
        async move {
            db.write(move |c: &Connection| -> Result<(), DbError> {
                c.execute("INSERT INTO t (id, v) VALUES (42, 'x')", [])?;
                inserted_tx.send(()).unwrap();
                go_rx.recv_timeout(Duration::from_secs(5)).unwrap();
                Ok(())
            })
            .await
        }
    });
    tokio::task::spawn_blocking(move || inserted_rx.recv_timeout(Duration::from_secs(5)).unwrap())
        .await
        .unwrap();
    assert!(
        !exists(&db, 42).await,
        "row inserted but not committed is invisible"
    );
    go_tx.send(()).unwrap();
    write.await.unwrap().unwrap();
    assert!(exists(&db, 42).await, "visible once the write resolved");
    db.close().await;
}

#[tokio::test]
async fn migrations_apply_once_and_data_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path()).await;
    insert(&db, 7).await.unwrap();
    let first: Vec<(String, String)> = db
        .read(|c: &Connection| -> Result<_, DbError> {
            let mut s = c.prepare("SELECT name, applied FROM _migrations ORDER BY name")?;
            let rows = s
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
        .unwrap();
    let embedded: Vec<String> = keelbase::db::migrate::embedded(MigrationSet::Data)
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(
        first.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
        embedded,
        "applied in order"
    );
    db.close().await;
    drop(db);

    let db = open(dir.path()).await;
    let again: Vec<(String, String)> = db
        .read(|c: &Connection| -> Result<_, DbError> {
            let mut s = c.prepare("SELECT name, applied FROM _migrations ORDER BY name")?;
            let rows = s
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
        .unwrap();
    assert_eq!(first, again, "nothing re-applied on restart");
    assert!(exists(&db, 7).await, "data survives restart");
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_with(
        dir.path(),
        DbOptions {
            writer_queue: 1,
            ..options()
        },
    )
    .await;
    let blocker = block_writer(&db, 500);
    let queued = tokio::spawn({
        let db = db.clone();
        async move { insert(&db, 1).await }
    });
    // Let the queued job reach the queue.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    let refused = insert(&db, 2).await;
    assert!(matches!(refused, Err(DbError::QueueFull)), "{refused:?}");
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "refused without waiting for the writer"
    );
    blocker.await.unwrap().unwrap();
    queued.await.unwrap().unwrap();
    assert!(!exists(&db, 2).await);
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_queued_past_its_deadline_is_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_with(
        dir.path(),
        DbOptions {
            write_timeout: Duration::from_millis(100),
            ..options()
        },
    )
    .await;
    let blocker = block_writer(&db, 400);
    let late = insert(&db, 5).await;
    assert!(matches!(late, Err(DbError::QueueTimeout)), "{late:?}");
    let _ = blocker.await.unwrap();
    assert!(!exists(&db, 5).await, "the expired write never ran");
    assert!(DbError::QueueTimeout.is_unavailable());
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn close_commits_every_queued_write_then_refuses_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path()).await;
    let blocker = block_writer(&db, 200);
    let mut pending = Vec::new();
    for id in 0..200 {
        let db = db.clone();
        pending.push(tokio::spawn(async move { insert(&db, id).await }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    db.close().await;
    blocker.await.unwrap().unwrap();
    let mut acked = 0;
    for p in pending {
        if p.await.unwrap().is_ok() {
            acked += 1;
        }
    }
    assert_eq!(acked, 200, "every write queued before close was committed");
    assert!(matches!(insert(&db, 999).await, Err(DbError::Closed)));
    drop(db);
    let conn = Connection::open(dir.path().join("data.db")).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 200);
    let wal = dir.path().join("data.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "final checkpoint emptied the WAL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpointer_keeps_the_wal_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_with(
        dir.path(),
        DbOptions {
            journal_size_limit: 1 << 20,
            checkpoint_interval: Duration::from_millis(20),
            ..options()
        },
    )
    .await;
    let blob = "x".repeat(4000);
    for round in 0..20i64 {
        let blob = blob.clone();
        db.write(move |c: &Connection| -> Result<(), DbError> {
            let mut s = c.prepare_cached("INSERT INTO t (id, v) VALUES (?1, ?2)")?;
            for i in 0..100 {
                s.execute((round * 1000 + i, &blob))?;
            }
            Ok(())
        })
        .await
        .unwrap();
    }
    // ~8 MB went through the WAL; the checkpointer truncates it once it passes 1 MiB.
    let wal = dir.path().join("data.db-wal");
    let mut size = u64::MAX;
    for _ in 0..100 {
        size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        if size <= 1 << 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(size <= 1 << 20, "WAL is {size} bytes");
    assert_eq!(count(&db).await, 2000);
    db.close().await;
}

#[tokio::test]
async fn reader_connections_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path()).await;
    let result = db
        .read(|c: &Connection| -> Result<usize, DbError> {
            Ok(c.execute("INSERT INTO t (id, v) VALUES (1, 'x')", [])?)
        })
        .await;
    assert!(result.is_err(), "query_only reader refused the write");
    assert_eq!(count(&db).await, 0);
    db.close().await;
}
