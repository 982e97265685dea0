//! Collection migration files: every collection change made through the API is also
//! written as one JSON file, so a schema made on a laptop replays on a server
//! (`keelbase migrate up`).
//!
//! A file is `{"keelbase": 1, "action": "create" | "update" | "delete" | "import", …}`
//! named `<unix seconds>_<registry version>_<action>_<collection>.json`; names sort in
//! the order the changes were made. Token secrets are never written.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// Format version of the files.
pub const FORMAT: u64 = 1;

/// One collection change, as recorded.
#[derive(Clone, Debug)]
pub struct Record {
    pub action: &'static str,
    /// Collection name for the file name (`snapshot` for imports).
    pub label: String,
    pub body: Value,
}

impl Record {
    pub fn new(action: &'static str, label: &str, mut body: Value) -> Self {
        body["keelbase"] = json!(FORMAT);
        body["action"] = json!(action);
        Self {
            action,
            label: label.to_owned(),
            body,
        }
    }

    pub fn file_name(&self, version: u64) -> String {
        let label: String = self
            .label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!(
            "{}_{version:06}_{}_{label}.json",
            chrono::Utc::now().timestamp(),
            self.action
        )
    }
}

/// Write `record` as `dir/name`, atomically (temp file, fsync, rename).
pub fn write(dir: &Path, name: &str, record: &Record) -> std::io::Result<PathBuf> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(
        serde_json::to_string_pretty(&record.body)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The migration files of `dir`, sorted by name (the order they were made).
pub fn list(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    names.sort();
    Ok(names)
}
