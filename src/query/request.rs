//! What `@request.*` resolves to: the caller, the submitted body, query and headers.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::schema::Collection;

/// The authenticated record of a request.
#[derive(Clone, Debug)]
pub struct AuthRecord {
    pub collection: Arc<Collection>,
    /// The record as JSON (every field, hidden ones included; never sent anywhere).
    pub record: Map<String, Value>,
}

/// The request as API rules see it.
#[derive(Clone, Debug, Default)]
pub struct RequestInfo {
    pub auth: Option<AuthRecord>,
    /// `true` when the caller is a superuser (rules are then bypassed by the caller).
    pub superuser: bool,
    pub method: String,
    /// `default`, `oauth2`, `otp`, `password`, `realtime`, `protectedFile`, `batch`, `expand`.
    pub context: String,
    /// First value of each query parameter.
    pub query: Vec<(String, String)>,
    /// Header names normalised to snake_case lowercase (`X-Token` → `x_token`).
    pub headers: Vec<(String, String)>,
    /// The submitted body, after multipart inference and modifiers.
    pub body: Map<String, Value>,
}

impl RequestInfo {
    /// A header name as `@request.headers.<name>` spells it.
    pub fn normalize_header(name: &str) -> String {
        name.to_ascii_lowercase().replace('-', "_")
    }

    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}
