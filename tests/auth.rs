//! Auth records of user auth collections: registration, password login, tokens,
//! refresh, impersonation, password/email changes, and the rule matrix over real tokens.

mod common;

use axum::http::{Method, StatusCode};
use common::{assert_error_shape, Answer, TestApp};
use serde_json::{json, Value};

async fn register(app: &TestApp, email: &str, password: &str) -> Answer {
    app.post(
        "/api/collections/users/records",
        json!({"email": email, "password": password, "passwordConfirm": password, "name": email}),
        None,
    )
    .await
}

async fn login(app: &TestApp, identity: &str, password: &str) -> Answer {
    app.post(
        "/api/collections/users/auth-with-password",
        json!({"identity": identity, "password": password}),
        None,
    )
    .await
}

/// Register and log in; returns (id, token).
async fn user(app: &TestApp, email: &str) -> (String, String) {
    let r = register(app, email, "password123").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let a = login(app, email, "password123").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    (
        a.body["record"]["id"].as_str().unwrap().to_owned(),
        a.body["token"].as_str().unwrap().to_owned(),
    )
}

async fn refresh(app: &TestApp, token: &str) -> Answer {
    app.json(
        Method::POST,
        "/api/collections/users/auth-refresh",
        None,
        Some(token),
    )
    .await
}

#[tokio::test]
async fn registration_checks_every_auth_field() {
    let app = TestApp::new().await;
    let ok = register(&app, "alice@example.com", "password123").await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    // The default users viewRule (id = @request.auth.id) hides it from the guest.
    assert_eq!(ok.body["collectionName"], "users");
    assert!(ok.body.get("email").is_none());

    let cases = [
        (
            json!({"password": "password123", "passwordConfirm": "password123"}),
            "email",
            "validation_required",
        ),
        (
            json!({"email": "nope", "password": "password123", "passwordConfirm": "password123"}),
            "email",
            "validation_is_email",
        ),
        (
            json!({"email": "b@example.com"}),
            "password",
            "validation_required",
        ),
        (
            json!({"email": "b@example.com", "password": "short", "passwordConfirm": "short"}),
            "password",
            "validation_min_text_constraint",
        ),
        (
            json!({"email": "b@example.com", "password": "password123", "passwordConfirm": "other12345"}),
            "passwordConfirm",
            "validation_values_mismatch",
        ),
        (
            json!({"email": "ALICE@example.com", "password": "password123", "passwordConfirm": "password123"}),
            "email",
            "validation_not_unique",
        ),
        (
            json!({"email": "c@example.com", "password": "password123", "passwordConfirm": "password123", "verified": true}),
            "verified",
            "validation_values_mismatch",
        ),
    ];
    for (body, field, code) in cases {
        let a = app
            .post("/api/collections/users/records", body.clone(), None)
            .await;
        assert_error_shape(&a, 400);
        assert_eq!(a.body["data"][field]["code"], code, "{body}: {}", a.body);
    }
    // Nothing of the refused ones was stored.
    let token = app.superuser_token().await;
    let all = app
        .get("/api/collections/users/records", Some(&token))
        .await;
    assert_eq!(all.body["totalItems"], 1, "{}", all.body);
    let stored = &all.body["items"][0];
    assert_eq!(
        stored["email"], "alice@example.com",
        "superusers see emails"
    );
    assert_eq!(stored["verified"], false);
    assert!(stored.get("password").is_none() && stored.get("tokenKey").is_none());
    // A superuser may create verified records.
    let a = app
        .post(
            "/api/collections/users/records",
            json!({"email": "v@example.com", "password": "password123", "passwordConfirm": "password123", "verified": true}),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["verified"], true);
}

#[tokio::test]
async fn password_login_and_tokens() {
    let app = TestApp::new().await;
    let (id, token) = user(&app, "alice@example.com").await;
    let a = login(&app, "Alice@Example.com", "password123").await;
    assert_eq!(a.status, StatusCode::OK, "email matches case-insensitively");
    let keys: Vec<&String> = a.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["token", "record"]);
    assert_eq!(
        a.body["record"]["email"], "alice@example.com",
        "own email always"
    );
    // Claims: PocketBase's, refreshable.
    let payload = token.split('.').nth(1).unwrap();
    use base64::Engine as _;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["id"], id.as_str());
    assert_eq!(claims["collectionId"], "_pb_users_auth_");
    assert_eq!(claims["type"], "auth");
    assert_eq!(claims["refreshable"], true);

    // Wrong password and unknown user: the same answer.
    let wrong = login(&app, "alice@example.com", "wrong-password").await;
    let unknown = login(&app, "nobody@example.com", "wrong-password").await;
    assert_error_shape(&wrong, 400);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.body["message"], "Failed to authenticate.");
    let missing = app
        .post("/api/collections/users/auth-with-password", json!({}), None)
        .await;
    assert_eq!(
        missing.body["data"]["identity"]["code"],
        "validation_required"
    );
    // Not an auth collection.
    let a = app
        .post(
            "/api/collections/nope/auth-with-password",
            json!({"identity": "a", "password": "b"}),
            None,
        )
        .await;
    assert_error_shape(&a, 404);

    // The token identifies the caller: own record visible, with email.
    let own = app
        .get(
            &format!("/api/collections/users/records/{id}"),
            Some(&token),
        )
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert_eq!(own.body["email"], "alice@example.com");
    let guest = app
        .get(&format!("/api/collections/users/records/{id}"), None)
        .await;
    assert_error_shape(&guest, 404);
    // Refresh: a new token; the old one still works until it expires.
    let r = refresh(&app, &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["record"]["id"], id.as_str());
    assert_error_shape(
        &app.json(
            Method::POST,
            "/api/collections/users/auth-refresh",
            None,
            None,
        )
        .await,
        401,
    );
    // A tampered token is a guest.
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_error_shape(&refresh(&app, &tampered).await, 401);
    // A users token is not a superuser token, and not one of another collection.
    let a = app.get("/api/collections", Some(&token)).await;
    assert_error_shape(&a, 403);
    assert_eq!(
        a.body["message"],
        "The authorized record is not allowed to perform this action."
    );
    let a = app
        .json(
            Method::POST,
            "/api/collections/_superusers/auth-refresh",
            None,
            Some(&token),
        )
        .await;
    assert_error_shape(&a, 403);
    // auth-methods
    let m = app.get("/api/collections/users/auth-methods", None).await;
    assert_eq!(m.status, StatusCode::OK);
    assert_eq!(
        m.body["password"],
        json!({"enabled": true, "identityFields": ["email"]})
    );
    assert_eq!(m.body["emailPassword"], true);
    assert_eq!(
        m.body["usernamePassword"], false,
        "email is the only identity field"
    );
}

#[tokio::test]
async fn password_and_email_changes_revoke_every_earlier_token() {
    let app = TestApp::new().await;
    let (id, token) = user(&app, "alice@example.com").await;
    let second = login(&app, "alice@example.com", "password123").await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let uri = format!("/api/collections/users/records/{id}");
    let change = |body: Value, token: String| {
        let app = &app;
        let uri = uri.clone();
        async move {
            app.json(Method::PATCH, &uri, Some(body), Some(&token))
                .await
        }
    };
    let a = change(
        json!({"password": "newpassword1", "passwordConfirm": "newpassword1"}),
        token.clone(),
    )
    .await;
    assert_eq!(
        a.body["data"]["oldPassword"]["code"], "validation_required",
        "{}",
        a.body
    );
    let a = change(
        json!({"password": "newpassword1", "passwordConfirm": "newpassword1", "oldPassword": "wrong-one"}),
        token.clone(),
    )
    .await;
    assert_eq!(
        a.body["data"]["oldPassword"]["code"],
        "validation_invalid_old_password"
    );
    // Email and verified are for managers only.
    let a = change(json!({"email": "new@example.com"}), token.clone()).await;
    assert_eq!(
        a.body["data"]["email"]["code"],
        "validation_values_mismatch"
    );
    let a = change(json!({"verified": true}), token.clone()).await;
    assert_eq!(
        a.body["data"]["verified"]["code"],
        "validation_values_mismatch"
    );
    // Nothing changed so far: both tokens work.
    assert_eq!(refresh(&app, &token).await.status, StatusCode::OK);
    let a = change(
        json!({"password": "newpassword1", "passwordConfirm": "newpassword1", "oldPassword": "password123", "emailVisibility": true}),
        token.clone(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["emailVisibility"], true);
    for old in [&token, &second] {
        assert_error_shape(&refresh(&app, old).await, 401);
    }
    assert_error_shape(&login(&app, "alice@example.com", "password123").await, 400);
    let fresh = login(&app, "alice@example.com", "newpassword1").await;
    assert_eq!(fresh.status, StatusCode::OK);
    let fresh = fresh.body["token"].as_str().unwrap().to_owned();
    // A superuser changes the email: the user's tokens stop working too.
    let admin = app.superuser_token().await;
    let a = change(json!({"email": "renamed@example.com"}), admin).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["email"], "renamed@example.com");
    assert_error_shape(&refresh(&app, &fresh).await, 401);
    assert_eq!(
        login(&app, "renamed@example.com", "newpassword1")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn impersonation_and_auth_rule_rotation() {
    let app = TestApp::new().await;
    let (id, token) = user(&app, "alice@example.com").await;
    let uri = format!("/api/collections/users/impersonate/{id}");
    assert_error_shape(&app.post(&uri, json!({}), None).await, 401);
    assert_error_shape(&app.post(&uri, json!({}), Some(&token)).await, 403);
    let admin = app.superuser_token().await;
    let a = app.post(&uri, json!({"duration": 60}), Some(&admin)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let imp = a.body["token"].as_str().unwrap().to_owned();
    // Not refreshable: refresh gives the same token back.
    let r = refresh(&app, &imp).await;
    assert_eq!(r.body["token"], imp.as_str());
    assert_error_shape(
        &app.post(
            "/api/collections/users/impersonate/zzzzzzzzzzzzzzz",
            json!({}),
            Some(&admin),
        )
        .await,
        404,
    );
    // A new authRule rotates the collection secret: every token ends; the rule applies.
    let a = app
        .json(
            Method::PATCH,
            "/api/collections/users",
            Some(json!({"authRule": "verified = true"})),
            Some(&admin),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_error_shape(&refresh(&app, &token).await, 401);
    assert_error_shape(&refresh(&app, &imp).await, 401);
    let a = login(&app, "alice@example.com", "password123").await;
    assert_error_shape(&a, 403);
    assert_eq!(
        a.body["message"],
        "The request doesn't satisfy the collection requirements to authenticate."
    );
}

/// anonymous / owner / other user / superuser × list / view / create / update / delete.
#[tokio::test]
async fn rule_matrix() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    let (alice, alice_token) = user(&app, "alice@example.com").await;
    let (_bob, bob_token) = user(&app, "bob@example.com").await;
    let owner_rule = "owner = @request.auth.id";
    let a = app
        .post(
            "/api/collections",
            json!({"name": "notes", "schema": {"type": "object", "properties": {
                "text": {"type": "string"},
                "owner": {"type": "string", "x-relation": {"collection": "users"}}
            }},
            "listRule": owner_rule, "viewRule": owner_rule,
            "createRule": "@request.auth.id != '' && owner = @request.auth.id",
            "updateRule": owner_rule, "deleteRule": owner_rule}),
            Some(&admin),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let created = app
        .post(
            "/api/collections/notes/records",
            json!({"id": "note00000000001", "text": "mine", "owner": alice}),
            Some(&alice_token),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(created.body["text"], "mine");

    let actors: [(&str, Option<&str>); 4] = [
        ("anonymous", None),
        ("owner", Some(&alice_token)),
        ("other", Some(&bob_token)),
        ("superuser", Some(&admin)),
    ];
    let list_uri = "/api/collections/notes/records";
    let one = "/api/collections/notes/records/note00000000001";
    for (who, token) in actors {
        let sees = matches!(who, "owner" | "superuser");
        let list = app.get(list_uri, token).await;
        assert_eq!(list.status, StatusCode::OK, "{who}");
        assert_eq!(list.body["totalItems"], u64::from(sees), "{who} list");
        let view = app.get(one, token).await;
        assert_eq!(
            view.status.as_u16(),
            if sees { 200 } else { 404 },
            "{who} view"
        );
    }
    for (who, token) in actors {
        let sees = matches!(who, "owner" | "superuser");
        // create for alice: only alice herself or a superuser.
        let create = app
            .post(list_uri, json!({"text": who, "owner": alice}), token)
            .await;
        assert_eq!(
            create.status.as_u16(),
            if sees { 200 } else { 400 },
            "{who} create: {}",
            create.body
        );
        let update = app
            .json(
                Method::PATCH,
                one,
                Some(json!({"text": format!("by {who}")})),
                token,
            )
            .await;
        assert_eq!(
            update.status.as_u16(),
            if sees { 200 } else { 404 },
            "{who} update"
        );
    }
    // Deletes last: others first (refused), then the owner.
    for (who, token) in [("anonymous", None), ("other", Some(bob_token.as_str()))] {
        let d = app.json(Method::DELETE, one, None, token).await;
        assert_eq!(d.status, StatusCode::NOT_FOUND, "{who} delete");
    }
    let d = app
        .json(Method::DELETE, one, None, Some(&alice_token))
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    let left = app.get(list_uri, Some(&admin)).await;
    assert_eq!(
        left.body["totalItems"], 2,
        "the owner's and the superuser's creates"
    );
    let by_admin = left.body["items"].as_array().unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let d = app
        .json(
            Method::DELETE,
            &format!("{list_uri}/{by_admin}"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT, "superuser delete");
    // Bob may create a note he owns.
    let bob_id = refresh(&app, &bob_token).await.body["record"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let own = app
        .post(
            list_uri,
            json!({"text": "bob's", "owner": bob_id}),
            Some(&bob_token),
        )
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    // Emails: hidden from others unless emailVisibility; own always.
    let users = app
        .get("/api/collections/users/records", Some(&bob_token))
        .await;
    assert_eq!(users.body["totalItems"], 1, "users listRule: only yourself");
    assert_eq!(users.body["items"][0]["email"], "bob@example.com");
}

/// Unknown user and wrong password take the same path (a dummy hash is verified when
/// there is no account): their median times stay within a factor of two. Medians over
/// interleaved runs, never one wall-clock threshold.
#[tokio::test]
async fn login_timing_does_not_reveal_whether_the_account_exists() {
    let app = TestApp::new().await;
    register(&app, "alice@example.com", "password123").await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..15 {
        for (email, out) in [
            ("alice@example.com", &mut known),
            ("nobody@example.com", &mut unknown),
        ] {
            let start = std::time::Instant::now();
            let a = login(&app, email, &format!("wrong-password-{i}")).await;
            out.push(start.elapsed());
            assert_eq!(a.status, StatusCode::BAD_REQUEST);
        }
    }
    let median = |v: &mut Vec<std::time::Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64()
    };
    let (k, u) = (median(&mut known), median(&mut unknown));
    let ratio = k / u;
    assert!(
        (0.5..2.0).contains(&ratio),
        "median wrong-password {k:.4}s vs unknown-user {u:.4}s (ratio {ratio:.2})"
    );
}

/// The manageRule: managers see the emails of the records they manage and may change
/// their email, verified and password without the old password; others may not.
#[tokio::test]
async fn managers_per_manage_rule() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    let a = app
        .post(
            "/api/collections",
            json!({"name": "members", "type": "auth",
                   "schema": {"type": "object", "properties": {"staff": {"type": "boolean"}}},
                   "listRule": "", "viewRule": "", "updateRule": "",
                   "manageRule": "@request.auth.staff = true", "authRule": ""}),
            Some(&admin),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for (email, staff) in [("boss@example.com", true), ("worker@example.com", false)] {
        let c = app
            .post(
                "/api/collections/members/records",
                json!({"email": email, "password": "password123", "passwordConfirm": "password123", "staff": staff}),
                Some(&admin),
            )
            .await;
        assert_eq!(c.status, StatusCode::OK, "{}", c.body);
        ids.push(c.body["id"].as_str().unwrap().to_owned());
        let l = app
            .post(
                "/api/collections/members/auth-with-password",
                json!({"identity": email, "password": "password123"}),
                None,
            )
            .await;
        tokens.push(l.body["token"].as_str().unwrap().to_owned());
    }
    let (boss, worker) = (&tokens[0], &tokens[1]);
    let emails = |a: &Answer| -> Vec<Value> {
        a.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["email"].clone())
            .collect()
    };
    let list = "/api/collections/members/records?sort=email";
    assert_eq!(
        emails(&app.get(list, Some(boss)).await),
        [json!("boss@example.com"), json!("worker@example.com")],
        "the manager sees every email"
    );
    assert_eq!(
        emails(&app.get(list, Some(worker)).await),
        [Value::Null, json!("worker@example.com")],
        "others see only their own"
    );
    let guest = app.get(list, None).await;
    assert_eq!(emails(&guest), [Value::Null, Value::Null]);
    // Listed records (written straight to JSON text) equal the viewed ones, per caller.
    for who in [Some(boss.as_str()), Some(worker.as_str()), None] {
        let listed = app.get(list, who).await;
        for item in listed.body["items"].as_array().unwrap() {
            let one = app
                .get(
                    &format!(
                        "/api/collections/members/records/{}",
                        item["id"].as_str().unwrap()
                    ),
                    who,
                )
                .await;
            assert_eq!(item, &one.body);
        }
    }
    // The manager changes the worker's email and password without the old one.
    let uri = format!("/api/collections/members/records/{}", ids[1]);
    let a = app
        .json(
            Method::PATCH,
            &uri,
            Some(json!({"email": "worker2@example.com", "verified": true, "password": "reset-by-boss1", "passwordConfirm": "reset-by-boss1"})),
            Some(boss),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["email"], "worker2@example.com");
    assert_eq!(a.body["verified"], true);
    // The worker may not do the same to the boss.
    let a = app
        .json(
            Method::PATCH,
            &format!("/api/collections/members/records/{}", ids[0]),
            Some(json!({"email": "hijack@example.com", "verified": true})),
            Some(worker),
        )
        .await;
    assert_error_shape(&a, 400);
    assert_eq!(
        a.body["data"]["email"]["code"],
        "validation_values_mismatch"
    );
    assert_eq!(
        a.body["data"]["verified"]["code"],
        "validation_values_mismatch"
    );
}

/// S-API2-jwt: forged, altered, truncated, expired and wrong-type user tokens are all
/// guests (401 on auth-refresh), never errors.
#[tokio::test]
async fn forged_user_tokens_are_refused() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine as _;
    let app = TestApp::new().await;
    let (_alice, token) = user(&app, "alice@example.com").await;
    let (bob, _) = user(&app, "bob@example.com").await;
    let parts: Vec<&str> = token.split('.').collect();
    let claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    let enc = |v: &Value| B64.encode(v.to_string());
    let with_claims = |edit: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        edit(&mut c);
        format!("{}.{}.{}", parts[0], enc(&c), parts[2])
    };
    let none_header = enc(&json!({"alg": "none", "typ": "JWT"}));
    let rs_header = enc(&json!({"alg": "RS256", "typ": "JWT"}));
    let mut forged = vec![
        format!("{none_header}.{}.", parts[1]),
        format!("{none_header}.{}", parts[1]),
        format!("{rs_header}.{}.{}", parts[1], parts[2]),
        format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            &parts[2][..parts[2].len() - 4]
        ),
        format!("{}.{}.", parts[0], parts[1]),
        with_claims(&|c| c["id"] = json!(bob)),
        with_claims(&|c| c["exp"] = json!(4_000_000_000i64)),
        with_claims(&|c| c["type"] = json!("file")),
        with_claims(&|c| c["collectionId"] = json!("users")),
        "not-a-token".to_owned(),
        String::new(),
    ];
    // Expired: a one-second impersonation token, after two seconds.
    let admin = app.superuser_token().await;
    let imp = app
        .post(
            &format!("/api/collections/users/impersonate/{bob}"),
            json!({"duration": 1}),
            Some(&admin),
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    forged.push(imp.body["token"].as_str().unwrap().to_owned());
    for t in &forged {
        let a = refresh(&app, t).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{t}: {}", a.body);
    }
    // And the untouched token still works.
    assert_eq!(refresh(&app, &token).await.status, StatusCode::OK);
}

/// S-7 for the mailed requests: known and unknown emails answer alike, in similar time
/// (medians of interleaved runs).
#[tokio::test]
async fn reset_and_otp_requests_do_not_reveal_accounts_by_timing() {
    let app = TestApp::new().await;
    let admin = app.superuser_token().await;
    register(&app, "alice@example.com", "password123").await;
    let a = app
        .json(
            Method::PATCH,
            "/api/collections/users",
            Some(json!({"auth": {"otp": {"enabled": true}}})),
            Some(&admin),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    for action in ["request-password-reset", "request-otp"] {
        let uri = format!("/api/collections/users/{action}");
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for _ in 0..25 {
            for (email, out) in [
                ("alice@example.com", &mut known),
                ("nobody@example.com", &mut unknown),
            ] {
                let start = std::time::Instant::now();
                let a = app.post(&uri, json!({ "email": email }), None).await;
                out.push(start.elapsed());
                assert!(a.status.is_success(), "{action}: {}", a.body);
                if action == "request-otp" {
                    assert_eq!(a.body["otpId"].as_str().map(str::len), Some(15));
                } else {
                    assert!(a.raw.is_empty());
                }
            }
        }
        let median = |v: &mut Vec<std::time::Duration>| {
            v.sort();
            v[v.len() / 2].as_secs_f64()
        };
        let (k, u) = (median(&mut known), median(&mut unknown));
        assert!(
            (0.5..2.0).contains(&(k / u)),
            "{action}: median known {k:.5}s vs unknown {u:.5}s"
        );
    }
}

/// A password hash below the current argon2 policy is replaced at the next login.
#[tokio::test]
async fn weak_hashes_are_upgraded_at_login() {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let app = TestApp::new().await;
    let (id, _) = user(&app, "alice@example.com").await;
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(8192, 1, 1, None).unwrap(),
    )
    .hash_password(b"password123", &SaltString::generate(&mut OsRng))
    .unwrap()
    .to_string();
    let (id2, weak2) = (id.clone(), weak.clone());
    app.state
        .data()
        .write(
            move |c: &rusqlite::Connection| -> Result<usize, keelbase::db::DbError> {
                Ok(c.execute("UPDATE users SET password = ?1 WHERE id = ?2", [weak2, id2])?)
            },
        )
        .await
        .unwrap();
    let stored = |app: &TestApp, id: String| {
        let db = app.state.data().clone();
        async move {
            db.read(
                move |c: &rusqlite::Connection| -> Result<String, keelbase::db::DbError> {
                    Ok(
                        c.query_row("SELECT password FROM users WHERE id = ?1", [id], |r| {
                            r.get(0)
                        })?,
                    )
                },
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(
        login(&app, "alice@example.com", "password123").await.status,
        StatusCode::OK
    );
    let mut upgraded = String::new();
    for _ in 0..50 {
        upgraded = stored(&app, id.clone()).await;
        if upgraded != weak {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{upgraded}"
    );
    assert_eq!(
        login(&app, "alice@example.com", "password123").await.status,
        StatusCode::OK
    );
}
