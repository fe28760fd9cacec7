//! Pages a site can make its own: every HTML page the layer shows — the scan page, the
//! embedded-QR host page, the popup and in-frame callback pages, and every error page — is
//! rendered through one replaceable [`Pages`] hook, in the visitor's [`Language`].
//!
//! Override only what you want: [`Pages::layout`] restyles every page at once; one method per
//! kind of page ([`Pages::scan`], [`Pages::embed`], [`Pages::popup_result`],
//! [`Pages::message`]) replaces that page. Everything the layer hands over in a [`Page`] is
//! already escaped [`Markup`], and the script a page needs to work comes separately
//! ([`Page::script`]), so a custom template can change every visible word without breaking
//! the login.
//!
//! ```
//! # use axum::{body::Body, http::{Request, StatusCode}, Router};
//! # use tower::ServiceExt as _;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use wechat_auth::{pages::{Markup, Page, Pages}, WechatAuthLayer, WechatConfig};
//!
//! /// Our own error page; every other page keeps the default look.
//! struct Branded;
//! impl Pages for Branded {
//!     fn message(&self, page: &Page<'_>) -> Markup {
//!         Markup::trusted(format!(
//!             "<!doctype html><html lang=\"{}\"><title>ACME</title><h1>ACME: {}</h1><p>{}</p></html>",
//!             page.language().tag(),
//!             page.heading(),
//!             page.text(),
//!         ))
//!     }
//! }
//!
//! let cfg = WechatConfig::builder()
//!     .with_public_url("https://example.com")
//!     .with_session_secret("0123456789abcdef0123456789abcdef")
//!     .with_website_app("wx1000000000000001", "secret")
//!     .with_pages(Arc::new(Branded))
//!     .build()?;
//! let app = Router::new().layer(WechatAuthLayer::new(cfg));
//! // A callback with a forged state gets our page, in English for an English browser.
//! let res = app
//!     .oneshot(
//!         Request::get("/auth/wechat/callback?code=c&state=not-ours")
//!             .header("accept-language", "en-US,en;q=0.9")
//!             .body(Body::empty())?,
//!     )
//!     .await?;
//! assert_eq!(res.status(), StatusCode::BAD_REQUEST);
//! let html = String::from_utf8(axum::body::to_bytes(res.into_body(), 1 << 20).await?.to_vec())?;
//! assert!(html.starts_with("<!doctype html><html lang=\"en\"><title>ACME</title><h1>ACME: Login failed</h1>"));
//! # Ok(()) }
//! ```

use std::fmt;

use http::{HeaderMap, StatusCode, header};

/// HTML that is safe to put into a page as it is: text the layer escaped, or markup someone
/// vouched for with [`Markup::trusted`].
///
/// ```
/// use wechat_auth::pages::Markup;
/// assert_eq!(Markup::escape("<b>&</b>").as_str(), "&lt;b&gt;&amp;&lt;/b&gt;");
/// assert_eq!(Markup::trusted("<b>hi</b>").to_string(), "<b>hi</b>");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Markup(String);

impl Markup {
    /// Text, escaped for element content and quoted attribute values.
    pub fn escape(text: &str) -> Self {
        Self(escape(text))
    }

    /// Markup taken as it is: only for HTML you wrote (never for what a visitor sent).
    pub fn trusted(html: impl Into<String>) -> Self {
        Self(html.into())
    }

    /// The HTML.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The HTML, owned.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Whether there is nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Markup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Markup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Markup({:?})", self.0)
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

/// The language of the layer's pages: Chinese unless the browser prefers English (its
/// `Accept-Language`), or whatever [`with_language`](crate::WechatConfigBuilder::with_language)
/// fixed.
///
/// ```
/// use wechat_auth::pages::Language;
/// assert_eq!(Language::from_accept_language("en-GB,en;q=0.9,zh;q=0.5"), Language::En);
/// assert_eq!(Language::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"), Language::Zh);
/// assert_eq!(Language::from_accept_language("fr-FR,en;q=0.5"), Language::En);
/// assert_eq!(Language::from_accept_language("de"), Language::Zh); // neither: the default
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Language {
    /// 简体中文 (the default). The default pages add a short English line under the Chinese.
    #[default]
    Zh,
    /// English.
    En,
}

impl Language {
    /// The language an `Accept-Language` header prefers among Chinese and English (highest
    /// `q` wins, the first one on a tie); Chinese when it names neither.
    pub fn from_accept_language(value: &str) -> Self {
        let mut best: Option<(u16, Language)> = None;
        for item in value.split(',').take(16) {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            // Three decimals at most: compare as thousandths.
            let q = (q.clamp(0.0, 1.0) * 1000.0) as u16;
            let lang = match tag.split('-').next() {
                Some("zh") => Language::Zh,
                Some("en") => Language::En,
                _ => continue,
            };
            if q > 0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or_default()
    }

    /// The request's language: `fixed` when configured, else from `Accept-Language`.
    pub(crate) fn of(fixed: Option<Language>, headers: &HeaderMap) -> Self {
        fixed.unwrap_or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .map(Self::from_accept_language)
                .unwrap_or_default()
        })
    }

    /// The BCP 47 tag for `<html lang>`: `zh-CN` or `en`.
    ///
    /// ```
    /// assert_eq!(wechat_auth::pages::Language::En.tag(), "en");
    /// ```
    pub fn tag(self) -> &'static str {
        match self {
            Self::Zh => "zh-CN",
            Self::En => "en",
        }
    }

    /// Picks the text of this language.
    pub(crate) fn pick<'t>(self, zh: &'t str, en: &'t str) -> &'t str {
        match self {
            Self::Zh => zh,
            Self::En => en,
        }
    }
}

/// Which page the layer is showing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PageKind {
    /// `GET scan`: the QR code to scan, waiting for the phone.
    Scan,
    /// `GET login?display=embed`: the site-styled page with WeChat's QR in an iframe.
    Embed,
    /// The callback's answer inside a popup (`display=popup`) or inside the embedded QR's
    /// iframe (`self_redirect`): tells the opener or the top window, then goes away.
    PopupResult,
    /// A failed login or request: the error, and a link to try again.
    Error,
    /// The visitor declined on WeChat's page.
    Cancelled,
    /// The site's `on_login` hook refused the login.
    Refused,
    /// WeChat gave an Official Account snapshot-page (virtual) identity.
    Snapshot,
    /// `GET scan/{id}/confirm`: on the phone, who asked to log in, and `确认登录` / `取消`
    /// (the form's token is already in [`body`](Page::body)).
    Confirm,
}

/// Everything a page needs, already escaped: what to say, in which language, where to try
/// again, and the working default content.
#[derive(Debug)]
pub struct Page<'a> {
    pub(crate) kind: PageKind,
    pub(crate) language: Language,
    pub(crate) status: StatusCode,
    pub(crate) code: Option<&'a str>,
    pub(crate) title: Markup,
    pub(crate) heading: Markup,
    pub(crate) text: Markup,
    pub(crate) note: Markup,
    pub(crate) retry_url: Option<Markup>,
    pub(crate) body: Markup,
    pub(crate) script: Markup,
}

impl<'a> Page<'a> {
    /// A page of `kind` saying `heading` and `text` (escaped here).
    pub(crate) fn new(kind: PageKind, language: Language, title: &str, heading: &str) -> Self {
        Self {
            kind,
            language,
            status: StatusCode::OK,
            code: None,
            title: Markup::escape(title),
            heading: Markup::escape(heading),
            text: Markup::default(),
            note: Markup::default(),
            retry_url: None,
            body: Markup::default(),
            script: Markup::default(),
        }
    }

    pub(crate) fn with_text(mut self, text: &str) -> Self {
        self.text = Markup::escape(text);
        self
    }

    /// A second, smaller line: the English under a Chinese page.
    pub(crate) fn with_note(mut self, note: &str) -> Self {
        self.note = Markup::escape(note);
        self
    }

    pub(crate) fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub(crate) fn code(mut self, code: &'a str) -> Self {
        self.code = Some(code);
        self
    }

    pub(crate) fn retry(mut self, url: Option<&str>) -> Self {
        self.retry_url = url.map(Markup::escape);
        self
    }

    /// The default content: heading, text, note and the retry button, plus `extra` markup
    /// and the script.
    pub(crate) fn compose(mut self, extra: Markup, script: Markup) -> Self {
        let mut body = format!("<h1>{}</h1>", self.heading);
        if !self.text.is_empty() {
            body.push_str(&format!("<p>{}</p>", self.text));
        }
        if !self.note.is_empty() {
            body.push_str(&format!("<p class=\"en\">{}</p>", self.note));
        }
        body.push_str(extra.as_str());
        if let Some(url) = &self.retry_url {
            let label = self
                .language
                .pick("重新登录 · Log in again", "Log in again");
            body.push_str(&format!(
                "<a class=\"button\" id=\"retry\" href=\"{url}\">{}</a>",
                escape(label)
            ));
        }
        body.push_str(script.as_str());
        self.body = Markup(body);
        self.script = script;
        self
    }

    /// The default content as given (for pages whose markup comes from a file).
    pub(crate) fn with_body(mut self, body: Markup, script: Markup) -> Self {
        self.body = body;
        self.script = script;
        self
    }

    /// Which page this is.
    pub fn kind(&self) -> PageKind {
        self.kind
    }

    /// The visitor's language.
    pub fn language(&self) -> Language {
        self.language
    }

    /// The HTTP status the page is sent with.
    pub fn http_status(&self) -> StatusCode {
        self.status
    }

    /// The machine-readable code of an error page (`state_mismatch`, `login_again`, …),
    /// the same as the JSON `error` of the endpoint.
    pub fn error_code(&self) -> Option<&str> {
        self.code
    }

    /// The `<title>`.
    pub fn title(&self) -> &Markup {
        &self.title
    }

    /// The headline.
    pub fn heading(&self) -> &Markup {
        &self.heading
    }

    /// What happened and what to do, in the page's language.
    pub fn text(&self) -> &Markup {
        &self.text
    }

    /// A second line (on a Chinese page: the same in English); may be empty.
    pub fn note(&self) -> &Markup {
        &self.note
    }

    /// Where "log in again" goes, escaped for an `href`.
    pub fn retry_url(&self) -> Option<&Markup> {
        self.retry_url.as_ref()
    }

    /// The layer's own content of the page's `<main>`: headline, text, links, and for the
    /// scan, embed and popup pages the elements and the script that make them work.
    pub fn body(&self) -> &Markup {
        &self.body
    }

    /// The script (with its data) this page needs, included in [`body`](Self::body) already:
    /// a custom page that writes its own markup must include it. Empty for pages without
    /// one. The scan page's script looks up the default body's elements by `id`.
    pub fn script(&self) -> &Markup {
        &self.script
    }
}

/// The hook that renders the layer's HTML pages. Every method has a default; override
/// [`layout`](Self::layout) to restyle all pages, or one page's method to replace it.
/// Install it with [`with_pages`](crate::WechatConfigBuilder::with_pages).
///
/// The strings in a [`Page`] are escaped already; what a method returns goes out as it is.
/// Pages are sent with a strict `Content-Security-Policy` (inline styles and scripts only,
/// no frames except WeChat's on the embed page), so load nothing from other hosts.
pub trait Pages: Send + Sync + 'static {
    /// The whole document around a page's [`body`](Page::body).
    fn layout(&self, page: &Page<'_>) -> Markup {
        document(page.language, &page.title, &page.body)
    }

    /// The scan page (`GET scan`).
    fn scan(&self, page: &Page<'_>) -> Markup {
        self.layout(page)
    }

    /// The embedded-QR host page (`GET login?display=embed`).
    fn embed(&self, page: &Page<'_>) -> Markup {
        self.layout(page)
    }

    /// The callback's answer in a popup or in the embedded QR's iframe.
    fn popup_result(&self, page: &Page<'_>) -> Markup {
        self.layout(page)
    }

    /// The phone-side confirmation of a scan login (`scan/{id}/confirm`), opened inside
    /// WeChat. Keep the form (its action and hidden token) when restyling it.
    fn confirm(&self, page: &Page<'_>) -> Markup {
        self.layout(page)
    }

    /// Errors, a declined or refused login, the snapshot-page notice
    /// ([`PageKind::Error`], [`Cancelled`](PageKind::Cancelled),
    /// [`Refused`](PageKind::Refused), [`Snapshot`](PageKind::Snapshot)).
    fn message(&self, page: &Page<'_>) -> Markup {
        self.layout(page)
    }
}

/// The built-in pages: self-contained (no external assets), WeChat green.
///
/// ```
/// use wechat_auth::pages::{DefaultPages, Pages};
/// fn takes(_: &dyn Pages) {}
/// takes(&DefaultPages);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultPages;

impl Pages for DefaultPages {}

/// Renders `page` with `pages`, by its kind.
pub(crate) fn render(pages: &dyn Pages, page: &Page<'_>) -> String {
    match page.kind {
        PageKind::Scan => pages.scan(page),
        PageKind::Embed => pages.embed(page),
        PageKind::PopupResult => pages.popup_result(page),
        PageKind::Confirm => pages.confirm(page),
        PageKind::Error | PageKind::Cancelled | PageKind::Refused | PageKind::Snapshot => {
            pages.message(page)
        }
    }
    .into_string()
}

/// The default document: a centred card, system fonts, no external assets.
pub(crate) fn document(language: Language, title: &Markup, body: &Markup) -> Markup {
    Markup(format!(
        r#"<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font-family:-apple-system,"PingFang SC","Microsoft YaHei",system-ui,sans-serif;background:#f5f6f7;color:#1f2329;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}}
main{{background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:32px 28px;max-width:420px;width:calc(100% - 32px);box-sizing:border-box;text-align:center}}
h1{{font-size:20px;margin:0 0 12px}} p{{line-height:1.6;margin:8px 0;color:#4e5969}}
.en{{font-size:13px;color:#86909c}} code{{background:#f2f3f5;padding:1px 4px;border-radius:4px}}
a.button,button{{display:inline-block;margin-top:16px;background:#07c160;color:#fff;text-decoration:none;border:0;border-radius:8px;padding:10px 22px;font-size:16px;cursor:pointer}}
iframe{{border:0;display:block;margin:8px auto}}
</style></head><body><main>
{body}
</main></body></html>"#,
        lang = language.tag(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_weights() {
        use Language::*;
        assert_eq!(Language::from_accept_language(""), Zh);
        assert_eq!(Language::from_accept_language("en"), En);
        assert_eq!(Language::from_accept_language("zh-TW"), Zh);
        assert_eq!(Language::from_accept_language("zh;q=0.4, en;q=0.6"), En);
        assert_eq!(Language::from_accept_language("en;q=0, zh;q=0.1"), Zh);
        assert_eq!(Language::from_accept_language("EN-us"), En);
        assert_eq!(Language::from_accept_language("en;q=abc"), En);
    }

    #[test]
    fn compose_escapes_everything_given() {
        let p = Page::new(PageKind::Error, Language::En, "<t>", "<h>")
            .with_text("a & b")
            .retry(Some("/x?a=1&b=\"2\""))
            .compose(Markup::default(), Markup::default());
        let html = render(&DefaultPages, &p);
        assert!(html.contains("<title>&lt;t&gt;</title>"), "{html}");
        assert!(
            html.contains("<h1>&lt;h&gt;</h1><p>a &amp; b</p>"),
            "{html}"
        );
        assert!(
            html.contains("href=\"/x?a=1&amp;b=&quot;2&quot;\""),
            "{html}"
        );
        assert!(html.contains("<html lang=\"en\">"));
    }
}
