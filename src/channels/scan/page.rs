//! The scan page: self-contained HTML (no CDN, no third-party image host) that starts a scan,
//! shows its code, waits, and moves on. The markup and script are in `page.html`.

use super::*;

/// `GET PREFIX/scan?return_to=/path`: the page that shows the QR code and waits.
pub(crate) fn page(auth: &Scan, req: &Parts) -> Response<Body> {
    let q = Query::parse(req.uri.query());
    let via = match Via::of(auth, &q).and_then(|via| scan_ready(auth, via).map(|()| via)) {
        Ok(via) => via,
        Err(e) => {
            return crate::core::render::page(
                &e,
                &*auth.settings.pages,
                auth.language(req),
                None,
                respond::Framing::None,
            );
        }
    };
    let return_to = safe_return_to(q.get("return_to"), &auth.settings.allowed_origins);
    let start = format!(
        "{}/scan?return_to={}{}",
        auth.settings.prefix,
        percent_encoding::utf8_percent_encode(&return_to, QUERY_VALUE),
        match via {
            Via::FollowOa => "",
            Via::MiniProgram => "&via=miniprogram",
            Via::Message => "&via=message",
            Via::Link => "&via=link",
        }
    );
    if via == Via::Message {
        return message_page(auth, req, &start);
    }
    let body = fill(include_str!("page.html"), |slot| match slot {
        "START" => Some(respond::escape(&start)),
        "PREFIX" => Some(respond::escape(&auth.settings.prefix)),
        _ => None,
    });
    // The site's `Pages` may restyle the page; the script (and its data) stays the layer's.
    let script = body
        .find("<script")
        .map(|at| body[at..].to_owned())
        .unwrap_or_default();
    let lang = auth.language(req);
    let page = crate::core::pages::Page::new(
        crate::core::pages::PageKind::Scan,
        lang,
        lang.pick("微信扫码登录 · Scan to log in", "Scan to log in"),
        lang.pick("微信扫码登录", "Scan to log in"),
    )
    .with_body(
        crate::core::pages::Markup::trusted(body),
        crate::core::pages::Markup::trusted(script),
    );
    respond::html(
        StatusCode::OK,
        crate::core::pages::render(&*auth.settings.pages, &page),
    )
}

/// `GET PREFIX/scan?via=message`: the page that shows this browser's code ("关注「NAME」，发送
/// CODE"), the account's own QR image when configured, and waits like every scan page.
/// Every value is escaped; the code is put in by the script (`textContent`).
fn message_page(auth: &Scan, req: &Parts, start: &str) -> Response<Body> {
    let lang = auth.language(req);
    let name = auth.settings.oa_name.as_deref();
    let body = fill(include_str!("message.html"), |slot| match slot {
        "START" => Some(respond::escape(start)),
        "PREFIX" => Some(respond::escape(&auth.settings.prefix)),
        "TITLE_ZH" => Some("发送登录码登录".to_owned()),
        "TITLE_EN" => Some("Log in by sending a code".to_owned()),
        "FOLLOW_ZH" => Some(match name {
            Some(n) => format!("关注「{}」，发送 ", respond::escape(n)),
            None => "关注公众号，发送 ".to_owned(),
        }),
        "FOLLOW_EN" => Some(match name {
            Some(n) => format!("Follow {} and send ", respond::escape(n)),
            None => "Follow the Official Account and send ".to_owned(),
        }),
        "QR" => Some(match &auth.settings.oa_qr_image_url {
            Some(url) => format!(
                "<img id=\"account-qr\" src=\"{}\" alt=\"{}\" width=\"200\" height=\"200\" referrerpolicy=\"no-referrer\" style=\"display:block;margin:16px auto\">",
                respond::escape(url),
                respond::escape(name.unwrap_or("QR code"))
            ),
            None => String::new(),
        }),
        _ => None,
    });
    let script = body
        .find("<script")
        .map(|at| body[at..].to_owned())
        .unwrap_or_default();
    let page = crate::core::pages::Page::new(
        crate::core::pages::PageKind::Scan,
        lang,
        lang.pick(
            "发送登录码登录 · Log in by sending a code",
            "Log in by sending a code",
        ),
        lang.pick("发送登录码登录", "Log in by sending a code"),
    )
    .with_body(
        crate::core::pages::Markup::trusted(body),
        crate::core::pages::Markup::trusted(script),
    );
    respond::html(
        StatusCode::OK,
        crate::core::pages::render(&*auth.settings.pages, &page),
    )
}

/// `template` with each `{{NAME}}` replaced by `value(NAME)`, in one pass: what a value
/// holds is never read again, so a value with `{{TOKEN}}` in it stays as it is. A name
/// `value` does not know is left as it was.
pub(super) fn fill(template: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        match after
            .find("}}")
            .and_then(|end| Some((end, value(&after[..end])?)))
        {
            Some((end, v)) => {
                out.push_str(&v);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn slots_are_filled_in_one_pass() {
        let v = |name: &str| match name {
            "A" => Some("{{B}}".to_owned()),
            "B" => Some("b".to_owned()),
            _ => None,
        };
        assert_eq!(fill("x{{A}}y{{B}}z", v), "x{{B}}ybz");
        assert_eq!(fill("{{C}}{{B}}", v), "{{C}}b", "unknown names stay");
        assert_eq!(fill("{{ {{B}} }}", v), "{{ b }}");
        assert_eq!(fill("open {{B", v), "open {{B");
        assert_eq!(fill("", v), "");
    }
}
