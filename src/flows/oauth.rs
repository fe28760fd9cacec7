//! Website QR login and Official Account web authorization: `GET login` sends the browser to
//! WeChat, `GET callback` brings it back with a session.
//!
//! 1. `login` picks the channel (`MicroMessenger` in the User-Agent → Official Account;
//!    otherwise the website QR, or the scan page when only an Official Account is set up),
//!    makes a random `state`, and binds it to this browser with a signed, short-lived cookie
//!    named after the state (so several tabs can log in at once) that also carries the
//!    checked `return_to`. On an https site the cookie is `__Host-` prefixed (Path=/), so a
//!    sibling subdomain or a plain-http page cannot plant one.
//! 2. `callback` refuses any `state` that this browser's cookie does not vouch for, before
//!    any call to WeChat; binds the state to the first code that comes back with it (in the
//!    store, so on every instance: the same state with another code is refused, the same
//!    code again is a reload); exchanges the code once (single flight, outcome remembered,
//!    so a reload or a double redirect gets the same session again); reads the profile when
//!    the scope allows; runs `on_login`; sets the session cookie; and redirects to
//!    `return_to`.

use axum_core::body::Body;
use http::{Response, StatusCode, header, request::Parts};
use sha1::{Digest, Sha1};

use super::{Query, cookie_value};
use crate::error::Failure;
use crate::{
    Channel,
    clock::random_token,
    engine::{Engine, LoginOutcome},
    redirect::safe_return_to,
    respond,
    respond::QUERY_VALUE,
    session::StateTicket,
    store::keys::Key,
};

/// Name of the cookie that vouches for one `state`.
fn state_cookie_name(auth: &Engine, state: &str) -> String {
    auth.config().flow_cookie_name("wechat_state_", state)
}

/// Makes a state ticket single-use: the first code that comes back with `state` owns it
/// (for the state's lifetime, in the store, so on every instance). The same code again (a
/// reload, a double redirect) passes; another code is refused, so one planted or leaked
/// state cookie cannot carry a second login.
async fn bind_state_to_code(
    auth: &Engine,
    appid: &str,
    state: &str,
    code: &str,
) -> Result<(), Failure> {
    let key = Key::state(appid, state);
    let mark = hex::encode(Sha1::digest(code.as_bytes())).into_bytes();
    if auth
        .store()
        .set_if_absent(&key, mark.clone(), auth.config().state_ttl)
        .await?
    {
        return Ok(());
    }
    match auth.store().get(&key).await? {
        Some(bound) if bound == mark => Ok(()),
        _ => {
            tracing::warn!("callback refused: this state was already used with another code");
            Err(Failure::StateMismatch)
        }
    }
}

/// Whether `state` has the shape we issue (WeChat's rule: `[A-Za-z0-9]`, ≤ 128 bytes).
fn valid_state(state: &str) -> bool {
    !state.is_empty() && state.len() <= 128 && state.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The link that starts a login again.
fn login_link(auth: &Engine, return_to: &str, channel: Option<Channel>) -> String {
    let mut link = format!(
        "{}?return_to={}",
        auth.login_path(),
        percent_encoding::utf8_percent_encode(return_to, QUERY_VALUE)
    );
    if let Some(c) = channel {
        link.push_str("&channel=");
        link.push_str(match c {
            Channel::Website => "website",
            Channel::OfficialAccount => "oa",
            _ => "scan",
        });
    }
    link
}

/// The channel for a browser that did not ask for one.
fn pick_channel(auth: &Engine, user_agent: &str) -> Option<Channel> {
    let cfg = &auth.config();
    let in_wechat = user_agent.contains("MicroMessenger");
    if in_wechat && cfg.official_account.is_some() {
        Some(Channel::OfficialAccount)
    } else if cfg.website.is_some() {
        Some(Channel::Website)
    } else if cfg.official_account.is_some() {
        Some(if in_wechat {
            Channel::OfficialAccount
        } else {
            Channel::ScanFollow
        })
    } else if cfg.mini_program.is_some() && !in_wechat {
        // No website app and no Official Account: a mini program code on the desktop.
        Some(Channel::MiniProgramCode)
    } else {
        None
    }
}

/// `GET PREFIX/login?return_to=/path&channel=website|oa|scan`
pub(crate) fn login(auth: &Engine, req: &Parts) -> Response<Body> {
    let q = Query::parse(req.uri.query());
    let return_to = safe_return_to(q.get("return_to"), &auth.config().allowed_origins);
    let channel = match q.get("channel") {
        Some(name) => match name.parse::<Channel>() {
            Ok(c) => c,
            Err(e) => return Failure::BadRequest(e.to_string()).html(None),
        },
        None => {
            let ua = req
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            match pick_channel(auth, ua) {
                Some(c) => c,
                None => return Failure::ChannelOff("browser").html(None),
            }
        }
    };
    let cfg = &auth.config();
    let redirect_uri = cfg.redirect_uri();
    let state = random_token(32);
    let url = match channel {
        Channel::Website => match &cfg.website {
            Some(app) => auth
                .client()
                .qrconnect_url(app.appid(), &redirect_uri, &state, None),
            None => return Failure::ChannelOff("website").html(None),
        },
        Channel::OfficialAccount => match &cfg.official_account {
            Some(oa) => auth.client().authorize_url(
                oa.app().appid(),
                &redirect_uri,
                oa.scope(),
                &state,
                false,
            ),
            None => return Failure::ChannelOff("Official Account").html(None),
        },
        Channel::ScanFollow => {
            if cfg.official_account.is_none() {
                return Failure::ChannelOff("scan").html(None);
            }
            let location = format!(
                "{}/scan?return_to={}",
                cfg.prefix,
                percent_encoding::utf8_percent_encode(&return_to, QUERY_VALUE)
            );
            return respond::redirect(StatusCode::FOUND, &location);
        }
        Channel::MiniProgramCode => {
            if cfg.mini_program.is_none() {
                return Failure::ChannelOff("mini program code").html(None);
            }
            let location = format!(
                "{}/scan?return_to={}&via=miniprogram",
                cfg.prefix,
                percent_encoding::utf8_percent_encode(&return_to, QUERY_VALUE)
            );
            return respond::redirect(StatusCode::FOUND, &location);
        }
        _ => {
            return Failure::BadRequest(format!(
                "the {channel} channel logs in from the app: POST {}/app or {}/miniprogram",
                cfg.prefix, cfg.prefix
            ))
            .html(None);
        }
    };
    let ticket = StateTicket::new(state.clone(), return_to, channel, cfg.state_ttl);
    let value = auth.sign_state(&ticket);
    let mut res = respond::redirect(StatusCode::FOUND, &url);
    let cookie = auth.cookie_spec().build(
        state_cookie_name(auth, &state),
        value,
        cfg.flow_cookie_path(),
        cfg.state_ttl.as_secs(),
    );
    respond::set_cookie(&mut res, &cookie);
    auth.drop_old_state_cookies(req, &mut res);
    tracing::debug!(channel = %channel, "login started");
    res
}

/// `GET PREFIX/callback?code=…&state=…`
pub(crate) async fn callback(auth: &Engine, req: &Parts) -> Response<Body> {
    let q = Query::parse(req.uri.query());
    let state = q.get("state").unwrap_or("");
    let code = q.get("code").filter(|c| !c.is_empty());
    if !valid_state(state) {
        return Failure::BadRequest(
            "The sign-in link is incomplete: its state is missing or malformed.".into(),
        )
        .html(Some(&login_link(auth, "/", None)));
    }
    let cookie_name = state_cookie_name(auth, state);
    let ticket = cookie_value(req, &cookie_name).and_then(|v| auth.verify_state(v, state));
    let Some(ticket) = ticket else {
        if let Some(res) = repeat_after_success(auth, req, state, code).await {
            return res;
        }
        tracing::info!("callback refused: state not bound to this browser");
        return Failure::StateMismatch.html(Some(&login_link(auth, "/", None)));
    };
    let retry = login_link(auth, &ticket.rt, Some(ticket.ch));
    let clear_state = auth.cookie_spec().build(
        cookie_name.as_str(),
        "",
        auth.config().flow_cookie_path(),
        0,
    );

    let Some(code) = code else {
        // No code: the person declined on WeChat's page.
        let body = format!(
            "<h1>已取消登录</h1><p>你拒绝了微信授权，因此没有登录。</p>\
             <p class=\"en\">You declined the WeChat authorization, so you are not logged in.</p>\
             <a class=\"button\" href=\"{}\">重新登录 · Try again</a>",
            respond::escape(&retry)
        );
        let mut res = respond::html(
            StatusCode::OK,
            respond::page("已取消登录 · Login cancelled", &body),
        );
        respond::set_cookie(&mut res, &clear_state);
        return res;
    };

    let app = match ticket.ch {
        Channel::Website => auth.config().website.as_ref(),
        Channel::OfficialAccount => auth.config().official_account.as_ref().map(|oa| oa.app()),
        _ => None,
    };
    let Some(app) = app else {
        return Failure::ChannelOff("this").html(Some(&retry));
    };
    let appid = app.appid();
    if let Err(e) = bind_state_to_code(auth, appid, state, code).await {
        let mut res = e.html(Some(&retry));
        respond::set_cookie(&mut res, &clear_state);
        return res;
    }
    let outcome = auth
        .exchange_once(appid, code, auth.client_ip(req), || {
            auth.login_with_code(app, code, ticket.ch, &ticket.st, &ticket.rt)
        })
        .await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let mut res = e.html(Some(&retry));
            respond::set_cookie(&mut res, &clear_state);
            return res;
        }
    };
    if outcome.state() != state {
        tracing::warn!("a code came back with another login's state");
        return Failure::StateMismatch.html(Some(&retry));
    }
    let mut res = match outcome.as_ref() {
        LoginOutcome::Success {
            user, return_to, ..
        } => {
            let token = auth.issue(user);
            let mut res = respond::redirect(StatusCode::FOUND, return_to);
            auth.set_session_cookie(&mut res, &token);
            tracing::info!(channel = %user.channel, "login");
            res
        }
        LoginOutcome::Snapshot { .. } => snapshot_page(&retry),
        LoginOutcome::Refused { message, .. } => refused_page(message),
        LoginOutcome::Failed { errcode } => Failure::CodeRefused(*errcode).html(Some(&retry)),
    };
    respond::set_cookie(&mut res, &clear_state);
    res
}

/// A callback that lost its state cookie (the first one succeeded and cleared it: a reload,
/// the Back button) from a browser that already holds that login's session: send it on.
async fn repeat_after_success(
    auth: &Engine,
    req: &Parts,
    state: &str,
    code: Option<&str>,
) -> Option<Response<Body>> {
    let code = code?;
    let crate::engine::Found::Session(current) = auth.find_session(&req.headers) else {
        return None;
    };
    for app in [
        auth.config().website.as_ref(),
        auth.config().official_account.as_ref().map(|oa| oa.app()),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(outcome) = auth.remembered(app.appid(), code).await
            && let LoginOutcome::Success {
                state: s,
                user,
                return_to,
                ..
            } = outcome.as_ref()
            && s == state
            && user.key() == current.session.user.key()
        {
            return Some(respond::redirect(StatusCode::FOUND, return_to));
        }
    }
    None
}

/// The page for an Official Account snapshot-page (virtual) user.
fn snapshot_page(retry: &str) -> Response<Body> {
    let body = format!(
        "<h1>请使用完整服务</h1>\
         <p>当前为微信快照页模式，无法登录。请点击页面右下角的「使用完整服务」，同意授权后再登录。</p>\
         <p class=\"en\">WeChat opened this page in snapshot mode, so you cannot log in yet. Tap \
         「使用完整服务」 (use full service) at the bottom right, accept, and log in again.</p>\
         <a class=\"button\" href=\"{}\">重新登录 · Log in again</a>",
        respond::escape(retry)
    );
    respond::html(StatusCode::OK, respond::page("请使用完整服务", &body))
}

/// The page shown when the `on_login` hook refused.
fn refused_page(message: &str) -> Response<Body> {
    let body = format!(
        "<h1>无法登录</h1><p>{}</p><p class=\"en\">This site refused the login.</p>",
        respond::escape(message)
    );
    respond::html(
        StatusCode::FORBIDDEN,
        respond::page("无法登录 · Login refused", &body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_shape() {
        assert!(valid_state("abcXYZ019"));
        assert!(valid_state(&"a".repeat(128)));
        assert!(!valid_state(&"a".repeat(129)));
        assert!(!valid_state(""));
        assert!(!valid_state("abc-def"));
        assert!(!valid_state("abc def"));
    }
}
