//! `AppState`: what every handler can reach. Built once by `server::run`.

use std::sync::Arc;

use crate::auth::password::Hasher;
use crate::auth::records::AuthRecords;
use crate::auth::Superusers;
use crate::collections::Collections;
use crate::config::Config;
use crate::db::{Db, DbOptions, MigrationSet};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    config: Config,
    data: Db,
    aux: Db,
    collections: Collections,
    superusers: Superusers,
    auth_records: AuthRecords,
    limiter: crate::ratelimit::Limiter,
    realtime: crate::realtime::Broker,
    files: Arc<crate::files::Files>,
    events: crate::records::events::Events,
}

impl AppState {
    /// Open the data folder: create it, open `data.db` and `aux.db` (applying system
    /// migrations), and load the auth secrets.
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        config.prepare_dir()?;
        let options = DbOptions::from_config(&config);
        let (data_path, aux_path) = (config.data_db(), config.aux_db());
        let o = options.clone();
        let data =
            tokio::task::spawn_blocking(move || Db::open(&data_path, MigrationSet::Data, &o))
                .await??;
        let aux =
            tokio::task::spawn_blocking(move || Db::open(&aux_path, MigrationSet::Aux, &options))
                .await??;
        let hasher = Hasher::new(config.password_hash_concurrency);
        let collections = Collections::open(data.clone(), Some(config.migrations_path())).await?;
        let superusers =
            Superusers::new(data.clone(), hasher.clone(), collections.registry().clone());
        let mailer = crate::mail::Mailer::from_config(&config)?;
        let realtime = crate::realtime::Broker::new(config.realtime_max_clients);
        let events = crate::records::events::Events::start(
            data.clone(),
            collections.registry().clone(),
            realtime.clone(),
        );
        let auth_records = AuthRecords::new(
            data.clone(),
            hasher,
            collections.registry().clone(),
            mailer,
            crate::auth::providers::OAuth2Client::new()?,
            config.app_name.clone(),
            config.app_url.clone(),
        )
        .with_events(events.clone());
        let files = crate::files::Files::new(data.clone(), &config.dir)?;
        files.load_settings().await?;
        files.spawn_worker();
        Ok(Self(Arc::new(Inner {
            files,
            data,
            aux,
            collections,
            superusers,
            auth_records,
            limiter: crate::ratelimit::Limiter::from_config(&config),
            realtime,
            events,
            config,
        })))
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// `data.db`: collections and records.
    pub fn data(&self) -> &Db {
        &self.0.data
    }

    /// `aux.db`: request logs.
    pub fn aux(&self) -> &Db {
        &self.0.aux
    }

    pub fn collections(&self) -> &Collections {
        &self.0.collections
    }

    pub fn limiter(&self) -> &crate::ratelimit::Limiter {
        &self.0.limiter
    }

    /// The realtime clients and their subscriptions.
    pub fn realtime(&self) -> &crate::realtime::Broker {
        &self.0.realtime
    }

    /// Record events: writers publish committed changes here for realtime subscribers.
    pub fn events(&self) -> &crate::records::events::Events {
        &self.0.events
    }

    pub fn auth_records(&self) -> &AuthRecords {
        &self.0.auth_records
    }

    pub fn superusers(&self) -> &Superusers {
        &self.0.superusers
    }

    /// Stored files: uploads, downloads, the removal queue.
    pub fn files(&self) -> &Arc<crate::files::Files> {
        &self.0.files
    }

    /// Finish queued writes and checkpoint both databases.
    pub async fn close(&self) {
        self.0.files.close();
        self.0.data.close().await;
        self.0.aux.close().await;
    }
}
