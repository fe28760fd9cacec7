//! The WeChat provider's failures: WeChat refused or failed a call, gave a virtual
//! (snapshot-page) identity, or the configured token provider failed. Each is described
//! here (status, code, text, log level) and rendered by the core like every failure.

use std::{borrow::Cow, sync::Arc};

use http::StatusCode;
use wechat_auth_client::{ErrorKind, WechatError};

use crate::core::failure::{
    BUSY_ZH, Description, Failure, LOGIN_AGAIN_EN, LOGIN_AGAIN_ZH, Refusal,
};
use crate::error::HandleError;

/// Why a WeChat call or login failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WechatFailure {
    /// WeChat refused or failed.
    #[error(transparent)]
    Api(WechatError),
    /// WeChat gave a virtual (snapshot-page) identity.
    #[error("snapshot_user")]
    SnapshotUser,
    /// The configured token provider could not give a global access token.
    #[error("the token provider failed: {0}")]
    TokenProvider(String),
}

impl Refusal for WechatFailure {
    fn describe(&self) -> Description {
        use tracing::Level;
        match self {
            Self::Api(e) => wechat(e),
            Self::SnapshotUser => Description {
                status: StatusCode::FORBIDDEN,
                code: "snapshot_user",
                zh: "请使用完整服务后再登录。".into(),
                en: "WeChat gave a virtual (snapshot-page) identity; ask the user to use the full service"
                    .into(),
                level: Level::INFO,
                retry_after: None,
            },
            Self::TokenProvider(_) => Description {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "token_provider_unavailable",
                zh: BUSY_ZH.into(),
                en: "The access token service did not answer. Please try again in a moment.".into(),
                level: Level::WARN,
                retry_after: None,
            },
        }
    }

    fn refused_code(&self) -> Option<i64> {
        match self {
            Self::Api(e) if e.kind() == ErrorKind::LoginAgain => {
                Some(e.errcode().unwrap_or_default())
            }
            _ => None,
        }
    }
}

impl From<WechatError> for Failure {
    fn from(e: WechatError) -> Self {
        Failure::channel(WechatFailure::Api(e))
    }
}

impl From<WechatFailure> for Failure {
    fn from(f: WechatFailure) -> Self {
        Failure::channel(f)
    }
}

/// A failed handle call: WeChat's and the store's errors as themselves, anything else as
/// [`HandleError::Unavailable`].
impl From<Failure> for HandleError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Channel(f) => {
                let any: Arc<dyn std::any::Any + Send + Sync> = f;
                match any.downcast::<WechatFailure>().map(Arc::try_unwrap) {
                    Ok(Ok(WechatFailure::Api(e))) => Self::Wechat(e),
                    Ok(Ok(other)) => Self::Unavailable(other.to_string()),
                    Ok(Err(shared)) => Self::Unavailable(shared.to_string()),
                    Err(other) => Self::Unavailable(format!("{other:?}")),
                }
            }
            Failure::Store(e) => match Arc::try_unwrap(e) {
                Ok(e) => Self::Store(e),
                Err(shared) => Self::Unavailable(shared.to_string()),
            },
            other => Self::Unavailable(other.to_string()),
        }
    }
}

/// The WeChat error behind `failure`, if WeChat refused or failed a call.
pub(crate) fn wechat_error(failure: &Failure) -> Option<&WechatError> {
    match failure.refusal::<WechatFailure>()? {
        WechatFailure::Api(e) => Some(e),
        _ => None,
    }
}

/// How a WeChat failure is answered: by its kind, with the errcode's hint for the site's
/// own configuration.
fn wechat(e: &WechatError) -> Description {
    use tracing::Level;
    let (status, code, zh, en, level): (_, _, _, Cow<'static, str>, _) = match e {
        WechatError::Timeout { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "wechat_timeout",
            "微信服务器响应超时，请稍后再试。",
            "WeChat did not answer in time. Please try again.".into(),
            Level::WARN,
        ),
        e => match e.kind() {
            ErrorKind::LoginAgain => (
                StatusCode::BAD_REQUEST,
                "login_again",
                LOGIN_AGAIN_ZH,
                LOGIN_AGAIN_EN.into(),
                Level::WARN,
            ),
            ErrorKind::InvalidRequest => (
                StatusCode::BAD_REQUEST,
                "bad_request",
                "微信服务暂时不可用，请稍后再试。",
                "WeChat is temporarily unavailable. Please try again.".into(),
                Level::WARN,
            ),
            ErrorKind::Configuration | ErrorKind::Permission => (
                StatusCode::FORBIDDEN,
                "wechat_configuration",
                "本站的微信登录配置有误，请联系网站管理员。",
                format!(
                    "WeChat refused this site's configuration (errcode {}): {}",
                    e.errcode().unwrap_or_default(),
                    e.hint()
                )
                .into(),
                Level::ERROR,
            ),
            ErrorKind::Quota => (
                StatusCode::TOO_MANY_REQUESTS,
                "wechat_quota",
                "登录人数过多，请稍后再试。",
                "Too many logins right now. Please try again in a minute.".into(),
                Level::WARN,
            ),
            _ => (
                StatusCode::BAD_GATEWAY,
                "wechat_unavailable",
                "微信服务暂时不可用，请稍后再试。",
                "WeChat is temporarily unavailable. Please try again.".into(),
                Level::WARN,
            ),
        },
    };
    Description {
        status,
        code,
        zh: zh.into(),
        en,
        level,
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(errcode: i64) -> WechatError {
        WechatError::Api {
            endpoint: "sns/oauth2/access_token",
            errcode,
            errmsg: "invalid code".into(),
        }
    }

    #[test]
    fn a_refused_code_is_remembered_and_a_failed_call_is_not() {
        assert_eq!(Failure::from(api(40029)).refused_code(), Some(40029));
        assert_eq!(Failure::from(api(40013)).refused_code(), None);
        let timeout = WechatError::Timeout {
            endpoint: "sns/oauth2/access_token",
        };
        assert_eq!(Failure::from(timeout).refused_code(), None);
    }

    #[test]
    fn wechat_failures_are_described_and_rendered_by_the_core() {
        let cases = [
            (Failure::from(api(40029)), 400, "login_again"),
            (Failure::from(api(40013)), 403, "wechat_configuration"),
            (WechatFailure::SnapshotUser.into(), 403, "snapshot_user"),
            (
                WechatFailure::TokenProvider("down".into()).into(),
                503,
                "token_provider_unavailable",
            ),
        ];
        for (failure, status, code) in cases {
            let d = failure.describe();
            assert_eq!((d.status.as_u16(), d.code), (status, code), "{failure:?}");
            let res = crate::core::render::json(&failure);
            assert_eq!(res.status().as_u16(), status);
            // A 503 says when to come back; a refused code does not.
            assert_eq!(
                res.headers().contains_key(http::header::RETRY_AFTER),
                status == 503,
                "{failure:?}"
            );
        }
    }

    #[test]
    fn handle_calls_get_wechat_errors_as_themselves() {
        match HandleError::from(Failure::from(api(40029))) {
            HandleError::Wechat(e) => assert_eq!(e.errcode(), Some(40029)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            HandleError::from(Failure::from(WechatFailure::TokenProvider("down".into()))),
            HandleError::Unavailable(m) if m.contains("down")
        ));
    }
}
