//! [`WechatConfig`]: which WeChat apps to use, how sessions are signed, and the layer's knobs.
//!
//! Build it in code with [`WechatConfig::builder`] or from the environment with
//! [`WechatConfig::from_env`]. [`WechatConfigBuilder::build`] refuses settings that cannot
//! work, with a message that says what to fix.
//!
//! ```
//! use wechat_auth::WechatConfig;
//!
//! let cfg = WechatConfig::builder()
//!     .with_public_url("https://example.com")
//!     .with_session_secret("a-session-secret-of-at-least-32-bytes!!")
//!     .with_website_app("wx1000000000000001", "website-app-secret")
//!     .build()?;
//! assert_eq!(cfg.redirect_uri(), "https://example.com/auth/wechat/callback");
//! # Ok::<(), wechat_auth::ConfigError>(())
//! ```

pub(crate) mod builder;
mod checks;
mod douyin;
pub(crate) mod douyin_settings;
mod env;
pub(crate) mod error;
mod message;
pub(crate) mod message_settings;
mod mini_link;
pub(crate) mod mini_link_settings;
mod push;
pub(crate) mod push_settings;
mod validate;
mod wecom;
pub(crate) mod wecom_settings;

use std::{fmt, sync::Arc, time::Duration};

use url::Url;

use wechat_auth_client::{Lang, OaScope, Secret};

use crate::core::store::{BoxFuture, Store};

use crate::core::{guard::PublicPath, limit::ClientIpHeader, login::LoginHook};
use builder::WechatConfigBuilder;
use error::ConfigError;
use push_settings::PushSection;

/// One WeChat app: its AppID and AppSecret.
///
/// ```
/// let app = wechat_auth::AppCredentials::new("wx1000000000000001", "secret");
/// assert_eq!(app.appid(), "wx1000000000000001");
/// assert!(!format!("{app:?}").contains("secret\""));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppCredentials {
    appid: String,
    secret: Secret,
}

impl AppCredentials {
    /// An app's id and secret.
    ///
    /// ```
    /// let app = wechat_auth::AppCredentials::new("wx1", "s");
    /// assert_eq!(app.secret().expose(), "s");
    /// ```
    pub fn new(appid: impl Into<String>, secret: impl Into<Secret>) -> Self {
        Self {
            appid: appid.into(),
            secret: secret.into(),
        }
    }

    /// The AppID.
    ///
    /// ```
    /// assert_eq!(wechat_auth::AppCredentials::new("wx1", "s").appid(), "wx1");
    /// ```
    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// The AppSecret (never printed by `Debug`).
    ///
    /// ```
    /// assert_eq!(format!("{:?}", wechat_auth::AppCredentials::new("wx1", "s").secret()), "Secret(***)");
    /// ```
    pub fn secret(&self) -> &Secret {
        &self.secret
    }
}

/// The Official Account: credentials, web-authorization scope, and push settings.
///
/// ```
/// use wechat_auth::{client::OaScope, OfficialAccount};
/// let oa = OfficialAccount::new("wx2000000000000002", "secret").with_scope(OaScope::Base);
/// assert_eq!(oa.scope(), OaScope::Base);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfficialAccount {
    app: AppCredentials,
    scope: OaScope,
    push_token: Option<Secret>,
    encoding_aes_key: Option<Secret>,
    insecure_plaintext_push: bool,
}

impl OfficialAccount {
    /// An Official Account with the `snsapi_userinfo` scope and no push settings.
    ///
    /// ```
    /// let oa = wechat_auth::OfficialAccount::new("wx2", "s");
    /// assert_eq!(oa.app().appid(), "wx2");
    /// ```
    pub fn new(appid: impl Into<String>, secret: impl Into<Secret>) -> Self {
        Self {
            app: AppCredentials::new(appid, secret),
            scope: OaScope::UserInfo,
            push_token: None,
            encoding_aes_key: None,
            insecure_plaintext_push: false,
        }
    }

    /// Sets the web-authorization scope.
    ///
    /// ```
    /// use wechat_auth::client::OaScope;
    /// let oa = wechat_auth::OfficialAccount::new("wx2", "s").with_scope(OaScope::Base);
    /// assert_eq!(oa.scope(), OaScope::Base);
    /// ```
    pub fn with_scope(mut self, scope: OaScope) -> Self {
        self.scope = scope;
        self
    }

    /// Sets the push URL token and, for safe mode, the EncodingAESKey.
    ///
    /// ```
    /// let oa = wechat_auth::OfficialAccount::new("wx2", "s")
    ///     .with_push("mocktoken", Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"));
    /// assert!(oa.push_token().is_some());
    /// ```
    pub fn with_push(mut self, token: impl Into<Secret>, encoding_aes_key: Option<&str>) -> Self {
        self.push_token = Some(token.into());
        self.encoding_aes_key = encoding_aes_key.map(Secret::new);
        self
    }

    /// The credentials.
    ///
    /// ```
    /// assert_eq!(wechat_auth::OfficialAccount::new("wx2", "s").app().appid(), "wx2");
    /// ```
    pub fn app(&self) -> &AppCredentials {
        &self.app
    }

    /// The web-authorization scope.
    ///
    /// ```
    /// use wechat_auth::client::OaScope;
    /// assert_eq!(wechat_auth::OfficialAccount::new("wx2", "s").scope(), OaScope::UserInfo);
    /// ```
    pub fn scope(&self) -> OaScope {
        self.scope
    }

    /// The push URL token.
    ///
    /// ```
    /// assert!(wechat_auth::OfficialAccount::new("wx2", "s").push_token().is_none());
    /// ```
    pub fn push_token(&self) -> Option<&Secret> {
        self.push_token.as_ref()
    }

    /// The EncodingAESKey (safe mode), if set.
    ///
    /// ```
    /// assert!(wechat_auth::OfficialAccount::new("wx2", "s").encoding_aes_key().is_none());
    /// ```
    pub fn encoding_aes_key(&self) -> Option<&Secret> {
        self.encoding_aes_key.as_ref()
    }

    /// Whether plaintext (unauthenticated) push was explicitly allowed with
    /// [`WechatConfigBuilder::with_insecure_plaintext_push`].
    ///
    /// ```
    /// assert!(!wechat_auth::OfficialAccount::new("wx2", "s").insecure_plaintext_push());
    /// ```
    pub fn insecure_plaintext_push(&self) -> bool {
        self.insecure_plaintext_push
    }
}

/// Where the Official Account's global access token comes from.
///
/// ```
/// assert_eq!(wechat_auth::GlobalTokenSource::default(), wechat_auth::GlobalTokenSource::Stable);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum GlobalTokenSource {
    /// `cgi-bin/stable_token`: the same token for every caller while valid (recommended).
    #[default]
    Stable,
    /// `cgi-bin/token`: every fetch invalidates the previous token after 5 minutes.
    Classic,
}

/// What [`WechatConfig::check_store`] does when the store does not answer at start
/// (`WECHAT_REDIS_START`, [`WechatConfigBuilder::with_redis_start`]).
///
/// ```
/// assert_eq!(wechat_auth::RedisStart::default(), wechat_auth::RedisStart::Check);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisStart {
    /// `check` (default): the check fails with a message naming the store (its URL, the
    /// password hidden) and what went wrong; the app should not start.
    #[default]
    Check,
    /// `retry`: the check logs the failure at error level and succeeds; a background task
    /// checks again every few seconds, logging at error level each time, until the store
    /// answers. Until then the layer answers 503 where it needs the store.
    Retry,
}

/// The Redis store [`WechatConfig::check_store`] checks by its own rules (version, URL in
/// the message), when the config made it.
#[cfg(feature = "redis")]
pub(crate) type StartCheck = Option<crate::core::store::RedisStore>;
#[cfg(not(feature = "redis"))]
pub(crate) type StartCheck = Option<std::convert::Infallible>;

/// How often [`RedisStart::Retry`] checks a store that did not answer, at most.
const START_RETRY_MAX: Duration = Duration::from_secs(30);

/// The default of [`WechatConfigBuilder::with_body_timeout`].
pub(crate) const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// `WECHAT_OA_SCOPE` for [`OaScope::BaseThenUserinfo`].
pub(crate) const OA_SCOPE_BASE_THEN_USERINFO: &str = "snsapi_base_then_userinfo";

const HOST_PREFIX: &str = "__Host-";
const SECURE_PREFIX: &str = "__Secure-";

/// The one rule for the names of the layer's cookies (session, state, scan).
///
/// A cookie a sibling subdomain (`Domain=example.com`) or a plain-http page sets can shadow
/// or stand in for ours, unless its name carries a prefix browsers enforce: `__Host-` (only
/// from a secure origin, `Secure`, `Path=/`, no `Domain`) when our cookies are host-only,
/// `__Secure-` (only from a secure origin, `Secure`) when a cookie domain is configured.
/// Plain http (local development) cannot use either, so its names stay plain.
pub(crate) fn cookie_name_prefix(secure: bool, domain: Option<&str>) -> &'static str {
    match (secure, domain) {
        (true, None) => HOST_PREFIX,
        (true, Some(_)) => SECURE_PREFIX,
        (false, _) => "",
    }
}

/// The layer's configuration. Build it with [`WechatConfig::builder`] or
/// [`WechatConfig::from_env`].
///
/// ```
/// let cfg = wechat_auth::WechatConfig::builder()
///     .with_public_url("http://127.0.0.1:3000")
///     .with_session_secret("0123456789abcdef0123456789abcdef")
///     .with_mini_program("wx4000000000000004", "mini-secret")
///     .build()?;
/// assert!(cfg.mini_program().is_some());
/// assert!(!format!("{cfg:?}").contains("mini-secret"));
/// # Ok::<(), wechat_auth::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct WechatConfig {
    pub(crate) public_url: Url,
    pub(crate) origin: String,
    /// The public URL's host (`build` refuses one without), as pages and replies name the site.
    pub(crate) public_host: String,
    pub(crate) secure_cookies: bool,
    pub(crate) session_keys: Vec<Secret>,
    pub(crate) website: Option<AppCredentials>,
    pub(crate) official_account: Option<OfficialAccount>,
    pub(crate) mobile: Option<AppCredentials>,
    pub(crate) mini_program: Option<AppCredentials>,
    /// The WeChat client, made once by `build` from the checked base URLs and timeout
    /// (shared by every clone).
    pub(crate) client: wechat_auth_client::WechatClient,
    pub(crate) prefix: String,
    pub(crate) public_paths: Vec<PublicPath>,
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) cookie_name: String,
    pub(crate) cookie_domain: Option<String>,
    /// What every cookie name of the layer starts with (see [`cookie_name_prefix`]).
    pub(crate) cookie_prefix: &'static str,
    /// The session cookie's name as sent: `cookie_name` with [`Self::cookie_prefix`].
    pub(crate) session_cookie: String,
    /// How long reading one request body may take.
    pub(crate) body_timeout: Duration,
    pub(crate) session_ttl: Duration,
    pub(crate) session_max_lifetime: Duration,
    pub(crate) client_ip_header: Option<ClientIpHeader>,
    /// What [`WechatConfig::check_store`] does when the store does not answer.
    pub(crate) redis_start: RedisStart,
    /// The Redis store made from `WECHAT_REDIS_URL`, for its own start check.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) redis: StartCheck,
    pub(crate) state_ttl: Duration,
    pub(crate) userinfo_ttl: Duration,
    pub(crate) scan_ttl: Duration,
    pub(crate) lang: Lang,
    pub(crate) global_token_source: GlobalTokenSource,
    pub(crate) http_timeout: Duration,
    pub(crate) on_login: Option<LoginHook>,
    pub(crate) token_provider: Option<Arc<dyn TokenProvider>>,
    /// The mini program page a mini program code opens (`page`), and which version.
    pub(crate) mini_code_page: Option<String>,
    pub(crate) mini_code_env: Option<String>,
    /// The mini program link phone browsers outside WeChat open (`via=link`).
    pub(crate) mini_link: mini_link_settings::MiniLink,
    pub(crate) store: Arc<dyn Store>,
    /// The hub's relay endpoint this site's logins go through (`with_relay_hub`).
    pub(crate) relay_hub: Option<Url>,
    /// The callback URLs (origin and path) this site relays logins to, as a hub
    /// (`with_relay_target`).
    pub(crate) relay_targets: Vec<String>,
    /// The push URL's signature and crypto, made by `build` when the Official Account has a
    /// push token (shared by every clone).
    pub(crate) push: Option<Arc<crate::push::PushCrypto>>,
    /// The push URL beyond login (hook, forwarding) and the guards of scan login.
    pub(crate) push_settings: PushSection,
    /// Message-code login: whether the Official Account is verified, its name and QR image.
    pub(crate) message: message_settings::MessageSection,
    /// The hook that renders the HTML pages, and their language when fixed.
    pub(crate) pages: Arc<dyn crate::core::pages::Pages>,
    pub(crate) language: Option<crate::core::pages::Language>,
    /// The embedded QR's CSS (`href` of wxLogin.js).
    pub(crate) embed_css: Option<String>,
    /// WeCom (企业微信): its apps, its suite and its client.
    pub(crate) wecom: wecom_settings::WecomSection,
    /// The Douyin section (`None`: no Douyin app).
    pub(crate) douyin: Option<douyin_settings::DouyinSettings>,
}

impl fmt::Debug for WechatConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatConfig")
            .field("public_url", &self.public_url.as_str())
            .field("session_keys", &self.session_keys.len())
            .field("website", &self.website)
            .field("official_account", &self.official_account)
            .field("mobile", &self.mobile)
            .field("mini_program", &self.mini_program)
            .field("client", &self.client)
            .field("prefix", &self.prefix)
            .field("public_paths", &self.public_paths)
            .field("allowed_origins", &self.allowed_origins)
            .field("cookie_name", &self.cookie_name)
            .field("session_ttl", &self.session_ttl)
            .field("session_max_lifetime", &self.session_max_lifetime)
            .field("on_login", &self.on_login.is_some())
            .field("token_provider", &self.token_provider.is_some())
            .field("store", &self.store)
            .field("relay_hub", &self.relay_hub.as_ref().map(Url::as_str))
            .field("relay_targets", &self.relay_targets)
            .field("message", &self.message)
            .field("mini_link", &self.mini_link)
            .finish_non_exhaustive()
    }
}

impl WechatConfig {
    /// The apps that call WeChat with a global access token (the Official Account's, the
    /// mini program's): the sections that have one, so the token service knows them by AppID.
    pub(crate) fn global_token_apps(&self) -> impl Iterator<Item = &AppCredentials> {
        self.official_account
            .as_ref()
            .map(OfficialAccount::app)
            .into_iter()
            .chain(self.mini_program.as_ref())
    }

    /// Checks that the store answers; call it at start, before serving. With the Redis
    /// store this connects, checks the server's version, and names the URL (password
    /// hidden) in the error; any other store is asked for one key.
    ///
    /// What a failure does depends on [`RedisStart`] (`WECHAT_REDIS_START`): by default
    /// the error is returned (end `main` with it: exit status 1 and the message); with
    /// [`RedisStart::Retry`] it is logged at error level, `Ok` is returned, and a
    /// background task (on the current Tokio runtime) keeps checking, logging each failure
    /// at error level, until the store answers.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let cfg = wechat_auth::WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .build()?;
    /// cfg.check_store().await?; // the in-process store always answers
    /// # Ok(()) }
    /// ```
    pub async fn check_store(&self) -> Result<(), crate::core::store::StoreError> {
        let Err(e) = self.probe_store().await else {
            return Ok(());
        };
        match self.redis_start {
            RedisStart::Check => Err(e),
            RedisStart::Retry => {
                tracing::error!(error = %e, "the store does not answer; starting anyway (WECHAT_REDIS_START=retry), retrying");
                let cfg = self.clone();
                tokio::spawn(async move {
                    let mut wait = Duration::from_secs(1);
                    loop {
                        tokio::time::sleep(wait).await;
                        match cfg.probe_store().await {
                            Ok(()) => {
                                tracing::info!("the store answers now");
                                return;
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "the store still does not answer; retrying")
                            }
                        }
                        wait = (wait * 2).min(START_RETRY_MAX);
                    }
                });
                Ok(())
            }
        }
    }

    /// One check of the store.
    async fn probe_store(&self) -> Result<(), crate::core::store::StoreError> {
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.redis {
            return redis.check().await;
        }
        self.store
            .get("wechat-auth:start-check")
            .await
            .map(drop)
            .map_err(|e| {
                crate::core::store::StoreError::unavailable(format!(
                    "the store {:?} does not answer: {e}",
                    self.store
                ))
            })
    }

    /// What [`check_store`](Self::check_store) does when the store does not answer.
    ///
    /// ```
    /// let cfg = wechat_auth::WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .build()?;
    /// assert_eq!(cfg.redis_start(), wechat_auth::RedisStart::Check);
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn redis_start(&self) -> RedisStart {
        self.redis_start
    }

    /// A builder with every setting at its default.
    ///
    /// ```
    /// use wechat_auth::{ConfigError, WechatConfig};
    ///
    /// // Nothing is set: the first thing `build` asks for is the public URL.
    /// assert_eq!(WechatConfig::builder().build().unwrap_err(), ConfigError::MissingPublicUrl);
    /// ```
    pub fn builder() -> WechatConfigBuilder {
        WechatConfigBuilder::default()
    }

    /// Reads the configuration from `WECHAT_*` environment variables (see the crate docs'
    /// table); unset channels are off.
    ///
    /// ```no_run
    /// let cfg = wechat_auth::WechatConfig::from_env()?;
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn from_env() -> Result<Self, ConfigError> {
        WechatConfigBuilder::from_env()?.build()
    }

    /// The `redirect_uri` WeChat sends people back to: the public URL plus
    /// `PREFIX/callback`. Its host is what the WeChat console's callback domain must be.
    ///
    /// ```
    /// let cfg = wechat_auth::WechatConfig::builder()
    ///     .with_public_url("https://example.com/")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1", "s")
    ///     .build()?;
    /// assert_eq!(cfg.redirect_uri(), "https://example.com/auth/wechat/callback");
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn redirect_uri(&self) -> String {
        self.callback_uri(None)
    }

    /// The `redirect_uri` of a login shown as `display` (`popup`, `iframe`): the callback
    /// with `?display=…`, inside the hub's `to` when logins go through a relay hub (which
    /// passes exactly that query on).
    pub(crate) fn callback_uri(&self, display: Option<&str>) -> String {
        let mut callback = format!("{}{}/callback", self.origin, self.prefix);
        if let Some(display) = display {
            callback.push_str("?display=");
            callback.push_str(display);
        }
        match &self.relay_hub {
            // Through the hub (`with_relay_hub`): its host is the registered callback domain.
            Some(hub) => format!(
                "{hub}?to={}",
                form_urlencoded::byte_serialize(callback.as_bytes()).collect::<String>()
            ),
            None => callback,
        }
    }

    /// The external origin, e.g. `https://example.com`.
    ///
    /// ```
    /// # let cfg = wechat_auth::WechatConfig::builder().with_public_url("https://example.com")
    /// #     .with_session_secret("0123456789abcdef0123456789abcdef").with_website_app("wx1", "s").build()?;
    /// assert_eq!(cfg.origin(), "https://example.com");
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The path prefix of the layer's own endpoints (default `/auth/wechat`).
    ///
    /// ```
    /// # let cfg = wechat_auth::WechatConfig::builder().with_public_url("https://example.com")
    /// #     .with_session_secret("0123456789abcdef0123456789abcdef").with_website_app("wx1", "s").build()?;
    /// assert_eq!(cfg.prefix(), "/auth/wechat");
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The website app, if configured.
    ///
    /// ```
    /// # let cfg = wechat_auth::WechatConfig::builder().with_public_url("https://example.com")
    /// #     .with_session_secret("0123456789abcdef0123456789abcdef").with_website_app("wx1", "s").build()?;
    /// assert_eq!(cfg.website().map(|a| a.appid()), Some("wx1"));
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn website(&self) -> Option<&AppCredentials> {
        self.website.as_ref()
    }

    /// The Official Account, if configured.
    ///
    /// ```
    /// # let cfg = wechat_auth::WechatConfig::builder().with_public_url("https://example.com")
    /// #     .with_session_secret("0123456789abcdef0123456789abcdef").with_website_app("wx1", "s").build()?;
    /// assert!(cfg.official_account().is_none());
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn official_account(&self) -> Option<&OfficialAccount> {
        self.official_account.as_ref()
    }

    /// The mobile app, if configured.
    ///
    /// ```
    /// # let cfg = wechat_auth::WechatConfig::builder().with_public_url("https://example.com")
    /// #     .with_session_secret("0123456789abcdef0123456789abcdef").with_website_app("wx1", "s").build()?;
    /// assert!(cfg.mobile().is_none());
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn mobile(&self) -> Option<&AppCredentials> {
        self.mobile.as_ref()
    }

    /// The mini program, if configured.
    ///
    /// ```
    /// # let cfg = wechat_auth::WechatConfig::builder().with_public_url("https://example.com")
    /// #     .with_session_secret("0123456789abcdef0123456789abcdef").with_website_app("wx1", "s").build()?;
    /// assert!(cfg.mini_program().is_none());
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn mini_program(&self) -> Option<&AppCredentials> {
        self.mini_program.as_ref()
    }

    /// The mini program link phone browsers outside WeChat open
    /// ([`with_mini_link`](WechatConfigBuilder::with_mini_link)).
    ///
    /// ```
    /// # let cfg = wechat_auth::WechatConfig::builder().with_public_url("https://example.com")
    /// #     .with_session_secret("0123456789abcdef0123456789abcdef").with_mini_program("wx4", "s").build()?;
    /// assert_eq!(cfg.mini_link(), wechat_auth::MiniLink::UrlLink);
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn mini_link(&self) -> mini_link_settings::MiniLink {
        self.mini_link
    }

    /// The push URL's crypto, when the Official Account has a push token: built and checked
    /// once by [`WechatConfigBuilder::build`].
    /// The origin of the open-platform base (`https://open.weixin.qq.com`, or the mock's):
    /// what a page hosting the embedded QR must allow in its `frame-src`.
    ///
    /// ```
    /// let cfg = wechat_auth::WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .build()?;
    /// assert_eq!(cfg.open_platform_origin(), "https://open.weixin.qq.com");
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn open_platform_origin(&self) -> String {
        self.client().open_base().origin().ascii_serialization()
    }

    pub(crate) fn push_crypto(&self) -> Option<&Arc<crate::push::PushCrypto>> {
        self.push.as_ref()
    }

    /// The WeChat client these settings describe (base URLs, timeout), made once by `build`.
    pub(crate) fn client(&self) -> &wechat_auth_client::WechatClient {
        &self.client
    }

    /// The name of the session cookie as browsers see it: the configured name, prefixed
    /// `__Host-` on an https site without a cookie domain and `__Secure-` on an https site
    /// with one (so a sibling subdomain or a plain-http page cannot set or shadow it), and
    /// unprefixed on plain http (local development).
    ///
    /// ```
    /// # let b = || wechat_auth::WechatConfig::builder()
    /// #     .with_session_secret("0123456789abcdef0123456789abcdef").with_website_app("wx1", "s");
    /// let https = b().with_public_url("https://example.com").build()?;
    /// assert_eq!(https.session_cookie_name(), "__Host-wechat_session");
    /// let shared = b().with_public_url("https://example.com").with_cookie_domain("example.com").build()?;
    /// assert_eq!(shared.session_cookie_name(), "__Secure-wechat_session");
    /// let dev = b().with_public_url("http://127.0.0.1:3000").build()?;
    /// assert_eq!(dev.session_cookie_name(), "wechat_session");
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn session_cookie_name(&self) -> &str {
        &self.session_cookie
    }

    /// The `Path` of the layer's short-lived cookies: the endpoint prefix, except under
    /// `__Host-`, which requires `Path=/`.
    pub(crate) fn flow_cookie_path(&self) -> &str {
        if self.cookie_prefix == HOST_PREFIX {
            "/"
        } else {
            &self.prefix
        }
    }

    /// The session lifetime.
    ///
    /// ```
    /// # let cfg = wechat_auth::WechatConfig::builder().with_public_url("https://example.com")
    /// #     .with_session_secret("0123456789abcdef0123456789abcdef").with_website_app("wx1", "s").build()?;
    /// assert_eq!(cfg.session_ttl().as_secs(), 7 * 24 * 3600);
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn session_ttl(&self) -> Duration {
        self.session_ttl
    }

    /// The absolute lifetime of a login, refreshes included.
    ///
    /// ```
    /// # let cfg = wechat_auth::WechatConfig::builder().with_public_url("https://example.com")
    /// #     .with_session_secret("0123456789abcdef0123456789abcdef").with_website_app("wx1", "s").build()?;
    /// assert_eq!(cfg.session_max_lifetime().as_secs(), 30 * 24 * 3600);
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn session_max_lifetime(&self) -> Duration {
        self.session_max_lifetime
    }
}
/// Where an app's global access token comes from when another system owns it (a central
/// token service, a gateway): the layer asks this provider instead of WeChat, for every app
/// it serves ([`with_token_provider`](WechatConfigBuilder::with_token_provider)). Fetching
/// a token yourself with `cgi-bin/token` would log that system's token out.
///
/// ```
/// use wechat_auth::{Secret, TokenProvider, store::BoxFuture};
///
/// #[derive(Debug)]
/// struct Central;
///
/// impl TokenProvider for Central {
///     fn access_token<'a>(
///         &'a self,
///         appid: &'a str,
///         refused: Option<&'a Secret>,
///     ) -> BoxFuture<'a, Result<Secret, Box<dyn std::error::Error + Send + Sync>>> {
///         // Ask the token service; `refused` is the token WeChat just refused, if any.
///         let _ = refused;
///         Box::pin(async move { Ok(Secret::new(format!("token-of-{appid}"))) })
///     }
/// }
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let t = Central.access_token("wx1", None).await.unwrap();
/// assert_eq!(t.expose(), "token-of-wx1");
/// # }
/// ```
pub trait TokenProvider: Send + Sync + fmt::Debug + 'static {
    /// The current global access token of `appid`. `refused` is the token WeChat has just
    /// refused (40001, 42001), when the layer asks again for that reason: return a newer one.
    fn access_token<'a>(
        &'a self,
        appid: &'a str,
        refused: Option<&'a Secret>,
    ) -> BoxFuture<'a, Result<Secret, Box<dyn std::error::Error + Send + Sync>>>;
}
