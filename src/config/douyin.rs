//! The Douyin (抖音) settings section: a Douyin Open Platform app (website / mobile, its client
//! key and secret) and a Douyin mini-app (appid and secret), and the two hosts (the mock sets
//! them). Set with [`with_douyin_app`](WechatConfigBuilder::with_douyin_app),
//! [`with_douyin_miniapp`](WechatConfigBuilder::with_douyin_miniapp) and
//! [`with_douyin_bases`](WechatConfigBuilder::with_douyin_bases), or `WECHAT_DOUYIN_*`; checked
//! once by `build()` into `douyin_settings::DouyinSettings`, whose errors name the variable.

use wechat_auth_client::Secret;

use super::WechatConfigBuilder;

impl WechatConfigBuilder {
    /// A Douyin Open Platform app (网站应用 / 移动应用): its client key and client secret
    /// (`WECHAT_DOUYIN_CLIENT_KEY`, `WECHAT_DOUYIN_CLIENT_SECRET`). Turns on
    /// `GET PREFIX/login?channel=douyin` (website and the Douyin webview) and
    /// `POST PREFIX/douyin/app` (the Douyin OpenSDK's code). The callback's domain must be the
    /// app's 授权回调域 in the Douyin console.
    ///
    /// ```
    /// let cfg = wechat_auth::WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_douyin_app("awclientkey", "client-secret")
    ///     .build()?;
    /// assert!(!format!("{cfg:?}").contains("client-secret"));
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn with_douyin_app(
        mut self,
        client_key: impl Into<String>,
        client_secret: impl Into<Secret>,
    ) -> Self {
        self.douyin.app = Some((client_key.into(), client_secret.into()));
        self
    }

    /// A Douyin mini-app (`WECHAT_DOUYIN_MINIAPP_ID`, `WECHAT_DOUYIN_MINIAPP_SECRET`): turns on
    /// `POST PREFIX/douyin/miniapp` (a `tt.login()` code).
    ///
    /// ```
    /// let cfg = wechat_auth::WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_douyin_miniapp("tt1234567890abcdef", "mini-secret")
    ///     .build()?;
    /// # let _ = cfg;
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn with_douyin_miniapp(
        mut self,
        appid: impl Into<String>,
        secret: impl Into<Secret>,
    ) -> Self {
        self.douyin.miniapp = Some((appid.into(), secret.into()));
        self
    }

    /// Other hosts for Douyin (`WECHAT_DOUYIN_OPEN_BASE`, `WECHAT_DOUYIN_MINIAPP_BASE`;
    /// defaults `https://open.douyin.com`, `https://developer.toutiao.com`): the mock, or a
    /// proxy.
    ///
    /// ```
    /// let err = wechat_auth::WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_douyin_app("awkey", "secret")
    ///     .with_douyin_bases("ftp://nope", "http://127.0.0.1:9")
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().starts_with("WECHAT_DOUYIN_OPEN_BASE"));
    /// ```
    pub fn with_douyin_bases(
        mut self,
        open_base: impl Into<String>,
        miniapp_base: impl Into<String>,
    ) -> Self {
        self.douyin.open_base = Some(open_base.into());
        self.douyin.miniapp_base = Some(miniapp_base.into());
        self
    }
}

/// Reads `WECHAT_DOUYIN_*`.
pub(super) fn from_env(b: &mut WechatConfigBuilder, env: impl Fn(&str) -> Option<String>) {
    let pair = |id: &str, secret: &str| match (env(id), env(secret)) {
        (None, None) => None,
        (id, secret) => Some((
            id.unwrap_or_default(),
            Secret::new(secret.unwrap_or_default()),
        )),
    };
    if let Some(app) = pair("WECHAT_DOUYIN_CLIENT_KEY", "WECHAT_DOUYIN_CLIENT_SECRET") {
        b.douyin.app = Some(app);
    }
    if let Some(mini) = pair("WECHAT_DOUYIN_MINIAPP_ID", "WECHAT_DOUYIN_MINIAPP_SECRET") {
        b.douyin.miniapp = Some(mini);
    }
    if let Some(v) = env("WECHAT_DOUYIN_OPEN_BASE") {
        b.douyin.open_base = Some(v);
    }
    if let Some(v) = env("WECHAT_DOUYIN_MINIAPP_BASE") {
        b.douyin.miniapp_base = Some(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AppCredentials;
    use std::time::Duration;

    const T: Duration = Duration::from_secs(5);

    fn read(vars: &[(&str, &str)]) -> WechatConfigBuilder {
        let mut b = WechatConfigBuilder::default();
        from_env(&mut b, |k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        });
        b
    }

    #[test]
    fn the_section_is_read_checked_and_errors_name_the_variable() {
        let b = read(&[
            ("WECHAT_DOUYIN_CLIENT_KEY", "awkey"),
            ("WECHAT_DOUYIN_CLIENT_SECRET", "s1"),
            ("WECHAT_DOUYIN_MINIAPP_ID", "ttapp"),
            ("WECHAT_DOUYIN_MINIAPP_SECRET", "s2"),
            ("WECHAT_DOUYIN_OPEN_BASE", "http://127.0.0.1:9/"),
        ]);
        assert!(b.douyin.is_set());
        let s = b.douyin.check(T).unwrap().unwrap();
        assert_eq!(s.app.as_ref().map(AppCredentials::appid), Some("awkey"));
        assert_eq!(s.miniapp.as_ref().map(AppCredentials::appid), Some("ttapp"));
        assert_eq!(
            s.client.miniapp_base().as_str(),
            "https://developer.toutiao.com/"
        );
        assert_eq!(s.client.open_base().as_str(), "http://127.0.0.1:9/");
        assert!(!format!("{s:?}").contains("s1"));

        let e = read(&[("WECHAT_DOUYIN_CLIENT_KEY", "awkey")])
            .douyin
            .check(T)
            .unwrap_err();
        assert!(e.to_string().contains("WECHAT_DOUYIN_CLIENT_SECRET"), "{e}");
        let e = read(&[("WECHAT_DOUYIN_MINIAPP_SECRET", "x")])
            .douyin
            .check(T)
            .unwrap_err();
        assert!(e.to_string().contains("WECHAT_DOUYIN_MINIAPP_ID"), "{e}");
        let e = read(&[
            ("WECHAT_DOUYIN_CLIENT_KEY", "k"),
            ("WECHAT_DOUYIN_CLIENT_SECRET", "s"),
            ("WECHAT_DOUYIN_MINIAPP_BASE", "http://u:pw@h/?q"),
        ])
        .douyin
        .check(T)
        .unwrap_err();
        assert!(
            e.to_string().starts_with("WECHAT_DOUYIN_MINIAPP_BASE"),
            "{e}"
        );
        assert!(!e.to_string().contains(":pw@"), "{e}");
        assert!(matches!(read(&[]).douyin.check(T), Ok(None)));
    }
}
