//! Douyin (抖音) login: the website and the Douyin webview (`GET PREFIX/login?channel=douyin`
//! → `open.douyin.com/platform/oauth/connect/`, back through the shared `PREFIX/callback`),
//! the Douyin app (`POST PREFIX/douyin/app {code}`, the OpenSDK's code) and Douyin mini-apps
//! (`POST PREFIX/douyin/miniapp {code}`, `tt.login()`), plus reading the signed-in user's
//! profile later (`GET PREFIX/douyin/profile`) and renewing their refresh token
//! (`POST PREFIX/douyin/renew`, at most five times).
//!
//! Douyin forbids a query in `redirect_uri`, so the callback is `PREFIX/callback` exactly and
//! everything the layer needs rides in the signed state cookie and the `state`: a state made
//! with the `douyin` tag (`douyinpopup` for a popup login) sends the callback here (the route
//! guard), and the popup's nonce is in the state cookie. Every login ends as a
//! [`DouyinUser`](crate::DouyinUser) session (`provider: douyin`), linked on `union_id`
//! through `on_login` like every provider.

mod native;
mod web;

use std::sync::Arc;

use http::{StatusCode, request::Parts};

use crate::{
    channels::Mount,
    config::AppCredentials,
    core::{
        exchange::Exchanges,
        failure::{Description, Failure, Refusal},
        limit::ClientIpHeader,
        login::Logins,
        request::Origins,
        route::{Endpoints, Mounted, Path, Route, boxed},
        sessions::Sessions,
        weblogin::WebLogins,
    },
    providers::douyin::login::DouyinLogin,
};

/// The state tag of a Douyin login shown as a page.
const TAG: &str = "douyin";
/// The state tag of a Douyin login shown in a popup (the callback answers the opener).
const TAG_POPUP: &str = "douyinpopup";

/// This channel's settings, copied once from the checked configuration.
pub(crate) struct Settings {
    /// The Douyin Open Platform app (website, webview, Douyin app): client key and secret.
    app: Option<AppCredentials>,
    /// The Douyin mini-app: appid and secret.
    miniapp: Option<AppCredentials>,
    /// `ORIGIN PREFIX/callback`, exactly (Douyin allows no query).
    redirect_uri: String,
    /// `PREFIX/login`, where a login starts again.
    login_path: String,
    /// Other origins `return_to` may lead to.
    allowed_origins: Vec<String>,
    /// Which header names the client (the exchanges' per-client bound).
    client_ip: Option<ClientIpHeader>,
}

/// The Douyin channel's state: its settings and the services it calls.
pub(crate) struct Douyin {
    settings: Settings,
    /// Builds Douyin's authorization URL (`None`: Douyin is not configured).
    client: Option<wechat_auth_douyin_client::DouyinClient>,
    /// Who a Douyin code belongs to, and the users' tokens.
    login: Option<Arc<DouyinLogin>>,
    web: Arc<WebLogins>,
    exchanges: Arc<Exchanges>,
    logins: Arc<Logins>,
    sessions: Arc<Sessions>,
    origins: Origins,
}

impl Douyin {
    /// The channel as mounted on `e`'s layer (the one place it reads what it is given).
    pub(crate) fn new(e: &Mount) -> Self {
        let cfg = &e.cfg;
        let section = cfg.douyin.as_ref();
        let client = section.map(|s| s.client.clone());
        let login = client
            .clone()
            .zip(e.douyin_tokens.clone())
            .map(|(client, tokens)| Arc::new(DouyinLogin::new(client, tokens)));
        Self {
            settings: Settings {
                app: section.and_then(|s| s.app.clone()),
                miniapp: section.and_then(|s| s.miniapp.clone()),
                redirect_uri: format!("{}{}/callback", cfg.origin(), cfg.prefix),
                login_path: e.guard.login_path().to_owned(),
                allowed_origins: cfg.allowed_origins.clone(),
                client_ip: cfg.client_ip_header.clone(),
            },
            client,
            login,
            web: e.web.clone(),
            exchanges: e.exchanges.clone(),
            logins: e.logins.clone(),
            sessions: e.sessions.clone(),
            origins: e.origins.clone(),
        }
    }

    /// The login service, or why there is none.
    fn login(&self) -> Result<&DouyinLogin, Failure> {
        self.login
            .as_deref()
            .ok_or(Failure::ChannelOff("Douyin (set WECHAT_DOUYIN_CLIENT_KEY)"))
    }
}

/// The failures of the Douyin channel itself (Douyin's own are the provider's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DouyinLoginFailure {
    /// A Douyin app or mini-app code was used already: its token was handed out once.
    #[error("login_again")]
    CodeUsed,
    /// The request carries no Douyin session (nobody, or someone of another provider).
    #[error("not_douyin")]
    NotDouyin,
}

impl Refusal for DouyinLoginFailure {
    fn describe(&self) -> Description {
        let (status, code, zh, en) = match self {
            Self::CodeUsed => (
                StatusCode::BAD_REQUEST,
                "login_again",
                "该登录凭证已使用，请重新登录。",
                "This code was already used to log in: get a new code (the Douyin OpenSDK's authorization, or tt.login()) and log in again.",
            ),
            Self::NotDouyin => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "请先用抖音登录。",
                "Log in with Douyin first: this request carries no Douyin session.",
            ),
        };
        Description {
            status,
            code,
            zh: zh.into(),
            en: en.into(),
            level: tracing::Level::INFO,
            retry_after: None,
        }
    }
}

impl From<DouyinLoginFailure> for Failure {
    fn from(f: DouyinLoginFailure) -> Self {
        Failure::channel(f)
    }
}

/// `GET PREFIX/login?channel=douyin`: this channel's login.
fn is_login(req: &Parts) -> bool {
    crate::core::request::query_is(req, "channel", "douyin")
}

/// Whether `req` comes from inside the Douyin app (its webview's `User-Agent` carries
/// `aweme_<version>` or `BytedanceWebview/`, protocol §29).
fn in_douyin(req: &Parts) -> bool {
    req.headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| {
            let ua = ua.to_ascii_lowercase();
            ua.contains("aweme_") || ua.contains("bytedancewebview/")
        })
}

/// Every login that names no channel, and `channel=douyin`: the site logs in with Douyin
/// only (no WeChat website app, Official Account or mini program), so the guard's redirects
/// to `PREFIX/login` are Douyin's.
fn is_login_or_unnamed(req: &Parts) -> bool {
    is_login(req)
        || crate::core::request::Query::parse(req.uri.query())
            .get("channel")
            .is_none()
}

/// [`is_login`], or a login that names no channel from inside the Douyin app: there a WeChat
/// QR could only be scanned by the same phone, while Douyin's authorization opens natively.
/// Mounted only when a Douyin app is configured.
fn is_login_or_in_douyin(req: &Parts) -> bool {
    is_login(req)
        || (in_douyin(req)
            && crate::core::request::Query::parse(req.uri.query())
                .get("channel")
                .is_none())
}

/// `GET PREFIX/callback` with a state this channel made.
fn is_callback(req: &Parts) -> bool {
    crate::core::weblogin::state_tagged(req, TAG)
        || crate::core::weblogin::state_tagged(req, TAG_POPUP)
}

/// Largest JSON body read from an app or a mini-app.
const MAX_BODY: usize = 16 * 1024;

/// Mounts this channel on a layer: its state and its routes.
pub(crate) fn mount(engine: &Arc<Mount>) -> Box<dyn Endpoints> {
    let douyin = Douyin::new(engine);
    // With a Douyin app, a login from inside the Douyin app is Douyin's unless it names a
    // channel; without one, those logins stay WeChat's.
    let cfg = &engine.cfg;
    let wechat_web =
        cfg.website.is_some() || cfg.official_account.is_some() || cfg.mini_program.is_some();
    let routes = match (douyin.settings.app.is_some(), wechat_web) {
        (false, _) => routes(),
        (true, true) => routes_in_douyin(),
        (true, false) => routes_douyin_only(),
    };
    Mounted::boxed(douyin, routes)
}

/// This channel's endpoints: `login` and `callback` (guarded: only Douyin's), `douyin/app`,
/// `douyin/miniapp`, `douyin/profile`, `douyin/renew`.
pub(crate) fn routes() -> &'static [Route<Douyin>] {
    static ROUTES: [Route<Douyin>; 6] = table(is_login);
    &ROUTES
}

/// [`routes`], where a login from inside the Douyin app that names no channel is Douyin's.
fn routes_in_douyin() -> &'static [Route<Douyin>] {
    static ROUTES: [Route<Douyin>; 6] = table(is_login_or_in_douyin);
    &ROUTES
}

/// [`routes`] for a site whose only browser login is Douyin's: every `login` that names no
/// channel is Douyin's.
fn routes_douyin_only() -> &'static [Route<Douyin>] {
    static ROUTES: [Route<Douyin>; 6] = table(is_login_or_unnamed);
    &ROUTES
}

/// The routes, with `login` taking what `login_guard` accepts.
const fn table(login_guard: fn(&Parts) -> bool) -> [Route<Douyin>; 6] {
    [
        Route::read(Path::Exact("/login"), |c| {
            boxed(async move { Ok(web::login(c.auth, c.req)) })
        })
        .when(login_guard),
        Route::read(Path::Exact("/callback"), |c| {
            boxed(async move { Ok(web::callback(c.auth, c.req).await) })
        })
        .when(is_callback),
        Route::post_body(Path::Exact("/douyin/app"), MAX_BODY, |c| {
            boxed(async move { native::app(c.auth, c.req, &c.body).await })
        }),
        Route::post_body(Path::Exact("/douyin/miniapp"), MAX_BODY, |c| {
            boxed(async move { native::miniapp(c.auth, c.req, &c.body).await })
        }),
        Route::read(Path::Exact("/douyin/profile"), |c| {
            boxed(async move { native::profile(c.auth, c.req).await })
        }),
        Route::post(Path::Exact("/douyin/renew"), |c| {
            boxed(async move { native::renew(c.auth, c.req).await })
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str) -> Parts {
        http::Request::get(uri).body(()).unwrap().into_parts().0
    }

    #[test]
    fn guards_take_only_douyin_logins_and_callbacks() {
        assert!(is_login(&parts("/login?channel=douyin&return_to=/x")));
        assert!(!is_login(&parts("/login?channel=website")));
        assert!(!is_login(&parts("/login")));
        let page = crate::core::weblogin::tagged_state(TAG);
        let popup = crate::core::weblogin::tagged_state(TAG_POPUP);
        assert!(is_callback(&parts(&format!(
            "/callback?code=c&state={page}"
        ))));
        assert!(is_callback(&parts(&format!("/callback?state={popup}"))));
        // WeChat's own states (32 random characters) are never Douyin's.
        let wechat = crate::core::clock::random_token(32);
        assert!(!is_callback(&parts(&format!(
            "/callback?code=c&state={wechat}"
        ))));
        let wecom = crate::core::weblogin::tagged_state("wecom");
        assert!(!is_callback(&parts(&format!(
            "/callback?code=c&state={wecom}"
        ))));
    }

    #[test]
    fn inside_the_douyin_app_a_login_without_channel_is_douyin_s() {
        let ua = |uri: &str, ua: &str| {
            http::Request::get(uri)
                .header(http::header::USER_AGENT, ua)
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        let android = "Mozilla/5.0 (Linux; Android 12; V2049A) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/75.0.3770.156 Mobile Safari/537.36 aweme_230400 JsSdk/1.0 NetType/WIFI Channel/douyin_tencent_and_1128 AppName/aweme app_version/23.4.0 ByteLocale/zh-CN Region/CN AppSkin/white AppTheme/light BytedanceWebview/d8a21c6 WebView/075113004008";
        let ios = "Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 BytedanceWebview/d8a21c6";
        assert!(is_login_or_in_douyin(&ua("/login?return_to=/x", android)));
        assert!(is_login_or_in_douyin(&ua("/login", ios)));
        // A channel named is that channel, in Douyin too.
        assert!(!is_login_or_in_douyin(&ua(
            "/login?channel=website",
            android
        )));
        assert!(is_login_or_in_douyin(&ua("/login?channel=douyin", android)));
        // Other browsers: only channel=douyin.
        assert!(!is_login_or_in_douyin(&ua(
            "/login",
            "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0"
        )));
        assert!(
            !is_login(&ua("/login", android)),
            "without a Douyin app, WeChat's"
        );
    }

    #[test]
    fn channel_failures_are_described_and_rendered_by_the_core() {
        for (f, status, code) in [
            (DouyinLoginFailure::CodeUsed, 400, "login_again"),
            (DouyinLoginFailure::NotDouyin, 401, "unauthenticated"),
        ] {
            let failure = Failure::from(f);
            let d = failure.describe();
            assert_eq!((d.status.as_u16(), d.code), (status, code));
            assert_eq!(
                crate::core::render::json(&failure).status().as_u16(),
                status
            );
        }
    }
}
