//! Account-level endpoints (`cgi-bin/*`): global access tokens, parametric QR codes, the QR
//! image and follower info (protocol §5, §6).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use image::ImageEncoder as _;
use serde_json::{Map, Value, json};

use super::clock::{after, secs_until, unix_secs};
use super::config::{AppKind, MockApp};
use super::errors::{WxError, json};
use super::ids;
use super::params::Params;
use super::sns::app_with_secret;
use super::state::{
    ACCESS_TOKEN_TTL, GLOBAL_OVERLAP, GlobalToken, Inner, Issuer, MAX_PERMANENT_TICKETS, QrScene,
    QrTicket, Shared,
};

/// Longest temporary QR code life (30 days).
const MAX_QR_EXPIRE: i64 = 2_592_000;
/// Temporary QR code life when `expire_seconds` is not given.
const DEFAULT_QR_EXPIRE: i64 = 60;
/// Forced stable_token refreshes: at most 20 a day, at least 30 s apart.
const MAX_FORCES_PER_DAY: usize = 20;
const FORCE_SPACING: Duration = Duration::from_secs(30);
const DAY: Duration = Duration::from_secs(24 * 3600);
/// stable_token rotates its token during the last 5 minutes of its life.
const STABLE_ROTATE_BEFORE: u64 = 300;

type Answer = Result<Value, WxError>;

fn respond(answer: Answer) -> Response {
    match answer {
        Ok(v) => json(&v),
        Err(e) => e.into_response(),
    }
}

/// The app behind a global-token request: 40013 unknown appid, 40125 wrong AppSecret
/// (`{"errcode":40125,"errmsg":"invalid appsecret rid: …"}`, as `cgi-bin/token` answers it
/// today, protocol §19.1; `stable_token` checks the same credentials). A 40001 from these
/// endpoints comes only from injected faults.
fn token_app<'a>(s: &'a Shared, appid: &str, secret: &str) -> Result<&'a MockApp, WxError> {
    app_with_secret(s, appid, secret)
}

/// Only Official Accounts and mini programs have global tokens.
fn token_capable(app: &MockApp) -> Result<(), WxError> {
    match app.kind {
        AppKind::OfficialAccount | AppKind::MiniProgram => Ok(()),
        _ => Err(WxError::with_detail(
            40013,
            "invalid appid, this app kind has no global access_token",
        )),
    }
}

/// Issues a new global token of `issuer` for `appid`. The previous one keeps at most five
/// minutes of life (then answers 40001); the one before that dies at once.
fn issue_global(inner: &mut Inner, issuer: Issuer, appid: &str, now: SystemTime) -> String {
    let key = (issuer, appid.to_owned());
    if let Some(older) = inner.global_previous.remove(&key) {
        inner.global_tokens.remove(&older);
    }
    if let Some(latest) = inner.global_latest.get(&key).cloned()
        && let Some(record) = inner.global_tokens.get_mut(&latest)
    {
        record.superseded = true;
        record.expires_at = record.expires_at.min(after(now, GLOBAL_OVERLAP));
        inner.global_previous.insert(key.clone(), latest);
    }
    let token = ids::access_token();
    inner.global_tokens.insert(
        token.clone(),
        GlobalToken {
            appid: appid.to_owned(),
            expires_at: after(now, ACCESS_TOKEN_TTL),
            superseded: false,
        },
        now,
    );
    inner.global_latest.insert(key, token.clone());
    token
}

/// `GET /cgi-bin/token`: a fresh token on every call.
pub(crate) async fn token(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    respond((|| {
        if p.get("grant_type") != Some("client_credential") {
            return Err(WxError::new(40002));
        }
        let appid = p.get("appid").ok_or(WxError::new(41002))?;
        let secret = p.get("secret").ok_or(WxError::new(41004))?;
        let app = token_app(&s, appid, secret)?;
        token_capable(app)?;
        let now = s.now();
        let token = issue_global(&mut s.lock(), Issuer::Basic, &app.appid, now);
        Ok(json!({"access_token": token, "expires_in": ACCESS_TOKEN_TTL.as_secs()}))
    })())
}

/// Parses a POST body as a JSON object: 44002 empty, 47001 not a JSON object.
pub(crate) fn json_body(body: &Bytes) -> Result<Map<String, Value>, WxError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(WxError::new(44002));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(WxError::new(47001)),
    }
}

/// `POST /cgi-bin/stable_token`: the same token while it is valid, unless forced.
pub(crate) async fn stable_token(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    respond(stable(&s, &body))
}

fn stable(s: &Shared, body: &Bytes) -> Answer {
    let body = json_body(body)?;
    let field = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    if field("grant_type") != Some("client_credential") {
        return Err(WxError::new(40002));
    }
    let appid = field("appid").ok_or(WxError::new(41002))?;
    let secret = field("secret").ok_or(WxError::new(41004))?;
    let force = match body.get("force_refresh") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(WxError::new(47001)),
    };
    let app = token_app(s, appid, secret)?;
    token_capable(app)?;
    let now = s.now();
    let mut inner = s.lock();
    let key = (Issuer::Stable, app.appid.clone());
    let current = inner
        .global_latest
        .get(&key)
        .and_then(|t| {
            inner
                .global_tokens
                .get(t)
                .map(|r| (t.clone(), r.expires_at))
        })
        .filter(|(_, exp)| *exp > now);
    if force {
        let forces = inner.stable_forces.entry(app.appid.clone()).or_default();
        let day_ago = now.checked_sub(DAY).unwrap_or(now);
        while forces.front().is_some_and(|t| *t <= day_ago) {
            forces.pop_front();
        }
        let too_soon = forces
            .back()
            .is_some_and(|last| now.duration_since(*last).unwrap_or_default() < FORCE_SPACING);
        if let (true, Some((token, exp))) = (too_soon, &current) {
            // Closer than 30 s to the last forced refresh: no refresh.
            return Ok(json!({"access_token": token, "expires_in": secs_until(now, *exp)}));
        }
        if forces.len() >= MAX_FORCES_PER_DAY {
            return Err(WxError::new(45009));
        }
        forces.push_back(now);
    } else if let Some((token, exp)) = &current {
        let left = secs_until(now, *exp);
        if left >= STABLE_ROTATE_BEFORE {
            return Ok(json!({"access_token": token, "expires_in": left}));
        }
    }
    let token = issue_global(&mut inner, Issuer::Stable, &app.appid, now);
    Ok(json!({"access_token": token, "expires_in": ACCESS_TOKEN_TTL.as_secs()}))
}

/// Resolves the global `access_token` of a `cgi-bin` call: 41001 missing, 40001 unknown or
/// superseded, 42001 expired.
pub(crate) fn global_app<'a>(s: &'a Shared, p: &Params) -> Result<&'a MockApp, WxError> {
    let token = p.get("access_token").ok_or(WxError::new(41001))?;
    let now = s.now();
    let inner = s.lock();
    let record = inner.global_tokens.get(token).ok_or(WxError::new(40001))?;
    if record.expires_at <= now {
        return Err(WxError::new(if record.superseded { 40001 } else { 42001 }));
    }
    s.app(&record.appid).ok_or(WxError::new(40001))
}

/// Same as [`global_app`], and the app must be an Official Account (else 48001).
fn global_oa<'a>(s: &'a Shared, p: &Params) -> Result<&'a MockApp, WxError> {
    let app = global_app(s, p)?;
    if app.kind != AppKind::OfficialAccount {
        return Err(WxError::new(48001));
    }
    Ok(app)
}

/// Same as [`global_oa`], and the account must be verified: WeChat refuses parametric QR
/// codes and follower info to unverified subscription accounts with 48001 (protocol §25).
fn verified_oa<'a>(s: &'a Shared, p: &Params) -> Result<&'a MockApp, WxError> {
    let app = global_oa(s, p)?;
    if !app.verified {
        tracing::debug!(appid = %app.appid, "mock wechat: unverified account refused (48001)");
        return Err(WxError::new(48001));
    }
    Ok(app)
}

/// `POST /cgi-bin/qrcode/create?access_token=…`
pub(crate) async fn qrcode_create(
    State(s): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    respond(create_qr(&s, &Params::parse(q.as_deref()), &body))
}

fn create_qr(s: &Shared, p: &Params, body: &Bytes) -> Answer {
    let app = verified_oa(s, p)?;
    let body = json_body(body)?;
    let action_name = body
        .get("action_name")
        .and_then(Value::as_str)
        .ok_or(WxError::with_detail(40053, "invalid action name"))?;
    let (permanent, by_str) = match action_name {
        "QR_SCENE" => (false, false),
        "QR_STR_SCENE" => (false, true),
        "QR_LIMIT_SCENE" => (true, false),
        "QR_LIMIT_STR_SCENE" => (true, true),
        _ => return Err(WxError::with_detail(40053, "invalid action name")),
    };
    let info = body
        .get("action_info")
        .and_then(Value::as_object)
        .ok_or(WxError::new(40053))?;
    let scene = match info.get("scene") {
        // Real WeChat quirk: without the `scene` wrapper the code silently gets scene 0.
        None => QrScene::Id(0),
        Some(Value::Object(scene)) if by_str => {
            let s = scene
                .get("scene_str")
                .and_then(Value::as_str)
                .filter(|s| (1..=64).contains(&s.chars().count()))
                .ok_or(WxError::with_detail(
                    40053,
                    "invalid scene_str, length 1..64",
                ))?;
            QrScene::Str(s.to_owned())
        }
        Some(Value::Object(scene)) => {
            let max = if permanent {
                100_000
            } else {
                u64::from(u32::MAX)
            };
            let id = scene
                .get("scene_id")
                .and_then(Value::as_u64)
                .filter(|id| (1..=max).contains(id))
                .and_then(|id| u32::try_from(id).ok())
                .ok_or(WxError::with_detail(40053, "invalid scene_id"))?;
            QrScene::Id(id)
        }
        Some(_) => return Err(WxError::new(40053)),
    };
    let expire_seconds = if permanent {
        None
    } else {
        Some(match body.get("expire_seconds") {
            None | Some(Value::Null) => DEFAULT_QR_EXPIRE,
            Some(v) => {
                let n = v.as_i64().ok_or(WxError::new(47001))?;
                if n <= 0 {
                    DEFAULT_QR_EXPIRE
                } else {
                    n.min(MAX_QR_EXPIRE)
                }
            }
        })
    };

    let now = s.now();
    let mut inner = s.lock();
    if permanent {
        let key = (app.appid.clone(), scene.clone());
        if let Some(t) = inner
            .permanent_by_scene
            .get(&key)
            .and_then(|t| inner.permanent_tickets.get(t))
        {
            return Ok(json!({"ticket": t.ticket, "url": t.url}));
        }
        if inner.permanent_tickets.len() >= MAX_PERMANENT_TICKETS {
            return Err(WxError::with_detail(
                40053,
                "permanent qrcode quota used up",
            ));
        }
    }
    let url = ids::qr_url();
    let secs = expire_seconds.unwrap_or(0).unsigned_abs();
    let expires_at = expire_seconds.map(|_| after(now, Duration::from_secs(secs)));
    let ticket = ids::qr_ticket(&url, unix_secs(now), unix_secs(now) + secs);
    let record = QrTicket {
        ticket: ticket.clone(),
        appid: app.appid.clone(),
        url: url.clone(),
        scene: scene.clone(),
        action_name: action_name.to_owned(),
        expires_at,
    };
    tracing::debug!(action_name, scene = ?scene, "mock wechat: QR ticket issued");
    match expire_seconds {
        Some(secs) => {
            inner.temp_tickets.insert(ticket.clone(), record, now);
            inner.index_qr_url(url.clone(), ticket.clone());
            Ok(json!({"ticket": ticket, "expire_seconds": secs, "url": url}))
        }
        None => {
            inner
                .permanent_by_scene
                .insert((app.appid.clone(), scene), ticket.clone());
            inner.permanent_tickets.insert(ticket.clone(), record);
            inner.index_qr_url(url.clone(), ticket.clone());
            Ok(json!({"ticket": ticket, "url": url}))
        }
    }
}

/// Looks a live ticket up (temporary or permanent).
pub(crate) fn live_ticket(s: &Shared, ticket: &str) -> Option<QrTicket> {
    let now = s.now();
    let inner = s.lock();
    inner
        .temp_tickets
        .get(ticket)
        .or_else(|| inner.permanent_tickets.get(ticket))
        .filter(|t| t.alive(now))
        .cloned()
}

/// `GET /cgi-bin/showqrcode?ticket=…`: the QR image, or 404.
pub(crate) async fn showqrcode(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    let Some(ticket) = p.get("ticket").and_then(|t| live_ticket(&s, t)) else {
        return (StatusCode::NOT_FOUND, "").into_response();
    };
    match qr_png(&ticket.url) {
        Some(png) => {
            let mut resp = (StatusCode::OK, png).into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=604800"),
            );
            resp
        }
        None => (StatusCode::INTERNAL_SERVER_ERROR, "").into_response(),
    }
}

/// A PNG (about 430 px square, 4-module quiet zone) of a QR code encoding `content`.
pub(crate) fn qr_png(content: &str) -> Option<Vec<u8>> {
    qr_png_sized(content, 430)
}

/// [`qr_png`] at least `px` pixels square.
pub(crate) fn qr_png_sized(content: &str, px: u32) -> Option<Vec<u8>> {
    let code = qrcode::QrCode::new(content.as_bytes()).ok()?;
    let img = code
        .render::<image::Luma<u8>>()
        .min_dimensions(px, px)
        .build();
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::L8,
        )
        .ok()?;
    Some(out)
}

/// `GET /cgi-bin/user/info?access_token=…&openid=…&lang=…`
pub(crate) async fn user_info(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    respond(follower(&s, &Params::parse(q.as_deref())))
}

fn follower(s: &Shared, p: &Params) -> Answer {
    let app = verified_oa(s, p)?;
    let openid = p.get("openid").ok_or(WxError::new(41009))?;
    let user = s
        .user_by_openid(&app.appid, openid)
        .ok_or(WxError::new(40003))?;
    let inner = s.lock();
    let Some(follow) = inner.follows.get(&(app.appid.clone(), user.name.clone())) else {
        return Ok(json!({"subscribe": 0, "openid": openid, "tagid_list": []}));
    };
    // Since 2021-12-27 this API no longer gives nickname and avatar (empty strings).
    let mut body = json!({
        "subscribe": 1,
        "openid": openid,
        "nickname": "",
        "sex": 0,
        "language": "zh_CN",
        "city": "",
        "province": "",
        "country": "",
        "headimgurl": "",
        "subscribe_time": unix_secs(follow.since),
        "remark": "",
        "groupid": 0,
        "tagid_list": [],
        "subscribe_scene": follow.scene,
        "qr_scene": follow.qr_scene,
        "qr_scene_str": follow.qr_scene_str,
    });
    if app.bound {
        body["unionid"] = json!(user.unionid);
    }
    Ok(body)
}
