//! The extractors: [`WechatUser`] (rejection [`Unauthenticated`], `401` JSON) and
//! `Option<WechatUser>` read what the layer attached to the request; [`SharedUser`] and
//! `Option<SharedUser>` do the same without copying the user. [`Identity`] and
//! `Option<Identity>` hand over any provider's identity; the WeChat extractors reject
//! (`401`, `"error": "wrong_provider"`) a session of another provider, and their `Option`
//! forms see `None` there.
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower::ServiceExt;
//! use wechat_auth::{WechatAuthLayer, WechatConfig, WechatUser};
//!
//! async fn maybe(user: Option<WechatUser>) -> String {
//!     user.map(|u| u.openid).unwrap_or_else(|| "guest".into())
//! }
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cfg = WechatConfig::builder()
//!     .with_public_url("https://example.com")
//!     .with_session_secret("0123456789abcdef0123456789abcdef")
//!     .with_website_app("wx1000000000000001", "website-app-secret")
//!     .build()?;
//! let app = Router::new().route("/", get(maybe)).layer(WechatAuthLayer::new(cfg).optional());
//! let res = app.oneshot(http::Request::get("/").body(axum::body::Body::empty())?).await?;
//! assert_eq!(res.status(), 200);
//! let body = axum::body::to_bytes(res.into_body(), 1024).await?;
//! assert_eq!(&body[..], b"guest");
//! # Ok(()) }
//! ```

use std::sync::Arc;

use axum_core::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http::request::Parts;

use crate::{
    handle::{DouyinHandle, HandleServices, MissingLayer, WechatHandle},
    providers::douyin::tokens::UserTokens,
    user::{CurrentSession, Identity, Provider, SharedUser, WechatUser},
};

/// What a layer gives its extractors and its handle, built once per layer.
#[derive(Debug)]
pub(crate) struct RequestServices {
    /// What the handle calls.
    pub(crate) handle: Arc<HandleServices>,
    /// What the Douyin handle calls: Douyin users' tokens, when the Douyin app is configured.
    pub(crate) douyin: Option<Arc<UserTokens>>,
    /// The body of the layer's `401` (the guard's, which names this site's login URL).
    pub(crate) unauthenticated: Bytes,
}

/// What the layer attaches to every request it passes on: one extension, so attaching it
/// costs one insert.
#[derive(Clone, Debug)]
pub(crate) struct RequestAuth {
    pub(crate) services: Arc<RequestServices>,
    pub(crate) session: Option<CurrentSession>,
}

/// The current session of a request, if the layer found one.
fn current_session(parts: &Parts) -> Option<&CurrentSession> {
    parts.extensions.get::<RequestAuth>()?.session.as_ref()
}

/// The current WeChat user of a request, if the layer found a session of a WeChat identity.
fn current(parts: &Parts) -> Option<WechatUser> {
    current_session(parts).and_then(|c| c.session.identity.as_wechat().cloned())
}

/// The current WeChat user of a request, shared with the verified session.
fn shared(parts: &Parts) -> Option<SharedUser> {
    current_session(parts).and_then(|c| SharedUser::of(&c.session))
}

/// The rejection of a WeChat extractor: nobody signed in, or someone of another provider.
fn not_wechat(parts: &Parts) -> Unauthenticated {
    match current_session(parts) {
        Some(c) => Unauthenticated::wrong_provider(c.session.identity.provider()),
        None => unauthenticated(parts),
    }
}

/// The rejection when a required user is missing: the layer's own `401` body, when a layer
/// is there.
fn unauthenticated(parts: &Parts) -> Unauthenticated {
    Unauthenticated {
        // The same body as the guard's 401, with this layer's login URL.
        body: parts
            .extensions
            .get::<RequestAuth>()
            .map(|r| r.services.unauthenticated.clone()),
    }
}

/// The rejection of the [`WechatUser`] extractor: `401` with a JSON body and
/// `WWW-Authenticate: Bearer`.
///
/// ```
/// use axum_core::response::IntoResponse;
/// let res = wechat_auth::Unauthenticated::default().into_response();
/// assert_eq!(res.status(), 401);
/// ```
#[derive(Debug, Default, Clone, thiserror::Error)]
#[error("no WeChat session on this request")]
#[non_exhaustive]
pub struct Unauthenticated {
    /// The layer's own `401` body (it names this site's login URL), when a layer is there.
    body: Option<Bytes>,
}

impl Unauthenticated {
    /// The rejection of a WeChat extractor on a session of `provider`: a WeChat user is
    /// asked for, and the person signed in through another provider.
    fn wrong_provider(provider: Provider) -> Self {
        Self {
            body: Some(Bytes::from(format!(
                r#"{{"error":"wrong_provider","provider":"{provider}","expected":"wechat","message":"this route takes a WeChat user; the session is a {provider} identity"}}"#
            ))),
        }
    }
}

impl IntoResponse for Unauthenticated {
    fn into_response(self) -> Response {
        let body = self.body.unwrap_or_else(|| {
            Bytes::from_static(br#"{"error":"unauthenticated","login_url":"/auth/wechat/login"}"#)
        });
        crate::core::render::unauthenticated(body, false)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WechatUser {
    type Rejection = Unauthenticated;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        current(parts).ok_or_else(|| not_wechat(parts))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for WechatUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(current(parts))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SharedUser {
    type Rejection = Unauthenticated;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        shared(parts).ok_or_else(|| not_wechat(parts))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for SharedUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(shared(parts))
    }
}

/// The identity of whoever is signed in, of any provider: `401` like [`WechatUser`] when
/// nobody is.
impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = Unauthenticated;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        current_session(parts)
            .map(|c| c.session.identity.clone())
            .ok_or_else(|| unauthenticated(parts))
    }
}

/// The identity of whoever is signed in, if anybody; never rejects.
impl<S: Send + Sync> OptionalFromRequestParts<S> for Identity {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(current_session(parts).map(|c| c.session.identity.clone()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WechatHandle {
    type Rejection = MissingLayer;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RequestAuth>()
            .map(|r| {
                WechatHandle::new(
                    r.services.handle.clone(),
                    (parts.method == http::Method::GET)
                        .then(|| parts.uri.path_and_query().map(|p| p.as_str().to_owned()))
                        .flatten(),
                )
            })
            .ok_or_else(MissingLayer::default)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for DouyinHandle {
    type Rejection = MissingLayer;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RequestAuth>()
            .map(|r| DouyinHandle::new(r.services.douyin.clone()))
            .ok_or_else(MissingLayer::default)
    }
}
