//! The current session: `GET me` shows it, `POST refresh` renews a native one, `POST logout`
//! ends it.

use axum_core::body::Body;
use http::{Response, StatusCode, request::Parts};
use serde::Serialize;

use std::sync::Arc;

use crate::core::native::token_response;
use crate::{
    channels::Mount,
    core::{
        failure::Failure,
        guard::Guard,
        redirect::safe_return_to,
        request::{Origins, Query},
        respond,
        route::{Endpoints, Mounted, Route},
        sessions::{Found, Sessions},
    },
    user::{Carrier, Identity},
};

/// This channel's settings.
pub(crate) struct Settings {
    /// The other sites `logout` may send a browser back to (`return_to`).
    pub(crate) allowed_origins: Vec<String>,
}

/// The account endpoints' state: their settings and the services they call.
pub(crate) struct Account {
    settings: Settings,
    /// Finding, refreshing and revoking sessions; the session cookie.
    sessions: Arc<Sessions>,
    /// The `401` answer.
    guard: Arc<Guard>,
    /// Where `logout` may come from.
    origins: Origins,
}

impl Account {
    /// This channel's state, from what a layer is given (the one place it reads them).
    pub(crate) fn new(e: &Mount) -> Self {
        Self {
            settings: Settings {
                allowed_origins: e.cfg.allowed_origins.clone(),
            },
            sessions: e.sessions.clone(),
            guard: e.guard.clone(),
            origins: e.origins.clone(),
        }
    }
}

/// The JSON shape of the current user: `provider`, then the provider's ids, `channel`, the
/// profile and `subject` (for WeChat: `openid`, `unionid`, `appid`, … as before).
#[derive(Serialize)]
pub(crate) struct MeBody<'a> {
    #[serde(flatten)]
    user: &'a Identity,
    /// Session expiry, Unix seconds.
    expires_at: u64,
}

/// `GET PREFIX/me`: the current user as JSON, `401` when there is none.
pub(crate) fn me(auth: &Account, req: &Parts) -> Response<Body> {
    match auth.sessions.find_session(&req.headers) {
        Found::Session(current) => respond::json(
            StatusCode::OK,
            &MeBody {
                user: &current.session.identity,
                expires_at: current.session.exp,
            },
        ),
        found => auth
            .guard
            .unauthenticated_json(matches!(found, Found::InvalidBearer)),
    }
}

/// `POST PREFIX/logout?return_to=/path`: revokes the session everywhere, clears the cookie,
/// `303` to `return_to` (or `204` for a bearer-token client).
pub(crate) async fn logout(auth: &Account, req: &Parts) -> Result<Response<Body>, Failure> {
    if !auth.origins.same_origin(req) {
        return Err(Failure::CrossOrigin("logout must come from this site"));
    }
    // Every valid session the request carries ends: the bearer token's and the cookie's.
    let sessions = auth.sessions.all_sessions(&req.headers);
    for current in &sessions {
        auth.sessions.revoke(&current.session).await?;
        tracing::info!("logout");
    }
    // A bearer client gets 204; a browser (a cookie session, or none at all) is redirected.
    let carrier = match sessions.as_slice() {
        [only] => only.carrier,
        _ => Carrier::Cookie,
    };
    let q = Query::parse(req.uri.query());
    let mut res = match carrier {
        Carrier::Bearer => {
            let mut res = Response::new(Body::empty());
            *res.status_mut() = StatusCode::NO_CONTENT;
            res
        }
        Carrier::Cookie => respond::redirect(
            StatusCode::SEE_OTHER,
            &safe_return_to(q.get("return_to"), &auth.settings.allowed_origins),
        ),
    };
    auth.sessions.clear_session_cookie(&mut res);
    Ok(res)
}

/// `POST PREFIX/refresh` with `Authorization: Bearer …`: a fresh token for a valid native
/// one. Exactly one of several concurrent refreshes of one token wins; the old token and
/// its ancestors are revoked; no token of a login outlives the absolute session lifetime.
pub(crate) async fn refresh(auth: &Account, req: &Parts) -> Result<Response<Body>, Failure> {
    match auth.sessions.find_session(&req.headers) {
        Found::Session(current) if current.carrier == Carrier::Bearer => {
            Ok(match auth.sessions.refresh(&current.session).await? {
                // A WeChat session keeps its answer's shape; another provider's shows its ids.
                Some(issued) => match current.session.identity.as_wechat() {
                    Some(user) => token_response(user, &issued),
                    None => token_response(&current.session.identity, &issued),
                },
                None => auth.guard.unauthenticated_json(true),
            })
        }
        found => Ok(auth
            .guard
            .unauthenticated_json(matches!(found, Found::InvalidBearer))),
    }
}

/// Mounts this channel on a layer: its state and its routes.
pub(crate) fn mount(engine: &Arc<Mount>) -> Box<dyn Endpoints> {
    Mounted::boxed(Account::new(engine), routes())
}

/// The account endpoints in the layer's route table: `GET`/`HEAD me`, `POST logout`,
/// `POST refresh` (none reads a body).
pub(crate) fn routes() -> &'static [Route<Account>] {
    use crate::core::route::{Path, boxed};
    static ROUTES: [Route<Account>; 3] = [
        Route::read(Path::Exact("/me"), |c| {
            boxed(async move { Ok(me(c.auth, c.req)) })
        }),
        Route::post(Path::Exact("/logout"), |c| {
            boxed(async move { logout(c.auth, c.req).await })
        }),
        Route::post(Path::Exact("/refresh"), |c| {
            boxed(async move { refresh(c.auth, c.req).await })
        }),
    ];
    &ROUTES
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{user::Channel, user::DouyinUser, user::WechatUser, user::WecomUser};

    fn me(identity: Identity) -> serde_json::Value {
        serde_json::to_value(MeBody {
            user: &identity,
            expires_at: 9,
        })
        .unwrap()
    }

    #[test]
    fn me_shows_the_provider_and_its_own_ids() {
        let wechat = me(WechatUser::new("wx1", "o1", Channel::Website)
            .with_unionid("u1")
            .into());
        assert_eq!(
            wechat,
            serde_json::json!({
                "provider": "wechat", "openid": "o1", "unionid": "u1", "appid": "wx1",
                "channel": "website", "nickname": null, "avatar_url": null, "subject": null,
                "expires_at": 9,
            })
        );
        let member = me(WecomUser::member("wwCorp", "zhangsan").into());
        assert_eq!(
            member,
            serde_json::json!({
                "provider": "wecom", "corp_id": "wwCorp", "user_id": "zhangsan",
                "channel": "wecom", "nickname": null, "avatar_url": null, "subject": null,
                "expires_at": 9,
            })
        );
        let guest = me(WecomUser::non_member("wwCorp", "oGuest").into());
        assert_eq!(guest["openid"], "oGuest");
        assert!(guest.get("user_id").is_none());
        let douyin = me(DouyinUser::new("awkey", "_0OPEN")
            .with_union_id("UNION")
            .into());
        assert_eq!(
            douyin,
            serde_json::json!({
                "provider": "douyin", "client_key": "awkey", "open_id": "_0OPEN",
                "union_id": "UNION", "channel": "douyin", "nickname": null,
                "avatar_url": null, "subject": null, "expires_at": 9,
            })
        );
    }
}
