//! Follow-the-Official-Account scan login: a desktop page shows a temporary parametric QR
//! code of the Official Account; the person scans it in WeChat (following the account if
//! needed); WeChat pushes a `subscribe`/`SCAN` event to our push URL; the waiting browser
//! learns of it and gets its session.
//!
//! - `POST scan` makes a random scene (`QR_STR_SCENE`), asks WeChat for its ticket with the
//!   shared global token, stores the scene as pending, and binds it to this browser with a
//!   cookie named after it, whose value is signed for that id.
//! - `GET scan/{id}/qr.svg` draws the ticket's URL as a QR code here, so the page needs no
//!   third-party host; only for the browser that started the scan.
//! - `GET scan/{id}?wait=S` long-polls through the store's notifications (no sleep loop);
//!   on `confirmed` it sets the session cookie, on this browser only, and consumes the scene.
//!
//! Both look at the browser's cookie *before* the store: a request without a valid cookie
//! for the id gets one answer whether or not the scan exists (`403 not_your_scan` for the
//! status, `404 not_found` for the image), so ids cannot be probed. The cookie outlives
//! its scene a little, so the page that started a scan can still learn it `expired`.
//! - `GET scan` is the self-contained page that does all of this.
//! - [`ScanRecords::scanned`] turns the scan event the push endpoint ([`super::push`]) received into a
//!   scanned scene: once, whatever WeChat delivers again. With confirmation on (the default)
//!   the scene then waits for the scanning user's answer on the phone page
//!   (`scan/{id}/confirm`, [`confirm_page`] / [`confirm_answer`]): `确认登录` confirms it,
//!   `取消` refuses it. This is what stops QRLjacking: a code shown in someone else's browser
//!   logs nobody in by being scanned.
//! - Starting costs WeChat quota (`qrcode/create`): a browser that starts again while its
//!   scan is pending gets the same scan back, and starts are rate-limited per IP, per
//!   browser and in total (`429` with `Retry-After`).

use std::{sync::Arc, time::Duration};

use axum_core::body::Body;
use http::{HeaderValue, Response, StatusCode, header, request::Parts};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use crate::core::failure::Failure;
use crate::core::request::Query;
use wechat_auth_client::{QrCodeRequest, WechatClient, WxaCodeRequest};

use crate::{
    channels::Mount,
    config::AppCredentials,
    core::clock::{now_unix, random_token},
    core::exchange::{Exchanges, LoginOutcome},
    core::limit::{ClientIpHeader, StartLimits},
    core::login::Logins,
    core::pages::{Language, Pages},
    core::redirect::safe_return_to,
    core::request::Origins,
    core::respond,
    core::respond::QUERY_VALUE,
    core::sessions::{
        Sessions,
        tokens::{StateTicket, TicketPurpose},
    },
    core::store::{
        Store,
        flight::{self, Turn},
        keys::Key,
    },
    providers::wechat::tokens::GlobalTokens,
    user::Channel,
    user::WechatUser,
};

mod confirm;
mod failure;
mod follow_oa;
mod link;
mod message;
mod mini_code;
mod page;
mod records;

pub(crate) use confirm::{MAX_FORM as MAX_CONFIRM_FORM, confirm_answer, confirm_page};
pub(crate) use failure::ScanFailure;
pub(crate) use follow_oa::image;
pub(crate) use message::MessageOutcome;
pub(crate) use mini_code::{mini_program_answer, mini_program_code, mini_program_open};
pub(crate) use page::page;
pub(crate) use records::ScanRecords;

/// Longest long-poll, seconds.
const MAX_WAIT: u64 = 30;
/// A scene id: `[A-Za-z0-9]`, 32 characters (WeChat allows up to 64 for `scene_str`).
const ID_LEN: usize = 32;
/// How long the browser's scan cookie outlives its scene, seconds: long enough for the page
/// to be told `expired` (rather than "not yours") after the scene is gone or consumed.
const COOKIE_GRACE: u64 = 10 * 60;
/// A pending scan is handed back to its browser on a new start only with this many seconds
/// left; closer to its end, a new code is made.
const REUSE_MIN_LEFT: u64 = 30;
/// Longest User-Agent kept for the requester's description.
const MAX_UA: usize = 512;

/// The scan channel's settings, as `build()` accepted them (copied once, at mount).
pub(crate) struct Settings {
    /// The layer's endpoint prefix (`/auth/wechat`).
    pub(crate) prefix: String,
    /// The site's origin (`https://example.com`), and its host.
    pub(crate) origin: String,
    pub(crate) public_host: String,
    /// Other origins `return_to` may point to.
    pub(crate) allowed_origins: Vec<String>,
    /// The Official Account (follow-the-account scans, the phone's confirm page).
    pub(crate) official_account: Option<AppCredentials>,
    /// Whether the Official Account has a push token: without one, no scan is ever reported.
    pub(crate) oa_push: bool,
    /// Whether the Official Account is verified: when not, it has no parametric QR codes
    /// and scan login is message-code login.
    pub(crate) oa_verified: bool,
    /// The account's name and QR image, for the message-code page.
    pub(crate) oa_name: Option<String>,
    pub(crate) oa_qr_image_url: Option<String>,
    /// The mini program (mini program code scans).
    pub(crate) mini_program: Option<AppCredentials>,
    /// The page and version a mini program code (and a mini program link) opens.
    pub(crate) mini_code_page: Option<String>,
    pub(crate) mini_code_env: Option<String>,
    /// The kind of mini program link a phone browser outside WeChat opens.
    pub(crate) mini_link: crate::config::mini_link_settings::MiniLink,
    /// How long a scan lives.
    pub(crate) scan_ttl: Duration,
    /// Whether a follow-the-account scan waits for the user to confirm on the phone.
    pub(crate) scan_confirm: bool,
    /// QR codes a day across instances.
    pub(crate) daily_budget: u32,
    /// The site's pages, and the language they are shown in when fixed.
    pub(crate) pages: Arc<dyn Pages>,
    pub(crate) language: Option<Language>,
    /// Where the client's address is read from, behind proxies.
    pub(crate) client_ip: Option<ClientIpHeader>,
}

impl Settings {
    /// The scan section of `cfg`.
    fn of(cfg: &crate::config::WechatConfig) -> Self {
        Self {
            prefix: cfg.prefix.clone(),
            origin: cfg.origin().to_owned(),
            public_host: cfg.public_host.clone(),
            allowed_origins: cfg.allowed_origins.clone(),
            official_account: cfg.official_account.as_ref().map(|oa| oa.app().clone()),
            oa_push: cfg
                .official_account
                .as_ref()
                .is_some_and(|oa| oa.push_token().is_some()),
            oa_verified: cfg.message.verified,
            oa_name: cfg.message.name.clone(),
            oa_qr_image_url: cfg.message.qr_image_url.as_ref().map(|u| u.to_string()),
            mini_program: cfg.mini_program.clone(),
            mini_code_page: cfg.mini_code_page.clone(),
            mini_code_env: cfg.mini_code_env.clone(),
            mini_link: cfg.mini_link,
            scan_ttl: cfg.scan_ttl,
            scan_confirm: cfg.push_settings.scan_confirm,
            daily_budget: cfg.push_settings.daily_budget(),
            pages: cfg.pages.clone(),
            language: cfg.language,
            client_ip: cfg.client_ip_header.clone(),
        }
    }
}

/// The scan channel: its settings and what it uses.
pub(crate) struct Scan {
    settings: Settings,
    /// The scenes, shared with the push channel.
    records: Arc<ScanRecords>,
    /// WeChat: QR tickets, mini program codes, the phone's web authorization.
    client: WechatClient,
    /// Where the channel keeps its records (codes drawn, budgets, claims), under its keys.
    store: Arc<dyn Store>,
    /// The global access tokens (the Official Account's, the mini program's).
    tokens: Arc<GlobalTokens>,
    sessions: Arc<Sessions>,
    exchanges: Arc<Exchanges>,
    logins: Arc<Logins>,
    origins: Origins,
    start_limits: Arc<StartLimits>,
}

impl Scan {
    /// The channel's state, with `records` (shared with the push channel); mount time only.
    pub(crate) fn new(e: &Arc<Mount>, records: Arc<ScanRecords>) -> Self {
        Self {
            settings: Settings::of(&e.cfg),
            records,
            client: e.client.clone(),
            store: e.store.clone(),
            tokens: e.tokens.clone(),
            sessions: e.sessions.clone(),
            exchanges: e.exchanges.clone(),
            logins: e.logins.clone(),
            origins: e.origins.clone(),
            start_limits: e.start_limits.clone(),
        }
    }

    /// The client that sent `req`, as the per-client limits know it.
    fn client_ip(&self, req: &Parts) -> Option<std::net::IpAddr> {
        crate::core::limit::client_ip(req, self.settings.client_ip.as_ref())
    }

    /// The name of one of this channel's cookies (`kind` and `id`, the site's prefix applied).
    fn cookie_name(&self, kind: &str, id: &str) -> String {
        self.sessions.flow_cookie_name(kind, id)
    }

    /// The language a page is shown in to `req`.
    fn language(&self, req: &Parts) -> Language {
        Language::of(self.settings.language, &req.headers)
    }
}

/// Who asked for a scan login: what the user is told before they confirm it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Requester {
    /// The browser's User-Agent (at most [`MAX_UA`] bytes); read only when the user is told.
    pub(crate) ua: String,
    /// The address the start came from, when known.
    pub(crate) ip: Option<String>,
    /// When the scan was started, Unix seconds.
    pub(crate) at: u64,
}

impl Requester {
    fn of(auth: &Scan, req: &Parts) -> Self {
        let ua = req
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mut end = ua.len().min(MAX_UA);
        while !ua.is_char_boundary(end) {
            end -= 1;
        }
        Self {
            ua: ua[..end].to_owned(),
            ip: auth.client_ip(req).map(|ip| ip.to_string()),
            at: now_unix(),
        }
    }

    /// Browser and system from the User-Agent, e.g. `Chrome 130.0 · Linux`.
    ///
    /// Only names from [`BROWSERS`] and [`SYSTEMS`] and a version of digits and dots are
    /// kept: woothee copies free text from some legacy formats (FOMA, jig, KDDI…) into the
    /// version, and what is shown here must never be the requester's own words.
    pub(crate) fn browser(&self) -> String {
        let parsed = woothee::parser::Parser::new().parse(&self.ua);
        let os = parsed
            .as_ref()
            .and_then(|r| SYSTEMS.iter().find(|s| **s == r.os))
            .copied()
            .unwrap_or("未知系统");
        let (name, version) = match wechat_version(&self.ua) {
            Some(v) => ("WeChat", v),
            None => match parsed
                .as_ref()
                .and_then(|r| BROWSERS.iter().find(|b| **b == r.name).map(|b| (*b, r)))
            {
                Some((name, r)) => (name, safe_version(r.version)),
                None => return "未知浏览器".to_owned(),
            },
        };
        match version {
            Some(v) => format!("{name} {v} · {os}"),
            None => format!("{name} · {os}"),
        }
    }
}

/// The browser names (as woothee spells them) a requester may be described with.
const BROWSERS: &[&str] = &[
    "Chrome",
    "Firefox",
    "Safari",
    "Edge",
    "Internet Explorer",
    "Opera",
    "Vivaldi",
    "SamsungBrowser",
    "Yandex Browser",
    "Sleipnir",
    "Webview",
    "HTTP Library",
];

/// The system names (as woothee spells them) a requester may be described with.
const SYSTEMS: &[&str] = &[
    "Windows 10",
    "Windows 8.1",
    "Windows 8",
    "Windows 7",
    "Windows Vista",
    "Windows XP",
    "Windows 2000",
    "Windows NT 4.0",
    "Windows Me",
    "Windows 98",
    "Windows 95",
    "Windows CE",
    "Windows UNKNOWN Ver",
    "Windows Phone OS",
    "Mac OSX",
    "Mac OS Classic",
    "Linux",
    "ChromeOS",
    "BSD",
    "Android",
    "iPhone",
    "iPad",
    "iPod",
    "iOS",
    "BlackBerry",
    "BlackBerry 10",
    "Firefox OS",
];

/// `major.minor` of a version of 1 to 16 digits and dots that starts with a digit; `None`
/// for anything else (free text copied from the User-Agent, `UNKNOWN`).
fn safe_version(version: &str) -> Option<String> {
    let ok = (1..=16).contains(&version.len())
        && version.starts_with(|c: char| c.is_ascii_digit())
        && version.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    ok.then(|| {
        version
            .split('.')
            .filter(|p| !p.is_empty())
            .take(2)
            .collect::<Vec<_>>()
            .join(".")
    })
}

/// WeChat's in-app browser (`MicroMessenger/8.0.49(…)`, which woothee does not know): its
/// version, when the User-Agent has one.
fn wechat_version(ua: &str) -> Option<Option<String>> {
    let at = ua.find("MicroMessenger/")? + "MicroMessenger/".len();
    let digits: String = ua[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .take(17)
        .collect();
    Some(safe_version(&digits))
}

impl Requester {
    /// `浏览器：…\nIP：…\n时间：…`: who asked, in the words of the reply and the page.
    pub(crate) fn describe(&self) -> String {
        format!(
            "浏览器：{}\nIP：{}\n时间：{}",
            self.browser(),
            self.ip.as_deref().unwrap_or("未知"),
            beijing_time(self.at)
        )
    }
}

/// `YYYY-MM-DD HH:MM:SS (北京时间)` for Unix seconds (UTC+8, no daylight saving).
pub(crate) fn beijing_time(unix: u64) -> String {
    let t = unix + 8 * 3600;
    let (days, secs) = (t / 86_400, t % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}（北京时间）",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// What the push endpoint tells the user who scanned.
#[derive(Clone, Debug)]
pub(crate) struct ScanNotice {
    pub(crate) id: String,
    /// Who asked; `None` when the scan is unknown or over.
    pub(crate) requester: Option<Requester>,
    /// Whether the user must confirm on the phone.
    pub(crate) confirm: bool,
    /// Another WeChat user scanned this code first: this one is told only that (never who
    /// asked), and the requesting browser is told that a second WeChat scanned.
    pub(crate) taken: bool,
}

/// The prefix of every QR scene this layer issues: the Official Account's code for scan `id`
/// has the scene `wxauth_{id}`. Only such scenes are logins; every other scene is the
/// account's own (a campaign code, often `uuid4().hex`) and goes on to the app.
pub(crate) const SCENE_PREFIX: &str = "wxauth_";

/// Where a scan stands.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub(crate) enum SceneStatus {
    /// Shown, not scanned yet.
    Pending,
    /// WeChat reported the scan by `openid`: with confirmation on, waiting for that user's
    /// answer on the phone; else the user is being looked up.
    Scanned {
        #[serde(default)]
        openid: String,
    },
    /// The user is known; the browser may take its session.
    Confirmed { user: WechatUser },
    /// The `on_login` hook refused.
    Refused { message: String },
}

/// What the phone scans.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Via {
    /// The Official Account's parametric QR code: WeChat pushes the scan to the push URL.
    #[default]
    FollowOa,
    /// A mini program code (`wxa/getwxacodeunlimit`): the opened mini program says who
    /// opened it (`POST PREFIX/miniprogram/scan/open`), then posts that user's answer to
    /// `POST PREFIX/miniprogram/scan`.
    MiniProgram,
    /// A 6-digit code the user sends to the Official Account in a text message, then
    /// confirms with `1` ([`message`]): any account with a push URL, verified or not.
    Message,
    /// A mini program link (URL Link or URL Scheme, [`link`]) for a phone browser outside
    /// WeChat: the link opens the mini program with `scene=ID`, which answers in the two
    /// steps of a mini program code.
    Link,
}

impl Via {
    /// The `via` label of the scan metrics.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::FollowOa => "follow_oa",
            Self::MiniProgram => "mini_program",
            Self::Message => "message",
            Self::Link => "link",
        }
    }

    /// The `via` of a request (`?via=miniprogram`); default: the Official Account's QR when
    /// it is set up for scans, else the mini program code.
    fn of(auth: &Scan, q: &Query<'_>) -> Result<Self, Failure> {
        // An unverified account has no parametric QR codes: its scan login is message-code
        // login.
        let follow = if auth.settings.oa_verified {
            Self::FollowOa
        } else {
            Self::Message
        };
        match q.get("via") {
            Some("miniprogram") => Ok(Self::MiniProgram),
            Some("message") => Ok(Self::Message),
            Some("link") => Ok(Self::Link),
            Some("oa" | "follow_oa" | "follow") => Ok(follow),
            Some(other) => Err(Failure::BadRequest(format!(
                "via={other:?}: use via=miniprogram, via=message, via=link or via=oa"
            ))),
            None if scan_ready(auth, follow).is_err() && auth.settings.mini_program.is_some() => {
                Ok(Self::MiniProgram)
            }
            None => Ok(follow),
        }
    }
}

/// A scan as the store keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Scene {
    /// What the phone scans.
    #[serde(default)]
    pub(crate) via: Via,
    /// Digest of the browser-binding cookie's value.
    pub(crate) browser: String,
    pub(crate) return_to: String,
    pub(crate) url: String,
    pub(crate) expires_at: u64,
    /// Who asked (absent in scenes written before this was kept).
    #[serde(default)]
    pub(crate) requester: Option<Requester>,
    /// The code the user sends to the account (message-code login only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) code: Option<String>,
    #[serde(flatten)]
    pub(crate) status: SceneStatus,
}

/// The JSON answer of `POST scan`.
#[derive(Serialize)]
struct Started<'a> {
    id: &'a str,
    /// What the Official Account's QR encodes (absent for a mini program code).
    #[serde(skip_serializing_if = "str::is_empty")]
    qr_url: &'a str,
    image_url: String,
    expires_in: u64,
    via: Via,
}

/// Whether `id` has the shape we issue.
fn valid_id(id: &str) -> bool {
    id.len() == ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn cookie_name(auth: &Scan, id: &str) -> String {
    auth.cookie_name("wechat_scan_", id)
}

/// The digest of this browser's scan cookie for `id`, when it carries one that we signed
/// for that id. Needs no store, so it says nothing about whether the scan exists.
fn browser_of(auth: &Scan, req: &Parts, id: &str) -> Option<String> {
    crate::core::request::cookie_value(req, &cookie_name(auth, id))
        .filter(|v| {
            auth.sessions
                .verify_state(v, id, TicketPurpose::ScanBrowser)
                .is_some()
        })
        .map(digest)
}

fn digest(value: &str) -> String {
    hex::encode(Sha1::digest(value.as_bytes()))
}

/// The store key of a scene (see [`ScanRecords::key`]).
fn scene_key(auth: &Scan, id: &str) -> Option<Key> {
    auth.records.key(id)
}

/// Reads a scene.
async fn load_scene(auth: &Scan, key: &Key) -> Result<Option<Scene>, Failure> {
    auth.records.load(key).await
}

/// Writes a scene for the rest of its life, and wakes whoever waits on it.
async fn save_scene(auth: &Scan, key: &Key, scene: &Scene) -> Result<(), Failure> {
    auth.records.save(key, scene).await
}

/// Whether scan login via `via` is possible.
fn scan_ready(auth: &Scan, via: Via) -> Result<(), Failure> {
    match via {
        Via::FollowOa => oa_scan_ready(auth),
        Via::Message => message::ready(auth),
        Via::MiniProgram if auth.settings.mini_program.is_some() => Ok(()),
        Via::MiniProgram => Err(Failure::ChannelOff(
            "mini program code scan (it needs WECHAT_MINI_APP_ID and WECHAT_MINI_APP_SECRET)",
        )),
        Via::Link if auth.settings.mini_program.is_some() => Ok(()),
        Via::Link => Err(Failure::ChannelOff(
            "mini program link login (it needs WECHAT_MINI_APP_ID and WECHAT_MINI_APP_SECRET)",
        )),
    }
}

/// Whether follow-the-Official-Account scan login is possible: an OA with a push token.
fn oa_scan_ready(auth: &Scan) -> Result<(), Failure> {
    match &auth.settings.official_account {
        Some(_) if auth.settings.oa_push && auth.settings.oa_verified => Ok(()),
        _ => Err(Failure::ChannelOff(
            "scan (it needs WECHAT_OA_APP_ID, WECHAT_OA_APP_SECRET and WECHAT_OA_TOKEN)",
        )),
    }
}

/// The Official Account's appid, for its global token; or why it is not configured.
fn oa_appid(auth: &Scan) -> Result<&str, Failure> {
    auth.settings
        .official_account
        .as_ref()
        .map(AppCredentials::appid)
        .ok_or(Failure::ChannelOff("Official Account"))
}

/// The mini program's appid, for its global token; or why it is not configured.
fn mini_appid(auth: &Scan) -> Result<&str, Failure> {
    auth.settings
        .mini_program
        .as_ref()
        .map(AppCredentials::appid)
        .ok_or(Failure::ChannelOff("mini program"))
}

/// `GET PREFIX/scan`: the scan page; with `via=link`, the phone page of a mini program link
/// (or what to do without a mini program).
fn scan_page(auth: &Scan, req: &Parts) -> Response<Body> {
    if Query::parse(req.uri.query()).get("via") == Some("link") {
        return link::page(auth, req);
    }
    page(auth, req)
}

/// `POST PREFIX/scan?return_to=/path`: a new QR code for this browser.
pub(crate) async fn start(auth: &Scan, req: &Parts) -> Result<Response<Body>, Failure> {
    let q = Query::parse(req.uri.query());
    let via = Via::of(auth, &q)?;
    scan_ready(auth, via)?;
    if !auth.origins.same_origin(req) {
        return Err(Failure::CrossOrigin(
            "scan login must be started from this site",
        ));
    }
    let return_to = safe_return_to(q.get("return_to"), &auth.settings.allowed_origins);
    // A reload (or a second start) while this browser's scan is pending gets that scan.
    let last = last_scan(auth, req);
    if let Some((id, mine)) = &last
        && let Some(res) = reuse(auth, id, mine, via, &return_to).await?
    {
        return Ok(res);
    }
    let browser_key = last.as_ref().map(|(_, mine)| mine.as_str());
    if let Err(wait) = auth.start_limits.check(auth.client_ip(req), browser_key) {
        tracing::info!(
            retry_after_s = wait.as_secs(),
            "scan start refused: too many from this client"
        );
        return Err(ScanFailure::Limited(wait.as_secs().max(1)).into());
    }
    let id = random_token(ID_LEN);
    let ttl = auth.settings.scan_ttl.as_secs();
    let mut code = None;
    let (qr_url, expires_in) = match via {
        Via::FollowOa => {
            spend_budget(auth).await?;
            let request = QrCodeRequest::temporary_str(
                format!("{SCENE_PREFIX}{id}"),
                u32::try_from(ttl).unwrap_or(u32::MAX),
            );
            let ticket = auth
                .tokens
                .with_token(oa_appid(auth)?, |token| {
                    let request = request.clone();
                    async move { auth.client.qrcode_create(&token, &request).await }
                })
                .await
                .map_err(quota_reached)?;
            // WeChat may shorten the lifetime; never promise more than it granted.
            let expires_in = ticket
                .expire_seconds
                .filter(|s| *s > 0)
                .map_or(ttl, |s| s.min(ttl));
            (ticket.url, expires_in)
        }
        // The code itself is made when the browser asks for it (`code.png`).
        Via::MiniProgram => (String::new(), ttl),
        // A code of 6 digits no other pending login of the account holds.
        Via::Message => {
            code = Some(auth.records.draw_code(&id).await?);
            (String::new(), ttl)
        }
        // A link to the mini program with `scene=ID`, made once for this scan.
        Via::Link => link::make(auth, &id, ttl).await?,
    };
    // The browser's proof that it started this scan: a value signed for this id (checked
    // before the store is read), whose digest the scene keeps.
    let cookie_life = expires_in + COOKIE_GRACE;
    let proof = auth.sessions.sign_state(&StateTicket::new(
        TicketPurpose::ScanBrowser,
        id.clone(),
        String::new(),
        crate::user::Channel::ScanFollow,
        Duration::from_secs(cookie_life),
    ));
    let scene = Scene {
        via,
        browser: digest(&proof),
        return_to,
        url: qr_url.clone(),
        expires_at: now_unix() + expires_in,
        requester: Some(Requester::of(auth, req)),
        code,
        status: SceneStatus::Pending,
    };
    let key = scene_key(auth, &id).ok_or(Failure::ChannelOff("scan"))?;
    if let Err(e) = save_scene(auth, &key, &scene).await {
        // Nothing half-written: the code drawn for this scene is free again.
        if let Some(code) = &scene.code {
            auth.records.forget_code(code, &id).await;
        }
        return Err(e);
    }
    crate::metrics::scan("started", via.label());
    let mut res = started(auth, &id, &scene, expires_in);
    let cookie = auth.sessions.cookie_spec().build(
        cookie_name(auth, &id),
        proof,
        auth.sessions.flow_cookie_path(),
        cookie_life,
    );
    respond::set_cookie(&mut res, &cookie);
    let last = auth.sessions.cookie_spec().build(
        last_cookie_name(auth),
        id.clone(),
        auth.sessions.flow_cookie_path(),
        cookie_life,
    );
    respond::set_cookie(&mut res, &last);
    tracing::debug!("scan started");
    Ok(res)
}

/// Seconds in a day.
const DAY: u64 = 24 * 3600;
/// WeChat's day starts at midnight Beijing time (UTC+8).
const BEIJING: u64 = 8 * 3600;

/// Takes one QR code from the account's daily budget, shared by every instance through
/// the store (one counter per account and UTC day), or refuses when it is spent.
async fn spend_budget(auth: &Scan) -> Result<(), Failure> {
    let Some(oa) = &auth.settings.official_account else {
        return Ok(());
    };
    spend_budget_of(auth, oa.appid()).await
}

/// Takes one code (a QR code, a mini program link) from the daily budget of `appid`.
async fn spend_budget_of(auth: &Scan, appid: &str) -> Result<(), Failure> {
    let budget = u64::from(auth.settings.daily_budget);
    let now = now_unix();
    let (day, left) = (now / DAY, DAY - now % DAY);
    let key = Key::of(appid, "scan-budget", &day.to_string());
    // The counter outlives its day a little, so clocks a few seconds apart agree on it.
    let used = auth
        .store
        .increment(&key, Duration::from_secs(left + 3600))
        .await?;
    if used > budget {
        crate::metrics::scan_budget("spent");
        tracing::warn!(
            budget,
            "scan start refused: today's QR code budget is spent"
        );
        return Err(ScanFailure::BudgetSpent(left).into());
    }
    // From 80 % on: counted, and said once (exactly one start sees the threshold).
    let low = budget - budget / 5;
    if used >= low {
        crate::metrics::scan_budget("low");
        if used == low {
            tracing::warn!(
                used,
                budget,
                "80 % of today's scan-login QR code budget is used (WECHAT_SCAN_DAILY_BUDGET)"
            );
        }
    } else {
        crate::metrics::scan_budget("ok");
    }
    Ok(())
}

/// WeChat's 45009 on `qrcode/create` as what it means: no more QR codes until WeChat's
/// next day.
fn quota_reached(f: Failure) -> Failure {
    match crate::providers::wechat::failure::wechat_error(&f) {
        Some(e) if e.errcode() == Some(45009) => {
            tracing::error!(error = %e, "WeChat's daily qrcode/create quota is reached: scan login is off until tomorrow (Beijing time)");
            ScanFailure::QuotaReached(DAY - (now_unix() + BEIJING) % DAY).into()
        }
        _ => f,
    }
}

/// The JSON answer of a start.
fn started(auth: &Scan, id: &str, scene: &Scene, expires_in: u64) -> Response<Body> {
    let via = scene.via;
    let image_url = match via {
        Via::FollowOa => format!("{}/scan/{id}/qr.svg", auth.settings.prefix),
        Via::MiniProgram => format!("{}/scan/{id}/code.png", auth.settings.prefix),
        Via::Message => return message::started(auth, id, scene, expires_in),
        Via::Link => return link::started(id, scene, expires_in),
    };
    respond::json(
        StatusCode::OK,
        &Started {
            id,
            qr_url: &scene.url,
            image_url,
            expires_in,
            via,
        },
    )
}

/// The name of the cookie that names this browser's latest scan.
fn last_cookie_name(auth: &Scan) -> String {
    auth.cookie_name("wechat_scan_", "last")
}

/// This browser's latest scan: its id and the digest of its proof, when the browser still
/// holds a valid proof for it.
fn last_scan(auth: &Scan, req: &Parts) -> Option<(String, String)> {
    let id = crate::core::request::cookie_value(req, &last_cookie_name(auth))
        .filter(|id| valid_id(id))?;
    let mine = browser_of(auth, req, id)?;
    Some((id.to_owned(), mine))
}

/// The pending scan `id` again, when it is this browser's, still pending, of the same kind
/// and far enough from its end.
async fn reuse(
    auth: &Scan,
    id: &str,
    mine: &str,
    via: Via,
    return_to: &str,
) -> Result<Option<Response<Body>>, Failure> {
    let Some(key) = scene_key(auth, id) else {
        return Ok(None);
    };
    let Some(mut scene) = load_scene(auth, &key).await? else {
        return Ok(None);
    };
    let left = scene.expires_at.saturating_sub(now_unix());
    // A message code the user has sent already is still this browser's login in progress;
    // so is a link the user opened in WeChat (a phone browser often reloads the page when
    // the user comes back from WeChat, even after confirming there).
    let live = match scene.status {
        SceneStatus::Pending => true,
        SceneStatus::Scanned { .. } => matches!(via, Via::Message | Via::Link),
        SceneStatus::Confirmed { .. } => via == Via::Link,
        SceneStatus::Refused { .. } => false,
    };
    if scene.browser != mine || scene.via != via || !live || left < REUSE_MIN_LEFT {
        return Ok(None);
    }
    if scene.return_to != return_to {
        scene.return_to = return_to.to_owned();
        save_scene(auth, &key, &scene).await?;
    }
    tracing::debug!("scan start answered with this browser's pending scan");
    Ok(Some(started(auth, id, &scene, left)))
}

/// The answer for an unknown scan, and for the image of someone else's.
const NOT_FOUND: Failure = Failure::NotFound("no such scan");

/// The status JSON.
fn status_json(status: &str) -> Response<Body> {
    respond::json(StatusCode::OK, &serde_json::json!({ "status": status }))
}

/// The `scanned` answer; `another_scanner` when a second WeChat user scanned the code too.
fn scanned_json(another: bool) -> Response<Body> {
    if !another {
        return status_json("scanned");
    }
    respond::json(
        StatusCode::OK,
        &serde_json::json!({ "status": "scanned", "another_scanner": true }),
    )
}

/// `GET PREFIX/scan/{id}?wait=S[&seen=pending|scanned][&another_scanner=0|1]`: where the
/// scan stands; waits up to `S` seconds for news (a status other than `seen`, or a second
/// WeChat user scanning the code when the browser has not shown that yet).
pub(crate) async fn status(auth: &Scan, req: &Parts, id: &str) -> Result<Response<Body>, Failure> {
    let key = scene_key(auth, id)
        .filter(|_| valid_id(id))
        .ok_or(NOT_FOUND)?;
    let q = Query::parse(req.uri.query());
    let wait = q
        .get("wait")
        .and_then(|w| w.parse::<u64>().ok())
        .unwrap_or(0)
        .min(MAX_WAIT);
    // What the browser has already shown (`seen`): a status other than that is news, told at
    // once, even when it landed before this poll (between two polls, or while the network
    // was away). A browser that does not say is taken to have seen what the first read finds.
    let seen = match q.get("seen") {
        None => None,
        Some("pending") => Some("pending"),
        Some("scanned") => Some("scanned"),
        Some(_) => {
            return Err(Failure::BadRequest(
                "`seen` is `pending` or `scanned`: the status this browser last showed".into(),
            ));
        }
    };
    // Whether the browser has shown that another WeChat user scanned (`another_scanner`):
    // read like `seen`, from the first read when it does not say.
    let mut known_other = match q.get("another_scanner") {
        None => None,
        Some("0") => Some(false),
        Some("1") => Some(true),
        Some(_) => {
            return Err(Failure::BadRequest(
                "`another_scanner` is `0` or `1`: whether this browser showed a second scanner"
                    .into(),
            ));
        }
    };
    // The cookie first: without it, the answer must not depend on the store (the same
    // answer whether or not the scan exists).
    let mine = browser_of(auth, req, id).ok_or(ScanFailure::NotYourScan)?;
    let _poll = crate::metrics::LongPoll::start(wait);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    // Subscribe before reading, so a confirmation between the two is not missed.
    let mut news = auth.store.subscribe(&key).await?;
    // What the browser knows: a change from it (pending → scanned) is news to tell at once.
    let mut first: Option<&'static str> = seen;
    // The scene a wake-up brought (a saved scene is published with its value): no need to
    // read it again. Messages arrive in the order they were published, so the last one
    // is the scene as it stands; an empty one (a second scanner's mark) means "read".
    let mut brought: Option<Scene> = None;
    loop {
        let scene = match brought.take() {
            Some(scene) => scene,
            None => match load_scene(auth, &key).await? {
                Some(scene) => scene,
                None => return Ok(status_json("expired")),
            },
        };
        if mine != scene.browser {
            return Err(ScanFailure::NotYourScan.into());
        }
        match scene.status {
            SceneStatus::Confirmed { .. } => return hand_over(auth, &key, id).await,
            SceneStatus::Refused { message } => {
                crate::metrics::scan("refused", scene.via.label());
                return Ok(respond::json(
                    StatusCode::FORBIDDEN,
                    &serde_json::json!({ "status": "refused", "message": message }),
                ));
            }
            SceneStatus::Pending | SceneStatus::Scanned { .. } => {
                let name = if scene.status == SceneStatus::Pending {
                    "pending"
                } else {
                    "scanned"
                };
                // Someone else scanned after the first scanner (only then is it marked).
                let other = name == "scanned" && auth.store.get(&key.others()).await?.is_some();
                let answer = |name| {
                    if name == "scanned" {
                        scanned_json(other)
                    } else {
                        status_json(name)
                    }
                };
                // With phone confirmation, `scanned` is where the browser waits: say so at
                // once. Without it, `scanned` lasts only while the user is looked up.
                // So is it for a mini program code: the user answers in the mini program.
                if *first.get_or_insert(name) != name
                    && (auth.settings.scan_confirm || scene.via != Via::FollowOa)
                {
                    return Ok(answer(name));
                }
                if name == "scanned" && *known_other.get_or_insert(other) != other {
                    return Ok(answer(name));
                }
                let until = deadline.min(
                    tokio::time::Instant::now()
                        + Duration::from_secs(scene.expires_at.saturating_sub(now_unix())),
                );
                // Deadline, expiry, or a subscription that ended: answer what we know.
                let woke = if tokio::time::Instant::now() >= until {
                    None
                } else {
                    tokio::time::timeout_at(until, news.next())
                        .await
                        .ok()
                        .flatten()
                };
                if let Some(message) = &woke {
                    brought = serde_json::from_slice::<Scene>(message)
                        .ok()
                        .filter(|s| s.expires_at > now_unix());
                }
                if woke.is_none() {
                    if scene.expires_at <= now_unix() {
                        crate::metrics::scan("expired", scene.via.label());
                        return Ok(status_json("expired"));
                    }
                    return Ok(answer(name));
                }
            }
        }
    }
}

/// Takes a confirmed scene (exactly one poll gets it) and hands this browser its session.
///
/// The scan cookie stays until it lapses: with the scene gone, it is what lets this
/// browser (and only it) be told `expired` on a later poll.
async fn hand_over(auth: &Scan, key: &str, id: &str) -> Result<Response<Body>, Failure> {
    let taken = auth.store.take(key).await?;
    let Some(Ok(scene)) = taken.map(|b| serde_json::from_slice::<Scene>(&b)) else {
        return Ok(status_json("expired"));
    };
    if let Some(code) = &scene.code {
        // Single use: the code means nothing any more.
        auth.records.forget_code(code, id).await;
    }
    let SceneStatus::Confirmed { user } = scene.status else {
        return Ok(status_json("expired"));
    };
    let token = auth.sessions.issue(&user.clone().into());
    crate::metrics::scan("confirmed", scene.via.label());
    let mut res = respond::json(
        StatusCode::OK,
        &serde_json::json!({ "status": "confirmed", "return_to": scene.return_to }),
    );
    auth.sessions.set_session_cookie(&mut res, &token);
    tracing::info!(channel = %user.channel, "login");
    Ok(res)
}

/// Mounts this channel on a layer: its state and its routes.
pub(crate) fn mount(engine: &Arc<Mount>) -> Box<dyn crate::core::route::Endpoints> {
    let records = Arc::new(ScanRecords::new(engine));
    crate::core::route::Mounted::boxed(Scan::new(engine, records), routes())
}

/// This channel's endpoints in the layer's route table: the page and the start (`scan`),
/// the mini program's answers (`miniprogram/scan`, `miniprogram/scan/open`), and per scan
/// id the phone's confirmation, the QR image, the mini program code and the status. The
/// `{id}` paths with a suffix come before the bare `scan/{id}`, which matches them all.
pub(crate) fn routes() -> &'static [crate::core::route::Route<Scan>] {
    use super::app::MAX_BODY;
    use crate::core::route::{Path, boxed};
    type Route = crate::core::route::Route<Scan>;
    const fn id(after: &'static str) -> Path {
        Path::Id {
            before: "/scan/",
            after,
        }
    }
    // `scan/ID/confirm/confirm` has always confirmed `ID`: kept as it was.
    fn confirm_id(id: &str) -> &str {
        id.trim_end_matches("/confirm")
    }
    static ROUTES: [Route; 9] = [
        Route::read(Path::Exact("/scan"), |c| {
            boxed(async move { Ok(scan_page(c.auth, c.req)) })
        }),
        Route::post(Path::Exact("/scan"), |c| {
            boxed(async move { start(c.auth, c.req).await })
        }),
        Route::post_body(Path::Exact("/miniprogram/scan"), MAX_BODY, |c| {
            boxed(async move { mini_program_answer(c.auth, c.auth.client_ip(c.req), c.body).await })
        }),
        Route::post_body(Path::Exact("/miniprogram/scan/open"), MAX_BODY, |c| {
            boxed(async move { mini_program_open(c.auth, c.auth.client_ip(c.req), c.body).await })
        }),
        Route::read(id("/confirm"), |c| {
            boxed(async move { Ok(confirm_page(c.auth, c.req, confirm_id(c.id)).await) })
        }),
        Route::post_body(id("/confirm"), MAX_CONFIRM_FORM, |c| {
            boxed(async move { Ok(confirm_answer(c.auth, c.req, confirm_id(c.id), c.body).await) })
        }),
        Route::read(id("/qr.svg"), |c| {
            boxed(async move { image(c.auth, c.req, c.id).await })
        }),
        Route::read(id("/code.png"), |c| {
            boxed(async move { mini_program_code(c.auth, c.req, c.id).await })
        }),
        Route::read(id(""), |c| {
            boxed(async move { status(c.auth, c.req, c.id).await })
        }),
    ];
    &ROUTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_time_is_utc_plus_8() {
        assert_eq!(beijing_time(0), "1970-01-01 08:00:00（北京时间）");
        assert_eq!(
            beijing_time(1_700_000_000),
            "2023-11-15 06:13:20（北京时间）"
        );
        assert_eq!(
            beijing_time(951_782_400 - 8 * 3600),
            "2000-02-29 00:00:00（北京时间）"
        );
    }

    #[test]
    fn phone_confirmation_is_on_by_default_with_an_official_account() {
        let b = || {
            crate::config::WechatConfig::builder()
                .with_public_url("https://example.com")
                .with_session_secret("0123456789abcdef0123456789abcdef")
        };
        let confirm = |cfg| Settings::of(&cfg).scan_confirm;
        let oa = || b().with_official_account("wx2", "s");
        assert!(confirm(oa().build().unwrap()));
        assert!(!confirm(oa().with_scan_confirm(false).build().unwrap()));
        let mini = b().with_mini_program("wx4", "s").build().unwrap();
        assert!(!confirm(mini), "nothing to confirm with");
        let records = ScanRecords::new(&Mount::new(oa().build().unwrap()));
        assert!(records.confirm, "the push channel reads the same setting");
    }

    #[test]
    fn requesters_are_described_from_their_user_agent() {
        let r = |ua: &str| Requester {
            ua: ua.into(),
            ip: Some("203.0.113.7".into()),
            at: 0,
        };
        let chrome = r(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.58 Safari/537.36",
        );
        assert_eq!(chrome.browser(), "Chrome 130.0 · Linux");
        assert_eq!(
            chrome.describe(),
            "浏览器：Chrome 130.0 · Linux\nIP：203.0.113.7\n时间：1970-01-01 08:00:00（北京时间）"
        );
        assert_eq!(r("").browser(), "未知浏览器");
        // woothee's "version" of curl is its name: no version is shown.
        assert_eq!(r("curl/8.5.0").browser(), "HTTP Library · 未知系统");
        assert_eq!(
            r("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003129) NetType/WIFI Language/zh_CN").browser(),
            "WeChat 8.0 · iPhone"
        );
    }

    #[test]
    fn only_known_names_and_numeric_versions_describe_a_requester() {
        let browser = |ua: &str| {
            Requester {
                ua: ua.into(),
                ip: None,
                at: 0,
            }
            .browser()
        };
        // Legacy formats whose "version" woothee copies from free text.
        for ua in [
            r#"Mozilla/5.0 (<a href="https://evil.example/phish">CLICK TO CONFIRM</a>;FOMA;)"#,
            "DoCoMo/2.0 N2001(c10;ser0123456789abcde;icc01234567890123456789)",
            "Mozilla/5.0 ({{TOKEN}};FOMA;)",
            "KDDI-<b>x</b> UP.Browser/6.2.0.5 (GUI) MMP/2.0",
            "Mozilla/4.0 (jig browser web; 1.0.4; F03A) <script>",
            "MicroMessenger/<a>",
        ] {
            let b = browser(ua);
            assert!(
                !b.contains(['<', '>', '&', '{', '"']) && !b.contains("evil"),
                "{ua:?} → {b:?}"
            );
        }
        assert_eq!(
            browser(r#"Mozilla/5.0 (<a href="https://evil.example/phish">x</a>;FOMA;)"#),
            "未知浏览器"
        );
        assert_eq!(browser("MicroMessenger/<a>"), "WeChat · 未知系统");
        assert_eq!(safe_version("130.0.6723.58").as_deref(), Some("130.0"));
        assert_eq!(safe_version("12345678901234567"), None, "longer than 16");
        assert_eq!(safe_version(".1"), None);
        assert_eq!(safe_version("UNKNOWN"), None);
        assert_eq!(safe_version("1<2"), None);
    }

    #[test]
    fn ids() {
        assert!(valid_id(&random_token(ID_LEN)));
        assert!(!valid_id("short"));
        assert!(!valid_id(&"a/".repeat(16)));
    }

    #[test]
    fn scene_round_trips_with_its_status() {
        let s = Scene {
            via: Via::FollowOa,
            browser: "b".into(),
            return_to: "/".into(),
            url: "http://weixin.qq.com/q/x".into(),
            expires_at: 1,
            requester: None,
            code: None,
            status: SceneStatus::Confirmed {
                user: WechatUser::new("wx2", "o1", crate::user::Channel::ScanFollow),
            },
        };
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains(r#""status":"confirmed""#), "{json}");
        let back: Scene = serde_json::from_str(&json).unwrap();
        assert_eq!(back.status, s.status);
    }
}
