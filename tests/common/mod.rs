//! Shared test harness: the mock WeChat, a real axum app behind `WechatAuthLayer` on a
//! loopback port, and cookie-keeping "browsers".
#![allow(dead_code, unreachable_pub)]

use std::{net::SocketAddr, time::Duration};

use axum::{Json, Router, routing::get};
use reqwest::{Client, redirect::Policy};
use wechat_auth::{
    WechatAuthLayer, WechatConfig, WechatConfigBuilder, WechatHandle, WechatUser, mock::MockWechat,
};

pub const SECRET: &str = "test-session-secret-0123456789abcdef";
pub const WECHAT_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003129) NetType/WIFI Language/zh_CN";
pub const DESKTOP_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36";

/// A running app.
pub struct App {
    pub url: String,
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl App {
    /// An app served by the caller's own task.
    pub fn from_parts(url: String, addr: SocketAddr, task: tokio::task::JoinHandle<()>) -> Self {
        Self { url, addr, task }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Which store the flow tests run on: `WECHAT_TEST_STORE=redis` (with `WECHAT_REDIS_URL`)
/// runs the same suite on Redis, each app with a key prefix of its own; the default is the
/// in-process store. CI runs the flow suites both ways.
pub fn with_test_store(builder: WechatConfigBuilder) -> WechatConfigBuilder {
    if std::env::var("WECHAT_TEST_STORE").as_deref() != Ok("redis") {
        return builder;
    }
    let url =
        std::env::var("WECHAT_REDIS_URL").expect("WECHAT_TEST_STORE=redis needs WECHAT_REDIS_URL");
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let prefix = format!(
        "flowtest-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut store = wechat_auth::store::RedisStore::connect_lazy(&url)
        .expect("WECHAT_REDIS_URL is usable")
        .with_prefix(prefix);
    // `rediss://` with a private CA (CI runs the suites on TLS Redis too).
    if let Some(ca) = std::env::var_os("WECHAT_REDIS_CA_FILE") {
        store = store
            .with_ca_file(ca)
            .expect("WECHAT_REDIS_CA_FILE is usable");
    }
    builder.with_store(std::sync::Arc::new(store))
}

/// The builder every test starts from: all four apps of the mock, public URL left to `start`.
pub fn config(mock: &MockWechat) -> WechatConfigBuilder {
    with_test_store(base_config(mock))
}

/// [`config`] without the test-store switch.
pub fn base_config(mock: &MockWechat) -> WechatConfigBuilder {
    let oa = mock.official_account();
    WechatConfig::builder()
        .with_session_secret(SECRET)
        .with_wechat_bases(mock.url(), mock.url(), mock.url())
        .with_website_app(mock.website().appid.clone(), mock.website().secret.clone())
        .with_official_account(oa.appid.clone(), oa.secret.clone())
        .with_oa_push(
            oa.token.clone().unwrap_or_default(),
            oa.encoding_aes_key.as_deref(),
        )
        .with_mobile_app(mock.mobile().appid.clone(), mock.mobile().secret.clone())
        .with_mini_program(
            mock.mini_program().appid.clone(),
            mock.mini_program().secret.clone(),
        )
        .with_public_path("/")
        .with_http_timeout(Duration::from_secs(2))
        // Scan login confirms on the scan here; tests/scan_confirm.rs turns the phone
        // confirmation (the default) back on.
        .with_scan_confirm(false)
}

/// The app's routes: `/` public, `/profile` protected, `/maybe` optional, `/api/data`
/// protected JSON, `/wechat-profile` reads the WeChat profile through the handle.
pub fn routes() -> Router {
    Router::new()
        .route("/", get(|| async { "landing" }))
        .route(
            "/profile",
            get(|user: WechatUser| async move { Json(user) }),
        )
        .route(
            "/maybe",
            get(|user: Option<WechatUser>| async move {
                user.map(|u| u.openid).unwrap_or_else(|| "guest".into())
            }),
        )
        .route(
            "/api/data",
            get(|user: WechatUser| async move { Json(serde_json::json!({ "openid": user.openid })) }),
        )
        .route(
            "/wechat-profile",
            get(|user: WechatUser, wechat: WechatHandle| async move {
                match wechat.profile(&user).await {
                    Ok(p) => Json(serde_json::json!({ "profile": p.map(|p| p.nickname) })),
                    Err(e) => Json(serde_json::json!({ "error": e.to_string() })),
                }
            }),
        )
}

/// Binds a port, finishes the config with that origin, and serves the app.
pub async fn start(builder: WechatConfigBuilder) -> App {
    start_with(builder, WechatAuthLayer::new).await
}

pub async fn start_with(
    builder: WechatConfigBuilder,
    layer: impl FnOnce(WechatConfig) -> WechatAuthLayer,
) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://{addr}");
    let cfg = builder.with_public_url(url.clone()).build().unwrap();
    let app = routes().layer(layer(cfg));
    // As in production: the peer address reaches the layer (its per-client limits).
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    App { url, addr, task }
}

/// A browser: keeps cookies, does not follow redirects (tests follow them by hand).
pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .user_agent(DESKTOP_UA)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A browser inside WeChat.
pub fn wechat_browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .user_agent(WECHAT_UA)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location on {}", res.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// Resolves a `Location` against the app.
pub fn absolute(app: &App, location: &str) -> String {
    if location.starts_with("http") {
        location.to_owned()
    } else {
        format!("{}{location}", app.url)
    }
}

/// Starts a login and returns WeChat's authorize/qrconnect URL (fragment removed).
pub async fn start_login(app: &App, b: &Client, query: &str) -> String {
    let res = b
        .get(format!("{}/auth/wechat/login{query}", app.url))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302, "login start");
    let loc = location(&res);
    loc.split('#').next().unwrap().to_owned()
}

/// Acts on the mock's page as `user` (`approve`, `deny`, `snapshot`) and returns the
/// callback URL WeChat sends the browser to.
pub async fn wechat_answers(b: &Client, wechat_url: &str, user: &str, action: &str) -> String {
    let res = b
        .get(format!(
            "{wechat_url}&mock_user={user}&mock_action={action}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        302,
        "mock {action}: {}",
        res.text().await.unwrap_or_default()
    );
    location(&res)
}

/// The whole login of `user` through `query` (e.g. `?return_to=/profile`); returns the
/// callback's response.
pub async fn login(app: &App, b: &Client, query: &str, user: &str) -> reqwest::Response {
    let wechat = start_login(app, b, query).await;
    let callback = wechat_answers(b, &wechat, user, "approve").await;
    b.get(callback).send().await.unwrap()
}

/// `GET url` as JSON.
pub async fn get_json(b: &Client, url: &str) -> (u16, serde_json::Value) {
    let res = b
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = res.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

/// The `Set-Cookie` header that sets `name`, if any.
pub fn set_cookie<'r>(res: &'r reqwest::Response, name: &str) -> Option<&'r str> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
}

/// The session token a response set.
pub fn session_token(res: &reqwest::Response) -> Option<String> {
    let c = set_cookie(res, "wechat_session")?;
    let value = c.split(';').next()?.split_once('=')?.1;
    (!value.is_empty()).then(|| value.to_owned())
}

/// Points the mock's push URL at the app.
pub fn wire(mock: &MockWechat, app: &App) {
    let push = format!("{}/auth/wechat/push", app.url);
    mock.set_push_url(&mock.official_account().appid, Some(&push))
        .unwrap();
}

/// The Official Account's push crypto, as the mock and the app share it.
pub fn oa_crypto(mock: &MockWechat) -> wechat_auth::push::PushCrypto {
    let oa = mock.official_account();
    wechat_auth::push::PushCrypto::new(
        oa.token.as_deref().unwrap(),
        oa.encoding_aes_key.as_deref(),
        &oa.appid,
    )
    .unwrap()
}

/// The status of `GET /api/data` with `token` as a Bearer.
pub async fn status_with_bearer(app: &App, token: &str) -> u16 {
    Client::new()
        .get(format!("{}/api/data", app.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}
