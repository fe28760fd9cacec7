//! Typed client for the WeCom (企业微信) HTTP APIs behind login (protocol §20, §27).
//!
//! [`WecomClient`] wraps one shared [`reqwest::Client`] (connect timeout 3 s, total timeout
//! 10 s per attempt, no redirects) and three checked base URLs, so tests and the mock can point
//! it at loopback:
//!
//! | Base | Default | Override | Used for |
//! |---|---|---|---|
//! | API | `https://qyapi.weixin.qq.com` | `WECHAT_WECOM_API_BASE` | every call |
//! | login | `https://login.work.weixin.qq.com` | `WECHAT_WECOM_LOGIN_BASE` | [`sso_login_url`](WecomClient::sso_login_url) |
//! | open | `https://open.weixin.qq.com` | `WECHAT_OPEN_BASE` | [`oauth2_authorize_url`](WecomClient::oauth2_authorize_url) |
//!
//! Self-built (自建) and agent-developed (代开发) apps: [`gettoken`](WecomClient::gettoken)
//! per corp + app secret, then [`getuserinfo`](WecomClient::getuserinfo) for the code (a
//! [`CorpUser`]: member or non-member) and [`getuserdetail`](WecomClient::getuserdetail) for
//! the sensitive fields. Third-party apps (第三方应用): the `suite_ticket` pushed to the command
//! callback ([`WecomCrypto`], [`SuiteEvent`]), [`get_suite_token`](WecomClient::get_suite_token),
//! then [`getuserinfo3rd`](WecomClient::getuserinfo3rd) (a [`SuiteUser`]) and
//! [`getuserdetail3rd`](WecomClient::getuserdetail3rd). Caching tokens (per corp + agent, per
//! suite) and sharing them between instances is the caller's: this crate makes calls.
//!
//! # Answers and errors
//!
//! The body is read as bytes (at most 1 MiB) and parsed as JSON whatever the `Content-Type`.
//! A non-zero `errcode` is a [`WecomError::Api`]; its [`kind`](WecomError::kind) says what to
//! do next ([`ErrorKind::TokenInvalid`]: refetch the corp token; [`ErrorKind::SuiteTokenInvalid`]:
//! refetch the suite token; [`ErrorKind::NotAuthorized`]: the corp has not installed the suite;
//! …) and its [`hint`](WecomError::hint) the likely cause (50001: the redirect domain is not a
//! trusted domain; 60020: the IP is not whitelisted; …).
//!
//! # Retries
//!
//! Only temporary failures are retried — errcode `-1`, timeouts, transport errors and HTTP
//! 5xx — at most [`with_max_retries`](WecomClientBuilder::with_max_retries) times (default 2)
//! with exponential backoff and jitter. The code exchanges
//! ([`getuserinfo`](WecomClient::getuserinfo), [`getuserinfo3rd`](WecomClient::getuserinfo3rd))
//! are retried only when WeCom surely did not act (connect failure, `-1`, 5xx), never after a
//! timeout: a code is single use.
//!
//! # Secrets and logs
//!
//! Secrets, tokens, tickets and user tickets are [`Secret`]s and print as `Secret(***)`. Each
//! call runs in a `tracing` span named after the endpoint; no URL or query string is ever
//! logged or kept in an error.
//!
//! ```no_run
//! use wecom_client::{CorpUser, Secret, WecomClient, WecomError};
//!
//! # async fn run(code: &str) -> Result<(), WecomError> {
//! let client = WecomClient::from_env()?;
//! let token = client.gettoken("wwCORPID", &Secret::new("app-secret")).await?;
//! match client.getuserinfo(&token.access_token, code).await? {
//!     CorpUser::Member { user_id, .. } => println!("member {user_id}"),
//!     CorpUser::NonMember { openid, .. } => println!("guest {openid}"),
//!     _ => {}
//! }
//! # Ok(()) }
//! ```

mod crypto;
mod error;
pub mod metrics;
mod transport;
mod types;
mod urls;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use url::Url;

pub use crypto::{CryptoError, Decrypted, MAX_CALLBACK_BYTES, SuiteEvent, WecomCrypto};
pub use error::{ErrorKind, WecomError, describe, known_errcodes};
pub use types::{AccessToken, CorpUser, Gender, SuiteToken, SuiteUser, UserDetail, UserDetail3rd};
pub use urls::{LoginPanelParams, PanelRedirect, SsoApp, WecomScope};
/// The checked base URL and the redacted secret, shared with the WeChat client.
pub use wechat_auth_client::{BaseUrl, BaseUrlError, Secret};

use transport::{Endpoint, Replay, RetryPolicy};
use types::{RawCorpUser, RawSuiteUser, SuiteTokenBody, UserTicketBody};

/// WeCom's server API host (override: `WECHAT_WECOM_API_BASE`).
pub const DEFAULT_API_BASE: &str = "https://qyapi.weixin.qq.com";
/// WeCom's desktop login host for `wwlogin/sso/login` (override: `WECHAT_WECOM_LOGIN_BASE`).
pub const DEFAULT_LOGIN_BASE: &str = "https://login.work.weixin.qq.com";
/// The host of the in-app `connect/oauth2/authorize` (override: `WECHAT_OPEN_BASE`, shared
/// with WeChat).
pub const DEFAULT_OPEN_BASE: &str = "https://open.weixin.qq.com";

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MAX_RETRIES: u32 = 2;
const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_millis(100);
const DEFAULT_USER_AGENT: &str = concat!("wechat-auth/", env!("CARGO_PKG_VERSION"));

/// A client for WeCom's login-related HTTP APIs.
///
/// Cheap to clone: clones share one connection pool and one configuration.
///
/// ```
/// let client = wecom_client::WecomClient::new();
/// assert_eq!(client.api_base().as_str(), "https://qyapi.weixin.qq.com/");
/// assert_eq!(client.login_base().as_str(), "https://login.work.weixin.qq.com/");
/// ```
#[derive(Clone)]
pub struct WecomClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    api_base: Url,
    login_base: Url,
    open_base: Url,
    retry: RetryPolicy,
    connect_timeout: Duration,
    timeout: Duration,
}

impl fmt::Debug for WecomClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("WecomClient")
            .field("api_base", &inner.api_base.as_str())
            .field("login_base", &inner.login_base.as_str())
            .field("open_base", &inner.open_base.as_str())
            .field("connect_timeout", &inner.connect_timeout)
            .field("timeout", &inner.timeout)
            .field("max_retries", &inner.retry.max_retries)
            .field("retry_backoff", &inner.retry.backoff)
            .finish()
    }
}

impl Default for WecomClient {
    /// Same as [`WecomClient::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl WecomClient {
    /// A client for the real WeCom hosts with the default timeouts and retries.
    ///
    /// # Panics
    ///
    /// Only if the TLS backend cannot be initialised (as [`reqwest::Client::new`]); use
    /// [`WecomClient::builder`] to get that as an error instead.
    pub fn new() -> Self {
        match Self::builder().build() {
            Ok(client) => client,
            Err(err) => panic!("cannot build the default WeCom client: {err}"),
        }
    }

    /// A builder for base URLs, timeouts and retries.
    ///
    /// ```
    /// let client = wecom_client::WecomClient::builder()
    ///     .with_api_base("http://127.0.0.1:9000/wecom")
    ///     .with_max_retries(0)
    ///     .build()?;
    /// assert_eq!(client.api_base().as_str(), "http://127.0.0.1:9000/wecom/");
    /// # Ok::<(), wecom_client::WecomError>(())
    /// ```
    pub fn builder() -> WecomClientBuilder {
        WecomClientBuilder::default()
    }

    /// A client whose base URLs come from `WECHAT_WECOM_API_BASE`, `WECHAT_WECOM_LOGIN_BASE`
    /// and `WECHAT_OPEN_BASE`; an unset or empty variable means the real host.
    ///
    /// # Errors
    ///
    /// [`WecomError::InvalidConfig`] when a variable is not an absolute http(s) URL.
    pub fn from_env() -> Result<Self, WecomError> {
        Self::builder().with_bases_from_env().build()
    }

    /// The API base URL (always ends with `/`).
    pub fn api_base(&self) -> &Url {
        &self.inner.api_base
    }

    /// The desktop login base URL (always ends with `/`).
    pub fn login_base(&self) -> &Url {
        &self.inner.login_base
    }

    /// The in-app OAuth base URL (always ends with `/`).
    pub fn open_base(&self) -> &Url {
        &self.inner.open_base
    }

    async fn execute<T, F>(
        &self,
        endpoint: Endpoint,
        replay: Replay,
        build: F,
    ) -> Result<T, WecomError>
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

    /// Fetches a corp app's `access_token` (`GET cgi-bin/gettoken?corpid=…&corpsecret=…`).
    ///
    /// Each app has its own secret and so its own token: cache it per corp + app (7200 s,
    /// sooner on 40014 / 42001) and never per request — WeCom throttles frequent fetches.
    /// Safe to repeat: retried on every temporary failure.
    ///
    /// # Errors
    ///
    /// 40013 (CorpID), 40001 / 40091 (secret), 60020 (IP not whitelisted) are
    /// [`ErrorKind::Configuration`]; empty arguments are refused before sending.
    pub async fn gettoken(
        &self,
        corp_id: &str,
        corp_secret: &Secret,
    ) -> Result<AccessToken, WecomError> {
        require("corp_id", corp_id)?;
        require("corp_secret", corp_secret.expose())?;
        self.execute(Endpoint::GetToken, Replay::Safe, |http, url| {
            http.get(url)
                .query(&[("corpid", corp_id), ("corpsecret", corp_secret.expose())])
        })
        .await
    }

    /// Exchanges a login code for who logged in (`GET cgi-bin/auth/getuserinfo`), with the
    /// corp token of the app that started the login (web login or in-app OAuth).
    ///
    /// A code is single use: retried after `-1`, 5xx or a connect failure, never after a
    /// timeout.
    ///
    /// # Errors
    ///
    /// 40029 (code: log in again), 40014 / 42001 (refetch the token), 50001 (the redirect
    /// domain is not a trusted domain of this app), and [`WecomError::Decode`] when the answer
    /// names neither a `userid` nor an `openid`.
    pub async fn getuserinfo(
        &self,
        access_token: &Secret,
        code: &str,
    ) -> Result<CorpUser, WecomError> {
        require("access_token", access_token.expose())?;
        require("code", code)?;
        let raw: RawCorpUser = self
            .execute(Endpoint::GetUserInfo, Replay::OnlyIfUnsent, |http, url| {
                http.get(url)
                    .query(&[("access_token", access_token.expose()), ("code", code)])
            })
            .await?;
        raw.into_user(Endpoint::GetUserInfo.path())
    }

    /// Reads a member's sensitive fields (`POST cgi-bin/auth/getuserdetail`,
    /// `{"user_ticket"}`), with the `user_ticket` of a `snsapi_privateinfo` login.
    ///
    /// Retried on every temporary failure (reading the same ticket twice is harmless).
    ///
    /// # Errors
    ///
    /// 40014 / 42001 (refetch the token), 48002 / 50002 (not granted, outside the visible
    /// range).
    pub async fn getuserdetail(
        &self,
        access_token: &Secret,
        user_ticket: &Secret,
    ) -> Result<UserDetail, WecomError> {
        require("access_token", access_token.expose())?;
        require("user_ticket", user_ticket.expose())?;
        self.execute(Endpoint::GetUserDetail, Replay::Safe, |http, url| {
            http.post(url)
                .query(&[("access_token", access_token.expose())])
                .json(&UserTicketBody {
                    user_ticket: user_ticket.expose(),
                })
        })
        .await
    }

    /// Fetches a third-party suite's token (`POST cgi-bin/service/get_suite_token`,
    /// `{"suite_id","suite_secret","suite_ticket"}`) with the newest `suite_ticket` the
    /// command callback received.
    ///
    /// Cache it per suite (7200 s, sooner on 40082 / 42009). Retried on every temporary
    /// failure.
    ///
    /// # Errors
    ///
    /// 40085 / 41023 ([`ErrorKind::SuiteTicketInvalid`]: use the newest ticket, check the
    /// command callback), 40080 / 40083 (suite secret / id).
    pub async fn get_suite_token(
        &self,
        suite_id: &str,
        suite_secret: &Secret,
        suite_ticket: &Secret,
    ) -> Result<SuiteToken, WecomError> {
        require("suite_id", suite_id)?;
        require("suite_secret", suite_secret.expose())?;
        require("suite_ticket", suite_ticket.expose())?;
        self.execute(Endpoint::GetSuiteToken, Replay::Safe, |http, url| {
            http.post(url).json(&SuiteTokenBody {
                suite_id,
                suite_secret: suite_secret.expose(),
                suite_ticket: suite_ticket.expose(),
            })
        })
        .await
    }

    /// Exchanges a third-party app's login code for who logged in
    /// (`GET cgi-bin/service/auth/getuserinfo3rd?suite_access_token=…&code=…`): a member
    /// (`corpid`, `userid`, `open_userid`) or not.
    ///
    /// A code is single use: retried after `-1`, 5xx or a connect failure, never after a
    /// timeout.
    ///
    /// # Errors
    ///
    /// 40029 (code), 40082 / 42009 (refetch the suite token), 41030 (the corp has not
    /// authorized the suite), 50001 (redirect domain).
    pub async fn getuserinfo3rd(
        &self,
        suite_access_token: &Secret,
        code: &str,
    ) -> Result<SuiteUser, WecomError> {
        require("suite_access_token", suite_access_token.expose())?;
        require("code", code)?;
        let raw: RawSuiteUser = self
            .execute(
                Endpoint::GetUserInfo3rd,
                Replay::OnlyIfUnsent,
                |http, url| {
                    http.get(url).query(&[
                        ("suite_access_token", suite_access_token.expose()),
                        ("code", code),
                    ])
                },
            )
            .await?;
        raw.into_user(Endpoint::GetUserInfo3rd.path())
    }

    /// Reads a member's sensitive fields for a third-party app
    /// (`POST cgi-bin/service/auth/getuserdetail3rd?suite_access_token=…`, `{"user_ticket"}`).
    ///
    /// Retried on every temporary failure.
    ///
    /// # Errors
    ///
    /// 40082 / 42009 (refetch the suite token), 41030 (not authorized).
    pub async fn getuserdetail3rd(
        &self,
        suite_access_token: &Secret,
        user_ticket: &Secret,
    ) -> Result<UserDetail3rd, WecomError> {
        require("suite_access_token", suite_access_token.expose())?;
        require("user_ticket", user_ticket.expose())?;
        self.execute(Endpoint::GetUserDetail3rd, Replay::Safe, |http, url| {
            http.post(url)
                .query(&[("suite_access_token", suite_access_token.expose())])
                .json(&UserTicketBody {
                    user_ticket: user_ticket.expose(),
                })
        })
        .await
    }

    /// The desktop login page (`wwlogin/sso/login`) to redirect a browser outside the WeCom
    /// client to: `login_type=CorpApp` with the CorpID and AgentID, or `ServiceApp` with the
    /// SuiteID. `lang` is `Some("zh")` or `Some("en")`.
    ///
    /// ```
    /// use wecom_client::{SsoApp, WecomClient};
    ///
    /// let url = WecomClient::new().sso_login_url(
    ///     SsoApp::Corp { corp_id: "wwCORP", agent_id: "1000002" },
    ///     "https://app.example.com/cb",
    ///     "s1",
    ///     None,
    /// );
    /// assert_eq!(
    ///     url,
    ///     "https://login.work.weixin.qq.com/wwlogin/sso/login?login_type=CorpApp&appid=wwCORP\
    ///      &agentid=1000002&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&state=s1",
    /// );
    /// ```
    pub fn sso_login_url(
        &self,
        app: SsoApp<'_>,
        redirect_uri: &str,
        state: &str,
        lang: Option<&str>,
    ) -> String {
        urls::sso_login_url(&self.inner.login_base, app, redirect_uri, state, lang)
    }

    /// The in-app OAuth page (`connect/oauth2/authorize … #wechat_redirect`) for a browser
    /// inside the WeCom client: `appid` is the CorpID (with the app's `agent_id`, required for
    /// [`WecomScope::PrivateInfo`]) or a third-party app's SuiteID (no agent id).
    ///
    /// ```
    /// use wecom_client::{WecomClient, WecomScope};
    ///
    /// let url = WecomClient::new().oauth2_authorize_url(
    ///     "wwCORP", "https://app.example.com/cb", WecomScope::Base, "s1", Some("1000002"));
    /// assert!(url.ends_with("&scope=snsapi_base&state=s1&agentid=1000002#wechat_redirect"));
    /// ```
    pub fn oauth2_authorize_url(
        &self,
        appid: &str,
        redirect_uri: &str,
        scope: WecomScope,
        state: &str,
        agent_id: Option<&str>,
    ) -> String {
        urls::oauth2_authorize_url(
            &self.inner.open_base,
            appid,
            redirect_uri,
            scope,
            state,
            agent_id,
        )
    }
}

/// Refuses an empty parameter before anything is sent (the message names the parameter only).
fn require(name: &str, value: &str) -> Result<(), WecomError> {
    if value.trim().is_empty() {
        Err(WecomError::InvalidRequest(format!("`{name}` is empty")))
    } else {
        Ok(())
    }
}

/// Settings for a [`WecomClient`]; start with [`WecomClient::builder`].
#[derive(Debug, Clone)]
pub struct WecomClientBuilder {
    // Each base is checked when it is set: `build` uses what was checked, never a string.
    api_base: Result<BaseUrl, BaseUrlError>,
    login_base: Result<BaseUrl, BaseUrlError>,
    open_base: Result<BaseUrl, BaseUrlError>,
    connect_timeout: Duration,
    timeout: Duration,
    max_retries: u32,
    retry_backoff: Duration,
    user_agent: String,
}

impl Default for WecomClientBuilder {
    fn default() -> Self {
        Self {
            api_base: BaseUrl::parse(DEFAULT_API_BASE),
            login_base: BaseUrl::parse(DEFAULT_LOGIN_BASE),
            open_base: BaseUrl::parse(DEFAULT_OPEN_BASE),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            retry_backoff: DEFAULT_RETRY_BACKOFF,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
        }
    }
}

impl WecomClientBuilder {
    /// The server API base (default `https://qyapi.weixin.qq.com`). A path prefix is kept.
    pub fn with_api_base(mut self, url: impl Into<String>) -> Self {
        self.api_base = BaseUrl::parse(&url.into());
        self
    }

    /// The desktop login base (default `https://login.work.weixin.qq.com`).
    pub fn with_login_base(mut self, url: impl Into<String>) -> Self {
        self.login_base = BaseUrl::parse(&url.into());
        self
    }

    /// The in-app OAuth base (default `https://open.weixin.qq.com`).
    pub fn with_open_base(mut self, url: impl Into<String>) -> Self {
        self.open_base = BaseUrl::parse(&url.into());
        self
    }

    /// Sets the base URLs to values already checked with [`BaseUrl::parse`]; `None` keeps the
    /// current one.
    ///
    /// ```
    /// use wecom_client::{BaseUrl, WecomClient};
    ///
    /// let api = BaseUrl::parse("http://127.0.0.1:9000/qyapi")?;
    /// let c = WecomClient::builder().with_base_urls(Some(api), None, None).build()?;
    /// assert_eq!(c.api_base().as_str(), "http://127.0.0.1:9000/qyapi/");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_base_urls(
        mut self,
        api: Option<BaseUrl>,
        login: Option<BaseUrl>,
        open: Option<BaseUrl>,
    ) -> Self {
        for (slot, base) in [
            (&mut self.api_base, api),
            (&mut self.login_base, login),
            (&mut self.open_base, open),
        ] {
            if let Some(base) = base {
                *slot = Ok(base);
            }
        }
        self
    }

    /// Takes the base URLs from `WECHAT_WECOM_API_BASE`, `WECHAT_WECOM_LOGIN_BASE` and
    /// `WECHAT_OPEN_BASE` when set and non-empty; others keep their current value.
    pub fn with_bases_from_env(self) -> Self {
        self.with_bases_from(|name| std::env::var(name).ok())
    }

    fn with_bases_from(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("WECHAT_WECOM_API_BASE") {
            self.api_base = BaseUrl::parse(&v);
        }
        if let Some(v) = get("WECHAT_WECOM_LOGIN_BASE") {
            self.login_base = BaseUrl::parse(&v);
        }
        if let Some(v) = get("WECHAT_OPEN_BASE") {
            self.open_base = BaseUrl::parse(&v);
        }
        self
    }

    /// How long establishing a connection may take (default 3 s).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one attempt may take, from sending to the last body byte (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many times a temporary failure is retried (default 2, i.e. 3 attempts; 0 disables).
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The first wait before a retry (default 100 ms); it doubles each time, up to 10 s, with
    /// up to 25 % random jitter.
    pub fn with_retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// The `User-Agent` header (default `wechat-auth/<version>`).
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// [`WecomError::InvalidConfig`] when a base URL is not an absolute `http`/`https` URL
    /// without query, fragment or credentials, when a timeout is zero, or when the HTTP client
    /// cannot be created.
    ///
    /// ```
    /// let err = wecom_client::WecomClient::builder().with_api_base("nope").build().unwrap_err();
    /// assert!(err.to_string().contains("API base URL"));
    /// ```
    pub fn build(self) -> Result<WecomClient, WecomError> {
        let invalid = |which: &str, e: BaseUrlError| {
            WecomError::InvalidConfig(format!("the {which} base URL {e}"))
        };
        let api_base = self
            .api_base
            .map_err(|e| invalid("API", e))?
            .as_url()
            .clone();
        let login_base = self
            .login_base
            .map_err(|e| invalid("login", e))?
            .as_url()
            .clone();
        let open_base = self
            .open_base
            .map_err(|e| invalid("open", e))?
            .as_url()
            .clone();
        let http = wechat_auth_client::transport_kit::http_client(
            self.connect_timeout,
            self.timeout,
            &self.user_agent,
        )
        .map_err(WecomError::InvalidConfig)?;
        Ok(WecomClient {
            inner: Arc::new(Inner {
                http,
                api_base,
                login_base,
                open_base,
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

#[cfg(test)]
mod tests;
