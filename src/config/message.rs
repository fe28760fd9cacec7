//! Message-code login's settings: whether the Official Account is verified (an unverified
//! subscription account has no parametric QR codes, no web authorization and no
//! `cgi-bin/user/info`), and the account's name and QR image shown on the message-code page.
//! The `with_*` methods, the environment variables and the checks at `build()`.

use super::{ConfigError, WechatConfigBuilder};

impl WechatConfigBuilder {
    /// Whether the Official Account is verified (`WECHAT_OA_VERIFIED=true|false`, default
    /// `true`). An unverified subscription account (订阅号, often personal) has a push URL
    /// and passive replies, but no parametric QR codes, no web authorization and no
    /// `cgi-bin/user/info`: with `false`, scan login is message-code login (`POST
    /// PREFIX/scan` answers `via: "message"`; the user sends a 6-digit code to the account
    /// and answers `1`), `login?channel=oa` answers `404 channel_not_configured`, and the
    /// layer never calls `qrcode/create`, `user/info` or web authorization for the account.
    /// Message-code login needs the account's push token ([`with_oa_push`](Self::with_oa_push)).
    ///
    /// ```
    /// let cfg = wechat_auth::WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_official_account("wx5000000000000005", "secret")
    ///     .with_oa_push("pushtoken", Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"))
    ///     .with_oa_verified(false)
    ///     .build()?;
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn with_oa_verified(mut self, verified: bool) -> Self {
        self.message.verified = Some(verified);
        self
    }

    /// The Official Account's name as people search for it in WeChat (`WECHAT_OA_NAME`),
    /// shown on the message-code page ("关注「NAME」，发送 CODE") and in its JSON
    /// (`account.name`). `build()` refuses more than 64 characters or control characters.
    ///
    /// ```
    /// use wechat_auth::{ConfigError, WechatConfig};
    ///
    /// let b = || WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_official_account("wx5000000000000005", "secret");
    /// assert!(b().with_oa_name("示例公众号").build().is_ok());
    /// assert!(matches!(
    ///     b().with_oa_name("a\nb").build(),
    ///     Err(ConfigError::InvalidSetting { setting: "WECHAT_OA_NAME", .. })
    /// ));
    /// ```
    pub fn with_oa_name(mut self, name: impl Into<String>) -> Self {
        self.message.name = Some(name.into());
        self
    }

    /// The Official Account's own QR image (`WECHAT_OA_QR_IMAGE_URL`; 二维码 in the account's
    /// settings), shown on the message-code page and in its JSON (`account.qr_image_url`).
    /// `build()` refuses a URL that is not absolute `http(s)`, or that has credentials
    /// (`user:pw@`) or a fragment.
    ///
    /// ```
    /// use wechat_auth::{ConfigError, WechatConfig};
    ///
    /// let b = || WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_official_account("wx5000000000000005", "secret");
    /// assert!(b().with_oa_qr_image_url("https://example.com/oa-qr.jpg").build().is_ok());
    /// assert!(matches!(
    ///     b().with_oa_qr_image_url("javascript:alert(1)").build(),
    ///     Err(ConfigError::InvalidSetting { setting: "WECHAT_OA_QR_IMAGE_URL", .. })
    /// ));
    /// ```
    pub fn with_oa_qr_image_url(mut self, url: impl Into<String>) -> Self {
        self.message.qr_image_url = Some(url.into());
        self
    }
}

/// Reads `WECHAT_OA_VERIFIED`, `WECHAT_OA_NAME` and `WECHAT_OA_QR_IMAGE_URL`.
pub(super) fn from_env(
    b: &mut WechatConfigBuilder,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    if let Some(v) = env("WECHAT_OA_VERIFIED") {
        b.message.verified = Some(match v.to_ascii_lowercase().as_str() {
            "1" | "true" => true,
            "0" | "false" => false,
            _ => {
                return Err(ConfigError::InvalidFlag {
                    var: "WECHAT_OA_VERIFIED",
                    value: v,
                });
            }
        });
    }
    if let Some(v) = env("WECHAT_OA_NAME") {
        b.message.name = Some(v);
    }
    if let Some(v) = env("WECHAT_OA_QR_IMAGE_URL") {
        b.message.qr_image_url = Some(v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::message_settings::MessageSection;

    fn read(vars: &[(&str, &str)]) -> Result<MessageSection, ConfigError> {
        let mut b = WechatConfigBuilder::default();
        from_env(&mut b, |k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        })?;
        b.message.checked()
    }

    #[test]
    fn verified_is_true_by_default_and_only_true_false_1_0() {
        assert!(read(&[]).unwrap().verified);
        for (v, want) in [("true", true), ("1", true), ("FALSE", false), ("0", false)] {
            assert_eq!(read(&[("WECHAT_OA_VERIFIED", v)]).unwrap().verified, want);
        }
        for bad in ["yes", "no", "off", "2", "verified", "tru"] {
            let e = read(&[("WECHAT_OA_VERIFIED", bad)]).unwrap_err();
            assert_eq!(
                e,
                ConfigError::InvalidFlag {
                    var: "WECHAT_OA_VERIFIED",
                    value: bad.into()
                }
            );
            assert!(e.to_string().starts_with("WECHAT_OA_VERIFIED is "), "{e}");
        }
    }

    #[test]
    fn the_qr_image_url_is_checked_and_named() {
        let ok = read(&[(
            "WECHAT_OA_QR_IMAGE_URL",
            "https://cdn.example.com/qr.jpg?v=2",
        )])
        .unwrap()
        .qr_image_url
        .unwrap();
        assert_eq!(ok.as_str(), "https://cdn.example.com/qr.jpg?v=2");
        let long = format!("https://example.com/{}", "a".repeat(2100));
        for bad in [
            "qr.jpg",
            "/qr.jpg",
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "ftp://example.com/qr.jpg",
            "https://user:pw@example.com/qr.jpg",
            "https://example.com/qr.jpg#x",
            "http://",
            long.as_str(),
        ] {
            let e = read(&[("WECHAT_OA_QR_IMAGE_URL", bad)]).unwrap_err();
            assert!(
                matches!(
                    e,
                    ConfigError::InvalidSetting {
                        setting: "WECHAT_OA_QR_IMAGE_URL",
                        ..
                    }
                ),
                "{bad}: {e}"
            );
            let msg = e.to_string();
            assert!(msg.starts_with("WECHAT_OA_QR_IMAGE_URL is "), "{msg}");
            assert!(!msg.contains(":pw@"), "the password is hidden: {msg}");
        }
    }

    #[test]
    fn the_name_is_checked_and_named() {
        assert_eq!(
            read(&[("WECHAT_OA_NAME", "示例 <公众号>")])
                .unwrap()
                .name
                .as_deref(),
            Some("示例 <公众号>"),
            "kept as given; escaped where shown"
        );
        assert_eq!(read(&[]).unwrap().name, None);
        for bad in ["a\u{7}b", &"名".repeat(65)] {
            let e = read(&[("WECHAT_OA_NAME", bad)]).unwrap_err();
            assert!(e.to_string().starts_with("WECHAT_OA_NAME is "), "{e}");
        }
    }
}
