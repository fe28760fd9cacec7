//! [`WechatAuthLayer`] and its service [`WechatAuth`]: serve the login endpoints, guard
//! everything else.
//!
//! ```
//! use axum::{routing::get, Router};
//! use wechat_auth::{WechatAuthLayer, WechatConfig, WechatUser};
//!
//! async fn home(user: WechatUser) -> String {
//!     format!("hi {}", user.openid)
//! }
//!
//! let cfg = WechatConfig::builder()
//!     .with_public_url("https://example.com")
//!     .with_session_secret("0123456789abcdef0123456789abcdef")
//!     .with_website_app("wx1000000000000001", "website-app-secret")
//!     .build()?;
//! // `.layer`, not `.route_layer`: the layer serves /auth/wechat/* itself.
//! let app: Router = Router::new().route("/", get(home)).layer(WechatAuthLayer::new(cfg));
//! # Ok::<(), wechat_auth::ConfigError>(())
//! ```
//!
//! For every request the guard reads the session (a `Bearer` token, else the session cookie),
//! verifies it locally (HMAC, no store and no network for a valid JWT), checks the in-process
//! deny-list, and attaches the user for the [`WechatUser`](crate::user::WechatUser) extractor.
//! Without a valid session, a protected path answers a browser navigation with a `302` into
//! the login and anything else with `401` JSON.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum_core::body::Body;
use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::{
    channels,
    channels::Mount,
    config::WechatConfig,
    core::guard::Guard,
    core::route::Endpoints,
    core::sessions::Found,
    extract::{RequestAuth, RequestServices},
    handle::HandleServices,
    providers::wechat::mini::MiniPrograms,
};

/// Whether paths without a session are blocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Required,
    Optional,
}

/// A tower [`Layer`] that adds WeChat login to a service.
///
/// It serves the login endpoints under the prefix (`/auth/wechat` by default) and guards
/// every other path: the session (a `Bearer` token, else the session cookie) is verified
/// locally — HMAC, no store and no network for a valid JWT — and checked against the
/// in-process deny-list, then the user is attached for the
/// [`WechatUser`](crate::user::WechatUser) extractor. Without a valid session a protected path
/// answers a browser navigation with a `302` into the login and anything else with `401`
/// JSON. Use `.layer(…)`, not `.route_layer(…)`, so the endpoints are reachable.
///
/// ```
/// use axum::{routing::get, Router};
/// use wechat_auth::{WechatAuthLayer, WechatConfig, WechatUser};
///
/// async fn home(user: WechatUser) -> String {
///     format!("hi {}", user.openid)
/// }
/// let cfg = WechatConfig::builder()
///     .with_public_url("https://example.com")
///     .with_session_secret("0123456789abcdef0123456789abcdef")
///     .with_website_app("wx1000000000000001", "website-app-secret")
///     .build()?;
/// let app: Router = Router::new().route("/", get(home)).layer(WechatAuthLayer::new(cfg));
/// # Ok::<(), wechat_auth::ConfigError>(())
/// ```
///
/// Cheap to clone; every clone shares one engine (client, store, caches).
#[derive(Clone, Debug)]
pub struct WechatAuthLayer {
    auth: Arc<Shared>,
    mode: Mode,
}

impl WechatAuthLayer {
    /// A layer that requires a session on every path it wraps, except its own endpoints and
    /// the configured public paths.
    ///
    /// ```
    /// use axum::{body::Body, http::{header, Request, StatusCode}, routing::get, Router};
    /// use tower::ServiceExt as _; // `oneshot`
    /// use wechat_auth::{WechatAuthLayer, WechatConfig, WechatUser};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "website-app-secret")
    ///     .with_public_path("/health")
    ///     .build()?;
    /// let app = Router::new()
    ///     .route("/orders", get(|user: WechatUser| async move { user.openid }))
    ///     .route("/health", get(|| async { "ok" }))
    ///     .layer(WechatAuthLayer::new(cfg));
    ///
    /// // No session: a browser navigation is sent into the login, with the way back …
    /// let visit = Request::get("/orders?page=2")
    ///     .header(header::ACCEPT, "text/html")
    ///     .body(Body::empty())?;
    /// let res = app.clone().oneshot(visit).await?;
    /// assert_eq!(res.status(), StatusCode::FOUND);
    /// let location = "/auth/wechat/login?return_to=/orders%3Fpage%3D2";
    /// assert_eq!(res.headers()[header::LOCATION], location);
    ///
    /// // … an API call (here `fetch` with `Accept: application/json`) gets `401` JSON …
    /// let call = Request::get("/orders")
    ///     .header(header::ACCEPT, "application/json")
    ///     .body(Body::empty())?;
    /// let res = app.clone().oneshot(call).await?;
    /// assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    /// assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
    /// assert_eq!(res.headers()[header::WWW_AUTHENTICATE], "Bearer");
    ///
    /// // … and a configured public path needs none.
    /// let res = app.oneshot(Request::get("/health").body(Body::empty())?).await?;
    /// assert_eq!(res.status(), StatusCode::OK);
    /// assert_eq!(axum::body::to_bytes(res.into_body(), usize::MAX).await?, "ok");
    /// # Ok(()) }
    /// ```
    pub fn new(cfg: WechatConfig) -> Self {
        Self {
            auth: Arc::new(Shared::new(cfg)),
            mode: Mode::Required,
        }
    }

    /// The same layer, but it never blocks: a valid session is attached when present, and
    /// handlers decide with `Option<WechatUser>`.
    ///
    /// ```
    /// use axum::{body::Body, http::{header, Request, StatusCode}, routing::get, Router};
    /// use tower::ServiceExt as _; // `oneshot`
    /// use wechat_auth::{WechatAuthLayer, WechatConfig, WechatUser};
    ///
    /// async fn home(user: Option<WechatUser>) -> String {
    ///     match user {
    ///         Some(user) => format!("hi {}", user.openid),
    ///         None => "hi, stranger".to_owned(),
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_website_app("wx1000000000000001", "website-app-secret")
    ///     .build()?;
    /// let app = Router::new().route("/", get(home)).layer(WechatAuthLayer::new(cfg).optional());
    ///
    /// // Even a browser navigation without a session reaches the handler, as `None`.
    /// let visit = Request::get("/").header(header::ACCEPT, "text/html").body(Body::empty())?;
    /// let res = app.oneshot(visit).await?;
    /// assert_eq!(res.status(), StatusCode::OK);
    /// assert_eq!(axum::body::to_bytes(res.into_body(), usize::MAX).await?, "hi, stranger");
    /// # Ok(()) }
    /// ```
    pub fn optional(mut self) -> Self {
        self.mode = Mode::Optional;
        self
    }
}

impl<S> Layer<S> for WechatAuthLayer {
    type Service = WechatAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WechatAuth {
            inner,
            auth: self.auth.clone(),
            mode: self.mode,
        }
    }
}

/// The service made by [`WechatAuthLayer`].
///
/// ```
/// use axum::body::Body;
/// use http::{Request, Response, StatusCode};
/// use tower::{Layer, ServiceExt as _, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cfg = wechat_auth::WechatConfig::builder()
///     .with_public_url("https://example.com")
///     .with_session_secret("0123456789abcdef0123456789abcdef")
///     .with_website_app("wx1000000000000001", "website-app-secret")
///     .with_public_path("/health")
///     .build()?;
/// let inner = service_fn(|req: Request<Body>| async move {
///     let answer = format!("inner service: {}", req.uri().path());
///     Ok::<_, std::convert::Infallible>(Response::new(Body::from(answer)))
/// });
/// let svc = wechat_auth::WechatAuthLayer::new(cfg).layer(inner);
///
/// // The layer answers its own endpoints: `/me` without a session is `401`.
/// let res = svc.clone().oneshot(Request::get("/auth/wechat/me").body(Body::empty())?).await?;
/// assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
///
/// // A protected path without a session never reaches the inner service …
/// let res = svc.clone().oneshot(Request::get("/private").body(Body::empty())?).await?;
/// assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
///
/// // … a public path does.
/// let res = svc.oneshot(Request::get("/health").body(Body::empty())?).await?;
/// assert_eq!(res.status(), StatusCode::OK);
/// assert_eq!(axum::body::to_bytes(res.into_body(), usize::MAX).await?, "inner service: /health");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct WechatAuth<S> {
    inner: S,
    auth: Arc<Shared>,
    mode: Mode,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for WechatAuth<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ReqBody: http_body::Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<axum_core::BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum_core::BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        self.auth.sessions.ensure_background();
        let prefix = self.auth.prefix.as_str();
        if let Some(sub) = endpoint(req.uri().path(), prefix) {
            let sub = sub.to_owned();
            let auth = self.auth.clone();
            return ResponseFuture::endpoint(Box::pin(async move {
                Ok::<_, Infallible>(
                    crate::core::request::serve(&auth.table, req, &sub, auth.body_timeout).await,
                )
            }));
        }
        let found = self.auth.guard.find_session(req.headers());
        crate::metrics::guard(self.auth.guard.decision(&found, req.headers()));
        let (session, invalid_bearer) = match found {
            Found::Session(s) => (Some(s), false),
            Found::InvalidBearer => (None, true),
            Found::Nothing => (None, false),
        };
        if session.is_none()
            && self.mode == Mode::Required
            && !self.auth.guard.is_public(req.uri().path())
        {
            return ResponseFuture::ready(self.auth.guard.unauthenticated(&req, invalid_bearer));
        }
        req.extensions_mut().insert(RequestAuth {
            services: self.auth.services.clone(),
            session,
        });
        // The call happens here, on the service `poll_ready` drove to readiness: no clone
        // needed (one per request was an allocation for a boxed axum `Route`).
        ResponseFuture::inner(self.inner.call(req))
    }
}

/// What one layer shares between requests: the guard, the route table of the mounted
/// channels, and what the extractors and the handle are given.
pub(crate) struct Shared {
    guard: Arc<Guard>,
    table: Vec<Box<dyn Endpoints>>,
    /// Where the layer's endpoints are.
    prefix: String,
    /// How long a request body may take to arrive.
    body_timeout: std::time::Duration,
    /// Sessions (their deny-list listener starts with the first request).
    sessions: Arc<crate::core::sessions::Sessions>,
    /// What the extractors and the handle are given.
    services: Arc<RequestServices>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatAuth")
            .field("prefix", &self.prefix)
            .field("channels", &self.table.len())
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn new(cfg: WechatConfig) -> Self {
        let prefix = cfg.prefix.clone();
        let body_timeout = cfg.body_timeout;
        let engine = Arc::new(Mount::new(cfg));
        let mini = MiniPrograms::new(
            engine.client.clone(),
            engine.store.clone(),
            engine.tokens.clone(),
            engine
                .cfg
                .mini_program
                .as_ref()
                .map(|app| app.appid().to_owned()),
        );
        let handle = HandleServices::new(
            &engine.cfg,
            engine.profiles.clone(),
            mini,
            engine.guard.login_path(),
        );
        Self {
            services: Arc::new(RequestServices {
                handle: Arc::new(handle),
                douyin: engine.douyin_tokens.clone(),
                unauthenticated: engine.guard.unauthenticated_body(),
            }),
            guard: engine.guard.clone(),
            table: channels::mount(&engine),
            prefix,
            body_timeout,
            sessions: engine.sessions.clone(),
        }
    }
}

/// The part of `path` after `prefix`, when `path` is one of the layer's endpoints.
fn endpoint<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.starts_with('/') || rest.is_empty()).then_some(rest)
}

type EndpointFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

pin_project! {
    /// The future of [`WechatAuth`]'s responses.
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] future: F },
        Endpoint { future: EndpointFuture },
        Ready { response: Option<Response<Body>> },
    }
}

impl<F> ResponseFuture<F> {
    fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    fn endpoint(future: EndpointFuture) -> Self {
        Self {
            kind: Kind::Endpoint { future },
        }
    }

    fn ready(response: Response<Body>) -> Self {
        Self {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum_core::BoxError>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => match future.poll(cx) {
                Poll::Ready(Ok(res)) => Poll::Ready(Ok(res.map(Body::new))),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
            KindProj::Endpoint { future } => match future.as_mut().poll(cx) {
                Poll::Ready(Ok(res)) => Poll::Ready(Ok(res)),
                Poll::Ready(Err(never)) => match never {},
                Poll::Pending => Poll::Pending,
            },
            KindProj::Ready { response } => Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| Response::new(Body::empty())))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_under_the_prefix_only() {
        assert_eq!(
            endpoint("/auth/wechat/login", "/auth/wechat"),
            Some("/login")
        );
        assert_eq!(endpoint("/auth/wechat", "/auth/wechat"), Some(""));
        assert_eq!(endpoint("/auth/wechatx/login", "/auth/wechat"), None);
        assert_eq!(endpoint("/profile", "/auth/wechat"), None);
    }
}
