//! WeChat's QR embedded in the site's own page (protocol §1.2, wxLogin.js): `GET embed`
//! answers what the iframe needs and binds its `state` to the browser like `login` does;
//! `GET embed.js` is the layer's own script that draws the iframe (and opens the popup);
//! `GET login?display=embed` is a ready page hosting the iframe.
//!
//! The iframe is WeChat's `connect/qrconnect` with `login_type=jssdk`. With
//! `self_redirect=false` WeChat moves the top window to the callback (an ordinary callback);
//! with `self_redirect=true` the callback runs inside the iframe (`callback?display=iframe`)
//! and then moves the top window to `return_to`, on this site only. Browsers that withhold
//! the `SameSite=Lax` state cookie from a frame navigated by another site (Chromium does)
//! get the same callback moved to the top window unconsumed, where the cookie is sent.

use std::sync::LazyLock;

use axum_core::body::Body;
use http::{HeaderValue, Response, StatusCode, header, request::Parts};
use serde::Serialize;
use sha1::{Digest, Sha1};

use super::{Answer, Oauth, set_state_cookie};
use crate::core::request::Query;
use crate::{
    core::clock::random_token,
    core::failure::Failure,
    core::pages::{self, Language, Markup, Page, PageKind},
    core::redirect::safe_return_to,
    core::respond,
    user::Channel,
};

/// The JSON of `GET embed` (design §3).
#[derive(Debug, Serialize)]
struct EmbedJson {
    iframe_url: String,
    appid: String,
    scope: &'static str,
    redirect_uri: String,
    state: String,
    self_redirect: bool,
    style: &'static str,
    href: Option<String>,
}

/// The options of one embedded QR, from the query.
struct Options {
    self_redirect: bool,
    style: &'static str,
    stylelite: bool,
    fast_login: bool,
}

impl Options {
    fn parse(q: &Query<'_>) -> Result<Self, Failure> {
        let self_redirect = match q.get("self_redirect") {
            None | Some("false" | "0") => false,
            Some("true" | "1") => true,
            Some(other) => {
                return Err(Failure::BadRequest(format!(
                    "self_redirect={other:?}: use true or false"
                )));
            }
        };
        let style = match q.get("style") {
            None | Some("black") => "black",
            Some("white") => "white",
            Some(other) => {
                return Err(Failure::BadRequest(format!(
                    "style={other:?}: use black (light pages) or white (dark pages)"
                )));
            }
        };
        Ok(Self {
            self_redirect,
            style,
            stylelite: q.get("stylelite") == Some("1"),
            fast_login: q.get("fast_login") != Some("0"),
        })
    }
}

/// Starts an embedded login: a fresh state, bound to this browser on `res`, and what the
/// iframe needs.
fn start(
    auth: &Oauth,
    req: &Parts,
    opts: &Options,
    return_to: String,
    res: &mut Response<Body>,
) -> Result<EmbedJson, Failure> {
    let Some(app) = auth.settings.website.as_ref() else {
        return Err(Failure::ChannelOff("website"));
    };
    let answer = if opts.self_redirect {
        Answer::Frame
    } else {
        Answer::Redirect
    };
    let redirect_uri = super::redirect_uri(answer, &auth.settings).to_owned();
    let state = random_token(32);
    let mut url = auth
        .client
        .open_base()
        .join("connect/qrconnect")
        .map_err(|e| Failure::BadRequest(e.to_string()))?;
    {
        let mut pairs = url.query_pairs_mut();
        pairs
            .append_pair("appid", app.appid())
            .append_pair("scope", "snsapi_login")
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("state", &state)
            .append_pair("login_type", "jssdk")
            .append_pair(
                "self_redirect",
                if opts.self_redirect { "true" } else { "false" },
            )
            .append_pair("style", opts.style);
        if let Some(href) = &auth.settings.embed_css {
            pairs.append_pair("href", href);
        }
        if opts.stylelite {
            pairs.append_pair("stylelite", "1");
        }
        if !opts.fast_login {
            pairs.append_pair("fast_login", "0");
        }
    }
    set_state_cookie(
        auth,
        req,
        res,
        state.clone(),
        return_to,
        Channel::Website,
        None,
    );
    tracing::debug!(self_redirect = opts.self_redirect, "embedded login started");
    Ok(EmbedJson {
        iframe_url: url.into(),
        appid: app.appid().to_owned(),
        scope: "snsapi_login",
        redirect_uri,
        state,
        self_redirect: opts.self_redirect,
        style: opts.style,
        href: auth.settings.embed_css.clone(),
    })
}

/// `GET PREFIX/embed?return_to=/path&self_redirect=false&style=black`: JSON for a QR
/// embedded in the site's own page; sets the state cookie like `login`.
pub(crate) fn embed(auth: &Oauth, req: &Parts) -> Result<Response<Body>, Failure> {
    let q = Query::parse(req.uri.query());
    let opts = Options::parse(&q)?;
    let return_to = safe_return_to(q.get("return_to"), &auth.settings.allowed_origins);
    let mut cookies = Response::new(Body::empty());
    let json = start(auth, req, &opts, return_to, &mut cookies)?;
    let mut res = respond::json(StatusCode::OK, &json);
    for c in cookies.headers().get_all(header::SET_COOKIE) {
        res.headers_mut().append(header::SET_COOKIE, c.clone());
    }
    Ok(res)
}

/// `GET PREFIX/login?display=embed&return_to=/path`: the layer's page hosting the QR, for
/// sites that do not draw their own. Without a website app: the error page saying so.
pub(crate) fn host_page(
    auth: &Oauth,
    req: &Parts,
    q: &Query<'_>,
    return_to: &str,
) -> Response<Body> {
    let lang = auth.language(req);
    let opts = match Options::parse(q) {
        Ok(o) => o,
        Err(e) => return auth.error_page(req, &e, None),
    };
    let mut res = Response::new(Body::empty());
    let json = match start(auth, req, &opts, return_to.to_owned(), &mut res) {
        Ok(json) => json,
        Err(e) => return auth.error_page(req, &e, None),
    };
    let (title, heading, text, note) = match lang {
        Language::En => (
            "Log in with WeChat",
            "Log in with WeChat",
            "Scan the QR code with WeChat.",
            "",
        ),
        _ => (
            "微信登录 · Log in with WeChat",
            "微信登录",
            "请使用微信扫描二维码登录",
            "Scan the QR code with WeChat.",
        ),
    };
    let frame = Markup::trusted(format!(
        "<iframe id=\"wechat-qr\" src=\"{}\" title=\"{}\" width=\"300\" height=\"400\" \
         frameborder=\"0\" scrolling=\"no\" sandbox=\"allow-scripts allow-top-navigation allow-same-origin\" \
         allow=\"local-network-access\"></iframe>",
        pages::escape(&json.iframe_url),
        pages::escape(heading),
    ));
    let page = Page::new(PageKind::Embed, lang, title, heading)
        .with_text(text)
        .with_note(note)
        .compose(frame, Markup::default());
    let mut origin = auth.client.open_base().origin().ascii_serialization();
    // With self_redirect through a relay hub, WeChat's frame goes to the hub before it
    // comes back to this site: the frame may load the hub too.
    if opts.self_redirect
        && let Some(hub) = &auth.settings.relay_hub
    {
        origin.push(' ');
        origin.push_str(&hub.origin().ascii_serialization());
    }
    let mut page_res = respond::html_framed(
        StatusCode::OK,
        pages::render(&*auth.settings.pages, &page),
        respond::Framing::HostsWechat(&origin, opts.self_redirect),
    );
    for c in res.headers().get_all(header::SET_COOKIE) {
        page_res.headers_mut().append(header::SET_COOKIE, c.clone());
    }
    page_res
}

/// The script, and its validator.
const EMBED_JS: &str = include_str!("embed.js");
static EMBED_JS_ETAG: LazyLock<HeaderValue> = LazyLock::new(|| {
    let digest = Sha1::digest(EMBED_JS.as_bytes());
    HeaderValue::from_str(&format!("\"{}\"", &hex::encode(digest)[..16]))
        .unwrap_or_else(|_| HeaderValue::from_static("\"embed\""))
});

/// `GET PREFIX/embed.js`: the same bytes for everyone, so caches may keep it (an hour, then
/// revalidated by its `ETag`).
pub(crate) fn embed_js(req: &Parts) -> Response<Body> {
    let etag = &*EMBED_JS_ETAG;
    let fresh = req
        .headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == etag.to_str().unwrap_or_default()
        });
    let mut res = if fresh {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::NOT_MODIFIED;
        res
    } else {
        let mut res = Response::new(Body::from(EMBED_JS));
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        );
        res
    };
    let headers = res.headers_mut();
    headers.insert(header::ETAG, etag.clone());
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}
