//! The Douyin (抖音) provider's services, shared by the Douyin channels: who a code belongs to
//! ([`login::DouyinLogin`]: the authorization code of the website, the Douyin webview and the
//! Douyin app; a mini-app's `tt.login()` code), and the users' tokens and profiles kept
//! server-side ([`tokens::UserTokens`]: refresh, and renewal at most five times). Built on
//! the `wechat-auth-douyin-client` crate and the core's store; names no channel.

pub(crate) mod failure;
pub(crate) mod login;
pub(crate) mod tokens;
