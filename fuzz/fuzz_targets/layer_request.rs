//! A whole request through the layer (no sockets, WeChat unreachable): the first line is the
//! method and target (query strings, `return_to`, `state`, scan ids), the second the Cookie
//! header (session JWTs, state tickets), the third the Authorization header, the rest the
//! body (SDK bodies, pushes). Nothing may panic or answer 500.
#![no_main]

use std::sync::OnceLock;

use axum::{Router, body::Body, routing::get};
use http::Request;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt as _;
use wechat_auth::{WechatAuthLayer, WechatConfig, WechatUser};

fn app() -> &'static Router {
    static APP: OnceLock<Router> = OnceLock::new();
    APP.get_or_init(|| {
        let dead = "http://127.0.0.1:9";
        let cfg = WechatConfig::builder()
            .with_public_url("http://localhost:3000")
            .with_session_secret("fuzz-session-secret-0123456789abcdef")
            .with_wechat_bases(dead, dead, dead)
            .with_website_app("wx_site_0000000001", "s")
            .with_official_account("wx_oa_000000000001", "s")
            .with_oa_push(
                "pushtoken",
                Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
            )
            .with_mobile_app("wx_mobile_00000001", "s")
            .with_mini_program("wx_mini_0000000001", "s")
            .with_public_path("/")
            .with_http_timeout(std::time::Duration::from_secs(1))
            .build()
            .unwrap();
        Router::new()
            .route("/", get(|| async { "ok" }))
            .route("/me", get(|u: WechatUser| async move { u.openid }))
            .layer(WechatAuthLayer::new(cfg))
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.splitn(4, |b| *b == b'\n');
    let first = lines.next().unwrap_or_default();
    let cookie = lines.next().unwrap_or_default();
    let auth = lines.next().unwrap_or_default();
    let body = lines.next().unwrap_or_default().to_vec();
    let first = String::from_utf8_lossy(first);
    let (method, target) = first.split_once(' ').unwrap_or(("GET", &first));
    let target = if target.starts_with('/') {
        target.to_owned()
    } else {
        format!("/auth/wechat/{target}")
    };
    let Ok(mut req) = Request::builder()
        .method(method)
        .uri(target)
        .header("content-type", "application/json")
        .body(Body::from(body))
    else {
        return;
    };
    if let Ok(v) = http::HeaderValue::from_bytes(cookie) {
        req.headers_mut().insert(http::header::COOKIE, v);
    }
    if let Ok(v) = http::HeaderValue::from_bytes(auth) {
        req.headers_mut().insert(http::header::AUTHORIZATION, v);
    }
    let res = runtime().block_on(app().clone().oneshot(req)).unwrap();
    assert_ne!(res.status(), 500, "a request answered 500");
});
