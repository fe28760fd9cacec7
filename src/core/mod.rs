//! The provider-neutral core: identities' sessions and tickets ([`sessions`]), the guard
//! ([`guard`]), exactly-once code exchange ([`exchange`]), the `on_login` hook ([`login`]),
//! the route table the channels register in ([`route`]), one failure model and its renderer
//! ([`failure`], [`render`]), the store, limits and pages.
//!
//! Each service is a value with private state; the layer builds them once from the checked
//! settings and gives each channel the ones it needs. The core never names a channel, a
//! provider, an extractor or the handle (`tests/layering.rs`).

pub(crate) mod clock;
pub(crate) mod exchange;
pub(crate) mod failure;
pub(crate) mod guard;
pub(crate) mod limit;
pub(crate) mod login;
pub(crate) mod native;
pub mod pages;
pub(crate) mod redirect;
pub(crate) mod render;
pub(crate) mod request;
pub(crate) mod respond;
pub(crate) mod route;
pub(crate) mod sessions;
pub mod store;
pub(crate) mod weblogin;
