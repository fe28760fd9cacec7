//! Section 2: the login flows against the mock WeChat, over loopback.
//!
//! The mock, the app (the real layer in a real axum server) and the browsers (reqwest, one
//! shared keep-alive pool, cookies carried by hand) all run in this process, each on its own
//! tokio runtime whose threads carry its name (`app`, `mock`; the browsers on the default
//! runtime), so the rates are what the whole system does on this machine's cores and the CPU
//! each part used per login or scan cycle is reported apart ([`util::CpuSplit`]).

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, routing::get};
use reqwest::{Client, Response, redirect::Policy};
use serde_json::Value;
use wechat_auth::{
    ScanStartLimits, WechatAuthLayer, WechatConfig, WechatUser,
    mock::{MockConfig, MockWechat, ScanReport},
    store::Store,
};

use crate::util::{self, CpuSplit, Verdict, ms, percentile};

/// The app's runtime: every app instance of this section serves (and calls WeChat) on it.
fn app_rt() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| util::named_runtime("app", 2))
}

/// The mock's runtime: its server, and the phones' scans (signing, encrypting, pushing).
fn mock_rt() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| util::named_runtime("mock", 2))
}

/// Starts the mock WeChat on the mock's runtime.
pub async fn start_mock(cfg: MockConfig) -> Arc<MockWechat> {
    let mock = mock_rt()
        .spawn(async move { MockWechat::start_with(cfg).await.unwrap() })
        .await
        .expect("the mock starts");
    Arc::new(mock)
}

/// One line of CPU per cycle: the app's, the mock's, the browsers' (µs), since `before`.
fn cpu_line(before: CpuSplit, cycles: u64) -> String {
    let (app, mock, clients) = CpuSplit::per_cycle_since(before, cycles);
    format!("CPU per cycle: app {app:.0} µs, mock {mock:.0} µs, browsers {clients:.0} µs")
}

const SECRET: &str = "load-session-secret-0123456789abcdef";

/// How the section runs.
pub struct Settings {
    /// Distinct users, each logging in once, then once more.
    pub users: u64,
    /// Browsers at once.
    pub concurrency: u64,
    /// Scan logins in the throughput run.
    pub scans: u64,
    /// One-at-a-time push-to-browser samples.
    pub push_samples: u64,
    /// Browsers waiting at once in the burst.
    pub burst: u64,
    /// Longest any one run may take before the harness gives up (and fails).
    pub deadline: Duration,
    /// Run the section once more on `RedisStore` with two app instances.
    pub redis: bool,
}

impl Settings {
    pub fn from_env() -> Self {
        Self {
            users: util::env_or_quick("LOGIN_USERS", 5_000, 1_000),
            concurrency: util::env_u64("LOGIN_CONC", 32),
            scans: util::env_or_quick("SCAN_LOGINS", 2_000, 500),
            push_samples: util::env_u64("PUSH_SAMPLES", 300),
            burst: util::env_u64("SCAN_BURST", 1_000),
            deadline: Duration::from_secs(util::env_u64("LOGIN_DEADLINE_SECS", 120)),
            redis: util::env_u64("LOGIN_REDIS", 1) == 1,
        }
    }
}

/// The mock's name of user `i`.
pub fn user_name(i: u64) -> String {
    format!("u{i:06}")
}

/// Scan logins use this many users (the mock finds a user by openid in an index, so the
/// number does not change its cost).
const SCAN_USERS: u64 = 64;

/// The `Location` of a redirect.
fn location(res: &Response) -> String {
    res.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location on {}", res.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The `name=value` of the first `Set-Cookie` whose name starts with `prefix`.
fn cookie(res: &Response, prefix: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|c| c.starts_with(prefix))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
        .find(|pair| pair.split_once('=').is_some_and(|(_, v)| !v.is_empty()))
}

/// A browser pool: keep-alive, no redirects followed, no cookie jar (cookies go by hand).
pub fn browsers(concurrency: u64) -> Client {
    Client::builder()
        .redirect(Policy::none())
        .pool_max_idle_per_host(concurrency as usize * 2)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Runs `f(0..total)` with `concurrency` workers; returns the results and the wall time.
/// Panics if the whole run takes longer than `deadline`.
async fn pool<F, Fut, T>(
    total: u64,
    concurrency: u64,
    deadline: Duration,
    f: F,
) -> (Vec<T>, Duration)
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..concurrency.clamp(1, total.max(1)) {
        let (f, next) = (f.clone(), next.clone());
        set.spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return out;
                }
                out.push(f(i).await);
            }
        });
    }
    let all = tokio::time::timeout(deadline, async {
        let mut all = Vec::with_capacity(total as usize);
        while let Some(done) = set.join_next().await {
            all.extend(done.expect("a worker failed"));
        }
        all
    })
    .await
    .unwrap_or_else(|_| panic!("the run did not finish within {deadline:?}"));
    (all, start.elapsed())
}

/// What changed in the mock's call counters.
fn diff(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// One website login: login start → the mock's approve → callback. Returns (callback time,
/// whole flow time, the session cookie).
async fn website_login(http: Client, app: Arc<str>, user: String) -> (Duration, Duration, String) {
    web_login(http, app, "", user).await
}

/// [`website_login`] with more of the login's query (`&channel=oa`): through web
/// authorization when `http` is WeChat's in-app browser ([`phones`]).
pub async fn web_login(
    http: Client,
    app: Arc<str>,
    query: &str,
    user: String,
) -> (Duration, Duration, String) {
    let t0 = Instant::now();
    let res = http
        .get(format!("{app}/auth/wechat/login?return_to=/profile{query}"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302, "login start");
    let wechat = location(&res);
    let state = cookie(&res, "wechat_state_").expect("state cookie");
    res.bytes().await.unwrap();
    let res = http
        .get(MockWechat::approve_url(&wechat, &user))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302, "mock approve for {user}");
    let callback = location(&res);
    res.bytes().await.unwrap();
    let t1 = Instant::now();
    let res = http
        .get(&callback)
        .header("cookie", &state)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302, "callback for {user}");
    let session = cookie(&res, "wechat_session=")
        .unwrap_or_else(|| panic!("the callback set no session for {user}"));
    res.bytes().await.unwrap();
    let end = Instant::now();
    (end - t1, end - t0, session)
}

/// A scan a browser has started: its id, the QR code's content, the binding cookie.
struct Started {
    id: String,
    qr_url: String,
    binding: String,
}

/// `POST scan`, as the scan page does.
async fn start_scan(http: Client, app: Arc<str>) -> Started {
    let res = http
        .post(format!("{app}/auth/wechat/scan?return_to=/profile"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "scan start");
    let binding = cookie(&res, "wechat_scan_").expect("scan cookie");
    let body: Value = res.json().await.unwrap();
    Started {
        id: body["id"].as_str().unwrap().to_owned(),
        qr_url: body["qr_url"].as_str().unwrap().to_owned(),
        binding,
    }
}

/// The browser's long poll; resolves to when its answer had been read. Panics unless the
/// answer is `confirmed` with a session.
fn wait_for_scan(http: Client, app: &str, s: &Started) -> tokio::task::JoinHandle<Instant> {
    poll_for(http, app, s, "pending", "confirmed")
}

/// The browser's long poll as the scan page sends it (saying the status it shows, `seen`),
/// which must answer `want` (`confirmed` comes with the session); resolves to when its answer
/// had been read.
fn poll_for(
    http: Client,
    app: &str,
    s: &Started,
    seen: &'static str,
    want: &'static str,
) -> tokio::task::JoinHandle<Instant> {
    let url = format!("{app}/auth/wechat/scan/{}?wait=20&seen={seen}", s.id);
    let binding = s.binding.clone();
    tokio::spawn(async move {
        let res = http
            .get(url)
            .header("cookie", binding)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let session = cookie(&res, "wechat_session=").is_some();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        let answered = Instant::now();
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some(want)),
            "{body}"
        );
        assert_eq!(
            session,
            want == "confirmed",
            "a session with the confirmed answer only"
        );
        answered
    })
}

/// The phone scans (on the mock's runtime), and WeChat acknowledges the push at once; returns
/// what the mock saw (the account's reply among it).
async fn scan_on_phone(mock: &Arc<MockWechat>, qr_url: &str, user: &str) -> ScanReport {
    let (mock, qr_url, user) = (mock.clone(), qr_url.to_owned(), user.to_owned());
    let report = mock_rt()
        .spawn(async move { mock.scan(&qr_url, &user).await.unwrap() })
        .await
        .expect("the scan ran");
    assert!(
        report.acknowledged && report.deliveries == 1,
        "push acknowledged at once: {report:?}"
    );
    report
}

/// [`scan_on_phone`]; resolves to when it started (just before the push is signed and sent).
async fn phone_scans(mock: &Arc<MockWechat>, qr_url: &str, user: &str) -> Instant {
    let pushed = Instant::now();
    scan_on_phone(mock, qr_url, user).await;
    pushed
}

/// One scan login as the scan page does it: start, long-poll, the phone scans, the poll
/// answers. Returns (push → browser answer, whole flow).
pub async fn scan_login(
    http: Client,
    app: Arc<str>,
    mock: Arc<MockWechat>,
    user: String,
    settle: Duration,
) -> (Duration, Duration) {
    let t0 = Instant::now();
    let started = start_scan(http.clone(), app.clone()).await;
    let poll = wait_for_scan(http, &app, &started);
    // The browser is waiting (its request is in flight) before the phone scans.
    tokio::time::sleep(settle).await;
    let pushed = phone_scans(&mock, &started.qr_url, &user).await;
    let answered = poll.await.unwrap();
    (answered.saturating_duration_since(pushed), t0.elapsed())
}

/// A campaign burst: `n` browsers wait at once, then `n` phones scan at once. Returns each
/// browser's push → answer time, and the time from the first push to the last answer.
async fn burst(
    http: Client,
    app: Arc<str>,
    mock: Arc<MockWechat>,
    n: u64,
    first_user: u64,
    deadline: Duration,
) -> (Vec<Duration>, Duration) {
    let (started, _) = pool(n, 32, deadline, {
        let (http, app) = (http.clone(), app.clone());
        move |_| start_scan(http.clone(), app.clone())
    })
    .await;
    let polls: Vec<_> = started
        .iter()
        .map(|s| wait_for_scan(http.clone(), &app, s))
        .collect();
    // Every browser's request is in flight and subscribed before the first scan.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let scans: Vec<_> = started
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (mock, qr) = (mock.clone(), s.qr_url.clone());
            tokio::spawn(
                async move { phone_scans(&mock, &qr, &user_name(first_user + i as u64)).await },
            )
        })
        .collect();
    tokio::time::timeout(deadline, async {
        let mut out = Vec::with_capacity(polls.len());
        let (mut first, mut last) = (None::<Instant>, None::<Instant>);
        for (poll, scan) in polls.into_iter().zip(scans) {
            let pushed = scan.await.expect("a scan failed");
            let answered = poll.await.expect("a poll failed");
            first = Some(first.map_or(pushed, |f| f.min(pushed)));
            last = Some(last.map_or(answered, |l| l.max(answered)));
            out.push(answered.saturating_duration_since(pushed));
        }
        let span = match (first, last) {
            (Some(f), Some(l)) => l.saturating_duration_since(f),
            _ => Duration::ZERO,
        };
        (out, span)
    })
    .await
    .unwrap_or_else(|_| panic!("the burst did not finish within {deadline:?}"))
}

/// A user agent of WeChat's in-app browser on a phone.
const WECHAT_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) \
    AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003129) \
    NetType/WIFI Language/zh_CN";

/// The value of the hidden `token` field of the confirm page's form.
fn form_token(page: &str) -> &str {
    let at = page
        .find("name=\"token\" value=\"")
        .expect("the confirm page's form token")
        + 20;
    let end = page[at..].find('"').expect("the token's closing quote");
    &page[at..at + end]
}

/// The first link of the Official Account's reply (the confirm page's).
fn reply_link(reply: &str) -> &str {
    let at = reply.find("<a href=\"").expect("a link in the reply") + 9;
    let end = reply[at..].find('"').expect("the link's closing quote");
    &reply[at..at + end]
}

/// The phones: WeChat's in-app browser, keep-alive, no redirects followed, cookies by hand.
pub fn phones(concurrency: u64) -> Client {
    Client::builder()
        .redirect(Policy::none())
        .user_agent(WECHAT_UA)
        .pool_max_idle_per_host(concurrency as usize * 2)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The phone's side of a confirmed scan, as WeChat's in-app browser does it: opens `link`
/// (off to web authorization, snsapi_base), WeChat answers as `user` with a code, the page
/// exchanges it and moves to its clean URL, the phone shows it and taps 确认登录. Cookies go by
/// hand, as for the browsers.
async fn phone_confirms(phone: &Client, link: &str, user: &str) {
    let res = phone.get(link).send().await.unwrap();
    assert_eq!(res.status(), 302, "the confirm link asks who opened it");
    let state = cookie(&res, "wechat_cstate_").expect("the confirm page's state cookie");
    let authorize = location(&res);
    res.bytes().await.unwrap();
    let res = phone
        .get(MockWechat::approve_url(&authorize, user))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302, "WeChat answers with a code");
    let back = location(&res);
    res.bytes().await.unwrap();
    let res = phone
        .get(&back)
        .header("cookie", &state)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "the code exchanged, on to the clean URL");
    let who = cookie(&res, "wechat_cuser_").expect("the confirm page's user cookie");
    let page_url = location(&res);
    res.bytes().await.unwrap();
    let res = phone
        .get(&page_url)
        .header("cookie", &who)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the confirm page");
    let page = res.text().await.unwrap();
    let res = phone
        .post(&page_url)
        .header("cookie", &who)
        .form(&[("token", form_token(&page)), ("decision", "confirm")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "confirmed on the phone");
    res.bytes().await.unwrap();
}

/// One scan login with confirmation on the phone (the default with an Official Account):
/// start, long-poll (answered `scanned` by the push), poll again, the phone opens the reply's
/// link and confirms, the poll answers with the session. Returns the whole flow's time.
pub async fn confirmed_scan_login(
    http: Client,
    phone: Client,
    app: Arc<str>,
    mock: Arc<MockWechat>,
    user: String,
) -> Duration {
    let t0 = Instant::now();
    let started = start_scan(http.clone(), app.clone()).await;
    let scanned = poll_for(http.clone(), &app, &started, "pending", "scanned");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let reply = scan_on_phone(&mock, &started.qr_url, &user)
        .await
        .reply
        .expect("the Official Account replies to the scan");
    scanned.await.unwrap();
    let confirmed = poll_for(http.clone(), &app, &started, "scanned", "confirmed");
    phone_confirms(&phone, reply_link(&reply), &user).await;
    confirmed.await.unwrap();
    t0.elapsed()
}

/// Starts an app (the real layer in a real axum server on loopback, on the app's runtime)
/// against `mock`, on `store` (`None`: the default `MemoryStore`); returns its URL.
pub async fn start_app(mock: &MockWechat, store: Option<Arc<dyn Store>>) -> Arc<str> {
    start_app_with(mock, store, false).await
}

/// [`start_app`], with confirmation of scans on the phone on or off.
pub async fn start_app_with(
    mock: &MockWechat,
    store: Option<Arc<dyn Store>>,
    scan_confirm: bool,
) -> Arc<str> {
    let bases = (mock.api_base(), mock.open_base(), mock.mp_base());
    let apps = (
        mock.website().clone(),
        mock.official_account().clone(),
        mock.mobile().clone(),
        mock.mini_program().clone(),
    );
    app_rt()
        .spawn(async move { serve_app(bases, apps, store, scan_confirm).await })
        .await
        .expect("the app starts")
}

async fn serve_app(
    (api, open, mp): (String, String, String),
    (website, oa, mobile, mini): (
        wechat_auth::mock::MockApp,
        wechat_auth::mock::MockApp,
        wechat_auth::mock::MockApp,
        wechat_auth::mock::MockApp,
    ),
    store: Option<Arc<dyn Store>>,
    scan_confirm: bool,
) -> Arc<str> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app: Arc<str> = format!("http://{}", listener.local_addr().unwrap()).into();
    let mut cfg = WechatConfig::builder()
        .with_public_url(app.to_string())
        .with_session_secret(SECRET)
        .with_wechat_bases(api, open, mp)
        .with_website_app(&website.appid, &website.secret)
        .with_official_account(&oa.appid, &oa.secret)
        // The native logins (section 2c counts what they cost the store).
        .with_mobile_app(&mobile.appid, &mobile.secret)
        .with_mini_program(&mini.appid, &mini.secret)
        .with_oa_push(
            oa.token.clone().unwrap_or_default(),
            oa.encoding_aes_key.as_deref(),
        )
        // Most passes measure push → browser, with no one confirming on a phone; the
        // confirmation pass turns it on. The bursts come from one loopback client.
        .with_scan_confirm(scan_confirm)
        .with_scan_start_limits(ScanStartLimits::new(1_000_000, 1_000_000, 1_000_000))
        .with_public_path("/");
    if let Some(store) = store {
        cfg = cfg.with_store(store);
    }
    let router = Router::new()
        .route("/", get(|| async { "landing" }))
        .route(
            "/profile",
            get(|user: WechatUser| async move { format!("hello {}", user.openid) }),
        )
        .layer(WechatAuthLayer::new(cfg.build().unwrap()));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    app
}

/// Runs the section and adds its verdicts.
pub fn run(s: &Settings, verdicts: &mut Vec<Verdict>) {
    println!("\n== 2. Login flows against the mock WeChat (loopback)\n");
    let rt = util::runtime();
    let memory = rt.block_on(run_async(s, verdicts));
    if s.redis {
        println!(
            "\n== 2b. The same on RedisStore: two app instances, the push landing on the second\n"
        );
        rt.block_on(crate::redis::run(s, memory, verdicts));
    }
}

/// Website logins of users `0..n` on `app`, `concurrency` at once: (logins/s, callback
/// latencies, upstream calls).
pub async fn website_pass(
    http: &Client,
    app: &Arc<str>,
    mock: &MockWechat,
    n: u64,
    s: &Settings,
) -> (f64, Vec<Duration>, BTreeMap<String, u64>) {
    let before = mock.all_calls();
    let (times, wall) = pool(n, s.concurrency, s.deadline, {
        let (http, app) = (http.clone(), app.clone());
        move |i| website_login(http.clone(), app.clone(), user_name(i))
    })
    .await;
    let calls = diff(&before, &mock.all_calls());
    let callbacks = times.iter().map(|t| t.0).collect();
    (n as f64 / wall.as_secs_f64(), callbacks, calls)
}

/// Scan logins started and awaited on `app`, `concurrency` at once (`1`: one at a time):
/// (logins/s, push → browser times).
pub async fn scan_pass(
    http: &Client,
    app: &Arc<str>,
    mock: &Arc<MockWechat>,
    n: u64,
    concurrency: u64,
    first_user: u64,
    s: &Settings,
) -> (f64, Vec<Duration>) {
    let settle = Duration::from_millis(if concurrency == 1 { 10 } else { 5 });
    let (times, wall) = pool(n, concurrency, s.deadline, {
        let (http, app, mock) = (http.clone(), app.clone(), mock.clone());
        move |i| {
            scan_login(
                http.clone(),
                app.clone(),
                mock.clone(),
                user_name(first_user + i),
                settle,
            )
        }
    })
    .await;
    (
        n as f64 / wall.as_secs_f64(),
        times.iter().map(|t| t.0).collect(),
    )
}

/// The memory-store rates the Redis section is compared with.
#[derive(Clone, Copy, Debug)]
pub struct MemoryRates {
    /// Website logins/s, first and repeat.
    pub website: [f64; 2],
    /// Scan logins/s, 32 at once, each person's first scan.
    pub scan: f64,
    /// CPU per login (µs: app + mock + browsers), website first and repeat, then scan.
    pub cpu: [f64; 3],
}

/// CPU per cycle since `before`, all three parts together (µs).
pub fn cpu_total(before: CpuSplit, cycles: u64) -> f64 {
    let (app, mock, clients) = CpuSplit::per_cycle_since(before, cycles);
    app + mock + clients
}

async fn run_async(s: &Settings, verdicts: &mut Vec<Verdict>) -> MemoryRates {
    let n = s.users;
    let mut mock_cfg = MockConfig::new();
    // Website logins use the first `n`; first-time scans the first `scans`, the burst the
    // `burst` after them (each person's first scan asks cgi-bin/user/info, a repeat does not).
    for i in 0..n.max(SCAN_USERS).max(s.scans + s.burst) {
        mock_cfg = mock_cfg.with_user(user_name(i), format!("用户{i}"));
    }
    let mock = start_mock(mock_cfg).await;
    let oa = mock.official_account().clone();
    let app = start_app(&mock, None).await;
    mock.set_push_url(&oa.appid, Some(&format!("{app}/auth/wechat/push")))
        .unwrap();
    let http = browsers(s.concurrency);
    println!(
        "mock {} with {} users; app {}; {} browsers at once; safe-mode (AES) push: {}",
        mock.url(),
        mock.users().len(),
        app,
        s.concurrency,
        oa.encoding_aes_key.is_some()
    );

    // Website logins: every user once (first sight), then every user again (profile cached).
    let mut rates = Vec::new();
    let mut cpus = Vec::new();
    for (pass, first) in [("first login of each user", true), ("repeat login", false)] {
        let before = mock.all_calls();
        let cpu = CpuSplit::now();
        let (times, wall) = pool(n, s.concurrency, s.deadline, {
            let (http, app) = (http.clone(), app.clone());
            move |i| website_login(http.clone(), app.clone(), user_name(i))
        })
        .await;
        let calls = diff(&before, &mock.all_calls());
        let exchange = calls.get("sns/oauth2/access_token").copied().unwrap_or(0);
        let userinfo = calls.get("sns/userinfo").copied().unwrap_or(0);
        let callbacks: Vec<Duration> = times.iter().map(|t| t.0).collect();
        let flows: Vec<Duration> = times.iter().map(|t| t.1).collect();
        let rate = n as f64 / wall.as_secs_f64();
        println!(
            "\nwebsite, {pass}: {n} logins in {:.2} s = {rate:.0} logins/s \
             (a login = GET login → mock approve → GET callback, all three timed)",
            wall.as_secs_f64()
        );
        println!(
            "  callback latency p50 {:.2} ms, p99 {:.2} ms; whole flow p50 {:.2} ms, p99 {:.2} ms",
            ms(percentile(&callbacks, 50.0)),
            ms(percentile(&callbacks, 99.0)),
            ms(percentile(&flows, 50.0)),
            ms(percentile(&flows, 99.0)),
        );
        println!("  {}", cpu_line(cpu, n));
        cpus.push(cpu_total(cpu, n));
        println!(
            "  upstream calls: {calls:?}\n  per login: {:.3} code exchange, {:.3} userinfo \
             (connect/qrconnect is the browser's visit to WeChat's page, not the app's call)",
            exchange as f64 / n as f64,
            userinfo as f64 / n as f64
        );
        let expected_userinfo = if first { n } else { 0 };
        assert_eq!(exchange, n, "exactly one code exchange per login");
        assert_eq!(
            userinfo, expected_userinfo,
            "userinfo: once per first login, never for a cached user"
        );
        let app_calls: u64 = calls
            .iter()
            .filter(|(k, _)| *k != "connect/qrconnect")
            .map(|(_, v)| v)
            .sum();
        assert_eq!(
            app_calls,
            exchange + userinfo,
            "no other upstream call: {calls:?}"
        );
        rates.push(rate);
        verdicts.push(Verdict::new(
            &format!(
                "upstream calls, website {}",
                if first { "first" } else { "repeat" }
            ),
            if first { "1 + 1 exact" } else { "1 + 0 exact" },
            format!(
                "{:.0} exchange + {:.0} userinfo",
                exchange as f64 / n as f64,
                userinfo as f64 / n as f64
            ),
            Some(true),
        ));
    }
    // A session from this run opens the protected page as that user.
    let (_, _, session) = website_login(http.clone(), app.clone(), user_name(0)).await;
    let res = http
        .get(format!("{app}/profile"))
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let openid = mock
        .user(&user_name(0))
        .unwrap()
        .openid_for(&mock.website().appid);
    assert_eq!(res.text().await.unwrap(), format!("hello {openid}"));
    verdicts.push(Verdict::new(
        "website logins/s (first, repeat)",
        "-",
        format!("{:.0}, {:.0}", rates[0], rates[1]),
        None,
    ));

    // Scan logins: throughput with many browsers, each timed from push to answer; every
    // person scanning for the first time.
    let before = mock.all_calls();
    let cpu = CpuSplit::now();
    let (times, wall) = pool(s.scans, s.concurrency, s.deadline, {
        let (http, app, mock) = (http.clone(), app.clone(), mock.clone());
        move |i| {
            scan_login(
                http.clone(),
                app.clone(),
                mock.clone(),
                user_name(i),
                Duration::from_millis(5),
            )
        }
    })
    .await;
    let cpu_scans = cpu_line(cpu, s.scans);
    cpus.push(cpu_total(cpu, s.scans));
    let calls = diff(&before, &mock.all_calls());
    let scan_rate = s.scans as f64 / wall.as_secs_f64();
    let loaded: Vec<Duration> = times.iter().map(|t| t.0).collect();
    let flows: Vec<Duration> = times.iter().map(|t| t.1).collect();
    println!(
        "\nscan, {} browsers at once: {} logins in {:.2} s = {scan_rate:.0} logins/s\n  \
         (a login = POST scan → long-poll GET scan/{{id}}?wait=20 → 5 ms later the phone scans:\n  \
         mock signs, encrypts and pushes; the app decrypts, asks cgi-bin/user/info (each\n  \
         person's first scan), confirms → the poll answers with the session)",
        s.concurrency,
        s.scans,
        wall.as_secs_f64()
    );
    println!(
        "  whole flow p50 {:.2} ms, p99 {:.2} ms",
        ms(percentile(&flows, 50.0)),
        ms(percentile(&flows, 99.0))
    );
    println!(
        "  push → browser answer under this load: p50 {:.2} ms, p99 {:.2} ms",
        ms(percentile(&loaded, 50.0)),
        ms(percentile(&loaded, 99.0))
    );
    println!("  {cpu_scans}");
    println!("  upstream calls: {calls:?}");
    let get = |k: &str| calls.get(k).copied().unwrap_or(0);
    assert_eq!(
        get("cgi-bin/qrcode/create"),
        s.scans,
        "one QR code per scan"
    );
    assert_eq!(
        get("cgi-bin/user/info"),
        s.scans,
        "one user lookup per person's first scan"
    );
    assert_eq!(get("push"), s.scans, "one push delivery per scan");
    let global = get("cgi-bin/token") + get("cgi-bin/stable_token");
    assert!(global <= 1, "the global token is shared: {global} fetches");

    // The same people scanning again: what cgi-bin/user/info said is kept (userinfo_ttl).
    let before = mock.all_calls();
    let cpu = CpuSplit::now();
    let (repeat_rate, repeat_loaded) =
        scan_pass(&http, &app, &mock, s.scans, s.concurrency, 0, s).await;
    let cpu_repeat = cpu_line(cpu, s.scans);
    let calls = diff(&before, &mock.all_calls());
    let get = |k: &str| calls.get(k).copied().unwrap_or(0);
    assert_eq!(
        get("cgi-bin/user/info"),
        0,
        "a repeat scan asks no user lookup"
    );
    assert_eq!(
        get("cgi-bin/qrcode/create"),
        s.scans,
        "one QR code per scan"
    );
    println!(
        "\nscan again, the same {} people, {} at once: {repeat_rate:.0} logins/s; push → browser\n  \
         p50 {:.2} ms, p99 {:.2} ms; upstream: 1 qrcode/create + 0 user/info per login\n  \
         {cpu_repeat}",
        s.scans,
        s.concurrency,
        ms(percentile(&repeat_loaded, 50.0)),
        ms(percentile(&repeat_loaded, 99.0)),
    );

    // Push → browser, one at a time (an idle server: the path's own latency).
    let cpu = CpuSplit::now();
    let (samples, wall) = pool(s.push_samples, 1, s.deadline, {
        let (http, app, mock) = (http.clone(), app.clone(), mock.clone());
        move |i| {
            scan_login(
                http.clone(),
                app.clone(),
                mock.clone(),
                user_name(i % SCAN_USERS),
                Duration::from_millis(10),
            )
        }
    })
    .await;
    let cpu_idle = cpu_line(cpu, s.push_samples);
    let idle: Vec<Duration> = samples.iter().map(|t| t.0).collect();
    println!(
        "\npush → browser, one scan at a time ({} samples; from just before mock.scan() signs\n  \
         and sends the push to when the waiting poll's answer has been read): \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        s.push_samples,
        ms(percentile(&idle, 50.0)),
        ms(percentile(&idle, 99.0)),
        ms(percentile(&idle, 100.0)),
    );
    println!(
        "  {cpu_idle}; {:.0} cycles/s (each with its 10 ms settle)",
        s.push_samples as f64 / wall.as_secs_f64()
    );
    verdicts.push(Verdict::new(
        "upstream calls, scan login",
        "exact",
        "1 qrcode + 1 user/info (first) / 0 (repeat) + 1 push".into(),
        Some(true),
    ));
    verdicts.push(Verdict::new(
        "scan logins/s (first, repeat)",
        "-",
        format!("{scan_rate:.0}, {repeat_rate:.0}"),
        None,
    ));
    let (p99_idle, p99_loaded) = (percentile(&idle, 99.0), percentile(&loaded, 99.0));
    verdicts.push(Verdict::new(
        "push → browser p99, one at a time",
        "≤ 50 ms",
        format!("{:.2} ms", ms(p99_idle)),
        Some(p99_idle <= Duration::from_millis(50)),
    ));
    verdicts.push(Verdict::new(
        &format!("push → browser p99, {} at once", s.concurrency),
        "≤ 50 ms",
        format!("{:.2} ms", ms(p99_loaded)),
        Some(p99_loaded <= Duration::from_millis(50)),
    ));

    // A campaign burst: many browsers waiting, every phone scanning at the same moment.
    if s.burst > 0 {
        let before = mock.all_calls();
        let cpu = CpuSplit::now();
        let (waits, span) = burst(
            http.clone(),
            app.clone(),
            mock.clone(),
            s.burst,
            s.scans,
            s.deadline,
        )
        .await;
        let cpu_burst = cpu_line(cpu, s.burst);
        let calls = diff(&before, &mock.all_calls());
        let get = |k: &str| calls.get(k).copied().unwrap_or(0);
        assert_eq!(
            get("cgi-bin/user/info"),
            s.burst,
            "one user lookup per person's first scan"
        );
        assert_eq!(get("push"), s.burst, "one push delivery per scan");
        let rate = s.burst as f64 / span.as_secs_f64();
        println!(
            "\npush → browser, burst: {} browsers waiting, then {} phones scan at the same moment\n  \
             (every push in flight at once): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms;\n  \
             first push to last answer {:.0} ms = {rate:.0} push → answer cycles/s: a burst is\n  \
             served at the machine's rate, so its last answers wait for the ones before them",
            s.burst,
            s.burst,
            ms(percentile(&waits, 50.0)),
            ms(percentile(&waits, 99.0)),
            ms(percentile(&waits, 100.0)),
            ms(span),
        );
        println!("  {cpu_burst} (start, wait, scan and answer of each)");
        verdicts.push(Verdict::new(
            &format!("push → browser p99, burst of {}", s.burst),
            "(context)",
            format!("{:.1} ms ({rate:.0}/s)", ms(percentile(&waits, 99.0))),
            None,
        ));
    }

    // Confirmation on the phone, the default with an Official Account: a second app with it
    // on takes the account's pushes for this pass. Each person scans it for the first time.
    let confirming = start_app_with(&mock, None, true).await;
    mock.set_push_url(&oa.appid, Some(&format!("{confirming}/auth/wechat/push")))
        .unwrap();
    let before = mock.all_calls();
    let cpu = CpuSplit::now();
    let (flows, wall) = pool(s.scans, s.concurrency, s.deadline, {
        let (http, phone) = (http.clone(), phones(s.concurrency));
        let (app, mock) = (confirming.clone(), mock.clone());
        move |i| {
            confirmed_scan_login(
                http.clone(),
                phone.clone(),
                app.clone(),
                mock.clone(),
                user_name(i),
            )
        }
    })
    .await;
    let cpu_confirm = cpu_line(cpu, s.scans);
    let calls = diff(&before, &mock.all_calls());
    mock.set_push_url(&oa.appid, Some(&format!("{app}/auth/wechat/push")))
        .unwrap();
    let get = |k: &str| calls.get(k).copied().unwrap_or(0);
    for (endpoint, what) in [
        ("cgi-bin/qrcode/create", "one QR code per scan"),
        ("push", "one push delivery per scan"),
        (
            "cgi-bin/user/info",
            "one user lookup per person's first scan",
        ),
        (
            "sns/oauth2/access_token",
            "one code exchange per confirm page",
        ),
    ] {
        assert_eq!(get(endpoint), s.scans, "{what}: {calls:?}");
    }
    let confirm_rate = s.scans as f64 / wall.as_secs_f64();
    println!(
        "\nscan with confirmation on the phone (the default with an Official Account), {} at once:\n  \
         {} logins in {:.2} s = {confirm_rate:.0} logins/s (a login = POST scan → poll answered\n  \
         `scanned` by the push → poll again; the phone opens the reply's link: web authorization\n  \
         (snsapi_base) → code exchanged → the page → POST confirm → the poll answers with the\n  \
         session); whole flow p50 {:.2} ms, p99 {:.2} ms\n  {cpu_confirm}\n  upstream calls: {calls:?}",
        s.concurrency,
        s.scans,
        wall.as_secs_f64(),
        ms(percentile(&flows, 50.0)),
        ms(percentile(&flows, 99.0)),
    );
    verdicts.push(Verdict::new(
        "scan logins/s, confirmed on the phone",
        "-",
        format!("{confirm_rate:.0}"),
        None,
    ));
    MemoryRates {
        website: [rates[0], rates[1]],
        scan: scan_rate,
        cpu: [cpus[0], cpus[1], cpus[2]],
    }
}
