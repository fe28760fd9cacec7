//! `GET /mock/phone`: a phone for people trying scan login by hand. It lists the temporary QR
//! codes the mock has issued and still honours, newest first, with a button per simulated
//! user; pressing one is the same as `POST /mock/scan` (the event is pushed to the push URL).
//!
//! It also lists the mini program codes the mock drew (`wxa/getwxacodeunlimit`), newest
//! first, with "确认 / 取消 as USER" buttons: the mini program opens with the code's scene,
//! gets a fresh `wx.login()` code, POSTs `{scene, code}` to its server's
//! `/auth/wechat/miniprogram/scan/open` (which answers who asked and a token), and then
//! `{scene, token, decision}` to `/auth/wechat/miniprogram/scan` (`POST /mock/phone/miniprogram`).
//!
//! A form (`#open-link-form`) opens a mini program link (`wxa/generate_urllink`'s URL Link
//! or `wxa/generatescheme`'s `weixin://` openlink; the newest live one is filled in) as a
//! user: the mini program it opens answers its server with the link's `scene=` in the same
//! two steps (`POST /mock/phone/link`).
//!
//! And it shows each user's chat with each Official Account — the verified primary one and
//! the unverified subscription account — what they sent (a form per account and user sends
//! a text message, `POST /mock/phone/message` with the account's `appid`) and the account's
//! passive replies (element ids: see `chat_items`). A link in a
//! reply opens as inside WeChat (`GET /mock/phone/open`): the mock fetches it with a
//! `MicroMessenger` user agent and that user's cookies, answers WeChat's web authorization
//! as that user, and shows the page it lands on; a confirm page's `确认登录` / `取消` are
//! posted the same way (`POST /mock/phone/answer`), so a person can answer a scan login by
//! hand.

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
use super::links::open_link_form;
use super::pages::{STYLE, escape};
use super::params::Params;
use super::scan::{ScanOptions, Target};
use super::state::{Shared, WxaCode};

/// How many codes the page lists.
const SHOWN: usize = 10;
/// Where the mini program POSTs a decision, under its server's origin (the layer's default
/// prefix).
pub(crate) const MINI_SCAN_PATH: &str = "/auth/wechat/miniprogram/scan";
/// Where the mini program first says who opened the code (`{scene, code}`), and is told who
/// asked and a token for the decision.
pub(crate) const MINI_OPEN_PATH: &str = "/auth/wechat/miniprogram/scan/open";
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
    let link_form = open_link_form(&s, s.newest_link().as_deref());
    let chats = chat_items(&s);
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
         <h2>小程序链接（Mini program links）</h2>{link_form}\
         <h2>公众号消息（Official Account chat）</h2><ul class=\"users\">{chats}</ul>\
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
/// calls `wx.login()`, POSTs `{scene, code}` to its server's
/// `/auth/wechat/miniprogram/scan/open` (its confirm page shows the requester it answers),
/// and the user's decision with the token it gave, `{scene, token, decision}`, to
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
    answer_as_mini_program(s, &server, &scene, &code, user, decision).await
}

/// The opened mini program's two requests to its server: `{scene, code}` to
/// `{server}/auth/wechat/miniprogram/scan/open` (who asked, and a token), then the user's
/// `{scene, token, decision}` to `{server}/auth/wechat/miniprogram/scan`; the outcome line.
async fn answer_as_mini_program(
    s: &Shared,
    server: &str,
    scene: &str,
    code: &str,
    user: &str,
    decision: &str,
) -> Result<String, String> {
    let fail = |e: &dyn std::fmt::Display| format!("{user}: {decision} scene={scene}: {e}");
    // Step 1: the mini program says who opened the code, and is told who asked.
    let open_url = format!("{server}{MINI_OPEN_PATH}");
    let open = json!({ "scene": scene, "code": code }).to_string();
    let (status, text) = post_json(s, &open_url, open).await.map_err(|e| fail(&e))?;
    let opened: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let Some(token) = opened["token"].as_str().filter(|_| status == 200) else {
        return Ok(format!(
            "{user}: opened scene={scene} → {open_url}: {status} {}",
            reported(&text)
        ));
    };
    let r = &opened["requester"];
    let asked = format!(
        "requester: {} · {} · {} · {}",
        r["site"].as_str().unwrap_or("?"),
        r["browser"].as_str().unwrap_or("?"),
        r["ip"].as_str().unwrap_or("?"),
        r["time"].as_str().unwrap_or("?"),
    );
    // Step 2: the user read it on the confirm page and tapped a button.
    let url = format!("{server}{MINI_SCAN_PATH}");
    let body = json!({ "scene": scene, "token": token, "decision": decision }).to_string();
    let (status, text) = post_json(s, &url, body).await.map_err(|e| fail(&e))?;
    Ok(format!(
        "{user}: {decision} scene={scene} ({asked}) → {url}: {status} {}",
        reported(&text)
    ))
}

/// `POST /mock/phone/link` (form `url_link` (or `url`), `user`, `decision` = `confirm` |
/// `cancel`, `confirm` when absent): the user opens a mini program link in WeChat (as
/// `POST /mock/miniprogram/open {"url_link","user"}`), and the mini program it opens answers
/// its server with the link's `scene=` as a mini program code's page does (`scan/open`, then
/// `scan` with the decision); then back to the phone page with the outcome.
pub(crate) async fn open_link(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let form = String::from_utf8_lossy(&body);
    let p = Params::parse(Some(&form));
    let (Some(link), Some(user)) = (p.get("url_link").or_else(|| p.get("url")), p.get("user"))
    else {
        return (StatusCode::BAD_REQUEST, "url_link and user are required").into_response();
    };
    let decision = p.get("decision").unwrap_or("confirm");
    if !matches!(decision, "confirm" | "cancel") {
        return (
            StatusCode::BAD_REQUEST,
            "decision must be confirm or cancel",
        )
            .into_response();
    }
    let done = match link_decide(&s, link.trim(), user, decision).await {
        Ok(line) | Err(line) => line,
    };
    back_to_phone(&done)
}

/// Opens the link as `user` and sends the decision; the outcome line either way.
async fn link_decide(s: &Shared, link: &str, user: &str, decision: &str) -> Result<String, String> {
    let fail = |e: &dyn std::fmt::Display| format!("{user}: {decision} link: {e}");
    let opened = s.open_url_link(link, user).map_err(|e| fail(&e))?;
    let server = s
        .lock()
        .mini_servers
        .get(&opened.appid)
        .cloned()
        .ok_or_else(|| {
            fail(&format!(
                "no mini program server for {}: set one with POST /mock/miniprogram_server \
                 or MockWechat::set_mini_program_server",
                opened.appid
            ))
        })?;
    let Some(scene) = opened.scene.as_deref() else {
        return Err(fail(&format!(
            "the link opens {}?{} (scene {}), whose query has no scene=",
            opened.path, opened.query, opened.scene_id
        )));
    };
    answer_as_mini_program(s, &server, scene, &opened.code, user, decision).await
}

/// The start of a server's answer, as the page reports it.
fn reported(text: &str) -> String {
    text.chars().take(MAX_REPORTED_CHARS).collect()
}

/// POSTs JSON as the mini program's `wx.request` would; the status and (the start of) the
/// answer.
async fn post_json(s: &Shared, url: &str, body: String) -> Result<(u16, String), String> {
    let sent = s
        .push_http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .timeout(s.push_timeout)
        .send()
        .await;
    let mut resp = sent.map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status().as_u16();
    let mut answer = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("{url}: {status}, {e}"))?
    {
        let room = MAX_ANSWER_BYTES.saturating_sub(answer.len());
        answer.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    Ok((status, String::from_utf8_lossy(&answer).into_owned()))
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

/// The user agent of WeChat's built-in browser on a phone.
pub(crate) const WECHAT_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003129) NetType/WIFI Language/zh_CN";
/// Redirects followed when opening a link.
const MAX_HOPS: usize = 8;

/// One chat box per Official Account and user: the lines, the links of replies made
/// openable, and a send form. Element ids (stable; real-browser tests use them), with
/// `APPID` the account's appid and `USER` the user's name:
///
/// - `chat-APPID`: the account's section (`data-appid`, `data-verified` = `true` | `false`);
/// - `chat-APPID-USER`: one user's chat with it (each line a `p.line`, `data-from` =
///   `user` | `account`);
/// - `chat-form-APPID-USER`: its form, POSTing `user`, `appid` and `text` to
///   `/mock/phone/message`; `chat-text-APPID-USER` the text field, `chat-send-APPID-USER`
///   the button.
fn chat_items(s: &Shared) -> String {
    let mut items = String::new();
    let accounts = s.apps.iter().filter(|a| a.kind == AppKind::OfficialAccount);
    for app in accounts {
        let id = escape(&app.appid);
        let label = if app.verified {
            "公众号（已认证 · verified）"
        } else {
            "订阅号（未认证 · unverified subscription account）"
        };
        let _ = write!(
            items,
            "<li><section class=\"chat\" id=\"chat-{id}\" data-appid=\"{id}\" data-verified=\"{}\">\
             <h3>{label} {id}</h3><ul class=\"users\">",
            app.verified
        );
        for u in &s.users {
            let lines: Vec<_> = s
                .lock()
                .chats
                .get(&u.name)
                .map(|c| {
                    c.iter()
                        .rev()
                        .filter(|l| l.account == app.appid)
                        .take(SHOWN)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let name = escape(&u.name);
            let _ = write!(
                items,
                "<li id=\"chat-{id}-{name}\"><p><b>{}</b>（{name}）</p>",
                escape(&u.nickname),
            );
            for l in lines.iter().rev() {
                let who = if l.from == "user" { "我" } else { "公众号" };
                let _ = write!(
                    items,
                    "<p class=\"code line\" data-from=\"{}\">{who}：{}</p>",
                    l.from,
                    with_links(&l.text, &u.name)
                );
            }
            let _ = write!(
                items,
                "<form method=\"post\" action=\"/mock/phone/message\" id=\"chat-form-{id}-{name}\">\
                 <input type=\"hidden\" name=\"user\" value=\"{name}\">\
                 <input type=\"hidden\" name=\"appid\" value=\"{id}\">\
                 <input name=\"text\" id=\"chat-text-{id}-{name}\" placeholder=\"发消息（send a message）\"> \
                 <button class=\"button approve\" id=\"chat-send-{id}-{name}\">发送</button></form></li>"
            );
        }
        items.push_str("</ul></section></li>");
    }
    items
}

/// `text` escaped, with each `<a href="URL">label</a>` of a reply turned into a link that
/// opens URL as inside WeChat, as `user`.
fn with_links(text: &str, user: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("<a href=\"") {
        out.push_str(&escape(&rest[..at]).replace('\n', "<br>"));
        let after = &rest[at + 9..];
        let (Some(q), Some(close)) = (after.find('"'), after.find("</a>")) else {
            rest = &rest[at..];
            break;
        };
        let url = &after[..q];
        let label = after[q..close]
            .trim_start_matches('"')
            .trim_start_matches('>');
        let open = format!(
            "/mock/phone/open?user={}&url={}",
            url::form_urlencoded::byte_serialize(user.as_bytes()).collect::<String>(),
            url::form_urlencoded::byte_serialize(url.as_bytes()).collect::<String>()
        );
        let _ = write!(out, "<a href=\"{}\">{}</a>", escape(&open), escape(label));
        rest = &after[close + 4..];
    }
    out.push_str(&escape(rest).replace('\n', "<br>"));
    out
}

/// `POST /mock/phone/message` (form `user`, `text`, `appid`?): the user sends the Official
/// Account `appid` (default: the primary one) a text message; back to the phone page.
pub(crate) async fn send(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let form = String::from_utf8_lossy(&body);
    let p = Params::parse(Some(&form));
    let (Some(user), Some(text)) = (p.get("user"), p.get("text")) else {
        return (StatusCode::BAD_REQUEST, "user and text are required").into_response();
    };
    let appid = p.get("appid").map_or_else(
        || s.primary(AppKind::OfficialAccount).appid.clone(),
        str::to_owned,
    );
    match s.app(&appid) {
        Some(a) if a.kind == AppKind::OfficialAccount => {}
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                "appid is not an Official Account of this mock",
            )
                .into_response();
        }
    }
    let done = match s.send_text(&appid, user, text).await {
        Ok(r) if r.acknowledged => format!("{user}: sent → {} ✓", r.push_url),
        Ok(r) => format!(
            "{user}: sent → {} not acknowledged ({})",
            r.push_url,
            r.last_error.unwrap_or_else(|| "no answer".into())
        ),
        Err(e) => format!("{user}: {e}"),
    };
    back_to_phone(&done)
}

/// A user's cookies, per origin, as WeChat's browser would keep them (name → value).
fn jar_header(s: &Shared, user: &str, url: &url::Url) -> Option<String> {
    let origin = url.origin().ascii_serialization();
    let inner = s.lock();
    let jar = inner.phone_cookies.get(&(user.to_owned(), origin))?;
    Some(
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; "),
    )
    .filter(|h| !h.is_empty())
}

fn keep_cookies(s: &Shared, user: &str, url: &url::Url, headers: &reqwest::header::HeaderMap) {
    let origin = url.origin().ascii_serialization();
    let mut inner = s.lock();
    let jar = inner
        .phone_cookies
        .entry((user.to_owned(), origin))
        .or_default();
    for v in headers.get_all(reqwest::header::SET_COOKIE) {
        let Ok(v) = v.to_str() else { continue };
        let mut parts = v.split(';');
        let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
            continue;
        };
        let gone = parts.any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
        if gone || value.is_empty() {
            jar.remove(name.trim());
        } else {
            jar.insert(name.trim().to_owned(), value.trim().to_owned());
        }
    }
}

/// One request as `user`'s WeChat browser: their cookies, the WeChat user agent; WeChat's
/// own authorization pages answered as that user, redirects followed. The final URL, status
/// and body.
async fn browse(
    s: &Shared,
    user: &str,
    mut url: url::Url,
    mut form: Option<String>,
) -> Result<(url::Url, u16, String), String> {
    for _ in 0..MAX_HOPS {
        if url
            .as_str()
            .starts_with(&format!("{}/connect/oauth2/authorize", s.base_url))
        {
            let approved = super::MockWechat::approve_url(url.as_str(), user);
            url = url::Url::parse(&approved).map_err(|e| e.to_string())?;
        }
        let mut req = match form.take() {
            Some(body) => s
                .push_http
                .post(url.clone())
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .header(reqwest::header::ORIGIN, url.origin().ascii_serialization())
                .body(body),
            None => s.push_http.get(url.clone()),
        }
        .header(reqwest::header::USER_AGENT, WECHAT_UA)
        .timeout(s.push_timeout);
        if let Some(c) = jar_header(s, user, &url) {
            req = req.header(reqwest::header::COOKIE, c);
        }
        let res = req.send().await.map_err(|e| format!("{url}: {e}"))?;
        keep_cookies(s, user, &url, res.headers());
        let status = res.status();
        if status.is_redirection() {
            let loc = res
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| format!("{url}: {status} without Location"))?;
            url = url.join(loc).map_err(|e| e.to_string())?;
            continue;
        }
        let body = res.text().await.map_err(|e| e.to_string())?;
        return Ok((url, status.as_u16(), body));
    }
    Err(format!("more than {MAX_HOPS} redirects"))
}

/// The value of `name="NAME" value="…"` in a page (the confirm page's hidden token).
fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))? + name.len() + 15;
    let end = html[at..].find('"')?;
    Some(html_unescape(&html[at..at + end]))
}

fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The text of a page, tags dropped (enough to show what the phone sees).
fn page_text(html: &str) -> String {
    let body = html.split("<main>").nth(1).unwrap_or(html);
    let body = body.split("</main>").next().unwrap_or(body);
    let mut out = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    html_unescape(&out.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The page the phone shows after opening a link or answering: the text it landed on, and
/// the confirm page's two buttons when there is a form.
fn phone_view(user: &str, url: &url::Url, status: u16, html: &str) -> Response {
    let form = input_value(html, "token").map(|token| {
        const FORM: &str = "<form method=\"post\" action=\"";
        let action = html
            .find(FORM)
            .and_then(|at| {
                let rest = &html[at + FORM.len()..];
                rest.find('"').map(|e| html_unescape(&rest[..e]))
            })
            .and_then(|a| url.join(&a).ok())
            .map(|u| u.to_string())
            .unwrap_or_default();
        let mut buttons = String::new();
        for (decision, label, class) in [
            ("confirm", "确认登录", "approve"),
            ("cancel", "取消", "deny"),
        ] {
            let _ = write!(
                buttons,
                "<form method=\"post\" action=\"/mock/phone/answer\" style=\"display:inline\">\
                 <input type=\"hidden\" name=\"user\" value=\"{}\">\
                 <input type=\"hidden\" name=\"action\" value=\"{}\">\
                 <input type=\"hidden\" name=\"token\" value=\"{}\">\
                 <input type=\"hidden\" name=\"decision\" value=\"{decision}\">\
                 <button class=\"button {class}\" id=\"phone-{decision}\">{label}</button></form> ",
                escape(user),
                escape(&action),
                escape(&token),
            );
        }
        buttons
    });
    let html = format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>手机（mock）· 微信内打开</title>{STYLE}</head><body><main>\
         <h1>微信内打开（as {}）</h1><p class=\"code\">{} · {status}</p><p id=\"phone-page\">{}</p>{}\
         <p><a class=\"button deny\" href=\"/mock/phone\">返回（back）</a></p></main></body></html>",
        escape(user),
        escape(url.as_str()),
        escape(&page_text(html)),
        form.unwrap_or_default()
    );
    Html(html).into_response()
}

/// `GET /mock/phone/open?user=U&url=URL`: `U` taps a link in a reply.
pub(crate) async fn open(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    let (Some(user), Some(url)) = (p.get("user"), p.get("url")) else {
        return (StatusCode::BAD_REQUEST, "user and url are required").into_response();
    };
    let Ok(url) = url::Url::parse(url).map_err(|_| ()).and_then(|u| {
        if matches!(u.scheme(), "http" | "https") {
            Ok(u)
        } else {
            Err(())
        }
    }) else {
        return (StatusCode::BAD_REQUEST, "url must be http(s)").into_response();
    };
    if s.user(user).is_none() {
        return (StatusCode::BAD_REQUEST, "unknown user").into_response();
    }
    match browse(&s, user, url, None).await {
        Ok((url, status, body)) => phone_view(user, &url, status, &body),
        Err(e) => back_to_phone(&format!("{user}: {e}")),
    }
}

/// `POST /mock/phone/answer` (form `user`, `action`, `token`, `decision`): the user taps
/// 确认登录 or 取消 on the page they opened.
pub(crate) async fn answer(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let form = String::from_utf8_lossy(&body);
    let p = Params::parse(Some(&form));
    let (Some(user), Some(action), Some(token), Some(decision)) = (
        p.get("user"),
        p.get("action"),
        p.get("token"),
        p.get("decision"),
    ) else {
        return (
            StatusCode::BAD_REQUEST,
            "user, action, token and decision are required",
        )
            .into_response();
    };
    let Ok(url) = url::Url::parse(action) else {
        return (StatusCode::BAD_REQUEST, "action must be a URL").into_response();
    };
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token)
        .append_pair("decision", decision)
        .finish();
    match browse(&s, user, url, Some(body)).await {
        Ok((url, status, body)) => phone_view(user, &url, status, &body),
        Err(e) => back_to_phone(&format!("{user}: {e}")),
    }
}
