//! Native clients: the mobile app (`POST app`), and the answer every native login shares
//! (the mini program is in [`super::miniprogram`], refresh with the account endpoints in
//! [`super::account`]).
//!
//! - **Mobile app.** The WeChat OpenSDK hands the app a `code` (the app holds only its
//!   AppID); the app posts it here; the layer exchanges it with the mobile app's AppSecret,
//!   reads the profile, keeps WeChat's tokens server-side, and answers a bearer session.
//! - **Refresh.** A valid bearer token is exchanged for a fresh one (the old one is revoked),
//!   so apps keep long sessions without storing anything but the token.
//!
//! Every answer is `{token, token_type: "Bearer", expires_in, user}`.

use axum_core::body::Body;
use bytes::Bytes;
use http::{Response, StatusCode};
use serde::Deserialize;

use std::{borrow::Cow, net::IpAddr, sync::Arc};

use crate::{
    channels::Mount,
    config::AppCredentials,
    core::{
        exchange::{Exchanges, LoginOutcome},
        failure::{Description, Failure, Refusal},
        limit::ClientIpHeader,
        login::Logins,
        native::{self, with_native_token},
        request::Origins,
        route::{Endpoints, Mounted, Route},
        sessions::Sessions,
    },
    providers::wechat::code::CodeLogin,
    user::{Channel, Identity},
};

/// This channel's settings: the mobile app's credentials (none when it is off).
pub(crate) struct Settings {
    /// The mobile app's AppID and AppSecret.
    pub(crate) mobile: Option<AppCredentials>,
}

/// The mobile app channel's state: its settings and the services it calls.
pub(crate) struct App {
    settings: Settings,
    /// Native bearer sessions.
    sessions: Arc<Sessions>,
    /// Exactly-once code exchange.
    exchanges: Arc<Exchanges>,
    /// Logging in with the app's OAuth code.
    code_login: Arc<CodeLogin>,
    /// Who is signed in already (for `on_login` to bind to).
    logins: Arc<Logins>,
    /// Where a request carrying a session cookie may come from.
    origins: Origins,
    /// Which client sent a request.
    client_ip: Option<ClientIpHeader>,
}

impl App {
    /// This channel's state, from what a layer is given (the one place it reads them).
    pub(crate) fn new(e: &Mount) -> Self {
        Self {
            settings: Settings {
                mobile: e.cfg.mobile.clone(),
            },
            sessions: e.sessions.clone(),
            exchanges: e.exchanges.clone(),
            code_login: e.code_login.clone(),
            logins: e.logins.clone(),
            origins: e.origins.clone(),
            client_ip: e.client_ip.clone(),
        }
    }
}

/// The failures of native logins (the mobile app's, the mini program's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AppFailure {
    /// A native login's code was used already: its token was handed out once (or has been
    /// revoked since), and a repeat gets no new one.
    #[error("login_again")]
    CodeUsed,
    /// The user cancelled the WeChat authorization in the app (SDK `errCode` -2).
    #[error("cancelled")]
    Cancelled,
    /// The user denied the WeChat authorization in the app (SDK `errCode` -4).
    #[error("denied")]
    Denied,
    /// The WeChat SDK reported another error; the app has no code.
    #[error("sdk_error")]
    SdkError(i64),
}

impl Refusal for AppFailure {
    fn describe(&self) -> Description {
        let (code, zh, en): (_, _, Cow<'static, str>) = match self {
            Self::CodeUsed => (
                "login_again",
                "该登录凭证已使用，请重新登录。",
                "This code was already used to log in: get a new code (wx.login or SendAuth) and log in again."
                    .into(),
            ),
            Self::Cancelled => (
                "cancelled",
                "你取消了微信授权。",
                "the user cancelled the WeChat authorization (errCode -2)".into(),
            ),
            Self::Denied => (
                "denied",
                "你拒绝了微信授权。",
                "the user denied the WeChat authorization (errCode -4)".into(),
            ),
            Self::SdkError(code) => (
                "sdk_error",
                "微信 SDK 报告了错误。",
                format!("the WeChat SDK reported errCode {code}; no code to exchange").into(),
            ),
        };
        Description {
            status: StatusCode::BAD_REQUEST,
            code,
            zh: zh.into(),
            en,
            level: tracing::Level::INFO,
            retry_after: None,
        }
    }
}

impl From<AppFailure> for Failure {
    fn from(f: AppFailure) -> Self {
        Failure::channel(f)
    }
}

/// Largest JSON body read from an app.
pub(crate) const MAX_BODY: usize = 16 * 1024;

/// What an app posts: the SDK's result.
#[derive(Deserialize)]
struct CodeBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    /// `SendAuth.Resp.errCode`, when the app forwards the SDK's result as it is.
    #[serde(default, rename = "errCode", alias = "err_code")]
    err_code: Option<i64>,
}

/// Parses the body; anything but a usable code is a `400` [`Failure`].
pub(super) fn read_code(body: &Bytes) -> Result<(String, Option<String>), Failure> {
    let parsed: CodeBody = serde_json::from_slice(body)
        .map_err(|_| Failure::BadRequest(r#"send JSON like {"code": "…"}"#.into()))?;
    match parsed.err_code {
        None | Some(0) => {}
        Some(-2) => return Err(AppFailure::Cancelled.into()),
        Some(-4) => return Err(AppFailure::Denied.into()),
        Some(other) => return Err(AppFailure::SdkError(other).into()),
    }
    let code = parsed.code.unwrap_or_default();
    let usable = !code.is_empty()
        && code.len() <= 128
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !usable {
        return Err(Failure::BadRequest("`code` is missing or malformed".into()));
    }
    Ok((code, parsed.state))
}

/// Answers a login outcome to an app: the code's token while it may be handed out
/// ([`native::handed_out`]), else why not.
pub(super) fn outcome_response(
    sessions: &Sessions,
    outcome: &LoginOutcome,
) -> Result<Response<Body>, Failure> {
    if let Some((identity, issued)) = native::handed_out(sessions, outcome) {
        // A WeChat login keeps its answer's shape; another provider's shows its ids.
        return Ok(match identity.as_wechat() {
            Some(user) => native::token_response(user, issued),
            None => native::token_response(identity, issued),
        });
    }
    match outcome {
        LoginOutcome::Refused { message, .. } => Err(Failure::Refused(message.clone())),
        LoginOutcome::Snapshot { .. } => {
            Err(crate::providers::wechat::failure::WechatFailure::SnapshotUser.into())
        }
        LoginOutcome::Success { .. } | LoginOutcome::Failed { .. } => {
            Err(AppFailure::CodeUsed.into())
        }
    }
}

/// `POST PREFIX/app` `{code, state?}` (or the SDK's `{errCode}`): mobile app login;
/// `signed_in` is the session the request already carried ([`signed_in`]).
pub(crate) async fn mobile(
    auth: &App,
    client: Option<IpAddr>,
    signed_in: Option<Identity>,
    body: Bytes,
) -> Result<Response<Body>, Failure> {
    let Some(app) = &auth.settings.mobile else {
        return Err(Failure::ChannelOff(
            "mobile app (set WECHAT_MOBILE_APP_ID and _SECRET)",
        ));
    };
    let (code, state) = read_code(&body)?;
    // The app checks `state` itself (it made it); it is kept only to tell repeats apart.
    let state = state.unwrap_or_default();
    let (code, state) = (code.as_str(), state.as_str());
    let outcome = auth
        .exchanges
        .exchange_once(app.appid(), code, client, |keep| async move {
            let outcome = auth
                .code_login
                .login_with_code(app, code, Channel::MobileApp, state, "/", signed_in, &keep)
                .await?;
            Ok(with_native_token(&auth.sessions, outcome))
        })
        .await?;
    if outcome.state() != state {
        return Err(Failure::BadRequest(
            "this code belongs to another login".into(),
        ));
    }
    outcome_response(&auth.sessions, &outcome)
}

/// Mounts this channel on a layer: its state and its routes.
pub(crate) fn mount(engine: &Arc<Mount>) -> Box<dyn Endpoints> {
    Mounted::boxed(App::new(engine), routes())
}

/// This channel's endpoint in the layer's route table: `POST app`, a body of at most
/// [`MAX_BODY`] bytes.
pub(crate) fn routes() -> &'static [Route<App>] {
    use crate::core::route::{Path, boxed};
    static ROUTES: [Route<App>; 1] = [Route::post_body(Path::Exact("/app"), MAX_BODY, |c| {
        boxed(async move {
            let client = crate::core::limit::client_ip(c.req, c.auth.client_ip.as_ref());
            let signed_in = native::signed_in(&c.auth.origins, &c.auth.logins, c.req);
            mobile(c.auth, client, signed_in, c.body).await
        })
    })];
    &ROUTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_results_and_bad_bodies_are_400() {
        for body in [
            r#"{"errCode":-2}"#,
            r#"{"errCode":-4}"#,
            r#"{"errCode":-1}"#,
            r#"{}"#,
            r#"{"code":""}"#,
            r#"{"code":"a b"}"#,
            "not json",
        ] {
            let res = read_code(&Bytes::from(body)).map_err(|f| crate::core::render::json(&f));
            assert_eq!(res.unwrap_err().status(), 400, "{body}");
        }
        let ok = read_code(&Bytes::from(r#"{"code":"abc123","state":"s"}"#));
        assert_eq!(ok.ok(), Some(("abc123".to_owned(), Some("s".to_owned()))));
        let code = |body: &str| {
            read_code(&Bytes::from(body.to_owned()))
                .err()
                .and_then(|f| f.refusal::<AppFailure>().copied())
        };
        assert_eq!(code(r#"{"errCode":-2}"#), Some(AppFailure::Cancelled));
        assert_eq!(code(r#"{"errCode":-4}"#), Some(AppFailure::Denied));
        assert_eq!(code(r#"{"errCode":-7}"#), Some(AppFailure::SdkError(-7)));
    }

    /// Every native login failure: `400` with its code, in Chinese and English, rendered as
    /// JSON like every other failure.
    #[test]
    fn every_native_failure_is_described_and_rendered() {
        for (f, code) in [
            (AppFailure::CodeUsed, "login_again"),
            (AppFailure::Cancelled, "cancelled"),
            (AppFailure::Denied, "denied"),
            (AppFailure::SdkError(-1), "sdk_error"),
        ] {
            let d = f.describe();
            assert_eq!((d.status, d.code), (StatusCode::BAD_REQUEST, code), "{f:?}");
            assert!(!d.zh.is_empty() && !d.en.is_empty(), "{f:?}");
            assert_eq!(f.to_string(), code);
            let res = crate::core::render::json(&f.into());
            assert_eq!(res.status(), StatusCode::BAD_REQUEST);
            assert!(res.headers().get(http::header::RETRY_AFTER).is_none());
        }
        let d = AppFailure::SdkError(-9).describe();
        assert!(d.en.contains("errCode -9"), "{}", d.en);
    }
}
