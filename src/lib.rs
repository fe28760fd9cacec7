//! WeChat (微信) login for tower and axum.
//!
//! (Crate overview: written as the layer lands.)
#![forbid(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub mod mock;
mod secret;

pub use client::{WechatClient, WechatError};
pub use secret::Secret;
