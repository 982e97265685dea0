//! Insert throughput of the Keelbase store writer (group commit) against a plain rusqlite
//! autocommit loop on one connection, for `synchronous=NORMAL` and `synchronous=FULL`.
//!
//! Run by hand (never part of the tests):
//!
//! ```text
//! cargo bench --bench store
//! KB_BENCH_OUT=store.json KB_BENCH_MAX_INSERTS=50000 KB_BENCH_SECS=3 cargo bench --bench store
//! ```
//!
//! Scenarios, each in a fresh database on the real disk (never tmpfs):
//! - `autocommit loop`: one connection, one `INSERT` per implicit transaction. The baseline.
//! - `txn+savepoint loop`: the same loop, but each insert wrapped in the statements the
//!   writer runs for a batch of one (`BEGIN IMMEDIATE`, `SAVEPOINT`, `RELEASE`, `COMMIT`),
//!   with no thread hand-off. A diagnostic: it splits the cost of `writer(1)` into SQL
//!   overhead and queue/wake-up overhead.
//! - `writer(1)`: one task awaiting `Db::write` after `Db::write`.
//! - `writer(64)`: 64 tasks doing the same at once, so the writer can batch them.
//!
//! Each run stops at `KB_BENCH_MAX_INSERTS` inserts (default 200,000) or `KB_BENCH_SECS`
//! seconds (default 5), whichever comes first. Disk latency on a shared machine drifts by
//! the minute, so the scenarios run interleaved for `KB_BENCH_ROUNDS` rounds (default 3)
//! and the best round of each is kept. Prints a markdown table; with `KB_BENCH_OUT` set,
//! also writes every round as JSON there. `KB_BENCH_FILTER` runs only the scenarios whose
//! `<synchronous>/<scenario>` label contains it (e.g. `full/writer(1)`, for profiling).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keelbase::config::{Config, Synchronous};
use keelbase::db::{Db, DbError, DbOptions, MigrationSet};
use rusqlite::Connection;
use serde_json::{json, Value};

const CREATE: &str = "CREATE TABLE bench (id INTEGER PRIMARY KEY, v TEXT NOT NULL) STRICT";
const INSERT: &str = "INSERT INTO bench (id, v) VALUES (?1, ?2)";
/// The plain loop's busy_timeout, the same as Keelbase's connections.
const BUSY_TIMEOUT_MS: u32 = 10_000;
const CALLERS: usize = 64;
const SYNCS: [Synchronous; 2] = [Synchronous::Normal, Synchronous::Full];

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Clone, Copy)]
struct Limits {
    max_inserts: u64,
    max_time: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Autocommit,
    TxnLoop,
    Writer(usize),
}

const SCENARIOS: [Scenario; 4] = [
    Scenario::Autocommit,
    Scenario::TxnLoop,
    Scenario::Writer(1),
    Scenario::Writer(CALLERS),
];

impl Scenario {
    fn label(self) -> String {
        match self {
            Self::Autocommit => "autocommit loop".to_owned(),
            Self::TxnLoop => "txn+savepoint loop".to_owned(),
            Self::Writer(n) => format!("writer({n})"),
        }
    }

    fn callers(self) -> usize {
        match self {
            Self::Writer(n) => n,
            _ => 1,
        }
    }
}

/// One measured run of one scenario.
struct Run {
    sync: Synchronous,
    scenario: Scenario,
    round: u32,
    inserts: u64,
    secs: f64,
    /// Transactions committed (the plain loops: one per insert).
    commits: u64,
    jobs: u64,
    max_batch: u64,
    errors: u64,
    /// Size of the `-wal` file when the inserts stopped.
    wal_bytes: u64,
    /// Writer runs only: mean µs per job from `Db::write` being called to the job starting
    /// on the writer thread, running, and from its end to the caller being resumed.
    latency: Option<Latency>,
}

#[derive(Clone, Copy)]
struct Latency {
    to_start_us: f64,
    run_us: f64,
    to_resume_us: f64,
}

/// Sums of nanoseconds over the jobs of one writer run.
#[derive(Default)]
struct LatencySums {
    to_start: AtomicU64,
    run: AtomicU64,
    to_resume: AtomicU64,
}

impl LatencySums {
    fn add(&self, called: Instant, started: Instant, ended: Instant, resumed: Instant) {
        let ns = |a: Instant, b: Instant| b.saturating_duration_since(a).as_nanos() as u64;
        self.to_start
            .fetch_add(ns(called, started), Ordering::Relaxed);
        self.run.fetch_add(ns(started, ended), Ordering::Relaxed);
        self.to_resume
            .fetch_add(ns(ended, resumed), Ordering::Relaxed);
    }

    fn mean(&self, jobs: u64) -> Option<Latency> {
        let us = |sum: &AtomicU64| sum.load(Ordering::Relaxed) as f64 / 1000.0 / jobs as f64;
        (jobs > 0).then(|| Latency {
            to_start_us: us(&self.to_start),
            run_us: us(&self.run),
            to_resume_us: us(&self.to_resume),
        })
    }
}

impl Run {
    fn per_sec(&self) -> f64 {
        self.inserts as f64 / self.secs
    }

    fn avg_batch(&self) -> f64 {
        if self.commits == 0 {
            0.0
        } else {
            self.jobs as f64 / self.commits as f64
        }
    }

    fn json(&self) -> Value {
        json!({
            "synchronous": sync_name(self.sync),
            "scenario": self.scenario.label(),
            "callers": self.scenario.callers(),
            "round": self.round,
            "inserts": self.inserts,
            "secs": self.secs,
            "inserts_per_sec": self.per_sec(),
            "commits": self.commits,
            "jobs": self.jobs,
            "avg_batch": self.avg_batch(),
            "max_batch": self.max_batch,
            "errors": self.errors,
            "wal_bytes": self.wal_bytes,
            "latency_us": self.latency.map(|l| json!({
                "call_to_start": l.to_start_us,
                "run": l.run_us,
                "end_to_resume": l.to_resume_us,
            })),
        })
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn sync_name(sync: Synchronous) -> &'static str {
    match sync {
        Synchronous::Normal => "normal",
        Synchronous::Full => "full",
    }
}

/// The file system type of the mount holding `path`, from `/proc/mounts` (Linux only).
fn fs_type(path: &Path) -> Option<String> {
    let path = path.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (_dev, mount, kind) = (f.next()?, f.next()?, f.next()?);
            Some((PathBuf::from(mount.replace("\\040", " ")), kind.to_owned()))
        })
        .filter(|(mount, _)| path.starts_with(mount))
        .max_by_key(|(mount, _)| mount.as_os_str().len())
        .map(|(_, kind)| kind)
}

fn in_memory_fs(path: &Path) -> bool {
    matches!(fs_type(path).as_deref(), Some("tmpfs" | "ramfs"))
}

/// Where the scenario databases go: `KB_BENCH_TMP`, else the system temp dir unless it is
/// in memory, else `target/bench-tmp` in the crate (gitignored). Never tmpfs: fsync cost
/// is the point of the `full` scenarios.
fn bench_root() -> BenchResult<PathBuf> {
    let candidates = [
        std::env::var_os("KB_BENCH_TMP").map(PathBuf::from),
        Some(std::env::temp_dir()),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-tmp")),
    ];
    for dir in candidates.into_iter().flatten() {
        if std::fs::create_dir_all(&dir).is_err() {
            continue;
        }
        if in_memory_fs(&dir) {
            eprintln!("store bench: {} is in memory, not using it", dir.display());
            continue;
        }
        return Ok(dir);
    }
    Err("no on-disk directory for the bench databases".into())
}

fn options(sync: Synchronous) -> DbOptions {
    // Keelbase's shipped defaults, but for the durability mode under test.
    DbOptions::from_config(&Config {
        synchronous: sync,
        ..Config::default()
    })
}

fn wal_size(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map_or(0, |m| m.len())
}

fn value(id: u64) -> String {
    format!("value number {id}")
}

/// The plain loops: one connection with the same PRAGMAs as Keelbase's writer (WAL,
/// busy_timeout, foreign_keys, synchronous). `wal_autocheckpoint` stays at SQLite's
/// default, as a plain application would have it. With `writer_statements`, each insert
/// is wrapped like a writer batch of one job.
fn plain_loop(
    root: &Path,
    sync: Synchronous,
    limits: Limits,
    writer_statements: bool,
) -> BenchResult<(u64, f64, u64)> {
    let dir = tempfile::tempdir_in(root)?;
    let path = dir.path().join("plain.db");
    let conn = Connection::open(&path)?;
    conn.pragma_update(None, "busy_timeout", BUSY_TIMEOUT_MS)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("cannot switch to WAL (got {mode})").into());
    }
    conn.pragma_update(None, "synchronous", sync.pragma())?;
    conn.execute_batch(CREATE)?;

    let start = Instant::now();
    let mut inserts = 0u64;
    while inserts < limits.max_inserts && start.elapsed() < limits.max_time {
        if writer_statements {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            conn.execute_batch("SAVEPOINT kb_job")?;
        }
        conn.prepare_cached(INSERT)?
            .execute(rusqlite::params![inserts as i64, value(inserts)])?;
        if writer_statements {
            conn.execute_batch("RELEASE kb_job")?;
            conn.execute_batch("COMMIT")?;
        }
        inserts += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let wal_bytes = wal_size(&path);

    let rows: i64 = conn.query_row("SELECT count(*) FROM bench", [], |r| r.get(0))?;
    if rows as u64 != inserts {
        return Err(format!("plain loop: {inserts} inserts but {rows} rows").into());
    }
    Ok((inserts, secs, wal_bytes))
}

/// `callers` tasks calling `Db::write` in a loop until the shared limits are reached.
async fn writer(
    root: &Path,
    sync: Synchronous,
    limits: Limits,
    callers: usize,
    round: u32,
) -> BenchResult<Run> {
    let dir = tempfile::tempdir_in(root)?;
    let path = dir.path().join("data.db");
    let db = Db::open(&path, MigrationSet::Data, &options(sync))?;
    db.write(|conn| -> Result<(), DbError> {
        conn.execute_batch(CREATE)?;
        Ok(())
    })
    .await?;

    let stats = db.writer_stats();
    let commits0 = stats.commits.load(Ordering::Relaxed);
    let jobs0 = stats.jobs.load(Ordering::Relaxed);

    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let latency = Arc::new(LatencySums::default());
    let start = Instant::now();
    let deadline = start + limits.max_time;
    let mut tasks = Vec::with_capacity(callers);
    for _ in 0..callers {
        let (db, next, done, errors) = (db.clone(), next.clone(), done.clone(), errors.clone());
        let latency = latency.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let id = next.fetch_add(1, Ordering::Relaxed);
                if id >= limits.max_inserts || Instant::now() >= deadline {
                    break;
                }
                let v = value(id);
                let called = Instant::now();
                let result = db
                    .write(move |conn| -> Result<(Instant, Instant), DbError> {
                        let started = Instant::now();
                        conn.prepare_cached(INSERT)?
                            .execute(rusqlite::params![id as i64, v])?;
                        Ok((started, Instant::now()))
                    })
                    .await;
                match result {
                    Ok((started, ended)) => {
                        latency.add(called, started, ended, Instant::now());
                        done.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let secs = start.elapsed().as_secs_f64();
    let wal_bytes = wal_size(&path);

    let commits = stats.commits.load(Ordering::Relaxed) - commits0;
    let jobs = stats.jobs.load(Ordering::Relaxed) - jobs0;
    let max_batch = stats.max_batch.load(Ordering::Relaxed);
    let inserts = done.load(Ordering::Relaxed);
    let rows: i64 = db
        .read(|conn| -> Result<i64, DbError> {
            Ok(conn.query_row("SELECT count(*) FROM bench", [], |r| r.get(0))?)
        })
        .await?;
    db.close().await;
    if rows as u64 != inserts {
        return Err(format!("writer({callers}): {inserts} inserts but {rows} rows").into());
    }
    Ok(Run {
        sync,
        scenario: Scenario::Writer(callers),
        round,
        inserts,
        secs,
        commits,
        jobs,
        max_batch,
        errors: errors.load(Ordering::Relaxed),
        wal_bytes,
        latency: latency.mean(inserts),
    })
}

fn measure(
    runtime: &tokio::runtime::Runtime,
    root: &Path,
    sync: Synchronous,
    scenario: Scenario,
    limits: Limits,
    round: u32,
) -> BenchResult<Run> {
    let plain = |writer_statements| -> BenchResult<Run> {
        let (inserts, secs, wal_bytes) = plain_loop(root, sync, limits, writer_statements)?;
        Ok(Run {
            sync,
            scenario,
            round,
            inserts,
            secs,
            commits: inserts,
            jobs: inserts,
            max_batch: 1,
            errors: 0,
            wal_bytes,
            latency: None,
        })
    };
    match scenario {
        Scenario::Autocommit => plain(false),
        Scenario::TxnLoop => plain(true),
        Scenario::Writer(n) => runtime.block_on(writer(root, sync, limits, n, round)),
    }
}

fn main() -> BenchResult<()> {
    let limits = Limits {
        max_inserts: env_u64("KB_BENCH_MAX_INSERTS", 200_000).max(1),
        max_time: Duration::from_secs(env_u64("KB_BENCH_SECS", 5).max(1)),
    };
    let rounds = env_u64("KB_BENCH_ROUNDS", 3).clamp(1, 100) as u32;
    let filter = std::env::var("KB_BENCH_FILTER").unwrap_or_default();
    let wanted = |sync: Synchronous, scenario: Scenario| {
        format!("{}/{}", sync_name(sync), scenario.label()).contains(filter.as_str())
    };
    let root = bench_root()?;
    let fs = fs_type(&root).unwrap_or_else(|| "unknown".to_owned());
    eprintln!(
        "store bench: databases under {} ({fs}); {rounds} rounds; each run stops at {} inserts or {:?}",
        root.display(),
        limits.max_inserts,
        limits.max_time
    );

    // The same runtime flavour as `keelbase serve`.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut runs: Vec<Run> = Vec::new();
    for round in 1..=rounds {
        for sync in SYNCS {
            for scenario in SCENARIOS {
                if !wanted(sync, scenario) {
                    continue;
                }
                let run = measure(&runtime, &root, sync, scenario, limits, round)?;
                eprintln!(
                    "store bench: round {round} synchronous={} {}: {:.0} inserts/s",
                    sync_name(sync),
                    scenario.label(),
                    run.per_sec()
                );
                runs.push(run);
            }
        }
    }

    // The best round of each scenario: noise on a shared machine only slows a run down.
    let best = |sync: Synchronous, scenario: Scenario| {
        runs.iter()
            .filter(|r| r.sync == sync && r.scenario == scenario)
            .max_by(|a, b| a.per_sec().total_cmp(&b.per_sec()))
    };
    let ratio = |sync: Synchronous, scenario: Scenario| -> Option<f64> {
        Some(best(sync, scenario)?.per_sec() / best(sync, Scenario::Autocommit)?.per_sec())
    };

    println!("| synchronous | scenario | inserts/s (best) | all rounds | ÷ autocommit | inserts | seconds | commits | avg batch | max batch | errors | WAL MiB at end |");
    println!("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut best_json = Vec::new();
    for sync in SYNCS {
        for scenario in SCENARIOS {
            let Some(r) = best(sync, scenario) else {
                continue;
            };
            let all: Vec<String> = runs
                .iter()
                .filter(|x| x.sync == sync && x.scenario == scenario)
                .map(|x| format!("{:.0}", x.per_sec()))
                .collect();
            let vs = ratio(sync, scenario).map_or_else(|| "—".to_owned(), |v| format!("{v:.2}×"));
            println!(
                "| {} | {} | **{:.0}** | {} | {} | {} | {:.2} | {} | {:.1} | {} | {} | {:.1} |",
                sync_name(sync),
                scenario.label(),
                r.per_sec(),
                all.join(", "),
                vs,
                r.inserts,
                r.secs,
                r.commits,
                r.avg_batch(),
                r.max_batch,
                r.errors,
                r.wal_bytes as f64 / (1 << 20) as f64,
            );
            best_json.push(r.json());
        }
    }
    println!();
    let many = Scenario::Writer(CALLERS);
    let mut ratios = serde_json::Map::new();
    let show = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v:.2}×"));
    for sync in SYNCS {
        let r64 = ratio(sync, many);
        let r1 = ratio(sync, Scenario::Writer(1));
        let rtxn = ratio(sync, Scenario::TxnLoop);
        println!(
            "- synchronous={}: writer({CALLERS}) ÷ autocommit = **{}**, writer(1) ÷ autocommit = **{}**, txn+savepoint loop ÷ autocommit = {}",
            sync_name(sync),
            show(r64),
            show(r1),
            show(rtxn),
        );
        ratios.insert(
            sync_name(sync).to_owned(),
            json!({
                "writer64_over_autocommit": r64,
                "writer1_over_autocommit": r1,
                "txn_loop_over_autocommit": rtxn,
            }),
        );
    }

    println!();
    println!("Where a write's time goes (best round, mean µs per job): *to start* = from calling");
    println!("`Db::write` to the job starting on the writer thread (queue + wake-up + `BEGIN`/");
    println!("`SAVEPOINT`), *run* = the `INSERT`, *to resume* = from the job's end to the caller");
    println!("running again (`RELEASE` + `COMMIT`, its fsync under FULL, and the wake-up).");
    println!("For comparison, *plain* = one insert of the autocommit loop (1 ÷ inserts/s).");
    println!();
    println!(
        "| synchronous | scenario | to start µs | run µs | to resume µs | total µs | plain µs |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for sync in SYNCS {
        let plain = best(sync, Scenario::Autocommit).map(|r| 1e6 / r.per_sec());
        for n in [1, CALLERS] {
            let Some((r, l)) = best(sync, Scenario::Writer(n)).and_then(|r| Some((r, r.latency?)))
            else {
                continue;
            };
            println!(
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
                sync_name(sync),
                r.scenario.label(),
                l.to_start_us,
                l.run_us,
                l.to_resume_us,
                l.to_start_us + l.run_us + l.to_resume_us,
                plain.map_or_else(|| "—".to_owned(), |p| format!("{p:.1}")),
            );
        }
    }

    if let Some(out) = std::env::var_os("KB_BENCH_OUT") {
        let report = json!({
            "limits": {
                "max_inserts": limits.max_inserts,
                "max_secs": limits.max_time.as_secs(),
                "rounds": rounds,
            },
            "dir": root.display().to_string(),
            "fs": fs,
            "callers": CALLERS,
            "best": best_json,
            "runs": runs.iter().map(Run::json).collect::<Vec<Value>>(),
            "ratios": ratios,
        });
        std::fs::write(&out, serde_json::to_string_pretty(&report)? + "\n")?;
        eprintln!("store bench: wrote {}", Path::new(&out).display());
    }
    Ok(())
}
