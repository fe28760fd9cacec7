//! WeChat (微信) login for tower and axum.
//!
//! One [`WechatAuthLayer`] protects an app's routes: a visitor without a session is sent into
//! WeChat's login, the layer serves every login endpoint itself (under `/auth/wechat`), keeps
//! the session as a signed JWT, keeps WeChat's tokens and profile server-side, and hands
//! handlers a [`WechatUser`] (openid + unionid).
//!
//! 中文说明：完整的中文 README 见
//! [README.zh-CN.md](https://docs.rs/crate/wechat-auth/latest/source/README.zh-CN.md)（随包发布）。
//! The whole README in Chinese is `README.zh-CN.md`, shipped in the package.
//!
//! ```
//! use axum::{body::Body, http::{header, Request, StatusCode}, routing::get, Router};
//! use tower::ServiceExt as _; // `oneshot`
//! use wechat_auth::{WechatAuthLayer, WechatConfig, WechatUser};
//!
//! async fn home(user: WechatUser) -> String {
//!     format!("hi {}", user.openid)
//! }
//! async fn maybe(user: Option<WechatUser>) -> String {
//!     format!("{:?}", user.map(|u| u.openid))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cfg = WechatConfig::builder() // or WechatConfig::from_env()?
//!     .with_public_url("https://example.com")
//!     .with_session_secret("0123456789abcdef0123456789abcdef")
//!     .with_website_app("wx1000000000000001", "website-app-secret")
//!     .with_public_path("/maybe")
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/", get(home))
//!     .route("/maybe", get(maybe))
//!     .layer(WechatAuthLayer::new(cfg)); // .layer, not .route_layer: it owns /auth/wechat/*
//!
//! // A browser navigation without a session goes into the login, and comes back afterwards.
//! let visit = Request::get("/?tab=orders")
//!     .header(header::ACCEPT, "text/html")
//!     .body(Body::empty())?;
//! let res = app.clone().oneshot(visit).await?;
//! assert_eq!(res.status(), StatusCode::FOUND);
//! assert_eq!(res.headers()[header::LOCATION], "/auth/wechat/login?return_to=/%3Ftab%3Dorders");
//!
//! // An API call without a session gets `401` JSON saying where to log in.
//! let res = app.clone().oneshot(Request::get("/").body(Body::empty())?).await?;
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(res.headers()[header::WWW_AUTHENTICATE], "Bearer");
//! let body: serde_json::Value =
//!     serde_json::from_slice(&axum::body::to_bytes(res.into_body(), usize::MAX).await?)?;
//! assert_eq!(body["error"], "unauthenticated");
//! assert_eq!(body["login_url"], "/auth/wechat/login");
//!
//! // A public path reaches its handler without a session; `Option<WechatUser>` is `None`.
//! let res = app.oneshot(Request::get("/maybe").body(Body::empty())?).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//! assert_eq!(axum::body::to_bytes(res.into_body(), usize::MAX).await?, "None");
//! # Ok(()) }
//! ```
//!
//! # Channels
//!
//! | Channel | Started by | Status |
//! |---|---|---|
//! | Website QR login (`connect/qrconnect`) | a desktop browser | works |
//! | Official Account web authorization (`snsapi_base` / `snsapi_userinfo`) | a browser inside WeChat | works |
//! | Follow-the-Official-Account scan login (parametric QR + push) | a desktop browser | works |
//! | Mobile app (OpenSDK `code`) | the app, `POST /auth/wechat/app` | works |
//! | Mini program (`wx.login()` + `jscode2session`) | the mini program, `POST /auth/wechat/miniprogram` | works |
//!
//! # Endpoints (prefix configurable)
//!
//! | Method, path | Does |
//! |---|---|
//! | `GET /auth/wechat/login?return_to=/path&channel=website\|oa` | starts a login: binds a random `state` to this browser with a signed cookie, `302` to WeChat |
//! | `GET /auth/wechat/callback?code=…&state=…` | checks the state before any WeChat call, exchanges the code once, sets the session cookie, `302` to `return_to` |
//! | `GET /auth/wechat/me` | the current user as JSON, `401` without one |
//! | `POST /auth/wechat/logout?return_to=/` | revokes the session, clears the cookie, `303` |
//! | `GET /auth/wechat/scan` | the scan-login page: the Official Account's QR code, waiting for the scan |
//! | `POST /auth/wechat/scan` | a new scan for this browser: `{id, qr_url, image_url, expires_in}` |
//! | `GET /auth/wechat/scan/{id}?wait=S` | `pending`, `scanned`, `confirmed` (sets the session) or `expired`; long-polls |
//! | `GET, POST /auth/wechat/push` | the Official Account's push URL (signature checked, AES safe mode) |
//! | `POST /auth/wechat/app` | mobile app: `{code}` → `{token, token_type: "Bearer", expires_in, user}` |
//! | `POST /auth/wechat/miniprogram` | mini program: `{code}` → the same shape; `session_key` kept server-side |
//! | `POST /auth/wechat/refresh` | a valid bearer token → a fresh one |
//! | `GET /auth/wechat/login?display=popup\|embed` | the website login in a popup (its callback tells the opener and closes) or on a page hosting WeChat's embedded QR |
//! | `GET /auth/wechat/embed?return_to=/path` | JSON for an embedded QR (`iframe_url`, `state`, …); sets the state cookie like `login` |
//! | `GET /auth/wechat/embed.js` | the layer's own script: `WechatAuth.embed(element, {…})`, `WechatAuth.popup({returnTo})` |
//!
//! The three ways to present the website login (redirect, embedded, popup) are shown in
//! [`docs::website_login`].
//!
//! A protected path without a valid session answers a browser navigation with a `302` to the
//! login, and anything else (API calls, XHR) with `401` JSON and `WWW-Authenticate: Bearer`.
//!
//! # Security defaults
//!
//! - `state` is random and bound to the browser; a callback whose state this browser did not
//!   start is refused before WeChat is called, and a state serves one code only. `return_to`
//!   must be a local path or an allow-listed origin, checked after dot segments are
//!   resolved: no open redirects.
//! - Cookies are `HttpOnly`, `SameSite=Lax`, `Secure` on https, and named `__Host-…`
//!   (`__Secure-…` with a cookie domain) there, so a sibling subdomain or a plain-http page
//!   cannot plant one; a request carrying two session cookies has none. WeChat tokens, the AppSecret
//!   and `session_key` never reach a cookie, a response, a log line or a `Debug` print
//!   ([`Secret`]).
//! - Sessions are HS256 JWTs with a key ring (rotate without logging anyone out); `alg: none`,
//!   tampered, expired and unknown-key tokens are simply "no session"; logout revokes the
//!   token's id everywhere.
//! - Every call to WeChat has a timeout; only retryable failures are retried; every WeChat
//!   errcode maps to a typed [`WechatError`] with the likely cause.
//! - A request body of the layer's endpoints must arrive within 10 s
//!   ([`WechatConfigBuilder::with_body_timeout`]), else `408` and the connection is closed.
//!   The headers are the server's job: `axum::serve` has no header timeout, so serve with
//!   `hyper::server::conn::http1::Builder` and `.timer(hyper_util::rt::TokioTimer::new())
//!   .header_read_timeout(Duration::from_secs(10))` (as `examples/demo.rs` does), or put a
//!   proxy with one (nginx `client_header_timeout`) in front.
//!
//! # Cargo features
//!
//! | Feature | Enables |
//! |---|---|
//! | `mock` | [`mock::MockWechat`], a faithful WeChat on loopback for tests and demos |
//! | `redis` | [`store::RedisStore`]: several instances share logins, scans, the global token and the deny-list |
//!
//! # Modules
//!
//! - [`client`]: the typed WeChat HTTP API client and its errcode table: the crate
//!   `wechat-auth-client`, re-exported (it depends on nothing of the layer).
//! - [`store`]: where server-side state lives ([`store::MemoryStore`] by default).
//! - [`push`]: the Official Account push protocol (signatures, XML, AES safe mode).
//! - [`pages`]: the HTML pages the layer shows, replaceable through one [`pages::Pages`] hook.
//! - [`mock`]: the mock WeChat server (feature `mock`): the crate `wechat-auth-mock`, re-exported.
//!
//! Inside, a provider-neutral core (sessions, the guard, exactly-once code exchange, the
//! `on_login` hook, the route table, one failure model and its renderer, the store), the
//! providers' services (WeChat's code login, profiles, global access tokens, mini program
//! data) and the channels, each a module that mounts itself with its own state, settings
//! section, routes, failures, store keys and pages: one request goes layer → channel → core
//! or provider service → client → store. The core never names a provider or a channel, a
//! service's state is private, and a test fails on any module cycle. How a channel is added:
//! [`docs::adding_a_channel`].
//!
//! # Guides
//!
//! One guide per channel, the files under `docs/` in the repository, shown here as the
//! [`docs`] module: [website login](docs::website_login) (redirect, embedded QR, popup),
//! [Official Account](docs::official_account) (web authorization inside WeChat, scopes),
//! [scan login](docs::scan_login) (follow the Official Account, confirm on the phone),
//! [message-code login](docs::message_login) (any Official Account, even an unverified
//! subscription account: the user sends a code and answers `1`),
//! [push URL](docs::push) (the whole Official Account's messages and events),
//! [mobile app](docs::mobile_app) (bearer tokens, refresh),
//! [mini program](docs::miniprogram) (login, phone numbers, website login by mini program
//! code) and [relay](docs::relay) (one callback domain, many sites).
//!
//! For contributors, [adding a channel](docs::adding_a_channel): the shape of a channel
//! (state, settings section, routes, failures, keys, pages) and every file it touches.
#![cfg_attr(docsrs, feature(doc_cfg))]

/// Guides, one per channel: the files under `docs/` in the repository, in the crate docs.
/// Documentation only (built for `rustdoc` and its doctests, no code); their examples run as
/// doctests.
#[cfg(any(doc, doctest))]
pub mod docs {
    #[doc = include_str!("../docs/website-login.md")]
    pub mod website_login {}
    #[doc = include_str!("../docs/official-account.md")]
    pub mod official_account {}
    #[doc = include_str!("../docs/scan-login.md")]
    pub mod scan_login {}
    #[doc = include_str!("../docs/push.md")]
    pub mod push {}
    #[doc = include_str!("../docs/mobile-app.md")]
    pub mod mobile_app {}
    #[doc = include_str!("../docs/miniprogram.md")]
    pub mod miniprogram {}
    #[doc = include_str!("../docs/relay.md")]
    pub mod relay {}
    #[doc = include_str!("../docs/message-login.md")]
    pub mod message_login {}
    #[doc = include_str!("../docs/douyin-login.md")]
    pub mod douyin_login {}
    #[doc = include_str!("../docs/adding-a-channel.md")]
    pub mod adding_a_channel {}
    #[doc = include_str!("../docs/wecom-login.md")]
    pub mod wecom_login {}
}

#[doc(inline)]
pub use wechat_auth_client as client;
mod channels;
mod config;
mod core;
mod error;
mod extract;
mod handle;
mod layer;
pub mod metrics;
mod providers;
#[doc(inline)]
pub use self::core::{pages, store};
#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
#[doc(inline)]
pub use wechat_auth_mock as mock;
pub mod push;
mod user;

pub use self::core::login::LoginRefused;
pub use channels::oauth::browser::{BrowserKind, is_phone};
pub use config::builder::WechatConfigBuilder;
pub use config::error::ConfigError;
pub use config::mini_link_settings::MiniLink;
pub use config::push_settings::{DEFAULT_SCAN_DAILY_BUDGET, ScanStartLimits};
pub use config::wecom_settings::{WecomCorp, WecomScope, WecomSuite};
pub use config::{
    AppCredentials, GlobalTokenSource, OfficialAccount, RedisStart, TokenProvider, WechatConfig,
};
pub use error::{HandleError, MiniDataError};
pub use extract::Unauthenticated;
pub use handle::{DouyinHandle, MissingLayer, WechatHandle};
pub use layer::{ResponseFuture, WechatAuth, WechatAuthLayer};
pub use providers::douyin::tokens::{DouyinProfile, DouyinRenewal};
pub use providers::wechat::profiles::Profile;
pub use user::{
    Channel, DouyinUser, Identity, Provider, SharedUser, UnknownChannel, WechatUser, WecomDetail,
    WecomUser,
};
pub use wechat_auth_client::{PhoneNumber, Secret, WechatClient, WechatError};
