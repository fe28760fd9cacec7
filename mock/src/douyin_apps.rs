//! Douyin (抖音) apps of the mock, as configured: Open Platform apps (website / mobile, one
//! `client_key`) and mini-apps (`tt…` appid). Plain data, a leaf: the ids a simulated user has
//! in them and the checks of a configuration are in `douyin_config`.

/// A Douyin Open Platform app (网站应用 / 移动应用): `client_key`, `client_secret` and the
/// callback domains registered for it (授权回调域).
///
/// The default ([`MockDouyinApp::default_app`]): client key `awmock0000000001`, secret
/// `d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f`, callback domains `127.0.0.1` and `localhost` (hosts,
/// compared without port). `Debug` never shows the secret.
///
/// ```
/// use wechat_auth_mock::MockDouyinApp;
///
/// let app = MockDouyinApp::new("awabcdef12345678", "s3cr3t").with_redirect_domains(["app.example"]);
/// assert_eq!(app.redirect_domains, ["app.example"]);
/// assert!(!format!("{app:?}").contains("s3cr3t"));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MockDouyinApp {
    /// The ClientKey (`aw…`).
    pub client_key: String,
    /// The ClientSecret.
    pub client_secret: String,
    /// Callback domains at start (hosts; any `:port` is ignored).
    pub redirect_domains: Vec<String>,
}

impl std::fmt::Debug for MockDouyinApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockDouyinApp")
            .field("client_key", &self.client_key)
            .field("redirect_domains", &self.redirect_domains)
            .finish_non_exhaustive()
    }
}

impl MockDouyinApp {
    /// An app with these credentials, allowing callbacks to `127.0.0.1` and `localhost`.
    ///
    /// ```
    /// let app = wechat_auth_mock::MockDouyinApp::new("awabcdef12345678", "x");
    /// assert_eq!(app.redirect_domains, ["127.0.0.1", "localhost"]);
    /// ```
    pub fn new(client_key: impl Into<String>, client_secret: impl Into<String>) -> Self {
        MockDouyinApp {
            client_key: client_key.into(),
            client_secret: client_secret.into(),
            redirect_domains: vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
        }
    }

    /// The fixed default app (see the type's documentation).
    ///
    /// ```
    /// assert_eq!(wechat_auth_mock::MockDouyinApp::default_app().client_key, "awmock0000000001");
    /// ```
    pub fn default_app() -> Self {
        MockDouyinApp::new("awmock0000000001", "d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f")
    }

    /// Replaces the callback domains (hosts, compared without port).
    ///
    /// ```
    /// let app = wechat_auth_mock::MockDouyinApp::default_app().with_redirect_domains(["a.example"]);
    /// assert_eq!(app.redirect_domains, ["a.example"]);
    /// ```
    pub fn with_redirect_domains<I, S>(mut self, domains: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.redirect_domains = domains.into_iter().map(Into::into).collect();
        self
    }
}

/// A Douyin mini-app (抖音小程序): its `tt…` appid and secret, for `tt.login()` codes and
/// `api/apps/v2/jscode2session`.
///
/// The default ([`MockDouyinMiniApp::default_miniapp`]): appid `ttmock00000000001`, secret
/// `7a6b5c4d3e2f10011203f4e5d6c7b8a9f0e1d2c3`. `Debug` never shows the secret.
///
/// ```
/// use wechat_auth_mock::MockDouyinMiniApp;
///
/// let mini = MockDouyinMiniApp::default_miniapp();
/// assert!(mini.appid.starts_with("tt"));
/// assert!(!format!("{mini:?}").contains(&mini.secret));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MockDouyinMiniApp {
    /// The mini-app's AppID (`tt…`).
    pub appid: String,
    /// The mini-app's AppSecret.
    pub secret: String,
}

impl std::fmt::Debug for MockDouyinMiniApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockDouyinMiniApp")
            .field("appid", &self.appid)
            .finish_non_exhaustive()
    }
}

impl MockDouyinMiniApp {
    /// A mini-app with these credentials.
    ///
    /// ```
    /// let mini = wechat_auth_mock::MockDouyinMiniApp::new("tt0123456789abcdef", "x");
    /// assert_eq!(mini.appid, "tt0123456789abcdef");
    /// ```
    pub fn new(appid: impl Into<String>, secret: impl Into<String>) -> Self {
        MockDouyinMiniApp {
            appid: appid.into(),
            secret: secret.into(),
        }
    }

    /// The fixed default mini-app (see the type's documentation).
    ///
    /// ```
    /// assert_eq!(wechat_auth_mock::MockDouyinMiniApp::default_miniapp().appid, "ttmock00000000001");
    /// ```
    pub fn default_miniapp() -> Self {
        MockDouyinMiniApp::new(
            "ttmock00000000001",
            "7a6b5c4d3e2f10011203f4e5d6c7b8a9f0e1d2c3",
        )
    }
}
