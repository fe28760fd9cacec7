//! Small builders for the responses the layer writes itself: JSON, HTML pages, redirects,
//! cookies.

use axum_core::body::Body;
use cookie::{Cookie, SameSite};
use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

/// A JSON response.
pub(crate) fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    json_bytes(status, body.into())
}

/// A JSON response from an already-rendered body.
pub(crate) fn json_bytes(status: StatusCode, body: bytes::Bytes) -> Response<Body> {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    no_store(res)
}

/// A JSON error: `{"error": code, "message": …}` plus any extra fields.
pub(crate) fn json_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    json(
        status,
        &serde_json::json!({ "error": code, "message": message }),
    )
}

/// An HTML page that no other page may frame.
pub(crate) fn html(status: StatusCode, page: String) -> Response<Body> {
    html_framed(status, page, Framing::None)
}

/// The policy every page of the layer shares: inline styles and scripts only, fetches to
/// this origin only; frames as [`Framing`] says.
const CSP_BASE: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https:; script-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'self'; ";

/// Which frames a page may hold, and who may frame it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Framing<'a> {
    /// No frames in it, and nobody may frame it (every page but the two below).
    None,
    /// The page hosts WeChat's QR login in an iframe: frames from this origin (the
    /// configured open-platform base) only — and, when `true`, this site's own callback,
    /// which the frame navigates to under `self_redirect`; nobody may frame the page itself.
    HostsWechat(&'a str, bool),
    /// The page runs inside an iframe of one of this site's own pages (the embedded QR's
    /// `self_redirect` callback).
    InOwnFrame,
}

impl Framing<'_> {
    /// The `Content-Security-Policy` value.
    pub(crate) fn policy(self) -> String {
        match self {
            Framing::None => format!("{CSP_BASE}frame-ancestors 'none'"),
            Framing::HostsWechat(origin, false) => {
                format!("{CSP_BASE}frame-src {origin}; frame-ancestors 'none'")
            }
            Framing::HostsWechat(origin, true) => {
                format!("{CSP_BASE}frame-src {origin} 'self'; frame-ancestors 'none'")
            }
            Framing::InOwnFrame => format!("{CSP_BASE}frame-ancestors 'self'"),
        }
    }
}

/// An HTML page with the frame policy `framing`.
pub(crate) fn html_framed(
    status: StatusCode,
    page: String,
    framing: Framing<'_>,
) -> Response<Body> {
    let mut res = Response::new(Body::from(page));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    let policy = match framing {
        // The common case without an allocation.
        Framing::None => HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https:; script-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
        other => HeaderValue::from_str(&other.policy()).unwrap_or_else(|_| {
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'")
        }),
    };
    res.headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, policy);
    no_store(res)
}

/// A redirect with `Location`.
pub(crate) fn redirect(status: StatusCode, location: &str) -> Response<Body> {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = status;
    match HeaderValue::from_str(location) {
        Ok(v) => {
            res.headers_mut().insert(header::LOCATION, v);
        }
        Err(_) => {
            res.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/"));
        }
    }
    no_store(res)
}

/// Marks a response as not cacheable: everything the layer writes is per person.
fn no_store(mut res: Response<Body>) -> Response<Body> {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The cookies a request carries, every `Cookie` header read in order (browsers list the
/// cookies of one path oldest first, RFC 6265 §5.4); unparsable ones are skipped.
pub(crate) fn request_cookies(req: &http::request::Parts) -> impl Iterator<Item = Cookie<'_>> {
    req.headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| Cookie::split_parse(v).flatten())
}

/// Appends a `Set-Cookie`.
pub(crate) fn set_cookie(res: &mut Response<Body>, cookie: &Cookie<'_>) {
    if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The attributes every cookie of the layer shares.
pub(crate) struct CookieSpec<'a> {
    pub(crate) secure: bool,
    pub(crate) domain: Option<&'a str>,
}

impl CookieSpec<'_> {
    /// An HttpOnly, SameSite=Lax cookie on `path`, living `max_age` seconds (0 = delete).
    pub(crate) fn build<'c>(
        &self,
        name: impl Into<std::borrow::Cow<'c, str>>,
        value: impl Into<std::borrow::Cow<'c, str>>,
        path: &'c str,
        max_age: u64,
    ) -> Cookie<'c> {
        let mut c = Cookie::build((name, value))
            .path(path)
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(cookie::time::Duration::seconds(
                i64::try_from(max_age).unwrap_or(i64::MAX),
            ))
            .build();
        if let Some(d) = self.domain {
            c.set_domain(d.to_owned());
        }
        c
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn escape(s: &str) -> String {
    crate::core::pages::escape(s)
}

/// Characters escaped in a query value.
pub(crate) const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn cookies_are_http_only_lax() {
        let spec = CookieSpec {
            secure: true,
            domain: None,
        };
        let c = spec.build("n", "v", "/", 60).to_string();
        assert!(c.contains("HttpOnly"), "{c}");
        assert!(c.contains("SameSite=Lax"), "{c}");
        assert!(c.contains("Secure"), "{c}");
        assert!(c.contains("Path=/"), "{c}");
        assert!(c.contains("Max-Age=60"), "{c}");
    }

    #[test]
    fn only_the_pages_that_need_frames_get_them() {
        assert_eq!(
            Framing::None.policy(),
            html(StatusCode::OK, String::new()).headers()[header::CONTENT_SECURITY_POLICY]
        );
        let own = Framing::HostsWechat("https://open.weixin.qq.com", true).policy();
        assert!(
            own.contains("; frame-src https://open.weixin.qq.com 'self'; frame-ancestors 'none'")
        );
        let host = Framing::HostsWechat("https://open.weixin.qq.com", false).policy();
        assert!(host.contains("; frame-src https://open.weixin.qq.com; frame-ancestors 'none'"));
        assert!(host.starts_with("default-src 'none'; "));
        assert!(
            Framing::InOwnFrame
                .policy()
                .ends_with("frame-ancestors 'self'")
        );
        assert!(!Framing::InOwnFrame.policy().contains("frame-src"));
    }

    #[test]
    fn bad_location_falls_back_to_root() {
        let r = redirect(StatusCode::FOUND, "/a\nb");
        assert_eq!(r.headers()[header::LOCATION], "/");
    }
}
