//! OAuth2 sign-in against a real OpenID Connect provider on loopback: an axum server in
//! this file with `/token` (client credentials, single-use codes, redirect URI and PKCE
//! S256 checked), `/userinfo` and GitHub-shaped `/user` + `/user/emails` (bearer token).
//! Codes are minted directly, as `/authorize` would after the user consented.
//!
//! Covers sign-up and login, the error answers, the pre-hijacking advisories A-1 and A-2
//! (RELIABILITY.md), secret hiding, auth-methods and the redirect page.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use base64::Engine as _;
use common::{assert_error_shape, Answer, TestApp};
use keelbase::auth::token::{self, Claims};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const REDIRECT: &str = "http://127.0.0.1:5173/oauth2-callback";

/// What a code was issued for, and what the provider says about its user.
#[derive(Clone, Default)]
struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: Option<String>,
    user: Value,
    /// GitHub's `/user/emails`.
    emails: Option<Value>,
    /// The id_token's `aud` (default: the client id).
    id_token_aud: Option<String>,
    /// Answer userinfo with 2 MiB.
    huge: bool,
}

#[derive(Default)]
struct IdpState {
    clients: HashMap<String, String>,
    codes: HashMap<String, Grant>,
    tokens: HashMap<String, Grant>,
}

/// The loopback identity provider.
struct Idp {
    addr: SocketAddr,
    state: Arc<Mutex<IdpState>>,
}

fn random(len: usize) -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

fn s256(verifier: &str) -> String {
    B64.encode(Sha256::digest(verifier.as_bytes()))
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({"error": error}))).into_response()
}

/// `client_secret_basic` (form-encoded, then base64) or `client_secret_post`.
fn client_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Option<(String, String)> {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = String::from_utf8(STANDARD.decode(basic).ok()?).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        let unescape = |s: &str| {
            form_urlencoded::parse(format!("v={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        return Some((unescape(id), unescape(secret)));
    }
    Some((
        form.get("client_id")?.clone(),
        form.get("client_secret")?.clone(),
    ))
}

async fn token_endpoint(
    State(idp): State<Arc<Mutex<IdpState>>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut idp = idp.lock().unwrap();
    let Some((client_id, secret)) = client_credentials(&headers, &form) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    if idp.clients.get(&client_id) != Some(&secret) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    // Codes are single-use, whatever happens next.
    let Some(grant) = form.get("code").and_then(|c| idp.codes.remove(c)) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let redirect = form.get("redirect_uri").cloned().unwrap_or_default();
    if grant.client_id != client_id || grant.redirect_uri != redirect {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    if let Some(challenge) = &grant.challenge {
        let verifier = form.get("code_verifier").cloned().unwrap_or_default();
        if verifier.len() < 43 || &s256(&verifier) != challenge {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
        }
    }
    let access = random(32);
    let claims = json!({
        "iss": "http://idp.test",
        "sub": grant.user.get("sub").cloned().unwrap_or(Value::Null),
        "aud": grant.id_token_aud.clone().unwrap_or(client_id),
        "exp": token::now_unix() + 300,
    });
    let id_token = format!(
        "{}.{}.{}",
        B64.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
        B64.encode(claims.to_string()),
        B64.encode(random(32))
    );
    idp.tokens.insert(access.clone(), grant);
    Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": format!("refresh-{access}"),
        "id_token": id_token,
    }))
    .into_response()
}

fn bearer_grant(idp: &Mutex<IdpState>, headers: &HeaderMap) -> Option<Grant> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    idp.lock().unwrap().tokens.get(token).cloned()
}

async fn userinfo_endpoint(
    State(idp): State<Arc<Mutex<IdpState>>>,
    headers: HeaderMap,
) -> Response {
    match bearer_grant(&idp, &headers) {
        Some(g) if g.huge => {
            Json(json!({"sub": "x", "padding": "x".repeat(2 << 20)})).into_response()
        }
        Some(g) => Json(g.user).into_response(),
        None => oauth_error(StatusCode::UNAUTHORIZED, "invalid_token"),
    }
}

async fn emails_endpoint(State(idp): State<Arc<Mutex<IdpState>>>, headers: HeaderMap) -> Response {
    match bearer_grant(&idp, &headers).and_then(|g| g.emails) {
        Some(list) => Json(list).into_response(),
        None => oauth_error(StatusCode::NOT_FOUND, "not_found"),
    }
}

impl Idp {
    async fn start() -> Idp {
        let state = Arc::new(Mutex::new(IdpState::default()));
        let app = Router::new()
            .route("/token", post(token_endpoint))
            .route("/userinfo", get(userinfo_endpoint))
            .route("/user", get(userinfo_endpoint))
            .route("/user/emails", get(emails_endpoint))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        for (id, secret) in [
            ("app-a", "secret-a"),
            ("app-b", "secret-b"),
            ("gh-app", "gh-secret"),
        ] {
            state
                .lock()
                .unwrap()
                .clients
                .insert(id.into(), secret.into());
        }
        Idp { addr, state }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Issue a code as `/authorize` would; returns (code, verifier).
    fn mint(&self, grant: Grant) -> (String, String) {
        let verifier = random(64);
        let mut grant = grant;
        if grant.redirect_uri.is_empty() {
            grant.redirect_uri = REDIRECT.into();
        }
        grant.challenge = Some(s256(&verifier));
        let code = random(24);
        self.state.lock().unwrap().codes.insert(code.clone(), grant);
        (code, verifier)
    }

    /// The providers block of the collection options: `oidc` (client app-a), `oidc2`
    /// (client app-b) and `github` with its endpoints pointed here.
    fn providers(&self) -> Value {
        let oidc = |name: &str, client: &str, secret: &str| {
            json!({"name": name, "clientId": client, "clientSecret": secret,
                   "authURL": self.url("/authorize"), "tokenURL": self.url("/token"),
                   "userInfoURL": self.url("/userinfo"), "displayName": format!("IdP {name}")})
        };
        json!([
            oidc("oidc", "app-a", "secret-a"),
            oidc("oidc2", "app-b", "secret-b"),
            {"name": "github", "clientId": "gh-app", "clientSecret": "gh-secret",
             "authURL": self.url("/login/oauth/authorize"), "tokenURL": self.url("/token"),
             "userInfoURL": self.url("/user")}
        ])
    }
}

fn client_of(provider: &str) -> &'static str {
    match provider {
        "oidc" => "app-a",
        "oidc2" => "app-b",
        "github" => "gh-app",
        other => panic!("no client for {other}"),
    }
}

fn person(sub: &str, email: &str, verified: bool) -> Value {
    json!({"sub": sub, "name": format!("Person {sub}"), "preferred_username": sub,
           "email": email, "email_verified": verified, "picture": "https://img.example/p.png"})
}

/// An app with the `members` auth collection, OAuth2 on with the three providers.
async fn setup() -> (TestApp, Idp, String) {
    let app = TestApp::new().await;
    let idp = Idp::start().await;
    let su = app.superuser_token().await;
    let a = app
        .post(
            "/api/collections",
            json!({
                "name": "members", "type": "auth",
                "schema": {"type": "object", "properties": {
                    "name": {"type": "string"},
                    "handle": {"type": "string"},
                    "picture": {"type": "string"},
                    "externalId": {"type": "string"}
                }},
                "listRule": "id = @request.auth.id", "viewRule": "id = @request.auth.id",
                "createRule": "", "updateRule": "id = @request.auth.id", "deleteRule": null,
                "auth": {"oauth2": {
                    "enabled": true,
                    "providers": idp.providers(),
                    "mappedFields": {"id": "externalId", "name": "name", "username": "handle", "avatarURL": "picture"}
                }}
            }),
            Some(&su),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    (app, idp, su)
}

async fn sign_in_with(
    app: &TestApp,
    provider: &str,
    code: &str,
    verifier: &str,
    token: Option<&str>,
    create_data: Option<Value>,
) -> Answer {
    let mut body = json!({"provider": provider, "code": code, "codeVerifier": verifier, "redirectURL": REDIRECT});
    if let Some(d) = create_data {
        body["createData"] = d;
    }
    app.post("/api/collections/members/auth-with-oauth2", body, token)
        .await
}

/// Mint a code for `user` at `provider` and sign in with it.
async fn oauth(
    app: &TestApp,
    idp: &Idp,
    provider: &str,
    user: Value,
    token: Option<&str>,
) -> Answer {
    let (code, verifier) = idp.mint(Grant {
        client_id: client_of(provider).into(),
        user,
        ..Default::default()
    });
    sign_in_with(app, provider, &code, &verifier, token, None).await
}

async fn register(app: &TestApp, email: &str, password: &str) -> String {
    let a = app
        .post(
            "/api/collections/members/records",
            json!({"email": email, "password": password, "passwordConfirm": password}),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.body["id"].as_str().unwrap().to_owned()
}

async fn password_login(app: &TestApp, email: &str, password: &str) -> Answer {
    app.post(
        "/api/collections/members/auth-with-password",
        json!({"identity": email, "password": password}),
        None,
    )
    .await
}

async fn refresh(app: &TestApp, token: &str) -> Answer {
    app.json(
        Method::POST,
        "/api/collections/members/auth-refresh",
        None,
        Some(token),
    )
    .await
}

/// (provider, providerId) of every link of a record.
async fn links(app: &TestApp, record_id: &str) -> Vec<(String, String)> {
    let id = record_id.to_owned();
    app.state
        .data()
        .read(move |conn| -> Result<Vec<(String, String)>, keelbase::db::DbError> {
            let mut stmt = conn.prepare(
                "SELECT provider, providerId FROM _externalAuths WHERE recordRef = ?1 ORDER BY provider",
            )?;
            let rows = stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
        .unwrap()
}

fn token_of(a: &Answer) -> String {
    a.body["token"].as_str().expect("token").to_owned()
}

fn id_of(a: &Answer) -> String {
    a.body["record"]["id"]
        .as_str()
        .expect("record id")
        .to_owned()
}

#[tokio::test]
async fn sign_up_creates_a_verified_record_and_the_next_login_reuses_it() {
    let (app, idp, _) = setup().await;
    let first = oauth(
        &app,
        &idp,
        "oidc",
        person("ann-1", "ann@example.com", true),
        None,
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let mut keys: Vec<&str> = first
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["meta", "record", "token"]);
    let record = &first.body["record"];
    assert_eq!(record["email"], "ann@example.com");
    assert_eq!(record["verified"], true, "the provider verified the email");
    assert_eq!(record["name"], "Person ann-1", "mappedFields.name");
    assert_eq!(record["handle"], "ann-1", "mappedFields.username");
    assert_eq!(record["externalId"], "ann-1", "mappedFields.id");
    assert_eq!(
        record["picture"], "https://img.example/p.png",
        "mappedFields.avatarURL: the URL as text"
    );
    assert!(record.get("password").is_none() && record.get("tokenKey").is_none());
    let meta = &first.body["meta"];
    assert_eq!(meta["isNew"], true);
    assert_eq!(meta["id"], "ann-1");
    assert_eq!(meta["email"], "ann@example.com");
    assert_eq!(meta["name"], "Person ann-1");
    assert_eq!(meta["username"], "ann-1");
    assert_eq!(meta["avatarURL"], "https://img.example/p.png");
    assert_eq!(meta["rawUser"]["sub"], "ann-1");
    assert_eq!(meta["rawUser"]["email_verified"], true);
    assert!(meta["accessToken"].as_str().unwrap().len() == 32);
    assert!(meta["refreshToken"]
        .as_str()
        .unwrap()
        .starts_with("refresh-"));
    assert_eq!(meta["expiry"].as_str().unwrap().len(), 24, "{meta}");
    // The token is a normal auth token of the record.
    let token = token_of(&first);
    let r = refresh(&app, &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["record"]["id"], record["id"]);

    let second = oauth(
        &app,
        &idp,
        "oidc",
        person("ann-1", "ann@example.com", true),
        None,
    )
    .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(second.body["meta"]["isNew"], false);
    assert_eq!(id_of(&second), id_of(&first));
    assert_eq!(
        links(&app, &id_of(&first)).await,
        [("oidc".to_owned(), "ann-1".to_owned())]
    );
    // The sign-up password is random: nobody can log in with a password.
    for guess in ["", "ann-1", "password123"] {
        assert_error_shape(&password_login(&app, "ann@example.com", guess).await, 400);
    }
}

#[tokio::test]
async fn create_data_wins_over_mapped_fields_and_a_taken_username_gets_a_suffix() {
    let (app, idp, _) = setup().await;
    let a = oauth(
        &app,
        &idp,
        "oidc",
        person("dup", "one@example.com", true),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // Another account with the same username at another provider.
    let (code, verifier) = idp.mint(Grant {
        client_id: "app-b".into(),
        user: person("dup", "two@example.com", true),
        ..Default::default()
    });
    let b = sign_in_with(
        &app,
        "oidc2",
        &code,
        &verifier,
        None,
        Some(json!({"name": "Chosen Name", "emailVisibility": true})),
    )
    .await;
    assert_eq!(b.status, StatusCode::OK, "{}", b.body);
    assert_eq!(b.body["record"]["name"], "Chosen Name");
    assert_eq!(b.body["record"]["emailVisibility"], true);
    let handle = b.body["record"]["handle"].as_str().unwrap();
    assert!(handle.starts_with("dup") && handle.len() == 7, "{handle}");
    // createData goes through the create checks.
    let (code, verifier) = idp.mint(Grant {
        client_id: "app-a".into(),
        user: person("c", "three@example.com", true),
        ..Default::default()
    });
    let bad = sign_in_with(
        &app,
        "oidc",
        &code,
        &verifier,
        None,
        Some(json!({"verified": true})),
    )
    .await;
    assert_error_shape(&bad, 400);
    assert_eq!(bad.body["message"], "Failed to authenticate.");
    assert_eq!(
        bad.body["data"]["verified"]["code"],
        "validation_values_mismatch"
    );
}

#[tokio::test]
async fn exchange_failures_answer_failed_to_authenticate() {
    let (app, idp, _) = setup().await;
    let grant = || Grant {
        client_id: "app-a".into(),
        user: person("u", "u@example.com", true),
        ..Default::default()
    };
    let failed = |a: &Answer| {
        assert_error_shape(a, 400);
        assert_eq!(a.body["message"], "Failed to authenticate.", "{}", a.body);
        assert_eq!(a.body["data"], json!({}));
    };
    // Wrong PKCE verifier.
    let (code, _) = idp.mint(grant());
    failed(&sign_in_with(&app, "oidc", &code, &random(64), None, None).await);
    // The code was used up by that attempt.
    let (code, verifier) = idp.mint(grant());
    let ok = sign_in_with(&app, "oidc", &code, &verifier, None, None).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    failed(&sign_in_with(&app, "oidc", &code, &verifier, None, None).await);
    // Another redirect URL than the one the code was issued for.
    let (code, verifier) = idp.mint(grant());
    let a = app
        .post(
            "/api/collections/members/auth-with-oauth2",
            json!({"provider": "oidc", "code": code, "codeVerifier": verifier, "redirectUrl": "http://127.0.0.1/other"}),
            None,
        )
        .await;
    failed(&a);
    // A code of another client.
    let (code, verifier) = idp.mint(grant());
    failed(&sign_in_with(&app, "oidc2", &code, &verifier, None, None).await);
    // An id_token for another audience.
    let (code, verifier) = idp.mint(Grant {
        id_token_aud: Some("someone-else".into()),
        ..grant()
    });
    failed(&sign_in_with(&app, "oidc", &code, &verifier, None, None).await);
    // An oversized userinfo answer.
    let (code, verifier) = idp.mint(Grant {
        huge: true,
        ..grant()
    });
    failed(&sign_in_with(&app, "oidc", &code, &verifier, None, None).await);
    // A userinfo answer without a subject.
    let (code, verifier) = idp.mint(Grant {
        user: json!({"email": "x@example.com", "email_verified": true}),
        ..grant()
    });
    failed(&sign_in_with(&app, "oidc", &code, &verifier, None, None).await);
}

#[tokio::test]
async fn unknown_provider_and_missing_fields_are_validation_errors() {
    let (app, _idp, su) = setup().await;
    let a = app
        .post(
            "/api/collections/members/auth-with-oauth2",
            json!({"provider": "facebook", "code": "abc", "codeVerifier": "v", "redirectURL": REDIRECT}),
            None,
        )
        .await;
    assert_error_shape(&a, 400);
    assert_eq!(
        a.body["data"]["provider"]["code"],
        "validation_invalid_provider"
    );
    assert_eq!(a.body["data"]["provider"]["params"]["name"], "facebook");
    // Known preset, not configured here.
    let a = app
        .post(
            "/api/collections/members/auth-with-oauth2",
            json!({"provider": "google", "code": "abc"}),
            None,
        )
        .await;
    assert_eq!(
        a.body["data"]["provider"]["code"],
        "validation_invalid_provider"
    );
    let a = app
        .post("/api/collections/members/auth-with-oauth2", json!({}), None)
        .await;
    assert_error_shape(&a, 400);
    assert_eq!(a.body["data"]["provider"]["code"], "validation_required");
    assert_eq!(a.body["data"]["code"]["code"], "validation_required");
    let a = app
        .post(
            "/api/collections/members/auth-with-oauth2",
            json!({"provider": "oidc", "code": 5, "createData": "x"}),
            None,
        )
        .await;
    assert_error_shape(&a, 400);
    assert_eq!(a.body["data"]["code"]["code"], "validation_invalid_value");
    assert_eq!(
        a.body["data"]["createData"]["code"],
        "validation_invalid_value"
    );
    // Not an auth collection.
    let a = app
        .post(
            "/api/collections/nope/auth-with-oauth2",
            json!({"provider": "oidc", "code": "c"}),
            Some(&su),
        )
        .await;
    assert_error_shape(&a, 404);
}

#[tokio::test]
async fn oauth2_disabled_is_403() {
    let (app, idp, su) = setup().await;
    for collection in ["users", "_superusers"] {
        let a = app
            .post(
                &format!("/api/collections/{collection}/auth-with-oauth2"),
                json!({"provider": "oidc", "code": "c"}),
                None,
            )
            .await;
        assert_error_shape(&a, 403);
        assert_eq!(
            a.body["message"],
            "The collection is not configured to allow OAuth2 authentication."
        );
    }
    let off = app
        .json(
            Method::PATCH,
            "/api/collections/members",
            Some(json!({"auth": {"oauth2": {"enabled": false}}})),
            Some(&su),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    let a = oauth(&app, &idp, "oidc", person("x", "x@example.com", true), None).await;
    assert_error_shape(&a, 403);
    let methods = app.get("/api/collections/members/auth-methods", None).await;
    assert_eq!(
        methods.body["oauth2"],
        json!({"enabled": false, "providers": []})
    );
}

/// RELIABILITY.md A-1: an attacker registers the victim's address with a password and
/// never verifies it; the victim later signs in with a provider that verified it.
#[tokio::test]
async fn a1_victim_oauth2_sign_in_ends_the_pre_registered_password_and_tokens() {
    let (app, idp, _) = setup().await;
    let squatted = register(&app, "victim@example.com", "attacker-pass-1").await;
    let attacker = password_login(&app, "victim@example.com", "attacker-pass-1").await;
    assert_eq!(attacker.status, StatusCode::OK);
    let attacker_token = token_of(&attacker);
    assert_eq!(attacker.body["record"]["verified"], false);

    let victim = oauth(
        &app,
        &idp,
        "oidc",
        person("victim-sub", "victim@example.com", true),
        None,
    )
    .await;
    assert_eq!(victim.status, StatusCode::OK, "{}", victim.body);
    assert_eq!(id_of(&victim), squatted, "linked by the verified email");
    assert_eq!(victim.body["meta"]["isNew"], false);
    assert_eq!(victim.body["record"]["verified"], true);

    assert_error_shape(
        &password_login(&app, "victim@example.com", "attacker-pass-1").await,
        400,
    );
    assert_error_shape(&refresh(&app, &attacker_token).await, 401);
    let mine = refresh(&app, &token_of(&victim)).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
}

/// RELIABILITY.md A-2: the attacker signs up first through provider A with the victim's
/// address (which A did not verify); the victim then signs in through provider B.
#[tokio::test]
async fn a2_an_unverified_link_does_not_survive_the_victims_sign_in() {
    let (app, idp, _) = setup().await;
    let attacker = oauth(
        &app,
        &idp,
        "oidc2",
        person("attacker-b", "victim@example.com", false),
        None,
    )
    .await;
    assert_eq!(attacker.status, StatusCode::OK, "{}", attacker.body);
    assert_eq!(attacker.body["meta"]["isNew"], true);
    assert_eq!(
        attacker.body["record"]["verified"], false,
        "an unverified provider email does not verify the record"
    );
    let record = id_of(&attacker);
    let attacker_token = token_of(&attacker);

    let victim = oauth(
        &app,
        &idp,
        "oidc",
        person("victim-a", "victim@example.com", true),
        None,
    )
    .await;
    assert_eq!(victim.status, StatusCode::OK, "{}", victim.body);
    assert_eq!(id_of(&victim), record);
    assert_eq!(victim.body["record"]["verified"], true);
    assert_eq!(
        links(&app, &record).await,
        [("oidc".to_owned(), "victim-a".to_owned())],
        "the attacker's provider link is gone"
    );
    assert_error_shape(&refresh(&app, &attacker_token).await, 401);

    // The attacker's provider account no longer leads to the victim's record.
    let again = oauth(
        &app,
        &idp,
        "oidc2",
        person("attacker-b", "victim@example.com", false),
        None,
    )
    .await;
    assert_error_shape(&again, 400);
    assert_eq!(again.body["data"]["email"]["code"], "validation_not_unique");
    // The victim still gets in.
    let victim = oauth(
        &app,
        &idp,
        "oidc",
        person("victim-a", "victim@example.com", true),
        None,
    )
    .await;
    assert_eq!(id_of(&victim), record);
}

#[tokio::test]
async fn an_unverified_provider_email_never_selects_an_existing_record() {
    let (app, idp, su) = setup().await;
    let unverified = register(&app, "bob@example.com", "bob-password-1").await;
    let verified = app
        .post(
            "/api/collections/members/records",
            json!({"email": "eve@example.com", "password": "eve-password-1", "passwordConfirm": "eve-password-1", "verified": true}),
            Some(&su),
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    let verified = verified.body["id"].as_str().unwrap().to_owned();
    for (email, id, password) in [
        ("bob@example.com", &unverified, "bob-password-1"),
        ("EVE@example.com", &verified, "eve-password-1"),
    ] {
        let a = oauth(&app, &idp, "oidc", person("intruder", email, false), None).await;
        assert_error_shape(&a, 400);
        assert_eq!(a.body["data"]["email"]["code"], "validation_not_unique");
        assert!(links(&app, id).await.is_empty());
        let still = password_login(&app, email, password).await;
        assert_eq!(still.status, StatusCode::OK, "{}", still.body);
    }
    // A verified provider email links to the verified record and keeps its password.
    let a = oauth(
        &app,
        &idp,
        "oidc",
        person("eve-idp", "eve@example.com", true),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(id_of(&a), verified);
    let still = password_login(&app, "eve@example.com", "eve-password-1").await;
    assert_eq!(still.status, StatusCode::OK, "{}", still.body);
}

#[tokio::test]
async fn a_signed_in_record_links_a_provider_account() {
    let (app, idp, _) = setup().await;
    let carol = register(&app, "carol@example.com", "carol-password").await;
    let session = password_login(&app, "carol@example.com", "carol-password").await;
    let old_token = token_of(&session);
    let linked = oauth(
        &app,
        &idp,
        "oidc",
        person("carol-idp", "carol.work@example.com", true),
        Some(&old_token),
    )
    .await;
    assert_eq!(linked.status, StatusCode::OK, "{}", linked.body);
    assert_eq!(id_of(&linked), carol);
    assert_eq!(linked.body["meta"]["isNew"], false);
    assert_eq!(
        linked.body["record"]["verified"], false,
        "another address proves nothing about this one"
    );
    // A new link on an unverified record rotates its tokenKey (API.md §5.2).
    assert_error_shape(&refresh(&app, &old_token).await, 401);
    assert_eq!(
        refresh(&app, &token_of(&linked)).await.status,
        StatusCode::OK
    );
    // The owner's password still works, and the account now signs in on its own.
    assert_eq!(
        password_login(&app, "carol@example.com", "carol-password")
            .await
            .status,
        StatusCode::OK
    );
    let again = oauth(
        &app,
        &idp,
        "oidc",
        person("carol-idp", "carol.work@example.com", true),
        None,
    )
    .await;
    assert_eq!(id_of(&again), carol);
    // One account per provider per record.
    let session = password_login(&app, "carol@example.com", "carol-password").await;
    let second = oauth(
        &app,
        &idp,
        "oidc",
        person("carol-other", "c2@example.com", true),
        Some(&token_of(&session)),
    )
    .await;
    assert_error_shape(&second, 400);
    // Signed in and proving this very address: verified, the password kept, the links
    // made while unverified dropped.
    let session = password_login(&app, "carol@example.com", "carol-password").await;
    let (code, verifier) = idp.mint(Grant {
        client_id: "gh-app".into(),
        user: json!({"id": 7, "login": "carol"}),
        emails: Some(json!([{"email": "carol@example.com", "primary": true, "verified": true}])),
        ..Default::default()
    });
    let proved = sign_in_with(
        &app,
        "github",
        &code,
        &verifier,
        Some(&token_of(&session)),
        None,
    )
    .await;
    assert_eq!(proved.status, StatusCode::OK, "{}", proved.body);
    assert_eq!(id_of(&proved), carol);
    assert_eq!(proved.body["record"]["verified"], true);
    assert_eq!(
        links(&app, &carol).await,
        [("github".to_owned(), "7".to_owned())]
    );
    assert_eq!(
        password_login(&app, "carol@example.com", "carol-password")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn github_counts_only_the_verified_primary_email() {
    let (app, idp, _) = setup().await;
    let mint = |emails: Value| {
        idp.mint(Grant {
            client_id: "gh-app".into(),
            user: json!({"id": 4242, "login": "octo", "name": "Octo Cat", "email": "public@example.com",
                         "avatar_url": "https://avatars.example/u/4242"}),
            emails: Some(emails),
            ..Default::default()
        })
    };
    let (code, verifier) = mint(json!([
        {"email": "public@example.com", "primary": false, "verified": false},
        {"email": "octo@example.com", "primary": true, "verified": true}
    ]));
    let a = sign_in_with(&app, "github", &code, &verifier, None, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["record"]["email"], "octo@example.com");
    assert_eq!(a.body["record"]["verified"], true);
    assert_eq!(a.body["record"]["handle"], "octo");
    assert_eq!(a.body["meta"]["id"], "4242");
    assert_eq!(
        a.body["meta"]["avatarURL"],
        "https://avatars.example/u/4242"
    );
    // Same account again: linked by id, whatever the emails say now.
    let (code, verifier) = mint(json!([]));
    let b = sign_in_with(&app, "github", &code, &verifier, None, None).await;
    assert_eq!(id_of(&b), id_of(&a));
}

#[tokio::test]
async fn verifying_by_mail_removes_links_made_while_unverified() {
    let (app, idp, _) = setup().await;
    let a = oauth(
        &app,
        &idp,
        "oidc2",
        person("early", "late@example.com", false),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let id = id_of(&a);
    assert_eq!(links(&app, &id).await.len(), 1);
    // A verification token as the mail would carry it.
    let collection = app
        .state
        .collections()
        .snapshot()
        .get("members")
        .cloned()
        .unwrap();
    let secret = collection
        .token_secret("verificationToken")
        .unwrap()
        .to_owned();
    let rid = id.clone();
    let token_key: String = app
        .state
        .data()
        .read(move |conn| -> Result<String, keelbase::db::DbError> {
            Ok(
                conn.query_row("SELECT tokenKey FROM members WHERE id = ?1", [rid], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
        .unwrap();
    let mut extra = serde_json::Map::new();
    extra.insert("email".into(), json!("late@example.com"));
    let claims = Claims {
        id: id.clone(),
        kind: "verification".into(),
        collection_id: collection.id.clone(),
        exp: token::now_unix() + 600,
        refreshable: None,
        extra,
    };
    let mail_token = token::sign(&claims, format!("{token_key}{secret}").as_bytes());
    let confirmed = app
        .post(
            "/api/collections/members/confirm-verification",
            json!({"token": mail_token}),
            None,
        )
        .await;
    assert_eq!(
        confirmed.status,
        StatusCode::NO_CONTENT,
        "{}",
        confirmed.body
    );
    assert!(links(&app, &id).await.is_empty());
}

#[tokio::test]
async fn deleting_a_record_deletes_its_links() {
    let (app, idp, su) = setup().await;
    let a = oauth(
        &app,
        &idp,
        "oidc",
        person("gone", "gone@example.com", true),
        None,
    )
    .await;
    let id = id_of(&a);
    let d = app
        .json(
            Method::DELETE,
            &format!("/api/collections/members/records/{id}"),
            None,
            Some(&su),
        )
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT, "{}", d.body);
    assert!(links(&app, &id).await.is_empty());
    let again = oauth(
        &app,
        &idp,
        "oidc",
        person("gone", "gone@example.com", true),
        None,
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["meta"]["isNew"], true);
    assert_ne!(id_of(&again), id);
}

#[tokio::test]
async fn the_auth_rule_applies_to_oauth2_sign_ins() {
    let (app, idp, su) = setup().await;
    let a = app
        .json(
            Method::PATCH,
            "/api/collections/members",
            Some(json!({"authRule": "verified = true"})),
            Some(&su),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let refused = oauth(
        &app,
        &idp,
        "oidc",
        person("nv", "nv@example.com", false),
        None,
    )
    .await;
    assert_error_shape(&refused, 403);
    let ok = oauth(&app, &idp, "oidc", person("v", "v@example.com", true), None).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

#[tokio::test]
async fn client_secrets_are_never_shown_and_survive_a_round_trip() {
    let (app, idp, su) = setup().await;
    let one = app.get("/api/collections/members", Some(&su)).await;
    let list = app.get("/api/collections", Some(&su)).await;
    for a in [&one, &list] {
        assert_eq!(a.status, StatusCode::OK);
        let text = String::from_utf8_lossy(&a.raw);
        for secret in ["secret-a", "secret-b", "gh-secret"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(!text.contains("clientSecret"));
    }
    assert_eq!(
        one.body["auth"]["oauth2"]["providers"][0]["clientId"],
        "app-a"
    );
    // Send the definition back as read (no secrets): they are kept.
    let auth = one.body["auth"].clone();
    let a = app
        .json(
            Method::PATCH,
            "/api/collections/members",
            Some(json!({"auth": {"oauth2": auth["oauth2"]}})),
            Some(&su),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let ok = oauth(
        &app,
        &idp,
        "oidc",
        person("rt", "rt@example.com", true),
        None,
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    // Bad provider options are refused with their path.
    let bad = app
        .json(
            Method::PATCH,
            "/api/collections/members",
            Some(json!({"auth": {"oauth2": {"providers": [{"name": "oidc", "clientId": "x"}]}}})),
            Some(&su),
        )
        .await;
    assert_error_shape(&bad, 400);
    assert!(
        bad.body.to_string().contains("/auth/oauth2/providers/0/"),
        "{}",
        bad.body
    );
}

#[tokio::test]
async fn auth_methods_offer_each_provider_with_a_matching_pkce_pair() {
    let (app, idp, _) = setup().await;
    let a = app.get("/api/collections/members/auth-methods", None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["oauth2"]["enabled"], true);
    let providers = a.body["oauth2"]["providers"].as_array().unwrap();
    let names: Vec<&str> = providers
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["oidc", "oidc2", "github"]);
    assert_eq!(a.body["authProviders"].as_array().unwrap().len(), 3);
    for p in providers {
        let url = p["authURL"].as_str().unwrap();
        assert_eq!(p["authUrl"], url);
        assert!(url.ends_with("&redirect_uri="), "{url}");
        assert!(!url.contains("secret"), "{url}");
        let verifier = p["codeVerifier"].as_str().unwrap();
        let challenge = p["codeChallenge"].as_str().unwrap();
        assert_eq!(verifier.len(), 43);
        assert_eq!(s256(verifier), challenge);
        assert_eq!(p["codeChallengeMethod"], "S256");
        let state = p["state"].as_str().unwrap();
        assert_eq!(state.len(), 30);
        let query: HashMap<String, String> = url::Url::parse(url)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        assert_eq!(query["state"], state);
        assert_eq!(query["code_challenge"], challenge);
        assert_eq!(query["code_challenge_method"], "S256");
        assert_eq!(query["response_type"], "code");
        assert_eq!(query["redirect_uri"], "");
        assert_eq!(query["client_id"], client_of(p["name"].as_str().unwrap()));
    }
    assert_eq!(providers[0]["displayName"], "IdP oidc");
    assert_eq!(providers[2]["displayName"], "GitHub");
    assert!(providers[0]["authURL"]
        .as_str()
        .unwrap()
        .starts_with(&idp.url("/authorize?client_id=app-a&")));
    // Every call offers a fresh pair.
    let b = app.get("/api/collections/members/auth-methods", None).await;
    assert_ne!(
        b.body["oauth2"]["providers"][0]["codeVerifier"],
        providers[0]["codeVerifier"]
    );
    // The SDK's request: no legacy keys.
    let sdk = app
        .get(
            "/api/collections/members/auth-methods?fields=mfa,otp,password,oauth2",
            None,
        )
        .await;
    assert!(sdk.body.get("authProviders").is_none());
    assert_eq!(sdk.body["oauth2"]["providers"].as_array().unwrap().len(), 3);
    // The flow the SDK runs next, with the offered verifier.
    let p = &providers[0];
    let code = random(24);
    idp.state.lock().unwrap().codes.insert(
        code.clone(),
        Grant {
            client_id: "app-a".into(),
            redirect_uri: REDIRECT.into(),
            challenge: Some(p["codeChallenge"].as_str().unwrap().to_owned()),
            user: person("sdk", "sdk@example.com", true),
            ..Default::default()
        },
    );
    let signed = sign_in_with(
        &app,
        "oidc",
        &code,
        p["codeVerifier"].as_str().unwrap(),
        None,
        None,
    )
    .await;
    assert_eq!(signed.status, StatusCode::OK, "{}", signed.body);
}

#[tokio::test]
async fn the_redirect_without_a_waiting_realtime_client_fails_and_reflects_nothing() {
    let app = TestApp::new().await;
    for (method, status) in [
        (Method::GET, StatusCode::TEMPORARY_REDIRECT),
        (Method::POST, StatusCode::SEE_OTHER),
    ] {
        let a = app
            .json(
                method,
                "/api/oauth2-redirect?state=%3Cscript%3E&code=SECRETCODE",
                None,
                None,
            )
            .await;
        assert_eq!(a.status, status);
        assert_eq!(a.headers["location"], "../_/#/auth/oauth2-redirect-failure");
        assert_eq!(a.headers["referrer-policy"], "no-referrer");
        assert_eq!(a.headers["cache-control"], "no-store");
        assert!(a.raw.is_empty(), "{:?}", String::from_utf8_lossy(&a.raw));
    }
}

async fn trigger_count(app: &TestApp) -> i64 {
    app.state
        .data()
        .read(|conn| -> Result<i64, keelbase::db::DbError> {
            Ok(conn.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%externalAuths'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap()
}

async fn link_count(app: &TestApp) -> i64 {
    app.state
        .data()
        .read(|conn| -> Result<i64, keelbase::db::DbError> {
            Ok(conn.query_row("SELECT count(*) FROM _externalAuths", [], |r| r.get(0))?)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn links_follow_their_records_through_renames_rebuilds_restarts_and_deletes() {
    let (app, idp, su) = setup().await;
    // users and members each have their delete trigger.
    assert_eq!(trigger_count(&app).await, 2);
    // Rename and rebuild (a new property) keep it working.
    let a = app
        .json(
            Method::PATCH,
            "/api/collections/members",
            Some(
                json!({"name": "people", "schema": {"type": "object", "properties": {
                    "name": {"type": "string"}, "handle": {"type": "string"},
                    "picture": {"type": "string"}, "externalId": {"type": "string"},
                    "age": {"type": "integer"}
                }}}),
            ),
            Some(&su),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(trigger_count(&app).await, 2);
    let signed = |sub: &str| {
        let (code, verifier) = idp.mint(Grant {
            client_id: "app-a".into(),
            user: person(sub, &format!("{sub}@example.com"), true),
            ..Default::default()
        });
        app.post(
            "/api/collections/people/auth-with-oauth2",
            json!({"provider": "oidc", "code": code, "codeVerifier": verifier, "redirectURL": REDIRECT}),
            None,
        )
    };
    let one = signed("one").await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    let d = app
        .json(
            Method::DELETE,
            &format!("/api/collections/people/records/{}", id_of(&one)),
            None,
            Some(&su),
        )
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    assert_eq!(link_count(&app).await, 0);

    // A database whose auth table lacks the trigger gets it at the next start.
    app.state
        .data()
        .write(|conn| -> Result<(), keelbase::db::DbError> {
            let name: String = conn.query_row(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'people'",
                [],
                |r| r.get(0),
            )?;
            conn.execute_batch(&format!("DROP TRIGGER \"{name}\""))?;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(trigger_count(&app).await, 1);
    app.state.close().await;
    let dir = app.dir;
    let app = TestApp::at(dir, |_| {}).await;
    assert_eq!(trigger_count(&app).await, 2);

    // Deleting the collection deletes its links.
    let su = app.superuser_token().await;
    let (code, verifier) = idp.mint(Grant {
        client_id: "app-a".into(),
        user: person("two", "two@example.com", true),
        ..Default::default()
    });
    let two = app
        .post(
            "/api/collections/people/auth-with-oauth2",
            json!({"provider": "oidc", "code": code, "codeVerifier": verifier, "redirectURL": REDIRECT}),
            None,
        )
        .await;
    assert_eq!(two.status, StatusCode::OK, "{}", two.body);
    assert_eq!(link_count(&app).await, 1);
    let d = app
        .json(Method::DELETE, "/api/collections/people", None, Some(&su))
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT, "{}", d.body);
    assert_eq!(link_count(&app).await, 0);
}
