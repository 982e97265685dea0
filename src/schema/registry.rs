//! The registry: an immutable snapshot of every compiled collection, rebuilt from
//! `_collections` after each change and swapped in atomically. Request paths take one
//! snapshot and never parse a schema.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rusqlite::Connection;
use serde_json::Value;

use super::collection::{compile, Collection, CollectionRef, CollectionType, Definition};
use super::field::FieldKind;
use super::{store, SchemaError};

#[derive(Default)]
pub struct Snapshot {
    /// Bumped with every collection change; a snapshot never replaces a newer one.
    pub version: u64,
    list: Vec<Arc<Collection>>,
    by_id: HashMap<String, usize>,
    /// Lower-cased names (table names are case-insensitive).
    by_name: HashMap<String, usize>,
}

impl Snapshot {
    /// Read and compile every stored collection.
    pub fn load(conn: &Connection) -> Result<Snapshot, SchemaError> {
        let stored = store::load_all(conn)?;
        let refs: Vec<CollectionRef> = stored
            .iter()
            .map(|s| CollectionRef {
                id: s.id.clone(),
                name: s.name.clone(),
                kind: s
                    .definition
                    .get("type")
                    .and_then(Value::as_str)
                    .and_then(CollectionType::parse)
                    .unwrap_or(CollectionType::Base),
                system: s.system,
            })
            .collect();
        let resolve = |key: &str| -> Option<CollectionRef> {
            refs.iter()
                .find(|r| r.id == key || r.name.eq_ignore_ascii_case(key))
                .cloned()
        };
        let mut snapshot = Snapshot {
            version: store::version(conn)?,
            ..Default::default()
        };
        for s in &stored {
            let Value::Object(body) = &s.definition else {
                return Err(SchemaError::Corrupt {
                    name: s.name.clone(),
                    message: "not an object".into(),
                });
            };
            let mut c = compile(
                Definition {
                    body,
                    existing: None,
                    system: s.system,
                    now: &s.updated,
                    trusted: true,
                },
                &resolve,
            )
            .map_err(|e| SchemaError::Corrupt {
                name: s.name.clone(),
                message: e.to_string(),
            })?;
            c.created = s.created.clone();
            c.updated = s.updated.clone();
            snapshot.push(Arc::new(c));
        }
        Ok(snapshot)
    }

    /// A snapshot of the given collections (tests and tools; the server loads from the database).
    pub fn from_collections(
        version: u64,
        collections: impl IntoIterator<Item = Collection>,
    ) -> Snapshot {
        let mut s = Snapshot {
            version,
            ..Default::default()
        };
        for c in collections {
            s.push(Arc::new(c));
        }
        s
    }

    fn push(&mut self, c: Arc<Collection>) {
        let i = self.list.len();
        self.by_id.insert(c.id.clone(), i);
        self.by_name.insert(c.name.to_ascii_lowercase(), i);
        self.list.push(c);
    }

    /// A collection by id or name (names case-insensitively).
    pub fn get(&self, id_or_name: &str) -> Option<&Arc<Collection>> {
        self.by_id
            .get(id_or_name)
            .or_else(|| self.by_name.get(&id_or_name.to_ascii_lowercase()))
            .map(|i| &self.list[*i])
    }

    pub fn all(&self) -> &[Arc<Collection>] {
        &self.list
    }

    pub fn reference(&self, id_or_name: &str) -> Option<CollectionRef> {
        self.get(id_or_name).map(|c| CollectionRef {
            id: c.id.clone(),
            name: c.name.clone(),
            kind: c.kind,
            system: c.system,
        })
    }

    /// The table of a relation target, given by name or id.
    pub fn table_of(&self, id_or_name: &str) -> Option<String> {
        self.get(id_or_name).map(|c| c.name.clone())
    }

    /// Names of the other collections with a relation to `target`.
    pub fn referencing(&self, target: &Collection) -> Vec<String> {
        self.list
            .iter()
            .filter(|c| c.id != target.id)
            .filter(|c| {
                c.fields.iter().any(|f| match &f.kind {
                    FieldKind::Relation(r) => {
                        self.get(&r.collection).is_some_and(|t| t.id == target.id)
                    }
                    _ => false,
                })
            })
            .map(|c| c.name.clone())
            .collect()
    }
}

/// The current snapshot, swappable.
pub struct Registry(ArcSwap<Snapshot>);

impl Registry {
    pub fn new(snapshot: Snapshot) -> Self {
        Self(ArcSwap::from_pointee(snapshot))
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }

    /// Install `next` unless a newer snapshot is already in place (two changes can commit
    /// in one order and be installed in the other).
    pub fn install(&self, next: Snapshot) {
        let next = Arc::new(next);
        self.0.rcu(|current| {
            if current.version > next.version {
                current.clone()
            } else {
                next.clone()
            }
        });
    }
}
