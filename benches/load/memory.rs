//! Section 3: the resident memory of the demo's app after 100,000 distinct logins.
//!
//! The app runs in a child process (this same binary, re-run with `WECHAT_AUTH_LOAD_CHILD`
//! set), configured the way `examples/demo.rs` is when `WECHAT_*` variables point it at a
//! WeChat: `WechatConfigBuilder::from_env()`, public path `/`, the demo's `on_login` hook (its
//! "accounts" map, one entry per person), and the default `MemoryStore` (64 MiB bound), which
//! it builds itself so that it can report the store's size. The mock WeChat and the clients
//! stay in this process, so the child's RSS is the app's alone. Logins go through the mobile
//! app endpoint (`POST /auth/wechat/app` with a code from `mock.sdk_code`), the fastest full
//! login: one code exchange and one userinfo call upstream, a signed session back.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Read},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Json, Router, routing::get};
use reqwest::Client;
use serde_json::Value;
use wechat_auth::{
    WechatAuthLayer, WechatConfigBuilder, WechatUser,
    mock::{MockConfig, MockWechat},
    store::MemoryStore,
};

use crate::{
    login::user_name,
    util::{self, Verdict},
};

const CHILD_ENV: &str = "WECHAT_AUTH_LOAD_CHILD";

/// How the section runs.
pub struct Settings {
    pub logins: u64,
    /// More logins after `logins`, to show whether memory keeps growing once every cache
    /// is full.
    pub beyond: u64,
    pub concurrency: u64,
    /// Print a line every this many logins.
    pub every: u64,
    pub deadline: Duration,
    /// The store's bound; `None` for the default (what the demo uses).
    pub max_bytes: Option<u64>,
}

impl Settings {
    pub fn from_env() -> Self {
        Self {
            logins: util::env_u64("MEMORY_LOGINS", 100_000),
            beyond: util::env_u64("MEMORY_BEYOND", 50_000),
            concurrency: util::env_u64("MEMORY_CONC", 32),
            every: util::env_u64("MEMORY_EVERY", 10_000),
            deadline: Duration::from_secs(util::env_u64("MEMORY_DEADLINE_SECS", 600)),
            max_bytes: std::env::var("MEMORY_MAX_BYTES")
                .ok()
                .and_then(|v| v.parse().ok()),
        }
    }
}

/// Whether this process is the child app.
pub fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// The child: the demo's app, plus `GET /__stats`; stops when its stdin closes.
pub fn child_main() {
    // The parent closes our stdin when it is done (or dies): then we stop.
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });
    util::runtime().block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let store = match std::env::var("MEMORY_MAX_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            Some(bytes) => MemoryStore::new().with_max_bytes(bytes),
            None => MemoryStore::new(),
        };
        // The demo's "database": one account per person, keyed on the unionid.
        let accounts: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
        let hook_accounts = accounts.clone();
        let cfg = WechatConfigBuilder::from_env()
            .unwrap()
            .with_public_url(url.clone())
            .with_session_secret("load-child-secret-0123456789abcdef0123456789")
            .with_store(Arc::new(store.clone()))
            .with_public_path("/")
            .with_public_path("/__stats")
            .with_on_login(move |user: WechatUser| {
                let accounts = hook_accounts.clone();
                async move {
                    let mut accounts = accounts.lock().unwrap();
                    let next = accounts.len() as u64 + 1;
                    let id = *accounts.entry(user.key()).or_insert(next);
                    Ok(Some(format!("account-{id}")))
                }
            })
            .build()
            .unwrap();
        let stats = move || {
            let (store, accounts) = (store.clone(), accounts.clone());
            async move {
                // moka settles its counters during later operations: give it some.
                for _ in 0..64 {
                    let _ = wechat_auth::store::Store::get(&store, "settle").await;
                }
                Json(serde_json::json!({
                    "rss_kib": util::status_kib(None, "VmRSS"),
                    "hwm_kib": util::status_kib(None, "VmHWM"),
                    "store_bytes": store.weighted_bytes(),
                    "store_entries": store.entry_count(),
                    "accounts": accounts.lock().unwrap().len(),
                }))
            }
        };
        let app = Router::new()
            .route("/", get(|| async { "landing" }))
            .route("/__stats", get(stats))
            .layer(WechatAuthLayer::new(cfg));
        println!("LISTENING {url}");
        axum::serve(listener, app).await.unwrap();
    });
}

/// The child process, killed when dropped.
struct ChildApp {
    child: Child,
    url: String,
}

impl Drop for ChildApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_child(mock: &MockWechat, max_bytes: Option<u64>) -> ChildApp {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env(CHILD_ENV, "app")
        .envs(mock.env_vars())
        .env_remove("MEMORY_MAX_BYTES")
        .env_remove("WECHAT_PUBLIC_URL")
        .env_remove("WECHAT_SESSION_SECRET")
        .env_remove("WECHAT_REDIS_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(b) = max_bytes {
        cmd.env("MEMORY_MAX_BYTES", b.to_string());
    }
    let mut child = cmd.spawn().expect("start the child app");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        for _ in lines {}
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the child app did not start within 20 s");
    let url = line
        .strip_prefix("LISTENING ")
        .unwrap_or_else(|| panic!("child said {line:?}"))
        .to_owned();
    ChildApp { child, url }
}

/// One mobile-app login of user `i`.
async fn app_login(http: Client, app: Arc<str>, mock: Arc<MockWechat>, i: u64) {
    let code = mock.sdk_code(&mock.mobile().appid, &user_name(i)).unwrap();
    let res = http
        .post(format!("{app}/auth/wechat/app"))
        .json(&serde_json::json!({ "code": code }))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "app login of {}: {body}", user_name(i));
    assert!(body["token"].as_str().is_some_and(|t| !t.is_empty()));
}

async fn stats(http: &Client, app: &str) -> Value {
    http.get(format!("{app}/__stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn mib(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0) / 1024.0 / 1024.0
}

/// Runs the section and adds its verdicts.
pub fn run(s: &Settings, verdicts: &mut Vec<Verdict>) {
    println!(
        "\n== 3. Memory: the demo's app after {} distinct logins\n",
        s.logins
    );
    let total = s.logins + s.beyond;
    let rt = util::runtime();
    rt.block_on(async {
        let t = Instant::now();
        let mut cfg = MockConfig::new();
        for i in 0..total {
            cfg = cfg.with_user(user_name(i), format!("用户{i}"));
        }
        let mock = Arc::new(MockWechat::start_with(cfg).await.unwrap());
        println!(
            "mock with {} users ready in {:.1} s",
            mock.users().len(),
            t.elapsed().as_secs_f64()
        );
        let child = spawn_child(&mock, s.max_bytes);
        let pid = child.child.id();
        let app: Arc<str> = child.url.clone().into();
        let http = Client::builder()
            .pool_max_idle_per_host(s.concurrency as usize * 2)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let bound = s.max_bytes.unwrap_or(64 * 1024 * 1024);
        let start = stats(&http, &app).await;
        println!(
            "app pid {pid} at {app}; store bound {:.0} MiB; RSS at start {:.1} MiB",
            bound as f64 / 1024.0 / 1024.0,
            start["rss_kib"].as_f64().unwrap_or(0.0) / 1024.0
        );
        println!(
            "\n{:>9}{:>11}{:>12}{:>14}{:>14}{:>10}{:>11}{:>15}",
            "logins",
            "RSS MiB",
            "RSS KiB/1k",
            "store MiB",
            "store entries",
            "accounts",
            "logins/s",
            "app CPU/login"
        );
        let mut done = 0;
        let mut last_rss = start["rss_kib"].as_f64().unwrap_or(0.0);
        let mut peak_store = 0.0f64;
        let deadline = Instant::now() + s.deadline;
        let mut at_target = Value::Null;
        while done < total {
            let next_stop = if done < s.logins { s.logins } else { total };
            let chunk = s.every.min(next_stop - done);
            let t = Instant::now();
            let cpu = util::pid_cpu(Some(pid));
            let next = Arc::new(std::sync::atomic::AtomicU64::new(done));
            let end = done + chunk;
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..s.concurrency {
                let (http, app, mock, next) = (http.clone(), app.clone(), mock.clone(), next.clone());
                set.spawn(async move {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= end {
                            return;
                        }
                        app_login(http.clone(), app.clone(), mock.clone(), i).await;
                    }
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::time::timeout(left, async {
                while let Some(r) = set.join_next().await {
                    r.expect("a login failed");
                }
            })
            .await
            .unwrap_or_else(|_| panic!("the memory run did not finish within {:?}", s.deadline));
            let rate = chunk as f64 / t.elapsed().as_secs_f64();
            let app_cpu = util::pid_cpu(Some(pid)).saturating_sub(cpu).div_f64(chunk as f64);
            done = end;
            let st = stats(&http, &app).await;
            let rss = st["rss_kib"].as_f64().unwrap_or(0.0);
            peak_store = peak_store.max(st["store_bytes"].as_f64().unwrap_or(0.0));
            println!(
                "{:>9}{:>11.1}{:>12.1}{:>14.1}{:>14}{:>10}{:>11.0}{:>12.0} µs",
                done,
                rss / 1024.0,
                (rss - last_rss) / (chunk as f64 / 1000.0),
                mib(&st["store_bytes"]),
                st["store_entries"].as_u64().unwrap_or(0),
                st["accounts"].as_u64().unwrap_or(0),
                rate,
                util::us(app_cpu)
            );
            last_rss = rss;
            if done == s.logins {
                at_target = st;
                println!("{:>9}  ^ the issue's {} logins; the rows below go on", "", s.logins);
            }
        }
        let end = stats(&http, &app).await;
        let calls = mock.all_calls();
        let exchange = calls.get("sns/oauth2/access_token").copied().unwrap_or(0);
        let userinfo = calls.get("sns/userinfo").copied().unwrap_or(0);
        assert_eq!(exchange, total, "one code exchange per login");
        assert_eq!(userinfo, total, "one userinfo per first login");
        assert_eq!(end["accounts"].as_u64(), Some(total), "distinct people");
        let kib = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0);
        let rss_mib = kib(&at_target, "rss_kib") / 1024.0;
        println!(
            "\nafter {} distinct logins: RSS {rss_mib:.1} MiB; store {:.1} MiB in {} entries \
             (bound {:.0} MiB)",
            s.logins,
            mib(&at_target["store_bytes"]),
            at_target["store_entries"].as_u64().unwrap_or(0),
            bound as f64 / 1024.0 / 1024.0,
        );
        let growth = if s.beyond > 0 {
            (kib(&end, "rss_kib") - kib(&at_target, "rss_kib")) / (s.beyond as f64 / 1000.0)
        } else {
            f64::NAN
        };
        println!(
            "after {total}: RSS {:.1} MiB (peak {:.1} MiB), {growth:.0} KiB per 1000 logins since \
             {}; store {:.1} MiB (highest seen {:.1} MiB); upstream {exchange} exchanges, \
             {userinfo} userinfo (asserted: one each per login)",
            kib(&end, "rss_kib") / 1024.0,
            kib(&end, "hwm_kib") / 1024.0,
            s.logins,
            mib(&end["store_bytes"]),
            peak_store / 1024.0 / 1024.0,
        );
        println!(
            "other bounded caches (private, not measurable from outside): used codes (in-process\n  \
             single flight) ≤ 10,000 entries for 60 s (the store keeps them 10 min); verified\n  \
             session tokens ≤ 8 × 4,096. Unbounded by design: the demo's accounts map (one entry\n  \
             per person)."
        );
        verdicts.push(Verdict::new(
            &format!("RSS after {} logins", s.logins),
            "-",
            format!("{rss_mib:.1} MiB"),
            None,
        ));
        verdicts.push(Verdict::new(
            &format!("RSS growth past {} logins", s.logins),
            "-",
            format!("{growth:.0} KiB per 1000 logins"),
            None,
        ));
        verdicts.push(Verdict::new(
            "store within its bound",
            &format!("≤ {:.0} MiB", bound as f64 / 1024.0 / 1024.0),
            format!("{:.1} MiB max", peak_store / 1024.0 / 1024.0),
            Some(peak_store <= bound as f64),
        ));
        drop(child);
    });
}
