//! `GET /mock/phone`: a phone for people trying scan login by hand. It lists the temporary QR
//! codes the mock has issued and still honours, newest first, with a button per simulated
//! user; pressing one is the same as `POST /mock/scan` (the event is pushed to the push URL).
//!
//! It also lists the mini program codes the mock drew (`wxa/getwxacodeunlimit`), newest
//! first, with "确认 / 取消 as USER" buttons: the mini program opens with the code's scene,
//! gets a fresh `wx.login()` code and POSTs `{scene, code, decision}` to its server's
//! `/auth/wechat/miniprogram/scan` (`POST /mock/phone/miniprogram`).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use serde::Deserialize;
use serde_json::json;

use super::config::AppKind;
use super::errors::{MockError, control_error, json};
use super::pages::{STYLE, escape};
use super::params::Params;
use super::scan::{ScanOptions, Target};
use super::state::{Shared, WxaCode};

/// How many codes the page lists.
const SHOWN: usize = 10;
/// Where the mini program POSTs a decision, under its server's origin (the layer's default
/// prefix).
pub(crate) const MINI_SCAN_PATH: &str = "/auth/wechat/miniprogram/scan";
/// The most of the server's answer the page reports.
const MAX_REPORTED_CHARS: usize = 512;
/// The most of the server's answer the mock reads.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// `GET /mock/phone?done=…`
pub(crate) async fn page(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    let now = s.now();
    let mut live: Vec<_> = {
        let inner = s.lock();
        inner
            .temp_tickets
            .iter()
            .map(|(_, t)| t.clone())
            .filter(|t| t.alive(now))
            .collect()
    };
    live.sort_by_key(|t| std::cmp::Reverse(t.expires_at));
    live.truncate(SHOWN);
    let mut items = String::new();
    for t in &live {
        let left = t
            .expires_at
            .and_then(|e| e.duration_since(now).ok())
            .map_or(0, |d| d.as_secs());
        let _ = write!(
            items,
            "<li><p class=\"code\">{} · {} s</p>",
            escape(&t.url),
            left
        );
        for u in &s.users {
            let _ = write!(
                items,
                "<form method=\"post\" action=\"/mock/phone/scan\" style=\"display:inline\">\
                 <input type=\"hidden\" name=\"ticket\" value=\"{}\">\
                 <input type=\"hidden\" name=\"user\" value=\"{}\">\
                 <button class=\"button approve\">以 {} 身份扫码（scan as {}）</button></form> ",
                escape(&t.ticket),
                escape(&u.name),
                escape(&u.nickname),
                escape(&u.name),
            );
        }
        items.push_str("</li>");
    }
    if live.is_empty() {
        items.push_str("<li>没有可扫的二维码。先在应用里打开扫码登录页。<br>No QR code to scan yet: open the app's scan-login page first.</li>");
    }
    let mini_items = mini_program_items(&s, now);
    let done = p
        .get("done")
        .map(|d| format!("<p class=\"code\">{}</p>", escape(d)))
        .unwrap_or_default();
    let html = format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>手机（mock）</title>{STYLE}</head><body><main>\
         <h1>手机（mock）：扫一扫</h1>{done}<ul class=\"users\">{items}</ul>\
         <h2>小程序码（Mini program codes）</h2><ul class=\"users\">{mini_items}</ul>\
         <p><a class=\"button deny\" href=\"/mock/phone\">刷新（refresh）</a></p></main></body></html>"
    );
    Html(html).into_response()
}

/// `POST /mock/phone/scan` (form `ticket`, `user`): scans, then back to the phone page.
pub(crate) async fn scan(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let form = String::from_utf8_lossy(&body);
    let p = Params::parse(Some(&form));
    let (Some(ticket), Some(user)) = (p.get("ticket"), p.get("user")) else {
        return (StatusCode::BAD_REQUEST, "ticket and user are required").into_response();
    };
    let done = match s
        .scan(
            &Target::Ticket(ticket.to_owned()),
            user,
            &ScanOptions::default(),
        )
        .await
    {
        Ok(r) if r.acknowledged => format!("{user}: {} → {} ✓", r.event, r.push_url),
        Ok(r) => format!(
            "{user}: {} → {} not acknowledged ({})",
            r.event,
            r.push_url,
            r.last_error
                .or(r.last_body)
                .unwrap_or_else(|| "no answer".into())
        ),
        Err(e) => format!("{user}: {e}"),
    };
    back_to_phone(&done)
}

/// The page's list of remembered mini program codes, newest first, with a confirm and a
/// cancel button per user.
fn mini_program_items(s: &Shared, now: SystemTime) -> String {
    let (codes, servers): (Vec<WxaCode>, _) = {
        let inner = s.lock();
        (
            inner.wxa_codes.iter().rev().take(SHOWN).cloned().collect(),
            inner.mini_servers.clone(),
        )
    };
    let mut items = String::new();
    for c in &codes {
        let age = now.duration_since(c.at).map_or(0, |d| d.as_secs());
        let server = servers.get(&c.appid).map_or_else(
            || "no mini program server set".to_owned(),
            |u| format!("→ {u}{MINI_SCAN_PATH}"),
        );
        let _ = write!(
            items,
            "<li><p class=\"code\">scene={} · {} · {} s ago · {}</p>",
            escape(&c.scene),
            escape(&c.appid),
            age,
            escape(&server),
        );
        for u in &s.users {
            for (decision, label, class) in
                [("confirm", "确认", "approve"), ("cancel", "取消", "deny")]
            {
                let _ = write!(
                    items,
                    "<form method=\"post\" action=\"/mock/phone/miniprogram\" style=\"display:inline\">\
                     <input type=\"hidden\" name=\"appid\" value=\"{}\">\
                     <input type=\"hidden\" name=\"scene\" value=\"{}\">\
                     <input type=\"hidden\" name=\"user\" value=\"{}\">\
                     <input type=\"hidden\" name=\"decision\" value=\"{decision}\">\
                     <button class=\"button {class}\">{label} as {}</button></form> ",
                    escape(&c.appid),
                    escape(&c.scene),
                    escape(&u.name),
                    escape(&u.name),
                );
            }
        }
        items.push_str("</li>");
    }
    if codes.is_empty() {
        items.push_str("<li>还没有小程序码。先在网站上选择小程序码登录。<br>No mini program code yet: open the site's mini program code login first.</li>");
    }
    items
}

/// `POST /mock/phone/miniprogram` (form `scene`, `user`, `decision` = `confirm` | `cancel`,
/// `appid`?): the user scans the mini program code, the mini program opens with its scene,
/// calls `wx.login()` and POSTs `{scene, code, decision}` to its server's
/// `/auth/wechat/miniprogram/scan`; then back to the phone page with the outcome.
pub(crate) async fn mini_program(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let form = String::from_utf8_lossy(&body);
    let p = Params::parse(Some(&form));
    let (Some(scene), Some(user), Some(decision)) =
        (p.get("scene"), p.get("user"), p.get("decision"))
    else {
        return (
            StatusCode::BAD_REQUEST,
            "scene, user and decision are required",
        )
            .into_response();
    };
    if !matches!(decision, "confirm" | "cancel") {
        return (
            StatusCode::BAD_REQUEST,
            "decision must be confirm or cancel",
        )
            .into_response();
    }
    let primary = s.primary(AppKind::MiniProgram).appid.clone();
    let appid = p.get("appid").unwrap_or(&primary).to_owned();
    let done = match decide(&s, &appid, &primary, scene, user, decision).await {
        Ok(line) | Err(line) => line,
    };
    back_to_phone(&done)
}

/// Opens the mini program and sends the decision; the outcome line either way.
async fn decide(
    s: &Shared,
    appid: &str,
    primary: &str,
    scene: &str,
    user: &str,
    decision: &str,
) -> Result<String, String> {
    let fail = |e: &dyn std::fmt::Display| format!("{user}: {decision} scene={scene}: {e}");
    let server = s.lock().mini_servers.get(appid).cloned().ok_or_else(|| {
        fail(&format!(
            "no mini program server for {appid}: set one with POST /mock/miniprogram_server \
             or MockWechat::set_mini_program_server"
        ))
    })?;
    let (scene, code) = if appid == primary {
        s.open_mini_program(scene, user)
    } else {
        super::wxa::check_scene(scene)
            .map_err(|_| {
                MockError::Invalid(format!("scene {scene:?} is no mini program code scene"))
            })
            .and_then(|()| s.sdk_code(appid, user))
            .map(|code| (scene.to_owned(), code))
    }
    .map_err(|e| fail(&e))?;
    let url = format!("{server}{MINI_SCAN_PATH}");
    let body = json!({ "scene": scene, "code": code, "decision": decision }).to_string();
    let sent = s
        .push_http
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .timeout(s.push_timeout)
        .send()
        .await;
    let mut resp = sent.map_err(|e| fail(&format!("{url}: {e}")))?;
    let status = resp.status().as_u16();
    let mut answer = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| fail(&format!("{url}: {status}, {e}")))?
    {
        let room = MAX_ANSWER_BYTES.saturating_sub(answer.len());
        answer.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    let text: String = String::from_utf8_lossy(&answer)
        .chars()
        .take(MAX_REPORTED_CHARS)
        .collect();
    Ok(format!(
        "{user}: {decision} scene={scene} → {url}: {status} {text}"
    ))
}

/// 303 to the phone page showing `done`.
fn back_to_phone(done: &str) -> Response {
    let location = format!(
        "/mock/phone?done={}",
        url::form_urlencoded::byte_serialize(done.as_bytes()).collect::<String>()
    );
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerReq {
    appid: Option<String>,
    url: Option<String>,
}

/// `POST /mock/miniprogram_server` `{"url": URL | null, "appid"?}`: sets (or clears) where
/// a mini program (default: the primary one) sends its requests.
pub(crate) async fn set_server(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: ServerReq = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return control_error(format!("bad JSON body: {e}")),
    };
    let appid = req
        .appid
        .unwrap_or_else(|| s.primary(AppKind::MiniProgram).appid.clone());
    match s.set_mini_program_server(&appid, req.url.as_deref()) {
        Ok(()) => {
            let url = s.lock().mini_servers.get(&appid).cloned();
            json(&json!({ "appid": appid, "url": url }))
        }
        Err(e) => control_error(e),
    }
}
