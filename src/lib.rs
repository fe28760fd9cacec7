//! WeChat (微信) login for tower and axum.
//!
//! (Crate overview: written as the layer lands.)
#![forbid(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth;
pub mod client;
mod config;
mod flows;
mod handle;
mod layer;
#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub mod mock;
mod redirect;
mod respond;
mod secret;
mod session;
pub mod store;
mod user;

pub use auth::Profile;
pub use client::{WechatClient, WechatError};
pub use config::{
    AppCredentials, ConfigError, GlobalTokenSource, LoginRefused, OfficialAccount, WechatConfig,
    WechatConfigBuilder,
};
pub use handle::{HandleError, MissingLayer, WechatHandle};
pub use layer::{ResponseFuture, WechatAuth, WechatAuthLayer};
pub use secret::Secret;
pub use user::{Channel, Unauthenticated, UnknownChannel, WechatUser};
