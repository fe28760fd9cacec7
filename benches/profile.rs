//! What a cached WeChat profile costs to read on `RedisStore` (issue 29 item 2):
//! `WechatHandle::profile()` served by the instance's own copy, against the Redis read every
//! call made before it.
//!
//! `cargo bench --bench profile`. Needs `redis-server` on `PATH` (or `REDIS_SERVER`): the
//! bench starts its own on a free loopback port and stops it at the end; without it, it says
//! so and measures nothing.
//!
//! - `profile/handle_local_hit`: `GET /p` through `WechatAuthLayer` on `RedisStore` with a
//!   valid session cookie, the handler calling `WechatHandle::profile()`; the profile is
//!   this instance's copy (what every read after the first is now);
//! - `profile/redis_get`: the read the same call made before: `RedisStore::get` of the
//!   profile's key and its JSON decoded into a `Profile` (loopback Redis, one round trip);
//! - `profile/handle_redis_read`: `GET /p` on a store that hides the instance's copy (a
//!   wrapper that answers `is_local() = true` around the `RedisStore`, so the layer keeps
//!   no copy in front of it): every call reads Redis, as before;
//! - `profile/guard_only`: `GET /` on the same layer, the handler taking `WechatUser` and
//!   not reading the profile: the floor to subtract from the `handle_*` cases.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::{Router, body::Body, routing::get};
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tower::ServiceExt;
use wechat_auth::{
    WechatAuthLayer, WechatConfig, WechatHandle, WechatUser,
    store::{BoxFuture, LockOrValue, RedisStore, Revocation, Store, StoreResult, Subscription},
};

const KEY: &str = "bench-session-secret-0123456789abcdef";
const APPID: &str = "wx1000000000000001";
const OPENID: &str = "oOPENID000000000000000000001";

fn token() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": "wechat-auth", "aud": "wechat-auth/session", "sub": "unionid:oUNION",
        "oid": OPENID, "uid": "oUNIONID00000000000000000001",
        "aid": APPID, "ch": "website", "nn": "爱丽丝",
        "jti": "jti0", "iat": now, "exp": now + 3600, "tc": "w",
    });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(KEY.as_bytes()),
    )
    .unwrap()
}

/// `redis-server` on a free port, killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis() -> Option<(Server, String)> {
    let bin = std::env::var_os("REDIS_SERVER").map_or_else(
        || {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join("redis-server"))
                    .find(|p| p.is_file())
            })
        },
        |p| Some(p.into()),
    )?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .ok()?
        .port();
    let child = Command::new(bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some((Server(child), format!("redis://127.0.0.1:{port}")))
}

/// A store the layer takes for an in-process one, so that it keeps no copy in front of it.
#[derive(Debug)]
struct NoCopy(RedisStore);

impl Store for NoCopy {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        self.0.get(key)
    }
    fn set<'a>(&'a self, k: &'a str, v: Vec<u8>, t: Duration) -> BoxFuture<'a, StoreResult<()>> {
        self.0.set(k, v, t)
    }
    fn set_if_absent<'a>(
        &'a self,
        k: &'a str,
        v: Vec<u8>,
        t: Duration,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        self.0.set_if_absent(k, v, t)
    }
    fn take<'a>(&'a self, k: &'a str) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        self.0.take(k)
    }
    fn delete_if_eq<'a>(&'a self, k: &'a str, e: &'a [u8]) -> BoxFuture<'a, StoreResult<bool>> {
        self.0.delete_if_eq(k, e)
    }
    fn increment<'a>(&'a self, k: &'a str, t: Duration) -> BoxFuture<'a, StoreResult<u64>> {
        self.0.increment(k, t)
    }
    fn publish<'a>(&'a self, t: &'a str, m: Vec<u8>) -> BoxFuture<'a, StoreResult<()>> {
        self.0.publish(t, m)
    }
    fn subscribe<'a>(&'a self, t: &'a str) -> BoxFuture<'a, StoreResult<Subscription>> {
        self.0.subscribe(t)
    }
    fn revoke<'a>(&'a self, e: &'a Revocation) -> BoxFuture<'a, StoreResult<()>> {
        self.0.revoke(e)
    }
    fn revoked(&self) -> BoxFuture<'_, StoreResult<Vec<Revocation>>> {
        self.0.revoked()
    }
    fn lock_or_get<'a>(
        &'a self,
        k: &'a str,
        l: &'a str,
        o: Vec<u8>,
        t: Duration,
    ) -> BoxFuture<'a, StoreResult<LockOrValue>> {
        self.0.lock_or_get(k, l, o, t)
    }
    fn is_local(&self) -> bool {
        true
    }
}

fn app(store: Arc<dyn Store>) -> Router {
    let cfg = WechatConfig::builder()
        .with_public_url("https://example.com")
        .with_session_secret(KEY)
        .with_website_app(APPID, "secret")
        .with_store(store)
        .build()
        .unwrap();
    Router::new()
        .route(
            "/p",
            get(|user: WechatUser, wechat: WechatHandle| async move {
                match wechat.profile(&user).await {
                    Ok(Some(p)) => p.nickname,
                    other => panic!("no cached profile: {other:?}"),
                }
            }),
        )
        .route("/", get(|user: WechatUser| async move { user.openid }))
        .layer(WechatAuthLayer::new(cfg))
        .with_state(())
}

fn get_with(path: &str, cookie: &str) -> Request<Body> {
    Request::get(format!("https://example.com{path}"))
        .header("cookie", cookie)
        .body(Body::empty())
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let Some((_server, url)) = start_redis() else {
        println!(
            "redis-server not found: the profile bench needs it (apt-get install redis-server)"
        );
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let redis = rt.block_on(async {
        let started = Instant::now();
        loop {
            match RedisStore::connect(&url).await {
                Ok(s) => break s,
                Err(e) if started.elapsed() > Duration::from_secs(10) => panic!("{e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    // The profile as a login leaves it (the layer's key spelling: `wechat-auth:APPID:KIND:{ID}`).
    let key = format!("wechat-auth:{APPID}:profile:{{{OPENID}}}");
    let profile = serde_json::json!({"nickname": "爱丽丝", "avatar_url": "https://example.com/a.png", "unionid": "oUNIONID00000000000000000001"});
    rt.block_on(redis.set(
        &key,
        serde_json::to_vec(&profile).unwrap(),
        Duration::from_secs(3600),
    ))
    .unwrap();
    let cookie = format!("__Host-wechat_session={}", token());
    let mut g = c.benchmark_group("profile");

    let local = app(Arc::new(redis.clone()));
    let probe = rt
        .block_on(local.clone().oneshot(get_with("/p", &cookie)))
        .unwrap();
    assert_eq!(probe.status(), 200, "a signed-in request with a profile");
    g.bench_function("handle_local_hit", |b| {
        b.to_async(&rt)
            .iter(|| local.clone().oneshot(get_with("/p", &cookie)))
    });
    g.bench_function("guard_only", |b| {
        b.to_async(&rt)
            .iter(|| local.clone().oneshot(get_with("/", &cookie)))
    });
    g.bench_function("redis_get", |b| {
        b.to_async(&rt).iter(|| async {
            let bytes = redis.get(&key).await.unwrap().unwrap();
            serde_json::from_slice::<wechat_auth::Profile>(&bytes).unwrap()
        })
    });
    let remote = app(Arc::new(NoCopy(redis.clone())));
    g.bench_function("handle_redis_read", |b| {
        b.to_async(&rt)
            .iter(|| remote.clone().oneshot(get_with("/p", &cookie)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
