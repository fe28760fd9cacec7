//! Typed client for the Douyin (抖音) Open Platform calls behind login (protocol §29).
//!
//! [`DouyinClient`] wraps one shared [`reqwest::Client`] (connect timeout 3 s, total timeout
//! 10 s per attempt, no redirects) and two checked base URLs, so tests and the mock can point
//! it at loopback:
//!
//! | Base | Default | Override | Used for |
//! |---|---|---|---|
//! | open | `https://open.douyin.com` | `WECHAT_DOUYIN_OPEN_BASE` | [`connect_url`](DouyinClient::connect_url) and the `oauth/*` calls |
//! | mini-app | `https://developer.toutiao.com` | `WECHAT_DOUYIN_MINIAPP_BASE` | [`jscode2session`](DouyinClient::jscode2session) |
//!
//! A website, in-app or Douyin app login: the `code` from [`connect_url`](DouyinClient::connect_url)'s
//! callback (or the Douyin OpenSDK) → [`access_token`](DouyinClient::access_token) (a form
//! POST) → [`userinfo`](DouyinClient::userinfo). The access token lives 15 days and is renewed
//! with [`refresh_token`](DouyinClient::refresh_token); the refresh token lives 30 days and can
//! be renewed at most five times with [`renew_refresh_token`](DouyinClient::renew_refresh_token)
//! (then 10020: log in again). A mini-app login: the `tt.login()` code →
//! [`jscode2session`](DouyinClient::jscode2session). Caching tokens is the caller's.
//!
//! # Answers and errors
//!
//! Douyin answers errors with HTTP 200. `{"data":{"error_code":N,"description":…},"extra":
//! {"logid":…}}` (an `error_code` may be a string in older answers), `{"err_no":N,"err_tips":…}`
//! and `{"errcode":N,"errmsg":…}` are all read as a [`DouyinError::Api`] whose
//! [`kind`](DouyinError::kind) says what to do and whose [`hint`](DouyinError::hint) names the
//! likely cause. The transport (retries, bounded body, spans) is the WeChat client's
//! `wechat_auth_client::transport_kit`: one implementation for every provider.
//!
//! # Retries
//!
//! Only temporary failures are retried — busy codes, timeouts, transport errors and HTTP 5xx —
//! at most [`with_max_retries`](DouyinClientBuilder::with_max_retries) times (default 2). The
//! code exchanges and the refresh token renewal are retried only when Douyin surely did not
//! act, never after a timeout.
//!
//! # Secrets and logs
//!
//! Client secrets, tokens and `session_key`s are [`Secret`]s and print as `Secret(***)`; they
//! travel in POST bodies and headers, never in a URL, and no URL is logged or kept in an error.
//!
//! ```no_run
//! use wechat_auth_douyin_client::{DouyinClient, DouyinError, Secret};
//!
//! # async fn run(code: &str) -> Result<(), DouyinError> {
//! let client = DouyinClient::from_env()?;
//! let secret = Secret::new("client-secret");
//! let token = client.access_token("awclientkey", &secret, code).await?;
//! let me = client.userinfo(&token.access_token, &token.open_id).await?;
//! println!("{:?} {:?}", me.nickname, me.union_id);
//! # Ok(()) }
//! ```

mod envelope;
mod error;
pub mod metrics;
mod types;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use url::Url;
use wechat_auth_client::transport_kit::{self, Call, Replay, RetryPolicy};

use envelope::Envelope;
pub use error::{DouyinError, ErrorKind, describe, known_codes};
pub use types::{ClientToken, MiniappSession, Profile, RenewedRefreshToken, UserToken};
/// The checked base URL and the redacted secret, shared with the WeChat client.
pub use wechat_auth_client::{BaseUrl, BaseUrlError, Secret};

/// Douyin's open platform host (override: `WECHAT_DOUYIN_OPEN_BASE`).
pub const DEFAULT_OPEN_BASE: &str = "https://open.douyin.com";
/// Douyin's mini-app server host (override: `WECHAT_DOUYIN_MINIAPP_BASE`).
pub const DEFAULT_MINIAPP_BASE: &str = "https://developer.toutiao.com";

pub(crate) const CLIENT_TOKEN_PATH: &str = "oauth/client_token/";

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MAX_RETRIES: u32 = 2;
const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_millis(100);
const DEFAULT_USER_AGENT: &str = concat!("wechat-auth-douyin/", env!("CARGO_PKG_VERSION"));

/// The Douyin endpoints this client calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    AccessToken,
    RefreshToken,
    RenewRefreshToken,
    ClientToken,
    Userinfo,
    JsCode2Session,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Self::AccessToken => "oauth/access_token/",
            Self::RefreshToken => "oauth/refresh_token/",
            Self::RenewRefreshToken => "oauth/renew_refresh_token/",
            Self::ClientToken => CLIENT_TOKEN_PATH,
            Self::Userinfo => "oauth/userinfo/",
            Self::JsCode2Session => "api/apps/v2/jscode2session",
        }
    }

    fn envelope(self) -> Envelope {
        match self {
            Self::JsCode2Session => Envelope::Miniapp,
            _ => Envelope::Open,
        }
    }

    fn replay(self) -> Replay {
        match self {
            Self::AccessToken | Self::RenewRefreshToken | Self::JsCode2Session => {
                Replay::OnlyIfUnsent
            }
            // A new client_token ends the previous one: a spare fetch is harmless.
            Self::RefreshToken | Self::ClientToken | Self::Userinfo => Replay::Safe,
        }
    }

    /// One span per call, named after the endpoint (span names must be literals).
    fn span(self) -> tracing::Span {
        use tracing::field::Empty;
        let endpoint = self.path();
        match self {
            Self::AccessToken => {
                tracing::info_span!("douyin oauth/access_token", endpoint, attempt = Empty)
            }
            Self::RefreshToken => {
                tracing::info_span!("douyin oauth/refresh_token", endpoint, attempt = Empty)
            }
            Self::RenewRefreshToken => {
                tracing::info_span!(
                    "douyin oauth/renew_refresh_token",
                    endpoint,
                    attempt = Empty
                )
            }
            Self::ClientToken => {
                tracing::info_span!("douyin oauth/client_token", endpoint, attempt = Empty)
            }
            Self::Userinfo => {
                tracing::info_span!("douyin oauth/userinfo", endpoint, attempt = Empty)
            }
            Self::JsCode2Session => {
                tracing::info_span!("douyin apps/v2/jscode2session", endpoint, attempt = Empty)
            }
        }
    }
}

/// A client for Douyin's login-related HTTP APIs. Cheap to clone (one shared pool).
///
/// ```
/// use wechat_auth_douyin_client::DouyinClient;
///
/// let client = DouyinClient::new();
/// assert_eq!(client.open_base().as_str(), "https://open.douyin.com/");
/// assert_eq!(client.miniapp_base().as_str(), "https://developer.toutiao.com/");
/// ```
#[derive(Clone)]
pub struct DouyinClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    open_base: Url,
    miniapp_base: Url,
    retry: RetryPolicy,
}

impl fmt::Debug for DouyinClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DouyinClient")
            .field("open_base", &self.inner.open_base.as_str())
            .field("miniapp_base", &self.inner.miniapp_base.as_str())
            .field("max_retries", &self.inner.retry.max_retries)
            .finish()
    }
}

impl Default for DouyinClient {
    /// Same as [`DouyinClient::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl DouyinClient {
    /// A client for the real Douyin hosts with the default timeouts and retries.
    ///
    /// # Panics
    ///
    /// Only if the TLS backend cannot be initialised; use [`DouyinClient::builder`] to get
    /// that as an error instead.
    pub fn new() -> Self {
        match Self::builder().build() {
            Ok(client) => client,
            Err(err) => panic!("cannot build the default Douyin client: {err}"),
        }
    }

    /// A builder for base URLs, timeouts and retries.
    ///
    /// ```
    /// let client = wechat_auth_douyin_client::DouyinClient::builder()
    ///     .with_open_base("http://127.0.0.1:9000")
    ///     .with_max_retries(0)
    ///     .build()?;
    /// assert_eq!(client.open_base().as_str(), "http://127.0.0.1:9000/");
    /// # Ok::<(), wechat_auth_douyin_client::DouyinError>(())
    /// ```
    pub fn builder() -> DouyinClientBuilder {
        DouyinClientBuilder::default()
    }

    /// A client whose bases come from `WECHAT_DOUYIN_OPEN_BASE` and
    /// `WECHAT_DOUYIN_MINIAPP_BASE` (unset or empty: the real hosts).
    ///
    /// # Errors
    ///
    /// [`DouyinError::InvalidConfig`] when a variable is not an absolute http(s) URL.
    pub fn from_env() -> Result<Self, DouyinError> {
        let mut builder = Self::builder();
        let get = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(v) = get("WECHAT_DOUYIN_OPEN_BASE") {
            builder = builder.with_open_base(v);
        }
        if let Some(v) = get("WECHAT_DOUYIN_MINIAPP_BASE") {
            builder = builder.with_miniapp_base(v);
        }
        builder.build()
    }

    /// The open platform base URL (always ends with `/`).
    pub fn open_base(&self) -> &Url {
        &self.inner.open_base
    }

    /// The mini-app server base URL (always ends with `/`).
    pub fn miniapp_base(&self) -> &Url {
        &self.inner.miniapp_base
    }

    /// The authorization page a browser is sent to (`platform/oauth/connect/`), asking for
    /// `scope` (normally `user_info`). `redirect_uri` must carry no query of its own (Douyin
    /// refuses it): whatever the callback needs rides in `state`.
    ///
    /// ```
    /// let c = wechat_auth_douyin_client::DouyinClient::new();
    /// let url = c.connect_url("awKEY", "https://example.com/auth/wechat/callback", "douyinABC", "user_info");
    /// assert_eq!(
    ///     url,
    ///     "https://open.douyin.com/platform/oauth/connect/?client_key=awKEY&response_type=code\
    ///      &scope=user_info&redirect_uri=https%3A%2F%2Fexample.com%2Fauth%2Fwechat%2Fcallback&state=douyinABC"
    /// );
    /// ```
    pub fn connect_url(
        &self,
        client_key: &str,
        redirect_uri: &str,
        state: &str,
        scope: &str,
    ) -> String {
        let mut url = self
            .inner
            .open_base
            .join("platform/oauth/connect/")
            .unwrap_or_else(|_| self.inner.open_base.clone());
        url.query_pairs_mut()
            .append_pair("client_key", client_key)
            .append_pair("response_type", "code")
            .append_pair("scope", scope)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state);
        url.into()
    }

    async fn call<T, F>(&self, endpoint: Endpoint, build: F) -> Result<T, DouyinError>
    where
        T: DeserializeOwned,
        F: Fn(&reqwest::Client, Url) -> reqwest::RequestBuilder,
    {
        let base = match endpoint.envelope() {
            Envelope::Open => &self.inner.open_base,
            Envelope::Miniapp => &self.inner.miniapp_base,
        };
        let url = base.join(endpoint.path()).map_err(|e| {
            DouyinError::InvalidConfig(format!("cannot join the base URL and a path: {e}"))
        })?;
        let call = Call {
            provider: "Douyin",
            endpoint: endpoint.path(),
            replay: endpoint.replay(),
            max_body: transport_kit::MAX_BODY_BYTES,
        };
        transport_kit::execute(
            &self.inner.http,
            self.inner.retry,
            url,
            call,
            endpoint.span(),
            build,
            |path, answer| envelope::parse(endpoint.envelope(), path, answer.status, &answer.body),
            metrics::douyin_call,
        )
        .await
    }

    /// Exchanges an authorization `code` (web, in-app or the Douyin OpenSDK) for a user token
    /// (`oauth/access_token/`, a form POST).
    ///
    /// A code is single use: retried after a busy answer, a 5xx or a connect failure, never
    /// after a timeout.
    ///
    /// # Errors
    ///
    /// [`DouyinError::Api`] with 10007 (log in again), 2100005 / 28001007 (a bad parameter),
    /// 28001016 (the app is banned), and the transport errors; empty arguments are refused
    /// before sending.
    pub async fn access_token(
        &self,
        client_key: &str,
        client_secret: &Secret,
        code: &str,
    ) -> Result<UserToken, DouyinError> {
        require("client_key", client_key)?;
        require("client_secret", client_secret.expose())?;
        require("code", code)?;
        self.call(Endpoint::AccessToken, |http, url| {
            http.post(url).form(&[
                ("client_key", client_key),
                ("client_secret", client_secret.expose()),
                ("code", code),
                ("grant_type", "authorization_code"),
            ])
        })
        .await
    }

    /// Renews a user's access token with the refresh token (`oauth/refresh_token/`).
    ///
    /// # Errors
    ///
    /// 10010: the refresh token expired ([`ErrorKind::LoginAgain`]).
    pub async fn refresh_token(
        &self,
        client_key: &str,
        refresh_token: &Secret,
    ) -> Result<UserToken, DouyinError> {
        require("client_key", client_key)?;
        require("refresh_token", refresh_token.expose())?;
        self.call(Endpoint::RefreshToken, |http, url| {
            http.post(url).form(&[
                ("client_key", client_key),
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose()),
            ])
        })
        .await
    }

    /// Gets a new refresh token for one about to expire (`oauth/renew_refresh_token/`); at
    /// most five times per login.
    ///
    /// # Errors
    ///
    /// 10020 after the fifth renewal ([`DouyinError::is_renew_limit`]: log in again), 10004
    /// (no permission), 10010 (the refresh token already expired).
    pub async fn renew_refresh_token(
        &self,
        client_key: &str,
        refresh_token: &Secret,
    ) -> Result<RenewedRefreshToken, DouyinError> {
        require("client_key", client_key)?;
        require("refresh_token", refresh_token.expose())?;
        self.call(Endpoint::RenewRefreshToken, |http, url| {
            http.post(url).form(&[
                ("client_key", client_key),
                ("refresh_token", refresh_token.expose()),
            ])
        })
        .await
    }

    /// The app's own token (`oauth/client_token/`, JSON). Each fetch ends the previous token
    /// five minutes later: fetch once and share it.
    ///
    /// # Errors
    ///
    /// 10020 here means too many fetches ([`ErrorKind::Quota`]).
    pub async fn client_token(
        &self,
        client_key: &str,
        client_secret: &Secret,
    ) -> Result<ClientToken, DouyinError> {
        require("client_key", client_key)?;
        require("client_secret", client_secret.expose())?;
        self.call(Endpoint::ClientToken, |http, url| {
            http.post(url).json(&serde_json::json!({
                "client_key": client_key,
                "client_secret": client_secret.expose(),
                "grant_type": "client_credential",
            }))
        })
        .await
    }

    /// The user's profile (`oauth/userinfo/`): `open_id`, `union_id`, `nickname`, `avatar`.
    ///
    /// # Errors
    ///
    /// 10008 / 2190008 / 28001008 (the access token expired: refresh it), 28001012 (the
    /// `user_info` scope was not granted), 28001015 (token and `open_id` do not match).
    pub async fn userinfo(
        &self,
        access_token: &Secret,
        open_id: &str,
    ) -> Result<Profile, DouyinError> {
        require("access_token", access_token.expose())?;
        require("open_id", open_id)?;
        self.call(Endpoint::Userinfo, |http, url| {
            http.post(url)
                .header("access-token", access_token.expose())
                .form(&[
                    ("access_token", access_token.expose()),
                    ("open_id", open_id),
                ])
        })
        .await
    }

    /// Exchanges a Douyin mini-app `tt.login()` code for a session
    /// (`api/apps/v2/jscode2session`, JSON). Keep `session_key` on the server.
    ///
    /// # Errors
    ///
    /// 40015 (wrong appid), 40017 (wrong secret), 40018 (a bad or used code: call
    /// `tt.login()` again).
    pub async fn jscode2session(
        &self,
        appid: &str,
        secret: &Secret,
        code: &str,
    ) -> Result<MiniappSession, DouyinError> {
        require("appid", appid)?;
        require("secret", secret.expose())?;
        require("code", code)?;
        self.call(Endpoint::JsCode2Session, |http, url| {
            http.post(url).json(&serde_json::json!({
                "appid": appid,
                "secret": secret.expose(),
                "code": code,
            }))
        })
        .await
    }
}

fn require(name: &str, value: &str) -> Result<(), DouyinError> {
    if value.trim().is_empty() {
        Err(DouyinError::InvalidRequest(format!("`{name}` is empty")))
    } else {
        Ok(())
    }
}

/// Settings for a [`DouyinClient`]; start with [`DouyinClient::builder`].
#[derive(Debug, Clone)]
pub struct DouyinClientBuilder {
    open_base: Result<BaseUrl, BaseUrlError>,
    miniapp_base: Result<BaseUrl, BaseUrlError>,
    connect_timeout: Duration,
    timeout: Duration,
    max_retries: u32,
    retry_backoff: Duration,
    user_agent: String,
}

impl Default for DouyinClientBuilder {
    fn default() -> Self {
        Self {
            open_base: BaseUrl::parse(DEFAULT_OPEN_BASE),
            miniapp_base: BaseUrl::parse(DEFAULT_MINIAPP_BASE),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            retry_backoff: DEFAULT_RETRY_BACKOFF,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
        }
    }
}

impl DouyinClientBuilder {
    /// The open platform base (default `https://open.douyin.com`).
    pub fn with_open_base(mut self, url: impl Into<String>) -> Self {
        self.open_base = BaseUrl::parse(&url.into());
        self
    }

    /// The mini-app server base (default `https://developer.toutiao.com`).
    pub fn with_miniapp_base(mut self, url: impl Into<String>) -> Self {
        self.miniapp_base = BaseUrl::parse(&url.into());
        self
    }

    /// Sets the bases to values already checked with [`BaseUrl::parse`]; `None` keeps one.
    ///
    /// ```
    /// use wechat_auth_douyin_client::{BaseUrl, DouyinClient};
    ///
    /// let open = BaseUrl::parse("http://127.0.0.1:9")?;
    /// let c = DouyinClient::builder().with_base_urls(Some(open), None).build()?;
    /// assert_eq!(c.open_base().as_str(), "http://127.0.0.1:9/");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_base_urls(mut self, open: Option<BaseUrl>, miniapp: Option<BaseUrl>) -> Self {
        if let Some(open) = open {
            self.open_base = Ok(open);
        }
        if let Some(miniapp) = miniapp {
            self.miniapp_base = Ok(miniapp);
        }
        self
    }

    /// How long establishing a connection may take (default 3 s).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one attempt may take (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many times a temporary failure is retried (default 2; 0 disables).
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The first wait before a retry (default 100 ms; doubles each time, with jitter).
    pub fn with_retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// The `User-Agent` header (default `wechat-auth-douyin/<version>`).
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// [`DouyinError::InvalidConfig`] for a base URL that is not an absolute http(s) URL
    /// without query, fragment or credentials, a zero timeout, or a failing HTTP client.
    ///
    /// ```
    /// use wechat_auth_douyin_client::{DouyinClient, DouyinError};
    ///
    /// let err = DouyinClient::builder().with_miniapp_base("ftp://x").build().unwrap_err();
    /// assert!(matches!(err, DouyinError::InvalidConfig(_)));
    /// ```
    pub fn build(self) -> Result<DouyinClient, DouyinError> {
        let invalid = |which: &str, e: BaseUrlError| {
            DouyinError::InvalidConfig(format!("the {which} base URL {e}"))
        };
        let open_base = self
            .open_base
            .map_err(|e| invalid("open", e))?
            .as_url()
            .clone();
        let miniapp_base = self
            .miniapp_base
            .map_err(|e| invalid("mini-app", e))?
            .as_url()
            .clone();
        let http = wechat_auth_client::transport_kit::http_client(
            self.connect_timeout,
            self.timeout,
            &self.user_agent,
        )
        .map_err(DouyinError::InvalidConfig)?;
        Ok(DouyinClient {
            inner: Arc::new(Inner {
                http,
                open_base,
                miniapp_base,
                retry: RetryPolicy {
                    max_retries: self.max_retries,
                    backoff: self.retry_backoff,
                },
            }),
        })
    }
}

#[cfg(test)]
mod tests;
