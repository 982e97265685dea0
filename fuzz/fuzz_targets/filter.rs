//! Fuzz the filter parser, checker, SQL compiler and in-memory evaluator: whatever the
//! input, they answer Ok or Err and never panic, overflow the stack or loop.
#![no_main]

use std::sync::OnceLock;

use keelbase::query::{compile_sort, compile_where, evaluate, parse, Mode, RequestInfo, Scope, Target};
use keelbase::schema::collection::{compile, Definition};
use keelbase::schema::Snapshot;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fn snapshot() -> &'static Snapshot {
    static S: OnceLock<Snapshot> = OnceLock::new();
    S.get_or_init(|| {
        let body = json!({"name": "posts", "listRule": "", "schema": {"type": "object", "properties": {
            "title": {"type": "string"}, "views": {"type": "integer"}, "tags": {"type": "array"},
            "meta": {"type": "object"}, "parent": {"type": "string", "x-relation": {"collection": "posts"}},
            "secret": {"type": "string", "x-hidden": true}
        }}});
        let c = compile(
            Definition { body: body.as_object().unwrap(), existing: None, system: false, now: "", trusted: false },
            &|_| None,
        )
        .expect("fixture compiles");
        Snapshot::from_collections(1, [c])
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let snap = snapshot();
    let posts = snap.get("posts").unwrap();
    for superuser in [false, true] {
        let request = RequestInfo { superuser, ..Default::default() };
        for mode in [Mode::Filter, Mode::Rule, Mode::Index] {
            let scope = Scope { snapshot: snap, collection: posts, mode, request: &request, alias: "_m" };
            let _ = compile_sort(text, &scope);
            if let Ok(expr) = parse(text) {
                let _ = compile_where(&expr, &scope);
                let record = json!({"id": "x", "title": "t", "views": 1, "tags": ["a"], "meta": {"a": [1]}});
                let target = Target { collection: posts, record: record.as_object().unwrap(), request: &request, mode };
                let _ = evaluate(&expr, &target);
            }
        }
    }
});
