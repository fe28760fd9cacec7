//! The mini program link a phone browser outside WeChat logs in through (`POST
//! PREFIX/scan?via=link`): a URL Link (`wxa/generate_urllink`) or a URL Scheme
//! (`wxa/generatescheme`). The `with_*` method and `WECHAT_MINI_LINK` of the [`MiniLink`]
//! setting (defined in `mini_link_settings.rs`). The link opens the mini program code page
//! ([`with_mini_program_code_page`](WechatConfigBuilder::with_mini_program_code_page)) in the
//! version of [`with_mini_program_env_version`](WechatConfigBuilder::with_mini_program_env_version).

use super::mini_link_settings::MiniLink;
use super::{ConfigError, WechatConfigBuilder};

/// What `WECHAT_MINI_LINK` may be.
const EXPECTED: &str =
    "use urllink (a https://wxaurl.cn URL Link, the default) or scheme (a weixin:// URL Scheme)";

impl WechatConfigBuilder {
    /// Which mini program link phone browsers outside WeChat get (`WECHAT_MINI_LINK=urllink
    /// | scheme`; default [`MiniLink::UrlLink`]). A phone browser cannot show WeChat's login
    /// and cannot scan a QR code on its own screen: `POST PREFIX/scan?via=link` makes a link
    /// that opens the mini program (its code page, with `scene=ID` in the query), whose
    /// two-step answer (`miniprogram/scan/open`, then `miniprogram/scan`) logs the waiting
    /// browser in. Links need a mini program of a company or organisation, published.
    ///
    /// ```
    /// use wechat_auth::{MiniLink, WechatConfig};
    ///
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_mini_program("wx4000000000000004", "secret")
    ///     .with_mini_program_code_page("pages/login/confirm")
    ///     .with_mini_link(MiniLink::Scheme)
    ///     .build()?;
    /// assert_eq!(cfg.mini_link(), MiniLink::Scheme);
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn with_mini_link(mut self, link: MiniLink) -> Self {
        self.mini_link = Some(link);
        self
    }
}

/// Reads `WECHAT_MINI_LINK`.
pub(super) fn from_env(
    b: &mut WechatConfigBuilder,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    if let Some(v) = env("WECHAT_MINI_LINK") {
        b.mini_link = Some(match v.to_ascii_lowercase().as_str() {
            "urllink" | "url_link" => MiniLink::UrlLink,
            "scheme" | "urlscheme" | "url_scheme" => MiniLink::Scheme,
            _ => {
                return Err(ConfigError::InvalidSetting {
                    setting: "WECHAT_MINI_LINK",
                    value: super::checks::shown(&v),
                    expected: EXPECTED,
                });
            }
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(v: Option<&str>) -> Result<Option<MiniLink>, ConfigError> {
        let mut b = WechatConfigBuilder::default();
        from_env(&mut b, |k| {
            (k == "WECHAT_MINI_LINK")
                .then(|| v.map(str::to_owned))
                .flatten()
        })?;
        Ok(b.mini_link)
    }

    #[test]
    fn the_link_kind_is_read_and_a_bad_one_is_named() {
        assert_eq!(read(None), Ok(None));
        assert_eq!(read(Some("urllink")), Ok(Some(MiniLink::UrlLink)));
        assert_eq!(read(Some("SCHEME")), Ok(Some(MiniLink::Scheme)));
        for bad in ["link", "weixin", "1", "url link"] {
            let e = read(Some(bad)).unwrap_err();
            assert!(
                matches!(
                    e,
                    ConfigError::InvalidSetting {
                        setting: "WECHAT_MINI_LINK",
                        ..
                    }
                ),
                "{bad}: {e}"
            );
            assert!(e.to_string().starts_with("WECHAT_MINI_LINK is "), "{e}");
            assert!(e.to_string().contains("urllink"), "{e}");
        }
    }
}
