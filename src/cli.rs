//! The command line: `serve`, `superuser upsert|delete`, `migrate up|status`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides};
use crate::db::{DbOptions, MigrationSet};
use crate::state::AppState;

#[derive(Debug, Parser)]
#[command(
    name = "keelbase",
    version,
    about = "Keelbase: a backend in one binary. Collections as JSON Schema, a REST API, \
             auth, files and realtime, all in one SQLite-backed process.",
    after_help = "Every setting can also come from the environment (KEELBASE_HTTP, KEELBASE_DIR, …) \
                  or a config file; see config/keelbase.toml.\nPrecedence: flag > environment > config file > default."
)]
pub struct Cli {
    /// Data folder (data.db, aux.db, storage/). Default: ./kb_data
    #[arg(long, global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// TOML config file with bootstrap settings (see config/keelbase.toml)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the HTTP server (REST API at /api/, dashboard at /_/)
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8090 or :8090 for every interface
        #[arg(long, value_name = "ADDR")]
        http: Option<String>,
        /// Development mode: human-readable logs
        #[arg(long)]
        dev: bool,
    },
    /// Manage superusers (the dashboard's administrators)
    Superuser {
        #[command(subcommand)]
        action: SuperuserCommand,
    },
    /// Apply, list or snapshot migrations (system tables and collection files)
    Migrate {
        #[command(subcommand)]
        action: MigrateCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum SuperuserCommand {
    /// Create a superuser, or set the password of an existing one
    Upsert {
        email: String,
        /// At least 10 characters
        password: String,
    },
    /// Delete a superuser
    Delete { email: String },
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Apply pending system migrations, then pending collection migration files
    Up,
    /// List applied and pending migrations (system and collection files); changes nothing
    Status,
    /// Write one collection migration file holding every collection as it is now
    Collections,
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let (http, dev) = match &cli.command {
        Command::Serve { http, dev } => (http.clone(), *dev),
        _ => (None, false),
    };
    let overrides = Overrides {
        config: cli.config.clone(),
        http,
        dir: cli.dir.clone(),
        dev,
    };
    let config = Config::load(&overrides)?;
    let is_serve = matches!(cli.command, Command::Serve { .. });
    init_tracing(&config, is_serve);
    for name in crate::config::unknown_env_vars() {
        tracing::warn!("{name} is set but is not a Keelbase setting (typo?)");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(dispatch(cli.command, config))
}

async fn dispatch(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { .. } => {
            config.prepare_dir()?;
            let listener = tokio::net::TcpListener::bind(config.http)
                .await
                .with_context(|| format!("cannot listen on {}", config.http))?;
            crate::server::run(config, listener, crate::server::shutdown_signal()).await
        }
        Command::Superuser { action } => {
            let state = AppState::open(config).await?;
            let result = match action {
                SuperuserCommand::Upsert { email, password } => state
                    .superusers()
                    .upsert(&email, &password)
                    .await
                    .map(|u| {
                        let verb = if u.created { "Created" } else { "Updated" };
                        println!("{verb} superuser {} (id {}).", u.row.email, u.row.id);
                    })
                    .map_err(anyhow::Error::from),
                SuperuserCommand::Delete { email } => {
                    match state.superusers().delete(&email).await {
                        Ok(true) => {
                            println!("Deleted superuser {email}.");
                            Ok(())
                        }
                        Ok(false) => Err(anyhow::anyhow!("no superuser with email {email}")),
                        Err(e) => Err(e.into()),
                    }
                }
            };
            state.close().await;
            result
        }
        Command::Migrate { action } => migrate(action, config).await,
    }
}

async fn migrate(action: MigrateCommand, config: Config) -> anyhow::Result<()> {
    config.prepare_dir()?;
    let options = DbOptions::from_config(&config);
    let dir = config.migrations_path();
    match action {
        MigrateCommand::Up => {
            for (set, path) in [
                (MigrationSet::Data, config.data_db()),
                (MigrationSet::Aux, config.aux_db()),
            ] {
                let file = db_file_name(&path);
                let applied = crate::db::migrate_up(&path, set, &options)?;
                if applied.is_empty() {
                    println!("{file}: up to date.");
                }
                for name in applied {
                    println!("{file}: applied {name}");
                }
            }
            let state = AppState::open(config).await?;
            let result = state.collections().migrate_up().await;
            state.close().await;
            let applied = result?;
            if applied.is_empty() {
                println!("{}: up to date.", dir.display());
            }
            for name in applied {
                println!("{}: applied {name}", dir.display());
            }
        }
        MigrateCommand::Status => {
            for (set, path) in [
                (MigrationSet::Data, config.data_db()),
                (MigrationSet::Aux, config.aux_db()),
            ] {
                let file = db_file_name(&path);
                for s in crate::db::migration_status(&path, set)? {
                    match s.applied {
                        Some(at) => println!("{file}: applied  {}  ({at})", s.name),
                        None => println!("{file}: pending  {}", s.name),
                    }
                }
            }
            let applied = crate::db::applied_collection_migrations(&config.data_db())?;
            for name in crate::collections::files::list(&dir)? {
                match applied.iter().find(|(f, _)| f == &name) {
                    Some((_, at)) => println!("{}: applied  {name}  ({at})", dir.display()),
                    None => println!("{}: pending  {name}", dir.display()),
                }
            }
        }
        MigrateCommand::Collections => {
            let state = AppState::open(config).await?;
            let result = state.collections().write_snapshot().await;
            state.close().await;
            if let Some(path) = result? {
                println!("Wrote {}", path.display());
            }
        }
    }
    Ok(())
}

fn db_file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn init_tracing(config: &Config, is_serve: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if is_serve {
        config.log_level.as_str()
    } else {
        "warn"
    };
    // In --dev the access log (one line per request) is on; otherwise it is opt-in with
    // log_level = "info,keelbase::access=debug" (request logs go to aux.db).
    let default = if config.dev && is_serve {
        format!("{default},keelbase::access=debug")
    } else {
        default.to_owned()
    };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&default))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if config.dev || !is_serve {
        builder.compact().try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    };
}
