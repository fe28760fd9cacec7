//! The providers' services, one module per provider, each built on that provider's client
//! crate and the core: what several channels of one provider share (code exchange, user
//! tokens and profiles, global access tokens). Channels are given these services; the core
//! never names a provider.

pub(crate) mod douyin;
pub(crate) mod wechat;
pub(crate) mod wecom;
