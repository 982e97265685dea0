use super::tests_support::*;
use super::*;
use crate::query::eval::{evaluate, Target};
use crate::query::parse;
use proptest::prelude::*;

fn operand() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("title".to_owned()),
        Just("views".to_owned()),
        Just("published".to_owned()),
        Just("tags".to_owned()),
        Just("tags:each".to_owned()),
        Just("tags:length".to_owned()),
        Just("meta.k.0".to_owned()),
        Just("meta.k".to_owned()),
        Just("meta".to_owned()),
        Just("due".to_owned()),
        Just("extra".to_owned()),
        Just("extra.a".to_owned()),
        Just("author".to_owned()),
        Just("author.id".to_owned()),
        Just("created".to_owned()),
        Just("id".to_owned()),
        Just("title:lower".to_owned()),
        Just("@request.body.title".to_owned()),
        Just("@request.body.tags:each".to_owned()),
        Just("@request.body.views:isset".to_owned()),
        Just("@request.body.title:changed".to_owned()),
        Just("@request.auth.id".to_owned()),
        prop::sample::select(vec![
            "''",
            "'a'",
            "'b'",
            "'Hello World'",
            "'hello'",
            "'%'",
            "'Hel%'",
            "'_'",
            "'10'",
            "'c'",
            "'2025'",
            "'alice0000000000'"
        ])
        .prop_map(str::to_owned),
        prop::sample::select(vec!["-1", "0", "1", "2", "10", "1.5", "600", "10.0"])
            .prop_map(str::to_owned),
        prop::sample::select(vec!["true", "false", "null"]).prop_map(str::to_owned),
    ]
}

fn comparison() -> impl Strategy<Value = String> {
    let ops = prop::sample::select(vec![
        "=", "!=", ">", ">=", "<", "<=", "~", "!~", "?=", "?!=", "?>", "?>=", "?<", "?<=", "?~",
        "?!~",
    ]);
    (operand(), ops, operand()).prop_map(|(l, o, r)| format!("{l} {o} {r}"))
}

fn expression() -> impl Strategy<Value = String> {
    comparison().prop_recursive(3, 12, 2, |inner| {
        (inner.clone(), prop::sample::select(vec!["&&", "||"]), inner)
            .prop_map(|(a, op, b)| format!("({a} {op} {b})"))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn sql_and_memory_agree(expr in expression()) {
        let (conn, snap, rows) = shared();
        let request = request(snap);
        let parsed = parse(&expr).unwrap();
        let posts = snap.get("posts").unwrap();
        let scope = Scope { snapshot: snap, collection: posts, mode: Mode::Rule, request: &request, alias: "_m" };
        let compiled = compile_where(&parsed, &scope).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let sql = format!("SELECT _m.id FROM posts AS _m WHERE {} ORDER BY _m.id", compiled.sql);
        let mut stmt = conn.prepare(&sql).unwrap();
        let from_sql: Vec<String> = stmt
            .query_map(rusqlite::params_from_iter(compiled.params.iter()), |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{expr}\n{sql}\n{:?}\n{e}", compiled.params));
        let mut from_memory = Vec::new();
        for (id, record) in rows {
            let target = Target { collection: posts, record, request: &request, mode: Mode::Rule };
            if evaluate(&parsed, &target).unwrap_or_else(|e| panic!("{expr}: {e}")) {
                from_memory.push(id.clone());
            }
        }
        prop_assert_eq!(from_sql, from_memory, "{}\n{}", expr, sql);
    }
}
