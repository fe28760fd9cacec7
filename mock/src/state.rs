//! Everything the mock remembers: codes, user tokens, global tokens, QR tickets, follows,
//! session keys, rate windows, call counters and queued faults.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

use super::bounded::{Bounded, Expiring};
use super::clock::{Clock, after};
use super::config::{AppKind, MockApp, MockUser};
use super::errors::MockError;
use super::faults::FaultQueues;
use super::ids;

/// Caps that keep memory bounded however long the mock runs.
pub(crate) const MAX_CODES: usize = 20_000;
pub(crate) const MAX_USER_TOKENS: usize = 20_000;
pub(crate) const MAX_GLOBAL_TOKENS: usize = 4_096;
pub(crate) const MAX_TEMP_TICKETS: usize = 20_000;
/// WeChat's own limit on permanent QR codes per account.
pub(crate) const MAX_PERMANENT_TICKETS: usize = 100_000;
/// How many distinct appids the per-app call counters keep apart.
pub(crate) const MAX_COUNTED_APPIDS: usize = 1_024;
/// How many generated mini program codes the phone page remembers.
pub(crate) const MAX_WXA_CODES: usize = 50;
/// How many mini program links (URL Link and URL Scheme) the mock keeps.
pub(crate) const MAX_MINI_LINKS: usize = 20_000;

/// Lifetimes from the protocol (§3.5, §5).
pub(crate) const OA_CODE_TTL: Duration = Duration::from_secs(5 * 60);
pub(crate) const WEBSITE_CODE_TTL: Duration = Duration::from_secs(10 * 60);
pub(crate) const APP_CODE_TTL: Duration = Duration::from_secs(10 * 60);
pub(crate) const JS_CODE_TTL: Duration = Duration::from_secs(5 * 60);
/// A `getPhoneNumber` button code lives 5 minutes (protocol §17.1).
pub(crate) const PHONE_CODE_TTL: Duration = Duration::from_secs(5 * 60);
pub(crate) const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(7200);
pub(crate) const GLOBAL_OVERLAP: Duration = Duration::from_secs(5 * 60);

/// Whether a code came from an authorization page / the mobile SDK, or from `wx.login()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeKind {
    OAuth,
    JsCode,
}

/// Who a code or token stands for.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// The simulated user's name (for snapshot users too: the real person behind them).
    pub(crate) user: String,
    pub(crate) openid: String,
    /// The unionid when the app is bound (sent by `sns/userinfo`; by the code exchange only
    /// when the scope is not `snsapi_base`).
    pub(crate) unionid: Option<String>,
    pub(crate) snapshot: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct CodeRecord {
    pub(crate) appid: String,
    pub(crate) kind: CodeKind,
    pub(crate) scope: String,
    pub(crate) ident: Identity,
    pub(crate) expires_at: SystemTime,
    pub(crate) used: bool,
}

impl Expiring for CodeRecord {
    fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

#[derive(Debug, Clone)]
pub(crate) struct UserToken {
    pub(crate) scope: String,
    pub(crate) ident: Identity,
    pub(crate) expires_at: SystemTime,
}

impl Expiring for UserToken {
    fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshRecord {
    pub(crate) appid: String,
    pub(crate) scope: String,
    pub(crate) ident: Identity,
    /// The access token this refresh token currently renews.
    pub(crate) access_token: String,
    pub(crate) expires_at: SystemTime,
}

impl Expiring for RefreshRecord {
    fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

/// A code `<button open-type="getPhoneNumber">` handed the page: single use, 5 minutes.
#[derive(Debug, Clone)]
pub(crate) struct PhoneCode {
    pub(crate) appid: String,
    pub(crate) user: String,
    pub(crate) openid: String,
    pub(crate) expires_at: SystemTime,
    pub(crate) used: bool,
}

impl Expiring for PhoneCode {
    fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

/// Which API issued a global token; the two families are isolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Issuer {
    Basic,
    Stable,
}

#[derive(Debug, Clone)]
pub(crate) struct GlobalToken {
    pub(crate) appid: String,
    pub(crate) expires_at: SystemTime,
    /// A newer token exists; this one lives out its overlap and then answers 40001.
    pub(crate) superseded: bool,
}

impl Expiring for GlobalToken {
    fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

/// The scene of a parametric QR code.
///
/// ```
/// use wechat_auth_mock::QrScene;
///
/// assert_eq!(QrScene::Id(123).event_key(), "123");
/// assert_eq!(QrScene::Str("login_abc".into()).event_key(), "login_abc");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QrScene {
    /// `scene_id` (`QR_SCENE`, `QR_LIMIT_SCENE`).
    Id(u32),
    /// `scene_str` (`QR_STR_SCENE`, `QR_LIMIT_STR_SCENE`).
    Str(String),
}

impl QrScene {
    /// The scene as it appears in a `SCAN` event's `EventKey` (a `subscribe` event prefixes
    /// it with `qrscene_`).
    ///
    /// ```
    /// assert_eq!(wechat_auth_mock::QrScene::Id(0).event_key(), "0");
    /// ```
    pub fn event_key(&self) -> String {
        match self {
            QrScene::Id(id) => id.to_string(),
            QrScene::Str(s) => s.clone(),
        }
    }
}

/// A QR ticket the mock issued through `cgi-bin/qrcode/create`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use wechat_auth_mock::{MockWechat, QrScene};
///
/// let mock = MockWechat::start().await?;
/// let http = reqwest::Client::new();
/// let oa = mock.official_account();
/// let token: serde_json::Value = http
///     .get(format!("{}/cgi-bin/token", mock.api_base()))
///     .query(&[("grant_type", "client_credential"), ("appid", &oa.appid), ("secret", &oa.secret)])
///     .send().await?.json().await?;
/// let qr: serde_json::Value = http
///     .post(format!("{}/cgi-bin/qrcode/create", mock.api_base()))
///     .query(&[("access_token", token["access_token"].as_str().unwrap())])
///     .json(&serde_json::json!({"expire_seconds": 300, "action_name": "QR_STR_SCENE",
///                               "action_info": {"scene": {"scene_str": "login_1"}}}))
///     .send().await?.json().await?;
/// let ticket = mock.ticket_for_url(qr["url"].as_str().unwrap()).unwrap();
/// let info = mock.qr_ticket(&ticket).unwrap();
/// assert_eq!(info.scene, QrScene::Str("login_1".into()));
/// assert_eq!(info.appid, oa.appid);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QrTicket {
    /// The ticket (standard base64, contains `+`, `/` and `=`).
    pub ticket: String,
    /// The Official Account that created it.
    pub appid: String,
    /// What the QR image encodes: `http://weixin.qq.com/q/…`.
    pub url: String,
    /// The scene value events will carry.
    pub scene: QrScene,
    /// `QR_SCENE`, `QR_STR_SCENE`, `QR_LIMIT_SCENE` or `QR_LIMIT_STR_SCENE`.
    pub action_name: String,
    /// When a temporary code dies (mock clock); `None` for permanent codes.
    pub expires_at: Option<SystemTime>,
}

impl Inner {
    /// Counts one call of `endpoint` made for `appid` (named by the request's `appid`, or the
    /// app of its global `access_token`). Bounded: at most [`MAX_COUNTED_APPIDS`] appids are
    /// kept apart; calls naming further unknown appids are not counted per app.
    pub(crate) fn count_for_app(&mut self, endpoint: &str, appid: &str) {
        if !self.app_calls.contains_key(appid) && self.app_calls.len() >= MAX_COUNTED_APPIDS {
            return;
        }
        *self
            .app_calls
            .entry(appid.to_owned())
            .or_default()
            .entry(endpoint.to_owned())
            .or_default() += 1;
    }

    /// Records that `url` is `ticket`'s. Every time the index has grown to twice the tickets
    /// kept (plus some), the entries of tickets evicted since go: amortised O(1) per code.
    pub(crate) fn index_qr_url(&mut self, url: String, ticket: String) {
        let kept = self.temp_tickets.len() + self.permanent_tickets.len();
        if self.ticket_by_url.len() >= 2 * kept + 64 {
            let (temp, permanent) = (&self.temp_tickets, &self.permanent_tickets);
            self.ticket_by_url
                .retain(|_, t| temp.get(t).is_some() || permanent.contains_key(t));
        }
        self.ticket_by_url.insert(url, ticket);
    }

    /// The ticket whose QR code encodes `url`, expired or not, if it is still kept.
    pub(crate) fn ticket_by_url(&self, url: &str) -> Option<&QrTicket> {
        let ticket = self.ticket_by_url.get(url)?;
        self.temp_tickets
            .get(ticket)
            .or_else(|| self.permanent_tickets.get(ticket))
            .filter(|t| t.url == url)
    }
}

impl QrTicket {
    pub(crate) fn alive(&self, now: SystemTime) -> bool {
        self.expires_at.is_none_or(|t| t > now)
    }
}

impl Expiring for QrTicket {
    fn expires_at(&self) -> SystemTime {
        self.expires_at.unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// A mini program code drawn by `wxa/getwxacodeunlimit`, remembered for the phone page.
#[derive(Debug, Clone)]
pub(crate) struct WxaCode {
    pub(crate) appid: String,
    pub(crate) scene: String,
    /// When it was drawn (mock clock).
    pub(crate) at: SystemTime,
}

/// Which call made a mini program link, and so how it opens (protocol §26).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkKind {
    /// `wxa/generate_urllink`: an https link (here on the mock's host); scene 1194.
    UrlLink,
    /// `wxa/generatescheme`: a `weixin://dl/business/?t=…` openlink; scene 1065.
    Scheme,
}

/// A mini program link the mock made: what it opens and until when.
#[derive(Debug, Clone)]
pub(crate) struct MiniLink {
    pub(crate) kind: LinkKind,
    /// The mini program it opens.
    pub(crate) appid: String,
    /// The link as handed out (`http://…/mock/urllink/T` or `weixin://dl/business/?t=T`).
    pub(crate) link: String,
    /// The page (`""`: the home page).
    pub(crate) path: String,
    /// The page's query string, as given.
    pub(crate) query: String,
    /// `release`, `trial` or `develop`.
    pub(crate) env_version: String,
    pub(crate) created_at: SystemTime,
    pub(crate) expires_at: SystemTime,
}

impl Expiring for MiniLink {
    fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

/// A user following an Official Account.
#[derive(Debug, Clone)]
pub(crate) struct Follow {
    pub(crate) since: SystemTime,
    pub(crate) scene: &'static str,
    pub(crate) qr_scene: u32,
    pub(crate) qr_scene_str: String,
}

/// The mutable part of the mock, behind one mutex (no lock is held across an await).
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) codes: Bounded<CodeRecord>,
    /// `getPhoneNumber` codes.
    pub(crate) phone_codes: Bounded<PhoneCode>,
    pub(crate) user_tokens: Bounded<UserToken>,
    pub(crate) refresh_tokens: Bounded<RefreshRecord>,
    pub(crate) global_tokens: Bounded<GlobalToken>,
    /// (issuer, appid) → the latest and the one before it.
    pub(crate) global_latest: HashMap<(Issuer, String), String>,
    pub(crate) global_previous: HashMap<(Issuer, String), String>,
    /// appid → times of forced stable_token refreshes in the last day.
    pub(crate) stable_forces: HashMap<String, VecDeque<SystemTime>>,
    pub(crate) temp_tickets: Bounded<QrTicket>,
    pub(crate) permanent_tickets: HashMap<String, QrTicket>,
    /// (appid, scene) → permanent ticket, so the same permanent scene gets the same ticket.
    pub(crate) permanent_by_scene: HashMap<(String, QrScene), String>,
    /// QR URL → its ticket (each code gets its own URL), so a scan by URL is one lookup, not
    /// a search of every ticket. Entries of evicted tickets go in [`Inner::index_qr_url`]'s
    /// occasional sweep.
    pub(crate) ticket_by_url: HashMap<String, String>,
    /// (appid, openid) → the current session_key (each jscode2session replaces it).
    pub(crate) session_keys: HashMap<(String, String), String>,
    /// (appid, user) → times of accepted jscode2session calls in the last minute.
    pub(crate) js_rate: HashMap<(String, String), VecDeque<SystemTime>>,
    pub(crate) redirect_domains: HashMap<String, Vec<String>>,
    /// (appid, user) → follow.
    pub(crate) follows: HashMap<(String, String), Follow>,
    pub(crate) blocked: HashSet<String>,
    pub(crate) push_urls: HashMap<String, String>,
    /// appid → how its pushes go out (absent: XML, safe mode when it has a key).
    pub(crate) push_wires: HashMap<String, super::push_wire::PushWire>,
    /// user → their chat with the Official Accounts (what the phone page shows).
    pub(crate) chats: HashMap<String, VecDeque<super::push_wire::ChatLine>>,
    /// (user, origin) → the cookies that user's WeChat browser keeps there.
    pub(crate) phone_cookies: HashMap<(String, String), BTreeMap<String, String>>,
    /// The last [`MAX_WXA_CODES`] mini program codes drawn, oldest first; one per
    /// (appid, scene).
    pub(crate) wxa_codes: VecDeque<WxaCode>,
    /// Mini program links by ticket (the `TICKET` of either link form).
    pub(crate) mini_links: Bounded<MiniLink>,
    /// Mini program appid → the origin of its server (where the phone page's mini program
    /// POSTs `/auth/wechat/miniprogram/scan/open` and `/auth/wechat/miniprogram/scan`).
    pub(crate) mini_servers: HashMap<String, String>,
    pub(crate) calls: BTreeMap<String, u64>,
    /// appid → endpoint → calls made for that app (see [`Inner::count_for_app`]).
    pub(crate) app_calls: BTreeMap<String, BTreeMap<String, u64>>,
    pub(crate) faults: FaultQueues,
    pub(crate) text_plain: bool,
    /// WeCom codes, tokens, user tickets and trusted domains.
    pub(crate) wecom: super::wecom_state::WecomState,
    /// Douyin codes, tokens and callback domains.
    pub(crate) douyin: super::douyin_state::DouyinState,
}

/// State shared by the handle and every handler.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) apps: Vec<MockApp>,
    pub(crate) users: Vec<MockUser>,
    /// Where each user is in `users`, by name.
    by_name: HashMap<String, usize>,
    /// Per appid, where each user is in `users` by their openid in that app: built on the
    /// first lookup for that app (one SHA-1 pair per user, once), so a lookup costs the same
    /// at any number of users.
    by_openid: RwLock<HashMap<String, Arc<HashMap<String, usize>>>>,
    pub(crate) refresh_ttl: Duration,
    pub(crate) website_deny_redirects: bool,
    pub(crate) base_url: String,
    pub(crate) clock: Clock,
    /// How long a push delivery may wait for its answer (WeChat: 5 s).
    pub(crate) push_timeout: Duration,
    /// The client that delivers pushes: no proxy, no redirects, short connect timeout.
    pub(crate) push_http: reqwest::Client,
    /// The WeCom corp apps (self-built / agent-developed).
    pub(crate) wecom_corps: Vec<super::wecom_config::MockWecomCorp>,
    /// The WeCom third-party suites.
    pub(crate) wecom_suites: Vec<super::wecom_config::MockWecomSuite>,
    /// The Douyin Open Platform apps.
    pub(crate) douyin_apps: Vec<super::douyin_apps::MockDouyinApp>,
    /// The Douyin mini-apps.
    pub(crate) douyin_miniapps: Vec<super::douyin_apps::MockDouyinMiniApp>,
    inner: Mutex<Inner>,
}

/// What [`Shared::new`] needs besides the apps and users.
pub(crate) struct Settings {
    pub(crate) refresh_ttl: Duration,
    pub(crate) website_deny_redirects: bool,
    pub(crate) text_plain: bool,
    pub(crate) blocked: Vec<String>,
    pub(crate) subscribed: Vec<String>,
    pub(crate) push_timeout: Duration,
    pub(crate) push_http: reqwest::Client,
    pub(crate) wecom_corps: Vec<super::wecom_config::MockWecomCorp>,
    pub(crate) wecom_suites: Vec<super::wecom_config::MockWecomSuite>,
    pub(crate) douyin_apps: Vec<super::douyin_apps::MockDouyinApp>,
    pub(crate) douyin_miniapps: Vec<super::douyin_apps::MockDouyinMiniApp>,
}

impl Shared {
    pub(crate) fn new(
        apps: Vec<MockApp>,
        users: Vec<MockUser>,
        settings: Settings,
        base_url: String,
    ) -> Self {
        let clock = Clock::default();
        let now = clock.now();
        let redirect_domains = apps
            .iter()
            .map(|a| (a.appid.clone(), normalize_domains(&a.redirect_domains)))
            .collect();
        let mut follows = HashMap::new();
        if let Some(oa) = apps.iter().find(|a| a.kind == AppKind::OfficialAccount) {
            for name in &settings.subscribed {
                follows.insert((oa.appid.clone(), name.clone()), Follow::other(now));
            }
        }
        let inner = Inner {
            codes: Bounded::new(MAX_CODES),
            phone_codes: Bounded::new(MAX_CODES),
            user_tokens: Bounded::new(MAX_USER_TOKENS),
            refresh_tokens: Bounded::new(MAX_USER_TOKENS),
            global_tokens: Bounded::new(MAX_GLOBAL_TOKENS),
            global_latest: HashMap::new(),
            global_previous: HashMap::new(),
            stable_forces: HashMap::new(),
            temp_tickets: Bounded::new(MAX_TEMP_TICKETS),
            permanent_tickets: HashMap::new(),
            permanent_by_scene: HashMap::new(),
            ticket_by_url: HashMap::new(),
            session_keys: HashMap::new(),
            js_rate: HashMap::new(),
            redirect_domains,
            follows,
            blocked: settings.blocked.into_iter().collect(),
            push_urls: HashMap::new(),
            push_wires: HashMap::new(),
            chats: HashMap::new(),
            phone_cookies: HashMap::new(),
            wxa_codes: VecDeque::new(),
            mini_links: Bounded::new(MAX_MINI_LINKS),
            mini_servers: HashMap::new(),
            calls: BTreeMap::new(),
            app_calls: BTreeMap::new(),
            faults: FaultQueues::default(),
            text_plain: settings.text_plain,
            wecom: super::wecom_state::WecomState::new(
                &settings.wecom_corps,
                &settings.wecom_suites,
                now,
            ),
            douyin: super::douyin_state::DouyinState::new(&settings.douyin_apps, normalize_domains),
        };
        let by_name = users
            .iter()
            .enumerate()
            .map(|(at, u)| (u.name.clone(), at))
            .collect();
        Shared {
            apps,
            users,
            by_name,
            by_openid: RwLock::default(),
            refresh_ttl: settings.refresh_ttl,
            website_deny_redirects: settings.website_deny_redirects,
            base_url,
            clock,
            push_timeout: settings.push_timeout,
            push_http: settings.push_http,
            wecom_corps: settings.wecom_corps,
            wecom_suites: settings.wecom_suites,
            douyin_apps: settings.douyin_apps,
            douyin_miniapps: settings.douyin_miniapps,
            inner: Mutex::new(inner),
        }
    }

    /// The mutable state. A poisoned lock is taken over: handlers never panic while holding
    /// it, and a test that panicked elsewhere must not take the server down.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.clock.now()
    }

    pub(crate) fn app(&self, appid: &str) -> Option<&MockApp> {
        self.apps.iter().find(|a| a.appid == appid)
    }

    /// The unverified subscription account: the first Official Account that is not verified
    /// (the default config always has one), else the primary Official Account.
    pub(crate) fn unverified(&self) -> &MockApp {
        self.apps
            .iter()
            .find(|a| a.kind == AppKind::OfficialAccount && !a.verified)
            .unwrap_or_else(|| self.primary(AppKind::OfficialAccount))
    }

    /// The first (primary) app of `kind`. Every config has one of each kind: `MockConfig`
    /// can only replace the defaults, never remove them.
    pub(crate) fn primary(&self, kind: AppKind) -> &MockApp {
        self.apps
            .iter()
            .find(|a| a.kind == kind)
            .unwrap_or(&self.apps[0])
    }

    pub(crate) fn user(&self, name: &str) -> Option<&MockUser> {
        self.users.get(*self.by_name.get(name)?)
    }

    /// The real (non-snapshot) user whose openid in `appid` is `openid`.
    pub(crate) fn user_by_openid(&self, appid: &str, openid: &str) -> Option<&MockUser> {
        let known = self
            .by_openid
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(appid)
            .cloned();
        let index = match known {
            Some(index) => index,
            None => {
                let index: Arc<HashMap<String, usize>> = Arc::new(
                    (self.users.iter().enumerate())
                        .map(|(at, u)| (u.openid_for(appid), at))
                        .collect(),
                );
                let mut all = self.by_openid.write().unwrap_or_else(|e| e.into_inner());
                all.entry(appid.to_owned()).or_insert(index).clone()
            }
        };
        self.users.get(*index.get(openid)?)
    }

    /// The identity `user` has in `app` (real ids; unionid when the app is bound).
    pub(crate) fn identity(&self, app: &MockApp, user: &MockUser) -> Identity {
        Identity {
            user: user.name.clone(),
            openid: user.openid_for(&app.appid),
            unionid: app.bound.then(|| user.unionid.clone()),
            snapshot: false,
        }
    }

    /// Mints a single-use code for `user` in `app` with the lifetime WeChat gives that kind
    /// of code.
    pub(crate) fn issue_code(
        &self,
        app: &MockApp,
        user: &MockUser,
        scope: &str,
        snapshot: bool,
    ) -> String {
        let (kind, ttl) = match app.kind {
            AppKind::Website => (CodeKind::OAuth, WEBSITE_CODE_TTL),
            AppKind::OfficialAccount => (CodeKind::OAuth, OA_CODE_TTL),
            AppKind::Mobile => (CodeKind::OAuth, APP_CODE_TTL),
            AppKind::MiniProgram => (CodeKind::JsCode, JS_CODE_TTL),
        };
        let mut ident = self.identity(app, user);
        if snapshot {
            ident.openid = ids::virtual_id();
            ident.unionid = app.bound.then(ids::virtual_id);
            ident.snapshot = true;
        }
        let now = self.now();
        let code = ids::code();
        let record = CodeRecord {
            appid: app.appid.clone(),
            kind,
            scope: scope.to_owned(),
            ident,
            expires_at: after(now, ttl),
            used: false,
        };
        self.lock().codes.insert(code.clone(), record, now);
        code
    }
}

impl Shared {
    /// Remembers a drawn mini program code (a scene drawn again moves to the front).
    pub(crate) fn remember_wxa_code(&self, appid: &str, scene: &str) {
        let at = self.now();
        let mut inner = self.lock();
        inner
            .wxa_codes
            .retain(|c| !(c.appid == appid && c.scene == scene));
        while inner.wxa_codes.len() >= MAX_WXA_CODES {
            inner.wxa_codes.pop_front();
        }
        inner.wxa_codes.push_back(WxaCode {
            appid: appid.to_owned(),
            scene: scene.to_owned(),
            at,
        });
    }

    /// Sets (or clears) where a mini program sends its requests: the site's origin.
    pub(crate) fn set_mini_program_server(
        &self,
        appid: &str,
        url: Option<&str>,
    ) -> Result<(), MockError> {
        let app = self
            .app(appid)
            .ok_or_else(|| MockError::UnknownApp(appid.to_owned()))?;
        if app.kind != AppKind::MiniProgram {
            return Err(MockError::WrongAppKind {
                appid: app.appid.clone(),
                kind: app.kind.as_str(),
                reason: "only mini programs have a server",
            });
        }
        let mut inner = self.lock();
        match url {
            Some(u) => {
                let ok = url::Url::parse(u)
                    .ok()
                    .is_some_and(|p| matches!(p.scheme(), "http" | "https"));
                if !ok {
                    return Err(MockError::Invalid(format!(
                        "mini program server must be an http(s) URL: {u:?}"
                    )));
                }
                inner
                    .mini_servers
                    .insert(appid.to_owned(), u.trim_end_matches('/').to_owned());
            }
            None => {
                inner.mini_servers.remove(appid);
            }
        }
        Ok(())
    }
}

impl Follow {
    /// A follow that did not come from a QR code.
    pub(crate) fn other(now: SystemTime) -> Self {
        Follow {
            since: now,
            scene: "ADD_SCENE_OTHERS",
            qr_scene: 0,
            qr_scene_str: String::new(),
        }
    }
}

/// Lower-cases domains and strips any `:port`, so `LOCALHOST:3000` allows `localhost`.
pub(crate) fn normalize_domains(domains: &[String]) -> Vec<String> {
    domains
        .iter()
        .map(|d| {
            let d = d.trim().to_ascii_lowercase();
            if let Some(rest) = d.strip_prefix('[') {
                // IPv6 literal: keep the brackets, as url::Url::host_str does.
                match rest.split_once(']') {
                    Some((ip, _)) => format!("[{ip}]"),
                    None => d,
                }
            } else {
                d.split(':').next().unwrap_or_default().to_owned()
            }
        })
        .filter(|d| !d.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_lose_port_and_case() {
        let d = normalize_domains(&[
            "LOCALHOST:3000".into(),
            "[::1]:8080".into(),
            "example.com".into(),
            " ".into(),
        ]);
        assert_eq!(d, ["localhost", "[::1]", "example.com"]);
    }

    /// The mock's settings as the tests here need them (nothing blocked, nobody following).
    fn settings() -> Settings {
        Settings {
            refresh_ttl: Duration::from_secs(60),
            website_deny_redirects: true,
            text_plain: false,
            blocked: Vec::new(),
            subscribed: Vec::new(),
            push_timeout: Duration::from_secs(5),
            push_http: reqwest::Client::new(),
            wecom_corps: Vec::new(),
            wecom_suites: Vec::new(),
            douyin_apps: Vec::new(),
            douyin_miniapps: Vec::new(),
        }
    }

    #[test]
    fn users_are_found_by_name_and_by_openid_in_each_app() {
        let apps = vec![
            MockApp::default_for(AppKind::Website),
            MockApp::default_for(AppKind::OfficialAccount),
        ];
        let users: Vec<MockUser> = (0..1000)
            .map(|i| MockUser::derive(format!("u{i}"), "n", ""))
            .collect();
        let settings = settings();
        let s = Shared::new(apps.clone(), users, settings, "http://127.0.0.1".into());
        assert_eq!(s.user("u999").map(|u| u.name.as_str()), Some("u999"));
        assert!(s.user("u1000").is_none());
        for app in &apps {
            for name in ["u0", "u500", "u999"] {
                let openid = s.user(name).unwrap().openid_for(&app.appid);
                let found = s.user_by_openid(&app.appid, &openid).unwrap();
                assert_eq!(found.name, name);
            }
            // An openid of the other app is nobody here.
            let other = apps.iter().find(|a| a.appid != app.appid).unwrap();
            let foreign = s.user("u1").unwrap().openid_for(&other.appid);
            assert!(s.user_by_openid(&app.appid, &foreign).is_none());
        }
        assert!(s.user_by_openid("wx-unknown", "o-nobody").is_none());
    }

    #[test]
    fn tickets_are_found_by_qr_url_and_the_index_forgets_evicted_ones() {
        let settings = settings();
        let apps = vec![MockApp::default_for(AppKind::OfficialAccount)];
        let s = Shared::new(apps, Vec::new(), settings, "http://127.0.0.1".into());
        let now = SystemTime::now();
        let url = |i: usize| format!("http://weixin.qq.com/q/{i}");
        let mut inner = s.lock();
        let issued = MAX_TEMP_TICKETS * 5 / 2;
        for i in 0..issued {
            let t = QrTicket {
                ticket: format!("t{i}"),
                appid: "wx".into(),
                url: url(i),
                scene: QrScene::Str(format!("s{i}")),
                action_name: "QR_STR_SCENE".into(),
                expires_at: Some(now + Duration::from_secs(60)),
            };
            inner.temp_tickets.insert(t.ticket.clone(), t, now);
            inner.index_qr_url(url(i), format!("t{i}"));
        }
        let last = inner.ticket_by_url(&url(issued - 1)).unwrap();
        assert_eq!(last.ticket, format!("t{}", issued - 1));
        // The oldest codes were evicted: unknown by URL too, and the index does not keep them
        // for ever.
        assert!(inner.ticket_by_url(&url(0)).is_none());
        assert!(
            inner
                .ticket_by_url("http://weixin.qq.com/q/never")
                .is_none()
        );
        let kept = inner.temp_tickets.len();
        assert!(
            inner.ticket_by_url.len() <= 2 * kept + 64,
            "{} entries for {kept} tickets",
            inner.ticket_by_url.len()
        );
    }
}
