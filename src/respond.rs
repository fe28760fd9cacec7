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

/// An HTML page.
pub(crate) fn html(status: StatusCode, page: String) -> Response<Body> {
    let mut res = Response::new(Body::from(page));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https:; script-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
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
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A complete, self-contained HTML page (no external assets).
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font-family:-apple-system,"PingFang SC","Microsoft YaHei",system-ui,sans-serif;background:#f5f6f7;color:#1f2329;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}}
main{{background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:32px 28px;max-width:420px;width:calc(100% - 32px);box-sizing:border-box;text-align:center}}
h1{{font-size:20px;margin:0 0 12px}} p{{line-height:1.6;margin:8px 0;color:#4e5969}}
.en{{font-size:13px;color:#86909c}} code{{background:#f2f3f5;padding:1px 4px;border-radius:4px}}
a.button,button{{display:inline-block;margin-top:16px;background:#07c160;color:#fff;text-decoration:none;border:0;border-radius:8px;padding:10px 22px;font-size:16px;cursor:pointer}}
</style></head><body><main>
{body}
</main></body></html>"#,
        title = escape(title),
    )
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
    fn bad_location_falls_back_to_root() {
        let r = redirect(StatusCode::FOUND, "/a\nb");
        assert_eq!(r.headers()[header::LOCATION], "/");
    }
}
