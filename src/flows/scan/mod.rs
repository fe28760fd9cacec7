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

mod follow_oa;
mod mini_code;
mod page;

pub(crate) use follow_oa::{confirm, image};
pub(crate) use mini_code::{mini_program_answer, mini_program_code};
pub(crate) use page::page;

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
    crate::metrics::scan("started");
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
    let _poll = crate::metrics::LongPoll::start(wait);
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
                crate::metrics::scan("refused");
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
                        crate::metrics::scan("expired");
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
    crate::metrics::scan("confirmed");
    let mut res = respond::json(
        StatusCode::OK,
        &serde_json::json!({ "status": "confirmed", "return_to": scene.return_to }),
    );
    auth.set_session_cookie(&mut res, &token);
    tracing::info!(channel = %user.channel, "login");
    Ok(res)
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
