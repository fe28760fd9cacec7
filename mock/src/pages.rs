//! The browser pages: `connect/qrconnect` (website QR login) and `connect/oauth2/authorize`
//! (Official Account web authorization), their error pages, and the avatars the mock serves
//! (protocol §1, §2).
//!
//! `connect/qrconnect?login_type=jssdk` (what wxLogin.js puts in its iframe, protocol §1.2)
//! is a compact page meant to be framed by the site: its approve links honour
//! `self_redirect` as WeChat does — `false` (the default) sends the whole window (the top
//! frame) to the callback, `true` runs the callback inside the frame. Denial works as on
//! the full page.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use image::ImageEncoder as _;
use sha1::{Digest, Sha1};
use url::Url;

use super::config::{AppKind, MockApp, MockUser};
use super::params::Params;
use super::state::Shared;

/// Header naming why the mock showed an error page (`10003`, `param_order`, …), for tests;
/// real WeChat only has the HTML.
pub(crate) const ERROR_HEADER: &str = "x-mock-error";

/// Which authorization page is being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// `connect/qrconnect`: website apps, `snsapi_login`.
    QrConnect,
    /// `connect/oauth2/authorize`: Official Accounts, `snsapi_base` / `snsapi_userinfo`.
    Authorize,
}

impl Flavor {
    fn path(self) -> &'static str {
        match self {
            Flavor::QrConnect => "/connect/qrconnect",
            Flavor::Authorize => "/connect/oauth2/authorize",
        }
    }
}

/// WeChat's HTML error page (HTTP 200, as the real one), with an optional error code.
pub(crate) fn error_page(code: Option<i64>, message: &str, reason: &str) -> Response {
    let code_line = code
        .map(|c| format!("<p class=\"code\">错误码：{c}</p>"))
        .unwrap_or_default();
    let html = format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{msg}</title>{STYLE}</head><body><main>\
         <h1>{msg}</h1>{code_line}<p>该链接无法访问（mock wechat）</p></main></body></html>",
        msg = escape(message),
    );
    let mut resp = Html(html).into_response();
    let tag = code
        .map(|c| c.to_string())
        .unwrap_or_else(|| reason.to_owned());
    if let Ok(v) = HeaderValue::from_str(&tag) {
        resp.headers_mut().insert(ERROR_HEADER, v);
    }
    resp
}

/// A misuse of the mock's own `mock_*` parameters: HTTP 400 with the same page layout.
fn mock_misuse(message: &str) -> Response {
    let mut resp = error_page(None, message, "mock_param");
    *resp.status_mut() = StatusCode::BAD_REQUEST;
    resp
}

const SCOPE_ERROR: &str = "Scope 参数错误或没有 Scope 权限";
const REDIRECT_ERROR: &str = "redirect_uri 参数错误";
pub(crate) const STYLE: &str = "<style>body{font-family:sans-serif;background:#f2f2f2;margin:0}\
main{max-width:28rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px}\
h1{font-size:1.2rem}.code{color:#888}.users{list-style:none;padding:0}\
.button{display:inline-block;margin:.3rem 0;padding:.6rem 1rem;border-radius:4px;\
background:#07c160;color:#fff;text-decoration:none}.deny{background:#eee;color:#333}\
.snapshot{background:#576b95}</style>";

/// `GET /connect/qrconnect`
pub(crate) async fn qrconnect(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    authorization(&s, Flavor::QrConnect, q.as_deref().unwrap_or_default())
}

/// `GET /connect/oauth2/authorize` (WeCom's corp and suite ids are sent to `wecom` first).
pub(crate) async fn authorize(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    authorization(&s, Flavor::Authorize, q.as_deref().unwrap_or_default())
}

/// A request that passed WeChat's checks.
struct Valid<'a> {
    app: &'a MockApp,
    scope: String,
    state: String,
    redirect: Url,
}

fn authorization(s: &Shared, flavor: Flavor, raw: &str) -> Response {
    let p = Params::parse(Some(raw));
    let valid = match validate(s, flavor, &p) {
        Ok(v) => v,
        Err(page) => return *page,
    };
    let user = p.get("mock_user");
    match (p.get("mock_action"), user) {
        (None, None) if flavor == Flavor::QrConnect && p.get("login_type") == Some("jssdk") => {
            framed_page(s, &valid, raw, &p)
        }
        (None, None) => consent_page(s, flavor, &valid, raw),
        (None | Some("approve"), Some(name)) => match s.user(name) {
            Some(user) => approve(s, &valid, user, false),
            None => unknown_user(s, name),
        },
        (Some("snapshot"), Some(name)) => {
            if flavor != Flavor::Authorize || valid.scope != "snsapi_userinfo" {
                return mock_misuse("mock_action=snapshot 只用于公众号 snsapi_userinfo 授权");
            }
            match s.user(name) {
                Some(user) => approve(s, &valid, user, true),
                None => unknown_user(s, name),
            }
        }
        (Some("deny"), _) => deny(s, flavor, &valid),
        (Some("approve" | "snapshot"), None) => mock_misuse("mock_action 需要 mock_user=NAME"),
        (Some(other), _) => mock_misuse(&format!(
            "未知的 mock_action {other:?}（approve / deny / snapshot）"
        )),
    }
}

/// WeChat's checks, in the order the page applies them. Errors are HTML pages.
fn validate<'a>(s: &'a Shared, flavor: Flavor, p: &Params) -> Result<Valid<'a>, Box<Response>> {
    let oa = flavor == Flavor::Authorize;
    let Some(appid) = p.get("appid") else {
        return Err(Box::new(if oa {
            error_page(Some(10012), "appid 参数错误", "appid_missing")
        } else {
            error_page(None, "appid 参数错误", "appid_missing")
        }));
    };
    let Some(app) = s.app(appid) else {
        return Err(Box::new(error_page(
            None,
            "appid 参数错误",
            "invalid_appid",
        )));
    };
    if oa && app.kind.is_open_platform() {
        return Err(Box::new(error_page(
            Some(10016),
            "不支持开放平台的 appid，请使用公众号 appid",
            "10016",
        )));
    }
    let wanted = if oa {
        AppKind::OfficialAccount
    } else {
        AppKind::Website
    };
    if app.kind != wanted {
        return Err(Box::new(error_page(
            oa.then_some(10005),
            SCOPE_ERROR,
            "scope",
        )));
    }
    // An unverified subscription account lacks the authorization scopes altogether: WeChat
    // shows 10005 (no scope permission) and never issues a code (protocol §2.3, §25).
    if oa && !app.verified {
        return Err(Box::new(error_page(Some(10005), SCOPE_ERROR, "10005")));
    }
    if p.get("redirect_uri").is_none() {
        return Err(Box::new(error_page(
            oa.then_some(10011),
            REDIRECT_ERROR,
            "redirect_uri_missing",
        )));
    }
    // wxLogin.js builds its iframe URL with `login_type=jssdk` and no `response_type`.
    let jssdk = !oa && p.get("login_type") == Some("jssdk") && !p.has("response_type");
    if p.get("response_type") != Some("code") && !jssdk {
        return Err(Box::new(error_page(
            None,
            "response_type 参数错误",
            "response_type",
        )));
    }
    let Some(scope) = p.get("scope") else {
        return Err(Box::new(error_page(
            oa.then_some(10010),
            SCOPE_ERROR,
            "scope_missing",
        )));
    };
    if oa {
        // The OA page matches the URL against a strict pattern: these parameters first, in
        // this order; anything else (forcePopup, mock_user, …) only after them.
        let expected = ["appid", "redirect_uri", "response_type", "scope", "state"];
        let n = if p.has("state") { 5 } else { 4 };
        if !p.keys().take(n).eq(expected[..n].iter().copied()) {
            return Err(Box::new(error_page(
                None,
                "参数顺序错误：须为 appid, redirect_uri, response_type, scope, state",
                "param_order",
            )));
        }
    }
    let scope_ok = match flavor {
        Flavor::QrConnect => scope == "snsapi_login",
        Flavor::Authorize => matches!(scope, "snsapi_base" | "snsapi_userinfo"),
    };
    if !scope_ok {
        return Err(Box::new(error_page(
            oa.then_some(10005),
            SCOPE_ERROR,
            "scope",
        )));
    }
    let state = p.get("state").unwrap_or_default();
    if state.len() > 128 || !state.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Box::new(error_page(
            None,
            "state 参数错误（a-zA-Z0-9，最长 128 字节）",
            "state",
        )));
    }
    let redirect = p
        .get("redirect_uri")
        .and_then(|r| Url::parse(r).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"));
    let host = redirect
        .as_ref()
        .and_then(|u| u.host_str())
        .map(str::to_ascii_lowercase);
    let allowed = host.as_ref().is_some_and(|h| {
        s.lock()
            .redirect_domains
            .get(&app.appid)
            .is_some_and(|d| d.iter().any(|d| d == h))
    });
    let (Some(redirect), true) = (redirect, allowed) else {
        return Err(Box::new(error_page(Some(10003), REDIRECT_ERROR, "10003")));
    };
    Ok(Valid {
        app,
        scope: scope.to_owned(),
        state: state.to_owned(),
        redirect,
    })
}

fn unknown_user(s: &Shared, name: &str) -> Response {
    let names: Vec<&str> = s.users.iter().map(|u| u.name.as_str()).collect();
    mock_misuse(&format!(
        "未知的 mock_user {name:?}；可用：{}",
        names.join(", ")
    ))
}

/// The callback: `redirect_uri` plus `code` (when approved) and `state`, appended with `&`
/// when the URI already has a query.
fn callback(v: &Valid<'_>, code: Option<&str>) -> Response {
    let mut url = v.redirect.clone();
    {
        let mut q = url.query_pairs_mut();
        if let Some(code) = code {
            q.append_pair("code", code);
        }
        q.append_pair("state", &v.state);
    }
    match HeaderValue::from_str(url.as_str()) {
        Ok(location) => {
            tracing::debug!(location = %url, "mock wechat: redirecting back");
            let mut resp = StatusCode::FOUND.into_response();
            resp.headers_mut().insert(header::LOCATION, location);
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(_) => error_page(Some(10003), REDIRECT_ERROR, "10003"),
    }
}

fn approve(s: &Shared, v: &Valid<'_>, user: &MockUser, snapshot: bool) -> Response {
    let code = s.issue_code(v.app, user, &v.scope, snapshot);
    callback(v, Some(&code))
}

fn deny(s: &Shared, flavor: Flavor, v: &Valid<'_>) -> Response {
    if flavor == Flavor::QrConnect && !s.website_deny_redirects {
        let html = format!(
            "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>已取消登录</title>{STYLE}</head><body><main><h1>你已取消此次登录</h1>\
             <p>可以关闭此页面。（mock wechat：拒绝后不跳转）</p></main></body></html>"
        );
        return Html(html).into_response();
    }
    callback(v, None)
}

/// This URL (without the mock's own parameters) plus `mock_user` / `mock_action`, escaped
/// for an `href`.
fn action_link(flavor: Flavor, raw: &str, user: Option<&str>, action: &str) -> String {
    let base: Vec<&str> = raw
        .split('&')
        .filter(|seg| {
            let key = seg.split('=').next().unwrap_or_default();
            !seg.is_empty() && key != "mock_user" && key != "mock_action"
        })
        .collect();
    let user = user
        .map(|u| format!("&mock_user={}", url_component(u)))
        .unwrap_or_default();
    escape(&format!(
        "{}?{}{user}&mock_action={action}",
        flavor.path(),
        base.join("&")
    ))
}

/// The QR page wxLogin.js frames (`login_type=jssdk`): small enough for a 300×400 frame,
/// `style=white` for dark pages, and every action link aimed at the top window unless
/// `self_redirect=true` (then the callback runs in the frame). The page says nothing about
/// framing: any site may frame it, as WeChat's may be.
fn framed_page(s: &Shared, v: &Valid<'_>, raw: &str, p: &Params) -> Response {
    let self_redirect = p.get("self_redirect") == Some("true");
    let target = if self_redirect { "_self" } else { "_top" };
    let color = if p.get("style") == Some("white") {
        "#fff"
    } else {
        "#333"
    };
    let mut items = String::new();
    for u in &s.users {
        let _ = write!(
            items,
            "<li><a class=\"button approve\" target=\"{target}\" href=\"{}\">以 {} 身份同意（approve as {}）</a></li>",
            action_link(Flavor::QrConnect, raw, Some(&u.name), "approve"),
            escape(&u.nickname),
            escape(&u.name),
        );
    }
    let html = format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <title>微信登录（mock，内嵌）</title><style>body{{font-family:sans-serif;margin:0;padding:8px;\
         background:transparent;color:{color};text-align:center}}h1{{font-size:1rem}}.users{{list-style:none;padding:0}}\
         .qr{{width:120px;height:120px;margin:8px auto;background:repeating-linear-gradient(45deg,#333 0 6px,#fff 6px 12px)}}\
         .button{{display:block;margin:.3rem 0;padding:.4rem;border-radius:4px;background:#07c160;color:#fff;\
         text-decoration:none;font-size:.85rem}}.deny{{background:#eee;color:#333}}.code{{font-size:.7rem;color:#888}}</style></head>\
         <body data-self-redirect=\"{self_redirect}\"><h1>使用微信扫一扫登录</h1><div class=\"qr\"></div>\
         <p class=\"code\">appid {appid} · self_redirect {self_redirect}</p>\
         <ul class=\"users\">{items}</ul>\
         <a class=\"button deny\" target=\"{target}\" href=\"{deny}\">拒绝（deny）</a></body></html>",
        appid = escape(&v.app.appid),
        deny = action_link(Flavor::QrConnect, raw, None, "deny"),
    );
    Html(html).into_response()
}

/// The page a user would see: one "approve as NAME" link per simulated user, "deny", and for
/// OA `snsapi_userinfo` a "snapshot" link per user. Every link is this same URL plus
/// `mock_user` / `mock_action`.
fn consent_page(s: &Shared, flavor: Flavor, v: &Valid<'_>, raw: &str) -> Response {
    let base: Vec<&str> = raw
        .split('&')
        .filter(|seg| {
            let key = seg.split('=').next().unwrap_or_default();
            !seg.is_empty() && key != "mock_user" && key != "mock_action"
        })
        .collect();
    let base = format!("{}?{}", flavor.path(), base.join("&"));
    let link = |user: Option<&str>, action: &str| {
        let user = user
            .map(|u| format!("&mock_user={}", url_component(u)))
            .unwrap_or_default();
        escape(&format!("{base}{user}&mock_action={action}"))
    };
    let title = match flavor {
        Flavor::QrConnect => "微信登录（mock）：扫码确认",
        Flavor::Authorize if v.scope == "snsapi_base" => "微信网页授权（mock）：静默授权",
        Flavor::Authorize => "微信网页授权（mock）：获取你的昵称、头像",
    };
    let mut items = String::new();
    for u in &s.users {
        let _ = write!(
            items,
            "<li><a class=\"button approve\" href=\"{}\">以 {} 身份同意（approve as {}）</a>",
            link(Some(&u.name), "approve"),
            escape(&u.nickname),
            escape(&u.name),
        );
        if flavor == Flavor::Authorize && v.scope == "snsapi_userinfo" {
            let _ = write!(
                items,
                " <a class=\"button snapshot\" href=\"{}\">快照页（snapshot as {}）</a>",
                link(Some(&u.name), "snapshot"),
                escape(&u.name),
            );
        }
        items.push_str("</li>");
    }
    let html = format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title>{STYLE}</head><body><main><h1>{title}</h1>\
         <p class=\"code\">appid {appid} · scope {scope} · redirect {redirect}</p>\
         <ul class=\"users\">{items}</ul>\
         <p><a class=\"button deny\" href=\"{deny}\">拒绝（deny）</a></p></main></body></html>",
        appid = escape(&v.app.appid),
        scope = escape(&v.scope),
        redirect = escape(v.redirect.as_str()),
        deny = link(None, "deny"),
    );
    Html(html).into_response()
}

/// `GET /mmopen/vi_32/{key}/{size}`: a plain square avatar (size `0` = 640 px, or 46, 64, 96,
/// 132), coloured from `key`, so profile pictures work offline.
pub(crate) async fn avatar(Path((key, size)): Path<(String, String)>) -> Response {
    let px: u32 = match size.as_str() {
        "0" => 640,
        "46" => 46,
        "64" => 64,
        "96" => 96,
        "132" => 132,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let digest = Sha1::digest(key.as_bytes());
    let color = image::Rgb([digest[0] | 0x40, digest[1] | 0x40, digest[2] | 0x40]);
    let img = image::RgbImage::from_pixel(px, px, color);
    let mut png = Vec::new();
    let encoded = image::codecs::png::PngEncoder::new(&mut png).write_image(
        img.as_raw(),
        px,
        px,
        image::ExtendedColorType::Rgb8,
    );
    if encoded.is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(header::CONTENT_TYPE, "image/png")], png).into_response()
}

/// The avatar URL of a user name on a mock at `base`.
pub(crate) fn avatar_url(base: &str, name: &str) -> String {
    let digest = Sha1::new()
        .chain_update(b"avatar\0")
        .chain_update(name.as_bytes())
        .finalize();
    format!("{base}/mmopen/vi_32/{}/132", hex::encode(digest))
}

fn url_component(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// HTML-escapes text and attribute values (the mock's own escaper, not the layer's).
pub(crate) use super::wire::escape_html as escape;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
