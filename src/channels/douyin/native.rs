//! The Douyin app (`POST PREFIX/douyin/app {code}`, the OpenSDK's authorization code) and
//! Douyin mini-apps (`POST PREFIX/douyin/miniapp {code}`, `tt.login()`): the bearer answer of
//! every native login (`{token, token_type: "Bearer", expires_in, user}`), the same
//! exactly-once exchange and replay rules as `POST PREFIX/app`, and `POST PREFIX/refresh`
//! keeps the session long. `GET PREFIX/douyin/profile` and `POST PREFIX/douyin/renew` read
//! the signed-in Douyin user's profile and renew their refresh token.

use bytes::Bytes;
use http::{StatusCode, request::Parts};
use serde::Deserialize;

use super::{Douyin, DouyinLoginFailure};
use crate::core::store::Deferred;
use crate::{
    config::AppCredentials,
    core::{
        exchange::LoginOutcome,
        failure::Failure,
        limit::client_ip,
        native::{handed_out, signed_in, token_response, with_native_token},
        respond,
        route::Answer,
    },
    providers::douyin::login::DouyinLogin,
    user::{DouyinUser, Identity},
};

/// What an app posts.
#[derive(Deserialize)]
struct CodeBody {
    #[serde(default)]
    code: Option<String>,
}

/// The code of a body; anything else is a `400`.
fn read_code(body: &Bytes) -> Result<String, Failure> {
    let parsed: CodeBody = serde_json::from_slice(body)
        .map_err(|_| Failure::BadRequest(r#"send JSON like {"code": "…"}"#.into()))?;
    let code = parsed.code.unwrap_or_default();
    let usable = !code.is_empty()
        && code.len() <= 256
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if usable {
        Ok(code)
    } else {
        Err(Failure::BadRequest("`code` is missing or malformed".into()))
    }
}

/// Which native login a code is for.
#[derive(Clone, Copy)]
enum Native {
    /// The Douyin app's OpenSDK code (`oauth/access_token`).
    App,
    /// A mini-app's `tt.login()` code (`apps/v2/jscode2session`).
    Miniapp,
}

impl Native {
    async fn user(
        self,
        login: &DouyinLogin,
        app: &AppCredentials,
        code: &str,
        keep: &Deferred,
    ) -> Result<DouyinUser, Failure> {
        match self {
            Self::App => login.code_user(app, code, keep).await,
            Self::Miniapp => login.miniapp_user(app, code, keep).await,
        }
    }
}

/// `POST PREFIX/douyin/app`.
pub(super) async fn app(auth: &Douyin, req: &Parts, body: &Bytes) -> Answer {
    let Some(app) = &auth.settings.app else {
        return Err(Failure::ChannelOff(
            "Douyin app (set WECHAT_DOUYIN_CLIENT_KEY and WECHAT_DOUYIN_CLIENT_SECRET)",
        ));
    };
    native(auth, req, body, app, Native::App).await
}

/// `POST PREFIX/douyin/miniapp`.
pub(super) async fn miniapp(auth: &Douyin, req: &Parts, body: &Bytes) -> Answer {
    let Some(app) = &auth.settings.miniapp else {
        return Err(Failure::ChannelOff(
            "Douyin mini-app (set WECHAT_DOUYIN_MINIAPP_ID and WECHAT_DOUYIN_MINIAPP_SECRET)",
        ));
    };
    native(auth, req, body, app, Native::Miniapp).await
}

async fn native(
    auth: &Douyin,
    req: &Parts,
    body: &Bytes,
    app: &AppCredentials,
    kind: Native,
) -> Answer {
    let login = auth.login()?;
    let code = read_code(body)?;
    let code = code.as_str();
    let signed_in = signed_in(&auth.origins, &auth.logins, req);
    let client = client_ip(req, auth.settings.client_ip.as_ref());
    let outcome = auth
        .exchanges
        .exchange_once(app.appid(), code, client, |keep| async move {
            let user = kind.user(login, app, code, &keep).await?;
            let outcome = auth
                .logins
                .finish_login(Identity::from(user), "", "/", signed_in)
                .await;
            Ok(with_native_token(&auth.sessions, outcome))
        })
        .await?;
    // The code's one token: to its first caller and, for a few seconds, to repeats (an app
    // that retried); never once revoked, never a second token.
    if let Some((identity, issued)) = handed_out(&auth.sessions, &outcome) {
        return Ok(token_response(identity, issued));
    }
    match outcome.as_ref() {
        LoginOutcome::Refused { message, .. } => Err(Failure::Refused(message.clone())),
        _ => Err(DouyinLoginFailure::CodeUsed.into()),
    }
}

/// The Douyin user of the request's session, or `401`.
fn douyin_user(auth: &Douyin, req: &Parts) -> Result<DouyinUser, Failure> {
    match auth.logins.signed_in(&req.headers) {
        Some(Identity::Douyin(user)) => Ok(user),
        _ => Err(DouyinLoginFailure::NotDouyin.into()),
    }
}

/// `GET PREFIX/douyin/profile`: the signed-in Douyin user's profile, from the cache or from
/// Douyin with the token kept at login (refreshed when Douyin says it expired).
pub(super) async fn profile(auth: &Douyin, req: &Parts) -> Answer {
    let user = douyin_user(auth, req)?;
    let profile = auth
        .login()?
        .tokens()
        .profile(&user.client_key, &user.open_id)
        .await?;
    Ok(respond::json(StatusCode::OK, &profile))
}

/// `POST PREFIX/douyin/renew`: renews the signed-in user's refresh token (at most five times
/// per login, then `401 login_again`). From this site or with a bearer token only.
pub(super) async fn renew(auth: &Douyin, req: &Parts) -> Answer {
    let bearer = req.headers.contains_key(http::header::AUTHORIZATION);
    if !bearer && !auth.origins.same_origin(req) {
        return Err(Failure::CrossOrigin("a renewal must come from this site"));
    }
    let user = douyin_user(auth, req)?;
    let renewed = auth
        .login()?
        .tokens()
        .renew(&user.client_key, &user.open_id)
        .await?;
    Ok(respond::json(StatusCode::OK, &renewed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_bodies_are_400() {
        for body in [
            r#"{}"#,
            r#"{"code":""}"#,
            r#"{"code":"a b"}"#,
            "not json",
            r#"{"code":"<x>"}"#,
        ] {
            let res = read_code(&Bytes::from(body)).map_err(|f| crate::core::render::json(&f));
            assert_eq!(res.unwrap_err().status(), 400, "{body}");
        }
        assert_eq!(
            read_code(&Bytes::from(r#"{"code":"ab-C_1.x"}"#))
                .ok()
                .as_deref(),
            Some("ab-C_1.x")
        );
    }
}
