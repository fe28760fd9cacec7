//! Section 1: one trivial handler served three ways, driven in turn by `wrk`.
//!
//! - (a) bare: the handler alone;
//! - (b) behind `WechatAuthLayer`, with a valid session cookie;
//! - (c) behind axum-login 0.18 + tower-sessions 0.14 (`MemoryStore`), logged in — the Rust
//!   peer an axum user would otherwise pick.
//!
//! (a) and (b) get byte-identical requests (the same `Cookie` header: (a) ignores it), so their
//! difference is the layer's work and nothing else. Every handler answers `hello <user id>`
//! with the same id.

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
    response::IntoResponse,
    routing::{get, post},
};
use axum_login::{AuthManagerLayerBuilder, AuthSession, AuthUser, AuthnBackend, login_required};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tower::ServiceExt;
use tower_sessions::{MemoryStore, SessionManagerLayer};
use wechat_auth::{SharedUser, WechatAuthLayer, WechatConfig, WechatUser};

use crate::{
    util::{self, Verdict, median, range, us},
    wrk::{self, Load, Run},
};

const SECRET: &str = "load-session-secret-0123456789abcdef";
const USER_ID: &str = "oOPENID000000000000000000001";

/// How the section runs.
pub struct Settings {
    pub rounds: u64,
    pub load: Load,
    pub warmup: Duration,
    /// In-process estimate: batches per variant and requests per batch.
    pub batches: u64,
    pub batch: u64,
}

impl Settings {
    pub fn from_env() -> Self {
        Self {
            rounds: util::env_or_quick("LOAD_ROUNDS", 9, 3),
            load: Load {
                threads: util::env_u64("LOAD_WRK_THREADS", 1),
                connections: util::env_u64("LOAD_CONNS", 32),
                duration: Duration::from_secs(util::env_u64("LOAD_SECS", 3)),
            },
            warmup: Duration::from_secs(util::env_u64("LOAD_WARMUP_SECS", 1)),
            batches: util::env_or_quick("LOAD_INPROC_BATCHES", 15, 5),
            // The thread CPU clock of /proc advances in scheduler ticks (~4 ms here): batches
            // long enough that a tick is ≤ 0.02 µs a request.
            batch: util::env_or_quick("LOAD_INPROC_BATCH", 200_000, 50_000),
        }
    }
}

/// A session token as `SessionKeys::issue` signs it.
fn session_token() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": "wechat-auth", "aud": "wechat-auth/session", "sub": "unionid:oUNION",
        "oid": USER_ID, "uid": "oUNIONID00000000000000000001",
        "aid": "wx1000000000000001", "ch": "website", "nn": "爱丽丝",
        "jti": "loadjti0000000000000001", "iat": now, "exp": now + 3600,
    });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn bare() -> Router {
    Router::new().route("/", get(|| async { format!("hello {USER_ID}") }))
}

fn layer() -> WechatAuthLayer {
    let cfg = WechatConfig::builder()
        .with_public_url("http://127.0.0.1")
        .with_session_secret(SECRET)
        .with_website_app("wx1000000000000001", "website-app-secret")
        .build()
        .unwrap();
    WechatAuthLayer::new(cfg)
}

/// (b): the handler takes [`SharedUser`], the user the guard verified (no copy).
fn guarded() -> Router {
    Router::new()
        .route(
            "/",
            get(|user: SharedUser| async move { format!("hello {}", user.openid) }),
        )
        .layer(layer())
}

/// (b′), in process only: the same with the copying [`WechatUser`] extractor.
fn guarded_copy() -> Router {
    Router::new()
        .route(
            "/",
            get(|user: WechatUser| async move { format!("hello {}", user.openid) }),
        )
        .layer(layer())
}

/// The bare handler behind a layer that does nothing, applied like ours.
fn noop_layer() -> Router {
    bare().layer(tower::util::MapRequestLayer::new(|r: Request<Body>| r))
}

/// The peer's user: an id and a password hash, as axum-login's examples have it.
#[derive(Clone)]
struct PeerUser {
    id: String,
    pw_hash: Vec<u8>,
}

impl std::fmt::Debug for PeerUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerUser").field("id", &self.id).finish()
    }
}

impl AuthUser for PeerUser {
    type Id = String;

    fn id(&self) -> String {
        self.id.clone()
    }

    fn session_auth_hash(&self) -> &[u8] {
        &self.pw_hash
    }
}

/// A user store with one user, in memory.
#[derive(Clone)]
struct PeerBackend {
    users: Arc<HashMap<String, PeerUser>>,
}

impl AuthnBackend for PeerBackend {
    type User = PeerUser;
    type Credentials = String;
    type Error = Infallible;

    async fn authenticate(&self, id: String) -> Result<Option<PeerUser>, Infallible> {
        Ok(self.users.get(&id).cloned())
    }

    async fn get_user(&self, id: &String) -> Result<Option<PeerUser>, Infallible> {
        Ok(self.users.get(id).cloned())
    }
}

fn peer() -> Router {
    let user = PeerUser {
        id: USER_ID.to_owned(),
        pw_hash: b"$argon2id$v=19$m=19456,t=2,p=1$bm90IGEgcmVhbCBoYXNo".to_vec(),
    };
    let backend = PeerBackend {
        users: Arc::new(HashMap::from([(user.id.clone(), user)])),
    };
    let sessions = SessionManagerLayer::new(MemoryStore::default()).with_secure(false);
    let auth = AuthManagerLayerBuilder::new(backend, sessions).build();
    Router::new()
        .route(
            "/",
            get(|session: AuthSession<PeerBackend>| async move {
                match session.user {
                    Some(u) => format!("hello {}", u.id).into_response(),
                    None => StatusCode::UNAUTHORIZED.into_response(),
                }
            }),
        )
        .route_layer(login_required!(PeerBackend))
        .route(
            "/login",
            post(|mut session: AuthSession<PeerBackend>| async move {
                let user = session.authenticate(USER_ID.to_owned()).await.unwrap();
                session.login(&user.unwrap()).await.unwrap();
                "logged in"
            }),
        )
        .layer(auth)
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// One variant: its name, URL and the header `wrk` sends.
struct Variant {
    name: &'static str,
    url: String,
    header: String,
    runs: Vec<Run>,
}

/// Checks a variant answers 200 `hello USER_ID` with its header and `without` without it.
async fn check(http: &reqwest::Client, v: &Variant, without: u16) {
    let (name, value) = v.header.split_once(": ").unwrap();
    let res = http.get(&v.url).header(name, value).send().await.unwrap();
    assert_eq!(res.status(), 200, "{}", v.name);
    assert_eq!(res.text().await.unwrap(), format!("hello {USER_ID}"));
    let res = http.get(&v.url).send().await.unwrap();
    assert_eq!(
        res.status().as_u16(),
        without,
        "{} without a session",
        v.name
    );
}

/// Per-request CPU time of `app` in process (`oneshot`, no sockets, on this thread), one
/// batch, in seconds: the thread's own CPU time, so time spent waiting for the CPU while
/// other processes ran is not counted.
async fn batch(app: &Router, cookie: &str, n: u64) -> f64 {
    let start = util::thread_cpu_ns();
    for _ in 0..n {
        let req = Request::get("/")
            .header("cookie", cookie)
            .body(Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        debug_assert_eq!(res.status(), 200);
        std::hint::black_box(res);
    }
    (util::thread_cpu_ns() - start) as f64 * 1e-9 / n as f64
}

/// Runs the section and adds its verdicts.
pub fn run(s: &Settings, verdicts: &mut Vec<Verdict>) {
    println!("\n== 1. The guard under load: one handler, bare / WechatAuthLayer / axum-login\n");
    let Some(wrk) = wrk::find() else {
        println!("wrk not found: install it with `apt-get install wrk` (or set WRK=/path/to/wrk)");
        verdicts.push(Verdict::new(
            "guard section",
            "runs",
            "skipped: no wrk".into(),
            Some(false),
        ));
        return;
    };
    // LOAD_WORKERS overrides the servers' worker threads (default: one per CPU).
    let rt = match std::env::var("LOAD_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
    {
        Some(w) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(w)
            .enable_all()
            .build()
            .unwrap(),
        None => util::runtime(),
    };
    let token = session_token();
    let cookie_b = format!("wechat_session={token}");
    let mut variants = rt.block_on(async {
        let (a, b, c) = (
            serve(bare()).await,
            serve(guarded()).await,
            serve(peer()).await,
        );
        let http = reqwest::Client::new();
        let res = http.post(format!("http://{c}/login")).send().await.unwrap();
        assert_eq!(res.status(), 200, "axum-login login");
        let cookie_c = res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let variants = vec![
            Variant {
                name: "a  bare handler",
                url: format!("http://{a}/"),
                header: format!("Cookie: {cookie_b}"),
                runs: Vec::new(),
            },
            Variant {
                name: "b  WechatAuthLayer, SharedUser",
                url: format!("http://{b}/"),
                header: format!("Cookie: {cookie_b}"),
                runs: Vec::new(),
            },
            Variant {
                name: "c  axum-login + tower-sessions",
                url: format!("http://{c}/"),
                header: format!("Cookie: {cookie_c}"),
                runs: Vec::new(),
            },
        ];
        check(&http, &variants[0], 200).await;
        check(&http, &variants[1], 401).await;
        check(&http, &variants[2], 401).await;
        variants
    });
    println!(
        "wrk ({}) -t{} -c{} -d{}s --latency, keep-alive; servers: one process, tokio {} workers",
        wrk.display(),
        s.load.threads,
        s.load.connections,
        s.load.duration.as_secs(),
        rt.metrics().num_workers()
    );
    println!(
        "{} rounds, each a → b → c; warm-up {} s per variant first; every answer checked 2xx",
        s.rounds,
        s.warmup.as_secs()
    );
    // LOAD_ONLY=b (or a, c) serves all three but drives only that one: for profiling.
    if let Ok(only) = std::env::var("LOAD_ONLY") {
        variants.retain(|v| v.name.starts_with(only.as_str()));
        println!(
            "LOAD_ONLY={only}: driving {} variant(s) only, no ratios",
            variants.len()
        );
    }
    let warm = Load {
        duration: s.warmup,
        ..s.load
    };
    for v in &variants {
        wrk::run(&wrk, warm, &v.url, Some(&v.header));
    }
    println!(
        "\n{:<7}{:<38}{:>10}{:>10}{:>10}{:>14}{:>12}",
        "round", "variant", "req/s", "p50 ms", "p99 ms", "server CPU", "wrk CPU"
    );
    for round in 1..=s.rounds {
        for v in &mut variants {
            let r = wrk::run(&wrk, s.load, &v.url, Some(&v.header));
            println!(
                "{:<7}{:<38}{:>10.0}{:>10.3}{:>10.3}{:>11.2} µs{:>9.2} µs",
                round,
                v.name,
                r.rps,
                util::ms(r.p50),
                util::ms(r.p99),
                us(r.cpu_per_request()),
                us(r.client_cpu_per_request())
            );
            v.runs.push(r);
        }
    }

    if variants.len() < 3 {
        return;
    }
    let med =
        |v: &Variant, f: &dyn Fn(&Run) -> f64| median(&v.runs.iter().map(f).collect::<Vec<_>>());
    println!(
        "\nmedian over rounds (CPU: per request, server = this process, wrk = the client)\n\
         {:<45}{:>10}{:>10}{:>10}{:>14}{:>12}",
        "variant", "req/s", "p50 ms", "p99 ms", "server CPU", "wrk CPU"
    );
    for v in &variants {
        println!(
            "{:<45}{:>10.0}{:>10.3}{:>10.3}{:>11.2} µs{:>9.2} µs",
            v.name,
            med(v, &|r| r.rps),
            med(v, &|r| util::ms(r.p50)),
            med(v, &|r| util::ms(r.p99)),
            med(v, &|r| us(r.cpu_per_request())),
            med(v, &|r| us(r.client_cpu_per_request())),
        );
    }
    let per_round = |x: usize, y: usize, f: &dyn Fn(&Run, &Run) -> f64| -> Vec<f64> {
        variants[x]
            .runs
            .iter()
            .zip(&variants[y].runs)
            .map(|(p, q)| f(p, q))
            .collect()
    };
    let b_a = per_round(1, 0, &|b, a| b.rps / a.rps);
    let b_c = per_round(1, 2, &|b, c| b.rps / c.rps);
    let cpu = per_round(1, 0, &|b, a| {
        us(b.cpu_per_request()) - us(a.cpu_per_request())
    });
    let cpu_c = per_round(2, 0, &|c, a| {
        us(c.cpu_per_request()) - us(a.cpu_per_request())
    });
    let show = |v: &[f64]| {
        let (lo, hi) = range(v);
        format!("{:.3} (rounds {lo:.3}–{hi:.3})", median(v))
    };
    println!("\nratios of req/s, median of the per-round ratios (same round, back to back):");
    println!("  b/a = {}", show(&b_a));
    println!("  b/c = {}", show(&b_c));
    // The same ratios from CPU per request (server + wrk), per round: what the ratio is when
    // the machine's CPU is the limit, less sensitive to how the OS shared it out that second.
    let cpu_total = |r: &Run| us(r.cpu_per_request()) + us(r.client_cpu_per_request());
    let cpu_b_a = per_round(0, 1, &|a, b| cpu_total(a) / cpu_total(b));
    let cpu_b_c = per_round(2, 1, &|c, b| cpu_total(c) / cpu_total(b));
    println!(
        "  from CPU per request (server + wrk), per round, median:\n  \
         b/a ≈ {}, b/c ≈ {}",
        show(&cpu_b_a),
        show(&cpu_b_c)
    );

    println!("\nguard CPU per request (b − a):");
    println!(
        "  server CPU time (/proc/self/stat utime+stime of the server process; wrk is another\n  \
         process) ÷ requests, b − a per round, median: {} µs",
        show(&cpu)
    );
    println!("  the same for axum-login, c − a: {} µs", show(&cpu_c));
    let (ba, bc, guard_cpu) = (median(&b_a), median(&b_c), median(&cpu));
    verdicts.push(Verdict::new(
        "guard throughput b/a",
        "≥ 0.96",
        {
            let (lo, hi) = range(&b_a);
            format!("{ba:.3} (rounds {lo:.2}–{hi:.2})")
        },
        Some(ba >= 0.96),
    ));
    verdicts.push(Verdict::new(
        "guard vs axum-login b/c",
        "≥ 1.2",
        format!("{bc:.3}"),
        Some(bc >= 1.2),
    ));
    verdicts.push(Verdict::new(
        "guard CPU per request (server CPU, b − a)",
        "≤ 2 µs",
        format!("{guard_cpu:.2} µs"),
        Some(guard_cpu <= 2.0),
    ));
    drop(rt);
    in_process(s, &cookie_b, verdicts);
}

/// The in-process estimate alone (`cargo bench --bench load -- inproc`): no wrk needed.
pub fn run_in_process(s: &Settings, verdicts: &mut Vec<Verdict>) {
    println!("\n== 1b. The guard in process: one handler, bare / WechatAuthLayer, no sockets\n");
    in_process(s, &format!("wechat_session={}", session_token()), verdicts);
}

/// What the layer hands the handler in control (e): one small value, as every layer that
/// passes something to an extractor does (tower-sessions' `Session`, axum-login's
/// `AuthSession`, tower-http's `RequestId` …).
#[derive(Clone)]
struct Handed(#[allow(dead_code)] Arc<str>);

/// The bare handler behind a layer that only inserts one request extension.
fn extension_layer() -> Router {
    let value = Handed(Arc::from(USER_ID));
    bare().layer(tower::util::MapRequestLayer::new(
        move |mut r: Request<Body>| {
            r.extensions_mut().insert(value.clone());
            r
        },
    ))
}

/// The guard's CPU per request in process: the routers of section 1 and two controls, no
/// sockets, interleaved batches on one thread, each router prepared as `axum::serve` runs it
/// (`with_state(())`, which turns every handler and layer into a ready `Route` once per
/// connection; a bare `Router::oneshot` would redo that on every request). Prints and adds
/// its verdicts.
fn in_process(s: &Settings, cookie: &str, verdicts: &mut Vec<Verdict>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let served = |r: Router| r.with_state(());
    let apps = [
        served(bare()),
        served(guarded()),
        served(noop_layer()),
        served(extension_layer()),
        served(guarded_copy()),
    ];
    let times: Vec<Vec<f64>> = rt.block_on(async {
        for app in &apps {
            batch(app, cookie, s.batch / 10).await;
        }
        let mut times = vec![Vec::new(); apps.len()];
        for _ in 0..s.batches {
            for (app, t) in apps.iter().zip(&mut times) {
                t.push(batch(app, cookie, s.batch).await * 1e6);
            }
        }
        times
    });
    let over_a =
        |i: usize| -> Vec<f64> { times[i].iter().zip(&times[0]).map(|(x, a)| x - a).collect() };
    let (diffs, noop, ext, copy) = (over_a(1), over_a(2), over_a(3), over_a(4));
    let show = |v: &[f64]| {
        let (lo, hi) = range(v);
        format!("{:.3} (batches {lo:.3}–{hi:.3})", median(v))
    };
    println!(
        "\nguard CPU per request in process, no sockets (Router::oneshot, {} interleaved batches\n  \
         of {} requests, one thread, the thread's CPU time): a {:.3} µs, b {:.3} µs;\n  \
         b − a per batch pair, median: {} µs",
        s.batches,
        s.batch,
        median(&times[0]),
        median(&times[1]),
        show(&diffs)
    );
    println!(
        "  controls, minus a: (d) the handler behind a no-op Router::layer (what any axum layer\n  \
         costs): {} µs;\n  \
         (e) a layer that only hands the handler one request extension (the floor for any layer\n  \
         that passes something to an extractor): {} µs",
        show(&noop),
        show(&ext)
    );
    println!(
        "  b′ (the handler takes WechatUser, a copy of the user's strings, instead of\n  \
         SharedUser): b′ − a per batch, median: {} µs",
        show(&copy)
    );
    let inproc = median(&diffs);
    verdicts.push(Verdict::new(
        "guard CPU per request (in process, b − a)",
        "≤ 0.35 µs",
        format!("{inproc:.3} µs"),
        Some(inproc <= 0.35),
    ));
    verdicts.push(Verdict::new(
        "  of which the extension floor (e − a)",
        "-",
        format!("{:.3} µs", median(&ext)),
        None,
    ));
    verdicts.push(Verdict::new(
        "the same, handler takes WechatUser (b′ − a)",
        "-",
        format!("{:.3} µs", median(&copy)),
        None,
    ));
}
