//! [`WechatConfigBuilder`]: every setting of the layer, as a `with_*` method.

use std::{fmt, future::Future, sync::Arc, time::Duration};

use super::{DEFAULT_BODY_TIMEOUT, GlobalTokenSource, LoginHook, LoginRefused};
use crate::{
    Secret, WechatUser,
    client::{Lang, OaScope},
    store::Store,
};

/// Builds a [`WechatConfig`](super::WechatConfig); every setting is a `with_*` method.
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
    pub(super) public_url: Option<String>,
    pub(super) session_keys: Vec<Secret>,
    pub(super) website: Option<(String, Secret)>,
    pub(super) oa: Option<(String, Secret)>,
    pub(super) oa_scope: Option<String>,
    pub(super) oa_token: Option<Secret>,
    pub(super) oa_aes_key: Option<Secret>,
    pub(super) oa_insecure_plaintext_push: bool,
    pub(super) mobile: Option<(String, Secret)>,
    pub(super) mini: Option<(String, Secret)>,
    pub(super) api_base: Option<String>,
    pub(super) open_base: Option<String>,
    pub(super) mp_base: Option<String>,
    pub(super) prefix: String,
    pub(super) public_paths: Vec<String>,
    pub(super) allowed_origins: Vec<String>,
    pub(super) cookie_name: String,
    pub(super) cookie_domain: Option<String>,
    pub(super) body_timeout: Duration,
    pub(super) session_ttl: Duration,
    pub(super) session_max_lifetime: Duration,
    pub(super) client_ip_header: Option<String>,
    pub(super) state_ttl: Duration,
    pub(super) userinfo_ttl: Duration,
    pub(super) scan_ttl: Duration,
    pub(super) lang: Lang,
    pub(super) global_token_source: GlobalTokenSource,
    pub(super) http_timeout: Duration,
    pub(super) on_login: Option<LoginHook>,
    pub(super) store: Option<Arc<dyn Store>>,
    pub(super) redis_url: Option<Secret>,
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

impl WechatConfigBuilder {
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
    /// [`WechatConfig::session_cookie_name`](super::WechatConfig::session_cookie_name).
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
}
