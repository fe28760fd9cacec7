//! What the guard costs per request, next to the same handler without it.
//!
//! `cargo bench --bench guard`. Every case drives one request through an axum `Router` in
//! process (no sockets), so the numbers are the layer's own work plus the router's. Each
//! router is prepared as `axum::serve` runs it: `with_state(())`, which turns handlers and
//! layers into ready routes once (per connection, in a server) rather than on every
//! `oneshot`:
//!
//! - `bare_handler`: the router alone, no layer (the baseline); `bare_handler_cookie`: the
//!   same with the session cookie the valid cases send (the baseline to subtract from them);
//! - `valid_cookie` / `valid_bearer`: a signed-in request (the verified-token cache is warm,
//!   as it is for every request after a user's first), the handler taking `WechatUser`;
//! - `valid_cookie_shared`: the same, the handler taking `SharedUser` (no copy of the user);
//! - `valid_cookie_first_sight`: a token the process has not seen yet (HMAC + JSON);
//! - `missing_session`: the `401` answer; `invalid_signature`: a forged token, refused.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::{Router, body::Body, routing::get};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::Request;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tower::ServiceExt;
use wechat_auth::{SharedUser, WechatAuthLayer, WechatConfig, WechatUser};

const KEY: &str = "bench-session-secret-0123456789abcdef";

fn token(jti: u64) -> String {
    token_of_class(jti, "w")
}

/// A native (bearer) session: the guard takes web tokens only from the cookie.
fn token_of_class(jti: u64, class: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": "wechat-auth", "aud": "wechat-auth/session", "sub": "unionid:oUNION",
        "oid": "oOPENID000000000000000000001", "uid": "oUNIONID00000000000000000001",
        "aid": "wx1000000000000001", "ch": "website", "nn": "爱丽丝",
        "jti": format!("jti{jti}"), "iat": now, "exp": now + 3600, "tc": class,
    });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(KEY.as_bytes()),
    )
    .unwrap()
}

fn layer() -> WechatAuthLayer {
    let cfg = WechatConfig::builder()
        .with_public_url("https://example.com")
        .with_session_secret(KEY)
        .with_website_app("wx1000000000000001", "secret")
        .build()
        .unwrap();
    WechatAuthLayer::new(cfg)
}

fn guarded() -> Router {
    Router::new()
        .route("/", get(|user: WechatUser| async move { user.openid }))
        .layer(layer())
        .with_state(())
}

fn guarded_shared() -> Router {
    Router::new()
        .route(
            "/",
            get(|user: SharedUser| async move { user.openid.clone() }),
        )
        .layer(layer())
        .with_state(())
}

fn bare() -> Router {
    Router::new()
        .route("/", get(|| async { "oOPENID000000000000000000001" }))
        .with_state(())
}

fn get_with(header: Option<(&'static str, String)>) -> Request<Body> {
    let mut b = Request::get("/");
    if let Some((k, v)) = header {
        b = b.header(k, v);
    }
    b.body(Body::empty()).unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("guard");
    let valid = token(0);
    let native = token_of_class(2, "n");
    // A bearer token whose signature is wrong: a character in the middle of the signature
    // changes (the last one may carry only padding bits, which decode to the same bytes).
    let forged = {
        let t = token_of_class(1, "n");
        let at = t.len() - 20;
        let c = if t.as_bytes()[at] == b'A' { "B" } else { "A" };
        format!("{}{c}{}", &t[..at], &t[at + 1..])
    };

    let app = bare();
    g.bench_function("bare_handler", |b| {
        b.to_async(&rt).iter(|| app.clone().oneshot(get_with(None)))
    });
    g.bench_function("bare_handler_cookie", |b| {
        b.to_async(&rt).iter(|| {
            app.clone().oneshot(get_with(Some((
                "cookie",
                format!("__Host-wechat_session={valid}"),
            ))))
        })
    });
    let app = guarded();
    // On an https site the session cookie is `__Host-` prefixed: make sure the cookie cases
    // measure a signed-in request, not a silent 401.
    let probe = rt
        .block_on(app.clone().oneshot(get_with(Some((
            "cookie",
            format!("__Host-wechat_session={valid}"),
        )))))
        .unwrap();
    assert_eq!(
        probe.status(),
        200,
        "the guard must accept the bench's cookie"
    );
    for (token, expect) in [(&native, 200), (&forged, 401)] {
        let probe = rt
            .block_on(
                app.clone()
                    .oneshot(get_with(Some(("authorization", format!("Bearer {token}"))))),
            )
            .unwrap();
        assert_eq!(probe.status(), expect, "the bench's bearer cases");
    }
    g.bench_function("valid_cookie", |b| {
        b.to_async(&rt).iter(|| {
            app.clone().oneshot(get_with(Some((
                "cookie",
                format!("__Host-wechat_session={valid}"),
            ))))
        })
    });
    let shared = guarded_shared();
    g.bench_function("valid_cookie_shared", |b| {
        b.to_async(&rt).iter(|| {
            shared.clone().oneshot(get_with(Some((
                "cookie",
                format!("__Host-wechat_session={valid}"),
            ))))
        })
    });
    g.bench_function("valid_bearer", |b| {
        b.to_async(&rt).iter(|| {
            app.clone().oneshot(get_with(Some((
                "authorization",
                format!("Bearer {native}"),
            ))))
        })
    });
    let mut n = 10;
    g.bench_function("valid_cookie_first_sight", |b| {
        b.to_async(&rt).iter_batched(
            || {
                n += 1;
                get_with(Some((
                    "cookie",
                    format!("__Host-wechat_session={}", token(n)),
                )))
            },
            |req| app.clone().oneshot(req),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("missing_session", |b| {
        b.to_async(&rt).iter(|| app.clone().oneshot(get_with(None)))
    });
    g.bench_function("invalid_signature", |b| {
        b.to_async(&rt).iter(|| {
            app.clone().oneshot(get_with(Some((
                "authorization",
                format!("Bearer {forged}"),
            ))))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
