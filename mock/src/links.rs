//! Mini program links (protocol §26): `wxa/generate_urllink` makes a URL Link on the mock's
//! own host (`http://127.0.0.1:PORT/mock/urllink/TICKET`, standing for
//! `https://wxaurl.cn/TICKET`), `wxa/generatescheme` a URL Scheme
//! (`weixin://dl/business/?t=TICKET`); opening either as the mini program would
//! ([`Shared::open_url_link`]) gives the page, its query, the scene number and a fresh
//! `wx.login()` code of the user.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::cgi::{global_app, json_body};
use super::clock::{after, unix_secs};
use super::config::{AppKind, MockApp};
use super::errors::{MockError, WxError, json};
use super::ids;
use super::pages::{STYLE, escape};
use super::params::Params;
use super::state::{LinkKind, MiniLink, Shared};

/// Where the mock serves its URL Links (`{base}/mock/urllink/TICKET`).
pub(crate) const URL_LINK_PATH: &str = "/mock/urllink/";
/// What every URL Scheme starts with; the ticket follows.
pub(crate) const SCHEME_PREFIX: &str = "weixin://dl/business/?t=";
/// The longest `query` of a link (40212 beyond).
pub(crate) const MAX_QUERY_CHARS: usize = 1024;
/// Punctuation allowed in a link's `query` besides digits and ASCII letters.
const QUERY_PUNCTUATION: &str = "!#$&'()*+,/:;=?@-._~%";
/// The longest life of a link: 30 days.
pub(crate) const MAX_LINK_LIFE: Duration = Duration::from_secs(30 * 24 * 3600);
/// The scene number a mini program opened from a URL Link sees.
pub(crate) const SCENE_URL_LINK: u32 = 1194;
/// The scene number a mini program opened from a URL Scheme sees.
pub(crate) const SCENE_URL_SCHEME: u32 = 1065;

/// What the mini program sees when `user` opens a mini program link
/// ([`MockWechat::open_url_link`](super::MockWechat::open_url_link), `POST
/// /mock/miniprogram/open {"url_link","user"}`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mock = wechat_auth_mock::MockWechat::start().await?;
/// let mini = mock.mini_program().clone();
/// let http = reqwest::Client::new();
/// let token: serde_json::Value = http
///     .get(format!("{}/cgi-bin/token", mock.api_base()))
///     .query(&[("grant_type", "client_credential"), ("appid", &mini.appid), ("secret", &mini.secret)])
///     .send().await?.json().await?;
/// let made: serde_json::Value = http
///     .post(format!("{}/wxa/generate_urllink", mock.api_base()))
///     .query(&[("access_token", token["access_token"].as_str().unwrap())])
///     .json(&serde_json::json!({"path": "pages/login/confirm", "query": "scene=t3f9a2c"}))
///     .send().await?.json().await?;
/// let opened = mock.open_url_link(made["url_link"].as_str().unwrap(), "alice")?;
/// assert_eq!(opened.scene.as_deref(), Some("t3f9a2c"));
/// assert_eq!((opened.path.as_str(), opened.scene_id), ("pages/login/confirm", 1194));
/// assert_eq!(opened.code.len(), 32);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenedLink {
    /// The mini program the link opens.
    pub appid: String,
    /// The value of `scene=` in the link's query (percent-decoded), what the site put there;
    /// `None` when the query has none.
    pub scene: Option<String>,
    /// A fresh `wx.login()` js_code of the user for that mini program (5 minutes, single
    /// use, for `sns/jscode2session`).
    pub code: String,
    /// The link's query string, as the page's `onLoad(options)` gets it.
    pub query: String,
    /// The page opened: the link's `path`, else the home page (the first of
    /// [`MockApp::pages`], `""` when the mock knows no pages).
    pub path: String,
    /// `release`, `trial` or `develop`.
    pub env_version: String,
    /// The scene number of the launch: 1194 for a URL Link, 1065 for a URL Scheme.
    pub scene_id: u32,
}

impl OpenedLink {
    /// The JSON `POST /mock/miniprogram/open` answers.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "appid": self.appid,
            "scene": self.scene,
            "code": self.code,
            "query": self.query,
            "path": self.path,
            "env_version": self.env_version,
            "scene_id": self.scene_id,
        })
    }
}

type Answer = Result<Value, WxError>;

fn respond(answer: Answer) -> Response {
    match answer {
        Ok(v) => json(&v),
        Err(e) => e.into_response(),
    }
}

/// The global token's app, which must be a mini program (else 48001).
fn mini_token<'a>(s: &'a Shared, p: &Params) -> Result<&'a MockApp, WxError> {
    let app = global_app(s, p)?;
    if app.kind != AppKind::MiniProgram {
        return Err(WxError::new(48001));
    }
    Ok(app)
}

/// `path`: absent, `null` or `""` is the home page; a leading `/`, a `?`, something not a
/// string, or (when the mock knows the pages) a page the mini program lacks → 40165.
fn link_path(app: &MockApp, value: Option<&Value>) -> Result<String, WxError> {
    let path = match value {
        None | Some(Value::Null) => return Ok(String::new()),
        Some(Value::String(p)) => p.as_str(),
        Some(_) => return Err(WxError::new(40165)),
    };
    if path.is_empty() {
        return Ok(String::new());
    }
    if path.starts_with('/') || path.contains('?') {
        return Err(WxError::new(40165));
    }
    if !app.pages.is_empty() && !app.pages.iter().any(|p| p == path) {
        return Err(WxError::with_detail(
            40165,
            "invalid weapp pagepath, the page is not in the mini program's released version",
        ));
    }
    Ok(path.to_owned())
}

/// `query`: at most 1024 characters of digits, ASCII letters and
/// `!#$&'()*+,/:;=?@-._~%` (40212).
fn link_query(value: Option<&Value>) -> Result<String, WxError> {
    let query = match value {
        None | Some(Value::Null) => return Ok(String::new()),
        Some(Value::String(q)) => q.as_str(),
        Some(_) => return Err(WxError::new(40212)),
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || QUERY_PUNCTUATION.contains(c);
    if query.chars().count() > MAX_QUERY_CHARS || !query.chars().all(allowed) {
        return Err(WxError::new(40212));
    }
    Ok(query.to_owned())
}

fn env_version(value: Option<&Value>) -> Result<String, WxError> {
    match value {
        None | Some(Value::Null) => Ok("release".to_owned()),
        Some(Value::String(v)) if matches!(v.as_str(), "release" | "trial" | "develop") => {
            Ok(v.clone())
        }
        Some(_) => Err(WxError::new(40097)),
    }
}

/// The expiry of a link: `expire_type` 0 (default) with `expire_time` (Unix seconds, in the
/// future, at most 30 days ahead), or 1 with `expire_interval` (1..=30 days). Without a
/// time, 30 days (WeChat makes no link that lives longer). Anything else → 40097.
fn link_expiry(body: &Map<String, Value>, now: SystemTime) -> Result<SystemTime, WxError> {
    let latest = after(now, MAX_LINK_LIFE);
    let number = |k: &str| match body.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or(WxError::new(40097)),
    };
    match number("expire_type")? {
        None | Some(0) => match number("expire_time")? {
            None => Ok(latest),
            Some(t) => {
                let at = SystemTime::UNIX_EPOCH + Duration::from_secs(t);
                if t <= unix_secs(now) || at > latest {
                    return Err(WxError::with_detail(
                        40097,
                        "invalid args, expire_time must be in the next 30 days",
                    ));
                }
                Ok(at)
            }
        },
        Some(1) => match number("expire_interval")? {
            Some(days @ 1..=30) => Ok(after(now, Duration::from_secs(days * 24 * 3600))),
            _ => Err(WxError::with_detail(
                40097,
                "invalid args, expire_interval must be 1..=30 days",
            )),
        },
        Some(_) => Err(WxError::new(40097)),
    }
}

/// Checks a link request's page, query, version and expiry, and remembers the link.
fn make_link(
    s: &Shared,
    app: &MockApp,
    kind: LinkKind,
    jump: &Map<String, Value>,
    expiry: &Map<String, Value>,
    expires: bool,
) -> Result<String, WxError> {
    let path = link_path(app, jump.get("path"))?;
    let query = link_query(jump.get("query"))?;
    let env_version = env_version(jump.get("env_version"))?;
    let now = s.now();
    let expires_at = if expires {
        link_expiry(expiry, now)?
    } else {
        after(now, MAX_LINK_LIFE)
    };
    let ticket = ids::alnum(24);
    let link = match kind {
        LinkKind::UrlLink => format!("{}{URL_LINK_PATH}{ticket}", s.base_url),
        LinkKind::Scheme => format!("{SCHEME_PREFIX}{ticket}"),
    };
    tracing::debug!(appid = %app.appid, ?kind, "mock wechat: mini program link made");
    let record = MiniLink {
        kind,
        appid: app.appid.clone(),
        link: link.clone(),
        path,
        query,
        env_version,
        created_at: now,
        expires_at,
    };
    s.lock().mini_links.insert(ticket, record, now);
    Ok(link)
}

/// `POST /wxa/generate_urllink?access_token=…` `{path?, query?, env_version?, expire_type?,
/// expire_time? | expire_interval?}` → `{"errcode":0,"errmsg":"ok","url_link":…}`.
pub(crate) async fn generate_urllink(
    State(s): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    respond(urllink(&s, &Params::parse(q.as_deref()), &body))
}

fn urllink(s: &Shared, p: &Params, body: &Bytes) -> Answer {
    let app = mini_token(s, p)?;
    let body = json_body(body)?;
    let link = make_link(s, app, LinkKind::UrlLink, &body, &body, true)?;
    Ok(json!({"errcode": 0, "errmsg": "ok", "url_link": link}))
}

/// `POST /wxa/generatescheme?access_token=…` `{jump_wxa?: {path, query, env_version},
/// is_expire?, expire_type?, expire_time? | expire_interval?}` →
/// `{"errcode":0,"errmsg":"ok","openlink":"weixin://dl/business/?t=…"}`.
pub(crate) async fn generatescheme(
    State(s): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    respond(scheme(&s, &Params::parse(q.as_deref()), &body))
}

fn scheme(s: &Shared, p: &Params, body: &Bytes) -> Answer {
    let app = mini_token(s, p)?;
    let body = json_body(body)?;
    let empty = Map::new();
    let jump = match body.get("jump_wxa") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(j)) => j,
        Some(_) => return Err(WxError::new(47001)),
    };
    // Without `is_expire` a scheme still dies within 30 days (WeChat's rule since 2022).
    let expires = match body.get("is_expire") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(WxError::new(40097)),
    };
    let link = make_link(s, app, LinkKind::Scheme, jump, &body, expires)?;
    Ok(json!({"errcode": 0, "errmsg": "ok", "openlink": link}))
}

impl Shared {
    /// The ticket and kind of a link the mock could have made: `weixin://dl/business/?t=T`
    /// or `{base}/mock/urllink/T`.
    fn link_ticket(&self, link: &str) -> Option<(LinkKind, String)> {
        let link = link.trim();
        let (kind, rest) = if let Some(rest) = link.strip_prefix(SCHEME_PREFIX) {
            (LinkKind::Scheme, rest)
        } else {
            let prefix = format!("{}{URL_LINK_PATH}", self.base_url);
            (LinkKind::UrlLink, link.strip_prefix(prefix.as_str())?)
        };
        let ticket = rest.split(['&', '?', '#', '/']).next().unwrap_or_default();
        (!ticket.is_empty()).then(|| (kind, ticket.to_owned()))
    }

    /// The live link behind `link`: [`MockError::UnknownLink`], [`MockError::ExpiredLink`].
    pub(crate) fn live_link(&self, link: &str) -> Result<MiniLink, MockError> {
        let unknown = || MockError::UnknownLink(link.chars().take(200).collect());
        let (kind, ticket) = self.link_ticket(link).ok_or_else(unknown)?;
        let now = self.now();
        let record = self
            .lock()
            .mini_links
            .get(&ticket)
            .filter(|l| l.kind == kind)
            .cloned()
            .ok_or_else(unknown)?;
        if record.expires_at <= now {
            return Err(MockError::ExpiredLink(record.link));
        }
        Ok(record)
    }

    /// `user` opens a mini program link in WeChat: the mini program starts on the link's
    /// page with its query and calls `wx.login()`.
    pub(crate) fn open_url_link(&self, link: &str, user: &str) -> Result<OpenedLink, MockError> {
        if self.user(user).is_none() {
            return Err(MockError::UnknownUser(user.to_owned()));
        }
        let record = self.live_link(link)?;
        let code = self.sdk_code(&record.appid, user)?;
        let scene = url::form_urlencoded::parse(record.query.as_bytes())
            .find(|(k, _)| k == "scene")
            .map(|(_, v)| v.into_owned());
        let path = if record.path.is_empty() {
            self.app(&record.appid)
                .and_then(|a| a.pages.first().cloned())
                .unwrap_or_default()
        } else {
            record.path
        };
        let scene_id = match record.kind {
            LinkKind::UrlLink => SCENE_URL_LINK,
            LinkKind::Scheme => SCENE_URL_SCHEME,
        };
        tracing::debug!(appid = %record.appid, scene_id, "mock wechat: mini program opened from a link");
        Ok(OpenedLink {
            appid: record.appid,
            scene,
            code,
            query: record.query,
            path,
            env_version: record.env_version,
            scene_id,
        })
    }

    /// The newest live link, for the phone page's form.
    pub(crate) fn newest_link(&self) -> Option<String> {
        let now = self.now();
        let inner = self.lock();
        inner
            .mini_links
            .iter()
            .map(|(_, l)| l)
            .filter(|l| l.expires_at > now)
            .max_by_key(|l| l.created_at)
            .map(|l| l.link.clone())
    }
}

/// `GET /mock/urllink/TICKET`: what a phone browser shows for a URL Link (WeChat's
/// `wxaurl.cn` page offers to open WeChat): here the link's page and query, and the phone
/// page's form to open it as a user. Unknown or expired: 404.
pub(crate) async fn url_link_page(
    State(s): State<Arc<Shared>>,
    Path(ticket): Path<String>,
) -> Response {
    let link = format!("{}{URL_LINK_PATH}{ticket}", s.base_url);
    let (status, body) = match s.live_link(&link) {
        Ok(l) => (
            StatusCode::OK,
            format!(
                "<p class=\"code\" id=\"link-target\">{} · {} · {}?{}</p>{}",
                escape(&l.appid),
                escape(&l.env_version),
                escape(if l.path.is_empty() { "(home)" } else { &l.path }),
                escape(&l.query),
                open_link_form(&s, Some(&l.link)),
            ),
        ),
        Err(e) => (
            StatusCode::NOT_FOUND,
            format!(
                "<p class=\"code\" id=\"link-error\">{}</p>",
                escape(&e.to_string())
            ),
        ),
    };
    let html = format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>打开微信小程序（mock）</title>{STYLE}</head><body><main>\
         <h1>打开微信小程序（Open the mini program in WeChat）</h1>{body}</main></body></html>"
    );
    (status, Html(html)).into_response()
}

/// The form that opens a link as a user (element ids: `open-link-form`, `open-link-url`
/// (field `url_link`), `open-link-user` (field `user`), buttons `open-link-confirm` /
/// `open-link-cancel` (field `decision`)), POSTing to `/mock/phone/link`.
pub(crate) fn open_link_form(s: &Shared, link: Option<&str>) -> String {
    let mut users = String::new();
    for u in &s.users {
        let _ = write!(
            users,
            "<option value=\"{}\">{}（{}）</option>",
            escape(&u.name),
            escape(&u.nickname),
            escape(&u.name)
        );
    }
    format!(
        "<form method=\"post\" action=\"/mock/phone/link\" id=\"open-link-form\">\
         <input name=\"url_link\" id=\"open-link-url\" size=\"60\" value=\"{}\" \
         placeholder=\"http://…/mock/urllink/… 或 weixin://dl/business/?t=…\"> \
         <select name=\"user\" id=\"open-link-user\">{users}</select> \
         <button class=\"button approve\" name=\"decision\" value=\"confirm\" id=\"open-link-confirm\">打开并确认（open, confirm）</button> \
         <button class=\"button deny\" name=\"decision\" value=\"cancel\" id=\"open-link-cancel\">打开并取消（open, cancel）</button></form>",
        escape(link.unwrap_or_default()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_rules() {
        assert_eq!(link_query(None).unwrap(), "");
        let ok = "scene=abc&x=%E7%99%BB!#$'()*+,/:;?@-._~";
        assert_eq!(link_query(Some(&json!(ok))).unwrap(), ok);
        let long = "a".repeat(MAX_QUERY_CHARS);
        assert!(link_query(Some(&json!(long))).is_ok());
        for bad in [
            json!("a".repeat(MAX_QUERY_CHARS + 1)),
            json!("a b"),
            json!("登录"),
            json!("a<b"),
            json!(1),
        ] {
            assert_eq!(link_query(Some(&bad)).unwrap_err().code, 40212, "{bad}");
        }
    }

    #[test]
    fn path_rules() {
        let any = MockApp::default_for(AppKind::MiniProgram);
        assert_eq!(
            link_path(&any, Some(&json!("pages/a/a"))).unwrap(),
            "pages/a/a"
        );
        assert_eq!(link_path(&any, Some(&json!(""))).unwrap(), "");
        for bad in [json!("/pages/a/a"), json!("pages/a/a?x=1"), json!(7)] {
            assert_eq!(
                link_path(&any, Some(&bad)).unwrap_err().code,
                40165,
                "{bad}"
            );
        }
        let known = any.with_pages(["pages/index/index", "pages/login/confirm"]);
        assert!(link_path(&known, Some(&json!("pages/login/confirm"))).is_ok());
        assert_eq!(
            link_path(&known, Some(&json!("pages/other/other")))
                .unwrap_err()
                .code,
            40165
        );
    }

    #[test]
    fn expiry_rules() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let body = |v: Value| v.as_object().unwrap().clone();
        let day = 24 * 3600;
        assert_eq!(
            link_expiry(&body(json!({})), now).unwrap(),
            after(now, MAX_LINK_LIFE)
        );
        assert_eq!(
            link_expiry(&body(json!({"expire_time": 1_700_000_300u64})), now).unwrap(),
            now + Duration::from_secs(300)
        );
        assert_eq!(
            link_expiry(&body(json!({"expire_type": 1, "expire_interval": 2})), now).unwrap(),
            now + Duration::from_secs(2 * day)
        );
        for bad in [
            json!({"expire_time": 1_700_000_000u64}),
            json!({"expire_time": 1_700_000_000u64 + 30 * day + 1}),
            json!({"expire_time": "soon"}),
            json!({"expire_type": 1, "expire_interval": 31}),
            json!({"expire_type": 1}),
            json!({"expire_type": 2}),
        ] {
            assert_eq!(
                link_expiry(&body(bad.clone()), now).unwrap_err().code,
                40097,
                "{bad}"
            );
        }
    }
}
