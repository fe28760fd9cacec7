//! The login flows, one file per channel, and what they share: the route table the layer's
//! endpoints are looked up in (each channel lists its own in a `routes()` function, [`route`],
//! registered in [`ROUTES`] with one line), and the mapping of every failure to a response a
//! person or an app can act on.
//!
//! - [`oauth`]: website QR login and Official Account web authorization (`login`, `callback`;
//!   the embedded QR `embed`, `embed.js` and the popup, `login?display=popup`).
//! - [`scan`]: follow-the-Official-Account scan login (`scan`, `scan/{id}`), and [`push`]: the
//!   push URL that confirms scans.
//! - [`app`]: the mobile app (`app`) and long sessions for native clients (`refresh`);
//!   [`miniprogram`]: the mini program (`miniprogram`).
//! - [`account`]: the current session (`me`, `logout`).
//! - [`relay`]: the hub that passes WeChat's callback on to the site that started a login.

use std::sync::Arc;

use axum_core::body::Body;
use bytes::Bytes;
use http::{Request, Response, header, request::Parts};

use crate::core::failure::Failure;

/// A route of a channel.
pub(crate) type Route = crate::core::route::Route<Arc<Engine>>;

pub(crate) mod account;
mod engine;
pub(crate) use engine::Engine;
pub(crate) mod app;
pub(crate) mod miniprogram;
pub(crate) mod oauth;
pub(crate) mod push;
pub(crate) mod relay;
pub(crate) mod scan;
pub(crate) mod tokens;

/// A tiny view over a query string.
pub(crate) struct Query<'a>(Vec<(std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>);

impl<'a> Query<'a> {
    pub(crate) fn parse(query: Option<&'a str>) -> Self {
        Self(
            query
                .map(|q| form_urlencoded::parse(q.as_bytes()).take(32).collect())
                .unwrap_or_default(),
        )
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    }
}

/// Serves one of the layer's own endpoints; `sub` is the path after the prefix.
pub(crate) async fn dispatch<B>(auth: Arc<Engine>, req: Request<B>, sub: &str) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum_core::BoxError>,
{
    let (parts, body) = req.into_parts();
    let span = tracing::debug_span!("wechat_auth", endpoint = sub, method = %parts.method);
    // A failure left over is answered as JSON (the API endpoints). The browser pages —
    // login, callback, the scan page — answer with HTML pages that carry a link to try
    // again; both through the one renderer, `crate::core::render`.)
    tracing::Instrument::instrument(serve(&auth, &parts, body, sub), span)
        .await
        .unwrap_or_else(|failure| crate::core::render::json(&failure))
}

/// The layer's endpoints: one line per channel, each listing its own routes. Order matters
/// only where paths overlap (a channel lists its more specific `{id}` paths first).
const ROUTES: &crate::core::route::Table<Arc<Engine>> = &[
    oauth::routes,
    relay::routes,
    account::routes,
    scan::routes,
    app::routes,
    miniprogram::routes,
    push::routes,
];

async fn serve<B>(
    auth: &Arc<Engine>,
    req: &Parts,
    body: B,
    sub: &str,
) -> Result<Response<Body>, Failure>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum_core::BoxError>,
{
    let (route, id) = crate::core::route::find(ROUTES, sub, &req.method)?;
    let body = match route.body {
        crate::core::route::ReadBody::No => Bytes::new(),
        crate::core::route::ReadBody::UpTo(limit) => read_body(auth, body, limit).await?,
    };
    (route.handler)(crate::core::route::Call {
        auth,
        req,
        id,
        body,
    })
    .await
}

/// Reads a request body of at most `limit` bytes, within the configured body deadline
/// ([`crate::WechatConfigBuilder::with_body_timeout`], default
/// [`crate::config::DEFAULT_BODY_TIMEOUT`], for the whole body, not per chunk): a larger
/// one is `413`, a slower one `408` with `Connection: close`, so a client that trickles a
/// body (or announces more than it sends) cannot hold a connection and a task for ever.
async fn read_body<B>(auth: &Engine, body: B, limit: usize) -> Result<Bytes, Failure>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum_core::BoxError>,
{
    use http_body_util::BodyExt;
    // A body announced (Content-Length) larger than the limit is refused at once, not after
    // the body deadline.
    if http_body::Body::size_hint(&body).lower() > limit as u64 {
        return Err(Failure::TooLarge);
    }
    let read = tokio::time::timeout(
        auth.config().body_timeout,
        http_body_util::Limited::new(body, limit).collect(),
    );
    let Ok(collected) = read.await else {
        tracing::info!(
            timeout_ms = u64::try_from(auth.config().body_timeout.as_millis()).unwrap_or(u64::MAX),
            "request body too slow; closing the connection"
        );
        return Err(Failure::BodyTimeout);
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(Failure::TooLarge)
        }
        Err(_) => Err(Failure::BadBody),
    }
}

/// Whether a state-changing request comes from our own origin (or an allow-listed one), or
/// says nothing about it, as non-browser clients do. Browsers send `Origin` on every
/// cross-site POST.
pub(crate) fn same_origin(auth: &Engine, req: &Parts) -> bool {
    match req.headers.get(header::ORIGIN).map(|o| o.to_str()) {
        None => true,
        Some(Ok(origin)) => {
            origin.eq_ignore_ascii_case(auth.config().origin())
                || auth.config().allowed_origins.iter().any(|a| a == origin)
        }
        Some(Err(_)) => false,
    }
}

/// The value of the cookie called `name`, if the request carries it exactly once. Two
/// cookies of one name are one planted beside ours (another path or a parent domain): then
/// neither is trusted.
pub(crate) fn cookie_value<'r>(req: &'r Parts, name: &str) -> Option<&'r str> {
    let mut named = crate::core::respond::request_cookies(req).filter(|c| c.name() == name);
    let first = named.next()?;
    if named.next().is_some() {
        return None;
    }
    first.value_raw()
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::{ROUTES, Route};
    use crate::core::{
        failure::Failure,
        route::{Methods, Path, find},
    };

    fn found(sub: &str, method: Method) -> (&'static Route, &str) {
        find(ROUTES, sub, &method).unwrap_or_else(|_| panic!("{method} {sub} has no route"))
    }

    fn allow(sub: &str, method: Method) -> &'static str {
        match find(ROUTES, sub, &method) {
            Err(Failure::MethodNotAllowed(allow)) => allow,
            other => panic!("{method} {sub}: {:?}", other.map(|(r, id)| (r.path, id))),
        }
    }

    fn routes() -> impl Iterator<Item = &'static Route> {
        ROUTES.iter().flat_map(|channel| channel().iter())
    }

    /// No route is hidden behind an earlier one: each answers its own path and methods.
    #[test]
    fn every_route_is_reachable() {
        let mut count = 0;
        for route in routes() {
            let sub = match route.path {
                Path::Exact(path) => path.to_owned(),
                Path::Id { before, after } => format!("{before}abc{after}"),
            };
            let methods: &[Method] = if route.methods == Methods::READ {
                &[Method::GET, Method::HEAD]
            } else {
                &[Method::POST]
            };
            for method in methods {
                let (got, _) = found(&sub, method.clone());
                assert!(
                    std::ptr::eq(got, route),
                    "{method} {sub} reaches another route"
                );
            }
            count += 1;
        }
        assert_eq!(count, 21, "the layer's endpoints, by method");
    }

    /// The `Allow` lists come from the table (the same lists the hand-written match had).
    #[test]
    fn wrong_methods_are_405_with_the_path_s_methods() {
        for sub in [
            "/login",
            "/callback",
            "/me",
            "/embed",
            "/embed.js",
            "/relay",
        ] {
            assert_eq!(allow(sub, Method::PUT), "GET, HEAD", "{sub}");
            assert_eq!(allow(sub, Method::POST), "GET, HEAD", "{sub}");
        }
        for sub in [
            "/logout",
            "/app",
            "/miniprogram",
            "/refresh",
            "/miniprogram/scan",
            "/miniprogram/scan/open",
        ] {
            assert_eq!(allow(sub, Method::GET), "POST", "{sub}");
            assert_eq!(allow(sub, Method::DELETE), "POST", "{sub}");
        }
        for sub in ["/scan", "/push"] {
            assert_eq!(allow(sub, Method::TRACE), "GET, HEAD, POST", "{sub}");
        }
        for sub in [
            "/scan/abc",
            "/scan/abc/qr.svg",
            "/scan/abc/code.png",
            "/scan/",
        ] {
            assert_eq!(allow(sub, Method::POST), "GET, HEAD", "{sub}");
        }
        assert_eq!(allow("/scan/abc/confirm", Method::PUT), "GET, HEAD, POST");
    }

    #[test]
    fn unknown_paths_are_404_whatever_the_method() {
        for sub in [
            "",
            "/",
            "/nope",
            "/login/",
            "/scanx",
            "/Login",
            "/miniprogram/",
        ] {
            for method in [Method::GET, Method::POST, Method::PUT] {
                assert!(
                    matches!(find(ROUTES, sub, &method), Err(Failure::NotFound(_))),
                    "{method} {sub:?}"
                );
            }
        }
    }

    /// The id is what lies between `/scan/` and the suffix, unchecked (the scan module checks
    /// it); a path without a known suffix is the status of everything after `/scan/`.
    #[test]
    fn scan_ids_are_cut_as_before() {
        let id = |before: &'static str, after: &'static str| Path::Id { before, after };
        let cases = [
            ("/scan/abc", Method::GET, id("/scan/", ""), "abc"),
            ("/scan/", Method::GET, id("/scan/", ""), ""),
            ("/scan/a/b", Method::HEAD, id("/scan/", ""), "a/b"),
            ("/scan/qr.svg", Method::GET, id("/scan/", ""), "qr.svg"),
            ("/scan/confirm", Method::GET, id("/scan/", ""), "confirm"),
            (
                "/scan/abc/qr.svg",
                Method::GET,
                id("/scan/", "/qr.svg"),
                "abc",
            ),
            (
                "/scan/abc/code.png",
                Method::GET,
                id("/scan/", "/code.png"),
                "abc",
            ),
            (
                "/scan/abc/confirm",
                Method::GET,
                id("/scan/", "/confirm"),
                "abc",
            ),
            (
                "/scan/abc/confirm",
                Method::POST,
                id("/scan/", "/confirm"),
                "abc",
            ),
            ("/scan//confirm", Method::POST, id("/scan/", "/confirm"), ""),
            (
                "/scan/a/qr.svg/confirm",
                Method::GET,
                id("/scan/", "/confirm"),
                "a/qr.svg",
            ),
        ];
        for (sub, method, path, want) in cases {
            let (route, got) = found(sub, method.clone());
            assert_eq!((route.path, got), (path, want), "{method} {sub}");
        }
    }
}
