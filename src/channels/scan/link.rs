//! Login from a phone browser outside WeChat (`via=link`): WeChat has no login for such a
//! browser, and a QR code on its own screen cannot be scanned with the same phone (protocol
//! §26). The one bridge is a mini program link.
//!
//! - `POST PREFIX/scan?via=link` starts a scan as every via does (the signed per-scan
//!   cookie, the start limits, the daily budget — of the mini program's appid) and makes,
//!   once for that scan, a URL Link (`wxa/generate_urllink`) or a URL Scheme
//!   (`wxa/generatescheme`, `WECHAT_MINI_LINK=scheme`) with the mini program's global token:
//!   it opens the mini program code page with `scene=ID` in its query and expires no later
//!   than the scan. Answer: `{"id", "url_link", "expires_in", "via": "link"}`. A reload of
//!   the same browser gets the same scan and link back, also once the user opened it.
//! - The opened mini program answers in the two steps of a mini program code
//!   (`miniprogram/scan/open {scene, code}`, then `miniprogram/scan {scene, token,
//!   decision}`); the browser long-polls `scan/{id}` as every scan page does. A link's scene
//!   that has ended is answered `410 scan_expired`, a scene never made `404`.
//! - `GET PREFIX/scan?via=link&return_to=…` is the phone page: a "打开微信登录" button to the
//!   link, the long-poll, and `return_to` once the user confirmed. Without a mini program,
//!   it explains what to do instead (open the page in WeChat), `200`, never a QR code.
//! - WeChat's refusals are [`LinkFailure`]s that name the likely cause (an individual mini
//!   program: 40002; an unpublished one: 85079; the limits: 44990, 45009; the page or query:
//!   40165, 40212); the page shows what to do.

use std::borrow::Cow;

use super::*;
use crate::config::mini_link_settings::MiniLink;
use crate::core::failure::{Description, Refusal};
use wechat_auth_client::WxaLinkRequest;

/// How long a link scan's end is remembered after its scan (so the mini program is told
/// `410` rather than `404`), seconds.
const ENDED_FOR: u64 = 3600;

/// The JSON answer of `POST scan?via=link`.
#[derive(Serialize)]
struct Started<'a> {
    id: &'a str,
    /// The URL Link (`https://…`) or URL Scheme (`weixin://…`) to open.
    url_link: &'a str,
    expires_in: u64,
    via: Via,
}

/// `{"id","url_link","expires_in","via":"link"}`.
pub(super) fn started(id: &str, scene: &Scene, expires_in: u64) -> Response<Body> {
    let mut res = respond::json(
        StatusCode::OK,
        &Started {
            id,
            url_link: &scene.url,
            expires_in,
            via: Via::Link,
        },
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The key that says a link scan `id` of the mini program `appid` was started: it outlives
/// the scan by [`ENDED_FOR`].
fn started_key(appid: &str, id: &str) -> Key {
    Key::of(appid, "scan-link", id)
}

/// Makes the link of the new scan `id`, which lives `ttl` seconds: `(link, expires_in)`.
/// Costs one from the mini program's daily budget; WeChat's refusals become
/// [`LinkFailure`]s.
pub(super) async fn make(auth: &Scan, id: &str, ttl: u64) -> Result<(String, u64), Failure> {
    let appid = mini_appid(auth)?;
    spend_budget_of(auth, appid).await?;
    let s = &auth.settings;
    // Never longer than the scan: the scene is written after this, so it ends later.
    let mut request = WxaLinkRequest::new(now_unix() + ttl).with_query(format!("scene={id}"));
    if let Some(page) = &s.mini_code_page {
        request = request.with_path(page.clone());
    }
    if let Some(env) = &s.mini_code_env {
        request = request.with_env_version(env.clone());
    }
    let link = match s.mini_link {
        MiniLink::UrlLink => auth
            .tokens
            .with_token(appid, |token| {
                let request = request.clone();
                async move {
                    auth.client
                        .generate_urllink(&token, &request)
                        .await
                        .map(|l| l.url_link)
                }
            })
            .await
            .map_err(refused)?,
        MiniLink::Scheme => auth
            .tokens
            .with_token(appid, |token| {
                let request = request.clone();
                async move {
                    auth.client
                        .generatescheme(&token, &request)
                        .await
                        .map(|s| s.openlink)
                }
            })
            .await
            .map_err(refused)?,
    };
    // What goes into the page's `href`: only a link that opens WeChat, never `javascript:`.
    if !openable(&link) {
        tracing::error!(
            len = link.len(),
            "WeChat answered a mini program link that is neither http(s):// nor weixin://"
        );
        return Err(LinkFailure::BadAnswer.into());
    }
    auth.store
        .set(
            &started_key(appid, id),
            b"1".to_vec(),
            Duration::from_secs(ttl + ENDED_FOR),
        )
        .await?;
    tracing::debug!(kind = s.mini_link.as_str(), "mini program link made");
    Ok((link, ttl))
}

/// Whether `link` is one a page may send the browser to: `https://`, `http://` (the mock),
/// or `weixin://`, at most 2 KiB, with no space, quote or angle bracket.
fn openable(link: &str) -> bool {
    let lower = link.get(..10).unwrap_or(link).to_ascii_lowercase();
    (lower.starts_with("https://")
        || lower.starts_with("http://")
        || lower.starts_with("weixin://"))
        && link.len() <= 2048
        && !link
            .bytes()
            .any(|b| b.is_ascii_control() || matches!(b, b' ' | b'"' | b'\'' | b'<' | b'>' | b'\\'))
}

/// WeChat's refusal of a link as what it most likely means.
fn refused(f: Failure) -> Failure {
    let Some(e) = crate::providers::wechat::failure::wechat_error(&f) else {
        return f;
    };
    let typed = match e.errcode() {
        Some(40002) => LinkFailure::NotAllowed,
        Some(85079) => LinkFailure::NotPublished,
        Some(40165 | 40212) => LinkFailure::BadPage,
        Some(44990) => LinkFailure::TooFast,
        Some(45009) => LinkFailure::DailyLimit(DAY - (now_unix() + BEIJING) % DAY),
        _ => return f,
    };
    // For the operator: the client's hint says what to change.
    if typed.describe().level == tracing::Level::ERROR {
        tracing::error!(error = %e, "WeChat refused to make a mini program link: phone browsers outside WeChat cannot log in until this is fixed");
    } else {
        tracing::warn!(error = %e, "WeChat refused to make a mini program link");
    }
    typed.into()
}

/// The failure for a scene `id` the mini program names that is not (or no longer) live: a
/// link scan that ended is `410`, anything else the `404` of an unknown scan.
pub(super) async fn ended(auth: &Scan, id: &str) -> Failure {
    let Ok(appid) = mini_appid(auth) else {
        return NOT_FOUND;
    };
    if !valid_id(id) {
        return NOT_FOUND;
    }
    match auth.store.get(&started_key(appid, id)).await {
        Ok(Some(_)) => LinkFailure::Expired.into(),
        Ok(None) => NOT_FOUND,
        Err(e) => e.into(),
    }
}

/// Why a link login was refused.
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum LinkFailure {
    /// 40002: the mini program may not make links (an individual mini program).
    #[error("mini_link_not_allowed")]
    NotAllowed,
    /// 85079: the mini program has no published version.
    #[error("mini_program_not_published")]
    NotPublished,
    /// 40165 / 40212: the configured page (or the query) is refused.
    #[error("mini_link_page_invalid")]
    BadPage,
    /// 44990: too many links a second.
    #[error("mini_link_busy")]
    TooFast,
    /// 45009: the mini program's daily link quota is reached; seconds until WeChat's next
    /// day (Beijing time).
    #[error("mini_link_quota")]
    DailyLimit(u64),
    /// WeChat answered a link this layer will not put in a page.
    #[error("mini_link_bad_answer")]
    BadAnswer,
    /// The mini program opened a link whose scan has ended (expired, or used).
    #[error("scan_expired")]
    Expired,
}

/// The end of every refusal shown in the phone browser: what to do instead.
const INSTEAD_ZH: &str = "请在电脑上打开本站扫码登录，或复制本页链接在微信中打开。";
const INSTEAD_EN: &str =
    "Log in on a computer by scanning, or copy this page's link and open it in WeChat.";

impl Refusal for LinkFailure {
    fn describe(&self) -> Description {
        use tracing::Level;
        let d = |status, code, zh: &str, en: &str| Description {
            status,
            code,
            zh: Cow::Owned(format!("{zh}{INSTEAD_ZH}")),
            en: Cow::Owned(format!("{en} {INSTEAD_EN}")),
            level: Level::ERROR,
            retry_after: None,
        };
        let unavailable = StatusCode::SERVICE_UNAVAILABLE;
        match self {
            Self::NotAllowed => d(
                unavailable,
                "mini_link_not_allowed",
                "无法从此浏览器打开微信登录：本站的小程序没有生成跳转链接的权限（个人主体的小程序不支持，错误 40002）。",
                "WeChat login cannot be opened from this browser: the site's mini program may not make links (an individual mini program cannot; WeChat 40002).",
            ),
            Self::NotPublished => d(
                unavailable,
                "mini_program_not_published",
                "无法从此浏览器打开微信登录：本站的小程序尚未发布（错误 85079）。",
                "WeChat login cannot be opened from this browser: the site's mini program is not published yet (WeChat 85079).",
            ),
            Self::BadPage => d(
                unavailable,
                "mini_link_page_invalid",
                "无法从此浏览器打开微信登录：本站配置的小程序页面不在已发布的版本中（错误 40165）。",
                "WeChat login cannot be opened from this browser: the site's mini program page is not in its published version (WeChat 40165/40212).",
            ),
            Self::TooFast => Description {
                level: Level::WARN,
                retry_after: Some(5),
                ..d(
                    unavailable,
                    "mini_link_busy",
                    "微信登录链接生成过于频繁，请几秒后再试。",
                    "Too many WeChat login links are being made right now (WeChat 44990): try again in a few seconds.",
                )
            },
            Self::DailyLimit(secs) => Description {
                level: Level::WARN,
                retry_after: Some((*secs).max(1)),
                ..d(
                    unavailable,
                    "mini_link_quota",
                    "微信今天的登录链接生成次数已达上限（错误 45009），请明天再试。",
                    "WeChat's daily quota of login links for this site is reached (WeChat 45009): try again tomorrow.",
                )
            },
            Self::BadAnswer => Description {
                level: Level::WARN,
                ..d(
                    StatusCode::BAD_GATEWAY,
                    "mini_link_bad_answer",
                    "微信返回的登录链接无法使用。",
                    "WeChat answered a login link that cannot be used.",
                )
            },
            Self::Expired => Description {
                status: StatusCode::GONE,
                code: "scan_expired",
                zh: Cow::Borrowed("这个登录链接已过期或已使用，请回到浏览器重新打开微信登录。"),
                en: Cow::Borrowed(
                    "This login link has expired or was used: go back to the browser and open WeChat login again.",
                ),
                level: Level::INFO,
                retry_after: None,
            },
        }
    }
}

impl From<LinkFailure> for Failure {
    fn from(f: LinkFailure) -> Self {
        Failure::channel(f)
    }
}

/// `GET PREFIX/scan?via=link&return_to=…`: the phone page (a button to the link, the
/// long-poll, `return_to` when confirmed); without a mini program, the page that says what
/// to do instead. Every value is escaped; the link is put in by the script.
pub(super) fn page(auth: &Scan, req: &Parts) -> Response<Body> {
    let q = Query::parse(req.uri.query());
    let s = &auth.settings;
    let lang = auth.language(req);
    let return_to = safe_return_to(q.get("return_to"), &s.allowed_origins);
    // What to open in WeChat instead: the page the visitor wanted, as an absolute URL.
    let copy = if return_to.starts_with('/') {
        format!("{}{return_to}", s.origin)
    } else {
        return_to.clone()
    };
    let (template, title_zh, title_en) = if s.mini_program.is_some() {
        (include_str!("link.html"), "微信登录", "Log in with WeChat")
    } else {
        (
            include_str!("link_copy.html"),
            "请在微信中打开",
            "Open in WeChat",
        )
    };
    let start = format!(
        "{}/scan?return_to={}&via=link",
        s.prefix,
        percent_encoding::utf8_percent_encode(&return_to, QUERY_VALUE),
    );
    let body = super::page::fill(template, |slot| match slot {
        "START" => Some(respond::escape(&start)),
        "PREFIX" => Some(respond::escape(&s.prefix)),
        "COPY" => Some(respond::escape(&copy)),
        "INSTEAD_ZH" => Some(INSTEAD_ZH.to_owned()),
        "INSTEAD_EN" => Some(INSTEAD_EN.to_owned()),
        _ => None,
    });
    let script = body
        .find("<script")
        .map(|at| body[at..].to_owned())
        .unwrap_or_default();
    let page = crate::core::pages::Page::new(
        crate::core::pages::PageKind::Scan,
        lang,
        lang.pick(title_zh, title_en),
        lang.pick(title_zh, title_en),
    )
    .with_body(
        crate::core::pages::Markup::trusted(body),
        crate::core::pages::Markup::trusted(script),
    );
    respond::html(StatusCode::OK, crate::core::pages::render(&*s.pages, &page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::render;

    #[test]
    fn only_links_that_open_wechat_go_into_a_page() {
        let long = format!("https://wxaurl.cn/{}", "a".repeat(2100));
        for ok in [
            "https://wxaurl.cn/abcDEF123",
            "http://127.0.0.1:9000/mock/urllink/T",
            "weixin://dl/business/?t=abc",
            "HTTPS://wxaurl.cn/x",
        ] {
            assert!(openable(ok), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "//evil.example/x",
            "https://wxaurl.cn/a\"onmouseover=x",
            "https://wxaurl.cn/<script>",
            "https://wxaurl.cn/a b",
            "weixin://x\n",
            "",
            long.as_str(),
        ] {
            assert!(!openable(bad), "{bad}");
        }
    }

    #[test]
    fn every_link_failure_says_what_to_do() {
        let cases = [
            (
                LinkFailure::NotAllowed,
                503,
                "mini_link_not_allowed",
                "individual",
            ),
            (
                LinkFailure::NotPublished,
                503,
                "mini_program_not_published",
                "not published",
            ),
            (
                LinkFailure::BadPage,
                503,
                "mini_link_page_invalid",
                "published version",
            ),
            (LinkFailure::TooFast, 503, "mini_link_busy", "44990"),
            (LinkFailure::DailyLimit(60), 503, "mini_link_quota", "45009"),
            (
                LinkFailure::BadAnswer,
                502,
                "mini_link_bad_answer",
                "cannot be used",
            ),
            (LinkFailure::Expired, 410, "scan_expired", "expired"),
        ];
        for (f, status, code, cause) in cases {
            let failure = Failure::from(f.clone());
            let d = failure.describe();
            assert_eq!(d.status.as_u16(), status, "{f:?}");
            assert_eq!(d.code, code, "{f:?}");
            assert_eq!(f.to_string(), code, "{f:?}");
            assert!(d.en.contains(cause), "{f:?}: {}", d.en);
            assert!(!d.zh.is_empty(), "{f:?}");
            if !matches!(f, LinkFailure::Expired) {
                assert!(d.en.contains("open it in WeChat"), "{f:?}: what to do");
                assert!(d.zh.contains("在微信中打开"), "{f:?}: what to do");
            }
            assert_eq!(render::json(&failure).status().as_u16(), status);
            assert!(failure.refusal::<LinkFailure>().is_some());
        }
        let res = render::json(&LinkFailure::DailyLimit(120).into());
        assert_eq!(res.headers()[header::RETRY_AFTER], "120");
    }
}
