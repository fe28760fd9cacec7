//! The scan page: self-contained HTML (no CDN, no third-party image host) that starts a scan,
//! shows its code, waits, and moves on. The markup and script are in `page.html`.

use super::*;

/// `GET PREFIX/scan?return_to=/path`: the page that shows the QR code and waits.
pub(crate) fn page(auth: &Engine, req: &Parts) -> Response<Body> {
    let q = Query::parse(req.uri.query());
    let via = match Via::of(auth, &q).and_then(|via| scan_ready(auth, via).map(|()| via)) {
        Ok(via) => via,
        Err(e) => return e.html(None),
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
    respond::html(
        StatusCode::OK,
        respond::page("微信扫码登录 · Scan to log in", &body),
    )
}
