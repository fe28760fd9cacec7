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
#[path = "support/jar.rs"]
mod jar;

use std::{
    fmt::Write as _,
    net::SocketAddr,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use base64::Engine as _;
use common::*;
use counting_store::CountingStore;
use jar::Jar;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use wechat_auth::{
    mock::{MockWechat, wire as mock_wire},
    push::PushCrypto,
};

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

/// A form post to `target` with `headers`.
fn post_form(target: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Send {
    let mut all = vec![(
        "Content-Type",
        b"application/x-www-form-urlencoded".as_slice(),
    )];
    all.extend_from_slice(headers);
    Send::Raw(request("POST", target, &all, body))
}

/// Whether `html` shows `needle` only escaped (never as markup).
fn not_reflected(r: &Resp, needle: &str) -> bool {
    !r.text().contains(needle)
}

/// Whether the page may be framed by nobody.
fn unframeable(r: &Resp) -> bool {
    r.header("content-security-policy")
        .is_some_and(|c| c.contains("frame-ancestors 'none'"))
}

/// The query pairs of the `Location` an answer carries.
fn location_pairs(r: &Resp) -> Vec<(String, String)> {
    r.header("location")
        .and_then(|l| url::Url::parse(l).ok())
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The relay target this hub passes logins on to.
const RELAY_TARGET: &str = "https://shop.example";

/// A relay link to `to` (already encoded as it should be sent) with `rest` after it.
fn relay(to: &str, rest: &str) -> Send {
    get(&format!("/auth/wechat/relay?to={to}{rest}"), &[])
}

/// A live scan: `alice` scanned it; her phone holds the page proof, and the page's form token.
struct LiveScan {
    id: String,
    /// The `Cookie` header of alice's phone (her proof for this scan).
    alice: String,
    /// The `Cookie` header of bob's phone (his proof: he is not the one who scanned).
    bob: String,
    token: String,
}

/// The phone opens the confirm `link` as `user` (web authorization, approved, back with a
/// code, on to the clean URL); returns its cookies and the page.
async fn phone_opens(link: &str, user: &str) -> (Jar, String) {
    let phone = wechat_browser();
    let mut jar = Jar::default();
    let res = phone.get(link).send().await.unwrap();
    jar.absorb(&res);
    let res = phone
        .get(MockWechat::approve_url(&location(&res), user))
        .send()
        .await
        .unwrap();
    let back = location(&res);
    let res = phone.get(&back).send().await.unwrap();
    jar.absorb(&res);
    let res = phone.get(link).send().await.unwrap();
    jar.absorb(&res);
    (jar, res.text().await.unwrap())
}

async fn live_scan(app: &App, mock: &MockWechat) -> LiveScan {
    let desktop = browser();
    let s: Value = desktop
        .post(format!("{}/auth/wechat/scan", app.url))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = s["id"].as_str().unwrap().to_owned();
    let report = mock
        .scan(s["qr_url"].as_str().unwrap(), "alice")
        .await
        .unwrap();
    let reply = report.reply.expect("the scan is answered with a link");
    let at = reply.find("<a href=\"").unwrap() + 9;
    let link = reply[at..at + reply[at..].find('"').unwrap()].to_owned();
    let (alice, page) = phone_opens(&link, "alice").await;
    let at = page.find("name=\"token\" value=\"").expect("a form token") + 20;
    let token = page[at..at + page[at..].find('"').unwrap()].to_owned();
    let (bob, _) = phone_opens(&link, "bob").await;
    LiveScan {
        id,
        alice: alice.header(),
        bob: bob.header(),
        token,
    }
}

/// A push body in the JSON data format, sealed (safe mode): the query and the body.
fn sealed_json(crypto: &PushCrypto, nonce: &str, inner: &str) -> (String, String) {
    let sealed = crypto.encrypt(inner, *b"0123456789abcdef").unwrap();
    (
        push_query(crypto, now(), nonce, Some(&sealed)),
        mock_wire::safe_mode_json("gh_000000000001", &sealed),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_are_refused_cleanly() {
    let mock = MockWechat::start().await.unwrap();
    let store = CountingStore::memory();
    let app = start(
        config(&mock)
            .with_store(store.clone())
            .with_body_timeout(Duration::from_secs(1))
            // The endpoints of issues 11/12/14 too: the phone confirms a scan, and this
            // site is a relay hub for one other site.
            .with_scan_confirm(true)
            .with_relay_target(RELAY_TARGET),
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
    let event = mock_wire::event_xml(
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

    // A scan alice scanned, her phone's proof and form token; bob's proof.
    let scan = live_scan(&app, &mock).await;
    let confirm = format!("/auth/wechat/scan/{}/confirm", scan.id);
    let alice_phone = |extra: &[(&'static str, &'static [u8])]| -> Vec<(&'static str, Vec<u8>)> {
        let mut h = vec![("Cookie", scan.alice.clone().into_bytes())];
        h.extend(extra.iter().map(|(k, v)| (*k, v.to_vec())));
        h
    };
    let form = |token: &str, decision: &str| {
        format!(
            "token={}&decision={decision}",
            form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
        )
    };
    let confirm_post = |headers: Vec<(&'static str, Vec<u8>)>, body: &[u8]| {
        let refs: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        post_form(&confirm, &refs, body)
    };
    let shop_callback = "https%3A%2F%2Fshop.example%2Fauth%2Fwechat%2Fcallback";
    // JSON pushes (the console's 数据格式 = JSON), safe mode like every push here.
    let json_event = mock_wire::event_json(
        "gh_000000000001",
        "oHOSTILE",
        now(),
        "SCAN",
        "nobodys_json_scene",
        "TICKET",
    );
    let (json_push_q, json_push_body) = sealed_json(&crypto, "800", &json_event);
    let other_sealed_json = crypto.encrypt(&json_event, *b"fedcba9876543210").unwrap();
    let json = b"application/json";

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
        row("headers", "two Authorization headers, the valid one first (neither is taken)", get("/api/data", &[("Authorization", &bearer_h(&bearer)), ("Authorization", &bearer_h("x"))]), &[401]),
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
        row("bodies", "miniprogram/scan: the old one-step answer (code, no token)", post_json("/auth/wechat/miniprogram/scan", format!("{{\"scene\":\"{}\",\"code\":\"abc\",\"decision\":\"confirm\"}}", "A".repeat(32)).as_bytes()), &[400]),
        row("bodies", "miniprogram/scan: a made-up token for an unknown scene", post_json("/auth/wechat/miniprogram/scan", format!("{{\"scene\":\"{}\",\"token\":\"{}\",\"decision\":\"confirm\"}}", "A".repeat(32), "t".repeat(32)).as_bytes()), &[404]),
        row("bodies", "miniprogram/scan/open: junk scene", post_json("/auth/wechat/miniprogram/scan/open", b"{\"scene\":\"../../x\",\"code\":\"c\"}"), &[404]),
        row("bodies", "miniprogram/scan/open: code a number", post_json("/auth/wechat/miniprogram/scan/open", b"{\"scene\":\"abc\",\"code\":1}"), &[400]),
        row("bodies", "miniprogram/scan/open: a well-formed scene never made (a forged link)", post_json("/auth/wechat/miniprogram/scan/open", format!("{{\"scene\":\"{}\",\"code\":\"c\"}}", "Z".repeat(32)).as_bytes()), &[404]),
        row("query", "scan?via=link with return_to=javascript:", get("/auth/wechat/scan?via=link&return_to=javascript:alert(1)", &[]), &[200])
            .check("the phone page names no javascript: URL", |r| !String::from_utf8_lossy(&r.body).contains("javascript:alert")),
        row("query", "scan?via=link with a quote and a tag in return_to", get("/auth/wechat/scan?via=link&return_to=/a%22%3E%3Cscript%3Ex()%3C/script%3E", &[]), &[200])
            .check("escaped", |r| !String::from_utf8_lossy(&r.body).contains("<script>x()")),
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
        // --- embedded QR and popup (issue 11)
        row("embed", "embed: return_to=//evil.example", get("/auth/wechat/embed?return_to=//evil.example", &[]), &[200])
            .check("return_to stays on this site, JSON only", |r| state_return_to(r).is_some_and(|rt| rt.starts_with('/') && !rt.starts_with("//") && !rt.contains("evil")) && r.header("content-type").is_some_and(|c| c.starts_with("application/json"))),
        row("embed", "embed: style=<script>", get("/auth/wechat/embed?style=%3Cscript%3Ealert(1)%3C/script%3E", &[]), &[400])
            .check("answered as JSON, no state cookie", |r| r.header("content-type").is_some_and(|c| c.starts_with("application/json")) && r.set_cookies().next().is_none()),
        row("embed", "embed: self_redirect=maybe", get("/auth/wechat/embed?self_redirect=maybe", &[]), &[400]),
        row("embed", "embed: 10,000 query parameters (20 KB)", get(&format!("/auth/wechat/embed?{short_params}"), &[]), &[200]),
        row("embed", "POST embed", Send::Raw(request("POST", "/auth/wechat/embed", &[], b"")), &[405]),
        row("embed", "embed.js with If-None-Match: *", get("/auth/wechat/embed.js", &[("If-None-Match", b"*")]), &[304]),
        row("embed", "embed.js with an 8 KiB junk If-None-Match", get("/auth/wechat/embed.js", &[("If-None-Match", "\"x\",".repeat(2048).as_bytes())]), &[200])
            .check("the script, not sniffable as anything else", |r| r.header("x-content-type-options") == Some("nosniff") && r.header("content-type").is_some_and(|c| c.starts_with("text/javascript"))),
        row("embed", "embed.js with a query and invalid UTF-8", get("/auth/wechat/embed.js?%FF%FE=%00", &[]), &[200]),
        row("embed", "login?display=embed&return_to=//evil.example", get("/auth/wechat/login?display=embed&return_to=//evil.example", &[]), &[200])
            .check("return_to stays on this site; only WeChat may be framed", |r| state_return_to(r).is_some_and(|rt| rt.starts_with('/') && !rt.contains("evil")) && unframeable(r)),
        row("embed", "login?display=embed&style=<script>", get("/auth/wechat/login?display=embed&style=%3Cscript%3Ealert(1)%3C/script%3E", &[]), &[400])
            .check("the value is shown escaped", |r| not_reflected(r, "<script>alert") && unframeable(r)),
        row("embed", "login?display=popup&return_to=javascript:alert(1)", get("/auth/wechat/login?display=popup&channel=website&return_to=javascript:alert(1)", &[]), &[302])
            .check("return_to stays on this site", |r| state_return_to(r).is_some_and(|rt| rt.starts_with('/') && !rt.contains("javascript"))),
        row("embed", "login?display=bogus", get("/auth/wechat/login?display=bogus", &[]), &[400]),
        row("embed", "login?display=<svg onload>", get("/auth/wechat/login?display=%3Csvg%20onload%3Dalert(1)%3E", &[]), &[400])
            .check("the value is shown escaped, the page unframeable", |r| not_reflected(r, "<svg") && unframeable(r)),
        row("embed", "login?display= twice (embed, then bogus)", get("/auth/wechat/login?display=embed&display=bogus", &[]), &[200, 400]),
        row("embed", "login?display=4 KiB", get(&format!("/auth/wechat/login?display={}", "d".repeat(4096)), &[]), &[400]),
        // In the frame the state cookie is withheld (SameSite=Lax): the frame hands the same
        // code to the top window's plain callback, consuming nothing.
        row("embed", "callback?display=iframe with a forged state", get("/auth/wechat/callback?display=iframe&code=abc&state=forged", &[]), &[200])
            .check("hands code and state to the top window's plain callback", |r| r.text().contains("/auth/wechat/callback?code=abc&amp;state=forged") && !r.text().contains("display=iframe")),
        row("embed", "callback?display=iframe: another browser's code and state", get(&format!("{other_callback}&display=iframe"), &[]), &[200])
            .check("hands it to the top window, which holds no cookie for it", |r| r.text().contains("/auth/wechat/callback?code=")),
        row("embed", "the top window's callback for that code, without the state cookie", get(&other_callback, &[]), &[403, 400]),
        row("embed", "callback?display=iframe without a code (a refusal)", get("/auth/wechat/callback?display=iframe&state=forged", &[]), &[400, 403])
            .check("may be framed by this site only", |r| r.header("content-security-policy").is_some_and(|c| !c.contains("frame-ancestors *"))),
        row("embed", "callback?display=popup without code or state", get("/auth/wechat/callback?display=popup", &[]), &[400]),
        // --- the popup's nonce (issue 23 item 5)
        row("embed", "login?display=popup&nonce=<script>", get("/auth/wechat/login?display=popup&channel=website&nonce=%3Cscript%3Ealert(1)%3C%2Fscript%3E", &[]), &[400])
            .check("no state cookie, the value never shown", |r| r.set_cookies().next().is_none() && not_reflected(r, "<script>alert")),
        row("embed", "login?display=popup&nonce=65 characters", get(&format!("/auth/wechat/login?display=popup&channel=website&nonce={}", "n".repeat(65)), &[]), &[400])
            .check("no state cookie", |r| r.set_cookies().next().is_none()),
        row("embed", "callback?display=popup&state=x&nonce=forged (another site's noopener tab)", get("/auth/wechat/callback?display=popup&code=C&state=x&nonce=forgedforgedforged1", &[]), &[400])
            .check("the popup message carries no nonce", |r| !r.text().contains("forgedforgedforged1")),
        row("embed", "callback?display=<script>", get("/auth/wechat/callback?display=%3Cscript%3E&code=a&state=b", &[]), &[400, 403])
            .check("the value is never shown as markup", |r| not_reflected(r, "<script>")),
        // --- scope (issue 12)
        row("scope", "login?scope=snsapi_base", get("/auth/wechat/login?channel=oa&scope=snsapi_base", &[]), &[400]),
        row("scope", "login?scope=<script>", get("/auth/wechat/login?channel=oa&scope=%3Cscript%3Ealert(1)%3C/script%3E", &[]), &[400])
            .check("the value is shown escaped", |r| not_reflected(r, "<script>alert")),
        row("scope", "login?scope=4 KiB", get(&format!("/auth/wechat/login?channel=oa&scope={}", "s".repeat(4096)), &[]), &[400]),
        row("scope", "login?scope=snsapi_userinfo%00", get("/auth/wechat/login?channel=oa&scope=snsapi_userinfo%00", &[]), &[400]),
        row("scope", "login?scope=userinfo on the website channel", get("/auth/wechat/login?channel=website&scope=userinfo", &[]), &[302, 400])
            .check("never a scope WeChat's website login does not know", |r| r.header("location").is_none_or(|l| l.contains("scope=snsapi_login"))),
        // --- what the scan page last showed (`seen`)
        row("query", "scan status ?seen=<script>", get(&format!("/auth/wechat/scan/{}?wait=1&seen=%3Cscript%3Ealert(1)%3C/script%3E", scan.id), &[]), &[400])
            .check("the value is never shown", |r| not_reflected(r, "<script>alert")),
        row("query", "scan status ?seen=4 KiB", get(&format!("/auth/wechat/scan/{}?wait=1&seen={}", scan.id, "s".repeat(4096)), &[]), &[400]),
        row("query", "scan status ?seen=confirmed (not a state to wait from)", get(&format!("/auth/wechat/scan/{}?seen=confirmed", scan.id), &[]), &[400]),
        row("query", "scan status ?another_scanner=<script>", get(&format!("/auth/wechat/scan/{}?wait=1&another_scanner=%3Cscript%3E", scan.id), &[]), &[400])
            .check("the value is never shown", |r| not_reflected(r, "<script>")),
        // --- the phone's confirmation of a scan (issue 12)
        row("confirm", "GET confirm of an unknown scan", get("/auth/wechat/scan/nobodysscan0000000000/confirm", &[]), &[404]),
        row("confirm", "GET confirm of 32 made-up characters (cookie bomb)", get(&format!("/auth/wechat/scan/{}/confirm", "b".repeat(32)), &[]), &[404])
            .check("no cookie is set", |r| r.set_cookies().next().is_none()),
        row("confirm", "GET confirm with path traversal in the id", get("/auth/wechat/scan/..%2F..%2Fetc%2Fpasswd/confirm", &[]), &[404, 400]),
        row("confirm", "GET confirm with a 4 KiB id", get(&format!("/auth/wechat/scan/{}/confirm", "a".repeat(4096)), &[]), &[404, 400]),
        row("confirm", "GET confirm with a forged code and state (no state cookie)", get(&format!("{confirm}?code=forged&state=forged"), &[]), &[403, 400]),
        row("confirm", "GET confirm with a code, another scan's state cookie", get(&format!("{confirm}?code=forged&state=S1"), &[("Cookie", format!("wechat_cstate_{}=x", scan.id).as_bytes())]), &[403, 400]),
        row("confirm", "GET confirm with a forged page proof", get(&confirm, &[("Cookie", format!("wechat_cuser_{}={alg_none}", scan.id).as_bytes())]), &[302, 403])
            .check("sent to WeChat to prove who it is, or refused", |r| r.status == 403 || r.header("location").is_some_and(|l| l.contains("scope=snsapi_base"))),
        row("confirm", "GET confirm as bob (who did not scan)", get(&confirm, &[("Cookie", scan.bob.as_bytes())]), &[403]),
        row("confirm", "POST confirm cross-site (Origin: evil)", confirm_post(alice_phone(&[("Origin", b"https://evil.example")]), form(&scan.token, "confirm").as_bytes()), &[403]),
        row("confirm", "POST confirm with Origin: null", confirm_post(alice_phone(&[("Origin", b"null")]), form(&scan.token, "confirm").as_bytes()), &[403]),
        row("confirm", "POST confirm with a forged token", confirm_post(alice_phone(&[]), form(&alg_none, "confirm").as_bytes()), &[403]),
        row("confirm", "POST confirm with another scan's token", confirm_post(alice_phone(&[]), form(&state_as_session, "confirm").as_bytes()), &[403]),
        row("confirm", "POST confirm without a token", confirm_post(alice_phone(&[]), b"decision=confirm"), &[403]),
        row("confirm", "POST confirm: alice's token with bob's proof", confirm_post(vec![("Cookie", scan.bob.clone().into_bytes())], form(&scan.token, "confirm").as_bytes()), &[403]),
        row("confirm", "POST confirm: alice's token, no cookie", post_form(&confirm, &[], form(&scan.token, "confirm").as_bytes()), &[403]),
        row("confirm", "POST confirm: decision=<script>", confirm_post(alice_phone(&[]), form(&scan.token, "%3Cscript%3Ealert(1)%3C%2Fscript%3E").as_bytes()), &[400])
            .check("the value is never shown as markup", |r| not_reflected(r, "<script>alert")),
        row("confirm", "POST confirm: invalid UTF-8 form", confirm_post(alice_phone(&[]), b"token=\xff\xfe&decision=\xff"), &[400, 403]),
        row("confirm", "POST confirm: an 8 KiB form (past its limit)", confirm_post(alice_phone(&[]), format!("{}&pad={}", form(&scan.token, "confirm"), "p".repeat(8 * 1024)).as_bytes()), &[413]),
        row("confirm", "POST confirm: JSON instead of a form", Send::Raw(request("POST", &confirm, &[("Cookie", scan.alice.as_bytes()), ("Content-Type", b"application/json")], format!("{{\"token\":\"{}\",\"decision\":\"confirm\"}}", scan.token).as_bytes())), &[400, 403, 415]),
        row("confirm", "PUT confirm", Send::Raw(request("PUT", &confirm, &[("Cookie", scan.alice.as_bytes())], b"")), &[405]),
        row("confirm", "alice answers with decision twice (cancel, then confirm)", confirm_post(alice_phone(&[]), format!("{}&decision=confirm", form(&scan.token, "cancel")).as_bytes()), &[200]).writes()
            .check("the first is read: the scan is cancelled, safe side", |r| r.text().contains("已取消")),
        row("confirm", "the same form again (answered once)", confirm_post(alice_phone(&[]), form(&scan.token, "confirm").as_bytes()), &[409]),
        row("confirm", "the same form, now cancel (answered once)", confirm_post(alice_phone(&[]), form(&scan.token, "cancel").as_bytes()), &[409]),
        // --- the relay hub (issue 14)
        row("relay", "to: another origin", relay("https%3A%2F%2Fevil.example%2Fauth%2Fwechat%2Fcallback", "&code=C&state=S1"), &[400]),
        row("relay", "to: javascript:", relay("javascript%3Aalert(1)%2F%2Fcallback", "&code=C&state=S1"), &[400]),
        row("relay", "to: user info before the host (shop.example@evil)", relay("https%3A%2F%2Fshop.example%40evil.example%2Fauth%2Fwechat%2Fcallback", "&code=C&state=S1"), &[400]),
        row("relay", "to: an encoded slash before @evil", relay("https%3A%2F%2Fshop.example%252F%40evil.example%2Fauth%2Fwechat%2Fcallback", "&code=C&state=S1"), &[400]),
        row("relay", "to: double-encoded", relay("https%253A%252F%252Fshop.example%252Fauth%252Fwechat%252Fcallback", "&code=C&state=S1"), &[400]),
        row("relay", "to: protocol-relative", relay("%2F%2Fshop.example%2Fauth%2Fwechat%2Fcallback", "&code=C&state=S1"), &[400]),
        row("relay", "to: a query (next=//evil)", relay(&format!("{shop_callback}%3Fnext%3D%2F%2Fevil.example"), "&code=C&state=S1"), &[400]),
        row("relay", "to: CRLF + Set-Cookie", relay(&format!("{shop_callback}%0D%0ASet-Cookie%3A%20wechat_session%3Dx"), "&code=C&state=S1"), &[400]),
        row("relay", "to: CRLF inside the path", relay("https%3A%2F%2Fshop.example%2Fauth%2Fwechat%2Fcall%0D%0Aback", "&code=C&state=S1"), &[302, 400])
            .check("no header injected; stays on the target", |r| r.header("set-cookie").is_none() && r.header("location").is_none_or(|l| l.starts_with("https://shop.example/") && !l.contains('\r') && !l.contains('\n'))),
        row("relay", "to: dot segments to another path", relay("https%3A%2F%2Fshop.example%2Fauth%2F..%2F..%2Fx%2Fcallback", "&code=C&state=S1"), &[302, 400])
            .check("stays on the target", |r| r.header("location").is_none_or(|l| l.starts_with("https://shop.example/"))),
        row("relay", "to: 8 KiB", relay(&format!("{shop_callback}{}", "a".repeat(8 * 1024)), "&code=C&state=S1"), &[400]),
        // --- exact callback paths (issue 23 item 7)
        row("relay", "to: /anything/..;/callback", relay("https%3A%2F%2Fshop.example%2Fanything%2F..%3B%2Fcallback", "&code=C&state=S1"), &[400]),
        row("relay", "to: %2e%2e segments", relay("https%3A%2F%2Fshop.example%2Fx%2F%252e%252e%2Fauth%2Fwechat%2Fcallback", "&code=C&state=S1"), &[400]),
        row("relay", "to: ;jsessionid on the callback", relay("https%3A%2F%2Fshop.example%2Fauth%2Fwechat%2Fcallback%3Bjsessionid%3Dx", "&code=C&state=S1"), &[400]),
        row("relay", "to: another integration's callback", relay("https%3A%2F%2Fshop.example%2Foauth%2Fgithub%2Fcallback", "&code=C&state=S1"), &[400]),
        row("relay", "to: a backslash in the path", relay("https%3A%2F%2Fshop.example%2Fauth%5Cwechat%2Fcallback", "&code=C&state=S1"), &[400]),
        row("relay", "to: the callback with display=page", relay(&format!("{shop_callback}%3Fdisplay%3Dpage"), "&code=C&state=S1"), &[400]),
        row("relay", "to: invalid UTF-8", relay("%FF%FE", "&code=C&state=S1"), &[400]),
        row("relay", "to: twice (the allowed one, then evil)", relay(shop_callback, "&to=https%3A%2F%2Fevil.example%2Fauth%2Fwechat%2Fcallback&code=C&state=S1"), &[302, 400])
            .check("never to evil", |r| r.header("location").is_none_or(|l| l.starts_with("https://shop.example/auth/wechat/callback?"))),
        row("relay", "code smuggling a second state", relay(shop_callback, "&code=C%26state%3DEVIL&state=S1"), &[302, 400])
            .check("one state, the signed one", |r| r.status == 400 || location_pairs(r).iter().filter(|(k, _)| k == "state").map(|(_, v)| v.as_str()).collect::<Vec<_>>() == ["S1"]),
        row("relay", "state with an ampersand", relay(shop_callback, "&code=C&state=S1%26code%3DX"), &[400]),
        row("relay", "state twice", relay(shop_callback, "&code=C&state=S1&state=EVIL"), &[302, 400])
            .check("one state", |r| r.status == 400 || location_pairs(r).iter().filter(|(k, _)| k == "state").count() == 1),
        row("relay", "a 1 KiB code", relay(shop_callback, &format!("&code={}&state=S1", "c".repeat(1024))), &[400]),
        row("relay", "no state", relay(shop_callback, "&code=C"), &[400]),
        row("relay", "10,000 query parameters (20 KB)", get(&format!("/auth/wechat/relay?{short_params}to={shop_callback}&code=C&state=S1"), &[]), &[302, 400]),
        row("relay", "POST relay", Send::Raw(request("POST", &format!("/auth/wechat/relay?to={shop_callback}&code=C&state=S1"), &[], b"")), &[405]),
        row("relay", "a relay with a session cookie", get(&format!("/auth/wechat/relay?to={shop_callback}&code=C&state=S1"), &[("Cookie", &cookie(&web))]), &[302])
            .check("passed on without reading or setting cookies", |r| r.set_cookies().next().is_none() && r.header("referrer-policy") == Some("no-referrer")),
        // --- JSON pushes (issue 11's 数据格式 = JSON)
        row("push json", "malformed JSON", push_post(&push_query(&crypto, now(), "801", Some("QUJD")), "{\"ToUserName\":", json), &[400]),
        row("push json", "JSON arrays nested 10,000 deep (20 KB)", push_post(&push_query(&crypto, now(), "802", Some("QUJD")), &format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)), json), &[400]),
        row("push json", "JSON objects nested 3,000 deep", push_post(&push_query(&crypto, now(), "803", Some("QUJD")), &format!("{}1{}", "{\"Encrypt\":".repeat(3_000), "}".repeat(3_000)), json), &[400]),
        row("push json", "a JSON array, not an object", push_post(&push_query(&crypto, now(), "804", Some("QUJD")), "[\"ToUserName\",\"Encrypt\"]", json), &[400]),
        row("push json", "Encrypt an array (wrong type)", push_post(&push_query(&crypto, now(), "805", Some("QUJD")), "{\"ToUserName\":\"gh_000000000001\",\"Encrypt\":[\"QUJD\"]}", json), &[400]),
        row("push json", "Encrypt a huge number", push_post(&push_query(&crypto, now(), "806", Some("1e400")), "{\"ToUserName\":\"gh_000000000001\",\"Encrypt\":1e400}", json), &[400, 403]),
        row("push json", "duplicate Encrypt keys (the signed one first)", push_post(&json_push_q, &format!("{{\"ToUserName\":\"gh_000000000001\",\"Encrypt\":\"{}\",\"Encrypt\":\"{other_sealed_json}\"}}", json_push_body.split("\"Encrypt\":\"").nth(1).unwrap().trim_end_matches("\"}")), json), &[403]),
        row("push json", "invalid UTF-8 in a JSON string", Send::Raw(request("POST", &push_query(&crypto, now(), "807", Some("QUJD")), &[("Content-Type", json)], b"{\"ToUserName\":\"\xff\xfe\",\"Encrypt\":\"QUJD\"}")), &[400]),
        {
            let (q, body) = sealed_json(&crypto, "808", "{\"ToUserName\":\"gh_000000000001\",\"FromUserName\":\"oHOSTILE\",\"CreateTime\":1e400,\"MsgType\":\"event\",\"Event\":\"SCAN\",\"EventKey\":\"x\"}");
            row("push json", "sealed: CreateTime 1e400", push_post(&q, &body, json), &[400])
        },
        {
            let (q, body) = sealed_json(&crypto, "809", "{\"ToUserName\":\"gh_000000000001\",\"FromUserName\":\"oHOSTILE\",\"CreateTime\":184467440737095516150,\"MsgType\":\"text\",\"MsgId\":-1}");
            row("push json", "sealed: CreateTime past u64, MsgId negative", push_post(&q, &body, json), &[400])
        },
        {
            let (q, body) = sealed_json(&crypto, "810", &format!("{{\"ToUserName\":\"gh_000000000001\",\"X\":{}{}}}", "[".repeat(500), "]".repeat(500)));
            row("push json", "sealed: arrays nested 500 deep", push_post(&q, &body, json), &[400])
        },
        {
            let (q, body) = sealed_json(&crypto, "811", "{\"ToUserName\":\"gh_000000000001\",\"FromUserName\":{\"openid\":\"o1\"},\"MsgType\":\"event\"}");
            row("push json", "sealed: FromUserName an object (wrong type)", push_post(&q, &body, json), &[400])
        },
        {
            let (q, body) = sealed_json(&crypto, "812", "{\"ToUserName\":\"gh_000000000001\",\"FromUserName\":\"oHOSTILE\",\"CreateTime\":1,\"MsgType\":\"event\",\"Event\":\"SCAN\",\"EventKey\":\"a\",\"EventKey\":\"b\",");
            row("push json", "sealed: truncated after duplicate keys", push_post(&q, &body, json), &[400])
        },
        {
            let (q, body) = sealed_json(&crypto, "813", "<xml><ToUserName><![CDATA[gh_000000000001]]></ToUserName></xml>");
            row("push json", "sealed: XML inside a JSON push", push_post(&q, &body, json), &[400])
        },
        row("push json", "a valid JSON push (a scan nobody started)", push_post(&json_push_q, &json_push_body, json), &[200]).writes()
            .check("answered in JSON or with success", |r| r.text() == "success" || r.header("content-type").is_some_and(|c| c.contains("json"))),
        row("push json", "the same JSON push again (re-delivery)", push_post(&json_push_q, &json_push_body, json), &[200]),
        row("push json", "the same signed query, another JSON body (replay forgery)", push_post(&json_push_q, &mock_wire::safe_mode_json("gh_000000000001", &other_sealed_json), json), &[403]),
    ]);

    let (total, failures) = run_table(app.addr, &store, rows, "hostile_input.md").await;
    assert!(total >= 175, "{total} rows");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Sends every row to `addr`, checks it (status, no session, store writes only where
/// allowed, still serving, the row's own check), writes the table to
/// `$CARGO_TARGET_TMPDIR/FILE` and prints it; answers the row count and the failures.
async fn run_table(
    addr: SocketAddr,
    store: &counting_store::CountingStore,
    rows: Vec<Row>,
    file: &str,
) -> (usize, Vec<String>) {
    let mut table = String::from(
        "| # | category | input | expected | got | session set | store writes | still serving | time |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut failures = Vec::new();
    let total = rows.len();
    for (i, r) in rows.into_iter().enumerate() {
        let writes_before = store.writes();
        let started = Instant::now();
        let resp = send(addr, &r.send).await;
        let elapsed = started.elapsed();
        // Give any detached work (a push handler finishing) a moment before counting.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let writes = store.writes() - writes_before;
        let alive = send(addr, &get("/", &[])).await.status == 200;
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
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(file);
    std::fs::write(&path, &table).unwrap();
    println!("{table}\n(written to {})", path.display());
    (total, failures)
}

/// The surface message-code login added (issue 25), on an app whose Official Account is the
/// mock's unverified subscription account: `scan?via=…`, the message page's `return_to`, the
/// `oa` channel that is not offered, polls without the browser's cookie, and signed, sealed
/// text messages carrying hostile content, senders and codes. Same rules as the table above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_login_hostile_inputs_are_refused_cleanly() {
    let mock = MockWechat::start().await.unwrap();
    let sub = mock.unverified_account().clone();
    let store = CountingStore::memory();
    let app = start(
        wechat_auth::WechatConfig::builder()
            .with_session_secret(SECRET)
            .with_wechat_bases(mock.url(), mock.url(), mock.url())
            .with_official_account(sub.appid.clone(), sub.secret.clone())
            .with_oa_push(sub.token.clone().unwrap(), sub.encoding_aes_key.as_deref())
            .with_oa_verified(false)
            .with_oa_name("小站订阅号")
            .with_public_path("/")
            .with_http_timeout(Duration::from_secs(2))
            .with_store(store.clone())
            .with_body_timeout(Duration::from_secs(1)),
    )
    .await;
    let crypto = PushCrypto::new(
        sub.token.as_deref().unwrap(),
        sub.encoding_aes_key.as_deref(),
        &sub.appid,
    )
    .unwrap();
    let to = sub.original_id.clone().unwrap();

    // A live message login: its id, the browser's cookie name.
    let owner = browser();
    let res = owner
        .post(format!("{}/auth/wechat/scan?via=message", app.url))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let cookie_name = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok())
        .find(|c| c.starts_with("wechat_scan_"))
        .and_then(|c| c.split('=').next())
        .expect("the scan cookie")
        .to_owned();
    let live: Value = res.json().await.unwrap();
    let (live_id, live_code) = (
        live["id"].as_str().unwrap().to_owned(),
        live["code"].as_str().unwrap().to_owned(),
    );
    // A code asked for by a browser whose User-Agent carries a link.
    let res = reqwest::Client::builder()
        .user_agent(
            r#"Mozilla/5.0 (<a href="https://evil.example/phish">CLICK TO CONFIRM</a>;FOMA;)"#,
        )
        .build()
        .unwrap()
        .post(format!("{}/auth/wechat/scan?via=message", app.url))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let hostile_ua: Value = res.json().await.unwrap();
    let hostile_ua_code = hostile_ua["code"].as_str().unwrap().to_owned();

    // A signed, sealed text message from `from`.
    let mut msg_id = 9_000_000u64;
    let mut text_push = |nonce: &str, from: &str, content: &str| {
        msg_id += 1;
        let xml = mock_wire::text_message_xml(&to, from, now(), content, msg_id);
        let sealed = crypto.encrypt(&xml, *b"0123456789abcdef").unwrap();
        push_post(
            &push_query(&crypto, now(), nonce, Some(&sealed)),
            &mock_wire::safe_mode_xml(&to, &sealed),
            b"text/xml",
        )
    };
    // The `Content` of the sealed passive reply ("" when the answer is `success`).
    let reply_of = {
        let crypto = crypto.clone();
        move |r: &Resp| -> String {
            mock_wire::xml_field(&r.text(), "Encrypt")
                .and_then(|e| crypto.decrypt(&e).ok())
                .and_then(|doc| mock_wire::xml_field(&doc, "Content"))
                .unwrap_or_default()
        }
    };
    let (r1, r2, r3, r4) = (
        reply_of.clone(),
        reply_of.clone(),
        reply_of.clone(),
        reply_of.clone(),
    );
    let scan_cookie = format!("{cookie_name}=forged.value");
    let many_codes: String = (0..1000).map(|i| format!("{:06} ", 100_000 + i)).collect();
    let long_sender = "o".repeat(4096);

    let rows: Vec<Row> = vec![
        row(
            "message",
            "POST scan?via=message",
            post_json("/auth/wechat/scan?via=message", b""),
            &[200],
        )
        .writes()
        .check("a 6-digit code, no parametric QR", |r| {
            let v: Value = serde_json::from_slice(&r.body).unwrap_or_default();
            v["code"]
                .as_str()
                .is_some_and(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
                && v.get("qr_url").is_none_or(Value::is_null)
        }),
        row(
            "message",
            "POST scan?via=telegram",
            post_json("/auth/wechat/scan?via=telegram", b""),
            &[400],
        ),
        row(
            "message",
            "POST scan?via=<invalid UTF-8>",
            post_json("/auth/wechat/scan?via=%FF%FE", b""),
            &[400],
        ),
        row(
            "message",
            "POST scan?via=<4 KiB>",
            post_json(&format!("/auth/wechat/scan?via={}", "m".repeat(4096)), b""),
            &[400],
        ),
        row(
            "message",
            "POST scan?via=message&via=miniprogram",
            post_json("/auth/wechat/scan?via=message&via=miniprogram", b""),
            &[200, 400],
        )
        .writes()
        .check("the first is read, or refused", |r| {
            r.status == 400
                || serde_json::from_slice::<Value>(&r.body).is_ok_and(|v| v["via"] == "message")
        }),
        row(
            "message",
            "GET scan?via=message&return_to=//evil.example",
            get(
                "/auth/wechat/scan?via=message&return_to=//evil.example",
                &[("Accept", b"text/html")],
            ),
            &[200],
        )
        .writes()
        .check("the page does not carry the foreign target", |r| {
            not_reflected(r, "//evil.example")
        }),
        row(
            "message",
            "GET scan?via=message&return_to=javascript:alert(1)",
            get(
                "/auth/wechat/scan?via=message&return_to=javascript:alert(1)",
                &[("Accept", b"text/html")],
            ),
            &[200],
        )
        .writes()
        .check("no script URL in the page", |r| {
            not_reflected(r, "javascript:alert")
        }),
        row(
            "message",
            "GET login?channel=oa on an unverified account",
            get(
                "/auth/wechat/login?channel=oa",
                &[("Accept", b"application/json")],
            ),
            &[404],
        )
        .check("says the account is not verified", |r| {
            r.text().contains("未认证") || r.text().contains("not verified")
        }),
        row(
            "message",
            "poll a live code without the browser's cookie",
            get(&format!("/auth/wechat/scan/{live_id}?wait=0"), &[]),
            &[403],
        )
        .check("not_your_scan", |r| r.text().contains("not_your_scan")),
        row(
            "message",
            "poll a live code with a forged scan cookie",
            get(
                &format!("/auth/wechat/scan/{live_id}?wait=0"),
                &[("Cookie", scan_cookie.as_bytes())],
            ),
            &[403],
        ),
        row(
            "message push",
            "a wrong code wrapped in a link",
            text_push(
                "901",
                "oHOSTILE",
                "登录 <a href=\"https://evil.example/x\">CLICK</a> 000001",
            ),
            &[200],
        )
        .writes()
        .check("no link of the sender's in the reply", move |r| {
            !r1(r).contains("evil.example")
        }),
        row(
            "message push",
            "16 KiB of digits",
            text_push("902", "oHOSTILE2", &"7".repeat(16 * 1024)),
            &[200, 400, 413],
        )
        .writes(),
        row(
            "message push",
            "1,000 six-digit numbers in one message",
            text_push("903", "oHOSTILE3", &many_codes),
            &[200],
        )
        .writes()
        .check("one reply within WeChat's 2048 bytes", move |r| {
            r2(r).len() <= 2048
        }),
        row(
            "message push",
            "NUL and control characters around a code",
            text_push("904", "oHOSTILE4", "\u{0}\u{1b}[2J 000002 \u{7f}"),
            &[200, 400],
        )
        .writes(),
        row(
            "message push",
            "full-width digits",
            text_push("905", "oHOSTILE5", "登录 １２３４５６"),
            &[200],
        )
        .writes(),
        row(
            "message push",
            "a 1 with no login pending",
            text_push("906", "oHOSTILE6", "1"),
            &[200],
        )
        .writes()
        .check("confirms nothing", move |r| !r3(r).contains("已确认")),
        row(
            "message push",
            "a 4 KiB sender",
            text_push("907", &long_sender, "0"),
            &[200, 400],
        )
        .writes(),
        row(
            "message push",
            "a code from a browser whose User-Agent is a link",
            text_push("908", "oHOSTILE7", &format!("登录 {hostile_ua_code}")),
            &[200],
        )
        .writes()
        .check("the reply names no such browser", move |r| {
            let c = r4(r);
            c.contains("回复 1") && !c.contains("evil.example") && !c.contains("CLICK TO CONFIRM")
        }),
        row(
            "message push",
            "the live code from a sender named <script>",
            text_push("909", "<script>alert(1)</script>", &live_code),
            &[200, 400],
        )
        .writes()
        .check("no markup of the sender's in the reply", move |r| {
            !reply_of(r).contains("<script>")
        }),
    ];
    let (total, failures) = run_table(app.addr, &store, rows, "hostile_input_message.md").await;
    assert!(total >= 19, "{total} rows");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for endpoint in [
        "cgi-bin/qrcode/create",
        "cgi-bin/user/info",
        "connect/oauth2/authorize",
        "sns/oauth2/access_token",
    ] {
        assert_eq!(mock.app_calls(&sub.appid, endpoint), 0, "{endpoint}");
    }
    let _ = owner;
}

/// The WeCom client's User-Agent on a phone (protocol §20.7).
const WXWORK_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 10_2 like Mac OS X) AppleWebKit/602.3.12 (KHTML, like Gecko) Mobile/14C92 wxwork/2.4.2 MicroMessenger/6.3.22 Language/zh";
/// The Douyin app's webview (protocol §29).
const DOUYIN_UA: &str = "Mozilla/5.0 (Linux; Android 12; V2049A) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/75.0.3770.156 Mobile Safari/537.36 aweme_230400 JsSdk/1.0 NetType/WIFI AppName/aweme app_version/23.4.0 BytedanceWebview/d8a21c6";

/// A login start sent as raw bytes: the state it issued (from the `Location`) and its state
/// cookie (`name=value`).
async fn started(addr: SocketAddr, target: &str) -> (String, String) {
    let res = send(addr, &get(target, &[])).await;
    assert_eq!(res.status, 302, "{target}: {}", res.text());
    let cookie = res
        .set_cookies()
        .find(|c| c.starts_with("wechat_state_"))
        .and_then(|c| c.split(';').next())
        .expect("a state cookie")
        .to_owned();
    let location = res.header("location").expect("a Location");
    let state = url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("a state in the Location");
    (state, cookie)
}

/// Whether `needle` reaches the answer only inside JSON (a string, escaped by its type) or
/// not at all: never as markup in a page.
fn json_or_escaped(r: &Resp, needle: &str) -> bool {
    let json = r
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
        && serde_json::from_slice::<Value>(&r.body).is_ok();
    json || not_reflected(r, needle)
}

/// Whether an answer carries none of the app's secrets (WeCom corp secret, suite secret,
/// its token and key, the Douyin app's and mini-app's secrets, the session key).
fn no_secret(secrets: &[String]) -> impl Fn(&Resp) -> bool + std::marker::Send + 'static {
    let secrets = secrets.to_vec();
    move |r: &Resp| {
        let all = format!("{:?}{}", r.headers, r.text());
        secrets.iter().all(|s| !all.contains(s.as_str()))
    }
}

/// A WeCom command callback signed with `crypto` (fresh timestamp): the query and the
/// envelope sealing `inner`.
fn wecom_sealed(crypto: &wecom_client::WecomCrypto, nonce: &str, inner: &str) -> (String, String) {
    let encrypt = crypto.encrypt_fresh(inner).unwrap();
    let ts = now().to_string();
    let sig = crypto.signature(&ts, nonce, &encrypt);
    (
        format!("/auth/wechat/wecom/push?msg_signature={sig}&timestamp={ts}&nonce={nonce}"),
        format!(
            "<xml><ToUserName><![CDATA[{}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>",
            crypto.receive_id()
        ),
    )
}

/// The surfaces WeCom (issue 27) and Douyin (issue 28) added, on a site with every WeChat
/// app, a WeCom corp app and suite, and a Douyin app and mini-app: `login`/`embed` with
/// `channel=wecom`, the shared `callback` with WeCom- and Douyin-tagged states, the suite's
/// command callback `wecom/push`, `douyin/app`, `douyin/miniapp`, `douyin/profile` and
/// `douyin/renew`. Same rules as the tables above, and no answer carries a secret.
/// What `tests/wecom_login.rs` and `tests/douyin_login.rs` already prove is not repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wecom_and_douyin_hostile_inputs_are_refused_cleanly() {
    use wechat_auth::{WecomCorp, WecomSuite};
    let mock = MockWechat::start().await.unwrap();
    let store = CountingStore::memory();
    let corp = mock.wecom_corp().clone();
    let suite = mock.wecom_suite().unwrap().clone();
    let (dy_app, dy_mini) = (mock.douyin_app().clone(), mock.douyin_miniapp().clone());
    let app = start(
        config(&mock)
            .with_wecom_bases(mock.url(), mock.url())
            .with_wecom_corp(WecomCorp::new(
                &corp.corp_id,
                &corp.agent_id,
                corp.secret.clone(),
            ))
            .with_wecom_suite(WecomSuite::new(
                &suite.suite_id,
                suite.suite_secret.clone(),
                suite.token.clone(),
                suite.encoding_aes_key.clone(),
            ))
            .with_douyin_app(dy_app.client_key.clone(), dy_app.client_secret.clone())
            .with_douyin_miniapp(dy_mini.appid.clone(), dy_mini.secret.clone())
            .with_douyin_bases(mock.douyin_open_base(), mock.douyin_miniapp_base())
            .with_store(store.clone())
            .with_body_timeout(Duration::from_secs(1)),
    )
    .await;
    let secrets = vec![
        corp.secret.clone(),
        suite.suite_secret.clone(),
        suite.token.clone(),
        suite.encoding_aes_key.clone(),
        dy_app.client_secret.clone(),
        dy_mini.secret.clone(),
        SECRET.to_owned(),
    ];
    let secret_free = || no_secret(&secrets);
    let crypto = wecom_client::WecomCrypto::new(
        suite.token.as_str(),
        &suite.encoding_aes_key,
        &suite.suite_id,
    )
    .unwrap();

    // Sessions: a WeChat web session, a Douyin web session.
    let b = browser();
    let res = login(&app, &b, "?channel=website&return_to=/profile", "alice").await;
    let wechat_session = session_token(&res).expect("a WeChat session");
    let dy = browser();
    let res = dy
        .get(format!(
            "{}/auth/wechat/login?channel=douyin&return_to=/profile",
            app.url
        ))
        .send()
        .await
        .unwrap();
    let res = dy
        .get(format!(
            "{}&mock_user=bob&mock_action=approve",
            location(&res)
        ))
        .send()
        .await
        .unwrap();
    let res = dy.get(location(&res)).send().await.unwrap();
    let douyin_session = session_token(&res).expect("a Douyin session");
    let session = |v: &str| format!("wechat_session={v}").into_bytes();
    let (wechat_cookie, douyin_cookie) = (session(&wechat_session), session(&douyin_session));
    let origin = app.url.clone().into_bytes();

    // Live logins: each one's state and its state cookie (one per row that reaches the code).
    let wecom = "/auth/wechat/login?channel=wecom";
    let douyin = "/auth/wechat/login?channel=douyin";
    let (w1, w1c) = started(app.addr, wecom).await;
    let (w2, w2c) = started(app.addr, wecom).await;
    let (w3, w3c) = started(app.addr, wecom).await;
    let (w4, w4c) = started(app.addr, wecom).await;
    let (d1, d1c) = started(app.addr, douyin).await;
    let (d2, d2c) = started(app.addr, douyin).await;
    let (d3, d3c) = started(app.addr, douyin).await;
    let (d4, d4c) = started(app.addr, douyin).await;
    assert!(w1.starts_with("wecom") && w1.len() > 32, "{w1}");
    assert!(d1.starts_with("douyin") && d1.len() > 32, "{d1}");
    // A WeChat login of this browser: its 32-character state and cookie.
    let (wx, wxc) = started(app.addr, "/auth/wechat/login?channel=website").await;
    assert_eq!(wx.len(), 32, "{wx}");
    let cb = |code: &str, state: &str| format!("/auth/wechat/callback?code={code}&state={state}");
    let with = |c: &str| c.as_bytes().to_vec();
    // The same random part under the other tag.
    let w1_as_douyin = format!("douyin{}", &w1["wecom".len()..]);
    let d1_as_wecom = format!("wecom{}", &d1["douyin".len()..]);
    let d1_as_popup = format!("douyinpopup{}", &d1["douyin".len()..]);

    // Command callbacks.
    let ts = now();
    let (ticket_q, ticket_body) = wecom_sealed(
        &crypto,
        "101",
        &format!(
            "<xml><SuiteId><![CDATA[{}]]></SuiteId><InfoType><![CDATA[suite_ticket]]></InfoType><TimeStamp>{ts}</TimeStamp><SuiteTicket><![CDATA[hostile-ticket]]></SuiteTicket></xml>",
            suite.suite_id
        ),
    );
    let bomb = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\">{}]><xml><SuiteId>&j;</SuiteId><InfoType>suite_ticket</InfoType></xml>",
        (b'b'..=b'j')
            .map(|c| {
                let prev = (c - 1) as char;
                format!(
                    "<!ENTITY {} \"{}\">",
                    c as char,
                    format!("&{prev};").repeat(10)
                )
            })
            .collect::<String>()
    );
    let (bomb_q, bomb_body) = wecom_sealed(&crypto, "102", &bomb);
    let (xxe_q, xxe_body) = wecom_sealed(
        &crypto,
        "103",
        &format!(
            "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><xml><SuiteId><![CDATA[{}]]></SuiteId><InfoType>suite_ticket</InfoType><TimeStamp>{ts}</TimeStamp><SuiteTicket>&e;</SuiteTicket></xml>",
            suite.suite_id
        ),
    );
    // The signed Encrypt of a real envelope, delivered through an internal entity.
    let entity_body = {
        let encrypt = ticket_body
            .split("<Encrypt><![CDATA[")
            .nth(1)
            .and_then(|s| s.split("]]>").next())
            .unwrap();
        format!(
            "<!DOCTYPE xml [<!ENTITY enc \"{encrypt}\">]><xml><ToUserName><![CDATA[{}]]></ToUserName><Encrypt>&enc;</Encrypt></xml>",
            suite.suite_id
        )
    };
    let (entity_q, _) = wecom_sealed(&crypto, "104", "<xml/>");
    let fresh = format!(
        "/auth/wechat/wecom/push?msg_signature={}&timestamp={}&nonce=105",
        "0".repeat(40),
        now()
    );
    let laughs = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">{}]><xml><ToUserName>x</ToUserName><Encrypt>&lol9;</Encrypt></xml>",
        (1..=9)
            .map(|i| format!(
                "<!ENTITY lol{i} \"{}\">",
                format!(
                    "&lol{};",
                    if i == 1 {
                        String::new()
                    } else {
                        (i - 1).to_string()
                    }
                )
                .repeat(10)
            ))
            .collect::<String>()
    );
    let xml = b"text/xml".as_slice();
    // URL verifications signed with the suite's token: an echostr that is not base64, and one
    // sealed for another suite (same token and key, another ReceiveId).
    let verify_q = |nonce: &str, echostr: &str| {
        let ts = now().to_string();
        let sig = crypto.signature(&ts, nonce, echostr);
        let echostr: String = url::form_urlencoded::byte_serialize(echostr.as_bytes()).collect();
        format!(
            "/auth/wechat/wecom/push?msg_signature={sig}&timestamp={ts}&nonce={nonce}&echostr={echostr}"
        )
    };
    let not_base64 = verify_q("106", "!!not-base64!!");
    let genuine = verify_q("108", &crypto.encrypt_fresh("hello").unwrap());
    let other_suite = verify_q(
        "107",
        &wecom_client::WecomCrypto::new(
            suite.token.as_str(),
            &suite.encoding_aes_key,
            "ww9999999999999999",
        )
        .unwrap()
        .encrypt_fresh("hello")
        .unwrap(),
    );

    // Douyin native codes.
    let app_code = mock.sdk_code(&dy_app.client_key, "carol").unwrap();
    let mini_code = mock.sdk_code(&dy_mini.appid, "carol").unwrap();
    let dy_post = |path: &str, ct: &'static [u8], body: &[u8]| {
        Send::Raw(request("POST", path, &[("Content-Type", ct)], body))
    };
    let json_ct = b"application/json".as_slice();
    let deep = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));

    #[rustfmt::skip]
    let rows: Vec<Row> = vec![
        // --- login?channel=wecom
        row("wecom login", "corp= a corp not configured", get(&format!("{wecom}&corp=ww0000000000000666"), &[]), &[400]).check("no secret", secret_free()),
        row("wecom login", "corp=<script>", get(&format!("{wecom}&corp=%3Cscript%3Ealert(1)%3C/script%3E"), &[("Accept", b"text/html")]), &[400]).check("JSON or escaped", |r| json_or_escaped(r, "<script>alert")),
        row("wecom login", "corp= 4 KiB", get(&format!("{wecom}&corp={}", "w".repeat(4096)), &[]), &[400]),
        row("wecom login", "agentid= another agent", get(&format!("{wecom}&corp={}&agentid=9999", corp.corp_id), &[]), &[400]),
        row("wecom login", "kind=bogus", get(&format!("{wecom}&kind=bogus"), &[]), &[400]),
        row("wecom login", "kind=<script>", get(&format!("{wecom}&kind=%3Cscript%3Ealert(1)%3C/script%3E"), &[("Accept", b"text/html")]), &[400]).check("JSON or escaped", |r| json_or_escaped(r, "<script>alert")),
        row("wecom login", "kind= invalid UTF-8", get(&format!("{wecom}&kind=%FF%FE"), &[]), &[400]),
        row("wecom login", "kind=suite&kind=corp (the first is read)", get(&format!("{wecom}&kind=suite&kind=corp"), &[]), &[302]).writes()
            .check("the suite's login", { let id = suite.suite_id.clone(); move |r| r.header("location").is_some_and(|l| l.contains(&id)) }),
        row("wecom login", "return_to=//evil.example", get(&format!("{wecom}&return_to=//evil.example"), &[]), &[302]).writes()
            .check("return_to is /", |r| state_return_to(r).as_deref() == Some("/")),
        row("wecom login", "return_to=https://evil.example/", get(&format!("{wecom}&return_to=https://evil.example/"), &[]), &[302]).writes()
            .check("return_to is /", |r| state_return_to(r).as_deref() == Some("/")),
        row("wecom login", "return_to=/\\evil.example", get(&format!("{wecom}&return_to=/%5Cevil.example"), &[]), &[302]).writes()
            .check("return_to stays local", |r| state_return_to(r).is_some_and(|t| t.starts_with('/') && !t.starts_with("//") && !t.contains('\\'))),
        row("wecom login", "return_to=javascript:alert(1)", get(&format!("{wecom}&return_to=javascript:alert(1)"), &[]), &[302]).writes()
            .check("return_to is /", |r| state_return_to(r).as_deref() == Some("/")),
        row("wecom login", "return_to=%0d%0aSet-Cookie", get(&format!("{wecom}&return_to=/a%0d%0aSet-Cookie:%20x=1"), &[]), &[302]).writes()
            .check("no injected header, no control character kept", |r| r.header("x").is_none() && state_return_to(r).is_some_and(|t| !t.contains('\r') && !t.contains('\n'))),
        row("wecom login", "return_to= 6 KiB", get(&format!("{wecom}&return_to=/{}", "p".repeat(6 * 1024)), &[]), &[302]).writes()
            .check("a local target", |r| state_return_to(r).is_some_and(|t| t.starts_with('/'))),
        row("wecom login", "display=<script>", get(&format!("{wecom}&display=%3Cscript%3E"), &[("Accept", b"text/html")]), &[400]).check("not reflected", |r| json_or_escaped(r, "<script>")),
        row("wecom login", "channel=wecom&channel=douyin (the first is read)", get("/auth/wechat/login?channel=wecom&channel=douyin", &[]), &[302]).writes()
            .check("WeCom's page", |r| r.header("location").is_some_and(|l| l.contains("wwlogin") || l.contains("state=wecom"))),
        row("wecom login", "PUT login?channel=wecom", Send::Raw(request("PUT", wecom, &[], b"")), &[405]),
        row("wecom login", "the WeCom client, no channel, return_to=//evil.example", get("/auth/wechat/login?return_to=//evil.example", &[("User-Agent", WXWORK_UA.as_bytes())]), &[302]).writes()
            .check("WeCom's in-app login, return_to is /", |r| r.header("location").is_some_and(|l| l.contains("state=wecom")) && state_return_to(r).as_deref() == Some("/")),
        row("wecom login", "the WeCom client with channel=website stays WeChat's", get("/auth/wechat/login?channel=website", &[("User-Agent", WXWORK_UA.as_bytes())]), &[302])
            .check("a WeChat state (32 characters)", |r| r.header("location").is_some_and(|l| !l.contains("state=wecom") && !l.contains("state=douyin"))),
        // --- login?channel=douyin
        row("douyin login", "return_to=//evil.example", get("/auth/wechat/login?channel=douyin&return_to=//evil.example", &[]), &[302])
            .check("return_to is /", |r| state_return_to(r).as_deref() == Some("/")),
        row("douyin login", "display=<script>", get("/auth/wechat/login?channel=douyin&display=%3Cscript%3E", &[("Accept", b"text/html")]), &[400]).check("JSON or escaped", |r| json_or_escaped(r, "<script>")),
        row("douyin login", "display=popup&nonce=<script>", get("/auth/wechat/login?channel=douyin&display=popup&nonce=%3Cscript%3E", &[("Accept", b"text/html")]), &[400]).check("JSON or escaped", |r| json_or_escaped(r, "<script>")),
        row("douyin login", "the Douyin webview, no channel, return_to=javascript:", get("/auth/wechat/login?return_to=javascript:alert(1)", &[("User-Agent", DOUYIN_UA.as_bytes())]), &[302])
            .check("Douyin's login, return_to is /", |r| r.header("location").is_some_and(|l| l.contains("state=douyin")) && state_return_to(r).as_deref() == Some("/")),
        // --- embed?channel=wecom
        row("wecom embed", "return_to=//evil.example", get("/auth/wechat/embed?channel=wecom&return_to=//evil.example", &[]), &[200]).writes()
            .check("the foreign target is not carried", |r| not_reflected(r, "evil.example")),
        row("wecom embed", "kind=bogus", get("/auth/wechat/embed?channel=wecom&kind=bogus", &[]), &[400]),
        row("wecom embed", "corp= a corp not configured", get("/auth/wechat/embed?channel=wecom&corp=ww0000000000000666", &[]), &[400]),
        row("wecom embed", "lang=<script>", get("/auth/wechat/embed?channel=wecom&lang=%3Cscript%3E", &[]), &[200]).writes().check("not reflected", |r| not_reflected(r, "<script>")),
        row("wecom embed", "POST embed?channel=wecom", Send::Raw(request("POST", "/auth/wechat/embed?channel=wecom", &[], b"")), &[405]),
        // --- callback with WeCom-tagged states
        row("wecom callback", "a live state with another WeCom login's cookie", get(&cb("abc", &w1), &[("Cookie", &with(&w2c))]), &[400]),
        row("wecom callback", "a live state, a 600-byte code", get(&cb(&"c".repeat(600), &w1), &[("Cookie", &with(&w1c))]), &[400]).check("no secret", secret_free()),
        row("wecom callback", "a code smuggling &state=EVIL", get(&cb("abc%26state%3DEVIL", &w2), &[("Cookie", &with(&w2c))]), &[400]).writes().check("no secret", secret_free()),
        row("wecom callback", "a code with markup", get(&cb("%22%3E%3Cscript%3Ealert(1)%3C/script%3E", &w3), &[("Cookie", &with(&w3c))]), &[400]).writes().check("not reflected", |r| not_reflected(r, "<script>alert")),
        row("wecom callback", "a WeCom state with a WeChat login's cookie", get(&cb("abc", &w4), &[("Cookie", &with(&wxc))]), &[400]),
        row("wecom callback", "a WeChat state with a WeCom login's cookie", get(&cb("abc", &wx), &[("Cookie", &with(&w4c))]), &[400]),
        row("wecom callback", "a WeCom state replayed in Douyin's shape", get(&cb("abc", &w1_as_douyin), &[("Cookie", &with(&w1c))]), &[400]),
        row("wecom callback", "a tagged state of 200 characters", get(&cb("abc", &format!("wecom{}", "A".repeat(195))), &[]), &[400]),
        row("wecom callback", "display=iframe, no cookie, a code with markup", get(&format!("{}&display=iframe", cb("%22%3E%3Cscript%3Ealert(1)%3C/script%3E", &w4)), &[]), &[200])
            .check("the code is not reflected as markup", |r| not_reflected(r, "<script>alert")),
        // --- callback with Douyin-tagged states
        row("douyin callback", "a live state without its cookie", get(&cb("abc", &d1), &[]), &[400]),
        row("douyin callback", "a live state with another Douyin login's cookie", get(&cb("abc", &d1), &[("Cookie", &with(&d2c))]), &[400]),
        row("douyin callback", "a live state, a 10 KiB code", get(&cb(&"c".repeat(10 * 1024), &d1), &[("Cookie", &with(&d1c))]), &[400]).check("no secret", secret_free()),
        row("douyin callback", "a code smuggling &state=EVIL", get(&cb("abc%26state%3DEVIL", &d2), &[("Cookie", &with(&d2c))]), &[400]).writes().check("no secret", secret_free()),
        row("douyin callback", "a code with markup", get(&cb("%22%3E%3Cscript%3Ealert(1)%3C/script%3E", &d3), &[("Cookie", &with(&d3c))]), &[400]).writes().check("not reflected", |r| not_reflected(r, "<script>alert")),
        row("douyin callback", "a Douyin state replayed in WeCom's shape", get(&cb("abc", &d1_as_wecom), &[("Cookie", &with(&d1c))]), &[400]),
        row("douyin callback", "a Douyin state turned into a popup one", get(&cb("abc", &d1_as_popup), &[("Cookie", &with(&d1c))]), &[400]),
        row("douyin callback", "a Douyin state with a WeChat login's cookie", get(&cb("abc", &d4), &[("Cookie", &with(&wxc))]), &[400]),
        row("douyin callback", "a forged state with a WeChat session", get(&cb("abc", &format!("douyin{}", "A".repeat(32))), &[("Cookie", &wechat_cookie)]), &[400]),
        row("douyin callback", "a live state and cookie, no code (declined), markup in error", get(&format!("/auth/wechat/callback?state={d4}&error=%3Cscript%3E"), &[("Cookie", &with(&d4c))]), &[200])
            .check("not reflected", |r| not_reflected(r, "<script>")),
        // --- wecom/push (the suite's command callback)
        row("wecom push", "GET without parameters", get("/auth/wechat/wecom/push", &[]), &[403]),
        row("wecom push", "GET fresh, forged signature", get(&format!("{fresh}&echostr=QUJD"), &[]), &[403]).check("no secret", secret_free()),
        row("wecom push", "GET fresh, an 8 KiB echostr", get(&format!("{fresh}&echostr={}", "A".repeat(8192)), &[]), &[403]),
        row("wecom push", "GET timestamp not a number", get("/auth/wechat/wecom/push?msg_signature=x&timestamp=1e400&nonce=1&echostr=x", &[]), &[403]),
        row("wecom push", "GET a genuine URL verification (the signing above is right)", get(&genuine, &[]), &[200])
            .check("the plaintext echoed", |r| r.text() == "hello"),
        row("wecom push", "GET validly signed, echostr not base64", get(&not_base64, &[]), &[403]),
        row("wecom push", "GET validly signed, echostr sealed for another suite", get(&other_suite, &[]), &[403])
            .check("the plaintext is not echoed", |r| not_reflected(r, "hello")),
        row("wecom push", "POST without parameters", push_post("/auth/wechat/wecom/push", "<xml/>", xml), &[403]),
        row("wecom push", "POST garbage (not XML)", push_post(&fresh, "\u{0}<<<>>>&&&", xml), &[400]),
        row("wecom push", "POST invalid UTF-8", Send::Raw(request("POST", &fresh, &[("Content-Type", xml)], b"<xml>\xff\xfe</xml>")), &[400]),
        row("wecom push", "POST billion laughs in the envelope", push_post(&fresh, &laughs, xml), &[400]),
        row("wecom push", "POST a signed Encrypt through an internal entity", push_post(&entity_q, &entity_body, xml), &[400]),
        row("wecom push", "POST validly sealed billion laughs", push_post(&bomb_q, &bomb_body, xml), &[400]).writes(),
        row("wecom push", "POST validly sealed external entity (file:///etc/passwd)", push_post(&xxe_q, &xxe_body, xml), &[400]).writes()
            .check("nothing read from the disk", |r| not_reflected(r, "root:")),
        row("wecom push", "POST a valid envelope with a forged signature", push_post(&ticket_q.replace("msg_signature=", "msg_signature=f"), &ticket_body, xml), &[403]),
        row("wecom push", "POST a 100 KiB body", push_post(&fresh, &"x".repeat(100 * 1024), xml), &[413]),
        row("wecom push", "POST Content-Length 99999999999", Send::Raw(format!("POST {fresh} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 99999999999\r\n\r\n<xml>").into_bytes()), &[413]),
        row("wecom push", "POST JSON", push_post(&fresh, "{\"Encrypt\":\"QUJD\"}", b"application/json"), &[400]),
        row("wecom push", "PUT wecom/push", Send::Raw(request("PUT", &fresh, &[], b"")), &[405]),
        // --- douyin/app and douyin/miniapp
        row("douyin native", "app: not JSON", dy_post("/auth/wechat/douyin/app", json_ct, b"code=abc"), &[400]),
        row("douyin native", "app: invalid UTF-8", dy_post("/auth/wechat/douyin/app", json_ct, b"{\"code\":\"\xff\xfe\"}"), &[400]),
        row("douyin native", "app: text/plain", dy_post("/auth/wechat/douyin/app", b"text/plain", b"{\"code\":\"made-up\"}"), &[400]).writes(),
        row("douyin native", "app: a form", dy_post("/auth/wechat/douyin/app", b"application/x-www-form-urlencoded", b"code=made-up"), &[400]),
        row("douyin native", "app: code a number", dy_post("/auth/wechat/douyin/app", json_ct, b"{\"code\":12345}"), &[400]),
        row("douyin native", "app: code <script>", dy_post("/auth/wechat/douyin/app", json_ct, b"{\"code\":\"<script>alert(1)</script>\"}"), &[400]).check("not reflected", |r| not_reflected(r, "<script>")),
        row("douyin native", "app: code with NUL and CR LF", dy_post("/auth/wechat/douyin/app", json_ct, b"{\"code\":\"a\\u0000b\\r\\nc\"}"), &[400]),
        row("douyin native", "app: code ../../", dy_post("/auth/wechat/douyin/app", json_ct, b"{\"code\":\"../../etc/passwd\"}"), &[400]),
        row("douyin native", "app: code full-width characters", dy_post("/auth/wechat/douyin/app", json_ct, "{\"code\":\"ａｂｃ\"}".as_bytes()), &[400]),
        row("douyin native", "app: a 257-byte code", dy_post("/auth/wechat/douyin/app", json_ct, format!("{{\"code\":\"{}\"}}", "c".repeat(257)).as_bytes()), &[400]),
        row("douyin native", "app: arrays nested 5,000 deep", dy_post("/auth/wechat/douyin/app", json_ct, deep.as_bytes()), &[400]),
        row("douyin native", "app: a 2 MiB body", dy_post("/auth/wechat/douyin/app", json_ct, &vec![b' '; 2 << 20]), &[413]),
        row("douyin native", "app: Content-Length 99999999999", Send::Raw(b"POST /auth/wechat/douyin/app HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{".to_vec()), &[413]),
        row("douyin native", "app: slow body (stalls after 10 bytes)", Send::Stall(b"POST /auth/wechat/douyin/app HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"code\":\"a".to_vec()), &[408]),
        row("douyin native", "app: a made-up code", dy_post("/auth/wechat/douyin/app", json_ct, b"{\"code\":\"made-up-code\"}"), &[400]).writes().check("no secret", secret_free()),
        row("douyin native", "app: the mini-app's code (another app's)", dy_post("/auth/wechat/douyin/app", json_ct, format!("{{\"code\":\"{mini_code}\"}}").as_bytes()), &[400]).writes().check("no secret", secret_free()),
        row("douyin native", "miniapp: the app's code (another app's)", dy_post("/auth/wechat/douyin/miniapp", json_ct, format!("{{\"code\":\"{app_code}\"}}").as_bytes()), &[400]).writes().check("no secret", secret_free()),
        row("douyin native", "miniapp: duplicate code keys", dy_post("/auth/wechat/douyin/miniapp", json_ct, b"{\"code\":\"a\",\"code\":\"b\"}"), &[400]),
        row("douyin native", "miniapp: anonymous_code only", dy_post("/auth/wechat/douyin/miniapp", json_ct, b"{\"anonymous_code\":\"abc\"}"), &[400]),
        row("douyin native", "GET douyin/app", get("/auth/wechat/douyin/app", &[]), &[405]),
        row("douyin native", "PUT douyin/miniapp", Send::Raw(request("PUT", "/auth/wechat/douyin/miniapp", &[("Content-Type", json_ct)], b"{}")), &[405]),
        // --- douyin/profile
        row("douyin profile", "no session", get("/auth/wechat/douyin/profile", &[]), &[401]),
        row("douyin profile", "a WeChat session", get("/auth/wechat/douyin/profile", &[("Cookie", &wechat_cookie)]), &[401]),
        row("douyin profile", "a forged bearer", get("/auth/wechat/douyin/profile", &[("Authorization", b"Bearer a.b.c")]), &[401]),
        row("douyin profile", "the Douyin session signed with another key", get("/auth/wechat/douyin/profile", &[("Cookie", &session(&sign(&claims_of(&douyin_session), "another-app-secret-0123456789abcdef")))]), &[401]),
        row("douyin profile", "the Douyin session twice (two cookies)", get("/auth/wechat/douyin/profile", &[("Cookie", &session(&format!("{douyin_session}; wechat_session={douyin_session}")))]), &[401]),
        row("douyin profile", "POST douyin/profile", Send::Raw(request("POST", "/auth/wechat/douyin/profile", &[("Origin", &origin)], b"")), &[405]),
        // --- douyin/renew
        row("douyin renew", "no session", Send::Raw(request("POST", "/auth/wechat/douyin/renew", &[("Origin", &origin)], b"")), &[401]),
        row("douyin renew", "a Douyin session, cross-site", Send::Raw(request("POST", "/auth/wechat/douyin/renew", &[("Origin", b"https://evil.example"), ("Cookie", &douyin_cookie)], b"")), &[403]),
        row("douyin renew", "a Douyin session, Origin: null", Send::Raw(request("POST", "/auth/wechat/douyin/renew", &[("Origin", b"null"), ("Cookie", &douyin_cookie)], b"")), &[403]),
        row("douyin renew", "a Douyin session, a look-alike Origin", Send::Raw(request("POST", "/auth/wechat/douyin/renew", &[("Origin", format!("{}.evil.example", app.url).as_bytes()), ("Cookie", &douyin_cookie)], b"")), &[403]),
        row("douyin renew", "a Douyin session, Origin invalid UTF-8", Send::Raw(request("POST", "/auth/wechat/douyin/renew", &[("Origin", b"https://\xff\xfe"), ("Cookie", &douyin_cookie)], b"")), &[403]),
        row("douyin renew", "a WeChat session", Send::Raw(request("POST", "/auth/wechat/douyin/renew", &[("Origin", &origin), ("Cookie", &wechat_cookie)], b"")), &[401]),
        row("douyin renew", "a forged bearer (skips the origin check, not the session)", Send::Raw(request("POST", "/auth/wechat/douyin/renew", &[("Origin", b"https://evil.example"), ("Authorization", b"Bearer a.b.c")], b"")), &[401]),
        row("douyin renew", "GET douyin/renew", get("/auth/wechat/douyin/renew", &[("Cookie", &douyin_cookie)]), &[405]),
        // --- the layer's own WeCom host page and popup
        row("wecom login", "display=embed&return_to=//evil.example", get(&format!("{wecom}&display=embed&return_to=//evil.example"), &[("Accept", b"text/html")]), &[200]).writes()
            .check("the foreign target is not in the page", |r| not_reflected(r, "evil.example")),
        row("wecom login", "display=embed&return_to=/a\"><script>", get(&format!("{wecom}&display=embed&return_to=/a%22%3E%3Cscript%3Ealert(1)%3C/script%3E"), &[("Accept", b"text/html")]), &[200]).writes()
            .check("escaped", |r| not_reflected(r, "<script>alert")),
        row("wecom login", "display=popup&nonce=<script>", get(&format!("{wecom}&display=popup&nonce=%3Cscript%3E"), &[("Accept", b"text/html")]), &[400])
            .check("JSON or escaped", |r| json_or_escaped(r, "<script>")),
    ];
    // Every row also checks that no configured secret is in its answer.
    let rows: Vec<Row> = rows
        .into_iter()
        .map(|mut r| {
            let clean = secret_free();
            r.check = Some(match r.check.take() {
                Some((what, f)) => (what, Box::new(move |x: &Resp| f(x) && clean(x)) as Check),
                None => ("no secret in the answer", Box::new(clean) as Check),
            });
            r
        })
        .collect();
    let (total, failures) =
        run_table(app.addr, &store, rows, "hostile_input_wecom_douyin.md").await;
    assert!(total >= 90, "{total} rows");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // No hostile row made the layer ask WeCom for a suite token (no forged ticket was kept).
    assert_eq!(
        mock.calls("cgi-bin/service/get_suite_token"),
        0,
        "no suite token was asked for"
    );
    let _ = (b, dy);
}

/// The core change beside WeCom and Douyin: a WeChat-only `on_login` hook (it would never see
/// their logins, so a site relying on it to refuse or link users would let them all through)
/// is refused at build time, naming the providers; the identity hook is accepted.
#[tokio::test]
async fn a_wechat_only_login_hook_is_refused_beside_wecom_and_douyin() {
    use wechat_auth::{ConfigError, WecomCorp};
    let mock = MockWechat::start().await.unwrap();
    let corp = mock.wecom_corp().clone();
    let dy = mock.douyin_app().clone();
    let base = || config(&mock).with_public_url("http://127.0.0.1:1");
    let wecom = |b: wechat_auth::WechatConfigBuilder| {
        b.with_wecom_corp(WecomCorp::new(
            &corp.corp_id,
            &corp.agent_id,
            corp.secret.clone(),
        ))
    };
    let douyin = |b: wechat_auth::WechatConfigBuilder| {
        b.with_douyin_app(dy.client_key.clone(), dy.client_secret.clone())
    };
    let providers = |r: Result<wechat_auth::WechatConfig, ConfigError>| match r {
        Err(ConfigError::WechatOnlyLoginHook { providers }) => Some(providers),
        _ => None,
    };
    let hook = |_u: wechat_auth::WechatUser| async { Ok(None) };
    let bind =
        |_u: wechat_auth::WechatUser, _s: Option<wechat_auth::WechatUser>| async { Ok(None) };
    assert_eq!(
        providers(wecom(base()).with_on_login(hook).build()).as_deref(),
        Some("WeCom")
    );
    assert_eq!(
        providers(douyin(base()).with_on_login_bind(bind).build()).as_deref(),
        Some("Douyin")
    );
    assert_eq!(
        providers(douyin(wecom(base())).with_on_login(hook).build()).as_deref(),
        Some("WeCom and Douyin")
    );
    // The hook that sees every provider's identity is accepted, and a WeChat-only site keeps
    // its WeChat-only hook.
    assert!(
        douyin(wecom(base()))
            .with_on_login_identity(|_id, _signed_in| async { Ok(None) })
            .build()
            .is_ok()
    );
    assert!(base().with_on_login(hook).build().is_ok());
}
