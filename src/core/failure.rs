//! One failure type for every endpoint the layer serves, described in one place: status,
//! machine code, Chinese and English text, log level and `Retry-After` all come from
//! [`Failure::describe`]; [`crate::core::render`] turns the description into a response (JSON, an
//! error page, a popup's message, a push answer) and logs it.
//!
//! Flows return `Result<Response, Failure>`; the dispatcher renders a failure once, as JSON
//! or (for the browser pages) as HTML with a link to try again. Public error types that
//! handlers see live in `crate::error`, above the core.

use std::{borrow::Cow, sync::Arc};

use http::StatusCode;

use crate::{core::limit::Exceeded, core::store::StoreError};

/// Why a request to one of the layer's endpoints could not be served. Cheap to clone
/// (shared by every caller of one exchange).
#[derive(Clone, Debug)]
pub(crate) enum Failure {
    /// The request is malformed or incomplete.
    BadRequest(String),
    /// The login was not started in this browser, or its state expired.
    StateMismatch,
    /// The channel is not configured.
    ChannelOff(&'static str),
    /// A channel's or a provider's own failure, which knows how it is answered.
    Channel(Arc<dyn Refusal>),
    /// The store failed.
    Store(Arc<StoreError>),
    /// Another instance is still exchanging this code.
    Busy,
    /// WeChat already refused this code (errcode kept): a repeat is not sent upstream again.
    CodeRefused(i64),
    /// This client has too many exchanges under way, or too many refused codes lately.
    TooMany(Exceeded),
    /// The `on_login` hook refused, with its message.
    Refused(String),
    /// A state-changing request from another site; says what it was.
    CrossOrigin(&'static str),
    /// No such thing; says what.
    NotFound(&'static str),
    /// The request body is larger than the endpoint reads.
    TooLarge,
    /// The request body could not be read.
    BadBody,
    /// The request body did not arrive within the deadline.
    BodyTimeout,
    /// The endpoint does not take this method; the methods it takes.
    MethodNotAllowed(&'static str),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(Arc::new(e))
    }
}

/// A failure of one channel or provider, answered like every other: it describes itself
/// (status, code, text, log level, `Retry-After`) and the core renders it. A channel keeps
/// its failures in an enum of its own and turns them into [`Failure::Channel`].
pub(crate) trait Refusal:
    std::fmt::Debug + std::fmt::Display + Send + Sync + std::any::Any
{
    /// How this failure is answered. A `Retry-After` left out is the status's default (60 s
    /// for `429`, 5 s for `502`/`503`).
    fn describe(&self) -> Description;

    /// The provider's errcode when it refused a login code itself (used, expired, made
    /// up): an exchange remembers the refusal, so a repeat of the code costs no upstream
    /// call, and counts it against the client.
    fn refused_code(&self) -> Option<i64> {
        None
    }

    /// Logs this failure, described as `d`, when it is answered. The default logs at the
    /// description's level; a failure with more to say (what setting to check) says it.
    fn log(&self, d: &Description) {
        log_at_level(&self, d);
    }

    /// Whether this failure is answered to WeChat's push servers: no `Retry-After` (they
    /// keep their own schedule).
    fn is_push(&self) -> bool {
        false
    }
}

/// Logs `failure` at the level `d` gives: the errors of a provider refusing the site's
/// configuration, the warnings of failed calls, and plain refusals.
pub(crate) fn log_at_level(failure: &dyn std::fmt::Display, d: &Description) {
    use tracing::Level;
    match d.level {
        Level::ERROR => tracing::error!(error = %failure, "the provider refused the configuration"),
        Level::WARN => tracing::warn!(error = %failure, "provider call failed"),
        Level::DEBUG | Level::TRACE => tracing::debug!(error = %failure, code = d.code),
        _ => tracing::info!(error = d.code, "request refused"),
    }
}

impl Failure {
    /// A channel's or provider's failure.
    pub(crate) fn channel(refusal: impl Refusal) -> Self {
        Self::Channel(Arc::new(refusal))
    }

    /// See [`Refusal::refused_code`].
    pub(crate) fn refused_code(&self) -> Option<i64> {
        match self {
            Self::Channel(f) => f.refused_code(),
            _ => None,
        }
    }

    /// The channel's or provider's failure of type `R`, if this is one.
    pub(crate) fn refusal<R: Refusal>(&self) -> Option<&R> {
        match self {
            Self::Channel(f) => {
                let any: &dyn std::any::Any = f.as_ref();
                any.downcast_ref()
            }
            _ => None,
        }
    }
}

/// Everything a response to a [`Failure`] needs, decided in one place.
#[derive(Debug)]
pub(crate) struct Description {
    pub(crate) status: StatusCode,
    /// Machine-readable code for JSON answers.
    pub(crate) code: &'static str,
    /// What to tell a person, in Chinese.
    pub(crate) zh: Cow<'static, str>,
    /// The same in English (the JSON `message`).
    pub(crate) en: Cow<'static, str>,
    pub(crate) level: tracing::Level,
    /// Seconds for `Retry-After`, when trying again later can help.
    pub(crate) retry_after: Option<u64>,
}

pub(crate) const LOGIN_AGAIN_ZH: &str = "登录凭证已失效（可能已使用或已过期），请重新登录。";
pub(crate) const LOGIN_AGAIN_EN: &str =
    "This login link was already used or has expired. Please log in again.";
pub(crate) const BUSY_ZH: &str = "服务暂时繁忙，请稍后再试。";
pub(crate) const BUSY_EN: &str = "The service is busy. Please try again in a moment.";

impl Failure {
    /// Status, code, text, log level and `Retry-After` of this failure: 4xx when the
    /// person, the request or the configuration is at fault, 502/503 when WeChat (or the
    /// store) is down or slow.
    pub(crate) fn describe(&self) -> Description {
        use tracing::Level;
        let d = |status, code, zh: &'static str, en: Cow<'static, str>| Description {
            status,
            code,
            zh: zh.into(),
            en,
            level: Level::INFO,
            retry_after: None,
        };
        let mut out = match self {
            Self::BadRequest(m) => d(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "请求不完整或有误。",
                m.clone().into(),
            ),
            Self::StateMismatch => d(
                StatusCode::BAD_REQUEST,
                "state_mismatch",
                "这次登录不是在本浏览器中发起的，或已过期。请重新登录。",
                "This login was not started in this browser, or it has expired. Please log in again."
                    .into(),
            ),
            Self::ChannelOff(c) => d(
                StatusCode::NOT_FOUND,
                "channel_not_configured",
                "此登录方式未启用。",
                format!("The {c} login is not configured on this site.").into(),
            ),
            Self::Store(_) => Description {
                level: Level::DEBUG, // The store logs its own outages, once per burst.
                ..d(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    BUSY_ZH,
                    BUSY_EN.into(),
                )
            },
            Self::Busy => d(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                BUSY_ZH,
                BUSY_EN.into(),
            ),
            Self::Channel(f) => f.describe(),
            Self::CodeRefused(_) => d(
                StatusCode::BAD_REQUEST,
                "login_again",
                LOGIN_AGAIN_ZH,
                LOGIN_AGAIN_EN.into(),
            ),
            Self::TooMany(Exceeded::InFlight) => d(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "登录请求过多，请稍后再试。",
                "Too many logins at once from this client. Please try again in a moment.".into(),
            ),
            Self::TooMany(Exceeded::Failures) => d(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "无效的登录请求过多，请一分钟后再试。",
                "Too many invalid login codes from this client. Please wait a minute and try again."
                    .into(),
            ),
            Self::Refused(message) => d(
                StatusCode::FORBIDDEN,
                "refused",
                "本站拒绝了这次登录。",
                message.clone().into(),
            ),
            Self::CrossOrigin(what) => d(
                StatusCode::FORBIDDEN,
                "cross_origin",
                "请求必须来自本站。",
                (*what).into(),
            ),
            Self::NotFound(what) => d(
                StatusCode::NOT_FOUND,
                "not_found",
                "找不到该资源。",
                (*what).into(),
            ),
            Self::TooLarge => d(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "请求过大。",
                "request body too large".into(),
            ),
            Self::BadBody => d(
                StatusCode::BAD_REQUEST,
                "bad_body",
                "无法读取请求内容。",
                "could not read the request body".into(),
            ),
            Self::BodyTimeout => d(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "请求内容未能及时到达。",
                "the request body did not arrive in time".into(),
            ),
            Self::MethodNotAllowed(_) => d(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "不支持该请求方法。",
                "method not allowed".into(),
            ),
        };
        out.retry_after = match (self, out.status) {
            // WeChat's push servers keep their own schedule.
            (Self::Channel(f), _) if f.is_push() => None,
            (Self::Channel(_), _) if out.retry_after.is_some() => out.retry_after,
            (_, StatusCode::TOO_MANY_REQUESTS) => Some(60),
            (_, StatusCode::SERVICE_UNAVAILABLE | StatusCode::BAD_GATEWAY) => Some(5),
            _ => None,
        };
        out
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Channel(e) => e.fmt(f),
            Self::Store(e) => e.fmt(f),
            Self::CodeRefused(errcode) => write!(f, "WeChat refused this code before ({errcode})"),
            other => f.write_str(other.describe().code),
        }
    }
}
