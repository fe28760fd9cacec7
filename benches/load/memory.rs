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
    /// Distinct logins in all.
    pub logins: u64,
    pub concurrency: u64,
    /// Print a line every this many logins; `None`: at 10k, 20k, 50k, 100k, then every
    /// 100k (and at the end).
    pub every: Option<u64>,
    pub deadline: Duration,
    /// The store's bound; `None` for the default (what the demo uses).
    pub max_bytes: Option<u64>,
}

impl Settings {
    pub fn from_env() -> Self {
        let quick = util::quick();
        Self {
            logins: util::env_u64("MEMORY_LOGINS", if quick { 200_000 } else { 1_000_000 }),
            concurrency: util::env_u64("MEMORY_CONC", 32),
            every: std::env::var("MEMORY_EVERY")
                .ok()
                .and_then(|v| v.parse().ok()),
            deadline: Duration::from_secs(util::env_u64("MEMORY_DEADLINE_SECS", 900)),
            max_bytes: std::env::var("MEMORY_MAX_BYTES")
                .ok()
                .and_then(|v| v.parse().ok()),
        }
    }

    /// The login counts after which a row is printed.
    fn stops(&self) -> Vec<u64> {
        let mut stops: Vec<u64> = match self.every {
            Some(every) => (1..=self.logins / every.max(1))
                .map(|k| k * every.max(1))
                .collect(),
            None => [10_000, 20_000, 50_000]
                .into_iter()
                .chain((1..=self.logins / 100_000).map(|k| k * 100_000))
                .collect(),
        };
        stops.retain(|&n| n > 0 && n < self.logins);
        stops.push(self.logins);
        stops.dedup();
        stops
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

/// One printed row: where the run was after `logins`.
#[derive(Clone, Copy)]
struct Row {
    logins: u64,
    rss_kib: f64,
    store_bytes: f64,
    app_cpu: Duration,
    /// This process's CPU per login in the same rows: the mock (constant work per login,
    /// its users indexed) and the clients, so a control for how busy the machine was.
    harness_cpu: Duration,
}

/// Runs the section and adds its verdicts.
pub fn run(s: &Settings, verdicts: &mut Vec<Verdict>) {
    println!(
        "\n== 3. Memory: the demo's app over {} distinct logins\n",
        s.logins
    );
    let total = s.logins;
    let rt = util::runtime();
    rt.block_on(async {
        let t = Instant::now();
        let mut cfg = MockConfig::new();
        for i in 0..total {
            cfg = cfg.with_user(user_name(i), format!("用户{i}"));
        }
        let mock = Arc::new(MockWechat::start_with(cfg).await.unwrap());
        println!(
            "mock with {} users ready in {:.1} s (users indexed by name and openid: a call \
             costs the same at any size)",
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
        let base_kib = start["rss_kib"].as_f64().unwrap_or(0.0);
        println!(
            "app pid {pid} at {app}; store bound {:.0} MiB; RSS at start (baseline) {:.1} MiB",
            bound as f64 / 1024.0 / 1024.0,
            base_kib / 1024.0
        );
        println!(
            "\n{:>9}{:>11}{:>12}{:>11}{:>10}{:>10}{:>10}{:>11}{:>15}{:>14}{:>8}",
            "logins",
            "RSS MiB",
            "RSS KiB/1k",
            "store MiB",
            "entries",
            "B/entry",
            "accounts",
            "logins/s",
            "app CPU/login",
            "mock+clients",
            "app/mc"
        );
        let mut done = 0;
        let mut last_rss = base_kib;
        let mut peak_store = 0.0f64;
        let deadline = Instant::now() + s.deadline;
        let mut rows: Vec<Row> = Vec::new();
        let mut at_bound: Option<Row> = None;
        for end in s.stops() {
            let chunk = end - done;
            let t = Instant::now();
            let cpu = util::pid_cpu(Some(pid));
            let own_cpu = util::process_cpu();
            let next = Arc::new(std::sync::atomic::AtomicU64::new(done));
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
            let harness_cpu = util::process_cpu()
                .saturating_sub(own_cpu)
                .div_f64(chunk as f64);
            done = end;
            let st = stats(&http, &app).await;
            let rss = st["rss_kib"].as_f64().unwrap_or(0.0);
            let store_bytes = st["store_bytes"].as_f64().unwrap_or(0.0);
            let entries = st["store_entries"].as_u64().unwrap_or(0);
            peak_store = peak_store.max(store_bytes);
            println!(
                "{:>9}{:>11.1}{:>12.1}{:>11.1}{:>10}{:>10.0}{:>10}{:>11.0}{:>12.0} µs{:>11.0} µs{:>8.2}",
                done,
                rss / 1024.0,
                (rss - last_rss) / (chunk as f64 / 1000.0),
                mib(&st["store_bytes"]),
                entries,
                store_bytes / entries.max(1) as f64,
                st["accounts"].as_u64().unwrap_or(0),
                rate,
                util::us(app_cpu),
                util::us(harness_cpu),
                app_cpu.as_secs_f64() / harness_cpu.as_secs_f64().max(1e-9)
            );
            last_rss = rss;
            let row = Row {
                logins: done,
                rss_kib: rss,
                store_bytes,
                app_cpu,
                harness_cpu,
            };
            if at_bound.is_none() && store_bytes >= 0.97 * bound as f64 {
                at_bound = Some(row);
                println!("{:>9}  ^ the store has reached its bound", "");
            }
            rows.push(row);
        }
        let end = stats(&http, &app).await;
        let calls = mock.all_calls();
        let exchange = calls.get("sns/oauth2/access_token").copied().unwrap_or(0);
        let userinfo = calls.get("sns/userinfo").copied().unwrap_or(0);
        assert_eq!(exchange, total, "one code exchange per login");
        assert_eq!(userinfo, total, "one userinfo per first login");
        assert_eq!(end["accounts"].as_u64(), Some(total), "distinct people");
        let kib = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0);
        let first = &rows[0];
        let last = rows.last().unwrap();
        let half = rows
            .iter()
            .find(|r| r.logins >= total / 2)
            .unwrap_or(first);
        let growth = (last.rss_kib - half.rss_kib) / ((last.logins - half.logins).max(1) as f64 / 1000.0);
        println!(
            "\nafter {total}: RSS {:.1} MiB (peak {:.1} MiB), {growth:.0} KiB per 1000 logins since \
             {}; store {:.1} MiB in {} entries (highest seen {:.1} MiB); upstream {exchange} \
             exchanges, {userinfo} userinfo (asserted: one each per login)",
            kib(&end, "rss_kib") / 1024.0,
            kib(&end, "hwm_kib") / 1024.0,
            half.logins,
            mib(&end["store_bytes"]),
            end["store_entries"].as_u64().unwrap_or(0),
            peak_store / 1024.0 / 1024.0,
        );
        println!(
            "other bounded caches (private, not measurable from outside): used codes (in-process\n  \
             single flight) ≤ 1,000 entries for 60 s (the store keeps them 10 min); verified\n  \
             session tokens ≤ 8 × 4,096. Unbounded by design: the demo's accounts map (one entry\n  \
             per person), which is part of the RSS growth."
        );
        let cpu_ratio = last.app_cpu.as_secs_f64() / first.app_cpu.as_secs_f64().max(1e-9);
        verdicts.push(Verdict::new(
            &format!("app CPU/login at {} vs {}", last.logins, first.logins),
            "≤ 1.25×",
            format!(
                "{:.0} / {:.0} µs = {cpu_ratio:.2}×",
                util::us(last.app_cpu),
                util::us(first.app_cpu)
            ),
            Some(cpu_ratio <= 1.25),
        ));
        // The same ratio with each row's app CPU divided by the harness's own CPU per login
        // in that row: the harness does the same work per login at any size, so this takes
        // out how busy the (shared) machine happened to be during each row.
        let norm = |r: &Row| r.app_cpu.as_secs_f64() / r.harness_cpu.as_secs_f64().max(1e-9);
        let norm_ratio = norm(last) / norm(first);
        verdicts.push(Verdict::new(
            "  the same, each row ÷ mock+clients CPU",
            "(control)",
            format!("{:.2} / {:.2} = {norm_ratio:.2}×", norm(last), norm(first)),
            None,
        ));
        match at_bound {
            Some(r) => {
                let over = (r.rss_kib - base_kib) * 1024.0 / bound as f64;
                println!(
                    "RSS at the bound (after {} logins, store {:.1} MiB): {:.1} MiB = baseline \
                     {:.1} MiB + {over:.2} × the bound",
                    r.logins,
                    r.store_bytes / 1024.0 / 1024.0,
                    r.rss_kib / 1024.0,
                    base_kib / 1024.0
                );
                verdicts.push(Verdict::new(
                    "RSS at the store's bound",
                    "≤ base + 1.3×",
                    format!(
                        "{:.1} MiB = {:.1} + {over:.2} × {:.0} MiB",
                        r.rss_kib / 1024.0,
                        base_kib / 1024.0,
                        bound as f64 / 1024.0 / 1024.0
                    ),
                    Some(over <= 1.3),
                ));
            }
            None => println!("the store never reached its bound in this run"),
        }
        verdicts.push(Verdict::new(
            &format!("RSS after {} logins", last.logins),
            "-",
            format!("{:.1} MiB", last.rss_kib / 1024.0),
            None,
        ));
        verdicts.push(Verdict::new(
            &format!("RSS growth past {} logins", half.logins),
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
