//! One subscription string as a client sent it: `topic` or `topic?options=<urlencoded JSON>`
//! (API.md §7.3). The whole string stays the SSE event name, byte for byte; the topic is
//! what events are matched on, and the options (`{"query":{…},"headers":{…}}`) are what a
//! record event's rule check will see as `@request.query.*` / `@request.headers.*`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

const OPTIONS_MARK: &str = "?options=";

/// `?options=` of a subscription, decoded. Values are cast to strings as PocketBase does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub query: BTreeMap<String, String>,
    /// Header names as sent; rule evaluation snake_cases them.
    pub headers: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    key: Arc<str>,
    topic_len: usize,
    /// `None`: the options suffix is not valid JSON of the expected shape. Topic-only
    /// deliveries (`@oauth2`) still match; record events must skip such a subscription.
    options: Option<Options>,
}

impl Subscription {
    pub fn parse(key: &str) -> Self {
        let (topic_len, options) = match key.find(OPTIONS_MARK) {
            None => (key.len(), Some(Options::default())),
            Some(at) => (at, parse_options(&key[at + OPTIONS_MARK.len()..])),
        };
        Self {
            key: Arc::from(key),
            topic_len,
            options,
        }
    }

    /// The string as the client sent it: the SSE event name of every delivery.
    pub fn key(&self) -> &Arc<str> {
        &self.key
    }

    /// The part before `?options=`.
    pub fn topic(&self) -> &str {
        &self.key[..self.topic_len]
    }

    pub fn options(&self) -> Option<&Options> {
        self.options.as_ref()
    }
}

/// Decode as Go's `url.QueryUnescape` (`+` is a space), then read the JSON object.
fn parse_options(raw: &str) -> Option<Options> {
    let spaced = raw.replace('+', " ");
    let text = percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()?;
    if text.trim().is_empty() {
        return Some(Options::default());
    }
    let Value::Object(mut object) = serde_json::from_str::<Value>(&text).ok()? else {
        return None;
    };
    let mut section = |name: &str| -> Option<BTreeMap<String, String>> {
        match object.remove(name) {
            None | Some(Value::Null) => Some(BTreeMap::new()),
            Some(Value::Object(map)) => Some(
                map.into_iter()
                    .map(|(k, v)| (k, cast_to_string(v)))
                    .collect(),
            ),
            Some(_) => None,
        }
    };
    Some(Options {
        query: section("query")?,
        headers: section("headers")?,
    })
}

fn cast_to_string(value: Value) -> String {
    match value {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_options_split_on_the_first_marker() {
        let s = Subscription::parse("posts/*");
        assert_eq!((s.topic(), &*s.key().clone()), ("posts/*", "posts/*"));
        assert_eq!(s.options(), Some(&Options::default()));

        // What the SDK sends: encodeURIComponent(JSON.stringify(...)).
        let key = "posts/ID?options=%7B%22query%22%3A%7B%22fields%22%3A%22id%2Ctitle%22%2C%22page%22%3A2%2C%22x%22%3Atrue%7D%2C%22headers%22%3A%7B%22X-Custom%22%3A%221%22%7D%7D";
        let s = Subscription::parse(key);
        assert_eq!(s.topic(), "posts/ID");
        assert_eq!(&**s.key(), key, "the key stays byte for byte");
        let o = s.options().unwrap();
        assert_eq!(o.query["fields"], "id,title");
        assert_eq!(o.query["page"], "2");
        assert_eq!(o.query["x"], "true");
        assert_eq!(o.headers["X-Custom"], "1");

        let s = Subscription::parse("@oauth2?options=%7B%7D");
        assert_eq!(s.topic(), "@oauth2");
        assert_eq!(s.options(), Some(&Options::default()));
        let s = Subscription::parse("a?options=%7B%22query%22%3A%7B%22q%22%3A%22a+b%22%7D%7D");
        assert_eq!(s.options().unwrap().query["q"], "a b");
    }

    #[test]
    fn malformed_options_keep_the_topic() {
        for key in [
            "t?options=nope",
            "t?options=%5B1%5D",
            "t?options=%7B%22query%22%3A1%7D",
            "t?options=%FF",
        ] {
            let s = Subscription::parse(key);
            assert_eq!(s.topic(), "t", "{key}");
            assert_eq!(s.options(), None, "{key}");
        }
        assert_eq!(Subscription::parse("").topic(), "");
        assert_eq!(Subscription::parse("?options=").topic(), "");
    }
}
