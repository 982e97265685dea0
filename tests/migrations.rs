//! Collection migration files: every API change is written to kb_migrations/, and
//! `migrate up` replays them on another data folder to the same schema.

mod common;

use std::path::Path;
use std::process::Command;

use axum::http::{Method, StatusCode};
use common::TestApp;
use keelbase::db::DbError;
use rusqlite::Connection;
use serde_json::{json, Value};

/// Every collection (as the API shows it, minus timestamps) and every table/index DDL.
async fn schema_of(app: &TestApp) -> (Vec<Value>, Vec<(String, String)>) {
    let snapshot = app.state.collections().snapshot();
    let mut defs: Vec<Value> = snapshot
        .all()
        .iter()
        .map(|c| {
            let mut v = c.to_json();
            let o = v.as_object_mut().unwrap();
            o.remove("created");
            o.remove("updated");
            v
        })
        .collect();
    defs.sort_by_key(|v| v["id"].as_str().unwrap().to_owned());
    let ddl = app
        .state
        .data()
        .read(|c: &Connection| -> Result<Vec<(String, String)>, DbError> {
            let mut s = c.prepare(
                "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )?;
            let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
        .unwrap();
    (defs, ddl)
}

fn with_migrations(dir: &Path) -> impl FnOnce(&mut keelbase::config::Config) + '_ {
    move |c| c.migrations_dir = Some(dir.to_path_buf())
}

#[tokio::test]
async fn api_changes_replay_on_a_fresh_data_dir_to_an_identical_schema() {
    let migrations = tempfile::tempdir().unwrap();
    let a = TestApp::with_config(with_migrations(migrations.path())).await;
    let token = a.superuser_token().await;
    let post = |body: Value| a.post("/api/collections", body, Some(&token));
    assert_eq!(
        post(json!({"name": "authors", "schema": {"type": "object", "properties": {"name": {"type": "string"}}}})).await.status,
        StatusCode::OK
    );
    assert_eq!(
        post(
            json!({"name": "posts", "schema": {"type": "object", "properties": {
            "title": {"type": "string"},
            "views": {"type": "string"},
            "author": {"type": "string", "x-relation": {"collection": "authors"}}
        }}, "indexes": [{"fields": ["title"], "unique": true}], "listRule": ""})
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        post(json!({"name": "scratch"})).await.status,
        StatusCode::OK
    );
    let r = a
        .json(
            Method::PATCH,
            "/api/collections/posts",
            json!({"schema": {"type": "object", "properties": {
            "headline": {"type": "string"},
            "views": {"type": "integer"},
            "author": {"type": "string", "x-relation": {"collection": "authors"}}
        }}, "rename": {"title": "headline"}, "indexes": [{"fields": ["headline"], "unique": true}]})
            .into(),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = a
        .json(
            Method::PATCH,
            "/api/collections/authors",
            Some(json!({"name": "writers"})),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        a.json(
            Method::DELETE,
            "/api/collections/scratch",
            None,
            Some(&token)
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    let import = json!({"collections": [{"name": "tags", "schema": {"type": "object", "properties": {"label": {"type": "string"}}}}]});
    assert_eq!(
        a.json(
            Method::PUT,
            "/api/collections/import",
            Some(import),
            Some(&token)
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    // A refused change writes no file.
    let refused = a
        .post(
            "/api/collections",
            json!({"name": "bad", "schema": {"type": "nope"}}),
            Some(&token),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);

    let files = keelbase::collections::files::list(migrations.path()).unwrap();
    assert_eq!(files.len(), 7, "{files:?}");
    for (file, action) in files.iter().zip([
        "create", "create", "create", "update", "update", "delete", "import",
    ]) {
        assert!(
            file.contains(&format!("_{action}_")),
            "{file} is a {action}"
        );
    }
    assert!(
        a.state
            .collections()
            .migration_status()
            .await
            .unwrap()
            .iter()
            .all(|(_, at)| at.is_some()),
        "its own files count as applied"
    );
    let text = std::fs::read_to_string(migrations.path().join(&files[0])).unwrap();
    assert!(!text.contains("secret"), "no secrets in migration files");

    let b = TestApp::with_config(with_migrations(migrations.path())).await;
    let applied = b.state.collections().migrate_up().await.unwrap();
    assert_eq!(applied, files);
    assert!(
        b.state.collections().migrate_up().await.unwrap().is_empty(),
        "nothing is applied twice"
    );
    let (defs_a, ddl_a) = schema_of(&a).await;
    let (defs_b, ddl_b) = schema_of(&b).await;
    assert_eq!(defs_a, defs_b);
    assert_eq!(ddl_a, ddl_b);
}

#[tokio::test]
async fn a_failing_migration_file_stops_the_replay_and_names_the_file() {
    let migrations = tempfile::tempdir().unwrap();
    std::fs::write(
        migrations.path().join("1000000000_000001_create_ok.json"),
        r#"{"keelbase":1,"action":"create","collection":{"name":"ok"}}"#,
    )
    .unwrap();
    std::fs::write(
        migrations.path().join("1000000001_000002_create_broken.json"),
        r#"{"keelbase":1,"action":"create","collection":{"name":"broken","schema":{"type":"object","properties":{"a":{"type":"strng"}}}}}"#,
    )
    .unwrap();
    let app = TestApp::with_config(with_migrations(migrations.path())).await;
    let err = app
        .state
        .collections()
        .migrate_up()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("1000000001_000002_create_broken.json"),
        "{err}"
    );
    let status = app.state.collections().migration_status().await.unwrap();
    assert!(status[0].1.is_some() && status[1].1.is_none(), "{status:?}");
    assert!(app.state.collections().snapshot().get("broken").is_none());
}

fn keelbase(args: &[&str], migrations: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_keelbase"))
        .args(args)
        .env("KEELBASE_MIGRATIONS_DIR", migrations)
        .env_remove("KEELBASE_CONFIG")
        .output()
        .unwrap()
}

#[tokio::test]
async fn cli_snapshot_status_and_up() {
    let migrations = tempfile::tempdir().unwrap();
    let source = tempfile::tempdir().unwrap();
    // Make a schema in `source` without writing files (no migrations dir), then snapshot it.
    {
        let mut config = common::test_config(source.path());
        config.migrations_dir = Some(source.path().join("unused"));
        let state = keelbase::state::AppState::open(config).await.unwrap();
        let body = json!({"name": "notes", "schema": {"type": "object", "properties": {"text": {"type": "string"}}}});
        state
            .collections()
            .create(body.as_object().unwrap().clone())
            .await
            .unwrap();
        state.close().await;
    }
    let src = source.path().to_str().unwrap();
    let out = keelbase(&["migrate", "collections", "--dir", src], migrations.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("_import_snapshot.json"));
    let status = String::from_utf8_lossy(
        &keelbase(&["migrate", "status", "--dir", src], migrations.path()).stdout,
    )
    .into_owned();
    assert!(
        status.contains("applied") && status.contains("_import_snapshot.json"),
        "{status}"
    );

    let target = tempfile::tempdir().unwrap();
    let dst = target.path().to_str().unwrap();
    let before = String::from_utf8_lossy(
        &keelbase(&["migrate", "status", "--dir", dst], migrations.path()).stdout,
    )
    .into_owned();
    assert!(
        before.contains("pending") && before.contains("_import_snapshot.json"),
        "{before}"
    );
    let up = keelbase(&["migrate", "up", "--dir", dst], migrations.path());
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(
        String::from_utf8_lossy(&up.stdout).contains("applied"),
        "{}",
        String::from_utf8_lossy(&up.stdout)
    );
    let conn = Connection::open(target.path().join("data.db")).unwrap();
    let cols: i64 = conn
        .query_row("SELECT count(*) FROM pragma_table_info('notes')", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(cols, 4, "id, created, updated, text");
}

#[tokio::test]
async fn superuser_auth_options_change_and_replay() {
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    let a = app
        .json(
            axum::http::Method::PATCH,
            "/api/collections/_superusers",
            Some(serde_json::json!({"auth": {"mfa": {"enabled": true}}})),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, axum::http::StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["auth"]["mfa"]["enabled"], true);
    // Anything else of a system collection stays as shipped.
    for body in [
        serde_json::json!({"name": "admins"}),
        serde_json::json!({"listRule": ""}),
        serde_json::json!({"auth": {}, "viewRule": ""}),
    ] {
        let a = app
            .json(
                axum::http::Method::PATCH,
                "/api/collections/_superusers",
                Some(body.clone()),
                Some(&token),
            )
            .await;
        assert_eq!(
            a.status,
            axum::http::StatusCode::BAD_REQUEST,
            "{body}: {}",
            a.body
        );
    }
    // The change was written as a migration file that replays on a fresh data folder.
    let fresh = TestApp::with_config(|c| {
        c.migrations_dir = Some(app.data_dir().join("kb_migrations"));
    })
    .await;
    let applied = fresh.state.collections().migrate_up().await.unwrap();
    assert!(!applied.is_empty());
    let c = fresh
        .state
        .collections()
        .snapshot()
        .get("_superusers")
        .cloned()
        .unwrap();
    assert_eq!(c.auth.as_ref().unwrap()["mfa"]["enabled"], true);
}
