//! WeChat-style error bodies (`{"errcode":N,"errmsg":"…, rid: …"}`) and the mock's own
//! [`MockError`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ids;

/// Why a call on the [`MockWechat`](super::MockWechat) handle could not be done.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use wechat_auth_mock::{MockError, MockWechat};
///
/// let mock = MockWechat::start().await?;
/// let err = mock.sdk_code(&mock.website().appid, "alice").unwrap_err();
/// assert!(matches!(err, MockError::WrongAppKind { .. }));
/// assert!(matches!(mock.sdk_code("wx_nope", "alice"), Err(MockError::UnknownApp(_))));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MockError {
    /// No app with this appid is registered.
    #[error("unknown appid {0:?}")]
    UnknownApp(String),
    /// No simulated user has this name.
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    /// The app exists but cannot do what was asked (e.g. an SDK code for a website app).
    #[error("appid {appid} is a {kind} app: {reason}")]
    WrongAppKind {
        /// The appid given.
        appid: String,
        /// Its kind (`website`, `official_account`, …).
        kind: &'static str,
        /// What would have been needed.
        reason: &'static str,
    },
    /// A value given to the mock is not acceptable (e.g. a push URL that is not http(s)).
    #[error("invalid value: {0}")]
    Invalid(String),
    /// No QR code the mock issued matches what was scanned (`POST /mock/scan` answers 404).
    #[error("no QR code matches {0}")]
    UnknownTicket(String),
    /// The scanned QR code has expired; WeChat shows the user "二维码已过期" and pushes
    /// nothing (`POST /mock/scan` answers 410).
    #[error("QR code expired (二维码已过期): {0}")]
    ExpiredTicket(String),
    /// No mini program link the mock made matches (`POST /mock/miniprogram/open` answers
    /// 404).
    #[error("no mini program link matches {0}")]
    UnknownLink(String),
    /// The mini program link has expired (`POST /mock/miniprogram/open` answers 404).
    #[error("mini program link expired: {0}")]
    ExpiredLink(String),
    /// A scan needs somewhere to push its event.
    #[error(
        "no push URL for {0}: set one with POST /mock/scan push_url, POST /mock/push_url or MockWechat::set_push_url"
    )]
    NoPushUrl(String),
}

/// The English errmsg WeChat uses for `code` (before the `rid` suffix).
pub(crate) fn errmsg(code: i64) -> &'static str {
    match code {
        -1 => "system error",
        0 => "ok",
        40001 => "invalid credential, access_token is invalid or not latest",
        40002 => "invalid grant_type",
        40003 => "invalid openid",
        40013 => "invalid appid",
        40014 => "invalid access_token",
        40029 => "invalid code",
        40030 => "invalid refresh_token",
        40053 => "invalid action info",
        40097 => "invalid args",
        40125 => "invalid appsecret",
        40129 => "invalid scene",
        40163 => "code been used",
        40165 => "invalid weapp pagepath",
        40169 => "invalid length for scene, or the data is not json string",
        40212 => "invalid query",
        40226 => "code blocked",
        41001 => "access_token missing",
        41002 => "appid missing",
        41003 => "refresh_token missing",
        41004 => "appsecret missing",
        41008 => "missing code",
        41009 => "missing openid",
        41030 => "invalid page",
        42001 => "access_token expired",
        42002 => "refresh_token expired",
        42003 => "code expired",
        43001 => "require GET method",
        43002 => "require POST method",
        43003 => "require https",
        44002 => "empty post data",
        44990 => "reach max api minute-quota limit, too many requests",
        45009 => "reach max api daily quota limit",
        45011 => "api minute-quota reach limit, must slower, retry next minute",
        47001 => "data format error",
        48001 => "api unauthorized",
        50001 => "user unauthorized",
        50002 => "user limited",
        87008 => "invalid sig_method",
        85079 => "miniprogram has no online release",
        87009 => "invalid signature",
        _ => "mock injected error",
    }
}

/// A WeChat JSON error: HTTP 200 with `errcode` and `errmsg` (+ random rid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WxError {
    pub(crate) code: i64,
    pub(crate) detail: Option<String>,
}

impl WxError {
    pub(crate) fn new(code: i64) -> Self {
        WxError { code, detail: None }
    }

    /// Same code, with a more precise errmsg than the default one.
    pub(crate) fn with_detail(code: i64, detail: impl Into<String>) -> Self {
        WxError {
            code,
            detail: Some(detail.into()),
        }
    }

    pub(crate) fn body(&self) -> serde_json::Value {
        let msg = self.detail.as_deref().unwrap_or_else(|| errmsg(self.code));
        serde_json::json!({
            "errcode": self.code,
            "errmsg": format!("{msg}, rid: {}", ids::rid()),
        })
    }
}

impl IntoResponse for WxError {
    fn into_response(self) -> Response {
        tracing::debug!(errcode = self.code, "mock wechat: error answer");
        json(&self.body())
    }
}

/// A JSON answer as WeChat sends it: HTTP 200, `application/json`. (The text/plain switch
/// is applied by the middleware.)
pub(crate) fn json(value: &serde_json::Value) -> Response {
    let mut resp = (StatusCode::OK, value.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// A JSON error of the control API (`/mock/*`): HTTP 400 `{"error": "…"}`.
pub(crate) fn control_error(msg: impl std::fmt::Display) -> Response {
    let mut resp = json(&serde_json::json!({ "error": msg.to_string() }));
    *resp.status_mut() = StatusCode::BAD_REQUEST;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_code_message_and_rid() {
        let body = WxError::new(40029).body();
        assert_eq!(body["errcode"], 40029);
        let msg = body["errmsg"].as_str().unwrap();
        assert!(msg.starts_with("invalid code, rid: "), "{msg}");
        assert_eq!(msg.len(), "invalid code, rid: ".len() + 26);
        assert_ne!(
            WxError::new(-1).body(),
            WxError::new(-1).body(),
            "rid is random"
        );
    }
}
