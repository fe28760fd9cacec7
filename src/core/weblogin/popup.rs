//! The callback's answer when the login was shown in a popup (`login?display=popup`) or in
//! the embedded QR's iframe (`self_redirect=true`).
//!
//! The popup page tells its opener `{type: "wechat-auth", ok, return_to | code, message,
//! nonce}` with `postMessage` addressed to this site's origin only (a foreign opener receives
//! nothing), or, when the opener link is gone, on `BroadcastChannel("wechat-auth")` (same
//! origin by nature); then it closes. The message carries no token: the session is the cookie
//! the callback set. The in-frame page moves the top window to `return_to` on this site.
//!
//! Any page of this origin can be opened by anyone (`callback?display=popup&state=x` from
//! another site, with `noopener`), and what it broadcasts reaches every tab of the site. So
//! each popup is bound to a random nonce: `embed.js` makes one, `login?display=popup&nonce=…`
//! signs it into the state cookie, and only a callback whose state cookie verified echoes it;
//! `WechatAuth.popup()` ignores every message without its own nonce.

use axum_core::body::Body;
use http::{Response, StatusCode};

use super::WebLogins;
use crate::{
    core::failure::Failure,
    core::pages::{self, Language, Markup, Page, PageKind},
    core::respond,
    user::Provider,
};

/// The script of the popup page: tell the opener (or the channel), close, and carry on
/// here if the window cannot close.
const POPUP_SCRIPT: &str = r#"<script>
(function () {
  var el = document.getElementById("wechat-auth-result");
  var msg = JSON.parse(el.getAttribute("data-message")), origin = el.getAttribute("data-origin");
  var told = false;
  try {
    if (window.opener && !window.opener.closed) { window.opener.postMessage(msg, origin); told = true; }
  } catch (e) {}
  if (!told && typeof BroadcastChannel === "function") {
    try {
      var channel = new BroadcastChannel("wechat-auth");
      channel.postMessage(msg); told = true;
      setTimeout(function () { channel.close(); }, 500);
    } catch (e) {}
  }
  setTimeout(function () { window.close(); }, told ? 150 : 0);
  // A window the site did not open cannot close itself: go on here.
  setTimeout(function () { if (msg.ok) { location.replace(msg.return_to || "/"); } }, 1200);
})();
</script>"#;

/// The script of the in-frame callback: move the top window on.
const FRAME_SCRIPT: &str = r#"<script>
(function () {
  var to = document.getElementById("wechat-auth-result").getAttribute("data-return-to");
  try { if (window.top !== window) { window.top.location.assign(to); return; } } catch (e) {}
  location.assign(to);
})();
</script>"#;

/// Whether `nonce` is one a popup may carry: 16 to 64 of `[A-Za-z0-9_-]`.
pub(crate) fn valid_nonce(nonce: &str) -> bool {
    (16..=64).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `message` with the popup's nonce, when the login's state cookie carried one.
fn with_nonce(mut message: serde_json::Value, nonce: Option<&str>) -> serde_json::Value {
    if let (Some(n), Some(fields)) = (nonce, message.as_object_mut()) {
        fields.insert("nonce".into(), n.into());
    }
    message
}

/// The popup page carrying `message`.
fn popup_page(
    auth: &WebLogins,
    status: StatusCode,
    page: Page<'_>,
    message: serde_json::Value,
    continue_to: Option<&str>,
) -> Response<Body> {
    let lang = page.language();
    let data = Markup::trusted(format!(
        "<div id=\"wechat-auth-result\" data-message=\"{}\" data-origin=\"{}\" hidden></div>",
        pages::escape(&message.to_string()),
        pages::escape(&auth.settings.origin),
    ));
    let link = continue_to
        .map(|to| {
            Markup::trusted(format!(
                "<a class=\"button\" href=\"{}\">{}</a>",
                pages::escape(to),
                pages::escape(lang.pick("继续 · Continue", "Continue"))
            ))
        })
        .unwrap_or_default();
    let extra = Markup::trusted(format!("{link}{data}"));
    let page = page
        .status(status)
        .compose(extra, Markup::trusted(POPUP_SCRIPT));
    respond::html(status, pages::render(&*auth.settings.pages, &page))
}

fn closing_note(lang: Language) -> &'static str {
    lang.pick("此窗口将自动关闭。", "This window closes by itself.")
}

/// Logged in: tell the opener (the one of `nonce`) where to go.
pub(crate) fn success(
    auth: &WebLogins,
    lang: Language,
    return_to: &str,
    nonce: Option<&str>,
) -> Response<Body> {
    let page = Page::new(
        PageKind::PopupResult,
        lang,
        lang.pick("登录成功 · Logged in", "Logged in"),
        lang.pick("登录成功", "Logged in"),
    )
    .with_text(closing_note(lang));
    let message = with_nonce(
        serde_json::json!({ "type": "wechat-auth", "ok": true, "return_to": return_to }),
        nonce,
    );
    popup_page(auth, StatusCode::OK, page, message, Some(return_to))
}

/// The person declined on the provider's page.
pub(crate) fn cancelled(
    auth: &WebLogins,
    lang: Language,
    provider: Provider,
    nonce: Option<&str>,
) -> Response<Body> {
    let text = super::declined_text(lang, provider);
    let text = text.as_str();
    let page = Page::new(
        PageKind::PopupResult,
        lang,
        lang.pick("已取消登录 · Login cancelled", "Login cancelled"),
        lang.pick("已取消登录", "Login cancelled"),
    )
    .with_text(text)
    .with_note(closing_note(lang))
    .code("cancelled");
    let message = with_nonce(
        serde_json::json!({
            "type": "wechat-auth", "ok": false, "code": "cancelled", "message": text,
        }),
        nonce,
    );
    popup_page(auth, StatusCode::OK, page, message, None)
}

/// The login failed: tell the opener why (the machine code of the failure, and its text).
/// `nonce` only once the login's state cookie verified: a callback anyone can open must
/// not speak for a pending popup.
pub(crate) fn failure(
    auth: &WebLogins,
    lang: Language,
    failure: &Failure,
    nonce: Option<&str>,
) -> Response<Body> {
    crate::core::render::popup(
        failure,
        lang,
        closing_note(lang),
        |status, page, message| popup_page(auth, status, page, with_nonce(message, nonce), None),
    )
}

/// Logged in inside the embedded QR's iframe: move the top window to `return_to`, which
/// must be on this site (an allow-listed other origin goes to `/` instead).
pub(crate) fn move_top(auth: &WebLogins, lang: Language, return_to: &str) -> Response<Body> {
    let local =
        return_to.starts_with('/') && !return_to.starts_with("//") && !return_to.starts_with("/\\");
    let to = if local { return_to } else { "/" };
    let data = Markup::trusted(format!(
        "<div id=\"wechat-auth-result\" data-return-to=\"{}\" hidden></div>\
         <a class=\"button\" href=\"{}\" target=\"_top\">{}</a>",
        pages::escape(to),
        pages::escape(to),
        pages::escape(lang.pick("继续 · Continue", "Continue")),
    ));
    let page = Page::new(
        PageKind::PopupResult,
        lang,
        lang.pick("登录成功 · Logged in", "Logged in"),
        lang.pick("登录成功", "Logged in"),
    )
    .compose(data, Markup::trusted(FRAME_SCRIPT));
    respond::html_framed(
        StatusCode::OK,
        pages::render(&*auth.settings.pages, &page),
        respond::Framing::InOwnFrame,
    )
}

/// A failure inside the embedded QR's iframe: the error page, allowed to show in the frame.
pub(crate) fn in_frame_failure(
    auth: &WebLogins,
    lang: Language,
    failure: &Failure,
    retry: Option<&str>,
) -> Response<Body> {
    crate::core::render::page(
        failure,
        &*auth.settings.pages,
        lang,
        retry,
        respond::Framing::InOwnFrame,
    )
}
