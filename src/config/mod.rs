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

use std::{fmt, future::Future, sync::Arc, time::Duration};

use url::Url;

use crate::{
    Secret, WechatUser,
    client::{Lang, OaScope},
    store::{BoxFuture, Store},
};

/// Why a configuration was refused. Every message names the setting to fix.
///
/// ```
/// let err = wechat_auth::WechatConfig::builder().build().unwrap_err();
/// assert!(err.to_string().contains("WECHAT_PUBLIC_URL"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No public URL.
    #[error(
        "no public URL: set WECHAT_PUBLIC_URL (or with_public_url) to the site's external origin, e.g. https://example.com"
    )]
    MissingPublicUrl,
    /// The public URL is not an absolute http(s) origin.
    #[error(
        "public URL {url:?} is not usable: {why}; give the site's external origin, e.g. https://example.com"
    )]
    InvalidPublicUrl {
        /// The value given.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// No session signing key.
    #[error(
        "no session secret: set WECHAT_SESSION_SECRET (or with_session_secret) to at least 32 random bytes"
    )]
    MissingSessionSecret,
    /// A session signing key is too short to be safe.
    #[error(
        "session secret #{index} is {len} bytes long; each key must have at least 32 bytes (e.g. `openssl rand -base64 48`)"
    )]
    ShortSessionSecret {
        /// Position of the key in the ring (0 = the signing key).
        index: usize,
        /// Its length in bytes.
        len: usize,
    },
    /// No channel is configured.
    #[error(
        "no WeChat channel is configured: set at least one app (WECHAT_WEBSITE_APP_ID, WECHAT_OA_APP_ID, WECHAT_MOBILE_APP_ID or WECHAT_MINI_APP_ID, each with its secret)"
    )]
    NoChannel,
    /// An app has an id but no secret, or the other way round.
    #[error("the {channel} app has {has} but no {missing}: set {var}")]
    IncompleteApp {
        /// Which app.
        channel: &'static str,
        /// What was given.
        has: &'static str,
        /// What is missing.
        missing: &'static str,
        /// The environment variable that sets it.
        var: &'static str,
    },
    /// The Official Account scope is not one WeChat knows.
    #[error("WECHAT_OA_SCOPE is {0:?}; use snsapi_base or snsapi_userinfo")]
    InvalidScope(String),
    /// The EncodingAESKey is not 43 characters of `[A-Za-z0-9]`.
    #[error(
        "WECHAT_OA_ENCODING_AES_KEY must be the 43 letters and digits shown in the Official Account console (got {len} characters)"
    )]
    InvalidAesKey {
        /// The length given.
        len: usize,
    },
    /// An AES key without the push token it belongs with.
    #[error(
        "WECHAT_OA_ENCODING_AES_KEY is set but WECHAT_OA_TOKEN is not: the push URL needs the token to check signatures"
    )]
    AesKeyWithoutToken,
    /// The push token is not what WeChat accepts: 3 to 32 letters and digits.
    #[error(
        "WECHAT_OA_TOKEN must be 3 to 32 letters and digits, as entered in the Official Account console (got {len} characters{})",
        not_alphanumeric_note(*.alphanumeric)
    )]
    InvalidPushToken {
        /// Its length in characters.
        len: usize,
        /// Whether it has only ASCII letters and digits.
        alphanumeric: bool,
    },
    /// A push token without an EncodingAESKey, and plaintext push not opted into: the URL
    /// signature does not cover the body, so anyone who saw one signed push URL could log in
    /// as anybody.
    #[error(
        "WECHAT_OA_TOKEN is set without WECHAT_OA_ENCODING_AES_KEY: set the key and use safe mode (安全模式) in the Official Account console, or, if you really must run plaintext push, opt in with WECHAT_OA_INSECURE_PLAINTEXT_PUSH=1 (with_insecure_plaintext_push(true)); plaintext pushes are not authenticated"
    )]
    PlaintextPushNotAllowed,
    /// A yes/no environment variable has a value that is neither.
    #[error("{var} is {value:?}; use 1 or 0 (true or false)")]
    InvalidFlag {
        /// The variable.
        var: &'static str,
        /// The value given.
        value: String,
    },
    /// The endpoint prefix is not a path.
    #[error(
        "the endpoint prefix {0:?} must start with '/', not end with '/', and not be '/' itself"
    )]
    InvalidPrefix(String),
    /// An allowed redirect origin is not an origin.
    #[error("allowed redirect origin {0:?} is not an http(s) origin like https://shop.example.com")]
    InvalidOrigin(String),
    /// A base URL override is not an absolute URL.
    #[error("{var} is {value:?}, which is not an absolute http(s) URL")]
    InvalidBaseUrl {
        /// The setting.
        var: &'static str,
        /// The value given.
        value: String,
    },
    /// A header name setting is not a valid HTTP header name.
    #[error("{setting} must be a valid HTTP header name such as x-real-ip, not {value:?}")]
    InvalidHeaderName {
        /// The setting.
        setting: &'static str,
        /// What was given.
        value: String,
    },
    /// A duration setting is out of range.
    #[error("{setting} must be between {min} and {max} seconds")]
    InvalidDuration {
        /// The setting.
        setting: &'static str,
        /// Lowest value, seconds.
        min: u64,
        /// Highest value, seconds.
        max: u64,
    },
    /// The Redis store was asked for, but the crate was built without it.
    #[error("WECHAT_REDIS_URL is set but wechat-auth was built without the `redis` feature")]
    RedisFeatureMissing,
    /// The Redis URL cannot be used.
    #[error("WECHAT_REDIS_URL cannot be used: {0}")]
    InvalidRedisUrl(String),
}

fn not_alphanumeric_note(alphanumeric: bool) -> &'static str {
    if alphanumeric {
        ""
    } else {
        ", not all of them letters or digits"
    }
}

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

/// What an `on_login` hook may answer to refuse a login: the message is shown to the person
/// (or returned as JSON to an app), with status 403.
///
/// ```
/// let r = wechat_auth::LoginRefused::new("this account is suspended");
/// assert_eq!(r.message(), "this account is suspended");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("login refused: {message}")]
pub struct LoginRefused {
    message: String,
}

impl LoginRefused {
    /// A refusal with a message for the person.
    ///
    /// ```
    /// let r = wechat_auth::LoginRefused::new("no");
    /// # drop(r);
    /// ```
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message.
    ///
    /// ```
    /// assert_eq!(wechat_auth::LoginRefused::new("no").message(), "no");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The boxed form of an `on_login` hook.
pub(crate) type LoginHook = Arc<
    dyn Fn(WechatUser) -> BoxFuture<'static, Result<Option<String>, LoginRefused>> + Send + Sync,
>;

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

/// The default of [`WechatConfigBuilder::with_body_timeout`].
pub(crate) const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

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
    pub(crate) secure_cookies: bool,
    pub(crate) session_keys: Vec<Secret>,
    pub(crate) website: Option<AppCredentials>,
    pub(crate) official_account: Option<OfficialAccount>,
    pub(crate) mobile: Option<AppCredentials>,
    pub(crate) mini_program: Option<AppCredentials>,
    pub(crate) api_base: Option<String>,
    pub(crate) open_base: Option<String>,
    pub(crate) mp_base: Option<String>,
    pub(crate) prefix: String,
    pub(crate) public_paths: Vec<String>,
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
    pub(crate) client_ip_header: Option<http::HeaderName>,
    pub(crate) state_ttl: Duration,
    pub(crate) userinfo_ttl: Duration,
    pub(crate) scan_ttl: Duration,
    pub(crate) lang: Lang,
    pub(crate) global_token_source: GlobalTokenSource,
    pub(crate) http_timeout: Duration,
    pub(crate) on_login: Option<LoginHook>,
    pub(crate) store: Arc<dyn Store>,
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
            .field("prefix", &self.prefix)
            .field("public_paths", &self.public_paths)
            .field("allowed_origins", &self.allowed_origins)
            .field("cookie_name", &self.cookie_name)
            .field("session_ttl", &self.session_ttl)
            .field("session_max_lifetime", &self.session_max_lifetime)
            .field("on_login", &self.on_login.is_some())
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl WechatConfig {
    /// A builder with every setting at its default.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder();
    /// # drop(b);
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
        format!("{}{}/callback", self.origin, self.prefix)
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

    /// The WeChat client these settings describe (base URLs, timeout).
    pub(crate) fn client(&self) -> crate::client::WechatClient {
        let mut b = crate::client::WechatClient::builder().with_timeout(self.http_timeout);
        if let Some(u) = &self.api_base {
            b = b.with_api_base(u.clone());
        }
        if let Some(u) = &self.open_base {
            b = b.with_open_base(u.clone());
        }
        if let Some(u) = &self.mp_base {
            b = b.with_mp_base(u.clone());
        }
        // The base URLs were checked by `build`, so this cannot fail; stay safe regardless.
        b.build().unwrap_or_else(|e| {
            tracing::error!(error = %e, "invalid WeChat client settings; using the defaults");
            crate::client::WechatClient::new()
        })
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

    /// The name of one of the layer's short-lived cookies (`kind` is `wechat_state_` or
    /// `wechat_scan_`, `id` the state or scan id), with the same prefix as the session
    /// cookie.
    pub(crate) fn flow_cookie_name(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}{id}", self.cookie_prefix)
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

/// Builds a [`WechatConfig`]; every setting is a `with_*` method.
///
/// ```
/// use std::time::Duration;
/// let cfg = wechat_auth::WechatConfig::builder()
///     .with_public_url("https://example.com")
///     .with_session_secret("0123456789abcdef0123456789abcdef")
///     .with_website_app("wx1000000000000001", "secret")
///     .with_session_ttl(Duration::from_secs(3600))
///     .with_public_path("/")
///     .with_public_path("/assets/*")
///     .build()?;
/// # Ok::<(), wechat_auth::ConfigError>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct WechatConfigBuilder {
    public_url: Option<String>,
    session_keys: Vec<Secret>,
    website: Option<(String, Secret)>,
    oa: Option<(String, Secret)>,
    oa_scope: Option<String>,
    oa_token: Option<Secret>,
    oa_aes_key: Option<Secret>,
    oa_insecure_plaintext_push: bool,
    mobile: Option<(String, Secret)>,
    mini: Option<(String, Secret)>,
    api_base: Option<String>,
    open_base: Option<String>,
    mp_base: Option<String>,
    prefix: String,
    public_paths: Vec<String>,
    allowed_origins: Vec<String>,
    cookie_name: String,
    cookie_domain: Option<String>,
    body_timeout: Duration,
    session_ttl: Duration,
    session_max_lifetime: Duration,
    client_ip_header: Option<String>,
    state_ttl: Duration,
    userinfo_ttl: Duration,
    scan_ttl: Duration,
    lang: Lang,
    global_token_source: GlobalTokenSource,
    http_timeout: Duration,
    on_login: Option<LoginHook>,
    store: Option<Arc<dyn Store>>,
    redis_url: Option<Secret>,
}

impl Default for WechatConfigBuilder {
    fn default() -> Self {
        Self {
            public_url: None,
            session_keys: Vec::new(),
            website: None,
            oa: None,
            oa_scope: None,
            oa_token: None,
            oa_aes_key: None,
            oa_insecure_plaintext_push: false,
            mobile: None,
            mini: None,
            api_base: None,
            open_base: None,
            mp_base: None,
            prefix: "/auth/wechat".to_owned(),
            public_paths: Vec::new(),
            allowed_origins: Vec::new(),
            cookie_name: "wechat_session".to_owned(),
            cookie_domain: None,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            session_max_lifetime: Duration::from_secs(30 * 24 * 3600),
            client_ip_header: None,
            state_ttl: Duration::from_secs(10 * 60),
            userinfo_ttl: Duration::from_secs(24 * 3600),
            scan_ttl: Duration::from_secs(5 * 60),
            lang: Lang::ZhCn,
            global_token_source: GlobalTokenSource::Stable,
            http_timeout: Duration::from_secs(10),
            on_login: None,
            store: None,
            redis_url: None,
        }
    }
}

impl fmt::Debug for WechatConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatConfigBuilder")
            .field("public_url", &self.public_url)
            .field("website", &self.website)
            .field("oa", &self.oa)
            .field("mobile", &self.mobile)
            .field("mini", &self.mini)
            .finish_non_exhaustive()
    }
}

/// The Redis store for `url`, connecting on first use.
#[cfg(feature = "redis")]
fn redis_store(url: &Secret) -> Result<Arc<dyn Store>, ConfigError> {
    crate::store::RedisStore::connect_lazy(url.expose())
        .map(|s| Arc::new(s) as Arc<dyn Store>)
        .map_err(|e| ConfigError::InvalidRedisUrl(e.to_string()))
}

#[cfg(not(feature = "redis"))]
fn redis_store(_: &Secret) -> Result<Arc<dyn Store>, ConfigError> {
    Err(ConfigError::RedisFeatureMissing)
}

fn env(var: &str) -> Option<String> {
    std::env::var(var)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A yes/no variable: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off` (any case); unset is no.
fn flag(var: &'static str) -> Result<bool, ConfigError> {
    match env(var) {
        None => Ok(false),
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(ConfigError::InvalidFlag { var, value: v }),
        },
    }
}

fn pair(id: Option<String>, secret: Option<String>) -> Option<(String, Secret)> {
    match (id, secret) {
        (None, None) => None,
        (id, secret) => Some((
            id.unwrap_or_default(),
            Secret::new(secret.unwrap_or_default()),
        )),
    }
}

impl WechatConfigBuilder {
    /// A builder pre-filled from the `WECHAT_*` environment variables, to adjust in code
    /// before [`build`](Self::build).
    ///
    /// ```no_run
    /// let cfg = wechat_auth::WechatConfigBuilder::from_env()?
    ///     .with_public_path("/health")
    ///     .build()?;
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut b = Self {
            public_url: env("WECHAT_PUBLIC_URL"),
            ..Self::default()
        };
        if let Some(keys) = env("WECHAT_SESSION_SECRET") {
            b.session_keys = keys
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(Secret::new)
                .collect();
        }
        b.website = pair(
            env("WECHAT_WEBSITE_APP_ID"),
            env("WECHAT_WEBSITE_APP_SECRET"),
        );
        b.oa = pair(env("WECHAT_OA_APP_ID"), env("WECHAT_OA_APP_SECRET"));
        b.oa_scope = env("WECHAT_OA_SCOPE");
        b.oa_token = env("WECHAT_OA_TOKEN").map(Secret::new);
        b.oa_aes_key = env("WECHAT_OA_ENCODING_AES_KEY").map(Secret::new);
        b.oa_insecure_plaintext_push = flag("WECHAT_OA_INSECURE_PLAINTEXT_PUSH")?;
        b.mobile = pair(env("WECHAT_MOBILE_APP_ID"), env("WECHAT_MOBILE_APP_SECRET"));
        b.mini = pair(env("WECHAT_MINI_APP_ID"), env("WECHAT_MINI_APP_SECRET"));
        b.api_base = env("WECHAT_API_BASE");
        b.open_base = env("WECHAT_OPEN_BASE");
        b.mp_base = env("WECHAT_MP_BASE");
        b.redis_url = env("WECHAT_REDIS_URL").map(Secret::new);
        Ok(b)
    }

    /// The site's external origin, e.g. `https://example.com` (`WECHAT_PUBLIC_URL`). It
    /// builds the `redirect_uri`; `https` makes cookies `Secure`.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder().with_public_url("https://example.com");
    /// # drop(b);
    /// ```
    pub fn with_public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// The session signing key (`WECHAT_SESSION_SECRET`), at least 32 bytes. Replaces any
    /// keys set before.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder()
    ///     .with_session_secret("0123456789abcdef0123456789abcdef");
    /// # drop(b);
    /// ```
    pub fn with_session_secret(mut self, secret: impl Into<Secret>) -> Self {
        self.session_keys = vec![secret.into()];
        self
    }

    /// A key ring: the first key signs, every key verifies. Put a new key first to rotate
    /// without logging anybody out; drop the old one once its sessions have expired.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder().with_session_keys([
    ///     "new-key-0123456789abcdef0123456789abcdef",
    ///     "old-key-0123456789abcdef0123456789abcdef",
    /// ]);
    /// # drop(b);
    /// ```
    pub fn with_session_keys<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Secret>,
    {
        self.session_keys = keys.into_iter().map(Into::into).collect();
        self
    }

    /// The Open Platform website app, for QR login on desktop browsers.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder().with_website_app("wx1000000000000001", "secret");
    /// # drop(b);
    /// ```
    pub fn with_website_app(mut self, appid: impl Into<String>, secret: impl Into<Secret>) -> Self {
        self.website = Some((appid.into(), secret.into()));
        self
    }

    /// The Official Account, for web authorization inside WeChat and for scan login.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder().with_official_account("wx2000000000000002", "secret");
    /// # drop(b);
    /// ```
    pub fn with_official_account(
        mut self,
        appid: impl Into<String>,
        secret: impl Into<Secret>,
    ) -> Self {
        self.oa = Some((appid.into(), secret.into()));
        self
    }

    /// The Official Account's web-authorization scope (`WECHAT_OA_SCOPE`); default
    /// `snsapi_userinfo` (profile and unionid), `snsapi_base` is silent but yields only the
    /// openid.
    ///
    /// ```
    /// use wechat_auth::client::OaScope;
    /// let b = wechat_auth::WechatConfig::builder().with_oa_scope(OaScope::Base);
    /// # drop(b);
    /// ```
    pub fn with_oa_scope(mut self, scope: OaScope) -> Self {
        self.oa_scope = Some(scope.as_str().to_owned());
        self
    }

    /// The Official Account's push URL token and, for safe mode, its EncodingAESKey.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder()
    ///     .with_oa_push("mocktoken", Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"));
    /// # drop(b);
    /// ```
    pub fn with_oa_push(
        mut self,
        token: impl Into<Secret>,
        encoding_aes_key: Option<&str>,
    ) -> Self {
        self.oa_token = Some(token.into());
        self.oa_aes_key = encoding_aes_key.map(Secret::new);
        self
    }

    /// Allows push without an EncodingAESKey (plaintext mode,
    /// `WECHAT_OA_INSECURE_PLAINTEXT_PUSH=1`). **Insecure**: in plaintext mode WeChat signs
    /// only the token, `timestamp` and `nonce`, not the event, so whoever sees one signed push
    /// URL (a proxy's access log, say) within the 5-minute window can post a forged event
    /// before WeChat's own reaches the app, and log a browser in as anybody. The layer
    /// remembers every signed query and refuses stale timestamps, which narrows but does
    /// not close this. Use safe mode (安全模式) with an EncodingAESKey instead; without this
    /// opt-in, [`build`](Self::build) refuses a push token without a key.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_official_account("wx2000000000000002", "secret")
    ///     .with_oa_push("mocktoken", None);
    /// assert!(b.clone().build().is_err()); // plaintext push must be asked for
    /// let cfg = b.with_insecure_plaintext_push(true).build()?;
    /// assert!(cfg.official_account().unwrap().insecure_plaintext_push());
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn with_insecure_plaintext_push(mut self, allow: bool) -> Self {
        self.oa_insecure_plaintext_push = allow;
        self
    }

    /// The Open Platform mobile app.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder().with_mobile_app("wx3000000000000003", "secret");
    /// # drop(b);
    /// ```
    pub fn with_mobile_app(mut self, appid: impl Into<String>, secret: impl Into<Secret>) -> Self {
        self.mobile = Some((appid.into(), secret.into()));
        self
    }

    /// The mini program.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder().with_mini_program("wx4000000000000004", "secret");
    /// # drop(b);
    /// ```
    pub fn with_mini_program(
        mut self,
        appid: impl Into<String>,
        secret: impl Into<Secret>,
    ) -> Self {
        self.mini = Some((appid.into(), secret.into()));
        self
    }

    /// Points the client at other WeChat hosts (`WECHAT_API_BASE`, `WECHAT_OPEN_BASE`,
    /// `WECHAT_MP_BASE`), e.g. the mock.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder().with_wechat_bases(
    ///     "http://127.0.0.1:9000",
    ///     "http://127.0.0.1:9000",
    ///     "http://127.0.0.1:9000",
    /// );
    /// # drop(b);
    /// ```
    pub fn with_wechat_bases(
        mut self,
        api: impl Into<String>,
        open: impl Into<String>,
        mp: impl Into<String>,
    ) -> Self {
        self.api_base = Some(api.into());
        self.open_base = Some(open.into());
        self.mp_base = Some(mp.into());
        self
    }

    /// The path prefix of the layer's endpoints; default `/auth/wechat`.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder().with_prefix("/login/wx");
    /// # drop(b);
    /// ```
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// A path the guard lets through without a session: an exact path (`/`), or every path
    /// under a folder when it ends in `/*` (`/assets/*`).
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder().with_public_path("/").with_public_path("/static/*");
    /// # drop(b);
    /// ```
    pub fn with_public_path(mut self, path: impl Into<String>) -> Self {
        self.public_paths.push(path.into());
        self
    }

    /// Another origin `return_to` may point at (e.g. `https://shop.example.com`); by default
    /// only local paths are followed.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder().with_allowed_origin("https://shop.example.com");
    /// # drop(b);
    /// ```
    pub fn with_allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// The session cookie's name; default `wechat_session`. On an https site it is sent
    /// with a `__Host-` (or, with a cookie domain, `__Secure-`) prefix: see
    /// [`WechatConfig::session_cookie_name`].
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder().with_cookie_name("sid");
    /// # drop(b);
    /// ```
    pub fn with_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// The session cookie's `Domain` (to share it with subdomains); default host-only.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder().with_cookie_domain("example.com");
    /// # drop(b);
    /// ```
    pub fn with_cookie_domain(mut self, domain: impl Into<String>) -> Self {
        self.cookie_domain = Some(domain.into());
        self
    }

    /// How long reading one request body of the layer's endpoints (`app`, `miniprogram`,
    /// `push`) may take in all; default 10 s. A slower body is answered `408` and its
    /// connection closed, so slow-body connections cannot pile up. (The server's own header
    /// read timeout bounds the headers: see the crate docs.)
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder().with_body_timeout(std::time::Duration::from_secs(5));
    /// # drop(b);
    /// ```
    pub fn with_body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// How long a session lasts; default 7 days.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder().with_session_ttl(std::time::Duration::from_secs(3600));
    /// # drop(b);
    /// ```
    pub fn with_session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// The absolute lifetime of a login: a native client may refresh its token (`POST
    /// PREFIX/refresh`) until this long after it logged in, and no token of that login
    /// lives past it; then the user logs in again. Default 30 days.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cfg = wechat_auth::WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_mobile_app("wx1", "s")
    ///     .with_session_max_lifetime(Duration::from_secs(14 * 24 * 3600))
    ///     .build()?;
    /// assert_eq!(cfg.session_max_lifetime().as_secs(), 14 * 24 * 3600);
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn with_session_max_lifetime(mut self, lifetime: Duration) -> Self {
        self.session_max_lifetime = lifetime;
        self
    }

    /// The request header that carries the client's IP address, set by a reverse proxy
    /// you trust (for example `x-real-ip`). The layer bounds code exchanges per client
    /// (concurrent ones, and failed ones per minute); it knows the client from this header,
    /// else from axum's `ConnectInfo<SocketAddr>` (serve the app with
    /// `into_make_service_with_connect_info::<SocketAddr>()`). Only name a header that your
    /// proxy always overwrites: clients can send any header they like.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder().with_client_ip_header("x-real-ip");
    /// # drop(b);
    /// ```
    pub fn with_client_ip_header(mut self, name: impl Into<String>) -> Self {
        self.client_ip_header = Some(name.into());
        self
    }

    /// How long a started login may take before its state expires; default 10 minutes.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder().with_state_ttl(std::time::Duration::from_secs(300));
    /// # drop(b);
    /// ```
    pub fn with_state_ttl(mut self, ttl: Duration) -> Self {
        self.state_ttl = ttl;
        self
    }

    /// How long a user's WeChat profile is reused before asking WeChat again; default 24 h.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder().with_userinfo_ttl(std::time::Duration::from_secs(600));
    /// # drop(b);
    /// ```
    pub fn with_userinfo_ttl(mut self, ttl: Duration) -> Self {
        self.userinfo_ttl = ttl;
        self
    }

    /// How long a scan-login QR code stays valid; default 5 minutes.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder().with_scan_ttl(std::time::Duration::from_secs(120));
    /// # drop(b);
    /// ```
    pub fn with_scan_ttl(mut self, ttl: Duration) -> Self {
        self.scan_ttl = ttl;
        self
    }

    /// The language of profile fields WeChat returns; default `zh_CN`.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder().with_lang(wechat_auth::client::Lang::En);
    /// # drop(b);
    /// ```
    pub fn with_lang(mut self, lang: Lang) -> Self {
        self.lang = lang;
        self
    }

    /// Where the global access token comes from; default `stable_token`.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder()
    ///     .with_global_token_source(wechat_auth::GlobalTokenSource::Classic);
    /// # drop(b);
    /// ```
    pub fn with_global_token_source(mut self, source: GlobalTokenSource) -> Self {
        self.global_token_source = source;
        self
    }

    /// The total timeout of each call to WeChat; default 10 s.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder().with_http_timeout(std::time::Duration::from_secs(3));
    /// # drop(b);
    /// ```
    pub fn with_http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// A hook run on every successful login, on every channel, before the session is
    /// issued: link or create the application's own account and return its id (it becomes
    /// [`WechatUser::subject`]), or refuse the login.
    ///
    /// ```
    /// use wechat_auth::{LoginRefused, WechatUser};
    ///
    /// let b = wechat_auth::WechatConfig::builder().with_on_login(|user: WechatUser| async move {
    ///     if user.openid == "banned" {
    ///         return Err(LoginRefused::new("this account is suspended"));
    ///     }
    ///     Ok(Some(format!("account-for-{}", user.key())))
    /// });
    /// # drop(b);
    /// ```
    pub fn with_on_login<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(WechatUser) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<String>, LoginRefused>> + Send + 'static,
    {
        self.on_login = Some(Arc::new(move |user| Box::pin(hook(user))));
        self
    }

    /// The [`Store`] for server-side state; default a fresh
    /// [`MemoryStore`](crate::store::MemoryStore).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let b = wechat_auth::WechatConfig::builder()
    ///     .with_store(Arc::new(wechat_auth::store::MemoryStore::new()));
    /// # drop(b);
    /// ```
    pub fn with_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Keeps server-side state in Redis (`WECHAT_REDIS_URL`, cargo feature `redis`), so several
    /// instances share logins, scans, the global token and the deny-list. The connection is
    /// made on first use and re-made after an outage; a store set with
    /// [`with_store`](Self::with_store) wins over this.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder().with_redis_url("redis://127.0.0.1:6379/0");
    /// # drop(b);
    /// ```
    pub fn with_redis_url(mut self, url: impl Into<String>) -> Self {
        self.redis_url = Some(Secret::new(url.into()));
        self
    }

    /// Checks the settings and builds the configuration.
    ///
    /// ```
    /// let err = wechat_auth::WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("too short")
    ///     .with_website_app("wx1", "s")
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("at least 32 bytes"));
    /// ```
    pub fn build(self) -> Result<WechatConfig, ConfigError> {
        let raw_url = self.public_url.ok_or(ConfigError::MissingPublicUrl)?;
        let invalid = |why| ConfigError::InvalidPublicUrl {
            url: raw_url.clone(),
            why,
        };
        let public_url = Url::parse(&raw_url).map_err(|_| invalid("not an absolute URL"))?;
        if !matches!(public_url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if public_url.host_str().is_none() {
            return Err(invalid("it has no host"));
        }
        if !matches!(public_url.path(), "" | "/") || public_url.query().is_some() {
            return Err(invalid("it must be an origin, without a path or query"));
        }
        let origin = public_url.origin().ascii_serialization();
        let secure_cookies = public_url.scheme() == "https";

        if self.session_keys.is_empty() {
            return Err(ConfigError::MissingSessionSecret);
        }
        for (index, key) in self.session_keys.iter().enumerate() {
            if key.expose().len() < 32 {
                return Err(ConfigError::ShortSessionSecret {
                    index,
                    len: key.expose().len(),
                });
            }
        }

        let app = |pair: Option<(String, Secret)>,
                   channel: &'static str,
                   id_var: &'static str,
                   secret_var: &'static str|
         -> Result<Option<AppCredentials>, ConfigError> {
            match pair {
                None => Ok(None),
                Some((id, _)) if id.is_empty() => Err(ConfigError::IncompleteApp {
                    channel,
                    has: "a secret",
                    missing: "AppID",
                    var: id_var,
                }),
                Some((_, secret)) if secret.is_empty() => Err(ConfigError::IncompleteApp {
                    channel,
                    has: "an AppID",
                    missing: "AppSecret",
                    var: secret_var,
                }),
                Some((id, secret)) => Ok(Some(AppCredentials::new(id, secret))),
            }
        };
        let website = app(
            self.website,
            "website",
            "WECHAT_WEBSITE_APP_ID",
            "WECHAT_WEBSITE_APP_SECRET",
        )?;
        let oa_app = app(
            self.oa,
            "Official Account",
            "WECHAT_OA_APP_ID",
            "WECHAT_OA_APP_SECRET",
        )?;
        let mobile = app(
            self.mobile,
            "mobile",
            "WECHAT_MOBILE_APP_ID",
            "WECHAT_MOBILE_APP_SECRET",
        )?;
        let mini_program = app(
            self.mini,
            "mini program",
            "WECHAT_MINI_APP_ID",
            "WECHAT_MINI_APP_SECRET",
        )?;
        if website.is_none() && oa_app.is_none() && mobile.is_none() && mini_program.is_none() {
            return Err(ConfigError::NoChannel);
        }

        let scope = match self.oa_scope.as_deref() {
            None | Some("snsapi_userinfo") => OaScope::UserInfo,
            Some("snsapi_base") => OaScope::Base,
            Some(other) => return Err(ConfigError::InvalidScope(other.to_owned())),
        };
        if let Some(key) = &self.oa_aes_key {
            let k = key.expose();
            if k.len() != 43 || !k.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(ConfigError::InvalidAesKey { len: k.len() });
            }
            if self.oa_token.is_none() {
                return Err(ConfigError::AesKeyWithoutToken);
            }
        }
        if let Some(token) = &self.oa_token {
            let t = token.expose();
            let alphanumeric = t.bytes().all(|b| b.is_ascii_alphanumeric());
            if !(3..=32).contains(&t.len()) || !alphanumeric {
                return Err(ConfigError::InvalidPushToken {
                    len: t.chars().count(),
                    alphanumeric,
                });
            }
            if self.oa_aes_key.is_none() && !self.oa_insecure_plaintext_push {
                return Err(ConfigError::PlaintextPushNotAllowed);
            }
        }
        let official_account = oa_app.map(|app| OfficialAccount {
            app,
            scope,
            push_token: self.oa_token,
            encoding_aes_key: self.oa_aes_key,
            insecure_plaintext_push: self.oa_insecure_plaintext_push,
        });

        let prefix = self.prefix;
        if !prefix.starts_with('/') || prefix.ends_with('/') || prefix.contains("//") {
            return Err(ConfigError::InvalidPrefix(prefix));
        }

        let mut allowed_origins = Vec::with_capacity(self.allowed_origins.len());
        for o in self.allowed_origins {
            let url = Url::parse(&o).map_err(|_| ConfigError::InvalidOrigin(o.clone()))?;
            if !matches!(url.scheme(), "http" | "https")
                || url.host_str().is_none()
                || !matches!(url.path(), "" | "/")
            {
                return Err(ConfigError::InvalidOrigin(o));
            }
            allowed_origins.push(url.origin().ascii_serialization());
        }

        for (var, value) in [
            ("WECHAT_API_BASE", &self.api_base),
            ("WECHAT_OPEN_BASE", &self.open_base),
            ("WECHAT_MP_BASE", &self.mp_base),
        ] {
            if let Some(v) = value {
                let ok = Url::parse(v)
                    .map(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                    .unwrap_or(false);
                if !ok {
                    return Err(ConfigError::InvalidBaseUrl {
                        var,
                        value: v.clone(),
                    });
                }
            }
        }

        let check = |setting, d: Duration, min: u64, max: u64| {
            if d.as_secs() < min || d.as_secs() > max {
                Err(ConfigError::InvalidDuration { setting, min, max })
            } else {
                Ok(())
            }
        };
        check("session_ttl", self.session_ttl, 60, 400 * 24 * 3600)?;
        check(
            "session_max_lifetime",
            self.session_max_lifetime,
            60,
            400 * 24 * 3600,
        )?;
        let client_ip_header = match &self.client_ip_header {
            None => None,
            Some(name) => Some(http::HeaderName::try_from(name.as_str()).map_err(|_| {
                ConfigError::InvalidHeaderName {
                    setting: "client_ip_header",
                    value: name.clone(),
                }
            })?),
        };
        check("state_ttl", self.state_ttl, 30, 3600)?;
        check("userinfo_ttl", self.userinfo_ttl, 1, 30 * 24 * 3600)?;
        check("scan_ttl", self.scan_ttl, 1, 2_592_000)?;
        check("http_timeout", self.http_timeout, 1, 120)?;
        check("body_timeout", self.body_timeout, 1, 300)?;

        let cookie_prefix = cookie_name_prefix(secure_cookies, self.cookie_domain.as_deref());
        let session_cookie = if self.cookie_name.starts_with(HOST_PREFIX)
            || self.cookie_name.starts_with(SECURE_PREFIX)
        {
            self.cookie_name.clone()
        } else {
            format!("{cookie_prefix}{}", self.cookie_name)
        };

        // Created here, once: every layer and clone made from this config shares it (a
        // logout through one layer is seen by the others; one code single flight for all).
        let store: Arc<dyn Store> = match (self.store, &self.redis_url) {
            (Some(store), _) => store,
            (None, None) => Arc::new(crate::store::MemoryStore::new()),
            (None, Some(url)) => redis_store(url)?,
        };

        Ok(WechatConfig {
            public_url,
            origin,
            secure_cookies,
            session_keys: self.session_keys,
            website,
            official_account,
            mobile,
            mini_program,
            api_base: self.api_base,
            open_base: self.open_base,
            mp_base: self.mp_base,
            prefix,
            public_paths: self.public_paths,
            allowed_origins,
            cookie_prefix,
            session_cookie,
            cookie_name: self.cookie_name,
            cookie_domain: self.cookie_domain,
            body_timeout: self.body_timeout,
            session_ttl: self.session_ttl,
            session_max_lifetime: self.session_max_lifetime,
            client_ip_header,
            state_ttl: self.state_ttl,
            userinfo_ttl: self.userinfo_ttl,
            scan_ttl: self.scan_ttl,
            lang: self.lang,
            global_token_source: self.global_token_source,
            http_timeout: self.http_timeout,
            on_login: self.on_login,
            store,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn base() -> WechatConfigBuilder {
        WechatConfig::builder()
            .with_public_url("https://example.com")
            .with_session_secret(KEY)
            .with_website_app("wx1", "s1")
    }

    #[test]
    fn defaults() {
        let cfg = base().build().unwrap();
        assert!(cfg.secure_cookies);
        assert_eq!(cfg.cookie_name, "wechat_session");
        assert_eq!(cfg.prefix, "/auth/wechat");
        assert_eq!(
            cfg.redirect_uri(),
            "https://example.com/auth/wechat/callback"
        );
    }

    #[test]
    fn cookie_names_get_the_prefix_browsers_enforce() {
        assert_eq!(cookie_name_prefix(true, None), "__Host-");
        assert_eq!(cookie_name_prefix(true, Some("example.com")), "__Secure-");
        assert_eq!(cookie_name_prefix(false, None), "");
        assert_eq!(cookie_name_prefix(false, Some("example.com")), "");

        let cfg = base().build().unwrap();
        assert_eq!(cfg.session_cookie, "__Host-wechat_session");
        assert_eq!(
            cfg.flow_cookie_name("wechat_state_", "abc"),
            "__Host-wechat_state_abc"
        );
        assert_eq!(cfg.flow_cookie_path(), "/", "__Host- requires Path=/");

        let cfg = base().with_cookie_domain("example.com").build().unwrap();
        assert_eq!(cfg.session_cookie, "__Secure-wechat_session");
        assert_eq!(cfg.flow_cookie_path(), "/auth/wechat");

        let cfg = base()
            .with_public_url("http://127.0.0.1:3000")
            .build()
            .unwrap();
        assert_eq!(cfg.session_cookie, "wechat_session");
        assert_eq!(cfg.flow_cookie_name("wechat_scan_", "x"), "wechat_scan_x");
        assert_eq!(cfg.flow_cookie_path(), "/auth/wechat");

        let cfg = base().with_cookie_name("__Host-sid").build().unwrap();
        assert_eq!(cfg.session_cookie, "__Host-sid", "never prefixed twice");
    }

    #[test]
    fn http_origin_means_no_secure_cookie() {
        let cfg = base()
            .with_public_url("http://127.0.0.1:3000")
            .build()
            .unwrap();
        assert!(!cfg.secure_cookies);
        assert_eq!(
            cfg.redirect_uri(),
            "http://127.0.0.1:3000/auth/wechat/callback"
        );
    }

    #[test]
    fn impossible_settings_are_refused_with_the_fix() {
        let e = |b: WechatConfigBuilder| b.build().unwrap_err();
        assert_eq!(
            e(WechatConfig::builder().with_session_secret(KEY)),
            ConfigError::MissingPublicUrl
        );
        assert!(matches!(
            e(base().with_public_url("example.com")),
            ConfigError::InvalidPublicUrl { .. }
        ));
        assert!(matches!(
            e(base().with_public_url("ftp://example.com")),
            ConfigError::InvalidPublicUrl { .. }
        ));
        assert!(matches!(
            e(base().with_public_url("https://example.com/app")),
            ConfigError::InvalidPublicUrl { .. }
        ));
        assert_eq!(
            e(base().with_session_keys(Vec::<String>::new())),
            ConfigError::MissingSessionSecret
        );
        assert_eq!(
            e(base().with_session_keys([KEY, "short"])),
            ConfigError::ShortSessionSecret { index: 1, len: 5 }
        );
        assert_eq!(
            e(WechatConfig::builder()
                .with_public_url("https://example.com")
                .with_session_secret(KEY)),
            ConfigError::NoChannel
        );
        let err = e(base().with_mobile_app("wx3", ""));
        assert!(
            err.to_string().contains("WECHAT_MOBILE_APP_SECRET"),
            "{err}"
        );
        assert!(matches!(
            e(base().with_oa_push("t", Some("short"))),
            ConfigError::InvalidAesKey { len: 5 }
        ));
        assert!(matches!(
            e(base().with_prefix("auth")),
            ConfigError::InvalidPrefix(_)
        ));
        assert!(matches!(
            e(base().with_allowed_origin("https://x.com/path")),
            ConfigError::InvalidOrigin(_)
        ));
        assert!(matches!(
            e(base().with_wechat_bases("nope", "http://a", "http://a")),
            ConfigError::InvalidBaseUrl { .. }
        ));
        assert!(matches!(
            e(base().with_session_ttl(Duration::from_secs(1))),
            ConfigError::InvalidDuration { .. }
        ));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let cfg = base()
            .with_official_account("wx2", "oa-secret-value")
            .with_oa_push(
                "pushTokenValue",
                Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
            )
            .build()
            .unwrap();
        let dbg = format!("{cfg:?}");
        for secret in [KEY, "oa-secret-value", "pushTokenValue", "abcdefghijklmnop"] {
            assert!(!dbg.contains(secret), "{dbg}");
        }
    }

    #[test]
    fn push_tokens_follow_wechat_rules_and_plaintext_must_be_asked_for() {
        const AES: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
        let oa = || base().with_official_account("wx2", "s");
        for bad in [
            "",
            "ab",
            &"a".repeat(33),
            "push-token",
            "tok en",
            "tökén",
            "tok_1",
        ] {
            let err = oa().with_oa_push(bad, Some(AES)).build().unwrap_err();
            assert!(
                matches!(err, ConfigError::InvalidPushToken { .. }),
                "{bad:?}: {err:?}"
            );
            assert!(err.to_string().contains("WECHAT_OA_TOKEN"), "{err}");
        }
        for good in ["abc", "mocktoken", &"Z9".repeat(16)] {
            assert!(
                oa().with_oa_push(good, Some(AES)).build().is_ok(),
                "{good:?}"
            );
        }
        // No key: refused unless plaintext is asked for, with the fix in the message.
        let err = oa().with_oa_push("mocktoken", None).build().unwrap_err();
        assert_eq!(err, ConfigError::PlaintextPushNotAllowed);
        let msg = err.to_string();
        assert!(
            msg.contains("WECHAT_OA_ENCODING_AES_KEY")
                && msg.contains("WECHAT_OA_INSECURE_PLAINTEXT_PUSH"),
            "{msg}"
        );
        let cfg = oa()
            .with_oa_push("mocktoken", None)
            .with_insecure_plaintext_push(true)
            .build()
            .unwrap();
        assert!(cfg.official_account().unwrap().insecure_plaintext_push());
        // A bad token is refused even with the opt-in; no push token needs nothing.
        assert!(matches!(
            oa().with_oa_push("", None)
                .with_insecure_plaintext_push(true)
                .build(),
            Err(ConfigError::InvalidPushToken { len: 0, .. })
        ));
        let cfg = oa().build().unwrap();
        assert!(!cfg.official_account().unwrap().insecure_plaintext_push());
    }

    #[test]
    fn allowed_origins_are_normalised() {
        let cfg = base()
            .with_allowed_origin("https://Shop.Example.com/")
            .build()
            .unwrap();
        assert_eq!(cfg.allowed_origins, vec!["https://shop.example.com"]);
    }
}
