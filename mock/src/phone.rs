//! `GET /mock/phone`: a phone for people trying scan login by hand. It lists the temporary QR
//! codes the mock has issued and still honours, newest first, with a button per simulated
//! user; pressing one is the same as `POST /mock/scan` (the event is pushed to the push URL).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::pages::{STYLE, escape};
use super::params::Params;
use super::scan::{ScanOptions, Target};
use super::state::Shared;

/// How many codes the page lists.
const SHOWN: usize = 10;

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
    let done = p
        .get("done")
        .map(|d| format!("<p class=\"code\">{}</p>", escape(d)))
        .unwrap_or_default();
    let html = format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>手机（mock）</title>{STYLE}</head><body><main>\
         <h1>手机（mock）：扫一扫</h1>{done}<ul class=\"users\">{items}</ul>\
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
