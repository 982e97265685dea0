//! Keeping a collection's table in step with its definition.
//!
//! All of this runs inside one transaction on the writer, with foreign keys off (see
//! `Db::write_exclusive`) so a rebuild can drop and recreate a table that others reference
//! without cascading; each change ends with `PRAGMA foreign_key_check` on what it touched.
//!
//! - create: `CREATE TABLE … STRICT`, system indexes (created, auth email/tokenKey, one per
//!   single-relation column), the declared indexes, and on auth tables a delete trigger
//!   that drops the record's OAuth2 links.
//! - update: rename the table (references in other tables follow), rename columns in place
//!   when that is all that changed, otherwise rebuild: copy every row into a new table,
//!   converting and validating each changed value in Rust. Any row that cannot follow the
//!   change stops it: nothing is applied, and up to 10 offending ids are named.
//!
//! The parts: `tables` (columns, CREATE/DROP TABLE), `indexes` (system and declared),
//! `triggers` (the system delete triggers), `migrate` (an update: renames, row checks,
//! rebuilds), `views` (view collections: the query check and schema inference).

mod indexes;
mod migrate;
mod tables;
mod triggers;
mod views;

pub use migrate::update;
pub use tables::{create, drop_table, truncate};
pub use triggers::{ensure_triggers, has_triggers};
pub use views::{check_views, create_view, drop_view, infer_view_schema};

use super::collection::{Collection, IndexDef};
use super::SchemaError;

/// Resolves a relation target (collection name or id) to its table name.
pub type TargetTable<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Compiles an index's `where` filter to SQL over unqualified columns (the query
/// compiler lives above this module and is passed in).
pub type IndexWhere<'a> = &'a dyn Fn(&Collection, &IndexDef) -> Result<Option<String>, SchemaError>;

/// Most offending record ids named in an error.
const MAX_IDS: usize = 10;
