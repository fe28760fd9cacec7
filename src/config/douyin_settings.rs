//! What the Douyin (抖音) settings section is (its `with_*` methods and environment variables
//! are in `douyin.rs`): the builder's unchecked values, the checked [`DouyinSettings`] the
//! layer uses, and the check between them. A leaf the builder, the checked config and the
//! Douyin channel name.

use std::time::Duration;

use wechat_auth_client::{BaseUrl, Secret};
use wechat_auth_douyin_client::DouyinClient;

use super::{AppCredentials, ConfigError, checks::shown};

/// What the builder holds until `build()` checks it.
#[derive(Clone, Debug, Default)]
pub(crate) struct DouyinBuilder {
    pub(crate) app: Option<(String, Secret)>,
    pub(crate) miniapp: Option<(String, Secret)>,
    pub(crate) open_base: Option<String>,
    pub(crate) miniapp_base: Option<String>,
}

/// The checked Douyin section: what `build()` accepted, kept as types.
#[derive(Clone, Debug)]
pub(crate) struct DouyinSettings {
    /// The Open Platform app (website and mobile logins): client key and secret.
    pub(crate) app: Option<AppCredentials>,
    /// The mini-app: appid and secret.
    pub(crate) miniapp: Option<AppCredentials>,
    /// The Douyin client on the checked bases (`https://open.douyin.com` and
    /// `https://developer.toutiao.com` unless overridden), with the layer's HTTP timeout.
    pub(crate) client: DouyinClient,
}

impl DouyinBuilder {
    /// Whether any Douyin app is configured (for the providers list and "at least one
    /// channel").
    pub(crate) fn is_set(&self) -> bool {
        self.app.is_some() || self.miniapp.is_some()
    }

    /// Checks the section (its client calls Douyin with `http_timeout` per attempt): `None`
    /// when no Douyin app is configured.
    pub(crate) fn check(
        self,
        http_timeout: Duration,
    ) -> Result<Option<DouyinSettings>, ConfigError> {
        let app = |pair: Option<(String, Secret)>,
                   channel: &'static str,
                   id_var: &'static str,
                   secret_var: &'static str| {
            let Some((id, secret)) = pair else {
                return Ok(None);
            };
            let id = id.trim().to_owned();
            match (id.is_empty(), secret.expose().trim().is_empty()) {
                (false, false) => Ok(Some(AppCredentials::new(id, secret))),
                (true, true) => Ok(None),
                (true, false) => Err(ConfigError::IncompleteApp {
                    channel,
                    has: "a secret",
                    missing: "id",
                    var: id_var,
                }),
                (false, true) => Err(ConfigError::IncompleteApp {
                    channel,
                    has: "an id",
                    missing: "secret",
                    var: secret_var,
                }),
            }
        };
        let douyin_app = app(
            self.app,
            "Douyin",
            "WECHAT_DOUYIN_CLIENT_KEY",
            "WECHAT_DOUYIN_CLIENT_SECRET",
        )?;
        let miniapp = app(
            self.miniapp,
            "Douyin mini-app",
            "WECHAT_DOUYIN_MINIAPP_ID",
            "WECHAT_DOUYIN_MINIAPP_SECRET",
        )?;
        let base = |var: &'static str, raw: Option<String>| {
            raw.map(|raw| {
                BaseUrl::parse(&raw).map_err(|e| ConfigError::InvalidBaseUrl {
                    var,
                    value: shown(&raw),
                    why: e.to_string(),
                })
            })
            .transpose()
        };
        let open_base = base(
            "WECHAT_DOUYIN_OPEN_BASE (with_douyin_bases)",
            self.open_base,
        )?;
        let miniapp_base = base(
            "WECHAT_DOUYIN_MINIAPP_BASE (with_douyin_bases)",
            self.miniapp_base,
        )?;
        if douyin_app.is_none() && miniapp.is_none() {
            return Ok(None);
        }
        let client = DouyinClient::builder()
            .with_base_urls(open_base, miniapp_base)
            .with_timeout(http_timeout)
            .build()
            .map_err(|e| ConfigError::HttpClient(e.to_string()))?;
        Ok(Some(DouyinSettings {
            app: douyin_app,
            miniapp,
            client,
        }))
    }
}
