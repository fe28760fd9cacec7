//! What message-code login's settings are set to (the `with_*` methods and the
//! environment variables are in `message.rs`): whether the Official Account is verified,
//! its name and its QR image, and their checks at `build()`.

use url::Url;

use super::ConfigError;

/// The longest account name accepted (`WECHAT_OA_NAME`), in characters.
const MAX_NAME_CHARS: usize = 64;
/// The longest QR image URL accepted (`WECHAT_OA_QR_IMAGE_URL`), in bytes.
const MAX_URL_BYTES: usize = 2048;

/// What `WECHAT_OA_NAME` may be.
const NAME_EXPECTED: &str = "use the Official Account's name as people search for it: 1 to 64 characters, no control characters";
/// What `WECHAT_OA_QR_IMAGE_URL` may be.
const URL_EXPECTED: &str = "use an absolute http(s) URL of the account's QR image, without user:password@ or #fragment, at most 2048 bytes";

/// The settings of this file as the builder holds them, unchecked.
#[derive(Clone, Debug, Default)]
pub(crate) struct MessageSettings {
    /// `None`: the default (verified).
    pub(crate) verified: Option<bool>,
    pub(crate) name: Option<String>,
    pub(crate) qr_image_url: Option<String>,
}

/// The settings of this file as `build` accepted them: the values the layer uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MessageSection {
    /// Whether the Official Account is verified (may call `qrcode/create`, `user/info` and
    /// web authorization). `false`: scan login is message-code login, `channel=oa` is off.
    pub(crate) verified: bool,
    /// The account's name, as people search for it.
    pub(crate) name: Option<String>,
    /// The account's own QR image.
    pub(crate) qr_image_url: Option<Url>,
}

impl Default for MessageSection {
    fn default() -> Self {
        Self {
            verified: true,
            name: None,
            qr_image_url: None,
        }
    }
}

impl MessageSettings {
    /// Checks what `build` can check, once.
    pub(crate) fn checked(self) -> Result<MessageSection, ConfigError> {
        let name = match self.name.map(|n| n.trim().to_owned()) {
            None => None,
            Some(n) if n.is_empty() => None,
            Some(n) => {
                if n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control) {
                    return Err(ConfigError::InvalidSetting {
                        setting: "WECHAT_OA_NAME",
                        value: n,
                        expected: NAME_EXPECTED,
                    });
                }
                Some(n)
            }
        };
        let qr_image_url = match self.qr_image_url {
            None => None,
            Some(raw) => Some(
                Url::parse(raw.trim())
                    .ok()
                    .filter(|u| {
                        matches!(u.scheme(), "http" | "https")
                            && u.host_str().is_some_and(|h| !h.is_empty())
                            && u.username().is_empty()
                            && u.password().is_none()
                            && u.fragment().is_none()
                            && u.as_str().len() <= MAX_URL_BYTES
                    })
                    .ok_or_else(|| ConfigError::InvalidSetting {
                        setting: "WECHAT_OA_QR_IMAGE_URL",
                        value: super::checks::shown(&raw),
                        expected: URL_EXPECTED,
                    })?,
            ),
        };
        Ok(MessageSection {
            verified: self.verified.unwrap_or(true),
            name,
            qr_image_url,
        })
    }
}
