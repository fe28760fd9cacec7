//! The hostile-input table: one row per attack or malformed request, sent as raw bytes over
//! a real socket to the real layer in a real axum server (with the mock WeChat behind it).
//!
//! Every row asserts the status, that no session cookie was set, that the store saw no
//! write where none belongs (a counting store wraps the in-process one), and that the server
//! still serves afterwards. The table is written to `$CARGO_TARGET_TMPDIR/hostile_input.md`
//! (`-- --nocapture` prints it).

mod common;
#[path = "support/counting_store.rs"]
mod counting_store;

use std::{
    fmt::Write as _,
    net::SocketAddr,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use base64::Engine as _;
use common::*;
use counting_store::CountingStore;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use wechat_auth::{mock::MockWechat, push::PushCrypto};

/// What the server answered: status (0 = closed without an answer), headers, body.
#[derive(Debug, Default)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn set_cookies(&self) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a session cookie with a value was set.
    fn sets_session(&self) -> bool {
        self.set_cookies().any(|c| {
            c.strip_prefix("wechat_session=")
                .is_some_and(|rest| !rest.starts_with(';') && !rest.is_empty())
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How to send one request.
enum Send {
    /// All at once.
    Raw(Vec<u8>),
    /// The head and the start of a body, then nothing (a client that trickles or stalls).
    Stall(Vec<u8>),
}

fn parse_response(raw: &[u8]) -> Resp {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Resp::default();
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Resp {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

async fn send(addr: SocketAddr, how: &Send) -> Resp {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let bytes = match how {
        Send::Raw(b) | Send::Stall(b) => b,
    };
    // The server may answer (and close) before it has read everything: ignore write errors.
    let _ = stream.write_all(bytes).await;
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0_u8; 16 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
            if raw.len() > 4 << 20 {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server answered or closed within 10 s");
    parse_response(&raw)
}

/// A request with `Host`, `Connection: close` and (for a body) `Content-Length`.
fn request(method: &str, target: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")
        .into_bytes();
    for (k, v) in headers {
        r.extend_from_slice(k.as_bytes());
        r.extend_from_slice(b": ");
        r.extend_from_slice(v);
        r.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || method == "POST" {
        r.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(body);
    r
}

fn get(target: &str, headers: &[(&str, &[u8])]) -> Send {
    Send::Raw(request("GET", target, headers, b""))
}

fn post_json(target: &str, body: &[u8]) -> Send {
    Send::Raw(request(
        "POST",
        target,
        &[("Content-Type", b"application/json")],
        body,
    ))
}

/// Whether the store may be written by this row.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Writes {
    None,
    Allowed,
}

/// An extra check on an answer.
type Check = Box<dyn Fn(&Resp) -> bool + std::marker::Send>;

struct Row {
    category: &'static str,
    name: String,
    send: Send,
    expect: Vec<u16>,
    writes: Writes,
    /// An extra check on the answer, with what it checks.
    check: Option<(&'static str, Check)>,
}

fn row(category: &'static str, name: impl Into<String>, send: Send, expect: &[u16]) -> Row {
    Row {
        category,
        name: name.into(),
        send,
        expect: expect.to_vec(),
        writes: Writes::None,
        check: None,
    }
}

impl Row {
    fn writes(mut self) -> Self {
        self.writes = Writes::Allowed;
        self
    }

    fn check(
        mut self,
        what: &'static str,
        f: impl Fn(&Resp) -> bool + std::marker::Send + 'static,
    ) -> Self {
        self.check = Some((what, Box::new(f)));
        self
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn b64url(v: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

/// The claims of a real token, to forge variants of it.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

fn sign(claims: &Value, key: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
    )
    .unwrap()
}

/// The `rt` (return_to) inside the state cookie a login start set.
fn state_return_to(res: &Resp) -> Option<String> {
    let cookie = res.set_cookies().find(|c| c.starts_with("wechat_state_"))?;
    let value = cookie.split(';').next()?.split_once('=')?.1;
    claims_of(value)["rt"].as_str().map(str::to_owned)
}

/// A signed push query for `crypto` (safe mode when `encrypt` is given).
fn push_query(crypto: &PushCrypto, ts: u64, nonce: &str, encrypt: Option<&str>) -> String {
    let ts = ts.to_string();
    let mut q = format!(
        "/auth/wechat/push?signature={}&timestamp={ts}&nonce={nonce}&openid=oHOSTILE",
        crypto.signature(&ts, nonce)
    );
    if let Some(e) = encrypt {
        let _ = write!(
            q,
            "&encrypt_type=aes&msg_signature={}",
            crypto.msg_signature(&ts, nonce, e)
        );
    }
    q
}

fn push_post(query: &str, body: &str, content_type: &[u8]) -> Send {
    Send::Raw(request(
        "POST",
        query,
        &[("Content-Type", content_type)],
        body.as_bytes(),
    ))
}

fn safe_body(encrypt: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_000000000001]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_are_refused_cleanly() {
    let mock = MockWechat::start().await.unwrap();
    let store = CountingStore::memory();
    let app = start(
        config(&mock)
            .with_store(store.clone())
            .with_body_timeout(Duration::from_secs(1)),
    )
    .await;
    wire(&mock, &app);
    let crypto = oa_crypto(&mock);

    // A real web session and a real bearer token, to forge variants of.
    let b = browser();
    let res = login(&app, &b, "?channel=website&return_to=/profile", "alice").await;
    let web = session_token(&res).expect("a web session");
    let code = mock.sdk_code(&mock.mobile().appid, "bob").unwrap();
    let native: Value = reqwest::Client::new()
        .post(format!("{}/auth/wechat/app", app.url))
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = native["token"].as_str().unwrap().to_owned();
    let mut expired = claims_of(&web);
    expired["exp"] = json!(now() - 3600);
    expired["iat"] = json!(now() - 7200);
    let expired = sign(&expired, SECRET);
    let foreign = sign(&claims_of(&web), "another-app-secret-0123456789abcdef");
    let alg_none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        web.split('.').nth(1).unwrap()
    );
    let mut tampered = claims_of(&web);
    tampered["oid"] = json!("o-someone-else");
    let tampered = format!(
        "{}.{}.{}",
        web.split('.').next().unwrap(),
        b64url(tampered.to_string().as_bytes()),
        web.split('.').nth(2).unwrap()
    );
    let mut state_claims = claims_of(&web);
    state_claims["aud"] = json!("wechat-auth/state");
    let state_as_session = sign(&state_claims, SECRET);

    // A login started in "another browser": its state cookie, and a code for its state.
    let other = browser();
    let wechat = start_login(&app, &other, "?channel=website").await;
    let other_callback = wechat_answers(&other, &wechat, "carol", "approve").await;
    // A callback that already logged someone in, replayed from elsewhere.
    let done = browser();
    let wechat = start_login(&app, &done, "?channel=website").await;
    let done_callback = wechat_answers(&done, &wechat, "alice", "approve").await;
    assert_eq!(done.get(&done_callback).send().await.unwrap().status(), 302);
    let path_of = |url: &str| url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap();
    let other_callback = path_of(&other_callback);
    let done_callback = path_of(&done_callback);
    // My own login start, whose state cookie is then used with the other browser's state.
    let me_res = send(app.addr, &get("/auth/wechat/login?channel=website", &[])).await;
    let my_state_cookie = me_res
        .set_cookies()
        .find(|c| c.starts_with("wechat_state_"))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    // A valid safe-mode push (a scan nobody started), and its replay.
    let ts = now();
    let event = wechat_auth::push::event_xml(
        "gh_000000000001",
        "oHOSTILE",
        ts,
        "SCAN",
        "nobodys_scene",
        "TICKET",
    );
    let sealed = crypto.encrypt(&event, *b"0123456789abcdef").unwrap();
    let valid_push_q = push_query(&crypto, ts, "777", Some(&sealed));
    let valid_push_body = safe_body(&sealed);
    let other_sealed = crypto.encrypt(&event, *b"fedcba9876543210").unwrap();
    let lol = "<!DOCTYPE xml [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\"><!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">]><xml><ToUserName>&f;</ToUserName><Encrypt>&f;</Encrypt></xml>";
    let xxe = "<!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><xml><ToUserName>&x;</ToUserName><Encrypt>&x;</Encrypt></xml>";

    let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_obj = format!("{}1{}", "{\"code\":".repeat(1_500), "}".repeat(1_500));
    let deep_small = format!("{}{}", "[".repeat(7_000), "]".repeat(7_000));
    let many_params: String = (0..10_000).map(|i| format!("p{i}=x&")).collect();
    let short_params = "a&".repeat(10_000);
    let huge_cookie = format!("junk={}", "x".repeat(16 * 1024));
    let many_cookies: String = (0..500).map(|i| format!("c{i}=v; ")).collect();
    let cookie = |v: &str| format!("wechat_session={v}").into_bytes();
    let bearer_h = |v: &str| format!("Bearer {v}").into_bytes();

    let mut rows: Vec<Row> = vec![
        // --- headers and cookies
        row("headers", "16 KiB junk Cookie on a protected route", get("/api/data", &[("Cookie", huge_cookie.as_bytes())]), &[401]),
        row("headers", "500 cookies", get("/api/data", &[("Cookie", many_cookies.as_bytes())]), &[401]),
        row("headers", "1 MiB header (past the server's limit)", get("/api/data", &[("X-Big", "y".repeat(1 << 20).as_bytes())]), &[431, 0]),
        row("headers", "200 headers", Send::Raw({
            let hs: Vec<(String, Vec<u8>)> = (0..200).map(|i| (format!("X-H{i}"), b"v".to_vec())).collect();
            let refs: Vec<(&str, &[u8])> = hs.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
            request("GET", "/api/data", &refs, b"")
        }), &[431, 400, 0]),
        row("headers", "session cookie twice (valid + forged)", get("/api/data", &[("Cookie", format!("wechat_session={web}; wechat_session=forged").as_bytes())]), &[401]),
        row("headers", "two Cookie headers, each with the session", get("/api/data", &[("Cookie", &cookie(&web)), ("Cookie", &cookie(&web))]), &[401]),
        row("headers", "two Authorization headers, a forged one first", get("/api/data", &[("Authorization", &bearer_h(&foreign)), ("Authorization", &bearer_h(&bearer))]), &[401]),
        row("headers", "two Authorization headers, the valid one first (the first is read)", get("/api/data", &[("Authorization", &bearer_h(&bearer)), ("Authorization", &bearer_h("x"))]), &[200]),
        row("headers", "Cookie with invalid UTF-8", get("/api/data", &[("Cookie", b"wechat_session=\xff\xfe\xfd")]), &[401]),
        row("headers", "Authorization with invalid UTF-8", get("/api/data", &[("Authorization", b"Bearer \xff\xfe")]), &[401]),
        row("headers", "User-Agent with invalid UTF-8 on login", get("/auth/wechat/login", &[("User-Agent", b"\xffMicroMessenger\xfe")]), &[302]),
        row("headers", "Content-Length and Transfer-Encoding together (smuggling)", Send::Raw(b"POST /auth/wechat/app HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n".to_vec()), &[400, 0]),
        row("headers", "broken chunked body", Send::Raw(b"POST /auth/wechat/app HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n".to_vec()), &[400, 0]),
        row("headers", "header with a bare CR (injection)", Send::Raw(b"GET /api/data HTTP/1.1\r\nHost: x\r\nX-A: a\rSet-Cookie: wechat_session=x\r\nConnection: close\r\n\r\n".to_vec()), &[400, 0]),
        // --- query strings and paths
        row("query", "10,000 query parameters (20 KB) on login", get(&format!("/auth/wechat/login?{short_params}channel=website"), &[]), &[302]),
        row("query", "10,000 query parameters (20 KB) on callback", get(&format!("/auth/wechat/callback?{short_params}"), &[]), &[400]),
        row("query", "10,000 query parameters (20 KB) on a protected route", get(&format!("/api/data?{short_params}"), &[]), &[401]),
        row("query", "10,000 query parameters (88 KB) on login: past the URI limit", get(&format!("/auth/wechat/login?{many_params}channel=website"), &[]), &[414]),
        row("query", "10,000 query parameters (88 KB) on callback: past the URI limit", get(&format!("/auth/wechat/callback?{many_params}"), &[]), &[414]),
        row("query", "invalid UTF-8 percent-escapes in return_to", get("/auth/wechat/login?channel=website&return_to=%FF%FE/x", &[]), &[302])
            .check("return_to falls back to a safe path", |r| state_return_to(r).is_some_and(|rt| rt.starts_with('/') && !rt.starts_with("//"))),
        row("query", "invalid UTF-8 in the scan id", get("/auth/wechat/scan/%FF%FE", &[]), &[404, 400]),
        row("query", "a 4 KiB scan id", get(&format!("/auth/wechat/scan/{}", "a".repeat(4096)), &[]), &[404, 400]),
        row("query", "path traversal in the scan id", get("/auth/wechat/scan/..%2F..%2Fetc%2Fpasswd/qr.svg", &[]), &[404, 400]),
        row("query", "unknown channel", get("/auth/wechat/login?channel=telegram", &[]), &[400]),
        row("query", "unknown endpoint", get("/auth/wechat/nope", &[]), &[404]),
        // --- open redirects (each must leave a safe, same-site return_to in the state)
    ];
    for target in [
        "//evil.example",
        "https://evil.example/",
        "/\\evil.example",
        "/%2F%2Fevil.example",
        "%2F%2Fevil.example",
        "javascript:alert(1)",
        "http:evil.example",
        "%09//evil.example",
        "/..//evil.example",
        "https://127.0.0.1@evil.example/",
        "\\\\evil.example",
        "/%5Cevil.example",
        "%0d%0aLocation:%20https://evil.example",
    ] {
        rows.push(
            row(
                "open redirect",
                format!("return_to={target}"),
                get(
                    &format!("/auth/wechat/login?channel=website&return_to={target}"),
                    &[],
                ),
                &[302],
            )
            .check("return_to stays on this site", |r| {
                state_return_to(r).is_some_and(|rt| {
                    rt.starts_with('/')
                        && !rt.starts_with("//")
                        && !rt.starts_with("/\\")
                        && !rt.contains("evil.example")
                        || rt == "/"
                }) && r
                    .header("location")
                    .is_some_and(|l| !l.contains("evil.example"))
            }),
        );
    }
    rows.extend([
        // --- state and callbacks
        row("state", "callback without state", get("/auth/wechat/callback?code=abc", &[]), &[400]),
        row("state", "callback with a 200-char state", get(&format!("/auth/wechat/callback?code=abc&state={}", "a".repeat(200)), &[]), &[400]),
        row("state", "callback with state from another browser (no cookie)", get(&other_callback, &[]), &[403, 400]),
        row("state", "another browser's state with my state cookie", get(&other_callback, &[("Cookie", my_state_cookie.as_bytes())]), &[403, 400]),
        row("state", "a forged state cookie for the other browser's state", get(&other_callback, &[("Cookie", format!("wechat_state_{}={alg_none}", other_callback.split("state=").nth(1).unwrap_or("")).as_bytes())]), &[403, 400]),
        row("state", "replayed callback (already logged in elsewhere)", get(&done_callback, &[]), &[403, 400, 302])
            .writes(),
        // --- session tokens
        row("tokens", "forged cookie (garbage)", get("/api/data", &[("Cookie", b"wechat_session=eyJhbGciOiJIUzI1NiJ9.e30.AAAA")]), &[401]),
        row("tokens", "expired token, correctly signed", get("/api/data", &[("Cookie", &cookie(&expired))]), &[401]),
        row("tokens", "alg:none token", get("/api/data", &[("Cookie", &cookie(&alg_none))]), &[401]),
        row("tokens", "token signed with another app's key", get("/api/data", &[("Cookie", &cookie(&foreign))]), &[401]),
        row("tokens", "tampered claims, original signature", get("/api/data", &[("Cookie", &cookie(&tampered))]), &[401]),
        row("tokens", "a state ticket presented as a session", get("/api/data", &[("Cookie", &cookie(&state_as_session))]), &[401]),
        row("tokens", "bearer: alg:none", get("/api/data", &[("Authorization", &bearer_h(&alg_none))]), &[401]),
        row("tokens", "bearer: 10 KiB garbage", get("/api/data", &[("Authorization", &bearer_h(&"A".repeat(10_240)))]), &[401]),
        row("tokens", "bearer: a web (cookie) session used as a bearer", get("/api/data", &[("Authorization", &bearer_h(&web))]), &[401]),
        row("tokens", "refresh with a forged token", Send::Raw(request("POST", "/auth/wechat/refresh", &[("Authorization", &bearer_h(&foreign))], b"")), &[401]),
        row("tokens", "refresh with an expired token", Send::Raw(request("POST", "/auth/wechat/refresh", &[("Authorization", &bearer_h(&expired))], b"")), &[401]),
        row("tokens", "/me with alg:none", get("/auth/wechat/me", &[("Cookie", &cookie(&alg_none))]), &[401]),
        // --- methods and content types
        row("methods", "PUT login", Send::Raw(request("PUT", "/auth/wechat/login", &[], b"")), &[405]),
        row("methods", "GET app", get("/auth/wechat/app", &[]), &[405]),
        row("methods", "DELETE miniprogram", Send::Raw(request("DELETE", "/auth/wechat/miniprogram", &[], b"")), &[405]),
        row("methods", "GET logout", get("/auth/wechat/logout", &[]), &[405]),
        row("methods", "TRACE push", Send::Raw(request("TRACE", "/auth/wechat/push", &[], b"")), &[405]),
        row("methods", "POST callback", Send::Raw(request("POST", "/auth/wechat/callback?code=a&state=b", &[], b"")), &[405]),
        row("methods", "cross-site POST logout", Send::Raw(request("POST", "/auth/wechat/logout", &[("Origin", b"https://evil.example"), ("Cookie", &cookie(&web))], b"")), &[403]),
        row("methods", "cross-site POST scan", Send::Raw(request("POST", "/auth/wechat/scan", &[("Origin", b"https://evil.example")], b"")), &[403]),
        row("content", "app: text/plain body", Send::Raw(request("POST", "/auth/wechat/app", &[("Content-Type", b"text/plain")], b"code=abc")), &[400, 415]),
        row("content", "app: form body", Send::Raw(request("POST", "/auth/wechat/app", &[("Content-Type", b"application/x-www-form-urlencoded")], b"code=abc")), &[400, 415]),
        // --- bodies
        row("bodies", "app: not JSON", post_json("/auth/wechat/app", b"{code:"), &[400]),
        row("bodies", "app: invalid UTF-8", post_json("/auth/wechat/app", b"{\"code\":\"\xff\xfe\"}"), &[400]),
        row("bodies", "app: JSON nested 100,000 deep (200 KB)", post_json("/auth/wechat/app", deep_json.as_bytes()), &[413]),
        row("bodies", "miniprogram: objects nested 1,500 deep (under the size limit)", post_json("/auth/wechat/miniprogram", deep_obj.as_bytes()), &[400]),
        row("bodies", "app: arrays nested 7,000 deep (under the size limit)", post_json("/auth/wechat/app", deep_small.as_bytes()), &[400]),
        row("bodies", "app: code missing", post_json("/auth/wechat/app", b"{}"), &[400]),
        row("bodies", "app: code a number", post_json("/auth/wechat/app", b"{\"code\":12345}"), &[400]),
        row("bodies", "app: a 10 KiB code", post_json("/auth/wechat/app", format!("{{\"code\":\"{}\"}}", "c".repeat(10_240)).as_bytes()), &[400, 413]),
        row("bodies", "miniprogram: 2 MiB body", post_json("/auth/wechat/miniprogram", &vec![b' '; 2 << 20]), &[413, 0]),
        row("bodies", "app: Content-Length 99999999999", Send::Raw(b"POST /auth/wechat/app HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\nConnection: close\r\n\r\n{}".to_vec()), &[413]),
        row("bodies", "app: slow body (stalls after 10 of 100 bytes)", Send::Stall(b"POST /auth/wechat/app HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"code\":\"a".to_vec()), &[408, 400, 0]),
        row("bodies", "miniprogram/scan: junk scene", post_json("/auth/wechat/miniprogram/scan", b"{\"scene\":\"../../x\",\"code\":\"c\",\"decision\":\"confirm\"}"), &[400, 404]),
        row("bodies", "miniprogram/scan: decision not a word", post_json("/auth/wechat/miniprogram/scan", b"{\"scene\":\"abc\",\"code\":\"c\",\"decision\":[1]}"), &[400]),
        // --- push
        row("push", "GET without a signature", get("/auth/wechat/push?echostr=1&timestamp=1&nonce=1", &[]), &[400, 403]),
        row("push", "GET with a forged signature", get(&format!("/auth/wechat/push?signature={}&echostr=1&timestamp={}&nonce=1", "0".repeat(40), now()), &[]), &[403]),
        row("push", "POST with a stale timestamp", push_post(&push_query(&crypto, now() - 3600, "5", Some(&sealed)), &valid_push_body, b"text/xml"), &[403, 400]),
        row("push", "POST safe mode with a forged msg_signature", push_post(&format!("{}&encrypt_type=aes&msg_signature={}", push_query(&crypto, now(), "6", None), "0".repeat(40)), &valid_push_body, b"text/xml"), &[403]),
        row("push", "POST without encryption although a key is set", push_post(&push_query(&crypto, now(), "7", None), &event, b"text/xml"), &[403, 400]),
        row("push", "POST invalid base64 in Encrypt (validly signed)", push_post(&push_query(&crypto, now(), "8", Some("!!not-base64!!")), &safe_body("!!not-base64!!"), b"text/xml"), &[400, 403]),
        row("push", "POST XML entity expansion (billion laughs)", push_post(&push_query(&crypto, now(), "9", Some("&f;")), lol, b"text/xml"), &[400]),
        row("push", "POST XML external entity (file:///etc/passwd)", push_post(&push_query(&crypto, now(), "10", Some("&x;")), xxe, b"text/xml"), &[400])
            .check("the file is never read into the answer", |r| !r.text().contains("root:")),
        row("push", "POST a 100 KiB body", push_post(&push_query(&crypto, now(), "11", None), &"x".repeat(100 * 1024), b"text/xml"), &[413]),
        row("push", "POST JSON where XML is expected", push_post(&push_query(&crypto, now(), "12", Some("QUJD")), "{\"Encrypt\":\"QUJD\"}", b"application/json"), &[400, 403]),
        row("push", "POST invalid UTF-8 body", Send::Raw(request("POST", &push_query(&crypto, now(), "13", None), &[("Content-Type", b"text/xml")], b"<xml>\xff\xfe</xml>")), &[400]),
        row("push", "a valid push (a scan nobody started)", push_post(&valid_push_q, &valid_push_body, b"text/xml"), &[200]).writes(),
        row("push", "the same push again (WeChat's re-delivery)", push_post(&valid_push_q, &valid_push_body, b"text/xml"), &[200]),
        row("push", "the same signed query with another body (replay forgery)", push_post(&valid_push_q, &safe_body(&other_sealed), b"text/xml"), &[403]),
    ]);

    let mut table = String::from(
        "| # | category | input | expected | got | session set | store writes | still serving | time |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut failures = Vec::new();
    let total = rows.len();
    for (i, r) in rows.into_iter().enumerate() {
        let writes_before = store.writes();
        let started = Instant::now();
        let resp = send(app.addr, &r.send).await;
        let elapsed = started.elapsed();
        // Give any detached work (a push handler finishing) a moment before counting.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let writes = store.writes() - writes_before;
        let alive = send(app.addr, &get("/", &[])).await.status == 200;
        let mut problems = Vec::new();
        if !r.expect.contains(&resp.status) {
            problems.push(format!("status {} not in {:?}", resp.status, r.expect));
        }
        if resp.sets_session() {
            problems.push("set a session".into());
        }
        if r.writes == Writes::None && writes > 0 {
            problems.push(format!("{writes} store writes"));
        }
        if !alive {
            problems.push("server stopped serving".into());
        }
        if let Some((what, check)) = &r.check
            && !check(&resp)
        {
            problems.push(format!("failed: {what}"));
        }
        if resp.status >= 500 && resp.status != 0 {
            problems.push(format!("a server error: {}", resp.text()));
        }
        let name: String = r.name.replace('|', "\\|");
        let _ = writeln!(
            table,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.0} ms |",
            i + 1,
            r.category,
            name,
            r.expect
                .iter()
                .map(|s| if *s == 0 {
                    "closed".to_owned()
                } else {
                    s.to_string()
                })
                .collect::<Vec<_>>()
                .join(" / "),
            if resp.status == 0 {
                "closed".to_owned()
            } else {
                resp.status.to_string()
            },
            if resp.sets_session() { "yes" } else { "no" },
            if r.writes == Writes::Allowed {
                format!("{writes} (allowed)")
            } else {
                writes.to_string()
            },
            if alive { "yes" } else { "NO" },
            elapsed.as_secs_f64() * 1000.0,
        );
        if !problems.is_empty() {
            failures.push(format!(
                "row {} {:?}: {}",
                i + 1,
                r.name,
                problems.join("; ")
            ));
        }
    }
    let _ = writeln!(table, "\n{total} rows.");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("hostile_input.md");
    std::fs::write(&path, &table).unwrap();
    println!("{table}\n(written to {})", path.display());
    assert!(total >= 60, "{total} rows");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
