//! Typed client for the WeChat HTTP APIs behind login: `sns/*`, `cgi-bin/*` and browser URLs.
//!
//! [`WechatClient`] wraps one shared [`reqwest::Client`] (connect timeout 3 s, total timeout
//! 10 s per attempt, no redirects) and three base URLs, so tests and the mock can point it at
//! loopback. Each call returns a typed answer or a [`WechatError`] whose [`ErrorKind`] says what
//! to do next and whose [`hint`](WechatError::hint) says what to fix.
//!
//! # Answers
//!
//! The body is read as bytes (at most 1 MiB) and parsed as JSON whatever the `Content-Type`
//! (WeChat sometimes labels JSON `text/plain`). A non-zero `errcode` is an error; a success may
//! or may not carry `errcode: 0`. A non-2xx status is [`WechatError::Http`].
//! [`wxa_code_unlimit`](WechatClient::wxa_code_unlimit) answers an image (at most 2 MiB) whose
//! type is sniffed from its bytes; a JSON label or a body starting with `{` is its error.
//!
//! # Retries
//!
//! Only temporary failures are retried — errcode `-1`, timeouts, transport errors and HTTP 5xx
//! — at most [`with_max_retries`](WechatClientBuilder::with_max_retries) times (default 2, so 3
//! attempts) with exponential backoff and a little jitter. Business errors (40029, 40163, …)
//! are never retried.
//!
//! Calls that consume or create something — the code exchanges
//! ([`oauth2_access_token`](WechatClient::oauth2_access_token),
//! [`jscode2session`](WechatClient::jscode2session),
//! [`phone_number`](WechatClient::phone_number)),
//! [`qrcode_create`](WechatClient::qrcode_create) and a forced
//! [`stable_token`](WechatClient::stable_token) — are retried only when WeChat surely did not
//! act: a connect failure (nothing was sent), `-1` or a 5xx (WeChat said it failed). A timeout
//! or a connection lost after the request was sent is **not** retried for them: WeChat may
//! have used the code, and a second exchange would only earn 40163. Reads and normal token
//! fetches are safe to repeat and retry timeouts too.
//!
//! # Secrets and logs
//!
//! AppSecrets, tokens and `session_key`s are [`Secret`]s and print as `Secret(***)`. Each call
//! runs in a `tracing` span named after the endpoint (fields `endpoint`, and `attempt` = attempts
//! made, filled in when the call ends); success logs a `debug!` with `elapsed_ms`, each failed
//! attempt a `warn!` with `attempt`, `errcode`, `kind` and whether it will be retried. No URL or
//! query string is ever logged or kept in an error.
//!
//! ```no_run
//! use wechat_auth_client::{Lang, WechatClient, WechatError};
//! use wechat_auth_client::Secret;
//!
//! # async fn run(code: &str) -> Result<(), WechatError> {
//! let client = WechatClient::from_env()?; // WECHAT_API_BASE etc., else the real hosts
//! let secret = Secret::new("app-secret");
//! let token = client.oauth2_access_token("wx1234567890abcdef", &secret, code).await?;
//! if !token.is_snapshotuser && token.scope.contains("snsapi_userinfo") {
//!     let profile = client.userinfo(&token.access_token, &token.openid, Lang::ZhCn).await?;
//!     println!("hello {}", profile.nickname);
//! }
//! # Ok(()) }
//! ```

mod error;
pub mod metrics;
mod secret;
mod transport;
pub mod transport_kit;
mod types;
mod urls;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use url::Url;

pub use error::{ErrorKind, WechatError, describe, describe_authorize_page, known_errcodes};
pub use secret::Secret;
pub use types::{
    GlobalToken, Lang, MiniSession, OAuthToken, OaScope, OaUserInfo, PhoneNumber, QrCodeRequest,
    QrTicket, UrlLink, UrlScheme, UserInfo, WxaCode, WxaCodeRequest, WxaLinkRequest,
};

use transport::{Call, Endpoint, Replay, RetryPolicy};
use types::{Ack, PhoneAnswer, StableTokenBody};

/// The largest mini program code image accepted (a 1280 px code is a few hundred KiB).
const MAX_WXA_CODE_BYTES: usize = 2 << 20;

/// WeChat's server API host (override: `WECHAT_API_BASE`).
///
/// ```
/// use wechat_auth_client::{DEFAULT_API_BASE, WechatClient};
///
/// assert_eq!(WechatClient::new().api_base().as_str(), format!("{DEFAULT_API_BASE}/"));
/// ```
pub const DEFAULT_API_BASE: &str = "https://api.weixin.qq.com";
/// WeChat's browser-facing host for `connect/qrconnect` and `connect/oauth2/authorize`
/// (override: `WECHAT_OPEN_BASE`).
///
/// ```
/// use wechat_auth_client::{DEFAULT_OPEN_BASE, WechatClient};
///
/// assert_eq!(WechatClient::new().open_base().as_str(), format!("{DEFAULT_OPEN_BASE}/"));
/// ```
pub const DEFAULT_OPEN_BASE: &str = "https://open.weixin.qq.com";
/// The host serving QR images, `cgi-bin/showqrcode` (override: `WECHAT_MP_BASE`).
///
/// ```
/// use wechat_auth_client::{DEFAULT_MP_BASE, WechatClient};
///
/// assert_eq!(WechatClient::new().mp_base().as_str(), format!("{DEFAULT_MP_BASE}/"));
/// ```
pub const DEFAULT_MP_BASE: &str = "https://mp.weixin.qq.com";

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MAX_RETRIES: u32 = 2;
const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_millis(100);
const DEFAULT_USER_AGENT: &str = concat!("wechat-auth/", env!("CARGO_PKG_VERSION"));

/// A client for WeChat's login-related HTTP APIs.
///
/// Cheap to clone: clones share one connection pool and one configuration.
///
/// ```
/// use wechat_auth_client::WechatClient;
///
/// let client = WechatClient::new();
/// assert_eq!(client.api_base().as_str(), "https://api.weixin.qq.com/");
/// let again = client.clone(); // shares the same pool
/// assert_eq!(again.mp_base().as_str(), "https://mp.weixin.qq.com/");
/// ```
#[derive(Clone)]
pub struct WechatClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    api_base: Url,
    open_base: Url,
    mp_base: Url,
    retry: RetryPolicy,
    connect_timeout: Duration,
    timeout: Duration,
}

impl fmt::Debug for WechatClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("WechatClient")
            .field("api_base", &inner.api_base.as_str())
            .field("open_base", &inner.open_base.as_str())
            .field("mp_base", &inner.mp_base.as_str())
            .field("connect_timeout", &inner.connect_timeout)
            .field("timeout", &inner.timeout)
            .field("max_retries", &inner.retry.max_retries)
            .field("retry_backoff", &inner.retry.backoff)
            .finish()
    }
}

impl Default for WechatClient {
    /// Same as [`WechatClient::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl WechatClient {
    /// A client for the real WeChat hosts with the default timeouts and retries.
    ///
    /// # Panics
    ///
    /// Only if the TLS backend cannot be initialised (as [`reqwest::Client::new`]); use
    /// [`WechatClient::builder`] to get that as an error instead.
    ///
    /// ```
    /// let client = wechat_auth_client::WechatClient::new();
    /// assert_eq!(client.open_base().as_str(), "https://open.weixin.qq.com/");
    /// ```
    pub fn new() -> Self {
        match Self::builder().build() {
            Ok(client) => client,
            Err(err) => panic!("cannot build the default WeChat client: {err}"),
        }
    }

    /// A builder for base URLs, timeouts and retries.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wechat_auth_client::WechatClient;
    ///
    /// let client = WechatClient::builder()
    ///     .with_api_base("http://127.0.0.1:9000")
    ///     .with_timeout(Duration::from_secs(5))
    ///     .with_max_retries(1)
    ///     .build()?;
    /// assert_eq!(client.api_base().as_str(), "http://127.0.0.1:9000/");
    /// # Ok::<(), wechat_auth_client::WechatError>(())
    /// ```
    pub fn builder() -> WechatClientBuilder {
        WechatClientBuilder::default()
    }

    /// A client whose base URLs come from `WECHAT_API_BASE`, `WECHAT_OPEN_BASE` and
    /// `WECHAT_MP_BASE`; an unset or empty variable means the real host.
    ///
    /// # Errors
    ///
    /// [`WechatError::InvalidConfig`] when a variable is not an absolute http(s) URL.
    ///
    /// ```no_run
    /// // With WECHAT_API_BASE=http://127.0.0.1:9000 set by a mock:
    /// let client = wechat_auth_client::WechatClient::from_env()?;
    /// println!("{}", client.api_base());
    /// # Ok::<(), wechat_auth_client::WechatError>(())
    /// ```
    pub fn from_env() -> Result<Self, WechatError> {
        Self::builder().with_bases_from_env().build()
    }

    /// The API base URL (always ends with `/`).
    ///
    /// ```
    /// let client = wechat_auth_client::WechatClient::new();
    /// assert_eq!(client.api_base().host_str(), Some("api.weixin.qq.com"));
    /// ```
    pub fn api_base(&self) -> &Url {
        &self.inner.api_base
    }

    /// The browser-facing base URL for `qrconnect` / `authorize` (always ends with `/`).
    ///
    /// ```
    /// let client = wechat_auth_client::WechatClient::new();
    /// assert_eq!(client.open_base().host_str(), Some("open.weixin.qq.com"));
    /// ```
    pub fn open_base(&self) -> &Url {
        &self.inner.open_base
    }

    /// The base URL serving QR images (always ends with `/`).
    ///
    /// ```
    /// let client = wechat_auth_client::WechatClient::new();
    /// assert_eq!(client.mp_base().host_str(), Some("mp.weixin.qq.com"));
    /// ```
    pub fn mp_base(&self) -> &Url {
        &self.inner.mp_base
    }

    async fn execute<T, F>(
        &self,
        endpoint: Endpoint,
        replay: Replay,
        build: F,
    ) -> Result<T, WechatError>
    where
        T: DeserializeOwned,
        F: Fn(&reqwest::Client, Url) -> reqwest::RequestBuilder,
    {
        let inner = &self.inner;
        transport::execute(
            &inner.http,
            inner.retry,
            &inner.api_base,
            endpoint,
            replay,
            build,
        )
        .await
    }

    /// Exchanges an authorization `code` for a user token (`sns/oauth2/access_token`).
    ///
    /// Works for website QR login, Official Account web authorization and mobile app login,
    /// with the AppID/AppSecret of the app that issued the code. A snapshot-page user comes
    /// back with `is_snapshotuser == true`: treat that visitor as anonymous.
    ///
    /// A code is single-use. This call is retried after `-1`, an HTTP 5xx or a connect
    /// failure, but not after a timeout: the first request may have used the code.
    ///
    /// # Errors
    ///
    /// [`WechatError::Api`] with 40029 / 40163 / 42003 (log in again), 40125 / 40013
    /// (configuration), and the transport errors of every call. Empty arguments are refused
    /// with [`WechatError::InvalidRequest`] before sending.
    ///
    /// ```no_run
    /// # async fn run(client: wechat_auth_client::WechatClient, code: &str) -> Result<(), wechat_auth_client::WechatError> {
    /// use wechat_auth_client::{ErrorKind, Secret};
    ///
    /// match client.oauth2_access_token("wxAPPID", &Secret::new("SECRET"), code).await {
    ///     Ok(token) => println!("openid {}", token.openid),
    ///     Err(e) if e.kind() == ErrorKind::LoginAgain => println!("please log in again"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn oauth2_access_token(
        &self,
        appid: &str,
        secret: &Secret,
        code: &str,
    ) -> Result<OAuthToken, WechatError> {
        require("appid", appid)?;
        require("secret", secret.expose())?;
        require("code", code)?;
        self.execute(
            Endpoint::OAuth2AccessToken,
            Replay::OnlyIfUnsent,
            |http, url| {
                http.get(url).query(&[
                    ("appid", appid),
                    ("secret", secret.expose()),
                    ("code", code),
                    ("grant_type", "authorization_code"),
                ])
            },
        )
        .await
    }

    /// Renews a user token with its `refresh_token` (`sns/oauth2/refresh_token`, no secret).
    ///
    /// While the old access token is valid WeChat returns the same token with a new expiry.
    /// The answer carries no `unionid` and no snapshot flag. Safe to repeat: retried on every
    /// temporary failure.
    ///
    /// # Errors
    ///
    /// 40030 / 42002 mean the user must authorize again ([`ErrorKind::LoginAgain`]).
    ///
    /// ```no_run
    /// # async fn run(client: wechat_auth_client::WechatClient, old: wechat_auth_client::OAuthToken) -> Result<(), wechat_auth_client::WechatError> {
    /// let fresh = client.oauth2_refresh_token("wxAPPID", &old.refresh_token).await?;
    /// assert_eq!(fresh.openid, old.openid);
    /// # Ok(()) }
    /// ```
    pub async fn oauth2_refresh_token(
        &self,
        appid: &str,
        refresh_token: &Secret,
    ) -> Result<OAuthToken, WechatError> {
        require("appid", appid)?;
        require("refresh_token", refresh_token.expose())?;
        self.execute(Endpoint::OAuth2RefreshToken, Replay::Safe, |http, url| {
            http.get(url).query(&[
                ("appid", appid),
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose()),
            ])
        })
        .await
    }

    /// Reads a user's profile with a user token (`sns/userinfo`).
    ///
    /// Needs a `snsapi_userinfo` (OA, app) or `snsapi_login` (website) token; a `snsapi_base`
    /// token gets 48001. Retried on every temporary failure.
    ///
    /// ```no_run
    /// # async fn run(client: wechat_auth_client::WechatClient, token: wechat_auth_client::OAuthToken) -> Result<(), wechat_auth_client::WechatError> {
    /// use wechat_auth_client::Lang;
    ///
    /// let me = client.userinfo(&token.access_token, &token.openid, Lang::En).await?;
    /// println!("{} {}", me.nickname, me.headimgurl);
    /// # Ok(()) }
    /// ```
    pub async fn userinfo(
        &self,
        access_token: &Secret,
        openid: &str,
        lang: Lang,
    ) -> Result<UserInfo, WechatError> {
        require("access_token", access_token.expose())?;
        require("openid", openid)?;
        self.execute(Endpoint::SnsUserinfo, Replay::Safe, |http, url| {
            http.get(url).query(&[
                ("access_token", access_token.expose()),
                ("openid", openid),
                ("lang", lang.as_str()),
            ])
        })
        .await
    }

    /// Checks that a user token is valid for `openid` (`sns/auth`); `Ok(())` means valid.
    ///
    /// Retried on every temporary failure.
    ///
    /// # Errors
    ///
    /// 40003 (openid does not match), 40014 / 42001 ([`ErrorKind::TokenInvalid`]).
    ///
    /// ```no_run
    /// # async fn run(client: wechat_auth_client::WechatClient, token: wechat_auth_client::OAuthToken) {
    /// let valid = client.sns_auth(&token.access_token, &token.openid).await.is_ok();
    /// # }
    /// ```
    pub async fn sns_auth(&self, access_token: &Secret, openid: &str) -> Result<(), WechatError> {
        require("access_token", access_token.expose())?;
        require("openid", openid)?;
        let Ack {} = self
            .execute(Endpoint::SnsAuth, Replay::Safe, |http, url| {
                http.get(url)
                    .query(&[("access_token", access_token.expose()), ("openid", openid)])
            })
            .await?;
        Ok(())
    }

    /// Exchanges a mini program `js_code` from `wx.login()` for a session
    /// (`sns/jscode2session`).
    ///
    /// The `session_key` must stay on the server. Like every code exchange this is retried
    /// after `-1`, an HTTP 5xx or a connect failure, but not after a timeout.
    ///
    /// # Errors
    ///
    /// 40029 / 40163 / 40226 ([`ErrorKind::LoginAgain`]), 45011 ([`ErrorKind::Quota`]).
    ///
    /// ```no_run
    /// # async fn run(client: wechat_auth_client::WechatClient, js_code: &str) -> Result<(), wechat_auth_client::WechatError> {
    /// use wechat_auth_client::Secret;
    ///
    /// let session = client.jscode2session("wxMINI", &Secret::new("SECRET"), js_code).await?;
    /// println!("openid {}", session.openid); // never send session.session_key anywhere
    /// # Ok(()) }
    /// ```
    pub async fn jscode2session(
        &self,
        appid: &str,
        secret: &Secret,
        js_code: &str,
    ) -> Result<MiniSession, WechatError> {
        require("appid", appid)?;
        require("secret", secret.expose())?;
        require("js_code", js_code)?;
        self.execute(
            Endpoint::JsCode2Session,
            Replay::OnlyIfUnsent,
            |http, url| {
                http.get(url).query(&[
                    ("appid", appid),
                    ("secret", secret.expose()),
                    ("js_code", js_code),
                    ("grant_type", "authorization_code"),
                ])
            },
        )
        .await
    }

    /// Fetches an app-wide access token (`cgi-bin/token`, GET).
    ///
    /// Every fetch invalidates the previous token (after a 5-minute overlap) and counts
    /// towards a 2000-a-day quota: cache it, and prefer [`WechatClient::stable_token`].
    /// Retried on every temporary failure.
    ///
    /// # Errors
    ///
    /// 40001 / 40125 (wrong secret), 40164 / 61004 (IP whitelist), 45009 (quota).
    ///
    /// ```no_run
    /// # async fn run(client: wechat_auth_client::WechatClient) -> Result<(), wechat_auth_client::WechatError> {
    /// let token = client.token("wxOA", &wechat_auth_client::Secret::new("SECRET")).await?;
    /// println!("valid for {} s", token.expires_in);
    /// # Ok(()) }
    /// ```
    pub async fn token(&self, appid: &str, secret: &Secret) -> Result<GlobalToken, WechatError> {
        require("appid", appid)?;
        require("secret", secret.expose())?;
        crate::metrics::global_token_fetch("token");
        self.execute(Endpoint::Token, Replay::Safe, |http, url| {
            http.get(url).query(&[
                ("grant_type", "client_credential"),
                ("appid", appid),
                ("secret", secret.expose()),
            ])
        })
        .await
    }

    /// Fetches an app-wide access token (`cgi-bin/stable_token`, POST JSON).
    ///
    /// With `force_refresh == false` WeChat returns the same token while it is valid, so this
    /// is retried on every temporary failure. `force_refresh == true` invalidates the current
    /// token (20 times a day, 30 s apart): it is not retried after a timeout.
    ///
    /// ```no_run
    /// # async fn run(client: wechat_auth_client::WechatClient) -> Result<(), wechat_auth_client::WechatError> {
    /// let token = client.stable_token("wxOA", &wechat_auth_client::Secret::new("SECRET"), false).await?;
    /// assert!(token.expires_in > 0);
    /// # Ok(()) }
    /// ```
    pub async fn stable_token(
        &self,
        appid: &str,
        secret: &Secret,
        force_refresh: bool,
    ) -> Result<GlobalToken, WechatError> {
        require("appid", appid)?;
        require("secret", secret.expose())?;
        crate::metrics::global_token_fetch("stable_token");
        let replay = if force_refresh {
            Replay::OnlyIfUnsent
        } else {
            Replay::Safe
        };
        self.execute(Endpoint::StableToken, replay, |http, url| {
            http.post(url).json(&StableTokenBody {
                grant_type: "client_credential",
                appid,
                secret: secret.expose(),
                force_refresh,
            })
        })
        .await
    }

    /// Creates a parametric QR code ticket (`cgi-bin/qrcode/create`, POST JSON) with a global
    /// access token.
    ///
    /// The request is checked with [`QrCodeRequest::validate`] first; nothing is sent when it
    /// fails. A timeout is not retried (a retry would create a second code).
    ///
    /// ```no_run
    /// # async fn run(client: wechat_auth_client::WechatClient, global: wechat_auth_client::GlobalToken) -> Result<(), wechat_auth_client::WechatError> {
    /// use wechat_auth_client::QrCodeRequest;
    ///
    /// let req = QrCodeRequest::temporary_str("login_3f9a2c", 300);
    /// let ticket = client.qrcode_create(&global.access_token, &req).await?;
    /// println!("render {} or show {}", ticket.url, client.showqrcode_url(&ticket.ticket));
    /// # Ok(()) }
    /// ```
    pub async fn qrcode_create(
        &self,
        access_token: &Secret,
        req: &QrCodeRequest,
    ) -> Result<QrTicket, WechatError> {
        require("access_token", access_token.expose())?;
        req.validate()?;
        self.execute(Endpoint::QrCodeCreate, Replay::OnlyIfUnsent, |http, url| {
            http.post(url)
                .query(&[("access_token", access_token.expose())])
                .json(req)
        })
        .await
    }

    /// Reads a follower's profile with a global access token (`cgi-bin/user/info`).
    ///
    /// Tells whether the user follows the Official Account and through which QR scene.
    /// Retried on every temporary failure.
    ///
    /// ```no_run
    /// # async fn run(client: wechat_auth_client::WechatClient, global: wechat_auth_client::GlobalToken) -> Result<(), wechat_auth_client::WechatError> {
    /// use wechat_auth_client::Lang;
    ///
    /// let u = client.user_info(&global.access_token, "oUSERopenid", Lang::ZhCn).await?;
    /// println!("follows: {}, scene: {}", u.subscribe, u.qr_scene_str);
    /// # Ok(()) }
    /// ```
    pub async fn user_info(
        &self,
        access_token: &Secret,
        openid: &str,
        lang: Lang,
    ) -> Result<OaUserInfo, WechatError> {
        require("access_token", access_token.expose())?;
        require("openid", openid)?;
        self.execute(Endpoint::UserInfo, Replay::Safe, |http, url| {
            http.get(url).query(&[
                ("access_token", access_token.expose()),
                ("openid", openid),
                ("lang", lang.as_str()),
            ])
        })
        .await
    }

    /// Exchanges a `getPhoneNumber` button code for the user's phone number
    /// (`wxa/business/getuserphonenumber`, POST JSON) with the mini program's global token.
    ///
    /// `code` is `e.detail.code` of `<button open-type="getPhoneNumber">` — not a `wx.login`
    /// code. With `openid`, WeChat checks that the code belongs to that user. The code is
    /// single-use: this call is retried after `-1`, an HTTP 5xx or a connect failure, never
    /// after a timeout.
    ///
    /// # Errors
    ///
    /// 40029 (code spent, expired, or a `wx.login` code: [`ErrorKind::LoginAgain`]), 40013
    /// (the token belongs to another app), 40001 / 42001 (stale token), 45011 (frequency).
    ///
    /// ```no_run
    /// # async fn run(client: wechat_auth_client::WechatClient, global: wechat_auth_client::GlobalToken, code: &str) -> Result<(), wechat_auth_client::WechatError> {
    /// let phone = client.phone_number(&global.access_token, code, None).await?;
    /// assert_eq!(phone.watermark_appid, "wxMINI"); // your mini program's AppID
    /// println!("+{} {}", phone.country_code, phone.pure_phone_number);
    /// # Ok(()) }
    /// ```
    pub async fn phone_number(
        &self,
        access_token: &Secret,
        code: &str,
        openid: Option<&str>,
    ) -> Result<PhoneNumber, WechatError> {
        require("access_token", access_token.expose())?;
        require("code", code)?;
        if let Some(openid) = openid {
            require("openid", openid)?;
        }
        let body = match openid {
            Some(openid) => serde_json::json!({ "code": code, "openid": openid }),
            None => serde_json::json!({ "code": code }),
        };
        let answer: PhoneAnswer = self
            .execute(Endpoint::PhoneNumber, Replay::OnlyIfUnsent, |http, url| {
                http.post(url)
                    .query(&[("access_token", access_token.expose())])
                    .json(&body)
            })
            .await?;
        Ok(answer.into())
    }

    /// Checks that `session_key` is still the user's current one (`wxa/checksession`, GET)
    /// with the mini program's global token; `Ok(())` means current.
    ///
    /// The key never leaves this server: only its signature is sent,
    /// `hmac_sha256(session_key, "")` keyed with the key's Base64 text (protocol §17.2).
    /// Retried on every temporary failure.
    ///
    /// # Errors
    ///
    /// 87009 when the key is stale ([`ErrorKind::LoginAgain`]: a later `wx.login` replaced
    /// it, so the mini program must call `wx.login` and send a new code).
    ///
    /// ```no_run
    /// # async fn run(client: wechat_auth_client::WechatClient, global: wechat_auth_client::GlobalToken, session: wechat_auth_client::MiniSession) -> Result<(), wechat_auth_client::WechatError> {
    /// use wechat_auth_client::ErrorKind;
    ///
    /// match client.check_session(&global.access_token, &session.openid, &session.session_key).await {
    ///     Ok(()) => println!("session_key still valid"),
    ///     Err(e) if e.kind() == ErrorKind::LoginAgain => println!("ask for wx.login again"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn check_session(
        &self,
        access_token: &Secret,
        openid: &str,
        session_key: &Secret,
    ) -> Result<(), WechatError> {
        require("access_token", access_token.expose())?;
        require("openid", openid)?;
        require("session_key", session_key.expose())?;
        let signature = session_signature(session_key);
        let Ack {} = self
            .execute(Endpoint::CheckSession, Replay::Safe, |http, url| {
                http.get(url).query(&[
                    ("access_token", access_token.expose()),
                    ("signature", signature.as_str()),
                    ("openid", openid),
                    ("sig_method", "hmac_sha256"),
                ])
            })
            .await?;
        Ok(())
    }

    /// Draws a mini program code for `request.scene` (`wxa/getwxacodeunlimit`, POST JSON)
    /// with the mini program's global token.
    ///
    /// The answer is an image (at most 2 MiB); its type is sniffed from the bytes, because
    /// WeChat labels PNGs `image/jpeg`. Errors come as JSON with HTTP 200. Codes never expire
    /// and are unlimited, so the call is retried on every temporary failure.
    ///
    /// # Errors
    ///
    /// 40169 / 40129 (scene empty, longer than 32 characters or with a forbidden character),
    /// 41030 (page not in the published version: `with_check_path(false)` while developing),
    /// 40097 (bad `env_version`), 48001 (not a mini program's token), 45009 (5000 a minute);
    /// [`WechatError::Decode`] for an answer that is neither PNG nor JPEG.
    ///
    /// ```no_run
    /// # async fn run(client: wechat_auth_client::WechatClient, global: wechat_auth_client::GlobalToken) -> Result<(), wechat_auth_client::WechatError> {
    /// use wechat_auth_client::WxaCodeRequest;
    ///
    /// let req = WxaCodeRequest::new("t3f9a2c").with_page("pages/login/confirm");
    /// let code = client.wxa_code_unlimit(&global.access_token, &req).await?;
    /// println!("{} bytes of {}", code.bytes.len(), code.content_type);
    /// # Ok(()) }
    /// ```
    pub async fn wxa_code_unlimit(
        &self,
        access_token: &Secret,
        request: &WxaCodeRequest,
    ) -> Result<WxaCode, WechatError> {
        require("access_token", access_token.expose())?;
        let body = request.body();
        let inner = &self.inner;
        let call = Call {
            endpoint: Endpoint::WxaCodeUnlimit,
            replay: Replay::Safe,
            max_body: MAX_WXA_CODE_BYTES,
        };
        transport::execute_with(
            &inner.http,
            inner.retry,
            &inner.api_base,
            call,
            |http, url| {
                http.post(url)
                    .query(&[("access_token", access_token.expose())])
                    .json(&body)
            },
            transport::parse_wxa_code,
        )
        .await
    }

    /// Makes a mini program URL Link (`wxa/generate_urllink`, POST JSON) with the mini
    /// program's global token: an `https://` address a phone browser opens the mini program
    /// with, on `request.path` with `request.query`, until `request.expire_time`.
    ///
    /// Not retried after a timeout (a retry would make a second link against the daily
    /// quota).
    ///
    /// # Errors
    ///
    /// 40002 (no permission: an individual mini program cannot make links), 85079 (the mini
    /// program has no published version), 40165 (bad page), 40212 (bad query), 44990
    /// (frequency limit), 45009 (daily limit), 40013 (bad appid); an
    /// [`WechatError::InvalidRequest`] for a query over 1024 characters.
    ///
    /// ```no_run
    /// # async fn run(client: wechat_auth_client::WechatClient, global: wechat_auth_client::GlobalToken) -> Result<(), wechat_auth_client::WechatError> {
    /// use wechat_auth_client::WxaLinkRequest;
    ///
    /// let req = WxaLinkRequest::new(1_700_000_300)
    ///     .with_path("pages/login/confirm")
    ///     .with_query("scene=t3f9a2c");
    /// let link = client.generate_urllink(&global.access_token, &req).await?;
    /// println!("open {}", link.url_link);
    /// # Ok(()) }
    /// ```
    pub async fn generate_urllink(
        &self,
        access_token: &Secret,
        request: &WxaLinkRequest,
    ) -> Result<UrlLink, WechatError> {
        require("access_token", access_token.expose())?;
        request.validate()?;
        let body = request.urllink_body();
        self.execute(
            Endpoint::GenerateUrlLink,
            Replay::OnlyIfUnsent,
            |http, url| {
                http.post(url)
                    .query(&[("access_token", access_token.expose())])
                    .json(&body)
            },
        )
        .await
    }

    /// Makes a mini program URL Scheme (`wxa/generatescheme`, POST JSON) with the mini
    /// program's global token: a `weixin://dl/business/?t=…` address, on `request.path`
    /// with `request.query`, until `request.expire_time`. Same errors and retries as
    /// [`generate_urllink`](Self::generate_urllink).
    ///
    /// ```no_run
    /// # async fn run(client: wechat_auth_client::WechatClient, global: wechat_auth_client::GlobalToken) -> Result<(), wechat_auth_client::WechatError> {
    /// use wechat_auth_client::WxaLinkRequest;
    ///
    /// let req = WxaLinkRequest::new(1_700_000_300).with_query("scene=t3f9a2c");
    /// let scheme = client.generatescheme(&global.access_token, &req).await?;
    /// assert!(scheme.openlink.starts_with("weixin://"));
    /// # Ok(()) }
    /// ```
    pub async fn generatescheme(
        &self,
        access_token: &Secret,
        request: &WxaLinkRequest,
    ) -> Result<UrlScheme, WechatError> {
        require("access_token", access_token.expose())?;
        request.validate()?;
        let body = request.scheme_body();
        self.execute(
            Endpoint::GenerateScheme,
            Replay::OnlyIfUnsent,
            |http, url| {
                http.post(url)
                    .query(&[("access_token", access_token.expose())])
                    .json(&body)
            },
        )
        .await
    }

    /// The website QR login page (`connect/qrconnect`, scope `snsapi_login`) to redirect a
    /// desktop browser to. `lang` is `Some("en")` or `Some("cn")` (WeChat's default).
    ///
    /// `redirect_uri` is percent-encoded (everything but unreserved characters); the URL ends
    /// with `#wechat_redirect`.
    ///
    /// ```
    /// let client = wechat_auth_client::WechatClient::new();
    /// let url = client.qrconnect_url("wxWEB", "https://example.com/cb?a=1", "N0nce", None);
    /// assert_eq!(
    ///     url,
    ///     "https://open.weixin.qq.com/connect/qrconnect?appid=wxWEB\
    ///      &redirect_uri=https%3A%2F%2Fexample.com%2Fcb%3Fa%3D1\
    ///      &response_type=code&scope=snsapi_login&state=N0nce#wechat_redirect",
    /// );
    /// ```
    pub fn qrconnect_url(
        &self,
        appid: &str,
        redirect_uri: &str,
        state: &str,
        lang: Option<&str>,
    ) -> String {
        urls::qrconnect_url(&self.inner.open_base, appid, redirect_uri, state, lang)
    }

    /// The Official Account authorization page (`connect/oauth2/authorize`) to redirect a
    /// browser inside WeChat to.
    ///
    /// Parameters come in the order WeChat checks (`appid`, `redirect_uri`, `response_type`,
    /// `scope`, `state`), then `forcePopup=true` when asked, then `#wechat_redirect`. `state`
    /// should be `[A-Za-z0-9]`, at most 128 bytes.
    ///
    /// ```
    /// use wechat_auth_client::{OaScope, WechatClient};
    ///
    /// let client = WechatClient::new();
    /// let url = client.authorize_url("wxOA", "https://m.example.com/cb", OaScope::UserInfo, "s1", false);
    /// assert_eq!(
    ///     url,
    ///     "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wxOA\
    ///      &redirect_uri=https%3A%2F%2Fm.example.com%2Fcb\
    ///      &response_type=code&scope=snsapi_userinfo&state=s1#wechat_redirect",
    /// );
    /// ```
    pub fn authorize_url(
        &self,
        appid: &str,
        redirect_uri: &str,
        scope: OaScope,
        state: &str,
        force_popup: bool,
    ) -> String {
        urls::authorize_url(
            &self.inner.open_base,
            appid,
            redirect_uri,
            scope,
            state,
            force_popup,
        )
    }

    /// The QR image URL for a ticket (`cgi-bin/showqrcode` on the mp base), ticket encoded.
    ///
    /// ```
    /// let client = wechat_auth_client::WechatClient::new();
    /// assert_eq!(
    ///     client.showqrcode_url("gQH4+/a=="),
    ///     "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=gQH4%2B%2Fa%3D%3D",
    /// );
    /// ```
    pub fn showqrcode_url(&self, ticket: &str) -> String {
        urls::showqrcode_url(&self.inner.mp_base, ticket)
    }
}

/// The `signature` of `wxa/checksession`: lowercase hex HMAC-SHA256 of the empty message,
/// keyed with the `session_key`'s Base64 text as WeChat returned it (not the decoded bytes).
fn session_signature(session_key: &Secret) -> String {
    use hmac::Mac as _;

    let mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(session_key.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    hex::encode(mac.finalize().into_bytes())
}

/// Refuses an empty parameter before anything is sent (the message names the parameter only).
fn require(name: &str, value: &str) -> Result<(), WechatError> {
    if value.is_empty() {
        Err(WechatError::InvalidRequest(format!("`{name}` is empty")))
    } else {
        Ok(())
    }
}

/// Settings for a [`WechatClient`]; start with [`WechatClient::builder`].
///
/// ```
/// use std::time::Duration;
/// use wechat_auth_client::WechatClient;
///
/// let client = WechatClient::builder()
///     .with_connect_timeout(Duration::from_secs(1))
///     .with_timeout(Duration::from_secs(4))
///     .with_max_retries(3)
///     .with_retry_backoff(Duration::from_millis(50))
///     .build()?;
/// # Ok::<(), wechat_auth_client::WechatError>(())
/// ```
#[derive(Debug, Clone)]
pub struct WechatClientBuilder {
    // Each base is checked when it is set: `build` uses what was checked, never a string.
    api_base: Result<BaseUrl, BaseUrlError>,
    open_base: Result<BaseUrl, BaseUrlError>,
    mp_base: Result<BaseUrl, BaseUrlError>,
    connect_timeout: Duration,
    timeout: Duration,
    max_retries: u32,
    retry_backoff: Duration,
    user_agent: String,
}

impl Default for WechatClientBuilder {
    fn default() -> Self {
        Self {
            api_base: BaseUrl::parse(DEFAULT_API_BASE),
            open_base: BaseUrl::parse(DEFAULT_OPEN_BASE),
            mp_base: BaseUrl::parse(DEFAULT_MP_BASE),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            retry_backoff: DEFAULT_RETRY_BACKOFF,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
        }
    }
}

impl WechatClientBuilder {
    /// The server API base (default `https://api.weixin.qq.com`). A path prefix is kept.
    ///
    /// ```
    /// let c = wechat_auth_client::WechatClient::builder()
    ///     .with_api_base("http://127.0.0.1:9000/wechat")
    ///     .build()?;
    /// assert_eq!(c.api_base().as_str(), "http://127.0.0.1:9000/wechat/");
    /// # Ok::<(), wechat_auth_client::WechatError>(())
    /// ```
    pub fn with_api_base(mut self, url: impl Into<String>) -> Self {
        self.api_base = BaseUrl::parse(&url.into());
        self
    }

    /// The browser-facing base (default `https://open.weixin.qq.com`).
    ///
    /// ```
    /// let c = wechat_auth_client::WechatClient::builder()
    ///     .with_open_base("http://127.0.0.1:9000")
    ///     .build()?;
    /// assert!(c.qrconnect_url("a", "r", "s", None).starts_with("http://127.0.0.1:9000/connect/"));
    /// # Ok::<(), wechat_auth_client::WechatError>(())
    /// ```
    pub fn with_open_base(mut self, url: impl Into<String>) -> Self {
        self.open_base = BaseUrl::parse(&url.into());
        self
    }

    /// The QR image base (default `https://mp.weixin.qq.com`).
    ///
    /// ```
    /// let c = wechat_auth_client::WechatClient::builder()
    ///     .with_mp_base("http://127.0.0.1:9000")
    ///     .build()?;
    /// assert_eq!(c.showqrcode_url("T"), "http://127.0.0.1:9000/cgi-bin/showqrcode?ticket=T");
    /// # Ok::<(), wechat_auth_client::WechatError>(())
    /// ```
    pub fn with_mp_base(mut self, url: impl Into<String>) -> Self {
        self.mp_base = BaseUrl::parse(&url.into());
        self
    }

    /// Takes the base URLs from `WECHAT_API_BASE`, `WECHAT_OPEN_BASE`, `WECHAT_MP_BASE` when
    /// they are set and non-empty; others keep their current value.
    ///
    /// ```
    /// let builder = wechat_auth_client::WechatClient::builder().with_bases_from_env();
    /// # let _ = builder;
    /// ```
    pub fn with_bases_from_env(self) -> Self {
        self.with_bases_from(|name| std::env::var(name).ok())
    }

    fn with_bases_from(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("WECHAT_API_BASE") {
            self.api_base = BaseUrl::parse(&v);
        }
        if let Some(v) = get("WECHAT_OPEN_BASE") {
            self.open_base = BaseUrl::parse(&v);
        }
        if let Some(v) = get("WECHAT_MP_BASE") {
            self.mp_base = BaseUrl::parse(&v);
        }
        self
    }

    /// Sets the three base URLs to values already checked with [`BaseUrl::parse`] (the
    /// `wechat-auth` layer checks them once, when its configuration is built, and hands them
    /// over as they are); `None` keeps the current one.
    ///
    /// ```
    /// use wechat_auth_client::{BaseUrl, WechatClient};
    ///
    /// let api = BaseUrl::parse("http://127.0.0.1:9000/wechat")?;
    /// let c = WechatClient::builder().with_base_urls(Some(api), None, None).build()?;
    /// assert_eq!(c.api_base().as_str(), "http://127.0.0.1:9000/wechat/");
    /// assert_eq!(c.open_base().as_str(), "https://open.weixin.qq.com/");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_base_urls(
        mut self,
        api: Option<BaseUrl>,
        open: Option<BaseUrl>,
        mp: Option<BaseUrl>,
    ) -> Self {
        for (slot, base) in [
            (&mut self.api_base, api),
            (&mut self.open_base, open),
            (&mut self.mp_base, mp),
        ] {
            if let Some(base) = base {
                *slot = Ok(base);
            }
        }
        self
    }

    /// How long establishing a connection may take (default 3 s).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = wechat_auth_client::WechatClient::builder().with_connect_timeout(Duration::from_secs(1));
    /// # let _ = b;
    /// ```
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one attempt may take, from sending to the last body byte (default 10 s). With
    /// retries a call can take up to `(max_retries + 1) × timeout` plus backoff.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = wechat_auth_client::WechatClient::builder().with_timeout(Duration::from_secs(5));
    /// # let _ = b;
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many times a temporary failure is retried (default 2, i.e. 3 attempts; 0 disables).
    ///
    /// ```
    /// let b = wechat_auth_client::WechatClient::builder().with_max_retries(0);
    /// # let _ = b;
    /// ```
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The first wait before a retry (default 100 ms); it doubles each time, up to 10 s, with
    /// up to 25 % random jitter.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = wechat_auth_client::WechatClient::builder().with_retry_backoff(Duration::from_millis(20));
    /// # let _ = b;
    /// ```
    pub fn with_retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// The `User-Agent` header (default `wechat-auth/<version>`).
    ///
    /// ```
    /// let b = wechat_auth_client::WechatClient::builder().with_user_agent("my-app/1.0");
    /// # let _ = b;
    /// ```
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// [`WechatError::InvalidConfig`] when a base URL is not an absolute `http`/`https` URL
    /// without query, fragment or credentials, when a timeout is zero, or when the HTTP client
    /// cannot be created.
    ///
    /// ```
    /// use wechat_auth_client::{WechatClient, WechatError};
    ///
    /// let err = WechatClient::builder().with_api_base("not a url").build().unwrap_err();
    /// assert!(matches!(err, WechatError::InvalidConfig(_)));
    /// ```
    pub fn build(self) -> Result<WechatClient, WechatError> {
        let invalid = |which: &str, e: BaseUrlError| {
            WechatError::InvalidConfig(format!("the {which} base URL {e}"))
        };
        let api_base = self.api_base.map_err(|e| invalid("API", e))?.into_url();
        let open_base = self.open_base.map_err(|e| invalid("open", e))?.into_url();
        let mp_base = self.mp_base.map_err(|e| invalid("mp", e))?.into_url();
        let http =
            crate::transport_kit::http_client(self.connect_timeout, self.timeout, &self.user_agent)
                .map_err(WechatError::InvalidConfig)?;
        Ok(WechatClient {
            inner: Arc::new(Inner {
                http,
                api_base,
                open_base,
                mp_base,
                retry: RetryPolicy {
                    max_retries: self.max_retries,
                    backoff: self.retry_backoff,
                },
                connect_timeout: self.connect_timeout,
                timeout: self.timeout,
            }),
        })
    }
}

/// A WeChat base URL, checked once: absolute `http`/`https` with a host, no credentials, no
/// query, no fragment; its path ends with `/` so endpoint paths join under it.
///
/// ```
/// use wechat_auth_client::BaseUrl;
///
/// assert_eq!(BaseUrl::parse(" http://127.0.0.1:9/api ")?.as_url().as_str(), "http://127.0.0.1:9/api/");
/// for bad in ["http://127.0.0.1:9/?x=1", "http://u:p@127.0.0.1:9", "http://127.0.0.1:9/#f", "ftp://h"] {
///     assert!(BaseUrl::parse(bad).is_err(), "{bad}");
/// }
/// # Ok::<(), wechat_auth_client::BaseUrlError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(Url);

/// Why a base URL was refused (the text completes "the … base URL …", e.g. "must not have a
/// query (?…)").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BaseUrlError(String);

impl BaseUrl {
    /// Parses and normalises `raw` (surrounding white space ignored).
    ///
    /// # Errors
    ///
    /// [`BaseUrlError`] when `raw` is not an absolute `http`/`https` URL with a host, or has
    /// credentials, a query or a fragment.
    pub fn parse(raw: &str) -> Result<Self, BaseUrlError> {
        let invalid = |why: &str| Err(BaseUrlError(why.to_owned()));
        let mut url = match Url::parse(raw.trim()) {
            Ok(url) => url,
            Err(e) => return invalid(&format!("is not an absolute URL ({e})")),
        };
        if !matches!(url.scheme(), "http" | "https") {
            return invalid("must use http or https");
        }
        if url.host_str().is_none_or(str::is_empty) {
            return invalid("has no host");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return invalid("must not contain credentials (user:password@)");
        }
        if url.query().is_some() {
            return invalid("must not have a query (?…)");
        }
        if url.fragment().is_some() {
            return invalid("must not have a fragment (#…)");
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(Self(url))
    }

    /// The URL, its path ending with `/`.
    pub fn as_url(&self) -> &Url {
        &self.0
    }

    fn into_url(self) -> Url {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn defaults_are_the_real_hosts() {
        let client = WechatClient::new();
        assert_eq!(client.api_base().as_str(), "https://api.weixin.qq.com/");
        assert_eq!(client.open_base().as_str(), "https://open.weixin.qq.com/");
        assert_eq!(client.mp_base().as_str(), "https://mp.weixin.qq.com/");
        assert_eq!(client.inner.retry.max_retries, 2);
        assert_eq!(client.inner.retry.backoff, Duration::from_millis(100));
        assert_eq!(client.inner.timeout, Duration::from_secs(10));
        assert_eq!(client.inner.connect_timeout, Duration::from_secs(3));
    }

    #[test]
    fn clones_share_one_inner() {
        let a = WechatClient::new();
        let b = a.clone();
        assert!(Arc::ptr_eq(&a.inner, &b.inner));
    }

    #[test]
    fn base_urls_are_normalised() {
        let ok = |raw: &str| BaseUrl::parse(raw).unwrap().into_url().to_string();
        assert_eq!(ok("http://127.0.0.1:8080"), "http://127.0.0.1:8080/");
        assert_eq!(ok("http://127.0.0.1:8080/"), "http://127.0.0.1:8080/");
        assert_eq!(
            ok(" https://h.example/prefix "),
            "https://h.example/prefix/"
        );
        assert_eq!(ok("https://h.example/prefix/"), "https://h.example/prefix/");
    }

    #[test]
    fn bad_base_urls_are_refused() {
        for raw in [
            "",
            "api.weixin.qq.com",
            "ftp://h.example",
            "https://user:pw@h.example",
            "https://h.example/?x=1",
            "https://h.example/#f",
            "file:///tmp",
        ] {
            let err = WechatClient::builder().with_api_base(raw).build();
            assert!(
                matches!(err, Err(WechatError::InvalidConfig(_))),
                "{raw:?} accepted"
            );
        }
        assert!(
            WechatClient::builder()
                .with_open_base("nope")
                .build()
                .is_err()
        );
        assert!(
            WechatClient::builder()
                .with_mp_base("nope")
                .build()
                .is_err()
        );
        assert!(
            WechatClient::builder()
                .with_timeout(Duration::ZERO)
                .build()
                .is_err()
        );
    }

    #[test]
    fn env_lookup_overrides_only_set_values() {
        let env: HashMap<&str, &str> = [
            ("WECHAT_API_BASE", "http://127.0.0.1:7001"),
            ("WECHAT_OPEN_BASE", "  "),
        ]
        .into_iter()
        .collect();
        let client = WechatClient::builder()
            .with_bases_from(|name| env.get(name).map(|v| (*v).to_owned()))
            .build()
            .unwrap();
        assert_eq!(client.api_base().as_str(), "http://127.0.0.1:7001/");
        assert_eq!(client.open_base().as_str(), "https://open.weixin.qq.com/");
        assert_eq!(client.mp_base().as_str(), "https://mp.weixin.qq.com/");
    }

    #[test]
    fn url_builders_use_configured_bases() {
        let client = WechatClient::builder()
            .with_open_base("http://127.0.0.1:7002/open")
            .with_mp_base("http://127.0.0.1:7003")
            .build()
            .unwrap();
        assert_eq!(
            client.authorize_url("wxA", "http://x/cb", OaScope::Base, "s", false),
            "http://127.0.0.1:7002/open/connect/oauth2/authorize?appid=wxA\
             &redirect_uri=http%3A%2F%2Fx%2Fcb&response_type=code&scope=snsapi_base&state=s#wechat_redirect"
        );
        assert_eq!(
            client.showqrcode_url("a+b"),
            "http://127.0.0.1:7003/cgi-bin/showqrcode?ticket=a%2Bb"
        );
    }

    #[test]
    fn debug_shows_settings_only() {
        let text = format!("{:?}", WechatClient::new());
        assert!(text.contains("api.weixin.qq.com"));
        assert!(text.contains("max_retries: 2"));
    }

    /// A port with nothing listening: bind, read the port, close.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    fn offline_client() -> WechatClient {
        WechatClient::builder()
            .with_api_base(format!("http://127.0.0.1:{}", closed_port()))
            .with_max_retries(0)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn transport_errors_do_not_leak_the_query() {
        let client = offline_client();
        let secret = Secret::new("SUPERSECRET-AppSecret-123");
        let err = client
            .oauth2_access_token("wxAPPID", &secret, "CODE-abc")
            .await
            .unwrap_err();
        assert!(matches!(err, WechatError::Transport { .. }), "{err:?}");
        assert!(err.is_retryable());
        let mut chain = format!("{err} | {err:?}");
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            chain.push_str(&format!(" | {s} | {s:?}"));
            source = s.source();
        }
        assert!(!chain.contains("SUPERSECRET"), "{chain}");
        assert!(!chain.contains("CODE-abc"), "{chain}");
        assert!(!chain.contains("secret="), "{chain}");

        let token = Secret::new("TOKENVALUE-xyz");
        let err = client
            .userinfo(&token, "OPENID", Lang::ZhCn)
            .await
            .unwrap_err();
        assert!(!format!("{err} {err:?}").contains("TOKENVALUE"));
    }

    #[tokio::test]
    async fn empty_arguments_are_refused_before_sending() {
        let client = offline_client();
        let s = Secret::new("s");
        let empty = Secret::default();
        let cases = [
            client.oauth2_access_token("", &s, "c").await.unwrap_err(),
            client
                .oauth2_access_token("a", &empty, "c")
                .await
                .unwrap_err(),
            client.oauth2_access_token("a", &s, "").await.unwrap_err(),
            client.oauth2_refresh_token("a", &empty).await.unwrap_err(),
            client.userinfo(&s, "", Lang::En).await.unwrap_err(),
            client.sns_auth(&empty, "o").await.unwrap_err(),
            client.jscode2session("a", &s, "").await.unwrap_err(),
            client.token("", &s).await.unwrap_err(),
            client.stable_token("a", &empty, false).await.unwrap_err(),
            client
                .qrcode_create(&s, &QrCodeRequest::temporary_str("", 60))
                .await
                .unwrap_err(),
            client.user_info(&empty, "o", Lang::En).await.unwrap_err(),
            client.phone_number(&empty, "c", None).await.unwrap_err(),
            client.phone_number(&s, "", None).await.unwrap_err(),
            client.phone_number(&s, "c", Some("")).await.unwrap_err(),
            client.check_session(&empty, "o", &s).await.unwrap_err(),
            client.check_session(&s, "", &s).await.unwrap_err(),
            client.check_session(&s, "o", &empty).await.unwrap_err(),
            client
                .wxa_code_unlimit(&empty, &WxaCodeRequest::new("s"))
                .await
                .unwrap_err(),
        ];
        for err in cases {
            // InvalidRequest, not Transport: nothing reached the (closed) port.
            assert!(matches!(err, WechatError::InvalidRequest(_)), "{err:?}");
        }
    }

    /// axum handlers and `tokio::spawn` need `Send` futures; this fails to compile otherwise.
    #[test]
    fn client_is_sync_and_calls_are_send() {
        fn send<T: Send>(_: T) {}
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<WechatClient>();
        send_sync::<WechatError>();
        let client = WechatClient::new();
        let s = Secret::new("s");
        let qr = QrCodeRequest::permanent_int(1);
        send(client.oauth2_access_token("a", &s, "c"));
        send(client.oauth2_refresh_token("a", &s));
        send(client.userinfo(&s, "o", Lang::ZhCn));
        send(client.sns_auth(&s, "o"));
        send(client.jscode2session("a", &s, "c"));
        send(client.token("a", &s));
        send(client.stable_token("a", &s, false));
        send(client.qrcode_create(&s, &qr));
        send(client.user_info(&s, "o", Lang::En));
        send(client.phone_number(&s, "c", Some("o")));
        send(client.check_session(&s, "o", &s));
        send(client.wxa_code_unlimit(&s, &WxaCodeRequest::new("s")));
    }

    #[test]
    fn checksession_signature_matches_the_protocol_vector() {
        // Protocol §17.2: keyed with the Base64 text, empty message.
        let key = Secret::new("o0q0otL8aEzpcZL/FT9WsQ==");
        assert_eq!(
            session_signature(&key),
            "46e043c5525c2d817c44be603d30837a808a1d930d038f6fdc3e62a201fed128"
        );
        // The doc's signing example with the same key over {"foo":"bar"} confirms the key
        // is the ASCII text, not the 16 decoded bytes.
        use hmac::Mac as _;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.expose().as_bytes()).unwrap();
        mac.update(br#"{"foo":"bar"}"#);
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b"
        );
    }

    #[test]
    fn secrets_in_responses_are_redacted() {
        let token: OAuthToken = serde_json::from_str(
            r#"{"access_token":"AT-9d8c7b","expires_in":7200,"refresh_token":"RT-6a5f4e","openid":"O","scope":"snsapi_login"}"#,
        )
        .unwrap();
        let session: MiniSession =
            serde_json::from_str(r#"{"openid":"O","session_key":"SK-tiihtNczf5v6AKR"}"#).unwrap();
        let global: GlobalToken =
            serde_json::from_str(r#"{"access_token":"GT-3c2b1a","expires_in":7200}"#).unwrap();
        let printed = format!("{token:?} {token:#?} {session:?} {session:#?} {global:?}");
        for secret in ["AT-9d8c7b", "RT-6a5f4e", "SK-tiihtNczf5v6AKR", "GT-3c2b1a"] {
            assert!(!printed.contains(secret), "{secret} leaked: {printed}");
        }
        assert!(printed.contains("Secret(***)"));
        assert!(printed.contains("openid: \"O\""));
    }
}
