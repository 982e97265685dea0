use super::*;
use crate::query::{parse, RequestInfo};
use crate::schema::collection::{compile as compile_collection, CollectionRef, Definition};
use crate::schema::quote_ident as q;
use rusqlite::Connection;
use serde_json::json;

pub(super) fn fixture_pub() -> (Connection, Snapshot) {
    fixture()
}

/// users (auth), posts, comments, tags — tables created in memory, with data.
fn fixture() -> (Connection, Snapshot) {
    let conn = Connection::open_in_memory().unwrap();
    crate::query::functions::register(&conn).unwrap();
    fixture_on(conn)
}

fn fixture_on(conn: Connection) -> (Connection, Snapshot) {
    let defs = vec![
        json!({"id": "_pb_users_auth_", "name": "users", "type": "auth", "listRule": "id = @request.auth.id",
                   "schema": {"type": "object", "properties": {"name": {"type": "string"}, "secret": {"type": "string", "x-hidden": true}}}}),
        json!({"name": "tags", "listRule": "", "schema": {"type": "object", "properties": {"label": {"type": "string"}}}}),
        json!({"name": "posts", "listRule": "", "schema": {"type": "object", "properties": {
            "title": {"type": "string"}, "views": {"type": "integer"}, "published": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}}, "meta": {"type": "object"},
            "author": {"type": "string", "x-relation": {"collection": "users"}},
            "labels": {"type": "array", "items": {"type": "string"}, "x-relation": {"collection": "tags"}},
            "internal": {"type": "string", "x-hidden": true},
            "due": {"type": "string", "format": "date-time"}, "extra": {}
        }}}),
        json!({"name": "tasks", "schema": {"type": "object", "properties": {
            "title": {"type": "string"}, "priority": {"type": "integer"},
            "owner": {"type": "string", "x-relation": {"collection": "users"}}
        }}}),
        json!({"name": "comments", "listRule": "", "schema": {"type": "object", "properties": {
            "post": {"type": "string", "x-relation": {"collection": "posts"}},
            "message": {"type": "string"},
            "user": {"type": "string", "x-relation": {"collection": "users"}}
        }}}),
    ];
    let mut compiled: Vec<Collection> = Vec::new();
    for d in defs {
        let refs: Vec<CollectionRef> = compiled
            .iter()
            .map(|c| CollectionRef {
                id: c.id.clone(),
                name: c.name.clone(),
                kind: c.kind,
                system: false,
            })
            .collect();
        let resolve = |k: &str| refs.iter().find(|r| r.id == k || r.name == k).cloned();
        let body = d.as_object().unwrap();
        let c = compile_collection(
            Definition {
                body,
                existing: None,
                system: false,
                now: "2026-01-01 00:00:00.000Z",
                trusted: false,
            },
            &resolve,
        )
        .unwrap();
        let names: Vec<(String, String)> = compiled
            .iter()
            .map(|c| (c.id.clone(), c.name.clone()))
            .collect();
        let table_of = |k: &str| {
            names
                .iter()
                .find(|(id, n)| id == k || n == k)
                .map(|(_, n)| n.clone())
        };
        crate::schema::ddl::create(&conn, &c, &table_of, &|_, _| Ok(None)).unwrap();
        compiled.push(c);
    }
    conn.execute_batch(
            r#"
            INSERT INTO users (id, email, emailVisibility, name, secret, tokenKey) VALUES
                ('alice0000000000', 'alice@example.com', 1, 'Alice', 's1', 'k1'),
                ('bob000000000000', 'bob@example.com', 0, 'Bob', 's2', 'k2');
            INSERT INTO tags (id, label) VALUES ('tagred000000000', 'red'), ('tagblue00000000', 'blue');
            INSERT INTO posts (id, title, views, published, tags, meta, author, labels, internal, created) VALUES
                ('p1', 'Hello World', 10, 1, '["a","b"]', '{"k":[1,2]}', 'alice0000000000', '["tagred000000000","tagblue00000000"]', 'x', '2024-01-01 00:00:00.000Z'),
                ('p2', 'Second_post', 600, 0, '["c"]', 'null', 'bob000000000000', '["tagred000000000"]', '', '2025-06-01 00:00:00.000Z'),
                ('p3', '100% sure', 0, 1, '[]', 'null', NULL, '[]', '', '2026-01-01 00:00:00.000Z');
            INSERT INTO tasks (id, title, priority, owner) VALUES
                ('t1', 'mine', 3, 'alice0000000000'),
                ('t2', 'theirs', 9, 'bob000000000000');
            INSERT INTO comments (id, post, message, user) VALUES
                ('c1', 'p1', 'first comment', 'alice0000000000'),
                ('c2', 'p1', 'second comment', 'bob000000000000'),
                ('c3', 'p2', 'third', 'alice0000000000');
            "#,
        )
        .unwrap();
    (conn, Snapshot::from_collections(1, compiled))
}

fn guest() -> RequestInfo {
    RequestInfo {
        method: "GET".into(),
        context: "default".into(),
        ..Default::default()
    }
}

fn superuser() -> RequestInfo {
    RequestInfo {
        superuser: true,
        ..guest()
    }
}

fn compile_for(
    snapshot: &Snapshot,
    collection: &str,
    filter: &str,
    mode: Mode,
    req: &RequestInfo,
) -> Result<Compiled, QueryError> {
    let c = snapshot.get(collection).unwrap();
    let expr = parse(filter)?;
    compile_where(
        &expr,
        &Scope {
            snapshot,
            collection: c,
            mode,
            request: req,
            alias: "_m",
        },
    )
}

/// Ids of `collection` rows matching `filter`.
fn ids(
    conn: &Connection,
    snapshot: &Snapshot,
    collection: &str,
    filter: &str,
    req: &RequestInfo,
) -> Vec<String> {
    let w = compile_for(snapshot, collection, filter, Mode::Filter, req)
        .unwrap_or_else(|e| panic!("{filter}: {e}"));
    let sql = format!(
        "SELECT _m.id FROM {} AS _m WHERE {} ORDER BY _m.id",
        q(collection),
        w.sql
    );
    let mut stmt = conn
        .prepare(&sql)
        .unwrap_or_else(|e| panic!("{filter}\n{sql}\n{e}"));
    stmt.query_map(rusqlite::params_from_iter(w.params.iter()), |r| r.get(0))
        .unwrap()
        .collect::<Result<Vec<String>, _>>()
        .unwrap()
}

#[test]
fn compiles_to_exact_sql_with_bound_values() {
    let (_, snap) = fixture();
    let c = compile_for(
        &snap,
        "posts",
        "title = 'x' && (views > 5 || published = true)",
        Mode::Filter,
        &guest(),
    )
    .unwrap();
    assert_eq!(
        c.sql,
        r#"((_m."title" = ?) AND ((_m."views" > ?) OR (_m."published" = ?)))"#
    );
    assert_eq!(
        c.params,
        vec![
            SqlValue::Text("x".into()),
            SqlValue::Integer(5),
            SqlValue::Integer(1)
        ]
    );
    let c = compile_for(&snap, "posts", "author = ''", Mode::Filter, &guest()).unwrap();
    assert_eq!(
        c.sql, r#"(COALESCE(_m."author", '') = COALESCE(?, ''))"#,
        "nullable relation: '' and NULL are equal"
    );
    let c = compile_for(&snap, "posts", "title ~ 'a_b%'", Mode::Filter, &guest()).unwrap();
    assert_eq!(
        c.params,
        vec![SqlValue::Text("a_b%".into())],
        "a % makes it a raw pattern"
    );
    let c = compile_for(&snap, "posts", "title ~ 'a_b'", Mode::Filter, &guest()).unwrap();
    assert_eq!(c.sql, r#"(_m."title" LIKE ? ESCAPE '\')"#);
    assert_eq!(c.params, vec![SqlValue::Text("%a\\_b%".into())]);
}

#[test]
fn pocketbase_semantics_on_real_rows() {
    let (conn, snap) = fixture();
    let g = guest();
    let cases: &[(&str, &str, &[&str])] = &[
        ("posts", "title = 'hello world'", &[]),
        ("posts", "title = 'Hello World'", &["p1"]),
        ("posts", "title ~ 'hello'", &["p1"]),
        ("posts", "title ~ 'Hel%'", &["p1"]),
        ("posts", "title ~ '_post'", &["p2"]),
        ("posts", "title ~ '100%'", &["p3"]),
        ("posts", "title !~ 'o'", &["p3"]),
        ("posts", "author = ''", &["p3"]),
        ("posts", "author = null", &["p3"]),
        // An unset date is both null and ""; a JSON null (or unset) object is null.
        (
            "posts",
            "due = null && due = '' && meta = null",
            &["p2", "p3"],
        ),
        ("posts", "due != null", &[]),
        ("posts", "meta = null", &["p2", "p3"]),
        ("posts", "meta != null", &["p1"]),
        ("posts", "meta.k = null", &["p2", "p3"]),
        ("posts", "extra = null", &["p1", "p2", "p3"]),
        ("posts", "author != ''", &["p1", "p2"]),
        ("posts", "published = true", &["p1", "p3"]),
        ("posts", "published = false && views > 500", &["p2"]),
        (
            "posts",
            "views >= 10 || title = '100% sure'",
            &["p1", "p2", "p3"],
        ),
        ("posts", "created > '2025'", &["p2", "p3"]),
        ("posts", "tags ?= 'c'", &[]),
        ("posts", "tags:each ?= 'c'", &["p2"]),
        ("posts", "tags:each = 'c'", &["p2"]),
        ("posts", "tags:length = 2", &["p1"]),
        ("posts", "tags ~ 'c'", &["p2"]),
        ("posts", "meta.k.1 = 2", &["p1"]),
        ("posts", "meta.k = '[1,2]'", &["p1"]),
        ("posts", "labels.label ?= 'blue'", &["p1"]),
        ("posts", "labels.label = 'red'", &["p2"]),
        ("posts", "labels:length > 0", &["p1", "p2"]),
        ("posts", "labels.id ?= 'tagblue00000000'", &["p1"]),
        ("posts", "comments_via_post.message ~ 'comment'", &["p1"]),
        (
            "posts",
            "comments_via_post.message != 'zzz'",
            &["p1", "p2", "p3"],
        ),
        ("posts", "comments_via_post.message = ''", &["p3"]),
        ("posts", "comments_via_post.message ?~ 'second'", &["p1"]),
        ("posts", "title:lower = 'hello world'", &["p1"]),
        // SQLite propagates the constant into the JSON function: must not error.
        (
            "posts",
            "tags = 'x' && tags:length > 0 && meta.k = 'y' && meta.k.0 = 1",
            &[],
        ),
        (
            "posts",
            "geoDistance(23.5, 42.1, 23.5, 43.1) > 111 && geoDistance(0, 0, 0, 1) < 112",
            &["p1", "p2", "p3"],
        ),
        ("posts", "strftime('%Y', created) = '2025'", &["p2"]),
        ("comments", "post.title ~ 'Second'", &["c3"]),
        ("comments", "post.author.id = 'bob000000000000'", &["c3"]),
        ("comments", "post.views > 5 && message ~ 'first'", &["c1"]),
    ];
    for (collection, filter, expected) in cases {
        assert_eq!(
            ids(&conn, &snap, collection, filter, &g),
            *expected,
            "{collection}: {filter}"
        );
    }
    // Relation paths in client filters follow the related listRule: a guest cannot see users.
    assert!(ids(&conn, &snap, "comments", "post.author.name = 'Alice'", &g).is_empty());
    let alice = RequestInfo {
        auth: Some(crate::query::AuthRecord {
            collection: snap.get("users").unwrap().clone(),
            record: json!({"id": "alice0000000000", "name": "Alice"})
                .as_object()
                .unwrap()
                .clone(),
        }),
        ..guest()
    };
    assert_eq!(
        ids(
            &conn,
            &snap,
            "comments",
            "post.author.name = 'Alice'",
            &alice
        ),
        ["c1", "c2"]
    );
    assert_eq!(
        ids(
            &conn,
            &snap,
            "comments",
            "post.author.name = 'Alice'",
            &superuser()
        ),
        ["c1", "c2"]
    );
    // @collection joins are shared per alias: the same comment must match both.
    let su = superuser();
    assert_eq!(
        ids(
            &conn,
            &snap,
            "posts",
            "@collection.comments.post ?= id && @collection.comments.message ?= 'third'",
            &su
        ),
        ["p2"]
    );
    assert_eq!(
        ids(
            &conn,
            &snap,
            "posts",
            "@collection.comments:a.post ?= id && @collection.comments:b.message ?= 'third'",
            &su
        ),
        ["p1", "p2"],
        "independent aliases"
    );
    // Emails are matched only where visible, for non-superusers.
    assert_eq!(
        ids(&conn, &snap, "users", "email = 'bob@example.com'", &su),
        ["bob000000000000"]
    );
    assert_eq!(
        ids(
            &conn,
            &snap,
            "users",
            "email = 'bob@example.com' || email = 'alice@example.com'",
            &alice
        ),
        ["alice0000000000"],
        "Bob's email is hidden, Alice's is visible"
    );
}

#[test]
fn rules_see_the_request() {
    let (conn, snap) = fixture();
    let users = snap.get("users").unwrap().clone();
    let req = RequestInfo {
        auth: Some(crate::query::AuthRecord {
            collection: users,
            record: json!({"id": "alice0000000000", "name": "Alice", "verified": false})
                .as_object()
                .unwrap()
                .clone(),
        }),
        method: "PATCH".into(),
        headers: vec![("x_token".into(), "abc".into())],
        query: vec![("secret".into(), "1".into())],
        body: json!({"title": "Hello World", "views": 3, "tags": ["a", "z"]})
            .as_object()
            .unwrap()
            .clone(),
        ..guest()
    };
    let run = |rule: &str| -> Vec<String> {
        let w = compile_for(&snap, "posts", rule, Mode::Rule, &req)
            .unwrap_or_else(|e| panic!("{rule}: {e}"));
        let sql = format!(
            "SELECT _m.id FROM posts AS _m WHERE {} ORDER BY _m.id",
            w.sql
        );
        let mut stmt = conn
            .prepare(&sql)
            .unwrap_or_else(|e| panic!("{rule}: {sql}: {e}"));
        stmt.query_map(rusqlite::params_from_iter(w.params.iter()), |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(run("author = @request.auth.id"), ["p1"]);
    assert_eq!(
        run("@request.auth.id != '' && @request.method = 'PATCH'"),
        ["p1", "p2", "p3"]
    );
    assert_eq!(
        run("@request.headers.x_token = 'abc' && @request.query.secret = '1'").len(),
        3
    );
    assert_eq!(run("@request.body.title:changed = false"), ["p1"]);
    assert_eq!(
        run("@request.body.views:isset = true && @request.body.nope:isset = false").len(),
        3
    );
    assert_eq!(
        run("@request.body.tags:length = 2 && @request.body.tags:each ?= 'z'").len(),
        3
    );
    assert_eq!(
        run("@request.body.tags:each = 'a'").len(),
        0,
        "all submitted tags must equal 'a'"
    );
    assert_eq!(run("internal = 'x'"), ["p1"], "rules may use hidden fields");
    assert_eq!(
        run("@request.auth.verified = false && @request.auth.collectionName = 'users'").len(),
        3
    );
    assert_eq!(run("created <= @now && created >= @yearStart").len(), 1);
    assert_eq!(
        run("@request.auth.name = 'Alice'").len(),
        3,
        "a non-static auth field, from the record"
    );
    let with_author = RequestInfo {
        body:
            json!({"author": "bob000000000000", "labels": ["tagred000000000", "tagblue00000000"]})
                .as_object()
                .unwrap()
                .clone(),
        ..req.clone()
    };
    let run_with = |rule: &str, r: &RequestInfo| -> usize {
        let w = compile_for(&snap, "posts", rule, Mode::Rule, r)
            .unwrap_or_else(|e| panic!("{rule}: {e}"));
        let sql = format!("SELECT count(*) FROM posts AS _m WHERE {}", w.sql);
        conn.query_row(&sql, rusqlite::params_from_iter(w.params.iter()), |r| {
            r.get::<_, i64>(0)
        })
        .unwrap() as usize
    };
    assert_eq!(
        run_with("@request.body.author.name = 'Bob'", &with_author),
        3
    );
    assert_eq!(
        run_with("@request.body.author.name = 'Alice'", &with_author),
        0
    );
    assert_eq!(
        run_with("@request.body.labels.label ?= 'blue'", &with_author),
        3
    );
    assert_eq!(
        run_with("@request.body.labels.label = 'red'", &with_author),
        0,
        "all labels must be red"
    );
    assert_eq!(
        run_with("@request.auth.email ~ 'alice'", &with_author),
        0,
        "the record given has no email"
    );
}

/// The rule examples of API.md §4, on a tasks table (owner, priority) and comments.
#[test]
fn the_documented_rule_examples() {
    let (conn, snap) = fixture();
    let tasks = snap.get("tasks").unwrap().clone();
    let as_alice = |method: &str,
                    body: serde_json::Value,
                    headers: Vec<(String, String)>,
                    query: Vec<(String, String)>| RequestInfo {
        auth: Some(crate::query::AuthRecord {
            collection: snap.get("users").unwrap().clone(),
            record: json!({"id": "alice0000000000"})
                .as_object()
                .unwrap()
                .clone(),
        }),
        method: method.into(),
        headers,
        query,
        body: body.as_object().unwrap().clone(),
        ..guest()
    };
    let rows = |rule: &str, req: &RequestInfo| -> Vec<String> {
        let w = compile_where(
            &parse(rule).unwrap(),
            &Scope {
                snapshot: &snap,
                collection: &tasks,
                mode: Mode::Rule,
                request: req,
                alias: "_m",
            },
        )
        .unwrap_or_else(|e| panic!("{rule}: {e}"));
        let sql = format!(
            "SELECT _m.id FROM tasks AS _m WHERE {} ORDER BY _m.id",
            w.sql
        );
        let mut stmt = conn.prepare(&sql).unwrap();
        stmt.query_map(rusqlite::params_from_iter(w.params.iter()), |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    // createRule, checked on the record as it would be saved.
    let create = "@request.auth.id != '' && owner = @request.auth.id && (@request.body.priority:isset = false || @request.body.priority <= 5)";
    let allowed = |body: serde_json::Value, req: &RequestInfo| -> bool {
        let row = virtual_row(&tasks, body.as_object().unwrap());
        let w = compile_where(
            &parse(create).unwrap(),
            &Scope {
                snapshot: &snap,
                collection: &tasks,
                mode: Mode::Rule,
                request: req,
                alias: "_m",
            },
        )
        .unwrap();
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM ({}) AS _m WHERE {})",
            row.sql, w.sql
        );
        let params: Vec<SqlValue> = row.params.into_iter().chain(w.params).collect();
        conn.query_row(&sql, rusqlite::params_from_iter(params.iter()), |r| {
            r.get::<_, bool>(0)
        })
        .unwrap()
    };
    let mine = json!({"id": "new", "title": "x", "owner": "alice0000000000", "priority": 4});
    assert!(allowed(
        mine.clone(),
        &as_alice("POST", mine.clone(), vec![], vec![])
    ));
    let high = json!({"id": "new", "owner": "alice0000000000", "priority": 8});
    assert!(!allowed(
        high.clone(),
        &as_alice("POST", high, vec![], vec![])
    ));
    let others = json!({"id": "new", "owner": "bob000000000000"});
    assert!(!allowed(
        others.clone(),
        &as_alice("POST", others, vec![], vec![])
    ));
    assert!(!allowed(mine.clone(), &guest()), "guests are refused");
    // updateRule: the stored row, with @request.body.
    let update = "owner = @request.auth.id && @request.body.owner:changed = false";
    assert_eq!(
        rows(
            update,
            &as_alice("PATCH", json!({"title": "y"}), vec![], vec![])
        ),
        ["t1"]
    );
    assert_eq!(
        rows(
            update,
            &as_alice("PATCH", json!({"owner": "alice0000000000"}), vec![], vec![])
        ),
        ["t1"]
    );
    assert!(rows(
        update,
        &as_alice("PATCH", json!({"owner": "bob000000000000"}), vec![], vec![])
    )
    .is_empty());
    // listRule and viewRule with headers and query.
    let list = "@request.headers.x_token = 'abc' || owner = @request.auth.id";
    assert_eq!(
        rows(
            list,
            &as_alice(
                "GET",
                json!({}),
                vec![("x_token".into(), "abc".into())],
                vec![]
            )
        ),
        ["t1", "t2"]
    );
    assert_eq!(
        rows(list, &as_alice("GET", json!({}), vec![], vec![])),
        ["t1"]
    );
    assert_eq!(
        rows(
            "@request.query.secret = '1'",
            &as_alice(
                "GET",
                json!({}),
                vec![],
                vec![("secret".into(), "1".into())]
            )
        )
        .len(),
        2
    );
    // deleteRule with @collection: alice commented (c1, c3), so she may delete her own task.
    let delete = "@request.method = 'DELETE' && owner = @request.auth.id && @collection.comments.user ?= @request.auth.id";
    assert_eq!(
        rows(delete, &as_alice("DELETE", json!({}), vec![], vec![])),
        ["t1"]
    );
    assert!(rows(delete, &as_alice("GET", json!({}), vec![], vec![])).is_empty());
}

/// Doubling the input doubles the output: compile work is linear in the expression.
#[test]
fn compiled_size_grows_linearly() {
    let (_, snap) = fixture();
    let posts = snap.get("posts").unwrap();
    let mut last = 0usize;
    // Built as a tree directly: the parser's length and leaf limits would stop the
    // larger inputs before the compiler sees them.
    let term = parse("(title = 'v' || tags:each ?= 'x')").unwrap();
    for n in [25, 50, 100, 200, 400] {
        let mut expr = term.clone();
        for _ in 1..n {
            expr = Expr::And(Box::new(expr), Box::new(term.clone()));
        }
        let c = compile_where(
            &expr,
            &Scope {
                snapshot: &snap,
                collection: posts,
                mode: Mode::Filter,
                request: &guest(),
                alias: "_m",
            },
        )
        .unwrap();
        let size = c.sql.len() + c.params.len();
        if last > 0 {
            let ratio = size as f64 / last as f64;
            assert!(
                (1.8..2.3).contains(&ratio),
                "n={n}: {last} → {size} ({ratio:.2})"
            );
        }
        last = size;
    }
    assert!(last > 0);
}

#[test]
fn client_filters_are_checked() {
    let (_, snap) = fixture();
    let g = guest();
    let e = compile_for(&snap, "posts", "nope = 1", Mode::Filter, &g).unwrap_err();
    assert_eq!((e.span.start, e.span.end), (0, 4));
    assert!(e.message.contains("nope"));
    assert!(
        compile_for(&snap, "posts", "internal = 'x'", Mode::Filter, &g).is_err(),
        "hidden"
    );
    assert!(compile_for(&snap, "posts", "internal = 'x'", Mode::Filter, &superuser()).is_ok());
    assert!(compile_for(&snap, "posts", "password = 'x'", Mode::Filter, &superuser()).is_err());
    assert!(compile_for(&snap, "users", "tokenKey = 'x'", Mode::Filter, &superuser()).is_err());
    let e = compile_for(&snap, "posts", "@request.auth.id != ''", Mode::Filter, &g).unwrap_err();
    assert!(e.forbidden && e.message.contains("@request"));
    let e = compile_for(
        &snap,
        "posts",
        "@collection.comments.post ?= id",
        Mode::Filter,
        &g,
    )
    .unwrap_err();
    assert!(e.forbidden);
    assert!(compile_for(
        &snap,
        "posts",
        "comments_via_post:length > 1",
        Mode::Filter,
        &g
    )
    .is_err());
    assert!(compile_for(&snap, "posts", "title:length > 1", Mode::Filter, &g).is_err());
    assert!(compile_for(&snap, "posts", "title:bogus = 1", Mode::Filter, &g).is_err());
    assert!(compile_for(&snap, "posts", "views.x = 1", Mode::Filter, &g).is_err());
    assert!(compile_for(&snap, "posts", "nope(1) = 1", Mode::Filter, &g).is_err());
    let deep = "author.id = '' && comments_via_post.post.comments_via_post.post.comments_via_post.post.comments_via_post.post.id = ''";
    assert!(compile_for(&snap, "posts", deep, Mode::Filter, &g)
        .unwrap_err()
        .message
        .contains("deep"));
}

#[test]
fn injection_attempts_stay_values() {
    let (conn, snap) = fixture();
    for evil in [
        "' OR 1=1 --",
        "\"; DROP TABLE posts; --",
        "%' OR '1'='1",
        "\u{0}",
        "a'b\"c\\d",
        "ß∂ƒ©˙∆",
        "9999999999999999999999999",
    ] {
        for template in ["title = '{}'", "title ~ '{}'", "meta.{} = 1"] {
            let filter = template.replace("{}", &evil.replace('\'', "\\'"));
            if let Ok(w) = compile_for(&snap, "posts", &filter, Mode::Filter, &guest()) {
                {
                    if !template.starts_with("meta") {
                        assert!(!w.sql.contains(evil), "{filter}: {}", w.sql);
                    }
                    let sql = format!("SELECT count(*) FROM posts AS _m WHERE {}", w.sql);
                    let n: i64 = conn
                        .query_row(&sql, rusqlite::params_from_iter(w.params.iter()), |r| {
                            r.get(0)
                        })
                        .unwrap_or_else(|e| panic!("{filter}: {e}"));
                    assert_eq!(n, 0, "{filter}");
                }
            }
        }
    }
    let n: i64 = conn
        .query_row("SELECT count(*) FROM posts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3);
}

#[test]
fn index_conditions_inline_literals_safely() {
    let (conn, snap) = fixture();
    let c = compile_for(
        &snap,
        "posts",
        "title != '' && title != 'it''s' && views > 1.5",
        Mode::Index,
        &guest(),
    );
    assert!(
        c.is_err(),
        "'' inside quotes is not an escape in this grammar"
    );
    let w = compile_for(
        &snap,
        "posts",
        r"title != '' && title != 'it\'s' && views > 1.5",
        Mode::Index,
        &guest(),
    )
    .unwrap();
    assert!(w.params.is_empty());
    assert_eq!(
        w.sql,
        r#"(((_m."title" != '') AND (_m."title" != 'it''s')) AND (_m."views" > 1.5))"#
    );
    conn.execute_batch(&format!(
        "CREATE INDEX t ON posts (title) WHERE {}",
        w.sql.replace("_m.", "")
    ))
    .unwrap();
    assert!(compile_for(&snap, "posts", "author.name = 'x'", Mode::Index, &guest()).is_err());
    assert!(compile_for(&snap, "posts", "created > @now", Mode::Index, &guest()).is_err());
}
