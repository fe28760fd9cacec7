//! What the WeCom (企业微信) settings are (their `with_*` methods and environment variables
//! are in `wecom.rs`): the apps, the suite and the checked [`WecomSection`] the WeCom channel
//! copies when it is mounted. A leaf: it names neither the builder nor the config.

use std::{fmt, time::Duration};

use wechat_auth_client::{BaseUrl, Secret};
use wecom_client::{WecomClient, WecomCrypto};

pub use wecom_client::WecomScope;

use super::{checks::shown, error::ConfigError};

/// A WeCom self-built (自建) or agent-developed (代开发) app in one corp: the corp id, the
/// app's AgentId and Secret, and the scope of logins inside the WeCom client
/// ([`WecomScope::Base`] by default; [`WecomScope::PrivateInfo`] also reads the member's
/// avatar, gender and the other fields the admin enabled).
///
/// `Debug` never shows the secret.
///
/// ```
/// use wechat_auth::{WecomCorp, WecomScope};
///
/// let corp = WecomCorp::new("ww6000000000000006", "1000002", "app-secret")
///     .with_scope(WecomScope::PrivateInfo);
/// assert_eq!((corp.corp_id(), corp.agent_id()), ("ww6000000000000006", "1000002"));
/// assert!(!format!("{corp:?}").contains("app-secret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct WecomCorp {
    corp_id: String,
    agent_id: String,
    secret: Secret,
    scope: WecomScope,
}

impl fmt::Debug for WecomCorp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WecomCorp")
            .field("corp_id", &self.corp_id)
            .field("agent_id", &self.agent_id)
            .field("secret", &self.secret)
            .field("scope", &self.scope)
            .finish()
    }
}

impl WecomCorp {
    /// The app `agent_id` of corp `corp_id`, with its `secret` (应用管理 → the app).
    pub fn new(
        corp_id: impl Into<String>,
        agent_id: impl Into<String>,
        secret: impl Into<Secret>,
    ) -> Self {
        Self {
            corp_id: corp_id.into().trim().to_owned(),
            agent_id: agent_id.into().trim().to_owned(),
            secret: secret.into(),
            scope: WecomScope::Base,
        }
    }

    /// The scope of logins inside the WeCom client (`WECHAT_WECOM_SCOPE`).
    pub fn with_scope(mut self, scope: WecomScope) -> Self {
        self.scope = scope;
        self
    }

    /// The corp id.
    pub fn corp_id(&self) -> &str {
        &self.corp_id
    }

    /// The app's AgentId.
    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    /// The in-app scope.
    pub fn scope(&self) -> WecomScope {
        self.scope
    }

    pub(crate) fn secret(&self) -> &Secret {
        &self.secret
    }
}

/// A WeCom third-party app (第三方应用): the suite id and secret, and the Token and
/// EncodingAESKey of its command callback (指令回调, `PREFIX/wecom/push`), where WeCom pushes
/// the `suite_ticket`.
///
/// `Debug` shows only the suite id.
///
/// ```
/// use wechat_auth::WecomSuite;
///
/// let suite = WecomSuite::new(
///     "ww8000000000000008", "suite-secret", "token",
///     "mockSuiteEncodingAesKey0123456789abcdefghij",
/// );
/// assert_eq!(suite.suite_id(), "ww8000000000000008");
/// assert!(!format!("{suite:?}").contains("suite-secret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct WecomSuite {
    suite_id: String,
    secret: Secret,
    token: Secret,
    aes_key: Secret,
    scope: WecomScope,
}

impl fmt::Debug for WecomSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WecomSuite")
            .field("suite_id", &self.suite_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl WecomSuite {
    /// The suite `suite_id` with its `secret`, and its command callback's `token` and
    /// `encoding_aes_key` (服务商后台 → 应用 → 回调配置).
    pub fn new(
        suite_id: impl Into<String>,
        secret: impl Into<Secret>,
        token: impl Into<Secret>,
        encoding_aes_key: impl Into<Secret>,
    ) -> Self {
        Self {
            suite_id: suite_id.into().trim().to_owned(),
            secret: secret.into(),
            token: token.into(),
            aes_key: encoding_aes_key.into(),
            scope: WecomScope::Base,
        }
    }

    /// The scope of logins inside the WeCom client (`WECHAT_WECOM_SCOPE`).
    pub fn with_scope(mut self, scope: WecomScope) -> Self {
        self.scope = scope;
        self
    }

    /// The suite id.
    pub fn suite_id(&self) -> &str {
        &self.suite_id
    }

    /// The in-app scope.
    pub fn scope(&self) -> WecomScope {
        self.scope
    }

    pub(crate) fn secret(&self) -> &Secret {
        &self.secret
    }
}

/// What the builder holds of WeCom until `build()` checks it.
#[derive(Clone, Default)]
pub(crate) struct WecomBuilder {
    pub(super) corps: Vec<WecomCorp>,
    /// A corp from the environment, with the variables it came from left unchecked.
    pub(super) env_corp: Option<EnvCorp>,
    pub(super) suite: Option<WecomSuite>,
    pub(super) env_suite: Option<([Option<String>; 4], WecomScope)>,
    pub(super) api_base: Option<String>,
    pub(super) login_base: Option<String>,
}

#[derive(Clone)]
pub(super) struct EnvCorp {
    pub(super) corp_id: Option<String>,
    pub(super) agent_id: Option<String>,
    pub(super) secret: Option<String>,
    pub(super) scope: WecomScope,
}

#[derive(Clone)]
pub(crate) struct WecomSection {
    pub(crate) corps: Vec<WecomCorp>,
    pub(crate) suite: Option<CheckedSuite>,
    pub(crate) client: WecomClient,
}

/// A suite as `build()` accepted it.
#[derive(Clone)]
pub(crate) struct CheckedSuite {
    pub(crate) suite: WecomSuite,
    /// The command callback's crypto (ReceiveId = the suite id).
    pub(crate) crypto: WecomCrypto,
}

impl fmt::Debug for WecomSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WecomSection")
            .field("corps", &self.corps)
            .field("suite", &self.suite.as_ref().map(|s| &s.suite))
            .field("client", &self.client)
            .finish()
    }
}

impl WecomBuilder {
    /// Whether any WeCom app is configured (before the checks).
    pub(super) fn is_set(&self) -> bool {
        !self.corps.is_empty()
            || self.env_corp.is_some()
            || self.suite.is_some()
            || self.env_suite.is_some()
    }

    /// Checks the section: complete apps, well-formed ids, no app twice, a usable
    /// EncodingAESKey, and base URLs (`open_base` is the WeChat open base, shared).
    pub(super) fn checked(
        self,
        open_base: Option<&str>,
        timeout: Duration,
    ) -> Result<WecomSection, ConfigError> {
        let mut corps = self.corps;
        if let Some(e) = self.env_corp {
            let need = |v: Option<String>, var: &'static str, missing: &'static str| {
                v.ok_or(ConfigError::IncompleteApp {
                    channel: "WeCom",
                    has: "some of WECHAT_WECOM_CORP_ID, _AGENT_ID, _SECRET",
                    missing,
                    var,
                })
            };
            let corp = WecomCorp::new(
                need(e.corp_id, "WECHAT_WECOM_CORP_ID", "corp id")?,
                need(e.agent_id, "WECHAT_WECOM_AGENT_ID", "AgentId")?,
                need(e.secret, "WECHAT_WECOM_SECRET", "Secret")?,
            )
            .with_scope(e.scope);
            corps.insert(0, corp);
        }
        for (i, c) in corps.iter().enumerate() {
            if !is_id(&c.corp_id) {
                return Err(invalid(
                    "WECHAT_WECOM_CORP_ID",
                    &c.corp_id,
                    "use the corp id of 我的企业 → 企业信息 (letters and digits, such as ww6000000000000006)",
                ));
            }
            if c.agent_id.is_empty() || !c.agent_id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(
                    "WECHAT_WECOM_AGENT_ID",
                    &c.agent_id,
                    "use the app's AgentId from 应用管理 (digits, such as 1000002)",
                ));
            }
            if c.secret.is_empty() {
                return Err(ConfigError::IncompleteApp {
                    channel: "WeCom",
                    has: "a corp id and an AgentId",
                    missing: "Secret",
                    var: "WECHAT_WECOM_SECRET",
                });
            }
            if corps[..i]
                .iter()
                .any(|o| o.corp_id == c.corp_id && o.agent_id == c.agent_id)
            {
                return Err(invalid(
                    "with_wecom_corp",
                    &format!("{}/{}", c.corp_id, c.agent_id),
                    "each WeCom app (corp id + AgentId) may be added once",
                ));
            }
        }
        let mut suite = self.suite;
        if let Some(([id, secret, token, key], scope)) = self.env_suite {
            let need = |v: Option<String>, var: &'static str, missing: &'static str| {
                v.ok_or(ConfigError::IncompleteApp {
                    channel: "WeCom third-party",
                    has: "some of WECHAT_WECOM_SUITE_ID, _SUITE_SECRET, _SUITE_TOKEN, _SUITE_AES_KEY",
                    missing,
                    var,
                })
            };
            suite = Some(
                WecomSuite::new(
                    need(id, "WECHAT_WECOM_SUITE_ID", "suite id")?,
                    need(secret, "WECHAT_WECOM_SUITE_SECRET", "suite secret")?,
                    need(token, "WECHAT_WECOM_SUITE_TOKEN", "callback Token")?,
                    need(key, "WECHAT_WECOM_SUITE_AES_KEY", "EncodingAESKey")?,
                )
                .with_scope(scope),
            );
        }
        let suite = match suite {
            None => None,
            Some(s) => {
                if !is_id(&s.suite_id) {
                    return Err(invalid(
                        "WECHAT_WECOM_SUITE_ID",
                        &s.suite_id,
                        "use the SuiteID of 服务商后台 → 应用 (letters and digits, such as ww8000000000000008)",
                    ));
                }
                if s.secret.is_empty() {
                    return Err(ConfigError::IncompleteApp {
                        channel: "WeCom third-party",
                        has: "a suite id",
                        missing: "suite secret",
                        var: "WECHAT_WECOM_SUITE_SECRET",
                    });
                }
                if s.token.is_empty() {
                    return Err(ConfigError::IncompleteApp {
                        channel: "WeCom third-party",
                        has: "a suite id",
                        missing: "callback Token",
                        var: "WECHAT_WECOM_SUITE_TOKEN",
                    });
                }
                let crypto = WecomCrypto::new(
                    s.token.clone(),
                    s.aes_key.expose(),
                    s.suite_id.clone(),
                )
                .map_err(|_| ConfigError::InvalidSetting {
                    setting: "WECHAT_WECOM_SUITE_AES_KEY",
                    value: format!("({} characters)", s.aes_key.expose().len()),
                    expected: "use the 43 letters and digits of the EncodingAESKey shown in 回调配置",
                })?;
                Some(CheckedSuite { suite: s, crypto })
            }
        };
        let base = |var: &'static str, v: Option<String>| -> Result<Option<BaseUrl>, ConfigError> {
            v.map(|v| {
                BaseUrl::parse(&v).map_err(|e| ConfigError::InvalidBaseUrl {
                    var,
                    value: shown(&v),
                    why: e.to_string(),
                })
            })
            .transpose()
        };
        let api = base("WECHAT_WECOM_API_BASE", self.api_base)?;
        let login = base("WECHAT_WECOM_LOGIN_BASE", self.login_base)?;
        let open = base("WECHAT_OPEN_BASE", open_base.map(str::to_owned))?;
        let client = WecomClient::builder()
            .with_base_urls(api, login, open)
            .with_timeout(timeout.max(Duration::from_millis(1)))
            .build()
            .map_err(|e| ConfigError::HttpClient(e.to_string()))?;
        Ok(WecomSection {
            corps,
            suite,
            client,
        })
    }
}

/// A corp or suite id: 1 to 64 ASCII letters and digits.
fn is_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn invalid(setting: &'static str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::InvalidSetting {
        setting,
        value: shown(value),
        expected,
    }
}
