//! The one place a failure becomes a response. Every failure the layer answers is first
//! described once ([`Failure::describe`]: status, machine code, Chinese and English text,
//! log level, `Retry-After`); this module logs it at that level and renders it in the form
//! the endpoint speaks:
//!
//! - [`json`]: `{"error": code, "message": …}` for the API endpoints;
//! - [`page`]: the site's error page ([`Pages`]) with a link to try again, in any frame
//!   policy;
//! - [`popup`]: the result page of a login in a popup, carrying the message its opener reads;
//! - [`push`]: the plain-text answer WeChat's push servers read;
//! - [`unauthenticated`]: the `401` of the guard and of the extractors
//!   (`WWW-Authenticate: Bearer`).
//!
//! No other module builds a failure response by hand, and no other module logs a failure it
//! answers (like axum's rejections: the failure knows what it is, one renderer says it).

use axum_core::body::Body;
use http::{HeaderValue, Response, StatusCode, header};

use crate::{
    core::failure::{Description, Failure},
    core::pages::{self, Language, Markup, Page, PageKind, Pages},
    core::respond::{self, Framing},
};

/// Logs `failure` at the level its description gives.
fn log(failure: &Failure, d: &Description) {
    match failure {
        Failure::Channel(f) => f.log(d),
        _ => crate::core::failure::log_at_level(failure, d),
    }
}

/// Headers every rendering carries: `Retry-After`, `Allow`, `Connection: close`.
fn finish(failure: &Failure, d: &Description, res: &mut Response<Body>) {
    let headers = res.headers_mut();
    if let Some(secs) = d.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    match failure {
        Failure::MethodNotAllowed(allow) => {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        // A client that trickles its body must not keep the connection.
        Failure::BodyTimeout => {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        _ => {}
    }
}

/// A JSON answer for an app: `{"error": code, "message": …}`.
pub(crate) fn json(failure: &Failure) -> Response<Body> {
    let d = failure.describe();
    log(failure, &d);
    let mut res = respond::json_error(d.status, d.code, &d.en);
    finish(failure, &d, &mut res);
    res
}

/// The error page for a person, rendered by the site's [`Pages`] in `language`, with a
/// link to try again; `framing` says who may frame it.
pub(crate) fn page(
    failure: &Failure,
    pages: &dyn Pages,
    language: Language,
    retry: Option<&str>,
    framing: Framing<'_>,
) -> Response<Body> {
    let d = failure.describe();
    log(failure, &d);
    let page = page_content(&d, language, retry);
    let mut res = respond::html_framed(d.status, pages::render(pages, &page), framing);
    finish(failure, &d, &mut res);
    res
}

/// What the error page says: the description in the visitor's language (a Chinese page
/// carries the English too).
fn page_content<'d>(d: &'d Description, language: Language, retry: Option<&str>) -> Page<'d> {
    let page = match language {
        Language::En => {
            Page::new(PageKind::Error, language, "Login failed", "Login failed").with_text(&d.en)
        }
        _ => Page::new(
            PageKind::Error,
            language,
            "登录失败 · Login failed",
            "登录失败",
        )
        .with_text(&d.zh)
        .with_note(&d.en),
    };
    page.status(d.status)
        .code(d.code)
        .retry(retry)
        .compose(Markup::default(), Markup::default())
}

/// A login in a popup failed: the result page says why in `lang` (with `note` below), and
/// `message` — `{"type": "wechat-auth", "ok": false, "code", "message"}` — is what the
/// opener reads. `shell` wraps both into the popup's page (the channel's script and
/// origin); the status and `Retry-After` come from here.
pub(crate) fn popup(
    failure: &Failure,
    lang: Language,
    note: &str,
    shell: impl FnOnce(StatusCode, Page<'_>, serde_json::Value) -> Response<Body>,
) -> Response<Body> {
    let d = failure.describe();
    log(failure, &d);
    let text = match lang {
        Language::En => d.en.as_ref(),
        _ => d.zh.as_ref(),
    };
    let page = Page::new(
        PageKind::PopupResult,
        lang,
        lang.pick("登录失败 · Login failed", "Login failed"),
        lang.pick("登录失败", "Login failed"),
    )
    .with_text(text)
    .with_note(note)
    .code(d.code);
    let message = serde_json::json!({
        "type": "wechat-auth", "ok": false, "code": d.code, "message": text,
    });
    let mut res = shell(d.status, page, message);
    finish(failure, &d, &mut res);
    res
}

/// The plain-text answer to WeChat's push servers: they read the status and retry on
/// anything but `success`; the body is the description's English text.
pub(crate) fn push(failure: &Failure) -> Response<Body> {
    let d = failure.describe();
    log(failure, &d);
    let mut res = Response::new(Body::from(d.en.to_string()));
    *res.status_mut() = d.status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    finish(failure, &d, &mut res);
    res
}

/// The `401` of the guard and of the extractors: the rendered JSON `body` (it names the
/// site's login URL), and `WWW-Authenticate: Bearer` (`error="invalid_token"` when a bearer
/// token was sent and is not valid). Not logged: it is the hot path of unauthenticated API
/// traffic.
pub(crate) fn unauthenticated(body: bytes::Bytes, invalid_bearer: bool) -> Response<Body> {
    let mut res = respond::json_bytes(StatusCode::UNAUTHORIZED, body);
    let challenge = if invalid_bearer {
        HeaderValue::from_static(r#"Bearer error="invalid_token""#)
    } else {
        HeaderValue::from_static("Bearer")
    };
    res.headers_mut()
        .insert(header::WWW_AUTHENTICATE, challenge);
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::limit::Exceeded;

    #[test]
    fn every_failure_has_one_description_and_the_renderings_agree() {
        let all = [
            Failure::BadRequest("x".into()),
            Failure::StateMismatch,
            Failure::ChannelOff("website"),
            Failure::Busy,
            Failure::CodeRefused(40029),
            Failure::TooMany(Exceeded::InFlight),
            Failure::TooMany(Exceeded::Failures),
            Failure::Refused("no".into()),
            Failure::CrossOrigin("logout must come from this site"),
            Failure::NotFound("no such scan"),
            Failure::TooLarge,
            Failure::BadBody,
            Failure::BodyTimeout,
            Failure::MethodNotAllowed("POST"),
        ];
        for f in all {
            let d = f.describe();
            assert!(
                d.status.is_client_error() || d.status.is_server_error(),
                "{f:?}"
            );
            assert!(!d.zh.is_empty() && !d.en.is_empty(), "{f:?}");
            let shell = |status, _: Page<'_>, message: serde_json::Value| {
                assert_eq!(message["code"], d.code);
                respond::html(status, String::new())
            };
            let (json, html, popup) = (
                json(&f),
                page(
                    &f,
                    &crate::core::pages::DefaultPages,
                    Language::Zh,
                    Some("/auth/wechat/login"),
                    Framing::None,
                ),
                popup(&f, Language::En, "", shell),
            );
            assert_eq!(
                (json.status(), html.status(), popup.status()),
                (d.status, d.status, d.status)
            );
            for res in [&html, &popup] {
                assert_eq!(
                    json.headers().get(header::RETRY_AFTER),
                    res.headers().get(header::RETRY_AFTER)
                );
            }
        }
        let res = json(&Failure::MethodNotAllowed("GET, HEAD"));
        assert_eq!(res.headers()[header::ALLOW], "GET, HEAD");
        assert_eq!(
            json(&Failure::BodyTimeout).headers()[header::CONNECTION],
            "close"
        );
        assert_eq!(json(&Failure::Busy).headers()[header::RETRY_AFTER], "5");
        assert_eq!(
            json(&Failure::TooMany(Exceeded::InFlight)).headers()[header::RETRY_AFTER],
            "60"
        );
    }

    #[test]
    fn the_401_carries_the_bearer_challenge() {
        let body = bytes::Bytes::from_static(br#"{"error":"unauthenticated"}"#);
        let res = unauthenticated(body.clone(), false);
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(res.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let res = unauthenticated(body, true);
        assert_eq!(
            res.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer error="invalid_token""#
        );
    }
}
