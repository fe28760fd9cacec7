//! The control side of the mock: operations shared by the [`MockWechat`](super::MockWechat)
//! handle and the HTTP control API under `/mock/*` (design §6).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::clock::{after, unix_secs};
use super::config::AppKind;
use super::errors::{MockError, control_error, json};
use super::faults::{ENDPOINTS, Fault};
use super::ids;
use super::params::Params;
use super::state::{Follow, PHONE_CODE_TTL, PhoneCode, Shared, normalize_domains};
use super::wxa;

impl Shared {
    /// A code as the mobile SDK (`snsapi_userinfo`) or `wx.login()` (a js_code) would hand
    /// the app.
    pub(crate) fn sdk_code(&self, appid: &str, user: &str) -> Result<String, MockError> {
        if let Some(douyin) = self.douyin_sdk_code(appid, user) {
            return douyin.map(|(code, _)| code);
        }
        let app = self
            .app(appid)
            .ok_or_else(|| MockError::UnknownApp(appid.to_owned()))?;
        let user = self
            .user(user)
            .ok_or_else(|| MockError::UnknownUser(user.to_owned()))?;
        match app.kind {
            AppKind::Mobile => Ok(self.issue_code(app, user, "snsapi_userinfo", false)),
            AppKind::MiniProgram => Ok(self.issue_code(app, user, "", false)),
            kind => Err(MockError::WrongAppKind {
                appid: app.appid.clone(),
                kind: kind.as_str(),
                reason: "SDK codes exist for mobile apps and mini programs only",
            }),
        }
    }

    /// A `getPhoneNumber` button code of `user` for the mini program `appid`.
    pub(crate) fn phone_code(&self, appid: &str, user: &str) -> Result<String, MockError> {
        let app = self
            .app(appid)
            .ok_or_else(|| MockError::UnknownApp(appid.to_owned()))?;
        let user = self
            .user(user)
            .ok_or_else(|| MockError::UnknownUser(user.to_owned()))?;
        if app.kind != AppKind::MiniProgram {
            return Err(MockError::WrongAppKind {
                appid: app.appid.clone(),
                kind: app.kind.as_str(),
                reason: "phone codes exist for mini programs only",
            });
        }
        let now = self.now();
        let code = ids::code();
        let record = PhoneCode {
            appid: app.appid.clone(),
            user: user.name.clone(),
            openid: user.openid_for(&app.appid),
            expires_at: after(now, PHONE_CODE_TTL),
            used: false,
        };
        self.lock().phone_codes.insert(code.clone(), record, now);
        Ok(code)
    }

    /// The primary mini program opened from a code with `scene`: the scene and a js_code.
    pub(crate) fn open_mini_program(
        &self,
        scene: &str,
        user: &str,
    ) -> Result<(String, String), MockError> {
        if wxa::check_scene(scene).is_err() {
            return Err(MockError::Invalid(format!(
                "scene {scene:?} is no mini program code scene: 1..=32 characters of \
                 [0-9A-Za-z!#$&'()*+,/:;=?@-._~]"
            )));
        }
        let mini = self.primary(AppKind::MiniProgram).appid.clone();
        let code = self.sdk_code(&mini, user)?;
        Ok((scene.to_owned(), code))
    }

    pub(crate) fn set_redirect_domains(
        &self,
        appid: &str,
        domains: &[String],
    ) -> Result<(), MockError> {
        if self.app(appid).is_none() {
            return Err(MockError::UnknownApp(appid.to_owned()));
        }
        self.lock()
            .redirect_domains
            .insert(appid.to_owned(), normalize_domains(domains));
        Ok(())
    }

    pub(crate) fn set_subscribed(
        &self,
        appid: &str,
        user: &str,
        subscribed: bool,
    ) -> Result<(), MockError> {
        if self.user(user).is_none() {
            return Err(MockError::UnknownUser(user.to_owned()));
        }
        let now = self.now();
        let mut inner = self.lock();
        let key = (appid.to_owned(), user.to_owned());
        if subscribed {
            inner
                .follows
                .entry(key)
                .or_insert_with(|| Follow::other(now));
        } else {
            inner.follows.remove(&key);
        }
        Ok(())
    }

    pub(crate) fn set_push_url(&self, appid: &str, url: Option<&str>) -> Result<(), MockError> {
        let app = match (self.app(appid), self.wecom_suite(appid)) {
            (Some(app), _) => Some(app),
            (None, Some(_)) => None,
            (None, None) => return Err(MockError::UnknownApp(appid.to_owned())),
        };
        if let Some(app) = app
            && app.kind != AppKind::OfficialAccount
        {
            return Err(MockError::WrongAppKind {
                appid: app.appid.clone(),
                kind: app.kind.as_str(),
                reason: "only Official Accounts and WeCom suites have a push URL",
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
                        "push URL must be http(s): {u:?}"
                    )));
                }
                inner.push_urls.insert(appid.to_owned(), u.to_owned());
            }
            None => {
                inner.push_urls.remove(appid);
            }
        }
        Ok(())
    }

    pub(crate) fn all_calls(&self) -> BTreeMap<String, u64> {
        self.lock().calls.clone()
    }

    /// The JSON of `GET /mock/config`.
    pub(crate) fn config_json(&self) -> Value {
        let inner = self.lock();
        let apps: Vec<Value> = self
            .apps
            .iter()
            .map(|a| {
                let mut v = json!({
                    "kind": a.kind.as_str(),
                    "appid": a.appid,
                    "secret": a.secret,
                    "bound": a.bound,
                    "redirect_domains": inner.redirect_domains.get(&a.appid).cloned().unwrap_or_default(),
                });
                if a.kind == AppKind::OfficialAccount {
                    v["token"] = json!(a.token);
                    v["encoding_aes_key"] = json!(a.encoding_aes_key);
                    v["original_id"] = json!(a.original_id);
                    v["push_url"] = json!(inner.push_urls.get(&a.appid));
                    v["verified"] = json!(a.verified);
                }
                if a.kind == AppKind::MiniProgram {
                    v["pages"] = json!(a.pages);
                }
                v
            })
            .collect();
        let oa = &self.primary(AppKind::OfficialAccount).appid;
        let users: Vec<Value> = self
            .users
            .iter()
            .map(|u| {
                let openids: BTreeMap<&str, String> = self
                    .apps
                    .iter()
                    .map(|a| (a.appid.as_str(), u.openid_for(&a.appid)))
                    .collect();
                let wecom_openids: BTreeMap<&str, String> = (self.wecom_corps.iter())
                    .filter(|c| c.member(&u.name).is_none())
                    .map(|c| (c.corp_id.as_str(), c.openid_for(u)))
                    .collect();
                json!({
                    "name": u.name,
                    "nickname": u.nickname,
                    "douyin_union_id": u.douyin_union_id(),
                    "douyin_open_ids": self.douyin_open_ids(u),
                    "wecom_openids": wecom_openids,
                    "headimgurl": u.headimgurl,
                    "unionid": u.unionid,
                    "phone": u.phone,
                    "openids": openids,
                    "subscribed": inner.follows.contains_key(&(oa.clone(), u.name.clone())),
                    "blocked": inner.blocked.contains(&u.name),
                })
            })
            .collect();
        let wecom = self.wecom_corps.iter().enumerate().map(|(i, c)| {
            json!({
                "kind": "wecom",
                "appid": c.corp_id,
                "corp_id": c.corp_id,
                "agent_id": c.agent_id,
                "secret": c.secret,
                "members": c.members.iter().map(|m| json!({
                    "name": m.name, "user_id": m.user_id, "gender": m.gender,
                })).collect::<Vec<_>>(),
                "trusted_domains": inner
                    .wecom
                    .trusted
                    .get(&super::wecom_state::Owner::Corp(i))
                    .cloned()
                    .unwrap_or_default(),
            })
        });
        let suites = self.wecom_suites.iter().enumerate().map(|(i, w)| {
            json!({
                "kind": "wecom_suite",
                "appid": w.suite_id,
                "suite_id": w.suite_id,
                "suite_secret": w.suite_secret,
                "token": w.token,
                "encoding_aes_key": w.encoding_aes_key,
                "push_url": inner.push_urls.get(&w.suite_id),
                "trusted_domains": inner
                    .wecom
                    .trusted
                    .get(&super::wecom_state::Owner::Suite(i))
                    .cloned()
                    .unwrap_or_default(),
                "authorized_corps": w.authorized_corps,
            })
        });
        let wecom: Vec<Value> = wecom.chain(suites).collect();
        drop(inner);
        let douyin = self.douyin_config_json();
        let apps: Vec<Value> = apps.into_iter().chain(wecom).chain(douyin).collect();
        json!({
            "apps": apps,
            "users": users,
            "douyin_open_base": self.base_url,
            "douyin_miniapp_base": self.base_url,
        })
    }
}

/// Parses a control-API body, answering 400 on anything unexpected.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| Box::new(control_error(format!("bad JSON body: {e}"))))
}

/// `GET /mock/config`
pub(crate) async fn config(State(s): State<Arc<Shared>>) -> Response {
    json(&s.config_json())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SdkCodeReq {
    appid: String,
    user: String,
}

/// `POST /mock/sdk/code` `{"appid","user"}` → `{"code"}`
pub(crate) async fn sdk_code(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: SdkCodeReq = match parse(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    if let Some(douyin) = s.douyin_sdk_code(&req.appid, &req.user) {
        return match douyin {
            Ok((code, None)) => json(&json!({ "code": code })),
            Ok((code, Some(anonymous))) => {
                json(&json!({ "code": code, "anonymous_code": anonymous }))
            }
            Err(e) => control_error(e),
        };
    }
    match s.sdk_code(&req.appid, &req.user) {
        Ok(code) => json(&json!({ "code": code })),
        Err(e) => control_error(e),
    }
}

/// `POST /mock/sdk/phone_code` `{"appid","user"}` → `{"code"}`
pub(crate) async fn phone_code(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: SdkCodeReq = match parse(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    match s.phone_code(&req.appid, &req.user) {
        Ok(code) => json(&json!({ "code": code })),
        Err(e) => control_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenReq {
    scene: Option<String>,
    url_link: Option<String>,
    user: String,
}

/// `POST /mock/miniprogram/open`: `{"scene","user"}` → `{"scene","code"}` (a mini program
/// code scanned), or `{"url_link","user"}` → `{"appid","scene","code","query","path",
/// "env_version","scene_id"}` (a mini program link opened; 404 for an unknown or expired
/// link).
pub(crate) async fn open_mini_program(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: OpenReq = match parse(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    match (req.scene, req.url_link) {
        (Some(scene), None) => match s.open_mini_program(&scene, &req.user) {
            Ok((scene, code)) => json(&json!({ "scene": scene, "code": code })),
            Err(e) => control_error(e),
        },
        (None, Some(link)) => match s.open_url_link(&link, &req.user) {
            Ok(opened) => json(&opened.to_json()),
            Err(e @ (MockError::UnknownLink(_) | MockError::ExpiredLink(_))) => {
                let mut resp = control_error(e);
                *resp.status_mut() = StatusCode::NOT_FOUND;
                resp
            }
            Err(e) => control_error(e),
        },
        _ => control_error(
            "give exactly one of scene (a mini program code) or url_link (a mini program link)",
        ),
    }
}

/// `GET /mock/calls`: calls per endpoint; `GET /mock/calls?appid=APPID`: the calls made for
/// that app (see `MockWechat::app_calls`), `{}` when none.
pub(crate) async fn calls(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    match p.get("appid") {
        Some(appid) => {
            let counts = s.lock().app_calls.get(appid).cloned().unwrap_or_default();
            json(&json!(counts))
        }
        None => json(&json!(s.all_calls())),
    }
}

/// `DELETE /mock/calls`: resets every counter (per app too); answers the (empty) counters.
pub(crate) async fn reset_calls(State(s): State<Arc<Shared>>) -> Response {
    let mut inner = s.lock();
    inner.calls.clear();
    inner.app_calls.clear();
    drop(inner);
    json(&json!({}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultReq {
    endpoint: String,
    errcode: Option<i64>,
    http_status: Option<u16>,
    delay_ms: Option<u64>,
    text_plain: Option<bool>,
    times: Option<u32>,
}

/// `POST /mock/faults`: exactly one of `errcode`, `http_status`, `delay_ms`, `text_plain`
/// (true); `times` defaults to 1.
pub(crate) async fn add_fault(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: FaultReq = match parse(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let endpoint = req.endpoint.trim_start_matches('/');
    if !ENDPOINTS.contains(&endpoint) {
        return control_error(format!(
            "unknown endpoint {:?}; known: {}",
            req.endpoint,
            ENDPOINTS.join(", ")
        ));
    }
    let mut kinds = Vec::new();
    if let Some(code) = req.errcode {
        kinds.push(Fault::Errcode(code));
    }
    if let Some(status) = req.http_status {
        if !(100..=599).contains(&status) {
            return control_error("http_status must be 100..=599");
        }
        kinds.push(Fault::HttpStatus(status));
    }
    if let Some(ms) = req.delay_ms {
        kinds.push(Fault::Delay(Duration::from_millis(ms)));
    }
    if req.text_plain == Some(true) {
        kinds.push(Fault::TextPlain);
    }
    let [fault] = kinds[..] else {
        return control_error(
            "give exactly one of errcode, http_status, delay_ms, text_plain (true)",
        );
    };
    let times = req.times.unwrap_or(1);
    s.lock().faults.queue(endpoint, fault, times);
    json(&json!({ "endpoint": endpoint, "times": times }))
}

/// `DELETE /mock/faults`: forgets every queued fault.
pub(crate) async fn clear_faults(State(s): State<Arc<Shared>>) -> Response {
    s.lock().faults.clear();
    json(&json!({}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockReq {
    advance_secs: u64,
}

/// `POST /mock/clock` `{"advance_secs": N}` → `{"now": UNIX_SECS}`
pub(crate) async fn advance_clock(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: ClockReq = match parse(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    s.clock.advance(Duration::from_secs(req.advance_secs));
    json(&json!({ "now": unix_secs(s.now()) }))
}

/// `GET /mock/clock` → `{"now": UNIX_SECS}` (the mock's time).
pub(crate) async fn clock(State(s): State<Arc<Shared>>) -> Response {
    json(&json!({ "now": unix_secs(s.now()) }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FollowReq {
    user: String,
    subscribed: bool,
    appid: Option<String>,
}

/// `POST /mock/follow` `{"user","subscribed","appid"?}`: whether the user follows the
/// Official Account (default: the primary one).
pub(crate) async fn follow(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: FollowReq = match parse(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let appid = req
        .appid
        .unwrap_or_else(|| s.primary(AppKind::OfficialAccount).appid.clone());
    match s.app(&appid) {
        Some(a) if a.kind == AppKind::OfficialAccount => {}
        _ => return control_error(format!("{appid:?} is not an Official Account of this mock")),
    }
    match s.set_subscribed(&appid, &req.user, req.subscribed) {
        Ok(()) => json(&json!({ "user": req.user, "subscribed": req.subscribed })),
        Err(e) => control_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainsReq {
    appid: String,
    domains: Vec<String>,
}

/// `POST /mock/redirect_domains` `{"appid","domains":[…]}`
pub(crate) async fn redirect_domains(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: DomainsReq = match parse(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    if s.set_douyin_redirect_domains(&req.appid, &req.domains) {
        return json(&json!({ "appid": req.appid, "domains": normalize_domains(&req.domains) }));
    }
    if s.set_wecom_trusted(&req.appid, &req.domains) {
        let domains = super::wecom_state::normalize_trusted(&req.domains);
        return json(&json!({ "appid": req.appid, "domains": domains }));
    }
    match s.set_redirect_domains(&req.appid, &req.domains) {
        Ok(()) => json(&json!({ "appid": req.appid, "domains": normalize_domains(&req.domains) })),
        Err(e) => control_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextPlainReq {
    on: bool,
}

/// `POST /mock/text_plain` `{"on": bool}`: the sticky `text/plain` switch.
pub(crate) async fn text_plain(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: TextPlainReq = match parse(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    s.lock().text_plain = req.on;
    json(&json!({ "on": req.on }))
}

/// `POST /mock/douyin/legacy` `{"on": bool}`: the sticky switch to Douyin's older answer
/// shapes (see `MockWechat::set_douyin_legacy_shapes`).
pub(crate) async fn douyin_legacy(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: TextPlainReq = match parse(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    s.lock().douyin.legacy = req.on;
    json(&json!({ "on": req.on }))
}
