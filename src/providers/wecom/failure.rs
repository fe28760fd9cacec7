//! The WeCom provider's failures: WeCom refused or failed a call (each errcode a login can
//! meet, protocol §20.9 and §27, answered with its likely cause), no `suite_ticket` has
//! arrived yet, or a login named a corp this site does not serve.

use std::borrow::Cow;

use http::StatusCode;
use wecom_client::{ErrorKind, WecomError};

use crate::core::failure::{
    BUSY_EN, BUSY_ZH, Description, Failure, LOGIN_AGAIN_EN, LOGIN_AGAIN_ZH, Refusal,
};

/// The English text of [`WecomFailure::NoSuiteTicket`]: what the issue promises.
pub(crate) const NO_SUITE_TICKET: &str = "no suite_ticket yet: check the command callback URL";

/// Why a WeCom login failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WecomFailure {
    /// WeCom refused or failed a call.
    #[error(transparent)]
    Api(WecomError),
    /// A third-party login before WeCom pushed any `suite_ticket` to the command callback.
    #[error("{NO_SUITE_TICKET} (PREFIX/wecom/push, 服务商后台 → 应用 → 回调配置)")]
    NoSuiteTicket,
    /// `corp=` names a corp this site has no WeCom app for (or is missing among several).
    #[error("no WeCom app for corp {0:?}")]
    UnknownCorp(String),
}

impl From<WecomError> for Failure {
    fn from(e: WecomError) -> Self {
        Failure::channel(WecomFailure::Api(e))
    }
}

impl From<WecomFailure> for Failure {
    fn from(f: WecomFailure) -> Self {
        Failure::channel(f)
    }
}

/// The person's text when the site's WeCom setup is at fault.
const CONFIG_ZH: &str = "本站的企业微信登录配置有误，请联系网站管理员。";
/// The person's text when they may not use this app.
const PERMISSION_ZH: &str = "你没有使用此应用的权限（不在应用的可见范围内），请联系企业管理员。";

impl Refusal for WecomFailure {
    fn describe(&self) -> Description {
        use tracing::Level;
        let d = |status, code, zh: &'static str, en: Cow<'static, str>, level| Description {
            status,
            code,
            zh: zh.into(),
            en,
            level,
            retry_after: None,
        };
        match self {
            Self::NoSuiteTicket => d(
                StatusCode::SERVICE_UNAVAILABLE,
                "wecom_no_suite_ticket",
                "企业微信第三方应用尚未收到 suite_ticket，请联系网站管理员检查指令回调地址。",
                NO_SUITE_TICKET.into(),
                Level::ERROR,
            ),
            Self::UnknownCorp(_) => d(
                StatusCode::BAD_REQUEST,
                "wecom_unknown_corp",
                "本站未配置该企业的企业微信登录。",
                "This site has no WeCom app for that corp: name one of its corps with corp=CORPID."
                    .into(),
                Level::INFO,
            ),
            Self::Api(e) => api(e),
        }
    }

    fn refused_code(&self) -> Option<i64> {
        match self {
            Self::Api(e) if e.kind() == ErrorKind::LoginAgain => e.errcode(),
            _ => None,
        }
    }
}

/// `(status, code, zh, level)` of the errcodes a login can meet.
fn by_errcode(errcode: i64) -> Option<(StatusCode, &'static str, &'static str, tracing::Level)> {
    use tracing::Level;
    Some(match errcode {
        40029 => (
            StatusCode::BAD_REQUEST,
            "login_again",
            LOGIN_AGAIN_ZH,
            Level::INFO,
        ),
        50001 => (
            StatusCode::FORBIDDEN,
            "wecom_untrusted_domain",
            CONFIG_ZH,
            Level::ERROR,
        ),
        60020 => (
            StatusCode::FORBIDDEN,
            "wecom_ip_not_allowed",
            CONFIG_ZH,
            Level::ERROR,
        ),
        41030 => (
            StatusCode::FORBIDDEN,
            "wecom_not_authorized",
            "你的企业尚未安装（授权）此应用，请联系企业管理员安装后再登录。",
            Level::INFO,
        ),
        40014 | 42001 | 40001 => (
            StatusCode::BAD_GATEWAY,
            "wecom_token_refused",
            BUSY_ZH,
            Level::WARN,
        ),
        40082 | 42009 => (
            StatusCode::BAD_GATEWAY,
            "wecom_suite_token_refused",
            BUSY_ZH,
            Level::WARN,
        ),
        40085 | 41023 => (
            StatusCode::SERVICE_UNAVAILABLE,
            "wecom_suite_ticket_invalid",
            CONFIG_ZH,
            Level::ERROR,
        ),
        // 50002 outside the visible range, 48002 API not granted, 60011 no privilege,
        // 60111 UserID not found, 301002 no right to operate on this app.
        50002 | 60011 | 60111 | 301002 => (
            StatusCode::FORBIDDEN,
            "wecom_no_permission",
            PERMISSION_ZH,
            Level::INFO,
        ),
        45009 | 45033 => (
            StatusCode::SERVICE_UNAVAILABLE,
            "wecom_busy",
            BUSY_ZH,
            Level::WARN,
        ),
        -1 => (
            StatusCode::SERVICE_UNAVAILABLE,
            "wecom_busy",
            BUSY_ZH,
            Level::WARN,
        ),
        _ => return None,
    })
}

/// The likely cause of the errcodes the client's table leaves out.
fn extra_hint(errcode: i64) -> Option<&'static str> {
    Some(match errcode {
        60011 => {
            "the app has no privilege over this member or department: widen the app's visible \
             range (可见范围) in 应用管理"
        }
        60111 => "the UserID is not found in this corp: the member left or was renamed",
        301002 => {
            "no right to operate on this app: the token belongs to another app, or the app \
             was disabled"
        }
        _ => return None,
    })
}

/// How a WeCom failure is answered: by errcode where a login can meet it, else by kind;
/// the English text carries the errcode and its likely cause.
fn api(e: &WecomError) -> Description {
    use tracing::Level;
    let errcode = e.errcode();
    let hint = errcode.and_then(extra_hint).unwrap_or_else(|| e.hint());
    let with_cause = |what: &str| -> Cow<'static, str> {
        match errcode {
            Some(n) => format!("{what} (WeCom errcode {n}): {hint}").into(),
            None => format!("{what}: {hint}").into(),
        }
    };
    if let Some((status, code, zh, level)) = errcode.and_then(by_errcode) {
        let en = match code {
            "login_again" => LOGIN_AGAIN_EN.into(),
            "wecom_busy" => with_cause(BUSY_EN),
            "wecom_not_authorized" | "wecom_no_permission" => {
                with_cause("WeCom refused this login")
            }
            _ => with_cause("WeCom refused this site's configuration"),
        };
        return Description {
            status,
            code,
            zh: zh.into(),
            en,
            level,
            retry_after: (code == "wecom_busy" && errcode != Some(-1)).then_some(60),
        };
    }
    let (status, code, zh, level) = match e.kind() {
        ErrorKind::Retryable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "wecom_unavailable",
            "企业微信服务器暂时无法访问，请稍后再试。",
            Level::WARN,
        ),
        ErrorKind::Configuration | ErrorKind::NotAuthorized | ErrorKind::SuiteTicketInvalid => (
            StatusCode::FORBIDDEN,
            "wecom_configuration",
            CONFIG_ZH,
            Level::ERROR,
        ),
        ErrorKind::Permission => (
            StatusCode::FORBIDDEN,
            "wecom_no_permission",
            PERMISSION_ZH,
            Level::INFO,
        ),
        _ => (
            StatusCode::BAD_GATEWAY,
            "wecom_error",
            "企业微信登录失败，请稍后再试。",
            Level::WARN,
        ),
    };
    Description {
        status,
        code,
        zh: zh.into(),
        en: with_cause("WeCom failed"),
        level,
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(endpoint: &'static str, errcode: i64) -> WecomFailure {
        WecomFailure::Api(WecomError::Api {
            endpoint,
            errcode,
            errmsg: format!(
                "x, more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}"
            ),
        })
    }

    /// Every errcode a login can meet: its status, code and a word of its likely cause, and
    /// the rendered JSON carries them.
    #[test]
    fn each_errcode_row_is_described() {
        let rows: &[(&str, i64, u16, &str, &str)] = &[
            (
                "cgi-bin/auth/getuserinfo",
                40029,
                400,
                "login_again",
                "log in again",
            ),
            (
                "cgi-bin/auth/getuserinfo",
                50001,
                403,
                "wecom_untrusted_domain",
                "trusted domain",
            ),
            (
                "cgi-bin/gettoken",
                60020,
                403,
                "wecom_ip_not_allowed",
                "trusted IP",
            ),
            (
                "cgi-bin/service/auth/getuserinfo3rd",
                41030,
                403,
                "wecom_not_authorized",
                "install",
            ),
            (
                "cgi-bin/auth/getuserinfo",
                40014,
                502,
                "wecom_token_refused",
                "gettoken",
            ),
            (
                "cgi-bin/auth/getuserinfo",
                42001,
                502,
                "wecom_token_refused",
                "expired",
            ),
            (
                "cgi-bin/auth/getuserinfo",
                40001,
                502,
                "wecom_token_refused",
                "gettoken",
            ),
            (
                "cgi-bin/gettoken",
                40001,
                502,
                "wecom_token_refused",
                "corpsecret",
            ),
            (
                "cgi-bin/service/auth/getuserinfo3rd",
                40082,
                502,
                "wecom_suite_token_refused",
                "get_suite_token",
            ),
            (
                "cgi-bin/service/auth/getuserinfo3rd",
                42009,
                502,
                "wecom_suite_token_refused",
                "get_suite_token",
            ),
            (
                "cgi-bin/service/get_suite_token",
                40085,
                503,
                "wecom_suite_ticket_invalid",
                "newest ticket",
            ),
            (
                "cgi-bin/service/get_suite_token",
                41023,
                503,
                "wecom_suite_ticket_invalid",
                "command callback",
            ),
            (
                "cgi-bin/auth/getuserdetail",
                50002,
                403,
                "wecom_no_permission",
                "visible range",
            ),
            (
                "cgi-bin/auth/getuserinfo",
                60011,
                403,
                "wecom_no_permission",
                "visible range",
            ),
            (
                "cgi-bin/auth/getuserinfo",
                60111,
                403,
                "wecom_no_permission",
                "UserID",
            ),
            (
                "cgi-bin/auth/getuserinfo",
                301002,
                403,
                "wecom_no_permission",
                "operate",
            ),
            ("cgi-bin/gettoken", 45009, 503, "wecom_busy", "cache"),
            ("cgi-bin/gettoken", 45033, 503, "wecom_busy", "concurrent"),
            ("cgi-bin/gettoken", -1, 503, "wecom_busy", "busy"),
            (
                "cgi-bin/gettoken",
                40013,
                403,
                "wecom_configuration",
                "CorpID",
            ),
            (
                "cgi-bin/gettoken",
                40091,
                403,
                "wecom_configuration",
                "secret",
            ),
            (
                "cgi-bin/auth/getuserinfo",
                40056,
                403,
                "wecom_configuration",
                "agentid",
            ),
            (
                "cgi-bin/service/get_suite_token",
                40080,
                403,
                "wecom_configuration",
                "suite_secret",
            ),
            (
                "cgi-bin/service/get_suite_token",
                40083,
                403,
                "wecom_configuration",
                "suite_id",
            ),
            (
                "cgi-bin/service/auth/getuserinfo3rd",
                40086,
                403,
                "wecom_configuration",
                "appid",
            ),
            (
                "cgi-bin/auth/getuserdetail",
                48002,
                403,
                "wecom_no_permission",
                "grant",
            ),
            (
                "cgi-bin/auth/getuserinfo",
                99999,
                502,
                "wecom_error",
                "look it up",
            ),
        ];
        for &(endpoint, errcode, status, code, word) in rows {
            let f = api_error(endpoint, errcode);
            let d = f.describe();
            assert_eq!(d.status.as_u16(), status, "{errcode}");
            assert_eq!(d.code, code, "{errcode}");
            if code != "login_again" {
                assert!(d.en.contains(word), "{errcode}: {}", d.en);
                assert!(d.en.contains(&errcode.to_string()), "{errcode}: {}", d.en);
            }
            assert!(!d.zh.is_empty());
            let failure: Failure = f.into();
            let res = crate::core::render::json(&failure);
            assert_eq!(res.status().as_u16(), status, "{errcode}");
        }
        assert_eq!(
            api_error("cgi-bin/auth/getuserinfo", 40029).refused_code(),
            Some(40029)
        );
        assert_eq!(
            api_error("cgi-bin/auth/getuserinfo", 50001).refused_code(),
            None
        );
    }

    #[test]
    fn the_no_ticket_failure_says_what_to_check() {
        let d = WecomFailure::NoSuiteTicket.describe();
        assert_eq!((d.status.as_u16(), d.code), (503, "wecom_no_suite_ticket"));
        assert_eq!(d.en, NO_SUITE_TICKET);
        let d = WecomFailure::UnknownCorp("ww9".into()).describe();
        assert_eq!((d.status.as_u16(), d.code), (400, "wecom_unknown_corp"));
        let timeout = WecomFailure::Api(WecomError::Timeout {
            endpoint: "cgi-bin/gettoken",
        });
        assert_eq!(timeout.describe().status.as_u16(), 503);
    }
}
