//! The cryptographic and parsing steps of the login flows, one at a time.
//!
//! `cargo bench --bench crypto`. Each case names what it measures:
//!
//! - `jwt/encode_session`, `jwt/verify_session`: one HS256 session token signed / verified
//!   with `jsonwebtoken`, the claim shape and [`Validation`] of `src/session.rs` (issuer,
//!   audience, required `exp`/`iss`/`aud`, 5 s leeway). The crate's `SessionKeys` is private,
//!   so these call `jsonwebtoken` directly with the same inputs; the guard's own verification
//!   of a token it has not seen yet is `guard/valid_cookie_first_sight` in `benches/guard.rs`.
//! - `state/login_start`: `GET /auth/wechat/login` through the layer (`oneshot`, no sockets):
//!   a random `state`, the state ticket signed into its cookie, the `302` to WeChat.
//! - `state/callback_verify`: `GET /auth/wechat/callback?state=…` carrying that cookie and no
//!   `code` (the "declined" answer): the ticket's HMAC and claims are checked, nothing goes
//!   upstream. `state/round_trip` is both, the cookie taken from the first answer.
//! - `push/parse_event_xml`: `PushMessage::parse` of a plaintext `subscribe` event.
//! - `push/aes_decrypt`: `PushCrypto::decrypt` of that event sealed in safe mode (base64,
//!   AES-256-CBC, appid check).
//! - `push/open_post_safe_mode`: `PushCrypto::open_post`, what the push endpoint does with a
//!   safe-mode body: URL signature, `msg_signature`, outer XML, decrypt, inner XML.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::{Router, body::Body, routing::get};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{Request, Response, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use tower::ServiceExt;
use wechat_auth::{
    WechatAuthLayer, WechatConfig,
    mock::wire::{event_xml, safe_mode_xml},
    push::{PushCrypto, PushMessage, PushQuery},
};

const KEY: &str = "bench-session-secret-0123456789abcdef";
const AES_KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";
const OA: &str = "wx2000000000000002";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The claims `SessionKeys::issue` writes (same names, same optional fields present).
fn claims() -> serde_json::Value {
    let now = now();
    serde_json::json!({
        "iss": "wechat-auth", "aud": "wechat-auth/session", "sub": "unionid:oUNION",
        "oid": "oOPENID000000000000000000001", "uid": "oUNIONID00000000000000000001",
        "aid": "wx1000000000000001", "ch": "website", "nn": "爱丽丝",
        "jti": "abcdefghijklmnopqrstuv", "iat": now, "exp": now + 3600,
    })
}

/// The validation `SessionKeys::new` builds for sessions.
fn session_validation() -> Validation {
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = 5;
    v.set_issuer(&["wechat-auth"]);
    v.set_audience(&["wechat-auth/session"]);
    v.set_required_spec_claims(&["exp", "iss", "aud"]);
    v
}

fn jwt(c: &mut Criterion) {
    let mut g = c.benchmark_group("jwt");
    let enc = EncodingKey::from_secret(KEY.as_bytes());
    let dec = DecodingKey::from_secret(KEY.as_bytes());
    let claims = claims();
    let header = Header::new(Algorithm::HS256);
    g.bench_function("encode_session", |b| {
        b.iter(|| jsonwebtoken::encode(&header, &claims, &enc).unwrap())
    });
    let token = jsonwebtoken::encode(&header, &claims, &enc).unwrap();
    let validation = session_validation();
    g.bench_function("verify_session", |b| {
        b.iter(|| jsonwebtoken::decode::<serde_json::Value>(&token, &dec, &validation).unwrap())
    });
    g.finish();
}

fn app() -> Router {
    let cfg = WechatConfig::builder()
        .with_public_url("https://example.com")
        .with_session_secret(KEY)
        .with_website_app("wx1000000000000001", "secret")
        .build()
        .unwrap();
    Router::new()
        .route("/", get(|| async { "home" }))
        .layer(WechatAuthLayer::new(cfg))
}

fn login_request() -> Request<Body> {
    Request::get("/auth/wechat/login?return_to=/profile")
        .header("accept", "text/html")
        .body(Body::empty())
        .unwrap()
}

/// From a login start's answer: the `state` in WeChat's URL and the `name=value` of the
/// state cookie.
fn state_of(res: &Response<axum::body::Body>) -> (String, String) {
    assert_eq!(res.status(), StatusCode::FOUND);
    let location = res.headers()["location"].to_str().unwrap();
    let state = location
        .split(['?', '&', '#'])
        .find_map(|p| p.strip_prefix("state="))
        .unwrap()
        .to_owned();
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (state, cookie)
}

fn callback_request(state: &str, cookie: &str) -> Request<Body> {
    Request::get(format!("/auth/wechat/callback?state={state}"))
        .header("cookie", cookie)
        .body(Body::empty())
        .unwrap()
}

fn state(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = app();
    let mut g = c.benchmark_group("state");
    g.bench_function("login_start", |b| {
        b.to_async(&rt)
            .iter(|| app.clone().oneshot(login_request()))
    });
    let first = rt.block_on(app.clone().oneshot(login_request())).unwrap();
    let (st, cookie) = state_of(&first);
    // The "declined" answer is 200 only when the ticket verified: check once, then measure.
    let res = rt
        .block_on(app.clone().oneshot(callback_request(&st, &cookie)))
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the state ticket verifies");
    g.bench_function("callback_verify", |b| {
        b.to_async(&rt).iter_batched(
            || callback_request(&st, &cookie),
            |req| app.clone().oneshot(req),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("round_trip", |b| {
        b.to_async(&rt).iter(|| {
            let app = app.clone();
            async move {
                let res = app.clone().oneshot(login_request()).await.unwrap();
                let (st, cookie) = state_of(&res);
                app.oneshot(callback_request(&st, &cookie)).await.unwrap()
            }
        })
    });
    g.finish();
}

fn push(c: &mut Criterion) {
    let mut g = c.benchmark_group("push");
    let crypto = PushCrypto::new("mocktoken", Some(AES_KEY), OA).unwrap();
    let xml = event_xml(
        "gh_000000000002",
        "oOPENID000000000000000000001",
        1_700_000_000,
        "subscribe",
        "qrscene_abcdefghijklmnopqrstuvwxyz012345",
        "gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xLzAyX",
    );
    g.bench_function("parse_event_xml", |b| {
        b.iter(|| PushMessage::parse(&xml).unwrap())
    });
    let sealed = crypto.encrypt(&xml, [7; 16]).unwrap();
    g.bench_function("aes_decrypt", |b| {
        b.iter(|| crypto.decrypt(&sealed).unwrap())
    });
    let (ts, nonce) = ("1700000000", "123456789");
    let body = safe_mode_xml("gh_000000000002", &sealed);
    let query = PushQuery::parse(&format!(
        "signature={}&timestamp={ts}&nonce={nonce}&openid=oOPENID000000000000000000001\
         &encrypt_type=aes&msg_signature={}",
        crypto.signature(ts, nonce),
        crypto.msg_signature(ts, nonce, &sealed),
    ));
    assert!(
        crypto
            .open_post(&query, &body)
            .unwrap()
            .scan_scene()
            .is_some()
    );
    g.bench_function("open_post_safe_mode", |b| {
        b.iter(|| crypto.open_post(&query, &body).unwrap())
    });
    g.finish();
}

criterion_group!(benches, jwt, state, push);
criterion_main!(benches);
