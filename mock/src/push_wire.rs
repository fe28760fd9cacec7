//! How an Official Account's pushes go out (the console's 数据格式 and 消息加解密方式) and what
//! each user's chat with it holds: plain data, shared by the state and the push code.

use serde::{Deserialize, Serialize};

/// The data format of an Official Account's pushes (the console's 数据格式, §15).
///
/// ```
/// assert_eq!(wechat_auth_mock::PushFormat::default(), wechat_auth_mock::PushFormat::Xml);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum PushFormat {
    /// XML bodies, `Content-Type: text/xml;charset=UTF-8`.
    #[default]
    Xml,
    /// JSON bodies, `Content-Type: application/json`.
    Json,
}

/// How an Official Account's pushes are encrypted (the console's 消息加解密方式, §7.4, §15.5).
///
/// ```
/// assert_ne!(wechat_auth_mock::PushMode::Compatible, wechat_auth_mock::PushMode::Safe);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum PushMode {
    /// 明文模式: plaintext, no `encrypt_type`.
    Plain,
    /// 兼容模式: the plaintext fields and `Encrypt` side by side; either reply accepted.
    Compatible,
    /// 安全模式: only `ToUserName` and `Encrypt`; replies must be encrypted.
    Safe,
}

/// How one Official Account's pushes go out; by default XML, safe mode when it has an
/// EncodingAESKey and plain otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PushWire {
    pub(crate) format: PushFormat,
    pub(crate) mode: PushMode,
}

/// One line of a user's chat with an Official Account (what the phone page shows, one chat
/// per account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ChatLine {
    /// Mock clock, Unix seconds.
    pub at: u64,
    /// `user` (what the user sent or did) or `account` (the Official Account's reply).
    pub from: &'static str,
    /// The text (a reply's `Content`; news as its titles and links).
    pub text: String,
    /// The appid of the Official Account this line was said to or by.
    pub account: String,
}
