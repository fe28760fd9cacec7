//! The WeCom (企业微信) settings' `with_*` methods and `WECHAT_WECOM_*` variables: self-built
//! and agent-developed apps (one corp id + agent id + secret each, many through the builder:
//! one per tenant), a third-party suite (suite id, secret, Token, EncodingAESKey) and the
//! WeCom hosts. What they are, and the checks `build()` runs, are in `wecom_settings.rs`.

use super::wecom_settings::{EnvCorp, WecomCorp, WecomScope, WecomSuite};
use super::{ConfigError, WechatConfigBuilder, checks::shown};

impl WechatConfigBuilder {
    /// Adds a WeCom self-built or agent-developed app (`WECHAT_WECOM_CORP_ID`, `…_AGENT_ID`,
    /// `…_SECRET`, `…_SCOPE`): call it once per corp (one per tenant). With several, a login
    /// names its corp: `PREFIX/login?channel=wecom&corp=CORPID`.
    ///
    /// ```
    /// use wechat_auth::{WechatConfig, WecomCorp};
    ///
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_wecom_corp(WecomCorp::new("ww6000000000000006", "1000002", "secret-a"))
    ///     .with_wecom_corp(WecomCorp::new("ww7000000000000007", "1000005", "secret-b"))
    ///     .build()?;
    /// assert_eq!(cfg.wecom_corps().len(), 2);
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn with_wecom_corp(mut self, corp: WecomCorp) -> Self {
        self.wecom.corps.push(corp);
        self
    }

    /// Sets the WeCom third-party app (`WECHAT_WECOM_SUITE_ID`, `…_SUITE_SECRET`,
    /// `…_SUITE_TOKEN`, `…_SUITE_AES_KEY`). Its command callback URL is `PREFIX/wecom/push`.
    pub fn with_wecom_suite(mut self, suite: WecomSuite) -> Self {
        self.wecom.suite = Some(suite);
        self
    }

    /// Overrides WeCom's API host (`https://qyapi.weixin.qq.com`, `WECHAT_WECOM_API_BASE`)
    /// and its desktop login host (`https://login.work.weixin.qq.com`,
    /// `WECHAT_WECOM_LOGIN_BASE`); the mock sets both. Logins inside the WeCom client use
    /// the open base of [`with_wechat_bases`](Self::with_wechat_bases).
    pub fn with_wecom_bases(
        mut self,
        api_base: impl Into<String>,
        login_base: impl Into<String>,
    ) -> Self {
        self.wecom.api_base = Some(api_base.into());
        self.wecom.login_base = Some(login_base.into());
        self
    }
}

impl super::WechatConfig {
    /// The WeCom self-built and agent-developed apps, in the order they were added (the
    /// environment's first).
    pub fn wecom_corps(&self) -> &[WecomCorp] {
        &self.wecom.corps
    }

    /// The WeCom third-party app, when one is configured.
    pub fn wecom_suite(&self) -> Option<&WecomSuite> {
        self.wecom.suite.as_ref().map(|s| &s.suite)
    }
}

/// What `WECHAT_WECOM_SCOPE` may be.
const SCOPE_EXPECTED: &str = "use snsapi_base (the default) or snsapi_privateinfo";

fn scope(v: &str) -> Result<WecomScope, ConfigError> {
    match v {
        "snsapi_base" | "base" => Ok(WecomScope::Base),
        "snsapi_privateinfo" | "privateinfo" => Ok(WecomScope::PrivateInfo),
        _ => Err(ConfigError::InvalidSetting {
            setting: "WECHAT_WECOM_SCOPE",
            value: shown(v),
            expected: SCOPE_EXPECTED,
        }),
    }
}

/// Reads the `WECHAT_WECOM_*` variables.
pub(super) fn from_env(
    b: &mut WechatConfigBuilder,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let scope = env("WECHAT_WECOM_SCOPE")
        .map(|v| scope(&v))
        .transpose()?
        .unwrap_or_default();
    let (corp_id, agent_id, secret) = (
        env("WECHAT_WECOM_CORP_ID"),
        env("WECHAT_WECOM_AGENT_ID"),
        env("WECHAT_WECOM_SECRET"),
    );
    if corp_id.is_some() || agent_id.is_some() || secret.is_some() {
        b.wecom.env_corp = Some(EnvCorp {
            corp_id,
            agent_id,
            secret,
            scope,
        });
    }
    let suite = [
        env("WECHAT_WECOM_SUITE_ID"),
        env("WECHAT_WECOM_SUITE_SECRET"),
        env("WECHAT_WECOM_SUITE_TOKEN"),
        env("WECHAT_WECOM_SUITE_AES_KEY"),
    ];
    if suite.iter().any(Option::is_some) {
        b.wecom.env_suite = Some((suite, scope));
    }
    b.wecom.api_base = env("WECHAT_WECOM_API_BASE");
    b.wecom.login_base = env("WECHAT_WECOM_LOGIN_BASE");
    Ok(())
}

/// The checked WeCom section: the apps, the suite with its callback crypto, and the client
/// for the configured hosts.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::wecom_settings::WecomSection;
    use std::time::Duration;

    const KEY: &str = "mockSuiteEncodingAesKey0123456789abcdefghij";

    fn env_of<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn section(pairs: &[(&str, &str)]) -> Result<WecomSection, ConfigError> {
        let mut b = WechatConfigBuilder::default();
        from_env(&mut b, env_of(pairs))?;
        b.wecom.checked(None, Duration::from_secs(2))
    }

    #[test]
    fn a_corp_and_a_suite_from_the_environment() {
        let s = section(&[
            ("WECHAT_WECOM_CORP_ID", "ww6000000000000006"),
            ("WECHAT_WECOM_AGENT_ID", "1000002"),
            ("WECHAT_WECOM_SECRET", "s"),
            ("WECHAT_WECOM_SCOPE", "snsapi_privateinfo"),
            ("WECHAT_WECOM_SUITE_ID", "ww8000000000000008"),
            ("WECHAT_WECOM_SUITE_SECRET", "ss"),
            ("WECHAT_WECOM_SUITE_TOKEN", "t"),
            ("WECHAT_WECOM_SUITE_AES_KEY", KEY),
            ("WECHAT_WECOM_API_BASE", "http://127.0.0.1:9/"),
        ])
        .unwrap();
        assert_eq!(s.corps.len(), 1);
        assert_eq!(s.corps[0].scope(), WecomScope::PrivateInfo);
        assert_eq!(
            s.suite.as_ref().unwrap().crypto.receive_id(),
            "ww8000000000000008"
        );
        assert_eq!(s.client.api_base().as_str(), "http://127.0.0.1:9/");
        let debug = format!("{s:?}");
        assert!(!debug.contains("\"s\"") && !debug.contains(KEY), "{debug}");
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("WECHAT_WECOM_CORP_ID", "ww1")], "WECHAT_WECOM_AGENT_ID"),
            (
                &[
                    ("WECHAT_WECOM_CORP_ID", "ww1"),
                    ("WECHAT_WECOM_AGENT_ID", "10x"),
                    ("WECHAT_WECOM_SECRET", "s"),
                ],
                "WECHAT_WECOM_AGENT_ID",
            ),
            (
                &[
                    ("WECHAT_WECOM_CORP_ID", "ww 1"),
                    ("WECHAT_WECOM_AGENT_ID", "1"),
                    ("WECHAT_WECOM_SECRET", "s"),
                ],
                "WECHAT_WECOM_CORP_ID",
            ),
            (
                &[("WECHAT_WECOM_SCOPE", "snsapi_userinfo")],
                "WECHAT_WECOM_SCOPE",
            ),
            (
                &[
                    ("WECHAT_WECOM_SUITE_ID", "ww8"),
                    ("WECHAT_WECOM_SUITE_SECRET", "s"),
                    ("WECHAT_WECOM_SUITE_TOKEN", "t"),
                    ("WECHAT_WECOM_SUITE_AES_KEY", "short"),
                ],
                "WECHAT_WECOM_SUITE_AES_KEY",
            ),
            (
                &[("WECHAT_WECOM_SUITE_ID", "ww8")],
                "WECHAT_WECOM_SUITE_SECRET",
            ),
            (
                &[("WECHAT_WECOM_API_BASE", "ftp://x")],
                "WECHAT_WECOM_API_BASE",
            ),
        ];
        for (env, var) in cases {
            let e = section(env).map(drop).unwrap_err();
            assert!(e.to_string().contains(var), "{var}: {e}");
        }
    }

    #[test]
    fn an_app_is_added_once() {
        let mut b = WechatConfigBuilder::default()
            .with_wecom_corp(WecomCorp::new("ww1", "1", "a"))
            .with_wecom_corp(WecomCorp::new("ww1", "2", "b"));
        assert!(
            b.clone()
                .wecom
                .checked(None, Duration::from_secs(1))
                .is_ok()
        );
        b = b.with_wecom_corp(WecomCorp::new("ww1", "1", "c"));
        let e = b.wecom.checked(None, Duration::from_secs(1)).unwrap_err();
        assert!(e.to_string().contains("once"), "{e}");
    }
}
