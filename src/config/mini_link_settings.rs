//! What the mini program link setting is (its `with_*` method and environment variable are
//! in `mini_link.rs`): a leaf the builder, the checked config and the scan channel name.

/// Which kind of mini program link a phone browser outside WeChat is given to open the
/// mini program and confirm its login (`WECHAT_MINI_LINK`).
///
/// ```
/// use wechat_auth::MiniLink;
///
/// assert_eq!(MiniLink::default(), MiniLink::UrlLink);
/// assert_eq!(MiniLink::Scheme.as_str(), "scheme");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MiniLink {
    /// An `https://wxaurl.cn/…` URL Link (`wxa/generate_urllink`, scene 1194): opens from
    /// any browser, through a WeChat page that asks to open the mini program. The default.
    #[default]
    UrlLink,
    /// A `weixin://dl/business/?t=…` URL Scheme (`wxa/generatescheme`, scene 1065): opens
    /// WeChat directly; on Android only from a web page (this layer's phone page is one).
    Scheme,
}

impl MiniLink {
    /// The value of `WECHAT_MINI_LINK`: `urllink` or `scheme`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UrlLink => "urllink",
            Self::Scheme => "scheme",
        }
    }
}
