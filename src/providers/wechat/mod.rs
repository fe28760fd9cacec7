//! The WeChat provider's services, shared by every WeChat channel: logging in with an OAuth
//! code ([`code::CodeLogin`]), the users' tokens and profiles ([`profiles::Profiles`]) and
//! the apps' global access tokens ([`tokens::GlobalTokens`]). Each is a value with private
//! state built on the WeChat client crate and the core's store.

pub(crate) mod code;
pub(crate) mod failure;
pub(crate) mod mini;
pub(crate) mod profiles;
pub(crate) mod tokens;
