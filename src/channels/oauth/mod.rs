//! Website QR login and Official Account web authorization: `GET login` sends the browser to
//! WeChat, `GET callback` brings it back with a session.
//!
//! 1. `login` picks the path from the kind of browser ([`browser`]: inside WeChat →
//!    Official Account; a phone browser outside WeChat → the mini program link page
//!    `scan?via=link`, never a QR; a computer → the website QR, or the scan page when only
//!    an Official Account is set up; `channel=` forces any of them, `channel=link` the link),
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
//!
//! How the website login is presented (see the crate docs): a full-page redirect (the
//! default), WeChat's QR embedded in the site's own page ([`embed`]: `GET embed`,
//! `GET embed.js`, `login?display=embed`), or a popup window ([`popup`]:
//! `login?display=popup`, whose callback tells the opener and closes).
//!
//! The Official Account's adaptive scope (`OaScope::BaseThenUserinfo`) signs in with
//! `snsapi_base`; `login?scope=userinfo` asks for the profile (the consent page), which is
//! the login URL `WechatHandle::profile` hands out when it needs one.

use axum_core::body::Body;
use http::{Response, StatusCode, header, request::Parts};

use crate::core::failure::Failure;
use crate::core::limit::client_ip;
use crate::core::request::Query;
use wechat_auth_client::OaScope;

use std::sync::Arc;

use wechat_auth_client::WechatClient;

use crate::{
    channels::Mount,
    config::{AppCredentials, OfficialAccount},
    core::clock::random_token,
    core::exchange::Exchanges,
    core::exchange::LoginOutcome,
    core::limit::ClientIpHeader,
    core::login::Logins,
    core::pages::Pages,
    core::pages::{self, Language, Page, PageKind},
    core::redirect::safe_return_to,
    core::respond,
    core::respond::QUERY_VALUE,
    core::sessions::Sessions,
    core::weblogin::{Answer, WebLogins, popup, valid_state},
    providers::wechat::code::CodeLogin,
    user::{Channel, Provider},
};

pub(crate) mod browser;
pub(crate) mod embed;

pub(crate) use embed::{embed, embed_js};

/// How the callback answers, from its `display` (part of the `redirect_uri` the login sent
/// to WeChat): a redirect, a popup telling its opener, or the embedded QR's iframe moving
/// the top window.
/// The `redirect_uri` that brings the login back to a callback answering as `answer`.
/// Through a relay hub the display rides inside the hub's `to`.
pub(crate) fn redirect_uri(answer: Answer, settings: &Settings) -> &str {
    match answer {
        Answer::Redirect => &settings.callbacks.page,
        Answer::Popup => &settings.callbacks.popup,
        Answer::Frame => &settings.callbacks.iframe,
    }
}

#[derive(Debug)]
pub(crate) struct Callbacks {
    page: String,
    popup: String,
    iframe: String,
}

/// This channel's settings: the values of [`WechatConfig`](crate::WechatConfig) it reads,
/// as `build()` accepted them, copied once when the channel is mounted.
pub(crate) struct Settings {
    /// The website app (QR login, embedded QR, popup).
    pub(crate) website: Option<AppCredentials>,
    /// The Official Account (web authorization), with its scope; `None` for an unverified
    /// account, which has no web authorization.
    pub(crate) official_account: Option<OfficialAccount>,
    /// An unverified Official Account is configured (`WECHAT_OA_VERIFIED=false`): its login
    /// is message-code login, and `channel=oa` is refused saying why.
    pub(crate) oa_unverified: bool,
    /// Whether a mini program is set up (a desktop browser without a website app or an
    /// Official Account is sent to its code).
    pub(crate) mini_program: bool,
    /// Whether message-code login is offered (an Official Account, verified or not, with a
    /// push token): a phone browser without a mini program link logs in with it.
    pub(crate) message_login: bool,
    /// The path prefix of the layer's endpoints.
    pub(crate) prefix: String,
    /// `PREFIX/login`.
    pub(crate) login_path: String,
    /// The `redirect_uri`s sent to WeChat.
    pub(crate) callbacks: Callbacks,
    /// The site's pages.
    pub(crate) pages: Arc<dyn Pages>,
    /// The pages' fixed language (else the visitor's `Accept-Language`).
    pub(crate) language: Option<Language>,
    /// The stylesheet WeChat's embedded QR loads (`href`).
    pub(crate) embed_css: Option<String>,
    /// Other origins `return_to` may lead to.
    pub(crate) allowed_origins: Vec<String>,
    /// The relay hub logins go through, when this site is not the registered domain.
    pub(crate) relay_hub: Option<url::Url>,
    /// Which header names the client (for the exchange's per-client bound).
    pub(crate) client_ip: Option<ClientIpHeader>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("website", &self.website)
            .field("official_account", &self.official_account)
            .field("prefix", &self.prefix)
            .field("callbacks", &self.callbacks)
            .finish_non_exhaustive()
    }
}

/// The website QR / Official Account channel: its settings, the WeChat client, the store
/// (state-to-code bindings) and the services it calls.
#[derive(Debug)]
pub(crate) struct Oauth {
    pub(crate) settings: Settings,
    client: WechatClient,
    sessions: Arc<Sessions>,
    web: Arc<WebLogins>,
    exchanges: Arc<Exchanges>,
    logins: Arc<Logins>,
    code_login: Arc<CodeLogin>,
}

impl Oauth {
    /// The channel as mounted on `e`'s layer.
    pub(crate) fn new(e: &Mount) -> Self {
        let cfg = &e.cfg;
        Self {
            settings: Settings {
                website: cfg.website.clone(),
                // An unverified account never gets an authorize request or a code exchange.
                official_account: cfg
                    .official_account
                    .clone()
                    .filter(|_| cfg.message.verified),
                oa_unverified: cfg.official_account.is_some() && !cfg.message.verified,
                mini_program: cfg.mini_program.is_some(),
                message_login: cfg
                    .official_account
                    .as_ref()
                    .is_some_and(|oa| oa.push_token().is_some()),
                prefix: cfg.prefix.clone(),
                login_path: e.guard.login_path().to_owned(),
                callbacks: Callbacks {
                    page: cfg.callback_uri(None),
                    popup: cfg.callback_uri(Some("popup")),
                    iframe: cfg.callback_uri(Some("iframe")),
                },
                pages: cfg.pages.clone(),
                language: cfg.language,
                embed_css: cfg.embed_css.clone(),
                allowed_origins: cfg.allowed_origins.clone(),
                relay_hub: cfg.relay_hub.clone(),
                client_ip: cfg.client_ip_header.clone(),
            },
            client: e.client.clone(),
            sessions: e.sessions.clone(),
            web: e.web.clone(),
            exchanges: e.exchanges.clone(),
            logins: e.logins.clone(),
            code_login: e.code_login.clone(),
        }
    }

    /// The visitor's language for the layer's pages.
    fn language(&self, req: &Parts) -> Language {
        self.web.language(req)
    }

    /// `failure` as an error page of the site's pages.
    fn error_page(&self, req: &Parts, failure: &Failure, retry: Option<&str>) -> Response<Body> {
        error_page(
            &*self.settings.pages,
            self.settings.language,
            req,
            failure,
            retry,
        )
    }
}

/// The visitor's language for the layer's pages: the site's fixed one (`configured`), else
/// the request's `Accept-Language`.
pub(crate) fn language(configured: Option<Language>, req: &Parts) -> Language {
    Language::of(configured, &req.headers)
}

/// `failure` as an error page of the site's [`Pages`] in the visitor's language
/// (`configured`, else the request's).
pub(crate) fn error_page(
    pages: &dyn Pages,
    configured: Option<Language>,
    req: &Parts,
    failure: &Failure,
    retry: Option<&str>,
) -> Response<Body> {
    crate::core::render::page(
        failure,
        pages,
        language(configured, req),
        retry,
        respond::Framing::None,
    )
}

/// The link that starts a login again.
fn login_link(auth: &Oauth, return_to: &str, channel: Option<Channel>) -> String {
    link(&auth.settings.login_path, return_to, channel)
}

/// `channel=oa` with an unverified Official Account (`WECHAT_OA_VERIFIED=false`): it has
/// no web authorization, so that login is not offered.
#[derive(Debug, thiserror::Error)]
#[error("channel_not_configured")]
struct Unverified;

impl crate::core::failure::Refusal for Unverified {
    fn describe(&self) -> crate::core::failure::Description {
        crate::core::failure::Description {
            status: StatusCode::NOT_FOUND,
            code: "channel_not_configured",
            zh: "此公众号未认证，没有网页授权，不能用公众号登录；请用发送登录码的方式登录。".into(),
            en: "The Official Account is not verified (WECHAT_OA_VERIFIED=false): it has no web authorization, so the Official Account login is not offered. Log in by sending a code instead.".into(),
            level: tracing::Level::INFO,
            retry_after: None,
        }
    }
}

impl From<Unverified> for Failure {
    fn from(f: Unverified) -> Self {
        Failure::channel(f)
    }
}

/// The link to `login_path` that starts a login (on `channel`) coming back to `return_to`.
fn link(login_path: &str, return_to: &str, channel: Option<Channel>) -> String {
    let mut link = format!(
        "{}?return_to={}",
        login_path,
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

/// Where a browser that did not ask for a channel goes (the README's table "Which login
/// each browser gets").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pick {
    /// One of the channels.
    Channel(Channel),
    /// The phone page of the mini program link (`scan?via=link`): a phone browser outside
    /// WeChat, where no QR code can be scanned.
    Link,
}

/// The kind of browser `req` comes from.
fn browser_of(req: &Parts) -> (browser::BrowserKind, bool) {
    let header = |name| {
        req.headers
            .get(name)
            .and_then(|v: &http::HeaderValue| v.to_str().ok())
    };
    let ua = header(header::USER_AGENT).unwrap_or("");
    (
        browser::BrowserKind::of(ua, header(header::REFERER)),
        browser::is_phone(ua),
    )
}

/// The path for a browser that did not ask for one: inside WeChat the Official Account's
/// web authorization; a phone browser outside WeChat (and the WeCom client on a phone) the
/// mini program link, else message-code login, never a QR code; a computer (and the WeCom
/// client on one) today's desktop choice.
fn pick(auth: &Oauth, kind: browser::BrowserKind, phone: bool) -> Option<Pick> {
    use browser::BrowserKind as K;
    let cfg = &auth.settings;
    let in_wechat = kind.in_wechat();
    if kind == K::PhoneBrowser || kind == K::Wecom && phone {
        // A phone outside WeChat: the mini program link; without a mini program, message-code
        // login (the code shown here is sent from WeChat on this same phone); else the link
        // page, which says what to do. Never a QR code.
        return Some(if !cfg.mini_program && cfg.message_login {
            Pick::Channel(Channel::MessageCode)
        } else {
            Pick::Link
        });
    }
    let channel = if in_wechat {
        // Inside WeChat: web authorization; else the link (it opens the mini program right
        // here), else message-code login (the code is sent from this very WeChat), else the
        // website QR (the only login the site has).
        if cfg.official_account.is_some() {
            Channel::OfficialAccount
        } else if cfg.mini_program {
            return Some(Pick::Link);
        } else if cfg.oa_unverified {
            Channel::MessageCode
        } else if cfg.website.is_some() {
            Channel::Website
        } else {
            return None;
        }
    } else if cfg.website.is_some() {
        Channel::Website
    } else if cfg.official_account.is_some() || cfg.oa_unverified {
        // Scan login (message-code login for an unverified account).
        Channel::ScanFollow
    } else if cfg.mini_program {
        // No website app and no Official Account: a mini program code on the desktop.
        Channel::MiniProgramCode
    } else {
        return None;
    };
    Some(Pick::Channel(channel))
}

/// Whether `req` comes from a browser that cannot use a QR code shown on its own screen
/// (inside WeChat, or on a phone).
fn qr_unusable(req: &Parts) -> bool {
    let (kind, phone) = browser_of(req);
    kind.in_wechat() || phone
}

/// `PREFIX/scan?via=link&return_to=…`: the phone page of the mini program link.
fn link_page(auth: &Oauth, return_to: &str) -> Response<Body> {
    let location = format!(
        "{}/scan?via=link&return_to={}",
        auth.settings.prefix,
        percent_encoding::utf8_percent_encode(return_to, QUERY_VALUE)
    );
    respond::redirect(StatusCode::FOUND, &location)
}

/// `GET PREFIX/login?return_to=/path&channel=website|oa|scan&display=page|popup|embed&scope=userinfo`
pub(crate) fn login(auth: &Oauth, req: &Parts) -> Response<Body> {
    let q = Query::parse(req.uri.query());
    let fail = |e: Failure| auth.error_page(req, &e, None);
    let return_to = safe_return_to(q.get("return_to"), &auth.settings.allowed_origins);
    let answer = match q.get("display") {
        None | Some("page") => Answer::Redirect,
        Some("popup") => Answer::Popup,
        // WeChat's QR embedded in the page, unless the browser cannot use a QR (inside
        // WeChat, on a phone) and did not ask for the website channel: then the login of
        // its kind, as a page.
        Some("embed") if q.get("channel").is_some() || !qr_unusable(req) => {
            return embed::host_page(auth, req, &q, &return_to);
        }
        Some("embed") => Answer::Redirect,
        Some(other) => {
            return fail(Failure::BadRequest(format!(
                "display={other:?} is not a way to show the login: use page, popup or embed"
            )));
        }
    };
    let force_userinfo = match q.get("scope") {
        None => false,
        Some("userinfo" | "snsapi_userinfo") => true,
        Some(other) => {
            return fail(Failure::BadRequest(format!(
                "scope={other:?} is not a scope to ask for: use scope=userinfo"
            )));
        }
    };
    let channel = match q.get("channel") {
        Some("link") => return link_page(auth, &return_to),
        Some(name) => match name.parse::<Channel>() {
            Ok(c) => c,
            Err(e) => return fail(Failure::BadRequest(e.to_string())),
        },
        None => {
            let (kind, phone) = browser_of(req);
            match pick(auth, kind, phone) {
                Some(Pick::Channel(c)) => c,
                Some(Pick::Link) => return link_page(auth, &return_to),
                None => return fail(Failure::ChannelOff("browser")),
            }
        }
    };
    // The popup's nonce (embed.js makes one per popup): carried in the signed state cookie,
    // echoed by the callback's popup page, so the opener ignores every other message.
    let nonce = match q.get("nonce") {
        Some(n) if answer == Answer::Popup && !popup::valid_nonce(n) => {
            return fail(Failure::BadRequest(
                "nonce must be 16 to 64 letters, digits, '-' or '_'".into(),
            ));
        }
        Some(n) if answer == Answer::Popup => Some(n.to_owned()),
        _ => None,
    };
    let cfg = &auth.settings;
    let redirect_uri = redirect_uri(answer, &auth.settings);
    let state = random_token(32);
    let url = match channel {
        Channel::Website => match &cfg.website {
            Some(app) => auth
                .client
                .qrconnect_url(app.appid(), redirect_uri, &state, None),
            None => return fail(Failure::ChannelOff("website")),
        },
        Channel::OfficialAccount => match &cfg.official_account {
            Some(oa) => {
                let scope = match oa.scope() {
                    _ if force_userinfo => OaScope::UserInfo,
                    OaScope::BaseThenUserinfo => OaScope::Base,
                    scope => scope,
                };
                auth.client
                    .authorize_url(oa.app().appid(), redirect_uri, scope, &state, false)
            }
            None if cfg.oa_unverified => return fail(Unverified.into()),
            None => return fail(Failure::ChannelOff("Official Account")),
        },
        Channel::ScanFollow => {
            if cfg.official_account.is_none() && !cfg.oa_unverified {
                return fail(Failure::ChannelOff("scan"));
            }
            let location = format!(
                "{}/scan?return_to={}",
                cfg.prefix,
                percent_encoding::utf8_percent_encode(&return_to, QUERY_VALUE)
            );
            return respond::redirect(StatusCode::FOUND, &location);
        }
        Channel::MessageCode => {
            if cfg.official_account.is_none() && !cfg.oa_unverified {
                return fail(Failure::ChannelOff("message-code"));
            }
            let location = format!(
                "{}/scan?return_to={}&via=message",
                cfg.prefix,
                percent_encoding::utf8_percent_encode(&return_to, QUERY_VALUE)
            );
            return respond::redirect(StatusCode::FOUND, &location);
        }
        Channel::MiniProgramCode => {
            if !cfg.mini_program {
                return fail(Failure::ChannelOff("mini program code"));
            }
            let location = format!(
                "{}/scan?return_to={}&via=miniprogram",
                cfg.prefix,
                percent_encoding::utf8_percent_encode(&return_to, QUERY_VALUE)
            );
            return respond::redirect(StatusCode::FOUND, &location);
        }
        _ => {
            return fail(Failure::BadRequest(format!(
                "the {channel} channel logs in from the app: POST {}/app or {}/miniprogram",
                cfg.prefix, cfg.prefix
            )));
        }
    };
    let mut res = respond::redirect(StatusCode::FOUND, &url);
    set_state_cookie(auth, req, &mut res, state, return_to, channel, nonce);
    tracing::debug!(channel = %channel, "login started");
    res
}

/// Binds `state` to this browser ([`WebLogins::start`]).
pub(crate) fn set_state_cookie(
    auth: &Oauth,
    req: &Parts,
    res: &mut Response<Body>,
    state: String,
    return_to: String,
    channel: Channel,
    nonce: Option<String>,
) {
    auth.web.start(req, res, state, return_to, channel, nonce);
}

/// `GET PREFIX/callback?code=…&state=…` (and `display=popup|iframe` when the login was
/// shown that way).
pub(crate) async fn callback(auth: &Oauth, req: &Parts) -> Response<Body> {
    let q = Query::parse(req.uri.query());
    let answer = Answer::of(&q);
    let lang = auth.language(req);
    let web = &auth.web;
    // Until the state cookie verified, a popup's message carries no nonce, so no opener
    // takes it as its own.
    let state = q.get("state").unwrap_or("");
    let code = q.get("code").filter(|c| !c.is_empty());
    if !valid_state(state) {
        return web.failure(
            answer,
            lang,
            &Failure::BadRequest(
                "The sign-in link is incomplete: its state is missing or malformed.".into(),
            ),
            Some(&login_link(auth, "/", None)),
            None,
        );
    }
    let Some(ticket) = web.ticket(req, state) else {
        if answer == Answer::Frame
            && let Some(code) = code
        {
            // Inside the embedded QR's frame, Chromium withholds our SameSite=Lax state
            // cookie: the frame's navigation was started by WeChat's page, another site.
            // Nothing is consumed here: the top window takes the same callback, where the
            // cookie is sent, and finishes the login there.
            let top = format!(
                "{}/callback?code={}&state={state}",
                auth.settings.prefix,
                percent_encoding::utf8_percent_encode(code, QUERY_VALUE)
            );
            return popup::move_top(web, lang, &top);
        }
        if let Some(return_to) = repeat_after_success(auth, req, state, code).await {
            return web.success(answer, lang, &return_to, None);
        }
        tracing::info!("callback refused: state not bound to this browser");
        return web.failure(
            answer,
            lang,
            &Failure::StateMismatch,
            Some(&login_link(auth, "/", None)),
            None,
        );
    };
    let retry = login_link(auth, &ticket.rt, Some(ticket.ch));
    // From here on the popup's messages carry the nonce the opener gave its login.
    let nonce = ticket.pn.as_deref();
    let fail = |e: &Failure| {
        let mut res = web.failure(answer, lang, e, Some(&retry), nonce);
        web.clear_state(&mut res, state);
        res
    };

    let Some(code) = code else {
        // No code: the person declined on WeChat's page.
        let mut res = web.cancelled(answer, lang, Provider::Wechat, &retry, nonce);
        web.clear_state(&mut res, state);
        return res;
    };

    let app = match ticket.ch {
        Channel::Website => auth.settings.website.as_ref(),
        Channel::OfficialAccount => auth.settings.official_account.as_ref().map(|oa| oa.app()),
        _ => None,
    };
    let Some(app) = app else {
        return web.failure(
            answer,
            lang,
            &Failure::ChannelOff("this"),
            Some(&retry),
            nonce,
        );
    };
    let appid = app.appid();
    let outcome = auth
        .exchanges
        .exchange_for_state(
            appid,
            state,
            code,
            web.state_memory(),
            client_ip(req, auth.settings.client_ip.as_ref()),
            |keep| async move {
                let signed_in = auth.logins.signed_in(&req.headers); // for on_login to bind to
                auth.code_login
                    .login_with_code(
                        app, code, ticket.ch, &ticket.st, &ticket.rt, signed_in, &keep,
                    )
                    .await
            },
        )
        .await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    if outcome.state() != state {
        tracing::warn!("a code came back with another login's state");
        return web.failure(answer, lang, &Failure::StateMismatch, Some(&retry), nonce);
    }
    let mut res = match web.finish(answer, lang, &outcome, &retry, nonce) {
        Some(res) => res,
        // An Official Account snapshot-page (virtual) user: no session.
        None if answer == Answer::Popup => popup::failure(
            web,
            lang,
            &crate::providers::wechat::failure::WechatFailure::SnapshotUser.into(),
            nonce,
        ),
        None => snapshot_page(auth, lang, &retry, answer),
    };
    web.clear_state(&mut res, state);
    res
}

/// A callback that lost its state cookie (the first one succeeded and cleared it: a reload,
/// the Back button) from a browser that already holds that login's session: where that
/// login was going.
async fn repeat_after_success(
    auth: &Oauth,
    req: &Parts,
    state: &str,
    code: Option<&str>,
) -> Option<String> {
    let code = code?;
    let crate::core::sessions::Found::Session(current) = auth.sessions.find_session(&req.headers)
    else {
        return None;
    };
    for app in [
        auth.settings.website.as_ref(),
        auth.settings.official_account.as_ref().map(|oa| oa.app()),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(outcome) = auth
            .exchanges
            .remembered_for_state(app.appid(), state, code)
            .await
            && let LoginOutcome::Success {
                state: s,
                identity,
                return_to,
                ..
            } = outcome
            && s == state
            && identity.key() == current.session.identity.key()
        {
            return Some(return_to.clone());
        }
    }
    None
}

/// The page for an Official Account snapshot-page (virtual) user.
fn snapshot_page(auth: &Oauth, lang: Language, retry: &str, answer: Answer) -> Response<Body> {
    let page = match lang {
        Language::En => Page::new(PageKind::Snapshot, lang, "Use the full service", "Use the full service")
            .with_text("WeChat opened this page in snapshot mode, so you cannot log in yet. Tap 「使用完整服务」 (use full service) at the bottom right, accept, and log in again."),
        _ => Page::new(PageKind::Snapshot, lang, "请使用完整服务", "请使用完整服务")
            .with_text("当前为微信快照页模式，无法登录。请点击页面右下角的「使用完整服务」，同意授权后再登录。")
            .with_note("WeChat opened this page in snapshot mode, so you cannot log in yet. Tap 「使用完整服务」 (use full service) at the bottom right, accept, and log in again."),
    }
    .code("snapshot_user")
    .retry(Some(retry))
    .compose(Default::default(), Default::default());
    respond::html_framed(
        StatusCode::OK,
        pages::render(&*auth.settings.pages, &page),
        answer.framing(),
    )
}

/// Mounts this channel on a layer: its state and its routes.
pub(crate) fn mount(engine: &Arc<Mount>) -> Box<dyn crate::core::route::Endpoints> {
    crate::core::route::Mounted::boxed(Oauth::new(engine), routes())
}

/// This channel's endpoints in the layer's route table: `login`, `callback`, `embed`,
/// `embed.js` (all `GET`/`HEAD`).
pub(crate) fn routes() -> &'static [crate::core::route::Route<Oauth>] {
    use crate::core::route::{Path, Route, boxed};
    static ROUTES: [Route<Oauth>; 4] = [
        Route::read(Path::Exact("/login"), |c| {
            boxed(async move { Ok(login(c.auth, c.req)) })
        }),
        Route::read(Path::Exact("/callback"), |c| {
            boxed(async move { Ok(callback(c.auth, c.req).await) })
        }),
        Route::read(Path::Exact("/embed"), |c| {
            boxed(async move { embed(c.auth, c.req) })
        }),
        Route::read(Path::Exact("/embed.js"), |c| {
            boxed(async move { Ok(embed_js(c.req)) })
        }),
    ];
    &ROUTES
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The section is the settings `build()` accepted: the callbacks go through the relay
    /// hub with their display, the links start at the guard's login path.
    #[test]
    fn settings_are_copied_from_the_checked_config() {
        let cfg = crate::config::WechatConfig::builder()
            .with_public_url("https://shop.example.com")
            .with_session_secret("0123456789abcdef0123456789abcdef")
            .with_website_app("wx1000000000000001", "website-app-secret")
            .with_prefix("/sso")
            .with_relay_hub("https://hub.example.com/sso/relay")
            .build()
            .expect("settings");
        let want = |display: Option<&str>| cfg.callback_uri(display);
        let (page, popup, iframe) = (want(None), want(Some("popup")), want(Some("iframe")));
        let oauth = Oauth::new(&Mount::new(cfg));
        let s = &oauth.settings;
        assert_eq!(redirect_uri(Answer::Redirect, s), page);
        assert_eq!(redirect_uri(Answer::Popup, s), popup);
        assert_eq!(redirect_uri(Answer::Frame, s), iframe);
        assert!(
            page.starts_with("https://hub.example.com/sso/relay?to="),
            "{page}"
        );
        assert!(popup.ends_with("%3Fdisplay%3Dpopup"), "{popup}");
        assert_eq!(s.login_path, "/sso/login");
        assert!(s.website.is_some() && s.official_account.is_none() && !s.mini_program);
        assert!(!format!("{oauth:?}").contains("website-app-secret"));
    }

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
