//! The URLs a browser opens: `wwlogin/sso/login` (desktop) and `connect/oauth2/authorize`
//! (inside the WeCom client), protocol §20.1, §20.3, §27.
//!
//! Parameters come in a fixed order and every value is percent-encoded except the RFC 3986
//! unreserved characters (`encodeURIComponent`-style, what WeCom expects of `redirect_uri`).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;

/// Everything but `A-Z a-z 0-9 - . _ ~` is encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Which app a desktop login (`wwlogin/sso/login`) is for.
///
/// ```
/// use wecom_client::SsoApp;
///
/// let app = SsoApp::Corp { corp_id: "ww1", agent_id: "1000002" };
/// assert_eq!(app.login_type(), "CorpApp");
/// assert_eq!(SsoApp::Service { suite_id: "ww2" }.login_type(), "ServiceApp");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsoApp<'a> {
    /// A self-built (自建) or agent-developed (代开发) app: `login_type=CorpApp`, `appid` = the
    /// CorpID, and its AgentID.
    Corp {
        /// The CorpID.
        corp_id: &'a str,
        /// The app's AgentID.
        agent_id: &'a str,
    },
    /// A third-party app (第三方应用): `login_type=ServiceApp`, `appid` = the login
    /// authorization SuiteID.
    Service {
        /// The SuiteID.
        suite_id: &'a str,
    },
}

impl SsoApp<'_> {
    /// The `login_type` value.
    pub fn login_type(&self) -> &'static str {
        match self {
            Self::Corp { .. } => "CorpApp",
            Self::Service { .. } => "ServiceApp",
        }
    }

    /// The `appid` value: the CorpID or the SuiteID.
    pub fn appid(&self) -> &str {
        match self {
            Self::Corp { corp_id, .. } => corp_id,
            Self::Service { suite_id } => suite_id,
        }
    }

    /// The `params` of the embedded panel (`ww.createWWLoginPanel`) for this app.
    pub fn panel_params(
        &self,
        redirect_uri: &str,
        state: &str,
        redirect_type: PanelRedirect,
    ) -> LoginPanelParams {
        LoginPanelParams {
            login_type: self.login_type(),
            appid: self.appid().to_owned(),
            agentid: self.agent_id().map(str::to_owned),
            redirect_uri: redirect_uri.to_owned(),
            state: state.to_owned(),
            redirect_type,
        }
    }

    /// The `agentid` value, for a corp app only.
    pub fn agent_id(&self) -> Option<&str> {
        match self {
            Self::Corp { agent_id, .. } => Some(agent_id),
            Self::Service { .. } => None,
        }
    }
}

/// What the embedded panel does with the code (`redirect_type` of `ww.createWWLoginPanel`,
/// protocol §20.2; values per a community copy of the doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PanelRedirect {
    /// `top` (WeCom's default): the top window navigates to `redirect_uri?code=…&state=…`.
    #[default]
    Top,
    /// `callback`: the code is handed to `onLoginSuccess` and the page navigates itself
    /// (does not work from `localhost`, observed).
    Callback,
    /// `self`: the panel's own frame navigates.
    #[serde(rename = "self")]
    SelfFrame,
}

/// The `params` of `ww.createWWLoginPanel` (protocol §20.2): the JSON a page hands the panel.
///
/// ```
/// use wecom_client::{PanelRedirect, SsoApp};
///
/// let params = SsoApp::Corp { corp_id: "wwCORP", agent_id: "1000002" }
///     .panel_params("https://app.example.com/cb", "s1", PanelRedirect::Callback);
/// assert_eq!(
///     serde_json::to_string(&params).unwrap(),
///     r#"{"login_type":"CorpApp","appid":"wwCORP","agentid":"1000002","redirect_uri":"https://app.example.com/cb","state":"s1","redirect_type":"callback"}"#,
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct LoginPanelParams {
    /// `CorpApp` or `ServiceApp`.
    pub login_type: &'static str,
    /// The CorpID or the SuiteID.
    pub appid: String,
    /// The AgentID, for a corp app only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agentid: Option<String>,
    /// Where the code goes (not encoded: the panel encodes it).
    pub redirect_uri: String,
    /// The login's state.
    pub state: String,
    /// What the panel does with the code.
    pub redirect_type: PanelRedirect,
}

/// Scope of the in-app OAuth (`connect/oauth2/authorize` inside the WeCom client).
///
/// ```
/// assert_eq!(wecom_client::WecomScope::PrivateInfo.as_str(), "snsapi_privateinfo");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WecomScope {
    /// `snsapi_base`: silent, yields the UserID (or openid).
    #[default]
    Base,
    /// `snsapi_privateinfo`: the member consents; the code then carries a `user_ticket` for
    /// the sensitive fields. Needs an `agentid` for a corp app.
    PrivateInfo,
}

impl WecomScope {
    /// The value WeCom expects in `scope`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Base => "snsapi_base",
            Self::PrivateInfo => "snsapi_privateinfo",
        }
    }
}

/// `base` + `path` + `?k=v&...` (+ `#fragment`), values encoded with [`COMPONENT`].
fn build(base: &Url, path: &str, params: &[(&str, &str)], fragment: Option<&str>) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(base.as_str());
    out.push_str(path);
    for (i, (key, value)) in params.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(key);
        out.push('=');
        out.extend(utf8_percent_encode(value, COMPONENT));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// `wwlogin/sso/login?login_type=…&appid=…[&agentid=…]&redirect_uri=…&state=…[&lang=…]`.
pub(crate) fn sso_login_url(
    login_base: &Url,
    app: SsoApp<'_>,
    redirect_uri: &str,
    state: &str,
    lang: Option<&str>,
) -> String {
    let mut params = vec![("login_type", app.login_type()), ("appid", app.appid())];
    if let Some(agent_id) = app.agent_id() {
        params.push(("agentid", agent_id));
    }
    params.push(("redirect_uri", redirect_uri));
    params.push(("state", state));
    if let Some(lang) = lang {
        params.push(("lang", lang));
    }
    build(login_base, "wwlogin/sso/login", &params, None)
}

/// `connect/oauth2/authorize?appid=…&redirect_uri=…&response_type=code&scope=…&state=…
/// [&agentid=…]#wechat_redirect`.
pub(crate) fn oauth2_authorize_url(
    open_base: &Url,
    appid: &str,
    redirect_uri: &str,
    scope: WecomScope,
    state: &str,
    agent_id: Option<&str>,
) -> String {
    let mut params = vec![
        ("appid", appid),
        ("redirect_uri", redirect_uri),
        ("response_type", "code"),
        ("scope", scope.as_str()),
        ("state", state),
    ];
    if let Some(agent_id) = agent_id {
        params.push(("agentid", agent_id));
    }
    build(
        open_base,
        "connect/oauth2/authorize",
        &params,
        Some("wechat_redirect"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn sso_corp_app_exact_string() {
        let url = sso_login_url(
            &base("https://login.work.weixin.qq.com/"),
            SsoApp::Corp {
                corp_id: "wwbbb6a7b539f2xxxxx",
                agent_id: "1000002",
            },
            "https://app.example.com/auth/wechat/callback?channel=wecom",
            "St4te",
            None,
        );
        assert_eq!(
            url,
            "https://login.work.weixin.qq.com/wwlogin/sso/login?login_type=CorpApp\
             &appid=wwbbb6a7b539f2xxxxx&agentid=1000002\
             &redirect_uri=https%3A%2F%2Fapp.example.com%2Fauth%2Fwechat%2Fcallback%3Fchannel%3Dwecom\
             &state=St4te"
        );
    }

    #[test]
    fn sso_service_app_has_no_agentid_and_keeps_lang_last() {
        let url = sso_login_url(
            &base("http://127.0.0.1:9/wecom/"),
            SsoApp::Service {
                suite_id: "wwSUITE",
            },
            "http://127.0.0.1:3000/cb",
            "s t",
            Some("en"),
        );
        assert_eq!(
            url,
            "http://127.0.0.1:9/wecom/wwlogin/sso/login?login_type=ServiceApp&appid=wwSUITE\
             &redirect_uri=http%3A%2F%2F127.0.0.1%3A3000%2Fcb&state=s%20t&lang=en"
        );
    }

    #[test]
    fn authorize_in_app_with_and_without_agentid() {
        let open = base("https://open.weixin.qq.com/");
        assert_eq!(
            oauth2_authorize_url(
                &open,
                "wwCORP",
                "https://app.example.com/cb",
                WecomScope::PrivateInfo,
                "s1",
                Some("1000002")
            ),
            "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wwCORP\
             &redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&response_type=code\
             &scope=snsapi_privateinfo&state=s1&agentid=1000002#wechat_redirect"
        );
        // A third-party app: the suite id as appid, no agentid.
        assert_eq!(
            oauth2_authorize_url(
                &open,
                "wwSUITE",
                "https://a/cb",
                WecomScope::Base,
                "s",
                None
            ),
            "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wwSUITE\
             &redirect_uri=https%3A%2F%2Fa%2Fcb&response_type=code&scope=snsapi_base&state=s\
             #wechat_redirect"
        );
    }

    #[test]
    fn panel_params_of_a_service_app_have_no_agentid() {
        let params = SsoApp::Service {
            suite_id: "wwSUITE",
        }
        .panel_params("https://a/cb?x=1", "s", PanelRedirect::SelfFrame);
        assert_eq!(
            serde_json::to_value(&params).unwrap(),
            serde_json::json!({
                "login_type": "ServiceApp", "appid": "wwSUITE",
                "redirect_uri": "https://a/cb?x=1", "state": "s", "redirect_type": "self"
            })
        );
        assert_eq!(
            serde_json::to_value(PanelRedirect::default()).unwrap(),
            serde_json::json!("top")
        );
    }

    #[test]
    fn values_cannot_inject_parameters() {
        let url = sso_login_url(
            &base("https://login.work.weixin.qq.com/"),
            SsoApp::Corp {
                corp_id: "ww1&agentid=666",
                agent_id: "1#x",
            },
            "r",
            "a=b&c",
            None,
        );
        let parsed = Url::parse(&url).unwrap();
        let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        assert_eq!(pairs[1], ("appid".into(), "ww1&agentid=666".into()));
        assert_eq!(pairs[2], ("agentid".into(), "1#x".into()));
        assert_eq!(pairs[4], ("state".into(), "a=b&c".into()));
        assert_eq!(parsed.fragment(), None);
    }
}
