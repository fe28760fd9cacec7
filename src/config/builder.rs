//! [`WechatConfigBuilder`]: every setting of the layer, as a `with_*` method.

use std::{fmt, future::Future, sync::Arc, time::Duration};

use super::{DEFAULT_BODY_TIMEOUT, GlobalTokenSource, LoginHook, TokenProvider};
use crate::core::login::LoginRefused;
use wechat_auth_client::{Lang, OaScope, Secret};

use crate::{
    core::store::Store,
    user::{Identity, WechatUser},
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
    pub(super) client_ip_trusted_hops: Option<usize>,
    pub(super) redis_start: super::RedisStart,
    pub(super) state_ttl: Duration,
    pub(super) userinfo_ttl: Duration,
    pub(super) scan_ttl: Duration,
    pub(super) lang: Lang,
    pub(super) global_token_source: GlobalTokenSource,
    pub(super) http_timeout: Duration,
    pub(super) on_login: Option<LoginHook>,
    /// The hook was set by a WeChat-only form (it never sees a WeCom or Douyin login).
    pub(super) on_login_wechat_only: bool,
    pub(super) token_provider: Option<Arc<dyn TokenProvider>>,
    pub(super) mini_code_page: Option<String>,
    pub(super) mini_code_env: Option<String>,
    pub(super) mini_link: Option<super::mini_link_settings::MiniLink>,
    pub(super) store: Option<Arc<dyn Store>>,
    pub(super) redis_url: Option<Secret>,
    pub(super) push_settings: super::push_settings::PushSettings,
    pub(super) message: super::message_settings::MessageSettings,
    pub(super) pages: Option<Arc<dyn crate::core::pages::Pages>>,
    pub(super) language: Option<crate::core::pages::Language>,
    pub(super) embed_css: Option<String>,
    pub(super) redis_ca_file: Option<std::path::PathBuf>,
    pub(super) relay_hub: Option<String>,
    pub(super) relay_targets: Vec<String>,
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
            client_ip_trusted_hops: None,
            redis_start: super::RedisStart::default(),
            state_ttl: Duration::from_secs(10 * 60),
            userinfo_ttl: Duration::from_secs(24 * 3600),
            scan_ttl: Duration::from_secs(5 * 60),
            lang: Lang::ZhCn,
            global_token_source: GlobalTokenSource::Stable,
            http_timeout: Duration::from_secs(10),
            on_login: None,
            on_login_wechat_only: false,
            token_provider: None,
            mini_code_page: None,
            mini_code_env: None,
            mini_link: None,
            store: None,
            redis_url: None,
            push_settings: Default::default(),
            message: Default::default(),
            pages: None,
            language: None,
            embed_css: None,
            redis_ca_file: None,
            relay_hub: None,
            relay_targets: Vec::new(),
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
    /// # use axum::{body::Body, http::{header, Request, StatusCode}, routing::get, Router};
    /// # use tower::ServiceExt as _;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wechat_auth::{WechatAuthLayer, WechatConfig};
    ///
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .build()?;
    /// assert_eq!(cfg.redirect_uri(), "https://example.com/auth/wechat/callback");
    /// let app = Router::new().layer(WechatAuthLayer::new(cfg));
    /// let res = app.oneshot(Request::get("/auth/wechat/login").body(Body::empty())?).await?;
    /// assert_eq!(res.status(), StatusCode::FOUND);
    /// let location = res.headers()[header::LOCATION].to_str()?;
    /// assert!(location.contains("redirect_uri=https%3A%2F%2Fexample.com%2Fauth%2Fwechat%2Fcallback"));
    /// let cookie = res.headers()[header::SET_COOKIE].to_str()?;
    /// assert!(cookie.starts_with("__Host-wechat_state_") && cookie.contains("; Secure"), "{cookie}");
    /// # Ok(()) }
    /// ```
    pub fn with_public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// The session signing key (`WECHAT_SESSION_SECRET`), at least 32 bytes. Replaces any
    /// keys set before.
    ///
    /// ```
    /// use wechat_auth::{ConfigError, WechatConfig};
    ///
    /// let b = || WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_website_app("wx1000000000000001", "secret");
    /// assert!(b().with_session_secret("0123456789abcdef0123456789abcdef").build().is_ok());
    /// assert_eq!(
    ///     b().with_session_secret("too short").build().unwrap_err(),
    ///     ConfigError::ShortSessionSecret { index: 0, len: 9 },
    /// );
    /// ```
    pub fn with_session_secret(mut self, secret: impl Into<Secret>) -> Self {
        self.session_keys = vec![secret.into()];
        self
    }

    /// A key ring: the first key signs, every key verifies. Put a new key first to rotate
    /// without logging anybody out; drop the old one once its sessions have expired.
    ///
    /// ```
    /// use wechat_auth::{ConfigError, WechatConfig};
    ///
    /// let b = || WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_website_app("wx1000000000000001", "secret");
    /// let ring = b().with_session_keys([
    ///     "new-key-0123456789abcdef0123456789abcdef",
    ///     "old-key-0123456789abcdef0123456789abcdef",
    /// ]);
    /// assert!(ring.build().is_ok());
    /// // Every key of the ring must be long enough, the old ones too.
    /// assert_eq!(
    ///     b().with_session_keys(["new-key-0123456789abcdef0123456789abcdef", "old"]).build().unwrap_err(),
    ///     ConfigError::ShortSessionSecret { index: 1, len: 3 },
    /// );
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
    /// # use axum::{body::Body, http::{header, Request, StatusCode}, routing::get, Router};
    /// # use tower::ServiceExt as _;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wechat_auth::{WechatAuthLayer, WechatConfig};
    ///
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .build()?;
    /// assert_eq!(cfg.website().map(|app| app.appid()), Some("wx1000000000000001"));
    /// // A desktop browser's login goes to the website app's QR page.
    /// let app = Router::new().layer(WechatAuthLayer::new(cfg));
    /// let res = app.oneshot(Request::get("/auth/wechat/login").body(Body::empty())?).await?;
    /// assert_eq!(res.status(), StatusCode::FOUND);
    /// let location = res.headers()[header::LOCATION].to_str()?;
    /// assert!(location.starts_with("https://open.weixin.qq.com/connect/qrconnect?appid=wx1000000000000001&"));
    /// # Ok(()) }
    /// ```
    pub fn with_website_app(mut self, appid: impl Into<String>, secret: impl Into<Secret>) -> Self {
        self.website = Some((appid.into(), secret.into()));
        self
    }

    /// The Official Account, for web authorization inside WeChat and for scan login.
    ///
    /// ```
    /// # use axum::{body::Body, http::{header, Request, StatusCode}, routing::get, Router};
    /// # use tower::ServiceExt as _;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wechat_auth::{WechatAuthLayer, WechatConfig};
    ///
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_official_account("wx2000000000000002", "secret")
    ///     .build()?;
    /// assert_eq!(cfg.official_account().map(|oa| oa.app().appid()), Some("wx2000000000000002"));
    /// // A browser inside WeChat logs in through the Official Account's web authorization.
    /// let app = Router::new().layer(WechatAuthLayer::new(cfg));
    /// let req = Request::get("/auth/wechat/login")
    ///     .header(header::USER_AGENT, "Mozilla/5.0 (iPhone) MicroMessenger/8.0.50")
    ///     .body(Body::empty())?;
    /// let res = app.oneshot(req).await?;
    /// assert_eq!(res.status(), StatusCode::FOUND);
    /// let location = res.headers()[header::LOCATION].to_str()?;
    /// assert!(location.starts_with("https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx2000000000000002&"));
    /// # Ok(()) }
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
    /// # use axum::{body::Body, http::{header, Request, StatusCode}, routing::get, Router};
    /// # use tower::ServiceExt as _;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wechat_auth::{client::OaScope, WechatAuthLayer, WechatConfig};
    ///
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_official_account("wx2000000000000002", "secret")
    ///     .with_oa_scope(OaScope::Base)
    ///     .build()?;
    /// assert_eq!(cfg.official_account().unwrap().scope(), OaScope::Base);
    /// let app = Router::new().layer(WechatAuthLayer::new(cfg));
    /// let res = app.oneshot(Request::get("/auth/wechat/login?channel=oa").body(Body::empty())?).await?;
    /// assert!(res.headers()[header::LOCATION].to_str()?.contains("&scope=snsapi_base&"));
    /// # Ok(()) }
    /// ```
    pub fn with_oa_scope(mut self, scope: OaScope) -> Self {
        self.oa_scope = Some(match scope {
            OaScope::BaseThenUserinfo => super::OA_SCOPE_BASE_THEN_USERINFO.to_owned(),
            other => other.as_str().to_owned(),
        });
        self
    }

    /// The Official Account's push URL token and, for safe mode, its EncodingAESKey.
    ///
    /// ```
    /// # use axum::{body::Body, http::{header, Request, StatusCode}, routing::get, Router};
    /// # use tower::ServiceExt as _;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wechat_auth::{push::PushCrypto, WechatAuthLayer, WechatConfig};
    ///
    /// const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_official_account("wx2000000000000002", "secret")
    ///     .with_oa_push("mocktoken", Some(AES_KEY))
    ///     .build()?;
    /// assert!(cfg.official_account().unwrap().encoding_aes_key().is_some());
    /// // WeChat checks the push URL with a signed GET; the layer answers the echostr.
    /// let wechat = PushCrypto::new("mocktoken", Some(AES_KEY), "wx2000000000000002")?;
    /// let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs().to_string();
    /// let uri = format!(
    ///     "/auth/wechat/push?signature={}&timestamp={now}&nonce=42&echostr=7391",
    ///     wechat.signature(&now, "42"),
    /// );
    /// let app = Router::new().layer(WechatAuthLayer::new(cfg));
    /// let res = app.oneshot(Request::get(uri).body(Body::empty())?).await?;
    /// assert_eq!(res.status(), StatusCode::OK);
    /// let body = axum::body::to_bytes(res.into_body(), 1024).await?;
    /// assert_eq!(&body[..], b"7391");
    /// # Ok(()) }
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
    /// # use axum::{body::Body, http::{header, Request, StatusCode}, routing::get, Router};
    /// # use tower::ServiceExt as _;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wechat_auth::{WechatAuthLayer, WechatConfig};
    ///
    /// let b = || WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret");
    /// let cfg = b().with_mobile_app("wx3000000000000003", "secret").build()?;
    /// assert_eq!(cfg.mobile().map(|app| app.appid()), Some("wx3000000000000003"));
    /// // `POST PREFIX/app` is served only with a mobile app (a request without a code is refused
    /// // before WeChat is asked).
    /// let post = || Request::post("/auth/wechat/app")
    ///     .header(header::CONTENT_TYPE, "application/json")
    ///     .body(Body::from("{}"));
    /// let with = Router::new().layer(WechatAuthLayer::new(cfg));
    /// assert_eq!(with.oneshot(post()?).await?.status(), StatusCode::BAD_REQUEST);
    /// let without = Router::new().layer(WechatAuthLayer::new(b().build()?));
    /// assert_eq!(without.oneshot(post()?).await?.status(), StatusCode::NOT_FOUND);
    /// # Ok(()) }
    /// ```
    pub fn with_mobile_app(mut self, appid: impl Into<String>, secret: impl Into<Secret>) -> Self {
        self.mobile = Some((appid.into(), secret.into()));
        self
    }

    /// The mini program.
    ///
    /// ```
    /// # use axum::{body::Body, http::{header, Request, StatusCode}, routing::get, Router};
    /// # use tower::ServiceExt as _;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wechat_auth::{WechatAuthLayer, WechatConfig};
    ///
    /// let b = || WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret");
    /// let cfg = b().with_mini_program("wx4000000000000004", "secret").build()?;
    /// assert_eq!(cfg.mini_program().map(|app| app.appid()), Some("wx4000000000000004"));
    /// // `POST PREFIX/miniprogram` is served only with a mini program.
    /// let post = || Request::post("/auth/wechat/miniprogram")
    ///     .header(header::CONTENT_TYPE, "application/json")
    ///     .body(Body::from("{}"));
    /// let with = Router::new().layer(WechatAuthLayer::new(cfg));
    /// assert_eq!(with.oneshot(post()?).await?.status(), StatusCode::BAD_REQUEST);
    /// let without = Router::new().layer(WechatAuthLayer::new(b().build()?));
    /// assert_eq!(without.oneshot(post()?).await?.status(), StatusCode::NOT_FOUND);
    /// # Ok(()) }
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
    /// `WECHAT_MP_BASE`), e.g. the mock. `build()` checks each once and the client uses
    /// exactly what it accepted: an absolute `http`/`https` URL (a path prefix is kept);
    /// credentials (`user:pw@`), a query or a fragment are refused, naming the variable.
    ///
    /// ```
    /// # use axum::{body::Body, http::{header, Request, StatusCode}, routing::get, Router};
    /// # use tower::ServiceExt as _;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wechat_auth::{WechatAuthLayer, WechatConfig};
    ///
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .with_wechat_bases("http://127.0.0.1:9000", "http://127.0.0.1:9000", "http://127.0.0.1:9000")
    ///     .build()?;
    /// // The login page is now the one on the other host.
    /// let app = Router::new().layer(WechatAuthLayer::new(cfg));
    /// let res = app.oneshot(Request::get("/auth/wechat/login").body(Body::empty())?).await?;
    /// let location = res.headers()[header::LOCATION].to_str()?;
    /// assert!(location.starts_with("http://127.0.0.1:9000/connect/qrconnect?"), "{location}");
    ///
    /// // A query would be dropped or mangled by the client: refused, not replaced.
    /// let err = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .with_wechat_bases("http://127.0.0.1:9/?x=1", "http://127.0.0.1:9", "http://127.0.0.1:9")
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().starts_with("WECHAT_API_BASE (with_wechat_bases) is "), "{err}");
    /// # Ok(()) }
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
    /// # use axum::{body::Body, http::{header, Request, StatusCode}, routing::get, Router};
    /// # use tower::ServiceExt as _;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wechat_auth::{WechatAuthLayer, WechatConfig};
    ///
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .with_prefix("/login/wx")
    ///     .build()?;
    /// assert_eq!(cfg.redirect_uri(), "https://example.com/login/wx/callback");
    /// let app = Router::new().layer(WechatAuthLayer::new(cfg));
    /// let res = app.oneshot(Request::get("/login/wx/login").body(Body::empty())?).await?;
    /// assert_eq!(res.status(), StatusCode::FOUND);
    /// # Ok(()) }
    /// ```
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// A path the guard lets through without a session: an exact path (`/`), or every path
    /// under a folder when it ends in `/*` (`/assets/*`). `build()` refuses anything else
    /// ([`ConfigError::InvalidPublicPath`](crate::ConfigError::InvalidPublicPath)): a path
    /// not starting with `/`, one starting with `//`, a `.` or `..` segment, `?`, `#`, `\`,
    /// control characters, or a `*` anywhere but after the folder's last `/`.
    ///
    /// ```
    /// # use axum::{body::Body, http::{header, Request, StatusCode}, routing::get, Router};
    /// # use tower::ServiceExt as _;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wechat_auth::{WechatAuthLayer, WechatConfig};
    ///
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .with_public_path("/")
    ///     .with_public_path("/static/*")
    ///     .build()?;
    /// let app = Router::new()
    ///     .route("/", get(|| async { "home" }))
    ///     .route("/static/app.css", get(|| async { "css" }))
    ///     .route("/account", get(|| async { "private" }))
    ///     .layer(WechatAuthLayer::new(cfg));
    /// let status = |path: &'static str| {
    ///     let app = app.clone();
    ///     async move { app.oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap().status() }
    /// };
    /// assert_eq!(status("/").await, StatusCode::OK);
    /// assert_eq!(status("/static/app.css").await, StatusCode::OK);
    /// assert_eq!(status("/account").await, StatusCode::UNAUTHORIZED); // no session
    ///
    /// let relative = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .with_public_path("static/*")
    ///     .build();
    /// assert!(matches!(relative, Err(wechat_auth::ConfigError::InvalidPublicPath { .. })));
    /// # Ok(()) }
    /// ```
    pub fn with_public_path(mut self, path: impl Into<String>) -> Self {
        self.public_paths.push(path.into());
        self
    }

    /// Another origin `return_to` may point at (e.g. `https://shop.example.com`); by default
    /// only local paths are followed.
    ///
    /// ```
    /// # use axum::{body::Body, http::{header, Request, StatusCode}, routing::get, Router};
    /// # use tower::ServiceExt as _;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wechat_auth::{WechatAuthLayer, WechatConfig};
    ///
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_official_account("wx2000000000000002", "secret")
    ///     .with_allowed_origin("https://shop.example.com")
    ///     .build()?;
    /// let app = Router::new().layer(WechatAuthLayer::new(cfg));
    /// // The scan login keeps `return_to` in its URL: an allowed origin stays, another becomes `/`.
    /// let return_to = |target: &'static str| {
    ///     let app = app.clone();
    ///     async move {
    ///         let uri = format!("/auth/wechat/login?channel=scan&return_to={target}");
    ///         let res = app.oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    ///         res.headers()[header::LOCATION].to_str().unwrap().to_owned()
    ///     }
    /// };
    /// let shop = return_to("https%3A%2F%2Fshop.example.com%2Fcart").await;
    /// assert!(shop.ends_with("?return_to=https%3A//shop.example.com/cart"), "{shop}");
    /// let evil = return_to("https%3A%2F%2Fevil.example%2F").await;
    /// assert!(evil.ends_with("?return_to=/"), "{evil}");
    /// # Ok(()) }
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
    /// let cfg = wechat_auth::WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .with_cookie_name("sid")
    ///     .build()?;
    /// assert_eq!(cfg.session_cookie_name(), "__Host-sid");
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn with_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// The session cookie's `Domain` (to share it with subdomains); default host-only.
    ///
    /// ```
    /// # use axum::{body::Body, http::{header, Request, StatusCode}, routing::get, Router};
    /// # use tower::ServiceExt as _;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wechat_auth::{WechatAuthLayer, WechatConfig};
    ///
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .with_cookie_domain("example.com")
    ///     .build()?;
    /// assert_eq!(cfg.session_cookie_name(), "__Secure-wechat_session");
    /// // Every cookie of the layer carries the domain, and the prefix browsers enforce for it.
    /// let app = Router::new().layer(WechatAuthLayer::new(cfg));
    /// let res = app.oneshot(Request::get("/auth/wechat/login").body(Body::empty())?).await?;
    /// let cookie = res.headers()[header::SET_COOKIE].to_str()?;
    /// assert!(cookie.starts_with("__Secure-wechat_state_"), "{cookie}");
    /// assert!(cookie.contains("; Domain=example.com"), "{cookie}");
    /// # Ok(()) }
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
    /// use std::time::Duration;
    /// use wechat_auth::{ConfigError, WechatConfig};
    ///
    /// # let b = || WechatConfig::builder()
    /// #     .with_public_url("https://example.com")
    /// #     .with_session_secret("0123456789abcdef0123456789abcdef")
    /// #     .with_website_app("wx1000000000000001", "secret");
    /// assert!(b().with_body_timeout(Duration::from_secs(5)).build().is_ok());
    /// assert_eq!(
    ///     b().with_body_timeout(Duration::ZERO).build().unwrap_err(),
    ///     ConfigError::InvalidDuration { setting: "body_timeout", min: 1, max: 300 },
    /// );
    /// ```
    pub fn with_body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// How long a session lasts; default 7 days.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cfg = wechat_auth::WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .with_session_ttl(Duration::from_secs(3600))
    ///     .build()?;
    /// assert_eq!(cfg.session_ttl(), Duration::from_secs(3600));
    /// # Ok::<(), wechat_auth::ConfigError>(())
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

    /// The request header that carries the client's IP address behind reverse proxies
    /// (`WECHAT_CLIENT_IP_HEADER`): `x-forwarded-for` behind proxies that append to it,
    /// `x-real-ip` (or `cf-connecting-ip`…) behind one that sets it. The layer bounds scan
    /// starts and code exchanges per client (an IPv6 client per /64) and shows the
    /// client's address on the phone; without this setting the client is axum's
    /// `ConnectInfo<SocketAddr>` (serve the app with
    /// `into_make_service_with_connect_info::<SocketAddr>()`).
    ///
    /// Every line of the header is read as one comma-separated list, in order, and the
    /// client is the entry that the *first trusted proxy* appended: the right-most one, or
    /// [`with_client_ip_trusted_hops`](Self::with_client_ip_trusted_hops) entries from the
    /// right when several of your proxies append. Whatever stands left of it came from the
    /// client and is ignored, so a client cannot pick its own address. A list shorter than
    /// the number of hops, or an entry that is not an IP address (a request that did not
    /// come through your proxies), falls back to the connection's peer.
    ///
    /// ```
    /// use wechat_auth::{ConfigError, WechatConfig};
    ///
    /// # let b = || WechatConfig::builder()
    /// #     .with_public_url("https://example.com")
    /// #     .with_session_secret("0123456789abcdef0123456789abcdef")
    /// #     .with_website_app("wx1000000000000001", "secret");
    /// // nginx with `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;`
    /// assert!(b().with_client_ip_header("x-forwarded-for").build().is_ok());
    /// // A cloud load balancer that appends, then nginx that appends too: two hops.
    /// assert!(b().with_client_ip_header("x-forwarded-for").with_client_ip_trusted_hops(2).build().is_ok());
    /// assert!(matches!(
    ///     b().with_client_ip_header("x real ip").build(),
    ///     Err(ConfigError::InvalidHeaderName { setting: "client_ip_header", .. }),
    /// ));
    /// ```
    pub fn with_client_ip_header(mut self, name: impl Into<String>) -> Self {
        self.client_ip_header = Some(name.into());
        self
    }

    /// How many trusted proxies append to the
    /// [client IP header](Self::with_client_ip_header) (`WECHAT_CLIENT_IP_TRUSTED_HOPS`,
    /// default 1): the client's address is that many entries from the right of its list.
    /// `build()` refuses 0, more than 16, and hops without a header.
    ///
    /// ```
    /// use wechat_auth::{ConfigError, WechatConfig};
    ///
    /// # let b = || WechatConfig::builder()
    /// #     .with_public_url("https://example.com")
    /// #     .with_session_secret("0123456789abcdef0123456789abcdef")
    /// #     .with_website_app("wx1000000000000001", "secret");
    /// assert!(b().with_client_ip_header("x-forwarded-for").with_client_ip_trusted_hops(2).build().is_ok());
    /// assert!(matches!(
    ///     b().with_client_ip_header("x-forwarded-for").with_client_ip_trusted_hops(0).build(),
    ///     Err(ConfigError::InvalidSetting { setting: "WECHAT_CLIENT_IP_TRUSTED_HOPS", .. }),
    /// ));
    /// // Hops without a header would be ignored: refused instead.
    /// assert!(b().with_client_ip_trusted_hops(2).build().is_err());
    /// ```
    pub fn with_client_ip_trusted_hops(mut self, hops: usize) -> Self {
        self.client_ip_trusted_hops = Some(hops);
        self
    }

    /// What happens when the store does not answer at start, in
    /// [`WechatConfig::check_store`](super::WechatConfig::check_store)
    /// (`WECHAT_REDIS_START=check|retry`): by default the check fails, so the app can exit
    /// with the message; [`RedisStart::Retry`](super::RedisStart::Retry) starts anyway and
    /// logs at error level until the store answers (for orchestrators that start the app
    /// before Redis).
    ///
    /// ```
    /// use wechat_auth::{RedisStart, WechatConfig};
    ///
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .with_redis_start(RedisStart::Retry)
    ///     .build()?;
    /// assert_eq!(cfg.redis_start(), RedisStart::Retry);
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn with_redis_start(mut self, start: super::RedisStart) -> Self {
        self.redis_start = start;
        self
    }

    /// How long a started login may take before its state expires; default 10 minutes.
    ///
    /// ```
    /// # use axum::{body::Body, http::{header, Request, StatusCode}, routing::get, Router};
    /// # use tower::ServiceExt as _;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wechat_auth::{WechatAuthLayer, WechatConfig};
    ///
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .with_state_ttl(std::time::Duration::from_secs(300))
    ///     .build()?;
    /// // The cookie that binds a started login to the browser lives that long.
    /// let app = Router::new().layer(WechatAuthLayer::new(cfg));
    /// let res = app.oneshot(Request::get("/auth/wechat/login").body(Body::empty())?).await?;
    /// let cookie = res.headers()[header::SET_COOKIE].to_str()?;
    /// assert!(cookie.contains("; Max-Age=300"), "{cookie}");
    /// # Ok(()) }
    /// ```
    pub fn with_state_ttl(mut self, ttl: Duration) -> Self {
        self.state_ttl = ttl;
        self
    }

    /// How long a user's WeChat profile is reused before asking WeChat again; default 24 h.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wechat_auth::{ConfigError, WechatConfig};
    ///
    /// # let b = || WechatConfig::builder()
    /// #     .with_public_url("https://example.com")
    /// #     .with_session_secret("0123456789abcdef0123456789abcdef")
    /// #     .with_website_app("wx1000000000000001", "secret");
    /// assert!(b().with_userinfo_ttl(Duration::from_secs(600)).build().is_ok());
    /// assert!(matches!(
    ///     b().with_userinfo_ttl(Duration::ZERO).build(),
    ///     Err(ConfigError::InvalidDuration { setting: "userinfo_ttl", .. }),
    /// ));
    /// ```
    pub fn with_userinfo_ttl(mut self, ttl: Duration) -> Self {
        self.userinfo_ttl = ttl;
        self
    }

    /// How long a scan-login QR code stays valid; default 5 minutes.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wechat_auth::{ConfigError, WechatConfig};
    ///
    /// # let b = || WechatConfig::builder()
    /// #     .with_public_url("https://example.com")
    /// #     .with_session_secret("0123456789abcdef0123456789abcdef")
    /// #     .with_official_account("wx2000000000000002", "secret");
    /// assert!(b().with_scan_ttl(Duration::from_secs(120)).build().is_ok());
    /// // WeChat's temporary QR codes live at most 30 days.
    /// assert!(matches!(
    ///     b().with_scan_ttl(Duration::from_secs(31 * 24 * 3600)).build(),
    ///     Err(ConfigError::InvalidDuration { setting: "scan_ttl", .. }),
    /// ));
    /// ```
    pub fn with_scan_ttl(mut self, ttl: Duration) -> Self {
        self.scan_ttl = ttl;
        self
    }

    /// The language of profile fields WeChat returns; default `zh_CN`.
    ///
    /// ```
    /// use wechat_auth::client::Lang;
    ///
    /// let b = wechat_auth::WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_official_account("wx2000000000000002", "secret")
    ///     .with_lang(Lang::En);
    /// assert!(b.build().is_ok());
    /// assert_eq!(Lang::En.as_str(), "en"); // the `lang` WeChat's userinfo calls are sent
    /// ```
    pub fn with_lang(mut self, lang: Lang) -> Self {
        self.lang = lang;
        self
    }

    /// Where the global access token comes from; default `stable_token`.
    ///
    /// ```
    /// use wechat_auth::{GlobalTokenSource, WechatConfig};
    ///
    /// let b = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_official_account("wx2000000000000002", "secret");
    /// assert_eq!(GlobalTokenSource::default(), GlobalTokenSource::Stable);
    /// assert!(b.with_global_token_source(GlobalTokenSource::Classic).build().is_ok());
    /// ```
    pub fn with_global_token_source(mut self, source: GlobalTokenSource) -> Self {
        self.global_token_source = source;
        self
    }

    /// Takes every app's global access token from `provider` instead of fetching it from
    /// WeChat: for accounts whose token another system owns (it would be logged out by a
    /// fetch of ours). See [`TokenProvider`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use wechat_auth::{Secret, TokenProvider, WechatConfig, store::BoxFuture};
    /// # #[derive(Debug)] struct Central;
    /// # impl TokenProvider for Central {
    /// #     fn access_token<'a>(&'a self, _: &'a str, _: Option<&'a Secret>)
    /// #         -> BoxFuture<'a, Result<Secret, Box<dyn std::error::Error + Send + Sync>>> {
    /// #         Box::pin(async { Ok(Secret::new("t")) })
    /// #     }
    /// # }
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_mini_program("wx4000000000000004", "secret")
    ///     .with_token_provider(Arc::new(Central))
    ///     .build()?;
    /// assert!(format!("{cfg:?}").contains("token_provider: true"));
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn with_token_provider(mut self, provider: Arc<dyn TokenProvider>) -> Self {
        self.token_provider = Some(provider);
        self
    }

    /// The mini program page a website-login mini program code opens (`POST
    /// PREFIX/scan?via=miniprogram`), e.g. `pages/login/confirm`: no leading `/`, no query
    /// (the scene travels in `scene`). Default: the mini program's home page. The mini
    /// program link of a phone browser outside WeChat (`via=link`,
    /// [`with_mini_link`](Self::with_mini_link)) opens the same page, with `scene=ID` in its
    /// query.
    ///
    /// ```
    /// use wechat_auth::{ConfigError, WechatConfig};
    /// # let b = || WechatConfig::builder()
    /// #     .with_public_url("https://example.com")
    /// #     .with_session_secret("0123456789abcdef0123456789abcdef")
    /// #     .with_mini_program("wx4000000000000004", "secret");
    /// assert!(b().with_mini_program_code_page("pages/login/confirm").build().is_ok());
    /// assert!(matches!(
    ///     b().with_mini_program_code_page("/pages/login?x=1").build(),
    ///     Err(ConfigError::InvalidMiniProgramPage(_))
    /// ));
    /// ```
    pub fn with_mini_program_code_page(mut self, page: impl Into<String>) -> Self {
        self.mini_code_page = Some(page.into());
        self
    }

    /// Which version of the mini program its codes (and links) open: `release` (the
    /// default), `trial` or `develop` — the latter two while the confirm page is not
    /// published yet.
    ///
    /// ```
    /// use wechat_auth::{ConfigError, WechatConfig};
    /// # let b = || WechatConfig::builder()
    /// #     .with_public_url("https://example.com")
    /// #     .with_session_secret("0123456789abcdef0123456789abcdef")
    /// #     .with_mini_program("wx4000000000000004", "secret");
    /// assert!(b().with_mini_program_env_version("develop").build().is_ok());
    /// assert!(matches!(
    ///     b().with_mini_program_env_version("beta").build(),
    ///     Err(ConfigError::InvalidMiniProgramPage(_))
    /// ));
    /// ```
    pub fn with_mini_program_env_version(mut self, version: impl Into<String>) -> Self {
        self.mini_code_env = Some(version.into());
        self
    }

    /// The total timeout of each call to WeChat; default 10 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wechat_auth::{ConfigError, WechatConfig};
    ///
    /// # let b = || WechatConfig::builder()
    /// #     .with_public_url("https://example.com")
    /// #     .with_session_secret("0123456789abcdef0123456789abcdef")
    /// #     .with_website_app("wx1000000000000001", "secret");
    /// assert!(b().with_http_timeout(Duration::from_secs(3)).build().is_ok());
    /// assert_eq!(
    ///     b().with_http_timeout(Duration::from_secs(600)).build().unwrap_err(),
    ///     ConfigError::InvalidDuration { setting: "http_timeout", min: 1, max: 120 },
    /// );
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
    /// let cfg = b
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .build()?;
    /// assert!(format!("{cfg:?}").contains("on_login: true"));
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn with_on_login<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(WechatUser) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<String>, LoginRefused>> + Send + 'static,
    {
        self.on_login = Some(wechat_only(move |user, _signed_in| hook(user)));
        self.on_login_wechat_only = true;
        self
    }

    /// [`with_on_login`](Self::with_on_login) for apps that let a signed-in person add WeChat
    /// to their account: the hook also gets the user of the session the login request
    /// already carries (`None` when there is none), so it can bind the new WeChat identity
    /// to that account instead of creating a second one, or refuse an identity that is
    /// already bound to another account. One hook serves both forms; the last one set wins.
    ///
    /// The signed-in user comes only from a session this layer signed and still accepts:
    /// the session cookie on the website / Official Account callback, the
    /// `Authorization: Bearer` token (or a same-origin session cookie) on `POST app` and
    /// `POST miniprogram`. Its [`subject`](WechatUser::subject) is the account id your hook
    /// gave at that login. An expired, revoked or forged token counts as no session. Scan
    /// logins (the phone confirms, not the browser's request) always get `None`.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use serde_json::{json, Value};
    /// use wechat_auth::{mock::MockWechat, LoginRefused, WechatAuthLayer, WechatConfig, WechatUser};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mock = MockWechat::start().await?;
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let url = format!("http://{}", listener.local_addr()?);
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url(&url)
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_wechat_bases(mock.api_base(), mock.open_base(), mock.mp_base())
    ///     .with_mobile_app(&mock.mobile().appid, &mock.mobile().secret)
    ///     .with_mini_program(&mock.mini_program().appid, &mock.mini_program().secret)
    ///     .with_on_login_bind(|user: WechatUser, signed_in: Option<WechatUser>| async move {
    ///         match signed_in.and_then(|s| s.subject) {
    ///             // Already signed in: this WeChat identity joins that account.
    ///             Some(account) if user.openid != "taken" => Ok(Some(account)),
    ///             Some(_) => Err(LoginRefused::new("this WeChat is bound to another account")),
    ///             None => Ok(Some(format!("account-of-{}", user.openid))),
    ///         }
    ///     })
    ///     .build()?;
    /// let app = Router::new().layer(WechatAuthLayer::new(cfg));
    /// tokio::spawn(async move { axum::serve(listener, app).await });
    ///
    /// let http = reqwest::Client::new();
    /// let code = mock.sdk_code(&mock.mobile().appid, "alice")?;
    /// let app_login: Value = http.post(format!("{url}/auth/wechat/app"))
    ///     .json(&json!({ "code": code })).send().await?.json().await?;
    /// let account = app_login["user"]["subject"].as_str().unwrap().to_owned();
    ///
    /// // The mini program logs in with the app's bearer token: the same account.
    /// let code = mock.sdk_code(&mock.mini_program().appid, "alice")?;
    /// let mini: Value = http.post(format!("{url}/auth/wechat/miniprogram"))
    ///     .bearer_auth(app_login["token"].as_str().unwrap())
    ///     .json(&json!({ "code": code })).send().await?.json().await?;
    /// assert_eq!(mini["user"]["channel"], "mini_program");
    /// assert_eq!(mini["user"]["subject"], account.as_str());
    /// # Ok(()) }
    /// ```
    pub fn with_on_login_bind<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(WechatUser, Option<WechatUser>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<String>, LoginRefused>> + Send + 'static,
    {
        self.on_login = Some(wechat_only(hook));
        self.on_login_wechat_only = true;
        self
    }

    /// A hook run on every successful login of every provider (WeChat, WeCom, Douyin), before
    /// the session is issued: it gets the new [`Identity`] and the identity of the session
    /// the login request already carries (`None` when there is none; the same rules as
    /// [`with_on_login_bind`](Self::with_on_login_bind)), and answers the application's own
    /// account id (it becomes the identity's `subject`) or refuses the login. Link accounts
    /// on [`Identity::key`]: a WeChat unionid, a WeCom corp member, a Douyin union_id.
    ///
    /// A layer with WeCom or Douyin configured needs this form: `build()` refuses the
    /// WeChat-only [`with_on_login`](Self::with_on_login) and
    /// [`with_on_login_bind`](Self::with_on_login_bind) there, so that no login escapes a
    /// hook written for WeChat users only. One hook serves every form; the last one set wins.
    ///
    /// ```
    /// use wechat_auth::{Identity, LoginRefused, WechatConfig};
    ///
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .with_on_login_identity(|id: Identity, signed_in: Option<Identity>| async move {
    ///         if let Some(account) = signed_in.as_ref().and_then(|s| s.subject()) {
    ///             return Ok(Some(account.to_owned())); // bind to the signed-in account
    ///         }
    ///         match id.provider() {
    ///             wechat_auth::Provider::Wechat => Ok(Some(format!("acct-{}", id.key()))),
    ///             _ => Err(LoginRefused::new("only WeChat accounts may sign up here")),
    ///         }
    ///     })
    ///     .build()?;
    /// assert!(format!("{cfg:?}").contains("on_login: true"));
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn with_on_login_identity<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Identity, Option<Identity>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<String>, LoginRefused>> + Send + 'static,
    {
        self.on_login = Some(Arc::new(move |id, signed_in| Box::pin(hook(id, signed_in))));
        self.on_login_wechat_only = false;
        self
    }

    /// The [`Store`] for server-side state; default a fresh
    /// [`MemoryStore`](crate::core::store::MemoryStore).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wechat_auth::{store::MemoryStore, WechatConfig};
    ///
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .with_store(Arc::new(MemoryStore::new().with_max_bytes(1 << 20)))
    ///     .build()?;
    /// assert!(format!("{cfg:?}").contains("store: MemoryStore"));
    /// # Ok::<(), wechat_auth::ConfigError>(())
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
    /// use wechat_auth::{ConfigError, WechatConfig};
    ///
    /// let built = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .with_redis_url("redis://:hunter2@127.0.0.1:6379/0")
    ///     .build(); // connects on first use: no Redis needed here
    /// if cfg!(feature = "redis") {
    ///     let cfg = format!("{:?}", built.unwrap());
    ///     assert!(cfg.contains("RedisStore") && !cfg.contains("hunter2"), "{cfg}");
    /// } else {
    ///     assert_eq!(built.unwrap_err(), ConfigError::RedisFeatureMissing);
    /// }
    /// ```
    pub fn with_redis_url(mut self, url: impl Into<String>) -> Self {
        self.redis_url = Some(Secret::new(url.into()));
        self
    }

    /// Renders the layer's HTML pages (scan, embedded QR, popup, every error page) with
    /// `pages` instead of the built-in [`DefaultPages`](crate::core::pages::DefaultPages); see
    /// [`crate::core::pages`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wechat_auth::pages::{Markup, Page, Pages};
    ///
    /// struct Plain;
    /// impl Pages for Plain {
    ///     fn layout(&self, page: &Page<'_>) -> Markup {
    ///         Markup::trusted(format!("<!doctype html><title>{}</title>{}", page.title(), page.body()))
    ///     }
    /// }
    /// let b = wechat_auth::WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .with_pages(Arc::new(Plain));
    /// assert!(b.build().is_ok());
    /// ```
    pub fn with_pages(mut self, pages: Arc<dyn crate::core::pages::Pages>) -> Self {
        self.pages = Some(pages);
        self
    }

    /// Shows every page in `language`, whatever the browser's `Accept-Language` says (by
    /// default: Chinese, English for browsers that prefer it).
    ///
    /// ```
    /// use wechat_auth::pages::Language;
    /// let b = wechat_auth::WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .with_language(Language::En);
    /// assert!(b.build().is_ok());
    /// ```
    pub fn with_language(mut self, language: crate::core::pages::Language) -> Self {
        self.language = Some(language);
        self
    }

    /// A stylesheet for the embedded QR (wxLogin.js `href`): an `https://` URL or a
    /// `data:text/css;base64,…` URL; WeChat loads it into its own frame.
    ///
    /// ```
    /// let b = wechat_auth::WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret");
    /// assert!(b.clone().with_embed_css("https://example.com/qr.css").build().is_ok());
    /// assert!(b.with_embed_css("javascript:alert(1)").build().is_err());
    /// ```
    pub fn with_embed_css(mut self, href: impl Into<String>) -> Self {
        self.embed_css = Some(href.into());
        self
    }

    /// The CA bundle (PEM) that a `rediss://` Redis's certificate chains to
    /// (`WECHAT_REDIS_CA_FILE`), for managed Redis with a private CA; without it the
    /// system roots are trusted. Read by `build`, which fails when the file cannot be read
    /// or the URL is not `rediss://`.
    ///
    /// ```
    /// use wechat_auth::WechatConfig;
    ///
    /// let built = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .with_redis_url("rediss://:hunter2@redis.example.com:6380")
    ///     .with_redis_ca_file("/nonexistent/ca.pem")
    ///     .build();
    /// let e = built.unwrap_err().to_string();
    /// assert!(e.contains("/nonexistent/ca.pem") && !e.contains("hunter2"), "{e}");
    /// ```
    pub fn with_redis_ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.redis_ca_file = Some(path.into());
        self
    }

    /// Logs in through a relay hub (`WECHAT_RELAY_HUB`): WeChat accepts one callback
    /// domain per app, so every site of a company but one sends WeChat the hub's
    /// `PREFIX/relay` endpoint as `redirect_uri` (with this site's callback in `to`), and the
    /// hub sends the browser on to this site's callback with `code` and `state`. The state
    /// stays bound to this site's browser; the hub exchanges nothing. The hub must list this
    /// site's origin with [`with_relay_target`](Self::with_relay_target).
    ///
    /// ```
    /// let cfg = wechat_auth::WechatConfig::builder()
    ///     .with_public_url("https://shop.example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .with_relay_hub("https://login.example.com/auth/wechat/relay")
    ///     .build()?;
    /// assert_eq!(
    ///     cfg.redirect_uri(),
    ///     "https://login.example.com/auth/wechat/relay?to=https%3A%2F%2Fshop.example.com%2Fauth%2Fwechat%2Fcallback"
    /// );
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn with_relay_hub(mut self, relay_url: impl Into<String>) -> Self {
        self.relay_hub = Some(relay_url.into());
        self
    }

    /// Makes this site a relay hub for `origin` (`WECHAT_RELAY_TARGETS`, comma-separated;
    /// call once per site): `GET PREFIX/relay` then sends a browser that WeChat brought
    /// back to the callback of that site, and to no other path of it. The site's callback is
    /// its prefix plus `/callback`: give the origin alone when the site uses this hub's
    /// prefix, else the origin and the site's prefix (`https://shop.example.com/login`
    /// relays to `https://shop.example.com/login/callback`). A target on any other origin or
    /// path is refused; without targets the endpoint does not exist.
    ///
    /// ```
    /// let cfg = wechat_auth::WechatConfig::builder()
    ///     .with_public_url("https://login.example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "secret")
    ///     .with_relay_target("https://shop.example.com")
    ///     .with_relay_target("https://news.example.com/")
    ///     .with_relay_target("https://blog.example.com/login")
    ///     .build()?;
    /// assert!(format!("{cfg:?}").contains(concat!(
    ///     r#"relay_targets: ["https://shop.example.com/auth/wechat/callback", "#,
    ///     r#""https://news.example.com/auth/wechat/callback", "https://blog.example.com/login/callback"]"#
    /// )));
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn with_relay_target(mut self, origin: impl Into<String>) -> Self {
        self.relay_targets.push(origin.into());
        self
    }
}

/// A WeChat-only hook as the layer calls hooks: it sees WeChat identities only (a signed-in
/// session of another provider is `None` to it). `build()` refuses it when another provider
/// is configured, so it is never asked about a WeCom or Douyin login.
fn wechat_only<F, Fut>(hook: F) -> LoginHook
where
    F: Fn(WechatUser, Option<WechatUser>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<String>, LoginRefused>> + Send + 'static,
{
    Arc::new(move |id: Identity, signed_in: Option<Identity>| {
        let signed_in = signed_in.and_then(|s| s.as_wechat().cloned());
        match id {
            Identity::Wechat(user) => Box::pin(hook(user, signed_in)),
            // Unreachable while build() refuses this hook beside another provider; refused
            // rather than let through, should that ever change.
            other => {
                let provider = other.provider();
                Box::pin(async move {
                    Err(LoginRefused::new(format!(
                        "this site's login hook accepts WeChat accounts only, not {provider}"
                    )))
                })
            }
        }
    })
}
