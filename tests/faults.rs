//! The fault matrix: every upstream call the layer makes × every way WeChat or the network
//! can fail it, end to end (real layer in a real axum server, the mock WeChat behind a
//! raw-TCP fault proxy, real sockets) — what the user gets, how many attempts reached
//! "WeChat", how long it took; and the store's faults (Redis down at start, down in the
//! middle of a scan, slow, restarted).
//!
//! Each row asserts its bound (nothing hangs past `attempts × http_timeout + backoff`), that a
//! failed login sets no session, that the server still serves, and that once the fault is
//! gone the same action succeeds (nothing half-written stands in the way). The tables are
//! written to `$CARGO_TARGET_TMPDIR/faults.md` and printed (`-- --nocapture`).

mod common;
#[path = "support/counting_store.rs"]
mod counting_store;
#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/redis_server.rs"]
mod redis_server;

use std::{
    fmt::Write as _,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{Json, routing::get};
use common::*;
use counting_store::CountingStore;
use fault_proxy::{FaultProxy, Misbehave};
use reqwest::Client;
use serde_json::{Value, json};
use wechat_auth::{WechatAuthLayer, WechatConfigBuilder, WechatHandle, mock::MockWechat};

/// The per-attempt timeout the apps here use (short, but long enough for a healthy call on
/// a 2-core machine shared with compilers).
const HTTP_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest any row may take: 3 attempts of 2 s, 0.1 + 0.2 s backoff (+25 % jitter),
/// and slack for a loaded machine.
const ROW_BOUND: Duration = Duration::from_secs(12);
/// Rows run at once.
const PARALLEL_ROWS: usize = 6;

struct Env {
    mock: MockWechat,
    proxy: FaultProxy,
    app: App,
    store: Arc<CountingStore>,
}

/// The mock, a fault proxy in front of its API, and an app whose API base is the proxy
/// (its browser pages and QR images still come from the mock directly).
async fn env_with(tune: impl FnOnce(WechatConfigBuilder) -> WechatConfigBuilder) -> Env {
    let mock = MockWechat::start().await.unwrap();
    let proxy = FaultProxy::start(&mock.url()).await;
    let store = CountingStore::memory();
    let builder = base_config(&mock)
        .with_wechat_bases(proxy.url.clone(), mock.url(), mock.url())
        .with_http_timeout(HTTP_TIMEOUT)
        .with_mini_program_code_page("pages/login/confirm")
        .with_public_path("/phone")
        .with_store(store.clone());
    let app = serve(tune(builder)).await;
    wire(&mock, &app);
    Env {
        mock,
        proxy,
        app,
        store,
    }
}

/// `common::start` plus `/phone?code=` (the mini program phone number through the handle).
async fn serve(builder: WechatConfigBuilder) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://{addr}");
    let cfg = builder.with_public_url(url.clone()).build().unwrap();
    let router = routes()
        .route(
            "/phone",
            get(
                |wechat: WechatHandle, q: axum::extract::Query<Vec<(String, String)>>| async move {
                    match wechat.phone_number(&q.0[0].1).await {
                        Ok(p) => Json(json!({ "phone": p.phone_number })),
                        Err(e) => Json(json!({ "error": e.to_string() })),
                    }
                },
            ),
        )
        .layer(WechatAuthLayer::new(cfg));
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    App::from_parts(url, addr, task)
}

/// One upstream call, and the user action that makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upstream {
    CodeExchange,
    UserInfo,
    Refresh,
    GlobalToken,
    QrCreate,
    FollowerInfo,
    JsCode2Session,
    PhoneNumber,
    WxaCode,
}

const UPSTREAMS: [Upstream; 9] = [
    Upstream::CodeExchange,
    Upstream::UserInfo,
    Upstream::Refresh,
    Upstream::GlobalToken,
    Upstream::QrCreate,
    Upstream::FollowerInfo,
    Upstream::JsCode2Session,
    Upstream::PhoneNumber,
    Upstream::WxaCode,
];

impl Upstream {
    fn path(self) -> &'static str {
        match self {
            Self::CodeExchange => "sns/oauth2/access_token",
            Self::UserInfo => "sns/userinfo",
            Self::Refresh => "sns/oauth2/refresh_token",
            Self::GlobalToken => "cgi-bin/stable_token",
            Self::QrCreate => "cgi-bin/qrcode/create",
            Self::FollowerInfo => "cgi-bin/user/info",
            Self::JsCode2Session => "sns/jscode2session",
            Self::PhoneNumber => "wxa/business/getuserphonenumber",
            Self::WxaCode => "wxa/getwxacodeunlimit",
        }
    }

    /// The user action, in words, for the table.
    fn action(self) -> &'static str {
        match self {
            Self::CodeExchange => "website login callback",
            Self::UserInfo => "website login callback (profile read)",
            Self::Refresh => "handle.profile() after the user token expired",
            Self::GlobalToken => "POST scan (follow-OA QR)",
            Self::QrCreate => "POST scan (follow-OA QR)",
            Self::FollowerInfo => "phone scans; browser polls",
            Self::JsCode2Session => "POST miniprogram",
            Self::PhoneNumber => "handle.phone_number()",
            Self::WxaCode => "GET scan/{id}/code.png",
        }
    }

    /// Whether the user's action still succeeds when this call fails (the call only adds
    /// detail to a login that stands without it).
    fn optional(self) -> bool {
        matches!(self, Self::UserInfo | Self::FollowerInfo)
    }
}

/// What the user got.
#[derive(Debug)]
struct Outcome {
    status: u16,
    /// A short description of the answer.
    what: String,
    /// Whether the action succeeded (a session, a QR code, a phone number, …).
    ok: bool,
    /// Whether a session was handed out.
    session: bool,
    elapsed: Duration,
}

/// Everything an action needs prepared before the fault is switched on.
enum Prepared {
    Callback(Client, String),
    Profile(Client),
    Scan,
    Followed { b: Client, id: String, qr: String },
    Mini(String),
    Phone(String),
    Code { b: Client, image: String },
}

async fn post_scan(app: &App, b: &Client, via: &str) -> reqwest::Response {
    b.post(format!(
        "{}/auth/wechat/scan?return_to=/profile{via}",
        app.url
    ))
    .header("accept", "application/json")
    .send()
    .await
    .unwrap()
}

async fn prepare(env: &Env, up: Upstream) -> Prepared {
    let app = &env.app;
    let mock = &env.mock;
    match up {
        Upstream::CodeExchange | Upstream::UserInfo => {
            let b = browser();
            let wechat = start_login(app, &b, "?channel=website&return_to=/profile").await;
            let cb = wechat_answers(&b, &wechat, "alice", "approve").await;
            // The callback needs this browser's state cookie: keep it with the URL.
            Prepared::Callback(b, cb)
        }
        Upstream::Refresh => {
            let b = browser();
            let res = login(app, &b, "?channel=website", "alice").await;
            assert_eq!(res.status(), 302);
            // The profile cache (1 s here) lapses and WeChat's user token expires.
            tokio::time::sleep(Duration::from_millis(1100)).await;
            mock.advance(Duration::from_secs(3 * 3600));
            Prepared::Profile(b)
        }
        Upstream::GlobalToken | Upstream::QrCreate => Prepared::Scan,
        Upstream::FollowerInfo => {
            let b = browser();
            let res = post_scan(app, &b, "").await;
            assert_eq!(res.status(), 200);
            let v: Value = res.json().await.unwrap();
            Prepared::Followed {
                b,
                id: v["id"].as_str().unwrap().to_owned(),
                qr: v["qr_url"].as_str().unwrap().to_owned(),
            }
        }
        Upstream::JsCode2Session => {
            Prepared::Mini(mock.sdk_code(&mock.mini_program().appid, "alice").unwrap())
        }
        Upstream::PhoneNumber => {
            // Fetch the mini program's global token first, so the fault hits the phone call.
            let warm = mock.phone_code(&mock.mini_program().appid, "bob").unwrap();
            let (_, v) = get_json(&Client::new(), &format!("{}/phone?code={warm}", app.url)).await;
            assert!(v["phone"].is_string(), "{v}");
            Prepared::Phone(
                mock.phone_code(&mock.mini_program().appid, "alice")
                    .unwrap(),
            )
        }
        Upstream::WxaCode => {
            let b = browser();
            let res = post_scan(app, &b, "&via=miniprogram").await;
            assert_eq!(res.status(), 200);
            let v: Value = res.json().await.unwrap();
            let image = v["image_url"].as_str().expect("image_url").to_owned();
            Prepared::Code { b, image }
        }
    }
}

async fn act(env: &Env, up: Upstream, prepared: Prepared) -> Outcome {
    let app = &env.app;
    let started = Instant::now();
    let (status, what, ok, session) = match prepared {
        Prepared::Callback(b, cb) => {
            let res = b.get(&cb).send().await.unwrap();
            let status = res.status().as_u16();
            let session = session_token(&res).is_some();
            let what = if status == 302 {
                format!("302 → {}", location(&res))
            } else {
                format!("{status} error page")
            };
            let nickname = if session {
                let (_, user) = get_json(&b, &format!("{}/profile", app.url)).await;
                user["nickname"].as_str().map(str::to_owned)
            } else {
                None
            };
            let what = match (up, nickname) {
                (Upstream::UserInfo, None) if session => format!("{what}, no nickname"),
                (Upstream::UserInfo, Some(_)) => format!("{what}, nickname"),
                _ => what,
            };
            (status, what, session, session)
        }
        Prepared::Profile(b) => {
            let (status, v) = get_json(&b, &format!("{}/wechat-profile", app.url)).await;
            let ok = v["profile"].is_string();
            let what = if ok {
                "profile".to_owned()
            } else if let Some(e) = v["error"].as_str() {
                format!("error: {}", e.chars().take(60).collect::<String>())
            } else {
                format!("{v}")
            };
            (status, what, ok, false)
        }
        Prepared::Scan => {
            let b = browser();
            let res = post_scan(app, &b, "").await;
            let status = res.status().as_u16();
            let v: Value = res.json().await.unwrap_or(Value::Null);
            let ok = status == 200 && v["qr_url"].is_string();
            let what = if ok {
                "QR code".to_owned()
            } else {
                format!("{status} {}", v["error"].as_str().unwrap_or("?"))
            };
            (status, what, ok, false)
        }
        Prepared::Followed { b, id, qr } => {
            let report = env.mock.scan(&qr, "alice").await.unwrap();
            let res = b
                .get(format!("{}/auth/wechat/scan/{id}?wait=8", app.url))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let session = session_token(&res).is_some();
            let v: Value = res.json().await.unwrap_or(Value::Null);
            let (_, user) = get_json(&b, &format!("{}/profile", app.url)).await;
            let what = format!(
                "{} (push acked: {}, unionid: {})",
                v["status"].as_str().unwrap_or("?"),
                report.acknowledged,
                !user["unionid"].is_null()
            );
            (status, what, session, session)
        }
        Prepared::Mini(code) => {
            let res = Client::new()
                .post(format!("{}/auth/wechat/miniprogram", app.url))
                .json(&json!({ "code": code }))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let v: Value = res.json().await.unwrap_or(Value::Null);
            let session = v["token"].is_string();
            let what = if session {
                "token".to_owned()
            } else {
                format!("{status} {}", v["error"].as_str().unwrap_or("?"))
            };
            (status, what, session, session)
        }
        Prepared::Phone(code) => {
            let (status, v) =
                get_json(&Client::new(), &format!("{}/phone?code={code}", app.url)).await;
            let ok = v["phone"].is_string();
            let what = if ok {
                "phone".to_owned()
            } else {
                format!(
                    "error: {}",
                    v["error"]
                        .as_str()
                        .unwrap_or("?")
                        .chars()
                        .take(60)
                        .collect::<String>()
                )
            };
            (status, what, ok, false)
        }
        Prepared::Code { b, image } => {
            let res = b.get(format!("{}{image}", app.url)).send().await.unwrap();
            let status = res.status().as_u16();
            let ct = res
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let ok = status == 200 && ct.starts_with("image/");
            let what = if ok { ct } else { format!("{status}") };
            (status, what, ok, false)
        }
    };
    Outcome {
        status,
        what,
        ok,
        session,
        elapsed: started.elapsed(),
    }
}

fn faults() -> Vec<(&'static str, Misbehave)> {
    vec![
        ("WeChat -1", Misbehave::Errcode(-1)),
        ("HTTP 503", Misbehave::Status(503)),
        ("timeout (no answer)", Misbehave::Hang),
        (
            "slow headers (2.5 s)",
            Misbehave::SlowHeaders(Duration::from_millis(2500)),
        ),
        (
            "slow body (1 B / 100 ms)",
            Misbehave::SlowBody(Duration::from_millis(100)),
        ),
        ("truncated JSON", Misbehave::TruncatedJson),
        ("body shorter than Content-Length", Misbehave::Truncated),
        ("HTML error page (502)", Misbehave::HtmlPage),
        (
            "redirect (302)",
            Misbehave::Redirect("http://127.0.0.1:9/elsewhere".into()),
        ),
        ("empty body", Misbehave::Empty),
        ("huge body (2 MiB)", Misbehave::Huge(2 << 20)),
        ("connection reset", Misbehave::Reset),
        ("gzip nobody asked for", Misbehave::Gzip),
    ]
}

struct Row {
    up: Upstream,
    fault: &'static str,
    out: Outcome,
    attempts: u32,
    recovered: bool,
}

async fn run_row(up: Upstream, fault: &'static str, misbehave: Misbehave) -> Row {
    let env = env_with(|b| b.with_userinfo_ttl(Duration::from_secs(1))).await;
    let prepared = prepare(&env, up).await;
    let before = env.proxy.calls(up.path());
    let written_before = env.store.written().len();
    env.proxy.inject(up.path(), misbehave, 10);
    let out = act(&env, up, prepared).await;
    let attempts = env.proxy.calls(up.path()) - before;
    env.proxy.clear();
    if !out.ok {
        // A failed login leaves no user tokens, profile or session key behind.
        let half: Vec<_> = env.store.written()[written_before..]
            .iter()
            .filter(|(k, _)| {
                [":tokens:", ":profile:", ":session"]
                    .iter()
                    .any(|p| k.contains(p))
            })
            .map(|(k, _)| k.clone())
            .collect();
        assert!(half.is_empty(), "{up:?} × {fault}: half-written {half:?}");
        // Browser and app endpoints answer a clean error status (the handle calls answer
        // through the test app's own JSON, always 200).
        if !matches!(up, Upstream::Refresh | Upstream::PhoneNumber) {
            assert!(
                (400..600).contains(&out.status) && out.status != 500,
                "{up:?} × {fault}: status {}",
                out.status
            );
        }
    }

    assert!(
        out.elapsed < ROW_BOUND,
        "{up:?} × {fault}: took {:?}",
        out.elapsed
    );
    if up.optional() {
        assert!(
            out.ok,
            "{up:?} × {fault}: the login stands without it: {out:?}"
        );
    } else {
        assert!(
            !out.ok,
            "{up:?} × {fault}: a failed call cannot succeed: {out:?}"
        );
        assert!(!out.session, "{up:?} × {fault}: no session on failure");
    }
    // Still serving.
    let res = Client::new().get(&env.app.url).send().await.unwrap();
    assert_eq!(
        res.status(),
        200,
        "{up:?} × {fault}: the server still serves"
    );
    // With the fault gone, the same action succeeds: nothing half-written is in the way.
    let again = prepare(&env, up).await;
    let second = act(&env, up, again).await;
    let recovered = second.ok;
    assert!(
        recovered,
        "{up:?} × {fault}: recovers once WeChat is back: {second:?}"
    );
    Row {
        up,
        fault,
        out,
        attempts,
        recovered,
    }
}

/// The follower lookup behind a scan only adds the unionid and nickname: a hanging
/// `cgi-bin/user/info` holds the waiting browser one attempt's time, not every retry's
/// (`3 × http_timeout` + backoff before), and the scan still logs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_follower_lookup_holds_a_scan_one_attempt_not_every_retry() {
    let row = run_row(
        Upstream::FollowerInfo,
        "timeout (no answer)",
        Misbehave::Hang,
    )
    .await;
    assert!(row.out.ok, "{:?}", row.out);
    assert!(
        row.out.elapsed < HTTP_TIMEOUT + Duration::from_millis(1500),
        "{:?}",
        row.out
    );
    assert_eq!(row.attempts, 1);
}

fn write_table(name: &str, table: &str) {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, table).unwrap();
    println!("{table}\n(written to {})", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_upstream_call_under_every_fault() {
    let started = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(PARALLEL_ROWS));
    let mut tasks = Vec::new();
    let only = std::env::var("FAULTS_ONLY").unwrap_or_default();
    for up in UPSTREAMS {
        for (fault, misbehave) in faults() {
            if !format!("{up:?}").contains(&only) {
                continue;
            }
            let gate = gate.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire().await.unwrap();
                run_row(up, fault, misbehave).await
            }));
        }
    }
    let mut rows = Vec::new();
    for t in tasks {
        rows.push(t.await.unwrap());
    }

    if !only.is_empty() {
        return;
    }
    // Retry policy, row by row where it matters.
    let attempts = |up: Upstream, fault: &str| {
        rows.iter()
            .find(|r| r.up == up && r.fault == fault)
            .map(|r| r.attempts)
            .unwrap()
    };
    // -1 and 5xx: WeChat did not act, so even the code exchange is retried (1 + 2).
    assert_eq!(attempts(Upstream::CodeExchange, "WeChat -1"), 3);
    assert_eq!(attempts(Upstream::CodeExchange, "HTTP 503"), 3);
    // A timeout may have used the code: never sent twice.
    assert_eq!(attempts(Upstream::CodeExchange, "timeout (no answer)"), 1);
    // Unreadable answers are not retried.
    assert_eq!(attempts(Upstream::JsCode2Session, "truncated JSON"), 1);
    // The follower's unionid is optional too: one attempt's time (its own test below).
    assert_eq!(attempts(Upstream::FollowerInfo, "timeout (no answer)"), 1);
    // The profile is optional: a login waits one attempt's time for it, not every retry's.
    let userinfo_hang = rows
        .iter()
        .find(|r| r.up == Upstream::UserInfo && r.fault == "timeout (no answer)")
        .unwrap();
    assert!(
        userinfo_hang.out.elapsed < HTTP_TIMEOUT + Duration::from_millis(1500),
        "{:?}",
        userinfo_hang.out.elapsed
    );
    assert_eq!(attempts(Upstream::GlobalToken, "huge body (2 MiB)"), 1);

    let mut table = String::from(
        "| upstream call | user action | fault | user gets | attempts | time | recovers |\n|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        let _ = writeln!(
            table,
            "| `{}` | {} | {} | {} | {} | {:.2} s | {} |",
            r.up.path(),
            r.up.action(),
            r.fault,
            r.out.what,
            r.attempts,
            r.out.elapsed.as_secs_f64(),
            if r.recovered { "yes" } else { "no" },
        );
    }
    let _ = writeln!(
        table,
        "\n{} rows in {:.1} s ({PARALLEL_ROWS} at a time), per-attempt timeout {} s.",
        rows.len(),
        started.elapsed().as_secs_f64(),
        HTTP_TIMEOUT.as_secs()
    );
    write_table("faults.md", &table);
}

/// One row of the store table.
struct StoreRow {
    fault: &'static str,
    action: &'static str,
    result: String,
    elapsed: Duration,
}

/// A website login in `app` through `b`; (status, session set, time).
async fn website_login(app: &App, b: &Client) -> (u16, bool, Duration) {
    let wechat = start_login(app, b, "?channel=website").await;
    let cb = wechat_answers(b, &wechat, "alice", "approve").await;
    let started = Instant::now();
    let res = b.get(&cb).send().await.unwrap();
    (
        res.status().as_u16(),
        session_token(&res).is_some(),
        started.elapsed(),
    )
}

/// An app on `store` with every call through the mock directly.
async fn app_on(mock: &MockWechat, store: Arc<dyn wechat_auth::store::Store>) -> App {
    let app = serve(
        base_config(mock)
            .with_http_timeout(HTTP_TIMEOUT)
            .with_store(store),
    )
    .await;
    wire(mock, &app);
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_faults_are_bounded_and_leave_nothing_half_written() {
    let Some(mut redis) = redis_server::RedisServer::spawn() else {
        return;
    };
    const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
    let mut rows = Vec::new();
    let mock = MockWechat::start().await.unwrap();

    // Down at start: an eager connect fails within its bound, saying what is wrong.
    redis.stop();
    let started = Instant::now();
    let err = wechat_auth::store::RedisStore::connect(redis.url())
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    assert!(err.to_string().contains("unavailable"), "{err}");
    rows.push(StoreRow {
        fault: "Redis down at start",
        action: "`RedisStore::connect`",
        result: format!(
            "error: {}",
            err.to_string().chars().take(70).collect::<String>()
        ),
        elapsed,
    });

    // Down at start, lazily connected: a login is refused (503) within the command
    // timeout, no session; once Redis is up the next login works.
    let lazy = wechat_auth::store::RedisStore::connect_lazy(redis.url())
        .unwrap()
        .with_prefix("faults-down")
        .with_command_timeout(COMMAND_TIMEOUT);
    let app = app_on(&mock, Arc::new(lazy)).await;
    let b = browser();
    let (status, session, elapsed) = website_login(&app, &b).await;
    assert_eq!(status, 503);
    assert!(!session);
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    rows.push(StoreRow {
        fault: "Redis down at start (lazy)",
        action: "website login callback",
        result: format!("{status}, no session"),
        elapsed,
    });
    redis.restart();
    let started = Instant::now();
    let mut recovered = None;
    while started.elapsed() < Duration::from_secs(10) {
        let (status, session, _) = website_login(&app, &browser()).await;
        if status == 302 && session {
            recovered = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered = recovered.expect("logins work again once Redis is up");
    rows.push(StoreRow {
        fault: "Redis comes up",
        action: "website login callback",
        result: "302 + session".into(),
        elapsed: recovered,
    });

    // Down in the middle of a scan: polls answer 503 within the bound, the push is not
    // acknowledged (WeChat retries it), nobody gets a session; after a restart (an empty
    // Redis) the scene is gone and the browser is told so — no stale half-confirmed state.
    let store = wechat_auth::store::RedisStore::connect(redis.url())
        .await
        .unwrap()
        .with_prefix("faults-scan")
        .with_command_timeout(COMMAND_TIMEOUT);
    let app = app_on(&mock, Arc::new(store)).await;
    let b = browser();
    let res = post_scan(&app, &b, "").await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    let id = v["id"].as_str().unwrap().to_owned();
    let qr = v["qr_url"].as_str().unwrap().to_owned();
    redis.stop();
    let started = Instant::now();
    let res = b
        .get(format!("{}/auth/wechat/scan/{id}?wait=0", app.url))
        .send()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    assert_eq!(status, 503);
    assert!(session_token(&res).is_none());
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    rows.push(StoreRow {
        fault: "Redis down mid-scan",
        action: "browser polls the scan",
        result: format!("{status}, no session"),
        elapsed,
    });
    let started = Instant::now();
    let report = mock.scan(&qr, "alice").await.unwrap();
    let elapsed = started.elapsed();
    assert!(!report.acknowledged, "{report:?}");
    rows.push(StoreRow {
        fault: "Redis down mid-scan",
        action: "WeChat pushes the scan",
        result: format!(
            "not acknowledged ({} deliveries: WeChat retries)",
            report.deliveries
        ),
        elapsed,
    });
    redis.restart();
    let started = Instant::now();
    let mut after = (0, Value::Null, false);
    while started.elapsed() < Duration::from_secs(10) {
        let res = b
            .get(format!("{}/auth/wechat/scan/{id}?wait=0", app.url))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let token = session_token(&res).is_some();
        after = (status, res.json().await.unwrap_or(Value::Null), token);
        if status != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(after.0, 503, "serving again after the restart");
    assert!(!after.2, "no session from a scene Redis forgot");
    assert_ne!(after.1["status"], "confirmed");
    rows.push(StoreRow {
        fault: "Redis restarted (empty) mid-scan",
        action: "browser polls the scan",
        result: format!(
            "{} {}, no session",
            after.0,
            after.1["status"].as_str().unwrap_or("")
        ),
        elapsed: started.elapsed(),
    });
    // A new scan works.
    let res = post_scan(&app, &b, "").await;
    assert_eq!(res.status(), 200);

    // Restarted under a signed-in user: the session (a signed token) still works; new
    // logins work once the connection is back.
    let b = browser();
    let (status, session, _) = website_login(&app, &b).await;
    assert!(status == 302 && session);
    redis.restart();
    let (status, _) = get_json(&b, &format!("{}/profile", app.url)).await;
    assert_eq!(status, 200, "a valid session needs no store round-trip");
    let started = Instant::now();
    let mut back = None;
    while started.elapsed() < Duration::from_secs(10) {
        let (status, session, _) = website_login(&app, &browser()).await;
        if status == 302 && session {
            back = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rows.push(StoreRow {
        fault: "Redis restarted",
        action: "signed-in user; then a new login",
        result: "session kept (200); new login 302 + session".into(),
        elapsed: back.expect("logins work after a restart"),
    });

    // Slow: every store call 200 ms late. Logins still complete, a bit later.
    let slow = CountingStore::memory();
    slow.set_delay(Duration::from_millis(200));
    let app = app_on(&mock, slow.clone()).await;
    let before = slow.writes();
    let (status, session, elapsed) = website_login(&app, &browser()).await;
    assert!(status == 302 && session);
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");
    rows.push(StoreRow {
        fault: "store slow (+200 ms per call)",
        action: "website login callback",
        result: format!("302 + session; {} store writes", slow.writes() - before),
        elapsed,
    });
    // Unavailable in-process store: the same clean 503.
    slow.set_delay(Duration::ZERO);
    slow.set_down(true);
    let (status, session, elapsed) = website_login(&app, &browser()).await;
    assert_eq!(status, 503);
    assert!(!session);
    rows.push(StoreRow {
        fault: "store unavailable (custom store)",
        action: "website login callback",
        result: format!("{status}, no session"),
        elapsed,
    });

    let mut table = String::from("| store fault | action | result | time |\n|---|---|---|---|\n");
    for r in rows {
        let _ = writeln!(
            table,
            "| {} | {} | {} | {:.2} s |",
            r.fault,
            r.action,
            r.result,
            r.elapsed.as_secs_f64()
        );
    }
    let _ = writeln!(
        table,
        "\nRedis command timeout {} ms; per-attempt WeChat timeout {} s.",
        COMMAND_TIMEOUT.as_millis(),
        HTTP_TIMEOUT.as_secs()
    );
    write_table("store_faults.md", &table);
}
