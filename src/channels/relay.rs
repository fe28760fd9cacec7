//! The relay hub: one registered WeChat callback domain serving many sites.
//!
//! WeChat accepts one authorization callback domain per website app (and one web
//! authorization domain per Official Account); a `redirect_uri` elsewhere is errcode 10003.
//! A company with many sites registers one of them, the *hub*
//! ([`with_relay_target`](crate::WechatConfigBuilder::with_relay_target) for each other
//! site), and every other site sends WeChat the hub's `PREFIX/relay` endpoint as
//! `redirect_uri`, its own callback in `to`
//! ([`with_relay_hub`](crate::WechatConfigBuilder::with_relay_hub)):
//!
//! 1. site A's `login` sets A's state cookie and sends the browser to WeChat with
//!    `redirect_uri=https://hub/auth/wechat/relay?to=https://a/auth/wechat/callback`;
//! 2. WeChat sends the browser to the hub with `code` and `state`;
//! 3. the hub checks that `to` is exactly the registered callback of a target site (its
//!    origin and its prefix plus `/callback`) and sends the browser on with the same `code`
//!    and `state` (`302`, `Referrer-Policy: no-referrer`, `Cache-Control: no-store`): no
//!    store, no WeChat call, no cookie read or set;
//! 4. A's `callback` checks the state against A's cookie and exchanges the code, as for a
//!    login without relay.
//!
//! The state stays bound to the browser on the final site, so a relayed code is of no use
//! to anyone but the browser that started the login there. A target that is not a registered
//! callback (another origin, another path of the site such as another integration's
//! `…/callback`, a path with `;`, `..`, `%2e`, an encoded slash or a backslash that a server
//! might read differently), carries user info, a fragment or any query but the login's
//! `display=popup` / `display=iframe` is refused (`400`): the hub is no open redirect.
//!
//! ```
//! use axum::{Router, body::Body, http::{Request, header}, routing::get};
//! use tower::ServiceExt as _;
//! use wechat_auth::{WechatAuthLayer, WechatConfig};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = WechatConfig::builder()
//!     .with_public_url("https://login.example.com")
//!     .with_session_secret("0123456789abcdef0123456789abcdef")
//!     .with_website_app("wx1000000000000001", "secret")
//!     .with_relay_target("https://shop.example.com")
//!     .build()?;
//! let app = Router::new().route("/", get(|| async { "home" })).layer(WechatAuthLayer::new(hub));
//!
//! let from_wechat = "/auth/wechat/relay?to=https%3A%2F%2Fshop.example.com%2Fauth%2Fwechat%2Fcallback&code=CODE&state=S1";
//! let res = app.clone().oneshot(Request::get(from_wechat).body(Body::empty())?).await?;
//! assert_eq!(res.status(), 302);
//! assert_eq!(
//!     res.headers()[header::LOCATION],
//!     "https://shop.example.com/auth/wechat/callback?code=CODE&state=S1"
//! );
//!
//! let forged = "/auth/wechat/relay?to=https%3A%2F%2Fevil.example%2Fauth%2Fwechat%2Fcallback&code=CODE&state=S1";
//! let res = app.oneshot(Request::get(forged).body(Body::empty())?).await?;
//! assert_eq!(res.status(), 400);
//! # Ok(()) }
//! ```

use axum_core::body::Body;
use http::{HeaderValue, Response, StatusCode, header, request::Parts};
use url::Url;

use std::sync::Arc;

use super::oauth::error_page;
use crate::core::request::Query;
use crate::{
    channels::Mount,
    core::failure::Failure,
    core::pages::{Language, Pages},
    core::respond,
};

/// This channel's settings: the values of [`WechatConfig`](crate::WechatConfig) it reads,
/// as `build()` accepted them, copied once when the channel is mounted.
pub(crate) struct Settings {
    /// The registered callbacks (origin plus path) of the sites this hub relays for; none
    /// when this site is no hub.
    pub(crate) relay_targets: Vec<String>,
    /// The site's pages (refusals are error pages).
    pub(crate) pages: Arc<dyn Pages>,
    /// The pages' fixed language (else the visitor's `Accept-Language`).
    pub(crate) language: Option<Language>,
}

/// The relay hub: what it relays for, and how it refuses.
pub(crate) struct Relay {
    pub(crate) settings: Settings,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("relay_targets", &self.settings.relay_targets)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// The hub as mounted on `e`'s layer.
    pub(crate) fn new(e: &Mount) -> Self {
        let cfg = &e.cfg;
        Self {
            settings: Settings {
                relay_targets: cfg.relay_targets.clone(),
                pages: cfg.pages.clone(),
                language: cfg.language,
            },
        }
    }
}

/// Longest `code` passed on (WeChat's are 32 characters).
const MAX_CODE: usize = 512;

/// `GET PREFIX/relay?to=CALLBACK&code=..&state=..`
///
/// Refusals are error pages of the site's [`Pages`](crate::core::pages::Pages), in the visitor's
/// language, like every other flow's.
pub(crate) fn relay(auth: &Relay, req: &Parts) -> Response<Body> {
    let settings = &auth.settings;
    let refuse =
        |failure: Failure| error_page(&*settings.pages, settings.language, req, &failure, None);
    let targets = &settings.relay_targets;
    if targets.is_empty() {
        return refuse(Failure::NotFound("this site relays no logins"));
    }
    let q = Query::parse(req.uri.query());
    let mut target = match q.get("to").map(|to| allowed_target(to, targets)) {
        Some(Ok(url)) => url,
        Some(Err(why)) => {
            tracing::warn!(
                to = q.get("to").unwrap_or_default(),
                why,
                "relay refused: the target is not a site this hub relays for"
            );
            return refuse(Failure::BadRequest(format!(
                "This login cannot continue: {why}. Start it again from the site you came from."
            )));
        }
        None => {
            return refuse(Failure::BadRequest(
                "The relay link has no target (to).".into(),
            ));
        }
    };
    let state = q.get("state").unwrap_or_default();
    if state.is_empty() || state.len() > 128 || !state.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return refuse(Failure::BadRequest(
            "The relay link has no valid state.".into(),
        ));
    }
    {
        let mut pairs = target.query_pairs_mut();
        // No code = the person refused on WeChat: the site shows its own page for that.
        if let Some(code) = q.get("code") {
            if code.is_empty() || code.len() > MAX_CODE {
                return refuse(Failure::BadRequest(
                    "The relay link has no valid code.".into(),
                ));
            }
            pairs.append_pair("code", code);
        }
        pairs.append_pair("state", state);
    }
    let mut res = respond::redirect(StatusCode::FOUND, target.as_str());
    let headers = res.headers_mut();
    // The code must not leak through a Referer, nor the answer be cached anywhere.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `to` when it is exactly the registered callback of a target (`targets` holds origin plus
/// path of each); else why not.
fn allowed_target(to: &str, targets: &[String]) -> Result<Url, &'static str> {
    // Refused before parsing, which would resolve some of them away: a path that the site's
    // server (or a proxy in front of it) may read as another path.
    let lower = to.to_ascii_lowercase();
    if to.contains('\\') || lower.contains("%5c") {
        return Err("the target's path has a backslash");
    }
    if lower.contains("%2f") {
        return Err("the target's path has an encoded slash");
    }
    if to.contains(';') || to.contains("..") || lower.contains("%2e") {
        return Err("the target's path is not a plain callback path");
    }
    let url = Url::parse(to).map_err(|_| "the target is not an absolute URL")?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("the target is not an http(s) URL");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the target carries user info");
    }
    if url.fragment().is_some() {
        return Err("the target carries a fragment");
    }
    // How the site shows the login (popup, embedded QR) is its callback's only query.
    if !matches!(url.query(), None | Some("display=popup" | "display=iframe")) {
        return Err("the target carries a query");
    }
    let origin = url.origin().ascii_serialization();
    let of_origin = |t: &String| {
        t.strip_prefix(origin.as_str())
            .is_some_and(|path| path.starts_with('/'))
    };
    if !targets.iter().any(of_origin) {
        return Err("the target's origin is not one this hub relays for");
    }
    let callback = format!("{origin}{}", url.path());
    if !targets.contains(&callback) {
        return Err("the target is not the site's login callback");
    }
    Ok(url)
}

/// Mounts this channel on a layer: its state and its routes.
pub(crate) fn mount(engine: &Arc<Mount>) -> Box<dyn crate::core::route::Endpoints> {
    crate::core::route::Mounted::boxed(Relay::new(engine), routes())
}

/// This channel's endpoint in the layer's route table: `GET`/`HEAD relay`.
pub(crate) fn routes() -> &'static [crate::core::route::Route<Relay>] {
    use crate::core::route::{Path, Route, boxed};
    static ROUTES: [Route<Relay>; 1] = [Route::read(Path::Exact("/relay"), |c| {
        boxed(async move { Ok(relay(c.auth, c.req)) })
    })];
    &ROUTES
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(language: Option<Language>, target: Option<&str>) -> Relay {
        let mut b = crate::config::WechatConfig::builder()
            .with_public_url("https://login.example.com")
            .with_session_secret("0123456789abcdef0123456789abcdef")
            .with_website_app("wx1000000000000001", "website-app-secret");
        if let Some(l) = language {
            b = b.with_language(l);
        }
        if let Some(t) = target {
            b = b.with_relay_target(t);
        }
        Relay::new(&Mount::new(b.build().expect("settings")))
    }

    async fn body(res: Response<Body>) -> String {
        use http_body_util::BodyExt as _;
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    /// The hub relays for exactly its section's targets, and refuses with the site's pages
    /// in the section's language.
    #[tokio::test]
    async fn relays_with_its_own_settings() {
        let get = |uri: &str| {
            http::Request::get(uri)
                .header(header::ACCEPT_LANGUAGE, "zh-CN")
                .body(())
                .expect("request")
                .into_parts()
                .0
        };
        let to = "to=https%3A%2F%2Fshop.example.com%2Fauth%2Fwechat%2Fcallback";
        let relay_to = format!("/auth/wechat/relay?{to}&code=C&state=S1");
        let shop = hub(Some(Language::En), Some("https://shop.example.com"));
        assert_eq!(
            shop.settings.relay_targets,
            ["https://shop.example.com/auth/wechat/callback"]
        );
        let res = relay(&shop, &get(&relay_to));
        assert_eq!(res.status(), StatusCode::FOUND);
        assert_eq!(
            res.headers()[header::LOCATION],
            "https://shop.example.com/auth/wechat/callback?code=C&state=S1"
        );

        let res = relay(&shop, &get("/auth/wechat/relay?code=C&state=S1"));
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(body(res).await.contains("<html lang=\"en\">"));

        let none = hub(None, None);
        let res = relay(&none, &get(&relay_to));
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert!(body(res).await.contains("<html lang=\"zh"));
    }

    #[test]
    fn only_callbacks_of_allowed_origins() {
        let targets = [
            "https://a.example.com/auth/wechat/callback".to_owned(),
            "http://127.0.0.1:8080/login/callback".to_owned(),
        ];
        let ok = |to: &str| allowed_target(to, &targets).map(|u| u.to_string());
        assert_eq!(
            ok("https://a.example.com/auth/wechat/callback").unwrap(),
            "https://a.example.com/auth/wechat/callback"
        );
        assert!(ok("http://127.0.0.1:8080/login/callback").is_ok());
        for forged in [
            "https://a.example.com.evil.com/auth/wechat/callback",
            "https://evil.com/auth/wechat/callback",
            "https://a.example.com@evil.com/auth/wechat/callback",
            "https://u:p@a.example.com/auth/wechat/callback",
            "http://a.example.com/auth/wechat/callback",
            "https://a.example.com:444/auth/wechat/callback",
            "http://127.0.0.1:8081/auth/wechat/callback",
            "https://a.example.com/auth/wechat/logout",
            "https://a.example.com/auth/wechat/callback?next=//evil.com",
            "https://a.example.com/auth/wechat/callback#x",
            "//a.example.com/auth/wechat/callback",
            "/auth/wechat/callback",
            "javascript:alert(1)//callback",
        ] {
            assert!(ok(forged).is_err(), "{forged} was allowed");
        }
    }

    #[test]
    fn only_the_registered_callback_path_and_display() {
        let targets = ["https://a.example.com/auth/wechat/callback".to_owned()];
        let ok = |to: &str| allowed_target(to, &targets).map(|u| u.to_string());
        for display in ["popup", "iframe"] {
            let to = format!("https://a.example.com/auth/wechat/callback?display={display}");
            assert_eq!(ok(&to).unwrap(), to);
        }
        for forged in [
            "https://a.example.com/anything/..;/callback",
            "https://a.example.com/auth/wechat/..;/callback",
            "https://a.example.com/other/callback",
            "https://a.example.com/other/integration/callback",
            "https://a.example.com/callback",
            "https://a.example.com/auth/wechat/callback/",
            "https://a.example.com/x/../auth/wechat/callback",
            "https://a.example.com/x/%2e%2e/auth/wechat/callback",
            "https://a.example.com/x/%2E%2E/auth/wechat/callback",
            "https://a.example.com/auth/wechat/.%2E/wechat/callback",
            "https://a.example.com/auth%2fwechat/callback",
            "https://a.example.com/auth/wechat%2Fcallback",
            "https://a.example.com/x%5c..%5cauth/wechat/callback",
            "https://a.example.com/x\\../auth/wechat/callback",
            "https://a.example.com\\auth\\wechat\\callback",
            "https://a.example.com/auth/wechat/callback;jsessionid=1",
            "https://a.example.com/auth;x/wechat/callback",
            "https://a.example.com/auth/wechat/%63allback",
            "https://a.example.com/AUTH/wechat/callback",
            "https://a.example.com/auth/wechat/callback?display=page",
            "https://a.example.com/auth/wechat/callback?display=popup&return_to=//evil",
            "https://a.example.com/auth/wechat/callback?display=popup#x",
            "https://a.example.com/auth/wechat/callback?",
        ] {
            assert!(ok(forged).is_err(), "{forged} was allowed");
        }
    }
}
