//! Mini program login (`POST miniprogram`): `wx.login()` gives a `js_code`, the layer
//! exchanges it with `jscode2session`, and answers the same bearer session as the mobile app.
//! The `session_key` stays on the server, keyed by (appid, openid), for
//! [`WechatHandle::decrypt_mini_program_data`](crate::WechatHandle::decrypt_mini_program_data),
//! which opens `getPhoneNumber`-style `encryptedData` with it (the WeChat provider's
//! [`MiniPrograms`] keeps it and serves the handle).

use std::sync::Arc;

use axum_core::body::Body;
use bytes::Bytes;
use http::Response;

use super::app::{outcome_response, read_code};
use crate::core::native::with_native_token;

use crate::{
    channels::Mount,
    config::AppCredentials,
    core::{
        exchange::Exchanges,
        failure::Failure,
        limit::ClientIpHeader,
        login::Logins,
        request::Origins,
        route::{Endpoints, Mounted, Route},
        sessions::Sessions,
    },
    providers::wechat::mini::MiniPrograms,
    user::Identity,
};

/// This channel's settings: the mini program's credentials (none when it is off).
pub(crate) struct Settings {
    /// The mini program's AppID and AppSecret.
    pub(crate) app: Option<AppCredentials>,
}

/// The mini program channel's state: its settings and the services it calls.
pub(crate) struct MiniProgram {
    settings: Settings,
    /// `jscode2session`, keeping the `session_key`.
    mini: MiniPrograms,
    /// Native bearer sessions.
    sessions: Arc<Sessions>,
    /// Exactly-once code exchange.
    exchanges: Arc<Exchanges>,
    /// The `on_login` hook, and who is signed in already.
    logins: Arc<Logins>,
    /// Where a request carrying a session cookie may come from.
    origins: Origins,
    /// Which client sent a request.
    client_ip: Option<ClientIpHeader>,
}

impl MiniProgram {
    /// This channel's state, from what a layer is given (the one place it reads them).
    pub(crate) fn new(e: &Mount) -> Self {
        let app = e.cfg.mini_program.clone();
        Self {
            mini: MiniPrograms::new(
                e.client.clone(),
                e.store.clone(),
                e.tokens.clone(),
                app.as_ref().map(|a| a.appid().to_owned()),
            ),
            settings: Settings { app },
            sessions: e.sessions.clone(),
            exchanges: e.exchanges.clone(),
            logins: e.logins.clone(),
            origins: e.origins.clone(),
            client_ip: e.client_ip.clone(),
        }
    }
}

/// `POST PREFIX/miniprogram` `{code}`: mini program login through `jscode2session`;
/// `signed_in` is the session the request already carried ([`super::app::signed_in`]).
pub(crate) async fn mini_program(
    auth: &MiniProgram,
    client: Option<std::net::IpAddr>,
    signed_in: Option<Identity>,
    body: Bytes,
) -> Result<Response<Body>, Failure> {
    let Some(app) = &auth.settings.app else {
        return Err(Failure::ChannelOff(
            "mini program (set WECHAT_MINI_APP_ID and _SECRET)",
        ));
    };
    let (code, _) = read_code(&body)?;
    let (appid, code) = (app.appid(), code.as_str());
    let outcome = auth
        .exchanges
        .exchange_once(appid, code, client, |keep| async move {
            let user = auth.mini.session_user(app, code, &keep).await?;
            let outcome = auth
                .logins
                .finish_login(user.into(), "", "/", signed_in)
                .await;
            Ok(with_native_token(&auth.sessions, outcome))
        })
        .await?;
    outcome_response(&auth.sessions, &outcome)
}

/// Mounts this channel on a layer: its state and its routes.
pub(crate) fn mount(engine: &Arc<Mount>) -> Box<dyn Endpoints> {
    Mounted::boxed(MiniProgram::new(engine), routes())
}

/// This channel's endpoint in the layer's route table: `POST miniprogram`, a body of at
/// most [`super::app::MAX_BODY`] bytes.
pub(crate) fn routes() -> &'static [Route<MiniProgram>] {
    use crate::core::route::{Path, boxed};
    static ROUTES: [Route<MiniProgram>; 1] = [Route::post_body(
        Path::Exact("/miniprogram"),
        super::app::MAX_BODY,
        |c| {
            boxed(async move {
                let client = crate::core::limit::client_ip(c.req, c.auth.client_ip.as_ref());
                let signed_in =
                    crate::core::native::signed_in(&c.auth.origins, &c.auth.logins, c.req);
                mini_program(c.auth, client, signed_in, c.body).await
            })
        },
    )];
    &ROUTES
}
