//! The scan page: self-contained HTML (no CDN, no third-party image host) that starts a scan,
//! shows its code, waits, and moves on. The markup and script are in `page.html`.

use super::*;

/// `GET PREFIX/scan?return_to=/path`: the page that shows the QR code and waits.
pub(crate) fn page(auth: &Engine, req: &Parts) -> Response<Body> {
    let q = Query::parse(req.uri.query());
    let via = match Via::of(auth, &q).and_then(|via| scan_ready(auth, via).map(|()| via)) {
        Ok(via) => via,
        Err(e) => {
            let lang = crate::pages::Language::of(auth.config().language, &req.headers);
            return e.page(&*auth.config().pages, lang, None);
        }
    };
    let return_to = safe_return_to(q.get("return_to"), &auth.config().allowed_origins);
    let start = format!(
        "{}/scan?return_to={}{}",
        auth.config().prefix,
        percent_encoding::utf8_percent_encode(&return_to, QUERY_VALUE),
        match via {
            Via::FollowOa => "",
            Via::MiniProgram => "&via=miniprogram",
        }
    );
    let body = include_str!("page.html")
        .replace("{{START}}", &respond::escape(&start))
        .replace("{{PREFIX}}", &respond::escape(&auth.config().prefix));
    // The site's `Pages` may restyle the page; the script (and its data) stays the layer's.
    let script = body
        .find("<script")
        .map(|at| body[at..].to_owned())
        .unwrap_or_default();
    let lang = crate::pages::Language::of(auth.config().language, &req.headers);
    let page = crate::pages::Page::new(
        crate::pages::PageKind::Scan,
        lang,
        lang.pick("微信扫码登录 · Scan to log in", "Scan to log in"),
        lang.pick("微信扫码登录", "Scan to log in"),
    )
    .with_body(
        crate::pages::Markup::trusted(body),
        crate::pages::Markup::trusted(script),
    );
    respond::html(
        StatusCode::OK,
        crate::pages::render(&*auth.config().pages, &page),
    )
}
