//! File uploads, downloads, thumbnails and protected files (API.md Part B §6, issue 10),
//! on the local backend and on a real S3-compatible server (moto), the same scenario.

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{assert_error_shape, Answer, TestApp};
use serde_json::{json, Value};

const BOUNDARY: &str = "KbFileBoundary";

/// A part of a multipart body: `(name, Some(filename), bytes)` is a file.
type Part<'a> = (&'a str, Option<&'a str>, &'a [u8]);

fn multipart(parts: &[Part<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, file, data) in parts {
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match file {
            Some(f) => out.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => out.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

async fn send_multipart(
    app: &TestApp,
    method: Method,
    uri: &str,
    parts: &[Part<'_>],
    token: Option<&str>,
) -> Answer {
    let mut b = Request::builder().method(method).uri(uri).header(
        "content-type",
        format!("multipart/form-data; boundary={BOUNDARY}"),
    );
    if let Some(t) = token {
        b = b.header("authorization", t);
    }
    app.send(b.body(Body::from(multipart(parts))).unwrap())
        .await
}

async fn get(app: &TestApp, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut b = Request::builder().method(Method::GET).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    app.send(b.body(Body::empty()).unwrap()).await
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::DynamicImage::ImageRgba8(image::RgbaImage::from_fn(w, h, |x, y| {
        image::Rgba([(x % 256) as u8, (y % 256) as u8, 128, 255])
    }));
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, image::ImageFormat::Png).unwrap();
    buf.into_inner()
}

fn header<'a>(a: &'a Answer, name: &str) -> &'a str {
    a.headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

/// `docs`: a single file (100 bytes, png or text), a multi file (2 files, 1 KB, thumbs),
/// an image field (thumbs) and a protected file; `creatable` decides the createRule.
async fn setup(app: &TestApp, token: &str) -> String {
    let a = app
        .post(
            "/api/collections",
            json!({"name": "docs", "schema": {"type": "object", "properties": {
                "title": {"type": "string"},
                "one": {"type": "string", "x-file": {"maxSize": 100, "mimeTypes": ["image/png", "text/plain"]}},
                "many": {"type": "array", "items": {"type": "string"}, "maxItems": 2, "x-file": {"maxSize": 1000}},
                "pic": {"type": "string", "x-file": {"maxSize": 1000000, "thumbs": ["50x50", "0x20", "40x40f"]}},
                "priv": {"type": "string", "x-file": {"protected": true}}
            }},
            "listRule": "", "viewRule": "title != 'secret' || @request.auth.id != ''",
            "createRule": "title != 'refused'", "updateRule": "", "deleteRule": ""}),
            Some(token),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.body["id"].as_str().unwrap().to_owned()
}

/// Whether the object `key` exists in the app's storage (local or S3).
async fn stored(app: &TestApp, key: &str) -> bool {
    app.state.files().storage().head(key).await.is_ok()
}

/// Wait (bounded) until the removal queue is empty.
async fn drained(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = app
            .state
            .data()
            .read(|c| -> Result<i64, keelbase::db::DbError> { Ok(keelbase::files::queue::len(c)?) })
            .await
            .unwrap();
        if n == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the removal queue did not drain: {n} left"
        );
        app.state.files().kick();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn stored_name_shape(name: &str, base: &str, ext: &str) -> bool {
    let Some(rest) = name.strip_prefix(&format!("{base}_")) else {
        return false;
    };
    rest.len() == 10 + ext.len()
        && rest.ends_with(ext)
        && rest[..10]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The whole scenario, on whatever backend `app` stores in.
async fn scenario(app: &TestApp) {
    let token = app.superuser_token().await;
    let cid = setup(app, &token).await;
    let records = "/api/collections/docs/records";

    // Create with a single and two multiple files.
    let a = send_multipart(
        app,
        Method::POST,
        records,
        &[
            ("title", None, b"first"),
            ("one", Some("My Notes!.txt"), b"hello"),
            ("many", Some("a.txt"), b"aaa"),
            ("many", Some("../../etc/passwd"), b"bbb"),
        ],
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let id = a.body["id"].as_str().unwrap().to_owned();
    let one = a.body["one"].as_str().unwrap().to_owned();
    assert!(stored_name_shape(&one, "my_notes", ".txt"), "{one}");
    let many: Vec<String> = serde_json::from_value(a.body["many"].clone()).unwrap();
    assert_eq!(many.len(), 2);
    assert!(
        stored_name_shape(&many[0], "a", ".txt") || many[0].starts_with('a'),
        "{many:?}"
    );
    assert!(
        stored_name_shape(&many[1], "passwd", ".txt"),
        "traversal stripped, type sniffed: {many:?}"
    );
    for n in many.iter().chain([&one]) {
        assert!(
            stored(app, &format!("{cid}/{id}/{n}")).await,
            "{n} stored under its key"
        );
    }

    // Download: bytes, headers.
    let url = format!("/api/files/docs/{id}/{one}");
    let d = get(app, &url, &[]).await;
    assert_eq!(d.status, StatusCode::OK);
    assert_eq!(d.raw, b"hello");
    assert_eq!(header(&d, "content-type"), "text/plain; charset=utf-8");
    assert_eq!(
        header(&d, "content-disposition"),
        format!("attachment; filename=\"{one}\"")
    );
    assert_eq!(header(&d, "accept-ranges"), "bytes");
    assert_eq!(header(&d, "content-length"), "5");
    assert!(header(&d, "cache-control").contains("max-age=2592000"));
    assert!(header(&d, "content-security-policy").contains("sandbox"));
    let etag = header(&d, "etag").to_owned();
    assert!(etag.starts_with('"'), "{etag}");
    // By collection id too.
    assert_eq!(
        get(app, &format!("/api/files/{cid}/{id}/{one}"), &[])
            .await
            .raw,
        b"hello"
    );
    // Conditional and ranged.
    let nm = get(app, &url, &[("if-none-match", &etag)]).await;
    assert_eq!(nm.status, StatusCode::NOT_MODIFIED);
    assert!(nm.raw.is_empty());
    let r = get(app, &url, &[("range", "bytes=1-3")]).await;
    assert_eq!(
        (r.status, r.raw.as_slice()),
        (StatusCode::PARTIAL_CONTENT, &b"ell"[..])
    );
    assert_eq!(header(&r, "content-range"), "bytes 1-3/5");
    let r = get(app, &url, &[("range", "bytes=-2")]).await;
    assert_eq!(r.raw, b"lo");
    let r = get(app, &url, &[("range", "bytes=3-")]).await;
    assert_eq!(r.raw, b"lo");
    let r = get(app, &url, &[("range", "bytes=5-")]).await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&r, "content-range"), "bytes */5");
    let r = get(app, &url, &[("range", "bytes=0-1,3-4")]).await;
    assert_eq!(
        (r.status, r.raw.len()),
        (StatusCode::OK, 5),
        "several ranges: the whole file"
    );
    let r = get(
        app,
        &url,
        &[("range", "bytes=1-2"), ("if-range", "\"stale\"")],
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "If-Range that does not match: the whole file"
    );
    let dl = get(app, &format!("{url}?download=1"), &[]).await;
    assert!(header(&dl, "content-disposition").starts_with("attachment"));

    // Unknown names, records and collections, and traversal attempts: 404 JSON.
    for bad in [
        format!("/api/files/docs/{id}/nope_0123456789.txt"),
        format!("/api/files/docs/nosuchrecord123/{one}"),
        format!("/api/files/nosuch/{id}/{one}"),
        format!("/api/files/docs/{id}/..%2F..%2Fdata.db"),
        format!("/api/files/docs/{id}/%2E%2E"),
        format!("/api/files/docs/..%2F{id}/{one}"),
        format!("/api/files/docs/{id}/.env"),
        format!("/api/files/docs/{id}/a%00b.txt"),
        format!("/api/files/docs/{id}/thumbs_{one}"),
    ] {
        let r = get(app, &bad, &[]).await;
        assert_error_shape(&r, 404);
    }

    // Refusals, each with PocketBase's code, and nothing stored.
    let before = app.get(&format!("{records}?perPage=1"), None).await.body["totalItems"].clone();
    let big = vec![b'x'; 101];
    let refusals: Vec<(Vec<Part>, &str, Value)> = vec![
        (
            vec![("one", Some("big.txt"), &big)],
            "one",
            json!({"code": "validation_file_size_limit", "message": "Failed to upload big.txt - the maximum allowed file size is 100 bytes.", "params": {"file": "big.txt", "maxSize": 100}}),
        ),
        (
            vec![
                ("many", Some("a.txt"), b"1"),
                ("many", Some("b.txt"), b"2"),
                ("many", Some("c.txt"), b"3"),
            ],
            "many",
            json!({"code": "validation_too_many_files", "message": "The maximum allowed files is 2.", "params": {"maxSelect": 2}}),
        ),
    ];
    for (parts, field, error) in refusals {
        let r = send_multipart(app, Method::POST, records, &parts, None).await;
        assert_error_shape(&r, 400);
        assert_eq!(r.body["data"][field], error);
    }
    let r = send_multipart(
        app,
        Method::POST,
        records,
        &[("one", Some("x.bin"), &[0u8, 1, 2, 3, 4])],
        None,
    )
    .await;
    assert_error_shape(&r, 400);
    assert_eq!(
        r.body["data"]["one"]["code"],
        "validation_invalid_mime_type"
    );
    // A PNG named .txt is a PNG: allowed by type, stored with the name's extension.
    let tiny = png(2, 2);
    assert!(tiny.len() <= 100);
    let r = send_multipart(
        app,
        Method::POST,
        records,
        &[("one", Some("shot.txt"), &tiny)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let fake = app
        .post(
            records,
            json!({"one": "someone_elses_0123456789.png"}),
            None,
        )
        .await;
    assert_error_shape(&fake, 400);
    assert_eq!(fake.body["data"]["one"]["code"], "validation_invalid_file");
    // A create the rule refuses: 400, and its file is removed.
    let refused = send_multipart(
        app,
        Method::POST,
        records,
        &[("title", None, b"refused"), ("many", Some("z.txt"), b"zzz")],
        None,
    )
    .await;
    assert_error_shape(&refused, 400);
    drained(app).await;
    let after = app.get(&format!("{records}?perPage=1"), None).await.body["totalItems"].clone();
    assert_eq!(
        after.as_u64().unwrap(),
        before.as_u64().unwrap() + 1,
        "only the PNG create landed"
    );

    // Update: append, remove, replace, clear; replaced files leave storage.
    let rec = format!("{records}/{id}");
    let up = send_multipart(
        app,
        Method::PATCH,
        &rec,
        &[("many-", None, many[0].as_bytes())],
        None,
    )
    .await;
    assert_eq!(up.status, StatusCode::OK, "{}", up.body);
    assert_eq!(up.body["many"], json!([many[1]]));
    let up = send_multipart(
        app,
        Method::PATCH,
        &rec,
        &[("many+", Some("c.txt"), b"ccc")],
        None,
    )
    .await;
    assert_eq!(up.status, StatusCode::OK, "{}", up.body);
    let now: Vec<String> = serde_json::from_value(up.body["many"].clone()).unwrap();
    assert_eq!((now.len(), &now[0]), (2, &many[1]));
    let over = send_multipart(
        app,
        Method::PATCH,
        &rec,
        &[("many+", Some("d.txt"), b"ddd")],
        None,
    )
    .await;
    assert_eq!(
        over.body["data"]["many"]["code"],
        "validation_too_many_files"
    );
    let ghost = app
        .json(
            Method::PATCH,
            &rec,
            Some(json!({"many": ["nonexistent_0123456789.txt"]})),
            None,
        )
        .await;
    assert_eq!(
        ghost.body["data"]["many"]["code"],
        "validation_invalid_file"
    );
    let up = send_multipart(
        app,
        Method::PATCH,
        &rec,
        &[("one", Some("new.txt"), b"new")],
        None,
    )
    .await;
    let new_one = up.body["one"].as_str().unwrap().to_owned();
    assert_ne!(new_one, one);
    drained(app).await;
    assert!(
        !stored(app, &format!("{cid}/{id}/{one}")).await,
        "the replaced file is removed"
    );
    assert!(
        !stored(app, &format!("{cid}/{id}/{}", many[0])).await,
        "the removed file is removed"
    );
    assert!(stored(app, &format!("{cid}/{id}/{new_one}")).await);
    let cleared = app
        .json(
            Method::PATCH,
            &rec,
            Some(json!({"many": "", "one": ""})),
            None,
        )
        .await;
    assert_eq!(
        (cleared.body["many"].clone(), cleared.body["one"].clone()),
        (json!([]), json!(""))
    );
    drained(app).await;
    assert!(!stored(app, &format!("{cid}/{id}/{new_one}")).await);

    // Active content: never inline, never its own type.
    for (name, data) in [
        (
            "page.html",
            &b"<!DOCTYPE html><script>alert(1)</script>"[..],
        ),
        (
            "pic.svg",
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        ),
        ("x.html.", b"<html>"),
    ] {
        let r = send_multipart(
            app,
            Method::PATCH,
            &rec,
            &[("many", Some(name), data)],
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let stored_as = r.body["many"][0].as_str().unwrap().to_owned();
        let d = get(app, &format!("/api/files/docs/{id}/{stored_as}"), &[]).await;
        assert_eq!(
            header(&d, "content-type"),
            "application/octet-stream",
            "{name}"
        );
        assert!(
            header(&d, "content-disposition").starts_with("attachment"),
            "{name}"
        );
        assert_eq!(header(&d, "x-content-type-options"), "nosniff");
    }

    // Thumbnails: declared sizes and 100x100; the original for anything else.
    let img = png(200, 150);
    let up = send_multipart(
        app,
        Method::PATCH,
        &rec,
        &[("pic", Some("photo.png"), &img)],
        None,
    )
    .await;
    let pic = up.body["pic"].as_str().unwrap().to_owned();
    let url = format!("/api/files/docs/{id}/{pic}");
    let full = get(app, &url, &[]).await;
    assert_eq!(
        (
            header(&full, "content-type"),
            header(&full, "content-disposition").starts_with("inline")
        ),
        ("image/png", true)
    );
    let dims = |a: &Answer| {
        let i = image::load_from_memory(&a.raw).unwrap();
        (i.width(), i.height())
    };
    for (size, want) in [
        ("50x50", (50, 50)),
        ("0x20", (26, 20)),
        ("40x40f", (40, 30)),
        ("100x100", (100, 100)),
        ("30x30", (200, 150)),
        ("bogus", (200, 150)),
    ] {
        let t = get(app, &format!("{url}?thumb={size}"), &[]).await;
        assert_eq!(t.status, StatusCode::OK, "{size}");
        assert_eq!(dims(&t), want, "{size}");
        if want != (200, 150) {
            assert_eq!(
                header(&t, "content-disposition"),
                format!("inline; filename=\"{size}_{pic}\"")
            );
        }
    }
    assert!(
        stored(app, &format!("{cid}/{id}/thumbs_{pic}/50x50_{pic}")).await,
        "thumbs are cached"
    );
    let again = get(app, &format!("{url}?thumb=50x50"), &[]).await;
    assert_eq!(dims(&again), (50, 50));
    // A thumb of a text file: the original.
    let t = send_multipart(
        app,
        Method::PATCH,
        &rec,
        &[("many", Some("n.txt"), b"text")],
        None,
    )
    .await;
    let txt = t.body["many"][0].as_str().unwrap().to_owned();
    assert_eq!(
        get(
            app,
            &format!("/api/files/docs/{id}/{txt}?thumb=100x100"),
            &[]
        )
        .await
        .raw,
        b"text"
    );

    // Protected files: only a file token's identity counts, checked with the viewRule.
    let user = app
        .post("/api/collections/users/records", json!({"email": "u@example.com", "password": "a-long-password", "passwordConfirm": "a-long-password"}), Some(&token))
        .await;
    assert_eq!(user.status, StatusCode::OK, "{}", user.body);
    let login = app
        .post(
            "/api/collections/users/auth-with-password",
            json!({"identity": "u@example.com", "password": "a-long-password"}),
            None,
        )
        .await;
    let user_token = login.body["token"].as_str().unwrap().to_owned();
    let s = send_multipart(
        app,
        Method::POST,
        records,
        &[
            ("title", None, b"secret"),
            ("priv", Some("key.txt"), b"the secret"),
        ],
        Some(&user_token),
    )
    .await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.body);
    let (sid, pname) = (
        s.body["id"].as_str().unwrap().to_owned(),
        s.body["priv"].as_str().unwrap().to_owned(),
    );
    let purl = format!("/api/files/docs/{sid}/{pname}");
    assert_error_shape(&get(app, &purl, &[]).await, 404);
    assert_error_shape(
        &get(app, &purl, &[("authorization", &user_token)]).await,
        404,
    );
    assert_error_shape(
        &get(app, &format!("{purl}?token={user_token}"), &[]).await,
        404,
    );
    let guest_token = app.post("/api/files/token", json!({}), None).await;
    assert_error_shape(&guest_token, 401);
    let ft = app
        .post("/api/files/token", json!({}), Some(&user_token))
        .await;
    assert_eq!(ft.status, StatusCode::OK, "{}", ft.body);
    let file_token = ft.body["token"].as_str().unwrap();
    let ok = get(app, &format!("{purl}?token={file_token}"), &[]).await;
    assert_eq!(
        (ok.status, ok.raw.as_slice()),
        (StatusCode::OK, &b"the secret"[..])
    );
    assert!(header(&ok, "cache-control").starts_with("private"));
    let st = app.post("/api/files/token", json!({}), Some(&token)).await;
    let super_file = st.body["token"].as_str().unwrap();
    assert_eq!(
        get(app, &format!("{purl}?token={super_file}"), &[])
            .await
            .status,
        StatusCode::OK
    );
    // Non-protected files of the same hidden record stay public, as in PocketBase.
    let pub_file = send_multipart(
        app,
        Method::PATCH,
        &format!("{records}/{sid}"),
        &[("many", Some("open.txt"), b"open")],
        Some(&token),
    )
    .await;
    let open = pub_file.body["many"][0].as_str().unwrap().to_owned();
    assert_eq!(
        get(app, &format!("/api/files/docs/{sid}/{open}"), &[])
            .await
            .raw,
        b"open"
    );

    // Deleting the record removes its folder (files and thumbnails).
    let del = app.json(Method::DELETE, &rec, None, None).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    drained(app).await;
    assert!(!stored(app, &format!("{cid}/{id}/{pic}")).await);
    assert!(!stored(app, &format!("{cid}/{id}/thumbs_{pic}/50x50_{pic}")).await);
    assert_error_shape(&get(app, &url, &[]).await, 404);
}

#[tokio::test]
async fn uploads_downloads_thumbs_and_protected_files_on_local_disk() {
    let app = TestApp::new().await;
    scenario(&app).await;
    // Nothing left in the upload folder.
    let tmp = app.data_dir().join(".tmp_uploads");
    assert_eq!(std::fs::read_dir(tmp).unwrap().count(), 0);
}

#[tokio::test]
async fn the_same_on_s3() {
    let endpoint = common::s3::server();
    let bucket = format!("kb-{}", keelbase::util::random_lower(10));
    common::s3::create_bucket(endpoint, &bucket).await;
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    let s3 = json!({"enabled": true, "bucket": bucket, "region": "us-east-1", "endpoint": endpoint,
                    "accessKey": "testing", "secret": "testing", "forcePathStyle": true});
    let a = app
        .json(
            Method::PATCH,
            "/api/settings",
            Some(json!({"s3": s3})),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["s3"]["secret"], "", "the secret is never answered");
    let t = app
        .post(
            "/api/settings/test/s3",
            json!({"filesystem": "storage"}),
            Some(&token),
        )
        .await;
    assert_eq!(t.status, StatusCode::NO_CONTENT, "{}", t.body);
    scenario(&app).await;
    // The local folder got nothing: every file went to the bucket.
    let local = app.data_dir().join("storage");
    assert_eq!(std::fs::read_dir(local).unwrap().count(), 0);
}

#[tokio::test]
async fn s3_settings_are_checked_and_kept_across_restarts() {
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    let bad = app
        .json(
            Method::PATCH,
            "/api/settings",
            Some(json!({"s3": {"enabled": true}})),
            Some(&token),
        )
        .await;
    assert_error_shape(&bad, 400);
    assert_eq!(
        bad.body["data"]["s3"]["bucket"]["code"],
        "validation_required"
    );
    let guest = app
        .json(
            Method::PATCH,
            "/api/settings",
            Some(json!({"s3": {"enabled": false}})),
            None,
        )
        .await;
    assert_error_shape(&guest, 401);
    // A server that does not answer: the test endpoint says so (400, not a 500).
    let dead = json!({"enabled": true, "bucket": "b", "region": "us-east-1", "endpoint": "http://127.0.0.1:9",
                      "accessKey": "k", "secret": "s", "forcePathStyle": true});
    let a = app
        .json(
            Method::PATCH,
            "/api/settings",
            Some(json!({"s3": dead})),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let t = app
        .post(
            "/api/settings/test/s3",
            json!({"filesystem": "storage"}),
            Some(&token),
        )
        .await;
    assert_error_shape(&t, 400);
    // A PATCH with a blank secret keeps the stored one.
    let a = app
        .json(
            Method::PATCH,
            "/api/settings",
            Some(json!({"s3": {"bucket": "other", "secret": ""}})),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    app.state.close().await;
    let TestApp { dir, .. } = app;
    let again = TestApp::at(dir, |_| {}).await;
    let s = again.state.files().s3_settings().await.unwrap();
    assert_eq!(
        (s.bucket.as_str(), s.secret.as_str(), s.enabled),
        ("other", "s", true)
    );
    assert_eq!(again.state.files().storage().backend().label, "s3://other");
}

/// files of writes that never committed (the server died between storing the file
/// and the commit) and removals queued before a crash are done at the next start.
#[tokio::test]
async fn the_removal_queue_drains_after_a_restart() {
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    let cid = setup(&app, &token).await;
    let a = send_multipart(
        &app,
        Method::POST,
        "/api/collections/docs/records",
        &[("many", Some("keep.txt"), b"keep")],
        None,
    )
    .await;
    let (id, keep) = (
        a.body["id"].as_str().unwrap().to_owned(),
        a.body["many"][0].as_str().unwrap().to_owned(),
    );
    // Simulate a crash: an upload stored but never claimed, a removal queued but not done.
    let storage = app.state.files().storage();
    for name in ["orphan_0123456789.txt", "gone_0123456789.txt"] {
        storage
            .put_bytes(&format!("{cid}/{id}/{name}"), b"x".to_vec())
            .await
            .unwrap();
    }
    let (orphan, gone) = (
        format!("{cid}/{id}/orphan_0123456789.txt"),
        format!("{cid}/{id}/gone_0123456789.txt"),
    );
    let (o, g) = (orphan.clone(), gone.clone());
    app.state
        .data()
        .write(move |c| -> Result<(), keelbase::db::DbError> {
            keelbase::files::queue::add_upload(c, &o)?;
            c.execute("INSERT INTO _files_queue (key, kind, created) VALUES (?1, 'delete', '2020-01-01 00:00:00.000Z')", [&g])?;
            Ok(())
        })
        .await
        .unwrap();
    app.state.close().await;
    let TestApp { dir, .. } = app;
    let again = TestApp::at(dir, |_| {}).await;
    drained(&again).await;
    assert!(
        !stored(&again, &orphan).await,
        "the orphan upload is removed at start"
    );
    assert!(
        !stored(&again, &gone).await,
        "the queued removal is done at start"
    );
    assert!(
        stored(&again, &format!("{cid}/{id}/{keep}")).await,
        "a committed record's file stays"
    );
    let d = get(&again, &format!("/api/files/docs/{id}/{keep}"), &[]).await;
    assert_eq!(d.raw, b"keep");
}

/// Uploads are streamed: a body far larger than `body_limit` in one file part is refused
/// at the property's limit, and a large file within its limit is stored whole.
#[tokio::test]
async fn large_files_stream_under_their_own_limit() {
    let app = TestApp::with_config(|c| c.body_limit = 64 * 1024).await;
    let token = app.superuser_token().await;
    let a = app
        .post(
            "/api/collections",
            json!({"name": "big", "schema": {"type": "object", "properties": {
                "blob": {"type": "string", "x-file": {"maxSize": 3 * 1024 * 1024}}}},
                "createRule": "", "viewRule": ""}),
            Some(&token),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let data: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let r = send_multipart(
        &app,
        Method::POST,
        "/api/collections/big/records",
        &[("blob", Some("data.bin"), &data)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let name = r.body["blob"].as_str().unwrap();
    let d = get(
        &app,
        &format!("/api/files/big/{}/{name}", r.body["id"].as_str().unwrap()),
        &[],
    )
    .await;
    assert!(d.raw == data, "the stored file is byte-identical");
    let more = vec![0u8; 3 * 1024 * 1024 + 1];
    let r = send_multipart(
        &app,
        Method::POST,
        "/api/collections/big/records",
        &[("blob", Some("more.bin"), &more)],
        None,
    )
    .await;
    assert_error_shape(&r, 400);
    assert_eq!(r.body["data"]["blob"]["code"], "validation_file_size_limit");
    // Text parts and JSON bodies keep `body_limit`.
    let long = "x".repeat(65 * 1024);
    let r = app
        .post("/api/collections/big/records", json!({"note": long}), None)
        .await;
    assert_error_shape(&r, 413);
}

/// Truncating a collection, deleting a collection and cascades remove the files too.
#[tokio::test]
async fn truncate_and_collection_delete_remove_files() {
    let app = TestApp::new().await;
    let token = app.superuser_token().await;
    let cid = setup(&app, &token).await;
    let first = upload_one(&app, &cid, "one").await;
    assert!(stored(&app, &first).await);
    let t = app
        .json(
            Method::DELETE,
            "/api/collections/docs/truncate",
            None,
            Some(&token),
        )
        .await;
    assert_eq!(t.status, StatusCode::NO_CONTENT, "{}", t.body);
    drained(&app).await;
    assert!(
        !stored(&app, &first).await,
        "truncate removes the records' files"
    );
    let second = upload_one(&app, &cid, "two").await;
    let d = app
        .json(Method::DELETE, "/api/collections/docs", None, Some(&token))
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT, "{}", d.body);
    drained(&app).await;
    assert!(
        !stored(&app, &second).await,
        "deleting the collection removes its files"
    );
}

async fn upload_one(app: &TestApp, cid: &str, title: &str) -> String {
    let a = send_multipart(
        app,
        Method::POST,
        "/api/collections/docs/records",
        &[
            ("title", None, title.as_bytes()),
            ("many", Some("f.txt"), b"data"),
        ],
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    format!(
        "{cid}/{}/{}",
        a.body["id"].as_str().unwrap(),
        a.body["many"][0].as_str().unwrap()
    )
}
