//! WeCom (企业微信) login: `GET login?channel=wecom` sends the browser to WeCom (the desktop
//! `wwlogin/sso/login`, or inside the WeCom client — a `wxwork/` User-Agent, picked
//! automatically — `connect/oauth2/authorize … #wechat_redirect`), `GET embed?channel=wecom`
//! answers the JSON of `ww.createWWLoginPanel`, and `GET callback` with a state this channel
//! made finishes the login through the core's browser-login ends. `GET, POST wecom/push` is
//! a third-party app's command callback: URL verification, the `suite_ticket` (kept in the
//! store for every instance) and the authorization events.
//!
//! Self-built and agent-developed apps (`login_type=CorpApp`, one corp id + agent id + secret
//! each; `corp=CORPID` picks one of several) and the third-party suite (`ServiceApp`, the
//! suite id; `kind=suite` picks it when both are configured) log in the same way. Which app
//! a login started with is kept in the store under its state, so the callback exchanges the
//! code with that app's token, exactly once (the core's exchanges).

mod push;

use std::{sync::Arc, time::Duration};

use axum_core::body::Body;
use http::{Response, StatusCode, header, request::Parts};
use serde::Serialize;
use wecom_client::{PanelRedirect, SsoApp, WecomCrypto};

use crate::{
    channels::{Mount, oauth::browser::BrowserKind},
    core::{
        exchange::Exchanges,
        failure::Failure,
        limit::{ClientIpHeader, client_ip},
        login::Logins,
        redirect::safe_return_to,
        request::{Query, query_is},
        respond::{self, QUERY_VALUE},
        route::{Endpoints, Mounted, Path, Route, boxed},
        store::{Store, keys::Key},
        weblogin::{Answer, WebLogins, popup, state_tagged, tagged_state, valid_state},
    },
    providers::wecom::{Wecom, WecomApp},
    user::{Channel, Identity, Provider},
};

/// The tag of this channel's states (`wecom` + 32 random characters).
const TAG: &str = "wecom";

/// This channel's settings, copied once from the checked configuration.
#[derive(Debug)]
pub(crate) struct Settings {
    /// `PREFIX`.
    prefix: String,
    /// `PREFIX/login`.
    login_path: String,
    /// The `redirect_uri`s sent to WeCom: a page, a popup, the embedded panel's frame.
    page: String,
    popup: String,
    iframe: String,
    /// Other origins `return_to` may lead to.
    allowed_origins: Vec<String>,
    /// Which header names the client.
    client_ip: Option<ClientIpHeader>,
    /// How long a login's state (and which app it is for) is kept.
    state_ttl: Duration,
}

/// The WeCom channel: its settings, the WeCom provider and the core services it calls.
#[derive(Debug)]
pub(crate) struct WecomChannel {
    settings: Settings,
    wecom: Arc<Wecom>,
    /// The suite's command callback crypto (ReceiveId = the suite id).
    crypto: Option<WecomCrypto>,
    store: Arc<dyn Store>,
    web: Arc<WebLogins>,
    exchanges: Arc<Exchanges>,
    logins: Arc<Logins>,
}

impl WecomChannel {
    /// The channel as mounted on `e`'s layer.
    pub(crate) fn new(e: &Mount) -> Self {
        let cfg = &e.cfg;
        Self {
            settings: Settings {
                prefix: cfg.prefix.clone(),
                login_path: e.guard.login_path().to_owned(),
                page: cfg.callback_uri(None),
                popup: cfg.callback_uri(Some("popup")),
                iframe: cfg.callback_uri(Some("iframe")),
                allowed_origins: cfg.allowed_origins.clone(),
                client_ip: cfg.client_ip_header.clone(),
                state_ttl: cfg.state_ttl,
            },
            wecom: Arc::new(Wecom::new(&cfg.wecom, e.store.clone())),
            crypto: cfg.wecom.suite.as_ref().map(|s| s.crypto.clone()),
            store: e.store.clone(),
            web: e.web.clone(),
            exchanges: e.exchanges.clone(),
            logins: e.logins.clone(),
        }
    }

    fn is_on(&self) -> bool {
        self.wecom.corps().next().is_some() || self.wecom.suite().is_some()
    }

    fn redirect_uri(&self, answer: Answer) -> &str {
        match answer {
            Answer::Redirect => &self.settings.page,
            Answer::Popup => &self.settings.popup,
            Answer::Frame => &self.settings.iframe,
        }
    }

    /// Where the app of the login with `state` is kept until its callback.
    fn app_key(state: &str) -> Key {
        Key::hashed(TAG, "wecom_state", state)
    }
}

/// Which app a login is for, as kept under its state: `corp CORPID AGENTID` or `suite`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Chosen {
    Corp { corp_id: String, agent_id: String },
    Suite,
}

impl Chosen {
    fn encode(&self) -> String {
        match self {
            Self::Corp { corp_id, agent_id } => format!("corp {corp_id} {agent_id}"),
            Self::Suite => "suite".to_owned(),
        }
    }

    fn decode(raw: &[u8]) -> Option<Self> {
        let raw = std::str::from_utf8(raw).ok()?;
        let mut parts = raw.split(' ');
        match (parts.next()?, parts.next(), parts.next()) {
            ("corp", Some(c), Some(a)) => Some(Self::Corp {
                corp_id: c.to_owned(),
                agent_id: a.to_owned(),
            }),
            ("suite", None, None) => Some(Self::Suite),
            _ => None,
        }
    }

    /// The app's id in exchange and state keys.
    fn id(&self, wecom: &Wecom) -> String {
        match self {
            Self::Corp { corp_id, agent_id } => format!("{corp_id}.{agent_id}"),
            Self::Suite => wecom
                .suite()
                .map(|s| s.suite_id().to_owned())
                .unwrap_or_default(),
        }
    }
}

/// Whether `req` comes from inside the WeCom client.
fn in_wecom(req: &Parts) -> bool {
    let header = |name| {
        req.headers
            .get(name)
            .and_then(|v: &http::HeaderValue| v.to_str().ok())
    };
    BrowserKind::of(
        header(header::USER_AGENT).unwrap_or(""),
        header(header::REFERER),
    ) == BrowserKind::Wecom
}

/// `login` is this channel's when `channel=wecom`, or with no `channel=` from inside the
/// WeCom client.
fn login_guard(req: &Parts) -> bool {
    query_is(req, "channel", TAG)
        || (Query::parse(req.uri.query()).get("channel").is_none() && in_wecom(req))
}

fn channel_guard(req: &Parts) -> bool {
    query_is(req, "channel", TAG)
}

fn callback_guard(req: &Parts) -> bool {
    state_tagged(req, TAG)
}

/// The app a login asks for: `kind=suite|corp` (the corps by default when there are any),
/// `corp=CORPID` (and `agentid=`) among several corps.
fn choose<'a>(auth: &'a WecomChannel, q: &Query<'_>) -> Result<(Chosen, WecomApp<'a>), Failure> {
    let wants_suite = match q.get("kind") {
        Some("suite") => true,
        Some("corp") => false,
        None => auth.wecom.corps().next().is_none(),
        Some(other) => {
            return Err(Failure::BadRequest(format!(
                "kind={other:?}: use corp (a self-built or agent-developed app) or suite (the third-party app)"
            )));
        }
    };
    if wants_suite {
        let suite = auth
            .wecom
            .suite()
            .ok_or(Failure::ChannelOff("WeCom third-party"))?;
        return Ok((Chosen::Suite, WecomApp::Suite(suite)));
    }
    let corp = auth.wecom.corp(q.get("corp"), q.get("agentid"))?;
    Ok((
        Chosen::Corp {
            corp_id: corp.corp_id().to_owned(),
            agent_id: corp.agent_id().to_owned(),
        },
        WecomApp::Corp(corp),
    ))
}

/// Starts a login: a tagged state bound to this browser (on `res`) and to the chosen app
/// (in the store); answers the state.
async fn start(
    auth: &WecomChannel,
    req: &Parts,
    res: &mut Response<Body>,
    chosen: &Chosen,
    return_to: String,
    nonce: Option<String>,
) -> Result<String, Failure> {
    let state = tagged_state(TAG);
    auth.store
        .set(
            &WecomChannel::app_key(&state),
            chosen.encode().into_bytes(),
            auth.settings.state_ttl,
        )
        .await?;
    auth.web
        .start(req, res, state.clone(), return_to, Channel::Wecom, nonce);
    Ok(state)
}

/// `GET PREFIX/login?channel=wecom&return_to=/path&corp=CORPID&kind=corp|suite&display=page|popup`
async fn login(auth: &WecomChannel, req: &Parts) -> Result<Response<Body>, Failure> {
    if !auth.is_on() {
        return Err(Failure::ChannelOff("WeCom"));
    }
    let q = Query::parse(req.uri.query());
    let return_to = safe_return_to(q.get("return_to"), &auth.settings.allowed_origins);
    let answer = match q.get("display") {
        None | Some("page") => Answer::Redirect,
        Some("popup") => Answer::Popup,
        // WeCom's login page framed in the layer's own page (no WeCom script), unless
        // inside the WeCom client: there the in-app login, as a page.
        Some("embed") if !in_wecom(req) => return host_page(auth, req, &q, return_to).await,
        Some("embed") => Answer::Redirect,
        Some(other) => {
            return Err(Failure::BadRequest(format!(
                "display={other:?} is not a way to show the WeCom login: use page, popup or embed"
            )));
        }
    };
    let nonce = match q.get("nonce") {
        Some(n) if answer == Answer::Popup && !popup::valid_nonce(n) => {
            return Err(Failure::BadRequest(
                "nonce must be 16 to 64 letters, digits, '-' or '_'".into(),
            ));
        }
        Some(n) if answer == Answer::Popup => Some(n.to_owned()),
        _ => None,
    };
    let (chosen, app) = choose(auth, &q)?;
    let redirect_uri = auth.redirect_uri(answer).to_owned();
    let mut res = Response::new(Body::empty());
    let state = start(auth, req, &mut res, &chosen, return_to, nonce).await?;
    let client = auth.wecom.client();
    let url = match (app, in_wecom(req)) {
        (WecomApp::Corp(c), true) => client.oauth2_authorize_url(
            c.corp_id(),
            &redirect_uri,
            c.scope(),
            &state,
            Some(c.agent_id()),
        ),
        (WecomApp::Suite(s), true) => {
            client.oauth2_authorize_url(s.suite_id(), &redirect_uri, s.scope(), &state, None)
        }
        (app, false) => client.sso_login_url(sso_app(app), &redirect_uri, &state, lang(req)),
    };
    let mut redirect = respond::redirect(StatusCode::FOUND, &url);
    for c in res.headers().get_all(header::SET_COOKIE) {
        redirect.headers_mut().append(header::SET_COOKIE, c.clone());
    }
    tracing::debug!(app = ?chosen, in_app = in_wecom(req), "WeCom login started");
    Ok(redirect)
}

fn sso_app(app: WecomApp<'_>) -> SsoApp<'_> {
    match app {
        WecomApp::Corp(c) => SsoApp::Corp {
            corp_id: c.corp_id(),
            agent_id: c.agent_id(),
        },
        WecomApp::Suite(s) => SsoApp::Service {
            suite_id: s.suite_id(),
        },
    }
}

/// The `lang` of WeCom's login page, from the visitor's language.
fn lang(req: &Parts) -> Option<&'static str> {
    let accept = req
        .headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())?;
    Some(if accept.trim_start().starts_with("zh") {
        "zh"
    } else {
        "en"
    })
}

/// The JSON of `GET embed?channel=wecom`: the `params` of `ww.createWWLoginPanel`, and the
/// `url` of WeCom's login page that `embed.js` frames (no third-party script).
#[derive(Serialize)]
struct PanelJson {
    #[serde(flatten)]
    params: wecom_client::LoginPanelParams,
    url: String,
}

/// `GET PREFIX/embed?channel=wecom&return_to=/path&corp=…&kind=…`
async fn embed(auth: &WecomChannel, req: &Parts) -> Result<Response<Body>, Failure> {
    if !auth.is_on() {
        return Err(Failure::ChannelOff("WeCom"));
    }
    let q = Query::parse(req.uri.query());
    let return_to = safe_return_to(q.get("return_to"), &auth.settings.allowed_origins);
    let (chosen, app) = choose(auth, &q)?;
    let redirect_uri = auth.redirect_uri(Answer::Frame).to_owned();
    let mut cookies = Response::new(Body::empty());
    let state = start(auth, req, &mut cookies, &chosen, return_to, None).await?;
    let app = sso_app(app);
    let json = PanelJson {
        url: auth
            .wecom
            .client()
            .sso_login_url(app, &redirect_uri, &state, lang(req)),
        params: app.panel_params(&redirect_uri, &state, PanelRedirect::SelfFrame),
    };
    let mut res = respond::json(StatusCode::OK, &json);
    for c in cookies.headers().get_all(header::SET_COOKIE) {
        res.headers_mut().append(header::SET_COOKIE, c.clone());
    }
    Ok(res)
}

/// `GET PREFIX/login?channel=wecom&display=embed&return_to=/path`: the layer's page framing
/// WeCom's login page, for sites that draw no panel of their own. Its CSP lets WeCom's login
/// host (and this site's callback, which runs in the frame) into the frame only.
async fn host_page(
    auth: &WecomChannel,
    req: &Parts,
    q: &Query<'_>,
    return_to: String,
) -> Result<Response<Body>, Failure> {
    use crate::core::pages::{self, Language, Markup, Page, PageKind};
    let (chosen, app) = choose(auth, q)?;
    let redirect_uri = auth.redirect_uri(Answer::Frame).to_owned();
    let mut cookies = Response::new(Body::empty());
    let state = start(auth, req, &mut cookies, &chosen, return_to, None).await?;
    let client = auth.wecom.client();
    let url = client.sso_login_url(sso_app(app), &redirect_uri, &state, lang(req));
    let lang = auth.web.language(req);
    let (title, heading, text) = match lang {
        Language::En => (
            "Log in with WeCom",
            "Log in with WeCom",
            "Scan with WeCom, or log in with the WeCom desktop app.",
        ),
        _ => (
            "企业微信登录 · Log in with WeCom",
            "企业微信登录",
            "请使用企业微信扫码登录",
        ),
    };
    let frame = Markup::trusted(format!(
        "<iframe id=\"wecom-panel\" src=\"{}\" title=\"{}\" width=\"400\" height=\"460\" \
         frameborder=\"0\" sandbox=\"allow-scripts allow-top-navigation allow-same-origin allow-forms\"></iframe>",
        pages::escape(&url),
        pages::escape(heading),
    ));
    let page = Page::new(PageKind::Embed, lang, title, heading)
        .with_text(text)
        .compose(frame, Markup::default());
    let origin = client.login_base().origin().ascii_serialization();
    let mut res = respond::html_framed(
        StatusCode::OK,
        pages::render(auth.web.pages(), &page),
        respond::Framing::HostsWechat(&origin, true),
    );
    for c in cookies.headers().get_all(header::SET_COOKIE) {
        res.headers_mut().append(header::SET_COOKIE, c.clone());
    }
    Ok(res)
}

/// The link that starts a WeCom login again.
fn retry_link(auth: &WecomChannel, return_to: &str) -> String {
    format!(
        "{}?channel=wecom&return_to={}",
        auth.settings.login_path,
        percent_encoding::utf8_percent_encode(return_to, QUERY_VALUE)
    )
}

/// `GET PREFIX/callback?code=…&state=wecom…` (and `display=popup|iframe`).
async fn callback(auth: &WecomChannel, req: &Parts) -> Response<Body> {
    let q = Query::parse(req.uri.query());
    let answer = Answer::of(&q);
    let lang = auth.web.language(req);
    let web = &auth.web;
    let state = q.get("state").unwrap_or("");
    let code = q.get("code").filter(|c| !c.is_empty());
    let start_over = retry_link(auth, "/");
    if !valid_state(state) {
        return web.failure(
            answer,
            lang,
            &Failure::BadRequest("The sign-in link is incomplete: its state is malformed.".into()),
            Some(&start_over),
            None,
        );
    }
    let Some(ticket) = web.ticket(req, state) else {
        if answer == Answer::Frame
            && let Some(code) = code
        {
            // In WeCom's panel frame the SameSite=Lax state cookie is withheld (the frame
            // was navigated by another site): the top window takes the same callback.
            let top = format!(
                "{}/callback?code={}&state={state}",
                auth.settings.prefix,
                percent_encoding::utf8_percent_encode(code, QUERY_VALUE)
            );
            return popup::move_top(web, lang, &top);
        }
        tracing::info!("WeCom callback refused: state not bound to this browser");
        return web.failure(
            answer,
            lang,
            &Failure::StateMismatch,
            Some(&start_over),
            None,
        );
    };
    let retry = retry_link(auth, &ticket.rt);
    let nonce = ticket.pn.as_deref();
    let fail = |e: &Failure| {
        let mut res = web.failure(answer, lang, e, Some(&retry), nonce);
        web.clear_state(&mut res, state);
        res
    };
    let Some(code) = code else {
        let mut res = web.cancelled(answer, lang, Provider::Wecom, &retry, nonce);
        web.clear_state(&mut res, state);
        return res;
    };
    if code.len() > 512 {
        return fail(&Failure::BadRequest(
            "the code is longer than WeCom's 512 bytes".into(),
        ));
    }
    let chosen = match auth.store.get(&WecomChannel::app_key(state)).await {
        Ok(Some(raw)) => Chosen::decode(&raw),
        Ok(None) => None,
        Err(e) => return fail(&e.into()),
    };
    let Some(chosen) = chosen else {
        return fail(&Failure::StateMismatch);
    };
    let app = match &chosen {
        Chosen::Corp { corp_id, agent_id } => auth
            .wecom
            .corp(Some(corp_id), Some(agent_id))
            .map(WecomApp::Corp),
        Chosen::Suite => auth
            .wecom
            .suite()
            .map(WecomApp::Suite)
            .ok_or(Failure::ChannelOff("WeCom third-party")),
    };
    let app = match app {
        Ok(app) => app,
        Err(e) => return fail(&e),
    };
    let app_id = chosen.id(&auth.wecom);
    let outcome = auth
        .exchanges
        .exchange_for_state(
            &app_id,
            state,
            code,
            web.state_memory(),
            client_ip(req, auth.settings.client_ip.as_ref()),
            |_| async {
                let signed_in = auth.logins.signed_in(&req.headers);
                let user = auth.wecom.login(app, code).await?;
                Ok(auth
                    .logins
                    .finish_login(Identity::Wecom(user), &ticket.st, &ticket.rt, signed_in)
                    .await)
            },
        )
        .await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    if outcome.state() != state {
        tracing::warn!("a WeCom code came back with another login's state");
        return fail(&Failure::StateMismatch);
    }
    let mut res = match web.finish(answer, lang, &outcome, &retry, nonce) {
        Some(res) => res,
        None => web.failure(answer, lang, &Failure::StateMismatch, Some(&retry), nonce),
    };
    web.clear_state(&mut res, state);
    res
}

/// Mounts this channel: every route when WeCom is configured; otherwise only what
/// `channel=wecom` names (answered "not configured"), so other browsers are untouched.
pub(crate) fn mount(engine: &Arc<Mount>) -> Box<dyn Endpoints> {
    let channel = WecomChannel::new(engine);
    if channel.is_on() {
        Mounted::boxed(channel, routes())
    } else {
        Mounted::boxed(channel, routes_off())
    }
}

/// This channel's endpoints: `login`, `embed` and `callback` (guarded: shared with the
/// other channels), and `wecom/push` (`GET` verification, `POST` events).
pub(crate) fn routes() -> &'static [Route<WecomChannel>] {
    static ROUTES: [Route<WecomChannel>; 5] = [
        Route::read(Path::Exact("/login"), |c| boxed(login(c.auth, c.req))).when(login_guard),
        Route::read(Path::Exact("/embed"), |c| boxed(embed(c.auth, c.req))).when(channel_guard),
        Route::read(Path::Exact("/callback"), |c| {
            boxed(async move { Ok(callback(c.auth, c.req).await) })
        })
        .when(callback_guard),
        Route::read(Path::Exact("/wecom/push"), |c| {
            boxed(async move { Ok(push::verify(c.auth, c.req).await) })
        }),
        Route::post_body(Path::Exact("/wecom/push"), push::MAX_BODY, |c| {
            boxed(async move { Ok(push::event(c.auth, c.req, &c.body).await) })
        }),
    ];
    &ROUTES
}

/// Without WeCom settings: `channel=wecom` and the push URL say so.
fn routes_off() -> &'static [Route<WecomChannel>] {
    static ROUTES: [Route<WecomChannel>; 3] = [
        Route::read(Path::Exact("/login"), |c| boxed(login(c.auth, c.req))).when(channel_guard),
        Route::read(Path::Exact("/embed"), |c| boxed(embed(c.auth, c.req))).when(channel_guard),
        Route::read(Path::Exact("/wecom/push"), |c| {
            boxed(async move { Ok(push::verify(c.auth, c.req).await) })
        }),
    ];
    &ROUTES
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, ua: &str) -> Parts {
        http::Request::get(uri)
            .header(header::USER_AGENT, ua)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    const WXWORK: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 10_2 like Mac OS X) AppleWebKit/602.3.12 (KHTML, like Gecko) Mobile/14C92 wxwork/2.4.2 MicroMessenger/6.3.22 Language/zh";

    #[test]
    fn the_guards_take_only_wecom_requests() {
        assert!(login_guard(&parts("/login?channel=wecom", "Chrome")));
        assert!(login_guard(&parts("/login", WXWORK)));
        assert!(!login_guard(&parts("/login?channel=website", WXWORK)));
        assert!(!login_guard(&parts("/login", "Chrome")));
        assert!(callback_guard(&parts(
            &format!("/callback?code=c&state={}", tagged_state(TAG)),
            "x"
        )));
        assert!(!callback_guard(&parts(
            "/callback?code=c&state=0123456789abcdef0123456789abcdef",
            "x"
        )));
    }

    #[test]
    fn the_chosen_app_round_trips() {
        for c in [
            Chosen::Suite,
            Chosen::Corp {
                corp_id: "ww1".into(),
                agent_id: "1000002".into(),
            },
        ] {
            assert_eq!(Chosen::decode(c.encode().as_bytes()), Some(c));
        }
        assert_eq!(Chosen::decode(b"corp ww1"), None);
        assert_eq!(Chosen::decode(b"x"), None);
    }
}
