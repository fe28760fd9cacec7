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

use crate::core::route::Endpoints;

pub(crate) mod account;
mod mount;
pub(crate) use mount::Mount;
pub(crate) mod app;
pub(crate) mod miniprogram;
pub(crate) mod oauth;
pub(crate) mod push;
pub(crate) mod relay;
pub(crate) mod scan;

/// How a channel is mounted: given what it may use, it answers its state and routes.
type Mounter = fn(&Arc<Mount>) -> Box<dyn Endpoints>;

/// Every channel, one registration line each: what it serves, in lookup order (order
/// matters only where paths overlap; a channel lists its more specific `{id}` paths first).
const CHANNELS: &[Mounter] = &[
    oauth::mount,
    relay::mount,
    account::mount,
    scan::mount,
    app::mount,
    miniprogram::mount,
    push::mount,
];

/// The route table of a layer: every channel, mounted with what it is given.
pub(crate) fn mount(engine: &Arc<Mount>) -> Vec<Box<dyn Endpoints>> {
    CHANNELS.iter().map(|mount| mount(engine)).collect()
}

#[cfg(test)]
mod tests {
    use http::Method;

    use std::sync::{Arc, LazyLock};

    use super::Mount;
    use crate::core::{
        failure::Failure,
        route::{Endpoints, Methods, Path, find},
    };

    /// The route table of a layer with every channel configured.
    static TABLE: LazyLock<Vec<Box<dyn Endpoints>>> = LazyLock::new(|| {
        let cfg = crate::config::WechatConfig::builder()
            .with_public_url("https://example.com")
            .with_session_secret("0123456789abcdef0123456789abcdef")
            .with_website_app("wx1000000000000001", "website-app-secret")
            .build()
            .expect("settings");
        super::mount(&Arc::new(Mount::new(cfg)))
    });

    /// A request of `method` (no query, no headers).
    fn req(method: &Method) -> http::request::Parts {
        let mut parts = http::Request::new(()).into_parts().0;
        parts.method = method.clone();
        parts
    }

    /// Which route serves `method` on `sub`: its path and the id in the request's path.
    fn found(sub: &str, method: Method) -> (Path, &str) {
        let (channel, hit) = find(&TABLE, sub, &req(&method))
            .unwrap_or_else(|_| panic!("{method} {sub} has no route"));
        (path_of(channel, hit.index()), hit.id)
    }

    fn path_of(channel: &dyn Endpoints, index: usize) -> Path {
        channel.route_path(index)
    }

    fn allow(sub: &str, method: Method) -> &'static str {
        match find(&TABLE, sub, &req(&method)) {
            Err(Failure::MethodNotAllowed(allow)) => allow,
            Ok((_, hit)) => panic!("{method} {sub}: found {:?}", hit.id),
            Err(other) => panic!("{method} {sub}: {other:?}"),
        }
    }

    /// What the table test needs of a route, whatever its channel's state type.
    struct Route {
        path: Path,
        methods: Methods,
    }

    fn each<S>(routes: &'static [crate::core::route::Route<S>]) -> Vec<Route> {
        routes
            .iter()
            .map(|r| Route {
                path: r.path,
                methods: r.methods,
            })
            .collect()
    }

    fn routes() -> impl Iterator<Item = Route> {
        [
            each(super::oauth::routes()),
            each(super::relay::routes()),
            each(super::account::routes()),
            each(super::scan::routes()),
            each(super::app::routes()),
            each(super::miniprogram::routes()),
            each(super::push::routes()),
        ]
        .into_iter()
        .flatten()
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
                assert_eq!(got, route.path, "{method} {sub} reaches another route");
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
                    matches!(find(&TABLE, sub, &req(&method)), Err(Failure::NotFound(_))),
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
            assert_eq!(found(sub, method.clone()), (path, want), "{method} {sub}");
        }
    }
}
