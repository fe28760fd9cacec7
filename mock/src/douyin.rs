//! Douyin (抖音) Open Platform login (protocol §29; design §6): the authorize page
//! `platform/oauth/connect/`, `oauth/access_token/`, `oauth/refresh_token/`,
//! `oauth/renew_refresh_token/`, `oauth/client_token/` and `oauth/userinfo/`, with Douyin's
//! answer shapes (`{"data":{…,"error_code":0,"description":""},"message":"success"}`; errors
//! `{"data":{"description","error_code"},"extra":{"logid","now"}}`, HTTP 200).
//!
//! Douyin is served on the mock's own origin: [`MockWechat::douyin_open_base`] and
//! [`MockWechat::douyin_miniapp_base`] stand for `https://open.douyin.com` and
//! `https://developer.toutiao.com`. The mini-app's `jscode2session` is in `douyin_mini`.
//!
//! [`MockWechat::douyin_open_base`]: super::MockWechat::douyin_open_base
//! [`MockWechat::douyin_miniapp_base`]: super::MockWechat::douyin_miniapp_base

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};
use url::Url;

use super::clock::{after, secs_until};
use super::config::MockUser;
use super::douyin_apps::{MockDouyinApp, MockDouyinMiniApp};
use super::douyin_state::{
    ACCESS_TTL, CLIENT_OVERLAP, CLIENT_RATE, CLIENT_TTL, CLIENT_WINDOW, CODE_TTL, DyAccess,
    DyClient, DyCode, DyCodeKind, DyOwner, DyRefresh, MAX_RENEWALS, MINI_CODE_TTL, REFRESH_TTL,
};
use super::douyin_wire::log_id;
use super::errors::{MockError, json as json_response};
use super::ids;
use super::pages::{STYLE, error_page, escape};
use super::params::Params;
use super::state::{Shared, normalize_domains};

/// The page's path (with Douyin's trailing slash).
pub(crate) const CONNECT: &str = "platform/oauth/connect/";
/// `tt.login()` codes are exchanged here (`developer.toutiao.com`).
pub(crate) const JSCODE2SESSION: &str = "api/apps/v2/jscode2session";

/// Every Douyin endpoint's path (without the leading slash), for counting and faults.
pub(crate) const ENDPOINTS: &[&str] = &[
    CONNECT,
    "oauth/access_token/",
    "oauth/refresh_token/",
    "oauth/renew_refresh_token/",
    "oauth/client_token/",
    "oauth/userinfo/",
    JSCODE2SESSION,
];

/// Douyin's `description` for `code` (old codes in English as the samples have them, the
/// newer ones as the status-code page words them).
fn description(code: i64) -> &'static str {
    match code {
        0 => "",
        10002 => "参数错误",
        10003 => "client_key 不存在",
        10004 => "权限不足",
        10008 => "access_token 已过期",
        10010 => "refresh_token 已过期",
        10013 => "client_key 或 client_secret 错误",
        10020 => "超出调用次数限制",
        2100004 => "System busy",
        2100005 => "Parameter error",
        2100007 => "No permission",
        2190001 => "Quota exceeded",
        2190008 => "access_token expired",
        28001005 => "服务繁忙，请稍后重试",
        28001007 => "参数不合法",
        28001008 => "access_token 已过期",
        28001012 => "用户未授权该 scope",
        28001015 => "access_token 与 open_id 不匹配",
        28001016 => "应用已被封禁",
        28003018 => "调用频率超限",
        _ => "mock injected error",
    }
}

fn millis(now: SystemTime) -> u128 {
    now.duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// A Douyin Open Platform error: HTTP 200, `{"data":{"description","error_code"},
/// "extra":{"logid","now"}}` (protocol §29).
pub(crate) fn dy_error(now: SystemTime, code: i64) -> Response {
    tracing::debug!(error_code = code, "mock wechat: douyin error answer");
    json_response(&json!({
        "data": { "description": description(code), "error_code": code },
        "extra": { "logid": log_id(now), "now": millis(now) },
    }))
}

/// A Douyin success: `data` gets `description` `""` and `error_code` 0 (`"0"` in the older
/// shape), `message` is `success`.
fn dy_ok(s: &Shared, mut data: Value) -> Response {
    let legacy = s.lock().douyin.legacy;
    if let Some(d) = data.as_object_mut() {
        d.insert("description".into(), json!(""));
        d.insert(
            "error_code".into(),
            if legacy { json!("0") } else { json!(0) },
        );
        if legacy {
            for key in ["expires_in", "refresh_expires_in"] {
                if let Some(v) = d.get_mut(key) {
                    *v = json!(v.to_string());
                }
            }
        }
    }
    json_response(&json!({ "data": data, "message": "success" }))
}

/// The error an injected fault answers on a Douyin endpoint, in that endpoint's shape.
pub(crate) fn injected(s: &Shared, path: &str, code: i64) -> Response {
    if path == JSCODE2SESSION {
        super::douyin_mini::mini_error(s.now(), code)
    } else {
        dy_error(s.now(), code)
    }
}

/// A wrong HTTP method on a Douyin API: Douyin's parameter error.
pub(crate) async fn wrong_method(State(s): State<Arc<Shared>>) -> Response {
    dy_error(s.now(), 2100005)
}

/// The fields of a request body: a JSON object (`Content-Type: application/json`, strings
/// and numbers) or a form. `None` when the body is neither. Empty values count as missing.
pub(crate) struct Fields(HashMap<String, String>);

impl Fields {
    pub(crate) fn parse(headers: &HeaderMap, body: &[u8]) -> Option<Fields> {
        let is_json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        if is_json {
            let Value::Object(map) = serde_json::from_slice::<Value>(body).ok()? else {
                return None;
            };
            let fields = map
                .into_iter()
                .filter_map(|(k, v)| match v {
                    Value::String(s) => Some((k, s)),
                    Value::Number(n) => Some((k, n.to_string())),
                    _ => None,
                })
                .collect();
            return Some(Fields(fields));
        }
        let text = std::str::from_utf8(body).ok()?;
        let mut fields = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
            fields
                .entry(k.into_owned())
                .or_insert_with(|| v.into_owned());
        }
        Some(Fields(fields))
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// The app a Douyin call is made for (for `MockWechat::app_calls`): the `client_key` or
/// `appid` of the query or body, else the app of the user `access_token`.
pub(crate) fn app_of_call(
    s: &Shared,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Option<&[u8]>,
) -> Option<String> {
    let p = Params::parse(query);
    if let Some(id) = p.get("client_key").or_else(|| p.get("appid")) {
        return Some(id.to_owned());
    }
    let fields = body.and_then(|b| Fields::parse(headers, b));
    if let Some(f) = &fields
        && let Some(id) = f.get("client_key").or_else(|| f.get("appid"))
    {
        return Some(id.to_owned());
    }
    let token = headers
        .get("access-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| fields.as_ref()?.get("access_token").map(str::to_owned))?;
    let app = s.lock().douyin.access.get(&token)?.app;
    s.douyin_apps.get(app).map(|a| a.client_key.clone())
}

impl Shared {
    /// The index of the Douyin Open Platform app `client_key`.
    pub(crate) fn douyin_app(&self, client_key: &str) -> Option<usize> {
        self.douyin_apps
            .iter()
            .position(|a| a.client_key == client_key)
    }

    /// The index of the Douyin mini-app `appid`.
    pub(crate) fn douyin_miniapp(&self, appid: &str) -> Option<usize> {
        self.douyin_miniapps.iter().position(|a| a.appid == appid)
    }

    fn issue_douyin_code(
        &self,
        owner: DyOwner,
        kind: DyCodeKind,
        user: &str,
        scope: &str,
    ) -> String {
        let now = self.now();
        let ttl = match kind {
            DyCodeKind::OAuth => CODE_TTL,
            DyCodeKind::Login | DyCodeKind::Anonymous => MINI_CODE_TTL,
        };
        // Douyin codes: 32 hex digits and a random tail, e.g. `ffab5ec26cd958fditn2GNr8Wx5m0i…`.
        let code = format!(
            "{}{}",
            hex::encode(rand::random::<[u8; 8]>()),
            ids::alnum(20)
        );
        let record = DyCode {
            owner,
            kind,
            user: user.to_owned(),
            scope: scope.to_owned(),
            expires_at: after(now, ttl),
            used: false,
        };
        self.lock().douyin.codes.insert(code.clone(), record, now);
        code
    }

    /// What `POST /mock/sdk/code` answers for a Douyin id: `None` when `id` is no Douyin app;
    /// for a client key the OpenSDK's code (scope `user_info`); for a mini-app `tt.login()`'s
    /// `code` and `anonymousCode`.
    pub(crate) fn douyin_sdk_code(
        &self,
        id: &str,
        user: &str,
    ) -> Option<Result<(String, Option<String>), MockError>> {
        let owner = match (self.douyin_app(id), self.douyin_miniapp(id)) {
            (Some(i), _) => DyOwner::Open(i),
            (None, Some(j)) => DyOwner::Mini(j),
            (None, None) => return None,
        };
        let Some(user) = self.user(user) else {
            return Some(Err(MockError::UnknownUser(user.to_owned())));
        };
        let name = user.name.clone();
        Some(Ok(match owner {
            DyOwner::Open(_) => (
                self.issue_douyin_code(owner, DyCodeKind::OAuth, &name, "user_info"),
                None,
            ),
            DyOwner::Mini(_) => (
                self.issue_douyin_code(owner, DyCodeKind::Login, &name, ""),
                Some(self.issue_douyin_code(owner, DyCodeKind::Anonymous, &name, "")),
            ),
        }))
    }

    /// Replaces the callback domains of the Douyin app `client_key`; `false` when unknown.
    pub(crate) fn set_douyin_redirect_domains(&self, client_key: &str, domains: &[String]) -> bool {
        let Some(i) = self.douyin_app(client_key) else {
            return false;
        };
        self.lock()
            .douyin
            .redirect_domains
            .insert(i, normalize_domains(domains));
        true
    }

    /// `GET /mock/config`'s Douyin apps.
    pub(crate) fn douyin_config_json(&self) -> Vec<Value> {
        let inner = self.lock();
        let open = self.douyin_apps.iter().enumerate().map(|(i, a)| {
            json!({
                "kind": "douyin",
                "appid": a.client_key,
                "client_key": a.client_key,
                "client_secret": a.client_secret,
                "redirect_domains": inner.douyin.redirect_domains.get(&i).cloned().unwrap_or_default(),
            })
        });
        let mini = self
            .douyin_miniapps
            .iter()
            .map(|m| json!({ "kind": "douyin_miniapp", "appid": m.appid, "secret": m.secret }));
        open.chain(mini).collect()
    }

    /// A user's Douyin ids for `GET /mock/config`: `open_id` per client key / appid.
    pub(crate) fn douyin_open_ids(
        &self,
        user: &MockUser,
    ) -> std::collections::BTreeMap<String, String> {
        let open = self.douyin_apps.iter().map(|a| &a.client_key);
        let mini = self.douyin_miniapps.iter().map(|m| &m.appid);
        open.chain(mini)
            .map(|id| (id.clone(), user.douyin_open_id_for(id)))
            .collect()
    }
}

/// A page request that passed Douyin's checks.
struct Valid {
    app: usize,
    scope: String,
    state: Option<String>,
    redirect: Url,
}

fn page_error(msg: &str, reason: &str) -> Box<Response> {
    Box::new(error_page(None, msg, reason))
}

/// Douyin's checks on `platform/oauth/connect/`, in order. Errors are HTML pages with an
/// `x-mock-error` naming the reason.
fn validate(s: &Shared, p: &Params) -> Result<Valid, Box<Response>> {
    let Some(app) = p.get("client_key").and_then(|k| s.douyin_app(k)) else {
        return Err(page_error("client_key 不存在或参数错误", "client_key"));
    };
    if p.get("response_type") != Some("code") {
        return Err(page_error(
            "response_type 参数错误（须为 code）",
            "response_type",
        ));
    }
    let scope = p.get("scope").unwrap_or_default();
    if !scope.split(',').any(|sc| sc.trim() == "user_info") {
        return Err(page_error("scope 参数错误（须含 user_info）", "scope"));
    }
    let Some(mut redirect) = p
        .get("redirect_uri")
        .and_then(|r| Url::parse(r).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
    else {
        return Err(page_error("redirect_uri 参数错误", "redirect_uri"));
    };
    // Only the part before `#` is compared; it must carry no query of its own.
    redirect.set_fragment(None);
    if redirect.query().is_some() {
        return Err(page_error(
            "redirect_uri 不能带参数（请放进 state）",
            "redirect_query",
        ));
    }
    let host = redirect.host_str().map(str::to_ascii_lowercase);
    let allowed = host.is_some_and(|h| {
        s.lock()
            .douyin
            .redirect_domains
            .get(&app)
            .is_some_and(|d| d.contains(&h))
    });
    if !allowed {
        return Err(page_error(
            "redirect_uri 与应用配置的授权回调域不一致",
            "redirect_domain",
        ));
    }
    Ok(Valid {
        app,
        scope: scope.to_owned(),
        state: p
            .has("state")
            .then(|| p.get("state").unwrap_or_default().to_owned()),
        redirect,
    })
}

/// `GET /platform/oauth/connect/`: the page a person sees (a button per user and a refusal),
/// or with `mock_user` / `mock_action` the 302 at once.
pub(crate) async fn connect(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let raw = q.as_deref().unwrap_or_default();
    let p = Params::parse(Some(raw));
    let valid = match validate(&s, &p) {
        Ok(v) => v,
        Err(resp) => return *resp,
    };
    match (p.get("mock_action"), p.get("mock_user")) {
        (None, None) => login_page(&s, &valid, raw),
        (None | Some("approve"), Some(name)) => match s.user(name) {
            Some(user) => {
                let code = s.issue_douyin_code(
                    DyOwner::Open(valid.app),
                    DyCodeKind::OAuth,
                    &user.name,
                    &valid.scope,
                );
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

/// `redirect_uri?code=…&state=…&scopes=…` (approved) or `redirect_uri?state=…` (refused).
fn callback(v: &Valid, code: Option<&str>) -> Response {
    let mut url = v.redirect.clone();
    {
        let mut q = url.query_pairs_mut();
        if let Some(code) = code {
            q.append_pair("code", code);
        }
        if let Some(state) = &v.state {
            q.append_pair("state", state);
        }
        if code.is_some() {
            q.append_pair("scopes", &v.scope);
        }
    }
    match HeaderValue::from_str(url.as_str()) {
        Ok(location) => {
            let mut resp = StatusCode::FOUND.into_response();
            resp.headers_mut().insert(header::LOCATION, location);
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(_) => error_page(None, "redirect_uri 参数错误", "redirect_uri"),
    }
}

fn login_page(s: &Shared, v: &Valid, raw: &str) -> Response {
    let base: Vec<&str> = raw
        .split('&')
        .filter(|seg| {
            let key = seg.split('=').next().unwrap_or_default();
            !seg.is_empty() && key != "mock_user" && key != "mock_action"
        })
        .collect();
    let base = format!("/{CONNECT}?{}", base.join("&"));
    let link = |user: Option<&str>, action: &str| {
        let user = user
            .map(|u| {
                let u: String = url::form_urlencoded::byte_serialize(u.as_bytes()).collect();
                format!("&mock_user={u}")
            })
            .unwrap_or_default();
        escape(&format!("{base}{user}&mock_action={action}"))
    };
    let app = &s.douyin_apps[v.app];
    let mut items = String::new();
    for u in &s.users {
        let _ = write!(
            items,
            "<li><a class=\"button approve\" href=\"{}\">以 {} 身份授权（open_id {}，approve as {}）</a></li>",
            link(Some(&u.name), "approve"),
            escape(&u.nickname),
            escape(&u.douyin_open_id_for(&app.client_key)),
            escape(&u.name),
        );
    }
    let title = "抖音授权登录（mock）";
    let html = format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title>{STYLE}</head><body><main><h1>{title}</h1>\
         <p class=\"code\">client_key {key} · scope {scope} · redirect {redirect}</p>\
         <p>获取你的公开信息（昵称、头像）</p>\
         <ul class=\"users\">{items}</ul>\
         <p><a class=\"button deny\" href=\"{deny}\">拒绝（deny）</a></p></main></body></html>",
        key = escape(&app.client_key),
        scope = escape(&v.scope),
        redirect = escape(v.redirect.as_str()),
        deny = link(None, "deny"),
    );
    Html(html).into_response()
}

/// The app of `client_key` with the right secret, or the error code.
fn authenticated(s: &Shared, f: &Fields, missing: i64) -> Result<usize, i64> {
    let (Some(key), Some(secret)) = (f.get("client_key"), f.get("client_secret")) else {
        return Err(missing);
    };
    let app = s.douyin_app(key).ok_or(10003)?;
    if s.douyin_apps[app].client_secret != secret {
        return Err(10013);
    }
    Ok(app)
}

fn act() -> String {
    format!(
        "act.{}{}",
        hex::encode(rand::random::<[u8; 16]>()),
        ids::alnum(24)
    )
}

fn rft() -> String {
    format!(
        "rft.{}{}",
        hex::encode(rand::random::<[u8; 16]>()),
        ids::alnum(24)
    )
}

/// A new access token for `user` in `app`; the `data` of an exchange or a refresh.
fn token_data(
    s: &Shared,
    app: usize,
    user: &str,
    scope: &str,
    refresh: &str,
    refresh_left: u64,
) -> Value {
    let now = s.now();
    let access = act();
    let record = DyAccess {
        app,
        user: user.to_owned(),
        scope: scope.to_owned(),
        expires_at: after(now, ACCESS_TTL),
    };
    s.lock().douyin.access.insert(access.clone(), record, now);
    let open_id = s
        .user(user)
        .map(|u| u.douyin_open_id_for(&s.douyin_apps[app].client_key))
        .unwrap_or_default();
    json!({
        "access_token": access,
        "captcha": "",
        "desc_url": "",
        "expires_in": ACCESS_TTL.as_secs(),
        "log_id": log_id(now),
        "open_id": open_id,
        "refresh_expires_in": refresh_left,
        "refresh_token": refresh,
        "scope": scope,
    })
}

/// `POST /oauth/access_token/` (form or JSON `client_key, client_secret, code,
/// grant_type=authorization_code`).
pub(crate) async fn access_token(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = s.now();
    let Some(f) = Fields::parse(&headers, &body) else {
        return dy_error(now, 2100005);
    };
    if f.get("grant_type") != Some("authorization_code") || f.get("code").is_none() {
        return dy_error(now, 2100005);
    }
    let app = match authenticated(&s, &f, 2100005) {
        Ok(a) => a,
        Err(code) => return dy_error(now, code),
    };
    let code = f.get("code").unwrap_or_default();
    let record = {
        let mut inner = s.lock();
        match inner.douyin.codes.get_mut(code) {
            Some(c)
                if !c.used
                    && c.expires_at > now
                    && c.kind == DyCodeKind::OAuth
                    && c.owner == DyOwner::Open(app) =>
            {
                c.used = true;
                Some(c.clone())
            }
            _ => None,
        }
    };
    // A used, expired, unknown or other app's code: Douyin's parameter error (the protocol
    // notes name no dedicated code, §31).
    let Some(record) = record else {
        return dy_error(now, 2100005);
    };
    let refresh = rft();
    let stored = DyRefresh {
        app,
        user: record.user.clone(),
        scope: record.scope.clone(),
        expires_at: after(now, REFRESH_TTL),
        renewals: 0,
    };
    s.lock().douyin.refresh.insert(refresh.clone(), stored, now);
    let data = token_data(
        &s,
        app,
        &record.user,
        &record.scope,
        &refresh,
        REFRESH_TTL.as_secs(),
    );
    dy_ok(&s, data)
}

/// The live refresh token `f["refresh_token"]` of the app `f["client_key"]`.
fn live_refresh(
    s: &Shared,
    f: &Fields,
    now: SystemTime,
) -> Result<(usize, String, DyRefresh), i64> {
    let (Some(key), Some(token)) = (f.get("client_key"), f.get("refresh_token")) else {
        return Err(2100005);
    };
    let app = s.douyin_app(key).ok_or(10003)?;
    match s.lock().douyin.refresh.get(token) {
        Some(r) if r.app != app => Err(2100005),
        Some(r) if r.expires_at <= now => Err(10010),
        Some(r) => Ok((app, token.to_owned(), r.clone())),
        None => Err(2100005),
    }
}

/// `POST /oauth/refresh_token/` (`client_key, grant_type=refresh_token, refresh_token`): a
/// new 15-day access token; the refresh token and its expiry stay.
pub(crate) async fn refresh_token(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = s.now();
    let Some(f) = Fields::parse(&headers, &body) else {
        return dy_error(now, 2100005);
    };
    if f.get("grant_type") != Some("refresh_token") {
        return dy_error(now, 2100005);
    }
    let (app, token, r) = match live_refresh(&s, &f, now) {
        Ok(found) => found,
        Err(code) => return dy_error(now, code),
    };
    let left = secs_until(now, r.expires_at);
    let data = token_data(&s, app, &r.user, &r.scope, &token, left);
    dy_ok(&s, data)
}

/// `POST /oauth/renew_refresh_token/` (`client_key, refresh_token`): a new 30-day refresh
/// token replacing the old one; at most 5 per chain, then 10020.
pub(crate) async fn renew_refresh_token(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = s.now();
    let Some(f) = Fields::parse(&headers, &body) else {
        return dy_error(now, 2100005);
    };
    let (_, token, r) = match live_refresh(&s, &f, now) {
        Ok(found) => found,
        Err(code) => return dy_error(now, code),
    };
    if r.renewals >= MAX_RENEWALS {
        return dy_error(now, 10020);
    }
    let renewed = rft();
    let record = DyRefresh {
        expires_at: after(now, REFRESH_TTL),
        renewals: r.renewals + 1,
        ..r
    };
    {
        let mut inner = s.lock();
        inner.douyin.refresh.remove(&token);
        inner.douyin.refresh.insert(renewed.clone(), record, now);
    }
    dy_ok(
        &s,
        json!({ "expires_in": REFRESH_TTL.as_secs(), "refresh_token": renewed }),
    )
}

/// `POST /oauth/client_token/` (JSON or form `client_key, client_secret,
/// grant_type=client_credential`): a `clt.…` token of 7200 s; the previous one dies 5 minutes
/// later; more than 500 calls in 5 minutes → 10020.
pub(crate) async fn client_token(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = s.now();
    let Some(f) = Fields::parse(&headers, &body) else {
        return dy_error(now, 10002);
    };
    if f.get("grant_type") != Some("client_credential") {
        return dy_error(now, 10002);
    }
    let app = match authenticated(&s, &f, 10002) {
        Ok(a) => a,
        Err(code) => return dy_error(now, code),
    };
    let token = format!(
        "clt.{}{}",
        hex::encode(rand::random::<[u8; 16]>()),
        ids::alnum(24)
    );
    {
        let mut inner = s.lock();
        let calls = inner.douyin.client_calls.entry(app).or_default();
        while calls
            .front()
            .is_some_and(|t| after(*t, CLIENT_WINDOW) <= now)
        {
            calls.pop_front();
        }
        if calls.len() >= CLIENT_RATE {
            drop(inner);
            return dy_error(now, 10020);
        }
        calls.push_back(now);
        let dy = &mut inner.douyin;
        if let Some(prev) = dy.client_latest.insert(app, token.clone())
            && let Some(p) = dy.clients.get_mut(&prev)
        {
            p.expires_at = p.expires_at.min(after(now, CLIENT_OVERLAP));
        }
        let record = DyClient {
            app,
            expires_at: after(now, CLIENT_TTL),
        };
        dy.clients.insert(token.clone(), record, now);
    }
    dy_ok(
        &s,
        json!({ "access_token": token, "expires_in": CLIENT_TTL.as_secs() }),
    )
}

/// `POST /oauth/userinfo/` (header `access-token` and/or field `access_token`, field
/// `open_id`): `avatar`, `nickname`, `open_id`, `union_id` — never `uid`, `short_id` or
/// `unique_id`.
pub(crate) async fn userinfo(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = s.now();
    let f = Fields::parse(&headers, &body).unwrap_or(Fields(HashMap::new()));
    let header_token = headers.get("access-token").and_then(|v| v.to_str().ok());
    let token = header_token
        .filter(|t| !t.is_empty())
        .or(f.get("access_token"));
    let (Some(token), Some(open_id)) = (token, f.get("open_id")) else {
        return dy_error(now, 28001007);
    };
    let record = match s.lock().douyin.access.get(token) {
        None => return dy_error(now, 28001007),
        Some(t) if t.expires_at <= now => return dy_error(now, 28001008),
        Some(t) => t.clone(),
    };
    if !record.scope.split(',').any(|sc| sc.trim() == "user_info") {
        return dy_error(now, 28001012);
    }
    let Some(user) = s.user(&record.user) else {
        return dy_error(now, 28001007);
    };
    let own = user.douyin_open_id_for(&s.douyin_apps[record.app].client_key);
    if own != open_id {
        return dy_error(now, 28001015);
    }
    let mut data = json!({
        "avatar": user.headimgurl,
        "nickname": user.nickname,
        "open_id": own,
        "union_id": user.douyin_union_id(),
    });
    if s.lock().douyin.legacy {
        data["gender"] = json!(0);
        for key in ["city", "country", "province"] {
            data[key] = json!("");
        }
    }
    dy_ok(&s, data)
}

impl super::MockWechat {
    /// Stands for `https://open.douyin.com` (the mock's own origin): the authorize page and
    /// `oauth/*`. The layer reads it from `WECHAT_DOUYIN_OPEN_BASE`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.douyin_open_base(), mock.url());
    /// # Ok(()) }
    /// ```
    pub fn douyin_open_base(&self) -> String {
        self.url()
    }

    /// Stands for `https://developer.toutiao.com` (the mock's own origin):
    /// `api/apps/v2/jscode2session`. The layer reads it from `WECHAT_DOUYIN_MINIAPP_BASE`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.douyin_miniapp_base(), mock.url());
    /// # Ok(()) }
    /// ```
    pub fn douyin_miniapp_base(&self) -> String {
        self.url()
    }

    /// The primary Douyin Open Platform app (default [`MockDouyinApp::default_app`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.douyin_app().client_key, "awmock0000000001");
    /// # Ok(()) }
    /// ```
    pub fn douyin_app(&self) -> &MockDouyinApp {
        &self.shared.douyin_apps[0]
    }

    /// Every Douyin Open Platform app.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.douyin_apps().len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn douyin_apps(&self) -> &[MockDouyinApp] {
        &self.shared.douyin_apps
    }

    /// The primary Douyin mini-app (default [`MockDouyinMiniApp::default_miniapp`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.douyin_miniapp().appid, "ttmock00000000001");
    /// # Ok(()) }
    /// ```
    pub fn douyin_miniapp(&self) -> &MockDouyinMiniApp {
        &self.shared.douyin_miniapps[0]
    }

    /// Every Douyin mini-app.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.douyin_miniapps().len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn douyin_miniapps(&self) -> &[MockDouyinMiniApp] {
        &self.shared.douyin_miniapps
    }

    /// The environment that points an app's Douyin side at this mock:
    /// `WECHAT_DOUYIN_OPEN_BASE`, `WECHAT_DOUYIN_MINIAPP_BASE`, `WECHAT_DOUYIN_CLIENT_KEY`,
    /// `WECHAT_DOUYIN_CLIENT_SECRET`, `WECHAT_DOUYIN_MINIAPP_ID`, `WECHAT_DOUYIN_MINIAPP_SECRET`
    /// (the primary apps). Kept apart from [`MockWechat::env_vars`](super::MockWechat::env_vars)
    /// so that an app started with those alone has no Douyin channel.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let env = mock.douyin_env_vars();
    /// assert!(env.contains(&("WECHAT_DOUYIN_CLIENT_KEY", "awmock0000000001".to_owned())));
    /// assert!(env.contains(&("WECHAT_DOUYIN_OPEN_BASE", mock.url())));
    /// # Ok(()) }
    /// ```
    pub fn douyin_env_vars(&self) -> Vec<(&'static str, String)> {
        let app = self.douyin_app();
        let mini = self.douyin_miniapp();
        vec![
            ("WECHAT_DOUYIN_OPEN_BASE", self.douyin_open_base()),
            ("WECHAT_DOUYIN_MINIAPP_BASE", self.douyin_miniapp_base()),
            ("WECHAT_DOUYIN_CLIENT_KEY", app.client_key.clone()),
            ("WECHAT_DOUYIN_CLIENT_SECRET", app.client_secret.clone()),
            ("WECHAT_DOUYIN_MINIAPP_ID", mini.appid.clone()),
            ("WECHAT_DOUYIN_MINIAPP_SECRET", mini.secret.clone()),
        ]
    }

    /// Replaces the callback domains (授权回调域) of the Douyin app `client_key` (hosts; any
    /// `:port` is ignored). Also `POST /mock/redirect_domains` with the client key as
    /// `appid`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let key = mock.douyin_app().client_key.clone();
    /// mock.set_douyin_redirect_domains(&key, vec!["App.Example:443".into()]).unwrap();
    /// assert_eq!(mock.douyin_redirect_domains(&key), ["app.example"]);
    /// assert!(mock.set_douyin_redirect_domains("aw_nope", vec![]).is_err());
    /// # Ok(()) }
    /// ```
    pub fn set_douyin_redirect_domains(
        &self,
        client_key: &str,
        domains: Vec<String>,
    ) -> Result<(), MockError> {
        if self
            .shared
            .set_douyin_redirect_domains(client_key, &domains)
        {
            Ok(())
        } else {
            Err(MockError::UnknownApp(client_key.to_owned()))
        }
    }

    /// The callback domains of the Douyin app `client_key` (empty when unknown).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.douyin_redirect_domains("awmock0000000001"), ["127.0.0.1", "localhost"]);
    /// # Ok(()) }
    /// ```
    pub fn douyin_redirect_domains(&self, client_key: &str) -> Vec<String> {
        let Some(i) = self.shared.douyin_app(client_key) else {
            return Vec::new();
        };
        (self.shared.lock().douyin.redirect_domains.get(&i))
            .cloned()
            .unwrap_or_default()
    }

    /// Sticky switch: while on, Douyin's successful `oauth/*` answers take the older sample
    /// shapes — `error_code` the string `"0"`, `expires_in` / `refresh_expires_in` strings,
    /// and `oauth/userinfo/` adds `gender`, `city`, `country`, `province` — to catch clients
    /// that trust one shape. Also `POST /mock/douyin/legacy {"on": bool}`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// mock.set_douyin_legacy_shapes(true);
    /// # Ok(()) }
    /// ```
    pub fn set_douyin_legacy_shapes(&self, on: bool) {
        self.shared.lock().douyin.legacy = on;
    }

    /// The client key whose live `client_token` (`clt.…`, from `oauth/client_token/`) `token`
    /// is; `None` when unknown or dead — expired after 7200 s, or 5 minutes after a newer one
    /// was issued (mock clock).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert_eq!(mock.douyin_client_token_app("clt.nope"), None);
    /// # Ok(()) }
    /// ```
    pub fn douyin_client_token_app(&self, token: &str) -> Option<String> {
        let now = self.now();
        let app = (self.shared.lock().douyin.clients.get(token))
            .filter(|c| c.expires_at > now)?
            .app;
        self.shared
            .douyin_apps
            .get(app)
            .map(|a| a.client_key.clone())
    }

    /// `tt.login()`'s `anonymousCode` for `user` in the Douyin mini-app `appid` (single use,
    /// 5 minutes): `api/apps/v2/jscode2session` with `anonymous_code` answers the user's
    /// `anonymous_openid` for it. `POST /mock/sdk/code` answers one beside the `code`.
    ///
    /// Errors: [`MockError::UnknownApp`] for an id that is no Douyin mini-app,
    /// [`MockError::UnknownUser`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// let appid = mock.douyin_miniapp().appid.clone();
    /// assert!(mock.douyin_anonymous_code(&appid, "alice").is_ok());
    /// assert!(mock.douyin_anonymous_code("awmock0000000001", "alice").is_err());
    /// # Ok(()) }
    /// ```
    pub fn douyin_anonymous_code(&self, appid: &str, user: &str) -> Result<String, MockError> {
        let Some(j) = self.shared.douyin_miniapp(appid) else {
            return Err(MockError::UnknownApp(appid.to_owned()));
        };
        let user = self
            .shared
            .user(user)
            .ok_or_else(|| MockError::UnknownUser(user.to_owned()))?
            .name
            .clone();
        Ok(self
            .shared
            .issue_douyin_code(DyOwner::Mini(j), DyCodeKind::Anonymous, &user, ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn log_ids_start_with_the_utc_date_and_time() {
        // Protocol §29's error sample: `now` 1594015876138, logid 20200706141116….
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_594_015_876);
        let id = log_id(t);
        assert!(id.starts_with("20200706141116"), "{id}");
        assert_eq!(id.len(), 34);
        // 2000-02-29 00:00:00 Beijing time.
        let leap = std::time::UNIX_EPOCH + Duration::from_secs(951_782_400 - 8 * 3600);
        assert!(log_id(leap).starts_with("20000229000000"));
    }

    #[test]
    fn fields_read_json_and_forms() {
        let mut json_headers = HeaderMap::new();
        json_headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let f = Fields::parse(&json_headers, br#"{"a":"x","n":7,"e":"","o":{}}"#).unwrap();
        assert_eq!(
            (f.get("a"), f.get("n"), f.get("e"), f.get("o")),
            (Some("x"), Some("7"), None, None)
        );
        assert!(Fields::parse(&json_headers, b"[1]").is_none());
        let f = Fields::parse(&HeaderMap::new(), b"a=x%2By&a=z").unwrap();
        assert_eq!(f.get("a"), Some("x+y"));
    }
}
