//! The public errors handlers see ([`HandleError`], [`MiniDataError`]); the layer's own
//! endpoints answer with [`crate::core::failure::Failure`], rendered by the core.

use wechat_auth_client::WechatError;
use wechat_auth_douyin_client::DouyinError;

use crate::core::store::StoreError;

/// Why a [`WechatHandle`](crate::WechatHandle) or [`DouyinHandle`](crate::DouyinHandle) call
/// failed.
///
/// ```
/// let e = wechat_auth::HandleError::from(wechat_auth::store::StoreError::unavailable("down"));
/// assert!(e.to_string().contains("store"));
/// ```
///
/// `Debug` prints the same message, then the variant (for a WeChat, store or mini program
/// data error, that error's `Debug`: its message and variant), because that is what Rust
/// prints when a `main` or a test returns the error through `?`:
///
/// ```
/// let e = wechat_auth::HandleError::NoSessionKey;
/// assert_eq!(format!("{e:?}"), format!("{e} (HandleError::NoSessionKey)"));
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum HandleError {
    /// WeChat refused or failed.
    #[error(transparent)]
    Wechat(#[from] WechatError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// This server keeps no mini program `session_key` for the user (not a mini program
    /// login, or it lapsed): the mini program must call `wx.login()` and log in again.
    #[error("no mini program session_key for this user: log in again with wx.login()")]
    NoSessionKey,
    /// The mini program data could not be opened.
    #[error(transparent)]
    MiniProgramData(#[from] MiniDataError),
    /// The phone number's watermark or owner is not this mini program's user: the `code`
    /// came from another user or another mini program.
    #[error("the phone number code belongs to another user or mini program")]
    NotThisUser,
    /// The layer could not get what the call needs (the global access token, a busy store,
    /// the token provider); try again later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The Official Account signed this user in silently (`snsapi_base`, under
    /// [`OaScope::BaseThenUserinfo`](crate::client::OaScope::BaseThenUserinfo)): WeChat shows
    /// the profile only after the user consents. Send the browser to `login_url` (the consent
    /// page, then back to the page that asked).
    #[error(
        "the user has not consented to share their WeChat profile yet: send them to {login_url}"
    )]
    ConsentRequired {
        /// The login that asks for `snsapi_userinfo` and comes back to the current page.
        login_url: String,
    },
    /// Douyin refused or failed a call (its [`kind`](DouyinError::kind) says what to do).
    #[error(transparent)]
    Douyin(#[from] DouyinError),
    /// The user's Douyin authorization is over: the refresh token expired (30 days, or
    /// Douyin no longer knows it) or, with `renew_limit`, it was already renewed the five
    /// times Douyin allows. Send the user through the Douyin login again.
    #[error("{}", if *.renew_limit {
        "the Douyin refresh token was renewed the five times Douyin allows: log in with Douyin again"
    } else {
        "the Douyin authorization has expired: log in with Douyin again"
    })]
    DouyinLoginAgain {
        /// `true` when the five renewals are spent, `false` when the authorization expired.
        renew_limit: bool,
    },
    /// This server keeps no Douyin user token for the user (a Douyin mini-app login, or a
    /// Douyin login on a layer without the Douyin app): log in with Douyin on the web or in
    /// the app.
    #[error(
        "no Douyin user token is kept for this user: log in with Douyin on the web or in the app"
    )]
    NoDouyinToken,
}

/// The message a person can act on, then the variant (what `main` returning it prints).
impl std::fmt::Debug for HandleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let variant = match self {
            // The same message (`Display` is transparent), and the inner variant.
            Self::Wechat(e) => return std::fmt::Debug::fmt(e, f),
            Self::Store(e) => return std::fmt::Debug::fmt(e, f),
            Self::MiniProgramData(e) => return std::fmt::Debug::fmt(e, f),
            Self::Douyin(e) => return std::fmt::Debug::fmt(e, f),
            Self::NoSessionKey => "NoSessionKey",
            Self::NotThisUser => "NotThisUser",
            Self::Unavailable(_) => "Unavailable",
            Self::ConsentRequired { .. } => "ConsentRequired",
            Self::DouyinLoginAgain { .. } => "DouyinLoginAgain",
            Self::NoDouyinToken => "NoDouyinToken",
        };
        write!(f, "{self} (HandleError::{variant})")
    }
}

/// Why a mini program's `encryptedData` could not be opened. `Debug` prints the message,
/// then the variant.
#[derive(Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MiniDataError {
    /// `encryptedData`, `iv` or the stored `session_key` is not the base64 it should be.
    #[error("encryptedData, iv or session_key is not valid base64 of the right length")]
    BadEncoding,
    /// Decryption failed: the data was sealed with another `session_key` (the user logged in
    /// again in the mini program since, or the data is forged). Call `wx.login()` and retry.
    #[error(
        "the data does not decrypt with this user's session_key: log in again (wx.login) and fetch the data anew"
    )]
    WrongKey,
    /// The data decrypts but is not JSON with a `watermark`.
    #[error("the decrypted data is not the JSON WeChat sends")]
    NotJson,
    /// The watermark names another appid: the data was meant for another mini program.
    #[error("the data's watermark names another appid")]
    WrongApp,
}

/// The message a person can act on, then the variant.
impl std::fmt::Debug for MiniDataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let variant = match self {
            Self::BadEncoding => "BadEncoding",
            Self::WrongKey => "WrongKey",
            Self::NotJson => "NotJson",
            Self::WrongApp => "WrongApp",
        };
        write!(f, "{self} (MiniDataError::{variant})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_errors_debug_as_their_message_then_the_variant() {
        for (err, variant) in [
            (HandleError::NoSessionKey, "(HandleError::NoSessionKey)"),
            (HandleError::NotThisUser, "(HandleError::NotThisUser)"),
            (
                HandleError::Unavailable("the store is busy".into()),
                "(HandleError::Unavailable)",
            ),
            (
                HandleError::ConsentRequired {
                    login_url: "/auth/wechat/login?scope=userinfo".into(),
                },
                "(HandleError::ConsentRequired)",
            ),
            (
                HandleError::from(StoreError::unavailable("down")),
                "(StoreError::Unavailable)",
            ),
            (
                HandleError::from(WechatError::Timeout {
                    endpoint: "sns/userinfo",
                }),
                "(WechatError::Timeout)",
            ),
            (
                HandleError::from(MiniDataError::WrongKey),
                "(MiniDataError::WrongKey)",
            ),
            (
                HandleError::DouyinLoginAgain { renew_limit: true },
                "(HandleError::DouyinLoginAgain)",
            ),
            (HandleError::NoDouyinToken, "(HandleError::NoDouyinToken)"),
            (
                HandleError::from(DouyinError::Timeout {
                    endpoint: "oauth/userinfo/",
                }),
                "(DouyinError::Timeout)",
            ),
        ] {
            let debug = format!("{err:?}");
            assert_eq!(debug, format!("{err} {variant}"));
            assert_eq!(format!("{err:#?}"), debug);
        }
        let boxed: Box<dyn std::error::Error> = Box::new(HandleError::NoSessionKey);
        assert!(
            format!("{boxed:?}")
                .starts_with("no mini program session_key for this user: log in again"),
            "{boxed:?}"
        );
        assert_eq!(
            format!("{:?}", MiniDataError::WrongApp),
            "the data's watermark names another appid (MiniDataError::WrongApp)"
        );
    }
}
