//! The browser login: `GET PREFIX/login?channel=douyin` sends the browser to Douyin's
//! authorization page (a QR on a desktop; inside the Douyin app's webview, `aweme_` /
//! `BytedanceWebview/`, the same URL opens the native page), and `GET PREFIX/callback` with a
//! Douyin state finishes it through the core's [`WebLogins`](crate::core::weblogin::WebLogins).

use axum_core::body::Body;
use http::{Response, StatusCode, request::Parts};

use super::{Douyin, TAG, TAG_POPUP};
use crate::{
    core::{
        exchange::LoginOutcome,
        failure::Failure,
        limit::client_ip,
        redirect::safe_return_to,
        request::Query,
        respond::{self, QUERY_VALUE},
        sessions::Found,
        weblogin::{Answer, popup::valid_nonce, tagged_state, valid_state},
    },
    user::{Channel, Identity, Provider},
};

/// The scope a login asks for: the profile (nickname, avatar) and the ids.
const SCOPE: &str = "user_info";

/// The link that starts a Douyin login again, coming back to `return_to`.
fn login_link(auth: &Douyin, return_to: &str) -> String {
    format!(
        "{}?channel=douyin&return_to={}",
        auth.settings.login_path,
        percent_encoding::utf8_percent_encode(return_to, QUERY_VALUE)
    )
}

/// `GET PREFIX/login?channel=douyin[&return_to=…][&display=popup&nonce=…]`.
pub(super) fn login(auth: &Douyin, req: &Parts) -> Response<Body> {
    let q = Query::parse(req.uri.query());
    let web = &auth.web;
    let lang = web.language(req);
    let fail = |e: Failure| web.failure(Answer::Redirect, lang, &e, None, None);
    let (Some(app), Some(client)) = (&auth.settings.app, &auth.client) else {
        return fail(Failure::ChannelOff(
            "Douyin (set WECHAT_DOUYIN_CLIENT_KEY and WECHAT_DOUYIN_CLIENT_SECRET)",
        ));
    };
    let return_to = safe_return_to(q.get("return_to"), &auth.settings.allowed_origins);
    let popup = match q.get("display") {
        None | Some("page") => false,
        Some("popup") => true,
        Some(other) => {
            return fail(Failure::BadRequest(format!(
                "display={other:?} is not a way to show the Douyin login: use page or popup"
            )));
        }
    };
    // The popup's nonce (embed.js makes one per popup), kept in the signed state cookie.
    let nonce = match q.get("nonce") {
        Some(n) if popup && !valid_nonce(n) => {
            return fail(Failure::BadRequest(
                "nonce must be 16 to 64 letters, digits, '-' or '_'".into(),
            ));
        }
        Some(n) if popup => Some(n.to_owned()),
        _ => None,
    };
    // Douyin allows no query in redirect_uri: how the callback answers rides in the state.
    let state = tagged_state(if popup { TAG_POPUP } else { TAG });
    let url = client.connect_url(app.appid(), &auth.settings.redirect_uri, &state, SCOPE);
    let mut res = respond::redirect(StatusCode::FOUND, &url);
    web.start(req, &mut res, state, return_to, Channel::Douyin, nonce);
    tracing::debug!(provider = "douyin", "login started");
    res
}

/// `GET PREFIX/callback?code=…&state=douyin…[&scopes=…]`.
pub(super) async fn callback(auth: &Douyin, req: &Parts) -> Response<Body> {
    let q = Query::parse(req.uri.query());
    let web = &auth.web;
    let lang = web.language(req);
    let state = q.get("state").unwrap_or("");
    let answer = if state.starts_with(TAG_POPUP) {
        Answer::Popup
    } else {
        Answer::Redirect
    };
    let code = q.get("code").filter(|c| !c.is_empty());
    if !valid_state(state) {
        return web.failure(
            answer,
            lang,
            &Failure::BadRequest(
                "The sign-in link is incomplete: its state is missing or malformed.".into(),
            ),
            Some(&login_link(auth, "/")),
            None,
        );
    }
    let Some(ticket) = web.ticket(req, state) else {
        if let Some(return_to) = repeat_after_success(auth, req, state, code).await {
            return web.success(answer, lang, &return_to, None);
        }
        tracing::info!("Douyin callback refused: state not bound to this browser");
        return web.failure(
            answer,
            lang,
            &Failure::StateMismatch,
            Some(&login_link(auth, "/")),
            None,
        );
    };
    let retry = login_link(auth, &ticket.rt);
    let nonce = ticket.pn.as_deref();
    let fail = |e: &Failure| {
        let mut res = web.failure(answer, lang, e, Some(&retry), nonce);
        web.clear_state(&mut res, state);
        res
    };
    let Some(code) = code else {
        // No code: the person declined on Douyin's page.
        let mut res = web.cancelled(answer, lang, Provider::Douyin, &retry, nonce);
        web.clear_state(&mut res, state);
        return res;
    };
    if code.len() > 256 {
        // Refused before it is kept or sent: no Douyin code is that long (the app's and
        // mini-app's endpoints refuse the same).
        return fail(&Failure::BadRequest(
            "the code is longer than Douyin's 256 bytes".into(),
        ));
    }
    let (Some(app), Ok(login)) = (&auth.settings.app, auth.login()) else {
        return fail(&Failure::ChannelOff("Douyin"));
    };
    let client_key = app.appid();
    let outcome = auth
        .exchanges
        .exchange_for_state(
            client_key,
            state,
            code,
            web.state_memory(),
            client_ip(req, auth.settings.client_ip.as_ref()),
            |keep| async move {
                let user = login.code_user(app, code, &keep).await?;
                let signed_in = auth.logins.signed_in(&req.headers); // for on_login to bind to
                Ok(auth
                    .logins
                    .finish_login(Identity::from(user), &ticket.st, &ticket.rt, signed_in)
                    .await)
            },
        )
        .await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    if outcome.state() != state {
        tracing::warn!("a Douyin code came back with another login's state");
        return fail(&Failure::StateMismatch);
    }
    let mut res = match web.finish(answer, lang, &outcome, &retry, nonce) {
        Some(res) => res,
        // Only WeChat has outcomes the core does not show (snapshot users).
        None => web.failure(
            answer,
            lang,
            &Failure::BadRequest("this login cannot finish here".into()),
            Some(&retry),
            nonce,
        ),
    };
    web.clear_state(&mut res, state);
    res
}

/// A callback that lost its state cookie (the first one succeeded and cleared it: a reload,
/// Back) from a browser that already holds that login's session: where it was going.
async fn repeat_after_success(
    auth: &Douyin,
    req: &Parts,
    state: &str,
    code: Option<&str>,
) -> Option<String> {
    let (code, app) = (code?, auth.settings.app.as_ref()?);
    let Found::Session(current) = auth.sessions.find_session(&req.headers) else {
        return None;
    };
    let outcome = auth
        .exchanges
        .remembered_for_state(app.appid(), state, code)
        .await?;
    match outcome {
        LoginOutcome::Success {
            state: s,
            identity,
            return_to,
            ..
        } if s == state && identity.key() == current.session.identity.key() => {
            Some(return_to.clone())
        }
        _ => None,
    }
}
