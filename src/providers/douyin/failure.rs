//! The Douyin provider's failures: Douyin refused or failed a call, or the user's Douyin
//! authorization is over (the refresh token expired, or was renewed the five times Douyin
//! allows). Each is described here (status, code, text, log level) and rendered by the core
//! like every failure.

use std::{borrow::Cow, sync::Arc};

use http::StatusCode;
use wechat_auth_douyin_client::{DouyinError, ErrorKind};

use crate::core::failure::{
    BUSY_ZH, Description, Failure, LOGIN_AGAIN_EN, LOGIN_AGAIN_ZH, Refusal,
};
use crate::error::HandleError;

/// Why a Douyin call or login failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DouyinFailure {
    /// Douyin refused or failed a call.
    #[error(transparent)]
    Api(DouyinError),
    /// The user's refresh token expired (or Douyin no longer knows it): log in again.
    #[error("the Douyin authorization has expired: the user must log in again")]
    LoginAgain,
    /// The refresh token was already renewed five times (Douyin's 10020): log in again.
    #[error("the Douyin refresh token was renewed the five times Douyin allows: log in again")]
    RenewLimit,
    /// The signed-in user has no Douyin user token here (a mini-app login, or tokens gone).
    #[error("no Douyin user token is kept for this user")]
    NoTokens,
}

impl Refusal for DouyinFailure {
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
            Self::Api(e) => douyin(e),
            Self::LoginAgain => d(
                StatusCode::UNAUTHORIZED,
                "login_again",
                "抖音授权已过期，请重新用抖音登录。",
                "The Douyin authorization has expired: log in with Douyin again.".into(),
                Level::INFO,
            ),
            Self::RenewLimit => d(
                StatusCode::UNAUTHORIZED,
                "login_again",
                "抖音授权已续期 5 次，不能再续，请重新用抖音登录。",
                "The Douyin refresh token was renewed the five times Douyin allows: log in with Douyin again."
                    .into(),
                Level::INFO,
            ),
            Self::NoTokens => d(
                StatusCode::NOT_FOUND,
                "no_douyin_token",
                "此次登录没有抖音用户授权（例如抖音小程序登录）。",
                "This login holds no Douyin user token (a mini-app login, or it was removed): log in with Douyin on the web or in the app."
                    .into(),
                Level::INFO,
            ),
        }
    }

    fn refused_code(&self) -> Option<i64> {
        match self {
            Self::Api(e) if e.kind() == ErrorKind::LoginAgain => Some(e.code().unwrap_or_default()),
            _ => None,
        }
    }
}

/// A failed [`DouyinHandle`](crate::DouyinHandle) call: Douyin's own failures as
/// [`HandleError`]'s Douyin variants, anything else as any handle call's.
pub(crate) fn handle_error(failure: Failure) -> HandleError {
    let Failure::Channel(refusal) = failure else {
        return HandleError::from(failure);
    };
    let any: Arc<dyn std::any::Any + Send + Sync> = refusal.clone();
    let Ok(douyin) = any.downcast::<DouyinFailure>() else {
        return HandleError::from(Failure::Channel(refusal));
    };
    drop(refusal);
    match Arc::try_unwrap(douyin) {
        Ok(DouyinFailure::Api(e)) => HandleError::Douyin(e),
        Ok(DouyinFailure::LoginAgain) => HandleError::DouyinLoginAgain { renew_limit: false },
        Ok(DouyinFailure::RenewLimit) => HandleError::DouyinLoginAgain { renew_limit: true },
        Ok(DouyinFailure::NoTokens) => HandleError::NoDouyinToken,
        Err(shared) => HandleError::Unavailable(shared.to_string()),
    }
}

impl From<DouyinError> for Failure {
    fn from(e: DouyinError) -> Self {
        Failure::channel(DouyinFailure::Api(e))
    }
}

impl From<DouyinFailure> for Failure {
    fn from(f: DouyinFailure) -> Self {
        Failure::channel(f)
    }
}

/// How a Douyin error is answered: by its kind, with the hint for the site's own
/// configuration.
fn douyin(e: &DouyinError) -> Description {
    use tracing::Level;
    let (status, code, zh, en, level): (_, _, &'static str, Cow<'static, str>, _) = match e {
        DouyinError::Timeout { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "douyin_timeout",
            "抖音服务器响应超时，请稍后再试。",
            "Douyin did not answer in time. Please try again.".into(),
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
            ErrorKind::Configuration | ErrorKind::Permission => (
                StatusCode::FORBIDDEN,
                "douyin_configuration",
                "本站的抖音登录配置有误，请联系网站管理员。",
                format!(
                    "Douyin refused this site's configuration (error {}): {}",
                    e.code().unwrap_or_default(),
                    e.hint()
                )
                .into(),
                Level::ERROR,
            ),
            ErrorKind::Quota => (
                StatusCode::TOO_MANY_REQUESTS,
                "douyin_quota",
                "登录人数过多，请稍后再试。",
                "Too many logins right now. Please try again in a minute.".into(),
                Level::WARN,
            ),
            ErrorKind::InvalidRequest => (
                StatusCode::BAD_REQUEST,
                "bad_request",
                "抖音拒绝了这次登录请求，请重新登录。",
                format!(
                    "Douyin refused the request (error {}): {}",
                    e.code().unwrap_or_default(),
                    e.hint()
                )
                .into(),
                Level::WARN,
            ),
            ErrorKind::Retryable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "douyin_unavailable",
                BUSY_ZH,
                "Douyin is busy. Please try again in a moment.".into(),
                Level::WARN,
            ),
            _ => (
                StatusCode::BAD_GATEWAY,
                "douyin_unavailable",
                "抖音服务暂时不可用，请稍后再试。",
                "Douyin is temporarily unavailable. Please try again.".into(),
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

    fn api(endpoint: &'static str, code: i64) -> DouyinError {
        DouyinError::Api {
            endpoint,
            code,
            description: "x".into(),
            logid: Some("L".into()),
        }
    }

    /// Every error row of issue 28 item 5: its status and code, rendered by the core.
    #[test]
    fn douyin_failures_are_described_and_rendered_by_the_core() {
        let at = "oauth/access_token/";
        let cases: Vec<(Failure, u16, &str)> = vec![
            (api(at, 10007).into(), 400, "login_again"),
            (
                api("oauth/userinfo/", 10008).into(),
                502,
                "douyin_unavailable",
            ),
            (
                api("oauth/refresh_token/", 10010).into(),
                400,
                "login_again",
            ),
            (
                api("oauth/renew_refresh_token/", 10020).into(),
                400,
                "login_again",
            ),
            (api(at, 2_100_005).into(), 400, "login_again"),
            (api("oauth/userinfo/", 2_100_005).into(), 400, "bad_request"),
            (
                api("oauth/userinfo/", 2_190_008).into(),
                502,
                "douyin_unavailable",
            ),
            (api(at, 28_001_005).into(), 503, "douyin_unavailable"),
            (api(at, 28_001_007).into(), 400, "bad_request"),
            (
                api("oauth/userinfo/", 28_001_008).into(),
                502,
                "douyin_unavailable",
            ),
            (
                api("oauth/userinfo/", 28_001_012).into(),
                403,
                "douyin_configuration",
            ),
            (
                api("oauth/userinfo/", 28_001_015).into(),
                502,
                "douyin_unavailable",
            ),
            (api(at, 28_001_016).into(), 403, "douyin_configuration"),
            (api(at, 28_003_018).into(), 429, "douyin_quota"),
            (
                api("api/apps/v2/jscode2session", 40015).into(),
                403,
                "douyin_configuration",
            ),
            (
                api("api/apps/v2/jscode2session", 40017).into(),
                403,
                "douyin_configuration",
            ),
            (
                api("api/apps/v2/jscode2session", 40018).into(),
                400,
                "login_again",
            ),
            (
                DouyinError::Timeout { endpoint: at }.into(),
                503,
                "douyin_timeout",
            ),
            (DouyinFailure::LoginAgain.into(), 401, "login_again"),
            (DouyinFailure::RenewLimit.into(), 401, "login_again"),
            (DouyinFailure::NoTokens.into(), 404, "no_douyin_token"),
        ];
        for (failure, status, code) in cases {
            let d = failure.describe();
            assert_eq!((d.status.as_u16(), d.code), (status, code), "{failure:?}");
            let res = crate::core::render::json(&failure);
            assert_eq!(res.status().as_u16(), status, "{failure:?}");
        }
    }

    #[test]
    fn a_refused_code_is_remembered_and_a_failed_call_is_not() {
        assert_eq!(
            Failure::from(api("oauth/access_token/", 10007)).refused_code(),
            Some(10007)
        );
        assert_eq!(
            Failure::from(api("api/apps/v2/jscode2session", 40018)).refused_code(),
            Some(40018)
        );
        assert_eq!(
            Failure::from(api("oauth/access_token/", 28_001_016)).refused_code(),
            None
        );
        let t = DouyinError::Timeout {
            endpoint: "oauth/access_token/",
        };
        assert_eq!(Failure::from(t).refused_code(), None);
    }
}
