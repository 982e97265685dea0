//! The mailed auth flows against a real SMTP server (aiosmtpd, from PyPI, installed into
//! `tests/smtp/.venv` on first run): verification, password reset and email change, each
//! followed from the link in the received mail.

mod common;

use axum::http::{Method, StatusCode};
use common::smtp::Sink;
use common::{assert_error_shape, Answer, TestApp};
use keelbase::config::SmtpTls;
use serde_json::{json, Value};

/// The token of the link in `mail` for `action` (`confirm-verification`, …).
fn token_in(mail: &Value, action: &str) -> String {
    let html = mail["html"].as_str().unwrap();
    let marker = format!("/_/#/auth/{action}/");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {action} link in {html}"))
        + marker.len();
    html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect()
}

async fn app_with(sink: &Sink) -> TestApp {
    let port = sink.port;
    TestApp::with_config(move |c| {
        c.smtp_host = "127.0.0.1".into();
        c.smtp_port = port;
        c.smtp_tls = SmtpTls::None;
        c.app_url = "http://app.example".into();
        c.app_name = "Acme".into();
    })
    .await
}

async fn register(app: &TestApp, email: &str) -> String {
    let a = app
        .post(
            "/api/collections/users/records",
            json!({"email": email, "password": "password123", "passwordConfirm": "password123"}),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.body["id"].as_str().unwrap().to_owned()
}

async fn login(app: &TestApp, email: &str, password: &str) -> Answer {
    app.post(
        "/api/collections/users/auth-with-password",
        json!({"identity": email, "password": password}),
        None,
    )
    .await
}

async fn post(app: &TestApp, action: &str, body: Value) -> Answer {
    app.post(&format!("/api/collections/users/{action}"), body, None)
        .await
}

#[tokio::test]
async fn verification_by_the_mailed_link() {
    let sink = Sink::start();
    let app = app_with(&sink).await;
    let admin = app.superuser_token().await;
    let id = register(&app, "alice@example.com").await;

    let known = post(
        &app,
        "request-verification",
        json!({"email": "alice@example.com"}),
    )
    .await;
    let unknown = post(
        &app,
        "request-verification",
        json!({"email": "nobody@example.com"}),
    )
    .await;
    assert_eq!(known.status, StatusCode::NO_CONTENT);
    assert_eq!(
        (known.status, &known.raw),
        (unknown.status, &unknown.raw),
        "no enumeration"
    );
    let mail = sink.mail_to("alice@example.com").await;
    assert_eq!(mail["subject"], "Verify your Acme email");
    assert!(mail["html"]
        .as_str()
        .unwrap()
        .contains("http://app.example/_/#/auth/confirm-verification/"));
    let token = token_in(&mail, "confirm-verification");
    sink.assert_quiet().await; // nothing went to the unknown address

    // The wrong purpose and the wrong collection are refused.
    let a = post(
        &app,
        "confirm-password-reset",
        json!({"token": token, "password": "password999", "passwordConfirm": "password999"}),
    )
    .await;
    assert_eq!(
        a.body["data"]["token"]["code"], "validation_invalid_token_claims",
        "{}",
        a.body
    );
    let other = app
        .post(
            "/api/collections",
            json!({"name": "members", "type": "auth", "schema": {"type": "object", "properties": {}}}),
            Some(&admin),
        )
        .await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);
    let a = app
        .post(
            "/api/collections/members/confirm-verification",
            json!({"token": token}),
            None,
        )
        .await;
    assert_eq!(
        a.body["data"]["token"]["code"],
        "validation_token_collection_mismatch"
    );
    let a = post(
        &app,
        "confirm-verification",
        json!({"token": "not.a.token"}),
    )
    .await;
    assert_error_shape(&a, 400);
    assert_eq!(a.body["data"]["token"]["code"], "validation_invalid_token");

    let a = post(&app, "confirm-verification", json!({"token": token})).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
    let record = app
        .get(
            &format!("/api/collections/users/records/{id}"),
            Some(&admin),
        )
        .await;
    assert_eq!(record.body["verified"], true);
    // Verified records get no more verification mails.
    let again = post(
        &app,
        "request-verification",
        json!({"email": "alice@example.com"}),
    )
    .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    sink.assert_quiet().await;
    let bad = post(
        &app,
        "request-verification",
        json!({"email": "not-an-email"}),
    )
    .await;
    assert_eq!(bad.body["data"]["email"]["code"], "validation_is_email");
    // Superusers are verified by default.
    let a = app
        .post(
            "/api/collections/_superusers/request-verification",
            json!({"email": "a@b.co"}),
            None,
        )
        .await;
    assert_eq!(a.body["message"], "All superusers are verified by default.");
}

#[tokio::test]
async fn password_reset_by_the_mailed_link_works_once() {
    let sink = Sink::start();
    let app = app_with(&sink).await;
    register(&app, "bob@example.com").await;
    let before = login(&app, "bob@example.com", "password123").await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let known = post(
        &app,
        "request-password-reset",
        json!({"email": "bob@example.com"}),
    )
    .await;
    let unknown = post(
        &app,
        "request-password-reset",
        json!({"email": "nobody@example.com"}),
    )
    .await;
    assert_eq!((known.status, &known.raw), (unknown.status, &unknown.raw));
    assert_eq!(known.status, StatusCode::NO_CONTENT);
    let token = token_in(
        &sink.mail_to("bob@example.com").await,
        "confirm-password-reset",
    );
    // A second request within two minutes answers the same but sends nothing.
    let again = post(
        &app,
        "request-password-reset",
        json!({"email": "bob@example.com"}),
    )
    .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    sink.assert_quiet().await;

    let mismatch = post(
        &app,
        "confirm-password-reset",
        json!({"token": token, "password": "newpassword1", "passwordConfirm": "other"}),
    )
    .await;
    assert_eq!(
        mismatch.body["data"]["passwordConfirm"]["code"],
        "validation_values_mismatch"
    );
    let ok = post(
        &app,
        "confirm-password-reset",
        json!({"token": token, "password": "newpassword1", "passwordConfirm": "newpassword1"}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.body);
    let reused = post(
        &app,
        "confirm-password-reset",
        json!({"token": token, "password": "another-one1", "passwordConfirm": "another-one1"}),
    )
    .await;
    assert_error_shape(&reused, 400);
    assert_eq!(
        reused.body["data"]["token"]["code"],
        "validation_invalid_token"
    );
    assert_error_shape(&login(&app, "bob@example.com", "password123").await, 400);
    assert_eq!(
        login(&app, "bob@example.com", "newpassword1").await.status,
        StatusCode::OK
    );
    // The token from before the reset is revoked.
    let r = app
        .json(
            Method::POST,
            "/api/collections/users/auth-refresh",
            None,
            Some(&before),
        )
        .await;
    assert_error_shape(&r, 401);
}

#[tokio::test]
async fn email_change_by_the_mailed_link() {
    let sink = Sink::start();
    let app = app_with(&sink).await;
    register(&app, "carol@example.com").await;
    register(&app, "taken@example.com").await;
    let token = login(&app, "carol@example.com", "password123").await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let request = |body: Value, token: Option<String>| {
        let app = &app;
        async move {
            app.post(
                "/api/collections/users/request-email-change",
                body,
                token.as_deref(),
            )
            .await
        }
    };
    assert_error_shape(
        &request(json!({"newEmail": "new@example.com"}), None).await,
        401,
    );
    let taken = request(
        json!({"newEmail": "TAKEN@example.com"}),
        Some(token.clone()),
    )
    .await;
    assert_eq!(
        taken.body["data"]["newEmail"]["code"],
        "validation_invalid_new_email"
    );
    let a = request(json!({"newEmail": "new@example.com"}), Some(token.clone())).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
    let mail = sink.mail_to("new@example.com").await;
    let change = token_in(&mail, "confirm-email-change");

    let wrong = post(
        &app,
        "confirm-email-change",
        json!({"token": change, "password": "wrong-password"}),
    )
    .await;
    assert_eq!(
        wrong.body["data"]["password"]["code"],
        "validation_invalid_password"
    );
    let ok = post(
        &app,
        "confirm-email-change",
        json!({"token": change, "password": "password123"}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.body);
    let fresh = login(&app, "new@example.com", "password123").await;
    assert_eq!(fresh.status, StatusCode::OK);
    assert_eq!(fresh.body["record"]["verified"], true);
    assert_error_shape(&login(&app, "carol@example.com", "password123").await, 400);
    let r = app
        .json(
            Method::POST,
            "/api/collections/users/auth-refresh",
            None,
            Some(&token),
        )
        .await;
    assert_error_shape(&r, 401);
    let reused = post(
        &app,
        "confirm-email-change",
        json!({"token": change, "password": "password123"}),
    )
    .await;
    assert_error_shape(&reused, 400);
}

/// The code in an OTP mail (the first run of 8 digits).
fn code_in(mail: &Value) -> String {
    let html = mail["html"].as_str().unwrap();
    let bytes: Vec<char> = html.chars().collect();
    for i in 0..bytes.len() {
        let run: String = bytes[i..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        if run.len() == 8 {
            return run;
        }
    }
    panic!("no code in {html}")
}

async fn enable(app: &TestApp, admin: &str, auth: Value) {
    let a = app
        .json(
            Method::PATCH,
            "/api/collections/users",
            Some(json!({ "auth": auth })),
            Some(admin),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn one_time_passwords_by_mail() {
    let sink = Sink::start();
    let app = app_with(&sink).await;
    let admin = app.superuser_token().await;
    let id = register(&app, "dave@example.com").await;
    let disabled = post(&app, "request-otp", json!({"email": "dave@example.com"})).await;
    assert_error_shape(&disabled, 403);
    enable(&app, &admin, json!({"otp": {"enabled": true}})).await;
    let methods = app.get("/api/collections/users/auth-methods", None).await;
    assert_eq!(
        methods.body["otp"],
        json!({"enabled": true, "duration": 180})
    );

    let unknown = post(&app, "request-otp", json!({"email": "nobody@example.com"})).await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert_eq!(unknown.body["otpId"].as_str().unwrap().len(), 15);
    let known = post(&app, "request-otp", json!({"email": "dave@example.com"})).await;
    assert_eq!(known.status, StatusCode::OK);
    let otp_id = known.body["otpId"].as_str().unwrap().to_owned();
    let code = code_in(&sink.mail_to("dave@example.com").await);
    sink.assert_quiet().await; // nothing for the unknown address

    let wrong = post(
        &app,
        "auth-with-otp",
        json!({"otpId": otp_id, "password": "00000000"}),
    )
    .await;
    assert_error_shape(&wrong, 400);
    assert_eq!(wrong.body["message"], "Invalid or expired OTP.");
    let fake = post(
        &app,
        "auth-with-otp",
        json!({"otpId": unknown.body["otpId"], "password": code}),
    )
    .await;
    assert_eq!(fake.body["message"], "Invalid or expired OTP.");
    let ok = post(
        &app,
        "auth-with-otp",
        json!({"otpId": otp_id, "password": code}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["record"]["id"], id.as_str());
    assert_eq!(
        ok.body["record"]["verified"], true,
        "the code reached the record's own email"
    );
    let reused = post(
        &app,
        "auth-with-otp",
        json!({"otpId": otp_id, "password": code}),
    )
    .await;
    assert_eq!(reused.body["message"], "Invalid or expired OTP.");

    // Five wrong codes end the OTP: the right one no longer works.
    let otp_id = post(&app, "request-otp", json!({"email": "dave@example.com"}))
        .await
        .body["otpId"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_in(&sink.mail_to("dave@example.com").await);
    for _ in 0..5 {
        let a = post(
            &app,
            "auth-with-otp",
            json!({"otpId": otp_id, "password": "99999999"}),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
    }
    let late = post(
        &app,
        "auth-with-otp",
        json!({"otpId": otp_id, "password": code}),
    )
    .await;
    assert_eq!(late.body["message"], "Invalid or expired OTP.");
}

#[tokio::test]
async fn mfa_needs_a_second_different_method() {
    let sink = Sink::start();
    let app = app_with(&sink).await;
    let admin = app.superuser_token().await;
    register(&app, "erin@example.com").await;
    enable(
        &app,
        &admin,
        json!({"otp": {"enabled": true}, "mfa": {"enabled": true}}),
    )
    .await;

    let first = login(&app, "erin@example.com", "password123").await;
    assert_eq!(first.status, StatusCode::UNAUTHORIZED);
    let keys: Vec<&String> = first.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["mfaId"], "a bare object, not the error envelope");
    let mfa = first.body["mfaId"].as_str().unwrap().to_owned();

    let same = app
        .post(
            "/api/collections/users/auth-with-password",
            json!({"identity": "erin@example.com", "password": "password123", "mfaId": mfa}),
            None,
        )
        .await;
    assert_error_shape(&same, 400);
    assert_eq!(
        same.body["message"],
        "A different authentication method is required."
    );
    let bogus = app
        .post(
            "/api/collections/users/auth-with-password?mfaId=zzzzzzzzzzzzzzz",
            json!({"identity": "erin@example.com", "password": "password123"}),
            None,
        )
        .await;
    assert_eq!(bogus.body["message"], "Invalid or expired MFA session.");

    let otp = post(&app, "request-otp", json!({"email": "erin@example.com"}))
        .await
        .body["otpId"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_in(&sink.mail_to("erin@example.com").await);
    let second = post(
        &app,
        "auth-with-otp",
        json!({"otpId": otp, "password": code, "mfaId": mfa}),
    )
    .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert!(second.body["token"].as_str().is_some());
    // The MFA session is used up.
    let again = app
        .post(
            "/api/collections/users/auth-with-password",
            json!({"identity": "erin@example.com", "password": "password123", "mfaId": mfa}),
            None,
        )
        .await;
    assert_eq!(again.body["message"], "Invalid or expired MFA session.");
}

#[tokio::test]
async fn superusers_can_require_mfa_with_an_emailed_code() {
    let sink = Sink::start();
    let app = app_with(&sink).await;
    let admin = app.superuser_token().await;
    let a = app
        .json(
            Method::PATCH,
            "/api/collections/_superusers",
            Some(json!({"auth": {"otp": {"enabled": true}, "mfa": {"enabled": true}}})),
            Some(&admin),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let (email, password) = (common::ADMIN_EMAIL, common::ADMIN_PASSWORD);
    let first = app
        .post(
            "/api/collections/_superusers/auth-with-password",
            json!({"identity": email, "password": password}),
            None,
        )
        .await;
    assert_eq!(first.status, StatusCode::UNAUTHORIZED, "{}", first.body);
    let mfa = first.body["mfaId"].as_str().unwrap().to_owned();
    let otp = app
        .post(
            "/api/collections/_superusers/request-otp",
            json!({"email": email}),
            None,
        )
        .await;
    let otp_id = otp.body["otpId"].as_str().unwrap().to_owned();
    let code = code_in(&sink.mail_to(email).await);
    let done = app
        .post(
            "/api/collections/_superusers/auth-with-otp",
            json!({"otpId": otp_id, "password": code, "mfaId": mfa}),
            None,
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let token = done.body["token"].as_str().unwrap();
    // A full superuser token.
    let list = app.get("/api/collections", Some(token)).await;
    assert_eq!(list.status, StatusCode::OK);
}
