//! WeCom (企业微信) self-built and agent-developed apps (protocol §20, §27; design §6): the
//! corps, their members and trusted domains, the web login page `wwlogin/sso/login`, the
//! in-app `connect/oauth2/authorize` for a corp id, and `cgi-bin/gettoken`,
//! `cgi-bin/auth/getuserinfo`, `cgi-bin/auth/getuserdetail`.
//!
//! A corp app is one `corp_id` + `agent_id` + `secret`; several apps may share a corp id.
//! Members are simulated users (by name) with a WeCom `user_id`; any other simulated user
//! logs in as a non-member and is known to the corp by an `openid` of its own.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};
use url::Url;

use super::clock::after;
use super::config::MockUser;
use super::errors::json as json_response;
use super::ids;
use super::pages::{STYLE, error_page, escape};
use super::params::Params;
use super::state::Shared;
use super::wecom_config::{MockWecomCorp, MockWecomMember, MockWecomSuite};
use super::wecom_state::{
    CODE_TTL, CodeScope, Owner, TOKEN_TTL, USER_TICKET_TTL, UserTicket, WecomCode, WecomToken,
    is_trusted, normalize_trusted,
};

/// The errcode the mock answers for a missing, unknown or expired `user_ticket`. The
/// protocol notes name none (unverified); 40003 is what WeCom uses for an invalid member id.
pub(crate) const BAD_USER_TICKET: i64 = 40003;

/// Every WeCom endpoint's path (without the leading slash), for counting and faults.
pub(crate) const ENDPOINTS: &[&str] = &[
    "wwlogin/sso/login",
    "cgi-bin/gettoken",
    "cgi-bin/auth/getuserinfo",
    "cgi-bin/auth/getuserdetail",
    "cgi-bin/service/get_suite_token",
    "cgi-bin/service/auth/getuserinfo3rd",
    "cgi-bin/service/auth/getuserdetail3rd",
];

/// WeCom's English errmsg for `code`.
fn errmsg(code: i64) -> &'static str {
    match code {
        -1 => "system busy",
        0 => "ok",
        40001 => "invalid secret",
        40003 => "invalid user_ticket",
        40013 => "invalid corpid",
        40014 => "invalid access_token",
        40029 => "invalid code",
        40056 => "invalid agentid",
        40091 => "secret is invalid",
        41001 => "access_token missing",
        41002 => "corpid missing",
        41004 => "corpsecret missing",
        41008 => "missing code",
        42001 => "access_token expired",
        43001 => "require GET method",
        43002 => "require POST method",
        47001 => "data format error",
        50001 => "redirect_uri unauthorized",
        40080 => "invalid suite_secret",
        40082 => "invalid suite_acccess_token or provider_access_token",
        40083 => "invalid suite_id",
        40085 => "invalid suite_ticket",
        40086 => "invalid third-party app id",
        41021 => "suite_id missing",
        41022 => "suite_access_token missing",
        41023 => "suite_ticket missing",
        41024 => "suite_secret missing",
        41030 => "corp has not authorized the suite",
        42009 => "suite_access_token expired",
        _ => "mock injected error",
    }
}

/// A WeCom error body: `{"errcode":N,"errmsg":"…, hint: […], from ip: …, more info at
/// https://open.work.weixin.qq.com/devtool/query?e=N"}` (protocol §20.9), HTTP 200.
pub(crate) fn wecom_error(code: i64) -> Response {
    tracing::debug!(errcode = code, "mock wechat: wecom error answer");
    json_response(&json!({
        "errcode": code,
        "errmsg": format!(
            "{}, hint: [{}], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e={code}",
            errmsg(code),
            ids::alnum(24),
        ),
    }))
}

/// A wrong HTTP method on a WeCom endpoint: 43001 in WeCom's shape.
pub(crate) async fn require_get() -> Response {
    wecom_error(43001)
}

/// A wrong HTTP method on a WeCom endpoint: 43002 in WeCom's shape.
pub(crate) async fn require_post() -> Response {
    wecom_error(43002)
}

/// A WeCom success body: `errcode` 0 and `errmsg` `ok` with `fields`.
fn wecom_ok(fields: Value) -> Response {
    let mut body = json!({ "errcode": 0, "errmsg": "ok" });
    if let (Some(all), Value::Object(more)) = (body.as_object_mut(), fields) {
        all.extend(more);
    }
    json_response(&body)
}

impl Shared {
    /// The index of the suite `id`.
    pub(crate) fn wecom_suite(&self, id: &str) -> Option<usize> {
        self.wecom_suites.iter().position(|s| s.suite_id == id)
    }

    /// The corp app and member `name` is for a login through `owner`: the corp app itself,
    /// or the first corp that authorized the suite and has the user as a member.
    pub(crate) fn wecom_member(
        &self,
        owner: Owner,
        name: &str,
    ) -> Option<(usize, &MockWecomMember)> {
        match owner {
            Owner::Corp(i) => self.wecom_corps[i].member(name).map(|m| (i, m)),
            Owner::Suite(j) => {
                let suite = &self.wecom_suites[j];
                (self.wecom_corps.iter().enumerate())
                    .filter(|(_, c)| suite.authorized_corps.contains(&c.corp_id))
                    .find_map(|(i, c)| c.member(name).map(|m| (i, m)))
            }
        }
    }

    /// A short description of a corp app or suite for the login page.
    pub(crate) fn wecom_owner_label(&self, owner: Owner) -> String {
        match owner {
            Owner::Corp(i) => {
                let c = &self.wecom_corps[i];
                format!("corp {} · agent {}", c.corp_id, c.agent_id)
            }
            Owner::Suite(j) => format!("suite {}", self.wecom_suites[j].suite_id),
        }
    }

    /// The index of the corp app `corp_id` + `agent_id` (the first app of the corp when
    /// `agent_id` is `None`).
    pub(crate) fn wecom_app(&self, corp_id: &str, agent_id: Option<&str>) -> Option<usize> {
        self.wecom_corps
            .iter()
            .position(|c| c.corp_id == corp_id && agent_id.is_none_or(|a| a == c.agent_id))
    }

    /// Whether `id` is the corp id of a WeCom app of this mock.
    pub(crate) fn is_wecom_corp(&self, id: &str) -> bool {
        self.wecom_corps.iter().any(|c| c.corp_id == id)
    }

    /// Whether `id` is a corp id or a suite id of this mock.
    pub(crate) fn is_wecom_id(&self, id: &str) -> bool {
        self.is_wecom_corp(id) || self.wecom_suite(id).is_some()
    }

    /// Sets the trusted domains of every app of corp `corp_id`, or of suite `corp_id`.
    pub(crate) fn set_wecom_trusted(&self, corp_id: &str, domains: &[String]) -> bool {
        let apps: Vec<Owner> = (self.wecom_corps.iter().enumerate())
            .filter(|(_, c)| c.corp_id == corp_id)
            .map(|(i, _)| Owner::Corp(i))
            .chain(self.wecom_suite(corp_id).map(Owner::Suite))
            .collect();
        let mut inner = self.lock();
        for &i in &apps {
            inner.wecom.trusted.insert(i, normalize_trusted(domains));
        }
        !apps.is_empty()
    }

    /// The trusted domains of a corp app or a suite.
    pub(crate) fn wecom_trusted(&self, owner: Owner) -> Vec<String> {
        self.lock()
            .wecom
            .trusted
            .get(&owner)
            .cloned()
            .unwrap_or_default()
    }

    /// The corp app a WeCom `access_token` belongs to (for per-app call counts).
    pub(crate) fn wecom_token_corp(&self, token: &str) -> Option<String> {
        let corp = self.lock().wecom.tokens.get(token)?.corp;
        self.wecom_corps.get(corp).map(|c| c.corp_id.clone())
    }

    fn issue_wecom_code(
        &self,
        owner: Owner,
        user: &str,
        scope: CodeScope,
        redirect: &Url,
    ) -> String {
        let now = self.now();
        let code = ids::alnum(43);
        let record = WecomCode {
            owner,
            user: user.to_owned(),
            scope,
            redirect: redirect.clone(),
            expires_at: after(now, CODE_TTL),
            used: false,
        };
        self.lock().wecom.codes.insert(code.clone(), record, now);
        code
    }
}

/// The two WeCom login pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    /// `wwlogin/sso/login` (login.work.weixin.qq.com).
    Sso,
    /// `connect/oauth2/authorize` with a corp id (inside the WeCom client).
    InApp,
}

impl Page {
    fn path(self) -> &'static str {
        match self {
            Page::Sso => "/wwlogin/sso/login",
            Page::InApp => "/connect/oauth2/authorize",
        }
    }
}

/// A login request that passed WeCom's checks.
struct Valid {
    owner: Owner,
    scope: CodeScope,
    state: String,
    redirect: Url,
}

const DOMAIN_ERROR: &str = "redirect_uri需使用应用可信域名";

fn page_error(code: Option<i64>, msg: &str, reason: &str) -> Box<Response> {
    Box::new(error_page(code, msg, reason))
}

/// The trusted-domain check shared by both pages: 50001 when `redirect_uri` is missing,
/// not http(s) or not on a trusted domain of the app.
fn checked_redirect(s: &Shared, owner: Owner, p: &Params) -> Result<Url, Box<Response>> {
    let redirect = p
        .get("redirect_uri")
        .and_then(|r| Url::parse(r).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"));
    match redirect {
        Some(u) if is_trusted(&s.wecom_trusted(owner), &u) => Ok(u),
        _ => Err(page_error(Some(50001), DOMAIN_ERROR, "50001")),
    }
}

fn validate_sso(s: &Shared, p: &Params) -> Result<Valid, Box<Response>> {
    match p.get("login_type") {
        Some("CorpApp") => {}
        Some("ServiceApp") => {
            let Some(suite) = p.get("appid").and_then(|a| s.wecom_suite(a)) else {
                return Err(page_error(Some(40086), "appid 参数错误", "40086"));
            };
            let owner = Owner::Suite(suite);
            let redirect = checked_redirect(s, owner, p)?;
            return Ok(Valid {
                owner,
                scope: CodeScope::Web,
                state: p.get("state").unwrap_or_default().to_owned(),
                redirect,
            });
        }
        _ => {
            return Err(page_error(
                None,
                "login_type 参数错误（CorpApp / ServiceApp）",
                "login_type",
            ));
        }
    }
    let Some(corp_id) = p.get("appid").filter(|a| s.is_wecom_corp(a)) else {
        return Err(page_error(Some(40013), "appid 参数错误", "40013"));
    };
    let Some(corp) = p.get("agentid").and_then(|a| s.wecom_app(corp_id, Some(a))) else {
        return Err(page_error(Some(40056), "agentid 参数错误", "40056"));
    };
    let owner = Owner::Corp(corp);
    let redirect = checked_redirect(s, owner, p)?;
    Ok(Valid {
        owner,
        scope: CodeScope::Web,
        state: p.get("state").unwrap_or_default().to_owned(),
        redirect,
    })
}

fn validate_in_app(s: &Shared, p: &Params) -> Result<Valid, Box<Response>> {
    let corp_id = p.get("appid").unwrap_or_default();
    let suite = s.wecom_suite(corp_id);
    // A suite needs no agentid: its privateinfo always counts.
    let agent = p.get("agentid").or(suite.map(|_| ""));
    let owner = match suite {
        Some(i) => Owner::Suite(i),
        None => match s.wecom_app(corp_id, p.get("agentid")) {
            Some(i) => Owner::Corp(i),
            None => return Err(page_error(Some(40056), "agentid 参数错误", "40056")),
        },
    };
    if p.get("response_type") != Some("code") {
        return Err(page_error(None, "response_type 参数错误", "response_type"));
    }
    let scope = match p.get("scope") {
        // `snsapi_userinfo` is an older name; without an agentid, privateinfo is base.
        Some("snsapi_base" | "snsapi_userinfo") => CodeScope::Base,
        Some("snsapi_privateinfo") if agent.is_some() => CodeScope::PrivateInfo,
        Some("snsapi_privateinfo") => CodeScope::Base,
        _ => {
            return Err(page_error(None, "Scope 参数错误或没有 Scope 权限", "scope"));
        }
    };
    let state = p.get("state").unwrap_or_default();
    if state.len() > 128 || !state.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(page_error(
            None,
            "state 参数错误（a-zA-Z0-9，最长 128 字节）",
            "state",
        ));
    }
    let redirect = checked_redirect(s, owner, p)?;
    Ok(Valid {
        owner,
        scope,
        state: state.to_owned(),
        redirect,
    })
}

/// `GET /wwlogin/sso/login`
pub(crate) async fn sso_login(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    login(&s, Page::Sso, q.as_deref().unwrap_or_default())
}

/// `GET /connect/oauth2/authorize`: WeCom's in-app OAuth when `appid` is a corp id or a
/// suite id (protocol §20.3, §27), else the Official Account page.
pub(crate) async fn authorize(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let raw = q.as_deref().unwrap_or_default();
    if Params::parse(Some(raw))
        .get("appid")
        .is_some_and(|a| s.is_wecom_id(a))
    {
        return login(&s, Page::InApp, raw);
    }
    super::pages::authorize(State(s), RawQuery(q)).await
}

fn login(s: &Shared, page: Page, raw: &str) -> Response {
    let p = Params::parse(Some(raw));
    let valid = match page {
        Page::Sso => validate_sso(s, &p),
        Page::InApp => validate_in_app(s, &p),
    };
    let valid = match valid {
        Ok(v) => v,
        Err(resp) => return *resp,
    };
    match (p.get("mock_action"), p.get("mock_user")) {
        (None, None) => login_page(s, page, &valid, raw),
        (None | Some("approve"), Some(name)) => match s.user(name) {
            Some(user) => {
                let code =
                    s.issue_wecom_code(valid.owner, &user.name, valid.scope, &valid.redirect);
                callback(&valid, Some(&code))
            }
            None => misuse(&format!("未知的 mock_user {name:?}")),
        },
        (Some("deny"), _) => callback(&valid, None),
        (Some("approve"), None) => misuse("mock_action=approve 需要 mock_user=NAME"),
        (Some(other), _) => misuse(&format!("未知的 mock_action {other:?}（approve / deny）")),
    }
}

fn misuse(msg: &str) -> Response {
    let mut resp = error_page(None, msg, "mock_param");
    *resp.status_mut() = StatusCode::BAD_REQUEST;
    resp
}

/// `redirect_uri` plus `code` (approved) and `state`.
fn callback(v: &Valid, code: Option<&str>) -> Response {
    let mut url = v.redirect.clone();
    {
        let mut q = url.query_pairs_mut();
        if let Some(code) = code {
            q.append_pair("code", code);
        }
        q.append_pair("state", &v.state);
    }
    match HeaderValue::from_str(url.as_str()) {
        Ok(location) => {
            let mut resp = StatusCode::FOUND.into_response();
            resp.headers_mut().insert(header::LOCATION, location);
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(_) => error_page(Some(50001), DOMAIN_ERROR, "50001"),
    }
}

/// The page a person sees: one button per simulated user (members by UserID, the others as
/// non-members) and a refusal; each is this URL plus `mock_user` / `mock_action`.
fn login_page(s: &Shared, page: Page, v: &Valid, raw: &str) -> Response {
    let base: Vec<&str> = raw
        .split('&')
        .filter(|seg| {
            let key = seg.split('=').next().unwrap_or_default();
            !seg.is_empty() && key != "mock_user" && key != "mock_action"
        })
        .collect();
    let base = format!("{}?{}", page.path(), base.join("&"));
    let link = |user: Option<&str>, action: &str| {
        let user = user
            .map(|u| {
                let u: String = url::form_urlencoded::byte_serialize(u.as_bytes()).collect();
                format!("&mock_user={u}")
            })
            .unwrap_or_default();
        escape(&format!("{base}{user}&mock_action={action}"))
    };
    let mut items = String::new();
    for u in &s.users {
        let who = match s.wecom_member(v.owner, &u.name) {
            Some((corp, m)) => format!(
                "{} 成员 {}",
                escape(&s.wecom_corps[corp].corp_id),
                escape(&m.user_id)
            ),
            None => "非企业成员（openid）".to_owned(),
        };
        let _ = write!(
            items,
            "<li><a class=\"button approve\" href=\"{}\">以 {} 身份登录（{who}，approve as {}）</a></li>",
            link(Some(&u.name), "approve"),
            escape(&u.nickname),
            escape(&u.name),
        );
    }
    let title = match (page, v.scope) {
        (Page::Sso, _) => "企业微信登录（mock）",
        (Page::InApp, CodeScope::PrivateInfo) => "企业微信授权（mock）：获取你的头像、手机号等",
        (Page::InApp, _) => "企业微信网页授权（mock）：静默授权",
    };
    let html = format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title>{STYLE}</head><body><main><h1>{title}</h1>\
         <p class=\"code\">{app} · redirect {redirect}</p>\
         <ul class=\"users\">{items}</ul>\
         <p><a class=\"button deny\" href=\"{deny}\">拒绝（deny）</a></p></main></body></html>",
        app = escape(&s.wecom_owner_label(v.owner)),
        redirect = escape(v.redirect.as_str()),
        deny = link(None, "deny"),
    );
    Html(html).into_response()
}

/// `GET /cgi-bin/gettoken?corpid=ID&corpsecret=SECRET`
pub(crate) async fn gettoken(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    let Some(corp_id) = p.get("corpid") else {
        return wecom_error(41002);
    };
    let Some(secret) = p.get("corpsecret") else {
        return wecom_error(41004);
    };
    if !s.is_wecom_corp(corp_id) {
        return wecom_error(40013);
    }
    let found = (s.wecom_corps.iter()).position(|c| c.corp_id == corp_id && c.secret == secret);
    let Some(corp) = found else {
        let elsewhere = s.wecom_corps.iter().any(|c| c.secret == secret);
        return wecom_error(if elsewhere { 40091 } else { 40001 });
    };
    let now = s.now();
    let token = ids::url_safe(128);
    let record = WecomToken {
        corp,
        expires_at: after(now, TOKEN_TTL),
    };
    s.lock().wecom.tokens.insert(token.clone(), record, now);
    wecom_ok(json!({ "access_token": token, "expires_in": TOKEN_TTL.as_secs() }))
}

/// The corp app of a live `access_token`, or the WeCom errcode for it.
fn token_corp(s: &Shared, p: &Params) -> Result<usize, i64> {
    let token = p.get("access_token").ok_or(41001)?;
    let now = s.now();
    match s.lock().wecom.tokens.get(token) {
        None => Err(40014),
        Some(t) if t.expires_at <= now => Err(42001),
        Some(t) => Ok(t.corp),
    }
}

/// `GET /cgi-bin/auth/getuserinfo?access_token=…&code=…`
pub(crate) async fn getuserinfo(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    let corp = match token_corp(&s, &p) {
        Ok(c) => c,
        Err(code) => return wecom_error(code),
    };
    let Some(code) = p.get("code") else {
        return wecom_error(41008);
    };
    let now = s.now();
    let record = {
        let mut inner = s.lock();
        match inner.wecom.codes.get_mut(code) {
            Some(r) if !r.used && r.expires_at > now => match r.owner {
                Owner::Corp(i) if s.wecom_corps[i].corp_id == s.wecom_corps[corp].corp_id => {
                    r.used = true;
                    Some((r.clone(), i))
                }
                _ => None,
            },
            _ => None,
        }
    };
    let Some((record, issuer)) = record else {
        return wecom_error(40029);
    };
    // A code of another app of the corp: its callback must be on this app's trusted domains.
    if issuer != corp && !is_trusted(&s.wecom_trusted(Owner::Corp(corp)), &record.redirect) {
        return wecom_error(50001);
    }
    let app = &s.wecom_corps[corp];
    let Some(user) = s.user(&record.user) else {
        return wecom_error(40029);
    };
    match app.member(&user.name) {
        Some(member) => {
            let mut fields = json!({ "userid": member.user_id });
            if record.scope == CodeScope::PrivateInfo {
                let ticket = ids::url_safe(86);
                let t = UserTicket {
                    owner: Owner::Corp(corp),
                    corp,
                    user: user.name.clone(),
                    expires_at: after(now, USER_TICKET_TTL),
                };
                s.lock().wecom.tickets.insert(ticket.clone(), t, now);
                fields["user_ticket"] = json!(ticket);
            }
            wecom_ok(fields)
        }
        None => wecom_ok(json!({ "openid": app.openid_for(user) })),
    }
}

/// `POST /cgi-bin/auth/getuserdetail?access_token=…` `{"user_ticket"}`
pub(crate) async fn getuserdetail(
    State(s): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let p = Params::parse(q.as_deref());
    let corp = match token_corp(&s, &p) {
        Ok(c) => c,
        Err(code) => return wecom_error(code),
    };
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return wecom_error(47001);
    };
    let Some(ticket) = body.get("user_ticket").and_then(Value::as_str) else {
        return wecom_error(BAD_USER_TICKET);
    };
    let now = s.now();
    let user = match s.lock().wecom.tickets.get(ticket) {
        Some(t) if t.expires_at > now && t.owner == Owner::Corp(corp) => t.user.clone(),
        _ => return wecom_error(BAD_USER_TICKET),
    };
    let app = &s.wecom_corps[corp];
    let (Some(member), Some(user)) = (app.member(&user), s.user(&user)) else {
        return wecom_error(BAD_USER_TICKET);
    };
    let corp_domain = app.corp_id.to_ascii_lowercase();
    wecom_ok(json!({
        "userid": member.user_id,
        "gender": member.gender,
        "avatar": user.headimgurl,
        "qr_code": format!(
            "https://open.work.weixin.qq.com/wwopen/userQRCode?vcode=vc{}",
            &ids::alnum(16).to_ascii_lowercase()
        ),
        "mobile": user.phone,
        "email": format!("{}@{corp_domain}.example.com", member.user_id.to_ascii_lowercase()),
        "biz_mail": format!("{}@{corp_domain}.wecom.work", member.user_id.to_ascii_lowercase()),
        "address": "",
    }))
}

impl super::MockWechat {
    /// The primary WeCom corp app (default [`MockWecomCorp::default_corp`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.wecom_corp().agent_id, "1000002");
    /// # Ok(()) }
    /// ```
    pub fn wecom_corp(&self) -> &MockWecomCorp {
        &self.shared.wecom_corps[0]
    }

    /// Every WeCom corp app.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.wecom_corps().len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn wecom_corps(&self) -> &[MockWecomCorp] {
        &self.shared.wecom_corps
    }

    /// Replaces the trusted domains (可信域名) of every app of corp `corp_id`, or of the suite
    /// with that id (hosts,
    /// optionally `:port`; see [`MockWecomCorp`]). Also `POST /mock/redirect_domains` with
    /// the corp id as `appid`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let corp = mock.wecom_corp().corp_id.clone();
    /// mock.set_wecom_trusted_domains(&corp, vec!["App.Example.com:8443".into()]).unwrap();
    /// assert_eq!(mock.wecom_trusted_domains(&corp), ["app.example.com:8443"]);
    /// assert!(mock.set_wecom_trusted_domains("ww_nope", vec![]).is_err());
    /// # Ok(()) }
    /// ```
    pub fn set_wecom_trusted_domains(
        &self,
        corp_id: &str,
        domains: Vec<String>,
    ) -> Result<(), super::MockError> {
        if self.shared.set_wecom_trusted(corp_id, &domains) {
            Ok(())
        } else {
            Err(super::MockError::UnknownApp(corp_id.to_owned()))
        }
    }

    /// The trusted domains of corp `corp_id`'s first app, or of the suite `corp_id` (empty
    /// when unknown).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.wecom_trusted_domains("ww6000000000000006"), ["127.0.0.1", "localhost"]);
    /// # Ok(()) }
    /// ```
    pub fn wecom_trusted_domains(&self, corp_id: &str) -> Vec<String> {
        let owner = (self.shared.wecom_app(corp_id, None).map(Owner::Corp))
            .or_else(|| self.shared.wecom_suite(corp_id).map(Owner::Suite));
        owner
            .map(|o| self.shared.wecom_trusted(o))
            .unwrap_or_default()
    }
}

impl MockWecomCorp {
    /// The `openid` a non-member `user` has in this corp (stable, one per corp).
    ///
    /// ```
    /// use wechat_auth_mock::{MockUser, MockWecomCorp};
    ///
    /// let carol = MockUser::derive("carol", "Carol", "");
    /// let id = MockWecomCorp::default_corp().openid_for(&carol);
    /// assert!(id.starts_with('o') && id.len() == 28);
    /// ```
    pub fn openid_for(&self, user: &MockUser) -> String {
        user.openid_for(&self.corp_id)
    }
}

impl MockWecomSuite {
    /// The `open_userid` a member has for this suite's provider (stable, ≤ 64 bytes).
    ///
    /// ```
    /// use wechat_auth_mock::{MockUser, MockWecomSuite};
    ///
    /// let id = MockWecomSuite::default_suite().open_userid_for(&MockUser::derive("alice", "A", ""));
    /// assert!(id.starts_with("wo") && id.len() <= 64);
    /// ```
    pub fn open_userid_for(&self, user: &MockUser) -> String {
        let id = user.openid_for(&format!("open_userid/{}", self.suite_id));
        format!("wo{}", &id[1..])
    }
}
