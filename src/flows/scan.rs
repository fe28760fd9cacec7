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
//! - [`confirm`] turns the scan event the push endpoint ([`super::push`]) received into a
//!   confirmed scene: once, whatever WeChat delivers again.

use std::{sync::Arc, time::Duration};

use axum_core::body::Body;
use http::{HeaderValue, Response, StatusCode, header, request::Parts};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use super::{Query, same_origin};
use crate::error::Failure;
use crate::{
    Channel, WechatUser,
    client::{QrCodeRequest, WxaCodeRequest},
    clock::{now_unix, random_token},
    engine::{Engine, LoginOutcome, TokenFor},
    redirect::safe_return_to,
    respond,
    respond::QUERY_VALUE,
    session::StateTicket,
    store::{
        flight::{self, Turn},
        keys::Key,
    },
};

/// Longest long-poll, seconds.
const MAX_WAIT: u64 = 30;
/// A scene id: `[A-Za-z0-9]`, 32 characters (WeChat allows up to 64 for `scene_str`).
const ID_LEN: usize = 32;
/// How long the browser's scan cookie outlives its scene, seconds: long enough for the page
/// to be told `expired` (rather than "not yours") after the scene is gone or consumed.
const COOKIE_GRACE: u64 = 10 * 60;

/// Where a scan stands.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub(crate) enum SceneStatus {
    /// Shown, not scanned yet.
    Pending,
    /// WeChat reported the scan; the user is being looked up.
    Scanned,
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
    /// A mini program code (`wxa/getwxacodeunlimit`): the opened mini program posts the
    /// user's answer to `POST PREFIX/miniprogram/scan`.
    MiniProgram,
}

impl Via {
    /// The `via` of a request (`?via=miniprogram`); default: the Official Account's QR when
    /// it is set up for scans, else the mini program code.
    fn of(auth: &Engine, q: &Query<'_>) -> Result<Self, Failure> {
        match q.get("via") {
            Some("miniprogram") => Ok(Self::MiniProgram),
            Some("oa" | "follow_oa") => Ok(Self::FollowOa),
            Some(other) => Err(Failure::BadRequest(format!(
                "via={other:?}: use via=miniprogram or via=oa"
            ))),
            None if oa_scan_ready(auth).is_err() && auth.config().mini_program.is_some() => {
                Ok(Self::MiniProgram)
            }
            None => Ok(Self::FollowOa),
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

fn cookie_name(auth: &Engine, id: &str) -> String {
    auth.config().flow_cookie_name("wechat_scan_", id)
}

/// The digest of this browser's scan cookie for `id`, when it carries one that we signed
/// for that id. Needs no store, so it says nothing about whether the scan exists.
fn browser_of(auth: &Engine, req: &Parts, id: &str) -> Option<String> {
    super::cookie_value(req, &cookie_name(auth, id))
        .filter(|v| auth.verify_state(v, id).is_some())
        .map(digest)
}

fn digest(value: &str) -> String {
    hex::encode(Sha1::digest(value.as_bytes()))
}

/// The store key of a scene: under the Official Account's appid, or the mini program's
/// when there is no Official Account (one namespace per site, whatever the scan goes via).
fn scene_key(auth: &Engine, id: &str) -> Option<Key> {
    let cfg = auth.config();
    let appid = match (&cfg.official_account, &cfg.mini_program) {
        (Some(oa), _) => oa.app().appid(),
        (None, Some(mini)) => mini.appid(),
        (None, None) => return None,
    };
    Some(Key::scan(appid, id))
}

/// Reads a scene.
async fn load_scene(auth: &Engine, key: &Key) -> Result<Option<Scene>, Failure> {
    Ok(crate::store::get_json::<Scene>(auth.store(), key)
        .await?
        .filter(|s| s.expires_at > now_unix()))
}

/// Writes a scene for the rest of its life, and wakes whoever waits on it.
async fn save_scene(auth: &Engine, key: &Key, scene: &Scene) -> Result<(), Failure> {
    let left = scene.expires_at.saturating_sub(now_unix()).max(1);
    crate::store::set_json(auth.store(), key, scene, Duration::from_secs(left)).await?;
    auth.store().publish(key, Vec::new()).await?;
    Ok(())
}

/// Whether scan login via `via` is possible.
fn scan_ready(auth: &Engine, via: Via) -> Result<(), Failure> {
    match via {
        Via::FollowOa => oa_scan_ready(auth),
        Via::MiniProgram if auth.config().mini_program.is_some() => Ok(()),
        Via::MiniProgram => Err(Failure::ChannelOff(
            "mini program code scan (it needs WECHAT_MINI_APP_ID and WECHAT_MINI_APP_SECRET)",
        )),
    }
}

/// Whether follow-the-Official-Account scan login is possible: an OA with a push token.
fn oa_scan_ready(auth: &Engine) -> Result<(), Failure> {
    match &auth.config().official_account {
        Some(oa) if oa.push_token().is_some() => Ok(()),
        _ => Err(Failure::ChannelOff(
            "scan (it needs WECHAT_OA_APP_ID, WECHAT_OA_APP_SECRET and WECHAT_OA_TOKEN)",
        )),
    }
}

/// `POST PREFIX/scan?return_to=/path`: a new QR code for this browser.
pub(crate) async fn start(auth: &Engine, req: &Parts) -> Result<Response<Body>, Failure> {
    let q = Query::parse(req.uri.query());
    let via = Via::of(auth, &q)?;
    scan_ready(auth, via)?;
    if !same_origin(auth, req) {
        return Err(Failure::CrossOrigin(
            "scan login must be started from this site",
        ));
    }
    let return_to = safe_return_to(q.get("return_to"), &auth.config().allowed_origins);
    let id = random_token(ID_LEN);
    let ttl = auth.config().scan_ttl.as_secs();
    let (qr_url, expires_in) = match via {
        Via::FollowOa => {
            let request =
                QrCodeRequest::temporary_str(id.clone(), u32::try_from(ttl).unwrap_or(u32::MAX));
            let ticket = auth
                .with_token(TokenFor::OfficialAccount, |token| {
                    let request = request.clone();
                    async move { auth.client().qrcode_create(&token, &request).await }
                })
                .await?;
            // WeChat may shorten the lifetime; never promise more than it granted.
            let expires_in = ticket
                .expire_seconds
                .filter(|s| *s > 0)
                .map_or(ttl, |s| s.min(ttl));
            (ticket.url, expires_in)
        }
        // The code itself is made when the browser asks for it (`code.png`).
        Via::MiniProgram => (String::new(), ttl),
    };
    // The browser's proof that it started this scan: a value signed for this id (checked
    // before the store is read), whose digest the scene keeps.
    let cookie_life = expires_in + COOKIE_GRACE;
    let proof = auth.sign_state(&StateTicket::new(
        id.clone(),
        String::new(),
        crate::Channel::ScanFollow,
        Duration::from_secs(cookie_life),
    ));
    let scene = Scene {
        via,
        browser: digest(&proof),
        return_to,
        url: qr_url.clone(),
        expires_at: now_unix() + expires_in,
        status: SceneStatus::Pending,
    };
    let key = scene_key(auth, &id).ok_or(Failure::ChannelOff("scan"))?;
    save_scene(auth, &key, &scene).await?;
    let mut res = respond::json(
        StatusCode::OK,
        &Started {
            id: &id,
            qr_url: &qr_url,
            image_url: match via {
                Via::FollowOa => format!("{}/scan/{id}/qr.svg", auth.config().prefix),
                Via::MiniProgram => format!("{}/scan/{id}/code.png", auth.config().prefix),
            },
            expires_in,
            via,
        },
    );
    let cookie = auth.cookie_spec().build(
        cookie_name(auth, &id),
        proof,
        auth.config().flow_cookie_path(),
        cookie_life,
    );
    respond::set_cookie(&mut res, &cookie);
    tracing::debug!("scan started");
    Ok(res)
}

/// `GET PREFIX/scan/{id}/qr.svg`: the QR code of a pending scene, for the browser that
/// started it; anyone else gets the answer an unknown id gets.
pub(crate) async fn image(auth: &Engine, req: &Parts, id: &str) -> Result<Response<Body>, Failure> {
    let key = scene_key(auth, id)
        .filter(|_| valid_id(id))
        .ok_or(NOT_FOUND)?;
    let mine = browser_of(auth, req, id).ok_or(NOT_FOUND)?;
    let scene = load_scene(auth, &key)
        .await?
        .filter(|s| s.browser == mine)
        .ok_or(NOT_FOUND)?;
    let code = qrcode::QrCode::new(scene.url.as_bytes()).map_err(|_| NOT_FOUND)?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    let mut res = Response::new(Body::from(svg));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `GET PREFIX/scan/{id}/code.png`: the mini program code of a pending scene, for the
/// browser that started it (anyone else gets the answer an unknown id gets). Made once per
/// scene with the mini program's global token, and kept with the scene.
pub(crate) async fn mini_program_code(
    auth: &Engine,
    req: &Parts,
    id: &str,
) -> Result<Response<Body>, Failure> {
    let key = scene_key(auth, id)
        .filter(|_| valid_id(id))
        .ok_or(NOT_FOUND)?;
    let mine = browser_of(auth, req, id).ok_or(NOT_FOUND)?;
    let scene = load_scene(auth, &key)
        .await?
        .filter(|s| s.browser == mine && s.via == Via::MiniProgram)
        .ok_or(NOT_FOUND)?;
    let image_key = key.claim_image();
    let bytes = match auth.store().get(&image_key).await? {
        Some(bytes) => bytes,
        None => {
            let cfg = auth.config();
            let mut request = WxaCodeRequest::new(id);
            if let Some(page) = &cfg.mini_code_page {
                request = request.with_page(page.clone());
            }
            if let Some(env) = &cfg.mini_code_env {
                // An unpublished version cannot check that the page exists.
                request = request
                    .with_env_version(env.clone())
                    .with_check_path(env == "release");
            }
            let code = auth
                .with_token(TokenFor::MiniProgram, |token| {
                    let request = request.clone();
                    async move { auth.client().wxa_code_unlimit(&token, &request).await }
                })
                .await?;
            let left = scene.expires_at.saturating_sub(now_unix()).max(1);
            auth.store()
                .set(&image_key, code.bytes.to_vec(), Duration::from_secs(left))
                .await?;
            code.bytes.to_vec()
        }
    };
    // Sniffed, as WeChat labels every code image/jpeg.
    let content_type = if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else {
        "image/jpeg"
    };
    let mut res = Response::new(Body::from(bytes));
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// What the mini program posts once the user answered on its confirm page.
#[derive(Deserialize)]
struct Answer {
    scene: String,
    /// A fresh `wx.login()` code: who answered.
    code: String,
    decision: Decision,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Decision {
    Confirm,
    Cancel,
}

/// `POST PREFIX/miniprogram/scan` `{scene, code, decision}`: the answer of the user who
/// scanned a mini program code. The identity comes only from `jscode2session` with `code`;
/// the scene must be pending and not answered before (once, on every instance); `confirm`
/// lets the waiting browser take its session, `cancel` ends the scan as `refused`.
pub(crate) async fn mini_program_answer(
    auth: &Engine,
    client: Option<std::net::IpAddr>,
    body: bytes::Bytes,
) -> Result<Response<Body>, Failure> {
    let Some(app) = &auth.config().mini_program else {
        return Err(Failure::ChannelOff(
            "mini program (set WECHAT_MINI_APP_ID and _SECRET)",
        ));
    };
    let answer: Answer = serde_json::from_slice(&body).map_err(|_| {
        Failure::BadRequest(
            r#"send JSON like {"scene": "…", "code": "…", "decision": "confirm"}"#.into(),
        )
    })?;
    let (code, _) = super::app::read_code(&bytes::Bytes::from(
        serde_json::json!({ "code": answer.code }).to_string(),
    ))?;
    let key = scene_key(auth, &answer.scene)
        .filter(|_| valid_id(&answer.scene))
        .ok_or(NOT_FOUND)?;
    let scene = load_scene(auth, &key)
        .await?
        .filter(|s| s.via == Via::MiniProgram)
        .ok_or(NOT_FOUND)?;
    if scene.status != SceneStatus::Pending {
        return Err(Failure::ScanAnswered);
    }
    // Who answered: from WeChat, never from the body.
    let appid = app.appid();
    let outcome = auth
        .exchange_once(appid, &code, client, || async {
            let user = super::miniprogram::session_user(auth, app, &code).await?;
            Ok(LoginOutcome::Success {
                state: answer.scene.clone(),
                return_to: String::new(),
                user,
                token: None,
            })
        })
        .await?;
    let LoginOutcome::Success { state, user, .. } = outcome.as_ref() else {
        return Err(Failure::CodeUsed);
    };
    if *state != answer.scene {
        return Err(Failure::BadRequest(
            "this code belongs to another login".into(),
        ));
    }
    // One answer per scene, on every instance.
    let claim = key.claim();
    let ttl = auth.config().scan_ttl;
    let Turn::Mine(lease) =
        flight::join(auth.store(), &claim, |_| true, ttl, Duration::ZERO).await?
    else {
        return Err(Failure::ScanAnswered);
    };
    let mut scene = match load_scene(auth, &key).await {
        Ok(Some(s)) if s.status == SceneStatus::Pending => s,
        Ok(_) => {
            let _ = lease.finish(b"ignored".to_vec(), ttl).await;
            return Err(Failure::ScanAnswered);
        }
        Err(e) => {
            let _ = lease.give_up().await;
            return Err(e);
        }
    };
    let mut user = user.clone();
    user.channel = Channel::MiniProgramCode;
    scene.status = match answer.decision {
        Decision::Cancel => SceneStatus::Refused {
            message: "登录已在手机上取消 · The login was cancelled on the phone.".into(),
        },
        Decision::Confirm => match auth.run_on_login(user).await {
            Ok(user) => SceneStatus::Confirmed { user },
            Err(r) => SceneStatus::Refused {
                message: r.message().to_owned(),
            },
        },
    };
    let status = match &scene.status {
        SceneStatus::Confirmed { .. } => "confirmed",
        _ => "refused",
    };
    save_scene(auth, &key, &scene).await?;
    let _ = lease.finish(status.as_bytes().to_vec(), ttl).await;
    tracing::info!(status, "mini program code scan answered");
    Ok(respond::json(
        StatusCode::OK,
        &serde_json::json!({ "status": status }),
    ))
}

/// The answer for an unknown scan, and for the image of someone else's.
const NOT_FOUND: Failure = Failure::NotFound("no such scan");

/// The status JSON.
fn status_json(status: &str) -> Response<Body> {
    respond::json(StatusCode::OK, &serde_json::json!({ "status": status }))
}

/// `GET PREFIX/scan/{id}?wait=S`: where the scan stands; waits up to `S` seconds for news.
pub(crate) async fn status(
    auth: &Engine,
    req: &Parts,
    id: &str,
) -> Result<Response<Body>, Failure> {
    let key = scene_key(auth, id)
        .filter(|_| valid_id(id))
        .ok_or(NOT_FOUND)?;
    let q = Query::parse(req.uri.query());
    let wait = q
        .get("wait")
        .and_then(|w| w.parse::<u64>().ok())
        .unwrap_or(0)
        .min(MAX_WAIT);
    // The cookie first: without it, the answer must not depend on the store (the same
    // answer whether or not the scan exists).
    let mine = browser_of(auth, req, id).ok_or(Failure::NotYourScan)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    // Subscribe before reading, so a confirmation between the two is not missed.
    let mut news = auth.store().subscribe(&key).await?;
    loop {
        let Some(scene) = load_scene(auth, &key).await? else {
            return Ok(status_json("expired"));
        };
        if mine != scene.browser {
            return Err(Failure::NotYourScan);
        }
        match scene.status {
            SceneStatus::Confirmed { .. } => return hand_over(auth, &key).await,
            SceneStatus::Refused { message } => {
                return Ok(respond::json(
                    StatusCode::FORBIDDEN,
                    &serde_json::json!({ "status": "refused", "message": message }),
                ));
            }
            SceneStatus::Pending | SceneStatus::Scanned => {
                let name = if scene.status == SceneStatus::Pending {
                    "pending"
                } else {
                    "scanned"
                };
                let until = deadline.min(
                    tokio::time::Instant::now()
                        + Duration::from_secs(scene.expires_at.saturating_sub(now_unix())),
                );
                // Deadline, expiry, or a subscription that ended: answer what we know.
                if tokio::time::Instant::now() >= until
                    || !matches!(
                        tokio::time::timeout_at(until, news.next()).await,
                        Ok(Some(_))
                    )
                {
                    if scene.expires_at <= now_unix() {
                        return Ok(status_json("expired"));
                    }
                    return Ok(status_json(name));
                }
            }
        }
    }
}

/// Takes a confirmed scene (exactly one poll gets it) and hands this browser its session.
///
/// The scan cookie stays until it lapses: with the scene gone, it is what lets this
/// browser (and only it) be told `expired` on a later poll.
async fn hand_over(auth: &Engine, key: &str) -> Result<Response<Body>, Failure> {
    let taken = auth.store().take(key).await?;
    let Some(Ok(scene)) = taken.map(|b| serde_json::from_slice::<Scene>(&b)) else {
        return Ok(status_json("expired"));
    };
    let SceneStatus::Confirmed { user } = scene.status else {
        return Ok(status_json("expired"));
    };
    let token = auth.issue(&user);
    let mut res = respond::json(
        StatusCode::OK,
        &serde_json::json!({ "status": "confirmed", "return_to": scene.return_to }),
    );
    auth.set_session_cookie(&mut res, &token);
    tracing::info!(channel = %user.channel, "login");
    Ok(res)
}

/// `GET PREFIX/scan?return_to=/path`: the page that shows the QR code and waits.
pub(crate) fn page(auth: &Engine, req: &Parts) -> Response<Body> {
    let q = Query::parse(req.uri.query());
    let via = match Via::of(auth, &q).and_then(|via| scan_ready(auth, via).map(|()| via)) {
        Ok(via) => via,
        Err(e) => return e.html(None),
    };
    let return_to = safe_return_to(q.get("return_to"), &auth.config().allowed_origins);
    let start = format!(
        "{}/scan?return_to={}{}",
        auth.config().prefix,
        percent_encoding::utf8_percent_encode(&return_to, QUERY_VALUE),
        match via {
            Via::FollowOa => "",
            Via::MiniProgram => "&via=miniprogram",
        }
    );
    let body = SCAN_PAGE
        .replace("{{START}}", &respond::escape(&start))
        .replace("{{PREFIX}}", &respond::escape(&auth.config().prefix));
    respond::html(
        StatusCode::OK,
        respond::page("微信扫码登录 · Scan to log in", &body),
    )
}

/// The scan page's markup and script (self-contained: no CDN, no third-party image host).
const SCAN_PAGE: &str = r#"<h1>微信扫码登录</h1>
<p class="en">Scan with WeChat to log in</p>
<div id="qr" style="width:240px;height:240px;margin:16px auto;display:flex;align-items:center;justify-content:center;background:#fafafa;border-radius:8px">
  <img id="qr-img" alt="QR code" width="240" height="240" style="display:none">
  <span id="qr-wait">…</span>
</div>
<p id="status" role="status" aria-live="polite">请使用微信扫描二维码，关注公众号后自动登录</p>
<p class="en" id="status-en">Scan with WeChat; follow the Official Account if asked. This page moves on by itself.</p>
<p id="countdown" class="en"></p>
<button id="refresh" type="button" style="display:none">刷新二维码 · New QR code</button>
<div id="cfg" data-start="{{START}}" data-prefix="{{PREFIX}}" hidden></div>
<script>
(function () {
  var cfg = document.getElementById("cfg").dataset;
  var img = document.getElementById("qr-img"), wait = document.getElementById("qr-wait");
  var status = document.getElementById("status"), statusEn = document.getElementById("status-en");
  var countdown = document.getElementById("countdown"), refresh = document.getElementById("refresh");
  var timer = null, generation = 0;
  function say(zh, en) { status.textContent = zh; statusEn.textContent = en; }
  function expired() {
    clearInterval(timer); img.style.opacity = "0.2";
    say("二维码已过期", "The QR code has expired.");
    countdown.textContent = ""; refresh.style.display = "inline-block";
  }
  function tick(deadline) {
    clearInterval(timer);
    timer = setInterval(function () {
      var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      countdown.textContent = left + " s";
      if (left === 0) { clearInterval(timer); }
    }, 1000);
  }
  async function poll(id, mine) {
    while (mine === generation) {
      var r;
      try {
        r = await fetch(cfg.prefix + "/scan/" + encodeURIComponent(id) + "?wait=25", { headers: { "Accept": "application/json" }, credentials: "same-origin" });
      } catch (e) { await new Promise(function (ok) { setTimeout(ok, 2000); }); continue; }
      var body = {};
      try { body = await r.json(); } catch (e) {}
      if (body.status === "confirmed") {
        say("登录成功，正在跳转…", "Logged in. Moving on…");
        window.location.assign(body.return_to || "/"); return;
      }
      if (body.status === "scanned") { say("已扫码，请在微信中确认", "Scanned. Confirm in WeChat."); continue; }
      if (body.status === "expired") { expired(); return; }
      if (body.status === "refused") { say(body.message || "无法登录", "This site refused the login."); return; }
      if (!r.ok) { say("出错了，请刷新二维码", "Something went wrong. Get a new QR code."); refresh.style.display = "inline-block"; return; }
    }
  }
  async function start() {
    var mine = ++generation;
    refresh.style.display = "none"; img.style.opacity = "1";
    say("请使用微信扫描二维码，关注公众号后自动登录", "Scan with WeChat; follow the Official Account if asked.");
    var r = await fetch(cfg.start, { method: "POST", headers: { "Accept": "application/json" }, credentials: "same-origin" });
    var s = await r.json();
    if (!r.ok) { say("暂时无法生成二维码", s.message || "Could not make a QR code."); refresh.style.display = "inline-block"; return; }
    img.src = s.image_url; img.dataset.qrUrl = s.qr_url; img.style.display = "block"; wait.style.display = "none";
    document.body.dataset.scanId = s.id;
    tick(Date.now() + s.expires_in * 1000);
    poll(s.id, mine);
  }
  refresh.addEventListener("click", start);
  start();
})();
</script>"#;

/// Confirms the pending scene `scene_id` for `openid`: once, whatever arrives again.
/// `false` when the store failed before anything was decided, so that a re-delivery may
/// try again.
pub(crate) async fn confirm(auth: Arc<Engine>, scene_id: String, openid: String) -> bool {
    let Some(key) = scene_key(&auth, &scene_id) else {
        return true;
    };
    let Some(oa) = auth.config().official_account.as_ref() else {
        return true;
    };
    let appid = oa.app().appid().to_owned();
    // One confirmation per scene, on every instance: a re-delivery (or another instance
    // that has it under way) is acknowledged without waiting.
    let claim = key.claim();
    let ttl = auth.config().scan_ttl;
    let lease = match flight::join(auth.store(), &claim, |_| true, ttl, Duration::ZERO).await {
        Ok(Turn::Mine(lease)) => lease,
        Ok(Turn::Ready(_) | Turn::Busy) => return true,
        Err(e) => {
            tracing::error!(error = %e, "store unavailable while confirming a scan");
            return false;
        }
    };
    let mut scene = match load_scene(&auth, &key).await {
        Ok(Some(s)) if s.status == SceneStatus::Pending => s,
        Ok(_) => {
            // Unknown, expired or already handled: nothing changes.
            let _ = lease.finish(b"ignored".to_vec(), ttl).await;
            return true;
        }
        Err(e) => {
            tracing::error!(error = ?e, "store unavailable while confirming a scan");
            let _ = lease.give_up().await;
            return false;
        }
    };
    scene.status = SceneStatus::Scanned;
    let _ = save_scene(&auth, &key, &scene).await;

    let mut user = WechatUser::new(appid.clone(), openid.clone(), Channel::ScanFollow);
    match auth
        .with_token(TokenFor::OfficialAccount, |token| {
            let openid = openid.clone();
            let auth = auth.clone();
            async move {
                auth.client()
                    .user_info(&token, &openid, auth.config().lang)
                    .await
            }
        })
        .await
    {
        Ok(info) => {
            user.unionid = info.unionid.filter(|u| !u.is_empty());
            user.nickname = Some(info.nickname).filter(|n| !n.is_empty());
            user.avatar_url = Some(info.headimgurl).filter(|h| !h.is_empty());
        }
        Err(e) => {
            tracing::warn!(error = ?e, "cgi-bin/user/info failed; confirming without unionid")
        }
    }
    if user.nickname.is_none()
        && let Some(p) = auth.cached_profile(&appid, &openid).await
    {
        user.nickname = Some(p.nickname).filter(|n| !n.is_empty());
        user.avatar_url = Some(p.avatar_url).filter(|a| !a.is_empty());
        user.unionid = user.unionid.or(p.unionid);
    }
    scene.status = match auth.run_on_login(user).await {
        Ok(user) => SceneStatus::Confirmed { user },
        Err(r) => SceneStatus::Refused {
            message: r.message().to_owned(),
        },
    };
    if let Err(e) = save_scene(&auth, &key, &scene).await {
        tracing::error!(error = ?e, "could not record a confirmed scan");
    }
    let _ = lease.finish(b"confirmed".to_vec(), ttl).await;
    tracing::debug!("scan confirmed");
    true
}

#[cfg(test)]
mod tests {
    use super::*;

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
            status: SceneStatus::Confirmed {
                user: WechatUser::new("wx2", "o1", crate::Channel::ScanFollow),
            },
        };
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains(r#""status":"confirmed""#), "{json}");
        let back: Scene = serde_json::from_str(&json).unwrap();
        assert_eq!(back.status, s.status);
    }
}
