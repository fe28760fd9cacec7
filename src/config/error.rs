//! [`ConfigError`]: why a configuration was refused.

/// Why a configuration was refused. Every message names the setting to fix.
///
/// `Debug` prints the same message (then the variant), because that is what Rust prints when
/// `main` returns the error: `fn main() -> Result<(), Box<dyn std::error::Error>>` with
/// `WechatConfig::from_env()?` ends with `Error: no public URL: set WECHAT_PUBLIC_URL …`,
/// not with a bare variant name.
///
/// ```
/// let err = wechat_auth::WechatConfig::builder().build().unwrap_err();
/// assert!(err.to_string().contains("WECHAT_PUBLIC_URL"));
/// assert_eq!(format!("{err:?}"), format!("{err} (ConfigError::MissingPublicUrl)"));
/// ```
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No public URL.
    #[error(
        "no public URL: set WECHAT_PUBLIC_URL (or with_public_url) to the site's external origin, e.g. https://example.com"
    )]
    MissingPublicUrl,
    /// The public URL is not an absolute http(s) origin.
    #[error(
        "WECHAT_PUBLIC_URL (with_public_url) {url:?} is not usable: {why}; give the site's external origin, e.g. https://example.com"
    )]
    InvalidPublicUrl {
        /// The value given.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// No session signing key.
    #[error(
        "no session secret: set WECHAT_SESSION_SECRET (or with_session_secret) to at least 32 random bytes"
    )]
    MissingSessionSecret,
    /// A session signing key is too short to be safe.
    #[error(
        "session secret #{index} is {len} bytes long; each key must have at least 32 bytes (e.g. `openssl rand -base64 48`)"
    )]
    ShortSessionSecret {
        /// Position of the key in the ring (0 = the signing key).
        index: usize,
        /// Its length in bytes.
        len: usize,
    },
    /// No channel is configured.
    #[error(
        "no WeChat channel is configured: set at least one app (WECHAT_WEBSITE_APP_ID, WECHAT_OA_APP_ID, WECHAT_MOBILE_APP_ID or WECHAT_MINI_APP_ID, each with its secret)"
    )]
    NoChannel,
    /// A WeChat-only `on_login` hook beside a provider whose logins it would never see.
    #[error(
        "with_on_login / with_on_login_bind take WeChat users only, but {providers} login is configured too: use with_on_login_identity, which sees every provider's identity"
    )]
    WechatOnlyLoginHook {
        /// The other providers configured (`WeCom`, `Douyin`).
        providers: String,
    },
    /// An app has an id but no secret, or the other way round.
    #[error("the {channel} app has {has} but no {missing}: set {var}")]
    IncompleteApp {
        /// Which app.
        channel: &'static str,
        /// What was given.
        has: &'static str,
        /// What is missing.
        missing: &'static str,
        /// The environment variable that sets it.
        var: &'static str,
    },
    /// The Official Account scope is not one WeChat knows.
    #[error(
        "WECHAT_OA_SCOPE is {0:?}; use snsapi_base, snsapi_userinfo or snsapi_base_then_userinfo"
    )]
    InvalidScope(String),
    /// The embedded QR's stylesheet is not an `https://` or `data:text/css;base64,` URL.
    #[error(
        "the embedded QR stylesheet (with_embed_css) {0:?} must be an https:// URL or data:text/css;base64,… (at most 4096 bytes)"
    )]
    InvalidEmbedCss(String),
    /// The EncodingAESKey is not 43 characters of `[A-Za-z0-9]`.
    #[error(
        "WECHAT_OA_ENCODING_AES_KEY must be the 43 letters and digits shown in the Official Account console (got {len} characters)"
    )]
    InvalidAesKey {
        /// The length given.
        len: usize,
    },
    /// An AES key without the push token it belongs with.
    #[error(
        "WECHAT_OA_ENCODING_AES_KEY is set but WECHAT_OA_TOKEN is not: the push URL needs the token to check signatures"
    )]
    AesKeyWithoutToken,
    /// The push token is not what WeChat accepts: 3 to 32 letters and digits.
    #[error(
        "WECHAT_OA_TOKEN must be 3 to 32 letters and digits, as entered in the Official Account console (got {len} characters{})",
        not_alphanumeric_note(*.alphanumeric)
    )]
    InvalidPushToken {
        /// Its length in characters.
        len: usize,
        /// Whether it has only ASCII letters and digits.
        alphanumeric: bool,
    },
    /// A push token without an EncodingAESKey, and plaintext push not opted into: the URL
    /// signature does not cover the body, so anyone who saw one signed push URL could log in
    /// as anybody.
    #[error(
        "WECHAT_OA_TOKEN is set without WECHAT_OA_ENCODING_AES_KEY: set the key and use safe mode (安全模式) in the Official Account console, or, if you really must run plaintext push, opt in with WECHAT_OA_INSECURE_PLAINTEXT_PUSH=1 (with_insecure_plaintext_push(true)); plaintext pushes are not authenticated"
    )]
    PlaintextPushNotAllowed,
    /// `WECHAT_OA_PUSH_FORWARD_URL` (`with_push_forward`) is not an absolute http(s) URL
    /// without credentials or fragment.
    #[error(
        "WECHAT_OA_PUSH_FORWARD_URL (with_push_forward) is {0:?}; it must be an absolute http(s) URL without user:password@ or #fragment, such as http://10.0.0.5:8080/wechat (the Official Account's existing push backend)"
    )]
    InvalidPushForward(String),
    /// A scan start limit is zero.
    #[error("scan start limits must be at least 1 per minute each (with_scan_start_limits)")]
    InvalidScanLimits,
    /// A yes/no environment variable has a value that is neither.
    #[error("{var} is {value:?}; use 1 or 0 (true or false)")]
    InvalidFlag {
        /// The variable.
        var: &'static str,
        /// The value given.
        value: String,
    },
    /// The endpoint prefix is not a path.
    #[error(
        "the endpoint prefix {0:?} must start with '/', not end with '/', and not be '/' itself"
    )]
    InvalidPrefix(String),
    /// An allowed redirect origin is not an origin.
    #[error(
        "allowed redirect origin (with_allowed_origin) {0:?} is not an http(s) origin like https://shop.example.com"
    )]
    InvalidOrigin(String),
    /// A base URL override is not an absolute http(s) URL without credentials, query or
    /// fragment.
    #[error(
        "{var} is {value:?}: a base URL {why}; give an absolute http(s) URL without user:password@, ?query or #fragment, such as https://api.weixin.qq.com"
    )]
    InvalidBaseUrl {
        /// The setting: its environment variable and builder method.
        var: &'static str,
        /// The value given (a password in it hidden).
        value: String,
        /// What is wrong with it.
        why: String,
    },
    /// A public path (`with_public_path`) is not an absolute path.
    #[error(
        "public path (with_public_path) {path:?} {why}; give an absolute path such as /health, or a folder such as /assets/*"
    )]
    InvalidPublicPath {
        /// The value given.
        path: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The HTTP client for WeChat cannot be made.
    #[error("the HTTP client for WeChat cannot be built: {0}")]
    HttpClient(String),
    /// A header name setting is not a valid HTTP header name.
    #[error("{setting} must be a valid HTTP header name such as x-real-ip, not {value:?}")]
    InvalidHeaderName {
        /// The setting.
        setting: &'static str,
        /// What was given.
        value: String,
    },
    /// The mini program code settings are not what WeChat accepts.
    #[error("{0}")]
    InvalidMiniProgramPage(String),
    /// A duration setting is out of range.
    #[error("{setting} must be between {min} and {max} seconds")]
    InvalidDuration {
        /// The setting.
        setting: &'static str,
        /// Lowest value, seconds.
        min: u64,
        /// Highest value, seconds.
        max: u64,
    },
    /// The Redis store was asked for, but the crate was built without it.
    #[error(
        "WECHAT_REDIS_URL is set but wechat-auth was built without the `redis` feature: enable it (wechat-auth = {{ version = \"0.1\", features = [\"redis\"] }}; for the examples, cargo run --features redis --example …) or unset WECHAT_REDIS_URL"
    )]
    RedisFeatureMissing,
    /// The Redis URL cannot be used.
    #[error("WECHAT_REDIS_URL cannot be used: {0}")]
    InvalidRedisUrl(String),
    /// A relay setting (`WECHAT_RELAY_HUB`, `WECHAT_RELAY_TARGETS`) cannot be used.
    #[error("relay setting {0}")]
    InvalidRelay(String),
    /// A setting has a value it cannot take.
    #[error("{setting} is {value:?}; {expected}")]
    InvalidSetting {
        /// The setting: its environment variable (and builder method).
        setting: &'static str,
        /// The value given.
        value: String,
        /// What it may be.
        expected: &'static str,
    },
}

fn not_alphanumeric_note(alphanumeric: bool) -> &'static str {
    if alphanumeric {
        ""
    } else {
        ", not all of them letters or digits"
    }
}

impl ConfigError {
    /// The variant's name, for `Debug`.
    fn variant(&self) -> &'static str {
        match self {
            Self::MissingPublicUrl => "MissingPublicUrl",
            Self::InvalidPublicUrl { .. } => "InvalidPublicUrl",
            Self::MissingSessionSecret => "MissingSessionSecret",
            Self::ShortSessionSecret { .. } => "ShortSessionSecret",
            Self::NoChannel => "NoChannel",
            Self::WechatOnlyLoginHook { .. } => "WechatOnlyLoginHook",
            Self::IncompleteApp { .. } => "IncompleteApp",
            Self::InvalidScope(_) => "InvalidScope",
            Self::InvalidAesKey { .. } => "InvalidAesKey",
            Self::AesKeyWithoutToken => "AesKeyWithoutToken",
            Self::InvalidPushToken { .. } => "InvalidPushToken",
            Self::PlaintextPushNotAllowed => "PlaintextPushNotAllowed",
            Self::InvalidFlag { .. } => "InvalidFlag",
            Self::InvalidPrefix(_) => "InvalidPrefix",
            Self::InvalidOrigin(_) => "InvalidOrigin",
            Self::InvalidBaseUrl { .. } => "InvalidBaseUrl",
            Self::InvalidPublicPath { .. } => "InvalidPublicPath",
            Self::HttpClient(_) => "HttpClient",
            Self::InvalidHeaderName { .. } => "InvalidHeaderName",
            Self::InvalidMiniProgramPage(_) => "InvalidMiniProgramPage",
            Self::InvalidDuration { .. } => "InvalidDuration",
            Self::RedisFeatureMissing => "RedisFeatureMissing",
            Self::InvalidRedisUrl(_) => "InvalidRedisUrl",
            Self::InvalidPushForward(_) => "InvalidPushForward",
            Self::InvalidScanLimits => "InvalidScanLimits",
            Self::InvalidEmbedCss(_) => "InvalidEmbedCss",
            Self::InvalidRelay(_) => "InvalidRelay",
            Self::InvalidSetting { .. } => "InvalidSetting",
        }
    }
}

/// The message a person can act on, then the variant: what `main` returning this error
/// prints. (Every field is already in the message; none of them is a secret.)
impl std::fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self} (ConfigError::{})", self.variant())
    }
}

#[cfg(test)]
mod tests {
    use super::ConfigError;

    #[test]
    fn debug_carries_the_message_that_says_what_to_fix() {
        for (err, says) in [
            (ConfigError::MissingPublicUrl, "set WECHAT_PUBLIC_URL"),
            (
                ConfigError::ShortSessionSecret { index: 0, len: 5 },
                "at least 32 bytes",
            ),
            (
                ConfigError::RedisFeatureMissing,
                "without the `redis` feature",
            ),
            (ConfigError::NoChannel, "WECHAT_WEBSITE_APP_ID"),
        ] {
            let debug = format!("{err:?}");
            assert!(debug.starts_with(&err.to_string()), "{debug}");
            assert!(debug.contains(says), "{debug}");
            assert_eq!(format!("{err:#?}"), debug);
        }
        let boxed: Box<dyn std::error::Error> = Box::new(ConfigError::MissingSessionSecret);
        assert!(format!("{boxed:?}").starts_with("no session secret: set WECHAT_SESSION_SECRET"));
    }
}
