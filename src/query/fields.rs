//! The `fields` picker: keep only the named keys of a JSON value (API.md §1.7), for
//! every 2xx JSON response and for realtime event records. Pure: no HTTP here.
//!
//! `fields=id,title,expand.author.name,body:excerpt(200,true),*`

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Default, Debug, PartialEq)]
struct Node {
    all: bool,
    children: BTreeMap<String, Node>,
    excerpt: Option<(usize, bool)>,
}

fn parse_excerpt(modifier: &str) -> Option<(usize, bool)> {
    let args = modifier.strip_prefix("excerpt(")?.strip_suffix(')')?;
    let mut parts = args.split(',').map(str::trim);
    let max = parts.next()?.parse().ok()?;
    let ellipsis = matches!(parts.next(), Some("true" | "1" | "t"));
    Some((max, ellipsis))
}

/// Parse a `fields` list; `None` when it is empty.
fn parse(fields: &str) -> Option<Node> {
    let mut root = Node::default();
    let mut any = false;
    // Split on commas outside parentheses (excerpt arguments contain commas).
    let mut depth = 0;
    let mut start = 0;
    let mut items = Vec::new();
    for (i, c) in fields.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&fields[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&fields[start..]);
    for item in items.into_iter().map(str::trim).filter(|s| !s.is_empty()) {
        any = true;
        let (path, excerpt) = match item.split_once(':') {
            Some((p, m)) => (p, parse_excerpt(m)),
            None => (item, None),
        };
        let mut node = &mut root;
        let segments: Vec<&str> = path.split('.').collect();
        for (i, seg) in segments.iter().enumerate() {
            if *seg == "*" {
                node.all = true;
                break;
            }
            node = node.children.entry((*seg).to_owned()).or_default();
            if i == segments.len() - 1 {
                node.excerpt = excerpt;
            }
        }
    }
    any.then_some(root)
}

/// Strip HTML tags, collapse whitespace and cut to `max` characters.
pub fn excerpt(html: &str, max: usize, ellipsis: bool) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= max {
        return collapsed;
    }
    let mut cut: String = collapsed
        .chars()
        .take(max)
        .collect::<String>()
        .trim_end()
        .to_owned();
    if ellipsis {
        cut.push_str("...");
    }
    cut
}

fn apply(node: &Node, value: &mut Value) {
    if let Some((max, ellipsis)) = node.excerpt {
        if let Value::String(s) = value {
            *s = excerpt(s, max, ellipsis);
        }
        return;
    }
    if node.children.is_empty() && !node.all {
        return;
    }
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| apply(node, v)),
        Value::Object(map) => {
            map.retain(|k, _| node.all || node.children.contains_key(k));
            for (k, child) in &node.children {
                if let Some(v) = map.get_mut(k) {
                    apply(child, v);
                }
            }
        }
        _ => {}
    }
}

/// Apply `fields` to a response body: list results per item, anything else whole.
pub fn pick(fields: &str, body: &mut Value) {
    let Some(node) = parse(fields) else { return };
    let is_list = body.get("items").is_some_and(Value::is_array) && body.get("page").is_some();
    if is_list {
        if let Some(items) = body.get_mut("items") {
            apply(&node, items);
        }
    } else {
        apply(&node, body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn picks_keys_paths_stars_and_excerpts() {
        let mut v = json!({"id": "1", "title": "T", "body": "<p>Hello <b>big</b> world</p>", "expand": {"author": {"name": "A", "email": "e"}}});
        pick("id,expand.author.name", &mut v);
        assert_eq!(v, json!({"id": "1", "expand": {"author": {"name": "A"}}}));
        let mut v = json!({"id": "1", "title": "T", "body": "<p>Hello <b>big</b> world</p>"});
        pick("body:excerpt(9,true),*", &mut v);
        assert_eq!(v, json!({"id": "1", "title": "T", "body": "Hello big..."}));
        let mut list = json!({"page": 1, "perPage": 30, "totalItems": 1, "totalPages": 1, "items": [{"id": "1", "x": 2}]});
        pick("id", &mut list);
        assert_eq!(list["items"], json!([{"id": "1"}]));
        assert_eq!(list["perPage"], 30, "the envelope stays");
        let mut auth = json!({"token": "t", "record": {"id": "1", "email": "e"}});
        pick("token,record.id", &mut auth);
        assert_eq!(auth, json!({"token": "t", "record": {"id": "1"}}));
        let mut same = json!({"a": 1});
        pick(" , ", &mut same);
        assert_eq!(same, json!({"a": 1}), "an empty list changes nothing");
    }
}
