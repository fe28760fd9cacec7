//! `GET|POST PREFIX/scan/{id}/confirm`: the phone side of a scan login. The Official
//! Account's reply to the scan links here; WeChat opens it in its own browser.
//!
//! - `GET` without a session for this page: off to the Official Account's web authorization
//!   (`snsapi_base`, silent) with a state bound to this browser; WeChat comes back here with
//!   a `code`, which says which user opened the page. Only the user who scanned may go on.
//! - `GET` with that proof: the page shows who asked (site, browser, IP, time) and
//!   `确认登录` / `取消`, a form whose token is signed for this scan and this user.
//! - `POST` (`token`, `decision`): confirm → the scan is confirmed and the waiting browser
//!   gets its session; cancel → the scan is `refused` and nobody gets one.
//!
//! The page is plain HTML (no script) made by [`render`] from named slots, every one escaped.

use super::*;

/// How long the phone's proof of who opened the page, and the page's form token, last.
const PAGE_LIFE: Duration = Duration::from_secs(10 * 60);
/// The largest form read.
pub(crate) const MAX_FORM: usize = 4 * 1024;

/// The named slots of the confirm page.
#[derive(Debug, Default)]
pub(crate) struct ConfirmSlots<'a> {
    /// The heading.
    pub(crate) title: &'a str,
    /// The sentence under it.
    pub(crate) lead: &'a str,
    /// The site asked for (its host).
    pub(crate) site: &'a str,
    /// Who asked: browser and system, IP, time.
    pub(crate) browser: &'a str,
    pub(crate) ip: &'a str,
    pub(crate) time: &'a str,
    /// Where the form posts, and its token; no form when `token` is empty.
    pub(crate) action: &'a str,
    pub(crate) token: &'a str,
}

/// The confirm page's body (inside the layer's page frame), every slot escaped and filled in
/// one pass (a value that holds `{{TOKEN}}` is never filled in again).
pub(crate) fn render(s: &ConfirmSlots<'_>) -> String {
    let e = respond::escape;
    super::page::fill(include_str!("confirm.html"), |slot| {
        Some(match slot {
            "TITLE" => e(s.title),
            "LEAD" => e(s.lead),
            "SITE" => e(s.site),
            "BROWSER" => e(s.browser),
            "IP" => e(s.ip),
            "TIME" => e(s.time),
            "ACTION" => e(s.action),
            "TOKEN" => e(s.token),
            "ASK_HIDDEN" => (if s.token.is_empty() { "hidden" } else { "" }).to_owned(),
            _ => return None,
        })
    })
}

/// The page through the site's [`Pages`](crate::core::pages::Pages) hook
/// ([`PageKind::Confirm`](crate::core::pages::PageKind::Confirm)); the slots are escaped here.
fn page_response(
    auth: &Scan,
    req: &Parts,
    status: StatusCode,
    slots: &ConfirmSlots<'_>,
) -> Response<Body> {
    use crate::core::pages::{self, Markup, Page, PageKind};
    let language = auth.language(req);
    let page = Page::new(
        PageKind::Confirm,
        language,
        "确认登录 · Confirm the login",
        slots.title,
    )
    .status(status)
    .with_body(
        Markup::trusted(render(slots)),
        Markup::trusted(String::new()),
    );
    respond::html(status, pages::render(&*auth.settings.pages, &page))
}

/// A page with a message and no form.
fn message(auth: &Scan, req: &Parts, title: &str, lead: &str) -> Response<Body> {
    page_response(
        auth,
        req,
        StatusCode::OK,
        &ConfirmSlots {
            title,
            lead,
            ..ConfirmSlots::default()
        },
    )
}

fn state_cookie(auth: &Scan, id: &str) -> String {
    auth.cookie_name("wechat_cstate_", id)
}

fn user_cookie(auth: &Scan, id: &str) -> String {
    auth.cookie_name("wechat_cuser_", id)
}

/// The openid this phone proved for the page of scan `id`.
fn phone_user(auth: &Scan, req: &Parts, id: &str) -> Option<String> {
    crate::core::request::cookie_value(req, &user_cookie(auth, id))
        .and_then(|v| {
            auth.sessions
                .verify_state(v, id, TicketPurpose::ConfirmUser)
        })
        .map(|t| t.rt)
}

/// The form token: signed for this scan (`c` + id) and this user.
fn form_token(auth: &Scan, id: &str, openid: &str) -> String {
    auth.sessions.sign_state(&StateTicket::new(
        TicketPurpose::ConfirmForm,
        format!("c{id}"),
        openid.to_owned(),
        Channel::ScanFollow,
        PAGE_LIFE,
    ))
}

/// This page's URL.
fn page_url(auth: &Scan, id: &str) -> String {
    let s = &auth.settings;
    format!("{}{}/scan/{id}/confirm", s.origin, s.prefix)
}

/// A failure as the site's error page, in the visitor's language.
fn html_err(auth: &Scan, req: &Parts, f: Failure) -> Response<Body> {
    crate::core::render::page(
        &f,
        &*auth.settings.pages,
        auth.language(req),
        None,
        respond::Framing::None,
    )
}

/// `GET PREFIX/scan/{id}/confirm[?code&state]`.
pub(crate) async fn confirm_page(auth: &Scan, req: &Parts, id: &str) -> Response<Body> {
    // An unverified account has no web authorization (and no QR scans to confirm).
    let Some(oa) = auth
        .settings
        .official_account
        .as_ref()
        .filter(|_| auth.settings.oa_verified)
    else {
        return html_err(auth, req, Failure::ChannelOff("scan"));
    };
    let Some(key) = scene_key(auth, id).filter(|_| valid_id(id)) else {
        return html_err(auth, req, NOT_FOUND);
    };
    // The scene first, before any cookie: a page for an id that is no live scan of the
    // Official Account sets nothing (every id would otherwise leave a cookie behind: a
    // page linked 30 times from another site fills the Cookie header past what proxies
    // take).
    let found = match load_scene(auth, &key).await {
        Ok(found) => found.filter(|s| s.via == Via::FollowOa),
        Err(f) => return html_err(auth, req, f),
    };
    let live = found.as_ref().is_some_and(|s| match &s.status {
        SceneStatus::Pending | SceneStatus::Scanned { .. } => true,
        // Confirmation off: the user may still cancel a login the browser has not taken.
        SceneStatus::Confirmed { .. } => !auth.settings.scan_confirm,
        SceneStatus::Refused { .. } => false,
    });
    let q = Query::parse(req.uri.query());
    if !live && (q.get("code").is_some() || phone_user(auth, req, id).is_none()) {
        return html_err(auth, req, NOT_FOUND);
    }
    if let Some(code) = q.get("code") {
        // Back from web authorization: which user opened the page?
        let state = q.get("state").unwrap_or("");
        let bound = crate::core::request::cookie_value(req, &state_cookie(auth, id))
            .and_then(|v| {
                auth.sessions
                    .verify_state(v, state, TicketPurpose::ConfirmState)
            })
            .is_some();
        if !bound || state.is_empty() {
            return html_err(auth, req, Failure::StateMismatch);
        }
        // Bounded per client like every code exchange: made-up codes cost WeChat calls.
        let slot = match auth.exchanges.slot(auth.client_ip(req)) {
            Ok(slot) => slot,
            Err(e) => return html_err(auth, req, Failure::TooMany(e)),
        };
        let token = match auth
            .client
            .oauth2_access_token(oa.appid(), oa.secret(), code)
            .await
        {
            Ok(t) => t,
            Err(e) => {
                if e.kind() == wechat_auth_client::ErrorKind::LoginAgain {
                    slot.failed();
                }
                return html_err(auth, req, e.into());
            }
        };
        drop(slot);
        let proof = auth.sessions.sign_state(&StateTicket::new(
            TicketPurpose::ConfirmUser,
            id.to_owned(),
            token.openid.clone(),
            Channel::ScanFollow,
            PAGE_LIFE,
        ));
        // Back to the clean URL, so a reload does not spend the code again.
        let mut res = respond::redirect(StatusCode::SEE_OTHER, &page_url(auth, id));
        let c = auth.sessions.cookie_spec().build(
            user_cookie(auth, id),
            proof,
            auth.sessions.flow_cookie_path(),
            PAGE_LIFE.as_secs(),
        );
        respond::set_cookie(&mut res, &c);
        // The state cookie has done its work; and only the latest pages' proofs are kept.
        let spent = auth.sessions.cookie_spec().build(
            state_cookie(auth, id),
            "",
            auth.sessions.flow_cookie_path(),
            0,
        );
        respond::set_cookie(&mut res, &spent);
        drop_old_confirm_cookies(auth, req, &mut res, "wechat_cuser_", id);
        return res;
    }
    let Some(openid) = phone_user(auth, req, id) else {
        // Who is this? Ask WeChat, silently (snsapi_base).
        let state = random_token(32);
        let url = auth.client.authorize_url(
            oa.appid(),
            &page_url(auth, id),
            wechat_auth_client::OaScope::Base,
            &state,
            false,
        );
        let mut res = respond::redirect(StatusCode::FOUND, &url);
        let ticket = auth.sessions.sign_state(&StateTicket::new(
            TicketPurpose::ConfirmState,
            state,
            String::new(),
            Channel::OfficialAccount,
            PAGE_LIFE,
        ));
        let c = auth.sessions.cookie_spec().build(
            state_cookie(auth, id),
            ticket,
            auth.sessions.flow_cookie_path(),
            PAGE_LIFE.as_secs(),
        );
        respond::set_cookie(&mut res, &c);
        drop_old_confirm_cookies(auth, req, &mut res, "wechat_cstate_", id);
        return res;
    };
    let Some(scene) = found else {
        return message(
            auth,
            req,
            "登录已过期",
            "这个登录请求已过期，请在电脑上刷新二维码。",
        );
    };
    match &scene.status {
        SceneStatus::Scanned { openid: who } if *who == openid => {}
        SceneStatus::Confirmed { user } if user.openid == openid && !auth.settings.scan_confirm => {
        }
        SceneStatus::Confirmed { user } if user.openid == openid => {
            return message(auth, req, "已确认登录", "请回到电脑上继续。");
        }
        SceneStatus::Refused { .. } => {
            return message(auth, req, "已结束", "这次登录已结束，电脑上不会登录。");
        }
        _ => return html_err(auth, req, ScanFailure::NotYourConfirm.into()),
    }
    let site = auth.settings.public_host.clone();
    let (browser, ip, time) = match &scene.requester {
        Some(r) => (
            r.browser(),
            r.ip.clone().unwrap_or_else(|| "未知".into()),
            beijing_time(r.at),
        ),
        None => ("未知".into(), "未知".into(), String::new()),
    };
    let token = form_token(auth, id, &openid);
    let action = format!("{}/scan/{id}/confirm", auth.settings.prefix);
    let lead = if auth.settings.scan_confirm {
        "有人请求用你的微信登录以下网站。只有在电脑上操作的是你本人时才确认。"
    } else {
        "你已扫码登录以下网站。如果不是你本人操作，请点“取消”。"
    };
    page_response(
        auth,
        req,
        StatusCode::OK,
        &ConfirmSlots {
            title: "确认登录",
            lead,
            site: &site,
            browser: &browser,
            ip: &ip,
            time: &time,
            action: &action,
            token: &token,
        },
    )
}

/// The most confirm-page cookies of one kind (`wechat_cstate_*`, `wechat_cuser_*`) one
/// browser keeps, the one being set included: a phone answers one scan at a time, and
/// each cookie is some 300 bytes, so the Cookie header stays far below the 8 KB proxies take
/// however many pages it is sent to.
pub(crate) const MAX_CONFIRM_COOKIES: usize = 3;

/// How many of a request's confirm-page cookies of one kind are looked at.
const CONFIRM_COOKIES_EXAMINED: usize = 32;

/// Expires the oldest cookies named `{kind}{id}` (the flow cookie prefix applied) that the
/// browser sent with `req`, so that with the one for `id` that `res` sets it keeps at most
/// [`MAX_CONFIRM_COOKIES`]. Age is the header's order: browsers list the cookies of one path
/// oldest first (RFC 6265 §5.4). Only names of the shape we set are touched.
fn drop_old_confirm_cookies(
    auth: &Scan,
    req: &Parts,
    res: &mut Response<Body>,
    kind: &str,
    id: &str,
) {
    let prefix = auth.cookie_name(kind, "");
    let current = auth.cookie_name(kind, id);
    let mut held: Vec<String> = Vec::new();
    for c in respond::request_cookies(req) {
        let ours = c.name().strip_prefix(prefix.as_str()).is_some_and(valid_id);
        if !ours || c.name() == current || held.iter().any(|h| h == c.name()) {
            continue;
        }
        // A hostile header may hold thousands: the rest wait for the next page.
        if held.len() >= CONFIRM_COOKIES_EXAMINED {
            break;
        }
        held.push(c.name().to_owned());
    }
    // Oldest first: keep the newest `MAX - 1` besides the one being set.
    let excess = held.len().saturating_sub(MAX_CONFIRM_COOKIES - 1);
    for name in held.drain(..excess) {
        auth.sessions.expire_flow_cookie(res, name);
    }
}

/// What the phone decided.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Decision {
    Confirm,
    Cancel,
}

/// `POST PREFIX/scan/{id}/confirm` (form `token`, `decision`).
pub(crate) async fn confirm_answer(
    auth: &Scan,
    req: &Parts,
    id: &str,
    body: bytes::Bytes,
) -> Response<Body> {
    let Some(key) = scene_key(auth, id).filter(|_| valid_id(id)) else {
        return html_err(auth, req, NOT_FOUND);
    };
    if !auth.origins.same_origin(req) {
        return html_err(
            auth,
            req,
            Failure::CrossOrigin("the confirmation must come from this site"),
        );
    }
    let form = Query::parse(std::str::from_utf8(&body).ok());
    let decision = match form.get("decision") {
        Some("confirm") => Decision::Confirm,
        Some("cancel") => Decision::Cancel,
        _ => {
            return html_err(
                auth,
                req,
                Failure::BadRequest("decision must be confirm or cancel".into()),
            );
        }
    };
    // Both proofs, for the same user: the page's cookie and the form's token.
    let Some(openid) = phone_user(auth, req, id) else {
        return html_err(auth, req, ScanFailure::NotYourConfirm.into());
    };
    let token_user = form
        .get("token")
        .and_then(|t| {
            auth.sessions
                .verify_state(t, &format!("c{id}"), TicketPurpose::ConfirmForm)
        })
        .map(|t| t.rt);
    if token_user.as_deref() != Some(openid.as_str()) {
        return html_err(auth, req, ScanFailure::NotYourConfirm.into());
    }
    // One answer per scene, on every instance.
    let claim = super::records::scan_confirm_key(
        auth.settings
            .official_account
            .as_ref()
            .map_or("", AppCredentials::appid),
        id,
    );
    let ttl = auth.settings.scan_ttl;
    let lease = match flight::join(auth.store.as_ref(), &claim, |_| true, ttl, Duration::ZERO).await
    {
        Ok(Turn::Mine(lease)) => lease,
        Ok(Turn::Ready(_) | Turn::Busy) => {
            return html_err(auth, req, ScanFailure::Answered.into());
        }
        Err(e) => return html_err(auth, req, e.into()),
    };
    let scene = match load_scene(auth, &key).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            let _ = lease.finish(b"expired".to_vec(), ttl).await;
            return message(
                auth,
                req,
                "登录已过期",
                "这个登录请求已过期，请在电脑上刷新二维码。",
            );
        }
        Err(f) => {
            let _ = lease.give_up().await;
            return html_err(auth, req, f);
        }
    };
    let answerable = match &scene.status {
        SceneStatus::Scanned { openid: who } => *who == openid,
        // Confirmation off: the user may still cancel a login not yet taken.
        SceneStatus::Confirmed { user } => {
            user.openid == openid && decision == Decision::Cancel && !auth.settings.scan_confirm
        }
        _ => false,
    };
    if !answerable {
        let _ = lease.give_up().await;
        return html_err(auth, req, ScanFailure::NotYourConfirm.into());
    }
    let done = match decision {
        Decision::Confirm => {
            auth.records.log_in(&key, scene, openid).await;
            match load_scene(auth, &key).await {
                Ok(Some(Scene {
                    status: SceneStatus::Refused { message: m },
                    ..
                })) => {
                    let _ = lease.finish(b"refused".to_vec(), ttl).await;
                    return message(auth, req, "无法登录", &m);
                }
                _ => ("已确认登录", "请回到电脑上继续。"),
            }
        }
        Decision::Cancel => {
            let mut scene = scene;
            scene.status = SceneStatus::Refused {
                message: "已在手机上取消登录 · The login was cancelled on the phone.".into(),
            };
            if let Err(f) = save_scene(auth, &key, &scene).await {
                let _ = lease.give_up().await;
                return html_err(auth, req, f);
            }
            tracing::info!("scan login cancelled on the phone");
            ("已取消", "这次登录已取消，电脑上不会登录。")
        }
    };
    let _ = lease.finish(b"answered".to_vec(), ttl).await;
    message(auth, req, done.0, done.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_slot_is_escaped_and_the_form_hides_without_a_token() {
        let evil = "<script>alert(1)</script>\"'&";
        let html = render(&ConfirmSlots {
            title: evil,
            lead: evil,
            site: evil,
            browser: evil,
            ip: evil,
            time: evil,
            action: evil,
            token: evil,
        });
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("{{"), "every slot filled: {html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"));
        assert!(!html.contains(" hidden"), "a token shows the form");
        let done = render(&ConfirmSlots {
            title: "已取消",
            ..ConfirmSlots::default()
        });
        assert!(
            done.contains("<form method=\"post\" action=\"\" hidden>"),
            "{done}"
        );
    }

    #[test]
    fn a_slot_that_holds_a_placeholder_is_not_filled_again() {
        let html = render(&ConfirmSlots {
            title: "t",
            browser: "{{TOKEN}} {{ACTION}} {{ASK_HIDDEN}} {{SITE}}",
            site: "example.com",
            action: "/auth/wechat/scan/x/confirm",
            token: "SECRET-FORM-TOKEN",
            ..ConfirmSlots::default()
        });
        assert_eq!(html.matches("SECRET-FORM-TOKEN").count(), 1, "{html}");
        assert_eq!(html.matches("/auth/wechat/scan/x/confirm").count(), 1);
        assert!(
            html.contains("浏览器：{{TOKEN}} {{ACTION}} {{ASK_HIDDEN}} {{SITE}}</p>"),
            "{html}"
        );
    }
}
