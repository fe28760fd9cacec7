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
use http::{Response, StatusCode, request::Parts};
use serde::{Deserialize, Serialize};

use std::net::IpAddr;

use crate::core::failure::Failure;
use crate::{
    channels::Engine, core::clock::now_unix, core::exchange::LoginOutcome, core::respond,
    core::sessions::tokens::IssuedToken, user::Channel, user::WechatUser,
};

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

/// The answer of every native login.
#[derive(Serialize)]
struct TokenBody<'a, U> {
    token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    user: &'a U,
}

/// How long a native login that is repeated with the same code gets the same token back (an
/// app that retried because its first answer was lost); later repeats get `login_again`.
pub(crate) const REPEAT_WINDOW: u64 = 10;

/// Answers an issued bearer session.
pub(super) fn token_response<U: Serialize>(user: &U, issued: &IssuedToken) -> Response<Body> {
    respond::json(
        StatusCode::OK,
        &TokenBody {
            token: issued.token.expose(),
            token_type: "Bearer",
            expires_in: issued.exp.saturating_sub(now_unix()),
            user,
        },
    )
}

/// Gives a native login's outcome its bearer token: issued once per code, inside the
/// exchange, so every repeat of the code sees the same token.
pub(super) fn with_native_token(auth: &Engine, outcome: LoginOutcome) -> LoginOutcome {
    match outcome {
        LoginOutcome::Success {
            state,
            return_to,
            user,
            token: None,
        } => {
            let token = Some(Box::new(auth.sessions.issue_native(&user, None)));
            LoginOutcome::Success {
                state,
                return_to,
                user,
                token,
            }
        }
        other => other,
    }
}

/// Parses the body; anything but a usable code is a `400` [`Failure`].
pub(super) fn read_code(body: &Bytes) -> Result<(String, Option<String>), Failure> {
    let parsed: CodeBody = serde_json::from_slice(body)
        .map_err(|_| Failure::BadRequest(r#"send JSON like {"code": "…"}"#.into()))?;
    match parsed.err_code {
        None | Some(0) => {}
        Some(-2) => return Err(Failure::Cancelled),
        Some(-4) => return Err(Failure::Denied),
        Some(other) => return Err(Failure::SdkError(other)),
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

/// Answers a login outcome to an app. A code's token is handed out to its first caller and,
/// for [`REPEAT_WINDOW`] seconds, to repeats (an app that retried); never once it has been
/// revoked (logged out, refreshed), and never a second, new token.
pub(super) fn outcome_response(
    auth: &Engine,
    outcome: &LoginOutcome,
) -> Result<Response<Body>, Failure> {
    match outcome {
        LoginOutcome::Success {
            user,
            token: Some(issued),
            ..
        } if now_unix() <= issued.iat.saturating_add(REPEAT_WINDOW)
            && !auth.sessions.is_revoked(issued) =>
        {
            tracing::info!(channel = %user.channel, "login");
            Ok(token_response(user, issued))
        }
        LoginOutcome::Success { .. } | LoginOutcome::Failed { .. } => Err(Failure::CodeUsed),
        LoginOutcome::Refused { message, .. } => Err(Failure::Refused(message.clone())),
        LoginOutcome::Snapshot { .. } => {
            Err(crate::providers::wechat::failure::WechatFailure::SnapshotUser.into())
        }
    }
}

/// Who is already signed in on a native login request, for `on_login` to bind to: the
/// user of its bearer token, or of its session cookie when the request comes from our own
/// origin (a cross-site page must not bind its visitor's account).
pub(crate) fn signed_in(auth: &Engine, req: &Parts) -> Option<WechatUser> {
    let bearer = req.headers.contains_key(http::header::AUTHORIZATION);
    (bearer || auth.origins.same_origin(req))
        .then(|| auth.logins.signed_in(&req.headers))
        .flatten()
}

/// `POST PREFIX/app` `{code, state?}` (or the SDK's `{errCode}`): mobile app login;
/// `signed_in` is the session the request already carried ([`signed_in`]).
pub(crate) async fn mobile(
    auth: &Engine,
    client: Option<IpAddr>,
    signed_in: Option<WechatUser>,
    body: Bytes,
) -> Result<Response<Body>, Failure> {
    let Some(app) = &auth.config().mobile else {
        return Err(Failure::ChannelOff(
            "mobile app (set WECHAT_MOBILE_APP_ID and _SECRET)",
        ));
    };
    let (code, state) = read_code(&body)?;
    // The app checks `state` itself (it made it); it is kept only to tell repeats apart.
    let state = state.unwrap_or_default();
    let outcome = auth
        .exchanges
        .exchange_once(app.appid(), &code, client, || async {
            let outcome = auth
                .code_login
                .login_with_code(app, &code, Channel::MobileApp, &state, "/", signed_in)
                .await?;
            Ok(with_native_token(auth, outcome))
        })
        .await?;
    if outcome.state() != state {
        return Err(Failure::BadRequest(
            "this code belongs to another login".into(),
        ));
    }
    outcome_response(auth, &outcome)
}

/// Mounts this channel on a layer: its state and its routes.
pub(crate) fn mount(
    engine: &std::sync::Arc<crate::channels::Engine>,
) -> Box<dyn crate::core::route::Endpoints> {
    crate::core::route::Mounted::boxed(engine.clone(), routes())
}

/// This channel's endpoint in the layer's route table: `POST app`, a body of at most
/// [`MAX_BODY`] bytes.
pub(crate) fn routes() -> &'static [crate::channels::Route] {
    use crate::channels::Route;
    use crate::core::route::{Path, boxed};
    static ROUTES: [Route; 1] = [Route::post_body(Path::Exact("/app"), MAX_BODY, |c| {
        boxed(async move {
            mobile(
                c.auth,
                c.auth.client_ip(c.req),
                signed_in(c.auth, c.req),
                c.body,
            )
            .await
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
    }
}
