use std::sync::OnceLock;

use rusqlite::Connection;
use serde_json::{json, Map, Value};

use crate::query::{AuthRecord, RequestInfo};
use crate::schema::value::decode;
use crate::schema::Snapshot;

type Fixture = (
    std::sync::Mutex<Connection>,
    Snapshot,
    Vec<(String, Map<String, Value>)>,
);
type Shared = (
    std::sync::MutexGuard<'static, Connection>,
    &'static Snapshot,
    &'static [(String, Map<String, Value>)],
);

/// The compiler tests' fixture, loaded once, with every posts row decoded as the
/// records API would read it.
pub fn shared() -> Shared {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    let f = FIXTURE.get_or_init(|| {
        let (conn, snap) = super::tests::fixture_pub();
        conn.execute_batch(
            r#"INSERT INTO posts (id, title, views, published, tags, meta, author, created, due, extra) VALUES
                    ('p4', '', -1, 0, '["a","c",""]', '{"k":[10,"x"]}', 'bob000000000000', '', '2025-01-01 00:00:00.000Z', '{"a":1}'),
                    ('p5', 'hello', 2, 1, '["b"]', '{"k":[]}', NULL, '2025-01-01 00:00:00.000Z', '', '""');
               UPDATE posts SET extra = '[]' WHERE id = 'p1'"#,
        )
        .unwrap();
        let posts = snap.get("posts").unwrap().clone();
        let mut rows = Vec::new();
        {
            let mut stmt = conn.prepare("SELECT * FROM posts ORDER BY id").unwrap();
            let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
            let mut q = stmt.query([]).unwrap();
            while let Some(r) = q.next().unwrap() {
                let mut record = Map::new();
                for (i, name) in names.iter().enumerate() {
                    let v = match posts.field(name) {
                        Some(f) => decode(&f.kind, r.get_ref(i).unwrap()),
                        None => decode(&crate::schema::FieldKind::Text, r.get_ref(i).unwrap()),
                    };
                    record.insert(name.clone(), v);
                }
                rows.push((record["id"].as_str().unwrap().to_owned(), record));
            }
        }
        (std::sync::Mutex::new(conn), snap, rows)
    });
    (f.0.lock().unwrap_or_else(|e| e.into_inner()), &f.1, &f.2)
}

pub fn request(snap: &Snapshot) -> RequestInfo {
    RequestInfo {
        auth: Some(AuthRecord {
            collection: snap.get("users").unwrap().clone(),
            record: json!({"id": "alice0000000000"})
                .as_object()
                .unwrap()
                .clone(),
        }),
        method: "PATCH".into(),
        context: "default".into(),
        body: json!({"title": "hello", "tags": ["a", "b"], "views": 3})
            .as_object()
            .unwrap()
            .clone(),
        ..Default::default()
    }
}
